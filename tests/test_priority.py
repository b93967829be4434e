"""Cheap work first (playground.priority): long work waits at its next step while a prediction
runs, never longer than its bound, and only for predictions on a CPU; a generation and an
explanation on the tiny models give way without changing their results; sentiment predictions
count as predictions."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from playground import explain, priority
from playground.tasks import generation as gen
from playground.tasks import sentiment


def _held(release: threading.Event, device: object = "cpu") -> tuple[threading.Thread, threading.Event]:
    """A prediction that runs until ``release`` is set (the second event: it has started)."""
    started = threading.Event()

    def run() -> None:
        with priority.cheap(device):
            started.set()
            release.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(5)
    return thread, started


def test_nothing_to_wait_for_returns_at_once() -> None:
    assert priority.running() == 0
    assert priority.give_way() == 0.0


def test_long_work_waits_until_the_prediction_ends() -> None:
    release = threading.Event()
    thread, _ = _held(release)
    done = threading.Event()
    waited: list[float] = []

    def long_step() -> None:
        waited.append(priority.give_way(max_wait=10.0))
        done.set()

    threading.Thread(target=long_step, daemon=True).start()
    assert not done.wait(0.3), "long work went on while a prediction ran"
    release.set()
    assert done.wait(5), "long work did not resume when the prediction ended"
    thread.join(5)
    assert priority.running() == 0 and waited[0] >= 0.3


def test_the_wait_is_bounded() -> None:
    release = threading.Event()
    thread, _ = _held(release)
    try:
        seconds = priority.give_way(max_wait=0.2)
        assert 0.15 <= seconds < 5.0  # it gave up waiting while the prediction still ran
        assert priority.running() == 1
    finally:
        release.set()
        thread.join(5)


def test_a_prediction_on_a_gpu_does_not_hold_cpu_work() -> None:
    release = threading.Event()
    thread, _ = _held(release, torch.device("cuda"))  # a device object only: no GPU needed
    try:
        assert priority.running() == 0
        assert priority.give_way(max_wait=5.0) == 0.0
    finally:
        release.set()
        thread.join(5)


def test_a_failing_prediction_is_not_counted_after_it_fails() -> None:
    with pytest.raises(RuntimeError):
        with priority.cheap():
            raise RuntimeError("boom")
    assert priority.running() == 0


def test_sentiment_predictions_run_as_predictions(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = sentiment.batch_probabilities

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(priority.running())
        return real(*args, **kwargs)

    monkeypatch.setattr(sentiment, "batch_probabilities", spy)
    sentiment.predict("a lovely film, truly", "tiny")
    assert seen and seen[0] == 1 and priority.running() == 0


def test_a_generation_gives_way_at_each_token_and_writes_the_same_tokens() -> None:
    opts = {"temperature": 0.0, "max_new_tokens": 6}
    alone = gen.generate("Name three colours.", "tiny-llama", **opts)
    before = priority.waited["steps"]
    release = threading.Event()
    thread, _ = _held(release)
    threading.Timer(0.5, release.set).start()
    try:
        beside = gen.generate("Name three colours.", "tiny-llama", **opts)
    finally:
        release.set()
        thread.join(5)
    assert priority.waited["steps"] > before
    assert beside.output_ids == alone.output_ids


def test_an_explanation_gives_way_between_batches_with_the_same_result() -> None:
    text = "the food was cold but the staff were lovely"
    alone = explain.explain(sentiment.subject(text, "tiny"), "feature_ablation", metrics=False)
    explain.RESULTS.clear()  # the same request again runs again, not from the result cache
    before = priority.waited["steps"]
    release = threading.Event()
    thread, _ = _held(release)
    threading.Timer(0.3, release.set).start()
    try:
        beside = explain.explain(sentiment.subject(text, "tiny"), "feature_ablation", metrics=False)
    finally:
        release.set()
        thread.join(5)
    assert priority.waited["steps"] > before and not beside.extras.get("cached")
    np.testing.assert_allclose(beside.matrix, alone.matrix, atol=1e-6)
