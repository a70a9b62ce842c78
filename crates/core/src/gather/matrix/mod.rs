//! Gather stage. The shape matrix: answers the support FAQ's "are all the requests of various input/output shapes failing?"
//! by measurement.
//!
//! From the failing request [`sweep`] derives variants along two axes and sends them:
//! - **input length**: every text the model reads — message text of every role, documents, tool results, the
//!   v1 preamble and chat history, generate's prompt, embed texts and rerank documents — cut (largest first) or
//!   grown to a target token count with the model's tokenizer, or, without a tokenizer, by characters (labelled
//!   `chars` in [`MatrixResult::input_measure`]); embed and rerank lists first lose items from the end. Each
//!   variant is measured again: cells record the size reached, not the target (see `shape.rs` for what is
//!   varied and what is left alone);
//! - **max_tokens** (generative endpoints): `1` and the original value.
//!
//! First a coarse grid (input ≈ 5 %, 25 %, 100 % of the original × max_tokens {1, original}; the 5 % row only when
//! 25 % fails even with max_tokens 1), the original cell twice to catch intermittent failures, then bisection on the
//! axis where the outcome changes until the boundary is known within [`PRECISION`].
//!
//! `all_fail` needs a failure at a **small** input: at most [`SMALL_INPUT_FRACTION`] of the original's input
//! tokens or at most [`SMALL_INPUT_TOKENS`], with the cheapest max_tokens. When every shape tried failed but no
//! small one was tried, the verdict is `inconclusive` with an [`InconclusiveReason`].
//!
//! The pacing honours the key's rate limit: the documented per-minute limits as defaults
//! (trial chat 20/min, embed 5/min, rerank 10/min), `x-trial-endpoint-call-limit` / `-remaining` when the API sends
//! them, and a 429's `Retry-After` (wait, then send the same cell again) up to [`MAX_RETRY_AFTER`]; a longer wait
//! stops the sweep. No more than [`MatrixOptions::max_calls`] requests are ever sent, 429s included. [`plan`]
//! states the cost beforehand and asks the [`SweepHost`] for consent.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cohere_bundle_core::gather::client::Client;
//! use cohere_bundle_core::gather::matrix::{plan, MatrixOptions, SweepContext, DEFAULT_MAX_CALLS};
//! use cohere_bundle_core::{CapturedRequest, Endpoint};
//!
//! let request = CapturedRequest::from_body(Endpoint::ChatV2, serde_json::json!({
//!     "model": "command-a-03-2025", "max_tokens": 500,
//!     "messages": [{"role": "user", "content": "Summarise the attached report. ".repeat(200)}],
//! }));
//! let ctx = SweepContext {
//!     client: Client::new(Duration::from_secs(60))?,
//!     url: "https://api.cohere.com/v2/chat".into(),
//!     headers: vec![],
//!     key: None,
//!     tokenizer: Some(Arc::new(cohere_bundle_simulator::tokenizer().clone())),
//!     prior: None,
//! };
//! assert_eq!(MatrixOptions::default().max_calls, DEFAULT_MAX_CALLS);
//! let opts = MatrixOptions::default().max_calls(8).rate_per_minute(20).max_wait(Duration::from_secs(30));
//!
//! // The most the sweep may spend, before anything is sent.
//! let p = plan(&ctx, &request, &opts);
//! assert_eq!((p.max_calls, p.model.as_deref(), p.max_tokens), (8, Some("command-a-03-2025"), Some(500)));
//! assert_eq!(p.input_measure, "tokenizer");
//! assert_eq!(p.max_input_tokens_spent, 8 * p.input_tokens);
//! assert_eq!(p.max_output_tokens_spent, Some(8 * 500));
//! assert!(p.describe().contains("command-a-03-2025"));
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```

mod schedule;
mod shape;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use tokenizers::Tokenizer;

use crate::cohere::Endpoint;
use crate::error::{Error, Result};
use crate::exchange::{header, Exchange, Header};
use crate::gather::client::{Client, PreparedRequest};
use crate::gather::tokenizer::{self, TokenizerCache};
use crate::input::request::CapturedRequest;
use crate::scrub::SecretString;

#[cfg(test)]
use schedule::RetryAfter;
pub use schedule::MAX_RETRY_AFTER;
use schedule::{parse_retry_after, Scheduler};
use shape::{Shaper, Variant};

/// The default call budget (`--max-calls`).
///
/// Example: [`crate::gather::matrix`].
pub const DEFAULT_MAX_CALLS: u32 = 12;

/// Bisection stops when the boundary is known within this fraction of its value. Example: [`sweep`].
pub const PRECISION: f64 = 0.05;

/// The input levels of the coarse grid, as fractions of the original.
pub(crate) const GRID_FRACTIONS: [f64; 3] = [0.05, 0.25, 1.0];

/// An input is small when it has at most this fraction of the original's input tokens… (the verdicts of the
/// example in [`sweep`] depend on it)
pub const SMALL_INPUT_FRACTION: f64 = 0.25;

/// …or at most this many input tokens. `all_fail` needs a failure at a small input. Example: [`sweep`].
pub const SMALL_INPUT_TOKENS: u64 = 128;

/// Consecutive 429 answers after which the sweep stops (the key is rate limited, not the shape).
const MAX_CONSECUTIVE_429: u32 = 3;

/// How to sweep.
///
/// Example: [`crate::gather::matrix`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MatrixOptions {
    /// The most requests sent, 429 answers included (`--max-calls`).
    pub max_calls: u32,
    /// Calls per minute to stay under; default: the trial header if seen, else the documented limit (see
    /// [`documented_limit_per_minute`]).
    pub rate_per_minute: Option<u32>,
    /// The longest single wait for a rate limit (never more than [`MAX_RETRY_AFTER`]); a 429 asking for longer
    /// stops the sweep.
    pub max_wait: Duration,
}

impl MatrixOptions {
    /// The most requests sent, 429 answers included.
    ///
    /// Example: [`crate::gather::matrix`].
    #[must_use]
    pub fn max_calls(mut self, n: u32) -> Self {
        self.max_calls = n;
        self
    }

    /// Calls per minute to stay under.
    ///
    /// Example: [`crate::gather::matrix`].
    #[must_use]
    pub fn rate_per_minute(mut self, n: u32) -> Self {
        self.rate_per_minute = Some(n);
        self
    }

    /// The longest single wait for a rate limit.
    ///
    /// Example: [`crate::gather::matrix`].
    #[must_use]
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }
}

impl Default for MatrixOptions {
    fn default() -> Self {
        MatrixOptions {
            max_calls: DEFAULT_MAX_CALLS,
            rate_per_minute: None,
            max_wait: MAX_RETRY_AFTER,
        }
    }
}

/// Where and how to send the variants.
///
/// Example: [`crate::gather::matrix`].
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

pub use crate::summary::{
    Cell, CellStatus, InconclusiveReason, MatrixResult, Phase, Unknown, Verdict,
};

/// The documented per-minute call limit of a trial key for an endpoint (the support FAQ's figures: chat 20,
/// embed 5, rerank 10; others 20). Production limits are far higher (hundreds per minute).
///
/// ```
/// use cohere_bundle_core::gather::matrix::documented_limit_per_minute;
/// use cohere_bundle_core::Endpoint;
/// assert_eq!(documented_limit_per_minute(Endpoint::ChatV2, true), 20);
/// assert_eq!(documented_limit_per_minute(Endpoint::EmbedV2, true), 5);
/// assert_eq!(documented_limit_per_minute(Endpoint::RerankV2, true), 10);
/// assert!(documented_limit_per_minute(Endpoint::ChatV2, false) > 20);
/// ```
pub fn documented_limit_per_minute(endpoint: Endpoint, trial: bool) -> u32 {
    match (endpoint, trial) {
        (Endpoint::EmbedV1 | Endpoint::EmbedV2, true) => 5,
        (Endpoint::RerankV1 | Endpoint::RerankV2, true) => 10,
        (_, true) => 20,
        (_, false) => 500,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Plan and consent

/// What a sweep may cost, stated before it starts.
///
/// Example: [`crate::gather::matrix`].
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
///
/// Example: [`crate::gather::matrix`].
pub fn plan(ctx: &SweepContext, request: &CapturedRequest, opts: &MatrixOptions) -> Plan {
    let shaper = Shaper::new(request.endpoint, &request.body, ctx.tokenizer.clone());
    let cols = columns(request).len() as u32;
    let rows = if shaper.has_axis() { 2 } else { 1 };
    let coarse = rows * cols + 1 - u32::from(ctx.prior.is_some());
    // Bisection: ⌈log2(range / (PRECISION × boundary))⌉ for a boundary in the upper part of the range.
    let steps = if rows * cols > 1 {
        (0.75 / (PRECISION * 0.5)).log2().ceil() as u32
    } else {
        0
    };
    let input_tokens = shaper.original_tokens();
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
pub(crate) fn fmt_num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Plan {
    /// The statement shown before asking for consent.
    ///
    /// Example: [`crate::gather::matrix`].
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

/// What a sweep tells and asks the program it runs in: consent before it spends calls and tokens, and its
/// progress. The library never prompts or prints; the CLI's host asks on the terminal and draws a progress
/// bar, a service's host may approve within its own policy.
///
/// ```
/// use cohere_bundle_core::gather::matrix::{Plan, SweepHost};
/// struct Approve;
/// impl SweepHost for Approve {
///     fn consent(&self, _plan: &Plan) -> bool { true }
/// }
/// ```
pub trait SweepHost: Send + Sync {
    /// The plan (the calls and tokens the sweep may spend), told before anything is spent, with or without
    /// consent given beforehand.
    fn plan(&self, _plan: &Plan) {}
    /// Asked after [`SweepHost::plan`] when consent was not given beforehand: `true` to go ahead.
    fn consent(&self, plan: &Plan) -> bool;
    /// The number of calls the sweep expects to make.
    fn set_length(&self, _calls: u64) {}
    /// One call was sent.
    fn tick(&self) {}
    /// What the sweep is doing now (the shape being sent, a wait and why).
    fn message(&self, _text: &str) {}
    /// The sweep is over.
    fn finish(&self) {}
}

/// Fails with a usage error when consent would be needed but cannot be had: neither `yes` nor a host. Call
/// it before any network traffic.
pub(crate) fn check_consent_possible(run: &MatrixRun) -> Result<()> {
    if run.yes || run.host.is_some() {
        return Ok(());
    }
    Err(Error::input(
        "matrix consent",
        "the sweep spends API calls and tokens and needs consent: agree beforehand (yes) or give a host that asks",
    ))
}

/// Consent for `plan`: `Ok(true)` with `yes` (the host still hears the plan), else the host's answer.
pub(crate) fn confirm(plan: &Plan, run: &MatrixRun) -> Result<bool> {
    check_consent_possible(run)?;
    if let Some(h) = &run.host {
        h.plan(plan);
    }
    match &run.host {
        Some(h) if !run.yes => Ok(h.consent(plan)),
        _ => Ok(true),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The sweep

fn cell_from(ex: &Exchange, v: &Variant, max_tokens: Option<u64>, phase: Phase) -> Cell {
    let status = match (&ex.response, &ex.failure) {
        (Some(r), _) => CellStatus::Http(r.status),
        (None, Some(f)) => CellStatus::NoResponse(f.class),
        (None, None) => CellStatus::Unknown(Unknown::None),
    };
    let request_id = ex
        .response
        .as_ref()
        .and_then(|r| header(&r.headers, "x-debug-trace-id"))
        .map(str::to_string);
    Cell {
        input_tokens: v.tokens,
        target_input_tokens: v.target,
        items: v.items,
        max_tokens,
        status,
        class: ex.failure.as_ref().map(|f| f.class),
        message: ex
            .failure
            .as_ref()
            .map(|f| f.message.chars().take(200).collect()),
        request_id,
        phase,
    }
}

/// The wait a 429 asked for, as sent (printable ASCII, shortened), for the conclusion.
fn asked_wait(headers: &[Header]) -> String {
    let raw = match header(headers, "retry-after-ms") {
        Some(ms) if ms.trim().parse::<f64>().is_ok() => format!("{} ms", ms.trim()),
        _ => header(headers, "retry-after")
            .unwrap_or("")
            .trim()
            .to_string(),
    };
    let clean: String = raw
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(40)
        .collect();
    if clean.is_empty() {
        "(unreadable)".into()
    } else {
        format!("\"{clean}\"")
    }
}

/// One grid point: its measured input position, max_tokens, the target that produced it and its observations
/// (indices into `cells`; 429 answers are not observations of a shape).
#[derive(Debug, Clone)]
struct Point {
    x: u64,
    col: Option<u64>,
    target: u64,
    obs: Vec<usize>,
}

/// A boundary: the largest ok value and the smallest failing one.
type Bounds = Option<(u64, u64)>;

struct Sweeper<'a> {
    ctx: &'a SweepContext,
    shaper: Shaper,
    sched: Scheduler,
    cells: Vec<Cell>,
    points: Vec<Point>,
    /// max_tokens columns, cheapest first, the original's last.
    cols: Vec<Option<u64>>,
    max_calls: u32,
    rate_limited: u32,
    stopped_early: bool,
    /// Why the sweep stopped before it was done.
    stop: Option<InconclusiveReason>,
    /// The Retry-After the sweep refused to wait for.
    refused_wait: Option<String>,
    pb: Option<&'a dyn SweepHost>,
}

impl Sweeper<'_> {
    fn orig_col(&self) -> Option<u64> {
        *self.cols.last().unwrap_or(&None)
    }

    fn cheap_col(&self) -> Option<u64> {
        *self.cols.first().unwrap_or(&None)
    }

    fn find(&self, x: u64, col: Option<u64>) -> Option<usize> {
        self.points.iter().position(|p| p.x == x && p.col == col)
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

    fn state(&self, x: u64, col: Option<u64>) -> Option<bool> {
        self.find(x, col).and_then(|p| self.fails(p))
    }

    /// Records an answer as an observation of the variant's shape; returns its point.
    fn record(&mut self, ex: &Exchange, v: &Variant, col: Option<u64>, phase: Phase) -> usize {
        self.cells.push(cell_from(ex, v, col, phase));
        let i = match self.find(v.tokens, col) {
            Some(i) => i,
            None => {
                self.points.push(Point {
                    x: v.tokens,
                    col,
                    target: v.target,
                    obs: Vec::new(),
                });
                self.points.len() - 1
            }
        };
        self.points[i].obs.push(self.cells.len() - 1);
        i
    }

    /// Notes a 429 whose wait is too long: the sweep stops.
    fn refuse_wait(&mut self, headers: &[Header]) {
        self.stop = Some(InconclusiveReason::RetryAfterTooLong);
        self.refused_wait = Some(asked_wait(headers));
    }

    /// Sends a variant until an answer other than 429 comes. `None` when the sweep stops instead (budget spent,
    /// 429s kept coming, or a 429 asked for too long a wait; the last 429 is then kept in `cells`).
    async fn send(&mut self, v: &Variant, col: Option<u64>, phase: Phase) -> Option<Exchange> {
        if self.stop.is_some() {
            return None;
        }
        let prepared = PreparedRequest {
            method: "POST".into(),
            url: self.ctx.url.clone(),
            headers: self.ctx.headers.clone(),
            body: serde_json::to_vec(&v.body).unwrap_or_default(),
        };
        let mut consecutive = 0;
        loop {
            if !self.sched.acquire(self.pb).await {
                self.stopped_early = true;
                self.stop = Some(InconclusiveReason::BudgetExhausted);
                return None;
            }
            if let Some(pb) = self.pb {
                let mt = col.map(fmt_num).unwrap_or_else(|| "default".into());
                pb.message(&format!(
                    "{} input tokens, max_tokens {mt}",
                    fmt_num(v.tokens)
                ));
            }
            let n = self.sched.calls();
            let out = self
                .ctx
                .client
                .send(
                    &prepared,
                    self.ctx.key.as_ref(),
                    crate::exchange::Purpose::Matrix,
                    n,
                )
                .await;
            if let Some(pb) = self.pb {
                pb.tick();
            }
            let ex = out.exchange;
            let limited = ex.response.as_ref().filter(|r| r.status == 429);
            let Some(headers) = limited.map(|r| r.headers.clone()) else {
                if let Some(r) = &ex.response {
                    self.sched.accepted(&r.headers);
                }
                return Some(ex);
            };
            self.rate_limited += 1;
            consecutive += 1;
            if consecutive < MAX_CONSECUTIVE_429 {
                let asked = parse_retry_after(&headers, Utc::now());
                if self.sched.rate_limited(asked, self.pb).await {
                    continue;
                }
                self.refuse_wait(&headers);
            } else {
                self.stop = Some(InconclusiveReason::RateLimited);
            }
            self.cells.push(cell_from(&ex, v, col, phase));
            return None;
        }
    }

    /// Sends the variant for `target` and `col` and records the answer. Unless `again`, a shape already observed
    /// (same measured size and column) is not sent a second time. `None` when no answer could be had.
    async fn observe(
        &mut self,
        target: u64,
        col: Option<u64>,
        phase: Phase,
        again: bool,
    ) -> Option<usize> {
        if self.stop.is_some() {
            return None;
        }
        let v = self.shaper.variant(target, col);
        if !again {
            if let Some(p) = self.find(v.tokens, col) {
                return Some(p);
            }
        }
        let ex = self.send(&v, col, phase).await?;
        Some(self.record(&ex, &v, col, phase))
    }

    /// The replay as the original cell's first observation. A 429 replay is not a shape's outcome: its
    /// Retry-After holds the first call back, or stops the sweep when it is too long.
    fn seed_from_prior(&mut self, prior: &Exchange) {
        let col = self.orig_col();
        let v = self.shaper.variant(self.shaper.original_tokens(), col);
        match prior.response.as_ref().filter(|r| r.status == 429) {
            None => {
                self.record(prior, &v, col, Phase::Replay);
            }
            Some(r) => {
                self.cells.push(cell_from(prior, &v, col, Phase::Replay));
                match self
                    .sched
                    .wait_for(parse_retry_after(&r.headers, Utc::now()))
                {
                    Some(d) => self.sched.pause(d),
                    None => self.refuse_wait(&r.headers),
                }
            }
        }
    }

    /// Phase 1: the original cell, twice.
    async fn originals(&mut self) {
        let (x0, col) = (self.shaper.original_tokens(), self.orig_col());
        let ctx = self.ctx;
        match &ctx.prior {
            Some(prior) => self.seed_from_prior(prior),
            None => {
                self.observe(x0, col, Phase::Grid, true).await;
            }
        }
        self.observe(x0, col, Phase::Repeat, true).await;
    }

    /// Phase 2, the coarse grid: 100 % with the other columns, 25 % with every column, 5 % when 25 % fails cheaply.
    /// Returns the rows reached (measured input tokens, ascending).
    async fn coarse_grid(&mut self) -> Vec<u64> {
        let x0 = self.shaper.original_tokens();
        let (orig, cheap) = (self.orig_col(), self.cheap_col());
        for c in self.cols.clone().into_iter().filter(|c| *c != orig) {
            self.observe(x0, c, Phase::Grid, false).await;
        }
        let mut rows = vec![x0];
        if !self.shaper.has_axis() {
            return rows;
        }
        let t25 = self.shaper.target_at(GRID_FRACTIONS[1]);
        let mut got = None;
        for c in self.cols.clone().into_iter().rev() {
            if let Some(p) = self.observe(t25, c, Phase::Grid, false).await {
                got = Some(self.points[p].x);
            }
        }
        let Some(x25) = got.filter(|&x| x < x0) else {
            return rows;
        };
        rows.push(x25);
        if self.state(x25, cheap) == Some(true) {
            let t5 = self.shaper.target_at(GRID_FRACTIONS[0]);
            if let Some(p) = self.observe(t5, cheap, Phase::Grid, false).await {
                rows.push(self.points[p].x);
            }
        }
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// Phase 3: re-checks cells that break monotonicity (a failure where a larger shape succeeded).
    async fn recheck(&mut self) {
        let le = |p: Option<u64>, q: Option<u64>| match (p, q) {
            (Some(p), Some(q)) => p <= q,
            (_, None) => true,
            (None, Some(_)) => false,
        };
        let grid = self.points.len();
        for a in 0..grid {
            if self.fails(a) != Some(true) {
                continue;
            }
            let (ax, ac, at) = (self.points[a].x, self.points[a].col, self.points[a].target);
            let violated = (0..grid).any(|b| {
                b != a
                    && self.fails(b) == Some(false)
                    && ax <= self.points[b].x
                    && le(ac, self.points[b].col)
            });
            if violated {
                self.observe(at, ac, Phase::Recheck, true).await;
            }
        }
    }

    fn row_state(&self, x: u64) -> Vec<Option<bool>> {
        self.cols.iter().map(|&c| self.state(x, c)).collect()
    }

    fn col_state(&self, rows: &[u64], c: Option<u64>) -> Vec<Option<bool>> {
        rows.iter().map(|&x| self.state(x, c)).collect()
    }

    /// Phase 4: the verdict from the grid (before the small-input rule of [`Sweeper::settle`]).
    fn grid_verdict(&self, rows: &[u64]) -> Verdict {
        let states: Vec<Option<bool>> = (0..self.points.len()).map(|p| self.fails(p)).collect();
        let uniform = |v: &[Option<bool>]| {
            let known: Vec<bool> = v.iter().flatten().copied().collect();
            known.windows(2).all(|w| w[0] == w[1])
        };
        let rows_uniform = rows.iter().all(|&x| uniform(&self.row_state(x)));
        let cols_uniform = self.cols.iter().all(|&c| uniform(&self.col_state(rows, c)));
        if states.iter().any(Option::is_none) {
            Verdict::Intermittent
        } else if !states.contains(&Some(true)) {
            Verdict::NoneFail
        } else if !states.contains(&Some(false)) {
            Verdict::AllFail
        } else if rows_uniform && !cols_uniform {
            Verdict::InputLength
        } else if cols_uniform && !rows_uniform {
            Verdict::MaxTokens
        } else {
            Verdict::Mixed
        }
    }

    /// Phase 5: bisection where the outcome changes: the input axis in the cheapest column where it changes, max_tokens
    /// at the smallest input where max_tokens 1 succeeds and the original fails.
    async fn bisect(&mut self, verdict: Verdict, rows: &[u64]) -> (Bounds, Bounds) {
        let mut b_in = None;
        let mut b_max = None;
        if matches!(verdict, Verdict::InputLength | Verdict::Mixed) {
            for c in self.cols.clone() {
                let st = self.col_state(rows, c);
                let at = |want: bool| rows.iter().zip(&st).filter(move |(_, f)| **f == Some(want));
                let lo = at(false).map(|(x, _)| *x).max();
                let hi = at(true).map(|(x, _)| *x).min();
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    if lo < hi {
                        b_in = Some(self.bisect_input(c, lo, hi).await);
                        break;
                    }
                }
            }
        }
        if let (true, Some(orig)) = (
            matches!(verdict, Verdict::MaxTokens | Verdict::Mixed) && self.cols.len() > 1,
            self.orig_col(),
        ) {
            for &x in rows {
                let st = self.row_state(x);
                if st.first() == Some(&Some(false)) && st.last() == Some(&Some(true)) {
                    b_max = Some(self.bisect_max(x, 1, orig).await);
                    break;
                }
            }
        }
        (b_in, b_max)
    }

    /// Bisects the input axis in column `col` between an ok size `lo` and a failing `hi` (measured tokens).
    async fn bisect_input(&mut self, col: Option<u64>, mut lo: u64, mut hi: u64) -> (u64, u64) {
        while hi > lo + 1 && (hi - lo) as f64 > PRECISION * lo as f64 && self.stop.is_none() {
            let mut v = self.shaper.variant(lo + (hi - lo) / 2, col);
            if v.tokens <= lo && self.shaper.items.is_some() {
                // Items are uneven: the largest count below `hi`.
                v = self.shaper.variant(hi - 1, col);
            }
            if v.tokens <= lo || v.tokens >= hi {
                break; // no shape between them
            }
            let Some(ex) = self.send(&v, col, Phase::Bisect).await else {
                break;
            };
            let p = self.record(&ex, &v, col, Phase::Bisect);
            match self.fails(p) {
                Some(true) => hi = v.tokens,
                Some(false) => lo = v.tokens,
                None => break,
            }
        }
        (lo, hi)
    }

    /// Bisects max_tokens at input position `x` between an ok `lo` and a failing `hi`.
    async fn bisect_max(&mut self, x: u64, mut lo: u64, mut hi: u64) -> (u64, u64) {
        let target = self
            .points
            .iter()
            .find(|p| p.x == x)
            .map_or(x, |p| p.target);
        while hi > lo + 1 && (hi - lo) as f64 > PRECISION * lo as f64 && self.stop.is_none() {
            let mid = lo + (hi - lo) / 2;
            let Some(p) = self.observe(target, Some(mid), Phase::Bisect, true).await else {
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

    /// Inputs up to this many tokens are small.
    fn small_ceiling(&self) -> u64 {
        let f = (self.shaper.original_tokens() as f64 * SMALL_INPUT_FRACTION).ceil() as u64;
        f.max(SMALL_INPUT_TOKENS)
    }

    /// The smallest failing input observed with the cheapest max_tokens.
    fn smallest_failure(&self) -> Option<u64> {
        (0..self.points.len())
            .filter(|&p| self.points[p].col == self.cheap_col() && self.fails(p) == Some(true))
            .map(|p| self.points[p].x)
            .min()
    }

    /// Phase 6, the final verdict: `all_fail` only when a small input failed with the cheapest max_tokens; otherwise,
    /// and when no shape got an answer, `inconclusive` with the reason.
    fn settle(&self, grid: Verdict) -> (Verdict, Option<InconclusiveReason>) {
        let answered = self.points.iter().any(|p| !p.obs.is_empty());
        let small = self.shaper.has_axis()
            && self
                .smallest_failure()
                .is_some_and(|x| x <= self.small_ceiling());
        if answered && (grid != Verdict::AllFail || small) {
            return (grid, None);
        }
        let reachable = self.shaper.has_axis()
            && self.shaper.variant(0, self.cheap_col()).tokens <= self.small_ceiling();
        // A request that cannot shrink could not have told even without the stop.
        let reason = match self.stop {
            Some(r) if reachable || !answered => r,
            _ => InconclusiveReason::CouldNotShrink,
        };
        (Verdict::Inconclusive, Some(reason))
    }

    fn est(&self) -> &'static str {
        if self.shaper.measure() == "chars" {
            " (estimated from characters)"
        } else {
            ""
        }
    }

    /// An input size in words: `3,000 tokens`, or for lists `22 texts (3,000 tokens)`.
    fn in_words(&self, x: u64) -> String {
        let items = self
            .cells
            .iter()
            .find(|c| c.input_tokens == x)
            .and_then(|c| c.items);
        match (&self.shaper.items, items) {
            (Some(it), Some(n)) => {
                format!("{} {} ({} tokens)", fmt_num(n as u64), it.name, fmt_num(x))
            }
            _ => format!("{} tokens{}", fmt_num(x), self.est()),
        }
    }

    /// "each of the N …" only when at least three input lengths were tried, else how many were: never "every
    /// input length" from one or two.
    fn tried_words(&self, one: &str, many: &str) -> String {
        let lengths: std::collections::BTreeSet<u64> = self
            .cells
            .iter()
            .filter(|c| !c.failed())
            .map(|c| c.input_tokens)
            .collect();
        match lengths.len() {
            n if n >= 3 => format!("each of the {n} {many} tried"),
            1 => format!("the one {one} tried"),
            n => format!("the {n} {many} tried"),
        }
    }

    /// The statuses of the failed observations: `400, 429`.
    fn fail_statuses(&self) -> String {
        let mut v: Vec<String> = self
            .points
            .iter()
            .flat_map(|p| &p.obs)
            .map(|&i| &self.cells[i])
            .filter(|c| c.failed())
            .map(|c| c.status.to_string().trim_matches('"').to_string())
            .collect();
        v.sort();
        v.dedup();
        v.join(", ")
    }

    fn percent_of_original(&self, x: u64) -> u64 {
        (x as f64 * 100.0 / self.shaper.original_tokens().max(1) as f64).round() as u64
    }

    /// The conclusion of an inconclusive sweep: that it could not tell, and why.
    fn conclusion_inconclusive(&self, reason: InconclusiveReason) -> String {
        let mut sizes: Vec<u64> = self
            .points
            .iter()
            .filter(|p| !p.obs.is_empty())
            .map(|p| p.x)
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.dedup();
        let head = "Could not tell whether the failure depends on the request's size";
        let seen = if sizes.is_empty() {
            "no call got an answer other than 429".to_string()
        } else if !self.shaper.has_axis() {
            format!("every shape tried failed ({})", self.fail_statuses())
        } else {
            let mut list: Vec<String> = sizes.iter().map(|&x| fmt_num(x)).collect();
            let last = list.pop().unwrap_or_default();
            let list = if list.is_empty() {
                last
            } else {
                format!("{} and {last}", list.join(", "))
            };
            format!(
                "every shape tried failed ({}), at {list} input tokens{}",
                self.fail_statuses(),
                self.est()
            )
        };
        let small = format!(
            "no input of {} tokens or less was tried",
            fmt_num(self.small_ceiling())
        );
        let why = match reason {
            InconclusiveReason::CouldNotShrink if !self.shaper.has_axis() => {
                "the request has no text the sweep can shrink (only input it cannot vary, such as images)".to_string()
            }
            InconclusiveReason::CouldNotShrink => {
                let min = self.shaper.variant(0, self.cheap_col()).tokens;
                format!(
                    "the input cannot be made smaller than {} tokens ({}% of the original {}): {} tokens are in parts \
                     the sweep leaves as they are (it varies {}; tool definitions, tool calls, the rerank query and \
                     images stay), so {small}",
                    fmt_num(min),
                    self.percent_of_original(min),
                    fmt_num(self.shaper.original_tokens()),
                    fmt_num(self.shaper.fixed_tokens()),
                    self.shaper.kinds.join(", ")
                )
            }
            InconclusiveReason::BudgetExhausted => format!(
                "the budget of {} calls ran out first, so {small}; raise --max-calls",
                self.max_calls
            ),
            InconclusiveReason::RateLimited => format!(
                "the API kept answering 429 (rate limited), so {small}; sweep again once the rate limit has reset"
            ),
            InconclusiveReason::RetryAfterTooLong => format!(
                "the API answered 429 asking to wait {} (Retry-After), longer than the {} s the sweep waits at most, \
                 so {small}; sweep again later",
                self.refused_wait.as_deref().unwrap_or("(unreadable)"),
                self.sched.max_wait().as_secs()
            ),
        };
        format!("{head}: {seen}; {why}.")
    }

    /// The conclusion of a sweep that could tell.
    fn conclusion_found(&self, verdict: Verdict, b_in: Bounds, b_max: Bounds) -> String {
        let est = self.est();
        let total_obs = self.points.iter().map(|p| p.obs.len()).sum::<usize>();
        let failed_obs = self
            .points
            .iter()
            .flat_map(|p| &p.obs)
            .filter(|&&i| self.cells[i].failed())
            .count();
        let statuses = self.fail_statuses();
        match verdict {
            Verdict::AllFail => {
                let min = self.smallest_failure().unwrap_or(0);
                let at = if min < self.shaper.original_tokens() {
                    format!("down to {} input tokens{est} ({}% of the original)", fmt_num(min), self.percent_of_original(min))
                } else {
                    format!("at {} input tokens{est}, already a small input", fmt_num(min))
                };
                let mt = if self.cols.len() > 1 { " with max_tokens 1" } else { "" };
                format!(
                    "Every shape fails ({statuses}), {at}{mt}: the failure does not depend on the request's size; look at \
                     the key, the model or the service."
                )
            }
            Verdict::NoneFail => format!(
                "Every shape succeeded ({total_obs} calls, the original included): the failure did not reproduce."
            ),
            Verdict::Intermittent => format!(
                "The same shape both failed and succeeded ({failed_obs} of {total_obs} calls failed: {statuses}): the \
                 failures are intermittent, not tied to the input length or max_tokens."
            ),
            Verdict::InputLength => match b_in {
                Some((lo, hi)) => format!(
                    "Fails only with longer inputs: the sweep measured ok at {}, fails at {} (a bracket it found, not \
                     the API's stated limit); {} succeeded.",
                    self.in_words(lo),
                    self.in_words(hi),
                    self.tried_words("shorter input", "shorter inputs")
                ),
                None => format!(
                    "Fails only with longer inputs; {} succeeded.",
                    self.tried_words("shorter input", "shorter inputs")
                ),
            },
            Verdict::MaxTokens => match b_max {
                Some((lo, hi)) => format!(
                    "Fails only with a larger max_tokens: the sweep measured ok at {}, fails at {} (a bracket it found, \
                     not the API's stated limit); a smaller max_tokens succeeds at {}.",
                    fmt_num(lo),
                    fmt_num(hi),
                    self.tried_words("input length", "input lengths")
                ),
                None => format!(
                    "Fails only with the original max_tokens; max_tokens 1 succeeds at {}.",
                    self.tried_words("input length", "input lengths")
                ),
            },
            _ => {
                let mut parts = vec!["Failures depend on both the input length and max_tokens".to_string()];
                if let Some((lo, hi)) = b_in {
                    parts.push(format!("with the input boundary between {} and {}", self.in_words(lo), self.in_words(hi)));
                }
                if let Some((lo, hi)) = b_max {
                    parts.push(format!("with the max_tokens boundary between {} and {}", fmt_num(lo), fmt_num(hi)));
                }
                format!("{}; compare input + max_tokens with the model's context window.", parts.join(", "))
            }
        }
    }

    /// The one-line conclusion, with a note when the sweep stopped early.
    fn conclusion(
        &self,
        verdict: Verdict,
        reason: Option<InconclusiveReason>,
        b_in: Bounds,
        b_max: Bounds,
    ) -> String {
        if let Some(r) = reason {
            return self.conclusion_inconclusive(r);
        }
        let mut c = self.conclusion_found(verdict, b_in, b_max);
        match self.stop {
            Some(InconclusiveReason::RateLimited) => {
                c.push_str(" The sweep stopped: the API kept answering 429 (rate limited).");
            }
            Some(InconclusiveReason::RetryAfterTooLong) => c.push_str(&format!(
                " The sweep stopped: the API asked to wait {} (Retry-After), longer than {} s.",
                self.refused_wait.as_deref().unwrap_or("(unreadable)"),
                self.sched.max_wait().as_secs()
            )),
            Some(_) if self.stopped_early => {
                c.push_str(&format!(
                    " (Stopped at the budget of {} calls.)",
                    self.max_calls
                ));
            }
            _ => {}
        }
        c
    }

    fn finish(self, grid: Verdict, b_in: Bounds, b_max: Bounds) -> MatrixResult {
        let (verdict, reason) = self.settle(grid);
        let (b_in, b_max) = if reason.is_some() {
            (None, None)
        } else {
            (b_in, b_max)
        };
        let conclusion = self.conclusion(verdict, reason, b_in, b_max);
        if let Some(pb) = self.pb {
            pb.finish();
        }
        let smallest = self
            .points
            .iter()
            .filter(|p| !p.obs.is_empty())
            .map(|p| p.x)
            .min();
        MatrixResult {
            verdict,
            inconclusive_reason: reason,
            boundary_input_tokens: b_in.map(|(lo, _)| lo),
            boundary_max_tokens: b_max.map(|(lo, _)| lo),
            calls: self.sched.calls(),
            max_calls: self.max_calls,
            rate_limited: self.rate_limited,
            waited_s: (self.sched.waited().as_secs_f64() * 10.0).round() / 10.0,
            input_measure: self.shaper.measure().into(),
            input_axis: self.shaper.axis_name().into(),
            input_varied: self.shaper.kinds.iter().map(|k| k.to_string()).collect(),
            input_parts: self.shaper.slots.len(),
            input_scaling: self.shaper.scaling().into(),
            original_input_tokens: self.shaper.original_tokens(),
            smallest_input_tokens: smallest,
            small_input_tokens: self.small_ceiling(),
            stopped_early: self.stopped_early,
            stop_reason: self.stop,
            max_wait_s: self.sched.max_wait().as_secs_f64(),
            conclusion,
            cells: self.cells,
        }
    }
}

/// The pacing for a sweep: `--rate`, else the trial header of the replay, else the documented limit (a trial
/// key's until an answer shows a production key).
fn scheduler_for(ctx: &SweepContext, request: &CapturedRequest, opts: &MatrixOptions) -> Scheduler {
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
    sched
}

/// Sweeps the shapes of `request` (see the module docs). `progress`, when given, gets a length and one tick per
/// call. Fails only on a request the sweep cannot vary at all (no JSON object body).
///
/// Against the simulator, with a model that fails over 3,000 input tokens and a request of 4,000:
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::{sync::Arc, time::Duration};
/// use cohere_bundle_core::gather::client::Client;
/// use cohere_bundle_core::exchange::Header;
/// use cohere_bundle_core::gather::matrix::{sweep, MatrixOptions, SweepContext, Verdict, PRECISION};
/// use cohere_bundle_simulator::{self as simulator, SimConfig, Simulator, DEMO_KEY};
/// use cohere_bundle_core::{CapturedRequest, Endpoint, SecretString};
///
/// let mut config = SimConfig::default();
/// config.fail_input_tokens_over = Some(3000);
/// let sim = Simulator::start(config).await.unwrap();
/// let text = cohere_bundle_core::gather::tokenizer::grow_to_tokens(simulator::tokenizer(), "Where is shipment 4411? ", 4000);
/// let request = CapturedRequest::from_body(
///     Endpoint::ChatV2,
///     serde_json::json!({"model": "command-a-03-2025", "max_tokens": 500,
///                        "messages": [{"role": "user", "content": text}]}),
/// );
/// let ctx = SweepContext {
///     client: Client::new(Duration::from_secs(30)).unwrap(),
///     url: format!("{}/v2/chat", sim.base_url()),
///     headers: vec![Header::new("Content-Type", "application/json")],
///     key: Some(SecretString::new(DEMO_KEY)),
///     tokenizer: Some(Arc::new(simulator::tokenizer().clone())),
///     prior: None,
/// };
/// let r = sweep(&ctx, &request, &MatrixOptions::default(), None).await.unwrap();
/// assert_eq!(r.verdict, Verdict::InputLength, "{}", r.conclusion);
/// // The boundary is found within PRECISION of the real one, on the budget.
/// let found = r.boundary_input_tokens.unwrap() as f64;
/// assert!((found - 3000.0).abs() / 3000.0 <= PRECISION, "{found}");
/// assert!(r.calls <= cohere_bundle_core::gather::matrix::DEFAULT_MAX_CALLS);
/// # });
/// ```
pub async fn sweep(
    ctx: &SweepContext,
    request: &CapturedRequest,
    opts: &MatrixOptions,
    progress: Option<&dyn SweepHost>,
) -> Result<MatrixResult> {
    if !request.body.is_object() {
        return Err(Error::field(
            "matrix",
            None,
            "the request has no JSON object body to vary",
        ));
    }
    if opts.max_calls == 0 {
        return Err(Error::field("max_calls", None, "must be at least 1"));
    }
    if let Some(pb) = progress {
        pb.set_length(u64::from(plan(ctx, request, opts).expected_calls));
    }
    let mut s = Sweeper {
        ctx,
        shaper: Shaper::new(request.endpoint, &request.body, ctx.tokenizer.clone()),
        sched: scheduler_for(ctx, request, opts),
        cells: Vec::new(),
        points: Vec::new(),
        cols: columns(request),
        max_calls: opts.max_calls,
        rate_limited: 0,
        stopped_early: false,
        stop: None,
        refused_wait: None,
        pb: progress,
    };
    s.originals().await;
    let rows = s.coarse_grid().await;
    s.recheck().await;
    let grid = s.grid_verdict(&rows);
    let (b_in, b_max) = s.bisect(grid, &rows).await;
    Ok(s.finish(grid, b_in, b_max))
}

/// The model's tokenizer for a sweep: `GET {base}/v1/models/{model}` for `tokenizer_url`, then the cache (which
/// downloads it once); else a tokenizer cached earlier for this model. `None` when neither works (the sweep then
/// scales by characters).
pub(crate) async fn load_tokenizer(
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
///
/// Example: [`MatrixRun::new`].
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct MatrixRun {
    /// Sweep options.
    pub options: MatrixOptions,
    /// Consent given beforehand (`--yes`).
    pub yes: bool,
    /// No progress reports to the host (`--json`).
    pub quiet: bool,
    /// Who is asked for consent and told the progress; `None`: nobody (then `yes` is needed).
    pub host: Option<std::sync::Arc<dyn SweepHost>>,
    /// Sweep even a failure that sizes cannot change (a 401, a 404, a trial key's 429): see [`skip_reason`]
    /// (`--matrix-anyway`).
    pub anyway: bool,
}

impl MatrixRun {
    /// A sweep with `options`, nobody to ask and no consent yet.
    ///
    /// ```
    /// use cohere_bundle_core::gather::matrix::{MatrixOptions, MatrixRun, Plan, SweepHost};
    /// let run = MatrixRun::new(MatrixOptions::default().max_calls(10)).yes(true);
    /// assert_eq!(run.options.max_calls, 10);
    /// assert!(run.yes && run.host.is_none());
    ///
    /// // A service that approves small sweeps itself and wants no progress reports.
    /// struct Budget;
    /// impl SweepHost for Budget {
    ///     fn consent(&self, plan: &Plan) -> bool { plan.max_calls <= 10 }
    /// }
    /// let run = MatrixRun::new(MatrixOptions::default()).quiet(true).host(std::sync::Arc::new(Budget));
    /// assert!(run.quiet && !run.yes && run.host.is_some());
    /// ```
    pub fn new(options: MatrixOptions) -> Self {
        MatrixRun {
            options,
            ..Default::default()
        }
    }

    /// Sweep even a failure that sizes cannot change ([`skip_reason`]).
    ///
    /// Example: [`MatrixRun::new`].
    #[must_use]
    pub fn anyway(mut self, anyway: bool) -> Self {
        self.anyway = anyway;
        self
    }

    /// Consent given beforehand.
    ///
    /// Example: [`MatrixRun::new`].
    #[must_use]
    pub fn yes(mut self, yes: bool) -> Self {
        self.yes = yes;
        self
    }

    /// No progress reports.
    ///
    /// Example: [`MatrixRun::new`].
    #[must_use]
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Who is asked for consent and told the progress.
    ///
    /// Example: [`MatrixRun::new`].
    #[must_use]
    pub fn host(mut self, host: std::sync::Arc<dyn SweepHost>) -> Self {
        self.host = Some(host);
        self
    }
}

impl std::fmt::Debug for MatrixRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixRun")
            .field("options", &self.options)
            .field("yes", &self.yes)
            .field("quiet", &self.quiet)
            .field("host", &self.host.as_ref().map(|_| "…"))
            .field("anyway", &self.anyway)
            .finish()
    }
}

/// Where a replay went: what `run_after_replay` needs to send variants the same way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
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
/// Why sweeping shapes after `replayed` would spend quota for nothing: the size of a request cannot change a
/// 401 (the key), a 404 (the model or route) or a trial key's 429 (a per-minute call limit). `None` when a
/// sweep can tell something. [`MatrixRun::anyway`] overrides it.
///
/// ```
/// use cohere_bundle_core::gather::capture::recorded_exchange;
/// use cohere_bundle_core::exchange::{Body, RecordedResponse};
/// use cohere_bundle_core::gather::matrix::skip_reason;
/// use cohere_bundle_core::input::request::{parse_request, ParseOptions};
/// let req = parse_request("r.json", br#"{"model":"m","messages":[]}"#, &ParseOptions::default())?;
/// let answer = |status| RecordedResponse { status, headers: vec![], body: Body::from_text("{}") };
/// assert!(skip_reason(&recorded_exchange(&req, Some(answer(404)), None, 0.0)).unwrap().contains("404"));
/// assert!(skip_reason(&recorded_exchange(&req, Some(answer(400)), None, 0.0)).is_none());
/// # Ok::<(), cohere_bundle_core::Error>(())
/// ```
pub fn skip_reason(replayed: &Exchange) -> Option<String> {
    let status = replayed.status()?;
    let trial = replayed
        .response_header("x-trial-endpoint-call-limit")
        .is_some()
        || replayed
            .failure
            .as_ref()
            .is_some_and(|f| f.message.to_ascii_lowercase().contains("trial"));
    let what = match status {
        401 => "a 401 (the key)",
        404 => "a 404 (the model or the route)",
        429 if trial => "a trial key's 429 (its per-minute call limit)",
        _ => return None,
    };
    Some(format!(
        "the shape sweep was not run: the replay answered {what}, which no input or output size can change, and \
         the sweep would spend quota; --matrix-anyway runs it all the same"
    ))
}

pub(crate) async fn run_after_replay(
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
    if !confirm(&plan(&ctx, request, &run.options), run)? {
        return Ok(None);
    }
    let host = run.host.as_deref().filter(|_| !run.quiet);
    let r = sweep(&ctx, request, &run.options, host).await?;
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sim_tokenizer() -> Arc<Tokenizer> {
        // The simulator's tokenizer, read from its asset (the simulator itself is an optional feature).
        Arc::new(
            cohere_bundle_simulator::TOKENIZER_JSON
                .parse()
                .expect("the asset is a tokenizer"),
        )
    }

    #[tokio::test]
    async fn scheduler_paces_under_its_limit_and_keeps_the_budget() {
        let window = Duration::from_millis(300);
        let mut s = Scheduler::new(2, window, 4, Duration::from_secs(5));
        let t0 = std::time::Instant::now();
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
        let t1 = std::time::Instant::now();
        assert!(s.acquire(None).await);
        assert!(t1.elapsed() >= window - Duration::from_millis(20));
        assert!(!s.acquire(None).await, "the budget of 4 is spent");
        assert_eq!(s.calls(), 4);
        let now = Utc::now();
        assert_eq!(
            parse_retry_after(&[Header::new("Retry-After", "2")], now),
            RetryAfter::Wait(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after(&[Header::new("retry-after-ms", "1500")], now),
            RetryAfter::Wait(Duration::from_millis(1500))
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
        let x0 = s.original_tokens();
        assert_eq!(x0, tokenizer::count(&t, Endpoint::ChatV2, &body));
        for target in [s.target_at(0.05), s.target_at(0.25), 1234] {
            let v = s.variant(target, Some(1));
            assert_eq!(v.tokens, target, "variant hits {target} tokens");
            assert_eq!(v.body["max_tokens"], json!(1));
            assert_eq!(
                v.body["messages"][0]["content"],
                json!("Be brief."),
                "the short message keeps its length: the largest text is cut first"
            );
        }
        let v = s.variant(x0, None);
        assert!(v.body.get("max_tokens").is_none());
    }

    #[test]
    fn list_variants_and_char_fallback() {
        let body = json!({"model": "embed-v4.0", "texts": ["a b c", "d e f", "g h i", "j k l"], "input_type": "search_document"});
        let s = Shaper::new(Endpoint::EmbedV2, &body, None);
        assert_eq!(s.axis_name(), "texts");
        assert_eq!(s.measure(), "chars");
        let v = s.variant(s.target_at(0.25), None);
        assert_eq!(v.body["texts"].as_array().map(Vec::len), Some(1));
        let body = json!({"message": "x".repeat(4000)});
        let s = Shaper::new(Endpoint::ChatV1, &body, None);
        let v = s.variant(250, Some(5));
        assert_eq!(v.body["message"].as_str().map(str::len), Some(1000));
        assert_eq!(v.tokens, 250);
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
