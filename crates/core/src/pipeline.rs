//! Entry point. The whole job: from a captured request (replayed, observed or given offline) to a written, verified bundle.
//! Every command that writes a bundle goes through [`write_support_bundle`].
//!
//! Offline, from a request and the response it got (what `cohere-bundle bundle` does):
//!
//! ```
//! use cohere_bundle_core::pipeline::{offline_capture, preflight, write_support_bundle, BundleOptions, OfflineResponse};
//! use cohere_bundle_core::input::request::{parse_request, ParseOptions};
//! use cohere_bundle_core::CauseCode;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cohere_bundle_core::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let request = parse_request(
//!     "request.json",
//!     br#"{"model":"command-r","messages":[{"role":"user","content":"hi"}]}"#,
//!     &ParseOptions::default(),
//! )?;
//! let response = OfflineResponse {
//!     status: Some(404),
//!     body: Some(r#"{"message":"model 'command-r' not found"}"#.into()),
//!     ..Default::default()
//! };
//! let capture = offline_capture(request, response, None);
//! let bo = BundleOptions::new().out_dir(dir.path()).max_size(None);
//! preflight(&bo)?; // before anything is spent: the logs are readable, the output writable
//! let outcome = write_support_bundle(capture, &bo).await?;
//! assert_eq!(outcome.summary.status, Some(404));
//! assert_eq!(outcome.summary.causes[0].code, CauseCode::ModelNotFound);
//! assert!(outcome.path.starts_with(dir.path()) && outcome.size > 0 && outcome.eml.is_none());
//! # Ok(()) }
//! ```
//!
//! A replay, here against the simulated API ([`cohere_bundle_simulator`]) on 127.0.0.1:
//!
//! ```
//! use std::time::Duration;
//! use cohere_bundle_core::pipeline::{self, prepare_replay, replay_key, resolve_base_url, BundleOptions, ReplayOptions};
//! use cohere_bundle_core::input::request::{parse_request, ParseOptions};
//! use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY};
//! use cohere_bundle_core::summary::Mode;
//! use cohere_bundle_core::SecretString;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cohere_bundle_core::Result<()> {
//! let sim = Simulator::start(SimConfig::default()).await.unwrap();
//! let request = parse_request(
//!     "request.json",
//!     br#"{"model":"command-r-08-2024","max_tokens":8192,"messages":[{"role":"user","content":"hi"}]}"#,
//!     &ParseOptions::default(),
//! )?;
//! // Without a key given, the request's own bearer token is used; it has none, so the replay is refused.
//! assert!(replay_key(&ReplayOptions::new(), &request).is_err());
//! let ro = ReplayOptions::new()
//!     .base_url(sim.base_url())
//!     .api_key(SecretString::new(DEMO_KEY))
//!     .timeout(Duration::from_secs(10));
//! let base = resolve_base_url(&ro, &request);
//! assert_eq!(prepare_replay(&request, &base).url, format!("{}/v2/chat", sim.base_url()));
//!
//! let dir = tempfile::tempdir().unwrap();
//! let bo = BundleOptions::new()
//!     .output(dir.path().join("support.zip"))
//!     .cache_dir(dir.path().join("cache")); // the simulator's tokenizer is cached here
//! let outcome = pipeline::replay(request, &ro, &bo, Mode::Replay).await?;
//! assert_eq!(outcome.summary.status, Some(400));
//! assert_eq!(outcome.path, dir.path().join("support.zip"));
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bundle::{self, Member, MemberSource};
use crate::cohere::{self, Endpoint, Platform};
use crate::diagnose::{self, Evidence, LogError};
use crate::error::{Error, Result};
use crate::exchange::Exchange;
use crate::exchange::{Body, Header, RecordedResponse};
use crate::gather;
use crate::gather::client::{Client, PreparedRequest};
use crate::gather::environment::Environment;
use crate::gather::tokenizer::TokenizerCache;
use crate::input::request::CapturedRequest;
use crate::render::report::{self, LogListing, ReportInput};
use crate::scrub::{KnownSecret, ScrubOptions, Scrubber, SecretString};
use crate::summary::{ClientInfo, Mode, Summary};

/// How and where to write a bundle; shared by every command. Start from [`BundleOptions::new`] (or
/// `default()`) and set what differs:
///
/// ```
/// use cohere_bundle_core::pipeline::BundleOptions;
/// use cohere_bundle_core::{KnownSecret, SecretString};
///
/// let bo = BundleOptions::new()
///     .output("support.zip")
///     .log("app.log")
///     .secret(SecretString::new("db-password-1234"))
///     .max_size(Some(5 << 20));
/// assert_eq!(bo.logs.len(), 1);
/// assert!(!bo.force);
///
/// // A default-named zip in `bundles/`, replacing one already there, with an email draft beside it.
/// let bo = BundleOptions::new()
///     .out_dir("bundles")
///     .force(true)
///     .known([KnownSecret::new("env:DB_PASSWORD", SecretString::new("db-password-1234"))])
///     .cache_dir("/var/cache/cohere-bundle")
///     .redact_content(true)
///     .eml(true);
/// assert!(bo.output.is_none() && bo.force && bo.redact_content && bo.eml);
/// assert_eq!(bo.known[0].label, "env:DB_PASSWORD");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BundleOptions {
    /// The zip path; default `cohere-support-<UTC time>-<status or class>.zip` in `out_dir`.
    pub output: Option<PathBuf>,
    /// Where a default-named bundle goes.
    pub out_dir: PathBuf,
    /// Overwrite an existing output.
    pub force: bool,
    /// Logs to include under `logs/`.
    pub logs: Vec<PathBuf>,
    /// Extra secrets to scrub (`--secret`).
    pub secrets: Vec<SecretString>,
    /// Secrets known by value besides `secrets`, with their labels (e.g. the environment's, read at the
    /// binary's edge: the library reads no environment).
    pub known: Vec<KnownSecret>,
    /// The names (never the values) of the relevant environment variables that are set, for
    /// `environment.json` ([`crate::gather::environment::RELEVANT_VARS`]); given by the caller.
    pub env_vars_set: Vec<String>,
    /// Replace prompt and completion text with length-keeping placeholders.
    pub redact_content: bool,
    /// The tool's cache directory (tokenizers go in `tokenizers/` below it); `None`: tokenizers are kept in
    /// memory only.
    pub cache_dir: Option<PathBuf>,
    /// The size budget of the zip in bytes (`--max-size`); `None`: no budget. It is met by cutting logs to their newest lines, then large bodies.
    pub max_size: Option<u64>,
    /// Also write an email draft beside the zip (`--eml`), see [`crate::bundle::email::write_eml`].
    pub eml: bool,
    /// Extra members written into the bundle as given (e.g. `storm.json` from the recorder).
    pub extra_members: Vec<Member>,
    /// How logs from pipes and FIFOs are read: the newest bytes kept, and how long they may stay silent.
    pub log_limits: crate::input::logs::LogLimits,
    /// The email draft's `From` address; `None`: left for the mail client to fill in.
    pub email_from: Option<String>,
    /// `logs` may not exist yet: the program observed will write them. They are read when the bundle is
    /// written; one that never appeared is named in the report instead of refusing the run.
    pub logs_may_appear_later: bool,
    /// Scrub the values of the environment's secrets too (default on, as in the Python package). The library
    /// reads no environment: the caller resolves them at its edge and hands them in, e.g. to
    /// [`crate::recorder::Recorder::new`] as [`crate::recorder::EnvSecrets::from_process`], which adds them to
    /// `known` while this is on and leaves them out when it is off. [`BundleOptions::known`] is always used.
    pub scan_env: bool,
}

