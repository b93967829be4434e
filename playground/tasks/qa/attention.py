"""The attention heatmap's data, with the question/context boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ... import models, text
from ...config import LIMITS
from ...errors import InputError
from ...explain import llm
from ...explain.layer_attention import decoder_attentions
from ...explain.units import pool_attention
from .extractive import _accepts
from .subject import _loaded, _span_input
from .types import PARTS, QAResult


def _eager_attentions(loaded: models.LoadedModel, ids: list[int], types: list[int] | None) -> np.ndarray:
    t = torch.tensor([ids], device=loaded.device)
    kw = {}
    if types is not None and _accepts(loaded.model, "token_type_ids"):
        kw["token_type_ids"] = torch.tensor([types], device=loaded.device)
    with torch.inference_mode(), models.eager_attention(loaded.model), models.guard_oom():
        out = loaded.model(input_ids=t, attention_mask=torch.ones_like(t), output_attentions=True, **kw)
    return torch.stack([a[0].float() for a in out.attentions]).cpu().numpy()


def _shown_attentions(loaded: models.LoadedModel, seq: list[int], keep: list[int]) -> np.ndarray:
    """(layers, heads, len(keep), len(keep)): each layer's attention between the shown
    positions, cropped as the layer computes it (per-layer hooks), so only one layer's (heads,
    n, n) weights exist at a time, not every layer's (Gemma-3-270M on a 4,000-character
    context: 18 x 4 x 1,100^2 floats, 350 MB, and a stacked copy)."""
    idx = torch.tensor(keep, device=loaded.device)
    layers: list[np.ndarray] = []

    def crop(weights: torch.Tensor) -> None:
        layers.append(weights.index_select(1, idx).index_select(2, idx).float().cpu().numpy())

    decoder_attentions(loaded, seq, crop)
    return np.stack(layers) if layers else np.zeros((0, 0, len(keep), len(keep)), dtype=np.float32)


# ---- Attention view ----------------------------------------------------------------------------


@dataclass
class QAAttention:
    """Every layer's attention over (at most LIMITS.max_attention_tokens of) the model input,
    from ONE eager forward pass over the whole input, shown positions cropped from it (so a
    row need not sum to 1 when some of what it attends to is not shown; ``truncated`` says so).

    ``parts[i]`` is "question", "context", "special" (extractive [CLS]/[SEP]), "template" (the
    prompt's own words) or "output" (generated); ``boundary`` is the index of the first shown
    token of the part that comes second (extractive: the context; generative: the question), the
    question/context border; ``answer_tokens`` the shown indices of the answer (the span, or the
    generated tokens); ``positions`` each shown token's index in the full input."""

    tokens: list[str]
    attentions: np.ndarray  # (layers, heads, n, n)
    parts: list[str]
    positions: list[int]
    boundary: int
    answer_tokens: list[int]
    truncated: bool
    n_total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": list(self.tokens),
            "parts": list(self.parts),
            "positions": list(self.positions),
            "boundary": self.boundary,
            "answer_tokens": list(self.answer_tokens),
            "truncated": self.truncated,
            "n_total": self.n_total,
            "shape": list(self.attentions.shape),
        }


