"""capture(exc) in error handlers, and the typed wrappers: replay, scrub, verify."""

from __future__ import annotations

import json
import secrets
import zipfile
from pathlib import Path

import cohere
import httpx
import pytest

import cohere_bundle
from conftest import assert_no_secret, members, summary

MESSAGES = [{"role": "user", "content": "Say hello."}]


def test_capture_in_an_api_error_handler_returns_a_zip_that_verifies(simulator: str, api_key: str, tmp_path: Path) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    co = cohere.ClientV2(api_key=api_key, base_url=simulator, httpx_client=httpx.Client(event_hooks=hooks))
    log = tmp_path / "app.log"
    log.write_text(f"calling cohere with key {api_key} and db password s3cr3t-db-passw0rd\n")
    try:
        co.chat(model="no-such-model", messages=MESSAGES)
    except cohere.core.ApiError as e:
        path = cohere_bundle.capture(e, logs=[log], secrets=["s3cr3t-db-passw0rd"], out=tmp_path)
    assert path.parent == tmp_path and path.name.startswith("cohere-support-") and path.suffix == ".zip"
    result = cohere_bundle.verify(path, [api_key, "s3cr3t-db-passw0rd"])
    assert result.members_checked >= 5
    s = summary(path)
    assert s["status"] == 404 and s["model"] == "no-such-model"
    assert "model_not_found" in [c["code"] for c in s["causes"]]
    m = members(path)
    assert any(n.startswith("logs/") for n in m)
    assert_no_secret(path, api_key)
    assert_no_secret(path, "s3cr3t-db-passw0rd")
    # capture() writes now; the recorder still has its own copy for the spool.
    assert hooks.flush(60) and len(hooks.bundles()) == 1


