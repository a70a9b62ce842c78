//! A simulated Cohere API on 127.0.0.1, used by the tests and by `cohere-bundle demo`.
//!
//! [`Simulator::start`] binds an ephemeral port and serves, following the documented API (bodies as in the
//! OpenAPI spec):
//! - `POST /v2/chat` (JSON, or SSE with `"stream": true`: `message-start`, `content-start`, `content-delta`…,
//!   `content-end`, `message-end` with `delta.finish_reason` and `delta.usage`, then `data: [DONE]`);
//! - `POST /v1/chat` (JSON, or newline-delimited JSON: `stream-start`, `text-generation`…, `stream-end`);
//! - `POST /v2/embed`, `POST /v1/embed`, `POST /v2/rerank`, `POST /v1/rerank`, `POST /v1/tokenize`,
//!   `POST /v1/check-api-key`;
//! - `GET /v1/models`, `GET /v1/models/{model}` (with a `tokenizer_url` pointing at the simulator itself) and
//!   `GET /tokenizers/{file}` (the embedded `assets/sim-tokenizer.json`, for every known model).
//!
//! Every response carries a unique `x-debug-trace-id`; error bodies are `{"id": "<uuid>", "message": "…"}`.
//! Trial keys get the trial headers on every non-429 response.
//!
//! Failures come on demand (see [`Scenario`]): per request with the header `x-simulate: <name>` (highest
//! priority), for every request with [`SimConfig::scenario`], every Nth call with [`SimConfig::flaky`], or
//! naturally from the request: unknown model (404), unknown field or bad enum value (422), too many tokens for the
//! model's context or max output (400), missing/unknown/expired key (401), a configured rate limit (429).
//!
//! Token counts use the embedded tokenizer on [`cohere_bundle_knowledge::tokens::input_texts`], each text encoded without
//! special tokens and summed: that raw count is `billed_units.input_tokens`. The prompt count
//! (`tokens.input_tokens`) adds a fixed template overhead: [`PROMPT_OVERHEAD_BASE`] plus
//! [`PROMPT_OVERHEAD_PER_MESSAGE`] per chat message (chat endpoints only).
//!
//! ```
//! use cohere_bundle_simulator::{count_text_tokens, Scenario, SimConfig, Simulator, DEMO_KEY, SIMULATE_HEADER};
//!
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let sim = Simulator::start(SimConfig::default()).await?;
//!     let http = reqwest::Client::builder().no_proxy().build()?;
//!     let url = format!("{}/v2/chat", sim.base_url());
//!     let body = serde_json::json!({"model": "command-a-03-2025",
//!                                   "messages": [{"role": "user", "content": "Hello"}]});
//!
//!     let resp = http.post(&url).bearer_auth(DEMO_KEY).json(&body).send().await?;
//!     assert_eq!(resp.status(), 200);
//!     assert!(resp.headers().contains_key("x-debug-trace-id"));
//!     let answer: serde_json::Value = resp.json().await?;
//!     assert_eq!(answer["usage"]["billed_units"]["input_tokens"], count_text_tokens("Hello"));
//!
//!     // A failure on demand, for one request.
//!     let resp = http.post(&url).bearer_auth(DEMO_KEY).json(&body)
//!         .header(SIMULATE_HEADER, Scenario::ServiceUnavailable.name())
//!         .send().await?;
//!     assert_eq!(resp.status(), 503);
//!
//!     // What the simulator saw.
//!     assert_eq!(sim.hits("/v2/chat"), 2);
//!     let seen = sim.requests();
//!     assert_eq!(seen[0].json().unwrap()["model"], "command-a-03-2025");
//!     assert_eq!(seen[1].header(SIMULATE_HEADER), Some("service-unavailable"));
//!     assert_eq!((seen[1].status, seen[1].scenario), (Some(503), Some(Scenario::ServiceUnavailable)));
//!     sim.shutdown().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod handlers;
mod scenario;
mod stream;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use cohere_bundle_knowledge::cohere::Endpoint;
use cohere_bundle_knowledge::knowledge::{knowledge, ModelStatus};

pub use scenario::{Scenario, UnknownScenario};

/// A realistic 40-character production key (alphanumeric, no prefix) that the default config accepts.
///
/// Example: [`crate`].
pub const DEMO_KEY: &str = "q7Vd2LkP9sXw4RtZ8mNc3JbH6yFg1UaE5oKi0TpW";

