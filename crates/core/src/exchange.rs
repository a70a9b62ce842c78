//! Shared. One recorded HTTP exchange: what was sent, what came back, how long it took and how it failed.
//! Written as `exchanges/NNN.json` in the bundle.
//!
//! ```
//! use cohere_bundle_core::exchange::{
//!     header, Body, BodyEncoding, Exchange, Failure, FailureClass, Header, Purpose, RecordedRequest,
//!     RecordedResponse, Timings,
//! };
//!
//! let request = RecordedRequest {
//!     method: "POST".into(),
//!     url: "https://api.cohere.com/v2/chat".into(),
//!     headers: vec![Header::new("Content-Type", "application/json")],
//!     body: Body::from_text(r#"{"model":"command-r","messages":[]}"#),
//! };
//! let response = RecordedResponse {
//!     status: 404,
//!     headers: vec![Header::new("X-Debug-Trace-Id", "trace-123")],
//!     body: Body::from_bytes(br#"{"id":"abc","message":"model 'command-r' not found"}"#, None),
//! };
//! let exchange = Exchange {
//!     index: 1,
//!     purpose: Purpose::Replay,
//!     request,
//!     response: Some(response),
//!     timings: Timings { time_to_headers_ms: Some(120.0), total_ms: 125.5, ..Timings::default() },
//!     failure: Some(Failure::new(FailureClass::Http, "model 'command-r' not found")),
//!     retry_group: None,
//! };
//! assert_eq!(exchange.status(), Some(404));
//! assert_eq!(exchange.response_header("x-debug-trace-id"), Some("trace-123"));
//! assert_eq!(exchange.request_id().as_deref(), Some("trace-123"));
//! assert_eq!(header(&exchange.request.headers, "content-type"), Some("application/json"));
//! assert_eq!(exchange.request.body.json().unwrap()["model"], "command-r");
//!
//! // How serious a failure is as evidence about the API: an API error first, a client's disconnect last.
//! let f = exchange.failure.as_ref().unwrap();
//! assert_eq!((f.class.as_str(), f.severity()), ("http", 0));
//! assert_eq!(Failure::client_side(FailureClass::Network, "disconnected").severity(), 3);
//!
//! // Bodies that are not UTF-8 are kept as base64; a cap keeps the first bytes.
//! let b = Body::from_bytes(&[0xff, 0xfe, 0x00], None);
//! assert_eq!((b.encoding, b.text.as_str(), b.size), (BodyEncoding::Base64, "//4A", 3));
//! let cut = Body::from_bytes(b"0123456789", Some(4));
//! assert_eq!((cut.text.as_str(), cut.size, cut.truncated), ("0123", 10, true));
//!
//! // As written to `exchanges/001.json`.
//! let json = serde_json::to_value(&exchange).unwrap();
//! assert_eq!((json["purpose"].as_str(), json["response"]["status"].as_u64()), (Some("replay"), Some(404)));
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One header as sent or received, in order, names as written.
///
/// See the [module example](crate::exchange).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The header name.
    pub name: String,
    /// The header value.
    pub value: String,
}

impl Header {
    /// Builds a header.
    ///
    /// See the [module example](crate::exchange).
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Finds the first header called `name` (case-insensitive).
///
/// See the [module example](crate::exchange).
pub fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// The credential of a bearer `Authorization` header, as written (placeholders such as `$CO_API_KEY`
/// included; [`crate::gather::capture::bearer`] leaves those out).
pub(crate) fn bearer_raw(headers: &[Header]) -> Option<&str> {
    let v = header(headers, "authorization")?.trim();
    ["Bearer ", "bearer ", "BEARER "]
        .iter()
        .find_map(|p| v.strip_prefix(p))
        .map(str::trim)
}

/// A request or response body as recorded.
///
/// See the [module example](crate::exchange).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// The body as text: UTF-8 verbatim, or base64 when `encoding` is `base64`.
    pub text: String,
    /// `utf8` or `base64` (for bodies that are not UTF-8).
    pub encoding: BodyEncoding,
    /// The size of the whole body in bytes, before any truncation.
    pub size: u64,
    /// True when `text` holds only the first part of the body.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// How [`Body::text`] is encoded.
///
/// See the [module example](crate::exchange).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    /// Verbatim UTF-8.
    #[default]
    Utf8,
    /// Base64 of the raw bytes.
    Base64,
}

impl Body {
    /// Records bytes, keeping at most `cap` of them (`None`: all).
    ///
    /// See the [module example](crate::exchange).
    pub fn from_bytes(bytes: &[u8], cap: Option<usize>) -> Body {
        let size = bytes.len() as u64;
        let (kept, truncated) = match cap {
            Some(c) if bytes.len() > c => (&bytes[..c], true),
            _ => (bytes, false),
        };
        Body::encode(kept, size, truncated)
    }

