"""The Fine-tune tab: a pre-trained encoder learns the sentiment task while the class watches the
loss fall, then the same held-out examples and the same input's explanation before and after.
It wires playground.finetune to components; the model belongs to this browser tab only."""

from __future__ import annotations

import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from .. import embedding_views, finetune, views
from ..errors import InputError
from ..explain import METHODS, explain
from ..finetune_models import LAYER_CHOICES, POOLS, STARTS, UPLOAD
from ..messages import t
from . import export, panels
from .common import EXPLAIN, QUICK, admit, group, guarded, release, request_language, session_of, stop_event
from .evaluation_tab import confusion_figure
from .sentiment_tab import label_text
from .zerogpu import MAX_SECONDS, gpu

POLL_S = 0.5
ENDED = ("done", "stopped", "failed")
COMPARE_TEXT = "The plot was predictable but the actors were wonderful."


def loss_figure(loss: list[float], smoothed: list[float], lang: str) -> go.Figure:
    """The training loss per step and its smoothed curve."""
    steps = list(range(1, len(loss) + 1))
    fig = go.Figure([go.Scatter(x=steps, y=loss, mode="lines", name=views.safe(t("ft_loss_raw", lang)), opacity=0.4),
                     go.Scatter(x=steps, y=smoothed, mode="lines", name=views.safe(t("ft_loss_smoothed", lang)))])
    fig.update_layout(title=views.safe(t("ft_loss_plot", lang), 80), height=320, margin=dict(l=50, r=20, t=50, b=40),
                      xaxis_title=views.safe(t("ft_loss_step", lang)), yaxis_title="loss")
    return fig


def _status(snap: dict[str, Any], lang: str) -> str:
    phase = snap["phase"]
    if phase == "training" and snap["loss"]:
        line = t("ft_phase_training", lang, step=snap["step"], total=snap["total"], loss=snap["loss"][-1])
    elif f"ft_phase_{phase}" in _keys():
        line = t(f"ft_phase_{phase}", lang)
    else:  # waiting, or ended: the report below says how it ended
        line = ""
    if snap.get("left_seconds") is not None:
        line += " · " + t("ft_left", lang, seconds=snap["left_seconds"])
    return line


def _keys() -> set[str]:
    from ..messages import EN

    return set(EN)


def sentence_maps(report: dict[str, Any], lang: str) -> list[Any]:
    """The held-out sentences before and after (figures), or nothing when Stop came first."""
    maps = report.get("sentences")
    if not maps:
        return [None, None]
    texts = [r["text"] for r in report["rows"]]
    names = {lab: label_text(lab, lang) for lab in set(maps["labels"])}
    return [embedding_views.sentence_map_figure(maps[k], maps["labels"], texts, names, lang, t(f"ftab_sent_{k}", lang))
            for k in ("before", "after")]


def report_text(report: dict[str, Any], lang: str) -> str:
    """Markdown: what was trained, the held-out scores before and after."""
    lines = []
    if report["stopped"]:
        lines.append(t("ft_stopped", lang, steps=report["steps"], total=report["total_steps"]))
    else:
        lines.append(t("ft_done", lang, steps=report["steps"], train=report["data"].get("train", 0),
                       seconds=report["seconds"].get("train", 0.0), rate=report["examples_per_second"] or 0.0))
    b, a = report.get("before"), report.get("after")
    if b and a:
        lines.append(t("ft_held_out_line", lang, before=b["accuracy"], after=a["accuracy"], f1_before=b["macro_f1"],
                       f1_after=a["macro_f1"], n=report["data"].get("held_out", 0)))
    lines.append(t("ft_forgotten_note", lang))
    return "\n\n".join(lines)


