"""The same request twice is answered from the first run (playground.cache.ANSWERS): the model
does not run again, and the answer is the same; a stopped answer is never kept."""

from __future__ import annotations

import threading

from playground.cache import ANSWERS
from playground.tasks import qa, seq2seq, summarization, translation

CONTEXT = "The Great Barrier Reef stretches for over 2,300 kilometres along the coast of Queensland."


def _count_forwards(model) -> tuple[list[int], object]:
    calls = [0]
    handle = model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls, handle


def test_a_repeated_summary_does_not_run_the_model_again() -> None:
    first = summarization.summarize("The library will open until midnight during exams, the council said.", "tiny-bart")
    calls, handle = _count_forwards(seq2seq.loaded_for(first).model)
    try:
        again = summarization.summarize("The library will open until midnight during exams, the council said.", "tiny-bart")
        assert calls[0] == 0
        other = summarization.summarize("The museum will close early on Sunday.", "tiny-bart")
        assert calls[0] > 0 and other.source != again.source
    finally:
        handle.remove()
    assert again.output_ids == first.output_ids and again.text == first.text
    assert again is not first  # a copy: editing one never changes the kept answer


def test_options_and_targets_are_part_of_the_request() -> None:
    a = translation.translate("The children play in the garden.", "zh", "tiny-llama", max_new_tokens=12)
    b = translation.translate("The children play in the garden.", "zh", "tiny-llama", max_new_tokens=8)
    assert len(b.output_ids) <= 8 and len(ANSWERS) == 2 and a.options != b.options
    clamped = translation.translate("The children play in the garden.", "zh", "tiny-llama", max_new_tokens=4)
    assert len(ANSWERS) == 2 and clamped.output_ids == b.output_ids  # 4 is below the minimum: the same request as 8
    translation.translate("The children play in the garden.", "fr", "tiny-llama", max_new_tokens=8)
    assert len(ANSWERS) == 3


def test_a_stopped_answer_is_not_kept() -> None:
    stop = threading.Event()
    stop.set()
    stopped = qa.answer("How long is the reef?", CONTEXT, "tiny-llama", stop=stop)
    assert stopped.generation.stop_reason == "stopped"
    assert len(ANSWERS) == 0
    whole = qa.answer("How long is the reef?", CONTEXT, "tiny-llama")
    assert whole.generation.stop_reason != "stopped" and len(ANSWERS) == 1
    assert qa.answer("How long is the reef?", CONTEXT, "tiny-llama").answer == whole.answer
