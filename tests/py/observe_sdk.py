"""Drives the official Cohere Python SDK through `cohere-bundle observe` (tests/observe.rs).

The SDK finds the proxy through CO_API_URL (set by observe's run_command) and its key through CO_API_KEY.
Makes three calls and writes what the SDK saw as JSON to the file named by argv[1]:
  1. a chat with an unknown model (the API answers 404; the SDK raises NotFoundError);
  2. a streaming chat (the events as the SDK parsed them);
  3. a chat the simulator answers with 429 (the SDK retries it twice, then raises TooManyRequestsError).
Exits 0 when every call behaved as described, 1 otherwise.
"""
import json
import os
import sys

import cohere

out_path = sys.argv[1]
model = os.environ.get("OBSERVE_TEST_MODEL", "command-a-03-2025")
result = {"co_api_url": os.environ.get("CO_API_URL"), "errors": []}
ok = True

co = cohere.ClientV2()

try:
    co.chat(model="no-such-model", messages=[{"role": "user", "content": "hello"}])
    result["errors"].append("unknown model did not raise")
    ok = False
except cohere.errors.NotFoundError as e:
    result["not_found"] = {"status": e.status_code, "body": e.body}

try:
    events = []
    for ev in co.chat_stream(model=model, messages=[{"role": "user", "content": "stream please"}]):
        events.append(ev.type)
    result["stream_events"] = events
    if not events or events[-1] != "message-end":
        ok = False
        result["errors"].append("stream did not end with message-end")
except Exception as e:  # noqa: BLE001 - report whatever the SDK raised
    ok = False
    result["errors"].append(f"stream raised {type(e).__name__}: {e}")

try:
    co.chat(
        model=model,
        messages=[{"role": "user", "content": "rate limit me"}],
        request_options={"additional_headers": {"x-simulate": "rate-limit"}},
    )
    result["errors"].append("rate limit did not raise")
    ok = False
except cohere.errors.TooManyRequestsError as e:
    result["rate_limited"] = {"status": e.status_code, "body": e.body}

with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
sys.exit(0 if ok else 1)
