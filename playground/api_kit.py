"""The classroom kit's endpoints: evaluate a model on a set of examples, and look at its word
embeddings. Plain documented functions returning JSON-serialisable dicts, listed with every other
endpoint in :data:`playground.api.ENDPOINTS` (``/evaluate``, ``/embeddings``)."""

from __future__ import annotations

from typing import Any

from . import config
from . import embeddings as _embeddings
from . import evaluation as _evaluation
from . import whatif as _whatif
from .errors import InputError


def evaluate(task: str, dataset: str = "", upload: str = "", upload_name: str = "rows.csv", model: str = "",
             target: str = "", limit: int = 0) -> dict[str, Any]:
    """Run a model over a set of examples and score it.

    Args:
        task: "sentiment", "qa", "summarization" or "translation".
        dataset: a bundled set ("sentiment-en", "sentiment-zh", "qa-en", "qa-zh", "summaries-en",
            "summaries-zh", "translation-en-zh", "translation-en-fr", "translation-en-de",
            "translation-zh-en"); "" when ``upload`` is given.
        upload: the text of a CSV (with a header) or JSONL file, at most 1 MB and 500 rows. Columns:
            sentiment text,label; qa question,context,answers (a JSON list, one string, or empty:
            no answer); summarization text,summary; translation source,reference.
        upload_name: the upload's file name; its extension (.csv, .tsv, .jsonl) says how to read it.
        model: a model key ("" or "auto": each row's model chosen as the task's tab chooses it).
        target: translation's target language for an upload ("zh", "fr", "de", "en"; "" = "zh").
        limit: score only the first ``limit`` rows (0: all).

    Returns:
        ``{"task", "target", "models", "n", "scored", "errors", "stopped", "seconds", "metrics",
        "labels", "confusion", "rows"}``: metrics on a 0-100 scale (sentiment accuracy and
        macro_f1, with the confusion matrix, gold rows x predicted columns; qa exact_match and f1;
        summaries rouge_l; translation chrf and bleu); ``rows`` worst first, each with its inputs,
        reference, prediction, own score and ``wrongness`` (0-1).
    """
    rows, target = dataset_rows(task, dataset, upload.encode("utf-8") if upload else b"", upload_name, target)
    n = int(limit or 0)
    return _evaluation.evaluate(task, rows[:n] if n > 0 else rows, model or None, target or None).to_dict()


def dataset_rows(task: str, dataset: str, data: bytes, filename: str, target: str) -> tuple[list[dict[str, Any]], str]:
    """The rows to evaluate and the translation target: a bundled set's (it must be of ``task``)
    or an upload's (``data`` parsed as ``filename`` says)."""
    task = _evaluation.check_task(task)
    if data:
        return _evaluation.parse_upload(task, filename or "rows.csv", data, target or None), target
    if not dataset:
        raise InputError("eval_no_rows")
    chosen = _evaluation.get_set(dataset)
    if chosen.task != task:
        raise InputError("eval_bad_set", name=str(dataset)[:60],
                         names=", ".join(s.name for s in _evaluation.sets_for(task)))
    return chosen.rows(), chosen.target or target


def embeddings(text: str, task: str = "sentiment", model: str = "", layer: int = -1, word: str = "",
               k: int = 8) -> dict[str, Any]:
    """A model's word embeddings for a text: each word's input embedding and its hidden state after
    a layer, projected to 2-D, the cosine similarity between the words, and one word's nearest
    pieces in the model's vocabulary.

    Args:
        text: the text (its words are the points; Chinese grouped into words).
        task: whose model: "sentiment", "generation", "summarization", "translation" or "qa".
        model: a model key of that task ("" or "auto": as the task chooses for the text's language).
        layer: 0 (the embedding layer's output) to the model's number of layers; -1: the last.
        word: the word whose neighbours are listed ("": the first content word of the text).
        k: how many neighbours (1-50).

    Returns:
        ``{"task", "model", "words", "layer", "n_layers", "points_input", "points_hidden",
        "explained_variance", "cosine_input", "cosine_hidden", "neighbours_of", "neighbours", ...}``.
    """
    chosen = None if layer is None or (isinstance(layer, (int, float)) and not isinstance(layer, bool) and layer < 0) else layer
    return _embeddings.embed(task, text, model or None, chosen, neighbours_of=word or None, k=k).to_dict()


