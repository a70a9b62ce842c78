"""A failing chat (unknown model) and a streaming chat that completes, with the official Cohere Python SDK, in
the order given by argv[1] (`fail-first` or `stream-first`); argv[2] is the model of the streaming call.

Run under `cohere-bundle observe` (tests/evidence.rs): the SDK finds the proxy through CO_API_URL and its key
through CO_API_KEY. Exits 0 when the 404 raised NotFoundError and the stream ended with message-end.
"""
import sys

import cohere

order, model = sys.argv[1], sys.argv[2]
co = cohere.ClientV2()
problems = []


def fail():
    try:
        co.chat(model="no-such-model", messages=[{"role": "user", "content": "hello"}])
        problems.append("the unknown model did not raise")
    except cohere.errors.NotFoundError:
        pass


def stream():
    events = [ev.type for ev in co.chat_stream(model=model, messages=[{"role": "user", "content": "stream please"}])]
    if not events or events[-1] != "message-end":
        problems.append(f"the stream did not end with message-end: {events}")


for step in ([fail, stream] if order == "fail-first" else [stream, fail]):
    step()
print(problems or "ok", file=sys.stderr)
sys.exit(1 if problems else 0)
