"""Token ids as the page shows them: whole characters, never "\ufffd".

A byte-level tokenizer (GPT-2, SmolLM2, Qwen) or SentencePiece's byte fallback (Llama, Gemma)
writes a rare character as two to four byte tokens; decoded on its own, each is "\ufffd". The
next-token view shows a candidate together with the output's pending bytes, so it reads as the
character it completes; a candidate that is itself only part of a character shows its bytes
(``⟨E4 BD⟩``)."""

from __future__ import annotations

import re
from typing import Any


class Pieces:
    """Token id -> readable text, decoded on its own (so 'Ġthe' reads ' the'); cached per run."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[int, str] = {}

    def __call__(self, i: int) -> str:
        i = int(i)
        if i not in self.cache:
            self.cache[i] = self.tokenizer.decode([i], skip_special_tokens=False)
        return self.cache[i]

    def after(self, pending: list[int], i: int) -> str:
        """Candidate ``i`` as the page shows it, after ``pending`` (the output's last tokens
        when they end part-way through a character): the character(s) it completes, or, for a
        token that is itself only part of one, its bytes written out (``⟨E4 BD⟩``), never "\ufffd"."""
        text = self.tokenizer.decode(pending + [int(i)], skip_special_tokens=False) if pending else self(i)
        if "\ufffd" not in text:
            return text
        raw = token_bytes(self.tokenizer, int(i))
        return "⟨" + " ".join(f"{b:02X}" for b in raw) + "⟩" if raw else text.replace("\ufffd", "⟨?⟩")


def _gpt2_byte_decoder() -> dict[str, int]:
    """Byte-level BPE's printable stand-in for each byte (GPT-2's bytes_to_unicode), reversed."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_DECODER = _gpt2_byte_decoder()
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def token_bytes(tokenizer: Any, i: int) -> bytes:
    """The raw bytes of a byte token (SentencePiece's ``<0xE4>`` byte fallback, or a byte-level
    BPE token), b"" for anything else."""
    piece = tokenizer.convert_ids_to_tokens([i])[0]
    if not isinstance(piece, str):
        return b""
    found = _BYTE_TOKEN.fullmatch(piece)
    if found:
        return bytes([int(found.group(1), 16)])
    if piece and all(c in _BYTE_DECODER for c in piece):
        return bytes(_BYTE_DECODER[c] for c in piece)
    return b""


__all__ = ["Pieces", "token_bytes"]
