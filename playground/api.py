"""The app's actions as plain functions returning JSON-serialisable dicts. The Gradio endpoints
(``/sentiment``, ``/sentiment_explain``, ...) are thin wrappers around these; import them from
``playground`` to use the app without a browser or gradio."""

from __future__ import annotations

from typing import Any

from .explain import METHODS, Progress, explain
from .tasks import sentiment as _sentiment


def sentiment(text: str) -> dict[str, Any]:
    """``{"label": str, "scores": {label: probability}, "model": str, "truncated": bool}``."""
    return _sentiment.predict(text)


def sentiment_explain(
    text: str,
    method: str = "integrated_gradients",
    target: str = "predicted",
    ig_steps: int | None = None,
    lime_samples: int | None = None,
    shap_evals: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Explain the sentiment of ``text`` with one method (``attention``,
    ``integrated_gradients``, ``lime``, ``shap``). Budgets left as None take the method's
    default; every budget is clamped to its bounds on the server. Returns ``{"method",
    "target", "tokens": [{"text", "start", "end"}], "scores": [one per token], "evaluations",
    "seconds", ...}``."""
    subject = _sentiment.subject(text, target=target)
    opts = {k: v for k, v in dict(ig_steps=ig_steps, lime_samples=lime_samples, shap_evals=shap_evals, seed=seed).items() if v is not None}
    return explain(subject, method, opts, progress).to_dict()


def sentiment_explain_all(text: str, target: str = "predicted", **options: Any) -> dict[str, Any]:
    """Every method on one input; the methods share one scorer, so a perturbation that two of
    them ask for is computed once. Returns ``{"explanations": {method: result}}``."""
    subject = _sentiment.subject(text, target=target)
    return {"explanations": {name: explain(subject, name, options).to_dict() for name in METHODS}}


def warm_up() -> None:
    """Run every method once on a short text with the smallest budgets (start-up, in the
    background): loads the model, compiles shap's numba code, fills caches."""
    import logging

    try:
        sentiment_explain_all("a warm up", ig_steps=4, lime_samples=20, shap_evals=20)
    except Exception:  # noqa: BLE001 - a failed warm-up must not stop the app; the tab says why
        logging.getLogger(__name__).warning("warm-up failed", exc_info=True)
