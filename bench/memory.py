"""Resident memory per action: before, peak during, retained after, and after three repeats.

For each action (a prediction per task; every explanation method on every task, on long-ish
inputs: a review, a 32-token generation, a 600-character summary source, a 2,000-character one by
sentence and by word, a 4,000-character QA context, a translation) it prints the process's
resident memory (RSS) before the action, the peak during it (sampled every 50 ms in a thread),
what it retained after (after gc), and what is retained after the same action ran 3 more times:
that last column must not climb. Explanations run as the app runs them: a fresh Subject per
request, faithfulness metrics on, each action on the next of ``--threads`` long-lived worker
threads (gradio answers requests on a pool of worker threads, and glibc keeps one malloc arena per
thread, so a single-threaded loop hides what a server keeps), and ``playground.memory.release()``
after each, as the app does after every job (``--no-release``: without it). The explanation
result cache (``PLAYGROUND_RESULT_CACHE_MB``) is off unless ``--result-cache``, so a repeat runs
the model again instead of answering from the cache.

``--soak MINUTES``: a mixed loop over every method on every tab for that long, RSS printed over
time, and the growth after the first round (models loaded, every path run once). Goal: under 5 %
over 30 minutes.

Run:  python bench/memory.py                        (offline models, default budgets; 1-3 h on 2 CPU cores)
      python bench/memory.py --quick                (small budgets, fewer inputs; ~20-40 min offline)
      python bench/memory.py --profile tiny --quick (the script itself, in a minute)
      python bench/memory.py --only "ig|lime"       (actions whose name matches a regex)
      python bench/memory.py --soak 30              (the 30-minute soak; --quick for small budgets)
      PLAYGROUND_MMAP_THRESHOLD_KB=0 python bench/memory.py --no-release   (malloc as glibc has it)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MB = 2**20

REVIEW = (
    "I didn't expect much from this little phone, but the battery lasts two full days, the camera "
    "is sharp even at night, and the screen is bright. The speaker is weak and the charger is slow, "
    "yet for the price it is a great deal."
)
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
QUESTION = "Who designed the tower?"


def _lines(name: str) -> list[dict[str, Any]]:
    with open(ROOT / "assets" / "eval" / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def cut(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters at a word boundary."""
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0]


def summary_source(n: int) -> str:
    return cut(" ".join(r["text"] for r in _lines("summaries.jsonl")), n)


def qa_context(n: int) -> str:
    seen: list[str] = []
    for r in _lines("qa.jsonl"):
        if r.get("lang", "en") == "en" and r["context"] not in seen:
            seen.append(r["context"])
    return cut(" ".join(seen), n)


# ---- Measuring -----------------------------------------------------------------------------


