"""The rows an evaluation runs on: the bundled sets in ``assets/eval`` (:data:`SETS`) and files a
user uploads (:func:`parse_upload`), both as plain dicts with the same columns per task.

=============  ===================================================================
task           columns of a row
=============  ===================================================================
sentiment      ``text``, ``label`` ("positive" / "negative", normalised)
qa             ``question``, ``context``, ``answers`` (a list; empty: no answer)
summarization  ``text``, ``summary``
translation    ``source``, ``reference`` (the target language is the run's option)
=============  ===================================================================

Bundled rows may also carry ``id`` and ``lang``. Every problem with an upload is an
:class:`~playground.errors.InputError` whose key starts with ``eval_`` and names the line and the
column, so the page can say exactly what to fix. No gradio and no model code here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from . import metrics
from .errors import InputError

TASKS: tuple[str, ...] = ("sentiment", "qa", "summarization", "translation")
COLUMNS: dict[str, tuple[str, ...]] = {
    "sentiment": ("text", "label"),
    "qa": ("question", "context", "answers"),
    "summarization": ("text", "summary"),
    "translation": ("source", "reference"),
}
# Columns that may be empty: an empty ``answers`` marks a question the context does not answer.
OPTIONAL_EMPTY: frozenset[str] = frozenset({"answers"})
LABELS: tuple[str, ...] = ("negative", "positive")  # the fixed order of the confusion matrix
# What a user may write for each label (compared lower-cased and stripped): spreadsheets and
# Chinese datasets use all of these.
LABEL_ALIASES: dict[str, str] = {
    **dict.fromkeys(("positive", "pos", "1", "正面", "积极"), "positive"),
    **dict.fromkeys(("negative", "neg", "0", "负面", "消极"), "negative"),
}
# Bounds of one upload. They live here rather than in playground/limits.py because they bound
# only this feature's files (nothing else reads them). 500 rows keep a run on the offline
# decoders (about 1-2 s a row on 2 CPU cores) within minutes; 1 MB holds 500 rows of QA contexts.
MAX_UPLOAD_BYTES = 1_000_000
MAX_UPLOAD_ROWS = 500
EXTENSIONS: tuple[str, ...] = (".csv", ".tsv", ".jsonl")


@dataclass(frozen=True)
class EvalSet:
    """A bundled evaluation set: its task, the language of its inputs, the message key that
    describes it, the translation target (translation only) and how to read its rows."""

    name: str
    task: str
    language: str
    description: str
    load: Callable[[], list[dict[str, Any]]]
    target: str | None = None

    def rows(self) -> list[dict[str, Any]]:
        """The set's rows (read from disk each time: the files are small)."""
        return self.load()


def normalise_label(value: object) -> str | None:
    """"positive" / "negative" for any of :data:`LABEL_ALIASES` (case-insensitive), else None."""
    return LABEL_ALIASES.get(str(value).strip().lower())


