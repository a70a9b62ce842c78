//! Issue 2: every failure the simulator produces, replayed through the CLI, gives a bundle whose summary.json
//! names the status, the error class, the right cause first, the request id the API sent and the model.

use std::path::PathBuf;

use cohere_bundle_simulator::{DEMO_KEY, TRIAL_KEY};
use serde_json::{json, Value};

use crate::util::{self, Sim};

const MODEL: &str = "command-r-08-2024";

struct Case {
    scenario: &'static str,
    key: &'static str,
    stream: bool,
    timeout: Option<&'static str>,
}

impl Case {
    fn new(scenario: &'static str) -> Case {
        Case {
            scenario,
            key: DEMO_KEY,
            stream: false,
            timeout: None,
        }
    }
}

struct Replayed {
    zip: PathBuf,
    summary: Value,
    json_out: Value,
    _dir: tempfile::TempDir,
}

fn replay(sim: &Sim, case: &Case) -> Replayed {
    let dir = util::tempdir();
    let mut body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write a haiku about support tickets."}],
        "max_tokens": 200,
    });
    if case.stream {
        body["stream"] = json!(true);
    }
    let auth = format!("Bearer {}", case.key);
    let req = util::write(
        dir.path(),
        "request.json",
        util::envelope(
            "https://api.cohere.com",
            "/v2/chat",
            &[("Authorization", &auth), ("x-simulate", case.scenario)],
            &body,
        ),
    );
    let zip = dir.path().join("out.zip");
    let mut c = util::cli(dir.path())
        .arg("replay")
        .arg(&req)
        .args(["--base-url", &sim.base_url(), "--json", "--out"])
        .arg(&zip);
    if let Some(t) = case.timeout {
        c = c.args(["--timeout", t]);
    }
    let run = c.run().success();
    let json_out = run.json();
    assert_eq!(
        json_out["bundle"].as_str().map(PathBuf::from),
        Some(zip.clone()),
        "{json_out}"
    );
    let summary = util::summary(&zip);
    Replayed {
        zip,
        summary,
        json_out,
        _dir: dir,
    }
}

/// Replays `case` and checks status, error class, first cause, request id and model.
#[track_caller]
fn check(case: Case, status: Option<u16>, class: &str, code: &str) -> Replayed {
    let sim = Sim::default_config();
    let r = replay(&sim, &case);
    let s = &r.summary;
    assert_eq!(s["status"].as_u64(), status.map(u64::from), "status: {s:#}");
    assert_eq!(s["error"]["class"], class, "class: {s:#}");
    assert_eq!(s["causes"][0]["code"], code, "first cause: {s:#}");
    assert_eq!(s["model"], MODEL);
    assert!(!s["causes"][0]["evidence"].as_str().unwrap_or("").is_empty());
    // The request id is the one the simulator sent back in x-debug-trace-id.
    let ex = util::exchange(&r.zip);
    match status {
        Some(_) => {
            let trace = util::response_header(&ex, "x-debug-trace-id").expect("trace id recorded");
            assert!(uuid::Uuid::parse_str(&trace).is_ok(), "{trace}");
            assert_eq!(s["request_id"], trace.as_str(), "{s:#}");
            assert_eq!(r.json_out["request_id"], trace.as_str());
        }
        None => assert!(
            s["request_id"].is_null(),
            "no response, no request id: {s:#}"
        ),
    }
    // The simulator really saw the request with the scenario header and the key.
    let seen = sim.requests();
    let chat = seen
        .iter()
        .find(|q| q.path == "/v2/chat")
        .expect("chat request reached the simulator");
    assert_eq!(chat.header("x-simulate"), Some(case.scenario));
    assert_eq!(
        chat.header("authorization").map(str::to_string),
        Some(format!("Bearer {}", case.key))
    );
    r
}

#[test]
fn invalid_combination_400() {
    check(
        Case::new("invalid-combination"),
        Some(400),
        "http",
        "invalid_parameter_combination",
    );
}

#[test]
fn too_many_tokens_400() {
    check(
        Case::new("too-many-tokens"),
        Some(400),
        "http",
        "context_length_exceeded",
    );
}

#[test]
fn invalid_api_key_401() {
    check(
        Case::new("invalid-api-key"),
        Some(401),
        "http",
        "invalid_api_key",
    );
}

#[test]
fn payment_required_402() {
    check(
        Case::new("payment-required"),
        Some(402),
        "http",
        "payment_required",
    );
}

#[test]
fn forbidden_403() {
    check(Case::new("forbidden"), Some(403), "http", "forbidden");
}

#[test]
fn model_not_found_404() {
    check(
        Case::new("model-not-found"),
        Some(404),
        "http",
        "model_not_found",
    );
}

#[test]
fn unprocessable_422() {
    check(
        Case::new("unprocessable"),
        Some(422),
        "http",
        "malformed_request",
    );
}

#[test]
fn trial_rate_limit_429() {
    let r = check(
        Case {
            key: TRIAL_KEY,
            ..Case::new("trial-rate-limit")
        },
        Some(429),
        "http",
        "rate_limited_trial",
    );
    assert_eq!(r.summary["key"]["kind"], "trial", "{:#}", r.summary);
}

