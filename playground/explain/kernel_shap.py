"""KernelSHAP (Lundberg & Lee, 2017) with shap's ``KernelExplainer``: a weighted linear fit on
coalitions drawn by the Shapley kernel, against a background where every unit is removed; all
targets from the same coalitions. No hierarchy (the Partition explainer, ``shap``, assumes that
neighbouring words act together; this one does not).

The budget converges (:mod:`.budgets`) by independent runs: a stage of budget B is the mean of
B / b runs of ``nsamples=b`` (each with its own seed), and the next stage doubles the runs. The
explainer's draws at one ``nsamples`` are not a prefix of its draws at another, so rerunning it at
a doubled budget would pay for every stage again; runs of one size add up instead (and the
coalitions every run enumerates, all single words and their complements, come from the scorer's
cache). Seed-to-seed stability is then free: the mean of the first half of the runs against the
mean of the second half (two independent results at half the final budget). ``converge=0``: one
run at exactly the budget. When the budget covers all 2**n - 2 coalitions the values are exact:
one run."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .base import SEED, Method, Option, Subject
from .budgets import (
    CONVERGE,
    MAX_SECONDS,
    Outcome,
    Policy,
    Stage,
    agreement,
    expected_budget,
    fits_in_time,
    report,
    run_stages,
    schedule,
    start_budget,
)
from .shap_text import on_masks, one_unit

# The stages are nested (each keeps the runs of the one before) like LIME's prefixes, and the
# runs are independent: settled when successive stages and the two halves of the runs agree. A
# run of 16 coalitions a word; a 51-word review needed about 64 a word for Spearman 0.9 against
# the 5,000-coalition result.
POLICY = Policy(per_unit=32, threshold=0.95, seed_threshold=0.8)


def covers_all(n: int, budget: int) -> bool:
    """The budget enumerates every coalition (besides nothing and everything): exact values."""
    return n < 31 and 2**n - 2 <= budget


def run_budgets(n: int, cap: int, fits: int | None = None) -> tuple[int, list[int]]:
    """A converging run's budget per explainer run and its stages' budgets (1, 2, 4, ... runs,
    the last as many as the cap holds)."""
    per_run = schedule(n, cap, True, POLICY, fits=fits)[0]
    budgets = [per_run]
    while 2 * budgets[-1] <= cap:
        budgets.append(2 * budgets[-1])
    if budgets[-1] + per_run <= cap:
        budgets.append(cap // per_run * per_run)
    if len(budgets) == 1:  # a cap below two runs: two runs of half of it
        per_run = max(2, cap // 2)
        budgets = [per_run, 2 * per_run]
    return per_run, budgets


def run_seed(seed: int, i: int) -> int:
    """Run i's seed: the seed itself for the first run (what ``converge=0`` uses), then one
    derived from (seed, i), so two seeds never share a run."""
    return seed if i == 0 else int(np.random.SeedSequence([seed, i]).generate_state(1)[0])


class KernelShap(Method):
    name = "kernel_shap"
    needs = "scorer"
    options = (Option("kernel_shap_samples", default=5000, minimum=20, maximum=10000, label="opt_kernel_shap_samples"),
               SEED, CONVERGE, MAX_SECONDS)
    summary = "Shapley values estimated by a kernel-weighted linear fit on random coalitions"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        n = len(subject.units)
        cap = opts["kernel_shap_samples"]
        # The coalitions, the background (every unit removed) and the input itself.
        if n == 1:
            return 2
        adaptive = bool(opts["converge"])
        if covers_all(n, start_budget(n, cap, POLICY) if adaptive else cap):
            return 2**n - 2 + 2
        if not adaptive:
            return cap + 2
        # Converging: the expected stopping budget in whole runs; fewer rows when the runs'
        # coalitions repeat (few units).
        per_run, _ = run_budgets(n, cap, fits_in_time(subject.score, opts))
        planned = max(per_run, expected_budget(n, cap, opts, POLICY, subject.score) // per_run * per_run)
        return min(planned, 2**n - 2) + 2 if n < 31 else planned + 2

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        import shap

        score = subject.score
        assert score is not None
        n = len(subject.units)
        before = score.stats.evaluated
        if n == 1:
            return one_unit(score, targets), score.stats.evaluated - before, report(None, 2, None, exact=True), {}
        explainer = shap.KernelExplainer(on_masks(score, targets), np.zeros((1, n)))

        def kernel(budget: int, seed: int) -> np.ndarray:
            state = np.random.get_state()
            np.random.seed(seed)  # KernelExplainer draws its coalitions from numpy's global RNG
            try:
                values = explainer.shap_values(np.ones((1, n)), nsamples=budget, silent=True, l1_reg=False)
            finally:
                np.random.set_state(state)
            return np.asarray(values, dtype=float).reshape(n, len(targets)).T

        cap = opts["kernel_shap_samples"]
        seed = opts["seed"]
        adaptive = bool(opts["converge"])
        if covers_all(n, start_budget(n, cap, POLICY) if adaptive else cap):
            # Every coalition costs no more than sampling would: one exact run, nothing to converge.
            matrix = kernel(2**n - 2, seed)
            return matrix, score.stats.evaluated - before, report(None, 2**n - 2, None, exact=True), {}
        if not adaptive:
            matrix = kernel(cap, seed)
            once = Outcome([Stage(cap, matrix)], "budget", POLICY)
            return matrix, score.stats.evaluated - before, report(once, cap, None), {}

        per_run, budgets = run_budgets(n, cap, fits_in_time(score, opts))
        runs: list[np.ndarray] = []

        def stage(budget: int) -> np.ndarray:
            while len(runs) < budget // per_run:
                runs.append(kernel(per_run, run_seed(seed, len(runs))))
            return np.mean(runs[: budget // per_run], axis=0)

        def halves(budget: int) -> float:
            """The mean of the first half of the runs against the mean of the second half."""
            m = budget // per_run // 2
            return agreement(np.mean(runs[:m], axis=0), np.mean(runs[m : 2 * m], axis=0)) if m else 1.0

        outcome = run_stages(stage, budgets, opts["max_seconds"], True, POLICY, halves=halves, granule=per_run)
        final = outcome.last.budget
        return (outcome.last.matrix, score.stats.evaluated - before, report(outcome, final, halves(final)),
                {"runs": final // per_run})
