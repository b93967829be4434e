"""Question answering: an extractive span or a generated answer, its score, and why.

Two kinds of model answer a question about a context, chosen by the registry entry
(:func:`is_extractive`):

**Extractive** (``*ForQuestionAnswering``: DistilBERT SQuAD, the tiny random DistilBERT). The
question and the context are encoded as a pair; a context longer than one model input is cut into
overlapping windows (``max_length`` :data:`MAX_SEQ_LEN`, overlap :data:`DOC_STRIDE` tokens, as
transformers' QA pipeline does), never truncated silently, and all windows run in ONE batched
forward. Per window, the start and end logits are turned into probabilities over the context
tokens and [CLS] (the 4.x pipeline's softmax with every other position masked); a span's score is
``p_start * p_end`` (start <= end, both context tokens, at most :data:`MAX_ANSWER_TOKENS` tokens).
Spans from all windows are merged by character span (the best score kept) and the ``top_k``
best are the candidates. **No answer**: the null score is ``p_start[CLS] * p_end[CLS]``, the
smallest over the windows (as the pipeline's ``handle_impossible_answer``); when it beats the best
span the result is ``answer == ""``, ``no_answer`` True, ``start``/``end`` None, and the best span
stays in ``candidates``. The start/end probability chart per context token takes, for a token
seen by several windows, the largest value (each window is normalised on its own).

**Generative** (the decoders). The answer is generated greedily from a few-shot completion prompt
(:data:`FEW_SHOT`, plain mode, ending at the first newline), also for chat models: in a trial on a
few paragraphs, SmolLM2-135M-Instruct's chat prompt (:data:`CHAT_INSTRUCTION`, ``mode="chat"``)
answered in whole sentences ("The Great Wall of China was built by the Ming dynasty.") where the
few-shot prompt gave the short span ("the Ming dynasty"). ``python scripts/evaluate.py --task qa``
scores the few-shot prompt on assets/eval/qa.jsonl (numbers in README.md). The
whole prompt must fit :data:`GEN_PROMPT_CHARS` characters and :data:`GEN_PROMPT_TOKENS` tokens, room for
the longest context (``qa_context_too_long_model``, ``qa_prompt_too_long`` beyond it).
The answer is then found in the context (:func:`locate`): exact, case- and whitespace-insensitive
first; else the longest fuzzy match on words, accepted when the matched words cover at least
:data:`FUZZY_MIN_COVERAGE` of the answer's characters; else ``found_in_context`` is False.

**Explanations** (:func:`explain`) score the words of the question and of the context, each word
labelled with its ``part``. Extractive: Integrated Gradients (Captum, on the word embeddings,
baseline [PAD]), LIME and SHAP (the project's methods, on one batched scoring function) explain
the same number, the *logits* at the chosen span's start and end token positions in the window
that holds it (``target`` "span": start logit + end logit, the default; or "start", "end"). A
word removed by LIME or SHAP has each of its pieces replaced by the mask token, so no position
moves and the target stays at the same two positions; the answer's own words are features like
any other. Attention rollout is read at the same two positions. Only the question and the
context words inside that window are explained (the others cannot change its logits);
``words_outside_window`` says how many were left out. Generative: the project's attribution per
generated word (teacher-forced
log-probabilities, :mod:`playground.explain.llm`), over the question and context words of the
prompt. Every registered method runs on both kinds (:func:`subject`).

No gradio here: the UI and the API both call these functions.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import config, models, prompting, text
from ..config import LIMITS
from ..errors import InputError
from ..explain import encoder, llm
from ..explain import explain as run_explain
from ..explain.base import Option, Progress, Subject, Target, Unit
from ..text import Span
from . import generation as gen
from .base import Task

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
    ``context[start:end]`` the part of the context it quotes (``match`` "exact" or "fuzzy")."""

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


# ---- Model choice and input checks -------------------------------------------------------------


def is_extractive(spec: config.ModelSpec) -> bool:
    """A span-prediction model (``*ForQuestionAnswering``) rather than a prompted decoder."""
    return spec.architecture.endswith("ForQuestionAnswering")


def spec_for(model_key: object = None, profile: str | None = None) -> config.ModelSpec:
    """The QA model for ``model_key`` (:func:`playground.models.resolve`)."""
    return models.resolve(NAME, model_key, profile)


