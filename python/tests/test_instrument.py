"""auto_instrument() and wrap() on the official SDK's clients (cohere 7.x, the real package), and capture(e)
finding the exception's own exchange among others: a 404 followed by a successful stream through the same
client is bundled as the 404, never as the stream."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, List

import cohere
import httpx
import pytest

import cohere_bundle
from conftest import assert_no_secret, members, summary

MESSAGES = [{"role": "user", "content": "Say hello."}]
RETIRED = "command-xlarge-nightly"  # no longer served: the simulator answers 404


def httpx_of(co: Any) -> Any:
    return co._client_wrapper.httpx_client.httpx_client


def our_hooks(hc: Any) -> List[Any]:
    return [h for h in hc.event_hooks["request"] + hc.event_hooks["response"] if isinstance(getattr(h, "__self__", None), cohere_bundle.EventHooks)]


def fail_then_stream(co: cohere.ClientV2) -> cohere.core.ApiError:
    """A 404 for a retired model, then a stream that succeeds through the same client: the 404's error."""
    with pytest.raises(cohere.core.ApiError) as ei:
        co.chat(model=RETIRED, messages=MESSAGES)
    assert ei.value.status_code == 404
    events = [e.type for e in co.chat_stream(model="command-a-03-2025", messages=MESSAGES)]
    assert events[-1] == "message-end"
    return ei.value


def assert_bundles_the_404(path: Path, err: cohere.core.ApiError, api_key: str) -> None:
    s = summary(path)
    assert s["status"] == 404 and s["model"] == RETIRED, (s["status"], s["model"])
    assert s["endpoint"] == "v2/chat"
    assert s["request_id"] == err.headers["x-debug-trace-id"]
    ex = json.loads(members(path)["exchanges/001.json"])
    assert ex["request"]["url"].endswith("/v2/chat")
    assert RETIRED in ex["request"]["body"]["text"] and "command-a-03-2025" not in ex["request"]["body"]["text"]
    m = members(path)
    assert "logs/request-not-captured.txt" not in m
    assert b"NotFoundError" in m["logs/traceback.txt"]
    assert_no_secret(path, api_key)
    cohere_bundle.verify(path, [api_key])


def test_auto_instrument_hooks_new_clients_and_capture_bundles_the_404_not_the_later_stream(
    simulator: str, api_key: str, tmp_path: Path
) -> None:
    hooks = cohere_bundle.auto_instrument(spool_dir=tmp_path / "spool", interval=3600)
    assert isinstance(hooks, cohere_bundle.EventHooks)
    co = cohere.ClientV2(api_key=api_key, base_url=simulator)
    hc = httpx_of(co)
    assert len(our_hooks(hc)) == 2  # one request hook, one response hook
    assert isinstance(hc._transport, cohere_bundle.Transport)
    err = fail_then_stream(co)
    path = cohere_bundle.capture(err, out=tmp_path)
    assert path is not None
    assert_bundles_the_404(path, err, api_key)
    # The hooks wrote the 404 into their spool too, and the successful stream nothing.
    assert hooks.flush(60)
    assert [summary(b)["model"] for b in hooks.bundles()] == [RETIRED]


def test_auto_instrument_adds_to_a_users_own_httpx_client(simulator: str, api_key: str, tmp_path: Path) -> None:
    seen: List[int] = []
    theirs = httpx.Client(
        event_hooks={"response": [lambda r: seen.append(r.status_code)]}, headers={"x-app": "mine"}, timeout=30
    )
    hooks = cohere_bundle.auto_instrument(spool_dir=tmp_path / "spool", interval=3600)
    co = cohere.ClientV2(api_key=api_key, base_url=simulator, httpx_client=theirs)
    assert httpx_of(co) is theirs  # kept, not replaced
    assert len(our_hooks(theirs)) == 2 and len(theirs.event_hooks["response"]) == 2
    err = fail_then_stream(co)
    assert seen == [404, 200]  # the user's own hook still runs
    path = cohere_bundle.capture(err, out=tmp_path)
    assert path is not None
    assert_bundles_the_404(path, err, api_key)
    assert hooks is not None and hooks.flush(60) and len(hooks.bundles()) == 1


