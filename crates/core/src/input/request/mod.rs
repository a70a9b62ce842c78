//! Input stage. Parsing what the user has of a failing request (a JSON body, an envelope, a HAR file, a curl command, or a
//! bundle's recorded exchange) into one [`CapturedRequest`].
//!
//! Entry points: [`read_request_file`] (a path, or `-` for stdin) and [`parse_request`] (bytes). Every error is
//! one line naming the input; no input makes the parser panic. Text may be UTF-8 or UTF-16 with a BOM.
//!
//! ```
//! use cohere_bundle_core::input::request::{parse_request, ParseOptions, RequestSource};
//! use cohere_bundle_core::Endpoint;
//!
//! // A curl command as the docs write it (the key left as `$CO_API_KEY`).
//! let curl = r#"curl --request POST https://api.cohere.com/v2/chat \
//!   --header 'Authorization: bearer $CO_API_KEY' \
//!   --header 'Content-Type: application/json' \
//!   --data '{"model": "command-a-03-2025", "max_tokens": 50, "stream": true,
//!            "messages": [{"role": "user", "content": "Hello"}]}'"#;
//! let r = parse_request("cmd.sh", curl.as_bytes(), &ParseOptions::default())?;
//! assert_eq!(r.source, RequestSource::Curl);
//! assert_eq!(r.endpoint, Endpoint::ChatV2);
//! assert_eq!(r.model(), Some("command-a-03-2025"));
//! assert_eq!(r.max_tokens(), Some(50));
//! assert!(r.is_stream());
//! assert_eq!(r.bearer_env_var(), Some("CO_API_KEY"));
//!
//! // A HAR file: the first failing Cohere entry, with its recorded response.
//! let har = serde_json::json!({"log": {"entries": [
//!     {"request": {"method": "GET", "url": "https://example.com/", "headers": []},
//!      "response": {"status": 200, "headers": [], "content": {"text": ""}}},
//!     {"request": {"method": "POST", "url": "https://api.cohere.com/v2/embed", "headers": [],
//!                  "postData": {"mimeType": "application/json",
//!                               "text": "{\"model\":\"embed-v4.0\",\"texts\":[\"hi\"]}"}},
//!      "response": {"status": 400, "headers": [],
//!                   "content": {"mimeType": "application/json", "text": "{\"message\":\"invalid request\"}"}}}
//! ]}});
//! let opts = ParseOptions::default().har_entry(0);
//! let r = parse_request("session.har", har.to_string().as_bytes(), &opts)?;
//! assert_eq!(r.source, RequestSource::Har);
//! assert_eq!((r.endpoint, r.model()), (Endpoint::EmbedV2, Some("embed-v4.0")));
//! assert_eq!(r.recorded_response.map(|resp| resp.status), Some(400));
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::cohere::Endpoint;
use crate::error::{Error, Result};
use crate::exchange::{Header, RecordedResponse};

mod curl;
pub mod form;
mod har;

/// What form the request was given in.
///
/// Example: [`crate::input::request`].
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
///
/// ```
/// use cohere_bundle_core::{CapturedRequest, Endpoint};
/// let body = serde_json::json!({"model": "command-a-03-2025", "max_tokens": 1, "messages": []});
/// let r = CapturedRequest::from_body(Endpoint::ChatV2, body);
/// assert_eq!(r.method, "POST");
/// assert_eq!(r.model(), Some("command-a-03-2025"));
/// assert_eq!(r.max_tokens(), Some(1));
/// assert!(!r.is_stream());
/// assert_eq!(r.bearer_token(), None);
/// ```
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
    /// The model the URL names, worked out from `url` on first use by [`CapturedRequest::model`].
    #[serde(skip)]
    pub(crate) url_model: UrlModel,
}

/// The model a request's URL names ([`crate::cohere::model_from_url`]), worked out once. Two requests are equal
/// whatever this cache holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct UrlModel(std::sync::OnceLock<Option<String>>);

