//! Shared. A Kubernetes Secret manifest (`kind: Secret`): every entry of its `data:` / `stringData:` block.

use super::{Find, Found, Recogniser};

pub(super) const SECRET_DATA: Recogniser = Recogniser {
    id: "k8s-secret",
    syntax: "each entry of a Kubernetes Secret's data: or stringData: block, key and value (the keys of a \
             Secret name what it holds; the values are only base64)",
    examples: &[
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  «db-url: cG9zdGdyZXM6Ly9hcHA=»\n  note: \"\"\n",
        "kind: 'Secret'\nstringData:\n  «config.json: |\n    {\"endpoint\": \"https://api.internal\"}»\n",
    ],
    keeps: &[
        "kind: SecretStore\ndata:\n  note: aGVsbG8gd29ybGQgYWdhaW4=\n",
        "kind: Secret\ndata:\n  short: YWJj\n  list:\n    - aGVsbG8gd29ybGQgYWdhaW4=\n",
    ],
    find: Find::Hit(k8s_secret),
};

/// At `Secret` (hit at `s`): when it is the manifest's kind, every entry of its data blocks.
fn k8s_secret(t: &[u8], s: usize, _e: usize, out: &mut Vec<Found>) {
    if !kind_secret_at(t, s) {
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
    let mut lines: Vec<(usize, &[u8])> = Vec::new();
    let mut at = doc_start;
    for l in t[doc_start..doc_end].split(|b| *b == b'\n') {
        lines.push((at, l));
        at += l.len() + 1;
    }
    let mut i = 0;
    while i < lines.len() {
        let (_, l) = lines[i];
        let d = indent(l);
        let rest = l[d..].trim_ascii_end();
        i += 1;
        if rest == b"data:" || rest == b"stringData:" {
            i = data_block(&lines, i, d, out);
        }
    }
}

/// `kind: Secret`, `kind: 'Secret'`, `"kind": "Secret"`, with `Secret` at `s`.
fn kind_secret_at(t: &[u8], s: usize) -> bool {
    let mut p = s;
    while p > 0 && matches!(t[p - 1], b'"' | b'\'' | b' ' | b'\t') {
        p -= 1;
    }
    if p == 0 || t[p - 1] != b':' {
        return false;
    }
    let k = &t[p.saturating_sub(6)..p - 1];
    (k.ends_with(b"kind") || k.ends_with(b"kind\""))
        && !t.get(s + 6).is_some_and(|b| b.is_ascii_alphanumeric())
}

fn indent(l: &[u8]) -> usize {
    l.iter().take_while(|b| matches!(b, b' ' | b'\t')).count()
}

/// The entries of a data block starting at line `i`, under a header indented by `d`: each entry with its
/// block-scalar continuation lines. Returns the line after the block.
fn data_block(lines: &[(usize, &[u8])], mut i: usize, d: usize, out: &mut Vec<Found>) -> usize {
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
        if holds_a_value(body) {
            out.push(Found {
                start,
                end,
                rule: "k8s:secret-data",
                label: "k8s-secret",
                by: SECRET_DATA.id,
            });
        }
    }
    i
}

/// `key: value` with a real value: not empty, not a template, not a list.
fn holds_a_value(body: &[u8]) -> bool {
    let Some(c) = body.iter().position(|b| *b == b':') else {
        return false;
    };
    let value = body[c + 1..].trim_ascii();
    let bare = value.iter().filter(|b| !matches!(b, b'"' | b'\'')).count();
    let block = matches!(value, b"|" | b">" | b"|-" | b">-");
    !(body.starts_with(b"-")
        || value.starts_with(b"{")
        || value.starts_with(b"$")
        || (!block && bare < 12))
}
