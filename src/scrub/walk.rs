//! One test walks every pattern rule ([`super::rules::RULES`]) through its examples and near misses.
//!
//! Each example goes through the scrubber the bundle uses ([`Scrubber::scrub_str`], no known values): the
//! output must be the example with exactly its marked parts (`«…»`) replaced by placeholders, and among the
//! engine's findings (before overlapping findings are merged) the rule must have found each marked part
//! exactly. In each near miss the rule must find nothing; other rules and layers may.

use std::ops::Range;

use super::{rules, Mode, Origin, ScrubOptions, Scrubber};

/// Where a finding comes from: a pattern rule, by its index in the table.
#[derive(Debug, Clone, Copy)]
enum Source {
    Rule(usize),
}

impl Source {
    fn name(self) -> String {
        match self {
            Source::Rule(r) => format!("pattern:{}", rules::RULES[r].id),
        }
    }

    fn found(self, origin: Origin) -> bool {
        match (self, origin) {
            (Source::Rule(r), Origin::Pattern(o)) => r == o,
            _ => false,
        }
    }
}

/// An example's text without its marks, and the byte ranges that were marked.
fn unmark(example: &str) -> (String, Vec<Range<usize>>) {
    let mut text = String::new();
    let mut marks = Vec::new();
    let mut open = None;
    for c in example.chars() {
        match c {
            '«' => open = Some(text.len()),
            '»' => marks.push(open.take().expect("» closes a «")..text.len()),
            c => text.push(c),
        }
    }
    assert!(open.is_none(), "unclosed « in {example:?}");
    (text, marks)
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
    let (text, marks) = unmark(example);
    if marks.is_empty() {
        failures.push(format!("{}: example {example:?} marks no part", src.name()));
        return;
    }
    let scrubber = Scrubber::new(ScrubOptions::default());
    let out = scrubber.scrub_str("example", &text);
    if !expected(&text, &marks).is_match(&out) {
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
    assert!(!keep.contains('«'), "a near miss has no marks: {keep:?}");
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
fn every_rule_redacts_its_examples_and_keeps_its_near_misses() {
    let mut failures = Vec::new();
    let mut walked = 0;
    for (i, r) in rules::RULES.iter().enumerate() {
        let src = Source::Rule(i);
        if r.examples.is_empty() || r.keeps.is_empty() {
            failures.push(format!(
                "{}: needs at least one example and one near miss",
                src.name()
            ));
        }
        for e in r.examples {
            check_example(src, e, &mut failures);
            walked += 1;
        }
        for k in r.keeps {
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
