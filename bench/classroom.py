"""A class of students using one app at once.

Starts the app (``python app.py``) on a free port, or uses ``--url``, and measures:

1. each endpoint's latency with nobody else on the app ("lone"), a few calls each;
2. then ``--students`` simulated students (default 40), each with its own gradio client
   session, for ``--seconds``: mostly predictions (sentiment, an answer, a short generation),
   some explanations, and a few students who ask for an explanation someone already asked for
   (the result cache); each waits 1-4 s between actions, as people do.

It prints per-endpoint p50 / p95 latency under load and alone, the p95 ratio (the figure:
goal within 5x for predictions), rejections (goal: none), a repeated explanation's latency
(goal under 0.5 s) and the app's resident memory over time.

Run:  python bench/classroom.py                      (offline models; about 5 minutes on 2 CPU cores)
      python bench/classroom.py --profile tiny --students 10 --seconds 30   (a smoke run)
      python bench/classroom.py --url http://127.0.0.1:7860/   (an app already running; no memory column)
      python bench/classroom.py --cold --seconds 30   (pages not opened first: every first call builds a session)
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REVIEWS = ["The film was a delight from start to finish.", "Service was slow and the soup was cold.",
           "I expected more from such a famous director.", "A quiet, moving story with a great cast.",
           "The battery died after two hours, what a waste.", "Friendly staff and a lovely view of the sea."]
CONTEXT = ("The Great Barrier Reef stretches for over 2,300 kilometres along the coast of Queensland. It is the "
           "largest coral reef system in the world and can be seen from space.")
QUESTIONS = ["How long is the reef?", "Where is the reef?", "Can it be seen from space?"]
PROMPTS = ["Write one sentence about the sea.", "Name three colours.", "What is a reef?"]

# name -> (kind, endpoint, arguments maker, weight in the mix)
ACTIONS: dict[str, tuple[str, str, Any, int]] = {
    # Predictions carry a number, so that each one runs (an identical request would come from the
    # result cache: the "repeated explanation" row measures that).
    "sentiment": ("prediction", "/sentiment", lambda r: (f"{r.choice(REVIEWS)} ({r.randrange(10**6)})",), 10),
    "qa": ("prediction", "/qa", lambda r: (f"{r.choice(QUESTIONS)} ({r.randrange(10**6)})", CONTEXT), 4),
    "generate (8 tokens)": ("prediction", "/generate",
                            lambda r: (f"{r.choice(PROMPTS)} ({r.randrange(10**6)})", "", "", 8, 0.0), 4),
    "sentiment_explain (LIME)": ("explanation", "/sentiment_explain",
                                 lambda r: (f"{r.choice(REVIEWS)} ({r.randrange(10**6)})", "lime"), 1),
    "sentiment_explain (IG)": ("explanation", "/sentiment_explain",
                               lambda r: (f"{r.choice(REVIEWS)} ({r.randrange(10**6)})", "integrated_gradients"), 1),
    "repeated explanation": ("repeat", "/sentiment_explain", lambda r: (REVIEWS[0], "shap"), 1),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, from /proc (Linux)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def start_app(profile: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PLAYGROUND_PROFILE": profile, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    import httpx

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(1)
    proc.kill()
    raise SystemExit("the app did not start within 10 minutes")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--url", default="")
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--cold", action="store_true",
                    help="do not open the students' pages first: each one's first call builds its gradio session")
    ap.add_argument("--lone", type=int, default=5, help="calls per endpoint with nobody else on the app")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from gradio_client import Client

    proc = None
    url = args.url
    if not url:
        proc, url = start_app(args.profile)
    memory: list[tuple[float, float]] = []
    opened = 0.0
    try:
        lone: dict[str, list[float]] = defaultdict(list)
        warm = Client(url, verbose=False)
        rnd = random.Random(args.seed)
        for name, (kind, endpoint, make, _) in ACTIONS.items():
            warm.predict(*make(rnd), api_name=endpoint)  # loads the model, fills the first caches
            for _ in range(args.lone if kind != "repeat" else 1):
                started = time.perf_counter()
                warm.predict(*make(rnd), api_name=endpoint)
                lone[name].append(time.perf_counter() - started)

        loaded: dict[str, list[float]] = defaultdict(list)
        rejected: dict[str, list[str]] = defaultdict(list)
        slowest: dict[str, list[tuple[float, float]]] = defaultdict(list)  # (seconds, asked at s into the lesson)
        # Every student has the page open before the lesson starts: 40 config fetches at once,
        # while models run, took gradio_client past its 5 s timeout and silently cost the run
        # most of its students (a student's thread died with it).
        clients = [Client(url, verbose=False) for _ in range(args.students)]
        # ... and opening it made gradio build that visitor's session state (the page's load
        # event): a copy of every component's config, 0.1 s of gradio's event loop per visitor
        # for this app's ~800 components, during which no other request is answered. A browser
        # pays it when the page opens; an API client on its first call, which is what put 40
        # first calls at 6 s in the first seconds of the lesson. So each student's session is
        # made here, one after another, as pages opened before the lesson.
        opened = time.perf_counter()
        for i, client in enumerate(clients if not args.cold else []):
            client.predict(f"page opened {i}", api_name="/sentiment")
        opened = time.perf_counter() - opened
        started_at = time.monotonic()
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                if proc is not None:
                    memory.append((time.monotonic() - started_at, rss_mb(proc.pid)))
                stop.wait(5.0)

        def student(i: int) -> None:
            r = random.Random(args.seed * 1000 + i)
            client = clients[i]
            names = list(ACTIONS)
            weights = [ACTIONS[n][3] for n in names]
            time.sleep(r.uniform(0, 3))  # a class does not click on the same millisecond
            while time.monotonic() - started_at < args.seconds:
                name = r.choices(names, weights)[0]
                kind, endpoint, make, _ = ACTIONS[name]
                t0, asked = time.perf_counter(), time.monotonic() - started_at
                try:
                    client.predict(*make(r), api_name=endpoint)
                    loaded[name].append(time.perf_counter() - t0)
                    slowest[name].append((loaded[name][-1], asked))
                except Exception as exc:  # noqa: BLE001 - a rejection or an error is what we count
                    rejected[name].append(str(exc)[:120])
                time.sleep(r.uniform(1.0, 4.0))

        threading.Thread(target=watch, daemon=True).start()
        threads = [threading.Thread(target=student, args=(i,), daemon=True) for i in range(args.students)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)

    print(f"# classroom: {args.students} students for {args.seconds:.0f} s, profile {args.profile}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; rerun: python bench/classroom.py --profile {args.profile} "
          f"--students {args.students} --seconds {args.seconds:.0f}")
    print(f"{args.students} pages opened (each visitor's first request) one after another in {opened:.1f} s "
          "before the lesson\n")
    print("| action | kind | calls | rejected | p50 (s) | p95 (s) | alone p50 (s) | alone p95 (s) | p95 ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (kind, *_rest) in ACTIONS.items():
        ok, lone_s = loaded.get(name, []), lone.get(name, [])
        ratio = pct(ok, 0.95) / pct(lone_s, 0.95) if ok and lone_s else float("nan")
        print(f"| {name} | {kind} | {len(ok)} | {len(rejected.get(name, []))} | {pct(ok, 0.5):.2f} | "
              f"{pct(ok, 0.95):.2f} | {pct(lone_s, 0.5):.2f} | {pct(lone_s, 0.95):.2f} | {ratio:.1f}x |")
    reasons = {m for v in rejected.values() for m in v}
    if reasons:
        print("\nrejections / errors:", *sorted(reasons)[:5], sep="\n- ")
    if memory:
        print("\n| seconds | resident memory (MB) |\n|---|---|")
        step = max(1, len(memory) // 12)
        for s, mb in memory[::step] + ([memory[-1]] if len(memory) % step else []):
            print(f"| {s:.0f} | {mb:.0f} |")
        print(f"\nmemory: {memory[0][1]:.0f} MB at the start, {max(m for _, m in memory):.0f} MB peak, "
              f"{memory[-1][1]:.0f} MB at the end")
    if loaded.get("repeated explanation"):
        print(f"\nrepeated explanation: median {statistics.median(loaded['repeated explanation']):.3f} s "
              f"(goal < 0.5 s)")
    print("\nslowest calls (seconds, asked at second N of the lesson):")
    for name, calls in slowest.items():
        worst = sorted(calls, reverse=True)[:4]
        print(f"  {name}: " + ", ".join(f"{s:.2f} s at {t:.1f}" for s, t in worst))


if __name__ == "__main__":
    main()
