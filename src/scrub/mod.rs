//! The scrubber: nothing secret leaves the machine.
//!
//! Layer 1 (known values) finds every known secret, the API key, each `--secret` value and the values of
//! secret-looking environment variables, raw and in its base64 (standard and URL-safe, at any alignment),
//! URL-encoded and JSON-escaped forms, and replaces each with one stable placeholder per secret, e.g.
//! `[REDACTED:cohere-key:1]`. [`Scrubber::find_leaks`] is the fail-closed final check of a bundle.

use std::collections::HashMap;
use std::sync::Mutex;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine;
use serde::Serialize;

use crate::exchange::Header;

/// A secret value. Its `Debug` and `Display` print `(redacted)`, so it cannot leak through logs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The value itself. Call only where the value must be used (to send it, or to search for it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(redacted)")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(redacted)")
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString::new(s)
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString::new(s)
    }
}

/// A secret the scrubber knows by value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownSecret {
    /// What it is, used in the placeholder: `cohere-key`, `secret`, `env`.
    pub label: String,
    /// The value.
    pub value: SecretString,
}

impl KnownSecret {
    /// Builds a known secret.
    pub fn new(label: impl Into<String>, value: impl Into<SecretString>) -> Self {
        KnownSecret { label: label.into(), value: value.into() }
    }
}

/// Values shorter than this are not treated as secrets (they would match everywhere).
pub const MIN_SECRET_LEN: usize = 6;

/// Environment variable name fragments that mark a value as secret.
const SECRET_ENV_WORDS: &[&str] =
    &["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "PRIVATE", "SESSION", "COOKIE"];

/// True when an environment variable's name looks like it holds a secret.
pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_ENV_WORDS.iter().any(|w| upper.contains(w))
}

/// The values of secret-looking environment variables of this process.
pub fn secrets_from_env() -> Vec<KnownSecret> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, v)| is_secret_env_name(k) && v.len() >= MIN_SECRET_LEN)
        .map(|(_, v)| KnownSecret::new("env", v))
        .collect()
}

/// Header names whose values are always masked.
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-amz-security-token",
    "x-auth-token",
];

/// How a secret was encoded where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Verbatim.
    Raw,
    /// Base64 (standard alphabet), any alignment.
    Base64,
    /// Base64 (URL-safe alphabet), any alignment.
    Base64Url,
    /// Percent-encoded.
    Url,
    /// JSON string escaping.
    Json,
}

impl Encoding {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Base64 => "base64",
            Encoding::Base64Url => "base64url",
            Encoding::Url => "url",
            Encoding::Json => "json",
        }
    }
}

/// The forms in which a secret is searched for: raw, JSON-escaped, URL-encoded, and the base64 runs that
/// any base64 text containing the secret must contain (one per alignment, both alphabets).
pub fn encoded_forms(secret: &str) -> Vec<(String, Encoding)> {
    let mut forms = vec![(secret.to_string(), Encoding::Raw)];
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = &json[1..json.len().saturating_sub(1)];
    forms.push((json.to_string(), Encoding::Json));
    forms.push((json.replace('/', "\\/"), Encoding::Json));
    const URL_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let url = percent_encoding::utf8_percent_encode(secret, URL_SET).to_string();
    forms.push((url.clone(), Encoding::Url));
    forms.push((url.replace("%20", "+"), Encoding::Url));
    forms.push((percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string(), Encoding::Url));
    for run in base64_runs(secret.as_bytes()) {
        let url_safe = run.replace('+', "-").replace('/', "_");
        forms.push((run, Encoding::Base64));
        forms.push((url_safe, Encoding::Base64Url));
    }
    forms.retain(|(f, _)| f.len() >= 4);
    forms.sort_by(|a, b| a.0.cmp(&b.0));
    forms.dedup_by(|a, b| a.0 == b.0);
    forms
}

