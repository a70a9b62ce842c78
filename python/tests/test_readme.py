"""The README's Python quick start, run as written against the simulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import assert_no_secret, members, summary

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart() -> str:
    """The ```python block right after the `<!-- python-quickstart -->` line of README.md."""
    m = re.search(r"^<!-- python-quickstart -->\n```python\n(.*?)^```$", README.read_text(encoding="utf-8"), re.M | re.S)
    assert m, "README.md has no ```python block after <!-- python-quickstart -->"
    return m.group(1)


def test_the_readme_quickstart_runs_as_written(simulator: str, api_key: str, tmp_path: Path) -> None:
    code = quickstart()
    assert "cohere_bundle.auto_instrument()" in code and "cohere_bundle.capture(e" in code
    (tmp_path / "app.log").write_text("2026-12-06 09:00:00 INFO the app's own log\n")
    # Only the environment differs from a user's: the simulator's base URL (which the SDK reads from
    # CO_API_URL) and a key.
    env = dict(os.environ, CO_API_URL=simulator, CO_API_KEY=api_key)
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    m = re.search(r"^support bundle: (.+\.zip)$", p.stdout, re.M)
    assert m, p.stdout
    path = tmp_path / m.group(1)
    assert path.is_file() and path.parent == tmp_path
    s = summary(path)
    # The 404's own request was captured (auto_instrument hooked the client made after it).
    assert (s["status"], s["model"], s["endpoint"]) == (404, "command-xlarge-nightly", "v2/chat")
    assert "logs/app.log" in s["logs"] and "logs/traceback.txt" in s["logs"]
    assert "logs/request-not-captured.txt" not in members(path)
    assert_no_secret(path, api_key)
    # The hooks' own spool got the failure too (written at exit).
    spooled = list((tmp_path / "cohere-support").glob("*.zip"))
    assert len(spooled) == 1 and summary(spooled[0])["model"] == "command-xlarge-nightly"
    assert api_key not in p.stdout + p.stderr