/// A 40-character key that the default config treats as a trial key.
///
/// Example: [`SimConfig`].
pub const TRIAL_KEY: &str = "tR1aLk3y8Hq2Zm5Xc7Vb4Nn6Ww9Ee0Ss3Dd5Ff7G";

/// The header that selects a [`Scenario`] for one request.
///
/// Example: [`crate`].
pub const SIMULATE_HEADER: &str = "x-simulate";

/// The embedded tokenizer JSON served at `/tokenizers/<model>.json` and used for every count.
///
/// Example: [`count_input_tokens()`].
pub const TOKENIZER_JSON: &str = include_str!("../assets/sim-tokenizer.json");

/// Prompt-template tokens added once to the raw input count of a chat request (`tokens.input_tokens`).
///
/// Example: [`count_input_tokens()`].
pub const PROMPT_OVERHEAD_BASE: u64 = 10;

/// Prompt-template tokens added per chat message (v2 `messages`; v1 `chat_history`, `message`, `preamble`).
///
/// Example: [`count_input_tokens()`].
pub const PROMPT_OVERHEAD_PER_MESSAGE: u64 = 5;

/// A model the simulator knows.
///
/// Example: [`SimConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimModel {
    /// The model ID, e.g. `command-a-03-2025`.
    pub name: String,
    /// Context window in tokens (input + output), as `GET /v1/models/{model}` reports it.
    pub context_length: u64,
    /// Maximum output tokens, for generative models.
    pub max_output_tokens: Option<u64>,
}

impl SimModel {
    /// Builds a model entry.
    ///
    /// Example: [`SimConfig`].
    pub fn new(
        name: impl Into<String>,
        context_length: u64,
        max_output_tokens: Option<u64>,
    ) -> SimModel {
        SimModel {
            name: name.into(),
            context_length,
            max_output_tokens,
        }
    }

    /// The endpoint family from the name: `embed…` → embed, `rerank…` → rerank, anything else → chat.
    ///
    /// Example: [`SimConfig`].
    pub fn kind(&self) -> ModelKind {
        if self.name.starts_with("embed") {
            ModelKind::Embed
        } else if self.name.starts_with("rerank") {
            ModelKind::Rerank
        } else {
            ModelKind::Chat
        }
    }
}

/// What a model is for.
///
/// Example: [`SimConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Generative (chat) models.
    Chat,
    /// Embedding models.
    Embed,
    /// Rerank models.
    Rerank,
}

/// Deterministic flaky mode: every `every`-th call to each path (counted per path, from 1) gets `scenario`.
///
/// Example: [`SimConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flaky {
    /// Fail calls number `every`, `2*every`, … (0 disables).
    pub every: u64,
    /// The failure to answer with, e.g. [`Scenario::ServiceUnavailable`].
    pub scenario: Scenario,
}

/// A rate limit of `calls` per `window`, counted per key and per path (fixed windows starting at a key's first
/// call). Over the limit the answer is 429 with `Retry-After` (whole seconds until the window ends, at least 1),
/// with the trial message for trial keys and the production message otherwise.
///
/// Example: [`SimConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls allowed per window.
    pub calls: u64,
    /// The window length (a minute in the real API; e.g. 2 s in tests).
    pub window: Duration,
}

/// Whether and how the simulator serves its tokenizer.
///
/// Example: [`SimConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenizerMode {
    /// `tokenizer_url` is in the model response and `GET /tokenizers/<model>.json` serves the JSON.
    #[default]
    Served,
    /// `tokenizer_url` is in the model response but the file answers 404.
    NotFound,
    /// The model response has no `tokenizer_url` (and the file answers 404).
    Absent,
}

