"""Sharing the app with a class: explanations are admitted per browser session and turned away
with a message in the user's language; cheap work never waits behind an explanation; an
identical API request is answered from the result cache without running again; a closed
browser stops its job and frees the explanation slot; the API endpoints are MCP tools."""

from __future__ import annotations

import time

import gradio as gr
import pytest

from playground import messages
from playground.explain import RESULTS
from playground.serving import Admission
from playground.ui import common

from conftest import open_page

LONG_TEXT = " ".join(f"word{i % 50} good bad" for i in range(120))[:1990]


def test_admission_per_session_and_for_the_whole_app() -> None:
    gate = Admission(per_session=2, waiting=3, ttl=3600)
    gate.admit("ann")
    gate.admit("ann")
    with pytest.raises(Exception) as err:
        gate.admit("ann")
    assert err.value.key == "too_many_jobs" and err.value.params["count"] == 2
    gate.admit("bob")
    with pytest.raises(Exception) as err:  # three waiting in all: the app is busy for everyone
        gate.admit("cy")
    assert err.value.key == "app_busy"
    gate.release("ann")
    gate.admit("cy")
    assert gate.count("ann") == 1 and gate.count() == 3
    gate.forget("ann")  # ann's browser closed
    assert gate.count("ann") == 0 and gate.count() == 2
    stale = Admission(per_session=1, waiting=10, ttl=0.0)  # a job never released stops counting
    stale.admit("dan")
    stale.admit("dan")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_full_share_is_said_in_the_users_language(lang: str) -> None:
    request = gr.Request(headers={"accept-language": lang}, session_hash=f"share-{lang}")
    try:
        for _ in range(common.ADMISSION.per_session):
            common.admit(request)
        with pytest.raises(gr.Error) as err:
            common.admit(request)
        expected = messages.t("too_many_jobs", lang, count=common.ADMISSION.per_session)
        assert err.value.message == expected
        assert ("explanations" in expected) == (lang == "en") and ("解释" in expected) == (lang != "en")
    finally:
        common.ADMISSION.forget(f"share-{lang}")


def test_an_identical_api_request_comes_from_the_cache(client) -> None:
    text = f"a cached review, number {time.time_ns()}"
    first = client.predict(text, "lime", api_name="/sentiment_explain")
    misses, hits = RESULTS.misses, RESULTS.hits
    again = client.predict(text, "lime", api_name="/sentiment_explain")
    # gradio's cache answered: the endpoint did not run, not even to look in the engine's cache
    assert (RESULTS.misses, RESULTS.hits) == (misses, hits)
    assert again == first
    other = client.predict(text + "!", "lime", api_name="/sentiment_explain")
    assert RESULTS.misses > misses and other["words"][-1]["text"] != first["words"][-1]["text"]


def test_a_prediction_does_not_wait_behind_an_explanation(client) -> None:
    job = client.submit(LONG_TEXT, "integrated_gradients", ig_steps=256, units="word",
                        api_name="/sentiment_explain")
    deadline = time.monotonic() + 120
    while job.status().code.name not in ("PROCESSING", "FINISHED") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.status().code.name == "PROCESSING"
    label = client.predict("what a lovely day", api_name="/sentiment")
    assert label["label"] in ("negative", "positive")
    assert not job.done()  # the prediction came back while the explanation still ran
    assert len(job.result()["matrix"][0]) == len(job.result()["words"])


def test_a_closed_browser_stops_its_job_and_frees_the_slot(app_url: str, client) -> None:
    with open_page(app_url) as page:
        page.get_by_role("tab", name=messages.EN["tab_sentiment"]).click()
        page.fill("#sentiment-input textarea", LONG_TEXT)
        page.click("#sentiment-explain-all")
        deadline = time.monotonic() + 120
        while common.ADMISSION.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert common.ADMISSION.count() == 1  # admitted; now running or about to
        time.sleep(3)  # well into the first methods (all of them take about a minute here)
    # The explanation slot is free again: a new explanation runs without waiting for the old one...
    quick = client.predict("short and sweet", "attention", api_name="/sentiment_explain")
    assert quick["method"] == "attention"
    assert common.ADMISSION.count() == 0
    # ...which stopped: its last method never finished (a finished one would be in the cache).
    assert not any(key[2] == "kernel_shap" for key in list(RESULTS._entries))


def test_every_endpoint_is_an_mcp_tool(app_url: str) -> None:
    import httpx

    from playground import api

    schema = httpx.get(app_url + "gradio_api/mcp/schema", timeout=30).json()
    names = {tool["name"] for tool in schema}
    assert set(api.ENDPOINTS) <= names, set(api.ENDPOINTS) - names
    assert len(names) == len(api.ENDPOINTS)  # UI events stay out
    described = {tool["name"]: tool["description"] for tool in schema}
    assert "Explain the sentiment of a text with one method" in described["sentiment_explain"]


def test_stop_reaches_a_forked_worker() -> None:
    """ZeroGPU runs a GPU call in a fork of the app: Stop pressed in the app must reach it."""
    import multiprocessing

    signal = common.StopSignal(f"fork-{time.time_ns()}")
    signal.clear()
    ctx = multiprocessing.get_context("fork")
    ready, seen = ctx.Event(), ctx.Event()

    def worker() -> None:  # a copy of the app's memory: its threading.Event state froze at fork
        ready.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if signal.is_set():
                seen.set()
                return
            time.sleep(0.02)

    child = ctx.Process(target=worker)
    child.start()
    assert ready.wait(30)
    signal.set()
    child.join(35)
    assert seen.is_set()
    signal.clear()
    assert not signal.is_set() and not signal.flag.exists()


def test_zero_gpu_durations_follow_the_work() -> None:
    from playground.ui.zerogpu import MAX_SECONDS, explanation_seconds, gpu

    sampled = explanation_seconds(["lime", "shap", "kernel_shap"], {"max_seconds": 40})
    assert sampled == 3 * (40 + 10)
    every = explanation_seconds(["attention", "gradient_x_input", "integrated_gradients", "feature_ablation",
                                 "lime", "shap", "kernel_shap"], {})
    assert every == 4 * (10 + 10) + 3 * (20 + 10)
    assert explanation_seconds(["lime"] * 20, {"max_seconds": 300}) == MAX_SECONDS
    assert explanation_seconds(["attention"], {}) == 60  # never under a generation's
    # Off ZeroGPU, the handler itself (wrapped only to give memory back when it ends).
    wrapped = gpu(test_zero_gpu_durations_follow_the_work, "quick")
    assert wrapped.__wrapped__ is test_zero_gpu_durations_follow_the_work


def test_an_api_explanation_asks_zero_gpu_for_its_methods_time() -> None:
    from playground import api
    from playground.ui.app import api_seconds

    assert api_seconds(api.sentiment_explain_all)("a text", methods="lime, shap") == 60  # 2 x 30, the floor
    assert api_seconds(api.sentiment_explain_all)("a text") == 4 * 20 + 3 * 30  # every method
    assert api_seconds(api.generate_explain_all)("a prompt", methods="kernel_shap,lime,shap,attention") == 110
    assert api_seconds(api.qa_explain)("who?", "a context") == 60  # "" : the task picks; a generation's time
