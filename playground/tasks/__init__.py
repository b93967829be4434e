"""The tasks, by name, in the order the tabs show them. A task module offers ``predict``,
``subject`` (what the explanation methods read) and its batched scoring function; ``None``
marks a task whose tab says it is coming, with nothing fake behind it."""

from __future__ import annotations

from types import ModuleType

from . import generation, qa, sentiment, summarization, translation

TASKS: dict[str, ModuleType | None] = {
    "generation": generation,
    "summarization": summarization,
    "translation": translation,
    "qa": qa,
    "sentiment": sentiment,
}
