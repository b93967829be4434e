"""The Generation tab's engine on the tiny decoders (random weights: the text means nothing, the
mechanics are real): streaming, options, the next-token distributions, Stop, the bounds, and the
attention and logit-lens passes. One slow test asks the real offline SmolLM2 a question."""

from __future__ import annotations

import itertools
import json
import math
import threading

import numpy as np
import pytest
import torch

from playground import config, models
from playground.errors import InputError
from playground.tasks import generation as gen

PROMPT = "Hello there, what is the weather like today?"
CHAT, PLAIN = "tiny-llama", "tiny-gpt2"


@pytest.fixture(scope="module")
def greedy() -> gen.GenerationResult:
    """One greedy chat generation shared by the read-only checks."""
    return gen.generate(PROMPT, CHAT, max_new_tokens=16, temperature=0)


def test_stream_text_grows_and_ends_with_the_result() -> None:
    updates = list(gen.stream(PROMPT, CHAT, max_new_tokens=24, temperature=0))
    assert updates[-1].done and updates[-1].result is not None
    assert not any(u.done for u in updates[:-1])
    for before, after in itertools.pairwise(updates):
        assert after.text.startswith(before.text)
        assert after.n_tokens >= before.n_tokens
    result = updates[-1].result
    assert result.text == updates[-1].text
    assert updates[-1].n_tokens == len(result.output_ids) == len(result.tokens) == len(result.steps)
    assert 1 <= len(result.output_ids) <= 24


@pytest.mark.parametrize("key", [CHAT, PLAIN])
def test_greedy_is_deterministic_and_matches_plain_generate(key: str) -> None:
    first = gen.generate(PROMPT, key, max_new_tokens=12, temperature=0, seed=1)
    again = gen.generate(PROMPT, key, max_new_tokens=12, temperature=0, seed=2)  # seed unused by greedy
    assert first.output_ids == again.output_ids and first.text == again.text
    loaded = gen.model_for(key)
    ids = torch.tensor([first.prompt_ids])
    plain = loaded.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                                  pad_token_id=loaded.tokenizer.pad_token_id)[0, ids.shape[1]:].tolist()
    if first.stop_reason == "eos":
        plain = plain[:-1]
    assert plain == first.output_ids
    # Under greedy decoding the chosen token is the raw distribution's first.
    for step in first.steps:
        assert step.rank == 0 and step.raw[0][1] == step.token_id
        assert step.p_raw == pytest.approx(step.raw[0][2])


def test_sampling_with_a_seed_repeats_and_matches_plain_generate() -> None:
    opts = {"max_new_tokens": 12, "temperature": 1.3, "top_k": 40, "top_p": 0.9, "seed": 1234}
    a = gen.generate(PROMPT, CHAT, **opts)
    b = gen.generate(PROMPT, CHAT, **opts)
    assert a.output_ids == b.output_ids and a.text == b.text
    loaded = gen.model_for(CHAT)
    ids = torch.tensor([a.prompt_ids])
    torch.manual_seed(1234)
    plain = loaded.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=True,
                                  temperature=1.3, top_k=40, top_p=0.9, pad_token_id=loaded.tokenizer.pad_token_id)
    assert plain[0, ids.shape[1]:].tolist()[: len(a.output_ids)] == a.output_ids
    for step in a.steps:  # the processed distribution is what was sampled from: the token is in it
        assert step.p_processed > 0
        assert len(step.processed) <= 10


def test_candidates_are_probabilities(greedy: gen.GenerationResult) -> None:
    for step in greedy.steps:
        for cands in (step.raw, step.processed):
            assert cands and all(0.0 <= p <= 1.0 for _, _, p in cands)
            assert sum(p for _, _, p in cands) <= 1 + 1e-6
            assert [p for _, _, p in cands] == sorted((p for _, _, p in cands), reverse=True)
        assert step.token == step.raw[0][0]


def test_top_k_one_leaves_one_candidate() -> None:
    result = gen.generate(PROMPT, CHAT, max_new_tokens=6, temperature=0.9, top_k=1, seed=5)
    for step in result.steps:
        assert len(step.processed) == 1
        _token, token_id, p = step.processed[0]
        assert p == pytest.approx(1.0) and token_id == step.token_id and step.rank == 0


