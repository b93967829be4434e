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

from collections.abc import Callable
from typing import Any

from .api_common import budgets as _budgets
from .api_common import documented as _doc
from .api_common import explained as _explained
from .api_common import warm_up
from .api_kit import KIT_ENDPOINTS, embeddings, evaluate, finetune, what_if  # noqa: F401 - endpoints of this module
from .explain import METHODS, agreement_of, explain_all, method_list
from .tasks import generation as _generation
from .tasks import qa as _qa
from .tasks import sentiment as _sentiment
from .tasks import seq2seq as _seq2seq
from .tasks import summarization as _summarization
from .tasks import translation as _translation

_GEN = _generation.options()

# ---- Sentiment --------------------------------------------------------------------------------


def sentiment(text: str) -> dict[str, Any]:
    """Classify the sentiment of a text.

    Args:
        text: the text (at most 2,000 characters; the model reads its first 256 tokens).

    Returns:
        ``{"label", "scores": {label: probability}, "model", "truncated", "language"}`` (Chinese goes
        to a Chinese model where the profile has one; ``language["handled"]`` False: not to be trusted).
    """
    return _sentiment.predict(text)


def _sentiment_explained(text: str, methods: list[str] | None, single: str | None, target: str, units: str,
                         opts: dict[str, Any]) -> dict[str, Any]:
    subject = _sentiment.subject(text)
    out = _explained(subject, methods, single, opts, target, units)
    out["result"] = {"label": subject.targets[subject.default_target].label,
                     "scores": {t.label: t.value for t in subject.targets}, "model": subject.model,
                     "language": subject.notes.get("language")}
    return out


@_doc
def sentiment_explain(text: str, method: str = "integrated_gradients", target: str = "predicted",
                      ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
                      seed: int | None = None, units: str = "auto", kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Explain the sentiment of a text with one method.

    Args:
        text: the text to classify and explain.
        {method_arg}
        target: "predicted" (default), a class name, or "all" (every class: one matrix row each).
        {budget_args}
        {units_arg}

    Returns:
        {explanation}, ``result`` the prediction.
    """
    return _sentiment_explained(text, None, method, target, units,
                                _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed))


@_doc
def sentiment_explain_all(text: str, target: str = "predicted", units: str = "auto", methods: str = "",
                          ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
                          seed: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Explain the sentiment of a text with several methods, and how far they agree.

    Args:
        text: the text to classify and explain.
        target: "predicted", a class name or "all".
        {units_arg}
        {methods_arg}
        {budget_args}

    Returns:
        {all_returns}
    """
    return _sentiment_explained(text, method_list(methods), None, target, units,
                                _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed))


# ---- Generation -------------------------------------------------------------------------------

def generate(prompt: str, model: str = "", mode: str = "", max_new_tokens: int = _GEN.max_new_tokens,
             temperature: float = _GEN.temperature, top_k: int = _GEN.top_k, top_p: float = _GEN.top_p,
             repetition_penalty: float = _GEN.repetition_penalty, seed: int = _GEN.seed) -> dict[str, Any]:
    """Generate a continuation of a prompt.

    Args:
        prompt: the prompt (at most 2,000 characters).
        model: a model key of this profile ("" or "auto": the first model that reads the prompt's language).
        mode: "chat" (the model's chat template), "plain", or "" for the model's default.
        max_new_tokens: at most this many new tokens (1-256).
        temperature: 0 is greedy; up to 2.
        top_k: sample from the k most likely tokens (0: all).
        top_p: nucleus sampling threshold.
        repetition_penalty: 1 (none) to 2.
        seed: the sampling seed.

    Returns:
        ``{"text", "tokens", "token_ids", "steps": [next-token candidates per step], "stop_reason", "tokens_per_s",
        "language", ...}`` (``language["handled"]`` False: the model does not read the prompt's language).
    """
    return _generation.generate(prompt, model_key=model or None, mode=mode or None, max_new_tokens=max_new_tokens,
                                temperature=temperature, top_k=top_k, top_p=top_p,
                                repetition_penalty=repetition_penalty, seed=seed).to_dict()


