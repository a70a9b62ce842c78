//! Shared. Is a response complete? Stream semantics as the official SDKs see them, shared by the replay client, the
//! observe proxy and the library.
//!
//! The SDKs (`cohere` for Python, `cohere-ai` for TypeScript) stop reading a stream at its terminal event and
//! then close the connection, often before the chunked body's last marker. So:
//! - a stream whose terminal event arrived (v2 `message-end`, v1 `stream-end`, or `data: [DONE]`) is
//!   complete, however the client then closes;
//! - a stream that ends before its terminal event is a `stream` failure ("ended without message-end after
//!   N events");
//! - a client that disconnects mid-stream is a failure too, but a client-side one;
//! - a JSON response whose body is cut short is a failure, not a success.
//!
//! ```
//! use cohere_bundle_core::sse::StreamScanner;
//! let mut s = StreamScanner::default();
//! s.feed(b"event: message-start\ndata: {\"type\":\"message-start\"}\n\n");
//! assert!(!s.terminal());
//! s.feed(b"event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n");
//! s.finish();
//! assert!(s.terminal());
//! assert_eq!(s.events(), 2);
//! assert!(s.failure().is_none() && s.verdict().is_none());
//!
//! // A stream that broke off before its terminal event is a failure.
//! let mut cut = StreamScanner::default();
//! cut.feed(b"data: {\"type\":\"content-delta\"}\n\n");
//! cut.finish();
//! assert_eq!(cut.verdict().as_deref(), Some("the stream ended without message-end after 1 event"));
//!
//! // Whether a response is a stream: by its content type, or because the request asked for one.
//! use cohere_bundle_core::{exchange::Header, sse::is_stream};
//! let sse = [Header::new("content-type", "text/event-stream")];
//! assert!(is_stream(&sse, &serde_json::json!({}), 200));
//! assert!(is_stream(&[], &serde_json::json!({"stream": true}), 200));
//! assert!(!is_stream(&[], &serde_json::json!({}), 200));
//! ```

use crate::exchange::{header, Body, Failure, FailureClass, Header};

/// Longest stream line the scanner looks at; longer lines are skipped.
const MAX_LINE: usize = 1 << 20;

/// Reads a response stream line by line (SSE `data:` lines or v1 NDJSON): counts events, notes whether the
/// terminal event arrived, and notes the first error the stream carries (a v2 `message-end` with
/// `finish_reason: ERROR` or an `error`, an `error` event, or a v1 `stream-end` with `finish_reason: ERROR`).
///
/// See the [module example](crate::sse).
#[derive(Debug, Default)]
pub struct StreamScanner {
    line: Vec<u8>,
    skipping: bool,
    events: u64,
    terminal: bool,
    failure: Option<String>,
    /// Set when an event was an OpenAI `chat.completion.chunk` (the compatibility API), whose end is `[DONE]`.
    openai: bool,
}

