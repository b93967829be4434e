"""Pure functions from results to what the page shows: plotly figures and highlight values.

No gradio here and no HTML strings: every label that reaches plotly is escaped (plotly renders a
small HTML subset in text), and highlights go to a component that escapes its own text.
Colours: blue for "pushes toward the explained label", orange for "pushes away" — a pair that
stays distinct for the common colour-vision deficiencies (unlike red/green).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .explain.attention import rollout
from .explain.base import Explanation
from .messages import t

POSITIVE = "#2166ac"  # blue
NEGATIVE = "#e66101"  # orange
DIVERGING = [[0.0, NEGATIVE], [0.5, "#f7f7f7"], [1.0, POSITIVE]]
_LAYOUT = dict(template="plotly_white", font=dict(size=13))


def _layout(title: str) -> dict:
    # No empty band above a figure that has no title.
    return dict(title=safe(title, 80), margin=dict(l=10, r=10, t=40 if title else 10, b=10), **_LAYOUT)


def safe(label: object, limit: int = 40) -> str:
    """Escape text for plotly (it renders <b>, <a href>, ... in labels) and shorten it. Quotes
    stay as they are: plotly decodes only a few named entities and would show "&quot;"."""
    s = str(label)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False)


def probabilities_figure(scores: dict[str, float], title: str = "") -> go.Figure:
    labels = list(scores)
    values = [float(scores[k]) for k in labels]
    best = int(np.argmax(values)) if values else -1
    fig = go.Figure(
        go.Bar(
            x=values,
            y=[safe(k) for k in labels],
            orientation="h",
            marker_color=[POSITIVE if i == best else "#9e9e9e" for i in range(len(labels))],
            text=[f"{v:.1%}" for v in values],
            textposition="auto",
        )
    )
    fig.update_layout(xaxis=dict(range=[0, 1], tickformat=".0%"), height=120 + 30 * len(labels), **_layout(title))
    return fig


def _unique_ticks(tokens: list[str]) -> list[str]:
    # The same token twice must stay two rows, so the axis is indexed and labelled separately.
    return [safe(t, 16) for t in tokens]


def attention_matrix(att: np.ndarray, layer: int | None, head: int | None) -> np.ndarray:
    """Pick the map to draw from (layers, heads, n, n): one head of one layer, the mean over a
    layer's heads (``head`` None), or the rollout across all layers (``layer`` None)."""
    if layer is None:
        return rollout(att)
    return att[layer].mean(axis=0) if head is None else att[layer, head]


def attention_caption(att: np.ndarray, layer: int | None, head: int | None, lang: str = "en") -> str:
    """Which map a figure of ``att`` (layers, heads, ...) shows, counted from 1 as the controls
    count: "Layer 6 of 6, head 3 of 12", the mean of a layer's heads, or the rollout."""
    layers, heads = int(att.shape[0]), int(att.shape[1])
    if layer is None:
        return t("fig_att_rollout", lang, layers=layers)
    if head is None:
        return t("fig_att_mean", lang, layer=layer + 1, layers=layers, heads=heads)
    return t("fig_att_head", lang, layer=layer + 1, layers=layers, head=head + 1, heads=heads)


def _titled(title: str, caption: str) -> str:
    return f"{title} · {caption}" if title else caption


def attention_figure(att: np.ndarray, tokens: list[str], layer: int | None, head: int | None, title: str = "",
                     lang: str = "en", hover: list[str] | None = None) -> go.Figure:
    """A square attention map over ``tokens`` (words): one head, a layer's mean, or the rollout
    (:func:`attention_matrix`), titled with which of them it is. ``hover``: the (escaped) names
    the hover gives each row and column (default: the tick labels)."""
    m = attention_matrix(att, layer, head)
    idx = list(range(len(tokens)))
    ticks = _unique_ticks(tokens)
    names = hover or ticks
    fig = go.Figure(
        go.Heatmap(
            z=m,
            x=idx,
            y=idx,
            colorscale="Blues",
            zmin=0,
            customdata=[[[names[r], names[c]] for c in idx] for r in idx],
            hovertemplate="%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra></extra>",
            colorbar=dict(thickness=12),
        )
    )
    size = max(360, min(900, 22 * len(tokens) + 160))
    fig.update_layout(
        height=size,
        xaxis=dict(tickmode="array", tickvals=idx, ticktext=ticks, tickangle=-60, side="bottom", title=t("fig_att_to", lang)),
        yaxis=dict(tickmode="array", tickvals=idx, ticktext=ticks, autorange="reversed", title=t("fig_att_from", lang)),
        **_layout(_titled(title, attention_caption(att, layer, head, lang))),
    )
    return fig


