"""A prompt that starts like an earlier one reuses its keys and values (playground.prefix_cache):
the output is the one computed from scratch, the table stays within its bytes, and nobody's
generation changes what the table holds. Also the stop-string rule that replaced transformers'
own (same answers, without its per-call pass over the whole vocabulary)."""

from __future__ import annotations

import random

import pytest
import torch

from playground.prefix_cache import PREFIXES, PrefixCache, cache_bytes
from playground.tasks import generation as gen
from playground.tasks import qa

BASE = "The Great Barrier Reef stretches for over 2,300 kilometres along the coast of Queensland, Australia."
CONTEXT = BASE + " It is the largest coral reef system in the world and can be seen from space."


@pytest.fixture(autouse=True)
def empty_table() -> None:
    PREFIXES.forget()


@pytest.mark.parametrize("key", ["tiny-llama", "tiny-gpt2"])
def test_a_shared_prefix_is_reused_and_the_output_is_the_one_from_scratch(key: str) -> None:
    first = gen.generate(BASE + " Tell me more.", key, mode="plain", max_new_tokens=10, temperature=0)
    assert first.reused_tokens == 0
    second = gen.generate(BASE + " Where is it?", key, mode="plain", max_new_tokens=10, temperature=0)
    assert second.reused_tokens >= 10
    shared = 0
    for a, b in zip(first.prompt_ids, second.prompt_ids):
        if a != b:
            break
        shared += 1
    assert second.reused_tokens == shared  # exactly the common run of tokens, no more
    PREFIXES.forget()
    fresh = gen.generate(BASE + " Where is it?", key, mode="plain", max_new_tokens=10, temperature=0)
    assert fresh.reused_tokens == 0
    assert second.output_ids == fresh.output_ids
    for s, f in zip(second.steps, fresh.steps):
        assert s.p_raw == pytest.approx(f.p_raw, abs=1e-5)
        assert [c[1] for c in s.raw[:3]] == [c[1] for c in f.raw[:3]]


def test_the_same_prompt_again_computes_its_last_token_and_agrees() -> None:
    a = gen.generate(BASE, "tiny-llama", mode="plain", max_new_tokens=6, temperature=0)
    b = gen.generate(BASE, "tiny-llama", mode="plain", max_new_tokens=6, temperature=0)
    assert b.reused_tokens == len(b.prompt_ids) - 1
    assert a.output_ids == b.output_ids


def test_questions_on_one_context_reuse_the_few_shot_examples_and_the_context() -> None:
    one = qa.answer("How long is the reef?", CONTEXT, "tiny-llama")
    two = qa.answer("Where is the reef?", CONTEXT, "tiny-llama")
    assert one.generation.reused_tokens == 0
    # Everything before the question is shared: the instructions, the examples and the context.
    prompt = two.generation.prompt_text
    before_question = len(prompt[: two.question_span[0]])
    offsets = two.generation.prompt_offsets
    assert offsets is not None
    n_before = sum(1 for s, e in offsets if e <= before_question)
    assert two.generation.reused_tokens >= n_before - 2  # the last piece before the question may merge



def _cache(n: int) -> object:
    from transformers import DynamicCache

    cache = DynamicCache()
    cache.update(torch.randn(1, 2, n, 8), torch.randn(1, 2, n, 8), 0)
    return cache


def test_the_table_is_bounded_in_bytes_and_evicts_the_oldest() -> None:
    one = cache_bytes(_cache(20))
    table = PrefixCache(max_bytes=one * 4, min_tokens=4)
    for i in range(10):
        table.store("m", [i] * 20, _cache(20))
        assert table.nbytes <= table.max_bytes
    assert len(table) == 4
    assert table.lookup("m", [0] * 20 + [1])[0] is None  # the oldest went first
    got, n = table.lookup("m", [9] * 20 + [1])
    assert n == 20 and got.get_seq_length() == 20


def test_a_lookup_is_a_private_copy_cut_to_the_shared_tokens() -> None:
    table = PrefixCache(max_bytes=2**24, min_tokens=4)
    stored = _cache(12)
    table.store("m", list(range(12)), stored)
    got, n = table.lookup("m", list(range(8)) + [99, 98])
    assert n == 8 and got.get_seq_length() == 8
    got.update(torch.ones(1, 2, 3, 8), torch.ones(1, 2, 3, 8), 0)  # what generate does to it
    assert stored.get_seq_length() == 12
    again, n2 = table.lookup("m", list(range(12)) + [5])
    assert n2 == 12 and torch.equal(again.layers[0].keys, stored.layers[0].keys)
    assert table.lookup("other model", list(range(12)))[0] is None
    assert table.lookup("m", [0, 1, 2, 77, 78])[0] is None  # fewer than min_tokens shared


def test_the_stop_string_rule_agrees_with_transformers() -> None:
    from transformers import StopStringCriteria

    tok = gen.model_for("tiny-llama").tokenizer
    stops = ("\n", ".")
    ours = gen._stop_string_criterion(tok, stops, 0)
    theirs = StopStringCriteria(tok, list(stops))
    rng = random.Random(0)
    words = ["the", "reef", ".", "\n", " sea", "2,300", "km", "!", " is", "长"]
    agreed = 0
    for _ in range(60):
        text = "".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
        if ids.shape[1] == 0:
            continue
        assert bool(ours(ids, None)[0]) == bool(theirs(ids, None)[0]), repr(text)
        agreed += 1
    assert agreed > 40