/// How the simulator behaves. `SimConfig::default()` accepts any non-empty key, treats [`TRIAL_KEY`] as a trial
/// key, serves the models of [`cohere_bundle_knowledge::knowledge`] that are not retired (ids and aliases, with their documented
/// limits; a retired model answers 404, as the docs say shut-down models fail), and never fails unless asked.
///
/// ```
/// use std::time::Duration;
/// use cohere_bundle_simulator::{Flaky, ModelKind, RateLimit, Scenario, SimConfig, SimModel, TokenizerMode, TRIAL_KEY};
///
/// let config = SimConfig {
///     // Every third call to a path answers 503.
///     flaky: Some(Flaky { every: 3, scenario: Scenario::ServiceUnavailable }),
///     rate_limit: Some(RateLimit { calls: 5, window: Duration::from_secs(2) }),
///     tokenizer: TokenizerMode::Absent,
///     ..SimConfig::default()
/// }
/// .with_model("my-finetune", 8_000, Some(1_000));
/// assert_eq!(config.model("my-finetune"), Some(&SimModel::new("my-finetune", 8_000, Some(1_000))));
/// assert_eq!(config.model("my-finetune").unwrap().kind(), ModelKind::Chat);
/// assert_eq!(config.model("embed-v4.0").unwrap().kind(), ModelKind::Embed);
/// assert_eq!(config.trial_keys, [TRIAL_KEY]);
/// ```
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The models the simulator knows, with their limits. Replace an entry to override a model's
    /// context length or max output (see [`SimConfig::with_model`]).
    pub models: Vec<SimModel>,
    /// A failure for every request (overridden by the `x-simulate` header; changed at run time by
    /// [`Simulator::set_scenario`]). `None`: no forced failure.
    pub scenario: Option<Scenario>,
    /// Deterministic flaky mode (after the header and `scenario`).
    pub flaky: Option<Flaky>,
    /// When `Some`, only these keys (and `trial_keys`) are accepted; others get 401 `invalid api token`.
    /// `None` (default): any non-empty key is accepted.
    pub valid_keys: Option<Vec<String>>,
    /// Keys treated as trial keys (trial headers, trial 429 message). Default: `[TRIAL_KEY]`.
    pub trial_keys: Vec<String>,
    /// Keys answered with 401 `Your API key has expired…`. Default: none.
    pub expired_keys: Vec<String>,
    /// A rate limit per key and path. Default: none.
    pub rate_limit: Option<RateLimit>,
    /// Value of `x-trial-endpoint-call-limit` (calls per minute) for trial keys; the remaining count goes down
    /// with calls per key and path within the minute (or the rate-limit window when set). Default 20.
    pub trial_call_limit: u64,
    /// Value of `x-endpoint-monthly-call-limit` for trial keys. Default 1000.
    pub monthly_call_limit: u64,
    /// 400 `too many tokens` when the raw input tokens exceed this (any endpoint with input texts).
    pub fail_input_tokens_over: Option<u64>,
    /// 400 max-tokens error when `max_tokens` exceeds this (generative endpoints).
    pub fail_max_tokens_over: Option<u64>,
    /// Pause before every stream frame but the first. Default 0.
    pub stream_event_delay: Duration,
    /// Pause after the last stream frame (`data: [DONE]`, `stream-end`) before the response body ends, as when
    /// the end of the HTTP body reaches the client a moment after the terminal event. Default 0.
    pub stream_end_delay: Duration,
    /// How long the `hang` scenario waits before answering 504. Default 10 minutes; shutdown cancels it.
    pub hang_for: Duration,
    /// Whether the tokenizer is served.
    pub tokenizer: TokenizerMode,
    /// The text chat endpoints reply with (cut to `max_tokens` tokens, then `finish_reason: MAX_TOKENS`).
    pub reply: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        // Every model the docs list that is still served, under its id and its aliases. A model without a
        // documented context length (audio) gets none here and is not served by the text endpoints.
        let models: Vec<SimModel> = knowledge()
            .models
            .iter()
            .filter(|m| m.status != ModelStatus::Retired)
            .filter_map(|m| Some((m, m.context_length?)))
            .flat_map(|(m, ctx)| {
                std::iter::once(&m.id)
                    .chain(&m.aliases)
                    .map(move |name| SimModel::new(name.as_str(), ctx, m.max_output))
            })
            .collect();
        SimConfig {
            models,
            scenario: None,
            flaky: None,
            valid_keys: None,
            trial_keys: vec![TRIAL_KEY.to_string()],
            expired_keys: Vec::new(),
            rate_limit: None,
            trial_call_limit: 20,
            monthly_call_limit: 1000,
            fail_input_tokens_over: None,
            fail_max_tokens_over: None,
            stream_event_delay: Duration::ZERO,
            stream_end_delay: Duration::ZERO,
            hang_for: Duration::from_secs(600),
            tokenizer: TokenizerMode::Served,
            reply: "Hello! This is the simulated Cohere API answering your request. How can I help you today?"
                .to_string(),
        }
    }
}

