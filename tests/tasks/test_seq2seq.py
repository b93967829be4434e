"""Summarization and translation (playground.tasks.seq2seq and its two task modules) on the tiny
BART, Marian and T5 built locally and the tiny Llama prompted for the task: output, attention
shapes (output x source), attribution per source word checked against the model run by hand,
options and errors; and (slow) the real offline decoders on the issue's examples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground import config, models, text
from playground.errors import InputError
from playground.explain import explain, llm
from playground.tasks import seq2seq, summarization, translation

SOURCE = "The weather is nice today, so we walked to the old harbour and ate fresh fish near the sea."
TINY = {"ig_steps": 4, "lime_samples": 24, "shap_evals": 24, "kernel_shap_samples": 24}
ENCODER_DECODERS = ("tiny-bart", "tiny-marian", "tiny-t5")


def _run(key: str, max_new: int = 6):
    if key == "tiny-bart":
        return summarization.summarize(SOURCE, key, min_new_tokens=max_new, max_new_tokens=max_new)
    return translation.translate(SOURCE, "de" if key == "tiny-t5" else "zh", key, max_new_tokens=max_new)


@pytest.fixture(scope="module", params=ENCODER_DECODERS + ("tiny-llama",))
def result(request):
    return _run(request.param)


def test_output_is_produced_and_the_source_is_where_the_result_says(result) -> None:
    assert result.output_ids, "no output"
    assert 1 <= len(result.output_ids) <= 8  # 6 asked, clamped up to the bound 8
    assert len(result.output_tokens) == len(result.output_ids)
    assert result.source_used == SOURCE and not result.truncated
    assert result.text == "".join(result.output_tokens).strip()
    special = set(seq2seq.loaded_for(result).tokenizer.all_special_ids)
    assert not special & set(result.output_ids)  # start, padding and eos are never output
    family = "decoder" if result.model_key == "tiny-llama" else "encoder-decoder"
    assert result.family == family
    if family == "encoder-decoder":
        assert result.decoder_prefix and result.decoder_prefix[0] == seq2seq.loaded_for(result).model.config.decoder_start_token_id


def test_cross_attention_is_output_words_by_source_words(result) -> None:
    att = seq2seq.attention(result)
    n_src = len(text.words(SOURCE))
    n_out = len(result.output_words()[0])
    model = seq2seq.loaded_for(result).model
    layers = getattr(model.config, "decoder_layers", None) or getattr(model.config, "num_decoder_layers", None) or model.config.num_hidden_layers
    assert att.cross.shape[0] == layers
    assert att.cross.shape[2:] == (n_out, n_src)
    assert att.encoder.shape[2:] == (n_src, n_src)
    assert att.decoder.shape[2:] == (n_out, n_out)
    for m in (att.cross, att.encoder, att.decoder):
        assert np.isfinite(m).all() and (m >= 0).all()
    # Columns are the source words only (no eos, no prefix): a row sums to at most 1.
    assert (att.cross.sum(-1) <= 1 + 1e-4).all()
    assert att.source_words == [w.text for w in text.words(SOURCE)]
    matrix, rows, cols = att.view("cross")
    assert matrix is att.cross and cols == att.source_words and rows == att.output_words


@pytest.mark.parametrize("method", ["feature_ablation", "lime", "shap", "integrated_gradients", "attention"])
def test_attribution_is_finite_and_per_source_word(result, method: str) -> None:
    s = seq2seq.subject(result)
    expl = explain(s, method, TINY, target="all", units="word")
    n_words = len(text.words(SOURCE))
    assert [u.text for u in expl.units] == [w.text for w in text.words(SOURCE)]
    assert all(u.part == "source" and SOURCE[u.start : u.end] == u.text for u in expl.units)
    out_words = result.output_words()[0]
    assert expl.matrix.shape == (1 + len(out_words), n_words)  # the whole output, then each output word
    assert [t.text for t in expl.targets[1:]] == [w.text for w in out_words]
    assert np.isfinite(expl.matrix).all() and np.abs(expl.matrix).sum() > 0
    if method != "attention":
        # Output words are sums of their tokens: the word rows add up to the whole output's row.
        np.testing.assert_allclose(expl.matrix[1:].sum(axis=0), expl.matrix[0], atol=1e-4)
    assert expl.evaluations > 0
    again = explain(seq2seq.subject(result), method, TINY, target="all", units="word")
    assert np.allclose(again.matrix, expl.matrix, atol=1e-5)  # seeded: the same answer twice
    links = seq2seq.alignment(expl.matrix[1:])
    assert len(links) == len(out_words)
    for link in links:
        assert all(0 <= j < n_words for j in link["sources"]) and len(link["sources"]) <= 2


def _by_hand(loaded, model_text: str, prefix: list[int], output: list[int]) -> np.ndarray:
    """log p(output_i | source, output_<i): one plain fp32 forward, no batching, no padding."""
    enc = loaded.tokenizer(model_text, return_tensors="pt")
    dec = torch.tensor([prefix + output[:-1]])
    with torch.no_grad():
        logits = loaded.model(**enc, decoder_input_ids=dec).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return np.array([float(logp[len(prefix) - 1 + i, t]) for i, t in enumerate(output)])


@pytest.mark.parametrize("key", ENCODER_DECODERS)
def test_feature_ablation_is_the_log_probability_lost_without_each_word(key: str) -> None:
    r = _run(key, max_new=4)
    loaded = seq2seq.loaded_for(r)
    expl = explain(seq2seq.subject(r), "feature_ablation", target="all", units="word")
    _, token_word = r.output_words()
    full = _by_hand(loaded, r.model_text, r.decoder_prefix, r.output_ids)
    words = text.words(SOURCE)
    s0 = r.source_span[0]
    for j in (0, 3, len(words) - 1):
        prev = words[j - 1].end if j else 0
        without = r.model_text[: s0 + prev] + r.model_text[s0 + words[j].end :]
        lost = full - _by_hand(loaded, without, r.decoder_prefix, r.output_ids)
        per_word = [sum(v for v, w in zip(lost, token_word) if w == k) for k in range(len(expl.targets) - 1)]
        # bf16 scoring on CPUs that have it: within its rounding.
        assert np.allclose(expl.matrix[:, j], [lost.sum(), *per_word], atol=0.05), (j, expl.matrix[:, j], lost)


def test_teacher_forcing_matches_what_generate_computed() -> None:
    r = _run("tiny-marian", max_new=8)
    loaded = seq2seq.loaded_for(r)
    enc = loaded.tokenizer(r.model_text, return_tensors="pt")
    out = loaded.model.generate(**enc, max_new_tokens=8, min_new_tokens=1, do_sample=False, output_logits=True,
                                return_dict_in_generate=True, suppress_tokens=[loaded.tokenizer.pad_token_id, loaded.tokenizer.unk_token_id])
    assert out.sequences[0, len(r.decoder_prefix):].tolist()[: len(r.output_ids)] == r.output_ids
    raw = np.array([float(torch.log_softmax(lg[0].float(), -1)[t]) for lg, t in zip(out.logits, r.output_ids)])
    assert np.allclose(_by_hand(loaded, r.model_text, r.decoder_prefix, r.output_ids), raw, atol=1e-4)


def test_integrated_gradients_completeness_on_the_encoder() -> None:
    """IG's scores add up to f(source) - f(baseline) (every source-word token set to unk)."""
    r = _run("tiny-marian", max_new=2)
    loaded = seq2seq.loaded_for(r)
    expl = explain(seq2seq.subject(r), "integrated_gradients", {"ig_steps": 64}, target="all", units="word")
    _, token_word = r.output_words()
    tok = loaded.tokenizer
    ids = tok(r.model_text)["input_ids"]
    special = set(tok.all_special_ids)
    base = [i if i in special else tok.unk_token_id for i in ids]
    dec = torch.tensor([r.decoder_prefix + r.output_ids[:-1]])
    with torch.no_grad():
        lp = [torch.log_softmax(loaded.model(input_ids=torch.tensor([x]), decoder_input_ids=dec).logits[0].float(), -1) for x in (ids, base)]
    first = len(r.decoder_prefix) - 1
    gaps = [float(lp[0][first + i, t] - lp[1][first + i, t]) for i, t in enumerate(r.output_ids)]
    wanted = [sum(gaps)] + [sum(g for g, w in zip(gaps, token_word) if w == k) for k in range(len(expl.targets) - 1)]
    for row, gap in zip(expl.matrix, wanted):
        assert row.sum() == pytest.approx(gap, abs=0.05 + 0.05 * abs(gap))


