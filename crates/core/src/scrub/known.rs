//! Shared. Layer 1: known values, in every encoded form, found whole or broken over lines.
//!
//! Each known value is searched for in a set of literal forms ([`encoded_forms`]): raw; JSON-escaped (the
//! usual escaping, `\/`, Python's `ensure_ascii`, Go's HTML-safe escaping, and every character as `\uXXXX`);
//! URL-encoded; hex (both cases); the base64 runs (both alphabets), base32 runs (both cases) and base64-of-base64
//! runs that any text holding the value in that encoding must contain, one per alignment, so a value inside a
//! longer encoded string is found too.
//!
//! A form may also be broken over lines: by a backslash continuation (`abc\⏎def`) or by a line wrap (a newline,
//! then any indentation: wrapped base64 or PEM, a terminal-wrapped log line), once or several times.
//!
//! The search ([`KnownSearch`]) does not walk an automaton over every byte. Every form is at least `min` bytes
//! long, so any occurrence contains a `q`-byte gram starting at a multiple of `stride = min - q + 1`: only
//! those grams are looked up (a bitmap, then an exact set), and the region around a hit is searched with
//! the forms' automaton. For breaks, only a newline whose line ends with a gram of some form, or whose next
//! line starts with one, is looked at: the lines around it are joined and searched.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use base64::Engine as _;
use serde::Serialize;

use super::KnownSecret;

/// How a secret was encoded where it was found.
///
/// Example: [`crate::scrub::Scrubber::find_leaks`].
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
    /// JSON string escaping: the usual one, with `\/`, or with some characters as `\uXXXX` (non-ASCII ones as
    /// Python's `ensure_ascii` does, `<`, `>` and `&` as Go does).
    Json,
    /// JSON with every character escaped as `\uXXXX` (lower- or upper-case hex digits).
    JsonUnicode,
    /// Hexadecimal, lower- or upper-case.
    Hex,
    /// Base32 (RFC 4648 alphabet, upper- or lower-case, padded or not), any alignment.
    Base32,
    /// Base64 of base64 text that holds the value (either alphabet at both levels), any alignment at both.
    Base64OfBase64,
    /// The value, or any of its forms, split over lines by backslash continuations (`abc\⏎def`).
    LineContinuation,
    /// The value, or any of its forms, broken over lines by line breaks (and indentation): wrapped base64 or
    /// PEM, a terminal-wrapped log line.
    LineWrap,
    /// The value, or any of its forms, interrupted by terminal escape sequences (a colour change `ESC[31m`
    /// inside it): the terminal shows it whole.
    Ansi,
}

impl Encoding {
    /// The lower-case name.
    ///
    /// Example: [`crate::scrub::Scrubber::find_leaks`].
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Base64 => "base64",
            Encoding::Base64Url => "base64url",
            Encoding::Url => "url",
            Encoding::Json => "json",
            Encoding::JsonUnicode => "json_unicode",
            Encoding::Hex => "hex",
            Encoding::Base32 => "base32",
            Encoding::Base64OfBase64 => "base64_of_base64",
            Encoding::LineContinuation => "line_continuation",
            Encoding::LineWrap => "line_wrap",
            Encoding::Ansi => "ansi",
        }
    }
}

