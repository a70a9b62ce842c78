//! The shape matrix against the project's simulated Cohere API: verdicts, boundaries within 5 %, call budgets
//! (counted by the simulator), rate limits with Retry-After, the bundle members and the CLI's consent rule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cohere_bundle::client::Client;
use cohere_bundle::exchange::Header;
use cohere_bundle::matrix::{self, MatrixOptions, MatrixResult, SweepContext, Verdict};
use cohere_bundle::simulator::{Flaky, RateLimit, Scenario, SimConfig, Simulator, DEMO_KEY};
use cohere_bundle::{CapturedRequest, Endpoint, SecretString};
use serde_json::{json, Value};

const MODEL: &str = "command-a-03-2025";
const ORIGINAL_TOKENS: u64 = 4000;

/// A v2 chat request whose last user message is long: about 4,000 tokens of input in all.
pub(crate) fn long_chat(max_tokens: u64) -> CapturedRequest {
    let tok = cohere_bundle::simulator::tokenizer();
    let system = "You are a support assistant for a logistics company. Answer briefly.";
    let own = ORIGINAL_TOKENS - cohere_bundle::tokenizer::count_text(tok, system);
    let text = cohere_bundle::tokenizer::grow_to_tokens(
        tok,
        "Shipment 4411 left Rotterdam on Monday and is late; the customer asks where it is and when it arrives. ",
        own,
    );
    CapturedRequest::from_body(
        Endpoint::ChatV2,
        json!({"model": MODEL, "max_tokens": max_tokens,
               "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}]}),
    )
}

fn ctx(sim: &Simulator, path: &str) -> SweepContext {
    SweepContext {
        client: Client::new(Duration::from_secs(30)).expect("client"),
        url: format!("{}{path}", sim.base_url()),
        headers: vec![Header::new("Content-Type", "application/json")],
        key: Some(SecretString::new(DEMO_KEY)),
        tokenizer: Some(Arc::new(cohere_bundle::simulator::tokenizer().clone())),
        prior: None,
    }
}

async fn run(config: SimConfig, request: &CapturedRequest, max_calls: u32) -> (MatrixResult, u64) {
    let sim = Simulator::start(config).await.expect("simulator starts");
    let path = format!("/{}", request.endpoint.path().trim_start_matches('/'));
    let opts = MatrixOptions {
        max_calls,
        ..MatrixOptions::default()
    };
    let r = matrix::sweep(&ctx(&sim, &path), request, &opts, None)
        .await
        .expect("sweep runs");
    let hits = sim.hits(&path);
    eprintln!(
        "matrix figures: verdict {}, {} calls (simulator hits {hits}, budget {max_calls}), boundary input {:?} max_tokens {:?}, \
         429s {}, waited {} s",
        r.verdict.as_str(),
        r.calls,
        r.boundary_input_tokens,
        r.boundary_max_tokens,
        r.rate_limited,
        r.waited_s
    );
    (r, hits)
}

#[track_caller]
fn within(found: Option<u64>, expected: u64) {
    let f = found.unwrap_or_else(|| panic!("no boundary found, expected ≈{expected}"));
    let err = (f as f64 - expected as f64).abs() / expected as f64;
    assert!(
        err <= 0.05,
        "boundary {f} is {:.1}% from {expected}",
        err * 100.0
    );
}

#[track_caller]
fn budget(r: &MatrixResult, hits: u64, max_calls: u32) {
    assert_eq!(
        u64::from(r.calls),
        hits,
        "the sweep's own count matches the simulator's"
    );
    assert!(
        hits <= u64::from(max_calls),
        "{hits} calls exceed the budget of {max_calls}"
    );
    assert!(!r.stopped_early, "stopped early: {}", r.conclusion);
}

#[tokio::test]
async fn input_length_threshold_is_located_within_5_percent() {
    let config = SimConfig {
        fail_input_tokens_over: Some(3000),
        ..SimConfig::default()
    };
    let (r, hits) = run(config, &long_chat(500), matrix::DEFAULT_MAX_CALLS).await;
    assert_eq!(r.verdict, Verdict::InputLength, "{}", r.conclusion);
    within(r.boundary_input_tokens, 3000);
    assert_eq!(r.boundary_max_tokens, None);
    budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
    assert_eq!(r.input_measure, "tokenizer");
    assert!(
        r.conclusion
            .starts_with("Fails only when the input exceeds ≈"),
        "{}",
        r.conclusion
    );
    // Every observation agrees with the simulator's rule.
    for c in &r.cells {
        let failed = c.class.is_some();
        assert_eq!(failed, c.input_tokens > 3000, "cell {c:?}");
    }
}

#[tokio::test]
async fn max_tokens_threshold_is_located_within_5_percent() {
    let config = SimConfig {
        fail_max_tokens_over: Some(300),
        ..SimConfig::default()
    };
    let (r, hits) = run(config, &long_chat(1000), matrix::DEFAULT_MAX_CALLS).await;
    assert_eq!(r.verdict, Verdict::MaxTokens, "{}", r.conclusion);
    within(r.boundary_max_tokens, 300);
    assert_eq!(r.boundary_input_tokens, None);
    budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
    for c in &r.cells {
        assert_eq!(
            c.class.is_some(),
            c.max_tokens.is_some_and(|m| m > 300),
            "cell {c:?}"
        );
    }
    assert!(
        r.conclusion.contains("max_tokens exceeds ≈"),
        "{}",
        r.conclusion
    );
}

#[tokio::test]
async fn every_shape_failing_is_all_fail() {
    let config = SimConfig {
        scenario: Some(Scenario::PaymentRequired),
        ..SimConfig::default()
    };
    let (r, hits) = run(config, &long_chat(500), matrix::DEFAULT_MAX_CALLS).await;
    assert_eq!(r.verdict, Verdict::AllFail, "{}", r.conclusion);
    budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
    assert!(r.cells.iter().all(|c| c.status == json!(402)));
    // It went down to the 5 % row with max_tokens 1.
    let smallest = r
        .cells
        .iter()
        .map(|c| c.input_tokens)
        .min()
        .unwrap_or(u64::MAX);
    assert!(
        smallest <= ORIGINAL_TOKENS / 10,
        "smallest input tried: {smallest}"
    );
    assert!(r.cells.iter().any(|c| c.max_tokens == Some(1)));
    assert_eq!(
        (r.boundary_input_tokens, r.boundary_max_tokens),
        (None, None)
    );
}

#[tokio::test]
async fn no_shape_failing_is_none_fail() {
    let (r, hits) = run(
        SimConfig::default(),
        &long_chat(500),
        matrix::DEFAULT_MAX_CALLS,
    )
    .await;
    assert_eq!(r.verdict, Verdict::NoneFail, "{}", r.conclusion);
    budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
    assert!(hits <= 5, "no bisection when nothing fails: {hits} calls");
    assert!(r.cells.iter().all(|c| c.status == json!(200)));
}

#[tokio::test]
async fn flaky_service_is_intermittent() {
    let config = SimConfig {
        flaky: Some(Flaky {
            every: 2,
            scenario: Scenario::ServiceUnavailable,
        }),
        ..SimConfig::default()
    };
    let (r, hits) = run(config, &long_chat(500), matrix::DEFAULT_MAX_CALLS).await;
    assert_eq!(r.verdict, Verdict::Intermittent, "{}", r.conclusion);
    budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
    let statuses: Vec<&Value> = r.cells.iter().map(|c| &c.status).collect();
    assert!(
        statuses.contains(&&json!(503)) && statuses.contains(&&json!(200)),
        "{statuses:?}"
    );
    assert!(r.conclusion.contains("intermittent"));
}

#[tokio::test]
async fn rate_limited_sweep_waits_for_retry_after_and_stays_in_budget() {
    let config = SimConfig {
        fail_input_tokens_over: Some(3000),
        rate_limit: Some(RateLimit {
            calls: 3,
            window: Duration::from_secs(2),
        }),
        ..SimConfig::default()
    };
    let max_calls = 14;
    let t0 = Instant::now();
    let (r, hits) = run(config, &long_chat(500), max_calls).await;
    assert_eq!(r.verdict, Verdict::InputLength, "{}", r.conclusion);
    within(r.boundary_input_tokens, 3000);
    budget(&r, hits, max_calls);
    assert!(
        r.rate_limited >= 1,
        "the simulator's limit was hit at least once"
    );
    assert!(
        r.rate_limited <= 2,
        "after one 429 the scheduler paces itself: {} 429s",
        r.rate_limited
    );
    assert!(r.waited_s >= 1.0, "waited {} s", r.waited_s);
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert!(
        r.cells.iter().all(|c| c.status != json!(429)),
        "429s are retried, not recorded as shapes"
    );
}

#[tokio::test]
async fn embed_sweeps_the_number_of_texts() {
    let texts =
        vec!["A document about shipping rules and customs forms for pallets. ".repeat(8); 40];
    let req = CapturedRequest::from_body(
        Endpoint::EmbedV2,
        json!({"model": "embed-v4.0", "texts": texts, "input_type": "search_document", "embedding_types": ["float"]}),
    );
    let tok = cohere_bundle::simulator::tokenizer();
    let per_text = cohere_bundle::tokenizer::count_text(tok, &texts[0]);
    let limit = per_text * 22 + per_text / 2;
    let config = SimConfig {
        fail_input_tokens_over: Some(limit),
        ..SimConfig::default()
    };
    let (r, hits) = run(config, &req, matrix::DEFAULT_MAX_CALLS).await;
    assert_eq!(r.verdict, Verdict::InputLength, "{}", r.conclusion);
    assert_eq!(r.input_axis, "texts");
    assert_eq!(
        r.boundary_input_tokens,
        Some(per_text * 22),
        "{}",
        r.conclusion
    );
    budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
    assert!(r.conclusion.contains("22 texts"), "{}", r.conclusion);
}

#[tokio::test]
async fn a_bundle_carries_matrix_json_and_the_summary_matrix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zip = write_matrix_bundle(dir.path()).await;
    let f = std::fs::File::open(&zip).expect("zip exists");
    let mut a = zip::ZipArchive::new(f).expect("zip opens");
    let read = |a: &mut zip::ZipArchive<std::fs::File>, n: &str| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut a.by_name(n).expect(n), &mut s).expect("utf-8");
        s
    };
    let m: Value = serde_json::from_str(&read(&mut a, "matrix.json")).expect("matrix.json is JSON");
    let summary: Value = serde_json::from_str(&read(&mut a, "summary.json")).expect("summary.json");
    assert_eq!(summary["matrix"], m);
    assert_eq!(m["verdict"], json!("input_length"));
    assert_eq!(
        m["cells"][0]["phase"],
        json!("replay"),
        "the replay is the original cell's first observation"
    );
    let md = read(&mut a, "report.md");
    let conclusion = m["conclusion"].as_str().expect("conclusion");
    assert!(md.contains(conclusion), "report.md states the conclusion");
    let html = read(&mut a, "report.html");
    assert!(html.contains("cell-ok") && html.contains("cell-fail"));
}

