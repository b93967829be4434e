"""The explanation methods, by name, and :func:`explain`, which runs one on a task's Subject.

Adding a method is one module and one entry in :data:`METHODS` (and its label in
:mod:`playground.messages`): every task whose Subject offers what the method ``needs`` gets it,
in the API and in every tab.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import messages
from ..cache import BoundedCache
from ..errors import InputError
from . import faithfulness as faith
from .agreement import of_explanations as agreement_of
from .attention import Attention
from .base import ROW_SECONDS, Explanation, Method, Option, Progress, Stopped, Subject, Target, Unit
from .feature_ablation import FeatureAblation
from .gradient_x_input import GradientXInput
from .integrated_gradients import IntegratedGradients
from .kernel_shap import KernelShap
from .lime_text import Lime
from .shap_text import Shap
from .units import UNIT_CHOICES, with_units

METHODS: dict[str, Method] = {
    m.name: m
    for m in (Attention(), GradientXInput(), IntegratedGradients(), FeatureAblation(), Lime(), Shap(), KernelShap())
}

__all__ = ["METHODS", "RESULTS", "UNIT_CHOICES", "Explanation", "Method", "Option", "Stopped", "Subject", "Target", "Unit",
           "agreement_of", "all_options", "estimate_seconds", "explain", "explain_all", "get_method", "is_sampled",
           "method_list", "methods_for",
           "planned_evaluations", "planned_metrics", "select_targets", "stability"]


def get_method(name: object) -> Method:
    method = METHODS.get(str(name).strip().lower())
    if method is None:
        raise InputError("bad_method", name=str(name)[:40],
                         names=", ".join(METHODS))
    return method


def methods_for(subject: Subject) -> list[str]:
    """The methods that run on ``subject`` (by what its model offers), in registry order."""
    return [name for name, m in METHODS.items() if m.supports(subject)]


def all_options() -> list[Option]:
    """Every option the registered methods take, once each (the UI builds its sliders from it)."""
    seen: dict[str, Option] = {}
    for m in METHODS.values():
        for o in m.options:
            seen.setdefault(o.name, o)
    return list(seen.values())


def select_targets(subject: Subject, target: object = None) -> list[int]:
    """Which targets to explain: None / "" / "default": the task's default; "all": every
    target (the full matrix); a target's label; or its index."""
    if target is None or (isinstance(target, str) and target.strip().lower() in ("", "default", "predicted")):
        return [subject.default_target]
    if isinstance(target, str) and target.strip().lower() == "all":
        return list(range(len(subject.targets)))
    labels = [t.label for t in subject.targets]
    if isinstance(target, str) and target.strip() in labels:
        return [labels.index(target.strip())]
    folded = [label.casefold() for label in labels]  # "POSITIVE" names the "positive" class
    if isinstance(target, str) and target.strip().casefold() in folded:
        return [folded.index(target.strip().casefold())]
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and 0 <= int(target) < len(labels):
        return [int(target)]
    shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
    raise InputError("bad_target", target=str(target)[:40],
                     labels="default, all, " + shown)


# Measured seconds per model row, by (model, what the method needs, targets explained): the time
# estimate shown before a job starts is planned rows x this (a running mean of the jobs seen).
_ROW_SECONDS: dict[tuple[str, str, int], float] = {}


def estimate_seconds(subject: Subject, method: str, options: dict[str, object] | None = None, target: object = None,
                     units: str = "auto", metrics: bool = True) -> float | None:
    """Planned evaluations x measured seconds per evaluation (plus the faithfulness metrics'
    rows, with ``metrics``), or None when nothing has been measured on this model yet. Before
    any job has run on it, the one row that building the Subject scored stands in: a gradient
    row costs about a forward and, per explained target, a backward of about two forwards."""
    m = get_method(method)
    s = with_units(subject, units)
    k = len(select_targets(s, target))
    rows = m.evaluations(s, m.resolve(options), k)
    k_key = k if m.needs == "gradients" else 1
    per_row = _ROW_SECONDS.get((s.model, m.needs, k_key))
    if per_row is None and s.score is not None:
        # A batched row's cost on this model, measured by any job; before any, the one row the
        # Subject ran at batch 1 (an overestimate: batches run several times faster per row).
        per_row = ROW_SECONDS.get(s.model) or s.score.row_seconds
        if per_row is not None and m.needs == "gradients":
            per_row *= 1 + 2 * k
    if per_row is None:
        return None
    seconds = rows * per_row
    if metrics and s.score is not None:
        # The faithfulness metrics run on the scorer: a scorer row's cost.
        scorer_row = ROW_SECONDS.get(s.model) or s.score.row_seconds or per_row
        seconds += faith.planned_rows(s.score, k) * scorer_row
    return float(seconds)


