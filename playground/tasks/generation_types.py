"""Generation's options (bounded on the server) and results (the streamed updates, the finished
generation with its next-token steps). Re-exported by :mod:`playground.tasks.generation`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..explain.base import Option

MAX_PROMPT_TOKENS = 512  # the whole model input (chat template included)
TOP_CANDIDATES = 10  # candidates kept per step for the next-token view
MAX_TIME_CAP = 60.0  # seconds; no client can raise a generation's time limit above this
MODES = ("chat", "plain")
STOP_REASONS = ("max_new_tokens", "eos", "stopped", "max_time", "stop_string")


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
    # The prompt's language and whether the model reads it (playground.language.check).
    language: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Leading prompt tokens whose keys and values came from an earlier prompt (playground.prefix_cache).
    reused_tokens: int = 0

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
            "language": dict(self.language),
            "reused_tokens": int(self.reused_tokens),
        }


@dataclass(frozen=True)
class GenerationUpdate:
    """One streamed state: the text so far (each update's text extends the previous one),
    tokens generated so far, and on the last update ``done`` and the ``result``. ``waiting``:
    while the generation waits for others to run first, how many and about how many seconds
    (None: not yet known)."""

    text: str
    n_tokens: int
    done: bool = False
    result: GenerationResult | None = None
    waiting: tuple[int, float | None] | None = None
