"""What decoding the Generation tab's concurrent streams together buys (batched_stream.stream).

N students (1, 4, 8) press Generate at once with the tab's defaults (64 new tokens, temperature
0.7, top-k 50, top-p 0.95), each their own prompt and seed. Two ways:

* one at a time: what the tab did (one generation slot; sampled runs also took turns on the
  global random generator), each on the streaming path;
* together: N readers of ``batched_stream.stream``: the first runs at once, alone, the others
  are decoded together (at most ROW_STEPS rows x tokens a run: 4 rows of 64 tokens).

Printed per way: wall seconds until every student has the whole text, and over the students
the p50 / max seconds until their first words show and until their text is done. Each student's
text is checked against the same prompt and seed run alone (the tokens must agree).

Run:  python bench/batched_stream.py                          (offline Qwen2.5-0.5B; ~4 min on 2 cores)
      python bench/batched_stream.py --model smollm2-135m-instruct
      python bench/batched_stream.py --profile tiny --tokens 8  (smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PROMPTS = ["Write a short poem about the sea.", "Tell me a story about a robot who learns to paint.",
           "Explain why the sky is blue to a child.", "Describe your favourite season."]
SIZES = (1, 4, 8)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from app import with_intel_openmp

    with_intel_openmp()  # as the app runs (before torch is imported)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--model", default="", help="a generation model key (default: Qwen2.5-0.5B offline, else the first)")
    ap.add_argument("--tokens", type=int, default=64, help="max_new_tokens (the tab's default: 64)")
    args = ap.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile

    import torch

    from playground import batched_stream as bs
    from playground import config
    from playground.tasks import generation as gen

    keys = [s.key for s in config.choices_for("generation", args.profile)]
    key = args.model or next((k for k in keys if k.startswith("qwen")), keys[0])
    started = time.perf_counter()
    gen.model_for(key, args.profile)  # a first GGUF conversion happens here, once
    print(f"{key} loaded in {time.perf_counter() - started:.1f} s; torch threads {torch.get_num_threads()}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs", flush=True)
    counter = iter(range(10**9))

    def ask() -> tuple[str, dict[str, Any]]:
        j = next(counter)
        return PROMPTS[j % len(PROMPTS)], {"max_new_tokens": args.tokens, "temperature": 0.7, "top_k": 50,
                                           "top_p": 0.95, "seed": j, "mode": "chat"}

    def read(stream: Any) -> tuple[float | None, float, Any]:
        """Seconds to the first words, seconds to the end, the result."""
        t0, first = time.perf_counter(), None
        for update in stream:
            if update.text and first is None:
                first = time.perf_counter() - t0
            if update.done:
                return first, time.perf_counter() - t0, update.result
        raise RuntimeError("no result")

    def alone(p: str, o: dict[str, Any]) -> tuple[float | None, float, Any]:
        return read(gen.stream(p, key, args.profile, **o))

    def together(p: str, o: dict[str, Any]) -> tuple[float | None, float, Any]:
        return read(bs.stream(p, key, args.profile, **o))

    alone(*ask())  # warm-up: first-call costs
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda a: together(*a), [ask(), ask()]))

    rows = []
    for n in SIZES:
        asks = [ask() for _ in range(n)]
        t = time.perf_counter()
        seq = []
        for p, o in asks:  # one at a time: each waits for the ones before it
            first, done, res = alone(p, o)
            waited = time.perf_counter() - t - done
            seq.append(((first or done) + waited, done + waited, res))
        t_seq = time.perf_counter() - t
        t = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            bat = list(pool.map(lambda a: together(*a), asks))
        t_bat = time.perf_counter() - t
        same = sum(b[2].output_ids == s[2].output_ids for b, s in zip(bat, seq))
        tokens = sum(len(s[2].output_ids) for s in seq)
        rows.append((n, t_seq, t_bat, seq, bat, same, tokens))
        print(f"  n={n}: one at a time {t_seq:.2f} s, together {t_bat:.2f} s", flush=True)

    def spread(xs: list[float]) -> str:
        return f"{statistics.median(xs):.1f} / {max(xs):.1f} s"

    print(f"\nGeneration tab defaults, {key}, {args.tokens} new tokens at most, temperature 0.7, one seed per student\n")
    print("| students | one at a time: all done | first words p50 / max | done p50 / max | together: all done "
          "| first words p50 / max | done p50 / max | tokens/s one at a time → together | same text as alone |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, t_seq, t_bat, seq, bat, same, tokens in rows:
        print(f"| {n} | {t_seq:.1f} s | {spread([s[0] for s in seq])} | {spread([s[1] for s in seq])} | {t_bat:.1f} s "
              f"({t_seq / t_bat:.2f}x faster) | {spread([b[0] or b[1] for b in bat])} | {spread([b[1] for b in bat])} | "
              f"{tokens / t_seq:.1f} → {tokens / t_bat:.1f} | {same}/{n} |")


if __name__ == "__main__":
    main()
