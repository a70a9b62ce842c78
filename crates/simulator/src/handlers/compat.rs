//! The compatibility API (`/compatibility/v1/…`): OpenAI-shaped answers for the OpenAI SDKs
//! (`../shared/cohere-docs/v2/text-generation/compatibility-api.mdx`).
//!
//! - `POST /compatibility/v1/chat/completions`: a `chat.completion` object, or an SSE stream of
//!   `chat.completion.chunk` objects (`data:` lines without `event:`) ending with `data: [DONE]`;
//! - `POST /compatibility/v1/embeddings`: `{"object":"list","data":[{"object":"embedding",…}],"model","usage"}`;
//! - errors as OpenAI's API writes them, `{"error":{"message","type","param","code"}}` (the docs page does not
//!   show the compatibility API's error body; the OpenAI SDKs read this shape), with the same messages and
//!   statuses as the native endpoints, so that a scenario (`x-simulate`) means the same on every path.
//!
//! The docs list the parameters the compatibility API does not support (`n`, `logit_bias`, `store`, …, and for
//! embeddings `dimensions` and `user`); the simulator answers a request that sends one with a 400, and
//! `reasoning_effort` other than `none` and `high` with a 400 too (the docs: only those two are supported).

use serde_json::{json, Map, Value};

use super::{
    check_tokens, event_body, find_model, json_response, object, opt_bool, opt_u64, reply,
    shown_pieces, stream_response, vector, Reject, Resp, Shared, StreamMode, DEFAULT_DIMENSION, R,
};
use crate::{prompt_tokens, ModelKind};
use cohere_bundle_knowledge::cohere::Endpoint;

/// Chat completion parameters the docs list as not supported by the compatibility API.
const UNSUPPORTED_CHAT: &[&str] = &[
    "store",
    "metadata",
    "logit_bias",
    "top_logprobs",
    "n",
    "modalities",
    "prediction",
    "audio",
    "service_tier",
    "parallel_tool_calls",
];

/// Embeddings parameters the docs list as not supported by the compatibility API.
const UNSUPPORTED_EMBEDDINGS: &[&str] = &["dimensions", "user"];

/// The OpenAI-shaped error body of a rejection: `type` and `code` from the status, in OpenAI's vocabulary (the
/// simulator's choice: Cohere's docs do not show the compatibility API's error bodies).
pub(super) fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        401 => ("authentication_error", Some("invalid_api_key")),
        403 => ("permission_error", None),
        404 if message.starts_with("model '") => ("invalid_request_error", Some("model_not_found")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        s if s >= 500 => ("server_error", None),
        _ => ("invalid_request_error", None),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// A 400 naming a parameter the compatibility API does not take.
fn unsupported(o: &Map<String, Value>, names: &[&str]) -> R<()> {
    match names
        .iter()
        .find(|k| o.get(**k).is_some_and(|v| !v.is_null()))
    {
        Some(k) => Err(Reject::bad(format!(
            "invalid request: parameter '{k}' is not supported by the Compatibility API"
        ))),
        None => Ok(()),
    }
}

fn now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

/// `POST /compatibility/v1/chat/completions`.
pub(super) fn chat_completions(shared: &Shared, body: &Value, mode: StreamMode) -> R<Resp> {
    let o = object(body)?;
    unsupported(o, UNSUPPORTED_CHAT)?;
    let model_name = match o.get("model").and_then(Value::as_str) {
        Some(m) => m,
        None => return Err(Reject::bad("invalid request: model is required")),
    };
    if !matches!(o.get("messages"), Some(Value::Array(m)) if !m.is_empty()) {
        return Err(Reject::bad(
            "invalid request: messages must contain at least one message",
        ));
    }
    if let Some(e) = o.get("reasoning_effort").and_then(Value::as_str) {
        if !matches!(e, "none" | "high") {
            return Err(Reject::bad(format!(
                "invalid request: reasoning_effort must be one of none, high - received '{e}'"
            )));
        }
    }
    let stream = opt_bool(o, "stream")?;
    let max_tokens = match opt_u64(o, "max_tokens")? {
        Some(m) => Some(m),
        None => opt_u64(o, "max_completion_tokens")?,
    };
    let endpoint = Endpoint::CompatChatCompletions;
    let model = find_model(shared, model_name, endpoint, ModelKind::Chat)?;
    let raw = check_tokens(shared, endpoint, body, model, max_tokens)?;
    let prompt = prompt_tokens(endpoint, body, raw);
    let (pieces, out, cut) = reply(shared, max_tokens);
    let finish = if cut { "length" } else { "stop" };
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let usage = |out: u64| json!({"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out});
    if !stream {
        let text = match mode {
            StreamMode::Error => return Err(Reject::new(500, STREAM_ERROR)),
            _ => pieces.concat(),
        };
        return Ok(json_response(
            200,
            &json!({
                "id": id, "object": "chat.completion", "created": now(), "model": model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                             "finish_reason": finish, "logprobs": null}],
                "usage": usage(out),
            }),
        ));
    }
    let include_usage = o
        .get("stream_options")
        .and_then(|s| s.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = ChunkHead {
        id: &id,
        created: now(),
        model: model_name,
    };
    let (frames, cut_after) = chat_chunks(
        &chunk,
        &pieces,
        mode,
        finish,
        include_usage.then(|| usage(out)),
    );
    let body = event_body(shared, frames, cut_after);
    Ok(stream_response("text/event-stream", body))
}

/// What the error of a failing stream says.
const STREAM_ERROR: &str =
    "An internal error occurred while generating the response. Please try again.";

/// The members every chunk of one stream shares.
struct ChunkHead<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
}

impl ChunkHead<'_> {
    fn frame(&self, delta: Value, finish: Option<&str>) -> bytes::Bytes {
        let v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        });
        data(&v)
    }
}

