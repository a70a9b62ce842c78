//! The library API against the project's simulator: an error handler that holds a `reqwest::Response` turns
//! the failure into a verified bundle.

use std::io::Read;

use cohere_bundle_core::library::FailureReport;
use cohere_bundle_core::pipeline::{BundleOptions, ReplayOptions};
use cohere_bundle_core::{Endpoint, FailureClass, SecretString};
use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY};
use serde_json::json;

fn member(zip: &std::path::Path, name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut s = String::new();
    z.by_name(name).unwrap().read_to_string(&mut s).unwrap();
    s
}

fn all_members(zip: &std::path::Path) -> String {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut all = String::new();
    for i in 0..z.len() {
        z.by_index(i).unwrap().read_to_string(&mut all).unwrap();
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_failure_becomes_a_bundle() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let body =
        json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hello"}]});
    let internal = "internal-token-6d1f0c2b9a";
    // The application's own call, failing with a 429 on a trial key.
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/chat", sim.base_url()))
        .bearer_auth(DEMO_KEY)
        .header("x-simulate", "trial-rate-limit")
        .header("x-internal", internal)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    // Its error handler.
    let bo = {
        let mut o = BundleOptions::default();
        o.output = Some(dir.path().join("b.zip"));
        o.cache_dir = Some(dir.path().join("cache"));
        o
    };
    let out = FailureReport::new(Endpoint::ChatV2, body.clone())
        .request_headers([
            ("Authorization", format!("Bearer {DEMO_KEY}")),
            ("x-internal", internal.to_string()),
        ])
        .api_key(SecretString::new(DEMO_KEY))
        .secret(SecretString::new(internal))
        .response(resp)
        .await
        .write(&bo)
        .await
        .expect("bundle written");
    sim.shutdown().await;
    assert_eq!(out.summary.status, Some(429));
    assert_eq!(out.summary.mode, "library");
    assert_eq!(out.summary.model.as_deref(), Some("command-a-03-2025"));
    let err = out.summary.error.as_ref().expect("error recorded");
    assert!(
        err.message.to_lowercase().contains("trial"),
        "{}",
        err.message
    );
    let all = all_members(&out.path);
    assert!(!all.contains(DEMO_KEY), "key leaked");
    assert!(!all.contains(internal), "secret leaked");
    let ex: serde_json::Value =
        serde_json::from_str(&member(&out.path, "exchanges/001.json")).unwrap();
    assert_eq!(ex["response"]["status"], 429);
    assert!(ex["request"]["url"].as_str().unwrap().ends_with("/v2/chat"));
    assert!(!out.summary.causes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_recorded_beside_the_original() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let body =
        json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hello"}]});
    let bo = {
        let mut o = BundleOptions::default();
        o.output = Some(dir.path().join("r.zip"));
        o.cache_dir = Some(dir.path().join("cache"));
        o.eml = true;
        o
    };
    let ro = {
        let mut o = ReplayOptions::default();
        o.base_url = Some(sim.base_url());
        o.api_key = Some(SecretString::new(DEMO_KEY));
        o
    };
    let out = FailureReport::new(Endpoint::ChatV2, body)
        .status(503)
        .response_body(r#"{"message": "service unavailable"}"#)
        .replay(ro)
        .write(&bo)
        .await
        .unwrap();
    assert_eq!(sim.hits("/v2/chat"), 1, "replayed once");
    sim.shutdown().await;
    assert_eq!(out.summary.exchanges, 2);
    let replay: serde_json::Value =
        serde_json::from_str(&member(&out.path, "exchanges/002.json")).unwrap();
    assert_eq!(replay["purpose"], "replay");
    assert_eq!(replay["response"]["status"], 200);
    assert!(out.eml.as_ref().is_some_and(|e| e.is_file()));
    assert!(!all_members(&out.path).contains(DEMO_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_errors_are_bundled_with_their_class() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v2/chat");
    let body = json!({"model": "command-r-08-2024", "messages": []});
    let err = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap_err();
    let bo = {
        let mut o = BundleOptions::default();
        o.output = Some(dir.path().join("n.zip"));
        o.cache_dir = Some(dir.path().join("c"));
        o
    };
    let out = FailureReport::new(Endpoint::ChatV2, body)
        .url(&url)
        .reqwest_error(&err)
        .write(&bo)
        .await
        .unwrap();
    let e = out.summary.error.expect("error");
    assert_eq!(e.class, FailureClass::Network.as_str());
    assert_eq!(out.summary.status, None);
}

/// Issue 21: an error handler that has only the response (no hooks saw the request) says so in the report and
/// claims nothing about the request: no model, no "no key was sent".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_without_its_request_says_what_it_cannot_tell() {
    let dir = tempfile::tempdir().unwrap();
    let bo = BundleOptions::new()
        .output(dir.path().join("b.zip"))
        .cache_dir(dir.path().join("cache"));
    let out = FailureReport::new(Endpoint::ChatV2, serde_json::Value::Null)
        .status(404)
        .response_headers([("x-debug-trace-id", "5b9c1e0a6d7f4a1e9a550f3b2c8d4e61")])
        .response_body(br#"{"id":"x","message":"model 'command-xlarge-nightly' not found"}"#)
        .request_not_captured("install the hooks before creating the client")
        .write(&bo)
        .await
        .unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&member(&out.path, "summary.json")).unwrap();
    assert_eq!(summary["status"], 404);
    assert_eq!(summary["request_id"], "5b9c1e0a6d7f4a1e9a550f3b2c8d4e61");
    let notes: Vec<&serde_json::Value> = summary["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "request_missing")
        .collect();
    assert_eq!(notes.len(), 1, "{}", summary["notes"]);
    let text = notes[0]["text"].as_str().unwrap();
    assert!(text.contains("the request was not captured") && text.contains("install the hooks"));
    let report = member(&out.path, "report.md");
    assert!(
        report.contains("whether a key was sent is not known"),
        "{report}"
    );
    assert!(!report.contains("no key was sent"), "{report}");
    // A report with its request makes no such note.
    let other = FailureReport::new(
        Endpoint::ChatV2,
        json!({"model": "command-a-03-2025", "messages": []}),
    )
    .status(404)
    .write(
        &BundleOptions::new()
            .output(dir.path().join("c.zip"))
            .cache_dir(dir.path().join("cache")),
    )
    .await
    .unwrap();
    assert!(!member(&other.path, "summary.json").contains("request_missing"));
}