/// The forms in which a secret is searched for: raw, JSON-escaped (several ways), URL-encoded, hex, and the
/// base64, base32 and base64-of-base64 runs that any such text containing the secret must contain (one per
/// alignment, both alphabets or cases). Forms shorter than 4 bytes are left out; each form appears once.
///
/// ```
/// use cohere_bundle_core::scrub::{encoded_forms, Encoding};
/// let forms = encoded_forms("q7Vd2LkP9sXw4RtZ");
/// assert!(forms.contains(&("q7Vd2LkP9sXw4RtZ".to_string(), Encoding::Raw)));
/// assert!(forms.iter().any(|(_, e)| *e == Encoding::Hex));
/// ```
pub fn encoded_forms(secret: &str) -> Vec<(String, Encoding)> {
    let bytes = secret.as_bytes();
    let mut forms = vec![(secret.to_string(), Encoding::Raw)];
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = &json[1..json.len().saturating_sub(1)];
    forms.push((json.to_string(), Encoding::Json));
    forms.push((json.replace('/', "\\/"), Encoding::Json));
    let non_ascii = |c: char| !c.is_ascii();
    let html = |c: char| matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
    forms.push((json_escape(secret, non_ascii, false), Encoding::Json));
    forms.push((json_escape(secret, html, false), Encoding::Json));
    forms.push((
        json_escape(secret, |c| non_ascii(c) || html(c), false),
        Encoding::Json,
    ));
    forms.push((json_escape(secret, |_| true, false), Encoding::JsonUnicode));
    forms.push((json_escape(secret, |_| true, true), Encoding::JsonUnicode));
    const URL_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let url = percent_encoding::utf8_percent_encode(secret, URL_SET).to_string();
    let all = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    for u in [url.clone(), url.replace("%20", "+"), all] {
        // Percent-encoding's hex digits in either case (`%2F`, `%2f`).
        forms.push((lower_percent(&u), Encoding::Url));
        forms.push((u, Encoding::Url));
    }
    let hex = hex::encode(bytes);
    forms.push((hex.to_ascii_uppercase(), Encoding::Hex));
    forms.push((hex, Encoding::Hex));
    for run in base64_runs(bytes) {
        let url_safe = to_url_safe(&run);
        for inner in [&run, &url_safe] {
            for outer in base64_runs(inner.as_bytes()) {
                forms.push((to_url_safe(&outer), Encoding::Base64OfBase64));
                forms.push((outer, Encoding::Base64OfBase64));
            }
        }
        forms.push((run, Encoding::Base64));
        forms.push((url_safe, Encoding::Base64Url));
    }
    for run in base32_runs(bytes) {
        forms.push((run.to_ascii_lowercase(), Encoding::Base32));
        forms.push((run, Encoding::Base32));
    }
    forms.retain(|(f, _)| f.len() >= 4);
    // Stable: where two encodings give the same text, the one pushed first (raw before JSON) names it.
    forms.sort_by(|a, b| a.0.cmp(&b.0));
    forms.dedup_by(|a, b| a.0 == b.0);
    forms
}

