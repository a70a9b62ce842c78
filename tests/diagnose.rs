//! Issue 4: each cause code in the vocabulary comes first for the failure it names, with evidence that names
//! the numbers or headers it rests on. Replays run in process against the simulator; offline bundles (a
//! Cohere 404, a Bedrock 424, a Python SDK traceback) run through the CLI.

use std::time::Duration;

use cohere_bundle_core::input::request::{parse_request, ParseOptions};
use cohere_bundle_core::pipeline::{self, BundleOptions, ReplayOptions};
use cohere_bundle_core::summary::Summary;
use cohere_bundle_core::{CauseCode, SecretString};
use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY, TRIAL_KEY};
use serde_json::{json, Value};

use crate::util;

const MODEL: &str = "command-r-08-2024";

struct Req {
    body: Value,
    key: Option<&'static str>,
    scenario: Option<&'static str>,
    timeout: Duration,
}

impl Req {
    fn chat() -> Req {
        Req {
            body: json!({"model": MODEL, "messages": [{"role": "user", "content": "Summarise the ticket in one line."}], "max_tokens": 100}),
            key: Some(DEMO_KEY),
            scenario: None,
            timeout: Duration::from_secs(10),
        }
    }
    fn scenario(s: &'static str) -> Req {
        Req {
            scenario: Some(s),
            ..Req::chat()
        }
    }
}

/// Replays `req` against a simulator built from `config` (in process) and returns the bundle's summary.
async fn replay(config: SimConfig, req: Req) -> Summary {
    let sim = Simulator::start(config).await.expect("simulator");
    let dir = util::tempdir();
    let mut headers = serde_json::Map::new();
    if let Some(s) = req.scenario {
        headers.insert("x-simulate".into(), json!(s));
    }
    let env = json!({"method": "POST", "url": format!("{}/v2/chat", sim.base_url()), "headers": headers, "body": req.body});
    let captured = parse_request(
        "request.json",
        env.to_string().as_bytes(),
        &ParseOptions::default(),
    )
    .expect("parses");
    let ro = {
        let mut o = ReplayOptions::default();
        o.base_url = Some(sim.base_url());
        o.no_key = req.key.is_none();
        o.api_key = req.key.map(SecretString::new);
        o.timeout = req.timeout;
        o.platform = None;
        o.net = Default::default();
        o
    };
    let bo = {
        let mut o = BundleOptions::default();
        o.output = Some(dir.path().join("b.zip"));
        o.cache_dir = Some(dir.path().join("cache"));
        o
    };
    let out = pipeline::replay(
        captured,
        &ro,
        &bo,
        cohere_bundle_core::summary::Mode::Replay,
    )
    .await
    .expect("bundle written");
    sim.shutdown().await;
    assert!(out.path.is_file());
    out.summary
}

/// Asserts the first cause and that its evidence contains each of `needles`; returns the evidence.
#[track_caller]
fn first(s: &Summary, code: CauseCode, needles: &[&str]) -> String {
    let c = s
        .causes
        .first()
        .unwrap_or_else(|| panic!("no cause: {s:#?}"));
    assert_eq!(c.code, code, "first cause; all: {:#?}", s.causes);
    for n in needles {
        assert!(
            c.evidence.contains(n),
            "evidence should name {n:?}: {}",
            c.evidence
        );
    }
    assert!(!c.next_step.is_empty());
    c.evidence.clone()
}

#[tokio::test]
async fn invalid_parameter_combination() {
    let s = replay(SimConfig::default(), Req::scenario("invalid-combination")).await;
    let msg = s.error.as_ref().expect("error").message.clone();
    first(
        &s,
        CauseCode::InvalidParameterCombination,
        &["HTTP 400", &msg[..msg.len().min(40)]],
    );
}

#[tokio::test]
async fn context_length_exceeded_input_plus_max_tokens() {
    // A model with a small context: 40 tokens. The input is well under it; input + max_tokens is not.
    let config = SimConfig::default().with_model(MODEL, 40, Some(30));
    let mut req = Req::chat();
    req.body["max_tokens"] = json!(30);
    let s = replay(config, req).await;
    assert_eq!(s.status, Some(400));
    let input = s.seq_len.tokens.expect("input measured");
    let ctx = s.model_limits.as_ref().and_then(|l| l.context_length);
    assert_eq!(
        ctx,
        Some(40),
        "limits from the models API: {:?}",
        s.model_limits
    );
    assert!(input + 30 > 40 && input < 40, "input {input}");
    let sum = format!(
        "input {input} tokens (tokenizer) + max_tokens 30 = {} > context length 40",
        input + 30
    );
    first(&s, CauseCode::ContextLengthExceeded, &[&sum]);
}

