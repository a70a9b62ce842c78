"""Drives the `openai` Python SDK against Cohere's compatibility API through `cohere-bundle observe`
(tests/compat.rs).

The base URL is the proxy's (CO_API_URL, set by observe) plus `/compatibility/v1`, as Cohere's docs write
`base_url="https://api.cohere.ai/compatibility/v1"`; the key is CO_API_KEY. Makes four calls, in this order, and
writes what the SDK saw as JSON to the file named by argv[1]:
  1. a chat completion with an unknown model (the API answers 404; the SDK raises NotFoundError);
  2. a chat completion with `n: 2`, which the compatibility API does not support (400; BadRequestError);
  3. a streaming chat completion with `max_completion_tokens` (the chunks as the SDK parsed them);
  4. an embeddings call with two inputs.
Exits 0 when every call behaved as described, 1 otherwise.
"""
import json
import os
import sys

import openai

out_path = sys.argv[1]
model = os.environ.get("OBSERVE_TEST_MODEL", "command-a-03-2025")
missing = os.environ.get("OBSERVE_TEST_MISSING_MODEL", "command-r-nonexistent")
result = {"errors": [], "sdk_version": openai.__version__}
ok = True

client = openai.OpenAI(
    base_url=os.environ["CO_API_URL"].rstrip("/") + "/compatibility/v1",
    api_key=os.environ["CO_API_KEY"],
)
messages = [
    {"role": "developer", "content": "Be brief."},
    {"role": "user", "content": "hello there"},
]

try:
    client.chat.completions.create(model=missing, messages=messages)
    result["errors"].append("unknown model did not raise")
    ok = False
except openai.NotFoundError as e:
    result["not_found"] = {"status": e.status_code, "message": e.message, "body": e.body}

try:
    client.chat.completions.create(model=model, messages=messages, n=2)
    result["errors"].append("n=2 did not raise")
    ok = False
except openai.BadRequestError as e:
    result["bad_request"] = {"status": e.status_code, "message": e.message, "body": e.body}

try:
    chunks, text, finish = 0, "", None
    stream = client.chat.completions.create(
        model=model, messages=messages, stream=True, max_completion_tokens=200
    )
    for chunk in stream:
        chunks += 1
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    result["stream"] = {"chunks": chunks, "text": text, "finish": finish}
    if not text or finish != "stop":
        ok = False
        result["errors"].append(f"stream: text {text!r}, finish {finish!r}")
except Exception as e:  # noqa: BLE001 - report whatever the SDK raised
    ok = False
    result["errors"].append(f"stream raised {type(e).__name__}: {e}")

try:
    emb = client.embeddings.create(model="embed-v4.0", input=["first text", "second text"])
    result["embeddings"] = {"count": len(emb.data), "dims": len(emb.data[0].embedding)}
    if len(emb.data) != 2:
        ok = False
        result["errors"].append(f"embeddings: {len(emb.data)} vectors")
except Exception as e:  # noqa: BLE001
    ok = False
    result["errors"].append(f"embeddings raised {type(e).__name__}: {e}")

with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
sys.exit(0 if ok else 1)
