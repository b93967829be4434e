"""SHAP (Lundberg & Lee, 2017) with shap's Partition explainer (Owen values over a hierarchy of
contiguous units: shap's own text clustering of the words, the tree ``shap.maskers.Text``
builds), on the task's batched scorer over keep-masks (never a pipeline, which runs one text at
a time). One budget (``shap_evals``) serves every target. One unit: its exact Shapley value.

The budget converges (:mod:`.budgets`): the explainer reruns at doubled ``max_evals`` until two
successive results rank the units alike. It expands its tree in the same order whatever the
budget, so a smaller budget's coalitions are a prefix of a larger one's and each stage runs
only the new ones (the scorer's cache). When the whole tree fits in a budget the Owen values are
exact and the run stops there. Seed-to-seed stability: the last stage but one rerun with the next
seed (shap's seed only breaks ties between equally promising nodes, so this is nearly free and
nearly always 1)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .base import SEED, MaskScorer, Method, Option, Subject
from .budgets import CONVERGE, MAX_SECONDS, Policy, agreement, expected_budget, fits_in_time, report, run_stages, schedule

# Partition's stages are nested (the same tree, expanded further), and its ranking settles early:
# the tree of a 29-word review is whole, and its Owen values exact, at about 26 evaluations a word.
POLICY = Policy(per_unit=16, threshold=0.95)


def on_masks(score: MaskScorer, targets: list[int]) -> Callable[[np.ndarray], np.ndarray]:
    """The scorer as shap calls a model: float 0/1 coalition rows -> the explained targets."""
    return lambda x: score(np.asarray(x) > 0.5)[:, targets]


def one_unit(score: MaskScorer, targets: list[int]) -> np.ndarray:
    """With one player the Shapley value is exactly f(unit) - f(nothing): two rows, and no
    sampling (shap's text clustering fails on a single feature)."""
    full, empty = score(np.array([[True], [False]]))[:, targets]
    return (full - empty).reshape(-1, 1)


def clustering(subject: Subject) -> np.ndarray:
    """shap's text partition tree over the units' texts (adjacent units merge first)."""
    from shap.maskers._text import partition_tree

    texts = []
    for i, u in enumerate(subject.units):
        # partition_tree reads leading spaces as word starts: give every unit one after the first.
        texts.append(u.text if i == 0 else " " + u.text.strip())
    return partition_tree(texts, set())


class Shap(Method):
    name = "shap"
    needs = "scorer"
    options = (Option("shap_evals", default=5000, minimum=20, maximum=10000, label="opt_shap_evals"), SEED, CONVERGE,
               MAX_SECONDS)
    summary = "Owen values over a hierarchy of contiguous words (shap's Partition explainer)"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        n = len(subject.units)
        if n == 1:
            return 2
        budget = expected_budget(n, opts["shap_evals"], opts, POLICY, subject.score)
        return min(budget, n * (n - 1) + 2)  # about where the tree is whole (exact values)

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        import shap

        score = subject.score
        assert score is not None
        n = len(subject.units)
        before = score.stats.evaluated
        if n == 1:
            return (one_unit(score, targets), score.stats.evaluated - before,
                    report(None, 2, None, exact=True), {})
        masker = shap.maskers.Partition(np.zeros((1, n)), clustering=clustering(subject))
        explainer = shap.Explainer(on_masks(score, targets), masker, algorithm="partition")
        whole: dict[int, bool] = {}
        used: dict[int, int] = {}
        base: list[float] = []

        def partition(budget: int, seed: int) -> np.ndarray:
            # shap breaks ties in its coalition queue with numpy's global RNG: seed it for this
            # call (and put it back) so the same input gives the same explanation.
            state = np.random.get_state()
            np.random.seed(seed)
            try:
                values = explainer(np.ones((1, n)), max_evals=budget, batch_size=score.batch_size, silent=True)
            finally:
                np.random.set_state(state)
            # The queue ran dry before the budget: every node expanded, the Owen values exact.
            used[budget] = explainer.last_eval_count + 2  # + the input and the empty coalition
            whole[budget] = used[budget] < budget
            base[:] = [float(v) for v in np.asarray(values.base_values, dtype=float).reshape(-1)]
            return np.asarray(values.values[0], dtype=float).reshape(n, len(targets)).T

        adaptive = bool(opts["converge"])
        seed = opts["seed"]
        outcome = run_stages(lambda b: partition(b, seed), schedule(n, opts["shap_evals"], adaptive, POLICY, fits=fits_in_time(score, opts)),
                             opts["max_seconds"], adaptive, POLICY, exact=lambda b: whole[b])
        final = outcome.last
        seed_spearman = None
        if adaptive and outcome.stopped_by != "exact" and outcome.previous is not None:
            seed_spearman = agreement(outcome.previous.matrix, partition(outcome.previous.budget, seed + 1))
        # Owen values add up exactly: row sum = f(input) - f(nothing).
        return (final.matrix, score.stats.evaluated - before,
                report(outcome, min(final.budget, used[final.budget]), seed_spearman), {"base_values": base})
