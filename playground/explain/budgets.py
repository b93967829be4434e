"""Budgets that converge, for the sampling methods (LIME, SHAP, KernelSHAP).

A fixed budget is either wasted (a short input settles long before it) or too small (a long one
has not: at 300 samples LIME's ranking of a 50-word review agreed with its own 5,000-sample
ranking at Spearman 0.56). So the budget the user sets is a *cap*: a run starts from a budget
that grows with the number of units, doubles it, and stops as soon as the ranking no longer
moves (Spearman between the last two stages >= the method's threshold for every explained
target), when the cap is reached, or before a stage that would overrun the time limit
(projected from what the stages so far cost). ``converge=0`` runs exactly the budget given (and its half, where
the half costs no model row, so the result still says how far the ranking moved).

The stages reuse each other's model rows: LIME scores growing prefixes of one neighbourhood,
shap's Partition explainer expands its tree in the same order whatever its budget (a smaller
budget's coalitions are a prefix of a larger one's), and the scorer never runs a mask twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import ROW_SECONDS, MaskScorer, Option
from .stats import spearman

CONVERGE = Option("converge", default=1, minimum=0, maximum=1, label="opt_converge")
MAX_SECONDS = Option("max_seconds", default=20, minimum=1, maximum=300, label="opt_max_seconds")


@dataclass(frozen=True)
class Policy:
    """How a method's budget grows and when its ranking counts as settled (each method's own:
    measured on the offline sentiment model by bench/convergence.py, so that at the defaults
    every method ranks the words at Spearman >= 0.9 against its own 5,000-sample ranking)."""

    per_unit: int  # the first budget compared with its half: this many samples per unit ...
    threshold: float  # ... and stop once stage B/2 and stage B agree at least this well ...
    seed_threshold: float | None = None  # ... and two independent halves of B at least this well
    min_start: int = 64


def start_budget(n_units: int, cap: int, policy: Policy) -> int:
    """The first budget compared with its half (the cap when the cap is smaller)."""
    return int(min(cap, max(policy.min_start, policy.per_unit * n_units)))


def fits_in_time(score: MaskScorer | None, opts: dict[str, Any]) -> int | None:
    """How many rows fit in ``max_seconds`` at the model's measured cost of a row (a batched
    row's, else the Subject's one probe row: an overestimate), or None before any is measured."""
    if score is None:
        return None
    row_seconds = (ROW_SECONDS.get(score.cost_key) if score.cost_key else None) or score.row_seconds
    return int(opts["max_seconds"] / row_seconds) if row_seconds else None


def schedule(n_units: int, cap: int, adaptive: bool, policy: Policy, halves: bool = True,
             fits: int | None = None) -> list[int]:
    """The budgets of the stages, in order: half the start budget, the start budget, then
    doubling up to the cap (the last stage is the cap itself). Not adaptive: the cap alone,
    after its half where ``halves`` (a half that costs no model rows: LIME's prefix, SHAP's
    partial tree) so the result still says how far its ranking moved. ``fits``: the rows that
    fit in the time limit; the first two stages always run, so the start budget is cut to it
    (a slow model on a long input: 2,736 LIME samples at 0.22 s a row took 300 s before)."""
    cap = int(cap)
    if not adaptive:
        return [max(2, cap // 2), cap] if halves else [cap]
    first = start_budget(n_units, cap, policy)
    if fits is not None:
        first = min(first, max(16, fits))
    budgets = [max(2, first // 2), first]
    while budgets[-1] < cap:
        budgets.append(min(cap, 2 * budgets[-1]))
    return budgets


def expected_budget(n_units: int, cap: int, opts: dict[str, Any], policy: Policy, score: MaskScorer | None) -> int:
    """What a run is planned to end at, for progress and time estimates: the budget itself when
    not converging; converging, the start budget's double (where the bench's reviews settled),
    or what fits in the time limit at the model's measured cost of a batched row (a unit of
    budget costs about a row), whichever is less."""
    if not opts["converge"]:
        return int(cap)
    budget = min(cap, 2 * start_budget(n_units, cap, policy))
    row_seconds = ROW_SECONDS.get(score.cost_key) if score is not None and score.cost_key else None
    if row_seconds:
        budget = min(budget, max(start_budget(n_units, cap, policy) // 2, int(opts["max_seconds"] / row_seconds)))
    return int(budget)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two targets x units matrices rank the units: the worst target's Spearman."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return float(min(spearman(x, y) for x, y in zip(a, b))) if len(a) else 1.0


@dataclass
class Stage:
    budget: int
    matrix: np.ndarray  # targets x units at this budget


@dataclass
class Outcome:
    """The stages run (at least one) and why the run stopped."""

    stages: list[Stage]
    stopped_by: str  # "settled", "budget", "time" or "exact"
    policy: Policy

    @property
    def last(self) -> Stage:
        return self.stages[-1]

    @property
    def previous(self) -> Stage | None:
        return self.stages[-2] if len(self.stages) > 1 else None

    @property
    def half_spearman(self) -> float | None:
        """The last two stages' agreement (None after a single stage)."""
        return None if self.previous is None else agreement(self.previous.matrix, self.last.matrix)


