"""KernelSHAP (Lundberg & Lee, 2017) with shap's ``KernelExplainer``: a weighted linear fit on
coalitions drawn by the Shapley kernel, against a background where every unit is removed; all
targets from the same coalitions. No hierarchy (the Partition explainer, ``shap``, assumes that
neighbouring words act together; this one does not)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .base import SEED, Method, Option, Subject
from .shap_text import on_masks, one_unit


class KernelShap(Method):
    name = "kernel_shap"
    needs = "scorer"
    options = (Option("kernel_shap_samples", default=300, minimum=20, maximum=5000, label="opt_kernel_shap_samples"), SEED)
    summary = "Shapley values estimated by a kernel-weighted linear fit on random coalitions"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        n = len(subject.units)
        # The coalitions (all 2**n - 2 when the budget covers them), the background (every unit
        # removed) and the input itself.
        return (min(opts["kernel_shap_samples"], 2**n - 2) if n < 31 else opts["kernel_shap_samples"]) + 2

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        import shap

        score = subject.score
        assert score is not None
        n = len(subject.units)
        before = score.stats.evaluated
        if n == 1:
            return one_unit(score, targets), score.stats.evaluated - before, {"exact": True}, {}
        explainer = shap.KernelExplainer(on_masks(score, targets), np.zeros((1, n)))
        state = np.random.get_state()
        np.random.seed(opts["seed"])  # KernelExplainer draws its coalitions from numpy's global RNG
        try:
            values = explainer.shap_values(np.ones((1, n)), nsamples=opts["kernel_shap_samples"], silent=True,
                                           l1_reg=False)
        finally:
            np.random.set_state(state)
        matrix = np.asarray(values, dtype=float).reshape(n, len(targets)).T
        exact = 2**n - 2 <= opts["kernel_shap_samples"] if n < 31 else False
        return matrix, score.stats.evaluated - before, {"exact": bool(exact)}, {}
