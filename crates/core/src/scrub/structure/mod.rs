//! Shared. Layer 2: secrets found by where they sit, not by their shape.
//!
//! Secret-looking keys in JSON, YAML, INI, env files and code (`api_key`, `token`, `password`, ...), HTTP header
//! lines and our JSON header records (`{"name": "Authorization", "value": "..."}`), HAR cookies, URL userinfo
//! and credential query parameters, and curl `-u`. Each is found from a literal hit by local parsing, so the
//! cost is proportional to the number of hits, not to the input size.
//!
//! Each syntax has one recogniser ([`RECOGNISERS`]): its name, what it reads, examples it must redact and near
//! misses it must keep. Some run at a trigger hit ([`Find::Hit`]); at a secret-looking key ([`key::Key`]) the
//! key recognisers are tried in table order until one claims the key's syntax ([`Find::Key`]); after a
//! password, the recognisers of what goes with one run ([`Find::NearPassword`]).

mod class;
mod cli;
mod code;
mod conn;
mod har;
mod json;
mod k8s;
mod key;
mod kv;
mod near;
mod url;
mod value;
mod xml;

#[cfg(test)]
use class::words;
use key::{Claim, Key};

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
    /// The recogniser that found it ([`Recogniser::id`]).
    pub by: &'static str,
}

/// One syntax of the structural layer, described as data: the one test of the rules walks its examples.
// Outside tests only `id` and `find` are read: the rest is the description and the examples, for readers and
// for that test.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Recogniser {
    /// Its name (not in the report, whose rule names say what was found: `key:password`, `url:userinfo`).
    pub id: &'static str,
    /// The syntax it reads.
    pub syntax: &'static str,
    /// Texts in which it must find something, each part it must redact between `«` and `»`, and parts that
    /// other rules or recognisers redact between `‹` and `›` (the marks are not part of the text). Made up.
    pub examples: &'static [&'static str],
    /// Near misses: texts in which it must find nothing (other rules and recognisers may).
    pub keeps: &'static [&'static str],
    /// How it runs.
    pub find: Find,
}

/// How a recogniser runs.
pub(crate) enum Find {
    /// At a hit of a trigger word ([`check`] says which): the text, the hit's start and end.
    Hit(fn(&[u8], usize, usize, &mut Vec<Found>)),
    /// At a secret-looking key, in table order, until one claims the key's syntax.
    Key(fn(&Key<'_>, &mut Vec<Found>) -> Claim),
    /// After a key recogniser found a password: the text and where the password starts.
    NearPassword(fn(&[u8], usize, &mut Vec<Found>)),
}

/// Every recogniser. The key recognisers ([`Find::Key`]) are tried in this order, the first that claims the
/// key's syntax ending the search, so a syntax that another one's reading would also take comes first.
pub(crate) const RECOGNISERS: &[&Recogniser] = &[
    &url::USERINFO,
    &cli::CURL_USER,
    &cli::CLI_USER,
    &cli::CLI_PASSWORD,
    &har::COOKIES,
    &k8s::SECRET_DATA,
    &conn::CONNECTION_STRING,
    &xml::ATTRIBUTE,
    &xml::ELEMENT,
    &json::HEADER_RECORD,
    &code::COMPARISON,
    &kv::QUOTED_ASSIGNMENT,
    &kv::HEADER_LINE,
    &kv::BARE_ASSIGNMENT,
    &code::CALL,
    &cli::FLAG,
    &kv::NETRC_LINE,
    &code::DSL_LINE,
    &near::CLIENT_ID,
    &near::USER,
];

/// Runs a trigger-hit recogniser.
#[inline]
fn hit(r: &Recogniser, t: &[u8], s: usize, e: usize, out: &mut Vec<Found>) {
    if let Find::Hit(f) = r.find {
        f(t, s, e, out);
    }
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
        "://" => hit(&url::USERINFO, t, s, e, out),
        "-u" | "--user" => {
            hit(&cli::CURL_USER, t, s, e, out);
            hit(&cli::CLI_USER, t, s, e, out);
        }
        "-p " => hit(&cli::CLI_PASSWORD, t, s, e, out),
        "cookie" if t.len() >= s + 8 && t[s..s + 8].eq_ignore_ascii_case(b"cookies\"") => {
            hit(&har::COOKIES, t, s, e, out)
        }
        _ => {
            if trigger == "secret" {
                hit(&k8s::SECRET_DATA, t, s, e, out);
            }
            if matches!(trigger, "pass" | "pwd") {
                hit(&conn::CONNECTION_STRING, t, s, e, out);
            }
            key::key_value(t, s, last_key, out)
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