impl PartialEq for UrlModel {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl CapturedRequest {
    /// A request from a bare JSON body for an endpoint.
    ///
    /// Example: [`CapturedRequest`].
    pub fn from_body(endpoint: Endpoint, body: serde_json::Value) -> Self {
        CapturedRequest {
            source: RequestSource::Body,
            method: "POST".into(),
            url: None,
            endpoint,
            headers: Vec::new(),
            body,
            recorded_response: None,
            url_model: UrlModel::default(),
        }
    }

    /// The model: the body's `model` field; else OCI's `servingMode.modelId` (or a dedicated endpoint's
    /// `servingMode.endpointId`); else what the URL names ([`crate::cohere::model_from_url`]: `/v1/models/{model}`,
    /// a Bedrock model ID, a SageMaker endpoint, an Azure deployment). `None` when none names one.
    ///
    /// Example: [`CapturedRequest`].
    pub fn model(&self) -> Option<&str> {
        let body = |p: &str| self.body.pointer(p).and_then(|v| v.as_str());
        body("/model")
            .or_else(|| body("/servingMode/modelId"))
            .or_else(|| body("/servingMode/endpointId"))
            .or_else(|| {
                self.url_model
                    .0
                    .get_or_init(|| self.url.as_deref().and_then(crate::cohere::model_from_url))
                    .as_deref()
            })
    }

    /// The generation max tokens of the body: `max_tokens`, else `max_completion_tokens` (the compatibility
    /// API's OpenAI name; [`crate::tokens::max_tokens`]), if any.
    ///
    /// Example: [`CapturedRequest`].
    pub fn max_tokens(&self) -> Option<u64> {
        crate::tokens::max_tokens(&self.body)
    }

    /// True when the body asks for a stream.
    ///
    /// Example: [`CapturedRequest`].
    pub fn is_stream(&self) -> bool {
        self.body
            .get("stream")
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    /// The bearer token in an `Authorization` header, if the request carried one.
    ///
    /// Example: [`CapturedRequest`].
    pub fn bearer_token(&self) -> Option<&str> {
        crate::exchange::bearer_raw(&self.headers)
    }
}

impl CapturedRequest {
    /// The environment variable named by a bearer token left unexpanded, as in the docs' curl examples
    /// (`Authorization: bearer $CO_API_KEY` in single quotes, or pasted without a shell): `CO_API_KEY` for
    /// `$CO_API_KEY` or `${CO_API_KEY}`. The parser never reads the environment itself.
    ///
    /// Example: [`crate::input::request`].
    pub fn bearer_env_var(&self) -> Option<&str> {
        let t = self.bearer_token()?;
        let name = t
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .or_else(|| t.strip_prefix('$'))?;
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        valid.then_some(name)
    }
}

/// Options for [`parse_request`].
///
/// Example: [`ParseOptions::for_endpoint`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ParseOptions {
    /// The endpoint given with `--endpoint`; overrides inference for a bare body.
    pub endpoint: Option<Endpoint>,
    /// Which HAR entry to take: an index (from 0) among the failing Cohere entries; default the first failing
    /// one. When no entry failed, an index among all Cohere entries (default the last one).
    pub har_entry: Option<usize>,
}

impl ParseOptions {
    /// Options for a bare body of `endpoint` (inference is skipped).
    ///
    /// ```
    /// use cohere_bundle_core::input::request::{parse_request, ParseOptions};
    /// use cohere_bundle_core::Endpoint;
    /// let opts = ParseOptions::for_endpoint(Endpoint::EmbedV2);
    /// let r = parse_request("body.json", br#"{"model":"embed-v4.0","texts":["hi"]}"#, &opts)?;
    /// assert_eq!(r.endpoint, Endpoint::EmbedV2);
    /// # Ok::<(), cohere_bundle_core::Error>(())
    /// ```
    pub fn for_endpoint(endpoint: Endpoint) -> Self {
        ParseOptions {
            endpoint: Some(endpoint),
            har_entry: None,
        }
    }

