//! Gather stage. Sending a request with reqwest and recording the exchange; classifying how it failed.
//!
//! ```
//! use std::time::Duration;
//! use cohere_bundle_core::gather::client::{error_message, Client, NetworkKind, PreparedRequest, DEFAULT_BODY_CAP};
//! use cohere_bundle_core::exchange::{Header, Purpose};
//! use cohere_bundle_core::gather::net::{NetOptions, ProxyMode};
//! use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY, SIMULATE_HEADER};
//! use cohere_bundle_core::{FailureClass, SecretString};
//!
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let sim = Simulator::start(SimConfig::default()).await?;
//!     let mut net = NetOptions::default();
//!     net.proxy = ProxyMode::Direct;
//!     let client = Client::with_options(Duration::from_secs(30), &net)?;
//!     let req = PreparedRequest {
//!         method: "POST".into(),
//!         url: format!("{}/v2/chat", sim.base_url()),
//!         headers: vec![
//!             Header::new("content-type", "application/json"),
//!             Header::new(SIMULATE_HEADER, "too-many-tokens"),
//!         ],
//!         body: br#"{"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Hi"}]}"#.to_vec(),
//!     };
//!     let key = SecretString::new(DEMO_KEY);
//!
//!     // Never an Err: the failure is recorded in the exchange.
//!     let out = client.send(&req, Some(&key), Purpose::Replay, 1).await;
//!     assert_eq!(out.exchange.status(), Some(400));
//!     assert_eq!(out.exchange.failure.as_ref().map(|f| f.class), Some(FailureClass::Http));
//!     let resp = out.exchange.response.as_ref().unwrap();
//!     assert!(error_message(&resp.body).starts_with("too many tokens"));
//!     assert!(!resp.body.truncated && (resp.body.size as usize) < DEFAULT_BODY_CAP);
//!     assert!(out.unreachable.is_none());
//!
//!     // Nothing listens any more: refused before any connection was made (a new client, so that no
//!     // kept-alive connection is tried).
//!     sim.shutdown().await;
//!     let client = Client::with_options(Duration::from_secs(30), &net)?;
//!     let out = client.send(&req, Some(&key), Purpose::Replay, 2).await;
//!     assert_eq!(out.unreachable, Some(NetworkKind::Refused));
//!     assert_eq!(out.exchange.failure.map(|f| f.class), Some(FailureClass::Network));
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::exchange::{
    Body, Exchange, Failure, FailureClass, Header, RecordedRequest, RecordedResponse, Timings,
};
use crate::gather::net::{NetOptions, ProxyMode};
use crate::scrub::SecretString;

/// The longest whole-request timeout a [`Client`] takes: one day.
///
/// Example: [`Client`].
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// Bodies larger than this are recorded truncated.
///
/// Example: [`crate::gather::client`].
pub const DEFAULT_BODY_CAP: usize = 8 * 1024 * 1024;

/// A request ready to send.
///
/// Example: [`crate::gather::client`].
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// HTTP method.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Headers to send (without Authorization: the key is added by [`Client::send`]).
    pub headers: Vec<Header>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// What kind of network failure happened.
///
/// Example: [`crate::gather::client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    /// Nothing listens at the address.
    Refused,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed.
    Tls,
    /// The connection was reset or closed mid-exchange.
    Reset,
    /// Some other connection error.
    Other,
}

/// The result of one send.
///
/// Example: [`crate::gather::client`].
#[derive(Debug, Clone)]
pub struct SendOutcome {
    /// The recorded exchange (headers as sent, including Authorization: scrub before writing it anywhere).
    pub exchange: Exchange,
    /// Set when the failure happened before any connection was made (refused, DNS, TLS).
    pub unreachable: Option<NetworkKind>,
}

/// A reqwest client with the tool's settings.
///
/// ```
/// use std::time::Duration;
/// use cohere_bundle_core::gather::client::{Client, MAX_TIMEOUT};
/// let client = Client::new(Duration::from_secs(600))?;
/// assert_eq!(client.timeout(), Duration::from_secs(600));
/// let _follow_ups: &reqwest::Client = client.http();
/// // A longer timeout is cut to a day.
/// assert_eq!(Client::new(Duration::from_secs(7 * 86_400))?.timeout(), MAX_TIMEOUT);
/// # Ok::<(), cohere_bundle_core::Error>(())
/// ```
/// Sending: see [`crate::gather::client`].
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The client [`Client::send`] uses: it follows no redirect itself ([`Client::send_following`] does).
    sender: reqwest::Client,
    timeout: Duration,
    body_cap: usize,
    /// Header names that carry credentials besides [`crate::scrub::learn::is_credential_header`]'s.
    secret_headers: Vec<String>,
}

