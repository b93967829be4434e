"""Attention as an explanation: attention rollout (Abnar & Zuidema, 2020) from the first token.

One eager forward pass gives every layer's attention; rollout multiplies the layers' (attention +
identity) matrices to follow how much each input position flows into the classifier's token.
It is cheap and a common classroom view, but it says where the model looked, not why it decided:
the UI shows it beside the gradient and perturbation methods for exactly that comparison.
"""

from __future__ import annotations

import numpy as np

from .base import Method, Progress, Subject


def rollout(att: np.ndarray) -> np.ndarray:
    """(layers, heads, n, n) attention -> (n, n) rollout over layers, heads averaged."""
    mean = att.mean(axis=1)
    n = mean.shape[-1]
    out = np.eye(n)
    for layer in mean:
        a = 0.5 * layer + 0.5 * np.eye(n)  # the residual connection carries half the signal
        a = a / a.sum(axis=-1, keepdims=True)
        out = a @ out
    return out


class Attention(Method):
    name = "attention"
    tasks = frozenset({"sentiment"})

    def evaluations(self, subject: Subject, opts: dict[str, int]) -> int:
        return 1

    def run(self, subject: Subject, opts: dict[str, int], progress: Progress | None) -> tuple[np.ndarray, int, dict]:
        assert subject.attentions is not None
        att = subject.attentions()
        flow = rollout(att)[0]  # row of the first token ([CLS]), which the classifier head reads
        return subject.pool_pieces(flow), 1, {"layers": int(att.shape[0]), "heads": int(att.shape[1])}
