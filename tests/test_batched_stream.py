"""A Generation-tab stream that waits for others says so, and Stop answers it at once
(playground.batched_stream). On the tiny decoders (random weights, the real generation code)."""

from __future__ import annotations

import threading
import time

import pytest

from playground import batched_generate as bg
from playground import batched_stream as bs
from playground import models
from playground.prefix_cache import PREFIXES
from playground.tasks import generation as gen

from conftest import slow_forward, until

PROMPTS = ["Once upon a time there was", "The weather today is", "Name three colours."]
KEY = "tiny-llama"


@pytest.fixture(autouse=True)
def empty_table() -> None:
    PREFIXES.forget()


def _read_into(stream, seen: list) -> None:
    for update in stream:
        seen.append(update)


def test_a_waiting_stream_says_what_runs_first_and_stop_answers_it_at_once() -> None:
    asks = [{"temperature": 0.7, "seed": i, "mode": "plain", "max_new_tokens": 8} for i in range(3)]
    loaded = models.load(gen.spec_for(KEY))
    batcher = bs.stream_batcher_for(loaded, gen.options(**asks[0]))
    list(bs.stream(PROMPTS[0], KEY, **asks[0]))  # one timed run: the estimate has a pace
    lone = []
    for p, o in zip(PROMPTS, asks):
        PREFIXES.forget()
        lone.append(list(gen.stream(p, KEY, **o))[-1].result)
    PREFIXES.forget()
    before = len(batcher.batches)
    stop = threading.Event()
    seen: list[list] = [[], [], []]
    threads = [threading.Thread(target=_read_into, args=(bs.stream(PROMPTS[i], KEY, stop=stop if i == 2 else None,
                                                                   **asks[i]), seen[i])) for i in range(3)]
    with models.gate(KEY).eager():  # the model is busy: the first stream leads and waits on it
        threads[0].start()
        assert until(lambda: batcher._leading and not batcher._pending)
        threads[1].start()
        assert until(lambda: len(batcher._pending) == 1)
        threads[2].start()
        assert until(lambda: len(batcher._pending) == 2)
        assert until(lambda: any(u.waiting for u in seen[1]) and any(u.waiting for u in seen[2]))
        one = next(u.waiting for u in seen[1] if u.waiting)
        two = next(u.waiting for u in seen[2] if u.waiting)
        assert one[0] == 1 and two[0] == 2  # generations that run before each
        assert one[1] is not None and two[1] is not None and two[1] >= one[1]
        assert not any(u.waiting for u in seen[0])  # the first one is running, not waiting
        stop.set()  # the third student presses Stop while the model is still busy
        assert until(lambda: seen[2] and seen[2][-1].done, seconds=5)
        assert not seen[0] or not seen[0][-1].done  # the others are still waiting on the model
    for th in threads:
        th.join(60)
    stopped = seen[2][-1].result
    assert stopped.stop_reason == "stopped" and stopped.output_ids == []
    for i in (0, 1):
        result = seen[i][-1].result
        assert result.output_ids == lone[i].output_ids and result.stop_reason == lone[i].stop_reason
        assert all(u.waiting is None for u in seen[i] if u.text)  # once its text comes, it no longer waits
    assert batcher.batches[before:] == [1, 2]  # the stopped row was in the batch but never ran


def test_without_a_timed_run_the_wait_is_said_without_a_number() -> None:
    opts = gen.options(temperature=0.0, max_new_tokens=5, max_time=17.0)  # a batcher nobody has used
    row = bg.prepare_row(PROMPTS[0], KEY, temperature=0.0, max_new_tokens=5, max_time=17.0, mode="plain")
    batcher = bs.stream_batcher_for(row.loaded, opts)
    assert bs.waiting(batcher, row) == (0, None)


def test_stop_in_a_batched_run_answers_at_once_with_the_text_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two streams share a run (each forward sleeps 30 ms a row, so it lasts seconds); the
    second student presses Stop once text shows: their page gets its tokens so far at once, a
    prefix of what the same seed gives alone, while the other stream goes on to its lone text."""
    loaded = models.load(gen.spec_for(KEY))
    asks = [{"temperature": 0.8, "seed": 20 + i, "mode": "plain", "max_new_tokens": 60, "max_time": 60.0}
            for i in range(3)]
    lone = []
    for p, o in zip(PROMPTS, asks):
        PREFIXES.forget()
        lone.append(list(gen.stream(p, KEY, **o))[-1].result)
    PREFIXES.forget()
    slow_forward(monkeypatch, loaded.model, 0.03)
    batcher = bs.stream_batcher_for(loaded, gen.options(**asks[0]))
    before = len(batcher.batches)
    stop = threading.Event()
    seen: list[list] = [[], [], []]
    threads = [threading.Thread(target=_read_into, args=(bs.stream(PROMPTS[i], KEY, stop=stop if i == 2 else None,
                                                                   **asks[i]), seen[i])) for i in range(3)]
    with models.gate(KEY).eager():
        threads[0].start()
        assert until(lambda: batcher._leading and not batcher._pending)
        threads[1].start()
        threads[2].start()
        assert until(lambda: len(batcher._pending) == 2)
    assert until(lambda: any(u.text for u in seen[2]), seconds=60)  # the batched run streams
    pressed = time.monotonic()
    stop.set()
    assert until(lambda: seen[2] and seen[2][-1].done, seconds=5)
    answered = time.monotonic() - pressed
    assert not (seen[1] and seen[1][-1].done)  # the other row of the run is still going
    for th in threads:
        th.join(120)
    assert batcher.batches[before:] == [1, 2]
    stopped = seen[2][-1].result
    assert stopped.stop_reason == "stopped" and answered < 2.0
    assert 1 <= len(stopped.output_ids) < len(lone[2].output_ids)
    assert lone[2].output_ids[: len(stopped.output_ids)] == stopped.output_ids
    # Its next-token view so far: the lone run's steps (raw from a forward over the tokens made,
    # processed from the sampler's scores), up to float rounding.
    assert [s.token_id for s in stopped.steps] == stopped.output_ids
    for got, want in zip(stopped.steps, lone[2].steps):
        assert got.rank == want.rank
        assert got.p_raw == pytest.approx(want.p_raw, abs=1e-3)
        assert got.p_processed == pytest.approx(want.p_processed, abs=1e-3)
        assert [c[1] for c in got.raw[:3]] == [c[1] for c in want.raw[:3]]
    assert seen[1][-1].result.output_ids == lone[1].output_ids
