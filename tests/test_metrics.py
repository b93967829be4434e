"""Offline metrics (playground.metrics) and the hand-written evaluation sets in assets/eval."""

from __future__ import annotations

import json

import pytest

from playground import metrics
from playground.metrics import (
    EVAL_DIR,
    bleu,
    chrf,
    load_jsonl,
    load_pairs,
    rouge_l,
    squad_scores,
)

LANGS = ("zh", "fr", "de")


# --- ROUGE-L -----------------------------------------------------------------------------------


def test_rouge_l_identical_is_100() -> None:
    texts = ["The council approved the new bridge.", "Rents rose by nine per cent."]
    assert rouge_l(texts, texts) == pytest.approx(100.0)


def test_rouge_l_orders_better_and_worse_predictions() -> None:
    ref = ["The town council approved a new bridge over the river."]
    close = rouge_l(["The council approved a bridge over the river."], ref)
    wrong = rouge_l(["Heavy rain flooded two hundred homes."], ref)
    assert 0.0 < close < 100.0
    assert wrong < close


def test_rouge_l_uses_stemming() -> None:
    # "approved"/"approves" and "bridges"/"bridge" only match after Porter stemming.
    assert rouge_l(["The council approves bridges"], ["The council approved bridge"]) == pytest.approx(100.0)


def test_rouge_l_chinese_scores_characters() -> None:
    ref = ["今天天气很好，我们去公园散步。"]
    # rouge-score's own tokenizer keeps only [a-z0-9]: any Chinese pair would score 0 under it.
    assert rouge_l(["今天天气很好，我们去公园散步。"], ref) == pytest.approx(0.0)
    assert rouge_l(ref, ref, lang="zh") == pytest.approx(100.0)
    # Characters (punctuation dropped): the LCS 今天天气 好 我们去公园 is 10 of the 11 predicted
    # and 13 reference characters: P = 10/11, R = 10/13, F = 2PR / (P + R) = 20/24.
    p, r = 10 / 11, 10 / 13
    got = rouge_l(["今天天气不好我们去公园"], ref, lang="zh-CN")
    assert got == pytest.approx(100 * 2 * p * r / (p + r))
    assert rouge_l(["明年会下雪"], ref, lang="zh") < got
    # Latin runs inside Chinese text stay whole words, lower-cased.
    assert metrics._CharTokenizer().tokenize("我用iPhone 15拍照。") == ["我", "用", "iphone", "15", "拍", "照"]


def test_rouge_l_rejects_misaligned_inputs() -> None:
    with pytest.raises(ValueError):
        rouge_l(["a", "b"], ["a"])
    with pytest.raises(ValueError):
        rouge_l([], [])


# --- BLEU and chrF -----------------------------------------------------------------------------


def test_bleu_and_chrf_identical_is_100() -> None:
    refs = ["The museum is closed on Mondays.", "Can I pay by card?"]
    assert bleu(refs, refs, target="en") == pytest.approx(100.0)
    assert chrf(refs, refs) == pytest.approx(100.0)


def test_bleu_and_chrf_wrong_prediction_scores_lower() -> None:
    refs = ["Le musée est fermé le lundi."]
    good = ["Le musée est fermé le lundi."]
    partial = ["Le musée est ouvert le mardi."]
    wrong = ["Il pleut des cordes aujourd'hui."]
    assert bleu(partial, refs, "fr") < bleu(good, refs, "fr")
    assert bleu(wrong, refs, "fr") < bleu(partial, refs, "fr")
    assert chrf(wrong, refs) < chrf(partial, refs) < chrf(good, refs)


def test_bleu_chinese_uses_character_tokenisation() -> None:
    ref = ["我们通常七点吃晚饭。"]
    assert bleu(ref, ref, target="zh") == pytest.approx(100.0)
    partial = ["我们通常八点吃晚饭。"]
    score = bleu(partial, ref, target="zh")
    assert 0.0 < score < 100.0
    # With the default 13a tokenizer the whole sentence is one token: no partial credit.
    assert bleu(partial, ref, target="en") == pytest.approx(0.0)
    # Region/script variants of the code select the same tokenizer.
    assert bleu(partial, ref, target="zh-CN") == pytest.approx(score)


def test_chrf_gives_partial_credit_in_chinese() -> None:
    ref = ["我们通常七点吃晚饭。"]
    assert 0.0 < chrf(["我们通常八点吃晚饭。"], ref) < 100.0


# --- SQuAD -------------------------------------------------------------------------------------


def test_squad_identical_is_100() -> None:
    result = squad_scores(["Gustave Eiffel", "1953"], [["Gustave Eiffel", "Eiffel"], ["1953"]])
    assert result["exact_match"] == pytest.approx(100.0)
    assert result["f1"] == pytest.approx(100.0)
    assert result["n"] == 2
    assert result["no_answer_accuracy"] is None


def test_squad_normalisation() -> None:
    result = squad_scores(["The Eiffel Tower."], [["eiffel tower"]])
    assert result["exact_match"] == pytest.approx(100.0)
    assert result["f1"] == pytest.approx(100.0)
    assert metrics.normalize_answer("  An  Apple, the PEAR! ") == "apple pear"


