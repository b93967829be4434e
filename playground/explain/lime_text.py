"""LIME (Ribeiro et al., 2016) with the lime package's LimeTextExplainer, over words.

Words are our segmentation (Chinese included), removed words become the model's mask token
(position-preserving, ``bow=False``), and every sample goes through the task's batched scorer,
which deduplicates, sorts by length and chunks (lime passes all samples in one call: lime #681).
The seed is fixed so the same input gives the same explanation (lime #119, #231, #683)."""

from __future__ import annotations

import numpy as np

from .. import text
from .base import Method, Option, Progress, Subject


class Lime(Method):
    name = "lime"
    tasks = frozenset({"sentiment"})
    options = (
        Option("lime_samples", default=300, minimum=20, maximum=5000, label="opt_lime_samples"),
        Option("seed", default=0, minimum=0, maximum=2**31 - 1, label="opt_seed"),
    )

    def evaluations(self, subject: Subject, opts: dict[str, int]) -> int:
        return opts["lime_samples"]

    def run(self, subject: Subject, opts: dict[str, int], progress: Progress | None) -> tuple[np.ndarray, int, dict]:
        from lime.lime_text import LimeTextExplainer

        n_words = len(subject.words)
        explainer = LimeTextExplainer(
            split_expression=lambda s: [w.text for w in text.words(s)],
            bow=False,
            mask_string=subject.mask_token or " ",
            random_state=opts["seed"],
        )
        before = subject.scorer.stats.evaluated
        exp = explainer.explain_instance(
            subject.text,
            classifier_fn=subject.scorer,
            labels=(subject.target_index,),
            num_features=n_words,
            num_samples=opts["lime_samples"],
        )
        features = exp.domain_mapper.indexed_string
        if features.num_words() != n_words:  # both sides segment the same way; say so if not
            raise RuntimeError(f"LIME saw {features.num_words()} words, expected {n_words}")
        scores = np.zeros(n_words)
        for idx, weight in exp.as_map()[subject.target_index]:
            scores[idx] = weight
        extras = {"samples": opts["lime_samples"], "fit_r2": float(exp.score), "intercept": float(exp.intercept[subject.target_index])}
        return scores, subject.scorer.stats.evaluated - before, extras
