"""Cheap work first on shared CPU cores.

Concurrency groups keep a prediction out of an explanation's queue, but once both run, they
share the same cores: on the 2-core EPYC a 33 ms sentiment prediction took 172 ms (p50) beside
one running Qwen generation with OpenMP threads spinning, 129 ms giving way (``KMP_BLOCKTIME=200
python bench/priority.py``; app.py's sleeping threads do more: 42 ms). So long work gives way between its
steps: a prediction runs inside :func:`cheap`, and long work (a generation's decode step, a
batch of an explanation's scored masks or gradient points, an evaluation chunk, a fine-tuning
step) calls :func:`give_way` before its next step, which waits while a prediction runs. The
prediction then shares the cores with at most one step of long work, not with all of it.

The wait is bounded (:data:`MAX_WAIT_S` per step), so a steady stream of predictions slows long
work but never stops it. Only predictions on a CPU count: on a GPU they do not share the cores
with long work. No gradio.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

MAX_WAIT_S = 1.0  # at most this long at one step of long work

_cond = threading.Condition()
_running = 0  # predictions running on a CPU now
waited = {"steps": 0, "seconds": 0.0}  # how often long work gave way, and for how long (benches read it)

_F = TypeVar("_F", bound=Callable[..., Any])


@contextlib.contextmanager
def cheap(device: Any = "cpu") -> Iterator[None]:
    """Run a prediction: long work on the same machine waits at its next step until it ends
    (a prediction on a GPU device does not count)."""
    if getattr(device, "type", str(device)) != "cpu":
        yield
        return
    global _running
    with _cond:
        _running += 1
    try:
        yield
    finally:
        with _cond:
            _running -= 1
            if _running == 0:
                _cond.notify_all()


def give_way(max_wait: float = MAX_WAIT_S) -> float:
    """Called by long work between two steps: wait (at most ``max_wait`` s) while a prediction
    runs; returns the seconds waited (0 at once when none runs)."""
    if not _running:  # read without the lock: a prediction that starts just now waits one step
        return 0.0
    started = time.perf_counter()
    with _cond:
        _cond.wait_for(lambda: _running == 0, timeout=max_wait)
    seconds = time.perf_counter() - started
    waited["steps"] += 1
    waited["seconds"] += seconds
    return seconds


def cheap_batch(fn: _F, device: Any = "cpu") -> _F:
    """``fn`` run as a prediction (:func:`cheap`): for the batch function of a prediction
    batcher."""

    def run(*args: Any, **kwargs: Any) -> Any:
        with cheap(device):
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]


def running() -> int:
    """Predictions running on a CPU now."""
    return _running


__all__ = ["MAX_WAIT_S", "cheap", "cheap_batch", "give_way", "running", "waited"]