impl SimConfig {
    /// Adds a model, or replaces the limits of the model with that name.
    ///
    /// Example: [`SimConfig`].
    pub fn with_model(
        mut self,
        name: &str,
        context_length: u64,
        max_output_tokens: Option<u64>,
    ) -> SimConfig {
        let model = SimModel::new(name, context_length, max_output_tokens);
        match self.models.iter_mut().find(|m| m.name == name) {
            Some(m) => *m = model,
            None => self.models.push(model),
        }
        self
    }

    /// The model called `name`, if known.
    ///
    /// Example: [`SimConfig`].
    pub fn model(&self, name: &str) -> Option<&SimModel> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// Locks a mutex, ignoring poisoning (the data are counters and timestamps).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The embedded tokenizer, parsed once.
///
/// Example: [`count_input_tokens()`].
pub fn tokenizer() -> &'static tokenizers::Tokenizer {
    static TOKENIZER: OnceLock<tokenizers::Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        // The asset is part of the crate and checked by a unit test, so this cannot fail at run time.
        TOKENIZER_JSON
            .parse()
            .expect("assets/sim-tokenizer.json is a valid tokenizer")
    })
}

/// Tokens of one text with the simulator's tokenizer (no special tokens).
///
/// Example: [`count_input_tokens()`].
pub fn count_text_tokens(text: &str) -> u64 {
    tokenizer()
        .encode(text, false)
        .map(|e| e.len() as u64)
        .unwrap_or(0)
}

/// The raw input-token count of a request body (`billed_units.input_tokens`): each of
/// [`cohere_bundle_knowledge::tokens::input_texts`] encoded without special tokens, summed.
///
/// ```
/// use cohere_bundle_simulator::{
///     count_input_tokens, count_text_tokens, prompt_tokens, tokenizer, PROMPT_OVERHEAD_BASE,
///     PROMPT_OVERHEAD_PER_MESSAGE, TOKENIZER_JSON,
/// };
/// use cohere_bundle_knowledge::Endpoint;
///
/// let body = serde_json::json!({"model": "command-a-03-2025", "messages": [
///     {"role": "system", "content": "Be brief."},
///     {"role": "user", "content": "Hello there"},
/// ]});
/// let raw = count_input_tokens(Endpoint::ChatV2, &body);
/// assert_eq!(raw, count_text_tokens("Be brief.") + count_text_tokens("Hello there"));
/// assert_eq!(count_text_tokens("Hello there"), tokenizer().encode("Hello there", false).unwrap().len() as u64);
/// // The embedded JSON is an ordinary HuggingFace tokenizer.
/// let own: tokenizers::Tokenizer = TOKENIZER_JSON.parse().unwrap();
/// assert_eq!(own.get_vocab_size(true), tokenizer().get_vocab_size(true));
/// // The prompt count adds the chat template's overhead.
/// let prompt = prompt_tokens(Endpoint::ChatV2, &body, raw);
/// assert_eq!(prompt, raw + PROMPT_OVERHEAD_BASE + 2 * PROMPT_OVERHEAD_PER_MESSAGE);
/// ```
pub fn count_input_tokens(endpoint: Endpoint, body: &serde_json::Value) -> u64 {
    cohere_bundle_knowledge::tokens::input_texts(endpoint, body)
        .iter()
        .map(|t| count_text_tokens(t))
        .sum()
}

/// The prompt count (`tokens.input_tokens`) for a raw count: chat endpoints add [`PROMPT_OVERHEAD_BASE`] plus
/// [`PROMPT_OVERHEAD_PER_MESSAGE`] per message; other endpoints report the raw count.
///
/// Example: [`count_input_tokens()`].
pub fn prompt_tokens(endpoint: Endpoint, body: &serde_json::Value, raw: u64) -> u64 {
    let len = |k: &str| {
        body.get(k)
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len) as u64
    };
    let messages = match endpoint {
        Endpoint::ChatV2 | Endpoint::CompatChatCompletions => len("messages"),
        Endpoint::ChatV1 => {
            len("chat_history")
                + u64::from(body.get("message").is_some())
                + u64::from(body.get("preamble").is_some())
        }
        _ => return raw,
    };
    raw + PROMPT_OVERHEAD_BASE + PROMPT_OVERHEAD_PER_MESSAGE * messages
}

