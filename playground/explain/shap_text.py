"""SHAP (Lundberg & Lee, 2017) with shap's Partition explainer (Owen values over a hierarchy of
contiguous units: shap's own text clustering of the words, the tree ``shap.maskers.Text``
builds), on the task's batched scorer over keep-masks (never a pipeline, which runs one text at
a time). One budget (``shap_evals``) serves every target. One unit: its exact Shapley value."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .base import SEED, MaskScorer, Method, Option, Subject


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
            return one_unit(score, targets), score.stats.evaluated - before, {"exact": True}, {}
        masker = shap.maskers.Partition(np.zeros((1, n)), clustering=clustering(subject))
        explainer = shap.Explainer(on_masks(score, targets), masker, algorithm="partition")
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
