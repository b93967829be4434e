"""Every (task, method) at its default budget against its floor, in one run.

For each task, one fixed input on the profile's default model; for each registered method (the
default target, and for generated text also every output word: ``all``), it prints the model
rows run (evaluations), the seconds (best of ``--repeats``, each on a fresh Subject so no cache
is shared), the floor and the ratio seconds / floor. The floor is evaluations x the best
per-row time measured in the same run for the same kind of row:

- perturbation methods: the task's batched scorer on random keep-masks drawn as LIME draws them
  (a uniform number of words removed), fresh scorer, full batches; feature ablation's rows keep
  all words but one, so its floor is measured on such rows;
- gradient methods: one chunk of the gradient forward + backward (one target), per row, plus
  two forward rows for IG's completeness check; k targets: one forward and k backward passes
  per row (a backward costs a gradient row less a forward row); gradient x input: one row at
  batch 1;
- attention: one eager forward (its floor is the same forward).

Run:  python bench/attribution.py                 (offline models; about 40 minutes on 2 CPU cores)
      python bench/attribution.py --tasks generation --methods integrated_gradients
      python bench/attribution.py --profile tiny  (a smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

TEXT = ("The film starts slowly, but the acting is wonderful and the last hour kept me completely hooked; "
        "I did not expect to enjoy it this much.")
PROMPT = "Explain in two sentences why the sky looks blue during the day."
SOURCE = ("The old lighthouse on the northern cliff was built in 1872 to guide fishing boats through the narrow "
          "channel. For more than a century a keeper lived beside it, climbing the stairs every evening to light "
          "the lamp. Today the light is automatic, and the keeper's cottage has become a small museum.")
QUESTION = "When was the lighthouse built?"


def subjects(profile: str) -> dict[str, Callable[[], object]]:
    """A factory of a fresh Subject per task (the task runs once; the Subject is rebuilt)."""
    from playground.tasks import generation, qa, sentiment, seq2seq, summarization, translation

    gen = generation.generate(PROMPT, None, profile, max_new_tokens=20, temperature=0)
    summ = summarization.summarize(SOURCE, None, profile, max_new_tokens=20, min_new_tokens=0)
    trans = translation.translate("The children are playing in the garden behind the old school.", "de", None, profile)
    answer = qa.answer(QUESTION, SOURCE, None, profile)
    return {
        "sentiment": lambda: sentiment.subject(TEXT, profile),
        "generation": lambda: generation.subject(gen),
        "summarization": lambda: seq2seq.subject(summ),
        "translation": lambda: seq2seq.subject(trans),
        "qa": lambda: qa.subject(answer),
    }


def best(make: Callable[[], object], run: Callable[[object], object], repeats: int) -> tuple[float, object]:
    """Best seconds of ``run`` over ``repeats`` fresh Subjects (building one is not timed)."""
    out, times = None, []
    for _ in range(repeats):
        subject = make()
        t = time.perf_counter()
        out = run(subject)
        times.append(time.perf_counter() - t)
    return min(times), out


def per_row_costs(make: Callable[[], object], repeats: int) -> dict[str, float]:
    """Best seconds per row of each kind of row (see the module docstring)."""
    from playground.explain import gradients
    from playground.explain.lime_text import neighbourhood

    s = make()
    n = len(s.units)
    costs: dict[str, float] = {}
    rows = max(2 * s.score.batch_size, 16)

    def masks_run(masks: np.ndarray) -> float:
        fresh = make()
        t = time.perf_counter()
        fresh.score(masks)
        return (time.perf_counter() - t) / max(1, fresh.score.stats.evaluated)

    random_masks = neighbourhood(n, rows + 1, seed=1)[1:]
    costs["sampled"] = min(masks_run(random_masks) for _ in range(repeats))
    drop_one = ~np.eye(n, dtype=bool)[: min(n, rows)]
    costs["drop_one"] = min(masks_run(drop_one) for _ in range(repeats))
    view = s.gradient
    k = view.max_rows
    alphas = list(np.linspace(0.1, 1.0, k))

    def grad_chunk() -> float:
        t = time.perf_counter()
        gradients.integrate(view, [s.default_target], alphas, [1.0 / k] * k)
        return (time.perf_counter() - t) / k

    costs["gradient"] = min(grad_chunk() for _ in range(repeats))

    def grad_one() -> float:  # gradient x input's single row, batch 1
        t = time.perf_counter()
        gradients.integrate(view, [s.default_target], [1.0], [1.0], times_input=True)
        return time.perf_counter() - t

    costs["gradient_one"] = min(grad_one() for _ in range(repeats))

    def forward_rows() -> float:
        t = time.perf_counter()
        gradients.values_at(view, [0.0, 1.0])
        return (time.perf_counter() - t) / 2

    costs["forward"] = min(forward_rows() for _ in range(repeats))

    def eager() -> float:
        t = time.perf_counter()
        s.attention.each_layer(lambda w: None)
        return time.perf_counter() - t

    costs["attention"] = min(eager() for _ in range(repeats))
    return costs


def floor(method: str, evaluations: int, costs: dict[str, float], k: int = 1) -> float:
    """See the module docstring; ``k`` targets cost one forward and k backward passes per row
    (a backward: a gradient row less a forward row)."""
    backward = max(costs["gradient"] - costs["forward"], 0.0)
    if method == "attention":
        return costs["attention"]
    if method == "integrated_gradients":
        return (evaluations - 2) * (costs["forward"] + k * backward) + 2 * costs["forward"]
    if method == "gradient_x_input":  # one row at batch 1: its backward costs a batch-1 backward
        return costs["gradient_one"] + (k - 1) * max(costs["gradient_one"] - costs["forward"], 0.0)
    if method == "feature_ablation":
        return costs["forward"] + (evaluations - 1) * costs["drop_one"]
    return evaluations * costs["sampled"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tasks", default="sentiment,generation,summarization,translation,qa")
    ap.add_argument("--methods", default="", help="comma-separated; default: every registered method")
    args = ap.parse_args()
    import torch

    from playground import api
    from playground.explain import METHODS, explain

    torch.manual_seed(0)
    api.warm_up()  # shap's numba compile and the first loads are not part of any row
    makers = subjects(args.profile)
    print(f"profile {args.profile}, torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeats}")
    print("| task | model | words | method | target | evaluations | seconds | floor (s) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task in args.tasks.split(","):
        make = makers[task]
        costs = per_row_costs(make, args.repeats)
        probe = make()
        targets = ["default"] + (["all"] if len(probe.targets) > 3 else [])
        for method in [m for m in METHODS if not args.methods or m in args.methods.split(",")]:
            for target in targets:
                if target == "all" and method not in ("integrated_gradients", "gradient_x_input"):
                    continue  # perturbation methods score every target in the same rows
                chosen = None if target == "default" else target
                seconds, e = best(make, lambda s, m=method, c=chosen: explain(s, m, target=c), args.repeats)
                f = floor(method, e.evaluations, costs, len(e.targets))
                print(f"| {task} | {probe.model} | {len(probe.units)} | {method} | {target} ({len(e.targets)}) | "
                      f"{e.evaluations} | {seconds:.2f} | {f:.2f} | {seconds / max(f, 1e-9):.2f} |", flush=True)


if __name__ == "__main__":
    main()
