"""LIME (Ribeiro et al., 2016) over the units, with the lime package's own pieces: the
neighbourhood is drawn as ``LimeTextExplainer`` draws it (a uniform number of units removed, then
which ones), weighted by its cosine kernel (width 25), and fitted by ``LimeBase`` with its Ridge
surrogate. Every sample goes through the task's batched scorer once, and the same samples serve
every target. The seed is fixed, so the same input gives the same explanation (lime #119, #231,
#683); ``convergence`` says how well the surrogate fits and how far the ranking moves between the
first half of the samples and all of them."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .base import SEED, Method, Option, Subject
from .stats import spearman


def neighbourhood(n_units: int, n_samples: int, seed: int) -> np.ndarray:
    """LimeTextExplainer's sampling: row 0 keeps everything, each other row removes a uniform
    number (1..n) of distinct units."""
    rng = np.random.RandomState(seed)
    data = np.ones((n_samples, n_units), dtype=bool)
    sizes = rng.randint(1, n_units + 1, n_samples - 1)
    for i, size in enumerate(sizes, start=1):
        data[i, rng.choice(n_units, size, replace=False)] = False
    return data


def fit(data: np.ndarray, values: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """LimeBase's weighted Ridge fit of ``values`` (one target) on ``data``: (weights, R^2)."""
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


class Lime(Method):
    name = "lime"
    needs = "scorer"
    options = (Option("lime_samples", default=300, minimum=20, maximum=5000, label="opt_lime_samples"), SEED)
    summary = "weighted linear fit of the model's output on random word removals"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        n = len(subject.units)
        return min(opts["lime_samples"], 2**n) if n < 31 else opts["lime_samples"]

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        score = subject.score
        assert score is not None
        before = score.stats.evaluated
        data = neighbourhood(len(subject.units), opts["lime_samples"], opts["seed"])
        values = score(data)[:, targets]
        matrix, r2, moved = [], [], []
        half = max(2, len(data) // 2)
        for k in range(len(targets)):
            w, fit_r2 = fit(data, values[:, k], opts["seed"])
            matrix.append(w)
            r2.append(fit_r2)
            if len(subject.units) > 1:
                moved.append(spearman(fit(data[:half], values[:half, k], opts["seed"])[0], w))
        convergence = {"fit_r2": float(min(r2)) if r2 else 0.0,
                       "half_spearman": float(min(moved)) if moved else 1.0}
        return np.array(matrix), score.stats.evaluated - before, convergence, {"samples": int(len(data))}
