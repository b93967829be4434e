"""ZeroGPU (Hugging Face Spaces): every handler that runs a model is decorated with
``@spaces.GPU``, which holds a GPU only while it runs (elsewhere the decorator returns the
function unchanged). A GPU call runs in a fork of the app: models are loaded, and GGUF
conversions done, before the first call (app.py), and Stop reaches the fork through
:class:`playground.ui.common.StopSignal`'s flag file."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from ..explain import METHODS, is_sampled
from ..memory import released
from .common import ANSWER, EXPLAIN, GENERATE, PREDICT, QUICK, STREAM

_F = TypeVar("_F", bound=Callable[..., Any])

# Seconds a GPU is asked for, per concurrency group; an explanation's is sized by its work.
SECONDS = {PREDICT: 20, QUICK: 20, ANSWER: 60, STREAM: 60, GENERATE: 60}
MAX_SECONDS = 300  # ZeroGPU turns longer requests away (and they cost the visitor's quota)
NON_SAMPLED_SECONDS = 10  # attention, gradients, feature ablation on these models on a GPU
METRIC_SECONDS = 10  # each explanation's faithfulness rows


def on_zero_gpu() -> bool:
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "true")


def explanation_seconds(methods: list[str], options: dict[str, Any]) -> int:
    """A GPU duration that covers the methods' planned work: a sampled method (LIME, SHAP,
    KernelSHAP) stops converging at its ``max_seconds`` (the time cap every converging budget
    has), the others run a fixed number of rows; each adds its faithfulness rows."""
    total = 0.0
    for name in methods:
        method = METHODS.get(name)
        if method is None:
            continue
        cap = float(options.get("max_seconds") or 20) if is_sampled(method) else NON_SAMPLED_SECONDS
        total += cap + METRIC_SECONDS
    return int(min(MAX_SECONDS, max(SECONDS[GENERATE], total)))


def gpu(fn: _F, group: str, duration: Callable[..., int] | None = None) -> _F:
    """``fn`` as a ZeroGPU call of its group's duration (or ``duration(*same arguments)``);
    off ZeroGPU (or without ``spaces``), ``fn`` itself. Either way, what the call freed goes
    back to the system when it ends (``memory.released``: a worker thread's malloc arena
    otherwise keeps its high-water mark)."""
    fn = released(fn)
    if not on_zero_gpu():
        return fn
    import spaces

    if group == EXPLAIN and duration is None:
        raise ValueError("an explanation's GPU time is sized by its work: pass duration")
    return spaces.GPU(fn, duration=duration or SECONDS[group])


__all__ = ["MAX_SECONDS", "SECONDS", "explanation_seconds", "gpu", "on_zero_gpu"]