impl StreamScanner {
    /// Feeds the next bytes of the stream.
    ///
    /// See the [module example](crate::sse).
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(i) = memchr::memchr(b'\n', chunk) {
            let (head, rest) = (&chunk[..i], &chunk[i + 1..]);
            if self.skipping {
                self.skipping = false;
            } else if self.line.is_empty() {
                self.check_line(head);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.check_line(&line);
                line.clear();
                self.line = line;
            }
            chunk = rest;
        }
        if !chunk.is_empty() && !self.skipping {
            if self.line.len() + chunk.len() <= MAX_LINE {
                self.line.extend_from_slice(chunk);
            } else {
                self.line.clear();
                self.skipping = true;
            }
        }
    }

    /// Checks a last line that had no newline.
    ///
    /// See the [module example](crate::sse).
    pub fn finish(&mut self) {
        if !self.line.is_empty() && !self.skipping {
            let line = std::mem::take(&mut self.line);
            self.check_line(&line);
        }
    }

    /// The first error the stream carried, if any.
    ///
    /// See the [module example](crate::sse).
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Takes the first error the stream carried.
    pub(crate) fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    /// Whether the terminal event (`message-end`, `stream-end` or `[DONE]`) arrived.
    ///
    /// See the [module example](crate::sse).
    pub fn terminal(&self) -> bool {
        self.terminal
    }

    /// Events seen: SSE `data:` lines and NDJSON objects.
    ///
    /// See the [module example](crate::sse).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The failure of a stream that ended here: the error it carried, else "ended without its terminal
    /// event" when that never arrived. `None` for a complete stream.
    ///
    /// See the [module example](crate::sse).
    pub fn verdict(&self) -> Option<String> {
        if let Some(f) = &self.failure {
            return Some(f.clone());
        }
        (!self.terminal).then(|| {
            format!(
                "the stream ended without {} after {} event{}",
                if self.openai { "[DONE]" } else { "message-end" },
                self.events,
                if self.events == 1 { "" } else { "s" }
            )
        })
    }

    fn check_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(ev) = line.strip_prefix(b"event:") {
            let ev = ev.trim_ascii();
            if ev == b"message-end" || ev == b"stream-end" {
                self.terminal = true;
            }
            return;
        }
        let is_data = line.starts_with(b"data:");
        let data = line
            .strip_prefix(b"data:")
            .unwrap_or(line)
            .trim_ascii_start();
        if data.trim_ascii_end() == b"[DONE]" {
            self.terminal = true;
            return;
        }
        if !data.starts_with(b"{") {
            return;
        }
        if is_data || line.starts_with(b"{") {
            self.events += 1;
        }
        if !self.openai && contains(data, b"\"chat.completion.chunk\"") {
            self.openai = true;
        }
        let end = contains(data, b"message-end") || contains(data, b"stream-end");
        let err = self.failure.is_none() && (contains(data, b"ERROR") || contains(data, b"error"));
        if !end && !err {
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
            return;
        };
        if end
            && (v.get("type").and_then(|t| t.as_str()) == Some("message-end")
                || v.get("event_type").and_then(|t| t.as_str()) == Some("stream-end"))
        {
            self.terminal = true;
        }
        if err {
            self.failure = stream_error(&v);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// The error a stream event carries, if any.
fn stream_error(v: &serde_json::Value) -> Option<String> {
    let text = |e: &serde_json::Value| -> Option<String> {
        match e {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s.is_empty() => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(
                other
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| other.to_string()),
            ),
        }
    };
    let kind = v.get("type").and_then(|t| t.as_str());
    // OpenAI's streams (the compatibility API) carry an error as an event of its own: `{"error": {"message"}}`.
    if kind.is_none() && v.get("choices").is_none() {
        if let Some(e) = v.get("error").and_then(text) {
            return Some(e);
        }
    }
    if kind == Some("error") {
        return Some(
            v.get("error")
                .and_then(text)
                .or_else(|| v.get("message").and_then(text))
                .or_else(|| v.pointer("/delta/error").and_then(text))
                .unwrap_or_else(|| "stream carried an error event".into()),
        );
    }
    if let Some(err) = v.pointer("/delta/error").and_then(text) {
        return Some(err);
    }
    if kind == Some("message-end")
        && v.pointer("/delta/finish_reason").and_then(|f| f.as_str()) == Some("ERROR")
    {
        return Some("stream ended with finish_reason ERROR (message-end, HTTP 200)".into());
    }
    if v.get("event_type").and_then(|t| t.as_str()) == Some("stream-end")
        && v.get("finish_reason").and_then(|f| f.as_str()) == Some("ERROR")
    {
        return Some(v.get("error").and_then(text).unwrap_or_else(|| {
            "stream ended with finish_reason ERROR (stream-end, HTTP 200)".into()
        }));
    }
    None
}

