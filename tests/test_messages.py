"""Every user-facing message lives once, in both languages: errors name a key of
playground.messages and never carry their own English text."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from playground import messages
from playground.errors import InputError

ERRORS = {"InputError", "ModelUnavailable", "OutOfMemory", "PlaygroundError"}
PACKAGE = Path(__file__).resolve().parent.parent / "playground"


def _raise_sites() -> list[tuple[str, int, ast.Call]]:
    sites = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name in ERRORS:
                    sites.append((str(path.relative_to(PACKAGE)), node.lineno, node))
    return sites


def test_every_raised_key_is_in_the_catalogue_in_both_languages() -> None:
    sites = _raise_sites()
    assert len(sites) > 30
    for where, line, call in sites:
        assert len(call.args) <= 1, f"{where}:{line} passes its own text: the catalogue holds it"
        if call.args and isinstance(call.args[0], ast.Constant):
            key = call.args[0].value
            assert key in messages.EN and key in messages.ZH, f"{where}:{line}: {key!r} missing from the catalogue"
            given = {k.arg for k in call.keywords}
            for lang in (messages.EN, messages.ZH):
                wanted = {name for _, name, _, _ in string.Formatter().parse(lang[key]) if name}
                assert wanted <= given, f"{where}:{line}: {key!r} needs {wanted - given}"


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(messages.EN) == set(messages.ZH)
    for key, en in messages.EN.items():
        names = {n for _, n, _, _ in string.Formatter().parse(en) if n}
        zh = {n for _, n, _, _ in string.Formatter().parse(messages.ZH[key]) if n}
        assert names == zh, key


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_an_error_reads_as_its_catalogue_entry(lang: str) -> None:
    err = InputError("bad_method", name="x", names="lime")
    assert str(err) == messages.t("bad_method", "en", name="x", names="lime")
    assert messages.t(err.key, lang, **err.params) == messages.CATALOG[lang]["bad_method"].format(name="x", names="lime")
