"""Offline scoring for the summarization, translation and question-answering tasks.

Computed on this machine by the metric packages themselves (nothing is downloaded at run time;
the project machines reach no model hub):

- summarization: ROUGE-L F-measure (``rouge-score``; Porter stemming for English, characters as
  tokens for Chinese), :func:`rouge_l`;
- translation: corpus BLEU and chrF (``sacrebleu``), :func:`bleu` and :func:`chrf`;
- extractive QA: SQuAD v2 exact match / F1 with no-answer questions and character-level
  tokenisation for Chinese, :func:`squad_scores`.

All scores are on a 0-100 scale. The hand-written evaluation sets live in ``assets/eval``; read them
with :func:`load_jsonl` (summaries, QA) and :func:`load_pairs` (translation TSVs). Nothing here
imports gradio or model code, and the metric packages are imported on first use, not at import.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

EVAL_DIR = Path(__file__).resolve().parent.parent / "assets" / "eval"

__all__ = [
    "EVAL_DIR",
    "bleu",
    "chrf",
    "has_cjk",
    "load_jsonl",
    "load_pairs",
    "normalize_answer",
    "qa_tokens",
    "rouge_l",
    "squad_scores",
]


def _check_pair(predictions: Sequence[str], references: Sequence[Any], what: str = "references") -> None:
    """Raise ``ValueError`` unless both lists are non-empty and of the same length."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} {what}")
    if not predictions:
        raise ValueError("nothing to score: predictions is empty")
    for p in predictions:
        if not isinstance(p, str):
            raise TypeError(f"predictions must be strings, got {type(p).__name__}")


# --- Summarization -----------------------------------------------------------------------------


class _CharTokenizer:
    """rouge-score tokenizer for Chinese: every CJK character is a token, other runs are split on
    whitespace and lower-cased, punctuation dropped (:func:`qa_tokens` with ``chinese=True``)."""

    def tokenize(self, text: str) -> list[str]:
        return qa_tokens(text, chinese=True)


@lru_cache(maxsize=2)
def _rouge_scorer(chinese: bool = False) -> Any:
    from rouge_score import (
        rouge_scorer,  # imports nltk's Porter stemmer; needs no nltk data
    )

    if chinese:
        return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_CharTokenizer())
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(predictions: list[str], references: list[str], lang: str = "en") -> float:
    """Mean sentence-level ROUGE-L F-measure x 100 over aligned prediction/reference pairs.

    English (and other Latin-script text): ``rouge_score.rouge_scorer.RougeScorer(["rougeL"],
    use_stemmer=True)``. Its tokenizer keeps only ``[a-z0-9]`` runs, so a Chinese text has no
    tokens under it and every Chinese summary would score 0. For ``lang`` "zh" (also "zh-CN", ...)
    the tokens are Chinese characters instead (:func:`qa_tokens` with ``chinese=True``: each CJK
    character a token, runs of Latin letters and digits whole, punctuation dropped; no stemming),
    as Chinese ROUGE is usually computed (LCSTS and the CLTS papers score characters).
    """
    _check_pair(predictions, references)
    scorer = _rouge_scorer(_lang_is_zh(lang))
    total = sum(scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references))
    return 100.0 * total / len(predictions)


# --- Translation -------------------------------------------------------------------------------


def _lang_is_zh(code: str) -> bool:
    """Whether a language code names Chinese ("zh", "zh-CN", "zh_Hans", ...)."""
    return code.strip().lower().replace("_", "-").split("-")[0] == "zh"


def _bleu_tokenize(target: str) -> str:
    """sacrebleu tokenizer for a target language code: ``"zh"`` for Chinese, else ``"13a"``."""
    return "zh" if _lang_is_zh(target) else "13a"


@lru_cache(maxsize=4)
def _bleu_metric(tokenize: str) -> Any:
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize=tokenize)


@lru_cache(maxsize=1)
def _chrf_metric() -> Any:
    from sacrebleu.metrics import CHRF

    return CHRF()


def bleu(predictions: list[str], references: list[str], target: str) -> float:
    """Corpus-level BLEU (sacrebleu, one reference per sentence), 0-100.

    ``target`` is the language code of the translations: ``"zh"`` (also ``"zh-CN"``, ``"zh_Hans"``)
    selects sacrebleu's Chinese tokenizer, which splits Chinese characters apart (without it a
    Chinese sentence is one "word" and BLEU is near 0 unless the sentence matches exactly); every
    other target uses the default ``"13a"`` tokenizer.
    """
    _check_pair(predictions, references)
    result = _bleu_metric(_bleu_tokenize(target)).corpus_score(list(predictions), [list(references)])
    return float(result.score)


def chrf(predictions: list[str], references: list[str]) -> float:
    """Corpus-level chrF (sacrebleu defaults: character 6-grams, beta 2), 0-100. Works on
    characters, so it needs no language-specific tokenizer."""
    _check_pair(predictions, references)
    return float(_chrf_metric().corpus_score(list(predictions), [list(references)]).score)


# --- Extractive question answering -------------------------------------------------------------
#
# Written by hand rather than with torchmetrics.functional.text.squad: that function implements
# SQuAD v1.1 only (an item with no gold answers makes its max() over answers raise), and it always
# tokenises on whitespace, which turns a whole Chinese answer into one token (F1 is then 0 or 1).
# The English path below follows the official SQuAD v2.0 evaluation script line for line.

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
# The CJK ideograph blocks that BERT's (and the CMRC 2018 evaluation's) tokenizer treats as Chinese.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def has_cjk(text: str) -> bool:
    """Whether ``text`` contains at least one CJK ideograph."""
    return any(_is_cjk(ch) for ch in text)


