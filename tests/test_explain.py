"""playground.explain: every registered method on a tiny-model Subject, option clamping,
determinism, errors, attention rollout."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from playground import text
from playground.config import LIMITS
from playground.errors import InputError
from playground.explain import METHODS, Option, explain, get_method
from playground.explain.attention import rollout

ENGLISH = "I loved this movie, but the ending was terrible."
CHINESE = "今天天气很好，这部电影太棒了"


def check_explanation(expl, source: str, method: str) -> dict:
    words = text.words(source)
    assert expl.method == method
    assert len(expl.scores) == len(expl.tokens) == len(words)
    assert all(math.isfinite(s) for s in expl.scores)
    assert [t.text for t in expl.tokens] == [w.text for w in words]
    for tok in expl.tokens:
        assert source[tok.start : tok.end] == tok.text
    assert expl.evaluations > 0
    assert expl.seconds >= 0
    d = expl.to_dict()
    json.dumps(d, allow_nan=False)  # plain JSON, no NaN, no numpy types
    assert d["method"] == method
    assert len(d["tokens"]) == len(d["scores"]) == len(words)
    assert all(source[t["start"] : t["end"]] == t["text"] for t in d["tokens"])
    assert d["units"] == "word"
    return d


def test_registry_has_the_four_methods() -> None:
    assert set(METHODS) == {"attention", "integrated_gradients", "lime", "shap"}
    for name, m in METHODS.items():
        assert m.name == name
        assert "sentiment" in m.tasks


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_one_finite_score_per_word(subject_factory, small, method: str) -> None:
    subject = subject_factory(ENGLISH)
    expl = explain(subject, method, small)
    d = check_explanation(expl, ENGLISH, method)
    assert d["target"] == subject.target_label
    assert d["target_index"] == int(np.argmax(subject.probabilities))
    assert d["planned_evaluations"] >= 1
    assert set(d["options"]) == {o.name for o in METHODS[method].options}
    if method != "attention":
        assert any(s != 0 for s in expl.scores), "every score is zero"


@pytest.mark.parametrize("method", list(METHODS))
def test_chinese_input_is_explained_per_jieba_word(subject_factory, small, method: str) -> None:
    subject = subject_factory(CHINESE)
    expl = explain(subject, method, small)
    check_explanation(expl, CHINESE, method)
    units = [t.text for t in expl.tokens]
    assert "".join(u for u in units if u != "，") == CHINESE.replace("，", "")
    assert any(len(u) >= 2 for u in units), f"only single characters: {units}"
    assert len(units) < len(CHINESE)


@pytest.mark.parametrize("method", list(METHODS))
def test_single_word_input(subject_factory, small, method: str) -> None:
    """A one-word review ("great") is ordinary input: every method explains it."""
    subject = subject_factory("great")
    expl = explain(subject, method, small)
    check_explanation(expl, "great", method)


def test_shap_on_a_text_equal_to_the_mask_token(subject_factory, small) -> None:
    """The user's text is data: typing the tokenizer's mask token must still be explained
    word by word like any other text."""
    mask = subject_factory("x").mask_token
    assert mask
    subject = subject_factory(mask)
    expl = explain(subject, "shap", small)
    check_explanation(expl, mask, "shap")


@pytest.mark.parametrize("method", ["attention", "integrated_gradients"])
def test_long_input_is_truncated_for_the_model_but_scored_per_word(subject_factory, small, method: str) -> None:
    source = " ".join(["good", "bad"] * 160)  # 320 words > max_tokens pieces
    subject = subject_factory(source)
    assert subject.truncated
    assert subject.input_ids.shape[1] == LIMITS.max_tokens
    expl = explain(subject, method, small)
    check_explanation(expl, source, method)
    assert expl.truncated and expl.to_dict()["truncated"]


def test_progress_reports_fractions(subject_factory, small) -> None:
    subject = subject_factory(ENGLISH)
    seen: list[tuple[float, str]] = []
    explain(subject, "lime", small, progress=lambda f, name: seen.append((f, name)))
    assert seen
    assert all(0.0 <= f <= 1.0 and name == "lime" for f, name in seen)
    assert seen[-1][0] == 1.0
    assert subject.scorer.progress is None  # detached afterwards


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
    assert lime.resolve({"lime_samples": 25, "ig_steps": 100, "bogus": 1}) == {"lime_samples": 25, "seed": 0}


def test_explain_clamps_absurd_options(subject_factory) -> None:
    # Three words: every perturbation repeats, so the maximum budgets stay cheap.
    huge = {"ig_steps": 10**9, "lime_samples": 10**9, "shap_evals": 10**9, "seed": 10**12}
    for name, m in METHODS.items():
        subject = subject_factory("good bad movie")
        expl = explain(subject, name, huge)
        assert expl.options == {o.name: o.maximum for o in m.options}
        check_explanation(expl, "good bad movie", name)
    tiny = {"ig_steps": -5, "lime_samples": float("nan"), "shap_evals": "many", "seed": -1}
    subject = subject_factory("good bad movie")
    assert explain(subject, "integrated_gradients", tiny).options == {"ig_steps": 4}
    assert explain(subject, "lime", tiny).options == {"lime_samples": 300, "seed": 0}
    assert explain(subject, "shap", tiny).options == {"shap_evals": 300, "seed": 0}


def test_ig_steps_reach_the_method(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    assert explain(subject, "integrated_gradients", {"ig_steps": 6}).evaluations == 8
    assert explain(subject, "integrated_gradients", {"ig_steps": 10}).evaluations == 12


# ---- determinism -------------------------------------------------------------------------


def test_lime_same_seed_same_scores(subject_factory, small) -> None:
    a = explain(subject_factory(ENGLISH), "lime", {**small, "seed": 7})
    b = explain(subject_factory(ENGLISH), "lime", {**small, "seed": 7})
    assert a.scores == b.scores
    c = explain(subject_factory(ENGLISH), "lime", {**small, "seed": 8})
    assert c.scores != a.scores, "the seed is not used"


def test_shap_is_deterministic(subject_factory, small) -> None:
    a = explain(subject_factory(ENGLISH), "shap", small)
    b = explain(subject_factory(ENGLISH), "shap", small)
    assert a.scores == b.scores


def test_attention_is_deterministic(subject_factory) -> None:
    a = explain(subject_factory(ENGLISH), "attention")
    b = explain(subject_factory(ENGLISH), "attention")
    assert a.scores == b.scores


# ---- integrated gradients ----------------------------------------------------------------


def test_ig_convergence_delta_and_completeness(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    expl = explain(subject, "integrated_gradients", {"ig_steps": 32})
    d = expl.to_dict()
    delta = d["convergence_delta"]
    assert isinstance(delta, float) and math.isfinite(delta) and delta >= 0
    # completeness: word scores add up to p(input) - p(baseline), up to the reported delta
    with torch.no_grad():
        p_in = subject.forward(subject.input_ids, subject.attention_mask)[0, subject.target_index].item()
        p_base = subject.forward(subject.baseline_ids, subject.attention_mask)[0, subject.target_index].item()
    assert abs(sum(expl.scores) - (p_in - p_base)) <= delta + 1e-5


def test_ig_baseline_keeps_only_special_tokens(subject_factory, loaded) -> None:
    subject = subject_factory(ENGLISH)
    ids = subject.input_ids[0].tolist()
    base = subject.baseline_ids[0].tolist()
    special = loaded.tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
    for i, b, sp in zip(ids, base, special):
        assert b == (i if sp else loaded.tokenizer.pad_token_id)


# ---- targets and errors ------------------------------------------------------------------


@pytest.mark.parametrize("target", ["positive", "negative", "POSITIVE"])
def test_explaining_a_chosen_target(subject_factory, small, target: str) -> None:
    subject = subject_factory(ENGLISH, target=target)
    assert subject.target_label == target.lower()
    for method in ("integrated_gradients", "lime"):
        expl = explain(subject, method, small)
        assert expl.target == target.lower()
        assert expl.target_index == ["negative", "positive"].index(target.lower())


def test_non_predicted_target_changes_the_explanation(subject_factory, small) -> None:
    predicted = subject_factory(ENGLISH)
    other = "positive" if predicted.target_label == "negative" else "negative"
    a = explain(predicted, "integrated_gradients", small)
    b = explain(subject_factory(ENGLISH, target=other), "integrated_gradients", small)
    assert b.target == other != a.target
    # two classes and softmax: the other class's attributions are the negation
    np.testing.assert_allclose(b.scores, [-s for s in a.scores], atol=1e-6)


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


@pytest.mark.parametrize("target", ["neutral", "1", "<b>x</b>"])
def test_unknown_target(subject_factory, target: str) -> None:
    with pytest.raises(InputError) as err:
        subject_factory(ENGLISH, target=target)
    assert err.value.key == "bad_target"
    assert "positive" in str(err.value) and "negative" in str(err.value)


def test_unsupported_task_is_refused(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    subject.task = "translation"
    with pytest.raises(InputError) as err:
        explain(subject, "lime")
    assert err.value.key == "method_unsupported"


# ---- attention rollout -------------------------------------------------------------------


def test_rollout_rows_sum_to_one_on_model_attention(subject_factory) -> None:
    subject = subject_factory(ENGLISH)
    att = subject.attentions()
    n = subject.input_ids.shape[1]
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
    expl = explain(subject, "attention")
    flow = rollout(subject.attentions())[0]
    np.testing.assert_allclose(expl.scores, subject.pool_pieces(flow), atol=1e-6)
    assert expl.extras["layers"] == 2 and expl.extras["heads"] == 4