    /// Which HAR entry to take (see [`ParseOptions::har_entry`]).
    ///
    /// Example: [`crate::input::request`].
    #[must_use]
    pub fn har_entry(mut self, index: usize) -> Self {
        self.har_entry = Some(index);
        self
    }
}

/// The largest request file read (64 MiB); larger files are refused as "too large".
///
/// Example: [`read_request_file`].
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024 * 1024;

/// Parses the text of a request file. `name` names the source in errors (a path, or `stdin`).
///
/// The form is detected: a curl command line (text starting with `curl`), a HAR file (`{"log":{"entries":…}}`),
/// an envelope (`{"method","url","headers","body"}`), a recorded exchange (a bundle's `exchanges/NNN.json`:
/// `{"request": {envelope}, "response": {…}}`, read as an envelope with its recorded response) or a bare JSON
/// body. An explicit `opts.endpoint` wins
/// over the URL path and over inference from the body's fields. A request without a body (`GET /v1/models/x`)
/// has `body` = `null`.
///
/// Example: [`crate::input::request`] (a curl command and a HAR file).
pub fn parse_request(name: &str, bytes: &[u8], opts: &ParseOptions) -> Result<CapturedRequest> {
    let text = decode_text(name, bytes)?;
    let text = text.as_ref();
    if curl::looks_like_curl(text) {
        return from_curl(name, text, opts);
    }
    let first = text.trim_start().chars().next().unwrap_or(' ');
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) if first == '{' || first == '[' => return Err(Error::input(name, json_error(&e))),
        Err(_) if looks_like_sse(text) => {
            return Err(not_a_request(name, "an SSE stream transcript (a response)"))
        }
        Err(_) => {
            return Err(Error::input(
                name,
                "neither JSON nor a curl command (expected a JSON body, an envelope, a HAR file or a curl command line)",
            ))
        }
    };
    let serde_json::Value::Object(obj) = &value else {
        return Err(Error::input(
            name,
            format!("expected a JSON object, found {}", kind(&value)),
        ));
    };
    if obj.get("log").and_then(|l| l.get("entries")).is_some() {
        return har::parse(name, obj, opts);
    }
    if obj.get("url").is_some_and(|u| u.is_string())
        && (obj.contains_key("method") || obj.contains_key("headers") || obj.contains_key("body"))
    {
        return from_envelope(name, obj, opts);
    }
    // A recorded exchange (`exchanges/NNN.json` of a bundle): `{"request": {envelope}, "response": {...}}`.
    if let Some(req) = obj
        .get("request")
        .and_then(|r| r.as_object())
        .filter(|r| r.get("url").is_some_and(|u| u.is_string()))
    {
        let mut captured = from_envelope(name, req, opts)?;
        captured.recorded_response = obj
            .get("response")
            .filter(|r| !r.is_null())
            .and_then(|r| serde_json::from_value::<RecordedResponse>(r.clone()).ok());
        return Ok(captured);
    }
    if let Some(what) = response_kind(obj) {
        return Err(not_a_request(name, what));
    }
    let endpoint = resolve_endpoint(name, None, &value, opts)?;
    Ok(CapturedRequest::from_body(endpoint, value))
}

/// The refusal of a file that is an API response, not a request: before any call is made, with the command
/// that bundles it as what it is.
fn not_a_request(name: &str, what: &str) -> Error {
    Error::input(
        name,
        format!(
            "this is {what}, not a request, so it is not sent; to bundle it, give it as the response: \
             cohere-bundle bundle --request <the request body> --response {name} --status <status>"
        ),
    )
}

/// True for text that is a server-sent-events transcript (`event:` / `data:` lines).
fn looks_like_sse(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("event:") || t.starts_with("data:")
}

