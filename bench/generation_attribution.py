"""What per-generated-token attribution costs on the generation model, against its floor.

For one ~30-token user prompt (inside the model's chat template when it has one) and a 20-token
greedy answer it prints, per method at the default budgets: model evaluations (rows actually
run), seconds, the floor (evaluations x the best measured per-row time of a teacher-forced forward
over prompt + answer at the batch sizes the methods use; forward + gradient for integrated
gradients) and the ratio; then feature ablation run through Captum's stock LLMAttribution forward
(one perturbation per call) for comparison, and what bf16 scoring costs in fidelity.

Run:  python bench/generation_attribution.py                 (offline SmolLM2; a few minutes on 2 CPU cores)
      python bench/generation_attribution.py --profile tiny  (smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings

import numpy as np
import torch

PROMPT = (
    "Explain in two short sentences why the sky looks blue during the day but turns red and "
    "orange at sunset, for a curious ten year old."
)
N_OUT = 20


def per_row_forward(loaded, ids: list[int], out: list[int], sizes: tuple[int, ...], repeats: int = 3) -> dict[int, float]:
    """Best seconds per row of the methods' own teacher-forced scorer, on copies of the prompt."""
    from playground.explain import generation_attribution as ga

    counting = ga._CountingModel(loaded.model)
    table = {}
    for bs in sizes:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            ga._teacher_forced_logprobs(counting, [ids] * bs, out, 0, loaded.scoring_context)
            best = min(best, (time.perf_counter() - started) / bs)
        table[bs] = best
    return table


def per_row_gradient(loaded, ids: list[int], out: list[int], sizes: tuple[int, ...], repeats: int = 2) -> dict[int, float]:
    """Best seconds per row of a forward over prompt + answer with the gradient of one token's
    log-probability with respect to the input embeddings (what each IG row does)."""
    from playground.explain import generation_attribution as ga

    counting = ga._CountingModel(loaded.model, last_logit_only=True)
    embed = loaded.model.get_input_embeddings()
    row = torch.tensor([ids + out[:-1]], device=loaded.device)
    table = {}
    for bs in sizes:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            with torch.enable_grad():
                emb = embed(row.expand(bs, -1)).detach().requires_grad_(True)
                logits = counting(inputs_embeds=emb, logits_to_keep=1).logits[:, -1]
                torch.autograd.grad(torch.log_softmax(logits.float(), -1)[:, out[-1]].sum(), emb)
            best = min(best, (time.perf_counter() - started) / bs)
        table[bs] = best
    return table


