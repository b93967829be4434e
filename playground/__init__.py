"""LLM Playground: watch language models work, and see why.

The package never imports gradio: tasks, explanation methods and models are plain Python, so
``from playground import sentiment, sentiment_explain`` works in a notebook or a script.
"""

from .api import (
    ENDPOINTS,
    generate,
    generate_explain,
    qa,
    qa_explain,
    sentiment,
    sentiment_explain,
    sentiment_explain_all,
    summarize,
    summarize_explain,
    translate,
    translate_explain,
)

__all__ = ["ENDPOINTS", "generate", "generate_explain", "qa", "qa_explain", "sentiment", "sentiment_explain",
           "sentiment_explain_all", "summarize", "summarize_explain", "translate", "translate_explain"]
