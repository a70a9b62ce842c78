//! Shared. A secret-looking key at a trigger hit, what surrounds it, and how its value is read: what the key
//! recognisers ([`super::Find::Key`]) look at.

use super::class::{classify, Class};
use super::value::{is_dotted_ref, push_value};
use super::{quoted_at, skip_ws, skip_ws_nl, Find, Found, RECOGNISERS};

/// What a key recogniser says about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Not this recogniser's syntax: the next one is tried.
    Pass,
    /// This recogniser's syntax, whether or not it found a value: no other is tried.
    Done,
}

/// A value after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    /// The content of a quoted string, `[start, end)`.
    Quoted(usize, usize),
    /// An unquoted value starting here, ended by the syntax ([`bare_value`]).
    Bare(usize),
    /// Nothing that can be a value.
    Absent,
}

/// A secret-looking key in the text, and what surrounds it.
pub(crate) struct Key<'a> {
    /// The whole text.
    pub t: &'a [u8],
    /// Where the key starts.
    pub ks: usize,
    /// Where the key ends.
    pub ke: usize,
    /// What the key names.
    pub class: Class,
    /// The byte before the key; `None` at the start of the text and for a Ruby symbol (`:password`).
    pub before: Option<u8>,
    /// The key is quoted (`"password": …`): `after` is past its closing quote.
    pub quoted: bool,
    /// A quote that encloses key and value (`-H "Authorization: Bearer x"`); `\` for an escaped quote.
    pub enclosing: Option<u8>,
    /// Right after the key and its closing quote.
    pub after: usize,
    /// Where an operator would stand: past spaces, and past a Go type (`apiToken string = "..."`).
    pub op: usize,
    /// The value after an assignment operator (`=`, `:`, `=>`, `:=`, ...), when one stands at `op`.
    pub assigned: Option<Value>,
}

/// Assignment operators, longest first.
const OPS: &[&[u8]] = &[
    b":::=", b"::=", b":=", b"?=", b".=", b"+=", b"||=", b"=>", b"->", b"<-", b"=", b":",
];

