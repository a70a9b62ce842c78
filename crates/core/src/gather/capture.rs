//! Gather stage. The one way a [`Capture`] is built, whatever the mode: replay, observe, offline `bundle`, the library.
//!
//! Every mode hands the builder the request, the exchanges it recorded and the key it used; the builder
//! works out the platform, which secrets are known (the key, the request's bearer token, every bearer
//! token seen in an exchange) and whether a key was sent, in one place, so that every mode gets the same
//! evidence model.
//!
//! ```
//! use cohere_bundle_core::gather::capture::{recorded_exchange, Capture};
//! use cohere_bundle_core::exchange::{Body, RecordedResponse};
//! use cohere_bundle_core::input::request::{parse_request, ParseOptions};
//! use cohere_bundle_core::summary::Mode;
//!
//! let req = parse_request(
//!     "req.json",
//!     br#"{"model":"command-r","messages":[{"role":"user","content":"hi"}]}"#,
//!     &ParseOptions::default(),
//! )?;
//! let response = RecordedResponse { status: 404, headers: vec![], body: Body::from_text(r#"{"message":"model 'command-r' not found"}"#) };
//! let exchange = recorded_exchange(&req, Some(response), None, 0.0);
//! assert_eq!(exchange.failure.as_ref().unwrap().message, "model 'command-r' not found");
//! let capture = Capture::builder(Mode::Bundle, req).exchange(exchange).build();
//! assert_eq!(capture.exchanges[0].index, 1);
//! assert!(!capture.key_present);
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```
//!
//! What else the builder takes: the base URL (the platform is worked out from it unless given), the key, other
//! secrets, and a client for follow-up calls. Every key and bearer token becomes a known secret, scrubbed from
//! the bundle:
//!
//! ```
//! use std::time::Duration;
//! use cohere_bundle_core::gather::capture::{recorded_exchange, Capture};
//! use cohere_bundle_core::gather::client::Client;
//! use cohere_bundle_core::exchange::Header;
//! use cohere_bundle_core::input::request::{parse_request, ParseOptions};
//! use cohere_bundle_core::summary::Mode;
//! use cohere_bundle_core::{KnownSecret, Platform, SecretString};
//!
//! let mut req = parse_request("req.json", br#"{"model":"command-r","messages":[]}"#, &ParseOptions::default())?;
//! req.headers.push(Header::new("Authorization", "Bearer co-request-token"));
//! let replayed = recorded_exchange(&req, None, None, 0.0);
//! let capture = Capture::builder(Mode::Replay, req)
//!     .exchanges([replayed])
//!     .base_url("https://bedrock-runtime.us-east-1.amazonaws.com")
//!     .platform(None) // not known to the caller: worked out from the base URL
//!     .api_key(Some(SecretString::new("co-replay-key")))
//!     .secret(KnownSecret::new("db-password", SecretString::new("hunter2-hunter2")))
//!     .matrix(None)
//!     .observed(Default::default())
//!     .client(Client::new(Duration::from_secs(30))?)
//!     .build();
//! assert_eq!(capture.platform, Platform::Bedrock);
//! assert!(capture.key_present && capture.http.is_some());
//! let labels: Vec<&str> = capture.known_secrets.iter().map(|k| k.label.as_str()).collect();
//! assert_eq!(labels, ["cohere-key", "cohere-key", "db-password"]);
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```

use crate::cohere::Platform;
use crate::exchange::{
    header, Body, Exchange, Failure, FailureClass, Header, RecordedRequest, RecordedResponse,
    Timings,
};
use crate::gather::client::Client;
use crate::gather::matrix::MatrixResult;
use crate::input::request::CapturedRequest;
use crate::scrub::{KnownSecret, SecretString};
use crate::summary::Mode;

/// Everything captured about a failure, ready to be diagnosed and bundled. Built by [`CaptureBuilder`].
///
/// See the [module example](crate::gather::capture).
#[derive(Debug)]
pub struct Capture {
    /// How it was captured.
    pub mode: Mode,
    /// The failing request.
    pub request: CapturedRequest,
    /// The exchanges recorded (numbered from 1).
    pub exchanges: Vec<Exchange>,
    /// Where it was sent.
    pub platform: Platform,
    /// The base URL used, if any.
    pub base_url: Option<String>,
    /// Whether a key was sent.
    pub key_present: bool,
    /// Secrets known from the capture (the key used, bearer tokens in the request and the exchanges).
    pub known_secrets: Vec<KnownSecret>,
    /// A client and key for follow-up calls (model metadata, tokenizer), when online.
    pub http: Option<(Client, Option<SecretString>)>,
    /// The shape matrix, when one was swept.
    pub matrix: Option<MatrixResult>,
    /// Why the sweep that was asked for was not run (sizes cannot change the failure).
    pub not_swept: Option<String>,
    /// The request itself was not captured (an error handler had only the response): how to capture it next
    /// time. The capture's request is then a placeholder, and nothing is told from it.
    pub request_missing: Option<String>,
    /// What the observe proxy counted over every exchange (successes included), in observe mode.
    pub observed: Option<crate::gather::observe::ObserveStats>,
}

impl Capture {
    /// Starts a capture of `request` made in `mode`.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn builder(mode: Mode, request: CapturedRequest) -> CaptureBuilder {
        CaptureBuilder {
            mode,
            request,
            exchanges: Vec::new(),
            platform: None,
            base_url: None,
            api_key: None,
            secrets: Vec::new(),
            client: None,
            matrix: None,
            not_swept: None,
            request_missing: None,
            observed: None,
        }
    }
}

/// Builds a [`Capture`]; see [`Capture::builder`].
///
/// See the [module example](crate::gather::capture).
#[derive(Debug)]
#[must_use]
pub struct CaptureBuilder {
    mode: Mode,
    request: CapturedRequest,
    exchanges: Vec<Exchange>,
    platform: Option<Platform>,
    base_url: Option<String>,
    api_key: Option<SecretString>,
    secrets: Vec<KnownSecret>,
    client: Option<Client>,
    matrix: Option<MatrixResult>,
    not_swept: Option<String>,
    request_missing: Option<String>,
    observed: Option<crate::gather::observe::ObserveStats>,
}

impl CaptureBuilder {
    /// Adds a recorded exchange (they are numbered in the order added).
    ///
    /// See the [module example](crate::gather::capture).
    pub fn exchange(mut self, e: Exchange) -> Self {
        self.exchanges.push(e);
        self
    }

    /// Adds recorded exchanges.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn exchanges(mut self, es: impl IntoIterator<Item = Exchange>) -> Self {
        self.exchanges.extend(es);
        self
    }

    /// The platform, when the caller knows it; else it is worked out from the base URL or the request URL.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn platform(mut self, p: Option<Platform>) -> Self {
        if p.is_some() {
            self.platform = p;
        }
        self
    }

    /// The base URL the request was (re)sent to.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The API key that was used: a known secret, and the key for follow-up calls.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn api_key(mut self, key: Option<SecretString>) -> Self {
        if key.is_some() {
            self.api_key = key;
        }
        self
    }

    /// Another secret known to the capture.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn secret(mut self, s: KnownSecret) -> Self {
        self.secrets.push(s);
        self
    }

    /// The client for follow-up calls (model metadata, tokenizer): the capture is online.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn client(mut self, c: Client) -> Self {
        self.client = Some(c);
        self
    }

    /// The shape matrix's result.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn matrix(mut self, m: Option<MatrixResult>) -> Self {
        self.matrix = m;
        self
    }

    /// Why the sweep that was asked for was not run.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn not_swept(mut self, why: Option<String>) -> Self {
        self.not_swept = why;
        self
    }

    /// The request was not captured; `how` says how to capture it next time.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn request_missing(mut self, how: Option<String>) -> Self {
        self.request_missing = how;
        self
    }

    /// The observe proxy's counts.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn observed(mut self, o: crate::gather::observe::ObserveStats) -> Self {
        self.observed = Some(o);
        self
    }

    /// The capture: exchanges numbered from 1, the platform worked out, every bearer token known.
    ///
    /// See the [module example](crate::gather::capture).
    pub fn build(self) -> Capture {
        let mut exchanges = self.exchanges;
        for (i, e) in exchanges.iter_mut().enumerate() {
            e.index = i as u32 + 1;
        }
        let platform = self
            .platform
            .or_else(|| self.base_url.as_deref().map(Platform::from_url))
            .or_else(|| self.request.url.as_deref().map(Platform::from_url))
            .unwrap_or_default();
        let mut known = Vec::new();
        let mut push = |label: &str, v: SecretString| {
            if !known
                .iter()
                .any(|k: &KnownSecret| k.value.expose() == v.expose())
            {
                known.push(KnownSecret::new(label, v));
            }
        };
        if let Some(k) = &self.api_key {
            push("cohere-key", k.clone());
        }
        let request_token = bearer(&self.request.headers);
        if let Some(t) = request_token {
            push("cohere-key", SecretString::new(t));
        }
        let mut seen_token = None;
        for e in &exchanges {
            if let Some(t) = bearer(&e.request.headers) {
                push("cohere-key", SecretString::new(t));
                seen_token = Some(SecretString::new(t));
            }
        }
        for s in self.secrets {
            push(&s.label, s.value);
        }
        let key_present = self.api_key.is_some() || request_token.is_some() || seen_token.is_some();
        let key = self.api_key.clone().or(seen_token);
        Capture {
            mode: self.mode,
            request: self.request,
            exchanges,
            platform,
            base_url: self.base_url,
            key_present,
            known_secrets: known,
            http: self.client.map(|c| (c, key)),
            matrix: self.matrix,
            not_swept: self.not_swept,
            request_missing: self.request_missing,
            observed: self.observed,
        }
    }
}

/// The bearer token of an `Authorization` header, unless it is a placeholder left in a copied command
/// (`$CO_API_KEY`, `<token>`, `{{key}}`) or empty. The one bearer filter every mode uses.
///
/// ```
/// use cohere_bundle_core::gather::capture::bearer;
/// use cohere_bundle_core::exchange::Header;
/// assert_eq!(bearer(&[Header::new("authorization", "Bearer abc123")]), Some("abc123"));
/// assert_eq!(bearer(&[Header::new("Authorization", "bearer $CO_API_KEY")]), None);
/// ```
pub fn bearer(headers: &[Header]) -> Option<&str> {
    let t = crate::exchange::bearer_raw(headers)
        .or_else(|| Some(header(headers, "authorization")?.trim()))?;
    let placeholder = t.is_empty()
        || t.starts_with('$')
        || t.starts_with('<')
        || t.starts_with("{{")
        || t.contains(' ');
    (!placeholder).then_some(t)
}

