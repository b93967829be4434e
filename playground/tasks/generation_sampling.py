"""Sampling with a generator per row, so sampled generations can share one ``model.generate``.

transformers samples with ``torch.multinomial`` on the process-wide random generator: two
sampled generations at once would interleave their draws, and a seed would no longer give its
text. So sampled runs used to take turns, one at a time, while a class waited. :class:`RowSampler`
is a logits processor that does the sampling step itself, per row, with that row's own seeded
``torch.Generator`` and its own temperature / top-k / top-p (transformers' own warpers, in
transformers' order), and hands ``generate`` back a one-hot row: generate then runs greedy
(``do_sample=False``) and its argmax is the row's draw. Greedy rows pass through untouched, so
greedy and sampled requests can sit in one batch.

A lone row draws exactly what transformers' ``do_sample=True`` draws after
``torch.manual_seed(seed)`` (the same softmax over the same float32 scores, the same multinomial
from a generator in the same state): tests/test_generation_sampling.py checks it against
transformers itself. Because generate only sees the one-hot rows, the processor keeps each
step's processed scores (what the next-token view shows as "after processing").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .generation_types import GenerationOptions


def warpers(o: GenerationOptions) -> Any:
    """transformers' sampling warpers for ``o``, in the order generate applies them
    (temperature, top-k, top-p; each only where it changes something)."""
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    out = LogitsProcessorList()
    if o.temperature != 1.0:
        out.append(TemperatureLogitsWarper(o.temperature))
    if o.top_k:
        out.append(TopKLogitsWarper(top_k=o.top_k, min_tokens_to_keep=1))
    if o.top_p < 1.0:
        out.append(TopPLogitsWarper(top_p=o.top_p, min_tokens_to_keep=1))
    return out


def row_sampler(options: Sequence[GenerationOptions], device: torch.device | str) -> Any:
    """A :class:`RowSampler` for one batch: ``options[i]`` are row i's settings (greedy rows,
    temperature 0, are left to generate's argmax)."""
    from transformers import LogitsProcessor

    class RowSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.rows = list(options)
            self.warpers = [None if o.greedy else warpers(o) for o in self.rows]
            self.generators = [None if o.greedy else torch.Generator(device=device).manual_seed(int(o.seed))
                               for o in self.rows]
            # Per step, the (rows, vocab) scores after processing, before the draw: the
            # next-token view's "processed" column (generate's own scores are the one-hot rows).
            self.scores: list[torch.Tensor] = []

        @property
        def sampling(self) -> bool:
            return any(w is not None for w in self.warpers)

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            processed = scores.clone()
            chosen = scores
            for i, (warp, gen) in enumerate(zip(self.warpers, self.generators)):
                if warp is None:
                    continue
                row = warp(input_ids[i : i + 1], scores[i : i + 1].clone())
                processed[i] = row[0]
                probs = torch.softmax(row, dim=-1)
                token = torch.multinomial(probs, num_samples=1, generator=gen)[0, 0]
                if chosen is scores:
                    chosen = scores.clone()
                chosen[i] = float("-inf")
                chosen[i, token] = 0.0
            self.scores.append(processed)
            return chosen

    return RowSampler()


__all__ = ["row_sampler", "warpers"]
