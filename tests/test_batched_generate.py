"""Concurrent greedy generations on one model share one batched generate
(playground.batched_generate), and each caller gets exactly what it gets alone: the same tokens,
steps and stop reason, at its own max_new_tokens and stop strings; fewer generate calls than
requests; a bad request fails only its own caller. On the tiny decoders (random weights, the
real loading and generation code)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from playground import batched_generate as bg
from playground import config, models, prompting
from playground.errors import InputError
from playground.prefix_cache import PREFIXES
from playground.tasks import generation as gen
from playground.tasks import qa
from playground.tasks.qa.types import GEN_MAX_NEW_TOKENS, GEN_PROMPT_CHARS, GEN_PROMPT_TOKENS

PROMPTS = ["Hello there, what is the weather like today?", "Name three colours.",
           "The Great Barrier Reef stretches for over 2,300 kilometres along the coast of Queensland.", "Hi"]
CONTEXT = ("The Great Barrier Reef stretches for over 2,300 kilometres along the coast of Queensland, Australia. "
           "It is the largest coral reef system in the world and can be seen from space.")
GREEDY = {"temperature": 0.0, "max_new_tokens": 12}


@pytest.fixture(autouse=True)
def empty_table() -> None:
    PREFIXES.forget()


def _alone(prompt: str, key: str, stop_strings: tuple[str, ...] = (), **opts: object) -> gen.GenerationResult:
    """The lone result, computed from scratch (no prefix cache), on the streaming path."""
    PREFIXES.forget()
    return bg._alone((prompt, key, None, None, None, stop_strings, config.LIMITS.max_chars, gen.MAX_PROMPT_TOKENS),
                     {**GREEDY, **opts})


def _same(a: gen.GenerationResult, b: gen.GenerationResult) -> None:
    assert b.output_ids == a.output_ids and b.text == a.text and b.tokens == a.tokens
    assert b.stop_reason == a.stop_reason
    assert b.prompt_ids == a.prompt_ids and b.prompt_text == a.prompt_text and b.options == a.options
    assert len(b.steps) == len(a.steps) and (b.eos_step is None) == (a.eos_step is None)
    for s, t in zip(b.steps, a.steps):
        assert s.token_id == t.token_id and s.rank == t.rank
        assert s.p_raw == pytest.approx(t.p_raw, abs=1e-5)
        assert s.p_processed == pytest.approx(t.p_processed, abs=1e-5)
        assert [c[1] for c in s.raw[:3]] == [c[1] for c in t.raw[:3]]


@pytest.mark.parametrize(("key", "mode"), [("tiny-llama", "plain"), ("tiny-llama", "chat"), ("tiny-gpt2", "plain")])
def test_rows_together_equal_rows_alone(key: str, mode: str) -> None:
    """Prompts of different lengths in one batch (left filler, masked): each row's greedy tokens,
    steps and stop reason are its own alone. GPT-2 has learned positions: they must come from
    the mask too."""
    lone = [_alone(p, key, mode=mode) for p in PROMPTS]
    PREFIXES.forget()
    together = bg.run_together([bg.prepare_row(p, key, mode=mode, **GREEDY) for p in PROMPTS])
    for a, b in zip(lone, together):
        _same(a, b)


def test_each_row_stops_at_its_own_length_and_its_own_stop_strings() -> None:
    key = "tiny-llama"
    full = _alone(PROMPTS[0], key, mode="plain")
    tokenizer = models.load(gen.spec_for(key)).tokenizer
    stop = (tokenizer.decode(full.output_ids[:4], skip_special_tokens=True)[-2:],)  # ends the text by step 4
    asks = [  # (prompt, stop strings, max_new_tokens)
        (PROMPTS[0], stop, 12), (PROMPTS[1], (), 3), (PROMPTS[2], (), 7), (PROMPTS[3], (), 12), (PROMPTS[0], (), 5),
    ]
    lone = [_alone(p, key, s, mode="plain", max_new_tokens=m) for p, s, m in asks]
    assert lone[0].stop_reason == "stop_string" and len(lone[0].output_ids) <= 4
    PREFIXES.forget()
    rows = [bg.prepare_row(p, key, None, None, None, s, mode="plain", temperature=0.0, max_new_tokens=m)
            for p, s, m in asks]
    together = bg.run_together(rows)
    for (_, s, m), a, b in zip(asks, lone, together):
        _same(a, b)
        assert len(b.output_ids) <= m
        assert b.stop_reason == ("stop_string" if s else "max_new_tokens")
        if not s:
            assert len(b.output_ids) == m  # random weights never chose end-of-sequence here
    # Each row's seconds run to its own end: the 3-token row was done before the 12-token one.
    assert together[1].seconds < together[2].seconds < together[3].seconds


def test_a_batch_reads_the_shared_context_from_the_prefix_cache_and_keeps_its_longest_prompt() -> None:
    """Generative answers on one paragraph: the few-shot examples and the context come from the
    prefix cache (filled by the first, lone, answer), once for the whole batch; each answer is
    the one computed from scratch; the batch's longest prompt is kept for the next question."""
    qa.answer("How long is the reef?", CONTEXT, "tiny-llama")  # the first student: alone, fills the table
    questions = ["Where is the reef?", "Can it be seen from space?", "What is the largest coral reef system?"]
    ask = dict(mode="plain", temperature=0.0, max_new_tokens=GEN_MAX_NEW_TOKENS)
    messages = ["".join(prompting.qa_parts(q, CONTEXT, "plain")) for q in questions]
    rows = [bg.prepare_row(m, "tiny-llama", None, None, None, ("\n",), GEN_PROMPT_CHARS, GEN_PROMPT_TOKENS, **ask)
            for m in messages]
    together = bg.run_together(rows)
    assert all(r.reused_tokens >= 20 for r in together)
    longest = max(together, key=lambda r: len(r.prompt_ids))
    again = gen.generate(longest.prompt, "tiny-llama", None, None, None, ("\n",), GEN_PROMPT_CHARS, GEN_PROMPT_TOKENS,
                         **ask)
    assert again.reused_tokens == len(again.prompt_ids) - 1  # the batch stored its prompt
    for m, b in zip(messages, together):
        PREFIXES.forget()
        a = bg._alone((m, "tiny-llama", None, None, None, ("\n",), GEN_PROMPT_CHARS, GEN_PROMPT_TOKENS), ask)
        _same(a, b)