def planned_metrics(subject: Subject, target: object = None, units: str = "auto") -> int:
    """Model rows the faithfulness metrics of one explanation will add at most."""
    s = with_units(subject, units)
    return faith.planned_rows(s.score, len(select_targets(s, target))) if s.score is not None else 0


def is_sampled(method: Method) -> bool:
    """A method whose result depends on a random seed (LIME, SHAP, KernelSHAP)."""
    return any(o.name == "seed" for o in method.options)


def stability(method: Method, convergence: dict[str, Any]) -> dict[str, Any]:
    """How far the ranking would move if the method ran again: for a sampled method, whether its
    budget settled and how well two independent runs agree (its ``convergence``); the others
    give the same scores every time (Integrated Gradients: ``converged`` when its completeness gap
    is under 10 % of the explained difference)."""
    if is_sampled(method):
        keys = ("converged", "stopped_by", "half_spearman", "seed_spearman", "samples", "exact")
        out = {"kind": "sampled", **{k: convergence[k] for k in keys if k in convergence}}
        if convergence.get("exact"):
            out.update(converged=True, seed_spearman=1.0)
        return out
    converged = True
    if "relative_delta" in convergence:
        converged = bool(convergence["relative_delta"] <= 0.1)
    return {"kind": "deterministic", "converged": converged, "seed_spearman": 1.0}


def planned_evaluations(subject: Subject, method: str, options: dict[str, object] | None = None,
                        target: object = None, units: str = "auto") -> int:
    """What a run will cost in model rows (for time estimates before it starts)."""
    m = get_method(method)
    s = with_units(subject, units)
    return max(1, m.evaluations(s, m.resolve(options), len(select_targets(s, target))))


