"""playground.views: plotly figures (escaped labels), highlight values, attention matrices."""

from __future__ import annotations

import html
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from playground import views
from playground.explain import explain
from playground.explain.attention import rollout
from playground.explain.base import Explanation, Target, Unit
from playground.text import Span, words

XSS = "<img src=x onerror=alert(1)>"


def make_expl(source: str, scores: list[float] | None = None, rows: int = 1) -> Explanation:
    """An explanation of ``source``'s words; with ``rows`` > 1, row k is the scores times -(k)
    for k >= 1 (so a later row flips the colours)."""
    units = [Unit(w.text, w.start, w.end, "text") for w in words(source)]
    if scores is None:
        scores = list(np.linspace(-1, 1, len(units)))
    matrix = np.array([scores] + [[-k * v for v in scores] for k in range(1, rows)], dtype=float).reshape(rows, len(units))
    targets = [Target("positive", "positive", 0.9)] + [Target(f"word:{k}", f"w{k}") for k in range(1, rows)]
    return Explanation(task="sentiment", method="lime", model="m", units=units, targets=targets, matrix=matrix,
                       evaluations=10, seconds=0.1)


def test_probabilities_figure() -> None:
    fig = views.probabilities_figure({"negative": 0.2, "positive": 0.8}, title="Probabilities")
    assert isinstance(fig, go.Figure)
    bar = fig.data[0]
    assert list(bar.y) == ["negative", "positive"]
    assert list(bar.x) == [0.2, 0.8]
    colours = list(bar.marker.color)
    assert colours[1] == views.POSITIVE and colours[0] != views.POSITIVE  # the winner stands out
    assert list(bar.text) == ["20.0%", "80.0%"]


def test_probabilities_figure_escapes_labels_and_title() -> None:
    fig = views.probabilities_figure({XSS: 0.6, "ok": 0.4}, title=f"<b>{XSS}</b>")
    j = fig.to_json()
    assert "<img" not in j and "<b>" not in j
    assert "&lt;img src=x onerror=alert(1)&gt;" in list(fig.data[0].y)


def test_attribution_figure() -> None:
    source = "I loved this movie but hated the end"
    expl = make_expl(source, [0.1, 0.9, 0.0, 0.2, -0.05, -0.7, 0.0, 0.3])
    fig = views.attribution_figure(expl, title="LIME", top=3)
    assert isinstance(fig, go.Figure)
    bar = fig.data[0]
    # the three largest |score|, in reading order, each labelled with its word and position
    assert list(bar.y) == ["loved ·1", "hated ·5", "end ·7"]
    assert list(bar.x) == [0.9, -0.7, 0.3]
    assert list(bar.marker.color) == [views.POSITIVE, views.NEGATIVE, views.POSITIVE]
    # the same from the dict form
    assert list(views.attribution_figure(expl.to_dict(), top=3).data[0].y) == list(bar.y)


def test_attribution_figure_escapes_words() -> None:
    source = f"good {XSS} bad"
    expl = make_expl(source)
    fig = views.attribution_figure(expl, title=XSS)
    j = fig.to_json()
    assert "<img" not in j
    assert any("&lt;" in y for y in fig.data[0].y)


def test_attribution_figure_empty() -> None:
    fig = views.attribution_figure({"words": [], "scores": [], "matrix": []})
    assert isinstance(fig, go.Figure)
    assert len(fig.data[0].x or []) == 0


def test_attention_figure_escapes_tokens() -> None:
    tokens = ["[CLS]", "<img", "src=x", "onerror=alert(1)>", "[SEP]"]
    att = np.random.default_rng(0).random((2, 4, 5, 5))
    fig = views.attention_figure(att, tokens, layer=1, head=None, title=XSS)
    assert isinstance(fig, go.Figure)
    j = fig.to_json()
    assert "<img" not in j
    assert list(fig.layout.xaxis.ticktext)[1] == "&lt;img"
    np.testing.assert_allclose(np.asarray(fig.data[0].z), att[1].mean(axis=0))


def test_attention_figure_keeps_repeated_tokens_apart() -> None:
    tokens = ["[CLS]", "good", "good", "[SEP]"]
    att = np.full((1, 1, 4, 4), 0.25)
    fig = views.attention_figure(att, tokens, layer=0, head=0)
    assert list(fig.layout.yaxis.tickvals) == [0, 1, 2, 3]
    assert list(fig.layout.yaxis.ticktext) == tokens


