//! Shared. One test walks every pattern rule ([`super::rules::RULES`]) and every structural recogniser
//! ([`super::structure::RECOGNISERS`]) through its examples and near misses.
//!
//! Each example goes through the scrubber the bundle uses ([`Scrubber::scrub_str`], no known values): the
//! output must be the example with exactly its marked parts (`«…»` for the rule's own, `‹…›` for what others
//! find there) replaced by placeholders, and among the engine's findings (before overlapping findings are
//! merged) the rule must have found each of its own parts exactly. In each near miss the rule must find
//! nothing; other rules and recognisers may.

use std::ops::Range;

use super::structure::{Recogniser, RECOGNISERS};
use super::{rules, Mode, Origin, ScrubOptions, Scrubber};

/// Where a finding comes from: a pattern rule (by its index in the table), or a structural recogniser.
#[derive(Clone, Copy)]
enum Source {
    Rule(usize),
    Recogniser(&'static Recogniser),
}

impl Source {
    fn name(self) -> String {
        match self {
            Source::Rule(r) => format!("pattern:{}", rules::RULES[r].id),
            Source::Recogniser(r) => format!("structure:{}", r.id),
        }
    }

    fn found(self, origin: Origin) -> bool {
        match (self, origin) {
            (Source::Rule(r), Origin::Pattern(o)) => r == o,
            (Source::Recogniser(r), Origin::Structure(_, _, by)) => r.id == by,
            _ => false,
        }
    }

    fn examples(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Source::Rule(r) => (rules::RULES[r].examples, rules::RULES[r].keeps),
            Source::Recogniser(r) => (r.examples, r.keeps),
        }
    }
}

/// An example's text without its marks, the ranges marked as the rule's own (`«…»`), and every marked range
/// (`‹…›` too), in order.
fn unmark(example: &str) -> (String, Vec<Range<usize>>, Vec<Range<usize>>) {
    let mut text = String::new();
    let (mut own, mut all) = (Vec::new(), Vec::new());
    let mut open = None;
    for c in example.chars() {
        match c {
            '«' | '‹' => {
                assert!(open.is_none(), "nested marks in {example:?}");
                open = Some((c, text.len()));
            }
            '»' | '›' => {
                let (o, at) = open.take().expect("a mark closes an open one");
                assert_eq!(o == '«', c == '»', "mismatched marks in {example:?}");
                if o == '«' {
                    own.push(at..text.len());
                }
                all.push(at..text.len());
            }
            c => text.push(c),
        }
    }
    assert!(open.is_none(), "unclosed mark in {example:?}");
    (text, own, all)
}

/// The scrubbed text expected for `text` with `marks` redacted: a regex.
fn expected(text: &str, marks: &[Range<usize>]) -> regex::Regex {
    let mut re = String::from("^");
    let mut at = 0;
    for m in marks {
        re.push_str(&regex::escape(&text[at..m.start]));
        re.push_str(r"\[REDACTED:[A-Za-z0-9._-]+:[0-9]+\]");
        at = m.end;
    }
    re.push_str(&regex::escape(&text[at..]));
    re.push('$');
    regex::Regex::new(&re).expect("an escaped text is a regex")
}

fn check_example(src: Source, example: &str, failures: &mut Vec<String>) {
    let (text, marks, all) = unmark(example);
    if marks.is_empty() {
        failures.push(format!("{}: example {example:?} marks no part", src.name()));
        return;
    }
    let scrubber = Scrubber::new(ScrubOptions::default());
    let out = scrubber.scrub_str("example", &text);
    if !expected(&text, &all).is_match(&out) {
        failures.push(format!(
            "{}: example {example:?} scrubs to {out:?}",
            src.name()
        ));
    }
    let found = scrubber.engine.findings(text.as_bytes(), Mode::Scrub);
    for m in &marks {
        if !found
            .iter()
            .any(|f| src.found(f.origin) && f.start == m.start && f.end == m.end)
        {
            let own: Vec<&str> = found
                .iter()
                .filter(|f| src.found(f.origin))
                .map(|f| &text[f.start..f.end])
                .collect();
            failures.push(format!(
                "{}: example {example:?}: does not find {:?} (finds {own:?})",
                src.name(),
                &text[m.clone()]
            ));
        }
    }
}

fn check_keep(src: Source, keep: &str, failures: &mut Vec<String>) {
    assert!(
        !keep.contains(['«', '»', '‹', '›']),
        "a near miss has no marks: {keep:?}"
    );
    let scrubber = Scrubber::new(ScrubOptions::default());
    for f in scrubber.engine.findings(keep.as_bytes(), Mode::Scrub) {
        if src.found(f.origin) {
            failures.push(format!(
                "{}: near miss {keep:?}: finds {:?}",
                src.name(),
                &keep[f.start..f.end]
            ));
        }
    }
}

#[test]
fn every_rule_and_recogniser_redacts_its_examples_and_keeps_its_near_misses() {
    let sources = (0..rules::RULES.len())
        .map(Source::Rule)
        .chain(RECOGNISERS.iter().map(|r| Source::Recogniser(r)));
    let mut failures = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let mut walked = 0;
    for src in sources {
        if !names.insert(src.name()) {
            failures.push(format!("{}: the name is taken twice", src.name()));
        }
        let (examples, keeps) = src.examples();
        if let Source::Recogniser(r) = src {
            if r.syntax.is_empty() {
                failures.push(format!("{}: describes no syntax", src.name()));
            }
        }
        if examples.is_empty() || keeps.is_empty() {
            failures.push(format!(
                "{}: needs at least one example and one near miss",
                src.name()
            ));
        }
        for e in examples {
            check_example(src, e, &mut failures);
            walked += 1;
        }
        for k in keeps {
            check_keep(src, k, &mut failures);
            walked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {walked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
