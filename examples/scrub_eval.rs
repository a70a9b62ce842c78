//! Measures the scrubber on the shared secrets corpus (never copied into the repository).
//!
//! `cargo run --release --example scrub_eval -- [CORPUS.jsonl] [--show-misses N] [--show-fp N]`
//!
//! Recall: over records with `expect: redact`, the share whose scrubbed text keeps none of their `secrets`
//! (keeping more than 4 characters of a secret, i.e. any 5-character piece of it that is not also in the
//! record's other text, counts as a miss). Precision proxy: over `expect: keep`, the share left byte-identical.
//! Collateral: the characters redacted that are no part of any of the record's `secrets` (over `expect: redact`
//! records; every redacted character of an `expect: keep` record counts too, shown apart), against all the
//! characters redacted. No known values are given: this measures layers 2 and 3 alone.

use std::collections::BTreeMap;

use cohere_bundle_core::scrub::{ScrubOptions, Scrubber};

/// Characters redacted, and those of them that were no part of a secret.
#[derive(Default)]
struct Collateral {
    redacted: usize,
    not_secret: usize,
    keep_redacted: usize,
}

impl Collateral {
    /// Adds what the scrubber redacts in `text`, whose secrets are `secrets`.
    fn add(&mut self, scrubber: &Scrubber, text: &str, secrets: &[&str], keep: bool) {
        let mut secret = vec![false; text.len()];
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            for (i, _) in text.match_indices(s) {
                secret[i..i + s.len()].iter_mut().for_each(|b| *b = true);
            }
        }
        for r in scrubber.redacted_ranges(text.as_bytes()) {
            let chars = |from: usize, to: usize| {
                text.get(from..to).map_or(to - from, |t| t.chars().count())
            };
            if keep {
                self.keep_redacted += chars(r.start, r.end);
                continue;
            }
            self.redacted += chars(r.start, r.end);
            let mut i = r.start;
            while i < r.end {
                let j = (i + 1..=r.end)
                    .find(|&j| j == r.end || secret[j] != secret[i])
                    .unwrap_or(r.end);
                if !secret[i] {
                    self.not_secret += chars(i, j);
                }
                i = j;
            }
        }
    }
}

#[derive(Default)]
struct Tally {
    redact: usize,
    caught: usize,
    keep: usize,
    kept: usize,
}

fn leaked(secret: &str, text: &str, out: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    if out.contains(secret) {
        return true;
    }
    let b = secret.as_bytes();
    if b.len() <= 4 {
        return false;
    }
    // Placeholders are ours, not the secret's.
    let out = &strip_placeholders(out);
    // Context: the record's text with every occurrence of this secret removed.
    let context = text.replace(secret, "\u{0}");
    b.windows(5).any(|w| {
        let Ok(w) = std::str::from_utf8(w) else {
            return false;
        };
        out.contains(w) && !context.contains(w)
    })
}

