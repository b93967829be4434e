"""Concurrent generations on one model answered by one batched ``model.generate``.

A class asks for short generations and generative answers at once. Decoding one token on a CPU
reads every weight of the model once, whoever asks (Qwen2.5-0.5B: about 0.2 s a token on 2
cores, memory-bandwidth bound), so eight sequences decoded together cost little more than one.
:func:`generate` is :func:`playground.tasks.generation.generate` for every caller; requests of at most
:data:`BATCH_MAX_NEW_TOKENS` tokens go through a
:class:`playground.batching.Batcher` keyed by the model and the settings that shape every row
alike (repetition penalty, max_time): the first caller runs at once, alone, on the streaming
path (prefix cache included); the calls that arrive meanwhile are answered together by
:func:`run_together`.

One batched run (:func:`run_together`):
  * the rows' prompts share their longest common prefix: when the prefix cache
    (:mod:`playground.prefix_cache`) holds keys and values for it, one copy is repeated for every
    row, so a class's questions on one paragraph read only their own questions;
  * each row is laid out as [cached prefix][masked filler][the rest of its prompt], so every
    prompt ends in the same column and generated tokens start there for all rows; the attention
    mask hides the filler, and transformers derives position ids from the mask, so each row
    sees exactly the positions it has alone. (The filler is a token of the row itself: the
    repetition penalty, which reads every column, then sees no token the row lacks.);
  * one stopping criterion (:class:`_RowStops`) ends each row at its own max_new_tokens, its
    end-of-sequence token, its own stop strings or its own Stop event, and records where and
    why, so each caller gets exactly its own tokens, steps and stop reason.

Rows in a batch give the tokens they give alone (tests/test_batched_generate.py), up to float
rounding on near ties: a sampled row draws from its own seeded generator
(:mod:`playground.tasks.generation_sampling`), so greedy and sampled rows share a batch and a
seed still gives its text. Longer requests run alone, one at a time.

Rows with a ``sink`` stream their text to it as the run goes: the Generation tab's streams
(:mod:`playground.batched_stream`). No gradio.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from typing import Any

import torch

from . import batching, config, language, models, priority, text
from .config import LIMITS
from .prefix_cache import PREFIXES
from .tasks import generation as gen
from .tasks.generation_input import _max_positions
from .tasks.generation_pieces import Pieces
from .tasks.generation_sampling import row_sampler
from .tasks.generation_types import GenerationOptions, GenerationResult

# Longer requests run alone: a batch returns when its longest row ends, so an 8-token answer
# must not wait on a 256-token story; and generate keeps every step's logits twice per row
# (rows x steps x vocab floats: 8 x 32 x 152k x 8 B = 311 MB on Qwen, a lone 256-token run's).
BATCH_MAX_NEW_TOKENS = 32

# Generations too long to batch take turns, as they did when /generate ran one at a time:
# several at once on a CPU are not faster, and they would crowd out the batched short ones.
_long_turns = threading.Lock()

@dataclasses.dataclass(eq=False)
class Row:
    """One validated request, ready to be run alone or in a batch."""

    args: tuple  # generation.stream's positional arguments, to run it alone
    opts: dict[str, Any]
    loaded: models.LoadedModel
    prep: gen.Prepared
    options: GenerationOptions  # mode resolved, max_new_tokens capped
    base: dict[str, Any]  # the GenerationResult fields known before generating
    stop_strings: tuple[str, ...]
    stop: threading.Event | None
    sink: Any = None  # a stream's own text streamer (generation._streamer); None: result only
    gone: threading.Event = dataclasses.field(default_factory=threading.Event)  # a stream's reader left
    began: threading.Event = dataclasses.field(default_factory=threading.Event)  # its run started
    ended: threading.Event = dataclasses.field(default_factory=threading.Event)  # its run ended
    made: list[int] | None = None  # in a batched run, a stream's tokens so far (what Stop answers with)
    t0: float = 0.0  # when its batched run started
    # In a batched run: the sampler's per-step processed scores (rows, vocab) and this row's
    # index in them, for the next-token view of a row stopped before the run ends.
    scores: tuple[list[Any], int] | None = None


def prepare_row(
    prompt: str,
    model_key: str | None = None,
    profile: str | None = None,
    stop: threading.Event | None = None,
    progress: models.ConvertProgress | None = None,
    stop_strings: tuple[str, ...] = (),
    max_chars: int = LIMITS.max_chars,
    max_prompt_tokens: int = gen.MAX_PROMPT_TOKENS,
    **opts: object,
) -> Row:
    """Validate and tokenize a request as :func:`generation.stream` does (the same InputErrors,
    raised here, to the caller alone) and load its model."""
    o = gen.options(**opts)
    value = text.clean(prompt, field="prompt", max_chars=max_chars)
    spec = gen.spec_for(model_key, profile, value)
    mode = gen.resolve_mode(o.mode, spec)
    loaded = models.load(spec, progress)
    prep = gen.prepare(value, mode, loaded, max_chars, max_prompt_tokens)
    n_prompt = len(prep.input_ids)
    o = dataclasses.replace(o, mode=mode, max_new_tokens=max(1, min(o.max_new_tokens, _max_positions(loaded.model) - n_prompt)))
    piece = Pieces(loaded.tokenizer)
    base = {
        "prompt": prep.prompt, "prompt_text": prep.prompt_text, "user_span": prep.user_span, "prompt_ids": prep.input_ids,
        "prompt_offsets": prep.offsets, "prompt_tokens": [piece(i) for i in prep.input_ids], "user_tokens": prep.user_tokens,
        "model_key": spec.key, "model": spec.display, "profile": profile or config.active_profile(), "options": o,
        "language": language.check(value, spec.languages),
    }
    args = (prompt, model_key, profile, stop, progress, tuple(stop_strings), max_chars, max_prompt_tokens)
    return Row(args, dict(opts), loaded, prep, o, base, tuple(stop_strings), stop)


def generate(
    prompt: str,
    model_key: str | None = None,
    profile: str | None = None,
    stop: threading.Event | None = None,
    progress: models.ConvertProgress | None = None,
    stop_strings: tuple[str, ...] = (),
    max_chars: int = LIMITS.max_chars,
    max_prompt_tokens: int = gen.MAX_PROMPT_TOKENS,
    **opts: object,
) -> GenerationResult:
    """:func:`playground.tasks.generation.generate`: the finished result, short requests
    answered together with the concurrent ones on the same model and settings."""
    args = (prompt, model_key, profile, stop, progress, tuple(stop_strings), max_chars, max_prompt_tokens)
    o = gen.options(**opts)
    if stop is not None and stop.is_set():
        return _alone(args, opts)
    if o.max_new_tokens > BATCH_MAX_NEW_TOKENS:
        with _long_turns:
            return _alone(args, opts)
    row = prepare_row(*args, **opts)
    return batcher_for(row.loaded, row.options)(row)


def batcher_for(loaded: models.LoadedModel, o: GenerationOptions) -> batching.Batcher[Row, GenerationResult]:
    """The one batcher for short generations on ``loaded`` with ``o``'s shared settings (its
    ``batches`` lists the sizes of the runs: what tests and benches read)."""
    key = ("generate", loaded.spec.key, id(loaded.model), str(loaded.device), float(o.repetition_penalty), float(o.max_time))
    return batching.batcher(key, _run_rows, LIMITS.generate_batch)


def _alone(args: tuple, opts: dict[str, Any]) -> GenerationResult:
    """Today's path: :func:`generation.stream` to the end (prefix cache, Stop, timeouts)."""
    for update in gen.stream(*args, **opts):
        if update.done and update.result is not None:
            return update.result
    raise RuntimeError("generation ended without a result")  # unreachable: stream always ends with one