def normalised(scores: list[float]) -> list[float]:
    """Scores scaled into [-1, 1] by the largest magnitude (for colour intensity only)."""
    arr = np.asarray(scores, dtype=float)
    top = float(np.max(np.abs(arr))) if arr.size else 0.0
    return (arr / top).tolist() if top > 0 else [0.0] * len(arr)


# Highlight strength in three steps each way; the same blue/orange as the bar charts (gradio's
# numeric highlight uses red/blue with the opposite meaning, so named buckets keep one legend).
BUCKET_COLOURS = {
    "+3": "#2166ac", "+2": "#67a9cf", "+1": "#d1e5f0",
    "-1": "#fddbc7", "-2": "#f4a582", "-3": "#e66101",
}


def bucket(score: float) -> str | None:
    """A normalised score in [-1, 1] -> its highlight bucket (None: too small to colour)."""
    a = abs(score)
    if a < 0.1:
        return None
    level = 3 if a >= 0.6 else 2 if a >= 0.3 else 1
    return f"{'+' if score > 0 else '-'}{level}"


def _as_dict(expl: Explanation | dict[str, Any]) -> dict[str, Any]:
    return expl.to_dict() if isinstance(expl, Explanation) else expl


def explanation_words(expl: Explanation | dict[str, Any]) -> list[dict[str, Any]]:
    """The explained units of an explanation (``words``; ``tokens`` in older dicts)."""
    d = _as_dict(expl)
    return list(d.get("words", d.get("tokens", [])))


def explanation_row(expl: Explanation | dict[str, Any], row: int | None = None) -> list[float]:
    """One target's scores: matrix row ``row`` (clamped to the rows there are), or ``scores``
    (the first target's row) when ``row`` is None or there is no matrix."""
    d = _as_dict(expl)
    matrix = d.get("matrix") or []
    if row is not None and matrix:
        return [float(v) for v in matrix[min(max(int(row), 0), len(matrix) - 1)]]
    return [float(v) for v in d.get("scores", [])]


def highlight_values(expl: Explanation | dict[str, Any], source: str, row: int | None = None) -> list[tuple[str, str | None]]:
    """The whole text as (piece, bucket) pairs for a highlight: words carry the bucket of their
    normalised score (target ``row`` of the matrix; None: the first target), the gaps between
    them (spaces) carry None."""
    out: list[tuple[str, str | None]] = []
    pos = 0
    for tok, score in zip(explanation_words(expl), normalised(explanation_row(expl, row))):
        if tok["start"] < pos:
            continue
        if tok["start"] > pos:
            out.append((source[pos : tok["start"]], None))
        out.append((source[tok["start"] : tok["end"]], bucket(score)))
        pos = tok["end"]
    if pos < len(source):
        out.append((source[pos:], None))
    return out


