"""How far to trust an explanation: the faithfulness metrics on a model whose true attribution
is known (a scorer that depends only on which words are present), agreement, stability, and on
every (task, method) pair of the tiny models: finite metrics, shared random orders, a method
agreeing with itself."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_contract import BUILDERS, SMALL  # the same nine Subjects as the contract test

from playground.explain import METHODS, Subject, Target, Unit, agreement_of, explain
from playground.explain import faithfulness as faith
from playground.explain.agreement import agreement
from playground.explain.base import MaskScorer

WEIGHTS = np.array([3.0, -1.0, 0.0, 5.0, 0.5, 2.0, -2.0, 1.0, 0.0, 4.0, 0.2, -0.5, 1.5, 0.0, 2.5])


def known_subject(weights: np.ndarray = WEIGHTS) -> Subject:
    """A "model" whose value is the sum of the weights of the words present (and a second
    target, its negative): the true attribution of word j is weights[j]."""
    n = len(weights)
    text = " ".join(f"w{j}" for j in range(n))
    units, at = [], 0
    for j in range(n):
        word = f"w{j}"
        units.append(Unit(word, at, at + len(word)))
        at += len(word) + 1

    def batch(masks: np.ndarray) -> np.ndarray:
        v = masks.astype(float) @ weights
        return np.stack([v, -v], axis=1)

    score = MaskScorer(batch, n, 2, batch_size=16, removal=("removal_delete", {}))
    return Subject(task="toy", model="sum-of-weights", units=units, targets=[Target("sum", "sum"), Target("neg", "neg")],
                   score=score, texts={"text": text})


def metrics_of(scores: np.ndarray, target: int = 0) -> dict:
    s = known_subject()
    return faith.faithfulness(s.score, scores.reshape(1, -1), [target], ["sum"])["rows"][0]


def test_true_attribution_beats_random_and_its_reverse() -> None:
    true = metrics_of(WEIGHTS)
    reverse = metrics_of(-WEIGHTS)
    noise = metrics_of(np.random.default_rng(3).normal(size=len(WEIGHTS)))
    assert true["comprehensiveness"]["vs_random"] > 0 and true["sufficiency"]["vs_random"] > 0
    assert true["deletion"]["vs_random"] > 0 and true["insertion"]["vs_random"] > 0
    assert reverse["comprehensiveness"]["vs_random"] < 0 and reverse["sufficiency"]["vs_random"] < 0
    for other in (reverse, noise):
        assert true["comprehensiveness"]["aopc"] > other["comprehensiveness"]["aopc"]
        assert true["sufficiency"]["aopc"] < other["sufficiency"]["aopc"]
        assert true["deletion"]["auc"] < other["deletion"]["auc"]
        assert true["insertion"]["auc"] > other["insertion"]["auc"]
    # The random baseline does not depend on the explanation.
    assert true["comprehensiveness"]["random_aopc"] == reverse["comprehensiveness"]["random_aopc"]


def test_comprehensiveness_and_sufficiency_by_hand() -> None:
    n = len(WEIGHTS)
    got = metrics_of(WEIGHTS)
    order = np.argsort(-WEIGHTS, kind="stable")
    full = WEIGHTS.sum()
    comp, suff = {}, {}
    for k in faith.KS:
        m = min(n, max(1, math.ceil(k * n / 100)))
        comp[k] = full - (full - WEIGHTS[order[:m]].sum())  # the top m words taken out
        suff[k] = full - WEIGHTS[order[:m]].sum()  # only the top m words kept
        assert got["comprehensiveness"]["per_k"][str(k)] == pytest.approx(comp[k])
        assert got["sufficiency"]["per_k"][str(k)] == pytest.approx(suff[k])
    assert got["comprehensiveness"]["aopc"] == pytest.approx(np.mean(list(comp.values())))
    assert got["sufficiency"]["aopc"] == pytest.approx(np.mean(list(suff.values())))
    assert got["effect"] == pytest.approx(full)
    curves = got["curves"]
    assert curves["deletion"][0] == pytest.approx(full) and curves["deletion"][-1] == pytest.approx(0.0)
    assert curves["insertion"][0] == pytest.approx(0.0) and curves["insertion"][-1] == pytest.approx(full)
    assert curves["fractions"][0] == 0.0 and curves["fractions"][-1] == 1.0


def test_random_baseline_is_the_mean_of_the_random_orders() -> None:
    n = len(WEIGHTS)
    got = metrics_of(WEIGHTS)
    counts = faith.curve_counts(n)
    full = WEIGHTS.sum()
    want = np.mean([[full - WEIGHTS[o[:m]].sum() for m in counts] for o in faith.random_orders(n)], axis=0)
    np.testing.assert_allclose(got["curves"]["random_deletion"], want, atol=1e-6)


def test_each_target_row_is_measured_on_its_own_target() -> None:
    s = known_subject()
    both = faith.faithfulness(s.score, np.stack([WEIGHTS, -WEIGHTS]), [0, 1], ["sum", "neg"])
    # -WEIGHTS is the true attribution of the negated target.
    for row in both["rows"]:
        assert row["comprehensiveness"]["vs_random"] > 0, row["target"]
    assert both["rows"][1]["effect"] == pytest.approx(-WEIGHTS.sum())


def test_a_full_matrix_costs_a_few_rows_per_extra_target() -> None:
    """Every output word explained: the first target gets whole curves, each further target two
    curves on the k % points; the random orders are scored once for all of them."""
    s = known_subject()
    n = len(WEIGHTS)
    one = faith.faithfulness(s.score, WEIGHTS.reshape(1, -1), [0], ["sum"])
    s2 = known_subject()
    two = faith.faithfulness(s2.score, np.stack([WEIGHTS, -WEIGHTS]), [0, 1], ["sum", "neg"])
    coarse = len({0, n, *faith.k_counts(n).values()})
    assert two["evaluations"] - one["evaluations"] <= 2 * (coarse - 2)
    assert faith.planned_rows(known_subject().score, 2) >= two["evaluations"]


def test_metrics_reuse_the_scorers_cache() -> None:
    s = known_subject()
    first = faith.faithfulness(s.score, WEIGHTS.reshape(1, -1), [0], ["sum"])
    again = faith.faithfulness(s.score, WEIGHTS.reshape(1, -1), [0], ["sum"])
    assert first["evaluations"] > 0 and again["evaluations"] == 0
    # The random orders' masks are cached: what is left planned is the next explanation's own curves.
    assert faith.planned_rows(s.score, 1) == 2 * (len(faith.curve_counts(len(WEIGHTS))) - 2)
    other = faith.faithfulness(s.score, -WEIGHTS.reshape(1, -1), [0], ["sum"])
    assert 0 < other["evaluations"] < first["evaluations"]  # only its own order's masks are new


def test_curve_points_on_long_inputs() -> None:
    counts = faith.curve_counts(200)
    assert counts[0] == 0 and counts[-1] == 200 and len(counts) <= 10
    assert {50, 100, 150} <= set(counts)  # the quarters
    assert set(faith.k_counts(200).values()) <= set(counts)
    assert faith.curve_counts(5) == [0, 1, 2, 3, 4, 5]
    assert faith.curve_counts(13) == [0, 1, 2, 3, 4, 7, 10, 13]
    assert faith.k_counts(3) == {1: 1, 5: 1, 10: 1, 20: 1, 50: 2}


def test_every_method_on_the_known_model_through_the_engine() -> None:
    """Through explain(): the result carries its faithfulness and its removal; the scorer-based
    methods recover the true attribution, so they beat random."""
    s = known_subject()
    for method in ("feature_ablation", "lime", "kernel_shap", "shap"):
        d = explain(s, method, {"lime_samples": 400, "shap_evals": 400, "kernel_shap_samples": 400}).to_dict()
        f = d["faithfulness"]
        assert f["removal_key"] == "removal_delete" and f["rows"][0]["target"] == "sum"
        assert faith.better_than_random(f), method
        assert d["stability"]["kind"] == ("deterministic" if method == "feature_ablation" else "sampled")
    assert "faithfulness" not in explain(s, "feature_ablation", metrics=False).to_dict()


# ---- agreement ------------------------------------------------------------------------------


def test_agreement_of_a_method_with_itself_and_with_its_reverse() -> None:
    words = [f"w{j}" for j in range(len(WEIGHTS))]
    a = agreement({"x": [WEIGHTS], "y": [WEIGHTS * 2], "z": [-WEIGHTS]}, words, ["sum"])
    row = a["rows"][0]
    assert a["methods"] == ["x", "y", "z"] and a["top"] == 5
    assert np.diag(row["spearman"]).tolist() == [1.0, 1.0, 1.0]
    assert row["spearman"][0][1] == pytest.approx(1.0) and row["top_overlap"][0][1] == 1.0
    assert row["spearman"][0][2] == pytest.approx(-1.0) and row["top_overlap"][0][2] == 0.0
    assert row["top_words"]["x"] == ["w3", "w9", "w0", "w14", "w5"]
    pairs = {(d["a"], d["b"]) for d in row["disagreements"]}
    assert pairs == {("x", "z"), ("y", "z")}
    assert row["disagreements"][0]["top_a"] == "w3" and row["disagreements"][0]["top_b"] == "w6"


def test_agreement_on_few_words_compares_all_of_them() -> None:
    a = agreement({"x": [[1.0, 2.0]], "y": [[2.0, 1.0]]}, ["a", "b"], ["t"])
    assert a["top"] == 2 and a["rows"][0]["top_overlap"][0][1] == 1.0


# ---- every (task, method) on the tiny models --------------------------------------------------


@pytest.fixture(scope="module")
def subjects() -> dict:
    return {name: build() for name, build in BUILDERS.items()}


@pytest.mark.parametrize("task", list(BUILDERS))
def test_every_method_gets_finite_metrics_and_agrees_with_itself(subjects, task: str) -> None:
    s = subjects[task]
    results = {}
    for method in METHODS:
        d = json.loads(json.dumps(explain(s, method, SMALL, target="all").to_dict(), allow_nan=False))
        f = d["faithfulness"]
        assert [r["target"] for r in f["rows"]] == [t.label for t in s.targets]
        n = len(s.units)
        for i, r in enumerate(f["rows"]):
            for name in ("comprehensiveness", "sufficiency"):
                assert set(r[name]["per_k"]) == {str(k) for k in faith.KS}
                assert all(math.isfinite(v) for v in r[name]["per_k"].values())
            # The first target's curves on every point; the others' on the k % points.
            points = faith.curve_counts(n) if i == 0 else sorted({0, n, *faith.k_counts(n).values()})
            assert r["curves"]["fractions"] == [round(m / n, 6) for m in points]
            assert all(len(c) == len(points) for c in r["curves"].values())
        assert f["removal"] and f["evaluations"] >= 0
        assert d["stability"]["kind"] in ("sampled", "deterministic")
        results[method] = d
    a = agreement_of(results)
    assert a["methods"] == list(METHODS) and len(a["rows"]) == len(s.targets)
    for row in a["rows"]:
        m = np.array(row["spearman"])
        np.testing.assert_allclose(np.diag(m), 1.0)
        np.testing.assert_allclose(m, m.T)
        assert np.all(np.abs(m) <= 1 + 1e-9)
    # The random orders are the same for every method: the last methods' metrics ran only
    # their own orders' masks (the random ones were cached by the first).
    assert results["kernel_shap"]["faithfulness"]["evaluations"] < results["attention"]["faithfulness"]["evaluations"] + 1