def test_decoder_attribution_looks_at_the_source_only() -> None:
    r = _run("tiny-llama", max_new=3)
    assert r.model_text[r.source_span[0] : r.source_span[1]] == SOURCE
    assert r.model_text.index("Translate") < r.source_span[0]  # the instruction is outside the span
    s = seq2seq.subject(r)
    assert s.texts == {"source": SOURCE}
    expl = explain(s, "feature_ablation", units="word")
    assert [u.text for u in expl.units] == [w.text for w in text.words(SOURCE)]
    # The instruction around the source is never perturbed: only source positions are explained.
    explained = [p for p, u in enumerate(s.gradient.position_unit) if u is not None]
    assert explained and len(explained) < s.gradient.input_ids.shape[1]


def test_chinese_output_is_grouped_into_words() -> None:
    pieces = ["今", "天", "天", "气", "很", "好", "。"]
    words, word_of = llm.token_words(pieces)
    assert [w.text for w in words] == [w.text for w in text.words("今天天气很好。")]  # jieba's words
    assert len(words) < len(pieces) and words[0].text.startswith("今天")
    assert word_of[0] == word_of[1] == 0 and word_of[-1] == len(words) - 1
    words, word_of = llm.token_words(["Hello", " wor", "ld"])
    assert [w.text for w in words] == ["Hello", "world"] and word_of == [0, 1, 1]
    # A byte token that only starts a character adds no text and joins the word it completes.
    words, word_of = llm.token_words(["Hi", "，", "", "你", "", "好"])
    assert [w.text for w in words] == ["Hi", "，", "你好"] and word_of == [0, 1, 2, 2, 2, 2]


