"""Gradients of several targets from one forward: what Integrated Gradients and gradient x input
share.

Captum's ``LayerIntegratedGradients`` explains one target per run, so a k-target matrix costs k
runs (Captum's LLM attribution re-integrates once per output token: ~360 rows for a 20-token
answer). Here the embedding layer's output is replaced, through a forward hook, by a batch of
points on the path; one forward gives every target for every point, and one backward per
explained target (``retain_graph``) takes its gradient. Explaining one target costs one target;
the full matrix costs one forward per chunk of steps plus one backward per target. The path's
points and weights are Captum's (Gauss-Legendre, its default), so for one target the result is
Captum's (the tests check it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from .. import priority
from .base import GradientView, Stopped

# What one gradient forward (rows x tokens, every layer's activations kept for the backward) may
# hold: rows per forward are chosen to fit it (plan_rows). Measured on 2 CPU cores, weights
# frozen (models.load): SmolLM2-135M keeps 0.9 MB a token, Gemma-3-270M 0.95 MB, so before this
# a 1,024-token chunk held ~1.4 GB (1.35 MB a token with trainable weights).
GRAD_MEMORY = 512 * 2**20


def _config_int(cfg: Any, *names: str) -> int:
    for name in names:
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def activation_bytes(model: Any) -> int:
    """An upper estimate of what a gradient forward keeps per token for the backward: float32,
    about 8 hidden-size and 4 MLP-size vectors per layer (SmolLM2-135M: 1.29 MB estimated, 0.9
    measured; Gemma-3-270M: 0.96 estimated, 0.95 measured)."""
    cfg = model.config
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    hidden = _config_int(cfg, "hidden_size", "n_embd", "d_model", "dim") or 768
    layers = (_config_int(cfg, "num_hidden_layers", "n_layer", "n_layers", "num_layers")
              + _config_int(cfg, "decoder_layers", "num_decoder_layers")) or 12
    mlp = _config_int(cfg, "intermediate_size", "n_inner", "hidden_dim", "encoder_ffn_dim", "d_ff") or 4 * hidden
    return 4 * layers * (8 * hidden + 4 * mlp)


def _layer_bytes(model: Any) -> int:
    """What a checkpointed gradient forward keeps per token: each layer's input (hidden size),
    plus one layer's activations while the backward recomputes it."""
    cfg = model.config
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    hidden = _config_int(cfg, "hidden_size", "n_embd", "d_model", "dim") or 768
    layers = max(1, len(_layers(model)))
    return 4 * layers * hidden + activation_bytes(model) // layers


