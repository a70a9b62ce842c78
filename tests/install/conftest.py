"""Fixtures of the install tests: the artifacts scripts/package wrote, and an environment like a user's who has
Python, Node and a shell but no Rust toolchain and no network (npm offline with an empty cache and a registry that
refuses connections; pip with no index).

The artifacts are read from ``COHERE_BUNDLE_PACKAGE_DIR`` (default ``target/package``); scripts/test writes them
there with ``scripts/package --profile dev`` first. The wheels of the Python dependencies come from
``target/wheelhouse`` (scripts/setup-wheelhouse.sh), and the Node SDK ``cohere-ai`` from ``tests/node/node_modules``
(scripts/setup-node.sh), the folders the setup scripts filled from the registries.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(os.environ.get("COHERE_BUNDLE_PACKAGE_DIR", ROOT / "target" / "package")).resolve()
WHEELHOUSE = ROOT / "target" / "wheelhouse"
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"

# What a user's PATH holds here: an interpreter, Node with npm/npx, a shell and the archive tools. Nothing else.
TOOLS = ["python3", "node", "npm", "npx", "sh", "bash", "tar", "gzip", "sha256sum"]
# A registry address that refuses connections: any registry request fails at once instead of reaching one.
NO_REGISTRY = "http://127.0.0.1:9/"


@dataclass
class Artifacts:
    version: str
    wheel: Path
    npm_main: Path
    npm_platform: Path
    archive: Path
    checksum: Path


def _one(pattern: str) -> Path:
    found = sorted(PACKAGE_DIR.glob(pattern))
    assert len(found) == 1, f"want exactly one {pattern} in {PACKAGE_DIR} (run scripts/package): {found}"
    return found[0]


@pytest.fixture(scope="session")
def artifacts() -> Artifacts:
    wheel = _one("cohere_bundle-*-cp39-abi3-*.whl")
    version = wheel.name.split("-")[1]
    platform = _one(f"cohere-bundle-*-*-{version}.tgz")
    main = PACKAGE_DIR / f"cohere-bundle-{version}.tgz"
    archive = _one(f"cohere-bundle-{version}-*.tar.gz")
    checksum = Path(f"{archive}.sha256")
    for p in (main, checksum):
        assert p.is_file(), f"{p} is missing: every artifact must be of version {version} (the wheel's)"
    return Artifacts(version, wheel, main, platform, archive, checksum)


def _real_python() -> str:
    # The interpreter under this test's venv (a pyenv shim on PATH would need pyenv itself).
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


@pytest.fixture(scope="session")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """A fresh environment: PATH with only TOOLS (no cargo, rustc or rustup), a temp HOME, npm offline with an
    empty cache, pip without an index, a private tokenizer cache. Nothing of the caller's environment leaks in
    (no CO_API_KEY, CARGO_*, VIRTUAL_ENV, PYTHONPATH, NODE_OPTIONS, ~/.npmrc, pip.conf)."""
    base = tmp_path_factory.mktemp("user")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = _real_python() if tool == "python3" else shutil.which(tool)
        assert found, f"{tool} is not installed"
        (bin_dir / tool).symlink_to(found)
    path = str(bin_dir)
    for tool in ("cargo", "rustc", "rustup", "maturin"):
        assert shutil.which(tool, path=path) is None, f"{tool} is on the test PATH"
    home = base / "home"
    home.mkdir()
    env = {
        "PATH": path,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp_path_factory.mktemp("tmp")),
        "NO_COLOR": "1",
        "COHERE_BUNDLE_CACHE_DIR": str(base / "cache"),
        "npm_config_offline": "true",
        "npm_config_cache": str(base / "npm-cache"),
        "npm_config_registry": NO_REGISTRY,
        "npm_config_userconfig": str(home / ".npmrc"),
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_update_notifier": "false",
        "PIP_NO_INDEX": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_CACHE_DIR": "1",
    }
    return env


def run(cmd: List[str], env: Dict[str, str], cwd: Path, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    """Runs cmd (looked up on env's PATH) and returns it finished, with stdout and stderr as text."""
    full = {**env, **extra}
    exe = shutil.which(cmd[0], path=full["PATH"]) or cmd[0]
    return subprocess.run([exe, *cmd[1:]], env=full, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, f"{p.args} exited {p.returncode}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}"
    return p


class Simulator:
    """A `cohere-bundle simulator --port 0` started by the given command; `url` is its base URL."""

    def __init__(self, cmd: List[str], env: Dict[str, str], cwd: Path) -> None:
        exe = shutil.which(cmd[0], path=env["PATH"]) or cmd[0]
        # Its own process group, so that teardown can stop whatever it started (npx, a launcher, the binary).
        self.proc = subprocess.Popen([exe, *cmd[1:], "simulator", "--port", "0"], env=env, cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        line: List[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline().strip()), daemon=True)
        reader.start()
        reader.join(60)
        if not line or not line[0].startswith("http://127.0.0.1:"):
            self.kill_group()
            raise AssertionError(f"{cmd} simulator printed no base URL: {line!r}, stderr {self.proc.stderr.read()!r}")
        self.url = line[0]
        self.port = int(self.url.rsplit(":", 1)[1])

    def kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Sends sig and waits; returns the exit status (negative: killed by that signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise AssertionError(f"the simulator did not stop within {timeout}s of signal {sig}")


@pytest.fixture
def simulator_factory() -> Iterator[Any]:
    started: List[Simulator] = []

    def start(cmd: List[str], env: Dict[str, str], cwd: Path) -> Simulator:
        s = Simulator(cmd, env, cwd)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill_group()  # also what outlived its parent (a launcher that did not forward a signal)


def members(zip_path: Path) -> Dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as z:
        return {n: z.read(n) for n in z.namelist()}


def summary(zip_path: Path) -> Dict[str, Any]:
    return json.loads(members(zip_path)["summary.json"])


def assert_no_secret(zip_path: Path, secret: str) -> None:
    for name, data in members(zip_path).items():
        assert secret.encode() not in data, f"the key is in {name} of {zip_path}"


def last_json_line(text: str) -> Dict[str, Any]:
    lines = [l for l in text.splitlines() if l.startswith("{")]
    assert lines, f"no JSON line in {text!r}"
    return json.loads(lines[-1])


VERSION_RE = re.compile(r"^cohere-bundle (\S+)$")
