"""What the endpoints of :mod:`playground.api` share: their common docstring lines, the
budget options, one-or-several methods on a Subject, and the start-up warm-up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from .explain import explain, explain_all
from .explain.base import Subject

_F = TypeVar("_F", bound=Callable[..., Any])

# Argument lines that several endpoints share, written once: ``{name}`` in a docstring is
# replaced by the line (gradio reads ``__doc__`` when it registers an endpoint, so the API page
# and the MCP tool schemas show the whole text).
_ARGS = {
    "methods_arg": "methods: comma-separated method names (\"\" for every method).",
    "method_arg": "method: attention, gradient_x_input, integrated_gradients, feature_ablation, lime, shap or kernel_shap.",
    "units_arg": "units: \"auto\" (sentences for long inputs), \"word\" or \"sentence\".",
    "budget_args": "\n        ".join((
        "ig_steps: Integrated Gradients' steps (4-256).",
        "lime_samples: LIME's sample cap (20-10000; it stops earlier once its ranking settles).",
        "shap_evals: SHAP's evaluation cap (20-10000; likewise).",
        "seed: the sampling methods' seed.",
        "kernel_shap_samples: KernelSHAP's coalition cap (20-10000; likewise).")),
    "explanation": "The explanation schema (see the module docstring)",
    "all_returns": "``{\"explanations\": {method: explanation}, \"agreement\", \"result\"}``.",
}


def documented(fn: _F) -> _F:
    """Fill the shared lines (``{budget_args}``, ...) into ``fn``'s docstring."""
    fn.__doc__ = (fn.__doc__ or "").format(**_ARGS)
    return fn


def budgets(ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
            kernel_shap_samples: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """The budget options an endpoint was given (None: the method's default)."""
    given = dict(ig_steps=ig_steps, lime_samples=lime_samples, shap_evals=shap_evals,
                 kernel_shap_samples=kernel_shap_samples, seed=seed)
    return {k: v for k, v in given.items() if v is not None}


def explained(subject: Subject, methods: list[str] | None, single: str | None, opts: dict[str, Any], target: object,
              units: str) -> dict[str, Any]:
    """One method (``single``) as the explanation schema, or several (``methods``) with agreement."""
    if single is not None:
        return explain(subject, single, opts, target=target, units=units).to_dict()
    return explain_all(subject, methods, opts, target=target, units=units)


def warm_up() -> None:
    """Run every method once on a short text with the smallest budgets (start-up, in the
    background): loads the model, compiles shap's numba code, fills caches."""
    from .tasks import sentiment

    try:
        explain_all(sentiment.subject("a warm up for the methods"), None,
                    budgets(ig_steps=4, lime_samples=20, shap_evals=20, kernel_shap_samples=20))
    except Exception:  # noqa: BLE001 - a failed warm-up must not stop the app; the tab says why
        logging.getLogger(__name__).warning("warm-up failed", exc_info=True)
