"""Text generation: stream a decoder's answer token by token, and keep what the views explain.

One call to :func:`stream` runs ``model.generate`` in a worker thread with transformers'
``TextIteratorStreamer`` (the page shows the text as it grows) and captures, from the same run,
each step's distribution before and after the sampling settings reshape it (the "next-token"
view reads :class:`NextTokenStep`). Attention (:func:`attention`) and the logit lens
(:func:`logit_lens`) each cost ONE extra forward over the finished sequence, when opened.
Everything is bounded: options clamped (:func:`options`), prompts capped in tokens, every
generation carries ``max_time`` and a Stop event. No gradio.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch

from .. import config, language, models, priority, text
from ..config import LIMITS
from ..errors import InputError
from ..explain import llm
from ..explain.base import Subject
from ..prefix_cache import PREFIXES
from .base import Task
from .generation_input import (  # the exact model input, re-exported here
    Prepared as Prepared,
)
from .generation_input import (
    _encode as _encode,
)
from .generation_input import (
    _max_positions as _max_positions,
)
from .generation_input import (
    has_chat_template as has_chat_template,
)
from .generation_input import (
    prepare as prepare,
)
from .generation_input import (
    resolve_mode as resolve_mode,
)
from .generation_pieces import Pieces
from .generation_sampling import row_sampler
from .generation_types import (
    BOUNDS as BOUNDS,
)
from .generation_types import (  # the task's options and results, re-exported here
    MAX_PROMPT_TOKENS as MAX_PROMPT_TOKENS,
)
from .generation_types import (
    MAX_TIME_CAP as MAX_TIME_CAP,
)
from .generation_types import (
    MIN_TEMPERATURE as MIN_TEMPERATURE,
)
from .generation_types import (
    MODES as MODES,
)
from .generation_types import (
    STOP_REASONS as STOP_REASONS,
)
from .generation_types import (
    TOP_CANDIDATES as TOP_CANDIDATES,
)
from .generation_types import (
    Candidate as Candidate,
)
from .generation_types import (
    GenerationOptions as GenerationOptions,
)
from .generation_types import (
    GenerationResult as GenerationResult,
)
from .generation_types import (
    GenerationUpdate as GenerationUpdate,
)
from .generation_types import (
    NextTokenStep as NextTokenStep,
)
from .generation_types import (
    _mode as _mode,
)
from .generation_types import (
    options as options,
)

NAME = "generation"

# How long the reader waits past max_time for the worker before giving up on it: the worker
# stops itself at max_time; this only guards against a wedged thread.
_GRACE_S = 30.0




# --------------------------------------------------------------------------------------------
# Streaming generation


gate = models.gate  # the per-model gate lives with the models (tasks and tabs share it)


def model_for(model_key: str | None = None, profile: str | None = None, progress: models.ConvertProgress | None = None) -> models.LoadedModel:
    """The loaded generation model for ``model_key`` (None: the profile's default). Only registry
    keys are accepted: anything else is InputError "bad_model" and never reaches the loader."""
    return models.load(spec_for(model_key, profile), progress)


def spec_for(model_key: object, profile: str | None = None, prompt: str | None = None) -> config.ModelSpec:
    """The generation model for ``model_key`` (:func:`playground.models.resolve`; None or
    "auto" with a ``prompt``: the first model that reads the prompt's language)."""
    return models.resolve(NAME, model_key, profile, prompt)


def _streamer(tokenizer: Any, timeout: float) -> Any:
    """A TextIteratorStreamer (prompt skipped, special tokens hidden) that also counts the
    generated tokens, so each update can say how many there are. It holds back a word until it
    is complete, so the streamed text only ever grows."""
    from transformers import TextIteratorStreamer

    class CountingStreamer(TextIteratorStreamer):
        n_tokens = 0

        def put(self, value: torch.Tensor) -> None:
            if not (self.skip_prompt and self.next_tokens_are_prompt):
                self.n_tokens += int(value.numel())
            super().put(value)

    return CountingStreamer(tokenizer, skip_prompt=True, timeout=timeout, skip_special_tokens=True)


def _stop_criterion(*events: threading.Event) -> Any:
    from transformers import StoppingCriteria

    class StopOnEvent(StoppingCriteria):
        """True once the Stop button (or a reader that went away) sets an event. Called after
        each decoded token, it is also where a generation gives way to a running prediction."""

        fired = False

        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            if not any(e.is_set() for e in events):
                priority.give_way()
            done = any(e.is_set() for e in events)  # Stop may come while it gave way
            self.fired = self.fired or done
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return StopOnEvent()


def _stop_string_criterion(tokenizer: Any, stop_strings: tuple[str, ...], n_prompt: int) -> Any:
    """Done once the generated text ends with one of ``stop_strings`` (the rule of transformers'
    own ``stop_strings``). Theirs maps every token of the vocabulary to the stop strings on each
    call (4-5 s per generation for Qwen's 151k tokens on 2 cores); decoding the few generated
    tokens each step costs microseconds."""
    from transformers import StoppingCriteria

    class EndsWithStopString(StoppingCriteria):
        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            done = [tokenizer.decode(row[n_prompt:].tolist(), skip_special_tokens=True).endswith(stop_strings)
                    for row in input_ids]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return EndsWithStopString()


def _eos_ids(loaded: models.LoadedModel) -> list[int]:
    ids: list[int] = []
    for v in (loaded.model.generation_config.eos_token_id, loaded.tokenizer.eos_token_id):
        for i in v if isinstance(v, (list, tuple)) else [v]:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return ids


def _steps(chosen: list[int], logits: tuple, scores: tuple, piece: Pieces) -> list[NextTokenStep]:
    """Per step: top candidates before and after processing, from generate's raw logits and
    processed scores. Done in chunks so a long run on a large vocabulary (Gemma: 262k) never
    holds more than a few copies of (chunk, vocab) at once."""
    out: list[NextTokenStep] = []
    chunk = 32
    # Per step, the output's trailing tokens that end part-way through a character (byte
    # tokens): each candidate is shown with them, so it reads as the character it completes.
    pending_at: list[list[int]] = []
    pending: list[int] = []
    for tid in chosen:
        pending_at.append(list(pending))
        ends_inside = piece.tokenizer.decode(pending + [tid], skip_special_tokens=False).endswith("\ufffd")
        pending = pending + [tid] if ends_inside else []
    for a in range(0, len(chosen), chunk):
        raw = torch.cat(logits[a : a + chunk]).float()  # (c, vocab)
        proc = torch.cat(scores[a : a + chunk]).float()
        ids = torch.tensor(chosen[a : a + chunk], device=raw.device)[:, None]
        p_raw = torch.softmax(raw, dim=-1)
        # top-k / top-p leave -inf: softmax gives those 0, i.e. exactly the sampled distribution.
        p_proc = torch.nan_to_num(torch.softmax(proc, dim=-1), nan=0.0)
        rank = (raw > raw.gather(1, ids)).sum(dim=-1)
        k = min(TOP_CANDIDATES, raw.shape[-1])
        rv, ri = p_raw.topk(k, dim=-1)
        pv, pi = p_proc.topk(k, dim=-1)
        rows = zip(
            ids[:, 0].tolist(), rank.tolist(), p_raw.gather(1, ids)[:, 0].tolist(), p_proc.gather(1, ids)[:, 0].tolist(),
            rv.tolist(), ri.tolist(), pv.tolist(), pi.tolist(),
        )
        for j, (tid, rk, pr, pp, rvs, ris, pvs, pis) in enumerate(rows, start=a):
            before = pending_at[j]
            out.append(NextTokenStep(
                token_id=tid, token=piece.after(before, tid), rank=int(rk), p_raw=pr, p_processed=pp,
                raw=[(piece.after(before, i), i, p) for p, i in zip(rvs, ris)],
                processed=[(piece.after(before, i), i, p) for p, i in zip(pvs, pis) if p > 0.0],
            ))
    return out


def _keep_prompt(key: tuple, prompt_ids: list[int], cache: Any) -> None:
    """Store the prompt's own keys and values (the generated tokens' cropped off, copied so
    that the table's bytes are what it counts) for the next prompt that starts the same way."""
    if cache is None or not getattr(cache, "is_croppable", False):
        return
    try:
        extra = cache.get_seq_length() - len(prompt_ids)
        if extra < 0:
            return
        if extra:
            cache.crop(-extra)
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys.clone(), layer.values.clone()
    except (RuntimeError, ValueError, AttributeError):  # a cache layout that cannot be cut back
        return
    PREFIXES.store(key, prompt_ids, cache)


def stream(
    prompt: str,
    model_key: str | None = None,
    profile: str | None = None,
    stop: threading.Event | None = None,
    progress: models.ConvertProgress | None = None,
    stop_strings: tuple[str, ...] = (),
    max_chars: int = LIMITS.max_chars,
    max_prompt_tokens: int = MAX_PROMPT_TOKENS,
    **opts: object,
) -> Iterator[GenerationUpdate]:
    """Generate an answer to ``prompt`` and yield :class:`GenerationUpdate` as the text grows;
    the last one has ``done=True`` and the :class:`GenerationResult`.

    It is a generator: checks (InputError "input_empty", "input_too_long", "input_not_text",
    "bad_model", "bad_mode", "prompt_too_long") and the model load (``progress`` follows a first
    GGUF conversion) happen on the first ``next()``. Setting ``stop`` ends the generation after
    the current token (stop_reason "stopped"); closing the generator early stops it too.
    ``stop_strings`` (for the tasks that prompt a decoder, e.g. a few-shot prompt that must end
    at a newline) end the generation once the output ends with one of them (stop_reason
    "stop_string"); that text stays in the output."""
    o = options(**opts)
    value = text.clean(prompt, field="prompt", max_chars=max_chars)
    spec = spec_for(model_key, profile, value)
    mode = resolve_mode(o.mode, spec)  # before loading: a wrong mode costs no load
    loaded = models.load(spec, progress)
    prep = prepare(value, mode, loaded, max_chars, max_prompt_tokens)
    tok, model = loaded.tokenizer, loaded.model
    n_prompt = len(prep.input_ids)
    # A model with learned positions (GPT-2) cannot go past its context: cap the new tokens.
    o = dataclasses.replace(o, mode=mode, max_new_tokens=max(1, min(o.max_new_tokens, _max_positions(model) - n_prompt)))
    piece = Pieces(tok)
    base = {
        "prompt": prep.prompt, "prompt_text": prep.prompt_text, "user_span": prep.user_span, "prompt_ids": prep.input_ids,
        "prompt_offsets": prep.offsets, "prompt_tokens": [piece(i) for i in prep.input_ids], "user_tokens": prep.user_tokens,
        "model_key": spec.key, "model": spec.display, "profile": profile or config.active_profile(), "options": o,
        "language": language.check(value, spec.languages),
    }
    if stop is not None and stop.is_set():  # Stop pressed before anything ran
        yield GenerationUpdate("", 0, True, GenerationResult(
            **base, output_ids=[], text="", tokens=[], steps=[], stop_reason="stopped", seconds=0.0, tokens_per_s=0.0,
        ))
        return

    abandoned = threading.Event()  # set when the reader goes away: the worker stops at its next token
    stopper = _stop_criterion(*(e for e in (stop, abandoned) if e is not None))
    streamer = _streamer(tok, timeout=o.max_time + _GRACE_S)
    eos = _eos_ids(loaded)
    ids = torch.tensor([prep.input_ids], device=loaded.device)
    # Sampled or not, generate runs greedy: a sampled run draws in the RowSampler, from its own
    # seeded generator, so runs at once never share the global RNG (generation_sampling).
    sampler = row_sampler([o], loaded.device)
    from transformers import LogitsProcessorList, StoppingCriteriaList

    kwargs: dict[str, Any] = dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        streamer=streamer,
        max_new_tokens=o.max_new_tokens,
        max_time=o.max_time,  # always set: no generation outlives it
        repetition_penalty=o.repetition_penalty,
        stopping_criteria=StoppingCriteriaList(
            [stopper] + ([_stop_string_criterion(tok, tuple(stop_strings), n_prompt)] if stop_strings else [])),
        eos_token_id=eos or None,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else (eos[0] if eos else None),
        logits_processor=LogitsProcessorList([sampler]),
        # Raw logits of every step, for the next-token view (the processed scores: the sampler's).
        return_dict_in_generate=True,
        output_logits=True,
        do_sample=False, temperature=None, top_k=None, top_p=None,
    )
    # A recent prompt's keys and values where this one starts the same way (playground.prefix_cache).
    cache_key = (spec.key, id(model), str(loaded.device))
    if (found := PREFIXES.lookup(cache_key, prep.input_ids))[0] is not None:
        kwargs["past_key_values"] = found[0]
    reused = found[1]
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            with models.gate(spec.key).generating(), models.guard_oom(), loaded.generation_context():
                started = box["t0"] = time.perf_counter()
                box["out"] = model.generate(**kwargs)
                box["seconds"] = time.perf_counter() - started
        except BaseException as exc:  # noqa: BLE001 - handed to the reader's thread
            box["error"] = exc
            streamer.text_queue.put(streamer.stop_signal)  # generate never called end()

    worker = threading.Thread(target=work, name=f"generate-{spec.key}", daemon=True)
    so_far = ""
    try:
        worker.start()
        yield GenerationUpdate("", 0)
        queued = time.perf_counter()

        def deadline() -> float:
            # max_time counts from generate's start; before it, the worker may wait its turn
            # (an attention pass on the same model), which is bounded too.
            return box.get("t0", queued + MAX_TIME_CAP + _GRACE_S) + o.max_time + _GRACE_S

        while True:
            try:
                chunk = streamer.text_queue.get(timeout=0.5)
            except queue.Empty:
                if time.perf_counter() > deadline() or not worker.is_alive() and streamer.text_queue.empty():
                    break
                continue
            if chunk is streamer.stop_signal:
                break
            if chunk:
                so_far += chunk
                yield GenerationUpdate(so_far, streamer.n_tokens)
        worker.join(timeout=max(0.0, deadline() - time.perf_counter()))
    finally:
        abandoned.set()  # normal end: no effect; reader gone or error: the worker stops now
    if "error" in box:
        raise box["error"]
    if "out" not in box:
        raise TimeoutError(f"generation on {spec.key} did not finish within {o.max_time + _GRACE_S:.0f} s")

    out = box["out"]
    generated = out.sequences[0, n_prompt:].tolist()
    steps = _steps(generated, out.logits, tuple(sampler.scores), piece)
    _keep_prompt(cache_key, prep.input_ids, getattr(out, "past_key_values", None))
    del out, sampler  # the per-step logits and scores: up to 256 x vocab floats, twice
    eos_step = None
    if stopper.fired:
        reason = "stopped"
    elif generated and generated[-1] in eos:
        reason = "eos"
    elif stop_strings and any(tok.decode(generated, skip_special_tokens=True).endswith(x) for x in stop_strings):
        reason = "stop_string"
    elif len(generated) >= o.max_new_tokens:
        reason = "max_new_tokens"
    else:
        reason = "max_time"
    if generated and generated[-1] in eos:
        generated, eos_step, steps = generated[:-1], steps[-1], steps[:-1]
    seconds = box["seconds"]
    n_steps = len(generated) + (eos_step is not None)
    result = GenerationResult(
        **base,
        output_ids=generated,
        text=tok.decode(generated, skip_special_tokens=True),
        tokens=[piece(i) for i in generated],
        steps=steps,
        stop_reason=reason,
        seconds=seconds,
        tokens_per_s=n_steps / seconds if seconds > 0 else 0.0,
        eos_step=eos_step,
        reused_tokens=reused,
    )
    yield GenerationUpdate(result.text, len(generated), True, result)


def generate(
    prompt: str,
    model_key: str | None = None,
    profile: str | None = None,
    stop: threading.Event | None = None,
    progress: models.ConvertProgress | None = None,
    stop_strings: tuple[str, ...] = (),
    max_chars: int = LIMITS.max_chars,
    max_prompt_tokens: int = MAX_PROMPT_TOKENS,
    **opts: object,
) -> GenerationResult:
    """:func:`stream` run to the end: the finished result. Concurrent greedy short ones on one
    model share one batched generate (:mod:`playground.batched_generate`)."""
    from ..batched_generate import generate as batched  # here: that module imports this one

    return batched(prompt, model_key, profile, stop, progress, stop_strings, max_chars, max_prompt_tokens, **opts)


def _loaded_for(result: GenerationResult, loaded: models.LoadedModel | None) -> models.LoadedModel:
    if loaded is None:
        return model_for(result.model_key, result.profile)
    if loaded.spec.key != result.model_key:
        raise ValueError(f"result was made by {result.model_key}, not {loaded.spec.key}")
    return loaded


def subject(result: GenerationResult, loaded: models.LoadedModel | None = None) -> Subject:
    """What the explanation methods read for a generation: the words of the user's prompt (the
    chat template around it is neither explained nor perturbed), and as targets the
    log-probability of the whole output (the default) and of each output word, teacher-forced
    (:mod:`playground.explain.llm`)."""
    if not result.output_ids:
        raise InputError("nothing_generated")
    loaded = _loaded_for(result, loaded)
    inp = llm.LLMInput(model_text=result.prompt_text, parts=[("prompt", *result.user_span)], output_ids=list(result.output_ids))
    return llm.subject(loaded, inp, NAME, eager=gate(loaded.spec.key).eager)


# The views that cost one extra forward pass each (attention in words, logit lens) live in
# generation_views; they are part of this task's interface.
from .generation_views import AttentionMap as AttentionMap  # noqa: E402
from .generation_views import attention as attention  # noqa: E402
from .generation_views import logit_lens as logit_lens  # noqa: E402

TASK = Task(name=NAME, run=generate, subject=subject, attention=attention, parts=("prompt",),
            targets="the log-probability of the whole output (default) or of one output word")
