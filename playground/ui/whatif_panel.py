"""The what-if panel every tab has: remove or replace one word of the input and see the same
target's value before and after (playground.whatif). A tab passes the same ``subject_of`` and
sources its explanation panel uses, so the pair is computed on exactly what is explained."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from .. import whatif
from ..errors import InputError
from ..messages import t
from .common import QUICK, group, guarded, request_language, session_of
from .panels import SESSION
from .zerogpu import gpu

_MD = re.compile(r"([\\`*_{}\[\]()#+\-!|~>])")


def _plain(value: str) -> str:
    """User text inside Markdown: HTML escaped and Markdown's marks taken literally."""
    return _MD.sub(r"\\\1", html.escape(value, quote=False))


def _value(v: float | None, kind: str) -> str:
    if v is None:
        return "-"
    return f"{v:.1%}" if kind == "probability" else f"{v:.3f}"


def _change(target: dict[str, Any], kind: str, lang: str) -> str:
    if target["change"] is None:
        return "-"
    if kind == "probability":
        return t("whatif_points", lang, change=100.0 * target["change"])
    if kind == "log_prob":
        return f"{target['change']:+.3f} ({t('whatif_times', lang, ratio=math.exp(target['change']))})"
    return f"{target['change']:+.3f}"


def render(pair: dict[str, Any], lang: str) -> str:
    """Markdown: the edited input (the part the word is in), then a row per target that matters
    (every class; for an output, the whole output), before / after / change."""
    word, part = pair["word"], pair["word"]["part"]
    text = _plain(pair["texts_after"].get(part, ""))
    head = (t("whatif_removed", lang, word=_plain(word["text"]), text=text) if pair["action"] == "remove" else
            t("whatif_replaced", lang, word=_plain(word["text"]), replacement=_plain(pair["replacement"]), text=text))
    kind = pair.get("target_kind", "")
    rows = pair["targets"] if kind == "probability" else pair["targets"][:1]
    cols = [t(k, lang) for k in ("whatif_col_target", "whatif_col_before", "whatif_col_after", "whatif_col_change")]
    lines = [head, "", "| " + " | ".join(cols) + " |", "|---|---|---|---|"]
    for r in rows:
        name = t(f"label_{r['label']}", lang) if kind == "probability" and f"label_{r['label']}" in _labels() else r["text"]
        lines.append(f"| {_plain(str(name))[:80]} | {_value(r['before'], kind)} | {_value(r['after'], kind)} | "
                     f"{_change(r, kind, lang)} |")
    if kind == "log_prob":
        lines += ["", t("whatif_logp_note", lang)]
    return "\n".join(lines)


def _labels() -> set[str]:
    from ..messages import EN

    return {k for k in EN if k.startswith("label_")}


def build(i18n: gr.I18n, subject_of: Callable[[dict, str], Any], sources: Sequence[gr.components.Component],
          prefix: str) -> None:
    """The panel, wired: ``subject_of(values, lang)`` builds the Subject from ``sources``."""
    with gr.Accordion(i18n("whatif_run"), open=False, elem_id=f"{prefix}-whatif"):
        gr.Markdown(i18n("whatif_help"))
        with gr.Row():
            word = gr.Dropdown(choices=[], value=None, allow_custom_value=True, label=i18n("whatif_word"),
                               info=i18n("whatif_word_info"), elem_id=f"{prefix}-whatif-word", scale=2)
            replacement = gr.Textbox(label=i18n("whatif_replacement"), info=i18n("whatif_replacement_info"),
                                     elem_id=f"{prefix}-whatif-replacement", scale=2)
            run = gr.Button(i18n("whatif_run"), elem_id=f"{prefix}-whatif-run", scale=1)
        shown = gr.Markdown(elem_id=f"{prefix}-whatif-result")

    @guarded
    def pair(data: dict, request: gr.Request) -> tuple:
        lang = request_language((request,), {})
        subject = subject_of({**data, SESSION: session_of(request)}, lang)
        choices = [(f"{u.text}" if [v.text for v in subject.units].count(u.text) == 1 else f"{u.text} ({i + 1})", i)
                   for i, u in enumerate(subject.units)]
        chosen = data[word]
        try:
            index = whatif.find_word(subject, chosen if not isinstance(chosen, str) or not chosen.isdigit()
                                     else int(chosen))
        except InputError:
            if chosen in (None, ""):  # nothing chosen yet: offer the words
                return gr.update(choices=choices), ""
            raise
        out = whatif.what_if(subject, index, data[replacement] or "")
        return gr.update(choices=choices, value=index), render(out, lang)

    handler = gpu(pair, QUICK)
    inputs = {*sources, word, replacement}
    run.click(handler, inputs, [word, shown], **group(QUICK))
    replacement.submit(handler, inputs, [word, shown], **group(QUICK))


__all__ = ["build", "render"]
