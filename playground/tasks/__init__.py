"""The tasks, by name, in the order the tabs show them: the only task list. Each entry is a
:class:`~playground.tasks.base.Task` (run, subject, attention); adding a task is one module,
one entry here, its model specs in :mod:`playground.config` and its messages."""

from __future__ import annotations

from . import generation, qa, sentiment, summarization, translation
from .base import Task

TASKS: dict[str, Task] = {t.name: t for t in (generation.TASK, summarization.TASK, translation.TASK, qa.TASK, sentiment.TASK)}

__all__ = ["TASKS", "Task"]
