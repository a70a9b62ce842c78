//! Turning evidence (the failing exchange, headers, the request, token counts, model limits) into a
//! [`Summary`] whose causes are ordered most likely first, each with evidence and a next step.

use std::sync::OnceLock;

use regex::Regex;

use crate::cohere::{self, CauseCode, Endpoint, KeyKind, Platform};
use crate::exchange::{Exchange, FailureClass};
use crate::request::CapturedRequest;
use crate::summary::{
    Cause, ErrorInfo, KeyInfo, ModelLimits, RateLimitInfo, SeqLen, Summary, TimingInfo,
    SCHEMA_VERSION,
};

/// Everything known about one failure.
#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    /// `replay`, `observe`, `bundle`, `library` or `demo`.
    pub mode: &'a str,
    /// The failing request.
    pub request: &'a CapturedRequest,
    /// All recorded exchanges.
    pub exchanges: &'a [Exchange],
    /// Where the request was sent.
    pub platform: Platform,
    /// The base URL of a replay.
    pub base_url: Option<&'a str>,
    /// The measured sequence length.
    pub seq_len: SeqLen,
    /// The model's limits, if known.
    pub model_limits: Option<ModelLimits>,
    /// Whether a key was sent.
    pub key_present: bool,
    /// Errors found in logs (status, message, request id) when there is no exchange.
    pub log_errors: Vec<LogError>,
    /// In observe mode, the proxy's counts over every exchange (successes are counted, not kept).
    pub observed: Option<&'a crate::observe::ObserveStats>,
}

/// An error found in a log (e.g. a Python SDK traceback), used when no exchange shows the failure.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LogError {
    /// The log it came from and the line.
    pub location: String,
    /// HTTP status, if the log says.
    pub status: Option<u16>,
    /// The error message verbatim.
    pub message: Option<String>,
    /// The request id, if the log shows one.
    pub request_id: Option<String>,
}

/// Docs pages the next steps point at.
mod docs {
    pub const ERRORS: &str = "https://docs.cohere.com/reference/errors";
    pub const RATE_LIMITS: &str = "https://docs.cohere.com/docs/rate-limits";
    pub const MODELS: &str = "https://docs.cohere.com/docs/models";
    pub const API_KEYS: &str = "https://dashboard.cohere.com/api-keys";
    pub const BILLING: &str = "https://dashboard.cohere.com/billing";
    pub const STATUS: &str = "https://status.cohere.com";
}

/// Picks the exchange that shows the failure: the last failing replayed/observed/recorded exchange, else the
/// last such exchange.
pub fn primary_exchange(exchanges: &[Exchange]) -> Option<&Exchange> {
    let main = |e: &&Exchange| {
        matches!(
            e.purpose.as_str(),
            "replay" | "observed" | "recorded" | "library"
        )
    };
    exchanges
        .iter()
        .filter(main)
        .rfind(|e| e.failure.is_some())
        .or_else(|| exchanges.iter().rfind(main))
        .or_else(|| exchanges.iter().find(|e| e.failure.is_some()))
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("static regex"))
}

fn num(s: &str) -> Option<u64> {
    s.replace(',', "").parse().ok()
}

/// Builds the summary from the evidence.
pub fn diagnose(ev: &Evidence<'_>) -> Summary {
    let primary = primary_exchange(ev.exchanges);
    let log_err = best_log_error(&ev.log_errors);
    let status = primary
        .and_then(Exchange::status)
        .or_else(|| log_err.and_then(|l| l.status));
    let failure = primary.and_then(|e| e.failure.clone());
    let message = failure
        .as_ref()
        .map(|f| f.message.clone())
        .or_else(|| log_err.and_then(|l| l.message.clone()));
    let error = match (&failure, &message) {
        (Some(f), Some(m)) => Some(ErrorInfo {
            class: f.class.as_str().to_string(),
            message: m.clone(),
            faq_meaning: status
                .filter(|_| f.class == FailureClass::Http)
                .and_then(|s| cohere::status_meaning(s, ev.platform)),
        }),
        (None, Some(m)) if status.is_some_and(|s| s >= 400) => Some(ErrorInfo {
            class: "http".into(),
            message: m.clone(),
            faq_meaning: status.and_then(|s| cohere::status_meaning(s, ev.platform)),
        }),
        _ => None,
    };
    let request_id = primary
        .and_then(Exchange::request_id)
        .or_else(|| {
            primary
                .and_then(|e| e.response_header("x-amzn-requestid"))
                .map(str::to_string)
        })
        .or_else(|| log_err.and_then(|l| l.request_id.clone()))
        .or_else(|| ev.log_errors.iter().find_map(|l| l.request_id.clone()));
    let rate_limit = rate_limit_info(ev.exchanges, message.as_deref());
    let key = key_info(ev, &rate_limit, message.as_deref());
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        tool: crate::TOOL.to_string(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        mode: ev.mode.to_string(),
        endpoint: ev.request.endpoint,
        model: ev.request.model().map(str::to_string),
        platform: ev.platform,
        base_url: ev.base_url.map(str::to_string),
        status,
        request_id,
        error,
        seq_len: ev.seq_len.clone(),
        max_tokens: ev.request.max_tokens(),
        model_limits: ev.model_limits.clone(),
        key,
        rate_limit,
        causes: Vec::new(),
        matrix: None,
        observed: None,
        timings: primary.map(|e| TimingInfo {
            time_to_headers_ms: e.timings.time_to_headers_ms,
            total_ms: e.timings.total_ms,
        }),
        exchanges: ev.exchanges.len(),
        logs: Vec::new(),
        cuts: Vec::new(),
    };
    summary.causes = causes(ev, &summary, failure.as_ref().map(|f| f.class));
    summary
}

