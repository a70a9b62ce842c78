//! # cohere-bundle-core
//!
//! Turns a failing Cohere API request into a support bundle that Cohere support can act on at once: the
//! model, the verbatim error, request ids, the sequence length, the max tokens, whether other shapes fail,
//! logs, and the likely cause, in one scrubbed and verified zip. It reads no environment, prompts nobody and
//! prints nothing: the command line (`cohere-bundle`) resolves settings at its edge and passes them in.
//!
//! The stages, in the order data flows through them (each a folder; a stage uses the shared modules and the
//! stages before it, never one after it):
//! - [`input`]: a body, an envelope, a HAR file or a curl command becomes a [`CapturedRequest`]; logs and SDK
//!   tracebacks are read;
//! - [`gather`]: every network call: the replay [`gather::client`], the recording proxy [`gather::observe`],
//!   the shape sweep [`gather::matrix`], the tokenizer; what was recorded is a [`gather::capture::Capture`];
//! - [`diagnose`]: the evidence becomes a [`Summary`] with likely causes, from the [`knowledge`] data;
//! - [`render`]: `report.md` and `report.html`;
//! - [`bundle`]: the zip is fitted to its size cap, written atomically and verified; the `.eml` draft.
//!
//! Shared by the stages: [`scrub`] (secrets), [`exchange`] (a recorded request and response), [`sse`]
//! (streams), [`summary`] (`summary.json`'s types), [`error`], and from `cohere-bundle-knowledge` the API's
//! vocabulary ([`cohere`]), the docs' facts ([`knowledge`]) and input-text counting ([`tokens`]).
//!
//! The entry points tie the stages together: [`pipeline`] (replay, observe, offline bundles), [`library`]
//! (`FailureReport`, from an error handler), [`recorder`] (the storm-safe `Recorder` of a service),
//! [`middleware`] (a reqwest-middleware adapter) and [`outcome`] (the finished run as text or JSON).
//!
//! ```
//! use cohere_bundle_core::{CapturedRequest, Endpoint};
//! let req = CapturedRequest::from_body(Endpoint::ChatV2, serde_json::json!({"model": "command-a-03-2025"}));
//! assert_eq!(req.model(), Some("command-a-03-2025"));
//! ```
#![deny(missing_docs)]

#[macro_use]
mod strenum;

// Shared by the stages.
pub mod cleanup;
pub mod error;
pub mod exchange;
pub mod safe;
pub mod scrub;
pub mod sse;
pub mod summary;
pub use cohere_bundle_knowledge::{cohere, knowledge, tokens};

// The stages, in data-flow order.
pub mod bundle;
pub mod diagnose;
pub mod gather;
pub mod input;
pub mod render;

// The entry points.
pub mod library;
#[cfg(feature = "middleware")]
pub mod middleware;
pub mod outcome;
pub mod pipeline;
pub mod recorder;

pub use cohere::{CauseCode, Endpoint, KeyKind, Platform};
pub use error::{Error, Result};
pub use exchange::{Exchange, Failure, FailureClass};
pub use input::request::CapturedRequest;
pub use library::FailureReport;
pub use pipeline::{BundleOptions, Outcome, ReplayOptions};
pub use recorder::{EnvSecrets, Recorder, RecorderConfig};
pub use scrub::{KnownSecret, SecretString};
pub use summary::Summary;

/// The tool's name and version, as written into bundles.
///
/// ```
/// assert!(cohere_bundle_core::TOOL.starts_with("cohere-bundle "));
/// ```
pub const TOOL: &str = concat!("cohere-bundle ", env!("CARGO_PKG_VERSION"));
