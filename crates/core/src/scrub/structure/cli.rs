//! Shared. Command lines: curl's `-u user:password`, a `-u user` that goes with a `-p password`, that `-p password`,
//! and a secret-looking flag followed by its value (`--token ...`, `-Password ...`).

use super::class::Class;
use super::key::{emit, value_at, Claim, Key};
use super::value::plausible;
use super::{skip_ws, Find, Found, Recogniser};

pub(super) const CURL_USER: Recogniser = Recogniser {
    id: "curl-user",
    syntax: "curl's -u/--user user:password (both go), or an API key as user name with an empty password",
    examples: &[
        "curl -u «ops:Zq8rT2vX9k» https://api.internal/v1",
        "curl --user=«deploy:Tr0ub4dor-77» https://api.internal/v1",
        "curl -u «\"Xk29vLq7Zp3R:\"» https://localhost:9200",
    ],
    keeps: &[
        "curl -u ops https://api.internal",
        "curl -u \"<user>:<password>\" https://api.internal",
        "curl -u ops:$PASSWORD https://api.internal",
    ],
    find: Find::Hit(curl_user),
};

/// The value after `-u`/`--user` at `[s, e)`, when the flag stands alone.
fn user_value(t: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if s > 0 && !t[s - 1].is_ascii_whitespace() {
        return None;
    }
    let mut i = e;
    if t.get(i) == Some(&b'=') {
        i += 1;
    } else if t.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
        i = skip_ws(t, i);
    } else {
        return None;
    }
    if i >= t.len() {
        return None;
    }
    let mut j = i;
    while j < t.len() && !t[j].is_ascii_whitespace() {
        j += 1;
    }
    Some((i, j))
}

fn curl_user(t: &[u8], s: usize, e: usize, out: &mut Vec<Found>) {
    let Some((vs, ve)) = user_value(t, s, e) else {
        return;
    };
    let v = &t[vs..ve];
    let Some(c) = v.iter().position(|b| *b == b':') else {
        return;
    };
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
            by: CURL_USER.id,
        });
    }
}

pub(super) const CLI_USER: Recogniser = Recogniser {
    id: "cli-user",
    syntax: "-u user on a line that also has -p password (psexec, docker login, mysql): the user goes with \
             the password",
    examples: &[
        "psexec \\\\host07 -u «svc_ops» -p ‹Zq8rT2vX9k› cmd",
        "docker login -u «ci-bot» -p ‹Zq8rT2vX9k› registry.internal",
    ],
    keeps: &["docker run -u 1000 image", "mysql -u $DB_USER -p Zq8rT2vX9k"],
    find: Find::Hit(cli_user),
};

fn cli_user(t: &[u8], s: usize, e: usize, out: &mut Vec<Found>) {
    let Some((vs, ve)) = user_value(t, s, e) else {
        return;
    };
    let v = &t[vs..ve];
    if v.contains(&b':') {
        return;
    }
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
            by: CLI_USER.id,
        });
    }
}

pub(super) const CLI_PASSWORD: Recogniser = Recogniser {
    id: "cli-password",
    syntax: "-p password on a line with -u user or a login command (psexec, docker login, mysql)",
    examples: &[
        "docker login -u ‹ci-bot› -p «Zq8rT2vX9k» registry.internal",
        "mysql -u ‹report› -p «Tr0ub4dor-77» sales",
    ],
    keeps: &[
        "ssh -p 2222 ops@host",
        "docker login -u ci-bot -p $CI_PASSWORD",
    ],
    find: Find::Hit(dash_p),
};

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
            by: CLI_PASSWORD.id,
        });
    }
}

pub(super) const FLAG: Recogniser = Recogniser {
    id: "cli-flag",
    syntax:
        "a secret-looking flag and its value after a space: --token ..., -Password ... (PowerShell)",
    examples: &[
        "kubeadm join --token «q7w2e9.k3l5m8n1p4r6s2»",
        "Connect-VIServer -Server vc01 -User ‹admin@vsphere.local› -Password «Vm9pass!»",
    ],
    keeps: &[
        "docker login -u ci --password-stdin registry.internal",
        "app --token $APP_TOKEN",
    ],
    find: Find::Key(flag),
};

/// Tried after the assignments: no operator follows the key.
fn flag(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    if !(k.t[k.ks..k.ke].starts_with(b"-") && k.t.get(k.ke) == Some(&b' ') && k.op > k.ke) {
        return Claim::Pass;
    }
    emit(k, value_at(k.t, k.op, k.enclosing), FLAG.id, out);
    Claim::Done
}
