"""Budgets that converge (playground/explain/budgets.py) on the tiny sentiment model: LIME, SHAP
and KernelSHAP grow their budget from a start that scales with the words, stop once two
successive stages rank the words alike, at the cap, or before a stage that would overrun the
time limit; converge=0 runs exactly the budget; every result says why it stopped and how stable
it is; the same seed gives the same result; Stop still ends a run between batches."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pytest

from playground.explain import METHODS, RESULTS, Explanation, Stopped, all_options, planned_evaluations
from playground.explain import explain as explain_with_metrics
from playground.explain.budgets import Policy, agreement, run_stages, schedule, start_budget
from playground.explain.kernel_shap import POLICY as KERNEL_POLICY
from playground.explain.lime_text import POLICY as LIME_POLICY
from playground.explain.lime_text import neighbourhood
from playground.explain.shap_text import POLICY as SHAP_POLICY

SAMPLED = {"lime": "lime_samples", "shap": "shap_evals", "kernel_shap": "kernel_shap_samples"}
POLICIES = {"lime": LIME_POLICY, "shap": SHAP_POLICY, "kernel_shap": KERNEL_POLICY}
ENGLISH = "I loved this movie, but the ending was terrible."  # 11 words (punctuation included)
LONGER = "I really loved this movie, the acting was great but the ending was bad and the music was far too loud for me"
NO_CLOCK = {"max_seconds": 300}  # results that must not depend on how busy the machine is


def explain(*args: Any, **kw: Any) -> Explanation:
    """The method's own run (no faithfulness metrics after it: their rows are not the method's)."""
    return explain_with_metrics(*args, metrics=False, **kw)


def test_the_budget_is_a_cap_and_the_options_are_shared() -> None:
    names = [o.name for o in all_options()]
    assert names.count("converge") == 1 and names.count("max_seconds") == 1
    for method, budget in SAMPLED.items():
        opts = METHODS[method].resolve(None)
        assert opts["converge"] == 1 and opts["max_seconds"] == 20 and opts[budget] == 5000
        assert METHODS[method].resolve({budget: 10**9})[budget] == 10000


def test_schedule_starts_from_the_words_and_doubles_to_the_cap() -> None:
    policy = Policy(per_unit=16, threshold=0.9)
    assert start_budget(10, 5000, policy) == 160 and start_budget(2, 5000, policy) == 64
    assert schedule(10, 5000, True, policy) == [80, 160, 320, 640, 1280, 2560, 5000]
    assert schedule(100, 5000, True, policy) == [800, 1600, 3200, 5000]
    assert schedule(10, 40, True, policy) == [20, 40]  # a cap below the start: the cap and its half
    assert schedule(10, 300, False, policy) == [150, 300]  # a fixed budget, after its free half
    assert schedule(10, 300, False, policy, halves=False) == [300]


def test_agreement_is_the_worst_targets_spearman() -> None:
    a = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    b = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    assert agreement(a, a) == pytest.approx(1.0)
    assert agreement(a, b) == pytest.approx(-1.0)


def ranking(seed: int, n: int = 12) -> np.ndarray:
    return np.random.RandomState(seed).permutation(n).astype(float)[None, :]


def test_run_stages_stops_once_two_stages_agree() -> None:
    calls: list[int] = []

    def run(budget: int) -> np.ndarray:
        calls.append(budget)
        return ranking(0) if budget >= 200 else ranking(budget)  # the ranking holds from 200 on

    out = run_stages(run, [100, 200, 400, 800], 60, True, Policy(per_unit=1, threshold=0.9))
    assert calls == [100, 200, 400] and out.stopped_by == "settled" and out.half_spearman == pytest.approx(1.0)
    # Independent halves that still disagree keep it going, to the cap.
    calls.clear()
    out = run_stages(run, [100, 200, 400, 800], 60, True, Policy(1, 0.9, seed_threshold=0.8), halves=lambda b: 0.5)
    assert calls == [100, 200, 400, 800] and out.stopped_by == "budget"
    # A fixed budget runs every stage it is given, whatever the agreement.
    calls.clear()
    assert run_stages(run, [200, 400], 60, False, Policy(1, 0.9)).stopped_by == "budget" and calls == [200, 400]


def test_run_stages_stops_at_exact_values() -> None:
    out = run_stages(lambda b: ranking(b), [100, 200, 400], 60, True, Policy(1, 0.9), exact=lambda b: b >= 200)
    assert out.stopped_by == "exact" and out.last.budget == 200


def test_run_stages_cuts_the_stage_that_would_overrun_the_time_limit() -> None:
    """Each unit of budget costs 5 ms (a stage extends the one before: 100 then 200 take 1 s in
    all); 400 would end at 2 s, past the 1.5 s allowed, so it is cut to what fits (300, less the
    loop's own time), and that is the last stage."""
    calls: list[int] = []

    def run(budget: int) -> np.ndarray:
        calls.append(budget)
        time.sleep((budget - (calls[-2] if len(calls) > 1 else 0)) * 0.005)
        return ranking(budget)  # never settles

    out = run_stages(run, [100, 200, 400, 800], 1.5, True, Policy(1, 0.99), granule=10)
    assert out.stopped_by == "time" and out.last.budget == calls[-1]
    assert calls[:2] == [100, 200] and len(calls) == 3
    assert 250 <= calls[2] <= 300 and calls[2] % 10 == 0


def test_lime_neighbourhood_is_prefix_stable_and_drawn_as_lime_draws_it() -> None:
    big = neighbourhood(12, 4000, seed=3)
    np.testing.assert_array_equal(neighbourhood(12, 50, seed=3), big[:50])  # a budget's samples start a larger one's
    assert big[0].all()  # row 0: the input itself
    removed = (~big[1:]).sum(axis=1)
    assert removed.min() == 1 and removed.max() == 12
    counts = np.bincount(removed, minlength=13)[1:]
    assert counts.min() > 0.7 * counts.mean()  # a uniform number of words removed
    per_unit = (~big[1:]).mean(axis=0)
    np.testing.assert_allclose(per_unit, per_unit.mean(), atol=0.05)  # then which ones: any, alike
    assert not np.array_equal(neighbourhood(12, 50, seed=4), big[:50])


@pytest.mark.parametrize("method", list(SAMPLED))
def test_converge_0_runs_exactly_the_budget(subject_factory, method: str) -> None:
    subject = subject_factory(LONGER)
    n = len(subject.units)
    budget = 120
    e = explain(subject, method, {SAMPLED[method]: budget, "converge": 0})
    c = e.convergence
    assert c["samples"] == budget and c["stopped_by"] == "budget"
    if method == "lime":  # every sample of the budget's neighbourhood, each distinct mask once
        assert e.evaluations == len({row.tobytes() for row in neighbourhood(n, budget, 0)})
    elif method == "kernel_shap":  # the coalitions, the background and the input
        assert e.evaluations == budget + 2 == planned_evaluations(subject, method, {SAMPLED[method]: budget, "converge": 0})
    else:
        assert 0 < e.evaluations <= budget
    bigger = explain(subject_factory(LONGER), method, {SAMPLED[method]: 2 * budget, "converge": 0})
    assert bigger.convergence["samples"] == 2 * budget


@pytest.mark.parametrize("method", list(SAMPLED))
def test_converging_run_stops_before_the_cap_once_settled(subject_factory, method: str) -> None:
    subject = subject_factory(ENGLISH)
    cap = METHODS[method].resolve(None)[SAMPLED[method]]
    e = explain(subject, method, NO_CLOCK)
    c = e.convergence
    assert c["converged"] is True
    assert c["stopped_by"] in ("settled", "exact")
    assert c["half_spearman"] >= POLICIES[method].threshold
    assert c["seed_spearman"] >= (POLICIES[method].seed_threshold or -1.0)
    assert c["samples"] < cap and e.evaluations < cap
    assert -1.0 <= c["seed_spearman"] <= 1.0
    json.dumps(e.to_dict(), allow_nan=False)
    assert {"converged", "stopped_by", "half_spearman", "seed_spearman", "samples"} <= set(c)
    # The fixed budget at the cap costs more model rows than converging did.
    fixed = planned_evaluations(subject, method, {"converge": 0})
    assert e.evaluations < fixed


def test_a_converging_lime_needs_no_more_rows_than_its_final_budget(subject_factory) -> None:
    """LIME's stages are prefixes of one neighbourhood: the rows run are those of its last stage."""
    subject = subject_factory(LONGER)
    e = explain(subject, "lime", NO_CLOCK)
    n = len(subject.units)
    final = e.convergence["samples"]
    assert final >= start_budget(n, 5000, LIME_POLICY)
    assert e.evaluations == len({row.tobytes() for row in neighbourhood(n, final, 0)})
    np.testing.assert_array_equal(e.matrix, explain(subject_factory(LONGER), "lime",
                                                    {"lime_samples": final, "converge": 0}).matrix)


def test_shap_stages_reuse_the_rows_of_the_smaller_budget(subject_factory) -> None:
    """shap's Partition explainer expands its tree in the same order whatever its budget: a
    larger budget after a smaller one runs only the new coalitions."""
    grown = subject_factory(LONGER)
    first = explain(grown, "shap", {"shap_evals": 100, "converge": 0}).evaluations
    then = explain(grown, "shap", {"shap_evals": 200, "converge": 0}).evaluations
    RESULTS.clear()  # the same request again: on a fresh scorer, not from the result cache
    fresh = explain(subject_factory(LONGER), "shap", {"shap_evals": 200, "converge": 0}).evaluations
    assert first > 0 and then > 0 and first + then == fresh


def test_exact_when_every_coalition_fits(subject_factory) -> None:
    for method in ("shap", "kernel_shap"):
        e = explain(subject_factory("good bad movie"), method)
        assert e.convergence["stopped_by"] == "exact" and e.convergence["converged"] is True
        assert e.evaluations <= 2**3
    e = explain(subject_factory("good bad movie"), "kernel_shap")
    assert e.evaluations == 2**3 == planned_evaluations(subject_factory("good bad movie"), "kernel_shap")


@pytest.mark.parametrize("method", list(SAMPLED))
def test_a_time_limit_stops_a_slow_run(subject_factory, method: str) -> None:
    """A slow model (the tiny one, plus a pause per batch): the first stage alone takes longer
    than the 1 s allowed, so the run stops after it, not converged."""
    subject = subject_factory(LONGER)
    score = subject.score
    fast = score.batch_fn

    def slow(masks: np.ndarray) -> np.ndarray:
        time.sleep(0.1)
        return fast(masks)

    score.batch_fn = slow
    score.batch_size = 16
    e = explain(subject, method, {"max_seconds": 1, "seed": 5})
    c = e.convergence
    assert c["stopped_by"] == "time" and c["converged"] is False
    assert c["samples"] <= start_budget(len(subject.units), 5000, POLICIES[method])  # far below the cap
    assert e.evaluations < 5000


def test_the_time_limit_is_not_reached_without_a_slow_model(subject_factory) -> None:
    e = explain(subject_factory(ENGLISH), "lime", NO_CLOCK)
    assert e.convergence["stopped_by"] != "time"


@pytest.mark.parametrize("method", list(SAMPLED))
def test_same_seed_same_result(subject_factory, method: str) -> None:
    a = explain(subject_factory(LONGER), method, {"seed": 3, **NO_CLOCK})
    b = explain(subject_factory(LONGER), method, {"seed": 3, **NO_CLOCK})
    np.testing.assert_array_equal(a.matrix, b.matrix)
    assert a.convergence == b.convergence and a.evaluations == b.evaluations
    assert -1.0 <= a.convergence["seed_spearman"] <= 1.0 and -1.0 <= a.convergence["half_spearman"] <= 1.0


def test_stop_ends_a_converging_run_between_batches(subject_factory) -> None:
    subject = subject_factory(LONGER)
    stop = threading.Event()
    seen: list[float] = []

    def progress(fraction: float, _name: str) -> None:
        seen.append(fraction)
        stop.set()

    with pytest.raises(Stopped):
        explain(subject, "kernel_shap", NO_CLOCK, progress=progress, stop=stop)
    assert seen and subject.score.stop is None
    assert subject.score.stats.evaluated <= 2 * subject.score.batch_size  # it ended at the next batch
