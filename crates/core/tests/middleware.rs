//! The reqwest-middleware adapter (issue 14): a reqwest client records its failing Cohere calls in one line,
//! and the caller gets the same response.

use cohere_bundle_core::middleware::RecordFailures;
use cohere_bundle_core::pipeline::BundleOptions;
use cohere_bundle_core::recorder::{index, spool, EnvSecrets, Recorder, RecorderConfig};
use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_call_through_the_middleware_becomes_one_bundle() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(
        {
            let mut o = RecorderConfig::default();
            o.dir = dir.path().join("spool");
            o.bundle = {
                let mut o = BundleOptions::default();
                o.cache_dir = Some(dir.path().join("cache"));
                o
            };
            o
        },
        EnvSecrets::none(),
    )
    .unwrap();
    let host = url::Url::parse(&sim.base_url()).unwrap();
    let mw = RecordFailures::new(recorder).host(format!(
        "{}:{}",
        host.host_str().unwrap(),
        host.port().unwrap()
    ));
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(mw.clone())
        .build();
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    // A success passes untouched and records nothing.
    let ok = client
        .post(format!("{}/v2/chat", sim.base_url()))
        .bearer_auth(DEMO_KEY)
        .header("content-type", "application/json")
        .body(chat("command-r-08-2024").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // A 404: the caller gets the API's status and body as they were.
    let resp = client
        .post(format!("{}/v2/chat", sim.base_url()))
        .bearer_auth(DEMO_KEY)
        .header("content-type", "application/json")
        .body(chat("no-such-model").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.headers().contains_key("x-debug-trace-id"));
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("no-such-model"),
        "{body}"
    );

    mw.recorder().flush().await;
    let bundles = spool(&dir.path().join("spool"));
    assert_eq!(bundles.len(), 1, "{bundles:?}");
    let zip = &bundles[0].0;
    let f = std::fs::File::open(zip).unwrap();
    let mut a = zip::ZipArchive::new(f).unwrap();
    let mut text = String::new();
    for i in 0..a.len() {
        let mut m = a.by_index(i).unwrap();
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut m, &mut s).unwrap();
        assert!(
            !String::from_utf8_lossy(&s).contains(DEMO_KEY),
            "{} holds the key",
            m.name()
        );
        if m.name() == "summary.json" {
            text = String::from_utf8(s).unwrap();
        }
    }
    let s: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(s["status"], 404);
    assert_eq!(s["causes"][0]["code"], "model_not_found");
    assert_eq!(s["model"], "no-such-model");
    sim.shutdown().await;
}

/// Issue 22: a stream that ends before its terminal event is recorded (the caller still gets it as it came);
/// a complete stream is not. The service keeps a handle while the recorder goes into the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_before_its_terminal_event_is_recorded() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(
        {
            let mut o = RecorderConfig::default();
            o.dir = dir.path().join("spool");
            o.interval = std::time::Duration::from_secs(3600);
            o.bundle = {
                let mut o = BundleOptions::default();
                o.cache_dir = Some(dir.path().join("cache"));
                o
            };
            o
        },
        EnvSecrets::none(),
    )
    .unwrap();
    let handle = recorder.handle();
    let host = url::Url::parse(&sim.base_url()).unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RecordFailures::new(recorder).host(format!(
            "{}:{}",
            host.host_str().unwrap(),
            host.port().unwrap()
        )))
        .build();
    let body = json!({"model": "command-a-03-2025", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let send = |cut: bool| {
        let mut r = client
            .post(format!("{}/v2/chat", sim.base_url()))
            .bearer_auth(DEMO_KEY)
            .header("content-type", "application/json")
            .body(body.to_string());
        if cut {
            r = r.header("x-simulate", "stream-cut");
        }
        r.send()
    };
    // A complete stream: passed on whole, nothing recorded.
    let ok = send(false).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.url().as_str().starts_with(&sim.base_url()));
    let text = ok.text().await.unwrap();
    assert!(text.contains("message-end"), "{text}");
    // A cut one: the caller reads what came (and the break), the recorder gets it.
    let cut = send(true).await.unwrap();
    assert_eq!(cut.status(), 200);
    let read = cut.bytes().await;
    handle.flush().await;
    let bundles = spool(&dir.path().join("spool"));
    assert_eq!(
        bundles.len(),
        1,
        "{bundles:?} (read: {:?})",
        read.map(|b| b.len())
    );
    let lines = index(&dir.path().join("spool"));
    assert_eq!(lines[0]["signature"]["class"], "stream", "{lines:?}");
    assert_eq!(lines[0]["status"], 200);
    let stats = handle.stats();
    assert_eq!((stats.captured, stats.write_errors), (1, 0), "{stats:?}");
    sim.shutdown().await;
}