impl Default for BundleOptions {
    fn default() -> Self {
        BundleOptions {
            output: None,
            out_dir: PathBuf::from("."),
            force: false,
            logs: Vec::new(),
            secrets: Vec::new(),
            known: Vec::new(),
            env_vars_set: Vec::new(),
            redact_content: false,
            cache_dir: None,
            max_size: Some(crate::bundle::fit::DEFAULT_MAX_SIZE),
            eml: false,
            extra_members: Vec::new(),
            log_limits: crate::input::logs::LogLimits::default(),
            email_from: None,
            logs_may_appear_later: false,
            scan_env: true,
        }
    }
}

/// How to replay a request.
///
/// ```
/// use std::time::Duration;
/// use cohere_bundle_core::gather::net::NetOptions;
/// use cohere_bundle_core::pipeline::ReplayOptions;
/// use cohere_bundle_core::{Platform, SecretString};
///
/// let ro = ReplayOptions::new()
///     .base_url("https://api.cohere.com")
///     .api_key(SecretString::new("co-key"))
///     .timeout(Duration::from_secs(30));
/// assert_eq!(ro.base_url.as_deref(), Some("https://api.cohere.com"));
///
/// // Reproduce an authentication problem on Bedrock: no key on purpose, the default trust and proxy.
/// let ro = ReplayOptions::new()
///     .platform(Platform::Bedrock)
///     .no_key(true)
///     .net(NetOptions::default());
/// assert!(ro.no_key && ro.api_key.is_none());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplayOptions {
    /// `--base-url`; else `CO_API_URL`, else the request's own URL, else [`cohere::DEFAULT_BASE_URL`].
    pub base_url: Option<String>,
    /// The API key; else the request's own bearer token.
    pub api_key: Option<SecretString>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// The platform, when the URL does not tell.
    pub platform: Option<Platform>,
    /// Replay without any key on purpose (to reproduce an authentication problem); without it, a replay
    /// with no key is refused before any traffic.
    pub no_key: bool,
    /// Trusted roots and proxy for the replay and its follow-up calls.
    pub net: crate::gather::net::NetOptions,
    /// Hosts besides Cohere's (and `base_url`'s) that a request file may name and the [`Self::api_key`] be sent
    /// to (`--allow-host`); see [`check_key_host`].
    pub allow_hosts: Vec<String>,
    /// Header names that carry credentials besides the usual ones (`--secret-header`): dropped on a redirect
    /// to another origin, masked in the bundle.
    pub secret_headers: Vec<String>,
}

impl BundleOptions {
    /// The defaults: a default-named zip in the current directory, no logs, the 10 MiB budget.
    ///
    /// Example: [`BundleOptions`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The zip's path.
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn output(mut self, path: impl Into<PathBuf>) -> Self {
        self.output = Some(path.into());
        self
    }

    /// The directory of a default-named zip.
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = dir.into();
        self
    }

    /// Whether to overwrite an existing output.
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Adds a log to include under `logs/`.
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn log(mut self, path: impl Into<PathBuf>) -> Self {
        self.logs.push(path.into());
        self
    }

    /// Adds a secret to scrub.
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn secret(mut self, s: SecretString) -> Self {
        self.secrets.push(s);
        self
    }

    /// Adds secrets known by value with their labels (e.g. the environment's).
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn known(mut self, known: impl IntoIterator<Item = KnownSecret>) -> Self {
        self.known.extend(known);
        self
    }

    /// The cache directory for tokenizers.
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The size budget in bytes; `None`: no budget.
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn max_size(mut self, bytes: Option<u64>) -> Self {
        self.max_size = bytes;
        self
    }

    /// Whether to replace prompt and completion text with placeholders.
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn redact_content(mut self, on: bool) -> Self {
        self.redact_content = on;
        self
    }

    /// Whether to write an email draft beside the zip.
    ///
    /// Example: [`BundleOptions`].
    #[must_use]
    pub fn eml(mut self, on: bool) -> Self {
        self.eml = on;
        self
    }

    /// Whether the environment's secrets, resolved by the caller, are scrubbed too (default on).
    ///
    /// Example: [`crate::recorder`] (`EnvSecrets`).
    #[must_use]
    pub fn scan_env(mut self, on: bool) -> Self {
        self.scan_env = on;
        self
    }
}

