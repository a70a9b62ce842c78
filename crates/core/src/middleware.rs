//! Entry point. A [`reqwest_middleware`] adapter: a reqwest client records its failing Cohere calls in one line.
//!
//! ```no_run
//! # async fn f() -> cohere_bundle_core::Result<()> {
//! use cohere_bundle_core::middleware::RecordFailures;
//! use cohere_bundle_core::recorder::{EnvSecrets, Recorder, RecorderConfig};
//!
//! let recorder = Recorder::new(RecorderConfig::default(), EnvSecrets::from_process())?;
//! // Keep a handle: the recorder itself goes into the client.
//! let handle = recorder.handle();
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(RecordFailures::new(recorder).host("llm-proxy.internal:8443"))
//!     .build();
//! // Every call through `client` to the Cohere API that answers 400 or above, fails to connect, or streams
//! // a response that ends before its terminal event is handed to the recorder: the first failure of each
//! // signature is written at once, in the background, and its repeats are counted into it.
//! # let _ = client;
//!
//! // On shutdown: write what is pending (dropping the last handle does it too, within
//! // `RecorderConfig::flush_on_drop`).
//! handle.flush().await;
//! let stats = handle.stats();
//! assert_eq!(stats.last_error, None);
//! # Ok(()) }
//! ```
//!
//! The response the caller gets is the same response: status, headers and body (an error body is read
//! to record it, then handed on as it was; a stream is handed on chunk by chunk as it arrives, and its
//! first 2 MiB are kept in case it fails). Other successful responses are passed through untouched.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

use crate::cohere::Endpoint;
use crate::exchange::{FailureClass, Header};
use crate::library::FailureReport;
use crate::recorder::Recorder;
use crate::scrub::SecretString;
use crate::sse::StreamScanner;

/// How much of a streamed body is kept for a bundle (the rest is passed on, not kept).
const STREAM_KEEP: usize = 2 * 1024 * 1024;

/// Hands failing Cohere calls to a [`Recorder`]. Calls to other hosts pass untouched.
///
/// See the [module example](crate::middleware).
#[derive(Clone)]
pub struct RecordFailures {
    recorder: Recorder,
    hosts: Arc<Vec<String>>,
}

impl RecordFailures {
    /// Records failures of calls to `api.cohere.com` and `api.cohere.ai`.
    ///
    /// See the [module example](crate::middleware).
    pub fn new(recorder: Recorder) -> Self {
        RecordFailures {
            recorder,
            hosts: Arc::new(vec!["api.cohere.com".into(), "api.cohere.ai".into()]),
        }
    }

    /// Also records calls to `host` (`host` or `host:port`: a proxy or a private deployment).
    ///
    /// See the [module example](crate::middleware).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.hosts).push(host.into());
        self
    }

    /// The recorder (to flush it, or read its stats).
    ///
    /// See the [module example](crate::middleware).
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// A handle on the recorder for the service to keep (a clone; see [`Recorder::handle`]).
    ///
    /// See the [module example](crate::middleware).
    pub fn handle(&self) -> Recorder {
        self.recorder.handle()
    }

    fn watches(&self, url: &url::Url) -> bool {
        let Some(h) = url.host_str() else {
            return false;
        };
        let with_port = url.port().map(|p| format!("{h}:{p}"));
        self.hosts
            .iter()
            .any(|x| x == h || Some(x) == with_port.as_ref())
    }
}

/// What of the request is kept to record a failure.
struct Sent {
    endpoint: Endpoint,
    method: String,
    url: String,
    headers: Vec<Header>,
    body: Option<bytes::Bytes>,
    key: Option<String>,
}

