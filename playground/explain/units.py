"""Sentences as units (context attribution, as ContextCite does for QA and summaries): a long
input explained word by word costs hundreds of model rows per method; by sentence, tens. A
Subject built over words is coarsened here, for every method at once: the scorer removes a
sentence's words together, gradients and attention sum a sentence's words."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

from ..text import Span
from .base import AttentionView, Subject, Unit

UNIT_CHOICES = ("auto", "word", "sentence")
# "auto" explains by sentence above this many words (and at least 3 sentences).
AUTO_SENTENCE_WORDS = 120
_END = re.compile(r"[.!?。！？；;…]+[\"'”’）)]*$")


def merge_within_pieces(words: list[Span], offsets: list[tuple[int, int]], source: str) -> list[Span]:
    """Words that one model piece spans become one word (a multi-character token across a
    jieba word boundary, "\ufffd" bytes completed by a later token, "[MASK]" typed as text and
    read as the special token): a piece's score cannot be split, so every word must own at
    least one piece. ``offsets`` index ``source``, as the words do."""
    if not words:
        return words
    group = list(range(len(words)))  # group[w]: the first word of w's merged word
    for a, b in offsets:
        if b <= a:
            continue
        hit = [w for w, u in enumerate(words) if u.start < b and u.end > a]
        for w in hit[1:]:
            group[w] = group[hit[0]]
    merged: list[Span] = []
    for w, u in enumerate(words):
        if group[w] != w and merged:
            first = merged[-1]
            merged[-1] = Span(source[first.start : u.end], first.start, u.end)
        else:
            merged.append(u)
    return merged


def pool_attention(weights: np.ndarray, where: Sequence[int | None], n: int, renormalise: bool = True) -> np.ndarray:
    """Attention over model positions (..., T, T) -> over ``n`` words (..., n, n): ``where[p]``
    is position p's word (None: not shown). Row i is what word i attended to, the mean over its
    positions' rows; column j sums word j's positions (a word split into pieces keeps its whole
    share); with ``renormalise`` every row is rescaled over the words shown, so they compete
    among themselves (without it, a row of a cropped map keeps summing to what is shown)."""
    cols = np.zeros((len(where), n))
    for p, w in enumerate(where):
        if w is not None:
            cols[p, w] = 1.0
    rows = cols / np.maximum(cols.sum(axis=0), 1.0)  # mean over a word's rows
    pooled = np.einsum("pr,...pq,qc->...rc", rows, weights, cols)
    return pooled / np.maximum(pooled.sum(axis=-1, keepdims=True), 1e-12) if renormalise else pooled


def sentence_groups(units: list[Unit]) -> list[list[int]]:
    """Consecutive words grouped into sentences: a sentence ends after a word that ends with
    terminal punctuation, and at every change of part (question / context)."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i, u in enumerate(units):
        if current and units[current[-1]].part != u.part:
            groups.append(current)
            current = []
        current.append(i)
        if _END.search(u.text):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def with_units(subject: Subject, units: str = "auto") -> Subject:
    """``subject`` over words (as built) or over sentences."""
    choice = str(units or "auto").strip().lower()
    if choice not in UNIT_CHOICES:
        from ..errors import InputError

        raise InputError("bad_units", units=str(units)[:20],
                         choices=", ".join(UNIT_CHOICES))
    if subject.unit_kind != "word" or choice == "word":
        return subject
    groups = sentence_groups(subject.units)
    if choice == "auto" and (len(subject.units) <= AUTO_SENTENCE_WORDS or len(groups) < 3):
        return subject
    return coarsen(subject, groups)


def coarsen(subject: Subject, groups: list[list[int]]) -> Subject:
    owner = {w: g for g, members in enumerate(groups) for w in members}
    new_units = []
    for members in groups:
        first, last = subject.units[members[0]], subject.units[members[-1]]
        text = subject.texts.get(first.part)
        body = text[first.start : last.end] if text is not None else " ".join(subject.units[w].text for w in members)
        new_units.append(Unit(body, first.start, last.end, first.part))

    def remap(mapping: list[int | None]) -> list[int | None]:
        return [None if w is None else owner.get(w) for w in mapping]

    gradient = subject.gradient
    if gradient is not None:
        gradient = dataclasses.replace(gradient, position_unit=remap(gradient.position_unit))
    attention: AttentionView | None = subject.attention
    if attention is not None:
        attention = dataclasses.replace(attention, column_unit=remap(attention.column_unit))
    score = subject.score.coarsen(groups) if subject.score is not None else None
    return dataclasses.replace(subject, units=new_units, score=score, gradient=gradient, attention=attention, rewrite=None,
                               unit_kind="sentence", notes=dict(subject.notes))


__all__ = ["AUTO_SENTENCE_WORDS", "UNIT_CHOICES", "coarsen", "merge_within_pieces", "sentence_groups", "with_units"]
