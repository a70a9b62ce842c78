//! Shared. Connection strings: ADO.NET, ODBC and libpq (`Server=...;User ID=...;Password=...`,
//! `host=... user=... password=...`).

use super::{Find, Found, Recogniser};

pub(super) const CONNECTION_STRING: Recogniser = Recogniser {
    id: "connection-string",
    syntax: "the user name and password of an ADO.NET, ODBC or libpq connection string, whatever they look like",
    examples: &[
        "Server=db.internal,1433;Initial Catalog=Orders;User ID=«svc_orders»;Password=«Tr0ub4dor»;",
        "host=db port=5432 user=«reporting» password=«hx7Qe2p» dbname=sales",
    ],
    keeps: &["Mode=fast;Password=;Color=blue", "password=hx7Qe2p"],
    find: Find::Hit(conn_string),
};

/// ADO.NET / ODBC / libpq connection strings (`Server=...;User ID=...;Password=...`,
/// `host=... user=... password=...`): the user name and password, whatever they look like.
fn conn_string(t: &[u8], s: usize, _e: usize, out: &mut Vec<Found>) {
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
            by: CONNECTION_STRING.id,
        });
    }
}
