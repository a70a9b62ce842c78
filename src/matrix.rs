//! The shape matrix: answers the support FAQ's "are all the requests of various input/output shapes failing?"
//! by measurement.
//!
//! From the failing request [`sweep`] derives variants along two axes and sends them:
//! - **input length**: the last user text (v2 chat: the last user message's text; v1 chat: `message`;
//!   generate: `prompt`) cut or grown to a target token count with the model's tokenizer (exact), or, without a
//!   tokenizer, scaled by characters (labelled `chars` in [`MatrixResult::input_measure`]); embed: the number of
//!   texts; rerank: the number of documents;
//! - **max_tokens** (generative endpoints): `1` and the original value.
//!
//! First a coarse grid (input ≈ 5 %, 25 %, 100 % of the original × max_tokens {1, original}; the 5 % row only when
//! 25 % fails even with max_tokens 1), the original cell twice to catch intermittent failures, then bisection on the
//! axis where the outcome changes until the boundary is known within [`PRECISION`].
//!
//! A [`Scheduler`]-driven pacing honours the key's rate limit: the documented per-minute limits as defaults
//! (trial chat 20/min, embed 5/min, rerank 10/min), `x-trial-endpoint-call-limit` / `-remaining` when the API sends
//! them, and a 429's `Retry-After` (wait, then send the same cell again). No more than
//! [`MatrixOptions::max_calls`] requests are ever sent, 429s included. [`plan`] states the cost beforehand and
//! [`confirm`] asks for consent on stderr.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::Value;
use tokenizers::Tokenizer;

use crate::client::{Client, PreparedRequest};
use crate::cohere::Endpoint;
use crate::error::{Error, Result};
use crate::exchange::{header, Exchange, Header};
use crate::request::CapturedRequest;
use crate::scrub::SecretString;
use crate::tokenizer::{self, TokenizerCache};

/// The default call budget (`--max-calls`).
pub const DEFAULT_MAX_CALLS: u32 = 12;

/// Bisection stops when the boundary is known within this fraction of its value.
pub const PRECISION: f64 = 0.05;

/// The input levels of the coarse grid, as fractions of the original.
pub const GRID_FRACTIONS: [f64; 3] = [0.05, 0.25, 1.0];

/// Consecutive 429 answers after which the sweep stops (the key is rate limited, not the shape).
const MAX_CONSECUTIVE_429: u32 = 3;

/// How to sweep.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    /// The most requests sent, 429 answers included (`--max-calls`).
    pub max_calls: u32,
    /// Calls per minute to stay under; default: the trial header if seen, else the documented limit (see
    /// [`documented_limit_per_minute`]).
    pub rate_per_minute: Option<u32>,
    /// The longest single wait for a rate limit (a longer `Retry-After` is capped to this).
    pub max_wait: Duration,
}

impl Default for MatrixOptions {
    fn default() -> Self {
        MatrixOptions {
            max_calls: DEFAULT_MAX_CALLS,
            rate_per_minute: None,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Where and how to send the variants.
#[derive(Debug, Clone)]
pub struct SweepContext {
    /// The HTTP client (its timeout applies to each call).
    pub client: Client,
    /// The full endpoint URL, e.g. `https://api.cohere.com/v2/chat`.
    pub url: String,
    /// Headers to send besides Authorization (Content-Type included).
    pub headers: Vec<Header>,
    /// The API key.
    pub key: Option<SecretString>,
    /// The model's tokenizer; `None` scales by characters.
    pub tokenizer: Option<Arc<Tokenizer>>,
    /// The replay of the unchanged request, if one was just made: it counts as the original cell's first
    /// observation (one call saved) and its rate-limit headers seed the pacing.
    pub prior: Option<Exchange>,
}

/// What [`sweep`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixResult {
    /// Every observation, in the order made.
    pub cells: Vec<Cell>,
    /// The verdict.
    pub verdict: Verdict,
    /// The largest input (tokens) that succeeded next to one that failed, when the verdict has an input boundary.
    pub boundary_input_tokens: Option<u64>,
    /// The largest max_tokens that succeeded next to one that failed, when there is a max_tokens boundary.
    pub boundary_max_tokens: Option<u64>,
    /// Requests sent by the sweep (429 answers included; the prior replay not included).
    pub calls: u32,
    /// The most requests the sweep was allowed.
    pub max_calls: u32,
    /// Answers that were 429 (waited for and retried).
    pub rate_limited: u32,
    /// Seconds spent waiting for rate limits.
    pub waited_s: f64,
    /// `tokenizer` (exact counts with the model's tokenizer) or `chars` (characters / 4).
    pub input_measure: String,
    /// The axis varied for input length: `text`, `texts`, `documents` or `none`.
    pub input_axis: String,
    /// True when the call budget ran out before the sweep was done.
    pub stopped_early: bool,
    /// One line for the report, under the FAQ's question.
    pub conclusion: String,
}

impl MatrixResult {
    /// As a JSON value (for `summary.matrix` and `matrix.json`).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One observation of one shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// Input tokens of the variant (see [`MatrixResult::input_measure`]).
    pub input_tokens: u64,
    /// `max_tokens` sent; `None`: not set (the model's default).
    pub max_tokens: Option<u64>,
    /// The HTTP status, or `network` / `timeout` when no response came.
    pub status: Value,
    /// The failure class (`http`, `network`, `timeout`, `stream`) when the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// The error message, shortened, when the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `x-debug-trace-id` of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `replay`, `grid`, `repeat`, `recheck` or `bisect`.
    pub phase: String,
}

impl Cell {
    fn failed(&self) -> bool {
        self.class.is_some()
    }
}

/// What the matrix says about the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every shape fails: not a size problem (key, model, service).
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
}

impl Verdict {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::AllFail => "all_fail",
            Verdict::NoneFail => "none_fail",
            Verdict::InputLength => "input_length",
            Verdict::MaxTokens => "max_tokens",
            Verdict::Intermittent => "intermittent",
            Verdict::Mixed => "mixed",
        }
    }
}

