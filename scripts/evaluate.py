"""Score the offline models on the hand-written evaluation sets in assets/eval.

    python scripts/evaluate.py                      # every task, every offline model
    python scripts/evaluate.py --task translation --limit 10

Summaries: ROUGE-L (rouge-score); translations: chrF and BLEU (sacrebleu; BLEU tokenised for
Chinese with "zh"); question answering: SQuAD exact match and F1 (playground.metrics). Greedy
decoding, the app's own prompts and code paths (playground.tasks). Prints a markdown table per
task and writes every number and output to assets/eval/results.json, which README.md quotes; the
offline default of each task (the first entry in playground/config.py) follows these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PLAYGROUND_PROFILE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from playground import config, metrics  # noqa: E402
from playground.tasks import summarization, translation  # noqa: E402

RESULTS = ROOT / "assets" / "eval" / "results.json"


def _models(task: str) -> list[str]:
    return [s.key for s in config.choices_for(task, "offline")]


def eval_summaries(keys: list[str], limit: int | None) -> dict:
    items = metrics.load_jsonl(metrics.EVAL_DIR / "summaries.jsonl")[:limit]
    out = {}
    for key in keys:
        started, preds = time.perf_counter(), []
        for it in items:
            preds.append(summarization.summarize(it["text"], key).text)
        seconds = time.perf_counter() - started
        refs = [it["reference"] for it in items]
        out[key] = {
            "rouge_l": round(metrics.rouge_l(preds, refs), 2),
            "mean_chars": round(sum(map(len, preds)) / len(preds), 1),
            "source_mean_chars": round(sum(len(it["text"]) for it in items) / len(items), 1),
            "copied": sum(p.strip()[:60] == it["text"].strip()[:60] for p, it in zip(preds, items)),
            "n": len(items),
            "seconds_per_item": round(seconds / len(items), 2),
            "outputs": preds,
        }
        print(f"summarization {key}: ROUGE-L {out[key]['rouge_l']:.1f} ({seconds:.0f} s)", flush=True)
    return out


def eval_translation(keys: list[str], limit: int | None) -> dict:
    out: dict = {}
    for target in translation.TARGETS:
        pairs = metrics.load_pairs(metrics.EVAL_DIR / f"translation_en-{target}.tsv")[:limit]
        for key in keys:
            started = time.perf_counter()
            preds = [translation.translate(en, target, key).text for en, _ in pairs]
            seconds = time.perf_counter() - started
            refs = [ref for _, ref in pairs]
            out.setdefault(key, {})[target] = {
                "chrf": round(metrics.chrf(preds, refs), 2),
                "bleu": round(metrics.bleu(preds, refs, target), 2),
                "n": len(pairs),
                "seconds_per_item": round(seconds / len(pairs), 2),
                "outputs": preds,
            }
            r = out[key][target]
            print(f"translation en-{target} {key}: chrF {r['chrf']:.1f} BLEU {r['bleu']:.1f} ({seconds:.0f} s)", flush=True)
    return out


def eval_qa(keys: list[str], limit: int | None) -> dict:
    from playground.tasks import qa

    items = metrics.load_jsonl(metrics.EVAL_DIR / "qa.jsonl")[:limit]
    out = {}
    for key in keys:
        started, preds = time.perf_counter(), []
        for it in items:
            r = qa.answer(it["question"], it["context"], key)
            d = r.to_dict()
            preds.append("" if d.get("no_answer") else d.get("answer", ""))
        seconds = time.perf_counter() - started
        scores = metrics.squad_scores(preds, [it["answers"] for it in items], [it.get("lang", "en") for it in items])
        out[key] = {**scores, "seconds_per_item": round(seconds / len(items), 2), "outputs": preds}
        print(f"qa {key}: EM {scores['exact_match']:.1f} F1 {scores['f1']:.1f} ({seconds:.0f} s)", flush=True)
    return out


def _table(task: str, res: dict) -> str:
    if task == "summarization":
        source_chars = next(iter(res.values()))["source_mean_chars"]
        lines = [f"| model | ROUGE-L | mean length (chars; sources ~{int(source_chars)}) | copied the source | s/item |",
                 "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['rouge_l']:.1f} | {v['mean_chars']:.0f} | {v['copied']}/{v['n']} | {v['seconds_per_item']:.1f} |" for k, v in res.items()]
    elif task == "translation":
        lines = ["| model | " + " | ".join(f"en→{t} chrF / BLEU" for t in translation.TARGETS) + " | s/item |",
                 "|---|" + "---|" * (len(translation.TARGETS) + 1)]
        for k, v in res.items():
            cells = [f"{v[t]['chrf']:.1f} / {v[t]['bleu']:.1f}" for t in translation.TARGETS if t in v]
            per = sum(v[t]["seconds_per_item"] for t in v) / len(v)
            lines.append(f"| {k} | " + " | ".join(cells) + f" | {per:.1f} |")
    else:
        lines = ["| model | EM | F1 | no-answer accuracy | s/item |", "|---|---|---|---|---|"]
        for k, v in res.items():
            na = v.get("no_answer_accuracy")
            lines.append(f"| {k} | {v['exact_match']:.1f} | {v['f1']:.1f} | {'-' if na is None else f'{na:.1f}'} | {v['seconds_per_item']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("summarization", "translation", "qa"), action="append")
    parser.add_argument("--limit", type=int, default=None, help="first N items of each set (quick checks)")
    parser.add_argument("--models", nargs="*", help="model keys (default: every offline model of the task)")
    args = parser.parse_args()
    tasks = args.task or ["summarization", "translation", "qa"]
    runners = {"summarization": eval_summaries, "translation": eval_translation, "qa": eval_qa}
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for task in tasks:
        res = runners[task](args.models or _models(task), args.limit)
        print(f"\n## {task}\n\n{_table(task, res)}\n", flush=True)
        if args.limit is None:  # only full runs are kept; a run of some models replaces only theirs
            entry = saved.setdefault(task, {"results": {}})
            entry["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
            entry["results"].update(res)
    if args.limit is None:
        RESULTS.write_text(json.dumps(saved, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
