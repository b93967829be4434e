"""Which words of the prompt made the model write each token of its answer.

Given a decoder, the exact text it was fed (``prompt_text``, e.g. after a chat template), where the
user's own prompt sits in it (``user_span``) and the tokens it generated (``output_ids``), this
module scores every *word* of the user's prompt (:func:`playground.text.words`, Chinese by jieba)
for every generated token: a matrix of shape ``(len(output_ids), n_words)``.

**Target.** Every method explains the same number: the *log-probability* of generated token ``i``
given the prompt and generated tokens ``0..i-1`` (teacher forcing: the output is held fixed and
never regenerated). Positive means the word made that token more likely. Log-probabilities of
successive tokens add up, so the rows summed (:meth:`GenerationAttribution.for_output` with
``None``) explain the log-probability of the whole answer.

**Methods**, all Captum's LLM attribution API:

- ``integrated_gradients``: ``LLMGradientAttribution`` around ``LayerIntegratedGradients`` on the
  input embedding layer, over a ``TextTokenInput`` whose interpretable tokens are the prompt
  tokens inside the user's span (chat-template tokens stay as they are). Baseline: every such
  token replaced by the tokenizer's unk token (pad, then eos, when it has none; in practice
  ``<|endoftext|>``). Token scores are summed into words by character offsets.
- ``feature_ablation``, ``lime``, ``shap``: ``LLMAttribution`` around ``FeatureAblation``,
  ``Lime`` and ``KernelShap`` over a ``TextTemplateInput`` whose features are the user's words:
  the template is ``prompt_text`` with each word (with the whitespace before it) as a slot, and
  the baseline *removes* the word and that whitespace ("I loved this" -> "I this"). Everything
  outside the user's span is fixed. LIME's surrogate is the lime package's own (Ridge,
  alpha=1, as in the sentiment tab) rather than Captum's default Lasso(alpha=0.01), which zeroes
  every word whose effect is small. ``shap`` on a prompt of at most five words with a budget of
  at least 2**n_words evaluations runs Captum's exact ``ShapleyValues`` instead of sampling.

Captum's ``Lime`` and ``KernelShap`` explain one number per run. Here they run once per generated
token on the same seeded samples, and every sample's forward (which scores all generated tokens
at once) is cached, so the model runs each sample once whatever the output length.

**Cost.** The perturbation methods run one teacher-forced forward over prompt + output per
sample, batched (Captum's ``perturbations_per_eval``), right-padded and keeping only the logits of
the answer positions; on a CPU with native bf16 they run under the model's bf16 autocast, as the
sentiment scorers do. Integrated gradients runs, per generated token, ``ig_steps`` rows with
gradients (the path) and 2 without (the input and the baseline), over prompt + the answer so far,
in fp32. ``evaluations`` counts the model rows that actually ran, by a wrapper around the
model's forward; a repeated sample runs once.

``prompt_text`` is exactly what the model reads, special tokens written out (a chat template's, a
start token like Gemma's ``<bos>``): it is tokenized with no special tokens added
(:func:`encode_prompt`), so ``output_ids`` must have been generated from those ids.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import text
from ..errors import InputError
from ..models import guard_oom
from ..text import Span
from .base import Option

MAX_IG_OUTPUT_TOKENS = 24
METHODS = ("integrated_gradients", "feature_ablation", "lime", "shap")

_SEED = Option("seed", default=0, minimum=0, maximum=2**31 - 1, label="opt_seed")
OPTIONS: dict[str, tuple[Option, ...]] = {
    "integrated_gradients": (Option("ig_steps", default=16, minimum=4, maximum=128, label="opt_ig_steps"),),
    "feature_ablation": (),
    "lime": (Option("lime_samples", default=64, minimum=16, maximum=1000, label="opt_lime_samples"), _SEED),
    "shap": (Option("shap_evals", default=64, minimum=16, maximum=1000, label="opt_shap_evals"), _SEED),
}

# Rows per teacher-forced forward. Measured on SmolLM2-135M, 2 CPU cores, ~55-token rows
# (bench/generation_attribution.py): per-row time falls from batch 1 to 8 and is flat from 16.
BATCH_ROWS = 16
# The kept logits of one batch are rows x answer positions x vocabulary floats; cap them.
_MAX_LOGIT_FLOATS = 64 * 2**20
# Exact Shapley values (Captum's ShapleyValues walks all n! orders) only for this many words.
_EXACT_SHAPLEY_MAX_WORDS = 5

Progress = Callable[[float, str], None]  # (fraction done, what is running), as explain.base


@dataclass
class GenerationAttribution:
    """One method's answer: ``matrix[i, j]`` is how much word ``j`` of the user's prompt raised
    the log-probability of generated token ``i``."""

    method: str
    words: list[Span]  # offsets into the user's prompt, not into prompt_text
    output_tokens: list[str]
    matrix: np.ndarray  # (n_out, n_words), finite
    evaluations: int  # model forward rows actually run
    seconds: float
    options: dict[str, int] = field(default_factory=dict)

    def for_output(self, i: int | None) -> np.ndarray:
        """Word scores for generated token ``i``; ``None``: the whole output (sum over tokens,
        i.e. the log-probability of the whole answer)."""
        if i is None:
            return self.matrix.sum(axis=0)
        return self.matrix[int(i)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "words": [w.to_dict() for w in self.words],
            "output_tokens": list(self.output_tokens),
            "matrix": [[float(v) for v in row] for row in self.matrix],
            "evaluations": int(self.evaluations),
            "seconds": round(float(self.seconds), 4),
            "options": {k: int(v) for k, v in self.options.items()},
        }


def _check_method(method: object) -> str:
    name = str(method).strip().lower()
    if name not in METHODS:
        raise InputError(
            "bad_method", "Unknown method '{name}'. Choose one of: {names}.", name=str(method)[:40], names=", ".join(METHODS)
        )
    return name


def resolve_options(method: str, options: dict | None = None) -> dict[str, int]:
    """Defaults filled in, every value clamped to its bounds, unknown names dropped."""
    given = options or {}
    return {o.name: o.clamp(given.get(o.name, o.default)) for o in OPTIONS[_check_method(method)]}


def planned_evaluations(method: str, n_words: int, n_out: int, options: dict | None = None) -> int:
    """What a run will cost in model rows (an upper bound for the sampling methods: repeated
    samples run once). For progress bars and time estimates."""
    opts = resolve_options(method, options)
    if n_words == 0 or n_out == 0:
        return 0
    if method == "integrated_gradients":
        return n_out * (opts["ig_steps"] + 2)
    if method == "feature_ablation":
        return n_words + 1
    if method == "lime":
        return min(opts["lime_samples"], 2**n_words) if n_words < 31 else opts["lime_samples"]
    if _exact_shapley(n_words, opts["shap_evals"]):
        return 2**n_words
    return min(opts["shap_evals"], 2**n_words) if n_words < 31 else opts["shap_evals"]


def _exact_shapley(n_words: int, budget: int) -> bool:
    return n_words <= _EXACT_SHAPLEY_MAX_WORDS and 2**n_words <= budget


def encode_prompt(tokenizer: Any, prompt_text: str) -> list[int]:
    """The ids the model reads: ``prompt_text`` tokenized with no special tokens added, because
    it already holds them (the chat template's, or a start token written out in front, as
    :func:`playground.tasks.generation.prepare` does). Generate from these ids for the
    attribution to explain what the model did."""
    return list(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])


def output_token_texts(tokenizer: Any, output_ids: list[int]) -> list[str]:
    """Each generated token as the text it adds to the answer (spaces and newlines kept, special
    tokens shown). A character split over several byte tokens is shown on the token that
    completes it; the tokens before it show "\ufffd"."""
    out: list[str] = []
    done = ""
    for i in range(len(output_ids)):
        now = tokenizer.decode(output_ids[: i + 1], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if now.endswith("\ufffd") or not now.startswith(done):
            single = tokenizer.decode([output_ids[i]], skip_special_tokens=False, clean_up_tokenization_spaces=False)
            out.append(single if "\ufffd" not in single else "\ufffd")
            if not now.endswith("\ufffd"):
                done = now
            continue
        out.append(now[len(done) :])
        done = now
    return out


def _fallback_token_id(tokenizer: Any) -> int:
    for name in ("unk_token_id", "pad_token_id", "eos_token_id", "bos_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            return value
    return 0


class _IdTokens:
    """What Captum's LLM wrappers get as their tokenizer. They use it for one thing only here:
    to prettify the output tokens at the end of ``attribute``, and that step crashes when the
    answer ends inside a character split over byte tokens (captum 0.9's fallback reads past the
    end). This stand-in writes each id as one private character, which always round-trips; the
    readable tokens come from :func:`output_token_texts`."""

    _BASE = 0x10000

    def decode(self, ids: Any, **_: Any) -> str:
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        return "".join(chr(self._BASE + int(i)) for i in ([ids] if isinstance(ids, int) else ids))

    def encode(self, txt: str, **_: Any) -> list[int]:
        return [ord(c) - self._BASE for c in txt]

    def __call__(self, txt: str, **_: Any) -> dict[str, list]:
        return {"input_ids": self.encode(txt), "offset_mapping": [(k, k + 1) for k in range(len(txt))]}


class _CountingModel(torch.nn.Module):
    """The decoder, with every forward's rows counted (what ``evaluations`` reports) and the
    cache switched off; optionally only the last position's logits (all Captum's gradient
    forward reads)."""

    def __init__(self, model: Any, last_logit_only: bool = False, on_rows: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.inner = model
        self.rows = 0
        self.on_rows = on_rows
        params = inspect.signature(model.forward).parameters
        self.keeps_logits = "logits_to_keep" in params
        self.last_logit_only = last_logit_only and self.keeps_logits

    @property
    def device(self) -> torch.device:
        return self.inner.device

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        first = args[0] if args else kwargs.get("input_ids", kwargs.get("inputs_embeds"))
        kwargs.setdefault("use_cache", False)
        if self.last_logit_only:
            kwargs.setdefault("logits_to_keep", 1)
            if args and "attention_mask" not in kwargs:  # Captum's gradient forward passes ids alone
                kwargs["attention_mask"] = torch.ones(first.shape[:2], dtype=torch.long, device=first.device)
        out = self.inner(*args, **kwargs)
        self.rows += int(first.shape[0])
        if self.on_rows is not None:
            self.on_rows(self.rows)
        return out


def _teacher_forced_logprobs(
    counting: _CountingModel,
    prompts: list[list[int]],
    output_ids: list[int],
    pad_id: int,
    context: Callable[[], contextlib.AbstractContextManager],
) -> torch.Tensor:
    """log p(output_i | prompt, output_<i) for each prompt: (len(prompts), n_out), float32 on
    the CPU. Rows are right-padded (causal attention never looks at the padding after a row) and
    only the answer positions' logits are computed."""
    device = counting.device
    n_out = len(output_ids)
    vocab = int(counting.inner.config.get_text_config().vocab_size) if hasattr(counting.inner.config, "get_text_config") else 50_000
    rows_cap = max(1, min(BATCH_ROWS, _MAX_LOGIT_FLOATS // max(1, n_out * vocab)))
    target = torch.tensor(output_ids, device=device)
    # Similar lengths batched together (little padding), in an order fixed by the rows themselves.
    order = sorted(range(len(prompts)), key=lambda r: (len(prompts[r]), prompts[r]))
    result = torch.zeros((len(prompts), n_out))
    for start in range(0, len(order), rows_cap):
        picked_rows = order[start : start + rows_cap]
        chunk = [prompts[r] for r in picked_rows]
        width = max(len(p) for p in chunk) + n_out
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        where = torch.empty((len(chunk), n_out), dtype=torch.long)
        for r, p in enumerate(chunk):
            row = p + list(output_ids)
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
            where[r] = torch.arange(len(p) - 1, len(p) - 1 + n_out)  # position i predicts token i+1
        ids, mask, where = ids.to(device), mask.to(device), where.to(device)
        with torch.no_grad(), context():
            if counting.keeps_logits:
                logits = counting(input_ids=ids, attention_mask=mask, logits_to_keep=where).logits
            else:
                logits = counting(input_ids=ids, attention_mask=mask).logits
            if logits.dim() == 4:  # (batch, heads, seq, vocab) of some multi-head decoders
                logits = logits[:, 0]
            if logits.shape[1] != n_out:  # the model ignored the positions: pick them here
                logits = logits.gather(1, where.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
            logp = torch.log_softmax(logits.float(), dim=-1)
            picked = logp.gather(2, target.view(1, n_out, 1).expand(len(chunk), -1, -1)).squeeze(-1)
        result[picked_rows] = picked.float().cpu()
    return result


@functools.cache
def _llm_attribution_class() -> type:
    from captum.attr import LLMAttribution

    class TeacherForcedLLMAttribution(LLMAttribution):
        """Captum's LLMAttribution with its forward replaced by a batched, cached, counted
        teacher-forced one. Captum's own forward scores one perturbation per call (batch 1);
        this one takes Captum's ``perturbations_per_eval`` rows at once. With ``column`` set it
        returns one generated token's log-probability (Lime, KernelShap: one number per run);
        otherwise Captum's per-token layout ``[total, token_0, ..., token_n-1]``."""

        def setup(self, score: Callable[[list[str]], torch.Tensor]) -> None:
            """``score`` maps model-input texts to their (rows, n_out) output log-probabilities:
            the task's one batched scoring function."""
            self._score = score
            self._cache: dict[tuple[bool, ...], torch.Tensor] = {}
            self.column: int | None = None

        def _forward_func(self, perturbed_tensor: torch.Tensor | None, inp: Any, *_: Any, **__: Any) -> torch.Tensor:
            rows = inp.to_tensor() if perturbed_tensor is None else perturbed_tensor
            rows = rows.reshape(-1, inp.n_itp_features)
            keys = [tuple(bool(v) for v in row.tolist()) for row in rows]
            todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
            if todo:
                texts = [inp.to_model_input(torch.tensor([k], dtype=torch.long)) for k in todo]
                for k, row in zip(todo, self._score(texts)):
                    self._cache[k] = row
            per_token = torch.stack([self._cache[k] for k in keys]).to(self.device)
            if self.column is not None:
                return per_token[:, self.column]
            return torch.cat([per_token.sum(dim=1, keepdim=True), per_token], dim=1)

    return TeacherForcedLLMAttribution


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """torch's and numpy's global RNGs seeded for the block and put back after it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        np.random.set_state(state)


def _template_input(prompt_text: str, user_span: tuple[int, int], words: list[Span]) -> Any:
    """Captum's TextTemplateInput over the user's words: slot ``j`` holds word ``j`` with the
    whitespace before it, so the baseline "" removes both."""
    from captum.attr import TextTemplateInput

    us, ue = user_span
    user = prompt_text[us:ue]
    values, prev = [], 0
    for w in words:
        values.append(user[prev : w.end])
        prev = w.end
    prefix, suffix = prompt_text[:us], user[prev:] + prompt_text[ue:]

    def fill(*slots: str) -> str:
        return prefix + "".join(slots) + suffix

    return TextTemplateInput(fill, values=values, baselines=[""] * len(values))


def decoder_scorer(loaded: Any, output_ids: list[int], on_rows: Callable[[int], None] | None = None) -> tuple[Callable[[list[str]], torch.Tensor], "_CountingModel"]:
    """The batched scoring function of a decoder: model-input texts -> (rows, n_out) teacher-forced
    log-probabilities of ``output_ids``; and the counting wrapper whose ``rows`` it advances."""
    counting = _CountingModel(loaded.model, on_rows=on_rows)
    fallback = _fallback_token_id(loaded.tokenizer)

    def encode(t: str) -> list[int]:
        ids = encode_prompt(loaded.tokenizer, t)
        if ids:
            return ids
        bos = getattr(loaded.tokenizer, "bos_token_id", None)
        return [bos if isinstance(bos, int) else fallback]  # nothing left to condition on: BOS alone

    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else fallback

    def score(texts: list[str]) -> torch.Tensor:
        return _teacher_forced_logprobs(counting, [encode(t) for t in texts], output_ids, pad, loaded.scoring_context)

    return score, counting


def perturbation(prompt_text: str, user_span: tuple[int, int], words: list[Span], n_out: int, method: str,
                 opts: dict[str, int], score: Callable[[list[str]], torch.Tensor], counting: Any) -> tuple[np.ndarray, int]:
    """Feature ablation, LIME or SHAP (Captum) over the ``words`` of ``prompt_text[user_span]``,
    explaining each of ``n_out`` output log-probabilities that ``score`` returns for a model
    input text. Returns the (n_out, n_words) matrix and the model rows ``counting`` saw."""
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import FeatureAblation, KernelShap, Lime, ShapleyValues

    n_words = len(words)
    exact = method == "shap" and _exact_shapley(n_words, opts["shap_evals"])
    if method == "lime":
        # The lime package's own surrogate (Ridge, alpha=1), as the sentiment tab's LIME; Captum's
        # default Lasso(alpha=0.01) zeroes every word whose effect is under ~0.01 nats.
        algorithm = Lime(counting, interpretable_model=SkLearnRidge(alpha=1.0))
    else:
        algorithm = {"feature_ablation": FeatureAblation, "shap": ShapleyValues if exact else KernelShap}[method](counting)
    llm = _llm_attribution_class()(algorithm, _IdTokens(), attr_target="log_prob")
    llm.setup(score)
    inp = _template_input(prompt_text, user_span, words)
    target = torch.zeros(n_out, dtype=torch.long)  # unused by our forward; Captum wants one per output
    batch = {"perturbations_per_eval": BATCH_ROWS}
    if method == "feature_ablation" or exact:
        # Captum asks for these rows a few at a time (the unperturbed input alone first; exact
        # Shapley one permutation at a time): run them all up front in full batches instead.
        if exact:
            masks = [[(m >> j) & 1 for j in range(n_words)] for m in range(2**n_words)]
        else:
            masks = [[1] * n_words] + [[int(j != k) for j in range(n_words)] for k in range(n_words)]
        llm._forward_func(torch.tensor(masks), inp)
        result = llm.attribute(inp, target=target, forward_in_tokens=False, **batch)
        matrix = result.token_attr.float().cpu().numpy()
    else:
        n_samples = opts["lime_samples" if method == "lime" else "shap_evals"]
        matrix = np.zeros((n_out, n_words))
        for i in range(n_out):  # same seed, same samples: after token 0 every forward is cached
            llm.column = i
            with _seeded(opts["seed"]):
                result = llm.attribute(inp, target=target, forward_in_tokens=False, n_samples=n_samples, **batch)
            matrix[i] = result.seq_attr.float().cpu().numpy()
    return matrix, counting.rows


def _token_input(loaded: Any, prompt_text: str, user_span: tuple[int, int], words: list[Span]) -> tuple[Any, list[int]]:
    """Captum's TextTokenInput over the prompt tokens that fall in a word of the user's span
    (everything else, the chat template included, is not interpretable and stays as is), and
    each interpretable token's word index."""
    from captum.attr import TextTokenInput

    tok = loaded.tokenizer
    enc = tok(prompt_text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    word_of = text.words_of_pieces(offsets, user_span, words)

    class SpanTokenInput(TextTokenInput):
        def __init__(self) -> None:  # Captum's fields, built from positions rather than token ids
            self.inp_tensor = torch.tensor([ids])
            self.itp_mask = torch.tensor([[w is not None for w in word_of]])
            self.itp_tensor = self.inp_tensor[self.itp_mask].unsqueeze(0)
            self.skip_tokens = None
            self.values = tok.convert_ids_to_tokens(self.itp_tensor[0].tolist())
            self.tokenizer = tok
            self.n_itp_features = len(self.values)
            self.baselines = _fallback_token_id(tok)

    return SpanTokenInput(), [w for w in word_of if w is not None]


def _integrated_gradients(loaded: Any, prompt_text: str, user_span: tuple[int, int], words: list[Span], output_ids: list[int],
                          opts: dict[str, int], report: Callable[[int], None]) -> tuple[np.ndarray, int]:
    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution

    inp, token_word = _token_input(loaded, prompt_text, user_span, words)
    matrix = np.zeros((len(output_ids), len(words)))
    if not token_word:
        return matrix, 0
    counting = _CountingModel(loaded.model, last_logit_only=True, on_rows=report)
    lig = LayerIntegratedGradients(counting, loaded.model.get_input_embeddings())
    llm = LLMGradientAttribution(lig, _IdTokens())
    steps = opts["ig_steps"]
    with torch.enable_grad():
        result = llm.attribute(inp, target=torch.tensor(output_ids), n_steps=steps, internal_batch_size=steps)
    per_token = result.token_attr.float().cpu().numpy()  # (n_out, interpretable tokens)
    for k, w in enumerate(token_word):
        matrix[:, w] += per_token[:, k]
    return matrix, counting.rows


Compute = Callable[[list[Span], dict[str, int], Callable[[int], None]], tuple[np.ndarray, int]]


def run_attribution(tokenizer: Any, model_text: str, span: tuple[int, int], output_ids: list[int], method: str,
                    options: dict | None, progress: Progress | None, compute: Compute) -> GenerationAttribution:
    """What every per-output-token attribution shares, whatever the model family: the checks
    (InputError ``bad_method``, ``nothing_generated``, ``ig_too_many_tokens``, ``bad_span``), the
    words of ``model_text[span]``, clamped options, progress against the planned evaluations,
    timing and a finite result. ``compute(words, options, report)`` runs the method and returns the
    (n_out, n_words) matrix and the model rows it ran (``report(rows)`` as they run)."""
    name = _check_method(method)
    opts = resolve_options(name, options)
    output_ids = [int(t) for t in (output_ids or [])]
    if not output_ids:
        raise InputError("nothing_generated", "There is no generated text to explain yet: generate first.")
    if name == "integrated_gradients" and len(output_ids) > MAX_IG_OUTPUT_TOKENS:
        # Captum re-integrates the whole path for every output token (about 4 s per token for
        # SmolLM2-135M on 2 CPU cores, bench/generation_attribution.py): bound the cost.
        raise InputError(
            "ig_too_many_tokens",
            "Integrated Gradients runs once per generated token: use it on at most {limit} tokens "
            "(this output has {n}), or use feature ablation.",
            limit=MAX_IG_OUTPUT_TOKENS,
            n=len(output_ids),
        )
    us, ue = int(span[0]), int(span[1])
    if not 0 <= us <= ue <= len(model_text):
        raise InputError("bad_span", "The prompt's position ({start}, {end}) is outside the model's input.", start=us, end=ue)
    words = text.words(model_text[us:ue])
    planned = max(1, planned_evaluations(name, len(words), len(output_ids), opts))

    def report(rows: int) -> None:
        if progress is not None:
            progress(min(1.0, rows / planned), name)

    started = time.perf_counter()
    if not words:
        matrix, evaluations = np.zeros((len(output_ids), 0)), 0
    else:
        with guard_oom(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn convergence, Captum's token prettifier
            matrix, evaluations = compute(words, {**opts, "method": name}, report)  # type: ignore[dict-item]
    seconds = time.perf_counter() - started
    if progress is not None:
        progress(1.0, name)  # repeated samples run once: the plan is an upper bound
    matrix = np.nan_to_num(np.asarray(matrix, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return GenerationAttribution(
        method=name,
        words=words,
        output_tokens=output_token_texts(tokenizer, output_ids),
        matrix=matrix,
        evaluations=int(evaluations),
        seconds=seconds,
        options=opts,
    )


def attribute(
    loaded: Any,
    prompt_text: str,
    user_span: tuple[int, int],
    output_ids: list[int],
    method: str,
    options: dict | None = None,
    progress: Progress | None = None,
) -> GenerationAttribution:
    """Score each word of ``prompt_text[user_span[0]:user_span[1]]`` for each of ``output_ids``
    with ``method`` (one of :data:`METHODS`): ``matrix[i, j]`` is word ``j``'s share of the
    log-probability of generated token ``i`` given the prompt and the tokens before it.
    ``options`` are clamped to :data:`OPTIONS`; ``progress`` gets (fraction, method) as model
    rows run. Raises InputError ``bad_method``, ``nothing_generated`` or ``bad_span``."""
    ids = [int(t) for t in (output_ids or [])]
    span = (int(user_span[0]), int(user_span[1]))

    def compute(words: list[Span], opts: dict[str, Any], report: Callable[[int], None]) -> tuple[np.ndarray, int]:
        name = opts.pop("method")
        if name == "integrated_gradients":
            return _integrated_gradients(loaded, prompt_text, span, words, ids, opts, report)
        score, counting = decoder_scorer(loaded, ids, report)
        return perturbation(prompt_text, span, words, len(ids), name, opts, score, counting)

    return run_attribution(loaded.tokenizer, prompt_text, span, ids, method, options, progress, compute)


__all__ = [
    "BATCH_ROWS",
    "METHODS",
    "OPTIONS",
    "GenerationAttribution",
    "attribute",
    "encode_prompt",
    "output_token_texts",
    "planned_evaluations",
    "resolve_options",
    "run_attribution",
]