impl ReplayOptions {
    /// The defaults: the request's own URL (else the public API), its own key, a 120 s timeout.
    ///
    /// Example: [`ReplayOptions`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The base URL to send to.
    ///
    /// Example: [`ReplayOptions`].
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The API key.
    ///
    /// Example: [`ReplayOptions`].
    #[must_use]
    pub fn api_key(mut self, key: SecretString) -> Self {
        self.api_key = Some(key);
        self
    }

    /// The whole-request timeout.
    ///
    /// Example: [`ReplayOptions`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The platform, when the URL does not tell.
    ///
    /// Example: [`ReplayOptions`].
    #[must_use]
    pub fn platform(mut self, p: Platform) -> Self {
        self.platform = Some(p);
        self
    }

    /// Replay without any key, on purpose.
    ///
    /// Example: [`ReplayOptions`].
    #[must_use]
    pub fn no_key(mut self, on: bool) -> Self {
        self.no_key = on;
        self
    }

    /// Trusted roots and proxy.
    ///
    /// Example: [`ReplayOptions`].
    #[must_use]
    pub fn net(mut self, net: crate::gather::net::NetOptions) -> Self {
        self.net = net;
        self
    }

    /// Allows the key to go to `host` when a request file names it ([`check_key_host`]).
    ///
    /// Example: [`check_key_host`].
    #[must_use]
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.allow_hosts.push(host.into());
        self
    }
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            base_url: None,
            api_key: None,
            timeout: Duration::from_secs(120),
            platform: None,
            no_key: false,
            net: Default::default(),
            allow_hosts: Vec::new(),
            secret_headers: Vec::new(),
        }
    }
}

/// What a written bundle holds, for the caller to print.
///
/// See the [module example](crate::pipeline).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The zip.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The summary written into it.
    pub summary: Summary,
    /// Number of redactions made.
    pub redactions: u64,
    /// The email draft written beside the zip, if asked for.
    pub eml: Option<PathBuf>,
}

/// The base URL for a replay (see [`ReplayOptions::base_url`]).
///
/// See the [module example](crate::pipeline).
pub fn resolve_base_url(opts: &ReplayOptions, request: &CapturedRequest) -> String {
    if let Some(b) = &opts.base_url {
        return b.trim_end_matches('/').to_string();
    }
    if let Some(u) = request.url.as_deref().and_then(|u| url::Url::parse(u).ok()) {
        let path = u.path();
        // What comes before the endpoint's own path (`/v1/datasets/{id}`, …) is the base's path, e.g. a proxy's.
        let base_path = match Endpoint::locate(path) {
            Some((e, at)) if e == request.endpoint => &path[..at],
            _ => "",
        };
        return format!(
            "{}{}",
            u.origin().ascii_serialization(),
            base_path.trim_end_matches('/')
        );
    }
    cohere::DEFAULT_BASE_URL.to_string()
}

/// The hosts of the public API: the key from the environment goes to them without being asked.
///
/// Example: [`check_key_host`].
pub const COHERE_HOSTS: &[&str] = &["api.cohere.com", "api.cohere.ai"];

/// Refuses, before any traffic, to send [`ReplayOptions::api_key`] (the key the caller holds, e.g. from
/// `CO_API_KEY`) to a host that only the request file names: the key goes to Cohere's hosts
/// ([`COHERE_HOSTS`]), to the host of [`ReplayOptions::base_url`] (given by the caller), to this machine
/// (loopback: it does not leave it), and to [`ReplayOptions::allow_hosts`]. Any other host is an
/// [`Error::Field`] on `allow_hosts` (exit 2) that says how to allow it. A request's own bearer token goes
/// back to the host it came from.
///
/// ```
/// use cohere_bundle_core::pipeline::{check_key_host, ReplayOptions};
/// use cohere_bundle_core::input::request::{parse_request, ParseOptions};
/// use cohere_bundle_core::SecretString;
///
/// let cmd = br#"curl https://collector.example.net/v2/chat -d '{"model":"command-r","messages":[]}'"#;
/// let request = parse_request("curl.txt", cmd, &ParseOptions::default())?;
/// let ro = ReplayOptions::new().api_key(SecretString::new("co-env-key-1234"));
/// let e = check_key_host(&ro, &request).unwrap_err();
/// assert_eq!(e.exit_code(), 2);
/// assert!(e.to_string().contains("collector.example.net"), "{e}");
/// assert!(check_key_host(&ro.clone().allow_host("collector.example.net"), &request).is_ok());
/// assert!(check_key_host(&ro.base_url("https://collector.example.net"), &request).is_ok());
/// # Ok::<(), cohere_bundle_core::Error>(())
/// ```
pub fn check_key_host(ro: &ReplayOptions, request: &CapturedRequest) -> Result<()> {
    if ro.no_key || ro.api_key.is_none() || ro.base_url.is_some() {
        return Ok(());
    }
    let Some(url) = request.url.as_deref().and_then(|u| url::Url::parse(u).ok()) else {
        return Ok(());
    };
    let Some(host) = url
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
    else {
        return Ok(());
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        _ => host == "localhost",
    };
    let allowed = COHERE_HOSTS.contains(&host.as_str())
        || loopback
        || ro
            .allow_hosts
            .iter()
            .any(|a| a.trim_end_matches('.').eq_ignore_ascii_case(&host));
    if allowed {
        return Ok(());
    }
    Err(Error::field(
        "allow_hosts",
        Some(host.clone()),
        format!(
            "the request names this host, which is not Cohere's: the API key is not sent there. To replay \
             there, give its base URL (`base_url` {}) or allow the host (`allow_hosts` {host})",
            crate::scrub::mask_url(&url.origin().ascii_serialization())
        ),
    ))
}

/// The default bundle name for a summary.
pub(crate) fn default_name(summary: &Summary) -> String {
    let when = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let what = summary.status_label().unwrap_or_else(|| "ok".into());
    format!("cohere-support-{when}-{what}.zip")
}

