"""playground.language: what language an input is in, whether a model reads it, where the
sentiment task sends Chinese, and the warning a result carries (both UI languages)."""

from __future__ import annotations

import pytest

from playground import config, language
from playground.messages import language_warning


@pytest.mark.parametrize(("text", "code"), [
    ("I loved this movie, the actors were great.", "en"),
    ("这部电影太无聊了，浪费时间。", "zh"),
    ("這部電影太無聊了，浪費時間。", "zh"),
    ("Das Haus ist wunderbar.", "de"),
    ("Je suis très content aujourd'hui.", "fr"),
    ("今日はいい天気ですね", "ja"),
    # Plain Chinese that the lite model alone calls Japanese (ja 0.85): Han with no kana is Chinese.
    ("市图书馆周一宣布，考试期间将开放到午夜。", "zh"),
    ("市图书馆考试期间开放到午夜。", "zh"),
])
def test_detects_the_language_of_short_texts(text: str, code: str) -> None:
    found = language.detect(text)
    assert found.code == code and found.score >= language.MIN_SCORE


@pytest.mark.parametrize("text", ["😀😂👍", "12345 678", "!!! ???", "   "])
def test_a_text_without_letters_is_undetermined_and_never_held_against_a_model(text: str) -> None:
    found = language.detect(text)
    assert found.code == language.UNDETERMINED
    assert language.handles(("en",), found) and language.check(text, ("en",))["handled"]


def test_traditional_chinese_is_told_from_simplified_in_context() -> None:
    assert language.detect("這部電影太無聊了").traditional
    assert not language.detect("这部电影太无聊了").traditional
    assert language.traditional_chars("學生植樹於學校園區上") == ["學", "樹", "於", "學", "園", "區"]
    assert language.traditional_chars("乾隆皇帝很有名") == []  # 乾 is Simplified in this name
    assert language.to_simplified("學生植樹於學校園區上") == "学生植树于学校园区上"
    assert language.to_simplified("Hello 世界 😀") == "Hello 世界 😀"


def test_an_english_model_does_not_read_chinese_and_a_multilingual_one_does() -> None:
    zh = language.check("这部电影太无聊了", ("en",))
    assert zh["code"] == "zh" and not zh["handled"] and zh["model_reads"] == ["en"]
    assert language.check("这部电影太无聊了", (language.ANY,))["handled"]
    assert language.check("This film bored me.", ("en",))["handled"]


def test_the_offline_sentiment_task_routes_chinese_to_the_chinese_model() -> None:
    specs = config.choices_for("sentiment", "offline") + config.routes_for("sentiment", "offline")
    spec, info = language.choose("这部电影太无聊了，浪费时间。", specs)
    assert "zh" in spec.languages and info["handled"]
    spec, info = language.choose("This film bored me to tears.", specs)
    assert spec is config.spec_for("sentiment", "offline") and info["handled"]
    # No model reads German: the default answers, and says it does not read the text.
    spec, info = language.choose("Der Film war langweilig und viel zu lang.", specs)
    assert spec is config.spec_for("sentiment", "offline") and not info["handled"] and info["code"] == "de"


def test_the_warning_names_the_language_and_the_model_in_both_ui_languages() -> None:
    info = language.check("这部电影太无聊了", ("en",))
    en, zh = language_warning(info, "MiniLM", "en"), language_warning(info, "MiniLM", "zh-CN")
    assert "Chinese" in en and "English" in en and "MiniLM" in en and "not to be trusted" in en
    assert "中文" in zh and "英语" in zh and "不可信" in zh
    assert language_warning(language.check("I loved it", ("en",)), "MiniLM", "en") == ""


def test_results_carry_the_language_check_through_the_real_tasks() -> None:
    """The tiny models mirror the hub models' languages (English only): a Chinese input comes
    back with handled False in the prediction, the explanation's result and a generation."""
    from playground import api
    from playground.tasks import generation, sentiment

    out = sentiment.predict("这部电影太无聊了，浪费时间。", "tiny")
    assert out["language"]["code"] == "zh" and not out["language"]["handled"]
    assert sentiment.predict("I loved it, great film.", "tiny")["language"]["handled"]
    gen = generation.generate("请写一首关于春天的短诗。", "tiny-llama", "tiny", max_new_tokens=3, temperature=0)
    assert gen.language["code"] == "zh" and not gen.to_dict()["language"]["handled"]
    if config.active_profile() == "tiny":
        explained = api.sentiment_explain("这部电影太无聊了，浪费时间。", "attention")
        assert explained["result"]["language"]["handled"] is False


