"""Requests from different users answered by one batched forward pass.

Forty students classifying at once each ask for one forward pass over one short text; the model
runs sixteen texts in a batch in little more time than one (a batch of 16 reviews on MiniLM, 2
CPU cores: bench/classroom.py). :class:`Batcher` gathers the calls that arrive while a batch is
running and answers them with the next batch, so a waiting request costs its share of one forward
instead of a whole one, and nobody waits on a window when the model is idle: the first caller
runs at once, alone.

The caller that finds no batch running leads: it runs one batch, its own item and the oldest
pending ones, then hands the lead to the oldest caller still waiting. Every caller
gets its own item's result or its own item's exception. No thread is started: the work runs on
the callers' (gradio's worker) threads, so a concurrency limit on those still bounds it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

X = TypeVar("X")
Y = TypeVar("Y")


@dataclass
class _Call(Generic[X]):
    item: X
    done: bool = False
    value: Any = None
    error: BaseException | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class Batcher(Generic[X, Y]):
    """``batcher(item)`` -> ``fn([..., item, ...])[its index]``, with concurrent calls run
    together, at most ``max_batch`` items per ``fn`` call.

    ``fn`` maps a list of items to a list of results of the same length. If it raises, each
    item of that batch is retried alone, so one bad input fails only its own request."""

    def __init__(self, fn: Callable[[list[X]], Sequence[Y]], max_batch: int = 16) -> None:
        self.fn = fn
        self.max_batch = max(1, int(max_batch))
        self._lock = threading.Lock()
        self._pending: list[_Call[X]] = []
        self._running: list[X] = []  # the items of the batch being run
        self._leading = False
        self.batches: list[int] = []  # sizes of the batches run (the last 1,000): what tests and benches read

    def __call__(self, item: X) -> Y:
        call: _Call[X] = _Call(item)
        with self._lock:
            self._pending.append(call)
            lead = not self._leading
            self._leading = self._leading or lead
        while True:
            if lead:
                self._lead(call)
                break
            call.ready.wait()
            if call.done:
                break
            # Woken without an answer: the leader handed the lead over to this call.
            lead = True
        if call.error is not None:
            raise call.error
        return call.value

    @property
    def idle(self) -> bool:
        """Nothing running and nothing waiting."""
        with self._lock:
            return not self._leading and not self._pending

    def ahead_of(self, item: X) -> tuple[list[X], list[X]]:
        """What runs before ``item``: the batch running now (``item`` itself if it is in it) and
        the items queued before it (what a waiting caller's time estimate reads)."""
        with self._lock:
            queued = []
            for c in self._pending:
                if c.item is item:
                    break
                queued.append(c.item)
            return list(self._running), queued

    def _lead(self, own: _Call[X]) -> None:
        """Run one batch: ``own`` and the oldest pending calls; then hand the lead on."""
        try:
            with self._lock:
                batch = [own] + [c for c in self._pending if c is not own][: self.max_batch - 1]
                taken = {id(c) for c in batch}
                self._pending = [c for c in self._pending if id(c) not in taken]
                self._running = [c.item for c in batch]
            self._run(batch)
        finally:
            with self._lock:
                self._running = []
                nxt = self._pending[0] if self._pending else None
                self._leading = nxt is not None
            if nxt is not None:
                nxt.ready.set()  # not done: it leads the next batch

    def _run(self, batch: list[_Call[X]]) -> None:
        self.batches = (self.batches + [len(batch)])[-1000:]
        try:
            values = list(self.fn([c.item for c in batch]))
            if len(values) != len(batch):
                raise ValueError(f"batch function gave {len(values)} results for {len(batch)} items")
            for c, v in zip(batch, values):
                c.value = v
        except BaseException as exc:  # noqa: BLE001 - handed to each caller, never swallowed
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for c in batch:  # which item failed? each alone, so only its caller sees the error
                    self._run([c])
                return
        for c in batch:
            c.done = True
            c.ready.set()


_batchers: dict[Hashable, Batcher[Any, Any]] = {}  # least recently used first
_registry_lock = threading.Lock()
# Keys carry settings a client picks (a repetition penalty, a time limit): the registry keeps at
# most this many batchers, dropping the least recently used idle ones (a dropped key's next call
# simply gets a new batcher).
MAX_BATCHERS = 256


def batcher(key: Hashable, fn: Callable[[list[Any]], Sequence[Any]], max_batch: int = 16) -> Batcher[Any, Any]:
    """The one :class:`Batcher` for ``key`` (a model and what it computes), made on first use."""
    with _registry_lock:
        found = _batchers.pop(key, None)
        if found is None:
            found = Batcher(fn, max_batch)
            idle = [k for k, b in _batchers.items() if b.idle]
            for k in idle[: max(0, len(_batchers) + 1 - MAX_BATCHERS)]:
                del _batchers[k]
        _batchers[key] = found
        return found


__all__ = ["MAX_BATCHERS", "Batcher", "batcher"]