/// The output path, and for a default name the reservation that holds it: the name is created exclusively
/// (an empty file, replaced by the zip), with `-2`, `-3` … on collision, so that concurrent runs never take
/// the same name.
fn target_path(opts: &BundleOptions, summary: &Summary) -> Result<(PathBuf, Option<Reserved>)> {
    if let Some(o) = &opts.output {
        return Ok((o.clone(), None));
    }
    let name = default_name(summary);
    let stem = name.trim_end_matches(".zip");
    for i in 1..=1000 {
        let p = if i == 1 {
            opts.out_dir.join(&name)
        } else {
            opts.out_dir.join(format!("{stem}-{i}.zip"))
        };
        let taken = opts.eml && crate::bundle::email::eml_path(&p).exists();
        if taken {
            continue;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(_) => {
                let guard = crate::cleanup::track(&p);
                return Ok((
                    p.clone(),
                    Some(Reserved {
                        path: p,
                        kept: false,
                        _unfinished: guard,
                    }),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Err(Error::input(
        opts.out_dir.display().to_string(),
        "a thousand bundles of this name exist already; name the output",
    ))
}

/// A default output name created exclusively; removed unless the bundle replaced it.
struct Reserved {
    path: PathBuf,
    kept: bool,
    _unfinished: crate::cleanup::Tracked,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Checks, before any network traffic, that the logs can be read and an explicit output can be written.
///
/// See the [module example](crate::pipeline).
pub fn preflight(opts: &BundleOptions) -> Result<()> {
    if opts.eml && !cfg!(feature = "email") {
        return Err(Error::field(
            "eml",
            None,
            "this build has no email draft (the `email` feature is off)",
        ));
    }
    if let Some(m) = opts
        .max_size
        .filter(|m| *m < crate::bundle::fit::MIN_MAX_SIZE)
    {
        let (h, min) = (
            crate::bundle::fit::human(m),
            crate::bundle::fit::human(crate::bundle::fit::MIN_MAX_SIZE),
        );
        return Err(Error::field(
            "max_size",
            None,
            format!("{h} is too small; at least {min}"),
        ));
    }
    for l in &opts.logs {
        // A pipe or FIFO can be read only once: crate::input::logs::prepare reads it, later.
        if std::fs::metadata(l).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            continue;
        }
        if opts.logs_may_appear_later && !l.exists() {
            // Written by the program observed: read when the bundle is written.
            continue;
        }
        crate::input::logs::check_log(l)?;
    }
    if let Some(o) = &opts.output {
        bundle::check_output(o, opts.force)?;
    }
    if opts.output.is_none() {
        bundle::check_writable_dir(&opts.out_dir)?;
    }
    Ok(())
}

/// The key a replay sends: [`ReplayOptions::api_key`], else the request's own bearer token. With neither,
/// the replay is refused before any traffic ([`Error::Input`] on `api_key`), unless
/// [`ReplayOptions::no_key`] asks for a replay without a key on purpose.
///
/// See the [module example](crate::pipeline).
pub fn replay_key(ro: &ReplayOptions, request: &CapturedRequest) -> Result<Option<SecretString>> {
    if ro.no_key {
        return Ok(None);
    }
    let key = ro
        .api_key
        .clone()
        .or_else(|| crate::gather::capture::bearer(&request.headers).map(SecretString::new));
    match key {
        Some(k) => Ok(Some(k)),
        None => Err(Error::input(
            "api_key",
            "no API key: none was given, and the request has no Authorization header with a real key",
        )),
    }
}

/// Replays `request` and writes a bundle. A failing replay still yields a bundle; an API that cannot be
/// reached at all is an [`Error::Unreachable`] and writes nothing.
///
/// See the [module example](crate::pipeline).
pub async fn replay(
    request: CapturedRequest,
    ro: &ReplayOptions,
    bo: &BundleOptions,
    mode: Mode,
) -> Result<Outcome> {
    replay_with_matrix(request, ro, bo, mode, None).await
}

/// The request a replay sends to `base`: the captured method, headers and body, with the captured
/// credentials, host and length headers dropped (the client sets its own) and JSON as the content type.
///
/// The URL is `base` and the endpoint's path as the captured URL has it, path parameters and query included
/// (`{base}/v1/datasets/my-id`, `{base}/v1/models/command-r`); a bare body goes to the endpoint's path. A
/// request without a body (`null`) is sent without one; a form ([`crate::input::request::form`]) as
/// `multipart/form-data`.
///
/// See the [module example](crate::pipeline).
pub fn prepare_replay(request: &CapturedRequest, base: &str) -> PreparedRequest {
    let own_path = request.url.as_deref().and_then(|u| {
        let (path, query) = match url::Url::parse(u) {
            Ok(x) => (x.path().to_string(), x.query().map(str::to_string)),
            Err(_) => match u.split_once('?') {
                Some((p, q)) => (p.to_string(), Some(q.to_string())),
                None => (u.to_string(), None),
            },
        };
        let (e, at) = Endpoint::locate(&path)?;
        (e == request.endpoint).then(|| match query {
            Some(q) => format!("{}?{q}", &path[at..]),
            None => path[at..].to_string(),
        })
    });
    let url = match (own_path, request.endpoint, &request.url) {
        (Some(p), _, _) => format!("{base}{p}"),
        (None, Endpoint::Other, Some(u)) => u.clone(),
        (None, e, _) => format!("{base}{}", e.path()),
    };
    let mut headers: Vec<Header> = request
        .headers
        .iter()
        .filter(|h| {
            !["authorization", "host", "content-length", "cookie"]
                .contains(&h.name.to_ascii_lowercase().as_str())
        })
        .cloned()
        .collect();
    let form = crate::input::request::form::multipart(request);
    if let Some((content_type, _)) = &form {
        headers.retain(|h| !h.name.eq_ignore_ascii_case("content-type"));
        headers.push(Header::new("Content-Type", content_type.clone()));
    }
    if !headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("content-type"))
        && !request.body.is_null()
    {
        headers.push(Header::new("Content-Type", "application/json"));
    }
    let body = match form {
        Some((_, bytes)) => bytes,
        None if request.body.is_null() => Vec::new(),
        None => serde_json::to_vec(&request.body).unwrap_or_default(),
    };
    PreparedRequest {
        method: request.method.clone(),
        url,
        headers,
        body,
    }
}

/// [`replay`], then, when `matrix` is given, the shape matrix ([`crate::gather::matrix`]) after the replay: its result
/// goes into `summary.matrix` and `matrix.json`. Consent is checked before any traffic.
///
/// Example: [`crate::pipeline`] shows [`replay`], which is this without a sweep.
pub async fn replay_with_matrix(
    request: CapturedRequest,
    ro: &ReplayOptions,
    bo: &BundleOptions,
    mode: Mode,
    matrix: Option<&crate::gather::matrix::MatrixRun>,
) -> Result<Outcome> {
    if let Some(m) = matrix {
        crate::gather::matrix::check_consent_possible(m)?;
    }
    preflight(bo)?;
    // Logs from pipes are read before anything is spent.
    let logs = crate::input::logs::prepare(&bo.logs, &bo.log_limits)?;
    let base = resolve_base_url(ro, &request);
    url::Url::parse(&base).map_err(|e| Error::input(format!("base URL {base}"), e.to_string()))?;
    let key = replay_key(ro, &request)?;
    check_key_host(ro, &request)?;
    let prepared = prepare_replay(&request, &base);
    let client =
        Client::with_options(ro.timeout, &ro.net)?.secret_headers(ro.secret_headers.clone());
    let cache = gather::tokenizer_cache(bo.cache_dir.as_deref());
    let sent = gather::replay(
        &client,
        &prepared,
        &request,
        key.as_ref(),
        &base,
        matrix,
        &cache,
    )
    .await?;
    let capture = Capture::builder(mode, request)
        .platform(ro.platform)
        .base_url(base)
        .api_key(key)
        .exchange(sent.exchange)
        .client(client)
        .matrix(sent.matrix)
        .not_swept(sent.not_swept)
        .build();
    preflight(bo)?;
    write_prepared(capture, bo, logs, &cache).await
}

pub use crate::gather::capture::Capture;

/// A response given by hand to the offline `bundle` command.
///
/// See the [module example](crate::pipeline).
#[derive(Debug, Clone, Default)]
pub struct OfflineResponse {
    /// Status.
    pub status: Option<u16>,
    /// Headers.
    pub headers: Vec<Header>,
    /// Body text.
    pub body: Option<String>,
}

/// Builds a [`Capture`] for a failure that is not replayed: the request plus whatever response is known.
///
/// See the [module example](crate::pipeline).
pub fn offline_capture(
    request: CapturedRequest,
    response: OfflineResponse,
    platform: Option<Platform>,
) -> Capture {
    let recorded = request.recorded_response.clone().or_else(|| {
        (response.status.is_some() || response.body.is_some()).then(|| RecordedResponse {
            status: response.status.unwrap_or(0),
            headers: response.headers.clone(),
            body: Body::from_text(response.body.clone().unwrap_or_default()),
        })
    });
    let recorded = recorded.map(|mut r| {
        if let Some(s) = response.status {
            r.status = s;
        }
        r
    });
    let exchange =
        recorded.map(|r| crate::gather::capture::recorded_exchange(&request, Some(r), None, 0.0));
    Capture::builder(Mode::Bundle, request)
        .platform(platform)
        .exchanges(exchange)
        .build()
}

/// Reads at most the last `max` bytes of a log as text (for finding SDK errors in it).
fn log_tail(path: &Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > max {
        let _ = f.seek(SeekFrom::Start(len - max));
    }
    let mut buf = Vec::new();
    let _ = f.take(max).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn log_names(logs: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for l in logs {
        let base = l
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "log".into());
        let mut name = format!("logs/{base}");
        let mut i = 2;
        while names.contains(&name) {
            name = format!("logs/{i}-{base}");
            i += 1;
        }
        names.push(name);
    }
    names
}

/// Diagnoses a capture, renders the report and writes the bundle.
///
/// See the [module example](crate::pipeline).
pub async fn write_support_bundle(capture: Capture, bo: &BundleOptions) -> Result<Outcome> {
    preflight(bo)?;
    let (present, missing): (Vec<PathBuf>, Vec<PathBuf>) = bo
        .logs
        .iter()
        .cloned()
        .partition(|l| !bo.logs_may_appear_later || l.exists());
    let mut logs = crate::input::logs::prepare(&present, &bo.log_limits)?;
    logs.missing = missing.iter().map(|l| l.display().to_string()).collect();
    let cache = gather::tokenizer_cache(bo.cache_dir.as_deref());
    write_prepared(capture, bo, logs, &cache).await
}

/// Each log's path, bundle name and size.
fn log_sizes(
    logs: &crate::input::logs::PreparedLogs,
    names: &[String],
) -> Vec<(PathBuf, String, u64)> {
    logs.paths
        .iter()
        .zip(names)
        .map(|(p, n)| {
            (
                p.clone(),
                n.clone(),
                std::fs::metadata(p).map_or(0, |m| m.len()),
            )
        })
        .collect()
}

/// What the logs show: SDK errors, each with its log and line, and the client a traceback names.
struct LogFindings {
    errors: Vec<LogError>,
    client: Option<ClientInfo>,
}

fn read_logs(logs: &crate::input::logs::PreparedLogs, names: &[String]) -> LogFindings {
    let mut errors = Vec::new();
    let mut client = None;
    for (path, name) in logs.paths.iter().zip(names) {
        let text = log_tail(path, 4 << 20);
        for e in crate::input::sdklog::find_sdk_errors(&text) {
            errors.push(LogError {
                location: format!("{name}:{}", e.line),
                status: e.status,
                message: e.message.clone(),
                request_id: e.request_id.clone(),
                time: crate::input::sdklog::time_near(&text, e.line),
                endpoint: e
                    .url
                    .as_deref()
                    .map(crate::cohere::Endpoint::from_path)
                    .filter(|e| *e != crate::cohere::Endpoint::Other),
            });
        }
        if client.is_none() {
            client = crate::input::sdklog::client_from_log(&text).map(|(line, mut c)| {
                c.source = format!("{name}:{line}");
                c
            });
        }
    }
    LogFindings { errors, client }
}

/// The scrubber of a bundle. Known secrets: the capture's (the key used, every bearer token seen), the
/// `secrets` option's, and `known` (the environment's, resolved by the caller).
fn scrubber_for(capture: &Capture, bo: &BundleOptions) -> Scrubber {
    let mut known = capture.known_secrets.clone();
    for s in &bo.secrets {
        known.push(KnownSecret::new("secret", s.clone()));
    }
    known.extend(bo.known.iter().cloned());
    Scrubber::new(ScrubOptions {
        known,
        redact_content: bo.redact_content,
    })
}

/// How much of each log's end the bundle learns secrets from ([`learnt_scrubber`]).
const LEARN_FROM_LOG: u64 = 8 << 20;

/// The bundle's one scrubber: [`scrubber_for`]'s secrets, and every value that the structure (or a
/// high-confidence pattern) finds in the capture's headers, form fields, query parameters and bodies and in
/// the logs, known by value for every member ([`crate::scrub::learn`]).
fn learnt_scrubber(
    capture: &Capture,
    bo: &BundleOptions,
    logs: &crate::input::logs::PreparedLogs,
) -> Scrubber {
    let given = scrubber_for(capture, bo);
    let mut found = Vec::new();
    let json = |v: &dyn erased::Json| v.to_json();
    given.discover_headers(&capture.request.headers, &mut found);
    given.discover(json(&capture.request).as_bytes(), &mut found);
    for e in &capture.exchanges {
        given.discover_headers(&e.request.headers, &mut found);
        if let Some(r) = &e.response {
            given.discover_headers(&r.headers, &mut found);
        }
        given.discover(json(e).as_bytes(), &mut found);
    }
    for p in &logs.paths {
        // The newest part of each log, where the failure is: values further back are still redacted where the
        // structure finds them, and the write stays one pass over a large log.
        let _ = given.discover_reader(log_tail(p, LEARN_FROM_LOG).as_bytes(), &mut found);
    }
    given.learn(found)
}

/// The request and the exchanges as the bundle holds them, masked once by the bundle's scrubber before anything
/// is rendered: credential headers, URLs (query parameters, userinfo) and bodies (form fields included), every
/// masking counted for `redactions.json`; with `redact_content`, prompt, document and completion text taken out.
fn masked(
    capture: &Capture,
    scrubber: &Scrubber,
    redact_content: bool,
) -> (CapturedRequest, Vec<Exchange>) {
    let member = |e: &Exchange| format!("exchanges/{}", report::exchange_file(e.index));
    let mut exchanges = capture.exchanges.clone();
    for e in &mut exchanges {
        let name = member(e);
        scrubber.mask_headers(&name, &mut e.request.headers);
        e.request.url = scrubber.scrub_str(&name, &e.request.url);
        mask_body(scrubber, &name, &mut e.request.body);
        if let Some(r) = &mut e.response {
            scrubber.mask_headers(&name, &mut r.headers);
            mask_body(scrubber, &name, &mut r.body);
        }
    }
    let mut request = capture.request.clone();
    scrubber.mask_headers("request.json", &mut request.headers);
    if let Some(u) = &request.url {
        request.url = Some(scrubber.scrub_str("request.json", u));
    }
    request.body = mask_json(scrubber, "request.json", &request.body);
    if redact_content {
        let ep = request.endpoint;
        scrubber.redact_content_in("request.json", ep, &mut request.body);
        for e in &mut exchanges {
            let name = member(e);
            redact_body(scrubber, &name, ep, &mut e.request.body);
            if let Some(r) = &mut e.response {
                redact_body(scrubber, &name, ep, &mut r.body);
            }
        }
    }
    (request, exchanges)
}

/// A recorded body scrubbed (a body that is not UTF-8 is left to the member's scrub and the final check).
fn mask_body(scrubber: &Scrubber, member: &str, body: &mut Body) {
    if body.encoding == crate::exchange::BodyEncoding::Utf8 {
        body.text = scrubber.scrub_str(member, &body.text);
    }
}

/// A JSON value scrubbed as the text it is written as (keys and values together, so a value is found by the
/// key beside it); each string alone when that text does not parse back.
fn mask_json(scrubber: &Scrubber, member: &str, v: &serde_json::Value) -> serde_json::Value {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    let clean = scrubber.scrub_str(member, &text);
    if clean == text {
        return v.clone();
    }
    serde_json::from_str(&clean).unwrap_or_else(|_| {
        fn walk(s: &Scrubber, m: &str, v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(t) => *t = s.scrub_str(m, t),
                serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(s, m, x)),
                serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(s, m, x)),
                _ => {}
            }
        }
        let mut v = v.clone();
        walk(scrubber, member, &mut v);
        v
    })
}

/// Everything the bundle's members are rendered from. [`Members::render`] renders them for one size-budget
/// plan ([`crate::bundle::fit::Fit`]); the fit stage calls it again with a tighter plan when the zip is too big.
struct Members<'a> {
    summary: &'a Summary,
    request: &'a CapturedRequest,
    exchanges: &'a [Exchange],
    capture: &'a Capture,
    log_cuts: &'a [String],
    logs: &'a crate::input::logs::PreparedLogs,
    log_sizes: &'a [(PathBuf, String, u64)],
    log_errors: &'a [LogError],
    environment: &'a Environment,
    bo: &'a BundleOptions,
}

