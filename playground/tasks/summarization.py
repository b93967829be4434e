"""Summarization: an encoder-decoder summarizer (DistilBART-CNN on the hub) or a decoder asked for
a summary (offline: Qwen2.5-Coder-0.5B-Instruct, SmolLM2-135M-Instruct, Gemma-3-270M). The engine is
:mod:`playground.tasks.seq2seq`; this module says how to ask and which lengths are allowed."""

from __future__ import annotations

from functools import partial
from typing import Any

from .. import language, models, prompting
from ..explain.base import Option
from . import seq2seq
from .base import Task
from .seq2seq import Seq2SeqResult

NAME = "summarization"

# Bounded on the server; the UI's sliders are built from these.
BOUNDS: dict[str, Option] = {
    o.name: o
    for o in (
        Option("min_new_tokens", 8, 0, 128, "sum_min_new_tokens"),
        Option("max_new_tokens", 80, 8, 256, "sum_max_new_tokens"),
    )
}

prompt_for = prompting.summary_prompt  # how a decoder is asked (playground.prompting)


def options(**given: Any) -> dict[str, int]:
    """Length options clamped to :data:`BOUNDS` (min never above max)."""
    return seq2seq.bounded(BOUNDS, given)


def summarize(text: str, model_key: str | None = None, profile: str | None = None,
              progress: models.ConvertProgress | None = None, **opts: Any) -> Seq2SeqResult:
    """Summarize ``text`` (see :func:`playground.tasks.seq2seq.run`); a decoder is asked in
    Chinese for a Chinese text."""
    lang = language.detect(text).code if isinstance(text, str) else "en"
    return seq2seq.run(NAME, text, model_key, profile, options(**opts), partial(prompt_for, lang=lang), "summarization",
                       progress=progress)


TASK = Task(name=NAME, run=summarize, subject=seq2seq.subject, attention=seq2seq.attention, parts=("source",),
            targets="the log-probability of the whole summary (default) or of one of its words")
