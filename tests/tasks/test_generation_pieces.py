"""Next-token candidates and logit-lens tokens read as whole characters, never "\ufffd": a byte
token completing a character shows that character, one starting it shows its bytes."""

from __future__ import annotations

import pytest

from playground import config, models
from playground.tasks import generation
from playground.tasks.generation_pieces import Pieces, token_bytes


@pytest.mark.parametrize("key", ["tiny-gpt2", "tiny-llama"])
def test_byte_tokens_read_as_the_character_they_complete(key: str) -> None:
    tok = models.load(config.spec_by_key("generation", key, "tiny")).tokenizer
    ids = tok("你", add_special_tokens=False)["input_ids"]
    assert len(ids) > 1  # the tiny vocabularies spell 你 in bytes
    piece = Pieces(tok)
    assert piece.after(ids[:-1], ids[-1]) == "你"
    first = piece.after([], ids[0])
    assert "\ufffd" not in first and first.startswith("⟨") and token_bytes(tok, ids[0]) == "你".encode()[:len(token_bytes(tok, ids[0]))]


@pytest.mark.parametrize("key", ["tiny-gpt2", "tiny-llama"])
def test_a_chinese_prompts_generation_steps_never_show_the_replacement_character(key: str) -> None:
    r = generation.generate("请写一首关于春天的短诗，要有花和雨。", key, "tiny", max_new_tokens=24, temperature=1.0, seed=3)
    shown = [s.token for s in r.steps] + [c[0] for s in r.steps for c in s.raw + s.processed]
    assert shown and not any("\ufffd" in x for x in shown)
