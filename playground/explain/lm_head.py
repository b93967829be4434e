"""A decoder's log-probabilities from its LM head, a few positions at a time.

Where a decoder's logits are ``lm_head(base_model(...).last_hidden_state)`` (the model types in
:data:`_PLAIN_HEADS`), the explanation engine runs the body once and the head on a few kept
positions at a time, so a batch never holds rows x positions x vocabulary logits at once."""

from __future__ import annotations

from typing import Any

import torch

# Decoders: the log-probabilities come from the LM head run on the kept positions a few at a
# time (head_logprobs), at most this many logits at once. Gemma's vocabulary is 262,144 words: a
# batch of 8 rows x 32 output tokens was 67 M logits, 268 MB a copy, and the log-softmax held
# three copies.
HEAD_FLOATS = 8 * 2**20

# Decoders whose logits are lm_head(base_model(...).last_hidden_state), soft-capped where the
# config says (Gemma 2): transformers' own forward for these model types.
_PLAIN_HEADS = frozenset({"gpt2", "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "smollm3"})


def split_head(model: Any) -> tuple[Any, Any, float | None] | None:
    """(base model, LM head, logit soft-cap) of a decoder of :data:`_PLAIN_HEADS`, so that the
    log-probabilities can be taken a few positions at a time (:func:`head_logprobs`); None for
    any other model (its own forward then gives the logits)."""
    cfg = model.config
    if getattr(cfg, "is_encoder_decoder", False) or getattr(cfg, "model_type", "") not in _PLAIN_HEADS:
        return None
    base, head = getattr(model, "base_model", None), model.get_output_embeddings()
    if base is None or base is model or head is None or getattr(head, "weight", None) is None:
        return None
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    cap = getattr(text_cfg, "final_logit_softcapping", None)
    return base, head, float(cap) if cap else None


def pick_logprobs(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(target) at each position: the target's logit less the log-sum-exp, without the
    rows x positions x vocabulary log-softmax tensor (262k columns for Gemma)."""
    logits = logits.float()
    picked = logits.gather(2, target.view(1, -1, 1).expand(logits.shape[0], -1, -1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def head_logprobs(split: tuple[Any, Any, float | None], hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(target_i) from the LM head on ``hidden`` (rows, n_out, hidden size) -> (rows,
    n_out), a few positions at a time: at most :data:`HEAD_FLOATS` logits exist at once
    (Gemma: 262,144 per position and row), and with gradients each chunk's logits are
    recomputed in the backward instead of kept."""
    from torch.utils.checkpoint import checkpoint

    _, head, cap = split
    rows, n_out = hidden.shape[0], hidden.shape[1]
    step = max(1, HEAD_FLOATS // max(1, rows * int(head.weight.shape[0])))

    def chunk(h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = head(h)
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return pick_logprobs(logits, t)

    parts = []
    for a in range(0, n_out, step):
        h, t = hidden[:, a : a + step], target[a : a + step]
        if torch.is_grad_enabled() and h.requires_grad:
            parts.append(checkpoint(chunk, h, t, use_reentrant=False))
        else:
            parts.append(chunk(h, t))
    return torch.cat(parts, dim=1) if parts else hidden.new_zeros((rows, 0), dtype=torch.float32)


__all__ = ["HEAD_FLOATS", "head_logprobs", "pick_logprobs", "split_head"]
