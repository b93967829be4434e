"""Build the Gradio app from the registries: one tab per task, in the registry's order, and
every endpoint of :data:`playground.api.ENDPOINTS` registered in one loop."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import gradio as gr

from .. import api, config
from ..config import LIMITS
from ..tasks import TASKS
from . import generation_tab, qa_tab, sentiment_tab, seq2seq_tab
from .common import MODEL_QUEUE, guarded
from .common import i18n as make_i18n

# One tab builder per task.
BUILDERS: dict[str, Callable[[gr.I18n, str], None]] = {
    "generation": generation_tab.build,
    "summarization": seq2seq_tab.build_for("summarization"),
    "translation": seq2seq_tab.build_for("translation"),
    "qa": qa_tab.build,
    "sentiment": sentiment_tab.build,
}

CSS = """
.pg-warning { border-left: 4px solid #e66101; padding-left: 8px; }
.pg-method-title h1, .pg-method-title h2, .pg-method-title p { font-weight: 600; font-size: 1.1em; }
"""


def endpoint(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a gradio endpoint: the same name, docstring, parameters and (resolved) type
    hints, so the API page and the MCP schema show them; plus the request, whose
    Accept-Language picks the language of a PlaygroundError's message (a translated gr.Error;
    anything else is logged and answered with a generic message)."""
    hints = typing.get_type_hints(fn)
    sig = inspect.signature(fn)
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()]
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                    annotation=gr.Request))

    @guarded  # finds the request among the arguments for the language
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        args = tuple(a for a in args if not isinstance(a, gr.Request))
        kwargs = {k: v for k, v in kwargs.items() if not isinstance(v, gr.Request)}
        return fn(*args, **kwargs)

    call.__signature__ = sig.replace(parameters=params, return_annotation=hints.get("return", sig.return_annotation))  # type: ignore[attr-defined]
    call.__annotations__ = {**hints, "request": gr.Request}
    return call


def register_api() -> None:
    """Every API endpoint, one model job at a time across the whole app."""
    for name, fn in api.ENDPOINTS.items():
        gr.api(endpoint(fn), api_name=name, concurrency_id=MODEL_QUEUE, concurrency_limit=1)


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
        register_api()
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
