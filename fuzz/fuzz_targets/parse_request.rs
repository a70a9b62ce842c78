//! Fuzzes request parsing: any bytes give a request or an error, never a panic.
#![no_main]

use cohere_bundle_core::input::request::{parse_request, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in ["request.json", "capture.har", "curl.sh", "input"] {
        let _ = parse_request(name, data, &ParseOptions::default());
    }
});
