//! Shared. The scrubber: nothing secret leaves the machine.
//!
//! - Layer 1 (known values, [`encoded_forms`]) finds every known secret, the API key, each `--secret` value
//!   and the values of secret-looking environment variables, raw and in its base64 (standard and URL-safe, at
//!   any alignment), base64-of-base64, base32, hex, URL-encoded, JSON-escaped and `\uXXXX`-escaped forms, each
//!   also when broken over lines (backslash continuations, line wraps), and replaces each with one stable
//!   placeholder per secret, e.g. `[REDACTED:cohere-key:1]`.
//! - Layer 2 (structure) finds values by where they sit: secret-looking keys in JSON, YAML,
//!   INI, env files and code, HTTP header lines and JSON header records, HAR cookies, URL userinfo, credential
//!   query parameters, curl `-u`. A Cohere key has no prefix: only layers 1 and 2 can catch it.
//! - Layer 3 (patterns, [`rules`]) finds fixed-shape tokens (AWS, GitHub, Slack, Stripe, OpenAI, Anthropic,
//!   Hugging Face, Google, Azure, JWT, private keys, ...). One case-insensitive Aho-Corasick automaton over
//!   every rule's literals decides which rules run, and where.
//! - Layer 4 (opt-in, [`Scrubber::redact_content`]) replaces prompt, document and completion text with
//!   length-keeping placeholders.
//!
//! Placeholders are numbered per bundle; values found by layers 2–3 are recognised again through a hash keyed
//! by a random per-scrubber key, so placeholders never derive from a value and two bundles cannot be
//! correlated. No mapping is ever written. [`Scrubber::scrub_stream`] scrubs input of any size in bounded
//! memory; [`Scrubber::find_leaks`] is the fail-closed final check of a bundle (layer 1 and the
//! high-confidence rules of layer 3); [`Scrubber::report`] is `redactions.json` (counts and line numbers per
//! member and rule, never a value).
//!
//! ```
//! use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};
//!
//! let key = "q7Vd2LkP9sXw4RtZ8mNc3JbH6yFg1UaE5oKi0TpW";
//! let scrubber = Scrubber::new(ScrubOptions::with_known(vec![KnownSecret::new("cohere-key", key)]));
//! let log = format!("POST /v2/chat failed\nusing key {key}\n");
//! let clean = scrubber.scrub_str("logs/app.log", &log);
//! assert_eq!(clean, "POST /v2/chat failed\nusing key [REDACTED:cohere-key:1]\n");
//!
//! // The final check: the scrubbed text is clean, the original is not.
//! assert!(scrubber.find_leaks("logs/app.log", clean.as_bytes()).is_empty());
//! assert_eq!(scrubber.find_leaks("logs/app.log", log.as_bytes())[0].label, "cohere-key");
//!
//! // `redactions.json`: counts and line numbers per member and rule, never a value.
//! let report = scrubber.report();
//! assert_eq!(report.total(), 1);
//! let rules = &report.members["logs/app.log"];
//! assert_eq!(rules.values().next().unwrap().lines, [2]);
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aho_corasick::MatchKind;
use serde::Serialize;

mod content;
mod known;
pub mod learn;
pub mod rules;
mod stream;
mod structure;
#[cfg(test)]
mod walk;

pub use content::content_placeholder;
pub use known::{encoded_forms, Encoding};
pub use stream::{scrub_command, StreamStats};

/// A secret value. Its `Debug` and `Display` print `(redacted)`, so it cannot leak through logs.
///
/// ```
/// use cohere_bundle_core::SecretString;
/// let key = SecretString::new("q7Vd2LkP9sXw4RtZ");
/// assert_eq!(format!("{key:?} {key}"), "(redacted) (redacted)");
/// assert_eq!(key.expose(), "q7Vd2LkP9sXw4RtZ");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value.
    ///
    /// Example: [`SecretString`].
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The value itself. Call only where the value must be used (to send it, or to search for it).
    ///
    /// Example: [`SecretString`].
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
///
/// Example: [`Scrubber`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownSecret {
    /// What it is, used in the placeholder: `cohere-key`, `secret`, `env`.
    pub label: String,
    /// The value.
    pub value: SecretString,
}

impl KnownSecret {
    /// Builds a known secret.
    ///
    /// Example: [`Scrubber`].
    pub fn new(label: impl Into<String>, value: impl Into<SecretString>) -> Self {
        KnownSecret {
            label: label.into(),
            value: value.into(),
        }
    }
}

/// Values shorter than this are not treated as secrets (they would match everywhere).
///
/// ```
/// use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber, MIN_SECRET_LEN};
/// assert!("abc".len() < MIN_SECRET_LEN);
/// let scrubber = Scrubber::new(ScrubOptions::with_known(vec![KnownSecret::new("secret", "abc")]));
/// assert_eq!(scrubber.scrub_str("app.log", "abc"), "abc");
/// ```
pub const MIN_SECRET_LEN: usize = 6;

/// Environment variable name fragments that mark a value as secret.
const SECRET_ENV_WORDS: &[&str] = &[
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "SESSION",
    "COOKIE",
];

/// True when an environment variable's name looks like it holds a secret.
pub(crate) fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_ENV_WORDS.iter().any(|w| upper.contains(w))
}

