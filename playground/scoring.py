"""The batched scoring function that every perturbation explainer calls.

LIME and SHAP each ask for hundreds of model evaluations. What they cost is evaluations x
per-evaluation time, so this module (1) never scores the same text twice, (2) sorts texts by
length so each batch carries little padding, and (3) chunks them into fixed-size batches so
memory stays bounded however many samples a method asks for (lime #681).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .memory import RowCache

BatchFn = Callable[[list[str]], np.ndarray]


@dataclass
class ScoreStats:
    """What a scorer did: texts asked for, rows the model actually ran, forward calls, time."""

    requested: int = 0
    evaluated: int = 0
    calls: int = 0
    seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)


class BatchedScorer:
    """Wraps ``batch_fn`` (texts -> array of shape (n, k)) with deduplication, length sorting and
    chunking. Call it with any number of texts; results come back in the order asked."""

    def __init__(self, batch_fn: BatchFn, batch_size: int = 64, length: Callable[[str], int] = len) -> None:
        self.batch_fn = batch_fn
        self.batch_size = max(1, int(batch_size))
        self.length = length
        self.cache = RowCache()  # text -> row, bounded in bytes (oldest forgotten first)
        self.stats = ScoreStats()
        # Called as progress(rows done, rows to do) after each batch (gr.Progress, time estimates).
        self.progress: Callable[[int, int], None] | None = None

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        self.stats.requested += len(texts)
        # Sorted by (length, text): batches carry little padding, and the same texts always
        # form the same batches, so results do not depend on the order they were asked in.
        found = {t: self.cache[t] for t in set(texts) if t in self.cache}  # held here: the cache may evict
        todo = sorted({t for t in texts if t not in found}, key=lambda t: (self.length(t), t))
        started = time.perf_counter()
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i : i + self.batch_size]
            out = np.asarray(self.batch_fn(chunk), dtype=np.float64)
            self.stats.calls += 1
            self.stats.batch_sizes.append(len(chunk))
            for text, row in zip(chunk, out):
                found[text] = self.cache[text] = row
            if self.progress is not None:
                self.progress(i + len(chunk), len(todo))
        self.stats.evaluated += len(todo)
        self.stats.seconds += time.perf_counter() - started
        if not texts:
            return np.zeros((0, 0))
        return np.stack([found[t] for t in texts])
