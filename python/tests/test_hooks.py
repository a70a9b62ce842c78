"""The httpx event hooks on the official SDK's clients: failures become bundles, successes cost nothing."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import cohere
import httpx
import pytest

import cohere_bundle
from conftest import assert_no_secret, members, storm, summary

MESSAGES = [{"role": "user", "content": "Say hello."}]


def client(url: str, key: str, hooks: cohere_bundle.EventHooks, **kw) -> cohere.ClientV2:
    return cohere.ClientV2(
        api_key=key,
        base_url=url,
        httpx_client=httpx.Client(event_hooks=hooks, transport=hooks.transport(), **kw),
    )


def test_failing_chat_writes_exactly_one_bundle_without_the_key(simulator: str, api_key: str, tmp_path: Path) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    co = client(simulator, api_key, hooks)
    with pytest.raises(cohere.core.ApiError) as ei:
        co.chat(model="no-such-model", messages=MESSAGES)
    assert ei.value.status_code == 404
    assert hooks.flush(60)
    bundles = hooks.bundles()
    assert len(bundles) == 1, bundles
    s = summary(bundles[0])
    assert s["status"] == 404
    assert s["mode"] == "library"
    assert s["model"] == "no-such-model"
    assert s["endpoint"] == "v2/chat"
    assert "model_not_found" in [c["code"] for c in s["causes"]]
    assert "not found" in s["error"]["message"]
    assert s["client"]["sdk"] == "cohere"
    assert storm(bundles[0])["count"] == 1
    assert_no_secret(bundles[0], api_key)
    cohere_bundle.verify(bundles[0], [api_key])
    stats = hooks.close(30)
    assert stats["captured"] == 1 and stats["bundles_written"] == 1 and stats["internal_errors"] == 0


def test_successes_write_nothing(simulator: str, api_key: str, tmp_path: Path) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    co = client(simulator, api_key, hooks)
    r = co.chat(model="command-a-03-2025", messages=MESSAGES)
    assert r.message is not None
    events = [e.type for e in co.chat_stream(model="command-a-03-2025", messages=MESSAGES)]
    assert events[-1] == "message-end"
    co.embed(model="embed-v4.0", texts=["hi"], input_type="search_query", embedding_types=["float"])
    assert hooks.flush(60)
    assert hooks.bundles() == []
    assert hooks.stats()["captured"] == 0


def test_stream_cut_before_message_end_gives_a_stream_bundle(simulator: str, api_key: str, tmp_path: Path) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    co = client(simulator, api_key, hooks)
    seen = []
    with pytest.raises(httpx.RemoteProtocolError):
        for e in co.chat_stream(
            model="command-a-03-2025",
            messages=MESSAGES,
            request_options={"additional_headers": {"x-simulate": "stream-cut"}},
        ):
            seen.append(e.type)
    assert seen and "message-end" not in seen
    assert hooks.flush(60)
    bundles = hooks.bundles()
    assert len(bundles) == 1
    s = summary(bundles[0])
    assert s["status"] == 200
    assert s["error"]["class"] == "stream"
    assert "message-end" in s["error"]["message"]
    assert "stream_error" in [c["code"] for c in s["causes"]]
    assert storm(bundles[0])["signature"]["class"] == "stream"
    assert b"event: message-start" in members(bundles[0])["exchanges/001.json"]
    assert_no_secret(bundles[0], api_key)


def test_stream_with_an_error_event_gives_a_stream_bundle(simulator: str, api_key: str, tmp_path: Path) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    co = client(simulator, api_key, hooks)
    for _ in co.chat_stream(
        model="command-a-03-2025",
        messages=MESSAGES,
        request_options={"additional_headers": {"x-simulate": "stream-error"}},
    ):
        pass
    assert hooks.flush(60)
    bundles = hooks.bundles()
    assert len(bundles) == 1
    assert summary(bundles[0])["error"]["class"] == "stream"


def test_transport_errors_reach_the_recorder_through_the_transport(api_key: str, tmp_path: Path, simulator: str) -> None:
    # A refused connection: nothing listens on this port.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    co = client(f"http://127.0.0.1:{port}", api_key, hooks)
    with pytest.raises(httpx.ConnectError):
        co.chat(model="command-a-03-2025", messages=MESSAGES, request_options={"max_retries": 0})
    # A timeout: the simulator holds the answer back.
    co = client(simulator, api_key, hooks, timeout=0.5)
    with pytest.raises(httpx.ReadTimeout):
        co.chat(
            model="command-a-03-2025",
            messages=MESSAGES,
            request_options={"additional_headers": {"x-simulate": "hang"}, "max_retries": 0},
        )
    assert hooks.flush(60)
    classes = sorted(summary(b)["error"]["class"] for b in hooks.bundles())
    assert classes == ["network", "timeout"]
    for b in hooks.bundles():
        assert summary(b)["status"] is None
        assert_no_secret(b, api_key)


def test_the_hooks_never_raise_into_the_application(simulator: str, api_key: str, tmp_path: Path) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)

    def broken(*a, **k):
        raise RuntimeError("recorder broke")

    hooks._sink.record = broken  # type: ignore[method-assign]
    co = client(simulator, api_key, hooks)
    with pytest.raises(cohere.core.ApiError):
        co.chat(model="no-such-model", messages=MESSAGES)
    with pytest.raises(httpx.RemoteProtocolError):
        for _ in co.chat_stream(
            model="command-a-03-2025",
            messages=MESSAGES,
            request_options={"additional_headers": {"x-simulate": "stream-cut"}},
        ):
            pass
    assert hooks.stats()["internal_errors"] == 2


@pytest.mark.parametrize("async_", [True, None])
def test_the_async_client_works_too(simulator: str, api_key: str, tmp_path: Path, async_) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600, async_=async_)
    if async_:
        import inspect

        assert inspect.iscoroutinefunction(hooks["request"][0])
        assert inspect.iscoroutinefunction(hooks["response"][0])

    async def main() -> Path:
        co = cohere.AsyncClientV2(
            api_key=api_key,
            base_url=simulator,
            httpx_client=httpx.AsyncClient(event_hooks=hooks, transport=hooks.async_transport()),
        )
        ok = await co.chat(model="command-a-03-2025", messages=MESSAGES)
        assert ok.message is not None
        with pytest.raises(cohere.core.ApiError) as ei:
            await co.chat(model="no-such-model", messages=MESSAGES)
        # capture() off the event loop; it finds the 404 by the request id in the exception's headers.
        path = await asyncio.to_thread(cohere_bundle.capture, ei.value, out=tmp_path)
        with pytest.raises(httpx.RemoteProtocolError):
            async for _ in co.chat_stream(
                model="command-a-03-2025",
                messages=MESSAGES,
                request_options={"additional_headers": {"x-simulate": "stream-cut"}},
            ):
                pass
        return path

    path = asyncio.run(main())
    assert summary(path)["status"] == 404
    assert_no_secret(path, api_key)
    assert hooks.flush(60)
    got = sorted((summary(b)["status"], summary(b)["error"]["class"]) for b in hooks.bundles())
    assert got == [(200, "stream"), (404, "http")]
    for b in hooks.bundles():
        assert_no_secret(b, api_key)
    assert hooks.stats()["internal_errors"] == 0