/// The values of secret-looking environment variables of this process.
///
/// ```
/// use cohere_bundle_core::scrub::secrets_from_env;
/// std::env::set_var("MY_APP_TOKEN", "t0k3n-value-123");
/// let known = secrets_from_env();
/// assert!(known.iter().any(|k| k.label == "env" && k.value.expose() == "t0k3n-value-123"));
/// ```
pub fn secrets_from_env() -> Vec<KnownSecret> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, v)| is_secret_env_name(k) && v.len() >= MIN_SECRET_LEN)
        .map(|(_, v)| KnownSecret::new("env", v))
        .collect()
}

/// Query parameter names whose values [`mask_url`] hides.
const CREDENTIAL_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "api-key",
    "token",
    "access_token",
    "auth",
    "password",
    "secret",
    "client_secret",
    "sig",
    "signature",
    "code",
];

/// A URL fit to print: userinfo and the values of credential query parameters (`api_key`, `token`, `sig`,
/// `x-amz-*` …) replaced by `[REDACTED]`. Text that is not a URL comes back as it was.
///
/// ```
/// use cohere_bundle_core::scrub::mask_url;
/// assert_eq!(mask_url("http://u:KEY@host:8080/v2"), "http://[REDACTED]@host:8080/v2");
/// assert_eq!(mask_url("https://h/?api_key=KEY&x=1"), "https://h/?api_key=[REDACTED]&x=1");
/// assert_eq!(mask_url("https://api.cohere.com"), "https://api.cohere.com");
/// ```
pub fn mask_url(s: &str) -> String {
    let Ok(mut u) = url::Url::parse(s) else {
        return s.to_string();
    };
    let mut changed = false;
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_password(None);
        let _ = u.set_username("[REDACTED]");
        changed = true;
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let lk = k.to_ascii_lowercase();
                let secret = CREDENTIAL_PARAMS.contains(&lk.as_str()) || lk.starts_with("x-amz-");
                (
                    k.into_owned(),
                    if secret {
                        "[REDACTED]".to_string()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        if pairs.iter().any(|(_, v)| v == "[REDACTED]") {
            let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            u.set_query(Some(&q.join("&")));
            changed = true;
        }
    }
    if !changed {
        return s.to_string();
    }
    let out = u.to_string().replace("%5BREDACTED%5D", "[REDACTED]");
    if !s.ends_with('/') && out.ends_with('/') && u.path() == "/" && !s.contains("/?") {
        out.trim_end_matches('/').to_string()
    } else {
        out
    }
}

/// Header names whose values are always masked.
pub(crate) const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-amz-security-token",
    "x-auth-token",
    "ocp-apim-subscription-key",
    "x-goog-api-key",
];

/// Options for a [`Scrubber`].
///
/// ```
/// use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};
/// use cohere_bundle_core::SecretString;
///
/// let opts = ScrubOptions::with_known(vec![KnownSecret::new("cohere-key", SecretString::new("co-abc123def456"))])
///     .redact_content(true);
/// let scrubber = Scrubber::new(opts);
/// assert!(scrubber.options().redact_content);
/// let out = scrubber.scrub_str("app.log", "key=co-abc123def456 ok");
/// assert!(!out.contains("co-abc123def456"));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScrubOptions {
    /// Secrets known by value.
    pub known: Vec<KnownSecret>,
    /// Replace prompt, document and completion text with length-keeping placeholders.
    pub redact_content: bool,
}

impl ScrubOptions {
    /// Options with these secrets known by value, content kept.
    ///
    /// Example: [`ScrubOptions`].
    pub fn with_known(known: Vec<KnownSecret>) -> Self {
        ScrubOptions {
            known,
            redact_content: false,
        }
    }

    /// Whether to replace prompt, document and completion text with placeholders.
    ///
    /// Example: [`ScrubOptions`].
    #[must_use]
    pub fn redact_content(mut self, on: bool) -> Self {
        self.redact_content = on;
        self
    }
}

/// A secret found by the final check.
///
/// Example: [`Scrubber::find_leaks`].
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
///
/// Example: [`crate::scrub`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    /// Number of redactions.
    pub count: u64,
    /// 1-based line numbers (the first 100).
    pub lines: Vec<u64>,
}

/// The redaction report written as `redactions.json`. It never holds a secret value.
///
/// Example: [`crate::scrub`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedactionReport {
    /// Member name → rule name → count.
    pub members: std::collections::BTreeMap<String, std::collections::BTreeMap<String, RuleCount>>,
    /// Number of distinct secrets replaced by placeholders.
    pub distinct_secrets: usize,
}

impl RedactionReport {
    /// Total redactions across members.
    ///
    /// Example: [`crate::scrub`].
    pub fn total(&self) -> u64 {
        self.members
            .values()
            .flat_map(|m| m.values())
            .map(|c| c.count)
            .sum()
    }
}

/// What a trigger literal starts.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// A layer-3 rule (index into [`rules::RULES`]).
    Rule(usize),
    /// A layer-2 structural check.
    Structure(&'static str),
}

