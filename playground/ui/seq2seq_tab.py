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
from ..explain import generation_attribution
from ..tasks import seq2seq, summarization, translation
from .common import MODEL_QUEUE, conversion_progress, guarded, request_language
from .strings import t

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
    ],
    "translation": [
        "The weather is nice today.",
        "Where can I buy a ticket for the next train?",
        "My sister is a doctor and she works in a small hospital near the sea.",
    ],
}
TASK_MODULES = {"summarization": summarization, "translation": translation}


def _slider(i18n: gr.I18n, o: Any) -> gr.Slider:
    return gr.Slider(o.minimum, o.maximum, value=o.default, step=1, label=i18n(o.label))


def _model_choices(task: str, profile: str, target: str | None) -> list[tuple[str, str]]:
    specs = translation.models_for(target, profile) if task == "translation" else config.choices_for(task, profile)
    return [(s.display, s.key) for s in specs]


def _summary_line(result: seq2seq.Seq2SeqResult, lang: str) -> str:
    line = t("s2s_summary_line", lang, n=len(result.output_ids), seconds=result.seconds, rate=result.tokens_per_s,
             reason=t(f"stop_{result.stop_reason}", lang), model=views.safe(result.model, 120),
             family=t(f"s2s_family_{result.family}", lang))
    if result.truncated:
        line += "\n\n" + t("s2s_truncated", lang, kept=len(result.source_used), total=len(result.source))
    return line


def build_for(task: str) -> Callable[[gr.I18n, str], None]:
    """The tab builder for ``task`` ("summarization" or "translation")."""

    def build(i18n: gr.I18n, profile: str) -> None:
        _build(task, i18n, profile)

    return build


def _build(task: str, i18n: gr.I18n, profile: str) -> None:
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
            source = gr.Textbox(label=i18n(f"{p}_source"), lines=6 if task == "summarization" else 3,
                                max_length=LIMITS.max_chars, elem_id=f"{p}-source",
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
    att_plot = gr.Plot(label=i18n("att_plot"), elem_id=f"{p}-attention")

    gr.Markdown(i18n("s2s_attr_heading"))
    gr.Markdown(i18n("s2s_attr_help"))
    with gr.Row():
        method = gr.Dropdown([(i18n(f"method_{m}"), m) for m in generation_attribution.METHODS], value="feature_ablation",
                             label=i18n("attr_method"), elem_id=f"{p}-method")
        out_word = gr.Dropdown([(i18n("attr_whole_output"), -1)], value=-1, label=i18n("s2s_output_word"),
                               elem_id=f"{p}-out-word")
        attr_btn = gr.Button(i18n("btn_attribute"), elem_id=f"{p}-attribute")
    attr_state = gr.State(None)
    attr_line = gr.Markdown(elem_id=f"{p}-attr-line")
    attr_highlight = gr.HighlightedText(color_map=views.BUCKET_COLOURS, show_legend=False, show_inline_category=False,
                                        elem_id=f"{p}-attr-highlight", label=i18n("s2s_highlight"))
    attr_matrix = gr.Plot(label=i18n("s2s_matrix"), elem_id=f"{p}-attr-matrix")
    align_plot = gr.Plot(label=i18n("tr_alignment"), elem_id=f"{p}-alignment", visible=task == "translation")

    # ---- handlers ------------------------------------------------------------------------

    def _finish(result: seq2seq.Seq2SeqResult, lang: str) -> tuple:
        words, _ = result.output_words()
        word_choices = [(t("attr_whole_output", lang), -1)] + [(f"{i + 1}: {w.text}", i) for i, w in enumerate(words)]
        return (result.text, _summary_line(result, lang), result, gr.update(choices=word_choices, value=-1),
                None, "", None, None, None)

    @guarded
    def run_summary(source_v: str, model_v: str, min_v: Any, max_v: Any, request: gr.Request,
                    progress: gr.Progress = gr.Progress()):
        lang = request_language((request,), {})
        spec = seq2seq.spec_for(task, model_v or None, profile)
        models.load(spec, conversion_progress(spec, lang, progress))  # first time: a GGUF conversion, with a bar
        result = summarization.summarize(source_v, spec.key, profile, min_new_tokens=min_v, max_new_tokens=max_v)
        return _finish(result, lang)

    @guarded
    def run_translation(source_v: str, model_v: str, target_v: str, max_v: Any, request: gr.Request,
                        progress: gr.Progress = gr.Progress()):
        lang = request_language((request,), {})
        code = translation.check_target(target_v)
        spec = seq2seq.spec_for(task, model_v or None, profile, code)
        models.load(spec, conversion_progress(spec, lang, progress))
        result = translation.translate(source_v, code, spec.key, profile, max_new_tokens=max_v)
        return _finish(result, lang)

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
        return views.cross_attention_figure(matrix, rows, cols, li, hi, title=t(f"s2s_kind_{kind_v}", lang))

    def redraw(att: Any, kind_v: str, layer_v: Any, head_v: Any, request: gr.Request):
        return _attention_figure(att, kind_v, layer_v, head_v, request_language((request,), {}))

    @guarded
    def attribute_h(result: seq2seq.Seq2SeqResult | None, method_v: str, out_v: Any, request: gr.Request,
                    progress: gr.Progress = gr.Progress()):
        lang = request_language((request,), {})
        if result is None:
            raise gr.Error(t("s2s_nothing_yet", lang))
        expl = seq2seq.explain(result, method_v, progress=lambda f, msg="": progress(f, desc=t(f"method_{method_v}", lang)))
        return (expl, *render(expl, result, out_v, request))

    def render(expl: seq2seq.Seq2SeqExplanation | None, result: seq2seq.Seq2SeqResult | None, out_v: Any,
               request: gr.Request | None = None):
        lang = request_language((request,), {})
        if expl is None or result is None:
            return "", None, None, None
        row = None if out_v in (None, -1, "-1") else min(int(out_v), len(expl.output_words) - 1)
        scores = expl.for_output(row)
        shown = {"tokens": [w.to_dict() for w in expl.source_words], "scores": [float(x) for x in scores]}
        which = t("attr_whole_output", lang) if row is None else views.safe(expl.output_words[row].text)
        line = t("s2s_attr_line", lang, method=t(f"method_{expl.method}", lang), evaluations=expl.evaluations,
                 seconds=expl.seconds, word=which)
        source_words = [w.text for w in expl.source_words]
        output_words = [w.text for w in expl.output_words]
        matrix = views.matrix_figure(output_words, source_words, expl.matrix)
        align = views.alignment_figure(source_words, output_words, expl.alignment()) if task == "translation" else None
        return line, views.highlight_values(shown, result.source_used), matrix, align

    common = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=1, api_visibility="private")
    inputs = [source, model] + ([target] if target is not None else []) + lengths
    outputs = [output, summary, result_state, out_word, attr_state, attr_line, attr_highlight, attr_matrix, align_plot]
    event = go_btn.click(run_translation if task == "translation" else run_summary, inputs, outputs, **common)
    # The attention view costs one forward: it comes with every result.
    event.then(attention_h, [result_state, kind], [att_state, layer, head, att_plot], **common)
    kind.change(attention_h, [result_state, kind], [att_state, layer, head, att_plot], **common)
    for control in (layer, head):
        control.change(redraw, [att_state, kind, layer, head], att_plot, queue=False, api_visibility="private")
    attr_btn.click(attribute_h, [result_state, method, out_word], [attr_state, attr_line, attr_highlight, attr_matrix, align_plot],
                   **common)
    out_word.change(render, [attr_state, result_state, out_word], [attr_line, attr_highlight, attr_matrix, align_plot],
                    queue=False, api_visibility="private")
    if target is not None:
        def models_for_target(code: str, current: str):
            keys = _model_choices(task, profile, code)
            value = current if current in [k for _, k in keys] else (keys[0][1] if keys else None)
            return gr.update(choices=keys, value=value)

        target.change(models_for_target, [target, model], model, queue=False, api_visibility="private")


