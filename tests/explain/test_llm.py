"""playground.explain.llm, the one Subject of generated text (decoders here; encoder-decoders in
tests/tasks/test_seq2seq.py), on the tiny decoders and (slow) on the real offline SmolLM2:
shapes, offsets, determinism, budgets, errors, output words, and the numbers themselves checked
against the model run by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from playground import config, models, text
from playground.errors import InputError
from playground.explain import METHODS, explain, llm
from playground.tasks import generation as gen

USER = "I loved this movie, 真的很好"
TINY = {"ig_steps": 4, "lime_samples": 24, "shap_evals": 24, "kernel_shap_samples": 24}


def encode(tok, prompt_text: str) -> list[int]:
    return list(tok(prompt_text, add_special_tokens=False)["input_ids"])


def _greedy(loaded, prompt_text: str, n: int) -> list[int]:
    ids = encode(loaded.tokenizer, prompt_text)
    out = loaded.model.generate(
        torch.tensor([ids], device=loaded.device),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=loaded.device),
        max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=loaded.tokenizer.pad_token_id,
    )
    return out[0, len(ids):].tolist()


def _case(key: str, user: str = USER, n_out: int = 3, profile: str = "tiny"):
    spec = config.spec_by_key("generation", key, profile)
    loaded = models.load(spec)
    if spec.chat:
        prompt = loaded.tokenizer.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True, tokenize=False)
    else:
        prompt = user
    start = prompt.index(user)
    return loaded, prompt, (start, start + len(user)), _greedy(loaded, prompt, n_out)


def subject(loaded, prompt: str, span: tuple[int, int], out: list[int]):
    return llm.subject(loaded, llm.LLMInput(model_text=prompt, parts=[("prompt", *span)], output_ids=list(out)), "generation")


def attribute(loaded, prompt, span, out, method, options=None, target="all"):
    return explain(subject(loaded, prompt, span, out), method, options, target=target, units="word")


@pytest.fixture(scope="module")
def llama():
    return _case("tiny-llama")


@pytest.fixture(scope="module")
def gpt2():
    return _case("tiny-gpt2")


@pytest.fixture
def full_precision():
    """Scoring in fp32 (no bf16 autocast), to compare with plain forwards."""
    saved = {}

    def off(loaded):
        saved[id(loaded)] = (loaded, loaded.autocast)
        loaded.autocast = None

    yield off
    for loaded, value in saved.values():
        loaded.autocast = value


def _teacher_forced(loaded, prompt_ids: list[int], output_ids: list[int]) -> np.ndarray:
    """log p(output_i | prompt, output_<i), one plain full-precision forward, no batching."""
    with torch.no_grad():
        logits = loaded.model(torch.tensor([prompt_ids + output_ids], device=loaded.device)).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return np.array([float(logp[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(output_ids)])


def _output_words(loaded, out: list[int]):
    return llm.token_words(llm.output_token_texts(loaded.tokenizer, out))


def _check_shape(result, user: str, span: tuple[int, int], loaded, out: list[int]) -> None:
    words = text.words(user)
    out_words, _ = _output_words(loaded, out)
    assert result.matrix.shape == (1 + len(out_words), len(words))
    assert np.isfinite(result.matrix).all()
    assert [(u.text, u.start, u.end) for u in result.units] == [(w.text, w.start, w.end) for w in words]
    assert all(user[u.start : u.end] == u.text and u.part == "prompt" for u in result.units)  # offsets into the user's prompt
    assert [t.label for t in result.targets] == ["output"] + [f"word:{j}" for j in range(len(out_words))]
    assert result.evaluations > 0 and result.seconds >= 0
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["words"][0] == {"text": words[0].text, "start": words[0].start, "end": words[0].end, "part": "prompt"}
    assert np.allclose(np.array(data["matrix"]), result.matrix)
    assert data["output_words"] == [w.to_dict() for w in out_words]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_on_the_chat_model_is_deterministic(llama, method: str) -> None:
    loaded, prompt, span, out = llama
    assert prompt != USER and prompt.startswith("<|im_start|>user")  # the chat template around it
    first = attribute(loaded, prompt, span, out, method, TINY)
    _check_shape(first, USER, span, loaded, out)
    assert first.method == method
    assert first.options == METHODS[method].resolve(TINY)
    again = attribute(loaded, prompt, span, out, method, TINY)
    assert np.array_equal(first.matrix, again.matrix)
    assert first.evaluations == again.evaluations


@pytest.mark.parametrize("method", ["feature_ablation", "integrated_gradients", "shap", "attention"])
def test_plain_prompt_on_gpt2(gpt2, method: str) -> None:
    loaded, prompt, span, out = gpt2
    assert prompt == USER and span == (0, len(USER))
    result = attribute(loaded, prompt, span, out, method, TINY)
    _check_shape(result, USER, span, loaded, out)


def test_start_token_written_in_front_is_kept_and_never_a_word(gpt2) -> None:
    """Plain mode with the tokenizer's start token written into the prompt text (as the
    generation task does for Gemma's <bos>): it is read as the special token, once, and never
    scored nor perturbed."""
    loaded = gpt2[0]
    bos = loaded.tokenizer.bos_token
    prompt = bos + USER
    ids = encode(loaded.tokenizer, prompt)
    assert ids[0] == loaded.tokenizer.bos_token_id and ids[1] != loaded.tokenizer.bos_token_id
    out = _greedy(loaded, prompt, 2)
    span = (len(bos), len(prompt))
    for method in ("integrated_gradients", "feature_ablation"):
        result = attribute(loaded, prompt, span, out, method, TINY)
        _check_shape(result, USER, span, loaded, out)
    s = subject(loaded, prompt, span, out)
    assert s.gradient.position_unit[0] is None  # the start token stays fixed
    assert int(s.gradient.baseline_ids[0, 0]) == loaded.tokenizer.bos_token_id


def test_feature_ablation_is_the_log_probability_lost_without_each_word(llama, full_precision) -> None:
    loaded, prompt, span, out = llama
    full_precision(loaded)
    s = subject(loaded, prompt, span, out)
    s.score.cache.clear()
    result = explain(s, "feature_ablation", target="all", units="word")
    words = result.units
    assert result.evaluations == len(words) + 1  # the prompt itself, then each word removed once
    _, token_word = _output_words(loaded, out)
    full = _teacher_forced(loaded, encode(loaded.tokenizer, prompt), out)
    start = span[0]
    for j, w in enumerate(words[:3]):
        # The word goes with the whitespace before it: "I loved this" -> "I this".
        cut = start + (words[j - 1].end if j else 0)
        without = prompt[:cut] + prompt[start + w.end :]
        if j == 1:
            assert without[start:].startswith("I this movie, 真的很好<|im_end|>")
        lost = full - _teacher_forced(loaded, encode(loaded.tokenizer, without), out)
        assert result.matrix[0, j] == pytest.approx(lost.sum(), abs=1e-4)  # the whole output
        for k in range(len(result.targets) - 1):  # each output word: the sum of its tokens
            want = sum(v for v, wk in zip(lost, token_word) if wk == k)
            assert result.matrix[1 + k, j] == pytest.approx(want, abs=1e-4)


def test_word_targets_add_up_to_the_whole_output(llama) -> None:
    loaded, prompt, span, out = llama
    s = subject(loaded, prompt, span, out)
    values = [t.value for t in s.targets]
    assert values[0] == pytest.approx(sum(values[1:]), abs=1e-4)
    full = _teacher_forced(loaded, encode(loaded.tokenizer, prompt), out)
    assert values[0] == pytest.approx(full.sum(), abs=0.05)  # bf16 scoring where the CPU has it
    for method in ("feature_ablation", "integrated_gradients"):
        e = explain(s, method, TINY, target="all")
        np.testing.assert_allclose(e.matrix[0], e.matrix[1:].sum(axis=0), atol=1e-4)


def test_exact_kernel_shap_on_a_short_prompt_adds_up(gpt2, full_precision) -> None:
    """Three words and a budget above 2**3: exact Shapley values, whose rows add up to
    log p(output | prompt) - log p(output | every word removed: the start token alone)."""
    loaded = gpt2[0]
    full_precision(loaded)
    prompt = "I loved it"
    out = _greedy(loaded, prompt, 2)
    result = attribute(loaded, prompt, (0, len(prompt)), out, "kernel_shap", {"kernel_shap_samples": 16})
    assert result.convergence["stopped_by"] == "exact" and result.convergence["converged"] is True
    assert result.evaluations <= 2**3
    full = _teacher_forced(loaded, encode(loaded.tokenizer, prompt), out)
    empty = _teacher_forced(loaded, [loaded.tokenizer.bos_token_id], out)  # nothing left: BOS alone
    assert result.matrix[0].sum() == pytest.approx((full - empty).sum(), abs=1e-4)


def test_integrated_gradients_completeness(llama) -> None:
    """IG's scores add up (nearly, at a finite step count) to log p(output | prompt) minus
    log p(output | the user's tokens all replaced by the baseline token), the template kept."""
    loaded, prompt, span, out = llama
    s = subject(loaded, prompt, span, out)
    result = explain(s, "integrated_gradients", {"ig_steps": 64}, target="all")
    ids = encode(loaded.tokenizer, prompt)
    baseline = s.gradient.baseline_ids[0, : len(ids)].tolist()
    assert s.gradient.input_ids[0, : len(ids)].tolist() == ids and baseline != ids
    assert [a for a, b in zip(ids, baseline) if a == b]  # the chat template is kept
    assert len([u for u in s.gradient.position_unit if u is not None]) > len(result.units)  # Chinese: several byte tokens a word
    by_hand = _teacher_forced(loaded, ids, out) - _teacher_forced(loaded, baseline, out)
    gap = by_hand.sum()
    assert result.matrix[0].sum() == pytest.approx(gap, abs=2e-3 + 0.02 * abs(gap))
    assert result.evaluations == 64 + 2
    assert all(p.grad is None for p in loaded.model.parameters())  # gradients w.r.t. the embeddings only


def test_integrated_gradients_explains_a_long_output_at_the_cost_of_one_target() -> None:
    """The old engine refused IG above 24 output tokens (one integration per token); now every
    target comes from the same forwards, so a long output is explained, at ig_steps + 2 rows."""
    loaded = models.load(config.spec_by_key("generation", "tiny-gpt2", "tiny"))
    prompt = "I loved this movie"
    out = _greedy(loaded, prompt, 30)
    result = attribute(loaded, prompt, (0, len(prompt)), out, "integrated_gradients", {"ig_steps": 4})
    assert result.matrix.shape[1] == 4 and np.isfinite(result.matrix).all()
    assert result.evaluations == 4 + 2
    fa = attribute(loaded, prompt, (0, len(prompt)), out, "feature_ablation")
    assert fa.matrix.shape == result.matrix.shape  # a batch of rows per word, whatever the output length


def test_lime_and_shap_share_samples_across_targets(llama) -> None:
    loaded, prompt, span, out = llama
    for method, option in (("lime", "lime_samples"), ("shap", "shap_evals"), ("kernel_shap", "kernel_shap_samples")):
        s = subject(loaded, prompt, span, out)
        result = explain(s, method, {option: 20}, target="all")
        assert len(result.targets) > 1
        assert 0 < result.evaluations <= 22  # not 20 per target (+ the input and, for KernelSHAP, the background)
        other = explain(subject(loaded, prompt, span, out), method, {option: 20, "seed": 1}, target="all")
        if method != "shap":  # shap's seed breaks ties only
            assert not np.array_equal(result.matrix, other.matrix)  # the seed picks the samples


def test_progress_is_reported(gpt2) -> None:
    loaded, prompt, span, out = gpt2
    seen: list[tuple[float, str]] = []
    explain(subject(loaded, prompt, span, out), "feature_ablation", progress=lambda f, m: seen.append((f, m)))
    assert seen and all(0 <= f <= 1 and m == "feature_ablation" for f, m in seen)
    assert seen[-1][0] == 1.0


def test_options_are_clamped(gpt2) -> None:
    converging = {"converge": 1, "max_seconds": 20}
    assert METHODS["lime"].resolve({"lime_samples": 10**9, "seed": -5}) == {"lime_samples": 10000, "seed": 0, **converging}
    assert METHODS["integrated_gradients"].resolve({"ig_steps": 10**9}) == {"ig_steps": 256}
    assert METHODS["integrated_gradients"].resolve({"ig_steps": "x", "junk": 1}) == {"ig_steps": 16}
    assert METHODS["shap"].resolve({"shap_evals": float("nan")}) == {"shap_evals": 5000, "seed": 0, **converging}
    assert METHODS["feature_ablation"].resolve({"anything": 3}) == {}
    loaded, prompt, span, out = gpt2
    s = subject(loaded, prompt, span, out[:1])
    result = explain(s, "shap", {"shap_evals": 10**9})
    assert result.options["shap_evals"] == 10000
    assert result.evaluations <= 2 ** len(result.units)  # repeated coalitions run once


def test_bad_method_target_and_empty_output_are_input_errors(gpt2) -> None:
    loaded, prompt, span, out = gpt2
    s = subject(loaded, prompt, span, out)
    with pytest.raises(InputError) as err:
        explain(s, "gradcam")
    assert err.value.key == "bad_method"
    with pytest.raises(InputError) as err:
        explain(s, "lime", TINY, target="word:99")
    assert err.value.key == "bad_target"
    r = gen.generate("Hello", "tiny-gpt2", max_new_tokens=2, temperature=0)
    r.output_ids = []
    with pytest.raises(InputError) as err:
        gen.subject(r)
    assert err.value.key == "nothing_generated"


def test_output_tokens_are_readable(gpt2) -> None:
    loaded = gpt2[0]
    ids = loaded.tokenizer("Hello 天气\n", add_special_tokens=False)["input_ids"]
    pieces = llm.output_token_texts(loaded.tokenizer, ids)
    assert len(pieces) == len(ids)
    assert "".join(pieces) == "Hello 天气\n" and "\ufffd" not in "".join(pieces)


def test_bytes_no_token_completes_still_make_one_word(gpt2) -> None:
    """Lone bytes (a random model writes them) decode to "\ufffd": they are shown, and the
    words one token spans are one word, so every word target owns a token."""
    tok = gpt2[0].tokenizer
    ids = tok("é)", add_special_tokens=False)["input_ids"]
    lone = [ids[0]] if len(tok.decode([ids[0]])) and tok.decode([ids[0]]).endswith("\ufffd") else None
    if lone is None:
        lone = [tok.convert_tokens_to_ids(tok.convert_ids_to_tokens(ids)[0])]
    out = lone * 2 + tok(")", add_special_tokens=False)["input_ids"] * 2
    pieces = llm.output_token_texts(tok, out)
    assert "".join(pieces) == tok.decode(out)
    words, word_of = llm.token_words(pieces)
    assert all(w is not None for w in word_of)
    assert set(word_of) == set(range(len(words)))  # every word owns at least one token
    trailing = llm.output_token_texts(tok, lone * 3)  # never completed at all
    assert "".join(trailing) == tok.decode(lone * 3) and trailing[-1]


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
    assert llm.output_token_texts(loaded.tokenizer, out)[0] == " Paris"
    s = subject(loaded, prompt, (0, len(prompt)), out)
    assert s.targets[1].text == "Paris"
    result = explain(s, "feature_ablation", target="all", units="word")
    assert [u.text for u in result.units] == ["The", "capital", "of", "France", "is"]
    paris = dict(zip([u.text for u in result.units], result.row("word:0")))
    assert min(paris.values()) > 2.0
    assert min(paris["capital"], paris["France"]) > max(paris["The"], paris["of"])
    whole = result.row("output")
    assert result.units[int(np.argmax(whole))].text == "is"
