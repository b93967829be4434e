"""The engine's contract, checked for every (task, method) pair: every registered method runs on
every task's Subject (sentiment, generation, summarization, translation, extractive and
generative QA, on the tiny models) and gives one finite targets x words matrix, clamped options,
a JSON result with the one schema, the same numbers twice under a seed, and each method's own
identity (IG completeness, feature ablation's differences, Owen values adding up). Then what
holds across tasks: IG equals Captum's LayerIntegratedGradients, one target costs one target,
sentence units, Stop."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from playground.explain import METHODS, Stopped, explain
from playground.tasks import generation as gen
from playground.tasks import qa, sentiment, seq2seq, summarization, translation

SMALL = {"ig_steps": 8, "lime_samples": 40, "shap_evals": 40, "kernel_shap_samples": 40}
REVIEW = "I loved this movie, but the ending was terrible."
PROMPT = "Hello there, what is the weather like?"
PLAIN_PROMPT = "I loved this movie"  # the tiny GPT-2 writes words after it (after PROMPT: stray bytes)
SOURCE = "The weather is nice today, so we walked to the old harbour."
QUESTION = "Who designed the tower?"
CONTEXT = "The tower in Paris was designed by Gustave Eiffel in 1889."

# Budgets (sample counts) cost model rows: the clamping check sends -10**12 for them (their
# minimum; the default is a converging run's cap of 5,000, too slow for every task here) and
# 10**12 for every other option; tests/explain/test_engine.py sends 10**9 for every budget on a
# three-word input, where repeated coalitions cost nothing.
BUDGETS = {"lime_samples", "shap_evals", "kernel_shap_samples"}

BUILDERS = {
    "sentiment/tiny-distilbert": lambda: sentiment.subject(REVIEW),
    "generation/tiny-llama": lambda: gen.subject(gen.generate(PROMPT, "tiny-llama", max_new_tokens=4, temperature=0)),
    "generation/tiny-gpt2": lambda: gen.subject(gen.generate(PLAIN_PROMPT, "tiny-gpt2", max_new_tokens=4, temperature=0)),
    "summarization/tiny-bart": lambda: seq2seq.subject(
        summarization.summarize(SOURCE, "tiny-bart", min_new_tokens=3, max_new_tokens=3)),
    "summarization/tiny-t5": lambda: seq2seq.subject(
        summarization.summarize(SOURCE, "tiny-t5", min_new_tokens=3, max_new_tokens=3)),
    "summarization/tiny-llama": lambda: seq2seq.subject(
        summarization.summarize(SOURCE, "tiny-llama", min_new_tokens=3, max_new_tokens=3)),
    "translation/tiny-marian": lambda: seq2seq.subject(translation.translate(SOURCE, "zh", "tiny-marian", max_new_tokens=4)),
    "qa/tiny-distilbert-qa": lambda: qa.subject(qa.answer(QUESTION, CONTEXT, "tiny-distilbert-qa")),
    "qa/tiny-llama": lambda: qa.subject(qa.answer(QUESTION, CONTEXT, "tiny-llama", max_new_tokens=4)),
}


@pytest.fixture(scope="module")
def subjects() -> dict:
    """Every task's Subject, built once for the module (each method run below reads it only;
    the scorer's cache of model rows is shared, as it is in the app)."""
    return {name: build() for name, build in BUILDERS.items()}


def f_at_ends(view) -> np.ndarray:
    """The targets on the baseline and on the input, (2, n_targets), computed here: the layer's
    output is replaced by the baseline's (first call of the layer only: T5 shares it with the
    decoder), without the engine's path code."""
    with torch.no_grad():
        base = view.layer(view.baseline_ids).detach()
        out_input = view.run(1).float()
        state = {"armed": True}

        def hook(_m, _a, _o):
            if state["armed"]:
                state["armed"] = False
                return base
            return None

        handle = view.layer.register_forward_hook(hook)
        try:
            out_base = view.run(1).float()
        finally:
            handle.remove()
    return torch.cat([out_base, out_input]).cpu().numpy()


