"""Extractive answers: question/context windows, one batched forward, span scores, no-answer."""

from __future__ import annotations

import contextlib
import inspect
import time
from typing import Any

import numpy as np
import torch

from ... import config, language, models
from ...errors import InputError
from .types import (
    _ROW_TOKENS,
    DOC_STRIDE,
    MAX_ANSWER_TOKENS,
    MAX_QUESTION_TOKENS,
    MAX_SEQ_LEN,
    Candidate,
    ContextToken,
    QAResult,
    _Windows,
)


def _max_length(loaded: models.LoadedModel) -> int:
    n = getattr(loaded.model.config, "max_position_embeddings", None)
    return min(MAX_SEQ_LEN, int(n)) if isinstance(n, int) and n > 0 else MAX_SEQ_LEN


def _accepts(model: Any, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _encode_windows(loaded: models.LoadedModel, question: str, context: str) -> tuple[dict[str, Any], int, int]:
    tok = loaded.tokenizer
    if not getattr(tok, "is_fast", False):
        raise RuntimeError(f"{loaded.spec.key}: extractive QA needs a fast tokenizer (character offsets)")
    n_question = len(tok(question, add_special_tokens=False)["input_ids"])
    if n_question > MAX_QUESTION_TOKENS:
        raise InputError(
            "qa_question_too_many_tokens",
            n=n_question, limit=MAX_QUESTION_TOKENS,
        )
    max_length = _max_length(loaded)
    # Windows must advance: room for the context (length - question - [CLS] [SEP] [SEP]) > stride.
    stride = max(0, min(DOC_STRIDE, (max_length - n_question - 3) // 2))
    enc = tok(
        question, context, truncation="only_second", max_length=max_length, stride=stride,
        return_overflowing_tokens=True, return_offsets_mapping=True, padding="longest",
    )
    return enc, max_length, stride


@torch.inference_mode()
def _span_logits(loaded: models.LoadedModel, batch: dict[str, list[list[int]]], fast: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) logits of every row, in chunks of at most _ROW_TOKENS tokens, full
    precision unless ``fast`` (the scorers' bf16 context)."""
    ids = torch.tensor(batch["input_ids"], dtype=torch.long)
    mask = torch.tensor(batch["attention_mask"], dtype=torch.long)
    extra = {}
    if "token_type_ids" in batch and _accepts(loaded.model, "token_type_ids"):
        extra["token_type_ids"] = torch.tensor(batch["token_type_ids"], dtype=torch.long)
    rows = max(1, _ROW_TOKENS // max(1, ids.shape[1]))
    starts, ends = [], []
    context = loaded.scoring_context() if fast else contextlib.nullcontext()
    for a in range(0, ids.shape[0], rows):
        kw = {k: v[a : a + rows].to(loaded.device) for k, v in {"input_ids": ids, "attention_mask": mask, **extra}.items()}
        with models.guard_oom(), context:
            out = loaded.model(**kw)
        starts.append(out.start_logits.float().cpu().numpy())
        ends.append(out.end_logits.float().cpu().numpy())
    return np.concatenate(starts), np.concatenate(ends)


def _log_softmax_masked(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    x = np.where(allowed, np.asarray(logits, dtype=np.float64), -np.inf)
    m = x[allowed].max()
    return x - m - np.log(np.exp(x - m).sum())


def _cls_index(ids: list[int], tok: Any) -> int:
    cls = getattr(tok, "cls_token_id", None)
    return ids.index(cls) if cls is not None and cls in ids else 0


def decode_window(
    start_logits: np.ndarray, end_logits: np.ndarray, context_mask: np.ndarray, cls: int, top: int,
    max_answer_tokens: int = MAX_ANSWER_TOKENS,
) -> tuple[list[tuple[int, int, float]], float, np.ndarray, np.ndarray]:
    """One window, as transformers 4.x's QA pipeline: probabilities over the context tokens and
    [CLS] (every other position masked), span score ``p_start[s] * p_end[e]`` for context tokens
    ``s <= e < s + max_answer_tokens``. Returns (the ``top`` best spans as (s, e, score), best
    first, the null score ``p_start[cls] * p_end[cls]``, p_start, p_end). Spans are ranked in log
    space, so none is lost to underflow."""
    context_mask = np.asarray(context_mask, dtype=bool)
    allowed = context_mask.copy()
    allowed[cls] = True
    log_start = _log_softmax_masked(start_logits, allowed)
    log_end = _log_softmax_masked(end_logits, allowed)
    null = float(np.exp(log_start[cls] + log_end[cls]))
    p_start, p_end = np.exp(log_start), np.exp(log_end)
    pos = np.flatnonzero(context_mask)
    if not pos.size:
        return [], null, p_start, p_end
    pairs = log_start[pos][:, None] + log_end[pos][None, :]
    gap = pos[None, :] - pos[:, None]
    pairs = np.where((gap >= 0) & (gap < max_answer_tokens), pairs, -np.inf).ravel()
    k = max(1, min(int(top), int(np.isfinite(pairs).sum())))
    best = np.argpartition(-pairs, k - 1)[:k] if k < pairs.size else np.arange(pairs.size)
    m = pos.size
    spans = [(int(pos[i // m]), int(pos[i % m]), float(np.exp(pairs[i]))) for i in best if np.isfinite(pairs[i])]
    return sorted(spans, key=lambda x: (-x[2], x[0], x[1])), null, p_start, p_end


def _extractive(question: str, context: str, spec: config.ModelSpec, profile: str, top_k: int,
                allow_no_answer: bool, progress: models.ConvertProgress | None) -> QAResult:
    started = time.perf_counter()
    loaded = models.load(spec, progress)
    tok = loaded.tokenizer
    enc, max_length, stride = _encode_windows(loaded, question, context)
    n_windows = len(enc["input_ids"])
    seq_ids = [enc.sequence_ids(i) for i in range(n_windows)]
    offsets = [[(int(a), int(b)) for a, b in enc["offset_mapping"][i]] for i in range(n_windows)]
    start_logits, end_logits = _span_logits(loaded, enc)
    best: dict[tuple[int, int], Candidate] = {}
    chart: dict[tuple[int, int], list[float]] = {}
    null_score = np.inf
    for w in range(n_windows):
        ids = enc["input_ids"][w]
        ctx = np.array([s == 1 and offsets[w][i][1] > offsets[w][i][0] for i, s in enumerate(seq_ids[w])])
        cls = _cls_index(ids, tok)
        # Enough spans per window that top_k distinct character spans survive the merge.
        spans, null, p_start, p_end = decode_window(start_logits[w], end_logits[w], ctx, cls, top=4 * top_k)
        null_score = min(null_score, null)
        for s, e, score in spans:
            cs, ce = offsets[w][s][0], offsets[w][e][1]
            if (cs, ce) not in best or best[(cs, ce)].score < score:
                best[(cs, ce)] = Candidate(context[cs:ce], score, cs, ce, w, s, e)
        for i in np.flatnonzero(ctx):
            key = offsets[w][i]
            seen = chart.setdefault(key, [0.0, 0.0])
            seen[0], seen[1] = max(seen[0], float(p_start[i])), max(seen[1], float(p_end[i]))
    candidates = sorted(best.values(), key=lambda c: (-c.score, c.start, c.end))[:top_k]
    null_score = float(null_score) if np.isfinite(null_score) else 1.0
    no_answer = not candidates or (allow_no_answer and null_score > candidates[0].score)
    top = candidates[0] if candidates else None
    return QAResult(
        kind="extractive",
        question=question,
        context=context,
        answer="" if no_answer or top is None else top.answer,
        score=null_score if no_answer else top.score,  # type: ignore[union-attr]
        start=None if no_answer else top.start,  # type: ignore[union-attr]
        end=None if no_answer else top.end,  # type: ignore[union-attr]
        no_answer=no_answer,
        found_in_context=not no_answer,
        model_key=spec.key,
        model=spec.display,
        profile=profile,
        language=language.check(question + "\n" + context, spec.languages),
        seconds=time.perf_counter() - started,
        candidates=candidates,
        null_score=null_score,
        windows=n_windows,
        tokens=[ContextToken(context[a:b], a, b, p[0], p[1]) for (a, b), p in sorted(chart.items())],
        match="span" if not no_answer else None,
        _windows=_Windows(
            input_ids=[list(map(int, r)) for r in enc["input_ids"]],
            attention_mask=[list(map(int, r)) for r in enc["attention_mask"]],
            sequence_ids=seq_ids,
            offsets=offsets,
            start_logits=start_logits,
            end_logits=end_logits,
            max_length=max_length,
            stride=stride,
            token_type_ids=[list(map(int, r)) for r in enc["token_type_ids"]] if "token_type_ids" in enc else None,
        ),
    )
