"""Evaluate a model on a whole set of examples, in the app: a bundled set or an uploaded file
(:mod:`playground.evaluation_data`), run through the tasks' own code paths, scored with
:mod:`playground.metrics`, every example kept so the page can show the worst ones first.

- sentiment: accuracy, macro-F1 (scikit-learn) and the confusion matrix (gold rows × predicted
  columns, labels in :data:`~playground.evaluation_data.LABELS` order). The texts go through the
  task's batched scoring function (:func:`playground.tasks.sentiment.batch_probabilities`, full
  precision as the prediction the tab shows), :data:`~playground.config.LIMITS`.predict_batch at a
  time, never one forward per row.
- qa: SQuAD v2 exact match and F1 (:func:`playground.metrics.squad_scores`; "no answer" is right
  on a question without answers), with :func:`playground.tasks.qa.answer`.
- summarization: ROUGE-L (Chinese by characters, as :func:`playground.metrics.rouge_l`), with
  :func:`playground.tasks.summarization.summarize`.
- translation: corpus chrF and BLEU (sacrebleu; BLEU tokenised for Chinese when the target is
  Chinese), with :func:`playground.tasks.translation.translate`.

Decoding is greedy, as in the tabs. Corpus metrics are on a 0-100 scale like playground.metrics;
a row's ``wrongness`` is in [0, 1] (1 - the gold label's probability, 1 - F1, 1 - ROUGE-L,
1 - sentence chrF), and ``rows`` are sorted by it, worst first. No gradio here.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import config, metrics, models, priority
from . import text as text_mod
from .config import LIMITS
from .errors import InputError, OutOfMemory, PlaygroundError
from .evaluation_data import (
    COLUMNS,
    LABELS,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_ROWS,
    SETS,
    TASKS,
    EvalSet,
    check_task,
    get_set,
    parse_upload,
    sets_for,
)
from .tasks import qa, sentiment, seq2seq, summarization, translation

Progress = Callable[[int, int], None]


@dataclass
class EvalReport:
    """What one evaluation found. ``n`` rows were given; ``scored`` of them have a prediction and
    a score, ``errors`` were refused by the task (their ``error`` says why); with ``stopped`` the
    rest never ran. ``metrics`` are over the scored rows (None when there are none).

    Each of ``rows`` (worst first, error rows last): ``index`` (its place in the rows given),
    ``line`` / ``id`` (an upload's line, a bundled item's id), ``inputs`` (text; question and
    context; source), ``reference`` (label, answer list, summary, translation), ``prediction``,
    ``score`` (``correct`` and ``p_gold``; ``exact_match`` and ``f1``; ``rouge_l``; ``chrf``),
    ``wrongness``, ``model``, ``open`` (what the task's tab needs to show it: ``{"task", "text"
    | "question", "context", "target", "model"}``), sentiment's ``probabilities``; an error row
    has ``error`` = ``{"key", "params", "message"}`` instead and ``wrongness`` None."""

    task: str
    target: str | None
    models: dict[str, str]  # key -> display name of every model that ran
    n: int
    scored: int
    errors: int
    stopped: bool
    seconds: float
    metrics: dict[str, Any]
    labels: list[str] = field(default_factory=list)  # sentiment: the confusion matrix's order
    confusion: list[list[int]] | None = None  # sentiment: [gold][predicted] counts
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types; non-finite floats become None."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value if isinstance(value, (int, str, bool)) else str(value)


# ---- Model choice --------------------------------------------------------------------------------


def _spec(task: str, row: dict[str, Any], model_key: str | None, target: str | None,
          profile: str | None) -> config.ModelSpec:
    """The model that runs ``row``, chosen as the task chooses it (None / "" / "auto": by the
    input's language, for translation the first model that writes ``target``)."""
    auto = model_key in (None, "", config.AUTO)
    if task == "sentiment":
        if auto:  # the task's own routing (Chinese to the Chinese classifier where there is one)
            return sentiment.model_for(str(row["text"]), profile)[0].spec
        found = [s for s in config.choices_for(task, profile) + config.routes_for(task, profile) if s.key == model_key]
        return found[0] if found else models.resolve(task, model_key, profile)
    if task == "qa":
        return qa.spec_for(model_key, profile, str(row["question"]))
    if task == "summarization":
        return seq2seq.spec_for(task, model_key, profile, None, str(row["text"]))
    spec = seq2seq.spec_for(task, model_key, profile, target, str(row["source"]))
    if target not in spec.targets:
        raise InputError("model_no_target", model=spec.display, target=str(target))
    return spec


# ---- Per-task runs -------------------------------------------------------------------------------

# Measured seconds per row by (task, model key): (total seconds, rows) over every run in this
# process, model loading left out. What estimate_seconds multiplies by.
_COST: dict[tuple[str, str], tuple[float, int]] = {}
_COST_LOCK = threading.Lock()
# The first row (sentiment: batch) a model runs in a process also pays one-time set-up (the
# language detector, the first generate call's caches): 2.2 s against 0.4 s for the next rows
# of tiny BART. It is left out, or a one-row probe would overestimate a run five-fold.
_WARM: set[tuple[str, str]] = set()


def _record_cost(task: str, key: str, seconds: float, rows: int) -> None:
    with _COST_LOCK:
        if (task, key) not in _WARM:
            _WARM.add((task, key))
            return
        total, count = _COST.get((task, key), (0.0, 0))
        _COST[(task, key)] = (total + seconds, count + rows)


def _error(row_index: int, row: dict[str, Any], exc: PlaygroundError) -> dict[str, Any]:
    params = {k: v if isinstance(v, (int, float, str, bool)) or v is None else str(v) for k, v in exc.params.items()}
    return {**_base(row_index, row), "error": {"key": exc.key, "params": params, "message": str(exc)},
            "wrongness": None}


def _base(index: int, row: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "line": row.get("line"), "id": row.get("id"), "error": None}


def _open(task: str, row: dict[str, Any], key: str, target: str | None) -> dict[str, Any]:
    """What the task's tab needs to show this example again."""
    if task == "qa":
        return {"task": task, "question": row["question"], "context": row["context"], "model": key}
    if task == "translation":
        return {"task": task, "text": row["source"], "target": target, "model": key}
    return {"task": task, "text": row["text"], "model": key}


class _Run:
    """The bookkeeping of one evaluation: results by row index, progress, Stop."""

    def __init__(self, task: str, rows: Sequence[dict[str, Any]], target: str | None, profile: str | None,
                 progress: Progress | None, stop: threading.Event | None) -> None:
        self.task, self.rows, self.target, self.profile = task, rows, target, profile
        self.progress, self.stop = progress, stop
        self.results: dict[int, dict[str, Any]] = {}
        self.models: dict[str, str] = {}
        self.stopped = False

    def stopping(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self.stopped = True
        return self.stopped

    def done(self, index: int, result: dict[str, Any]) -> None:
        self.results[index] = result
        if self.progress is not None:
            self.progress(len(self.results), len(self.rows))

    def spec(self, row: dict[str, Any], model_key: str | None) -> config.ModelSpec:
        spec = _spec(self.task, row, model_key, self.target, self.profile)
        models.load(spec)  # loaded before any row is timed: a row's cost leaves loading out
        self.models[spec.key] = spec.display
        return spec


def _run_sentiment(run: _Run, model_key: str | None) -> None:
    """Batches of up to ``LIMITS.predict_batch`` texts per model through the task's batched
    scoring function: the same forward (full precision, truncated at ``LIMITS.max_tokens``) as
    the tab's prediction."""
    groups: dict[str, list[tuple[int, str]]] = {}
    specs: dict[str, config.ModelSpec] = {}
    for i, row in enumerate(run.rows):
        try:
            value = text_mod.clean(row["text"])
        except InputError as exc:
            run.done(i, _error(i, row, exc))
            continue
        spec = run.spec({**row, "text": value}, model_key)
        specs[spec.key] = spec
        groups.setdefault(spec.key, []).append((i, value))
    for key, items in groups.items():
        loaded = models.load(specs[key])
        labels = loaded.labels
        for start in range(0, len(items), LIMITS.predict_batch):
            if run.stopping():
                return
            priority.give_way()  # a prediction running now has the cores first
            chunk = items[start:start + LIMITS.predict_batch]
            t0 = time.perf_counter()
            probs = sentiment.batch_probabilities(loaded, [v for _, v in chunk], fast=False)
            _record_cost("sentiment", key, time.perf_counter() - t0, len(chunk))
            for (i, value), p in zip(chunk, probs):
                row, scores = run.rows[i], {lab: float(x) for lab, x in zip(labels, p)}
                predicted = max(scores, key=scores.__getitem__)
                p_gold = scores.get(row["label"], 0.0)
                run.done(i, {**_base(i, row), "inputs": {"text": value}, "reference": row["label"],
                             "prediction": predicted, "probabilities": scores,
                             "score": {"correct": predicted == row["label"], "p_gold": p_gold},
                             "wrongness": 1.0 - p_gold, "model": key, "open": _open("sentiment", row, key, None)})


def _predict_one(run: _Run, row: dict[str, Any], key: str) -> str:
    """The task's own answer to one row, with model ``key``, greedy."""
    if run.task == "qa":
        r = qa.answer(row["question"], row["context"], key, run.profile, stop=run.stop)
        return "" if r.no_answer else r.answer  # abstaining is the answer "no answer"
    if run.task == "summarization":
        return summarization.summarize(row["text"], key, run.profile).text
    return translation.translate(row["source"], str(run.target), key, run.profile).text


def _score_one(task: str, row: dict[str, Any], prediction: str) -> tuple[dict[str, Any], float]:
    """A row's own score and its wrongness in [0, 1]."""
    if task == "qa":
        s = metrics.squad_scores([prediction], [row["answers"]], [row.get("lang") or ""])
        em, f1 = s["per_item_exact_match"][0], s["per_item_f1"][0]
        return {"exact_match": em, "f1": f1}, 1.0 - f1 / 100.0
    if task == "summarization":
        r = metrics.rouge_l([prediction], [row["summary"]], lang=_summary_lang(row))
        return {"rouge_l": r}, 1.0 - r / 100.0
    c = metrics.chrf([prediction], [row["reference"]])  # one sentence: sentence-level chrF
    return {"chrf": c}, 1.0 - c / 100.0


def _summary_lang(row: dict[str, Any]) -> str:
    """The row's language for ROUGE-L: its ``lang``, else Chinese when the reference holds Chinese."""
    return str(row.get("lang") or ("zh" if metrics.has_cjk(row["summary"]) else "en"))


def _run_each(run: _Run, model_key: str | None) -> None:
    """QA, summaries and translations: one row at a time (each a generation, or an extractive
    forward over the row's own windows), Stop checked between rows. A row the task refuses
    (too long for the model, ...) becomes an error row."""
    # A chosen model is resolved once (a wrong key fails the run, not every row); "auto" per row.
    fixed = None if model_key in (None, "", config.AUTO) else run.spec(run.rows[0], model_key)
    for i, row in enumerate(run.rows):
        if run.stopping():
            return
        spec = fixed or run.spec(row, None)
        t0 = time.perf_counter()
        try:
            prediction = _predict_one(run, row, spec.key)
        except (InputError, OutOfMemory) as exc:
            run.done(i, _error(i, row, exc))
            continue
        if run.stopping():  # Stop cut this row's generation short: its answer is not the model's
            return
        _record_cost(run.task, spec.key, time.perf_counter() - t0, 1)
        score, wrongness = _score_one(run.task, row, prediction)
        reference = row["answers"] if run.task == "qa" else row["summary" if run.task == "summarization" else "reference"]
        inputs = {c: row[c] for c in COLUMNS[run.task] if c not in ("answers", "summary", "reference")}
        run.done(i, {**_base(i, row), "inputs": inputs, "reference": reference, "prediction": prediction,
                     "score": score, "wrongness": max(0.0, min(1.0, wrongness)), "model": spec.key,
                     "open": _open(run.task, row, spec.key, run.target)})


# ---- Corpus metrics ------------------------------------------------------------------------------


def _sentiment_metrics(scored: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str], list[list[int]]]:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    gold = [r["reference"] for r in scored]
    pred = [r["prediction"] for r in scored]
    # A model with other class names still gets a square matrix: its extra labels after ours.
    labels = list(LABELS) + sorted({*gold, *pred} - set(LABELS))
    if not scored:
        return {"accuracy": None, "macro_f1": None}, labels, [[0] * len(labels) for _ in labels]
    macro = f1_score(gold, pred, labels=labels, average="macro", zero_division=0)
    matrix = confusion_matrix(gold, pred, labels=labels).tolist()
    return {"accuracy": 100.0 * accuracy_score(gold, pred), "macro_f1": 100.0 * macro}, labels, matrix


def _corpus_metrics(task: str, scored: list[dict[str, Any]], rows: Sequence[dict[str, Any]],
                    target: str | None) -> dict[str, Any]:
    if task == "qa":
        keys = ("exact_match", "f1", "has_answer_n", "no_answer_n", "no_answer_accuracy")
        if not scored:
            return dict.fromkeys(keys)
        s = metrics.squad_scores([r["prediction"] for r in scored], [r["reference"] for r in scored],
                                 [rows[r["index"]].get("lang") or "" for r in scored])
        return {k: s[k] for k in keys}
    if task == "summarization":  # rouge_l is a mean of sentence scores: the rows' mean, each in its language
        return {"rouge_l": sum(r["score"]["rouge_l"] for r in scored) / len(scored) if scored else None}
    if not scored:
        return {"chrf": None, "bleu": None}
    preds, refs = [r["prediction"] for r in scored], [r["reference"] for r in scored]
    return {"chrf": metrics.chrf(preds, refs), "bleu": metrics.bleu(preds, refs, str(target))}


# ---- Public API ----------------------------------------------------------------------------------


def _check_rows(task: str, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        raise InputError("eval_no_rows")
    if len(rows) > MAX_UPLOAD_ROWS:  # every bundled set is smaller; the API gets the upload's bound
        raise InputError("eval_too_many_rows", n=len(rows), limit=MAX_UPLOAD_ROWS)


def _target(task: str, target: str | None) -> str | None:
    if task != "translation":
        return None
    return translation.check_target(target or "zh")  # the Translation tab's default direction


def evaluate(task: str, rows: Sequence[dict[str, Any]], model_key: str | None = None, target: str | None = None,
             profile: str | None = None, progress: Progress | None = None,
             stop: threading.Event | None = None) -> EvalReport:
    """Run ``task`` with ``model_key`` (None, "" or "auto": each row's model chosen as the task
    chooses it) on ``rows`` (a bundled set's :meth:`EvalSet.rows` or :func:`parse_upload`'s) and
    score it. ``target``: translation's target language (default "zh"). ``progress(done,
    total)`` is called as rows finish (sentiment: a batch at a time); once ``stop`` is set no
    further row starts, and the report covers the rows done (``stopped`` True). A row the task
    refuses with an InputError is an error row; a bad ``model_key`` or ``target`` raises."""
    task = check_task(task)
    _check_rows(task, rows)
    target = _target(task, target)
    run = _Run(task, list(rows), target, profile, progress, stop)
    started = time.perf_counter()
    if task == "sentiment":
        _run_sentiment(run, model_key)
    else:
        _run_each(run, model_key)
    done = [run.results[i] for i in sorted(run.results)]
    scored = [r for r in done if r["error"] is None]
    labels: list[str] = []
    confusion = None
    if task == "sentiment":
        corpus, labels, confusion = _sentiment_metrics(scored)
    else:
        corpus = _corpus_metrics(task, scored, run.rows, target)
    # Worst first; error rows (not scored) after every scored one; ties in the rows' own order.
    done.sort(key=lambda r: (r["wrongness"] is None, -(r["wrongness"] or 0.0), r["index"]))
    return EvalReport(task=task, target=target, models=run.models, n=len(run.rows), scored=len(scored),
                      errors=len(done) - len(scored), stopped=run.stopped, seconds=time.perf_counter() - started,
                      metrics=corpus, labels=labels, confusion=confusion, rows=done)


def evaluate_set(name: str, model_key: str | None = None, profile: str | None = None,
                 progress: Progress | None = None, stop: threading.Event | None = None,
                 limit: int | None = None) -> EvalReport:
    """:func:`evaluate` on the bundled set ``name`` (its first ``limit`` rows), in its direction."""
    s = get_set(name)
    return evaluate(s.task, s.rows()[:limit], model_key, s.target, profile, progress, stop)


def estimate_seconds(task: str, rows: Sequence[dict[str, Any]], model_key: str | None = None,
                     profile: str | None = None, target: str | None = None) -> float:
    """About how long :func:`evaluate` will take on ``rows``: the measured seconds per row of
    this task on this model (the mean over every row evaluated in this process, model loading
    and the model's first row, its warm-up, left out) times the number of rows. Never measured
    yet: the first row (sentiment: the first batch) is evaluated now, twice when the first run is
    the warm-up, which also loads the model, so the estimate is of the run itself. Rows are assumed to cost what the measured ones did: a set of much longer texts
    takes longer. With ``model_key`` "auto", the model of the first row is assumed for all."""
    task = check_task(task)
    if not rows:
        return 0.0
    target = _target(task, target)
    spec = _spec(task, rows[0], model_key, target, profile)
    probe = list(rows[:LIMITS.predict_batch] if task == "sentiment" else rows[:1])
    t0 = time.perf_counter()
    for _ in range(2):  # the first run of a model in this process is its warm-up (see _WARM)
        if (task, spec.key) in _COST:
            break
        t0 = time.perf_counter()
        evaluate(task, probe, spec.key, target, profile)
    if (task, spec.key) not in _COST:  # the task refused the probe: its time is all there is
        with _COST_LOCK:
            _COST[(task, spec.key)] = (time.perf_counter() - t0, len(probe))
    total, count = _COST[(task, spec.key)]
    return total / count * len(rows)


__all__ = ["COLUMNS", "LABELS", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_ROWS", "SETS", "TASKS", "EvalReport", "EvalSet",
           "estimate_seconds", "evaluate", "evaluate_set", "get_set", "parse_upload", "sets_for"]
