"""Live fine-tuning: watch a pre-trained encoder learn the sentiment task.

A visitor picks a labelled set (a bundled pool, :data:`POOLS`, or an uploaded file) and
:class:`FineTuneSettings`; a :class:`FineTuneJob` copies the app's sentiment classifier (its
pre-trained encoder with a fresh head, or the shipped model), scores the held-out part, trains
with AdamW (every step's loss, a time estimate, Stop; each step gives way to a running prediction),
scores it again and keeps the model for that visitor only (finetune_models, finetune_states)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from . import evaluation, models, priority
from . import finetune_models as fm
from . import finetune_states as fs
from .errors import InputError, PlaygroundError
from .evaluation_data import LABELS
from .finetune_models import POOLS, UPLOAD, Row, rows_from_upload
from .tasks import sentiment

log = logging.getLogger(__name__)

BATCH_SIZE = 16
TRAIN_MAX_TOKENS = 128  # the bundled tweets and reviews are shorter; an upload's long texts are cut
# A fresh head (start "pretrained") learns at this many times the encoder layers' rate: held-out
# accuracy 73.7 % against 71.2 % with one rate (the defaults' draws with seeds 1, 2, 3 and 13).
HEAD_LR_FACTOR = 10.0
SMOOTHING = 0.8  # the smoothed loss curve: a debiased moving average (as TensorBoard draws it)
MAX_TRAINED = 3000  # training rows x epochs: about 6 minutes at the 8-9 rows/s measured on 2 busy CPU cores
MAX_RUNNING = 2  # training jobs at once in the app (each keeps the CPU busy)

Progress = Callable[[int, int, float], None]


@dataclasses.dataclass(frozen=True)
class FineTuneSettings:
    """``examples`` rows are drawn (an upload: at most its rows), ``held_out`` of them are kept
    for the before/after score and the rest trained on for ``epochs`` at ``learning_rate``
    (AdamW, linear decay after 6 % warm-up, batches of :data:`BATCH_SIZE`, a fresh head at
    :data:`HEAD_LR_FACTOR` times that rate); ``layers``: which parameters train
    (:data:`~playground.finetune_models.LAYER_CHOICES`); ``start``: the pre-trained encoder with
    a fresh head, or the shipped classifier; ``seed`` fixes the draw, the order and the fresh
    head. Out-of-bounds values raise InputError ``ft_bad_*``. Defaults: 201 tweets trained twice,
    99 held out: 20 s to 2 min with MiniLM-L6 on 2 CPU cores (bench/finetune.py)."""

    examples: int = 300
    held_out: float = 0.33
    epochs: int = 2
    learning_rate: float = 2e-4
    layers: str = "top2"
    start: str = "pretrained"
    seed: int = 13

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        set_("examples", _whole(self.examples, 20, 1000, "ft_bad_examples"))
        set_("epochs", _whole(self.epochs, 1, 5, "ft_bad_epochs"))
        set_("seed", _whole(self.seed, 0, 2**31 - 1, "ft_bad_seed"))
        set_("held_out", _number(self.held_out, 0.1, 0.5, "ft_bad_held_out"))
        set_("learning_rate", _number(self.learning_rate, 1e-6, 1e-2, "ft_bad_lr"))
        if self.layers not in fm.LAYER_CHOICES:
            raise InputError("ft_bad_layers", layers=str(self.layers)[:40], choices=", ".join(fm.LAYER_CHOICES))
        if self.start not in fm.STARTS:
            raise InputError("ft_bad_start", start=str(self.start)[:40], choices=", ".join(fm.STARTS))
        trained = (self.examples - held_count(self.examples, self.held_out)) * self.epochs
        if trained > MAX_TRAINED:
            raise InputError("ft_too_long", n=trained, limit=MAX_TRAINED)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _number(value: object, low: float, high: float, key: str) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not low <= x <= high:  # NaN fails both comparisons
        raise InputError(key, value=str(value)[:40], low=low, high=high)
    return x


def _whole(value: object, low: int, high: int, key: str) -> int:
    x = _number(value, low, high, key)
    if not x.is_integer():
        raise InputError(key, value=str(value)[:40], low=low, high=high)
    return int(x)


def held_count(n: int, fraction: float) -> int:
    """How many of ``n`` drawn rows are held out (at least 2)."""
    return max(2, round(n * fraction))


# ---- The job -------------------------------------------------------------------------------------


@dataclasses.dataclass
class FineTuneResult:
    """What one training did. ``before`` / ``after``: accuracy and macro-F1 (0-100), the label
    order and the confusion matrix ([gold][predicted]) on the held-out rows, as the Evaluation
    tab computes them (None: Stop came during the first scoring; ``after`` is ``before`` when
    no step ran); ``rows``: each held-out text (first 300 characters), its label and that
    label's probability before and after; ``sentences``: their sentence vectors before and after
    in 2-D (finetune_states.sentence_map). ``estimate_seconds``: the estimate given after the
    first step; ``own_bytes``: what the model and its start hold that the shared one does not."""

    settings: dict[str, Any]
    source: str
    model: str
    language: str
    data: dict[str, Any]
    steps: int
    total_steps: int
    loss: list[float]
    loss_smoothed: list[float]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    rows: list[dict[str, Any]]
    estimate_seconds: float | None
    seconds: dict[str, float]
    examples_per_second: float | None
    stopped: bool
    trainable_parameters: int
    total_parameters: int
    own_bytes: int
    sentences: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; non-finite numbers become None."""
        return evaluation._json_safe(dataclasses.asdict(self))


