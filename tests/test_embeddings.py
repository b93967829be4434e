"""playground.embeddings and playground.embedding_views on every task's tiny model (the real
architectures and tokenizers, loaded by the real loading code; random weights)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from playground import config, embedding_views, embeddings, models, text
from playground.errors import InputError

EN = "The weather is nice today, I loved this movie."
ZH = "我喜欢这部电影，今天天气很好。"
_CJK = re.compile(r"[\u4e00-\u9fff]")

# Every (task, model) of the tiny profile; a model shared by tasks runs under each.
PAIRS = [(task, spec.key) for task in config.TASKS for spec in config.choices_for(task, "tiny")]
# One per architecture and tokenizer.
MODELS = {key: task for task, key in reversed(PAIRS)}


def _loaded(key: str) -> models.LoadedModel:
    return models.load(models.resolve(MODELS[key], key))


def _key(err: pytest.ExceptionInfo) -> str:
    return err.value.key


@pytest.mark.parametrize(("task", "key"), PAIRS)
def test_every_model_gives_one_finite_point_per_word(task: str, key: str) -> None:
    r = embeddings.embed(task, EN, key)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    n = len(text.words(EN))
    assert [w["text"] for w in d["words"]] == [w.text for w in text.words(EN)]
    assert all(w["pieces"] for w in d["words"])
    assert d["layer"] == d["n_layers"] == 2 and d["model"] == r.model and d["dims"] == 32
    for space in ("input", "hidden"):
        points = np.array(d[f"points_{space}"])
        assert points.shape == (n, 2) and np.isfinite(points).all()
        c = np.array(d[f"cosine_{space}"])
        assert c.shape == (n, n) and np.isfinite(c).all()
        assert np.allclose(np.diag(c), 1.0) and np.allclose(c, c.T) and np.abs(c).max() <= 1.0
        shares = d["explained_variance"][space]
        assert len(shares) == 2 and all(0 <= s <= 1 for s in shares) and sum(shares) <= 1 + 1e-9
    assert d["neighbours_of"] == "weather"  # "The" is a function word
    assert 1 <= len(d["neighbours"]) <= 8
    cos = [x["cosine"] for x in d["neighbours"]]
    assert cos == sorted(cos, reverse=True) and all(-1 <= x <= 1 for x in cos)
    assert len({x["text"] for x in d["neighbours"]}) == len(cos)  # pieces that read the same: once


@pytest.mark.parametrize("key", sorted(MODELS))
def test_chinese_words_stay_grouped_and_neighbours_are_readable(key: str) -> None:
    r = embeddings.embed(MODELS[key], ZH, key, neighbours_of="电影", k=20)
    units = [w.text for w in text.words(ZH)]
    got = [w.text for w in r.words]
    # Each shown word is one of text.words' words, or consecutive ones a single piece spans;
    # Marian's normaliser reads "，" as ",", which is then not found in the text: said, not hidden.
    assert "".join(w.text for w in sorted(r.words + r.unread, key=lambda w: w.start)) == "".join(units)
    assert [w.text for w in r.unread] == (["，"] if key == "tiny-marian" else [])
    assert all(any(u == g or g.startswith(u) for u in units) for g in got)
    assert any(len(_CJK.findall(g)) >= 2 for g in got), got  # not one character at a time
    for d in (r.to_dict(), embeddings.embed(MODELS[key], ZH, key, k=50).to_dict()):
        assert d["neighbours"]
        for x in d["neighbours"]:
            assert x["text"].strip() == x["text"] and x["text"]
            assert "\ufffd" not in x["text"] and not any(ord(ch) < 32 for ch in x["text"])


def test_a_wordpiece_model_reads_chinese_as_jieba_does() -> None:
    r = embeddings.embed("sentiment", "我喜欢这部电影", "tiny-distilbert-sentiment")
    assert [w.text for w in r.words] == ["我", "喜欢", "这部", "电影"]
    assert [len(p) for p in r.pieces] == [1, 2, 2, 2]  # one piece a character, pooled per word


def _pooled(key: str, rows: torch.Tensor, value: str) -> np.ndarray:
    """Rows (one per piece) pooled into words as embed pools them."""
    loaded = _loaded(key)
    _, words, piece_word, _ = embeddings.word_pieces(loaded.tokenizer, value)
    return embeddings._pool(rows, piece_word, len(words))


@pytest.mark.parametrize("key", ["tiny-llama", "tiny-t5"])
def test_layer_0_is_the_input_embeddings_where_nothing_is_added(key: str) -> None:
    # Llama and T5 add no positions to the embeddings (rotary / relative positions act in attention).
    r = embeddings.embed(MODELS[key], EN, key, layer=0)
    assert r.layer == 0
    np.testing.assert_allclose(r.vectors_hidden, r.vectors_input, atol=1e-6)
    assert np.allclose(r.cosine_hidden, r.cosine_input)


def test_layer_0_of_gpt2_adds_the_position_embeddings() -> None:
    r = embeddings.embed("generation", EN, "tiny-gpt2", layer=0)
    model = _loaded("tiny-gpt2").model
    n = len(_loaded("tiny-gpt2").tokenizer(EN)["input_ids"])
    positions = _pooled("tiny-gpt2", model.transformer.wpe.weight[:n], EN)
    np.testing.assert_allclose(r.vectors_hidden, r.vectors_input + positions, atol=1e-5)
    assert not np.allclose(r.vectors_hidden, r.vectors_input)


def test_layer_0_of_marian_adds_sinusoids_to_the_scaled_embeddings() -> None:
    r = embeddings.embed("translation", EN, "tiny-marian", layer=0)
    encoder = _loaded("tiny-marian").model.get_encoder()
    n = len(_loaded("tiny-marian").tokenizer(EN)["input_ids"])
    # opus-mt sets scale_embedding (x sqrt(d_model)); the tiny config keeps Marian's default, 1.
    cfg = _loaded("tiny-marian").model.config
    assert encoder.embed_scale == pytest.approx(cfg.d_model**0.5 if cfg.scale_embedding else 1.0)
    positions = _pooled("tiny-marian", encoder.embed_positions.weight[:n], EN)
    np.testing.assert_allclose(r.vectors_hidden, encoder.embed_scale * r.vectors_input + positions, atol=1e-4)


@pytest.mark.parametrize("key", ["tiny-bart", "tiny-distilbert-sentiment"])
def test_layer_0_of_bart_and_distilbert_is_normalised(key: str) -> None:
    # Both add positions and then a LayerNorm: layer 0 is a rescaled mix, not the embeddings.
    r = embeddings.embed(MODELS[key], EN, key, layer=0)
    ratio = np.linalg.norm(r.vectors_hidden, axis=1) / np.linalg.norm(r.vectors_input, axis=1)
    assert (ratio > 5).all()  # random init: embeddings ~0.02 per dimension, LayerNorm ~1


def test_layers_change_the_hidden_states_not_the_input_embeddings() -> None:
    a = embeddings.embed("generation", EN, "tiny-llama", layer=1)
    b = embeddings.embed("generation", EN, "tiny-llama", layer=2)
    np.testing.assert_array_equal(a.vectors_input, b.vectors_input)
    assert not np.allclose(a.vectors_hidden, b.vectors_hidden)
    assert embeddings.embed("generation", EN, "tiny-llama", layer=1.0).layer == 1  # a slider's float


@pytest.mark.parametrize("layer", [3, -1, 1.5, "x", True, [1]])
def test_a_bad_layer_is_an_input_error(layer: object) -> None:
    with pytest.raises(InputError) as err:
        embeddings.embed("generation", EN, "tiny-llama", layer=layer)
    assert _key(err) == "emb_bad_layer" and err.value.params["layers"] == 2


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"value": "   "}, "emb_empty"),
        ({"value": 3}, "emb_not_text"),
        ({"value": "a" * (config.LIMITS.max_chars + 1)}, "emb_too_long"),
        ({"value": "go " * (config.LIMITS.max_tokens + 5)}, "emb_too_many_tokens"),
        ({"value": EN, "k": 0}, "emb_bad_k"),
        ({"value": EN, "k": embeddings.MAX_NEIGHBOURS + 1}, "emb_bad_k"),
        ({"value": EN, "neighbours_of": "x" * 51}, "emb_bad_word"),
        ({"value": EN, "task": "poetry"}, "emb_bad_task"),
        ({"value": EN, "model_key": "gpt-5"}, "bad_model"),
    ],
)
def test_bad_input_is_an_input_error(kwargs: dict, key: str) -> None:
    kw = {"task": "generation", "model_key": "tiny-llama", **kwargs}
    with pytest.raises(InputError) as err:
        embeddings.embed(kw.pop("task"), kw.pop("value"), **kw)
    assert _key(err) == key


def test_auto_picks_the_tasks_model() -> None:
    assert embeddings.embed("generation", EN, "auto").model_key == config.choices_for("generation", "tiny")[0].key
    assert embeddings.embed("qa", EN).model_key == "tiny-distilbert-qa"


@pytest.mark.parametrize("key", sorted(MODELS))
def test_the_nearest_piece_to_a_single_piece_word_is_itself(key: str) -> None:
    loaded = _loaded(key)
    r = embeddings.embed(MODELS[key], EN, key)
    single = [i for i, p in enumerate(r.pieces) if len(p) == 1 and p[0].strip() and len(r.words[i].text) > 1]
    assert single, r.pieces
    for i in single[:3]:
        found = embeddings.nearest(loaded, r.vectors_input[i], k=3)
        assert found[0][0] == r.pieces[i][0].strip() and found[0][1] == pytest.approx(1.0, abs=1e-5)
    word = r.words[single[0]].text
    again = embeddings.embed(MODELS[key], EN, key, neighbours_of=word, k=3).to_dict()
    assert again["neighbours_of"] == word and again["neighbours"][0]["cosine"] == pytest.approx(1.0, abs=1e-5)


def test_neighbours_in_chunks_match_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _loaded("tiny-gpt2")
    vector = embeddings.embed("generation", EN, "tiny-gpt2").vectors_input[1]
    whole = embeddings.nearest(loaded, vector, k=10)
    monkeypatch.setattr(embeddings, "CHUNK_ROWS", 37)
    chunked = embeddings.nearest(loaded, vector, k=10)
    assert [s for s, _ in chunked] == [s for s, _ in whole]
    assert [c for _, c in chunked] == pytest.approx([c for _, c in whole], abs=1e-6)


def test_a_word_outside_the_text_is_spelt_by_the_tokenizer() -> None:
    d = embeddings.embed("sentiment", EN, "tiny-distilbert-sentiment", neighbours_of="film", k=5).to_dict()
    assert d["neighbours_of"] == "film" and d["neighbours"][0] == {"text": "film", "cosine": pytest.approx(1.0)}


def test_projection_keeps_a_plane_whole_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 10))
    points, shares = embeddings.project(plane)
    assert sum(shares) == pytest.approx(1.0)
    # Distances within a plane survive the projection.
    dist = np.linalg.norm(plane[:, None] - plane[None], axis=-1)
    assert np.allclose(np.linalg.norm(points[:, None] - points[None], axis=-1), dist)
    assert np.array_equal(embeddings.project(plane)[0], points)
    assert embeddings.project(plane[:1]) == (pytest.approx(np.zeros((1, 2))), [0.0, 0.0])
    same = np.ones((3, 4))
    assert embeddings.project(same)[1] == [0.0, 0.0] and np.allclose(embeddings.cosine_matrix(same), 1.0)


def test_cosine_of_a_zero_vector() -> None:
    c = embeddings.cosine_matrix(np.array([[0.0, 0.0], [1.0, 0.0], [-2.0, 0.0]]))
    assert np.allclose(c, [[1, 0, 0], [0, 1, -1], [0, -1, 1]])


# ---- Figures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def result() -> embeddings.EmbeddingResult:
    return embeddings.embed("generation", "I <b>loved</b> the movie & the film.", "tiny-llama", layer=1,
                            neighbours_of="<b>")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_figures_have_one_point_per_word_and_name_the_layer(result: embeddings.EmbeddingResult, lang: str) -> None:
    n = len(result.words)
    layer_words = {"en": "layer 1 of 2", "zh-CN": "第 1 层（共 2 层）"}[lang]
    for data in (result, result.to_dict()):
        for space in embedding_views.SPACES:
            fig = embedding_views.points_figure(data, space, lang)
            assert len(fig.data) == 1 and len(fig.data[0].x) == n == len(fig.data[0].text)
            title = fig.layout.title.text
            assert (layer_words in title) == (space == "hidden"), title
            assert "%" in fig.layout.title.subtitle.text
            heat = embedding_views.cosine_figure(data, space, lang)
            assert np.asarray(heat.data[0].z).shape == (n, n) and len(heat.layout.xaxis.ticktext) == n
            assert (layer_words in heat.layout.title.text) == (space == "hidden")
        bars = embedding_views.neighbours_figure(data, lang)
        assert len(bars.data[0].x) == len(result.neighbours)
        assert "&lt;b&gt;" in bars.layout.title.text and "<b>" not in bars.layout.title.text
    assert "%" in embedding_views.projection_note(result, lang)


def test_figure_labels_are_escaped(result: embeddings.EmbeddingResult) -> None:
    fig = embedding_views.points_figure(result, "input")
    assert "&lt;" in fig.data[0].text and "<" not in "".join(fig.data[0].text)
    assert all("<" not in h for h in fig.data[0].customdata)
    heat = embedding_views.cosine_figure(result, "hidden")
    assert "&amp;" in heat.layout.xaxis.ticktext and "<" not in "".join(heat.layout.yaxis.ticktext)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_layer_0_has_its_own_title(lang: str) -> None:
    r = embeddings.embed("generation", EN, "tiny-llama", layer=0)
    title = embedding_views.points_figure(r, "hidden", lang).layout.title.text
    assert title.startswith({"en": "Hidden states at layer 0 of 2", "zh-CN": "第 0 层（共 2 层）"}[lang])
