"""A model's tokenizer is shared by every user: one user's batch (padded) and another's single
text (unpadded) encoded at the same moment each get their own, correct encoding. Without the
lock of playground.tokenizer_threads the fast tokenizer's padding state, set by one call, is
reset by the other before the first encodes (seen in CI as a batch that could not be stacked)."""

from __future__ import annotations

import threading

from playground import models
from playground.tokenizer_threads import thread_safe


def _hammer(tok: object, rounds: int = 300, threads: int = 8) -> list[BaseException]:
    """Half the threads encode padded batches of uneven texts, half encode one text at a time
    (no padding); every result is checked against the same call made alone."""
    batch = ["a short one", "a much longer text with many more words in it than the first"]
    want_batch = tok(batch, padding=True)["input_ids"]
    want_one = tok(batch[1])["input_ids"]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(k: int) -> None:
        start.wait()
        for _ in range(rounds):
            try:
                if k % 2:
                    assert tok(batch, padding=True, return_tensors="pt")["input_ids"].tolist() == want_batch
                else:
                    assert tok(batch[1])["input_ids"] == want_one
                    assert tok.decode(want_one)
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                errors.append(exc)
                return

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    return errors


def test_loaded_tokenizers_encode_concurrent_calls_as_if_alone(tiny_profile: object) -> None:
    loaded = models.load_task("sentiment", "tiny")
    assert _hammer(loaded.tokenizer) == []
    assert type(loaded.tokenizer).__name__ == type(loaded.tokenizer).__mro__[1].__name__  # saved configs unchanged


def test_thread_safe_is_idempotent_and_keeps_the_tokenizer(tiny_profile: object) -> None:
    tok = models.load_task("sentiment", "tiny").tokenizer
    cls = type(tok)
    assert thread_safe(tok) is tok and type(tok) is cls
