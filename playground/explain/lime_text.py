"""LIME (Ribeiro et al., 2016) over the units, with the lime package's own pieces: the
neighbourhood is drawn as ``LimeTextExplainer`` draws it (a uniform number of units removed, then
which ones), weighted by its cosine kernel (width 25), and fitted by ``LimeBase`` with its Ridge
surrogate. Every sample goes through the task's batched scorer once, and the same samples serve
every target. The seed is fixed, so the same input gives the same explanation (lime #119, #231,
#683).

The budget converges (:mod:`.budgets`): the neighbourhood is drawn once for the cap, and growing
prefixes of it are scored and fitted until two successive fits rank the units alike.
``convergence`` says how well the surrogate fits, how far the ranking moved between the last
two stages, and how far it moves between two independent halves of the samples (the samples
are independent draws, so this seed-to-seed stability costs no model row)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .base import SEED, Method, Option, Subject
from .budgets import CONVERGE, MAX_SECONDS, Policy, agreement, expected_budget, fits_in_time, report, run_stages, schedule

# LIME's fits are noisy (its 5,000-sample ranking of a 51-word review agrees with another seed's at
# Spearman 0.86): at 24 samples a word its ranking of a 29-word review still agreed with its own
# 5,000-sample ranking at only 0.91, at 48 at 0.92-0.98 (bench/convergence.py). Successive stages
# share their first half, so they must agree well above the bench's 0.9, and two independent
# halves of the samples must agree too.
POLICY = Policy(per_unit=48, threshold=0.95, seed_threshold=0.8)


def neighbourhood(n_units: int, n_samples: int, seed: int) -> np.ndarray:
    """LimeTextExplainer's sampling: row 0 keeps everything, each other row removes a uniform
    number (1..n) of distinct units. Prefix-stable: the first k rows are the same whatever
    ``n_samples`` is, so a budget's samples are the start of a larger budget's."""
    sizes = np.random.RandomState(seed).randint(1, n_units + 1, max(0, n_samples - 1))
    # Which units go: the ``size`` units with the smallest random keys (a uniform subset), from
    # a second stream so that neither stream's position depends on ``n_samples``.
    keys = np.random.RandomState([seed, 1]).random_sample((max(0, n_samples - 1), n_units))
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    data = np.ones((n_samples, n_units), dtype=bool)
    data[1:] = ranks >= sizes[:, None]
    return data


def fit(data: np.ndarray, values: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """LimeBase's weighted Ridge fit of ``values`` (one target) on ``data`` (row 0: the input
    itself): (weights, R^2)."""
    import sklearn.metrics
    from lime.lime_base import LimeBase
    from sklearn.linear_model import Ridge

    distances = sklearn.metrics.pairwise_distances(data.astype(float), data[:1].astype(float), metric="cosine").ravel() * 100

    def kernel(d: np.ndarray) -> np.ndarray:
        return np.sqrt(np.exp(-(d**2) / 25**2))

    base = LimeBase(kernel, verbose=False, random_state=np.random.RandomState(seed))
    labels = values.reshape(-1, 1)
    _, pairs, r2, _ = base.explain_instance_with_data(
        data.astype(float), labels, distances, 0, data.shape[1], feature_selection="none",
        model_regressor=Ridge(alpha=1.0, fit_intercept=True, random_state=seed),
    )
    weights = np.zeros(data.shape[1])
    for j, w in pairs:
        weights[j] = w
    return weights, float(r2)


def fit_all(data: np.ndarray, values: np.ndarray, seed: int) -> tuple[np.ndarray, list[float]]:
    """One fit per target column of ``values``: (targets x units weights, each fit's R^2)."""
    fits = [fit(data, values[:, k], seed) for k in range(values.shape[1])]
    return np.array([w for w, _ in fits]).reshape(values.shape[1], data.shape[1]), [r2 for _, r2 in fits]


class Lime(Method):
    name = "lime"
    needs = "scorer"
    options = (Option("lime_samples", default=5000, minimum=20, maximum=10000, label="opt_lime_samples"), SEED,
               CONVERGE, MAX_SECONDS)
    summary = "weighted linear fit of the model's output on random word removals"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        n = len(subject.units)
        budget = expected_budget(n, opts["lime_samples"], opts, POLICY, subject.score)
        return min(budget, 2**n) if n < 31 else budget  # distinct masks only: few units repeat

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        score = subject.score
        assert score is not None
        n = len(subject.units)
        seed = opts["seed"]
        before = score.stats.evaluated
        data = neighbourhood(n, opts["lime_samples"], seed)
        r2: dict[int, list[float]] = {}

        def stage(budget: int) -> np.ndarray:
            values = score(data[:budget])[:, targets]  # only the rows past the last stage run
            weights, r2[budget] = fit_all(data[:budget], values, seed)
            return weights

        def halves(budget: int) -> float:
            """Fits on two disjoint halves of the budget's samples (independent draws: two
            seeds' worth at half the budget, for free), each with the input itself as row 0,
            which the kernel measures distances from."""
            half = budget // 2
            if half < 2:
                return 1.0
            values = score(data[:budget])[:, targets]  # all cached
            second = np.concatenate([[0], np.arange(half, budget)])
            return agreement(fit_all(data[:half], values[:half], seed)[0], fit_all(data[second], values[second], seed)[0])

        adaptive = bool(opts["converge"])
        outcome = run_stages(stage, schedule(n, opts["lime_samples"], adaptive, POLICY, fits=fits_in_time(score, opts)), opts["max_seconds"], adaptive,
                             POLICY, halves=halves)
        final = outcome.last.budget
        convergence = report(outcome, final, halves(final), fit_r2=min(r2[final]) if r2[final] else 0.0)
        return outcome.last.matrix, score.stats.evaluated - before, convergence, {"samples": int(final)}
