"""Shared tokenizers made safe to call from several threads at once.

A fast (Rust) tokenizer keeps its truncation and padding settings as state: each call sets them
(``set_truncation_and_padding``) and then encodes, releasing the GIL. Two users' requests on one
model, one padding a batch and one encoding a single text, interleave, and the batch comes back
unpadded ("Unable to create tensor ... activate padding") or the Rust side raises "Already
borrowed" (huggingface/tokenizers#537). Every model here is shared by all users, so its tokenizer
serializes its encode and decode calls behind one lock; each takes micro- to milliseconds.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

T = TypeVar("T")

# The methods of transformers' tokenizers that set state or hold the Rust tokenizer while the
# GIL is released: everything __call__, encode, tokenize and decode go through.
_GUARDED = ("_encode_plus", "_decode", "_batch_decode")


def thread_safe(tokenizer: T) -> T:
    """``tokenizer`` itself, its class swapped for a subclass (same name) whose encode and decode
    calls hold one lock of its own. Idempotent; copies share the lock."""
    cls = type(tokenizer)
    if "_playground_lock" in cls.__dict__:
        return tokenizer
    lock = threading.RLock()

    def guard(name: str) -> Any:
        inner = getattr(cls, name)

        def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return inner(self, *args, **kwargs)

        locked.__name__ = name
        return locked

    body: dict[str, Any] = {n: guard(n) for n in _GUARDED if hasattr(cls, n)}
    body.update(_playground_lock=lock, __module__=cls.__module__, __qualname__=cls.__qualname__)
    tokenizer.__class__ = type(cls.__name__, (cls,), body)  # the name saved configs record
    return tokenizer


__all__ = ["thread_safe"]
