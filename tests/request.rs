//! Request parsing: every input form, every error, and never a panic.

use std::path::{Path, PathBuf};

use cohere_bundle_core::exchange::{header, BodyEncoding};
use cohere_bundle_core::input::request::{
    parse_request, read_request_file, ParseOptions, RequestSource,
};
use cohere_bundle_core::{CapturedRequest, Endpoint};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/core/tests/fixtures/requests")
        .join(name)
}

fn read(name: &str) -> CapturedRequest {
    read_request_file(&fixture(name), &ParseOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse_err(bytes: &[u8]) -> String {
    parse_with_err(bytes, &ParseOptions::default())
}

fn parse_with_err(bytes: &[u8], opts: &ParseOptions) -> String {
    match parse_request("req.json", bytes, opts) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => {
            let s = e.to_string();
            assert!(
                s.starts_with("req.json: "),
                "error does not name the file: {s}"
            );
            assert!(!s.contains('\n'), "error is not one line: {s}");
            s
        }
    }
}

#[test]
fn bare_body_infers_endpoint() {
    let r = read("body.json");
    assert_eq!(r.source, RequestSource::Body);
    assert_eq!(r.endpoint, Endpoint::ChatV2);
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, None);
    assert_eq!(r.model(), Some("command-a-03-2025"));
    assert_eq!(r.max_tokens(), Some(8192));
}

