//! The recording proxy against the project's simulator: the official Python SDK driven through it as a real
//! subprocess, stream pacing measured from the simulator's own write times, and the simulator's faults.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cohere_bundle_core::gather::observe::{run_command, ObserveOptions, Proxy};
use cohere_bundle_core::FailureClass;
use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY};
use futures_util::StreamExt;
use serde_json::{json, Value};

const MODEL: &str = "command-a-03-2025";

async fn proxy_for(upstream: &str) -> Proxy {
    Proxy::start({
        let mut o = ObserveOptions::default();
        o.upstream = upstream.to_string();
        o
    })
    .await
    .expect("proxy starts")
}

fn chat(stream: bool) -> Value {
    json!({"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "hello there"}]})
}

use super::observe::{failure_class as class, records};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_through_the_proxy_against_the_simulator() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/py-sdk-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-python-sdk.sh first (it installs the Cohere Python SDK)",
        python.display()
    );
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let proxy = proxy_for(&sim.base_url()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sdk.json");
    let command: Vec<std::ffi::OsString> = vec![
        "env".into(),
        format!("CO_API_KEY={DEMO_KEY}").into(),
        format!("OBSERVE_TEST_MODEL={MODEL}").into(),
        python.into(),
        root.join("tests/py/observe_sdk.py").into(),
        out.clone().into(),
    ];
    let status = run_command(&proxy.base_url(), &command).await.unwrap();
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap_or_default())
        .unwrap_or(Value::Null);
    assert!(status.success(), "SDK script failed ({status}): {result}");
    assert_eq!(
        result["co_api_url"],
        proxy.base_url(),
        "run_command sets CO_API_URL"
    );
    assert_eq!(result["not_found"]["status"], 404);
    assert_eq!(result["rate_limited"]["status"], 429);
    assert_eq!(
        result["stream_events"].as_array().unwrap().last().unwrap(),
        "message-end"
    );

    let rec = proxy.stop().await;
    assert_eq!(
        sim.hits("/v2/chat"),
        5,
        "404 once, the stream once, 429 three times (two SDK retries)"
    );
    assert_eq!(rec.stats.requests, 5);
    assert_eq!(rec.stats.successes, 1);
    assert_eq!(
        rec.exchanges.len(),
        4,
        "failures kept in full, the clean stream counted only"
    );

    let nf = &rec.exchanges[0];
    assert_eq!(
        (nf.status(), class(nf)),
        (Some(404), Some(FailureClass::Http))
    );
    assert_eq!(nf.request.body.json().unwrap()["model"], "no-such-model");
    assert_eq!(
        nf.failure.as_ref().unwrap().message,
        result["not_found"]["body"]["message"].as_str().unwrap()
    );
    assert!(nf.request_id().is_some(), "x-debug-trace-id is recorded");
    assert_eq!(nf.retry_group, None);

    let retried = &rec.exchanges[1..];
    for e in retried {
        assert_eq!(
            (e.status(), class(e)),
            (Some(429), Some(FailureClass::Http))
        );
        assert_eq!(
            e.retry_group,
            Some(1),
            "the SDK's attempts of one call share a group"
        );
        assert_eq!(e.request.body.json().unwrap()["model"], MODEL);
    }
    let ids: std::collections::HashSet<_> = retried.iter().map(|e| e.request_id()).collect();
    assert_eq!(ids.len(), 3, "each attempt keeps its own request id");
    assert_eq!(rec.stats.retried_calls, 1);
    assert!(rec
        .stats
        .shapes
        .iter()
        .any(|s| s.shape.stream && s.successes == 1));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sse_event_reaches_the_client_before_the_simulator_writes_the_next() {
    let config = SimConfig {
        stream_event_delay: Duration::from_millis(120),
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.expect("simulator");
    let proxy = proxy_for(&sim.base_url()).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/chat", proxy.base_url()))
        .bearer_auth(DEMO_KEY)
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut received: Vec<Instant> = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        let now = Instant::now();
        let events = text.matches("\n\n").count();
        received.resize(events, now);
    }
    let written = sim.stream_event_times();
    assert!(written.len() > 3, "{} events written", written.len());
    assert_eq!(
        received.len(),
        written.len(),
        "every event reached the client"
    );
    for i in 0..written.len() - 1 {
        assert!(
            received[i] < written[i + 1],
            "event {i} reached the client {:?} after the simulator wrote event {}",
            received[i] - written[i + 1],
            i + 1
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn simulator_stream_faults_are_recorded_and_the_proxy_keeps_serving() {
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let proxy = proxy_for(&sim.base_url()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v2/chat", proxy.base_url());

    let text = client
        .post(&url)
        .bearer_auth(DEMO_KEY)
        .header("x-simulate", "stream-error")
        .json(&chat(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("ERROR"));
    let cut = client
        .post(&url)
        .bearer_auth(DEMO_KEY)
        .header("x-simulate", "stream-cut")
        .json(&chat(true))
        .send()
        .await;
    assert!(
        cut.unwrap().text().await.is_err(),
        "the client sees the cut"
    );
    let ok = client
        .post(&url)
        .bearer_auth(DEMO_KEY)
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let rec = records(&proxy, 2).await;
    assert_eq!(rec.exchanges.len(), 2);
    assert_eq!(class(&rec.exchanges[0]), Some(FailureClass::Stream));
    assert_eq!(rec.exchanges[0].status(), Some(200));
    assert_eq!(class(&rec.exchanges[1]), Some(FailureClass::Stream));
    assert!(rec.exchanges[1]
        .failure
        .as_ref()
        .unwrap()
        .message
        .contains("upstream connection broke"));
    sim.shutdown().await;
}

/// An observed run becomes a bundle whose section 5 answers "do other shapes fail too?" from the successes the
/// proxy counted, and whose key kind comes from those successes (they are counted, not kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observed_successes_give_the_shape_table_and_the_key_kind() {
    use cohere_bundle_core::pipeline::{observed_capture, write_support_bundle, BundleOptions};
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let proxy = proxy_for(&sim.base_url()).await;
    let http = reqwest::Client::new();
    let send = |body: Value| {
        http.post(format!("{}/v2/chat", proxy.base_url()))
            .bearer_auth(DEMO_KEY)
            .json(&body)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(send(chat(false)).await.unwrap().status(), 200);
    }
    let bad =
        json!({"model": "no-such-model", "messages": [{"role": "user", "content": "hello there"}]});
    assert_eq!(send(bad).await.unwrap().status(), 404);
    let rec = proxy.stop().await;
    assert_eq!((rec.stats.successes, rec.stats.failures), (3, 1));
    assert_eq!(rec.stats.successes_with_trial_headers, 0);
    let upstream = sim.base_url();
    let capture = observed_capture(rec, &upstream).expect("a failure was recorded");
    let dir = tempfile::tempdir().unwrap();
    let bo = {
        let mut o = BundleOptions::default();
        o.output = Some(dir.path().join("observed.zip"));
        o.cache_dir = Some(dir.path().join("cache"));
        o
    };
    let out = write_support_bundle(capture, &bo).await.expect("bundle");
    sim.shutdown().await;

    let s = &out.summary;
    assert_eq!(
        s.key.kind,
        cohere_bundle_core::KeyKind::Production,
        "{:?}",
        s.key
    );
    assert!(
        s.key
            .evidence
            .as_deref()
            .unwrap_or("")
            .contains("3 successful responses"),
        "{:?}",
        s.key
    );
    let observed = s.observed.as_ref().expect("summary.observed");
    let ok = observed
        .shapes
        .iter()
        .find(|x| x.shape.model.as_deref() == Some(MODEL))
        .expect("the successful shape");
    assert_eq!((ok.successes, ok.failures), (3, 0));

    let f = std::fs::File::open(&out.path).unwrap();
    let mut zip = zip::ZipArchive::new(f).unwrap();
    let mut read = |name: &str| {
        let mut s = String::new();
        std::io::Read::read_to_string(
            &mut zip
                .by_name(name)
                .unwrap_or_else(|_| panic!("{name} in the zip")),
            &mut s,
        )
        .unwrap();
        s
    };
    let stats: Value = serde_json::from_str(&read("observe.json")).unwrap();
    assert_eq!(stats["successes"], 3);
    let report = read("report.md");
    let section5 = report
        .split("### 5.")
        .nth(1)
        .unwrap()
        .split("### 6.")
        .next()
        .unwrap();
    assert!(
        section5.contains("4 requests went through the proxy: 3 succeeded and 1 failed"),
        "{section5}"
    );
    assert!(
        section5.contains(&format!("| v2/chat | {MODEL} | no |")),
        "{section5}"
    );
    assert!(section5.contains("| no-such-model |"), "{section5}");
}
