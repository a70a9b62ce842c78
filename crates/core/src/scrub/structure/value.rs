//! Shared. Whether a value found next to a key is plausibly a secret, and how it is read and reported.

use super::class::{label, rule_name, Class};
use super::{skip_ws, Found};
use crate::scrub::rules::is_placeholder_value;

/// True for a value that plausibly is a secret of the given class.
pub(super) fn plausible(class: Class, v: &[u8], quoted: bool) -> bool {
    if v.is_empty() || is_placeholder_value(v) {
        return false;
    }
    let lower: Vec<u8> = v.iter().map(|b| b.to_ascii_lowercase()).collect();
    if names_or_refers(v, &lower) {
        return false;
    }
    // A dotted reference in code or config: env.DB_PASSWORD, var.db_password, settings.API_SECRET.
    let dotted = !quoted && is_dotted_ref(v);
    if dotted {
        return false;
    }
    let ident = v
        .iter()
        .all(|b| b.is_ascii_alphabetic() || *b == b'_' || *b == b'.');
    match class {
        Class::Header | Class::Cookie => v.len() >= 3,
        Class::Password | Class::User => plausible_password(class, v, quoted, ident),
        Class::Token => plausible_token(v, &lower, ident),
    }
}

/// A value that is a word standing for a value (`null`, `changeme`, `process.env`), or a reference to one: a
/// template, a variable, a call, an ARN. `lower` is `v` in lower case.
fn names_or_refers(v: &[u8], lower: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"null",
        b"none",
        b"true",
        b"false",
        b"nil",
        b"undefined",
        b"password",
        b"secret",
        b"token",
        b"changeme",
        b"required",
        b"optional",
        b"string",
        b"bearer",
        b"basic",
        b"env",
        b"os.environ",
        b"process.env",
        b"pass",
        b"passwd",
        b"pwd",
        b"test",
        b"apikey",
        b"api_key",
        b"key",
        b"user",
        b"username",
        b"yyy",
        b"...",
    ];
    if WORDS.contains(&lower) {
        return true;
    }
    if matches!(v[0], b'$' | b'%' | b'{' | b'(' | b'@' | b'[' | b'<' | b'#')
        || v.iter().all(|b| !b.is_ascii_alphanumeric())
    {
        return true;
    }
    if lower.starts_with(b"arn:") || v.windows(2).any(|w| w == b"#{") {
        return true;
    }
    if v.contains(&b'(') && v.ends_with(b")") {
        return true; // a call: getenv("X"), os.getenv(...)
    }
    // Variable interpolation: '$PRECOMPILE_PASSWORD', "${X}", $(cmd).
    // PHP superglobals: $_ENV['X'], $_SERVER[...]. A `$_h` inside a random value is not a variable.
    v.windows(2).enumerate().any(|(k, w)| {
        w[0] == b'$'
            && (w[1].is_ascii_uppercase()
                || matches!(w[1], b'{' | b'(')
                || (w[1] == b'_'
                    && v.get(k + 2)
                        .is_none_or(|c| c.is_ascii_uppercase() || *c == b'_')))
    })
}

/// A password or user name: any value of four bytes or more that is not a variable or a sentence. `ident`:
/// `v` is made of letters, `_` and `.` only.
fn plausible_password(class: Class, v: &[u8], quoted: bool, ident: bool) -> bool {
    // A quoted password may hold a space or two (`'open sesame'`); a sentence is not a password.
    let spaces = v.iter().filter(|b| b.is_ascii_whitespace()).count();
    if v.len() < 4
        || (spaces > 0 && !(quoted && class == Class::Password && spaces <= 2 && v.len() <= 64))
    {
        return false;
    }
    // An unquoted identifier is a variable in code, not a password; an unquoted lower-case kebab name
    // (secretKey: api-key) names a secret rather than being one.
    let kebab = v.contains(&b'-')
        && v.iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    quoted || !(ident || kebab)
}

