"""Score the offline models on the hand-written evaluation sets in assets/eval.

    python scripts/evaluate.py                      # every task, every offline model
    python scripts/evaluate.py --task translation --limit 10
    python scripts/evaluate.py --task translation --lang zh --lang en   # en→zh and zh→en only
    python scripts/evaluate.py --task summarization --lang zh           # the Chinese summaries only

Summaries: ROUGE-L (rouge-score; English stemmed, Chinese by characters: rouge-score's own
tokenizer keeps only [a-z0-9] and would score every Chinese summary 0, see
playground.metrics.rouge_l), English and Chinese items apart. Translations: chrF and BLEU
(sacrebleu; BLEU tokenised for Chinese with "zh"), every direction (en→zh, en→fr, en→de, zh→en) for
every offline model that offers its target; for en→zh also how many outputs held Traditional
characters before the OpenCC conversion (Seq2SeqResult.simplified) and the chrF before it. Question
answering: SQuAD v2 exact match and F1 (playground.metrics; abstaining on a no-answer item is
correct), English and Chinese apart, with and without the generative models' abstention rule
(playground.tasks.qa.generative.abstention), and the rule's trade-off table (threshold → no-answer
items abstained on, right answers lost).

Greedy decoding, the app's own prompts and code paths (playground.tasks). Prints a markdown table
per task and writes every number and output to assets/eval/results.json, which README.md quotes;
the offline default of each task (the first entry in playground/config.py) follows these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import with_intel_openmp  # noqa: E402

with_intel_openmp()  # s/item as the app runs (before torch is imported)
os.environ.setdefault("PLAYGROUND_PROFILE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from playground import config, language, metrics, prompting  # noqa: E402
from playground.tasks import summarization, translation  # noqa: E402

RESULTS = ROOT / "assets" / "eval" / "results.json"
LANGS = ("en", "zh")
# Written after ABSTAIN_MIN_SCORE was chosen on q01-q45 and not used to choose it (and before the
# rule was run on them): the abstention rule's check on unseen items.
QA_HELD_OUT = frozenset(f"q{i}" for i in range(46, 59))
# Thresholds on the generated answer's mean token probability tried by the trade-off table.
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(0, 20))


def _models(task: str) -> list[str]:
    return [s.key for s in config.choices_for(task, config.active_profile())]


def item_lang(item: dict) -> str:
    """An eval item's language ("en" when it has no ``lang``)."""
    return str(item.get("lang") or "en")


# ---- Summaries ---------------------------------------------------------------------------------


def first_sentence(text: str) -> str:
    """The source's first sentence (up to the first . ! ? or 。！？ that ends one)."""
    m = re.search(r"[.!?](?=\s)|[。！？]", text)
    return text[: m.end()] if m else text


def summary_scores(preds: list[str], items: list[dict], lang: str, seconds: float) -> dict:
    """ROUGE-L (characters for Chinese), lengths and copies of one language's summaries, and the
    ROUGE-L of the source's first sentence (``lead_rouge_l``: what copying the lead scores)."""
    refs = [it["reference"] for it in items]
    return {
        "rouge_l": round(metrics.rouge_l(preds, refs, lang=lang), 2),
        "lead_rouge_l": round(metrics.rouge_l([first_sentence(it["text"]) for it in items], refs, lang=lang), 2),
        "mean_chars": round(sum(map(len, preds)) / len(preds), 1),
        "source_mean_chars": round(sum(len(it["text"]) for it in items) / len(items), 1),
        "copied": sum(p.strip()[:60] == it["text"].strip()[:60] for p, it in zip(preds, items)),
        "n": len(items),
        "seconds_per_item": round(seconds / len(items), 2),
        "outputs": preds,
    }


def eval_summaries(keys: list[str], limit: int | None, langs: Sequence[str] = LANGS) -> dict:
    """English items' scores at the top level of each model's entry (as before Chinese items
    existed), the Chinese ones under ``"zh"``."""
    items = metrics.load_jsonl(metrics.EVAL_DIR / "summaries.jsonl")
    out: dict = {}
    for lang in langs:
        subset = [it for it in items if item_lang(it) == lang][:limit]
        if not subset:
            continue
        for key in keys:
            started, preds = time.perf_counter(), []
            for it in subset:
                preds.append(summarization.summarize(it["text"], key).text)
            r = summary_scores(preds, subset, lang, time.perf_counter() - started)
            entry = out.setdefault(key, {})
            if lang == "en":
                entry.update(r)
            else:
                entry[lang] = r
            print(f"summarization ({lang}) {key}: ROUGE-L {r['rouge_l']:.1f} "
                  f"({r['seconds_per_item'] * r['n']:.0f} s)", flush=True)
    return out


