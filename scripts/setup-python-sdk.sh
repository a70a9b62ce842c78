#!/usr/bin/env bash
# Installs the official Cohere Python SDK into a virtualenv at target/py-sdk-venv, for the observe
# end-to-end test (tests/observe.rs). Idempotent: when the venv already has the pinned SDK it exits at once.
#
# Usage: scripts/setup-python-sdk.sh            (from anywhere; paths are relative to the repository)
# Env:   COHERE_SDK_VERSION  the PyPI `cohere` version to install (default below)
#        PYTHON              the interpreter to build the venv with (default: python3)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/py-sdk-venv"
version="${COHERE_SDK_VERSION:-7.3.1}"
python="${PYTHON:-python3}"

installed() {
    [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" - "$version" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("cohere") == sys.argv[1] else 1)
PY
}

if installed; then
    echo "setup-python-sdk: cohere $version already installed in $venv"
    exit 0
fi

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup-python-sdk: $python not found; install Python 3.9+ (with venv) first" >&2
    exit 1
fi

mkdir -p "$root/target"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "cohere==$version"

if ! installed; then
    echo "setup-python-sdk: cohere $version did not install into $venv" >&2
    exit 1
fi
echo "setup-python-sdk: installed cohere $version into $venv"
