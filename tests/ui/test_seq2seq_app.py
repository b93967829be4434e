"""The Summarization and Translation tabs through the running app (tiny profile): the four JSON
endpoints (gradio_client), clear errors, injection payloads as data, and both tabs in Chromium:
output, cross-attention and one attribution rendered. Tiny random models: shapes, not content."""

from __future__ import annotations

import json

import pytest

from playground import text

SOURCE = "The weather is nice today, so we walked to the old harbour."
XSS = '<img src=x onerror="window.__pwned=1">'


def test_summarize_endpoint(client) -> None:
    out = client.predict(SOURCE, "tiny-bart", 8, 8, api_name="/summarize")
    json.dumps(out)
    assert out["model_key"] == "tiny-bart" and out["family"] == "encoder-decoder"
    assert out["n_tokens"] == 8 and out["source_used"] == SOURCE and out["truncated"] is False
    again = client.predict(SOURCE, "tiny-bart", 8, 8, api_name="/summarize")
    assert again["tokens"] == out["tokens"]  # greedy: deterministic


@pytest.mark.parametrize(("target", "model"), [("zh", "tiny-marian"), ("de", "tiny-t5"), ("fr", "tiny-llama")])
def test_translate_and_explain_endpoints(client, target: str, model: str) -> None:
    out = client.predict(SOURCE, target, model, 8, api_name="/translate")
    assert out["target"] == target and out["model_key"] == model and 1 <= out["n_tokens"] <= 8
    attr = client.predict(SOURCE, target, "feature_ablation", model, 8, "all", api_name="/translate_explain")
    json.dumps(attr)
    assert attr["result"]["target"] == target and attr["result"]["model_key"] == model
    n_src = len(text.words(SOURCE))
    assert [w["text"] for w in attr["words"]] == [w.text for w in text.words(SOURCE)]
    assert {w["part"] for w in attr["words"]} == {"source"}
    output_words = [t for t in attr["targets"] if t["label"].startswith("word:")]
    assert len(attr["matrix"]) == len(output_words) + 1 and all(len(r) == n_src for r in attr["matrix"])
    assert len(attr["alignment"]) == len(output_words)
    # feature ablation: each word left out, and the whole source (already run when the subject
    # was built, to read the targets' values: the scorer's cache answers it)
    assert n_src <= attr["evaluations"] <= n_src + 1


def test_summarize_explain_endpoint(client) -> None:
    out = client.predict(SOURCE, "shap", "tiny-t5", 8, api_name="/summarize_explain")
    assert out["result"]["model_key"] == "tiny-t5"
    assert out["method"] == "shap" and out["evaluations"] > 0 and out["task"] == "summarization"


def test_bad_input_gets_clear_messages(api_error) -> None:
    assert "empty" in api_error("  ", api_name="/summarize")
    assert "limit" in api_error("x" * 5000, api_name="/summarize")
    assert "Unsupported target language" in api_error(SOURCE, "ja", api_name="/translate")
    assert "does not translate" in api_error(SOURCE, "zh", "tiny-t5", api_name="/translate")
    assert "Unknown model" in api_error(SOURCE, "zh", "../../x", api_name="/translate")
    assert "Unknown method" in api_error(SOURCE, "zh", "nope", api_name="/translate_explain")
    message = api_error(SOURCE, XSS, api_name="/translate")
    assert "<img" not in message  # the echoed value is escaped


def test_absurd_lengths_are_clamped(client) -> None:
    out = client.predict(SOURCE, "tiny-bart", 10**9, 10**12, api_name="/summarize")
    assert out["options"] == {"min_new_tokens": 128, "max_new_tokens": 256}
    assert out["n_tokens"] <= 256


def test_injection_payload_comes_back_as_data(client) -> None:
    out = client.predict(XSS + " " + SOURCE, "de", "feature_ablation", "tiny-marian", 4, api_name="/translate_explain")
    assert out["result"]["source_used"].startswith(XSS)
    assert "".join(w["text"] for w in out["words"]).startswith("".join(XSS.split()))


@pytest.mark.browser
@pytest.mark.parametrize("tab", ["Summarization", "Translation"])
def test_tab_in_chromium(app_page, tab: str, tmp_path) -> None:
    page = app_page
    p = "sum" if tab == "Summarization" else "tr"
    page.get_by_role("tab", name=tab).click()
    page.wait_for_selector(f"#{p}-source textarea")
    page.fill(f"#{p}-source textarea", XSS + " " + SOURCE)
    page.click(f"#{p}-run")
    page.wait_for_function(f"() => document.querySelector('#{p}-summary').innerText.includes('tokens/s')")
    assert page.input_value(f"#{p}-output textarea")
    # Cross-attention comes with the result.
    page.locator(f"#{p}-attention .js-plotly-plot").wait_for(state="visible")
    page.click(f"#{p}-attribute")
    page.wait_for_function(f"() => document.querySelector('#{p}-attr-line').innerText.includes('evaluations')")
    words = page.evaluate(
        f"() => Array.from(document.querySelectorAll('#{p}-attr-highlight .token .text')).map(e => e.textContent).join('')"
    )
    assert "harbour" in words and "<img" in words  # the payload is shown as text
    page.locator(f"#{p}-attr-matrix .js-plotly-plot").wait_for(state="visible")
    if p == "tr":
        page.locator("#tr-alignment .js-plotly-plot").wait_for(state="visible")
    assert page.evaluate("window.__pwned") is None
    shot = tmp_path / f"{p}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
