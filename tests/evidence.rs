//! Evidence with its source (issue 11): the summary describes one exchange, the application's own failure
//! stays apart in `summary.original`, cut responses are failures, a replay without a key is refused before
//! any traffic, the most serious failure is picked, and real clients name themselves in `summary.client`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cohere_bundle_simulator::{SimConfig, DEMO_KEY};
use serde_json::{json, Value};

use super::fault::{chunked, response, FaultServer};
use super::util::{self, Sim};

const MODEL: &str = "command-r-08-2024";
const LOG_404: &str = "crates/core/tests/fixtures/logs/python_v5_notfound.log";
const LOG_404_ID: &str = "9f1c2b3a4d5e6f708192a3b4c5d6e7f8";

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn chat(stream: bool) -> Value {
    json!({"model": MODEL, "messages": [{"role": "user", "content": "Summarise the meeting notes."}], "stream": stream})
}

/// An envelope for `base`/v2/chat with extra headers.
fn envelope(dir: &Path, base: &str, headers: &[(&str, &str)], body: &Value) -> PathBuf {
    util::write(
        dir,
        "req.json",
        util::envelope(base, "/v2/chat", headers, body),
    )
}

fn causes(s: &Value) -> Vec<(String, String)> {
    s["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["code"].as_str().unwrap().to_string(),
                c["evidence"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Replays a request whose replay fails in transport while a log holds an earlier 404 traceback.
fn replay_with_log(scenario: &str, timeout: &str) -> (Value, String) {
    let sim = Sim::start(SimConfig {
        hang_for: Duration::from_secs(30),
        ..SimConfig::default()
    });
    let d = util::tempdir();
    let req = envelope(
        d.path(),
        &sim.base_url(),
        &[("x-simulate", scenario)],
        &chat(false),
    );
    util::cli(d.path())
        .env("CO_API_KEY", DEMO_KEY)
        .arg("replay")
        .arg(&req)
        .args(["--timeout", timeout, "--out", "b.zip", "--log"])
        .arg(fixture(LOG_404))
        .run()
        .success();
    let zip = d.path().join("b.zip");
    (util::summary(&zip), util::member(&zip, "report.md"))
}

fn assert_kept_apart(s: &Value, report: &str, class: &str, replay_word: &str) {
    assert_eq!(s["status"], Value::Null, "{s:#}");
    assert_eq!(s["error"]["class"], class, "{s:#}");
    assert_eq!(s["error"]["source"], "exchanges/001.json (replay)", "{s:#}");
    assert_ne!(
        s["request_id"], LOG_404_ID,
        "the log's id is not the replay's"
    );
    let o = &s["original"];
    assert_eq!(o["status"], 404, "{s:#}");
    assert_eq!(o["request_id"], LOG_404_ID);
    assert_eq!(o["reproduced"], false);
    // The response's HTTP date, converted to RFC 3339 UTC like every time in summary.json.
    assert_eq!(o["time"], "2026-11-24T16:02:01Z");
    assert!(
        o["source"]
            .as_str()
            .unwrap()
            .starts_with("logs/python_v5_notfound.log:"),
        "{o}"
    );
    let cs = causes(s);
    assert_eq!(
        cs[0].0,
        if class == "timeout" {
            "timeout"
        } else {
            "network_error"
        }
    );
    assert!(
        !cs[0].1.contains("404"),
        "the replay's cause names no 404: {}",
        cs[0].1
    );
    let nf = cs
        .iter()
        .find(|(c, _)| c == "model_not_found")
        .expect("the log's 404 gives its own cause");
    assert!(
        nf.1.starts_with("the application's failure (logs/python_v5_notfound.log:"),
        "{}",
        nf.1
    );
    assert!(
        !nf.1.contains(replay_word) && !nf.1.contains("no complete response"),
        "the log's cause does not mix in the replay's failure: {}",
        nf.1
    );
    let head: String = report.lines().take(12).collect::<Vec<_>>().join("\n");
    assert!(head.contains("The replay did not reproduce it"), "{head}");
    assert!(head.contains(LOG_404_ID), "{head}");
}

#[test]
fn replay_timeout_and_a_logged_404_stay_apart() {
    let (s, report) = replay_with_log("hang", "1");
    assert_kept_apart(&s, &report, "timeout", "timeout");
}

#[test]
fn replay_reset_and_a_logged_404_stay_apart() {
    let (s, report) = replay_with_log("reset", "10");
    assert_kept_apart(&s, &report, "network", "reset");
}

/// Replays `body` against a fault server answering `answer`; returns the summary.
fn replay_fault(answer: Vec<u8>, body: &Value) -> Value {
    let server = FaultServer::fixed(answer);
    let d = util::tempdir();
    let req = envelope(d.path(), &server.base_url(), &[], body);
    util::cli(d.path())
        .env("CO_API_KEY", DEMO_KEY)
        .arg("replay")
        .arg(&req)
        .args(["--out", "b.zip"])
        .run()
        .success();
    let chats = server
        .requests()
        .iter()
        .filter(|r| r.starts_with(b"POST /v2/chat "))
        .count();
    assert_eq!(
        chats, 1,
        "one replay, no retry (the rest are model look-ups)"
    );
    util::summary(&d.path().join("b.zip"))
}

const SSE: &[(&str, &str)] = &[("content-type", "text/event-stream")];

#[test]
fn a_stream_that_ends_before_message_end_is_a_failure() {
    let s = replay_fault(
        chunked(
            "200 OK",
            SSE,
            &[
                "event: message-start\ndata: {\"id\":\"abc\",\"type\":\"message-start\"}\n\n",
                "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hel\"}}}}\n\n",
            ],
        ),
        &chat(true),
    );
    assert_eq!(s["status"], 200);
    assert_eq!(s["error"]["class"], "stream", "{s:#}");
    let m = s["error"]["message"].as_str().unwrap();
    assert!(m.contains("without message-end after 2 events"), "{m}");
    assert_eq!(causes(&s)[0].0, "stream_error");
}

#[test]
fn a_complete_stream_is_a_success_however_it_ends() {
    let s = replay_fault(
        chunked(
            "200 OK",
            SSE,
            &[
                "event: message-start\ndata: {\"id\":\"abc\",\"type\":\"message-start\"}\n\n",
                "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n",
                "data: [DONE]\n\n",
            ],
        ),
        &chat(true),
    );
    assert_eq!(s["status"], 200);
    assert_eq!(s["error"], Value::Null, "{s:#}");
    assert!(causes(&s).is_empty());
}

#[test]
fn a_json_200_cut_short_is_a_failure() {
    let s = replay_fault(
        response(
            "200 OK",
            &[("content-type", "application/json")],
            r#"{"id":"abc","message":{"role":"assistant","content":[{"type":"text","text":"Hel"#,
        ),
        &chat(false),
    );
    assert_eq!(s["status"], 200);
    assert_eq!(s["error"]["class"], "stream", "{s:#}");
    assert!(
        s["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not complete JSON"),
        "{s:#}"
    );
}

#[test]
fn no_key_is_refused_before_any_call_and_no_key_on_purpose_replays() {
    let sim = Sim::default_config();
    let d = util::tempdir();
    let req = util::write(d.path(), "req.json", chat(false).to_string());
    util::cli(d.path())
        .arg("replay")
        .arg(&req)
        .args([
            "--endpoint",
            "v2/chat",
            "--base-url",
            &sim.base_url(),
            "--out",
            "b.zip",
        ])
        .run()
        .fails(2, &["no API key", "CO_API_KEY", "--no-key"]);
    assert!(sim.requests().is_empty(), "the simulator saw no call");
    assert!(!d.path().join("b.zip").exists());
    util::cli(d.path())
        .arg("replay")
        .arg(&req)
        .args([
            "--endpoint",
            "v2/chat",
            "--base-url",
            &sim.base_url(),
            "--out",
            "b.zip",
            "--no-key",
        ])
        .run()
        .success();
    let s = util::summary(&d.path().join("b.zip"));
    assert_eq!(s["status"], 401);
    assert_eq!(s["key"]["present"], false);
    assert_eq!(causes(&s)[0].0, "invalid_api_key");
}

#[test]
fn a_max_tokens_the_request_did_not_set_is_never_zero() {
    let sim = Sim::start(SimConfig {
        fail_input_tokens_over: Some(5),
        ..SimConfig::default()
    });
    let d = util::tempdir();
    let req = envelope(d.path(), &sim.base_url(), &[], &chat(false));
    util::cli(d.path())
        .env("CO_API_KEY", DEMO_KEY)
        .arg("replay")
        .arg(&req)
        .args(["--out", "b.zip"])
        .run()
        .success();
    let s = util::summary(&d.path().join("b.zip"));
    assert_eq!(s["max_tokens"], Value::Null);
    let (code, ev) = &causes(&s)[0];
    assert_eq!(code, "context_length_exceeded", "{s:#}");
    assert!(ev.contains("max_tokens not set"), "{ev}");
    assert!(!ev.contains("max_tokens 0"), "{ev}");
    assert!(ev.contains("the API's own figures"), "{ev}");
}

/// The official Python SDK under `observe`, a 404 and a stream in both orders, with the body's end held back
/// after `[DONE]` as the real API's proxies do: the 404 is blamed, and the client names itself.
#[test]
fn python_sdk_under_observe_blames_the_404_in_either_order() {
    let python = fixture("target/py-sdk-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-python-sdk.sh first",
        python.display()
    );
    for order in ["fail-first", "stream-first"] {
        let sim = Sim::start(SimConfig {
            stream_end_delay: Duration::from_millis(300),
            ..SimConfig::default()
        });
        let d = util::tempdir();
        let run = util::cli(d.path())
            .env("CO_API_KEY", DEMO_KEY)
            .args([
                "observe",
                "--upstream",
                &sim.base_url(),
                "--out",
                "b.zip",
                "--",
            ])
            .arg(&python)
            .arg(fixture("tests/py/observe_order.py"))
            .args([order, MODEL])
            .run()
            .success();
        let s = util::summary(&d.path().join("b.zip"));
        assert_eq!(s["status"], 404, "{order}: {s:#}\n{}", run.stderr);
        let cs = causes(&s);
        assert_eq!(cs[0].0, "model_not_found", "{order}: {cs:?}");
        assert!(
            cs.iter()
                .all(|(c, _)| c != "stream_error" && c != "client_canceled"),
            "{order}: no completed stream is blamed: {cs:?}"
        );
        assert_eq!(s["other_failures"], Value::Null, "{order}: {s:#}");
        assert_eq!(s["client"]["sdk"], "cohere", "{order}: {s:#}");
        assert_eq!(s["client"]["version"], "7.3.1", "{order}");
        let runtime = s["client"]["runtime"].as_str().unwrap_or_default();
        assert!(runtime.starts_with("python 3."), "{order}: {runtime}");
        assert!(
            s["client"]["source"]
                .as_str()
                .unwrap_or_default()
                .starts_with("exchanges/"),
            "{order}: {s:#}"
        );
        assert_eq!(s["observed"]["requests"], 2, "{order}");
    }
}

#[test]
fn the_most_serious_failure_is_the_subject_and_the_others_are_listed() {
    use cohere_bundle_core::diagnose::{diagnose, primary_exchange, Evidence};
    use cohere_bundle_core::exchange::{
        Body, Exchange, Failure, FailureClass, RecordedRequest, RecordedResponse, Timings,
    };
    let ex = |i: u32, status: Option<u16>, failure: Option<Failure>| Exchange {
        index: i,
        purpose: cohere_bundle_core::exchange::Purpose::Observed,
        request: RecordedRequest {
            method: "POST".into(),
            url: "https://api.cohere.com/v2/chat".into(),
            headers: vec![],
            body: Body::from_text(chat(false).to_string()),
        },
        response: status.map(|s| RecordedResponse {
            status: s,
            headers: vec![],
            body: Body::from_text(json!({"message": format!("error {s}")}).to_string()),
        }),
        timings: Timings::default(),
        failure,
        retry_group: None,
    };
    let exchanges = vec![
        ex(
            1,
            Some(200),
            Some(Failure::client_side(
                FailureClass::Stream,
                "the client disconnected",
            )),
        ),
        ex(2, Some(200), None),
        ex(3, None, Some(Failure::new(FailureClass::Network, "reset"))),
        ex(
            4,
            Some(200),
            Some(Failure::new(FailureClass::Stream, "no message-end")),
        ),
        ex(
            5,
            Some(404),
            Some(Failure::new(FailureClass::Http, "error 404")),
        ),
        ex(
            6,
            Some(500),
            Some(Failure::new(FailureClass::Http, "error 500")),
        ),
    ];
    assert_eq!(
        primary_exchange(&exchanges).unwrap().index,
        5,
        "the earliest API error"
    );
    let req = cohere_bundle_core::input::request::parse_request(
        "r.json",
        chat(false).to_string().as_bytes(),
        &Default::default(),
    )
    .unwrap();
    let s = diagnose(&{
        let mut ev = Evidence::new(cohere_bundle_core::summary::Mode::Observe, &req, &exchanges);
        ev.platform = cohere_bundle_core::Platform::Cohere;
        ev.key_present = true;
        ev
    });
    assert_eq!(s.status, Some(404));
    assert_eq!(
        s.causes[0].code,
        cohere_bundle_core::CauseCode::ModelNotFound
    );
    let others: Vec<&str> = s.other_failures.iter().map(|o| o.source.as_str()).collect();
    assert_eq!(
        others,
        [
            "exchanges/006.json (observed)",
            "exchanges/003.json (observed)",
            "exchanges/004.json (observed)",
            "exchanges/001.json (observed)"
        ]
    );
    assert!(s.other_failures[3].client_side);
    // Without the API errors, a network failure outranks a broken stream, which outranks a client's close.
    assert_eq!(primary_exchange(&exchanges[..4]).unwrap().index, 3);
    assert_eq!(primary_exchange(&exchanges[..2]).unwrap().index, 1);
}