def test_byte_level_chinese_output_is_never_shown_as_byte_pieces() -> None:
    tok = models.load(config.spec_by_key("generation", "tiny-llama", "tiny")).tokenizer
    ids = tok("熊猫跑步。", add_special_tokens=False)["input_ids"]
    assert len(ids) > len("熊猫跑步。")  # byte-level: some characters take several tokens
    texts = seq2seq.token_texts(tok, ids)
    assert "".join(texts) == "熊猫跑步。" and "\ufffd" not in "".join(texts)
    words, word_of = llm.token_words(texts)
    assert "".join(w.text for w in words) == "熊猫跑步。"
    assert all(w is not None for w in word_of)  # every token's log-probability lands in a word


def test_summary_lengths_are_bounded_on_the_server() -> None:
    assert summarization.options(min_new_tokens=10**9, max_new_tokens=10**9) == {"min_new_tokens": 128, "max_new_tokens": 256}
    assert summarization.options(min_new_tokens=50, max_new_tokens=20) == {"min_new_tokens": 20, "max_new_tokens": 20}
    assert summarization.options(min_new_tokens="x", max_new_tokens=float("nan"))["max_new_tokens"] == 80
    r = summarization.summarize(SOURCE, "tiny-bart", min_new_tokens=9, max_new_tokens=9)
    assert len(r.output_ids) == 9


def test_a_source_over_the_context_is_cut_and_says_so(monkeypatch) -> None:
    monkeypatch.setattr(seq2seq, "MAX_SOURCE_TOKENS", 12)
    r = summarization.summarize(SOURCE, "tiny-bart", max_new_tokens=3)
    assert r.truncated and SOURCE.startswith(r.source_used) and len(r.source_used) < len(SOURCE)
    assert r.to_dict()["truncated"] is True
    enc = seq2seq.loaded_for(r).tokenizer(r.source_used, add_special_tokens=False)["input_ids"]
    assert len(enc) <= 12


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda: summarization.summarize(""), "input_empty"),
        (lambda: summarization.summarize("   \n"), "input_empty"),
        (lambda: summarization.summarize("x" * 2001), "input_too_long"),
        (lambda: summarization.summarize(None), "input_not_text"),
        (lambda: translation.translate("Hello", "ja"), "bad_target_language"),
        (lambda: translation.translate("Hello", "<script>"), "bad_target_language"),
        (lambda: translation.translate("Hello", "zh", "tiny-t5"), "model_no_target"),
        (lambda: translation.translate("Hello", "zh", "Helsinki-NLP/opus-mt-en-zh"), "bad_model"),
        (lambda: summarization.summarize("Hello", "../../etc/passwd"), "bad_model"),
    ],
)
def test_bad_input_is_a_clear_input_error(call, key: str) -> None:
    with pytest.raises(InputError) as caught:
        call()
    assert caught.value.key == key


def test_the_default_model_follows_the_target() -> None:
    assert [s.key for s in translation.models_for("de", "tiny")] == ["tiny-marian", "tiny-t5", "tiny-llama"]
    assert [s.key for s in translation.models_for("zh", "tiny")] == ["tiny-marian", "tiny-llama"]
    assert seq2seq.spec_for("translation", None, "hub", "fr").key == "opus-mt-en-fr"
    assert seq2seq.spec_for("translation", None, "hub", "zh").prefixes["translation:zh"] == ">>cmn_Hans<< "