def test_auto_instrument_is_idempotent_and_hooks_v1_clients_too(simulator: str, api_key: str, tmp_path: Path) -> None:
    first = cohere_bundle.auto_instrument(spool_dir=tmp_path / "spool", interval=3600)
    init = cohere.ClientV2.__init__
    second = cohere_bundle.auto_instrument(spool_dir=tmp_path / "other", interval=3600)
    assert second is first
    assert cohere.ClientV2.__init__ is init  # not wrapped twice
    # ClientV2.__init__ calls Client.__init__: both are wrapped, the httpx client is hooked once.
    co = cohere.ClientV2(api_key=api_key, base_url=simulator)
    hc = httpx_of(co)
    assert len(our_hooks(hc)) == 2
    assert isinstance(hc._transport, cohere_bundle.Transport)
    assert not isinstance(hc._transport._inner, cohere_bundle.Transport)
    # wrap() on a hooked client changes nothing.
    assert cohere_bundle.wrap(co) is co and len(our_hooks(hc)) == 2
    with pytest.raises(cohere.core.ApiError):
        co.chat(model=RETIRED, messages=MESSAGES)
    assert first is not None and first.flush(60)
    assert first.stats()["captured"] == 1 and len(first.bundles()) == 1
    # The v1 client is hooked as well.
    v1 = cohere.Client(api_key=api_key, base_url=simulator)
    assert len(our_hooks(httpx_of(v1))) == 2
    with pytest.raises(cohere.core.ApiError) as ei:
        v1.chat(model=RETIRED, message="hi")
    path = cohere_bundle.capture(ei.value, out=tmp_path)
    assert path is not None
    s = summary(path)
    assert (s["endpoint"], s["model"], s["status"]) == ("v1/chat", RETIRED, 404)
    assert_no_secret(path, api_key)


def test_uninstrument_stops_hooking_new_clients(simulator: str, api_key: str, tmp_path: Path) -> None:
    cohere_bundle.auto_instrument(spool_dir=tmp_path / "spool")
    hooked = cohere.ClientV2(api_key=api_key, base_url=simulator)
    assert cohere_bundle.uninstrument() is True
    plain = cohere.ClientV2(api_key=api_key, base_url=simulator)
    assert len(our_hooks(httpx_of(hooked))) == 2  # made before: keeps its hooks
    assert our_hooks(httpx_of(plain)) == []
    assert not hasattr(cohere.ClientV2.__init__, "_cohere_bundle_original_init")
    assert cohere_bundle.uninstrument() is False


def test_auto_instrument_without_cohere_does_nothing(monkeypatch: pytest.MonkeyPatch, api_key: str, simulator: str) -> None:
    monkeypatch.setitem(sys.modules, "cohere", None)  # `import cohere` raises ImportError
    assert cohere_bundle.auto_instrument() is None
    assert cohere_bundle.auto_instrument(spool_dir="never-made") is None
    monkeypatch.undo()
    for cls in (cohere.Client, cohere.ClientV2, cohere.AsyncClient, cohere.AsyncClientV2):
        assert not hasattr(cls.__init__, "_cohere_bundle_original_init"), cls
    assert our_hooks(httpx_of(cohere.ClientV2(api_key=api_key, base_url=simulator))) == []
    assert cohere_bundle._auto_hooks is None


def test_auto_instrument_with_a_cohere_that_has_no_clients_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    monkeypatch.setitem(sys.modules, "cohere", types.ModuleType("cohere"))
    assert cohere_bundle.auto_instrument() is None
    assert cohere_bundle.uninstrument() is False