def build(i18n: gr.I18n, profile: str) -> None:
    gr.Markdown(i18n("ftab_help"))
    with gr.Row():
        source = gr.Dropdown([(i18n(f"ft_source_{name.replace('-', '_')}"), name) for name in POOLS]
                             + [(i18n("ft_source_upload"), UPLOAD)], value=next(iter(POOLS)),
                             label=i18n("ftab_source"), elem_id="ft-source", scale=2)
        upload = gr.File(label=i18n("eval_upload"), file_types=[".csv", ".tsv", ".jsonl"], type="filepath", height=90,
                         elem_id="ft-upload", scale=2)
    defaults = finetune.FineTuneSettings()
    with gr.Row():
        start = gr.Radio([(i18n(f"ft_start_{s}"), s) for s in STARTS], value=defaults.start, label=i18n("ftab_start"))
        layers = gr.Radio([(i18n(f"ft_layers_{name}"), name) for name in LAYER_CHOICES], value=defaults.layers,
                          label=i18n("ftab_layers"))
    with gr.Row():
        examples = gr.Slider(20, 1000, value=defaults.examples, step=10, label=i18n("ftab_examples"))
        epochs = gr.Slider(1, 5, value=defaults.epochs, step=1, label=i18n("ftab_epochs"))
        lr = gr.Number(value=defaults.learning_rate, label=i18n("ftab_lr"), minimum=1e-6, maximum=1e-2)
        seed = gr.Number(value=defaults.seed, precision=0, label=i18n("ftab_seed"))
    with gr.Row():
        train_btn = gr.Button(i18n("ftab_train"), variant="primary", elem_id="ft-train")
        stop_btn = gr.Button(i18n("eval_stop"), variant="stop", elem_id="ft-stop")
    status = gr.Markdown(elem_id="ft-status")
    curve = export.plot(label=i18n("ft_loss_plot"), elem_id="ft-loss")
    result = gr.Markdown(elem_id="ft-result")
    with gr.Row():
        before_cm = export.plot(label=i18n("ftab_before"), elem_id="ft-before")
        after_cm = export.plot(label=i18n("ftab_after"), elem_id="ft-after")
    gr.Markdown(i18n("ftab_sentences_help"))
    with gr.Row():
        map_before = export.plot(label=i18n("ftab_sent_before"), elem_id="ft-sentences-before")
        map_after = export.plot(label=i18n("ftab_sent_after"), elem_id="ft-sentences-after")
    download = gr.DownloadButton(i18n("ftab_download"), visible=False, elem_id="ft-download")

    gr.Markdown(i18n("ftab_compare_help"))
    with gr.Row():
        text = gr.Textbox(value=COMPARE_TEXT, label=i18n("input_label"), lines=2, elem_id="ft-text", scale=3)
        method = gr.Dropdown([(i18n(f"method_{m}"), m) for m in METHODS], value=panels.default_method("sentiment"),
                             label=i18n("attr_method"), elem_id="ft-method", scale=1)
        compare_btn = gr.Button(i18n("ftab_compare"), elem_id="ft-compare", scale=1)
    compare_line = gr.Markdown(elem_id="ft-compare-summary")
    with gr.Row():
        bars_before = export.plot(label=i18n("ftab_start_model"), elem_id="ft-bars-before")
        bars_after = export.plot(label=i18n("ftab_after"), elem_id="ft-bars-after")

    @guarded
    def train(src: str, path: str | None, st: str, lay: str, n: Any, ep: Any, rate: Any, sd: Any,
              request: gr.Request, progress: gr.Progress = gr.Progress()) -> Any:
        try:
            lang = request_language((request,), {})
            owner = session_of(request)
            stop = stop_event(request)
            stop.clear()
            settings = finetune.FineTuneSettings(examples=n, epochs=ep, learning_rate=rate, layers=lay, start=st, seed=sd)
            rows = None
            if src == UPLOAD:
                from ..evaluation_data import MAX_UPLOAD_BYTES

                if not path:
                    raise InputError("eval_choose_rows")
                if Path(path).stat().st_size > MAX_UPLOAD_BYTES:
                    raise InputError("eval_too_large", size=Path(path).stat().st_size, limit=MAX_UPLOAD_BYTES)
                rows = finetune.rows_from_upload(Path(path).name, Path(path).read_bytes())
            job = finetune.start(owner, settings, src if src != UPLOAD else "upload", rows, profile, stop=stop)
            told = False
            while True:
                snap = job.snapshot()
                if snap["phase"] in ENDED:
                    break
                if snap.get("estimate_seconds") and not told:
                    gr.Info(t("ft_estimate", lang, seconds=snap["estimate_seconds"], steps=snap["total"]), duration=10)
                    told = True
                if snap["total"]:
                    progress(snap["step"] / snap["total"], desc=_status(snap, lang))
                yield (_status(snap, lang), loss_figure(snap["loss"], snap["loss_smoothed"], lang) if snap["loss"] else None,
                       *[gr.update()] * 6)
                time.sleep(POLL_S)
            report = job.wait(30).to_dict()  # a failed job re-raises its error here: the user reads it
            folder = Path(tempfile.mkdtemp(prefix="finetuned-"))
            saved = finetune.save(owner, folder / "model")
            archive = folder / "finetuned-sentiment.zip"
            with zipfile.ZipFile(archive, "w") as z:
                for f in Path(saved).rglob("*"):
                    if f.is_file():
                        z.write(f, f.relative_to(saved))
            cm = [confusion_figure(report[k], lang) if report.get(k) else None for k in ("before", "after")]
            yield ("", loss_figure(report["loss"], report["loss_smoothed"], lang), report_text(report, lang), cm[0], cm[1],
                   *sentence_maps(report, lang), gr.update(value=str(archive), visible=True))
        finally:
            release(request)

    admitted = dict(concurrency_limit=None, api_visibility="private", show_progress="hidden")
    train_gpu = gpu(train, EXPLAIN, lambda *a, **k: MAX_SECONDS)
    train_btn.click(admit, None, None, **admitted).success(
        train_gpu, [source, upload, start, layers, examples, epochs, lr, seed],
        [status, curve, result, before_cm, after_cm, map_before, map_after, download], **group(EXPLAIN))

    def stop_h(request: gr.Request) -> None:
        stop_event(request).set()

    stop_btn.click(stop_h, None, None, queue=False, api_visibility="private")

    @guarded
    def compare(value: str, name: str, request: gr.Request) -> tuple:
        lang = request_language((request,), {})
        owner = session_of(request)
        mine = finetune.subject(owner, value)  # first: no model yet is the message to show
        start = finetune.subject(owner, value, before=True)  # the model as training found it
        target = mine.targets[mine.default_target].label
        before = explain(start, name, {}, target=target).to_dict()
        after = explain(mine, name, {}, target=target).to_dict()
        said = finetune.compare(owner, value, profile)
        named = {k: label_text(v["label"], lang) for k, v in said.items()}
        line = t("ftab_compare_line", lang, before=named["start"], after=named["finetuned"], app=named["default"],
                 target=label_text(target, lang))
        return (line, views.attribution_figure(before, title=t("ftab_start_model", lang)),
                views.attribution_figure(after, title=t("ftab_after", lang)))

    compare_btn.click(gpu(compare, QUICK), [text, method], [compare_line, bars_before, bars_after], **group(QUICK))


__all__ = ["build", "loss_figure", "report_text"]