def _is_punct(ch: str) -> bool:
    """ASCII punctuation plus every Unicode punctuation or symbol (，。？！“”《》、（）～ ...)."""
    return ch in _PUNCT or unicodedata.category(ch)[0] in "PS"


def normalize_answer(text: str) -> str:
    """The official SQuAD normalisation: lower-case, drop ASCII punctuation, drop the articles
    a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def qa_tokens(text: str, chinese: bool = False) -> list[str]:
    """Tokens compared by the QA metrics.

    English: the whitespace tokens of :func:`normalize_answer`. Chinese (``chinese=True``): as in
    the CMRC 2018 evaluation's mixed segmentation, every CJK character is a token, runs of other
    characters are split on whitespace, text is lower-cased and punctuation (ASCII and full-width)
    is removed; articles are kept.
    """
    if not chinese:
        return normalize_answer(text).split()
    tokens: list[str] = []
    run: list[str] = []
    for ch in text.lower():
        if _is_cjk(ch) or ch.isspace() or _is_punct(ch):
            if run:
                tokens.append("".join(run))
                run = []
            if _is_cjk(ch):
                tokens.append(ch)
        else:
            run.append(ch)
    if run:
        tokens.append("".join(run))
    return tokens


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    """SQuAD token-overlap F1; if either side is empty, 1 when both are, else 0."""
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _mean_pct(values: list[float]) -> float | None:
    return 100.0 * sum(values) / len(values) if values else None


def squad_scores(predictions: list[str], answers: list[list[str]], langs: list[str] | None = None) -> dict:
    """SQuAD v2-style exact match and F1 (0-100) of predicted answer strings.

    ``answers[i]`` lists every acceptable answer to question ``i``; an item scores the max over
    them. ``answers[i] == []`` (or only answers that normalise to nothing) marks a question the
    context does not answer: the correct prediction is then the empty string (anything that
    normalises to empty, such as ``""`` or ``" ."``), which scores EM = F1 = 1; any other prediction
    scores 0. Likewise an empty prediction to an answerable question scores 0.

    An item is compared with Chinese character tokens (see :func:`qa_tokens`) when its
    ``langs[i]`` starts with ``"zh"`` or when the prediction or one of its answers contains a CJK
    character; otherwise with the official SQuAD normalisation. In Chinese mode EM means equal
    token sequences (so spaces and punctuation do not matter) and F1 is the SQuAD bag-of-tokens
    F1 over characters (CMRC 2018's own script uses the longest common substring instead).

    Returns ``exact_match``, ``f1`` and ``n`` over all items; ``has_answer_n`` with
    ``has_answer_exact_match`` / ``has_answer_f1``, and ``no_answer_n`` with ``no_answer_accuracy``
    (each ``None`` when there are no such items); ``per_item_exact_match`` and ``per_item_f1``
    (lists, 0 or 100 and 0-100).
    """
    _check_pair(predictions, answers, "answer lists")
    if langs is not None and len(langs) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions but {len(langs)} langs")
    ems: list[float] = []
    f1s: list[float] = []
    has_ans: list[int] = []
    no_ans: list[int] = []
    for i, (pred, golds) in enumerate(zip(predictions, answers)):
        if isinstance(golds, str):
            raise TypeError(f"answers[{i}] must be a list of strings, not a string")
        lang = (langs[i] if langs is not None else "") or ""
        chinese = lang.lower().startswith("zh") or has_cjk(pred) or any(has_cjk(g) for g in golds)
        pred_toks = qa_tokens(pred, chinese)
        gold_toks = [t for t in (qa_tokens(g, chinese) for g in golds) if t] or [[]]
        (has_ans if gold_toks != [[]] else no_ans).append(i)
        ems.append(max(float(pred_toks == g) for g in gold_toks))
        f1s.append(max(_f1(pred_toks, g) for g in gold_toks))
    return {
        "exact_match": _mean_pct(ems),
        "f1": _mean_pct(f1s),
        "n": len(ems),
        "has_answer_n": len(has_ans),
        "has_answer_exact_match": _mean_pct([ems[i] for i in has_ans]),
        "has_answer_f1": _mean_pct([f1s[i] for i in has_ans]),
        "no_answer_n": len(no_ans),
        "no_answer_accuracy": _mean_pct([ems[i] for i in no_ans]),
        "per_item_exact_match": [100.0 * v for v in ems],
        "per_item_f1": [100.0 * v for v in f1s],
    }


# --- Evaluation files --------------------------------------------------------------------------


def load_jsonl(path: str | Path) -> list[dict]:
    """One JSON object per non-blank line of a UTF-8 file (``summaries.jsonl``, ``qa.jsonl``).
    Raises ``ValueError`` naming the line of anything that is not a JSON object."""
    rows: list[dict] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def load_pairs(path: str | Path) -> list[tuple[str, str]]:
    """(source, reference) pairs from a UTF-8 TSV whose first line is a header
    (``english<TAB>reference``); blank lines are skipped. Raises ``ValueError`` naming the line of
    any row that does not have exactly two non-empty fields."""
    pairs: list[tuple[str, str]] = []
    with open(path, encoding="utf-8") as fh:
        lines = [line.rstrip("\r") for line in fh.read().split("\n")]
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise ValueError(f"{path}:{lineno}: expected 2 non-empty tab-separated fields, got {len(fields)}")
        pairs.append((fields[0].strip(), fields[1].strip()))
    return pairs
