"""Gradient x input (Shrikumar et al., 2016; Denil et al., 2014) at the input embedding layer:
the gradient of the target at the input, times the input embedding, summed over the hidden size
and over a word's pieces. One forward + one backward per target: the cheapest gradient method,
and a local one (it reads the slope at the input only; IG follows the whole path)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from . import gradients
from .base import Method, Subject


class GradientXInput(Method):
    name = "gradient_x_input"
    needs = "gradients"
    summary = "gradient of the target at the input times the input embedding"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        return 1

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        view = subject.gradient
        assert view is not None
        per_position, rows = gradients.integrate(view, targets, [1.0], [1.0], stop, times_input=True)
        return gradients.pool(per_position, view.position_unit, len(subject.units)), rows, {}, {}