def register_api() -> None:
    """/summarize, /summarize_explain, /translate, /translate_explain."""
    sd = {name: o.default for name, o in summarization.BOUNDS.items()}
    td = {name: o.default for name, o in translation.BOUNDS.items()}

    @guarded
    def summarize(text: str, model: str = "", min_new_tokens: int = sd["min_new_tokens"],
                  max_new_tokens: int = sd["max_new_tokens"], request: gr.Request = None) -> dict:  # type: ignore[assignment]
        """Summarize an English text. Lengths are clamped on the server."""
        return summarization.summarize(text, model or None, min_new_tokens=min_new_tokens, max_new_tokens=max_new_tokens).to_dict()

    @guarded
    def summarize_explain(text: str, method: str = "feature_ablation", model: str = "", max_new_tokens: int = 40,
                          request: gr.Request = None) -> dict:  # type: ignore[assignment]
        """Summarize, then attribute every output word to the source words."""
        result = summarization.summarize(text, model or None, max_new_tokens=max_new_tokens, min_new_tokens=0)
        return {"summary": result.to_dict(), "attribution": seq2seq.explain(result, method).to_dict()}

    @guarded
    def translate(text: str, target: str = "zh", model: str = "", max_new_tokens: int = td["max_new_tokens"],
                  request: gr.Request = None) -> dict:  # type: ignore[assignment]
        """Translate English into zh, fr or de."""
        return translation.translate(text, target, model or None, max_new_tokens=max_new_tokens).to_dict()

    @guarded
    def translate_explain(text: str, target: str = "zh", method: str = "feature_ablation", model: str = "",
                          max_new_tokens: int = td["max_new_tokens"], request: gr.Request = None) -> dict:  # type: ignore[assignment]
        """Translate, then attribute every output word to the source words (with the alignment)."""
        result = translation.translate(text, target, model or None, max_new_tokens=max_new_tokens)
        return {"translation": result.to_dict(), "attribution": seq2seq.explain(result, method).to_dict()}

    for fn, name in ((summarize, "summarize"), (summarize_explain, "summarize_explain"), (translate, "translate"),
                     (translate_explain, "translate_explain")):
        gr.api(fn, api_name=name, concurrency_id=MODEL_QUEUE, concurrency_limit=1)
