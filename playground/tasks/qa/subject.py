"""What the explanation methods read for an answer (extractive or generative), and :func:`explain`."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import torch

from ... import config, models, text
from ...errors import InputError
from ...explain import encoder, llm
from ...explain import explain as run_explain
from ...explain.base import Option, Progress, Subject, Target, Unit
from ...text import Span
from .extractive import _accepts
from .types import _MASK_CHAR, _PARTS_SEP, NAME, Candidate, QAResult

# ---- Explanations ------------------------------------------------------------------------------


def _loaded(result: QAResult) -> models.LoadedModel:
    spec = config.spec_by_key(NAME, result.model_key, result.profile)
    if spec is None:
        raise ValueError(f"{result.model_key} is not a QA model of profile {result.profile}")
    return models.load(spec)


@dataclass
class _SpanInput:
    """The window holding one candidate, the words it covers, and the target positions."""

    ids: list[int]
    token_types: list[int] | None
    seq: list[int | None]
    offsets: list[tuple[int, int]]
    start_token: int
    end_token: int
    words: list[Span]  # offsets into the part's own text
    parts: list[str]
    subject_text: str
    subject_words: list[Span]
    piece_word: list[int | None]
    outside: int  # context words not in the window


def _span_input(result: QAResult, cand: Candidate) -> _SpanInput:
    win = result._windows
    assert win is not None
    w = cand.window
    real = [i for i, m in enumerate(win.attention_mask[w]) if m]  # the window without its padding
    a0, a1 = real[0], real[-1] + 1  # (left or right padding: the real tokens are contiguous)
    ids, seq, offsets = win.input_ids[w][a0:a1], win.sequence_ids[w][a0:a1], win.offsets[w][a0:a1]
    n = a1 - a0
    ctx_pieces = [offsets[i] for i in range(n) if seq[i] == 1 and offsets[i][1] > offsets[i][0]]
    lo, hi = min(a for a, _ in ctx_pieces), max(b for _, b in ctx_pieces)
    context_words = text.words(result.context)
    inside = [u for u in context_words if u.end > lo and u.start < hi]
    c_lo, c_hi = (inside[0].start, inside[-1].end) if inside else (lo, lo)
    q_text = result.question.replace(_MASK_CHAR, "\ufffd")
    c_text = result.context[c_lo:c_hi].replace(_MASK_CHAR, "\ufffd")
    base = len(q_text) + len(_PARTS_SEP)
    subject_text = q_text + _PARTS_SEP + c_text
    subject_words = text.words(subject_text)
    words, parts = [], []
    for u in subject_words:
        if u.start < len(q_text):
            words.append(Span(result.question[u.start : u.end], u.start, u.end))
            parts.append("question")
        else:
            a, b = u.start - base + c_lo, u.end - base + c_lo
            words.append(Span(result.context[a:b], a, b))
            parts.append("context")
    local = []
    for i in range(n):
        a, b = offsets[i]
        if b <= a or seq[i] is None:
            local.append((0, 0))
        elif seq[i] == 0:
            local.append((a, b))
        else:
            local.append((max(a, c_lo) - c_lo + base, min(b, c_hi) - c_lo + base) if b > c_lo and a < c_hi else (0, 0))
    types = win.token_type_ids[w][a0:a1] if win.token_type_ids is not None else None
    return _SpanInput(
        ids=list(ids), token_types=types, seq=list(seq), offsets=list(offsets), start_token=cand.start_token - a0,
        end_token=cand.end_token - a0, words=words, parts=parts, subject_text=subject_text, subject_words=subject_words,
        piece_word=text.piece_to_word(local, subject_words), outside=len(context_words) - len(inside),
    )


def subject(result: QAResult, candidate: object = 0) -> Subject:
    """What the explanation methods read for ``result``. Extractive: the words of the question
    and of the context inside the window holding candidate ``candidate`` (0: the answer, or for
    a no-answer result the best span), targets "span" (start logit + end logit, the default),
    "start", "end". Generative: the question and context words of the prompt, targets the
    log-probability of the whole answer and of each answer word."""
    if result.kind == "generative":
        g = result.generation
        if g is None or result.question_span is None or result.context_span is None or not g.output_ids:
            raise InputError("qa_nothing_to_explain")
        parts = sorted([("question", *result.question_span), ("context", *result.context_span)], key=lambda p: p[1])
        loaded = _loaded(result)
        inp = llm.LLMInput(model_text=g.prompt_text, parts=parts, output_ids=list(g.output_ids))
        return llm.subject(loaded, inp, NAME, eager=models.gate(loaded.spec.key).eager)
    if not result.candidates:
        raise InputError("qa_nothing_to_explain")
    index = int(Option("candidate", 0, 0, len(result.candidates) - 1, "").clamp(candidate))
    cand = result.candidates[index]
    loaded = _loaded(result)
    si = _span_input(result, cand)
    units = [Unit(w.text, w.start, w.end, part) for w, part in zip(si.words, si.parts)]
    st, et = si.start_token, si.end_token

    def read(out: Any) -> torch.Tensor:
        s_logit, e_logit = out.start_logits[:, st].float(), out.end_logits[:, et].float()
        return torch.stack([s_logit + e_logit, s_logit, e_logit], dim=1)

    win = result._windows
    assert win is not None
    s_val = float(win.start_logits[cand.window][cand.start_token])
    e_val = float(win.end_logits[cand.window][cand.end_token])
    what = f"'{cand.answer}'"
    targets = [Target("span", what, s_val + e_val), Target("start", what, s_val), Target("end", what, e_val)]
    types = si.token_types if si.token_types is not None and _accepts(loaded.model, "token_type_ids") else None
    return encoder.subject(
        loaded, task=NAME, ids=si.ids, position_unit=si.piece_word, units=units, targets=targets, read=read,
        target_rows=[[st, et], [st], [et]], token_types=types, texts={"question": result.question, "context": result.context},
        notes={"target_kind": "logit", "candidate": index, "window": cand.window, "words_outside_window": si.outside,
               "answer_span": {"text": cand.answer, "start": cand.start, "end": cand.end}},
    )


def explain(
    result: QAResult,
    method: str,
    options: dict[str, object] | None = None,
    progress: Progress | None = None,
    target: object = None,
    candidate: int = 0,
    units: str = "auto",
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Score every word of the question and of the context for ``result``'s answer with any
    registered method (see :func:`subject` for the targets). Returns the one explanation
    schema (:meth:`playground.explain.Explanation.to_dict`); each word's ``start``/``end`` index
    its own ``part`` (``result.question`` or ``result.context``)."""
    if target in ("log_prob",):  # the name this target had before the one engine
        target = None
    sub = subject(result, candidate)
    out = run_explain(sub, method, options, target=target, units=units, progress=progress, stop=stop).to_dict()
    out["kind"] = result.kind
    return out


def methods_for(result: QAResult) -> tuple[str, ...]:
    """The explanation methods that apply to ``result`` (both kinds offer a scorer, gradients
    and attention: every registered method)."""
    from ...explain import METHODS

    return tuple(METHODS)
