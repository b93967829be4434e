"""The explanation engine's shared shapes: what is explained (:class:`Subject`), how a method
declares itself (:class:`Method`, :class:`Option`), and the one result type (:class:`Explanation`).

A task builds a Subject; every method reads only the Subject, so a new task works with every
method that its Subject supports, and a new method works with every task, with no edit to either.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..scoring import BatchedScorer
from ..text import Span

Progress = Callable[[float, str], None]  # (fraction done, what is running)


@dataclass
class Subject:
    """One input and one model output to explain, with everything the methods need.

    ``scorer`` maps texts to an (n, k) array of scores (class probabilities); the perturbation
    methods call it. ``forward`` maps (input_ids, attention_mask) to the same scores with
    gradients flowing, for gradient methods; ``embeddings`` is the layer they attribute to.
    """

    task: str
    text: str
    words: list[Span]
    target_index: int
    target_label: str
    model_name: str
    scorer: BatchedScorer
    mask_token: str
    pieces: list[Span] = field(default_factory=list)
    piece_word: list[int | None] = field(default_factory=list)
    input_ids: Any = None  # torch.LongTensor (1, n)
    attention_mask: Any = None
    baseline_ids: Any = None  # same shape; [PAD] everywhere but the special tokens
    forward: Callable[..., Any] | None = None
    embeddings: Any = None
    attentions: Callable[[], np.ndarray] | None = None  # -> (layers, heads, n, n)
    truncated: bool = False
    probabilities: np.ndarray | None = None  # the model's output on the unperturbed input

    def target_scores(self, texts: list[str]) -> np.ndarray:
        """The batched scorer's column for the explained output."""
        return self.scorer(texts)[:, self.target_index]

    def pool_pieces(self, piece_scores: np.ndarray) -> np.ndarray:
        """Sum per-piece scores into per-word scores (attributions are additive)."""
        out = np.zeros(len(self.words))
        for score, w in zip(piece_scores, self.piece_word):
            if w is not None:
                out[w] += float(score)
        return out


@dataclass(frozen=True)
class Option:
    """A budget or setting (a method's, a task's). The UI builds its control from this; the
    server clamps every value to [minimum, maximum] whatever a client sends."""

    name: str
    default: float
    minimum: float
    maximum: float
    label: str  # i18n key
    integer: bool = True

    def clamp(self, value: object) -> float:
        """NaN and non-numbers give the default; +-inf and integers beyond float range (JSON
        allows 10**400) give the nearer bound; integer options are rounded."""
        try:
            v = float(value)  # type: ignore[arg-type]
        except OverflowError:
            v = math.inf if value > 0 else -math.inf  # type: ignore[operator]
        except (TypeError, ValueError):
            v = math.nan
        if math.isnan(v):
            return self.default
        v = min(self.maximum, max(self.minimum, v))
        return int(round(v)) if self.integer else float(v)


@dataclass
class Explanation:
    """What every method returns: one score per word of the input, for one target output."""

    method: str
    task: str
    target: str
    target_index: int
    tokens: list[Span]
    scores: list[float]
    evaluations: int
    seconds: float
    model: str
    options: dict[str, int] = field(default_factory=dict)
    units: str = "word"
    truncated: bool = False
    extras: dict[str, Any] = field(default_factory=dict)  # JSON-friendly method specifics
    text: str = ""  # the NFC-normalised input that the token offsets index into

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "task": self.task,
            "text": self.text,
            "target": self.target,
            "target_index": self.target_index,
            "units": self.units,
            "tokens": [t.to_dict() for t in self.tokens],
            "scores": [float(s) for s in self.scores],
            "evaluations": int(self.evaluations),
            "seconds": round(float(self.seconds), 4),
            "model": self.model,
            "options": dict(self.options),
            "truncated": self.truncated,
            **{k: v for k, v in self.extras.items() if k not in {"tokens", "scores"}},
        }


class Method:
    """Base for explanation methods. Subclasses set ``name``, ``tasks``, ``options`` and
    implement :meth:`evaluations` (what a budget costs, for progress and time estimates) and
    :meth:`run`."""

    name: str = ""
    tasks: frozenset[str] = frozenset()
    options: tuple[Option, ...] = ()
    needs_gradients: bool = False

    def supports(self, subject: Subject) -> bool:
        if subject.task not in self.tasks:
            return False
        return subject.forward is not None if self.needs_gradients else True

    def resolve(self, given: dict[str, object] | None) -> dict[str, int]:
        """Defaults filled in, every value clamped to its bounds; unknown names dropped."""
        given = given or {}
        return {o.name: o.clamp(given.get(o.name, o.default)) for o in self.options}

    def evaluations(self, subject: Subject, opts: dict[str, int]) -> int:
        raise NotImplementedError

    def run(self, subject: Subject, opts: dict[str, int], progress: Progress | None) -> tuple[np.ndarray, int, dict]:
        """Return (one score per word, model rows evaluated, JSON-friendly extras)."""
        raise NotImplementedError