# ---- Translation -------------------------------------------------------------------------------


def pairs_file(target: str) -> Path:
    """The eval set of the direction into ``target``: translation_<source>-<target>.tsv."""
    return metrics.EVAL_DIR / f"translation_{prompting.source_of(target)}-{target}.tsv"


def traditional_counts(raw: list[str], final: list[str]) -> dict:
    """For outputs into Chinese: how many held Traditional-only characters as the model wrote them
    (``raw``) and after the OpenCC conversion (``final``), and which characters they were."""
    before = [language.traditional_chars(t) for t in raw]
    return {
        "traditional_before_conversion": sum(bool(c) for c in before),
        "traditional_after_conversion": sum(bool(language.traditional_chars(t)) for t in final),
        "traditional_chars_before": sorted({c for cs in before for c in cs}),
    }


def eval_translation(keys: list[str] | None, limit: int | None, targets: Sequence[str] | None = None) -> dict:
    """Every direction (``targets``, default all) for every model of the profile (offline unless
    PLAYGROUND_PROFILE says otherwise) that writes its target (``keys`` narrows them)."""
    from playground import models
    from playground.tasks import seq2seq

    out: dict = {}
    for target in targets or translation.TARGETS:
        pairs = metrics.load_pairs(pairs_file(target))[:limit]
        direction = f"{prompting.source_of(target)}-{target}"
        for spec in translation.models_for(target, config.active_profile()):
            if keys and spec.key not in keys:
                continue
            started, results = time.perf_counter(), []
            for src, _ in pairs:
                results.append(translation.translate(src, target, spec.key))
            seconds = time.perf_counter() - started
            preds, refs = [r.text for r in results], [ref for _, ref in pairs]
            r: dict[str, Any] = {
                "direction": direction,
                "chrf": round(metrics.chrf(preds, refs), 2),
                "bleu": round(metrics.bleu(preds, refs, target), 2),
                "n": len(pairs),
                "seconds_per_item": round(seconds / len(pairs), 2),
                "outputs": preds,
            }
            if target == "zh":  # 简体中文 means Simplified: how often the model slipped, measured
                tok = models.load(spec).tokenizer
                raw = ["".join(seq2seq.token_texts(tok, x.output_ids)).strip() for x in results]
                r.update(traditional_counts(raw, preds))
                r["simplified_chars"] = [x.simplified for x in results]
                r["outputs_converted"] = sum(x.simplified > 0 for x in results)
                r["chrf_before_conversion"] = round(metrics.chrf(raw, refs), 2)
                r["raw_outputs"] = {i: t for i, (t, p) in enumerate(zip(raw, preds)) if t != p}
            out.setdefault(spec.key, {})[target] = r
            extra = (f", Traditional before conversion {r['traditional_before_conversion']}/{r['n']}"
                     if target == "zh" else "")
            print(f"translation {direction} {spec.key}: chrF {r['chrf']:.1f} BLEU {r['bleu']:.1f}{extra} "
                  f"({seconds:.0f} s)", flush=True)
    return out


# ---- Question answering ------------------------------------------------------------------------


def _strip(scores: dict) -> dict:
    return {k: v for k, v in scores.items() if not k.startswith("per_item")}


def qa_group(item: dict) -> str:
    """"en_short", "en_long" (a context of 250 words or more, the answer late) or "zh"."""
    if item_lang(item) == "zh":
        return "zh"
    return "en_long" if len(item["context"].split()) >= 250 else "en_short"


def abstention_tradeoff(said: list[str], scores: list[float], found: list[bool], answers: list[list[str]],
                        langs: list[str], thresholds: Sequence[float] = THRESHOLDS) -> list[dict]:
    """What an abstention rule would do to these generated answers: for each rule (``not_found``:
    also withdraw an answer not found in the context; ``min_score``: withdraw one whose mean token
    probability is below it), how many no-answer items it abstains on (right), how many answers
    that were exactly right it throws away, how many answerable items it abstains on in all, and
    the SQuAD v2 EM / F1 after it."""
    raw = metrics.squad_scores(said, answers, langs)
    na_items = [i for i, g in enumerate(answers) if not any(a.strip() for a in g)]
    right = [i for i, em in enumerate(raw["per_item_exact_match"]) if em == 100.0 and i not in na_items]
    rows = []
    for not_found in (False, True):
        for t in thresholds:
            drop = [bool(s.strip()) and ((not_found and not f) or sc < t) for s, sc, f in zip(said, scores, found)]
            after = metrics.squad_scores(["" if d else s for d, s in zip(drop, said)], answers, langs)
            rows.append({
                "not_found": not_found,
                "min_score": t,
                "no_answer_abstained": sum(drop[i] or not said[i].strip() for i in na_items),
                "no_answer_n": len(na_items),
                "right_lost": sum(drop[i] for i in right),
                "right_n": len(right),
                "answerable_abstained": sum(drop[i] for i in range(len(said)) if i not in na_items),
                "answerable_n": len(said) - len(na_items),
                "exact_match": round(after["exact_match"], 2),
                "f1": round(after["f1"], 2),
            })
    return rows


