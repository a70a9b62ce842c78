"""`python -m cohere_bundle` is the binary's command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cohere_bundle


def run(*args: str, input: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cohere_bundle", *args], input=input, capture_output=True, text=True, timeout=120
    )


def test_version_and_help() -> None:
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"cohere-bundle {cohere_bundle.__version__}"
    r = run("--help")
    assert r.returncode == 0 and "replay" in r.stdout and "verify" in r.stdout


def test_usage_errors_exit_2() -> None:
    r = run("replay")
    assert r.returncode == 2 and "REQUEST" in r.stderr


def test_usage_errors_under_json_are_json() -> None:
    r = run("bundle", "--request", "req.json", "--status", "600", "--json")
    assert r.returncode == 2
    err = json.loads(r.stdout)["error"]
    assert err["kind"] == "usage" and err["exit_code"] == 2 and "--status" in err["message"]
    r = run("replay", "--help", "--json")
    assert r.returncode == 0 and "Examples:" in r.stdout


def test_replay_and_verify_through_the_cli(simulator: str, api_key: str, tmp_path: Path) -> None:
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}))
    out = tmp_path / "cli.zip"
    r = subprocess.run(
        [sys.executable, "-m", "cohere_bundle", "replay", str(req), "--base-url", simulator, "-o", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "CO_API_KEY": api_key},
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bundle"] == str(out)
    r = run("verify", str(out), "--secret", api_key, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True


def test_scrub_from_stdin() -> None:
    r = run("scrub", "--secret", "my-very-secret-value", input="token my-very-secret-value end\n")
    assert r.returncode == 0
    assert "my-very-secret-value" not in r.stdout and "[REDACTED" in r.stdout
