//! Entry point. The high-level API for error handlers: turn what a handler holds (the request body, the endpoint, the
//! status, the headers, the response body, or a `reqwest::Response`) into a verified support bundle.
//!
//! ```no_run
//! # async fn f() -> cohere_bundle_core::Result<()> {
//! use cohere_bundle_core::library::FailureReport;
//! use cohere_bundle_core::pipeline::BundleOptions;
//! use cohere_bundle_core::{Endpoint, SecretString};
//!
//! let body = serde_json::json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hi"}]});
//! let outcome = FailureReport::new(Endpoint::ChatV2, body)
//!     .status(429)
//!     .response_headers([("x-trial-endpoint-call-limit", "20")])
//!     .response_body(r#"{"message": "You are using a Trial key, which is limited to 20 API calls / minute."}"#)
//!     .secret(SecretString::new("my-internal-token"))
//!     .write(&BundleOptions::default())
//!     .await?;
//! println!("wrote {}", outcome.path.display());
//! # Ok(()) }
//! ```
//!
//! For services that may see storms of failures, [`crate::recorder::Recorder`] takes `FailureReport`s cheaply
//! and writes bundles in the background, one per failure signature per interval.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;

use crate::cohere::{Endpoint, Platform};
use crate::error::Result;
use crate::exchange::{Body, Failure, FailureClass, Header, RecordedResponse};
use crate::gather::capture::{recorded_exchange, CaptureBuilder};
use crate::gather::client::{Client, DEFAULT_BODY_CAP};
use crate::input::request::{CapturedRequest, RequestSource};
use crate::pipeline::{self, BundleOptions, Capture, Outcome, ReplayOptions};
use crate::scrub::{KnownSecret, SecretString};

/// The request body as the handler holds it.
#[derive(Debug, Clone)]
enum RequestBody {
    Json(serde_json::Value),
    /// Raw bytes, parsed on the writing side (so that capturing costs no parsing).
    Raw(Bytes),
}

/// What identifies "the same failure" for grouping: endpoint, model, status and failure class.
///
/// Example: [`FailureReport`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Signature {
    /// The endpoint, e.g. `v2/chat`.
    pub endpoint: &'static str,
    /// The model named in the request.
    pub model: Option<String>,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// The failure class, when given ([`FailureReport::error`]) or implied by a status ≥ 400.
    pub class: Option<FailureClass>,
}

impl Signature {
    /// A short stable hex digest, for file names.
    pub(crate) fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = format!(
            "{}|{:?}|{:?}|{:?}",
            self.endpoint, self.model, self.status, self.class
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..4])
    }
}

/// A failure as an error handler sees it, built step by step and written with [`FailureReport::write`].
///
/// ```
/// use std::time::Duration;
/// use cohere_bundle_core::library::FailureReport;
/// use cohere_bundle_core::pipeline::BundleOptions;
/// use cohere_bundle_core::{Endpoint, FailureClass, Platform, SecretString};
///
/// # #[tokio::main]
/// # async fn main() -> cohere_bundle_core::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let log = dir.path().join("app.log");
/// std::fs::write(&log, "2026-11-24 09:14:04 ERROR chat failed: model not found\n").unwrap();
/// let report = FailureReport::from_raw_body(Endpoint::ChatV2, r#"{"model":"command-r","messages":[]}"#)
///     .method("POST")
///     .url("https://api.cohere.com/v2/chat")
///     .request_headers([("authorization", "Bearer co-secret-key-1234")])
///     .status(404)
///     .response_headers([("x-debug-trace-id", "trace-404")])
///     .response_body(r#"{"message":"model 'command-r' not found"}"#)
///     .elapsed(Duration::from_millis(180))
///     .platform(Platform::Cohere)
///     .api_key(SecretString::new("co-secret-key-1234"))
///     .secret(SecretString::new("db-password-1234"))
///     .log(log.clone());
/// assert_eq!(report.model().as_deref(), Some("command-r"));
/// let sig = report.signature();
/// assert_eq!((sig.endpoint, sig.status, sig.class), ("v2/chat", Some(404), Some(FailureClass::Http)));
///
/// // No replay was asked for: nothing is sent.
/// let capture = report.clone().capture().await?;
/// assert_eq!(capture.exchanges[0].request_id().as_deref(), Some("trace-404"));
///
/// let outcome = report.write(&BundleOptions::new().out_dir(dir.path())).await?;
/// assert_eq!(outcome.summary.request_id.as_deref(), Some("trace-404"));
/// assert_eq!(outcome.summary.logs, ["logs/app.log"]);
/// # Ok(()) }
/// ```
///
/// From what a reqwest call gave back, a response or an error, or from the handler's own words:
///
/// ```
/// use cohere_bundle_core::library::FailureReport;
/// use cohere_bundle_core::pipeline::ReplayOptions;
/// use cohere_bundle_core::{Endpoint, FailureClass};
///
/// # #[tokio::main]
/// # async fn main() {
/// let body = serde_json::json!({"model": "command-r", "messages": []});
/// let resp: reqwest::Response = http::Response::builder()
///     .status(429)
///     .header("x-trial-endpoint-call-limit", "20")
///     .body(r#"{"message":"trial key limited to 20 API calls / minute"}"#)
///     .unwrap()
///     .into();
/// let report = FailureReport::new(Endpoint::ChatV2, body.clone()).response(resp).await;
/// assert_eq!(report.signature().status, Some(429));
///
/// let err = reqwest::Client::new().get("http://").send().await.unwrap_err();
/// let report = FailureReport::new(Endpoint::ChatV2, body.clone()).reqwest_error(&err);
/// assert_eq!(report.signature().class, Some(FailureClass::Network));
///
/// let report = FailureReport::new(Endpoint::ChatV2, body)
///     .error(FailureClass::Timeout, "no answer within 120 s")
///     // Send the request again when writing, and record that next to the original failure.
///     .replay(ReplayOptions::new().base_url("https://api.cohere.com"));
/// assert_eq!(report.signature().class, Some(FailureClass::Timeout));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FailureReport {
    endpoint: Endpoint,
    body: RequestBody,
    method: String,
    url: Option<String>,
    request_headers: Vec<Header>,
    status: Option<u16>,
    response_headers: Vec<Header>,
    response_body: Option<Bytes>,
    failure: Option<Failure>,
    secrets: Vec<SecretString>,
    api_key: Option<SecretString>,
    platform: Option<Platform>,
    logs: Vec<PathBuf>,
    replay: Option<ReplayOptions>,
    elapsed_ms: Option<f64>,
    request_missing: Option<String>,
}

