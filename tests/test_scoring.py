"""playground.scoring.BatchedScorer: order, deduplication, length-sorted bounded batches; and the
real tiny-model scorer that LIME and SHAP call."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from playground.config import LIMITS
from playground.explain import explain
from playground.scoring import BatchedScorer
from playground.tasks import sentiment


class Recorder:
    """A batch function that scores a text by its length and its vowel count, and records
    every batch it was given."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return np.array([[len(t), sum(c in "aeiou" for c in t)] for t in texts], dtype=float)


def expected(texts: list[str]) -> np.ndarray:
    return np.array([[len(t), sum(c in "aeiou" for c in t)] for t in texts], dtype=float)


def test_results_come_back_in_the_order_asked() -> None:
    rec = Recorder()
    scorer = BatchedScorer(rec, batch_size=3)
    texts = ["a long sentence here", "b", "medium one", "zz", "the longest sentence of them all", "abc"]
    out = scorer(texts)
    assert out.shape == (len(texts), 2)
    np.testing.assert_array_equal(out, expected(texts))


def test_identical_texts_are_scored_once() -> None:
    rec = Recorder()
    scorer = BatchedScorer(rec, batch_size=10)
    texts = ["good", "bad", "good", "good", "bad", "meh"]
    out = scorer(texts)
    np.testing.assert_array_equal(out, expected(texts))
    flat = [t for b in rec.batches for t in b]
    assert sorted(flat) == ["bad", "good", "meh"]
    assert scorer.stats.requested == 6
    assert scorer.stats.evaluated == 3
    assert scorer.stats.evaluated < scorer.stats.requested


def test_cache_spans_calls() -> None:
    rec = Recorder()
    scorer = BatchedScorer(rec, batch_size=10)
    scorer(["one", "two"])
    out = scorer(["two", "three", "one"])
    np.testing.assert_array_equal(out, expected(["two", "three", "one"]))
    assert [t for b in rec.batches for t in b].count("two") == 1
    assert scorer.stats.requested == 5
    assert scorer.stats.evaluated == 3
    assert scorer.stats.calls == 2


def test_batches_are_bounded_and_sorted_by_length() -> None:
    rec = Recorder()
    scorer = BatchedScorer(rec, batch_size=4)
    rng = np.random.default_rng(0)
    texts = ["x" * int(n) + str(i) for i, n in enumerate(rng.integers(1, 60, size=23))]
    scorer(texts)
    assert all(1 <= len(b) <= 4 for b in rec.batches)
    assert scorer.stats.batch_sizes == [len(b) for b in rec.batches]
    assert scorer.stats.calls == len(rec.batches) == 6  # ceil(23 / 4)
    flat = [t for b in rec.batches for t in b]
    assert sorted(flat) == sorted(texts)
    lengths = [len(t) for t in flat]
    assert lengths == sorted(lengths), "texts are not sent in length order"


def test_custom_length_function_decides_the_order() -> None:
    rec = Recorder()
    scorer = BatchedScorer(rec, batch_size=100, length=lambda s: -len(s))
    scorer(["a", "abc", "ab"])
    assert rec.batches == [["abc", "ab", "a"]]


@pytest.mark.parametrize("size", [0, -5])
def test_batch_size_is_at_least_one(size: int) -> None:
    rec = Recorder()
    scorer = BatchedScorer(rec, batch_size=size)
    assert scorer.batch_size == 1
    scorer(["a", "b"])
    assert [len(b) for b in rec.batches] == [1, 1]


def test_empty_request_calls_nothing() -> None:
    rec = Recorder()
    scorer = BatchedScorer(rec)
    out = scorer([])
    assert out.shape[0] == 0
    assert rec.batches == []
    assert scorer.stats.calls == 0


def test_progress_reports_rows_done() -> None:
    rec = Recorder()
    scorer = BatchedScorer(rec, batch_size=2)
    seen: list[tuple[int, int]] = []
    scorer.progress = lambda done, total: seen.append((done, total))
    scorer(["a", "bb", "ccc", "dddd", "eeeee"])
    assert seen == [(2, 5), (4, 5), (5, 5)]


# ---- the real scorer on the tiny model ----------------------------------------------------


def test_tiny_model_scorer_matches_batch_probabilities(loaded) -> None:
    scorer = sentiment.scorer(loaded)
    texts = ["I loved this movie", "a complete waste of time", "I loved this movie", "ok"]
    out = scorer(texts)
    assert out.shape == (4, len(loaded.labels))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    direct = sentiment.batch_probabilities(loaded, ["I loved this movie", "a complete waste of time", "ok"])
    np.testing.assert_allclose(out[[0, 1, 3]], direct, atol=1e-5)
    np.testing.assert_array_equal(out[0], out[2])
    assert scorer.stats.evaluated == 3
    assert scorer.batch_size == LIMITS.batch_size


@pytest.mark.parametrize("method", ["lime", "shap", "kernel_shap", "feature_ablation"])
def test_perturbation_methods_call_the_model_in_batches(subject_factory, small, method: str) -> None:
    subject = subject_factory("I really loved this movie, the acting was great but the ending was bad")
    score = subject.score
    before = dataclasses.replace(score.stats)
    # The method's own rows (its faithfulness metrics run on the same scorer afterwards).
    expl = explain(subject, method, {**small, "kernel_shap_samples": 40}, units="word", metrics=False)
    stats = score.stats
    calls, rows = stats.calls - before.calls, stats.evaluated - before.evaluated
    assert calls >= 1 and rows == expl.evaluations
    # several masks per forward pass, never one forward per mask, batches bounded
    assert calls < rows
    assert calls == math.ceil(rows / score.batch_size) or calls <= rows // 2
    assert rows <= score.batch_size * calls
    # the methods ask for duplicates (e.g. the unperturbed text) that are scored only once
    assert stats.evaluated <= stats.requested