/// The base64 characters fully determined by `bytes` when they start at each of the three alignments.
fn base64_runs(bytes: &[u8]) -> Vec<String> {
    let mut runs = Vec::with_capacity(3);
    for k in 0..3usize {
        let mut buf = vec![0u8; k];
        buf.extend_from_slice(bytes);
        let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&buf);
        let start = (8 * k).div_ceil(6);
        let end = (8 * (k + bytes.len())) / 6;
        if end > start + 3 {
            runs.push(enc[start..end].to_string());
        }
    }
    runs
}

/// Options for a [`Scrubber`].
#[derive(Debug, Clone, Default)]
pub struct ScrubOptions {
    /// Secrets known by value.
    pub known: Vec<KnownSecret>,
    /// Replace prompt, document and completion text with length-keeping placeholders.
    pub redact_content: bool,
}

/// A secret found by the final check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    /// The bundle member.
    pub member: String,
    /// The secret's label (never its value).
    pub label: String,
    /// The encoding it was found in.
    pub encoding: Encoding,
}

/// Per member, per rule: how many redactions, and on which lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    /// Number of redactions.
    pub count: u64,
    /// 1-based line numbers (the first 100).
    pub lines: Vec<u64>,
}

/// The redaction report written as `redactions.json`. It never holds a secret value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedactionReport {
    /// Member name → rule name → count.
    pub members: std::collections::BTreeMap<String, std::collections::BTreeMap<String, RuleCount>>,
    /// Number of distinct secrets replaced by placeholders.
    pub distinct_secrets: usize,
}

impl RedactionReport {
    /// Total redactions across members.
    pub fn total(&self) -> u64 {
        self.members.values().flat_map(|m| m.values()).map(|c| c.count).sum()
    }
}

struct KnownMatcher {
    ac: AhoCorasick,
    /// Pattern index → (secret index, encoding).
    meta: Vec<(usize, Encoding)>,
}

/// One scrubber per bundle: it keeps the placeholder numbering and the redaction report.
pub struct Scrubber {
    known: Vec<KnownSecret>,
    matcher: Option<KnownMatcher>,
    options: ScrubOptions,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Secret index → placeholder.
    placeholders: HashMap<usize, String>,
    /// Label → last number used.
    counters: HashMap<String, usize>,
    report: RedactionReport,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber").field("known", &self.known.len()).finish()
    }
}

impl Scrubber {
    /// Builds a scrubber. Known values shorter than [`MIN_SECRET_LEN`] are ignored; duplicates are merged.
    pub fn new(options: ScrubOptions) -> Scrubber {
        let mut known: Vec<KnownSecret> = Vec::new();
        for k in &options.known {
            if k.value.expose().len() >= MIN_SECRET_LEN && !known.iter().any(|e| e.value == k.value) {
                known.push(k.clone());
            }
        }
        let mut patterns = Vec::new();
        let mut meta = Vec::new();
        for (i, k) in known.iter().enumerate() {
            for (form, enc) in encoded_forms(k.value.expose()) {
                patterns.push(form);
                meta.push((i, enc));
            }
        }
        let matcher = if patterns.is_empty() {
            None
        } else {
            let ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .expect("literal patterns always build");
            Some(KnownMatcher { ac, meta })
        };
        Scrubber { known, matcher, options, state: Mutex::new(State::default()) }
    }

    /// The options the scrubber was built with.
    pub fn options(&self) -> &ScrubOptions {
        &self.options
    }

    fn placeholder(&self, state: &mut State, secret: usize) -> String {
        if let Some(p) = state.placeholders.get(&secret) {
            return p.clone();
        }
        let label = self.known[secret].label.clone();
        let n = state.counters.entry(label.clone()).or_insert(0);
        *n += 1;
        let p = format!("[REDACTED:{label}:{n}]");
        state.placeholders.insert(secret, p.clone());
        state.report.distinct_secrets = state.placeholders.len();
        p
    }

    fn count(state: &mut State, member: &str, rule: &str, line: u64) {
        let c = state
            .report
            .members
            .entry(member.to_string())
            .or_default()
            .entry(rule.to_string())
            .or_default();
        c.count += 1;
        if c.lines.len() < 100 && c.lines.last() != Some(&line) {
            c.lines.push(line);
        }
    }