def smooth(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """The debiased exponential moving average of ``values`` (the first point is the first value)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


_jobs: dict[str, FineTuneJob] = {}
_jobs_lock = threading.Lock()


class FineTuneJob:
    """One training for ``owner``; at most one per owner and :data:`MAX_RUNNING` in the app (else
    InputError ``ft_busy`` / ``ft_server_busy`` when it is made). :meth:`run` works in the
    calling thread, :func:`start` in a thread of its own; :meth:`snapshot` is safe to call
    from any thread while it runs, and :meth:`stop` (or the ``stop`` event) ends training
    between two steps."""

    def __init__(self, owner: str, settings: FineTuneSettings, source: str, rows: Sequence[dict[str, Any]] | None,
                 profile: str | None, progress: Progress | None, stop: threading.Event | None) -> None:
        if not isinstance(owner, str) or not owner:
            raise ValueError("a fine-tuning job needs its owner's session key")
        if rows is None and source not in POOLS:
            raise InputError("ft_bad_source", source=str(source)[:40], choices=", ".join(POOLS))
        self.owner, self.settings, self.profile, self.progress = owner, settings, profile, progress
        self.source = UPLOAD if rows is not None else source
        self.rows = rows
        self.stop_event = stop or threading.Event()
        self.discard = False  # the owner left: the model is not kept
        self._stopped = False
        self.result: FineTuneResult | None = None
        self.error: BaseException | None = None
        self._state: dict[str, Any] = {"phase": "waiting", "step": 0, "total": 0, "loss": [],
                                       "estimate_seconds": None, "step_seconds": None, "eval_seconds": 0.0}
        self._started = time.perf_counter()
        self._done = threading.Event()
        with _jobs_lock:
            if owner in _jobs:
                raise InputError("ft_busy")
            if len(_jobs) >= MAX_RUNNING:
                raise InputError("ft_server_busy", n=len(_jobs))
            _jobs[owner] = self

    def stop(self) -> None:
        self.stop_event.set()

    def snapshot(self) -> dict[str, Any]:
        """``{"phase", "step", "total", "loss", "loss_smoothed", "estimate_seconds",
        "elapsed_seconds", "left_seconds", "error"}``; phase: waiting, preparing, before,
        training, after, done, stopped or failed."""
        st, left = dict(self._state), None
        loss = list(st["loss"])
        if st["phase"] == "after":
            left = st["eval_seconds"]
        elif st["step_seconds"] is not None and st["phase"] == "training":
            left = max(0.0, st["step_seconds"] * (st["total"] - st["step"]) + st["eval_seconds"])
        err = self.error
        return {"phase": st["phase"], "step": st["step"], "total": st["total"], "loss": loss,
                "loss_smoothed": smooth(loss), "estimate_seconds": st["estimate_seconds"],
                "elapsed_seconds": time.perf_counter() - self._started, "left_seconds": left,
                "error": None if err is None else {"key": getattr(err, "key", "internal_error"),
                                                   "params": getattr(err, "params", {}), "message": str(err)}}

    def wait(self, timeout: float | None = None) -> FineTuneResult:
        """The result once the job has ended (its error re-raised); TimeoutError if not by then."""
        if not self._done.wait(timeout):
            raise TimeoutError("the fine-tuning job is still running")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def run(self) -> FineTuneResult:
        """Train in this thread; the result (also kept as ``result``), or the error raised."""
        try:
            self.result = self._execute()
            self._state["phase"] = "stopped" if self.result.stopped else "done"
            return self.result
        except BaseException as exc:
            self.error = exc
            self._state["phase"] = "failed"
            if not isinstance(exc, PlaygroundError):
                log.exception("fine-tuning for a visitor failed")
            raise
        finally:
            with _jobs_lock:
                if _jobs.get(self.owner) is self:
                    del _jobs[self.owner]
            self.rows = None
            self._done.set()
            models.free_memory()  # the optimizer state and activations

    def _metrics(self, probs: list[list[float]] | None, held: list[Row], labels: list[str]) -> dict[str, Any] | None:
        if probs is None:
            return None
        scored = [{"reference": LABELS[y], "prediction": labels[max(range(len(p)), key=p.__getitem__)]}
                  for (_, y), p in zip(held, probs)]
        corpus, order, confusion = evaluation._sentiment_metrics(scored)
        return {**corpus, "labels": order, "confusion": confusion}

    def _execute(self) -> FineTuneResult:
        s, st = self.settings, self._state
        st["phase"] = "preparing"
        if self.rows is not None:
            train, held = fm.split_rows(self.rows, s.examples, s.held_out, s.seed)
        else:
            n_held = held_count(s.examples, s.held_out)
            train, held = fm.draw_pool(POOLS[self.source], s.examples - n_held, n_held, s.seed)
        base, lang = sentiment.model_for(" ".join(t for t, _ in (train + held)[:20])[:2000], self.profile)
        labels = base.labels
        if set(LABELS) - set(labels):
            raise InputError("ft_bad_labels", labels=", ".join(labels))
        start_model = fs.starting(base, s.start, s.seed)  # what "before" means: the same seed's head
        model, params = fm.build(base, s.layers, s.start, s.seed)
        loaded = fm.wrap(base, model)
        target = {lab: labels.index(lab) for lab in LABELS}
        held_texts = [t for t, _ in held]

        st["phase"] = "before"
        t0 = time.perf_counter()
        before_scored = fs.score(start_model, held_texts, self.stop_event.is_set)
        before, self._stopped = (None, True) if before_scored is None else (before_scored[0].tolist(), False)
        eval_s = time.perf_counter() - t0
        st["eval_seconds"] = eval_s
        per_epoch = math.ceil(len(train) / BATCH_SIZE)
        total = per_epoch * s.epochs if before is not None else 0
        st["total"] = total
        losses: list[float] = []
        train_s, step, seen = 0.0, 0, 0
        if total:
            st["phase"] = "training"
            losses, train_s, step, seen = self._train(loaded, params, train, target, total, eval_s)
        for p in params:
            p.requires_grad_(False)
        model.eval()
        st["phase"] = "after"
        t1 = time.perf_counter()
        after_scored = fs.score(loaded, held_texts) if step else before_scored
        after = None if after_scored is None else after_scored[0].tolist()
        eval_s += time.perf_counter() - t1
        pos = {lab: labels.index(lab) for lab in LABELS}
        rows = [{"text": t[:300], "label": LABELS[y], "p_before": None if before is None else before[i][pos[LABELS[y]]],
                 "p_after": None if after is None else after[i][pos[LABELS[y]]]} for i, (t, y) in enumerate(held)]
        gold = [LABELS[y] for _, y in held]
        sentences = None if before_scored is None or after_scored is None else {
            "labels": gold, "before": fs.sentence_map(before_scored[1], gold), "after": fs.sentence_map(after_scored[1], gold)}
        count = lambda part: {lab: sum(1 for _, y in part if LABELS[y] == lab) for lab in LABELS}  # noqa: E731
        result = FineTuneResult(
            settings=s.to_dict(), source=self.source, model=base.spec.display, language=str(lang.get("code", "")),
            data={"train": len(train), "held_out": len(held), "train_labels": count(train), "held_out_labels": count(held)},
            steps=step, total_steps=total, loss=losses, loss_smoothed=smooth(losses),
            before=self._metrics(before, held, labels), after=self._metrics(after, held, labels), rows=rows,
            estimate_seconds=st["estimate_seconds"],
            seconds={"total": time.perf_counter() - self._started, "train": train_s, "evaluate": eval_s},
            examples_per_second=seen / train_s if train_s else None,
            stopped=self._stopped, trainable_parameters=sum(p.numel() for p in params),
            total_parameters=sum(p.numel() for p in model.parameters()), sentences=sentences,
            own_bytes=fm.own_bytes(model, base.model) + fm.own_bytes(start_model.model, base.model),
        )
        with _jobs_lock:  # forget() sets discard under this lock: a visitor who left gets nothing stored
            if not self.discard:
                fm.STORE.put(fm.FineTuned(owner=self.owner, loaded=loaded, base=base, report=result.to_dict(),
                                          nbytes=result.own_bytes, start=start_model))
        return result

    def _train(self, loaded: models.LoadedModel, params: list[torch.nn.Parameter], train: list[Row],
               target: dict[str, int], total: int, eval_s: float) -> tuple[list[float], float, int, int]:
        """AdamW over ``train`` (shuffled each epoch with the seed); returns the losses, the
        seconds, the steps done and the rows trained on. The time estimate is the first step's
        measured seconds x the steps + the after-score's seconds, set before the second step (the
        first step's time includes any one-time warm-up, so it errs long; the snapshot's
        ``left_seconds`` follows the mean step time from then on)."""
        from transformers import get_linear_schedule_with_warmup

        s, st, model, tok = self.settings, self._state, loaded.model, loaded.tokenizer
        head = {id(p) for n, p in model.named_parameters() if n in fm.head_names(model)}
        factor = HEAD_LR_FACTOR if s.start == "pretrained" else 1.0
        groups = [{"params": [p for p in params if id(p) in head], "lr": s.learning_rate * factor},
                  {"params": [p for p in params if id(p) not in head], "lr": s.learning_rate}]
        opt = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=0.01)
        sched = get_linear_schedule_with_warmup(opt, int(0.06 * total), total)
        losses: list[float] = []
        rng = random.Random(s.seed)
        started, step, seen = time.perf_counter(), 0, 0
        model.train()
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(s.seed)  # dropout
            for _ in range(s.epochs):
                order = train[:]
                rng.shuffle(order)
                for i in range(0, len(order), BATCH_SIZE):
                    if self.stop_event.is_set():
                        self._stopped = True
                        return losses, time.perf_counter() - started, step, seen
                    priority.give_way()
                    batch = order[i:i + BATCH_SIZE]
                    t0 = time.perf_counter()
                    enc = tok([t for t, _ in batch], truncation=True, max_length=TRAIN_MAX_TOKENS, padding=True,
                              return_tensors="pt").to(loaded.device)
                    gold = torch.tensor([target[LABELS[y]] for _, y in batch], device=loaded.device)
                    with models.guard_oom():
                        out = model(**enc, labels=gold)
                        out.loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    opt.step()
                    sched.step()
                    opt.zero_grad(set_to_none=True)
                    if step == 0:
                        st["estimate_seconds"] = (time.perf_counter() - t0) * total + eval_s
                    step += 1
                    seen += len(batch)
                    loss = float(out.loss.item())
                    losses.append(loss)
                    st.update(step=step, loss=losses[:], step_seconds=(time.perf_counter() - started) / step)
                    if self.progress is not None:
                        self.progress(step, total, loss)
        return losses, time.perf_counter() - started, step, seen


# ---- Public API ----------------------------------------------------------------------------------


def train(owner: str, settings: FineTuneSettings | None = None, source: str = "tweets-en",
          rows: Sequence[dict[str, Any]] | None = None, profile: str | None = None, progress: Progress | None = None,
          stop: threading.Event | None = None) -> FineTuneResult:
    """Fine-tune in this thread on the pool ``source`` (:data:`POOLS`) or on ``rows``
    ({"text", "label"} dicts, e.g. :func:`rows_from_upload`'s) and keep the model for ``owner``;
    ``progress(step, total, loss)`` after every step. Returns the report."""
    return FineTuneJob(owner, settings or FineTuneSettings(), source, rows, profile, progress, stop).run()


def start(owner: str, settings: FineTuneSettings | None = None, source: str = "tweets-en",
          rows: Sequence[dict[str, Any]] | None = None, profile: str | None = None, progress: Progress | None = None,
          stop: threading.Event | None = None) -> FineTuneJob:
    """:func:`train` in a thread of its own; the job's snapshot() is what a page polls."""
    job = FineTuneJob(owner, settings or FineTuneSettings(), source, rows, profile, progress, stop)

    def work() -> None:
        with contextlib.suppress(BaseException):  # kept on the job: wait() re-raises it
            job.run()

    threading.Thread(target=work, name="finetune", daemon=True).start()
    return job


def running(owner: str) -> FineTuneJob | None:
    """``owner``'s training in progress, or None."""
    with _jobs_lock:
        return _jobs.get(owner)


def get(owner: str) -> fm.FineTuned | None:
    """``owner``'s fine-tuned model, or None: no other visitor's model is ever returned."""
    return fm.STORE.get(owner)


def _own(owner: str) -> fm.FineTuned:
    item = get(owner)
    if item is None:
        raise InputError("ft_no_model")
    return item


def forget(owner: str) -> None:
    """The visitor left: stop their training and drop their model (its memory is freed)."""
    with _jobs_lock:
        job = _jobs.get(owner)
        if job is not None:
            job.discard = True
    if job is not None:
        job.stop()
    fm.STORE.forget(owner)


def save(owner: str, folder: str | Path) -> Path:
    """``owner``'s model written for download (finetune_models.save)."""
    return fm.save(_own(owner), folder)


def subject(owner: str, value: str, before: bool = False) -> Any:
    """The Subject of ``value`` on ``owner``'s model (``before``: as training found it), for
    :func:`playground.explain.explain`."""
    return fm.subject(_own(owner), value, before)


def predict(owner: str, value: str, before: bool = False) -> dict[str, Any]:
    """``owner``'s model's label and probabilities, in :func:`sentiment.predict`'s shape."""
    return fm.predict(_own(owner), value, before)


def analyse(owner: str, value: str) -> dict[str, Any]:  # sentiment.analyse's label and attention
    return fm.analyse(_own(owner), value)


def compare(owner: str, value: str, profile: str | None = None) -> dict[str, Any]:
    """For ``value``: ``{"default": the app's answer, "start": the model as training found it,
    "finetuned": owner's model}`` (start and default are one model when training started from it)."""
    return {"default": sentiment.predict(value, profile), "start": predict(owner, value, True),
            "finetuned": predict(owner, value)}


__all__ = ["BATCH_SIZE", "MAX_RUNNING", "POOLS", "FineTuneJob", "FineTuneResult", "FineTuneSettings", "analyse", "compare",
           "forget", "get", "predict", "rows_from_upload", "running", "save", "smooth", "start", "subject", "train"]
