"""The explanation methods, by name. Adding a method is one module and one entry here."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ..errors import InputError
from .attention import Attention
from .base import Explanation, Method, Option, Progress, Subject
from .integrated_gradients import IntegratedGradients
from .lime_text import Lime
from .shap_text import Shap

METHODS: dict[str, Method] = {m.name: m for m in (Attention(), IntegratedGradients(), Lime(), Shap())}

__all__ = ["METHODS", "Explanation", "Method", "Option", "Subject", "explain", "get_method"]


def get_method(name: str) -> Method:
    method = METHODS.get(str(name).strip().lower())
    if method is None:
        raise InputError(
            "bad_method", "Unknown method '{name}'. Choose one of: {names}.", name=str(name)[:40], names=", ".join(METHODS)
        )
    return method


def explain(
    subject: Subject,
    method: str,
    options: dict[str, object] | None = None,
    progress: Progress | None = None,
) -> Explanation:
    """Run one method on ``subject``. Options are clamped to the method's bounds; ``progress``
    gets (fraction, message) as the batched scorer works through its rows."""
    m = get_method(method)
    if not m.supports(subject):
        raise InputError("method_unsupported", "The method '{name}' does not support this task.", name=m.name)
    opts = m.resolve(options)
    planned = max(1, m.evaluations(subject, opts))
    report: Callable[[int, int], None] | None = None
    if progress is not None:
        def report(done: int, total: int) -> None:
            progress(min(1.0, done / max(total, 1)), m.name)
    subject.scorer.progress = report
    started = time.perf_counter()
    try:
        scores, evaluations, extras = m.run(subject, opts, progress)
    finally:
        subject.scorer.progress = None
    seconds = time.perf_counter() - started
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    extras = {"planned_evaluations": planned, **extras}
    return Explanation(
        method=m.name,
        task=subject.task,
        target=subject.target_label,
        target_index=subject.target_index,
        tokens=list(subject.words),
        scores=scores.tolist(),
        evaluations=int(evaluations),
        seconds=seconds,
        model=subject.model_name,
        options=opts,
        truncated=subject.truncated,
        extras=extras,
        text=subject.text,
    )
