"""Do the methods run on one input agree? Pairwise Spearman correlation of their word scores and
the overlap of their top words, per explained target, and the pairs that disagree on the top
words (what the page says in a sentence)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .faithfulness import ranking
from .stats import spearman

TOP = 5  # the top words compared
# Two methods "disagree" when they share fewer than this share of their top words, or rank the
# words in clearly different orders.
MIN_OVERLAP = 0.4
MIN_SPEARMAN = 0.3


def top_words(scores: Sequence[float], k: int = TOP) -> list[int]:
    """The ``k`` highest-scoring units (ties in input order)."""
    return [int(i) for i in ranking(np.asarray(scores, dtype=float))[:k]]


def agreement(rows: Mapping[str, Sequence[Sequence[float]]], words: Sequence[str], targets: Sequence[str],
              top: int = TOP) -> dict[str, Any]:
    """``rows[method][i]`` is the method's scores of every word for target ``targets[i]``.

    Returns ``{"methods", "top", "rows": [{"target", "spearman": matrix, "top_overlap": matrix,
    "top_words": {method: [word, ...]}, "disagreements": [{"a", "b", "top_a", "top_b",
    "spearman", "overlap"}]}]}``, matrices in ``methods`` order; a method agrees with itself at 1."""
    methods = list(rows)
    k = max(1, min(top, len(words)))
    out_rows = []
    for i, target in enumerate(targets):
        vectors = {m: np.asarray(rows[m][i], dtype=float) for m in methods}
        tops = {m: top_words(vectors[m], k) for m in methods}
        rho = np.ones((len(methods), len(methods)))
        overlap = np.ones((len(methods), len(methods)))
        disagreements = []
        for a in range(len(methods)):
            for b in range(a + 1, len(methods)):
                ma, mb = methods[a], methods[b]
                rho[a, b] = rho[b, a] = spearman(vectors[ma], vectors[mb])
                overlap[a, b] = overlap[b, a] = len(set(tops[ma]) & set(tops[mb])) / k
                if overlap[a, b] < MIN_OVERLAP or rho[a, b] < MIN_SPEARMAN:
                    disagreements.append({"a": ma, "b": mb, "top_a": words[tops[ma][0]], "top_b": words[tops[mb][0]],
                                          "spearman": round(float(rho[a, b]), 4), "overlap": round(float(overlap[a, b]), 4)})
        disagreements.sort(key=lambda d: (d["overlap"], d["spearman"]))
        out_rows.append({
            "target": target,
            "spearman": [[round(float(v), 4) for v in r] for r in rho],
            "top_overlap": [[round(float(v), 4) for v in r] for r in overlap],
            "top_words": {m: [words[j] for j in tops[m]] for m in methods},
            "disagreements": disagreements,
        })
    return {"methods": methods, "top": k, "rows": out_rows}


def of_explanations(explanations: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """:func:`agreement` of explanation dicts (``Explanation.to_dict()``) of one Subject and the
    same targets."""
    if not explanations:
        return {"methods": [], "top": 0, "rows": []}
    first = next(iter(explanations.values()))
    words = [w["text"] for w in first["words"]]
    targets = [t["label"] for t in first["targets"]]
    return agreement({m: e["matrix"] for m, e in explanations.items()}, words, targets)


__all__ = ["MIN_OVERLAP", "MIN_SPEARMAN", "TOP", "agreement", "of_explanations", "top_words"]
