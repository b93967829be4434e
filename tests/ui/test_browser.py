"""The page in a real browser (Chromium through Playwright): classify, explain, injection
payloads stay text, Chinese locale, screenshot. Needs /usr/bin/chromium (CI installs it)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from playground.explain import METHODS
from playground.messages import EN

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 120_000
TEXT = "I loved this movie, the acting was wonderful."
XSS = '<img src=x onerror="window.__pwned=1">'
OTHERS = {name: EN[f"method_{name}"] for name in METHODS if name != "integrated_gradients"}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it (apt-get install chromium) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, app_url: str):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 1600})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(app_url)
    pg.get_by_role("tab", name="Sentiment").click()  # the page opens on Generation
    pg.wait_for_selector("#sentiment-input textarea")
    yield pg
    context.close()


def markdown_text(page, selector: str) -> str:
    return page.inner_text(f"{selector} [data-testid='markdown']").strip()


def classify(page, value: str) -> str:
    page.fill("#sentiment-input textarea", value)
    page.click("#sentiment-classify")
    page.wait_for_function(
        "() => { const m = document.querySelector('#sentiment-summary [data-testid=\"markdown\"]');"
        " return m && m.innerText.trim().length > 0; }"
    )
    page.locator("#sentiment-probs .js-plotly-plot").wait_for(state="visible")
    return markdown_text(page, "#sentiment-summary")


def explain_with_ig_only(page) -> str:
    for label in OTHERS.values():
        page.get_by_label(label, exact=True).uncheck()
    page.click("#sentiment-attribute")
    page.wait_for_function(
        "() => { const m = document.querySelector('#summary-integrated_gradients [data-testid=\"markdown\"]');"
        " return m && m.innerText.includes('evaluations'); }"
    )
    return markdown_text(page, "#summary-integrated_gradients")


def highlighted_text(page, name: str) -> str:
    return page.evaluate(
        "(sel) => Array.from(document.querySelectorAll(sel)).map(e => e.textContent).join('')",
        f"#highlight-{name} .token .text",
    )


def test_classify_and_explain(page) -> None:
    summary = classify(page, TEXT)
    assert "negative" in summary or "positive" in summary
    assert "%" in summary
    probs = page.text_content("#sentiment-probs")
    assert "negative" in probs and "positive" in probs
    page.locator("#sentiment-attention .js-plotly-plot").wait_for(state="visible")

    line = explain_with_ig_only(page)
    assert "evaluations" in line
    assert highlighted_text(page, "integrated_gradients") == TEXT
    highlight = page.inner_text("#highlight-integrated_gradients")
    for word in ("loved", "movie", "acting", "wonderful"):
        assert word in highlight
    page.locator("#bars-integrated_gradients .js-plotly-plot").wait_for(state="visible")
    # the methods that were not chosen say so, and show nothing
    for name in OTHERS:
        assert markdown_text(page, f"#summary-{name}") == "Not run."
        assert highlighted_text(page, name) == ""


def test_script_injection_stays_text(page) -> None:
    page.evaluate("() => { window.__pwned = undefined; }")
    classify(page, XSS)
    explain_with_ig_only(page)
    page.wait_for_timeout(500)  # let any injected handler (it must not exist) fire
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#highlight-integrated_gradients img").count() == 0
    assert page.locator("#sentiment-summary img, #summary-integrated_gradients img").count() == 0
    assert highlighted_text(page, "integrated_gradients") == XSS


def test_plot_labels_read_literally(page) -> None:
    """Escaping for plotly must not show escape codes: a '"' in the text reads as '"', not
    '&quot;' (plotly decodes only some entities)."""
    classify(page, 'a "quoted" word & <b>bold</b>')
    explain_with_ig_only(page)
    page.locator("#bars-integrated_gradients .js-plotly-plot").wait_for(state="visible")
    for selector in ("#sentiment-attention", "#bars-integrated_gradients"):
        shown = page.text_content(selector)
        for code in ("&quot;", "&amp;", "&lt;", "&gt;", "&#"):
            assert code not in shown, f"{selector} shows {code!r}: {shown[:200]!r}"
    assert page.locator("#sentiment-attention b, #bars-integrated_gradients b").count() == 0


def test_chinese_locale_and_screenshot(browser, app_url: str, tmp_path) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1200})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(app_url)
        from playwright.sync_api import expect

        expect(page.get_by_role("tab", name="文本生成")).to_have_attribute("aria-selected", "true")
        expect(page.get_by_role("button", name="生成", exact=True)).to_be_visible()
        tab = page.get_by_role("tab", name="情感分析")
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")
        expect(page.get_by_role("button", name="分类")).to_be_visible()
        shot = tmp_path / "zh-CN.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
    finally:
        context.close()


def test_empty_input_shows_a_clear_error(page) -> None:
    page.fill("#sentiment-input textarea", "   ")
    page.click("#sentiment-classify")
    toast = page.get_by_text("Please enter some text")
    toast.first.wait_for(state="visible")
    assert "Traceback" not in page.content()


def test_a_long_paste_is_kept_in_full_and_the_result_says_what_was_used(page) -> None:
    """A 5,000-character paste reaches the server whole (no silent browser cut) and the result
    says how much of it the model read."""
    long = ("The film was long but I enjoyed most of it. " * 120)[:5000]
    page.fill("#sentiment-input textarea", long)
    assert len(page.input_value("#sentiment-input textarea")) == 5000
    summary = classify(page, long)
    assert "5,000 characters" in summary and "2,000" in summary


def test_a_chinese_text_on_an_english_model_carries_a_visible_warning(page) -> None:
    """The tiny profile's classifier reads English only (like the hub one): a Chinese review
    gets the answer and, first, a warning naming both languages."""
    summary = classify(page, "这部电影太无聊了，浪费时间。")
    assert "looks Chinese" in summary and "English only" in summary and "not to be trusted" in summary
