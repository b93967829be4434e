"""How faithful an explanation is to the model: take out the words it ranks highest and see
whether the explained value moves (ERASER's comprehensiveness and sufficiency, DeYoung et al.,
2020; the deletion and insertion curves of RISE, Petsiuk et al., 2018), against random orders.

Everything runs on the task's batched scorer (:class:`~.base.MaskScorer`) with the same word
removal the perturbation methods use, so masks another method already asked for cost nothing,
and one model row scores every target at once (for generated text, one teacher-forced pass per
perturbed input scores every output word). The random orders depend only on the number of
units, so they are shared by every method explained on the same input.

For a target with value f on the whole input, and an order of the units (most important first):

- comprehensiveness at k %: f(input) - f(input without the top k % of units); higher is better;
- sufficiency at k %: f(input) - f(only the top k % of units); lower is better;
- AOPC: their mean over k in :data:`KS`;
- the deletion curve: f as the top units are taken out one share at a time (falls fast: good);
  the insertion curve: f as the top units are put back into an empty input (rises fast: good).

Each number comes with the same number for random orders (their mean), so it reads "better than
random by ...". Units of the target's value: a probability (sentiment), a logit (extractive QA
spans) or a log-probability (generated text).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .base import MaskScorer

KS = (1, 5, 10, 20, 50)  # percent of the units taken out (or kept)
RANDOM_ORDERS = 5
RANDOM_SEED = 20240917  # fixed: the random orders are the same for every method on one input
# Curves at every count up to this many units; beyond, at quarters plus the k % points. The
# random orders' rows are most of the metrics' cost (5 orders x 2 curves x the points): on a
# 135M decoder on 2 CPU cores a 10-point grid made the first method of an input pay 17 s for
# them, quarters 2-3 times less (bench/trust.py).
_ALL_POINTS_UP_TO = 6
_GRID = 4


def k_counts(n: int) -> dict[int, int]:
    """How many units "the top k %" is, per k: at least one, at most all."""
    return {k: min(n, max(1, math.ceil(k * n / 100))) for k in KS}


def curve_counts(n: int) -> list[int]:
    """The numbers of units taken out (deletion) or put back (insertion) where the curves are
    measured: every count on short inputs; else a grid plus the counts of :data:`KS`."""
    if n <= _ALL_POINTS_UP_TO:
        return list(range(n + 1))
    grid = {math.ceil(i * n / _GRID) for i in range(_GRID + 1)}
    return sorted(grid | set(k_counts(n).values()) | {0, n})


def ranking(scores: np.ndarray) -> np.ndarray:
    """Units from the highest score to the lowest; ties in input order (deterministic)."""
    return np.argsort(-np.asarray(scores, dtype=float), kind="stable")


def random_orders(n: int, count: int = RANDOM_ORDERS) -> np.ndarray:
    rng = np.random.default_rng(RANDOM_SEED + n)
    return np.stack([rng.permutation(n) for _ in range(count)]) if n else np.zeros((count, 0), dtype=int)


def _masks(order: np.ndarray, counts: list[int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Deletion masks (the first ``m`` units of ``order`` out) and insertion masks (only they
    in), one per count."""
    deletion = np.ones((len(counts), n), dtype=bool)
    insertion = np.zeros((len(counts), n), dtype=bool)
    for i, m in enumerate(counts):
        deletion[i, order[:m]] = False
        insertion[i, order[:m]] = True
    return deletion, insertion


def planned_rows(score: MaskScorer, n_rows: int, orders: int = RANDOM_ORDERS) -> int:
    """Model rows the metrics will add at most: the random orders' masks not yet scored (they
    are shared across methods) and two curves per explained target (the first on every point,
    the others on the k % points)."""
    n = score.n_units
    counts = curve_counts(n)
    missing = set()
    for order in random_orders(n, orders):
        for masks in _masks(order, counts, n):
            missing.update(row.tobytes() for row in masks if row.tobytes() not in score.cache)
    # The ends (nothing taken out, everything taken out) are scored once for every order.
    coarse = len({0, n, *k_counts(n).values()})
    return len(missing) + min(n_rows, 1) * 2 * (len(counts) - 2) + max(0, n_rows - 1) * 2 * (coarse - 2)


def _auc(fractions: np.ndarray, values: np.ndarray) -> float:
    """Area under a curve over the share of units (0..1), trapezoids."""
    if len(fractions) < 2:
        return float(values[0]) if len(values) else 0.0
    return float(np.sum((fractions[1:] - fractions[:-1]) * (values[1:] + values[:-1]) / 2))


def _per_k(curve: np.ndarray, full: float, ks: dict[int, int], where: dict[int, int]) -> dict[str, float]:
    """f(input) - the curve at each k's count of units."""
    return {str(k): round(float(full - curve[where[m]]), 6) for k, m in ks.items()}


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


