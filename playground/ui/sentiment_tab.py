"""The Sentiment tab: prediction, attention heatmap, and every explanation method side by side.
It only wires the task and the method registry to components; the work is in playground.*."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .. import config, finetune, models, views
from ..config import LIMITS
from ..errors import PlaygroundError
from ..explain import METHODS
from ..messages import EN, t
from ..tasks import sentiment as task
from . import export, panels, whatif_panel
from .common import (
    PREDICT,
    attention_choices,
    fit_input,
    group,
    guarded,
    language_note,
    log,
    redraw_attention,
    request_language,
    session_of,
)
from .zerogpu import gpu

EXAMPLES = [
    "I loved this movie, the acting was wonderful and the story kept me hooked until the end.",
    "A complete waste of time. The plot made no sense and the jokes fell flat.",
    "The food was not bad at all, but the service was painfully slow.",
    "I didn't expect much, yet this little phone turned out to be fantastic.",
    # Chinese goes to a model that reads Chinese where the profile has one (playground.language).
    "这家餐厅的菜很好吃，服务也很周到，下次还会再来。",
    "这部电影太无聊了，剧情拖沓，浪费了两个小时。",
]


APP, MINE = "app", "mine"  # the model choice: the app's shared model, or this visitor's fine-tuned one


def label_text(label: str, lang: str) -> str:
    """A class name in the user's language where the catalogue has it (models name their own)."""
    return t(f"label_{label}", lang) if f"label_{label}" in EN else label


def model_problem(profile: str) -> str | None:
    """Try to load the tab's model at start-up; say what is wrong (both languages) if it fails."""
    try:
        models.load_task(task.NAME, profile)
    except PlaygroundError as exc:
        log.warning("sentiment tab: %s", exc)  # said at start-up too, not only in the page
        return f"{t('model_unavailable_banner', 'en', message=exc)}\n\n{t('model_unavailable_banner', 'zh-CN', message=t(exc.key, 'zh-CN', **exc.params))}"
    return None


