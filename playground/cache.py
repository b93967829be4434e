"""A bounded, thread-safe result cache: least recently used entries go first once the entries'
total size passes a byte budget. The explanation engine keeps finished explanations in one, so
the same request (same input, model, method, options) is answered at once; the app's API
endpoints use gradio's own ``gr.cache`` the same way (playground.ui.app)."""

from __future__ import annotations

import copy
import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

CACHE_MB_ENV = "PLAYGROUND_RESULT_CACHE_MB"
DEFAULT_MB = 64


def budget_bytes() -> int:
    """The byte budget of a result cache: ``PLAYGROUND_RESULT_CACHE_MB`` (default 64; 0 turns
    caching off)."""
    try:
        mb = float(os.environ.get(CACHE_MB_ENV, DEFAULT_MB))
    except ValueError:
        mb = DEFAULT_MB
    return max(0, int(mb * 2**20))


class BoundedCache:
    """Least-recently-used entries, at most ``max_bytes`` in all (each entry's size is its
    pickled size, measured once when it is stored). Values are copied in and out, so a caller
    that edits what it got never changes what the next caller gets."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = budget_bytes() if max_bytes is None else max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            value = found[0]
        return copy.deepcopy(value)

    def put(self, key: Hashable, value: Any) -> None:
        if self.max_bytes <= 0:
            return
        size = len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        if size > self.max_bytes // 4:  # one huge result must not empty the whole cache
            return
        stored = copy.deepcopy(value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (stored, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """What the entries take now (their pickled sizes)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


# Finished task outputs (a summary, a translation, an answer) by model, input and options: a class
# that clicks the same example gets the first student's answer at once. Decoding is greedy in
# these tasks, so the same request always has the same answer; a stopped or timed-out one is
# never kept.
ANSWERS = BoundedCache()

__all__ = ["ANSWERS", "CACHE_MB_ENV", "BoundedCache", "budget_bytes"]
