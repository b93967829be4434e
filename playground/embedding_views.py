"""Figures of the Embeddings view: the words as points in 2-D, the cosine similarity between
them, and one word's nearest pieces of the vocabulary (plotly; no gradio).

Each takes an :class:`playground.embeddings.EmbeddingResult` or its ``to_dict()`` (what the API
returns), and ``lang`` ("en" or "zh-CN") for its texts. As in :mod:`playground.views`, every
word that reaches plotly goes through :func:`playground.views.safe` (plotly renders a small HTML
subset in text), and the axes are indexed, so a word that occurs twice stays two points, two rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from .messages import t
from .views import DIVERGING, NEGATIVE, POSITIVE, safe

SPACES = ("input", "hidden")
_LAYOUT = dict(template="plotly_white", font=dict(size=13))


def _as_dict(result: Any) -> dict[str, Any]:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def _space(space: str) -> str:
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, not {space!r}")
    return space


def _layout(title: str, subtitle: str = "") -> dict[str, Any]:
    # Titles come from the catalogue with words in them: escaped here, shortened only far out.
    head = dict(text=safe(title, 160), subtitle=dict(text=safe(subtitle, 200))) if subtitle else dict(text=safe(title, 160))
    return dict(title=head, margin=dict(l=10, r=10, t=80 if subtitle else 50, b=10), **_LAYOUT)


def caption(result: Any, space: str, lang: str = "en", cosine: bool = False) -> str:
    """Which vectors a figure shows, with the layer counted as the model counts it (0: the
    embedding layer's output; the input embeddings come before layer 1)."""
    d = _as_dict(result)
    prefix = "emb_fig_cos_" if cosine else "emb_fig_"
    if _space(space) == "input":
        return t(prefix + "input", lang)
    layer, layers = int(d["layer"]), int(d["n_layers"])
    return t(prefix + ("hidden0" if layer == 0 else "hidden"), lang, layer=layer, layers=layers)


def _labels(d: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Short escaped labels for the points and ticks, and longer escaped hover names that give
    the word's position and its pieces ("weather ·1 · we|ather")."""
    words = d.get("words", [])
    short = [safe(w["text"], 16) for w in words]
    hover = []
    for i, w in enumerate(words):
        pieces = w.get("pieces") or []
        hover.append(f"{safe(w['text'], 40)} ·{i}" + (f" · {safe('|'.join(pieces), 60)}" if pieces else ""))
    return short, hover


def points_figure(result: Any, space: str = "hidden", lang: str = "en", title: str = "") -> go.Figure:
    """The words as labelled points, the vectors of ``space`` ("input": input embeddings;
    "hidden": the hidden states at the result's layer) projected to 2-D by PCA; the title says
    which layer, the subtitle how much of the variance the two axes keep."""
    d = _as_dict(result)
    points = np.asarray(d[f"points_{_space(space)}"], dtype=float).reshape(-1, 2)
    shares = list(d["explained_variance"][space]) + [0.0, 0.0]
    short, hover = _labels(d)
    fig = go.Figure(
        go.Scatter(
            x=points[:, 0], y=points[:, 1], mode="markers+text", text=short, textposition="top center",
            customdata=hover, hovertemplate="%{customdata}<extra></extra>", marker=dict(size=9, color=POSITIVE),
        )
    )
    head = f"{title} · {caption(d, space, lang)}" if title else caption(d, space, lang)
    sub = t("emb_fig_kept", lang, dims=int(d.get("dims", 0)), share=float(shares[0] + shares[1]))
    fig.update_layout(
        height=480, showlegend=False,
        xaxis=dict(title=t("emb_axis", lang, n=1, share=float(shares[0])), zeroline=False),
        yaxis=dict(title=t("emb_axis", lang, n=2, share=float(shares[1])), zeroline=False),
        **_layout(head, sub),
    )
    return fig


def sentence_map_figure(smap: dict[str, Any], labels: list[str], texts: list[str], names: dict[str, str],
                        lang: str = "en", title: str = "") -> go.Figure:
    """Held-out sentences as points (playground.finetune_states.sentence_map: ``points``,
    ``shares``, ``separation``), one colour per true label (``names``: label -> shown name;
    negative orange, positive blue), each point's text on hover; the title gives the labels'
    separation, the subtitle how much variance the two axes keep."""
    points = np.asarray(smap.get("points") or [], dtype=float).reshape(-1, 2)
    shares = list(smap.get("shares") or []) + [0.0, 0.0]
    colours = {"negative": NEGATIVE, "positive": POSITIVE}
    fig = go.Figure()
    for label in sorted(set(labels)):
        rows = [i for i, lab in enumerate(labels) if lab == label]
        fig.add_trace(go.Scatter(
            x=points[rows, 0], y=points[rows, 1], mode="markers", name=safe(names.get(label, label), 40),
            customdata=[safe(texts[i], 120) for i in rows], hovertemplate="%{customdata}<extra></extra>",
            marker=dict(size=8, opacity=0.75, color=colours.get(label))))
    sep = smap.get("separation")
    head = t("ft_sep_title", lang, title=title, sep=sep) if sep is not None else title
    fig.update_layout(
        height=420, legend=dict(orientation="h", y=-0.15),
        xaxis=dict(title=t("emb_axis", lang, n=1, share=float(shares[0])), zeroline=False),
        yaxis=dict(title=t("emb_axis", lang, n=2, share=float(shares[1])), zeroline=False),
        **_layout(head, t("ft_sep_kept", lang, share=float(shares[0] + shares[1]))),
    )
    return fig


def cosine_figure(result: Any, space: str = "hidden", lang: str = "en", title: str = "") -> go.Figure:
    """The cosine similarity between every pair of words (full vectors, not the projection),
    the words on both axes, coloured from -1 (orange) through 0 to 1 (blue)."""
    d = _as_dict(result)
    m = np.asarray(d[f"cosine_{_space(space)}"], dtype=float)
    short, hover = _labels(d)
    idx = list(range(len(short)))
    fig = go.Figure(
        go.Heatmap(
            z=m, x=idx, y=idx, zmin=-1, zmax=1, zmid=0, colorscale=DIVERGING, colorbar=dict(thickness=12),
            customdata=[[[hover[r], hover[c]] for c in idx] for r in idx],
            hovertemplate="%{customdata[0]} ↔ %{customdata[1]}: %{z:.3f}<extra></extra>",
        )
    )
    head = caption(d, space, lang, cosine=True)
    fig.update_layout(
        height=max(360, min(900, 24 * len(idx) + 200)),
        xaxis=dict(tickmode="array", tickvals=idx, ticktext=short, tickangle=-60, side="bottom"),
        yaxis=dict(tickmode="array", tickvals=idx, ticktext=short, autorange="reversed"),
        **_layout(f"{title} · {head}" if title else head, t("emb_fig_cos_sub", lang, dims=int(d.get("dims", 0)))),
    )
    return fig


def neighbours_figure(result: Any, lang: str = "en", title: str = "") -> go.Figure:
    """The nearest pieces of the vocabulary to the result's word, as bars of their cosine,
    the nearest on top."""
    d = _as_dict(result)
    found = d.get("neighbours", [])
    idx = list(range(len(found)))
    fig = go.Figure(
        go.Bar(
            x=[float(n["cosine"]) for n in found], y=idx, orientation="h", marker_color=POSITIVE,
            text=[f"{float(n['cosine']):.3f}" for n in found], textposition="auto",
            customdata=[safe(n["text"], 40) for n in found], hovertemplate="%{customdata}: %{x:.3f}<extra></extra>",
        )
    )
    head = t("emb_fig_neighbours", lang, word=d.get("neighbours_of", ""))
    fig.update_layout(
        height=140 + 26 * len(found), xaxis=dict(range=[-1, 1], title=t("emb_cosine", lang)),
        yaxis=dict(tickmode="array", tickvals=idx, ticktext=[safe(n["text"], 24) for n in found], autorange="reversed"),
        **_layout(f"{title} · {head}" if title else head,
                  t("emb_fig_neighbours_sub", lang, size=int(d.get("vocab_size", 0)))),
    )
    return fig


def projection_note(result: Any, lang: str = "en") -> str:
    """The sentence that says what a 2-D picture loses (plain text, no words of the input)."""
    d = _as_dict(result)
    kept = {s: float(sum(d["explained_variance"][s][:2])) for s in SPACES}
    return t("emb_projection_note", lang, input=kept["input"], hidden=kept["hidden"], dims=int(d.get("dims", 0)))


__all__ = ["SPACES", "caption", "cosine_figure", "neighbours_figure", "points_figure", "projection_note",
           "sentence_map_figure"]