/// How a response that was received in full failed, if it did: a status ≥ 400 with the API's message
/// verbatim, else a 2xx stream or JSON body that is not complete ([`crate::sse::check_complete`]).
pub(crate) fn judge_response(
    response: &RecordedResponse,
    request_body: &serde_json::Value,
) -> Option<Failure> {
    if response.status >= 400 {
        return Some(Failure::new(
            FailureClass::Http,
            crate::gather::client::error_message(&response.body),
        ));
    }
    crate::sse::check_complete(
        response.status,
        &response.headers,
        request_body,
        &response.body,
    )
}

/// The exchange of a failure that was recorded elsewhere (given offline, or by an error handler): the
/// request as captured and the response as received. The failure is `failure` when the caller knows it
/// (a timeout, a broken connection), else judged from the response.
///
/// See the [module example](crate::gather::capture).
pub fn recorded_exchange(
    request: &CapturedRequest,
    response: Option<RecordedResponse>,
    failure: Option<Failure>,
    total_ms: f64,
) -> Exchange {
    let failure = failure.or_else(|| judge_response(response.as_ref()?, &request.body));
    let body = if request.body.is_null() {
        Body::default()
    } else {
        Body::from_text(serde_json::to_string_pretty(&request.body).unwrap_or_default())
    };
    Exchange {
        index: 1,
        purpose: crate::exchange::Purpose::Recorded,
        request: RecordedRequest {
            method: request.method.clone(),
            url: request
                .url
                .clone()
                .unwrap_or_else(|| request.endpoint.path().to_string()),
            headers: request.headers.clone(),
            body,
        },
        response,
        timings: Timings {
            total_ms,
            ..Timings::default()
        },
        failure,
        retry_group: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::request::{parse_request, ParseOptions};

    fn req(headers: &str) -> CapturedRequest {
        let env = format!(
            r#"{{"method":"POST","url":"https://api.cohere.com/v2/chat","headers":{headers},"body":{{"model":"m","messages":[]}}}}"#
        );
        parse_request("r.json", env.as_bytes(), &ParseOptions::default()).unwrap()
    }

    #[test]
    fn every_bearer_token_is_known_once_and_placeholders_are_not() {
        let mut e = recorded_exchange(&req("{}"), None, None, 0.0);
        e.request.headers = vec![Header::new("Authorization", "Bearer tok-from-exchange")];
        let c = Capture::builder(Mode::Observe, req(r#"{"Authorization":"Bearer tok-req"}"#))
            .api_key(Some(SecretString::new("tok-req")))
            .exchange(e.clone())
            .exchange(e)
            .build();
        let values: Vec<&str> = c.known_secrets.iter().map(|k| k.value.expose()).collect();
        assert_eq!(values, ["tok-req", "tok-from-exchange"]);
        assert!(c.key_present);
        assert_eq!(c.exchanges[1].index, 2);
        assert_eq!(c.platform, Platform::Cohere);

        let c = Capture::builder(
            Mode::Bundle,
            req(r#"{"Authorization":"bearer $CO_API_KEY"}"#),
        )
        .build();
        assert!(c.known_secrets.is_empty());
        assert!(!c.key_present);
    }

    #[test]
    fn recorded_responses_are_judged_in_one_place() {
        let r = req("{}");
        let ok = RecordedResponse {
            status: 200,
            headers: vec![Header::new("content-type", "application/json")],
            body: Body::from_text("{\"id\":\"1\"}"),
        };
        assert!(recorded_exchange(&r, Some(ok.clone()), None, 0.0)
            .failure
            .is_none());
        let cut = RecordedResponse {
            body: Body::from_text("{\"id\":"),
            ..ok
        };
        let f = recorded_exchange(&r, Some(cut), None, 0.0).failure.unwrap();
        assert_eq!(f.class, FailureClass::Stream);
    }
}
