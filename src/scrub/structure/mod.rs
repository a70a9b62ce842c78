//! Layer 2: secrets found by where they sit, not by their shape.
//!
//! Secret-looking keys in JSON, YAML, INI, env files and code (`api_key`, `token`, `password`, ...), HTTP header
//! lines and our JSON header records (`{"name": "Authorization", "value": "..."}`), HAR cookies, URL userinfo
//! and credential query parameters, and curl `-u`. Each is found from a literal hit by local parsing, so the
//! cost is proportional to the number of hits, not to the input size.

use super::rules::is_placeholder_value;

/// Words whose occurrence starts a structural check (matched case-insensitively).
pub(crate) const TRIGGERS: &[&str] = &[
    "pass", "pwd", "secret", "token", "key", "auth", "cookie", "cred", "session", "sig", "private",
    "://", "-u", "--user", "-p ", "user", "login", "_pat",
];

/// What a structural match is, for the report and the placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub start: usize,
    pub end: usize,
    /// Report rule name, e.g. `key:password`.
    pub rule: &'static str,
    /// Placeholder label.
    pub label: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Passwords and secrets: any non-trivial value.
    Password,
    /// Tokens and keys: a value that looks random.
    Token,
    /// A header whose whole value is secret; the auth scheme is kept.
    Header,
    /// A cookie header.
    Cookie,
    /// A user name next to credentials: redacted like a password (it is personal data and half a login).
    User,
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// Splits a key into lower-case words: on punctuation and camelCase boundaries.
#[cfg(test)]
fn words(key: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &b) in key.iter().enumerate() {
        if !b.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if b.is_ascii_uppercase() && !cur.is_empty() {
            let prev = key[i - 1];
            let next_lower = key.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push(b.to_ascii_lowercase() as char);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const HEADER_KEYS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-amz-security-token",
    "x-auth-token",
    "x-goog-api-key",
    "x-access-token",
    "x-csrf-token",
    "x-xsrf-token",
];

/// Words after which a final `key` is not a credential.
const NOT_SECRET_KEY_PREFIX: &[&str] = &[
    "public",
    "primary",
    "foreign",
    "sort",
    "partition",
    "cache",
    "idempotency",
    "hot",
    "shortcut",
    "row",
    "lookup",
    "hash",
    "map",
    "dict",
    "object",
    "index",
    "unique",
    "composite",
    "routing",
    "message",
    "dedup",
    "group",
    "join",
    "sign",
    "ssh",
    "gpg",
    "pgp",
    "encryption",
];

/// Last words that make a key a name for something other than the secret (an id, a count, a path).
const NOT_SECRET_LAST: &[&str] = &[
    "id",
    "ids",
    "name",
    "names",
    "type",
    "count",
    "url",
    "uri",
    "path",
    "file",
    "length",
    "len",
    "size",
    "limit",
    "expiry",
    "expires",
    "expiration",
    "at",
    "version",
    "prefix",
    "hint",
    "field",
    "header",
    "env",
    "var",
    "ttl",
    "timeout",
    "format",
    "kind",
    "mode",
    "enabled",
    "required",
    "endpoint",
    "host",
    "port",
    "user",
    "username",
    "policy",
    "provider",
    "label",
    "location",
    "region",
    "scope",
    "scopes",
    "pattern",
    "regex",
    "len",
    "min",
    "max",
    "reset",
    "usage",
    "storage",
    "store",
    "manager",
    "service",
    "class",
    "tokens",
    "stdin",
];

fn classify(key: &[u8]) -> Option<Class> {
    if key.len() > 100 {
        return None;
    }
    let mut buf = [0u8; 100];
    let lower = &mut buf[..key.len()];
    lower.copy_from_slice(key);
    lower.make_ascii_lowercase();
    let lower: &str = std::str::from_utf8(lower).ok()?;
    if lower.ends_with("tokens") || lower.ends_with("_id") {
        return None;
    }
    let trimmed = lower.trim_start_matches('-');
    if trimmed == "cookie" || trimmed == "set-cookie" || trimmed == "cookies" {
        return Some(Class::Cookie);
    }
    if HEADER_KEYS.contains(&trimmed) {
        return Some(Class::Header);
    }
    // Word boundaries (punctuation and camelCase) as ranges into `lower`.
    let mut ranges = [(0usize, 0usize); 24];
    let mut nw = 0usize;
    let mut cur: Option<usize> = None;
    for (i, &b) in key.iter().enumerate() {
        if !b.is_ascii_alphanumeric() {
            if let Some(st) = cur.take() {
                if nw < ranges.len() {
                    ranges[nw] = (st, i);
                    nw += 1;
                }
            }
            continue;
        }
        if let Some(st) = cur {
            if b.is_ascii_uppercase() {
                let prev = key[i - 1];
                let next_lower = key.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                if prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next_lower)
                {
                    if nw < ranges.len() {
                        ranges[nw] = (st, i);
                        nw += 1;
                    }
                    cur = Some(i);
                }
            }
        } else {
            cur = Some(i);
        }
    }
    if let Some(st) = cur {
        if nw < ranges.len() {
            ranges[nw] = (st, key.len());
            nw += 1;
        }
    }
    let w: Vec<&str> = ranges[..nw].iter().map(|&(a, b)| &lower[a..b]).collect();
    let last = *w.last()?;
    if w.iter().any(|x| *x == "public" || *x == "publishable") {
        return None;
    }
    if NOT_SECRET_LAST.contains(&last) {
        return None;
    }
    if ["user", "username", "login", "uname"].contains(&last) && w.len() <= 3 {
        return Some(Class::User);
    }
    let strong = w.iter().any(|x| {
        x.contains("password")
            || x.contains("passwd")
            || x.contains("secret")
            || x.contains("passphrase")
            || *x == "pwd"
            || *x == "pass"
            || *x == "pw"
            || x.ends_with("credential")
            || x.ends_with("credentials")
            || *x == "creds"
    });
    if strong {
        return Some(Class::Password);
    }
    let tokenish = w.iter().enumerate().any(|(i, x)| {
        let x = *x;
        let prev = if i > 0 { w[i - 1] } else { "" };
        x.ends_with("token")
            || (x == "pat" && i + 1 == w.len() && i > 0)
            || x == "apikey"
            || x == "jwt"
            || x == "bearer"
            || x == "auth"
            || x == "authorization"
            || x.starts_with("authtoken")
            || x == "oauth"
            || x == "sig"
            || x == "signature"
            || x == "session"
            || x == "sessionid"
            || x == "sid"
            || x == "cookie"
            || x == "privatekey"
            || (x == "key" && i + 1 == w.len() && !NOT_SECRET_KEY_PREFIX.contains(&prev))
            || (x.ends_with("key")
                && x.len() > 3
                && i + 1 == w.len()
                && !["monkey", "hockey", "turkey", "whiskey", "donkey", "jockey"].contains(&x)
                && (x.starts_with("api")
                    || x.starts_with("access")
                    || x.starts_with("secret")
                    || x.starts_with("private")
                    || x.starts_with("master")
                    || x.starts_with("account")
                    || x.starts_with("auth")
                    || x.starts_with("client")
                    || x.starts_with("license")
                    || x.starts_with("app")))
            || (x == "private" && i + 1 < w.len() && w[i + 1] == "key")
    });
    tokenish.then_some(Class::Token)
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

/// True for a value that plausibly is a secret of the given class.
fn plausible(class: Class, v: &[u8], quoted: bool) -> bool {
    if v.is_empty() || is_placeholder_value(v) {
        return false;
    }
    let lower: Vec<u8> = v.iter().map(|b| b.to_ascii_lowercase()).collect();
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
    if WORDS.contains(&lower.as_slice()) {
        return false;
    }
    if matches!(v[0], b'$' | b'%' | b'{' | b'(' | b'@' | b'[' | b'<' | b'#')
        || v.iter().all(|b| !b.is_ascii_alphanumeric())
    {
        return false;
    }
    if lower.starts_with(b"arn:") || v.windows(2).any(|w| w == b"#{") {
        return false;
    }
    if v.contains(&b'(') && v.ends_with(b")") {
        return false; // a call: getenv("X"), os.getenv(...)
    }
    // Variable interpolation: '$PRECOMPILE_PASSWORD', "${X}", $(cmd).
    // PHP superglobals: $_ENV['X'], $_SERVER[...]. A `$_h` inside a random value is not a variable.
    if v.windows(2).enumerate().any(|(k, w)| {
        w[0] == b'$'
            && (w[1].is_ascii_uppercase()
                || matches!(w[1], b'{' | b'(')
                || (w[1] == b'_'
                    && v.get(k + 2)
                        .is_none_or(|c| c.is_ascii_uppercase() || *c == b'_')))
    }) {
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
        Class::Password | Class::User => {
            // A quoted password may hold a space or two (`'open sesame'`); a sentence is not a password.
            let spaces = v.iter().filter(|b| b.is_ascii_whitespace()).count();
            if v.len() < 4
                || (spaces > 0
                    && !(quoted && class == Class::Password && spaces <= 2 && v.len() <= 64))
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
        Class::Token => {
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
            // Names made of short words (SalesResults-1.2, DOC_Vector_5_32, host.int.example.com) are not tokens.
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
            if !uuid
                && longest <= 12
                && transitions < 4
                && v.iter().any(|b| matches!(b, b'-' | b'_' | b'.' | b':'))
            {
                return false;
            }
            if v.len() < 10 {
                return false;
            }
            // Paths and URLs are not tokens.
            !(v.starts_with(b"/")
                || v.starts_with(b"./")
                || lower.starts_with(b"http://")
                || lower.starts_with(b"https://"))
        }
    }
}

/// Reads a quoted string starting at `pos` (at the opening quote). Returns (content start, content end, end
/// after the closing quote).
fn quoted_at(t: &[u8], pos: usize) -> Option<(usize, usize, usize)> {
    let (q, open_len): (&[u8], usize) = if t[pos..].starts_with(b"\\\"") {
        (b"\\\"", 2)
    } else if matches!(t.get(pos), Some(b'"' | b'\'' | b'`')) {
        (&t[pos..pos + 1], 1)
    } else {
        return None;
    };
    let start = pos + open_len;
    let limit = (start + 8192).min(t.len());
    let mut i = start;
    while i < limit {
        let b = t[i];
        if q.len() == 1 {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == q[0] {
                return Some((start, i, i + 1));
            }
            if b == b'\n' && q[0] != b'`' {
                return None;
            }
        } else if t[i..].starts_with(b"\\\"") {
            return Some((start, i, i + 2));
        } else if b == b'\n' {
            return None;
        }
        i += 1;
    }
    None
}

fn skip_ws(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && (t[i] == b' ' || t[i] == b'\t') {
        i += 1;
    }
    i
}

/// Structural check at a trigger hit `[s, e)`; pushes what it finds. `last_key` dedups hits in one key.
pub(crate) fn check(
    t: &[u8],
    s: usize,
    e: usize,
    trigger: &str,
    last_key: &mut usize,
    out: &mut Vec<Found>,
) {
    // `tokens` ending a word (`max_tokens`, `"input_tokens":`) names a count: the commonest hit in an LLM log,
    // dismissed before any parsing.
    if trigger == "token"
        && t.get(e).is_some_and(|b| b.eq_ignore_ascii_case(&b's'))
        && !t
            .get(e + 1)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return;
    }
    match trigger {
        "://" => url_userinfo(t, s, out),
        "-u" | "--user" => curl_user(t, s, e, out),
        "-p " => dash_p(t, s, e, out),
        "cookie" if t.len() >= s + 8 && t[s..s + 8].eq_ignore_ascii_case(b"cookies\"") => {
            har_cookies(t, s, out)
        }
        _ => {
            if trigger == "secret" {
                k8s_secret(t, s, out);
            }
            if matches!(trigger, "pass" | "pwd") {
                conn_string(t, s, out);
            }
            key_value(t, s, last_key, out)
        }
    }
}

/// A Kubernetes Secret manifest (`kind: Secret`): every entry of its `data:` / `stringData:` block, key and
/// value (the keys of a Secret name what it holds; the values are only base64).
fn k8s_secret(t: &[u8], s: usize, out: &mut Vec<Found>) {
    // `kind: Secret`, `kind: 'Secret'`, `"kind": "Secret"`.
    let mut p = s;
    while p > 0 && matches!(t[p - 1], b'"' | b'\'' | b' ' | b'\t') {
        p -= 1;
    }
    if p == 0 || t[p - 1] != b':' {
        return;
    }
    let k = &t[p.saturating_sub(6)..p - 1];
    if !(k.ends_with(b"kind") || k.ends_with(b"kind\""))
        || t.get(s + 6).is_some_and(|b| b.is_ascii_alphanumeric())
    {
        return;
    }
    // The YAML document around it.
    let lo = s.saturating_sub(8192);
    let hi = (s + 8192).min(t.len());
    let doc_start = t[lo..s]
        .windows(4)
        .rposition(|w| w == b"\n---")
        .map_or(lo, |q| lo + q + 4);
    let doc_end = t[s..hi]
        .windows(4)
        .position(|w| w == b"\n---")
        .map_or(hi, |q| s + q);
    let doc = &t[doc_start..doc_end];
    let lines: Vec<(usize, &[u8])> = {
        let mut v = Vec::new();
        let mut at = 0;
        for l in doc.split(|b| *b == b'\n') {
            v.push((doc_start + at, l));
            at += l.len() + 1;
        }
        v
    };
    let indent = |l: &[u8]| l.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    let mut i = 0;
    while i < lines.len() {
        let (_, l) = lines[i];
        let d = indent(l);
        let rest = l[d..].trim_ascii_end();
        if rest != b"data:" && rest != b"stringData:" {
            i += 1;
            continue;
        }
        i += 1;
        while i < lines.len() {
            let (off, l) = lines[i];
            let e = indent(l);
            let body = l[e..].trim_ascii_end();
            if body.is_empty() || body.starts_with(b"#") {
                i += 1;
                continue;
            }
            if e <= d {
                break;
            }
            // An entry and its block-scalar continuation lines.
            let start = off + e;
            let mut end = off + e + body.len();
            i += 1;
            while i < lines.len() {
                let (off2, l2) = lines[i];
                let e2 = indent(l2);
                let b2 = l2[e2..].trim_ascii_end();
                if b2.is_empty() || e2 <= e {
                    break;
                }
                end = off2 + e2 + b2.len();
                i += 1;
            }
            // `key: value` with a real value: not empty, not a template, not a list.
            let value = body
                .iter()
                .position(|b| *b == b':')
                .map(|c| body[c + 1..].trim_ascii());
            let Some(value) = value else { continue };
            let bare = value.iter().filter(|b| !matches!(b, b'"' | b'\'')).count();
            let block = matches!(value, b"|" | b">" | b"|-" | b">-");
            if body.starts_with(b"-")
                || value.starts_with(b"{")
                || value.starts_with(b"$")
                || (!block && bare < 12)
            {
                continue;
            }
            out.push(Found {
                start,
                end,
                rule: "k8s:secret-data",
                label: "k8s-secret",
            });
        }
    }
}

/// ADO.NET / ODBC / libpq connection strings (`Server=...;User ID=...;Password=...`,
/// `host=... user=... password=...`): the user name and password, whatever they look like.
fn conn_string(t: &[u8], s: usize, out: &mut Vec<Found>) {
    static RE: std::sync::OnceLock<(regex::bytes::Regex, regex::bytes::Regex)> =
        std::sync::OnceLock::new();
    let (marker, pair) = RE.get_or_init(|| {
        let b = |r: &str| regex::bytes::RegexBuilder::new(r).unicode(false).build().unwrap_or_else(|e| panic!("{r}: {e}"));
        (
            b(r"(?i)(?:^|[;\s\x22'(])(?:server|data source|host|provider|driver|initial catalog|dsn|addr|address)\s*=[^=]"),
            b(r#"(?i)(?:^|[;\s"'(])(password|pwd|user id|user name|username|user|uid)\s*=\s*([^;"'\s]{1,256})"#),
        )
    });
    let a = t[s.saturating_sub(1000)..s]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(s.saturating_sub(1000), |p| s.saturating_sub(1000) + p + 1);
    let lim = (s + 1000).min(t.len());
    let b = t[s..lim]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(lim, |p| s + p);
    let line = &t[a..b];
    if !marker.is_match(line) {
        return;
    }
    for c in pair.captures_iter(line) {
        let (Some(k), Some(v)) = (c.get(1), c.get(2)) else {
            continue;
        };
        let vb = v.as_bytes();
        if vb.starts_with(b"[REDACTED") || vb.starts_with(b"[CONTENT") {
            continue;
        }
        let user = !matches!(k.as_bytes()[0], b'p' | b'P');
        out.push(Found {
            start: a + v.start(),
            end: a + v.end(),
            rule: if user { "key:user" } else { "key:password" },
            label: if user { "user" } else { "password" },
        });
    }
}

/// A byte that ends a URL's authority (userinfo and host) in text: a path, query or fragment start, white
/// space, a quote or a bracket around the URL.
fn ends_url_part(b: u8) -> bool {
    matches!(
        b,
        b'/' | b'?'
            | b'#'
            | b' '
            | b'\t'
            | b'\n'
            | b'\r'
            | b'"'
            | b'\''
            | b'<'
            | b'>'
            | b'\\'
            | b'`'
    )
}

fn url_userinfo(t: &[u8], s: usize, out: &mut Vec<Found>) {
    let mut a = s;
    while a > 0
        && (t[a - 1].is_ascii_alphanumeric() || matches!(t[a - 1], b'+' | b'.' | b'-' | b':'))
    {
        a -= 1;
    }
    let scheme: Vec<u8> = t[a..s].iter().map(|b| b.to_ascii_lowercase()).collect();
    let scheme_last = scheme
        .rsplit(|b| *b == b':' || *b == b'+')
        .next()
        .unwrap_or(&[])
        .to_vec();
    let u0 = s + 3;
    let mut i = u0;
    let limit = (u0 + 1024).min(t.len());
    while i < limit && t[i] != b'@' && !ends_url_part(t[i]) {
        i += 1;
    }
    if i >= limit || t[i] != b'@' || i == u0 {
        return;
    }
    let info = &t[u0..i];
    if info.starts_with(b"[REDACTED") {
        return;
    }
    let is_db = [
        &b"mongodb"[..],
        b"postgres",
        b"postgresql",
        b"mysql",
        b"redis",
        b"rediss",
        b"amqp",
        b"amqps",
        b"mssql",
        b"sqlserver",
        b"mariadb",
        b"oracle",
        b"clickhouse",
        b"cockroachdb",
        b"neo4j",
        b"couchdb",
        b"srv",
        b"ldap",
        b"ldaps",
        b"ftp",
        b"sftp",
        b"smtp",
        b"smtps",
        b"jdbc",
        b"odbc",
        b"snowflake",
        b"cassandra",
        b"nats",
        b"kafka",
    ]
    .contains(&scheme_last.as_slice());
    match info.iter().position(|b| *b == b':') {
        Some(c) => {
            let pass = &info[c + 1..];
            if pass.is_empty()
                || is_placeholder_value(pass)
                || pass.starts_with(b"$")
                || pass == b"password"
            {
                return;
            }
            let mut end = i;
            if is_db {
                // Database URLs: the host goes too (it names the customer's database), and every host of a
                // multi-host list (`user:pw@h1:1,user:pw@h2:2/db`).
                let mut h = i + 1;
                while h < t.len() && h < i + 512 && t[h] != b';' && !ends_url_part(t[h]) {
                    h += 1;
                }
                end = h;
            }
            out.push(Found {
                start: u0,
                end,
                rule: "url:userinfo",
                label: "url-credentials",
            });
        }
        None => {
            // A bare token as user name (https://ghp_xxx@github.com).
            if plausible(Class::Token, info, false) {
                out.push(Found {
                    start: u0,
                    end: i,
                    rule: "url:userinfo",
                    label: "url-credentials",
                });
            }
        }
    }
}

fn curl_user(t: &[u8], s: usize, e: usize, out: &mut Vec<Found>) {
    if s > 0 && !t[s - 1].is_ascii_whitespace() {
        return;
    }
    let mut i = e;
    if t.get(i) == Some(&b'=') {
        i += 1;
    } else if t.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
        i = skip_ws(t, i);
    } else {
        return;
    }
    if i >= t.len() {
        return;
    }
    let (vs, ve) = {
        let mut j = i;
        while j < t.len() && !t[j].is_ascii_whitespace() {
            j += 1;
        }
        (i, j)
    };
    let v = &t[vs..ve];
    // psexec, docker login: `-u user -p password` — the user goes with the password.
    if !v.contains(&b':') {
        let le = t[s..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(t.len(), |p| s + p);
        if t[ve..le].windows(4).any(|w| w == b" -p ")
            && !v.starts_with(b"[REDACTED")
            && !v.starts_with(b"$")
        {
            out.push(Found {
                start: vs,
                end: ve,
                rule: "cli:user",
                label: "user",
            });
        }
        return;
    }
    if let Some(c) = v.iter().position(|b| *b == b':') {
        let unquote = |p: &[u8]| -> Vec<u8> {
            let p: Vec<u8> = p
                .iter()
                .copied()
                .filter(|b| !matches!(b, b'"' | b'\''))
                .collect();
            // `"{id}":"{secret}"` in API docs: braces around a real value.
            match (p.first(), p.last()) {
                (Some(b'{'), Some(b'}')) if p.len() > 2 => p[1..p.len() - 1].to_vec(),
                _ => p,
            }
        };
        let (user, pass) = (unquote(&v[..c]), unquote(&v[c + 1..]));
        // `-u "KEY:"`: an API key as user name with an empty password.
        let ok = if pass.is_empty() {
            plausible(Class::Password, &user, true) && user.len() >= 8
        } else {
            plausible(Class::Password, &pass, true)
        };
        if ok && !v.starts_with(b"[REDACTED") && !matches!(v[0], b'<' | b'{' | b'[') {
            out.push(Found {
                start: vs,
                end: ve,
                rule: "curl:user",
                label: "credentials",
            });
        }
    }
}

/// `tool -u user -p password` (psexec, docker login, mysql): the value after `-p` when the line has `-u`.
fn dash_p(t: &[u8], s: usize, e: usize, out: &mut Vec<Found>) {
    if s == 0 || !t[s - 1].is_ascii_whitespace() {
        return;
    }
    let ls = t[..s]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let le = t[s..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(t.len(), |p| s + p);
    let line = &t[ls..le];
    if !line.windows(4).any(|w| w == b" -u " || w == b"ogin") {
        return;
    }
    let i = skip_ws(t, e);
    let mut j = i;
    while j < t.len() && !t[j].is_ascii_whitespace() && !matches!(t[j], b'"' | b'\'' | b')' | b';')
    {
        j += 1;
    }
    let v = &t[i..j];
    if !v.starts_with(b"[REDACTED") && plausible(Class::Password, v, true) {
        out.push(Found {
            start: i,
            end: j,
            rule: "cli:password",
            label: "password",
        });
    }
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

fn key_value(t: &[u8], s: usize, last_key: &mut usize, out: &mut Vec<Found>) {
    let before = out.len();
    key_value_inner(t, s, last_key, out);
    if out.len() > before && out[out.len() - 1].rule == "key:password" {
        let at = out[out.len() - 1].start;
        // An OAuth client secret: its client id goes with it.
        let key_before = t[at.saturating_sub(40)..at].to_ascii_lowercase();
        if key_before.windows(6).any(|w| w == b"client") {
            client_id_near(t, at, out);
        }
        user_near(t, at, out);
    }
}

/// The client id that goes with a client secret found at `at` (`clientID: '...'`, `AUTH0_CLIENT_ID=...`,
/// `client_id=...&client_secret=...`), a few lines around it.
fn client_id_near(t: &[u8], at: usize, out: &mut Vec<Found>) {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::bytes::RegexBuilder::new(
            r#"(?i)(?:^|[^A-Za-z0-9])(?:[A-Za-z0-9]+_){0,3}client_?id["']?\s*(?:=|:|=>)\s*["']?([A-Za-z0-9_.~-]{8,128})"#,
        )
        .unicode(false)
        .build()
        .unwrap_or_else(|e| panic!("client id regex: {e}"))
    });
    let (a, b) = around(t, at);
    for c in re.captures_iter(&t[a..b]) {
        if let Some(m) = c.get(1) {
            let v = m.as_bytes();
            if v.starts_with(b"[REDACTED") || is_dotted_ref(v) || is_placeholder_value(v) {
                continue;
            }
            out.push(Found {
                start: a + m.start(),
                end: a + m.end(),
                rule: "key:client-id",
                label: "client-id",
            });
        }
    }
}

/// Up to three lines before and after `at`, at most 300 bytes each way.
fn around(t: &[u8], at: usize) -> (usize, usize) {
    let mut a = at;
    let mut lines = 0;
    while a > 0 && at - a < 300 {
        if t[a - 1] == b'\n' {
            lines += 1;
            if lines > 3 {
                break;
            }
        }
        a -= 1;
    }
    let mut b = at;
    let mut lines = 0;
    while b < t.len() && b - at < 300 {
        if t[b] == b'\n' {
            lines += 1;
            if lines > 3 {
                break;
            }
        }
        b += 1;
    }
    (a, b)
}

/// The user name that goes with a password found at `at`: `User ID=...;Password=...` in connection strings,
/// `$user = "..."; $password = "..."` in code, `username: ...` next to `password: ...` in config. Looked for
/// in the same line, or a few lines around the password.
fn user_near(t: &[u8], at: usize, out: &mut Vec<Found>) {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::bytes::RegexBuilder::new(
            r#"(?i)(?:^|[^A-Za-z0-9_])\$?(?:[A-Za-z0-9]+_){0,3}(?:user(?:[ _-]?(?:id|name))?|uid|login|db_?user(?:name)?)\\?["']?\s*(?:=|:|=>)\s*\\?["']?([^;"'\s,&<>)(\\{}=\[\]]{1,128})"#,
        )
        .unicode(false)
        .build()
        .unwrap_or_else(|e| panic!("user regex: {e}"))
    });
    // PowerShell and CLI flags (`-User admin -Password x`) and DSL lines (`username "deploy"`).
    static FLAG: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    let flag = FLAG.get_or_init(|| {
        regex::bytes::RegexBuilder::new(
            r#"(?im)(?:(?:^|\s)-(?:user(?:name)?|u)\s+["']?([^\s"'$%]{2,128})|^\s*(?:user(?:name)?|login)\s+["']([^"'\n$]{1,128})["'])"#,
        )
        .unicode(false)
        .build()
        .unwrap_or_else(|e| panic!("user flag regex: {e}"))
    });
    let (a, b) = around(t, at);
    for c in re
        .captures_iter(&t[a..b])
        .chain(flag.captures_iter(&t[a..b]))
    {
        if let Some(m) = c.get(1).or_else(|| c.get(2)) {
            let v = m.as_bytes();
            if v.starts_with(b"[REDACTED")
                || v.starts_with(b"[CONTENT")
                || v.len() < 2
                || is_dotted_ref(v)
            {
                continue;
            }
            out.push(Found {
                start: a + m.start(),
                end: a + m.end(),
                rule: "key:user",
                label: "user",
            });
        }
    }
}

