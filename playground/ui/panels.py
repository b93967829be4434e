"""The explanation panel every tab uses, built from the method registry. :func:`controls`: the
method, target and units choices, a control per option of ``explain.all_options()``, Explain and
Stop. :func:`result_view`: what shows ANY explanation dict (a summary line, a highlight over the
words per part, the top words, a targets x words heatmap, JSON and CSV downloads). :func:`wire`:
connects them to a tab's ``subject_of``. No method is known by name here: a new method in the
registry shows up in every tab with its options.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from .. import api, trust, views
from ..errors import InputError
from ..explain import (
    METHODS,
    UNIT_CHOICES,
    Option,
    Subject,
    agreement_of,
    all_options,
    estimate_seconds,
    planned_evaluations,
    planned_metrics,
)
from ..messages import EN, t
from ..tasks import TASKS
from . import export
from .common import EXPLAIN, admit, group, guarded, release, request_language, session_of, stop_event
from .zerogpu import explanation_seconds, gpu

DEFAULT = "default"  # the target value meaning "the task's default target"
ESTIMATE_NOTICE_S = 5.0  # jobs expected to take longer show their estimate first
ALL = "all"
SESSION = "session"  # in the values subject_of gets: the browser session (whose fine-tuned model)


def default_method(task: str) -> str:
    """The method a task's tab starts on (the task registry's choice, if registered)."""
    value = getattr(TASKS.get(task), "default_method", None)
    return value if value in METHODS else next(iter(METHODS))


def method_choices(i18n: gr.I18n) -> list[tuple[Any, str]]:
    return [(i18n(f"method_{name}"), name) for name in METHODS]


def _option_control(i18n: gr.I18n, o: Option) -> gr.components.Component:
    """A control for one option, from its bounds alone: an on/off option is a checkbox, a wide
    integer range (a seed) a number box, anything else a slider."""
    if o.integer and o.minimum == 0 and o.maximum == 1:
        return gr.Checkbox(value=bool(o.default), label=i18n(o.label))
    if o.integer and o.maximum - o.minimum > 100_000:
        return gr.Number(value=o.default, precision=0, minimum=o.minimum, maximum=o.maximum, label=i18n(o.label))
    return gr.Slider(o.minimum, o.maximum, value=o.default, step=1 if o.integer else 0.01, label=i18n(o.label))


@dataclass
class Controls:
    method: gr.components.Component  # a Dropdown (one method) or a CheckboxGroup (several)
    target: gr.Dropdown
    units: gr.Radio
    options: dict[str, gr.components.Component]
    run: gr.Button
    stop: gr.Button
    default_key: str  # message key of the default target's name in this tab
    multi: bool = False
    run_all: gr.Button | None = None  # one-method panels: "Explain with all methods"

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.method, self.target, self.units, *self.options.values()]


def controls(i18n: gr.I18n, prefix: str, default_key: str, *, multi: bool = False, method: str | None = None,
             target: str = DEFAULT) -> Controls:
    """The panel's controls; element ids ``{prefix}-method``, ``-target``, ``-units``,
    ``-attribute`` (Explain) and ``-stop-explain``. ``default_key`` names the default target in
    this tab ("the predicted label", "the whole output", ...)."""
    with gr.Row():
        if multi:
            chooser = gr.CheckboxGroup(method_choices(i18n), value=list(METHODS), label=i18n("methods_label"),
                                       elem_id=f"{prefix}-method", scale=3)
        else:
            chooser = gr.Dropdown(method_choices(i18n), value=method or next(iter(METHODS)), label=i18n("attr_method"),
                                  elem_id=f"{prefix}-method", scale=2)
        target_c = gr.Dropdown([(i18n(default_key), DEFAULT), (i18n("target_all"), ALL)], value=target,
                               label=i18n("explain_target"), allow_custom_value=True, elem_id=f"{prefix}-target", scale=2)
        units = gr.Radio([(i18n(f"units_{u}"), u) for u in UNIT_CHOICES], value=UNIT_CHOICES[0], label=i18n("units_label"),
                         elem_id=f"{prefix}-units", scale=2)
    options: dict[str, gr.components.Component] = {}
    with gr.Accordion(i18n("budgets_accordion"), open=False):
        with gr.Row():
            for o in all_options():
                options[o.name] = _option_control(i18n, o)
    with gr.Row():
        run = gr.Button(i18n("btn_explain" if multi else "btn_attribute"), variant="primary", elem_id=f"{prefix}-attribute")
        run_all = None if multi else gr.Button(i18n("btn_explain_all_methods"), variant="secondary",
                                               elem_id=f"{prefix}-explain-all")
        stop = gr.Button(i18n("btn_stop"), variant="stop", elem_id=f"{prefix}-stop-explain")
    return Controls(chooser, target_c, units, options, run, stop, default_key, multi, run_all)


@dataclass
class ResultView:
    """What shows one explanation. ``state`` holds ``{"expl": dict, "texts": {part: text}}``
    so choosing another target row redraws without a model call."""

    state: gr.State
    line: gr.Markdown
    row: gr.Dropdown
    highlights: dict[str, gr.HighlightedText]
    bars: gr.Plot
    matrix: gr.Plot
    note: Callable[[dict[str, Any], str], str] | None = None
    extra: list[gr.components.Component] = field(default_factory=list)

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.state, self.line, self.row, *self.highlights.values(), self.bars, self.matrix]

    @property
    def shown(self) -> list[gr.components.Component]:
        return [self.line, *self.highlights.values(), self.bars]

    def empty(self, message: str = "") -> list[Any]:
        return [None, message, gr.update(choices=[], value=None, visible=False),
                *[None] * len(self.highlights), None, gr.update(value=None, visible=False)]


def result_view(i18n: gr.I18n, ids: Callable[[str], str], parts: dict[str, str], title: str | None = None,
                note: Callable[[dict[str, Any], str], str] | None = None) -> ResultView:
    """The result components. ``ids(kind)`` gives each one's element id (kind: line, row,
    highlight or a part's name when there are several parts, bars, matrix); ``parts`` maps each
    part the words come from ("text", "prompt", "source", "question", "context") to its label key."""
    if title:
        gr.Markdown(i18n(title), elem_classes=["pg-method-title"])
    line = gr.Markdown(elem_id=ids("line"))
    row = gr.Dropdown([], label=i18n("explain_row"), visible=False, allow_custom_value=True, elem_id=ids("row"))
    highlights = {
        part: gr.HighlightedText(label=i18n(label), color_map=views.BUCKET_COLOURS, show_legend=False,
                                 show_inline_category=False, elem_id=ids("highlight" if len(parts) == 1 else part))
        for part, label in parts.items()
    }
    bars = export.plot(label=i18n("bars_label"), elem_id=ids("bars"))
    matrix = export.plot(label=i18n("explain_matrix"), visible=False, elem_id=ids("matrix"))
    state = gr.State(None)
    export.downloads(i18n, state, ids("line"))  # JSON and CSV of what the view shows
    return ResultView(state, line, row, highlights, bars, matrix, note)


@dataclass
class TrustView:
    """The "How far to trust this" panel: ``state`` holds ``{"key", "results": {method: dict},
    "agreement"}`` for one input (the methods run on it so far), so a second method run on the
    same input joins the first, and choosing another target redraws without a model call."""

    state: gr.State
    row: gr.Dropdown
    text: gr.Markdown
    faith: gr.Plot
    agreement: gr.Plot
    curves: gr.Plot

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.state, self.row, *self.shown]

    @property
    def shown(self) -> list[gr.components.Component]:
        return [self.text, self.faith, self.agreement, self.curves]

    def empty(self, message: str = "") -> list[Any]:
        """Values for ``outputs`` when a new result replaces the one the panel was about."""
        return [None, gr.update(choices=[], value=None, visible=False), message, None, None, None]


def trust_view(i18n: gr.I18n, prefix: str) -> TrustView:
    """The panel's components; element ids ``{prefix}-trust-text``, ``-trust-faith``,
    ``-trust-agreement``, ``-trust-curves``, ``-trust-row``."""
    with gr.Accordion(i18n("trust_heading_short"), open=True, elem_id=f"{prefix}-trust"):
        gr.Markdown(i18n("trust_help"))
        row = gr.Dropdown([], label=i18n("trust_row"), visible=False, allow_custom_value=True, elem_id=f"{prefix}-trust-row")
        text = gr.Markdown(i18n("trust_empty"), elem_id=f"{prefix}-trust-text")
        with gr.Row():
            faith = export.plot(label=i18n("trust_fig_faith_short"), elem_id=f"{prefix}-trust-faith")
            agreement = export.plot(label=i18n("trust_fig_agreement_short"), elem_id=f"{prefix}-trust-agreement")
        curves = export.plot(label=i18n("trust_fig_curves_short"), elem_id=f"{prefix}-trust-curves")
    return TrustView(gr.State(None), row, text, faith, agreement, curves)


def render_trust_row(state: dict[str, Any] | None, row: Any, lang: str) -> list[Any]:
    """Values for ``TrustView.shown`` for target row ``row``."""
    if not state or not state.get("results"):
        return [t("trust_empty", lang), None, None, None]
    i = int(row) if row not in (None, "") else 0
    results, agreement = state["results"], state["agreement"]
    return [trust.summary(results, i, lang, agreement), trust.faithfulness_figure(results, i, lang),
            trust.agreement_figure(agreement, i, lang), trust.curves_figure(results, i, lang)]


def render_trust(before: dict[str, Any] | None, key: str, results: dict[str, dict[str, Any]], lang: str,
                 agreement: dict[str, Any] | None = None) -> list[Any]:
    """Values for ``TrustView.outputs`` after ``results`` (and their ``agreement``) ran on the
    input named ``key``: they join the methods run before on the same input (same texts, model,
    targets and units), and then agreement covers them all."""
    merged = dict(before["results"]) if before and before.get("key") == key else {}
    joined = bool(set(merged) - set(results))
    merged.update(results)
    merged = {m: merged[m] for m in METHODS if m in merged}  # registry order
    if joined or agreement is None:
        agreement = agreement_of(merged)
    state = {"key": key, "results": merged, "agreement": agreement}
    targets = trust.targets_of(merged)
    row_u = gr.update(choices=[(target_name(x, lang), i) for i, x in enumerate(targets)], value=0,
                      visible=len(targets) > 1)
    return [state, row_u, *render_trust_row(state, 0, lang)]


# ---- rendering --------------------------------------------------------------------------------


def target_name(target: dict[str, Any], lang: str) -> str:
    """A target's name for the page: a catalogue name where there is one (classes, the whole
    output, QA spans), else its text (an output word, numbered); escaped."""
    label = str(target.get("label", ""))
    for key in (f"target_{label}", f"label_{label}"):
        if key in EN:
            return t(key, lang)
    if label.startswith("word:"):
        return f"{int(label[5:]) + 1}: {views.safe(target.get('text', ''), 30)}"
    return views.safe(target.get("text") or label, 40)


def target_choices(subject: Subject, lang: str, default_key: str) -> list[tuple[str, str]]:
    """Every target of ``subject`` as a choice, after the default and before "all"."""
    return ([(t(default_key, lang), DEFAULT)]
            + [(target_name(x.to_dict(), lang), x.label) for x in subject.targets]
            + [(t("target_all", lang), ALL)])


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def summary_line(expl: dict[str, Any], row: int, lang: str) -> str:
    """Method, target, cost, and how far to trust it (the method's own convergence numbers)."""
    targets = expl.get("targets") or [{}]
    target = targets[min(max(row, 0), len(targets) - 1)]
    line = t("explain_summary", lang, method=t(f"method_{expl['method']}", lang), target=target_name(target, lang),
             evaluations=expl["evaluations"], seconds=expl["seconds"])
    details = []
    for key, value in (expl.get("convergence") or {}).items():
        if isinstance(value, bool):
            if value:
                details.append(t(f"conv_{key}", lang) if f"conv_{key}" in EN else views.safe(key))
        elif isinstance(value, (int, float)):
            name = t(f"conv_{key}", lang) if f"conv_{key}" in EN else views.safe(key)
            details.append(f"{name} = {_number(value)}")
    if expl.get("shown"):
        details.append(views.safe(expl["shown"]))
    if details:
        line += " · " + " · ".join(details)
    notes = []
    if expl.get("units") == "sentence":
        notes.append(t("explain_by_sentence", lang))
    method = METHODS.get(expl["method"])
    if expl.get("removal") and method is not None and method.needs == "scorer":  # how the perturbations remove words
        how = t(expl["removal_key"], lang, **expl.get("removal_params", {})) if expl.get("removal_key") else expl["removal"]
        notes.append(t("explain_removal", lang, removal=views.safe(how, 120)))
    if expl.get("truncated"):
        notes.append(t("explain_input_cut", lang))
    return "\n\n".join([line, *notes])


def render_row(view: ResultView, state: dict[str, Any] | None, row: Any, lang: str) -> list[Any]:
    """Values for ``view.shown`` for target row ``row`` of the explanation in ``state``."""
    if not state:
        return [gr.skip()] * len(view.shown)
    expl, texts = state["expl"], state["texts"]
    n = len(expl.get("targets") or [])
    i = min(max(int(row), 0), max(n - 1, 0)) if row not in (None, "") else 0
    scores = views.explanation_row(expl, i)
    parts = views.highlight_parts(views.explanation_words(expl), scores, {p: texts.get(p, "") for p in view.highlights})
    line = summary_line(expl, i, lang)
    if view.note is not None:
        extra = view.note(expl, lang)
        if extra:
            line += "\n\n" + extra
    return [line, *[parts[p] for p in view.highlights], views.attribution_figure(expl, row=i)]


def render(view: ResultView, expl: dict[str, Any], texts: dict[str, str], lang: str) -> list[Any]:
    """Values for ``view.outputs``: the first target's row, the row choice and the heatmap when
    there are several targets."""
    state = {"expl": expl, "texts": dict(texts)}
    targets = expl.get("targets") or []
    several = len(targets) > 1
    row_u = gr.update(choices=[(target_name(x, lang), i) for i, x in enumerate(targets)], value=0, visible=several)
    matrix = None
    if several:
        matrix = views.matrix_figure([target_name(x, lang) for x in targets],
                                     [w["text"] for w in views.explanation_words(expl)], expl["matrix"])
    line, *rest = render_row(view, state, 0, lang)
    return [state, line, row_u, *rest, gr.update(value=matrix, visible=several)]


# ---- wiring -----------------------------------------------------------------------------------


def _progress(progress: gr.Progress, lang: str, planned: dict[str, int]) -> Callable[[str], Callable[[float, str], None]]:
    """Progress over several methods run one after the other, in ``planned``'s order (weighted
    by their planned rows): ``for_method(name)`` is the callback of the method ``name``."""
    total = sum(planned.values()) or 1
    started = time.perf_counter()
    names = list(planned)

    def for_method(name: str) -> Callable[[float, str], None]:
        done_before = sum(planned[m] for m in names[: names.index(name)])

        def report(fraction: float, _name: str) -> None:
            overall = (done_before + fraction * planned[name]) / total
            elapsed = time.perf_counter() - started
            left = elapsed * (1 - overall) / overall if overall > 0 else 0.0
            progress(overall, desc=t("progress_running", lang, method=t(f"method_{name}", lang), done=overall, left=left))

        return report

    return for_method


def wire(c: Controls, views_: dict[str, ResultView], subject_of: Callable[[dict[Any, Any], str], Subject],
         sources: Sequence[gr.components.Component], *, trust_panel: TrustView | None = None,
         extra: Callable[[dict[str, Any], str], list[Any]] | None = None,
         extra_outputs: Sequence[gr.components.Component] = ()) -> Callable[[Any], Any]:
    """Connect the controls to the views. ``views_`` maps a method to its view (several: the
    Sentiment tab's one panel per method) or has the one key "" (one view, whichever method).
    ``subject_of(values, lang)`` builds the Subject from the values of ``sources`` and
    ``values[SESSION]`` (raise a PlaygroundError to say what is missing); ``extra(expl, lang)`` gives values for
    ``extra_outputs`` (the translation's alignment); ``trust_panel`` shows how far to trust the
    methods run on the input. Returns ``then(event)``, which runs the same explanation after
    another event succeeds (the Sentiment tab's "explain with all methods")."""
    single = "" in views_
    trust_outputs = trust_panel.outputs if trust_panel is not None else []
    outputs = [c.target] + [o for v in views_.values() for o in v.outputs] + list(extra_outputs) + trust_outputs
    inputs = {*sources, *c.inputs, *([trust_panel.state] if trust_panel is not None else [])}

    @guarded
    def run(data: dict, request: gr.Request, progress: gr.Progress = gr.Progress()) -> list[Any]:
        return explain_with(data, request, progress, every=False)

    @guarded
    def run_all(data: dict, request: gr.Request, progress: gr.Progress = gr.Progress()) -> list[Any]:
        return explain_with(data, request, progress, every=True)

    def explain_with(data: dict, request: gr.Request, progress: gr.Progress, every: bool) -> list[Any]:
        try:
            return explained(data, request, progress, every)
        finally:
            release(request)  # admitted before it joined the queue (common.admit)

    def explained(data: dict, request: gr.Request, progress: gr.Progress, every: bool) -> list[Any]:
        lang = request_language((request,), {})
        stop = stop_event(request)
        stop.clear()
        chosen = data[c.method]
        if every:
            names = list(METHODS)
        else:
            names = [m for m in METHODS if m in (chosen or [])] if c.multi else [str(chosen or next(iter(METHODS)))]
        if not names:
            raise InputError("no_method_chosen")
        options = {name: data[comp] for name, comp in c.options.items()}
        subject = subject_of({**data, SESSION: session_of(request)}, lang)
        labels = {x.label for x in subject.targets}
        target = data[c.target] if data[c.target] in labels | {ALL} else None  # None: the default
        units = data[c.units] or UNIT_CHOICES[0]
        # The method's rows and its faithfulness metrics' (the random orders' rows are shared).
        planned = {m: planned_evaluations(subject, m, options, target, units) + planned_metrics(subject, target, units)
                   if m in METHODS else 1 for m in names}
        steps = _progress(progress, lang, planned)
        # Anything expected to take over a few seconds says so first (planned rows x the
        # measured cost of a row on this model), with Stop beside it.
        expected = [estimate_seconds(subject, m, options, target, units) for m in names if m in METHODS]
        seconds = sum(e for e in expected if e is not None)
        if seconds > ESTIMATE_NOTICE_S:
            gr.Info(t("estimate_notice", lang, seconds=seconds, rows=sum(planned.values())), duration=min(30, seconds))
        progress(0.0, desc=t("progress_start", lang, method=t(f"method_{names[0]}", lang)))
        ran = api.explain_all(subject, names, options, target=target, units=units, progress=steps, stop=stop)
        results, agreement = ran["explanations"], ran["agreement"]
        out: list[Any] = [gr.update(choices=target_choices(subject, lang, c.default_key), value=target or DEFAULT)]
        # A one-view panel shows the chosen method (after "all methods" too); the others, each its own.
        shown = str(chosen) if single and str(chosen) in results else names[0]
        for key, view in views_.items():
            expl = results.get(shown if single else key)
            out += render(view, expl, subject.texts, lang) if expl is not None else view.empty(t("not_run", lang))
        if extra is not None:
            out += extra(results[shown], lang)
        if trust_panel is not None:
            key = json.dumps([subject.task, subject.model, subject.texts, target, units], sort_keys=True, default=str)
            out += render_trust(data[trust_panel.state], key, results, lang, agreement)
        return out

    def stop_h(request: gr.Request) -> None:
        stop_event(request).set()

    # Admitted first, without the queue (one session's share, the app's limit; a translated
    # message otherwise), then queued in the EXPLAIN group, which predictions never wait on.
    admitted = dict(concurrency_limit=None, api_visibility="private", show_progress="hidden")

    def chosen_seconds(data: dict, *_: Any) -> int:
        chosen = data[c.method]
        names = [m for m in METHODS if m in (chosen or [])] if c.multi else [str(chosen)]
        return explanation_seconds(names, {name: data[comp] for name, comp in c.options.items()})

    def all_seconds(data: dict, *_: Any) -> int:
        return explanation_seconds(list(METHODS), {name: data[comp] for name, comp in c.options.items()})

    run_gpu = gpu(run, EXPLAIN, chosen_seconds)
    c.run.click(admit, None, None, **admitted).success(run_gpu, inputs, outputs, **group(EXPLAIN))
    if c.run_all is not None:
        c.run_all.click(admit, None, None, **admitted).success(gpu(run_all, EXPLAIN, all_seconds), inputs, outputs,
                                                             **group(EXPLAIN))
    c.stop.click(stop_h, None, None, queue=False, api_visibility="private")
    if trust_panel is not None:
        def redraw_trust(state: dict | None, row: Any, request: gr.Request) -> list[Any]:
            return render_trust_row(state, row, request_language((request,), {}))

        trust_panel.row.change(redraw_trust, [trust_panel.state, trust_panel.row], trust_panel.shown, queue=False,
                               api_visibility="private")
    for view in views_.values():
        def redraw(state: dict | None, row: Any, request: gr.Request, view: ResultView = view) -> list[Any]:
            return render_row(view, state, row, request_language((request,), {}))

        view.row.change(redraw, [view.state, view.row], view.shown, queue=False, api_visibility="private")

    def then(event: Any) -> Any:
        return event.success(admit, None, None, **admitted).success(run_gpu, inputs, outputs, **group(EXPLAIN))

    return then


__all__ = ["ALL", "DEFAULT", "SESSION", "Controls", "ResultView", "TrustView", "controls", "default_method", "render",
           "render_row", "render_trust", "result_view", "summary_line", "target_choices", "target_name", "trust_view", "wire"]
