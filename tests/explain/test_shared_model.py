"""The app runs predictions and explanations at once (its concurrency groups), on one shared
model: a gradient method's hooks on that model must not reach another thread's forward passes,
nor another thread's passes disturb the gradients."""

from __future__ import annotations

import threading

import numpy as np

from playground import api
from playground.explain import explain
from playground.tasks import generation as gen
from playground.tasks import sentiment

LONG = " ".join(["the film was long but lovely, and the music stayed with me"] * 8)


def test_predictions_and_integrated_gradients_at_once_on_one_model() -> None:
    alone = {i: api.sentiment(f"a fine day number {i}")["scores"] for i in range(300)}
    reference = explain(sentiment.subject(LONG), "integrated_gradients",
                        {"ig_steps": 128}, metrics=False).matrix
    errors: list[BaseException] = []
    seen: dict[int, dict] = {}
    explained: list[np.ndarray] = []

    def explaining() -> None:
        try:
            for _ in range(4):
                e = explain(sentiment.subject(LONG), "integrated_gradients",
                            {"ig_steps": 128}, metrics=False)
                explained.append(e.matrix)
                from playground.explain import RESULTS

                RESULTS.clear()  # run it again, not from the cache
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def predicting() -> None:
        try:
            for i in range(300):
                seen[i] = api.sentiment(f"a fine day number {i}")["scores"]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=explaining), threading.Thread(target=predicting)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i, scores in seen.items():
        for label, p in scores.items():
            assert abs(p - alone[i][label]) < 1e-4
    for m in explained:
        np.testing.assert_allclose(m, reference, atol=1e-4)


def test_an_attention_view_keeps_only_its_own_layers_while_another_thread_runs_the_model() -> None:
    r = gen.generate("one two three four five", "tiny-llama", max_new_tokens=4, temperature=0)
    s = gen.subject(r)
    alone = explain(s, "attention", metrics=False).matrix
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            gen.generate("a different prompt entirely, and longer", "tiny-llama", max_new_tokens=2, temperature=0)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        from playground.explain import RESULTS

        for _ in range(5):
            RESULTS.clear()
            np.testing.assert_allclose(explain(gen.subject(r), "attention", metrics=False).matrix, alone, atol=1e-5)
    finally:
        stop.set()
        worker.join()
