//! Shared. `summary.json`: the machine-readable answer to the support FAQ's questions (schema version 1).
//! Every field is documented in README.md under "summary.json".
//!
//! Reading a bundle's `summary.json`:
//!
//! ```
//! use cohere_bundle_core::cohere::Side;
//! use cohere_bundle_core::summary::{LimitsSource, Mode, SeqLenMethod, Summary, SCHEMA_VERSION};
//! use cohere_bundle_core::{CauseCode, Endpoint, FailureClass, KeyKind, Platform};
//!
//! let s: Summary = serde_json::from_str(include_str!("../tests/fixtures/summary-v1.json"))?;
//! assert_eq!(s.schema_version, SCHEMA_VERSION);
//! assert_eq!((s.mode, s.endpoint, s.platform), (Mode::Demo, Endpoint::ChatV2, Platform::Cohere));
//! assert_eq!(s.status_label().as_deref(), Some("400"));
//!
//! // The error of the exchange the summary is about (`ErrorInfo`), and the one the application saw
//! // (`OriginalFailure`), kept apart.
//! let error = s.error.as_ref().unwrap();
//! assert_eq!(error.class, FailureClass::Http);
//! assert_eq!(error.faq_meaning.as_deref(), Some("invalid combination of parameters"));
//! let original = s.original.as_ref().unwrap();
//! assert_eq!((original.source.as_str(), original.reproduced), ("logs/app.log:11", Some(true)));
//! assert!(s.other_failures.is_empty());
//!
//! // Who sent it (`ClientInfo`), how big it was (`SeqLen`, `ModelLimits`) and what is known of the key.
//! assert_eq!(s.client.as_ref().unwrap().runtime.as_deref(), Some("python 3.11"));
//! assert_eq!((s.seq_len.tokens, s.seq_len.method), (Some(108), SeqLenMethod::Tokenizer));
//! assert_eq!((s.max_tokens, s.seq_len.prompt_tokens), (Some(8192), None));
//! let limits = s.model_limits.as_ref().unwrap();
//! assert_eq!((limits.max_output_tokens, limits.source), (Some(4000), LimitsSource::ModelsApi));
//! assert_eq!(limits.max_output_source, Some(LimitsSource::DocsTable));
//! assert_eq!((s.key.kind, s.key.present), (KeyKind::Unknown, true));
//! assert_eq!(s.rate_limit.retry_after_s, None);
//! assert_eq!(s.timings.as_ref().unwrap().time_to_headers_ms, Some(10.12));
//!
//! // The likely cause (`Cause`), whose side it is on, and whether to write to support.
//! let cause = &s.causes[0];
//! assert_eq!(cause.code, CauseCode::MaxOutputExceeded);
//! assert!(cause.next_step.starts_with("set max_tokens to at most 4000"));
//! assert_eq!((s.cause_side, s.support_needed), (Side::User, false));
//!
//! // The closed sets of names are typed, and written as the same strings.
//! assert_eq!(Mode::Demo.as_str(), "demo");
//! assert_eq!("tokenizer".parse::<SeqLenMethod>(), Ok(SeqLenMethod::Tokenizer));
//! assert_eq!(serde_json::to_value(&s)?["seq_len"]["method"], "tokenizer");
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! The shape sweep's result, as `summary.matrix` and `matrix.json` hold it:
//!
//! ```
//! use cohere_bundle_core::summary::{CellStatus, InconclusiveReason, MatrixResult, Phase, Unknown, Verdict};
//! use cohere_bundle_core::FailureClass;
//!
//! let m: MatrixResult = serde_json::from_value(serde_json::json!({
//!     "cells": [
//!         {"input_tokens": 108, "target_input_tokens": 108, "max_tokens": 8192, "status": 400,
//!          "class": "http", "message": "too many tokens", "phase": "replay"},
//!         {"input_tokens": 108, "target_input_tokens": 108, "max_tokens": 1000, "status": 200, "phase": "grid"},
//!         {"input_tokens": 20, "target_input_tokens": 20, "max_tokens": null, "status": "timeout",
//!          "class": "timeout", "phase": "repeat"}
//!     ],
//!     "verdict": "max_tokens", "inconclusive_reason": null,
//!     "boundary_input_tokens": null, "boundary_max_tokens": 1000,
//!     "calls": 3, "max_calls": 12, "rate_limited": 0, "waited_s": 0.0,
//!     "input_measure": "tokenizer", "input_axis": "text", "input_varied": ["messages"], "input_parts": 1,
//!     "input_scaling": "largest_first", "original_input_tokens": 108, "smallest_input_tokens": 20,
//!     "small_input_tokens": 64, "stopped_early": false, "stop_reason": null, "max_wait_s": 60.0,
//!     "conclusion": "fails only with max_tokens above 1000"
//! }))?;
//! assert_eq!((m.verdict, m.verdict.as_str()), (Verdict::MaxTokens, "max_tokens"));
//! assert_eq!((m.cells[0].status, m.cells[0].phase), (CellStatus::Http(400), Phase::Replay));
//! assert_eq!(m.cells[2].status, CellStatus::NoResponse(FailureClass::Timeout));
//! assert_eq!(m.cells[2].status.to_string(), "timeout");
//! assert_eq!(CellStatus::Unknown(Unknown::None).to_string(), "none");
//! assert_eq!(m.to_value()["boundary_max_tokens"], 1000);
//! assert_eq!(InconclusiveReason::BudgetExhausted.as_str(), "budget_exhausted");
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cohere::{CauseCode, Endpoint, KeyKind, Platform, Side};
use crate::exchange::FailureClass;
use serde_json::Value;