impl Sent {
    fn of(req: &reqwest::Request) -> Sent {
        let url = req.url().clone();
        let headers: Vec<Header> = req
            .headers()
            .iter()
            .map(|(n, v)| Header::new(n.as_str(), String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let key = crate::gather::capture::bearer(&headers).map(str::to_string);
        Sent {
            endpoint: Endpoint::from_path(url.path()),
            method: req.method().to_string(),
            url: url.to_string(),
            headers,
            body: req
                .body()
                .and_then(|b| b.as_bytes())
                .map(bytes::Bytes::copy_from_slice),
            key,
        }
    }

    fn report(&self) -> FailureReport {
        let mut r =
            FailureReport::from_raw_body(self.endpoint, self.body.clone().unwrap_or_default())
                .method(self.method.clone())
                .url(self.url.clone())
                .request_headers(
                    self.headers
                        .iter()
                        .map(|h| (h.name.as_str(), h.value.as_str())),
                );
        if let Some(k) = &self.key {
            r = r.api_key(SecretString::new(k.clone()));
        }
        r
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for RecordFailures {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        if !self.watches(req.url()) {
            return next.run(req, extensions).await;
        }
        let sent = Sent::of(&req);
        let t0 = std::time::Instant::now();
        match next.run(req, extensions).await {
            Ok(resp) if resp.status().as_u16() >= 400 => Ok(self.failed(sent, t0, resp).await),
            Ok(resp) if is_stream(resp.headers()) => Ok(self.watch(sent, t0, resp)),
            Ok(resp) => Ok(resp),
            Err(e) => {
                let class = match &e {
                    reqwest_middleware::Error::Reqwest(r) if r.is_timeout() => {
                        FailureClass::Timeout
                    }
                    _ => FailureClass::Network,
                };
                let report = sent
                    .report()
                    .error(class, crate::gather::client::error_chain(&e))
                    .elapsed(t0.elapsed());
                let _ = self.recorder.capture(report);
                Err(e)
            }
        }
    }
}

impl RecordFailures {
    /// Records a response of status 400 or above and hands back the same response, body included.
    async fn failed(
        &self,
        sent: Sent,
        t0: std::time::Instant,
        resp: reqwest::Response,
    ) -> reqwest::Response {
        let (status, version, url) = (resp.status(), resp.version(), resp.url().clone());
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        let report = sent
            .report()
            .status(status.as_u16())
            .response_header_map(&headers)
            .response_body(&body)
            .elapsed(t0.elapsed());
        let _ = self.recorder.capture(report);
        rebuilt(status, version, url, headers, body)
    }

    /// Hands back a streamed response whose body is watched as the caller reads it: a stream that ends (or
    /// breaks off) before its terminal event, or carries an error, is recorded. One the caller drops early
    /// is the caller's choice, not a failure.
    fn watch(
        &self,
        sent: Sent,
        t0: std::time::Instant,
        resp: reqwest::Response,
    ) -> reqwest::Response {
        let (status, version, url) = (resp.status(), resp.version(), resp.url().clone());
        let headers = resp.headers().clone();
        let watch = Watch {
            inner: Box::pin(resp.bytes_stream()),
            scanner: StreamScanner::default(),
            kept: Vec::new(),
            ctx: Some(WatchCtx {
                sent,
                t0,
                status,
                headers: headers.clone(),
                recorder: self.recorder.clone(),
            }),
        };
        rebuilt(
            status,
            version,
            url,
            headers,
            reqwest::Body::wrap_stream(watch),
        )
    }
}

/// A response for the caller with this status, version, URL, headers and body.
fn rebuilt(
    status: reqwest::StatusCode,
    version: http::Version,
    url: url::Url,
    headers: reqwest::header::HeaderMap,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    use reqwest::ResponseBuilderExt;
    // The URL travels as an extension that only reqwest's builder can set.
    let extensions = http::Response::builder()
        .url(url)
        .body(())
        .map(|r| r.into_parts().0.extensions)
        .unwrap_or_default();
    let mut r = http::Response::new(body.into());
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    *r.version_mut() = version;
    *r.extensions_mut() = extensions;
    reqwest::Response::from(r)
}

/// Whether a response is a stream, by its content type (SSE, NDJSON).
fn is_stream(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ["event-stream", "ndjson", "stream+json"]
                .iter()
                .any(|t| ct.contains(t))
        })
}

/// What a watched stream needs to record its failure; taken when it is recorded.
struct WatchCtx {
    sent: Sent,
    t0: std::time::Instant,
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    recorder: Recorder,
}

/// A streamed body, passed on chunk by chunk, scanned for its terminal event and errors.
struct Watch {
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    scanner: StreamScanner,
    kept: Vec<u8>,
    ctx: Option<WatchCtx>,
}

impl Watch {
    fn record(&mut self, class: FailureClass, message: String) {
        let Some(c) = self.ctx.take() else { return };
        let report = c
            .sent
            .report()
            .status(c.status.as_u16())
            .response_header_map(&c.headers)
            .response_body(&self.kept)
            .error(class, message)
            .elapsed(c.t0.elapsed());
        let _ = c.recorder.capture(report);
    }
}

impl Stream for Watch {
    type Item = reqwest::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = this.inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => {
                this.scanner.feed(chunk);
                let room = STREAM_KEEP.saturating_sub(this.kept.len());
                this.kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Poll::Ready(Some(Err(e))) if !this.scanner.terminal() => {
                this.scanner.finish();
                let why = this
                    .scanner
                    .verdict()
                    .unwrap_or_else(|| "the stream broke off".into());
                let class = if e.is_timeout() {
                    FailureClass::Timeout
                } else {
                    FailureClass::Stream
                };
                this.record(
                    class,
                    format!("{why} ({})", crate::gather::client::error_chain(e)),
                );
            }
            Poll::Ready(None) => {
                this.scanner.finish();
                if let Some(why) = this.scanner.verdict() {
                    this.record(FailureClass::Stream, why);
                }
                this.ctx = None;
            }
            _ => {}
        }
        next
    }
}
