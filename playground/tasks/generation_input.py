"""Generation's exact model input: the user's prompt checked, wrapped in the chat template (or
not), tokenized once, and where the user's words sit in it. Re-exported by
:mod:`playground.tasks.generation`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import config, models, prompting, text
from ..config import LIMITS
from ..errors import InputError
from .generation_types import MAX_PROMPT_TOKENS, _mode

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