def _run_rows(rows: list[Row]) -> list[GenerationResult]:
    """The batcher's function: one row alone on the streaming path; several together when
    their padded layout fits the model (else one after another, alone)."""
    if len(rows) > 1 and _fits(rows):
        return run_together(rows)
    return [_alone(r.args, r.opts) for r in rows]


def _fits(rows: Sequence[Row]) -> bool:
    """Whether the rows can share one run: every row's positions stay inside a model with
    learned positions (finished rows keep stepping until the longest ends), and the padded
    length stays inside a sliding attention window (the window counts columns, filler too)."""
    model = rows[0].loaded.model
    steps = max(r.options.max_new_tokens for r in rows)
    width = max(len(r.prep.input_ids) for r in rows) + steps
    if any(len(r.prep.input_ids) + steps > _max_positions(model) for r in rows):
        return False
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    window = getattr(cfg, "sliding_window", None)
    return not (isinstance(window, int) and window > 0 and width > window)


def _common(seqs: Sequence[Sequence[int]]) -> int:
    n = 0
    for column in zip(*seqs):
        if any(x != column[0] for x in column):
            break
        n += 1
    return n


def _stops(tokenizer: Any, rows: Sequence[Row], start: int, eos: list[int]) -> Any:
    from transformers import StoppingCriteria

    class _RowStops(StoppingCriteria):
        """Per row: done at its Stop event, its end-of-sequence token, one of its stop strings or
        its own max_new_tokens (in the order generation.stream names the reason); records how
        many tokens it made, why and when (its own seconds). A row that is done stays done."""

        def __init__(self) -> None:
            self.length: list[int | None] = [None] * len(rows)
            self.reason: list[str | None] = [None] * len(rows)
            self.when: list[float | None] = [None] * len(rows)

        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            n = input_ids.shape[1] - start
            priority.give_way()  # after each decoded token: a prediction running now goes first
            for i, r in enumerate(rows):
                if self.length[i] is not None:
                    continue
                new = input_ids[i, start:].tolist()
                reason = None
                if r.stop is not None and r.stop.is_set() or r.gone.is_set():
                    reason = "stopped"
                elif new and new[-1] in eos:
                    reason = "eos"
                elif r.stop_strings and tokenizer.decode(new, skip_special_tokens=True).endswith(r.stop_strings):
                    reason = "stop_string"
                elif n >= r.options.max_new_tokens:
                    reason = "max_new_tokens"
                if reason is not None:
                    self.length[i], self.reason[i], self.when[i] = n, reason, time.perf_counter()
            return torch.tensor([x is not None for x in self.length], dtype=torch.bool, device=input_ids.device)

    return _RowStops()


