"""Generated answers: a few-shot (or chat) prompt to a decoder, the answer located in the context,
and withdrawn when it does not look like an answer from the context (:func:`abstention`)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ... import config, language, models, prompting
from ...errors import InputError
from .. import generation as gen
from .matching import locate
from .types import GEN_MAX_NEW_TOKENS, GEN_PROMPT_CHARS, GEN_PROMPT_TOKENS, QAResult

# ---- Abstention ----------------------------------------------------------------------------------
#
# A generative model always writes something: asked what the context does not say, Gemma-3-270M and
# SmolLM2-135M copied a nearby number or name (0 of the 7 no-answer questions of assets/eval/qa.jsonl
# answered "no answer"; a few-shot example answering "none" lowered F1 for both and was dropped).
# So a few-shot answer is withdrawn, and the result says "no answer" (``no_answer`` True,
# ``abstained`` naming the reason), when
#   1. it is not found in the context (``found_in_context`` False: neither exact nor a fuzzy match
#      covering FUZZY_MIN_COVERAGE of its words) -- the prompt asks for a span copied from the
#      context, so text that is not there is made up; or
#   2. its mean token probability (``score``) is below ABSTAIN_MIN_SCORE.
# Calibrated with ``python scripts/evaluate.py --task qa`` (trade-off tables under
# ``qa.results.<model>.abstention`` in assets/eval/results.json) on the 45 items q01-q45 of
# assets/eval/qa.jsonl (7 without an answer), then checked on q46-q58 (13 Chinese items, 4 without an
# answer, written before the rule was run). The not-found check does the work: on q01-q45 it
# abstains on 6 of 7 no-answer items for both models and throws away no exactly right answer of
# Gemma-3-270M (SmolLM2: 2 of 19, "the queen" for "a single queen" and "the water filter" for
# "a water filter", right but not quoted); EM 62.2 -> 75.6, F1 74.1 -> 79.8 for Gemma. On q46-q58
# it abstains on 4 of 4 and loses none of Gemma's 2 right answers. The score threshold is the
# highest of the grid (steps of 0.05) that loses no right answer of either model on q01-q45 (Gemma's
# least sure right answer: "Kenya", 0.27); it withdraws nothing more there: the one no-answer item
# answered from the context ("Who scored the winning goal?" -> "United", 0.30 for Gemma, 0.64 for
# SmolLM2) is caught only at 0.30, which also loses "Kenya" -- a trade, not a gain, so not taken.
# Chat mode (sentences, rarely copied spans) is not calibrated and never abstains.
ABSTAIN_IF_NOT_FOUND = True
ABSTAIN_MIN_SCORE = 0.25


def abstention(said: str, found_in_context: bool, score: float, mode: str = "plain") -> str | None:
    """Why a generated answer is withdrawn (see the comment above): ``"not_in_context"``,
    ``"low_score"``, or None when it stands. An empty answer is no answer already (None here)."""
    if mode != "plain" or not said.strip():
        return None
    if ABSTAIN_IF_NOT_FOUND and not found_in_context:
        return "not_in_context"
    if score < ABSTAIN_MIN_SCORE:
        return "low_score"
    return None


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
    score = _mean_probability(result)
    withdrawn = abstention(said, found is not None, score, mode)
    return QAResult(
        kind="generative",
        question=question,
        context=context,
        answer=said,
        score=score,
        start=found.start if found else None,
        end=found.end if found else None,
        no_answer=not said or withdrawn is not None,
        abstained=withdrawn,
        found_in_context=found is not None,
        model_key=spec.key,
        model=spec.display,
        profile=profile,
        language=language.check(question + "\n" + context, spec.languages),
        seconds=time.perf_counter() - started,
        match=found.kind if found else None,
        match_coverage=found.coverage if found else None,
        prompt_text=prompt_text,
        question_span=question_span,
        context_span=context_span,
        generation=result,
    )
