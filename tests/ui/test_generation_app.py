"""The Generation tab through the running app: the /generate and /generate_explain endpoints
(gradio_client) and the page in Chromium (stream, next-token view, attribution, attention,
logit lens, Stop, injection payloads). Tiny random models: outputs mean nothing, shapes do."""

from __future__ import annotations

import json

import pytest

from playground import text

from conftest import until

PROMPT = "Write a short poem about the sea."
XSS = '<img src=x onerror="window.__pwned=1">'




def test_generate_endpoint_returns_json(client) -> None:
    out = client.predict(PROMPT, "tiny-gpt2", "plain", 8, 0, api_name="/generate")
    json.dumps(out)
    assert out["model_key"] == "tiny-gpt2" and out["mode"] == "plain"
    assert 1 <= len(out["tokens"]) <= 8 and len(out["tokens"]) == len(out["steps"]) == len(out["token_ids"])
    assert out["prompt"] == PROMPT and out["stop_reason"] in ("max_new_tokens", "eos")
    again = client.predict(PROMPT, "tiny-gpt2", "plain", 8, 0, api_name="/generate")
    assert again["token_ids"] == out["token_ids"]  # greedy is deterministic


def test_generate_explain_endpoint_gives_a_matrix(client) -> None:
    out = client.predict(PROMPT, "feature_ablation", "tiny-llama", "chat", 5, target="all", api_name="/generate_explain")
    json.dumps(out)
    gen, attr = out["result"], out
    n_words = len(text.words(PROMPT))
    # the whole output, then each output word; one column per prompt word
    assert attr["targets"][0]["label"] == "output" and all(t["label"].startswith("word:") for t in attr["targets"][1:])
    assert 2 <= len(attr["matrix"]) <= len(gen["tokens"]) + 1 and all(len(row) == n_words for row in attr["matrix"])
    assert [w["text"] for w in attr["words"]] == [w.text for w in text.words(PROMPT)]
    assert {w["part"] for w in attr["words"]} == {"prompt"}
    assert attr["evaluations"] > 0 and attr["task"] == "generation"
    one = client.predict(PROMPT, "feature_ablation", "tiny-llama", "chat", 5, api_name="/generate_explain")
    assert one["target"] == "output" and one["matrix"] == [one["scores"]]


def test_absurd_options_are_clamped(client) -> None:
    out = client.predict("hi", "tiny-gpt2", "plain", 10**9, 99, 10**9, 5, 99, 10**12, api_name="/generate")
    opts = out["options"]
    assert opts["max_new_tokens"] <= 256 and opts["temperature"] == 2.0 and opts["top_k"] == 200
    assert opts["top_p"] == 1.0 and opts["repetition_penalty"] == 2.0
    assert len(out["tokens"]) <= 256


def test_bad_input_gets_clear_messages(client, api_error) -> None:
    assert "empty" in api_error("   ", api_name="/generate")
    assert "limit" in api_error("x" * 50_000, api_name="/generate")
    assert "Unknown model" in api_error("hi", "../x", api_name="/generate")
    assert "chat template" in api_error("hi", "tiny-gpt2", "chat", api_name="/generate")
    assert "Unknown method" in api_error("hi", "nope", "tiny-gpt2", "plain", 2, api_name="/generate_explain")


def test_injection_payload_comes_back_as_data(client) -> None:
    out = client.predict(XSS, "feature_ablation", "tiny-gpt2", "plain", 3, api_name="/generate_explain")
    assert out["result"]["prompt"] == XSS
    assert "".join(w["text"] for w in out["words"]) == "".join(XSS.split())


@pytest.mark.browser
def test_generation_tab_in_chromium(app_page, tmp_path) -> None:
    page = app_page
    page.wait_for_selector("#gen-prompt textarea")
    page.fill("#gen-prompt textarea", XSS + " " + PROMPT)
    page.click("#gen-generate")
    page.wait_for_function("() => document.querySelector('#gen-summary').innerText.includes('tokens/s')")
    assert page.input_value("#gen-output textarea")  # the streamed text landed
    page.wait_for_function("() => document.querySelector('#gen-step-line').innerText.includes('rank')")
    page.locator("#gen-step-plot .js-plotly-plot").wait_for(state="visible")

    page.click("#gen-attribute")
    page.wait_for_function("() => document.querySelector('#gen-attr-line').innerText.includes('evaluations')")
    words = page.evaluate(
        "() => Array.from(document.querySelectorAll('#gen-attr-highlight .token .text')).map(e => e.textContent).join('')"
    )
    assert "poem" in words and "<img" in words  # the payload is shown as text
    page.locator("#gen-attr-matrix .js-plotly-plot").wait_for(state="visible")

    page.click("#gen-attention-btn")
    page.locator("#gen-attention .js-plotly-plot").wait_for(state="visible")
    page.click("#gen-lens-btn")
    page.locator("#gen-lens .js-plotly-plot").wait_for(state="visible")
    assert page.evaluate("window.__pwned") is None
    shot = tmp_path / "generation.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0


@pytest.mark.browser
def test_students_who_press_generate_at_once_share_a_run_and_each_sees_their_text(app_page) -> None:
    """Three pages press Generate while the model is busy (its gate held by an attention pass):
    the first runs alone, the other two are decoded together, and every page gets its own
    streamed text and summary."""

    from playground import batched_stream as bs
    from playground import models
    from playground.tasks import generation as gen

    spec = gen.spec_for(None, "tiny")
    batcher = bs.stream_batcher_for(models.load(spec), gen.options())  # the tab's defaults
    before = len(batcher.batches)
    pages = [app_page] + [app_page.context.browser.new_page(viewport={"width": 1280, "height": 1800}) for _ in range(2)]
    prompts = [PROMPT, "Tell me about the moon.", "写一首关于大海的短诗。"]
    for page in pages[1:]:
        page.set_default_timeout(120_000)
        page.goto(app_page.url)
    for page, prompt in zip(pages, prompts):
        page.wait_for_selector("#gen-prompt textarea")
        page.fill("#gen-prompt textarea", prompt)

    with models.gate(spec.key).eager():
        pages[0].click("#gen-generate")
        until(lambda: batcher._leading, 60)
        for page in pages[1:]:
            page.click("#gen-generate")
        until(lambda: len(batcher._pending) == 2, 60)
    for page in pages:
        page.wait_for_function("() => document.querySelector('#gen-summary').innerText.includes('tokens/s')")
        assert page.input_value("#gen-output textarea")
    assert batcher.batches[before:] == [1, 2]
