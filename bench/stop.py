"""How long Stop takes to end a running explanation (and so free the model for the next request).

For each task's default offline model and a few long-running methods, it starts the
explanation, presses Stop after ``--after`` seconds from another thread (as the tab's Stop
button does) and prints how long the job took to end, with the batch sizes the Subject chose
(Stop is checked between batches; a batch is sized to stay under ``llm.STOP_SECONDS``).

Run:  python bench/stop.py                 (offline models; a few minutes on 2 CPU cores)
      python bench/stop.py --profile tiny  (a smoke run of the script itself)
"""

from __future__ import annotations

import argparse
import os
import threading
import time

SOURCE = ("The old lighthouse on the northern cliff was built in 1872 to guide fishing boats through the narrow "
          "channel. For more than a century a keeper lived beside it, climbing the stairs every evening to light "
          "the lamp. Today the light is automatic, and the keeper's cottage has become a small museum.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("PLAYGROUND_PROFILE", "offline"))
    ap.add_argument("--after", type=float, default=3.0, help="seconds before Stop is pressed")
    args = ap.parse_args()

    from playground.explain import Stopped, explain
    from playground.tasks import generation, qa, seq2seq, summarization

    gen = generation.generate("Explain why the sky is blue.", None, args.profile, max_new_tokens=20, temperature=0)
    summ = summarization.summarize(SOURCE, None, args.profile, max_new_tokens=20)
    answer = qa.answer("When was the lighthouse built?", SOURCE, None, args.profile)
    subjects = {
        "generation": lambda: generation.subject(gen),
        "summarization": lambda: seq2seq.subject(summ),
        "qa": lambda: qa.subject(answer),
    }
    print("| task | model | method | batch rows | gradient rows | ran before Stop (s) | Stop -> ended (s) |")
    print("|---|---|---|---|---|---|---|")
    for task, make in subjects.items():
        for method, options in (("lime", {"lime_samples": 2000}), ("integrated_gradients", {"ig_steps": 128})):
            subject = make()
            stop = threading.Event()
            pressed: dict[str, float] = {}

            def press(stop: threading.Event = stop, pressed: dict[str, float] = pressed) -> None:
                time.sleep(args.after)
                pressed["t"] = time.perf_counter()
                stop.set()

            started = time.perf_counter()
            threading.Thread(target=press, daemon=True).start()
            try:
                explain(subject, method, options, stop=stop)
                ended = "finished before Stop"
            except Stopped:
                ended = f"{time.perf_counter() - pressed['t']:.2f}"
            print(f"| {task} | {subject.model} | {method} | {subject.score.batch_size} | {subject.gradient.max_rows} | "
                  f"{pressed.get('t', time.perf_counter()) - started:.2f} | {ended} |", flush=True)


if __name__ == "__main__":
    main()
