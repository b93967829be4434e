"""The Evaluation tab: a model over a bundled set or an uploaded file, its metrics, the confusion
matrix, every example worst first, and any example opened in its own tab. It wires
playground.evaluation and playground.api_kit to components; the work is there."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from .. import config, evaluation, views
from ..api_kit import dataset_rows
from ..errors import InputError
from ..evaluation_data import EXTENSIONS
from ..messages import t
from ..tasks import translation
from . import export
from .common import EXPLAIN, admit, group, guarded, release, request_language, stop_event
from .zerogpu import MAX_SECONDS, gpu

UPLOAD = "upload"
# Rows a first click runs: a whole sentiment set is a second's work; a generation per row on
# 2 CPU cores is about a second each, so the others start with a lesson-sized sample.
DEFAULT_LIMIT = {"sentiment": 0, "qa": 10, "summarization": 5, "translation": 10}
ESTIMATE_NOTICE_S = 3.0
CELL_CHARS = 160  # a long context is cut in the table (the whole example opens in its tab)
METRICS = {"sentiment": ("accuracy", "macro_f1"), "qa": ("exact_match", "f1"), "summarization": ("rouge_l",),
           "translation": ("chrf", "bleu")}


def _model_choices(task: str, profile: str, auto: str) -> list[tuple[str, str]]:
    return [(auto, config.AUTO)] + [(s.display, s.key) for s in config.choices_for(task, profile)]


def _cell(value: Any, lang: str) -> str:
    if isinstance(value, list):  # QA answers
        value = " | ".join(map(str, value)) if value else t("eval_no_answer", lang)
    s = str(value if value is not None else "")
    return s if len(s) <= CELL_CHARS else s[: CELL_CHARS - 1] + "…"


def _score_text(score: dict[str, Any] | None, lang: str) -> str:
    """A row's own score: ✓/✗ and the true label's probability; EM and F1; ROUGE-L; chrF."""
    if not score:
        return ""
    parts = []
    for k, v in score.items():
        if isinstance(v, bool):
            parts.append("✓" if v else "✗")
        elif isinstance(v, (int, float)):
            parts.append(f"{t('eval_score_p_gold', lang)} {v:.2f}" if k == "p_gold" else f"{t(f'eval_metric_{k}', lang)} {v:.1f}")
    return " · ".join(parts)


def _label(value: Any, task: str, lang: str) -> Any:
    """A sentiment label in the page's language; any other value as it is."""
    return t(f"label_{value}", lang) if task == "sentiment" and value in ("positive", "negative") else value


COLUMNS = ("eval_col_rank", "eval_col_wrong", "eval_col_input", "eval_col_reference", "eval_col_prediction", "eval_col_score")


def table(report: dict[str, Any], lang: str) -> pd.DataFrame:
    """The per-example table: rank, wrongness, input, reference, prediction, the row's score
    (column names in the page's language)."""
    out = []
    for rank, row in enumerate(report["rows"], start=1):
        inputs = row.get("inputs") or {}
        shown = " ‖ ".join(_cell(v, lang) for v in inputs.values())
        if row["error"] is not None:
            err = t(row["error"]["key"], lang, **row["error"]["params"])
            out.append([rank, None, shown, "", t("eval_error_row", lang, message=err), ""])
            continue
        pred = _label(row["prediction"], report["task"], lang) if row["prediction"] != "" else t("eval_no_answer", lang)
        out.append([rank, round(float(row["wrongness"]), 3), shown, _cell(_label(row["reference"], report["task"], lang), lang),
                    _cell(pred, lang), _score_text(row["score"], lang)])
    return pd.DataFrame(out, columns=[t(c, lang) for c in COLUMNS])


def summary(report: dict[str, Any], lang: str) -> str:
    """Markdown: the model(s), the rows scored, each metric, and what was stopped or refused."""
    names = ", ".join(html.escape(v) for v in report["models"].values()) or "-"
    lines = [t("eval_summary", lang, model=names, scored=report["scored"], n=report["n"], seconds=report["seconds"])]
    cells = [t("eval_metric_value", lang, name=t(f"eval_metric_{m}", lang), value=report["metrics"][m]) for m in METRICS[report["task"]]
             if (report.get("metrics") or {}).get(m) is not None]
    if cells:
        lines.append(" · ".join(cells))
    if report["stopped"]:
        lines.append(t("eval_stopped", lang, scored=report["scored"], n=report["n"]))
    if report["errors"]:
        lines.append(t("eval_errors", lang, errors=report["errors"]))
    return "\n\n".join(lines)


