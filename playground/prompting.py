"""How the models are asked: every prompt the app builds, in one place.

A chat model gets its own chat template around the user's message (:func:`chat_text` also says
where the user's words sit in it, so explanations look at those words alone); a base model gets
worked examples and stops at the end of its answer's line. Summaries, translations and QA
answers from decoders are asked here; the tasks keep only what to do with the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import config

LANGUAGES: dict[str, str] = {"zh": "Chinese", "fr": "French", "de": "German", "en": "English"}
# Translation directions are named by their target; each reads English except English itself,
# which is translated from Chinese (what a Chinese class asks for first).
SOURCES: dict[str, str] = {"en": "zh"}


def source_of(target: str) -> str:
    """The language a translation into ``target`` reads."""
    return SOURCES.get(target, "en")


@dataclass(frozen=True)
class Prompt:
    """How a decoder is asked for a task: ``head + source + tail`` is the user message (chat)
    or the whole prompt (plain); ``stop`` ends a few-shot answer at the end of its line."""

    head: str
    tail: str = ""
    stop: tuple[str, ...] = ()


# ---- Chat templates


def render_chat(tokenizer: Any, content: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )


def chat_text(tokenizer: Any, prompt: str) -> tuple[str, tuple[int, int]]:
    """The rendered chat prompt and the span of the user's words in it. The span comes from
    rendering a marker in place of the prompt: searching for the prompt itself would be fooled
    by a prompt that also occurs in the template ("assistant", "You")."""
    rendered = render_chat(tokenizer, prompt)
    marker = "\ue000PROMPT\ue001"  # private-use characters: never in a template
    parts = render_chat(tokenizer, marker).split(marker)
    if len(parts) == 2:
        head, tail = parts
        if rendered.startswith(head) and rendered.endswith(tail) and len(rendered) >= len(head) + len(tail):
            return rendered, (len(head), len(rendered) - len(tail))
    # A template that rewrites the content (e.g. trims it): find it after the template's head.
    core = prompt.strip()
    start = rendered.find(core, len(parts[0]) if len(parts) == 2 else 0)
    if start < 0:
        start = rendered.find(core)
    return rendered, ((start, start + len(core)) if start >= 0 else (0, len(rendered)))


# ---- Summaries

# A base model has no instructions to follow: one worked example shows the pattern, and the
# answer ends at the end of its line.
_SUMMARY_EXAMPLE = (
    "Text: The city council voted on Tuesday to close the old bridge over the river for repairs. "
    "Engineers found cracks in two of its supports last month. The work will take about six months, "
    "and buses will use the new bridge to the north in the meantime.\n"
    "Summary: The old river bridge will close for six months of repairs after engineers found cracks, "
    "and buses will be rerouted.\n\n"
)


_SUMMARY_EXAMPLE_ZH = (
    "文本：市议会周二投票决定关闭河上的老桥进行维修。工程师上个月在两个桥墩上发现了裂缝。工程大约需要六个月，"
    "其间公交车将改走北边的新桥。\n"
    "摘要：老桥因发现裂缝将关闭维修六个月，公交车改道。\n\n"
)


def summary_prompt(spec: config.ModelSpec, lang: str = "en") -> Prompt:
    """The instruction (chat models) or few-shot prompt (base models) around the source, in the
    source's language where it is Chinese: asked in English, Qwen2.5 summarised half of the
    Chinese eval texts in English (scripts/evaluate.py --task summarization --lang zh)."""
    if spec.chat:
        # The instruction after the text: with it first, SmolLM2-135M copied more of the source
        # (a trial on the first items of assets/eval/summaries.jsonl; scripts/evaluate.py scores this one).
        if lang == "zh":
            return Prompt(head="", tail="\n\n请用一句简短的中文概括上面这段文字。")
        return Prompt(head="", tail="\n\nSummarize the text above in one short sentence.")
    if lang == "zh":
        return Prompt(head=_SUMMARY_EXAMPLE_ZH + "文本：", tail="\n摘要：", stop=("\n",))
    return Prompt(head=_SUMMARY_EXAMPLE + "Text: ", tail="\nSummary:", stop=("\n",))


# ---- Translations

# Two worked examples per language for base models (none of them is in assets/eval).
_TRANSLATION_SHOTS: dict[str, list[tuple[str, str]]] = {
    "zh": [("The house is wonderful.", "房子很棒。"), ("Where is the train station?", "火车站在哪里？")],
    "fr": [("The house is wonderful.", "La maison est magnifique."), ("Where is the train station?", "Où est la gare ?")],
    "de": [("The house is wonderful.", "Das Haus ist wunderbar."), ("Where is the train station?", "Wo ist der Bahnhof?")],
    "en": [("房子很棒。", "The house is wonderful."), ("火车站在哪里？", "Where is the train station?")],
}


def translation_prompt(target: str) -> Callable[[config.ModelSpec], Prompt]:
    def prompt_for(spec: config.ModelSpec) -> Prompt:
        language, source = LANGUAGES[target], LANGUAGES[source_of(target)]
        if spec.chat:
            return Prompt(head=f"Translate this {source} text into {language}. Reply with the translation only.\n\n")
        shots = "".join(f"{source}: {src}\n{language}: {tr}\n\n" for src, tr in _TRANSLATION_SHOTS[target])
        return Prompt(head=shots + f"{source}: ", tail=f"\n{language}:", stop=("\n",))

    return prompt_for


# ---- Question answering

QA_FEW_SHOT = (
    "Answer each question with a short span copied from its context.\n\n"
    "Context: Marie Curie won the Nobel Prize in Physics in 1903 and in Chemistry in 1911.\n"
    "Question: When did Marie Curie win the Nobel Prize in Chemistry?\n"
    "Answer: 1911\n\n"
    "Context: The Amazon flows through Peru, Colombia and Brazil into the Atlantic Ocean.\n"
    "Question: Into which ocean does the Amazon flow?\n"
    "Answer: the Atlantic Ocean\n\n"
    "Context: "
)
QA_CHAT_INSTRUCTION = (
    "Answer the question using only the context. Reply with a short answer, copied from the "
    "context when possible.\n\nContext: "
)
def qa_parts(question: str, context: str, mode: str) -> tuple[str, str, str, str, str]:
    """(head, context, middle, question, tail) of the prompt; their concatenation is the user
    message. In the few-shot prompt a newline ends an answer, so the context's and the question's
    line breaks become spaces there (same length: offsets unchanged)."""
    if mode == "plain":
        flat = str.maketrans({"\n": " ", "\r": " ", "\u2028": " ", "\u2029": " "})
        return QA_FEW_SHOT, context.translate(flat), "\nQuestion: ", question.translate(flat), "\nAnswer:"
    return QA_CHAT_INSTRUCTION, context, "\n\nQuestion: ", question, ""
