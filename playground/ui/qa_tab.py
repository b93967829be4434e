"""The Question answering tab: the answer (an extractive span or a generated answer) with its score
and its place in the context, the start/end probabilities and the top-k candidate spans
(extractive), attention over question and context with their boundary, and attribution of the
answer to the question words and the context words, shown apart. It wires playground.tasks.qa to
components; the work is in the task and in playground.views."""

from __future__ import annotations

import re
from typing import Any

import gradio as gr

from .. import config, views
from ..messages import t
from ..tasks import qa
from . import export, panels, whatif_panel
from .common import (
    ANSWER,
    QUICK,
    attention_choices,
    conversion_progress,
    fit_input,
    group,
    guarded,
    language_note,
    request_language,
)
from .zerogpu import gpu

# Preset question + context pairs (one dropdown fills both boxes: gr.Examples over two inputs
# shows raw i18n markers in this Gradio). The last one has no answer in its context.
EXAMPLES: list[tuple[str, str]] = [
    ("Who designed the tower?",
     "The Eiffel Tower is a wrought-iron lattice tower in Paris. It is named after the engineer Gustave Eiffel, "
     "whose company designed and built the tower from 1887 to 1889."),
    ("What do plants release during photosynthesis?",
     "Photosynthesis is the process by which green plants use sunlight to turn water and carbon dioxide into "
     "sugar. Oxygen is released as a by-product, and the sugar feeds the plant."),
    ("Which dynasty built most of the wall that stands today?",
     "The Great Wall of China stretches across the north of the country. Most of the wall that stands today was "
     "built by the Ming dynasty, between the 14th and 17th centuries, to keep out raiders from the steppe."),
    ("长城大部分是哪个朝代修建的？",
     "长城横贯中国北方。今天保存下来的长城大部分是明朝在十四世纪到十七世纪之间修建的，用来抵御北方草原的骑兵。"),
    ("What is the capital of Australia?",
     "Photosynthesis is the process by which green plants use sunlight to turn water and carbon dioxide into "
     "sugar. Oxygen is released as a by-product, and the sugar feeds the plant."),
]
ANSWER_COLOURS = {"answer": "#67a9cf", "best": "#fddbc7"}  # the answer; a no-answer result's best span
_WORDS = re.compile(r"\S+\s*|\s+")  # a word with the spaces after it
PART_KEYS = {"question": "qa_part_question", "context": "qa_part_context", "output": "qa_part_output"}


def _score_text(score: float) -> str:
    return f"{score:.1%}" if score >= 0.001 else f"{score:.2e}"


def summary_line(result: qa.QAResult, lang: str) -> str:
    """The line under the answer: score, kind, where the answer is, time and model (escaped)."""
    model = views.safe(result.model, 120)
    if result.kind == "extractive":
        if not result.no_answer:
            return t("qa_summary_span", lang, score=_score_text(result.score), start=result.start, end=result.end,
                     windows=result.windows, seconds=result.seconds, model=model)
        if not result.candidates:
            return t("qa_summary_no_span", lang, seconds=result.seconds, model=model)
        best = result.candidates[0]
        return t("qa_summary_no_answer", lang, score=_score_text(result.score), best=_score_text(best.score),
                 span=views.safe(best.answer, 60), windows=result.windows, seconds=result.seconds, model=model)
    if getattr(result, "abstained", None):
        # Withdrawn (qa.generative.abstention): say what the model wrote and why it is not the answer.
        return t(f"qa_abstained_{result.abstained}", lang, said=views.safe(result.answer, 80),
                 score=_score_text(result.score), seconds=result.seconds, model=model)
    if not result.found_in_context:
        return t("qa_summary_not_found", lang, score=_score_text(result.score), seconds=result.seconds, model=model)
    match = (t("qa_match_exact", lang) if result.match == "exact"
             else t("qa_match_fuzzy", lang, coverage=result.match_coverage or 0.0))
    return t("qa_summary_found", lang, score=_score_text(result.score), match=match, seconds=result.seconds, model=model)


def context_highlight(result: qa.QAResult) -> list[tuple[str, str | None]]:
    """The context with the answer's span marked ("answer"); for a no-answer result the best
    span, in a lighter colour ("best"). Pieces are words and the spaces between them: the
    component cannot wrap one long piece across lines."""
    c = result.context
    if result.start is not None and result.end is not None:
        a, b, kind = result.start, result.end, "answer"
    elif result.no_answer and result.candidates:
        a, b, kind = result.candidates[0].start, result.candidates[0].end, "best"
    else:
        a, b, kind = len(c), len(c), None
    # A short answer stays one piece (one box); a long one is cut into words like the rest.
    answer = [] if b <= a else [(c[a:b], kind)] if b - a <= 40 else [(w, kind) for w in _WORDS.findall(c[a:b])]
    return [(w, None) for w in _WORDS.findall(c[:a])] + answer + [(w, None) for w in _WORDS.findall(c[b:])]


