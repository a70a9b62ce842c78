//! A [`reqwest_middleware`] adapter: a reqwest client records its failing Cohere calls in one line.
//!
//! ```no_run
//! # async fn f() -> cohere_bundle::Result<()> {
//! use cohere_bundle::middleware::RecordFailures;
//! use cohere_bundle::recorder::{EnvSecrets, Recorder, RecorderConfig};
//!
//! let recorder = Recorder::new(RecorderConfig::default(), EnvSecrets::none())?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(RecordFailures::new(recorder).host("llm-proxy.internal:8443"))
//!     .build();
//! // Every call through `client` to the Cohere API that answers 400 or above (or fails to connect) is handed
//! // to the recorder: one bundle per failure signature per interval, written in the background.
//! # let _ = client;
//!
//! // Keep the adapter to read the recorder's counters, or to flush it on shutdown:
//! let failures = RecordFailures::new(Recorder::new(RecorderConfig::default(), EnvSecrets::none())?);
//! failures.recorder().flush().await;
//! println!("{} failures captured", failures.recorder().stats().captured);
//! # Ok(()) }
//! ```
//!
//! The response the caller gets is the same response: status, headers and body (an error body is read
//! to record it, then handed on as it was). Successful responses and streams are passed through untouched.

use std::sync::Arc;

use crate::cohere::Endpoint;
use crate::exchange::{FailureClass, Header};
use crate::library::FailureReport;
use crate::recorder::Recorder;
use crate::scrub::SecretString;

/// Hands failing Cohere calls to a [`Recorder`]. Calls to other hosts pass untouched.
///
/// See the [module example](crate::middleware).
#[derive(Clone)]
pub struct RecordFailures {
    recorder: Arc<Recorder>,
    hosts: Arc<Vec<String>>,
}

impl RecordFailures {
    /// Records failures of calls to `api.cohere.com` and `api.cohere.ai`.
    ///
    /// See the [module example](crate::middleware).
    pub fn new(recorder: Recorder) -> Self {
        RecordFailures {
            recorder: Arc::new(recorder),
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
        let key = crate::capture::bearer(&headers).map(str::to_string);
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
            Ok(resp) if resp.status().as_u16() >= 400 => {
                let status = resp.status();
                let headers = resp.headers().clone();
                let version = resp.version();
                let body = resp.bytes().await.unwrap_or_default();
                let report = sent
                    .report()
                    .status(status.as_u16())
                    .response_header_map(&headers)
                    .response_body(&body)
                    .elapsed(t0.elapsed());
                let _ = self.recorder.capture(report);
                // The same response, body included, for the caller.
                let mut rebuilt = http::Response::new(body);
                *rebuilt.status_mut() = status;
                *rebuilt.headers_mut() = headers;
                *rebuilt.version_mut() = version;
                Ok(reqwest::Response::from(rebuilt))
            }
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
                    .error(class, crate::client::error_chain(&e))
                    .elapsed(t0.elapsed());
                let _ = self.recorder.capture(report);
                Err(e)
            }
        }
    }
}
