//! Shared. Keys and values: JSON, YAML, INI, env files, properties and code assignments (`"password": "..."`,
//! `PASSWORD=...`, `token: ...`), HTTP header lines (`Authorization: Bearer ...`), and `.netrc` lines.

use super::class::Class;
use super::key::{emit, value_at, Claim, Key, Value};
use super::{near_before, Find, Found, Recogniser};

pub(super) const QUOTED_ASSIGNMENT: Recogniser = Recogniser {
    id: "quoted-assignment",
    syntax: "a secret-looking key, an operator (= : => := ...) and a quoted value, in JSON, YAML or code; the \
             value may start on the next line (YAML)",
    examples: &[
        "{\"password\": \"«hunter22»\"}",
        "user_password = '«open sez me»'\n",
        "  :password => '«r4ilsPass»',",
        "api_token:\n    \"«Qm3xT8vR2pL6nW9k»\"",
        "var apiToken string = \"«Qm3xT8vR2pL6nW9k»\"",
    ],
    keeps: &[
        "password: \"Enter a new password for your account below\"",
        "{\"token\": \"\"}",
        "{\"role\": \"password\"}",
    ],
    find: Find::Key(quoted_assignment),
};

fn quoted_assignment(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    match k.assigned {
        Some(v @ Value::Quoted(..)) => {
            emit(k, v, QUOTED_ASSIGNMENT.id, out);
            Claim::Done
        }
        _ => Claim::Pass,
    }
}

pub(super) const HEADER_LINE: Recogniser = Recogniser {
    id: "header-line",
    syntax:
        "an auth or cookie header and its value, which ends at its token (a one-token scheme's or a bare \
             credential's last token byte; a cookie list's last pair; another scheme's parameters before \
             `;`, `)` or a new field): the auth scheme stays, and what follows the value on its line too: \
             Authorization: Bearer ..., Cookie: ...",
    examples: &[
        "Authorization: Bearer «Qm3xT8vR2pL6nW9kZ4yB»\r\n",
        "Cookie: «sid=k3Jq9ZpL2m; theme=dark»\n",
        "curl -H \"X-Api-Key: «k7Vq2Lm9Xp4Tn8Rw»\" https://api.internal/v1",
        "Authorization: Bearer «Qm3xT8vR2pL6nW9kZ4yB» status=500 x-debug-trace-id=a1b2c3",
        "(Authorization: Bearer «Qm3xT8vR2pL6nW9kZ4yB»)",
        "Authorization=Bearer «Qm3xT8vR2pL6nW9kZ4yB»;x-request-id=5f1c",
        "authorization: Bearer «Qm3xT8vR2pL6nW9kZ4yB», content-type: application/json",
        "Cookie: «sid=k3Jq9ZpL2m» status=500",
        "Authorization: Digest «username=\"ops\", response=\"6629fae49393a053\"»; retry=2",
        "Authorization: SSWS «00QCjAl4MlV-WPXM-0HmjFx-vbGua» status=401",
        "curl -L -H \"Authorization: «sha256~bRLFnzd5@=-.a+/hgdS»\"",
    ],
    keeps: &[
        "Authorization: Bearer ${TOKEN}",
        "Authorization: Bearer [REDACTED:auth:1]",
        "Cookie: x",
    ],
    find: Find::Key(header_line),
};

/// Tried after [`QUOTED_ASSIGNMENT`]: the value is not quoted.
fn header_line(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    match k.assigned {
        Some(v @ Value::Bare(_)) if matches!(k.class, Class::Header | Class::Cookie) => {
            emit(k, v, HEADER_LINE.id, out);
            Claim::Done
        }
        _ => Claim::Pass,
    }
}

pub(super) const BARE_ASSIGNMENT: Recogniser = Recogniser {
    id: "bare-assignment",
    syntax: "a secret-looking key, an operator and an unquoted value up to a space or punctuation, in env \
             files, INI, properties, YAML and query strings; a bare word counts when it is alone on its line",
    examples: &[
        "DB_PASSWORD=«hx7Qe2pW9»",
        "token: «q7w2e9k3l5m8n1p4r6s2»",
        "# MAILER_PASSWORD=«bluefalcon»",
        "SMTP_PASSWORD=«bluefalcon»    # from the vault",
        "https://api.internal/v1/items?access_token=«Qm3xT8vR2pL6nW9k»&page=2",
    ],
    keeps: &[
        "export DB_PASSWORD=$DB_PASSWORD_FROM_VAULT",
        "password = settings.db_password",
        "{\"max_tokens\": 100, \"input_tokens\": 12}",
        "if (password) { login(user, password) }",
    ],
    find: Find::Key(bare_assignment),
};

/// Tried after [`QUOTED_ASSIGNMENT`] and [`HEADER_LINE`]: takes every other key an operator follows.
fn bare_assignment(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    match k.assigned {
        Some(v) => {
            emit(k, v, BARE_ASSIGNMENT.id, out);
            Claim::Done
        }
        None => Claim::Pass,
    }
}

pub(super) const NETRC_LINE: Recogniser = Recogniser {
    id: "netrc-line",
    syntax:
        "a .netrc entry's password or login, its value after a space: machine host password ...",
    examples: &["machine api.internal password «Zq8rT2vX9k»"],
    keeps: &["machine learning password reset", "the password Zq8rT2vX9k"],
    find: Find::Key(netrc_line),
};

/// Tried after the assignments: no operator follows the key.
fn netrc_line(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    if !(matches!(k.class, Class::Password | Class::User)
        && k.t.get(k.ke) == Some(&b' ')
        && near_before(k.t, k.ks, b"machine "))
    {
        return Claim::Pass;
    }
    emit(k, value_at(k.t, k.op, k.enclosing), NETRC_LINE.id, out);
    Claim::Done
}