_PART_MESSAGES = {
    "question_empty": "Please enter a question.",
    "context_empty": "Please enter a context: the text that holds the answer.",
    "question_too_long": "The question has {n} characters; the limit is {limit}. Please shorten it.",
    "context_too_long": "The context has {n} characters; the limit is {limit}. Please shorten it.",
}


def _clean_part(value: object, part: str, limit: int) -> str:
    """text.clean with the QA messages: qa_not_text, qa_{part}_empty, qa_{part}_too_long."""
    try:
        return text.clean(value, field=part, max_chars=limit)
    except InputError as exc:
        if exc.key == "input_empty":
            raise InputError(f"qa_{part}_empty", _PART_MESSAGES[f"{part}_empty"]) from None
        if exc.key == "input_too_long":
            raise InputError(f"qa_{part}_too_long", _PART_MESSAGES[f"{part}_too_long"], n=exc.params["n"], limit=limit) from None
        raise InputError("qa_not_text", "The question and the context must be text.") from None


def validate(question: object, context: object) -> tuple[str, str]:
    """The cleaned (NFC, control characters as spaces) question and context, or an InputError:
    ``qa_not_text``, ``qa_question_empty``, ``qa_context_empty``, ``qa_question_too_long``
    (over :data:`MAX_QUESTION_CHARS`), ``qa_context_too_long`` (over :data:`MAX_CONTEXT_CHARS`),
    ``qa_question_longer`` (a question longer than its context: usually the two boxes swapped)."""
    q = _clean_part(question, "question", MAX_QUESTION_CHARS)
    c = _clean_part(context, "context", MAX_CONTEXT_CHARS)
    if len(q.strip()) > len(c.strip()):
        raise InputError(
            "qa_question_longer",
            "The question ({q} characters) is longer than the context ({c} characters). The context is the text "
            "that holds the answer: put it in the context box.",
            q=len(q.strip()), c=len(c.strip()),
        )
    return q, c


# ---- Answering ---------------------------------------------------------------------------------


def answer(
    question: str,
    context: str,
    model_key: str | None = None,
    profile: str | None = None,
    top_k: int = TOP_K.default,
    progress: models.ConvertProgress | None = None,
    allow_no_answer: bool = True,
    stop: threading.Event | None = None,
    **gen_opts: object,
) -> QAResult:
    """Answer ``question`` from ``context`` with the registry's QA model ``model_key`` (None:
    the default of ``profile``). Extractive models give up to ``top_k`` candidate spans (clamped
    to 1..20) and may answer "no answer" (``allow_no_answer``); decoders generate greedily
    (``gen_opts`` go to :func:`playground.tasks.generation.generate`: ``max_new_tokens``
    (default :data:`GEN_MAX_NEW_TOKENS`), ``mode`` ("plain": the few-shot prompt, the default;
    "chat"), ``max_time``, ...). ``progress`` follows a first GGUF conversion; ``stop`` ends a
    generation early. Raises the InputErrors of :func:`validate`, "bad_model", and for decoders
    ``qa_context_too_long_model`` / ``qa_prompt_too_long`` when the prompt does not fit."""
    q, c = validate(question, context)
    spec = spec_for(model_key, profile)
    profile = profile or config.active_profile()
    if is_extractive(spec):
        return _extractive(q, c, spec, profile, int(TOP_K.clamp(top_k)), allow_no_answer, progress)
    return _generative(q, c, spec, profile, progress, stop, gen_opts)


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
            "The question comes to {n} tokens for this model; the limit is {limit}. Please shorten it.",
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


# ---- Generative --------------------------------------------------------------------------------


_PUNCT_EDGES = " \t\n\"'“”‘’«»`.,;:!?。，；：！？、"


