"""The Generation tab's streams, decoded together (:func:`stream`).

Forty students pressing Generate used to take turns on one slot. Now the streams that run at
once on one model and settings go through one :class:`playground.batching.Batcher`: the first runs
at once, alone, on the lone streaming path (:func:`playground.tasks.generation.stream`: prefix
cache, Stop, timeouts); those that arrive meanwhile are decoded together by
:func:`playground.batched_generate.run_together`, each row's text streaming to its own reader, at
most :data:`ROW_STEPS` rows x tokens a run (a run keeps every step's logits of every row). Sampled
rows draw from their own seeds (:mod:`playground.tasks.generation_sampling`), so each student gets
the text their seed gives alone.

A stream that waits for the runs before it says so: its updates carry how many generations run
first and about how long that takes (the last run's seconds per row and token, times the tokens
still to come ahead of it), and Stop ends a waiting stream at once. No gradio.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Hashable, Iterator
from typing import Any

import torch

from . import batching, models
from .batched_generate import BATCH_MAX_NEW_TOKENS, Row, _fits, prepare_row, run_together
from .config import LIMITS
from .tasks import generation as gen
from .tasks.generation_pieces import Pieces
from .tasks.generation_types import MAX_TIME_CAP, GenerationOptions, GenerationResult, GenerationUpdate, NextTokenStep

# Rows x new tokens one batched run may hold (a row-step keeps 2 x vocab floats: 1.2 MB on
# Qwen): 8 short answers, 4 streams of the Generation tab's default 64 tokens, 1 of 256.
ROW_STEPS = LIMITS.generate_batch * BATCH_MAX_NEW_TOKENS

_RESTART = object()  # in a stream's text queue: what came before is void (a failed batch, rerun alone)

# Seconds per row and token of the last run on each batcher (its key): what a waiting stream's
# estimate multiplies the tokens ahead of it by. On a CPU a row costs nearly a step's time, so
# the tokens ahead are the work ahead, however the rows are grouped into runs.
_pace: dict[Hashable, float] = {}




def stream(
    prompt: str,
    model_key: str | None = None,
    profile: str | None = None,
    stop: threading.Event | None = None,
    progress: models.ConvertProgress | None = None,
    stop_strings: tuple[str, ...] = (),
    max_chars: int = LIMITS.max_chars,
    max_prompt_tokens: int = gen.MAX_PROMPT_TOKENS,
    **opts: object,
) -> Iterator[GenerationUpdate]:
    """:func:`playground.tasks.generation.stream` (the same updates, checks and Stop), with the
    streams that run at once on one model and settings decoded together: the first runs at
    once, alone; those that arrive meanwhile share the next run. While a stream waits, its
    updates carry ``waiting`` (generations ahead, about how many seconds: None until a run has
    been timed) and Stop answers at once; closing the generator stops its row (the others go on)."""
    args = (prompt, model_key, profile, stop, progress, tuple(stop_strings), max_chars, max_prompt_tokens)
    if stop is not None and stop.is_set():
        yield from gen.stream(*args, **opts)
        return
    row = prepare_row(*args, **opts)  # InputErrors on the first next(), as stream raises them
    o = row.options
    row.sink = gen._streamer(row.loaded.tokenizer, timeout=None)
    batcher = stream_batcher_for(row.loaded, o)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = batcher(row)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader's thread
            box["error"] = exc
        finally:
            row.sink.text_queue.put(row.sink.stop_signal)  # the reader always wakes

    worker = threading.Thread(target=work, name=f"stream-{row.loaded.spec.key}", daemon=True)
    so_far, told = "", None

    def stopped_now() -> GenerationUpdate:
        made = list(row.made or [])
        if made and row.scores is None:  # its run's generate just ended: the whole result is moments away
            worker.join(timeout=2)
            if "result" in box:
                return GenerationUpdate(box["result"].text, len(box["result"].tokens), True, box["result"])
        return GenerationUpdate(so_far, len(made), True, _stopped(row, made))
    try:
        worker.start()
        yield GenerationUpdate("", 0)
        while True:
            try:
                chunk = row.sink.text_queue.get(timeout=0.5)
            except queue.Empty:
                if not worker.is_alive() and row.sink.text_queue.empty():
                    break
                if stop is not None and stop.is_set() and (not row.began.is_set() or row.made is not None):
                    # Stop while waiting, or in a batched run: answered now (see below)
                    yield stopped_now()
                    return
                if not row.began.is_set():
                    if (now := waiting(batcher, row)) != told:
                        told = now
                        yield GenerationUpdate("", 0, waiting=now)
                continue
            if chunk is row.sink.stop_signal:
                break
            if chunk is _RESTART:
                so_far = ""
                continue
            if chunk:
                so_far += chunk
                yield GenerationUpdate(so_far, row.sink.n_tokens)
            if stop is not None and stop.is_set() and row.made is not None:
                # Stop in a batched run: answered now with the tokens so far and their
                # next-token steps; the row stops at its next token, the others go on.
                yield stopped_now()
                return
        # A run ends at max_time; a row may first wait for the run before it (one at a time).
        worker.join(timeout=2 * (o.max_time + MAX_TIME_CAP) + 60)
    finally:
        row.gone.set()  # normal end: no effect; reader gone: its row stops at the next token
    if "error" in box:
        raise box["error"]
    if "result" not in box:
        raise TimeoutError(f"generation on {row.loaded.spec.key} did not finish in time")
    yield GenerationUpdate(box["result"].text, len(box["result"].tokens), True, box["result"])


def waiting(batcher: batching.Batcher[Row, GenerationResult], row: Row) -> tuple[int, float | None]:
    """How many generations run before ``row`` and about how many seconds they take: the tokens
    they have still to make times the last run's seconds per row and token (None: none timed)."""
    running, queued = batcher.ahead_of(row)
    ahead = [r for r in running + queued if r is not row and not r.gone.is_set() and not r.ended.is_set()]
    pace = _pace.get(_key(row.loaded, row.options))
    left = sum(max(0, r.options.max_new_tokens - (r.sink.n_tokens if r.sink is not None else 0)) for r in ahead)
    return len(ahead), (None if pace is None else round(left * pace))