/// The known values' search ([`known::KnownSearch`]: every encoded form, whole or broken over lines), and an
/// automaton of every trigger literal of layers 2 and 3 (ASCII case-insensitive, leftmost-longest, no
/// overlaps). A trigger that is a substring of a longer one is run wherever the longer one matches, so no
/// check is lost to an overlap.
struct Engine {
    /// Layer 1; `None` without known values.
    known: Option<known::KnownSearch>,
    /// The trigger literals of layers 2 and 3 (ASCII case-insensitive), walked by [`Engine::hits`].
    triggers: aho_corasick::dfa::DFA,
    /// Trigger pattern index → its length and actions.
    actions: Vec<(usize, Vec<Action>)>,
    /// The longest known form, in bytes.
    max_form: usize,
}

/// Where a redaction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Known(usize, Encoding),
    Pattern(usize),
    /// A structural finding: its report rule, its label, and the recogniser that found it.
    Structure(&'static str, &'static str, &'static str),
}

impl Origin {
    fn rank(self) -> u8 {
        match self {
            Origin::Known(..) => 0,
            Origin::Pattern(_) => 1,
            Origin::Structure(..) => 2,
        }
    }
}

/// A byte range to redact.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every layer.
    Scrub,
    /// The final check's patterns: the high-confidence rules only ([`Scrubber::find_leaks`] searches the
    /// known values itself).
    Leaks,
}

/// The trigger literals of layers 2 and 3 (lower-cased, distinct) and the actions each one starts.
fn trigger_literals() -> (Vec<Vec<u8>>, Vec<Vec<Action>>) {
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut patterns: Vec<Vec<u8>> = Vec::new();
    let mut own: Vec<Vec<Action>> = Vec::new();
    let mut add = |lit: &[u8], a: Action| {
        let key = lit.to_ascii_lowercase();
        let n = *index.entry(key.clone()).or_insert_with(|| {
            patterns.push(key);
            own.push(Vec::new());
            patterns.len() - 1
        });
        own[n].push(a);
    };
    for (i, r) in rules::RULES.iter().enumerate() {
        for l in r.literals {
            add(l.as_bytes(), Action::Rule(i));
        }
    }
    for t in structure::TRIGGERS {
        add(t.as_bytes(), Action::Structure(t));
    }
    (patterns, own)
}