fn key_value_inner(t: &[u8], s: usize, last_key: &mut usize, out: &mut Vec<Found>) {
    let mut ks = s;
    while ks > 0 && is_key_byte(t[ks - 1]) {
        ks -= 1;
    }
    if ks == *last_key && ks != usize::MAX {
        return;
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
        return;
    }
    let before = if ks == 0 || symbol {
        None
    } else {
        Some(t[ks - 1])
    };
    let key = &t[ks..ke];
    // A JSON string in value position (`"role": "user"`) is not a key, unless a `"value"` follows it (our
    // header records and HAR name/value pairs).
    if before == Some(b'"') && ks >= 2 {
        let mut p = ks - 1;
        while p > 0 && (t[p - 1] == b' ' || t[p - 1] == b'\t') {
            p -= 1;
        }
        if p > 0 && t[p - 1] == b':' && t.get(ke) == Some(&b'"') {
            let j = skip_ws_nl(t, (ke + 1).min(t.len()));
            let k = skip_ws_nl(t, (j + 1).min(t.len()));
            if !(t.get(ke) == Some(&b'"')
                && t.get(j) == Some(&b',')
                && t[k..].starts_with(b"\"value\""))
            {
                return;
            }
        }
    }
    // XML name/value attributes: <add key="Password" value="..." />.
    if key.eq_ignore_ascii_case(b"key") && t[ke..].starts_with(b"=\"") {
        if let Some((na, nb, nend)) = quoted_at(t, ke + 1) {
            let j = skip_ws(t, nend);
            if t[j..].starts_with(b"value=") {
                if let (Some(class), Some((a, b, _))) = (classify(&t[na..nb]), quoted_at(t, j + 6))
                {
                    push_value(t, class, a, b, true, out);
                }
                return;
            }
        }
    }
    let Some(class) = classify(key) else { return };
    let escaped_quote = ks >= 2 && t[ks - 2] == b'\\' && before == Some(b'"');
    let mut i = ke;
    let mut quoted_key = false;
    let mut enclosing: Option<u8> = None;
    match before {
        Some(q @ (b'"' | b'\'' | b'`')) => {
            if escaped_quote {
                if t[i..].starts_with(b"\\\"") {
                    i += 2;
                    quoted_key = true;
                } else {
                    enclosing = Some(b'\\');
                }
            } else if t.get(i) == Some(&q) {
                i += 1;
                quoted_key = true;
            } else {
                // `-H "Authorization: Bearer x"`: the quote encloses key and value.
                enclosing = Some(q);
            }
        }
        Some(b'<') => {
            // XML element: <apiToken>value</apiToken>
            if t.get(i) != Some(&b'>') {
                return;
            }
            let vs0 = i + 1;
            let mut vs = vs0;
            while vs < t.len() && t[vs].is_ascii_whitespace() {
                vs += 1;
            }
            let mut ve = vs;
            while ve < t.len() && t[ve] != b'<' && ve < vs + 4096 {
                ve += 1;
            }
            while ve > vs && t[ve - 1].is_ascii_whitespace() {
                ve -= 1;
            }
            if plausible(class, &t[vs..ve], true) {
                out.push(Found {
                    start: vs,
                    end: ve,
                    rule: rule_name(class),
                    label: label(class),
                });
            }
            return;
        }
        _ => {}
    }
    // Our JSON header records and HAR entries: {"name": "Authorization", "value": "..."}.
    if quoted_key {
        let j = skip_ws_nl(t, i);
        if t.get(j) == Some(&b',') {
            let k = skip_ws_nl(t, j + 1);
            if t[k..].starts_with(b"\"value\"") {
                let k = skip_ws_nl(t, k + 7);
                if t.get(k) == Some(&b':') {
                    let k = skip_ws_nl(t, k + 1);
                    if let Some((a, b, _)) = quoted_at(t, k) {
                        push_value(t, class, a, b, true, out);
                    }
                    return;
                }
            }
        }
    }
    i = skip_ws(t, i);
    // Go: `apiToken string = "..."`.
    if !quoted_key && t.get(i).is_some_and(|b| b.is_ascii_alphabetic()) {
        let mut j = i;
        while j < t.len() && (t[j].is_ascii_alphanumeric() || t[j] == b'[' || t[j] == b']') {
            j += 1;
        }
        let k = skip_ws(t, j);
        if t.get(k) == Some(&b'=') && t.get(k + 1) != Some(&b'=') {
            i = k;
        }
    }
    // A comparison with a literal is the password itself: `if password == "team10"`, `Secret != 'x'`.
    if t[i..].starts_with(b"==") || t[i..].starts_with(b"!=") {
        if class == Class::Password {
            let mut k = i + 2;
            if t.get(k) == Some(&b'=') {
                k += 1;
            }
            let k = skip_ws(t, k);
            if let Some((a, b, _)) = quoted_at(t, k) {
                if b - a >= 3 {
                    push_value(t, class, a, b, true, out);
                }
            }
        }
        return;
    }
    const OPS: &[&[u8]] = &[
        b":::=", b"::=", b":=", b"?=", b".=", b"+=", b"||=", b"=>", b"->", b"<-", b"=", b":",
    ];
    let mut op_found = false;
    for op in OPS {
        if t[i..].starts_with(op) {
            if *op == b"=" && t.get(i + 1) == Some(&b'=') {
                return; // comparison
            }
            i += op.len();
            op_found = true;
            break;
        }
    }
    if !op_found {
        if quoted_key && t.get(i) == Some(&b',') {
            i += 1; // setenv("API_TOKEN", "value")
        } else if key.starts_with(b"-") && t.get(ke) == Some(&b' ') && i > ke {
            // CLI flag: --token value, -Password value (PowerShell)
        } else if matches!(class, Class::Password | Class::User)
            && t.get(ke) == Some(&b' ')
            && near_before(t, ks, b"machine ")
        {
            // .netrc: machine host login user password secret
        } else if matches!(class, Class::Password | Class::User)
            && t.get(ke) == Some(&b' ')
            && matches!(t.get(i), Some(b'"' | b'\''))
            && t[..ks]
                .iter()
                .rev()
                .take_while(|b| **b != b'\n')
                .all(|b| b.is_ascii_whitespace())
        {
            // Gradle / Groovy DSL: `password "value"` alone on its line.
        } else {
            return;
        }
    }
    i = skip_ws(t, i);
    // YAML: key:\n    'value'
    if matches!(t.get(i), Some(b'\n')) {
        let j = skip_ws(t, i + 1);
        if matches!(t.get(j), Some(b'"' | b'\'')) {
            i = j;
        } else {
            return;
        }
    }
    if i >= t.len() {
        return;
    }
    if let Some((a, b, _)) = quoted_at(t, i) {
        // A quote that closes the enclosing one ends the value, it does not open it.
        if enclosing.is_some() && (Some(t[i]) == enclosing) {
            return;
        }
        push_value(t, class, a, b, true, out);
        return;
    }
    // Unquoted value.
    let mut j = i;
    let line_value = matches!(class, Class::Header | Class::Cookie);
    let limit = (i + 8192).min(t.len());
    while j < limit {
        let b = t[j];
        if b == b'\n' || b == b'\r' {
            break;
        }
        if let Some(q) = enclosing {
            if b == q {
                break;
            }
        }
        if b == b'\\' && matches!(t.get(j + 1), Some(b'n' | b'r' | b't' | b'"' | b'\'')) {
            break;
        }
        if !line_value
            && (b == b' '
                || b == b'\t'
                || matches!(
                    b,
                    b'"' | b'\'' | b',' | b';' | b'&' | b'<' | b'>' | b')' | b'}' | b']' | b'`'
                ))
        {
            break;
        }
        if line_value && enclosing.is_none() && matches!(b, b'"' | b'\'' | b'`') {
            break;
        }
        j += 1;
    }
    while j > i && (t[j - 1] == b' ' || t[j - 1] == b'\t') {
        j -= 1;
    }
    // `Password=open_sesame` alone on its line (INI, env, properties) is a value, not a variable in code.
    let line_start = t[..ks]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let lead = &t[line_start..ks];
    // Also when commented out (`# PASSWORD=x`) or followed by a comment (`PASSWORD=x   # note`).
    let lead = lead.trim_ascii();
    let lead = lead.strip_prefix(b"#").map_or(lead, |l| l.trim_ascii());
    let tail = skip_ws(t, j);
    let alone = (lead.is_empty() || lead == b"export")
        && (matches!(t.get(j), None | Some(b'\n' | b'\r'))
            || (tail > j && t.get(tail) == Some(&b'#')));
    if is_dotted_ref(&t[i..j]) {
        return;
    }
    push_value(t, class, i, j, alone, out);
}

