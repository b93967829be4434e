"""Feature ablation / leave-one-out (Zeiler & Fergus, 2014; Li et al., 2016), with Captum's
``FeatureAblation`` over the keep-mask of the units: each unit's score is f(input) - f(input
without that unit), for every target at once. n + 1 model rows, exact, no sampling."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .base import Method, Subject


class FeatureAblation(Method):
    name = "feature_ablation"
    needs = "scorer"
    summary = "f(input) - f(input without the word), one word at a time"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        return len(subject.units) + 1

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        import torch
        from captum.attr import FeatureAblation as CaptumFeatureAblation

        score = subject.score
        assert score is not None
        n = len(subject.units)
        before = score.stats.evaluated
        # Every row up front in full batches (Captum asks for them a few at a time); its calls
        # below are then answered from the scorer's cache.
        score(np.vstack([np.ones((1, n), dtype=bool), ~np.eye(n, dtype=bool)]))

        def forward(mask: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(score(mask.detach().cpu().numpy() > 0.5)[:, targets])

        fa = CaptumFeatureAblation(forward)
        ones = torch.ones((1, n), dtype=torch.float64)
        matrix = np.stack([
            fa.attribute(ones, baselines=0.0, target=k, perturbations_per_eval=n).detach().numpy()[0]
            for k in range(len(targets))
        ])
        return matrix, score.stats.evaluated - before, {}, {}
