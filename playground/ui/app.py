"""Build the Gradio app from the registries: one tab per task, in the registry's order, and
every endpoint of :data:`playground.api.ENDPOINTS` registered in one loop."""

from __future__ import annotations

import functools
import inspect
import os
import typing
from collections.abc import Callable
from typing import Any

import gradio as gr

from .. import api, config, explain
from ..config import LIMITS
from ..tasks import TASKS
from . import embeddings_tab, evaluation_tab, finetune_tab, generation_tab, qa_tab, sentiment_tab, seq2seq_tab, share, toasts
from .common import ANSWER, CONCURRENCY, EXPLAIN, GENERATE, PREDICT, QUICK, closed, guarded
from .common import i18n as make_i18n
from .zerogpu import MAX_SECONDS, explanation_seconds, gpu

# One tab builder per task; each returns its input components by name.
BUILDERS: dict[str, Callable[[gr.I18n, str], dict[str, Any]]] = {
    "generation": generation_tab.build,
    "summarization": seq2seq_tab.build_for("summarization"),
    "translation": seq2seq_tab.build_for("translation"),
    "qa": qa_tab.build,
    "sentiment": sentiment_tab.build,
}

CSS = """
.pg-warning { border-left: 4px solid #e66101; padding-left: 8px; }
.pg-method-title h1, .pg-method-title h2, .pg-method-title p { font-weight: 600; font-size: 1.1em; }
""" + share.CSS


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


def api_group(name: str) -> str:
    """An endpoint's concurrency group: explanations and evaluations (long jobs), the sentiment
    prediction (batched across users), embeddings (one forward pass), a short generation
    (answers and /generate: concurrent greedy ones are batched across users), or a long one
    (the rest: summaries, translations, which a generative model writes)."""
    if "explain" in name or name in ("evaluate", "finetune"):
        return EXPLAIN
    if name == "embeddings":
        return QUICK
    if name in ("generate", "qa"):
        return ANSWER
    return PREDICT if name == "sentiment" else GENERATE


def _without_request(arguments: dict[str, Any]) -> dict[str, Any]:
    # The result cache's key: the endpoint's own arguments (the request differs every call).
    return {k: v for k, v in arguments.items() if k != "request"}


def register_api() -> None:
    """Every API endpoint, in its concurrency group, behind gradio's result cache (bounded in
    bytes; a hit is answered without joining the queue). The endpoints are deterministic for
    their arguments (sampling takes a seed), so equal requests get equal answers."""
    mb = cache_mb()
    for name, fn in api.ENDPOINTS.items():
        group = api_group(name)
        wrapped = gpu(endpoint(fn), group, api_seconds(fn) if group == EXPLAIN else None)
        if mb > 0:
            wrapped = gr.cache(wrapped, key=_without_request, max_size=0, max_memory=f"{mb}mb")
        gr.api(wrapped, api_name=name, concurrency_id=group, concurrency_limit=CONCURRENCY[group])


def api_seconds(fn: Callable[..., Any]) -> Callable[..., int]:
    """The ZeroGPU duration of an explanation endpoint's call, from the methods it names."""
    sig = inspect.signature(fn)

    def seconds(*args: Any, **kwargs: Any) -> int:
        kwargs = {k: v for k, v in kwargs.items() if k in sig.parameters}
        given = sig.bind_partial(*args[: len(sig.parameters)], **kwargs).arguments
        if "method" not in sig.parameters and "methods" not in sig.parameters:
            return MAX_SECONDS  # an evaluation: rows x a row's cost, unknown before it runs
        if "methods" in sig.parameters:
            names = explain.method_list(given.get("methods") or "") or list(explain.METHODS)
        else:
            # The method named, or the endpoint's default ("" lets the task choose: at least a
            # generation's time is asked for).
            names = [str(given.get("method") or sig.parameters["method"].default)]
        return explanation_seconds(names, {})

    return seconds


def cache_mb() -> int:
    """The API result cache's budget in MB (``PLAYGROUND_RESULT_CACHE_MB``, 0: off)."""
    from ..cache import budget_bytes

    return budget_bytes() // 2**20


def build_demo(profile: str | None = None) -> tuple[gr.Blocks, gr.I18n]:
    """The whole app and its translations (pass both to ``launch``, as app.py does)."""
    profile = profile or config.active_profile()
    i18n = make_i18n(limit=LIMITS.max_chars)
    with gr.Blocks(title="LLM Playground") as demo:
        gr.Markdown(i18n("app_title"))
        gr.Markdown(i18n("app_intro"))
        if config.on_space() and os.environ.get("OAUTH_CLIENT_ID"):
            # Signed-in visitors get a larger ZeroGPU quota (hf_oauth in the front matter makes
            # the Space set OAUTH_CLIENT_ID; without it gradio's login cannot work).
            with gr.Row():
                gr.LoginButton(size="sm", scale=0)
                gr.Markdown(i18n("login_hint"))
        header = gr.Row()  # filled below, once the tabs whose inputs a link restores exist
        with gr.Tabs(selected="generation") as tabs:
            inputs, tab_objects = {}, {}
            for name in TASKS:
                with gr.Tab(i18n(f"tab_{name}"), id=name, elem_id=f"tab-{name}") as tab_objects[name]:
                    inputs[name] = BUILDERS[name](i18n, profile)
            # The classroom kit: every task's models seen as embeddings, and evaluated on a set.
            with gr.Tab(i18n("tab_embeddings"), id="embeddings", elem_id="tab-embeddings") as tab_objects["embeddings"]:
                embeddings_tab.build(i18n, profile)
            with gr.Tab(i18n("tab_evaluation"), id="evaluation", elem_id="tab-evaluation") as tab_objects["evaluation"]:
                evaluation_tab.build(i18n, profile, tabs, inputs)
            with gr.Tab(i18n("tab_finetune"), id="finetune", elem_id="tab-finetune") as tab_objects["finetune"]:
                finetune_tab.build(i18n, profile)
        with header:
            share.build(i18n, tabs, tab_objects, inputs, demo)
        register_api()
        # A closed browser stops its job (within a batch) and frees its admitted slots.
        demo.unload(closed)
    return demo, i18n


def mcp_available() -> bool:
    """gradio's MCP server needs the ``gradio[mcp]`` extra (requirements.txt installs it)."""
    import importlib.util

    return importlib.util.find_spec("mcp") is not None


def launch(demo: gr.Blocks, i18n: gr.I18n, **kwargs: object) -> object:
    """Queue and launch with the house settings: bounded queue, no error details, no
    monitoring endpoint, no extra file paths."""
    demo.queue(max_size=LIMITS.queue_size, default_concurrency_limit=1)
    return demo.launch(
        # Every endpoint of playground.api is also an MCP tool (its docstring is the tool's
        # description); UI events are private and stay out.
        mcp_server=mcp_available(),
        show_error=False,
        enable_monitoring=False,
        allowed_paths=[],
        i18n=i18n,
        css=CSS,
        head=toasts.head(),  # gradio's own pop-up texts ("queue is full", titles) in the page's language
        footer_links=["api"],
        **kwargs,
    )