def test_squad_partial_overlap() -> None:
    result = squad_scores(["designed by Gustave Eiffel in Paris"], [["Gustave Eiffel"]])
    assert result["exact_match"] == pytest.approx(0.0)
    # 2 of 6 predicted tokens are gold; both gold tokens found: P = 1/3, R = 1, F1 = 0.5
    assert result["f1"] == pytest.approx(50.0)


def test_squad_takes_max_over_acceptable_answers() -> None:
    result = squad_scores(["Eiffel"], [["Gustave Eiffel", "Eiffel"]])
    assert result["exact_match"] == pytest.approx(100.0)


def test_squad_wrong_answer_scores_zero() -> None:
    result = squad_scores(["Paris"], [["Gustave Eiffel"]])
    assert result["exact_match"] == 0.0 and result["f1"] == 0.0


def test_squad_no_answer_questions() -> None:
    # Abstaining on a no-answer question is right; answering it is wrong.
    right = squad_scores(["", " . "], [[], []])
    assert right["exact_match"] == pytest.approx(100.0)
    assert right["f1"] == pytest.approx(100.0)
    assert right["no_answer_accuracy"] == pytest.approx(100.0)
    wrong = squad_scores(["Brazil", "about a million tonnes"], [[], []])
    assert wrong["exact_match"] == 0.0 and wrong["f1"] == 0.0
    assert wrong["no_answer_accuracy"] == 0.0
    # Abstaining on an answerable question is wrong too.
    abstain = squad_scores([""], [["Neil Armstrong"]])
    assert abstain["exact_match"] == 0.0 and abstain["f1"] == 0.0


def test_squad_mixed_breakdown() -> None:
    result = squad_scores(["Athens", "", "Brazil", "Rome"], [["Athens"], [], [], ["Paris"]])
    assert result["n"] == 4
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["has_answer_n"] == 2 and result["no_answer_n"] == 2
    assert result["has_answer_exact_match"] == pytest.approx(50.0)
    assert result["no_answer_accuracy"] == pytest.approx(50.0)
    assert result["per_item_exact_match"] == [100.0, 100.0, 0.0, 0.0]


def test_squad_chinese_character_level() -> None:
    assert metrics.qa_tokens("1987年，明朝。", chinese=True) == ["1987", "年", "明", "朝"]
    # Punctuation and spaces do not matter for an exact match.
    exact = squad_scores(["“包饺子”。"], [["包饺子"]], langs=["zh"])
    assert exact["exact_match"] == pytest.approx(100.0)
    # Two of three characters: P = 1, R = 2/3, F1 = 0.8. Whitespace tokens would give 0.
    partial = squad_scores(["饺子"], [["包饺子"]], langs=["zh"])
    assert partial["exact_match"] == 0.0
    assert partial["f1"] == pytest.approx(80.0)
    # CJK text is detected without langs.
    assert squad_scores(["饺子"], [["包饺子"]])["f1"] == pytest.approx(80.0)
    assert squad_scores(["饺子"], [["包饺子"]], langs=["en"])["f1"] == pytest.approx(80.0)


def test_squad_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        squad_scores(["a"], [["a"], ["b"]])
    with pytest.raises(ValueError):
        squad_scores(["a"], [["a"]], langs=["en", "zh"])
    with pytest.raises(TypeError):
        squad_scores(["a"], ["a"])  # type: ignore[list-item]


# --- Loaders -----------------------------------------------------------------------------------