def qa_report(items: list[dict], preds: list[str], said: list[str], scores: list[float], found: list[bool]) -> dict:
    """Every QA number of one model from its per-item outputs: SQuAD v2 scores with the
    abstention rule (top level, and ``by_lang`` / ``by_group``), ``without_abstention`` (what the
    model said, never withdrawn), and the rule's ``tradeoff`` on the calibration items and the
    ``held_out`` ones (:data:`QA_HELD_OUT`)."""
    answers, langs = [it["answers"] for it in items], [item_lang(it) for it in items]
    out = metrics.squad_scores(preds, answers, langs)

    def part(idx: list[int], values: list[str]) -> dict | None:
        if not idx:
            return None
        return _strip(metrics.squad_scores([values[i] for i in idx], [answers[i] for i in idx], [langs[i] for i in idx]))

    out["by_lang"] = {lg: part([i for i, x in enumerate(langs) if x == lg], preds) for lg in LANGS}
    groups = [qa_group(it) for it in items]
    out["by_group"] = {g: part([i for i, x in enumerate(groups) if x == g], preds) for g in ("en_short", "en_long", "zh")}
    out["without_abstention"] = {
        **_strip(metrics.squad_scores(said, answers, langs)),
        "by_lang": {lg: part([i for i, x in enumerate(langs) if x == lg], said) for lg in LANGS},
    }
    splits = {"calibration": [i for i, it in enumerate(items) if it["id"] not in QA_HELD_OUT],
              "held_out": [i for i, it in enumerate(items) if it["id"] in QA_HELD_OUT]}
    out["abstention"] = {
        split: abstention_tradeoff([said[i] for i in idx], [scores[i] for i in idx], [found[i] for i in idx],
                                   [answers[i] for i in idx], [langs[i] for i in idx])
        for split, idx in splits.items() if idx
    }
    return out


def eval_qa(keys: list[str], limit: int | None, langs: Sequence[str] = LANGS, items: list[dict] | None = None) -> dict:
    """Every QA number of each model (:func:`qa_report`) on qa.jsonl (or ``items``), the first
    ``limit`` items of each language in ``langs``."""
    from playground.tasks import qa
    from playground.tasks.qa import generative

    items = items if items is not None else metrics.load_jsonl(metrics.EVAL_DIR / "qa.jsonl")
    items = [it for lg in langs for it in [x for x in items if item_lang(x) == lg][:limit]]
    out = {}
    for key in keys:
        started, preds, said, scores, found, records = time.perf_counter(), [], [], [], [], []
        for it in items:
            r = qa.answer(it["question"], it["context"], key)
            preds.append("" if r.no_answer else r.answer)
            said.append(r.answer)
            scores.append(float(r.score))
            found.append(bool(r.found_in_context))
            records.append({"id": it["id"], "said": r.answer, "score": round(float(r.score), 4),
                            "found_in_context": r.found_in_context, "abstained": r.abstained})
        seconds = time.perf_counter() - started
        report = qa_report(items, preds, said, scores, found)
        out[key] = {**report, "rule": {"not_found": generative.ABSTAIN_IF_NOT_FOUND,
                                       "min_score": generative.ABSTAIN_MIN_SCORE},
                    "seconds_per_item": round(seconds / len(items), 2), "outputs": preds, "items": records}
        na = report["no_answer_accuracy"]
        print(f"qa {key}: EM {report['exact_match']:.1f} F1 {report['f1']:.1f} "
              f"no-answer {'-' if na is None else f'{na:.0f}'} ({seconds:.0f} s)", flush=True)
    return out


