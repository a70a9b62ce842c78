//! Shared. Code: a comparison with a literal (`password == "..."`), a call that sets a secret-looking name
//! (`setenv("API_TOKEN", "...")`), and a DSL line (`password "..."`).

use super::class::Class;
use super::key::{emit, value_at, Claim, Key};
use super::value::push_value;
use super::{quoted_at, skip_ws, Find, Found, Recogniser};

pub(super) const COMPARISON: Recogniser = Recogniser {
    id: "comparison",
    syntax: "a password compared with a literal: if password == \"...\", Secret != '...'",
    examples: &[
        "if password == \"«letm3in!»\":",
        "if creds.Secret != '«open-door-42»' {",
        "assert pwd === \"«Zq8rT2vX»\"",
    ],
    keeps: &[
        "if password == user_input:",
        "if token == \"q7w2e9k3l5m8\":",
        "if password == \"\":",
    ],
    find: Find::Key(comparison),
};

/// A comparison is this recogniser's whatever the key, so that no other reads `==` as an assignment; only a
/// password's literal is redacted.
fn comparison(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    let t = k.t;
    let i = k.op;
    if !(t[i..].starts_with(b"==") || t[i..].starts_with(b"!=")) {
        return Claim::Pass;
    }
    if k.class == Class::Password {
        let mut j = i + 2;
        if t.get(j) == Some(&b'=') {
            j += 1;
        }
        let j = skip_ws(t, j);
        if let Some((a, b, _)) = quoted_at(t, j) {
            if b - a >= 3 {
                push_value(t, k.class, a, b, true, COMPARISON.id, out);
            }
        }
    }
    Claim::Done
}

pub(super) const CALL: Recogniser = Recogniser {
    id: "code-call",
    syntax:
        "a call given a quoted secret-looking name, then its value: setenv(\"API_TOKEN\", \"...\")",
    examples: &[
        "os.environ.setdefault(\"API_TOKEN\", \"«Qm3xT8vR2pL6nW9k»\")",
        "config.set('db_password', '«Tr0ub4dor-77»')",
    ],
    keeps: &[
        "setenv(\"API_TOKEN\", token)",
        "os.environ.setdefault(\"API_TOKEN\", \"\")",
    ],
    find: Find::Key(call),
};

/// Tried after the assignments: no operator follows the key.
fn call(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    if !k.quoted || k.t.get(k.op) != Some(&b',') {
        return Claim::Pass;
    }
    emit(k, value_at(k.t, k.op + 1, k.enclosing), CALL.id, out);
    Claim::Done
}

pub(super) const DSL_LINE: Recogniser = Recogniser {
    id: "dsl-line",
    syntax: "a Gradle or Groovy DSL line: password \"...\" (or login \"...\") alone on its line",
    examples: &[
        "credentials {\n    username \"‹deploy›\"\n    password \"«Zq8rT2vX9k»\"\n}",
        "    login \"«ci-deploy»\"",
    ],
    keeps: &[
        "    password project.findProperty(\"repoPassword\")",
        "    password \"x\"",
        "println password \"Zq8rT2vX9k\"",
    ],
    find: Find::Key(dsl_line),
};

/// Tried after the assignments: no operator follows the key.
fn dsl_line(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    let t = k.t;
    if !(matches!(k.class, Class::Password | Class::User)
        && t.get(k.ke) == Some(&b' ')
        && matches!(t.get(k.op), Some(b'"' | b'\''))
        && t[..k.ks]
            .iter()
            .rev()
            .take_while(|b| **b != b'\n')
            .all(|b| b.is_ascii_whitespace()))
    {
        return Claim::Pass;
    }
    emit(k, value_at(t, k.op, k.enclosing), DSL_LINE.id, out);
    Claim::Done
}
