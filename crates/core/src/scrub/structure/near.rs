//! Shared. What goes with a password that a key recogniser found: an OAuth client secret's client id, and the user
//! name next to a password.

use super::value::is_dotted_ref;
use super::{Find, Found, Recogniser};
use crate::scrub::rules::is_placeholder_value;

pub(super) const CLIENT_ID: Recogniser = Recogniser {
    id: "client-id",
    syntax: "the client id a few lines around a client secret: clientID: '...', AUTH0_CLIENT_ID=..., \
             client_id=...&client_secret=...",
    examples: &[
        "AUTH0_CLIENT_ID='«Rk7mQ2vL9xT4pN8wZ3sY6bC1fH5jD0gA»'\nAUTH0_CLIENT_SECRET='‹Lp4nW8qZ2xT6vK9mR3sB7yC1›'",
        "grant_type=client_credentials&client_id=«svc-reporting»&client_secret=‹Lp4nW8qZ2xT6vK9mR3sB7yC1›",
    ],
    keeps: &[
        "AUTH0_CLIENT_ID='Rk7mQ2vL9xT4pN8wZ3sY6bC1fH5jD0gA'",
        "client_id = settings.client_id\nclient_secret=hx7Qe2pW9",
    ],
    find: Find::NearPassword(client_id_near),
};

/// The client id that goes with a client secret found at `at` (`clientID: '...'`, `AUTH0_CLIENT_ID=...`,
/// `client_id=...&client_secret=...`), a few lines around it; a password whose key does not name a client
/// has none.
fn client_id_near(t: &[u8], at: usize, out: &mut Vec<Found>) {
    let key_before = t[at.saturating_sub(40)..at].to_ascii_lowercase();
    if !key_before.windows(6).any(|w| w == b"client") {
        return;
    }
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
                by: CLIENT_ID.id,
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

pub(super) const USER: Recogniser = Recogniser {
    id: "user-near-password",
    syntax: "the user name in the same line or a few lines around a password: User ID=...;Password=..., \
             $user = \"...\", username: ..., -User admin -Password ...",
    examples: &[
        "$user = \"«deploy7»\";\n$password = \"‹q8Z!wv3mPk›\";\n",
        "db:\n  username: «svc_orders»\n  password: ‹hx7Qe2pW9›\n",
    ],
    keeps: &[
        "username = request.form.get('username')\npassword = \"q8Z!wv3mPk\"\n",
        "username: svc_orders\n",
    ],
    find: Find::NearPassword(user_near),
};

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
                by: USER.id,
            });
        }
    }
}