def captum_stock(loaded, prompt_text: str, span: tuple[int, int], out: list[int]) -> dict[str, tuple[int, int, float, np.ndarray]]:
    """Feature ablation the way Captum's docs run it: LLMAttribution's own forward (one
    perturbation per call), full precision; once with one forward over prompt + answer per
    perturbation, once token by token with the KV cache (Captum's default)."""
    from captum.attr import FeatureAblation, LLMAttribution

    from playground import text
    from playground.explain import generation_attribution as ga

    calls = {"n": 0, "rows": 0}
    plain_forward = loaded.model.forward

    def counted_forward(*args, **kwargs):  # Captum calls model.forward directly: hooks never fire
        first = args[0] if args else kwargs.get("input_ids")
        calls["n"] += 1
        calls["rows"] += int(first.shape[0])
        return plain_forward(*args, **kwargs)

    words = text.words(prompt_text[span[0]:span[1]])
    inp = ga._template_input(prompt_text, span, words)
    llm = LLMAttribution(FeatureAblation(loaded.model), loaded.tokenizer)
    found = {}
    loaded.model.forward = counted_forward
    try:
        for label, in_tokens in (("one forward per perturbation", False), ("token by token, KV cache (its default)", True)):
            calls.update(n=0, rows=0)
            started = time.perf_counter()
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # its output-token prettifier warns on byte-level tokens
                res = llm.attribute(inp, target=torch.tensor(out), forward_in_tokens=in_tokens)
            found[label] = (calls["n"], calls["rows"], time.perf_counter() - started, res.token_attr.float().cpu().numpy())
    finally:
        del loaded.model.forward  # back to the class's method
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--model", default=None, help="a generation model key of the profile (default: its first)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per method (best is shown); IG always runs once")
    args = ap.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile

    from playground import config, models, text
    from playground.explain import generation_attribution as ga

    spec = config.spec_by_key("generation", args.model, args.profile)
    loaded = models.load(spec)
    tok = loaded.tokenizer
    if spec.chat:
        prompt_text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False)
    else:
        prompt_text = PROMPT
    start = prompt_text.index(PROMPT)
    span = (start, start + len(PROMPT))
    ids = ga.encode_prompt(tok, prompt_text)
    generated = loaded.model.generate(
        torch.tensor([ids], device=loaded.device),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=loaded.device),
        max_new_tokens=N_OUT, min_new_tokens=N_OUT, do_sample=False, pad_token_id=tok.pad_token_id,
    )
    out = generated[0, len(ids):].tolist()
    user_tokens = len(tok(PROMPT, add_special_tokens=False)["input_ids"])
    n_words = len(text.words(PROMPT))

    # Warm-up: first-call allocations and the bf16 kernels' set-up, outside every timing.
    ga.attribute(loaded, prompt_text, span, out, "feature_ablation")
    ga.attribute(loaded, prompt_text, span, out[:1], "integrated_gradients", {"ig_steps": 4})

    sizes = (1, 4, ga.BATCH_ROWS, 32)
    ig_steps = ga.resolve_options("integrated_gradients")["ig_steps"]
    grad_sizes = tuple(sorted({1, 4, ig_steps}))

    def floors() -> tuple[dict[int, float], dict[int, float]]:
        return per_row_forward(loaded, ids, out, sizes), per_row_gradient(loaded, ids, out, grad_sizes)

    # Per-row times are measured before and after the methods and the best kept: on a shared
    # machine a busy spell would otherwise inflate the floor.
    fwd_before, bwd_before = floors()

    results = []
    for method in ga.METHODS:
        runs = 1 if method == "integrated_gradients" else max(1, args.repeats)
        results.append(min((ga.attribute(loaded, prompt_text, span, out, method) for _ in range(runs)), key=lambda r: r.seconds))
    fwd_after, bwd_after = floors()
    fwd_table = {b: min(fwd_before[b], fwd_after[b]) for b in sizes}
    bwd_table = {b: min(bwd_before[b], bwd_after[b]) for b in grad_sizes}
    # The floor uses the best per-row time at the batch sizes the methods actually run: up to
    # BATCH_ROWS rows per forward for the perturbation methods, ig_steps rows for IG's path (and
    # single rows for its input and baseline).
    fwd = min(v for b, v in fwd_table.items() if b <= ga.BATCH_ROWS)
    bwd = min(bwd_table.values())
    rows = [(r.method, r, r.evaluations * (bwd if r.method == "integrated_gradients" else fwd)) for r in results]

    precision = "bf16 autocast for scoring, fp32 for gradients" if loaded.autocast else "full precision"
    print(f"model: {spec.display} on {loaded.device} ({precision}), torch threads {torch.get_num_threads()}")
    print(f"prompt: {n_words} words, {user_tokens} tokens from the user, {len(ids)} tokens fed to the model "
          f"({'chat template' if spec.chat else 'plain'}); answer: {len(out)} tokens, greedy: {tok.decode(out)!r}\n")
    print("| batch (rows of prompt + answer), best before/after the runs | " + " | ".join(str(b) for b in fwd_table) + " |")
    print("|---|" + "---|" * len(fwd_table))
    print("| ms/row, teacher-forced forward | " + " | ".join(f"{v * 1e3:.1f}" for v in fwd_table.values()) + " |")
    print("| ms/row, forward + gradient | " + " | ".join(f"{bwd_table[b] * 1e3:.1f}" if b in bwd_table else "-" for b in fwd_table) + " |\n")

    print("| method (default budget) | evaluations | seconds | floor (evals x best per-row) | ratio |")
    print("|---|---|---|---|---|")
    for method, r, floor in rows:
        budget = ", ".join(f"{k}={v}" for k, v in r.options.items() if k != "seed") or "-"
        print(f"| {method} ({budget}) | {r.evaluations} | {r.seconds:.2f} | {floor:.2f} | {r.seconds / floor:.2f}x |")

    fa = rows[1][1]
    whole = fa.for_output(None)
    top = np.argsort(-whole)[:5]
    print("\nfeature ablation, words that most raised the whole answer's log-probability: "
          + ", ".join(f"{fa.words[j].text} {whole[j]:+.2f}" for j in top))

    keep, loaded.autocast = loaded.autocast, None
    try:
        full = ga.attribute(loaded, prompt_text, span, out, "feature_ablation")
    finally:
        loaded.autocast = keep
    stock = captum_stock(loaded, prompt_text, span, out)
    print(f"\n| feature ablation ({n_words} words), fp32 | model forward calls | rows | seconds | max abs diff vs ours (nats) |")
    print("|---|---|---|---|---|")
    print(f"| ours (batched, cached) | {math.ceil(full.evaluations / ga.BATCH_ROWS)} | {full.evaluations} | {full.seconds:.2f} | 0 |")
    for label, (calls, rows_run, secs, matrix) in stock.items():
        print(f"| Captum's stock LLMAttribution forward, {label} | {calls} | {rows_run} | {secs:.2f} | "
              f"{np.abs(matrix - full.matrix).max():.4f} |")
    if loaded.autocast is not None:
        diff = np.abs(full.matrix - fa.matrix)
        same_top = np.mean(full.matrix.argmax(1) == fa.matrix.argmax(1))
        print(f"bf16 vs fp32 scoring, feature ablation matrix: max |diff| {diff.max():.3f} nats, mean {diff.mean():.4f} "
              f"(max |attribution| {np.abs(full.matrix).max():.2f}); same top word for {same_top:.0%} of tokens; "
              f"fp32 took {full.seconds:.2f} s vs {fa.seconds:.2f} s")


if __name__ == "__main__":
    main()