/// The schema version written into `summary.json`.
///
/// See the [module example](crate::summary).
pub const SCHEMA_VERSION: u32 = 1;

str_enum! {
    /// How a failure was captured.
    ///
    /// See the [module example](crate::summary).
    pub enum Mode {
        /// `cohere-bundle replay`: the request was sent again.
        Replay = "replay",
        /// `cohere-bundle observe`: a running program's calls went through the recording proxy.
        Observe = "observe",
        /// `cohere-bundle bundle`: offline, from a request and its recorded response.
        Bundle = "bundle",
        /// The library, inside an application's error handler.
        Library = "library",
        /// `cohere-bundle demo`: against the embedded simulator.
        Demo = "demo",
    }
}

str_enum! {
    /// How the sequence length was measured.
    ///
    /// See the [module example](crate::summary).
    pub enum SeqLenMethod {
        /// From the response's `usage`.
        Usage = "usage",
        /// With the model's own tokenizer.
        Tokenizer = "tokenizer",
        /// With the API's `/v1/tokenize`.
        Api = "api",
        /// Characters / 4.
        Estimate = "estimate",
        /// Not measured.
        Unknown = "unknown",
    }
}

impl Default for SeqLenMethod {
    fn default() -> Self {
        SeqLenMethod::Unknown
    }
}

str_enum! {
    /// Where a model's limits come from.
    ///
    /// See the [module example](crate::summary).
    pub enum LimitsSource {
        /// The models API (`GET /v1/models/{model}`).
        ModelsApi = "models_api",
        /// The table of models in Cohere's docs, built into the tool.
        DocsTable = "docs_table",
    }
}