/// How many requests [`Simulator::requests`] keeps.
///
/// Example: [`crate`] (which reads [`Simulator::requests`]).
pub const MAX_RECORDED_REQUESTS: usize = 10_000;

/// One request as the simulator received it, and how it was answered.
///
/// Example: [`crate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query, e.g. `/v2/chat`.
    pub path: String,
    /// Headers as received (names lower-case), in order.
    pub headers: Vec<(String, String)>,
    /// The body, lossily decoded as UTF-8.
    pub body: String,
    /// The status answered; `None` while in flight, and for hangs and resets.
    pub status: Option<u16>,
    /// The scenario applied, if any (header, config or flaky mode).
    pub scenario: Option<Scenario>,
}

impl SimRequest {
    /// The first header called `name` (case-insensitive).
    ///
    /// Example: [`crate`].
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, when it is JSON.
    ///
    /// Example: [`crate`].
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// State shared by all connections.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) addr: SocketAddr,
    pub(crate) hits: Mutex<HashMap<String, u64>>,
    pub(crate) total: AtomicU64,
    pub(crate) event_times: Arc<Mutex<Vec<Instant>>>,
    pub(crate) requests: Mutex<Vec<SimRequest>>,
    /// The scenario for every request; starts as `config.scenario`, changed by `set_scenario`.
    pub(crate) scenario: Mutex<Option<Scenario>>,
    /// Calls per path, for flaky mode.
    pub(crate) path_calls: Mutex<HashMap<String, u64>>,
    /// (key, path) → (window start, calls), for the rate limit and the trial headers.
    pub(crate) windows: Mutex<HashMap<(String, String), (Instant, u64)>>,
    /// What was created through the batches, embed jobs, datasets, connectors and fine-tuning paths.
    pub(crate) store: Mutex<handlers::Store>,
}

/// Per-connection state: lets a handler reset its connection.
pub(crate) struct ConnCtx {
    pub(crate) reset: Arc<AtomicBool>,
    pub(crate) notify: Notify,
}

/// A TCP stream that closes with `SO_LINGER 0` (an RST) when its flag is set before it is dropped.
struct ConnIo {
    inner: TcpStream,
    zero_linger: Arc<AtomicBool>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.zero_linger.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A running simulated Cohere API. Stops on [`Simulator::shutdown`] or when dropped.
///
/// ```
/// use std::time::Duration;
/// use cohere_bundle_simulator::{Scenario, SimConfig, Simulator, DEMO_KEY};
///
/// let rt = tokio::runtime::Runtime::new()?;
/// rt.block_on(async {
///     let config = SimConfig { stream_event_delay: Duration::from_millis(5), ..SimConfig::default() };
///     let sim = Simulator::start_on(config, 0).await?;
///     assert_eq!(sim.base_url(), format!("http://{}", sim.addr()));
///     assert!(sim.config().model("command-a-03-2025").is_some());
///
///     let http = reqwest::Client::builder().no_proxy().build()?;
///     let chat = |body: serde_json::Value| {
///         http.post(format!("{}/v2/chat", sim.base_url())).bearer_auth(DEMO_KEY).json(&body).send()
///     };
///     let body = serde_json::json!({"model": "command-a-03-2025", "stream": true,
///                                   "messages": [{"role": "user", "content": "Hello"}]});
///     let text = chat(body.clone()).await?.text().await?;
///     assert!(text.contains("message-end") && text.ends_with("data: [DONE]\n\n"));
///     assert!(sim.stream_event_times().len() >= 3);
///
///     // From now on every request fails the same way.
///     sim.set_scenario(Some(Scenario::ServerError));
///     assert_eq!(chat(body).await?.status(), 500);
///     assert_eq!(sim.total_hits(), 2);
///     sim.shutdown().await;
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Simulator {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// Example: [`crate`].
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        Self::start_on(config, 0).await
    }

