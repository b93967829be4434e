"""Stop during a shared Generation-tab run, in a real browser against a running app.

Three pages (the third in ``--locale``) fill the Generation tab and press Generate one after
another: the first runs alone, the other two wait and are then decoded together. Once the third
page shows text, it presses Stop. Printed: the third page's waiting line, seconds from Stop to
its finished summary (the Playwright polling included), that summary, whether its next-token
view drew, and the other pages' summaries (they go on to their whole text). Screenshots of the
third page land in ``--out``.

Run:  PLAYGROUND_PROFILE=offline GRADIO_SERVER_PORT=7861 python app.py &
      python bench/stop_shared_run.py --locale zh-CN      (and --locale en-US)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

PROMPTS = ["Write a short poem about the sea.", "Tell me about the moon.", "Write a story about a cat."]
SUMMARY_DONE = ("() => { const t = document.querySelector('#gen-summary').innerText;"
                " return t.length > 0 && !t.includes('…'); }")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:7861/")
    ap.add_argument("--locale", default="en-US", help="the stopping page's browser language (zh-CN, en-US)")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "bench-stop-shots"), help="folder for the screenshots")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        pages = []
        for locale in ("en-US", "en-US", args.locale):
            page = browser.new_context(locale=locale, viewport={"width": 1280, "height": 1400}).new_page()
            page.set_default_timeout(300_000)
            page.goto(args.url)
            page.get_by_role("tab", name="生成" if locale.startswith("zh") else "Generation").click()
            page.wait_for_selector("#gen-prompt textarea")
            pages.append(page)
        for page, prompt in zip(pages, PROMPTS):
            page.fill("#gen-prompt textarea", prompt)
        pages[0].click("#gen-generate")
        time.sleep(1.5)  # the first page's run starts alone; the next two wait for it together
        pages[1].click("#gen-generate")
        pages[2].click("#gen-generate")
        time.sleep(3)
        print("waiting line:", pages[2].inner_text("#gen-summary")[:200] or "(none shown: its run had started)")
        pages[2].screenshot(path=str(out / f"waiting-{args.locale}.png"))
        while not pages[2].input_value("#gen-output textarea"):
            time.sleep(0.2)
        time.sleep(2)  # a few tokens into the shared run
        pressed = time.monotonic()
        pages[2].click("#gen-stop")
        pages[2].wait_for_function(SUMMARY_DONE, timeout=60_000)
        print(f"Stop -> summary: {time.monotonic() - pressed:.2f} s; {pages[2].inner_text('#gen-summary')[:160]}")
        plot = pages[2].locator("#gen-step-plot .js-plotly-plot")
        plot.wait_for(state="visible", timeout=30_000)
        print("next-token view:", pages[2].inner_text("#gen-step-line")[:160])
        pages[2].screenshot(path=str(out / f"stopped-{args.locale}.png"))
        for i in (0, 1):
            pages[i].wait_for_function("() => document.querySelector('#gen-summary').innerText.includes('tokens/s')")
            print(f"page {i + 1}:", pages[i].inner_text("#gen-summary")[:120])
        browser.close()


if __name__ == "__main__":
    main()
