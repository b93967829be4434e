"""What giving way buys a prediction (playground.priority): a sentiment prediction's latency
alone, beside long work that does not give way, and beside the same long work giving way.

Long work, each in a loop on its own thread while 20 predictions are timed one after another
(0.3 s apart, as students click):
* a generation: greedy 24-token generations on the offline Qwen2.5-Coder-0.5B (the QA model);
* an explanation: LIME on a sentiment review (the offline MiniLM), as another student asks.

It also prints the long work's seconds per item beside the predictions, giving way or not, and
alone (its price), and the KMP_BLOCKTIME it ran with (app.py sets 0; 200 is Intel's default).

Run:  python bench/priority.py                 (offline models; about 5 minutes on 2 cores)
      KMP_BLOCKTIME=200 python bench/priority.py  (Intel OpenMP's threads spinning, as before)
      python bench/priority.py --profile tiny  (smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from app import with_intel_openmp

    with_intel_openmp()  # as the app runs (before torch is imported)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--n", type=int, default=20, help="predictions timed per row")
    args = ap.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile

    import torch

    from playground import api, config, priority
    from playground.tasks import generation as gen
    from playground.tasks import sentiment

    keys = [s.key for s in config.choices_for("generation", args.profile)]
    key = next((k for k in keys if k.startswith("qwen")), keys[0])
    gen.model_for(key, args.profile)
    counter = iter(range(10**9))

    def generation() -> None:
        gen.generate(f"Write a long story about the sea ({next(counter)}).", key, args.profile,
                     temperature=0.0, max_new_tokens=24)

    def explanation() -> None:
        api.sentiment_explain(f"The staff were friendly but the room was cold and noisy ({next(counter)}).", "lime")

    def predictions() -> tuple[float, float]:
        times = []
        for _ in range(args.n):
            started = time.perf_counter()
            sentiment.analyse(f"The soup was cold and the waiter was rude ({next(counter)}).", args.profile)
            times.append(time.perf_counter() - started)
            time.sleep(0.3)
        times.sort()
        return statistics.median(times), times[max(0, int(round(0.95 * len(times))) - 1)]

    def beside(work: Callable[[], None], give_way: bool) -> tuple[float, float, float]:
        """Predictions timed while ``work`` loops on another thread; and ``work``'s mean seconds."""
        real = priority.give_way
        if not give_way:
            priority.give_way = lambda max_wait=0.0: 0.0  # type: ignore[assignment]
        stop, spans = threading.Event(), []

        def loop() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                work()
                spans.append(time.perf_counter() - started)

        try:
            thread = threading.Thread(target=loop, daemon=True)
            thread.start()
            time.sleep(2.0)
            p50, p95 = predictions()
            stop.set()
            thread.join()
        finally:
            priority.give_way = real
        return p50, p95, statistics.mean(spans) if spans else float("nan")

    generation()
    explanation()
    predictions()  # warm-up: first calls, the batcher's first shapes
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; "
          f"generation {key}, prediction and explanation on the {args.profile} sentiment model", flush=True)
    alone = predictions()
    rows = [("alone", *alone, float("nan"))]
    for name, work in (("a generation", generation), ("an explanation (LIME)", explanation)):
        for give_way in (False, True):
            rows.append((f"beside {name}, {'giving way' if give_way else 'not giving way'}", *beside(work, give_way)))
            print(f"  {rows[-1][0]}: p50 {rows[-1][1]:.3f} s, p95 {rows[-1][2]:.3f} s", flush=True)
    lone_work = {name: statistics.median(_timed(work) for _ in range(3))
                 for name, work in (("a generation", generation), ("an explanation (LIME)", explanation))}
    print(f"\nKMP_BLOCKTIME={os.environ.get('KMP_BLOCKTIME', '(not set)')}; the long work alone, s per item (median of 3): "
          + ", ".join(f"{name} {s:.2f}" for name, s in lone_work.items()))
    print(f"\nA sentiment prediction ({args.n} timed per row, 0.3 s apart); ratio = p95 / p95 alone\n")
    print("| prediction | p50 (s) | p95 (s) | p95 ratio | the long work, s per item |")
    print("|---|---|---|---|---|")
    for name, p50, p95, span in rows:
        print(f"| {name} | {p50:.3f} | {p95:.3f} | {p95 / alone[1]:.1f}x | {'' if span != span else f'{span:.2f}'} |")


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