def _generation_explained(prompt: str, model: str, mode: str, max_new_tokens: int, temperature: float, seed: int,
                          methods: list[str] | None, single: str | None, target: str, units: str,
                          opts: dict[str, Any]) -> dict[str, Any]:
    result = _generation.generate(prompt, model_key=model or None, mode=mode or None, max_new_tokens=max_new_tokens,
                                  temperature=temperature, seed=seed)
    out = _explained(_generation.subject(result), methods, single, opts, target, units)
    out["result"] = result.to_dict()
    return out


@_doc
def generate_explain(prompt: str, method: str = "feature_ablation", model: str = "", mode: str = "",
                     max_new_tokens: int = 16, temperature: float = 0.0, seed: int = _GEN.seed, target: str = "output",
                     units: str = "auto", ig_steps: int | None = None, lime_samples: int | None = None,
                     shap_evals: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Generate, then explain the output by the prompt's words.

    Args:
        prompt: the prompt.
        {method_arg}
        model: a model key ("" or "auto": the first model that reads the input's language).
        mode: "chat", "plain" or "".
        max_new_tokens: tokens to generate (1-256).
        temperature: 0 is greedy.
        seed: the sampling seed (and the sampling methods' seed).
        target: "output" (the whole output's log-probability), "word:i" (output word i) or "all".
        {units_arg}
        {budget_args}

    Returns:
        {explanation}, ``result`` the generation.
    """
    return _generation_explained(prompt, model, mode, max_new_tokens, temperature, seed, None, method, target, units,
                                 _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed))


@_doc
def generate_explain_all(prompt: str, model: str = "", mode: str = "", max_new_tokens: int = 16,
                         temperature: float = 0.0, seed: int = _GEN.seed, target: str = "output", units: str = "auto",
                         methods: str = "", ig_steps: int | None = None, lime_samples: int | None = None,
                         shap_evals: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Generate, then explain the output with several methods, and how far they agree.

    Args:
        prompt: the prompt.
        model: a model key ("" or "auto": the first model that reads the input's language).
        mode: "chat", "plain" or "".
        max_new_tokens: tokens to generate (1-256).
        temperature: 0 is greedy.
        seed: the sampling seed (and the sampling methods' seed).
        target: "output", "word:i" or "all".
        {units_arg}
        {methods_arg}
        {budget_args}

    Returns:
        {all_returns}
    """
    return _generation_explained(prompt, model, mode, max_new_tokens, temperature, seed, method_list(methods), None,
                                 target, units, _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed))


# ---- Summarization and translation ------------------------------------------------------------

_SUM = {name: o.default for name, o in _summarization.BOUNDS.items()}
_TR = {name: o.default for name, o in _translation.BOUNDS.items()}


def summarize(text: str, model: str = "", min_new_tokens: int = _SUM["min_new_tokens"],
              max_new_tokens: int = _SUM["max_new_tokens"]) -> dict[str, Any]:
    """Summarize an English text.

    Args:
        text: the text (at most 2,000 characters; cut to what the model reads, and said so).
        model: a model key ("" or "auto": the first model that reads the input's language).
        min_new_tokens: at least this many tokens (0-128).
        max_new_tokens: at most this many tokens (8-256).

    Returns:
        ``{"output", "tokens", "words", "model", "family", "truncated", "source_used", ...}``.
    """
    return _summarization.summarize(text, model or None, min_new_tokens=min_new_tokens,
                                    max_new_tokens=max_new_tokens).to_dict()


def _summary_explained(text: str, model: str, max_new_tokens: int, methods: list[str] | None, single: str | None,
                       target: str, units: str, opts: dict[str, Any]) -> dict[str, Any]:
    result = _summarization.summarize(text, model or None, max_new_tokens=max_new_tokens, min_new_tokens=0)
    out = _explained(_seq2seq.subject(result), methods, single, opts, target, units)
    out["result"] = result.to_dict()
    return out


@_doc
def summarize_explain(text: str, method: str = "feature_ablation", model: str = "", max_new_tokens: int = 40,
                      target: str = "output", units: str = "auto", ig_steps: int | None = None,
                      lime_samples: int | None = None, shap_evals: int | None = None, seed: int | None = None,
                      kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Summarize, then explain the summary by the source words.

    Args:
        text: the text to summarize.
        {method_arg}
        model: a model key ("" or "auto": the first model that reads the input's language).
        max_new_tokens: at most this many tokens.
        target: "output", "word:i" or "all".
        {units_arg}
        {budget_args}

    Returns:
        {explanation}, ``result`` the summary.
    """
    return _summary_explained(text, model, max_new_tokens, None, method, target, units,
                              _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed))


@_doc
def summarize_explain_all(text: str, model: str = "", max_new_tokens: int = 40, target: str = "output",
                          units: str = "auto", methods: str = "", ig_steps: int | None = None,
                          lime_samples: int | None = None, shap_evals: int | None = None, seed: int | None = None,
                          kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Summarize, then explain the summary with several methods, and how far they agree.

    Args:
        text: the text to summarize.
        model: a model key ("" or "auto": the first model that reads the input's language).
        max_new_tokens: at most this many tokens.
        target: "output", "word:i" or "all".
        {units_arg}
        {methods_arg}
        {budget_args}

    Returns:
        {all_returns}
    """
    return _summary_explained(text, model, max_new_tokens, method_list(methods), None, target, units,
                              _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed))


def translate(text: str, target: str = "zh", model: str = "", max_new_tokens: int = _TR["max_new_tokens"]) -> dict[str, Any]:
    """Translate English into Chinese, French or German, or Chinese into English.

    Args:
        text: the text: English, or Chinese for target "en".
        target: "zh" (Simplified Chinese), "fr", "de", or "en" (from Chinese).
        model: a model key that writes that language ("" for the default).
        max_new_tokens: at most this many tokens (8-256).

    Returns:
        ``{"output", "tokens", "words", "model", "family", "target", "language", "simplified", ...}``.
    """
    return _translation.translate(text, target, model or None, max_new_tokens=max_new_tokens).to_dict()


def _translation_explained(text: str, target: str, model: str, max_new_tokens: int, methods: list[str] | None,
                           single: str | None, explain_target: str, units: str, opts: dict[str, Any]) -> dict[str, Any]:
    result = _translation.translate(text, target, model or None, max_new_tokens=max_new_tokens)
    out = _explained(_seq2seq.subject(result), methods, single, opts, explain_target, units)
    out["result"] = result.to_dict()
    return out


@_doc
def translate_explain(text: str, target: str = "zh", method: str = "feature_ablation", model: str = "",
                      max_new_tokens: int = _TR["max_new_tokens"], explain_target: str = "output", units: str = "auto",
                      ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
                      seed: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Translate, then explain the translation by the source words (with the word alignment).

    Args:
        text: the text (English; Chinese for target "en").
        target: "zh", "fr", "de", or "en" (from Chinese).
        {method_arg}
        model: a model key ("" or "auto": the first model that writes ``target``).
        max_new_tokens: at most this many tokens.
        explain_target: "output", "word:i" or "all" (the full matrix, and the alignment from it).
        {units_arg}
        {budget_args}

    Returns:
        {explanation}, ``result`` the translation, ``alignment`` (when every output
        word is a target) each output word's strongest source words.
    """
    out = _translation_explained(text, target, model, max_new_tokens, None, method, explain_target, units,
                                 _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed))
    words = [row for row, t in zip(out["matrix"], out["targets"]) if t["label"].startswith("word:")]
    out["alignment"] = _seq2seq.alignment(words) if words else []
    return out


@_doc
def translate_explain_all(text: str, target: str = "zh", model: str = "", max_new_tokens: int = _TR["max_new_tokens"],
                          explain_target: str = "output", units: str = "auto", methods: str = "",
                          ig_steps: int | None = None, lime_samples: int | None = None, shap_evals: int | None = None,
                          seed: int | None = None, kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Translate, then explain the translation with several methods, and how far they agree.

    Args:
        text: the text (English; Chinese for target "en").
        target: "zh", "fr", "de", or "en" (from Chinese).
        model: a model key ("" or "auto": the first model that writes ``target``).
        max_new_tokens: at most this many tokens.
        explain_target: "output", "word:i" or "all".
        {units_arg}
        {methods_arg}
        {budget_args}

    Returns:
        {all_returns}
    """
    return _translation_explained(text, target, model, max_new_tokens, method_list(methods), None, explain_target,
                                  units, _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed))


# ---- Question answering -----------------------------------------------------------------------

def qa(question: str, context: str, model: str = "", top_k: int = int(_qa.TOP_K.default)) -> dict[str, Any]:
    """Answer a question from a context.

    Args:
        question: the question (at most 500 characters).
        context: the context (at most 4,000 characters).
        model: a model key ("" or "auto": the first model that reads the input's language).
        top_k: candidate spans to return (extractive models, 1-20).

    Returns:
        ``{"answer", "score", "start", "end", "no_answer", "found_in_context", "candidates", "kind", ...}``.
    """
    return _qa.answer(question, context, model or None, top_k=top_k).to_dict()


def _qa_target(target: str) -> str | None:
    """"span" / "log_prob" / "" name the task's default target."""
    return None if str(target or "").strip().lower() in ("", "span", "log_prob") else target


@_doc
def qa_explain(question: str, context: str, method: str = "", model: str = "", target: str = "",
               units: str = "auto", ig_steps: int | None = None, lime_samples: int | None = None,
               shap_evals: int | None = None, seed: int | None = None,
               kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Answer, then explain the answer by the question's and the context's words (``part``).

    Args:
        question: the question.
        context: the context.
        method: any of sentiment_explain's methods, or "" (extractive: integrated_gradients; generative: feature_ablation).
        model: a model key ("" or "auto": the first model that reads the input's language).
        target: "span" (extractive: start + end logits, default), "start", "end"; "output" or "word:i" (generative); "all".
        {units_arg}
        {budget_args}

    Returns:
        {explanation}, ``result`` the answer.
    """
    result = _qa.answer(question, context, model or None)
    if not str(method or "").strip():
        method = "integrated_gradients" if result.kind == "extractive" else "feature_ablation"
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = _qa.explain(result, method, opts, target=_qa_target(target), units=units)
    out["result"] = result.to_dict()
    return out


@_doc
def qa_explain_all(question: str, context: str, model: str = "", target: str = "", units: str = "auto",
                   methods: str = "", ig_steps: int | None = None, lime_samples: int | None = None,
                   shap_evals: int | None = None, seed: int | None = None,
                   kernel_shap_samples: int | None = None) -> dict[str, Any]:
    """Answer, then explain the answer with several methods, and how far they agree.

    Args:
        question: the question.
        context: the context.
        model: a model key ("" or "auto": the first model that reads the input's language).
        target: "span" / "" (the default), "start", "end", "output", "word:i" or "all".
        {units_arg}
        {methods_arg}
        {budget_args}

    Returns:
        {all_returns}
    """
    chosen = method_list(methods)
    result = _qa.answer(question, context, model or None)
    opts = _budgets(ig_steps, lime_samples, shap_evals, kernel_shap_samples, seed)
    out = explain_all(_qa.subject(result), chosen, opts, target=_qa_target(target), units=units)
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
    **KIT_ENDPOINTS,  # the classroom kit (playground.api_kit): evaluate, embeddings, what_if, finetune
}


__all__ = ["ENDPOINTS", "METHODS", "agreement_of", "explain_all", "method_list", *ENDPOINTS, "warm_up"]