#[tokio::test]
async fn max_output_exceeded_when_max_tokens_is_over_the_output_cap() {
    // Issue 11: a max_tokens above the model's output cap is `max_output_exceeded`, with the API's own
    // figures, not `context_length_exceeded` (it was labelled so until then).
    let config = SimConfig::default().with_model(MODEL, 128_000, Some(100));
    let mut req = Req::chat();
    req.body["max_tokens"] = json!(500);
    let s = replay(config, req).await;
    assert_eq!(s.status, Some(400));
    first(
        &s,
        CauseCode::MaxOutputExceeded,
        &["500", "100", "the API's own figures"],
    );
    assert!(
        s.causes
            .iter()
            .all(|c| c.code != CauseCode::ContextLengthExceeded),
        "{:?}",
        s.causes
    );
}

#[tokio::test]
async fn malformed_request_names_the_field() {
    let mut req = Req::chat();
    req.body["temprature"] = json!(0.3);
    let s = replay(SimConfig::default(), req).await;
    assert_eq!(s.status, Some(422));
    first(&s, CauseCode::MalformedRequest, &["422", "temprature"]);
}

#[tokio::test]
async fn client_canceled() {
    let s = replay(SimConfig::default(), Req::scenario("cancelled")).await;
    first(&s, CauseCode::ClientCanceled, &["499"]);
}

#[tokio::test]
async fn invalid_api_key_without_a_key() {
    let s = replay(
        SimConfig::default(),
        Req {
            key: None,
            ..Req::chat()
        },
    )
    .await;
    assert_eq!(s.status, Some(401));
    assert!(!s.key.present);
    first(
        &s,
        CauseCode::InvalidApiKey,
        &["401", "no API key was sent"],
    );
}

#[tokio::test]
async fn invalid_api_key_expired() {
    let config = SimConfig {
        expired_keys: vec![DEMO_KEY.to_string()],
        ..SimConfig::default()
    };
    let s = replay(config, Req::chat()).await;
    assert_eq!(s.status, Some(401));
    first(&s, CauseCode::InvalidApiKey, &["401", "expired"]);
}

#[tokio::test]
async fn model_not_found_suggests_close_ids() {
    let mut req = Req::chat();
    req.body["model"] = json!("command-r-plus-08-2025");
    let s = replay(SimConfig::default(), req).await;
    assert_eq!(s.status, Some(404));
    first(
        &s,
        CauseCode::ModelNotFound,
        &["command-r-plus-08-2025", "command-r-plus-08-2024"],
    );
}

#[tokio::test]
async fn rate_limited_trial() {
    let s = replay(
        SimConfig::default(),
        Req {
            key: Some(TRIAL_KEY),
            ..Req::scenario("trial-rate-limit")
        },
    )
    .await;
    assert_eq!(s.status, Some(429));
    let ra = s.rate_limit.retry_after_s.expect("retry-after recorded");
    first(
        &s,
        CauseCode::RateLimitedTrial,
        &["20 calls per minute", &format!("Retry-After: {ra}s")],
    );
    assert_eq!(s.key.kind, cohere_bundle_core::KeyKind::Trial);
}

#[tokio::test]
async fn rate_limited_production() {
    let s = replay(SimConfig::default(), Req::scenario("rate-limit")).await;
    let ra = s.rate_limit.retry_after_s.expect("retry-after recorded");
    first(
        &s,
        CauseCode::RateLimited,
        &["HTTP 429", &format!("Retry-After: {ra}s")],
    );
}

#[tokio::test]
async fn forbidden() {
    let s = replay(SimConfig::default(), Req::scenario("forbidden")).await;
    first(&s, CauseCode::Forbidden, &["403"]);
}

#[tokio::test]
async fn blocked_token() {
    let s = replay(SimConfig::default(), Req::scenario("blocked-token")).await;
    first(&s, CauseCode::BlockedToken, &["498", "deny-listed"]);
}

#[tokio::test]
async fn payment_required() {
    let s = replay(SimConfig::default(), Req::scenario("payment-required")).await;
    first(&s, CauseCode::PaymentRequired, &["402", "payment method"]);
}

#[tokio::test]
async fn server_error() {
    let s = replay(SimConfig::default(), Req::scenario("server-error")).await;
    first(&s, CauseCode::ServerError, &["HTTP 500"]);
}

#[tokio::test]
async fn service_unavailable() {
    let s = replay(SimConfig::default(), Req::scenario("service-unavailable")).await;
    first(&s, CauseCode::ServiceUnavailable, &["503"]);
}

