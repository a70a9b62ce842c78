//! Is a response complete? Stream semantics as the official SDKs see them, shared by the replay client, the
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
//! use cohere_bundle::sse::StreamScanner;
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
//! use cohere_bundle::{exchange::Header, sse::is_stream};
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
                "the stream ended without message-end after {} event{}",
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
/// use cohere_bundle::exchange::{Body, Header};
/// use cohere_bundle::sse::check_complete;
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
        return s.verdict().map(|m| Failure::new(FailureClass::Stream, m));
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
    None
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