#[test]
fn production_rate_limit_429() {
    let r = check(Case::new("rate-limit"), Some(429), "http", "rate_limited");
    assert_ne!(r.summary["key"]["kind"], "trial");
}

#[test]
fn blocked_token_498() {
    check(
        Case::new("blocked-token"),
        Some(498),
        "http",
        "blocked_token",
    );
}

#[test]
fn cancelled_499() {
    check(Case::new("cancelled"), Some(499), "http", "client_canceled");
}

#[test]
fn server_error_500() {
    check(Case::new("server-error"), Some(500), "http", "server_error");
}

#[test]
fn service_unavailable_503() {
    check(
        Case::new("service-unavailable"),
        Some(503),
        "http",
        "service_unavailable",
    );
}

#[test]
fn gateway_timeout_504() {
    check(
        Case::new("gateway-timeout"),
        Some(504),
        "http",
        "gateway_timeout",
    );
}

#[test]
fn hang_past_timeout() {
    let started = std::time::Instant::now();
    let r = check(
        Case {
            timeout: Some("0.5"),
            ..Case::new("hang")
        },
        None,
        "timeout",
        "timeout",
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the timeout was honoured"
    );
    assert!(r.summary["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[test]
fn connection_reset() {
    check(Case::new("reset"), None, "network", "network_error");
}

#[test]
fn stream_ending_in_error() {
    let r = check(
        Case {
            stream: true,
            ..Case::new("stream-error")
        },
        Some(200),
        "stream",
        "stream_error",
    );
    let ev = r.summary["causes"][0]["evidence"].as_str().unwrap_or("");
    assert!(ev.contains("200"), "{ev}");
}

fn report_md(scenario: &'static str, key: &'static str) -> String {
    let sim = Sim::default_config();
    let r = replay(
        &sim,
        &Case {
            key,
            ..Case::new(scenario)
        },
    );
    let html = util::member(&r.zip, "report.html");
    assert!(
        !html.contains("response:  tokens"),
        "no empty prompt count in report.html"
    );
    util::member(&r.zip, "report.md")
}

#[test]
fn report_md_snapshot_too_many_tokens() {
    let md = report_md("too-many-tokens", DEMO_KEY);
    util::insta_settings().bind(|| insta::assert_snapshot!("report_too_many_tokens", md));
}

#[test]
fn report_md_snapshot_trial_rate_limit() {
    let md = report_md("trial-rate-limit", TRIAL_KEY);
    util::insta_settings().bind(|| insta::assert_snapshot!("report_trial_rate_limit", md));
}

#[test]
fn report_md_snapshot_model_not_found() {
    let md = report_md("model-not-found", DEMO_KEY);
    util::insta_settings().bind(|| insta::assert_snapshot!("report_model_not_found", md));
}

/// report.md's first screen: everything before the FAQ's questions.
fn first_screen(md: &str) -> String {
    md.split("## The support FAQ's questions")
        .next()
        .unwrap_or("")
        .to_string()
}

/// The first screen answers in order: what failed, when and which request id, the cause and its next
/// step, and whether support is needed; the cause's text appears once in the whole report.
fn check_first_screen(md: &str, support: &str) -> String {
    let top = first_screen(md);
    let pos = |needle: &str| {
        top.find(needle)
            .unwrap_or_else(|| panic!("first screen lacks {needle:?}:\n{top}"))
    };
    let order = [
        pos("failed: **HTTP "),
        pos("- The replay: at "),
        pos("- Most likely cause: **"),
        pos("- Next step: "),
        pos(support),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "order: {order:?}\n{top}"
    );
    assert!(
        !top.contains("(http)"),
        "the class is said only when it adds something:\n{top}"
    );
    let evidence = top
        .split("- Most likely cause: **")
        .nth(1)
        .and_then(|t| t.split_once(": "))
        .map(|(_, e)| e.split(" (from ").next().unwrap_or(e).to_string())
        .expect("evidence");
    assert_eq!(
        md.matches(evidence.as_str()).count(),
        1,
        "cause text once: {evidence}"
    );
    top
}

#[test]
fn report_first_screen_user_side() {
    let md = report_md("max-tokens-exceeded", DEMO_KEY);
    let top = check_first_screen(&md, "**Support is not needed: the cause");
    util::insta_settings().bind(|| insta::assert_snapshot!("first_screen_user_side", top));
}

#[test]
fn report_first_screen_cohere_side() {
    let md = report_md("server-error", DEMO_KEY);
    let top = check_first_screen(
        &md,
        "**Support is needed: the cause (server_error) is on Cohere's side",
    );
    util::insta_settings().bind(|| insta::assert_snapshot!("first_screen_cohere_side", top));
}

#[test]
fn report_first_screen_unknown_side() {
    let md = report_md("forbidden", DEMO_KEY);
    let top = check_first_screen(&md, "**Support is needed unless the next step fixes it");
    util::insta_settings().bind(|| insta::assert_snapshot!("first_screen_unknown_side", top));
}