#[test]
fn explicit_endpoint_wins_for_a_bare_body() {
    let opts = {
        let mut o = ParseOptions::default();
        o.endpoint = Some(Endpoint::ChatV1);
        o
    };
    let r = parse_request("b", br#"{"model":"x","messages":[]}"#, &opts).unwrap();
    assert_eq!(r.endpoint, Endpoint::ChatV1);
}

#[test]
fn envelope_with_object_headers_and_string_body() {
    let r = read("envelope.json");
    assert_eq!(r.source, RequestSource::Envelope);
    assert_eq!(r.method, "POST");
    assert_eq!(r.endpoint, Endpoint::EmbedV2);
    assert_eq!(r.url.as_deref(), Some("https://api.cohere.com/v2/embed"));
    assert_eq!(header(&r.headers, "x-client-name"), Some("search-indexer"));
    assert_eq!(
        r.bearer_token(),
        Some("test-key-0123456789abcdef0123456789")
    );
    assert_eq!(r.body["texts"][1], "second document");
}

#[test]
fn envelope_with_list_headers_and_base_path() {
    let r = read("envelope_list_headers.json");
    assert_eq!(r.endpoint, Endpoint::RerankV1);
    assert_eq!(r.method, "POST"); // implied by the body
    assert_eq!(header(&r.headers, "accept"), Some("application/json"));
    assert_eq!(header(&r.headers, "x-retry"), Some("2"));
    assert_eq!(r.headers.len(), 3);
    assert_eq!(r.body["top_n"], 1);
}

#[test]
fn envelope_get_without_body() {
    let r = parse_request(
        "e",
        br#"{"method":"GET","url":"https://api.cohere.com/v1/models/command-r"}"#,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(r.endpoint, Endpoint::Models);
    assert!(r.body.is_null());
}

#[test]
fn recorded_exchange_round_trips() {
    use cohere_bundle_core::exchange::{
        Body, Exchange, Header, RecordedRequest, RecordedResponse, Timings,
    };
    let body = r#"{"model":"command-r","text":"tokenize me"}"#;
    let ex = Exchange {
        index: 1,
        purpose: cohere_bundle_core::exchange::Purpose::Replay,
        request: RecordedRequest {
            method: "POST".into(),
            url: "https://api.cohere.com/v1/tokenize".into(),
            headers: vec![Header::new("content-type", "application/json")],
            body: Body::from_bytes(body.as_bytes(), None),
        },
        response: Some(RecordedResponse {
            status: 429,
            headers: vec![],
            body: Body::from_text("{\"message\":\"slow down\"}"),
        }),
        timings: Timings::default(),
        failure: None,
        retry_group: None,
    };
    let json = serde_json::to_vec(&ex).unwrap();
    let r = parse_request("exchanges/001.json", &json, &Default::default()).unwrap();
    assert_eq!(r.endpoint, Endpoint::Tokenize);
    assert_eq!(r.body["text"], "tokenize me");
    assert_eq!(r.recorded_response.unwrap().status, 429);
    // A base64 body decodes too.
    let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    use base64::Engine;
    v["request"]["body"] = serde_json::json!({"text": base64::engine::general_purpose::STANDARD.encode(body), "encoding": "base64", "size": body.len()});
    let r = parse_request("x", v.to_string().as_bytes(), &Default::default()).unwrap();
    assert_eq!(r.body["model"], "command-r");
}

#[test]
fn envelope_errors() {
    let e = parse_err(br#"{"url":"https://api.cohere.com/v2/chat","body":"not json"}"#);
    assert!(e.contains("body is not JSON"), "{e}");
    let e = parse_err(br#"{"url":"https://api.cohere.com/v2/chat","body":"{\"a\": "}"#);
    assert!(e.contains("malformed JSON at line 1"), "{e}");
    let e = parse_err(br#"{"url":"https://api.cohere.com/v2/chat","body":[1]}"#);
    assert!(e.contains("an array, not a JSON object"), "{e}");
    let e = parse_err(br#"{"url":"https://api.cohere.com/v2/chat","headers":[1],"body":{}}"#);
    assert!(e.contains("headers[0]"), "{e}");
    let e = parse_err(br#"{"method":"POST","url":"https://api.cohere.com/v2/chat"}"#);
    assert!(e.contains("has no body"), "{e}");
    let e = parse_err(br#"{"url":"https://example.com/do","body":{"foo":1}}"#);
    assert!(
        e.contains("unknown endpoint") && e.contains("--endpoint v2/chat") && e.contains("/do"),
        "{e}"
    );
}

#[test]
fn har_takes_the_first_failing_cohere_entry() {
    let r = read("chrome.har");
    assert_eq!(r.source, RequestSource::Har);
    assert_eq!(r.endpoint, Endpoint::ChatV2);
    assert_eq!(r.max_tokens(), Some(16000));
    // Pseudo-headers are dropped; real ones are kept.
    assert!(r.headers.iter().all(|h| !h.name.starts_with(':')));
    assert_eq!(header(&r.headers, "x-fern-sdk-name"), Some("cohere-ai"));
    let resp = r.recorded_response.expect("recorded response");
    assert_eq!(resp.status, 400);
    assert_eq!(
        header(&resp.headers, "x-debug-trace-id"),
        Some("3e9a7b1c5d2f4e6a8b0c1d2e3f4a5b6c")
    );
    assert!(resp.body.json().unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens cannot exceed 8192"));
}

#[test]
fn har_entry_option_picks_among_failing_and_decodes_base64() {
    let opts = {
        let mut o = ParseOptions::default();
        o.har_entry = Some(1);
        o
    };
    let r = read_request_file(&fixture("chrome.har"), &opts).unwrap();
    assert_eq!(r.endpoint, Endpoint::EmbedV2);
    let resp = r.recorded_response.unwrap();
    assert_eq!(resp.status, 429);
    assert_eq!(resp.body.encoding, BodyEncoding::Utf8);
    assert!(resp.body.text.contains("Trial key"), "{}", resp.body.text);
    assert_eq!(
        header(&resp.headers, "x-trial-endpoint-call-remaining"),
        Some("0")
    );

    let opts = {
        let mut o = ParseOptions::default();
        o.har_entry = Some(2);
        o
    };
    let e = read_request_file(&fixture("chrome.har"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("har_entry: 2 is out of range") && e.contains("2 failing"),
        "{e}"
    );
}

#[test]
fn har_without_failures_takes_the_last_cohere_entry() {
    let r = read("har_all_ok.har");
    assert_eq!(r.endpoint, Endpoint::EmbedV2);
    assert_eq!(r.recorded_response.unwrap().status, 200);
}

#[test]
fn har_without_cohere_entries_is_an_error() {
    let e = read_request_file(&fixture("har_no_cohere.har"), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("none of its 1 entries is a Cohere API request"),
        "{e}"
    );
}

#[test]
fn har_ignores_dashboard_pages_and_preflights() {
    let har = br#"{"log":{"entries":[
      {"request":{"method":"GET","url":"https://dashboard.cohere.com/favicon.ico","headers":[]},"response":{"status":404,"headers":[],"content":{}}},
      {"request":{"method":"OPTIONS","url":"https://api.cohere.com/v2/chat","headers":[]},"response":{"status":0,"headers":[],"content":{}}},
      {"request":{"method":"POST","url":"https://api.cohere.com/v2/chat","headers":[],"postData":{"text":"{\"model\":\"m\",\"messages\":[]}"}},"response":{"status":500,"headers":[],"content":{"text":"{}"}}}
    ]}}"#;
    let r = parse_request("x.har", har, &Default::default()).unwrap();
    assert_eq!(r.endpoint, Endpoint::ChatV2);
    assert_eq!(r.recorded_response.unwrap().status, 500);
    assert!(cohere_bundle_core::input::request::is_cohere_url(
        "https://api.cohere.com/v2/batches"
    ));
    assert!(cohere_bundle_core::input::request::is_cohere_url(
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/cohere.command-r-v1:0/invoke"
    ));
    assert!(cohere_bundle_core::input::request::is_cohere_url(
        "https://inference.generativeai.us-chicago-1.oci.oraclecloud.com/20231130/actions/chat"
    ));
    assert!(!cohere_bundle_core::input::request::is_cohere_url(
        "https://docs.cohere.com/reference/chat"
    ));
    assert!(!cohere_bundle_core::input::request::is_cohere_url(
        "https://example.com/health"
    ));
    // The collections' paths are too generic to count on another host.
    assert!(cohere_bundle_core::input::request::is_cohere_url(
        "https://api.cohere.com/v1/datasets/ds-1"
    ));
    assert!(!cohere_bundle_core::input::request::is_cohere_url(
        "https://example.com/v1/datasets/ds-1"
    ));
    assert!(cohere_bundle_core::input::request::is_cohere_url(
        "http://127.0.0.1:8080/proxy/v2/embed"
    ));
}

#[test]
fn har_entry_with_no_response_counts_as_failing() {
    let har = br#"{"log":{"entries":[
      {"request":{"method":"POST","url":"https://api.cohere.com/v2/chat","headers":[],"postData":{"text":"{\"model\":\"ok\",\"messages\":[]}"}},"response":{"status":200,"headers":[],"content":{"text":"{}"}}},
      {"request":{"method":"POST","url":"https://api.cohere.com/v2/chat","headers":[],"postData":{"text":"{\"model\":\"blocked\",\"messages\":[]}"}},"response":{"status":0,"headers":[],"content":{}}}
    ]}}"#;
    let r = parse_request("x.har", har, &Default::default()).unwrap();
    assert_eq!(r.model(), Some("blocked"));
    assert!(r.recorded_response.is_none());
}

#[test]
fn curl_single_line() {
    let r = read("curl_basic.sh");
    assert_eq!(r.source, RequestSource::Curl);
    assert_eq!(r.method, "POST");
    assert_eq!(r.endpoint, Endpoint::ChatV2);
    assert_eq!(
        r.bearer_token(),
        Some("test-key-0123456789abcdef0123456789")
    );
    assert_eq!(r.body["messages"][0]["content"], "Hello world!");
}

#[test]
fn curl_multi_line_with_prompt_and_harmless_flags() {
    let r = read("curl_multiline.sh");
    assert_eq!(r.method, "POST"); // -d implies POST
    assert_eq!(r.url.as_deref(), Some("https://api.cohere.com/v1/chat"));
    assert_eq!(r.endpoint, Endpoint::ChatV1);
    assert_eq!(r.max_tokens(), Some(9000));
    assert_eq!(r.body["message"], "Tell me about the \"max_tokens\" limit");
    assert_eq!(r.headers.len(), 2);
}

#[test]
fn curl_ansi_c_quoting() {
    let r = read("curl_ansi.sh");
    assert_eq!(
        r.body["messages"][0]["content"],
        "It's a test:\nline two \u{e9}"
    );
    assert!(r.is_stream());
}

#[test]
fn curl_windows_cmd_carets() {
    let r = read("curl_windows.cmd");
    assert_eq!(r.endpoint, Endpoint::RerankV2);
    assert_eq!(r.body["documents"][0], "a");
    assert_eq!(header(&r.headers, "content-type"), Some("application/json"));
}

#[test]
fn curl_data_file_and_basic_auth() {
    // `@file` is relative to the current directory, which is the package root under cargo test.
    let r = read("curl_data_file.sh");
    assert_eq!(r.model(), Some("command-a-03-2025"));
    // user:secret-pass in base64
    assert_eq!(
        header(&r.headers, "authorization"),
        Some("Basic dXNlcjpzZWNyZXQtcGFzcw==")
    );
}

#[test]
fn unexpanded_key_variable_is_reported() {
    let r = parse_request("c", br#"curl https://api.cohere.com/v2/chat -H 'Authorization: bearer $CO_API_KEY' -d '{"messages":[]}'"#, &Default::default()).unwrap();
    assert_eq!(r.bearer_token(), Some("$CO_API_KEY"));
    assert_eq!(r.bearer_env_var(), Some("CO_API_KEY"));
    let r = parse_request("c", br#"curl https://api.cohere.com/v2/chat -H 'Authorization: Bearer ${COHERE_API_KEY}' -d '{"messages":[]}'"#, &Default::default()).unwrap();
    assert_eq!(r.bearer_env_var(), Some("COHERE_API_KEY"));
    assert_eq!(read("curl_basic.sh").bearer_env_var(), None);
}

#[test]
fn curl_json_option_and_url_option() {
    let r = parse_request(
        "c",
        br#"curl --json '{"model":"embed-v4.0","texts":["a"],"input_type":"classification"}' --url=https://api.cohere.com/v2/embed"#,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(r.method, "POST");
    assert_eq!(r.endpoint, Endpoint::EmbedV2);
    assert_eq!(header(&r.headers, "content-type"), Some("application/json"));
}

#[test]
fn curl_get_models_has_no_body() {
    let r = parse_request(
        "c",
        b"curl -s https://api.cohere.com/v1/models/command-r -H 'Authorization: Bearer k'",
        &Default::default(),
    )
    .unwrap();
    assert_eq!(r.method, "GET");
    assert_eq!(r.endpoint, Endpoint::Models);
    assert!(r.body.is_null());
}

#[test]
fn curl_from_powershell() {
    let r = parse_request(
        "c",
        br#"curl.exe -X POST https://api.cohere.com/v2/chat -H "Content-Type: application/json" -d '{\"model\": \"command-r\", \"messages\": []}'"#,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(r.model(), Some("command-r"));
    let e = parse_err(br#"curl -Uri https://api.cohere.com/v2/chat -Method Post -Body '{}'"#);
    assert!(e.contains("Invoke-WebRequest"), "{e}");
}

#[test]
fn curl_errors() {
    let e = parse_err(b"curl -X POST -H 'Content-Type: application/json' -d '{}'");
    assert!(e.contains("curl command has no URL"), "{e}");
    let e = parse_err(b"curl https://api.cohere.com/v2/chat -d @does/not/exist.json");
    assert!(
        e.contains("does/not/exist.json") && e.contains("no such file"),
        "{e}"
    );
    let e = parse_err(b"curl https://api.cohere.com/v2/chat -d 'model=x'");
    assert!(e.contains("is not JSON"), "{e}");
    let e = parse_err(b"curl https://api.cohere.com/v2/chat -d '{\"a\": }'");
    assert!(e.contains("malformed JSON at line 1, column"), "{e}");
    let e = parse_err(b"curl 'https://api.cohere.com/v2/chat -d '{}'");
    assert!(e.contains("unterminated quote"), "{e}");
    let e = parse_err(b"curl https://api.cohere.com/v2/chat -F file=@a.txt");
    assert!(e.contains("multipart"), "{e}");
    let e = parse_err(b"curl https://example.com/x -d '{\"zzz\":1}'");
    assert!(e.contains("--endpoint v2/chat"), "{e}");
}

#[test]
fn input_errors_are_one_clear_line() {
    assert!(parse_err(b"").contains("file is empty"));
    assert!(parse_err(b"  \n\t ").contains("file is empty"));
    assert!(parse_err(b"{\"a\":\0}").contains("binary file"));
    assert!(parse_err(&[b'{', 0xc3, 0x28, b'}']).contains("binary file (invalid UTF-8 at byte 1)"));
    assert!(parse_err(&[0xff, 0xfe, b'{']).contains("binary file"));
    assert!(parse_err(&[0xff, 0xfe, 0x00, 0xd8, b'{', 0]).contains("binary file (invalid UTF-16)"));
    let e = parse_err(b"{\n  \"model\": \"x\",\n  \"messages\": [\n}");
    assert!(e.contains("malformed JSON at line 4, column 1"), "{e}");
    assert!(parse_err(b"[1, 2]").contains("expected a JSON object, found an array"));
    assert!(parse_err(b"\"text\"").contains("found a string"));
    assert!(parse_err(b"hello there").contains("neither JSON nor a curl command"));
    let e = parse_err(b"{\"foo\": 1}");
    assert!(
        e.contains("unknown endpoint") && e.contains("--endpoint v2/chat"),
        "{e}"
    );
}

#[test]
fn utf16_with_bom_is_text() {
    // What `Get-Content body.json > req.json` writes in Windows PowerShell 5.
    let text = "{\"model\": \"command-r\", \"message\": \"h\u{e9}llo\"}";
    let mut le = vec![0xff, 0xfe];
    le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let r = parse_request("ps.json", &le, &Default::default()).unwrap();
    assert_eq!(r.endpoint, Endpoint::ChatV1);
    assert_eq!(r.body["message"], "h\u{e9}llo");
    let mut be = vec![0xfe, 0xff];
    be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
    assert_eq!(
        parse_request("ps.json", &be, &Default::default())
            .unwrap()
            .body,
        r.body
    );
    assert!(parse_err(&[0xff, 0xfe, b' ', 0]).contains("file is empty"));
}

#[test]
fn file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let e = read_request_file(&missing, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.json") && e.contains("no such file"), "{e}");
    let e = read_request_file(dir.path(), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("is a directory"), "{e}");
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let e = read_request_file(&empty, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty.json: file is empty"), "{e}");
    // A sparse file just over the cap is refused by size without being read.
    let big = dir.path().join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(cohere_bundle_core::input::request::MAX_REQUEST_BYTES + 1)
        .unwrap();
    let e = read_request_file(&big, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("too large"), "{e}");
}

#[cfg(unix)]
#[test]
fn unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("locked.json");
    std::fs::write(&p, "{}").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&p).is_ok() {
        return; // running as root: permissions are not enforced
    }
    let e = read_request_file(&p, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("permission denied"), "{e}");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_request("f", &bytes, &ParseOptions::default());
        }

        #[test]
        fn never_panics_on_curl_like_text(s in "curl[ -~\\n\\^\\\\$'\"]{0,120}") {
            let _ = parse_request("f", s.as_bytes(), &ParseOptions::default());
        }

        #[test]
        fn never_panics_on_json_like_text(s in "\\{[\"a-z:,\\[\\]\\{\\} 0-9]{0,80}") {
            let _ = parse_request("f", s.as_bytes(), &{
                let mut o = ParseOptions::default();
                o.har_entry = Some(3);
                o
            });
        }
    }
}

mod sdklog {
    use cohere_bundle_core::input::sdklog::{find_sdk_errors, SdkError};

    fn log(name: &str) -> Vec<SdkError> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/core/tests/fixtures/logs")
            .join(name);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        find_sdk_errors(&text)
    }

    #[test]
    fn python_v5_with_headers_and_httpx_line() {
        let found = log("python_v5_notfound.log");
        assert_eq!(found.len(), 2, "{found:#?}");
        let h = &found[0];
        assert_eq!((h.sdk.as_str(), h.line, h.status), ("httpx", 3, Some(404)));
        assert_eq!(h.method.as_deref(), Some("POST"));
        assert_eq!(h.url.as_deref(), Some("https://api.cohere.com/v2/chat"));
        assert_eq!(h.message.as_deref(), Some("Not Found"));
        let e = &found[1];
        assert_eq!(
            (e.sdk.as_str(), e.line, e.status),
            ("python", 14, Some(404))
        );
        assert_eq!(
            e.exception.as_deref(),
            Some("cohere.errors.not_found_error.NotFoundError")
        );
        // The trace id from the headers wins over the body id.
        assert_eq!(
            e.request_id.as_deref(),
            Some("9f1c2b3a4d5e6f708192a3b4c5d6e7f8")
        );
        let body = e.body.as_ref().unwrap();
        assert_eq!(body["id"], "6a0e8c2f-3b1d-4f6e-9a7c-5d4b3a2f1e0d");
        assert!(e
            .message
            .as_deref()
            .unwrap()
            .starts_with("model 'command-r-plus-2024' not found"));
    }

    #[test]
    fn python_v4_retries_and_rate_limit() {
        let found = log("python_v4_ratelimit.log");
        // Three 429 lines for Cohere (the example.com 503 is not Cohere's) and the exception.
        assert_eq!(
            found.iter().filter(|e| e.sdk == "httpx").count(),
            3,
            "{found:#?}"
        );
        assert!(found
            .iter()
            .all(|e| e.url.as_deref().is_none_or(|u| u.contains("cohere.com"))));
        let e = found.iter().find(|e| e.sdk == "python").unwrap();
        assert_eq!(e.status, Some(429));
        assert_eq!(
            e.exception.as_deref(),
            Some("cohere.errors.too_many_requests_error.TooManyRequestsError")
        );
        assert_eq!(
            e.request_id.as_deref(),
            Some("b7c9d1e3-5f70-4a2b-8c4d-6e8f0a1b2c3d")
        );
        assert!(e
            .message
            .as_deref()
            .unwrap()
            .contains("limited to 20 API calls / minute"));
    }

    #[test]
    fn python_api_error_in_a_log_line_with_nested_literals() {
        let found = log("python_apierror_402.log");
        assert_eq!(found.len(), 1);
        let e = &found[0];
        assert_eq!(
            e.exception.as_deref(),
            Some("cohere.core.api_error.ApiError")
        );
        assert_eq!(e.status, Some(402));
        assert_eq!(
            e.body.as_ref().unwrap()["details"],
            serde_json::json!({"retryable": false, "limit": null, "codes": [402, "billing"]})
        );
        assert!(e
            .message
            .as_deref()
            .unwrap()
            .starts_with("Please add or update your payment method"));
    }

    #[test]
    fn typescript_uncaught_not_found() {
        let found = log("typescript_notfound.log");
        assert_eq!(found.len(), 1, "{found:#?}");
        let e = &found[0];
        assert_eq!(e.sdk, "typescript");
        assert_eq!(e.line, 9);
        assert_eq!(e.exception.as_deref(), Some("NotFoundError"));
        assert_eq!(e.status, Some(404));
        assert_eq!(
            e.request_id.as_deref(),
            Some("2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5f7a")
        );
        assert!(e
            .message
            .as_deref()
            .unwrap()
            .starts_with("model 'command-a-2025' not found"));
    }

    #[test]
    fn typescript_cohere_error_and_timeout() {
        let found = log("typescript_cohereerror.log");
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[0].status, Some(402));
        assert_eq!(found[0].line, 2);
        assert_eq!(found[0].exception.as_deref(), Some("Error"));
        assert!(found[0]
            .message
            .as_deref()
            .unwrap()
            .starts_with("Maximum billing reached"));
        let t = &found[1];
        assert_eq!(t.exception.as_deref(), Some("CohereTimeoutError"));
        assert_eq!(
            (t.method.as_deref(), t.url.as_deref()),
            (Some("POST"), Some("/v2/chat"))
        );
        assert_eq!(t.status, None);
    }

    #[test]
    fn ts_body_that_is_not_json_is_kept_raw() {
        let found = find_sdk_errors(
            "BadRequestError: BadRequestError\nStatus code: 400\nBody: <html>bad gateway</html>\n",
        );
        assert_eq!(found[0].exception.as_deref(), Some("BadRequestError"));
        assert_eq!(
            found[0].body,
            Some(serde_json::json!("<html>bad gateway</html>"))
        );
    }

    #[test]
    fn quiet_logs_have_nothing() {
        let text = "INFO httpx: HTTP Request: POST https://api.cohere.com/v2/chat \"HTTP/1.1 200 OK\"\nall good\n";
        assert!(find_sdk_errors(text).is_empty());
    }

    #[test]
    fn serializes_all_fields() {
        let found = find_sdk_errors("status_code: 500, body: {'id': 'x', 'message': 'boom'}");
        let v = serde_json::to_value(&found[0]).unwrap();
        for k in [
            "line",
            "sdk",
            "exception",
            "status",
            "body",
            "message",
            "request_id",
            "method",
            "url",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["message"], "boom");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
            #[test]
            fn never_panics(s in "(status_code: [0-9N]{0,4}, body: |headers: |Status code: 40[0-9]\nBody: |HTTP Request: POST https://api.cohere.com/v2/chat \"HTTP/1.1 |[{}()\\[\\]'\"\\\\:,\n ux0-9a-zA-Z])*") {
                let _ = find_sdk_errors(&s);
            }
        }
    }
}

mod environment {
    use cohere_bundle_core::gather::environment::Environment;

    /// Prints the collected environment when run as a child by `collect_records_names_never_values`.
    #[test]
    fn child_probe() {
        if std::env::var_os("COHERE_BUNDLE_ENV_PROBE").is_some() {
            let json = serde_json::to_string(&Environment::collect()).unwrap();
            println!("ENV-JSON-START{json}ENV-JSON-END");
        }
    }

    #[test]
    fn collect_records_names_never_values() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "request::environment::child_probe",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("COHERE_BUNDLE_ENV_PROBE", "1")
            .env("CO_API_KEY", "probe-secret-value-4711")
            .env(
                "HTTPS_PROXY",
                "http://alice:probe-proxy-pass@proxy.internal:3128",
            )
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env("CO_API_URL", "")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json = stdout
            .split("ENV-JSON-START")
            .nth(1)
            .and_then(|s| s.split("ENV-JSON-END").next())
            .unwrap_or_else(|| panic!("no probe output: {stdout}"));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["env_vars"]["CO_API_KEY"]["set"], true);
        assert_eq!(v["env_vars"]["HTTPS_PROXY"]["set"], true);
        assert!(
            v["env_vars"].get("CO_API_URL").is_none(),
            "an empty variable is not set: {json}"
        );
        assert_eq!(v["proxy_configured"], true);
        assert!(
            !json.contains("probe-secret-value-4711") && !json.contains("probe-proxy-pass"),
            "{json}"
        );
        assert!(v["cpus"].as_u64().unwrap() >= 1);
        assert!(v["tool"].as_str().unwrap().starts_with("cohere-bundle "));
    }

    #[test]
    fn fixed_snapshot() {
        let mut env = Environment::fixed();
        assert!(env.tool.starts_with("cohere-bundle "));
        env.tool = "[tool]".into();
        insta::assert_json_snapshot!(env, @r#"
        {
          "tool": "[tool]",
          "os": "Linux 24.04 Ubuntu",
          "kernel": "6.8.0-test",
          "arch": "x86_64",
          "cpus": 4,
          "total_memory_bytes": 17179869184,
          "available_memory_bytes": 8589934592,
          "env_vars": {
            "CO_API_KEY": {
              "set": true
            },
            "HTTPS_PROXY": {
              "set": true
            },
            "NO_PROXY": {
              "set": true
            }
          },
          "proxy_configured": true
        }
        "#);
    }
}

mod sdklog_json_lines {
    use cohere_bundle_core::input::sdklog::find_sdk_errors;

    #[test]
    fn structured_logs_are_decoded_before_scanning() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/core/tests/fixtures/logs/json_lines.log");
        let found = find_sdk_errors(&std::fs::read_to_string(p).unwrap());
        assert_eq!(found.len(), 2, "{found:#?}");
        let ts = &found[0];
        assert_eq!(
            (ts.sdk.as_str(), ts.line, ts.status),
            ("typescript", 2, Some(429))
        );
        assert_eq!(ts.exception.as_deref(), Some("TooManyRequestsError"));
        assert_eq!(
            ts.request_id.as_deref(),
            Some("7f8e9d0c-1b2a-4c3d-8e5f-6a7b8c9d0e1f")
        );
        assert!(ts
            .message
            .as_deref()
            .unwrap()
            .starts_with("You are past the per minute request limit"));
        let py = &found[1];
        assert_eq!(
            (py.sdk.as_str(), py.line, py.status),
            ("python", 3, Some(400))
        );
        assert_eq!(
            py.exception.as_deref(),
            Some("cohere.errors.bad_request_error.BadRequestError")
        );
        assert_eq!(
            py.message.as_deref(),
            Some("invalid request: list of documents must not be empty")
        );
    }
}

fn parse_ok(bytes: &[u8]) -> CapturedRequest {
    parse_request("req", bytes, &ParseOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn endpoint_from_any_spec_path() {
    let r = parse_ok(b"curl https://api.cohere.com/v1/datasets/my-ds -H 'Authorization: Bearer k'");
    assert_eq!((r.method.as_str(), r.endpoint), ("GET", Endpoint::Dataset));
    assert!(r.body.is_null());
    let r = parse_ok(b"curl -X DELETE https://api.cohere.com/v1/connectors/c-1");
    assert_eq!(
        (r.method.as_str(), r.endpoint),
        ("DELETE", Endpoint::Connector)
    );
    // A body-less POST: the cancels and the OAuth authorize take none.
    let r = parse_ok(b"curl --request POST --url 'https://api.cohere.com/v2/batches/b-1:cancel'");
    assert_eq!(
        (r.method.as_str(), r.endpoint),
        ("POST", Endpoint::BatchCancel)
    );
    assert!(r.body.is_null());
    let r = parse_ok(br#"{"method":"POST","url":"https://api.cohere.com/v1/embed-jobs/j/cancel"}"#);
    assert_eq!(r.endpoint, Endpoint::EmbedJobCancel);
    // The path decides even when the body's fields look like another endpoint's.
    let r =
        parse_ok(br#"curl https://api.cohere.com/v1/summarize -d '{"text": "t", "model": "m"}'"#);
    assert_eq!(r.endpoint, Endpoint::Summarize);
    // An explicit --endpoint still wins.
    let r = parse_request(
        "req",
        br#"curl https://api.cohere.com/v1/summarize -d '{"text": "t"}'"#,
        &{
            let mut o = ParseOptions::default();
            o.endpoint = Some(Endpoint::Tokenize);
            o
        },
    )
    .unwrap();
    assert_eq!(r.endpoint, Endpoint::Tokenize);
    // Endpoints that always take a body still refuse a POST without one.
    let e = parse_err(b"curl -X POST https://api.cohere.com/v1/summarize");
    assert!(e.contains("has no body"), "{e}");
}

#[test]
fn model_from_the_path_where_the_body_has_none() {
    let m = |bytes: &[u8]| parse_ok(bytes).model().map(str::to_string);
    assert_eq!(
        m(b"curl https://api.cohere.com/v1/models/command-a-03-2025").as_deref(),
        Some("command-a-03-2025")
    );
    assert_eq!(m(b"curl https://api.cohere.com/v1/models"), None);
    // Bedrock: the model ID, URL-decoded; the body (v1 chat's fields) gives the endpoint.
    let bedrock = br#"curl -X POST 'https://bedrock-runtime.us-east-1.amazonaws.com/model/cohere.command-r-v1%3A0/invoke' -d '{"message": "hi", "max_tokens": 10}'"#;
    let r = parse_ok(bedrock);
    assert_eq!(r.endpoint, Endpoint::ChatV1);
    assert_eq!(r.model(), Some("cohere.command-r-v1:0"));
    assert_eq!(
        m(br#"curl https://bedrock-runtime.us-west-2.amazonaws.com/model/cohere.embed-english-v3/invoke-with-response-stream -d '{"texts": ["a"], "input_type": "search_document"}'"#)
            .as_deref(),
        Some("cohere.embed-english-v3")
    );
    // SageMaker: the endpoint name.
    assert_eq!(
        m(br#"curl https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/cohere-rerank-ep/invocations -d '{"query": "q", "documents": ["d"]}'"#)
            .as_deref(),
        Some("cohere-rerank-ep")
    );
    // Azure: a deployment path, or a serverless endpoint's host.
    assert_eq!(
        m(br#"curl 'https://res.openai.azure.com/openai/deployments/cmd-r-plus/chat/completions?api-version=1' -d '{"messages": []}'"#)
            .as_deref(),
        Some("cmd-r-plus")
    );
    assert_eq!(
        m(br#"curl https://my-cohere-ep.eastus2.models.ai.azure.com/v2/chat -d '{"messages": []}'"#)
            .as_deref(),
        Some("my-cohere-ep")
    );
    // OCI: the serving mode's model (or dedicated endpoint); OCI's body needs --endpoint.
    let m = |bytes: &[u8]| {
        let opts = {
            let mut o = ParseOptions::default();
            o.endpoint = Some(Endpoint::ChatV1);
            o
        };
        let r = parse_request("req", bytes, &opts).unwrap_or_else(|e| panic!("{e}"));
        r.model().map(str::to_string)
    };
    assert_eq!(
        m(br#"curl https://inference.generativeai.us-chicago-1.oci.oraclecloud.com/20231130/actions/chat -d '{"compartmentId": "c", "servingMode": {"servingType": "ON_DEMAND", "modelId": "cohere.command-r-plus"}, "chatRequest": {"message": "hi"}}'"#)
            .as_deref(),
        Some("cohere.command-r-plus")
    );
    assert_eq!(
        m(br#"{"url": "https://inference.generativeai.eu-frankfurt-1.oci.oraclecloud.com/20231130/actions/chat", "body": {"servingMode": {"servingType": "DEDICATED", "endpointId": "ocid1.generativeaiendpoint.oc1.x"}, "chatRequest": {"message": "hi"}}}"#)
            .as_deref(),
        Some("ocid1.generativeaiendpoint.oc1.x")
    );
    // The body's own model wins.
    assert_eq!(
        m(br#"curl https://bedrock-runtime.us-east-1.amazonaws.com/model/cohere.x/invoke -d '{"model": "m", "message": "hi"}'"#)
            .as_deref(),
        Some("m")
    );
}

#[test]
fn replay_keeps_path_parameters_query_and_base_path() {
    use cohere_bundle_core::pipeline::{prepare_replay, resolve_base_url, ReplayOptions};
    let r = parse_ok(
        b"curl 'http://127.0.0.1:9/proxy/v1/datasets/my%20ds?x=1' -H 'Authorization: Bearer k'",
    );
    let base = resolve_base_url(&ReplayOptions::default(), &r);
    assert_eq!(base, "http://127.0.0.1:9/proxy");
    let p = prepare_replay(&r, &base);
    assert_eq!(p.method, "GET");
    assert_eq!(p.url, "http://127.0.0.1:9/proxy/v1/datasets/my%20ds?x=1");
    assert!(p.body.is_empty());
    assert!(!p
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("content-type")));
    // Against another base URL, the endpoint's path and its parameters go along.
    let p = prepare_replay(&r, "http://localhost:8080");
    assert_eq!(p.url, "http://localhost:8080/v1/datasets/my%20ds?x=1");
    let r = parse_ok(b"curl -X DELETE https://api.cohere.com/v1/finetuning/finetuned-models/ft-1");
    let p = prepare_replay(&r, "http://h");
    assert_eq!(
        (p.method.as_str(), p.url.as_str()),
        ("DELETE", "http://h/v1/finetuning/finetuned-models/ft-1")
    );
    let r = parse_ok(b"curl -X POST https://api.cohere.com/v2/batches/b-1:cancel");
    assert_eq!(
        prepare_replay(&r, "http://h").url,
        "http://h/v2/batches/b-1:cancel"
    );
}

#[test]
fn curl_forms_are_kept_for_a_multipart_replay() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    std::fs::write(&wav, b"RIFF").unwrap();
    let cmd = format!(
        "curl https://api.cohere.com/v2/audio/transcriptions -H 'Authorization: Bearer k' -F model=cohere-transcribe-03-2026 -F language=en -F file=@{}",
        wav.display()
    );
    let r = parse_ok(cmd.as_bytes());
    assert_eq!(
        (r.method.as_str(), r.endpoint),
        ("POST", Endpoint::AudioTranscriptions)
    );
    assert_eq!(r.model(), Some("cohere-transcribe-03-2026"));
    assert_eq!(
        header(&r.headers, "content-type"),
        Some("multipart/form-data")
    );
    assert_eq!(r.body["file"]["@file"], wav.display().to_string());
    let p = cohere_bundle_core::pipeline::prepare_replay(&r, "http://h");
    let ct = header(&p.headers, "content-type").unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let body = String::from_utf8(p.body).unwrap();
    assert!(
        body.contains("filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n"),
        "{body}"
    );
    let e = parse_err(b"curl https://api.cohere.com/v2/audio/transcriptions -F a=b -d '{}'");
    assert!(e.contains("-F/--form"), "{e}");
}
