"""The in-app evaluation (playground.evaluation): bundled sets, uploads, and runs scored on the
tiny random models through the tasks' own code paths."""

from __future__ import annotations

import json
import math
import threading

import pytest
from sklearn.metrics import f1_score

from playground import api, evaluation
from playground.errors import InputError
from playground.evaluation import COLUMNS, SETS, estimate_seconds, evaluate, evaluate_set, parse_upload, sets_for

REVIEWS = [
    ("I loved this movie.", "positive"),
    ("A complete waste of time.", "neg"),
    ("The soup was cold and the waiter was rude.", "Negative"),
    ("Great value, I would buy it again.", "1"),
    ("Boring from start to finish.", "0"),
    ("What a wonderful surprise!", "POS"),
    ("The battery died after a day.", "negative"),
    ("Friendly staff and a lovely view.", "positive"),
]


def _csv(rows: list[tuple[str, ...]], header: str) -> bytes:
    lines = [header] + [",".join(json.dumps(v, ensure_ascii=False) if "," in v else v for v in r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _finite(report: evaluation.EvalReport) -> dict:
    out = report.to_dict()
    json.dumps(out, allow_nan=False)
    return out


def test_every_bundled_set_loads_with_its_tasks_columns() -> None:
    assert len(SETS) == 10
    for name, s in SETS.items():
        rows = s.rows()
        assert rows, name
        assert all(set(COLUMNS[s.task]) <= set(r) for r in rows), name
        assert s in sets_for(s.task)
    assert {s.target for s in sets_for("translation")} == {"zh", "fr", "de", "en"}
    assert all(r["label"] in ("positive", "negative") for r in SETS["sentiment-zh"].rows())
    assert any(not r["answers"] for r in SETS["qa-en"].rows())  # no-answer questions kept as []


def test_sentiment_accuracy_equals_the_apis_on_the_same_rows() -> None:
    rows = parse_upload("sentiment", "reviews.csv", _csv(REVIEWS, "text,label"))
    assert [r["label"] for r in rows] == ["positive", "negative", "negative", "positive", "negative", "positive",
                                          "negative", "positive"]
    report = evaluate("sentiment", rows)
    said = [api.sentiment(r["text"])["label"] for r in rows]
    gold = [r["label"] for r in rows]
    assert report.metrics["accuracy"] == pytest.approx(100 * sum(s == g for s, g in zip(said, gold)) / len(rows))
    by_index = {r["index"]: r for r in report.rows}
    assert [by_index[i]["prediction"] for i in range(len(rows))] == said
    # The confusion matrix counts every row; macro-F1 is sklearn's on the same predictions.
    assert report.labels[:2] == ["negative", "positive"]
    assert sum(map(sum, report.confusion)) == len(rows) == report.scored
    assert report.metrics["macro_f1"] == pytest.approx(100 * f1_score(gold, said, average="macro",
                                                                      labels=["negative", "positive"], zero_division=0))
    for r in report.rows:
        assert r["score"]["correct"] == (r["prediction"] == r["reference"])
        assert r["wrongness"] == pytest.approx(1 - r["probabilities"][r["reference"]])
        assert r["open"] == {"task": "sentiment", "text": r["inputs"]["text"], "model": r["model"]}
    assert [r["wrongness"] for r in report.rows] == sorted((r["wrongness"] for r in report.rows), reverse=True)
    _finite(report)


def test_chinese_labels_and_json_numbers_are_accepted() -> None:
    csv_rows = parse_upload("sentiment", "zh.csv", _csv([("这家餐厅的菜很好吃。", "正面"), ("太难吃了。", "负面"),
                                                         ("服务很热情。", "积极"), ("质量太差。", "消极")], "text,label"))
    assert [r["label"] for r in csv_rows] == ["positive", "negative", "positive", "negative"]
    jsonl = "\n".join(json.dumps({"text": t, "label": v}, ensure_ascii=False) for t, v in
                      (("很好", 1), ("很差", 0), ("不错", "Positive"))).encode("utf-8")
    assert [r["label"] for r in parse_upload("sentiment", "zh.jsonl", jsonl)] == ["positive", "negative", "positive"]
    report = evaluate("sentiment", csv_rows)
    assert report.scored == 4 and sum(map(sum, report.confusion)) == 4


@pytest.mark.parametrize(("task", "name", "data", "key", "params"), [
    ("sentiment", "a.csv", b"", "eval_empty", {}),
    ("sentiment", "a.csv", b"  \n\n", "eval_empty", {}),
    ("sentiment", "a.csv", "text,label\ncaf\u00e9,positive\n".encode("latin-1"), "eval_not_utf8", {}),
    ("sentiment", "a.xlsx", b"text,label\nok,positive\n", "eval_bad_extension", {"name": "a.xlsx"}),
    ("sentiment", "a.csv", b"text,label\n", "eval_no_rows", {}),
    ("sentiment", "a.csv", b"review,label\nnice,positive\n", "eval_missing_column",
     {"column": "text", "columns": "text, label"}),
    ("sentiment", "a.csv", b"text,label\nnice,positive\n,negative\n", "eval_empty_field", {"line": 3, "column": "text"}),
    ("sentiment", "a.csv", b"text,label\nnice,positive\nbad,meh\n", "eval_bad_label", {"line": 3, "label": "meh"}),
    ("sentiment", "a.csv", b"text,label\nnice,positive\nbad, really bad,negative\n", "eval_field_count",
     {"line": 3, "n": 3, "expected": 2}),
    ("sentiment", "a.jsonl", b'{"text": "nice", "label": "pos"}\n{"text": "bad", "label": \n', "eval_bad_json",
     {"line": 2}),
    ("sentiment", "a.jsonl", b'{"text": "nice", "label": "pos"}\n\n["bad", "neg"]\n', "eval_not_object", {"line": 3}),
    ("sentiment", "a.jsonl", b'{"text": "nice"}\n', "eval_missing_key", {"line": 1, "column": "label"}),
    ("sentiment", "a.jsonl", b'{"text": 5, "label": "pos"}\n', "eval_not_text", {"line": 1, "column": "text"}),
    ("qa", "a.jsonl", b'{"question": "Who?", "context": "Ann did.", "answers": [1]}\n', "eval_bad_answers", {"line": 1}),
    ("qa", "a.csv", b'question,context,answers\nWho?,Ann did.,"[""Ann"""\n', "eval_bad_answers", {"line": 2}),
    ("summarization", "a.csv", b"text,reference\nx,y\n", "eval_missing_column", {"column": "summary"}),
    ("translation", "a.tsv", b"source\treference\nhello\t\n", "eval_empty_field", {"line": 2, "column": "reference"}),
    ("poetry", "a.csv", b"text\nx\n", "eval_bad_task", {"task": "poetry"}),
])
def test_a_malformed_upload_says_what_and_where(task: str, name: str, data: bytes, key: str, params: dict) -> None:
    with pytest.raises(InputError) as err:
        parse_upload(task, name, data)
    assert err.value.key == key
    assert params.items() <= err.value.params.items()


def test_uploads_are_bounded_in_rows_and_bytes() -> None:
    many = _csv([(f"review {i}", "pos") for i in range(evaluation.MAX_UPLOAD_ROWS + 1)], "text,label")
    with pytest.raises(InputError) as err:
        parse_upload("sentiment", "a.csv", many)
    assert err.value.key == "eval_too_many_rows" and err.value.params["n"] == evaluation.MAX_UPLOAD_ROWS + 1
    with pytest.raises(InputError) as err:
        parse_upload("sentiment", "a.csv", b"text,label\n" + b"x" * evaluation.MAX_UPLOAD_BYTES)
    assert err.value.key == "eval_too_large"


def test_qa_answers_parse_as_a_list_a_string_or_nothing() -> None:
    data = (b'question,context,answers\n'
            b'Who built it?,"Ann built it, with Bob.","[""Ann"", ""Ann and Bob""]"\n'
            b'Who helped?,"Ann built it, with Bob.",Bob\n'
            b'When?,"Ann built it, with Bob.",\n')
    rows = parse_upload("qa", "qa.csv", data)
    assert [r["answers"] for r in rows] == [["Ann", "Ann and Bob"], ["Bob"], []]
    jsonl = b'{"question": "Who?", "context": "Ann did it.", "answers": "Ann"}\n{"question": "When?", "context": "Ann did it."}\n'
    assert [r["answers"] for r in parse_upload("qa", "qa.jsonl", jsonl)] == [["Ann"], []]


def test_stop_after_a_few_rows_gives_a_partial_report() -> None:
    rows = SETS["qa-en"].rows()[:6]
    stop, seen = threading.Event(), []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 2:
            stop.set()

    report = evaluate("qa", rows, progress=progress, stop=stop)
    assert report.stopped and report.scored == 2 and report.n == 6
    assert seen == [(1, 6), (2, 6)]
    assert report.metrics["exact_match"] is not None and len(report.rows) == 2


def test_a_row_the_task_refuses_is_an_error_row_listed_last() -> None:
    rows = [{"text": "x" * 2500, "label": "positive"}, {"text": "I loved it.", "label": "positive"}]
    report = evaluate("sentiment", rows)
    assert (report.scored, report.errors) == (1, 1)
    last = report.rows[-1]
    assert last["index"] == 0 and last["wrongness"] is None
    assert last["error"]["key"] == "input_too_long" and last["error"]["params"]["n"] == 2500
    qa_rows = [{"question": "Who wrote this very long question about nothing?", "context": "Ann.", "answers": ["Ann"]}]
    qa = evaluate("qa", qa_rows).to_dict()
    assert qa["errors"] == 1 and qa["rows"][0]["error"]["key"] == "qa_question_longer"
    assert qa["metrics"]["f1"] is None


@pytest.mark.parametrize(("name", "metric_names"), [
    ("qa-en", ("exact_match", "f1")),
    ("qa-zh", ("exact_match", "f1")),
    ("summaries-zh", ("rouge_l",)),
    ("translation-en-zh", ("chrf", "bleu")),
    ("translation-zh-en", ("chrf", "bleu")),
])
def test_each_task_runs_end_to_end_with_finite_metrics(name: str, metric_names: tuple[str, ...]) -> None:
    report = evaluate_set(name, limit=2)
    out = _finite(report)
    assert out["scored"] == 2 and not out["stopped"] and out["models"]
    for m in metric_names:
        assert math.isfinite(out["metrics"][m]) and 0 <= out["metrics"][m] <= 100
    for row in out["rows"]:
        assert 0.0 <= row["wrongness"] <= 1.0 and isinstance(row["prediction"], str)
        assert row["open"]["task"] == SETS[name].task
    wrong = [r["wrongness"] for r in out["rows"]]
    assert wrong == sorted(wrong, reverse=True)
    if SETS[name].task == "translation":
        assert out["target"] == SETS[name].target and out["rows"][0]["open"]["target"] == SETS[name].target


def test_a_wrong_model_fails_the_run_not_each_row() -> None:
    with pytest.raises(InputError) as err:
        evaluate("summarization", SETS["summaries-en"].rows()[:2], model_key="no-such-model")
    assert err.value.key == "bad_model"


def test_the_estimate_is_measured_and_scales_with_the_rows() -> None:
    rows = SETS["sentiment-en"].rows()
    first = estimate_seconds("sentiment", rows[:20])
    assert 0 < first < 60
    assert estimate_seconds("sentiment", rows) == pytest.approx(first * len(rows) / 20)
