"""playground.text: input checks, word segmentation with offsets, piece -> word mapping."""

from __future__ import annotations

import pytest

from playground import messages, text
from playground.config import LIMITS
from playground.errors import InputError


def assert_offsets(source: str, units: list[text.Span]) -> None:
    """Every unit is exactly the slice of the source it claims; units are in order, disjoint,
    and only whitespace lies between them."""
    pos = 0
    for u in units:
        assert source[u.start : u.end] == u.text, u
        assert u.end > u.start
        assert u.start >= pos, "units overlap or are out of order"
        assert source[pos : u.start].strip() == "", f"text skipped before {u}: {source[pos:u.start]!r}"
        pos = u.end
    assert source[pos:].strip() == ""


@pytest.mark.parametrize(
    "source",
    [
        "I loved this movie, the acting was wonderful!",
        "今天天气很好",
        "我喜欢这部电影，但是结局太无聊了。",
        "I love 北京烤鸭 so much, 真的很好吃!",
        "👍🏽 great film 😀!! 👨‍👩‍👧",
        "first line\r\nsecond line\r\n",
        "zero\u200bwidth\u200c joiner\u200d and\ufeffbom",
        "مرحبا بالعالم، هذا فيلم رائع",
        "שלום עולם, סרט נהדר",
        "  leading and trailing spaces\t\n",
        "don't won’t it's",
    ],
)
def test_words_keep_offsets(source: str) -> None:
    units = text.words(source)
    assert units, "no units found"
    assert_offsets(source, units)


def test_words_english_split_on_words_and_punctuation() -> None:
    units = text.words("I loved it, really!")
    assert [u.text for u in units] == ["I", "loved", "it", ",", "really", "!"]
    assert units[1] == text.Span("loved", 2, 7)


def test_words_keep_apostrophe_contractions_whole() -> None:
    assert [u.text for u in text.words("don't stop")] == ["don't", "stop"]


def test_numbers_stay_whole_with_their_separators() -> None:
    units = [u.text for u in text.words("The 2,300 km reef, built in 2015, costs 3.5 dollars at 10:30.")]
    assert units == ["The", "2,300", "km", "reef", ",", "built", "in", "2015", ",", "costs", "3.5", "dollars", "at",
                     "10:30", "."]
    # Beside Chinese: the number is one word and the Chinese run is segmented apart from it.
    assert [u.text for u in text.words("长达2,300公里")][-2:] == ["2,300", "公里"]


def test_chinese_is_segmented_into_words_by_jieba() -> None:
    source = "今天天气很好"
    units = text.words(source)
    assert_offsets(source, units)
    assert "".join(u.text for u in units) == source
    # jieba words, not one unit per character
    assert len(units) < len(source)
    assert any(len(u.text) >= 2 for u in units)
    import jieba

    assert [u.text for u in units] == [w for w, _, _ in jieba.tokenize(source)]


def test_mixed_chinese_english_keeps_both_scripts() -> None:
    source = "I love 北京烤鸭 so much!"
    units = [u.text for u in text.words(source)]
    assert units[:2] == ["I", "love"]
    assert units[-3:] == ["so", "much", "!"]
    chinese = units[2:-3]
    assert "".join(chinese) == "北京烤鸭"
    assert len(chinese) < 4  # segmented into words, not characters


def test_crlf_is_not_a_unit() -> None:
    source = "good\r\nbad"
    units = text.words(source)
    assert [u.text for u in units] == ["good", "bad"]
    assert units[1].start == 6


def test_rtl_words_are_whole_words() -> None:
    source = "שלום עולם"
    assert [u.text for u in text.words(source)] == ["שלום", "עולם"]


def test_korean_words_stay_whole() -> None:
    """Korean separates its words with spaces, like English: a word is one unit, not one unit
    per syllable (only Chinese runs need a dictionary segmenter)."""
    source = "이 영화 정말 좋아요"
    units = text.words(source)
    assert_offsets(source, units)
    assert [u.text for u in units] == ["이", "영화", "정말", "좋아요"]


def test_span_to_dict() -> None:
    assert text.Span("hi", 3, 5).to_dict() == {"text": "hi", "start": 3, "end": 5}


# ---- clean -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", " ", "   \t\n\r\n  ", "\u3000\u00a0"])
def test_clean_rejects_empty_and_whitespace(value: str) -> None:
    with pytest.raises(InputError) as err:
        text.clean(value)
    assert err.value.key == "input_empty"
    assert "empty" in str(err.value)


@pytest.mark.parametrize("value", [None, 42, b"bytes", ["a list"], {"text": "x"}])
def test_clean_rejects_non_text(value: object) -> None:
    with pytest.raises(InputError) as err:
        text.clean(value)
    assert err.value.key == "input_not_text"


