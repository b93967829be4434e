"""The task protocol: what every task offers, in one small shape.

A task runs its model on validated inputs (``run``), turns one of its results into the Subject
every explanation method reads (``subject``: the words with their parts, the targets, the
batched scorer, the gradient forward, the attention view), and draws its attention view
(``attention``). :data:`playground.tasks.TASKS` lists them; the UI builds one tab per entry,
the API and the model lookup (:func:`playground.models.resolve` with the task's name) derive
from the same names, and the contract test runs every (task, method) pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..explain.base import Subject


@dataclass(frozen=True)
class Task:
    """One task. ``parts`` name the texts its words come from; ``targets`` says what its
    explanations explain; ``default_method`` is what a tab explains with first."""

    name: str
    run: Callable[..., Any]
    subject: Callable[..., Subject]
    attention: Callable[[Any], Any] | None
    parts: tuple[str, ...]
    targets: str
    default_method: str = "feature_ablation"