impl Client {
    /// Builds a client with a whole-request timeout (at most [`MAX_TIMEOUT`]; a longer one is cut to it) and the
    /// default [`NetOptions`]: the system's and the bundled Mozilla roots, proxies from the environment.
    ///
    /// Example: [`Client`].
    pub fn new(timeout: Duration) -> Result<Client> {
        Client::with_options(timeout, &NetOptions::default())
    }

    /// Builds a client with a whole-request timeout (at most [`MAX_TIMEOUT`]), trusting the roots and using the
    /// proxy of `net`.
    ///
    /// Example: [`crate::gather::client`].
    pub fn with_options(timeout: Duration, net: &NetOptions) -> Result<Client> {
        let timeout = timeout.min(MAX_TIMEOUT);
        let build = |b: reqwest::ClientBuilder| {
            b.connect_timeout(timeout.min(Duration::from_secs(30)))
                .build()
                .map_err(|e| Error::Other(format!("cannot build the HTTP client: {e}")))
        };
        let http = build(http_client(net)?)?;
        let sender = build(http_client(net)?.redirect(reqwest::redirect::Policy::none()))?;
        Ok(Client {
            http,
            sender,
            timeout,
            body_cap: DEFAULT_BODY_CAP,
            secret_headers: Vec::new(),
        })
    }

    /// Names more headers that carry credentials (`--secret-header`): dropped, like `Authorization`, when a
    /// redirect leaves the request's origin.
    ///
    /// Example: [`crate::gather::client`] (a redirect to another origin is in `tests/redirects.rs`).
    #[must_use]
    pub fn secret_headers(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.secret_headers.extend(names);
        self
    }

    /// The underlying reqwest client (for model metadata and tokenizer downloads).
    ///
    /// Example: [`Client`].
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The whole-request timeout.
    ///
    /// Example: [`Client`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `req` with `key` as a bearer token and records the exchange. Never fails: failures are recorded.
    ///
    /// Example: [`crate::gather::client`].
    pub async fn send(
        &self,
        req: &PreparedRequest,
        key: Option<&SecretString>,
        purpose: crate::exchange::Purpose,
        index: u32,
    ) -> SendOutcome {
        let started_at = Utc::now();
        let t0 = Instant::now();
        let sent_headers = headers_with_key(&req.headers, key);
        let recorded_request = RecordedRequest {
            method: req.method.clone(),
            url: req.url.clone(),
            headers: sent_headers.clone(),
            body: Body::from_bytes(&req.body, Some(self.body_cap)),
        };
        let mut exchange = Exchange {
            index,
            purpose,
            request: recorded_request,
            response: None,
            timings: Timings {
                started_at,
                time_to_headers_ms: None,
                total_ms: 0.0,
            },
            failure: None,
            retry_group: None,
        };
        let resp = match self.send_following(req, &sent_headers).await {
            Ok(r) => r,
            Err(e) => {
                let (class, kind) = classify(&e);
                exchange.timings.total_ms = ms(t0);
                exchange.failure = Some(Failure::new(class, describe(&e, self.timeout)));
                let unreachable = kind.filter(|k| {
                    matches!(
                        k,
                        NetworkKind::Refused | NetworkKind::Dns | NetworkKind::Tls
                    )
                });
                return SendOutcome {
                    exchange,
                    unreachable,
                };
            }
        };
        exchange.timings.time_to_headers_ms = Some(ms(t0));
        let status = resp.status().as_u16();
        let headers: Vec<Header> = resp
            .headers()
            .iter()
            .map(|(n, v)| Header::new(n.as_str(), String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let (body, read_error) = self.read_body(resp).await;
        exchange.timings.total_ms = ms(t0);
        let request_json: serde_json::Value =
            serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null);
        exchange.failure = match read_error {
            Some(e) => self.broken_body_failure(&e, status, &headers, &request_json, &body),
            None if status >= 400 => Some(Failure::new(FailureClass::Http, error_message(&body))),
            None => crate::sse::check_complete(status, &headers, &request_json, &body),
        };
        exchange.response = Some(RecordedResponse {
            status,
            headers,
            body,
        });
        SendOutcome {
            exchange,
            unreachable: None,
        }
    }

    /// Sends `req` with `headers`, following up to 10 redirects itself: a `303` (and a `301`/`302` of a
    /// `POST`) is followed by a `GET` without a body, a `307`/`308` by the same request. When a redirect leaves
    /// the origin (scheme, host and port) of the URL before it, every credential header goes: `Authorization`,
    /// `api-key`, `x-api-key`, `Ocp-Apim-Subscription-Key`, `X-Amz-*`, cookies, and [`Client::secret_headers`].
    async fn send_following(
        &self,
        req: &PreparedRequest,
        headers: &[Header],
    ) -> reqwest::Result<reqwest::Response> {
        let mut req = req.clone();
        let mut headers = headers.to_vec();
        for _ in 0..10 {
            let resp = self.request_builder(&req, &headers).send().await?;
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| resp.url().join(l).ok());
            let Some(next) = location.filter(|_| matches!(status, 301 | 302 | 303 | 307 | 308))
            else {
                return Ok(resp);
            };
            if next.origin() != resp.url().origin() {
                headers.retain(|h| !self.is_credential(&h.name));
            }
            if status == 303 || (matches!(status, 301 | 302) && req.method == "POST") {
                req.method = "GET".into();
                req.body.clear();
                headers.retain(|h| !h.name.eq_ignore_ascii_case("content-type"));
            }
            req.url = next.to_string();
        }
        self.request_builder(&req, &headers).send().await
    }

