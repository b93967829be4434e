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

import numpy as np
import torch

from .base import GradientView, Stopped


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
    with torch.enable_grad(), replaced_output(view.layer, lambda: points):
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
