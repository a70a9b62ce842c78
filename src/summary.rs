//! `summary.json`: the machine-readable answer to the support FAQ's questions (schema version 1).
//! Every field is documented in README.md under "summary.json".

use serde::{Deserialize, Serialize};

use crate::cohere::{CauseCode, Endpoint, KeyKind, Platform, Side};

/// The schema version written into `summary.json`.
pub const SCHEMA_VERSION: u32 = 1;

/// The summary of one support bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The tool that wrote it, e.g. `cohere-bundle 0.1.0`.
    pub tool: String,
    /// When the bundle was made (RFC 3339, UTC).
    pub created_at: String,
    /// How the failure was captured: `replay`, `observe`, `bundle` (offline), `library`, `demo`.
    pub mode: String,
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
    pub matrix: Option<serde_json::Value>,
    /// In observe mode: counts over every exchange the proxy saw, successes included, by shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<crate::observe::ObserveStats>,
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
    /// Sets [`Summary::cause_side`] and [`Summary::support_needed`] from the most likely cause.
    pub fn set_support(&mut self) {
        self.cause_side = self
            .causes
            .first()
            .map(|c| c.code.side())
            .unwrap_or_default();
        self.support_needed = self.cause_side.support_needed();
    }
}

/// The error as the API (or the client) reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// `http`, `network`, `timeout` or `stream`.
    pub class: String,
    /// The message verbatim.
    pub message: String,
    /// The support FAQ's meaning of the status (platform-aware), if it has one.
    pub faq_meaning: Option<String>,
    /// Where this comes from: an exchange (`exchanges/001.json (replay)`) or a log line (`logs/app.log:12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// True when the client ended the exchange (it disconnected or gave up): no evidence about the API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_side: bool,
}

/// The failure as the application saw it (from a log, a traceback or the handler's record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginalFailure {
    /// The HTTP status, when known.
    pub status: Option<u16>,
    /// The message verbatim, when known.
    pub message: Option<String>,
    /// The request id, when known.
    pub request_id: Option<String>,
    /// When it happened, as the source gives it.
    pub time: Option<String>,
    /// Where it comes from: `logs/app.log:12` or `exchanges/001.json (recorded)`.
    pub source: String,
    /// Whether the exchange the summary is about shows the same status; `None` when there is none.
    pub reproduced: Option<bool>,
}

/// Which client made the request.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtherFailure {
    /// The exchange, e.g. `exchanges/002.json (observed)`.
    pub source: String,
    /// Its status, when a response arrived.
    pub status: Option<u16>,
    /// Its failure class.
    pub class: String,
    /// Its message verbatim.
    pub message: String,
    /// True when the client ended it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_side: bool,
}

/// The request's sequence length and how it was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeqLen {
    /// Token count of the request's input, if known.
    pub tokens: Option<u64>,
    /// `usage` (from the response), `tokenizer` (the model's tokenizer), `api` (`/v1/tokenize`),
    /// `estimate` (characters / 4), or `unknown`.
    pub method: String,
    /// Characters of input text counted.
    pub chars: u64,
    /// The model's own prompt token count from a response (`usage.tokens.input_tokens`), which includes
    /// the chat template and so exceeds the raw text count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
}

/// Context window and output cap of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelLimits {
    /// Context window in tokens.
    pub context_length: Option<u64>,
    /// Maximum output tokens.
    pub max_output_tokens: Option<u64>,
    /// `models_api` or `docs_table`.
    pub source: String,
    /// Where `max_output_tokens` comes from when that differs from `source` (the models API gives no output
    /// cap, so it is then the docs table's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_source: Option<String>,
}

/// What is known about the key.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingInfo {
    /// Milliseconds to the response headers.
    pub time_to_headers_ms: Option<f64>,
    /// Milliseconds in all.
    pub total_ms: f64,
}
