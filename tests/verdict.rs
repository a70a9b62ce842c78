//! Issue 22: one verdict, said the same everywhere. For every cause code, for a failure with no cause, and for
//! a replay that did not reproduce anything, the terminal text, `--json`, report.md, report.html, the email
//! draft and summary.json state the same [`SupportVerdict`].

use cohere_bundle_core::gather::environment::Environment;
use cohere_bundle_core::pipeline::Outcome;
use cohere_bundle_core::render::report::{render_html, render_markdown, ReportInput};
use cohere_bundle_core::summary::{Cause, Mode, Summary, VerdictKind};
use cohere_bundle_core::CauseCode;
use cohere_bundle_simulator::{SimConfig, DEMO_KEY};
use serde_json::json;

use crate::util::{self, Sim};

fn fixture() -> Summary {
    serde_json::from_str(include_str!(
        "../crates/core/tests/fixtures/summary-v1.json"
    ))
    .expect("fixture parses")
}

/// The text of an HTML page with minijinja's escapes undone.
fn unescape(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Every rendering of `s` states its verdict's line, and the JSON ones its decision.
#[track_caller]
fn same_everywhere(s: &Summary) {
    let v = s.verdict();
    assert_eq!(s.support_needed, v.support_needed, "summary.json");
    let env = Environment::fixed();
    let input = ReportInput {
        summary: s,
        exchanges: &[],
        logs: &[],
        log_errors: &[],
        environment: &env,
        redact_content: false,
    };
    let md = render_markdown(&input).expect("md");
    assert!(md.contains(&v.line), "report.md lacks {:?}", v.line);
    let html = render_html(&input).expect("html");
    assert!(
        unescape(&html).contains(&v.line),
        "report.html lacks {:?}",
        v.line
    );
    let outcome = Outcome {
        path: "b.zip".into(),
        size: 1,
        summary: s.clone(),
        redactions: 0,
        eml: None,
    };
    let text = cohere_bundle_core::outcome::outcome_text(&outcome);
    assert!(
        text.contains(&v.line),
        "terminal lacks {:?}: {text}",
        v.line
    );
    // The terminal states no other verdict: no support line but the verdict's own.
    assert_eq!(text.matches("Support is").count(), 1, "{text}");
    let j = cohere_bundle_core::outcome::outcome_json(&outcome);
    assert_eq!(j["support_needed"], v.support_needed);
    assert_eq!(j["verdict"], v.kind.as_str());
    assert_eq!(j["verdict_line"], v.line.as_str());
    // The email draft's body is the report: the same line.
    let d = util::tempdir();
    let zip = util::write(
        d.path(),
        "b.zip",
        b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    );
    let eml = cohere_bundle_core::bundle::email::write_eml(
        s,
        &zip,
        &md,
        Some(&html),
        None,
        &d.path().join("d.eml"),
    )
    .expect("draft");
    let parsed = std::fs::read(eml).expect("read draft");
    let msg = mail_parser::MessageParser::default()
        .parse(&parsed)
        .expect("parses");
    let body = msg.body_text(0).expect("text body");
    assert!(body.contains(&v.line), "the draft lacks {:?}", v.line);
}

#[test]
fn every_cause_states_one_verdict_in_every_rendering() {
    for code in CauseCode::ALL {
        let mut s = fixture();
        s.causes = vec![Cause {
            code,
            evidence: format!("evidence for {code}"),
            next_step: "the next step".into(),
            source: Some("exchanges/001.json (replay)".into()),
        }];
        let v = s.verdict();
        assert_eq!(v.cause_side, code.side(), "{code}");
        assert_eq!(v.support_needed, code.side().support_needed(), "{code}");
        s.cause_side = v.cause_side;
        s.support_needed = v.support_needed;
        same_everywhere(&s);
    }
}

#[test]
fn a_failure_with_no_cause_needs_support() {
    let mut s = fixture();
    s.causes.clear();
    let v = s.verdict();
    assert_eq!((v.kind, v.support_needed), (VerdictKind::Unknown, true));
    s.support_needed = true;
    same_everywhere(&s);
}

/// A simulator, a temp dir and in it `req.json`: an envelope of a small v2 chat to the simulator, with
/// `headers`.
fn chat_request(headers: &[(&str, &str)]) -> (Sim, tempfile::TempDir, std::path::PathBuf) {
    let sim = Sim::start(SimConfig::default());
    let d = util::tempdir();
    let body = json!({"model": "command-r-08-2024", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20});
    let req = util::write(
        d.path(),
        "req.json",
        util::envelope(&sim.base_url(), "/v2/chat", headers, &body),
    );
    (sim, d, req)
}

#[test]
fn a_replay_that_succeeds_is_not_reproduced_and_files_no_ticket() {
    let (_sim, d, req) = chat_request(&[]);
    let run = util::cli(d.path())
        .env("CO_API_KEY", DEMO_KEY)
        .args(["replay", "--out", "b.zip", "--json"])
        .arg(&req)
        .run()
        .success();
    let j = run.json();
    assert_eq!(j["support_needed"], false, "{j}");
    assert_eq!(j["verdict"], "not_reproduced", "{j}");
    let s: Summary =
        serde_json::from_value(util::summary(&d.path().join("b.zip"))).expect("summary.json");
    assert_eq!(s.mode, Mode::Replay);
    assert!(!s.support_needed && s.causes.is_empty() && s.error.is_none());
    same_everywhere(&s);
    // The terminal's last line: not reproduced, how to capture it next time, and no "attach it".
    let text = util::cli(d.path())
        .env("CO_API_KEY", DEMO_KEY)
        .args(["replay", "--out", "c.zip"])
        .arg(&req)
        .run()
        .success()
        .stdout;
    let last = text.trim_end().lines().last().unwrap_or("");
    assert!(
        last.contains("not reproduced") && last.contains("observe"),
        "{text}"
    );
    assert!(!text.contains("Attach it to an email"), "{text}");
}

#[test]
fn a_response_file_is_refused_before_any_request_is_sent() {
    let sim = Sim::start(SimConfig::default());
    let d = util::tempdir();
    let cases = [
        ("error.json", json!({"id": "5b9c1e0a", "message": "model 'command-xlarge-nightly' not found"}).to_string(), "an API error response"),
        ("chat.json", json!({"id": "c1", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]}}).to_string(), "a chat response"),
        ("embed.json", json!({"id": "e1", "embeddings": {"float": [[0.1, 0.2]]}, "response_type": "embeddings_by_type"}).to_string(), "an embed response"),
        ("rerank.json", json!({"id": "r1", "results": [{"index": 0, "relevance_score": 0.9}]}).to_string(), "a rerank response"),
        ("stream.txt", "event: message-start\ndata: {\"type\":\"message-start\"}\n\n".to_string(), "an SSE stream transcript"),
    ];
    for (name, text, what) in cases {
        let f = util::write(d.path(), name, text);
        let run = util::cli(d.path())
            .env("CO_API_KEY", DEMO_KEY)
            .args(["replay", "--base-url", &sim.base_url(), "--out", "b.zip"])
            .arg(&f)
            .run();
        run.fails(2, &[what, "--response", name]);
    }
    assert!(
        sim.requests().is_empty(),
        "nothing reached the server: {:?}",
        sim.requests()
    );
    assert!(!d.path().join("b.zip").exists());
}

