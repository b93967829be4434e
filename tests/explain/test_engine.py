"""playground.explain on the tiny sentiment model: every registered method per word (English,
Chinese, one word, the mask token as text, a truncated input), progress, option clamping,
determinism, IG's completeness and baseline, targets, errors, attention rollout."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from playground import text
from playground.config import LIMITS
from playground.errors import InputError
from playground.explain import METHODS, Option, explain, get_method, methods_for, planned_evaluations
from playground.explain.attention import rollout

ENGLISH = "I loved this movie, but the ending was terrible."
CHINESE = "今天天气很好，这部电影太棒了"
SMALL = {"ig_steps": 8, "lime_samples": 40, "shap_evals": 40, "kernel_shap_samples": 40}


def check_explanation(expl, source: str, method: str, words: list | None = None) -> dict:
    words = text.words(source) if words is None else words
    row = expl.row()
    assert expl.method == method
    assert len(row) == len(expl.units) == len(words)
    assert all(math.isfinite(s) for s in row)
    assert [u.text for u in expl.units] == [w.text for w in words]
    for u in expl.units:
        assert source[u.start : u.end] == u.text and u.part == "text"
    assert expl.evaluations > 0
    assert expl.seconds >= 0
    d = expl.to_dict()
    json.dumps(d, allow_nan=False)  # plain JSON, no NaN, no numpy types
    assert d["method"] == method
    assert len(d["words"]) == len(d["scores"]) == len(words)
    assert all(source[t["start"] : t["end"]] == t["text"] for t in d["words"])
    assert d["units"] == "word"
    return d


def test_registry_has_the_seven_methods(subject_factory) -> None:
    assert list(METHODS) == ["attention", "gradient_x_input", "integrated_gradients", "feature_ablation", "lime", "shap",
                             "kernel_shap"]
    for name, m in METHODS.items():
        assert m.name == name and m.needs in ("scorer", "gradients", "attention") and m.summary
        for o in m.options:
            assert o.minimum <= o.default <= o.maximum and o.label.startswith("opt_")
    assert methods_for(subject_factory(ENGLISH)) == list(METHODS)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_one_finite_score_per_word(subject_factory, method: str) -> None:
    subject = subject_factory(ENGLISH)
    expl = explain(subject, method, SMALL)
    d = check_explanation(expl, ENGLISH, method)
    predicted = int(np.argmax([t.value for t in subject.targets]))
    assert subject.default_target == predicted
    assert d["target"] == subject.targets[predicted].label
    assert d["planned_evaluations"] >= 1
    assert set(d["options"]) == {o.name for o in METHODS[method].options}
    if method != "attention":
        assert any(s != 0 for s in expl.row()), "every score is zero"


@pytest.mark.parametrize("method", list(METHODS))
def test_chinese_input_is_explained_per_jieba_word(subject_factory, method: str) -> None:
    subject = subject_factory(CHINESE)
    expl = explain(subject, method, SMALL)
    check_explanation(expl, CHINESE, method)
    units = [u.text for u in expl.units]
    assert "".join(u for u in units if u != "，") == CHINESE.replace("，", "")
    assert any(len(u) >= 2 for u in units), f"only single characters: {units}"
    assert len(units) < len(CHINESE)


@pytest.mark.parametrize("method", list(METHODS))
def test_single_word_input(subject_factory, method: str) -> None:
    """A one-word review ("great") is ordinary input: every method explains it."""
    subject = subject_factory("great")
    expl = explain(subject, method, SMALL)
    check_explanation(expl, "great", method)


def test_shap_on_a_text_equal_to_the_mask_token(subject_factory, loaded) -> None:
    """Typing the tokenizer's mask token: the model reads it as one piece, so its three words
    ("[", "MASK", "]") are one unit, explained like any other (never silently dropped)."""
    mask = loaded.tokenizer.mask_token
    assert mask
    subject = subject_factory(mask + " good")
    expl = explain(subject, "shap", SMALL)
    check_explanation(expl, mask + " good", "shap", words=[text.Span(mask, 0, len(mask)),
                                                          text.Span("good", len(mask) + 1, len(mask) + 5)])


@pytest.mark.parametrize("method", ["attention", "integrated_gradients", "lime"])
def test_long_input_is_truncated_and_explained_over_the_words_the_model_read(subject_factory, method: str) -> None:
    source = " ".join(["good", "bad"] * 160)  # 320 words > max_tokens pieces
    subject = subject_factory(source)
    assert subject.truncated
    assert subject.gradient.input_ids.shape[1] == LIMITS.max_tokens
    words = text.words(source)
    read = words[: len(subject.units)]
    assert 0 < len(read) < len(words)  # words past the cut never reach the model: not explained
    expl = explain(subject, method, SMALL, units="word")
    check_explanation(expl, source, method, words=read)
    assert expl.truncated and expl.to_dict()["truncated"]


def test_progress_reports_fractions(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    seen: list[tuple[float, str]] = []
    explain(subject, "lime", SMALL, progress=lambda f, name: seen.append((f, name)))
    assert seen
    assert all(0.0 <= f <= 1.0 and name == "lime" for f, name in seen)
    assert seen[-1][0] == 1.0
    assert subject.score.progress is None and subject.score.stop is None  # detached afterwards


def test_planned_evaluations_match_what_ran(subject_factory) -> None:
    for short in ("good", "good bad movie"):  # one unit; every coalition within the budget
        subject = subject_factory(short)
        assert explain(subject, "kernel_shap", SMALL).evaluations == planned_evaluations(subject, "kernel_shap", SMALL)
    fixed = {**SMALL, "converge": 0}  # KernelSHAP at exactly its budget (a converging run's plan is an estimate)
    for method in ("feature_ablation", "integrated_gradients", "gradient_x_input", "attention", "kernel_shap"):
        subject = subject_factory(ENGLISH)
        planned = planned_evaluations(subject, method, fixed)
        subject.score.cache.clear()  # every row runs (none is answered from an earlier run)
        assert explain(subject, method, fixed).evaluations == planned, method


# ---- options and clamping ----------------------------------------------------------------

OPT = Option("budget", default=50, minimum=20, maximum=5000, label="opt_x")


@pytest.mark.parametrize(
    "value, want",
    [
        (10**9, 5000),
        (-7, 20),
        (0, 20),
        (float("nan"), 50),
        (float("inf"), 5000),
        (float("-inf"), 20),
        ("lots", 50),
        ("", 50),
        (None, 50),
        ([1, 2], 50),
        ({"a": 1}, 50),
        ("300", 300),
        ("1e9", 5000),
        ("1e999", 5000),
        (123.6, 124),
        (np.float32(77.0), 77),
        # an integer too large for a float is still just "huge" (JSON allows such integers)
        pytest.param(10**400, 5000, id="int-1e400"),
        pytest.param(-(10**400), 20, id="int-minus-1e400"),
    ],
)
def test_option_clamp(value: object, want: int) -> None:
    got = OPT.clamp(value)
    assert got == want
    assert type(got) is int
    assert OPT.minimum <= got <= OPT.maximum


def test_resolve_fills_defaults_and_drops_unknown_names() -> None:
    lime = get_method("lime")
    assert lime.resolve(None) == {o.name: o.default for o in lime.options}
    assert lime.resolve({"lime_samples": 25, "ig_steps": 100, "bogus": 1}) == {"lime_samples": 25, "seed": 0,
                                                                                "converge": 1, "max_seconds": 20}


def test_explain_clamps_absurd_options(subject_factory) -> None:
    # Three words: every perturbation repeats, so the maximum budgets stay cheap.
    huge = {o.name: 10**12 for m in METHODS.values() for o in m.options}
    for name, m in METHODS.items():
        subject = subject_factory("good bad movie")
        expl = explain(subject, name, huge)
        assert expl.options == {o.name: o.maximum for o in m.options}
        check_explanation(expl, "good bad movie", name)
        assert expl.evaluations <= 2**3 + 1 or name == "integrated_gradients"  # repeated coalitions run once
    tiny = {"ig_steps": -5, "lime_samples": float("nan"), "shap_evals": "many", "kernel_shap_samples": None, "seed": -1}
    subject = subject_factory("good bad movie")
    assert explain(subject, "integrated_gradients", tiny).options == {"ig_steps": 4}
    converging = {"seed": 0, "converge": 1, "max_seconds": 20}  # the budget is the cap of a converging run
    assert explain(subject, "lime", tiny).options == {"lime_samples": 5000, **converging}
    assert explain(subject, "shap", tiny).options == {"shap_evals": 5000, **converging}
    assert explain(subject, "kernel_shap", tiny).options == {"kernel_shap_samples": 5000, **converging}


def test_ig_steps_reach_the_method(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    assert explain(subject, "integrated_gradients", {"ig_steps": 6}).evaluations == 8
    assert explain(subject, "integrated_gradients", {"ig_steps": 10}).evaluations == 12


def test_ig_explains_long_outputs_too(subject_factory) -> None:
    """The old per-token IG refused more than 24 output tokens; one forward per chunk of steps
    serves every target now, so nothing is refused (see tests/explain/test_llm.py)."""
    subject = subject_factory(ENGLISH)
    assert explain(subject, "integrated_gradients", {"ig_steps": 4}, target="all").matrix.shape == (2, len(subject.units))


# ---- determinism -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lime", "kernel_shap", "shap"])
def test_same_seed_same_scores(subject_factory, method: str) -> None:
    a = explain(subject_factory(ENGLISH), method, {**SMALL, "seed": 7})
    b = explain(subject_factory(ENGLISH), method, {**SMALL, "seed": 7})
    np.testing.assert_array_equal(a.matrix, b.matrix)
    if method != "shap":  # shap uses the seed for ties only
        c = explain(subject_factory(ENGLISH), method, {**SMALL, "seed": 8})
        assert not np.array_equal(c.matrix, a.matrix), "the seed is not used"


def test_attention_is_deterministic(subject_factory) -> None:
    a = explain(subject_factory(ENGLISH), "attention")
    b = explain(subject_factory(ENGLISH), "attention")
    np.testing.assert_array_equal(a.matrix, b.matrix)


def test_lime_reports_its_fit(subject_factory) -> None:
    e = explain(subject_factory(ENGLISH), "lime", {**SMALL, "converge": 0})
    assert set(e.convergence) == {"fit_r2", "half_spearman", "seed_spearman", "converged", "stopped_by", "samples"}
    assert -1.0 <= e.convergence["half_spearman"] <= 1.0 and e.extras["samples"] == SMALL["lime_samples"]
    assert e.convergence["samples"] == SMALL["lime_samples"] and e.convergence["stopped_by"] == "budget"


# ---- integrated gradients ----------------------------------------------------------------


def test_ig_convergence_delta_and_completeness(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    expl = explain(subject, "integrated_gradients", {"ig_steps": 32})
    delta = expl.to_dict()["convergence"]["delta"]
    assert isinstance(delta, float) and math.isfinite(delta) and delta >= 0
    # completeness: word scores add up to p(input) - p(baseline), up to the reported delta
    view = subject.gradient
    t = subject.default_target
    with torch.no_grad():
        p_in = view.run(1)[0, t].item()
        emb = view.layer(view.baseline_ids)
        handle = view.layer.register_forward_hook(lambda _m, _a, _o: emb)
        try:
            p_base = view.run(1)[0, t].item()
        finally:
            handle.remove()
    assert p_in == pytest.approx(subject.targets[t].value, abs=1e-5)  # the prediction the user saw
    assert abs(expl.row().sum() - (p_in - p_base)) <= delta + 1e-5


def test_ig_baseline_keeps_only_special_tokens(subject_factory, loaded) -> None:
    subject = subject_factory(ENGLISH)
    ids = subject.gradient.input_ids[0].tolist()
    base = subject.gradient.baseline_ids[0].tolist()
    special = loaded.tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
    for i, b, sp in zip(ids, base, special):
        assert b == (i if sp else loaded.tokenizer.pad_token_id)
    assert subject.gradient.baseline == loaded.tokenizer.pad_token


# ---- targets and errors ------------------------------------------------------------------


@pytest.mark.parametrize("target", ["positive", "negative", "POSITIVE", 0, 1])
def test_explaining_a_chosen_target(subject_factory, target) -> None:
    subject = subject_factory(ENGLISH)
    want = target if isinstance(target, int) else ["negative", "positive"].index(target.lower())
    for method in ("integrated_gradients", "lime"):
        expl = explain(subject, method, SMALL, target=target)
        assert [t.label for t in expl.targets] == [["negative", "positive"][want]]
        assert expl.to_dict()["target"] == ["negative", "positive"][want]


def test_non_predicted_target_changes_the_explanation(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    predicted = subject.targets[subject.default_target].label
    other = "positive" if predicted == "negative" else "negative"
    a = explain(subject, "integrated_gradients", SMALL)
    b = explain(subject, "integrated_gradients", SMALL, target=other)
    assert b.targets[0].label == other != a.targets[0].label
    # two classes and softmax: the other class's attributions are the negation
    np.testing.assert_allclose(b.row(), -a.row(), atol=1e-6)
    both = explain(subject, "integrated_gradients", SMALL, target="all")
    np.testing.assert_allclose(both.row(predicted), a.row(), atol=1e-7)


@pytest.mark.parametrize("name", ["gradcam", "", "LIME ", "__init__"])
def test_unknown_method(subject_factory, name: str) -> None:
    subject = subject_factory(ENGLISH)
    if name.strip().lower() in METHODS:
        assert explain(subject, name, {"lime_samples": 20}).method == "lime"
        return
    with pytest.raises(InputError) as err:
        explain(subject, name)
    assert err.value.key == "bad_method"
    for m in METHODS:
        assert m in str(err.value)


@pytest.mark.parametrize("target", ["neutral", "1", "<b>x</b>", 2, -1, True])
def test_unknown_target(subject_factory, target) -> None:
    with pytest.raises(InputError) as err:
        explain(subject_factory(ENGLISH), "lime", SMALL, target=target)
    assert err.value.key == "bad_target"
    assert "positive" in str(err.value) and "negative" in str(err.value)


def test_unknown_units(subject_factory) -> None:
    with pytest.raises(InputError) as err:
        explain(subject_factory(ENGLISH), "feature_ablation", units="letters")
    assert err.value.key == "bad_units"


def test_a_method_the_subject_cannot_run_is_refused(subject_factory) -> None:
    subject = dataclasses.replace(subject_factory(ENGLISH), gradient=None)
    assert "integrated_gradients" not in methods_for(subject)
    with pytest.raises(InputError) as err:
        explain(subject, "integrated_gradients")
    assert err.value.key == "method_unsupported"
    empty = dataclasses.replace(subject_factory(ENGLISH), units=[])
    with pytest.raises(InputError) as err:
        explain(empty, "lime")
    assert err.value.key == "nothing_to_explain"


# ---- attention rollout -------------------------------------------------------------------


def _attentions(subject) -> np.ndarray:
    layers: list[np.ndarray] = []
    subject.attention.each_layer(lambda w: layers.append(w.detach().float().cpu().numpy()))
    return np.stack(layers)


def test_rollout_rows_sum_to_one_on_model_attention(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    att = _attentions(subject)
    n = subject.gradient.input_ids.shape[1]
    assert att.shape[2:] == (n, n)
    r = rollout(att)
    assert r.shape == (n, n)
    np.testing.assert_allclose(r.sum(axis=-1), 1.0, atol=1e-5)
    assert (r >= 0).all()


def test_rollout_of_uniform_attention() -> None:
    n = 5
    att = np.full((3, 2, n, n), 1.0 / n)
    r = rollout(att)
    assert r.shape == (n, n)
    np.testing.assert_allclose(r.sum(axis=-1), 1.0)
    # identity attention rolls out to the identity
    eye = np.broadcast_to(np.eye(n), (2, 4, n, n))
    np.testing.assert_allclose(rollout(eye), np.eye(n))


def test_attention_scores_are_the_pooled_rollout_row(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    expl = explain(subject, "attention", {"skip_sink": 0})
    flow = rollout(_attentions(subject))[0]  # the [CLS] row: what the classifier reads
    pooled = np.zeros(len(subject.units))
    for p, u in enumerate(subject.attention.column_unit):
        if u is not None:
            pooled[u] += flow[p]
    np.testing.assert_allclose(expl.row(), pooled, atol=1e-6)
    assert expl.extras["layers"] == 2 and expl.extras["heads"] == 4 and expl.extras["shown"] == "rollout"
    skipped = explain(subject, "attention")  # the default: [CLS]'s column left out, the row sums to 1
    assert skipped.row().sum() == pytest.approx(1.0)
    one = explain(subject, "attention", {"attention_layer": 1, "attention_head": 2, "skip_sink": 0})
    assert one.extras["shown"] == "layer 1" and one.extras["head"] == 2


@pytest.mark.parametrize(("method", "options"), [("lime", {"lime_samples": 5000}),
                                                 ("integrated_gradients", {"ig_steps": 256})])
def test_stop_ends_a_running_job_between_batches(subject_factory, method: str, options: dict) -> None:
    """Stop pressed while a long job runs: the job ends at its next batch with Stopped, long
    before its plan (the model is then free for the next request)."""
    import threading

    from playground.explain import Stopped

    subject = subject_factory("I loved this movie, the acting was wonderful and the story kept me hooked until the end.")
    if method == "integrated_gradients":
        subject.gradient.max_rows = 4  # several chunks, so there is a "between"
    stop = threading.Event()
    seen: list[float] = []

    def progress(fraction: float, _name: str) -> None:
        seen.append(fraction)
        stop.set()  # the user presses Stop as soon as the job shows progress

    with pytest.raises(Stopped):
        explain(subject, method, options, progress=progress, stop=stop)
    assert seen and max(seen) < 0.5  # it ended early, not after running its plan
    after = explain(subject, "feature_ablation")  # the same model answers the next request
    assert after.evaluations == len(subject.units) + 1