/// The log error that says most: one with a request id, then one with a real message (not just an HTTP reason
/// phrase such as `Not Found` from an httpx request line), then one with a status; the latest of equals.
fn best_log_error(errors: &[LogError]) -> Option<&LogError> {
    errors
        .iter()
        .filter(|l| l.status.is_some() || l.message.is_some())
        .max_by_key(|l| {
            let words = l
                .message
                .as_deref()
                .map_or(0, |m| m.split_whitespace().count());
            (l.request_id.is_some(), words > 3, l.status.is_some())
        })
}

fn header_u64(exchanges: &[Exchange], name: &str) -> Option<u64> {
    exchanges
        .iter()
        .rev()
        .find_map(|e| e.response_header(name))
        .and_then(|v| v.trim().parse().ok())
}

fn rate_limit_info(exchanges: &[Exchange], message: Option<&str>) -> RateLimitInfo {
    let retry_after_s = exchanges
        .iter()
        .rev()
        .find_map(|e| e.response_header("retry-after"))
        .and_then(|v| v.trim().parse::<f64>().ok());
    let limit_hit = message.and_then(|m| {
        let l = m.to_ascii_lowercase();
        static PER_MIN: OnceLock<Regex> = OnceLock::new();
        if let Some(c) = re(&PER_MIN, r"(?i)limited to ([\d,]+) api calls\s*/\s*minute").captures(m)
        {
            return Some(format!("trial key: {} calls per minute", &c[1]));
        }
        static TPM: OnceLock<Regex> = OnceLock::new();
        if let Some(c) = re(&TPM, r"(?i)limit is ([\d,]+) tokens per minute").captures(m) {
            return Some(format!("{} tokens per minute", &c[1]));
        }
        if l.contains("per minute request limit") {
            Some("requests per minute".into())
        } else if l.contains("month") {
            Some("monthly call limit".into())
        } else {
            None
        }
    });
    RateLimitInfo {
        trial_endpoint_call_limit: header_u64(exchanges, "x-trial-endpoint-call-limit"),
        trial_endpoint_call_remaining: header_u64(exchanges, "x-trial-endpoint-call-remaining"),
        endpoint_monthly_call_limit: header_u64(exchanges, "x-endpoint-monthly-call-limit"),
        retry_after_s,
        limit_hit,
    }
}

fn key_info(ev: &Evidence<'_>, rl: &RateLimitInfo, message: Option<&str>) -> KeyInfo {
    let m = message.unwrap_or("").to_ascii_lowercase();
    let (kind, evidence) = if let Some(l) = rl.trial_endpoint_call_limit {
        (
            KeyKind::Trial,
            Some(format!("response header x-trial-endpoint-call-limit: {l}")),
        )
    } else if m.contains("trial key") || m.contains("trial token") {
        (
            KeyKind::Trial,
            Some("the 429 message names a trial key".to_string()),
        )
    } else if let Some(e) = ev
        .exchanges
        .iter()
        .find(|e| e.status().is_some_and(|s| (200..300).contains(&s)))
    {
        let _ = e;
        (
            KeyKind::Production,
            Some("a successful response carried no trial-key headers".to_string()),
        )
    } else if let Some(o) = ev.observed.filter(|o| o.successes > 0) {
        if o.successes_with_trial_headers > 0 {
            (
                KeyKind::Trial,
                Some(format!(
                    "{} of {} successful responses seen by observe carried x-trial-endpoint-call-limit",
                    o.successes_with_trial_headers, o.successes
                )),
            )
        } else {
            (
                KeyKind::Production,
                Some(format!(
                    "{} successful responses seen by observe carried no trial-key headers",
                    o.successes
                )),
            )
        }
    } else {
        (KeyKind::Unknown, None)
    };
    KeyInfo {
        kind,
        evidence,
        present: ev.key_present,
    }
}