/// `s` with the hex digits of its `%XX` escapes in lower case.
fn lower_percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut left = 0;
    for c in s.chars() {
        if c == '%' {
            left = 2;
            out.push(c);
        } else if left > 0 {
            left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn to_url_safe(b64: &str) -> String {
    b64.replace('+', "-").replace('/', "_")
}

/// JSON string escaping with the characters `escape` selects written as `\uXXXX` (UTF-16 code units).
fn json_escape(s: &str, escape: impl Fn(char) -> bool, upper: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if escape(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = if upper {
                    write!(out, "\\u{u:04X}")
                } else {
                    write!(out, "\\u{u:04x}")
                };
            }
            continue;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
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

/// RFC 4648 base32 without padding.
pub(super) fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The base32 characters fully determined by `bytes` when they start at each of the five alignments.
fn base32_runs(bytes: &[u8]) -> Vec<String> {
    let mut runs = Vec::with_capacity(5);
    for k in 0..5usize {
        let mut buf = vec![0u8; k];
        buf.extend_from_slice(bytes);
        let enc = base32(&buf);
        let start = (8 * k).div_ceil(5);
        let end = (8 * (k + bytes.len())) / 5;
        if end > start + 3 {
            runs.push(enc[start..end].to_string());
        }
    }
    runs
}

/// A known value found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KnownHit {
    /// Byte range in the text (for a value broken over lines, from its first byte to its last, breaks included).
    pub start: usize,
    pub end: usize,
    /// Index of the secret.
    pub secret: usize,
    pub encoding: Encoding,
}

/// A hasher for grams (already well spread by a multiply): one multiply and a fold.
#[derive(Default)]
struct GramHasher(u64);

impl Hasher for GramHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }
    fn write_u64(&mut self, g: u64) {
        let x = g.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
}

const GRAM_MUL: u64 = 0xD6E8_FEB8_6659_FD93;

/// The known values' search: every form whole, and every form broken over lines.
pub(super) struct KnownSearch {
    /// Every form, leftmost-longest.
    ac: AhoCorasick,
    /// Pattern index → (secret index, encoding).
    meta: Vec<(usize, Encoding)>,
    /// Gram length in bytes (3..=8) and the mask that keeps that many low bytes of a little-endian load.
    q: usize,
    mask: u64,
    /// Distance between looked-up grams: `min_form - q + 1`.
    stride: usize,
    /// The longest form, in bytes.
    pub(super) max_form: usize,
    /// One bit per hashed gram of any form (`64 - shift` bits of hash).
    bitmap: Vec<u64>,
    shift: u32,
    /// Every gram of every form, exactly.
    grams: HashSet<u64, BuildHasherDefault<GramHasher>>,
}

impl KnownSearch {
    /// The search for `known` (values shorter than [`super::MIN_SECRET_LEN`] are expected to be left out by the
    /// caller); `None` when there is nothing to search for.
    pub(super) fn new(known: &[KnownSecret]) -> Option<KnownSearch> {
        let mut forms = Vec::new();
        let mut meta = Vec::new();
        for (i, k) in known.iter().enumerate() {
            for (form, enc) in encoded_forms(k.value.expose()) {
                forms.push(form);
                meta.push((i, enc));
            }
        }
        let min_form = forms.iter().map(String::len).min()?;
        let max_form = forms.iter().map(String::len).max().unwrap_or(0);
        // Long grams are selective; short ones keep the stride positive and let a break in a short form be
        // seen from one side (a form of length n broken anywhere has a whole gram on one side if n >= 2q - 1).
        let q = (min_form / 3).clamp(3, 8).min(min_form.div_ceil(2)).max(1);
        let mask = if q == 8 { !0 } else { (1u64 << (8 * q)) - 1 };
        let mut grams: HashSet<u64, BuildHasherDefault<GramHasher>> = HashSet::default();
        for f in &forms {
            let b = f.as_bytes();
            for i in 0..=b.len() - q {
                grams.insert(gram(b, i, mask));
            }
        }
        let bits = (grams.len() * 32)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 24);
        let shift = 64 - bits.trailing_zeros();
        let mut bitmap = vec![0u64; bits / 64];
        for &g in &grams {
            let h = (g.wrapping_mul(GRAM_MUL) >> shift) as usize;
            bitmap[h >> 6] |= 1 << (h & 63);
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&forms)
            .expect("literal patterns always build");
        Some(KnownSearch {
            ac,
            meta,
            q,
            mask,
            stride: min_form - q + 1,
            max_form,
            bitmap,
            shift,
            grams,
        })
    }

    /// True when the gram is a gram of some form.
    #[inline(always)]
    fn has(&self, g: u64) -> bool {
        let h = (g.wrapping_mul(GRAM_MUL) >> self.shift) as usize;
        (self.bitmap[h >> 6] >> (h & 63)) & 1 != 0 && self.grams.contains(&g)
    }

    /// Every known value in `t`, whole or broken over lines, appended to `out` sorted by start.
    pub(super) fn find(&self, t: &[u8], out: &mut Vec<KnownHit>) {
        let from = out.len();
        self.find_whole(t, out);
        let whole = out.len();
        self.find_broken(t, out);
        self.find_through_escapes(t, out);
        if out.len() > whole {
            out[from..].sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        }
    }

    /// Forms interrupted by terminal escape sequences: the text without them (CSI `ESC [ … final`, OSC
    /// `ESC ] … BEL` or `ESC \`, and two-byte `ESC x`) is searched, and a match that spans a removed sequence
    /// is reported over the original bytes, sequences included.
    fn find_through_escapes(&self, t: &[u8], out: &mut Vec<KnownHit>) {
        if memchr::memchr(0x1b, t).is_none() {
            return;
        }
        let mut plain: Vec<u8> = Vec::with_capacity(t.len());
        let mut at: Vec<usize> = Vec::with_capacity(t.len());
        let mut i = 0;
        while i < t.len() {
            if t[i] == 0x1b {
                i = escape_end(t, i);
                continue;
            }
            plain.push(t[i]);
            at.push(i);
            i += 1;
        }
        for m in self.ac.find_iter(&plain) {
            let (start, end) = (at[m.start()], at[m.end() - 1] + 1);
            if end - start == m.end() - m.start() {
                continue; // whole: found by `find_whole`
            }
            let (secret, _) = self.meta[m.pattern().as_usize()];
            out.push(KnownHit {
                start,
                end,
                secret,
                encoding: Encoding::Ansi,
            });
        }
    }

    /// Forms written whole: the grams at every `stride` bytes are looked up; the region a hit could belong to
    /// (merged with the previous one when they touch) is searched with the automaton.
    fn find_whole(&self, t: &[u8], out: &mut Vec<KnownHit>) {
        let q = self.q;
        if t.len() < q {
            return;
        }
        let reach = self.max_form;
        let mut region: Option<(usize, usize)> = None;
        let last = t.len() - q;
        let mut j = 0;
        while j <= last {
            if self.has(gram(t, j, self.mask)) {
                let lo = (j + q).saturating_sub(reach);
                let hi = (j + reach).min(t.len());
                region = match region {
                    Some((a, b)) if lo <= b => Some((a, hi)),
                    Some(r) => {
                        self.search_region(t, r, out);
                        Some((lo, hi))
                    }
                    None => Some((lo, hi)),
                };
            }
            j += self.stride;
        }
        if let Some(r) = region {
            self.search_region(t, r, out);
        }
    }

    fn search_region(&self, t: &[u8], (lo, hi): (usize, usize), out: &mut Vec<KnownHit>) {
        for m in self.ac.find_iter(Input::new(t).range(lo..hi)) {
            let (secret, encoding) = self.meta[m.pattern().as_usize()];
            out.push(KnownHit {
                start: m.start(),
                end: m.end(),
                secret,
                encoding,
            });
        }
    }

    /// Forms broken over lines. A newline is looked at only when the text before its break ends with a gram of
    /// some form, or the text after it (past any indentation) starts with one.
    fn find_broken(&self, t: &[u8], out: &mut Vec<KnownHit>) {
        let q = self.q;
        for p in memchr::memchr_iter(b'\n', t) {
            let (bs, be) = break_around(t, p);
            if be >= t.len() || t[be] == b'\n' || bs == 0 {
                continue;
            }
            let left = bs >= q && self.has(gram(t, bs - q, self.mask));
            if left || (be + q <= t.len() && self.has(gram(t, be, self.mask))) {
                self.search_across(t, bs, be, out);
            }
        }
    }

    /// Joins the line ending at the break `bs..be` with the lines after it (each break removed, up to the
    /// longest form's length past this one, stopping at an empty line) and reports the matches that cross
    /// this break. A match crossing several breaks is reported from its first one only: the text before this
    /// break is taken from its own line alone.
    fn search_across(&self, t: &[u8], bs: usize, be: usize, out: &mut Vec<KnownHit>) {
        let reach = self.max_form.saturating_sub(1);
        let floor = bs.saturating_sub(reach);
        let lo = memchr::memrchr(b'\n', &t[floor..bs]).map_or(floor, |p| floor + p + 1);
        let mut joined: Vec<u8> = Vec::with_capacity(bs - lo + reach + 8);
        let mut at: Vec<usize> = Vec::with_capacity(joined.capacity());
        joined.extend_from_slice(&t[lo..bs]);
        at.extend(lo..bs);
        let cross = joined.len();
        // (joined index of a break, whether it is a backslash continuation)
        let mut breaks: Vec<(usize, bool)> = vec![(cross, t[bs] == b'\\')];
        let mut i = be;
        let mut piece_start = be;
        while i < t.len() && joined.len() < cross + reach {
            if t[i] == b'\n' {
                let (bs2, be2) = break_around(t, i);
                // A break right after another one (an empty line) ends the value.
                if bs2 <= piece_start {
                    break;
                }
                let keep = joined.len() - (i - bs2);
                joined.truncate(keep);
                at.truncate(keep);
                breaks.push((keep, t[bs2] == b'\\'));
                i = be2;
                piece_start = be2;
                continue;
            }
            joined.push(t[i]);
            at.push(i);
            i += 1;
        }
        for m in self.ac.find_iter(&joined) {
            if m.start() >= cross {
                break;
            }
            if m.end() <= cross {
                continue;
            }
            let (secret, _) = self.meta[m.pattern().as_usize()];
            let continued = breaks
                .iter()
                .any(|&(p, c)| c && p > m.start() && p < m.end());
            out.push(KnownHit {
                start: at[m.start()],
                end: at[m.end() - 1] + 1,
                secret,
                encoding: if continued {
                    Encoding::LineContinuation
                } else {
                    Encoding::LineWrap
                },
            });
        }
    }
}