def attribution_figure(expl: Explanation | dict[str, Any], title: str = "", top: int = 20, row: int | None = None) -> go.Figure:
    """Horizontal bars of the words with the largest |score| (for target ``row``), in reading order."""
    words_ = explanation_words(expl)
    scores = np.asarray(explanation_row(expl, row), dtype=float)
    keep = sorted(np.argsort(-np.abs(scores))[:top].tolist()) if scores.size else []
    words = [f"{safe(words_[i]['text'], 20)} ·{i}" for i in keep]
    vals = [float(scores[i]) for i in keep]
    fig = go.Figure(
        go.Bar(
            x=vals,
            y=words,
            orientation="h",
            marker_color=[POSITIVE if v >= 0 else NEGATIVE for v in vals],
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(180, 24 * len(keep) + 50),
        yaxis=dict(autorange="reversed"),
        xaxis=dict(zeroline=True, zerolinecolor="#444"),
        **_layout(title),
    )
    return fig


def _labelled_heatmap(rows: list[str], cols: list[str], m: np.ndarray, title: str, **heatmap: Any) -> go.Figure:
    """A rows x columns heatmap with every row and column labelled (escaped, shortened); the axes
    are indexed, so a word that occurs twice stays two rows."""
    ri, ci = list(range(len(rows))), list(range(len(cols)))
    fig = go.Figure(go.Heatmap(z=m, x=ci, y=ri, colorbar=dict(thickness=12), **heatmap))
    fig.update_layout(
        height=max(260, min(900, 24 * len(rows) + 160)),
        xaxis=dict(tickmode="array", tickvals=ci, ticktext=[safe(c, 16) for c in cols], tickangle=-60),
        yaxis=dict(tickmode="array", tickvals=ri, ticktext=[safe(r, 16) for r in rows], autorange="reversed"),
        **_layout(title),
    )
    return fig


def matrix_figure(rows: list[str], cols: list[str], matrix: np.ndarray, title: str = "") -> go.Figure:
    """Output tokens (rows) x prompt words (columns), coloured around zero (blue/orange)."""
    m = np.asarray(matrix, dtype=float)
    top = float(np.max(np.abs(m))) if m.size else 1.0
    return _labelled_heatmap(rows, cols, m, title, colorscale=DIVERGING, zmin=-top or -1, zmax=top or 1, zmid=0,
                             hovertemplate="%{y} ← %{x}: %{z:.4f}<extra></extra>")


def candidates_figure(raw: list[tuple[str, float]], processed: list[tuple[str, float]], chosen: str, labels: tuple[str, str]) -> go.Figure:
    """The top next-token candidates before and after the sampling settings, side by side; the
    chosen token is marked with ▶."""
    order = list(dict.fromkeys([t for t, _ in raw] + [t for t, _ in processed]))
    raw_p, proc_p = dict(raw), dict(processed)
    # repr shows spaces and newlines, which matter in a next-token view
    names = [("▶ " if t == chosen else "") + safe(repr(t)[1:-1], 20) for t in order]
    fig = go.Figure(
        [
            go.Bar(y=names, x=[raw_p.get(t, 0.0) for t in order], name=safe(labels[0]), orientation="h", marker_color="#9e9e9e"),
            go.Bar(y=names, x=[proc_p.get(t, 0.0) for t in order], name=safe(labels[1]), orientation="h", marker_color=POSITIVE),
        ]
    )
    layout = _layout("")
    layout["margin"] = dict(l=10, r=10, t=40, b=10)  # room for the legend above the bars
    fig.update_layout(
        barmode="group", height=max(260, 26 * len(order) + 90), yaxis=dict(autorange="reversed"),
        xaxis=dict(range=[0, 1], tickformat=".0%"), legend=dict(orientation="h", y=1.0, yanchor="bottom"), **layout,
    )
    return fig


def logit_lens_figure(layers: list[list[tuple[str, float]]], names: list[str] | None = None, title: str = "") -> go.Figure:
    """Rows: layers (bottom = first); columns: rank; each cell the token and its probability."""
    z = [[p for _, p in row] for row in layers]
    text = [[safe(repr(t)[1:-1], 12) for t, _ in row] for row in layers]
    n_rank = max((len(r) for r in layers), default=0)
    fig = go.Figure(
        go.Heatmap(
            z=z, text=text, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
            x=[f"#{i + 1}" for i in range(n_rank)], y=names or [f"L{i + 1}" for i in range(len(layers))],
            hovertemplate="layer %{y}, %{x}: %{text} (%{z:.1%})<extra></extra>", colorbar=dict(thickness=12),
        )
    )
    fig.update_layout(height=max(260, 28 * len(layers) + 100), **_layout(title))
    return fig


def cross_attention_figure(att: np.ndarray, rows: list[str], cols: list[str], layer: int, head: int | None,
                           title: str = "", lang: str = "en") -> go.Figure:
    """A rectangular attention map (layers, heads, rows, cols): output words (rows) x source
    words (columns), one head or the mean over the layer's heads, titled with which."""
    m = att[layer].mean(axis=0) if head is None else att[layer, head]
    return _labelled_heatmap(rows, cols, m, _titled(title, attention_caption(att, layer, head, lang)),
                             colorscale="Blues", zmin=0,
                             hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>")


def alignment_figure(source: list[str], output: list[str], links: list[dict[str, Any]], title: str = "") -> go.Figure:
    """Source words along the top, output words along the bottom, each output word linked to its
    strongest source word(s); a line's width and darkness follow the score."""
    n = max(len(source), len(output), 1)
    xs = [i * (n - 1) / max(len(source) - 1, 1) for i in range(len(source))]
    xo = [i * (n - 1) / max(len(output) - 1, 1) for i in range(len(output))]
    top = max((s for link in links for s in link["scores"]), default=0.0) or 1.0
    fig = go.Figure()
    for link in links:
        for j, score in zip(link["sources"], link["scores"]):
            strength = max(0.15, min(1.0, score / top))
            fig.add_trace(go.Scatter(
                x=[xo[link["output"]], xs[j]], y=[0, 1], mode="lines", hoverinfo="skip", showlegend=False,
                line=dict(color=POSITIVE, width=1 + 4 * strength), opacity=0.25 + 0.75 * strength,
            ))
    # Annotations rather than text markers: they can be turned, so 60 words still fit a row.
    for x, w in zip(xs, source):
        fig.add_annotation(x=x, y=1, text=safe(w, 16), showarrow=False, textangle=-60, xanchor="left", yanchor="bottom")
    for x, w in zip(xo, output):
        fig.add_annotation(x=x, y=0, text=safe(w, 16), showarrow=False, textangle=-60, xanchor="right", yanchor="top")
    fig.add_trace(go.Scatter(x=xs + xo, y=[1] * len(xs) + [0] * len(xo), mode="markers", hoverinfo="skip",
                             showlegend=False, marker=dict(size=5, color="#444")))
    fig.update_layout(
        height=420, xaxis=dict(visible=False, range=[-1, n]), yaxis=dict(visible=False, range=[-0.9, 1.9]),
        **_layout(title),
    )
    return fig


# ---- Question answering ---------------------------------------------------------------------------


def start_end_figure(tokens: list[str], p_start: list[float], p_end: list[float], span: tuple[int, int] | None,
                     names: tuple[str, str], title: str = "") -> go.Figure:
    """An extractive QA model's start and end probabilities over the context tokens (two lines);
    ``span`` (first and last token index, inclusive) is shaded. Long contexts label every k-th
    token (all of them in the hover)."""
    idx = list(range(len(tokens)))
    labels = [safe(t, 16) for t in tokens]
    fig = go.Figure(
        [
            go.Scatter(x=idx, y=[float(p) for p in p_start], name=safe(names[0]), mode="lines+markers",
                       line=dict(color=POSITIVE, width=2), marker=dict(size=5), customdata=labels,
                       hovertemplate="%{customdata}: %{y:.1%}<extra>" + safe(names[0]) + "</extra>"),
            go.Scatter(x=idx, y=[float(p) for p in p_end], name=safe(names[1]), mode="lines+markers",
                       line=dict(color=NEGATIVE, width=2, dash="dot"), marker=dict(size=5, symbol="diamond"),
                       customdata=labels, hovertemplate="%{customdata}: %{y:.1%}<extra>" + safe(names[1]) + "</extra>"),
        ]
    )
    if span is not None:
        fig.add_vrect(x0=span[0] - 0.5, x1=span[1] + 0.5, fillcolor="#d1e5f0", opacity=0.6, line_width=0, layer="below")
    step = max(1, -(-len(tokens) // 60))  # at most 60 tick labels
    layout = _layout(title)
    layout["margin"] = dict(l=10, r=10, t=40, b=10)  # room for the legend above the plot
    top = max([float(p) for p in p_start] + [float(p) for p in p_end] + [0.0])
    fig.update_layout(
        height=360,
        xaxis=dict(tickmode="array", tickvals=idx[::step], ticktext=labels[::step], tickangle=-60),
        yaxis=dict(tickformat=".2~%", range=[0, min(1.0, top * 1.1) or 1.0]),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0),
        **layout,
    )
    return fig


def _runs(parts: list[str]) -> list[tuple[str, int, int]]:
    """Consecutive runs of equal parts: (part, first index, last index)."""
    out: list[tuple[str, int, int]] = []
    for i, p in enumerate(parts):
        if out and out[-1][0] == p:
            out[-1] = (p, out[-1][1], i)
        else:
            out.append((p, i, i))
    return out


def qa_attention_figure(att: np.ndarray, tokens: list[str], layer: int | None, head: int | None, parts: list[str],
                        boundary: int, answer_tokens: list[int], part_names: dict[str, str], title: str = "",
                        lang: str = "en") -> go.Figure:
    """:func:`attention_figure` for a question + context input: a line on both axes between the
    two parts (before index ``boundary``), a dashed line before the generated tokens, the
    answer's rows outlined, and each part named above the map (``part_names``: part -> label;
    parts without a name, like [CLS]/[SEP], stay unnamed)."""
    shown = [t.replace("\n", "↵") for t in tokens]
    n = len(tokens)
    fig = attention_figure(att, shown, layer, head, title, lang, hover=[f"{safe(t, 16)} ·{i}" for i, t in enumerate(shown)])
    if n > 80:  # more labels than fit: every k-th token (all of them in the hover)
        step = -(-n // 64)
        ticks = dict(tickmode="array", tickvals=list(range(0, n, step)), ticktext=[safe(t, 16) for t in shown[::step]])
        fig.update_layout(xaxis=ticks, yaxis=ticks)
    line = dict(color="#d7301f", width=2)
    if 0 < boundary < n:
        at = boundary - 0.5
        fig.add_shape(type="line", x0=at, x1=at, y0=-0.5, y1=n - 0.5, line=line)
        fig.add_shape(type="line", x0=-0.5, x1=n - 0.5, y0=at, y1=at, line=line)
    if "output" in parts:
        first = parts.index("output")
        if 0 < first < n:
            dashed = dict(color="#444", width=1.5, dash="dash")
            fig.add_shape(type="line", x0=first - 0.5, x1=first - 0.5, y0=-0.5, y1=n - 0.5, line=dashed)
            fig.add_shape(type="line", x0=-0.5, x1=n - 0.5, y0=first - 0.5, y1=first - 0.5, line=dashed)
    if answer_tokens:
        a, b = min(answer_tokens), max(answer_tokens)
        fig.add_shape(type="rect", x0=-0.5, x1=n - 0.5, y0=a - 0.5, y1=b + 0.5, line=dict(color=NEGATIVE, width=2))
    for part, a, b in _runs(parts):
        if part in part_names:
            fig.add_annotation(x=(a + b) / 2, y=1.0, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                               text="<b>" + safe(part_names[part], 30) + "</b>", font=dict(size=12))
    fig.update_layout(margin=dict(l=10, r=10, t=60 if title else 30, b=10))
    return fig


def highlight_parts(words: list[dict[str, Any]], scores: list[float], texts: dict[str, str]) -> dict[str, list[tuple[str, str | None]]]:
    """Highlight values (as :func:`highlight_values`) for each part of a text made of several
    (a question and its context): ``words`` carry ``part``, ``start``/``end`` index their own
    part's text in ``texts``. One colour scale for all the parts, so a strong question word and a
    strong context word look alike."""
    norm = normalised(scores)
    out: dict[str, list[tuple[str, str | None]]] = {}
    for part, source in texts.items():
        pairs = [(w, s) for w, s in zip(words, norm) if w.get("part") == part]
        pieces: list[tuple[str, str | None]] = []
        pos = 0
        for w, s in sorted(pairs, key=lambda ws: ws[0]["start"]):
            if w["start"] < pos:
                continue
            if w["start"] > pos:
                pieces.append((source[pos : w["start"]], None))
            pieces.append((source[w["start"] : w["end"]], bucket(s)))
            pos = w["end"]
        if pos < len(source):
            pieces.append((source[pos:], None))
        out[part] = pieces
    return out
