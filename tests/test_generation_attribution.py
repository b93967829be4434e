"""Per-generated-token attribution (playground.explain.generation_attribution) on the tiny
decoders, and (slow) on the real offline SmolLM2: shapes, offsets, determinism, budgets, errors,
and the numbers themselves checked against the model run by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from playground import config, models, text
from playground.errors import InputError
from playground.explain import generation_attribution as ga

USER = "I loved this movie, 真的很好"
TINY = {"ig_steps": 4, "lime_samples": 24, "shap_evals": 24}


def _greedy(loaded, prompt_text: str, n: int) -> list[int]:
    ids = ga.encode_prompt(loaded.tokenizer, prompt_text)
    out = loaded.model.generate(
        torch.tensor([ids], device=loaded.device),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=loaded.device),
        max_new_tokens=n,
        do_sample=False,
        pad_token_id=loaded.tokenizer.pad_token_id,
    )
    return out[0, len(ids):].tolist()


def _case(key: str, user: str = USER, n_out: int = 3):
    spec = config.spec_by_key("generation", key, "tiny")
    loaded = models.load(spec)
    if spec.chat:
        prompt = loaded.tokenizer.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True, tokenize=False)
    else:
        prompt = user
    start = prompt.index(user)
    return loaded, prompt, (start, start + len(user)), _greedy(loaded, prompt, n_out)


@pytest.fixture(scope="module")
def llama():
    return _case("tiny-llama")


@pytest.fixture(scope="module")
def gpt2():
    return _case("tiny-gpt2")


def _teacher_forced(loaded, prompt_ids: list[int], output_ids: list[int]) -> np.ndarray:
    """log p(output_i | prompt, output_<i), one plain full-precision forward, no batching."""
    with torch.no_grad():
        logits = loaded.model(torch.tensor([prompt_ids + output_ids], device=loaded.device)).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return np.array([float(logp[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(output_ids)])


def _check_shape(result: ga.GenerationAttribution, user: str, output_ids: list[int]) -> None:
    words = text.words(user)
    assert result.matrix.shape == (len(output_ids), len(words))
    assert np.isfinite(result.matrix).all()
    assert [(w.text, w.start, w.end) for w in result.words] == [(w.text, w.start, w.end) for w in words]
    assert all(user[w.start : w.end] == w.text for w in result.words)  # offsets into the user's prompt
    assert len(result.output_tokens) == len(output_ids)
    assert result.evaluations > 0 and result.seconds >= 0
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) == {"method", "words", "output_tokens", "matrix", "evaluations", "seconds", "options"}
    assert data["words"][0] == {"text": words[0].text, "start": words[0].start, "end": words[0].end}
    assert np.allclose(np.array(data["matrix"]), result.matrix)
    assert np.allclose(result.for_output(None), result.matrix.sum(axis=0))
    assert np.array_equal(result.for_output(len(output_ids) - 1), result.matrix[-1])


@pytest.mark.parametrize("method", ga.METHODS)
def test_every_method_on_the_chat_model_is_deterministic(llama, method: str) -> None:
    loaded, prompt, span, out = llama
    assert prompt != USER and prompt.startswith("<|im_start|>user")  # the chat template around it
    first = ga.attribute(loaded, prompt, span, out, method, TINY)
    _check_shape(first, USER, out)
    assert first.method == method
    assert first.options == ga.resolve_options(method, TINY)
    again = ga.attribute(loaded, prompt, span, out, method, TINY)
    assert np.array_equal(first.matrix, again.matrix)
    assert first.evaluations == again.evaluations


@pytest.mark.parametrize("method", ["feature_ablation", "integrated_gradients", "shap"])
def test_plain_prompt_on_gpt2(gpt2, method: str) -> None:
    loaded, prompt, span, out = gpt2
    assert prompt == USER and span == (0, len(USER))
    result = ga.attribute(loaded, prompt, span, out, method, TINY)
    _check_shape(result, USER, out)


def test_start_token_written_in_front_is_kept_and_never_a_word(gpt2) -> None:
    """Plain mode with the tokenizer's start token written into prompt_text (as the generation
    task does for Gemma's <bos>): it is read as the special token, once, and never scored."""
    loaded = gpt2[0]
    bos = loaded.tokenizer.bos_token
    prompt = bos + USER
    ids = ga.encode_prompt(loaded.tokenizer, prompt)
    assert ids[0] == loaded.tokenizer.bos_token_id and ids[1] != loaded.tokenizer.bos_token_id
    out = _greedy(loaded, prompt, 2)
    for method in ("integrated_gradients", "feature_ablation"):
        result = ga.attribute(loaded, prompt, (len(bos), len(prompt)), out, method, TINY)
        _check_shape(result, USER, out)
    inp, _ = ga._token_input(loaded, prompt, (len(bos), len(prompt)), result.words)
    assert not bool(inp.itp_mask[0, 0])  # the start token stays fixed