/// What kind of API response a bare JSON body is, if it is one rather than a request: an error object
/// (`{"id", "message"}` with no request field, or the compatibility API's `{"error": {...}}`), a chat
/// response (v2's `message` object with `finish_reason`, v1's `text` with `generation_id`/`response_id`, the
/// compatibility API's `choices`), an embed response (`embeddings`, or a `data` list of embeddings) or a
/// rerank response (`results`).
///
/// ```
/// use cohere_bundle_core::input::request::response_kind;
/// let obj = |s: &str| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(s).unwrap();
/// assert_eq!(response_kind(&obj(r#"{"id":"x","message":"model 'm' not found"}"#)), Some("an API error response"));
/// assert_eq!(response_kind(&obj(r#"{"id":"x","finish_reason":"COMPLETE","message":{"role":"assistant","content":[]}}"#)), Some("a chat response"));
/// assert_eq!(response_kind(&obj(r#"{"id":"x","embeddings":{"float":[[0.1]]}}"#)), Some("an embed response"));
/// // A v1 chat request has a `message` too, with request fields beside it.
/// assert_eq!(response_kind(&obj(r#"{"message":"hi","model":"command-r"}"#)), None);
/// assert_eq!(response_kind(&obj(r#"{"message":"hi"}"#)), None);
/// ```
pub fn response_kind(obj: &serde_json::Map<String, serde_json::Value>) -> Option<&'static str> {
    let has = |k: &str| obj.contains_key(k);
    let request_fields = [
        "model",
        "messages",
        "texts",
        "inputs",
        "query",
        "documents",
        "prompt",
        "chat_history",
        "preamble",
        "stream",
        "max_tokens",
        "input_type",
        "input",
    ];
    if request_fields.iter().any(|f| has(f)) {
        return None;
    }
    let message = obj.get("message");
    if message.is_some_and(|m| m.is_object()) && (has("finish_reason") || has("usage")) {
        return Some("a chat response");
    }
    if has("text") && (has("generation_id") || has("response_id") || has("finish_reason")) {
        return Some("a chat response");
    }
    if has("choices")
        || obj
            .get("object")
            .and_then(|o| o.as_str())
            .is_some_and(|o| o.starts_with("chat.completion"))
    {
        return Some("a chat response");
    }
    if has("embeddings") || obj.get("object").and_then(|o| o.as_str()) == Some("list") {
        return Some("an embed response");
    }
    if obj.get("results").and_then(|r| r.as_array()).is_some() {
        return Some("a rerank response");
    }
    if obj.get("error").is_some_and(|e| e.is_object()) {
        return Some("an API error response");
    }
    if message.is_some_and(|m| m.is_string()) && has("id") {
        return Some("an API error response");
    }
    None
}

/// The text of a request file: UTF-8 (a BOM is dropped), or UTF-16 with a BOM (what Windows PowerShell's `>`
/// writes). Empty and binary files are errors.
fn decode_text<'a>(name: &str, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, str>> {
    use std::borrow::Cow;
    let binary = |why: String| {
        Error::input(
            name,
            format!("binary file ({why}); expected JSON, a HAR file or a curl command"),
        )
    };
    let utf16 = match bytes {
        [0xFF, 0xFE, rest @ ..] => Some((rest, true)),
        [0xFE, 0xFF, rest @ ..] => Some((rest, false)),
        _ => None,
    };
    let text: Cow<str> = match utf16 {
        Some((rest, le)) => {
            if rest.len() % 2 != 0 {
                return Err(binary("UTF-16 with an odd number of bytes".into()));
            }
            let units = rest.chunks_exact(2).map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            });
            let s: String = char::decode_utf16(units)
                .collect::<std::result::Result<String, _>>()
                .map_err(|_| binary("invalid UTF-16".into()))?;
            Cow::Owned(s)
        }
        None => {
            if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                return Err(Error::input(name, "file is empty"));
            }
            if bytes.contains(&0) {
                return Err(binary("contains NUL bytes".into()));
            }
            let s = std::str::from_utf8(bytes)
                .map_err(|e| binary(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
            Cow::Borrowed(s.strip_prefix('\u{feff}').unwrap_or(s))
        }
    };
    if text.trim().is_empty() {
        return Err(Error::input(name, "file is empty"));
    }
    if text.contains('\0') {
        return Err(binary("contains NUL characters".into()));
    }
    Ok(text)
}