/// The summary of one support bundle.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The tool that wrote it, e.g. `cohere-bundle 0.1.0`.
    pub tool: String,
    /// When the bundle was made (RFC 3339, UTC).
    pub created_at: String,
    /// How the failure was captured.
    pub mode: Mode,
    /// The endpoint, e.g. `v2/chat`.
    pub endpoint: Endpoint,
    /// The model named in the request, verbatim.
    pub model: Option<String>,
    /// Where the request was sent.
    pub platform: Platform,
    /// The base URL used for a replay (never with credentials).
    pub base_url: Option<String>,
    /// The HTTP status of the failing exchange, if a response arrived.
    pub status: Option<u16>,
    /// `x-debug-trace-id`, else the error body's `id`.
    pub request_id: Option<String>,
    /// The error, or `None` when the replay succeeded.
    pub error: Option<ErrorInfo>,
    /// What the reader must know before the causes, each from a named source: the replay may not be the failing
    /// request, doc pages disagree about the model, the model is deprecated, a limit worth checking, why the
    /// sweep did not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// The failure the application saw, when a log, an SDK traceback or the error handler's own record
    /// shows it: kept apart from the exchange above, never merged with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<OriginalFailure>,
    /// Which client made the request: SDK, version, runtime, from its headers or a traceback's paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientInfo>,
    /// The other failing exchanges, besides the one the summary is about, most serious first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_failures: Vec<OtherFailure>,
    /// The request's sequence length.
    pub seq_len: SeqLen,
    /// The generation max tokens asked for (`max_tokens`), if the request set it.
    pub max_tokens: Option<u64>,
    /// The model's limits as far as known.
    pub model_limits: Option<ModelLimits>,
    /// What the evidence says about the key.
    pub key: KeyInfo,
    /// Rate-limit evidence seen in the exchanges.
    pub rate_limit: RateLimitInfo,
    /// Likely causes, most likely first.
    pub causes: Vec<Cause>,
    /// Whose side the most likely cause is on (`unknown` when there is none); see [`CauseCode::side`].
    #[serde(default)]
    pub cause_side: Side,
    /// Whether to write to Cohere support: false when the most likely cause is on the user's side (support is
    /// then needed only if its next step does not fix it).
    #[serde(default = "yes")]
    pub support_needed: bool,
    /// The shape matrix, when one was swept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<MatrixResult>,
    /// In observe mode: counts over every exchange the proxy saw, successes included, by shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<ObserveStats>,
    /// Timings of the failing exchange in milliseconds.
    pub timings: Option<TimingInfo>,
    /// The number of exchanges recorded in `exchanges/`.
    pub exchanges: usize,
    /// The logs included under `logs/`, by bundle path.
    pub logs: Vec<String>,
    /// What was cut to keep the bundle within its size budget.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Summary {
    /// The verdict this summary states ([`SupportVerdict::of`] on its causes, failure and mode): the same in
    /// every rendering.
    ///
    /// Example: [`SupportVerdict`].
    pub fn verdict(&self) -> SupportVerdict {
        SupportVerdict::of(&self.causes, self.failed(), self.mode)
    }

    /// Whether any failure was seen: an error in the exchange the summary is about, or the application's own
    /// failure (from a log or a handler's record) that the replay did not reproduce.
    ///
    /// Example: [`SupportVerdict`].
    pub fn failed(&self) -> bool {
        failure_seen(self.error.as_ref(), self.original.as_ref())
    }

    /// The failure in one word, for file names and the email subject: the HTTP status (`404`), else the
    /// failure class (`timeout`); `None` with neither.
    ///
    /// ```
    /// # let mut s: cohere_bundle_core::Summary = serde_json::from_str(include_str!("../tests/fixtures/summary-v1.json")).unwrap();
    /// s.status = Some(404);
    /// assert_eq!(s.status_label().as_deref(), Some("404"));
    /// ```
    pub fn status_label(&self) -> Option<String> {
        match (&self.status, &self.error) {
            (Some(st), _) => Some(st.to_string()),
            (None, Some(e)) => Some(e.class.to_string()),
            (None, None) => None,
        }
    }
}

str_enum! {
    /// Whether to write to support, as one word.
    ///
    /// Example: [`SupportVerdict`].
    pub enum VerdictKind {
        /// The cause is on the user's side: the next step fixes it.
        UserSide = "user_side",
        /// The cause is on Cohere's side: write to support.
        CohereSide = "cohere_side",
        /// A failure whose side the evidence does not show: write to support unless the next step fixes it.
        Unknown = "unknown",
        /// The replay succeeded and nothing else shows a failure: not reproduced, support not needed now.
        NotReproduced = "not_reproduced",
        /// Nothing failed (observe saw no failure, an offline bundle of a success).
        NoFailure = "no_failure",
    }
}

