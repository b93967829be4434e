"""Memory stays bounded (playground.memory, the explanation engine's chunking and caches), on the
tiny models: caches bounded in bytes, no tensor or autograd graph left in a result, no tensor
left behind by a repeated explanation, logits never held for the whole vocabulary at once, the
gradient forwards' rows fitted to a budget (checkpointed past it, same numbers), freed memory
handed back to the system. bench/memory.py measures the same on the real models."""

from __future__ import annotations

import dataclasses
import gc
import json
import threading
from typing import Any

import numpy as np
import pytest
import torch

from playground import config, memory, models
from playground.explain import METHODS, explain, gradients, llm, lm_head
from playground.explain.base import MaskScorer
from playground.scoring import BatchedScorer

TINY = {"ig_steps": 4, "lime_samples": 24, "shap_evals": 24, "kernel_shap_samples": 24}
LONG = " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 12)
needs_glibc = pytest.mark.skipif(memory.glibc() is None, reason="glibc's malloc only")


def _decoder(key: str = "tiny-llama", n_out: int = 6):
    """A tiny decoder, a plain prompt and ``n_out`` greedy output tokens."""
    loaded = models.load(config.spec_by_key("generation", key, "tiny"))
    prompt = "I loved this movie, the actors were great and the story moved me"
    ids = list(loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    out = loaded.model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                max_new_tokens=n_out, min_new_tokens=n_out, do_sample=False,
                                pad_token_id=loaded.tokenizer.pad_token_id)
    return loaded, prompt, out[0, len(ids):].tolist()


def _subject(loaded, prompt: str, out: list[int]):
    inp = llm.LLMInput(model_text=prompt, parts=[("prompt", 0, len(prompt))], output_ids=list(out))
    return llm.subject(loaded, inp, "generation")


def _tensors() -> list[torch.Tensor]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, torch.Tensor)]


def _walk(value: Any) -> Any:
    """Every object reachable through the fields, dicts, lists and tuples of ``value``."""
    yield value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(k)
            yield from _walk(v)
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            yield from _walk(v)


# ---- Caches bounded in bytes ---------------------------------------------------------------


def test_scorer_cache_stays_under_its_byte_bound_and_answers_right(monkeypatch) -> None:
    """Thousands of distinct masks over many calls: the scorer's cache stays under its byte
    budget (the oldest masks forgotten), and every answer is still the model's."""
    weights = np.random.default_rng(0).normal(size=(40, 12))

    def model(masks: np.ndarray) -> np.ndarray:
        return masks.astype(float) @ weights

    score = MaskScorer(model, n_units=40, n_targets=12, batch_size=32)
    assert score.cache.max_bytes == memory.ROW_CACHE_BYTES
    score.cache.max_bytes = 64 * 1024
    rng = np.random.default_rng(1)
    for _ in range(30):
        masks = rng.random((200, 40)) > 0.5
        masks[::7] = masks[0]  # repeats within a call are answered once
        assert np.allclose(score(masks), model(masks))
        assert score.cache.nbytes <= score.cache.max_bytes
    assert score.cache.evicted > 0 and 0 < len(score.cache) < 6000
    before = score.stats.evaluated
    recent = rng.random((5, 40)) > 0.5
    score(recent)
    score(recent)  # still cached: nothing runs again
    assert score.stats.evaluated == before + len({m.tobytes() for m in recent})


def test_text_scorer_cache_stays_under_its_byte_bound() -> None:
    def model(texts: list[str]) -> np.ndarray:
        return np.array([[len(t), t.count("a")] for t in texts], dtype=float)

    score = BatchedScorer(model, batch_size=16)
    score.cache.max_bytes = 32 * 1024
    texts = [f"text number {i} " + "a" * (i % 50) for i in range(3000)]
    for start in range(0, len(texts), 300):
        chunk = texts[start : start + 300]
        assert np.array_equal(score(chunk), model(chunk))
        assert score.cache.nbytes <= score.cache.max_bytes
    assert score.cache.evicted > 0


# ---- Results hold no tensor, repeats leave nothing behind -----------------------------------


@pytest.mark.parametrize("method", list(METHODS))
def test_explanation_holds_no_tensor_and_no_autograd_graph(method: str, subject_factory) -> None:
    loaded, prompt, out = _decoder()
    for s in (subject_factory("a truly wonderful film with a weak ending"), _subject(loaded, prompt, out)):
        result = explain(s, method, TINY, target="all")
        found = [type(v).__name__ for v in _walk(result) if isinstance(v, torch.Tensor)]
        assert not found, f"{method} keeps {found} in its result"
        assert all(not (isinstance(v, np.ndarray) and v.dtype == object) for v in _walk(result))
        json.dumps(result.to_dict(), allow_nan=False)
    assert not [t for t in _tensors() if t.requires_grad and t.grad_fn is not None]  # no graph left alive


