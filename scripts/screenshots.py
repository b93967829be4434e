"""Screenshots of every tab, as a class sees it: the Chinese page with Chinese input and the
English page with English input, each tab run once (the answer, its attention figure).

    PLAYGROUND_PROFILE=offline GRADIO_SERVER_PORT=7861 python app.py &
    python scripts/screenshots.py --url http://127.0.0.1:7861 --out /tmp/shots

Needs Chromium at /usr/bin/chromium (apt-get install chromium) and Playwright's Python package
(requirements-test.txt). Writes OUT/{lang}-{tab}.png and prints each tab's summary line, so a
warning or an error in the page shows here too. Look at the PNGs: a tab not seen is not done.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playground.messages import t  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
INPUTS = {
    "zh-CN": {
        "generation": "用一句话解释为什么天空是蓝色的。",
        "summarization": "市图书馆周一宣布，考试期间将开放到午夜。由于大学的阅览室正在装修，每天六点就关门，学生们一直希望图书馆"
                         "延长开放时间。图书馆将增加工作人员，咖啡厅也会照常营业。延长开放从六月一日开始，持续三周。",
        "translation": ("en", "今天天气很好，我们去公园散步吧。"),
        "qa": ("长城大部分是哪个朝代修建的？",
               "长城横贯中国北方。今天保存下来的长城大部分是明朝在十四世纪到十七世纪之间修建的，用来抵御北方草原的骑兵。"),
        "sentiment": "这部电影太无聊了，剧情拖沓，浪费了两个小时。",
        "embeddings": "猫和狗都是可爱的动物，老虎和狮子很危险。",
        "evaluation": "sentiment-zh",
    },
    "en": {
        "generation": "Explain in one sentence why the sky is blue.",
        "summarization": "The city library will stay open until midnight during the exam period, the council said on "
                         "Monday. Students had asked for longer hours because the university's own reading rooms are "
                         "being renovated and close at six.",
        "translation": ("zh", "The children are playing in the garden."),
        "qa": ("How long is the reef?",
               "The Great Barrier Reef lies off the coast of Queensland. It stretches for over 2,300 kilometres "
               "and is the largest structure built by living things."),
        "sentiment": "The food was not bad at all, but the service was painfully slow.",
        "embeddings": "The king and the queen visited the old castle, and the prince stayed at home.",
        "evaluation": "sentiment-en",
    },
}


def wait_text(page, selector: str, timeout_s: float) -> str:
    """The Markdown text in ``selector`` once it is not empty (or "" after the timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        node = page.query_selector(f"{selector} [data-testid='markdown']")
        value = node.inner_text().strip() if node else ""
        if value:
            return value
        time.sleep(1)
    return ""


def idle(page, timeout_s: float) -> None:
    """Until no progress bar or pending output is left in the page."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and page.query_selector(".progress-text, .eta-bar, .pending"):
        time.sleep(1)
    time.sleep(2)  # plotly draws after the data arrives


def shoot(page, lang: str, tab: str, out: Path, timeout_s: float) -> str:
    given = INPUTS[lang][tab]
    page.get_by_role("tab", name=t(f"tab_{tab}", lang), exact=True).click()
    if tab == "generation":
        page.fill("#gen-prompt textarea", given)
        page.click("#gen-generate")
        line = wait_text(page, "#gen-summary", timeout_s)
        idle(page, timeout_s)
        page.click("#gen-attention-btn")
    elif tab in ("summarization", "translation"):
        p = "sum" if tab == "summarization" else "tr"
        if tab == "translation":
            target, given = given
            page.click("#tr-target input")
            page.get_by_role("option", name=t(f"lang_{target}", lang), exact=True).click()
        page.fill(f"#{p}-source textarea", given)
        page.click(f"#{p}-run")
        line = wait_text(page, f"#{p}-summary", timeout_s)
    elif tab == "qa":
        question, context = given
        page.fill("#qa-question textarea", question)
        page.fill("#qa-context textarea", context)
        page.click("#qa-run")
        line = wait_text(page, "#qa-summary", timeout_s)
    elif tab == "embeddings":  # the default generation model: "auto" picks one that reads the text
        page.fill("#emb-text textarea", given)
        page.click("#emb-run")
        line = wait_text(page, "#emb-summary", timeout_s)
    elif tab == "evaluation":  # the Sentiment task's bundled set in the page's language
        page.click("#eval-set input")
        page.get_by_role("option", name=t(f"eval_set_{given.replace('-', '_')}", lang), exact=True).click()
        page.click("#eval-run")
        line = wait_text(page, "#eval-summary", timeout_s)
    else:
        page.fill("#sentiment-input textarea", given)
        page.click("#sentiment-classify")
        line = wait_text(page, "#sentiment-summary", timeout_s)
    idle(page, timeout_s)
    page.screenshot(path=str(out / f"{lang}-{tab}.png"), full_page=True)
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:7861")
    ap.add_argument("--out", type=Path, default=Path("/tmp/shots"))
    ap.add_argument("--lang", action="append", choices=tuple(INPUTS), help="page language (repeatable; default both)")
    ap.add_argument("--tab", action="append", choices=tuple(INPUTS["en"]), help="tabs to shoot (default all)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for one tab's answer")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for lang in args.lang or list(INPUTS):
            context = browser.new_context(locale=lang, viewport={"width": 1280, "height": 1400})
            page = context.new_page()
            page.set_default_timeout(int(args.timeout * 1000))
            page.goto(args.url)
            page.wait_for_selector("#gen-prompt textarea")
            for tab in args.tab or list(INPUTS[lang]):
                started = time.monotonic()
                line = shoot(page, lang, tab, args.out, args.timeout)
                print(f"{lang} {tab} ({time.monotonic() - started:.0f} s): {line[:300]!r}", flush=True)
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