/// Whether a response is a stream: by its content type, or a 2xx answer to a request that asked for one.
///
/// See the [module example](crate::sse).
pub fn is_stream(
    response_headers: &[Header],
    request_body: &serde_json::Value,
    status: u16,
) -> bool {
    let ct = header(response_headers, "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    ct.contains("event-stream")
        || ct.contains("stream+json")
        || ct.contains("x-ndjson")
        || ((200..300).contains(&status)
            && request_body.get("stream").and_then(|s| s.as_bool()) == Some(true))
}

/// How a complete 2xx response read in full failed, if it did: a stream that carried an error or ended before
/// its terminal event, or a JSON body that does not parse (cut short). `None` for a sound response and for
/// statuses outside 2xx (those are HTTP failures, judged elsewhere).
///
/// ```
/// use cohere_bundle_core::exchange::{Body, Header};
/// use cohere_bundle_core::sse::check_complete;
/// let json = [Header::new("content-type", "application/json")];
/// let cut = Body::from_text(r#"{"id":"x","message":{"content":[{"type":"te"#);
/// assert!(check_complete(200, &json, &serde_json::Value::Null, &cut).is_some());
/// let ok = Body::from_text(r#"{"id":"x"}"#);
/// assert!(check_complete(200, &json, &serde_json::Value::Null, &ok).is_none());
/// ```
pub fn check_complete(
    status: u16,
    response_headers: &[Header],
    request_body: &serde_json::Value,
    body: &Body,
) -> Option<Failure> {
    if !(200..300).contains(&status) {
        return None;
    }
    if is_stream(response_headers, request_body, status) {
        if body.encoding != crate::exchange::BodyEncoding::Utf8 {
            return None;
        }
        let mut s = StreamScanner::default();
        s.feed(body.text.as_bytes());
        s.finish();
        if s.failure().is_none() && !s.terminal() && body.truncated {
            // The record was cut at the body cap: the end was not seen, so nothing can be said.
            return None;
        }
        return s
            .verdict()
            .or_else(|| finish_failure(response_headers, request_body, body))
            .map(|m| Failure::new(FailureClass::Stream, m));
    }
    let ct = header(response_headers, "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let json =
        ct.contains("json") || (ct.is_empty() && body.text.trim_start().starts_with(['{', '[']));
    if json
        && !body.truncated
        && body.encoding == crate::exchange::BodyEncoding::Utf8
        && !body.text.trim().is_empty()
        && serde_json::from_str::<serde::de::IgnoredAny>(&body.text).is_err()
    {
        return Some(cut_json(status, body.size));
    }
    finish_failure(response_headers, request_body, body)
        .map(|m| Failure::new(FailureClass::Stream, m))
}

/// The failure of a generation's ending ([`Finish::failure`]), parsing the body only when it names one of the
/// failing finish reasons: every complete response goes through here (the replay, the observe proxy), and
/// most end `COMPLETE`.
fn finish_failure(
    headers: &[Header],
    request_body: &serde_json::Value,
    body: &Body,
) -> Option<String> {
    let text = body.text.as_bytes();
    let named = [&b"MAX_TOKENS"[..], b"TIMEOUT", b"ERROR", b"\"length\""]
        .iter()
        .any(|w| contains(text, w));
    named
        .then(|| finish_of(headers, request_body, body)?.failure())
        .flatten()
}

/// How a 2xx generation ended: its `finish_reason` and whether it produced any text. Read from a complete JSON
/// body (v2 chat's `finish_reason` and `message.content`, v1 chat's and generate's, the compatibility API's
/// `choices[0]`) or from a stream's events (`message-end`, `stream-end`, content deltas).
///
/// ```
/// use cohere_bundle_core::exchange::Body;
/// use cohere_bundle_core::sse::finish_of;
/// // A reasoning model that spent max_tokens thinking: a 200 that failed.
/// let body = Body::from_text(r#"{"finish_reason":"MAX_TOKENS","message":{"content":[{"type":"thinking","thinking":"Let me see"}]}}"#);
/// let f = finish_of(&[], &serde_json::Value::Null, &body).unwrap();
/// assert_eq!((f.reason.as_str(), f.text_chars, f.thinking), ("MAX_TOKENS", 0, true));
/// assert!(f.failure().unwrap().contains("no text"));
/// let done = Body::from_text(r#"{"finish_reason":"COMPLETE","message":{"content":[{"type":"text","text":"Hi"}]}}"#);
/// assert!(finish_of(&[], &serde_json::Value::Null, &done).unwrap().failure().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// The finish reason as the API wrote it (`COMPLETE`, `MAX_TOKENS`, `ERROR`, `TIMEOUT`, `length`, …).
    pub reason: String,
    /// Characters of answer text produced (thinking not counted).
    pub text_chars: usize,
    /// Whether the model produced thinking content.
    pub thinking: bool,
}

impl Finish {
    /// Whether the reason is the output cap (`MAX_TOKENS`, or the compatibility API's `length`).
    ///
    /// Example: [`Finish`].
    pub fn hit_max_tokens(&self) -> bool {
        self.reason.eq_ignore_ascii_case("MAX_TOKENS") || self.reason == "length"
    }

    /// The failure this ending is, if it is one: `ERROR` or `TIMEOUT`, or the output cap reached with no text.
    /// A complete answer, or one cut by `max_tokens` after some text, is no failure.
    ///
    /// Example: [`Finish`].
    pub fn failure(&self) -> Option<String> {
        let r = self.reason.to_ascii_uppercase();
        if r == "ERROR" || r == "TIMEOUT" {
            return Some(format!(
                "the HTTP 200 response ended with finish_reason {}",
                self.reason
            ));
        }
        (self.hit_max_tokens() && self.text_chars == 0).then(|| {
            format!(
                "the HTTP 200 response ended with finish_reason {} and no text{}",
                self.reason,
                if self.thinking {
                    " (the output went to thinking)"
                } else {
                    ""
                }
            )
        })
    }
}

/// How a 2xx generation ended, if the body says (see [`Finish`]). `None` when the body has no finish reason
/// (embed, rerank, a cut body).
///
/// Example: [`Finish`].
pub fn finish_of(
    response_headers: &[Header],
    request_body: &serde_json::Value,
    body: &Body,
) -> Option<Finish> {
    if body.encoding != crate::exchange::BodyEncoding::Utf8 {
        return None;
    }
    if is_stream(response_headers, request_body, 200) {
        return stream_finish(&body.text);
    }
    let v: serde_json::Value = serde_json::from_str(&body.text).ok()?;
    let mut f = Finish {
        reason: String::new(),
        text_chars: 0,
        thinking: false,
    };
    if let Some(choice) = v.pointer("/choices/0") {
        f.reason = choice.get("finish_reason")?.as_str()?.to_string();
        f.text_chars = choice
            .pointer("/message/content")
            .and_then(|c| c.as_str())
            .map_or(0, str::len);
        return Some(f);
    }
    let holder = v.pointer("/generations/0").unwrap_or(&v);
    f.reason = holder.get("finish_reason")?.as_str()?.to_string();
    f.text_chars = holder
        .get("text")
        .and_then(|t| t.as_str())
        .map_or(0, str::len);
    for part in v
        .pointer("/message/content")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
    {
        match part.get("type").and_then(|t| t.as_str()) {
            Some("thinking") => f.thinking = true,
            _ => {
                f.text_chars += part
                    .get("text")
                    .and_then(|t| t.as_str())
                    .map_or(0, str::len)
            }
        }
    }
    Some(f)
}

/// The finish of a stream held in full: the last finish reason an event gave, and the text of the content
/// deltas (v2 `content-delta`, v1 `text-generation`, the compatibility API's `choices[0].delta.content`).
fn stream_finish(text: &str) -> Option<Finish> {
    let mut f = Finish {
        reason: String::new(),
        text_chars: 0,
        thinking: false,
    };
    for line in text.lines() {
        let data = line.strip_prefix("data:").unwrap_or(line).trim();
        if !data.starts_with('{') {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
            continue;
        };
        let content = v.pointer("/delta/message/content");
        if content
            .and_then(|c| c.get("thinking"))
            .is_some_and(|t| t.as_str().is_some_and(|t| !t.is_empty()))
        {
            f.thinking = true;
        }
        let piece = content
            .and_then(|c| c.get("text"))
            .or_else(|| {
                (v.get("event_type").and_then(|t| t.as_str()) == Some("text-generation"))
                    .then(|| v.get("text"))
                    .flatten()
            })
            .or_else(|| v.pointer("/choices/0/delta/content"));
        f.text_chars += piece.and_then(|t| t.as_str()).map_or(0, str::len);
        let reason = v
            .pointer("/delta/finish_reason")
            .or_else(|| v.get("finish_reason"))
            .or_else(|| v.pointer("/choices/0/finish_reason"))
            .and_then(|r| r.as_str());
        if let Some(r) = reason {
            f.reason = r.to_string();
        }
    }
    (!f.reason.is_empty()).then_some(f)
}

/// The failure of a 2xx JSON body that ends before its JSON does.
pub(crate) fn cut_json(status: u16, size: u64) -> Failure {
    Failure::new(
        FailureClass::Stream,
        format!("the HTTP {status} response body is not complete JSON: it ends after {size} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&str]) -> StreamScanner {
        let mut s = StreamScanner::default();
        for c in chunks {
            s.feed(c.as_bytes());
        }
        s.finish();
        s
    }

    #[test]
    fn scanner_finds_errors_split_across_chunks() {
        let ok = "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\ndata: [DONE]\n\n";
        assert_eq!(scan(&[ok]).verdict(), None);
        let bad = "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\",\"error\":\"internal failure\"}}\n\n";
        let (a, b) = bad.split_at(40);
        assert_eq!(scan(&[a, b]).verdict().as_deref(), Some("internal failure"));
        let no_text = "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\"}}\n";
        assert!(scan(&[no_text])
            .verdict()
            .unwrap()
            .contains("finish_reason ERROR"));
        let v1 = "{\"event_type\":\"text-generation\",\"text\":\"hi\"}\n{\"is_finished\":true,\"event_type\":\"stream-end\",\"finish_reason\":\"ERROR\"}";
        assert!(scan(&[v1]).verdict().unwrap().contains("stream-end"));
        // The word "error" inside generated text is not an error.
        let text =
            "data: {\"type\":\"content-delta\",\"delta\":{\"message\":{\"content\":{\"text\":\"error ERROR\"}}}}\n";
        let s = scan(&[text]);
        assert_eq!(s.failure(), None);
        assert_eq!(
            s.verdict().as_deref(),
            Some("the stream ended without message-end after 1 event")
        );
    }

    #[test]
    fn terminal_events_complete_a_stream_in_every_dialect() {
        // v2 SSE with the event field only on the event line.
        let s = scan(&[
            "event: message-end\n",
            "data: {\"type\":\"message-end\"}\n\n",
        ]);
        assert!(s.terminal());
        // v1 NDJSON.
        let s = scan(&["{\"event_type\":\"stream-start\"}\n{\"event_type\":\"stream-end\",\"finish_reason\":\"COMPLETE\"}\n"]);
        assert!(s.terminal() && s.verdict().is_none());
        assert_eq!(s.events(), 2);
        // OpenAI-style [DONE].
        assert!(scan(&["data: {\"a\":1}\n\ndata: [DONE]\n\n"]).terminal());
        // The compatibility API's chunks: [DONE] ends them; without it the verdict names [DONE].
        let chunk = "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":{\"content\":\"error\"}}]}\n\n";
        let s = scan(&[chunk, "data: [DONE]\n\n"]);
        assert!(s.terminal() && s.verdict().is_none());
        assert_eq!(
            scan(&[chunk]).verdict().as_deref(),
            Some("the stream ended without [DONE] after 1 event")
        );
        let err =
            "data: {\"error\":{\"message\":\"internal failure\",\"type\":\"server_error\"}}\n\n";
        assert_eq!(
            scan(&[chunk, err]).verdict().as_deref(),
            Some("internal failure")
        );
        // Text that merely mentions message-end is not the end.
        let s =
            scan(&["data: {\"type\":\"content-delta\",\"delta\":{\"text\":\"message-end\"}}\n"]);
        assert!(!s.terminal());
    }

    #[test]
    fn cut_streams_and_cut_json_are_failures() {
        let sse = [Header::new("content-type", "text/event-stream")];
        let cut = Body::from_text(
            "event: message-start\ndata: {\"type\":\"message-start\"}\n\nevent: content-delta\ndata: {\"type\":\"content-delta\"}\n\n",
        );
        let f = check_complete(200, &sse, &serde_json::Value::Null, &cut).unwrap();
        assert_eq!(f.class, FailureClass::Stream);
        assert!(f.message.contains("after 2 events"), "{}", f.message);
        let json = [Header::new("content-type", "application/json")];
        assert!(check_complete(
            200,
            &json,
            &serde_json::Value::Null,
            &Body::from_text("{\"a\":")
        )
        .is_some());
        // Errors are judged by their status elsewhere.
        assert!(
            check_complete(404, &json, &serde_json::Value::Null, &Body::from_text("{")).is_none()
        );
        // A request that asked for a stream makes a 200 without a content type a stream.
        let req = serde_json::json!({"stream": true});
        assert!(check_complete(200, &[], &req, &Body::from_text("data: {\"x\":1}\n")).is_some());
    }
}