def _sentiment_tsv(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [{"text": r["text"].strip(), "label": normalise_label(r["label"]) or r["label"]}
                for r in csv.DictReader(fh, delimiter="\t") if r.get("text", "").strip()]


def _qa_jsonl(lang: str) -> list[dict[str, Any]]:
    items = metrics.load_jsonl(metrics.EVAL_DIR / "qa.jsonl")
    return [{"id": it["id"], "question": it["question"], "context": it["context"],
             "answers": list(it["answers"]), "lang": it.get("lang") or "en"}
            for it in items if (it.get("lang") or "en") == lang]


def _summaries_jsonl(lang: str) -> list[dict[str, Any]]:
    items = metrics.load_jsonl(metrics.EVAL_DIR / "summaries.jsonl")
    return [{"id": it["id"], "text": it["text"], "summary": it["reference"], "lang": it.get("lang") or "en"}
            for it in items if (it.get("lang") or "en") == lang]


def _translation_tsv(source: str, target: str) -> list[dict[str, Any]]:
    pairs = metrics.load_pairs(metrics.EVAL_DIR / f"translation_{source}-{target}.tsv")
    return [{"source": s, "reference": r, "lang": source} for s, r in pairs]


def _set(name: str, task: str, lang: str, load: Callable[[], list[dict[str, Any]]], target: str | None = None) -> EvalSet:
    return EvalSet(name, task, lang, "eval_set_" + name.replace("-", "_"), load, target)


SETS: dict[str, EvalSet] = {s.name: s for s in (
    _set("sentiment-en", "sentiment", "en", partial(_sentiment_tsv, metrics.EVAL_DIR / "sentiment_handwritten.tsv")),
    _set("sentiment-zh", "sentiment", "zh", partial(_sentiment_tsv, metrics.EVAL_DIR / "sentiment_zh_handwritten.tsv")),
    _set("qa-en", "qa", "en", partial(_qa_jsonl, "en")),
    _set("qa-zh", "qa", "zh", partial(_qa_jsonl, "zh")),
    _set("summaries-en", "summarization", "en", partial(_summaries_jsonl, "en")),
    _set("summaries-zh", "summarization", "zh", partial(_summaries_jsonl, "zh")),
    _set("translation-en-zh", "translation", "en", partial(_translation_tsv, "en", "zh"), "zh"),
    _set("translation-en-fr", "translation", "en", partial(_translation_tsv, "en", "fr"), "fr"),
    _set("translation-en-de", "translation", "en", partial(_translation_tsv, "en", "de"), "de"),
    _set("translation-zh-en", "translation", "zh", partial(_translation_tsv, "zh", "en"), "en"),
)}


def check_task(task: object) -> str:
    """``task`` if an evaluation can run it, else InputError ``eval_bad_task``."""
    if task not in TASKS:
        raise InputError("eval_bad_task", task=str(task)[:40], tasks=", ".join(TASKS))
    return str(task)


def sets_for(task: str) -> list[EvalSet]:
    """The bundled sets of ``task``, in :data:`SETS` order."""
    check_task(task)
    return [s for s in SETS.values() if s.task == task]


def get_set(name: str) -> EvalSet:
    """The bundled set ``name``, or InputError ``eval_bad_set``."""
    if name not in SETS:
        raise InputError("eval_bad_set", name=str(name)[:60], names=", ".join(SETS))
    return SETS[name]


# ---- Uploads -----------------------------------------------------------------------------------


def _decode(filename: str, data: bytes) -> tuple[str, str]:
    """The file's extension and its text, or the InputError that says why it cannot be read."""
    ext = Path(str(filename)).suffix.lower()
    if ext not in EXTENSIONS:
        raise InputError("eval_bad_extension", name=Path(str(filename)).name[:80], allowed=", ".join(EXTENSIONS))
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError("eval_too_large", size=len(data), limit=MAX_UPLOAD_BYTES)
    try:
        body = data.decode("utf-8-sig")  # a BOM, as Excel writes "CSV UTF-8", is not part of the header
    except UnicodeDecodeError as exc:
        raise InputError("eval_not_utf8", position=exc.start) from None
    if not body.strip():
        raise InputError("eval_empty")
    return ext, body


def _csv_records(body: str, delimiter: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """(line, {column: value}) per data row of a CSV/TSV file with a header."""
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
        missing = [c for c in columns if c not in header]
        if missing:
            raise InputError("eval_missing_column", column=missing[0], columns=", ".join(columns))
        out = []
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue  # blank lines (a trailing newline, a spreadsheet's empty rows)
            if len(fields) != len(header):
                raise InputError("eval_field_count", line=reader.line_num, n=len(fields), expected=len(header))
            out.append((reader.line_num, dict(zip(header, fields))))
    except csv.Error:
        raise InputError("eval_bad_csv", line=reader.line_num) from None
    return out


def _jsonl_records(body: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """(line, object) per non-blank line of a JSONL file; every object has every column."""
    out = []
    for line, raw in enumerate(body.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            raise InputError("eval_bad_json", line=line) from None
        if not isinstance(obj, dict):
            raise InputError("eval_not_object", line=line)
        obj = {str(k).strip().lower(): v for k, v in obj.items()}
        # An absent answers key reads as "no answer", as an empty cell does in a CSV.
        missing = [c for c in columns if c not in obj and c not in OPTIONAL_EMPTY]
        if missing:
            raise InputError("eval_missing_key", line=line, column=missing[0], columns=", ".join(columns))
        out.append((line, obj))
    return out


def _answers(value: Any, line: int) -> list[str]:
    """QA answers from a JSON list, a JSON-list string (a CSV cell), one string, or nothing."""
    if value is None:
        return []
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return []
        if not s.startswith("["):
            return [s]
        try:
            value = json.loads(s)
        except json.JSONDecodeError:
            raise InputError("eval_bad_answers", line=line) from None
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise InputError("eval_bad_answers", line=line)
    return [a.strip() for a in value if a.strip()]


def _row(task: str, line: int, record: dict[str, Any]) -> dict[str, Any]:
    """One validated row of ``task`` from a record of the file."""
    row: dict[str, Any] = {"line": line}
    for column in COLUMNS[task]:
        value = record.get(column)
        if column == "answers":
            row[column] = _answers(value, line)
            continue
        if column == "label" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(int(value)) if float(value).is_integer() else str(value)  # JSON 1 / 0
        if not isinstance(value, str):
            raise InputError("eval_not_text", line=line, column=column)
        if not value.strip():
            raise InputError("eval_empty_field", line=line, column=column)
        row[column] = value.strip()
    if task == "sentiment":
        label = normalise_label(row["label"])
        if label is None:
            raise InputError("eval_bad_label", line=line, label=row["label"][:40],
                             labels="positive / negative, pos / neg, 1 / 0, 正面 / 负面, 积极 / 消极")
        row["label"] = label
    return row


def parse_upload(task: str, filename: str, data: bytes, target: str | None = None) -> list[dict[str, Any]]:
    """The rows of an uploaded file for ``task``: CSV (comma) or TSV (tab) with a header row, or
    JSONL (one object per line), UTF-8, at most :data:`MAX_UPLOAD_BYTES` bytes and
    :data:`MAX_UPLOAD_ROWS` rows. Columns per task: :data:`COLUMNS` (names compared lower-cased;
    others are ignored). Each row also says its ``line`` in the file (CSV: the spreadsheet's row
    number, the header being line 1). ``target`` (translation) is checked here so that a wrong
    one is said before the file is read. Raises InputError ``eval_*`` naming the line and column
    of the first problem."""
    task = check_task(task)
    if task == "translation" and target is not None:
        from .tasks import translation  # model-free, but imports torch: only when asked

        translation.check_target(target)
    ext, body = _decode(filename, data)
    columns = COLUMNS[task]
    if ext == ".jsonl":
        records = _jsonl_records(body, columns)
    else:
        records = _csv_records(body, "\t" if ext == ".tsv" else ",", columns)
    if not records:
        raise InputError("eval_no_rows")
    if len(records) > MAX_UPLOAD_ROWS:
        raise InputError("eval_too_many_rows", n=len(records), limit=MAX_UPLOAD_ROWS)
    return [_row(task, line, rec) for line, rec in records]


__all__ = ["COLUMNS", "EXTENSIONS", "LABELS", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_ROWS", "SETS", "TASKS", "EvalSet",
           "check_task", "get_set", "normalise_label", "parse_upload", "sets_for"]