def _stopped(row: Row, made: list[int] | None = None) -> GenerationResult:
    """The result of a stream stopped before its run gave one: the tokens it made so far, if any."""
    tok, eos = row.loaded.tokenizer, set(gen._eos_ids(row.loaded))
    ids = [t for t in made or [] if t not in eos]
    seconds = time.perf_counter() - row.t0 if ids and row.t0 else 0.0
    piece = Pieces(tok)
    return GenerationResult(**row.base, output_ids=ids, text=tok.decode(ids, skip_special_tokens=True),
                            tokens=[piece(t) for t in ids], steps=_steps_so_far(row, ids, piece), stop_reason="stopped",
                            seconds=seconds, tokens_per_s=len(ids) / seconds if seconds > 0 else 0.0)


def _steps_so_far(row: Row, ids: list[int], piece: Pieces) -> list[NextTokenStep]:
    """The next-token steps of a row stopped while its batched run goes on. Its raw logits stay
    inside the running ``generate`` (returned only at the end), so they come from one forward
    over the prompt and the tokens made (the same numbers up to float rounding); the processed
    scores are the sampler's own, those the row drew from."""
    scores, i = row.scores or ([], 0)
    k = min(len(ids), len(scores))
    if k == 0:
        return []
    processed = tuple(s[i : i + 1] for s in scores[:k])
    loaded = row.loaded
    seq = torch.tensor([list(row.prep.input_ids) + ids[:k]], device=loaded.device)
    # No gate: the run holds the model in its sdpa state; were it to end meanwhile, an eager
    # pass would give the same numbers, only slower.
    with torch.inference_mode(), models.guard_oom(), loaded.generation_context():
        # Positions -k-1 .. -2 predict the k tokens; only those logits are kept (not prompt x vocab).
        logits = loaded.model(input_ids=seq, logits_to_keep=k + 1).logits[0, :k].float()
    return gen._steps(ids[:k], tuple(logits[j : j + 1] for j in range(k)), processed, piece)


def _key(loaded: models.LoadedModel, o: GenerationOptions) -> Hashable:
    return ("stream", loaded.spec.key, id(loaded.model), str(loaded.device), float(o.repetition_penalty), float(o.max_time))


def stream_batcher_for(loaded: models.LoadedModel, o: GenerationOptions) -> batching.Batcher[Row, GenerationResult]:
    """The one batcher for streams on ``loaded`` with ``o``'s shared settings."""
    return batching.batcher(_key(loaded, o), _run_streams, LIMITS.generate_batch)


def _run_streams(rows: list[Row]) -> list[GenerationResult]:
    """The stream batcher's function: the rows in runs of at most :data:`ROW_STEPS` row-steps
    (shortest first), each run streaming to its rows' readers; a run of one on the lone path."""
    results = {i: _stopped(r) for i, r in enumerate(rows) if r.gone.is_set()}  # stopped while they waited
    order = sorted((i for i in range(len(rows)) if i not in results), key=lambda i: rows[i].options.max_new_tokens)
    while order:
        steps = rows[order[0]].options.max_new_tokens
        take = [order.pop(0)]
        while order and (len(take) + 1) * max(steps, rows[order[0]].options.max_new_tokens) <= ROW_STEPS:
            steps = max(steps, rows[order[0]].options.max_new_tokens)
            take.append(order.pop(0))
        run = [rows[i] for i in take]
        for r in run:
            r.began.set()
        started = time.perf_counter()
        try:
            done = [_forward_alone(r) for r in run] if len(run) == 1 or not _fits(run) else run_together(run)
        finally:
            for r in run:
                r.ended.set()
        made = max((len(d.output_ids) + (d.eos_step is not None) for d in done), default=0)
        if made and all(d.seconds > 0 for d in done):  # a stopped or failed run says nothing of the pace
            key = _key(run[0].loaded, run[0].options)
            _pace.pop(key, None)
            _pace[key] = (time.perf_counter() - started) / (made * len(run))
            while len(_pace) > batching.MAX_BATCHERS:  # as bounded as the batchers (keys carry client settings)
                _pace.pop(next(iter(_pace)))
        results.update(zip(take, done))
    return [results[i] for i in range(len(rows))]


def _forward_alone(row: Row) -> GenerationResult:
    """One stream on :func:`generation.stream` (prefix cache, Stop, timeouts), passed to its reader."""
    row.began.set()
    if row.gone.is_set():  # its reader left (Stop while it waited): nothing to run
        return _stopped(row)
    if row.sink.n_tokens:  # a failed batch run already streamed part of it: start the text again
        row.sink.n_tokens = 0
        row.sink.text_queue.put(_RESTART)
    told = ""
    updates = gen.stream(*row.args, **row.opts)
    try:
        for update in updates:
            if update.done and update.result is not None:
                return update.result
            if row.gone.is_set():
                break
            if len(update.text) > len(told):
                row.sink.n_tokens = update.n_tokens
                row.sink.text_queue.put(update.text[len(told) :])
                told = update.text
    finally:
        updates.close()  # a reader that left: the worker stops at its next token
    # Nobody reads this one (its reader left); raising would make the batcher rerun every row.
    return _stopped(row)


__all__ = ["ROW_STEPS", "stream", "stream_batcher_for", "waiting"]
