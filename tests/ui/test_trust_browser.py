"""The "How far to trust this" panel in a real browser (Chromium through Playwright): in every
tab, in English and in Chinese, one click of "Explain with all methods" fills the table, the
agreement sentence, the methods' notes and the three figures; an input word shown there stays
text. Screenshots of the panel go to $PLAYGROUND_SHOTS (default: the test's tmp dir)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from playground.messages import EN, ZH

from conftest import open_page

pytestmark = pytest.mark.browser

XSS = "<b>bold</b>"
# tab label key, the element-id prefix, how to get a result to explain
TABS = {
    "generation": ("gen", [("#gen-prompt textarea", XSS + " Hello there, what is the weather like?")], "#gen-generate",
                   "#gen-summary"),
    "summarization": ("sum", [("#sum-source textarea", XSS + " The weather is nice today, so we walked to the harbour.")],
                      "#sum-run", "#sum-summary"),
    "translation": ("tr", [("#tr-source textarea", XSS + " The weather is nice today.")], "#tr-run", "#tr-summary"),
    "qa": ("qa", [("#qa-question textarea", XSS + " Who designed the tower?"),
                  ("#qa-context textarea", "The tower in Paris was designed by Gustave Eiffel in 1889.")],
           "#qa-run", "#qa-summary"),
    "sentiment": ("sentiment", [("#sentiment-input textarea", XSS + " I loved this movie, the ending was bad.")],
                  "#sentiment-classify", "#sentiment-summary"),
}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("tab", list(TABS))
def test_trust_panel_in_every_tab(app_url: str, tab: str, lang: str, tmp_path: Path) -> None:
    prefix, fills, button, done = TABS[tab]
    shots = Path(os.environ.get("PLAYGROUND_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    catalogue = EN if lang == "en" else ZH
    with open_page(app_url, lang) as page:
        page.set_default_timeout(240_000)
        page.get_by_role("tab", name=catalogue[f"tab_{tab}"]).click()
        for selector, value in fills:
            page.wait_for_selector(selector)
            page.fill(selector, value)
        page.click(button)
        # The summary line names the model when the result is in (while the job runs, the box
        # shows gradio's progress text): only then is there something to explain.
        page.wait_for_function(f"() => document.querySelector('{done}').innerText.includes('tiny random')")
        if tab == "sentiment":
            page.click("#sentiment-explain-all")
        else:
            page.click(f"#{prefix}-explain-all")
        header = catalogue["trust_col_comp"]
        page.wait_for_function(
            f"() => document.querySelector('#{prefix}-trust-text').innerText.includes({header!r})")
        text = page.inner_text(f"#{prefix}-trust-text")
        for method in ("attention", "integrated_gradients", "lime", "shap", "kernel_shap"):
            assert catalogue[f"method_{method}"] in text, method
        assert catalogue["trust_note_attention"][:12] in text  # the methods' notes
        assert catalogue["trust_one_method"] not in text  # several methods ran: agreement said
        for figure in ("faith", "agreement", "curves"):
            page.locator(f"#{prefix}-trust-{figure} .js-plotly-plot").wait_for(state="visible")
        assert page.locator(f"#{prefix}-trust-text b").count() == 0  # an input's <b> stays text
        panel = page.locator(f"#{prefix}-trust")
        panel.scroll_into_view_if_needed()
        shot = shots / f"trust-{tab}-{lang}.png"
        panel.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