fn main() {
    let mut path = "../shared/secrets-corpus/corpus.jsonl".to_string();
    let mut show_misses = 0usize;
    let mut show_fp = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--show-misses" => show_misses = args.next().and_then(|n| n.parse().ok()).unwrap_or(20),
            "--scrub-file" => {
                // Debug aid: print one file scrubbed.
                let f = args.next().unwrap_or_default();
                let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{f}: {e}"));
                print!(
                    "{}",
                    Scrubber::new(ScrubOptions::default()).scrub_str(&f, &text)
                );
                return;
            }
            "--show-fp" => show_fp = args.next().and_then(|n| n.parse().ok()).unwrap_or(20),
            _ => path = a,
        }
    }
    let data = match std::fs::read_to_string(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let scrubber = Scrubber::new(ScrubOptions::default());
    let mut overall = Tally::default();
    let mut by_cat: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_source: BTreeMap<String, Tally> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut fps = Vec::new();
    let start = std::time::Instant::now();
    let mut bytes = 0usize;
    let mut longest_total = 0usize;
    let mut longest_ok = 0usize;
    let mut collateral = Collateral::default();
    for (n, line) in data.lines().enumerate() {
        let Ok(r) = serde_json::from_str::<serde_json::Value>(line) else {
            eprintln!("{path}:{}: not JSON", n + 1);
            continue;
        };
        let text = r["text"].as_str().unwrap_or_default();
        let expect = r["expect"].as_str().unwrap_or_default();
        let source = r["source"].as_str().unwrap_or("?").to_string();
        let cats: Vec<String> = r["category"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        bytes += text.len();
        let out = scrubber.scrub_str("eval", text);
        let listed: Vec<&str> = r["secrets"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        match expect {
            "redact" => collateral.add(&scrubber, text, &listed, false),
            "keep" => collateral.add(&scrubber, text, &[], true),
            _ => {}
        }
        let mut tallies: Vec<&mut Tally> = vec![&mut overall];
        let mut cat_keys = cats.clone();
        cat_keys.dedup();
        // Borrow juggling: update the maps after.
        let (is_redact, ok) = match expect {
            "redact" => {
                let secrets: Vec<&str> = r["secrets"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                    .unwrap_or_default();
                let ok = !secrets.iter().any(|s| leaked(s, text, &out));
                // Secondary figure: only the longest capture (Nosey Parker also lists user names and hosts).
                if let Some(longest) = secrets.iter().max_by_key(|s| s.len()) {
                    longest_total += 1;
                    longest_ok += !leaked(longest, text, &out) as usize;
                }
                if !ok {
                    let lk: Vec<&str> = secrets
                        .iter()
                        .copied()
                        .filter(|s| leaked(s, text, &out))
                        .collect();
                    misses.push((
                        format!("{} leaked={:?}", r["rule_id"].as_str().unwrap_or("?"), lk),
                        text.to_string(),
                        out.clone(),
                    ));
                }
                (true, ok)
            }
            "keep" => {
                let ok = out == text;
                if !ok {
                    fps.push((
                        r["rule_id"].as_str().unwrap_or("?").to_string(),
                        text.to_string(),
                        out.clone(),
                    ));
                }
                (false, ok)
            }
            _ => continue,
        };
        for t in tallies.iter_mut() {
            add(t, is_redact, ok);
        }
        tallies.clear();
        for c in &cat_keys {
            add(by_cat.entry(c.clone()).or_default(), is_redact, ok);
        }
        add(by_source.entry(source).or_default(), is_redact, ok);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("corpus: {path}");
    println!("{:<22} {:>16} {:>16}", "", "recall", "precision");
    print_row("overall", &overall);
    println!("-- by source");
    for (k, t) in &by_source {
        print_row(k, t);
    }
    println!("-- by category");
    for (k, t) in &by_cat {
        print_row(k, t);
    }
    println!(
        "secondary: recall counting only each record's longest secret: {}",
        pct(longest_ok, longest_total)
    );
    println!(
        "collateral: {} of {} characters redacted in records with secrets were no part of a secret ({:.2}%); {} characters redacted in records without secrets",
        collateral.not_secret,
        collateral.redacted,
        100.0 * collateral.not_secret as f64 / collateral.redacted.max(1) as f64,
        collateral.keep_redacted
    );
    println!("scrubbed {bytes} bytes of records in {secs:.2}s");
    for (rule, text, out) in misses.iter().take(show_misses) {
        println!("MISS {rule}\n  in : {}\n  out: {}", trunc(text), trunc(out));
    }
    for (rule, text, out) in fps.iter().take(show_fp) {
        println!("FP {rule}\n  in : {}\n  out: {}", trunc(text), trunc(out));
    }
}

fn add(t: &mut Tally, is_redact: bool, ok: bool) {
    if is_redact {
        t.redact += 1;
        t.caught += ok as usize;
    } else {
        t.keep += 1;
        t.kept += ok as usize;
    }
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}% ({a}/{b})", 100.0 * a as f64 / b as f64)
    }
}

fn print_row(name: &str, t: &Tally) {
    println!(
        "{name:<22} {:>16} {:>16}",
        pct(t.caught, t.redact),
        pct(t.kept, t.keep)
    );
}

fn trunc(s: &str) -> String {
    let s: String = s.chars().take(400).collect();
    s.replace('\n', "\\n")
}

/// The output with every `[REDACTED:...]` / `[CONTENT:...]` placeholder replaced by a NUL.
fn strip_placeholders(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let next = [rest.find("[REDACTED:"), rest.find("[CONTENT:")]
            .into_iter()
            .flatten()
            .min();
        let Some(i) = next else { break };
        out.push_str(&rest[..i]);
        out.push('\u{0}');
        match rest[i..].find(']') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}
