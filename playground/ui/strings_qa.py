"""Texts of the Question answering tab, in English and Simplified Chinese (identical keys);
merged into :mod:`playground.ui.strings`."""

from __future__ import annotations

EN: dict[str, str] = {
    # Messages of the InputErrors raised by playground.tasks.qa (params in braces).
    "qa_not_text": "The question and the context must be text.",
    "qa_question_empty": "Please enter a question.",
    "qa_context_empty": "Please enter a context: the text that holds the answer.",
    "qa_question_too_long": "The question has {n} characters; the limit is {limit}. Please shorten it.",
    "qa_context_too_long": "The context has {n} characters; the limit is {limit}. Please shorten it.",
    "qa_question_longer": "The question ({q} characters) is longer than the context ({c} characters). The context is the text that holds the answer: put it in the context box.",
    "qa_question_too_many_tokens": "The question comes to {n} tokens for this model; the limit is {limit}. Please shorten it.",
    "qa_context_too_long_model": "The context has {n} characters; with this question the model '{model}' takes at most {limit}. Shorten the context or choose an extractive model.",
    "qa_prompt_too_long": "With the question and the instructions, the context comes to {n} tokens for the model '{model}'; the limit is {limit}. Shorten the context or choose an extractive model.",
    "qa_method_unsupported": "The method '{name}' does not apply to this kind of model. Choose one of: {names}.",
    "qa_bad_target": "Unknown target '{target}'. Choose one of: {targets}.",
    "qa_nothing_to_explain": "There is no answer span to explain: the context holds no text the model can read.",
}

ZH: dict[str, str] = {
    "qa_not_text": "问题和上下文都必须是文本。",
    "qa_question_empty": "请输入问题。",
    "qa_context_empty": "请输入上下文：包含答案的那段文字。",
    "qa_question_too_long": "问题有 {n} 个字符，上限是 {limit}。请缩短。",
    "qa_context_too_long": "上下文有 {n} 个字符，上限是 {limit}。请缩短。",
    "qa_question_longer": "问题（{q} 个字符）比上下文（{c} 个字符）还长。上下文是包含答案的那段文字：请把它放进上下文框。",
    "qa_question_too_many_tokens": "对此模型而言，问题共 {n} 个词元，上限是 {limit}。请缩短。",
    "qa_context_too_long_model": "上下文有 {n} 个字符；配上这个问题，模型“{model}”最多接受 {limit} 个字符。请缩短上下文，或改用抽取式模型。",
    "qa_prompt_too_long": "加上问题和说明后，上下文对模型“{model}”共 {n} 个词元，上限是 {limit}。请缩短上下文，或改用抽取式模型。",
    "qa_method_unsupported": "方法“{name}”不适用于这类模型。可选：{names}。",
    "qa_bad_target": "未知目标“{target}”。可选：{targets}。",
    "qa_nothing_to_explain": "没有可以解释的答案片段：模型在上下文中读不到任何文字。",
}