/// The members of one attempt, the cuts made, and the report as text and HTML (for the email draft).
struct Rendered {
    members: Vec<Member>,
    cuts: Vec<String>,
    report: String,
    html: String,
}

impl Members<'_> {
    fn render(&self, fit: &crate::bundle::fit::Fit) -> Result<Rendered> {
        let mut cuts = self.log_cuts.to_vec();
        cuts.extend(fit.cuts.iter().cloned());
        let mut exchanges = self.exchanges.to_vec();
        for e in &mut exchanges {
            cuts.extend(
                fit.trim_exchange(e, &format!("exchanges/{}", report::exchange_file(e.index))),
            );
        }
        let mut request = self.request.clone();
        cuts.extend(fit.trim_request(&mut request, "request.json"));
        let summary = Summary {
            cuts: cuts.clone(),
            ..self.summary.clone()
        };
        let listings: Vec<LogListing> = self
            .log_sizes
            .iter()
            .enumerate()
            .map(|(i, (_, n, size))| LogListing {
                name: n.clone(),
                size: *size,
                cut: fit.log_cut(i),
                decoded: self.logs.decoded.get(i).cloned().flatten(),
                binary: self.logs.binary.get(i).cloned().flatten(),
            })
            .collect();
        let input = ReportInput {
            summary: &summary,
            exchanges: &exchanges,
            logs: &listings,
            log_errors: self.log_errors,
            environment: self.environment,
            redact_content: self.bo.redact_content,
        };
        let report = report::render_markdown(&input)?;
        let html = report::render_html(&input)?;
        let json = |v: &dyn erased::Json| v.to_json();
        let mut members = vec![
            Member::text("report.md", report.clone()),
            Member::text("report.html", html.clone()),
            Member::text("summary.json", json(&summary)),
            Member::text("request.json", json(&request)),
        ];
        if let Some(o) = &self.capture.observed {
            members.push(Member::text("observe.json", json(o)));
        }
        if let Some(m) = &self.capture.matrix {
            members.push(Member::text("matrix.json", json(m)));
        }
        for e in &exchanges {
            members.push(Member::text(
                format!("exchanges/{}", report::exchange_file(e.index)),
                json(e),
            ));
        }
        members.push(Member::text("environment.json", json(self.environment)));
        for (i, (p, n, _)) in self.log_sizes.iter().enumerate() {
            members.push(Member {
                name: n.clone(),
                source: MemberSource::File {
                    path: p.clone(),
                    keep_tail: fit.keep_tail(i),
                },
            });
        }
        members.extend(self.bo.extra_members.iter().cloned());
        Ok(Rendered {
            members,
            cuts,
            report,
            html,
        })
    }
}

