"""Where a generated answer sits in the context: exact, case/whitespace-insensitive, or fuzzy."""

from __future__ import annotations

import difflib
import re

from ... import text
from .types import FUZZY_MIN_COVERAGE, Match

# ---- Generative --------------------------------------------------------------------------------


_PUNCT_EDGES = " \t\n\"'“”‘’«»`.,;:!?。，；：！？、"


def locate(answer_text: str, context: str, min_coverage: float = FUZZY_MIN_COVERAGE) -> Match | None:
    """Where ``answer_text`` sits in ``context``, or None.

    1. Exact: the answer (then the answer without surrounding quotes and punctuation) searched
       case-insensitively, any run of whitespace matching any other; the first occurrence.
    2. Fuzzy: the answer's and the context's words (:func:`playground.text.words`, lower-cased)
       are aligned by difflib around the longest run they share; the match spans the context
       words aligned with answer words, accepted when those answer words hold at least
       ``min_coverage`` of the characters of the answer's words (punctuation not counted)."""
    a = answer_text.strip()
    if not a:
        return None
    for variant in dict.fromkeys((a, a.strip(_PUNCT_EDGES))):
        if not variant:
            continue
        pattern = r"\s+".join(re.escape(part) for part in variant.split())
        m = re.search(pattern, context, flags=re.IGNORECASE)
        if m:
            return Match(m.start(), m.end(), "exact", 1.0)
    ans = [w for w in text.words(a) if any(ch.isalnum() for ch in w.text)]
    ctx = [w for w in text.words(context) if any(ch.isalnum() for ch in w.text)]
    if not ans or not ctx:
        return None
    a_low, c_low = [w.text.lower() for w in ans], [w.text.lower() for w in ctx]
    anchor = difflib.SequenceMatcher(None, c_low, a_low, autojunk=False).find_longest_match(0, len(c_low), 0, len(a_low))
    if anchor.size == 0:
        return None
    slack = max(2, len(a_low) // 2)
    lo = max(0, anchor.a - anchor.b - slack)
    hi = min(len(c_low), anchor.a - anchor.b + len(a_low) + slack)
    blocks = [b for b in difflib.SequenceMatcher(None, c_low[lo:hi], a_low, autojunk=False).get_matching_blocks() if b.size]
    if not blocks:
        return None
    total = sum(len(w) for w in a_low)
    matched = sum(len(a_low[j]) for b in blocks for j in range(b.b, b.b + b.size))
    coverage = matched / total
    if coverage < min_coverage:
        return None
    first, last = ctx[lo + blocks[0].a], ctx[lo + blocks[-1].a + blocks[-1].size - 1]
    return Match(first.start, last.end, "fuzzy", coverage)
