"""What batching concurrent greedy generations across users buys (playground.batched_generate).

N callers at once (1, 4, 8) each ask for an 8-token greedy generation of their own prompt (as
bench/classroom.py's students do), or a generative answer about one paragraph (``--task qa``).
Three ways, wall seconds until every caller has its answer and the ratio to one call alone:

* unbatched, one at a time: what the app did (one generation slot), each on the streaming path;
* unbatched, N at once: N threads, each its own ``model.generate`` (more slots, no batching);
* batched: N threads through ``generation.generate``: the first runs at once, alone, the others
  share one batched ``generate`` (the batch sizes run are printed).

Each batched answer is checked against the same prompt's lone answer (the tokens must agree).

Run:  PLAYGROUND_PROFILE=offline python bench/batched_generate.py        (Qwen2.5-0.5B; ~3 min on 2 cores)
      python bench/batched_generate.py --task qa
      python bench/batched_generate.py --model smollm2-135m-instruct
      python bench/batched_generate.py --profile tiny                    (smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PROMPTS = ["Write one sentence about the sea.", "Name three colours.", "What is a reef?"]
CONTEXT = ("The Great Barrier Reef stretches for over 2,300 kilometres along the coast of Queensland. It is the "
           "largest coral reef system in the world and can be seen from space.")
QUESTIONS = ["How long is the reef?", "Where is the reef?", "Can it be seen from space?"]
NEW_TOKENS = 8
SIZES = (1, 4, 8)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from app import with_intel_openmp

    with_intel_openmp()  # as the app runs (before torch is imported)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--model", default="", help="a generation model key (default: Qwen2.5-0.5B offline, else the first)")
    ap.add_argument("--task", choices=("generate", "qa"), default="generate")
    args = ap.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile

    import torch

    from playground import batched_generate as bg
    from playground import config
    from playground.tasks import generation as gen
    from playground.tasks import qa
    from playground.tasks.qa.types import GEN_MAX_NEW_TOKENS

    keys = [s.key for s in config.choices_for("generation", args.profile)]
    key = args.model or next((k for k in keys if k.startswith("qwen")), keys[0])
    started = time.perf_counter()
    loaded = gen.model_for(key, args.profile)  # a first GGUF conversion happens here, once
    print(f"{key} loaded in {time.perf_counter() - started:.1f} s; torch threads {torch.get_num_threads()}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs", flush=True)
    ask = {"temperature": 0.0, "max_new_tokens": NEW_TOKENS}
    counter = iter(range(10**9))

    def request(j: int = 0) -> str:
        """Caller j's prompt: the same three in turn in every column (answers differ in length,
        so every column must ask the same), made fresh each time (as each student's is their own)."""
        return f"{(QUESTIONS if args.task == 'qa' else PROMPTS)[j % 3]} ({next(counter)})"

    qa_ask = {"mode": "plain", "temperature": 0.0, "max_new_tokens": GEN_MAX_NEW_TOKENS}
    if args.task == "qa":
        def batched(p: str) -> Any:
            return qa.answer(p, CONTEXT, key, args.profile).generation
    else:
        def batched(p: str) -> Any:
            return gen.generate(p, key, args.profile, **ask)

    @contextlib.contextmanager
    def unbatched() -> Iterator[None]:
        """The same calls (checks, prefix cache and all), each generation run alone on the
        streaming path: what the app did before batching."""
        batcher_for = bg.batcher_for
        bg.batcher_for = lambda loaded, o: (lambda row: bg._alone(row.args, row.opts))  # type: ignore[assignment]
        try:
            yield
        finally:
            bg.batcher_for = batcher_for

    def lone(p: str) -> Any:
        with unbatched():
            return batched(p)

    batcher = bg.batcher_for(loaded, gen.options(**(qa_ask if args.task == "qa" else ask)))
    # Warm-up: first-call costs (a batched shape's first run too), and the prefix cache holds a
    # shared prompt start, as it does in a running app.
    lone(request())
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(batched, [request(j) for j in range(3)]))

    def wall(fn: Callable[[str], Any], n: int, at_once: bool) -> tuple[float, list[Any], list[str]]:
        prompts = [request(j) for j in range(n)]
        started = time.perf_counter()
        if at_once:
            with ThreadPoolExecutor(n) as pool:
                results = list(pool.map(fn, prompts))
        else:
            results = [fn(p) for p in prompts]
        return time.perf_counter() - started, results, prompts

    rows = []
    base: float | None = None
    for n in SIZES:
        with unbatched():
            t_seq, _, _ = wall(batched, n, False)
            t_par, _, _ = wall(batched, n, True)
        before = len(batcher.batches)
        t_bat, results, prompts = wall(batched, n, True)
        sizes = batcher.batches[before:]
        same = sum(r.output_ids == lone(p).output_ids for r, p in zip(results, prompts))
        base = base or t_seq
        rows.append((n, t_seq, t_par, t_bat, sizes, same))
        print(f"  n={n}: one at a time {t_seq:.2f} s, at once {t_par:.2f} s, batched {t_bat:.2f} s {sizes}", flush=True)
    print(f"\n{args.task}, {key}, {NEW_TOKENS if args.task == 'generate' else GEN_MAX_NEW_TOKENS} new tokens at most, "
          f"greedy; ratio = wall / one call alone ({base:.2f} s)\n")
    print("| callers | unbatched, one at a time | unbatched, all at once | batched | batches run | same tokens as alone |")
    print("|---|---|---|---|---|---|")
    for n, t_seq, t_par, t_bat, sizes, same in rows:
        print(f"| {n} | {t_seq:.2f} s ({t_seq / base:.1f}x) | {t_par:.2f} s ({t_par / base:.1f}x) | "
              f"{t_bat:.2f} s ({t_bat / base:.1f}x) | {sizes} | {same}/{n} |")


if __name__ == "__main__":
    main()
