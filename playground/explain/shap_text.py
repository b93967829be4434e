"""SHAP (Lundberg & Lee, 2017): shap's Partition explainer with a ``shap.maskers.Text`` masker
over our words, on the task's batched scoring function (never on a pipeline, which runs one text
at a time). The budget is ``max_evals``; shap's own hierarchical clustering of the text decides
which coalitions it spends it on."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import text
from .base import Method, Option, Progress, Subject


def _word_tokenizer(s: str, return_offsets_mapping: bool = True, **_: Any) -> dict[str, list]:
    """The minimal HuggingFace tokenizer API shap's Text masker asks for, over our words."""
    spans = [(w.start, w.end) for w in text.words(s)]
    return {"input_ids": list(range(len(spans))), "offset_mapping": spans}


class Shap(Method):
    name = "shap"
    tasks = frozenset({"sentiment"})
    options = (
        Option("shap_evals", default=300, minimum=20, maximum=5000, label="opt_shap_evals"),
        Option("seed", default=0, minimum=0, maximum=2**31 - 1, label="opt_seed"),
    )

    def evaluations(self, subject: Subject, opts: dict[str, int]) -> int:
        return opts["shap_evals"]

    def run(self, subject: Subject, opts: dict[str, int], progress: Progress | None) -> tuple[np.ndarray, int, dict]:
        import shap

        mask = subject.mask_token or "..."
        before = subject.scorer.stats.evaluated
        if len(subject.words) == 1:
            # shap's text clustering fails on a single feature; with one player the Shapley
            # value is exactly f(text) - f(masked), two evaluations.
            full, masked = subject.target_scores([subject.text, mask])
            return np.array([full - masked]), subject.scorer.stats.evaluated - before, {"base_value": float(masked)}
        masker = shap.maskers.Text(_word_tokenizer, mask_token=mask, collapse_mask_token=False)
        explainer = shap.Explainer(subject.target_scores, masker, algorithm="partition")
        # shap breaks ties in its coalition queue with numpy's global RNG: seed it for this call
        # (and put it back) so the same input gives the same explanation.
        state = np.random.get_state()
        np.random.seed(opts["seed"])
        try:
            values = explainer([subject.text], max_evals=opts["shap_evals"], batch_size=subject.scorer.batch_size, silent=True)
        finally:
            np.random.set_state(state)
        scores = np.asarray(values.values[0], dtype=float).reshape(-1)
        if scores.shape[0] != len(subject.words):
            raise RuntimeError(f"SHAP returned {scores.shape[0]} scores for {len(subject.words)} words")
        extras = {"base_value": float(np.asarray(values.base_values).reshape(-1)[0])}
        return scores, subject.scorer.stats.evaluated - before, extras
