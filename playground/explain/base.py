"""The explanation engine's shared shapes.

A task turns one of its results into a :class:`Subject`: the input's *units* (words, or
sentences of a long input), the *targets* (the scalars an explanation can explain: a class
probability, an extractive span's start + end logits, the log-probability of one output word or
of the whole output), and what the model offers to explain them with:

- ``score``: a :class:`MaskScorer`, keep-masks over the units -> one row of target values per
  mask (the one batched scorer of the task; every perturbation method and the faithfulness
  metrics call it),
- ``gradient``: a :class:`GradientView`, the embedding layer and a forward through it,
- ``attention``: an :class:`AttentionView`, one eager forward handing out each layer's weights.

Every :class:`Method` reads only the Subject and returns one :class:`Explanation`: a
targets x units matrix. A method runs on every task whose Subject offers what it ``needs``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import priority
from ..errors import PlaygroundError
from ..memory import RowCache
from ..scoring import ScoreStats

Progress = Callable[[float, str], None]  # (fraction done, what is running)


class Stopped(PlaygroundError):
    """The user pressed Stop: the job ends between two model batches and frees the model."""

    def __init__(self) -> None:
        super().__init__("stopped")


@dataclass(frozen=True)
class Unit:
    """A word (or a sentence) of the input: ``text == part_text[start:end]``, where ``part``
    names the text it indexes ("text", "prompt", "source", "question", "context")."""

    text: str
    start: int
    end: int
    part: str = "text"

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end, "part": self.part}


@dataclass(frozen=True)
class Target:
    """One scalar an explanation can explain. ``label`` is its stable name ("positive",
    "output", "word:3", "span"); ``text`` what it is about (a class, an output word)."""

    label: str
    text: str
    value: float | None = None  # the scalar on the unperturbed input

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "text": self.text, "value": None if self.value is None else float(self.value)}


@dataclass(frozen=True)
class Option:
    """A budget or setting (a method's, a task's). The UI builds its control from this; the
    server clamps every value to [minimum, maximum] whatever a client sends."""

    name: str
    default: float
    minimum: float
    maximum: float
    label: str  # message key
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


SEED = Option("seed", default=0, minimum=0, maximum=2**31 - 1, label="opt_seed")


# Seconds per model row of a batched scorer, by model (a running mean over full batches of every
# job on it): what time estimates multiply the planned rows by.
ROW_SECONDS: dict[str, float] = {}
_FULL_BATCH = 8  # batches at least this big say what a row costs in a method's run


class MaskScorer:
    """The task's batched scorer over keep-masks.

    ``batch_fn(masks)`` gets a (b, n_units) bool array (True: the unit is kept) and returns the
    (b, n_targets) target values of the model on that perturbed input. This wrapper never runs
    the same mask twice, runs masks with the same number of kept units together (shorter
    inputs, less padding) in a fixed order (so a result never depends on the order it was asked
    in), chunks them so memory stays bounded however many samples a method asks for (lime
    #681), reports progress and honours Stop between chunks. Its cache of scored masks is
    bounded in bytes (``playground.memory.RowCache``: past it, the oldest masks are forgotten
    and would be run again)."""

    def __init__(self, batch_fn: Callable[[np.ndarray], np.ndarray], n_units: int, n_targets: int,
                 batch_size: int = 64, removal: tuple[str, dict[str, Any]] = ("", {}),
                 counts_rows: bool = True) -> None:
        self.batch_fn = batch_fn
        self.n_units = int(n_units)
        self.n_targets = int(n_targets)
        self.batch_size = max(1, int(batch_size))
        self.removal = removal  # how a unit is taken out: a message key and its params, said in results
        self.cache = RowCache()  # mask bytes -> the row of target values
        self.stats = ScoreStats()
        self.progress: Callable[[int], None] | None = None  # rows evaluated so far
        self.stop: threading.Event | None = None
        self.counts_rows = counts_rows  # False for a view over another scorer, which counts them
        self.row_seconds: float | None = None  # one row's measured cost (see probe)
        self.cost_key = ""  # the model, for ROW_SECONDS

    def __call__(self, masks: np.ndarray | Sequence[Sequence[bool]]) -> np.ndarray:
        m = np.asarray(masks, dtype=bool).reshape(-1, self.n_units)
        self.stats.requested += len(m)
        keys = [row.tobytes() for row in m]
        found = {k: self.cache[k] for k in set(keys) if k in self.cache}  # held here: the cache may evict
        todo_keys = sorted({k for k in keys if k not in found}, key=lambda k: (sum(k), k))
        rows = {k: row for k, row in zip(keys, m)}
        started = time.perf_counter()
        try:
            for i in range(0, len(todo_keys), self.batch_size):
                if self.stop is not None and self.stop.is_set():
                    raise Stopped()
                priority.give_way()  # a prediction running now has the cores first
                chunk = todo_keys[i : i + self.batch_size]
                t0 = time.perf_counter()
                out = np.asarray(self.batch_fn(np.stack([rows[k] for k in chunk])), dtype=np.float64)
                if self.cost_key and self.counts_rows and len(chunk) >= _FULL_BATCH:
                    per_row = (time.perf_counter() - t0) / len(chunk)
                    before = ROW_SECONDS.get(self.cost_key)
                    ROW_SECONDS[self.cost_key] = per_row if before is None else 0.8 * before + 0.2 * per_row
                out = out.reshape(len(chunk), self.n_targets)
                for k, row in zip(chunk, out):
                    found[k] = self.cache[k] = row
                if self.counts_rows:
                    self.stats.calls += 1
                    self.stats.evaluated += len(chunk)
                if self.progress is not None:
                    self.progress(self.stats.evaluated)
        finally:
            if self.counts_rows:
                self.stats.seconds += time.perf_counter() - started
        if not keys:
            return np.zeros((0, self.n_targets))
        return np.stack([found[k] for k in keys])

    def full(self) -> np.ndarray:
        """The target values on the unperturbed input."""
        return self(np.ones((1, self.n_units), dtype=bool))[0]

    def probe(self) -> np.ndarray:
        """The target values on the unperturbed input, run once to measure what a row costs
        (``row_seconds``, for time estimates) and then forgotten, so every method's
        ``evaluations`` counts the rows it ran itself."""
        ones = np.ones((1, self.n_units), dtype=bool)
        values = self.batch_fn(ones)  # the first call pays one-time costs (allocation, kernels)
        started = time.perf_counter()
        self.batch_fn(ones)
        self.row_seconds = time.perf_counter() - started
        return np.asarray(values, dtype=np.float64).reshape(-1)

    def coarsen(self, groups: list[list[int]]) -> MaskScorer:
        """The same scorer over coarser units (sentences): unit g of the new scorer is the
        words ``groups[g]``. Shares the model rows already run."""
        n_fine = self.n_units
        member = np.zeros((len(groups), n_fine), dtype=bool)
        for g, members in enumerate(groups):
            member[g, members] = True

        def batch(masks: np.ndarray) -> np.ndarray:
            fine = (masks.astype(np.int64) @ member.astype(np.int64)) > 0
            return self(fine)

        coarse = MaskScorer(batch, len(groups), self.n_targets, batch_size=self.batch_size, removal=self.removal,
                            counts_rows=False)
        coarse.stats = self.stats  # one account of the model rows, whatever the units
        coarse.row_seconds = self.row_seconds
        coarse.cost_key = self.cost_key
        return coarse


@dataclass
class GradientView:
    """What gradient methods need. ``layer`` is the module whose output (the input embeddings)
    is interpolated; ``run(rows)`` runs the model on ``rows`` copies of the input (with
    ``layer``'s output replaced by the method, through a forward hook) and returns the (rows,
    n_targets) targets with gradients flowing. ``position_unit[p]`` is the unit that position p
    of the layer's output belongs to (None: not explained, e.g. a special or template token,
    or generated text, kept as it is). The baseline replaces the explained positions with
    ``baseline_ids`` (a pad / unk token)."""

    layer: Any  # torch.nn.Module
    input_ids: Any  # torch.LongTensor (1, T)
    baseline_ids: Any  # torch.LongTensor (1, T)
    run: Callable[[int], Any]
    position_unit: list[int | None]
    max_rows: int = 16  # rows per forward + backward (memory: rows x T x hidden activations)
    baseline: str = "pad"  # what the baseline token is, said in the result
    # The model whose transformer layers recompute their activations in the backward instead of
    # keeping them (gradients.checkpointed): set when even one row would keep more than
    # gradients.GRAD_MEMORY. None: every layer keeps its activations (faster).
    checkpoint: Any = None


@dataclass
class AttentionView:
    """One eager forward's attention. ``each_layer(keep)`` runs it and calls ``keep(weights)``
    with each layer's (heads, rows, columns) weights (a torch tensor or array), in layer order.
    ``target_rows[t]`` are the query rows read for target t (their mean: the classifier's
    token, a span's start and end, the positions that wrote an output word); ``column_unit``
    maps columns to units. ``square``: rows and columns are the same positions (self-attention:
    rollout applies); ``sink``: the column of the first token, where decoders park attention."""

    each_layer: Callable[[Callable[[Any], None]], None]
    target_rows: list[list[int]]
    column_unit: list[int | None]
    square: bool = True
    sink: int | None = 0
    kind: str = "self"  # "self" or "cross" (encoder-decoder: output x source)


@dataclass
class Subject:
    """One input and one model result to explain (see the module docstring)."""

    task: str
    model: str
    units: list[Unit]
    targets: list[Target]
    score: MaskScorer | None = None
    gradient: GradientView | None = None
    attention: AttentionView | None = None
    unit_kind: str = "word"  # "word" or "sentence"
    default_target: int = 0
    truncated: bool = False
    texts: dict[str, str] = field(default_factory=dict)  # part -> the text its units index
    notes: dict[str, Any] = field(default_factory=dict)  # JSON-friendly task specifics
    # What identifies the input and the model: equal keys give equal explanations, so the
    # engine's result cache answers a repeated request from it ("" : never cached).
    key: str = ""
    # The targets' values with some words replaced ({unit index: new text}), for a what-if
    # (playground.whatif); None where the task cannot re-read an edited input.
    rewrite: Callable[[dict[int, str]], np.ndarray] | None = None

    def offers(self) -> set[str]:
        return {name for name, v in (("scorer", self.score), ("gradients", self.gradient), ("attention", self.attention))
                if v is not None}


def subject_key(*parts: Any) -> str:
    """A Subject's ``key`` from everything that decides its explanations (task, model key, the
    exact input ids or text, targets): a digest of their ``repr``."""
    import hashlib

    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Explanation:
    """What every method returns: ``matrix[i][j]`` is how much unit j raised target
    ``targets[i]`` (attention: how much target i's rows attended to unit j)."""

    task: str
    method: str
    model: str
    units: list[Unit]
    targets: list[Target]
    matrix: np.ndarray  # (len(targets), len(units)), finite
    evaluations: int
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)
    unit_kind: str = "word"
    truncated: bool = False
    convergence: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def row(self, label: str | int | None = None) -> np.ndarray:
        """One target's scores (by label or index; None: the first)."""
        if label is None:
            return self.matrix[0]
        if isinstance(label, int):
            return self.matrix[label]
        labels = [t.label for t in self.targets]
        return self.matrix[labels.index(label)]

    def to_dict(self) -> dict[str, Any]:
        first = [float(v) for v in self.matrix[0]] if len(self.matrix) else []
        return {
            "task": self.task,
            "method": self.method,
            "model": self.model,
            "target": self.targets[0].label if self.targets else None,
            "units": self.unit_kind,
            "words": [u.to_dict() for u in self.units],
            "targets": [t.to_dict() for t in self.targets],
            "matrix": [[float(v) for v in row] for row in self.matrix],
            "scores": first,  # the first target's row (what a one-target client reads)
            "evaluations": int(self.evaluations),
            "seconds": round(float(self.seconds), 4),
            "options": dict(self.options),
            "truncated": bool(self.truncated),
            "convergence": dict(self.convergence),
            **{k: v for k, v in self.extras.items() if k not in _RESERVED},
        }


_RESERVED = {"task", "method", "model", "target", "units", "words", "targets", "matrix", "scores", "evaluations",
             "seconds", "options", "truncated", "convergence"}


class Method:
    """Base for explanation methods: set ``name``, ``needs`` (what the Subject must offer:
    "scorer", "gradients", "attention"), ``options``; implement :meth:`evaluations` (what a
    budget costs, for progress and time estimates) and :meth:`run`."""

    name: str = ""
    needs: str = "scorer"
    options: tuple[Option, ...] = ()
    summary: str = ""  # one line: what it computes (the docs; the UI's texts are messages)

    def supports(self, subject: Subject) -> bool:
        return self.needs in subject.offers() and bool(subject.units)

    def resolve(self, given: dict[str, object] | None) -> dict[str, Any]:
        """Defaults filled in, every value clamped to its bounds; unknown names dropped."""
        given = given or {}
        return {o.name: o.clamp(given.get(o.name, o.default)) for o in self.options}

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        raise NotImplementedError

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        """Return (matrix of len(targets) x units, model rows evaluated, convergence, extras)."""
        raise NotImplementedError
