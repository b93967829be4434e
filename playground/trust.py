"""What the "How far to trust this" panel shows, from explanation dicts of one input
(``Explanation.to_dict()``, each with its ``faithfulness`` and ``stability``) and their
``agreement``: a table, plain sentences, each method's note, and three plotly figures. Pure
functions of the results and a language; no gradio (the tabs only place what this returns).
Every word of the input that reaches the page is escaped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .explain.agreement import MIN_OVERLAP
from .explain.agreement import of_explanations as agreement_of
from .messages import EN, t
from .views import NEGATIVE, POSITIVE, _layout, safe

Results = Mapping[str, Mapping[str, Any]]  # method -> explanation dict
_PALETTE = ["#2166ac", "#e66101", "#1b9e77", "#7570b3", "#d95f02", "#66a61e", "#a6761d", "#e7298a"]
_RANDOM = "#7f7f7f"


def method_name(method: str, lang: str) -> str:
    return t(f"method_{method}", lang) if f"method_{method}" in EN else safe(method)


def _faith_row(expl: Mapping[str, Any], row: int) -> dict[str, Any] | None:
    rows = (expl.get("faithfulness") or {}).get("rows") or []
    return rows[min(max(row, 0), len(rows) - 1)] if rows else None


def targets_of(results: Results) -> list[dict[str, Any]]:
    """The explained targets (the same for every result of one input)."""
    first = next(iter(results.values()), None)
    return list(first.get("targets") or []) if first else []


def _verdict(r: dict[str, Any], lang: str) -> str:
    comp, suff = r["comprehensiveness"]["vs_random"], r["sufficiency"]["vs_random"]
    if comp > 0 and suff > 0:
        return t("trust_better", lang, by=comp)
    if comp <= 0 and suff <= 0:
        return f"**{t('trust_worse', lang)}**"  # the warning, in bold: emoji need a font a page may lack
    return t("trust_mixed", lang)


def stability_text(expl: Mapping[str, Any], lang: str) -> str:
    """One cell: deterministic, or whether a sampled budget settled and how well two runs agree."""
    s = expl.get("stability") or {}
    if s.get("kind") != "sampled":
        gap = (expl.get("convergence") or {}).get("relative_delta")
        if gap is not None and not s.get("converged", True):
            return t("trust_ig_unsettled", lang, gap=gap)
        return t("trust_deterministic", lang)
    samples = s.get("samples", expl.get("evaluations", 0))
    if s.get("exact"):
        state = t("trust_exact", lang)
    elif s.get("converged"):
        state = t("trust_settled", lang, samples=samples)
    elif s.get("stopped_by") == "time":
        state = f"**{t('trust_unsettled_time', lang, samples=samples)}**"
    elif "converged" in s:
        state = f"**{t('trust_unsettled_budget', lang, samples=samples)}**"
    else:
        state = ""
    parts = [state] if state else []
    if isinstance(s.get("seed_spearman"), (int, float)) and not s.get("exact"):
        parts.append(t("trust_two_runs", lang, rho=s["seed_spearman"]))
    elif isinstance(s.get("half_spearman"), (int, float)) and not s.get("exact"):
        parts.append(t("conv_half_spearman", lang) + f" = {s['half_spearman']:.2f}")
    return "; ".join(parts) or "–"


def _unit(results: Results, lang: str) -> str:
    kind = str(next(iter(results.values())).get("target_kind") or "value")
    key = {"log_prob": "log_probability"}.get(kind, kind)
    return t(f"trust_unit_{key}", lang) if f"trust_unit_{key}" in EN else t("trust_unit_value", lang)


def table(results: Results, row: int, lang: str) -> str:
    """A Markdown table: per method, its AOPCs against random, the verdict, stability, cost."""
    head = [t(k, lang) for k in ("trust_col_method", "trust_col_comp", "trust_col_suff", "trust_col_verdict",
                                 "trust_col_stability", "trust_col_cost")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    removal = ""
    orders = 0
    for method, expl in results.items():
        r = _faith_row(expl, row)
        f = expl.get("faithfulness") or {}
        if r is None:
            cells = [method_name(method, lang), "–", "–", "–", stability_text(expl, lang), "–"]
        else:
            if not removal and f.get("removal_key"):
                removal = t(f["removal_key"], lang, **f.get("removal_params", {}))
            orders = f.get("random_orders", orders)
            c, s = r["comprehensiveness"], r["sufficiency"]
            cells = [method_name(method, lang), f"{c['aopc']:.3g} ({c['random_aopc']:.3g})",
                     f"{s['aopc']:.3g} ({s['random_aopc']:.3g})", _verdict(r, lang), stability_text(expl, lang),
                     t("trust_cost_cell", lang, evaluations=f.get("evaluations", 0), seconds=f.get("seconds", 0.0))]
        lines.append("| " + " | ".join(cells) + " |")
    out = "\n".join(lines)
    if orders:
        out += "\n\n" + t("trust_units", lang, unit=_unit(results, lang), orders=orders, removal=safe(removal, 120))
    return out


def agreement_text(agreement: Mapping[str, Any] | None, row: int, lang: str, limit: int = 3) -> str:
    """Plain sentences: the pairs of methods that disagree on the top words, or that all agree."""
    if not agreement or len(agreement.get("methods") or []) < 2 or not agreement.get("rows"):
        return t("trust_one_method", lang)
    r = agreement["rows"][min(max(row, 0), len(agreement["rows"]) - 1)]
    k = agreement["top"]
    if not r["disagreements"]:
        return t("trust_agree", lang, share=MIN_OVERLAP, k=k)
    lines = [t("trust_disagree", lang, a=method_name(d["a"], lang), b=method_name(d["b"], lang),
               top_a=safe(d["top_a"], 30), top_b=safe(d["top_b"], 30), shared=round(d["overlap"] * k), k=k,
               rho=d["spearman"]) for d in r["disagreements"][:limit]]
    if len(r["disagreements"]) > limit:
        lines.append(t("trust_disagree_more", lang, n=len(r["disagreements"]) - limit))
    return "\n\n".join(lines)


def notes(methods: list[str], lang: str) -> str:
    """What each method measures and when it misleads (one line each)."""
    lines = [f"- {t(f'trust_note_{m}', lang)}" for m in methods if f"trust_note_{m}" in EN]
    return "\n".join([t("trust_notes_heading", lang), *lines]) if lines else ""


def summary(results: Results, row: int, lang: str, agreement: Mapping[str, Any] | None = None) -> str:
    """The panel's text: the table, the agreement sentences, the methods' notes."""
    if not results:
        return t("trust_empty", lang)
    agreement = agreement if agreement is not None else agreement_of(results)
    return "\n\n".join(p for p in (table(results, row, lang), agreement_text(agreement, row, lang),
                                   notes(list(results), lang)) if p)


def faithfulness_figure(results: Results, row: int, lang: str) -> go.Figure | None:
    """Per method, comprehensiveness AOPC (higher is better) and sufficiency AOPC (lower is
    better) as bars, each beside the random orders' value (a dashed line: the same for every
    method of one input)."""
    rows = {m: _faith_row(e, row) for m, e in results.items()}
    rows = {m: r for m, r in rows.items() if r is not None}
    if not rows:
        return None
    names = [method_name(m, lang) for m in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[t("trust_comp_short", lang), t("trust_suff_short", lang)])
    for col, key in ((1, "comprehensiveness"), (2, "sufficiency")):
        values = [r[key]["aopc"] for r in rows.values()]
        better = [r[key]["vs_random"] > 0 for r in rows.values()]
        fig.add_trace(go.Bar(x=names, y=values, marker_color=[POSITIVE if b else NEGATIVE for b in better],
                             showlegend=False, hovertemplate="%{x}: %{y:.4g}<extra></extra>"), row=1, col=col)
        random_value = next(iter(rows.values()))[key]["random_aopc"]
        fig.add_hline(y=random_value, line_dash="dash", line_color=_RANDOM, row=1, col=col,
                      annotation_text=t("trust_random", lang), annotation_position="top left")
    fig.update_layout(height=340, **_layout(t("trust_fig_faith", lang)))
    fig.update_xaxes(tickangle=-30)
    return fig


def agreement_figure(agreement: Mapping[str, Any] | None, row: int, lang: str) -> go.Figure | None:
    """The methods x methods Spearman matrix, each cell also giving the top-k overlap."""
    if not agreement or len(agreement.get("methods") or []) < 2 or not agreement.get("rows"):
        return None
    r = agreement["rows"][min(max(row, 0), len(agreement["rows"]) - 1)]
    names = [method_name(m, lang) for m in agreement["methods"]]
    k = agreement["top"]
    text = [[f"{rho:.2f}<br>{round(o * k)}/{k}" for rho, o in zip(rs, os)] for rs, os in zip(r["spearman"], r["top_overlap"])]
    idx = list(range(len(names)))
    fig = go.Figure(go.Heatmap(z=r["spearman"], x=idx, y=idx, text=text, texttemplate="%{text}", zmin=-1, zmax=1,
                               colorscale=[[0.0, NEGATIVE], [0.5, "#f7f7f7"], [1.0, POSITIVE]],
                               hovertemplate="%{z:.2f}<extra></extra>", colorbar=dict(thickness=12)))
    fig.update_layout(
        height=max(300, 46 * len(names) + 150),
        xaxis=dict(tickmode="array", tickvals=idx, ticktext=names, tickangle=-30),
        yaxis=dict(tickmode="array", tickvals=idx, ticktext=names, autorange="reversed"),
        **_layout(t("trust_fig_agreement", lang, k=k)),
    )
    return fig


def curves_figure(results: Results, row: int, lang: str) -> go.Figure | None:
    """Deletion (left) and insertion (right) curves of every method, and of random orders."""
    rows = {m: _faith_row(e, row) for m, e in results.items()}
    rows = {m: r for m, r in rows.items() if r is not None}
    if not rows:
        return None
    fig = make_subplots(rows=1, cols=2, subplot_titles=[t("trust_deletion", lang), t("trust_insertion", lang)],
                        shared_yaxes=True)
    for i, (m, r) in enumerate(rows.items()):
        c = r["curves"]
        colour = _PALETTE[i % len(_PALETTE)]
        for col, key in ((1, "deletion"), (2, "insertion")):
            fig.add_trace(go.Scatter(x=c["fractions"], y=c[key], mode="lines+markers", name=method_name(m, lang),
                                     line=dict(color=colour), legendgroup=m, showlegend=col == 1,
                                     hovertemplate="%{x:.0%}: %{y:.4g}<extra></extra>"), row=1, col=col)
    c = next(iter(rows.values()))["curves"]
    for col, key in ((1, "random_deletion"), (2, "random_insertion")):
        fig.add_trace(go.Scatter(x=c["fractions"], y=c[key], mode="lines", name=t("trust_random", lang),
                                 line=dict(color=_RANDOM, dash="dash"), legendgroup="random", showlegend=col == 1,
                                 hovertemplate="%{x:.0%}: %{y:.4g}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(tickformat=".0%", title_text=t("trust_axis_share", lang))
    fig.update_yaxes(title_text=t("trust_axis_value", lang), row=1, col=1)
    layout = _layout(t("trust_fig_curves", lang))
    layout["margin"] = dict(l=10, r=10, t=60, b=10)
    fig.update_layout(height=380, legend=dict(orientation="h", y=-0.25), **layout)
    return fig


__all__ = ["agreement_figure", "agreement_text", "curves_figure", "faithfulness_figure", "notes", "stability_text",
           "summary", "table", "targets_of"]
