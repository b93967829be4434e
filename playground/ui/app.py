"""Build the Gradio app from the registries: one tab per task, in the registry's order."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from .. import config
from ..config import LIMITS
from ..tasks import TASKS
from . import generation_tab, qa_tab, sentiment_tab, seq2seq_tab
from .common import i18n as make_i18n

# One tab builder per task.
BUILDERS: dict[str, Callable[[gr.I18n, str], None]] = {
    "generation": generation_tab.build,
    "summarization": seq2seq_tab.build_for("summarization"),
    "translation": seq2seq_tab.build_for("translation"),
    "qa": qa_tab.build,
    "sentiment": sentiment_tab.build,
}
API: list[Callable[[], None]] = [
    generation_tab.register_api, seq2seq_tab.register_api, qa_tab.register_api, sentiment_tab.register_api,
]

CSS = """
.pg-warning { border-left: 4px solid #e66101; padding-left: 8px; }
.pg-method-title h1, .pg-method-title h2, .pg-method-title p { font-weight: 600; font-size: 1.1em; }
"""


def build_demo(profile: str | None = None) -> tuple[gr.Blocks, gr.I18n]:
    """The whole app and its translations (pass both to ``launch``, as app.py does)."""
    profile = profile or config.active_profile()
    i18n = make_i18n(limit=LIMITS.max_chars)
    with gr.Blocks(title="LLM Playground") as demo:
        gr.Markdown(i18n("app_title"))
        gr.Markdown(i18n("app_intro"))
        with gr.Tabs(selected="generation"):
            for name in TASKS:
                with gr.Tab(i18n(f"tab_{name}"), id=name, elem_id=f"tab-{name}"):
                    BUILDERS[name](i18n, profile)
        for register in API:
            register()
    return demo, i18n


def launch(demo: gr.Blocks, i18n: gr.I18n, **kwargs: object) -> object:
    """Queue and launch with the house settings: bounded queue, no error details, no
    monitoring endpoint, no extra file paths."""
    demo.queue(max_size=LIMITS.queue_size, default_concurrency_limit=1)
    return demo.launch(
        show_error=False,
        enable_monitoring=False,
        allowed_paths=[],
        i18n=i18n,
        css=CSS,
        footer_links=["api"],
        **kwargs,
    )
