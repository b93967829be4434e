"""What-if pairs (playground.whatif): removal is the task's own scorer with one word out,
replacement re-reads the edited input with the same model and target; tiny models, plus one
slow check on the real English sentiment model that removing "loved" lowers "positive"."""

from __future__ import annotations

import numpy as np
import pytest

from playground import api, whatif
from playground.errors import InputError
from playground.tasks import generation, qa, sentiment

TEXT = "I loved this movie but the ending was terrible"


def test_removing_a_word_is_the_scorer_without_it() -> None:
    subject = sentiment.subject(TEXT)
    pair = whatif.what_if(subject, "loved")
    keep = np.ones((1, len(subject.units)), dtype=bool)
    keep[0, 1] = False
    expected = subject.score(keep)[0]
    assert [t["after"] for t in pair["targets"]] == pytest.approx(list(expected), abs=1e-6)
    assert [t["before"] for t in pair["targets"]] == pytest.approx([t.value for t in subject.targets])
    assert sum(t["after"] for t in pair["targets"]) == pytest.approx(1.0, abs=1e-5)
    assert pair["texts_after"]["text"] == "I this movie but the ending was terrible"
    assert pair["action"] == "remove" and pair["word"]["text"] == "loved"


def test_replacing_a_word_equals_classifying_the_edited_text() -> None:
    subject = sentiment.subject(TEXT)
    pair = whatif.what_if(subject, "terrible", "wonderful")
    edited = "I loved this movie but the ending was wonderful"
    assert pair["texts_after"]["text"] == edited
    scores = api.sentiment(edited)["scores"]
    assert {t["label"]: t["after"] for t in pair["targets"]} == pytest.approx(scores, abs=1e-5)


def test_a_decoder_scores_the_same_output_after_the_edited_prompt() -> None:
    result = generation.generate("Tell me about the old castle by the sea", "tiny-llama", max_new_tokens=6, temperature=0)
    subject = generation.subject(result)
    same = whatif.what_if(subject, "castle", "castle")  # replaced by itself: nothing changes
    assert same["targets"][0]["after"] == pytest.approx(same["targets"][0]["before"], abs=1e-4)
    other = whatif.what_if(subject, "castle", "dragon")
    assert other["texts_after"]["prompt"] == "Tell me about the old dragon by the sea"
    assert other["targets"][0]["after"] != pytest.approx(other["targets"][0]["before"], abs=1e-6)
    removed = whatif.what_if(subject, "old")
    keep = np.ones((1, len(subject.units)), dtype=bool)
    keep[0, [u.text for u in subject.units].index("old")] = False
    assert removed["targets"][0]["after"] == pytest.approx(float(subject.score(keep)[0][0]), abs=1e-5)


def test_an_extractive_answer_offers_removal_only() -> None:
    context = "The tower was designed by Gustave Eiffel and opened in 1889 in Paris."
    subject = qa.subject(qa.answer("Who designed the tower?", context, "tiny-distilbert-qa"))
    assert whatif.what_if(subject, "Paris")["action"] == "remove"
    with pytest.raises(InputError) as err:
        whatif.what_if(subject, "Paris", "Rome")
    assert err.value.key == "whatif_no_replace"


def test_words_are_found_by_text_case_and_occurrence() -> None:
    subject = sentiment.subject("the film and the book")
    assert whatif.find_word(subject, "the") == 0
    assert whatif.find_word(subject, "the#2") == 3
    assert whatif.find_word(subject, "FILM") == 1
    assert whatif.find_word(subject, 4) == 4
    for bad in ("castle", "the#3", "", None, 99, True):
        with pytest.raises(InputError) as err:
            whatif.find_word(subject, bad)
        assert err.value.key == "whatif_no_word"
    with pytest.raises(InputError) as err:
        whatif.what_if(subject, "film", "x" * 51)
    assert err.value.key == "whatif_bad_replacement"


def test_the_endpoint_runs_every_task() -> None:
    out = api.what_if("sentiment", TEXT, "terrible")
    assert out["action"] == "remove" and out["result"] is None
    gen = api.what_if("generation", "Tell me about the castle", "castle", "house", model="tiny-llama")
    assert gen["target_kind"] == "log_prob" and gen["result"]["text"] is not None
    tr = api.what_if("translation", "The children play in the garden", "garden", target="zh", model="tiny-marian")
    assert tr["texts_after"]["source"] == "The children play in the"
    qa_out = api.what_if("qa", "The tower was built in 1889 in Paris.", "Paris", question="When was it built?",
                         model="tiny-llama")
    assert qa_out["word"]["part"] == "context"
    with pytest.raises(InputError):
        api.what_if("poetry", TEXT, "loved")


@pytest.mark.slow
def test_removing_an_obvious_word_lowers_its_class(monkeypatch) -> None:
    monkeypatch.setenv("PLAYGROUND_PROFILE", "offline")
    from playground import models

    models.clear_cache()
    try:
        # MiniLM leans positive (a text with no sentiment word reads positive), so the obvious
        # word to take away is a negative one.
        pair = api.what_if("sentiment", "The film was terrible.", "terrible")
        negative = next(t for t in pair["targets"] if t["label"] == "negative")
        assert negative["before"] > 0.7 and negative["change"] < -0.5
        assert pair["texts_after"]["text"] == "The film was."
        swapped = api.what_if("sentiment", "The film was terrible.", "terrible", "wonderful")
        assert next(t for t in swapped["targets"] if t["label"] == "positive")["after"] > 0.9
    finally:
        models.clear_cache()
