//! Gather stage. Whom outgoing connections trust and which proxy they go through: one setting for the replay (reqwest), its
//! follow-up calls (model metadata, tokenizer downloads) and the upstream of `observe` (hyper).
//!
//! Trusted roots are the operating system's store, the Mozilla roots bundled in the binary, and any
//! [`NetOptions::extra_roots`] (the binary adds those of `SSL_CERT_FILE` and `SSL_CERT_DIR`, so that a TLS
//! inspecting proxy's CA works here as it does for the user's own application). On Linux and the BSDs the
//! system store is read from the usual certificate directories (`/etc/ssl/certs`, `/etc/pki/tls/certs`),
//! whatever `SSL_CERT_FILE` says; on macOS and Windows from the platform's store through `rustls-native-certs`,
//! which reads the files of `SSL_CERT_FILE` / `SSL_CERT_DIR` instead of that store while either is set.
//!
//! Proxies come from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (and their lowercase forms), read
//! the way curl reads them, unless [`ProxyMode::Direct`] is asked for.
//!
//! ```
//! use cohere_bundle_core::gather::net::{load_pem_dir_roots, load_pem_roots, NetOptions, ProxyMode};
//! # let dir = tempfile::tempdir()?;
//! # let ca_key = rcgen::KeyPair::generate()?;
//! # let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
//! # params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
//! # std::fs::write(dir.path().join("corp-ca.pem"), params.self_signed(&ca_key)?.pem())?;
//! // A corporate CA, as SSL_CERT_FILE or SSL_CERT_DIR would name it.
//! let mut net = NetOptions::default();
//! net.extra_roots = load_pem_roots(&dir.path().join("corp-ca.pem"), "SSL_CERT_FILE")?;
//! assert_eq!(net.extra_roots.len(), 1);
//! assert_eq!(load_pem_dir_roots(dir.path().as_os_str(), "SSL_CERT_DIR")?, net.extra_roots);
//! net.proxy = ProxyMode::Direct;
//! let client = cohere_bundle_core::gather::client::Client::with_options(std::time::Duration::from_secs(30), &net)?;
//! # let _ = client;
//!
//! // A file that is not PEM: a one-line error naming the setting.
//! std::fs::write(dir.path().join("notes.txt"), "hello")?;
//! let err = load_pem_roots(&dir.path().join("notes.txt"), "SSL_CERT_FILE").unwrap_err();
//! assert!(err.to_string().contains("SSL_CERT_FILE"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
pub use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use crate::{Error, Result};

/// Trust and proxy settings for every outgoing connection.
///
/// Example: [`crate::gather::net`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetOptions {
    /// Trust the operating system's root certificates (besides the bundled Mozilla roots). Default: yes.
    pub system_roots: bool,
    /// More trusted roots, e.g. a corporate CA (see [`load_pem_roots`]).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Which proxy to use.
    pub proxy: ProxyMode,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            system_roots: true,
            extra_roots: Vec::new(),
            proxy: ProxyMode::Environment,
        }
    }
}

