"""The trust panel's state and text without a browser: methods run one after the other on the
same input join in one panel (and agreement covers them), another input starts a new one; the
text escapes the input's words and says when methods disagree, in both languages."""

from __future__ import annotations

from playground import trust
from playground.explain import explain
from playground.messages import t
from playground.tasks import sentiment
from playground.ui import panels

SMALL = {"ig_steps": 8, "lime_samples": 40, "shap_evals": 40, "kernel_shap_samples": 40, "converge": 0}


def run(subject, method: str) -> dict:
    return explain(subject, method, SMALL).to_dict()


def test_methods_on_the_same_input_join_and_another_input_starts_over() -> None:
    s = sentiment.subject("I loved this movie, but the ending was terrible.")
    first = panels.render_trust(None, "input-1", {"integrated_gradients": run(s, "integrated_gradients")}, "en")
    state = first[0]
    assert list(state["results"]) == ["integrated_gradients"]
    assert t("trust_one_method", "en") in first[2]
    assert first[4] is None  # no agreement figure for one method
    second = panels.render_trust(state, "input-1", {"lime": run(s, "lime")}, "en")
    assert list(second[0]["results"]) == ["integrated_gradients", "lime"]  # registry order
    assert second[0]["agreement"]["methods"] == ["integrated_gradients", "lime"]
    assert second[4] is not None and t("trust_one_method", "en") not in second[2]
    other = panels.render_trust(second[0], "input-2", {"feature_ablation": run(s, "feature_ablation")}, "en")
    assert list(other[0]["results"]) == ["feature_ablation"]


def test_the_text_escapes_words_and_names_disagreements_in_both_languages() -> None:
    s = sentiment.subject("<script>alert(1)</script> great film")
    results = {m: run(s, m) for m in ("attention", "feature_ablation")}
    # Make the two disagree on the top word, whatever the tiny model says.
    results["feature_ablation"]["matrix"] = [[-v for v in results["attention"]["matrix"][0]]]
    for lang in ("en", "zh-CN"):
        text = trust.summary(results, 0, lang)
        assert "<script>" not in text
        assert t("method_attention", lang) in text and t("trust_col_comp", lang) in text
        assert t("trust_note_feature_ablation", lang) in text
        said = trust.agreement_text(trust.agreement_of(results), 0, lang)
        assert t("method_feature_ablation", lang) in said and "“" in said  # a disagreement, quoting the top words
        assert "<" not in said