def run_stages(run: Callable[[int], np.ndarray], budgets: list[int], max_seconds: float, adaptive: bool,
               policy: Policy, halves: Callable[[int], float] | None = None,
               exact: Callable[[int], bool] | None = None, granule: int = 1) -> Outcome:
    """Run ``run(budget)`` for the budgets in order (each stage extends the one before: its
    cost grows with its budget) until the ranking has settled, the budgets run out, or the
    time is up; not ``adaptive``: every budget runs, whatever the agreement or the time.

    Settled: stage B/2 and stage B agree (``policy.threshold``, the worst target's Spearman)
    and, where ``halves(B)`` says how alike two independent halves of stage B's samples rank
    the units (free for LIME and KernelSHAP), those agree too (``policy.seed_threshold``).
    Time: before each stage after the first, its end is projected from what the stages so far
    cost per unit of budget; a stage that would end past ``max_seconds`` is cut to the budget
    that fits (in quarters of the last stage, and whole ``granule``s), and the run stops after it. ``exact(budget)``: the
    stage just run computed the exact values (more budget would not change them)."""
    started = time.perf_counter()
    stages: list[Stage] = []
    for budget in budgets:
        stopping = False
        if adaptive and stages:
            elapsed = time.perf_counter() - started
            done = stages[-1].budget
            if elapsed * budget / done > max_seconds:  # the stages so far cost about elapsed / done a unit
                # What fits, in quarters of the last stage (so that a run's result moves with the
                # machine's speed only in coarse steps) and whole granules.
                step = max(granule, done // 4 // granule * granule)
                fits = done + int(done * (max_seconds / max(elapsed, 1e-9) - 1)) // step * step
                if fits < done + step or fits < 1.25 * done:  # too little left to move the ranking: stop here
                    return Outcome(stages, "time", policy)
                budget, stopping = min(budget, fits), True
        stages.append(Stage(int(budget), np.atleast_2d(np.asarray(run(int(budget)), dtype=float))))
        if exact is not None and exact(int(budget)):
            return Outcome(stages, "exact", policy)
        if adaptive and len(stages) >= 2 and agreement(stages[-2].matrix, stages[-1].matrix) >= policy.threshold:
            if halves is None or policy.seed_threshold is None or halves(int(budget)) >= policy.seed_threshold:
                return Outcome(stages, "settled", policy)
        if stopping:
            return Outcome(stages, "time", policy)
    return Outcome(stages, "budget", policy)


def report(outcome: Outcome | None, samples: int, seed_spearman: float | None, exact: bool = False,
           **extra: float) -> dict[str, float | bool | int | str]:
    """The ``convergence`` dict every sampled result carries (JSON-friendly: no None, no numpy).
    ``exact``: the budget covered every coalition (nothing was sampled)."""
    if exact or (outcome is not None and outcome.stopped_by == "exact"):
        out: dict[str, float | bool | int | str] = {"converged": True, "stopped_by": "exact", "half_spearman": 1.0,
                                                    "seed_spearman": 1.0}
    else:
        assert outcome is not None
        half, policy = outcome.half_spearman, outcome.policy
        # Converged: the settling rule holds at the last stage (what stops a converging run; a
        # fixed budget's result says it too, from the halves it could compare for free).
        holds = (half is not None and half >= policy.threshold
                 and (policy.seed_threshold is None or seed_spearman is None or seed_spearman >= policy.seed_threshold))
        out = {"converged": outcome.stopped_by == "settled" or (outcome.stopped_by == "budget" and holds),
               "stopped_by": outcome.stopped_by}
        if half is not None:
            out["half_spearman"] = round(float(half), 4)
        if seed_spearman is not None:
            out["seed_spearman"] = round(float(seed_spearman), 4)
    out["samples"] = int(samples)
    out.update({k: float(v) for k, v in extra.items()})
    return out
