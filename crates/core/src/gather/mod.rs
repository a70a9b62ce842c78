//! Gather stage (2 of 5): every network call after the capture, in one place: the replay and the shape sweep, then the model's
//! metadata and tokenizer for the sequence length. The stages after it (diagnose, render, bundle, the email
//! draft) make none. One [`TokenizerCache`] serves the sweep and the measurement, so a tokenizer is fetched
//! once.
//!
//! The parts: [`client`] (the replay, with redirects and credentials handled), [`net`] (proxies and
//! certificates), [`observe`] (the recording proxy), [`matrix`] (the shape sweep), [`tokenizer`] (exact
//! sequence lengths), [`environment`] (the machine, for environment.json), and [`capture`] (what was
//! recorded, the evidence model every mode builds).
//!
//! ```
//! use std::time::Duration;
//! use cohere_bundle_core::gather::client::Client;
//! let client = Client::new(Duration::from_secs(30))?; // what a replay and the sweep send with
//! # let _ = client;
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```

pub mod capture;
pub mod client;
pub mod environment;
pub mod matrix;
pub mod net;
pub mod observe;
pub mod tokenizer;

use std::path::Path;

use crate::gather::capture::Capture;
use crate::gather::client::{Client, NetworkKind, PreparedRequest};

use crate::error::{Error, Result};
use crate::exchange::{Exchange, Purpose};
use crate::gather::matrix::{MatrixResult, MatrixRun};
use crate::gather::tokenizer::{SeqLenContext, TokenizerCache};
use crate::input::request::CapturedRequest;
use crate::scrub::{KnownSecret, ScrubOptions, Scrubber, SecretString};
use crate::summary::{LimitsSource, ModelLimits, SeqLen};

/// The tokenizer cache of one run: on disk under `cache_dir/tokenizers`, else in memory only.
pub(crate) fn tokenizer_cache(cache_dir: Option<&Path>) -> TokenizerCache {
    match cache_dir {
        Some(d) => TokenizerCache::new(d.join("tokenizers")),
        None => TokenizerCache::memory_only(),
    }
}

/// What a replay got: its exchange, and the shape sweep's result when one was run.
pub(crate) struct Replayed {
    pub(crate) exchange: Exchange,
    pub(crate) matrix: Option<MatrixResult>,
    /// Why the sweep asked for was not run.
    pub(crate) not_swept: Option<String>,
}

/// Sends the replay, then (with `matrix`) the shape sweep. An API that cannot be reached at all is an
/// [`Error::Unreachable`]: there is nothing to bundle. The error names the URL with its credentials masked
/// and never the key.
pub(crate) async fn replay(
    client: &Client,
    prepared: &PreparedRequest,
    request: &CapturedRequest,
    key: Option<&SecretString>,
    base: &str,
    matrix: Option<&MatrixRun>,
    cache: &TokenizerCache,
) -> Result<Replayed> {
    let outcome = client.send(prepared, key, Purpose::Replay, 1).await;
    if let Some(kind) = outcome.unreachable {
        let detail = outcome
            .exchange
            .failure
            .map(|f| f.message)
            .unwrap_or_default();
        return Err(Error::Unreachable {
            url: crate::scrub::mask_url(&prepared.url),
            reason: scrub_line(key, &unreachable_reason(kind, detail)),
        });
    }
    let not_swept = matrix
        .filter(|m| !m.anyway)
        .and_then(|_| crate::gather::matrix::skip_reason(&outcome.exchange));
    let matrix = match matrix.filter(|_| not_swept.is_none()) {
        Some(m) => {
            let target = crate::gather::matrix::Target {
                client,
                prepared,
                key,
                base_url: base,
            };
            crate::gather::matrix::run_after_replay(&target, request, &outcome.exchange, cache, m)
                .await?
        }
        None => None,
    };
    Ok(Replayed {
        exchange: outcome.exchange,
        matrix,
        not_swept,
    })
}

/// Why the API could not be reached, in words with a hint.
fn unreachable_reason(kind: NetworkKind, detail: String) -> String {
    match kind {
        NetworkKind::Refused => {
            "connection refused (is the URL right? check --base-url / CO_API_URL)".to_string()
        }
        NetworkKind::Dns => {
            "the host name did not resolve (check --base-url / CO_API_URL and DNS)".to_string()
        }
        NetworkKind::Tls => format!(
            "TLS handshake failed ({})",
            detail.rsplit(": ").next().unwrap_or(&detail)
        ),
        _ => detail,
    }
}

/// One line of text fit to print: the key and credential shapes scrubbed.
fn scrub_line(key: Option<&SecretString>, text: &str) -> String {
    let known = key
        .map(|k| vec![KnownSecret::new("cohere-key", k.clone())])
        .unwrap_or_default();
    Scrubber::new(ScrubOptions::with_known(known)).scrub_str("error", text)
}

/// The measurements: the request's sequence length (tokenizer, `/v1/tokenize` or the response's usage) and
/// the model's limits (models API, else the docs table).
pub(crate) struct Measured {
    pub(crate) seq_len: SeqLen,
    pub(crate) model_limits: Option<ModelLimits>,
}

/// Sequence length by the best method available (see [`crate::gather::tokenizer`]) and the model's limits. Offline
/// captures (no client) use what is cached and the docs table.
pub(crate) async fn measure(capture: &Capture, cache: &TokenizerCache) -> Measured {
    let response = crate::exchange::primary_exchange(&capture.exchanges)
        .and_then(|e| e.response.as_ref()?.body.json());
    let fallback_http;
    let (http, key, offline) = match &capture.http {
        Some((c, k)) => (c.http(), k.as_ref(), false),
        None => {
            fallback_http = reqwest::Client::new();
            (&fallback_http, None, true)
        }
    };
    let ctx = SeqLenContext {
        http,
        base_url: capture.base_url.as_deref(),
        key,
        cache,
        offline,
    };
    let (seq_len, meta) = tokenizer::measure_seq_len(
        &ctx,
        capture.request.endpoint,
        &capture.request.body,
        response.as_ref(),
    )
    .await;
    let model_limits = meta
        .map(|m| m.limits())
        .or_else(|| limits_from_table(capture.request.model()));
    Measured {
        seq_len,
        model_limits,
    }
}

fn limits_from_table(model: Option<&str>) -> Option<ModelLimits> {
    let m = crate::knowledge::knowledge().model(model?)?;
    Some(ModelLimits {
        context_length: m.context_length,
        max_output_tokens: m.max_output,
        source: LimitsSource::DocsTable,
        max_output_source: None,
    })
}