def locate(answer_text: str, context: str, min_coverage: float = FUZZY_MIN_COVERAGE) -> Match | None:
    """Where ``answer_text`` sits in ``context``, or None.

    1. Exact: the answer (then the answer without surrounding quotes and punctuation) searched
       case-insensitively, any run of whitespace matching any other; the first occurrence.
    2. Fuzzy: the answer's and the context's words (:func:`playground.text.words`, lower-cased)
       are aligned by difflib around the longest run they share; the match spans the context
       words aligned with answer words, accepted when those answer words hold at least
       ``min_coverage`` of the characters of the answer's words (punctuation not counted)."""
    a = answer_text.strip()
    if not a:
        return None
    for variant in dict.fromkeys((a, a.strip(_PUNCT_EDGES))):
        if not variant:
            continue
        pattern = r"\s+".join(re.escape(part) for part in variant.split())
        m = re.search(pattern, context, flags=re.IGNORECASE)
        if m:
            return Match(m.start(), m.end(), "exact", 1.0)
    ans = [w for w in text.words(a) if any(ch.isalnum() for ch in w.text)]
    ctx = [w for w in text.words(context) if any(ch.isalnum() for ch in w.text)]
    if not ans or not ctx:
        return None
    a_low, c_low = [w.text.lower() for w in ans], [w.text.lower() for w in ctx]
    anchor = difflib.SequenceMatcher(None, c_low, a_low, autojunk=False).find_longest_match(0, len(c_low), 0, len(a_low))
    if anchor.size == 0:
        return None
    slack = max(2, len(a_low) // 2)
    lo = max(0, anchor.a - anchor.b - slack)
    hi = min(len(c_low), anchor.a - anchor.b + len(a_low) + slack)
    blocks = [b for b in difflib.SequenceMatcher(None, c_low[lo:hi], a_low, autojunk=False).get_matching_blocks() if b.size]
    if not blocks:
        return None
    total = sum(len(w) for w in a_low)
    matched = sum(len(a_low[j]) for b in blocks for j in range(b.b, b.b + b.size))
    coverage = matched / total
    if coverage < min_coverage:
        return None
    first, last = ctx[lo + blocks[0].a], ctx[lo + blocks[-1].a + blocks[-1].size - 1]
    return Match(first.start, last.end, "fuzzy", coverage)


def _mean_probability(result: gen.GenerationResult) -> float:
    """exp(mean log p) of the generated tokens that carry text (trailing blanks, the stop
    newline, not counted): the model's per-token confidence in its answer."""
    steps = list(result.steps)
    while steps and not steps[-1].token.strip():
        steps.pop()
    if not steps:
        return 0.0
    logp = [np.log(max(s.p_raw, 1e-12)) for s in steps]
    return float(np.exp(np.mean(logp)))


def _generative(question: str, context: str, spec: config.ModelSpec, profile: str,
                progress: models.ConvertProgress | None, stop: threading.Event | None, gen_opts: dict) -> QAResult:
    started = time.perf_counter()
    # Sampling settings only (anything else a caller sends is dropped); greedy unless asked.
    opts: dict[str, Any] = {"temperature": 0.0, "max_new_tokens": GEN_MAX_NEW_TOKENS}
    opts.update({k: v for k, v in gen_opts.items() if k in gen.BOUNDS})
    mode = gen.resolve_mode(gen_opts.get("mode") or "plain", spec)
    head, ctx, mid, q, tail = prompting.qa_parts(question, context, mode)
    message = head + ctx + mid + q + tail
    if len(message) > GEN_PROMPT_CHARS:  # the prompt limit, said in QA terms
        raise InputError(
            "qa_context_too_long_model",
            "The context has {n} characters; with this question the model '{model}' takes at most {limit}. "
            "Shorten the context or choose an extractive model.",
            n=len(context), limit=max(0, GEN_PROMPT_CHARS - (len(message) - len(context))), model=spec.display,
        )
    loaded = models.load(spec, progress)
    try:
        prepared = gen.prepare(message, mode, loaded, GEN_PROMPT_CHARS, GEN_PROMPT_TOKENS)
    except InputError as exc:
        if exc.key != "prompt_too_long":
            raise
        raise InputError(
            "qa_prompt_too_long",
            "With the question and the instructions, the context comes to {n} tokens for the model '{model}'; "
            "the limit is {limit}. Shorten the context or choose an extractive model.",
            n=exc.params["n"], limit=exc.params["limit"], model=spec.display,
        ) from None
    stop_strings = ("\n",) if mode == "plain" else ()
    result = gen.generate(message, spec.key, profile, stop, progress, stop_strings, GEN_PROMPT_CHARS, GEN_PROMPT_TOKENS,
                          mode=mode, **opts)
    prompt_text, (us, _) = result.prompt_text, prepared.user_span
    if prompt_text[us : us + len(message)] == message:
        c0 = us + len(head)
        q0 = c0 + len(ctx) + len(mid)
    else:  # a template that rewrote the message: find the parts in what the model read
        c0 = prompt_text.find(ctx)
        q0 = prompt_text.find(q, max(c0, 0) + len(ctx))
    context_span = (c0, c0 + len(ctx)) if c0 >= 0 else None
    question_span = (q0, q0 + len(q)) if q0 >= 0 else None
    said = result.text.strip()
    found = locate(said, context)
    return QAResult(
        kind="generative",
        question=question,
        context=context,
        answer=said,
        score=_mean_probability(result),
        start=found.start if found else None,
        end=found.end if found else None,
        no_answer=not said,
        found_in_context=found is not None,
        model_key=spec.key,
        model=spec.display,
        profile=profile,
        seconds=time.perf_counter() - started,
        match=found.kind if found else None,
        match_coverage=found.coverage if found else None,
        prompt_text=prompt_text,
        question_span=question_span,
        context_span=context_span,
        generation=result,
    )


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
            raise InputError("qa_nothing_to_explain",
                             "There is no answer span to explain: the context holds no text the model can read.")
        parts = sorted([("question", *result.question_span), ("context", *result.context_span)], key=lambda p: p[1])
        loaded = _loaded(result)
        inp = llm.LLMInput(model_text=g.prompt_text, parts=parts, output_ids=list(g.output_ids))
        return llm.subject(loaded, inp, NAME, eager=models.gate(loaded.spec.key).eager)
    if not result.candidates:
        raise InputError("qa_nothing_to_explain", "There is no answer span to explain: the context holds no text the model can read.")
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
    from ..explain import METHODS

    return tuple(METHODS)


def _eager_attentions(loaded: models.LoadedModel, ids: list[int], types: list[int] | None) -> np.ndarray:
    t = torch.tensor([ids], device=loaded.device)
    kw = {}
    if types is not None and _accepts(loaded.model, "token_type_ids"):
        kw["token_type_ids"] = torch.tensor([types], device=loaded.device)
    with torch.inference_mode(), models.eager_attention(loaded.model), models.guard_oom():
        out = loaded.model(input_ids=t, attention_mask=torch.ones_like(t), output_attentions=True, **kw)
    return torch.stack([a[0].float() for a in out.attentions]).cpu().numpy()


# ---- Attention view ----------------------------------------------------------------------------


@dataclass
class QAAttention:
    """Every layer's attention over (at most LIMITS.max_attention_tokens of) the model input,
    from ONE eager forward pass over the whole input, shown positions cropped from it (so a
    row need not sum to 1 when some of what it attends to is not shown; ``truncated`` says so).

    ``parts[i]`` is "question", "context", "special" (extractive [CLS]/[SEP]), "template" (the
    prompt's own words) or "output" (generated); ``boundary`` is the index of the first shown
    token of the part that comes second (extractive: the context; generative: the question), the
    question/context border; ``answer_tokens`` the shown indices of the answer (the span, or the
    generated tokens); ``positions`` each shown token's index in the full input."""

    tokens: list[str]
    attentions: np.ndarray  # (layers, heads, n, n)
    parts: list[str]
    positions: list[int]
    boundary: int
    answer_tokens: list[int]
    truncated: bool
    n_total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": list(self.tokens),
            "parts": list(self.parts),
            "positions": list(self.positions),
            "boundary": self.boundary,
            "answer_tokens": list(self.answer_tokens),
            "truncated": self.truncated,
            "n_total": self.n_total,
            "shape": list(self.attentions.shape),
        }