impl<'a> Key<'a> {
    /// The key around the trigger hit at `s`, when it stands where a key can and names a secret. `last_key`
    /// is where the last key looked at starts, so that a key is looked at once however many triggers it holds.
    fn at_hit(t: &'a [u8], s: usize, last_key: &mut usize) -> Option<Key<'a>> {
        let (ks, ke, before) = extent(t, s, last_key)?;
        if in_value_position(t, ks, ke, before) {
            return None;
        }
        let class = classify(&t[ks..ke])?;
        let (quoted, enclosing, after) = quoting(t, ks, ke, before);
        let op = operator_position(t, after, quoted);
        let assigned = if t[op..].starts_with(b"==") {
            None
        } else {
            OPS.iter()
                .find(|o| t[op..].starts_with(o))
                .map(|o| value_at(t, op + o.len(), enclosing))
        };
        Some(Key {
            t,
            ks,
            ke,
            class,
            before,
            quoted,
            enclosing,
            after,
            op,
            assigned,
        })
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// Characters that may stand right before a key.
fn key_boundary(b: Option<u8>) -> bool {
    match b {
        None => true,
        Some(b) => matches!(
            b,
            b' ' | b'\t'
                | b'\n'
                | b'\r'
                | b'"'
                | b'\''
                | b'`'
                | b'{'
                | b','
                | b';'
                | b'?'
                | b'&'
                | b'('
                | b'<'
                | b'$'
                | b'['
                | b'\\'
                | b'|'
                | b'@'
                | b'*'
                | b'#'
                | b'/'
        ),
    }
}

/// The key's bytes around the hit at `s` and the byte before it, when it stands where a key can.
fn extent(t: &[u8], s: usize, last_key: &mut usize) -> Option<(usize, usize, Option<u8>)> {
    let mut ks = s;
    while ks > 0 && is_key_byte(t[ks - 1]) {
        ks -= 1;
    }
    if ks == *last_key && ks != usize::MAX {
        return None;
    }
    let mut ke = s;
    while ke < t.len() && is_key_byte(t[ke]) && ke < s + 128 {
        ke += 1;
    }
    *last_key = ks;
    // Keys in prose (`the token.`) end in a dot: drop trailing dots.
    while ke > ks && t[ke - 1] == b'.' {
        ke -= 1;
    }
    // A Ruby symbol (`:password => '...'`) is a key like any other.
    let symbol = ks >= 1
        && t[ks - 1] == b':'
        && (ks == 1 || matches!(t[ks - 2], b' ' | b'\t' | b'\n' | b'{' | b'(' | b','));
    if ke - ks > 100 || !(symbol || key_boundary(if ks == 0 { None } else { Some(t[ks - 1]) })) {
        return None;
    }
    let before = if ks == 0 || symbol {
        None
    } else {
        Some(t[ks - 1])
    };
    Some((ks, ke, before))
}

/// A JSON string in value position (`"role": "user"`) is not a key, unless a `"value"` follows it (our header
/// records and HAR name/value pairs).
fn in_value_position(t: &[u8], ks: usize, ke: usize, before: Option<u8>) -> bool {
    if before != Some(b'"') || ks < 2 {
        return false;
    }
    let mut p = ks - 1;
    while p > 0 && (t[p - 1] == b' ' || t[p - 1] == b'\t') {
        p -= 1;
    }
    if p > 0 && t[p - 1] == b':' && t.get(ke) == Some(&b'"') {
        let j = skip_ws_nl(t, (ke + 1).min(t.len()));
        let k = skip_ws_nl(t, (j + 1).min(t.len()));
        return !(t.get(ke) == Some(&b'"')
            && t.get(j) == Some(&b',')
            && t[k..].starts_with(b"\"value\""));
    }
    false
}

/// Whether the key is quoted, which quote encloses key and value, and where the key (and its closing quote)
/// ends.
fn quoting(t: &[u8], ks: usize, ke: usize, before: Option<u8>) -> (bool, Option<u8>, usize) {
    let Some(q @ (b'"' | b'\'' | b'`')) = before else {
        return (false, None, ke);
    };
    let escaped_quote = ks >= 2 && t[ks - 2] == b'\\' && q == b'"';
    if escaped_quote {
        if t[ke..].starts_with(b"\\\"") {
            (true, None, ke + 2)
        } else {
            (false, Some(b'\\'), ke)
        }
    } else if t.get(ke) == Some(&q) {
        (true, None, ke + 1)
    } else {
        // `-H "Authorization: Bearer x"`: the quote encloses key and value.
        (false, Some(q), ke)
    }
}

/// Past spaces after the key and, in Go, past its type: `apiToken string = "..."`.
fn operator_position(t: &[u8], after: usize, quoted: bool) -> usize {
    let i = skip_ws(t, after);
    if !quoted && t.get(i).is_some_and(|b| b.is_ascii_alphabetic()) {
        let mut j = i;
        while j < t.len() && (t[j].is_ascii_alphanumeric() || t[j] == b'[' || t[j] == b']') {
            j += 1;
        }
        let k = skip_ws(t, j);
        if t.get(k) == Some(&b'=') && t.get(k + 1) != Some(&b'=') {
            return k;
        }
    }
    i
}

/// The value that starts at `i`, past spaces; a quoted one may start on the next line (YAML `key:\n  'v'`).
/// A quote that closes the `enclosing` one ends the value, it does not open it.
pub(super) fn value_at(t: &[u8], i: usize, enclosing: Option<u8>) -> Value {
    let mut i = skip_ws(t, i);
    if matches!(t.get(i), Some(b'\n')) {
        let j = skip_ws(t, i + 1);
        if matches!(t.get(j), Some(b'"' | b'\'')) {
            i = j;
        } else {
            return Value::Absent;
        }
    }
    if i >= t.len() {
        return Value::Absent;
    }
    match quoted_at(t, i) {
        Some(_) if enclosing == Some(t[i]) => Value::Absent,
        Some((a, b, _)) => Value::Quoted(a, b),
        None => Value::Bare(i),
    }
}

/// Pushes `v`, the value of key `k`, as found by recogniser `by` when it is plausibly a secret.
pub(super) fn emit(k: &Key<'_>, v: Value, by: &'static str, out: &mut Vec<Found>) {
    match v {
        Value::Quoted(a, b) => push_value(k.t, k.class, a, b, true, by, out),
        Value::Bare(i) => bare_value(k, i, by, out),
        Value::Absent => {}
    }
}

/// An unquoted value of key `k` starting at `i`: a header's ends at its token ([`header_end`]), any other's at
/// a space or punctuation.
fn bare_value(k: &Key<'_>, i: usize, by: &'static str, out: &mut Vec<Found>) {
    let t = k.t;
    let mut j = i;
    let line_value = matches!(k.class, Class::Header | Class::Cookie);
    let limit = (i + 8192).min(t.len());
    let mut i = i;
    if line_value {
        (i, j) = header_end(t, i, limit, k.enclosing, k.class == Class::Cookie);
    }
    while !line_value && j < limit {
        let b = t[j];
        if b == b'\n' || b == b'\r' {
            break;
        }
        if let Some(q) = k.enclosing {
            if b == q {
                break;
            }
        }
        if b == b'\\' && matches!(t.get(j + 1), Some(b'n' | b'r' | b't' | b'"' | b'\'')) {
            break;
        }
        if b == b' '
            || b == b'\t'
            || matches!(
                b,
                b'"' | b'\'' | b',' | b';' | b'&' | b'<' | b'>' | b')' | b'}' | b']' | b'`'
            )
        {
            break;
        }
        j += 1;
    }
    while j > i && (t[j - 1] == b' ' || t[j - 1] == b'\t') {
        j -= 1;
    }
    if is_dotted_ref(&t[i..j]) {
        return;
    }
    push_value(t, k.class, i, j, alone_on_line(t, k.ks, j), by, out);
}

/// Auth schemes whose credential is one token (RFC 7235 `token68`).
const TOKEN_SCHEMES: &[&[u8]] = &[
    b"bearer",
    b"basic",
    b"token",
    b"apikey",
    b"key",
    b"negotiate",
    b"ntlm",
];

/// Auth schemes whose credential is a list of parameters (`Digest username="…", response="…"`).
const PARAM_SCHEMES: &[&[u8]] = &[
    b"digest",
    b"aws4-hmac-sha256",
    b"oauth",
    b"hoba",
    b"mutual",
    b"vapid",
    b"signature",
    b"hmac",
];

/// Where an unquoted header value starting at `i` starts and ends: the value takes the secret and nothing
/// else.
///
/// - After a one-token scheme (`Bearer`, `Basic`, `SSWS`, …), or with no scheme, the credential is a token:
///   it ends at a space or a separator (`,` `;` `&` a closing bracket or quote), so `status=500`, `)`, `;` and
///   `,` after it stay.
/// - A cookie list ends at the line's end, a `)`, or a space that does not follow its `;` (`sid=…; theme=…`
///   is one value, `sid=… status=500` is not).
/// - Any other scheme's parameters (`Digest …`, `AWS4-HMAC-SHA256 …`) end at `;`, `)`, or a space before a new
///   `name=` or `Name:` that is not the scheme's own.
///
/// Each also ends at a line's end, the quote around the header, and an escaped line break or quote.
fn header_end(
    t: &[u8],
    i: usize,
    limit: usize,
    enclosing: Option<u8>,
    cookie: bool,
) -> (usize, usize) {
    // A bare value ends at a quote; a parameter list holds quoted strings.
    let stop = |j: usize, quotes: bool| {
        let b = t[j];
        b == b'\n'
            || b == b'\r'
            || enclosing == Some(b)
            || (quotes && enclosing.is_none() && matches!(b, b'"' | b'\'' | b'`'))
            || (b == b'\\' && matches!(t.get(j + 1), Some(b'n' | b'r' | b't' | b'"' | b'\'')))
    };
    let word_end = (i..limit)
        .find(|&j| !(t[j].is_ascii_alphanumeric() || t[j] == b'-'))
        .unwrap_or(limit);
    let word = &t[i..word_end];
    let spaced = word_end < limit && t[word_end] == b' ';
    let is = |list: &[&[u8]]| spaced && list.iter().any(|s| word.eq_ignore_ascii_case(s));
    let mut j = i;
    if !cookie && !is(PARAM_SCHEMES) {
        // A short word of letters and a space before the token is its scheme (`Bearer`, `SSWS`, `Api-Token`),
        // unless what follows is a new field (`KEY status=500`).
        let scheme_like = !word.is_empty()
            && word.len() <= 16
            && word.iter().all(|b| b.is_ascii_alphabetic() || *b == b'-');
        let scheme = is(TOKEN_SCHEMES)
            || (spaced && scheme_like && !starts_field(t, skip_ws(t, word_end), limit));
        if scheme {
            j = skip_ws(t, word_end);
        }
        // A scheme the value reader knows stays in the value (it keeps it, and tells the class by it).
        let start = if is(TOKEN_SCHEMES) || !scheme { i } else { j };
        while j < limit && !stop(j, true) && is_token_byte(t[j]) {
            j += 1;
        }
        return (start, j);
    }
    let params = !cookie;
    while j < limit && !stop(j, !params) {
        let b = t[j];
        if b == b')' || (!cookie && b == b';') {
            break;
        }
        if b == b' ' || b == b'\t' {
            // A list goes on after its separator (`sid=…; theme=…`, `a="1", b="2"`).
            let listed = matches!(t[..j].last(), Some(b';' | b','));
            let next_is_field =
                !listed && (cookie || (j > word_end && starts_field(t, skip_ws(t, j), limit)));
            if next_is_field {
                break;
            }
        }
        j += 1;
    }
    (i, j)
}

/// A byte of a one-token credential: printable ASCII but the separators that end a value in a log line
/// (`,` `;` `&` closing brackets and quotes).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b',' | b';' | b'&' | b')' | b']' | b'}' | b'>' | b'"' | b'\'' | b'`'
        )
}

/// `name=` or `Name:` starts at `i` (a field of the log line, not the credential's own parameter).
fn starts_field(t: &[u8], i: usize, limit: usize) -> bool {
    let end = (i..limit)
        .find(|&j| !(t[j].is_ascii_alphanumeric() || matches!(t[j], b'-' | b'_' | b'.')))
        .unwrap_or(limit);
    end > i && end < limit && matches!(t[end], b'=' | b':') && t[i].is_ascii_alphabetic()
}

/// `Password=open_sesame` alone on its line (INI, env, properties) is a value, not a variable in code; also
/// when commented out (`# PASSWORD=x`) or followed by a comment (`PASSWORD=x   # note`). The key starts at
/// `ks`, the value ends at `j`.
fn alone_on_line(t: &[u8], ks: usize, j: usize) -> bool {
    let line_start = t[..ks]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let lead = t[line_start..ks].trim_ascii();
    let lead = lead.strip_prefix(b"#").map_or(lead, |l| l.trim_ascii());
    let tail = skip_ws(t, j);
    (lead.is_empty() || lead == b"export")
        && (matches!(t.get(j), None | Some(b'\n' | b'\r'))
            || (tail > j && t.get(tail) == Some(&b'#')))
}

/// At the key around the trigger hit `s`: the key recognisers in table order until one claims the key's
/// syntax; after a password, the recognisers of what goes with it.
pub(super) fn key_value(t: &[u8], s: usize, last_key: &mut usize, out: &mut Vec<Found>) {
    let Some(k) = Key::at_hit(t, s, last_key) else {
        return;
    };
    let before = out.len();
    for r in RECOGNISERS {
        if let Find::Key(f) = r.find {
            if f(&k, out) == Claim::Done {
                break;
            }
        }
    }
    if out.len() > before && out[out.len() - 1].rule == "key:password" {
        let at = out[out.len() - 1].start;
        for r in RECOGNISERS {
            if let Find::NearPassword(f) = r.find {
                f(t, at, out);
            }
        }
    }
}
