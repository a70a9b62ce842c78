"""An error storm through the hooks: 1,000 failures of 2 kinds from 8 threads give 2 bundles with the right
counts, and the spool stays within its bounds."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

import cohere_bundle
from conftest import assert_no_secret, storm, summary


def test_a_storm_gives_one_bundle_per_signature_and_a_bounded_spool(simulator: str, api_key: str, tmp_path: Path) -> None:
    max_bytes = 2 * 1024 * 1024
    hooks = cohere_bundle.event_hooks(
        tmp_path / "spool", interval=3600, max_bundles=3, max_spool_bytes=max_bytes, queue=8
    )
    http = httpx.Client(
        base_url=simulator,
        headers={"Authorization": f"Bearer {api_key}"},
        event_hooks=hooks,
        transport=hooks.transport(),
    )
    errors = []

    def worker(t: int) -> None:
        try:
            for i in range(125):
                if (t + i) % 2 == 0:
                    r = http.post("/v2/chat", json={"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]})
                    assert r.status_code == 404
                else:
                    r = http.post(
                        "/v2/chat",
                        json={"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hi"}]},
                        headers={"x-simulate": "server-error"},
                    )
                    assert r.status_code == 500
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert hooks.flush(120)
    stats = hooks.stats()
    assert stats["captured"] == 1000 and stats["dropped"] == 0 and stats["bundles_written"] == 2, stats
    assert hooks._sink.outcomes == {"queued": 2, "counted": 998, "dropped": 0}
    bundles = hooks.bundles()
    assert len(bundles) == 2
    counts = sorted((storm(b)["signature"]["status"], storm(b)["count"]) for b in bundles)
    assert counts == [(404, 500), (500, 500)]
    for b in bundles:
        assert summary(b)["status"] in (404, 500)
        assert_no_secret(b, api_key)

    # Next: five more signatures (five unknown models); the spool keeps the newest three within its bytes.
    for m in range(5):
        http.post("/v2/chat", json={"model": f"missing-{m}", "messages": [{"role": "user", "content": "hi"}]})
    assert hooks.flush(120)
    spool = cohere_bundle.spool(hooks.spool_dir)
    assert len(spool) <= 3
    assert sum(n for _, n in spool) <= max_bytes
    stats = hooks.close(60)
    assert stats["bundles_written"] == 7 and stats["bundles_evicted"] == 4, stats
    assert {summary(p)["model"] for p, _ in spool} == {"missing-2", "missing-3", "missing-4"}
