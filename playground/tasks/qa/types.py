"""Question answering's limits and results (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import prompting
from ...config import LIMITS
from ...explain.base import Option
from .. import generation as gen

NAME = "qa"

# ---- Limits ------------------------------------------------------------------------------------
MAX_CONTEXT_CHARS = 2 * LIMITS.max_chars  # 4,000: several windows of a real model
MAX_QUESTION_CHARS = LIMITS.max_chars // 4  # 500
MAX_QUESTION_TOKENS = 64  # transformers' QA pipeline's max_question_len
MAX_SEQ_LEN = 384  # tokens per window (the pipeline's max_seq_len), or the model's own limit
DOC_STRIDE = 128  # tokens shared by consecutive windows (the pipeline's doc_stride)
MAX_ANSWER_TOKENS = 30
TOP_K = Option("top_k", default=5, minimum=1, maximum=20, label="qa_top_k")
GEN_MAX_NEW_TOKENS = 24  # short answers; also Integrated Gradients' per-token bound
# A decoder's whole prompt (instructions + the longest context + question), in characters and tokens.
GEN_PROMPT_CHARS = MAX_CONTEXT_CHARS + MAX_QUESTION_CHARS + 1000
GEN_PROMPT_TOKENS = 1536
FUZZY_MIN_COVERAGE = 0.8
# Rows x tokens per forward: no-gradient passes, and gradient passes (Integrated Gradients).
_ROW_TOKENS = 8192
_GRAD_ROW_TOKENS = 4096

KINDS = ("extractive", "generative")
TARGETS = ("span", "start", "end")
PARTS = ("question", "context")

FEW_SHOT, CHAT_INSTRUCTION = prompting.QA_FEW_SHOT, prompting.QA_CHAT_INSTRUCTION
# The perturbation methods see the question and the window's context as one text in which a
# removed word reads as this character; it never occurs in that text (replaced there by U+FFFD),
# so every perturbed text decodes exactly into the set of words kept.
_MASK_CHAR = "\ue000"
_PARTS_SEP = "\n"


# ---- Results -----------------------------------------------------------------------------------


def _f(x: object, digits: int | None = None) -> float:
    """A finite float for JSON (NaN and infinities become 0), rounded to ``digits`` if given."""
    v = float(x)  # type: ignore[arg-type]
    if not np.isfinite(v):
        return 0.0
    return round(v, digits) if digits is not None else v


@dataclass(frozen=True)
class Candidate:
    """One extractive span: ``answer == context[start:end]``; ``window`` is the window it was
    scored in and ``start_token``/``end_token`` its token positions there (inclusive)."""

    answer: str
    score: float
    start: int
    end: int
    window: int
    start_token: int
    end_token: int

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "score": _f(self.score), "start": self.start, "end": self.end, "window": self.window}


@dataclass(frozen=True)
class ContextToken:
    """One context token for the start/end probability charts: ``text == context[start:end]``."""

    text: str
    start: int
    end: int
    p_start: float
    p_end: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end, "p_start": _f(self.p_start), "p_end": _f(self.p_end)}


@dataclass(frozen=True)
class Match:
    """Where a generated answer sits in the context: ``kind`` "exact" or "fuzzy"; ``coverage``
    is the share of the answer's word characters matched (1.0 for exact)."""

    start: int
    end: int
    kind: str
    coverage: float


@dataclass
class _Windows:
    """The extractive model input, kept for the explanations and the attention view."""

    input_ids: list[list[int]]
    attention_mask: list[list[int]]
    sequence_ids: list[list[int | None]]
    offsets: list[list[tuple[int, int]]]
    start_logits: np.ndarray  # (windows, length)
    end_logits: np.ndarray
    max_length: int
    stride: int
    token_type_ids: list[list[int]] | None = None  # BERT-style segment ids, when the tokenizer gives them


@dataclass
class QAResult:
    """One answer. ``start``/``end`` index the (NFC-normalised) ``context``, None when there is
    no span: an extractive no-answer, or a generated answer not found in the context. For an
    extractive answer ``answer == context[start:end]``; a generated one is the model's text and
    ``context[start:end]`` the part of the context it quotes (``match`` "exact" or "fuzzy").
    ``no_answer``: extractive, the null score won (``answer`` ""); generative, the model wrote
    nothing or its answer was withdrawn by the calibrated rule (``abstained`` says why;
    :func:`playground.tasks.qa.generative.abstention`)."""

    kind: str  # "extractive" | "generative"
    question: str
    context: str
    answer: str
    score: float  # extractive: p_start * p_end (or the null score); generative: mean token probability
    start: int | None
    end: int | None
    no_answer: bool
    found_in_context: bool
    model_key: str
    model: str
    profile: str
    seconds: float
    candidates: list[Candidate] = field(default_factory=list)
    null_score: float | None = None
    windows: int = 1
    tokens: list[ContextToken] = field(default_factory=list)
    match: str | None = None
    match_coverage: float | None = None
    # Generative: the exact model input and where the question and the context sit in it.
    prompt_text: str = ""
    question_span: tuple[int, int] | None = None
    context_span: tuple[int, int] | None = None
    generation: gen.GenerationResult | None = field(default=None, repr=False)
    # The question and context's language and whether the model reads it (playground.language).
    language: dict[str, Any] = field(default_factory=dict)
    # Generative: why the generated ``answer`` was withdrawn ("not_in_context", "low_score"; then
    # ``no_answer`` is True and ``answer`` still holds what the model wrote), None when it stands.
    abstained: str | None = None
    _windows: _Windows | None = field(default=None, repr=False)

    @property
    def quote(self) -> str:
        """The part of the context the answer points at ("" when none)."""
        return self.context[self.start : self.end] if self.start is not None and self.end is not None else ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "answer": self.answer,
            "score": _f(self.score),
            "start": self.start,
            "end": self.end,
            "no_answer": self.no_answer,
            "found_in_context": self.found_in_context,
            "quote": self.quote,
            "kind": self.kind,
            "candidates": [c.to_dict() for c in self.candidates],
            "model": self.model,
            "model_key": self.model_key,
            "seconds": _f(self.seconds, 4),
            "language": dict(self.language),
        }
        if self.kind == "extractive":
            w = self._windows
            out.update({
                "null_score": _f(self.null_score or 0.0),
                "windows": self.windows,
                "max_length": w.max_length if w else None,
                "stride": w.stride if w else None,
                "tokens": [t.to_dict() for t in self.tokens],
            })
        else:
            g = self.generation
            out.update({
                "abstained": self.abstained,
                "match": self.match,
                "match_coverage": _f(self.match_coverage) if self.match_coverage is not None else None,
                "generated": g.text if g else "",
                "output_tokens": list(g.tokens) if g else [],
                "stop_reason": g.stop_reason if g else "",
                "mode": g.mode if g else "",
                "prompt_text": self.prompt_text,
                "question_span": list(self.question_span) if self.question_span else None,
                "context_span": list(self.context_span) if self.context_span else None,
            })
        return out
