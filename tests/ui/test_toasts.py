"""A full gradio queue answers in the page's language: launched with the app's own ``launch``
(its queue and head script) and a queue of one, a third click while one job runs and one waits
is turned away by gradio, and a Chinese page reads the Chinese message, an English page the
English one, never gradio's own English text; the pop-up's title ("Error") is translated too."""

from __future__ import annotations

import dataclasses
import socket
import threading

import gradio as gr
import pytest

from playground import messages
from playground.ui import app as ui_app
from playground.ui import common
from playground.ui.toasts import GRADIO_QUEUE_FULL, head

from conftest import open_page


def test_the_script_carries_both_messages_escaped() -> None:
    script = head()
    assert messages.t("queue_full", "en") in script and messages.t("queue_full", "zh-CN") in script
    assert GRADIO_QUEUE_FULL in script and script.count("</") == 1  # only the closing </script>


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_full_queue_is_said_in_the_pages_language(monkeypatch: pytest.MonkeyPatch, locale: str) -> None:
    release = threading.Event()

    def slow(x: str) -> str:
        release.wait(60)
        return x

    with gr.Blocks() as demo:
        box = gr.Textbox(value="hi", elem_id="box")
        out = gr.Textbox()
        buttons = [gr.Button(f"go {i}", elem_id=f"go{i}") for i in range(3)]
        for b in buttons:  # one slot for the three: the first runs, the second waits, the third is one too many
            b.click(slow, box, out, concurrency_id="one", concurrency_limit=1)
    monkeypatch.setattr(ui_app, "LIMITS", dataclasses.replace(ui_app.LIMITS, queue_size=1))
    port = _free_port()
    ui_app.launch(demo, common.i18n(), prevent_thread_lock=True, server_port=port, server_name="127.0.0.1")
    lang = "zh-CN" if locale.startswith("zh") else "en"
    try:
        with open_page(f"http://127.0.0.1:{port}/", locale=locale) as page:
            for i in range(3):
                page.click(f"#go{i}")
                page.wait_for_timeout(400)
            page.get_by_text(messages.t("queue_full", lang)[:20]).first.wait_for(state="visible", timeout=30_000)
            assert GRADIO_QUEUE_FULL not in page.inner_text("body")
            assert page.inner_text(".toast-title").strip() == messages.t("toast_error", lang)
    finally:
        release.set()
        demo.close()
