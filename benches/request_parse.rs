//! Speed of request parsing and SDK-log scanning on large inputs. Prints figures; asserts nothing.
//!
//! Run: `cargo bench --bench request_parse` (or add `--profile dev` to skip a release build).

use std::time::Instant;

use cohere_bundle_core::input::request::{parse_request, ParseOptions};
use cohere_bundle_core::input::sdklog::find_sdk_errors;

fn time<T>(label: &str, bytes: usize, runs: u32, mut f: impl FnMut() -> T) {
    let _ = f(); // warm up
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(f());
    }
    let per = start.elapsed().as_secs_f64() / f64::from(runs);
    println!(
        "{label:<42} {:>8.2} MiB  {:>9.2} ms/run  {:>8.1} MiB/s",
        bytes as f64 / 1048576.0,
        per * 1e3,
        bytes as f64 / 1048576.0 / per
    );
}

fn main() {
    let opts = ParseOptions::default();

    // A HAR of 2,000 entries, each with a ~10 KB request and response; the failing one is last.
    let text = "lorem ipsum dolor sit amet ".repeat(380);
    let mut entries = Vec::new();
    for i in 0..2000 {
        let status = if i == 1999 { 400 } else { 200 };
        let body = serde_json::json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": text}]});
        entries.push(serde_json::json!({
            "request": {"method": "POST", "url": "https://api.cohere.com/v2/chat",
                        "headers": [{"name": "content-type", "value": "application/json"}],
                        "postData": {"mimeType": "application/json", "text": body.to_string()}},
            "response": {"status": status, "headers": [{"name": "x-debug-trace-id", "value": "abc"}],
                         "content": {"size": 20, "text": "{\"id\":\"x\",\"message\":\"y\"}"}}
        }));
    }
    let har = serde_json::json!({"log": {"version": "1.2", "entries": entries}}).to_string();
    let r = parse_request("b.har", har.as_bytes(), &opts).expect("the HAR parses");
    assert_eq!(r.recorded_response.map(|x| x.status), Some(400));
    time("HAR, 2,000 entries, last one failing", har.len(), 5, || {
        parse_request("b.har", har.as_bytes(), &opts).map(|r| r.endpoint)
    });

    // A curl command with a 1 MiB body, over several continuation lines.
    let big = "x".repeat(1 << 20);
    let curl = format!(
        "curl https://api.cohere.com/v2/chat \\\n  -H 'Authorization: Bearer k' \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"model\":\"command-r\",\"messages\":[{{\"role\":\"user\",\"content\":\"{big}\"}}]}}'"
    );
    assert_eq!(
        parse_request("c.sh", curl.as_bytes(), &opts)
            .expect("curl parses")
            .body["messages"][0]["content"]
            .as_str()
            .map(str::len),
        Some(1 << 20)
    );
    time("curl command, 1 MiB body", curl.len(), 10, || {
        parse_request("c.sh", curl.as_bytes(), &opts).map(|r| r.endpoint)
    });

    // A bare 8 MiB body.
    let body = format!(
        "{{\"model\":\"embed-v4.0\",\"input_type\":\"search_document\",\"texts\":[{}]}}",
        vec!["\"a document of text\""; 400_000].join(",")
    );
    assert!(parse_request("b.json", body.as_bytes(), &opts).is_ok());
    time("bare JSON body, 400k texts", body.len(), 5, || {
        parse_request("b.json", body.as_bytes(), &opts).map(|r| r.endpoint)
    });

    // A 4 MiB application log with one SDK error in every 50 lines.
    let mut log = String::new();
    let mut n = 0;
    while log.len() < 4 << 20 {
        n += 1;
        if n % 50 == 0 {
            log.push_str("cohere.errors.too_many_requests_error.TooManyRequestsError: headers: {'x-debug-trace-id': 'abcdef0123456789'}, status_code: 429, body: {'id': 'b7c9d1e3', 'message': \"You are using a Trial key, which is limited to 20 API calls / minute.\"}\n");
        } else if n % 50 == 25 {
            log.push_str("2026-11-24 16:02:01,207 INFO httpx: HTTP Request: POST https://api.cohere.com/v2/chat \"HTTP/1.1 429 Too Many Requests\"\n");
        } else {
            log.push_str("2026-11-24 16:02:01,209 INFO app.worker: processed document 1234 of 5678 in 12.3 ms (cache hit)\n");
        }
    }
    let found = find_sdk_errors(&log).len();
    println!("(log: {n} lines, {found} failures found)");
    time("SDK log scan, 4 MiB", log.len(), 5, || {
        find_sdk_errors(&log).len()
    });
}