def faithfulness(score: MaskScorer, matrix: np.ndarray, targets: list[int], labels: list[str],
                 orders: int = RANDOM_ORDERS) -> dict[str, Any]:
    """The metrics of each row of ``matrix`` (row i explains target ``targets[i]``, named
    ``labels[i]``), as a JSON-friendly dict: ``{"ks", "random_orders", "removal", "evaluations",
    "seconds", "rows": [{"target", "comprehensiveness", "sufficiency", "deletion", "insertion",
    "curves", "effect"}]}``. ``evaluations`` and ``seconds`` are what the metrics added (masks
    already scored by the method are free)."""
    started = time.perf_counter()
    before = score.stats.evaluated
    n = score.n_units
    matrix = np.asarray(matrix, dtype=float).reshape(len(targets), n)
    counts = curve_counts(n)
    ks = k_counts(n)
    # Beyond the first target (a generated text's other words), curves at the k % points only:
    # a full matrix then costs a few rows per output word, not a whole curve each.
    coarse = sorted({0, n, *ks.values()})
    rand = random_orders(n, orders)
    # Every mask of every order in one call: the scorer batches them and runs each once.
    plans = [(ranking(row), counts if i == 0 else coarse) for i, row in enumerate(matrix)]
    plans += [(order, counts) for order in rand]
    blocks = [_masks(order, c, n) for order, c in plans]
    values = score(np.concatenate([np.concatenate(pair) for pair in blocks]))
    curves, at = [], 0
    for _, c in plans:  # (deletion, insertion) values per order, each (len(c), n_targets)
        curves.append((values[at : at + len(c)], values[at + len(c) : at + 2 * len(c)]))
        at += 2 * len(c)
    random_curves = curves[len(matrix):]
    rows = []
    for i, (t, label) in enumerate(zip(targets, labels)):
        c = plans[i][1]
        where = {m: j for j, m in enumerate(c)}
        on = [counts.index(m) for m in c]  # the random curves at this row's points
        fractions = np.array(c, dtype=float) / max(n, 1)
        deletion, insertion = curves[i][0][:, t], curves[i][1][:, t]
        r_deletion = np.mean([d[on, t] for d, _ in random_curves], axis=0)
        r_insertion = np.mean([ins[on, t] for _, ins in random_curves], axis=0)
        full, empty = deletion[0], deletion[-1]

        comp, r_comp = _per_k(deletion, full, ks, where), _per_k(r_deletion, full, ks, where)
        suff, r_suff = _per_k(insertion, full, ks, where), _per_k(r_insertion, full, ks, where)
        aopc = {name: float(np.mean(list(d.values()))) for name, d in
                (("comp", comp), ("r_comp", r_comp), ("suff", suff), ("r_suff", r_suff))}
        del_auc, r_del_auc = _auc(fractions, deletion), _auc(fractions, r_deletion)
        ins_auc, r_ins_auc = _auc(fractions, insertion), _auc(fractions, r_insertion)
        rows.append({
            "target": label,
            "effect": round(float(full - empty), 6),  # the whole input against an empty one
            "comprehensiveness": {"aopc": round(aopc["comp"], 6), "per_k": comp, "random_aopc": round(aopc["r_comp"], 6),
                                  "random_per_k": r_comp, "vs_random": round(aopc["comp"] - aopc["r_comp"], 6)},
            # Lower sufficiency is better: vs_random > 0 means better than random here too.
            "sufficiency": {"aopc": round(aopc["suff"], 6), "per_k": suff, "random_aopc": round(aopc["r_suff"], 6),
                            "random_per_k": r_suff, "vs_random": round(aopc["r_suff"] - aopc["suff"], 6)},
            # Deletion: lower area is better; insertion: higher area is better.
            "deletion": {"auc": round(del_auc, 6), "random_auc": round(r_del_auc, 6),
                         "vs_random": round(r_del_auc - del_auc, 6)},
            "insertion": {"auc": round(ins_auc, 6), "random_auc": round(r_ins_auc, 6),
                          "vs_random": round(ins_auc - r_ins_auc, 6)},
            "curves": {"fractions": _rounded(fractions), "deletion": _rounded(deletion), "insertion": _rounded(insertion),
                       "random_deletion": _rounded(r_deletion), "random_insertion": _rounded(r_insertion)},
        })
    return {
        "ks": list(KS),
        "random_orders": int(orders),
        "evaluations": int(score.stats.evaluated - before),
        "seconds": round(time.perf_counter() - started, 4),
        "rows": rows,
    }


def better_than_random(metrics: dict[str, Any], row: int = 0) -> bool:
    """Whether row ``row``'s explanation beats random orders on both AOPCs."""
    r = metrics["rows"][row]
    return r["comprehensiveness"]["vs_random"] > 0 and r["sufficiency"]["vs_random"] > 0


__all__ = ["KS", "RANDOM_ORDERS", "better_than_random", "curve_counts", "faithfulness", "k_counts", "planned_rows",
           "random_orders", "ranking"]
