"""scripts/evaluate.py's own logic: the abstention trade-off, the Traditional-character count,
the directions' files, results.json merging, and (on the tiny models) the translation and QA
runners end to end. The real scores come from running the script on the offline models."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def evaluate(tiny_profile):
    """The script as a module, imported after the tiny profile is set (it defaults to offline)."""
    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "scripts" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_abstention_tradeoff_counts_what_a_rule_keeps_and_drops(evaluate) -> None:
    said = ["Paris", "1953", "Brazil", ""]
    scores = [0.9, 0.3, 0.2, 0.0]
    found = [True, True, False, False]
    answers = [["Paris"], ["1953"], [], []]
    rows = evaluate.abstention_tradeoff(said, scores, found, answers, ["en"] * 4, thresholds=(0.0, 0.5))
    by = {(r["not_found"], r["min_score"]): r for r in rows}
    assert len(rows) == 4
    for r in rows:
        assert (r["no_answer_n"], r["right_n"], r["answerable_n"]) == (2, 2, 2)
    # No rule: only the empty answer counts as an abstention; "Brazil" is wrong.
    assert (by[False, 0.0]["no_answer_abstained"], by[False, 0.0]["right_lost"], by[False, 0.0]["exact_match"]) == (1, 0, 75.0)
    # Not found in the context: "Brazil" withdrawn, nothing right lost.
    assert (by[True, 0.0]["no_answer_abstained"], by[True, 0.0]["right_lost"], by[True, 0.0]["exact_match"]) == (2, 0, 100.0)
    # A threshold of 0.5 also withdraws the right but unsure "1953".
    for key in ((False, 0.5), (True, 0.5)):
        assert (by[key]["no_answer_abstained"], by[key]["right_lost"], by[key]["answerable_abstained"]) == (2, 1, 1)
        assert by[key]["exact_match"] == 75.0


def test_traditional_counts_before_and_after_opencc(evaluate) -> None:
    from playground import language

    raw = ["學生在學校裡種樹。", "孩子们在花园里玩。", "The children play."]
    final = [language.to_simplified(t) for t in raw]
    got = evaluate.traditional_counts(raw, final)
    assert got["traditional_before_conversion"] == 1
    assert got["traditional_after_conversion"] == 0
    assert {"學", "種"} <= set(got["traditional_chars_before"]) and "们" not in got["traditional_chars_before"]
    assert evaluate.traditional_counts(raw, raw)["traditional_after_conversion"] == 1


def test_every_direction_has_its_eval_set(evaluate) -> None:
    from playground.tasks import translation

    assert evaluate.pairs_file("en").name == "translation_zh-en.tsv"
    assert evaluate.pairs_file("zh").name == "translation_en-zh.tsv"
    for target in translation.TARGETS:
        assert evaluate.pairs_file(target).exists(), target


def test_merge_keeps_other_models_and_directions(evaluate) -> None:
    saved = {"translation": {"machine": "old", "results": {"a": {"zh": {"chrf": 1}, "fr": {"chrf": 2}}, "b": {"zh": {}}}}}
    evaluate.merge(saved, "translation", {"a": {"en": {"chrf": 3}, "zh": {"chrf": 4}}}, "new")
    entry = saved["translation"]
    assert entry["machine"] == "new" and set(entry["results"]) == {"a", "b"}
    assert entry["results"]["a"] == {"zh": {"chrf": 4}, "fr": {"chrf": 2}, "en": {"chrf": 3}}
    evaluate.merge(saved, "qa", {"a": {"f1": 1.0}}, "new")
    assert saved["qa"]["results"] == {"a": {"f1": 1.0}}


def test_summary_scores_chinese_by_characters(evaluate) -> None:
    items = [{"text": "从下个月一日起，本市将增开二十条公交快线。", "reference": "本市增开二十条公交快线。"}]
    assert evaluate.summary_scores(["本市增开二十条公交快线。"], items, "zh", 1.0)["rouge_l"] == 100.0
    assert evaluate.summary_scores(["本市增开二十条公交快线。"], items, "en", 1.0)["rouge_l"] == 0.0  # rouge-score's tokens
    copied = evaluate.summary_scores([items[0]["text"]], items, "zh", 2.0)
    assert copied["copied"] == 1 and 0.0 < copied["rouge_l"] < 100.0 and copied["seconds_per_item"] == 2.0
    # The lead baseline: the source's first sentence (here the whole one-sentence source).
    assert copied["lead_rouge_l"] == copied["rouge_l"]
    assert evaluate.first_sentence("今天下雨了。我们没去公园。") == "今天下雨了。"
    assert evaluate.first_sentence("It rained on 3.5 Mile Road. We stayed in.") == "It rained on 3.5 Mile Road."


def test_qa_report_splits_languages_and_held_out_items(evaluate) -> None:
    items = [
        {"id": "q01", "lang": "en", "context": "Paris is in France.", "answers": ["Paris"]},
        {"id": "q02", "lang": "en", "context": "Paris is in France.", "answers": []},
        {"id": "q50", "lang": "zh", "context": "饺子馆周一休息。", "answers": ["周一"]},
        {"id": "q56", "lang": "zh", "context": "饺子馆周一休息。", "answers": []},
    ]
    assert {"q50", "q56"} <= evaluate.QA_HELD_OUT and "q01" not in evaluate.QA_HELD_OUT
    said = ["Paris", "France", "周一", "周一"]
    preds = ["Paris", "", "周一", "周一"]  # the rule withdrew "France" only
    rep = evaluate.qa_report(items, preds, said, [0.9, 0.4, 0.9, 0.9], [True, True, True, True])
    assert rep["exact_match"] == 75.0 and rep["without_abstention"]["exact_match"] == 50.0
    assert rep["by_lang"]["en"]["exact_match"] == 100.0 and rep["by_lang"]["zh"]["exact_match"] == 50.0
    assert rep["by_lang"]["zh"]["no_answer_n"] == 1 and rep["by_group"]["en_long"] is None
    assert set(rep["abstention"]) == {"calibration", "held_out"}
    held = {(r["not_found"], r["min_score"]): r for r in rep["abstention"]["held_out"]}
    assert held[False, 0.0]["no_answer_abstained"] == 0 and held[False, 0.0]["answerable_n"] == 1
    json.dumps(rep, allow_nan=False)


def test_translation_runner_on_the_tiny_models(evaluate) -> None:
    from playground.tasks import translation

    out = evaluate.eval_translation(None, 2, ["zh", "en"])
    assert set(out) == {s.key for t in ("zh", "en") for s in translation.models_for(t, "tiny")}
    for per in out.values():
        for target, r in per.items():
            assert r["direction"] == ("zh-en" if target == "en" else "en-zh") and r["n"] == 2
            assert len(r["outputs"]) == 2 and 0.0 <= r["chrf"] <= 100.0
            if target == "zh":
                # Whatever the model wrote, nothing Traditional is left after the conversion, and
                # the outputs that held Traditional characters are the converted ones.
                assert r["traditional_after_conversion"] == 0
                assert r["traditional_before_conversion"] == r["outputs_converted"] <= 2
                assert len(r["simplified_chars"]) == 2


def test_qa_runner_on_the_tiny_models(evaluate) -> None:
    out = evaluate.eval_qa(["tiny-distilbert-qa"], 1)  # the eval file's first English and Chinese items
    assert {it["id"] for it in out["tiny-distilbert-qa"]["items"]} == {"q01", "q37"}
    # The tiny decoder reads 511 tokens: short items of the same shape for it.
    items = [
        {"id": "a1", "lang": "en", "question": "Who designed the tower?", "answers": ["Gustave Eiffel"],
         "context": "The tower in Paris was designed by Gustave Eiffel in 1889."},
        {"id": "a2", "lang": "zh", "question": "这座塔是谁设计的？", "answers": [], "context": "这座塔在巴黎，每年有很多游客。"},
    ]
    out.update(evaluate.eval_qa(["tiny-llama"], None, items=items))
    from playground.tasks.qa import generative

    for r in out.values():
        assert r["n"] == 2 and r["rule"]["min_score"] == generative.ABSTAIN_MIN_SCORE
        assert r["by_lang"]["en"]["n"] == r["by_lang"]["zh"]["n"] == 1
        for rec, pred in zip(r["items"], r["outputs"]):
            assert pred == ("" if rec["abstained"] or not rec["said"] else rec["said"])
        json.dumps(r, allow_nan=False)
