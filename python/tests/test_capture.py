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



class _Failed500(Exception):
    """An SDK-like exception: a 500 with headers and a body."""

    status_code = 500
    headers: dict = {}
    body = {"message": "internal server error"}


def _failed_500(api_key: str):
    """The exception class of a 500, and the request dict it failed on (with the key in its headers)."""
    request = {"method": "POST", "url": "https://api.cohere.com/v2/chat", "headers": {"Authorization": f"Bearer {api_key}"},
               "body": {"model": "command-a-03-2025", "messages": MESSAGES}}
    return _Failed500, request


def test_capture_returns_none_and_logs_when_it_cannot_write(
    api_key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Failed, request = _failed_500(api_key)
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


def test_capture_logs_its_reason_without_secrets_or_control_characters(
    api_key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A reason that names a log path holding the key, a caller's secret and an escape sequence, as a stranger's
    # file name can: the log line says which log, with neither secret and no raw control character.
    Failed, request = _failed_500(api_key)
    secret = "s3cr3t-db-password-77"
    log = tmp_path / f"app-{api_key}-{secret}-\x1b[2J.log"
    with caplog.at_level("ERROR", logger="cohere_bundle"):
        assert cohere_bundle.capture(Failed(), request=request, logs=[log], secrets=iter([secret]), out=tmp_path) is None
    assert "no bundle written" in caplog.text and ".log" in caplog.text, caplog.text
    assert api_key not in caplog.text and secret not in caplog.text, caplog.text
    assert "\x1b" not in caplog.text and "\\x1b" in caplog.text, caplog.text


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
    Failed, request = _failed_500(api_key)
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


# ------------------------------------------------------------------ capture(e) finds the exception's own


def test_capture_with_no_hooks_at_all_writes_the_exception_and_says_the_body_was_not_captured(
    simulator: str, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import weakref

    monkeypatch.setattr(cohere_bundle, "_sinks", weakref.WeakSet())  # no hooks in this process
    co = cohere.ClientV2(api_key=api_key, base_url=simulator)  # plain: no hooks
    try:
        co.chat(model="command-xlarge-nightly", messages=MESSAGES)
    except cohere.core.ApiError as e:
        err = e
        path = cohere_bundle.capture(e, out=tmp_path)
    assert path is not None and path.parent == tmp_path
    s = summary(path)
    assert s["status"] == 404 and s["request_id"] == err.headers["x-debug-trace-id"]
    assert "model_not_found" in [c["code"] for c in s["causes"]]  # from the response body the exception held
    assert s["model"] is None  # the request was not captured: not guessed
    assert "logs/request-not-captured.txt" in s["logs"]
    m = members(path)
    ex = json.loads(m["exchanges/001.json"])
    assert ex["request"]["url"] == "" and ex["request"]["body"]["size"] == 0
    note = m["logs/request-not-captured.txt"].decode()
    assert "THE REQUEST WAS NOT CAPTURED" in note
    assert "no cohere_bundle hooks were installed" in note
    assert "cohere_bundle.auto_instrument()" in note
    assert err.headers["x-debug-trace-id"] in note
    assert "NotFoundError" in note and "Traceback" in note
    # The report itself says so, and claims nothing about the key it could not see.
    notes = [n for n in s["notes"] if n["kind"] == "request_missing"]
    assert len(notes) == 1 and "cohere_bundle.auto_instrument()" in notes[0]["text"], s["notes"]
    report = m["report.md"].decode()
    assert "the request was not captured" in report
    assert "whether a key was sent is not known" in report and "no key was sent" not in report
    assert_no_secret(path, api_key)
    cohere_bundle.verify(path, [api_key])


def test_capture_does_not_take_another_clients_exchange(simulator: str, api_key: str, tmp_path: Path) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    hooked = cohere.ClientV2(api_key=api_key, base_url=simulator, httpx_client=httpx.Client(event_hooks=hooks))
    plain = cohere.ClientV2(api_key=api_key, base_url=simulator)
    with pytest.raises(cohere.core.ApiError):
        hooked.chat(model="missing-on-the-hooked-client", messages=MESSAGES)
    with pytest.raises(cohere.core.ApiError) as ei:
        plain.chat(model="missing-on-the-plain-client", messages=MESSAGES)
    path = cohere_bundle.capture(ei.value, out=tmp_path)
    assert path is not None
    m = members(path)
    assert b"missing-on-the-hooked-client" not in m["exchanges/001.json"]
    assert summary(path)["model"] is None and summary(path)["status"] == 404
    note = m["logs/request-not-captured.txt"].decode()
    assert "recorded no failed exchange with request id " + ei.value.headers["x-debug-trace-id"] in note


def test_capture_of_an_http_status_error_uses_its_own_response(simulator: str, api_key: str, tmp_path: Path) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    http = httpx.Client(base_url=simulator, headers={"Authorization": f"Bearer {api_key}"}, event_hooks=hooks)
    first = http.post("/v2/chat", json={"model": "first-missing", "messages": MESSAGES})
    second = http.post("/v2/chat", json={"model": "second-missing", "messages": MESSAGES})
    assert (first.status_code, second.status_code) == (404, 404)
    with pytest.raises(httpx.HTTPStatusError) as ei:
        first.raise_for_status()
    path = cohere_bundle.capture(ei.value, out=tmp_path)
    assert path is not None
    s = summary(path)
    assert (s["model"], s["status"]) == ("first-missing", 404)
    assert s["request_id"] == first.headers["x-debug-trace-id"]
    assert "logs/traceback.txt" in s["logs"]


def test_capture_with_a_request_id_recorded_twice_does_not_guess(tmp_path: Path) -> None:
    for model in ("a-model", "b-model"):
        req = httpx.Request("POST", "https://api.cohere.com/v2/chat", json={"model": model})
        cohere_bundle._recent.add(
            cohere_bundle.Exchange(req, 404, [("x-debug-trace-id", "same-id")], b'{"message":"not found"}')
        )

    class Failed(Exception):
        status_code = 404
        headers = {"x-debug-trace-id": "same-id"}
        body = {"message": "not found"}

    path = cohere_bundle.capture(Failed(), out=tmp_path)
    assert path is not None and summary(path)["model"] is None
    assert "recorded 2 failed exchanges with request id same-id" in members(path)["logs/request-not-captured.txt"].decode()


def test_capture_never_raises_on_odd_exceptions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class HeadersRaise(Exception):
        status_code = 500

        @property
        def headers(self):
            raise RuntimeError("headers unavailable")

    class EverythingRaises(Exception):
        def __getattribute__(self, name):
            if name in ("status_code", "headers", "body", "request", "response"):
                raise RuntimeError(name)
            return super().__getattribute__(name)

        def __str__(self):
            raise RuntimeError("no str either")

    class OddValues(Exception):
        status_code = "404"  # not an int
        headers = 12345  # not headers
        body = object()  # not JSON

    class HugeStatus(Exception):
        status_code = 10**9
        headers = [("x-debug-trace-id", None)]
        body = b"\xff\xfe binary"

    odd = [ValueError("bare"), HeadersRaise("h"), EverythingRaises(), OddValues(), HugeStatus(), KeyError("k")]
    with caplog.at_level("ERROR", logger="cohere_bundle"):
        paths = [cohere_bundle.capture(e, out=tmp_path) for e in odd]
        # Not even an exception: no bundle, no raise.
        assert cohere_bundle.capture("not an exception", out=tmp_path / "missing-dir" / "x.zip") is None  # type: ignore[arg-type]
    assert all(isinstance(p, Path) and p.exists() for p in paths), paths
    assert len(set(paths)) == len(odd)
    for p in paths:
        assert "logs/request-not-captured.txt" in summary(p)["logs"]
    assert summary(paths[1])["status"] == 500
    assert "no bundle written" in caplog.text


def test_capture_storm_of_the_same_failure_writes_one_bundle(tmp_path: Path) -> None:
    class Failed(Exception):
        status_code = 429
        headers = {"x-debug-trace-id": "storm-1", "x-trial-endpoint-call-limit": "20"}
        body = {"message": "You are using a Trial key, which is limited to 20 API calls / minute."}

    out = tmp_path / "out"
    out.mkdir()
    paths = set()
    errors = []

    def worker() -> None:
        try:
            for _ in range(25):
                paths.add(cohere_bundle.capture(Failed(), out=out))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    import threading

    threads = [threading.Thread(target=worker) for _ in range(8)]  # 200 captures
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    zips = sorted(out.glob("*.zip"))
    assert len(zips) == 1 and paths == {zips[0]}
    assert cohere_bundle._capture_gate.written == 1 and cohere_bundle._capture_gate.repeats == 199


def test_capture_storm_of_many_kinds_is_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    out.mkdir()
    results = []
    with caplog.at_level("WARNING", logger="cohere_bundle"):
        for i in range(200):
            request = {"method": "POST", "url": "https://api.cohere.com/v2/chat", "headers": {},
                       "body": {"model": f"missing-{i % 40}", "messages": MESSAGES}}
            e = RuntimeError("boom")
            results.append(cohere_bundle.capture(e, request=request, out=out))
    zips = list(out.glob("*.zip"))
    assert len(zips) == 20  # the per-minute budget
    # Kinds 0-19 are written once, their repeats given the same path; kinds 20-39 (5 captures each) find the
    # budget spent.
    assert sum(r is None for r in results) == 20 * 5
    assert {r for r in results if r is not None} == set(zips)
    assert caplog.text.count("bundles written in the last") == 1