#[tokio::test]
async fn gateway_timeout() {
    let s = replay(SimConfig::default(), Req::scenario("gateway-timeout")).await;
    first(&s, CauseCode::GatewayTimeout, &["HTTP 504 after"]);
}

#[tokio::test]
async fn timeout_names_the_limit() {
    let s = replay(
        SimConfig::default(),
        Req {
            timeout: Duration::from_millis(500),
            ..Req::scenario("hang")
        },
    )
    .await;
    assert_eq!(s.status, None);
    first(&s, CauseCode::Timeout, &["0.5s"]);
}

#[tokio::test]
async fn network_error() {
    let s = replay(SimConfig::default(), Req::scenario("reset")).await;
    assert_eq!(s.status, None);
    first(&s, CauseCode::NetworkError, &["connection failed"]);
}

#[tokio::test]
async fn stream_error() {
    let mut req = Req::scenario("stream-error");
    req.body["stream"] = json!(true);
    let s = replay(SimConfig::default(), req).await;
    assert_eq!(s.status, Some(200));
    let msg = s.error.as_ref().expect("error").message.clone();
    assert!(!msg.is_empty());
    first(&s, CauseCode::StreamError, &["HTTP 200", &msg]);
}

// ---- Offline `bundle` ------------------------------------------------------------------------------------

#[test]
fn offline_cohere_404() {
    let d = util::tempdir();
    util::write(
        d.path(),
        "req.json",
        json!({"model": "command-r-plus-2024", "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
    );
    let id = "6a0e8c2f-3b1d-4f6e-9a7c-5d4b3a2f1e0d";
    let body = json!({"id": id, "message": "model 'command-r-plus-2024' not found, make sure the correct model ID was used and that you have access to the model."});
    util::write(d.path(), "resp.json", body.to_string());
    util::cli(d.path())
        .args([
            "bundle",
            "--request",
            "req.json",
            "--endpoint",
            "v2/chat",
            "--response",
            "resp.json",
            "--status",
            "404",
            "--out",
            "b.zip",
        ])
        .run()
        .success();
    let s = util::summary(&d.path().join("b.zip"));
    assert_eq!(s["status"], 404);
    assert_eq!(s["mode"], "bundle");
    assert_eq!(s["platform"], "cohere");
    assert_eq!(
        s["request_id"], id,
        "the body id is the request id when no trace header is known"
    );
    assert_eq!(s["model"], "command-r-plus-2024");
    assert_eq!(s["error"]["class"], "http");
    assert_eq!(s["causes"][0]["code"], "model_not_found");
    let ev = s["causes"][0]["evidence"].as_str().unwrap_or("");
    assert!(
        ev.contains("command-r-plus-2024") && ev.contains("404"),
        "{ev}"
    );
}

#[test]
fn offline_bedrock_424_uses_the_aws_meaning() {
    let d = util::tempdir();
    util::write(
        d.path(),
        "req.json",
        json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}).to_string(),
    );
    let msg = "Received client error (424) from primary with message \"model failed to process the input\"";
    util::write(d.path(), "resp.json", json!({"message": msg}).to_string());
    util::write(d.path(), "headers.txt", "x-amzn-ErrorType: ModelErrorException:http://internal.amazon.com/coral/com.amazon.bedrock/\nx-amzn-RequestId: 2b6f7c1e-0d4a-4a55-9d0e-7f3c8a1b2c3d\n");
    util::cli(d.path())
        .args([
            "bundle",
            "--request",
            "req.json",
            "--endpoint",
            "v2/chat",
            "--response",
            "resp.json",
            "--headers",
            "headers.txt",
            "--status",
            "424",
            "--platform",
            "bedrock",
            "--out",
            "b.zip",
        ])
        .run()
        .success();
    let s = util::summary(&d.path().join("b.zip"));
    assert_eq!(s["status"], 424);
    assert_eq!(s["platform"], "bedrock");
    // The support FAQ has no 424 row: its words are not borrowed; the platform's meaning is the tool's
    // reading of AWS's docs, labelled with its source.
    assert!(s["error"]["faq_meaning"].is_null(), "{}", s["error"]);
    let meaning = s["error"]["meaning"].as_str().unwrap_or("");
    assert!(
        meaning.starts_with("ModelErrorException"),
        "AWS meaning: {meaning}"
    );
    assert!(
        s["error"]["meaning_source"]
            .as_str()
            .unwrap_or("")
            .contains("aws.amazon.com"),
        "{}",
        s["error"]
    );
    let c = &s["causes"][0];
    assert_eq!(c["code"], "model_error");
    let ev = c["evidence"].as_str().unwrap_or("");
    assert!(
        ev.contains("424") && ev.contains("ModelErrorException") && ev.contains("model failed"),
        "{ev}"
    );
    assert!(c["next_step"].as_str().unwrap_or("").contains("AWS"), "{c}");
    assert_eq!(
        s["request_id"], "2b6f7c1e-0d4a-4a55-9d0e-7f3c8a1b2c3d",
        "the AWS request id header"
    );
}