/// The one verdict a bundle states: whose side the cause is on, whether to write to support, and the line
/// that says so. The terminal, report.md, report.html, summary.json, `--json` and the email draft all render
/// this one value; [`SupportVerdict::of`] is the only place it is decided.
///
/// ```
/// use cohere_bundle_core::summary::{Cause, Mode, SupportVerdict, VerdictKind};
/// use cohere_bundle_core::CauseCode;
/// let cause = |code| Cause { code, evidence: String::new(), next_step: String::new(), source: None };
/// let v = SupportVerdict::of(&[cause(CauseCode::ModelNotFound)], true, Mode::Replay);
/// assert_eq!((v.kind, v.support_needed), (VerdictKind::UserSide, false));
/// let v = SupportVerdict::of(&[cause(CauseCode::ServerError)], true, Mode::Replay);
/// assert!(v.support_needed && v.line.contains("Cohere's side"));
/// // A replay that succeeded with no other evidence: not reproduced, and no ticket for nothing.
/// let v = SupportVerdict::of(&[], false, Mode::Replay);
/// assert_eq!((v.kind, v.support_needed), (VerdictKind::NotReproduced, false));
/// assert!(v.line.contains("observe"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportVerdict {
    /// The verdict in one word.
    pub kind: VerdictKind,
    /// Whose side the most likely cause is on.
    pub cause_side: Side,
    /// Whether to write to Cohere support now.
    pub support_needed: bool,
    /// The sentence that says it, the same everywhere it is shown.
    pub line: String,
}

impl SupportVerdict {
    /// Decides the verdict from the causes (most likely first), whether a failure was seen at all (an error
    /// in the exchange, or the application's own failure in a log or record), and the mode.
    ///
    /// Example: [`SupportVerdict`].
    pub fn of(causes: &[Cause], failed: bool, mode: Mode) -> SupportVerdict {
        let support = crate::cohere::SUPPORT_EMAIL;
        let first = causes.first();
        let cause_side = first.map(|c| c.code.side()).unwrap_or_default();
        let (kind, line) = match (first, failed) {
            (Some(c), _) if cause_side == Side::User => (
                VerdictKind::UserSide,
                format!("Support is not needed: the cause ({}) is on your side, so the next step fixes it; write to {support} only if it does not.", c.code),
            ),
            (Some(c), _) if cause_side == Side::Cohere => (
                VerdictKind::CohereSide,
                format!("Support is needed: the cause ({}) is on Cohere's side; send this bundle to {support}.", c.code),
            ),
            (Some(_), _) | (None, true) => (
                VerdictKind::Unknown,
                format!("Support is needed unless the next step fixes it: the evidence does not show whose side the cause is on; send this bundle to {support}."),
            ),
            (None, false) if matches!(mode, Mode::Replay | Mode::Demo) => (
                VerdictKind::NotReproduced,
                format!("Support is not needed now: the request did not fail when replayed (not reproduced). If the failure comes back, capture it as it happens (cohere-bundle observe -- <your command>, or the Python hooks) and send that bundle to {support}."),
            ),
            (None, false) => (
                VerdictKind::NoFailure,
                format!("Support is not needed: no request failed. If a failure comes, capture it as it happens (cohere-bundle observe -- <your command>, or the Python hooks) and send that bundle to {support}."),
            ),
        };
        SupportVerdict {
            kind,
            cause_side,
            // Support for a failure whose cause is not on the user's side (Side::support_needed); never for
            // nothing.
            support_needed: !matches!(kind, VerdictKind::NotReproduced | VerdictKind::NoFailure)
                && cause_side.support_needed(),
            line,
        }
    }
}

