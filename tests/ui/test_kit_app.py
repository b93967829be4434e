"""The classroom kit in the launched app (tiny profile): ``/evaluate`` and ``/embeddings`` through
gradio_client, and the Evaluation and Embeddings tabs in Chromium (run, read, open an example in
its tab, both languages)."""

from __future__ import annotations

import math

import pytest

from playground.messages import EN, ZH

from conftest import open_page

CSV = (
    "text,label\n"
    "\"I loved it, wonderful from start to end\",positive\n"
    "A dull and boring waste of time,negative\n"
    "Great food and friendly staff,1\n"
    "The worst service I have ever had,0\n"
    "这部电影太无聊了,负面\n"
    "服务很周到，下次还来,正面\n"
)


def test_evaluate_an_upload_agrees_with_the_sentiment_endpoint(client) -> None:
    report = client.predict("sentiment", "", CSV, "mine.csv", "", "", 0, api_name="/evaluate")
    assert report["n"] == report["scored"] == 6 and report["errors"] == 0
    gold = ["positive", "negative", "positive", "negative", "negative", "positive"]
    said = [client.predict(text, api_name="/sentiment")["label"] for text in
            ["I loved it, wonderful from start to end", "A dull and boring waste of time", "Great food and friendly staff",
             "The worst service I have ever had", "这部电影太无聊了", "服务很周到，下次还来"]]
    accuracy = 100.0 * sum(g == s for g, s in zip(gold, said)) / len(gold)
    assert report["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert sum(map(sum, report["confusion"])) == 6
    wrongness = [r["wrongness"] for r in report["rows"]]
    assert wrongness == sorted(wrongness, reverse=True)


def test_evaluate_a_bundled_set_with_a_limit(client) -> None:
    report = client.predict("qa", "qa-en", "", "rows.csv", "", "", 2, api_name="/evaluate")
    assert report["n"] == 2 and report["scored"] + report["errors"] == 2
    assert set(report["metrics"]) >= {"exact_match", "f1"}
    assert all(r["open"]["task"] == "qa" for r in report["rows"] if r["error"] is None)


@pytest.mark.parametrize(("upload", "name", "key"), [
    ("text\nonly a text column\n", "a.csv", "eval_missing_column"),
    ("text,label\nfine,positive\nbad,maybe\n", "a.csv", "eval_bad_label"),
    ('{"text": "ok", "label": "positive"}\n{not json\n', "a.jsonl", "eval_bad_json"),
    ("text,label\nx,positive\n", "a.xlsx", "eval_bad_extension"),
])
def test_a_malformed_upload_is_a_clear_error(api_error, upload: str, name: str, key: str) -> None:
    message = api_error("sentiment", "", upload, name, "", "", 0, api_name="/evaluate")
    head = EN[key].split("{")[0].strip()
    assert head[:20] in message


def test_a_set_of_another_task_is_refused(api_error) -> None:
    message = api_error("sentiment", "qa-en", "", "rows.csv", "", "", 0, api_name="/evaluate")
    assert "sentiment-en" in message  # the sets that would do


def test_embeddings_endpoint(client) -> None:
    out = client.predict("the king and the queen", "generation", "", -1, "", 5, api_name="/embeddings")
    assert [w["text"] for w in out["words"]] == ["the", "king", "and", "the", "queen"]
    assert len(out["points_input"]) == len(out["points_hidden"]) == 5
    for matrix in (out["cosine_input"], out["cosine_hidden"]):
        assert all(math.isfinite(v) for row in matrix for v in row)
        assert all(abs(matrix[i][i] - 1.0) < 1e-6 for i in range(5))
    assert out["layer"] == out["n_layers"] and len(out["neighbours"]) == 5
    layer0 = client.predict("the king and the queen", "generation", "", 0, "", 5, api_name="/embeddings")
    assert layer0["layer"] == 0


def test_embeddings_bad_layer_is_a_clear_error(api_error) -> None:
    message = api_error("the king", "sentiment", "", 99, "", 5, api_name="/embeddings")
    assert "99" in message


@pytest.mark.browser
def test_evaluation_tab_runs_and_opens_an_example_in_its_tab(app_url: str, tmp_path) -> None:
    with open_page(app_url) as page:
        page.get_by_role("tab", name=EN["tab_evaluation"]).click()
        page.click("#eval-run")
        page.wait_for_function(
            "() => { const m = document.querySelector('#eval-summary [data-testid=\"markdown\"]');"
            " return m && m.innerText.includes('Accuracy'); }")
        summary = page.inner_text("#eval-summary")
        assert "40" in summary and "Macro-F1" in summary
        page.locator("#eval-confusion .js-plotly-plot").wait_for(state="visible")
        assert page.get_attribute("#eval-table [role=grid]", "aria-rowcount") == "41"  # a header and 40 rows
        page.screenshot(path=str(tmp_path / "evaluation-en.png"), full_page=True)
        worst = page.locator("#eval-table [data-testid='cell-0-2']")
        shown = worst.inner_text().strip()
        worst.click()
        page.click("#eval-open")
        page.wait_for_selector("#sentiment-input textarea", state="visible")
        assert page.get_by_role("tab", name=EN["tab_sentiment"]).get_attribute("aria-selected") == "true"
        assert page.input_value("#sentiment-input textarea").strip() == shown


@pytest.mark.browser
def test_embeddings_tab_in_chinese(app_url: str, tmp_path) -> None:
    with open_page(app_url, locale="zh-CN") as page:
        page.get_by_role("tab", name=ZH["tab_embeddings"]).click()
        page.fill("#emb-text textarea", "猫和狗都是可爱的动物")
        page.click("#emb-run")
        page.wait_for_function(
            "() => { const m = document.querySelector('#emb-summary [data-testid=\"markdown\"]');"
            " return m && m.innerText.includes('维'); }")
        for plot in ("#emb-points-input", "#emb-points-hidden", "#emb-cosine-input", "#emb-cosine-hidden",
                     "#emb-neighbours"):
            page.locator(f"{plot} .js-plotly-plot").wait_for(state="visible")
        text = page.inner_text("#emb-points-hidden")
        assert "可爱" in text and "\ufffd" not in text
        page.screenshot(path=str(tmp_path / "embeddings-zh.png"), full_page=True)


def test_what_if_endpoint(client) -> None:
    out = client.predict("sentiment", "I loved it but the end was terrible", "terrible", "fine", "", "zh", "",
                         api_name="/what_if")
    assert out["action"] == "replace" and out["texts_after"]["text"] == "I loved it but the end was fine"
    assert abs(sum(t["after"] for t in out["targets"]) - 1.0) < 1e-5


@pytest.mark.browser
def test_what_if_in_the_sentiment_tab(app_url: str) -> None:
    with open_page(app_url) as page:
        page.get_by_role("tab", name=EN["tab_sentiment"]).click()
        page.fill("#sentiment-input textarea", "I loved this movie but the ending was terrible")
        page.click("#sentiment-whatif")  # the accordion
        page.fill("#sentiment-whatif-word input", "terrible")
        page.keyboard.press("Enter")
        page.fill("#sentiment-whatif-replacement textarea", "wonderful")
        page.click("#sentiment-whatif-run")
        page.wait_for_function(
            "() => { const m = document.querySelector('#sentiment-whatif-result [data-testid=\"markdown\"]');"
            " return m && m.innerText.includes('points'); }")
        shown = page.inner_text("#sentiment-whatif-result")
        assert "I loved this movie but the ending was wonderful" in shown
        assert "positive" in shown and "negative" in shown