/// [`write_support_bundle`] with the logs already read ([`crate::input::logs::prepare`]): measure (the last network
/// calls, in [`crate::gather`]), diagnose, render, write within the size budget and verify, then the optional
/// email draft. `cache` holds the tokenizers the sweep loaded, so they are not fetched again.
async fn write_prepared(
    capture: Capture,
    bo: &BundleOptions,
    logs: crate::input::logs::PreparedLogs,
    cache: &TokenizerCache,
) -> Result<Outcome> {
    let scrubber = learnt_scrubber(&capture, bo, &logs);
    let gathered = gather::measure(&capture, cache).await;
    // Named as bundled: a decompressed copy has lost its suffix.
    let names = log_names(&logs.paths);
    let found = read_logs(&logs, &names);
    let mut evidence = Evidence::from_capture(&capture);
    evidence.seq_len = gathered.seq_len;
    evidence.model_limits = gathered.model_limits;
    evidence.log_errors = found.errors.clone();
    evidence.client_from_logs = found.client;
    evidence.logs = names.clone();
    evidence.missing_logs = &logs.missing;
    let summary = diagnose::diagnose(&evidence);

    let (path, mut reserved) = target_path(bo, &summary)?;
    // A reserved name is ours to replace.
    let force = bo.force || reserved.is_some();
    bundle::check_output(&path, force)?;
    if bo.eml {
        bundle::check_output(&crate::bundle::email::eml_path(&path), bo.force)?;
    }
    let (request, exchanges) = masked(&capture, &scrubber, bo.redact_content);
    let environment = Environment::collect_with(|n| bo.env_vars_set.iter().any(|s| s == n));
    let log_sizes = log_sizes(&logs, &names);
    let members = Members {
        summary: &summary,
        request: &request,
        exchanges: &exchanges,
        capture: &capture,
        log_cuts: &logs.cuts,
        logs: &logs,
        log_sizes: &log_sizes,
        log_errors: &found.errors,
        environment: &environment,
        bo,
    };
    // The report of the attempt that was kept, for the email draft's body.
    let mut kept = (String::new(), String::new());
    let render = |fit: &crate::bundle::fit::Fit| -> Result<(Vec<Member>, Vec<String>)> {
        let r = members.render(fit)?;
        kept = (r.report, r.html);
        Ok((r.members, r.cuts))
    };
    let (written, cuts) =
        crate::bundle::fit::write_fitted(bo.max_size, &path, force, &scrubber, &log_sizes, render)
            .await?;
    if let Some(r) = reserved.as_mut() {
        r.kept = true;
    }
    let summary = Summary { cuts, ..summary };
    // The summary handed back is scrubbed like the member: callers print it and log it.
    #[cfg_attr(not(feature = "email"), allow(unused_mut))]
    let mut outcome = Outcome {
        path: written.path,
        size: written.size,
        summary: scrub_summary(&scrubber, &summary),
        redactions: written.redactions.total(),
        eml: None,
    };
    #[cfg(feature = "email")]
    if bo.eml {
        outcome.eml = Some(draft_email(&scrubber, &outcome, &kept.0, &kept.1, bo)?);
    }
    #[cfg(not(feature = "email"))]
    let _ = kept;
    Ok(outcome)
}

