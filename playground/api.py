"""Every endpoint of the app as a plain, documented function returning JSON-serialisable dicts.

The UI registers each entry of :data:`ENDPOINTS` with gradio in one loop (``/sentiment``,
``/generate_explain``, ...), so the API page and the MCP tool schemas show these docstrings;
import them from ``playground`` to use the app without a browser or gradio.

Every ``*_explain`` endpoint answers with one schema (:meth:`playground.explain.Explanation.to_dict`):
``{"task", "method", "model", "target", "units", "words": [{"text", "start", "end", "part"}],
"targets": [{"label", "text", "value"}], "matrix": [[one per word] per target], "scores",
"evaluations", "seconds", "options", "convergence", ..., "result": the task's own output}``.
Method names are the same for every task: ``attention``, ``gradient_x_input``,
``integrated_gradients``, ``feature_ablation``, ``lime``, ``shap``, ``kernel_shap``.

How far to trust it: every explanation carries ``"faithfulness"`` (comprehensiveness and
sufficiency per k % and as AOPC, the deletion and insertion curves, each against the mean of
random orders, the word removal used, and what the metrics cost: ``evaluations``, ``seconds``;
see :mod:`playground.explain.faithfulness`) and ``"stability"`` (deterministic, or for a
sampled method whether its budget settled and how well two independent runs agree). Each task's
``*_explain_all`` endpoint runs several methods on one input and adds ``"agreement"``: pairwise
Spearman and top-5 overlap of their word scores, and the pairs that disagree on the top words.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .errors import InputError
from .explain import METHODS, Progress, Subject, agreement_of, explain, get_method, methods_for
from .tasks import generation as _generation
from .tasks import qa as _qa
from .tasks import sentiment as _sentiment
from .tasks import seq2seq as _seq2seq
from .tasks import summarization as _summarization
from .tasks import translation as _translation

_GEN = _generation.options()


def _budgets(ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
             kernel_shap_samples: int | None = None, seed: int | None = None) -> dict[str, Any]:
    given = dict(ig_steps=ig_steps, lime_samples=lime_samples, shap_evals=shap_evals,
                 kernel_shap_samples=kernel_shap_samples, seed=seed)
    return {k: v for k, v in given.items() if v is not None}


def explain_subject(subject: Subject, method: str, options: dict[str, Any] | None = None, target: object = None,
                    units: str = "auto", progress: Progress | None = None,
                    stop: threading.Event | None = None) -> dict[str, Any]:
    """One method on a task's Subject, as the one explanation schema (what every ``*_explain``
    endpoint and every tab calls)."""
    return explain(subject, method, options, target=target, units=units, progress=progress, stop=stop).to_dict()


# ---- Sentiment --------------------------------------------------------------------------------


def sentiment(text: str) -> dict[str, Any]:
    """Classify the sentiment of a text.

    Args:
        text: the text (at most 2,000 characters; the model reads its first 256 tokens).

    Returns:
        ``{"label", "scores": {label: probability}, "model", "truncated"}``.
    """
    return _sentiment.predict(text)


def sentiment_explain(text: str, method: str = "integrated_gradients", target: str = "predicted",
                      ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
                      seed: int | None = None, units: str = "auto", kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Explain the sentiment of a text with one method.

    Args:
        text: the text to classify and explain.
        method: attention, gradient_x_input, integrated_gradients, feature_ablation, lime, shap or kernel_shap.
        target: "predicted" (default), a class name, or "all" (every class: one matrix row each).
        ig_steps: Integrated Gradients' steps (clamped to 4-256).
        lime_samples: LIME's samples (clamped to 20-5000).
        shap_evals: SHAP's model evaluations (clamped to 20-5000).
        seed: the sampling methods' seed.
        units: "auto" (sentences for long texts), "word" or "sentence".
        kernel_shap_samples: KernelSHAP's coalitions (clamped to 20-5000).

    Returns:
        The explanation schema (see the module docstring), ``result`` the prediction.
    """
    subject = _sentiment.subject(text)
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = explain_subject(subject, method, opts, target=target, units=units)
    out["result"] = {"label": subject.targets[subject.default_target].label,
                     "scores": {t.label: t.value for t in subject.targets}, "model": subject.model}
    return out