def test_attention_figures_say_which_layer_and_head_they_show() -> None:
    att = np.full((6, 12, 3, 3), 1 / 3)
    words = ["[CLS]", "好", "[SEP]"]
    head = views.attention_figure(att, words, layer=2, head=4)
    assert head.layout.title.text == "Layer 3 of 6, head 5 of 12"  # counted from 1, as the controls count
    assert views.attention_figure(att, words, layer=5, head=None).layout.title.text == "Layer 6 of 6, mean of its 12 heads"
    assert "6" in views.attention_figure(att, words, layer=None, head=None).layout.title.text  # the rollout's layers
    zh = views.attention_figure(att, words, layer=2, head=4, title="自注意力", lang="zh-CN")
    assert zh.layout.title.text == "自注意力 · 第 3 层（共 6 层），第 5 个头（共 12 个）"
    assert zh.layout.xaxis.title.text == "关注的词"
    cross = views.cross_attention_figure(att, words, words, 0, None, title="X", lang="zh-CN")
    assert cross.layout.title.text == "X · 第 1 层（共 6 层），12 个头的平均"
    # The hover names both words, never bare positions.
    assert list(head.data[0].customdata[1][2]) == ["好", "[SEP]"]


def test_attention_matrix_picks_head_mean_rollout() -> None:
    rng = np.random.default_rng(1)
    att = rng.random((3, 4, 6, 6))
    att /= att.sum(axis=-1, keepdims=True)
    head = views.attention_matrix(att, 2, 1)
    mean = views.attention_matrix(att, 0, None)
    roll = views.attention_matrix(att, None, None)
    assert head.shape == mean.shape == roll.shape == (6, 6)
    np.testing.assert_array_equal(head, att[2, 1])
    np.testing.assert_allclose(mean, att[0].mean(axis=0))
    np.testing.assert_allclose(roll, rollout(att))
    np.testing.assert_allclose(roll.sum(axis=-1), 1.0)


@pytest.mark.parametrize(
    "source",
    [
        "I loved this movie, but the ending was terrible.",
        "  spaces  at both ends  ",
        "今天天气很好，这部电影太棒了",
        f"line one\r\nline two {XSS}",
        "👍🏽 great 😀!",
    ],
)
def test_highlight_values_rebuild_the_source(source: str) -> None:
    units = words(source)
    expl = make_expl(source)
    pairs = views.highlight_values(expl, source)
    assert "".join(p for p, _ in pairs) == source
    assert all(b is None or b in views.BUCKET_COLOURS for _, b in pairs)
    assert sum(1 for p, b in pairs if p.strip()) == len(units)
    # the word with the largest positive score gets the strongest positive bucket
    assert ("" if not units else units[-1].text, "+3") in pairs
    # gaps carry no colour
    assert all(b is None for p, b in pairs if not p.strip())
    assert views.highlight_values(expl.to_dict(), source) == pairs


def test_highlight_values_pick_a_target_row() -> None:
    source = "I loved this movie but hated the end"
    expl = make_expl(source, [0.1, 0.9, 0.0, 0.2, -0.05, -0.7, 0.0, 0.3], rows=2)
    first, second = views.highlight_values(expl, source), views.highlight_values(expl, source, row=1)
    assert dict(first)["loved"] == "+3" and dict(second)["loved"] == "-3"
    assert views.highlight_values(expl, source, row=99) == second  # clamped to the rows there are
    assert list(views.attribution_figure(expl, top=1, row=1).data[0].x) == [-0.9]
    assert views.explanation_row(expl.to_dict(), None) == expl.to_dict()["scores"]


def test_highlight_values_with_real_explanation(loaded) -> None:
    from playground.tasks import sentiment

    source = "I loved this movie, but the ending was terrible."
    subject = sentiment.subject(source)
    expl = explain(subject, "integrated_gradients", {"ig_steps": 8})
    pairs = views.highlight_values(expl, subject.texts["text"])
    assert "".join(p for p, _ in pairs) == source
    assert all(b is None or b in views.BUCKET_COLOURS for _, b in pairs)
    assert any(b is not None for _, b in pairs)


def test_buckets_and_normalisation() -> None:
    assert views.normalised([2.0, -1.0, 0.0]) == [1.0, -0.5, 0.0]
    assert views.normalised([0.0, 0.0]) == [0.0, 0.0]
    assert views.normalised([]) == []
    assert [views.bucket(v) for v in (0.05, -0.05, 0.2, -0.2, 0.45, -0.45, 0.9, -1.0)] == [
        None, None, "+1", "-1", "+2", "-2", "+3", "-3",
    ]
    assert set(views.BUCKET_COLOURS) == {"+1", "+2", "+3", "-1", "-2", "-3"}


def test_safe_shortens_and_escapes() -> None:
    assert views.safe("a" * 100, limit=10) == "a" * 9 + "…"
    assert views.safe("&<>") == "&amp;&lt;&gt;"
    assert views.safe(Span("x", 0, 1).text) == "x"
    for s in ['say "hi"', "it's", "<b>&amp;</b>"]:
        assert html.unescape(views.safe(s)) == s


def test_safe_uses_only_entities_plotly_shows() -> None:
    """plotly.js decodes numeric entities and only &lt; &gt; &amp; (and a few symbols) by name;
    '&quot;' would be shown to the user as the six characters &quot;."""
    out = views.safe('the "best" film')
    named = set(re.findall(r"&([a-zA-Z]+);", out))
    assert named <= {"lt", "gt", "amp"}, out
