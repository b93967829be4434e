"""The Summarization and Translation tabs: one builder, two tasks. It wires
playground.tasks.summarization / translation (through playground.tasks.seq2seq) to components:
output, cross/encoder/decoder attention in words, attribution of every output word to the source
words (highlight, matrix) and, for translation, the word alignment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from .. import config, models, views
from ..config import LIMITS
from ..messages import t
from ..tasks import seq2seq, summarization, translation
from . import export, panels, whatif_panel
from .common import GENERATE, QUICK, conversion_progress, fit_input, group, guarded, language_note, request_language
from .zerogpu import gpu

EXAMPLES: dict[str, list[str]] = {
    "summarization": [
        "The city library will stay open until midnight during the exam period, the council said on Monday. "
        "Students had asked for longer hours because the university's own reading rooms are being renovated "
        "and close at six. The library will add extra staff and keep its cafe open, and the late opening will "
        "run for three weeks from the first of June.",
        "Researchers have found that honey bees can learn to count up to four. In a series of experiments, bees "
        "were trained to fly past a number of landmarks before reaching a feeder. When the landmarks were moved "
        "closer together, the bees landed too early, which shows that they were counting the landmarks rather "
        "than judging the distance they had flown.",
        "市图书馆周一宣布，考试期间将开放到午夜。由于大学的阅览室正在装修，每天六点就关门，学生们一直希望图书馆延长开放时间。"
        "图书馆将增加工作人员，咖啡厅也会照常营业。延长开放从六月一日开始，持续三周。",
    ],
    "translation": [
        "The weather is nice today.",
        "Where can I buy a ticket for the next train?",
        "My sister is a doctor and she works in a small hospital near the sea.",
        # Chinese -> English: pick English as the target language.
        "今天天气很好，我们去公园散步吧。",
    ],
}
TASK_MODULES = {"summarization": summarization, "translation": translation}


def _slider(i18n: gr.I18n, o: Any) -> gr.Slider:
    return gr.Slider(o.minimum, o.maximum, value=o.default, step=1, label=i18n(o.label))


def _model_choices(task: str, profile: str, target: str | None) -> list[tuple[str, str]]:
    specs = translation.models_for(target, profile) if task == "translation" else config.choices_for(task, profile)
    return [(s.display, s.key) for s in specs]


def _summary_line(result: seq2seq.Seq2SeqResult, lang: str) -> str:
    line = language_note(result.language, result.model, lang) + t("s2s_summary_line", lang, n=len(result.output_ids), seconds=result.seconds, rate=result.tokens_per_s,
             reason=t(f"stop_{result.stop_reason}", lang), model=views.safe(result.model, 120),
             family=t(f"s2s_family_{result.family}", lang))
    if result.truncated:
        line += "\n\n" + t("s2s_truncated", lang, kept=len(result.source_used), total=len(result.source))
    if result.simplified:
        line += "\n\n" + t("simplified_note", lang, n=result.simplified)
    return line


def build_for(task: str) -> Callable[[gr.I18n, str], dict[str, Any]]:
    """The tab builder for ``task`` ("summarization" or "translation")."""

    def build(i18n: gr.I18n, profile: str) -> dict[str, Any]:
        return _build(task, i18n, profile)

    return build


def _build(task: str, i18n: gr.I18n, profile: str) -> dict[str, Any]:
    """The tab; returns its input components by name (what the Evaluation tab fills in)."""
    module = TASK_MODULES[task]
    p = "sum" if task == "summarization" else "tr"  # element id prefix
    first_target = next(iter(translation.TARGETS)) if task == "translation" else None
    choices = _model_choices(task, profile, first_target)
    gr.Markdown(i18n(f"{p}_help"))
    with gr.Row():
        target = None
        if task == "translation":
            target = gr.Dropdown([(i18n(f"lang_{code}"), code) for code in translation.TARGETS], value=first_target,
                                 label=i18n("tr_target"), elem_id="tr-target", scale=1)
        model = gr.Dropdown(choices, value=choices[0][1], label=i18n("model_label"), elem_id=f"{p}-model", scale=4)
        gr.Textbox(value=profile, label=i18n("profile_label"), interactive=False, scale=1)
    with gr.Row():
        with gr.Column(scale=3):
            source = gr.Textbox(label=i18n(f"{p}_source"), lines=6 if task == "summarization" else 3, elem_id=f"{p}-source",
                                info=i18n("input_info"))
            gr.Examples(EXAMPLES[task], inputs=source, label=i18n("examples_label"))
            with gr.Row():
                lengths = [_slider(i18n, o) for o in module.BOUNDS.values()]
            go_btn = gr.Button(i18n(f"btn_{p}"), variant="primary", elem_id=f"{p}-run")
        with gr.Column(scale=3):
            output = gr.Textbox(label=i18n(f"{p}_output"), lines=6 if task == "summarization" else 3, interactive=False,
                                elem_id=f"{p}-output")
            summary = gr.Markdown(elem_id=f"{p}-summary")
    result_state = gr.State(None)

    gr.Markdown(i18n("s2s_attention_heading"))
    gr.Markdown(i18n("s2s_attention_help"))
    with gr.Row():
        kind = gr.Radio([(i18n(f"s2s_kind_{k}"), k) for k in seq2seq.KINDS], value="cross", label=i18n("att_mode"))
        layer = gr.Dropdown(choices=[], label=i18n("att_layer"))
        head = gr.Dropdown(choices=[(i18n("att_head_mean"), "mean")], value="mean", label=i18n("att_head"))
    att_state = gr.State(None)
    att_plot = export.plot(label=i18n("att_plot"), elem_id=f"{p}-attention")

    gr.Markdown(i18n("s2s_attr_heading"))
    gr.Markdown(i18n("s2s_attr_help"))
    controls = panels.controls(i18n, p, "target_output", method=panels.default_method(task), target=panels.ALL)
    view = panels.result_view(i18n, lambda kind: f"{p}-attr-{kind}", {"source": "s2s_highlight"})
    align_plot = export.plot(label=i18n("tr_alignment"), elem_id=f"{p}-alignment", visible=task == "translation")
    trust_panel = panels.trust_view(i18n, p)

    # ---- handlers ------------------------------------------------------------------------

    def _finish(result: seq2seq.Seq2SeqResult, lang: str, cut: str = "") -> tuple:
        return (result.text, cut + _summary_line(result, lang), result, *view.empty(), None,
                *trust_panel.empty(t("trust_empty", lang)))

    @guarded
    def run_summary(source_v: str, model_v: str, min_v: Any, max_v: Any, request: gr.Request,
                    progress: gr.Progress = gr.Progress()):
        lang = request_language((request,), {})
        source_v, cut = fit_input(source_v, LIMITS.max_chars, lang)
        spec = seq2seq.spec_for(task, model_v or None, profile)
        models.load(spec, conversion_progress(spec, lang, progress))  # first time: a GGUF conversion, with a bar
        result = summarization.summarize(source_v, spec.key, profile, min_new_tokens=min_v, max_new_tokens=max_v)
        return _finish(result, lang, cut)

    @guarded
    def run_translation(source_v: str, model_v: str, target_v: str, max_v: Any, request: gr.Request,
                        progress: gr.Progress = gr.Progress()):
        lang = request_language((request,), {})
        source_v, cut = fit_input(source_v, LIMITS.max_chars, lang)
        code = translation.check_target(target_v)
        spec = seq2seq.spec_for(task, model_v or None, profile, code)
        models.load(spec, conversion_progress(spec, lang, progress))
        result = translation.translate(source_v, code, spec.key, profile, max_new_tokens=max_v)
        return _finish(result, lang, cut)

    @guarded
    def attention_h(result: seq2seq.Seq2SeqResult | None, kind_v: str, request: gr.Request):
        lang = request_language((request,), {})
        if result is None:
            return None, gr.update(), gr.update(), None
        att = seq2seq.attention(result)
        matrix, _, _ = att.view(kind_v)
        layers, heads = matrix.shape[0], matrix.shape[1]
        layer_u = gr.update(choices=[(str(i + 1), i) for i in range(layers)], value=layers - 1)
        head_u = gr.update(choices=[(t("att_head_mean", lang), "mean")] + [(str(h + 1), h) for h in range(heads)], value="mean")
        return att, layer_u, head_u, _attention_figure(att, kind_v, layers - 1, "mean", lang)

    def _attention_figure(att: seq2seq.Seq2SeqAttention | None, kind_v: str, layer_v: Any, head_v: Any, lang: str) -> Any:
        if att is None:
            return None
        matrix, rows, cols = att.view(kind_v)
        li = int(layer_v) if layer_v not in (None, "") else matrix.shape[0] - 1
        li = min(max(li, 0), matrix.shape[0] - 1)
        hi = None if head_v in (None, "mean") else min(int(head_v), matrix.shape[1] - 1)
        return views.cross_attention_figure(matrix, rows, cols, li, hi, title=t(f"s2s_kind_{kind_v}", lang), lang=lang)

    def redraw(att: Any, kind_v: str, layer_v: Any, head_v: Any, request: gr.Request):
        return _attention_figure(att, kind_v, layer_v, head_v, request_language((request,), {}))

    def subject_of(data: dict, lang: str) -> Any:
        result = data[result_state]
        if result is None:
            raise gr.Error(t("s2s_nothing_yet", lang))
        return seq2seq.subject(result)

    def alignment(expl: dict, lang: str) -> list[Any]:
        if task != "translation":
            return [None]
        rows = [(x["text"], r) for x, r in zip(expl["targets"], expl["matrix"]) if x["label"].startswith("word:")]
        if not rows:
            return [None]
        links = seq2seq.alignment([r for _, r in rows])
        return [views.alignment_figure([w["text"] for w in views.explanation_words(expl)], [w for w, _ in rows], links)]

    inputs = [source, model] + ([target] if target is not None else []) + lengths
    outputs = [output, summary, result_state, *view.outputs, align_plot, *trust_panel.outputs]
    event = go_btn.click(gpu(run_translation if task == "translation" else run_summary, GENERATE), inputs, outputs,
                         **group(GENERATE))
    # The attention view costs one forward: it comes with every result.
    attention_gpu = gpu(attention_h, QUICK)
    event.then(attention_gpu, [result_state, kind], [att_state, layer, head, att_plot], **group(QUICK))
    kind.change(attention_gpu, [result_state, kind], [att_state, layer, head, att_plot], **group(QUICK))
    for control in (layer, head):
        control.change(redraw, [att_state, kind, layer, head], att_plot, queue=False, api_visibility="private")
    panels.wire(controls, {"": view}, subject_of, [result_state], trust_panel=trust_panel, extra=alignment,
                extra_outputs=[align_plot])
    whatif_panel.build(i18n, subject_of, [result_state], p)
    if target is not None:
        def models_for_target(code: str, current: str):
            keys = _model_choices(task, profile, code)
            value = current if current in [k for _, k in keys] else (keys[0][1] if keys else None)
            return gr.update(choices=keys, value=value)

        target.change(models_for_target, [target, model], model, queue=False, api_visibility="private")
    return {"text": source, "model": model, **({"target": target} if target is not None else {})}
