"""Integrated Gradients (Sundararajan et al., 2017) on the input embedding layer, by Captum's
LayerIntegratedGradients: path from a baseline of [PAD] embeddings (special tokens kept) to the
input, gradients of the target class probability summed along it, then pooled per word."""

from __future__ import annotations

import numpy as np

from ..config import LIMITS
from .base import Method, Option, Progress, Subject


class IntegratedGradients(Method):
    name = "integrated_gradients"
    tasks = frozenset({"sentiment"})
    needs_gradients = True
    options = (Option("ig_steps", default=24, minimum=4, maximum=256, label="opt_ig_steps"),)

    def evaluations(self, subject: Subject, opts: dict[str, int]) -> int:
        return opts["ig_steps"] + 2  # + the input and the baseline, for the convergence delta

    def run(self, subject: Subject, opts: dict[str, int], progress: Progress | None) -> tuple[np.ndarray, int, dict]:
        import torch
        from captum.attr import LayerIntegratedGradients

        steps = opts["ig_steps"]
        lig = LayerIntegratedGradients(subject.forward, subject.embeddings)
        with torch.enable_grad():
            attr, delta = lig.attribute(
                inputs=subject.input_ids,
                baselines=subject.baseline_ids,
                additional_forward_args=(subject.attention_mask,),
                target=subject.target_index,
                n_steps=steps,
                internal_batch_size=LIMITS.batch_size,
                return_convergence_delta=True,
            )
        per_piece = attr.sum(dim=-1)[0].detach().float().cpu().numpy()
        extras = {
            # IG's completeness: the scores should add up to p(input) - p(baseline); the gap
            # says whether there were enough steps.
            "convergence_delta": float(delta.abs().max()),
        }
        return subject.pool_pieces(per_piece), steps + 2, extras