/// The documented per-minute call limit of a trial key for an endpoint (the support FAQ's figures: chat 20,
/// embed 5, rerank 10; others 20). Production limits are far higher (hundreds per minute).
pub fn documented_limit_per_minute(endpoint: Endpoint, trial: bool) -> u32 {
    match (endpoint, trial) {
        (Endpoint::EmbedV1 | Endpoint::EmbedV2, true) => 5,
        (Endpoint::RerankV1 | Endpoint::RerankV2, true) => 10,
        (_, true) => 20,
        (_, false) => 500,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Variants

/// Which part of the body the input axis changes.
#[derive(Debug, Clone)]
enum Axis {
    /// A string at a JSON pointer; `other` is the input outside it (tokens or estimated tokens).
    Text {
        pointer: String,
        text: String,
        other: u64,
        own: u64,
    },
    /// An array at a JSON pointer whose length is varied.
    List {
        pointer: String,
        len: usize,
        name: &'static str,
    },
    /// Nothing to vary.
    None,
}

/// Builds variant bodies and measures them.
struct Shaper {
    endpoint: Endpoint,
    body: Value,
    tokenizer: Option<Arc<Tokenizer>>,
    axis: Axis,
}

fn last_user_text_pointer(endpoint: Endpoint, body: &Value) -> Option<String> {
    match endpoint {
        Endpoint::ChatV2 => {
            let msgs = body.get("messages")?.as_array()?;
            let i = msgs
                .iter()
                .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
            match msgs[i].get("content")? {
                Value::String(_) => Some(format!("/messages/{i}/content")),
                Value::Array(parts) => {
                    let j = parts
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.get("text").and_then(Value::as_str).is_some())
                        .max_by_key(|(_, p)| {
                            p.get("text").and_then(Value::as_str).map_or(0, str::len)
                        })?
                        .0;
                    Some(format!("/messages/{i}/content/{j}/text"))
                }
                _ => None,
            }
        }
        Endpoint::ChatV1 => body
            .get("message")
            .and_then(Value::as_str)
            .map(|_| "/message".to_string()),
        Endpoint::Generate => body
            .get("prompt")
            .and_then(Value::as_str)
            .map(|_| "/prompt".to_string()),
        _ => None,
    }
}

impl Shaper {
    fn new(endpoint: Endpoint, body: &Value, tokenizer: Option<Arc<Tokenizer>>) -> Shaper {
        let mut s = Shaper {
            endpoint,
            body: body.clone(),
            tokenizer,
            axis: Axis::None,
        };
        let list = |k: &str| {
            body.get(k)
                .and_then(Value::as_array)
                .map(Vec::len)
                .filter(|n| *n > 1)
        };
        s.axis = match endpoint {
            Endpoint::EmbedV1 | Endpoint::EmbedV2 => match (list("texts"), list("inputs")) {
                (Some(n), _) => Axis::List {
                    pointer: "/texts".into(),
                    len: n,
                    name: "texts",
                },
                (None, Some(n)) => Axis::List {
                    pointer: "/inputs".into(),
                    len: n,
                    name: "texts",
                },
                _ => Axis::None,
            },
            Endpoint::RerankV1 | Endpoint::RerankV2 => match list("documents") {
                Some(n) => Axis::List {
                    pointer: "/documents".into(),
                    len: n,
                    name: "documents",
                },
                None => Axis::None,
            },
            _ => match last_user_text_pointer(endpoint, body) {
                Some(p) => {
                    let text = body
                        .pointer(&p)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let own = s.text_tokens(&text);
                    let total = s.input_tokens(body);
                    Axis::Text {
                        pointer: p,
                        text,
                        other: total.saturating_sub(own),
                        own,
                    }
                }
                None => Axis::None,
            },
        };
        s
    }

    fn measure(&self) -> &'static str {
        if self.tokenizer.is_some() {
            "tokenizer"
        } else {
            "chars"
        }
    }

    fn axis_name(&self) -> &'static str {
        match &self.axis {
            Axis::Text { .. } => "text",
            Axis::List { name, .. } => name,
            Axis::None => "none",
        }
    }

    fn text_tokens(&self, text: &str) -> u64 {
        match &self.tokenizer {
            Some(t) => tokenizer::count_text(t, text),
            None => crate::tokens::estimate_tokens(text.chars().count() as u64),
        }
    }

    /// Input tokens of a body: exact with the tokenizer, else characters / 4.
    fn input_tokens(&self, body: &Value) -> u64 {
        match &self.tokenizer {
            Some(t) => tokenizer::count(t, self.endpoint, body),
            None => {
                let chars: u64 = crate::tokens::input_texts(self.endpoint, body)
                    .iter()
                    .map(|s| s.chars().count() as u64)
                    .sum();
                crate::tokens::estimate_tokens(chars)
            }
        }
    }

    /// The original position on the input axis (total tokens for text, item count for lists).
    fn original_x(&self) -> u64 {
        match &self.axis {
            Axis::Text { other, own, .. } => other + own,
            Axis::List { len, .. } => *len as u64,
            Axis::None => 0,
        }
    }

    /// The smallest position that still sends some input.
    fn min_x(&self) -> u64 {
        match &self.axis {
            Axis::Text { other, .. } => other + 1,
            Axis::List { .. } => 1,
            Axis::None => 0,
        }
    }

    /// The grid position for a fraction of the original.
    fn x_at(&self, fraction: f64) -> u64 {
        let x0 = self.original_x();
        ((x0 as f64 * fraction).round() as u64).clamp(self.min_x().min(x0), x0)
    }

    /// The body for input position `x` and `max_tokens` (`None`: removed), and its input tokens.
    fn variant(&self, x: u64, max_tokens: Option<u64>) -> (Value, u64) {
        let mut body = self.body.clone();
        match &self.axis {
            Axis::Text {
                pointer,
                text,
                other,
                own,
            } if x != other + own => {
                let want = x.saturating_sub(*other).max(1);
                let new = match &self.tokenizer {
                    Some(t) if want < *own => tokenizer::truncate_to_tokens(t, text, want),
                    Some(t) => tokenizer::grow_to_tokens(t, text, want),
                    None => {
                        let chars = (want * 4) as usize;
                        let n = text.chars().count();
                        if chars <= n {
                            text.chars().take(chars).collect()
                        } else {
                            text.chars().cycle().take(chars).collect()
                        }
                    }
                };
                if let Some(slot) = body.pointer_mut(pointer) {
                    *slot = Value::String(new);
                }
            }
            Axis::List { pointer, len, .. } if x != *len as u64 => {
                if let Some(Value::Array(a)) = body.pointer_mut(pointer) {
                    a.truncate((x as usize).max(1));
                }
            }
            _ => {}
        }
        if let Some(o) = body.as_object_mut() {
            match max_tokens {
                Some(m) => {
                    o.insert("max_tokens".into(), Value::from(m));
                }
                None => {
                    o.remove("max_tokens");
                }
            }
        }
        let tokens = self.input_tokens(&body);
        (body, tokens)
    }

    /// The position of a measured variant on the axis: tokens for text, the count for lists.
    fn x_of(&self, x_target: u64, tokens: u64) -> u64 {
        match &self.axis {
            Axis::Text { .. } => tokens,
            _ => x_target,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Plan and consent

/// What a sweep may cost, stated before it starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The endpoint URL.
    pub url: String,
    /// The model, if named.
    pub model: Option<String>,
    /// The hard cap on requests (429 answers included).
    pub max_calls: u32,
    /// Requests expected: the coarse grid and the repeat, plus bisection steps.
    pub expected_calls: u32,
    /// Input tokens of the original request (no variant has more).
    pub input_tokens: u64,
    /// The original max_tokens (no variant asks for more); `None`: the model's default.
    pub max_tokens: Option<u64>,
    /// The most input tokens the sweep may spend: `max_calls × input_tokens`.
    pub max_input_tokens_spent: u64,
    /// The most output tokens it may spend: `max_calls × max_tokens`, when max_tokens is set on a generative
    /// endpoint.
    pub max_output_tokens_spent: Option<u64>,
    /// Whether output tokens are spent at all.
    pub generative: bool,
    /// `tokenizer` or `chars`.
    pub input_measure: String,
}

fn columns(request: &CapturedRequest) -> Vec<Option<u64>> {
    let orig = request.max_tokens();
    if !request.endpoint.is_generative() || orig == Some(1) {
        return vec![orig];
    }
    vec![Some(1), orig]
}

/// The cost of sweeping `request` with `opts`.
pub fn plan(ctx: &SweepContext, request: &CapturedRequest, opts: &MatrixOptions) -> Plan {
    let shaper = Shaper::new(request.endpoint, &request.body, ctx.tokenizer.clone());
    let cols = columns(request).len() as u32;
    let rows = if matches!(shaper.axis, Axis::None) {
        1
    } else {
        2
    };
    let coarse = rows * cols + 1 - u32::from(ctx.prior.is_some());
    // Bisection: ⌈log2(range / (PRECISION × boundary))⌉ for a boundary in the upper part of the range.
    let steps = if rows * cols > 1 {
        (0.75 / (PRECISION * 0.5)).log2().ceil() as u32
    } else {
        0
    };
    let input_tokens = shaper.input_tokens(&request.body);
    let generative = request.endpoint.is_generative();
    let max_tokens = request.max_tokens();
    Plan {
        url: ctx.url.clone(),
        model: request.model().map(str::to_string),
        max_calls: opts.max_calls,
        expected_calls: (coarse + steps).min(opts.max_calls),
        input_tokens,
        max_tokens,
        max_input_tokens_spent: input_tokens * u64::from(opts.max_calls),
        max_output_tokens_spent: max_tokens
            .filter(|_| generative)
            .map(|m| m * u64::from(opts.max_calls)),
        generative,
        input_measure: shaper.measure().into(),
    }
}

/// Thousands separators: `3000` → `3,000`.
pub fn fmt_num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Plan {
    /// The statement shown before asking for consent.
    pub fn describe(&self) -> String {
        let est = if self.input_measure == "chars" {
            " (estimated from characters)"
        } else {
            ""
        };
        let out = match (self.generative, self.max_output_tokens_spent) {
            (false, _) => String::new(),
            (true, Some(o)) => format!(" and at most {} output tokens", fmt_num(o)),
            (true, None) => {
                " and output tokens up to the model's default max_tokens per call".to_string()
            }
        };
        format!(
            "The shape matrix sends up to {} requests (about {} expected) to {}{}: at most {} input tokens{est}{out}.",
            self.max_calls,
            self.expected_calls,
            self.url,
            self.model.as_deref().map(|m| format!(" with {m}")).unwrap_or_default(),
            fmt_num(self.max_input_tokens_spent),
        )
    }
}

/// Fails with a usage error (exit 2) when consent would be needed but cannot be asked: stdin is not a
/// terminal and `yes` was not given. Call it before any network traffic.
pub fn check_consent_possible(yes: bool) -> Result<()> {
    if yes || std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(Error::input(
        "--matrix",
        "the sweep spends API calls and tokens and needs consent, but stdin is not a terminal; add --yes to agree",
    ))
}

/// States the plan on stderr and asks for consent. `Ok(true)`: go ahead (always with `yes`); `Ok(false)`: the
/// user said no. Without `yes` and without a terminal on stdin, fails as [`check_consent_possible`] does.
pub fn confirm(plan: &Plan, yes: bool) -> Result<bool> {
    eprintln!("{}", plan.describe());
    if yes {
        return Ok(true);
    }
    check_consent_possible(false)?;
    eprint!("Send them? [y/N] ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::io("stdin", e))?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

// ---------------------------------------------------------------------------------------------------------
// Scheduler

/// Paces calls under a rate limit and enforces the call budget.
#[derive(Debug)]
pub struct Scheduler {
    limit: u32,
    window: Duration,
    sent: VecDeque<Instant>,
    calls: u32,
    max_calls: u32,
    waited: Duration,
    max_wait: Duration,
    /// Calls accepted since the last 429 (or the start), and when the first of them was sent.
    run: (u32, Option<Instant>),
    pause_until: Option<Instant>,
    /// The limit to switch to when an answer shows a production key (no trial headers); `None` once known.
    production_limit: Option<u32>,
}

impl Scheduler {
    /// A scheduler allowing `limit` calls per `window` and `max_calls` calls in all.
    pub fn new(limit: u32, window: Duration, max_calls: u32, max_wait: Duration) -> Scheduler {
        Scheduler {
            limit: limit.max(1),
            window,
            sent: VecDeque::new(),
            calls: 0,
            max_calls,
            waited: Duration::ZERO,
            max_wait,
            run: (0, None),
            pause_until: None,
            production_limit: None,
        }
    }

    /// Until an answer shows otherwise, assume a trial key's limit; switch to `limit` when an answer carries no
    /// trial headers (trial keys get them on every answer but 429s).
    pub fn assume_trial_until_seen(&mut self, production_limit: u32) {
        self.production_limit = Some(production_limit);
    }

    /// Calls made so far.
    pub fn calls(&self) -> u32 {
        self.calls
    }

    /// Calls left in the budget.
    pub fn left(&self) -> u32 {
        self.max_calls.saturating_sub(self.calls)
    }

    /// Time spent waiting.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    async fn sleep(&mut self, d: Duration, why: &str, pb: Option<&ProgressBar>) {
        if d.is_zero() {
            return;
        }
        if let Some(pb) = pb {
            pb.set_message(format!("waiting {:.1} s ({why})", d.as_secs_f64()));
        }
        tokio::time::sleep(d).await;
        self.waited += d;
    }

    /// Waits until a call is allowed; `false` when the budget is spent.
    pub async fn acquire(&mut self, pb: Option<&ProgressBar>) -> bool {
        if self.calls >= self.max_calls {
            return false;
        }
        if let Some(t) = self.pause_until.take() {
            let d = t.saturating_duration_since(Instant::now());
            self.sleep(d, "rate limit", pb).await;
        }
        while let Some(first) = self.sent.front().copied() {
            if first.elapsed() >= self.window {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        if self.sent.len() as u32 >= self.limit {
            if let Some(first) = self.sent.front().copied() {
                let d = (first + self.window).saturating_duration_since(Instant::now());
                self.sleep(d, "staying under the rate limit", pb).await;
                self.sent.pop_front();
            }
        }
        let now = Instant::now();
        self.sent.push_back(now);
        self.calls += 1;
        if self.run.1.is_none() {
            self.run.1 = Some(now);
        }
        true
    }

    /// Learns from an accepted answer's headers (trial call limit and remaining calls).
    pub fn accepted(&mut self, headers: &[Header]) {
        self.run.0 += 1;
        let num = |n: &str| header(headers, n).and_then(|v| v.trim().parse::<u32>().ok());
        match (
            num("x-trial-endpoint-call-limit"),
            self.production_limit.take(),
        ) {
            (Some(l), _) => self.limit = self.limit.min(l.max(1)),
            (None, Some(p)) => self.limit = self.limit.max(p),
            (None, None) => {}
        }
        if num("x-trial-endpoint-call-remaining") == Some(0) {
            self.pause_until = Some(Instant::now() + self.window.min(self.max_wait));
        }
    }

    /// Learns from a 429: waits `Retry-After` (capped), and from then on allows only as many calls per window as
    /// were accepted before it.
    pub async fn rate_limited(&mut self, retry_after: Option<Duration>, pb: Option<&ProgressBar>) {
        let wait = retry_after
            .unwrap_or(Duration::from_secs(2))
            .min(self.max_wait);
        if let (n, Some(start)) = self.run {
            if n > 0 {
                // n calls were accepted in a window that ends `wait` from now.
                self.limit = n;
                self.window = (start.elapsed() + wait).min(Duration::from_secs(60).max(wait));
            }
        }
        self.sent.clear();
        self.sleep(wait, "429 Retry-After", pb).await;
        self.run = (0, None);
    }
}

fn retry_after(headers: &[Header]) -> Option<Duration> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64((ms / 1000.0).max(0.0)));
    }
    header(headers, "retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
}

// ---------------------------------------------------------------------------------------------------------
// The sweep

fn cell_from(ex: &Exchange, input_tokens: u64, max_tokens: Option<u64>, phase: &str) -> Cell {
    let status = match (&ex.response, &ex.failure) {
        (Some(r), _) => Value::from(r.status),
        (None, Some(f)) => Value::from(f.class.as_str()),
        (None, None) => Value::from("none"),
    };
    let request_id = ex
        .response
        .as_ref()
        .and_then(|r| header(&r.headers, "x-debug-trace-id"))
        .map(str::to_string);
    Cell {
        input_tokens,
        max_tokens,
        status,
        class: ex.failure.as_ref().map(|f| f.class.as_str().to_string()),
        message: ex
            .failure
            .as_ref()
            .map(|f| f.message.chars().take(200).collect()),
        request_id,
        phase: phase.into(),
    }
}

/// One grid point: its axis position, max_tokens and observations (indices into `cells`).
#[derive(Debug, Clone)]
struct Point {
    x: u64,
    col: Option<u64>,
    obs: Vec<usize>,
}

struct Sweeper<'a> {
    ctx: &'a SweepContext,
    shaper: Shaper,
    sched: Scheduler,
    cells: Vec<Cell>,
    points: Vec<Point>,
    rate_limited: u32,
    stopped_early: bool,
    /// Set when 429s keep coming: the sweep stops.
    blocked: bool,
    pb: Option<&'a ProgressBar>,
}

impl Sweeper<'_> {
    fn point(&mut self, x: u64, col: Option<u64>) -> usize {
        match self.points.iter().position(|p| p.x == x && p.col == col) {
            Some(i) => i,
            None => {
                self.points.push(Point {
                    x,
                    col,
                    obs: Vec::new(),
                });
                self.points.len() - 1
            }
        }
    }

    /// Sends the variant at (`x`, `col`); returns the index of its point, or `None` when no answer could be
    /// had within the budget.
    async fn observe(&mut self, x: u64, col: Option<u64>, phase: &str) -> Option<usize> {
        if self.blocked {
            return None;
        }
        let (body, tokens) = self.shaper.variant(x, col);
        let px = self.shaper.x_of(x, tokens);
        let prepared = PreparedRequest {
            method: "POST".into(),
            url: self.ctx.url.clone(),
            headers: self.ctx.headers.clone(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
        };
        let mut consecutive = 0;
        loop {
            if !self.sched.acquire(self.pb).await {
                self.stopped_early = true;
                return None;
            }
            if let Some(pb) = self.pb {
                let mt = col.map(fmt_num).unwrap_or_else(|| "default".into());
                pb.set_message(format!("{} input tokens, max_tokens {mt}", fmt_num(tokens)));
            }
            let out = self
                .ctx
                .client
                .send(
                    &prepared,
                    self.ctx.key.as_ref(),
                    "matrix",
                    self.sched.calls(),
                )
                .await;
            if let Some(pb) = self.pb {
                pb.inc(1);
            }
            let ex = out.exchange;
            if let Some(r) = ex.response.as_ref().filter(|r| r.status == 429) {
                self.rate_limited += 1;
                consecutive += 1;
                if consecutive >= MAX_CONSECUTIVE_429 {
                    self.blocked = true;
                    let i = self.point(px, col);
                    self.cells.push(cell_from(&ex, tokens, col, phase));
                    self.points[i].obs.push(self.cells.len() - 1);
                    return Some(i);
                }
                let ra = retry_after(&r.headers);
                self.sched.rate_limited(ra, self.pb).await;
                continue;
            }
            if let Some(r) = &ex.response {
                self.sched.accepted(&r.headers);
            }
            let i = self.point(px, col);
            self.cells.push(cell_from(&ex, tokens, col, phase));
            self.points[i].obs.push(self.cells.len() - 1);
            return Some(i);
        }
    }

    /// `Some(true)`: every observation failed; `Some(false)`: none did; `None`: both (or none made).
    fn fails(&self, p: usize) -> Option<bool> {
        let obs = &self.points[p].obs;
        if obs.is_empty() {
            return None;
        }
        let n = obs.iter().filter(|&&i| self.cells[i].failed()).count();
        if n == obs.len() {
            Some(true)
        } else if n == 0 {
            Some(false)
        } else {
            None
        }
    }

    fn find(&self, x: u64, col: Option<u64>) -> Option<usize> {
        self.points.iter().position(|p| p.x == x && p.col == col)
    }

    /// Bisects the input axis in column `col` between an ok position `lo` and a failing `hi`.
    async fn bisect_input(&mut self, col: Option<u64>, mut lo: u64, mut hi: u64) -> (u64, u64) {
        while hi > lo + 1 && (hi - lo) as f64 > PRECISION * lo as f64 && !self.blocked {
            let list = !matches!(self.shaper.axis, Axis::Text { .. });
            // For lists, positions are item counts; for text, token counts.
            let mid = lo + (hi - lo) / 2;
            let Some(p) = self.observe(mid, col, "bisect").await else {
                break;
            };
            let x = self.points[p].x;
            match self.fails(p) {
                Some(true) if x < hi => hi = x,
                Some(false) if x > lo => lo = x,
                _ => break,
            }
            if list && hi - lo <= 1 {
                break;
            }
        }
        (lo, hi)
    }

    /// Bisects max_tokens at input position `x` between an ok `lo` and a failing `hi`.
    async fn bisect_max(&mut self, x: u64, mut lo: u64, mut hi: u64) -> (u64, u64) {
        while hi > lo + 1 && (hi - lo) as f64 > PRECISION * lo as f64 && !self.blocked {
            let mid = lo + (hi - lo) / 2;
            let Some(p) = self.observe(x, Some(mid), "bisect").await else {
                break;
            };
            match self.fails(p) {
                Some(true) => hi = mid,
                Some(false) => lo = mid,
                None => break,
            }
        }
        (lo, hi)
    }

    /// Input tokens of the first observation at position `x` in any column.
    fn tokens_at(&self, x: u64) -> u64 {
        self.points
            .iter()
            .find(|p| p.x == x && !p.obs.is_empty())
            .map(|p| self.cells[p.obs[0]].input_tokens)
            .unwrap_or(x)
    }
}

/// Sweeps the shapes of `request` (see the module docs). `progress`, when given, gets a length and one tick per
/// call. Fails only on a request the sweep cannot vary at all (no JSON object body).
pub async fn sweep(
    ctx: &SweepContext,
    request: &CapturedRequest,
    opts: &MatrixOptions,
    progress: Option<&ProgressBar>,
) -> Result<MatrixResult> {
    if !request.body.is_object() {
        return Err(Error::input(
            "--matrix",
            "the request has no JSON object body to vary",
        ));
    }
    if opts.max_calls == 0 {
        return Err(Error::input("--max-calls", "must be at least 1"));
    }
    let shaper = Shaper::new(request.endpoint, &request.body, ctx.tokenizer.clone());
    let prior_headers: Vec<Header> = ctx
        .prior
        .as_ref()
        .and_then(|e| e.response.as_ref())
        .map(|r| r.headers.clone())
        .unwrap_or_default();
    let trial_limit = header(&prior_headers, "x-trial-endpoint-call-limit")
        .and_then(|v| v.trim().parse::<u32>().ok());
    let production = ctx
        .prior
        .as_ref()
        .is_some_and(|e| e.response.as_ref().is_some_and(|r| r.status != 429))
        && trial_limit.is_none();
    let limit = opts
        .rate_per_minute
        .or(trial_limit)
        .unwrap_or_else(|| documented_limit_per_minute(request.endpoint, !production));
    let mut sched = Scheduler::new(
        limit,
        Duration::from_secs(60),
        opts.max_calls,
        opts.max_wait,
    );
    if opts.rate_per_minute.is_none() && trial_limit.is_none() && !production {
        sched.assume_trial_until_seen(documented_limit_per_minute(request.endpoint, false));
    }
    if prior_headers.iter().any(|h| {
        h.name
            .eq_ignore_ascii_case("x-trial-endpoint-call-remaining")
    }) {
        sched.accepted(&prior_headers);
        sched.run = (0, None);
    }
    if let Some(pb) = progress {
        pb.set_length(u64::from(plan(ctx, request, opts).expected_calls));
    }
    let mut s = Sweeper {
        ctx,
        shaper,
        sched,
        cells: Vec::new(),
        points: Vec::new(),
        rate_limited: 0,
        stopped_early: false,
        blocked: false,
        pb: progress,
    };
    let cols = columns(request);
    let orig_col = *cols.last().unwrap_or(&None);
    let cheap_col = cols[0];
    let x0 = s.shaper.original_x();
    let has_axis = !matches!(s.shaper.axis, Axis::None);

    // 1. The original cell, twice.
    if let Some(prior) = &ctx.prior {
        let tokens = s.shaper.input_tokens(&request.body);
        let i = s.point(s.shaper.x_of(x0, tokens), orig_col);
        s.cells
            .push(cell_from(prior, tokens, request.max_tokens(), "replay"));
        s.points[i].obs.push(s.cells.len() - 1);
    } else {
        s.observe(x0, orig_col, "grid").await;
    }
    s.observe(x0, orig_col, "repeat").await;
    // Positions are re-read from the points: text positions are measured token counts.
    let x0 = s.points.first().map_or(x0, |p| p.x);

    // 2. The coarse grid: 100 % with the other columns, 25 % with every column, 5 % when 25 % fails cheaply.
    for &c in cols.iter().filter(|c| **c != orig_col) {
        s.observe(x0, c, "grid").await;
    }
    let x25 = s.shaper.x_at(GRID_FRACTIONS[1]);
    let x5 = s.shaper.x_at(GRID_FRACTIONS[0]);
    let mut rows = vec![x0];
    if has_axis && x25 < x0 {
        let mut got = None;
        for &c in cols.iter().rev() {
            if let Some(p) = s.observe(x25, c, "grid").await {
                got = Some(s.points[p].x);
            }
        }
        if let Some(x) = got {
            rows.insert(0, x);
            let cheap_fails = s.find(x, cheap_col).and_then(|p| s.fails(p)) == Some(true);
            if cheap_fails && x5 < x25 {
                if let Some(p) = s.observe(x5, cheap_col, "grid").await {
                    rows.insert(0, s.points[p].x);
                }
            }
        }
    }
    rows.dedup();

    // 3. Re-check cells that break monotonicity (a failure where a larger shape succeeded).
    let grid: Vec<usize> = (0..s.points.len()).collect();
    for &a in &grid {
        if s.fails(a) != Some(true) {
            continue;
        }
        let (ax, ac) = (s.points[a].x, s.points[a].col);
        let le = |p: Option<u64>, q: Option<u64>| match (p, q) {
            (Some(p), Some(q)) => p <= q,
            (_, None) => true,
            (None, Some(_)) => false,
        };
        let violated = grid.iter().any(|&b| {
            b != a && s.fails(b) == Some(false) && ax <= s.points[b].x && le(ac, s.points[b].col)
        });
        if violated {
            s.observe(ax, ac, "recheck").await;
        }
    }

    // 4. The verdict from the grid.
    let grid_points: Vec<usize> = (0..s.points.len()).collect();
    let states: Vec<Option<bool>> = grid_points.iter().map(|&p| s.fails(p)).collect();
    let intermittent = states.iter().any(Option::is_none);
    let any_fail = states.contains(&Some(true));
    let any_ok = states.contains(&Some(false));
    let row_state = |s: &Sweeper<'_>, x: u64| -> Vec<Option<bool>> {
        cols.iter()
            .map(|&c| s.find(x, c).and_then(|p| s.fails(p)))
            .collect()
    };
    let col_state = |s: &Sweeper<'_>, c: Option<u64>| -> Vec<Option<bool>> {
        rows.iter()
            .map(|&x| s.find(x, c).and_then(|p| s.fails(p)))
            .collect()
    };
    let uniform = |v: &[Option<bool>]| {
        let known: Vec<bool> = v.iter().flatten().copied().collect();
        known.windows(2).all(|w| w[0] == w[1])
    };
    let rows_uniform = rows.iter().all(|&x| uniform(&row_state(&s, x)));
    let cols_uniform = cols.iter().all(|&c| uniform(&col_state(&s, c)));
    let verdict = if intermittent {
        Verdict::Intermittent
    } else if !any_fail {
        Verdict::NoneFail
    } else if !any_ok {
        Verdict::AllFail
    } else if rows_uniform && !cols_uniform {
        Verdict::InputLength
    } else if cols_uniform && !rows_uniform {
        Verdict::MaxTokens
    } else {
        Verdict::Mixed
    };

    // 5. Bisection where the outcome changes.
    let mut b_in: Option<(u64, u64)> = None;
    let mut b_max: Option<(u64, u64)> = None;
    if matches!(verdict, Verdict::InputLength | Verdict::Mixed) {
        // The cheapest column in which the outcome changes along the input axis.
        for &c in &cols {
            let st = col_state(&s, c);
            let lo = rows
                .iter()
                .zip(&st)
                .filter(|(_, f)| **f == Some(false))
                .map(|(x, _)| *x)
                .max();
            let hi = rows
                .iter()
                .zip(&st)
                .filter(|(_, f)| **f == Some(true))
                .map(|(x, _)| *x)
                .min();
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo < hi {
                    b_in = Some(s.bisect_input(c, lo, hi).await);
                    break;
                }
            }
        }
    }
    if matches!(verdict, Verdict::MaxTokens | Verdict::Mixed) {
        if let Some(orig) = orig_col {
            // The smallest input at which max_tokens 1 succeeds and the original fails.
            for &x in &rows {
                let st = row_state(&s, x);
                if st.first() == Some(&Some(false))
                    && st.last() == Some(&Some(true))
                    && cols.len() > 1
                {
                    b_max = Some(s.bisect_max(x, 1, orig).await);
                    break;
                }
            }
        }
    }

    // 6. The conclusion.
    let est = if s.shaper.measure() == "chars" {
        " (estimated from characters)"
    } else {
        ""
    };
    let unit = match &s.shaper.axis {
        Axis::List { name, .. } => *name,
        _ => "tokens",
    };
    let in_words = |s: &Sweeper<'_>, x: u64| match &s.shaper.axis {
        Axis::List { .. } => format!("{} {unit} ({} tokens)", fmt_num(x), fmt_num(s.tokens_at(x))),
        _ => format!("{} tokens{est}", fmt_num(x)),
    };
    let fail_statuses = {
        let mut v: Vec<String> = s
            .cells
            .iter()
            .filter(|c| c.failed())
            .map(|c| c.status.to_string().trim_matches('"').to_string())
            .collect();
        v.sort();
        v.dedup();
        v.join(", ")
    };
    let total_obs = s.cells.len();
    let failed_obs = s.cells.iter().filter(|c| c.failed()).count();
    let min_tokens = s.cells.iter().map(|c| c.input_tokens).min().unwrap_or(0);
    let mut conclusion = match verdict {
        Verdict::AllFail => format!(
            "Every shape fails ({fail_statuses}), down to {} input tokens{est}{}: the failure does not depend on the \
             request's size; look at the key, the model or the service.",
            fmt_num(min_tokens),
            if cols.len() > 1 { " with max_tokens 1" } else { "" }
        ),
        Verdict::NoneFail => format!(
            "Every shape succeeded ({total_obs} calls, the original included): the failure did not reproduce."
        ),
        Verdict::Intermittent => format!(
            "The same shape both failed and succeeded ({failed_obs} of {total_obs} calls failed: {fail_statuses}): the \
             failures are intermittent, not tied to the input length or max_tokens."
        ),
        Verdict::InputLength => match b_in {
            Some((lo, hi)) => format!(
                "Fails only when the input exceeds ≈{}{est}; every shorter input succeeds (ok at {}, fails at {}).",
                if unit == "tokens" { format!("{} tokens", fmt_num(lo)) } else { in_words(&s, lo) },
                in_words(&s, lo),
                in_words(&s, hi)
            ),
            None => "Fails only with longer inputs; shorter inputs succeed.".to_string(),
        },
        Verdict::MaxTokens => match b_max {
            Some((lo, hi)) => format!(
                "Fails only when max_tokens exceeds ≈{}; every input length succeeds with a smaller max_tokens (ok at {}, \
                 fails at {}).",
                fmt_num(lo),
                fmt_num(lo),
                fmt_num(hi)
            ),
            None => "Fails only with the original max_tokens; max_tokens 1 succeeds at every input length.".to_string(),
        },
        Verdict::Mixed => {
            let mut parts = vec!["Failures depend on both the input length and max_tokens".to_string()];
            if let Some((lo, hi)) = b_in {
                parts.push(format!("with the input boundary between {} and {}", in_words(&s, lo), in_words(&s, hi)));
            }
            if let Some((lo, hi)) = b_max {
                parts.push(format!("with the max_tokens boundary between {} and {}", fmt_num(lo), fmt_num(hi)));
            }
            format!("{}; compare input + max_tokens with the model's context window.", parts.join(", "))
        }
    };
    if s.blocked {
        conclusion.push_str(" The sweep stopped: the API kept answering 429 (rate limited).");
    } else if s.stopped_early {
        conclusion.push_str(&format!(
            " (Stopped at the budget of {} calls.)",
            opts.max_calls
        ));
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    let boundary_input_tokens = b_in.map(|(lo, _)| s.tokens_at(lo));
    Ok(MatrixResult {
        boundary_input_tokens,
        boundary_max_tokens: b_max.map(|(lo, _)| lo),
        calls: s.sched.calls(),
        max_calls: opts.max_calls,
        rate_limited: s.rate_limited,
        waited_s: (s.sched.waited().as_secs_f64() * 10.0).round() / 10.0,
        input_measure: s.shaper.measure().into(),
        input_axis: s.shaper.axis_name().into(),
        stopped_early: s.stopped_early,
        conclusion,
        verdict,
        cells: s.cells,
    })
}

