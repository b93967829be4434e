"""Shared fixtures. Every test runs on the ``tiny`` profile: small randomly initialised models
built by ``playground.tiny.build`` into a per-session cache and loaded through the real loading
code (``playground.models.load``). Nothing is downloaded and no model hub is needed."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Nothing here may phone home (there is no network); set before gradio is ever imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

def until(ready: Any, seconds: float = 30) -> bool:
    """Wait until ``ready()`` holds (polling), at most ``seconds``; whether it holds."""
    deadline = time.monotonic() + seconds
    while not ready() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(ready())


def slow_forward(monkeypatch: pytest.MonkeyPatch, model: Any, per_row: float) -> None:
    """Make each of ``model``'s forwards sleep ``per_row`` seconds a batch row first, as a
    row adds nearly a step's cost on a CPU: a batched run then lasts long enough to act in."""
    forward = model.forward

    def slow(*args: Any, **kwargs: Any) -> Any:
        ids = kwargs.get("input_ids", args[0] if args else None)
        time.sleep(per_row * (ids.shape[0] if ids is not None else 1))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", slow)


# Budgets small enough for unit tests on two CPU cores.
SMALL = {"ig_steps": 8, "lime_samples": 40, "shap_evals": 40}


@pytest.fixture
def small() -> dict[str, int]:
    """Small explanation budgets for unit tests."""
    return dict(SMALL)


@pytest.fixture(scope="session", autouse=True)
def tiny_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """PLAYGROUND_PROFILE=tiny and a fresh PLAYGROUND_CACHE, set before any model loads."""
    cache = tmp_path_factory.mktemp("playground-cache")
    saved = {k: os.environ.get(k) for k in ("PLAYGROUND_PROFILE", "PLAYGROUND_CACHE")}
    os.environ["PLAYGROUND_PROFILE"] = "tiny"
    os.environ["PLAYGROUND_CACHE"] = str(cache)
    from playground import models

    models.clear_cache()
    yield cache
    models.clear_cache()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def fresh_results() -> Iterator[None]:
    """Each test starts with an empty explanation cache, so what it measures ran in it (the
    cache itself is tested in tests/explain/test_result_cache.py)."""
    from playground.cache import ANSWERS
    from playground.explain import RESULTS

    RESULTS.clear()
    ANSWERS.clear()  # a task's answers too: each test runs what it asks for
    yield


@pytest.fixture(scope="session")
def loaded(tiny_profile: Path):
    """The tiny sentiment model, loaded through models.load_task."""
    from playground import models

    return models.load_task("sentiment")


@pytest.fixture(scope="session")
def subject_factory(loaded):
    """Build a fresh Subject (with its own scorer) for a text on the tiny model."""
    from playground.tasks import sentiment

    def make(value: str):
        return sentiment.subject(value)

    return make


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tiny_profile: Path) -> Iterator[str]:
    """The whole Gradio app on the tiny profile, launched in-process on a free local port
    (shared by the integration and browser tests; closed at the end of the session)."""
    from playground.ui.app import build_demo, launch

    demo, i18n = build_demo(profile="tiny")
    port = free_port()
    launch(demo, i18n, prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(app_url: str):
    """A gradio_client for the app's JSON endpoints."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture
def api_error(client):
    """Call an endpoint that must fail; return its message, checked to hold no stack trace."""

    def call(*args: object, api_name: str, **kw: object) -> str:
        with pytest.raises(Exception) as err:
            client.predict(*args, api_name=api_name, **kw)
        message = str(err.value)
        assert "Traceback" not in message and 'File "' not in message
        return message

    return call


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@contextlib.contextmanager
def open_page(app_url: str, locale: str = "en-US", height: int = 1800) -> Iterator[Any]:
    """A fresh page of the app in headless Chromium (1280 wide, 2-minute timeouts) in ``locale``."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale=locale, viewport={"width": 1280, "height": height})
            page.set_default_timeout(120_000)
            page.goto(app_url)
            yield page
        finally:
            browser.close()


@pytest.fixture
def app_page(app_url: str):
    """A fresh page of the app in headless Chromium (English, 1280 x 1800, 2-minute timeouts)."""
    with open_page(app_url) as page:
        yield page