/// The email draft beside the zip. The bodies are scrubbed as the zip's report.md and report.html were (its
/// first two members, in that order, so the same placeholders).
#[cfg(feature = "email")]
fn draft_email(
    scrubber: &Scrubber,
    outcome: &Outcome,
    report: &str,
    html: &str,
    bo: &BundleOptions,
) -> Result<PathBuf> {
    let again = scrubber.fork();
    let body = again.scrub_str("report.md", report);
    let html = again.scrub_str("report.html", html);
    crate::bundle::email::write_eml(
        &outcome.summary,
        &outcome.path,
        &body,
        Some(&html),
        bo.email_from.as_deref(),
        &crate::bundle::email::eml_path(&outcome.path),
    )
}

/// Content redaction of a recorded body: a JSON body as a whole, a stream line by line (`data:` lines and
/// NDJSON); other text is left to the scrubber.
fn redact_body(scrubber: &Scrubber, member: &str, ep: Endpoint, body: &mut Body) {
    if body.encoding != crate::exchange::BodyEncoding::Utf8 {
        return;
    }
    if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&body.text) {
        if scrubber.redact_content_in(member, ep, &mut v) > 0 {
            body.text = serde_json::to_string_pretty(&v).unwrap_or_default();
        }
        return;
    }
    let mut changed = false;
    let lines: Vec<String> = body
        .text
        .split('\n')
        .map(|line| {
            let (prefix, data) = match line.strip_prefix("data:") {
                Some(d) => ("data: ", d.trim_start()),
                None => ("", line),
            };
            match serde_json::from_str::<serde_json::Value>(data) {
                Ok(mut v) if v.is_object() => {
                    if scrubber.redact_content_in(member, ep, &mut v) > 0 {
                        changed = true;
                        format!("{prefix}{v}")
                    } else {
                        line.to_string()
                    }
                }
                _ => line.to_string(),
            }
        })
        .collect();
    if changed {
        body.text = lines.join("\n");
    }
}

