"""Issue 22: the hooks write the first failure of a kind at once (no flush, no tick), list every bundle in the
spool's index.jsonl, count repeats into the bundle, and report a write error with its reason."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

import cohere_bundle
from conftest import storm

CHAT = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}


def wait_for(cond, timeout: float = 120.0) -> bool:
    """Polls ``cond`` (a generous bound for a loaded machine; the figure is in benches/recorder.rs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_the_first_failure_is_written_at_once_and_indexed(simulator: str, api_key: str, tmp_path: Path) -> None:
    # An hour's interval: a bundle that appears before any flush was written at once, not at a tick.
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    http = httpx.Client(
        base_url=simulator, headers={"Authorization": f"Bearer {api_key}"}, event_hooks=hooks
    )
    assert http.post("/v2/chat", json=CHAT).status_code == 404
    assert wait_for(lambda: len(hooks.bundles()) == 1), hooks.stats()
    [bundle] = hooks.bundles()
    lines = hooks.index()
    assert [line["event"] for line in lines] == ["written"]
    assert lines[0]["path"] == str(bundle)
    assert lines[0]["status"] == 404
    assert lines[0]["cause"] == "model_not_found"
    assert lines[0]["signature"]["model"] == "no-such-model"
    assert lines[0]["count"] == 1
    assert cohere_bundle.index(tmp_path / "spool") == lines

    # Two repeats are counted into the same bundle when the interval ends (here: flush).
    for _ in range(2):
        assert http.post("/v2/chat", json=CHAT).status_code == 404
    assert hooks.flush(60)
    assert hooks.bundles() == [bundle]
    assert storm(bundle)["count"] == 3
    cohere_bundle.verify(bundle, [api_key])
    lines = hooks.index()
    assert [line["event"] for line in lines] == ["written", "counts"]
    assert lines[-1]["count"] == 3 and lines[-1]["path"] == str(bundle)
    stats = hooks.close(30)
    assert stats["bundles_written"] == 1 and stats["bundles_updated"] == 1, stats
    assert stats["write_errors"] == 0 and stats["last_error"] is None, stats


def test_a_write_error_is_reported_with_its_reason(simulator: str, api_key: str, tmp_path: Path) -> None:
    missing = tmp_path / "not-there.log"
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600, logs=[missing])
    http = httpx.Client(
        base_url=simulator, headers={"Authorization": f"Bearer {api_key}"}, event_hooks=hooks
    )
    assert http.post("/v2/chat", json=CHAT).status_code == 404
    assert hooks.flush(60)
    stats = hooks.stats()
    assert stats["write_errors"] == 1 and stats["bundles_written"] == 0, stats
    assert "not-there.log" in stats["last_error"], stats
    [line] = hooks.index()
    assert line["event"] == "write_failed" and line["path"] is None
    assert "not-there.log" in line["error"]
    assert hooks.bundles() == []
    hooks.close(30)