/// A time as a source writes it, read into RFC 3339 UTC when it says its zone: RFC 3339 or ISO 8601 with an
/// offset, an HTTP date (`Tue, 24 Nov 2026 16:02:01 GMT`). Returns `(utc, as_written)`: a time with no zone
/// (`2026-12-06 05:20:01,880`) or one that does not parse is kept as written, with no UTC form.
///
/// ```
/// use cohere_bundle_core::summary::utc_time;
/// assert_eq!(utc_time("Tue, 24 Nov 2026 16:02:01 GMT"), (Some("2026-11-24T16:02:01Z".into()), None));
/// assert_eq!(utc_time("2026-12-06T06:20:01.5+01:00").0.as_deref(), Some("2026-12-06T05:20:01Z"));
/// assert_eq!(utc_time("2026-12-06 05:20:01,880"), (None, Some("2026-12-06 05:20:01,880".into())));
/// ```
pub fn utc_time(text: &str) -> (Option<String>, Option<String>) {
    use chrono::{DateTime, SecondsFormat, Utc};
    let t = text.trim();
    let parsed = DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_rfc2822(t))
        .or_else(|_| DateTime::parse_from_str(&t.replace(',', "."), "%Y-%m-%d %H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(&t.replace(',', "."), "%Y-%m-%dT%H:%M:%S%.f%z"));
    match parsed {
        Ok(d) => (
            Some(
                d.with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
            None,
        ),
        Err(_) => (None, Some(t.to_string())),
    }
}

/// Whether a failure was seen: an error, or the application's own failing call (a status of 400 or more, or
/// a message). Used by [`Summary::failed`] and by the diagnosis, so both decide it the same way.
pub(crate) fn failure_seen(error: Option<&ErrorInfo>, original: Option<&OriginalFailure>) -> bool {
    error.is_some()
        || original.is_some_and(|o| o.status.is_some_and(|s| s >= 400) || o.message.is_some())
}

/// The error as the API (or the client) reported it.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The failure class.
    pub class: FailureClass,
    /// The message verbatim.
    pub message: String,
    /// The support FAQ's own words for the status: only for the statuses the FAQ lists, and not on AWS for the
    /// rows the FAQ marks "not relevant on AWS".
    pub faq_meaning: Option<String>,
    /// What the status (or the platform's error type) means, in the tool's words, from `meaning_source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
    /// The doc page or spec location `meaning` comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning_source: Option<String>,
    /// Where this comes from: an exchange (`exchanges/001.json (replay)`) or a log line (`logs/app.log:12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// True when the client ended the exchange (it disconnected or gave up): no evidence about the API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_side: bool,
}

str_enum! {
    /// What a [`Note`] is about.
    ///
    /// See the [module example](crate::summary).
    pub enum NoteKind {
        /// The failure in a log is not the request that was replayed (another model, endpoint or request id).
        Mismatch = "mismatch",
        /// Table arithmetic that does not make a cause but is worth a look.
        WorthChecking = "worth_checking",
        /// What the docs say about the model: doc pages that disagree, a deprecation or a retirement.
        Docs = "docs",
        /// Why the shape sweep was not run.
        NotSwept = "not_swept",
        /// A log to be read when the bundle was written never appeared.
        MissingLog = "missing_log",
        /// The request itself was not captured (an error handler had only the response): what it cannot tell.
        RequestMissing = "request_missing",
    }
}

/// Something the reader must know, with the input, exchange or doc page it comes from.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// What it is about.
    pub kind: NoteKind,
    /// The note.
    pub text: String,
    /// Where it comes from.
    pub source: String,
}

/// The failure as the application saw it (from a log, a traceback or the handler's record).
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginalFailure {
    /// The HTTP status, when known.
    pub status: Option<u16>,
    /// The message verbatim, when known.
    pub message: Option<String>,
    /// The request id, when known.
    pub request_id: Option<String>,
    /// When it happened, in RFC 3339 UTC (converted from the source's zone or HTTP date); `None` when the
    /// source gives no zone (then see `time_as_written`).
    pub time: Option<String>,
    /// The time as the source writes it, when it has no zone (a log's `2026-12-06 05:20:01,880`): kept as
    /// written, never guessed into UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_as_written: Option<String>,
    /// True when `time_as_written` has no zone: the report says "zone unknown".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub time_zone_unknown: bool,
    /// Where it comes from: `logs/app.log:12` or `exchanges/001.json (recorded)`.
    pub source: String,
    /// Whether the exchange the summary is about shows the same status; `None` when there is none.
    pub reproduced: Option<bool>,
}

/// Which client made the request.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// The SDK, e.g. `cohere` (Python), `cohere-ai` (TypeScript), `@ai-sdk/cohere`.
    pub sdk: Option<String>,
    /// The SDK's version.
    pub version: Option<String>,
    /// The runtime and its version, e.g. `python 3.11.7`, `node v20.20.2`.
    pub runtime: Option<String>,
    /// The operating system or platform the client reports.
    pub platform: Option<String>,
    /// The User-Agent header as sent.
    pub user_agent: Option<String>,
    /// Where this comes from: an exchange's or the request's headers, or a log's paths.
    pub source: String,
}

/// A failing exchange other than the one the summary is about.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtherFailure {
    /// The exchange, e.g. `exchanges/002.json (observed)`.
    pub source: String,
    /// Its status, when a response arrived.
    pub status: Option<u16>,
    /// Its failure class.
    pub class: FailureClass,
    /// Its message verbatim.
    pub message: String,
    /// True when the client ended it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_side: bool,
}

