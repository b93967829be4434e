"""playground.batching: concurrent requests answered by one batched call, each caller getting
its own answer or its own error; and the sentiment task's predictions batched across users on
the real loading code (tiny model), equal to one-at-a-time predictions."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from playground import batching
from playground.batching import Batcher


def test_a_lone_call_runs_at_once_alone() -> None:
    b = Batcher(lambda xs: [x * 2 for x in xs])
    assert b(21) == 42 and b.batches == [1]


def test_calls_arriving_during_a_batch_share_the_next_one() -> None:
    """While the first call's batch runs (held open by an event), 10 more arrive; they are
    answered by batches of at most 4, each caller with its own item's result."""
    release = threading.Event()
    first = threading.Event()

    def fn(xs: list[int]) -> list[int]:
        if not first.is_set():
            first.set()
            release.wait(10)
        return [x * x for x in xs]

    b = Batcher(fn, max_batch=4)
    with ThreadPoolExecutor(11) as pool:
        head = pool.submit(b, 0)
        first.wait(10)
        rest = [pool.submit(b, x) for x in range(1, 11)]
        while len(b._pending) < 10:  # every later call is waiting on the running batch
            threading.Event().wait(0.01)
        release.set()
        assert head.result(10) == 0
        assert [f.result(10) for f in rest] == [x * x for x in range(1, 11)]
    assert b.batches[0] == 1 and sum(b.batches) == 11
    assert max(b.batches) == 4 and len(b.batches) == 4  # 1 + 4 + 4 + 2


def test_the_registry_of_batchers_is_bounded_and_never_drops_a_busy_one() -> None:
    """Keys carry client settings (a repetition penalty slider): a class trying every value must
    not grow the registry without end; a batcher running a batch is kept."""
    release, started = threading.Event(), threading.Event()

    def slow(xs: list[int]) -> list[int]:
        started.set()
        release.wait(10)
        return xs

    busy = batching.batcher(("test-busy",), slow)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(busy, 1)
        assert started.wait(10)
        made = [batching.batcher(("test-key", i), lambda xs: xs) for i in range(batching.MAX_BATCHERS + 50)]
        assert len(batching._batchers) <= batching.MAX_BATCHERS
        assert batching.batcher(("test-busy",), slow) is busy  # running: never dropped
        last = ("test-key", batching.MAX_BATCHERS + 49)
        assert batching.batcher(last, lambda xs: xs) is made[-1]  # recent ones stay
        assert batching.batcher(("test-key", 0), lambda xs: xs) is not made[0]  # the oldest idle one went
        release.set()
        assert running.result(10) == 1
    for key in [k for k in batching._batchers if k[0] in ("test-key", "test-busy")]:
        del batching._batchers[key]  # leave the registry to the other tests


def test_one_bad_item_fails_only_its_own_caller() -> None:
    release, first = threading.Event(), threading.Event()

    def fn(xs: list[str]) -> list[int]:
        if not first.is_set():
            first.set()
            release.wait(10)
        return [int(x) for x in xs]  # "x" raises for the whole batch

    b = Batcher(fn)
    with ThreadPoolExecutor(4) as pool:
        head = pool.submit(b, "1")
        first.wait(10)
        futures = [pool.submit(b, v) for v in ("2", "x", "4")]
        while len(b._pending) < 3:
            threading.Event().wait(0.01)
        release.set()
        assert head.result(10) == 1
        assert futures[0].result(10) == 2 and futures[2].result(10) == 4
        with pytest.raises(ValueError):
            futures[1].result(10)


def test_sentiment_predictions_batched_across_users_equal_lone_ones() -> None:
    """16 users at once on the tiny sentiment model: fewer forwards than requests, and each
    user's probabilities and attention are their own text's, as if run alone."""
    from playground import config, models
    from playground.tasks import sentiment

    texts = [f"review number {i}: " + "good " * (i % 5) + "bad " * (i % 3) for i in range(16)]
    lone = [sentiment.analyse(t, "tiny") for t in texts]
    loaded = models.load_task("sentiment", "tiny")
    b = batching.batcher((loaded.spec.key, "analyse"), None)
    before = len(b.batches)
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda t: sentiment.analyse(t, "tiny"), texts))
    sizes = b.batches[before:]
    assert sum(sizes) == 16
    for a, c in zip(lone, together):
        assert a["words"] == c["words"] and a["attentions"].shape == c["attentions"].shape
        np.testing.assert_allclose([a["scores"][k] for k in a["scores"]], [c["scores"][k] for k in a["scores"]], atol=1e-4)
        np.testing.assert_allclose(a["attentions"], c["attentions"], atol=1e-4)
    # The batch function itself, all 16 texts in one call (however the threads above happened to
    # meet): each text's numbers are its own.
    for t, a, (probs, att, ids) in zip(texts, lone, sentiment._eager_batch(loaded, texts)):
        np.testing.assert_allclose([a["scores"][k] for k in a["scores"]], probs, atol=1e-4)
        words, pooled = sentiment.word_attention(loaded, t, ids, att)
        assert words == a["words"]
        np.testing.assert_allclose(a["attentions"], pooled, atol=1e-4)
    p = [sentiment.predict(t, "tiny")["scores"] for t in texts[:3]]
    assert all(abs(sum(s.values()) - 1) < 1e-5 for s in p)
    assert config.LIMITS.predict_batch >= 8
