"""Shared fixtures: a simulated Cohere API on 127.0.0.1 (the project's simulator, started as a subprocess and
stopped at the end), a private tokenizer cache, and helpers to read bundles."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest


def _simulator_command() -> List[str]:
    # scripts/test points COHERE_BUNDLE_BIN at the binary `cargo test` built; without it, the package's own
    # command line runs the same simulator (`python -m cohere_bundle simulator`).
    exe = os.environ.get("COHERE_BUNDLE_BIN")
    if exe:
        return [exe, "simulator", "--port", "0"]
    return [sys.executable, "-m", "cohere_bundle", "simulator", "--port", "0"]


@pytest.fixture(scope="session")
def simulator() -> Iterator[str]:
    """The simulator's base URL, e.g. ``http://127.0.0.1:41234``."""
    proc = subprocess.Popen(_simulator_command(), stdout=subprocess.PIPE, text=True)
    url: List[str] = []
    reader = threading.Thread(target=lambda: url.append(proc.stdout.readline().strip()), daemon=True)
    reader.start()
    reader.join(60)
    if not url or not url[0].startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"the simulator printed no base URL: {url!r}")
    try:
        yield url[0]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["COHERE_BUNDLE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _fresh_capture_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with capture()'s storm gate and the hooks' record of recent failures empty, and
    without auto_instrument (undone after the test)."""
    import cohere_bundle

    monkeypatch.setattr(cohere_bundle, "_capture_gate", cohere_bundle._CaptureGate())
    cohere_bundle._recent.clear()
    cohere_bundle.uninstrument()
    yield
    cohere_bundle.uninstrument()


@pytest.fixture
def api_key() -> str:
    """A fresh key per test (the simulator takes any key): it must end up in no bundle member."""
    return "tk" + secrets.token_hex(19)


def members(zip_path: Path) -> Dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as z:
        return {n: z.read(n) for n in z.namelist()}


def summary(zip_path: Path) -> Dict[str, Any]:
    return json.loads(members(zip_path)["summary.json"])


def storm(zip_path: Path) -> Dict[str, Any]:
    return json.loads(members(zip_path)["storm.json"])


def assert_no_secret(zip_path: Path, secret: str) -> None:
    forms = [secret.encode(), base64.b64encode(secret.encode()), base64.urlsafe_b64encode(secret.encode())]
    for name, data in members(zip_path).items():
        for f in forms:
            assert f not in data, f"the key is in {name}"
