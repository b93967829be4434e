"""playground.ui without a server: translations, user-facing errors, the app's structure."""

from __future__ import annotations

import re
import string
from pathlib import Path

import gradio as gr
import pytest

from playground import messages as strings
from playground.errors import InputError, ModelUnavailable, OutOfMemory
from playground.explain import METHODS
from playground.messages import EN, ZH
from playground.tasks import TASKS
from playground.ui import common

XSS = "<img src=x onerror=alert(1)>"

PACKAGE = Path(__file__).resolve().parents[2] / "playground"
SOURCE = "\n".join(p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py")))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_english_and_chinese_have_the_same_messages() -> None:
    assert set(EN) == set(ZH)
    for key in EN:
        assert placeholders(EN[key]) == placeholders(ZH[key]), key
        assert ZH[key].strip(), key


def test_every_message_the_code_uses_exists() -> None:
    used = set(re.findall(r'i18n\("([a-z_]+)"\)', SOURCE)) | set(re.findall(r'\bt\("([a-z_]+)"', SOURCE))
    raised = set(re.findall(r'(?:InputError|ModelUnavailable|OutOfMemory)\(\s*"([a-z_]+)"', SOURCE))
    option_labels = {o.label for m in METHODS.values() for o in m.options}
    dynamic = {f"method_{m}" for m in METHODS} | {f"tab_{t}" for t in TASKS}
    dynamic |= {f"coming_{t}" for t, mod in TASKS.items() if mod is None}
    assert used and raised
    missing = (used | raised | option_labels | dynamic) - set(EN)
    assert not missing


@pytest.mark.parametrize(
    "header, lang",
    [("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("zh", "zh-CN"), ("zh-TW", "zh-CN"), ("en-US,en;q=0.9", "en"),
     ("fr-FR,zh;q=0.5", "en"), ("", "en"), (None, "en")],
)
def test_language_from_accept_language(header: str | None, lang: str) -> None:
    assert strings.language(header) == lang


def test_t_formats_and_falls_back() -> None:
    assert strings.t("input_too_long", "en", n=5000, limit=2000) == EN["input_too_long"].format(n=5000, limit=2000)
    assert "2000" in strings.t("input_too_long", "zh-CN", n=5000, limit=2000)
    assert strings.t("input_empty", "de") == EN["input_empty"]
    assert strings.t("no_such_key") == "no_such_key"
    assert strings.t("input_too_long", "en") == EN["input_too_long"]  # missing params: no crash


def test_i18n_fills_build_time_limits() -> None:
    i18n = common.i18n(limit=2000)
    assert isinstance(i18n, gr.I18n)
    assert i18n.translations["en"]["input_info"].startswith("Up to 2000 characters are read")
    assert "2000" in i18n.translations["zh-CN"]["input_info"]
    assert i18n.translations["zh"] == i18n.translations["zh-CN"]
    # run-time messages keep their placeholders for the server to fill
    assert "{n}" in i18n.translations["en"]["input_too_long"]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_user_error_translates_and_escapes(lang: str) -> None:
    exc = InputError("bad_method", name="<img src=x onerror=alert(1)>", names="lime")
    err = common.user_error(exc, lang)
    assert isinstance(err, gr.Error)
    assert "<img" not in err.message
    assert "&lt;img src=x onerror=alert(1)&gt;" in err.message
    assert err.message == strings.t("bad_method", lang, name="&lt;img src=x onerror=alert(1)&gt;", names="lime")


@pytest.mark.parametrize(
    "exc",
    [ModelUnavailable("model_no_hub", model="m"), OutOfMemory("out_of_memory")],
)
def test_user_error_for_every_playground_error(exc) -> None:
    err = common.user_error(exc, "en")
    assert err.message == strings.t(exc.key, "en", **exc.params)


def test_unexpected_errors_hide_their_details() -> None:
    err = common.user_error(KeyError("/secret/path/model.bin"), "en")
    assert err.message == EN["internal_error"]
    assert "secret" not in err.message


def test_guarded_turns_failures_into_gr_error() -> None:
    @common.guarded
    def handler(value: str) -> str:
        if value == "boom":
            raise ZeroDivisionError("internal detail")
        if value == "gr":
            raise gr.Error("kept as is")
        return value.upper()

    assert handler("ok") == "OK"
    with pytest.raises(gr.Error) as err:
        handler("boom")
    assert err.value.message == EN["internal_error"]
    assert err.value.__cause__ is None
    with pytest.raises(gr.Error, match="kept as is"):
        handler("gr")


def test_app_has_a_tab_per_task(loaded) -> None:
    from playground.ui.app import build_demo

    demo, i18n = build_demo(profile="tiny")
    try:
        config = demo.get_config_file()
        ids = {c["props"].get("elem_id") for c in config["components"]}
        for task in TASKS:
            assert f"tab-{task}" in ids
        for name in METHODS:
            assert {f"summary-{name}", f"highlight-{name}", f"bars-{name}"} <= ids
        assert {"sentiment-input", "sentiment-classify", "sentiment-attribute", "sentiment-summary"} <= ids
        # no model problem banner when the model loads
        texts = [str(c["props"].get("value", "")) for c in config["components"]]
        assert not any("cannot run" in t for t in texts)
    finally:
        demo.close()


PANEL_PREFIXES = {"sentiment": "sentiment", "generation": "gen", "summarization": "sum", "translation": "tr", "qa": "qa"}


def test_every_tab_offers_every_registered_method_and_option(loaded) -> None:
    from playground.explain import all_options
    from playground.ui.app import build_demo

    assert set(PANEL_PREFIXES) == set(TASKS)
    demo, _ = build_demo(profile="tiny")
    try:
        every = demo.get_config_file()["components"]
        components = {c["props"].get("elem_id"): c for c in every}
        labels = [c["props"].get("label") for c in every]
        for task, prefix in PANEL_PREFIXES.items():
            method = components[f"{prefix}-method"]["props"]
            assert [value for _, value in method["choices"]] == list(METHODS), task
            for kind in ("target", "units", "attribute", "stop-explain"):
                assert f"{prefix}-{kind}" in components, (task, kind)
            units = components[f"{prefix}-units"]["props"]
            assert [value for _, value in units["choices"]] == ["auto", "word", "sentence"]
        # one control per option, in every tab (the budgets accordion)
        for o in all_options():
            assert sum(1 for label in labels if f'"{o.label}"' in str(label)) == len(TASKS), o.name
    finally:
        demo.close()


def test_ui_never_names_a_method() -> None:
    """Methods come from the registry: no tab or panel branches on a method's name."""
    ui = "\n".join(p.read_text(encoding="utf-8") for p in sorted((PACKAGE / "ui").glob("*.py")))
    for name in METHODS:
        assert not re.search(rf"[\"']{name}[\"']", ui), name


def test_endpoints_keep_their_signature_and_translate_errors() -> None:
    import inspect

    from playground import api
    from playground.ui.app import endpoint

    for name, fn in api.ENDPOINTS.items():
        wrapped = endpoint(fn)
        assert wrapped.__name__ == fn.__name__ and wrapped.__doc__ == fn.__doc__
        params = list(inspect.signature(wrapped).parameters.values())
        assert [p.name for p in params[:-1]] == list(inspect.signature(fn).parameters)
        assert params[-1].annotation is gr.Request
        assert not any(isinstance(p.annotation, str) for p in params), name  # resolved for the API page

    class Request:  # what gradio passes: something with headers
        headers = {"accept-language": "zh-CN,zh;q=0.9"}

    request = gr.Request()
    request.headers = Request.headers  # type: ignore[misc]
    with pytest.raises(gr.Error) as err:
        endpoint(api.sentiment)("   ", request)
    assert err.value.message == ZH["input_empty"]


def test_summary_line_and_target_names_are_escaped() -> None:
    from playground.ui import panels

    expl = {"method": "lime", "targets": [{"label": "word:0", "text": XSS, "value": None}], "evaluations": 3,
            "seconds": 0.5, "convergence": {"fit_r2": 0.91234, "half_spearman": 0.5, "exact": True},
            "units": "sentence", "removal": XSS, "truncated": True}
    for lang in ("en", "zh-CN"):
        line = panels.summary_line(expl, 0, lang)
        assert "<img" not in line and "&lt;img" in line
        assert "0.912" in line and strings.t("conv_fit_r2", lang) in line and strings.t("conv_exact", lang) in line
        assert strings.t("explain_by_sentence", lang) in line
    assert panels.target_name({"label": "output", "text": XSS}, "en") == EN["target_output"]
    assert panels.target_name({"label": "positive", "text": "positive"}, "zh-CN") == ZH["label_positive"]
    assert panels.target_name({"label": "x", "text": XSS}, "en").startswith("&lt;img")


def test_missing_model_is_reported_on_the_tab_in_both_languages(monkeypatch) -> None:
    """A registry model that cannot load (its package is not installed: the real loader fails)
    gives a banner on the tab in English and Chinese, not a crash."""
    import dataclasses

    from playground import config
    from playground.ui import sentiment_tab
    from playground.ui.app import build_demo

    spec = dataclasses.replace(
        config.REGISTRY["offline"]["sentiment"], key="not-installed", package="playground_not_installed_pkg",
        pip_name="playground-not-installed-pkg==1.0",
    )
    monkeypatch.setitem(config.REGISTRY["offline"], "sentiment", spec)
    message = sentiment_tab.model_problem("offline")
    assert message is not None
    assert "playground-not-installed-pkg==1.0" in message
    assert "This tab cannot run" in message and "此标签页无法运行" in message

    demo, _ = build_demo(profile="offline")
    try:
        values = [str(c["props"].get("value", "")) for c in demo.get_config_file()["components"]]
        assert any("playground-not-installed-pkg==1.0" in v for v in values)
    finally:
        demo.close()