def test_clean_rejects_over_limit_and_says_the_limit() -> None:
    with pytest.raises(InputError) as err:
        text.clean("a" * (LIMITS.max_chars + 1))
    assert err.value.key == "input_too_long"
    assert str(LIMITS.max_chars) in str(err.value)
    assert str(LIMITS.max_chars + 1) in str(err.value)


def test_clean_accepts_exactly_the_limit() -> None:
    value = "a" * LIMITS.max_chars
    assert text.clean(value) == value


def test_clean_custom_limit_and_field_name() -> None:
    with pytest.raises(InputError) as err:
        text.clean("abcdef", field="question", max_chars=5)
    assert err.value.key == "input_too_long"
    # The message is the catalogue's, written once for both languages; the field travels as a param.
    assert str(err.value) == messages.t("input_too_long", "en", n=6, limit=5)
    assert err.value.params["limit"] == 5 and err.value.params["field"] == "question"


def test_clean_replaces_nul_and_controls_with_spaces_keeping_length() -> None:
    value = "good\x00movie\x07!\x1f"
    out = text.clean(value)
    assert len(out) == len(value)
    assert out == "good movie ! "
    assert "\x00" not in out


def test_clean_keeps_newlines_tabs_and_crlf() -> None:
    value = "a\tb\r\nc\n"
    assert text.clean(value) == value


def test_clean_nul_only_is_empty() -> None:
    with pytest.raises(InputError) as err:
        text.clean("\x00\x00")
    assert err.value.key == "input_empty"


def test_clean_normalises_to_nfc() -> None:
    decomposed = "cafe\u0301"
    out = text.clean(decomposed)
    assert out == "caf\u00e9"
    assert_offsets(out, text.words(out))


# ---- piece_to_word -----------------------------------------------------------------------


def test_piece_to_word_with_the_real_tokenizer(loaded) -> None:
    source = "I loved this unbelievable movie, 今天天气很好!"
    enc = loaded.tokenizer(source, return_offsets_mapping=True)
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    units = text.words(source)
    mapping = text.piece_to_word(offsets, units)
    assert len(mapping) == len(offsets)
    special = loaded.tokenizer.get_special_tokens_mask(enc["input_ids"], already_has_special_tokens=True)
    for (s, e), w, is_special in zip(offsets, mapping, special):
        if is_special:
            assert w is None
        else:
            assert w is not None
            # the piece lies inside the word it is mapped to
            assert units[w].start <= s and e <= units[w].end
    # every word got at least one piece, in order
    seen = [w for w in mapping if w is not None]
    assert seen == sorted(seen)
    assert set(seen) == set(range(len(units)))
    # "unbelievable" is several pieces in the tiny vocabulary, all mapped to the one word
    idx = [u.text for u in units].index("unbelievable")
    assert seen.count(idx) > 1


def test_piece_to_word_sentencepiece_style_leading_space() -> None:
    source = "hello world"
    units = text.words(source)
    # "▁world" pieces start at the space before the word
    offsets = [(0, 0), (0, 5), (5, 11), (0, 0)]
    assert text.piece_to_word(offsets, units) == [None, 0, 1, None]


def test_piece_to_word_no_units_and_empty_pieces() -> None:
    assert text.piece_to_word([(0, 0), (0, 3)], []) == [None, None]
    units = text.words("ab cd")
    assert text.piece_to_word([(2, 3)], units) == [None]  # a piece covering only the gap


def test_offsets_for_a_python_only_sentencepiece_tokenizer() -> None:
    """Marian's tokenizer (opus-mt) gives no offsets: the pieces are found again in the text."""
    from playground import config, models

    tok = models.load(config.spec_by_key("translation", "tiny-marian", "tiny")).tokenizer
    assert not getattr(tok, "is_fast", False)
    source = "The weather is nice today, 今天天气很好!"
    ids, offsets = text.encode_with_offsets(tok, source)
    assert ids == tok(source)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    for piece, (s, e) in zip(pieces, offsets):
        if e > s:
            assert source[s:e] == piece.replace("\u2581", " ").strip() or piece.startswith("<0x")
    covered = "".join(source[s:e] for s, e in offsets)
    assert covered == source.replace(" ", "")  # every character found, in order
    assert offsets[-1] == (0, 0)  # </s>
    # A fast tokenizer's own offsets are used as they are.
    fast = models.load(config.spec_by_key("translation", "tiny-t5", "tiny")).tokenizer
    ids, offsets = text.encode_with_offsets(fast, source)
    assert offsets == [tuple(o) for o in fast(source, return_offsets_mapping=True)["offset_mapping"]]