@pytest.mark.parametrize("method", list(METHODS))
def test_repeated_explanations_leave_no_tensor_behind(method: str, subject_factory) -> None:
    """The same explanation three more times, each on a fresh Subject (as each click builds
    one): the live tensors are the same as after the first."""
    loaded, prompt, out = _decoder()
    builders = [lambda: subject_factory("a truly wonderful film with a weak ending"), lambda: _subject(loaded, prompt, out)]
    for build in builders:
        explain(build(), method, TINY).to_dict()
        before = len(_tensors())
        for _ in range(3):
            explain(build(), method, TINY).to_dict()
        assert len(_tensors()) == before


def test_model_weights_are_frozen(loaded) -> None:
    """Gradients are only taken w.r.t. the input embeddings: frozen weights keep a gradient
    forward from saving every linear layer's input for a weight gradient."""
    for spec in (config.spec_by_key("generation", "tiny-llama", "tiny"), loaded.spec):
        model = models.load(spec).model
        assert not any(p.requires_grad for p in model.parameters())


# ---- Working memory capped by chunking -------------------------------------------------------


def test_split_head_gives_the_models_own_log_probabilities() -> None:
    """The decoders' log-probabilities, taken through the LM head a few positions at a time,
    are the model's own (its full logits, log-softmaxed)."""
    for key in ("tiny-llama", "tiny-gpt2"):
        loaded, prompt, out = _decoder(key)
        counting = llm._Counting(loaded.model)
        assert counting.split is not None
        prompts = [list(loaded.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in (prompt, prompt[:20], "a")]
        pad = loaded.tokenizer.pad_token_id or 0
        chunked = llm._decoder_logprobs(counting, prompts, out, pad)
        counting.split = None  # the model's own forward and logits
        whole = llm._decoder_logprobs(counting, prompts, out, pad)
        assert chunked.shape == whole.shape == (3, len(out))
        assert torch.allclose(chunked, whole, atol=1e-5)


def test_decoder_scoring_never_holds_every_positions_logits(monkeypatch) -> None:
    """A batch of rows x output positions x vocabulary logits never exists at once: the LM
    head sees at most HEAD_FLOATS logits (or one position of every row) per call."""
    loaded, prompt, out = _decoder(n_out=12)
    head = loaded.model.get_output_embeddings()
    vocab = int(head.weight.shape[0])
    monkeypatch.setattr(lm_head, "HEAD_FLOATS", 2 * vocab)
    sizes: list[tuple[int, ...]] = []
    handle = head.register_forward_hook(lambda _m, _a, output: sizes.append(tuple(output.shape)))
    try:
        s = _subject(loaded, prompt, out)
        explain(s, "feature_ablation", target="all")
        explain(s, "integrated_gradients", TINY, target="all")
    finally:
        handle.remove()
    assert sizes
    rows = max(shape[0] for shape in sizes)
    assert rows > 2  # batches of several rows ...
    assert max(shape[1] for shape in sizes) < len(out)  # ... never every output position at once
    assert all(int(np.prod(shape)) <= max(2 * vocab, shape[0] * vocab) for shape in sizes)


def test_gradient_rows_fit_the_memory_budget() -> None:
    loaded, _, _ = _decoder()
    model = loaded.model
    per_token = gradients.activation_bytes(model)
    rows, checkpoint = gradients.plan_rows(model, 100, 64, budget=10 * 100 * per_token)
    assert (rows, checkpoint) == (10, False)
    rows, checkpoint = gradients.plan_rows(model, 100, 4, budget=10 * 100 * per_token)
    assert (rows, checkpoint) == (4, False)
    rows, checkpoint = gradients.plan_rows(model, 100, 64, budget=50 * per_token)  # not even one row fits
    assert checkpoint and rows >= 1


def _saved_bytes(view, rows: int) -> int:
    """Bytes the autograd graph of one gradient forward keeps for its backward."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    x, b = gradients.embeddings(view)
    points = (b.unsqueeze(0) + 0.5 * (x - b).unsqueeze(0)).repeat(rows, 1, 1).requires_grad_(True)
    with torch.enable_grad(), gradients.replaced_output(view.layer, lambda: points), \
            gradients.checkpointed(view.checkpoint), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = view.run(rows)
    del out
    return sum(seen.values())


def test_checkpointed_layers_keep_less_and_give_the_same_gradients() -> None:
    """Past the budget the layers recompute their activations in the backward: the graph keeps
    a fraction of the bytes, and Integrated Gradients gives the same scores."""
    loaded, prompt, out = _decoder(n_out=8)
    s = _subject(loaded, prompt, out)
    view = s.gradient
    assert view.checkpoint is None  # a short input fits the budget as it is
    plain = _saved_bytes(view, 2)
    kept = _saved_bytes(dataclasses.replace(view, checkpoint=loaded.model), 2)
    assert kept < 0.6 * plain
    first = explain(s, "integrated_gradients", TINY, target="all")
    s.gradient = dataclasses.replace(view, checkpoint=loaded.model, max_rows=2)
    again = explain(s, "integrated_gradients", TINY, target="all")
    assert np.allclose(first.matrix, again.matrix, atol=1e-5)
    # Another thread's forward with gradients is never checkpointed by this thread's request.
    assert getattr(gradients._checkpointing, "model", None) is None


def test_logit_lens_reads_one_position_of_logits() -> None:
    from playground.tasks import generation as gen

    result = gen.generate("Tell me a story about a dragon and a knight", "tiny-llama", "tiny", max_new_tokens=6,
                          temperature=0)
    loaded = gen.model_for("tiny-llama", "tiny")
    head = loaded.model.get_output_embeddings()
    positions: list[int] = []
    handle = head.register_forward_hook(lambda _m, _a, output: positions.append(int(np.prod(output.shape[:-1]))))
    try:
        lens = gen.logit_lens(result, loaded, position=-1)
    finally:
        handle.remove()
    assert len(lens["layers"]) == loaded.model.config.num_hidden_layers
    assert max(positions) == 1  # never the whole prefix's logits


def test_sentiment_attention_keeps_only_what_it_shows() -> None:
    from playground.tasks import sentiment

    out = sentiment.analyse(LONG)
    att = out["attentions"]
    # The words of the first max_attention_tokens pieces, one row each.
    assert out["attention_truncated"] and att.shape[-1] == len(out["words"]) <= config.LIMITS.max_attention_tokens
    assert out["words"][0] == "[CLS]" and "".join(out["words"][1:6]) == "Thequickbrownfoxjumps"
    owner = att if att.base is None else att.base
    assert owner.nbytes == att.nbytes  # not a view into every token's attention


# ---- Freed memory goes back to the system ----------------------------------------------------


def _in_thread(fn) -> Any:
    box: dict[str, Any] = {}
    t = threading.Thread(target=lambda: box.update(value=fn()))
    t.start()
    t.join()
    return box.get("value")


@needs_glibc
def test_release_gives_a_threads_freed_heap_back() -> None:
    """Small allocations made and mostly freed by a worker thread stay in its malloc arena
    (fragmented by the few that live on) until release() trims it."""
    memory.release()
    survivors: list[np.ndarray] = []

    def work() -> None:
        arrays = [np.ones(2048) for _ in range(20_000)]  # 16 KB each: 320 MB in small pieces
        survivors.extend(arrays[::64])
        del arrays

    _in_thread(work)
    gc.collect()
    held = memory.rss_bytes()
    memory.release()
    assert held - memory.rss_bytes() > 150 * 2**20
    survivors.clear()


_THREAD_FREES = """
import threading, torch
from playground import memory
if {configure}:
    assert memory.configure()
big = torch.ones(4 * 2**20)  # 16 MB: freeing it raises glibc's dynamic mmap threshold to 16 MB
del big
box = {{}}
def work():
    tensors = [torch.ones(2**19) for _ in range(100)]  # 2 MB each
    keep = [torch.ones(16) for _ in range(100)]  # small survivors after them
    start = memory.rss_bytes()
    del tensors
    box["drop"] = start - memory.rss_bytes()
t = threading.Thread(target=work)
t.start()
t.join()
print(box["drop"] // 2**20)
"""


def _drop_mb(configure: bool) -> int:
    import subprocess
    import sys

    code = _THREAD_FREES.format(configure=configure)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=str(config.ASSETS.parent))
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


@needs_glibc
def test_large_tensors_freed_in_any_thread_leave_at_once() -> None:
    """In a fresh process: with the fixed mmap threshold (configure(), done when a model loads) a
    worker thread's 2 MB tensors are unmapped the moment they are freed; with glibc's dynamic
    threshold (raised by one earlier 16 MB free) they stay in the thread's arena."""
    assert _drop_mb(configure=True) > 150
    assert _drop_mb(configure=False) < 50


@needs_glibc
def test_released_handlers_give_a_threads_heap_back_and_keep_their_shape() -> None:
    """memory.released (what every model-running handler is wrapped in, ui.zerogpu.gpu): the
    heap a handler's thread fragmented is trimmed when the handler returns, a generator handler
    stays a generator (gradio streams it), and the signature gradio reads is the handler's."""
    import inspect

    survivors: list[np.ndarray] = []

    def handler(n: int, request: Any = None) -> int:
        arrays = [np.ones(2048) for _ in range(n)]
        survivors.extend(arrays[::64])
        return len(arrays)

    def streaming(n: int):
        yield from range(n)

    memory.release()
    base = memory.rss_bytes()
    assert _in_thread(lambda: memory.released(handler)(20_000)) == 20_000
    assert memory.rss_bytes() - base < 100 * 2**20  # 320 MB was allocated in small pieces
    survivors.clear()
    wrapped = memory.released(streaming)
    assert inspect.isgeneratorfunction(wrapped) and list(wrapped(3)) == [0, 1, 2]
    assert inspect.signature(memory.released(handler)) == inspect.signature(handler)