def check_result(expl, subject, method: str, n_targets: int, fresh: bool = False) -> dict:
    """``fresh``: the scorer had run none of these rows before (``evaluations`` counts the
    model rows a run actually ran; rows already in the subject's cache cost nothing)."""
    n = len(subject.units)
    assert expl.method == method and expl.task == subject.task
    assert expl.matrix.shape == (n_targets, n)
    assert np.isfinite(expl.matrix).all()
    assert (expl.evaluations > 0 if fresh else expl.evaluations >= 0) and expl.seconds >= 0
    d = expl.to_dict()
    d = json.loads(json.dumps(d, allow_nan=False))
    assert {"task", "method", "target", "words", "targets", "matrix", "evaluations", "seconds", "options"} <= set(d)
    assert d["task"] == subject.task and d["method"] == method
    assert d["target"] == expl.targets[0].label
    assert len(d["targets"]) == n_targets and len(d["matrix"]) == n_targets
    assert all(len(row) == n for row in d["matrix"])
    assert len(d["words"]) == n
    for w in d["words"]:
        assert set(w) >= {"text", "start", "end", "part"}
        assert w["text"] == subject.texts[w["part"]][w["start"] : w["end"]]
    assert set(d["options"]) == {o.name for o in METHODS[method].options}
    return d


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("task", list(BUILDERS))
def test_contract(subjects, task: str, method: str) -> None:
    s = subjects[task]
    m = METHODS[method]
    assert m.supports(s)
    n, k = len(s.units), len(s.targets)
    assert n > 0 and k >= 2

    # The full matrix, and the default target alone.
    if s.score is not None:
        s.score.cache.clear()  # as a freshly built Subject: every row is run
    full = explain(s, method, SMALL, target="all")
    d = check_result(full, s, method, k, fresh=True)
    assert [t["label"] for t in d["targets"]] == [t.label for t in s.targets]
    one = explain(s, method, SMALL)
    check_result(one, s, method, 1)
    assert one.targets[0] == s.targets[s.default_target]
    if method != "shap":  # shap's Partition explainer expands the tree by the outputs it is given
        np.testing.assert_allclose(one.matrix[0], full.matrix[s.default_target], rtol=1e-5, atol=1e-6)

    # Deterministic: the same seed, the same numbers.
    again = explain(s, method, SMALL, target="all")
    np.testing.assert_array_equal(again.matrix, full.matrix)

    # Options clamped to the method's bounds whatever is sent.
    sent = {o.name: (-(10**12) if o.name in BUDGETS else 10**12) for o in m.options}
    clamped = explain(s, method, sent)
    for o in m.options:
        got = clamped.options[o.name]
        assert o.minimum <= got <= o.maximum
        assert got == (o.minimum if o.name in BUDGETS else o.maximum)
    check_result(clamped, s, method, 1)

    if method == "integrated_gradients":
        ends = f_at_ends(s.gradient)
        gap = ends[1] - ends[0]
        delta = full.convergence["delta"]
        np.testing.assert_allclose(full.convergence["f_input_minus_baseline"], gap, rtol=1e-3, atol=1e-4)
        assert np.all(np.abs(full.matrix.sum(axis=1) - gap) <= delta + 1e-4 + 1e-3 * np.abs(gap))
        fine = explain(s, method, {"ig_steps": 64})
        g = gap[s.default_target]
        assert abs(fine.matrix[0].sum() - g) <= 0.02 * abs(g) + 1e-4
        assert fine.convergence["delta"] <= 0.02 * abs(g) + 1e-4
    elif method == "feature_ablation":
        everything = s.score(np.ones((1, n), dtype=bool))[0]
        without = s.score(~np.eye(n, dtype=bool))
        np.testing.assert_allclose(full.matrix, (everything[None, :] - without).T, atol=1e-6)
    elif method == "shap":
        ends = s.score(np.array([[True] * n, [False] * n]))
        np.testing.assert_allclose(full.matrix.sum(axis=1), ends[0] - ends[1], rtol=1e-4, atol=1e-5)


