"""Explaining generated text: one Subject for decoders and encoder-decoders.

**Targets.** The output is held fixed (teacher forcing, never regenerated). Target 0 is the
log-probability of the whole output; target 1 + i that of output word i (the sum over its
tokens: the page shows words, never byte pieces). Log-probabilities add up, so the word targets
sum to the whole.

**Units.** The words of the explained parts of the model's input (the user's prompt, the source,
a question and a context), Chinese by jieba. A chat template, an instruction or few-shot examples
around them are never explained and never perturbed.

**Scorer.** A keep-mask becomes the model input with each removed word *and the whitespace
before it* taken out ("I loved this" -> "I this"), tokenized as the model reads it; one
teacher-forced forward per batch scores every output token at once, right-padded, keeping only
the output positions' logits, under the model's bf16 autocast on CPUs that have it.

**Gradients.** At the input embedding layer (the encoder's, for an encoder-decoder): the
explained words' tokens move between the input and a baseline of the unk token (pad, then eos,
where there is none); everything else stays as it was read.

**Attention.** Decoders: self-attention from the positions that wrote each output word to the
prompt's words, from one eager forward with per-layer hooks (only one layer's weights held at a
time). Encoder-decoders: cross-attention from the output positions to the source words.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import text
from ..text import Span
from . import gradients
from .base import AttentionView, GradientView, MaskScorer, Subject, Target, Unit, subject_key
from .layer_attention import decoder_attentions
from .lm_head import head_logprobs, pick_logprobs, split_head
from .units import merge_within_pieces

# Rows per teacher-forced forward. Measured on SmolLM2-135M, 2 CPU cores, ~55-token rows
# (bench/attribution.py): per-row time falls from batch 1 to 8 and is flat from 16.
BATCH_ROWS = 16
# Any other model (encoder-decoders) returns its logits whole: rows x output positions x
# vocabulary floats, capped per batch.
MAX_LOGIT_FLOATS = 16 * 2**20
# Tokens per scoring batch (at least MIN_ROWS rows): a batch of long prompts stays short in time,
# so Stop, checked between batches, answers within a second or two (a 400-token prompt on Gemma-
# 3-270M is ~0.3 s per row on 2 CPU cores); short prompts still batch 16 rows.
SCORE_ROW_TOKENS = 1536
MIN_ROWS = 4
STOP_SECONDS = 2.0  # the longest a batch should take (see subject())
BATCHED_ROW = 0.55
REMOVAL = ("removal_delete", {})  # the word and the whitespace before it leave the model input


@dataclass
class LLMInput:
    """What the model read and wrote. ``model_text`` is exactly what it read (decoder: the
    whole prompt, special tokens written out, tokenized with none added; encoder-decoder: the
    encoder's text, special tokens added by the tokenizer). ``parts`` are the explained spans
    of it, ``(part name, start, end)``, in order. ``decoder_prefix``: an encoder-decoder's
    start token(s) before ``output_ids``."""

    model_text: str
    parts: list[tuple[str, int, int]]
    output_ids: list[int]
    encoder_decoder: bool = False
    decoder_prefix: list[int] = field(default_factory=list)


def fallback_token_id(tokenizer: Any) -> int:
    for name in ("unk_token_id", "pad_token_id", "eos_token_id", "bos_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            return value
    return 0


def output_token_texts(tokenizer: Any, output_ids: list[int]) -> list[str]:
    """Each output token as the text it adds (spaces kept); "" for a byte token that only starts
    a character (the token that completes it carries the character), so they join into the
    decoded output and never show "\ufffd" (except for bytes that no token completes: the last
    token carries what the tokenizer decodes them to)."""
    out: list[str] = []
    done = ""
    for i in range(len(output_ids)):
        now = tokenizer.decode(output_ids[: i + 1], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if now.endswith("\ufffd") or not now.startswith(done):
            out.append("")
            if not now.endswith("\ufffd"):
                done = now
            continue
        out.append(now[len(done) :])
        done = now
    if out:
        # Bytes that no later token completed (a model can end on, or write, an invalid
        # sequence): the last token carries what they decode to, so the output is all there.
        final = tokenizer.decode(output_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if final != done and final.startswith(done):
            out[-1] += final[len(done) :]
    return out


def token_words(token_texts: list[str]) -> tuple[list[Span], list[int | None]]:
    """The output in words (offsets into the joined token texts) and each token's word. Every
    token lands in a word (log-probabilities add up over the output): a token of pure
    whitespace, or a byte token that only starts a character, joins the next word; one after
    the last word joins the last word."""
    joined = "".join(token_texts)
    cuts = np.cumsum([0] + [len(t) for t in token_texts]).tolist()
    offsets = [(cuts[i], cuts[i + 1]) for i in range(len(token_texts))]
    units = merge_within_pieces(text.words(joined), offsets, joined)
    word_of = text.piece_to_word(offsets, units)
    nxt: int | None = None
    for i in range(len(word_of) - 1, -1, -1):
        if word_of[i] is None:
            word_of[i] = nxt
        else:
            nxt = word_of[i]
    prev: int | None = None
    for i, w in enumerate(word_of):
        if w is None:
            word_of[i] = prev
        else:
            prev = w
    return units, word_of


class _Template:
    """The model input with its explained words as slots: slot j is word j with the whitespace
    before it (inside its part), so removing a word removes both."""

    def __init__(self, model_text: str, parts: list[tuple[str, int, int]]) -> None:
        self.units: list[Unit] = []
        self.fixed: list[str] = []  # fixed[j] comes before slot j; fixed[-1] after the last
        self.slots: list[str] = []
        self.abs_spans: list[tuple[int, int]] = []  # each unit's span in model_text
        self.part_texts: dict[str, str] = {}
        pos = 0
        pending = ""
        for name, start, end in parts:
            part = model_text[start:end]
            self.part_texts[name] = part
            pending += model_text[pos:start]
            prev = 0
            for w in text.words(part):
                self.fixed.append(pending + "")
                self.slots.append(part[prev : w.end])
                self.units.append(Unit(w.text, w.start, w.end, name))
                self.abs_spans.append((start + w.start, start + w.end))
                pending = ""
                prev = w.end
            pending += part[prev:]
            pos = end
        self.fixed.append(pending + model_text[pos:])

    def fill(self, keep: np.ndarray, replace: dict[int, str] | None = None) -> str:
        """The model input with the words not kept removed, and words ``replace`` names
        replaced (the whitespace before each stays)."""
        out = []
        for j, slot in enumerate(self.slots):
            out.append(self.fixed[j])
            if keep[j]:
                if replace and j in replace:
                    u = self.units[j]
                    slot = slot[: len(slot) - (u.end - u.start)] + replace[j]
                out.append(slot)
        out.append(self.fixed[-1])
        return "".join(out)


class _Counting(torch.nn.Module):
    """The model with the cache off and every forward's rows counted."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.inner = model
        self.rows = 0
        self.keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        # A 2-D logits_to_keep (one set of positions per row) needs transformers' row-wise
        # slicing (5.21+; Python 3.10 installs 5.20, which takes only an int or a 1-D index).
        from transformers import modeling_utils

        self.keeps_row_logits = self.keeps_logits and hasattr(modeling_utils, "slice_logits_to_keep")

        self.split = split_head(model)

    def forward(self, **kwargs: Any) -> Any:
        kwargs.setdefault("use_cache", False)
        out = self.inner(**kwargs)
        self.rows += int(kwargs["input_ids"].shape[0])
        return out

    def hidden(self, **kwargs: Any) -> torch.Tensor:
        """The last hidden state (what the LM head reads) of a model with a split head."""
        assert self.split is not None
        kwargs.setdefault("use_cache", False)
        out = self.split[0](**kwargs)
        self.rows += int(kwargs["input_ids"].shape[0])
        return out.last_hidden_state


def _vocab(model: Any) -> int:
    cfg = model.config
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    return int(getattr(cfg, "vocab_size", 50_000) or 50_000)


def _decoder_logprobs(counting: _Counting, prompts: list[list[int]], output_ids: list[int], pad_id: int,
                      grad: bool = False) -> torch.Tensor:
    """log p(output_i | prompt, output_<i) for each prompt: (len(prompts), n_out). Rows are
    right-padded (causal attention never looks at the padding after a row)."""
    device = counting.inner.device
    n_out = len(output_ids)
    width = max(len(p) for p in prompts) + n_out
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    where = torch.empty((len(prompts), n_out), dtype=torch.long)
    for r, p in enumerate(prompts):
        row = p + list(output_ids)
        ids[r, : len(row)] = torch.tensor(row)
        mask[r, : len(row)] = 1
        where[r] = torch.arange(len(p) - 1, len(p) - 1 + n_out)  # position i predicts token i+1
    ids, mask, where = ids.to(device), mask.to(device), where.to(device)
    target = torch.tensor(output_ids, device=device)
    with torch.set_grad_enabled(grad):
        if counting.split is not None:
            hidden = counting.hidden(input_ids=ids, attention_mask=mask)
            kept = hidden.gather(1, where.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
            del hidden
            return head_logprobs(counting.split, kept, target)
        if counting.keeps_row_logits:
            logits = counting(input_ids=ids, attention_mask=mask, logits_to_keep=where).logits
        else:
            logits = counting(input_ids=ids, attention_mask=mask).logits
        if logits.shape[1] != n_out:  # the model ignored the positions: pick them here
            logits = logits.gather(1, where.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
        return pick_logprobs(logits, target)


def _seq2seq_logprobs(counting: _Counting, sources: list[list[int]], decoder_prefix: list[int], output_ids: list[int],
                      pad_id: int, grad: bool = False) -> torch.Tensor:
    """log p(output_i | source, prefix, output_<i) for each source: (len(sources), n_out)."""
    device = counting.inner.device
    decoder = list(decoder_prefix) + list(output_ids[:-1])
    first = len(decoder_prefix) - 1  # the position that predicts output token 0
    width = max(len(s) for s in sources)
    ids = torch.full((len(sources), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sources), width), dtype=torch.long)
    for r, s in enumerate(sources):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
    dec = torch.tensor([decoder], dtype=torch.long).expand(len(sources), -1)
    target = torch.tensor(output_ids, device=device)
    with torch.set_grad_enabled(grad):
        logits = counting(input_ids=ids.to(device), attention_mask=mask.to(device), decoder_input_ids=dec.to(device)).logits
        return pick_logprobs(logits[:, first:], target)


def _word_sums(token_word: list[int | None], n_words: int) -> torch.Tensor:
    """(n_out tokens, 1 + n_words): column 0 sums every token (the whole output), column 1 + w
    the tokens of word w."""
    m = torch.zeros((len(token_word), 1 + n_words))
    m[:, 0] = 1.0
    for i, w in enumerate(token_word):
        if w is not None:
            m[i, 1 + w] = 1.0
    return m


def subject(loaded: Any, inp: LLMInput, task: str, *, eager: Callable[[], contextlib.AbstractContextManager] | None = None,
            truncated: bool = False) -> Subject:
    """The Subject of one generated output (see the module docstring). ``eager`` is a context
    that the attention forward runs in (the generation tab's model gate)."""
    from .. import models

    tok, model = loaded.tokenizer, loaded.model
    fallback = fallback_token_id(tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else fallback
    output_ids = [int(t) for t in inp.output_ids]
    template = _Template(inp.model_text, inp.parts)
    out_texts = output_token_texts(tok, output_ids)
    out_words, token_word = token_words(out_texts)
    sums = _word_sums(token_word, len(out_words))
    n_targets = 1 + len(out_words)
    counting = _Counting(model)
    n_tokens = len(tok(inp.model_text, add_special_tokens=inp.encoder_decoder)["input_ids"]) + len(output_ids)
    logit_rows = BATCH_ROWS if counting.split is not None else MAX_LOGIT_FLOATS // max(1, len(output_ids) * _vocab(model))
    rows_cap = max(1, min(BATCH_ROWS, logit_rows, max(MIN_ROWS, SCORE_ROW_TOKENS // max(1, n_tokens))))

    def encode(t: str) -> list[int]:
        if inp.encoder_decoder:
            ids = list(tok(t)["input_ids"])
        else:
            ids = list(tok(t, add_special_tokens=False)["input_ids"])
            if not ids:  # nothing left to condition on: the start token alone
                bos = getattr(tok, "bos_token_id", None)
                ids = [bos if isinstance(bos, int) else fallback]
        return ids or [fallback]

    def batch(masks: np.ndarray) -> np.ndarray:
        return values([template.fill(m) for m in masks])

    def rewrite(replace: dict[int, str]) -> np.ndarray:
        return values([template.fill(np.ones(len(template.units), dtype=bool), replace)])[0]

    def values(texts: list[str]) -> np.ndarray:
        inputs = [encode(t) for t in texts]
        with models.guard_oom(), loaded.scoring_context():
            if inp.encoder_decoder:
                logp = _seq2seq_logprobs(counting, inputs, inp.decoder_prefix, output_ids, pad)
            else:
                logp = _decoder_logprobs(counting, inputs, output_ids, pad)
        return (logp.float().cpu() @ sums).numpy()

    score = MaskScorer(batch, len(template.units), n_targets, batch_size=rows_cap, removal=REMOVAL)

    # Gradients and attention work on the ids the model read.
    ids, offsets = text.encode_with_offsets(tok, inp.model_text, add_special_tokens=inp.encoder_decoder)
    position_unit: list[int | None] = [None] * len(ids)
    for k, (a, b) in enumerate(offsets):
        if b <= a:
            continue
        for u, (s, e) in enumerate(template.abs_spans):
            if a < e and b > s:
                position_unit[k] = u
                break
    device = loaded.device
    sums_dev = sums.to(device)
    if inp.encoder_decoder:
        src = torch.tensor([ids], device=device)
        layer = model.get_encoder().get_input_embeddings()
        dec_ids = list(inp.decoder_prefix) + output_ids[:-1]
        first = len(inp.decoder_prefix) - 1
        target = torch.tensor(output_ids, device=device)

        def run(rows: int) -> torch.Tensor:
            dec = torch.tensor([dec_ids], device=device).expand(rows, -1)
            logits = counting(input_ids=src.expand(rows, -1), attention_mask=torch.ones_like(src).expand(rows, -1),
                              decoder_input_ids=dec).logits[:, first:]
            return pick_logprobs(logits, target) @ sums_dev

        full_ids = src
    else:
        full_ids = torch.tensor([ids + output_ids], device=device)
        position_unit = position_unit + [None] * len(output_ids)
        n_prompt = len(ids)
        where = torch.arange(n_prompt - 1, n_prompt - 1 + len(output_ids), device=device)
        target = torch.tensor(output_ids, device=device)

        def run(rows: int) -> torch.Tensor:
            if counting.split is not None:
                return head_logprobs(counting.split, counting.hidden(input_ids=full_ids.expand(rows, -1))[:, where],
                                      target) @ sums_dev
            kw = {"logits_to_keep": where} if counting.keeps_logits else {}
            logits = counting(input_ids=full_ids.expand(rows, -1), **kw).logits
            if logits.shape[1] != len(output_ids):
                logits = logits[:, where]
            return pick_logprobs(logits, target) @ sums_dev

        layer = model.get_input_embeddings()
    explained = torch.tensor([u is not None for u in position_unit], device=device)
    baseline = torch.where(explained.unsqueeze(0), torch.full_like(full_ids, fallback), full_ids)
    # Rows per gradient forward: as many as keep its activations under gradients.GRAD_MEMORY
    # (a long prompt: one row, its layers recomputed in the backward).
    grad_tokens = full_ids.shape[1] + (len(dec_ids) if inp.encoder_decoder else 0)
    grad_rows, checkpoint = gradients.plan_rows(model, grad_tokens, rows_cap)
    gradient = GradientView(layer=layer, input_ids=full_ids, baseline_ids=baseline, run=run, position_unit=position_unit,
                            max_rows=grad_rows, baseline=str(tok.convert_ids_to_tokens([fallback])[0]),
                            checkpoint=model if checkpoint else None)

    # Attention: which query rows wrote each target.
    if inp.encoder_decoder:
        rows_of_token = list(range(len(output_ids)))  # cross-attention rows are the output positions

        def each_layer(keep: Callable[[Any], None]) -> None:
            dec = torch.tensor([list(inp.decoder_prefix) + output_ids[:-1]], device=device)
            with torch.inference_mode(), models.eager_attention(model), models.guard_oom():
                out = model(input_ids=src, decoder_input_ids=dec, output_attentions=True, use_cache=False)
            for a in out.cross_attentions:
                keep(a[0, :, first:, :])

        column_unit = position_unit
        square, sink, kind = False, None, "cross"
    else:
        rows_of_token = [n_prompt - 1 + i for i in range(len(output_ids))]
        seq = ids + output_ids[:-1]

        def each_layer(keep: Callable[[Any], None]) -> None:
            decoder_attentions(loaded, seq, keep, eager() if eager is not None else contextlib.nullcontext())

        column_unit = position_unit[: len(ids) + len(output_ids) - 1]
        square, sink, kind = True, 0, "self"
    target_rows = [list(rows_of_token)] + [
        [rows_of_token[i] for i, w in enumerate(token_word) if w == j] for j in range(len(out_words))
    ]
    attention = AttentionView(each_layer=each_layer, target_rows=target_rows, column_unit=column_unit, square=square,
                              sink=sink, kind=kind)

    score.cost_key = loaded.spec.display
    full = score.probe() if len(template.units) else None
    if score.row_seconds:
        # Stop is checked between batches: keep one batch under STOP_SECONDS on this model. A
        # batched row costs about BATCHED_ROW of a lone one (Gemma-3-270M, 2 CPU cores: 0.37 s
        # vs 0.69 s); a gradient row about two batched rows. Powers of two, so that small
        # timing noise rarely changes the batches.
        fit = max(1, int(STOP_SECONDS / (BATCHED_ROW * score.row_seconds)))
        score.batch_size = max(1, min(score.batch_size, max(MIN_ROWS, 2 ** int(math.log2(fit)))))
        gradient.max_rows = max(1, min(gradient.max_rows, 2 ** int(math.log2(max(1, fit // 2)))))
    whole = float(full[0]) if full is not None else None
    targets = [Target("output", "".join(out_texts).strip(), whole)] + [
        Target(f"word:{j}", w.text, None if full is None else float(full[1 + j])) for j, w in enumerate(out_words)
    ]
    return Subject(
        task=task, model=loaded.spec.display, units=template.units, targets=targets, score=score, gradient=gradient,
        attention=attention, truncated=truncated, texts=template.part_texts,
        notes={"target_kind": "log_prob", "output_words": [w.to_dict() for w in out_words]},
        key=subject_key(task, loaded.spec.key, inp, truncated), rewrite=rewrite,
    )


__all__ = ["LLMInput", "REMOVAL", "fallback_token_id", "output_token_texts", "subject", "token_words"]
