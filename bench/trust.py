"""How far to trust each method, per task, and what finding out costs: one run of every method
on each task's bench input (the inputs of bench/attribution.py, the profile's default models,
the default target and default budgets), as the "Explain with all methods" button runs them.

Per (task, method) it prints the method's own model rows and seconds, what the faithfulness
metrics added (rows and seconds: the random orders are shared by the methods of one input, so
the first method pays for them), comprehensiveness and sufficiency AOPC against random orders,
whether the explanation beats random on both, and its stability. Per task it then prints the
metrics' share of the total time and the pairs of methods that disagree on the top words.

Run:  python bench/trust.py                      (offline models; about 10-20 minutes on 2 CPU cores)
      python bench/trust.py --tasks sentiment qa
      python bench/trust.py --profile tiny       (a smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def stability_cell(d: dict) -> str:
    s = d["stability"]
    if s["kind"] != "sampled":
        return "deterministic" + ("" if s.get("converged", True) else " (IG gap > 10 %)")
    state = "exact" if s.get("exact") else ("settled" if s.get("converged") else f"not settled ({s.get('stopped_by', '?')})")
    seed = s.get("seed_spearman")
    return f"{state}, {s.get('samples', '?')} samples" + (f", two runs ρ={seed:.2f}" if isinstance(seed, float) else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--tasks", nargs="*", default=None)
    args = parser.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile

    import torch
    from attribution import subjects

    from playground.explain import METHODS, agreement_of, explain

    print(f"profile {args.profile}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    makers = subjects(args.profile)
    totals = []
    print("| task | model | words | method | rows | s | metric rows | metric s | comprehensiveness (random) "
          "| sufficiency (random) | beats random | stability |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for task, make in makers.items():
        if args.tasks and task not in args.tasks:
            continue
        subject = make()
        results = {}
        method_s = metric_s = 0.0
        for method in METHODS:
            started = time.perf_counter()
            d = explain(subject, method).to_dict()
            wall = time.perf_counter() - started
            f = d["faithfulness"]
            r = f["rows"][0]
            c, s = r["comprehensiveness"], r["sufficiency"]
            beats = c["vs_random"] > 0 and s["vs_random"] > 0
            method_s += wall - f["seconds"]
            metric_s += f["seconds"]
            results[method] = d
            print(f"| {task} | {subject.model} | {len(subject.units)} | {method} | {d['evaluations']} | "
                  f"{wall - f['seconds']:.2f} | {f['evaluations']} | {f['seconds']:.2f} | "
                  f"{c['aopc']:.3g} ({c['random_aopc']:.3g}) | {s['aopc']:.3g} ({s['random_aopc']:.3g}) | "
                  f"{'yes' if beats else 'no'} | {stability_cell(d)} |", flush=True)
        a = agreement_of(results)
        row = a["rows"][0]
        pairs = "; ".join(f"{x['a']}/{x['b']} (top-1 {x['top_a']!r} vs {x['top_b']!r}, ρ={x['spearman']:.2f})"
                          for x in row["disagreements"][:4]) or "none"
        totals.append((task, method_s, metric_s, len(row["disagreements"]), pairs))
    print()
    print("| task | methods s | metrics s | metrics share | pairs disagreeing | first of them |")
    print("|---|---|---|---|---|---|")
    for task, method_s, metric_s, n, pairs in totals:
        print(f"| {task} | {method_s:.1f} | {metric_s:.1f} | {metric_s / max(method_s + metric_s, 1e-9):.0%} | {n} | {pairs} |")


if __name__ == "__main__":
    main()