def test_wrap_hooks_an_existing_client_in_place(simulator: str, api_key: str, tmp_path: Path) -> None:
    co = cohere.ClientV2(api_key=api_key, base_url=simulator)
    assert our_hooks(httpx_of(co)) == []
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    assert cohere_bundle.wrap(co, hooks) is co
    assert cohere_bundle.wrap(co, hooks) is co  # idempotent
    assert cohere_bundle.wrap(co) is co  # other hooks: still not hooked twice
    hc = httpx_of(co)
    assert len(our_hooks(hc)) == 2
    assert isinstance(hc._transport, cohere_bundle.Transport) and not isinstance(hc._transport._inner, cohere_bundle.Transport)
    err = fail_then_stream(co)
    path = cohere_bundle.capture(err, out=tmp_path)
    assert path is not None
    assert_bundles_the_404(path, err, api_key)
    assert hooks.flush(60) and len(hooks.bundles()) == 1


def test_wrap_refuses_what_is_no_client_and_async_hooks_on_a_sync_client(tmp_path: Path, api_key: str) -> None:
    with pytest.raises(TypeError, match="no httpx client"):
        cohere_bundle.wrap(object())
    with pytest.raises(ValueError, match="AsyncClient"):
        cohere_bundle.wrap(httpx.Client(), cohere_bundle.event_hooks(tmp_path / "s", async_=True))
    with pytest.raises(TypeError, match="not both"):
        cohere_bundle.wrap(httpx.Client(), cohere_bundle.event_hooks(tmp_path / "s"), interval=5)


@pytest.mark.parametrize("how", ["auto_instrument", "wrap"])
def test_async_clients_capture_their_own_404(simulator: str, api_key: str, tmp_path: Path, how: str) -> None:
    hooks = cohere_bundle.event_hooks(tmp_path / "spool", interval=3600)
    if how == "auto_instrument":
        assert cohere_bundle.auto_instrument(spool_dir=tmp_path / "spool", interval=3600) is not None

    async def main() -> Any:
        co = cohere.AsyncClientV2(api_key=api_key, base_url=simulator)
        if how == "wrap":
            assert cohere_bundle.wrap(co, hooks) is co
        hc = httpx_of(co)
        assert isinstance(hc, httpx.AsyncClient) and len(our_hooks(hc)) == 2
        assert isinstance(hc._transport, cohere_bundle.AsyncTransport)
        with pytest.raises(cohere.core.ApiError) as ei:
            await co.chat(model=RETIRED, messages=MESSAGES)
        events = [e.type async for e in co.chat_stream(model="command-a-03-2025", messages=MESSAGES)]
        assert events[-1] == "message-end"
        path = await asyncio.to_thread(cohere_bundle.capture, ei.value, out=tmp_path)
        await hc.aclose()
        return ei.value, path

    err, path = asyncio.run(main())
    assert path is not None
    assert_bundles_the_404(path, err, api_key)
    # The async v1 client is hooked by auto_instrument too.
    if how == "auto_instrument":
        assert len(our_hooks(httpx_of(cohere.AsyncClient(api_key=api_key, base_url=simulator)))) == 2


def test_the_sdks_clients_for_other_platforms_are_left_alone(simulator: str, api_key: str, tmp_path: Path) -> None:
    # Bedrock's and OCI's clients need boto3 / oci; a stand-in with the same shape: a subclass of the SDK's
    # Client named AwsClient, in the cohere package, whose own hooks rewrite each request.
    def rewrite(request: httpx.Request) -> None:
        request.headers["x-rewritten"] = "1"

    class AwsClient(cohere.Client):
        def __init__(self) -> None:
            cohere.Client.__init__(
                self, api_key=api_key, base_url=simulator, httpx_client=httpx.Client(event_hooks={"request": [rewrite]})
            )

    AwsClient.__module__ = "cohere.aws_client"
    assert cohere_bundle.auto_instrument(spool_dir=tmp_path / "spool") is not None
    aws = AwsClient()
    assert our_hooks(httpx_of(aws)) == [] and httpx_of(aws).event_hooks["request"] == [rewrite]
    with pytest.raises(TypeError, match="another platform"):
        cohere_bundle.wrap(aws)
    assert len(our_hooks(httpx_of(cohere.Client(api_key=api_key, base_url=simulator)))) == 2
