"""Text checks and word segmentation.

Explanations are shown per *word*, not per sub-word piece: a class reads "unbelievable", not
"un ##bel ##ie ##vable". Latin-script text splits on word characters; Chinese runs are segmented
into words with jieba (bertviz #40: users want 天气, not 天 + 气). Every unit keeps its character
offsets into the (NFC-normalised) text, so highlights line up.
"""

from __future__ import annotations

import bisect
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

from .config import LIMITS
from .errors import InputError


@dataclass(frozen=True)
class Span:
    """A piece of the input text: ``text == source[start:end]``."""

    text: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return {"text": self.text, "start": self.start, "end": self.end}


# Han and Japanese kana: runs of these have no spaces between words, so jieba segments them.
# (Korean Hangul is written with spaces between words and splits like Latin script.)
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Numbers stay whole with their separators ("2,300", "3.5", "10:30"): a class reads one number,
# not 2 / , / 300.
# A Latin-script word stops where a Chinese run starts ("300公里": 300 + 公里).
_UNIT = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>\d+(?:[.,:]\d+)+(?![0-9A-Za-z])|[^\W_{_CJK}]+(?:['’][^\W_{_CJK}]+)*)"
                   r"|(?P<other>[^\s])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_jieba_lock = threading.Lock()
_jieba = None


def _segment_cjk(run: str) -> list[tuple[str, int, int]]:
    global _jieba
    with _jieba_lock:  # jieba builds its dictionary lazily and is not thread-safe while doing so
        if _jieba is None:
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba = jieba
        return list(_jieba.tokenize(run))


_SENTENCE_END = re.compile(r"[.!?。！？…]['\"’”)）」』]*(?=\s|$)|[。！？]|\n")


def fit(text: object, limit: int) -> tuple[Any, int]:
    """``text`` cut to at most ``limit`` characters where it is longer (at the last sentence
    end in its final fifth, else at the last space, else at ``limit``), and its length before
    (0 when nothing was cut). What a page does with an over-long paste instead of dropping the
    rest silently: it keeps this much and says so. Anything not a string passes through."""
    if not isinstance(text, str) or len(text) <= limit:
        return text, 0
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() >= 0.8 * limit]
    if ends:
        return head[: ends[-1]].rstrip(), len(text)
    space = head.rfind(" ")
    return (head[:space] if space >= 0.8 * limit else head).rstrip(), len(text)


def clean(text: object, field: str = "text", max_chars: int = LIMITS.max_chars) -> str:
    """Validate user text: a string, not blank, not over the limit. Returns it NFC-normalised,
    with control characters (NUL, ...) replaced by spaces so offsets stay put."""
    if not isinstance(text, str):
        raise InputError("input_not_text", field=field)
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", text))
    if not text.strip():
        raise InputError("input_empty", field=field)
    if len(text) > max_chars:
        raise InputError(
            "input_too_long",
            field=field,
            n=len(text),
            limit=max_chars,
        )
    return text


def words(text: str) -> list[Span]:
    """Split ``text`` into the units shown to a class: words, Chinese words, punctuation marks."""
    out: list[Span] = []
    for m in _UNIT.finditer(text):
        if m.lastgroup == "cjk":
            for w, s, e in _segment_cjk(m.group()):
                out.append(Span(w, m.start() + s, m.start() + e))
        else:
            out.append(Span(m.group(), m.start(), m.end()))
    return out


def piece_to_word(offsets: list[tuple[int, int]], units: list[Span]) -> list[int | None]:
    """For each model piece (by its character offsets), the index of the word it falls in;
    None for special tokens ([CLS], padding) that cover no text. A piece whose span starts in
    the space before a word (SentencePiece's "▁word") belongs to that word."""
    starts = [u.start for u in units]
    out: list[int | None] = []
    for s, e in offsets:
        j = bisect.bisect_right(starts, s) - 1
        if e <= s or not units:
            out.append(None)
        elif j >= 0 and s < units[j].end:
            out.append(j)
        elif j + 1 < len(units) and e > units[j + 1].start:
            out.append(j + 1)
        else:
            out.append(None)
    return out


def words_of_pieces(offsets: list[tuple[int, int]], span: tuple[int, int], units: list[Span]) -> list[int | None]:
    """:func:`piece_to_word` for pieces whose offsets are into a larger text (a prompt, a task
    prefix + source) of which ``text[span[0]:span[1]]`` was split into ``units``: pieces outside
    the span (a template, a prefix, special tokens) get None."""
    s0, s1 = span
    local = [(max(s, s0) - s0, min(e, s1) - s0) if e > s and s < s1 and e > s0 else (0, 0) for s, e in offsets]
    return piece_to_word(local, units)


def encode_with_offsets(tokenizer: Any, text: str, add_special_tokens: bool = True) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids of ``text`` and each token's character span in it ((0, 0) for special tokens).

    Fast tokenizers say where each token came from. SentencePiece tokenizers that only exist in
    Python (Marian's, which opus-mt uses) cannot: their pieces are found again in the text, in
    order ("▁" is a space; a piece that cannot be found, such as ``<unk>``, covers no text)."""
    try:
        enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        if "offset_mapping" in enc:  # a Python-only tokenizer may ignore the request silently
            return list(enc["input_ids"]), [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    except (NotImplementedError, ValueError, TypeError):
        pass
    ids = list(tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])
    special = set(getattr(tokenizer, "all_special_ids", []))
    offsets: list[tuple[int, int]] = []
    pos, lost = 0, False
    for tid, piece in zip(ids, tokenizer.convert_ids_to_tokens(ids)):
        if tid == getattr(tokenizer, "unk_token_id", None):
            lost = True  # it stood for some text we cannot see: the next piece may skip it
        core = str(piece).replace("\u2581", " ").lstrip() if tid not in special else ""
        if re.fullmatch(r"<0x[0-7][0-9A-F]>", core):  # byte fallback of an ASCII character
            core = chr(int(core[3:5], 16))
        at = text.find(core, pos) if core else -1
        if at < 0 or (text[pos:at].strip() and not lost):  # not found, or only by skipping real text
            offsets.append((0, 0))
            lost = lost or bool(core)
            continue
        offsets.append((at, at + len(core)))
        pos, lost = at + len(core), False
    return ids, offsets