def test_a_task_prefix_is_model_input_not_a_source_word() -> None:
    r = translation.translate(SOURCE, "de", "tiny-t5", max_new_tokens=3)
    assert r.model_text == "translate English to German: " + SOURCE
    assert r.source_used == SOURCE
    r = translation.translate(SOURCE, "zh", "tiny-marian", max_new_tokens=3)
    assert r.model_text.startswith(">>cmn_Hans<< ")


def test_every_hub_and_offline_seq2seq_model_is_registered_sensibly() -> None:
    for profile in config.PROFILES:
        for task in ("summarization", "translation"):
            specs = config.choices_for(task, profile)
            assert specs, (profile, task)
            for s in specs:
                if task == "translation":
                    assert set(s.targets) <= set(translation.TARGETS) and s.targets
        # Every target has at least one model in every profile.
        for target in translation.TARGETS:
            assert translation.models_for(target, profile), (profile, target)


# ---- the real offline decoders ------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """The offline profile with the real model cache (GGUF conversions are kept there)."""
    monkeypatch.setenv("PLAYGROUND_PROFILE", "offline")
    monkeypatch.delenv("PLAYGROUND_CACHE", raising=False)
    before = set(models._cache)
    yield
    # Drop only the offline models loaded here: the session's tiny models stay cached (other
    # tests hold them and check that they are the cached ones).
    for key in set(models._cache) - before:
        models._cache.pop(key, None)
    models.free_memory()


@pytest.mark.slow
def test_offline_translation_into_chinese_says_weather(offline) -> None:
    r = translation.translate("The weather is nice today.", "zh")
    assert "天气" in r.text, r.text
    expl = explain(seq2seq.subject(r), "feature_ablation", target="all", units="word")
    weather = [u.text for u in expl.units].index("weather")
    row = next(i for i, t in enumerate(expl.targets) if i and "天气" in t.text)
    # 天气 comes from "weather" (with "nice": Qwen's 天气很好 leans on both): among the two
    # strongest words, and stronger than every function word.
    scores = expl.matrix[row]
    assert weather in np.argsort(scores)[-2:], scores
    words = [u.text for u in expl.units]
    assert all(scores[weather] > scores[words.index(w)] for w in ("The", "is", ".")), scores


@pytest.mark.slow
def test_offline_summary_is_shorter_and_keeps_the_key_noun(offline) -> None:
    paragraph = (
        "The city library will stay open until midnight during the exam period, the council said on "
        "Monday. Students had asked for longer hours because the university's own reading rooms are "
        "being renovated and close at six. The library will add extra staff and keep its cafe open, "
        "and the late opening will run for three weeks from the first of June."
    )
    r = summarization.summarize(paragraph)
    assert r.text and len(r.text) < len(paragraph)
    assert "library" in r.text.lower(), r.text


def test_layer_hooks_give_the_same_attention_as_output_attentions(monkeypatch) -> None:
    """The decoder path keeps each layer's slices as it runs; the plain output_attentions path
    (the fallback) must give the same numbers."""
    import contextlib

    r = translation.translate(SOURCE, "fr", "tiny-llama", max_new_tokens=8)
    hooked = seq2seq.attention(r)

    @contextlib.contextmanager
    def nothing_hooked(model, keep):
        yield False

    from playground.explain import layer_attention

    monkeypatch.setattr(layer_attention, "each_layer_hooks", nothing_hooked)  # the one per-layer hook helper
    plain = seq2seq.attention(r)
    for kind in seq2seq.KINDS:
        assert np.array_equal(hooked.view(kind)[0], plain.view(kind)[0]), kind


@pytest.mark.slow
def test_offline_chinese_text_is_summarised_in_chinese(offline) -> None:
    """The default summariser, asked in Chinese for a Chinese text, answers in Chinese (asked in
    English, it summarised half of the Chinese eval texts in English)."""
    paragraph = ("市图书馆周一宣布，考试期间将开放到午夜。由于大学的阅览室正在装修，每天六点就关门，学生们一直希望图书馆"
                 "延长开放时间。图书馆将增加工作人员，咖啡厅也会照常营业。延长开放从六月一日开始，持续三周。")
    r = summarization.summarize(paragraph)
    assert r.language["code"] == "zh" and r.language["handled"]
    assert r.language["output"]["code"] == "zh" and r.language["output"]["matches"], r.text
    assert "图书馆" in r.text and len(r.text) < len(paragraph)
