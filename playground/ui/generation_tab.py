"""The Generation tab: streaming output with a Stop button, the next-token view, attention over
prompt and output, attribution of each generated token to the prompt's words, and the logit lens.
It wires playground.tasks.generation and the shared explanation panel to components."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from .. import batched_stream, config, models, views
from ..config import LIMITS
from ..messages import t
from ..tasks import generation as task
from . import export, panels, whatif_panel
from .common import (
    QUICK,
    STREAM,
    attention_choices,
    conversion_progress,
    fit_input,
    group,
    guarded,
    language_note,
    redraw_attention,
    request_language,
    stop_event,
)
from .zerogpu import gpu

EXAMPLES = [
    "Write a short poem about the sea.",
    "What is the capital of France?",
    "Explain in one sentence why the sky is blue.",
    "Once upon a time, a little robot",
    "用一句话解释为什么天空是蓝色的。",
]

UPDATE_EVERY = 0.25  # seconds between streamed text refreshes

def _control(i18n: gr.I18n, name: str) -> gr.components.Component:
    """A sampling control built from the task's bounds (the server clamps to the same ones)."""
    o = task.BOUNDS[name]
    if name == "seed":
        return gr.Number(value=o.default, precision=0, minimum=o.minimum, maximum=o.maximum, label=i18n(o.label))
    step = 1 if o.integer else 0.05 if o.maximum - o.minimum > 1 else 0.01
    return gr.Slider(o.minimum, o.maximum, value=o.default, step=step, label=i18n(o.label))


