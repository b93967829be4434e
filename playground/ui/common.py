"""What every tab shares: the language of a request, user-facing errors, the model queue."""

from __future__ import annotations

import functools
import html
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

import gradio as gr

from ..errors import PlaygroundError
from ..messages import EN, ZH, language, t

log = logging.getLogger("playground.ui")

# Every event that runs a model shares this concurrency group with limit 1, so one GPU (or the
# CPU) runs one job at a time, whichever tab it comes from; the queue's max_size bounds the wait.
MODEL_QUEUE = "model"

# Stop requests, per browser session: a Stop button sets the event that the running job polls
# (a generation's stopping criterion, an explanation's scorer between two batches). gr.State
# cannot hold a threading.Event.
_stops: dict[str, threading.Event] = {}
_stops_lock = threading.Lock()


def stop_event(request: gr.Request | None) -> threading.Event:
    """The session's Stop event (created on first use)."""
    key = getattr(request, "session_hash", None) or "anonymous"
    with _stops_lock:
        return _stops.setdefault(key, threading.Event())


def i18n(**fill: object) -> gr.I18n:
    """The static strings for gr.I18n, with build-time values (limits) filled in. Chinese is
    registered as zh-CN and zh, the two forms browsers send."""

    def filled(d: dict[str, str]) -> dict[str, str]:
        return {k: v.format(**fill) if _only(v, fill) else v for k, v in d.items()}

    return gr.I18n(en=filled(EN), **{"zh-CN": filled(ZH), "zh": filled(ZH)})


def _only(template: str, fill: dict[str, object]) -> bool:
    # A static label may be formatted only if every placeholder in it is known at build time.
    import string

    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return bool(names) and names <= set(fill)


def request_language(args: tuple, kwargs: dict) -> str:
    for value in (*args, *kwargs.values()):
        if isinstance(value, gr.Request):
            headers = getattr(value, "headers", None) or {}
            return language(headers.get("accept-language"))
    return "en"


def user_error(exc: Exception, lang: str) -> gr.Error:
    """A message the user can act on, in their language; never a stack trace. gr.Error renders
    HTML, so every user-derived value in it is escaped."""
    if isinstance(exc, PlaygroundError):
        params = {k: html.escape(str(v)) for k, v in exc.params.items()}
        message = t(exc.key, lang, **params)
        if "{" in message:  # a catalogue entry that does not fit the raised params: the raiser's own words
            message = html.escape(str(exc))
        return gr.Error(message)
    log.exception("unexpected error in a handler")
    return gr.Error(t("internal_error", lang))


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a handler so every failure reaches the user as a clear gr.Error."""

    if inspect.isgeneratorfunction(fn):  # streaming handlers: gradio must still see a generator

        @functools.wraps(fn)
        def streaming(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001 - the point is to catch everything
                raise user_error(exc, request_language(args, kwargs)) from None

        return streaming

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - the point is to catch everything
            raise user_error(exc, request_language(args, kwargs)) from None

    return wrapper


def attention_choices(att: Any, lang: str) -> tuple[Any, Any]:
    """Layer and head dropdown updates for an attention array (layers, heads, n, n): the last
    layer and the mean over heads selected, as the first figure shows."""
    from ..messages import t as tr

    layers, heads = att.shape[0], att.shape[1]
    return (
        gr.update(choices=[(str(i + 1), i) for i in range(layers)], value=layers - 1),
        gr.update(choices=[(tr("att_head_mean", lang), "mean")] + [(str(h + 1), h) for h in range(heads)], value="mean"),
    )


def redraw_attention(state: dict | None, mode: str, layer: Any, head: Any) -> Any:
    """The heatmap for the attention view's controls (no model call: the array is in state)."""
    from .. import views

    if not state:
        return None
    att = state["att"]
    if mode == "rollout":
        return views.attention_figure(att, state["tokens"], None, None)
    li = int(layer) if layer is not None else att.shape[0] - 1
    return views.attention_figure(att, state["tokens"], li, None if head in (None, "mean") else int(head))


def conversion_progress(spec: Any, lang: str, progress: gr.Progress) -> Callable[[float, float, float], None]:
    """What ``models.load`` calls during a first GGUF conversion: a moving bar with time left."""

    def converting(fraction: float, elapsed: float, total: float) -> None:
        progress(fraction, desc=t("progress_running", lang, method=spec.display, done=fraction, left=max(0.0, total - elapsed)))

    return converting
