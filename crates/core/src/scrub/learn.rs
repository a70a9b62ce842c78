//! Shared. One masking pass: every value the structure (or a high-confidence pattern) finds anywhere in what a bundle
//! will hold becomes a known secret for the whole bundle ([`Scrubber::learn`]). So the value gets one
//! placeholder in every member, is found again where nothing around it says it is secret (a multipart body, a
//! report line, a log), in every encoding, and the final leak check searches for it like the key.
//!
//! ```
//! use cohere_bundle_core::scrub::{ScrubOptions, Scrubber};
//!
//! let scrubber = Scrubber::new(ScrubOptions::default());
//! let request = r#"{"api_key": "Fz8Kq2Lm9Xp4Tn7Rw1Vb", "name": "upload"}"#;
//! let multipart = "Content-Disposition: form-data; name=\"api_key\"\r\n\r\nFz8Kq2Lm9Xp4Tn7Rw1Vb\r\n";
//! // Alone, the multipart body gives no hint that its value is a secret.
//! assert!(scrubber.scrub_str("m", multipart).contains("Fz8Kq2Lm9Xp4Tn7Rw1Vb"));
//!
//! let mut found = Vec::new();
//! scrubber.discover(request.as_bytes(), &mut found);
//! let bundle = scrubber.learn(found);
//! let a = bundle.scrub_str("request.json", request);
//! let b = bundle.scrub_str("exchanges/001.json", multipart);
//! assert!(a.contains("[REDACTED:token:1]") && b.contains("[REDACTED:token:1]"), "{a}\n{b}");
//! assert!(!bundle.find_leaks("report.md", b"key Fz8Kq2Lm9Xp4Tn7Rw1Vb").is_empty());
//! ```

use std::io::Read;

use super::{KnownSecret, Mode, Origin, Scrubber, MIN_SECRET_LEN};
use crate::exchange::Header;

/// How many found values a bundle learns at most; past it, values are still redacted where they are found.
///
/// Example: [`crate::scrub::learn`].
pub const MAX_LEARNT: usize = 1024;

/// A value found by the structure or a high-confidence pattern, to be known for the rest of the bundle.
///
/// Example: [`crate::scrub::learn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The placeholder's label (`password`, `token`, `auth`, …).
    pub label: String,
    /// The report's rule name (`key:password`, `header:x-api-key`, `pattern:github-pat`, …).
    pub rule: String,
    /// The value.
    pub value: super::SecretString,
}

/// Header names whose whole value (after an auth scheme) is a credential: masked in the bundle, and dropped
/// when a redirect leaves the request's origin.
///
/// ```
/// use cohere_bundle_core::scrub::learn::is_credential_header;
/// assert!(is_credential_header("Ocp-Apim-Subscription-Key") && is_credential_header("x-api-key"));
/// assert!(!is_credential_header("x-request-id"));
/// ```
pub fn is_credential_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    super::SENSITIVE_HEADERS.contains(&lower.as_str())
}

/// The auth scheme of a header value (`Bearer`, `Basic`, …), if it has one, and the credential after it.
fn split_scheme(value: &str) -> (Option<&str>, &str) {
    let v = value.trim();
    match v.split_once(' ') {
        Some((s, rest))
            if ["bearer", "basic", "token", "digest"]
                .contains(&s.to_ascii_lowercase().as_str()) =>
        {
            (Some(s), rest.trim())
        }
        _ => (None, v),
    }
}

impl Scrubber {
    /// Every value that the structure or a high-confidence pattern finds in `t` and that is not known yet,
    /// appended to `out` (user names are left out: they are redacted where found, not everywhere).
    ///
    /// Example: [`crate::scrub::learn`].
    pub fn discover(&self, t: &[u8], out: &mut Vec<Found>) {
        let compiled = super::rules::compiled();
        for s in self.engine.findings(t, Mode::Scrub) {
            let (label, rule) = match s.origin {
                Origin::Structure(rule, label, _) if label != "user" => {
                    (label.to_string(), rule.to_string())
                }
                Origin::Pattern(r) if compiled[r].spec.high_confidence => {
                    let spec = &super::rules::RULES[r];
                    (spec.label.to_string(), format!("pattern:{}", spec.id))
                }
                _ => continue,
            };
            let Ok(v) = std::str::from_utf8(&t[s.start..s.end]) else {
                continue;
            };
            self.push_found(label, rule, v, out);
        }
    }