/// Reads and parses a request file; `-` reads standard input. Errors name the path: "no such file",
/// "is a directory", "permission denied", "too large".
///
/// ```
/// use cohere_bundle_core::input::request::{read_request_file, ParseOptions};
/// use cohere_bundle_core::Endpoint;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("request.json");
/// std::fs::write(&path, r#"{"model": "embed-v4.0", "texts": ["hi"], "input_type": "search_query"}"#)?;
/// let r = read_request_file(&path, &ParseOptions::default())?;
/// assert_eq!(r.endpoint, Endpoint::EmbedV2);
/// let err = read_request_file(&dir.path().join("nope.json"), &ParseOptions::default()).unwrap_err();
/// assert!(err.to_string().contains("no such file"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_request_file(path: &std::path::Path, opts: &ParseOptions) -> Result<CapturedRequest> {
    use std::io::Read;
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_REQUEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::input("stdin", format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_REQUEST_BYTES {
            return Err(Error::input("stdin", too_large(bytes.len() as u64)));
        }
        return parse_request("stdin", &bytes, opts);
    }
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::input(&name, io_reason(&e)))?;
    if meta.is_dir() {
        return Err(Error::input(&name, "is a directory, not a request file"));
    }
    if meta.len() > MAX_REQUEST_BYTES {
        return Err(Error::input(&name, too_large(meta.len())));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_REQUEST_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::input(&name, io_reason(&e)))?;
    if bytes.len() as u64 > MAX_REQUEST_BYTES {
        return Err(Error::input(&name, too_large(bytes.len() as u64)));
    }
    parse_request(&name, &bytes, opts)
}

fn too_large(n: u64) -> String {
    format!(
        "too large ({n} bytes; the limit is {} MiB)",
        MAX_REQUEST_BYTES / (1024 * 1024)
    )
}

/// A short reason for an I/O error.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied (cannot read it)".into(),
        _ => {
            if e.raw_os_error() == Some(21) {
                "is a directory, not a request file".into()
            } else {
                format!("cannot read: {e}")
            }
        }
    }
}

/// "malformed JSON at line L, column C: reason" (or "at the end of line L").
pub(crate) fn json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    if e.column() == 0 && e.line() > 1 {
        // serde_json reports a problem found at a line break as column 0 of the next line.
        format!("malformed JSON at the end of line {}: {msg}", e.line() - 1)
    } else {
        format!(
            "malformed JSON at line {}, column {}: {msg}",
            e.line(),
            e.column()
        )
    }
}

/// "an array", "a string", … for error messages.
pub(crate) fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The endpoint: `--endpoint`, else the URL path, else the body's fields.
pub(crate) fn resolve_endpoint(
    name: &str,
    url: Option<&str>,
    body: &serde_json::Value,
    opts: &ParseOptions,
) -> Result<Endpoint> {
    if let Some(e) = opts.endpoint {
        return Ok(e);
    }
    let path = url.map(url_path);
    if let Some(p) = &path {
        let e = Endpoint::from_path(p);
        if e != Endpoint::Other {
            return Ok(e);
        }
    }
    if let Some(e) = Endpoint::infer_from_body(body) {
        return Ok(e);
    }
    Err(Error::input(
        name,
        match path {
            Some(p) => format!(
                "unknown endpoint: cannot tell it from the URL path {p:?} or the body's fields; give --endpoint (e.g. --endpoint v2/chat)"
            ),
            None => "unknown endpoint: cannot tell it from the body's fields; give --endpoint (e.g. --endpoint v2/chat), or, if the file is an API response, bundle it with cohere-bundle bundle --request <the request body> --response <this file>"
                .to_string(),
        },
    ))
}

