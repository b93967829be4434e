"""A generated QA answer is withdrawn ("no answer") when it is not found in the context or its mean
token probability is below the calibrated threshold (playground.tasks.qa.generative.abstention;
the numbers behind it come from scripts/evaluate.py). The rule on its own; on the tiny decoder's
real code path, both reasons constructed from what the random model writes; and (slow) the offline
default model on items of assets/eval/qa.jsonl."""

from __future__ import annotations

import json

import pytest

from playground import config, metrics, text
from playground.tasks import qa
from playground.tasks.qa import generative

TINY = "tiny-llama"
QUESTION = "Who designed the tower?"
CONTEXT = "The tower in Paris was designed by Gustave Eiffel in 1889."
LOW = generative.ABSTAIN_MIN_SCORE


def test_the_threshold_is_a_probability() -> None:
    assert 0.0 < LOW < 1.0 and generative.ABSTAIN_IF_NOT_FOUND


@pytest.mark.parametrize(
    "said, found, score, mode, reason",
    [
        ("Gustave Eiffel", True, 0.9, "plain", None),
        ("Gustave Eiffel", True, LOW, "plain", None),  # at the threshold: kept
        ("Gustave Eiffel", True, LOW * 0.99, "plain", "low_score"),
        ("Napoleon", False, 0.99, "plain", "not_in_context"),  # sure, but made up
        ("Napoleon", False, 0.01, "plain", "not_in_context"),
        ("", False, 0.0, "plain", None),  # nothing said: no answer already, nothing withdrawn
        ("  ", False, 0.0, "plain", None),
        ("Napoleon", False, 0.01, "chat", None),  # chat mode is not calibrated
    ],
)
def test_abstention_rule(said: str, found: bool, score: float, mode: str, reason: str | None) -> None:
    assert generative.abstention(said, found, score, mode) == reason


def _tiny(context: str, **kw) -> qa.QAResult:
    return qa.answer(QUESTION, context, TINY, max_new_tokens=4, **kw)


def _check_withdrawn(r: qa.QAResult, reason: str) -> None:
    assert r.no_answer and r.abstained == reason
    assert r.answer == r.generation.text.strip()  # what the model wrote stays in the result
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["no_answer"] is True and d["abstained"] == reason and d["answer"] == r.answer


def test_tiny_answer_not_in_the_context_is_withdrawn() -> None:
    r = _tiny(CONTEXT)
    # The random model writes word pieces that are not in this context.
    assert r.answer and not r.found_in_context, r.answer
    _check_withdrawn(r, "not_in_context")
    assert r.start is None and r.quote == ""


def test_tiny_unsure_answer_found_in_the_context_is_withdrawn() -> None:
    first = _tiny(CONTEXT)
    words = [w.text for w in text.words(first.answer) if any(ch.isalnum() for ch in w.text)]
    assert words, first.answer
    # A context holding the words the random model writes (its output barely depends on the
    # context, checked below): its answer is now found there, but the model is as unsure as ever.
    context = f"Bees {' '.join(words)} members of the hive, and the tower in Paris was designed by Gustave Eiffel."
    r = _tiny(context)
    assert r.answer == first.answer, "the tiny model's answer changed with the context"
    assert r.found_in_context and r.quote and r.score < LOW, (r.answer, r.score)
    _check_withdrawn(r, "low_score")
    assert qa.locate(r.answer, r.context) is not None  # still located: the UI can show what it quoted


def test_tiny_chat_answer_is_never_withdrawn() -> None:
    r = _tiny(CONTEXT, mode="chat")
    assert r.generation.mode == "chat" and r.abstained is None
    assert r.no_answer == (not r.answer)


def test_extractive_results_have_no_abstention() -> None:
    r = qa.answer(QUESTION, CONTEXT, "tiny-distilbert-qa")
    assert r.abstained is None and "abstained" not in r.to_dict()


# ---- The real offline default model ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("item_id", ["q26", "q19", "q56", "q44"])  # no answer, answer; in English and Chinese
def test_offline_default_abstains_only_without_an_answer(monkeypatch: pytest.MonkeyPatch, item_id: str) -> None:
    # The default (per-user) cache: the GGUF is converted once per machine, not once per run.
    monkeypatch.delenv(config.CACHE_ENV, raising=False)
    item = {r["id"]: r for r in metrics.load_jsonl(metrics.EVAL_DIR / "qa.jsonl")}[item_id]
    spec = config.choices_for("qa", "offline")[0]
    r = qa.answer(item["question"], item["context"], spec.key, "offline")
    if item["answers"]:
        assert not r.no_answer and r.abstained is None, (r.answer, r.score)
        assert r.found_in_context and r.score >= LOW
        em = metrics.squad_scores([r.answer], [item["answers"]], [item["lang"]])["exact_match"]
        assert em == 100.0, r.answer
    else:
        assert r.no_answer and r.abstained in ("not_in_context", "low_score"), (r.answer, r.score)
        assert r.to_dict()["no_answer"] is True


def test_the_tab_says_what_was_withdrawn_and_why_in_both_languages() -> None:
    from playground.ui.qa_tab import summary_line

    r = _tiny(CONTEXT)
    assert r.abstained == "not_in_context"
    en, zh = summary_line(r, "en"), summary_line(r, "zh-CN")
    assert "withdrawn" in en and "not in the context" in en and "found" not in en.split("withdrawn")[0].lower()
    assert "撤回" in zh and "不在上下文" in zh