impl Engine {
    fn new(known: &[KnownSecret]) -> Engine {
        let known = known::KnownSearch::new(known);
        let max_form = known.as_ref().map_or(0, |k| k.max_form);
        let (patterns, own) = trigger_literals();
        // Standard semantics: every state knows all the literals that end at it (overlapping matches), which
        // is what lets `hits` walk the text in independent lanes.
        let triggers = aho_corasick::dfa::DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&patterns)
            .expect("literal patterns always build");
        let actions = patterns
            .iter()
            .zip(own)
            .map(|(p, a)| (p.len(), a))
            .collect();
        Engine {
            known,
            triggers,
            actions,
            max_form,
        }
    }

    /// Every trigger literal in `t`, as (start, pattern), sorted by start and then longest first.
    ///
    /// The DFA walk is a chain of dependent table loads, so one walk leaves the core mostly waiting. The text
    /// is cut into four lanes walked in step, which keeps four loads in flight: about 2.5 times the speed of
    /// one walk. Each lane first reads the `max_pattern_len - 1` bytes before its start, which puts it in the
    /// exact state a single walk would have there (a state depends only on that many bytes), and reports only
    /// matches that end inside its own range.
    #[inline(never)]
    fn hits(&self, t: &[u8]) -> Vec<(usize, u32)> {
        use aho_corasick::automaton::Automaton;
        const LANES: usize = 4;
        let dfa = &self.triggers;
        let Ok(start) = dfa.start_state(aho_corasick::Anchored::No) else {
            return Vec::new();
        };
        let next = |sid, b| dfa.next_state(aho_corasick::Anchored::No, sid, b);
        let mut out: Vec<(usize, u32)> = Vec::new();
        let push = |out: &mut Vec<(usize, u32)>, sid, end: usize| {
            for k in 0..dfa.match_len(sid) {
                let p = dfa.match_pattern(sid, k);
                out.push((end - dfa.pattern_len(p), p.as_u32()));
            }
        };
        let seg = if t.len() >= 4096 { t.len() / LANES } else { 0 };
        let mut sid = [start; LANES];
        if seg > 0 {
            let warm = dfa.max_pattern_len().saturating_sub(1);
            for (l, s) in sid.iter_mut().enumerate().skip(1) {
                for &b in &t[l * seg - warm.min(seg)..l * seg] {
                    *s = next(*s, b);
                }
            }
            let lanes = &t[..LANES * seg];
            let mut found: [Vec<(usize, u32)>; LANES] = Default::default();
            let (mut s0, mut s1, mut s2, mut s3) = (sid[0], sid[1], sid[2], sid[3]);
            for (i, ((b0, b1), (b2, b3))) in lanes[..seg]
                .iter()
                .zip(&lanes[seg..2 * seg])
                .zip(lanes[2 * seg..3 * seg].iter().zip(&lanes[3 * seg..]))
                .enumerate()
            {
                s0 = next(s0, *b0);
                s1 = next(s1, *b1);
                s2 = next(s2, *b2);
                s3 = next(s3, *b3);
                // Matches are rare (one every hundred bytes or so): one well-predicted branch for four lanes.
                if dfa.is_match(s0) | dfa.is_match(s1) | dfa.is_match(s2) | dfa.is_match(s3) {
                    for (l, s) in [s0, s1, s2, s3].into_iter().enumerate() {
                        if dfa.is_match(s) {
                            push(&mut found[l], s, l * seg + i + 1);
                        }
                    }
                }
            }
            sid = [s0, s1, s2, s3];
            for f in &found {
                out.extend_from_slice(f);
            }
        }
        // The rest (or all of a short text) continues the last lane.
        let mut s = sid[LANES - 1];
        for (i, &b) in t[LANES * seg..].iter().enumerate() {
            s = next(s, b);
            if dfa.is_match(s) {
                push(&mut out, s, LANES * seg + i + 1);
            }
        }
        out.sort_unstable_by_key(|&(st, p)| (st, std::cmp::Reverse(self.actions[p as usize].0)));
        out
    }

    /// Finds every redaction in `t`, merged and sorted.
    fn scan(&self, t: &[u8], mode: Mode) -> Vec<Span> {
        let mut spans = self.findings(t, mode);
        drop_placeholder_overlaps(t, &mut spans);
        merge(spans)
    }

    /// Every finding of every layer in `t`, each with its origin, before placeholders and overlaps are
    /// resolved.
    fn findings(&self, t: &[u8], mode: Mode) -> Vec<Span> {
        let compiled = rules::compiled();
        let mut spans: Vec<Span> = Vec::new();
        let mut covered = vec![0usize; compiled.len()];
        let mut last_key = usize::MAX;
        let mut found = Vec::new();
        // The final check searches known values itself ([`Scrubber::find_leaks`]).
        if let (Some(k), Mode::Scrub) = (&self.known, mode) {
            let mut hits = Vec::new();
            k.find(t, &mut hits);
            spans.extend(hits.into_iter().map(|h| Span {
                start: h.start,
                end: h.end,
                origin: Origin::Known(h.secret, h.encoding),
            }));
        }
        for (s, pattern) in self.hits(t) {
            let (len, ref acts) = self.actions[pattern as usize];
            let e = s + len;
            for &a in acts {
                match a {
                    Action::Rule(r) => {
                        let c = &compiled[r];
                        if (mode == Mode::Leaks && !c.spec.high_confidence) || covered[r] > s {
                            continue;
                        }
                        let from = s.saturating_sub(c.spec.back);
                        let to = (e + c.spec.fwd).min(t.len());
                        if let Some(caps) = c.re.captures_at(&t[..to], from) {
                            let whole = caps.get(0).map_or(0..0, |g| g.range());
                            covered[r] = whole.end.max(s + 1);
                            // Every participating group is redacted (a user and its password); with no
                            // groups, the whole match.
                            let groups = caps.len();
                            for gi in if groups > 1 { 1..groups } else { 0..1 } {
                                let Some(g) = caps.get(gi) else { continue };
                                let doc = if c.spec.label == "credentials" {
                                    // A user name or password in code or prose: `user@example.com` is real.
                                    g.as_bytes().starts_with(b"[REDACTED")
                                        || g.as_bytes().starts_with(b"[CONTENT")
                                } else if c.spec.high_confidence {
                                    rules::is_doc_placeholder(g.as_bytes())
                                } else {
                                    rules::is_placeholder_value(g.as_bytes())
                                };
                                if g.end() > g.start()
                                    && !doc
                                    && c.spec.check.is_none_or(|check| check(g.as_bytes()))
                                {
                                    spans.push(Span {
                                        start: g.start(),
                                        end: g.end(),
                                        origin: Origin::Pattern(r),
                                    });
                                }
                            }
                        } else {
                            // No match lies inside this hit's window; a later hit of the same rule may still
                            // start a match that ends beyond it, so only this hit is done.
                            covered[r] = s + 1;
                        }
                    }
                    Action::Structure(name) => {
                        if mode == Mode::Scrub {
                            found.clear();
                            structure::check(t, s, e, name, &mut last_key, &mut found);
                            for f in &found {
                                spans.push(Span {
                                    start: f.start,
                                    end: f.end,
                                    origin: Origin::Structure(f.rule, f.label, f.by),
                                });
                            }
                        }
                    }
                }
            }
        }
        spans
    }
}

/// Keeps scrubbing idempotent: a span found by layers 2–3 that overlaps a placeholder already in the text
/// (`[REDACTED:...]`, `[CONTENT:...]`) is dropped, so a second pass never redacts around a placeholder.
fn drop_placeholder_overlaps(t: &[u8], spans: &mut Vec<Span>) {
    if spans.is_empty() {
        return;
    }
    let mut regions: Vec<(usize, usize)> = Vec::new();
    for needle in [&b"[REDACTED:"[..], b"[CONTENT:"] {
        for p in memchr::memmem::find_iter(t, needle) {
            let end = memchr::memchr(b']', &t[p..]).map_or(t.len(), |e| p + e + 1);
            regions.push((p, end));
        }
    }
    if regions.is_empty() {
        return;
    }
    regions.sort_unstable();
    spans.retain(|s| {
        matches!(s.origin, Origin::Known(..)) || {
            let i = regions.partition_point(|r| r.1 <= s.start);
            !(i < regions.len() && regions[i].0 < s.end)
        }
    });
}

fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    if spans.len() < 2 {
        return spans;
    }
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        if let Some(cur) = out.last_mut() {
            if s.start < cur.end {
                if s.end > cur.end {
                    cur.end = s.end;
                }
                if s.origin.rank() < cur.origin.rank() {
                    cur.origin = s.origin;
                }
                continue;
            }
        }
        out.push(s);
    }
    out
}

/// One scrubber per bundle: it keeps the placeholder numbering and the redaction report.
///
/// Placeholders are numbered per bundle in order of first appearance; a secret found by pattern or structure
/// is recognised again through a keyed hash whose key is random per scrubber, so placeholders never derive
/// from the value and two bundles cannot be correlated. No mapping from placeholder to value is kept beyond
/// that hash, and none is ever written.
///
/// ```
/// use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};
/// let key = KnownSecret::new("cohere-key", "q7Vd2LkP9sXw4RtZ");
/// let scrubber = Scrubber::new(ScrubOptions::with_known(vec![key]));
/// // One placeholder per secret, the same in every member of the bundle.
/// assert_eq!(scrubber.scrub_str("a.log", "key q7Vd2LkP9sXw4RtZ"), "key [REDACTED:cohere-key:1]");
/// assert_eq!(scrubber.scrub_str("b.log", "again q7Vd2LkP9sXw4RtZ"), "again [REDACTED:cohere-key:1]");
/// assert_eq!(scrubber.report().distinct_secrets, 1);
/// ```
pub struct Scrubber {
    known: Vec<KnownSecret>,
    /// For each known secret, the report rule of the finding that taught it ([`Scrubber::learn`]); `None`
    /// for a secret given by value.
    learnt_rules: Vec<Option<String>>,
    engine: Arc<Engine>,
    options: ScrubOptions,
    bundle_key: [u8; 32],
    state: Mutex<State>,
}

#[derive(Default, Clone)]
struct State {
    /// Secret index → placeholder.
    placeholders: HashMap<usize, String>,
    /// Keyed hash of a value found by pattern or structure → placeholder.
    keyed: HashMap<[u8; 16], String>,
    /// Label → last number used.
    counters: HashMap<String, usize>,
    report: RedactionReport,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber")
            .field("known", &self.known.len())
            .finish()
    }
}

impl Scrubber {
    /// Builds a scrubber. Known values shorter than [`MIN_SECRET_LEN`] are ignored; duplicates are merged.
    ///
    /// Example: [`Scrubber`].
    pub fn new(options: ScrubOptions) -> Scrubber {
        let mut known: Vec<KnownSecret> = Vec::new();
        for k in &options.known {
            if k.value.expose().len() >= MIN_SECRET_LEN && !known.iter().any(|e| e.value == k.value)
            {
                known.push(k.clone());
            }
        }
        let engine = Arc::new(Engine::new(&known));
        Scrubber {
            learnt_rules: vec![None; known.len()],
            known,
            engine,
            options,
            bundle_key: rand::random(),
            state: Mutex::new(State::default()),
        }
    }

    /// A scrubber with the same secrets, the placeholders given so far and the redactions counted so far:
    /// what a bundle's later stages (one write attempt, the email draft) scrub with after the masking pass,
    /// so that a secret keeps its placeholder and every masking stays counted.
    pub(crate) fn fork(&self) -> Scrubber {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Scrubber {
            known: self.known.clone(),
            learnt_rules: self.learnt_rules.clone(),
            engine: self.engine.clone(),
            options: self.options.clone(),
            bundle_key: self.bundle_key,
            state: Mutex::new(state),
        }
    }

    /// The options the scrubber was built with.
    ///
    /// Example: [`ScrubOptions`].
    pub fn options(&self) -> &ScrubOptions {
        &self.options
    }

