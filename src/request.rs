//! Parsing what the user has of a failing request (a JSON body, an envelope, a HAR file or a curl command)
//! into one [`CapturedRequest`].

use serde::{Deserialize, Serialize};

use crate::cohere::Endpoint;
use crate::error::{Error, Result};
use crate::exchange::{Header, RecordedResponse};

/// What form the request was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestSource {
    /// A bare JSON body.
    Body,
    /// `{"method","url","headers","body"}`.
    Envelope,
    /// An entry of a HAR file.
    Har,
    /// A curl command line.
    Curl,
    /// Given through the library API.
    Library,
    /// Recorded by the observe proxy.
    Observed,
}

/// A failing request, whatever form it came in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapturedRequest {
    /// The form it was given in.
    pub source: RequestSource,
    /// HTTP method (normally `POST`).
    pub method: String,
    /// The URL as given (`None` for a bare body: the base URL and endpoint path decide).
    pub url: Option<String>,
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Headers as given (Authorization included: the scrubber deals with it).
    pub headers: Vec<Header>,
    /// The JSON body.
    pub body: serde_json::Value,
    /// The response recorded with the request (HAR entries carry one), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_response: Option<RecordedResponse>,
}

impl CapturedRequest {
    /// A request from a bare JSON body for an endpoint.
    pub fn from_body(endpoint: Endpoint, body: serde_json::Value) -> Self {
        CapturedRequest {
            source: RequestSource::Body,
            method: "POST".into(),
            url: None,
            endpoint,
            headers: Vec::new(),
            body,
            recorded_response: None,
        }
    }

    /// The `model` field of the body, if any.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(|v| v.as_str())
    }

    /// The `max_tokens` field of the body, if any.
    pub fn max_tokens(&self) -> Option<u64> {
        self.body.get("max_tokens").and_then(|v| v.as_u64())
    }

    /// True when the body asks for a stream.
    pub fn is_stream(&self) -> bool {
        self.body.get("stream").and_then(|v| v.as_bool()).unwrap_or(false)
    }

    /// The bearer token in an `Authorization` header, if the request carried one.
    pub fn bearer_token(&self) -> Option<&str> {
        let v = crate::exchange::header(&self.headers, "authorization")?;
        let v = v.trim();
        v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(str::trim)
    }
}

/// Options for [`parse_request`].
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// The endpoint given with `--endpoint`; overrides inference for a bare body.
    pub endpoint: Option<Endpoint>,
    /// Which HAR entry to take (index among the failing entries); default the first failing one.
    pub har_entry: Option<usize>,
}

/// Parses the text of a request file. `name` names the source in errors (a path, or `stdin`).
pub fn parse_request(name: &str, bytes: &[u8], opts: &ParseOptions) -> Result<CapturedRequest> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::input(name, "file is empty"));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::input(name, format!("not a text file (invalid UTF-8 at byte {})", e.valid_up_to())))?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::input(name, format!("malformed JSON at line {}, column {}: {e}", e.line(), e.column())))?;
    let endpoint = opts
        .endpoint
        .or_else(|| Endpoint::infer_from_body(&value))
        .ok_or_else(|| Error::input(name, "cannot tell the endpoint from the body's fields; give --endpoint (e.g. v2/chat)"))?;
    Ok(CapturedRequest::from_body(endpoint, value))
}