def build(i18n: gr.I18n, profile: str) -> dict[str, Any]:
    """The tab; returns its input components by name (what the Evaluation tab fills in)."""
    spec = config.spec_for(task.NAME, profile)
    with gr.Row():
        # Shows the model that answered the last text (Chinese may be routed to another one).
        model_box = gr.Textbox(value=spec.display if spec else "", label=i18n("model_label"), interactive=False, scale=4)
        gr.Textbox(value=profile, label=i18n("profile_label"), interactive=False, scale=1)
        # A visitor's own model from the Fine-tune tab, for this browser session only.
        which = gr.Radio([(i18n("sent_model_app"), APP), (i18n("sent_model_mine"), MINE)], value=APP,
                         label=i18n("sent_model_choice"), elem_id="sentiment-which", scale=3)
    problem = model_problem(profile)
    if problem:
        gr.Markdown(problem, elem_classes=["pg-warning"])

    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(
                label=i18n("input_label"),
                placeholder=i18n("input_placeholder"),
                info=i18n("input_info"),
                lines=3,
                elem_id="sentiment-input",
            )
            gr.Examples(EXAMPLES, inputs=text, label=i18n("examples_label"))
            with gr.Row():
                classify_btn = gr.Button(i18n("btn_classify"), variant="primary", elem_id="sentiment-classify")
                explain_all_btn = gr.Button(i18n("btn_explain_all"), variant="secondary", elem_id="sentiment-explain-all")
        with gr.Column(scale=2):
            gr.Markdown(i18n("prediction_heading"))
            summary = gr.Markdown(elem_id="sentiment-summary")
            probs = export.plot(label=i18n("prob_plot"), elem_id="sentiment-probs")

    gr.Markdown(i18n("attention_heading"))
    with gr.Accordion(i18n("attention_accordion"), open=True):
        gr.Markdown(i18n("attention_help"))
        with gr.Row():
            mode = gr.Radio(
                [(i18n("att_mode_head"), "layer"), (i18n("att_mode_rollout"), "rollout")],
                value="layer",
                label=i18n("att_mode"),
            )
            layer = gr.Dropdown(choices=[], label=i18n("att_layer"), interactive=True)
            head = gr.Dropdown(choices=[(i18n("att_head_mean"), "mean")], value="mean", label=i18n("att_head"), interactive=True)
        att_plot = export.plot(label=i18n("att_plot"), elem_id="sentiment-attention")
    att_state = gr.State(None)

    gr.Markdown(i18n("explain_heading"))
    gr.Markdown(i18n("explain_help"))
    controls = panels.controls(i18n, "sentiment", "target_predicted", multi=True)
    result_views: dict[str, panels.ResultView] = {}
    names = list(METHODS)
    for row_start in range(0, len(names), 2):
        with gr.Row(equal_height=False):
            for name in names[row_start : row_start + 2]:
                with gr.Column(elem_id=f"panel-{name}"):
                    result_views[name] = panels.result_view(
                        i18n, lambda kind, name=name: f"{'summary' if kind == 'line' else kind}-{name}",
                        {"text": "highlight_label"}, title=f"method_{name}")
    trust_panel = panels.trust_view(i18n, "sentiment")

    # ---- handlers: call playground.*, turn results into component values -------------------

    @guarded
    def classify(value: str, chosen: str, request: gr.Request) -> tuple:
        lang = request_language((request,), {})
        value, cut = fit_input(value, LIMITS.max_chars, lang)
        out = finetune.analyse(session_of(request), value) if chosen == MINE else task.analyse(value, profile)
        top = max(out["scores"], key=out["scores"].get)
        lines = [cut + language_note(out["language"], out["model"], lang)
                 + t("result_line", lang, label=label_text(top, lang), p=out["scores"][top], model=out["model"])]
        if out["truncated"]:
            lines.append(t("truncated_note", lang, n=LIMITS.max_tokens))
        if out["attention_truncated"]:
            lines.append(t("attention_truncated", lang, n=LIMITS.max_attention_tokens))
        att = out["attentions"]
        state = {"att": att, "tokens": out["words"], "lang": lang}
        last = att.shape[0] - 1
        return (
            "\n\n".join(lines),
            views.probabilities_figure({label_text(k, lang): v for k, v in out["scores"].items()}),
            state,
            *attention_choices(att, lang),
            views.attention_figure(att, out["words"], last, None, lang=lang),
            gr.update(choices=[(t("target_predicted", lang), panels.DEFAULT)]
                      + [(label_text(lab, lang), lab) for lab in out["scores"]] + [(t("target_all", lang), panels.ALL)]),
            out["model"],
        )

    def subject_of(data: dict, lang: str) -> Any:
        value = fit_input(data[text], LIMITS.max_chars, lang)[0]
        return finetune.subject(data[panels.SESSION], value) if data[which] == MINE else task.subject(value, profile)

    explain_after = panels.wire(controls, result_views, subject_of, [text, which], trust_panel=trust_panel)
    whatif_panel.build(i18n, subject_of, [text, which], "sentiment")
    classify_outputs = [summary, probs, att_state, layer, head, att_plot, controls.target, model_box]
    classify_gpu = gpu(classify, PREDICT)
    classify_btn.click(classify_gpu, [text, which], classify_outputs, **group(PREDICT))
    text.submit(classify_gpu, [text, which], classify_outputs, **group(PREDICT))
    for control in (mode, layer, head):
        control.change(redraw_attention, [att_state, mode, layer, head], att_plot, api_visibility="private", queue=False)
    explain_after(explain_all_btn.click(lambda: list(METHODS), None, controls.method, api_visibility="private",
                                        queue=False).then(classify_gpu, [text, which], classify_outputs, **group(PREDICT)))
    return {"text": text}
