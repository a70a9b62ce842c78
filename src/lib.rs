//! # cohere-bundle, the command line
//!
//! The edge of the tool: clap's parser, settings resolved from flags and the environment ([`settings`]), the
//! terminal (progress, prompts, colour), help, completions and the man page, and `demo` (the library's main
//! job on an embedded request against the simulated API). The library it drives, `cohere-bundle-core`,
//! reads no environment and prints nothing; everything of that kind is here.
//!
//! The binary's `main` and the Python package's `python -m cohere_bundle` both call [`run_args`]:
//!
//! ```
//! let code = cohere_bundle_cli::run_args(&["cohere-bundle", "--version"]);
//! assert_eq!(code, 0);
//! ```

mod cli;
pub mod demo;
mod help;
pub mod settings;
mod term;

pub use cli::{parse_error, run_args};

/// The README's Rust examples, compiled as doc tests so that the public surface they show stays real.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