/// The request's sequence length and how it was measured.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeqLen {
    /// Token count of the request's input, if known.
    pub tokens: Option<u64>,
    /// How it was measured.
    pub method: SeqLenMethod,
    /// Characters of input text counted.
    pub chars: u64,
    /// The model's own prompt token count from a response (`usage.tokens.input_tokens`), which includes
    /// the chat template and so exceeds the raw text count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
}

/// Context window and output cap of the model.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelLimits {
    /// Context window in tokens.
    pub context_length: Option<u64>,
    /// Maximum output tokens.
    pub max_output_tokens: Option<u64>,
    /// Where the limits come from.
    pub source: LimitsSource,
    /// Where `max_output_tokens` comes from when that differs from `source` (the models API gives no output
    /// cap, so it is then the docs table's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_source: Option<LimitsSource>,
}

/// What is known about the key.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// `trial`, `production` or `unknown`.
    pub kind: KeyKind,
    /// Why: the header or message that says so.
    pub evidence: Option<String>,
    /// Where that evidence comes from: an exchange, a log line or `observe.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether a key was sent at all.
    pub present: bool,
}

/// Rate-limit headers and messages seen.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimitInfo {
    /// `x-trial-endpoint-call-limit`.
    pub trial_endpoint_call_limit: Option<u64>,
    /// `x-trial-endpoint-call-remaining`.
    pub trial_endpoint_call_remaining: Option<u64>,
    /// `x-endpoint-monthly-call-limit`.
    pub endpoint_monthly_call_limit: Option<u64>,
    /// `Retry-After` in seconds.
    pub retry_after_s: Option<f64>,
    /// Which limit was hit, in words, when a 429 says.
    pub limit_hit: Option<String>,
}

/// A likely cause with its evidence and what to do.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// The cause code.
    pub code: CauseCode,
    /// The evidence, naming the numbers, headers or message used.
    pub evidence: String,
    /// A next step the user can act on.
    pub next_step: String,
    /// Where the facts come from: the exchange or log line, plus the inputs used (request, tokenizer, docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Timings of the failing exchange.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingInfo {
    /// Milliseconds to the response headers.
    pub time_to_headers_ms: Option<f64>,
    /// Milliseconds in all.
    pub total_ms: f64,
}

// ---------------------------------------------------------------------------------------------------------
// The shape sweep's result (`summary.matrix`, `matrix.json`); the sweep itself is `crate::gather::matrix`.

/// What the shape sweep ([`crate::gather::matrix::sweep`]) found: `summary.matrix` and `matrix.json`.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixResult {
    /// Every observation, in the order made (a 429 that stopped the sweep included; it is no shape's outcome).
    pub cells: Vec<Cell>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the verdict is `inconclusive`; `null` otherwise.
    pub inconclusive_reason: Option<InconclusiveReason>,
    /// The largest input (tokens) that succeeded next to one that failed, when the verdict has an input boundary.
    pub boundary_input_tokens: Option<u64>,
    /// The largest max_tokens that succeeded next to one that failed, when there is a max_tokens boundary.
    pub boundary_max_tokens: Option<u64>,
    /// Requests sent by the sweep (429 answers included; the prior replay not included).
    pub calls: u32,
    /// The most requests the sweep was allowed.
    pub max_calls: u32,
    /// Answers that were 429.
    pub rate_limited: u32,
    /// Seconds spent waiting for rate limits.
    pub waited_s: f64,
    /// `tokenizer` (exact counts with the model's tokenizer) or `chars` (characters / 4).
    pub input_measure: String,
    /// The axis varied for input length: `text` (texts cut or grown), `texts` or `documents` (list items
    /// dropped, then the last one cut) or `none`.
    pub input_axis: String,
    /// The kinds of text varied: `messages`, `tool_results`, `documents`, `preamble`, `chat_history`,
    /// `message`, `prompt`, `texts`, `inputs`, `text`.
    pub input_varied: Vec<String>,
    /// How many texts the sweep varies.
    pub input_parts: usize,
    /// `largest_first`, `items_then_largest_first` or `none`.
    pub input_scaling: String,
    /// Input tokens of the original request.
    pub original_input_tokens: u64,
    /// The smallest input (tokens reached) that got an answer other than 429.
    pub smallest_input_tokens: Option<u64>,
    /// Inputs up to this many tokens count as small (see [`crate::gather::matrix::SMALL_INPUT_FRACTION`], [`crate::gather::matrix::SMALL_INPUT_TOKENS`]).
    pub small_input_tokens: u64,
    /// True when the call budget ran out before the sweep was done.
    pub stopped_early: bool,
    /// Why the sweep stopped before it was done (`budget_exhausted`, `rate_limited`, `retry_after_too_long`).
    pub stop_reason: Option<InconclusiveReason>,
    /// The longest wait for a rate limit the sweep accepts, in seconds.
    pub max_wait_s: f64,
    /// One line for the report, under the FAQ's question.
    pub conclusion: String,
}

