//! Every parser of server or user text takes anything without a panic (issue 12): property tests over random
//! input for the stream scanner, the response judge, URL masking, size and secret-file values, SDK log
//! scanning and request parsing. (Retry-After has its own in src/matrix/schedule.rs; the request parser and the
//! scrubber also have fuzz targets in fuzz/.)

use cohere_bundle_core::exchange::{Body, Header};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn the_stream_scanner_takes_any_bytes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8)) {
        let mut s = cohere_bundle_core::sse::StreamScanner::default();
        for c in &chunks {
            s.feed(c);
        }
        s.finish();
        let _ = s.verdict();
    }

    #[test]
    fn the_response_judge_takes_any_body(text in "(data: |event: |\\{|\\}|\\[DONE\\]|message-end|\n|[ -~])*", stream in any::<bool>(), status in 100u16..600) {
        let ct = if stream { "text/event-stream" } else { "application/json" };
        let f = cohere_bundle_core::sse::check_complete(status, &[Header::new("content-type", ct)], &serde_json::Value::Null, &Body::from_text(text));
        if !(200..300).contains(&status) {
            prop_assert!(f.is_none());
        }
    }

    #[test]
    fn url_masking_takes_any_text(s in "\\PC{0,80}", key in "[A-Za-z0-9]{8,20}") {
        let _ = cohere_bundle_core::scrub::mask_url(&s);
        let masked = cohere_bundle_core::scrub::mask_url(&format!("https://u:{key}@h.example/x?api_key={key}&q=1"));
        prop_assert!(!masked.contains(&key), "{masked}");
    }

    #[test]
    fn size_values_parse_or_say_why(s in "\\PC{0,20}") {
        let _ = cohere_bundle_core::bundle::fit::parse_size(&s);
    }

    #[test]
    fn sdk_log_scanning_takes_any_text(text in "(Traceback|status_code: 404|body: \\{'message': '|'date': '|HTTP/1.1 |\n|[ -~])*") {
        for e in cohere_bundle_core::input::sdklog::find_sdk_errors(&text) {
            let _ = cohere_bundle_core::input::sdklog::time_near(&text, e.line);
        }
        let _ = cohere_bundle_core::input::sdklog::client_from_log(&text);
    }

    #[test]
    fn client_headers_take_any_values(ua in "\\PC{0,80}", name in "\\PC{0,20}") {
        let _ = cohere_bundle_core::input::sdklog::client_from_headers(&[
            Header::new("user-agent", ua),
            Header::new("x-fern-sdk-name", name),
        ]);
    }

    #[test]
    fn request_parsing_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = cohere_bundle_core::input::request::parse_request("r", &bytes, &Default::default());
    }
}