    /// Records the first bytes of a body of `size` bytes (a body that was streamed, not kept whole),
    /// keeping at most `cap` of them; `truncated` when fewer than `size` are kept.
    ///
    /// ```
    /// use cohere_bundle_core::exchange::Body;
    /// let b = Body::from_prefix(b"{\"model\":\"command-a\",", 8, 1 << 30);
    /// assert!(b.truncated && b.size == 1 << 30 && b.text == "{\"model\"");
    /// ```
    pub fn from_prefix(prefix: &[u8], cap: usize, size: u64) -> Body {
        let kept = &prefix[..prefix.len().min(cap)];
        Body::encode(kept, size.max(kept.len() as u64), size > kept.len() as u64)
    }

    fn encode(kept: &[u8], size: u64, truncated: bool) -> Body {
        match std::str::from_utf8(kept) {
            Ok(s) => Body {
                text: s.to_string(),
                encoding: BodyEncoding::Utf8,
                size,
                truncated,
            },
            // A cut in the middle of a UTF-8 sequence is still text.
            Err(e) if truncated && e.error_len().is_none() => Body {
                text: String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned(),
                encoding: BodyEncoding::Utf8,
                size,
                truncated,
            },
            Err(_) => {
                use base64::Engine;
                Body {
                    text: base64::engine::general_purpose::STANDARD.encode(kept),
                    encoding: BodyEncoding::Base64,
                    size,
                    truncated,
                }
            }
        }
    }

    /// Records a string.
    ///
    /// See the [module example](crate::exchange).
    pub fn from_text(s: impl Into<String>) -> Body {
        let text = s.into();
        Body {
            size: text.len() as u64,
            text,
            encoding: BodyEncoding::Utf8,
            truncated: false,
        }
    }

    /// The body parsed as JSON, when it is UTF-8 JSON.
    ///
    /// See the [module example](crate::exchange).
    pub fn json(&self) -> Option<serde_json::Value> {
        if self.encoding != BodyEncoding::Utf8 {
            return None;
        }
        serde_json::from_str(&self.text).ok()
    }
}

/// The request half of an exchange.
///
/// See the [module example](crate::exchange).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Headers in the order sent.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Body,
}

/// The response half of an exchange.
///
/// See the [module example](crate::exchange).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers in the order received.
    pub headers: Vec<Header>,
    /// The body (for a stream, the raw event text).
    pub body: Body,
}

/// How long the exchange took.
///
/// See the [module example](crate::exchange).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// When the request was sent (UTC).
    pub started_at: DateTime<Utc>,
    /// Milliseconds from sending to the response headers, when they arrived.
    pub time_to_headers_ms: Option<f64>,
    /// Milliseconds from sending to the end of the exchange (body read, or failure).
    pub total_ms: f64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            started_at: Utc::now(),
            time_to_headers_ms: None,
            total_ms: 0.0,
        }
    }
}

str_enum! {
    /// The class of a failed exchange.
    ///
    /// Like every closed set of names in `summary.json` and the exchanges, it has `ALL`, `as_str`,
    /// `Display`, `FromStr`, and compares with `&str`:
    ///
    /// ```
    /// use cohere_bundle_core::FailureClass;
    /// assert_eq!(FailureClass::ALL.len(), 4);
    /// assert_eq!(FailureClass::Timeout.as_str(), "timeout");
    /// assert_eq!(FailureClass::Http.to_string(), "http");
    /// assert_eq!("stream".parse::<FailureClass>(), Ok(FailureClass::Stream));
    /// assert!("oops".parse::<FailureClass>().is_err());
    /// assert!(FailureClass::Network == "network");
    /// ```
    pub enum FailureClass {
        /// The server answered with a status ≥ 400.
        Http = "http",
        /// The connection failed: refused, DNS, TLS, reset.
        Network = "network",
        /// No complete answer within the timeout.
        Timeout = "timeout",
        /// A 200 response that carried an error (e.g. `finish_reason: ERROR`) or broke off: a stream that ended
        /// before its terminal event, or a JSON body cut short.
        Stream = "stream",
    }
}

str_enum! {
    /// What an exchange was for.
    ///
    /// See the [module example](crate::exchange).
    pub enum Purpose {
        /// The failing request sent again by `replay` (or the library's replay).
        Replay = "replay",
        /// A variant sent by the shape sweep.
        Matrix = "matrix",
        /// A request the observe proxy relayed.
        Observed = "observed",
        /// An exchange recorded elsewhere and handed in: a request with its recorded response, or an error
        /// handler's own record.
        Recorded = "recorded",
    }
}

/// Why an exchange failed.
///
/// See the [module example](crate::exchange).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The class.
    pub class: FailureClass,
    /// The error message verbatim: the API's `message`, or the client's error text.
    pub message: String,
    /// True when the client, not the API, ended the exchange (it disconnected or gave up before the
    /// response was complete). Such a failure says nothing about the API and ranks last.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_side: bool,
}