def what_if(task: str, text: str, word: str, replacement: str = "", question: str = "", target: str = "zh",
            model: str = "") -> dict[str, Any]:
    """Remove or replace one word of the input and see the same answer's value change (a minimal pair).

    Args:
        task: "sentiment", "generation", "summarization", "translation" or "qa".
        text: the input (the prompt, the source text, or for "qa" the context).
        word: a word of the input ("word#2": its second occurrence).
        replacement: the word to put in its place ("": remove the word).
        question: the question ("qa" only).
        target: the target language ("translation" only: "zh", "fr", "de" or "en").
        model: a model key ("" or "auto": as the task chooses).

    Returns:
        ``{"word", "action", "texts_before", "texts_after", "targets": [{"label", "text", "before", "after",
        "change"}], "target_kind", "result"}``: the values are class probabilities (sentiment) or the
        log-probability of the same output (the others: greedy output on the original input).
    """
    from .tasks import generation, qa, sentiment, seq2seq, summarization, translation

    key = model or None
    if task == "sentiment":
        subject, result = sentiment.subject(text), None
    elif task == "generation":
        result = generation.generate(text, model_key=key, temperature=0.0)
        subject = generation.subject(result)
    elif task == "summarization":
        result = summarization.summarize(text, key)
        subject = seq2seq.subject(result)
    elif task == "translation":
        result = translation.translate(text, target, key)
        subject = seq2seq.subject(result)
    elif task == "qa":
        result = qa.answer(question, text, key)
        subject = qa.subject(result)
    else:
        raise InputError("whatif_bad_task", task=str(task)[:40], tasks=", ".join(config.TASKS))
    out = _whatif.what_if(subject, word, replacement)
    out["result"] = result.to_dict() if result is not None else None
    return out


def finetune(source: str = "tweets-en", upload: str = "", upload_name: str = "rows.csv", examples: int = 300,
             epochs: int = 2, learning_rate: float = 2e-4, layers: str = "top2", start: str = "pretrained",
             seed: int = 13) -> dict[str, Any]:
    """Fine-tune the sentiment model's pre-trained encoder on labelled examples; held-out scores before and after.

    Args:
        source: a bundled labelled set ("tweets-en", "reviews-zh"), or "upload".
        upload: for "upload", the text of a CSV (text,label) or JSONL file (at most 1 MB).
        upload_name: the upload's file name (.csv, .tsv or .jsonl).
        examples: examples drawn (20-1000); a third is held out, never trained on, for the score.
        epochs: passes over the training examples (1-5).
        learning_rate: AdamW's learning rate (1e-6 to 1e-2).
        layers: what trains: "head", "top2", "top4" or "all".
        start: "pretrained" (the encoder with a new, untrained head) or "shipped" (the app's model).
        seed: the draw, the order and the new head.

    Returns:
        ``{"settings", "data", "steps", "loss", "loss_smoothed", "before": {"accuracy", "macro_f1",
        "confusion", "labels"}, "after": {...}, "rows", "sentences": {"labels", "before": {"points",
        "shares", "separation"}, "after": {...}}, "seconds", "examples_per_second", ...}``. The model
        trained for the call is dropped afterwards: the Fine-tune tab keeps one per visitor.
    """
    import uuid

    from . import finetune as _finetune

    settings = _finetune.FineTuneSettings(examples=examples, epochs=epochs, learning_rate=learning_rate, layers=layers,
                                          start=start, seed=seed)
    rows = _finetune.rows_from_upload(upload_name, upload.encode("utf-8")) if source == "upload" else None
    owner = f"api-{uuid.uuid4().hex}"
    try:
        return _finetune.train(owner, settings, source, rows).to_dict()
    finally:
        _finetune.forget(owner)


# The kit's endpoints, listed in playground.api.ENDPOINTS with the tasks' own.
KIT_ENDPOINTS = {"evaluate": evaluate, "embeddings": embeddings, "what_if": what_if, "finetune": finetune}

__all__ = ["KIT_ENDPOINTS", "dataset_rows", "embeddings", "evaluate", "finetune", "what_if"]
