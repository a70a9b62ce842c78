//! Shared. URL userinfo: `scheme://user:password@host`, and a bare token as user name (`https://ghp_...@github.com`).

use super::class::Class;
use super::value::plausible;
use super::{Find, Found, Recogniser};
use crate::scrub::rules::is_placeholder_value;

pub(super) const USERINFO: Recogniser = Recogniser {
    id: "url-userinfo",
    syntax: "a URL's user:password@ (and, in a database URL, every host after it), or a token as its user name",
    examples: &[
        "git clone https://«deploy:Zq8rT2vX9k»@git.internal/org/repo.git",
        "DATABASE_URL=postgresql://«app:s3cr3tpw@db1.internal:5432»/orders",
        "mongodb+srv://«app:Tr0ub4dor-77@cluster0.abcd.mongodb.net»/?retryWrites=true",
        "git remote add origin https://«Qm3xT8vR2pL6nW9kZ4yB7cD1»@git.internal/org/repo.git",
    ],
    keeps: &[
        "ssh://git@github.com/org/repo.git",
        "postgres://app:${DB_PASSWORD}@db/orders",
        "https://docs.internal/guide/v2",
        "https://ops:@host.internal/",
    ],
    find: Find::Hit(url_userinfo),
};

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

/// Schemes of databases, directories, mail and file servers: their URLs' host names the customer's server,
/// so it goes with the credentials.
const DB_SCHEMES: &[&[u8]] = &[
    b"mongodb",
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
];

/// At `://` (hit at `s`): the userinfo of the URL, when it holds a password or is a token.
fn url_userinfo(t: &[u8], s: usize, _e: usize, out: &mut Vec<Found>) {
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
    let end = match info.iter().position(|b| *b == b':') {
        Some(c) => {
            let pass = &info[c + 1..];
            if pass.is_empty()
                || is_placeholder_value(pass)
                || pass.starts_with(b"$")
                || pass == b"password"
            {
                return;
            }
            if is_db_scheme(t, s) {
                db_hosts_end(t, i)
            } else {
                i
            }
        }
        // A bare token as user name (https://ghp_xxx@github.com).
        None if plausible(Class::Token, info, false) => i,
        None => return,
    };
    out.push(Found {
        start: u0,
        end,
        rule: "url:userinfo",
        label: "url-credentials",
        by: USERINFO.id,
    });
}

/// The scheme before `://` at `s` (its last part: `jdbc:postgresql`, `mongodb+srv`) is a database's.
fn is_db_scheme(t: &[u8], s: usize) -> bool {
    let mut a = s;
    while a > 0
        && (t[a - 1].is_ascii_alphanumeric() || matches!(t[a - 1], b'+' | b'.' | b'-' | b':'))
    {
        a -= 1;
    }
    let scheme: Vec<u8> = t[a..s].iter().map(|b| b.to_ascii_lowercase()).collect();
    let last = scheme
        .rsplit(|b| *b == b':' || *b == b'+')
        .next()
        .unwrap_or(&[]);
    DB_SCHEMES.contains(&last)
}

/// Database URLs: the host goes too (it names the customer's database), and every host of a multi-host list
/// (`user:pw@h1:1,user:pw@h2:2/db`). `at` is the `@`.
fn db_hosts_end(t: &[u8], at: usize) -> usize {
    let mut h = at + 1;
    while h < t.len() && h < at + 512 && t[h] != b';' && !ends_url_part(t[h]) {
        h += 1;
    }
    h
}