/// A token or key: a value that looks random, not a name, a number, a path or a URL. `lower` is `v` in lower
/// case; `ident`: `v` is made of letters, `_` and `.` only.
fn plausible_token(v: &[u8], lower: &[u8], ident: bool) -> bool {
    if v.len() < 8 || v.iter().any(|b| b.is_ascii_whitespace()) {
        return false;
    }
    if v.iter().all(|b| b.is_ascii_digit()) {
        return v.len() >= 20;
    }
    // Lower-case names and paths without digits (secret/mysecret, my-app.config) are not tokens.
    if v.iter()
        .all(|b| b.is_ascii_lowercase() || matches!(b, b'/' | b'-' | b'_' | b'.'))
    {
        return false;
    }
    if ident
        || v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !v.iter().any(|b| b.is_ascii_digit())
    {
        // Letters only: only random-looking mixed case counts.
        let letters = v.iter().filter(|b| b.is_ascii_alphabetic()).count().max(1);
        let upper = v.iter().filter(|b| b.is_ascii_uppercase()).count();
        let lowerc = v.iter().filter(|b| b.is_ascii_lowercase()).count();
        return v.len() >= 16 && upper * 4 >= letters && lowerc * 4 >= letters;
    }
    if made_of_short_words(v) || v.len() < 10 {
        return false;
    }
    // Paths and URLs are not tokens.
    !(v.starts_with(b"/")
        || v.starts_with(b"./")
        || lower.starts_with(b"http://")
        || lower.starts_with(b"https://"))
}

/// Names made of short words (SalesResults-1.2, DOC_Vector_5_32, host.int.example.com) are not tokens; a
/// UUID is.
fn made_of_short_words(v: &[u8]) -> bool {
    let longest = v
        .split(|b| matches!(b, b'-' | b'_' | b'.' | b':'))
        .map(|p| p.len())
        .max()
        .unwrap_or(0);
    let transitions = v
        .windows(2)
        .filter(|w| {
            w[0].is_ascii_digit() != w[1].is_ascii_digit()
                && w[0].is_ascii_alphanumeric()
                && w[1].is_ascii_alphanumeric()
        })
        .count();
    let uuid = v.len() == 36
        && v.iter().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    !uuid
        && longest <= 12
        && transitions < 4
        && v.iter().any(|b| matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// `env.DB_PASSWORD`, `var.db_password`, `settings.API_SECRET`: a reference in code or config.
pub(super) fn is_dotted_ref(v: &[u8]) -> bool {
    v.contains(&b'.')
        && v.split(|b| *b == b'.').all(|p| {
            !p.is_empty()
                && (p[0].is_ascii_alphabetic() || p[0] == b'_')
                && p.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
                && !random_part(p)
        })
        && !v.starts_with(b"eyJ")
}

/// A long run of letters and digits mixed (`ZC9Ecf4M5g9o34Q6RkzGsj0z`): random, not an identifier.
fn random_part(p: &[u8]) -> bool {
    p.len() >= 12
        && p.windows(2)
            .filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit())
            .count()
            >= 4
}

const SCHEMES: &[&str] = &[
    "bearer ",
    "basic ",
    "token ",
    "digest ",
    "aws4-hmac-sha256 ",
    "negotiate ",
    "ntlm ",
    "apikey ",
    "key ",
];

/// Pushes `[a, b)` as a value of `class` found by recogniser `by`, when it is plausibly a secret: an auth
/// scheme (`Bearer `) before a header's or a token's value stays.
pub(super) fn push_value(
    t: &[u8],
    class: Class,
    mut a: usize,
    b: usize,
    quoted: bool,
    by: &'static str,
    out: &mut Vec<Found>,
) {
    if class == Class::Header {
        for s in SCHEMES {
            let n = s.len();
            if b - a > n && t[a..a + n].eq_ignore_ascii_case(s.as_bytes()) {
                a = skip_ws(t, a + n);
                break;
            }
        }
    }
    if a >= b {
        return;
    }
    // `FlyV1 fm2_...`, `Bearer ...` under a token key: the scheme word stays.
    if class == Class::Token {
        if let Some(sp) = t[a..b].iter().position(|c| *c == b' ') {
            let word = &t[a..a + sp];
            if sp <= 12
                && word.iter().all(|c| c.is_ascii_alphanumeric())
                && !t[a + sp + 1..b].contains(&b' ')
            {
                a += sp + 1;
            }
        }
    }
    let v = &t[a..b];
    if v.starts_with(b"[REDACTED") || v.starts_with(b"[CONTENT") {
        return;
    }
    if plausible(class, v, quoted) {
        out.push(Found {
            start: a,
            end: b,
            rule: rule_name(class),
            label: label(class),
            by,
        });
    }
}