def test_feature_ablation_is_the_log_probability_lost_without_each_word(llama) -> None:
    loaded, prompt, span, out = llama
    loaded.autocast, keep = None, loaded.autocast  # full precision, to compare with plain forwards
    try:
        result = ga.attribute(loaded, prompt, span, out, "feature_ablation")
    finally:
        loaded.autocast = keep
    words = result.words
    assert result.evaluations == len(words) + 1  # the prompt itself, then each word removed once
    full = _teacher_forced(loaded, ga.encode_prompt(loaded.tokenizer, prompt), out)
    start = span[0]
    for j, w in enumerate(words[:3]):
        # The word goes with the whitespace before it: "I loved this" -> "I this".
        cut = start + (words[j - 1].end if j else 0)
        without = prompt[:cut] + prompt[start + w.end :]
        if j == 1:
            assert without[start:].startswith("I this movie, 真的很好<|im_end|>")
        expected = full - _teacher_forced(loaded, ga.encode_prompt(loaded.tokenizer, without), out)
        assert np.allclose(result.matrix[:, j], expected, atol=1e-5)


def test_exact_shapley_on_a_short_prompt_adds_up(gpt2) -> None:
    """Three words and a budget of at least 2**3: Captum's exact ShapleyValues, whose rows add
    up to log p(token | prompt) - log p(token | every word removed)."""
    loaded, _, _, _ = gpt2
    prompt = "I loved it"
    out = _greedy(loaded, prompt, 2)
    loaded.autocast, keep = None, loaded.autocast
    try:
        result = ga.attribute(loaded, prompt, (0, len(prompt)), out, "shap", {"shap_evals": 16})
    finally:
        loaded.autocast = keep
    assert result.evaluations == 2**3
    full = _teacher_forced(loaded, ga.encode_prompt(loaded.tokenizer, prompt), out)
    empty = _teacher_forced(loaded, [loaded.tokenizer.bos_token_id], out)  # nothing left: BOS alone
    assert np.allclose(result.matrix.sum(axis=1), full - empty, atol=1e-4)


def test_integrated_gradients_completeness(llama) -> None:
    """IG's scores for a token add up (nearly, at a finite step count) to log p(token | prompt)
    minus log p(token | the user's tokens all replaced by the baseline token)."""
    loaded, prompt, span, out = llama
    result = ga.attribute(loaded, prompt, span, out, "integrated_gradients", {"ig_steps": 64})
    inp, token_word = ga._token_input(loaded, prompt, span, result.words)
    assert len(token_word) == inp.n_itp_features >= len(result.words)  # a Chinese word is several byte tokens
    ids = ga.encode_prompt(loaded.tokenizer, prompt)
    baseline = inp.to_model_input(torch.zeros((1, inp.n_itp_features), dtype=torch.long))[0].tolist()
    assert len(baseline) == len(ids) and baseline != ids
    assert [a for a, b in zip(ids, baseline) if a == b]  # the chat template is kept
    gap = _teacher_forced(loaded, ids, out) - _teacher_forced(loaded, baseline, out)
    assert np.allclose(result.matrix.sum(axis=1), gap, atol=2e-3 + 0.02 * np.abs(gap).max())
    assert result.evaluations == len(out) * (64 + 2)
    assert all(p.grad is None for p in loaded.model.parameters())  # gradients w.r.t. the embeddings only


def test_lime_and_shap_share_samples_across_tokens(llama) -> None:
    loaded, prompt, span, out = llama
    for method, option in (("lime", "lime_samples"), ("shap", "shap_evals")):
        result = ga.attribute(loaded, prompt, span, out, method, {option: 20})
        assert 0 < result.evaluations <= 20  # not 20 per generated token
        other = ga.attribute(loaded, prompt, span, out, method, {option: 20, "seed": 1})
        assert not np.array_equal(result.matrix, other.matrix)  # the seed picks the samples


