//! Shared. The library's error type and the exit codes the binary maps it to.
//!
//! ```
//! use cohere_bundle_core::{Error, Result};
//!
//! fn read(path: &str) -> Result<String> {
//!     std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
//! }
//! let e = read("/no/such/request.json").unwrap_err();
//! assert_eq!((e.kind(), e.exit_code()), ("io", 1));
//! assert!(e.to_string().starts_with("/no/such/request.json: "));
//!
//! let e = Error::input("request.json", "not JSON");
//! assert_eq!(e.to_string(), "request.json: not JSON");
//! assert_eq!((e.kind(), e.exit_code()), ("input", 2));
//! ```

use std::path::PathBuf;

/// Every way a library call can fail. Messages are one line and name the file, flag or URL at fault.
///
/// See the [module example](crate::error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The user's input (a request file, a log, an option value) cannot be used as given.
    #[error("{what}: {reason}")]
    Input {
        /// The file, flag or value at fault, e.g. `request.json` or `--endpoint`.
        what: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An option handed to the library cannot be used. `field` names it as the option struct does
    /// (`max_size`, `har_entry`, `logs`); the command line shows its flag instead.
    #[error("{field}{}: {reason}", value.as_deref().map(|v| format!(" {v}")).unwrap_or_default())]
    Field {
        /// The option's field, e.g. `max_size`.
        field: &'static str,
        /// The value at fault, when it helps to name it (a log's path, a listen address).
        value: Option<String>,
        /// Why it cannot be used.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The output already exists and `force` was not set.
    #[error("{}: already exists (set `force` to overwrite)", .0.display())]
    OutputExists(PathBuf),
    /// The API could not be reached at all, so nothing could be replayed.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// What went wrong (connection refused, DNS, TLS).
        reason: String,
    },
    /// The final check found a known secret in a bundle member; no zip was kept.
    #[error(
        "refused to keep the bundle: {member} still contains a known secret ({label}, {encoding})"
    )]
    Leak {
        /// The bundle member in which the secret was found.
        member: String,
        /// The secret's label, e.g. `cohere-key` (never its value).
        label: String,
        /// The encoding it was found in ([`crate::scrub::Encoding::as_str`]): raw, base64, hex, line_wrap, ...
        encoding: String,
    },
    /// A bundle failed verification (bad manifest, checksum mismatch, unreadable zip).
    #[error("{path}: {reason}")]
    Verify {
        /// The zip or member at fault.
        path: String,
        /// What did not hold.
        reason: String,
    },
    /// A report template failed to render.
    #[error("report template {name}: {reason}")]
    Template {
        /// The template name.
        name: String,
        /// The engine's message.
        reason: String,
    },
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Builds an [`Error::Input`].
    ///
    /// See the [module example](crate::error).
    pub fn input(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Input {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Field`].
    ///
    /// ```
    /// let e = cohere_bundle_core::Error::field("max_size", None, "1000 B is too small");
    /// assert_eq!(e.to_string(), "max_size: 1000 B is too small");
    /// assert_eq!(e.exit_code(), 2);
    /// ```
    pub fn field(field: &'static str, value: Option<String>, reason: impl Into<String>) -> Self {
        Error::Field {
            field,
            value,
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Io`].
    ///
    /// See the [module example](crate::error).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A short name of the variant, for machine-readable error output: `input`, `io`, `output_exists`,
    /// `unreachable`, `leak`, `verify`, `template` or `other`.
    ///
    /// See the [module example](crate::error).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Input { .. } | Error::Field { .. } => "input",
            Error::Io { .. } => "io",
            Error::OutputExists(_) => "output_exists",
            Error::Unreachable { .. } => "unreachable",
            Error::Leak { .. } => "leak",
            Error::Verify { .. } => "verify",
            Error::Template { .. } => "template",
            Error::Other(_) => "other",
        }
    }

    /// The process exit code the CLI uses for this error: 2 usage or unusable input, 3 leak, 1 anything else.
    ///
    /// See the [module example](crate::error).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input { .. } | Error::Field { .. } | Error::OutputExists(_) => 2,
            Error::Leak { .. } => 3,
            _ => 1,
        }
    }
}

impl From<zip::result::ZipError> for Error {
    fn from(e: zip::result::ZipError) -> Self {
        Error::Other(format!("zip: {e}"))
    }
}

/// The library's result type.
///
/// See the [module example](crate::error).
pub type Result<T, E = Error> = std::result::Result<T, E>;