/// Replays [`long_chat`] against a simulator that fails over 3,000 input tokens, with `--matrix --yes`, and writes
/// the bundle into `dir`. Returns the zip's path.
pub(crate) async fn write_matrix_bundle(dir: &std::path::Path) -> std::path::PathBuf {
    let sim = Simulator::start(SimConfig {
        fail_input_tokens_over: Some(3000),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let ro = cohere_bundle::pipeline::ReplayOptions {
        base_url: Some(sim.base_url()),
        api_key: Some(SecretString::new(DEMO_KEY)),
        ..Default::default()
    };
    let bo = cohere_bundle::pipeline::BundleOptions {
        output: Some(dir.join("bundle.zip")),
        cache_dir: Some(dir.join("cache")),
        scan_env: false,
        ..Default::default()
    };
    let run = matrix::MatrixRun {
        yes: true,
        quiet: true,
        ..Default::default()
    };
    let o =
        cohere_bundle::pipeline::replay_with_matrix(long_chat(500), &ro, &bo, "replay", Some(&run))
            .await
            .expect("bundle written");
    // The replay plus at most --max-calls sweep calls.
    assert!(sim.hits("/v2/chat") <= 1 + u64::from(matrix::DEFAULT_MAX_CALLS));
    o.path
}

#[test]
fn cli_refuses_the_matrix_without_a_terminal_or_yes() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt
        .block_on(Simulator::start(SimConfig::default()))
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let req = dir.path().join("req.json");
    std::fs::write(&req, long_chat(100).body.to_string()).expect("write request");
    let out = assert_cmd::Command::cargo_bin("cohere-bundle")
        .expect("binary")
        .args([
            "replay",
            "--endpoint",
            "v2/chat",
            "--matrix",
            "--base-url",
            &sim.base_url(),
            "-o",
        ])
        .arg(dir.path().join("b.zip"))
        .arg(&req)
        .env("CO_API_KEY", DEMO_KEY)
        .write_stdin("")
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--matrix") && err.contains("--yes"), "{err}");
    assert_eq!(
        sim.hits("/v2/chat"),
        0,
        "nothing was sent before the refusal"
    );
    assert!(!dir.path().join("b.zip").exists());
}

#[test]
fn cli_matrix_with_yes_states_the_plan_and_reports_the_shapes() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            fail_max_tokens_over: Some(300),
            ..SimConfig::default()
        }))
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let req = dir.path().join("req.json");
    std::fs::write(&req, long_chat(1000).body.to_string()).expect("write request");
    let out = assert_cmd::Command::cargo_bin("cohere-bundle")
        .expect("binary")
        .args([
            "replay",
            "--endpoint",
            "v2/chat",
            "--matrix",
            "--yes",
            "--max-calls",
            "8",
            "--base-url",
            &sim.base_url(),
        ])
        .arg("-o")
        .arg(dir.path().join("b.zip"))
        .arg(&req)
        .env("CO_API_KEY", DEMO_KEY)
        .env("COHERE_BUNDLE_CACHE_DIR", dir.path().join("cache"))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert!(
        err.contains("sends up to 8 requests") && err.contains("8,000 output tokens"),
        "{err}"
    );
    assert!(
        stdout.contains("shapes:") && stdout.contains("max_tokens"),
        "{stdout}"
    );
    assert!(
        sim.hits("/v2/chat") <= 1 + 8,
        "replay plus the budget: {}",
        sim.hits("/v2/chat")
    );
}
