//! The command line: clap definitions and their translation into library calls. No logic of its own.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use cohere_bundle_core::input::request::{read_request_file, ParseOptions};
use cohere_bundle_core::pipeline::{self, BundleOptions, Outcome, ReplayOptions};
use cohere_bundle_core::{Endpoint, Platform, SecretString};

use crate::settings::EnvSettings;
use crate::term::Term;

/// Turn a failing Cohere API request into a support bundle that Cohere support can act on at once.
#[derive(Debug, Parser)]
#[command(name = "cohere-bundle", version, about, long_about = None, max_term_width = 100,
    after_help = crate::help::TOP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a realistic failing request against a built-in simulated API and write a bundle (no key, no network).
    #[command(after_help = crate::help::DEMO)]
    Demo {
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Replay a failing request (JSON body, envelope, HAR file or curl command; `-` for stdin) and write a bundle.
    #[command(after_help = crate::help::REPLAY)]
    Replay(ReplayArgs),
    /// Write a bundle for a failure that cannot be replayed (no key at hand, production data, AWS).
    #[command(after_help = crate::help::BUNDLE)]
    Bundle(BundleArgs),
    /// Run a local recording proxy (and optionally a command through it) and bundle the failures it saw.
    #[command(after_help = crate::help::OBSERVE)]
    Observe(ObserveArgs),
    /// Scrub files (or stdin) and print the result: a preview of what would leave the machine.
    #[command(after_help = crate::help::SCRUB)]
    Scrub(ScrubArgs),
    /// Run the simulated Cohere API in the foreground (for trying the tool; failures on demand with the
    /// request header `x-simulate: <scenario>`).
    #[command(hide = true, after_help = crate::help::SIMULATOR)]
    Simulator {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Check a bundle: manifest sizes and checksums, and a search for known secrets in every encoding.
    #[command(after_help = crate::help::VERIFY)]
    Verify(VerifyArgs),
    /// Print a shell completion script on stdout.
    #[command(after_help = crate::help::COMPLETIONS)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout: the tool's, or one command's.
    #[command(after_help = crate::help::MAN)]
    Man {
        /// The command whose page to print (e.g. replay); the tool's own page when omitted.
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },
}

/// The arguments of `replay`.
#[derive(Debug, Args)]
struct ReplayArgs {
    /// The request file: a JSON body, {"method","url","headers","body"}, a HAR file, or a curl command line.
    request: PathBuf,
    /// The endpoint of a bare JSON body (e.g. v2/chat, v1/chat, v2/embed, v2/rerank,
    /// compatibility/v1/chat/completions); inferred when omitted.
    #[arg(long, value_parser = parse_endpoint)]
    endpoint: Option<Endpoint>,
    /// Which failing HAR entry to take (0 = the first failing one).
    #[arg(long)]
    har_entry: Option<usize>,
    /// Base URL of the API, with its scheme [default: $CO_API_URL, else the request's URL, else
    /// https://api.cohere.com].
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    base_url: Option<String>,
    /// Seconds to wait for a complete response.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    timeout: f64,
    /// The platform the request was sent to, when the URL does not tell.
    #[arg(long, value_parser = platform_parser())]
    platform: Option<Platform>,
    /// Also sweep input lengths and max_tokens to see which shapes fail (asks before spending calls).
    #[arg(long)]
    matrix: bool,
    /// The most requests the --matrix sweep may send, 429 answers included.
    #[arg(long, value_name = "N", default_value_t = cohere_bundle_core::gather::matrix::DEFAULT_MAX_CALLS, requires = "matrix")]
    max_calls: u32,
    /// Agree to the --matrix sweep's calls and tokens without being asked.
    #[arg(long, requires = "matrix")]
    yes: bool,
    /// Sweep even when the replay's answer cannot depend on sizes (a 401, a 404, a trial key's 429).
    #[arg(long, requires = "matrix")]
    matrix_anyway: bool,
    /// Replay without any API key, on purpose (to reproduce an authentication failure). Without it, a
    /// replay with no key from CO_API_KEY, COHERE_API_KEY or the request's Authorization header is refused.
    #[arg(long)]
    no_key: bool,
    /// A host the request file names that may receive the API key from CO_API_KEY (repeatable). Without it,
    /// the key goes only to api.cohere.com, api.cohere.ai, the --base-url / CO_API_URL host and loopback.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// A header of the request that carries a credential (repeatable): dropped when a redirect leaves the
    /// request's origin, masked in the bundle, like Authorization.
    #[arg(long = "secret-header", value_name = "NAME")]
    secret_headers: Vec<String>,
    #[command(flatten)]
    out: OutputArgs,
}

/// The arguments of `bundle`.
#[derive(Debug, Args)]
struct BundleArgs {
    /// The request file (any form `replay` takes).
    #[arg(long)]
    request: PathBuf,
    /// The response body as received.
    #[arg(long)]
    response: Option<PathBuf>,
    /// The HTTP status received (100-599).
    #[arg(long, value_parser = clap::value_parser!(u16).range(100..=599))]
    status: Option<u16>,
    /// The response headers as received ("Name: value" lines, or a JSON object).
    #[arg(long)]
    headers: Option<PathBuf>,
    /// The endpoint of a bare JSON body.
    #[arg(long, value_parser = parse_endpoint)]
    endpoint: Option<Endpoint>,
    /// Where the request was sent.
    #[arg(long, value_parser = platform_parser())]
    platform: Option<Platform>,
    #[command(flatten)]
    out: OutputArgs,
}

/// The arguments of `observe`.
#[derive(Debug, Args)]
struct ObserveArgs {
    /// Address to listen on (loopback only, unless --allow-remote).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// Allow a --listen address beyond this machine: anyone who can reach it can send requests through
    /// the proxy, spending the API key of whoever sends through it.
    #[arg(long)]
    allow_remote: bool,
    /// Where to forward, with its scheme [default: $CO_API_URL as it was, else https://api.cohere.com].
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    upstream: Option<String>,
    /// Record every exchange, not only failures.
    #[arg(long)]
    all: bool,
    /// Do not preload the module that sends a Node program's fetch requests for the Cohere API to the
    /// proxy (it makes cohere-ai and the Vercel AI SDK observable without a baseUrl in code).
    #[arg(long)]
    no_node_preload: bool,
    #[command(flatten)]
    out: OutputArgs,
    /// The command to run with CO_API_URL pointing at the proxy (after `--`).
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<std::ffi::OsString>,
}

/// The arguments of `scrub`.
#[derive(Debug, Args)]
struct ScrubArgs {
    /// Files to scrub; stdin when none.
    files: Vec<PathBuf>,
    #[command(flatten)]
    secrets: SecretArgs,
    /// Print the redaction report (counts per rule, never values) on stderr.
    #[arg(long)]
    report: bool,
    /// Print the redaction report as one JSON line on stderr (stdout stays the scrubbed text); an
    /// error is a JSON object there too.
    #[arg(long)]
    json: bool,
    /// Replace prompt and completion text with length-keeping placeholders.
    #[arg(long)]
    redact_content: bool,
}

/// The arguments of `verify`.
#[derive(Debug, Args)]
struct VerifyArgs {
    /// The bundle.
    zip: PathBuf,
    #[command(flatten)]
    secrets: SecretArgs,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Options shared by every command that writes a bundle.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Where to write the zip [default: ./cohere-support-<UTC time>-<status>.zip].
    #[arg(long, short = 'o', value_name = "ZIP")]
    out: Option<PathBuf>,
    /// Overwrite the output if it exists.
    #[arg(long)]
    force: bool,
    /// A log file to include, scrubbed (repeatable).
    #[arg(long = "log", value_name = "FILE")]
    logs: Vec<PathBuf>,
    #[command(flatten)]
    secrets: SecretArgs,
    /// Do not treat the values of secret-looking environment variables as secrets.
    #[arg(long)]
    no_env_scan: bool,
    /// Replace prompt, document and completion text with length-keeping placeholders.
    #[arg(long)]
    redact_content: bool,
    /// Print one JSON object (with at least "bundle") instead of text.
    #[arg(long)]
    json: bool,
    /// Also write an email draft to support@cohere.com beside the zip (<zip>.eml, the zip attached).
    #[arg(long)]
    eml: bool,
    /// Size budget of the zip: logs are cut to their newest lines, then large bodies, until it fits
    /// (e.g. 10MiB, 500KiB, bytes; 0 for no budget).
    #[arg(long, default_value = "10MiB", value_name = "SIZE", value_parser = parse_max_size)]
    max_size: u64,
    /// How long a --log that is a pipe or FIFO may stay silent (no writer, or no data) before reading stops.
    #[arg(long, default_value_t = 10.0, value_name = "SECS", value_parser = parse_secs)]
    log_timeout: f64,
}

/// Secrets to scrub (`verify`: to search for), besides CO_API_KEY and secret-looking environment variables.
/// `--secret-env` and `--secrets-file` keep them off the command line, which other users can read (`ps`)
/// and the shell keeps in its history.
#[derive(Debug, Args)]
struct SecretArgs {
    /// A secret value (repeatable); prefer --secret-env or --secrets-file, as a command line is visible to
    /// other users and kept in shell history.
    #[arg(long = "secret", value_name = "VALUE")]
    secret_values: Vec<String>,
    /// The name of an environment variable whose value is a secret (repeatable); unset is an error.
    #[arg(long = "secret-env", value_name = "NAME")]
    secret_env: Vec<String>,
    /// A file of secrets, one per line; lines starting with # and blank lines are ignored (repeatable).
    #[arg(long = "secrets-file", value_name = "FILE")]
    secrets_files: Vec<PathBuf>,
}

impl SecretArgs {
    /// Reads `--secret-env` variables and `--secrets-file` files into the values, once, at the edge: after
    /// this every secret is in `values`, wherever it came from. An unset variable or unreadable file is a
    /// usage error naming it (never a value).
    fn resolve(&mut self) -> anyhow::Result<()> {
        for name in std::mem::take(&mut self.secret_env) {
            let value = EnvSettings::secret_from_env(&name).map_err(|why| {
                cohere_bundle_core::Error::input(format!("--secret-env {name}"), why)
            })?;
            self.secret_values.push(value);
        }
        for path in std::mem::take(&mut self.secrets_files) {
            let flag = format!("--secrets-file {}", path.display());
            let bytes = std::fs::read(&path)
                .map_err(|e| cohere_bundle_core::Error::input(flag.clone(), e.to_string()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| cohere_bundle_core::Error::input(flag.clone(), "not UTF-8 text"))?;
            self.secret_values.extend(secrets_in(&text));
        }
        Ok(())
    }
}

/// The secrets in a `--secrets-file`: one per line, trimmed; `#` comment lines and blank lines skipped.
fn secrets_in(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
}

/// Seconds above 0 and at most a day.
fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if secs_in_range(v) {
        Ok(v)
    } else {
        Err(format!(
            "must be above 0 and at most {MAX_TIMEOUT_S} seconds"
        ))
    }
}

fn parse_max_size(s: &str) -> Result<u64, String> {
    if s.trim() == "0" {
        return Ok(0);
    }
    cohere_bundle_core::bundle::fit::parse_size(s)
}

/// The roff man page of the tool, or of one of its commands (`cohere-bundle-replay(1)`).
fn man_page(command: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    let page = match command {
        None => cmd,
        Some(name) => {
            let names: Vec<String> = cmd
                .get_subcommands()
                .filter(|c| !c.is_hide_set() && c.get_name() != "help")
                .map(|c| c.get_name().to_string())
                .collect();
            let sub = cmd
                .find_subcommand(name)
                .filter(|c| !c.is_hide_set())
                .ok_or_else(|| {
                    cohere_bundle_core::Error::input(
                        "man",
                        format!("no command '{name}'; one of: {}", names.join(", ")),
                    )
                })?;
            sub.clone().version(env!("CARGO_PKG_VERSION"))
        }
    };
    // The after-help text becomes the page's own EXAMPLES and ENVIRONMENT sections, set as written.
    let extra = page.get_after_help().map(|h| man_sections(&h.to_string()));
    let page = page.after_help(None::<&'static str>);
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("cohere-bundle {}", env!("CARGO_PKG_VERSION")))
        .render(&mut buf)
        .context("rendering the man page")?;
    let mut text = String::from_utf8(buf).context("the man page is not UTF-8")?;
    if let Some(extra) = extra {
        let at = text
            .find("\n.SH VERSION")
            .map(|i| i + 1)
            .unwrap_or(text.len());
        text.insert_str(at, &extra);
    }
    Ok(text.into_bytes())
}

/// Roff sections from help text: a line `Heading:` starts a section `HEADING`, its indented lines are set
/// without filling (as the terminal shows them), other lines are paragraphs.
fn man_sections(help: &str) -> String {
    use roff::{roman, Roff};
    let mut r = Roff::new();
    let mut nofill = false;
    for line in help.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with(' ');
        if nofill && !indented {
            r.control("fi", []);
            nofill = false;
        }
        if !indented && line.ends_with(':') && !line.contains(' ') {
            r.control("SH", [line.trim_end_matches(':').to_uppercase().as_str()]);
        } else if indented {
            if !nofill {
                r.control("nf", []);
                nofill = true;
            }
            r.text([roman(line)]);
        } else {
            r.control("PP", []);
            r.text([roman(line)]);
        }
    }
    if nofill {
        r.control("fi", []);
    }
    r.to_roff()
}