def _span_tokens(result: qa.QAResult) -> tuple[int, int] | None:
    """First and last context token (indices of ``result.tokens``) of the answer, or of the best
    span for a no-answer result."""
    if result.start is not None and result.end is not None:
        a, b = result.start, result.end
    elif result.candidates:
        a, b = result.candidates[0].start, result.candidates[0].end
    else:
        return None
    inside = [i for i, tok in enumerate(result.tokens) if tok.start < b and tok.end > a]
    return (inside[0], inside[-1]) if inside else None


def start_end_figure(result: qa.QAResult, lang: str) -> Any:
    toks = result.tokens
    return views.start_end_figure([tok.text for tok in toks], [tok.p_start for tok in toks], [tok.p_end for tok in toks],
                                  _span_tokens(result), (t("qa_p_start", lang), t("qa_p_end", lang)))


def candidates_figure(result: qa.QAResult, lang: str) -> Any:
    # Plotly draws the first bar at the bottom: the no-answer score there, the best span on top.
    scores = {t("qa_no_answer_bar", lang): float(result.null_score or 0.0)}
    scores.update({f"{i + 1}. {c.answer}": c.score for i, c in reversed(list(enumerate(result.candidates)))})
    return views.probabilities_figure(scores)


def build(i18n: gr.I18n, profile: str) -> dict[str, Any]:
    """The tab; returns its input components by name (what the Evaluation tab fills in)."""
    specs = config.choices_for(qa.NAME, profile)
    first_kind = "extractive" if qa.is_extractive(specs[0]) else "generative"
    gr.Markdown(i18n("qa_help"))
    with gr.Row():
        model = gr.Dropdown([(s.display, s.key) for s in specs], value=specs[0].key, label=i18n("model_label"),
                            elem_id="qa-model", scale=4)
        gr.Textbox(value=profile, label=i18n("profile_label"), interactive=False, scale=1)
    with gr.Row():
        with gr.Column(scale=3):
            question = gr.Textbox(label=i18n("qa_question"), placeholder=i18n("qa_question_placeholder"), lines=1, info=i18n("qa_question_info"), elem_id="qa-question")
            context = gr.Textbox(label=i18n("qa_context"), placeholder=i18n("qa_context_placeholder"), lines=7, info=i18n("qa_context_info"), elem_id="qa-context")
            preset = gr.Dropdown([(q, i) for i, (q, _) in enumerate(EXAMPLES)], value=None, label=i18n("qa_examples"),
                                 elem_id="qa-examples")
            o = qa.TOP_K
            top_k = gr.Slider(o.minimum, o.maximum, value=o.default, step=1, label=i18n(o.label),
                              info=i18n("qa_top_k_info"), elem_id="qa-top-k")
            go_btn = gr.Button(i18n("btn_qa"), variant="primary", elem_id="qa-run")
        with gr.Column(scale=3):
            with gr.Row():
                answer_box = gr.Textbox(label=i18n("qa_answer"), interactive=False, elem_id="qa-answer", scale=3)
                score_box = gr.Textbox(label=i18n("qa_score"), interactive=False, elem_id="qa-score", scale=1)
            summary = gr.Markdown(elem_id="qa-summary")
            context_hl = gr.HighlightedText(color_map=ANSWER_COLOURS, show_legend=False, show_inline_category=False,
                                            label=i18n("qa_context_highlight"), elem_id="qa-context-highlight")
    result_state = gr.State(None)

    gr.Markdown(i18n("qa_start_end_heading"))
    start_end_help = gr.Markdown(i18n("qa_start_end_help"), visible=first_kind == "extractive")
    gen_note = gr.Markdown(i18n("qa_generative_note"), visible=first_kind == "generative", elem_id="qa-generative-note")
    with gr.Row():
        start_end = export.plot(label=i18n("qa_start_end"), elem_id="qa-start-end", visible=first_kind == "extractive", scale=3)
        candidates = export.plot(label=i18n("qa_candidates"), elem_id="qa-candidates", visible=first_kind == "extractive",
                             scale=2)

    gr.Markdown(i18n("qa_attention_heading"))
    gr.Markdown(i18n("qa_attention_help"))
    with gr.Row():
        att_mode = gr.Radio([(i18n("att_mode_head"), "layer"), (i18n("att_mode_rollout"), "rollout")], value="layer",
                            label=i18n("att_mode"))
        att_layer = gr.Dropdown(choices=[], label=i18n("att_layer"))
        att_head = gr.Dropdown(choices=[(i18n("att_head_mean"), "mean")], value="mean", label=i18n("att_head"))
    att_state = gr.State(None)
    att_note = gr.Markdown(elem_id="qa-attention-note")
    att_plot = export.plot(label=i18n("att_plot"), elem_id="qa-attention")

    gr.Markdown(i18n("qa_attr_heading"))
    gr.Markdown(i18n("qa_attr_help"))
    controls = panels.controls(i18n, "qa", "qa_target_default", method=panels.default_method(qa.NAME))

    def outside_note(expl: dict, lang: str) -> str:
        n = expl.get("words_outside_window") or 0
        return t("qa_outside_window", lang, n=n) if n else ""

    view = panels.result_view(i18n, lambda kind: f"qa-attr-{kind}",
                              {"question": "qa_attr_question", "context": "qa_attr_context"}, note=outside_note)
    trust_panel = panels.trust_view(i18n, "qa")

    # ---- handlers ------------------------------------------------------------------------

    @guarded
    def answer_h(question_v: str, context_v: str, model_v: str, top_k_v: Any, request: gr.Request,
                 progress: gr.Progress = gr.Progress()):
        lang = request_language((request,), {})
        question_v, cut_q = fit_input(question_v, qa.MAX_QUESTION_CHARS, lang)
        context_v, cut_c = fit_input(context_v, qa.MAX_CONTEXT_CHARS, lang)
        spec = qa.spec_for(model_v or None, profile)
        result = qa.answer(question_v, context_v, spec.key, profile, top_k=top_k_v, progress=conversion_progress(spec, lang, progress))
        extractive = result.kind == "extractive"
        answer_text = result.answer if not result.no_answer else t("qa_no_answer_bar", lang)
        return (
            answer_text,
            _score_text(result.score),
            cut_q + cut_c + language_note(result.language, result.model, lang) + summary_line(result, lang),
            context_highlight(result),
            gr.update(value=start_end_figure(result, lang) if extractive else None, visible=extractive),
            gr.update(value=candidates_figure(result, lang) if extractive else None, visible=extractive),
            gr.update(visible=extractive),
            gr.update(visible=not extractive),
            result,
            gr.update(choices=[(t("qa_target_default", lang), panels.DEFAULT), (t("target_all", lang), panels.ALL)],
                      value=panels.DEFAULT),
            *view.empty(),
            *trust_panel.empty(t("trust_empty", lang)),
        )

    @guarded
    def attention_h(result: qa.QAResult | None, mode_v: str, request: gr.Request):
        lang = request_language((request,), {})
        if result is None or (result.kind == "extractive" and not result.candidates):  # no span: nothing to show
            return None, gr.update(), gr.update(), "", None
        att = qa.attention(result)
        layer_u, head_u = attention_choices(att.attentions, lang)
        note = t("qa_attention_cropped", lang, n=len(att.tokens), total=att.n_total) if att.truncated else ""
        state = {"att": att, "names": {p: t(k, lang) for p, k in PART_KEYS.items()}, "lang": lang}
        return state, layer_u, head_u, note, _attention_figure(state, mode_v, att.attentions.shape[0] - 1, "mean")

    def _attention_figure(state: dict | None, mode_v: str, layer_v: Any, head_v: Any) -> Any:
        if not state:
            return None
        att: qa.QAAttention = state["att"]
        n_layers, n_heads = att.attentions.shape[:2]
        if mode_v == "rollout":
            li, hi = None, None
        else:
            li = min(max(int(layer_v), 0), n_layers - 1) if layer_v not in (None, "") else n_layers - 1
            hi = None if head_v in (None, "mean") else min(max(int(head_v), 0), n_heads - 1)
        return views.qa_attention_figure(att.attentions, att.tokens, li, hi, att.parts, att.boundary, att.answer_tokens,
                                         state["names"], lang=state.get("lang", "en"))

    def subject_of(data: dict, lang: str) -> Any:
        result = data[result_state]
        if result is None:
            raise gr.Error(t("qa_nothing_yet", lang))
        return qa.subject(result)

    def fill_example(index: Any):
        if index in (None, ""):
            return gr.update(), gr.update()
        q, c = EXAMPLES[min(max(int(index), 0), len(EXAMPLES) - 1)]
        return q, c

    inputs = [question, context, model, top_k]
    outputs = [answer_box, score_box, summary, context_hl, start_end, candidates, start_end_help, gen_note, result_state,
               controls.target, *view.outputs, *trust_panel.outputs]
    attention_io = ([result_state, att_mode], [att_state, att_layer, att_head, att_note, att_plot])
    # The attention view costs one forward: it comes with every answer. (A generative model's
    # answer is a short generation, batched with other users' answers: ANSWER for both kinds.)
    answer_gpu, attention_gpu = gpu(answer_h, ANSWER), gpu(attention_h, QUICK)
    go_btn.click(answer_gpu, inputs, outputs, **group(ANSWER)).success(attention_gpu, *attention_io, **group(QUICK))
    question.submit(answer_gpu, inputs, outputs, **group(ANSWER)).success(attention_gpu, *attention_io,
                                                                          **group(QUICK))
    for control in (att_mode, att_layer, att_head):
        control.change(_attention_figure, [att_state, att_mode, att_layer, att_head], att_plot, queue=False,
                       api_visibility="private")
    panels.wire(controls, {"": view}, subject_of, [result_state], trust_panel=trust_panel)
    whatif_panel.build(i18n, subject_of, [result_state], "qa")
    preset.change(fill_example, preset, [question, context], queue=False, api_visibility="private")
    return {"question": question, "context": context, "model": model}
