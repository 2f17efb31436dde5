#!/usr/bin/env bash
# The offline installation artifact: the project's wheel, a wheel of every dependency
# pinned in constraints.txt, and constraints.txt itself, in one directory and one tarball.
#
#   scripts/wheelhouse.sh [OUT]      build OUT (default dist/wheelhouse) and OUT.tar.gz
#   scripts/wheelhouse.sh --compile  regenerate constraints.txt from pyproject.toml
#                                    (pip-compile, from the test extra; needs an index)
#
# Copy OUT.tar.gz to the machine with no index, then (docs/operations.md, "Offline"):
#   mkdir wheelhouse && tar -xzf wheelhouse.tar.gz -C wheelhouse
#   pip install --no-index --find-links wheelhouse -c wheelhouse/constraints.txt 'kominfo-provision[postgresql]==VERSION'
#
# PYTHON (default .venv/bin/python, else python3) builds the wheel without build isolation,
# so it needs setuptools and wheel (both in the test extra). pip's own settings apply, so
# PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR builds the wheelhouse from wheels already on disk.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

if [ "${1:-}" = "--compile" ]; then
  # The runtime dependencies and the [postgresql] extra: what an installation needs.
  CUSTOM_COMPILE_COMMAND="scripts/wheelhouse.sh --compile" \
    "$PY" -m piptools compile --quiet --extra postgresql --strip-extras --allow-unsafe \
      --no-emit-index-url --no-emit-find-links --output-file constraints.txt pyproject.toml
  echo "constraints.txt written: $(grep -c '^[A-Za-z0-9]' constraints.txt) pinned distributions."
  exit 0
fi

OUT=${1:-dist/wheelhouse}
version=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
rm -rf "$OUT"
mkdir -p "$OUT"
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$OUT" . 2>/dev/null \
  || "$PY" -m pip wheel --no-deps --no-build-isolation --wheel-dir "$OUT" .
"$PY" -m pip wheel --quiet --constraint constraints.txt --wheel-dir "$OUT" --find-links "$OUT" \
  "kominfo-provision[postgresql]==$version"
cp constraints.txt "$OUT/constraints.txt"
tar -czf "$OUT.tar.gz" -C "$OUT" .
echo "Wheelhouse $OUT ($(ls "$OUT"/*.whl | wc -l) wheels) and $OUT.tar.gz for kominfo-provision $version."
