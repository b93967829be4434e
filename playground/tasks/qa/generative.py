"""Generated answers: a few-shot (or chat) prompt to a decoder, the answer located in the context."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ... import config, models, prompting
from ...errors import InputError
from .. import generation as gen
from .matching import locate
from .types import GEN_MAX_NEW_TOKENS, GEN_PROMPT_CHARS, GEN_PROMPT_TOKENS, QAResult


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