impl MatrixResult {
    /// As a JSON value (for `summary.matrix` and `matrix.json`).
    ///
    /// See the [module example](crate::summary).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One observation of one shape.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Input tokens of the variant as sent, measured on it (see [`MatrixResult::input_measure`]).
    pub input_tokens: u64,
    /// The input tokens the variant was built for (the reached size may differ slightly).
    pub target_input_tokens: u64,
    /// Texts or documents sent, when the input axis is a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<usize>,
    /// `max_tokens` sent; `None`: not set (the model's default).
    pub max_tokens: Option<u64>,
    /// The HTTP status, or the failure class (`network`, `timeout`) when no response came.
    pub status: CellStatus,
    /// The failure class when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<FailureClass>,
    /// The error message, shortened, when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `x-debug-trace-id` of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The part of the sweep that made the call.
    pub phase: Phase,
}

/// What a sweep call got: a status, or the failure class when no response came. Written as the number or
/// the class's name.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CellStatus {
    /// The HTTP status of the response.
    Http(u16),
    /// No response: how the call failed.
    NoResponse(FailureClass),
    /// No response and no failure recorded (`none`).
    Unknown(Unknown),
}

str_enum! {
    /// The `none` of a [`CellStatus`] with nothing recorded.
    ///
    /// See the [module example](crate::summary).
    pub enum Unknown {
        /// Nothing was recorded.
        None = "none",
    }
}

/// Compares with the status as `summary.json` writes it (`400`, `"timeout"`).
impl PartialEq<Value> for CellStatus {
    fn eq(&self, other: &Value) -> bool {
        serde_json::to_value(self).is_ok_and(|v| v == *other)
    }
}

impl std::fmt::Display for CellStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellStatus::Http(s) => write!(f, "{s}"),
            CellStatus::NoResponse(c) => f.write_str(c.as_str()),
            CellStatus::Unknown(u) => f.write_str(u.as_str()),
        }
    }
}

str_enum! {
    /// The part of the sweep that made a call.
    ///
    /// See the [module example](crate::summary).
    pub enum Phase {
        /// The replay of the unchanged request, counted as the sweep's first call.
        Replay = "replay",
        /// The coarse grid of input sizes and max_tokens.
        Grid = "grid",
        /// The unchanged request sent again, to tell an intermittent failure.
        Repeat = "repeat",
        /// A shape sent again to confirm a boundary.
        Recheck = "recheck",
        /// A step of the bisection towards the boundary.
        Bisect = "bisect",
    }
}

impl Cell {
    pub(crate) fn failed(&self) -> bool {
        self.class.is_some()
    }
}

/// What the matrix says about the failure.
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every shape fails, a small input (see [`crate::gather::matrix::SMALL_INPUT_TOKENS`]) with the cheapest max_tokens included: not
    /// a size problem (key, model, service).
    AllFail,
    /// Every shape succeeds: the failure did not reproduce.
    NoneFail,
    /// Failures depend on the input length only.
    InputLength,
    /// Failures depend on max_tokens only.
    MaxTokens,
    /// The same shape both failed and succeeded.
    Intermittent,
    /// Both axes matter, or no simple pattern.
    Mixed,
    /// Every shape tried failed but no small one was tried (or no shape got an answer): the sweep cannot tell
    /// whether size matters. See [`MatrixResult::inconclusive_reason`].
    Inconclusive,
}

