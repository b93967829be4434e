"""The Sentiment tab: prediction, attention heatmap, and every explanation method side by side.
It only wires the task and the method registry to components; the work is in playground.*."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from .. import api, config, models, views
from ..config import LIMITS
from ..errors import PlaygroundError
from ..explain import METHODS, explain
from ..explain.base import Option
from ..tasks import sentiment as task
from .common import MODEL_QUEUE, attention_choices, guarded, log, redraw_attention, request_language
from .strings import EN, t

EXAMPLES = [
    "I loved this movie, the acting was wonderful and the story kept me hooked until the end.",
    "A complete waste of time. The plot made no sense and the jokes fell flat.",
    "The food was not bad at all, but the service was painfully slow.",
    "I didn't expect much, yet this little phone turned out to be fantastic.",
]


def _options() -> list[Option]:
    """Every budget the registered methods take, once each (they build the sliders)."""
    seen: dict[str, Option] = {}
    for m in METHODS.values():
        for o in m.options:
            seen.setdefault(o.name, o)
    return list(seen.values())


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


def build(i18n: gr.I18n, profile: str) -> None:
    spec = config.spec_for(task.NAME, profile)
    with gr.Row():
        gr.Textbox(value=spec.display if spec else "", label=i18n("model_label"), interactive=False, scale=4)
        gr.Textbox(value=profile, label=i18n("profile_label"), interactive=False, scale=1)
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
                max_length=LIMITS.max_chars,
                elem_id="sentiment-input",
            )
            gr.Examples(EXAMPLES, inputs=text, label=i18n("examples_label"))
            with gr.Row():
                classify_btn = gr.Button(i18n("btn_classify"), variant="primary", elem_id="sentiment-classify")
                explain_all_btn = gr.Button(i18n("btn_explain_all"), variant="secondary", elem_id="sentiment-explain-all")
        with gr.Column(scale=2):
            gr.Markdown(i18n("prediction_heading"))
            summary = gr.Markdown(elem_id="sentiment-summary")
            probs = gr.Plot(label=i18n("prob_plot"), elem_id="sentiment-probs")

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
        att_plot = gr.Plot(label=i18n("att_plot"), elem_id="sentiment-attention")
    att_state = gr.State(None)

    gr.Markdown(i18n("explain_heading"))
    gr.Markdown(i18n("explain_help"))
    with gr.Row():
        methods = gr.CheckboxGroup(
            [(i18n(f"method_{m}"), m) for m in METHODS],
            value=list(METHODS),
            label=i18n("methods_label"),
            scale=3,
        )
        target = gr.Dropdown([(i18n("target_predicted"), "predicted")], value="predicted", label=i18n("target_label"), scale=1)
    sliders: dict[str, gr.Slider] = {}
    with gr.Accordion(i18n("budgets_accordion"), open=False):
        with gr.Row():
            for o in _options():
                sliders[o.name] = gr.Slider(o.minimum, o.maximum, value=o.default, step=1, label=i18n(o.label))
    explain_btn = gr.Button(i18n("btn_explain"), variant="primary", elem_id="sentiment-explain")

    panels: dict[str, tuple[gr.Markdown, gr.HighlightedText, gr.Plot]] = {}
    names = list(METHODS)
    for row_start in range(0, len(names), 2):
        with gr.Row(equal_height=False):
            for name in names[row_start : row_start + 2]:
                with gr.Column(elem_id=f"panel-{name}"):
                    gr.Markdown(i18n(f"method_{name}"), elem_classes=["pg-method-title"])
                    panels[name] = (
                        gr.Markdown(elem_id=f"summary-{name}"),
                        gr.HighlightedText(
                            label=i18n("highlight_label"),
                            elem_id=f"highlight-{name}",
                            color_map=views.BUCKET_COLOURS,
                            show_legend=False,
                            show_inline_category=False,
                        ),
                        gr.Plot(label=i18n("bars_label"), elem_id=f"bars-{name}"),
                    )

    # ---- handlers: call playground.*, turn results into component values -------------------

    @guarded
    def classify(value: str, request: gr.Request) -> tuple:
        lang = request_language((request,), {})
        out = task.analyse(value, profile)
        top = max(out["scores"], key=out["scores"].get)
        lines = [t("result_line", lang, label=label_text(top, lang), p=out["scores"][top], model=out["model"])]
        if out["truncated"]:
            lines.append(t("truncated_note", lang, n=LIMITS.max_tokens))
        if out["attention_truncated"]:
            lines.append(t("attention_truncated", lang, n=LIMITS.max_attention_tokens))
        att = out["attentions"]
        state = {"att": att, "tokens": out["pieces"]}
        last = att.shape[0] - 1
        return (
            "\n\n".join(lines),
            views.probabilities_figure({label_text(k, lang): v for k, v in out["scores"].items()}),
            state,
            *attention_choices(att, lang),
            views.attention_figure(att, out["pieces"], last, None),
            gr.update(choices=[(t("target_predicted", lang), "predicted")] + [(label_text(lab, lang), lab) for lab in out["scores"]]),
        )

    slider_list = list(sliders.values())

    @guarded
    def run_explanations(data: dict, request: gr.Request, progress: gr.Progress = gr.Progress()) -> dict:
        lang = request_language((request,), {})
        chosen = [m for m in METHODS if m in (data[methods] or [])]
        opts = {name: data[s] for name, s in sliders.items()}
        subject = task.subject(data[text], target=data[target], profile=profile)
        planned = {m: max(1, METHODS[m].evaluations(subject, METHODS[m].resolve(opts))) for m in chosen}
        total = sum(planned.values()) or 1
        started = time.perf_counter()
        finished = 0

        def report(fraction: float, name: str) -> None:
            overall = (finished + fraction * planned[name]) / total
            elapsed = time.perf_counter() - started
            left = elapsed * (1 - overall) / overall if overall > 0 else 0.0
            progress(overall, desc=t("progress_running", lang, method=name, done=overall, left=left))

        results: dict[Any, Any] = {}
        for name in METHODS:
            md, hl, plot = panels[name]
            if name not in chosen:
                results.update({md: t("not_run", lang), hl: None, plot: None})
                continue
            progress(finished / total, desc=t("progress_start", lang, method=name))
            expl = explain(subject, name, opts, report)
            finished += planned[name]
            results[md] = t("explanation_line", lang, target=label_text(expl.target, lang), evaluations=expl.evaluations, seconds=expl.seconds)
            results[hl] = views.highlight_values(expl, subject.text)
            results[plot] = views.attribution_figure(expl)
        return results

    classify_outputs = [summary, probs, att_state, layer, head, att_plot, target]
    panel_outputs = [c for trio in panels.values() for c in trio]
    explain_inputs = {text, methods, target, *slider_list}
    common = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=1, api_visibility="private")

    classify_btn.click(classify, text, classify_outputs, **common)
    text.submit(classify, text, classify_outputs, **common)
    for control in (mode, layer, head):
        control.change(redraw_attention, [att_state, mode, layer, head], att_plot, api_visibility="private", queue=False)
    explain_btn.click(run_explanations, explain_inputs, panel_outputs, **common)
    explain_all_btn.click(lambda: list(METHODS), None, methods, api_visibility="private", queue=False).then(
        classify, text, classify_outputs, **common
    ).success(run_explanations, explain_inputs, panel_outputs, **common)


def register_api() -> None:
    """The JSON endpoints /sentiment and /sentiment_explain."""
    defaults = {o.name: o.default for o in _options()}

    @guarded
    def sentiment(text: str, request: gr.Request) -> dict:
        """Label and class probabilities for a text."""
        return api.sentiment(text)

    @guarded
    def sentiment_explain(
        text: str,
        method: str = "integrated_gradients",
        target: str = "predicted",
        ig_steps: int = defaults["ig_steps"],
        lime_samples: int = defaults["lime_samples"],
        shap_evals: int = defaults["shap_evals"],
        seed: int = defaults["seed"],
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> dict:
        """One explanation: method is attention, integrated_gradients, lime or shap."""
        return api.sentiment_explain(text, method, target, ig_steps, lime_samples, shap_evals, seed)

    gr.api(sentiment, api_name="sentiment", concurrency_id=MODEL_QUEUE, concurrency_limit=1)
    gr.api(sentiment_explain, api_name="sentiment_explain", concurrency_id=MODEL_QUEUE, concurrency_limit=1)
