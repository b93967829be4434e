"""Explaining an encoder's output (a classifier's class probabilities, an extractive QA span's
logits): one Subject for every encoder task.

The model input is one sequence of token ids. A removed unit's pieces all become the mask token
(positions never move, no re-tokenization, every perturbed row as long as the input, so a row's
score never depends on its batch). Gradients flow from the input embedding layer, from a
baseline where every explained piece is the pad token (special tokens kept). Attention is one
eager forward with every layer's weights (an encoder input is at most a few hundred tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import gradients
from .base import AttentionView, GradientView, MaskScorer, Subject, Target, Unit, subject_key

# Rows x tokens per scoring forward (no gradients: one layer's activations at a time). Rows per
# gradient forward (every layer's activations kept for the backward): gradients.plan_rows.
SCORE_ROW_TOKENS = 16384


def mask_id(tokenizer: Any) -> int:
    for name in ("mask_token_id", "unk_token_id", "pad_token_id"):
        v = getattr(tokenizer, name, None)
        if isinstance(v, int):
            return v
    return 0


def subject(loaded: Any, *, task: str, ids: list[int], position_unit: list[int | None], units: list[Unit],
            targets: list[Target], read: Callable[[Any], torch.Tensor], target_rows: list[list[int]],
            token_types: list[int] | None = None, default_target: int = 0, texts: dict[str, str] | None = None,
            truncated: bool = False, notes: dict[str, Any] | None = None) -> Subject:
    """``read(model_output)`` turns the model's output for a batch into its (rows, k) targets;
    ``target_rows[t]`` are the positions whose attention explains target t."""
    from .. import models

    tok, model = loaded.tokenizer, loaded.model
    device = loaded.device
    n = len(ids)
    base = torch.tensor([ids], device=device)
    types = torch.tensor([token_types], device=device) if token_types is not None else None
    masked = mask_id(tok)
    owner = np.array([-1 if u is None else u for u in position_unit])
    member = np.zeros((len(units), n), dtype=bool)  # unit x position
    for p, u in enumerate(owner):
        if u >= 0:
            member[u, p] = True

    def forward(input_ids: torch.Tensor) -> Any:
        rows = input_ids.shape[0]
        kw = {"token_type_ids": types.expand(rows, -1)} if types is not None else {}
        return model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kw)

    def batch(masks: np.ndarray) -> np.ndarray:
        removed = (~masks).astype(np.int64) @ member.astype(np.int64) > 0  # (rows, positions)
        rows = np.tile(np.array(ids), (len(masks), 1))
        rows[removed] = masked
        with torch.inference_mode(), models.guard_oom(), loaded.scoring_context():
            out = read(forward(torch.from_numpy(rows).to(device)))
        return out.float().cpu().numpy()

    name = tok.convert_ids_to_tokens([masked])[0]
    score = MaskScorer(batch, len(units), len(targets), batch_size=max(1, min(64, SCORE_ROW_TOKENS // max(1, n))),
                       removal=("removal_mask", {"mask": name}))

    pad = tok.pad_token_id if tok.pad_token_id is not None else masked
    baseline = torch.tensor([[pad if u is not None else t for t, u in zip(ids, position_unit)]], device=device)

    def run(rows: int) -> torch.Tensor:
        return read(forward(base.expand(rows, -1))).float()

    grad_rows, checkpoint = gradients.plan_rows(model, n, 64)
    gradient = GradientView(layer=model.get_input_embeddings(), input_ids=base, baseline_ids=baseline, run=run,
                            position_unit=list(position_unit), max_rows=grad_rows,
                            baseline=str(tok.convert_ids_to_tokens([pad])[0]), checkpoint=model if checkpoint else None)

    def each_layer(keep: Callable[[Any], None]) -> None:
        kw = {"token_type_ids": types} if types is not None else {}
        with torch.inference_mode(), models.eager_attention(model), models.guard_oom():
            out = model(input_ids=base, attention_mask=torch.ones_like(base), output_attentions=True, **kw)
        for a in out.attentions:
            keep(a[0])

    attention = AttentionView(each_layer=each_layer, target_rows=target_rows, column_unit=list(position_unit), square=True,
                              sink=0)
    score.cost_key = loaded.spec.display
    if units:
        score.probe()  # the measured cost of a row, for time estimates
    return Subject(task=task, model=loaded.spec.display, units=units, targets=targets, score=score, gradient=gradient,
                   attention=attention, default_target=default_target, truncated=truncated, texts=dict(texts or {}),
                   notes=dict(notes or {}),
                   key=subject_key(task, loaded.spec.key, ids, token_types, position_unit, units, targets,
                                   target_rows, default_target, truncated, notes))


__all__ = ["mask_id", "subject"]