/// `env.DB_PASSWORD`, `var.db_password`, `settings.API_SECRET`: a reference in code or config.
fn is_dotted_ref(v: &[u8]) -> bool {
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

fn skip_ws_nl(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && t[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn near_before(t: &[u8], at: usize, needle: &[u8]) -> bool {
    t[at.saturating_sub(200)..at]
        .windows(needle.len())
        .any(|w| w == needle)
}

fn push_value(t: &[u8], class: Class, mut a: usize, b: usize, quoted: bool, out: &mut Vec<Found>) {
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
        });
    }
}

fn rule_name(c: Class) -> &'static str {
    match c {
        Class::Password => "key:password",
        Class::Token => "key:token",
        Class::Header => "header:auth",
        Class::Cookie => "header:cookie",
        Class::User => "key:user",
    }
}

fn label(c: Class) -> &'static str {
    match c {
        Class::Password => "password",
        Class::Token => "token",
        Class::Header => "auth",
        Class::Cookie => "cookie",
        Class::User => "user",
    }
}

/// HAR cookies: `"cookies": [{"name": "sid", "value": "..."}]` — every value in the array.
pub(crate) fn har_cookies(t: &[u8], s: usize, out: &mut Vec<Found>) {
    // s is at `cookies"`; look for `: [`.
    let mut i = s + 7;
    if t.get(i) != Some(&b'"') {
        return;
    }
    i = skip_ws_nl(t, i + 1);
    if t.get(i) != Some(&b':') {
        return;
    }
    i = skip_ws_nl(t, i + 1);
    if t.get(i) != Some(&b'[') {
        return;
    }
    let mut depth = 0usize;
    let limit = (i + 16384).min(t.len());
    let mut j = i;
    while j < limit {
        match t[j] {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b'"' if t[j..].starts_with(b"\"value\"") => {
                let k = skip_ws_nl(t, j + 7);
                if t.get(k) == Some(&b':') {
                    let k = skip_ws_nl(t, k + 1);
                    if let Some((a, b, end)) = quoted_at(t, k) {
                        if b > a && !t[a..b].starts_with(b"[REDACTED") {
                            out.push(Found {
                                start: a,
                                end: b,
                                rule: "har:cookie",
                                label: "cookie",
                            });
                        }
                        j = end;
                        continue;
                    }
                }
            }
            b'"' => {
                if let Some((_, _, end)) = quoted_at(t, j) {
                    j = end;
                    continue;
                }
            }
            _ => {}
        }
        j += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<String> {
        let t = text.as_bytes();
        let mut out = Vec::new();
        let mut last = usize::MAX;
        let lower = text.to_ascii_lowercase();
        for trig in TRIGGERS {
            for (p, _) in lower.match_indices(trig) {
                check(t, p, p + trig.len(), trig, &mut last, &mut out);
            }
        }
        out.iter()
            .map(|f| text[f.start..f.end].to_string())
            .collect()
    }

    #[test]
    fn splits_words() {
        assert_eq!(words(b"gitlabToken"), vec!["gitlab", "token"]);
        assert_eq!(words(b"AWSToken"), vec!["aws", "token"]);
        assert_eq!(words(b"CO_API_KEY"), vec!["co", "api", "key"]);
    }

    #[test]
    fn finds_key_values() {
        assert_eq!(
            find(r#"CO_API_KEY=wsEGdjnelIuVJy7VjzPhIzDz9YlDgiPBA3CO9PFw"#),
            vec!["wsEGdjnelIuVJy7VjzPhIzDz9YlDgiPBA3CO9PFw"]
        );
        assert_eq!(find(r#"{"password": "hunter22"}"#), vec!["hunter22"]);
        assert_eq!(
            find("Authorization: Bearer abc123def456\r\n"),
            vec!["abc123def456"]
        );
        assert_eq!(
            find(r#"{"name": "Authorization", "value": "Bearer abc123def456"}"#),
            vec!["abc123def456"]
        );
        assert_eq!(
            find(r#"curl -H "Authorization: Bearer abc123def456" https://x"#),
            vec!["abc123def456"]
        );
        assert!(find(r#"{"max_tokens": 100, "input_tokens": 12}"#).is_empty());
        assert!(find(r#"public_key = "9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit""#).is_empty());
    }

    fn has(found: &[String], v: &str) -> bool {
        found.iter().any(|f| f == v)
    }

    #[test]
    fn finds_connection_string_credentials() {
        let f = find(
            "Server=db.internal,1433;Initial Catalog=Orders;User ID=svc_orders;Password=Tr0ub4dor;",
        );
        assert!(has(&f, "svc_orders") && has(&f, "Tr0ub4dor"), "{f:?}");
        let f = find("host=db port=5432 user=reporting password=hx7Qe2p dbname=sales");
        assert!(has(&f, "reporting") && has(&f, "hx7Qe2p"), "{f:?}");
        // Not a connection string: no server/host/provider key.
        assert!(find("Mode=fast;Password=;Color=blue").is_empty());
    }

    #[test]
    fn finds_user_next_to_password_but_not_code() {
        let f = find("$user = \"deploy7\";\n$password = \"q8Z!wv3mPk\";\n");
        assert!(has(&f, "deploy7") && has(&f, "q8Z!wv3mPk"), "{f:?}");
        // `username = request.form["username"]` is code, not a user name.
        let f = find("username = request.form.get('username')\npassword = \"q8Z!wv3mPk\"\n");
        assert!(!f.iter().any(|x| x.contains("request")), "{f:?}");
    }

    #[test]
    fn finds_kubernetes_secret_data_entries() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  password: cTh6IXd2M21Qaw==\n  note: \"\"\n";
        let f = find(yaml);
        assert!(has(&f, "password: cTh6IXd2M21Qaw=="), "{f:?}");
        assert!(!f.iter().any(|x| x.contains("note")), "{f:?}");
        // A SecretStore reference is not a Secret.
        let f = find("kind: SecretStore\ndata:\n  token: cTh6IXd2M21Qaw==cTh6\n");
        assert!(!f.iter().any(|x| x.starts_with("token:")), "{f:?}");
    }
}
