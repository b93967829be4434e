"""The result cache: a repeated explanation comes back equal and at once; a different request
runs; the cache stays within its byte budget; what a caller edits never reaches the next caller."""

from __future__ import annotations

import numpy as np

from playground import api
from playground.cache import BoundedCache
from playground.explain import RESULTS, explain
from playground.tasks import sentiment


def test_a_repeated_explanation_is_equal_and_comes_from_the_cache() -> None:
    subject = sentiment.subject("a quiet film that stays with you for days")
    first = explain(subject, "lime", {"lime_samples": 64, "converge": 0})
    assert "cached" not in first.extras
    second = sentiment.subject("a quiet film that stays with you for days")
    before = second.score.stats.evaluated
    again = explain(second, "lime", {"lime_samples": 64, "converge": 0})
    assert second.score.stats.evaluated == before  # not one model row ran
    assert again.extras.get("cached") is True
    np.testing.assert_array_equal(again.matrix, first.matrix)
    assert again.evaluations == first.evaluations
    assert [u.text for u in again.units] == [u.text for u in first.units]
    assert again.extras["faithfulness"] == first.extras["faithfulness"]


def test_another_input_method_option_or_target_runs_again() -> None:
    text = "the plot is thin but the acting is superb"
    base = explain(sentiment.subject(text), "feature_ablation")
    for other in (explain(sentiment.subject(text + " indeed"), "feature_ablation"),
                  explain(sentiment.subject(text), "gradient_x_input"),
                  explain(sentiment.subject(text), "lime", {"lime_samples": 40, "converge": 0}),
                  explain(sentiment.subject(text), "lime", {"lime_samples": 48, "converge": 0}),
                  explain(sentiment.subject(text), "feature_ablation", target="all"),
                  explain(sentiment.subject(text), "feature_ablation", metrics=False)):
        assert "cached" not in other.extras
    assert "cached" in explain(sentiment.subject(text), "feature_ablation").extras
    assert base.matrix.shape == (1, 9)


def test_what_a_caller_edits_never_reaches_the_next_caller() -> None:
    out = api.sentiment_explain("good food, slow service", method="feature_ablation")
    out["matrix"][0][0] = 1e9
    out["targets"][0]["label"] = "edited"
    again = api.sentiment_explain("good food, slow service", method="feature_ablation")
    assert again["cached"] is True
    assert again["matrix"][0][0] != 1e9 and again["targets"][0]["label"] != "edited"


def test_the_cache_stays_within_its_byte_budget_and_drops_the_least_recent() -> None:
    cache = BoundedCache(max_bytes=64_000)
    for i in range(200):
        cache.put(("row", i), np.full(1000, i, dtype=np.float64))  # ~8 kB each
        assert cache.nbytes <= 64_000
    assert 0 < len(cache) < 200
    assert cache.get(("row", 0)) is None and cache.get(("row", 199)) is not None
    cache.put("huge", np.zeros(100_000))  # larger than a quarter of the budget: not kept
    assert cache.get("huge") is None
    off = BoundedCache(max_bytes=0)
    off.put("x", 1)
    assert off.get("x") is None


def test_the_engine_cache_is_bounded_after_many_requests() -> None:
    for i in range(30):
        explain(sentiment.subject(f"review number {i} was fine"), "feature_ablation")
    assert 0 < len(RESULTS) <= 30
    assert RESULTS.nbytes <= RESULTS.max_bytes
