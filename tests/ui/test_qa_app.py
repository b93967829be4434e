"""The Question answering tab through the running app (tiny profile): /qa and /qa_explain
(gradio_client), clear errors without tracebacks, an injection payload as data, and the tab in
Chromium: answer, its place in the context, start/end chart, attention, attribution to question
and context words. Tiny random models: shapes and invariants, not content."""

from __future__ import annotations

import json

import pytest

from playground.messages import EN, ZH
from playground.tasks import qa
from playground.ui import qa_tab

QUESTION = "Who designed the tower?"
CONTEXT = (
    "The Eiffel Tower is a wrought-iron lattice tower in Paris. It is named after the engineer "
    "Gustave Eiffel, whose company designed and built the tower from 1887 to 1889."
)
SHORT_CONTEXT = "The tower in Paris was designed by Gustave Eiffel in 1889."  # in bounds for the tiny BPE's prompt
XSS = '<img src=x onerror="window.__pwned=1">'




def check_span(out: dict, context: str) -> None:
    if out["no_answer"]:
        assert out["answer"] == "" and out["start"] is None and out["end"] is None
    else:
        assert 0 <= out["start"] < out["end"] <= len(context)
        assert out["answer"] == context[out["start"] : out["end"]] == out["quote"]
    for c in out["candidates"]:
        assert c["answer"] == context[c["start"] : c["end"]]


def test_labels_state_the_task_limits() -> None:
    assert f"{qa.MAX_CONTEXT_CHARS:,}" in EN["qa_context_info"] and f"{qa.MAX_CONTEXT_CHARS:,}" in ZH["qa_context_info"]
    assert str(qa.MAX_QUESTION_CHARS) in EN["qa_question_info"] and str(qa.MAX_QUESTION_CHARS) in ZH["qa_question_info"]
    assert "score" in EN["qa_summary_span"].lower() and "No answer in the context" in EN["qa_summary_no_answer"]
    assert "not found in the context" in EN["qa_summary_not_found"] and "evaluations" in EN["qa_attr_line"]


def test_qa_endpoint_extractive(client) -> None:
    out = client.predict(QUESTION, CONTEXT, "", 3, api_name="/qa")
    json.dumps(out, allow_nan=False)
    assert out["kind"] == "extractive" and out["model_key"] == "tiny-distilbert-qa"
    assert 1 <= len(out["candidates"]) <= 3
    check_span(out, CONTEXT)
    assert out["tokens"] and all(CONTEXT[tok["start"] : tok["end"]] == tok["text"] for tok in out["tokens"])
    assert 0.0 <= out["score"] <= 1.0 and 0.0 <= out["null_score"] <= 1.0
    again = client.predict(QUESTION, CONTEXT, "tiny-distilbert-qa", 3, api_name="/qa")
    assert (again["answer"], again["start"], again["end"]) == (out["answer"], out["start"], out["end"])


def test_qa_endpoint_clamps_top_k(client) -> None:
    out = client.predict(QUESTION, CONTEXT, "", 10**9, api_name="/qa")
    assert 1 <= len(out["candidates"]) <= qa.TOP_K.maximum


def test_qa_endpoint_generative(client) -> None:
    out = client.predict(QUESTION, SHORT_CONTEXT, "tiny-llama", api_name="/qa")
    json.dumps(out, allow_nan=False)
    assert out["kind"] == "generative" and out["model_key"] == "tiny-llama" and out["candidates"] == []
    if out["found_in_context"]:
        assert SHORT_CONTEXT[out["start"] : out["end"]] == out["quote"]
    else:
        assert out["start"] is None and out["end"] is None and out["quote"] == ""


@pytest.mark.parametrize("target", ["span", "start", "end"])
def test_qa_explain_extractive(client, target: str) -> None:
    out = client.predict(QUESTION, CONTEXT, "integrated_gradients", "", target, api_name="/qa_explain")
    json.dumps(out, allow_nan=False)
    check_span(out["result"], CONTEXT)
    e = out
    assert e["method"] == "integrated_gradients" and e["target"] == target and e["evaluations"] > 0
    assert len(e["words"]) == len(e["scores"]) > 0
    assert {w["part"] for w in e["words"]} == {"question", "context"}
    for w in e["words"]:
        source = QUESTION if w["part"] == "question" else CONTEXT
        assert source[w["start"] : w["end"]] == w["text"]