#[test]
fn a_500_is_worded_as_the_tools_reading_not_as_the_faq() {
    let sim = Sim::start(SimConfig::default());
    let d = util::tempdir();
    let body =
        json!({"model": "command-r-08-2024", "messages": [{"role": "user", "content": "hi"}]});
    let req = util::write(
        d.path(),
        "req.json",
        util::envelope(
            &sim.base_url(),
            "/v2/chat",
            &[("x-simulate", "server_error")],
            &body,
        ),
    );
    util::cli(d.path())
        .env("CO_API_KEY", DEMO_KEY)
        .args(["replay", "--out", "b.zip"])
        .arg(&req)
        .run()
        .success();
    let zip = d.path().join("b.zip");
    let s = util::summary(&zip);
    assert_eq!(s["status"], 500, "{s:#}");
    assert!(
        s["error"]["faq_meaning"].is_null(),
        "the FAQ has no 500 row: {}",
        s["error"]
    );
    assert_eq!(
        s["error"]["meaning_source"], "cohere-api/errors.mdx",
        "{}",
        s["error"]
    );
    let report = util::member(&zip, "report.md");
    assert!(!report.contains("FAQ says it means"), "{report}");
    assert!(
        report.contains("this tool's reading of cohere-api/errors.mdx"),
        "{report}"
    );
}

