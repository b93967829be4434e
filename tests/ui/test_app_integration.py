"""The launched app (tiny profile) through gradio_client and plain HTTP: the JSON endpoints,
clear errors, injection payloads as data, clamped budgets, closed side doors."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client

from playground.explain import METHODS

TEXT = "I loved this movie, but the ending was terrible."
SMALL = dict(ig_steps=8, lime_samples=40, shap_evals=40, seed=0)
PAYLOADS = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
    '"><svg onload=alert(1)>',
    "{{7*7}} ${7*7} <% 7*7 %>",
]
BOUNDS = {o.name: (o.minimum, o.maximum) for m in METHODS.values() for o in m.options}


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def explain(client: Client, text: str, method: str, **kw):
    args = {**SMALL, **kw}
    return client.predict(text=text, method=method, api_name="/sentiment_explain", **args)


def error_of(call) -> str:
    with pytest.raises(Exception) as err:
        call()
    message = str(err.value)
    assert "Traceback" not in message
    assert 'File "' not in message
    return message


def test_only_the_documented_endpoints_are_public(client: Client) -> None:
    info = client.view_api(print_info=False, return_format="dict")
    assert set(info["named_endpoints"]) == {
        "/sentiment", "/sentiment_explain", "/generate", "/generate_explain",
        "/summarize", "/summarize_explain", "/translate", "/translate_explain", "/qa", "/qa_explain",
        "/sentiment_explain_all", "/generate_explain_all", "/summarize_explain_all", "/translate_explain_all",
        "/qa_explain_all", "/evaluate", "/embeddings", "/what_if", "/finetune",
    }
    assert not info["unnamed_endpoints"]


def test_sentiment_endpoint(client: Client) -> None:
    out = client.predict(TEXT, api_name="/sentiment")
    assert set(out["scores"]) == {"negative", "positive"}
    assert abs(sum(out["scores"].values()) - 1.0) < 1e-5
    assert out["label"] == max(out["scores"], key=out["scores"].get)
    assert out["truncated"] is False


@pytest.mark.parametrize("method", list(METHODS))
def test_sentiment_explain_endpoint(client: Client, method: str) -> None:
    out = explain(client, TEXT, method)
    assert out["method"] == method
    assert out["target"] in {"negative", "positive"}
    assert len(out["scores"]) == len(out["words"]) > 0
    for tok in out["words"]:
        assert TEXT[tok["start"] : tok["end"]] == tok["text"]
    assert out["result"]["label"] == out["target"]
    assert out["evaluations"] > 0 and out["seconds"] >= 0
    assert set(out["options"]) == {o.name for o in METHODS[method].options}


def test_explain_endpoint_defaults_and_target(client: Client) -> None:
    out = client.predict("good movie", api_name="/sentiment_explain")  # all defaults
    assert out["method"] == "integrated_gradients"
    assert out["options"] == {"ig_steps": METHODS["integrated_gradients"].options[0].default}
    out = explain(client, TEXT, "lime", target="positive")
    assert out["target"] == "positive"


@pytest.mark.parametrize("value", ["", "   \n\t  "])
def test_empty_input_is_a_clear_error(client: Client, value: str) -> None:
    assert "empty" in error_of(lambda: client.predict(value, api_name="/sentiment"))
    assert "empty" in error_of(lambda: explain(client, value, "lime"))


def test_huge_input_is_a_clear_error(client: Client) -> None:
    value = "spam " * 10_000  # 50,000 characters
    message = error_of(lambda: client.predict(value, api_name="/sentiment"))
    assert "limit" in message and "50000" in message and "2000" in message
    assert "limit" in error_of(lambda: explain(client, value, "attention"))


def test_unknown_method_is_a_clear_error(client: Client) -> None:
    message = error_of(lambda: explain(client, TEXT, "gradcam"))
    assert "Unknown method" in message and "gradcam" in message
    for m in METHODS:
        assert m in message
    message = error_of(lambda: explain(client, TEXT, "<script>alert(1)</script>"))
    assert "<script>" not in message  # echoed back escaped, never as markup


def test_unknown_target_is_a_clear_error(client: Client) -> None:
    message = error_of(lambda: explain(client, TEXT, "lime", target="neutral"))
    assert "neutral" in message and "positive" in message


def test_errors_follow_the_request_language(app_url: str) -> None:
    zh = Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "请输入文字" in error_of(lambda: zh.predict("  ", api_name="/sentiment"))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_come_back_as_data(client: Client, payload: str) -> None:
    out = client.predict(payload, api_name="/sentiment")
    assert set(out["scores"]) == {"negative", "positive"}
    for method in ("integrated_gradients", "lime"):
        res = explain(client, payload, method)
        assert len(res["words"]) == len(res["scores"]) > 0
        for tok in res["words"]:
            assert payload[tok["start"] : tok["end"]] == tok["text"]
        # nothing dropped, nothing escaped: the words rebuild the payload
        assert "".join(t["text"] for t in res["words"]) == "".join(payload.split())


def test_absurd_budgets_are_clamped(client: Client) -> None:
    huge = dict(ig_steps=10**9, lime_samples=10**9, shap_evals=10**9, kernel_shap_samples=10**9, seed=10**12)
    for method in METHODS:
        out = client.predict(text="good bad", method=method, api_name="/sentiment_explain", **huge)
        for name, value in out["options"].items():
            low, high = BOUNDS[name]
            assert low <= value <= high, (method, name, value)
            if name in huge:
                assert value == high
    neg = dict(ig_steps=-1, lime_samples=-1, shap_evals=-1, seed=-1)
    out = client.predict(text="good bad", method="integrated_gradients", api_name="/sentiment_explain", **neg)
    assert out["options"] == {"ig_steps": BOUNDS["ig_steps"][0]}


def test_budget_beyond_float_range_is_clamped(client: Client) -> None:
    # JSON integers have no size limit; such a value is just "huge", not a server error.
    out = client.predict(text="good bad", method="integrated_gradients", ig_steps=10**400, api_name="/sentiment_explain")
    assert out["options"] == {"ig_steps": BOUNDS["ig_steps"][1]}


@pytest.mark.parametrize("path", ["monitoring/summary", "gradio_api/monitoring/summary", "monitoring"])
def test_monitoring_is_off(app_url: str, path: str) -> None:
    r = httpx.get(app_url + path, timeout=30)
    assert r.status_code != 200


@pytest.mark.parametrize(
    "path",
    [
        "gradio_api/file=/etc/passwd",
        "gradio_api/file=../../../../etc/passwd",
        "gradio_api/file=%2Fetc%2Fpasswd",
        "file=/etc/passwd",
    ],
)
def test_no_arbitrary_file_reads(app_url: str, path: str) -> None:
    r = httpx.get(app_url + path, timeout=30)
    assert r.status_code != 200
    assert "root:" not in r.text


def test_page_serves_and_error_details_are_hidden(app_url: str) -> None:
    r = httpx.get(app_url, timeout=30)
    assert r.status_code == 200
    config = httpx.get(app_url + "config", timeout=30).json()
    assert config["show_error"] is False
