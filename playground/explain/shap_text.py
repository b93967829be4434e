"""SHAP (Lundberg & Lee, 2017) with shap's Partition explainer (Owen values over a hierarchy of
contiguous units: shap's own text clustering of the words, the tree ``shap.maskers.Text``
builds), on the task's batched scorer over keep-masks (never a pipeline, which runs one text at
a time). One budget (``shap_evals``) serves every target. One unit: its exact Shapley value."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .base import SEED, Method, Option, Subject


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
    options = (Option("shap_evals", default=300, minimum=20, maximum=5000, label="opt_shap_evals"), SEED)
    summary = "Owen values over a hierarchy of contiguous words (shap's Partition explainer)"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        return 2 if len(subject.units) == 1 else opts["shap_evals"]

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        import shap

        score = subject.score
        assert score is not None
        n = len(subject.units)
        before = score.stats.evaluated
        if n == 1:
            full, empty = score(np.array([[True], [False]]))[:, targets]
            return (full - empty).reshape(-1, 1), score.stats.evaluated - before, {"exact": True}, {}

        def f(x: np.ndarray) -> np.ndarray:
            return score(np.asarray(x) > 0.5)[:, targets]

        masker = shap.maskers.Partition(np.zeros((1, n)), clustering=clustering(subject))
        explainer = shap.Explainer(f, masker, algorithm="partition")
        # shap breaks ties in its coalition queue with numpy's global RNG: seed it for this call
        # (and put it back) so the same input gives the same explanation.
        state = np.random.get_state()
        np.random.seed(opts["seed"])
        try:
            values = explainer(np.ones((1, n)), max_evals=opts["shap_evals"], batch_size=score.batch_size, silent=True)
        finally:
            np.random.set_state(state)
        matrix = np.asarray(values.values[0], dtype=float).reshape(n, len(targets)).T
        base = np.asarray(values.base_values, dtype=float).reshape(-1)
        # Owen values add up exactly: row sum = f(input) - f(nothing).
        return matrix, score.stats.evaluated - before, {"exact": False}, {"base_values": [float(v) for v in base]}