def _crop(fixed: list[int], around: tuple[int, int], pool: list[int], cap: int) -> list[int]:
    """``fixed`` positions (at most ``cap``), plus as many of ``pool`` (sorted) as still fit,
    a contiguous run centred on ``around``."""
    fixed = fixed[:cap]
    room = cap - len(fixed)
    if len(pool) > room:
        centre = (around[0] + around[1]) / 2
        k = min(range(len(pool)), key=lambda i: abs(pool[i] - centre))
        a = max(0, min(k - room // 2, len(pool) - room))
        pool = pool[a : a + room]
    return sorted(set(fixed) | set(pool))


def attention(result: QAResult) -> QAAttention:
    """The attention heatmap's data (see :class:`QAAttention`). Extractive: the window holding
    the answer (the best span for a no-answer result): [CLS], the question, [SEP], the context
    tokens around the span. Generative: the question, the context tokens around the quoted span
    (the context's start when not found) and the generated tokens; the prompt's template is not
    shown."""
    cap = LIMITS.max_attention_tokens
    loaded = _loaded(result)
    if result.kind == "extractive":
        if not result.candidates:
            raise InputError("qa_nothing_to_explain", "There is no answer span to explain: the context holds no text the model can read.")
        si = _span_input(result, result.candidates[0])
        att = _eager_attentions(loaded, si.ids, si.token_types)
        n = len(si.ids)
        parts = ["special" if s is None else PARTS[s] for s in si.seq]
        fixed = [i for i in range(n) if parts[i] != "context"]
        pool = [i for i in range(n) if parts[i] == "context"]
        keep = _crop(fixed, (si.start_token, si.end_token), pool, cap)
        answer_at = [k for k, i in enumerate(keep) if si.start_token <= i <= si.end_token]
        tokens = loaded.tokenizer.convert_ids_to_tokens([si.ids[i] for i in keep])
    else:
        g = result.generation
        if g is None or result.question_span is None or result.context_span is None:
            raise InputError("qa_nothing_to_explain", "There is no answer span to explain: the context holds no text the model can read.")
        seq = g.sequence_ids
        n, n_prompt = len(seq), len(g.prompt_ids)
        offsets = g.prompt_offsets or [(0, 0)] * n_prompt
        (c0, c1), (q0, q1) = result.context_span, result.question_span

        def part(i: int) -> str:
            if i >= n_prompt:
                return "output"
            a, b = offsets[i]
            if b > a and a < c1 and b > c0:
                return "context"
            if b > a and a < q1 and b > q0:
                return "question"
            return "template"

        parts = [part(i) for i in range(n)]
        ids = torch.tensor([seq], device=loaded.device)
        with models.gate(loaded.spec.key).eager(), torch.inference_mode(), models.eager_attention(loaded.model), models.guard_oom():
            out = loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True, use_cache=False)
        att = torch.stack([a[0].float() for a in out.attentions]).cpu().numpy()
        del out
        outputs = [i for i in range(n) if parts[i] == "output"][: cap // 4]
        fixed = outputs + [i for i in range(n) if parts[i] == "question"][: cap // 4]
        pool = [i for i in range(n) if parts[i] == "context"]
        if result.start is not None and result.end is not None:
            inside = [i for i in pool if offsets[i][0] - c0 < result.end and offsets[i][1] - c0 > result.start]
            around = (inside[0], inside[-1]) if inside else (pool[0] if pool else 0,) * 2
        else:
            around = (pool[0], pool[0]) if pool else (0, 0)
        keep = _crop(fixed, around, pool, cap)
        answer_at = [k for k, i in enumerate(keep) if parts[i] == "output"]
        tokens = [loaded.tokenizer.decode([seq[i]], skip_special_tokens=False) for i in keep]
    shown = [parts[i] for i in keep]
    second = "context" if result.kind == "extractive" else "question"
    boundary = next((k for k, p in enumerate(shown) if p == second), len(shown))
    idx = np.array(keep)
    return QAAttention(
        tokens=tokens,
        attentions=att[:, :, idx][:, :, :, idx],
        parts=shown,
        positions=[int(i) for i in keep],
        boundary=boundary,
        answer_tokens=answer_at,
        truncated=len(keep) < n,
        n_total=n,
    )


__all__ = [
    "TASK",
    "CHAT_INSTRUCTION",
    "FEW_SHOT",
    "MAX_CONTEXT_CHARS",
    "MAX_QUESTION_CHARS",
    "Candidate",
    "ContextToken",
    "Match",
    "QAAttention",
    "QAResult",
    "answer",
    "attention",
    "decode_window",
    "explain",
    "is_extractive",
    "locate",
    "methods_for",
    "spec_for",
    "validate",
]


TASK = Task(name=NAME, run=answer, subject=subject, attention=attention, parts=("question", "context"),
            targets="extractive: the span's start + end logits (default), either one; generative: the answer's "
                    "log-probability (default) or one answer word's", default_method="integrated_gradients")
