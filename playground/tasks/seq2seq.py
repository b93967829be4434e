"""Text in, text out: the engine behind the Summarization and Translation tabs.

Two model families give one result and one set of views:

- **encoder-decoder** (BART, Marian, T5): the source (after the model's task prefix, e.g. T5's
  "translate English to German: ") goes to the encoder; ``model.generate`` writes the output.
- **decoder** (SmolLM2, Gemma): the task module wraps the source in an instruction (chat models)
  or a few-shot prompt (base models) and :func:`playground.tasks.generation.generate` writes
  the output; the source's position inside that prompt is kept, so attention and attribution
  look at the source alone.

Either way a :class:`Seq2SeqResult` holds the exact model input text, where the source sits in
it, and the output tokens, so :func:`attention` (cross-attention: output x source; encoder
self-attention: source x source; decoder self-attention: output x output) and :func:`subject`
(what every explanation method reads: the source words, the output's log-probabilities, via
:mod:`playground.explain.llm`) work on both, in words (Chinese grouped, byte pieces joined).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import config, language, models, prompting, text
from ..cache import ANSWERS
from ..errors import InputError
from ..explain import llm
from ..explain.base import Option, Subject
from ..explain.layer_attention import decoder_attentions
from ..text import Span
from . import generation

MAX_TIME = 30.0  # seconds: no summary or translation runs longer
DECODER_PROMPT_TOKENS = 1024  # the decoders' prompt (instruction + source): longer than Generation's
# Longer sources are cut (and the result says so); the model's own context where it is smaller.
MAX_SOURCE_TOKENS = 768

Prompt = prompting.Prompt


@dataclass
class Seq2SeqResult:
    """One summary or translation, with everything the views need.

    ``model_text[source_span[0]:source_span[1]]`` is the source as the model read it (``source``
    cut to the model's context when ``truncated``). Encoder-decoders: ``model_text`` is task
    prefix + source, fed to the encoder with the tokenizer's special tokens, and the decoder
    read ``decoder_prefix`` (start token, forced first token) before ``output_ids``. Decoders:
    ``model_text`` is the whole prompt (template and instruction included, special tokens
    written out) and ``decoder_prefix`` is empty."""

    task: str
    model_key: str
    model: str
    profile: str
    family: str  # "encoder-decoder" or "decoder"
    source: str
    truncated: bool
    model_text: str
    source_span: tuple[int, int]
    decoder_prefix: list[int]
    output_ids: list[int]
    output_tokens: list[str]  # the text each output token adds
    text: str
    seconds: float
    tokens_per_s: float
    stop_reason: str
    options: dict[str, Any] = field(default_factory=dict)
    target: str | None = None  # translation: "zh", "fr", "de"
    # The source's language and whether the model reads it (playground.language.check), and
    # under "output" whether the output is in the language it should be (language.output_check).
    language: dict[str, Any] = field(default_factory=dict)
    simplified: int = 0  # Traditional characters of a Chinese output written in Simplified (OpenCC)

    @property
    def source_used(self) -> str:
        return self.model_text[self.source_span[0] : self.source_span[1]]

    def output_words(self) -> tuple[list[Span], list[int | None]]:
        """The output in words (offsets into the joined output tokens) and each output token's
        word (None for a token of pure whitespace)."""
        return llm.token_words(self.output_tokens)

    def to_dict(self) -> dict[str, Any]:
        words, _ = self.output_words()
        return {
            "task": self.task,
            "output": self.text,
            "model": self.model,
            "model_key": self.model_key,
            "family": self.family,
            "target": self.target,
            "language": dict(self.language),
            "simplified": self.simplified,
            "truncated": self.truncated,
            "source_used": self.source_used,
            "tokens": list(self.output_tokens),
            "words": [w.to_dict() for w in words],
            "n_tokens": len(self.output_ids),
            "seconds": round(self.seconds, 4),
            "tokens_per_s": round(self.tokens_per_s, 2),
            "stop_reason": self.stop_reason,
            "options": dict(self.options),
        }


# --------------------------------------------------------------------------------------------
# Words of an output given as token texts


def token_texts(tokenizer: Any, ids: list[int]) -> list[str]:
    """The text each output token adds ("" for a byte token that only starts a character)."""
    return llm.output_token_texts(tokenizer, ids)


def group_rows(matrix: np.ndarray, row_word: list[int | None], n_words: int, how: str = "sum") -> np.ndarray:
    """Rows of per-token values pooled into per-word rows: ``sum`` for attributions (the
    log-probabilities of a word's tokens add up), ``mean`` for attention rows (each stays a
    distribution)."""
    out = np.zeros((n_words,) + matrix.shape[1:])
    counts = np.zeros(n_words)
    for r, w in enumerate(row_word):
        if w is not None:
            out[w] += matrix[r]
            counts[w] += 1
    if how == "mean":
        out /= np.maximum(counts, 1).reshape((-1,) + (1,) * (matrix.ndim - 1))
    return out


# --------------------------------------------------------------------------------------------
# Models


def spec_for(task: str, model_key: object, profile: str | None = None, target: str | None = None,
             source: str | None = None) -> config.ModelSpec:
    """The registry entry for ``model_key`` in ``task`` (None, "" or "auto": for translation the
    first model that writes ``target``; otherwise the first that reads ``source``'s language, or
    the default). Anything not registered is InputError "bad_model"."""
    if model_key in (None, "", config.AUTO) and target is not None:
        usable = [s for s in config.choices_for(task, profile) if target in s.targets]
        if not usable:
            raise InputError("no_model_for_target", target=str(target))
        return usable[0]
    return models.resolve(task, model_key, profile, source)


def _max_source_tokens(model: Any) -> int:
    cfg = model.config
    n = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 512
    return int(min(MAX_SOURCE_TOKENS, n - 2))


def _cut(tokenizer: Any, source: str, limit: int) -> tuple[str, bool]:
    """``source`` cut at a token boundary to at most ``limit`` tokens (no special tokens)."""
    ids, offsets = text.encode_with_offsets(tokenizer, source, add_special_tokens=False)
    if len(ids) <= limit:
        return source, False
    end = max((e for _, e in offsets[:limit]), default=0) or len(source[: limit])
    return source[:end], True


# --------------------------------------------------------------------------------------------
# Running the model


def _special_ids(tokenizer: Any) -> set[int]:
    return {int(i) for i in tokenizer.all_special_ids}


def _run_encoder_decoder(loaded: models.LoadedModel, model_text: str, min_new: int, max_new: int) -> tuple[list[int], list[int], float, str]:
    """Generate from ``model_text``; returns (decoder prefix, output ids, seconds, stop reason)."""
    tok, model = loaded.tokenizer, loaded.model
    enc = tok(model_text, return_tensors="pt").to(loaded.device)
    special = _special_ids(tok)
    keep = {tok.eos_token_id, getattr(model.generation_config, "forced_eos_token_id", None)}
    suppress = [i for i in (tok.pad_token_id, tok.unk_token_id) if i is not None and i not in keep]
    started = time.perf_counter()
    with torch.inference_mode(), models.guard_oom(), loaded.generation_context():
        out = model.generate(
            **enc,
            # These override the model's own min_length / max_length (DistilBART's asks for 56-142).
            min_new_tokens=min_new,
            max_new_tokens=max_new,
            max_time=MAX_TIME,
            suppress_tokens=suppress or None,  # never write padding (tiny random models would)
        )
    seconds = time.perf_counter() - started
    seq = out[0].tolist()
    # The decoder's start token and any forced special first tokens (BART's <s>) are the prefix.
    k = 1
    while k < len(seq) and seq[k] in special and seq[k] != tok.eos_token_id:
        k += 1
    prefix, output = seq[:k], seq[k:]
    reason = "max_new_tokens"
    if output and output[-1] == tok.eos_token_id:
        output, reason = output[:-1], "eos"
    elif seconds >= MAX_TIME:
        reason = "max_time"
    while output and output[-1] in special:  # trailing padding of a finished sequence
        output = output[:-1]
    return prefix, output, seconds, reason


def run(task: str, source: str, model_key: str | None, profile: str | None, options: dict[str, Any],
        prompt_for: Callable[[config.ModelSpec], Prompt], prefix_key: str, target: str | None = None,
        progress: models.ConvertProgress | None = None) -> Seq2SeqResult:
    """Write the output for ``source`` with the chosen model (see the module docstring), or give
    the same request's kept answer (cache.ANSWERS). ``prompt_for(spec)`` says how a decoder is
    asked; ``prefix_key`` names the encoder-decoder's task prefix in ``spec.prefixes``;
    ``options`` holds ``min_new_tokens`` / ``max_new_tokens``, clamped by the task."""
    source = text.clean(source, field="text")
    spec = spec_for(task, model_key, profile, target, source)
    if target is not None and target not in spec.targets:
        raise InputError("model_no_target", model=spec.display, target=target)
    profile = profile or config.active_profile()
    key = (task, spec.key, profile, source, target, prefix_key, tuple(sorted(options.items())))
    if (kept := ANSWERS.get(key)) is not None:
        return kept
    result = _run(task, source, spec, profile, options, prompt_for, prefix_key, target, progress)
    if result.stop_reason not in ("stopped", "max_time"):
        ANSWERS.put(key, result)
    return result


def _run(task: str, source: str, spec: config.ModelSpec, profile: str, options: dict[str, Any], prompt_for: Callable[[config.ModelSpec], Prompt],
         prefix_key: str, target: str | None, progress: models.ConvertProgress | None) -> Seq2SeqResult:
    loaded = models.load(spec, progress)
    tok = loaded.tokenizer
    min_new, max_new = int(options.get("min_new_tokens", 1)), int(options["max_new_tokens"])
    if spec.encoder_decoder:
        prefix = spec.prefixes.get(prefix_key, "")
        limit = _max_source_tokens(loaded.model) - len(tok(prefix, add_special_tokens=False)["input_ids"]) - 1
        used, truncated = _cut(tok, source, limit)
        model_text = prefix + used
        decoder_prefix, output_ids, seconds, reason = _run_encoder_decoder(loaded, model_text, min_new, max_new)
        span = (len(prefix), len(model_text))
        family = "encoder-decoder"
    else:
        ask = prompt_for(spec)
        used, truncated = _cut(tok, source, MAX_SOURCE_TOKENS)
        message = ask.head + used + ask.tail
        result = generation.generate(
            message, spec.key, profile, stop_strings=ask.stop, max_chars=len(message),
            max_prompt_tokens=DECODER_PROMPT_TOKENS, temperature=0, max_new_tokens=max_new, max_time=MAX_TIME,
            mode="chat" if spec.chat else "plain",
        )
        output_ids = list(result.output_ids)
        # A few-shot answer ends at its newline; the newline (and trailing space) is not output.
        texts = token_texts(tok, output_ids)
        while output_ids and texts and not texts[-1].strip() and texts[-1] != "":
            output_ids, texts = output_ids[:-1], texts[:-1]
        start = result.user_span[0] + len(ask.head)
        model_text, span, decoder_prefix = result.prompt_text, (start, start + len(used)), []
        seconds, reason = result.seconds, result.stop_reason
        family = "decoder"
    tokens = token_texts(tok, output_ids)
    simplified = 0
    if target == "zh":  # 简体中文 means Simplified, whatever the model slipped into
        tokens, simplified = language.simplified_pieces(tokens)
    n = len(output_ids)
    # A translation reads its direction's source language (Gemma reads any: the direction still
    # says which the user meant); a summary, what the model reads.
    checked = language.check(source, (prompting.source_of(target),) if target else spec.languages)
    written = "".join(tokens).strip()
    checked["output"] = language.output_check(written, target or checked["code"])
    return Seq2SeqResult(
        task=task, model_key=spec.key, model=spec.display, profile=profile, family=family, source=source,
        truncated=truncated, model_text=model_text, source_span=span, decoder_prefix=decoder_prefix,
        output_ids=output_ids, output_tokens=tokens, text=written, seconds=seconds,
        tokens_per_s=n / seconds if seconds > 0 else 0.0, stop_reason=reason,
        options={"min_new_tokens": min_new, "max_new_tokens": max_new}, target=target,
        language=checked, simplified=simplified,
    )



def bounded(bounds: dict[str, Option], given: dict[str, Any]) -> dict[str, Any]:
    """Every option clamped to its bounds (unknown names dropped); min never above max."""
    values = {name: o.clamp(given.get(name, o.default)) for name, o in bounds.items()}  # None -> default
    if "min_new_tokens" in values and "max_new_tokens" in values:
        values["min_new_tokens"] = min(values["min_new_tokens"], values["max_new_tokens"])
    return values


def loaded_for(result: Seq2SeqResult) -> models.LoadedModel:
    """The model that wrote ``result`` (loaded once, cached)."""
    spec = spec_for(result.task, result.model_key, result.profile)
    return models.load(spec)


# --------------------------------------------------------------------------------------------
# Attention


@dataclass(frozen=True)
class Seq2SeqAttention:
    """Attention in words. ``cross[l, h, i, j]``: how much output word i attended to source word
    j in layer l, head h (rows: the mean over the word's tokens of the attention of the position
    that wrote each token; columns: the sum over the source word's tokens, so special tokens and
    a task prefix are left out and a row sums to at most 1). ``encoder``: source x source
    (for a decoder: the source part of its prompt), ``decoder``: output x output (what each output
    word attended to among the output words before it)."""

    source_words: list[str]
    output_words: list[str]
    cross: np.ndarray
    encoder: np.ndarray
    decoder: np.ndarray
    family: str

    def view(self, kind: str) -> tuple[np.ndarray, list[str], list[str]]:
        """(attention, row labels, column labels) for ``kind`` in cross / encoder / decoder."""
        if kind == "encoder":
            return self.encoder, self.source_words, self.source_words
        if kind == "decoder":
            return self.decoder, self.output_words, self.output_words
        return self.cross, self.output_words, self.source_words


KINDS = ("cross", "encoder", "decoder")


def _token_word_map(tokenizer: Any, model_text: str, span: tuple[int, int], words: list[Span], add_special: bool) -> tuple[list[int], list[int | None]]:
    ids, offsets = text.encode_with_offsets(tokenizer, model_text, add_special_tokens=add_special)
    return ids, text.words_of_pieces(offsets, span, words)


class _Pooling:
    """Token attention -> word attention, one layer at a time: (heads, token rows, token columns)
    -> (heads, word rows, word columns), the mean over a word's rows and the sum over its
    columns, in float32. Only one layer's token weights exist at once (a 2,000-character source
    held every layer's, 30 x 9 x 600 x 600 floats, then float64 copies of them: ~1 GB)."""

    def __init__(self, row_word: list[int | None], n_rows: int, col_word: list[int | None], n_cols: int) -> None:
        self.rows = np.zeros((n_rows, len(row_word)), dtype=np.float32)
        for r, w in enumerate(row_word):
            if w is not None:
                self.rows[w, r] = 1.0
        self.rows /= np.maximum(self.rows.sum(axis=1, keepdims=True), 1.0)
        self.cols = np.zeros((len(col_word), n_cols), dtype=np.float32)
        for c, w in enumerate(col_word):
            if w is not None:
                self.cols[c, w] = 1.0

    def __call__(self, layer: Any) -> np.ndarray:
        w = layer.detach().float().cpu().numpy() if isinstance(layer, torch.Tensor) else np.asarray(layer, np.float32)
        w = w[:, : self.rows.shape[1], : self.cols.shape[0]]
        return np.matmul(np.matmul(self.rows, w), self.cols)


def _stack(layers: list[np.ndarray], n_rows: int, n_cols: int) -> np.ndarray:
    return np.stack(layers) if layers else np.zeros((0, 0, n_rows, n_cols), dtype=np.float32)


def attention(result: Seq2SeqResult) -> Seq2SeqAttention:
    """Cross, encoder and decoder self-attention of ``result`` in words, from one eager forward
    (teacher-forced over the output it wrote)."""
    loaded = loaded_for(result)
    tok, model = loaded.tokenizer, loaded.model
    source_words = text.words(result.source_used)
    out_words, out_word_of = result.output_words()
    if not result.output_ids:
        raise InputError("nothing_generated")
    n_out = len(result.output_ids)
    device = loaded.device
    n_src, n_ow = len(source_words), len(out_words)
    add_special = result.family == "encoder-decoder"
    ids, src_word_of = _token_word_map(tok, result.model_text, result.source_span, source_words, add_special=add_special)
    # Decoder self-attention columns are the output tokens 0..n-2 as inputs (the last one is never read).
    dec_cols = out_word_of[: n_out - 1]
    pool_cross = _Pooling(out_word_of, n_ow, src_word_of, n_src)
    pool_enc = _Pooling(src_word_of, n_src, src_word_of, n_src)
    pool_dec = _Pooling(out_word_of, n_ow, dec_cols, n_ow)
    cross: list[np.ndarray] = []
    enc: list[np.ndarray] = []
    dec: list[np.ndarray] = []
    if result.family == "encoder-decoder":
        decoder = result.decoder_prefix + result.output_ids[:-1]
        first = len(result.decoder_prefix) - 1
        with torch.inference_mode(), models.eager_attention(model), models.guard_oom():
            out = model(input_ids=torch.tensor([ids], device=device), decoder_input_ids=torch.tensor([decoder], device=device),
                        output_attentions=True, use_cache=False)
        cross = [pool_cross(a[0, :, first:, :]) for a in out.cross_attentions]
        enc = [pool_enc(a[0]) for a in out.encoder_attentions]
        dec = [pool_dec(a[0, :, first:, first + 1 :]) for a in out.decoder_attentions]
        del out
    else:
        n_prompt = len(ids)
        seq = ids + result.output_ids[:-1]
        first = n_prompt - 1

        def keep(weights: torch.Tensor) -> None:
            # One layer's (heads, rows, columns), pooled into words before the next layer runs.
            cross.append(pool_cross(weights[:, first:, :n_prompt]))
            enc.append(pool_enc(weights[:, :n_prompt, :n_prompt]))
            dec.append(pool_dec(weights[:, first:, first + 1 :]))

        decoder_attentions(loaded, seq, keep)
    return Seq2SeqAttention(
        source_words=[w.text for w in source_words],
        output_words=[w.text for w in out_words],
        cross=_stack(cross, n_ow, n_src),
        encoder=_stack(enc, n_src, n_src),
        decoder=_stack(dec, n_ow, n_ow),
        family=result.family,
    )


# --------------------------------------------------------------------------------------------
# Attribution


def subject(result: Seq2SeqResult) -> Subject:
    """What the explanation methods read for a summary or a translation: the source words (a
    task prefix, an instruction or worked examples around them are neither explained nor
    perturbed), and as targets the log-probability of the whole output (the default) and of each
    output word, teacher-forced (:mod:`playground.explain.llm`)."""
    if not result.output_ids:
        raise InputError("nothing_generated")
    loaded = loaded_for(result)
    inp = llm.LLMInput(model_text=result.model_text, parts=[("source", *result.source_span)],
                       output_ids=list(result.output_ids), encoder_decoder=result.family == "encoder-decoder",
                       decoder_prefix=list(result.decoder_prefix))
    eager = models.gate(loaded.spec.key).eager if result.family == "decoder" else None
    return llm.subject(loaded, inp, result.task, eager=eager, truncated=result.truncated)


def alignment(matrix: np.ndarray, top: int = 2, share: float = 0.5) -> list[dict[str, Any]]:
    """Each output word (a row of an output-words x source-words matrix) linked to its
    strongest source word(s): the best one, and up to ``top`` with a positive score of at least
    ``share`` x the best."""
    links = []
    for i, row in enumerate(np.asarray(matrix)):
        if not len(row):
            break
        order = np.argsort(-row)
        best = float(row[order[0]])
        chosen = [int(j) for j in order[:top] if row[j] > 0 and (j == order[0] or row[j] >= share * best)]
        links.append({"output": i, "sources": chosen, "scores": [float(row[j]) for j in chosen]})
    return links


__all__ = ["KINDS", "Prompt", "Seq2SeqAttention", "Seq2SeqResult", "alignment", "attention", "bounded", "run",
           "spec_for", "subject"]
