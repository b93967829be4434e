"""A shared model's attention implementation: switched to eager for the one forward that needs
attention weights (:func:`eager_attention`), and the per-model gate (:func:`gate`) that keeps that
switch from happening under a running generation. Re-exported by :mod:`playground.models`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Temporarily switch to eager attention: with sdpa, transformers 5 returns no attention
    weights. Only the one forward that draws the heatmap pays for it."""
    before = model.config._attn_implementation
    if before == "eager":
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(before)


# ---- The per-model gate --------------------------------------------------------------------
# Generation always runs with sdpa; an attention view or an attention explanation needs eager
# for one pass. Waits are bounded: a generation lasts at most a minute (generation.MAX_TIME_CAP).
GATE_GRACE_S = 30.0
GATE_MAX_WAIT_S = 90.0


class ModelGate:
    """Many generations at once, or one eager-attention pass alone: ``models.eager_attention``
    switches the shared model's implementation, which must not happen under a running
    generation (it would run eager: same numbers, several times slower). Eager passes go first
    once waiting; every wait is bounded (a generation lasts at most a minute)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generating = 0
        self._eager = False
        self._eager_waiting = 0

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._eager and not self._eager_waiting, timeout=GATE_GRACE_S)
            self._generating += 1
        try:
            yield
        finally:
            with self._cond:
                self._generating -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def eager(self) -> Iterator[None]:
        with self._cond:
            self._eager_waiting += 1
            self._cond.wait_for(lambda: not self._eager and self._generating == 0, timeout=GATE_MAX_WAIT_S)
            self._eager_waiting -= 1
            self._eager = True
        try:
            yield
        finally:
            with self._cond:
                self._eager = False
                self._cond.notify_all()



_gates: dict[str, ModelGate] = {}
_gates_lock = threading.Lock()


def gate(key: str) -> ModelGate:
    """The model's gate: ``with gate(key).eager():`` waits until no generation runs on that model
    (an eager-attention pass must not switch its attention mid-generation); ``generating()``
    lets many generations run at once."""
    with _gates_lock:
        return _gates.setdefault(key, ModelGate())


__all__ = ["GATE_GRACE_S", "GATE_MAX_WAIT_S", "ModelGate", "eager_attention", "gate"]
