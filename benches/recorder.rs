//! Cost of `Recorder::capture` on the calling task (target ≤ 50 µs), during a storm of two signatures.
//! Run: `cargo bench --bench recorder`.

use std::time::{Duration, Instant};

use cohere_bundle::library::FailureReport;
use cohere_bundle::pipeline::BundleOptions;
use cohere_bundle::recorder::{Recorder, RecorderConfig};
use cohere_bundle::Endpoint;
use serde_json::json;

fn report(i: usize, body: &serde_json::Value) -> FailureReport {
    let (model_status, resp) = if i.is_multiple_of(2) {
        (
            429,
            r#"{"message":"You are using a Trial key, which is limited to 20 API calls / minute."}"#,
        )
    } else {
        (500, r#"{"message":"internal server error"}"#)
    };
    FailureReport::new(Endpoint::ChatV2, body.clone())
        .status(model_status)
        .response_headers([
            ("x-trial-endpoint-call-limit", "20"),
            ("x-debug-trace-id", "7a8a9c18c8844ed1aaebabd506c994fd"),
        ])
        .response_body(resp)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let body = json!({"model": "command-a-03-2025", "max_tokens": 512, "messages": [{"role": "user", "content": "Summarise this document. ".repeat(40)}]});
    const N: usize = 100_000;
    rt.block_on(async {
        let rec = Recorder::new({
            let mut o = RecorderConfig::default();
            o.dir = dir.path().join("spool");
            o.interval = Duration::from_secs(3600);
            o.bundle = {
                    let mut o = BundleOptions::default();
                    o.cache_dir = Some(dir.path().join("cache"));
                    o
                };
            o
        })
        .expect("recorder");
        // Building the report is the caller's work; measured apart.
        let t = Instant::now();
        let reports: Vec<FailureReport> = (0..N).map(|i| report(i, &body)).collect();
        let build = t.elapsed();
        let mut each: Vec<Duration> = Vec::with_capacity(N);
        let t = Instant::now();
        for r in reports {
            let t1 = Instant::now();
            rec.capture(r);
            each.push(t1.elapsed());
        }
        let capture = t.elapsed();
        let stats = rec.shutdown().await;
        let us = |d: Duration| d.as_secs_f64() * 1e6 / N as f64;
        println!("recorder: {N} failures of 2 signatures ({} bytes of request JSON each)", body.to_string().len());
        each.sort();
        let pct = |q: f64| each[((N as f64 * q) as usize).min(N - 1)].as_secs_f64() * 1e6;
        println!(
            "  capture():            mean {:.3} µs, p50 {:.3} µs, p99 {:.3} µs, max {:.1} µs (target: mean ≤ 50 µs)",
            us(capture),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
        println!("  building the report:  mean {:.3} µs (caller side, for reference)", us(build));
        println!("  bundles written: {}, dropped: {}", stats.bundles_written, stats.dropped);
    });
}