def test_progress_is_reported(gpt2) -> None:
    loaded, prompt, span, out = gpt2
    seen: list[tuple[float, str]] = []
    ga.attribute(loaded, prompt, span, out, "feature_ablation", progress=lambda f, m: seen.append((f, m)))
    assert seen and all(0 <= f <= 1 and m == "feature_ablation" for f, m in seen)
    assert seen[-1][0] == 1.0


def test_options_are_clamped(gpt2) -> None:
    assert ga.resolve_options("lime", {"lime_samples": 10**9, "seed": -5}) == {"lime_samples": 1000, "seed": 0}
    assert ga.resolve_options("integrated_gradients", {"ig_steps": 10**9}) == {"ig_steps": 128}
    assert ga.resolve_options("integrated_gradients", {"ig_steps": "x", "junk": 1}) == {"ig_steps": 16}
    assert ga.resolve_options("shap", {"shap_evals": float("nan")}) == {"shap_evals": 64, "seed": 0}
    assert ga.resolve_options("feature_ablation", {"anything": 3}) == {}
    for options in ga.OPTIONS.values():
        for o in options:
            assert o.minimum <= o.default <= o.maximum and o.label.startswith("opt_")
    loaded, prompt, span, out = gpt2
    result = ga.attribute(loaded, prompt, span, out[:1], "shap", {"shap_evals": 10**9})
    assert result.options["shap_evals"] == 1000
    assert result.evaluations <= 2 ** len(result.words)  # repeated coalitions run once


def test_bad_method_and_empty_output_are_input_errors(gpt2) -> None:
    loaded, prompt, span, out = gpt2
    with pytest.raises(InputError) as err:
        ga.attribute(loaded, prompt, span, out, "attention")
    assert err.value.key == "bad_method"
    for empty in ([], None):
        with pytest.raises(InputError) as err:
            ga.attribute(loaded, prompt, span, empty, "feature_ablation")
        assert err.value.key == "nothing_generated"
    with pytest.raises(InputError) as err:
        ga.attribute(loaded, prompt, (5, len(prompt) + 1), out, "feature_ablation")
    assert err.value.key == "bad_span"


def test_output_tokens_are_readable(gpt2) -> None:
    loaded = gpt2[0]
    ids = loaded.tokenizer("Hello 天气\n", add_special_tokens=False)["input_ids"]
    pieces = ga.output_token_texts(loaded.tokenizer, ids)
    assert len(pieces) == len(ids)
    assert "".join(p for p in pieces if p != "\ufffd") == "Hello 天气\n"


@pytest.mark.slow
def test_smollm2_capital_of_france() -> None:
    """The real offline SmolLM2 (plain completion). It answers " Paris". Feature ablation is
    what the model loses when a word is removed; measured here, every word of the prompt is
    needed for " Paris" (removing any lowers its log-probability by 2 nats or more), and
    "capital" and "France" matter more than "The" and "of". France is *not* the top word for the
    whole output: "is" is, because without it the sentence is not ready for an answer at all
    (the model then continues "The capital of France" with ", ..." rather than " Paris")."""
    spec = config.spec_by_key("generation", "smollm2-135m-instruct", "offline")
    loaded = models.load(spec)
    prompt = "The capital of France is"
    out = _greedy(loaded, prompt, 5)
    tokens = ga.output_token_texts(loaded.tokenizer, out)
    assert tokens[0] == " Paris"
    result = ga.attribute(loaded, prompt, (0, len(prompt)), out, "feature_ablation")
    assert [w.text for w in result.words] == ["The", "capital", "of", "France", "is"]
    assert result.evaluations == 6
    paris = dict(zip([w.text for w in result.words], result.for_output(0)))
    assert min(paris.values()) > 2.0
    assert min(paris["capital"], paris["France"]) > max(paris["The"], paris["of"])
    whole = result.for_output(None)
    assert result.words[int(np.argmax(whole))].text == "is"


def test_integrated_gradients_is_bounded_to_a_few_output_tokens() -> None:
    loaded = models.load(config.spec_by_key("generation", "tiny-gpt2", "tiny"))
    prompt = "I loved this movie"
    too_many = [5] * (ga.MAX_IG_OUTPUT_TOKENS + 1)
    with pytest.raises(InputError) as err:
        ga.attribute(loaded, prompt, (0, len(prompt)), too_many, "integrated_gradients")
    assert err.value.key == "ig_too_many_tokens"
    # The perturbation methods cost one batch of rows per word, whatever the output length.
    out = ga.attribute(loaded, prompt, (0, len(prompt)), too_many, "feature_ablation")
    assert out.matrix.shape == (len(too_many), 4)
