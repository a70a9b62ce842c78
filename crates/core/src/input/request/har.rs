//! Input stage. Picking the failing Cohere request out of a HAR file (a browser's or a proxy's recording).

use serde_json::{Map, Value};

use super::{CapturedRequest, ParseOptions, RequestSource};
use crate::cohere::Endpoint;
use crate::error::{Error, Result};
use crate::exchange::{Body, Header, RecordedResponse};

/// One HAR entry that went to a Cohere-looking URL.
struct Candidate<'a> {
    /// Position among all entries (from 0).
    index: usize,
    entry: &'a Map<String, Value>,
    url: &'a str,
    status: u16,
}

impl Candidate<'_> {
    fn failed(&self) -> bool {
        self.status == 0 || self.status >= 400
    }
}

/// True for a URL that looks like a Cohere API call: a model endpoint's path (chat, embed, rerank, …, the models
/// and key checks) on any host, another `/v1/` or `/v2/` path on a Cohere host (not the dashboard's or the docs'
/// pages; the datasets, connectors, jobs and fine-tuning paths are too generic to count elsewhere), a Bedrock /
/// SageMaker invocation of a Cohere model, or OCI Generative AI's chat / embed actions.
pub(super) fn cohere_looking(url: &str) -> bool {
    let path = super::url_path(url);
    let e = Endpoint::from_path(&path);
    if e.requires_body() || matches!(e, Endpoint::Models | Endpoint::CheckApiKey) {
        return true;
    }
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    if host.contains("cohere") && (path.starts_with("/v1/") || path.starts_with("/v2/")) {
        return true;
    }
    if host.contains("generativeai")
        && (path.ends_with("/actions/chat") || path.ends_with("/actions/embedText"))
    {
        return true;
    }
    path.contains("/model/cohere.") || path.contains("/endpoints/cohere")
}

fn status_of(entry: &Map<String, Value>) -> u16 {
    entry
        .get("response")
        .and_then(|r| r.get("status"))
        .and_then(|s| {
            s.as_i64()
                .or_else(|| s.as_str().and_then(|t| t.trim().parse().ok()))
        })
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(0)
}

/// Parses a HAR document (`root` holds `log.entries`).
pub(super) fn parse(
    name: &str,
    root: &Map<String, Value>,
    opts: &ParseOptions,
) -> Result<CapturedRequest> {
    let entries = root
        .get("log")
        .and_then(|l| l.get("entries"))
        .and_then(|e| e.as_array())
        .ok_or_else(|| Error::input(name, "HAR file: log.entries is not a list"))?;
    let candidates: Vec<Candidate> = entries
        .iter()
        .enumerate()
        .filter_map(|(index, e)| {
            let entry = e.as_object()?;
            let req = entry.get("request")?.as_object()?;
            let url = req.get("url")?.as_str()?;
            let method = req.get("method").and_then(|m| m.as_str()).unwrap_or("GET");
            if method.eq_ignore_ascii_case("OPTIONS") || !cohere_looking(url) {
                return None;
            }
            Some(Candidate {
                index,
                entry,
                url,
                status: status_of(entry),
            })
        })
        .collect();
    if candidates.is_empty() {
        return Err(Error::input(
            name,
            format!(
                "HAR file: none of its {} entries is a Cohere API request",
                entries.len()
            ),
        ));
    }
    let failing: Vec<&Candidate> = candidates.iter().filter(|c| c.failed()).collect();
    let chosen: &Candidate = if failing.is_empty() {
        match opts.har_entry {
            Some(i) => candidates.get(i).ok_or_else(|| {
                Error::field(
                    "har_entry",
                    None,
                    format!("{i} is out of range: {name} has no failing Cohere entry and {} Cohere entries (0..{})", candidates.len(), candidates.len()),
                )
            })?,
            None => candidates.last().ok_or_else(|| Error::input(name, "HAR file: no Cohere entry"))?,
        }
    } else {
        let i = opts.har_entry.unwrap_or(0);
        failing.get(i).copied().ok_or_else(|| {
            Error::field(
                "har_entry",
                None,
                format!(
                    "{i} is out of range: {name} has {} failing Cohere entries (0..{})",
                    failing.len(),
                    failing.len()
                ),
            )
        })?
    };
    build(name, chosen, opts)
}