/// The model's tokenizer for a sweep: `GET {base}/v1/models/{model}` for `tokenizer_url`, then the cache (which
/// downloads it once); else a tokenizer cached earlier for this model. `None` when neither works (the sweep then
/// scales by characters).
pub async fn load_tokenizer(
    http: &reqwest::Client,
    base_url: &str,
    key: Option<&SecretString>,
    model: Option<&str>,
    cache: &TokenizerCache,
) -> Option<Arc<Tokenizer>> {
    let model = model?;
    let mut notes = Vec::new();
    if let Ok(meta) = tokenizer::fetch_model_meta(http, base_url, key, model).await {
        if let Some(u) = meta.tokenizer_url {
            let u = if u.contains("://") {
                u
            } else {
                url::Url::parse(&format!("{}/", base_url.trim_end_matches('/')))
                    .and_then(|b| b.join(&u))
                    .map(|x| x.to_string())
                    .unwrap_or(u)
            };
            let _ = cache.remember_model(base_url, model, &u);
            if let Ok(t) = cache.get(http, &u, &mut notes).await {
                return Some(t);
            }
        }
    }
    let u = cache.model_url(base_url, model)?;
    cache.get_cached(&u, &mut notes).await
}

/// The matrix step of a replay, as the command line asks for it (`--matrix`, `--max-calls`, `--yes`, `--json`).
#[derive(Debug, Clone, Default)]
pub struct MatrixRun {
    /// Sweep options.
    pub options: MatrixOptions,
    /// Consent given beforehand (`--yes`).
    pub yes: bool,
    /// No progress bar (`--json`).
    pub quiet: bool,
}

