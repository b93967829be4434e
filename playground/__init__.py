"""LLM Playground: watch language models work, and see why.

The package never imports gradio: tasks, explanation methods and models are plain Python, so
``from playground import sentiment, sentiment_explain`` works in a notebook or a script.
"""

from .api import sentiment, sentiment_explain, sentiment_explain_all

__all__ = ["sentiment", "sentiment_explain", "sentiment_explain_all"]
