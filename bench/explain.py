"""What each explanation costs on the sentiment model, against its floor.

For one ~50-token review it prints, per method at the default budgets: model evaluations,
seconds, the floor (evaluations x the best measured per-evaluation time) and the ratio; then the
four views together (one click of "Explain with all methods" plus the attention forward); then the
same work done the way the libraries' own docs do it: SHAP handed a transformers pipeline (at the
budget our SHAP converged to), and LIME with its defaults (5,000 samples, bag of words) on a
pipeline-backed classifier function. bench/convergence.py reuses those two.

Run:  python bench/explain.py                 (offline model; about 2-4 min on 2 CPU cores)
      python bench/explain.py --skip-library  (our methods only)
      python bench/explain.py --profile tiny  (smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import torch

TEXT = (
    "I didn't expect much from this little phone, but the battery lasts two full days, the camera "
    "is sharp even at night, and the screen is bright. The speaker is weak and the charger is slow, "
    "yet for the price it is a great deal."
)


def best_per_eval(loaded, text: str, grad: bool, repeats: int = 3) -> tuple[float, dict[int, float]]:
    """Best seconds per sequence over batch sizes, on copies of ``text`` (no padding)."""
    from playground.tasks.sentiment import _encode

    table: dict[int, float] = {}
    for bs in (1, 8, 32, 64):
        enc = _encode(loaded, [text] * bs).to(loaded.device)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            if grad:
                emb = loaded.model.get_input_embeddings()(enc["input_ids"]).detach().requires_grad_(True)
                out = loaded.model(inputs_embeds=emb, attention_mask=enc["attention_mask"]).logits
                torch.softmax(out, -1)[:, 0].sum().backward()
            else:
                with torch.inference_mode(), loaded.scoring_context():  # as the batched scorer runs
                    loaded.model(**enc)
            best = min(best, (time.perf_counter() - started) / bs)
        table[bs] = best
    return min(table.values()), table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--skip-library", action="store_true", help="skip the slow library-docs baselines")
    args = ap.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile

    from playground import models
    from playground.api import warm_up
    from playground.explain import METHODS, explain
    from playground.tasks import sentiment

    loaded = models.load_task("sentiment", args.profile)
    n_tokens = len(loaded.tokenizer(TEXT)["input_ids"])
    warm_up()  # what the app does at start-up: shap's numba JIT, first-batch allocations
    fwd, fwd_table = best_per_eval(loaded, TEXT, grad=False)
    bwd, bwd_table = best_per_eval(loaded, TEXT, grad=True)

    precision = "bf16 autocast for scoring, fp32 for gradients" if loaded.autocast else "full precision"
    print(f"model: {loaded.spec.display} on {loaded.device} ({precision}), torch threads {torch.get_num_threads()}")
    print(f"input: {len(TEXT.split())} words, {n_tokens} tokens\n")
    print("| batch | " + " | ".join(str(b) for b in fwd_table) + " |")
    print("|---|" + "---|" * len(fwd_table))
    print("| ms/sequence, forward | " + " | ".join(f"{v * 1e3:.2f}" for v in fwd_table.values()) + " |")
    print("| ms/sequence, forward+gradient | " + " | ".join(f"{v * 1e3:.2f}" for v in bwd_table.values()) + " |\n")

    # A lone forward cannot be batched: the attention view's floor is one eager forward with
    # attention weights at batch 1 (what transformers needs to return them at all).
    ids = loaded.tokenizer([TEXT], return_tensors="pt").to(loaded.device)
    eager_best = float("inf")
    with torch.inference_mode(), models.eager_attention(loaded.model):
        for _ in range(5):
            started = time.perf_counter()
            loaded.model(**ids, output_attentions=True)
            eager_best = min(eager_best, time.perf_counter() - started)

    rows, explained = [], []
    for name, method in METHODS.items():
        runs = []
        for _ in range(3):  # best of 3, each on a fresh subject (fresh scorer, no shared cache)
            subject = sentiment.subject(TEXT, profile=args.profile)
            runs.append(explain(subject, name))
        expl = min(runs, key=lambda e: e.seconds)
        explained.append(expl)
        if name == "attention":
            floor = eager_best
        else:
            floor = expl.evaluations * (bwd if method.needs == "gradients" else fwd)
        rows.append((name, expl.options, expl.evaluations, expl.seconds, floor))

    print("| method (default budget), best of 3 | evaluations | seconds | floor (evals x best per-eval) | ratio |")
    print("|---|---|---|---|---|")
    for name, opts, evals, secs, floor in rows:
        budget = ", ".join(f"{k}={v}" for k, v in opts.items()) or "-"
        print(f"| {name} ({budget}) | {evals} | {secs:.3f} | {floor:.3f} | {secs / floor:.2f}x |")

    started = time.perf_counter()
    sentiment.analyse(TEXT, args.profile)  # the prediction + attention heatmap forward
    subject = sentiment.subject(TEXT, profile=args.profile)
    for name in METHODS:
        explain(subject, name)
    total = time.perf_counter() - started
    print(f"\nall views together (prediction + heatmap + every method, one shared scorer): {total:.2f} s\n")

    if loaded.autocast is not None:
        # What the faster scoring costs in fidelity: every perturbation the methods asked for
        # above, scored again in full precision.
        score = subject.score
        keys = list(score.cache)
        masks = np.stack([np.frombuffer(k, dtype=bool) for k in keys])
        fast = np.stack([score.cache[k] for k in keys])
        keep, loaded.autocast = loaded.autocast, None
        try:
            full = np.concatenate([score.batch_fn(masks[i : i + 64]) for i in range(0, len(masks), 64)])
        finally:
            loaded.autocast = keep
        diff = np.abs(fast - full)
        print(f"bf16 vs fp32 scoring on those {len(keys)} perturbations: max |dp| {diff.max():.4f}, mean |dp| {diff.mean():.5f}, "
              f"same label {np.mean(fast.argmax(1) == full.argmax(1)):.1%}\n")

    if args.skip_library:
        return
    pipe = library_pipeline(loaded)
    # SHAP's Partition explainer at the budget ours converged to (the same algorithm and
    # budget: the same fidelity), handed the pipeline as its docs show.
    shap_budget = int(next(e for e in explained if e.method == "shap").convergence.get("samples", 500))
    shap_pipe = shap_on_pipeline(pipe, TEXT, shap_budget)
    lime_default = lime_with_defaults(pipe, loaded.labels, TEXT)

    ours = {name: secs for name, _, _, secs, _ in rows}
    print("| the libraries' own way | evaluations | seconds | ours (default budget) |")
    print("|---|---|---|---|")
    print(f"| SHAP on a transformers pipeline, max_evals={shap_budget} | {shap_budget} | {shap_pipe:.2f} | {ours['shap']:.2f} |")
    print(f"| LIME defaults (5000 samples, pipeline classifier) | 5000 | {lime_default:.2f} | {ours['lime']:.2f} |")


def library_pipeline(loaded: Any) -> Any:
    """The model as the libraries' docs hand it over: a transformers text-classification
    pipeline returning every label's score."""
    from transformers import pipeline

    return pipeline("text-classification", model=loaded.model, tokenizer=loaded.tokenizer, top_k=None,
                    device=loaded.device)


def shap_on_pipeline(pipe: Any, text: str, max_evals: int | None = None) -> float:
    """Seconds for SHAP's documented text usage: ``shap.Explainer(pipeline)(texts)`` (its
    Partition explainer over the tokenizer's pieces, one pipeline call per batch of texts), at
    ``max_evals`` (None: shap's default, 500)."""
    import shap

    budget = {} if max_evals is None else {"max_evals": max_evals}
    started = time.perf_counter()
    shap.Explainer(pipe)([text], silent=True, **budget)
    return time.perf_counter() - started


def lime_with_defaults(pipe: Any, labels: list[str], text: str) -> float:
    """Seconds for LIME's documented usage: ``LimeTextExplainer`` with its defaults (5,000
    samples, bag of words) on a pipeline-backed classifier function."""
    from lime.lime_text import LimeTextExplainer

    def pipe_proba(texts: list[str]) -> np.ndarray:
        out = pipe(list(texts))
        return np.array([[next(d["score"] for d in row if d["label"].lower() == lab) for lab in labels] for row in out])

    started = time.perf_counter()
    LimeTextExplainer(class_names=labels).explain_instance(text, pipe_proba, num_features=10)  # 5000 samples
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