/// Where a replay went: what [`run_after_replay`] needs to send variants the same way.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The client the replay used.
    pub client: &'a Client,
    /// The replayed request as sent (URL and headers are reused; the body is varied).
    pub prepared: &'a PreparedRequest,
    /// The key.
    pub key: Option<&'a SecretString>,
    /// The API base URL (for the models API and the tokenizer).
    pub base_url: &'a str,
}

/// After a replay: loads the tokenizer, states the plan, asks for consent and sweeps. `Ok(None)` when the user
/// declines at the prompt (the bundle is then written without a matrix).
pub async fn run_after_replay(
    target: &Target<'_>,
    request: &CapturedRequest,
    replayed: &Exchange,
    cache: &TokenizerCache,
    run: &MatrixRun,
) -> Result<Option<MatrixResult>> {
    let tok = load_tokenizer(
        target.client.http(),
        target.base_url,
        target.key,
        request.model(),
        cache,
    )
    .await;
    let ctx = SweepContext {
        client: target.client.clone(),
        url: target.prepared.url.clone(),
        headers: target.prepared.headers.clone(),
        key: target.key.cloned(),
        tokenizer: tok,
        prior: Some(replayed.clone()),
    };
    if !confirm(&plan(&ctx, request, &run.options), run.yes)? {
        eprintln!("Shape matrix skipped; writing the bundle without it.");
        return Ok(None);
    }
    let pb = progress_bar(run.quiet);
    let r = sweep(&ctx, request, &run.options, Some(&pb)).await?;
    Ok(Some(r))
}