/// An `http://` or `https://` URL; one without a scheme is refused with the fix (`api.cohere.com` is not
/// a URL a client can send to, and guessing the scheme would hide a typo).
fn parse_base_url(s: &str) -> Result<String, String> {
    let t = s.trim();
    let Some((scheme, rest)) = t.split_once("://") else {
        return Err(format!(
            "'{s}' has no scheme; add https:// (e.g. https://{})",
            t.trim_start_matches('/')
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!(
            "'{s}' is not an http:// or https:// URL; e.g. https://{rest}"
        ));
    }
    url::Url::parse(t).map_err(|e| format!("'{s}' is not a URL: {e}"))?;
    Ok(t.to_string())
}

/// `--platform`: one of the platforms' names, offered by `--help` and the completions.
fn platform_parser() -> impl clap::builder::TypedValueParser<Value = Platform> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Platform::ALL.map(Platform::name))
        .map(|name| Platform::from_name(&name).expect("a possible value is a platform"))
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    Endpoint::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
        format!("unknown endpoint '{s}'; one of: {}", names.join(", "))
    })
}

impl OutputArgs {
    fn bundle_options(&self, env: &EnvSettings) -> BundleOptions {
        let mut known: Vec<cohere_bundle_core::KnownSecret> = env
            .api_key
            .iter()
            .map(|k| cohere_bundle_core::KnownSecret::new("cohere-key", k.clone()))
            .collect();
        if !self.no_env_scan {
            known.extend(env.secrets.iter().cloned());
        }
        {
            let mut o = BundleOptions::default();
            o.output = self.out.clone();
            o.out_dir = PathBuf::from(".");
            o.force = self.force;
            // The environment's secrets were resolved above (or not, with --no-env-scan): the flag and the
            // option say the same.
            o.scan_env = !self.no_env_scan;
            o.logs = self.logs.clone();
            o.secrets = self
                .secrets
                .secret_values
                .iter()
                .map(SecretString::new)
                .collect();
            o.known = known;
            o.env_vars_set = env.vars_set.clone();
            o.redact_content = self.redact_content;
            o.cache_dir = env.cache_root.clone();
            o.max_size = (self.max_size > 0).then_some(self.max_size);
            o.eml = self.eml;
            o.extra_members = Vec::new();
            o.email_from = EnvSettings::email_from();
            o.log_limits = cohere_bundle_core::input::logs::LogLimits::default()
                .with_idle_timeout(Duration::from_secs_f64(self.log_timeout));
            o
        }
    }
}

