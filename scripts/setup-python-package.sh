#!/usr/bin/env bash
# Builds the Python package `cohere-bundle` (python/: a PyO3 extension, built with maturin) and installs it,
# with what its tests need (maturin, pytest, httpx, the official cohere SDK), into a virtualenv at
# target/py-pkg-venv, for the pytest suite under python/tests. Idempotent: the tools are installed only when
# one is missing or the SDK is at another version; cargo rebuilds the extension only when a source changed.
#
# The extension builds in the main crate's target directory with its dev profile, so the dependencies
# `cargo build` compiled are reused (a release build is `COHERE_BUNDLE_PY_PROFILE=release`). The package
# is installed editable (`maturin develop`): python/cohere_bundle is imported from the checkout.
# `pip install ./python` builds and installs the same package on any machine with a Rust toolchain.
#
# Usage: scripts/setup-python-package.sh      (from anywhere; paths are relative to the repository)
# Env:   COHERE_SDK_VERSION        the PyPI `cohere` version to install (default below)
#        PYTHON                    the interpreter to build the venv with (default: python3)
#        COHERE_BUNDLE_PY_PROFILE  the cargo profile of the extension: dev (default) or release
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/py-pkg-venv"
version="${COHERE_SDK_VERSION:-7.3.1}"
python="${PYTHON:-python3}"
profile="${COHERE_BUNDLE_PY_PROFILE:-dev}"

tools_installed() {
    [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" - "$version" <<'PY' 2>/dev/null
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    ok = version("cohere") == sys.argv[1] and all(version(p) for p in ("maturin", "pytest", "httpx"))
except PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup-python-package: $python not found; install Python 3.9+ (with venv) first" >&2
    exit 1
fi
mkdir -p "$root/target"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
if ! tools_installed; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "maturin>=1.5,<2" "pytest>=7" "httpx>=0.23" "cohere==$version"
    tools_installed || {
        echo "setup-python-package: the test tools did not install into $venv" >&2
        exit 1
    }
fi

# The main crate's target directory (CARGO_TARGET_DIR or a .cargo/config setting included).
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
export CARGO_TARGET_DIR="$target_dir"

echo "setup-python-package: building the extension (cargo profile $profile) into $target_dir"
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
    "$venv/bin/maturin" develop --quiet --manifest-path "$root/python/Cargo.toml" --profile "$profile"

"$venv/bin/python" -c 'import cohere_bundle, sys; sys.stdout.write("setup-python-package: cohere_bundle %s installed\n" % cohere_bundle.__version__)'
