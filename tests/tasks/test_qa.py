"""Question answering on the tiny models (random weights: the answers mean nothing, so these test
invariants and mechanics): extractive spans, sliding windows, no-answer, generated answers mapped
back to the context, every input error, attribution on both paths, and the attention view. One
slow test asks the real offline SmolLM2 who designed the Eiffel Tower."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from transformers.modeling_outputs import QuestionAnsweringModelOutput

from playground import config, models, text
from playground import messages as strings
from playground.errors import InputError
from playground.explain import METHODS, llm
from playground.messages import qa as strings_qa
from playground.tasks import qa

EXTRACTIVE, GENERATIVE = "tiny-distilbert-qa", "tiny-llama"
QUESTION = "Who designed the tower?"
CONTEXT = (
    "The Eiffel Tower is a wrought-iron lattice tower in Paris. It is named after the engineer "
    "Gustave Eiffel, whose company designed and built the tower from 1887 to 1889."
)
# The tiny BPE spends many tokens per word: a short context keeps its few-shot prompt in bounds.
SHORT_CONTEXT = "The tower in Paris was designed by Gustave Eiffel in 1889."
# Many windows for the tiny WordPiece (it spells unknown words letter by letter); no "movie" in it.
FILLER = "the weather was nice and we walked along the river for a long time. "
SMALL = {"ig_steps": 6, "lime_samples": 24, "shap_evals": 24, "kernel_shap_samples": 24}


def _json(d: dict) -> dict:
    return json.loads(json.dumps(d, allow_nan=False))  # every float finite


def _check_extractive(r: qa.QAResult) -> None:
    assert r.kind == "extractive" and r.candidates
    spans = [(c.start, c.end) for c in r.candidates]
    assert len(set(spans)) == len(spans)  # distinct character spans
    scores = [c.score for c in r.candidates]
    assert scores == sorted(scores, reverse=True)
    for c in r.candidates:
        assert 0 <= c.start < c.end <= len(r.context)  # start <= end, inside the context
        assert c.answer == r.context[c.start : c.end]
        assert math.isfinite(c.score) and 0.0 <= c.score <= 1.0
        assert 0 <= c.window < r.windows
        assert c.start_token <= c.end_token < c.start_token + qa.MAX_ANSWER_TOKENS
    if r.no_answer:
        assert r.answer == "" and r.start is None and r.end is None and r.score == r.null_score
    else:
        best = r.candidates[0]
        assert (r.answer, r.start, r.end, r.score) == (best.answer, best.start, best.end, best.score)
        assert r.answer == r.context[r.start : r.end] and r.found_in_context
    assert 0.0 <= r.null_score <= 1.0
    starts = [t.start for t in r.tokens]
    assert starts == sorted(starts) and r.tokens
    for t in r.tokens:
        assert t.text == r.context[t.start : t.end]
        assert 0.0 <= t.p_start <= 1.0 and 0.0 <= t.p_end <= 1.0
    d = _json(r.to_dict())
    assert {"answer", "score", "start", "end", "no_answer", "candidates", "tokens", "windows", "null_score"} <= set(d)


@pytest.fixture(scope="module")
def extractive() -> qa.QAResult:
    return qa.answer(QUESTION, CONTEXT, EXTRACTIVE)


@pytest.fixture(scope="module")
def long_context() -> str:
    text_ = FILLER * 30
    assert len(text_) <= qa.MAX_CONTEXT_CHARS
    return text_


@pytest.fixture(scope="module")
def generative() -> qa.QAResult:
    return qa.answer(QUESTION, SHORT_CONTEXT, GENERATIVE, max_new_tokens=6)


@pytest.fixture
def boosted(monkeypatch: pytest.MonkeyPatch):
    """Make the tiny QA model's logits peak where the input holds a given token (its answers
    are random otherwise): boost(token_id=None, cls=0.0) adds 30 to the start and end logits at
    that token and ``cls`` at position 0 ([CLS])."""
    loaded = models.load(config.spec_by_key("qa", EXTRACTIVE))
    original = loaded.model.forward

    def boost(token_id: int | None = None, cls: float = 0.0) -> None:
        def forward(input_ids=None, attention_mask=None, **_):
            out = original(input_ids=input_ids, attention_mask=attention_mask)
            add = torch.zeros_like(out.start_logits)
            if token_id is not None:
                add = add + 30.0 * (input_ids == token_id)
            add[:, 0] += cls
            return QuestionAnsweringModelOutput(start_logits=out.start_logits + add, end_logits=out.end_logits + add)

        monkeypatch.setattr(loaded.model, "forward", forward)

    return boost


# ---- Extractive --------------------------------------------------------------------------------


def test_extractive_answer_is_a_valid_span(extractive: qa.QAResult) -> None:
    _check_extractive(extractive)
    assert extractive.windows == 1
    assert len(extractive.candidates) == 5
    assert extractive.model_key == EXTRACTIVE and extractive.profile == "tiny"
    # The chart holds every context token once.
    tok = models.load(config.spec_by_key("qa", EXTRACTIVE)).tokenizer
    assert len(extractive.tokens) == len(tok(CONTEXT, add_special_tokens=False)["input_ids"])


def test_top_k_is_clamped() -> None:
    assert len(qa.answer(QUESTION, CONTEXT, EXTRACTIVE, top_k=1).candidates) == 1
    assert len(qa.answer(QUESTION, CONTEXT, EXTRACTIVE, top_k=10**9).candidates) == qa.TOP_K.maximum
    assert len(qa.answer(QUESTION, CONTEXT, EXTRACTIVE, top_k="x").candidates) == qa.TOP_K.default


def test_decode_window_scores_spans_like_the_pipeline() -> None:
    n = 12
    start, end = np.zeros(n), np.zeros(n)
    start[5], end[7] = 5.0, 5.0
    context = np.zeros(n, dtype=bool)
    context[3:11] = True
    spans, null, p_start, p_end = qa.decode_window(start, end, context, cls=0, top=4, max_answer_tokens=3)
    assert spans[0][:2] == (5, 7)
    assert p_start[~context & (np.arange(n) != 0)].sum() == 0.0  # only context tokens and [CLS]
    assert p_start.sum() == pytest.approx(1.0) and p_end.sum() == pytest.approx(1.0)
    assert spans[0][2] == pytest.approx(p_start[5] * p_end[7])
    assert null == pytest.approx(p_start[0] * p_end[0])
    for s, e, score in spans:
        assert context[s] and context[e] and 0 <= e - s < 3 and 0 < score <= 1
    # An answer longer than max_answer_tokens is never a candidate.
    far, _, _, _ = qa.decode_window(start, end, context, cls=0, top=50, max_answer_tokens=2)
    assert all(e - s < 2 for s, e, _ in far)


def test_no_answer_when_cls_beats_every_span(boosted) -> None:
    boosted(cls=40.0)
    r = qa.answer(QUESTION, CONTEXT, EXTRACTIVE)
    assert r.no_answer and r.answer == "" and r.start is None and r.end is None
    assert not r.found_in_context and r.score == r.null_score > r.candidates[0].score
    _check_extractive(r)  # the best span is still listed as a candidate
    d = _json(r.to_dict())
    assert d["no_answer"] is True and d["answer"] == "" and d["start"] is None and d["candidates"]
    forced = qa.answer(QUESTION, CONTEXT, EXTRACTIVE, allow_no_answer=False)
    assert not forced.no_answer and forced.answer == forced.candidates[0].answer


def test_sliding_window_covers_a_long_context(long_context: str) -> None:
    r = qa.answer("Where did we walk?", long_context, EXTRACTIVE, top_k=20)
    _check_extractive(r)
    assert r.windows >= 3
    win = r._windows
    assert win is not None and len(win.input_ids) == r.windows
    assert all(len(ids) <= win.max_length for ids in win.input_ids)
    # Consecutive windows overlap (stride), and together they cover the whole context.
    covered = [[o for o, s in zip(win.offsets[w], win.sequence_ids[w]) if s == 1] for w in range(r.windows)]
    for a, b in itertools.pairwise(covered):
        assert b[0][0] < a[-1][1]
    assert covered[0][0][0] == 0 and covered[-1][-1][1] == len(long_context.rstrip())
    assert r.tokens[-1].end == len(long_context.rstrip())


def test_sliding_window_finds_an_answer_past_the_first_window(boosted, long_context: str) -> None:
    context = long_context + "then we saw a movie. " + FILLER * 2
    tok = models.load(config.spec_by_key("qa", EXTRACTIVE)).tokenizer
    boosted(token_id=tok.convert_tokens_to_ids("movie"))
    r = qa.answer("What did we see?", context, EXTRACTIVE)
    _check_extractive(r)
    assert r.answer == "movie" and r.start == context.index("movie")
    first_window_end = max(o[1] for o, s in zip(r._windows.offsets[0], r._windows.sequence_ids[0]) if s == 1)
    assert r.start > first_window_end
    assert r.candidates[0].window >= 1
    # Windows that overlap on the answer give the same character span once.
    assert sum(1 for c in r.candidates if (c.start, c.end) == (r.start, r.end)) == 1


# ---- Generative --------------------------------------------------------------------------------


def test_generative_answer_runs_and_is_located(generative: qa.QAResult) -> None:
    r = generative
    assert r.kind == "generative" and r.generation is not None
    assert r.generation.mode == "plain"  # the few-shot prompt, the measured default
    c0, c1 = r.context_span
    q0, q1 = r.question_span
    assert r.prompt_text[c0:c1] == SHORT_CONTEXT and r.prompt_text[q0:q1] == QUESTION
    assert r.prompt_text.endswith("Answer:")
    assert r.answer == r.generation.text.strip()
    assert 0.0 <= r.score <= 1.0
    found = qa.locate(r.answer, SHORT_CONTEXT)
    assert r.found_in_context == (found is not None)
    if found is None:
        assert r.start is None and r.end is None and r.match is None
    else:
        assert (r.start, r.end, r.match) == (found.start, found.end, found.kind)
    d = _json(r.to_dict())
    assert {"answer", "score", "start", "end", "no_answer", "found_in_context", "candidates", "prompt_text"} <= set(d)


def test_generative_chat_mode_and_line_breaks() -> None:
    context = "The tower in Paris\nwas designed by Eiffel."
    chat = qa.answer(QUESTION, context, GENERATIVE, mode="chat", max_new_tokens=4)
    assert chat.generation.mode == "chat" and chat.prompt_text.startswith("<|im_start|>user")
    assert chat.prompt_text[slice(*chat.context_span)] == context
    plain = qa.answer(QUESTION, context, GENERATIVE, max_new_tokens=4)
    # In the few-shot prompt a newline ends the answer: the context's become spaces (same offsets).
    assert plain.prompt_text[slice(*plain.context_span)] == context.replace("\n", " ")
    assert len(plain.generation.output_ids) <= 4


@pytest.mark.parametrize(
    "said, context, quote, kind",
    [
        ("gustave EIFFEL", "It was designed by Gustave Eiffel in 1887.", "Gustave Eiffel", "exact"),
        ("Gustave\n  Eiffel", "It was designed by Gustave Eiffel in 1887.", "Gustave Eiffel", "exact"),
        ('"Gustave Eiffel."', "It was designed by Gustave Eiffel in 1887.", "Gustave Eiffel", "exact"),
        ("the chloroplasts of plant cells", "It happens in the chloroplasts of leaf cells, mostly.",
         "the chloroplasts of leaf cells", "fuzzy"),
        ("埃菲尔", "这座塔由埃菲尔设计。", "埃菲尔", "exact"),
    ],
)
def test_locate_finds_the_quoted_span(said: str, context: str, quote: str, kind: str) -> None:
    m = qa.locate(said, context)
    assert m is not None and context[m.start : m.end] == quote and m.kind == kind
    assert (m.coverage == 1.0) if kind == "exact" else (qa.FUZZY_MIN_COVERAGE <= m.coverage < 1.0)


@pytest.mark.parametrize(
    "said",
    ["Napoleon Bonaparte", "The tower was designed by Napoleon and by Josephine", "", "   ", "?!"],
)
def test_locate_reports_not_found(said: str) -> None:
    assert qa.locate(said, "It was designed by Gustave Eiffel in 1887.") is None


# ---- Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model_key", [EXTRACTIVE, GENERATIVE])
@pytest.mark.parametrize(
    "question, context, key",
    [
        ("", CONTEXT, "qa_question_empty"),
        (" \n\t", CONTEXT, "qa_question_empty"),
        (QUESTION, "", "qa_context_empty"),
        (QUESTION, "   ", "qa_context_empty"),
        (QUESTION, "word " * 900, "qa_context_too_long"),
        ("why " * 130, "word " * 200, "qa_question_too_long"),
        ("Who designed the famous tower in Paris?", "Eiffel did.", "qa_question_longer"),
        (None, CONTEXT, "qa_not_text"),
        (QUESTION, 42, "qa_not_text"),
    ],
)
def test_bad_input_is_a_clear_error(model_key: str, question: object, context: object, key: str) -> None:
    with pytest.raises(InputError) as err:
        qa.answer(question, context, model_key)  # type: ignore[arg-type]
    assert err.value.key == key
    assert key in strings_qa.EN and key in strings_qa.ZH
    assert str(err.value) == strings.t(key, "en", **err.value.params)


def test_too_long_for_the_model_is_a_clear_error(monkeypatch) -> None:
    # Extractive: the question must leave room for the context in each window.
    with pytest.raises(InputError) as err:
        qa.answer("xq " * 40, "word " * 100, EXTRACTIVE)
    assert err.value.key == "qa_question_too_many_tokens" and err.value.params["limit"] == qa.MAX_QUESTION_TOKENS
    # Generative: the prompt must fit the decoder, in characters and in tokens.
    monkeypatch.setattr(qa.generative, "GEN_PROMPT_CHARS", 1900)  # a smaller bound than the real one, to reach it
    with pytest.raises(InputError) as err:
        qa.answer(QUESTION, "word " * 380, GENERATIVE)
    assert err.value.key == "qa_context_too_long_model" and err.value.params["limit"] < 1900
    monkeypatch.undo()
    with pytest.raises(InputError) as err:
        qa.answer(QUESTION, "zq xv " * 100, GENERATIVE)
    assert err.value.key == "qa_prompt_too_long"
    for e in ("qa_question_too_many_tokens", "qa_context_too_long_model", "qa_prompt_too_long"):
        assert e in strings_qa.ZH


def test_unknown_model_never_loads() -> None:
    for key in ("../x", "distilbert-squad", "tiny-gpt2", 5):
        with pytest.raises(InputError) as err:
            qa.answer(QUESTION, CONTEXT, key)  # type: ignore[arg-type]
        assert err.value.key == "bad_model"


@pytest.mark.parametrize("model_key", [EXTRACTIVE, GENERATIVE])
def test_chinese_question_with_english_context(model_key: str) -> None:
    r = qa.answer("谁设计了这座塔？", SHORT_CONTEXT, model_key)
    _json(r.to_dict())
    if r.kind == "extractive":
        _check_extractive(r)
    method = "lime" if r.kind == "extractive" else "feature_ablation"
    e = qa.explain(r, method, SMALL, units="word")
    question_words = [w["text"] for w in e["words"] if w["part"] == "question"]
    assert question_words == [w.text for w in text.words("谁设计了这座塔？")]  # jieba: 设计, 这座
    assert "设计" in question_words


def test_strings_have_both_languages() -> None:
    assert strings_qa.EN.keys() == strings_qa.ZH.keys()
    assert all(k.startswith("qa_") for k in strings_qa.EN if k != "btn_qa")  # buttons are btn_* everywhere


# ---- Attribution -------------------------------------------------------------------------------


def _check_words(e: dict, question: str, context: str) -> None:
    words, scores = e["words"], e["scores"]
    assert e["units"] == "word"
    assert len(words) == len(scores) and all(math.isfinite(s) for s in scores)
    assert {w["part"] for w in words} == {"question", "context"}
    for w in words:
        source = question if w["part"] == "question" else context
        assert source[w["start"] : w["end"]] == w["text"]
    assert [w["text"] for w in words if w["part"] == "question"] == [u.text for u in text.words(question)]
    assert e["evaluations"] > 0 and e["seconds"] >= 0
    _json(e)


@pytest.mark.parametrize("method", list(METHODS))
def test_extractive_attribution(extractive: qa.QAResult, method: str) -> None:
    e = qa.explain(extractive, method, SMALL, units="word")
    _check_words(e, QUESTION, CONTEXT)
    assert [w["text"] for w in e["words"] if w["part"] == "context"] == [u.text for u in text.words(CONTEXT)]
    assert e["target"] == "span" and e["words_outside_window"] == 0 and e["kind"] == "extractive"
    assert e["answer_span"] == {"text": extractive.candidates[0].answer, "start": extractive.start, "end": extractive.end}
    assert [t["label"] for t in qa.explain(extractive, method, SMALL, target="all", units="word")["targets"]] == list(qa.TARGETS)
    if method in ("lime", "shap", "kernel_shap"):  # seeded: the same input gives the same explanation
        assert qa.explain(extractive, method, SMALL, units="word")["scores"] == e["scores"]


@pytest.mark.parametrize("kind, method", [("extractive", "lime"), ("extractive", "integrated_gradients"), ("generative", "lime")])
def test_explanation_progress(request: pytest.FixtureRequest, kind: str, method: str) -> None:
    seen: list[float] = []
    qa.explain(request.getfixturevalue(kind), method, SMALL, progress=lambda f, name: seen.append(f))
    assert seen and seen[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in seen)


def test_extractive_targets_add_up(extractive: qa.QAResult) -> None:
    """Integrated gradients is linear in the explained function: the span target (start logit
    + end logit) is the start target plus the end target."""
    got = {t: np.array(qa.explain(extractive, "integrated_gradients", SMALL, target=t)["scores"]) for t in qa.TARGETS}
    np.testing.assert_allclose(got["span"], got["start"] + got["end"], rtol=0, atol=1e-3 * np.abs(got["span"]).max() + 1e-9)
    spans = qa.explain(extractive, "integrated_gradients", SMALL, candidate=2)
    assert spans["candidate"] == 2 and spans["answer_span"]["start"] == extractive.candidates[2].start
    assert qa.explain(extractive, "attention", candidate=99)["candidate"] == len(extractive.candidates) - 1


def test_extractive_attribution_stays_in_the_answer_window(long_context: str) -> None:
    r = qa.answer("Where did we walk?", long_context, EXTRACTIVE)
    e = qa.explain(r, "lime", SMALL, units="word")
    _check_words(e, "Where did we walk?", long_context)
    assert e["words_outside_window"] > 0
    win = r._windows
    lo = min(o[0] for o, s in zip(win.offsets[e["window"]], win.sequence_ids[e["window"]]) if s == 1)
    hi = max(o[1] for o, s in zip(win.offsets[e["window"]], win.sequence_ids[e["window"]]) if s == 1)
    assert all(w["end"] > lo and w["start"] < hi for w in e["words"] if w["part"] == "context")


def test_attribution_errors(extractive: qa.QAResult, generative: qa.QAResult) -> None:
    cases = [
        (extractive, "magic", {}, "bad_method"),
        (extractive, "lime", {"target": "middle"}, "bad_target"),
        (generative, "lime", {"target": "span"}, "bad_target"),
        (extractive, "lime", {"units": "paragraph"}, "bad_units"),
    ]
    for result, method, kw, key in cases:
        with pytest.raises(InputError) as err:
            qa.explain(result, method, SMALL, **kw)
        assert err.value.key == key
    empty = qa.answer("Who?", "\u200b" * 8, EXTRACTIVE)  # no token the model can read
    assert empty.no_answer and not empty.candidates
    with pytest.raises(InputError) as err:
        qa.explain(empty, "lime", SMALL)
    assert err.value.key == "qa_nothing_to_explain"
    # Every method runs on both kinds (the one engine): nothing is refused.
    assert qa.methods_for(extractive) == qa.methods_for(generative) == tuple(METHODS)


@pytest.mark.parametrize("method", list(METHODS))
def test_generative_attribution(generative: qa.QAResult, method: str) -> None:
    e = qa.explain(generative, method, {**SMALL, "ig_steps": 4, "lime_samples": 16, "shap_evals": 16}, target="all",
                   units="word")
    assert e["kind"] == "generative" and e["target"] == "output"
    matrix = np.array(e["matrix"])
    assert matrix.shape == (len(e["targets"]), len(e["words"]))
    e["scores"] = list(matrix[0])
    _check_words(e, QUESTION, SHORT_CONTEXT)
    assert [w["text"] for w in e["words"] if w["part"] == "context"] == [u.text for u in text.words(SHORT_CONTEXT)]
    # The few-shot examples and "Question:" / "Context:" around the parts are never words.
    assert "Question" not in [w["text"] for w in e["words"]]
    assert e["targets"][0]["label"] == "output" and all(t["label"].startswith("word:") for t in e["targets"][1:])
    assert len(e["output_words"]) == len(e["targets"]) - 1
    if method not in ("attention", "kernel_shap"):  # log-probabilities add up: word rows sum to the answer's row
        np.testing.assert_allclose(matrix[1:].sum(axis=0), matrix[0], atol=1e-4)


def test_sentence_units_on_a_long_context() -> None:
    context = " ".join(f"Sentence {i} says that the tower is tall." for i in range(20))  # 20 sentences
    r = qa.answer(QUESTION, context, EXTRACTIVE)
    e = qa.explain(r, "feature_ablation", units="sentence")
    assert e["units"] == "sentence"
    ctx = [w for w in e["words"] if w["part"] == "context"]
    assert 1 < len(ctx) <= 20 and all(context[w["start"] : w["end"]] == w["text"] for w in ctx)
    assert all(w["text"].endswith(".") for w in ctx[:-1])


# ---- Attention ---------------------------------------------------------------------------------


def test_extractive_attention_marks_the_boundary(long_context: str) -> None:
    a = qa.attention(qa.answer(QUESTION, SHORT_CONTEXT, EXTRACTIVE))
    layers, heads, n, m = a.attentions.shape
    assert n == m == len(a.tokens) == len(a.parts) and layers == 2 and heads == 4
    assert np.isfinite(a.attentions).all() and not a.truncated
    assert a.tokens[0] == "[CLS]" and a.parts[0] == "special"
    assert a.parts[a.boundary] == "context" and a.parts[a.boundary - 1] == "special"
    assert set(a.parts[1 : a.boundary - 1]) == {"question"}
    assert a.answer_tokens and all(a.parts[i] == "context" for i in a.answer_tokens)
    np.testing.assert_allclose(a.attentions.sum(axis=-1), 1.0, atol=1e-4)  # uncropped rows
    _json(a.to_dict())
    big = qa.attention(qa.answer("Where did we walk?", long_context, EXTRACTIVE))
    assert big.truncated and 0 < len(big.tokens) <= config.LIMITS.max_attention_tokens
    # Whole words of the question and context (or the special tokens), never pieces.
    whole = {w.text for w in text.words("Where did we walk? " + long_context)} | {"[CLS]", "[SEP]"}
    assert set(big.tokens) <= whole
    assert big.answer_tokens and "question" in big.parts


def test_generative_attention_marks_the_boundary(generative: qa.QAResult) -> None:
    a = qa.attention(generative)
    assert a.attentions.shape[2] == len(a.tokens) <= config.LIMITS.max_attention_tokens
    assert a.parts[a.boundary] == "question" and "context" in a.parts[: a.boundary]
    assert [a.parts[i] for i in a.answer_tokens] == ["output"] * len(a.answer_tokens)
    # The output's words, not its tokens (numbers whole, byte pieces joined).
    loaded = models.load(config.spec_by_key("qa", generative.model_key, generative.profile))
    words, _ = llm.token_words(llm.output_token_texts(loaded.tokenizer, generative.generation.output_ids))
    assert len(a.answer_tokens) == len(words) <= len(generative.generation.output_ids)
    assert [a.tokens[i] for i in a.answer_tokens] == [w.text for w in words]
    assert "template" not in a.parts
    assert np.isfinite(a.attentions).all()


# ---- The real offline model --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("key", ["qwen2.5-coder-0.5b-instruct", "gemma3-270m", "smollm2-135m-instruct"])  # default first
def test_offline_model_names_eiffel(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    # The default (per-user) cache: the GGUF is converted once per machine, not once per run.
    monkeypatch.delenv(config.CACHE_ENV, raising=False)
    context = (
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
        "It is named after the engineer Gustave Eiffel, whose company designed and built the tower "
        "from 1887 to 1889 as the centrepiece of the 1889 World's Fair."
    )
    assert config.choices_for("qa", "offline")[0].key == "qwen2.5-coder-0.5b-instruct"  # chosen by scripts/evaluate.py
    r = qa.answer("Who designed the tower?", context, key, "offline")
    assert "Eiffel" in r.answer
    assert r.found_in_context and "Eiffel" in r.quote
    assert r.generation.stop_reason == "stop_string" and 0.0 < r.score <= 1.0
    # The attention view on the real model: one forward over the whole prompt and answer.
    a = qa.attention(r)
    assert a.parts[a.boundary] == "question" and a.answer_tokens
    layers = models.load(config.spec_by_key("qa", key, "offline")).model.config.num_hidden_layers
    assert a.attentions.shape[0] == layers and np.isfinite(a.attentions).all()