/// The longest `--timeout`: one day.
const MAX_TIMEOUT_S: f64 = 86_400.0;

/// Seconds a flag may give: above 0, at most a day (and so never a Duration that overflows).
fn secs_in_range(v: f64) -> bool {
    v.is_finite() && v > 0.0 && v <= MAX_TIMEOUT_S
}

fn timeout(secs: f64) -> anyhow::Result<Duration> {
    if !secs_in_range(secs) {
        anyhow::bail!(cohere_bundle_core::Error::input(
            "--timeout",
            format!("must be a number of seconds above 0 and at most {MAX_TIMEOUT_S} (one day), not {secs}"),
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn print_outcome(term: &Term, o: &Outcome, json: bool) -> anyhow::Result<()> {
    if json {
        term.out(&cohere_bundle_core::outcome::outcome_json(o).to_string());
    } else {
        term.out(&cohere_bundle_core::outcome::outcome_text(o));
    }
    Ok(())
}

fn read_opt(path: &Option<PathBuf>, flag: &str) -> anyhow::Result<Option<String>> {
    let Some(p) = path else { return Ok(None) };
    let bytes = std::fs::read(p).map_err(|e| {
        cohere_bundle_core::Error::input(format!("{flag} {}", p.display()), e.to_string())
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        cohere_bundle_core::Error::input(format!("{flag} {}", p.display()), "binary file, not text")
    })?;
    Ok(Some(text))
}

/// Trust and proxy settings from the environment: the system's and the bundled roots, plus the CA certificates
/// of `SSL_CERT_FILE` and `SSL_CERT_DIR`; proxies from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY`.
fn net_options(env: &EnvSettings) -> anyhow::Result<cohere_bundle_core::gather::net::NetOptions> {
    use cohere_bundle_core::gather::net;
    let mut opts = net::NetOptions::default();
    if let Some(f) = &env.ssl_cert_file {
        let roots = net::load_pem_roots(std::path::Path::new(&f), "SSL_CERT_FILE")?;
        opts.extra_roots.extend(roots);
    }
    if let Some(d) = &env.ssl_cert_dir {
        opts.extra_roots
            .extend(net::load_pem_dir_roots(d, "SSL_CERT_DIR")?);
    }
    Ok(opts)
}

fn parse_headers(text: &str) -> Vec<cohere_bundle_core::exchange::Header> {
    use cohere_bundle_core::exchange::Header;
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(text) {
        return o
            .into_iter()
            .map(|(k, v)| {
                Header::new(
                    k,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect();
    }
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| !n.trim().is_empty() && !n.contains(' '))
        .map(|(n, v)| Header::new(n.trim(), v.trim()))
        .collect()
}

fn known_secrets(values: &[String], env: &EnvSettings) -> Vec<cohere_bundle_core::KnownSecret> {
    let mut known: Vec<cohere_bundle_core::KnownSecret> = values
        .iter()
        .map(|s| cohere_bundle_core::KnownSecret::new("secret", s.as_str()))
        .collect();
    if let Some(k) = &env.api_key {
        known.push(cohere_bundle_core::KnownSecret::new(
            "cohere-key",
            k.clone(),
        ));
    }
    known.extend(env.secrets.iter().cloned());
    known
}

/// Why observe wrote no bundle: it saw nothing (and the likely reason), or it saw only successes.
fn observed_nothing(seen: u64, proxy_url: &str, ran_command: bool) -> String {
    if seen > 0 {
        return format!(
            "observed {seen} request{}, none failed; no bundle written (use --all to bundle every exchange)",
            if seen == 1 { "" } else { "s" }
        );
    }
    let who = if ran_command {
        "the command"
    } else {
        "no client"
    };
    format!(
        "observed 0 requests: {who} sent nothing through the proxy, so no bundle was written. A client that ignores \
         CO_API_URL is the likely reason: the TypeScript SDK (cohere-ai) does, so pass baseUrl: \"{proxy_url}\" to \
         new CohereClientV2(...); the Vercel AI SDK takes createCohere({{ baseURL: \"{proxy_url}/v2\" }})"
    )
}

/// Parses `args` (the first is the program name) and runs them on a runtime of their own; returns the process
/// exit code. The binary's `main` and the Python package's `python -m cohere_bundle` both come here.
pub fn run_args<A: AsRef<std::ffi::OsStr> + Clone + Into<std::ffi::OsString>>(args: &[A]) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => return parse_error(e, args),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cohere-bundle: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = runtime.block_on(main(cli));
    // Blocking writers still running after an interrupt get a moment, then whatever they left is removed.
    runtime.shutdown_timeout(Duration::from_millis(200));
    cohere_bundle_core::cleanup::remove_unfinished();
    code
}

/// A command line (`args`, the program name first) clap refused: its own message on stderr as ever, and under
/// `--json` (before any `--`) the `{"error": ...}` object too, so that a caller parsing the output gets JSON
/// whatever went wrong. Help and version requests are printed as usual. Returns the exit code (never exits:
/// the Python package calls this too).
pub fn parse_error<A: AsRef<std::ffi::OsStr>>(e: clap::Error, args: &[A]) -> u8 {
    use clap::error::ErrorKind;
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return code;
    }
    let args: Vec<&std::ffi::OsStr> = args.iter().map(AsRef::as_ref).collect();
    let json = args
        .iter()
        .take_while(|a| **a != "--")
        .any(|a| *a == "--json");
    if json {
        let env = EnvSettings::read();
        let mut term = Term::new(known_secrets(&[], &env), true);
        term.json_to_stderr = args.get(1).is_some_and(|a| *a == "scrub");
        let rendered = e.render().to_string();
        let first = rendered.lines().next().unwrap_or("invalid command line");
        let message = first.strip_prefix("error: ").unwrap_or(first);
        if term.json_to_stderr {
            term.report_error(message, code, "usage");
            return code;
        }
        term.out(
            &serde_json::json!({"error": {"message": term.scrub(message), "exit_code": code, "kind": "usage"}})
                .to_string(),
        );
    }
    let _ = e.print();
    code
}

/// Reads the secrets given by name or file (see [`SecretArgs::resolve`]).
fn resolve_secrets(cli: &mut Cli) -> anyhow::Result<()> {
    match &mut cli.command {
        Command::Demo { out }
        | Command::Replay(ReplayArgs { out, .. })
        | Command::Bundle(BundleArgs { out, .. })
        | Command::Observe(ObserveArgs { out, .. }) => out.secrets.resolve(),
        Command::Scrub(ScrubArgs { secrets, .. }) | Command::Verify(VerifyArgs { secrets, .. }) => {
            secrets.resolve()
        }
        Command::Simulator { .. } | Command::Completions { .. } | Command::Man { .. } => Ok(()),
    }
}

/// The secrets the terminal knows before anything is read: the keys in the environment, every `--secret`,
/// and the values of secret-looking environment variables.
fn terminal_secrets(cli: &Cli, env: &EnvSettings) -> (Vec<cohere_bundle_core::KnownSecret>, bool) {
    let (secrets, json): (&[String], bool) = match &cli.command {
        Command::Demo { out }
        | Command::Replay(ReplayArgs { out, .. })
        | Command::Bundle(BundleArgs { out, .. })
        | Command::Observe(ObserveArgs { out, .. }) => (&out.secrets.secret_values, out.json),
        Command::Scrub(ScrubArgs { secrets, json, .. }) => (&secrets.secret_values, *json),
        Command::Verify(VerifyArgs { secrets, json, .. }) => (&secrets.secret_values, *json),
        Command::Simulator { .. } | Command::Completions { .. } | Command::Man { .. } => {
            (&[], false)
        }
    };
    (known_secrets(secrets, env), json)
}

/// Runs the parsed command line, printing through a scrubbing [`Term`]; returns the process exit code.
/// SIGINT and SIGTERM (except for `observe` and `simulator`, which stop on them) remove every unfinished file
/// and exit 130 or 143.
pub async fn main(mut cli: Cli) -> u8 {
    let env = EnvSettings::read();
    let json_to_stderr = matches!(cli.command, Command::Scrub(_));
    if let Err(e) = resolve_secrets(&mut cli) {
        let (known, json) = terminal_secrets(&cli, &env);
        let mut term = Term::new(known, json);
        term.json_to_stderr = json_to_stderr;
        return term.error(&e);
    }
    let (known, json) = terminal_secrets(&cli, &env);
    let mut term = Term::new(known, json);
    term.json_to_stderr = json_to_stderr;
    // `observe` and `simulator` wait for the signal themselves: for them it is the normal way to stop.
    let own_signals = matches!(cli.command, Command::Observe(_) | Command::Simulator { .. });
    let work = run(cli, &env, &mut term);
    let result = if own_signals {
        work.await
    } else {
        tokio::select! {
            r = work => r,
            code = interrupted() => {
                let n = cohere_bundle_core::cleanup::remove_unfinished();
                let _ = n;
                eprintln!("cohere-bundle: interrupted; unfinished files removed, no bundle written");
                return code;
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => term.error(&e),
    }
}

/// Waits for SIGINT (exit code 130) or SIGTERM (143).
async fn interrupted() -> u8 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => 130,
            _ = term.recv() => 143,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        130
    }
}

/// SIGINT and SIGTERM, taken from the process's default action (which ends it at once) for as long as this
/// lives: observe installs them before its proxy accepts a connection, so that Ctrl-C always ends in a bundle.
struct Signals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next signal, as its exit code: 130 for SIGINT (Ctrl-C), 143 for SIGTERM.
    async fn recv(&mut self) -> u8 {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(&mut self.int) => 130,
                () = next(&mut self.term) => 143,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            130
        }
    }
}

/// Runs the parsed command line; returns the process exit code.
async fn run(cli: Cli, env: &EnvSettings, term: &mut Term) -> anyhow::Result<u8> {
    match cli.command {
        Command::Completions { shell } => cmd_completions(shell),
        Command::Man { command } => cmd_man(command),
        Command::Simulator { port } => cmd_simulator(port).await,
        Command::Observe(a) => cmd_observe(a, env, term).await,
        Command::Scrub(a) => cmd_scrub(a, env, term).await,
        Command::Demo { out } => cmd_demo(out, env, term).await,
        Command::Replay(a) => cmd_replay(a, env, term).await,
        Command::Bundle(a) => cmd_bundle(a, env, term).await,
        Command::Verify(a) => cmd_verify(a, env, term).await,
    }
}

/// `cohere-bundle completions`.
fn cmd_completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    // Not through `term`: a script is printed byte for byte, and it holds nothing secret.
    let script = completion_script(shell);
    let mut out = std::io::stdout().lock();
    out.write_all(script.as_bytes()).context("stdout")?;
    out.flush().context("stdout")?;
    Ok(0)
}

/// The completion script for `shell`, with hidden commands left out. For bash, clap_complete's script is
/// corrected where it goes wrong with a hyphenated binary name (clap-rs/clap#6421, open; fixes proposed in
/// #6428 and #6530): its second `case` names each command `cohere__subcmd__bundle__…` while the first sets
/// `cohere__bundle__…`, so nothing after the command word completed. `--endpoint` completes the endpoint
/// names.
fn completion_script(shell: clap_complete::Shell) -> String {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let hidden: Vec<String> = cmd
        .get_subcommands()
        .filter(|c| c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "cohere-bundle", &mut out);
    let script = String::from_utf8_lossy(&out).into_owned();
    if shell != clap_complete::Shell::Bash {
        // Hidden commands are not offered: zsh lists a command as `'name:about' \`, fish as `-a "name"`.
        let offers = |line: &str| {
            hidden.iter().any(|h| {
                line.trim_start().starts_with(&format!("'{h}:"))
                    || line.contains(&format!("-a \"{h}\""))
            })
        };
        return script
            .lines()
            .filter(|l| !offers(l))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    let endpoints: Vec<&str> = cohere_bundle_core::Endpoint::ALL
        .iter()
        .map(|e| e.name())
        .collect();
    script
        .replace("cohere__subcmd__bundle__", "cohere__bundle__")
        .lines()
        .map(|line| {
            let mut line = line.to_string();
            if line.trim_start().starts_with("opts=\"") {
                for h in &hidden {
                    line = line.replace(&format!(" {h} "), " ");
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "--endpoint)\n                    COMPREPLY=($(compgen -f \"${cur}\"))",
            &format!(
                "--endpoint)\n                    COMPREPLY=($(compgen -W \"{}\" -- \"${{cur}}\"))",
                endpoints.join(" ")
            ),
        )
        + "\n"
}

/// `cohere-bundle man`.
fn cmd_man(command: Option<String>) -> anyhow::Result<u8> {
    let page = man_page(command.as_deref())?;
    let mut out = std::io::stdout().lock();
    out.write_all(&page).context("stdout")?;
    out.flush().context("stdout")?;
    Ok(0)
}

/// `cohere-bundle simulator`.
async fn cmd_simulator(port: u16) -> anyhow::Result<u8> {
    use cohere_bundle_simulator::{SimConfig, Simulator};
    let sim = Simulator::start_on(SimConfig::default(), port)
        .await
        .context("cannot start the simulator")?;
    // The demo key is public (it only opens the simulator), so it is printed as it is.
    println!("{}", sim.base_url());
    eprintln!(
        "cohere-bundle: simulated Cohere API on {} (key {}); Ctrl-C to stop",
        sim.base_url(),
        cohere_bundle_simulator::DEMO_KEY
    );
    cohere_bundle_core::gather::observe::wait_for_shutdown_signal().await;
    sim.shutdown().await;
    Ok(0)
}

/// `cohere-bundle observe`.
async fn cmd_observe(a: ObserveArgs, env: &EnvSettings, term: &mut Term) -> anyhow::Result<u8> {
    let ObserveArgs {
        listen,
        allow_remote,
        upstream,
        all,
        no_node_preload,
        out,
        command,
    } = a;

    use cohere_bundle_core::gather::observe::{self, ObserveOptions, Proxy};
    let upstream = upstream
        .or_else(|| env.api_url.clone())
        .unwrap_or_else(|| cohere_bundle_core::cohere::DEFAULT_BASE_URL.to_string());
    let mut bo = out.bundle_options(env);
    // The program observed may write its logs only once it runs.
    bo.logs_may_appear_later = true;
    pipeline::preflight(&bo)?;
    let net = net_options(env)?;
    // Before the proxy accepts anything: a signal from now on stops the command and bundles what was recorded.
    let mut signals = Signals::install();
    let proxy = Proxy::start({
        let mut o = ObserveOptions::default();
        o.listen = listen;
        o.allow_remote = allow_remote;
        o.upstream = upstream.clone();
        o.record_all = all;
        o.net = net.clone();
        o
    })
    .await?;
    if !proxy.addr().ip().to_canonical().is_loopback() {
        term.note(&format!("warning: listening on {} beyond this machine (--allow-remote): anyone who can reach it can send requests through the proxy and spend the API key of whoever sends through it", proxy.addr()));
    }
    term.note(&format!(
        "recording proxy on {} -> {}",
        proxy.base_url(),
        cohere_bundle_core::scrub::mask_url(&upstream)
    ));
    term.note(&format!(
        "Python SDK: CO_API_URL={}   TypeScript SDK: new CohereClientV2({{ baseUrl: \"{}\" }})",
        proxy.base_url(),
        proxy.base_url()
    ));
    let code = if command.is_empty() {
        term.note("press Ctrl-C to stop and write the bundle");
        signals.recv().await;
        0
    } else {
        let mut run = observe::RunOptions::for_upstream(&upstream);
        run.node_preload = !no_node_preload;
        run.node_options = env.node_options.clone();
        run_observed(&proxy.base_url(), &command, &run, &mut signals).await?
    };
    let proxy_url = proxy.base_url();
    let recording = proxy.stop().await;
    let seen = recording.stats.requests;
    match pipeline::observed_capture_with(recording, &upstream, &net) {
        Some(capture) => {
            let o = pipeline::write_support_bundle(capture, &bo).await?;
            print_outcome(term, &o, out.json)?;
        }
        None => {
            let reason = observed_nothing(seen, &proxy_url, !command.is_empty());
            if out.json {
                term.out(
                    &serde_json::json!({"bundle": null, "observed": seen, "reason": reason})
                        .to_string(),
                );
            } else {
                term.note(&reason);
            }
        }
    }
    Ok(code)
}

/// Runs observe's command until it ends or a signal stops it; returns the exit code: the command's, or the
/// signal's (130, 143) when one stopped it (the bundle is written all the same).
async fn run_observed(
    proxy: &str,
    command: &[std::ffi::OsString],
    run: &cohere_bundle_core::gather::observe::RunOptions,
    signals: &mut Signals,
) -> anyhow::Result<u8> {
    let mut interrupted = None;
    let stop = async { interrupted = Some(signals.recv().await) };
    let status =
        cohere_bundle_core::gather::observe::run_command_until(proxy, command, run, stop).await?;
    // Ctrl-C reaches the whole process group: the command may have ended of it first.
    if interrupted.is_none() {
        let pending = tokio::time::timeout(Duration::from_millis(100), signals.recv());
        interrupted = pending.await.ok();
    }
    Ok(interrupted.unwrap_or_else(|| status.code().map(|c| c.clamp(0, 255) as u8).unwrap_or(1)))
}

/// `cohere-bundle scrub`.
async fn cmd_scrub(a: ScrubArgs, env: &EnvSettings, term: &mut Term) -> anyhow::Result<u8> {
    let ScrubArgs {
        files,
        secrets,
        report,
        json,
        redact_content,
    } = a;

    // A missing or unreadable input is a usage error (exit 2) named before anything is printed.
    for f in files.iter().filter(|f| f.as_os_str() != "-") {
        if let Err(e) = std::fs::File::open(f) {
            anyhow::bail!(cohere_bundle_core::Error::input(
                f.display().to_string(),
                e.to_string()
            ));
        }
        if f.is_dir() {
            anyhow::bail!(cohere_bundle_core::Error::input(
                f.display().to_string(),
                "a directory, not a file"
            ));
        }
    }
    let known = known_secrets(&secrets.secret_values, env);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let rep: Option<&mut dyn Write> = if report && !json {
        Some(&mut stderr)
    } else {
        None
    };
    let r =
        cohere_bundle_core::scrub::scrub_command(&files, known, redact_content, &mut stdout, rep)?;
    stdout.flush().context("<stdout>")?;
    if json {
        term.err_line(
            &serde_json::json!({"redactions": r.members, "distinct_secrets": r.distinct_secrets, "total": r.total()})
                .to_string(),
        );
    }
    Ok(0)
}

/// `cohere-bundle demo`.
async fn cmd_demo(out: OutputArgs, env: &EnvSettings, term: &mut Term) -> anyhow::Result<u8> {
    let o = crate::demo::run(&out.bundle_options(env)).await?;
    print_outcome(term, &o, out.json)?;
    Ok(0)
}

/// `cohere-bundle replay`.
async fn cmd_replay(a: ReplayArgs, env: &EnvSettings, term: &mut Term) -> anyhow::Result<u8> {
    let ReplayArgs {
        request,
        endpoint,
        har_entry,
        base_url,
        timeout: t,
        platform,
        matrix,
        max_calls,
        yes,
        matrix_anyway,
        no_key,
        allow_hosts,
        secret_headers,
        out,
    } = a;

    let req = read_request_file(&request, &{
        let mut o = ParseOptions::default();
        o.endpoint = endpoint;
        o.har_entry = har_entry;
        o
    })?;
    if let Some(t) = cohere_bundle_core::gather::capture::bearer(&req.headers) {
        term.know(cohere_bundle_core::KnownSecret::new("cohere-key", t));
    }
    let ro = {
        let mut o = ReplayOptions::default();
        o.base_url = replay_base_url(base_url, env)?;
        o.api_key = env.api_key.clone();
        o.timeout = timeout(t)?;
        o.platform = platform;
        o.no_key = no_key;
        o.net = net_options(env)?;
        o.allow_hosts = allow_hosts;
        o.secret_headers = secret_headers;
        o
    };
    let run = if matrix {
        Some(matrix_run(max_calls, matrix_anyway, yes, out.json, term)?)
    } else {
        None
    };
    // The values of the headers named secret are known secrets, like the key.
    let mut bo = out.bundle_options(env);
    for h in &req.headers {
        if ro
            .secret_headers
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&h.name))
        {
            let k = cohere_bundle_core::KnownSecret::new("secret-header", h.value.trim());
            term.know(k.clone());
            bo.known.push(k);
        }
    }
    // The outputs, logs and key are checked before anything is spent.
    pipeline::preflight(&bo)?;
    pipeline::replay_key(&ro, &req).map_err(|_| {
        cohere_bundle_core::Error::input(
            "no API key",
            "set CO_API_KEY (or COHERE_API_KEY), or replay a request whose Authorization header holds the key; --no-key replays without one on purpose",
        )
    })?;
    pipeline::check_key_host(&ro, &req)?;
    let o = pipeline::replay_with_matrix(
        req,
        &ro,
        &bo,
        cohere_bundle_core::summary::Mode::Replay,
        run.as_ref(),
    )
    .await?;
    print_outcome(term, &o, out.json)?;
    Ok(0)
}

/// The base URL of a replay: `--base-url`, else `CO_API_URL` (checked like the flag), else none (the
/// request's URL or the default).
fn replay_base_url(flag: Option<String>, env: &EnvSettings) -> anyhow::Result<Option<String>> {
    if flag.is_some() {
        return Ok(flag);
    }
    Ok(env
        .api_url
        .as_deref()
        .map(|u| {
            parse_base_url(u).map_err(|why| cohere_bundle_core::Error::input("CO_API_URL", why))
        })
        .transpose()?)
}

/// The `--matrix` sweep's settings: at least one call, and consent (`--yes`, or a terminal to ask on).
fn matrix_run(
    max_calls: u32,
    anyway: bool,
    yes: bool,
    quiet: bool,
    term: &Term,
) -> anyhow::Result<cohere_bundle_core::gather::matrix::MatrixRun> {
    if max_calls == 0 {
        anyhow::bail!(cohere_bundle_core::Error::input(
            "--max-calls",
            "must be at least 1"
        ));
    }
    if !yes && !std::io::stdin().is_terminal() {
        anyhow::bail!(cohere_bundle_core::Error::input(
            "--matrix",
            "the sweep spends API calls and tokens and needs consent, but stdin is not a terminal; add --yes to agree",
        ));
    }
    Ok({
        let mut o = cohere_bundle_core::gather::matrix::MatrixRun::default();
        o.options = {
            let mut o = cohere_bundle_core::gather::matrix::MatrixOptions::default();
            o.max_calls = max_calls;
            o
        };
        o.yes = yes;
        o.anyway = anyway;
        o.quiet = quiet;
        o.host = Some(std::sync::Arc::new(crate::term::TerminalHost::new(term)));
        o
    })
}

/// `cohere-bundle bundle`.
async fn cmd_bundle(a: BundleArgs, env: &EnvSettings, term: &mut Term) -> anyhow::Result<u8> {
    let BundleArgs {
        request,
        response,
        status,
        headers,
        endpoint,
        platform,
        out,
    } = a;

    let req = read_request_file(&request, &{
        let mut o = ParseOptions::default();
        o.endpoint = endpoint;
        o.har_entry = None;
        o
    })?;
    if let Some(t) = cohere_bundle_core::gather::capture::bearer(&req.headers) {
        term.know(cohere_bundle_core::KnownSecret::new("cohere-key", t));
    }
    let resp = pipeline::OfflineResponse {
        status,
        headers: read_opt(&headers, "--headers")?
            .map(|t| parse_headers(&t))
            .unwrap_or_default(),
        body: read_opt(&response, "--response")?,
    };
    let capture = pipeline::offline_capture(req, resp, platform);
    let o = pipeline::write_support_bundle(capture, &out.bundle_options(env)).await?;
    print_outcome(term, &o, out.json)?;
    Ok(0)
}

/// `cohere-bundle verify`.
async fn cmd_verify(a: VerifyArgs, env: &EnvSettings, term: &mut Term) -> anyhow::Result<u8> {
    let VerifyArgs { zip, secrets, json } = a;

    let known = known_secrets(&secrets.secret_values, env);
    let n = known.len();
    let scrubber = cohere_bundle_core::scrub::Scrubber::new({
        let mut o = cohere_bundle_core::scrub::ScrubOptions::default();
        o.known = known;
        o.redact_content = false;
        o
    });
    let r = cohere_bundle_core::bundle::verify(&zip, &scrubber, n)
        .with_context(|| "verify failed".to_string())?;
    if json {
        term.out(&serde_json::json!({"bundle": r.path, "ok": true, "members_checked": r.members_checked, "secrets_searched": r.secrets_searched}).to_string());
    } else {
        term.out(&format!(
            "{}: OK ({} members match the manifest; {} known secrets searched, none found)",
            r.path, r.members_checked, r.secrets_searched
        ));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// The examples in `help` (of the command `name`, or the top level), each split as a shell would.
    fn example_lines(help: &str) -> Vec<Vec<String>> {
        crate::help::examples(help)
            .iter()
            .map(|l| {
                let words = shell_words::split(l).unwrap_or_else(|e| panic!("{l}: {e}"));
                // `NAME=value cohere-bundle ...`: the assignments are the shell's, not ours.
                words
                    .into_iter()
                    .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_command_has_examples_that_parse_and_lists_its_environment() {
        let mut cmd = Cli::command();
        cmd.build();
        let top = cmd.render_long_help().to_string();
        assert!(!example_lines(&top).is_empty(), "top-level examples");
        for words in example_lines(&top) {
            assert_eq!(words[0], "cohere-bundle", "{words:?}");
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("top-level example {words:?} does not parse: {e}");
            }
        }
        let mut checked = 0;
        for sub in cmd.get_subcommands_mut() {
            let name = sub.get_name().to_string();
            if name == "help" {
                continue;
            }
            let help = sub.render_long_help().to_string();
            let short = sub.render_help().to_string();
            assert!(short.contains("\nExamples:\n"), "{name} -h has no Examples");
            assert!(
                help.contains("\nExamples:\n"),
                "{name} --help has no Examples:\n{help}"
            );
            assert!(
                help.contains("\nEnvironment:\n"),
                "{name} --help lists no environment"
            );
            assert!(
                help.contains("NO_COLOR"),
                "{name} --help does not name NO_COLOR"
            );
            let examples = example_lines(&help);
            assert!(!examples.is_empty(), "{name}: no example lines");
            for words in examples {
                assert_eq!(words[0], "cohere-bundle", "{name}: {words:?}");
                assert_eq!(words[1], name, "an example of {name} runs {words:?}");
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!("{name} example {words:?} does not parse: {e}");
                }
            }
            checked += 1;
        }
        assert!(checked >= 6, "only {checked} commands checked");
    }

    #[test]
    fn a_broken_example_is_caught() {
        // The check above would fail for an example that stopped parsing: this one names no request.
        let help = "Examples:\n  cohere-bundle replay --matrix\n";
        let words = &example_lines(help)[0];
        assert!(Cli::try_parse_from(words).is_err());
    }

    #[test]
    fn base_urls_need_a_scheme() {
        assert!(super::parse_base_url("api.cohere.com")
            .unwrap_err()
            .contains("add https://"));
        assert!(super::parse_base_url("ftp://api.cohere.com").is_err());
        assert_eq!(
            super::parse_base_url("https://api.cohere.com").unwrap(),
            "https://api.cohere.com"
        );
        assert!(super::parse_base_url("http://127.0.0.1:8080/prefix").is_ok());
    }
}