    /// [`Scrubber::discover`] over a reader of any size, a few MiB at a time, cut at line ends.
    ///
    /// Example: [`crate::scrub::learn`] (the same on one text).
    pub fn discover_reader(&self, mut r: impl Read, out: &mut Vec<Found>) -> std::io::Result<()> {
        const CHUNK: usize = 4 << 20;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut block = vec![0u8; 64 << 10];
        loop {
            let n = r.read(&mut block)?;
            if n > 0 {
                buf.extend_from_slice(&block[..n]);
            }
            if n == 0 || buf.len() >= CHUNK {
                let cut = if n == 0 {
                    buf.len()
                } else {
                    memchr::memrchr(b'\n', &buf).map_or(buf.len(), |p| p + 1)
                };
                self.discover(&buf[..cut], out);
                buf.drain(..cut);
                if out.len() >= MAX_LEARNT {
                    return Ok(());
                }
            }
            if n == 0 {
                return Ok(());
            }
        }
    }

    /// The credential of every credential header in `headers` ([`is_credential_header`]), after its scheme.
    ///
    /// Example: [`crate::scrub::learn`].
    pub fn discover_headers(&self, headers: &[Header], out: &mut Vec<Found>) {
        for h in headers {
            if !is_credential_header(&h.name) {
                continue;
            }
            let lower = h.name.to_ascii_lowercase();
            let label = if lower.contains("cookie") {
                "cookie"
            } else {
                "auth"
            };
            let (_, token) = split_scheme(&h.value);
            self.push_found(label.into(), format!("header:{lower}"), token, out);
        }
    }

    fn push_found(&self, label: String, rule: String, v: &str, out: &mut Vec<Found>) {
        let v = v.trim();
        if v.len() < MIN_SECRET_LEN
            || v.contains("[REDACTED")
            || v.contains("[CONTENT")
            || out.len() >= MAX_LEARNT
            || out.iter().any(|f| f.value.expose() == v)
        {
            return;
        }
        // A value that holds a secret already known is covered by it.
        if let Some(k) = &self.engine.known {
            let mut hits = Vec::new();
            k.find(v.as_bytes(), &mut hits);
            if !hits.is_empty() {
                return;
            }
        }
        out.push(Found {
            label,
            rule,
            value: super::SecretString::new(v),
        });
    }

    /// A scrubber for the whole bundle: these secrets and every value in `found`, known by value in every
    /// encoding. Its placeholders and counts start afresh.
    ///
    /// Example: [`crate::scrub::learn`].
    pub fn learn(&self, found: Vec<Found>) -> Scrubber {
        let mut options = self.options.clone();
        let mut rules: Vec<Option<String>> = Vec::new();
        for f in found.into_iter().take(MAX_LEARNT) {
            if options.known.iter().any(|k| k.value == f.value) {
                continue;
            }
            options.known.push(KnownSecret::new(f.label, f.value));
            rules.push(Some(f.rule));
        }
        let learnt: std::collections::HashMap<String, String> = options.known
            [options.known.len() - rules.len()..]
            .iter()
            .zip(rules)
            .filter_map(|(k, r)| Some((k.value.expose().to_string(), r?)))
            .collect();
        let mut s = Scrubber::new(options);
        // `new` drops short values and duplicates: each value left keeps its rule.
        s.learnt_rules = s
            .known
            .iter()
            .map(|k| learnt.get(k.value.expose()).cloned())
            .collect();
        s
    }

    /// Masks credential headers in place (an auth scheme stays): the credential by its one placeholder when it
    /// is known (the key, a learnt header value), else by a placeholder of its own; then scrubs the other
    /// header values. Every masking is counted.
    pub(crate) fn mask_headers(&self, member: &str, headers: &mut [Header]) {
        for h in headers.iter_mut() {
            let v = self.scrub_str(member, &h.value);
            if !is_credential_header(&h.name) {
                h.value = v;
                continue;
            }
            let (scheme, token) = split_scheme(&v);
            if token.is_empty() || token.starts_with("[REDACTED") {
                h.value = v;
                continue;
            }
            let lower = h.name.to_ascii_lowercase();
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let ph = self.keyed_placeholder(&mut state, "auth", token.as_bytes());
            Self::count(&mut state, member, &format!("header:{lower}"), 0);
            h.value = match scheme {
                Some(s) => format!("{s} {ph}"),
                None => ph,
            };
        }
    }
}