/// Cheap scan for `"model": "..."` in raw JSON bytes (no parsing).
fn scan_model(raw: &[u8]) -> Option<String> {
    let key = b"\"model\"";
    let i = raw.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &raw[i..];
    let colon = rest.iter().position(|&b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    let rest = &rest[colon + 1..];
    let q = rest.iter().position(|&b| !b.is_ascii_whitespace())?;
    if rest[q] != b'"' {
        return None;
    }
    let rest = &rest[q + 1..];
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    std::str::from_utf8(&rest[..end]).ok().map(str::to_string)
}

impl FailureReport {
    /// A failure of a request to `endpoint` with this JSON body.
    ///
    /// Example: [`FailureReport`].
    pub fn new(endpoint: Endpoint, body: serde_json::Value) -> Self {
        Self::with_body(endpoint, RequestBody::Json(body))
    }

    /// A failure of a request to `endpoint` whose body the handler holds as bytes (parsed only when the
    /// bundle is written).
    ///
    /// Example: [`FailureReport`].
    pub fn from_raw_body(endpoint: Endpoint, body: impl Into<Bytes>) -> Self {
        Self::with_body(endpoint, RequestBody::Raw(body.into()))
    }

    fn with_body(endpoint: Endpoint, body: RequestBody) -> Self {
        FailureReport {
            endpoint,
            body,
            method: "POST".into(),
            url: None,
            request_headers: Vec::new(),
            status: None,
            response_headers: Vec::new(),
            response_body: None,
            failure: None,
            secrets: Vec::new(),
            api_key: None,
            platform: None,
            logs: Vec::new(),
            replay: None,
            elapsed_ms: None,
            request_missing: None,
        }
    }

    /// The HTTP method (default `POST`).
    ///
    /// Example: [`FailureReport`].
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// The full URL the request went to (tells the platform and the base URL for a replay).
    ///
    /// Example: [`FailureReport`].
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Request headers as sent (an `Authorization` value is scrubbed, never written).
    ///
    /// Example: [`FailureReport`].
    pub fn request_headers<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.request_headers.extend(
            headers
                .into_iter()
                .map(|(k, v)| Header::new(k.as_ref(), v.as_ref())),
        );
        self
    }

    /// The HTTP status received.
    ///
    /// Example: [`FailureReport`].
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Response headers as received.
    ///
    /// Example: [`FailureReport`].
    pub fn response_headers<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.response_headers.extend(
            headers
                .into_iter()
                .map(|(k, v)| Header::new(k.as_ref(), v.as_ref())),
        );
        self
    }

    /// Response headers from a `reqwest`/`http` header map.
    pub(crate) fn response_header_map(mut self, headers: &reqwest::header::HeaderMap) -> Self {
        self.response_headers.extend(
            headers
                .iter()
                .map(|(n, v)| Header::new(n.as_str(), String::from_utf8_lossy(v.as_bytes()))),
        );
        self
    }

    /// The response body as received.
    ///
    /// Example: [`FailureReport`].
    pub fn response_body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.response_body = Some(Bytes::copy_from_slice(body.as_ref()));
        self
    }

    /// A failure without (or besides) an HTTP status: a network error, a timeout, a broken stream.
    ///
    /// Example: [`FailureReport`].
    pub fn error(mut self, class: FailureClass, message: impl Into<String>) -> Self {
        self.failure = Some(Failure::new(class, message));
        self
    }

    /// The failure from a `reqwest::Error` (timeout, connection, body), with its cause chain.
    ///
    /// Example: [`FailureReport`].
    pub fn reqwest_error(self, e: &reqwest::Error) -> Self {
        let class = if e.is_timeout() {
            FailureClass::Timeout
        } else if e.is_body() || e.is_decode() {
            FailureClass::Stream
        } else {
            FailureClass::Network
        };
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        let status = e.status().map(|s| s.as_u16());
        let mut r = self.error(class, msg);
        if let Some(s) = status {
            r.status = Some(s);
        }
        r
    }

    /// Reads the status, headers and body (up to 8 MiB kept) of a response the handler received.
    ///
    /// Example: [`FailureReport`].
    pub async fn response(mut self, resp: reqwest::Response) -> Self {
        self.status = Some(resp.status().as_u16());
        if self.url.is_none() {
            self.url = Some(resp.url().to_string());
        }
        self = self.response_header_map(resp.headers());
        let mut bytes = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    let room = DEFAULT_BODY_CAP.saturating_sub(bytes.len());
                    bytes.extend_from_slice(&c[..c.len().min(room)]);
                }
                Err(e) => {
                    self.failure = Some(Failure::new(
                        FailureClass::Stream,
                        format!("response body broke off after {} bytes: {e}", bytes.len()),
                    ));
                    break;
                }
            }
        }
        self.response_body = Some(Bytes::from(bytes));
        self
    }

    /// How long the failed call took.
    ///
    /// Example: [`FailureReport`].
    pub fn elapsed(mut self, d: std::time::Duration) -> Self {
        self.elapsed_ms = Some(d.as_secs_f64() * 1000.0);
        self
    }

    /// A secret to scrub from the bundle (repeatable).
    ///
    /// Example: [`FailureReport`].
    pub fn secret(mut self, s: SecretString) -> Self {
        self.secrets.push(s);
        self
    }

    /// The API key used: scrubbed, and sent when replaying.
    ///
    /// Example: [`FailureReport`].
    pub fn api_key(mut self, k: SecretString) -> Self {
        self.api_key = Some(k);
        self
    }

    /// Where the request was sent, when the URL does not tell.
    ///
    /// Example: [`FailureReport`].
    pub fn platform(mut self, p: Platform) -> Self {
        self.platform = Some(p);
        self
    }

    /// A log file to include (scrubbed, cut to its newest lines when over the size budget).
    ///
    /// Example: [`FailureReport`].
    pub fn log(mut self, path: impl Into<PathBuf>) -> Self {
        self.logs.push(path.into());
        self
    }

    /// Replays the request once more when writing, and records the replay next to the original failure.
    ///
    /// Example: [`FailureReport`].
    pub fn replay(mut self, opts: ReplayOptions) -> Self {
        self.replay = Some(opts);
        self
    }

    /// Says the request was not captured (the handler had only the response, e.g. an SDK exception with no
    /// hooks on its client); `how` says how to capture it next time. The report then says what could not be
    /// told, instead of reading the placeholder request.
    ///
    /// ```
    /// use cohere_bundle_core::{Endpoint, FailureReport};
    /// let r = FailureReport::new(Endpoint::ChatV2, serde_json::Value::Null)
    ///     .status(404)
    ///     .request_not_captured("call cohere_bundle.auto_instrument() before creating the client");
    /// # let _ = r;
    /// ```
    pub fn request_not_captured(mut self, how: impl Into<String>) -> Self {
        self.request_missing = Some(how.into());
        self
    }

    /// The model named in the request body.
    ///
    /// Example: [`FailureReport`].
    pub fn model(&self) -> Option<String> {
        match &self.body {
            RequestBody::Json(v) => v.get("model").and_then(|m| m.as_str()).map(str::to_string),
            RequestBody::Raw(b) => scan_model(b),
        }
    }

    /// The grouping signature: endpoint, model, status and class. Cheap: no parsing of a raw body.
    ///
    /// Example: [`FailureReport`].
    pub fn signature(&self) -> Signature {
        let class = self
            .failure
            .as_ref()
            .map(|f| f.class)
            .or(match self.status {
                Some(s) if s >= 400 => Some(FailureClass::Http),
                _ => None,
            });
        Signature {
            endpoint: self.endpoint.name(),
            model: self.model(),
            status: self.status,
            class,
        }
    }

    /// The request as a [`CapturedRequest`].
    fn request(&self) -> CapturedRequest {
        let body = match &self.body {
            RequestBody::Json(v) => v.clone(),
            RequestBody::Raw(b) => serde_json::from_slice(b).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(b).into_owned())
            }),
        };
        CapturedRequest {
            source: RequestSource::Library,
            method: self.method.clone(),
            url: self.url.clone(),
            endpoint: self.endpoint,
            headers: self.request_headers.clone(),
            body,
            recorded_response: None,
            url_model: Default::default(),
        }
    }

    /// Builds the [`Capture`] (no replay): the request and the failure as recorded.
    pub(crate) fn into_capture(self) -> Capture {
        self.builder().build()
    }

    /// The capture builder with the request and the failure as recorded.
    fn builder(&self) -> CaptureBuilder {
        let request = self.request();
        let response =
            (self.status.is_some() || self.response_body.is_some()).then(|| RecordedResponse {
                status: self.status.unwrap_or(0),
                headers: self.response_headers.clone(),
                body: Body::from_bytes(
                    self.response_body.as_deref().unwrap_or_default(),
                    Some(DEFAULT_BODY_CAP),
                ),
            });
        let mut exchange = recorded_exchange(
            &request,
            response,
            self.failure.clone(),
            self.elapsed_ms.unwrap_or(0.0),
        );
        if let RequestBody::Raw(b) = &self.body {
            exchange.request.body = Body::from_text(String::from_utf8_lossy(b).into_owned());
        }
        let mut b = Capture::builder(crate::summary::Mode::Library, request)
            .platform(self.platform)
            .api_key(self.api_key.clone())
            .request_missing(self.request_missing.clone())
            .exchange(exchange);
        for s in &self.secrets {
            b = b.secret(KnownSecret::new("secret", s.clone()));
        }
        b
    }

    /// Builds the capture, replaying first when [`FailureReport::replay`] was given.
    ///
    /// Example: [`FailureReport`].
    pub async fn capture(self) -> Result<Capture> {
        let Some(ro) = self.replay.clone() else {
            return Ok(self.into_capture());
        };
        let mut ro = ro;
        if ro.api_key.is_none() {
            ro.api_key = self.api_key.clone();
        }
        let request = self.request();
        let key = pipeline::replay_key(&ro, &request)?;
        let base = pipeline::resolve_base_url(&ro, &request);
        let prepared = pipeline::prepare_replay(&request, &base);
        let client = Client::with_options(ro.timeout, &ro.net)?;
        let sent = client
            .send(&prepared, key.as_ref(), crate::exchange::Purpose::Replay, 2)
            .await;
        Ok(self
            .builder()
            .exchange(sent.exchange)
            .api_key(key)
            .platform(Some(
                ro.platform.unwrap_or_else(|| Platform::from_url(&base)),
            ))
            .base_url(base)
            .client(client)
            .build())
    }

    /// Writes the bundle (replaying first if asked) with `bo`, plus this report's logs and secrets.
    ///
    /// Example: [`FailureReport`].
    pub async fn write(self, bo: &BundleOptions) -> Result<Outcome> {
        let mut bo = bo.clone();
        bo.logs.extend(self.logs.iter().cloned());
        bo.secrets.extend(self.secrets.iter().cloned());
        pipeline::preflight(&bo)?;
        let capture = self.capture().await?;
        pipeline::write_support_bundle(capture, &bo).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bodies_give_their_model_without_parsing() {
        assert_eq!(
            scan_model(br#"{"model" : "command-a-03-2025","x":1}"#).as_deref(),
            Some("command-a-03-2025")
        );
        assert_eq!(scan_model(br#"{"messages":[]}"#), None);
        assert_eq!(scan_model(br#"{"model": 5}"#), None);
    }

    #[test]
    fn signature_groups_by_endpoint_model_status_class() {
        let a = FailureReport::new(Endpoint::ChatV2, serde_json::json!({"model": "m"})).status(429);
        let b =
            FailureReport::from_raw_body(Endpoint::ChatV2, &br#"{"model":"m","messages":[]}"#[..])
                .status(429);
        let c = FailureReport::new(Endpoint::ChatV2, serde_json::json!({"model": "m"})).status(500);
        assert_eq!(a.signature(), b.signature());
        assert_ne!(a.signature(), c.signature());
        assert_eq!(a.signature().class, Some(FailureClass::Http));
        assert_eq!(a.signature().digest(), b.signature().digest());
    }
}