def test_load_pairs_and_jsonl_report_bad_lines(tmp_path) -> None:
    tsv = tmp_path / "x.tsv"
    tsv.write_text("english\treference\nHello.\tBonjour.\n\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":4:"):
        load_pairs(tsv)
    tsv.write_text("english\treference\nHello.\tBonjour.\n", encoding="utf-8")
    assert load_pairs(tsv) == [("Hello.", "Bonjour.")]
    jl = tmp_path / "x.jsonl"
    jl.write_text('{"id": "a"}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=":3:"):
        load_jsonl(jl)


# --- The evaluation sets -----------------------------------------------------------------------


def _words(text: str) -> int:
    return len(text.split())


def test_summaries_file() -> None:
    rows = load_jsonl(EVAL_DIR / "summaries.jsonl")
    assert len({r["id"] for r in rows}) == len(rows)
    by_lang: dict[str, list[dict]] = {}
    for r in rows:
        assert set(r) == {"id", "lang", "text", "reference"}, r["id"]
        by_lang.setdefault(r["lang"], []).append(r)
        if r["lang"] == "en":
            assert 60 <= _words(r["text"]) <= 120, r["id"]
            assert 15 <= _words(r["reference"]) <= 35, r["id"]
            assert not metrics.has_cjk(r["text"]), r["id"]
        else:
            assert r["lang"] == "zh", r["id"]
            # Chinese has no spaces: lengths in characters (a paragraph, one or two sentences).
            assert 120 <= len(r["text"]) <= 300 and 30 <= len(r["reference"]) <= 80, r["id"]
            assert metrics.has_cjk(r["text"]) and metrics.has_cjk(r["reference"]), r["id"]
        assert len(r["reference"]) < len(r["text"]) / 2, r["id"]
    assert len(by_lang["en"]) >= 24 and len(by_lang["zh"]) >= 8
    # Scoring the references against themselves runs end to end, Chinese by characters.
    for lang, items in by_lang.items():
        refs = [r["reference"] for r in items]
        assert rouge_l(refs, refs, lang=lang) == pytest.approx(100.0)


def test_summaries_file_is_utf8_without_escapes() -> None:
    raw = (EVAL_DIR / "summaries.jsonl").read_text(encoding="utf-8")
    assert "\\u" not in raw


@pytest.mark.parametrize("lang", LANGS)
def test_translation_file(lang: str) -> None:
    path = EVAL_DIR / f"translation_en-{lang}.tsv"
    assert path.read_text(encoding="utf-8").split("\n", 1)[0] == "english\treference"
    pairs = load_pairs(path)
    assert len(pairs) >= 32
    for en, ref in pairs:
        assert 4 <= _words(en) <= 20, en
        assert ref != en
    if lang == "zh":
        assert all(metrics.has_cjk(ref) for _, ref in pairs)
    refs = [ref for _, ref in pairs]
    assert bleu(refs, refs, target=lang) == pytest.approx(100.0)


def test_translation_file_zh_en() -> None:
    path = EVAL_DIR / "translation_zh-en.tsv"
    assert path.read_text(encoding="utf-8").split("\n", 1)[0] == "chinese\treference"
    pairs = load_pairs(path)
    assert len(pairs) >= 40 and len({zh for zh, _ in pairs}) == len(pairs)
    for zh, en in pairs:
        assert metrics.has_cjk(zh) and not metrics.has_cjk(en), zh
        assert 4 <= len(zh) <= 40 and 3 <= _words(en) <= 25, zh
    # At least half are new sentences, not the en→zh set's references read backwards.
    reversed_ = {ref for _, ref in load_pairs(EVAL_DIR / "translation_en-zh.tsv")}
    assert sum(zh not in reversed_ for zh, _ in pairs) >= len(pairs) / 2
    refs = [en for _, en in pairs]
    assert bleu(refs, refs, target="en") == pytest.approx(100.0)


def test_translation_files_share_english_column() -> None:
    columns = [[en for en, _ in load_pairs(EVAL_DIR / f"translation_en-{lang}.tsv")] for lang in LANGS]
    assert columns[0] == columns[1] == columns[2]
    assert len(set(columns[0])) == len(columns[0])


def test_qa_file() -> None:
    rows = load_jsonl(EVAL_DIR / "qa.jsonl")
    assert len(rows) >= 44
    assert len({r["id"] for r in rows}) == len(rows)
    no_answer = long = chinese = 0
    for r in rows:
        assert set(r) == {"id", "question", "context", "answers", "lang"}, r["id"]
        assert r["lang"] in ("en", "zh"), r["id"]
        ctx, answers = r["context"], r["answers"]
        assert isinstance(answers, list), r["id"]
        for a in answers:
            assert a and a in ctx, (r["id"], a)
        if not answers:
            no_answer += 1
        if r["lang"] == "zh":
            chinese += 1
            assert metrics.has_cjk(r["question"]) and metrics.has_cjk(ctx), r["id"]
            continue
        n = _words(ctx)
        if n >= 250:
            long += 1
            assert n <= 400, r["id"]
            # The answer sits late: its first occurrence comes after the first 200 words.
            for a in answers:
                assert _words(ctx[: ctx.index(a)]) >= 200, (r["id"], a)
        else:
            assert 40 <= n <= 120, r["id"]
            for a in answers:
                assert _words(a) <= 5, (r["id"], a)
    assert no_answer >= 6
    assert long >= 6
    assert chinese >= 20
    # Chinese no-answer items too (abstention is measured in both languages).
    assert sum(1 for r in rows if r["lang"] == "zh" and not r["answers"]) >= 4


def test_qa_file_has_the_eiffel_question() -> None:
    rows = load_jsonl(EVAL_DIR / "qa.jsonl")
    eiffel = [r for r in rows if r["question"] == "Who designed the tower?"]
    assert len(eiffel) == 1
    assert {"Gustave Eiffel", "Eiffel"} <= set(eiffel[0]["answers"])


def test_qa_gold_answers_score_100() -> None:
    rows = load_jsonl(EVAL_DIR / "qa.jsonl")
    preds = [r["answers"][0] if r["answers"] else "" for r in rows]
    result = squad_scores(preds, [r["answers"] for r in rows], [r["lang"] for r in rows])
    assert result["exact_match"] == pytest.approx(100.0)
    assert result["no_answer_n"] >= 6
    assert result["no_answer_accuracy"] == pytest.approx(100.0)


def test_eval_files_are_json_lines() -> None:
    for name in ("summaries.jsonl", "qa.jsonl"):
        for line in (EVAL_DIR / name).read_text(encoding="utf-8").splitlines():
            assert isinstance(json.loads(line), dict)
