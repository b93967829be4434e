"""A decoder's keys and values of recent prompts, reused by the next prompt that starts the same way.

A class asks many questions about one paragraph: every generative QA prompt is the same few-shot
examples and the same context, then a short question. Reading a prompt (the prefill) is most of a
short answer's cost on a CPU: Qwen2.5-0.5B on 2 cores read the reef paragraph's 145-token prompt
in about 3 s and wrote the 2 to 8 answer tokens in a fraction of that. With the keys and values
of the shared prefix kept, the next question costs only its own tokens
(``bench/classroom.py`` measures the effect; ``tests/test_prefix_cache.py`` checks that the output
is the one computed from scratch).

:class:`PrefixCache` holds, per model, the key/value cache of recent prompts (transformers'
``DynamicCache``), bounded in bytes, least recently used first out. :meth:`PrefixCache.lookup`
finds the stored prompt sharing the longest run of leading token ids with a new prompt and
returns a private copy cropped to that run (always leaving at least the last token to compute,
as generate needs one); generate then reads only the rest. Entries are never changed after they
are stored, so concurrent lookups need no more than the lock around the table.
"""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

PREFIX_CACHE_MB_ENV = "PLAYGROUND_PREFIX_CACHE_MB"
DEFAULT_MB = 64
# Below this many shared tokens a copy saves too little to be worth it (a chat template's opening).
MIN_TOKENS = 8


def cache_bytes(cache: Any) -> int:
    """Bytes held by a transformers cache's key and value tensors."""
    total = 0
    for layer in getattr(cache, "layers", []):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if t is not None and hasattr(t, "nbytes"):
                total += int(t.nbytes)
    return total


def _shared(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class PrefixCache:
    """Per model key: prompts' token ids and their key/value caches, at most ``max_bytes`` in all."""

    def __init__(self, max_bytes: int | None = None, min_tokens: int = MIN_TOKENS) -> None:
        if max_bytes is None:
            try:
                max_bytes = int(float(os.environ.get(PREFIX_CACHE_MB_ENV, DEFAULT_MB)) * 2**20)
            except ValueError:
                max_bytes = DEFAULT_MB * 2**20
        self.max_bytes = max(0, max_bytes)
        self.min_tokens = min_tokens
        self._entries: OrderedDict[tuple[Hashable, tuple[int, ...]], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def lookup(self, model: Hashable, ids: Sequence[int]) -> tuple[Any | None, int]:
        """(a private cache of the first ``n`` tokens of ``ids``, ``n``), the longest stored
        prefix; (None, 0) when no stored prompt shares ``min_tokens`` or more."""
        best, best_n = None, 0
        with self._lock:
            for (key, stored), (cache, _) in self._entries.items():
                if key != model:
                    continue
                n = min(_shared(stored, ids), len(ids) - 1)  # generate must compute at least one token
                if n > best_n:
                    best, best_n, best_key = cache, n, (key, stored)
            if best is None or best_n < self.min_tokens:
                self.misses += 1
                return None, 0
            self._entries.move_to_end(best_key)
            self.hits += 1
        mine = copy.deepcopy(best)  # generate extends the cache it is given: never the stored one
        extra = mine.get_seq_length() - best_n
        if extra:
            mine.crop(-extra)
        return mine, best_n

    def store(self, model: Hashable, ids: Sequence[int], cache: Any) -> None:
        """Keep ``cache`` (which must hold exactly the keys and values of ``ids``; it is kept
        as is, so the caller must not change it afterwards)."""
        if self.max_bytes <= 0 or len(ids) < self.min_tokens or not getattr(cache, "is_croppable", False):
            return
        size = cache_bytes(cache)
        if size > self.max_bytes // 4:  # one long prompt must not empty the table
            return
        key = (model, tuple(int(i) for i in ids))
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (cache, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def forget(self, model: Hashable | None = None) -> None:
        """Drop every entry (of one model): its weights changed or it was unloaded."""
        with self._lock:
            for key in [k for k in self._entries if model is None or k[0] == model]:
                self._bytes -= self._entries.pop(key)[1]

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


PREFIXES = PrefixCache()
"""The app's one table (generation reads and fills it)."""

__all__ = ["PREFIXES", "PREFIX_CACHE_MB_ENV", "PrefixCache", "cache_bytes"]
