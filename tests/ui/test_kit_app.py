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


def test_share_links_round_trip() -> None:
    from playground.ui import share

    url = share.link("http://host/", "qa", {"question": "Wie lang ist es?", "context": "长城 & <b>", "model": ""}, True)
    assert url.startswith("http://host/?tab=qa&")
    from urllib.parse import parse_qsl, urlsplit

    query = dict(parse_qsl(urlsplit(url).query))
    tab, values, presenter = share.restore(query, ["qa", "sentiment"], {"qa": ["question", "context", "model"]})
    assert tab == "qa" and presenter
    assert values == {("qa", "question"): "Wie lang ist es?", ("qa", "context"): "长城 & <b>"}
    assert share.restore({"tab": "nowhere"}, ["qa"], {"qa": []})[0] is None


@pytest.mark.browser
def test_a_shared_link_restores_the_tab_and_its_inputs(app_url: str) -> None:
    from playground.ui import share

    url = share.link(app_url, "qa", {"question": "How long is the reef?", "context": "长城很长。The reef is long."}, True)
    with open_page(url) as page:
        page.wait_for_function("() => document.querySelector('#qa-question textarea')"
                               " && document.querySelector('#qa-question textarea').value.length > 0")
        assert page.get_by_role("tab", name=EN["tab_qa"]).get_attribute("aria-selected") == "true"
        assert page.input_value("#qa-context textarea") == "长城很长。The reef is long."
        page.wait_for_function("() => document.documentElement.classList.contains('pg-presenter')")
        page.click("#share-btn")
        page.wait_for_function("() => document.querySelector('#share-link textarea').value.includes('tab=qa')")
        again = page.input_value("#share-link textarea")
        assert "qa.question=How+long+is+the+reef%3F" in again and "presenter=1" in again


def test_an_explanation_exports_as_json_and_csv(small) -> None:
    import csv
    import json as js

    from playground import api
    from playground.ui import export

    expl = api.sentiment_explain("I loved this film 很好", "lime", **{k: v for k, v in small.items() if k == "lime_samples"},
                                 target="all")
    json_path, csv_path = export.files(expl)
    assert js.loads(open(json_path, encoding="utf-8").read())["matrix"] == expl["matrix"]
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["target", "target_text", *[w["text"] for w in expl["words"]]]
    assert len(rows) == 1 + len(expl["targets"])
    assert [float(v) for v in rows[1][2:]] == pytest.approx(expl["matrix"][0])
    assert export.files(None) == (None, None)


@pytest.mark.browser
def test_figures_and_explanations_download_from_the_page(app_url: str) -> None:
    with open_page(app_url) as page:
        page.get_by_role("tab", name=EN["tab_sentiment"]).click()
        page.fill("#sentiment-input textarea", "I loved this movie")
        page.click("#sentiment-classify")
        page.locator("#sentiment-probs .js-plotly-plot").wait_for(state="visible")
        for fmt, head in (("SVG", b"<svg"), ("PNG", b"\x89PNG")):
            with page.expect_download() as got:
                page.locator("#sentiment-probs button", has_text=fmt).click()
            data = open(got.value.path(), "rb").read()
            assert data.startswith(head), fmt
        for label in list(EN[f"method_{m}"] for m in ("attention", "gradient_x_input", "integrated_gradients",
                                                       "feature_ablation", "lime", "shap", "kernel_shap"))[1:]:
            page.get_by_label(label, exact=True).uncheck()
        page.click("#sentiment-attribute")
        button = page.locator("#summary-attention-json")
        button.wait_for(state="visible")
        # Every figure now on the page saves as an SVG that opens.
        shown = page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                              ".filter(e => e.offsetParent).map(e => e.closest('div.block[id]').id)")
        assert len(shown) >= 3, shown
        for elem in shown:
            with page.expect_download() as got:
                page.locator(f"#{elem} button", has_text="SVG").click()
            assert open(got.value.path(), "rb").read().startswith(b"<svg"), elem
        button.wait_for(state="visible")
        with page.expect_download() as got:
            button.click()
        assert got.value.suggested_filename.endswith(".json")
        assert b'"method": "attention"' in open(got.value.path(), "rb").read()
