"""Integrated Gradients (Sundararajan et al., 2017) at the input embedding layer.

The path runs from a baseline (every explained word's pieces replaced by a pad / unk token;
special tokens, template text and generated text kept) to the input, on Captum's Gauss-Legendre
points. Explaining one target costs ``ig_steps`` forward + backward rows; the whole targets x
words matrix costs the same forwards plus one backward per target (:mod:`.gradients`).
Completeness: each row sums to f(input) - f(baseline); the gap (``convergence.delta``) says
whether there were enough steps.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from . import gradients
from .base import Method, Option, Subject


class IntegratedGradients(Method):
    name = "integrated_gradients"
    needs = "gradients"
    options = (Option("ig_steps", default=16, minimum=4, maximum=256, label="opt_ig_steps"),)
    summary = "path integral of the gradient from a pad/unk baseline to the input (Captum's points)"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        return opts["ig_steps"] + 2  # + the input and the baseline, for completeness

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        view = subject.gradient
        assert view is not None
        alphas, weights = gradients.path_points(opts["ig_steps"])
        per_position, rows = gradients.integrate(view, targets, alphas, weights, stop, subject.notes.get("on_rows"))
        ends = gradients.values_at(view, [0.0, 1.0])  # f(baseline), f(input)
        gap = ends[1, targets] - ends[0, targets]
        matrix = gradients.pool(per_position, view.position_unit, len(subject.units))
        # Positions outside the explained units hold no difference from the baseline, so the
        # pooled rows keep the whole sum.
        delta = np.abs(per_position.sum(axis=1) - gap)
        convergence = {
            "delta": float(delta.max()) if len(delta) else 0.0,
            "relative_delta": float((delta / np.maximum(np.abs(gap), 1e-9)).max()) if len(delta) else 0.0,
            "f_input_minus_baseline": [float(v) for v in gap],
        }
        return matrix, rows + 2, convergence, {"baseline": view.baseline}