# ---- Tables ------------------------------------------------------------------------------------


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _table(task: str, res: dict) -> str:
    if task == "summarization":
        lines = ["| model | lang | ROUGE-L | first sentence's ROUGE-L | mean length (chars) | source (chars) | copied the source | s/item |",
                 "|---|---|---|---|---|---|---|---|"]
        for k, v in res.items():
            for lg, r in (("en", v if "rouge_l" in v else None), ("zh", v.get("zh"))):
                if r:
                    lines.append(f"| {k} | {lg} | {r['rouge_l']:.1f} | {_f(r.get('lead_rouge_l'))} | {r['mean_chars']:.0f} | {r['source_mean_chars']:.0f} "
                                 f"| {r['copied']}/{r['n']} | {r['seconds_per_item']:.1f} |")
    elif task == "translation":
        lines = ["| model | direction | chrF | BLEU | Traditional before OpenCC | chrF before OpenCC | s/item |",
                 "|---|---|---|---|---|---|---|"]
        for k, v in res.items():
            for r in v.values():
                trad = f"{r['traditional_before_conversion']}/{r['n']}" if "traditional_before_conversion" in r else "-"
                lines.append(f"| {k} | {r['direction']} | {r['chrf']:.1f} | {r['bleu']:.1f} | {trad} "
                             f"| {_f(r.get('chrf_before_conversion'))} | {r['seconds_per_item']:.1f} |")
    else:
        lines = ["| model | EM | F1 | en F1 | zh F1 | no answer | EM / F1 without the rule | no answer without | s/item |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for k, v in res.items():
            w = v["without_abstention"]
            na = lambda s: "-" if not s["no_answer_n"] else f"{round(s['no_answer_accuracy'] * s['no_answer_n'] / 100)}/{s['no_answer_n']}"  # noqa: E731
            bl = v["by_lang"]
            lines.append(f"| {k} | {v['exact_match']:.1f} | {v['f1']:.1f} | {_f(bl['en'] and bl['en']['f1'])} "
                         f"| {_f(bl['zh'] and bl['zh']['f1'])} | {na(v)} | {w['exact_match']:.1f} / {w['f1']:.1f} "
                         f"| {na(w)} | {v['seconds_per_item']:.1f} |")
        for k, v in res.items():
            for split, rows in v["abstention"].items():
                lines += ["", f"{k}, abstention trade-off ({split}):", "",
                          "| not found → abstain | min score | no-answer abstained | right answers lost | answerable abstained | EM | F1 |",
                          "|---|---|---|---|---|---|---|"]
                lines += [f"| {'yes' if r['not_found'] else 'no'} | {r['min_score']:.2f} | {r['no_answer_abstained']}/{r['no_answer_n']} "
                          f"| {r['right_lost']}/{r['right_n']} | {r['answerable_abstained']}/{r['answerable_n']} "
                          f"| {r['exact_match']:.1f} | {r['f1']:.1f} |" for r in rows]
    return "\n".join(lines)


def merge(saved: dict, task: str, res: dict, machine: str) -> None:
    """Fold one run into results.json's structure: a model's entry is updated, not replaced, so a
    run of some models, languages or directions keeps the others' numbers."""
    entry = saved.setdefault(task, {"results": {}})
    entry["machine"] = machine
    for key, value in res.items():
        entry["results"].setdefault(key, {}).update(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("summarization", "translation", "qa"), action="append")
    parser.add_argument("--limit", type=int, default=None, help="first N items of each set (quick checks)")
    parser.add_argument("--models", nargs="*", help="model keys (default: every offline model of the task)")
    parser.add_argument("--lang", action="append", choices=tuple(translation.TARGETS),
                        help="summaries and QA: the items in this language; translation: the direction into it "
                             "(repeatable; default all)")
    args = parser.parse_args()
    tasks = args.task or ["summarization", "translation", "qa"]
    langs = [lg for lg in (args.lang or LANGS) if lg in LANGS]
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    for task in tasks:
        if task != "translation" and not langs:
            print(f"{task}: no items in {', '.join(args.lang)}", flush=True)
            continue
        if task == "translation":
            res = eval_translation(args.models, args.limit, args.lang)
        elif task == "summarization":
            res = eval_summaries(args.models or _models(task), args.limit, langs)
        else:
            res = eval_qa(args.models or _models(task), args.limit, langs)
        print(f"\n## {task}\n\n{_table(task, res)}\n", flush=True)
        # Only full runs are kept (QA's scores are over both languages: all of them or nothing).
        if args.limit is None and (task != "qa" or set(langs) == set(LANGS)):
            merge(saved, task, res, machine)
    if args.limit is None:
        RESULTS.write_text(json.dumps(saved, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