    /// A header that carries a credential, dropped on a redirect to another origin.
    fn is_credential(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        crate::scrub::learn::is_credential_header(name)
            || lower.starts_with("x-amz-")
            || self
                .secret_headers
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name))
    }

    /// The reqwest request for `req`: its method, URL and body, the whole-request timeout, and `headers` minus
    /// the ones reqwest sets itself ([`is_hop_header`]).
    fn request_builder(
        &self,
        req: &PreparedRequest,
        headers: &[Header],
    ) -> reqwest::RequestBuilder {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut builder = self
            .sender
            .request(method, &req.url)
            .timeout(self.timeout)
            .body(req.body.clone());
        for h in headers {
            if is_hop_header(&h.name) {
                continue;
            }
            builder = builder.header(h.name.as_str(), h.value.as_str());
        }
        builder
    }

    /// Reads the response body, keeping its first `body_cap` bytes (the body records its full size and
    /// whether it was cut), and the error that broke it off, if one did.
    async fn read_body(&self, resp: reqwest::Response) -> (Body, Option<reqwest::Error>) {
        let mut bytes = Vec::new();
        let mut total: u64 = 0;
        let mut read_error = None;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    total += c.len() as u64;
                    if bytes.len() < self.body_cap {
                        let room = self.body_cap - bytes.len();
                        bytes.extend_from_slice(&c[..c.len().min(room)]);
                    }
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        let mut body = Body::from_bytes(&bytes, None);
        body.size = total;
        body.truncated = total > bytes.len() as u64;
        (body, read_error)
    }

    /// The failure of a response body that broke off with `e` after `body.size` bytes: none for a stream
    /// whose terminal event had arrived (it is complete, however the connection then ended); a timeout stays
    /// a timeout; otherwise a stream failure under a success status, or the error's own class.
    fn broken_body_failure(
        &self,
        e: &reqwest::Error,
        status: u16,
        headers: &[Header],
        request_json: &serde_json::Value,
        body: &Body,
    ) -> Option<Failure> {
        let (class, _) = classify(e);
        let done = status < 400
            && crate::sse::check_complete(status, headers, request_json, body).is_none()
            && crate::sse::is_stream(headers, request_json, status);
        let class = if class == FailureClass::Timeout {
            class
        } else if status < 400 {
            FailureClass::Stream
        } else {
            class
        };
        (!done).then(|| {
            Failure::new(
                class,
                format!(
                    "response body broke off after {} bytes: {}",
                    body.size,
                    describe(e, self.timeout)
                ),
            )
        })
    }
}

/// `headers` with `Authorization: Bearer <key>` in place of any Authorization header, when there is a key.
fn headers_with_key(headers: &[Header], key: Option<&SecretString>) -> Vec<Header> {
    let mut sent = headers.to_vec();
    if let Some(k) = key {
        sent.retain(|h| !h.name.eq_ignore_ascii_case("authorization"));
        sent.push(Header::new(
            "Authorization",
            format!("Bearer {}", k.expose()),
        ));
    }
    sent
}

/// A reqwest client builder with the tool's user agent, trusting the roots of `net` and using its proxy: for
/// follow-up calls that need their own client.
pub(crate) fn http_client(net: &NetOptions) -> Result<reqwest::ClientBuilder> {
    let mut tls = net.tls_config()?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let builder = reqwest::Client::builder()
        .user_agent(concat!("cohere-bundle/", env!("CARGO_PKG_VERSION")))
        .use_preconfigured_tls(tls);
    // reqwest reads HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY itself, with the rules observe uses.
    Ok(match net.proxy {
        ProxyMode::Environment => builder,
        ProxyMode::Direct => builder.no_proxy(),
    })
}