def _removal(removal: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    key, params = removal
    return {"removal": messages.t(key, "en", **params), "removal_key": key, "removal_params": dict(params)} if key else {}


# Finished explanations by (Subject key, method, options, targets, units, metrics): a repeated
# request, from any tab or the API, is answered from here. Bounded in bytes (cache.py).
RESULTS = BoundedCache()


def explain(subject: Subject, method: str, options: dict[str, object] | None = None, target: object = None,
            units: str = "auto", progress: Progress | None = None, stop: threading.Event | None = None,
            metrics: bool = True) -> Explanation:
    """Run one method on ``subject`` for the chosen targets (see :func:`select_targets`) over
    words or sentences (``units``: "word", "sentence", or "auto": sentences for long inputs).
    Options are clamped to the method's bounds; ``progress`` gets (fraction, method) as model
    rows run; ``stop`` (set by a Stop button) ends the job between two batches (raises
    :class:`Stopped`). With ``metrics`` the result carries its faithfulness (extras
    ``"faithfulness"``, :mod:`.faithfulness`, on the same scorer and word removal); it always
    carries its ``"stability"``. A request seen before (same Subject key, method, options,
    targets, units) comes from :data:`RESULTS`, marked ``extras["cached"]``."""
    m = get_method(method)
    s = with_units(subject, units)
    if not m.supports(s):
        if not s.units:
            raise InputError("nothing_to_explain")
        raise InputError("method_unsupported", name=m.name)
    chosen = select_targets(s, target)
    opts = m.resolve(options)
    cache_key = (s.key, s.unit_kind, m.name, tuple(sorted(opts.items())), tuple(chosen), metrics) if s.key else None
    if cache_key is not None and (hit := RESULTS.get(cache_key)) is not None:
        hit.extras["cached"] = True
        if progress is not None:
            progress(1.0, m.name)
        return hit
    planned = max(1, m.evaluations(s, opts, len(chosen)))
    metric_rows = faith.planned_rows(s.score, len(chosen)) if metrics and s.score is not None else 0

    def report(rows: int) -> None:
        if progress is not None:
            progress(min(1.0, rows / (planned + metric_rows)), m.name)

    if s.score is not None:
        s.score.stop = stop
        base = s.score.stats.evaluated
        s.score.progress = lambda done: report(done - base)
    s.notes["on_rows"] = report
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn / shap chatter about convergence and versions
            matrix, evaluations, convergence, extras = m.run(s, chosen, opts, stop)
        seconds = time.perf_counter() - started
        matrix = np.nan_to_num(np.asarray(matrix, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        matrix = matrix.reshape(len(chosen), len(s.units))
        metrics_out = None
        if metrics and s.score is not None:
            after = s.score.stats.evaluated
            s.score.progress = lambda done: report(planned + done - after)
            metrics_out = faith.faithfulness(s.score, matrix, chosen, [s.targets[i].label for i in chosen])
            metrics_out.update(_removal(s.score.removal))
    finally:
        if s.score is not None:
            s.score.progress, s.score.stop = None, None
        s.notes.pop("on_rows", None)
    if evaluations:
        key = (s.model, m.needs, len(chosen) if m.needs == "gradients" else 1)
        per_row = seconds / evaluations
        _ROW_SECONDS[key] = per_row if key not in _ROW_SECONDS else 0.5 * (_ROW_SECONDS[key] + per_row)
    if progress is not None:
        progress(1.0, m.name)
    notes = {k: v for k, v in s.notes.items() if not callable(v)}
    result = Explanation(
        task=s.task, method=m.name, model=s.model, units=list(s.units), targets=[s.targets[i] for i in chosen],
        matrix=matrix, evaluations=int(evaluations), seconds=seconds, options=opts, unit_kind=s.unit_kind,
        truncated=s.truncated, convergence=convergence,
        extras={"planned_evaluations": planned,
                # How a word is taken out: said where words were taken out (not for gradients or attention).
                **(_removal(s.score.removal) if m.needs == "scorer" and s.score is not None else {}),
                **notes, **extras,
                "stability": stability(m, convergence),
                **({"faithfulness": metrics_out} if metrics_out is not None else {})},
    )
    if cache_key is not None:
        RESULTS.put(cache_key, result)
    return result


def method_list(methods: object = "") -> list[str] | None:
    """``"lime, shap"`` or ``["lime", "shap"]`` -> the registered names in registry order;
    empty -> None (every method). An unknown name is an InputError."""
    if methods is None or (isinstance(methods, str) and not methods.strip()):
        return None
    names = methods.split(",") if isinstance(methods, str) else list(methods)  # type: ignore[call-overload]
    chosen = {get_method(n).name for n in names if str(n).strip()}
    if not chosen:
        raise InputError("bad_method", name="", names=", ".join(METHODS))
    return [name for name in METHODS if name in chosen]


def explain_all(subject: Subject, methods: list[str] | None = None, options: dict[str, Any] | None = None,
                target: object = None, units: str = "auto", progress: Callable[[str], Progress] | None = None,
                stop: threading.Event | None = None) -> dict[str, Any]:
    """Several methods (default: every method the Subject supports; a named one it cannot run
    is an InputError) on one Subject, which they share with its scorer (a perturbation two of
    them ask for runs once), and how far they agree, as the API's schema:
    ``{"explanations": {method: explanation dict}, "agreement": ...}``. ``progress(method)``
    gives each method's progress callback."""
    names = list(methods) if methods else methods_for(subject)
    results = {name: explain(subject, name, options, target=target, units=units,
                             progress=progress(name) if progress else None, stop=stop).to_dict() for name in names}
    return {"explanations": results, "agreement": agreement_of(results)}