# ---- across tasks -----------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [8, 16])
def test_integrated_gradients_equals_captum_layer_integrated_gradients(subjects, steps: int) -> None:
    """The hand-batched forward + one backward per target gives Captum's numbers for one
    target (same Gauss-Legendre points, same baseline, same layer)."""
    from captum.attr import LayerIntegratedGradients

    from playground.explain import gradients

    s = subjects["sentiment/tiny-distilbert"]
    view = s.gradient
    lig = LayerIntegratedGradients(lambda ids: view.run(ids.shape[0]), view.layer)
    for t in range(len(s.targets)):
        attr = lig.attribute(view.input_ids, baselines=view.baseline_ids, target=t, n_steps=steps,
                             method="gausslegendre", internal_batch_size=steps)
        want = gradients.pool(attr.sum(dim=-1).detach().double().cpu().numpy(), view.position_unit, len(s.units))[0]
        got = explain(s, "integrated_gradients", {"ig_steps": steps}, target=t).matrix[0]
        np.testing.assert_allclose(got, want, atol=1e-4)


def _count_rows(model) -> tuple[dict, object]:
    seen = {"rows": 0}

    def pre(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        seen["rows"] += int(ids.shape[0])

    return seen, model.register_forward_pre_hook(pre, with_kwargs=True)


def test_one_target_costs_one_target() -> None:
    """A 10-word prompt, several output words: IG on one target runs ig_steps + 2 model rows
    (the path and its two ends), and every target at once runs the same forward rows (one
    backward more per target, no forward more)."""
    r = gen.generate("one two three four five six seven eight nine ten", "tiny-llama", max_new_tokens=6, temperature=0)
    s = gen.subject(r)
    assert len(s.units) == 10 and len(s.targets) >= 3
    # Rows counted where every forward runs: the decoder body (the scorer and the gradient
    # forwards run it, then the LM head a few positions at a time).
    model = gen.model_for("tiny-llama").model.base_model
    steps = 12
    for target in (None, 1, "all"):
        seen, handle = _count_rows(model)
        try:
            # The method's rows alone (the faithfulness metrics run on the scorer afterwards).
            e = explain(s, "integrated_gradients", {"ig_steps": steps}, target=target, metrics=False)
        finally:
            handle.remove()
        assert seen["rows"] == steps + 2 == e.evaluations, target
        assert e.extras["planned_evaluations"] == steps + 2


def test_sentence_units_explain_a_context_by_sentence() -> None:
    context = ("The tower in Paris was designed by Gustave Eiffel. It was built from 1887 to 1889. "
               "Many people visit it every year.")
    s = qa.subject(qa.answer(QUESTION, context, "tiny-distilbert-qa"))
    by_word = explain(s, "feature_ablation", target="all", units="word")
    by_sentence = explain(s, "feature_ablation", target="all", units="sentence")
    parts = [u.part for u in by_sentence.units]
    assert parts.count("context") == 3 and parts.count("question") == 1
    assert by_sentence.unit_kind == "sentence" and by_sentence.to_dict()["units"] == "sentence"
    for u in by_sentence.units:
        assert s.texts[u.part][u.start : u.end] == u.text
    assert [u.text for u in by_sentence.units if u.part == "context"] == [
        "The tower in Paris was designed by Gustave Eiffel.", "It was built from 1887 to 1889.",
        "Many people visit it every year."]
    fresh = qa.subject(qa.answer(QUESTION, context, "tiny-distilbert-qa"))
    assert explain(fresh, "feature_ablation", units="sentence").evaluations < by_word.evaluations
    # A review of three sentences: three units.
    review = sentiment.subject("I loved it. The ending was bad! Would I watch it again?")
    e = explain(review, "lime", SMALL, units="sentence")
    assert len(e.units) == 3 and e.matrix.shape == (1, 3)


def test_a_stop_already_set_stops_lime() -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        explain(sentiment.subject(REVIEW), "lime", SMALL, stop=stop)
    s = gen.subject(gen.generate(PROMPT, "tiny-gpt2", max_new_tokens=3, temperature=0))
    with pytest.raises(Stopped):
        explain(s, "lime", {**SMALL, "seed": 4242}, stop=stop)
    assert s.score.stop is None  # detached afterwards
