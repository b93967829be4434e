"""Budgets that converge: every method's fidelity and cost at its default budget, against the
same method at a high budget and against the libraries' own usage, in one run.

For three reviews (29-51 words) on the sentiment model, per method at the defaults (LIME, SHAP
and KernelSHAP converge: their budget option is a cap, see playground/explain/budgets.py):
model evaluations, seconds (each run on a fresh Subject: no cache shared), why it stopped and
the stability it reports (half: the last two stages; seed: two independent runs at half the
final budget), and the Spearman of its ranking (the predicted class) against the same method at
a high budget: 5,000 samples / evaluations with ``converge=0`` and the same seed (IG: 256 steps;
feature ablation and gradient x input have no budget). With ``--independent`` also against the
high budget at another seed, and that reference's own seed-to-seed Spearman: no budget can agree
with a reference better than the reference agrees with itself.

Then the peers' documented usage timed in the same run, on the same texts (bench/explain.py's
functions): SHAP handed a transformers pipeline with its default budget (500 evaluations), and
again at the budget ours converged to (the same algorithm and budget: the same fidelity), and
LIME with its defaults (5,000 samples) on a pipeline-backed classifier; ratio = their seconds /
ours.

Run:  python bench/convergence.py                  (offline model; about 10 min on 2 CPU cores)
      python bench/convergence.py --skip-peers     (our methods only)
      python bench/convergence.py --independent    (adds the other-seed references: +5 min)
      python bench/convergence.py --profile tiny   (a smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

TEXTS = {
    "film": ("The film starts slowly, but the acting is wonderful and the last hour kept me completely hooked; "
             "I did not expect to enjoy it this much."),
    "hotel": ("The hotel room was small and the breakfast was cold, but the staff were friendly and helpful, the "
              "location was perfect for exploring the old town, and I would happily stay there again."),
    "phone": ("I didn't expect much from this little phone, but the battery lasts two full days, the camera is "
              "sharp even at night, and the screen is bright. The speaker is weak and the charger is slow, yet "
              "for the price it is a great deal."),
}
HIGH = {"lime": {"lime_samples": 5000, "converge": 0}, "shap": {"shap_evals": 5000, "converge": 0},
        "kernel_shap": {"kernel_shap_samples": 5000, "converge": 0}, "integrated_gradients": {"ig_steps": 256}}
PEERS = {"lime": "LIME defaults (5000 samples, pipeline)", "shap": "SHAP on a pipeline (its default, 500 evals)"}
GOAL_SPEARMAN, GOAL_RATIO = 0.9, 3.0


def library_bench() -> Any:
    """bench/explain.py, for its functions timing the libraries' own usage."""
    spec = importlib.util.spec_from_file_location("bench_explain", Path(__file__).with_name("explain.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--skip-peers", action="store_true", help="skip the libraries' own usage (the slow part)")
    ap.add_argument("--independent", action="store_true", help="also compare with the high budget at another seed")
    ap.add_argument("--methods", default="", help="comma-separated; default: every method with a budget or none")
    args = ap.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile

    import torch

    from playground import api, models
    from playground.explain import METHODS, explain
    from playground.explain.stats import spearman
    from playground.tasks import sentiment

    methods = [m for m in METHODS if m != "attention" and (not args.methods or m in args.methods.split(","))]
    loaded = models.load_task("sentiment", args.profile)
    api.warm_up()  # shap's numba compile and first allocations are no method's cost
    started_all = time.perf_counter()
    print(f"model: {loaded.spec.display} on {loaded.device}, torch threads {torch.get_num_threads()}")
    defaults = {o.name: o.default for m in methods for o in METHODS[m].options}
    print("defaults: " + ", ".join(f"{k}={v}" for k, v in defaults.items()) + "\n")

    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for label, text in TEXTS.items():
        for name in methods:
            subject = sentiment.subject(text, profile=args.profile)
            ours = explain(subject, name, metrics=False)  # the method alone (no faithfulness rows after it)
            row = {"text": label, "words": len(subject.units), "evaluations": ours.evaluations,
                   "seconds": ours.seconds, "convergence": ours.convergence}
            if name in HIGH:
                # The same subject: the reference reuses rows the default run scored (LIME's
                # prefix, SHAP's partial tree); the scores do not depend on the batch they ran in.
                high = explain(subject, name, HIGH[name], metrics=False)
                row["rho"] = spearman(ours.row(), high.row())
                if args.independent and name != "integrated_gradients":
                    other = explain(subject, name, {**HIGH[name], "seed": 1}, metrics=False)
                    row["rho_other_seed"] = spearman(ours.row(), other.row())
                    row["reference_seed"] = spearman(high.row(), other.row())
            else:
                row["rho"] = spearman(ours.row(), explain(subject, name, metrics=False).row())  # no budget: the same numbers
            rows[name].append(row)
            print(f"  {label} {name}: {ours.evaluations} rows, {ours.seconds:.1f} s, rho {row['rho']:.3f}", flush=True)

    if not args.skip_peers:
        lib = library_bench()
        pipe = lib.library_pipeline(loaded)
        for label, text in TEXTS.items():
            if "shap" in rows:
                row = next(r for r in rows["shap"] if r["text"] == label)
                row["peer"] = lib.shap_on_pipeline(pipe, text)  # its documented call: shap's default budget
                row["peer_same"] = lib.shap_on_pipeline(pipe, text, int(row["convergence"]["samples"]))
            if "lime" in rows:
                row = next(r for r in rows["lime"] if r["text"] == label)
                row["peer"] = lib.lime_with_defaults(pipe, loaded.labels, text)
            print(f"  {label} peers done", flush=True)

    print("\n| method | text | words | evaluations | samples | seconds | stopped by | half ρ | seed ρ | ρ vs high budget"
          + (" | ρ vs other seed | reference's own seed ρ" if args.independent else "") + " | peer | peer s | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if args.independent else "") + "---|---|---|")
    for name, per_text in rows.items():
        for r in per_text:
            c = r["convergence"]
            extra = (f" | {r['rho_other_seed']:.3f} | {r['reference_seed']:.3f}" if "rho_other_seed" in r
                     else " | - | -" if args.independent else "")
            peer = (f" | {PEERS[name]} | {r['peer']:.1f} | {r['peer'] / r['seconds']:.1f}x" if "peer" in r
                    else " | - | - | -")
            if "peer_same" in r:  # the same algorithm at the budget ours used: the same fidelity
                peer += f" (at our {c['samples']} evals: {r['peer_same']:.1f} s, {r['peer_same'] / r['seconds']:.1f}x)"
            print(f"| {name} | {r['text']} | {r['words']} | {r['evaluations']} | {c.get('samples', '-')} | {r['seconds']:.1f} | "
                  f"{c.get('stopped_by', '-')} | {c.get('half_spearman', '-')} | {c.get('seed_spearman', '-')} | "
                  f"{r['rho']:.3f}{extra}{peer} |")

    print("\n| method | ρ vs high budget, min | mean | seconds, mean | evaluations, mean | peer ratio, min | goal |")
    print("|---|---|---|---|---|---|---|")
    for name, per_text in rows.items():
        rho = [r["rho"] for r in per_text]
        ratios = [r["peer"] / r["seconds"] for r in per_text if "peer" in r]
        met = min(rho) >= GOAL_SPEARMAN and (not ratios or min(ratios) >= GOAL_RATIO)
        print(f"| {name} | {min(rho):.3f} | {np.mean(rho):.3f} | {np.mean([r['seconds'] for r in per_text]):.1f} | "
              f"{np.mean([r['evaluations'] for r in per_text]):.0f} | "
              f"{f'{min(ratios):.1f}x' if ratios else '-'} | {'met' if met else 'MISSED'} |")
    print(f"\ngoal: ρ >= {GOAL_SPEARMAN} on every text, and >= {GOAL_RATIO}x faster than the peer where there is one; "
          f"whole run {time.perf_counter() - started_all:.0f} s")


if __name__ == "__main__":
    main()