def test_qa_explain_empty_method_takes_the_first_that_applies(client) -> None:
    e = client.predict(QUESTION, SHORT_CONTEXT, "", "tiny-llama", "all", api_name="/qa_explain")
    assert e["method"] == "feature_ablation" and e["kind"] == "generative"
    assert e["targets"][0]["label"] == "output" and len(e["matrix"]) == len(e["targets"]) >= 2
    assert all(len(row) == len(e["words"]) for row in e["matrix"])
    assert {w["part"] for w in e["words"]} == {"question", "context"}
    out = client.predict(QUESTION, CONTEXT, "", api_name="/qa_explain")
    assert out["method"] == "integrated_gradients" and out["target"] == "span"


def test_qa_explain_generative_feature_ablation(client) -> None:
    out = client.predict(QUESTION, SHORT_CONTEXT, "feature_ablation", "tiny-llama", api_name="/qa_explain")
    e = out
    assert e["method"] == "feature_ablation" and e["evaluations"] > 0 and e["seconds"] >= 0
    assert [w["text"] for w in e["words"] if w["part"] == "question"] == ["Who", "designed", "the", "tower", "?"]


def test_bad_input_gets_clear_messages(client, api_error) -> None:
    assert "enter a question" in api_error("  ", CONTEXT, api_name="/qa")
    assert "enter a context" in api_error(QUESTION, "", api_name="/qa")
    message = api_error(QUESTION, "x " * 2500, api_name="/qa")
    assert "limit is 4000" in message and "context" in message
    assert "limit is 500" in api_error("why " * 200, CONTEXT, api_name="/qa")
    assert "Unknown model" in api_error(QUESTION, CONTEXT, "../../x", api_name="/qa")
    assert "Unknown model" in api_error(QUESTION, CONTEXT, "integrated_gradients", "nope", api_name="/qa_explain")
    assert "Unknown method" in api_error(QUESTION, CONTEXT, "nope", api_name="/qa_explain")
    assert "Unknown target" in api_error(QUESTION, CONTEXT, "attention", "", "middle", api_name="/qa_explain")
    message = api_error(QUESTION, CONTEXT, XSS, api_name="/qa_explain")
    assert "Unknown method" in message and "<img" not in message  # the echoed value is escaped


def test_injection_payload_comes_back_as_data(client) -> None:
    question = XSS + " " + QUESTION
    out = client.predict(question, CONTEXT, "attention", "", "span", api_name="/qa_explain")
    words = [w["text"] for w in out["words"] if w["part"] == "question"]
    assert "".join(words).startswith("".join(XSS.split()))
    check_span(out["result"], CONTEXT)


def test_context_highlight_and_summary_lines() -> None:
    r = qa.answer(QUESTION, CONTEXT, "tiny-distilbert-qa", "tiny")
    pieces = qa_tab.context_highlight(r)
    assert "".join(p for p, _ in pieces) == r.context
    marked = "".join(p for p, kind in pieces if kind)
    assert marked == (r.candidates[0].answer if r.no_answer else r.answer)
    assert {kind for _, kind in pieces} == {None, "best" if r.no_answer else "answer"}
    line = qa_tab.summary_line(r, "en")
    assert ("No answer in the context" in line) if r.no_answer else ("Score" in line)
    assert "tiny random DistilBERT QA" in line and "{" not in qa_tab.summary_line(r, "zh-CN")


def _result(**kw) -> qa.QAResult:
    base = dict(kind="extractive", question=QUESTION, context=CONTEXT, answer="", score=0.6, start=None, end=None,
                no_answer=True, found_in_context=False, model_key="m", model="<b>model</b>", profile="tiny", seconds=0.1)
    return qa.QAResult(**{**base, **kw})


def test_no_answer_and_not_found_are_said_plainly() -> None:
    i = CONTEXT.index("Gustave Eiffel")
    best = qa.Candidate("Gustave Eiffel", 0.2, i, i + 14, 0, 20, 23)
    r = _result(candidates=[best], null_score=0.6)
    line = qa_tab.summary_line(r, "en")
    assert line.startswith("**No answer in the context.**") and "60.0%" in line and "20.0%" in line
    assert "&lt;b&gt;model&lt;/b&gt;" in line and "<b>" not in line  # the model name is escaped
    assert "上下文中没有答案" in qa_tab.summary_line(r, "zh-CN")
    assert [p for p, kind in qa_tab.context_highlight(r) if kind == "best"] == ["Gustave Eiffel"]
    assert "No answer in the context" in qa_tab.summary_line(_result(candidates=[]), "en")
    gen = _result(kind="generative", answer="Eiffel himself", score=0.3, no_answer=False)
    assert "not found in the context" in qa_tab.summary_line(gen, "en")
    assert {kind for _, kind in qa_tab.context_highlight(gen)} == {None}
    fuzzy = _result(kind="generative", answer="Gustave Eifel", score=0.3, no_answer=False, found_in_context=True,
                    start=i, end=i + 14, match="fuzzy", match_coverage=0.85)
    assert "found in the context (close match: 85%" in qa_tab.summary_line(fuzzy, "en")


