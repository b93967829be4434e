"""Text generation: stream a decoder's answer token by token, and keep what the views explain.

One call to :func:`stream` runs ``model.generate`` in a worker thread with transformers'
``TextIteratorStreamer`` (the page shows the text as it grows) and captures, from the same run,
each step's distribution before and after the sampling settings (temperature, top-k, top-p,
repetition penalty) reshape it: the "next-token" view reads :class:`NextTokenStep`. Attention
(:func:`attention`) and the logit lens (:func:`logit_lens`) each cost ONE extra forward pass
over the finished sequence, only when the user opens those views.

Everything is bounded on the server: options are clamped (:func:`options`), prompts are
validated and capped in tokens, and every generation carries ``max_time`` and a Stop event, so
nothing can hang a worker. No gradio here: the UI and the API both call these functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import config, models, prompting, text
from ..config import LIMITS
from ..errors import InputError
from ..explain import llm
from ..explain.base import Option, Subject
from .base import Task

NAME = "generation"

MAX_PROMPT_TOKENS = 512  # the whole model input (chat template included)
TOP_CANDIDATES = 10  # candidates kept per step for the next-token view
MAX_TIME_CAP = 60.0  # seconds; no client can raise a generation's time limit above this
MODES = ("chat", "plain")
STOP_REASONS = ("max_new_tokens", "eos", "stopped", "max_time", "stop_string")
# How long the reader waits past max_time for the worker before giving up on it: the worker
# stops itself at max_time; this only guards against a wedged thread.
_GRACE_S = 30.0


# --------------------------------------------------------------------------------------------
# Options


BOUNDS: dict[str, Option] = {
    o.name: o
    for o in (
        Option("max_new_tokens", 64, 1, 256, "gen_max_new_tokens"),
        Option("temperature", 0.7, 0.0, 2.0, "gen_temperature", integer=False),
        Option("top_k", 50, 0, 200, "gen_top_k"),  # 0: off
        Option("top_p", 0.95, 0.05, 1.0, "gen_top_p", integer=False),
        Option("repetition_penalty", 1.0, 1.0, 2.0, "gen_repetition_penalty", integer=False),
        Option("seed", 0, 0, 2**31 - 1, "gen_seed"),
        Option("max_time", 30.0, 1.0, MAX_TIME_CAP, "gen_max_time", integer=False),
    )
}
# Below this a temperature is a division by almost zero (logits / 1e-9): treated as this value.
MIN_TEMPERATURE = 0.01


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling settings, already clamped. ``temperature == 0`` means greedy decoding.
    ``mode`` is "chat" (the model's chat template around the prompt) or "plain" (the prompt as
    is, a completion); None means the model's default (chat when it has a template)."""

    max_new_tokens: int = 64
    temperature: float = 0.7
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.0
    seed: int = 0
    mode: str | None = None
    max_time: float = 30.0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _mode(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().lower() in MODES:
        return value.strip().lower()
    raise InputError("bad_mode_value", mode=str(value)[:40])


def options(**given: object) -> GenerationOptions:
    """Defaults filled in, every number clamped to its bounds, unknown names dropped. Never
    raises for a number; an unknown ``mode`` string is an InputError ("bad_mode")."""
    values: dict[str, Any] = {name: b.clamp(given.get(name, b.default)) for name, b in BOUNDS.items()}
    if 0.0 < values["temperature"] < MIN_TEMPERATURE:
        values["temperature"] = MIN_TEMPERATURE
    return GenerationOptions(**values, mode=_mode(given.get("mode")))


# --------------------------------------------------------------------------------------------
# The exact model input


@dataclass(frozen=True)
class Prepared:
    """What the model is fed. ``prompt_text[user_span[0]:user_span[1]]`` is the user's prompt
    (so attributions can be limited to the user's words); ``offsets[i]`` is token i's character
    span in ``prompt_text`` (None when the tokenizer cannot say); ``user_tokens`` is the
    [first, end) range of tokens that overlap the user's prompt."""

    mode: str
    prompt: str
    prompt_text: str
    user_span: tuple[int, int]
    input_ids: list[int]
    offsets: list[tuple[int, int]] | None
    user_tokens: tuple[int, int]


def _max_positions(model: Any) -> int:
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    for name in ("max_position_embeddings", "n_positions"):
        n = getattr(cfg, name, None)
        if isinstance(n, int) and n > 0:
            return n
    return 1 << 30


def has_chat_template(loaded: models.LoadedModel) -> bool:
    return bool(loaded.spec.chat and getattr(loaded.tokenizer, "chat_template", None))


def resolve_mode(mode: str | None, spec: config.ModelSpec) -> str:
    """The mode to use on ``spec``: the given one, or chat for chat models and plain otherwise."""
    mode = _mode(mode)
    if mode is None:
        return "chat" if spec.chat else "plain"
    if mode == "chat" and not spec.chat:
        raise InputError(
            "bad_mode",
            model=spec.display,
        )
    return mode


def _encode(tokenizer: Any, s: str, add_special_tokens: bool) -> tuple[list[int], list[tuple[int, int]] | None]:
    try:
        enc = tokenizer(s, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        return list(enc["input_ids"]), [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    except (NotImplementedError, ValueError, TypeError):  # a slow tokenizer: no offsets
        return list(tokenizer(s, add_special_tokens=add_special_tokens)["input_ids"]), None


def prepare(prompt: str, mode: str, loaded: models.LoadedModel, max_chars: int = LIMITS.max_chars,
            max_prompt_tokens: int = MAX_PROMPT_TOKENS) -> Prepared:
    """The exact model input for ``prompt``. Chat: the model's chat template around one user
    message, with the assistant's turn opened. Plain: the prompt itself, after the start token
    the tokenizer adds (Gemma's ``<bos>``), which is written into ``prompt_text`` so that
    ``prompt_text`` is always exactly what the model reads. (The tasks that wrap a user's text in
    an instruction raise ``max_chars`` and ``max_prompt_tokens``: they bound the user's part.)"""
    prompt = text.clean(prompt, field="prompt", max_chars=max_chars)
    mode = resolve_mode(mode, loaded.spec)
    tok = loaded.tokenizer
    if mode == "chat":
        if not has_chat_template(loaded):
            raise InputError("bad_mode",
                             model=loaded.spec.display)
        prompt_text, span = prompting.chat_text(tok, prompt)
        # The template already holds every special token; the tokenizer must not add more.
        ids, offsets = _encode(tok, prompt_text, add_special_tokens=False)
    else:
        ids, offsets = _encode(tok, prompt, add_special_tokens=True)
        special = set(tok.all_special_ids)
        lead = 0
        while lead < len(ids) and ids[lead] in special and (offsets is None or offsets[lead][1] == 0):
            lead += 1
        # A tokenizer that appends end-of-sequence would tell the model the text is over (an
        # added token covers no text; one the user typed does, and stays).
        while (len(ids) > lead and tok.eos_token_id is not None and ids[-1] == tok.eos_token_id
               and (offsets is None or offsets[-1][1] <= offsets[-1][0])):
            ids, offsets = ids[:-1], (offsets[:-1] if offsets is not None else None)
        pieces = [tok.convert_tokens_to_string([t]) for t in tok.convert_ids_to_tokens(ids[:lead])]
        prefix = "".join(pieces)
        prompt_text, span = prefix + prompt, (len(prefix), len(prefix) + len(prompt))
        if offsets is not None:
            cuts = np.cumsum([0] + [len(p) for p in pieces]).tolist()
            offsets = [(cuts[i], cuts[i + 1]) for i in range(lead)] + [
                (s + len(prefix), e + len(prefix)) for s, e in offsets[lead:]
            ]
    limit = min(max_prompt_tokens, _max_positions(loaded.model) - 1)
    if len(ids) > limit:
        raise InputError(
            "prompt_too_long",
            n=len(ids),
            limit=limit,
            mode=mode,
        )
    if offsets is not None:
        inside = [i for i, (s, e) in enumerate(offsets) if e > s and s < span[1] and e > span[0]]
        user_tokens = (inside[0], inside[-1] + 1) if inside else (0, len(ids))
    else:
        user_tokens = (0, len(ids))
    return Prepared(mode, prompt, prompt_text, span, ids, offsets, user_tokens)


# --------------------------------------------------------------------------------------------
# Results


Candidate = tuple[str, int, float]  # (token as text, token id, probability)


@dataclass(frozen=True)
class NextTokenStep:
    """One generated token and the distributions it came from.

    ``raw``: top candidates of softmax(raw logits) (temperature 1, nothing applied).
    ``processed``: top candidates of the distribution actually sampled from, after repetition
    penalty, temperature, top-k and top-p (tokens those removed are left out; under greedy
    decoding only the repetition penalty changes it, and the argmax is taken).
    ``rank`` is the chosen token's 0-based rank in the raw distribution."""

    token_id: int
    token: str
    rank: int
    p_raw: float
    p_processed: float
    raw: list[Candidate]
    processed: list[Candidate]

    def to_dict(self) -> dict[str, Any]:
        def cands(c: list[Candidate]) -> list[list]:
            return [[t, int(i), round(float(p), 6)] for t, i, p in c]

        return {
            "token": self.token,
            "token_id": int(self.token_id),
            "rank": int(self.rank),
            "p_raw": round(float(self.p_raw), 6),
            "p_processed": round(float(self.p_processed), 6),
            "raw": cands(self.raw),
            "processed": cands(self.processed),
        }


@dataclass
class GenerationResult:
    """A finished generation. ``output_ids``/``tokens``/``steps`` are aligned, one per generated
    token, without the end-of-sequence token (its step, when the model chose it, is
    ``eos_step``). ``text`` is the decoded output with special tokens skipped."""

    prompt: str  # the user's prompt (cleaned)
    prompt_text: str  # the full model input as text (chat template included)
    user_span: tuple[int, int]  # the user's prompt inside prompt_text
    prompt_ids: list[int]
    prompt_offsets: list[tuple[int, int]] | None  # per prompt token, into prompt_text
    prompt_tokens: list[str]  # each prompt token decoded on its own
    user_tokens: tuple[int, int]  # [first, end) prompt tokens overlapping the user's prompt
    output_ids: list[int]
    text: str
    tokens: list[str]
    steps: list[NextTokenStep]
    stop_reason: str  # one of STOP_REASONS
    seconds: float  # model.generate's wall time
    tokens_per_s: float  # generated tokens (the end-of-sequence one included) per second
    model_key: str
    model: str  # display name
    profile: str
    options: GenerationOptions  # as used: mode resolved, max_new_tokens capped by the model's context
    eos_step: NextTokenStep | None = None

    @property
    def mode(self) -> str:
        return self.options.mode or "plain"

    @property
    def sequence_ids(self) -> list[int]:
        """prompt_ids + output_ids: the positions that attention and the logit lens index."""
        return self.prompt_ids + self.output_ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tokens": list(self.tokens),
            "token_ids": [int(i) for i in self.output_ids],
            "prompt": self.prompt,
            "prompt_text": self.prompt_text,
            "user_span": list(self.user_span),
            "prompt_token_ids": [int(i) for i in self.prompt_ids],
            "prompt_tokens": list(self.prompt_tokens),
            "stop_reason": self.stop_reason,
            "seconds": round(float(self.seconds), 4),
            "tokens_per_s": round(float(self.tokens_per_s), 2),
            "model": self.model,
            "model_key": self.model_key,
            "mode": self.mode,
            "options": self.options.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "eos_step": self.eos_step.to_dict() if self.eos_step else None,
        }


@dataclass(frozen=True)
class GenerationUpdate:
    """One streamed state: the text so far (each update's text extends the previous one),
    tokens generated so far, and on the last update ``done`` and the ``result``."""

    text: str
    n_tokens: int
    done: bool = False
    result: GenerationResult | None = None


# --------------------------------------------------------------------------------------------
# Concurrency: generation always runs with sdpa; the attention view needs eager for one pass.


# torch.multinomial draws from the process-wide generator: two sampled generations at once would
# interleave their draws and a seed would no longer reproduce its text. Sampled runs take turns
# (on a CPU two at once are not faster anyway); greedy ones need no RNG and do not wait.
_sampling_lock = threading.Lock()


# --------------------------------------------------------------------------------------------
# Streaming generation


gate = models.gate  # the per-model gate lives with the models (tasks and tabs share it)


def model_for(model_key: str | None = None, profile: str | None = None, progress: models.ConvertProgress | None = None) -> models.LoadedModel:
    """The loaded generation model for ``model_key`` (None: the profile's default). Only registry
    keys are accepted: anything else is InputError "bad_model" and never reaches the loader."""
    return models.load(spec_for(model_key, profile), progress)


def spec_for(model_key: object, profile: str | None = None) -> config.ModelSpec:
    """The generation model for ``model_key`` (:func:`playground.models.resolve`)."""
    return models.resolve(NAME, model_key, profile)


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
        """True once the Stop button (or a reader that went away) sets an event."""

        fired = False

        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            done = any(e.is_set() for e in events)
            self.fired = self.fired or done
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return StopOnEvent()


def _eos_ids(loaded: models.LoadedModel) -> list[int]:
    ids: list[int] = []
    for v in (loaded.model.generation_config.eos_token_id, loaded.tokenizer.eos_token_id):
        for i in v if isinstance(v, (list, tuple)) else [v]:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return ids


class _Pieces:
    """Token id -> readable text, decoded on its own (so 'Ġthe' reads ' the'); cached per run."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[int, str] = {}

    def __call__(self, i: int) -> str:
        i = int(i)
        if i not in self.cache:
            self.cache[i] = self.tokenizer.decode([i], skip_special_tokens=False)
        return self.cache[i]


def _steps(chosen: list[int], logits: tuple, scores: tuple, piece: _Pieces) -> list[NextTokenStep]:
    """Per step: top candidates before and after processing, from generate's raw logits and
    processed scores. Done in chunks so a long run on a large vocabulary (Gemma: 262k) never
    holds more than a few copies of (chunk, vocab) at once."""
    out: list[NextTokenStep] = []
    chunk = 32
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
        for tid, rk, pr, pp, rvs, ris, pvs, pis in rows:
            out.append(NextTokenStep(
                token_id=tid, token=piece(tid), rank=int(rk), p_raw=pr, p_processed=pp,
                raw=[(piece(i), i, p) for p, i in zip(rvs, ris)],
                processed=[(piece(i), i, p) for p, i in zip(pvs, pis) if p > 0.0],
            ))
    return out


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
    spec = spec_for(model_key, profile)
    mode = resolve_mode(o.mode, spec)  # before loading: a wrong mode costs no load
    loaded = models.load(spec, progress)
    prep = prepare(value, mode, loaded, max_chars, max_prompt_tokens)
    tok, model = loaded.tokenizer, loaded.model
    n_prompt = len(prep.input_ids)
    # A model with learned positions (GPT-2) cannot go past its context: cap the new tokens.
    o = dataclasses.replace(o, mode=mode, max_new_tokens=max(1, min(o.max_new_tokens, _max_positions(model) - n_prompt)))
    piece = _Pieces(tok)
    base = {
        "prompt": prep.prompt, "prompt_text": prep.prompt_text, "user_span": prep.user_span, "prompt_ids": prep.input_ids,
        "prompt_offsets": prep.offsets, "prompt_tokens": [piece(i) for i in prep.input_ids], "user_tokens": prep.user_tokens,
        "model_key": spec.key, "model": spec.display, "profile": profile or config.active_profile(), "options": o,
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
    sampling = {"do_sample": False, "temperature": None, "top_k": None, "top_p": None}
    if not o.greedy:
        sampling = {"do_sample": True, "temperature": o.temperature, "top_k": o.top_k or None, "top_p": o.top_p}
    from transformers import StoppingCriteriaList

    kwargs: dict[str, Any] = dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        streamer=streamer,
        max_new_tokens=o.max_new_tokens,
        max_time=o.max_time,  # always set: no generation outlives it
        repetition_penalty=o.repetition_penalty,
        stopping_criteria=StoppingCriteriaList([stopper]),
        **({"stop_strings": list(stop_strings), "tokenizer": tok} if stop_strings else {}),
        eos_token_id=eos or None,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else (eos[0] if eos else None),
        # Raw logits and processed scores of every step, for the next-token view.
        return_dict_in_generate=True,
        output_logits=True,
        output_scores=True,
        **sampling,
    )
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            lock = _sampling_lock if not o.greedy else contextlib.nullcontext()
            with models.gate(spec.key).generating(), lock, models.guard_oom():
                if not o.greedy:
                    torch.manual_seed(o.seed)
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
            # (another sampled run, an attention pass), which is bounded too.
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
    steps = _steps(generated, out.logits, out.scores, piece)
    del out  # the per-step logits: up to 256 x vocab floats, twice
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
    """:func:`stream` run to the end: the finished result."""
    for update in stream(prompt, model_key, profile, stop, progress, stop_strings, max_chars, max_prompt_tokens, **opts):
        if update.done and update.result is not None:
            return update.result
    raise RuntimeError("generation ended without a result")  # unreachable: stream always ends with one


# --------------------------------------------------------------------------------------------
# The views that cost one extra forward pass each


@dataclass
class AttentionMap:
    """Attention between the words of the user's prompt and of the output, from one eager
    forward over prompt + output (per-layer hooks: one layer's weights held at a time).

    ``attentions`` is (layers, heads, n, n) over ``tokens``, the words (prompt words first, then
    output words; Chinese grouped, byte pieces joined, never sub-word pieces): row i is what
    word i attended to, the mean over its tokens' rows, each column the sum over a word's
    tokens. The chat template, special tokens and the first-token "attention sink" are left out
    and every row is renormalised over the words shown, so the words compete among themselves.
    At most ``LIMITS.max_attention_tokens`` words are shown (the output's, then the prompt's
    last ones; ``truncated`` says so). Unpacks as ``tokens, att = attention(...)``."""

    tokens: list[str]
    attentions: np.ndarray
    truncated: bool
    n_prompt: int  # words [0, n_prompt) are the prompt's, the rest the output's
    user_tokens: tuple[int, int]  # the prompt's words among the rows (all of them: (0, n_prompt))

    def __iter__(self) -> Iterator[Any]:
        yield self.tokens
        yield self.attentions


def _loaded_for(result: GenerationResult, loaded: models.LoadedModel | None) -> models.LoadedModel:
    if loaded is None:
        return model_for(result.model_key, result.profile)
    if loaded.spec.key != result.model_key:
        raise ValueError(f"result was made by {result.model_key}, not {loaded.spec.key}")
    return loaded


def attention(result: GenerationResult, loaded: models.LoadedModel | None = None) -> AttentionMap:
    """Every layer's attention between the prompt's and the output's words (see :class:`AttentionMap`)."""
    loaded = _loaded_for(result, loaded)
    seq = result.sequence_ids
    us, ue = result.user_span
    prompt_words = text.words(result.prompt_text[us:ue])
    offsets = result.prompt_offsets or text.encode_with_offsets(loaded.tokenizer, result.prompt_text, False)[1]
    prompt_of = text.words_of_pieces(list(offsets), (us, ue), prompt_words)
    out_words, out_of = llm.token_words(llm.output_token_texts(loaded.tokenizer, result.output_ids))
    cap = LIMITS.max_attention_tokens
    n_out = min(len(out_words), cap // 2)
    n_pw = min(len(prompt_words), cap - n_out)
    first_pw = len(prompt_words) - n_pw
    # Each position's row/column in the word view (None: template, special, or not shown).
    where: list[int | None] = [None if w is None or w < first_pw else w - first_pw for w in prompt_of]
    where += [None if w is None or w >= n_out else n_pw + w for w in out_of]
    n = n_pw + n_out
    cols = np.zeros((len(seq), n))
    counts = np.zeros(n)
    for p, w in enumerate(where):
        if w is not None:
            cols[p, w] = 1.0
            counts[w] += 1
    rows = cols / np.maximum(counts, 1)  # mean over a word's rows
    layers: list[np.ndarray] = []

    def keep(weights: torch.Tensor) -> None:
        w = weights.float().cpu().numpy()  # (heads, T, T)
        pooled = np.einsum("pr,hpq,qc->hrc", rows, w, cols)
        pooled /= np.maximum(pooled.sum(axis=-1, keepdims=True), 1e-12)
        layers.append(pooled)

    ids = torch.tensor([seq], device=loaded.device)
    with models.gate(loaded.spec.key).eager(), torch.inference_mode(), models.eager_attention(loaded.model), \
            models.guard_oom(), llm.each_layer_hooks(loaded.model, keep) as hooked:
        out = loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=not hooked, use_cache=False)
    if not hooked:
        for a in out.attentions:
            keep(a[0])
    labels = [w.text for w in prompt_words[first_pw:]] + [w.text for w in out_words[:n_out]]
    return AttentionMap(
        tokens=labels,
        attentions=np.stack(layers) if layers else np.zeros((0, 0, n, n)),
        truncated=n_pw < len(prompt_words) or n_out < len(out_words),
        n_prompt=n_pw,
        user_tokens=(0, n_pw),
    )


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


def _final_norm(model: Any) -> Any:
    """The norm the model applies before its LM head: Llama/Gemma/Qwen ``model.norm``, GPT-2
    ``transformer.ln_f``, GPT-NeoX ``gpt_neox.final_layer_norm``."""
    for path in ("model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm", "model.final_layernorm"):
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise NotImplementedError(
        f"logit lens: cannot find the final norm of {type(model).__name__} "
        "(looked for model.norm, transformer.ln_f, gpt_neox.final_layer_norm)"
    )


def logit_lens(result: GenerationResult, loaded: models.LoadedModel | None = None, position: int = -1, top: int = 5) -> dict[str, Any]:
    """What each layer would predict at ``position`` of prompt + output (negative counts from
    the end), read through the final norm and LM head: the answer forming layer by layer.

    Returns ``{"position", "token", "next_token", "layers": [{"layer": i, "top": [(token, p)]}]}``
    with one entry per transformer block (i = 1..num_hidden_layers, after block i); the last is
    the model's real output distribution. ``next_token`` is the token that actually followed
    (None at the last position). Out of range: InputError "bad_position"."""
    loaded = _loaded_for(result, loaded)
    seq = result.sequence_ids
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or not -len(seq) <= position < len(seq):
        raise InputError("bad_position",
                         position=str(position)[:20], last=len(seq) - 1)
    position = int(position) % len(seq)
    top = int(min(20, max(1, top)))
    model = loaded.model
    norm = _final_norm(model)
    head = model.get_output_embeddings()
    cap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    # Causal: the positions after ``position`` change nothing there, so the forward stops at it.
    ids = torch.tensor([seq[: position + 1]], device=loaded.device)
    with torch.inference_mode(), models.guard_oom():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True, use_cache=False)
        hidden = out.hidden_states  # embeddings, then each block's output
        n_layers = len(hidden) - 1
        rows = []
        for i in range(1, n_layers + 1):
            if i == n_layers:
                # The model's own output: its last hidden state may or may not be normed already.
                logits = out.logits[0, -1].float()
            else:
                logits = head(norm(hidden[i][:, -1:]))[0, -1].float()
                if cap:
                    logits = torch.tanh(logits / cap) * cap
            rows.append(torch.softmax(logits, dim=-1))
        probs = torch.stack(rows)
        values, indices = probs.topk(top, dim=-1)
    piece = _Pieces(loaded.tokenizer)
    return {
        "position": position,
        "token": piece(seq[position]),
        "next_token": piece(seq[position + 1]) if position + 1 < len(seq) else None,
        "layers": [
            {"layer": i + 1, "top": [(piece(t), float(p)) for t, p in zip(ti, vi)]}
            for i, (ti, vi) in enumerate(zip(indices.tolist(), values.tolist()))
        ],
    }


TASK = Task(name=NAME, run=generate, subject=subject, attention=attention, parts=("prompt",),
            targets="the log-probability of the whole output (default) or of one output word")