def test_a_chinese_output_is_written_in_simplified_piece_by_piece() -> None:
    pieces = ["學生", "植", "樹", "於學", "校", "。"]
    out, changed = language.simplified_pieces(pieces)
    assert "".join(out) == "学生植树于学校。" and [len(p) for p in out] == [len(p) for p in pieces]
    assert changed == 4
    assert language.simplified_pieces(["孩子们", "在花园里玩耍。"]) == (["孩子们", "在花园里玩耍。"], 0)


def test_chinese_to_english_is_a_translation_direction_and_its_source_is_checked() -> None:
    """"en" translates from Chinese: the tiny profile's decoder is asked Chinese -> English, a
    Chinese source is what it expects, an English one is flagged; into "zh" the reverse."""
    from playground import prompting
    from playground.tasks import translation

    assert prompting.source_of("en") == "zh" and prompting.source_of("zh") == "en"
    ask = prompting.translation_prompt("en")(config.spec_by_key("translation", "tiny-llama", "tiny"))
    assert "Chinese" in ask.head and "English" in ask.head
    r = translation.translate("这部电影很好看。", "en", "tiny-llama", "tiny", max_new_tokens=8)
    assert r.target == "en" and r.language["code"] == "zh" and r.language["handled"]
    wrong = translation.translate("The house is wonderful.", "en", "tiny-llama", "tiny", max_new_tokens=8)
    assert wrong.language["code"] == "en" and not wrong.language["handled"]
    assert translation.translate("The house is wonderful.", "zh", "tiny-llama", "tiny", max_new_tokens=8).language["handled"]
    offline = [s.key for s in translation.models_for("en", "offline")]
    assert offline and all(config.spec_by_key("translation", k, "offline").languages != ("en",) for k in offline)


def test_an_output_in_another_language_than_asked_is_said() -> None:
    """A summary of a Chinese text written in English (what the small offline decoders did), or a
    "French" translation that is English, is flagged; the right language, or a text too short
    to tell, is not."""
    wrong = language.output_check("The city library will stay open until midnight during exams.", "zh")
    assert wrong["code"] == "en" and wrong["expected"] == "zh" and not wrong["matches"]
    assert language.output_check("市图书馆考试期间开放到午夜。", "zh")["matches"]
    assert language.output_check("La bibliothèque restera ouverte jusqu'à minuit.", "fr")["matches"]
    assert language.output_check("2,300", "de")["matches"]  # no letters: undetermined, never held against it
    info = {**language.check("市图书馆周一宣布，考试期间将开放到午夜。", ("*",)), "output": wrong}
    en, zh = language_warning(info, "Gemma", "en"), language_warning(info, "Gemma", "zh-CN")
    assert "English" in en and "Chinese" in en and "英语" in zh and "中文" in zh
    # Through the real task: the tiny decoder's output is checked against the target.
    from playground.tasks import translation

    r = translation.translate("The house is wonderful.", "fr", "tiny-llama", "tiny", max_new_tokens=8)
    assert r.language["output"]["expected"] == "fr" and set(r.to_dict()["language"]["output"]) == {
        "code", "score", "expected", "matches"}


def test_auto_sends_a_chinese_prompt_to_a_model_that_reads_chinese() -> None:
    """The Generation tab's default ("auto"): an English prompt goes to the fastest model
    (SmolLM2, English only), a Chinese one to the first model that reads Chinese; a model the
    user picked is kept whatever the language, and an unknown key is still refused."""
    from playground import models
    from playground.errors import InputError

    zh, en = "用一句话解释为什么天空是蓝色的。", "Explain why the sky is blue."
    default = config.spec_for("generation", "offline")
    assert models.resolve("generation", config.AUTO, "offline", en) is default and default.languages == ("en",)
    routed = models.resolve("generation", config.AUTO, "offline", zh)
    assert routed is not default and language.handles(routed.languages, language.detect(zh))
    assert models.resolve("generation", None, "offline", zh) is routed  # the API's default is the same
    assert models.resolve("generation", default.key, "offline", zh) is default
    with pytest.raises(InputError):
        models.resolve("generation", "gpt-4", "offline", zh)
