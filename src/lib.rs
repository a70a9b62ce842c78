//! # cohere-bundle
//!
//! Turns a failing Cohere API request into a support bundle that Cohere support can act on at once: the
//! model, the verbatim error, request ids, the sequence length, the max tokens, whether other shapes fail,
//! logs, and the likely cause, in one scrubbed and verified zip.
//!
//! The pieces, in the order data flows through them:
//! - [`request`] parses a body, an envelope, a HAR file or a curl command into a [`CapturedRequest`];
//! - [`client`] replays it and records an [`Exchange`];
//! - [`diagnose`] turns the evidence into a [`Summary`] with likely causes;
//! - [`scrub`] removes secrets; [`report`] renders `report.md` and `report.html`;
//! - [`bundle`] writes the zip atomically and verifies it; [`pipeline`] ties them together.
//! - [`simulator`] is a simulated Cohere API for tests and the demo.
#![deny(missing_docs)]

#[macro_use]
mod strenum;

pub mod bundle;
pub mod capture;
pub mod cleanup;
pub mod client;
pub mod cohere;
#[cfg(feature = "simulator")]
pub mod demo;
pub mod diagnose;
pub mod email;
pub mod environment;
pub mod error;
pub mod exchange;
pub mod fit;
pub(crate) mod gather;
pub mod knowledge;
pub mod library;
pub mod logs;
pub mod matrix;
#[cfg(feature = "middleware")]
pub mod middleware;
pub mod net;
pub mod observe;
pub mod pipeline;
pub mod recorder;
pub mod render;
pub mod report;
pub mod request;
pub mod safe;
pub mod scrub;
pub mod sdklog;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod sse;
pub mod summary;
pub mod tokenizer;
pub mod tokens;

pub use cohere::{CauseCode, Endpoint, KeyKind, Platform};
pub use error::{Error, Result};
pub use exchange::{Exchange, Failure, FailureClass};
pub use request::CapturedRequest;
pub use scrub::{KnownSecret, SecretString};
pub use summary::Summary;

/// The README's Rust examples, compiled as doc tests so that the public surface they show stays real.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub(crate) struct ReadmeDoctests;

/// The tool's name and version, as written into bundles.
///
/// ```
/// assert!(cohere_bundle::TOOL.starts_with("cohere-bundle "));
/// ```
pub const TOOL: &str = concat!("cohere-bundle ", env!("CARGO_PKG_VERSION"));