impl Failure {
    /// A failure of `class` with the message verbatim.
    ///
    /// ```
    /// use cohere_bundle_core::exchange::{Failure, FailureClass};
    /// let f = Failure::new(FailureClass::Http, "model 'x' not found");
    /// assert!(!f.client_side);
    /// ```
    pub fn new(class: FailureClass, message: impl Into<String>) -> Failure {
        Failure {
            class,
            message: message.into(),
            client_side: false,
        }
    }

    /// A failure that the client caused by disconnecting or giving up.
    ///
    /// See the [module example](crate::exchange).
    pub fn client_side(class: FailureClass, message: impl Into<String>) -> Failure {
        Failure {
            client_side: true,
            ..Failure::new(class, message)
        }
    }

    /// How serious the failure is as evidence about the API, lowest first: an API error response (0), a
    /// network failure or timeout (1), a broken or erroring stream (2), a client-side disconnect (3).
    ///
    /// See the [module example](crate::exchange).
    pub fn severity(&self) -> u8 {
        if self.client_side {
            return 3;
        }
        match self.class {
            FailureClass::Http => 0,
            FailureClass::Network | FailureClass::Timeout => 1,
            FailureClass::Stream => 2,
        }
    }
}

/// One recorded exchange.
///
/// See the [module example](crate::exchange).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// Position in the bundle, from 1.
    pub index: u32,
    /// What this exchange was for.
    pub purpose: Purpose,
    /// What was sent.
    pub request: RecordedRequest,
    /// What came back, if anything did.
    pub response: Option<RecordedResponse>,
    /// Timings.
    pub timings: Timings,
    /// How it failed, or `None` when it succeeded.
    pub failure: Option<Failure>,
    /// Observed retries of one SDK call share a group number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_group: Option<u32>,
}

impl Exchange {
    /// The response status, if a response arrived.
    ///
    /// See the [module example](crate::exchange).
    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.status)
    }

    /// A response header (case-insensitive).
    ///
    /// See the [module example](crate::exchange).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response
            .as_ref()
            .and_then(|r| header(&r.headers, name))
    }

    /// The request ID: `x-debug-trace-id`, else the error body's `id`.
    ///
    /// See the [module example](crate::exchange).
    pub fn request_id(&self) -> Option<String> {
        if let Some(id) = self.response_header("x-debug-trace-id") {
            return Some(id.to_string());
        }
        let body = self.response.as_ref()?.body.json()?;
        body.get("id").and_then(|v| v.as_str()).map(str::to_string)
    }
}

/// Whether an exchange is the request itself (as replayed, observed or recorded), not a follow-up call.
pub(crate) fn is_main(e: &Exchange) -> bool {
    matches!(
        e.purpose,
        Purpose::Replay | Purpose::Observed | Purpose::Recorded
    )
}

/// The exchange recorded by an error handler when a replay was made as well: the failure the application saw.
pub(crate) fn original_exchange(exchanges: &[Exchange]) -> Option<&Exchange> {
    let replayed = exchanges.iter().any(|e| e.purpose == Purpose::Replay);
    exchanges
        .iter()
        .find(|e| replayed && e.purpose == Purpose::Recorded)
}

/// Picks the exchange the summary is about. Among failing exchanges, the most serious
/// ([`crate::exchange::Failure::severity`]: an API error response, then a network failure or timeout, then a
/// broken stream, then a client-side disconnect), and the earliest of equals. With no failure, the last
/// exchange. A handler's own record is the original failure when a replay was made too, and not a candidate.
///
/// See the [module example](crate::diagnose), whose summary is about it.
pub fn primary_exchange(exchanges: &[Exchange]) -> Option<&Exchange> {
    let original = original_exchange(exchanges).map(|e| e.index);
    let candidates = || {
        exchanges
            .iter()
            .filter(move |e| is_main(e) && (original.is_none() || Some(e.index) != original))
    };
    candidates()
        .filter_map(|e| e.failure.as_ref().map(|f| (f.severity(), e)))
        .min_by_key(|(sev, _)| *sev)
        .map(|(_, e)| e)
        .or_else(|| candidates().next_back())
        .or_else(|| exchanges.iter().find(|e| e.failure.is_some()))
}

/// The name an exchange is cited by: its bundle member and purpose, e.g. `exchanges/001.json (replay)`.
pub(crate) fn exchange_source(e: &Exchange) -> String {
    format!("exchanges/{:03}.json ({})", e.index, e.purpose)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_keeps_text_and_base64s_binary() {
        let b = Body::from_bytes(b"{\"a\":1}", None);
        assert_eq!(b.encoding, BodyEncoding::Utf8);
        assert_eq!(b.json().unwrap()["a"], 1);
        let b = Body::from_bytes(&[0xff, 0x00, 0x10], None);
        assert_eq!(b.encoding, BodyEncoding::Base64);
        assert_eq!(b.size, 3);
    }

    #[test]
    fn body_truncation_does_not_split_utf8() {
        let s = "héllo";
        let b = Body::from_bytes(s.as_bytes(), Some(2));
        assert!(b.truncated);
        assert_eq!(b.text, "h");
        assert_eq!(b.size, 6);
    }
}