/// A log whose failing line has a time with no zone, and no response date.
const LOG_NO_ZONE: &str = r#"2026-12-06 05:20:01,880 ERROR app.worker: summarisation failed
Traceback (most recent call last):
  File "/srv/venv/lib/python3.12/site-packages/cohere/v2/raw_client.py", line 330, in chat
    raise NotFoundError(
cohere.errors.not_found_error.NotFoundError: status_code: 404, body: {'id': '6a0e8c2f-3b1d-4f6e-9a7c-5d4b3a2f1e0d', 'message': "model 'command-r-08-2024' not found, make sure the correct model ID was used and that you have access to the model."}
"#;

#[test]
fn a_log_time_with_no_zone_is_kept_as_written_and_never_guessed_into_utc() {
    let (_sim, d, req) = chat_request(&[]);
    let log = util::write(d.path(), "app.log", LOG_NO_ZONE);
    util::cli(d.path())
        .env("CO_API_KEY", DEMO_KEY)
        .args(["replay", "--out", "b.zip", "--log"])
        .arg(&log)
        .arg(&req)
        .run()
        .success();
    let zip = d.path().join("b.zip");
    let s = util::summary(&zip);
    let o = &s["original"];
    assert!(o["time"].is_null(), "no UTC time is made up: {o}");
    assert_eq!(o["time_as_written"], "2026-12-06 05:20:01,880", "{o}");
    assert_eq!(o["time_zone_unknown"], true, "{o}");
    // Every other time in summary.json is RFC 3339 UTC.
    let created = s["created_at"].as_str().unwrap_or("");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'),
        "{created}"
    );
    let report = util::member(&zip, "report.md");
    assert!(
        report.contains("2026-12-06 05:20:01,880 (as the log writes it; zone unknown)"),
        "{report}"
    );
}

#[test]
fn observe_reads_a_log_the_program_writes_and_names_one_that_never_appeared() {
    let sim = Sim::start(SimConfig::default());
    let d = util::tempdir();
    // The program writes app.log (with the key in it) and makes a call that fails with a 404.
    let script = r#"
import json, os, urllib.request
with open("app.log", "w") as f:
    f.write("2026-12-06T05:20:01Z INFO app: starting with key " + os.environ["APP_KEY"] + "\n")
req = urllib.request.Request(os.environ["CO_API_URL"] + "/v2/chat", method="POST",
    data=json.dumps({"model": "command-xlarge-nightly", "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"content-type": "application/json", "authorization": "Bearer " + os.environ["APP_KEY"]})
try:
    urllib.request.urlopen(req)
except Exception as e:
    with open("app.log", "a") as f:
        f.write("2026-12-06T05:20:02Z ERROR app: chat failed: %s\n" % e)
"#;
    let run = util::cli(d.path())
        .env("APP_KEY", DEMO_KEY)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .args(["observe", "--upstream", &sim.base_url(), "--out", "b.zip"])
        .args(["--log", "app.log", "--log", "never.log", "--"])
        .args(["python3", "-c", script])
        .run()
        .success();
    let zip = d.path().join("b.zip");
    let s = util::summary(&zip);
    assert_eq!(s["status"], 404, "{}", run.stderr);
    let log = util::member(&zip, "logs/app.log");
    assert!(
        log.contains("chat failed") && !log.contains(DEMO_KEY),
        "{log}"
    );
    let missing: Vec<&str> = s["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["kind"] == "missing_log")
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert_eq!(missing.len(), 1, "{s:#}");
    assert!(missing[0].contains("never.log"), "{missing:?}");
    assert!(util::member(&zip, "report.md").contains("never.log"));
}

#[test]
fn the_demo_replay_reproduces_its_logged_failure_and_says_no_mismatch() {
    let d = util::tempdir();
    util::cli(d.path())
        .args(["demo", "--out", "d.zip"])
        .run()
        .success();
    let s = util::summary(&d.path().join("d.zip"));
    // A replay always gets a new request id: a log's other id is no sign of another request.
    assert!(!s["notes"].to_string().contains("mismatch"), "{s:#}");
    assert_eq!(s["original"]["reproduced"], true, "{s:#}");
}

#[test]
fn a_recorded_exchange_and_a_log_of_another_request_id_are_said_apart() {
    let d = util::tempdir();
    util::write(
        d.path(),
        "req.json",
        r#"{"model":"command-r-08-2024","messages":[{"role":"user","content":"hi"}]}"#,
    );
    util::write(
        d.path(),
        "resp.json",
        r#"{"id":"e1","message":"model 'command-r-08-2024' not found"}"#,
    );
    util::write(
        d.path(),
        "headers.txt",
        "x-debug-trace-id: 11111111111111111111111111111111\n",
    );
    let log = LOG_NO_ZONE.replace(
        "6a0e8c2f-3b1d-4f6e-9a7c-5d4b3a2f1e0d",
        "22222222-2222-2222-2222-222222222222",
    );
    util::write(d.path(), "app.log", log);
    util::cli(d.path())
        .args([
            "bundle",
            "--request",
            "req.json",
            "--response",
            "resp.json",
            "--headers",
            "headers.txt",
        ])
        .args(["--status", "404", "--log", "app.log", "--out", "b.zip"])
        .run()
        .success();
    let s = util::summary(&d.path().join("b.zip"));
    let notes = s["notes"].to_string();
    assert!(
        notes.contains("mismatch") && notes.contains("22222222-2222-2222-2222-222222222222"),
        "{s:#}"
    );
}
