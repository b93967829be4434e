"""The Embeddings tab: any model's word vectors for a text, the input embeddings and a layer's
hidden states in 2-D, the cosine similarity of every pair of words, and one word's nearest
pieces in the vocabulary. It wires playground.api_kit.embeddings to components and
playground.embedding_views draws the figures."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from .. import config, embedding_views
from ..api_kit import embeddings as embed_endpoint
from ..messages import t
from ..tasks import TASKS
from . import export
from .common import QUICK, group, guarded, request_language
from .zerogpu import gpu

EXAMPLES = [
    ["The king and the queen visited the old castle, and the prince stayed at home."],
    ["I loved this film: the music was wonderful and the actors were great."],
    ["猫和狗都是可爱的动物，老虎和狮子很危险。"],
    ["今天天气很好，我们去公园散步吧。"],
]
LAST = -1


def _models(task: str, profile: str, auto: str) -> list[tuple[str, str]]:
    return [(auto, config.AUTO)] + [(s.display, s.key) for s in config.choices_for(task, profile)]


def _layers(n_layers: int, chosen: int, lang: str) -> Any:
    """The layer dropdown after a run: "last", then 0 (the embeddings' output) to n_layers."""
    choices = [(t("emb_layer_last", lang), LAST)] + [(str(i), i) for i in range(n_layers + 1)]
    return gr.update(choices=choices, value=chosen)


def build(i18n: gr.I18n, profile: str) -> None:
    first = next(iter(TASKS))
    gr.Markdown(i18n("emb_help"))
    with gr.Row():
        task = gr.Dropdown([(i18n(f"tab_{name}"), name) for name in TASKS], value=first, label=i18n("emb_task"),
                           elem_id="emb-task", scale=1)
        model = gr.Dropdown(_models(first, profile, i18n("model_auto")), value=config.AUTO, label=i18n("emb_model"),
                            elem_id="emb-model", scale=2)
        layer = gr.Dropdown([(i18n("emb_layer_last"), LAST)], value=LAST, label=i18n("emb_layer"), elem_id="emb-layer",
                            scale=1)
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label=i18n("emb_text"), value=EXAMPLES[0][0], lines=2, elem_id="emb-text")
            gr.Examples(EXAMPLES, inputs=text, label=i18n("examples_label"))
        with gr.Column(scale=2):
            word = gr.Textbox(label=i18n("emb_word"), info=i18n("emb_word_info"), elem_id="emb-word")
            k = gr.Slider(1, 50, value=10, step=1, label=i18n("emb_k"))
            run_btn = gr.Button(i18n("emb_run"), variant="primary", elem_id="emb-run")
    note = gr.Markdown(elem_id="emb-summary")
    with gr.Row():
        points_input = export.plot(elem_id="emb-points-input")
        points_hidden = export.plot(elem_id="emb-points-hidden")
    with gr.Row():
        cosine_input = export.plot(elem_id="emb-cosine-input")
        cosine_hidden = export.plot(elem_id="emb-cosine-hidden")
    neighbours = export.plot(elem_id="emb-neighbours")

    def task_changed(name: str, request: gr.Request) -> tuple:
        lang = request_language((request,), {})
        return (gr.update(choices=_models(name, profile, t("model_auto", lang)), value=config.AUTO),
                gr.update(choices=[(t("emb_layer_last", lang), LAST)], value=LAST))

    task.change(task_changed, task, [model, layer], queue=False, api_visibility="private")
    def model_changed(request: gr.Request) -> Any:  # another model has another number of layers
        return gr.update(choices=[(t("emb_layer_last", request_language((request,), {})), LAST)], value=LAST)

    model.change(model_changed, None, layer, queue=False, api_visibility="private")

    @guarded
    def show(name: str, key: str, value: str, chosen: Any, w: str, n: Any, request: gr.Request) -> tuple:
        lang = request_language((request,), {})
        d = embed_endpoint(value, name, key or "", LAST if chosen in (None, "") else int(chosen), w or "", int(n or 10))
        lines = [t("emb_summary", lang, model=html.escape(d["model"]), words=len(d["words"]), dims=d["dims"],
                   layer=d["layer"], layers=d["n_layers"]), embedding_views.projection_note(d, lang)]
        if d.get("unread"):
            lines.append(t("emb_unread", lang, words=", ".join(html.escape(u["text"]) for u in d["unread"][:20])))
        shown_layer = LAST if chosen in (None, "", LAST) else d["layer"]
        return ("\n\n".join(lines), embedding_views.points_figure(d, "input", lang),
                embedding_views.points_figure(d, "hidden", lang), embedding_views.cosine_figure(d, "input", lang),
                embedding_views.cosine_figure(d, "hidden", lang), embedding_views.neighbours_figure(d, lang),
                _layers(d["n_layers"], shown_layer, lang))

    outputs = [note, points_input, points_hidden, cosine_input, cosine_hidden, neighbours, layer]
    show_gpu = gpu(show, QUICK)
    inputs = [task, model, text, layer, word, k]
    run_btn.click(show_gpu, inputs, outputs, **group(QUICK))
    text.submit(show_gpu, inputs, outputs, **group(QUICK))
    word.submit(show_gpu, inputs, outputs, **group(QUICK))
    layer.input(show_gpu, inputs, outputs, **group(QUICK))  # a user's choice only: a run's own update must not rerun


__all__ = ["build"]
