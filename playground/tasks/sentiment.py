"""Sentiment: a sequence classifier's label and class probabilities, and the Subject that every
explanation method reads. No gradio here: the UI and the API both call these functions."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

import numpy as np
import torch

from .. import batching, config, language, models, priority, text
from ..config import LIMITS
from ..explain import encoder
from ..explain.base import Subject, Target, Unit
from ..explain.units import merge_within_pieces, pool_attention
from ..scoring import BatchedScorer
from .base import Task

NAME = "sentiment"


def _encode(loaded: models.LoadedModel, texts: list[str], **kw: Any) -> Any:
    return loaded.tokenizer(
        texts, truncation=True, max_length=LIMITS.max_tokens, padding=True, return_tensors="pt", **kw
    )


def _pad(enc: Any, length: int, pad_id: int) -> Any:
    """Right-pad a batch to ``length`` positions (no-op if it is already that long)."""
    short = length - enc["input_ids"].shape[1]
    if short <= 0:
        return enc
    for key in list(enc.keys()):
        fill = pad_id if key == "input_ids" else 0
        enc[key] = torch.nn.functional.pad(enc[key], (0, short), value=fill)
    return enc


@torch.inference_mode()
def batch_probabilities(
    loaded: models.LoadedModel, texts: list[str], fast: bool = True, pad_to: int = 0
) -> np.ndarray:
    """Class probabilities for a batch of texts, shape (len(texts), n_labels). This is the one
    scoring function that LIME, SHAP and the evaluation scripts call (through BatchedScorer).

    ``fast`` allows the bf16 scoring context; the prediction shown to the user uses full
    precision. ``pad_to`` pads every batch to at least that many positions: a text's score then
    does not depend on which other texts share its batch (padding length moves low-precision
    results in the last digits), so the same input always gives the same explanation."""
    enc = _pad(_encode(loaded, texts), pad_to, loaded.tokenizer.pad_token_id or 0).to(loaded.device)
    context = loaded.scoring_context() if fast else contextlib.nullcontext()
    with models.guard_oom(), context:
        logits = loaded.model(**enc).logits
    return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def scorer(loaded: models.LoadedModel, pad_to: int = 0) -> BatchedScorer:
    # Sorting by token count (not characters) is what keeps padding low within a batch.
    def n_tokens(s: str) -> int:
        return len(loaded.tokenizer(s, truncation=True, max_length=LIMITS.max_tokens)["input_ids"])

    return BatchedScorer(
        partial(batch_probabilities, loaded, pad_to=pad_to), batch_size=LIMITS.batch_size, length=n_tokens
    )


def model_for(value: str, profile: str | None = None) -> tuple[models.LoadedModel, dict[str, Any]]:
    """The classifier that reads ``value``'s language (Chinese goes to the Chinese model where
    the profile has one: config.ROUTES), and what :func:`playground.language.check` says."""
    specs = config.choices_for(NAME, profile) + config.routes_for(NAME, profile)
    if not specs:
        raise models.ModelUnavailable("task_no_model", task=NAME)
    spec, lang = language.choose(value, specs)
    return models.load(spec), lang


def _prediction(loaded: models.LoadedModel, value: str, probs: np.ndarray, lang: dict[str, Any]) -> dict[str, Any]:
    labels = loaded.labels
    return {
        "label": labels[int(np.argmax(probs))],
        "scores": {lab: float(p) for lab, p in zip(labels, probs)},
        "model": loaded.spec.display,
        "truncated": _n_tokens(loaded, value) > LIMITS.max_tokens,
        "language": lang,
    }


def predict(value: str, profile: str | None = None) -> dict[str, Any]:
    """Label and probabilities: ``{"label", "scores": {label: p}, "model", "truncated",
    "language"}`` (``language["handled"]`` False: the model does not read the text's language,
    and the label is not to be trusted). Predictions asked for at the same time by different
    users run as one batch (playground.batching)."""
    value = text.clean(value)
    loaded, lang = model_for(value, profile)
    run = batching.batcher((loaded.spec.key, "probabilities"),
                           priority.cheap_batch(lambda texts: list(batch_probabilities(loaded, texts, fast=False)),
                                                loaded.device), LIMITS.predict_batch)
    return _prediction(loaded, value, run(value), lang)


# Attention weights one eager batch may return: rows x layers x heads x padded length^2 floats.
ATTENTION_FLOATS = 32 * 2**20


def _eager_batch(loaded: models.LoadedModel, values: list[str]) -> list[tuple[np.ndarray, np.ndarray, list[int]]]:
    """Eager forwards over ``values`` (several texts a pass, shortest together, their
    attention weights bounded by :data:`ATTENTION_FLOATS`): for each text, its class
    probabilities, its attention (layers, heads, n, n) over its first n pieces (n capped at
    ``LIMITS.max_attention_tokens``) and its piece ids. Padding is masked, so a text's numbers
    do not depend on the texts it shares a batch with (beyond float rounding)."""
    model = loaded.model
    cfg = model.config
    per_token2 = max(1, int(getattr(cfg, "num_hidden_layers", 12)) * int(getattr(cfg, "num_attention_heads", 12)))
    ids = [loaded.tokenizer(v, truncation=True, max_length=LIMITS.max_tokens)["input_ids"] for v in values]
    order = sorted(range(len(values)), key=lambda i: len(ids[i]))
    out: dict[int, tuple[np.ndarray, np.ndarray, list[int]]] = {}
    start = 0
    while start < len(order):
        longest, stop = len(ids[order[start]]), start + 1
        while stop < len(order):
            longest = max(longest, len(ids[order[stop]]))
            if (stop - start + 1) * per_token2 * longest**2 > ATTENTION_FLOATS:
                break
            stop += 1
        chunk = order[start:stop]
        enc = _encode(loaded, [values[i] for i in chunk]).to(loaded.device)
        with torch.inference_mode(), models.eager_attention(model), models.guard_oom():
            res = model(**enc, output_attentions=True)
        probs = torch.softmax(res.logits.float(), dim=-1).cpu().numpy()
        for row, i in enumerate(chunk):
            keep = enc["attention_mask"][row].nonzero().flatten()[: LIMITS.max_attention_tokens]
            att = torch.stack([a[row][:, keep][:, :, keep].float() for a in res.attentions]).cpu().numpy()
            out[i] = (probs[row], att, ids[i])
        del res
        start = stop
    return [out[i] for i in range(len(values))]


def _n_tokens(loaded: models.LoadedModel, value: str) -> int:
    return len(loaded.tokenizer(value)["input_ids"])


def subject(value: str, profile: str | None = None) -> Subject:
    """Everything the explanation methods need for one text: its words, one target per class
    (the class probability; the default is the predicted class), the batched scorer, the
    gradient forward and the attention view."""
    value = text.clean(value)
    loaded, lang = model_for(value, profile)
    return subject_for(loaded, value, lang)


def subject_for(loaded: models.LoadedModel, value: str, lang: str | None = None) -> Subject:
    """:func:`subject` on a given classifier (a visitor's fine-tuned copy, playground.finetune);
    ``lang`` is the text's language check (playground.language.check), computed when not given."""
    if lang is None:
        lang = language.check(value, loaded.spec.languages)
    labels = loaded.labels
    # The target values are the full-precision output the user sees as the prediction.
    probs = batch_probabilities(loaded, [value], fast=False)[0]
    ids, words, piece_word = _piece_words(loaded, value)
    # Words past the truncation never reach the model: they are not explained.
    seen = sorted({w for w in piece_word if w is not None})
    index = {w: i for i, w in enumerate(seen)}
    units = [Unit(words[w].text, words[w].start, words[w].end, "text") for w in seen]
    position_unit = [None if w is None else index[w] for w in piece_word]

    def read(out: Any) -> torch.Tensor:
        return torch.softmax(out.logits.float(), dim=-1)

    def rewrite(replace: dict[int, str]) -> np.ndarray:
        # The edited text, classified by the same model (not re-routed by its language).
        edited, pos = [], 0
        for i in sorted(replace):
            edited += [value[pos : units[i].start], replace[i]]
            pos = units[i].end
        return batch_probabilities(loaded, ["".join(edited) + value[pos:]], fast=False)[0]

    subj = encoder.subject(
        loaded, task=NAME, ids=ids, position_unit=position_unit, units=units,
        targets=[Target(label, label, float(p)) for label, p in zip(labels, probs)], read=read,
        target_rows=[[0]] * len(labels),  # the classifier reads the first token ([CLS])
        default_target=int(np.argmax(probs)), texts={"text": value},
        truncated=_n_tokens(loaded, value) > LIMITS.max_tokens, notes={"target_kind": "probability", "language": lang},
    )
    subj.rewrite = rewrite
    return subj


def analyse(value: str, profile: str | None = None) -> dict[str, Any]:
    """Prediction and every layer's attention from ONE eager forward pass (what the tab shows
    first). ``attentions`` is (layers, heads, m, m) over ``words`` (whole words and the special
    tokens, :func:`word_attention`) of the model's first n pieces, n capped at
    ``LIMITS.max_attention_tokens`` so the heatmap stays readable and the payload small."""
    value = text.clean(value)
    loaded, lang = model_for(value, profile)
    run = batching.batcher((loaded.spec.key, "analyse"),
                           priority.cheap_batch(lambda values: _eager_batch(loaded, values), loaded.device),
                           LIMITS.predict_batch)
    return _analysed(loaded, value, lang, *run(value))


def analyse_on(loaded: models.LoadedModel, value: str) -> dict[str, Any]:
    """:func:`analyse` on a given classifier (a visitor's own, playground.finetune): one user's
    model, so no batcher (which would also keep the model alive)."""
    lang = language.check(value, loaded.spec.languages)
    return _analysed(loaded, value, lang, *_eager_batch(loaded, [value])[0])


def _analysed(loaded: models.LoadedModel, value: str, lang: dict[str, Any], probs: np.ndarray, att: np.ndarray,
              ids: list[int]) -> dict[str, Any]:
    n = att.shape[-1]
    words, word_att = word_attention(loaded, value, ids, att)
    return {
        **_prediction(loaded, value, probs, lang),
        "words": words,
        "attention_truncated": len(ids) > n,
        "attentions": word_att,
    }


def _piece_words(loaded: models.LoadedModel, value: str) -> tuple[list[int], list[text.Span], list[int | None]]:
    """The piece ids the model reads (truncated as it truncates), ``value``'s words, and each
    piece's word (None: a special token or a piece in no word)."""
    enc = loaded.tokenizer(value, truncation=True, max_length=LIMITS.max_tokens, return_offsets_mapping=True)
    offsets = [tuple(map(int, o)) for o in enc["offset_mapping"]]
    words = merge_within_pieces(text.words(value), offsets, value)  # "[MASK]" typed: one piece, one word
    return list(enc["input_ids"]), words, text.piece_to_word(offsets, words)


def word_attention(loaded: models.LoadedModel, value: str, ids: list[int], att: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Attention over the model's first n pieces (layers, heads, n, n) -> over whole words
    (Chinese grouped as text.words groups it, never ``▁`` or ``##`` pieces), with the special
    tokens ([CLS], [SEP], <s>, </s>) kept as their own rows: a classifier reads the sentence
    through them. Pieces that belong to no word (a lone ``▁``) are left out."""
    n = att.shape[-1]
    _, words, piece_word = _piece_words(loaded, value)
    special = set(loaded.tokenizer.all_special_ids)
    pieces = loaded.tokenizer.convert_ids_to_tokens(ids[:n])
    labels: list[str] = []
    unit_of_word: dict[int, int] = {}
    where: list[int | None] = []
    for p in range(n):
        w = piece_word[p] if p < len(piece_word) else None
        if w is None:  # a special token is its own row; a piece in no word is left out
            where.append(len(labels) if ids[p] in special else None)
            labels += [pieces[p]] if ids[p] in special else []
            continue
        if w not in unit_of_word:
            unit_of_word[w] = len(labels)
            labels.append(words[w].text)
        where.append(unit_of_word[w])
    return labels, pool_attention(att, where, len(labels))


TASK = Task(name=NAME, run=predict, subject=subject, attention=None, parts=("text",),
            targets="the probability of each class (default: the predicted one)", default_method="integrated_gradients")
