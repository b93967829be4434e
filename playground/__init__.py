"""LLM Playground: watch language models work, and see why.

The package never imports gradio: tasks, explanation methods and models are plain Python, so
``from playground import sentiment, sentiment_explain`` works in a notebook or a script.
(``playground.embeddings`` is the module; its endpoint is ``playground.api.embeddings``.)
"""

from .api import (
    ENDPOINTS,
    evaluate,
    generate,
    generate_explain,
    generate_explain_all,
    qa,
    qa_explain,
    qa_explain_all,
    sentiment,
    sentiment_explain,
    sentiment_explain_all,
    summarize,
    summarize_explain,
    summarize_explain_all,
    translate,
    translate_explain,
    translate_explain_all,
    what_if,
)

__all__ = ["ENDPOINTS", "evaluate", "generate", "generate_explain", "generate_explain_all", "qa", "qa_explain", "qa_explain_all",
           "sentiment", "sentiment_explain", "sentiment_explain_all", "summarize", "summarize_explain",
           "summarize_explain_all", "translate", "translate_explain", "translate_explain_all", "what_if"]