/// A progress bar on stderr for a sweep (hidden when `quiet` or when stderr is not a terminal).
pub fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("shape matrix {bar:30} {pos}/{len} calls  {msg}")
    {
        pb.set_style(style);
    }
    pb
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sim_tokenizer() -> Arc<Tokenizer> {
        Arc::new(crate::simulator::tokenizer().clone())
    }

    #[tokio::test]
    async fn scheduler_paces_under_its_limit_and_keeps_the_budget() {
        let window = Duration::from_millis(300);
        let mut s = Scheduler::new(2, window, 4, Duration::from_secs(5));
        let t0 = Instant::now();
        assert!(s.acquire(None).await && s.acquire(None).await);
        assert!(t0.elapsed() < window, "the first two calls go at once");
        assert!(s.acquire(None).await);
        assert!(t0.elapsed() >= window, "the third waits for the window");
        // A trial header lowers the limit; remaining 0 pauses the next call.
        s.accepted(&[
            Header::new("x-trial-endpoint-call-limit", "1"),
            Header::new("x-trial-endpoint-call-remaining", "0"),
        ]);
        assert_eq!(s.limit, 1);
        let t1 = Instant::now();
        assert!(s.acquire(None).await);
        assert!(t1.elapsed() >= window - Duration::from_millis(20));
        assert!(!s.acquire(None).await, "the budget of 4 is spent");
        assert_eq!(s.calls(), 4);
        assert_eq!(
            retry_after(&[Header::new("Retry-After", "2")]),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&[Header::new("retry-after-ms", "1500")]),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn numbers_get_separators() {
        assert_eq!(fmt_num(0), "0");
        assert_eq!(fmt_num(999), "999");
        assert_eq!(fmt_num(3000), "3,000");
        assert_eq!(fmt_num(1234567), "1,234,567");
    }

    #[test]
    fn text_variants_hit_their_token_targets() {
        let t = sim_tokenizer();
        let text = tokenizer::grow_to_tokens(&t, "Support bundles answer the FAQ. ", 2000);
        let body = json!({"model": "command-a-03-2025", "max_tokens": 700,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]});
        let s = Shaper::new(Endpoint::ChatV2, &body, Some(t.clone()));
        let x0 = s.original_x();
        assert_eq!(x0, tokenizer::count(&t, Endpoint::ChatV2, &body));
        for target in [s.x_at(0.05), s.x_at(0.25), 1234] {
            let (v, n) = s.variant(target, Some(1));
            assert_eq!(n, target, "variant hits {target} tokens");
            assert_eq!(v["max_tokens"], json!(1));
            assert_eq!(
                v["messages"][0]["content"],
                json!("Be brief."),
                "other messages untouched"
            );
        }
        let (v, _) = s.variant(x0, None);
        assert!(v.get("max_tokens").is_none());
    }

    #[test]
    fn list_variants_and_char_fallback() {
        let body = json!({"model": "embed-v4.0", "texts": ["a b c", "d e f", "g h i", "j k l"], "input_type": "search_document"});
        let s = Shaper::new(Endpoint::EmbedV2, &body, None);
        assert_eq!(s.axis_name(), "texts");
        assert_eq!(s.measure(), "chars");
        let (v, _) = s.variant(s.x_at(0.25), None);
        assert_eq!(v["texts"].as_array().map(Vec::len), Some(1));
        let body = json!({"message": "x".repeat(4000)});
        let s = Shaper::new(Endpoint::ChatV1, &body, None);
        let (v, n) = s.variant(250, Some(5));
        assert_eq!(v["message"].as_str().map(str::len), Some(1000));
        assert_eq!(n, 250);
    }

    #[test]
    fn plan_states_the_bounds() {
        let body = json!({"model": "command-a-03-2025", "max_tokens": 100, "messages": [{"role": "user", "content": "hello there"}]});
        let req = CapturedRequest::from_body(Endpoint::ChatV2, body);
        let ctx = SweepContext {
            client: Client::new(Duration::from_secs(5)).expect("client"),
            url: "http://127.0.0.1:9/v2/chat".into(),
            headers: Vec::new(),
            key: None,
            tokenizer: Some(sim_tokenizer()),
            prior: None,
        };
        let p = plan(&ctx, &req, &MatrixOptions::default());
        assert_eq!(p.max_calls, DEFAULT_MAX_CALLS);
        assert!(p.expected_calls <= p.max_calls);
        assert_eq!(
            p.max_output_tokens_spent,
            Some(100 * u64::from(DEFAULT_MAX_CALLS))
        );
        assert_eq!(
            p.max_input_tokens_spent,
            p.input_tokens * u64::from(DEFAULT_MAX_CALLS)
        );
        let d = p.describe();
        assert!(
            d.contains("up to 12 requests") && d.contains("1,200 output tokens"),
            "{d}"
        );
    }
}
