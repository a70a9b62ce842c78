//! Fuzzes the scrubber: no panic on any input, no known secret survives, scrubbing is idempotent, and
//! streaming agrees with whole-text scrubbing.
#![no_main]

use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "wsEGdjnelIuVJy7VjzPhIzDz9YlDgiPBA3CO9PFw";

fn scrubber() -> &'static Scrubber {
    static S: std::sync::OnceLock<Scrubber> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        Scrubber::new({
            let mut o = ScrubOptions::default();
            o.known = vec![KnownSecret::new("cohere-key", KEY)];
            o.redact_content = false;
            o
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let s = scrubber();
    let once = s.scrub_bytes("fuzz", data);
    assert!(s.find_leaks("fuzz", &once).is_empty(), "a known secret or high-confidence token survived");
    let twice = s.scrub_bytes("fuzz", &once);
    assert_eq!(once, twice, "scrubbing is idempotent");
    let mut streamed = Vec::new();
    s.scrub_stream("fuzz", data, &mut streamed).expect("in-memory I/O cannot fail");
    assert_eq!(once, streamed, "streaming agrees with whole-text scrubbing");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = s.scrub_str("fuzz", text);
    }
});