fn cause(code: CauseCode, evidence: impl Into<String>, next_step: impl Into<String>) -> Cause {
    Cause {
        code,
        evidence: evidence.into(),
        next_step: next_step.into(),
    }
}

fn quote(m: &str) -> String {
    let m: String = m.chars().take(300).collect();
    format!("\"{m}\"")
}

/// The context-window arithmetic, when the numbers are known: input + max_tokens vs the context length, and
/// max_tokens vs the model's output cap.
fn context_overflow(ev: &Evidence<'_>, s: &Summary) -> Option<Cause> {
    let limits = s.model_limits.as_ref()?;
    let max_tokens = s.max_tokens;
    if let (Some(cap), Some(mt)) = (limits.max_output_tokens, max_tokens) {
        if mt > cap {
            return Some(cause(
                CauseCode::ContextLengthExceeded,
                format!("max_tokens {mt} exceeds the model's maximum output of {cap} tokens ({})", limits.source),
                format!("set max_tokens to at most {cap}, or omit it to use the model's default; see {}", docs::MODELS),
            ));
        }
    }
    let ctx = limits.context_length?;
    let input = s.seq_len.prompt_tokens.or(s.seq_len.tokens)?;
    let total = input + max_tokens.unwrap_or(0);
    if total > ctx {
        let _ = ev;
        return Some(cause(
            CauseCode::ContextLengthExceeded,
            format!(
                "input {input} tokens ({}) + max_tokens {} = {total} > context length {ctx} ({})",
                s.seq_len.method,
                max_tokens.unwrap_or(0),
                limits.source
            ),
            format!(
                "shorten the input by at least {} tokens or lower max_tokens; see {}",
                total - ctx,
                docs::MODELS
            ),
        ));
    }
    None
}

fn too_many_tokens(ev: &Evidence<'_>, s: &Summary, message: &str) -> Cause {
    static PROMPT: OnceLock<Regex> = OnceLock::new();
    static MAXTOK: OnceLock<Regex> = OnceLock::new();
    static EXCEED: OnceLock<Regex> = OnceLock::new();
    let mut evidence = format!("the API said {}", quote(message));
    let mut next = format!(
        "shorten the input or lower max_tokens; see {}",
        docs::MODELS
    );
    if let Some(c) = re(&PROMPT, r"cannot exceed ([\d,]+) - received ([\d,]+)").captures(message) {
        if let (Some(limit), Some(got)) = (num(&c[1]), num(&c[2])) {
            evidence.push_str(&format!(
                "; limit {limit}, received {got} ({} over)",
                got.saturating_sub(limit)
            ));
            next = format!(
                "cut at least {} tokens from the input, or lower max_tokens; see {}",
                got.saturating_sub(limit),
                docs::MODELS
            );
        }
    } else if let Some(c) = re(
        &MAXTOK,
        r"less than or equal to ([\d,]+).*received ([\d,]+)",
    )
    .captures(message)
    {
        if let (Some(limit), Some(got)) = (num(&c[1]), num(&c[2])) {
            evidence.push_str(&format!(
                "; max_tokens {got} > model maximum output {limit}"
            ));
            next = format!("set max_tokens to at most {limit}; see {}", docs::MODELS);
        }
    } else if let Some(c) = re(&EXCEED, r"exceeded by ([\d,]+) tokens").captures(message) {
        if let Some(over) = num(&c[1]) {
            evidence.push_str(&format!("; {over} tokens over the limit"));
            next = format!(
                "cut at least {over} tokens from the input; see {}",
                docs::MODELS
            );
        }
    }
    let ctx = s.model_limits.as_ref().and_then(|l| l.context_length);
    match (s.seq_len.tokens, ctx) {
        (Some(t), Some(ctx)) => {
            // The arithmetic the API did: input + max_tokens against the context window.
            let mt = s.max_tokens.unwrap_or(0);
            let total = t + mt;
            let cmp = if total > ctx { ">" } else { "<=" };
            evidence.push_str(&format!(
                "; measured input {t} tokens ({}) + max_tokens {mt} = {total} {cmp} context length {ctx}",
                s.seq_len.method
            ));
        }
        (t, ctx) => {
            if let Some(t) = t {
                evidence.push_str(&format!(
                    "; measured input {t} tokens ({})",
                    s.seq_len.method
                ));
            }
            if let Some(mt) = s.max_tokens {
                evidence.push_str(&format!(", max_tokens {mt}"));
            }
            if let Some(ctx) = ctx {
                evidence.push_str(&format!(", context length {ctx}"));
            }
        }
    }
    let _ = ev;
    cause(CauseCode::ContextLengthExceeded, evidence, next)
}

