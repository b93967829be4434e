"""The tasks, by name, in the order the tabs show them. Each module runs its task and builds what
the explanation methods read, with no gradio: ``sentiment`` (``predict``, ``subject``, its batched
scorer), ``generation`` (``stream``/``generate``, ``attention``, ``logit_lens``), ``summarization``
and ``translation`` (``summarize``/``translate`` on the shared :mod:`.seq2seq` engine, which
offers ``attention`` and ``explain``), ``qa`` (``answer``, ``attention``, ``explain``)."""

from __future__ import annotations

from types import ModuleType

from . import generation, qa, sentiment, summarization, translation

TASKS: dict[str, ModuleType] = {
    "generation": generation,
    "summarization": summarization,
    "translation": translation,
    "qa": qa,
    "sentiment": sentiment,
}