def method_list(methods: object = "") -> list[str] | None:
    """``"lime, shap"`` or ``["lime", "shap"]`` -> the registered names in registry order;
    empty -> None (every method). An unknown name is an InputError."""
    if methods is None or (isinstance(methods, str) and not methods.strip()):
        return None
    names = methods.split(",") if isinstance(methods, str) else list(methods)  # type: ignore[call-overload]
    chosen = {get_method(n).name for n in names if str(n).strip()}
    if not chosen:
        raise InputError("bad_method", name="", names=", ".join(METHODS))
    return [name for name in METHODS if name in chosen]


def explain_all(subject: Subject, methods: list[str] | None = None, options: dict[str, Any] | None = None,
                target: object = None, units: str = "auto", progress: Callable[[str], Progress] | None = None,
                stop: threading.Event | None = None) -> dict[str, Any]:
    """Several methods (default: every method the Subject supports; a named one it cannot run
    is an InputError) on one Subject, which they
    share with its scorer (a perturbation two of them ask for runs once), and how far they agree:
    ``{"explanations": {method: explanation}, "agreement": ...}``. ``progress(method)`` gives
    each method's progress callback."""
    names = list(methods) if methods else methods_for(subject)
    results = {name: explain_subject(subject, name, options, target=target, units=units,
                                     progress=progress(name) if progress else None, stop=stop) for name in names}
    return {"explanations": results, "agreement": agreement_of(results)}


