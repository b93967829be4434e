"""The decoder models the Generation tab will use: the tiny random GPT-2 and Llama built
locally, allow-listed lookup, and (slow) the offline GGUF conversion with progress and cache."""

from __future__ import annotations

import pytest
import torch

from playground import config, models


@pytest.mark.parametrize("spec", config.CHOICES["tiny"]["generation"], ids=lambda s: s.key)
def test_tiny_decoders_load_and_generate(spec: config.ModelSpec) -> None:
    loaded = models.load(spec)
    assert loaded is models.load(spec)  # one copy per model
    assert type(loaded.model).__name__ == spec.architecture
    tok = loaded.tokenizer
    if spec.chat:
        prompt = tok.apply_chat_template([{"role": "user", "content": "Hello 天气"}], add_generation_prompt=True, tokenize=False)
        assert prompt.endswith("<|im_start|>assistant\n")
    enc = tok("Hello 天气, how are you?", return_tensors="pt")
    # Byte-level BPE: Chinese and any other text round-trips, nothing becomes <unk>.
    assert tok.decode(enc["input_ids"][0]) == "Hello 天气, how are you?"
    out = loaded.model.generate(**enc, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape == (1, enc["input_ids"].shape[1] + 6)
    again = loaded.model.generate(**enc, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
    assert torch.equal(out, again)  # greedy is deterministic


def test_only_registered_models_are_found() -> None:
    assert config.spec_by_key("generation", None, "tiny").key == "tiny-llama"
    assert config.spec_by_key("generation", "tiny-gpt2", "tiny").key == "tiny-gpt2"
    assert config.spec_by_key("generation", "", "tiny").key == "tiny-llama"
    for typed in ("../x", "openai-community/gpt2", "gpt2", "tiny-gpt2/../../etc", "smollm2-135m-instruct"):
        assert config.spec_by_key("generation", typed, "tiny") is None


def test_every_offline_and_hub_decoder_names_where_it_comes_from() -> None:
    for profile in ("offline", "hub"):
        for spec in config.CHOICES[profile]["generation"]:
            assert spec.licence
            assert (spec.repo if spec.source == "hub" else spec.gguf_file and spec.pip_name)


def test_missing_gguf_package_is_a_clear_message(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    spec = config.ModelSpec(
        key="no-such-gguf", task="generation", display="Missing", source="gguf", architecture="AutoModelForCausalLM",
        package="playground_no_such_gguf_pkg", pip_name="no-such-gguf==1.0", gguf_file="x.gguf",
    )
    with pytest.raises(models.ModelUnavailable) as err:
        models.load(spec)
    assert err.value.key == "model_missing_package"
    assert "no-such-gguf==1.0" in str(err.value)


@pytest.mark.slow
def test_offline_smollm2_gguf_is_converted_once_with_progress(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    spec = config.spec_by_key("generation", "smollm2-135m-instruct", "offline")
    seen: list[tuple[float, float, float]] = []
    where = models.convert_gguf(spec, lambda f, elapsed, total: seen.append((f, elapsed, total)))
    assert (where / "config.json").exists() and list(where.glob("*.safetensors"))
    assert not list(tmp_path.rglob("*.partial"))
    fractions = [f for f, _, _ in seen]
    assert len(seen) >= 2 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(total > 0 for _, _, total in seen)
    # Second time: already converted, so no work and no progress.
    again: list = []
    assert models.convert_gguf(spec, lambda *a: again.append(a)) == where and again == []

    loaded = models.load(spec)  # from the converted copy (other tests' models stay cached)
    tok = loaded.tokenizer
    enc = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = loaded.model.generate(**enc, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0][enc["input_ids"].shape[1]:])
