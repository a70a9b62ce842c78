//! The binary's edge: every environment variable the tool reads is read here, once, and turned into the
//! library's explicit options. The library itself reads no environment.
//!
//! | variable | what it sets |
//! |---|---|
//! | `CO_API_KEY`, else `COHERE_API_KEY` | the key a replay sends; always a known secret |
//! | `CO_API_URL` | the base URL when `--base-url` is not given (observe: the default upstream) |
//! | `COHERE_BUNDLE_CACHE_DIR` | the cache root (tokenizers); else the user's cache dir |
//! | `COHERE_BUNDLE_FROM`, else `EMAIL` | the From address of the email draft |
//! | secret-looking names (`*_KEY`, `*_TOKEN`, …) | their values are known secrets (unless `--no-env-scan`) |
//! | `SSL_CERT_FILE`, `SSL_CERT_DIR`, `HTTPS_PROXY`, `NO_PROXY`, … | TLS roots and proxies (see `net`) |
//! | the names given to `--secret-env` | those values are known secrets |
//! | `NO_COLOR` | no colour |

use std::path::PathBuf;

use cohere_bundle_core::scrub::KnownSecret;
use cohere_bundle_core::SecretString;

/// What the environment says, read once.
pub struct EnvSettings {
    /// `CO_API_KEY`, else `COHERE_API_KEY`.
    pub api_key: Option<SecretString>,
    /// `CO_API_URL`.
    pub api_url: Option<String>,
    /// The cache root: `COHERE_BUNDLE_CACHE_DIR`, else `<user cache dir>/cohere-bundle`.
    pub cache_root: Option<PathBuf>,
    /// Values of secret-looking variables.
    pub secrets: Vec<KnownSecret>,
    /// The names of the relevant variables that are set (for environment.json; never their values).
    pub vars_set: Vec<String>,
    /// `NODE_OPTIONS`, which `observe` extends to preload its fetch hook into a Node command.
    pub node_options: Option<String>,
    /// `SSL_CERT_FILE`: a PEM file of extra CA certificates.
    pub ssl_cert_file: Option<std::ffi::OsString>,
    /// `SSL_CERT_DIR`: a directory of extra CA certificates.
    pub ssl_cert_dir: Option<std::ffi::OsString>,
}

/// The command line's flag for each library option field that an [`cohere_bundle_core::Error::Field`] can name.
pub const FLAGS: &[(&str, &str)] = &[
    ("max_size", "--max-size"),
    ("max_calls", "--max-calls"),
    ("matrix", "--matrix"),
    ("har_entry", "--har-entry"),
    ("logs", "--log"),
    ("listen", "--listen"),
    ("allow_remote", "--allow-remote"),
    ("force", "--force"),
    ("eml", "--eml"),
    ("allow_hosts", "--allow-host"),
    ("base_url", "--base-url"),
];

/// A library error in the command line's words: an option field becomes its flag (`max_size` →
/// `--max-size`, and a field named in backticks in the reason, e.g. `` `allow_remote` ``, too).
pub fn in_flag_words(e: &cohere_bundle_core::Error) -> String {
    let flag = |f: &str| {
        FLAGS
            .iter()
            .find(|(k, _)| *k == f)
            .map_or(f.to_string(), |(_, v)| v.to_string())
    };
    match e {
        cohere_bundle_core::Error::Field {
            field,
            value,
            reason,
        } => {
            let mut reason = reason.clone();
            for (k, v) in FLAGS {
                reason = reason.replace(&format!("`{k}`"), v);
            }
            let value = value
                .as_deref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default();
            format!("{}{value}: {reason}", flag(field))
        }
        cohere_bundle_core::Error::OutputExists(p) => {
            format!("{}: already exists (use --force to overwrite)", p.display())
        }
        other => other.to_string(),
    }
}

impl EnvSettings {
    /// Reads the process environment.
    pub fn read() -> EnvSettings {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let api_key = ["CO_API_KEY", "COHERE_API_KEY"]
            .iter()
            .find_map(|k| var(k))
            .map(SecretString::new);
        let cache_root = var("COHERE_BUNDLE_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("cohere-bundle")));
        let secrets = cohere_bundle_core::scrub::secrets_from_env();
        let vars_set = cohere_bundle_core::gather::environment::RELEVANT_VARS
            .iter()
            .filter(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()))
            .map(|n| n.to_string())
            .collect();
        EnvSettings {
            api_key,
            api_url: var("CO_API_URL"),
            cache_root,
            secrets,
            vars_set,
            node_options: std::env::var("NODE_OPTIONS").ok(),
            ssl_cert_file: std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()),
            ssl_cert_dir: std::env::var_os("SSL_CERT_DIR").filter(|v| !v.is_empty()),
        }
    }

    /// The value of `--secret-env NAME`: the variable must be set, non-empty and UTF-8.
    pub fn secret_from_env(name: &str) -> Result<String, String> {
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            Ok(_) => Err("the variable is empty".into()),
            Err(std::env::VarError::NotPresent) => Err("the variable is not set".into()),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err("the variable's value is not UTF-8".into())
            }
        }
    }

    /// The From address for an email draft: `COHERE_BUNDLE_FROM`, else `EMAIL`, when it looks like one.
    pub fn email_from() -> Option<String> {
        ["COHERE_BUNDLE_FROM", "EMAIL"].iter().find_map(|k| {
            std::env::var(k)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| v.contains('@') && !v.contains(['\r', '\n']))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::in_flag_words;
    use cohere_bundle_core::Error;

    #[test]
    fn library_fields_become_flags() {
        let e = Error::field("max_size", None, "1000 B is too small; at least 64 KiB");
        assert_eq!(
            in_flag_words(&e),
            "--max-size: 1000 B is too small; at least 64 KiB"
        );
        let e = Error::field(
            "listen",
            Some("0.0.0.0:0".into()),
            "not a loopback address; set `allow_remote` to listen there anyway",
        );
        assert_eq!(
            in_flag_words(&e),
            "--listen 0.0.0.0:0: not a loopback address; set --allow-remote to listen there anyway"
        );
        let e = Error::OutputExists("b.zip".into());
        assert_eq!(
            in_flag_words(&e),
            "b.zip: already exists (use --force to overwrite)"
        );
        // Anything else is left as the library says it.
        let e = Error::input("req.json", "file is empty");
        assert_eq!(in_flag_words(&e), "req.json: file is empty");
    }
}
