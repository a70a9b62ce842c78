//! Cost of `Recorder::capture` on the calling task (target ≤ 50 µs), during a storm of two signatures; and,
//! in a storm of three kinds over 10,000 failures, how long after its first failure each kind's first
//! bundle is written (issue 22: within 1 s; no tick or flush is waited for).
//! Run: `cargo bench --bench recorder`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cohere_bundle_core::library::FailureReport;
use cohere_bundle_core::pipeline::BundleOptions;
use cohere_bundle_core::recorder::{EnvSecrets, OnWritten, Recorder, RecorderConfig};
use cohere_bundle_core::Endpoint;
use serde_json::json;

fn report(status: u16, body: &serde_json::Value) -> FailureReport {
    let resp = match status {
        429 => {
            r#"{"message":"You are using a Trial key, which is limited to 20 API calls / minute."}"#
        }
        _ => r#"{"message":"internal server error"}"#,
    };
    FailureReport::new(Endpoint::ChatV2, body.clone())
        .status(status)
        .response_headers([
            ("x-trial-endpoint-call-limit", "20"),
            ("x-debug-trace-id", "7a8a9c18c8844ed1aaebabd506c994fd"),
        ])
        .response_body(resp)
}

fn config(dir: &std::path::Path) -> RecorderConfig {
    let mut o = RecorderConfig::default();
    o.dir = dir.join("spool");
    o.interval = Duration::from_secs(3600);
    o.bundle = {
        let mut o = BundleOptions::default();
        o.cache_dir = Some(dir.join("cache"));
        o
    };
    o
}

const N: usize = 100_000;

fn capture_cost(body: &serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::new(config(dir.path()), EnvSecrets::none()).expect("recorder");
    // Building the report is the caller's work; measured apart.
    let t = Instant::now();
    let reports: Vec<FailureReport> = (0..N)
        .map(|i| report(if i % 2 == 0 { 429 } else { 500 }, body))
        .collect();
    let build = t.elapsed();
    let mut each: Vec<Duration> = Vec::with_capacity(N);
    let t = Instant::now();
    for r in reports {
        let t1 = Instant::now();
        rec.capture(r);
        each.push(t1.elapsed());
    }
    let capture = t.elapsed();
    let stats = rec.stats();
    drop(rec);
    let us = |d: Duration| d.as_secs_f64() * 1e6 / N as f64;
    println!(
        "recorder: {N} failures of 2 signatures ({} bytes of request JSON each)",
        body.to_string().len()
    );
    each.sort();
    let pct = |q: f64| each[((N as f64 * q) as usize).min(N - 1)].as_secs_f64() * 1e6;
    println!(
        "  capture():            mean {:.3} µs, p50 {:.3} µs, p99 {:.3} µs, max {:.1} µs (target: mean ≤ 50 µs)",
        us(capture),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "  building the report:  mean {:.3} µs (caller side, for reference)",
        us(build)
    );
    println!("  captured: {}, dropped: {}", stats.captured, stats.dropped);
}

/// Three kinds, 10,000 failures as fast as they come: when is each kind's first bundle written?
fn first_bundle_latency(body: &serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen: Arc<Mutex<Vec<(u16, Instant)>>> = Arc::default();
    let mut o = config(dir.path());
    o.on_written = Some(OnWritten::new({
        let seen = seen.clone();
        move |b| {
            seen.lock()
                .unwrap()
                .push((b.summary.status.unwrap_or(0), Instant::now()))
        }
    }));
    let rec = Recorder::new(o, EnvSecrets::none()).expect("recorder");
    let kinds = [429u16, 500, 503];
    let t0 = Instant::now();
    for i in 0..10_000 {
        rec.capture(report(kinds[i % 3], body));
    }
    let storm = t0.elapsed();
    while seen.lock().unwrap().len() < 3 && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let seen = seen.lock().unwrap().clone();
    println!("storm: 10,000 failures of 3 kinds captured in {storm:.2?}; first bundle of each kind written after:");
    for (status, at) in &seen {
        println!(
            "  {status}: {:.0?} after the storm began (target: within 1 s)",
            at.duration_since(t0)
        );
    }
    drop(rec);
}

fn main() {
    let body = json!({"model": "command-a-03-2025", "max_tokens": 512, "messages": [{"role": "user", "content": "Summarise this document. ".repeat(40)}]});
    capture_cost(&body);
    first_bundle_latency(&body);
}
