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

import threading

from ... import config, models, text
from ...cache import ANSWERS
from ...errors import InputError
from ..base import Task
from .attention import QAAttention, attention
from .extractive import _extractive, decode_window
from .generative import _generative
from .matching import locate
from .subject import explain, methods_for, subject
from .types import (
    CHAT_INSTRUCTION,
    DOC_STRIDE,
    FEW_SHOT,
    FUZZY_MIN_COVERAGE,
    GEN_MAX_NEW_TOKENS,
    KINDS,
    MAX_ANSWER_TOKENS,
    MAX_CONTEXT_CHARS,
    MAX_QUESTION_CHARS,
    MAX_QUESTION_TOKENS,
    MAX_SEQ_LEN,
    NAME,
    PARTS,
    TARGETS,
    TOP_K,
    Candidate,
    ContextToken,
    Match,
    QAResult,
)


def is_extractive(spec: config.ModelSpec) -> bool:
    """A span-prediction model (``*ForQuestionAnswering``) rather than a prompted decoder."""
    return spec.architecture.endswith("ForQuestionAnswering")


def spec_for(model_key: object = None, profile: str | None = None, question: str | None = None) -> config.ModelSpec:
    """The QA model for ``model_key`` (:func:`playground.models.resolve`; None or "auto" with a
    ``question``: the first model that reads its language)."""
    return models.resolve(NAME, model_key, profile, question)


def _clean_part(value: object, part: str, limit: int) -> str:
    """text.clean with the QA messages: qa_not_text, qa_{part}_empty, qa_{part}_too_long."""
    try:
        return text.clean(value, field=part, max_chars=limit)
    except InputError as exc:
        if exc.key == "input_empty":
            raise InputError(f"qa_{part}_empty") from None
        if exc.key == "input_too_long":
            raise InputError(f"qa_{part}_too_long", n=exc.params["n"], limit=limit) from None
        raise InputError("qa_not_text") from None


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
    spec = spec_for(model_key, profile, q)
    profile = profile or config.active_profile()
    key = ("qa", spec.key, profile, q, c, int(TOP_K.clamp(top_k)), allow_no_answer, repr(sorted(gen_opts.items())))
    kept = ANSWERS.get(key)
    if kept is not None:  # the same question on the same context: the first student's answer
        return kept
    if is_extractive(spec):
        result = _extractive(q, c, spec, profile, int(TOP_K.clamp(top_k)), allow_no_answer, progress)
    else:
        result = _generative(q, c, spec, profile, progress, stop, gen_opts)
    if result.generation is None or result.generation.stop_reason not in ("stopped", "max_time"):
        ANSWERS.put(key, result)
    return result

__all__ = [
    "DOC_STRIDE",
    "FUZZY_MIN_COVERAGE",
    "GEN_MAX_NEW_TOKENS",
    "KINDS",
    "MAX_ANSWER_TOKENS",
    "MAX_QUESTION_TOKENS",
    "MAX_SEQ_LEN",
    "NAME",
    "PARTS",
    "TARGETS",
    "TASK",
    "TOP_K",
    "subject",
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