def _streams(rows: Sequence[Row], stops: Any) -> Any:
    """generate's streamer for a batch: row i's new token goes to row i's own text streamer,
    until that row is done (generate then pads it)."""
    from transformers.generation.streamers import BaseStreamer

    class RowsStreamer(BaseStreamer):
        step = -1  # generate puts the prompts (rows, columns) first, then each step's tokens (rows,)

        def put(self, value: torch.Tensor) -> None:
            self.step += 1
            for i, r in enumerate(rows):
                # stops.length[i]: the step row i ended on (generate may check the stopping
                # criteria before or after it streams that step); later steps are padding.
                if r.sink is not None and (self.step == 0 or stops.length[i] is None or self.step <= stops.length[i]):
                    r.sink.put(value[i : i + 1])
                    if self.step and r.made is not None:
                        r.made.append(int(value[i]))

        def end(self) -> None:
            for r in rows:
                if r.sink is not None:
                    r.sink.end()

    return RowsStreamer()


def run_together(rows: list[Row]) -> list[GenerationResult]:
    """Generations of ``rows`` (one model, one repetition penalty and max_time; greedy or each
    sampled from its own seed) in one ``model.generate``; each row's result is the one it gets
    alone (see the module's doc). Rows with a ``sink`` stream their text to it."""
    from transformers import LogitsProcessorList, StoppingCriteriaList

    loaded = rows[0].loaded
    tok, model, spec = loaded.tokenizer, loaded.model, loaded.spec
    if any(r.loaded.model is not model for r in rows):
        raise ValueError("run_together needs rows on one model")
    o = rows[0].options
    seqs = [r.prep.input_ids for r in rows]
    cache_key = (spec.key, id(model), str(loaded.device))  # generation.stream's key: one table for both
    shared = min(_common(seqs), min(len(s) for s in seqs) - 1)  # each row keeps a token of its own to compute
    past, n = (PREFIXES.lookup(cache_key, seqs[0][: shared + 1]) if shared >= PREFIXES.min_tokens else (None, 0))
    if past is not None:
        past.batch_repeat_interleave(len(rows))
    width = max(len(s) for s in seqs)
    ids, mask = [], []
    for s in seqs:
        gap = width - len(s)
        ids.append(s[:n] + [s[n]] * gap + s[n:])
        mask.append([1] * n + [0] * gap + [1] * (len(s) - n))
    eos = gen._eos_ids(loaded)
    stops = _stops(tok, rows, width, eos)
    sampler = row_sampler([r.options for r in rows], loaded.device)
    input_ids = torch.tensor(ids, device=loaded.device)
    kwargs: dict[str, Any] = dict(
        input_ids=input_ids,
        attention_mask=torch.tensor(mask, device=loaded.device),
        max_new_tokens=max(r.options.max_new_tokens for r in rows),
        # Each row may take max_time alone; on a CPU a row adds nearly a step's cost (Qwen-0.5B,
        # 2 cores: 0.30 s a step alone, 0.66 s for 3 rows): a row is never cut where alone it is not.
        max_time=o.max_time * len(rows),
        repetition_penalty=o.repetition_penalty,
        stopping_criteria=StoppingCriteriaList([stops]),
        logits_processor=LogitsProcessorList([sampler]),  # sampled rows draw here (generate stays greedy)
        eos_token_id=eos or None,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else (eos[0] if eos else None),
        return_dict_in_generate=True,
        output_logits=True,
        do_sample=False, temperature=None, top_k=None, top_p=None,
    )
    if past is not None:
        kwargs["past_key_values"] = past
    if any(r.sink is not None for r in rows):
        kwargs["streamer"] = _streams(rows, stops)
    with models.gate(spec.key).generating(), models.guard_oom(), loaded.generation_context():
        started = time.perf_counter()
        for i, r in enumerate(rows):
            r.made, r.t0 = ([] if r.sink is not None else None), started
            r.scores = (sampler.scores, i) if r.sink is not None else None
        try:
            out = model.generate(**kwargs)
        finally:
            for r in rows:
                r.scores = None  # a stopped reader took its reference; the run's scores go with the run
        ended = time.perf_counter()
    piece = Pieces(tok)
    results = []
    made = out.sequences.shape[1] - width
    for i, r in enumerate(rows):
        k = stops.length[i] if stops.length[i] is not None else made  # not recorded: max_time ended the run
        generated = out.sequences[i, width : width + k].tolist()
        steps = gen._steps(generated, tuple(x[i : i + 1] for x in out.logits[:k]),
                           tuple(x[i : i + 1] for x in sampler.scores[:k]), piece)
        eos_step = None
        if generated and generated[-1] in eos:
            generated, eos_step, steps = generated[:-1], steps[-1], steps[:-1]
        n_steps, seconds = len(generated) + (eos_step is not None), (stops.when[i] or ended) - started
        results.append(GenerationResult(
            **r.base, output_ids=generated, text=tok.decode(generated, skip_special_tokens=True),
            tokens=[piece(t) for t in generated], steps=steps, stop_reason=stops.reason[i] or "max_time",
            seconds=seconds, tokens_per_s=n_steps / seconds if seconds > 0 else 0.0, eos_step=eos_step, reused_tokens=n,
        ))
    _keep_longest(out, rows, seqs, width, cache_key)
    return results


def _keep_longest(out: Any, rows: Sequence[Row], seqs: Sequence[Sequence[int]], width: int, cache_key: tuple) -> None:
    """The longest prompt has no filler: its row of the batch's cache is exactly its own keys
    and values, kept for the next prompt that starts the same way (as a lone run keeps its)."""
    cache = getattr(out, "past_key_values", None)
    j = next(i for i, s in enumerate(seqs) if len(s) == width)
    if cache is None or not getattr(cache, "is_croppable", False):
        return
    try:
        cache.batch_select_indices(torch.tensor([j], device=rows[j].loaded.device))
    except (RuntimeError, AttributeError, IndexError):
        return
    gen._keep_prompt(cache_key, list(seqs[j]), cache)


__all__ = ["BATCH_MAX_NEW_TOKENS", "Row", "batcher_for", "generate", "prepare_row", "run_together"]
