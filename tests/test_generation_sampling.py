"""Sampling with a generator per row (playground.tasks.generation_sampling) and the Generation
tab's streams decoded together (playground.batched_stream.stream). A lone sampled run draws
what transformers' own sampling draws from the same seed; sampled rows in one batch, and sampled
runs at once in two threads, each give their lone text; concurrent streams share generate
calls, each reader sees only its own text grow, and a reader that leaves stops only its row. On
the tiny decoders (random weights, the real loading and generation code)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from playground import batched_generate as bg
from playground import batched_stream as bs
from playground import config, models
from playground.prefix_cache import PREFIXES
from playground.tasks import generation as gen

from conftest import slow_forward, until

PROMPTS = ["Once upon a time there was", "The weather today is", "Name three colours.", "Hi",
           "A short story about a cat:"]
SAMPLED = {"temperature": 0.9, "top_k": 40, "top_p": 0.9, "max_new_tokens": 10}


@pytest.fixture(autouse=True)
def empty_table() -> None:
    PREFIXES.forget()


def _alone(prompt: str, key: str, **opts: object) -> gen.GenerationResult:
    PREFIXES.forget()
    return bg._alone((prompt, key, None, None, None, (), config.LIMITS.max_chars, gen.MAX_PROMPT_TOKENS), opts)


def _same(a: gen.GenerationResult, b: gen.GenerationResult) -> None:
    assert b.output_ids == a.output_ids and b.text == a.text and b.stop_reason == a.stop_reason
    assert len(b.steps) == len(a.steps)
    for s, t in zip(b.steps, a.steps):
        assert s.token_id == t.token_id and s.rank == t.rank
        assert s.p_processed == pytest.approx(t.p_processed, abs=1e-5)
        assert [c[1] for c in s.processed[:3]] == [c[1] for c in t.processed[:3]]


@pytest.mark.parametrize("key", ["tiny-llama", "tiny-gpt2"])
def test_a_lone_sampled_run_draws_what_transformers_draws_from_the_seed(key: str) -> None:
    """The reference is transformers' own do_sample=True after torch.manual_seed: the same
    tokens, and the view's processed probabilities are transformers' processed scores."""
    opts = {**SAMPLED, "seed": 11, "mode": "plain"}
    ours = _alone(PROMPTS[0], key, **opts)
    loaded = models.load(gen.spec_for(key))
    ids = torch.tensor([ours.prompt_ids])
    eos = gen._eos_ids(loaded)
    torch.manual_seed(11)
    with torch.no_grad():
        ref = loaded.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.9, top_k=40, top_p=0.9,
            max_new_tokens=10, repetition_penalty=1.0, eos_token_id=eos or None,
            pad_token_id=eos[0] if eos else None, return_dict_in_generate=True, output_scores=True,
        )
    made = ref.sequences[0, ids.shape[1]:].tolist()
    assert len(set(made)) > 1  # a real draw, not a constant
    assert ours.output_ids == made[: len(ours.output_ids)] and len(ours.steps) == len(made)
    for step, scores, token in zip(ours.steps, ref.scores, made):
        assert step.p_processed == pytest.approx(float(torch.softmax(scores[0], -1)[token]), abs=1e-5)
    other = _alone(PROMPTS[0], key, **{**opts, "seed": 12})
    assert other.output_ids != ours.output_ids  # the seed is what decides the draw


@pytest.mark.parametrize("key", ["tiny-llama", "tiny-gpt2"])
def test_sampled_and_greedy_rows_in_one_batch_each_give_their_lone_text(key: str) -> None:
    asks = [(PROMPTS[0], {**SAMPLED, "seed": 1}), (PROMPTS[1], {**SAMPLED, "seed": 2, "temperature": 1.3}),
            (PROMPTS[2], {"temperature": 0.0, "max_new_tokens": 10}), (PROMPTS[3], {**SAMPLED, "seed": 1, "top_k": 0}),
            (PROMPTS[0], {**SAMPLED, "seed": 3, "max_new_tokens": 6})]
    lone = [_alone(p, key, mode="plain", **o) for p, o in asks]
    PREFIXES.forget()
    together = bg.run_together([bg.prepare_row(p, key, mode="plain", **o) for p, o in asks])
    for a, b in zip(lone, together):
        _same(a, b)
    assert lone[0].output_ids != lone[4].output_ids[: len(lone[0].output_ids)]  # different seeds, different draws


def test_sampled_runs_at_once_in_two_threads_each_give_their_lone_text() -> None:
    """Too long to batch, so each runs alone on the streaming path, now without a lock on the
    global RNG: if they shared it, their draws would interleave."""
    key = "tiny-llama"
    opts = {**SAMPLED, "max_new_tokens": bg.BATCH_MAX_NEW_TOKENS + 8, "mode": "plain"}
    seeds = [5, 6, 7]
    lone = [_alone(PROMPTS[i], key, seed=s, **opts) for i, s in enumerate(seeds)]
    PREFIXES.forget()
    start = threading.Barrier(len(seeds))

    def run(i: int) -> gen.GenerationResult:
        start.wait()
        return bg._alone((PROMPTS[i], key, None, None, None, (), config.LIMITS.max_chars, gen.MAX_PROMPT_TOKENS),
                         {**opts, "seed": seeds[i]})

    with ThreadPoolExecutor(len(seeds)) as pool:
        at_once = list(pool.map(run, range(len(seeds))))
    for a, b in zip(lone, at_once):
        _same(a, b)


def _read(stream, leave_after: int | None = None) -> tuple[list[str], gen.GenerationResult | None]:
    """Every text a reader is shown, and the final result (None if it left after
    ``leave_after`` updates with text)."""
    texts: list[str] = []
    for update in stream:
        if update.done:
            return texts, update.result
        if update.text:
            texts.append(update.text)
            if leave_after is not None and len(texts) >= leave_after:
                stream.close()
                return texts, None
    return texts, None


def _meet_streams(key: str, asks: list[dict], leave: dict[int, int] | None = None) -> tuple[list, list[int]]:
    """Start the streams at once while the model's gate is held by an eager pass: the first
    leads, alone; the others queue on its batcher; then the gate opens."""
    leave = leave or {}
    loaded = models.load(gen.spec_for(key))
    batcher = bs.stream_batcher_for(loaded, gen.options(**asks[0]))
    before = len(batcher.batches)
    out: list = [None] * len(asks)

    def run(i: int) -> None:
        out[i] = _read(bs.stream(PROMPTS[i], key, **asks[i]), leave.get(i))

    with ThreadPoolExecutor(len(asks)) as pool, models.gate(key).eager():
        futures = [pool.submit(run, 0)]
        until(lambda: batcher._leading and not batcher._pending, 20)
        futures += [pool.submit(run, i) for i in range(1, len(asks))]
        until(lambda: len(batcher._pending) == len(asks) - 1, 20)
    for f in futures:
        f.result(120)
    return out, batcher.batches[before:]


def test_concurrent_streams_share_generate_calls_and_each_reader_sees_its_own_text_grow() -> None:
    key = "tiny-llama"
    asks = [{**SAMPLED, "seed": i, "mode": "chat", "max_new_tokens": 12} for i in range(len(PROMPTS))]
    lone = []
    for p, o in zip(PROMPTS, asks):
        PREFIXES.forget()
        lone.append(_read(gen.stream(p, key, **o)))  # the lone streaming path: its texts, its result
    PREFIXES.forget()
    out, sizes = _meet_streams(key, asks)
    assert sizes == [1, len(PROMPTS) - 1]  # the first at once, alone; the rest in one run
    for (lone_texts, a), (texts, result) in zip(lone, out):
        _same(a, result)
        assert texts and texts == lone_texts  # the reader saw its own text grow, as it does alone
        assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))


def test_a_run_holds_at_most_row_steps_and_a_reader_that_leaves_stops_only_its_row() -> None:
    key = "tiny-llama"
    n = bs.ROW_STEPS // 2  # two rows per run
    asks = [{**SAMPLED, "seed": i, "mode": "plain", "max_new_tokens": n} for i in range(4)]
    lone = [_alone(PROMPTS[i], key, **o) for i, o in enumerate(asks)]
    PREFIXES.forget()
    out, sizes = _meet_streams(key, asks, leave={2: 1})
    assert sizes == [1, 3]  # one batcher call for the three that waited, run as 2 + 1 rows
    texts, result = out[2]
    assert result is None and len(texts) == 1
    for i in (0, 1, 3):
        _same(lone[i], out[i][1])
        assert len(out[i][1].output_ids) == n or out[i][1].stop_reason == "eos"


def test_the_generation_tab_streams_in_its_own_group_many_at_once() -> None:
    """The tab's Generate button and Enter in its prompt run in the STREAM group, many at once
    (so streams can meet in a batch), apart from summaries and translations."""
    pytest.importorskip("gradio")
    from playground.ui import common
    from playground.ui.app import build_demo

    demo, _ = build_demo(profile="tiny")
    try:
        elem = {b._id: getattr(b, "elem_id", None) for b in demo.blocks.values()}
        fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
        groups = {(elem.get(t[0]), t[1]): (f.concurrency_id, f.concurrency_limit) for f in fns for t in f.targets}
    finally:
        demo.close()
    assert groups[("gen-generate", "click")] == groups[("gen-prompt", "submit")] == (common.STREAM, common.CONCURRENCY[common.STREAM])
    assert common.CONCURRENCY[common.STREAM] >= 4


def test_a_batch_gives_each_row_its_own_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a CPU each row adds nearly a step's cost: a forward here sleeps 60 ms per row. Alone,
    each row's 10 tokens fit its 1 s max_time; three together take about 2 s and must not be cut."""
    key = "tiny-llama"
    loaded = models.load(gen.spec_for(key))
    slow_forward(monkeypatch, loaded.model, 0.06)
    opts = {"temperature": 0.0, "max_new_tokens": 10, "max_time": 1.0, "mode": "plain"}
    lone = [_alone(p, key, **opts) for p in PROMPTS[:3]]
    assert all(r.stop_reason != "max_time" for r in lone)
    PREFIXES.forget()
    together = bg.run_together([bg.prepare_row(p, key, **opts) for p in PROMPTS[:3]])
    assert together[0].seconds > 1.0  # the run took longer than one row's max_time
    for a, b in zip(lone, together):
        _same(a, b)
