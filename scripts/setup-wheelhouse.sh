#!/usr/bin/env bash
# Downloads the wheels of the Python package's dependencies and of the cohere SDK into target/wheelhouse, for
# tests/install: they install the built wheel into a fresh virtualenv with `pip install --no-index
# --find-links target/wheelhouse`, as a user would but without the network. Idempotent: a wheelhouse made for
# the same requirements and interpreter is kept.
#
# Usage: scripts/setup-wheelhouse.sh      (from anywhere; paths are relative to the repository)
# Env:   COHERE_SDK_VERSION  the PyPI `cohere` version (default below, as scripts/setup-python-package.sh)
#        PYTHON              the interpreter (default target/py-pkg-venv/bin/python, else python3): the wheels
#                            are chosen for it, and the tests build their venv from the same base interpreter
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/target/wheelhouse"
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x "$root/target/py-pkg-venv/bin/python" ]; then python="$root/target/py-pkg-venv/bin/python"; else python=python3; fi
fi
# What the wheel depends on (python/pyproject.toml) and the SDK the tests drive.
requirements=("httpx>=0.23" "cohere==${COHERE_SDK_VERSION:-7.3.1}")
want="$(printf '%s\n' "${requirements[@]}") $("$python" -c 'import sys; print(sys.version_info[:2])')"
if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$want" ]; then
    echo "setup-wheelhouse: target/wheelhouse is up to date"
    exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
"$python" -m pip download --quiet --disable-pip-version-check --only-binary :all: --dest "$dir" "${requirements[@]}"
echo "$want" >"$dir/.stamp"
echo "setup-wheelhouse: $(ls "$dir"/*.whl | wc -l) wheels in target/wheelhouse"