def confusion_figure(report: dict[str, Any], lang: str) -> go.Figure | None:
    """Gold rows x predicted columns, counts written in the cells (sentiment only)."""
    if not report.get("confusion"):
        return None
    labels = [t(f"label_{lab}", lang) for lab in report["labels"]]
    z = report["confusion"]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, colorscale="Blues", showscale=False,
                               text=[[str(v) for v in row] for row in z], texttemplate="%{text}",
                               hovertemplate="%{y} → %{x}: %{z}<extra></extra>"))
    fig.update_layout(title=views.safe(t("eval_confusion", lang)), height=320, margin=dict(l=60, r=20, t=50, b=50),
                      xaxis_title=views.safe(t("eval_confusion_x", lang)), yaxis_title=views.safe(t("eval_confusion_y", lang)),
                      yaxis_autorange="reversed")
    return fig


def _pick_choices(report: dict[str, Any], lang: str) -> list[tuple[str, int]]:
    out = []
    for rank, row in enumerate(report["rows"], start=1):
        if row.get("open"):
            first = next(iter((row.get("inputs") or {}).values()), "")
            out.append((f"#{rank} · {_cell(first, lang)[:60]}", rank - 1))
    return out


def build(i18n: gr.I18n, profile: str, tabs: gr.Tabs, inputs: dict[str, dict[str, Any]]) -> None:
    """The tab. ``tabs`` is the app's Tabs; ``inputs`` each task tab's input components by name
    (what opening an example fills in)."""
    first = evaluation.TASKS[0]
    gr.Markdown(i18n("eval_help"))
    with gr.Row():
        task = gr.Dropdown([(i18n(f"tab_{name}"), name) for name in evaluation.TASKS], value=first,
                           label=i18n("eval_task"), elem_id="eval-task", scale=1)
        model = gr.Dropdown(_model_choices(first, profile, i18n("model_auto")), value=config.AUTO, label=i18n("eval_model"),
                            elem_id="eval-model", scale=2)
        limit = gr.Number(value=DEFAULT_LIMIT[first], precision=0, minimum=0, maximum=evaluation.MAX_UPLOAD_ROWS,
                          label=i18n("eval_limit"), elem_id="eval-limit", scale=1)
    with gr.Row():
        dataset = gr.Dropdown([(i18n(s.description), s.name) for s in evaluation.sets_for(first)]
                              + [(i18n("eval_set_upload"), UPLOAD)],
                              value=evaluation.sets_for(first)[0].name, label=i18n("eval_set"), elem_id="eval-set", scale=3)
        target = gr.Dropdown([(i18n(f"lang_{code}"), code) for code in translation.TARGETS], value=next(iter(translation.TARGETS)),
                             label=i18n("eval_target"), visible=False, scale=1)
    upload = gr.File(label=i18n("eval_upload"), file_types=list(EXTENSIONS), type="filepath", height=110,
                     elem_id="eval-upload")
    gr.Markdown(i18n("eval_upload_info"))
    with gr.Row():
        run_btn = gr.Button(i18n("eval_run"), variant="primary", elem_id="eval-run")
        stop_btn = gr.Button(i18n("eval_stop"), variant="stop", elem_id="eval-stop")
    with gr.Row():
        with gr.Column(scale=2):
            result = gr.Markdown(elem_id="eval-summary")
        with gr.Column(scale=1):
            confusion = export.plot(label=i18n("eval_confusion"), elem_id="eval-confusion")
    rows = gr.Dataframe(headers=[i18n(c) for c in COLUMNS], label=i18n("eval_table"),
                        interactive=False, wrap=True, elem_id="eval-table")
    with gr.Row():
        pick = gr.Dropdown(choices=[], label=i18n("eval_pick"), info=i18n("eval_pick_info"), elem_id="eval-pick", scale=3)
        open_btn = gr.Button(i18n("eval_open"), elem_id="eval-open", scale=1)
    report_state = gr.State(None)

    def task_changed(name: str, request: gr.Request) -> tuple:
        lang = request_language((request,), {})
        sets = evaluation.sets_for(name)
        return (gr.update(choices=_model_choices(name, profile, t("model_auto", lang)), value=config.AUTO),
                gr.update(choices=[(t(s.description, lang), s.name) for s in sets]
                          + [(t("eval_set_upload", lang), UPLOAD)], value=sets[0].name),
                gr.update(value=DEFAULT_LIMIT[name]), gr.update(visible=name == "translation"))

    task.change(task_changed, task, [model, dataset, limit, target], queue=False, api_visibility="private")

    def chosen_rows(name: str, chosen: str, path: str | None, tgt: str) -> tuple[list[dict[str, Any]], str]:
        if chosen == UPLOAD or (path and chosen in (None, "")):
            if not path:
                raise InputError("eval_choose_rows")
            size = Path(path).stat().st_size
            if size > evaluation.MAX_UPLOAD_BYTES:  # never read a huge file into memory
                raise InputError("eval_too_large", size=size, limit=evaluation.MAX_UPLOAD_BYTES)
            return dataset_rows(name, "", Path(path).read_bytes(), Path(path).name, tgt)
        return dataset_rows(name, chosen or "", b"", "", tgt)

    @guarded
    def run(name: str, key: str, n: Any, chosen: str, path: str | None, tgt: str, request: gr.Request,
            progress: gr.Progress = gr.Progress()) -> tuple:
        try:
            lang = request_language((request,), {})
            stop = stop_event(request)
            stop.clear()
            data, tgt = chosen_rows(name, chosen, path, tgt)
            data = data[: int(n)] if n and int(n) > 0 else data
            seconds = evaluation.estimate_seconds(name, data, key, profile, tgt) if data else 0.0
            if seconds > ESTIMATE_NOTICE_S:
                gr.Info(t("eval_estimate", lang, seconds=seconds, rows=len(data)), duration=min(30, seconds))
            progress(0.0, desc=t("eval_run", lang))

            def step(done: int, total: int) -> None:
                progress(done / max(1, total), desc=f"{done} / {total}")

            report = evaluation.evaluate(name, data, key, tgt, profile, step, stop).to_dict()
            return (summary(report, lang), confusion_figure(report, lang), table(report, lang),
                    gr.update(choices=_pick_choices(report, lang), value=None), report)
        finally:
            release(request)

    admitted = dict(concurrency_limit=None, api_visibility="private", show_progress="hidden")
    run_gpu = gpu(run, EXPLAIN, lambda *a, **k: MAX_SECONDS)
    run_btn.click(admit, None, None, **admitted).success(
        run_gpu, [task, model, limit, dataset, upload, target], [result, confusion, rows, pick, report_state],
        **group(EXPLAIN))
    def stop_h(request: gr.Request) -> None:
        stop_event(request).set()

    stop_btn.click(stop_h, None, None, queue=False, api_visibility="private")

    def selected(evt: gr.SelectData) -> Any:
        return gr.update(value=int(evt.index[0])) if evt.index is not None else gr.update()

    rows.select(selected, None, pick, queue=False, api_visibility="private")

    targets = [tabs] + [comp for name in evaluation.TASKS for comp in inputs.get(name, {}).values()]

    @guarded
    def open_example(report: dict | None, index: Any, request: gr.Request) -> list[Any]:
        if not report or index is None or not (0 <= int(index) < len(report["rows"])):
            raise InputError("eval_nothing_to_open")
        spec = report["rows"][int(index)].get("open")
        if not spec:
            raise InputError("eval_nothing_to_open")
        out: list[Any] = [gr.Tabs(selected=spec["task"])]
        for name in evaluation.TASKS:
            for field, _ in inputs.get(name, {}).items():
                out.append(gr.update(value=spec[field]) if name == spec["task"] and field in spec else gr.update())
        return out

    open_btn.click(open_example, [report_state, pick], targets, queue=False, api_visibility="private")



__all__ = ["build", "confusion_figure", "summary", "table"]
