//! `summary.json`: the machine-readable answer to the support FAQ's questions (schema version 1).
//! Every field is documented in README.md under "summary.json".

use serde::{Deserialize, Serialize};

use crate::cohere::{CauseCode, Endpoint, KeyKind, Platform};

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

/// The error as the API (or the client) reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// `http`, `network`, `timeout` or `stream`.
    pub class: String,
    /// The message verbatim.
    pub message: String,
    /// The support FAQ's meaning of the status (platform-aware), if it has one.
    pub faq_meaning: Option<String>,
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
}

/// What is known about the key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// `trial`, `production` or `unknown`.
    pub kind: KeyKind,
    /// Why: the header or message that says so.
    pub evidence: Option<String>,
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
}

/// Timings of the failing exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingInfo {
    /// Milliseconds to the response headers.
    pub time_to_headers_ms: Option<f64>,
    /// Milliseconds in all.
    pub total_ms: f64,
}
