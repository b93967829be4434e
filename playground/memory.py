"""Memory that a finished job leaves behind, given back to the system.

An explanation allocates and frees gigabytes of short-lived tensors (activations, logits,
gradients). Python and torch free them all when the job ends, but glibc's malloc keeps freed
memory in its arenas, one per thread that allocated (up to 8 per CPU core), and raises its
mmap threshold up to 32 MB after the first large frees, so later tensors of up to 32 MB come
from arenas that never shrink. A server answers each request on one of many worker threads, so
every thread's arena keeps its own high-water mark: measured with the offline models on 2 CPU
cores (bench/memory.py), Integrated Gradients on a 600-character summary, run on 8 rotating
worker threads, took the process from 1.0 to 2.7 GB resident, +0.2 GB per request, none of it
held by a Python object.

Two remedies, both measured there (same speed within noise):

- :func:`configure` (once, before the first model loads): a fixed mmap threshold, so every
  allocation of at least :data:`MMAP_THRESHOLD_KB` gets its own mapping, returned to the system
  the moment the tensor is freed, whatever the thread (the same run stayed at 1.1 GB);
- :func:`release` after a job (:func:`job`): glibc's ``malloc_trim(0)``, which hands every
  arena's free pages back (a millisecond to a few tens; the same run stayed at 1.05 GB).

Both do nothing where the C library is not glibc. :func:`rss_bytes` and :class:`PeakSampler` are
what bench/memory.py and tests/test_memory.py measure with.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import inspect
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

MMAP_THRESHOLD_ENV = "PLAYGROUND_MMAP_THRESHOLD_KB"
# Allocations at least this big are mapped on their own (0: leave glibc's dynamic threshold).
MMAP_THRESHOLD_KB = 256
_M_MMAP_THRESHOLD = -3  # mallopt parameter numbers (malloc.h)

_libc: Any = None
_libc_checked = False
_configured = False
_lock = threading.Lock()


def glibc() -> Any:
    """The process's glibc (a ctypes handle), or None on any other C library or system."""
    global _libc, _libc_checked
    if not _libc_checked:
        _libc_checked = True
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None)
                libc.gnu_get_libc_version.restype = ctypes.c_char_p
                libc.gnu_get_libc_version()  # only glibc has it (musl does not)
                libc.malloc_trim.argtypes = [ctypes.c_size_t]
                libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                _libc = libc
            except (OSError, AttributeError):
                _libc = None
    return _libc


def threshold_bytes() -> int:
    """The mmap threshold :func:`configure` sets: ``PLAYGROUND_MMAP_THRESHOLD_KB`` (default
    :data:`MMAP_THRESHOLD_KB`; 0 leaves malloc as it is)."""
    try:
        kb = int(os.environ.get(MMAP_THRESHOLD_ENV, MMAP_THRESHOLD_KB))
    except ValueError:
        kb = MMAP_THRESHOLD_KB
    return max(0, kb) * 1024


def configure() -> bool:
    """Set glibc's mmap threshold once (see the module docstring). True when it was set."""
    global _configured
    with _lock:
        if _configured:
            return True
        libc, size = glibc(), threshold_bytes()
        if libc is None or size <= 0:
            return False
        _configured = bool(libc.mallopt(_M_MMAP_THRESHOLD, size))
        return _configured


def release() -> None:
    """After a job: collect the young garbage cycles (a job's own; a full collection costs
    0.7-1 s in the app, with its ~850,000 objects) and give the C heap's free pages back to the
    system (about a millisecond), and torch's cached GPU blocks on a GPU."""
    gc.collect(1)
    libc = glibc()
    if libc is not None:
        libc.malloc_trim(0)
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# A scorer's mask -> values cache (explain.base.MaskScorer, scoring.BatchedScorer): one per
# request, but a request may ask for tens of thousands of masks (three sampled methods at their
# 10,000 caps, two hundred output words as targets: ~2 KB a row).
ROW_CACHE_BYTES = 64 * 2**20
_ENTRY_OVERHEAD = 200  # two dict slots and the array's object header, about


class RowCache:
    """``key -> row`` (a small float array), at most ``max_bytes`` in all, counting the key,
    the row and a per-entry overhead; past it the oldest entries go first. Rows are stored as
    copies, so an evicted row never keeps a whole batch's array alive."""

    def __init__(self, max_bytes: int = ROW_CACHE_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._rows: dict[Any, Any] = {}
        self._sizes: dict[Any, int] = {}
        self.nbytes = 0
        self.evicted = 0

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, key: Any) -> Any:
        return self._rows[key]

    def get(self, key: Any, default: Any = None) -> Any:
        return self._rows.get(key, default)

    def __setitem__(self, key: Any, row: Any) -> None:
        row = row.copy()
        size = sys.getsizeof(key) + int(row.nbytes) + _ENTRY_OVERHEAD
        if key in self._rows:
            self.nbytes -= self._sizes.pop(key)
            del self._rows[key]
        self._rows[key] = row
        self._sizes[key] = size
        self.nbytes += size
        while self.nbytes > self.max_bytes and len(self._rows) > 1:
            oldest = next(iter(self._rows))
            del self._rows[oldest]
            self.nbytes -= self._sizes.pop(oldest)
            self.evicted += 1

    def clear(self) -> None:
        self._rows.clear()
        self._sizes.clear()
        self.nbytes = 0


@contextlib.contextmanager
def job() -> Iterator[None]:
    """Around one request's work (a UI handler, an API call): :func:`release` afterwards,
    however it ended."""
    try:
        yield
    finally:
        release()


_F = TypeVar("_F", bound=Callable[..., Any])


def released(fn: _F) -> _F:
    """``fn`` (a function or a generator function, as gradio handlers are) with :func:`release`
    after each call, however it ended; same signature (``functools.wraps``), so gradio still
    sees its ``gr.Request`` and ``gr.Progress`` parameters."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args: Any, **kwargs: Any) -> Any:
            with job():
                yield from fn(*args, **kwargs)

        return gen  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with job():
            return fn(*args, **kwargs)

    return call  # type: ignore[return-value]


def rss_bytes() -> int:
    """This process's resident memory now, in bytes (0 where it cannot be read)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001 - no way to measure here
        return 0


class PeakSampler:
    """``with PeakSampler() as p: ...`` samples the resident memory every ``interval`` seconds
    in a thread; ``p.before``, ``p.peak`` (bytes) afterwards."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.before = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self.before = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, rss_bytes())


__all__ = ["MMAP_THRESHOLD_ENV", "MMAP_THRESHOLD_KB", "ROW_CACHE_BYTES", "PeakSampler", "RowCache",
           "configure", "glibc", "job", "release", "released", "rss_bytes", "threshold_bytes"]
