"""Drives LiteLLM's Cohere route through `cohere-bundle observe` (tests/compat.rs).

LiteLLM's `cohere_chat/<model>` (and `cohere/<model>`) models call Cohere's v2 chat API with its own httpx
client: `POST {api_base}`, where api_base is the whole URL (default `https://api.cohere.com/v2/chat`, or
COHERE_API_BASE), with `Authorization: Bearer <key>`, `Request-Source: unspecified:litellm` and
`User-Agent: litellm/<version>` (litellm/llms/cohere/common_utils.py, litellm/main.py `_complete_cohere_chat`).
So the script passes the proxy (CO_API_URL, set by observe) plus `/v2/chat` as api_base.

Makes three calls, in this order, and writes what LiteLLM saw as JSON to the file named by argv[1]:
  1. a chat with an unknown model (404; LiteLLM raises NotFoundError);
  2. a chat the simulator answers with 429 (`x-simulate: rate-limit`; LiteLLM raises RateLimitError);
  3. a chat that succeeds.
Exits 0 when every call behaved as described, 1 otherwise.
"""
import json
import os
import sys

import litellm

# LiteLLM prints a "Give Feedback / Get Help" banner on stdout for each error; stdout belongs to cohere-bundle's
# --json line.
litellm.suppress_debug_info = True
out_path = sys.argv[1]
model = os.environ.get("OBSERVE_TEST_MODEL", "command-a-03-2025")
missing = os.environ.get("OBSERVE_TEST_MISSING_MODEL", "command-r-nonexistent")
api_base = os.environ["CO_API_URL"].rstrip("/") + "/v2/chat"
key = os.environ["CO_API_KEY"]
result = {"errors": [], "litellm_version": litellm.version if hasattr(litellm, "version") else None}
ok = True
messages = [{"role": "user", "content": "hello from litellm"}]


def call(m, **kw):
    return litellm.completion(
        model=f"cohere_chat/{m}", messages=messages, api_base=api_base, api_key=key, max_tokens=50, **kw
    )


try:
    call(missing)
    result["errors"].append("unknown model did not raise")
    ok = False
except litellm.NotFoundError as e:
    result["not_found"] = {"status": e.status_code, "message": str(e)}
except Exception as e:  # noqa: BLE001
    ok = False
    result["errors"].append(f"404 raised {type(e).__name__}: {e}")

try:
    call(model, extra_headers={"x-simulate": "rate-limit"})
    result["errors"].append("rate limit did not raise")
    ok = False
except litellm.RateLimitError as e:
    result["rate_limited"] = {"status": e.status_code, "message": str(e)}
except Exception as e:  # noqa: BLE001
    ok = False
    result["errors"].append(f"429 raised {type(e).__name__}: {e}")

try:
    r = call(model)
    result["ok"] = {"text": r.choices[0].message.content, "finish": r.choices[0].finish_reason}
except Exception as e:  # noqa: BLE001
    ok = False
    result["errors"].append(f"chat raised {type(e).__name__}: {e}")

with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
sys.exit(0 if ok else 1)
