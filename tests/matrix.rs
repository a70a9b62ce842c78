//! The shape matrix against the project's simulated Cohere API: verdicts, boundaries within 5 %, call budgets
//! (counted by the simulator), rate limits with Retry-After, the bundle members and the CLI's consent rule.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cohere_bundle_core::exchange::Header;
use cohere_bundle_core::gather::client::Client;
use cohere_bundle_core::gather::matrix::{
    self, MatrixOptions, MatrixResult, SweepContext, Verdict,
};
use cohere_bundle_core::{CapturedRequest, Endpoint, SecretString};
use cohere_bundle_simulator::{Flaky, RateLimit, Scenario, SimConfig, Simulator, DEMO_KEY};
use serde_json::{json, Value};

const MODEL: &str = "command-a-03-2025";
const ORIGINAL_TOKENS: u64 = 4000;

/// A v2 chat request whose last user message is long: about 4,000 tokens of input in all.
pub(crate) fn long_chat(max_tokens: u64) -> CapturedRequest {
    let tok = cohere_bundle_simulator::tokenizer();
    let system = "You are a support assistant for a logistics company. Answer briefly.";
    let own = ORIGINAL_TOKENS - cohere_bundle_core::gather::tokenizer::count_text(tok, system);
    let text = cohere_bundle_core::gather::tokenizer::grow_to_tokens(
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
        tokenizer: Some(Arc::new(cohere_bundle_simulator::tokenizer().clone())),
        prior: None,
    }
}

async fn run(config: SimConfig, request: &CapturedRequest, max_calls: u32) -> (MatrixResult, u64) {
    let sim = Simulator::start(config).await.expect("simulator starts");
    run_on(&sim, request, max_calls).await
}