/// The summary with every string scrubbed by `scrubber`, as `summary.json` holds it.
fn scrub_summary(scrubber: &Scrubber, summary: &Summary) -> Summary {
    fn walk(s: &Scrubber, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(t) => *t = s.scrub_str("summary.json", t),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(s, x)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(s, x)),
            _ => {}
        }
    }
    let Ok(mut v) = serde_json::to_value(summary) else {
        return summary.clone();
    };
    walk(scrubber, &mut v);
    serde_json::from_value(v).unwrap_or_else(|_| summary.clone())
}

mod erased {
    /// Pretty JSON of any serialisable value, newline-terminated.
    pub(crate) trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
                + "\n"
        }
    }
}

/// Builds a [`Capture`] from what the observe proxy recorded: every exchange as recorded, with the failure
/// the summary is about ([`diagnose::primary_exchange`]) as the request. `None` when nothing was recorded.
///
/// ```
/// use cohere_bundle_core::exchange::{Body, Exchange, Failure, FailureClass, Purpose, RecordedRequest, RecordedResponse, Timings};
/// use cohere_bundle_core::gather::net::NetOptions;
/// use cohere_bundle_core::gather::observe::Recording;
/// use cohere_bundle_core::pipeline::{observed_capture, observed_capture_with};
/// use cohere_bundle_core::{Endpoint, Platform};
///
/// let failed = Exchange {
///     index: 1,
///     purpose: Purpose::Observed,
///     request: RecordedRequest {
///         method: "POST".into(),
///         url: "https://api.cohere.com/v2/chat".into(),
///         headers: vec![],
///         body: Body::from_text(r#"{"model":"command-r","messages":[]}"#),
///     },
///     response: Some(RecordedResponse {
///         status: 404,
///         headers: vec![],
///         body: Body::from_text(r#"{"message":"model 'command-r' not found"}"#),
///     }),
///     timings: Timings::default(),
///     failure: Some(Failure::new(FailureClass::Http, "model 'command-r' not found")),
///     retry_group: None,
/// };
/// let recording = Recording { exchanges: vec![failed], stats: Default::default() };
/// let capture = observed_capture(recording.clone(), "https://api.cohere.com").unwrap();
/// assert_eq!((capture.request.endpoint, capture.request.model()), (Endpoint::ChatV2, Some("command-r")));
/// assert_eq!((capture.platform, capture.exchanges.len()), (Platform::Cohere, 1));
///
/// // The same, with the trust roots and proxy the proxy's upstream connections used.
/// let capture = observed_capture_with(recording, "https://api.cohere.com", &NetOptions::default());
/// assert!(capture.is_some());
/// let nothing = Recording { exchanges: vec![], stats: Default::default() };
/// assert!(observed_capture(nothing, "https://api.cohere.com").is_none());
/// ```
pub fn observed_capture(
    recording: crate::gather::observe::Recording,
    upstream: &str,
) -> Option<Capture> {
    observed_capture_with(
        recording,
        upstream,
        &crate::gather::net::NetOptions::default(),
    )
}

/// [`observed_capture`] whose follow-up calls (model metadata, tokenizer) trust the roots and use the proxy of
/// `net`, as the observe proxy's upstream connections did.
///
/// See the [module example](crate::pipeline).
pub fn observed_capture_with(
    recording: crate::gather::observe::Recording,
    upstream: &str,
    net: &crate::gather::net::NetOptions,
) -> Option<Capture> {
    let stats = recording.stats;
    let exchanges = recording.exchanges;
    let primary = diagnose::primary_exchange(&exchanges)?.clone();
    let url = primary.request.url.clone();
    let path = url::Url::parse(&url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| url.clone());
    let body = primary
        .request
        .body
        .json()
        .unwrap_or(serde_json::Value::Null);
    let request = CapturedRequest {
        source: crate::input::request::RequestSource::Observed,
        method: primary.request.method.clone(),
        url: Some(url),
        endpoint: Endpoint::from_path(&path),
        headers: primary.request.headers.clone(),
        body,
        recorded_response: None,
        url_model: Default::default(),
    };
    let mut b = Capture::builder(Mode::Observe, request)
        .platform(Some(Platform::from_url(upstream)))
        .base_url(upstream)
        .exchanges(exchanges)
        .observed(stats);
    if let Ok(c) = Client::with_options(Duration::from_secs(30), net) {
        b = b.client(c);
    }
    Some(b.build())
}
