"""Before and after fine-tuning: the model as training found it, and what training moved.

"Before" is the starting point the visitor chose, not the app's model: from the pre-trained
encoder it is that encoder with the same fresh head (drawn from the same seed) that training
started from, so its explanation shows a model that has not learned the task; from the shipped
model it is the shipped model. :func:`starting` rebuilds it as a copy that owns only its head
(and BERT's pooler): a few hundred KB beside the shared encoder.

:func:`score` gives the held-out rows' class probabilities and their **sentence vectors**: the
input of the head's last linear layer, the point in the model's own space that the head draws
its line through. :func:`sentence_map` projects them to 2-D by PCA (playground.embeddings) and
measures how far apart the labels lie (silhouette, cosine, over the full vectors), so a class
sees the layers that train pull the labels apart for the last layer to split.
No gradio here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from . import embeddings, models
from . import finetune_models as fm
from .tasks import sentiment

SCORE_BATCH = 32


def starting(base: models.LoadedModel, start: str, seed: int) -> models.LoadedModel:
    """The classifier as fine-tuning with ``start`` and ``seed`` finds it, frozen, in eval mode.
    Equal to the trained copy's state before its first step whatever ``layers`` trains: every
    trained tensor starts at its pre-trained (or shipped) value, and the head is drawn from
    ``seed`` the same way (finetune_models.build)."""
    model, params = fm.build(base, "head", start, seed)
    for p in params:
        p.requires_grad_(False)
    model.eval()
    return fm.wrap(base, model, "before fine-tuning")


def head_input(model: torch.nn.Module) -> torch.nn.Module:
    """The head's last linear layer (the one that gives the class logits); its input is the
    sentence vector. The last Linear module with ``num_labels`` outputs (BERT's and DistilBERT's
    ``classifier``, RoBERTa's ``classifier.out_proj``)."""
    n = int(model.config.num_labels)
    found = [m for _, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m.out_features == n]
    if not found:
        raise ValueError(f"{type(model).__name__} has no linear layer with {n} outputs")
    return found[-1]


def score(loaded: models.LoadedModel, texts: Sequence[str],
          should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Full-precision class probabilities (rows, labels) and sentence vectors (rows, width) of
    ``texts``, a batch at a time; None if ``should_stop()`` turns true between batches.

    Only for a visitor's own copy (:func:`starting`, finetune_models.build), never for the
    shared model: the hook that reads the vectors sits on the copy's own head module, so no
    other request's forward passes through it."""
    layer = head_input(loaded.model)
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().float().cpu()))
    probs: list[np.ndarray] = []
    try:
        for i in range(0, len(texts), SCORE_BATCH):
            if should_stop is not None and should_stop():
                return None
            probs.append(sentiment.batch_probabilities(loaded, list(texts[i:i + SCORE_BATCH]), fast=False))
    finally:
        hook.remove()
    if not probs:
        return np.zeros((0, int(loaded.model.config.num_labels))), np.zeros((0, layer.in_features))
    return np.concatenate(probs), torch.cat(seen).numpy()


def separation(vectors: np.ndarray, gold: Sequence[str]) -> float | None:
    """How far apart the labels lie: the mean silhouette (cosine) of the vectors, from -1 (mixed
    in with the other label) to 1 (tight, separate groups); None when it is undefined (one
    label, or fewer rows than three)."""
    from sklearn.metrics import silhouette_score

    if len(set(gold)) < 2 or len(gold) < 3 or len(set(gold)) >= len(gold):
        return None
    return float(silhouette_score(vectors, list(gold), metric="cosine"))


def sentence_map(vectors: np.ndarray, gold: Sequence[str]) -> dict[str, Any]:
    """``{"points": [[x, y], ...], "shares": [variance kept by each axis], "separation"}`` for
    the held-out rows' sentence vectors (row order kept; ``gold`` their labels)."""
    points, shares = embeddings.project(np.asarray(vectors, dtype=np.float64))
    return {"points": points.tolist(), "shares": shares, "separation": separation(vectors, gold)}


__all__ = ["head_input", "score", "sentence_map", "separation", "starting"]