def test_capture_takes_an_explicit_request_and_an_output_path(simulator: str, api_key: str, tmp_path: Path) -> None:
    class Failed(Exception):
        status_code = 429
        headers = {"x-trial-endpoint-call-limit": "20", "retry-after": "7"}
        body = {"message": "You are using a Trial key, which is limited to 20 API calls / minute."}

    request = {
        "method": "POST",
        "url": "https://api.cohere.com/v2/chat",
        "headers": {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        "body": {"model": "command-a-03-2025", "messages": MESSAGES},
    }
    out = tmp_path / "ticket.zip"
    assert cohere_bundle.capture(Failed(), request=request, out=out) == out
    s = summary(out)
    assert s["status"] == 429 and s["platform"] == "cohere"
    assert "rate_limited_trial" in [c["code"] for c in s["causes"]]
    assert_no_secret(out, api_key)
    # A repeat of the same failure within the window writes nothing and gives the first bundle's path.
    written = out.stat().st_mtime_ns
    assert cohere_bundle.capture(Failed(), request=request, out=out) == out
    assert out.stat().st_mtime_ns == written


def test_capture_returns_none_and_logs_when_it_cannot_write(
    api_key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Failed(Exception):
        status_code = 500
        headers = {}
        body = {"message": "internal server error"}

    request = {"method": "POST", "url": "https://api.cohere.com/v2/chat", "headers": {"Authorization": f"Bearer {api_key}"},
               "body": {"model": "command-a-03-2025", "messages": MESSAGES}}
    out = tmp_path / "ticket.zip"
    assert cohere_bundle.capture(Failed(), request=request, out=out, window=0) == out
    with caplog.at_level("ERROR", logger="cohere_bundle"):
        assert cohere_bundle.capture(Failed(), request=request, out=out, window=0) is None  # exists, no force
    assert "exists" in caplog.text and "InputError" in caplog.text
    assert api_key not in caplog.text
    before = out.read_bytes()
    assert cohere_bundle.capture(Failed(), request=request, out=out, force=True, window=0) == out
    assert out.read_bytes() != before
    caplog.clear()
    with caplog.at_level("ERROR", logger="cohere_bundle"):
        assert cohere_bundle.capture(Failed(), request=request, logs=[tmp_path / "missing.log"], out=tmp_path) is None
        assert cohere_bundle.capture(Failed(), request=42, out=tmp_path) is None  # not a request
    assert "missing.log" in caplog.text and "TypeError" in caplog.text


def test_capture_of_a_broken_stream_uses_the_hooks_record(simulator: str, api_key: str, tmp_path: Path) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    co = cohere.ClientV2(api_key=api_key, base_url=simulator, httpx_client=httpx.Client(event_hooks=hooks))
    try:
        for _ in co.chat_stream(
            model="command-a-03-2025",
            messages=MESSAGES,
            request_options={"additional_headers": {"x-simulate": "stream-cut"}},
        ):
            pass
    except httpx.HTTPError as e:
        path = cohere_bundle.capture(e, out=tmp_path)
    s = summary(path)
    assert s["status"] == 200 and s["error"]["class"] == "stream"
    cohere_bundle.verify(path, [api_key])


def test_capture_without_any_request_writes_what_the_exception_holds(tmp_path: Path) -> None:
    path = cohere_bundle.capture(RuntimeError("boom"), out=tmp_path)
    assert path is not None and path.parent == tmp_path
    s = summary(path)
    assert s["status"] is None and s["error"]["class"] == "network"
    assert "RuntimeError: boom" in s["error"]["message"]
    note = members(path)["logs/request-not-captured.txt"].decode()
    assert "THE REQUEST WAS NOT CAPTURED" in note
    assert "no request id" in note
    assert "cohere_bundle.auto_instrument()" in note
    assert "RuntimeError: boom" in note


def test_replay_writes_a_bundle(simulator: str, api_key: str, tmp_path: Path) -> None:
    o = cohere_bundle.replay(
        {"model": "no-such-model", "messages": MESSAGES},
        base_url=simulator,
        api_key=api_key,
        out=tmp_path / "replay.zip",
    )
    assert o.path == tmp_path / "replay.zip" and o.size == o.path.stat().st_size
    assert o.summary["status"] == 404 and o.summary["mode"] == "replay"
    assert_no_secret(o.path, api_key)
    # A file, an httpx.Request and bytes are requests too.
    f = tmp_path / "req.json"
    f.write_text(json.dumps({"model": "no-such-model", "messages": MESSAGES}))
    assert cohere_bundle.replay(f, base_url=simulator, api_key=api_key, out=tmp_path / "f.zip").summary["status"] == 404
    req = httpx.Request(
        "POST",
        f"{simulator}/v2/chat",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": "no-such-model", "messages": MESSAGES},
    )
    o = cohere_bundle.replay(req, out=tmp_path / "r.zip")
    assert o.summary["status"] == 404 and o.summary["base_url"] == simulator
    assert_no_secret(o.path, api_key)


def test_replay_refuses_without_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CO_API_KEY", raising=False)
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    with pytest.raises(cohere_bundle.InputError, match="API key"):
        cohere_bundle.replay({"model": "m", "messages": MESSAGES}, base_url="http://127.0.0.1:9", out=tmp_path / "x.zip")


def test_scrub_removes_known_secrets_and_shapes() -> None:
    token = "ghp_" + secrets.token_hex(18)  # a GitHub token shape, known to nobody
    text = f"db password hunter2-but-longer here\nAuthorization: Bearer {token}\n"
    out = cohere_bundle.scrub(text, ["hunter2-but-longer"], scan_env=False)
    assert "hunter2-but-longer" not in out
    assert token not in out
    assert "[REDACTED:secret:1]" in out


def test_verify_rejects_tampered_bundles_and_leaks(tmp_path: Path, api_key: str) -> None:
    class Failed(Exception):
        status_code = 500
        headers = {}
        body = {"message": "internal server error"}

    request = {"method": "POST", "url": "https://api.cohere.com/v2/chat", "headers": {"Authorization": f"Bearer {api_key}"},
               "body": {"model": "command-a-03-2025", "messages": MESSAGES}}
    good = cohere_bundle.capture(Failed(), request=request, out=tmp_path / "good.zip")
    cohere_bundle.verify(good)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for n in src.namelist():
            data = src.read(n)
            if n == "report.md":
                data += b"\nextra line with the leaked value p4ssw0rd-leaked\n"
            dst.writestr(n, data)
    with pytest.raises(cohere_bundle.VerifyError):
        cohere_bundle.verify(bad)
    with pytest.raises(cohere_bundle.InputError):
        cohere_bundle.verify(tmp_path / "missing.zip")