def sentiment_explain_all(text: str, target: str = "predicted", units: str = "auto", methods: str = "",
                          ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
                          seed: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Explain the sentiment of a text with several methods, and how far they agree.

    Args:
        text: the text to classify and explain.
        target: "predicted", a class name or "all".
        units: "auto", "word" or "sentence".
        methods: comma-separated method names ("" for every method).
        ig_steps: Integrated Gradients' steps.
        lime_samples: LIME's samples.
        shap_evals: SHAP's evaluations.
        seed: the sampling methods' seed.
        kernel_shap_samples: KernelSHAP's coalitions.

    Returns:
        ``{"explanations": {method: explanation}, "agreement", "result"}``.
    """
    subject = _sentiment.subject(text)
    out = explain_all(subject, method_list(methods), _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples,
                                                              seed), target=target, units=units)
    out["result"] = {"label": subject.targets[subject.default_target].label,
                     "scores": {t.label: t.value for t in subject.targets}, "model": subject.model}
    return out


# ---- Generation -------------------------------------------------------------------------------


def generate(prompt: str, model: str = "", mode: str = "", max_new_tokens: int = _GEN.max_new_tokens,
             temperature: float = _GEN.temperature, top_k: int = _GEN.top_k, top_p: float = _GEN.top_p,
             repetition_penalty: float = _GEN.repetition_penalty, seed: int = _GEN.seed) -> dict[str, Any]:
    """Generate a continuation of a prompt.

    Args:
        prompt: the prompt (at most 2,000 characters).
        model: a model key of this profile ("" for the default).
        mode: "chat" (the model's chat template), "plain", or "" for the model's default.
        max_new_tokens: at most this many new tokens (1-256).
        temperature: 0 is greedy; up to 2.
        top_k: sample from the k most likely tokens (0: all).
        top_p: nucleus sampling threshold.
        repetition_penalty: 1 (none) to 2.
        seed: the sampling seed.

    Returns:
        ``{"text", "tokens", "token_ids", "steps": [next-token candidates per step], "stop_reason", "tokens_per_s", ...}``.
    """
    return _generation.generate(prompt, model_key=model or None, mode=mode or None, max_new_tokens=max_new_tokens,
                                temperature=temperature, top_k=top_k, top_p=top_p,
                                repetition_penalty=repetition_penalty, seed=seed).to_dict()


def generate_explain(prompt: str, method: str = "feature_ablation", model: str = "", mode: str = "",
                     max_new_tokens: int = 16, temperature: float = 0.0, seed: int = _GEN.seed, target: str = "output",
                     units: str = "auto", ig_steps: int | None = None, lime_samples: int | None = None,
                     shap_evals: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Generate, then explain the output by the prompt's words.

    Args:
        prompt: the prompt.
        method: attention, gradient_x_input, integrated_gradients, feature_ablation, lime, shap or kernel_shap.
        model: a model key ("" for the default).
        mode: "chat", "plain" or "".
        max_new_tokens: tokens to generate (1-256).
        temperature: 0 is greedy.
        seed: the sampling seed (and the sampling methods' seed).
        target: "output" (the whole output's log-probability), "word:i" (output word i) or "all".
        units: "auto", "word" or "sentence".
        ig_steps: Integrated Gradients' steps.
        lime_samples: LIME's samples.
        shap_evals: SHAP's evaluations.
        kernel_shap_samples: KernelSHAP's coalitions.

    Returns:
        The explanation schema, ``result`` the generation.
    """
    result = _generation.generate(prompt, model_key=model or None, mode=mode or None, max_new_tokens=max_new_tokens,
                                  temperature=temperature, seed=seed)
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = explain_subject(_generation.subject(result), method, opts, target=target, units=units)
    out["result"] = result.to_dict()
    return out


def generate_explain_all(prompt: str, model: str = "", mode: str = "", max_new_tokens: int = 16,
                         temperature: float = 0.0, seed: int = _GEN.seed, target: str = "output", units: str = "auto",
                         methods: str = "", ig_steps: int | None = None, lime_samples: int | None = None,
                         shap_evals: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Generate, then explain the output with several methods, and how far they agree.

    Args:
        prompt: the prompt.
        model: a model key ("" for the default).
        mode: "chat", "plain" or "".
        max_new_tokens: tokens to generate (1-256).
        temperature: 0 is greedy.
        seed: the sampling seed (and the sampling methods' seed).
        target: "output", "word:i" or "all".
        units: "auto", "word" or "sentence".
        methods: comma-separated method names ("" for every method).
        ig_steps: Integrated Gradients' steps.
        lime_samples: LIME's samples.
        shap_evals: SHAP's evaluations.
        kernel_shap_samples: KernelSHAP's coalitions.

    Returns:
        ``{"explanations": {method: explanation}, "agreement", "result"}``.
    """
    chosen = method_list(methods)
    result = _generation.generate(prompt, model_key=model or None, mode=mode or None, max_new_tokens=max_new_tokens,
                                  temperature=temperature, seed=seed)
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = explain_all(_generation.subject(result), chosen, opts, target=target, units=units)
    out["result"] = result.to_dict()
    return out


# ---- Summarization and translation ------------------------------------------------------------

_SUM = {name: o.default for name, o in _summarization.BOUNDS.items()}
_TR = {name: o.default for name, o in _translation.BOUNDS.items()}


def summarize(text: str, model: str = "", min_new_tokens: int = _SUM["min_new_tokens"],
              max_new_tokens: int = _SUM["max_new_tokens"]) -> dict[str, Any]:
    """Summarize an English text.

    Args:
        text: the text (at most 2,000 characters; cut to what the model reads, and said so).
        model: a model key ("" for the default).
        min_new_tokens: at least this many tokens (0-128).
        max_new_tokens: at most this many tokens (8-256).

    Returns:
        ``{"output", "tokens", "words", "model", "family", "truncated", "source_used", ...}``.
    """
    return _summarization.summarize(text, model or None, min_new_tokens=min_new_tokens,
                                    max_new_tokens=max_new_tokens).to_dict()


def summarize_explain(text: str, method: str = "feature_ablation", model: str = "", max_new_tokens: int = 40,
                      target: str = "output", units: str = "auto", ig_steps: int | None = None,
                      lime_samples: int | None = None, shap_evals: int | None = None, seed: int | None = None,
                      kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Summarize, then explain the summary by the source words.

    Args:
        text: the text to summarize.
        method: attention, gradient_x_input, integrated_gradients, feature_ablation, lime, shap or kernel_shap.
        model: a model key ("" for the default).
        max_new_tokens: at most this many tokens.
        target: "output", "word:i" or "all".
        units: "auto" (sentences for long sources), "word" or "sentence".
        ig_steps: Integrated Gradients' steps.
        lime_samples: LIME's samples.
        shap_evals: SHAP's evaluations.
        seed: the sampling methods' seed.
        kernel_shap_samples: KernelSHAP's coalitions.

    Returns:
        The explanation schema, ``result`` the summary.
    """
    result = _summarization.summarize(text, model or None, max_new_tokens=max_new_tokens, min_new_tokens=0)
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = explain_subject(_seq2seq.subject(result), method, opts, target=target, units=units)
    out["result"] = result.to_dict()
    return out


def summarize_explain_all(text: str, model: str = "", max_new_tokens: int = 40, target: str = "output",
                          units: str = "auto", methods: str = "", ig_steps: int | None = None,
                          lime_samples: int | None = None, shap_evals: int | None = None, seed: int | None = None,
                          kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Summarize, then explain the summary with several methods, and how far they agree.

    Args:
        text: the text to summarize.
        model: a model key ("" for the default).
        max_new_tokens: at most this many tokens.
        target: "output", "word:i" or "all".
        units: "auto", "word" or "sentence".
        methods: comma-separated method names ("" for every method).
        ig_steps: Integrated Gradients' steps.
        lime_samples: LIME's samples.
        shap_evals: SHAP's evaluations.
        seed: the sampling methods' seed.
        kernel_shap_samples: KernelSHAP's coalitions.

    Returns:
        ``{"explanations": {method: explanation}, "agreement", "result"}``.
    """
    chosen = method_list(methods)
    result = _summarization.summarize(text, model or None, max_new_tokens=max_new_tokens, min_new_tokens=0)
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = explain_all(_seq2seq.subject(result), chosen, opts, target=target, units=units)
    out["result"] = result.to_dict()
    return out


def translate(text: str, target: str = "zh", model: str = "", max_new_tokens: int = _TR["max_new_tokens"]) -> dict[str, Any]:
    """Translate English into Chinese, French or German.

    Args:
        text: the English text.
        target: "zh", "fr" or "de".
        model: a model key that writes that language ("" for the default).
        max_new_tokens: at most this many tokens (8-256).

    Returns:
        ``{"output", "tokens", "words", "model", "family", "target", ...}``.
    """
    return _translation.translate(text, target, model or None, max_new_tokens=max_new_tokens).to_dict()


def translate_explain(text: str, target: str = "zh", method: str = "feature_ablation", model: str = "",
                      max_new_tokens: int = _TR["max_new_tokens"], explain_target: str = "output", units: str = "auto",
                      ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
                      seed: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Translate, then explain the translation by the source words (with the word alignment).

    Args:
        text: the English text.
        target: the language, "zh", "fr" or "de".
        method: attention, gradient_x_input, integrated_gradients, feature_ablation, lime, shap or kernel_shap.
        model: a model key ("" for the default).
        max_new_tokens: at most this many tokens.
        explain_target: "output", "word:i" or "all" (the full matrix, and the alignment from it).
        units: "auto", "word" or "sentence".
        ig_steps: Integrated Gradients' steps.
        lime_samples: LIME's samples.
        shap_evals: SHAP's evaluations.
        seed: the sampling methods' seed.
        kernel_shap_samples: KernelSHAP's coalitions.

    Returns:
        The explanation schema, ``result`` the translation, ``alignment`` (when every output
        word is a target) each output word's strongest source words.
    """
    result = _translation.translate(text, target, model or None, max_new_tokens=max_new_tokens)
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = explain_subject(_seq2seq.subject(result), method, opts, target=explain_target, units=units)
    out["result"] = result.to_dict()
    words = [row for row, t in zip(out["matrix"], out["targets"]) if t["label"].startswith("word:")]
    out["alignment"] = _seq2seq.alignment(words) if words else []
    return out


def translate_explain_all(text: str, target: str = "zh", model: str = "", max_new_tokens: int = _TR["max_new_tokens"],
                          explain_target: str = "output", units: str = "auto", methods: str = "",
                          ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
                          seed: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Translate, then explain the translation with several methods, and how far they agree.

    Args:
        text: the English text.
        target: the language, "zh", "fr" or "de".
        model: a model key ("" for the default).
        max_new_tokens: at most this many tokens.
        explain_target: "output", "word:i" or "all".
        units: "auto", "word" or "sentence".
        methods: comma-separated method names ("" for every method).
        ig_steps: Integrated Gradients' steps.
        lime_samples: LIME's samples.
        shap_evals: SHAP's evaluations.
        seed: the sampling methods' seed.
        kernel_shap_samples: KernelSHAP's coalitions.

    Returns:
        ``{"explanations": {method: explanation}, "agreement", "result"}``.
    """
    chosen = method_list(methods)
    result = _translation.translate(text, target, model or None, max_new_tokens=max_new_tokens)
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = explain_all(_seq2seq.subject(result), chosen, opts, target=explain_target, units=units)
    out["result"] = result.to_dict()
    return out


# ---- Question answering -----------------------------------------------------------------------


def qa(question: str, context: str, model: str = "", top_k: int = int(_qa.TOP_K.default)) -> dict[str, Any]:
    """Answer a question from a context.

    Args:
        question: the question (at most 500 characters).
        context: the context (at most 4,000 characters).
        model: a model key ("" for the default).
        top_k: candidate spans to return (extractive models, 1-20).

    Returns:
        ``{"answer", "score", "start", "end", "no_answer", "found_in_context", "candidates", "kind", ...}``.
    """
    return _qa.answer(question, context, model or None, top_k=top_k).to_dict()


def qa_explain(question: str, context: str, method: str = "", model: str = "", target: str = "",
               units: str = "auto", ig_steps: int | None = None, lime_samples: int | None = None,
               shap_evals: int | None = None, seed: int | None = None,
               kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Answer, then explain the answer by the question's and the context's words (``part``).

    Args:
        question: the question.
        context: the context.
        method: any of sentiment_explain's methods, or "" (extractive: integrated_gradients; generative: feature_ablation).
        model: a model key ("" for the default).
        target: "span" (extractive: start + end logits, default), "start", "end"; "output" or "word:i" (generative); "all".
        units: "auto" (sentences for long contexts), "word" or "sentence".
        ig_steps: Integrated Gradients' steps.
        lime_samples: LIME's samples.
        shap_evals: SHAP's evaluations.
        seed: the sampling methods' seed.
        kernel_shap_samples: KernelSHAP's coalitions.

    Returns:
        The explanation schema, ``result`` the answer.
    """
    result = _qa.answer(question, context, model or None)
    if not str(method or "").strip():
        method = "integrated_gradients" if result.kind == "extractive" else "feature_ablation"
    if str(target or "").strip().lower() in ("span", "log_prob"):
        target = ""
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = _qa.explain(result, method, opts, target=target or None, units=units)
    out["result"] = result.to_dict()
    return out


def qa_explain_all(question: str, context: str, model: str = "", target: str = "", units: str = "auto",
                   methods: str = "", ig_steps: int | None = None, lime_samples: int | None = None,
                   shap_evals: int | None = None, seed: int | None = None,
                   kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Answer, then explain the answer with several methods, and how far they agree.

    Args:
        question: the question.
        context: the context.
        model: a model key ("" for the default).
        target: "span" / "" (the default), "start", "end", "output", "word:i" or "all".
        units: "auto", "word" or "sentence".
        methods: comma-separated method names ("" for every method).
        ig_steps: Integrated Gradients' steps.
        lime_samples: LIME's samples.
        shap_evals: SHAP's evaluations.
        seed: the sampling methods' seed.
        kernel_shap_samples: KernelSHAP's coalitions.

    Returns:
        ``{"explanations": {method: explanation}, "agreement", "result"}``.
    """
    chosen = method_list(methods)
    result = _qa.answer(question, context, model or None)
    if str(target or "").strip().lower() in ("span", "log_prob"):
        target = ""
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = explain_all(_qa.subject(result), chosen, opts, target=target or None, units=units)
    for expl in out["explanations"].values():
        expl["kind"] = result.kind
    out["result"] = result.to_dict()
    return out


ENDPOINTS: dict[str, Callable[..., dict[str, Any]]] = {
    "sentiment": sentiment,
    "sentiment_explain": sentiment_explain,
    "sentiment_explain_all": sentiment_explain_all,
    "generate": generate,
    "generate_explain": generate_explain,
    "generate_explain_all": generate_explain_all,
    "summarize": summarize,
    "summarize_explain": summarize_explain,
    "summarize_explain_all": summarize_explain_all,
    "translate": translate,
    "translate_explain": translate_explain,
    "translate_explain_all": translate_explain_all,
    "qa": qa,
    "qa_explain": qa_explain,
    "qa_explain_all": qa_explain_all,
}


def warm_up() -> None:
    """Run every method once on a short text with the smallest budgets (start-up, in the
    background): loads the model, compiles shap's numba code, fills caches."""
    import logging

    try:
        sentiment_explain_all("a warm up for the methods", ig_steps=4, lime_samples=20, shap_evals=20, kernel_shap_samples=20)
    except Exception:  # noqa: BLE001 - a failed warm-up must not stop the app; the tab says why
        logging.getLogger(__name__).warning("warm-up failed", exc_info=True)


__all__ = ["ENDPOINTS", "METHODS", "explain_all", "explain_subject", "method_list", *ENDPOINTS, "warm_up"]