def _crop(fixed: list[int], around: tuple[int, int], pool: list[int], cap: int) -> list[int]:
    """``fixed`` positions (at most ``cap``), plus as many of ``pool`` (sorted) as still fit,
    a contiguous run centred on ``around``."""
    fixed = fixed[:cap]
    room = cap - len(fixed)
    if len(pool) > room:
        centre = (around[0] + around[1]) / 2
        k = min(range(len(pool)), key=lambda i: abs(pool[i] - centre))
        a = max(0, min(k - room // 2, len(pool) - room))
        pool = pool[a : a + room]
    return sorted(set(fixed) | set(pool))


def attention(result: QAResult) -> QAAttention:
    """The attention heatmap's data (see :class:`QAAttention`). Extractive: the window holding
    the answer (the best span for a no-answer result): [CLS], the question, [SEP], the context
    tokens around the span. Generative: the question, the context tokens around the quoted span
    (the context's start when not found) and the generated tokens; the prompt's template is not
    shown."""
    cap = LIMITS.max_attention_tokens
    loaded = _loaded(result)
    if result.kind == "extractive":
        if not result.candidates:
            raise InputError("qa_nothing_to_explain")
        si = _span_input(result, result.candidates[0])
        n = len(si.ids)
        parts = ["special" if s is None else PARTS[s] for s in si.seq]
        fixed = [i for i in range(n) if parts[i] != "context"]
        pool = [i for i in range(n) if parts[i] == "context"]
        keep = _crop(fixed, (si.start_token, si.end_token), pool, cap)
        answer_at = [k for k, i in enumerate(keep) if si.start_token <= i <= si.end_token]
        pieces = loaded.tokenizer.convert_ids_to_tokens([si.ids[i] for i in keep])
        # A position's word: its word in the question or context, or itself ([CLS], [SEP]).
        word_keys = [(parts[i], si.piece_word[i]) if si.piece_word[i] is not None else ("special", -1 - i) for i in keep]
        labels = {key: si.words[key[1]].text if key[1] >= 0 else pieces[k] for k, key in enumerate(word_keys)}
        idx = np.array(keep)
        att = _eager_attentions(loaded, si.ids, si.token_types)[:, :, idx][:, :, :, idx]
    else:
        g = result.generation
        if g is None or result.question_span is None or result.context_span is None:
            raise InputError("qa_nothing_to_explain")
        seq = g.sequence_ids
        n, n_prompt = len(seq), len(g.prompt_ids)
        offsets = g.prompt_offsets or [(0, 0)] * n_prompt
        (c0, c1), (q0, q1) = result.context_span, result.question_span

        def part(i: int) -> str:
            if i >= n_prompt:
                return "output"
            a, b = offsets[i]
            if b > a and a < c1 and b > c0:
                return "context"
            if b > a and a < q1 and b > q0:
                return "question"
            return "template"

        parts = [part(i) for i in range(n)]
        outputs = [i for i in range(n) if parts[i] == "output"][: cap // 4]
        fixed = outputs + [i for i in range(n) if parts[i] == "question"][: cap // 4]
        pool = [i for i in range(n) if parts[i] == "context"]
        if result.start is not None and result.end is not None:
            inside = [i for i in pool if offsets[i][0] - c0 < result.end and offsets[i][1] - c0 > result.start]
            around = (inside[0], inside[-1]) if inside else (pool[0] if pool else 0,) * 2
        else:
            around = (pool[0], pool[0]) if pool else (0, 0)
        keep = _crop(fixed, around, pool, cap)
        answer_at = [k for k, i in enumerate(keep) if parts[i] == "output"]
        word_keys, labels = _generative_words(result, loaded, keep, parts, n_prompt)
        att = _shown_attentions(loaded, seq, keep)
    # Pieces pooled into words (numbers whole, Chinese grouped, byte pieces joined): a word's
    # column sums its pieces' shares, its row is their mean; a cropped row keeps what is shown.
    units: dict[tuple[str, int], int] = {}
    where = [units.setdefault(key, len(units)) for key in word_keys]
    first = {u: k for k, u in reversed(list(enumerate(where)))}
    shown = [parts[keep[first[u]]] for u in range(len(units))]
    second = "context" if result.kind == "extractive" else "question"
    boundary = next((k for k, p in enumerate(shown) if p == second), len(shown))
    return QAAttention(
        tokens=[labels[key] for key in units],
        attentions=pool_attention(att, where, len(units), renormalise=False),
        parts=shown,
        positions=[int(keep[first[u]]) for u in range(len(units))],
        boundary=boundary,
        answer_tokens=sorted({where[k] for k in answer_at}),
        truncated=len(keep) < n,
        n_total=n,
    )


def _generative_words(result: QAResult, loaded: models.LoadedModel, keep: list[int], parts: list[str],
                      n_prompt: int) -> tuple[list[tuple[str, int]], dict[tuple[str, int], str]]:
    """Each kept position's word (part, index) and each word's text: the question's and the
    context's words in the prompt, the output's words (llm.token_words); a piece in no word
    stands for itself."""
    g = result.generation
    assert g is not None and result.question_span is not None and result.context_span is not None
    offsets = list(g.prompt_offsets or [(0, 0)] * n_prompt)
    spans = {"question": result.question_span, "context": result.context_span}
    words = {p: text.words(g.prompt_text[a:b]) for p, (a, b) in spans.items()}
    word_of = {p: text.words_of_pieces(offsets, spans[p], words[p]) for p in spans}
    out_words, out_of = llm.token_words(llm.output_token_texts(loaded.tokenizer, list(g.output_ids)))
    keys: list[tuple[str, int]] = []
    labels: dict[tuple[str, int], str] = {}
    for i in keep:
        p = parts[i]
        w = out_of[i - n_prompt] if p == "output" else word_of[p][i] if p in word_of else None
        key = (p, w) if w is not None else ("piece", i)
        if key not in labels:
            labels[key] = (out_words[w].text if p == "output" else words[p][w].text) if w is not None else \
                loaded.tokenizer.decode([g.sequence_ids[i]], skip_special_tokens=False)
        keys.append(key)
    return keys, labels
