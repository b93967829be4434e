"""Write a Hugging Face hub cache that holds tiny random models under the hub profile's exact
repository ids and pinned commits, so the Space's own code path runs with no hub:

    python scripts/hub_cache.py /tmp/hub-cache
    HF_HUB_OFFLINE=1 HF_HUB_CACHE=/tmp/hub-cache SYSTEM=spaces python app.py

``SYSTEM=spaces`` makes the app pick the ``hub`` profile as on a Space, and every model loads
through ``playground.models._load_hub`` (``from_pretrained(repo, revision=<commit>)``), reading
``DIR/models--{org}--{name}/snapshots/{commit}/``: with a full 40-hex commit, huggingface_hub
goes straight to that snapshot, no ``refs/`` needed. Each model is built by
``playground.tiny.build`` from the tiny profile's model of the same architecture (real
tokenizers: WordPiece, byte-level BPE with a chat template, Marian SentencePiece), so its answers
mean nothing, but every loading, tokenizing, generating and explaining step is the real one.

    python scripts/hub_cache.py --check-hub

asks the hub (network needed) whether every pinned commit holds what the front matter's
``preload_from_hub`` lists and the loader needs (``config.json``, ``model.safetensors``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file from anywhere, with or without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from playground import config  # noqa: E402

# Which tiny model stands in for each hub model (same architecture and tokenizer family).
STAND_INS = {
    "distilbert-sst2": "tiny-distilbert-sentiment",
    "smollm2-360m-instruct": "tiny-llama",
    "gpt2": "tiny-gpt2",
    "distilbart-cnn-12-6": "tiny-bart",
    "opus-mt-en-zh": "tiny-marian",
    "opus-mt-en-fr": "tiny-marian",
    "opus-mt-en-de": "tiny-marian",
    "opus-mt-zh-en": "tiny-marian",
    "t5-base": "tiny-t5",
    "distilbert-squad": "tiny-distilbert-qa",
}
# The real SST-2 model's labels (upper case); the tiny one says "negative"/"positive".
TINY_CONFIG_CHANGES = {
    "distilbert-sst2": {"id2label": {0: "NEGATIVE", 1: "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1}},
}
# What the Space preloads at build time (README front matter) and the loader cannot do without.
PRELOAD_FILES = ("config.json", "model.safetensors")
# Left behind by playground.tiny.build, never part of a hub repository.
_BUILD_ONLY = {".complete", "spm.model", "vocab-build.json"}


def hub_specs() -> list[config.ModelSpec]:
    """Every hub model of the hub profile, once per repository, in registry order."""
    seen: dict[str, config.ModelSpec] = {}
    for specs in config.CHOICES["hub"].values():
        for spec in specs:
            if spec.source == "hub":
                seen.setdefault(spec.repo, spec)
    return list(seen.values())


def stand_in(spec: config.ModelSpec) -> config.ModelSpec:
    """The tiny spec built for ``spec``: the tiny profile's model named in STAND_INS."""
    if spec.key not in STAND_INS:
        raise KeyError(f"no tiny stand-in for hub model {spec.key!r}: add it to STAND_INS in {__file__}")
    tiny = {s.key: s for specs in config.CHOICES["tiny"].values() for s in specs}[STAND_INS[spec.key]]
    changes = TINY_CONFIG_CHANGES.get(spec.key)
    if changes:
        tiny = dataclasses.replace(tiny, tiny_config={**tiny.tiny_config, **changes})
    return tiny


def snapshot_dir(cache: Path, spec: config.ModelSpec) -> Path:
    """Where huggingface_hub looks for ``spec``'s files at its pinned commit."""
    from huggingface_hub.file_download import repo_folder_name

    return Path(cache) / repo_folder_name(repo_id=spec.repo, repo_type="model") / "snapshots" / str(spec.revision)


def _store(files: Path, cache: Path, spec: config.ModelSpec) -> Path:
    """Put ``files`` into the cache as huggingface_hub does: content in ``blobs/``, the snapshot
    made of relative symlinks to it (a plain copy where the file system has no symlinks)."""
    snapshot = snapshot_dir(cache, spec)
    repo_dir = snapshot.parent.parent
    shutil.rmtree(snapshot, ignore_errors=True)
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    for path in sorted(files.rglob("*")):
        if not path.is_file() or path.name in _BUILD_ONLY:
            continue
        rel = path.relative_to(files)
        blob = repo_dir / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        if not blob.exists():
            shutil.copyfile(path, blob)
        target = snapshot / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.symlink_to(os.path.relpath(blob, target.parent))
        except OSError:
            shutil.copyfile(blob, target)
    return snapshot


def build_cache(cache: Path | str) -> dict[str, Path]:
    """Write every hub model's stand-in into ``cache``; returns {repo: snapshot folder}."""
    from playground import tiny

    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="hub-cache-build-") as tmp:
        built: dict[str, Path] = {}  # one build per distinct stand-in (the three opus-mt share one)
        for spec in hub_specs():
            small = stand_in(spec)
            ident = repr(sorted(small.tiny_config.items(), key=str)) + small.key + str(small.chat)
            if ident not in built:
                built[ident] = tiny.build(small, Path(tmp) / f"{len(built):02d}-{small.key}")
            written[spec.repo] = _store(built[ident], cache, spec)
    return written


def check_hub() -> int:
    """Ask the hub whether each pinned commit holds PRELOAD_FILES; 0 when all do."""
    from huggingface_hub import list_repo_files

    failed = 0
    for spec in hub_specs():
        try:
            files = set(list_repo_files(spec.repo, revision=spec.revision))
        except Exception as exc:  # noqa: BLE001 - report every repository, then fail
            print(f"FAIL {spec.repo}@{spec.revision}: {type(exc).__name__}: {exc}")
            failed += 1
            continue
        missing = [f for f in PRELOAD_FILES if f not in files]
        failed += bool(missing)
        print(f"{'FAIL' if missing else 'ok  '} {spec.repo}@{spec.revision}" + (f": missing {missing}" if missing else ""))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", nargs="?", help="the hub cache folder to write (use it as HF_HUB_CACHE)")
    parser.add_argument("--check-hub", action="store_true", help="check the pinned commits on the hub (network)")
    args = parser.parse_args(argv)
    if args.check_hub:
        return check_hub()
    if not args.cache:
        parser.error("give the cache folder, or --check-hub")
    for repo, snapshot in build_cache(args.cache).items():
        print(f"{repo}: {snapshot}")
    print(f"\nHF_HUB_OFFLINE=1 HF_HUB_CACHE={Path(args.cache).resolve()} SYSTEM=spaces python app.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