def test_stop_before_the_start() -> None:
    stop = threading.Event()
    stop.set()
    result = gen.generate(PROMPT, CHAT, stop=stop, max_new_tokens=40, temperature=0)
    assert result.stop_reason == "stopped" and result.output_ids == [] and result.text == ""


class _StopAfter(threading.Event):
    """A real Event that its holder sets after ``n`` looks: the Stop button pressed mid-stream,
    at a point that does not depend on thread timing."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        if self.n < 0:
            self.set()
        return super().is_set()


def test_stop_while_streaming() -> None:
    stop = _StopAfter(4)
    result = gen.generate(PROMPT, CHAT, stop=stop, max_new_tokens=40, temperature=0)
    assert result.stop_reason == "stopped"
    assert 1 <= len(result.output_ids) < 40


def test_max_new_tokens_is_respected(greedy: gen.GenerationResult) -> None:
    assert len(greedy.output_ids) <= 16
    assert greedy.stop_reason in ("max_new_tokens", "eos")
    if greedy.stop_reason == "max_new_tokens":
        assert len(greedy.output_ids) == 16


def test_options_are_clamped_never_raise() -> None:
    o = gen.options(max_new_tokens=10**9, temperature=-5, top_k=math.nan, top_p="x", seed=10**400,
                    repetition_penalty=math.inf, max_time=1e9, unknown="dropped")
    assert (o.max_new_tokens, o.temperature, o.top_k, o.top_p, o.seed) == (256, 0.0, 50, 0.95, 2**31 - 1)
    assert o.repetition_penalty == 2.0 and o.max_time == gen.MAX_TIME_CAP and o.greedy
    o = gen.options(max_new_tokens=-(10**400), temperature="1.5", top_k=-5, top_p=0, seed=-1, max_time=-math.inf)
    assert (o.max_new_tokens, o.temperature, o.top_k, o.top_p, o.seed, o.max_time) == (1, 1.5, 0, 0.05, 0, 1.0)
    assert gen.options() == gen.GenerationOptions()
    assert gen.options(temperature=1e-9).temperature == gen.MIN_TEMPERATURE


def test_chat_mode_needs_a_chat_template() -> None:
    with pytest.raises(InputError) as err:
        gen.generate(PROMPT, PLAIN, mode="chat")
    assert err.value.key == "bad_mode"
    with pytest.raises(InputError) as err:
        gen.options(mode="poem")
    assert err.value.key == "bad_mode_value"
    assert gen.generate(PROMPT, PLAIN, max_new_tokens=2, temperature=0).mode == "plain"  # the default there
    assert gen.generate(PROMPT, CHAT, max_new_tokens=2, temperature=0, mode="plain").prompt_text == PROMPT


@pytest.mark.parametrize("typed", ["no-such-model", "../x", "openai-community/gpt2", 42])
def test_unknown_models_never_reach_the_loader(typed: object, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = models.load
    monkeypatch.setattr(models, "load", lambda spec, *a, **k: seen.append(spec.key) or real(spec, *a, **k))
    with pytest.raises(InputError) as err:
        gen.generate(PROMPT, typed)
    assert err.value.key == "bad_model" and seen == []


@pytest.mark.parametrize(("prompt", "key"), [("", "input_empty"), ("   \n", "input_empty"), (None, "input_not_text"),
                                              ("x" * 2001, "input_too_long"), ("天气" * 900, "prompt_too_long")])
def test_bad_prompts_are_clear_errors(prompt: object, key: str) -> None:
    with pytest.raises(InputError) as err:
        gen.generate(prompt, CHAT)  # type: ignore[arg-type]
    assert err.value.key == key


def test_prepare_finds_the_users_words() -> None:
    loaded = gen.model_for(CHAT)
    # "assistant" also occurs in the template: the span must still be the user's own words.
    for mode, prompt in (("chat", "assistant"), ("chat", PROMPT), ("plain", PROMPT)):
        p = gen.prepare(prompt, mode, loaded)
        s, e = p.user_span
        assert p.prompt_text[s:e] == prompt
        assert p.input_ids == loaded.tokenizer(p.prompt_text, add_special_tokens=False)["input_ids"]
        a, b = p.user_tokens
        assert loaded.tokenizer.decode(p.input_ids[a:b]) == prompt
    chat = gen.prepare(PROMPT, "chat", loaded)
    assert chat.prompt_text == loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False)


def test_attention_in_words_one_eager_pass_rows_sum_to_one(greedy: gen.GenerationResult) -> None:
    from playground import text
    from playground.explain import llm

    loaded = gen.model_for(CHAT)
    tokens, att = gen.attention(greedy, loaded)
    prompt_words = [w.text for w in text.words(greedy.prompt)]
    out_words = [w.text for w in llm.token_words(llm.output_token_texts(loaded.tokenizer, greedy.output_ids))[0]]
    n = len(prompt_words) + len(out_words)
    cfg = loaded.model.config
    # Words of the user's prompt and of the output: never the chat template, never sub-word pieces.
    assert att.shape == (cfg.num_hidden_layers, cfg.num_attention_heads, n, n)
    assert tokens == prompt_words + out_words
    assert not any("<|" in t or "\ufffd" in t for t in tokens[: len(prompt_words)])
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-4)  # renormalised over the words shown
    assert np.allclose(np.triu(att, k=1), 0.0)  # causal, in word order too
    assert loaded.model.config._attn_implementation == "sdpa"  # generation stays on the fast path
    assert not gen.attention(greedy, loaded).truncated
    long = gen.generate(PROMPT, CHAT, max_new_tokens=config.LIMITS.max_attention_tokens * 2, temperature=0)
    view = gen.attention(long)
    assert view.attentions.shape[-1] <= config.LIMITS.max_attention_tokens
    n_long = len(text.words(long.prompt)) + len(llm.token_words(llm.output_token_texts(loaded.tokenizer, long.output_ids))[0])
    assert view.truncated == (n_long > view.attentions.shape[-1])


@pytest.mark.parametrize("key", [CHAT, PLAIN])
def test_logit_lens_one_row_per_layer(key: str) -> None:
    result = gen.generate(PROMPT, key, max_new_tokens=4, temperature=0)
    loaded = gen.model_for(key)
    position = len(result.prompt_ids) - 1  # the last prompt token: it predicts the first answer token
    lens = gen.logit_lens(result, loaded, position, top=3)
    layers = lens["layers"]
    assert [row["layer"] for row in layers] == list(range(1, loaded.model.config.num_hidden_layers + 1))
    for row in layers:
        assert len(row["top"]) == 3 and all(0.0 <= p <= 1.0 for _, p in row["top"])
    # The last layer is the model's real prediction: the token it then generated (greedy).
    assert layers[-1]["top"][0][0] == result.tokens[0] == lens["next_token"]
    assert layers[-1]["top"][0][1] == pytest.approx(result.steps[0].p_raw, rel=1e-4)
    with pytest.raises(InputError) as err:
        gen.logit_lens(result, loaded, 10**6)
    assert err.value.key == "bad_position"


def test_result_is_json_serialisable(greedy: gen.GenerationResult) -> None:
    d = json.loads(json.dumps(greedy.to_dict()))
    assert {"text", "tokens", "token_ids", "prompt", "prompt_text", "stop_reason", "seconds", "tokens_per_s",
            "model", "options", "steps"} <= set(d)
    assert d["token_ids"] == greedy.output_ids and len(d["steps"]) == len(d["tokens"])
    assert d["options"]["mode"] == "chat" and d["options"]["temperature"] == 0.0


@pytest.mark.slow
def test_offline_smollm2_knows_the_capital_of_france(monkeypatch: pytest.MonkeyPatch) -> None:
    # The default (per-user) cache: the GGUF is converted once per machine, not once per run.
    monkeypatch.delenv(config.CACHE_ENV, raising=False)
    result = gen.generate("What is the capital of France?", "smollm2-135m-instruct", "offline",
                          max_new_tokens=16, temperature=0)
    assert "Paris" in result.text
    assert result.mode == "chat" and result.stop_reason in ("eos", "max_new_tokens")
    lens = gen.logit_lens(result, position=len(result.prompt_ids) - 1)
    assert len(lens["layers"]) == 30
