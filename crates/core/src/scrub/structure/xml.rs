//! Shared. XML: a name/value attribute pair (`<add key="Password" value="..."/>`) and an element named like a secret
//! (`<apiToken>...</apiToken>`).

use super::class::{classify, label, rule_name};
use super::key::{Claim, Key};
use super::value::{plausible, push_value};
use super::{quoted_at, skip_ws, Find, Found, Recogniser};

pub(super) const ATTRIBUTE: Recogniser = Recogniser {
    id: "xml-attribute",
    syntax: "an XML name/value attribute pair whose name is secret-looking: <add key=\"Password\" value=\"...\"/>",
    examples: &[
        "<add key=\"SmtpPassword\" value=\"«Tr0ub4dor-77»\" />",
        "<add key=\"ApiToken\" value=\"«Qm3xT8vR2pL6nW9k»\"/>",
    ],
    keeps: &[
        "<add key=\"SmtpHost\" value=\"mail.internal\" />",
        "<add key=\"SmtpPassword\" value=\"\" />",
    ],
    find: Find::Key(attribute),
};

fn attribute(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    let t = k.t;
    if !t[k.ks..k.ke].eq_ignore_ascii_case(b"key") || !t[k.ke..].starts_with(b"=\"") {
        return Claim::Pass;
    }
    let Some((na, nb, nend)) = quoted_at(t, k.ke + 1) else {
        return Claim::Pass;
    };
    let j = skip_ws(t, nend);
    if !t[j..].starts_with(b"value=") {
        return Claim::Pass;
    }
    if let (Some(class), Some((a, b, _))) = (classify(&t[na..nb]), quoted_at(t, j + 6)) {
        push_value(t, class, a, b, true, ATTRIBUTE.id, out);
    }
    Claim::Done
}

pub(super) const ELEMENT: Recogniser = Recogniser {
    id: "xml-element",
    syntax: "an XML element named like a secret: <apiToken>value</apiToken>",
    examples: &[
        "<apiToken>«Qm3xT8vR2pL6nW9k»</apiToken>",
        "<password>\n  «Tr0ub4dor-77»\n</password>",
    ],
    keeps: &["<password></password>", "<apiToken>${API_TOKEN}</apiToken>"],
    find: Find::Key(element),
};

fn element(k: &Key<'_>, out: &mut Vec<Found>) -> Claim {
    let t = k.t;
    if k.before != Some(b'<') {
        return Claim::Pass;
    }
    if t.get(k.ke) != Some(&b'>') {
        return Claim::Done;
    }
    let mut vs = k.ke + 1;
    while vs < t.len() && t[vs].is_ascii_whitespace() {
        vs += 1;
    }
    let mut ve = vs;
    while ve < t.len() && t[ve] != b'<' && ve < vs + 4096 {
        ve += 1;
    }
    while ve > vs && t[ve - 1].is_ascii_whitespace() {
        ve -= 1;
    }
    if plausible(k.class, &t[vs..ve], true) {
        out.push(Found {
            start: vs,
            end: ve,
            rule: rule_name(k.class),
            label: label(k.class),
            by: ELEMENT.id,
        });
    }
    Claim::Done
}
