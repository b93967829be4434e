"""What every tab shares: the language of a request, user-facing errors, the concurrency groups,
admission of long jobs, Stop."""

from __future__ import annotations

import functools
import hashlib
import html
import inspect
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from ..config import LIMITS
from ..errors import PlaygroundError
from ..messages import EN, ZH, language, language_warning, t
from ..serving import Admission
from ..text import fit as text_fit

log = logging.getLogger("playground.ui")

# Concurrency groups: cheap work never waits behind an explanation. Sentiment predictions run
# in PREDICT, many at once, since concurrent ones share one batched forward (playground.
# batching); attention views and other one-pass work in QUICK; short generations (answers, the
# /generate endpoint) in ANSWER, many at once, since concurrent greedy ones on one model share one
# batched generate (playground.batched_generate); the Generation tab's streams in STREAM, many at
# once for the same reason; the long ones (summaries, translations) in GENERATE, so a summary
# never holds a short answer's slot; explanations in EXPLAIN. Each group has its own limit (config.LIMITS), so a long Integrated
# Gradients run holds only the EXPLAIN slot.
PREDICT, QUICK, ANSWER, STREAM, GENERATE, EXPLAIN = "predict", "quick", "answer", "stream", "generate", "explain"
CONCURRENCY = {PREDICT: LIMITS.predict_concurrency, QUICK: LIMITS.quick_concurrency,
               ANSWER: LIMITS.answer_concurrency, STREAM: LIMITS.stream_concurrency,
               GENERATE: LIMITS.generate_concurrency, EXPLAIN: LIMITS.explain_concurrency}


def fit_input(value: Any, limit: int, lang: str) -> tuple[Any, str]:
    """An input box's value cut to ``limit`` characters (text.fit) and the note (Markdown, a
    blank line after it) the result starts with when it was cut; "" when it was not."""
    kept, total = text_fit(value, limit)
    return kept, (t("input_cut", lang, total=total, kept=len(kept), limit=limit) + "\n\n" if total else "")


def language_note(info: dict[str, Any] | None, model: str, lang: str) -> str:
    """The warning (Markdown, escaped, with a blank line after it) a result's summary starts
    with when its model does not read the input's language; "" when it does."""
    note = language_warning(info, html.escape(model[:120], quote=False), lang)
    return note + "\n\n" if note else ""


def group(name: str) -> dict[str, Any]:
    """The event settings of a concurrency group (UI events stay out of the API: every
    endpoint is in playground.api)."""
    return dict(concurrency_id=name, concurrency_limit=CONCURRENCY[name], api_visibility="private")


# Explanations admitted per browser session (playground.serving): admitted by a queue-free step
# before they join the queue, released when they end, forgotten when the browser closes.
ADMISSION = Admission()


class StopSignal(threading.Event):
    """A session's Stop: a threading.Event that a job in a forked worker (ZeroGPU runs each GPU
    call in a fork of the app) also sees, through a flag file the Stop button writes."""

    def __init__(self, session: str) -> None:
        super().__init__()
        self.flag = _STOP_DIR / hashlib.sha256(session.encode()).hexdigest()[:32]

    def set(self) -> None:
        super().set()
        try:
            _STOP_DIR.mkdir(parents=True, exist_ok=True)
            self.flag.touch()
        except OSError:  # a read-only disk: the in-process flag still works
            pass

    def clear(self) -> None:
        super().clear()
        self.flag.unlink(missing_ok=True)

    def is_set(self) -> bool:
        return super().is_set() or self.flag.exists()


_STOP_DIR = Path(tempfile.gettempdir()) / f"llm-playground-stop-{os.getpid()}"
# Stop requests, per browser session: a Stop button (or a closed browser) sets the event that
# the running job polls (a generation's stopping criterion, an explanation's scorer between two
# batches). gr.State cannot hold a threading.Event.
_stops: dict[str, StopSignal] = {}
_stops_lock = threading.Lock()


def session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def stop_event(request: gr.Request | None) -> StopSignal:
    """The session's Stop event (created on first use)."""
    key = session_of(request)
    with _stops_lock:
        if key not in _stops:
            _stops[key] = StopSignal(key)
        return _stops[key]


def admit(request: gr.Request) -> None:
    """Before an explanation joins the queue: turn it away, in the user's language, when this
    session already has its share waiting or the whole app has too many (playground.serving)."""
    try:
        ADMISSION.admit(session_of(request))
    except PlaygroundError as exc:
        raise user_error(exc, request_language((request,), {})) from None


def release(request: gr.Request | None) -> None:
    """An admitted explanation ended (finished, failed or stopped)."""
    ADMISSION.release(session_of(request))


def closed(request: gr.Request) -> None:
    """The browser closed (gradio's unload): stop its running job within a batch, forget its
    admitted jobs and its Stop event."""
    key = session_of(request)
    with _stops_lock:
        signal = _stops.pop(key, None)
    if signal is not None:
        signal.set()
        # The job polls the same object; its flag file goes when the job has seen it.
        threading.Timer(60.0, lambda: signal.flag.unlink(missing_ok=True)).start()
    ADMISSION.forget(key)
    from .. import finetune

    finetune.forget(key)  # the visitor's fine-tuned model (and training) go with the page


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
    att, lang = state["att"], state.get("lang", "en")
    if mode == "rollout":
        return views.attention_figure(att, state["tokens"], None, None, lang=lang)
    li = int(layer) if layer is not None else att.shape[0] - 1
    return views.attention_figure(att, state["tokens"], li, None if head in (None, "mean") else int(head), lang=lang)


def conversion_progress(spec: Any, lang: str, progress: gr.Progress) -> Callable[[float, float, float], None]:
    """What ``models.load`` calls during a first GGUF conversion: a moving bar with time left."""

    def converting(fraction: float, elapsed: float, total: float) -> None:
        progress(fraction, desc=t("progress_running", lang, method=spec.display, done=fraction, left=max(0.0, total - elapsed)))

    return converting
