"""Each decoder layer's attention weights, one layer at a time: forward hooks on the layers'
self-attention hand them to a callback as each layer computes them, so a long input never holds
every layer's (layers x heads x n x n) at once. Used by the explanation engine's attention view
(explain.llm) and the tabs' attention maps (generation, summaries and translations, QA)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch


@contextlib.contextmanager
def each_layer_hooks(model: Any, keep: Callable[[torch.Tensor], None]) -> Iterator[bool]:
    """Hand each decoder layer's attention weights to ``keep`` as the layer computes them.
    Yields False (nothing hooked: the caller asks for ``output_attentions``) where the layers
    are not found."""
    layers = [m for name, m in model.named_modules() if name.endswith("self_attn") and ".layers." in name]
    owner = threading.get_ident()  # the model is shared: another thread's forward is not ours

    def hook(_module: Any, _args: Any, output: Any) -> None:
        if threading.get_ident() == owner and isinstance(output, tuple) and len(output) > 1 and isinstance(output[1], torch.Tensor):
            keep(output[1][0])

    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        yield bool(handles)
    finally:
        for h in handles:
            h.remove()


def decoder_attentions(loaded: Any, seq: list[int], keep: Callable[[torch.Tensor], None],
                       gate: contextlib.AbstractContextManager | None = None) -> None:
    """One eager forward of the decoder over ``seq``: each layer's attention weights (heads,
    n, n) go to ``keep`` as the layer computes them, so only one layer's exist at a time (or
    every layer's afterwards, where no layer could be hooked). ``gate``: the context the forward
    runs in (the model's eager gate; default ``models.gate(...).eager()``)."""
    from .. import models

    model = loaded.model
    ids = torch.tensor([seq], device=loaded.device)
    gate = gate if gate is not None else models.gate(loaded.spec.key).eager()
    with gate, torch.inference_mode(), models.eager_attention(model), models.guard_oom(), \
            each_layer_hooks(model, keep) as hooked:
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=not hooked, use_cache=False)
    if not hooked:
        for a in out.attentions:
            keep(a[0])


__all__ = ["decoder_attentions", "each_layer_hooks"]