#[test]
fn offline_python_traceback_without_response() {
    let d = util::tempdir();
    util::write(
        d.path(),
        "req.json",
        json!({"model": "command-r-plus-2024", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4000}).to_string(),
    );
    let log = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/core/tests/fixtures/logs/python_v5_notfound.log");
    util::cli(d.path())
        .args([
            "bundle",
            "--request",
            "req.json",
            "--endpoint",
            "v2/chat",
            "--out",
            "b.zip",
            "--log",
        ])
        .arg(&log)
        .run()
        .success();
    let zip = d.path().join("b.zip");
    let s = util::summary(&zip);
    assert_eq!(s["status"], 404, "{s:#}");
    assert_eq!(
        s["request_id"], "9f1c2b3a4d5e6f708192a3b4c5d6e7f8",
        "x-debug-trace-id from the traceback"
    );
    let m = s["error"]["message"].as_str().unwrap_or("");
    assert!(
        m.contains("command-r-plus-2024") && m.contains("not found"),
        "{m}"
    );
    assert_eq!(s["causes"][0]["code"], "model_not_found");
    assert_eq!(s["exchanges"], 0);
    let md = util::member(&zip, "report.md");
    assert!(
        md.contains("logs/python_v5_notfound.log:"),
        "the log error is listed: {md}"
    );
}

// ---- Evidence built by hand: headers the simulator does not send on a 429 -----------------------------

fn exchange_429(headers: &[(&str, &str)], message: &str) -> cohere_bundle_core::Exchange {
    use cohere_bundle_core::exchange::{Body, Header, RecordedRequest, RecordedResponse, Timings};
    cohere_bundle_core::Exchange {
        index: 1,
        purpose: cohere_bundle_core::exchange::Purpose::Recorded,
        request: RecordedRequest {
            method: "POST".into(),
            url: "https://api.cohere.com/v2/chat".into(),
            headers: Vec::new(),
            body: Body::from_text("{}"),
        },
        response: Some(RecordedResponse {
            status: 429,
            headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
            body: Body::from_text(json!({"id": "abc", "message": message}).to_string()),
        }),
        timings: Timings::default(),
        failure: Some(cohere_bundle_core::Failure::new(
            cohere_bundle_core::FailureClass::Http,
            message,
        )),
        retry_group: None,
    }
}

fn diagnose_429(headers: &[(&str, &str)], message: &str) -> Summary {
    use cohere_bundle_core::diagnose::{diagnose, Evidence};
    let req = parse_request(
        "r.json",
        json!({"model": MODEL, "messages": []})
            .to_string()
            .as_bytes(),
        &{
            let mut o = ParseOptions::default();
            o.endpoint =
                Some(cohere_bundle_core::Endpoint::from_name("v2/chat").expect("endpoint"));
            o.har_entry = None;
            o
        },
    )
    .expect("parses");
    let ex = vec![exchange_429(headers, message)];
    diagnose(&{
        let mut ev = Evidence::new(cohere_bundle_core::summary::Mode::Bundle, &req, &ex);
        ev.platform = cohere_bundle_core::Platform::Cohere;
        ev.key_present = true;
        ev
    })
}

#[test]
fn rate_limited_trial_from_the_trial_header() {
    // The message does not say "trial"; the header does.
    let s = diagnose_429(
        &[
            ("x-trial-endpoint-call-limit", "40"),
            ("x-trial-endpoint-call-remaining", "0"),
            ("retry-after", "7"),
        ],
        "too many requests",
    );
    first(
        &s,
        CauseCode::RateLimitedTrial,
        &[
            "x-trial-endpoint-call-limit: 40",
            "x-trial-endpoint-call-remaining: 0",
            "Retry-After: 7s",
        ],
    );
    assert_eq!(
        s.key.evidence.as_deref(),
        Some("response header x-trial-endpoint-call-limit: 40")
    );
}

#[test]
fn rate_limited_production_without_trial_headers() {
    let s = diagnose_429(
        &[("retry-after", "12")],
        "You are past the per minute request limit, please wait and try again later",
    );
    first(
        &s,
        CauseCode::RateLimited,
        &["Retry-After: 12s", "requests per minute"],
    );
    assert_ne!(s.key.kind, cohere_bundle_core::KeyKind::Trial);
}
