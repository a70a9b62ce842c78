//! Shared. HAR cookies: `"cookies": [{"name": "sid", "value": "..."}]`.

use super::{quoted_at, skip_ws_nl, Find, Found, Recogniser};

pub(super) const COOKIES: Recogniser = Recogniser {
    id: "har-cookies",
    syntax: "every value in a HAR cookies array: \"cookies\": [{\"name\": \"sid\", \"value\": \"...\"}]",
    examples: &[
        "\"cookies\": [{\"name\": \"sid\", \"value\": \"«k3Jq9ZpL2m»\"}, {\"name\": \"theme\", \"value\": \"«dark»\"}]",
    ],
    keeps: &["\"cookies\": []", "\"cookies\": [{\"name\": \"sid\", \"value\": \"\"}]"],
    find: Find::Hit(har_cookies),
};

/// HAR cookies: `"cookies": [{"name": "sid", "value": "..."}]` — every value in the array.
fn har_cookies(t: &[u8], s: usize, _e: usize, out: &mut Vec<Found>) {
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
                                by: COOKIES.id,
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
