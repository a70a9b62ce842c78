//! # cohere-bundle-knowledge
//!
//! Shared by every stage of `cohere-bundle` and by its simulated API: what the tool knows about Cohere.
//!
//! - [`cohere`]: Cohere's API as the code names it (endpoints, platforms, key kinds, the cause vocabulary);
//! - [`knowledge`]: the facts, as data with their doc pages (models, endpoints' limits, statuses, cloud
//!   platforms' error types), from `data/*.toml`;
//! - [`tokens`]: which texts of a request count toward its sequence length, per endpoint.
//!
//! The diagnosis (`cohere-bundle-core`) and the simulator (`cohere-bundle-simulator`) both read it, so the
//! fake API and the diagnosis agree on what a model accepts.
//!
//! ```
//! use cohere_bundle_knowledge::{knowledge::knowledge, Endpoint};
//! assert!(knowledge().endpoint(Endpoint::ChatV2.name()).is_some());
//! ```
#![deny(missing_docs)]

pub mod cohere;
pub mod knowledge;
pub mod tokens;

pub use cohere::{CauseCode, Endpoint, KeyKind, Platform};