/// A HAR entry's request body (`postData`): JSON text, or a multipart form (a transcription, a dataset upload)
/// read back into its parts so that it replays; its `Content-Type` is added to `headers` from `mimeType` when the
/// headers lack it.
fn har_body(
    name: &str,
    what: &str,
    post: Option<&Value>,
    headers: &mut Vec<Header>,
) -> Result<Option<Value>> {
    let post_text = post
        .and_then(|p| p.get("text"))
        .and_then(|t| t.as_str())
        .unwrap_or("");
    let mime = post
        .and_then(|p| p.get("mimeType"))
        .and_then(|m| m.as_str());
    let multipart = crate::exchange::header(headers, "content-type")
        .or(mime)
        .filter(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
        .map(str::to_string);
    match multipart {
        Some(ct) if !post_text.is_empty() => {
            if crate::exchange::header(headers, "content-type").is_none() {
                headers.push(Header::new("Content-Type", ct.clone()));
            }
            super::recorded_form(name, &ct, post_text.as_bytes()).map(Some)
        }
        _ => super::body_from_text(name, &format!("{what}'s request body"), post_text),
    }
}

fn build(name: &str, c: &Candidate, opts: &ParseOptions) -> Result<CapturedRequest> {
    let what = format!("HAR entry {}", c.index);
    let req = c.entry.get("request").and_then(|r| r.as_object());
    let method = req
        .and_then(|r| r.get("method"))
        .and_then(|m| m.as_str())
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "GET".into());
    let mut headers = har_headers(req.and_then(|r| r.get("headers")));
    let body = har_body(
        name,
        &what,
        req.and_then(|r| r.get("postData")),
        &mut headers,
    )?;
    let hint = opts.endpoint.or_else(|| {
        Some(Endpoint::from_path(&super::url_path(c.url))).filter(|e| *e != Endpoint::Other)
    });
    let body = super::require_body(name, &what, body, &method, hint)?;
    let endpoint = super::resolve_endpoint(name, Some(c.url), &body, opts)?;
    let recorded_response = if c.status == 0 {
        None
    } else {
        let resp = c.entry.get("response");
        let content = resp.and_then(|r| r.get("content"));
        let text = content
            .and_then(|t| t.get("text"))
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let encoding = content
            .and_then(|t| t.get("encoding"))
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let body = if encoding.eq_ignore_ascii_case("base64") {
            use base64::Engine;
            let compact: String = text.chars().filter(|ch| !ch.is_whitespace()).collect();
            match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
                Ok(bytes) => Body::from_bytes(&bytes, None),
                Err(_) => Body::from_text(text),
            }
        } else {
            Body::from_text(text)
        };
        Some(RecordedResponse {
            status: c.status,
            headers: har_headers(resp.and_then(|r| r.get("headers"))),
            body,
        })
    };
    Ok(CapturedRequest {
        source: RequestSource::Har,
        method,
        url: Some(c.url.to_string()),
        endpoint,
        headers,
        body,
        recorded_response,
        url_model: Default::default(),
    })
}

/// HAR headers (`[{name, value}]`), without HTTP/2 pseudo-headers (`:authority`, …).
fn har_headers(v: Option<&Value>) -> Vec<Header> {
    v.and_then(|h| h.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|h| {
                    let n = h.get("name")?.as_str()?;
                    let v = h.get("value").and_then(|v| v.as_str()).unwrap_or("");
                    (!n.starts_with(':')).then(|| Header::new(n, v))
                })
                .collect()
        })
        .unwrap_or_default()
}