/// The path of a URL, or the string itself when it is only a path.
pub(crate) fn url_path(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(parsed) => parsed.path().to_string(),
        Err(_) => u.split(['?', '#']).next().unwrap_or("").to_string(),
    }
}

/// Parses a body given as text. `Ok(None)` for an empty body.
pub(crate) fn body_from_text(
    name: &str,
    what: &str,
    text: &str,
) -> Result<Option<serde_json::Value>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        let first = text.trim_start().chars().next().unwrap_or(' ');
        if first == '{' || first == '[' {
            Error::input(
                name,
                format!("{what} is not valid JSON: {}", json_error(&e)),
            )
        } else {
            Error::input(
                name,
                format!("{what} is not JSON (Cohere requests have a JSON object body)"),
            )
        }
    })?;
    check_object(name, what, v).map(Some)
}

fn check_object(name: &str, what: &str, v: serde_json::Value) -> Result<serde_json::Value> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(Error::input(
            name,
            format!("{what} is {}, not a JSON object", kind(&v)),
        ))
    }
}

/// The body, or `null` when the request may go without one: a `GET`, `HEAD`, `DELETE` or `OPTIONS`, or a
/// request to a known endpoint that does not always take one (a cancel, a key check); an error otherwise.
pub(crate) fn require_body(
    name: &str,
    what: &str,
    body: Option<serde_json::Value>,
    method: &str,
    endpoint: Option<Endpoint>,
) -> Result<serde_json::Value> {
    match body {
        Some(b) => Ok(b),
        None if matches!(method, "GET" | "HEAD" | "DELETE" | "OPTIONS")
            || endpoint.is_some_and(|e| e != Endpoint::Other && !e.requires_body()) =>
        {
            Ok(serde_json::Value::Null)
        }
        None => Err(Error::input(
            name,
            format!("{what}: the {method} request has no body"),
        )),
    }
}

fn endpoint_hint(url: &str) -> Option<Endpoint> {
    Some(Endpoint::from_path(&url_path(url))).filter(|e| *e != Endpoint::Other)
}

fn from_curl(name: &str, text: &str, opts: &ParseOptions) -> Result<CapturedRequest> {
    let cmd = curl::parse(name, text)?;
    let url = cmd
        .url
        .ok_or_else(|| Error::input(name, "curl command has no URL"))?;
    let method = match (&cmd.method, &cmd.data) {
        (Some(m), _) => m.to_ascii_uppercase(),
        (None, _) if cmd.get => "GET".to_string(),
        (None, Some(_)) => "POST".to_string(),
        (None, None) if !cmd.form.is_empty() => "POST".to_string(),
        (None, None) if cmd.head => "HEAD".to_string(),
        (None, None) => "GET".to_string(),
    };
    let mut headers = cmd.headers;
    let body = match &cmd.data {
        _ if !cmd.form.is_empty() => {
            if cmd.data.is_some() {
                return Err(Error::input(
                    name,
                    "the curl command gives both -d/--data and -F/--form; curl sends only one body",
                ));
            }
            if crate::exchange::header(&headers, "content-type").is_none() {
                headers.push(Header::new("Content-Type", "multipart/form-data"));
            }
            Some(form::form_body(name, &cmd.form)?)
        }
        Some(d) if !cmd.get => match body_from_text(name, "the curl body (-d/--data)", d) {
            Ok(b) => b,
            // PowerShell passes `'{\"model\": …}'` to curl.exe with the backslashes still there.
            Err(e) => match d
                .contains("\\\"")
                .then(|| serde_json::from_str::<serde_json::Value>(&d.replace("\\\"", "\"")))
            {
                Some(Ok(v)) if v.is_object() => Some(v),
                _ => return Err(e),
            },
        },
        _ => None,
    };
    let hint = opts.endpoint.or_else(|| endpoint_hint(&url));
    let body = require_body(name, "curl command", body, &method, hint)?;
    let endpoint = resolve_endpoint(name, Some(&url), &body, opts)?;
    Ok(CapturedRequest {
        source: RequestSource::Curl,
        method,
        url: Some(url),
        endpoint,
        headers,
        body,
        recorded_response: None,
        url_model: UrlModel::default(),
    })
}

