//! The command line: clap definitions and their translation into library calls. No logic of its own.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use cohere_bundle::pipeline::{self, BundleOptions, Outcome, ReplayOptions};
use cohere_bundle::request::{read_request_file, ParseOptions};
use cohere_bundle::{Endpoint, Platform, SecretString};

/// Turn a failing Cohere API request into a support bundle that Cohere support can act on at once.
#[derive(Debug, Parser)]
#[command(name = "cohere-bundle", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a realistic failing request against a built-in simulated API and write a bundle (no key, no network).
    Demo {
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Replay a failing request (JSON body, envelope, HAR file or curl command; `-` for stdin) and write a bundle.
    Replay {
        /// The request file: a JSON body, {"method","url","headers","body"}, a HAR file, or a curl command line.
        request: PathBuf,
        /// The endpoint of a bare JSON body (e.g. v2/chat, v1/chat, v2/embed, v2/rerank); inferred when omitted.
        #[arg(long, value_parser = parse_endpoint)]
        endpoint: Option<Endpoint>,
        /// Which failing HAR entry to take (0 = the first failing one).
        #[arg(long)]
        har_entry: Option<usize>,
        /// Base URL of the API [default: $CO_API_URL, else the request's URL, else https://api.cohere.com].
        #[arg(long)]
        base_url: Option<String>,
        /// Seconds to wait for a complete response.
        #[arg(long, default_value_t = 120.0, value_name = "SECS")]
        timeout: f64,
        /// The platform the request was sent to, when the URL does not tell.
        #[arg(long, value_enum)]
        platform: Option<Platform>,
        /// Also sweep input lengths and max_tokens to see which shapes fail (asks before spending calls).
        #[arg(long)]
        matrix: bool,
        /// The most requests the --matrix sweep may send, 429 answers included.
        #[arg(long, value_name = "N", default_value_t = cohere_bundle::matrix::DEFAULT_MAX_CALLS, requires = "matrix")]
        max_calls: u32,
        /// Agree to the --matrix sweep's calls and tokens without being asked.
        #[arg(long, requires = "matrix")]
        yes: bool,
        /// Replay without any API key, on purpose (to reproduce an authentication failure). Without it, a
        /// replay with no key from CO_API_KEY, COHERE_API_KEY or the request's Authorization header is refused.
        #[arg(long)]
        no_key: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Write a bundle for a failure that cannot be replayed (no key at hand, production data, AWS).
    Bundle {
        /// The request file (any form `replay` takes).
        #[arg(long)]
        request: PathBuf,
        /// The response body as received.
        #[arg(long)]
        response: Option<PathBuf>,
        /// The HTTP status received.
        #[arg(long)]
        status: Option<u16>,
        /// The response headers as received ("Name: value" lines, or a JSON object).
        #[arg(long)]
        headers: Option<PathBuf>,
        /// The endpoint of a bare JSON body.
        #[arg(long, value_parser = parse_endpoint)]
        endpoint: Option<Endpoint>,
        /// Where the request was sent.
        #[arg(long, value_enum)]
        platform: Option<Platform>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Run a local recording proxy (and optionally a command through it) and bundle the failures it saw.
    Observe {
        /// Address to listen on (loopback only, unless --allow-remote).
        #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
        listen: std::net::SocketAddr,
        /// Allow a --listen address beyond this machine: anyone who can reach it can send requests through
        /// the proxy, spending the API key of whoever sends through it.
        #[arg(long)]
        allow_remote: bool,
        /// Where to forward [default: $CO_API_URL as it was, else https://api.cohere.com].
        #[arg(long, value_name = "URL")]
        upstream: Option<String>,
        /// Record every exchange, not only failures.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        out: OutputArgs,
        /// The command to run with CO_API_URL pointing at the proxy (after `--`).
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// Scrub files (or stdin) and print the result: a preview of what would leave the machine.
    Scrub {
        /// Files to scrub; stdin when none.
        files: Vec<PathBuf>,
        /// A secret value to scrub (repeatable); CO_API_KEY and secret-looking env vars are scrubbed too.
        #[arg(long = "secret", value_name = "VALUE")]
        secrets: Vec<String>,
        /// Print the redaction report (counts per rule, never values) on stderr.
        #[arg(long)]
        report: bool,
        /// Replace prompt and completion text with length-keeping placeholders.
        #[arg(long)]
        redact_content: bool,
    },
    /// Run the simulated Cohere API in the foreground (for trying the tool; failures on demand with the
    /// request header `x-simulate: <scenario>`).
    #[command(hide = true)]
    Simulator {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Check a bundle: manifest sizes and checksums, and a search for known secrets in every encoding.
    Verify {
        /// The bundle.
        zip: PathBuf,
        /// A secret that must not appear (repeatable); CO_API_KEY and secret-looking env vars are searched too.
        #[arg(long = "secret", value_name = "VALUE")]
        secrets: Vec<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
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
    /// A secret value to scrub from the bundle (repeatable).
    #[arg(long = "secret", value_name = "VALUE")]
    secrets: Vec<String>,
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
}

fn parse_max_size(s: &str) -> Result<u64, String> {
    if s.trim() == "0" {
        return Ok(0);
    }
    cohere_bundle::email::parse_size(s)
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    Endpoint::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
        format!("unknown endpoint '{s}'; one of: {}", names.join(", "))
    })
}

impl OutputArgs {
    fn bundle_options(&self) -> BundleOptions {
        BundleOptions {
            output: self.out.clone(),
            out_dir: PathBuf::from("."),
            force: self.force,
            logs: self.logs.clone(),
            secrets: self.secrets.iter().map(SecretString::new).collect(),
            scan_env: !self.no_env_scan,
            redact_content: self.redact_content,
            cache_dir: None,
            max_size: (self.max_size > 0).then_some(self.max_size),
            eml: self.eml,
            extra_members: Vec::new(),
        }
    }
}

fn timeout(secs: f64) -> anyhow::Result<Duration> {
    if !(secs.is_finite() && secs > 0.0) {
        anyhow::bail!(cohere_bundle::Error::input(
            "--timeout",
            "must be a positive number of seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn print_outcome(o: &Outcome, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({
            "bundle": o.path,
            "size": o.size,
            "status": o.summary.status,
            "error": o.summary.error,
            "request_id": o.summary.request_id,
            "causes": o.summary.causes,
            "redactions": o.redactions,
            "matrix": o.summary.matrix,
            "eml": o.eml,
            "cuts": o.summary.cuts,
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    let s = &o.summary;
    let what = match (&s.status, &s.error) {
        (Some(st), Some(e)) => format!("HTTP {st} ({})", e.class),
        (None, Some(e)) => e.class.clone(),
        (Some(st), None) => format!("HTTP {st}, no error"),
        (None, None) => "no error".into(),
    };
    writeln!(
        out,
        "{} request with {}: {what}",
        s.endpoint,
        s.model.as_deref().unwrap_or("(no model)")
    )?;
    if let Some(e) = &s.error {
        writeln!(out, "  error:      {}", e.message)?;
    }
    if let Some(id) = &s.request_id {
        writeln!(out, "  request id: {id}")?;
    }
    if let Some(c) = s
        .matrix
        .as_ref()
        .and_then(|m| m.get("conclusion"))
        .and_then(|c| c.as_str())
    {
        writeln!(out, "  shapes:     {c}")?;
    }
    if let Some(c) = s.causes.first() {
        writeln!(out, "  cause:      {}: {}", c.code, c.evidence)?;
        writeln!(out, "  next step:  {}", c.next_step)?;
    }
    writeln!(
        out,
        "Wrote {} ({} bytes, {} redactions, verified).",
        o.path.display(),
        o.size,
        o.redactions
    )?;
    for c in &s.cuts {
        writeln!(out, "  cut to fit --max-size: {c}")?;
    }
    match &o.eml {
        Some(e) => writeln!(
            out,
            "Email draft to {}: {} (the zip attached).",
            cohere_bundle::cohere::SUPPORT_EMAIL,
            e.display()
        )?,
        None => writeln!(
            out,
            "Attach it to an email to {}.",
            cohere_bundle::cohere::SUPPORT_EMAIL
        )?,
    }
    Ok(())
}

fn read_opt(path: &Option<PathBuf>, flag: &str) -> anyhow::Result<Option<String>> {
    let Some(p) = path else { return Ok(None) };
    let bytes = std::fs::read(p).map_err(|e| {
        cohere_bundle::Error::input(format!("{flag} {}", p.display()), e.to_string())
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        cohere_bundle::Error::input(format!("{flag} {}", p.display()), "binary file, not text")
    })?;
    Ok(Some(text))
}

fn parse_headers(text: &str) -> Vec<cohere_bundle::exchange::Header> {
    use cohere_bundle::exchange::Header;
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

fn known_secrets(values: &[String]) -> Vec<cohere_bundle::KnownSecret> {
    let mut known: Vec<cohere_bundle::KnownSecret> = values
        .iter()
        .map(|s| cohere_bundle::KnownSecret::new("secret", s.as_str()))
        .collect();
    if let Some(k) = pipeline::api_key_from_env() {
        known.push(cohere_bundle::KnownSecret::new("cohere-key", k));
    }
    known.extend(cohere_bundle::scrub::secrets_from_env());
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

/// Runs the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Simulator { port } => {
            use cohere_bundle::simulator::{SimConfig, Simulator};
            let sim = Simulator::start_on(SimConfig::default(), port)
                .await
                .context("cannot start the simulator")?;
            println!("{}", sim.base_url());
            eprintln!(
                "cohere-bundle: simulated Cohere API on {} (key {}); Ctrl-C to stop",
                sim.base_url(),
                cohere_bundle::simulator::DEMO_KEY
            );
            cohere_bundle::observe::wait_for_shutdown_signal().await;
            sim.shutdown().await;
            Ok(0)
        }
        Command::Observe {
            listen,
            allow_remote,
            upstream,
            all,
            out,
            command,
        } => {
            use cohere_bundle::observe::{self, ObserveOptions, Proxy};
            let upstream = upstream
                .or_else(|| {
                    std::env::var("CO_API_URL")
                        .ok()
                        .filter(|u| !u.trim().is_empty())
                })
                .unwrap_or_else(|| cohere_bundle::cohere::DEFAULT_BASE_URL.to_string());
            let bo = out.bundle_options();
            pipeline::preflight(&bo)?;
            let proxy = Proxy::start(ObserveOptions {
                listen,
                allow_remote,
                upstream: upstream.clone(),
                record_all: all,
                ..Default::default()
            })
            .await?;
            if !proxy.addr().ip().to_canonical().is_loopback() {
                eprintln!("cohere-bundle: warning: listening on {} beyond this machine (--allow-remote): anyone who can reach it can send requests through the proxy and spend the API key of whoever sends through it", proxy.addr());
            }
            eprintln!(
                "cohere-bundle: recording proxy on {} -> {upstream}",
                proxy.base_url()
            );
            eprintln!("cohere-bundle: Python SDK: CO_API_URL={}   TypeScript SDK: new CohereClient({{ baseUrl: \"{}\" }})", proxy.base_url(), proxy.base_url());
            let code = if command.is_empty() {
                eprintln!("cohere-bundle: press Ctrl-C to stop and write the bundle");
                observe::wait_for_shutdown_signal().await;
                0
            } else {
                let status = observe::run_command(&proxy.base_url(), &command).await?;
                status.code().map(|c| c.clamp(0, 255) as u8).unwrap_or(1)
            };
            let proxy_url = proxy.base_url();
            let recording = proxy.stop().await;
            let seen = recording.stats.requests;
            match pipeline::observed_capture(recording, &upstream) {
                Some(capture) => {
                    let o = pipeline::write_support_bundle(capture, &bo).await?;
                    print_outcome(&o, out.json)?;
                }
                None => {
                    let reason = observed_nothing(seen, &proxy_url, !command.is_empty());
                    if out.json {
                        println!(
                            "{}",
                            serde_json::json!({"bundle": null, "observed": seen, "reason": reason})
                        );
                    } else {
                        eprintln!("cohere-bundle: {reason}");
                    }
                }
            }
            Ok(code)
        }
        Command::Scrub {
            files,
            secrets,
            report,
            redact_content,
        } => {
            let known = known_secrets(&secrets);
            let mut stdout = std::io::stdout().lock();
            let mut stderr = std::io::stderr();
            let rep: Option<&mut dyn Write> = if report { Some(&mut stderr) } else { None };
            cohere_bundle::scrub::scrub_command(&files, known, redact_content, &mut stdout, rep)?;
            Ok(0)
        }
        Command::Demo { out } => {
            let o = cohere_bundle::demo::run(&out.bundle_options()).await?;
            print_outcome(&o, out.json)?;
            Ok(0)
        }
        Command::Replay {
            request,
            endpoint,
            har_entry,
            base_url,
            timeout: t,
            platform,
            matrix,
            max_calls,
            yes,
            no_key,
            out,
        } => {
            let req = read_request_file(
                &request,
                &ParseOptions {
                    endpoint,
                    har_entry,
                },
            )?;
            let ro = ReplayOptions {
                base_url,
                api_key: pipeline::api_key_from_env(),
                timeout: timeout(t)?,
                platform,
                no_key,
            };
            if matrix && max_calls == 0 {
                anyhow::bail!(cohere_bundle::Error::input(
                    "--max-calls",
                    "must be at least 1"
                ));
            }
            let run = matrix.then(|| cohere_bundle::matrix::MatrixRun {
                options: cohere_bundle::matrix::MatrixOptions {
                    max_calls,
                    ..Default::default()
                },
                yes,
                quiet: out.json,
            });
            // The outputs, logs and key are checked before anything is spent.
            pipeline::preflight(&out.bundle_options())?;
            pipeline::replay_key(&ro, &req).map_err(|_| {
                cohere_bundle::Error::input(
                    "no API key",
                    "set CO_API_KEY (or COHERE_API_KEY), or replay a request whose Authorization header holds the key; --no-key replays without one on purpose",
                )
            })?;
            let o = pipeline::replay_with_matrix(
                req,
                &ro,
                &out.bundle_options(),
                "replay",
                run.as_ref(),
            )
            .await?;
            print_outcome(&o, out.json)?;
            Ok(0)
        }
        Command::Bundle {
            request,
            response,
            status,
            headers,
            endpoint,
            platform,
            out,
        } => {
            let req = read_request_file(
                &request,
                &ParseOptions {
                    endpoint,
                    har_entry: None,
                },
            )?;
            let resp = pipeline::OfflineResponse {
                status,
                headers: read_opt(&headers, "--headers")?
                    .map(|t| parse_headers(&t))
                    .unwrap_or_default(),
                body: read_opt(&response, "--response")?,
            };
            let capture = pipeline::offline_capture(req, resp, platform);
            let o = pipeline::write_support_bundle(capture, &out.bundle_options()).await?;
            print_outcome(&o, out.json)?;
            Ok(0)
        }
        Command::Verify { zip, secrets, json } => {
            let known = known_secrets(&secrets);
            let n = known.len();
            let scrubber =
                cohere_bundle::scrub::Scrubber::new(cohere_bundle::scrub::ScrubOptions {
                    known,
                    redact_content: false,
                });
            let r = cohere_bundle::bundle::verify(&zip, &scrubber, n)
                .with_context(|| "verify failed".to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"bundle": r.path, "ok": true, "members_checked": r.members_checked, "secrets_searched": r.secrets_searched})
                );
            } else {
                println!(
                    "{}: OK ({} members match the manifest; {} known secrets searched, none found)",
                    r.path, r.members_checked, r.secrets_searched
                );
            }
            Ok(0)
        }
    }
}
