//! Gather stage. `environment.json`: OS, CPU, memory, tool version, and which relevant environment variables are set.
//! Never environment variable values: only their names.
//!
//! ```
//! use cohere_bundle_core::gather::environment::{EnvVarInfo, Environment, RELEVANT_VARS};
//!
//! let env = Environment::collect_with(|name| name == "CO_API_KEY" || name == "HTTPS_PROXY");
//! assert_eq!(env.env_vars.keys().collect::<Vec<_>>(), ["CO_API_KEY", "HTTPS_PROXY"]);
//! assert_eq!(env.env_vars["CO_API_KEY"], EnvVarInfo { set: true });
//! assert!(env.proxy_configured && env.cpus >= 1);
//! assert!(RELEVANT_VARS.contains(&"CO_API_KEY"));
//!
//! // This process: the names of the relevant variables that are set, never their values.
//! let here = Environment::collect();
//! assert!(here.env_vars.keys().all(|k| RELEVANT_VARS.contains(&k.as_str())));
//! // The same on every machine, for snapshot tests.
//! assert_eq!(Environment::fixed(), Environment::fixed());
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The environment variables whose presence is recorded (never their values): Cohere SDK settings, proxies,
/// TLS trust settings, and cloud-platform credentials.
///
/// See the [module example](crate::gather::environment).
pub const RELEVANT_VARS: &[&str] = &[
    "CO_API_URL",
    "CO_API_KEY",
    "COHERE_API_KEY",
    "COHERE_API_URL",
    "COHERE_BASE_URL",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "OCI_CONFIG_FILE",
    "OCI_CLI_PROFILE",
    "AZURE_API_KEY",
];

/// The variables that configure an HTTP proxy (`NO_PROXY` only makes exceptions, so it is not one of them).
const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What is recorded about one environment variable: only that it is set.
///
/// See the [module example](crate::gather::environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVarInfo {
    /// Always `true`: variables that are not set are not listed.
    pub set: bool,
}

/// The machine the bundle was made on.
///
/// See the [module example](crate::gather::environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Tool name and version.
    pub tool: String,
    /// OS name and version.
    pub os: Option<String>,
    /// Kernel version.
    pub kernel: Option<String>,
    /// CPU architecture.
    pub arch: String,
    /// Number of logical CPUs.
    pub cpus: usize,
    /// Total memory in bytes.
    pub total_memory_bytes: u64,
    /// Available memory in bytes.
    pub available_memory_bytes: u64,
    /// The relevant environment variables ([`RELEVANT_VARS`]) that are set to a non-empty value, by name, each
    /// `{"set": true}`. Values are never read into the bundle.
    pub env_vars: BTreeMap<String, EnvVarInfo>,
    /// True when an HTTP(S) proxy is configured through `HTTP_PROXY`, `HTTPS_PROXY` or `ALL_PROXY` (any case).
    pub proxy_configured: bool,
}

impl Environment {
    /// Reads the environment of this machine and process.
    ///
    /// See the [module example](crate::gather::environment).
    pub fn collect() -> Environment {
        Self::collect_with(|name| {
            std::env::var_os(name)
                .map(|v| !v.is_empty())
                .unwrap_or(false)
        })
    }

    /// Like [`Environment::collect`], with `is_set(name)` telling whether a variable is set (for tests, or for
    /// a process other than this one).
    ///
    /// See the [module example](crate::gather::environment).
    pub fn collect_with(is_set: impl Fn(&str) -> bool) -> Environment {
        let mut sys = sysinfo::System::new();
        sys.refresh_memory();
        let (env_vars, proxy_configured) = env_var_names(is_set);
        Environment {
            tool: crate::TOOL.to_string(),
            os: sysinfo::System::long_os_version(),
            kernel: sysinfo::System::kernel_version(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            total_memory_bytes: sys.total_memory(),
            available_memory_bytes: sys.available_memory(),
            env_vars,
            proxy_configured,
        }
    }

    /// A fixed environment for snapshot tests: the same on every machine and every run (only `tool` follows
    /// the crate version).
    ///
    /// See the [module example](crate::gather::environment).
    pub fn fixed() -> Environment {
        let (env_vars, proxy_configured) =
            env_var_names(|n| matches!(n, "CO_API_KEY" | "HTTPS_PROXY" | "NO_PROXY"));
        Environment {
            tool: crate::TOOL.to_string(),
            os: Some("Linux 24.04 Ubuntu".to_string()),
            kernel: Some("6.8.0-test".to_string()),
            arch: "x86_64".to_string(),
            cpus: 4,
            total_memory_bytes: 16 * 1024 * 1024 * 1024,
            available_memory_bytes: 8 * 1024 * 1024 * 1024,
            env_vars,
            proxy_configured,
        }
    }
}

/// The names of the relevant variables that are set, and whether a proxy is configured.
fn env_var_names(is_set: impl Fn(&str) -> bool) -> (BTreeMap<String, EnvVarInfo>, bool) {
    let env_vars: BTreeMap<String, EnvVarInfo> = RELEVANT_VARS
        .iter()
        .filter(|n| is_set(n))
        .map(|n| (n.to_string(), EnvVarInfo { set: true }))
        .collect();
    let proxy = PROXY_VARS.iter().any(|n| env_vars.contains_key(*n));
    (env_vars, proxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_names_only_and_detects_proxies() {
        let env = Environment::collect_with(|n| n == "COHERE_API_KEY" || n == "https_proxy");
        assert_eq!(
            env.env_vars.keys().collect::<Vec<_>>(),
            vec!["COHERE_API_KEY", "https_proxy"]
        );
        assert!(env.proxy_configured);
        let env = Environment::collect_with(|n| n == "NO_PROXY");
        assert!(!env.proxy_configured);
        assert!(env.cpus >= 1);
        assert!(env.total_memory_bytes >= env.available_memory_bytes);
    }

    #[test]
    fn fixed_is_deterministic() {
        let a = serde_json::to_string(&Environment::fixed()).unwrap();
        let b = serde_json::to_string(&Environment::fixed()).unwrap();
        assert_eq!(a, b);
        assert!(a.contains(r#""env_vars":{"CO_API_KEY":{"set":true},"HTTPS_PROXY":{"set":true},"NO_PROXY":{"set":true}}"#), "{a}");
        assert!(a.contains(r#""proxy_configured":true"#));
    }
}
