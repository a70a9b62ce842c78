//! Shared. Our JSON header records and HAR name/value pairs: `{"name": "Authorization", "value": "..."}`.

use super::key::{Claim, Key};
use super::value::push_value;
use super::{quoted_at, skip_ws_nl, Find, Found, Recogniser};

pub(super) const HEADER_RECORD: Recogniser = Recogniser {
    id: "header-record",
    syntax: "a JSON name/value record whose name is secret-looking: {\"name\": \"Authorization\", \"value\": \"...\"}",
    examples: &[
        "{\"name\": \"Authorization\", \"value\": \"Bearer «Qm3xT8vR2pL6nW9kZ4yB»\"}",
        "{\"name\": \"x-api-key\",\n \"value\": \"«k7Vq2Lm9Xp4Tn8Rw»\"}",
    ],
    keeps: &[
        "{\"name\": \"Authorization\", \"value\": \"[REDACTED:auth:1]\"}",
        "{\"name\": \"x-api-key\", \"value\": \"\"}",
    ],
    find: Find::Key(header_record),
};

fn header_record(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    let t = k.t;
    if !k.quoted {
        return Claim::Pass;
    }
    let j = skip_ws_nl(t, k.after);
    if t.get(j) != Some(&b',') {
        return Claim::Pass;
    }
    let i = skip_ws_nl(t, j + 1);
    if !t[i..].starts_with(b"\"value\"") {
        return Claim::Pass;
    }
    let i = skip_ws_nl(t, i + 7);
    if t.get(i) != Some(&b':') {
        return Claim::Pass;
    }
    let i = skip_ws_nl(t, i + 1);
    if let Some((a, b, _)) = quoted_at(t, i) {
        push_value(t, k.class, a, b, true, HEADER_RECORD.id, out);
    }
    Claim::Done
}