fn ms(t0: Instant) -> f64 {
    (t0.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

fn is_hop_header(name: &str) -> bool {
    [
        "host",
        "content-length",
        "connection",
        "transfer-encoding",
        "accept-encoding",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// The error message of an error body: its `message` verbatim, else the body text.
///
/// ```
/// use cohere_bundle_core::gather::client::error_message;
/// use cohere_bundle_core::exchange::Body;
/// let body = Body::from_text(r#"{"id": "5f1c", "message": "invalid api token"}"#);
/// assert_eq!(error_message(&body), "invalid api token");
/// assert_eq!(error_message(&Body::from_text("Bad Gateway")), "Bad Gateway");
/// assert_eq!(error_message(&Body::from_text("")), "(empty response body)");
/// ```
pub fn error_message(body: &Body) -> String {
    if let Some(v) = body.json() {
        if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
            return m.to_string();
        }
        if let Some(m) = v.pointer("/error/message").and_then(|m| m.as_str()) {
            return m.to_string();
        }
        if let Some(m) = v.get("Message").and_then(|m| m.as_str()) {
            return m.to_string();
        }
    }
    let t = body.text.trim();
    if t.is_empty() {
        "(empty response body)".to_string()
    } else {
        t.chars().take(2000).collect()
    }
}

/// An error carried inside a successful stream: v2 SSE `message-end` with `finish_reason: ERROR` (or an `error`
/// delta), or v1 `stream-end` with `finish_reason: ERROR`. See [`crate::sse`] for the whole check (a stream
/// that ended before its terminal event, a JSON body cut short).
///
/// ```
/// use cohere_bundle_core::gather::client::stream_error;
/// use cohere_bundle_core::exchange::Body;
/// let cut = Body::from_text(concat!(
///     "event: message-start\ndata: {\"type\":\"message-start\"}\n\n",
///     "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\",\"error\":\"internal error\"}}\n\n",
/// ));
/// assert!(stream_error(&cut).is_some());
/// ```
pub fn stream_error(body: &Body) -> Option<String> {
    let mut s = crate::sse::StreamScanner::default();
    s.feed(body.text.as_bytes());
    s.finish();
    s.take_failure()
}

/// The message of an error and its sources, e.g. `client error (Connect): tcp connect error: Connection refused`.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn classify(e: &reqwest::Error) -> (FailureClass, Option<NetworkKind>) {
    if e.is_timeout() {
        return (FailureClass::Timeout, None);
    }
    let chain = error_chain(e).to_ascii_lowercase();
    let kind = if chain.contains("refused") {
        NetworkKind::Refused
    } else if chain.contains("dns") || chain.contains("lookup") || chain.contains("resolve") {
        NetworkKind::Dns
    } else if tls_error(e).is_some()
        || chain.contains("tls")
        || chain.contains("certificate")
        || chain.contains("handshake")
    {
        NetworkKind::Tls
    } else if chain.contains("reset")
        || chain.contains("closed")
        || chain.contains("incomplete")
        || chain.contains("eof")
    {
        NetworkKind::Reset
    } else {
        NetworkKind::Other
    };
    (FailureClass::Network, Some(kind))
}

/// The rustls error in the chain of `e`, if any. rustls errors reach us inside an `io::Error`, whose `source()`
/// skips the error it wraps, so each `io::Error` is looked into as well. A server that is not TLS at all (an
/// `https://` URL on a plain-HTTP port) shows up here as a corrupt message, with no "tls" in any message.
pub(crate) fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(t) = c.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(inner) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(t) = tls_error(inner) {
                return Some(t);
            }
        }
        cur = c.source();
    }
    None
}

/// What a TLS failure most likely means, as the last `: `-separated part of the failure message (which the
/// one-line unreachable error quotes).
pub(crate) fn tls_hint(t: &rustls::Error) -> Option<&'static str> {
    use rustls::{CertificateError, Error as E};
    match t {
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            Some("the server did not answer with TLS; is the URL meant to be http://?")
        }
        E::InvalidCertificate(CertificateError::UnknownIssuer) => Some(
            "the server's certificate is not signed by a trusted root; behind a TLS-inspecting proxy, \
             set SSL_CERT_FILE to its CA certificate in PEM form",
        ),
        _ => None,
    }
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!(
            "no complete response within the {}s timeout",
            timeout.as_secs_f64()
        );
    }
    let mut s = error_chain(e);
    if let Some(url) = e.url() {
        let u = url.as_str();
        s = s.replace(&format!(" for url ({u})"), "");
    }
    if let Some(hint) = tls_error(e).and_then(tls_hint) {
        s.push_str(": ");
        s.push_str(hint);
    }
    s
}