impl Verdict {
    /// The snake_case name.
    ///
    /// See the [module example](crate::summary).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::AllFail => "all_fail",
            Verdict::NoneFail => "none_fail",
            Verdict::InputLength => "input_length",
            Verdict::MaxTokens => "max_tokens",
            Verdict::Intermittent => "intermittent",
            Verdict::Mixed => "mixed",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// Why a sweep could not tell (or stopped early).
///
/// See the [module example](crate::summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InconclusiveReason {
    /// The input could not be made small: most of it is outside the texts the sweep varies (tool definitions,
    /// images), or there is no text at all.
    CouldNotShrink,
    /// `--max-calls` ran out first.
    BudgetExhausted,
    /// The API kept answering 429.
    RateLimited,
    /// A 429 asked to wait longer than [`crate::gather::matrix::MAX_RETRY_AFTER`] (or the `max_wait` option).
    RetryAfterTooLong,
}

impl InconclusiveReason {
    /// The snake_case name.
    ///
    /// See the [module example](crate::summary).
    pub fn as_str(self) -> &'static str {
        match self {
            InconclusiveReason::CouldNotShrink => "could_not_shrink",
            InconclusiveReason::BudgetExhausted => "budget_exhausted",
            InconclusiveReason::RateLimited => "rate_limited",
            InconclusiveReason::RetryAfterTooLong => "retry_after_too_long",
        }
    }
}

// What the observe proxy counted (`summary.observed`), defined here with the rest of summary.json.

/// Counts over every exchange that went through the proxy.
///
/// Example: [`crate::gather::observe::Proxy`], which counts them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObserveStats {
    /// Exchanges finished (answered, failed or abandoned).
    pub requests: u64,
    /// Exchanges without a failure.
    pub successes: u64,
    /// Exchanges with a failure.
    pub failures: u64,
    /// Exchanges by endpoint name (`v2/chat`, `other`, …).
    pub by_endpoint: BTreeMap<String, u64>,
    /// Exchanges by the request's `model` (`(none)` when the body names none).
    pub by_model: BTreeMap<String, u64>,
    /// Exchanges by response status (`200`, `429`, …), or `network` when no response arrived.
    pub by_status: BTreeMap<String, u64>,
    /// Failures by class (`http`, `network`, `stream`).
    pub by_failure_class: BTreeMap<String, u64>,
    /// Successes and failures per request shape (endpoint, model, stream, input size, max_tokens): tells
    /// whether all shapes fail or only some.
    pub shapes: Vec<ShapeStats>,
    /// Request body bytes received from clients.
    pub request_bytes: u64,
    /// Response body bytes received from the upstream.
    pub response_bytes: u64,
    /// Bodies kept only in part in the records because they exceeded the body cap.
    pub truncated_bodies: u64,
    /// The body cap in bytes.
    pub body_cap: usize,
    /// The cap on full records.
    pub max_records: usize,
    /// Full records dropped to stay under the cap: successes (dropped first).
    pub dropped_successes: u64,
    /// Full records dropped to stay under the cap: failures (dropped only when no success was left).
    pub dropped_failures: u64,
    /// Calls the SDK retried (retry groups with more than one attempt).
    pub retried_calls: u64,
    /// Successful responses that carried trial-key headers (`x-trial-endpoint-call-limit`): key-kind evidence
    /// that survives even though successes are not kept in full.
    #[serde(default)]
    pub successes_with_trial_headers: u64,
}

/// The shape of a request, for telling "every request fails" from "only long inputs fail".
///
/// Example: [`crate::gather::observe::Proxy`], which counts them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shape {
    /// Endpoint name, e.g. `v2/chat`.
    pub endpoint: String,
    /// The request's `model`, if any.
    pub model: Option<String>,
    /// True when the request asked for a stream.
    pub stream: bool,
    /// Input size: the characters of the input texts, rounded up to a power of two (0 for none).
    pub input_chars_up_to: u64,
    /// True when the input size is not known: the request body was larger than the body cap, and only its
    /// first part was read for the shape (`input_chars_up_to` is 0 then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub input_chars_unknown: bool,
    /// The request's `max_tokens`, if any.
    pub max_tokens: Option<u64>,
}

/// Counts for one [`Shape`].
///
/// Example: [`crate::gather::observe::Proxy`], which counts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeStats {
    /// The shape.
    #[serde(flatten)]
    pub shape: Shape,
    /// Exchanges of this shape that succeeded.
    pub successes: u64,
    /// Exchanges of this shape that failed.
    pub failures: u64,
}