/// Sweeps `request` against a running simulator; returns the result and the simulator's count of calls.
async fn run_on(sim: &Simulator, request: &CapturedRequest, max_calls: u32) -> (MatrixResult, u64) {
    let path = format!("/{}", request.endpoint.path().trim_start_matches('/'));
    let opts = {
        let mut o = MatrixOptions::default();
        o.max_calls = max_calls;
        o
    };
    let r = matrix::sweep(&ctx(sim, &path), request, &opts, None)
        .await
        .expect("sweep runs");
    let hits = sim.hits(&path);
    eprintln!(
        "matrix figures: verdict {}{}, {} calls (simulator hits {hits}, budget {max_calls}), boundary input {:?} max_tokens {:?}, \
         429s {}, waited {} s",
        r.verdict.as_str(),
        r.inconclusive_reason.map(|x| format!(" ({})", x.as_str())).unwrap_or_default(),
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
    // The boundary is the bracket the sweep measured, never presented as the API's limit.
    assert!(
        r.conclusion
            .starts_with("Fails only with longer inputs: the sweep measured ok at")
            && r.conclusion.contains("not the API's stated limit"),
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
        r.conclusion
            .contains("Fails only with a larger max_tokens: the sweep measured ok at")
            && r.conclusion.contains("not the API's stated limit"),
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
    let values: Vec<Value> = r.cells.iter().map(|c| json!(c.status)).collect();
    let statuses: Vec<&Value> = values.iter().collect();
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
    let tok = cohere_bundle_simulator::tokenizer();
    let per_text = cohere_bundle_core::gather::tokenizer::count_text(tok, &texts[0]);
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
    // The sweep table names each call's phase, in the order they were made.
    assert!(
        md.contains("| phase | input tokens | max_tokens | status |"),
        "{md}"
    );
    let phases: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| phase |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1).map(str::trim))
        .collect();
    let cells = m["cells"].as_array().expect("cells");
    assert_eq!(phases.len(), cells.len(), "one row per call");
    assert_eq!(phases[0], "replay");
    for (row, c) in phases.iter().zip(cells) {
        let want = match c["phase"].as_str().unwrap_or("") {
            "bisect" => "bisection",
            p => p,
        };
        assert_eq!(*row, want);
    }
    assert!(
        phases.contains(&"grid") && phases.contains(&"bisection"),
        "{phases:?}"
    );
    let html = read(&mut a, "report.html");
    assert!(html.contains("cell-ok") && html.contains("cell-fail"));
    assert!(
        html.contains("<td class=\"l\">bisection</td>"),
        "the HTML lists phases too"
    );
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
    let ro = {
        let mut o = cohere_bundle_core::pipeline::ReplayOptions::default();
        o.base_url = Some(sim.base_url());
        o.api_key = Some(SecretString::new(DEMO_KEY));
        o
    };
    let bo = {
        let mut o = cohere_bundle_core::pipeline::BundleOptions::default();
        o.output = Some(dir.join("bundle.zip"));
        o.cache_dir = Some(dir.join("cache"));
        o
    };
    let run = {
        let mut o = matrix::MatrixRun::default();
        o.yes = true;
        o.quiet = true;
        o
    };
    let o = cohere_bundle_core::pipeline::replay_with_matrix(
        long_chat(500),
        &ro,
        &bo,
        cohere_bundle_core::summary::Mode::Replay,
        Some(&run),
    )
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

// ---------------------------------------------------------------------------------------------------------
// The whole input is varied (project issue 11): the big text is not the last one.

const LIMIT: u64 = 3000;

/// The chat of issue 11: a 13,000-character first user message, an assistant turn, a 61-character last turn.
fn multi_turn_chat() -> CapturedRequest {
    let para = "The night shift ran the rebalance job on the search cluster, and the worker on the seventh node \
                reported that one shard could not be reached after three retries. ";
    let first: String = para.chars().cycle().take(13_000).collect();
    let last = "Which job failed first, and what error did it report exactly?";
    assert_eq!(last.len(), 61);
    CapturedRequest::from_body(
        Endpoint::ChatV2,
        json!({"model": MODEL, "max_tokens": 400, "messages": [
            {"role": "user", "content": first},
            {"role": "assistant", "content": "I have read the logs. What would you like to know about them?"},
            {"role": "user", "content": last}]}),
    )
}

/// Every cell agrees with a limit of `limit` input tokens counted over the whole request: the sizes recorded
/// are the sizes sent.
#[track_caller]
fn cells_agree_with(r: &MatrixResult, limit: u64) {
    for c in &r.cells {
        assert_eq!(c.class.is_some(), c.input_tokens > limit, "cell {c:?}");
    }
}

#[tokio::test]
async fn multi_turn_chat_with_the_big_message_first_finds_the_input_limit() {
    let req = multi_turn_chat();
    let original = cohere_bundle_simulator::count_input_tokens(Endpoint::ChatV2, &req.body);
    eprintln!("multi-turn chat: {original} input tokens");
    // The brief's limit, and one just under the original (as in the issue: 3,731 tokens against 3,000).
    for limit in [LIMIT, original * 4 / 5] {
        assert!(original > limit + 500, "the chat has {original} tokens");
        let sim = Simulator::start(SimConfig {
            fail_input_tokens_over: Some(limit),
            ..SimConfig::default()
        })
        .await
        .expect("simulator starts");
        let (r, hits) = run_on(&sim, &req, matrix::DEFAULT_MAX_CALLS).await;
        assert_eq!(r.verdict, Verdict::InputLength, "{}", r.conclusion);
        within(r.boundary_input_tokens, limit);
        budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
        cells_agree_with(&r, limit);
        assert_eq!(r.original_input_tokens, original);
        assert_eq!(r.input_varied, vec!["messages"]);
        assert_eq!(r.input_parts, 3);
        assert!(
            r.smallest_input_tokens
                .is_some_and(|x| x <= original / 4 + 1),
            "{:?}",
            r.smallest_input_tokens
        );
        // The first message was cut; the short last turn went out unchanged every time.
        let sent: Vec<Value> = sim.requests().iter().filter_map(|q| q.json()).collect();
        assert!(sent
            .iter()
            .all(|b| b["messages"][2] == req.body["messages"][2]));
        let first_lens: Vec<usize> = sent
            .iter()
            .filter_map(|b| b["messages"][0]["content"].as_str().map(str::len))
            .collect();
        assert!(first_lens.iter().any(|&n| n < 13_000 / 2), "{first_lens:?}");
    }
}

#[tokio::test]
async fn chat_with_large_documents_finds_the_context_limit() {
    // The model's context window is the limit: input + max_tokens <= 3,000.
    let config = SimConfig::default().with_model(MODEL, LIMIT, Some(1000));
    let tok = cohere_bundle_simulator::tokenizer();
    let snippet = |topic: &str| {
        cohere_bundle_core::gather::tokenizer::grow_to_tokens(
            tok,
            &format!(
                "Section on {topic}: the carrier accepts pallets up to 1,200 kg and 1.8 m high. "
            ),
            2600,
        )
    };
    let req = CapturedRequest::from_body(
        Endpoint::ChatV2,
        json!({"model": MODEL, "max_tokens": 100,
               "messages": [{"role": "user", "content": "What is the weight limit per pallet?"}],
               "documents": [
                   {"id": "terms", "data": {"title": "Terms", "snippet": snippet("terms")}},
                   {"id": "rates", "data": {"title": "Rates", "snippet": snippet("rates")}},
                   snippet("customs")]}),
    );
    let (r, hits) = run(config, &req, matrix::DEFAULT_MAX_CALLS).await;
    assert_eq!(r.verdict, Verdict::InputLength, "{}", r.conclusion);
    // Bisected with max_tokens 1: the prompt may have 2,999 tokens.
    within(r.boundary_input_tokens, LIMIT - 1);
    budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
    for c in &r.cells {
        let room = LIMIT - c.max_tokens.unwrap_or(0);
        assert_eq!(c.class.is_some(), c.input_tokens > room, "cell {c:?}");
    }
    assert!(
        r.input_varied.contains(&"documents".to_string()),
        "{:?}",
        r.input_varied
    );
}

#[tokio::test]
async fn tool_result_turns_find_the_input_limit() {
    let tok = cohere_bundle_simulator::tokenizer();
    let rows = cohere_bundle_core::gather::tokenizer::grow_to_tokens(
        tok,
        "{\"order\": 88123, \"status\": \"in transit\", \"hub\": \"Hamburg\", \"eta\": \"2025-03-04\"}, ",
        6000,
    );
    let v2 = CapturedRequest::from_body(
        Endpoint::ChatV2,
        json!({"model": MODEL, "max_tokens": 300, "messages": [
            {"role": "system", "content": "You answer questions about orders."},
            {"role": "user", "content": "Where are my orders?"},
            {"role": "assistant", "tool_plan": "I will look the orders up.",
             "tool_calls": [{"id": "call_1", "type": "function",
                             "function": {"name": "orders", "arguments": "{\"customer\": 42}"}}]},
            {"role": "tool", "tool_call_id": "call_1",
             "content": [{"type": "document", "document": {"id": "orders", "data": {"rows": rows}}}]}]}),
    );
    let v1 = CapturedRequest::from_body(
        Endpoint::ChatV1,
        json!({"model": MODEL, "max_tokens": 300, "message": "Where are my orders?",
               "tool_results": [{"call": {"name": "orders", "parameters": {"customer": 42}},
                                 "outputs": [{"rows": rows}]}]}),
    );
    for req in [v2, v1] {
        let (r, hits) = run(
            SimConfig {
                fail_input_tokens_over: Some(LIMIT),
                ..SimConfig::default()
            },
            &req,
            matrix::DEFAULT_MAX_CALLS,
        )
        .await;
        assert_eq!(
            r.verdict,
            Verdict::InputLength,
            "{:?}: {}",
            req.endpoint,
            r.conclusion
        );
        within(r.boundary_input_tokens, LIMIT);
        budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
        cells_agree_with(&r, LIMIT);
        assert!(
            r.input_varied.contains(&"tool_results".to_string()),
            "{:?}",
            r.input_varied
        );
    }
}

#[tokio::test]
async fn the_simulator_counts_every_text_toward_its_limit() {
    let sim = Simulator::start(SimConfig {
        fail_input_tokens_over: Some(LIMIT),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let req = multi_turn_chat();
    let client = Client::new(Duration::from_secs(30)).expect("client");
    let send = |body: Value| {
        let prepared = cohere_bundle_core::gather::client::PreparedRequest {
            method: "POST".into(),
            url: format!("{}/v2/chat", sim.base_url()),
            headers: vec![Header::new("Content-Type", "application/json")],
            body: serde_json::to_vec(&body).expect("json"),
        };
        let client = client.clone();
        async move {
            let key = SecretString::new(DEMO_KEY);
            let ex = client
                .send(
                    &prepared,
                    Some(&key),
                    cohere_bundle_core::exchange::Purpose::Replay,
                    1,
                )
                .await
                .exchange;
            ex.response.map(|r| r.status)
        }
    };
    // The long message is first, the last turn is short: 400 all the same.
    assert_eq!(send(req.body.clone()).await, Some(400));
    let mut short = req.body.clone();
    short["messages"][0]["content"] = json!("Here are the logs: none today.");
    assert_eq!(send(short.clone()).await, Some(200));
    // A long tool result counts too.
    let mut tool = short;
    tool["messages"]
        .as_array_mut()
        .expect("messages")
        .push(json!({"role": "tool", "tool_call_id": "c",
                     "content": [{"type": "document", "document": {"data": {"log": req.body["messages"][0]["content"]}}}]}));
    assert_eq!(send(tool).await, Some(400));
}

// ---------------------------------------------------------------------------------------------------------
// Could not tell: inconclusive instead of all_fail

#[tokio::test]
async fn a_request_that_cannot_shrink_is_inconclusive() {
    // Large tool definitions (left as they are) and a tiny message: nothing small can be sent.
    let tools: Vec<Value> = (0..40)
        .map(|i| {
            json!({"type": "function", "function": {"name": format!("lookup_{i}"),
                "description": "Looks a shipment up by its number and returns the carrier, the route, the hubs it passed \
                                and the expected arrival, with the customs state of every parcel on it.",
                "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}})
        })
        .collect();
    let req = CapturedRequest::from_body(
        Endpoint::ChatV2,
        json!({"model": MODEL, "max_tokens": 200, "tools": tools,
               "messages": [{"role": "user", "content": "Where is 4411?"}]}),
    );
    let config = SimConfig {
        fail_input_tokens_over: Some(1000),
        ..SimConfig::default()
    };
    let (r, hits) = run(config, &req, matrix::DEFAULT_MAX_CALLS).await;
    assert_eq!(r.verdict, Verdict::Inconclusive, "{}", r.conclusion);
    assert_eq!(
        r.inconclusive_reason,
        Some(matrix::InconclusiveReason::CouldNotShrink)
    );
    budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
    assert!(hits <= 5, "no calls wasted on the same size: {hits}");
    assert!(r.cells.iter().all(|c| c.class.is_some()));
    assert!(
        r.conclusion.starts_with("Could not tell")
            && r.conclusion
                .contains("in parts the sweep leaves as they are"),
        "{}",
        r.conclusion
    );
    assert!(
        !r.conclusion.contains("does not depend"),
        "{}",
        r.conclusion
    );
    assert_eq!(
        (r.boundary_input_tokens, r.boundary_max_tokens),
        (None, None)
    );

    // Only images: nothing to vary at all.
    let images = CapturedRequest::from_body(
        Endpoint::EmbedV2,
        json!({"model": "embed-v4.0", "input_type": "image", "embedding_types": ["float"],
               "images": ["data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/58BAwAI/AL+hc2rNAAAAABJRU5ErkJggg=="]}),
    );
    let config = SimConfig {
        scenario: Some(Scenario::PaymentRequired),
        ..SimConfig::default()
    };
    let (r, hits) = run(config, &images, matrix::DEFAULT_MAX_CALLS).await;
    assert_eq!(r.verdict, Verdict::Inconclusive, "{}", r.conclusion);
    assert_eq!(r.input_axis, "none");
    assert_eq!(
        r.inconclusive_reason,
        Some(matrix::InconclusiveReason::CouldNotShrink)
    );
    budget(&r, hits, matrix::DEFAULT_MAX_CALLS);
    assert!(
        r.conclusion.contains("no text the sweep can shrink"),
        "{}",
        r.conclusion
    );
}

#[tokio::test]
async fn a_trial_key_429_after_one_size_is_inconclusive() {
    // The replay fails at the original size; every sweep call then gets the trial key's 429 (Retry-After 1).
    let sim = Simulator::start(SimConfig {
        fail_input_tokens_over: Some(LIMIT),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let req = long_chat(500);
    let mut c = ctx(&sim, "/v2/chat");
    let prepared = cohere_bundle_core::gather::client::PreparedRequest {
        method: "POST".into(),
        url: c.url.clone(),
        headers: c.headers.clone(),
        body: serde_json::to_vec(&req.body).expect("json"),
    };
    c.prior = Some(
        c.client
            .send(
                &prepared,
                c.key.as_ref(),
                cohere_bundle_core::exchange::Purpose::Replay,
                1,
            )
            .await
            .exchange,
    );
    c.headers
        .push(Header::new("x-simulate", Scenario::TrialRateLimit.name()));
    let r = matrix::sweep(&c, &req, &MatrixOptions::default(), None)
        .await
        .expect("sweep runs");
    assert_eq!(r.verdict, Verdict::Inconclusive, "{}", r.conclusion);
    assert_eq!(
        r.inconclusive_reason,
        Some(matrix::InconclusiveReason::RateLimited)
    );
    assert_eq!(r.rate_limited, 3);
    assert_eq!(r.smallest_input_tokens, Some(ORIGINAL_TOKENS));
    assert!(
        r.conclusion.starts_with("Could not tell") && r.conclusion.contains("429"),
        "{}",
        r.conclusion
    );
}

// ---------------------------------------------------------------------------------------------------------
// Retry-After from the server is capped (project issue 12)

/// A 127.0.0.1 server for `POST /v2/chat`: the first request gets a 400 when `first_400`, every other one a 429
/// with `Retry-After: {retry_after}`; anything else 404. Returns its base URL and its call count.
async fn retry_after_server(retry_after: &str, first_400: bool) -> (String, Arc<AtomicU64>) {
    use axum::response::IntoResponse;
    let hits = Arc::new(AtomicU64::new(0));
    let (h, ra) = (hits.clone(), retry_after.to_string());
    let chat = move || {
        let (h, ra) = (h.clone(), ra.clone());
        async move {
            if h.fetch_add(1, Ordering::SeqCst) == 0 && first_400 {
                let body = json!({"id": "e1", "message": "too many tokens: total number of tokens in the prompt cannot exceed 3000 - received 4000."});
                return (axum::http::StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            }
            let body = json!({"id": "e2", "message": "You are using a Trial key, which is limited to 20 API calls / minute."});
            (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", ra)],
                axum::Json(body),
            )
                .into_response()
        }
    };
    let app = axum::Router::new().route("/v2/chat", axum::routing::post(chat));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_stops_the_sweep_with_a_bundle() {
    for value in ["1e30", "inf", "Fri, 31 Dec 9999 23:59:59 GMT", "3600"] {
        let (base, hits) = retry_after_server(value, true).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let ro = {
            let mut o = cohere_bundle_core::pipeline::ReplayOptions::default();
            o.base_url = Some(base);
            o.api_key = Some(SecretString::new(DEMO_KEY));
            o
        };
        let bo = {
            let mut o = cohere_bundle_core::pipeline::BundleOptions::default();
            o.output = Some(dir.path().join("bundle.zip"));
            o.cache_dir = Some(dir.path().join("cache"));
            o
        };
        let run = {
            let mut o = matrix::MatrixRun::default();
            o.yes = true;
            o.quiet = true;
            o
        };
        let t0 = Instant::now();
        let o = cohere_bundle_core::pipeline::replay_with_matrix(
            long_chat(500),
            &ro,
            &bo,
            cohere_bundle_core::summary::Mode::Replay,
            Some(&run),
        )
        .await
        .expect("bundle written");
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{value}: no long wait"
        );
        let m = read_member(&o.path, "matrix.json");
        assert_eq!(m["verdict"], json!("inconclusive"), "{value}: {m}");
        assert_eq!(
            m["inconclusive_reason"],
            json!("retry_after_too_long"),
            "{value}"
        );
        assert_eq!(m["stop_reason"], json!("retry_after_too_long"));
        assert_eq!(m["max_wait_s"], json!(60.0));
        let conclusion = m["conclusion"].as_str().expect("conclusion");
        assert!(
            conclusion.starts_with("Could not tell") && conclusion.contains("Retry-After"),
            "{conclusion}"
        );
        // The replay, then one sweep call that got the 429.
        assert_eq!(hits.load(Ordering::SeqCst), 2, "{value}");
        assert_eq!(m["calls"], json!(1));
    }
}

/// The JSON member `name` of a bundle.
fn read_member(zip: &std::path::Path, name: &str) -> Value {
    let f = std::fs::File::open(zip).expect("zip exists");
    let mut a = zip::ZipArchive::new(f).expect("zip opens");
    let mut s = String::new();
    std::io::Read::read_to_string(&mut a.by_name(name).expect(name), &mut s).expect("utf-8");
    serde_json::from_str(&s).expect("JSON")
}

#[test]
fn cli_survives_a_retry_after_of_1e30_on_every_answer() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for value in ["1e30", "inf", "NaN"] {
        let (base, hits) = rt.block_on(retry_after_server(value, false));
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
                "--yes",
                // The replay's answer is a trial key's 429, which sizes cannot change: swept only on demand.
                "--matrix-anyway",
                "--base-url",
                &base,
                "-o",
            ])
            .arg(dir.path().join("b.zip"))
            .arg(&req)
            .env("CO_API_KEY", DEMO_KEY)
            .env("COHERE_BUNDLE_CACHE_DIR", dir.path().join("cache"))
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{value}: stderr: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let m = read_member(&dir.path().join("b.zip"), "matrix.json");
        assert_eq!(m["verdict"], json!("inconclusive"), "{value}: {m}");
        let (reason, calls) = match value {
            // NaN is no duration: the default wait, then the sweep gives up after three 429s.
            "NaN" => ("rate_limited", 3),
            // Too long already on the replay: the sweep sends nothing.
            _ => ("retry_after_too_long", 0),
        };
        assert_eq!(m["inconclusive_reason"], json!(reason), "{value}");
        assert_eq!(m["calls"], json!(calls), "{value}");
        assert_eq!(hits.load(Ordering::SeqCst), 1 + calls, "{value}");
    }
}

/// Issue 14: the sweep and the measurement after it share one tokenizer cache, so a run without a cache
/// directory fetches the model's tokenizer once (before, the sweep's cache and the bundle's each fetched it).
#[tokio::test]
async fn a_sweep_and_the_measurement_fetch_the_tokenizer_once() {
    let sim = Simulator::start(SimConfig {
        fail_input_tokens_over: Some(3000),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let ro = cohere_bundle_core::pipeline::ReplayOptions::new()
        .base_url(sim.base_url())
        .api_key(SecretString::new(DEMO_KEY));
    // No cache directory: tokenizers live in memory for the run only.
    let bo = cohere_bundle_core::pipeline::BundleOptions::new().output(dir.path().join("b.zip"));
    let run = matrix::MatrixRun::new(matrix::MatrixOptions::default())
        .yes(true)
        .quiet(true);
    let o = cohere_bundle_core::pipeline::replay_with_matrix(
        long_chat(500),
        &ro,
        &bo,
        cohere_bundle_core::summary::Mode::Replay,
        Some(&run),
    )
    .await
    .expect("bundle written");
    assert_eq!(
        o.summary.seq_len.method, "tokenizer",
        "{:?}",
        o.summary.seq_len
    );
    assert!(o.summary.matrix.is_some());
    let fetched = sim.hits(&format!("/tokenizers/{MODEL}.json"));
    assert_eq!(fetched, 1, "the tokenizer was fetched {fetched} times");
}

/// `replay --matrix --yes` of the request file `req` to `base` through the binary, written to `dir/b.zip`;
/// returns its summary.json after checking the exit code.
fn replay_matrix(dir: &std::path::Path, base: &str, req: &std::path::Path) -> Value {
    let out = assert_cmd::Command::cargo_bin("cohere-bundle")
        .expect("binary")
        .args([
            "replay",
            "--endpoint",
            "v2/chat",
            "--matrix",
            "--yes",
            "--force",
        ])
        .args(["--base-url", base, "-o"])
        .arg(dir.join("b.zip"))
        .arg(req)
        .env("CO_API_KEY", DEMO_KEY)
        .env("COHERE_BUNDLE_CACHE_DIR", dir.join("cache"))
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_member(&dir.join("b.zip"), "summary.json")
}

#[test]
fn a_trial_429_a_401_and_a_404_are_not_swept_unless_asked() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (base, hits) = rt.block_on(retry_after_server("1", false));
    let dir = tempfile::tempdir().expect("tempdir");
    let req = dir.path().join("req.json");
    std::fs::write(&req, long_chat(100).body.to_string()).expect("write request");
    let s = replay_matrix(dir.path(), &base, &req);
    // The replay only: no quota spent on a sweep that cannot tell anything.
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(s["matrix"].is_null(), "{s}");
    let note = s["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["kind"] == "not_swept")
        .expect("the report says why");
    let text = note["text"].as_str().unwrap_or("");
    assert!(
        text.contains("trial key's 429") && text.contains("--matrix-anyway"),
        "{text}"
    );

    // A 404 from the simulator: the same.
    let sim = crate::util::Sim::start(SimConfig::default());
    let body =
        json!({"model": "command-xlarge-nightly", "messages": [{"role": "user", "content": "hi"}]});
    std::fs::write(&req, body.to_string()).expect("write request");
    let s = replay_matrix(dir.path(), &sim.base_url(), &req);
    let chats = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/chat")
        .count();
    assert_eq!(chats, 1, "the replay only");
    assert_eq!(s["status"], 404);
    assert!(s["notes"].to_string().contains("a 404"), "{s}");
}