/// Known model names close to `name` (same family or small edit distance).
pub fn similar_models(name: &str) -> Vec<&'static str> {
    let mut scored: Vec<(usize, &'static str)> = cohere::KNOWN_MODELS
        .iter()
        .map(|m| (strsim(name, m.name), m.name))
        .filter(|(d, _)| *d <= name.len().max(4) / 2)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

fn strsim(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn causes(ev: &Evidence<'_>, s: &Summary, class: Option<FailureClass>) -> Vec<Cause> {
    let mut out: Vec<Cause> = Vec::new();
    let message = s
        .error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    let lower = message.to_ascii_lowercase();
    let model = s.model.clone().unwrap_or_else(|| "(none given)".into());
    let send = "send this bundle to support@cohere.com with the request id";
    match class {
        Some(FailureClass::Timeout) => out.push(cause(
            CauseCode::Timeout,
            if message.starts_with("no complete response") { message.clone() } else { format!("no complete response: {message}") },
            "retry with a longer --timeout; if a streaming request, check time to first event; for long generations lower max_tokens or use streaming",
        )),
        Some(FailureClass::Network) => out.push(cause(
            CauseCode::NetworkError,
            format!("the connection failed: {message}"),
            "check proxies, firewalls and DNS between this machine and the API (HTTPS_PROXY, NO_PROXY); retry; if it persists, send this bundle",
        )),
        Some(FailureClass::Stream) => out.push(cause(
            CauseCode::StreamError,
            format!("HTTP {} stream carried an error: {}", s.status.unwrap_or(200), quote(&message)),
            format!("retry the request; if it recurs with the same input, {send}"),
        )),
        _ => {}
    }
    if let Some(status) = s.status.filter(|st| *st >= 400) {
        let aws = ev.platform.is_aws();
        let c = match status {
            400 if lower.contains("too many tokens") || lower.contains("context length") || lower.contains("too long") => {
                too_many_tokens(ev, s, &message)
            }
            400 | 422 if lower.contains("total number of texts") || lower.contains("must be at most") => cause(
                CauseCode::InvalidParameterCombination,
                format!("the API said {}", quote(&message)),
                "split the input into batches within the documented limit (e.g. 96 texts per embed call)",
            ),
            400 if aws => cause(
                CauseCode::InvalidParameterCombination,
                format!("{} answered 400 (ValidationException): {}", ev.platform.name(), quote(&message)),
                "check the body against the Bedrock/SageMaker Cohere schema: `model` and `stream` are not body fields there",
            ),
            400 => cause(
                CauseCode::InvalidParameterCombination,
                format!("HTTP 400, which the support FAQ reads as an invalid combination of parameters: {}", quote(&message)),
                format!("change the parameter combination the message names; see {}", docs::ERRORS),
            ),
            401 => {
                let detail = if lower.contains("no api key") || !ev.key_present {
                    "no API key was sent".to_string()
                } else if lower.contains("expired") {
                    "the key has expired".to_string()
                } else {
                    "the key was sent but not accepted".to_string()
                };
                cause(
                    CauseCode::InvalidApiKey,
                    format!("HTTP 401 {}: {detail}", quote(&message)),
                    format!("set CO_API_KEY to a valid key from {}; check for stray whitespace or a key from another organisation", docs::API_KEYS),
                )
            }
            402 => cause(
                CauseCode::PaymentRequired,
                format!("HTTP 402: {}", quote(&message)),
                format!("add or update the payment method, or raise the spending limit, at {}", docs::BILLING),
            ),
            403 => cause(
                CauseCode::Forbidden,
                format!("HTTP 403: {}", quote(&message)),
                if aws {
                    "grant the IAM identity bedrock:InvokeModel (or sagemaker:InvokeEndpoint) and request access to the model in this region".to_string()
                } else {
                    format!("check that this key's organisation may use model {model}; {send}")
                },
            ),
            404 | 424 if aws && status == 424 => cause(
                CauseCode::ServerError,
                format!("{} answered 424 (ModelErrorException): the model failed on this input: {}", ev.platform.name(), quote(&message)),
                "retry; if the same input fails again, check input length and parameters, then contact AWS support with the request id",
            ),
            404 => {
                let similar = s.model.as_deref().map(similar_models).unwrap_or_default();
                let known = s.model.as_deref().and_then(cohere::known_model).is_some();
                let mut evidence = format!("HTTP 404 for model {model}: {}", quote(&message));
                if known {
                    evidence.push_str(&format!("; {model} is a published model, so check the endpoint ({}) supports it", s.endpoint.name()));
                } else if !similar.is_empty() {
                    evidence.push_str(&format!("; not a published model ID; close matches: {}", similar.join(", ")));
                }
                if aws {
                    evidence.push_str("; on AWS a 404 means the model ID or endpoint does not exist in this region");
                }
                cause(
                    CauseCode::ModelNotFound,
                    evidence,
                    format!("use an exact model ID from {} (or GET /v1/models); fine-tuned models need their full ID", docs::MODELS),
                )
            }
            408 if aws => cause(
                CauseCode::Timeout,
                format!("{} answered 408 (ModelTimeoutException): {}", ev.platform.name(), quote(&message)),
                "lower max_tokens or the input size, or use the streaming API",
            ),
            422 => cause(
                CauseCode::MalformedRequest,
                format!("HTTP 422, a malformed request (unsupported enum value or unknown parameter): {}", quote(&message)),
                format!("fix the field the message names against the API reference for {} ({})", s.endpoint.name(), docs::ERRORS),
            ),
            429 => {
                let trial = s.key.kind == KeyKind::Trial;
                let mut evidence = format!("HTTP 429: {}", quote(&message));
                if let Some(l) = s.rate_limit.trial_endpoint_call_limit {
                    evidence.push_str(&format!("; x-trial-endpoint-call-limit: {l}"));
                }
                if let Some(r) = s.rate_limit.trial_endpoint_call_remaining {
                    evidence.push_str(&format!("; x-trial-endpoint-call-remaining: {r}"));
                }
                if let Some(r) = s.rate_limit.retry_after_s {
                    evidence.push_str(&format!("; Retry-After: {r}s"));
                }
                if let Some(h) = &s.rate_limit.limit_hit {
                    evidence.push_str(&format!("; limit hit: {h}"));
                }
                if aws {
                    cause(CauseCode::RateLimited, format!("{evidence} (ThrottlingException on AWS)"), "request a quota increase in AWS Service Quotas, or retry with backoff")
                } else if trial {
                    cause(
                        CauseCode::RateLimitedTrial,
                        evidence,
                        format!("wait and retry with backoff, or use a production key (see {})", docs::RATE_LIMITS),
                    )
                } else {
                    cause(
                        CauseCode::RateLimited,
                        evidence,
                        format!("retry after the Retry-After delay with exponential backoff and fewer concurrent requests; see {}", docs::RATE_LIMITS),
                    )
                }
            }
            498 => cause(
                CauseCode::BlockedToken,
                format!("HTTP 498: the request or response contains a deny-listed token: {}", quote(&message)),
                "rephrase the input; if you believe it is wrong, send this bundle",
            ),
            499 => cause(
                CauseCode::ClientCanceled,
                format!("HTTP 499, request cancelled by the client: {}", quote(&message)),
                "check client-side timeouts and cancellation (a closed stream or a timeout shorter than the generation time)",
            ),
            500..=502 => cause(
                CauseCode::ServerError,
                format!("HTTP {status} from the API: {}", quote(&message)),
                format!("retry with backoff; if it persists, {send}"),
            ),
            503 => cause(
                CauseCode::ServiceUnavailable,
                format!("HTTP 503: {}", quote(&message)),
                format!("retry with backoff and check {}", docs::STATUS),
            ),
            504 => cause(
                CauseCode::GatewayTimeout,
                format!("HTTP 504 after {:.0} ms: {}", s.timings.as_ref().map(|t| t.total_ms).unwrap_or(0.0), quote(&message)),
                "retry; for long generations lower max_tokens or stream the response",
            ),
            _ => cause(
                CauseCode::ServerError,
                format!("HTTP {status}: {}", quote(&message)),
                send.to_string(),
            ),
        };
        out.push(c);
    }
    if let Some(c) = context_overflow(ev, s) {
        if !out
            .iter()
            .any(|o| o.code == CauseCode::ContextLengthExceeded)
        {
            out.push(c);
        }
    }
    if s.endpoint == Endpoint::Other && !out.is_empty() {
        // Nothing to add: causes above already speak for the status.
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_models_finds_typos() {
        assert_eq!(
            similar_models("command-r-plus-08-2025").first(),
            Some(&"command-r-plus-08-2024")
        );
        assert!(similar_models("zzzzzzzzzzzzzzzzzzzz").is_empty());
    }
}
