//! Diagnose stage (3 of 5): turning evidence (the failing exchange, headers, the request, token counts, model limits) into a
//! [`Summary`] whose causes are ordered most likely first, each with evidence and a next step.
//!
//! ```
//! use cohere_bundle_core::gather::capture::{recorded_exchange, Capture};
//! use cohere_bundle_core::diagnose::{diagnose, primary_exchange, Evidence, LogError};
//! use cohere_bundle_core::exchange::{Body, RecordedResponse};
//! use cohere_bundle_core::input::request::{parse_request, ParseOptions};
//! use cohere_bundle_core::summary::{LimitsSource, Mode, ModelLimits, SeqLen, SeqLenMethod};
//! use cohere_bundle_core::CauseCode;
//!
//! let req = parse_request(
//!     "req.json",
//!     br#"{"model":"command-r-08-2024","max_tokens":8192,"messages":[{"role":"user","content":"hi"}]}"#,
//!     &ParseOptions::default(),
//! )?;
//! let message = "too many tokens: max tokens must be less than or equal to 4000, the maximum output for this model - received 8192.";
//! let resp = RecordedResponse {
//!     status: 400,
//!     headers: vec![],
//!     body: Body::from_text(serde_json::json!({ "message": message }).to_string()),
//! };
//! let exchange = recorded_exchange(&req, Some(resp), None, 12.0);
//! let capture = Capture::builder(Mode::Bundle, req).exchange(exchange).build();
//! assert_eq!(primary_exchange(&capture.exchanges).and_then(|e| e.status()), Some(400));
//!
//! // What was measured and found besides the capture.
//! let mut ev = Evidence::from_capture(&capture);
//! ev.seq_len = SeqLen { tokens: Some(3), method: SeqLenMethod::Estimate, chars: 2, prompt_tokens: None };
//! ev.model_limits = Some(ModelLimits {
//!     context_length: Some(128_000),
//!     max_output_tokens: Some(4_000),
//!     source: LimitsSource::DocsTable,
//!     max_output_source: None,
//! });
//! ev.log_errors.push(LogError { location: "logs/app.log:12".into(), status: Some(400), ..Default::default() });
//! let summary = diagnose(&ev);
//! assert_eq!((summary.status, summary.max_tokens), (Some(400), Some(8192)));
//! assert_eq!(summary.causes[0].code, CauseCode::MaxOutputExceeded);
//! assert!(!summary.support_needed);
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```

use std::sync::OnceLock;

use regex::Regex;

mod limits;
mod platform;

use crate::cohere::{CauseCode, Endpoint, KeyKind, Platform};
pub(crate) use crate::exchange::exchange_source;
pub use crate::exchange::primary_exchange;
use crate::exchange::{is_main, original_exchange, Exchange, FailureClass, Purpose};
use crate::gather::capture::Capture;
use crate::gather::matrix::MatrixResult;
use crate::input::request::CapturedRequest;
use crate::knowledge::{knowledge, ModelStatus, PlatformError};
use crate::summary::{
    Cause, ClientInfo, ErrorInfo, KeyInfo, Mode, ModelLimits, Note, NoteKind, OriginalFailure,
    OtherFailure, RateLimitInfo, SeqLen, Summary, TimingInfo, SCHEMA_VERSION,
};

/// Everything known about one failure: what was captured, plus what `gather` measured (sequence length,
/// model limits) and what the logs show. Build it with [`Evidence::new`] or [`Evidence::from_capture`], then
/// set the fields that are known.
///
/// See the [module example](crate::diagnose).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Evidence<'a> {
    /// How the failure was captured.
    pub mode: Mode,
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
    pub observed: Option<&'a crate::gather::observe::ObserveStats>,
    /// The client as a log's SDK traceback shows it (its paths), when headers do not say.
    pub client_from_logs: Option<ClientInfo>,
    /// The shape sweep's result, when one was run.
    pub matrix: Option<&'a MatrixResult>,
    /// The logs included in the bundle, by bundle path (`logs/app.log`).
    pub logs: Vec<String>,
    /// Why the sweep asked for was not run.
    pub not_swept: Option<&'a str>,
    /// The request was not captured: how to capture it next time.
    pub request_missing: Option<&'a str>,
    /// Logs that were to be read and never appeared.
    pub missing_logs: &'a [String],
}

impl<'a> Evidence<'a> {
    /// Evidence of `request` and its `exchanges`, captured in `mode`; nothing else known yet (platform
    /// Cohere, no key sent, no measurements, no logs).
    ///
    /// Example: [`diagnose()`].
    pub fn new(
        mode: Mode,
        request: &'a CapturedRequest,
        exchanges: &'a [Exchange],
    ) -> Evidence<'a> {
        Evidence {
            mode,
            request,
            exchanges,
            platform: Platform::default(),
            base_url: None,
            seq_len: SeqLen::default(),
            model_limits: None,
            key_present: false,
            log_errors: Vec::new(),
            observed: None,
            client_from_logs: None,
            matrix: None,
            logs: Vec::new(),
            not_swept: None,
            request_missing: None,
            missing_logs: &[],
        }
    }

    /// Evidence of a [`Capture`]: its mode, request, exchanges, platform, base URL, whether a key was sent,
    /// the observe proxy's counts and the shape sweep.
    ///
    /// See the [module example](crate::diagnose).
    pub fn from_capture(c: &'a Capture) -> Evidence<'a> {
        Evidence {
            platform: c.platform,
            base_url: c.base_url.as_deref(),
            key_present: c.key_present,
            observed: c.observed.as_ref(),
            matrix: c.matrix.as_ref(),
            not_swept: c.not_swept.as_deref(),
            request_missing: c.request_missing.as_deref(),
            ..Evidence::new(c.mode, &c.request, &c.exchanges)
        }
    }
}

/// An error found in a log (e.g. a Python SDK traceback), used when no exchange shows the failure.
///
/// See the [module example](crate::diagnose).
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
    /// When it happened, as the log gives it (the line's timestamp, or the response's `date` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The endpoint of the failing call, when the log gives its URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
}

/// Docs pages the next steps point at.
mod docs {
    pub(crate) const ERRORS: &str = "https://docs.cohere.com/reference/errors";
    pub(crate) const RATE_LIMITS: &str = "https://docs.cohere.com/docs/rate-limits";
    pub(crate) const MODELS: &str = "https://docs.cohere.com/docs/models";
    pub(crate) const API_KEYS: &str = "https://dashboard.cohere.com/api-keys";
    pub(crate) const BILLING: &str = "https://dashboard.cohere.com/billing";
    pub(crate) const STATUS: &str = "https://status.cohere.com";
    pub(crate) const DEPRECATIONS: &str = "https://docs.cohere.com/docs/deprecations";
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("static regex"))
}

fn num(s: &str) -> Option<u64> {
    s.replace(',', "").parse().ok()
}

/// The facts of one failure, all from one source (an exchange or a log line): never mixed with another's.
#[derive(Debug, Clone, Default)]
struct Facts {
    status: Option<u16>,
    message: Option<String>,
    class: Option<FailureClass>,
    client_side: bool,
    request_id: Option<String>,
    time: Option<String>,
    total_ms: Option<f64>,
    rate_limit: RateLimitInfo,
    source: String,
    /// The model the failure's own words name (`model 'x' not found`), if they name one.
    model_named: Option<String>,
    /// The endpoint of the failing call, when its source says.
    endpoint: Option<Endpoint>,
    /// The platform's error type (`x-amzn-ErrorType`, Azure's or OCI's error code).
    error_type: Option<String>,
    /// How a 2xx generation ended.
    finish: Option<crate::sse::Finish>,
    /// True when the facts come from a log line, not an exchange.
    from_log: bool,
}

/// The model a failure message names: `model 'x'`, `model "x"`, `model x not found`.
fn model_named(message: Option<&str>) -> Option<String> {
    static NAMED: OnceLock<Regex> = OnceLock::new();
    let c = re(
        &NAMED,
        r#"(?i)\bmodel\s+(?:'([^'\s]+)'|"([^"\s]+)"|([A-Za-z0-9][A-Za-z0-9_.:/-]*)\s+(?:not found|does not exist|is not supported))"#,
    )
    .captures(message?)?;
    c.iter()
        .skip(1)
        .flatten()
        .next()
        .map(|m| m.as_str().to_string())
}

impl Facts {
    fn from_exchange(e: &Exchange) -> Facts {
        let message = e.failure.as_ref().map(|f| f.message.clone());
        Facts {
            status: e.status(),
            class: e.failure.as_ref().map(|f| f.class),
            client_side: e.failure.as_ref().is_some_and(|f| f.client_side),
            request_id: e
                .request_id()
                .or_else(|| e.response_header("x-amzn-requestid").map(str::to_string)),
            time: Some(
                e.timings
                    .started_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            total_ms: Some(e.timings.total_ms),
            rate_limit: rate_limit_info(Some(e), message.as_deref()),
            model_named: model_named(message.as_deref()),
            endpoint: Some(Endpoint::from_path(&e.request.url)).filter(|e| *e != Endpoint::Other),
            error_type: platform::error_type(e),
            finish: e
                .response
                .as_ref()
                .filter(|r| (200..300).contains(&r.status))
                .and_then(|r| {
                    let body = serde_json::from_str(&e.request.body.text).unwrap_or_default();
                    crate::sse::finish_of(&r.headers, &body, &r.body)
                }),
            from_log: false,
            message,
            source: exchange_source(e),
        }
    }

    fn from_log(l: &LogError) -> Facts {
        Facts {
            status: l.status,
            class: l.status.filter(|s| *s >= 400).map(|_| FailureClass::Http),
            client_side: false,
            request_id: l.request_id.clone(),
            time: l.time.clone(),
            total_ms: None,
            rate_limit: rate_limit_info(None, l.message.as_deref()),
            model_named: model_named(l.message.as_deref()),
            endpoint: l.endpoint,
            error_type: None,
            finish: None,
            from_log: true,
            message: l.message.clone(),
            source: l.location.clone(),
        }
    }

    fn error_info(&self, platform: Platform) -> Option<ErrorInfo> {
        let message = self.message.clone()?;
        let class = self.class?;
        let (faq_meaning, meaning, meaning_source) = match self.status {
            Some(s) if class == FailureClass::Http => {
                platform::meaning(s, platform, self.error_type.as_deref())
            }
            _ => (None, None, None),
        };
        Some(ErrorInfo {
            class,
            message,
            faq_meaning,
            meaning,
            meaning_source,
            source: Some(self.source.clone()),
            client_side: self.client_side,
        })
    }
}

/// What the causes are reasoned from besides the failure itself: the request and the measurements. Built
/// before the summary, which is then written once and never patched.
struct Known<'a> {
    endpoint: crate::cohere::Endpoint,
    /// The request's body.
    body: &'a serde_json::Value,
    model: Option<String>,
    max_tokens: Option<u64>,
    seq_len: SeqLen,
    model_limits: Option<ModelLimits>,
    key: KeyInfo,
}

/// Builds the summary from the evidence. `status`, `request_id` and `error` come from one source: the
/// exchange [`primary_exchange`] picks, else (with no exchange at all) the most telling log error. The
/// failure the application saw, from a log or the handler's record, goes into `original`, apart.
///
/// ```
/// use cohere_bundle_core::gather::capture::recorded_exchange;
/// use cohere_bundle_core::diagnose::{diagnose, Evidence};
/// use cohere_bundle_core::exchange::{Body, RecordedResponse};
/// use cohere_bundle_core::input::request::{parse_request, ParseOptions};
/// use cohere_bundle_core::summary::Mode;
///
/// let req = parse_request("req.json", br#"{"model":"command-r","messages":[]}"#, &ParseOptions::default())?;
/// let resp = RecordedResponse { status: 404, headers: vec![], body: Body::from_text(r#"{"message":"model 'command-r' not found"}"#) };
/// let exchanges = [recorded_exchange(&req, Some(resp), None, 0.0)];
/// let summary = diagnose(&Evidence::new(Mode::Bundle, &req, &exchanges));
/// assert_eq!(summary.status, Some(404));
/// assert_eq!(summary.causes[0].code.as_str(), "model_not_found");
/// # Ok::<(), cohere_bundle_core::Error>(())
/// ```
pub fn diagnose(ev: &Evidence<'_>) -> Summary {
    let primary = primary_exchange(ev.exchanges);
    let log_err = best_log_error(&ev.log_errors);
    let subject = primary
        .map(Facts::from_exchange)
        .or_else(|| log_err.map(Facts::from_log))
        .unwrap_or_default();
    let original = original_exchange(ev.exchanges)
        .map(Facts::from_exchange)
        .or_else(|| log_err.map(Facts::from_log));
    let reproduced = original
        .as_ref()
        .and_then(|o| primary.map(|_| o.status == subject.status && o.status.is_some()));
    let known = Known {
        endpoint: ev.request.endpoint,
        body: &ev.request.body,
        model: ev.request.model().map(str::to_string),
        max_tokens: ev.request.max_tokens(),
        seq_len: ev.seq_len.clone(),
        model_limits: ev.model_limits.clone(),
        key: key_info(ev, &subject),
    };
    let mut notes = mismatch_notes(ev, &known, &subject, original.as_ref());
    // A log's failure of another request is not reproduced by this one, whatever the statuses.
    let reproduced = reproduced.map(|r| r && notes.is_empty());
    let mut causes = all_causes(
        ev,
        &known,
        &subject,
        original.as_ref().filter(|_| reproduced == Some(false)),
    );
    notes.extend(docs_notes(&known));
    notes.extend(run_notes(ev, primary));
    let (arith, worth) = limits::check(&known, &subject, &causes);
    causes.extend(arith);
    notes.extend(worth);
    let error = subject.error_info(ev.platform);
    let original = original.as_ref().map(|o| original_failure(o, reproduced));
    let verdict = crate::summary::SupportVerdict::of(
        &causes,
        crate::summary::failure_seen(error.as_ref(), original.as_ref()),
        ev.mode,
    );
    Summary {
        schema_version: SCHEMA_VERSION,
        tool: crate::TOOL.to_string(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        mode: ev.mode,
        endpoint: known.endpoint,
        model: known.model,
        platform: ev.platform,
        base_url: ev.base_url.map(crate::scrub::mask_url),
        status: subject.status,
        request_id: subject.request_id.clone(),
        error,
        notes,
        original,
        client: client_info(ev, primary),
        other_failures: other_failures(ev.exchanges, primary),
        seq_len: known.seq_len,
        max_tokens: known.max_tokens,
        model_limits: known.model_limits,
        key: known.key,
        rate_limit: subject.rate_limit.clone(),
        causes,
        cause_side: verdict.cause_side,
        support_needed: verdict.support_needed,
        matrix: ev.matrix.cloned(),
        observed: ev.observed.cloned(),
        timings: primary.map(|e| TimingInfo {
            time_to_headers_ms: e.timings.time_to_headers_ms,
            total_ms: e.timings.total_ms,
        }),
        exchanges: ev.exchanges.len(),
        logs: ev.logs.clone(),
        cuts: Vec::new(),
    }
}

/// The application's own failure as the summary states it: its time in UTC when its source gives a zone,
/// else as written and marked zone unknown.
fn original_failure(o: &Facts, reproduced: Option<bool>) -> OriginalFailure {
    let (time, as_written) = o
        .time
        .as_deref()
        .map(crate::summary::utc_time)
        .unwrap_or_default();
    OriginalFailure {
        status: o.status,
        message: o.message.clone(),
        request_id: o.request_id.clone(),
        time,
        time_zone_unknown: as_written.is_some(),
        time_as_written: as_written,
        source: o.source.clone(),
        reproduced,
    }
}

/// The causes, most likely first: the subject's, the context-window arithmetic, then (when the exchange above
/// does not show it) the application's own failure's, cited apart.
fn all_causes(
    ev: &Evidence<'_>,
    k: &Known,
    subject: &Facts,
    original: Option<&Facts>,
) -> Vec<Cause> {
    let mut causes = causes_for(ev, k, subject);
    if let Some(o) = original {
        for mut c in causes_for(ev, k, o) {
            if !causes.iter().any(|x| x.code == c.code) {
                c.evidence = format!("the application's failure ({}): {}", o.source, c.evidence);
                causes.push(c);
            }
        }
    }
    causes
}

/// Every failing main exchange but `primary`, most serious first, then in order.
fn other_failures(exchanges: &[Exchange], primary: Option<&Exchange>) -> Vec<OtherFailure> {
    let mut out: Vec<(u8, OtherFailure)> = exchanges
        .iter()
        .filter(|e| is_main(e) && Some(e.index) != primary.map(|p| p.index))
        .filter_map(|e| {
            let f = e.failure.as_ref()?;
            Some((
                f.severity(),
                OtherFailure {
                    source: exchange_source(e),
                    status: e.status(),
                    class: f.class,
                    message: f.message.chars().take(500).collect(),
                    client_side: f.client_side,
                },
            ))
        })
        .collect();
    out.sort_by_key(|(sev, _)| *sev);
    out.into_iter().map(|(_, o)| o).collect()
}

/// The client that sent the request: from the headers of the exchange the summary is about, else the
/// captured request's headers, else the paths of an SDK traceback in a log.
fn client_info(ev: &Evidence<'_>, primary: Option<&Exchange>) -> Option<ClientInfo> {
    let from_headers = |headers: &[crate::exchange::Header], source: String| {
        crate::input::sdklog::client_from_headers(headers).map(|mut c| {
            c.source = source;
            c
        })
    };
    primary
        .filter(|e| e.purpose != Purpose::Replay)
        .and_then(|e| from_headers(&e.request.headers, exchange_source(e)))
        .or_else(|| from_headers(&ev.request.headers, "request.json".into()))
        .or_else(|| ev.client_from_logs.clone())
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

/// Rate-limit evidence of one failure: the headers of its own exchange (if any) and its own message.
fn rate_limit_info(e: Option<&Exchange>, message: Option<&str>) -> RateLimitInfo {
    let h = |name: &str| -> Option<u64> { e?.response_header(name)?.trim().parse().ok() };
    let retry_after_s = e
        .and_then(|e| e.response_header("retry-after"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0);
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
        trial_endpoint_call_limit: h("x-trial-endpoint-call-limit"),
        trial_endpoint_call_remaining: h("x-trial-endpoint-call-remaining"),
        endpoint_monthly_call_limit: h("x-endpoint-monthly-call-limit"),
        retry_after_s,
        limit_hit,
    }
}

/// What the evidence says about the key, each finding naming the exchange or count it comes from.
fn key_info(ev: &Evidence<'_>, subject: &Facts) -> KeyInfo {
    let m = subject
        .message
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    let trial_header = ev.exchanges.iter().find_map(|e| {
        e.response_header("x-trial-endpoint-call-limit")
            .map(|v| (e, v.trim().to_string()))
    });
    let (kind, evidence, source) = if let Some((e, l)) = trial_header {
        (
            KeyKind::Trial,
            Some(format!("response header x-trial-endpoint-call-limit: {l}")),
            Some(exchange_source(e)),
        )
    } else if m.contains("trial key") || m.contains("trial token") {
        (
            KeyKind::Trial,
            Some("the 429 message names a trial key".to_string()),
            Some(subject.source.clone()),
        )
    } else if let Some(e) = ev
        .exchanges
        .iter()
        .find(|e| e.status().is_some_and(|s| (200..300).contains(&s)))
    {
        (
            KeyKind::Production,
            Some("a successful response carried no trial-key headers".to_string()),
            Some(exchange_source(e)),
        )
    } else if let Some(o) = ev.observed.filter(|o| o.successes > 0) {
        if o.successes_with_trial_headers > 0 {
            (
                KeyKind::Trial,
                Some(format!(
                    "{} of {} successful responses seen by observe carried x-trial-endpoint-call-limit",
                    o.successes_with_trial_headers, o.successes
                )),
                Some("observe.json".to_string()),
            )
        } else {
            (
                KeyKind::Production,
                Some(format!(
                    "{} successful responses seen by observe carried no trial-key headers",
                    o.successes
                )),
                Some("observe.json".to_string()),
            )
        }
    } else {
        (KeyKind::Unknown, None, None)
    };
    KeyInfo {
        kind,
        evidence,
        source,
        present: ev.key_present,
    }
}

fn cause(code: CauseCode, evidence: impl Into<String>, next_step: impl Into<String>) -> Cause {
    Cause {
        code,
        evidence: evidence.into(),
        next_step: next_step.into(),
        source: None,
    }
}

fn quote(m: &str) -> String {
    let m: String = m.chars().take(300).collect();
    format!("\"{m}\"")
}

/// `max_tokens N`, or `max_tokens not set` (never a made-up 0).
fn max_tokens_words(mt: Option<u64>) -> String {
    match mt {
        Some(n) => format!("max_tokens {n}"),
        None => "max_tokens not set".to_string(),
    }
}

/// A 400 about tokens: the API's own figures first (and said to be the API's), then the measurements, and a
/// documentation figure that disagrees with the API shown as such.
fn too_many_tokens(s: &Known, message: &str) -> Cause {
    static MAXTOK: OnceLock<Regex> = OnceLock::new();
    let lower = message.to_ascii_lowercase();
    let evidence = format!("the API said {}", quote(message));
    let maxtok = re(
        &MAXTOK,
        r"less than or equal to ([\d,]+).*?received ([\d,]+)",
    )
    .captures(message);
    if maxtok.is_some() || lower.contains("maximum output") {
        let figures = maxtok.and_then(|c| Some((num(&c[1])?, num(&c[2])?)));
        return max_output_cause(s, evidence, figures);
    }
    prompt_too_long_cause(s, message, evidence)
}

/// max_tokens over the model's output cap; `figures` are the API's own (cap, received), when it gave them.
fn max_output_cause(s: &Known, mut evidence: String, figures: Option<(u64, u64)>) -> Cause {
    let limits = s.model_limits.as_ref();
    let Some((cap, got)) = figures else {
        evidence.push_str(&format!("; {} sent", max_tokens_words(s.max_tokens)));
        let next = format!("lower max_tokens; see {}", docs::MODELS);
        return cause(CauseCode::MaxOutputExceeded, evidence, next);
    };
    evidence.push_str(&format!(
        "; the API's own figures: max_tokens {got} > the model's maximum output {cap}"
    ));
    if let Some(l) = limits {
        if let Some(t) = l.max_output_tokens {
            let source = l.max_output_source.unwrap_or(l.source);
            if t == cap {
                evidence.push_str(&format!("; {source} agrees ({t})"));
            } else {
                evidence.push_str(&format!(
                    "; {source} says {t}, which disagrees with the API"
                ));
            }
        }
    }
    let next = format!(
        "set max_tokens to at most {cap}, or omit it; see {}",
        docs::MODELS
    );
    cause(CauseCode::MaxOutputExceeded, evidence, next)
}

/// The input (with max_tokens) over the context window: the API's figures, then the measured arithmetic, then
/// a table's context length that disagrees with the API's limit.
fn prompt_too_long_cause(s: &Known, message: &str, mut evidence: String) -> Cause {
    static PROMPT: OnceLock<Regex> = OnceLock::new();
    static EXCEED: OnceLock<Regex> = OnceLock::new();
    let limits = s.model_limits.as_ref();
    let mut next = format!(
        "shorten the input or lower max_tokens; see {}",
        docs::MODELS
    );
    let mut api_limit = None;
    if let Some(c) = re(&PROMPT, r"cannot exceed ([\d,]+) - received ([\d,]+)").captures(message) {
        if let (Some(limit), Some(got)) = (num(&c[1]), num(&c[2])) {
            api_limit = Some(limit);
            evidence.push_str(&format!(
                "; the API's own figures: limit {limit}, received {got} ({} over)",
                got.saturating_sub(limit)
            ));
            next = format!(
                "cut at least {} tokens from the input, or lower max_tokens; see {}",
                got.saturating_sub(limit),
                docs::MODELS
            );
        }
    } else if let Some(c) = re(&EXCEED, r"exceeded by ([\d,]+) tokens").captures(message) {
        if let Some(over) = num(&c[1]) {
            evidence.push_str(&format!(
                "; the API's own figure: {over} tokens over the limit"
            ));
            next = format!(
                "cut at least {over} tokens from the input; see {}",
                docs::MODELS
            );
        }
    }
    let ctx = limits.and_then(|l| l.context_length);
    evidence.push_str(&measured_words(s, ctx));
    // The API's prompt limit is the context length less max_tokens; a table that says otherwise is shown.
    if let (Some(a), Some(ctx), Some(l)) = (api_limit, ctx, limits) {
        if a != ctx && a + s.max_tokens.unwrap_or(0) != ctx {
            evidence.push_str(&format!(
                "; {} gives context length {ctx}, which disagrees with the API's limit {a}",
                l.source
            ));
        }
    }
    cause(CauseCode::ContextLengthExceeded, evidence, next)
}

/// The measured input and max_tokens against the context length, as far as known.
fn measured_words(s: &Known, ctx: Option<u64>) -> String {
    match (s.seq_len.tokens, s.max_tokens, ctx) {
        (Some(t), Some(mt), Some(ctx)) => {
            // The arithmetic the API did: input + max_tokens against the context window.
            let total = t + mt;
            let cmp = if total > ctx { ">" } else { "<=" };
            format!(
                "; measured input {t} tokens ({}) + max_tokens {mt} = {total} {cmp} context length {ctx}",
                s.seq_len.method
            )
        }
        (t, mt, ctx) => {
            let mut w = String::new();
            if let Some(t) = t {
                w.push_str(&format!(
                    "; measured input {t} tokens ({})",
                    s.seq_len.method
                ));
            }
            w.push_str(&format!(", {}", max_tokens_words(mt)));
            if let Some(ctx) = ctx {
                w.push_str(&format!(", context length {ctx}"));
            }
            w
        }
    }
}

const SEND: &str = "send this bundle to support@cohere.com with the request id";

/// The causes that one failure's facts support, each citing that failure's source.
fn causes_for(ev: &Evidence<'_>, s: &Known, f: &Facts) -> Vec<Cause> {
    let mut out: Vec<Cause> = Vec::new();
    let message = f.message.clone().unwrap_or_default();
    if let Some(c) = finish_cause(s, f).or_else(|| transport_cause(f, &message)) {
        out.push(c);
    }
    if let Some(status) = f.status.filter(|st| *st >= 400) {
        let untyped = untyped_platform_errors(ev, s, f, status);
        let c = platform_cause(ev, f, status, &message)
            .or_else(|| platform_status_cause(ev, &untyped, status, &message))
            .unwrap_or_else(|| match status {
                429 => rate_limit_cause(ev, s, f, &message),
                404 => model_not_found(ev, s, f, &message),
                400..=499 => client_error_cause(ev, s, status, &message),
                _ => server_error_cause(ev, f, status, &message),
            });
        out.push(with_untold_types(ev, &untyped, status, c));
    }
    for c in &mut out {
        c.source.get_or_insert_with(|| f.source.clone());
    }
    out
}

/// Causes of a failure without an API error status: a timeout, a network failure, a broken stream, or the
/// client going away.
fn transport_cause(f: &Facts, message: &str) -> Option<Cause> {
    if f.client_side {
        return Some(cause(
            CauseCode::ClientCanceled,
            format!("the client ended the exchange, not the API: {message}"),
            "check the client's timeouts and cancellation (a timeout shorter than the generation, a closed stream); the API did not fail here",
        ));
    }
    Some(match f.class? {
        FailureClass::Timeout => cause(
            CauseCode::Timeout,
            if message.starts_with("no complete response") { message.to_string() } else { format!("no complete response: {message}") },
            "retry with a longer --timeout; if a streaming request, check time to first event; for long generations lower max_tokens or use streaming",
        ),
        FailureClass::Network => cause(
            CauseCode::NetworkError,
            format!("the connection failed: {message}"),
            "check proxies, firewalls and DNS between this machine and the API (HTTPS_PROXY, NO_PROXY); retry; if it persists, send this bundle",
        ),
        FailureClass::Stream => cause(
            CauseCode::StreamError,
            format!("the HTTP {} response did not complete: {}", f.status.unwrap_or(200), quote(message)),
            format!("retry the request; if it recurs with the same input, {SEND}"),
        ),
        FailureClass::Http => return None,
    })
}

/// Causes of a 4xx other than 429, by status class: the request itself (400, 422), access (401-403), the
/// model (404), the rest.
fn client_error_cause(ev: &Evidence<'_>, s: &Known, status: u16, message: &str) -> Cause {
    let lower = message.to_ascii_lowercase();
    match status {
        400 | 422 => request_error_cause(s, status, message, &lower),
        401..=403 => access_cause(ev, s, status, message, &lower),
        _ => other_client_cause(ev, s, status, message),
    }
}

/// A 400 or 422: too many tokens, too many texts, a parameter combination, a malformed field.
fn request_error_cause(s: &Known, status: u16, message: &str, lower: &str) -> Cause {
    let tokens = lower.contains("too many tokens")
        || lower.contains("context length")
        || lower.contains("too long")
        || lower.contains("maximum output");
    match status {
        400 if tokens => too_many_tokens(s, message),
        _ if lower.contains("total number of texts") || lower.contains("must be at most") => cause(
            CauseCode::InvalidParameterCombination,
            format!("the API said {}", quote(message)),
            "split the input into batches within the documented limit (e.g. 96 texts per embed call)",
        ),
        400 => cause(
            CauseCode::InvalidParameterCombination,
            format!("HTTP 400, which the support FAQ reads as an invalid combination of parameters: {}", quote(message)),
            format!("change the parameter combination the message names; see {}", docs::ERRORS),
        ),
        _ => cause(
            CauseCode::MalformedRequest,
            format!("HTTP 422, a malformed request (unsupported enum value or unknown parameter): {}", quote(message)),
            format!("fix the field the message names against the API reference for {} ({})", s.endpoint.name(), docs::ERRORS),
        ),
    }
}

/// A 401, 402 or 403: the key, billing, or what the key may use.
fn access_cause(ev: &Evidence<'_>, s: &Known, status: u16, message: &str, lower: &str) -> Cause {
    match status {
        401 => {
            let detail = if lower.contains("no api key") || !ev.key_present {
                "no API key was sent"
            } else if lower.contains("expired") {
                "the key has expired"
            } else {
                "the key was sent but not accepted"
            };
            cause(
                CauseCode::InvalidApiKey,
                format!("HTTP 401 {}: {detail}", quote(message)),
                format!("set CO_API_KEY to a valid key from {}; check for stray whitespace or a key from another organisation", docs::API_KEYS),
            )
        }
        402 => cause(
            CauseCode::PaymentRequired,
            format!("HTTP 402: {}", quote(message)),
            format!(
                "add or update the payment method, or raise the spending limit, at {}",
                docs::BILLING
            ),
        ),
        _ => {
            let model = s.model.clone().unwrap_or_else(|| "(none given)".into());
            cause(
                CauseCode::Forbidden,
                format!("HTTP 403: {}", quote(message)),
                format!("check that this key's organisation may use model {model}; {SEND}"),
            )
        }
    }
}

/// Any other 4xx: AWS model errors and timeouts, deny-listed tokens, cancellation.
fn other_client_cause(ev: &Evidence<'_>, s: &Known, status: u16, message: &str) -> Cause {
    match status {
        498 => cause(
            CauseCode::BlockedToken,
            format!("HTTP 498: the request or response contains a deny-listed token: {}", quote(message)),
            "rephrase the input; if you believe it is wrong, send this bundle",
        ),
        499 => cause(
            CauseCode::ClientCanceled,
            format!("HTTP 499, request cancelled by the client: {}", quote(message)),
            "check client-side timeouts and cancellation (a closed stream or a timeout shorter than the generation time)",
        ),
        _ => status_cause(ev, status, message).unwrap_or_else(|| cause(
            CauseCode::InvalidParameterCombination,
            format!("HTTP {status}: {}", quote(message)),
            format!("check the request against the API reference for {} ({})", s.endpoint.name(), docs::ERRORS),
        )),
    }
}

/// A status with no reasoning of its own: what the knowledge data says it means, with its source.
fn status_cause(ev: &Evidence<'_>, status: u16, message: &str) -> Option<Cause> {
    let spec = knowledge().status(status, ev.platform)?;
    Some(cause(
        spec.cause,
        format!(
            "HTTP {status} ({}): {}; {} ({})",
            spec.name,
            quote(message),
            spec.meaning,
            spec.source
        ),
        spec.next_step.clone(),
    ))
}

/// A cloud platform's own error type, read from its data entry: the type decides the cause, not the status
/// (Bedrock's `ServiceQuotaExceededException` is a 400, its `ModelNotReadyException` a 429).
fn platform_cause(ev: &Evidence<'_>, f: &Facts, status: u16, message: &str) -> Option<Cause> {
    let t = f.error_type.as_deref()?;
    let pe = platform::lookup(ev.platform, t)?;
    let mut evidence = format!(
        "{} answered {status} {} (the platform's error type): {}; {} ({})",
        ev.platform.name(),
        pe.error_type,
        quote(message),
        pe.meaning,
        pe.source
    );
    if pe.retryable {
        evidence.push_str("; transient: retrying can succeed");
    }
    if ev.platform.is_aws() && matches!(status, 401 | 404 | 429) {
        evidence.push_str(&format!(
            "; the support FAQ's row for {status} is not relevant on AWS"
        ));
    }
    Some(cause(pe.cause, evidence, pe.next_step.clone()))
}

/// The error types a cloud platform documents for a status whose response named none (empty on Cohere's API, or
/// when the response named its type): read once per failure, for [`platform_status_cause`] and
/// [`with_untold_types`].
fn untyped_platform_errors(
    ev: &Evidence<'_>,
    s: &Known,
    f: &Facts,
    status: u16,
) -> Vec<&'static PlatformError> {
    if f.error_type.is_some() || ev.platform == Platform::Cohere {
        return Vec::new();
    }
    platform::by_status(ev.platform, status, streamed(ev, s))
}

/// A cloud platform's status with no error type named: the cause of the error types the platform documents for
/// that status, when they all agree on one (Bedrock's 403: `AccessDeniedException`; its 424 without a stream:
/// `ModelErrorException`, since `ModelStreamErrorException` comes only from a streaming call).
fn platform_status_cause(
    ev: &Evidence<'_>,
    types: &[&PlatformError],
    status: u16,
    message: &str,
) -> Option<Cause> {
    let first = types.first()?;
    if types.iter().any(|t| t.cause != first.cause) {
        return None;
    }
    let names: Vec<&str> = types.iter().map(|t| t.error_type.as_str()).collect();
    let mut evidence = format!(
        "{} answered {status} without naming an error type: {}; the type it documents for {status} ({}) means: {} ({})",
        ev.platform.name(),
        quote(message),
        names.join(" or "),
        first.meaning,
        first.source
    );
    if first.retryable {
        evidence.push_str("; transient: retrying can succeed");
    }
    Some(cause(first.cause, evidence, first.next_step.clone()))
}

/// Whether the request streamed: `"stream": true` in its body, or Bedrock's streaming route in its URL.
fn streamed(ev: &Evidence<'_>, s: &Known) -> bool {
    s.body.get("stream").and_then(|v| v.as_bool()) == Some(true)
        || ev
            .request
            .url
            .as_deref()
            .is_some_and(|u| u.contains("invoke-with-response-stream"))
}

/// A status-only cause on a platform whose error types for that status disagree says that it could not tell
/// which one it was.
fn with_untold_types(
    ev: &Evidence<'_>,
    types: &[&PlatformError],
    status: u16,
    mut c: Cause,
) -> Cause {
    if types.len() > 1 && types.iter().any(|t| t.cause != types[0].cause) {
        let names: Vec<&str> = types.iter().map(|t| t.error_type.as_str()).collect();
        c.evidence.push_str(&format!(
            "; could not tell which of {}'s error types for {status} this was ({}): the response named none",
            ev.platform.name(),
            names.join(", ")
        ));
    }
    c
}

/// A 2xx generation that ended badly: cut by `max_tokens` before any text (with the thinking settings that
/// spent it), or stopped by a timeout.
fn finish_cause(s: &Known, f: &Facts) -> Option<Cause> {
    let fin = f
        .finish
        .as_ref()
        .filter(|_| f.class == Some(FailureClass::Stream))?;
    if fin.reason.eq_ignore_ascii_case("TIMEOUT") {
        return Some(cause(
            CauseCode::Timeout,
            format!(
                "HTTP 200 whose generation ended with finish_reason {} ({})",
                fin.reason, f.source
            ),
            "retry; for long generations lower max_tokens or stream the response",
        ));
    }
    if !(fin.hit_max_tokens() && fin.text_chars == 0) {
        return None;
    }
    let thinking = s.body.get("thinking").filter(|t| !t.is_null());
    let reasoning = s
        .model
        .as_deref()
        .and_then(|m| knowledge().model(m))
        .is_some_and(|m| m.reasoning);
    let mut evidence = format!(
        "HTTP 200 with finish_reason {} and no text: the output was cut by {}",
        fin.reason,
        max_tokens_words(s.max_tokens)
    );
    if fin.thinking {
        evidence.push_str(" after the model spent it thinking");
    }
    match thinking {
        Some(t) => evidence.push_str(&format!("; thinking sent: {t}")),
        None if reasoning => evidence.push_str("; thinking not set (on by default for this reasoning model, text-generation/reasoning.mdx)"),
        None => {}
    }
    let budget = thinking
        .and_then(|t| t.get("token_budget"))
        .and_then(|b| b.as_u64());
    let next = match budget {
        Some(b) => format!("raise max_tokens well above thinking.token_budget ({b}), or lower the budget; thinking tokens count against max_tokens"),
        None if fin.thinking || reasoning => "raise max_tokens, or set thinking.token_budget below it, or disable thinking ({\"type\": \"disabled\"}); thinking tokens count against max_tokens".to_string(),
        None => "raise max_tokens or omit it".to_string(),
    };
    Some(cause(CauseCode::OutputTruncated, evidence, next))
}

/// A 404: the model the failure names (its own words first, else the request's), read against the docs'
/// models: retired (when, and the replacements), deprecated, served by other endpoints, or not a model ID
/// (the nearest real ones).
fn model_not_found(ev: &Evidence<'_>, s: &Known, f: &Facts, message: &str) -> Cause {
    let model = f
        .model_named
        .clone()
        .or_else(|| (!f.from_log).then(|| s.model.clone()).flatten());
    let shown = model.clone().unwrap_or_else(|| {
        if f.from_log {
            "(not named in the log)".into()
        } else {
            "(none given)".into()
        }
    });
    let mut evidence = format!("HTTP 404 for model {shown}: {}", quote(message));
    let mut next = format!(
        "use an exact model ID from {} (or GET /v1/models); fine-tuned models need their full ID",
        docs::MODELS
    );
    let k = knowledge();
    match model.as_deref().map(|m| (m, k.model(m))) {
        Some((_, Some(m))) if m.status == ModelStatus::Retired => {
            evidence.push_str(&format!(
                "; {} was retired{} ({})",
                m.id,
                m.retired_on.as_deref().map(|d| format!(" on {d}")).unwrap_or_default(),
                m.source
            ));
            if !m.replacements.is_empty() {
                evidence.push_str(&format!("; the docs name as replacements: {}", m.replacements.join(", ")));
                next = format!("move to a replacement: {}; see {}", m.replacements.join(", "), docs::DEPRECATIONS);
            }
        }
        Some((_, Some(m))) if m.status == ModelStatus::Deprecated => {
            evidence.push_str(&format!(
                "; {} is deprecated{} ({}) and served only to existing users",
                m.id,
                m.deprecated_on.as_deref().map(|d| format!(" since {d}")).unwrap_or_default(),
                m.source
            ));
            if !m.replacements.is_empty() {
                next = format!("move to a replacement: {}; see {}", m.replacements.join(", "), docs::DEPRECATIONS);
            }
        }
        Some((_, Some(m))) if !m.endpoints.is_empty() && !m.endpoints.iter().any(|e| e == s.endpoint.name()) => {
            evidence.push_str(&format!(
                "; {} is a published model, served by {} and not by {} ({})",
                m.id,
                m.endpoints.join(", "),
                s.endpoint.name(),
                m.source
            ));
            next = format!("send {} requests to {}", m.id, m.endpoints.join(" or "));
        }
        Some((_, Some(m))) => evidence.push_str(&format!(
            "; {} is a published model ({}), so check that this key's organisation has access to it and the endpoint ({}) serves it",
            m.id,
            m.source,
            s.endpoint.name()
        )),
        Some((name, None)) => {
            let similar: Vec<&str> = k.similar_models(name).iter().map(|m| m.id.as_str()).collect();
            evidence.push_str(&format!(
                "; not a model ID in Cohere's docs (as of {})",
                crate::knowledge::DOCS_SNAPSHOT
            ));
            if !similar.is_empty() {
                evidence.push_str(&format!("; close matches: {}", similar.join(", ")));
                next = format!("use an exact model ID, e.g. {}; see {}", similar.join(" or "), docs::MODELS);
            }
        }
        None => {}
    }
    if ev.platform.is_aws() {
        evidence.push_str(
            "; on AWS a 404 means the model ID or endpoint does not exist in this region (the support FAQ's 404 row is not relevant on AWS)",
        );
    }
    cause(CauseCode::ModelNotFound, evidence, next)
}

/// The notes of a log's failure that is not the request in the bundle: another model, endpoint or request id.
/// Each claim then names its own request.
fn mismatch_notes(
    ev: &Evidence<'_>,
    k: &Known,
    subject: &Facts,
    original: Option<&Facts>,
) -> Vec<Note> {
    let Some(o) = original.filter(|o| o.from_log) else {
        return Vec::new();
    };
    let mut diffs = Vec::new();
    if let (Some(named), Some(req)) = (o.model_named.as_deref(), k.model.as_deref()) {
        let same = named == req
            || knowledge()
                .model(named)
                .zip(knowledge().model(req))
                .is_some_and(|(a, b)| a.id == b.id);
        if !same {
            diffs.push(format!("its model is {named}, the request's is {req}"));
        }
    }
    if let Some(e) = o.endpoint.filter(|e| *e != k.endpoint) {
        diffs.push(format!(
            "its endpoint is {e}, the request's is {}",
            k.endpoint
        ));
    }
    // A replay (replay, demo, the library's) always gets a new request id: only a recorded or observed
    // exchange can be compared with the log's by id.
    let replayed = ev.exchanges.iter().any(|e| e.purpose == Purpose::Replay);
    if !replayed {
        if let (Some(a), Some(b)) = (o.request_id.as_deref(), subject.request_id.as_deref()) {
            if a != b && !subject.from_log {
                diffs.push(format!("its request id is {a}, the exchange's is {b}"));
            }
        }
    }
    if diffs.is_empty() {
        return Vec::new();
    }
    let what = if replayed {
        "the replay"
    } else {
        "this bundle's request"
    };
    vec![Note {
        kind: NoteKind::Mismatch,
        text: format!(
            "the failure in {} is not the request in request.json: {}; {what} may not be the failing request, and each claim below names its own request",
            o.source,
            diffs.join("; ")
        ),
        source: format!("{}; request.json", o.source),
    }]
}

/// What the run itself left out: the sweep asked for and not run (citing the exchange it judged by), and logs
/// that never appeared.
fn run_notes(ev: &Evidence<'_>, primary: Option<&Exchange>) -> Vec<Note> {
    let swept = ev.not_swept.map(|why| Note {
        kind: NoteKind::NotSwept,
        text: why.to_string(),
        source: primary.map_or_else(|| "request.json".to_string(), exchange_source),
    });
    let missing = ev.missing_logs.iter().map(|l| Note {
        kind: NoteKind::MissingLog,
        text: format!("the log {l} given with --log never appeared, so it is not in the bundle"),
        source: l.clone(),
    });
    let request = ev.request_missing.map(|how| Note {
        kind: NoteKind::RequestMissing,
        text: format!(
            "the request was not captured, only the response and what the error held: the request body, its \
             sequence length, its max_tokens and whether a key was sent could not be told; {how}"
        ),
        source: primary.map_or_else(|| "the caller".to_string(), exchange_source),
    });
    request.into_iter().chain(swept).chain(missing).collect()
}

/// What the docs say about the request's model besides its limits: a deprecation or retirement, and doc
/// pages that disagree about it.
fn docs_notes(k: &Known) -> Vec<Note> {
    let Some(m) = k.model.as_deref().and_then(|m| knowledge().model(m)) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    let replacements = if m.replacements.is_empty() {
        String::new()
    } else {
        format!("; replacements: {}", m.replacements.join(", "))
    };
    match m.status {
        ModelStatus::Retired => notes.push(Note {
            kind: NoteKind::Docs,
            text: format!(
                "{} was retired{}{replacements}",
                m.id,
                m.retired_on
                    .as_deref()
                    .map(|d| format!(" on {d}"))
                    .unwrap_or_default()
            ),
            source: m.source.clone(),
        }),
        ModelStatus::Deprecated => notes.push(Note {
            kind: NoteKind::Docs,
            text: format!(
                "{} is deprecated{}{}{replacements}",
                m.id,
                m.deprecated_on
                    .as_deref()
                    .map(|d| format!(" since {d}"))
                    .unwrap_or_default(),
                m.retired_on
                    .as_deref()
                    .map(|d| format!(", shut down on {d}"))
                    .unwrap_or_default()
            ),
            source: m.source.clone(),
        }),
        ModelStatus::Live => {}
    }
    for c in &m.conflicts {
        let own = match c.field.as_str() {
            "context_length" => m.context_length.map(|v| v.to_string()),
            "max_output" => m.max_output.map(|v| v.to_string()),
            "per_input_limit" => m.per_input_limit.map(|v| v.to_string()),
            "status" => Some(m.status.as_str().to_string()),
            "deprecated_on" => m.deprecated_on.clone(),
            "retired_on" => m.retired_on.clone(),
            _ => None,
        };
        notes.push(Note {
            kind: NoteKind::Docs,
            text: format!(
                "doc pages disagree on {}'s {}: {} gives {}; {} says {} ({})",
                m.id,
                c.field,
                m.source,
                own.as_deref().unwrap_or("nothing"),
                c.source,
                c.says,
                c.value
            ),
            source: format!("{}; {}", m.source, c.source),
        });
    }
    notes
}

/// A 429: the rate-limit evidence of this failure's own exchange and message.
fn rate_limit_cause(ev: &Evidence<'_>, s: &Known, f: &Facts, message: &str) -> Cause {
    let rl = &f.rate_limit;
    let trial = rl.trial_endpoint_call_limit.is_some()
        || rl
            .limit_hit
            .as_deref()
            .is_some_and(|h| h.starts_with("trial"))
        || (s.key.kind == KeyKind::Trial);
    let mut evidence = format!("HTTP 429: {}", quote(message));
    if let Some(l) = rl.trial_endpoint_call_limit {
        evidence.push_str(&format!("; x-trial-endpoint-call-limit: {l}"));
    }
    if let Some(r) = rl.trial_endpoint_call_remaining {
        evidence.push_str(&format!("; x-trial-endpoint-call-remaining: {r}"));
    }
    if let Some(r) = rl.retry_after_s {
        evidence.push_str(&format!("; Retry-After: {r}s"));
    }
    if let Some(h) = &rl.limit_hit {
        evidence.push_str(&format!("; limit hit: {h}"));
    }
    if ev.platform.is_aws() {
        cause(
            CauseCode::RateLimited,
            evidence,
            "retry with backoff; if it recurs, request a quota increase in AWS Service Quotas",
        )
    } else if trial {
        cause(
            CauseCode::RateLimitedTrial,
            evidence,
            format!(
                "wait and retry with backoff, or use a production key (see {})",
                docs::RATE_LIMITS
            ),
        )
    } else {
        cause(
            CauseCode::RateLimited,
            evidence,
            format!("retry after the Retry-After delay with exponential backoff and fewer concurrent requests; see {}", docs::RATE_LIMITS),
        )
    }
}

/// A 5xx (or any other status ≥ 500).
fn server_error_cause(_ev: &Evidence<'_>, f: &Facts, status: u16, message: &str) -> Cause {
    match status {
        500 | 502 => cause(
            CauseCode::ServerError,
            format!("HTTP {status} from the API: {}", quote(message)),
            format!("retry with backoff; if it persists, {SEND}"),
        ),
        503 => cause(
            CauseCode::ServiceUnavailable,
            format!("HTTP 503: {}", quote(message)),
            format!("retry with backoff and check {}", docs::STATUS),
        ),
        504 => {
            let after = f
                .total_ms
                .map(|t| format!(" after {t:.0} ms"))
                .unwrap_or_default();
            cause(
                CauseCode::GatewayTimeout,
                format!("HTTP 504{after}: {}", quote(message)),
                "retry; for long generations lower max_tokens or stream the response",
            )
        }
        _ => status_cause(_ev, status, message).unwrap_or_else(|| {
            cause(
                CauseCode::ServerError,
                format!("HTTP {status}: {}", quote(message)),
                SEND.to_string(),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_a_message_names() {
        let m = |s: &str| model_named(Some(s));
        assert_eq!(
            m("model 'command-xlarge-nightly' not found, make sure the correct model ID was used")
                .as_deref(),
            Some("command-xlarge-nightly")
        );
        assert_eq!(
            m(r#"model "rerank-v4.0" is not available"#).as_deref(),
            Some("rerank-v4.0")
        );
        assert_eq!(
            m("model cohere.command-r-v1:0 does not exist").as_deref(),
            Some("cohere.command-r-v1:0")
        );
        assert_eq!(m("invalid request: model must be set"), None);
        assert_eq!(m("the model failed to process the input"), None);
    }
}