def plan_rows(model: Any, tokens: int, cap: int, budget: int = GRAD_MEMORY) -> tuple[int, bool]:
    """(rows per gradient forward, checkpoint the layers) for inputs of ``tokens`` tokens: as
    many rows (at most ``cap``) as keep ``rows x tokens x activation_bytes`` under ``budget``;
    where even one row would not fit, the layers recompute their activations in the backward
    (one more forward's time) and the rows are counted at that cost."""
    tokens, cap = max(1, int(tokens)), max(1, int(cap))
    per_row = tokens * activation_bytes(model)
    if per_row <= budget or not _layers(model):
        return max(1, min(cap, budget // per_row)), False
    return max(1, min(cap, budget // (tokens * _layer_bytes(model)))), True


def _layers(model: Any) -> list[torch.nn.Module]:
    """The model's transformer layers (transformers' GradientCheckpointingLayer)."""
    try:
        from transformers.modeling_layers import GradientCheckpointingLayer
    except ImportError:  # an older transformers: no checkpointing, only fewer rows
        return []
    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]


_checkpointing = threading.local()  # .model: the model whose layers this thread checkpoints
_installed_lock = threading.Lock()


def _install(model: Any) -> None:
    """Give each layer of ``model`` (once) a forward that checkpoints when this thread asked
    for it (:func:`checkpointed`) and gradients are on; every other forward (another thread's
    generation, any no-grad pass) runs the layer as it is."""
    with _installed_lock:
        if getattr(model, "_playground_checkpointable", False):
            return
        from torch.utils.checkpoint import checkpoint

        for layer in _layers(model):
            plain = layer.forward

            def forward(*args: Any, _plain: Any = plain, **kwargs: Any) -> Any:
                if getattr(_checkpointing, "model", None) is model and torch.is_grad_enabled():
                    return checkpoint(_plain, *args, use_reentrant=False, **kwargs)
                return _plain(*args, **kwargs)

            layer.forward = forward
        model._playground_checkpointable = True


@contextlib.contextmanager
def checkpointed(model: Any) -> Iterator[None]:
    """While active, in this thread, each transformer layer of ``model`` keeps only its input
    for the backward and recomputes its activations there (torch.utils.checkpoint): a gradient
    forward then holds about one layer's activations instead of every layer's."""
    if model is None:
        yield
        return
    _install(model)
    before = getattr(_checkpointing, "model", None)
    _checkpointing.model = model
    try:
        yield
    finally:
        _checkpointing.model = before


@contextlib.contextmanager
def replaced_output(layer: torch.nn.Module, value: Callable[[], torch.Tensor]) -> Iterator[None]:
    """While active, the first call of ``layer`` in each forward returns ``value()`` instead of
    its own output. Only the first: an encoder-decoder whose encoder and decoder share one
    embedding module (T5) must keep the decoder's own embeddings."""
    state = {"armed": True}
    # The model is shared: a prediction or another explanation may run it in another thread
    # meanwhile (the app's concurrency groups), and must see its own embeddings.
    owner = threading.get_ident()

    def hook(_module: torch.nn.Module, _args: object, output: torch.Tensor) -> torch.Tensor | None:
        if not state["armed"] or threading.get_ident() != owner:
            return None
        state["armed"] = False
        return value()

    handle = layer.register_forward_hook(hook)
    try:
        yield state  # type: ignore[misc]
    finally:
        handle.remove()


def path_points(steps: int) -> tuple[list[float], list[float]]:
    """Captum's Gauss-Legendre points on [0, 1] and their weights."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters("gausslegendre")
    return list(alphas(steps)), list(step_sizes(steps))


def embeddings(view: GradientView) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's output on the input and on the baseline, (T, hidden) each, no graph."""
    with torch.no_grad():
        x = view.layer(view.input_ids)[0].detach()
        b = view.layer(view.baseline_ids)[0].detach()
    return x, b


def integrate(view: GradientView, targets: list[int], alphas: list[float], weights: list[float],
              stop: threading.Event | None = None, on_rows: Callable[[int], None] | None = None,
              times_input: bool = False) -> tuple[np.ndarray, int]:
    """Sum over path points of weight x gradient of each target at that point, times
    (input - baseline) (``times_input``: times the input itself, for gradient x input), summed
    over the hidden size: a (len(targets), T) array per position, and the rows run."""
    x, b = embeddings(view)
    diff = x - b
    grad_sum = torch.zeros((len(targets),) + tuple(x.shape), dtype=torch.float32, device=x.device)
    rows_run = 0
    chunk = max(1, int(view.max_rows))
    for start in range(0, len(alphas), chunk):
        if stop is not None and stop.is_set():
            raise Stopped()
        priority.give_way()  # a prediction running now has the cores first
        a = torch.tensor(alphas[start : start + chunk], dtype=x.dtype, device=x.device).view(-1, 1, 1)
        w = torch.tensor(weights[start : start + chunk], dtype=torch.float32, device=x.device).view(-1, 1, 1)
        points = (b.unsqueeze(0) + a * diff.unsqueeze(0)).detach().requires_grad_(True)
        rows_run += _accumulate(view, points, targets, w, grad_sum)
        if on_rows is not None:
            on_rows(rows_run)
    factor = x.float() if times_input else diff.float()
    per_position = (grad_sum * factor.unsqueeze(0)).sum(dim=-1)
    return per_position.detach().cpu().numpy(), rows_run


def _accumulate(view: GradientView, points: torch.Tensor, targets: list[int], w: torch.Tensor,
                grad_sum: torch.Tensor) -> int:
    """One forward over ``points``, one backward per target; adds weight x gradient into
    ``grad_sum`` and returns the rows run (the graph is freed when this returns)."""
    with torch.enable_grad(), replaced_output(view.layer, lambda: points), checkpointed(view.checkpoint):
        out = view.run(points.shape[0])  # (rows, n_targets)
        for k, t in enumerate(targets):
            (g,) = torch.autograd.grad(out[:, t].sum(), points, retain_graph=k < len(targets) - 1)
            grad_sum[k] += (g.float() * w).sum(dim=0)
    return int(points.shape[0])


def values_at(view: GradientView, alphas: list[float]) -> np.ndarray:
    """The targets at the given path points, no gradients: (len(alphas), n_targets)."""
    x, b = embeddings(view)
    a = torch.tensor(alphas, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    points = b.unsqueeze(0) + a * (x - b).unsqueeze(0)
    with torch.no_grad(), replaced_output(view.layer, lambda: points):
        out = view.run(points.shape[0])
    return out.detach().float().cpu().numpy()


def pool(per_position: np.ndarray, position_unit: list[int | None], n_units: int) -> np.ndarray:
    """(k, T) per-position scores summed into (k, n_units): attributions add up."""
    out = np.zeros((per_position.shape[0], n_units))
    for p, u in enumerate(position_unit[: per_position.shape[1]]):
        if u is not None:
            out[:, u] += per_position[:, p]
    return out
