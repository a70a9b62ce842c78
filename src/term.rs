//! Everything the binary prints goes through here, scrubbed with the known secrets (the keys in the
//! environment, `--secret` values, secret-looking environment variables, the request's own key), so that a
//! key echoed by the API, or written into a URL, never reaches the terminal, `--json` or an error line.

use std::io::Write;

use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};

/// The terminal: stdout and stderr, scrubbed.
pub struct Term {
    pub(crate) known: Vec<KnownSecret>,
    scrubber: Scrubber,
    /// Under `--json`, errors are also printed as a JSON object on stdout.
    pub json: bool,
    /// `scrub --json`: stdout is the scrubbed text, so JSON (the report, an error) goes to stderr, alone.
    pub json_to_stderr: bool,
}

impl Term {
    /// A terminal that scrubs `known` (plus the credential shapes every scrub finds).
    pub fn new(known: Vec<KnownSecret>, json: bool) -> Term {
        let scrubber = scrubber(&known);
        Term {
            known,
            scrubber,
            json,
            json_to_stderr: false,
        }
    }

    /// Adds a known secret (e.g. the request's own key, once the request is read).
    pub fn know(&mut self, k: KnownSecret) {
        if !self
            .known
            .iter()
            .any(|x| x.value.expose() == k.value.expose())
        {
            self.known.push(k);
            self.scrubber = scrubber(&self.known);
        }
    }

    /// `text` fit to print: scrubbed, and every control character, escape sequence and bidi override written
    /// out ([`cohere_bundle_core::safe::terminal_safe`]: `\x1b`, `\u202e`), whoever wrote it.
    pub fn scrub(&self, text: &str) -> String {
        let clean = self.scrubber.scrub_str("terminal", text);
        cohere_bundle_core::safe::terminal_safe(&clean).into_owned()
    }

    /// Prints `text` (one or more lines) on stdout, scrubbed. A closed pipe is not an error.
    pub fn out(&self, text: &str) {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{}", self.scrub(text));
        let _ = o.flush();
    }

    /// Prints `cohere-bundle: <text>` on stderr, scrubbed.
    pub fn note(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "cohere-bundle: {}", self.scrub(text));
    }

    /// Prints one line on stderr, scrubbed, as it is (no prefix): `scrub --json`'s report.
    pub fn err_line(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "{}", self.scrub(text));
    }

    /// Prints an error: one line on stderr and, under `--json`, `{"error": {message, exit_code, kind}}` on
    /// stdout (`scrub --json`: on stderr, in place of the line). Returns the exit code.
    pub fn error(&self, err: &anyhow::Error) -> u8 {
        let lib = err
            .chain()
            .find_map(|e| e.downcast_ref::<cohere_bundle_core::Error>());
        let code = lib.map(cohere_bundle_core::Error::exit_code).unwrap_or(1);
        let kind = lib.map(cohere_bundle_core::Error::kind).unwrap_or("other");
        let chain: Vec<String> = err
            .chain()
            .map(|e| match e.downcast_ref::<cohere_bundle_core::Error>() {
                Some(lib) => crate::settings::in_flag_words(lib),
                None => e.to_string(),
            })
            .collect();
        self.report_error(&chain.join(": "), code, kind);
        code
    }

    /// [`Term::error`] for a message, exit code and kind given as they are (a command line clap refused).
    pub fn report_error(&self, message: &str, code: u8, kind: &str) {
        let message = self.scrub(message).replace('\n', " ");
        let json = || {
            serde_json::json!({"error": {"message": message, "exit_code": code, "kind": kind}})
                .to_string()
        };
        if self.json && self.json_to_stderr {
            self.err_line(&json());
            return;
        }
        if self.json {
            self.out(&json());
        }
        self.note(&message);
    }
}

fn scrubber(known: &[KnownSecret]) -> Scrubber {
    Scrubber::new({
        let mut o = ScrubOptions::default();
        o.known = known.to_vec();
        o.redact_content = false;
        o
    })
}

/// The shape sweep's host on a terminal: states the plan and asks on stdin, draws a progress bar on stderr.
pub struct TerminalHost {
    scrubber: Scrubber,
    bar: indicatif::ProgressBar,
}

impl TerminalHost {
    /// A host whose text is scrubbed like the terminal's.
    pub fn new(term: &Term) -> TerminalHost {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "shape matrix {bar:30} {pos}/{len} calls  {msg}",
        ) {
            bar.set_style(style);
        }
        TerminalHost {
            scrubber: scrubber(&term.known),
            bar,
        }
    }
}

impl cohere_bundle_core::gather::matrix::SweepHost for TerminalHost {
    fn plan(&self, plan: &cohere_bundle_core::gather::matrix::Plan) {
        let text = self.scrubber.scrub_str("terminal", &plan.describe());
        let text = cohere_bundle_core::safe::terminal_safe(&text);
        let _ = writeln!(std::io::stderr(), "{text}");
    }
    fn consent(&self, _plan: &cohere_bundle_core::gather::matrix::Plan) -> bool {
        let _ = write!(std::io::stderr(), "Send them? [y/N] ");
        let mut line = String::new();
        let yes = std::io::stdin().read_line(&mut line).is_ok()
            && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
        if !yes {
            let _ = writeln!(
                std::io::stderr(),
                "Shape matrix skipped; writing the bundle without it."
            );
        }
        yes
    }
    fn set_length(&self, calls: u64) {
        self.bar.set_length(calls);
    }
    fn tick(&self) {
        self.bar.inc(1);
    }
    fn message(&self, text: &str) {
        let text = self.scrubber.scrub_str("terminal", text);
        self.bar
            .set_message(cohere_bundle_core::safe::terminal_safe(&text).into_owned());
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
