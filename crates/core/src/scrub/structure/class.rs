//! Shared. What a key names: a password, a token, an auth header, a cookie, a user name, or nothing secret.

/// The kind of secret a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
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

/// What `key` names, or `None` for a key that holds nothing secret (`max_tokens`, `user_id`, `public_key`).
pub(super) fn classify(key: &[u8]) -> Option<Class> {
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
    let mut ranges = [(0usize, 0usize); 24];
    let nw = word_ranges(key, &mut ranges);
    let w: Vec<&str> = ranges[..nw].iter().map(|&(a, b)| &lower[a..b]).collect();
    classify_words(&w)
}

/// Splits a key into words, on punctuation and camelCase boundaries (`gitlabToken`, `AWSToken`,
/// `CO_API_KEY`): fills `ranges` with their byte ranges and returns how many (at most `ranges.len()`).
fn word_ranges(key: &[u8], ranges: &mut [(usize, usize)]) -> usize {
    let mut nw = 0usize;
    let mut cur: Option<usize> = None;
    let mut push = |st: usize, end: usize, nw: &mut usize| {
        if *nw < ranges.len() {
            ranges[*nw] = (st, end);
            *nw += 1;
        }
    };
    for (i, &b) in key.iter().enumerate() {
        if !b.is_ascii_alphanumeric() {
            if let Some(st) = cur.take() {
                push(st, i, &mut nw);
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
                    push(st, i, &mut nw);
                    cur = Some(i);
                }
            }
        } else {
            cur = Some(i);
        }
    }
    if let Some(st) = cur {
        push(st, key.len(), &mut nw);
    }
    nw
}

/// A key's lower-case words, for tests.
#[cfg(test)]
pub(super) fn words(key: &[u8]) -> Vec<String> {
    let mut ranges = vec![(0usize, 0usize); key.len()];
    let n = word_ranges(key, &mut ranges);
    ranges[..n]
        .iter()
        .map(|&(a, b)| String::from_utf8_lossy(&key[a..b]).to_ascii_lowercase())
        .collect()
}

/// What a key made of the lower-case words `w` names.
fn classify_words(w: &[&str]) -> Option<Class> {
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
    if w.iter().any(|x| password_word(x)) {
        return Some(Class::Password);
    }
    let tokenish = w.iter().enumerate().any(|(i, x)| {
        let prev = if i > 0 { w[i - 1] } else { "" };
        let next = w.get(i + 1).copied();
        token_word(x, prev, next)
    });
    tokenish.then_some(Class::Token)
}

/// A word that makes its key a password's: `password`, `passwd`, `secret`, `pwd`, `credentials`, ...
fn password_word(x: &str) -> bool {
    x.contains("password")
        || x.contains("passwd")
        || x.contains("secret")
        || x.contains("passphrase")
        || x == "pwd"
        || x == "pass"
        || x == "pw"
        || x.ends_with("credential")
        || x.ends_with("credentials")
        || x == "creds"
}

/// A word that makes its key a token's, given the word before it (`""` for none) and after it (`None` when
/// it is the last): `token`, `apikey`, `auth`, `session`, a final `key` (not `sort key`), `accessKey`, ...
fn token_word(x: &str, prev: &str, next: Option<&str>) -> bool {
    let last = next.is_none();
    x.ends_with("token")
        || (x == "pat" && last && !prev.is_empty())
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
        || (x == "key" && last && !NOT_SECRET_KEY_PREFIX.contains(&prev))
        || (x.ends_with("key") && x.len() > 3 && last && secret_key_word(x))
        || (x == "private" && next == Some("key"))
}

/// A compound `…key` word that names a secret key (`apikey`, `accesskey`, `clientkey`), not an animal or a
/// drink.
fn secret_key_word(x: &str) -> bool {
    !["monkey", "hockey", "turkey", "whiskey", "donkey", "jockey"].contains(&x)
        && [
            "api", "access", "secret", "private", "master", "account", "auth", "client", "license",
            "app",
        ]
        .iter()
        .any(|p| x.starts_with(p))
}

/// The report's rule name for a value of this class.
pub(super) fn rule_name(c: Class) -> &'static str {
    match c {
        Class::Password => "key:password",
        Class::Token => "key:token",
        Class::Header => "header:auth",
        Class::Cookie => "header:cookie",
        Class::User => "key:user",
    }
}

/// The placeholder label for a value of this class.
pub(super) fn label(c: Class) -> &'static str {
    match c {
        Class::Password => "password",
        Class::Token => "token",
        Class::Header => "auth",
        Class::Cookie => "cookie",
        Class::User => "user",
    }
}