/// Where the proxy settings come from.
///
/// Example: [`crate::gather::net`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyMode {
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` with `NO_PROXY` (upper or lower case), as curl reads them.
    #[default]
    Environment,
    /// No proxy: connect directly.
    Direct,
}

impl NetOptions {
    /// The root store: Mozilla's roots, the system's (when asked for) and the extra ones.
    pub(crate) fn root_store(&self) -> RootCertStore {
        let mut store = if self.system_roots {
            base_store(true).clone()
        } else {
            base_store(false).clone()
        };
        store.add_parsable_certificates(self.extra_roots.iter().cloned());
        store
    }

    /// A rustls client configuration trusting [`NetOptions::root_store`], with no ALPN protocols set.
    pub(crate) fn tls_config(&self) -> Result<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Other(format!("TLS setup: {e}")))?
            .with_root_certificates(self.root_store())
            .with_no_client_auth())
    }

    /// The proxy matcher for these settings (for hyper connections; reqwest applies the same rules itself).
    pub(crate) fn proxy_matcher(&self) -> hyper_util::client::proxy::matcher::Matcher {
        use hyper_util::client::proxy::matcher::Matcher;
        match self.proxy {
            ProxyMode::Environment => Matcher::from_env(),
            ProxyMode::Direct => Matcher::builder().build(),
        }
    }
}

/// The Mozilla roots, plus the system's when `system`; built once per process.
fn base_store(system: bool) -> &'static RootCertStore {
    static MOZILLA: OnceLock<RootCertStore> = OnceLock::new();
    static WITH_SYSTEM: OnceLock<RootCertStore> = OnceLock::new();
    let mozilla = || RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if system {
        WITH_SYSTEM.get_or_init(|| {
            let mut store = mozilla();
            store.add_parsable_certificates(system_roots());
            store
        })
    } else {
        MOZILLA.get_or_init(mozilla)
    }
}

/// The operating system's root certificates; none when they cannot be read.
fn system_roots() -> Vec<CertificateDer<'static>> {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        // Not `rustls_native_certs::load_native_certs()`: it reads SSL_CERT_FILE / SSL_CERT_DIR *instead of*
        // the system store, and those are extra roots here, added to it.
        let mut certs = Vec::new();
        for dir in openssl_probe::candidate_cert_dirs() {
            certs.extend(rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs);
        }
        certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
        certs.dedup();
        certs
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        rustls_native_certs::load_native_certs().certs
    }
}

/// The certificates of a PEM file, such as the CA bundle `SSL_CERT_FILE` names. `what` names the setting in
/// errors. Fails with a one-line [`Error::Input`] naming `what` and the path when the file cannot be read, is not
/// PEM, or holds no certificate usable as a trusted root.
///
/// Example: [`crate::gather::net`].
pub fn load_pem_roots(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let at = format!("{what} {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| Error::input(&at, e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::input(&at, format!("not a PEM certificate bundle ({e})")))?;
    usable(certs, &at)
}

/// The certificates of every PEM file in the directories of `dirs` (as `SSL_CERT_DIR` gives them: separated
/// by `:`, `;` on Windows). Files that are not PEM are passed over, as certificate directories hold other files
/// too, and an empty directory is no error. Fails with a one-line [`Error::Input`] naming `what` and the
/// directory when one cannot be read.
///
/// Example: [`crate::gather::net`].
pub fn load_pem_dir_roots(dirs: &OsStr, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut certs = Vec::new();
    for dir in std::env::split_paths(dirs).filter(|p| !p.as_os_str().is_empty()) {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::input(format!("{what} {}", dir.display()), e.to_string()))?;
        for p in entries.flatten().map(|e| e.path()) {
            if p.is_file() {
                if let Ok(iter) = CertificateDer::pem_file_iter(&p) {
                    certs.extend(iter.flatten());
                }
            }
        }
    }
    Ok(dedup(certs))
}

/// `certs` without duplicates, or an error when none can be a trusted root.
fn usable(certs: Vec<CertificateDer<'static>>, at: &str) -> Result<Vec<CertificateDer<'static>>> {
    if certs.is_empty() {
        return Err(Error::input(
            at,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    let mut probe = RootCertStore::empty();
    if probe.add_parsable_certificates(certs.iter().cloned()).0 == 0 {
        return Err(Error::input(
            at,
            "none of its certificates can be used as a trusted root",
        ));
    }
    Ok(dedup(certs))
}

fn dedup(mut certs: Vec<CertificateDer<'static>>) -> Vec<CertificateDer<'static>> {
    certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    certs.dedup();
    certs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_store_is_added_to_the_mozilla_roots() {
        let mozilla = base_store(false).len();
        assert!(mozilla > 100);
        assert!(base_store(true).len() >= mozilla);
    }

    #[test]
    fn bad_pem_files_are_one_line_input_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = load_pem_roots(&missing, "SSL_CERT_FILE").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with("SSL_CERT_FILE "), "{e}");
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        let e = load_pem_roots(&text, "SSL_CERT_FILE").unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = load_pem_roots(&garbage, "SSL_CERT_FILE").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string().lines().count(), 1);
        let e = load_pem_dir_roots(missing.as_os_str(), "SSL_CERT_DIR").unwrap_err();
        assert!(e.to_string().starts_with("SSL_CERT_DIR "), "{e}");
        let none = load_pem_dir_roots(dir.path().as_os_str(), "SSL_CERT_DIR").unwrap();
        assert!(none.is_empty());
    }
}