/// Reads headers given as an object (`{"name": "value"}`, values may be lists) or a list of `{name, value}`
/// objects or `[name, value]` pairs.
pub(crate) fn headers_from_json(name: &str, v: &serde_json::Value) -> Result<Vec<Header>> {
    use serde_json::Value;
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let mut out = Vec::new();
    match v {
        Value::Null => {}
        Value::Object(map) => {
            for (k, val) in map {
                match val {
                    Value::Null => {}
                    Value::Array(items) => {
                        for item in items {
                            let s = scalar(item).ok_or_else(|| {
                                Error::input(name, format!("headers.{k}: values must be strings"))
                            })?;
                            out.push(Header::new(k.clone(), s));
                        }
                    }
                    other => {
                        let s = scalar(other).ok_or_else(|| {
                            Error::input(name, format!("headers.{k}: value must be a string"))
                        })?;
                        out.push(Header::new(k.clone(), s));
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let pair = match item {
                    Value::Object(o) => match (
                        o.get("name").and_then(scalar),
                        o.get("value").and_then(scalar),
                    ) {
                        (Some(n), Some(v)) => Some((n, v)),
                        _ => None,
                    },
                    Value::Array(a) if a.len() == 2 => match (scalar(&a[0]), scalar(&a[1])) {
                        (Some(n), Some(v)) => Some((n, v)),
                        _ => None,
                    },
                    _ => None,
                };
                let (n, v) = pair.ok_or_else(|| {
                    Error::input(
                        name,
                        format!(
                            "headers[{i}] is neither {{\"name\", \"value\"}} nor [name, value]"
                        ),
                    )
                })?;
                out.push(Header::new(n, v));
            }
        }
        other => {
            return Err(Error::input(
                name,
                format!(
                    "headers is {}; expected an object or a list of {{name, value}}",
                    kind(other)
                ),
            ))
        }
    }
    Ok(out)
}

/// True for a body written as [`crate::exchange::Body`] (`{"text", "encoding", "size"}`), not a JSON body.
fn is_recorded_body(o: &serde_json::Map<String, serde_json::Value>) -> bool {
    o.get("text").is_some_and(|t| t.is_string())
        && o.get("encoding").is_some_and(|e| e.is_string())
        && o.keys()
            .all(|k| matches!(k.as_str(), "text" | "encoding" | "size" | "truncated"))
}

/// The `Content-Type` of a multipart form request, if the headers say it is one.
fn multipart_type(headers: &[Header]) -> Option<&str> {
    crate::exchange::header(headers, "content-type").filter(|v| {
        v.trim()
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
    })
}

/// The form of a recorded `multipart/form-data` body ([`form::from_multipart`]), or an error naming the input.
pub(crate) fn recorded_form(
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<serde_json::Value> {
    form::from_multipart(content_type, bytes).ok_or_else(|| {
        Error::input(
            name,
            "the multipart/form-data body has no part that its Content-Type's boundary delimits",
        )
    })
}

/// An envelope's body: a JSON object, JSON text, or a recorded body (`{"text", "encoding", "size"}`), which may
/// be a `multipart/form-data` form (read back into its parts, file contents included, so that it replays).
fn envelope_body(
    name: &str,
    body: Option<&serde_json::Value>,
    headers: &[Header],
) -> Result<Option<serde_json::Value>> {
    use serde_json::Value;
    let multipart = multipart_type(headers);
    Ok(match body {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match multipart {
            Some(ct) => Some(recorded_form(name, ct, s.as_bytes())?),
            None => body_from_text(name, "the envelope's body", s)?,
        },
        Some(Value::Object(o)) if is_recorded_body(o) => {
            let recorded: crate::exchange::Body = serde_json::from_value(Value::Object(o.clone()))
                .map_err(|e| Error::input(name, format!("the recorded body is malformed: {e}")))?;
            let bytes = match recorded.encoding {
                crate::exchange::BodyEncoding::Utf8 => recorded.text.clone().into_bytes(),
                crate::exchange::BodyEncoding::Base64 => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(recorded.text.as_bytes())
                        .map_err(|_| Error::input(name, "the recorded body is not valid base64"))?
                }
            };
            if let Some(ct) = multipart {
                if recorded.truncated {
                    return Err(Error::input(
                        name,
                        format!(
                            "the recorded multipart/form-data body was cut at {} of its {} bytes: the form cannot be replayed whole",
                            bytes.len(),
                            recorded.size
                        ),
                    ));
                }
                return Ok(Some(recorded_form(name, ct, &bytes)?));
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::input(name, "the recorded body is binary, not JSON"))?;
            body_from_text(name, "the recorded body", &text)?
        }
        Some(v) => Some(check_object(name, "the envelope's body", v.clone())?),
    })
}

fn from_envelope(
    name: &str,
    obj: &serde_json::Map<String, serde_json::Value>,
    opts: &ParseOptions,
) -> Result<CapturedRequest> {
    use serde_json::Value;
    let url = obj
        .get("url")
        .and_then(|u| u.as_str())
        .unwrap_or_default()
        .to_string();
    let headers = headers_from_json(name, obj.get("headers").unwrap_or(&Value::Null))?;
    let body = envelope_body(name, obj.get("body"), &headers)?;
    let method = match obj.get("method") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.trim().to_ascii_uppercase(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            if body.is_some() { "POST" } else { "GET" }.to_string()
        }
        Some(other) => {
            return Err(Error::input(
                name,
                format!("method is {}, not a string", kind(other)),
            ))
        }
    };
    let hint = opts.endpoint.or_else(|| endpoint_hint(&url));
    let body = require_body(name, "envelope", body, &method, hint)?;
    let endpoint = resolve_endpoint(name, Some(&url), &body, opts)?;
    Ok(CapturedRequest {
        source: RequestSource::Envelope,
        method,
        url: Some(url),
        endpoint,
        headers,
        body,
        recorded_response: None,
        url_model: UrlModel::default(),
    })
}

/// True when a URL looks like a Cohere API call: a known endpoint path (also behind a proxy's base path), a
/// Cohere host, or a Bedrock / SageMaker invocation of a Cohere model.
///
/// ```
/// use cohere_bundle_core::input::request::is_cohere_url;
/// assert!(is_cohere_url("https://api.cohere.com/v2/chat"));
/// assert!(is_cohere_url("http://localhost:8080/proxy/v2/embed"));
/// assert!(!is_cohere_url("https://example.com/index.html"));
/// ```
pub fn is_cohere_url(url: &str) -> bool {
    har::cohere_looking(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_reasons_are_short_and_clear() {
        use std::io::{Error as IoError, ErrorKind};
        assert_eq!(
            io_reason(&IoError::from(ErrorKind::NotFound)),
            "no such file"
        );
        assert!(
            io_reason(&IoError::from(ErrorKind::PermissionDenied)).starts_with("permission denied")
        );
        assert!(io_reason(&IoError::from_raw_os_error(21)).contains("is a directory"));
    }

    #[test]
    fn json_error_names_line_and_column_once() {
        let e = serde_json::from_str::<serde_json::Value>("{\n  \"a\": tru\n}").unwrap_err();
        let m = json_error(&e);
        assert_eq!(m, "malformed JSON at the end of line 2: expected ident");
        assert_eq!(m.matches("line").count(), 1, "{m}");
    }
}