def rss() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Peak:
    """The highest RSS seen every ``interval`` seconds while active."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> Peak:
        self.peak = rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


class Workers:
    """Long-lived worker threads taking jobs in turn (as a server's thread pool does)."""

    def __init__(self, n: int, release: bool) -> None:
        self.release = release
        self.queues: list[queue.Queue] = []
        self.turn = 0
        for i in range(max(1, n)):
            q: queue.Queue = queue.Queue()
            threading.Thread(target=self._work, args=(q,), name=f"worker-{i}", daemon=True).start()
            self.queues.append(q)

    def _work(self, q: queue.Queue) -> None:
        while True:
            fn, box, done = q.get()
            try:
                fn()  # what it returns is dropped when it ends (as a response, once sent)
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                box["error"] = exc
            finally:
                if self.release:
                    release()
                done.set()

    def run(self, fn: Callable[[], Any]) -> float:
        box: dict[str, Any] = {}
        done = threading.Event()
        started = time.perf_counter()
        self.queues[self.turn % len(self.queues)].put((fn, box, done))
        self.turn += 1
        done.wait()
        if "error" in box:
            raise box["error"]
        return time.perf_counter() - started


def release() -> None:
    try:
        from playground import memory
    except ImportError:  # an older tree, for before/after runs: what release() does
        import ctypes

        gc.collect()
        ctypes.CDLL(None).malloc_trim(0)
        return
    memory.release()


def settle() -> int:
    gc.collect()
    return rss()


# ---- Actions -------------------------------------------------------------------------------


def budgets(quick: bool) -> dict[str, Any]:
    if quick:
        return {"ig_steps": 4, "lime_samples": 64, "shap_evals": 64, "kernel_shap_samples": 64, "max_seconds": 5}
    return {}


class Inputs:
    """The task results every explanation is built from (made once, by the prediction actions)."""

    def __init__(self, quick: bool, profile: str) -> None:
        self.quick, self.profile = quick, profile
        self.results: dict[str, Any] = {}

    def predictions(self) -> list[tuple[str, Callable[[], Any]]]:
        from playground.tasks import generation, qa, sentiment, summarization, translation

        gen_tokens = 16 if self.quick else 32

        def keep(key: str, fn: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                self.results[key] = fn()
                return self.results[key]

            return run

        out = [
            ("predict sentiment", lambda: sentiment.predict(REVIEW)),
            (f"predict generation ({gen_tokens} tokens)",
             keep("generation", lambda: generation.generate(PROMPT, temperature=0, max_new_tokens=gen_tokens,
                                                            max_time=120))),
            ("predict summary 600 chars", keep("sum600", lambda: summarization.summarize(summary_source(600),
                                                                                         max_new_tokens=40))),
            ("predict summary 2000 chars", keep("sum2000", lambda: summarization.summarize(summary_source(2000),
                                                                                           max_new_tokens=40))),
            ("predict qa 4000-char context", keep("qa4000", lambda: qa.answer(QUESTION, qa_context(4000)))),
            ("predict translation (fr)", keep("translation", lambda: translation.translate(summary_source(250), "fr",
                                                                                          max_new_tokens=48))),
        ]
        return out

    def subjects(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """(label, units, build the Subject) per explained input."""
        from playground.tasks import generation, qa, sentiment, seq2seq

        r = self.results
        out: list[tuple[str, str, Callable[[], Any]]] = [
            ("sentiment review", "auto", lambda: sentiment.subject(REVIEW)),
            ("generation", "auto", lambda: generation.subject(r["generation"])),
            ("summary 600", "auto", lambda: seq2seq.subject(r["sum600"])),
            ("summary 2000 by sentence", "sentence", lambda: seq2seq.subject(r["sum2000"])),
        ]
        if not self.quick:
            out.append(("summary 2000 by word", "word", lambda: seq2seq.subject(r["sum2000"])))
        out += [
            ("qa 4000 (auto: sentences)", "auto", lambda: qa.subject(r["qa4000"])),
            ("translation", "auto", lambda: seq2seq.subject(r["translation"])),
        ]
        return out

    def explanations(self) -> list[tuple[str, Callable[[], Any]]]:
        from playground.explain import METHODS, explain

        opts = budgets(self.quick)
        out = []
        for label, units, build in self.subjects():
            for name in METHODS:
                def run(build: Callable[[], Any] = build, name: str = name, units: str = units) -> Any:
                    return explain(build(), name, opts, units=units).to_dict()

                out.append((f"{name} / {label}", run))
        return out


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            total = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        total = 0
    libc = " ".join(platform.libc_ver())
    return (f"{cpu}, {os.cpu_count()} cores, {total / 2**30:.0f} GiB RAM, python {platform.python_version()}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), {libc}, "
            f"GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")


def table(workers: Workers, actions: list[tuple[str, Callable[[], Any]]], repeats: int) -> list[dict[str, Any]]:
    rows = []
    print("| action | s | before MB | peak +MB | retained +MB | after " + f"{repeats} repeats +MB | climb MB |")
    print("|---|---|---|---|---|---|---|")
    for name, fn in actions:
        before = settle()
        try:
            with Peak() as p:
                seconds = workers.run(fn)
            after = settle()
            with Peak() as p2:
                for _ in range(repeats):
                    workers.run(fn)
            final = settle()
        except Exception as exc:  # noqa: BLE001 - one failing action must not end the table
            print(f"| {name} | failed: {type(exc).__name__}: {str(exc)[:80]} | | | | | |", flush=True)
            continue
        row = {"action": name, "seconds": seconds, "before": before / MB, "peak": (max(p.peak, p2.peak) - before) / MB,
               "retained": (after - before) / MB, "repeated": (final - before) / MB, "climb": (final - after) / MB}
        rows.append(row)
        print(f"| {name} | {seconds:.1f} | {row['before']:.0f} | {row['peak']:+.0f} | {row['retained']:+.0f} | "
              f"{row['repeated']:+.0f} | {row['climb']:+.0f} |", flush=True)
    return rows


def soak(workers: Workers, actions: list[tuple[str, Callable[[], Any]]], minutes: float, every: float,
         loaded: int) -> None:
    """Every action in turn, round after round, for ``minutes``; RSS over time (``loaded``: the
    RSS with the models loaded, before any explanation)."""
    started = time.perf_counter()
    base = None
    last_print = 0.0
    rounds = jobs = 0
    print("| minute | jobs | RSS MB | growth since round 1 |")
    print("|---|---|---|---|")
    low = high = 0
    while time.perf_counter() - started < minutes * 60:
        for _name, fn in actions:
            workers.run(fn)
            jobs += 1
            now = settle()
            if base is not None:
                low, high = min(low, now), max(high, now)
            t = time.perf_counter() - started
            if base is not None and t - last_print >= every:
                last_print = t
                print(f"| {t / 60:.1f} | {jobs} | {now / MB:.0f} | {100 * (now - base) / base:+.1f} % |", flush=True)
            if t >= minutes * 60:
                break
        rounds += 1
        if base is None:
            base = low = high = settle()
            print(f"| {(time.perf_counter() - started) / 60:.1f} | {jobs} | {base / MB:.0f} | (round 1 done: the base) |",
                  flush=True)
    end = settle()
    assert base is not None
    print(f"\nsoak: {minutes:g} min, {rounds} rounds, {jobs} jobs; RSS with the models loaded {loaded / MB:.0f} MB, "
          f"after round 1 {base / MB:.0f} MB, at the end {end / MB:.0f} MB ({100 * (end - base) / base:+.1f} % since "
          f"round 1, {100 * (end - loaded) / loaded:+.1f} % since the models loaded), range {low / MB:.0f}-{high / MB:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--quick", action="store_true", help="small budgets, fewer inputs")
    ap.add_argument("--only", default="", help="run only actions whose name matches this regex")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4, help="worker threads taking the actions in turn")
    ap.add_argument("--no-release", action="store_true", help="no playground.memory.release() after each action")
    ap.add_argument("--result-cache", action="store_true", help="keep the explanation result cache on")
    ap.add_argument("--soak", type=float, default=0.0, metavar="MINUTES", help="run the mixed soak loop instead")
    ap.add_argument("--every", type=float, default=60.0, help="soak: seconds between RSS lines")
    args = ap.parse_args()
    os.environ["PLAYGROUND_PROFILE"] = args.profile
    if not args.result_cache:
        os.environ["PLAYGROUND_RESULT_CACHE_MB"] = "0"
    import logging

    logging.getLogger("shap").setLevel(logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    start_rss = rss()
    print(f"machine: {machine()}")
    print(f"profile {args.profile}{', quick budgets ' + str(budgets(True)) if args.quick else ', default budgets'}; "
          f"{args.threads} worker threads; release after each job: {not args.no_release}; "
          f"MALLOC env: {({k: v for k, v in os.environ.items() if k.startswith(('MALLOC_', 'PLAYGROUND_MMAP'))})}")
    print(f"rerun: python bench/memory.py {' '.join(sys.argv[1:])}\n")
    workers = Workers(args.threads, release=not args.no_release)
    inputs = Inputs(args.quick, args.profile)
    predictions = inputs.predictions()
    # The models load (and every input's result is made) before anything is measured.
    load_started = time.perf_counter()
    for _, fn in predictions:
        workers.run(fn)
    loaded = settle()
    print(f"process start {start_rss / MB:.0f} MB; models loaded and inputs made in "
          f"{time.perf_counter() - load_started:.0f} s: {loaded / MB:.0f} MB\n")
    actions = predictions + inputs.explanations()
    if args.only:
        actions = [(n, f) for n, f in actions if re.search(args.only, n, re.I)]
    if args.soak:
        soak(workers, actions, args.soak, args.every, loaded)
        return
    started = time.perf_counter()
    rows = table(workers, actions, args.repeats)
    if rows:
        worst = max(rows, key=lambda r: r["climb"])
        print(f"\n{len(rows)} actions in {(time.perf_counter() - started) / 60:.1f} min; RSS now {settle() / MB:.0f} MB; "
              f"largest peak {max(r['peak'] for r in rows):+.0f} MB; largest climb over repeats "
              f"{worst['climb']:+.0f} MB ({worst['action']})")


if __name__ == "__main__":
    main()
