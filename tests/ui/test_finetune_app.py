"""The Fine-tune tab and /finetune in the launched app (tiny profile): the loss curve and the
before/after panels render, the model can be downloaded and explained before and after, and the
endpoint returns the scores and the curve."""

from __future__ import annotations

import zipfile

import pytest

from playground.messages import EN

from conftest import open_page

CSV = "text,label\n" + "".join(f"good great lovely {i},positive\nbad awful poor {i},negative\n" for i in range(15))


def test_finetune_endpoint_on_an_upload(client) -> None:
    out = client.predict("upload", CSV, "toy.csv", 30, 2, 5e-3, "head", "pretrained", 1, api_name="/finetune")
    assert out["steps"] >= 1 and len(out["loss"]) == out["steps"]
    for part in ("before", "after"):
        assert 0.0 <= out[part]["accuracy"] <= 100.0
        assert sum(map(sum, out[part]["confusion"])) == out["data"]["held_out"]
        assert len(out["sentences"][part]["points"]) == out["data"]["held_out"]


def test_a_bad_setting_is_a_clear_error(api_error) -> None:
    message = api_error("upload", CSV, "toy.csv", 30, 9, 5e-3, "head", "pretrained", 1, api_name="/finetune")
    assert "Epochs" in message


@pytest.mark.browser
def test_finetune_tab_trains_and_compares(app_url: str, tmp_path) -> None:
    csv_path = tmp_path / "toy.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    with open_page(app_url, height=2400) as page:
        page.get_by_role("tab", name=EN["tab_finetune"]).click()
        page.click("#ft-source input")
        page.get_by_role("option", name=EN["ft_source_upload"], exact=True).click()
        page.set_input_files("#ft-upload input[type=file]", str(csv_path))
        page.click("#ft-train")
        page.wait_for_function(
            "() => { const m = document.querySelector('#ft-result [data-testid=\"markdown\"]');"
            " return m && m.innerText.includes('Held-out accuracy'); }")
        page.locator("#ft-loss .js-plotly-plot").wait_for(state="visible")
        page.locator("#ft-after .js-plotly-plot").wait_for(state="visible")
        with page.expect_download() as got:
            page.click("#ft-download")
        names = zipfile.ZipFile(got.value.path()).namelist()
        assert "config.json" in names and any(n.endswith(".safetensors") for n in names)
        page.locator("#ft-sentences-before .js-plotly-plot").wait_for(state="visible")
        page.locator("#ft-sentences-after .js-plotly-plot").wait_for(state="visible")
        page.click("#ft-compare")
        page.wait_for_function(
            "() => { const m = document.querySelector('#ft-compare-summary [data-testid=\"markdown\"]');"
            " return m && m.innerText.includes('Before fine-tuning the model said'); }")
        page.locator("#ft-bars-before .js-plotly-plot").wait_for(state="visible")
        page.locator("#ft-bars-after .js-plotly-plot").wait_for(state="visible")
        page.screenshot(path=str(tmp_path / "finetune-en.png"), full_page=True)
        # The same visitor's model in the Sentiment tab: classified and explained there.
        page.get_by_role("tab", name=EN["tab_sentiment"]).click()
        page.get_by_label(EN["sent_model_mine"]).check()
        page.fill("#sentiment-input textarea", "good great lovely film")
        page.click("#sentiment-classify")
        page.wait_for_function(
            "() => { const m = document.querySelector('#sentiment-summary [data-testid=\"markdown\"]');"
            " return m && m.innerText.includes('fine-tuned here'); }")
    # Another visitor (a new browser) has no fine-tuned model: asking for one says so.
    with open_page(app_url) as other:
        other.get_by_role("tab", name=EN["tab_sentiment"]).click()
        other.get_by_label(EN["sent_model_mine"]).check()
        other.fill("#sentiment-input textarea", "good great lovely film")
        other.click("#sentiment-classify")
        other.get_by_text(EN["ft_no_model"][:40]).first.wait_for(state="visible")
