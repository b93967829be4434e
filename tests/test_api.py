"""The in-process API (``from playground import ...``): plain dicts, no gradio."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

import playground
from playground import api, models, text
from playground.config import LIMITS
from playground.errors import InputError
from playground.explain import METHODS
from playground.tasks import sentiment as task

from conftest import ROOT

TEXT = "I loved this movie, but the ending was terrible."
EXPLAIN_KEYS = {"task", "method", "model", "target", "units", "words", "targets", "matrix", "scores", "evaluations",
                "seconds", "options", "convergence"}


def test_sentiment() -> None:
    out = playground.sentiment(TEXT)
    json.dumps(out)
    assert {"label", "scores"} <= set(out)
    assert set(out["scores"]) == {"negative", "positive"}
    assert math.isclose(sum(out["scores"].values()), 1.0, abs_tol=1e-5)
    assert all(0.0 <= p <= 1.0 for p in out["scores"].values())
    assert out["label"] == max(out["scores"], key=out["scores"].get)
    assert out["truncated"] is False
    assert out["model"]


def test_sentiment_is_deterministic() -> None:
    assert playground.sentiment(TEXT) == playground.sentiment(TEXT)


def test_sentiment_long_text_is_flagged_truncated() -> None:
    out = playground.sentiment(" ".join(["good"] * 400))
    assert out["truncated"] is True


@pytest.mark.parametrize("method", list(METHODS))
def test_sentiment_explain(method: str) -> None:
    out = playground.sentiment_explain(TEXT, method, ig_steps=8, lime_samples=40, shap_evals=40)
    json.dumps(out, allow_nan=False)
    assert EXPLAIN_KEYS <= set(out)
    assert out["method"] == method
    assert len(out["scores"]) == len(out["words"]) > 0
    assert out["matrix"] == [out["scores"]] and len(out["targets"]) == 1
    assert out["result"]["label"] == out["target"]
    for tok in out["words"]:
        assert set(tok) == {"text", "start", "end", "part"} and tok["part"] == "text"
        assert TEXT[tok["start"] : tok["end"]] == tok["text"]
    assert out["target"] == playground.sentiment(TEXT)["label"]
    assert out["evaluations"] > 0 and out["seconds"] >= 0


def test_sentiment_explain_passes_budgets_and_target() -> None:
    out = playground.sentiment_explain(TEXT, "lime", target="positive", lime_samples=25, seed=3)
    assert out["target"] == "positive"
    assert out["options"] == {"lime_samples": 25, "seed": 3, "converge": 1, "max_seconds": 20}  # 25: the cap
    out = playground.sentiment_explain(TEXT, "integrated_gradients", ig_steps=10**9)
    assert out["options"] == {"ig_steps": 256}


def test_sentiment_explain_every_target() -> None:
    out = playground.sentiment_explain(TEXT, "feature_ablation", target="all")
    assert [t["label"] for t in out["targets"]] == ["negative", "positive"]
    assert len(out["matrix"]) == 2 and out["scores"] == out["matrix"][0]


def test_sentiment_explain_errors() -> None:
    with pytest.raises(InputError) as err:
        playground.sentiment_explain(TEXT, "nonsense")
    assert err.value.key == "bad_method"
    with pytest.raises(InputError) as err:
        playground.sentiment_explain("   ", "lime")
    assert err.value.key == "input_empty"
    with pytest.raises(InputError) as err:
        playground.sentiment(None)  # type: ignore[arg-type]
    assert err.value.key == "input_not_text"
    with pytest.raises(InputError) as err:
        playground.sentiment_explain(TEXT, "lime", target="neutral")
    assert err.value.key == "bad_target"
    with pytest.raises(InputError) as err:
        playground.sentiment_explain(TEXT, "lime", units="paragraph")
    assert err.value.key == "bad_units"


def test_sentiment_explain_all() -> None:
    out = playground.sentiment_explain_all(TEXT, ig_steps=8, lime_samples=40, shap_evals=40)
    json.dumps(out, allow_nan=False)
    assert set(out) == {"explanations", "agreement", "result"}
    assert set(out["explanations"]) == set(METHODS)
    assert out["agreement"]["methods"] == list(METHODS)
    row = out["agreement"]["rows"][0]
    assert row["target"] == out["result"]["label"]
    assert [row["spearman"][i][i] for i in range(len(METHODS))] == [1.0] * len(METHODS)
    tokens = None
    for name, e in out["explanations"].items():
        assert EXPLAIN_KEYS <= set(e)
        assert e["method"] == name
        assert len(e["scores"]) == len(e["words"])
        tokens = tokens or e["words"]
        assert e["words"] == tokens  # all methods explain the same words
    assert out["explanations"]["lime"]["options"]["lime_samples"] == 40
    for e in out["explanations"].values():
        f = e["faithfulness"]
        assert f["removal_key"] == "removal_mask" and [r["target"] for r in f["rows"]] == [e["target"]]
        assert {"comprehensiveness", "sufficiency", "deletion", "insertion", "curves"} <= set(f["rows"][0])
        assert e["stability"]["kind"] in ("sampled", "deterministic")
    some = playground.sentiment_explain_all(TEXT, methods="shap, attention", shap_evals=40)
    assert list(some["explanations"]) == ["attention", "shap"] and some["agreement"]["methods"] == ["attention", "shap"]
    with pytest.raises(InputError) as err:
        playground.sentiment_explain_all(TEXT, methods="lime,nonsense")
    assert err.value.key == "bad_method"


@pytest.mark.parametrize("call", [
    lambda: playground.generate_explain_all("Hello there", model="tiny-llama", max_new_tokens=3,
                                            methods="feature_ablation,gradient_x_input"),
    lambda: playground.summarize_explain_all("The council approved a bridge over the river today.", model="tiny-bart",
                                             max_new_tokens=4, methods="feature_ablation,attention"),
    lambda: playground.translate_explain_all("The weather is nice today.", "zh", model="tiny-marian", max_new_tokens=4,
                                             methods="feature_ablation,gradient_x_input"),
    lambda: playground.qa_explain_all("Who designed the tower?", "The tower was designed by Gustave Eiffel.",
                                      model="tiny-distilbert-qa", methods="feature_ablation,attention"),
], ids=["generate", "summarize", "translate", "qa"])
def test_every_task_has_an_all_methods_endpoint_with_agreement(call) -> None:
    out = json.loads(json.dumps(call(), allow_nan=False))
    assert set(out) == {"explanations", "agreement", "result"}
    names = list(out["explanations"])
    assert len(names) == 2 and out["agreement"]["methods"] == names
    for e in out["explanations"].values():
        assert e["faithfulness"]["rows"] and e["stability"]["converged"] in (True, False)
    assert len(out["agreement"]["rows"]) == len(out["explanations"][names[0]]["targets"])


def test_offsets_index_the_normalised_text() -> None:
    """Offsets refer to the NFC form of the input (what the model read)."""
    value = "cafe\u0301 was good"  # decomposed é
    out = playground.sentiment_explain(value, "attention")
    nfc = unicodedata.normalize("NFC", value)
    assert [t["text"] for t in out["words"]] == ["caf\u00e9", "was", "good"]
    for tok in out["words"]:
        assert nfc[tok["start"] : tok["end"]] == tok["text"]


# ---- the task functions behind the API -------------------------------------------------------


def test_analyse_matches_predict() -> None:
    out = task.analyse(TEXT)
    pred = task.predict(TEXT)
    assert out["label"] == pred["label"]
    for label, p in pred["scores"].items():
        assert math.isclose(out["scores"][label], p, abs_tol=1e-5)  # eager and sdpa agree
    att = out["attentions"]
    n = len(out["words"])
    assert att.shape == (2, 4, n, n)
    np.testing.assert_allclose(att.sum(axis=-1), 1.0, atol=1e-5)
    # Whole words between the special tokens, never sub-word pieces.
    assert out["words"] == ["[CLS]", *[w.text for w in text.words(TEXT)], "[SEP]"]
    assert out["attention_truncated"] is False


def test_analyse_pools_pieces_into_words() -> None:
    """A word the tokenizer splits is one row and one column: its column holds the sum of its
    pieces' attention, its row their mean (checked against the piece-level forward)."""
    loaded = models.load_task("sentiment")
    value = "unbelievably good"
    probs, att, ids = task._eager_batch(loaded, [value])[0]
    pieces = loaded.tokenizer.convert_ids_to_tokens(ids)
    assert len(pieces) > 4  # "unbelievably" is more than one piece for the tiny vocabulary
    out = task.analyse(value)
    assert out["words"] == ["[CLS]", "unbelievably", "good", "[SEP]"]
    first = [i for i, p in enumerate(pieces) if p not in ("[CLS]", "[SEP]")][:-1]  # the pieces of "unbelievably"
    cls_to_word = att[..., 0, first].sum(axis=-1)
    np.testing.assert_allclose(out["attentions"][..., 0, 1], cls_to_word, atol=1e-5)
    np.testing.assert_allclose(out["attentions"][..., 1, :].sum(axis=-1), 1.0, atol=1e-5)


def test_analyse_caps_the_attention_map() -> None:
    out = task.analyse(" ".join(["good"] * 200))
    n = LIMITS.max_attention_tokens
    assert out["attentions"].shape[-2:] == (n, n)
    assert len(out["words"]) == n  # one piece per word here
    assert out["attention_truncated"] is True
    assert out["truncated"] is False  # 202 pieces fit the model's limit


def test_warm_up_runs() -> None:
    api.warm_up()  # must not raise, with the tiny model present


def test_import_playground_does_not_import_gradio(tiny_profile) -> None:
    env = {**os.environ, "PLAYGROUND_PROFILE": "tiny", "PLAYGROUND_CACHE": str(tiny_profile)}
    code = (
        "import sys, playground\n"
        "assert 'gradio' not in sys.modules, 'gradio imported'\n"
        "out = playground.sentiment('good movie')\n"
        "assert 'gradio' not in sys.modules, 'gradio imported by a call'\n"
        "print(out['label'])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] in {"negative", "positive"}