/// The end of the terminal escape sequence that starts with the `ESC` at `t[i]`.
fn escape_end(t: &[u8], i: usize) -> usize {
    match t.get(i + 1) {
        Some(b'[') => {
            let mut j = i + 2;
            while j < t.len() && (0x20..=0x3f).contains(&t[j]) {
                j += 1;
            }
            (j + 1).min(t.len())
        }
        Some(b']') => {
            let mut j = i + 2;
            while j < t.len() && j < i + 512 {
                if t[j] == 0x07 {
                    return j + 1;
                }
                if t[j] == 0x1b && t.get(j + 1) == Some(&b'\\') {
                    return j + 2;
                }
                j += 1;
            }
            j
        }
        Some(_) => i + 2,
        None => i + 1,
    }
}

/// The `q` bytes at `t[i..]` (the caller makes sure they are there) as a little-endian integer.
#[inline(always)]
fn gram(t: &[u8], i: usize, mask: u64) -> u64 {
    match t.get(i..i + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")) & mask,
        None => {
            let mut b = [0u8; 8];
            let n = (t.len() - i).min(8);
            b[..n].copy_from_slice(&t[i..i + n]);
            u64::from_le_bytes(b) & mask
        }
    }
}

/// The line break at the newline `t[p]`: from its start (a `\` continuation and a `\r` before the newline
/// belong to it) to its end (the indentation, spaces and tabs, of the next line).
pub(super) fn break_around(t: &[u8], p: usize) -> (usize, usize) {
    let mut s = p;
    if s > 0 && t[s - 1] == b'\r' {
        s -= 1;
    }
    if s > 0 && t[s - 1] == b'\\' {
        s -= 1;
    }
    let mut e = p + 1;
    while e < t.len() && (t[e] == b' ' || t[e] == b'\t') {
        e += 1;
    }
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::{ScrubOptions, Scrubber};

    const KEY: &str = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7d";
    const PH: &str = "[REDACTED:cohere-key:1]";

    fn scrubber_for(value: &str) -> Scrubber {
        Scrubber::new(ScrubOptions {
            known: vec![KnownSecret::new("cohere-key", value)],
            redact_content: false,
        })
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn b64url(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// RFC 4648 base32 with `=` padding.
    fn base32_padded(bytes: &[u8]) -> String {
        let mut s = base32(bytes);
        while !s.len().is_multiple_of(8) {
            s.push('=');
        }
        s
    }

    /// Scrubs `before{encoded}after` for `value`; asserts that the encoded form is replaced by the one
    /// placeholder with the text around it kept (`kept_before`/`kept_after` are what must stay of it: all of
    /// it for forms found exactly, the neighbours' characters for base-N runs), and that the final check finds
    /// `encoding` in the input and nothing in the output.
    #[track_caller]
    fn assert_found(value: &str, encoded: &str, encoding: Encoding) {
        let s = scrubber_for(value);
        let input = format!("<<before {encoded} after>>\n");
        let leaks = s.find_leaks("m", input.as_bytes());
        assert!(
            leaks.iter().any(|l| l.encoding == encoding),
            "{encoding:?} not found in {input:?}: {leaks:?}"
        );
        let out = s.scrub_str("m", &input);
        assert!(
            out.starts_with("<<before ") && out.ends_with(" after>>\n"),
            "{out:?}"
        );
        assert_eq!(out.matches(PH).count(), 1, "{out:?}");
        assert!(!out.contains(value) && !out.contains(encoded), "{out:?}");
        assert!(s.find_leaks("m", out.as_bytes()).is_empty(), "{out:?}");
        assert_eq!(out.lines().count(), input.lines().count(), "{out:?}");
        let rule = format!("known:cohere-key:{}", encoding.as_str());
        assert!(
            s.report().members["m"].contains_key(&rule),
            "{:?}",
            s.report()
        );
    }

    #[test]
    fn percent_encoding_in_either_case() {
        let value = "pa/ss+w0rd=Zq8rT2vX9k";
        assert_found(value, "pa%2Fss%2Bw0rd%3DZq8rT2vX9k", Encoding::Url);
        assert_found(value, "pa%2fss%2bw0rd%3dZq8rT2vX9k", Encoding::Url);
    }

    #[test]
    fn interrupted_by_terminal_escape_sequences() {
        let (a, b) = KEY.split_at(17);
        for esc in [
            "\x1b[31m",
            "\x1b[0m\x1b[1;32m",
            "\x1b]8;;http://x\x07",
            "\x1b]0;t\x1b\\",
        ] {
            assert_found(KEY, &format!("{a}{esc}{b}"), Encoding::Ansi);
        }
        // Escapes around a whole value are not an interruption: it is found raw.
        let s = scrubber_for(KEY);
        let out = s.scrub_str("m", &format!("\x1b[31m{KEY}\x1b[0m"));
        assert_eq!(out, format!("\x1b[31m{PH}\x1b[0m"));
    }

    #[test]
    fn hex_in_both_cases_is_replaced_exactly() {
        let lower = hex::encode(KEY);
        assert_found(KEY, &lower, Encoding::Hex);
        assert_found(KEY, &lower.to_ascii_uppercase(), Encoding::Hex);
        let out = scrubber_for(KEY).scrub_str("m", &format!("x={lower};"));
        assert_eq!(out, format!("x={PH};"));
    }

    #[test]
    fn base32_at_every_alignment_padded_or_not_in_both_cases() {
        for pre in ["", "a", "ab", "abc", "abcd"] {
            for post in ["", "!", "!!"] {
                let data = format!("{pre}{KEY}{post}");
                let padded = base32_padded(data.as_bytes());
                assert_found(KEY, &padded, Encoding::Base32);
                assert_found(KEY, padded.trim_end_matches('='), Encoding::Base32);
                assert_found(KEY, &padded.to_ascii_lowercase(), Encoding::Base32);
            }
        }
        // Exactly the value: only the padding is left.
        let out = scrubber_for(KEY).scrub_str("m", &format!("v={}", base32_padded(KEY.as_bytes())));
        assert!(out.starts_with(&format!("v={PH}")), "{out}");
    }

    #[test]
    fn base64_of_base64_at_every_alignment_of_both_levels() {
        for pre in ["", "u", "us"] {
            let inner = b64(format!("{pre}{KEY}").as_bytes());
            let inner_url = b64url(format!("{pre}{KEY}:x").as_bytes());
            for outer_pre in ["", "{", "{\""] {
                for i in [&inner, &inner_url] {
                    let data = format!("{outer_pre}{i}\"}}");
                    assert_found(KEY, &b64(data.as_bytes()), Encoding::Base64OfBase64);
                    assert_found(KEY, &b64url(data.as_bytes()), Encoding::Base64OfBase64);
                }
            }
        }
    }

    #[test]
    fn json_with_every_character_escaped() {
        let lower: String = KEY
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let upper: String = KEY
            .chars()
            .map(|c| format!("\\u{:04X}", c as u32))
            .collect();
        assert_found(KEY, &lower, Encoding::JsonUnicode);
        assert_found(KEY, &upper, Encoding::JsonUnicode);
        // Outside the ASCII range, by UTF-16 units (a surrogate pair for U+1F511).
        let value = "clé-🔑-secrète";
        let units: String = value
            .encode_utf16()
            .map(|u| format!("\\u{u:04x}"))
            .collect();
        assert_found(value, &units, Encoding::JsonUnicode);
    }

    #[test]
    fn json_with_some_characters_escaped() {
        // Go escapes <, > and & for HTML; Python's ensure_ascii escapes non-ASCII.
        let value = "p<a>ss&wörd-42";
        assert_found(value, "p\\u003ca\\u003ess\\u0026wörd-42", Encoding::Json);
        assert_found(value, "p<a>ss&w\\u00f6rd-42", Encoding::Json);
        assert_found(
            value,
            "p\\u003ca\\u003ess\\u0026w\\u00f6rd-42",
            Encoding::Json,
        );
        let via_python_style: String = serde_json::to_string(&serde_json::json!({ "k": value }))
            .expect("json")
            .replace('ö', "\\u00f6");
        let out = scrubber_for(value).scrub_str("m", &via_python_style);
        assert_eq!(out, format!("{{\"k\":\"{PH}\"}}"));
    }

    #[test]
    fn split_by_backslash_continuation_at_every_position() {
        for i in 1..KEY.len() {
            for nl in ["\n", "\r\n"] {
                for indent in ["", "    ", "\t"] {
                    let split = format!("{}\\{nl}{indent}{}", &KEY[..i], &KEY[i..]);
                    assert_found(KEY, &split, Encoding::LineContinuation);
                    let out = scrubber_for(KEY).scrub_str("m", &format!("k={split} end"));
                    assert_eq!(out, format!("k={PH}\\{nl}{indent} end"), "split at {i}");
                }
            }
        }
    }

    #[test]
    fn split_by_line_wrap_at_every_position() {
        for i in 1..KEY.len() {
            for nl in ["\n", "\r\n"] {
                for indent in ["", "  ", " \t "] {
                    let split = format!("{}{nl}{indent}{}", &KEY[..i], &KEY[i..]);
                    assert_found(KEY, &split, Encoding::LineWrap);
                }
            }
        }
        // A terminal-wrapped log line: the placeholder goes where the value started, the break stays.
        let line = format!(
            "2026-11-24 ERROR auth failed for key {}\n{} (401)\nnext line\n",
            &KEY[..13],
            &KEY[13..]
        );
        let out = scrubber_for(KEY).scrub_str("m", &line);
        assert_eq!(
            out,
            format!("2026-11-24 ERROR auth failed for key {PH}\n (401)\nnext line\n")
        );
    }

    #[test]
    fn wrapped_base64_and_hex_over_several_lines() {
        // A long value: base64 wrapped at 16 columns (several breaks in one value), hex wrapped with indentation.
        let value = format!("{KEY}{KEY}");
        let enc = b64(format!("Authorization: Bearer {value}").as_bytes());
        let wrapped: Vec<&str> = enc
            .as_bytes()
            .chunks(16)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        let text = format!(
            "-----BEGIN BLOB-----\n{}\n-----END BLOB-----\n",
            wrapped.join("\n")
        );
        let s = scrubber_for(&value);
        let leaks = s.find_leaks("m", text.as_bytes());
        assert!(
            leaks.iter().any(|l| l.encoding == Encoding::LineWrap),
            "{leaks:?}"
        );
        let out = s.scrub_str("m", &text);
        assert!(s.find_leaks("m", out.as_bytes()).is_empty(), "{out}");
        assert_eq!(out.lines().count(), text.lines().count(), "{out}");
        assert!(
            out.starts_with("-----BEGIN BLOB-----\n") && out.ends_with("\n-----END BLOB-----\n")
        );

        let hex = hex::encode(&value);
        let text = format!(
            "dump:\n    {}\n    {}\n    {}\n",
            &hex[..50],
            &hex[50..100],
            &hex[100..]
        );
        let out = s.scrub_str("m", &text);
        assert_eq!(out, format!("dump:\n    {PH}\n    \n    \n"));
    }

    #[test]
    fn text_that_only_looks_like_a_break_is_left_alone() {
        let s = scrubber_for(KEY);
        for text in [
            // A line ending with a prefix of the key, the next line not going on with it.
            format!("{}\nsomething else\n", &KEY[..20]),
            // The rest of the key after an empty line is not the same value.
            format!("{}\n\n{}\n", &KEY[..20], &KEY[20..]),
            // Prefix and suffix the wrong way round.
            format!("{}\n{}\n", &KEY[20..], &KEY[..20]),
            // Lines of base64-looking text that are not the key.
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\nYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo=\n"
                .to_string(),
        ] {
            assert_eq!(s.scrub_str("m", &text), text);
            assert!(s.find_leaks("m", text.as_bytes()).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn broken_values_are_found_across_stream_rounds() {
        // Every newline of a few MiB of text breaks the key, so the rounds' cuts (at a newline) fall inside
        // broken values; streaming must give the same bytes as scrubbing the whole text.
        let s = scrubber_for(KEY);
        let mut text = String::new();
        let mut i = 0usize;
        while text.len() < (5 << 20) / 2 {
            let at = 1 + i % (KEY.len() - 1);
            let sep = ["\n", "\\\n", "\r\n  "][i % 3];
            text.push_str(&format!(
                "{} {}{sep}",
                "lorem ipsum".repeat(i % 40),
                &KEY[..at]
            ));
            text.push_str(&KEY[at..]);
            i += 1;
        }
        text.push('\n');
        let mut streamed = Vec::new();
        s.scrub_stream("log", text.as_bytes(), &mut streamed)
            .expect("scrub");
        let whole = s.scrub_bytes("again", text.as_bytes());
        assert!(
            streamed == whole,
            "streaming and whole-text scrubbing agree"
        );
        assert!(s.find_leaks("log", &streamed).is_empty());
        let out = String::from_utf8(streamed).expect("utf-8");
        assert_eq!(out.matches(PH).count(), i);
        assert_eq!(out.lines().count(), text.lines().count());
    }

    #[test]
    fn scrub_command_with_content_redaction_finds_broken_values_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        let text = format!(
            "{{\"text\": \"a prompt\", \"api_key\": \"{KEY}\"}}\nexport KEY={}\\\n{}\nwrapped: {}\n  {}\n",
            &KEY[..11],
            &KEY[11..],
            &KEY[..30],
            &KEY[30..]
        );
        std::fs::write(&log, &text).expect("write");
        let mut out = Vec::new();
        let rep = crate::scrub::scrub_command(
            std::slice::from_ref(&log),
            vec![KnownSecret::new("cohere-key", KEY)],
            true,
            &mut out,
            None,
        )
        .expect("scrub");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            !out.contains(&KEY[..11]) && !out.contains(&KEY[30..]),
            "{out}"
        );
        assert!(!out.contains("a prompt"), "content redacted: {out}");
        assert!(
            out.ends_with(&format!("export KEY={PH}\\\n\nwrapped: {PH}\n  \n")),
            "{out}"
        );
        let m = &rep.members[&log.display().to_string()];
        assert!(
            m.contains_key("known:cohere-key:line_continuation")
                && m.contains_key("known:cohere-key:line_wrap"),
            "{m:?}"
        );
    }

    #[test]
    fn short_values_stay_out() {
        let s = scrubber_for("abc12");
        let text = format!("{}\n{}\n", hex::encode("abc12"), "abc\n12");
        assert_eq!(s.scrub_str("m", &text), text);
    }

    #[test]
    fn every_form_is_at_least_as_long_as_the_gram_and_found_alone() {
        // The search looks at grams every `stride` bytes: each form written alone, at every offset in a
        // filler, must be found.
        for value in ["hunt3r", "s3cr3t/pa+ss\"wo\\rd&x=1 y~", KEY] {
            let s = scrubber_for(value);
            for (form, enc) in encoded_forms(value) {
                for pad in 0..9 {
                    let text = format!("{}{form}|", ".".repeat(pad));
                    let leaks = s.find_leaks("m", text.as_bytes());
                    assert!(!leaks.is_empty(), "{enc:?} form {form:?} at offset {pad}");
                }
            }
        }
    }
}
