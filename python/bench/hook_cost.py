"""What the event hooks cost the calling thread.

Prints, in microseconds per call (medians; "added" is the median of paired differences):
  * the hooks' added cost on a successful call: an ``httpx.Client`` with ``cohere_bundle.event_hooks()`` against
    one without, both on a local no-op ``httpx.MockTransport`` (target: < 20 µs); the same with the transport
    wrapper (``transport=hooks.transport(mock)``); and for a successful SSE stream (the body watcher);
  * the hooks themselves, called directly on a prepared request and response (no httpx around them);
  * the cost of a failing call (429) on the calling thread: reading the error body in the hook and handing the
    exchange to the Rust recorder (the bundle itself is written on a background thread).

Run:  target/py-pkg-venv/bin/python python/bench/hook_cost.py  [--rounds N] [--batch K]
(after scripts/setup-python-package.sh; the extension is a debug build there unless
COHERE_BUNDLE_PY_PROFILE=release; the success path runs no Rust at all).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from typing import Callable, List

import httpx

import cohere_bundle
from cohere_bundle import _native

BODY = json.dumps(
    {
        "id": "5d2d4c4b-6d4f-4bfe-9a4b-3e3c1f1f0e8a",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello! How can I help you today?"}]},
        "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 9}, "tokens": {"input_tokens": 71, "output_tokens": 9}},
    }
).encode()
SSE = b"".join(
    [b'event: message-start\ndata: {"type":"message-start","id":"x"}\n\n']
    + [b'event: content-delta\ndata: {"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"tok"}}}}\n\n'] * 40
    + [b'event: message-end\ndata: {"type":"message-end","delta":{"finish_reason":"COMPLETE"}}\n\n', b"data: [DONE]\n\n"]
)
ERROR = b'{"message":"You are past the per minute request limit, please wait and try again later."}'
REQ = {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Say hello."}]}
HEADERS = {"Authorization": "Bearer benchmark-key-0123456789abcdefghijklmnop", "X-Fern-SDK-Name": "cohere"}


def handler(request: httpx.Request) -> httpx.Response:
    if request.headers.get("x-simulate") == "rate-limit":
        return httpx.Response(429, content=ERROR, headers={"content-type": "application/json"})
    if request.headers.get("accept") == "text/event-stream":
        return httpx.Response(200, stream=httpx.ByteStream(SSE), headers={"content-type": "text/event-stream"})
    return httpx.Response(200, content=BODY, headers={"content-type": "application/json"})


def per_call(f: Callable[[], None], batch: int) -> float:
    t = time.perf_counter()
    for _ in range(batch):
        f()
    return (time.perf_counter() - t) / batch * 1e6


def compare(name: str, plain: Callable[[], None], hooked: Callable[[], None], rounds: int, batch: int) -> float:
    """Median of paired differences: each pair times one plain and one hooked call back to back (in turns
    first), so the load of a shared machine drifts out of the difference."""
    for f in (plain, hooked):  # warm up
        per_call(f, 50)
    clock = time.perf_counter
    a: List[float] = []
    b: List[float] = []
    for i in range(rounds * batch):
        first, second = (plain, hooked) if i % 2 == 0 else (hooked, plain)
        t0 = clock()
        first()
        t1 = clock()
        second()
        t2 = clock()
        x, y = (t1 - t0, t2 - t1) if i % 2 == 0 else (t2 - t1, t1 - t0)
        a.append(x * 1e6)
        b.append(y * 1e6)
    diffs = [y - x for x, y in zip(a, b)]
    added = statistics.median(diffs)
    print(f"{name:<44} {statistics.median(a):9.1f} {statistics.median(b):9.1f} {added:+9.2f}")
    return added


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=101)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    spool = tempfile.mkdtemp(prefix="cohere-bundle-bench-")
    hooks = cohere_bundle.event_hooks(spool, interval=3600, scan_env=False)
    mock = httpx.MockTransport(handler)
    plain = httpx.Client(base_url="http://127.0.0.1:9", transport=mock, headers=HEADERS)
    hooked = httpx.Client(base_url="http://127.0.0.1:9", transport=mock, headers=HEADERS, event_hooks=hooks)
    wrapped = httpx.Client(
        base_url="http://127.0.0.1:9", transport=hooks.transport(mock), headers=HEADERS, event_hooks=hooks
    )

    def call(c: httpx.Client) -> Callable[[], None]:
        return lambda: c.post("/v2/chat", json=REQ).read()

    def stream(c: httpx.Client) -> Callable[[], None]:
        def f() -> None:
            with c.stream("POST", "/v2/chat", json={**REQ, "stream": True}, headers={"accept": "text/event-stream"}) as r:
                for _ in r.iter_lines():
                    pass

        return f

    def fail(c: httpx.Client) -> Callable[[], None]:
        return lambda: c.post("/v2/chat", json=REQ, headers={"x-simulate": "rate-limit"}).read()

    build = "debug" if _native.DEBUG_BUILD else "release"
    print(f"cohere_bundle {cohere_bundle.__version__} ({build} build of the extension), httpx {httpx.__version__}, "
          f"Python {sys.version.split()[0]}; {args.rounds * args.batch} pairs of calls per line")
    print(f"{'µs per call (median)':<44} {'plain':>9} {'hooked':>9} {'added':>9}")
    ok = compare("successful call, event hooks", call(plain), call(hooked), args.rounds, args.batch)
    compare("successful call, hooks + transport wrapper", call(plain), call(wrapped), args.rounds, args.batch)
    compare("successful SSE stream (42 events), hooks", stream(plain), stream(hooked), args.rounds, args.batch)
    bad = compare("failing call (429), hooks -> recorder", fail(plain), fail(hooked), args.rounds, args.batch)

    # The hooks alone, on a prepared exchange (what httpx itself costs is left out).
    req = plain.build_request("POST", "/v2/chat", json=REQ)
    resp = httpx.Response(200, content=BODY, headers={"content-type": "application/json"}, request=req)
    on_request, on_response = hooks["request"][0], hooks["response"][0]
    samples = []
    for _ in range(args.rounds):
        samples.append(per_call(lambda: (on_request(req), on_response(resp)), args.batch * 10))
    direct = statistics.median(samples)
    print(f"{'both hooks called directly, success':<44} {'':>9} {'':>9} {direct:+9.2f}")
    bad_resp = httpx.Response(429, content=ERROR, headers={"content-type": "application/json"}, request=req)
    samples = []
    for _ in range(args.rounds):
        samples.append(per_call(lambda: (on_request(req), on_response(bad_resp)), args.batch))
    direct_bad = statistics.median(samples)
    print(f"{'both hooks called directly, failure (429)':<44} {'':>9} {'':>9} {direct_bad:+9.2f}")

    stats = hooks.close(60)
    print(f"\nhook added cost per successful call: {ok:.2f} µs through httpx, {direct:.2f} µs in the hooks "
          f"(target < 20 µs): {'OK' if ok < 20 else 'OVER'}")
    print(f"failing call on the calling thread: {bad:.2f} µs added through httpx, {direct_bad:.2f} µs in the hooks "
          f"(bundles written in the background: {stats['bundles_written']} for {stats['captured']} failures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