def _meet(key: str, calls: list, opts: dict) -> tuple[list, list[int]]:
    """Run ``calls`` (pairs: a function, whether it reaches the batcher) at once while the
    model's gate is held by an eager pass: the first call leads, alone, and waits on the gate;
    then the others start and queue on its batcher; then the gate opens. Each call's result or
    exception, and the sizes of the batches run."""
    loaded = models.load(gen.spec_for(key))
    batcher = bg.batcher_for(loaded, gen.options(**opts))
    before = len(batcher.batches)
    out: list = [None] * len(calls)

    def run(i: int) -> None:
        try:
            out[i] = calls[i][0]()
        except Exception as exc:  # noqa: BLE001 - the test reads each caller's own outcome
            out[i] = exc

    def until(ready: object) -> None:
        deadline = time.monotonic() + 20
        while not ready() and time.monotonic() < deadline:
            threading.Event().wait(0.01)

    with ThreadPoolExecutor(len(calls)) as pool, models.gate(key).eager():
        futures = [pool.submit(run, 0)]
        until(lambda: batcher._leading and not batcher._pending)  # the leader took its batch of one
        futures += [pool.submit(run, i) for i in range(1, len(calls))]
        until(lambda: len(batcher._pending) == sum(1 for _, joins in calls[1:] if joins))
    for f in futures:
        f.result(60)
    return out, batcher.batches[before:]


def test_concurrent_callers_share_generate_calls_and_get_their_own_answers() -> None:
    key = "tiny-llama"
    prompts = [f"{p} ({i})" for i, p in enumerate(PROMPTS * 2)]
    lone = [_alone(p, key, mode="chat") for p in prompts]
    calls = [((lambda p=p: gen.generate(p, key, mode="chat", **GREEDY)), True) for p in prompts]
    out, sizes = _meet(key, calls, GREEDY)
    assert sum(sizes) == len(prompts) and len(sizes) < len(prompts)
    assert sizes == [1, len(prompts) - 1]  # the first alone at once, everyone else together
    for a, b in zip(lone, out):
        _same(a, b)


def test_a_bad_request_fails_only_its_own_caller() -> None:
    key = "tiny-llama"
    prompts = ["First question about the sea.", "Second question about the sky.", "Third one."]
    lone = [_alone(p, key, mode="plain") for p in prompts]
    calls = [((lambda p=p: gen.generate(p, key, mode="plain", **GREEDY)), True) for p in prompts]
    calls.insert(1, ((lambda: gen.generate("   ", key, mode="plain", **GREEDY)), False))  # fail before joining
    calls.insert(2, ((lambda: gen.generate("x" * 5000, key, mode="plain", **GREEDY)), False))
    out, sizes = _meet(key, calls, GREEDY)
    assert isinstance(out[1], InputError) and out[1].key == "input_empty"
    assert isinstance(out[2], InputError) and out[2].key == "input_too_long"
    good = [out[0], out[3], out[4]]
    for a, b in zip(lone, good):
        _same(a, b)
    assert sizes == [1, 2]


def test_sampled_requests_join_the_batch_and_long_ones_run_alone() -> None:
    """A sampled request draws from its own seed (generation_sampling), so it may share a batch
    and still give its lone text; a long one runs alone and never goes through a batcher."""
    key = "tiny-llama"
    loaded = models.load(gen.spec_for(key))
    sampled = {"temperature": 0.7, "seed": 3, "max_new_tokens": 8}
    long = {"temperature": 0.0, "max_new_tokens": bg.BATCH_MAX_NEW_TOKENS + 8}
    batcher = bg.batcher_for(loaded, gen.options(**sampled))
    assert bg.batcher_for(loaded, gen.options(**long)) is batcher  # one batcher for both settings
    seen = len(batcher.batches)
    a = gen.generate(PROMPTS[0], key, mode="plain", **sampled)
    b = gen.generate(PROMPTS[0], key, mode="plain", **sampled)
    assert a.output_ids == b.output_ids  # the seed still reproduces its text
    assert len(batcher.batches) == seen + 2
    long_result = gen.generate(PROMPTS[0], key, mode="plain", **long)
    assert len(long_result.output_ids) == long["max_new_tokens"]
    assert len(batcher.batches) == seen + 2  # the long one did not go through it


def test_short_generations_have_their_own_concurrency_group() -> None:
    """Answers and /generate may run many at once (so they can meet in a batch); summaries and
    translations keep the long generations' group and never hold those slots."""
    pytest.importorskip("gradio")
    from playground.ui import app, common

    assert app.api_group("generate") == app.api_group("qa") == common.ANSWER
    assert app.api_group("summarize") == app.api_group("translate") == common.GENERATE
    assert common.CONCURRENCY[common.ANSWER] >= config.LIMITS.generate_batch > 1
