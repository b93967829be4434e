"""A GGUF file joined from parts in several installed packages: order, checksum, a missing
package, and (slow) the real Qwen2.5-Coder-0.5B-Instruct from its six packages."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from playground import config, gguf_parts, models


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Three importable packages (not imported by the joiner), each with data/partNN.bin."""
    blobs = [b"GGUF" + bytes(range(256)) * 3, b"second part " * 1000, b"\x00tail"]
    for i, blob in enumerate(blobs, 1):
        data = tmp_path / "site" / f"pg_test_part{i}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("raise ImportError('the joiner must not import me')\n")
        (data / f"part{i:02d}.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return blobs


PARTS = tuple(f"pg_test_part{i}/data/part{i:02d}.bin" for i in (1, 2, 3))


def test_parts_are_joined_in_order_and_checked(packages: list[bytes], tmp_path: Path) -> None:
    whole = b"".join(packages)
    target = tmp_path / "cache" / "model.gguf"
    out = gguf_parts.assemble(PARTS, hashlib.sha256(whole).hexdigest(), target)
    assert out == target and target.read_bytes() == whole
    assert not list(target.parent.glob("*.partial"))
    assert "pg_test_part1" not in sys.modules
    # Second call: the checked file is reused, not rewritten.
    stamp = target.stat().st_mtime_ns
    assert gguf_parts.assemble(PARTS, hashlib.sha256(whole).hexdigest(), target) == target
    assert target.stat().st_mtime_ns == stamp


def test_wrong_order_or_checksum_leaves_no_file(packages: list[bytes], tmp_path: Path) -> None:
    target = tmp_path / "cache" / "model.gguf"
    with pytest.raises(ValueError, match="sha256"):
        gguf_parts.assemble(PARTS[::-1], hashlib.sha256(b"".join(packages)).hexdigest(), target)
    assert not target.exists() and not list(target.parent.glob("*"))


def test_a_missing_part_package_is_a_clear_message(packages: list[bytes], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    spec = config.ModelSpec(
        key="joined", task="generation", display="Joined", source="gguf", architecture="AutoModelForCausalLM",
        package="pg_test_part1", pip_name="pg-test-part1..4", gguf_file="j.gguf",
        gguf_parts=(*PARTS, "pg_test_part4/data/part04.bin"), gguf_sha256="0" * 64,
    )
    with pytest.raises(models.ModelUnavailable) as err:
        models.load(spec)
    assert err.value.key == "model_missing_package" and "pg-test-part1..4" in str(err.value)
    assert not (tmp_path / "cache" / "gguf" / "j.gguf").exists()


@pytest.mark.slow
def test_offline_qwen_is_joined_from_six_packages_and_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = config.spec_by_key("qa", "qwen2.5-coder-0.5b-instruct", "offline")
    assert spec is not None and len(spec.gguf_parts) == 6
    source = models._gguf_source(spec)  # the joined file in the real cache (converted once there)
    assert source.stat().st_size == 491_400_064
    assert gguf_parts.sha256_of(source) == spec.gguf_sha256
    from playground.tasks import translation

    out = translation.translate("The children are playing in the garden.", "zh", spec.key, "offline")
    assert "孩子" in out.text and "花园" in out.text, out.text