def build(i18n: gr.I18n, profile: str) -> dict[str, Any]:
    """The tab; returns its input components by name."""
    specs = config.choices_for("generation", profile)
    with gr.Row():
        # "auto" (the default): the first model that reads the prompt's language, so a Chinese
        # prompt is not answered by an English-only model.
        model = gr.Dropdown([(i18n("model_auto"), config.AUTO)] + [(s.display, s.key) for s in specs], value=config.AUTO,
                            label=i18n("gen_model"), scale=4, elem_id="gen-model")
        gr.Textbox(value=profile, label=i18n("profile_label"), interactive=False, scale=1)
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label=i18n("gen_prompt"), placeholder=i18n("gen_prompt_placeholder"), lines=3, elem_id="gen-prompt")
            mode = gr.Radio([(i18n("gen_mode_chat"), "chat"), (i18n("gen_mode_plain"), "plain")],
                            value="chat" if specs[0].chat else "plain", label=i18n("gen_mode"))
            gr.Examples(EXAMPLES, inputs=prompt, label=i18n("examples_label"))
            with gr.Accordion(i18n("gen_sampling"), open=False):
                with gr.Row():
                    max_new, temperature, top_k = (_control(i18n, name) for name in ("max_new_tokens", "temperature", "top_k"))
                with gr.Row():
                    top_p, rep, seed = (_control(i18n, name) for name in ("top_p", "repetition_penalty", "seed"))
            with gr.Row():
                go_btn = gr.Button(i18n("btn_generate"), variant="primary", elem_id="gen-generate")
                stop_btn = gr.Button(i18n("btn_stop"), variant="stop", elem_id="gen-stop")
        with gr.Column(scale=3):
            output = gr.Textbox(label=i18n("gen_output"), lines=10, interactive=False, elem_id="gen-output")
            summary = gr.Markdown(elem_id="gen-summary")
    result_state = gr.State(None)

    gr.Markdown(i18n("next_heading"))
    gr.Markdown(i18n("next_help"))
    step = gr.Slider(1, 2, value=1, step=1, label=i18n("next_step"), elem_id="gen-step")
    step_line = gr.Markdown(elem_id="gen-step-line")
    step_plot = export.plot(label=i18n("next_plot"), elem_id="gen-step-plot")

    gr.Markdown(i18n("attr_heading"))
    gr.Markdown(i18n("attr_help"))
    controls = panels.controls(i18n, "gen", "target_output", method=panels.default_method(task.NAME),
                               target=panels.ALL)
    view = panels.result_view(i18n, lambda kind: f"gen-attr-{kind}", {"prompt": "highlight_label"})
    trust_panel = panels.trust_view(i18n, "gen")

    gr.Markdown(i18n("gen_attention_heading"))
    with gr.Row():
        att_btn = gr.Button(i18n("btn_attention"), elem_id="gen-attention-btn")
        att_mode = gr.Radio([(i18n("att_mode_head"), "layer"), (i18n("att_mode_rollout"), "rollout")], value="layer",
                            label=i18n("att_mode"))
        att_layer = gr.Dropdown(choices=[], label=i18n("att_layer"))
        att_head = gr.Dropdown(choices=[(i18n("att_head_mean"), "mean")], value="mean", label=i18n("att_head"))
    att_state = gr.State(None)
    att_plot = export.plot(label=i18n("att_plot"), elem_id="gen-attention")

    gr.Markdown(i18n("lens_heading"))
    gr.Markdown(i18n("lens_help"))
    with gr.Row():
        lens_pos = gr.Slider(1, 2, value=1, step=1, label=i18n("lens_position"))
        lens_btn = gr.Button(i18n("btn_lens"), elem_id="gen-lens-btn")
    lens_plot = export.plot(label=i18n("lens_plot"), elem_id="gen-lens")

    # ---- handlers ------------------------------------------------------------------------

    def _reason(code: str, lang: str) -> str:
        return t(f"stop_{code}", lang)

    @guarded
    def run(prompt_v: str, model_v: str, mode_v: str, max_new_v, temp_v, top_k_v, top_p_v, rep_v, seed_v,
            request: gr.Request, progress: gr.Progress = gr.Progress()):
        lang = request_language((request,), {})
        prompt_v, cut = fit_input(prompt_v, LIMITS.max_chars, lang)
        stop = stop_event(request)
        stop.clear()
        spec = task.spec_for(model_v, profile, prompt_v)

        models.load(spec, conversion_progress(spec, lang, progress))  # first time: GGUF conversion with a moving bar
        final = None
        last = 0.0
        waited = False
        # A class's streams at once on one model are decoded together (batched_stream.stream).
        for update in batched_stream.stream(prompt_v, model_key=spec.key, profile=profile, stop=stop, max_new_tokens=max_new_v,
                                  temperature=temp_v, top_k=top_k_v, top_p=top_p_v, repetition_penalty=rep_v,
                                  seed=seed_v, mode=mode_v):
            final = update.result if update.done else None
            if update.waiting is not None:  # other students' generations run first: say how long
                ahead, seconds = update.waiting
                line = (t("gen_waiting_unknown", lang, ahead=ahead) if seconds is None
                        else t("gen_waiting", lang, ahead=ahead, seconds=int(seconds)))
                waited = True
                yield (gr.skip(), line, *[gr.skip()] * (len(gen_outputs) - 2))
                continue
            # Every page update costs the server Python time that the generating thread needs
            # (2 cores, one GIL): refresh the text at most every UPDATE_EVERY seconds.
            now = time.monotonic()
            if now - last >= UPDATE_EVERY and not update.done:
                last = now
                yield (update.text, "" if waited else gr.skip(), *[gr.skip()] * (len(gen_outputs) - 2))
                waited = False
        if final is None:
            return
        n = len(final.tokens)
        line = cut + language_note(final.language, spec.display, lang) + t("gen_summary_line", lang, n=n, seconds=final.seconds, rate=final.tokens_per_s,
                 reason=_reason(final.stop_reason, lang), model=spec.display)
        total_len = len(final.prompt_ids) + n
        yield (
            final.text, line, final,
            gr.update(minimum=1, maximum=max(n, 1), value=1),
            *show_step(final, 1, request),
            gr.update(minimum=1, maximum=max(total_len, 1), value=max(total_len - n, 1)),
            *view.empty(),
            *trust_panel.empty(t("trust_empty", lang)),
        )

    def show_step(result, step_v, request: gr.Request | None = None):
        lang = request_language((request,), {})
        if result is None or not result.steps:
            return "", None
        i = min(max(int(step_v) - 1, 0), len(result.steps) - 1)
        s = result.steps[i]
        line = t("next_line", lang, step=i + 1, token=views.safe(repr(s.token)[1:-1]), rank=s.rank + 1,
                 p_raw=s.p_raw, p_proc=s.p_processed)
        fig = views.candidates_figure([(c[0], c[2]) for c in s.raw], [(c[0], c[2]) for c in s.processed], s.token,
                                      (t("next_raw", lang), t("next_processed", lang)))
        return line, fig

    def subject_of(data: dict, lang: str) -> Any:
        result = data[result_state]
        if result is None:
            raise gr.Error(t("gen_nothing_yet", lang))
        return task.subject(result, models.load(task.spec_for(result.model_key, profile)))

    @guarded
    def attention_h(result, model_v, request: gr.Request):
        if result is None:
            raise gr.Error(t("gen_nothing_yet", request_language((request,), {})))
        lang = request_language((request,), {})
        tokens, att = task.attention(result, models.load(task.spec_for(result.model_key, profile)))
        last = att.shape[0] - 1
        return ({"att": att, "tokens": tokens, "lang": lang}, *attention_choices(att, lang),
                views.attention_figure(att, tokens, last, None, lang=lang))

    @guarded
    def lens_h(result, model_v, pos_v, request: gr.Request):
        if result is None:
            raise gr.Error(t("gen_nothing_yet", request_language((request,), {})))
        lens = task.logit_lens(result, models.load(task.spec_for(result.model_key, profile)), int(pos_v) - 1)
        return views.logit_lens_figure(
            [layer["top"] for layer in lens["layers"]],
            [f"L{layer['layer']}" for layer in lens["layers"]],
            title=f"{lens['position'] + 1}: {lens['token']!r} → ?",
        )

    def stop_h(request: gr.Request):
        stop_event(request).set()

    gen_inputs = [prompt, model, mode, max_new, temperature, top_k, top_p, rep, seed]
    gen_outputs = [output, summary, result_state, step, step_line, step_plot, lens_pos, *view.outputs,
                   *trust_panel.outputs]
    run_gpu = gpu(run, STREAM)
    gen_event = go_btn.click(run_gpu, gen_inputs, gen_outputs, **group(STREAM))
    prompt.submit(run_gpu, gen_inputs, gen_outputs, **group(STREAM))
    stop_btn.click(stop_h, None, None, queue=False, api_visibility="private")
    step.change(show_step, [result_state, step], [step_line, step_plot], queue=False, api_visibility="private")
    panels.wire(controls, {"": view}, subject_of, [result_state, model], trust_panel=trust_panel)
    whatif_panel.build(i18n, subject_of, [result_state, model], "gen")
    att_btn.click(gpu(attention_h, QUICK), [result_state, model], [att_state, att_layer, att_head, att_plot], **group(QUICK))
    for control in (att_mode, att_layer, att_head):
        control.change(redraw_attention, [att_state, att_mode, att_layer, att_head], att_plot, queue=False, api_visibility="private")
    lens_btn.click(gpu(lens_h, QUICK), [result_state, model, lens_pos], lens_plot, **group(QUICK))
    model.change(lambda k: gr.update(value="chat" if task.spec_for(k, profile).chat else "plain"), model, mode,
                 queue=False, api_visibility="private")
    del gen_event
    return {"prompt": prompt, "model": model}