@pytest.mark.browser
def test_tab_in_chromium(app_page, tmp_path) -> None:
    page = app_page
    page.get_by_role("tab", name="Question answering").click()
    page.wait_for_selector("#qa-question textarea")
    page.fill("#qa-question textarea", XSS + " " + QUESTION)
    page.fill("#qa-context textarea", CONTEXT)
    page.click("#qa-run")
    page.wait_for_function("() => /score|No answer in the context/i.test(document.querySelector('#qa-summary').innerText)")
    shown = page.evaluate(
        "() => Array.from(document.querySelectorAll('#qa-context-highlight .token .text, #qa-context-highlight .textfield span'))"
        ".map(e => e.textContent).join('')"
    )
    assert "Gustave" in shown
    page.locator("#qa-start-end .js-plotly-plot").wait_for(state="visible")
    page.locator("#qa-candidates .js-plotly-plot").wait_for(state="visible")
    page.locator("#qa-attention .js-plotly-plot").wait_for(state="visible")
    page.click("#qa-attribute")
    page.wait_for_function("() => document.querySelector('#qa-attr-line').innerText.includes('evaluations')")
    question_words = page.evaluate(
        "() => Array.from(document.querySelectorAll('#qa-attr-question .token .text')).map(e => e.textContent).join('')"
    )
    context_words = page.evaluate(
        "() => Array.from(document.querySelectorAll('#qa-attr-context .token .text')).map(e => e.textContent).join('')"
    )
    assert "<img" in question_words and "designed" in question_words  # the payload is shown as text
    assert "Gustave" in context_words and "<img" not in context_words
    assert page.evaluate("window.__pwned") is None
    shot = tmp_path / "qa.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0


def test_views_escape_labels_and_mark_the_boundary() -> None:
    import numpy as np

    from playground import views

    fig = views.start_end_figure([XSS, "b", "c"], [0.1, 0.7, 0.2], [0.1, 0.2, 0.7], (1, 2), ("<i>start</i>", "end"))
    assert all("<img" not in t for t in fig.layout.xaxis.ticktext) and "<i>" not in fig.data[0].name
    assert fig.layout.shapes[0].x0 == 0.5 and fig.layout.shapes[0].x1 == 2.5
    att = np.random.default_rng(0).random((2, 3, 6, 6))
    parts = ["special", "question", "question", "special", "context", "context"]
    fig = views.qa_attention_figure(att, ["[CLS]", XSS, "?", "[SEP]", "a", "b"], 1, None, parts, 4, [5],
                                    {"question": "<q>", "context": "context"})
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert {s.x0 for s in lines if s.x0 == s.x1} == {3.5} and {s.y0 for s in lines if s.y0 == s.y1} == {3.5}
    assert next(s for s in fig.layout.shapes if s.type == "rect").y0 == 4.5
    texts = [a.text for a in fig.layout.annotations]
    assert "<b>&lt;q&gt;</b>" in texts and all("<img" not in t for t in fig.layout.yaxis.ticktext)


def test_highlight_parts_share_one_scale() -> None:
    from playground import views

    words = [{"text": "Who", "start": 0, "end": 3, "part": "question"},
             {"text": "Gustave", "start": 4, "end": 11, "part": "context"},
             {"text": "Eiffel", "start": 12, "end": 18, "part": "context"}]
    out = views.highlight_parts(words, [0.05, 1.0, -0.5], {"question": "Who?", "context": "The Gustave Eiffel."})
    assert "".join(p for p, _ in out["question"]) == "Who?" and "".join(p for p, _ in out["context"]) == "The Gustave Eiffel."
    assert dict(out["question"])["Who"] is None  # small next to the context's strongest word
    assert dict(out["context"])["Gustave"] == "+3" and dict(out["context"])["Eiffel"] == "-2"