    /// Scrubs one text; `member` names it in the redaction report.
    pub fn scrub_str(&self, member: &str, text: &str) -> String {
        let Some(m) = &self.matcher else { return text.to_string() };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut line = 1u64;
        for mat in m.ac.find_iter(text) {
            line += text[last..mat.start()].bytes().filter(|&b| b == b'\n').count() as u64;
            out.push_str(&text[last..mat.start()]);
            let (secret, enc) = m.meta[mat.pattern().as_usize()];
            let ph = self.placeholder(&mut state, secret);
            out.push_str(&ph);
            let rule = format!("known:{}:{}", self.known[secret].label, enc.as_str());
            Self::count(&mut state, member, &rule, line);
            last = mat.end();
        }
        out.push_str(&text[last..]);
        out
    }

    /// Masks the values of sensitive headers in place (Authorization keeps its scheme).
    pub fn mask_headers(&self, member: &str, headers: &mut [Header]) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for h in headers.iter_mut() {
            let lower = h.name.to_ascii_lowercase();
            if SENSITIVE_HEADERS.contains(&lower.as_str()) && !h.value.starts_with("[REDACTED") {
                let scheme = h.value.split_once(' ').map(|(s, _)| s).filter(|s| {
                    ["bearer", "basic", "token", "digest"].contains(&s.to_ascii_lowercase().as_str())
                });
                h.value = match scheme {
                    Some(s) => format!("{s} [REDACTED:header:{lower}]"),
                    None => format!("[REDACTED:header:{lower}]"),
                };
                Self::count(&mut state, member, &format!("header:{lower}"), 0);
            }
        }
    }

    /// The final check: every known secret in every encoded form, searched in `data`.
    pub fn find_leaks(&self, member: &str, data: &[u8]) -> Vec<Leak> {
        let Some(m) = &self.matcher else { return Vec::new() };
        let mut seen = Vec::new();
        for mat in m.ac.find_iter(data) {
            let (secret, enc) = m.meta[mat.pattern().as_usize()];
            let leak = Leak { member: member.to_string(), label: self.known[secret].label.clone(), encoding: enc };
            if !seen.contains(&leak) {
                seen.push(leak);
            }
        }
        seen
    }

    /// A copy of the redaction report so far.
    pub fn report(&self) -> RedactionReport {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).report.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7d";

    fn scrubber() -> Scrubber {
        Scrubber::new(ScrubOptions { known: vec![KnownSecret::new("cohere-key", KEY)], redact_content: false })
    }

    #[test]
    fn replaces_raw_and_encoded_forms_with_one_placeholder() {
        let s = scrubber();
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("xx{KEY}yy"));
        let text = format!("a {KEY} b {b64} c {}", serde_json::to_string(KEY).unwrap());
        let out = s.scrub_str("m", &text);
        assert!(!out.contains(KEY), "{out}");
        assert!(s.find_leaks("m", out.as_bytes()).is_empty(), "{out}");
        assert_eq!(out.matches("[REDACTED:cohere-key:1]").count(), 3, "{out}");
    }

    #[test]
    fn finds_base64_at_every_alignment() {
        let s = scrubber();
        for pad in 0..3 {
            let data = format!("{}{KEY}!", "x".repeat(pad));
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data);
            let leaks = s.find_leaks("m", b64.as_bytes());
            assert!(!leaks.is_empty(), "alignment {pad}");
        }
    }

    #[test]
    fn masks_sensitive_headers() {
        let s = scrubber();
        let mut h = vec![Header::new("Authorization", "Bearer abc"), Header::new("Accept", "x")];
        s.mask_headers("m", &mut h);
        assert_eq!(h[0].value, "Bearer [REDACTED:header:authorization]");
        assert_eq!(h[1].value, "x");
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let k = KnownSecret::new("secret", "hunter2hunter2");
        assert!(!format!("{k:?}").contains("hunter2"));
    }
}
