"""What attributing a translation or summary to its source costs, against its floor.

For a 60-word English source and the first 15 output tokens of the model's own (greedy) output,
it prints per method at the default budgets: model evaluations (rows actually run), seconds, the
floor (evaluations x the best measured per-row time of the same teacher-forced forward at the
batch sizes the methods use; forward + gradient for integrated gradients) and the ratio.

Run:  python bench/seq2seq_attribution.py                          (offline default translation model, en->de; into French, Gemma-3-270M echoes its first example for this 60-word source)
      python bench/seq2seq_attribution.py --task summarization
      python bench/seq2seq_attribution.py --profile tiny --model tiny-marian   (encoder-decoder path, smoke)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import torch

SOURCE = (
    "The old lighthouse on the northern cliff was built in 1872 to guide fishing boats through the narrow "
    "channel. For more than a century a keeper lived beside it, climbing the stairs every evening to light "
    "the lamp. Today the light is automatic, and the keeper's cottage has become a small museum where "
    "visitors can see maps, photographs and the original brass lens."
)
N_OUT = 15


@functools.cache
def _sibling(name: str) -> ModuleType:
    """Another script of bench/ (not a package) loaded from this file's directory, whatever the cwd."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def encoder_decoder_floors(loaded, result, sizes: tuple[int, ...], grad_size: int, repeats: int = 3) -> tuple[float, float]:
    """Best seconds per row: the batched teacher-forced scorer; and a forward + gradient with
    respect to the encoder's embeddings (one IG row)."""
    from playground.explain import generation_attribution as ga
    from playground.explain import seq2seq_attribution as sa

    tok = loaded.tokenizer
    ids = list(tok(result.model_text)["input_ids"])
    counting = ga._CountingModel(loaded.model)
    fwd = float("inf")
    for bs in sizes:
        for _ in range(repeats):
            started = time.perf_counter()
            sa.seq2seq_logprobs(counting, [ids] * bs, result.decoder_prefix, result.output_ids, tok.pad_token_id or 0,
                                loaded.scoring_context)
            fwd = min(fwd, (time.perf_counter() - started) / bs)
    embed = loaded.model.get_encoder().embed_tokens
    dec = torch.tensor([result.decoder_prefix + result.output_ids[:-1]]).expand(grad_size, -1)
    bwd = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.enable_grad():
            emb = embed(torch.tensor([ids]).expand(grad_size, -1)).detach().requires_grad_(True)
            scale = getattr(loaded.model.get_encoder(), "embed_scale", 1.0) or 1.0
            logits = loaded.model(inputs_embeds=emb * scale, decoder_input_ids=dec).logits[:, -1]
            torch.autograd.grad(torch.log_softmax(logits.float(), -1)[:, result.output_ids[-1]].sum(), emb)
        bwd = min(bwd, (time.perf_counter() - started) / grad_size)
    return fwd, bwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--task", choices=("translation", "summarization"), default="translation")
    ap.add_argument("--target", default="de")
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeats", type=int, default=2, help="runs per perturbation method (best is shown)")
    args = ap.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile

    from playground import text
    from playground.explain import generation_attribution as ga
    from playground.tasks import seq2seq, summarization, translation

    if args.task == "translation":
        result = translation.translate(SOURCE, args.target, args.model, max_new_tokens=64)
    else:
        result = summarization.summarize(SOURCE, args.model, min_new_tokens=N_OUT, max_new_tokens=64)
    if len(result.output_ids) < N_OUT:
        sys.exit(f"the model wrote only {len(result.output_ids)} tokens; need {N_OUT}")
    result = dataclasses.replace(result, output_ids=result.output_ids[:N_OUT], output_tokens=result.output_tokens[:N_OUT])
    loaded = seq2seq.loaded_for(result)
    n_words = len(text.words(result.source_used))

    seq2seq.explain(result, "feature_ablation")  # warm-up, outside every timing
    sizes = (4, ga.BATCH_ROWS)
    ig_steps = ga.resolve_options("integrated_gradients")["ig_steps"]

    def floors() -> tuple[float, float]:
        if result.family == "encoder-decoder":
            return encoder_decoder_floors(loaded, result, sizes, ig_steps)
        bench_ga = _sibling("generation_attribution")  # bench/generation_attribution.py

        ids = ga.encode_prompt(loaded.tokenizer, result.model_text)
        return (min(bench_ga.per_row_forward(loaded, ids, result.output_ids, sizes).values()),
                min(bench_ga.per_row_gradient(loaded, ids, result.output_ids, (ig_steps,)).values()))

    before = floors()
    runs = []
    for method in ga.METHODS:
        n = 1 if method == "integrated_gradients" else max(1, args.repeats)
        runs.append(min((seq2seq.explain(result, method) for _ in range(n)), key=lambda e: e.seconds))
    after = floors()
    fwd, bwd = min(before[0], after[0]), min(before[1], after[1])

    precision = "bf16 autocast for scoring, fp32 for gradients" if loaded.autocast else "full precision"
    print(f"model: {result.model} ({result.family}) on {loaded.device} ({precision}), torch threads {torch.get_num_threads()}")
    print(f"task: {args.task}{' en->' + args.target if args.task == 'translation' else ''}; source: {n_words} words; "
          f"output: first {N_OUT} tokens {''.join(result.output_tokens)!r}")
    print(f"per-row floor: {fwd * 1e3:.1f} ms (teacher-forced forward, best of batch {sizes}), "
          f"{bwd * 1e3:.1f} ms (forward + gradient, batch {ig_steps})\n")
    print("| method (default budget) | evaluations | seconds | floor (evals x best per-row) | ratio |")
    print("|---|---|---|---|---|")
    for e in runs:
        floor = e.evaluations * (bwd if e.method == "integrated_gradients" else fwd)
        budget = ", ".join(f"{k}={v}" for k, v in e.options.items() if k != "seed") or "-"
        print(f"| {e.method} ({budget}) | {e.evaluations} | {e.seconds:.2f} | {floor:.2f} | {e.seconds / floor:.2f}x |")


if __name__ == "__main__":
    main()