/// One SSE frame with a `data:` line only, as OpenAI's API writes its streams.
fn data(v: &Value) -> bytes::Bytes {
    bytes::Bytes::from(format!("data: {v}\n\n"))
}

/// The frames of a chat completion stream: the role, a content delta per piece shown, the finish reason, the
/// usage chunk when asked for (`stream_options.include_usage`), then `data: [DONE]`; or (the error scenario) an
/// `{"error": …}` frame after the pieces shown and no `[DONE]`. Also returns, for the cut scenario, the frames
/// sent before the cut.
fn chat_chunks(
    head: &ChunkHead,
    pieces: &[String],
    mode: StreamMode,
    finish: &str,
    usage: Option<Value>,
) -> (Vec<bytes::Bytes>, Option<usize>) {
    let mut frames = vec![head.frame(json!({"role": "assistant", "content": ""}), None)];
    let shown = shown_pieces(pieces, mode);
    for p in &pieces[..shown] {
        frames.push(head.frame(json!({"content": p}), None));
    }
    let cut_after = (mode == StreamMode::Cut).then_some(frames.len());
    if mode == StreamMode::Error {
        frames.push(data(&error_body(500, STREAM_ERROR)));
        return (frames, cut_after);
    }
    frames.push(head.frame(json!({}), Some(finish)));
    if let Some(u) = usage {
        frames.push(data(&json!({
            "id": head.id, "object": "chat.completion.chunk", "created": head.created, "model": head.model,
            "choices": [], "usage": u,
        })));
    }
    frames.push(super::sse_done());
    (frames, cut_after)
}

/// `POST /compatibility/v1/embeddings`: a deterministic vector per input, as floats or base64
/// (`encoding_format`).
pub(super) fn embeddings(shared: &Shared, body: &Value) -> R<Resp> {
    let o = object(body)?;
    unsupported(o, UNSUPPORTED_EMBEDDINGS)?;
    let Some(model_name) = o.get("model").and_then(Value::as_str) else {
        return Err(Reject::bad("invalid request: model is required"));
    };
    let format = o
        .get("encoding_format")
        .and_then(Value::as_str)
        .unwrap_or("float");
    if !matches!(format, "float" | "base64") {
        return Err(Reject::bad(format!(
            "invalid request: encoding_format must be one of float, base64 - received '{format}'"
        )));
    }
    let inputs: Vec<&str> = match o.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str().ok_or_else(|| {
                    Reject::bad("invalid request: input must be a string or a list of strings")
                })
            })
            .collect::<R<_>>()?,
        _ => {
            return Err(Reject::bad(
                "invalid request: input must be a non-empty string or list of strings",
            ))
        }
    };
    let endpoint = Endpoint::CompatEmbeddings;
    let model = find_model(shared, model_name, endpoint, ModelKind::Embed)?;
    if inputs.len() > 96 {
        return Err(Reject::bad(format!(
            "invalid request: total number of texts must be at most 96 - received {}",
            inputs.len()
        )));
    }
    let raw = check_tokens(shared, endpoint, body, model, None)?;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let v = vector(text, DEFAULT_DIMENSION);
            let embedding = if format == "base64" {
                use base64::Engine;
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "embedding": embedding, "index": i})
        })
        .collect();
    Ok(json_response(
        200,
        &json!({
            "object": "list", "data": data, "model": model_name,
            "usage": {"prompt_tokens": raw, "total_tokens": raw},
        }),
    ))
}
