"""Attention as an explanation: the weights that the target's positions give each word, from one
eager forward. One layer (or the mean over layers), one head or the mean over heads, or
attention rollout (Abnar & Zuidema, 2020: the layers' (attention + identity) matrices multiplied,
following how much each input position flows into the target's positions).

Decoders park most attention on their first token (the "attention sink", Xiao et al., 2023), and
template and special tokens take more. With ``skip_sink`` (the default) the first token's column
is left out of every layer before rollout, and each row is renormalised over the explained words,
so the words compete among themselves; without it the row shows each word's raw share.

It says where the model looked, not why it decided (Jain & Wallace, 2019): the app shows it
beside the gradient and perturbation methods, and the trust panel measures how faithful it is.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .base import Method, Option, Subject


def rollout(att: np.ndarray) -> np.ndarray:
    """(layers, heads, n, n) attention -> (n, n) rollout over layers, heads averaged."""
    import torch

    out = None
    for layer in torch.from_numpy(np.array(att, dtype=np.float64)).mean(dim=1):  # a copy: att may be read-only
        out = rollout_step(out, layer)
    assert out is not None
    return out.numpy()


def rollout_step(acc: Any, layer: Any) -> Any:
    """One layer of rollout on torch tensors (torch's threaded matmul: a step is n^3, and
    numpy's float64 took most of the method's time on a 400-token prompt; the method runs it
    in float32)."""
    import torch

    a = 0.5 * layer + 0.5 * torch.eye(layer.shape[-1], dtype=layer.dtype)  # the residual connection carries half the signal
    a = a / a.sum(dim=-1, keepdim=True)
    return a if acc is None else a @ acc


class Attention(Method):
    name = "attention"
    needs = "attention"
    options = (
        # -1: rollout over every layer (or, for cross-attention, the mean over layers).
        Option("attention_layer", default=-1, minimum=-1, maximum=128, label="opt_attention_layer"),
        Option("attention_head", default=-1, minimum=-1, maximum=128, label="opt_attention_head"),  # -1: mean
        Option("skip_sink", default=1, minimum=0, maximum=1, label="opt_skip_sink"),
    )
    summary = "attention weights (one layer / head, their mean, or rollout) from the target's positions"

    def evaluations(self, subject: Subject, opts: dict[str, Any], n_targets: int) -> int:
        return 1

    def run(self, subject: Subject, targets: list[int], opts: dict[str, Any],
            stop: threading.Event | None) -> tuple[np.ndarray, int, dict[str, Any], dict[str, Any]]:
        view = subject.attention
        assert view is not None
        want_layer, want_head, skip = int(opts["attention_layer"]), int(opts["attention_head"]), bool(opts["skip_sink"])
        state: dict[str, Any] = {"n": 0, "heads": 0, "acc": None}  # layers seen; running result

        def keep(weights: Any) -> None:
            # One layer at a time: a rollout over a long prompt keeps one (n, n) matrix, never
            # layers x heads x n x n.
            import torch

            w = weights.detach().float() if hasattr(weights, "detach") else torch.as_tensor(np.asarray(weights), dtype=torch.float32)
            w = w.cpu()
            state["heads"] = w.shape[0]
            h = min(want_head, w.shape[0] - 1)
            w = (w.mean(dim=0) if h < 0 else w[h]).clone()
            if skip and view.sink is not None and w.shape[-1] > 1:
                others = torch.arange(w.shape[0]) != view.sink if view.square else torch.ones(w.shape[0], dtype=torch.bool)
                w[others, view.sink] = 0.0
                w[others] /= w[others].sum(dim=-1, keepdim=True).clamp_min(1e-12)
            layer = state["n"]
            state["n"] += 1
            if want_layer >= 0:
                if layer <= want_layer:  # past the last layer: the last one stays
                    state["acc"] = w
            elif view.square:
                state["acc"] = rollout_step(state["acc"], w)
            else:
                state["acc"] = w if state["acc"] is None else state["acc"] + w

        view.each_layer(keep)
        n_layers, matrix = state["n"], state["acc"]
        if matrix is None:
            raise RuntimeError("the model returned no attention weights")
        matrix = matrix.double().numpy()
        if want_layer >= 0:
            shown = f"layer {min(want_layer, n_layers - 1)}"
        elif view.square:
            shown = "rollout"
        else:
            matrix = matrix / n_layers
            shown = "mean over layers"
        n_heads = [state["heads"]]
        out = np.zeros((len(targets), len(subject.units)))
        for k, t in enumerate(targets):
            rows = [r for r in view.target_rows[t] if r < matrix.shape[0]]
            if not rows:
                continue
            row = matrix[rows].mean(axis=0)
            for c, u in enumerate(view.column_unit[: len(row)]):
                if u is not None:
                    out[k, u] += row[c]
            if skip:
                out[k] /= max(out[k].sum(), 1e-12)
        extras = {"layers": n_layers, "heads": int(n_heads[0]), "shown": shown,
                  "head": "mean" if want_head < 0 else min(want_head, n_heads[0] - 1), "kind": view.kind}
        return out, 1, {}, extras
