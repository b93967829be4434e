"""Which source words made an encoder-decoder (BART, Marian, T5) write each output token.

The same question, the same target and the same result type as
:mod:`playground.explain.generation_attribution` (whose methods and options this module shares),
for a model that reads the source with an encoder: ``matrix[i, j]`` is how much source word ``j``
raised the log-probability of output token ``i`` given the source and the output tokens before
it (teacher forcing: the output is held fixed, never regenerated).

- ``feature_ablation``, ``lime``, ``shap``: Captum's ``LLMAttribution`` over a
  ``TextTemplateInput`` of the source words, exactly as for decoders; only the batched scoring
  function differs: perturbed sources are encoded (special tokens added, as the model was fed),
  right-padded with an attention mask, and the fixed decoder input ``prefix + output[:-1]`` is
  scored in one forward per batch.
- ``integrated_gradients``: Captum's ``LayerIntegratedGradients`` on the *encoder's* token
  embedding module (the decoder's is a separate module in transformers 5, so the decoder input is
  never interpolated), once per output token, from a baseline where every source-word token is
  the unk token (special tokens and a task prefix such as T5's "translate English to German: "
  stay as they are). Token scores are summed into words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import text
from ..text import Span
from .generation_attribution import (
    BATCH_ROWS,
    GenerationAttribution,
    Progress,
    _CountingModel,
    _fallback_token_id,
    perturbation,
    run_attribution,
)

# The kept logits of one batch are rows x output positions x vocabulary floats; cap them.
_MAX_LOGIT_FLOATS = 64 * 2**20


def _encode_source(tokenizer: Any, model_text: str, fallback: int) -> list[int]:
    ids = list(tokenizer(model_text)["input_ids"])  # special tokens added: as the model was fed
    return ids or [fallback]


def seq2seq_logprobs(counting: _CountingModel, sources: list[list[int]], decoder_prefix: list[int], output_ids: list[int],
                     pad_id: int, context: Callable[[], Any]) -> torch.Tensor:
    """log p(output_i | source, prefix, output_<i) for each source: (len(sources), n_out), float32
    on the CPU. The decoder input is the same for every row; sources are right-padded."""
    device = counting.device
    n_out = len(output_ids)
    vocab = int(getattr(counting.inner.config, "vocab_size", 50_000) or 50_000)
    rows_cap = max(1, min(BATCH_ROWS, _MAX_LOGIT_FLOATS // max(1, n_out * vocab)))
    decoder = list(decoder_prefix) + list(output_ids[:-1])
    first = len(decoder_prefix) - 1  # the position that predicts output token 0
    target = torch.tensor(output_ids, device=device)
    order = sorted(range(len(sources)), key=lambda r: (len(sources[r]), sources[r]))
    result = torch.zeros((len(sources), n_out))
    for start in range(0, len(order), rows_cap):
        picked_rows = order[start : start + rows_cap]
        chunk = [sources[r] for r in picked_rows]
        width = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, p in enumerate(chunk):
            ids[r, : len(p)] = torch.tensor(p)
            mask[r, : len(p)] = 1
        dec = torch.tensor([decoder], dtype=torch.long).expand(len(chunk), -1)
        with torch.no_grad(), context():
            logits = counting(input_ids=ids.to(device), attention_mask=mask.to(device),
                              decoder_input_ids=dec.to(device)).logits[:, first:]
            logp = torch.log_softmax(logits.float(), dim=-1)
            picked = logp.gather(2, target.view(1, n_out, 1).expand(len(chunk), -1, -1)).squeeze(-1)
        result[picked_rows] = picked.cpu()
    return result


def seq2seq_scorer(loaded: Any, decoder_prefix: list[int], output_ids: list[int],
                   on_rows: Callable[[int], None] | None = None) -> tuple[Callable[[list[str]], torch.Tensor], _CountingModel]:
    """The batched scoring function of an encoder-decoder: model-input texts (prefix + source)
    -> (rows, n_out) teacher-forced log-probabilities of ``output_ids``."""
    counting = _CountingModel(loaded.model, on_rows=on_rows)
    tok = loaded.tokenizer
    fallback = _fallback_token_id(tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else fallback

    def score(texts: list[str]) -> torch.Tensor:
        sources = [_encode_source(tok, t, fallback) for t in texts]
        return seq2seq_logprobs(counting, sources, decoder_prefix, output_ids, pad, loaded.scoring_context)

    return score, counting


def _integrated_gradients(loaded: Any, model_text: str, source_span: tuple[int, int], words: list[Span],
                          decoder_prefix: list[int], output_ids: list[int], steps: int,
                          report: Callable[[int], None]) -> tuple[np.ndarray, int]:
    from captum.attr import LayerIntegratedGradients

    tok, model = loaded.tokenizer, loaded.model
    ids, offsets = text.encode_with_offsets(tok, model_text, add_special_tokens=True)
    word_of = text.words_of_pieces(offsets, source_span, words)
    matrix = np.zeros((len(output_ids), len(words)))
    if not any(w is not None for w in word_of):
        return matrix, 0
    device = loaded.device
    src = torch.tensor([ids], device=device)
    baseline = torch.tensor([[_fallback_token_id(tok) if w is not None else i for i, w in zip(ids, word_of)]], device=device)
    counting = _CountingModel(model, on_rows=report)
    decoder = list(decoder_prefix) + list(output_ids)

    def forward(src_ids: torch.Tensor, i: int) -> torch.Tensor:
        rows = src_ids.shape[0]
        dec = torch.tensor([decoder[: len(decoder_prefix) + i]], device=device).expand(rows, -1)
        logits = counting(input_ids=src_ids, attention_mask=torch.ones_like(src_ids), decoder_input_ids=dec).logits[:, -1]
        return torch.log_softmax(logits.float(), dim=-1)[:, output_ids[i]]

    lig = LayerIntegratedGradients(forward, model.get_encoder().embed_tokens)
    with torch.enable_grad():
        for i in range(len(output_ids)):
            attr = lig.attribute(src, baselines=baseline, additional_forward_args=(i,), n_steps=steps, internal_batch_size=steps)
            per_token = attr.sum(dim=-1)[0].float().detach().cpu().numpy()
            for k, w in enumerate(word_of):
                if w is not None:
                    matrix[i, w] += per_token[k]
    return matrix, counting.rows


def attribute(
    loaded: Any,
    model_text: str,
    source_span: tuple[int, int],
    decoder_prefix: list[int],
    output_ids: list[int],
    method: str,
    options: dict | None = None,
    progress: Progress | None = None,
) -> GenerationAttribution:
    """Score each word of ``model_text[source_span[0]:source_span[1]]`` for each of
    ``output_ids``, which the encoder-decoder in ``loaded`` wrote after ``decoder_prefix`` (its
    decoder start token, and a forced first token such as BART's ``<s>``) from ``model_text``.
    Same methods, options, errors and result as :func:`generation_attribution.attribute`."""
    if not decoder_prefix:
        raise ValueError("decoder_prefix must hold at least the decoder's start token")
    prefix = list(decoder_prefix)
    ids = [int(t) for t in (output_ids or [])]
    span = (int(source_span[0]), int(source_span[1]))

    def compute(words: list[Span], opts: dict[str, Any], report: Callable[[int], None]) -> tuple[np.ndarray, int]:
        name = opts.pop("method")
        if name == "integrated_gradients":
            return _integrated_gradients(loaded, model_text, span, words, prefix, ids, opts["ig_steps"], report)
        score, counting = seq2seq_scorer(loaded, prefix, ids, report)
        return perturbation(model_text, span, words, len(ids), name, opts, score, counting)

    return run_attribution(loaded.tokenizer, model_text, span, ids, method, options, progress, compute)


__all__ = ["attribute", "seq2seq_logprobs", "seq2seq_scorer"]
