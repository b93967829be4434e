"""What if a word were not there, or were another word? A minimal pair: the same model, the same
target (the predicted class, the output the model wrote, the answer span), the input with one
word removed or replaced, and the target's value before and after.

Removing a word goes through the task's own batched scorer (:class:`~playground.explain.base.
MaskScorer`, the same removal that the perturbation methods and the faithfulness metrics use),
so it works in every tab. Replacing a word needs the task to read an edited input
(``Subject.rewrite``): sentiment re-classifies the edited text; the decoders and
encoder-decoders score the same output after the edited prompt or source. An extractive QA
model's target is a span of token positions that an edit moves, so it offers removal only.
No gradio here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError
from .explain.base import Subject

MAX_REPLACEMENT_CHARS = 50


def find_word(subject: Subject, word: object) -> int:
    """The index of a unit: an index given as a number, or the first unit whose text is
    ``word`` (exactly, else ignoring case; "word#2" for its second occurrence)."""
    words = [u.text for u in subject.units]
    if isinstance(word, (int, np.integer)) and not isinstance(word, bool):
        if 0 <= int(word) < len(words):
            return int(word)
    elif isinstance(word, str) and word.strip():
        name, _, nth = word.strip().rpartition("#") if "#" in word.strip() else (word.strip(), "", "1")
        n = int(nth) if nth.isdigit() and int(nth) > 0 else 1
        for same in (lambda w: w == name, lambda w: w.lower() == name.lower()):
            hits = [i for i, w in enumerate(words) if same(w)]
            if len(hits) >= n:
                return hits[n - 1]
    raise InputError("whatif_no_word", word=str(word)[:40], words=", ".join(words[:40]))


def edited_texts(subject: Subject, index: int, replacement: str) -> dict[str, str]:
    """Each part's text with unit ``index`` replaced (removed when ``replacement`` is "", with
    the space before it)."""
    unit = subject.units[index]
    out = dict(subject.texts)
    source = out.get(unit.part, "")
    start = unit.start
    if not replacement:
        while start > 0 and source[start - 1] in " \t":
            start -= 1
    out[unit.part] = source[:start] + replacement + source[unit.end :]
    return out


def what_if(subject: Subject, word: object, replacement: str = "") -> dict[str, Any]:
    """The minimal pair for one word of ``subject``: ``{"word", "replacement", "action"
    ("remove" or "replace"), "texts_before", "texts_after", "targets": [{"label", "text",
    "before", "after", "change"}], "default_target", "target_kind"}``. The values are the
    subject's targets (a class probability, or an output's log-probability)."""
    if not isinstance(replacement, str):
        raise InputError("whatif_bad_replacement", limit=MAX_REPLACEMENT_CHARS)
    replacement = replacement.strip()
    if len(replacement) > MAX_REPLACEMENT_CHARS or "\n" in replacement:
        raise InputError("whatif_bad_replacement", limit=MAX_REPLACEMENT_CHARS)
    index = find_word(subject, word)
    before = np.array([np.nan if t.value is None else t.value for t in subject.targets], dtype=float)
    if replacement:
        if subject.rewrite is None:
            raise InputError("whatif_no_replace")
        after = np.asarray(subject.rewrite({index: replacement}), dtype=float)
    else:
        if subject.score is None:
            raise InputError("whatif_no_replace")
        keep = np.ones((1, len(subject.units)), dtype=bool)
        keep[0, index] = False
        after = np.asarray(subject.score(keep), dtype=float)[0]
    targets = []
    for t, b, a in zip(subject.targets, before, after):
        targets.append({"label": t.label, "text": t.text, "before": _finite(b), "after": _finite(a),
                        "change": _finite(a - b)})
    return {
        "word": subject.units[index].to_dict(),
        "index": index,
        "replacement": replacement,
        "action": "replace" if replacement else "remove",
        "texts_before": dict(subject.texts),
        "texts_after": edited_texts(subject, index, replacement),
        "targets": targets,
        "default_target": subject.default_target,
        "target_kind": subject.notes.get("target_kind", ""),
        "model": subject.model,
    }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


__all__ = ["MAX_REPLACEMENT_CHARS", "edited_texts", "find_word", "what_if"]
