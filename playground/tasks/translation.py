"""Translation from English into Chinese, French or German: an encoder-decoder (OPUS-MT Marian,
T5 on the hub) or a decoder asked for it (offline: Gemma-3-270M few-shot, SmolLM2-135M-Instruct).
The engine is :mod:`playground.tasks.seq2seq`; this module says how to ask."""

from __future__ import annotations

from typing import Any

from .. import config, models, prompting
from ..errors import InputError
from ..explain.base import Option
from . import seq2seq
from .base import Task
from .seq2seq import Seq2SeqResult

NAME = "translation"
TARGETS: dict[str, str] = prompting.LANGUAGES

BOUNDS: dict[str, Option] = {o.name: o for o in (Option("max_new_tokens", 96, 8, 256, "tr_max_new_tokens"),)}

def check_target(target: object) -> str:
    """A supported target language code, or InputError "bad_target_language"."""
    code = str(target or "").strip().lower()
    if code not in TARGETS:
        raise InputError("bad_target_language",
                         target=str(target)[:20], targets=", ".join(TARGETS))
    return code


prompt_for_target = prompting.translation_prompt  # how a decoder is asked (playground.prompting)


def options(**given: Any) -> dict[str, int]:
    return seq2seq.bounded(BOUNDS, given)


def models_for(target: str, profile: str | None = None) -> list[config.ModelSpec]:
    """The models that write ``target`` (the first is the default)."""
    return [s for s in config.choices_for(NAME, profile) if target in s.targets]


def translate(text: str, target: str = "zh", model_key: str | None = None, profile: str | None = None,
              progress: models.ConvertProgress | None = None, **opts: Any) -> Seq2SeqResult:
    """Translate English ``text`` into ``target`` (see :func:`playground.tasks.seq2seq.run`)."""
    code = check_target(target)
    return seq2seq.run(NAME, text, model_key, profile, {**options(**opts), "min_new_tokens": 1}, prompt_for_target(code),
                       f"translation:{code}", target=code, progress=progress)


TASK = Task(name=NAME, run=translate, subject=seq2seq.subject, attention=seq2seq.attention, parts=("source",),
            targets="the log-probability of the whole translation (default) or of one of its words")