    /// Starts on a given port of 127.0.0.1 (0 picks a free one).
    ///
    /// Example: [`Simulator`].
    pub async fn start_on(config: SimConfig, port: u16) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let scenario = Mutex::new(config.scenario);
        let shared = Arc::new(Shared {
            config,
            addr,
            hits: Mutex::new(HashMap::new()),
            total: AtomicU64::new(0),
            event_times: Arc::new(Mutex::new(Vec::new())),
            requests: Mutex::new(Vec::new()),
            scenario,
            path_calls: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
            store: Mutex::new(handlers::Store::default()),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Simulator { shared, task })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    ///
    /// Example: [`Simulator`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The bound address.
    ///
    /// Example: [`Simulator`].
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The configuration the simulator runs with.
    ///
    /// Example: [`Simulator`].
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Requests received for an exact path (no query), e.g. `/v2/chat` or `/tokenizers/command-r.json`.
    ///
    /// Example: [`crate`].
    pub fn hits(&self, path: &str) -> u64 {
        lock(&self.shared.hits).get(path).copied().unwrap_or(0)
    }

    /// All requests received.
    ///
    /// Example: [`Simulator`].
    pub fn total_hits(&self) -> u64 {
        self.shared.total.load(Ordering::SeqCst)
    }

    /// When each frame of the last stream started was handed to the connection (one entry per SSE event or
    /// NDJSON line, the final `data: [DONE]` included).
    ///
    /// Example: [`Simulator`].
    pub fn stream_event_times(&self) -> Vec<Instant> {
        lock(&self.shared.event_times).clone()
    }

    /// Replaces the scenario applied to every request (initially [`SimConfig::scenario`]); `None` stops it.
    ///
    /// Example: [`Simulator`].
    pub fn set_scenario(&self, scenario: Option<Scenario>) {
        *lock(&self.shared.scenario) = scenario;
    }

    /// Every request received so far (at most the first [`MAX_RECORDED_REQUESTS`]), in arrival order.
    ///
    /// Example: [`crate`].
    pub fn requests(&self) -> Vec<SimRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The simulator's own raw input-token count of a body (what it bills as `input_tokens`).
    ///
    /// Example: [`count_input_tokens()`] (the same count).
    pub fn count_input_tokens(&self, endpoint: Endpoint, body: &serde_json::Value) -> u64 {
        count_input_tokens(endpoint, body)
    }

    /// Stops serving: closes the listener and every open connection (cancelling hangs and streams).
    ///
    /// Example: [`Simulator`].
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Dropping the set (when this task is aborted) aborts every connection task.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                conns.spawn(serve_connection(stream, shared.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let reset = Arc::new(AtomicBool::new(false));
    let ctx = Arc::new(ConnCtx {
        reset: reset.clone(),
        notify: Notify::new(),
    });
    let io = TokioIo::new(ConnIo {
        inner: stream,
        zero_linger: reset,
    });
    let svc_ctx = ctx.clone();
    let svc = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let ctx = svc_ctx.clone();
        async move { Ok::<_, Infallible>(handlers::handle(shared, ctx, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, svc);
    tokio::select! {
        _ = conn => {}
        // A handler asked for a reset: dropping the connection drops the stream with SO_LINGER 0.
        _ = ctx.notify.notified() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_loads_and_counts() {
        let n = count_text_tokens("hello world, the quick brown fox");
        assert!(n > 0);
        let body = serde_json::json!({"messages": [{"role": "user", "content": "hello world"}]});
        assert_eq!(
            count_input_tokens(Endpoint::ChatV2, &body),
            count_text_tokens("hello world")
        );
        let raw = count_input_tokens(Endpoint::ChatV2, &body);
        assert_eq!(prompt_tokens(Endpoint::ChatV2, &body, raw), raw + 15);
    }

    #[test]
    fn keys_are_forty_alphanumeric_chars() {
        for k in [DEMO_KEY, TRIAL_KEY] {
            assert_eq!(k.len(), 40);
            assert!(k.chars().all(|c| c.is_ascii_alphanumeric()));
        }
        assert_ne!(DEMO_KEY, TRIAL_KEY);
    }

    #[test]
    fn with_model_overrides_and_adds() {
        let c = SimConfig::default()
            .with_model("command-r-08-2024", 1000, Some(100))
            .with_model("tiny", 50, None);
        assert_eq!(
            c.model("command-r-08-2024").map(|m| m.context_length),
            Some(1000)
        );
        assert_eq!(c.model("tiny").map(|m| m.kind()), Some(ModelKind::Chat));
        assert_eq!(
            c.model("embed-v4.0").map(|m| m.kind()),
            Some(ModelKind::Embed)
        );
    }
}
