#!/usr/bin/env bash
# Installs the Python clients of the observe end-to-end tests into virtualenvs under target/:
# - the official Cohere Python SDK at target/py-sdk-venv (tests/observe.rs);
# - the OpenAI Python SDK `openai` and LiteLLM (`litellm`) at target/py-compat-venv (tests/compat.rs: the OpenAI
#   SDK on Cohere's compatibility API, LiteLLM's Cohere route), apart, so that their dependencies cannot change
#   the Cohere SDK's.
# Idempotent: a venv that already has its pinned packages is left as it is.
#
# Usage: scripts/setup-python-sdk.sh            (from anywhere; paths are relative to the repository)
# Env:   COHERE_SDK_VERSION  the PyPI `cohere` version to install (default below)
#        OPENAI_SDK_VERSION  the PyPI `openai` version (default below)
#        LITELLM_VERSION     the PyPI `litellm` version (default below)
#        PYTHON              the interpreter to build the venvs with (default: python3)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"

# installed VENV NAME==VERSION...: true when every package has its pinned version in VENV.
installed() {
    local venv="$1"
    shift
    [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if all(version(n) == v for n, v in (a.split("==") for a in sys.argv[1:])) else 1)
PY
}

# setup VENV NAME==VERSION...: installs the pinned packages into VENV unless they are there already.
setup() {
    local venv="$1"
    shift
    if installed "$venv" "$@"; then
        echo "setup-python-sdk: $* already installed in $venv"
        return 0
    fi
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "setup-python-sdk: $python not found; install Python 3.9+ (with venv) first" >&2
        exit 1
    fi
    mkdir -p "$root/target"
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$@"
    if ! installed "$venv" "$@"; then
        echo "setup-python-sdk: $* did not install into $venv" >&2
        exit 1
    fi
    echo "setup-python-sdk: installed $* into $venv"
}

setup "$root/target/py-sdk-venv" "cohere==${COHERE_SDK_VERSION:-7.3.1}"
setup "$root/target/py-compat-venv" "openai==${OPENAI_SDK_VERSION:-3.63.0}" "litellm==${LITELLM_VERSION:-1.110.2}"