    /// The layer-3 rules, for documentation and tests.
    ///
    /// Example: [`crate::scrub::rules`].
    pub fn rules() -> &'static [rules::RuleSpec] {
        rules::RULES
    }

    fn placeholder(&self, state: &mut State, secret: usize) -> String {
        if let Some(p) = state.placeholders.get(&secret) {
            return p.clone();
        }
        let label = self.known[secret].label.clone();
        let p = Self::next(state, &label);
        state.placeholders.insert(secret, p.clone());
        state.report.distinct_secrets = state.placeholders.len() + state.keyed.len();
        p
    }

    fn next(state: &mut State, label: &str) -> String {
        let n = state.counters.entry(label.to_string()).or_insert(0);
        *n += 1;
        format!("[REDACTED:{label}:{n}]")
    }

    fn keyed_placeholder(&self, state: &mut State, label: &str, value: &[u8]) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.bundle_key);
        h.update(value);
        let d = h.finalize();
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        if let Some(p) = state.keyed.get(&k) {
            return p.clone();
        }
        let p = Self::next(state, label);
        // Bounded: past a million distinct values, new ones are still redacted, just not remembered.
        if state.keyed.len() < 1_000_000 {
            state.keyed.insert(k, p.clone());
        }
        state.report.distinct_secrets = state.placeholders.len() + state.keyed.len();
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

    /// Writes `t` with `spans` replaced by placeholders; `line` is the 1-based line number of `t`'s start.
    fn render(&self, member: &str, t: &[u8], spans: &[Span], mut line: u64, out: &mut Vec<u8>) {
        if spans.is_empty() {
            out.extend_from_slice(t);
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = 0;
        for s in spans {
            line += memchr::memchr_iter(b'\n', &t[last..s.start]).count() as u64;
            out.extend_from_slice(&t[last..s.start]);
            let (ph, rule) = match s.origin {
                Origin::Known(secret, enc) => (
                    self.placeholder(&mut state, secret),
                    match &self.learnt_rules[secret] {
                        // A value the structure taught keeps its rule's name where it is found as such.
                        Some(r) if enc == Encoding::Raw => r.clone(),
                        Some(r) => format!("{r}:{}", enc.as_str()),
                        None => format!("known:{}:{}", self.known[secret].label, enc.as_str()),
                    },
                ),
                Origin::Pattern(r) => {
                    let spec = &rules::RULES[r];
                    (
                        self.keyed_placeholder(&mut state, spec.label, &t[s.start..s.end]),
                        format!("pattern:{}", spec.id),
                    )
                }
                Origin::Structure(rule, label, _) => (
                    self.keyed_placeholder(&mut state, label, &t[s.start..s.end]),
                    rule.to_string(),
                ),
            };
            out.extend_from_slice(ph.as_bytes());
            if let Origin::Known(..) = s.origin {
                // A value broken over lines keeps its line breaks (and indentation) after the placeholder, so
                // the lines after it keep their numbers.
                for p in memchr::memchr_iter(b'\n', &t[s.start..s.end]) {
                    let (bs, be) = known::break_around(t, s.start + p);
                    out.extend_from_slice(&t[bs.max(s.start)..be.min(s.end)]);
                }
            }
            Self::count(&mut state, member, &rule, line);
            line += memchr::memchr_iter(b'\n', &t[s.start..s.end]).count() as u64;
            last = s.end;
        }
        out.extend_from_slice(&t[last..]);
    }

    /// Scrubs bytes (any encoding; invalid UTF-8 passes through); `member` names them in the redaction report.
    ///
    /// Example: [`Scrubber::scrub_str`] (the same on UTF-8 text).
    pub fn scrub_bytes(&self, member: &str, t: &[u8]) -> Vec<u8> {
        let spans = self.engine.scan(t, Mode::Scrub);
        let mut out = Vec::with_capacity(t.len());
        self.render(member, t, &spans, 1, &mut out);
        out
    }

    /// Scrubs one text; `member` names it in the redaction report.
    ///
    /// ```
    /// use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};
    /// let scrubber = Scrubber::new(ScrubOptions::with_known(vec![KnownSecret::new("cohere-key", "q7Vd2LkP9sXw4RtZ")]));
    /// let out = scrubber.scrub_str("app.log", "token=q7Vd2LkP9sXw4RtZ retry with q7Vd2LkP9sXw4RtZ");
    /// assert_eq!(out.matches("[REDACTED:cohere-key:1]").count(), 2);
    /// assert!(!out.contains("q7Vd2LkP9sXw4RtZ"));
    /// ```
    pub fn scrub_str(&self, member: &str, text: &str) -> String {
        let out = self.scrub_bytes(member, text.as_bytes());
        match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The byte ranges of `t` that [`Scrubber::scrub_bytes`] replaces, in order (nothing is counted): what
    /// the corpus evaluation measures the collateral characters on.
    ///
    /// ```
    /// use cohere_bundle_core::scrub::{ScrubOptions, Scrubber};
    /// let t = "Authorization: Bearer Qm3xT8vR2pL6nW9kZ4yB status=500";
    /// let r = Scrubber::new(ScrubOptions::default()).redacted_ranges(t.as_bytes());
    /// assert_eq!(r.iter().map(|r| &t[r.clone()]).collect::<Vec<_>>(), ["Qm3xT8vR2pL6nW9kZ4yB"]);
    /// ```
    pub fn redacted_ranges(&self, t: &[u8]) -> Vec<std::ops::Range<usize>> {
        self.engine
            .scan(t, Mode::Scrub)
            .into_iter()
            .map(|s| s.start..s.end)
            .collect()
    }

    /// The final check: every known secret in every encoded form, and the high-confidence rules of layer 3,
    /// searched in `data`. A pattern hit is reported with the rule id as its label.
    ///
    /// ```
    /// use cohere_bundle_core::scrub::{Encoding, KnownSecret, ScrubOptions, Scrubber};
    /// let scrubber = Scrubber::new(ScrubOptions::with_known(vec![KnownSecret::new("cohere-key", "q7Vd2LkP9sXw4RtZ")]));
    /// // The key in base64 ("q7Vd2LkP9sXw4RtZ" encoded) is still the key.
    /// let leaks = scrubber.find_leaks("env.txt", b"AUTH=cTdWZDJMa1A5c1h3NFJ0Wg==");
    /// assert_eq!(leaks.len(), 1);
    /// assert_eq!((leaks[0].label.as_str(), leaks[0].encoding), ("cohere-key", Encoding::Base64));
    /// assert_eq!(leaks[0].encoding.as_str(), "base64");
    /// assert!(scrubber.find_leaks("env.txt", b"AUTH=[REDACTED:cohere-key:1]").is_empty());
    /// ```
    pub fn find_leaks(&self, member: &str, data: &[u8]) -> Vec<Leak> {
        let mut seen = Vec::new();
        if let Some(k) = &self.engine.known {
            let mut hits = Vec::new();
            k.find(data, &mut hits);
            for h in hits {
                let leak = Leak {
                    member: member.to_string(),
                    label: self.known[h.secret].label.clone(),
                    encoding: h.encoding,
                };
                if !seen.contains(&leak) {
                    seen.push(leak);
                }
            }
        }
        for s in self.engine.scan(data, Mode::Leaks) {
            if let Origin::Pattern(r) = s.origin {
                let leak = Leak {
                    member: member.to_string(),
                    label: format!("pattern:{}", rules::RULES[r].id),
                    encoding: Encoding::Raw,
                };
                if !seen.contains(&leak) {
                    seen.push(leak);
                }
            }
        }
        seen
    }

    /// A copy of the redaction report so far.
    ///
    /// Example: [`crate::scrub`].
    pub fn report(&self) -> RedactionReport {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .report
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Header;
    use base64::Engine as _;

    const KEY: &str = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7d";

    fn scrubber() -> Scrubber {
        Scrubber::new(ScrubOptions {
            known: vec![KnownSecret::new("cohere-key", KEY)],
            redact_content: false,
        })
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
        let mut h = vec![
            Header::new("Authorization", "Bearer abc"),
            Header::new("Accept", "x"),
        ];
        s.mask_headers("m", &mut h);
        assert_eq!(h[0].value, "Bearer [REDACTED:auth:1]");
        assert_eq!(h[1].value, "x");
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let k = KnownSecret::new("secret", "hunter2hunter2");
        assert!(!format!("{k:?}").contains("hunter2"));
    }

    #[test]
    fn stream_finds_secrets_split_across_reads_and_keeps_bytes() {
        let s = scrubber();
        // Lines of filler with the key and a GitHub token at every few KiB, across several 1 MiB rounds,
        // read 7 bytes at a time so every boundary position occurs.
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 3 << 20 {
            text.push_str(&format!(
                "{{\"n\": {i}, \"text\": \"{}\"}}\n",
                "lorem ipsum ".repeat(i % 50)
            ));
            if i % 97 == 0 {
                text.push_str(&format!(
                    "Authorization: Bearer {KEY}\nghp_{}\n",
                    "a1B2c3D4e5".repeat(4)
                ));
            }
            i += 1;
        }
        struct Slow<'a>(&'a [u8]);
        impl std::io::Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(7).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        let stats = s
            .scrub_stream("log", Slow(text.as_bytes()), &mut out)
            .unwrap();
        assert_eq!(stats.bytes_in as usize, text.len());
        let whole = s.scrub_bytes("again", text.as_bytes());
        assert_eq!(out, whole, "streaming and whole-text scrubbing agree");
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains(KEY) && !out.contains("ghp_a1B2"));
        assert!(out.contains("[REDACTED:cohere-key:1]"));
        assert_eq!(out.lines().count(), text.lines().count());
        let rep = s.report();
        let lines = &rep.members["log"]["known:cohere-key:raw"].lines;
        assert_eq!(
            lines[0], 2,
            "line numbers are 1-based and count across rounds"
        );
    }

    #[test]
    fn idempotent_around_placeholders_found_by_fuzzing() {
        // cargo-fuzz found this: a curl `-u` value that, after the first pass, holds a placeholder with colons.
        let s = scrubber();
        let input: &[u8] = b"-u\t22\x1c\0\0\0\0\0\0\x002\xad;u`key=paSs\xbc\xbc\xbc\xbc\xbcuu";
        let once = s.scrub_bytes("m", input);
        assert_eq!(s.scrub_bytes("m", &once), once);
    }

    #[test]
    fn laned_trigger_walk_finds_exactly_the_overlapping_matches_of_one_walk() {
        let (patterns, _) = trigger_literals();
        let reference = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&patterns)
            .expect("patterns");
        let engine = Engine::new(&[]);
        // Texts long enough for four lanes, with literals planted across every lane boundary.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for len in [10usize, 4095, 4096, 4099, 10_000, 65_537] {
            let mut t: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"abcdefghijklmnopqrstuvwxyz_-.: =\"\nKEYTOKENPASS"[(x % 45) as usize]
                })
                .collect();
            for q in 1..4 {
                let at = (len / 4 * q).saturating_sub(3);
                let lit = b"password to proceed to installation";
                if at + lit.len() <= t.len() {
                    t[at..at + lit.len()].copy_from_slice(lit);
                }
            }
            let mut want: Vec<(usize, u32)> = reference
                .find_overlapping_iter(&t)
                .map(|m| (m.start(), m.pattern().as_u32()))
                .collect();
            want.sort_unstable_by_key(|&(s, p)| (s, std::cmp::Reverse(patterns[p as usize].len())));
            let got = engine.hits(&t);
            assert_eq!(got.len(), want.len(), "text of {len} bytes");
            assert_eq!(got, want, "text of {len} bytes");
        }
    }

    /// Each case: the text, the values that must be gone, and the text that must stay.
    const CONTEXT_CASES: &[(&str, &[&str], &str)] = &[
        // Pattern rules with more than one group redact each group.
        ("var c = new NetworkCredential(\"ops@corp.example.com\", \"Tr0ub4dor3\");", &["ops@corp.example.com", "Tr0ub4dor3"], "NetworkCredential("),
        ("The default password for the user \"svc-build\" is \"hunter22\".", &["svc-build", "hunter22"], "The default password"),
        ("echo \"The password is 'Kx9pQ2'\"", &["Kx9pQ2"], "The password is"),
        // Comparisons with a literal.
        ("if username == \"ops\" and password == \"letm3in!\":", &["letm3in!"], "if username"),
        ("if creds.Secret != \"open-door-42\" {", &["open-door-42"], "creds.Secret"),
        // CLI and PowerShell flags, with the user that goes with the password.
        ("Connect-VIServer -Server 10.0.0.5 -User admin@vsphere.local -Password Vm9pass!", &["admin@vsphere.local", "Vm9pass!"], "Connect-VIServer"),
        ("kubeadm join --tls-bootstrap-token q7w2e9.k3l5m8n1p4r6s2t9", &["q7w2e9.k3l5m8n1p4r6s2t9"], "kubeadm join"),
        ("token: s.Qm3xT8vR2pL6nW9kZ4yB7cD1", &["s.Qm3xT8vR2pL6nW9kZ4yB7cD1"], "token:"),
        // Ruby symbols, commented env lines, trailing comments, quoted passwords with a space.
        ("  :password => 'r4ilsPass',", &["r4ilsPass"], ":password =>"),
        ("# MAILER_PASSWORD=bluefalcon", &["bluefalcon"], "MAILER_PASSWORD"),
        ("SMTP_PASSWORD=bluefalcon    # from the vault", &["bluefalcon"], "# from the vault"),
        ("user = 'Ali'\npassword = 'open sez me'\n", &["open sez me", "Ali"], "password = "),
        // OAuth client secret: its client id goes too; Azure DevOps PAT under a `_pat` key.
        ("AUTH0_CLIENT_ID='Zq8rT2vX9kL3mN6pQ1sW4yB7cF0hJ5dG'\nAUTH0_CLIENT_SECRET='aB3dE6gH9jK2mN5pQ8sT1vW4yZ7'", &["Zq8rT2vX9kL3mN6pQ1sW4yB7cF0hJ5dG", "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7"], "AUTH0_CLIENT_ID="),
        ("ado_pat = \"q3k7m2n9p4r8t6w1y5z3b7c2d9f4g8h6j1k5m3n7p2q9r4s8t6vw\"", &["q3k7m2n9p4r8t6w1y5z3b7c2d9f4g8h6j1k5m3n7p2q9r4s8t6vw"], "ado_pat"),
        // Vendor keys known by their context.
        ("Unseal Key 1: Zk3m9QpT2vX8rL5nW1yB7cF4hJ6dG0sA3eK9mP2qR5t+", &["Zk3m9QpT2vX8rL5nW1yB7cF4hJ6dG0sA3eK9mP2qR5t+"], "Unseal Key 1:"),
        ("curl -H 'Jenkins-Crumb:9f8e7d6c5b4a39281716a5b4c3d2e1f0' http://ci/job", &["9f8e7d6c5b4a39281716a5b4c3d2e1f0"], "Jenkins-Crumb:"),
        ("{\"method\":\"auth.login_with_api_key\",\"params\":[\"3-Qm3xT8vR2pL6nW9kZ4yB7cD1Qm3xT8vR2pL6nW9kZ4yB7cD1Qm3xT8vR2pL6nW9k\"]}", &["3-Qm3xT8vR2pL6nW9kZ4yB7cD1Qm3xT8vR2pL6nW9kZ4yB7cD1Qm3xT8vR2pL6nW9k"], "login_with_api_key"),
        // Every host of a multi-host database URL goes with its credentials.
        ("postgresql://app:s3cr3tpw@db1:5432,app:s3cr3tpw@db2:5432/orders", &["s3cr3tpw", "db2"], "/orders"),
        // An API key as curl user name with an empty password.
        ("curl -u \"Xk29vLq7Zp3R:\" https://localhost:9200", &["Xk29vLq7Zp3R"], "https://localhost:9200"),
        // A pattern hit that fails near the start of a line does not hide a real token later in its window.
        ("parser.add_argument(\"--hf_token\", default='hf_Qm3xT8vR2pL6nW9kZ4yB7cD1qWeRtYuIoP')", &["hf_Qm3xT8vR2pL6nW9kZ4yB7cD1qWeRtYuIoP"], "--hf_token"),
    ];

    #[test]
    fn finds_credentials_known_by_context_code_and_prose() {
        for (text, gone, kept) in CONTEXT_CASES {
            let out = scrubber().scrub_str("m", text);
            for g in *gone {
                assert!(!out.contains(g), "{g:?} survived in {out:?}");
            }
            assert!(out.contains(kept), "{kept:?} lost in {out:?}");
            assert!(out.contains("[REDACTED:"), "{out:?}");
        }
    }

    #[test]
    fn keeps_variables_comparisons_with_names_and_flags_that_name_files() {
        for text in [
            "if password == user_input:",
            "if token != expected_token {",
            "docker login -u ci --password-stdin registry.internal",
            "export DB_PASSWORD=$DB_PASSWORD_FROM_VAULT",
            "password: \"Enter a new password for your account below\"",
            "foo = settings.client_id_for_tenant",
        ] {
            assert_eq!(scrubber().scrub_str("m", text), text);
        }
    }
}
