"""The Generation tab's views that cost one extra forward pass each: attention between the
prompt's and the output's words, and the logit lens. Part of :mod:`playground.tasks.generation`'s
interface (it re-exports them)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import models, text
from ..config import LIMITS
from ..errors import InputError
from ..explain import llm
from ..explain.layer_attention import decoder_attentions
from ..explain.units import pool_attention
from . import generation as gen
from .generation_pieces import Pieces


@dataclass
class AttentionMap:
    """Attention between the words of the user's prompt and of the output, from one eager
    forward over prompt + output (per-layer hooks: one layer's weights held at a time).

    ``attentions`` is (layers, heads, n, n) over ``tokens``, the words (prompt words first, then
    output words; Chinese grouped, byte pieces joined, never sub-word pieces): row i is what
    word i attended to, the mean over its tokens' rows, each column the sum over a word's
    tokens. The chat template, special tokens and the first-token "attention sink" are left out
    and every row is renormalised over the words shown, so the words compete among themselves.
    At most ``LIMITS.max_attention_tokens`` words are shown (the output's, then the prompt's
    last ones; ``truncated`` says so). Unpacks as ``tokens, att = attention(...)``."""

    tokens: list[str]
    attentions: np.ndarray
    truncated: bool
    n_prompt: int  # words [0, n_prompt) are the prompt's, the rest the output's
    user_tokens: tuple[int, int]  # the prompt's words among the rows (all of them: (0, n_prompt))

    def __iter__(self) -> Iterator[Any]:
        yield self.tokens
        yield self.attentions


def attention(result: gen.GenerationResult, loaded: models.LoadedModel | None = None) -> AttentionMap:
    """Every layer's attention between the prompt's and the output's words (see :class:`AttentionMap`)."""
    loaded = gen._loaded_for(result, loaded)
    seq = result.sequence_ids
    us, ue = result.user_span
    prompt_words = text.words(result.prompt_text[us:ue])
    offsets = result.prompt_offsets or text.encode_with_offsets(loaded.tokenizer, result.prompt_text, False)[1]
    prompt_of = text.words_of_pieces(list(offsets), (us, ue), prompt_words)
    out_words, out_of = llm.token_words(llm.output_token_texts(loaded.tokenizer, result.output_ids))
    cap = LIMITS.max_attention_tokens
    n_out = min(len(out_words), cap // 2)
    n_pw = min(len(prompt_words), cap - n_out)
    first_pw = len(prompt_words) - n_pw
    # Each position's row/column in the word view (None: template, special, or not shown).
    where: list[int | None] = [None if w is None or w < first_pw else w - first_pw for w in prompt_of]
    where += [None if w is None or w >= n_out else n_pw + w for w in out_of]
    n = n_pw + n_out
    layers: list[np.ndarray] = []

    def keep(weights: torch.Tensor) -> None:
        layers.append(pool_attention(weights.float().cpu().numpy(), where, n))  # (heads, n, n)

    decoder_attentions(loaded, seq, keep)
    labels = [w.text for w in prompt_words[first_pw:]] + [w.text for w in out_words[:n_out]]
    return AttentionMap(
        tokens=labels,
        attentions=np.stack(layers) if layers else np.zeros((0, 0, n, n)),
        truncated=n_pw < len(prompt_words) or n_out < len(out_words),
        n_prompt=n_pw,
        user_tokens=(0, n_pw),
    )


def _final_norm(model: Any) -> Any:
    """The norm the model applies before its LM head: Llama/Gemma/Qwen ``model.norm``, GPT-2
    ``transformer.ln_f``, GPT-NeoX ``gpt_neox.final_layer_norm``."""
    for path in ("model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm", "model.final_layernorm"):
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise NotImplementedError(
        f"logit lens: cannot find the final norm of {type(model).__name__} "
        "(looked for model.norm, transformer.ln_f, gpt_neox.final_layer_norm)"
    )


def logit_lens(result: gen.GenerationResult, loaded: models.LoadedModel | None = None, position: int = -1, top: int = 5) -> dict[str, Any]:
    """What each layer would predict at ``position`` of prompt + output (negative counts from
    the end), read through the final norm and LM head: the answer forming layer by layer.

    Returns ``{"position", "token", "next_token", "layers": [{"layer": i, "top": [(token, p)]}]}``
    with one entry per transformer block (i = 1..num_hidden_layers, after block i); the last is
    the model's real output distribution. ``next_token`` is the token that actually followed
    (None at the last position). Out of range: InputError "bad_position"."""
    loaded = gen._loaded_for(result, loaded)
    seq = result.sequence_ids
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or not -len(seq) <= position < len(seq):
        raise InputError("bad_position",
                         position=str(position)[:20], last=len(seq) - 1)
    position = int(position) % len(seq)
    top = int(min(20, max(1, top)))
    model = loaded.model
    norm = _final_norm(model)
    head = model.get_output_embeddings()
    cap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    # Causal: the positions after ``position`` change nothing there, so the forward stops at it.
    ids = torch.tensor([seq[: position + 1]], device=loaded.device)
    with torch.inference_mode(), models.guard_oom():
        # Only the last position's logits are read: never the whole prefix's (Gemma: 262,144 a
        # position, 1 GB for a 1,000-token prefix).
        keep = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True, use_cache=False,
                    **keep)
        hidden = out.hidden_states  # embeddings, then each block's output
        n_layers = len(hidden) - 1
        rows = []
        for i in range(1, n_layers + 1):
            if i == n_layers:
                # The model's own output: its last hidden state may or may not be normed already.
                logits = out.logits[0, -1].float()
            else:
                logits = head(norm(hidden[i][:, -1:]))[0, -1].float()
                if cap:
                    logits = torch.tanh(logits / cap) * cap
            rows.append(torch.softmax(logits, dim=-1))
        probs = torch.stack(rows)
        values, indices = probs.topk(top, dim=-1)
    piece = Pieces(loaded.tokenizer)
    return {
        "position": position,
        "token": piece(seq[position]),
        "next_token": piece(seq[position + 1]) if position + 1 < len(seq) else None,
        "layers": [
            {"layer": i + 1, "top": [(piece.after([], t), float(p)) for t, p in zip(ti, vi)]}
            for i, (ti, vi) in enumerate(zip(indices.tolist(), values.tolist()))
        ],
    }


__all__ = ["AttentionMap", "attention", "logit_lens"]
