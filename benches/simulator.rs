//! Figures for the simulated Cohere API: token-count speed, request latency and stream pacing.
//! Run: `cargo bench --bench simulator` (add `--profile dev` to see what the debug-built tests experience).

use std::time::{Duration, Instant};

use cohere_bundle_core::Endpoint;
use cohere_bundle_simulator::{count_input_tokens, SimConfig, Simulator, DEMO_KEY};
use serde_json::json;

fn text(chars: usize) -> String {
    let words = [
        "the",
        "model",
        "request",
        "token",
        "error",
        "Überraschung",
        "message",
        "42",
        "context,",
        "window.",
    ];
    let mut s = String::with_capacity(chars + 16);
    let mut i = 0;
    while s.len() < chars {
        s.push_str(words[i % words.len()]);
        s.push(' ');
        i += 7;
    }
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let start = Instant::now();
    cohere_bundle_simulator::tokenizer();
    println!(
        "tokenizer load (embedded JSON, once): {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    for chars in [1_000usize, 100_000, 1_000_000] {
        let body =
            json!({"model": "command-r", "messages": [{"role": "user", "content": text(chars)}]});
        let start = Instant::now();
        let n = count_input_tokens(Endpoint::ChatV2, &body);
        let el = start.elapsed();
        println!(
            "count_input_tokens: {chars:>9} chars -> {n:>7} tokens in {:>8.2} ms ({:.1} MB/s)",
            el.as_secs_f64() * 1e3,
            chars as f64 / el.as_secs_f64() / 1e6
        );
    }

    let sim = Simulator::start(SimConfig::default()).await.expect("start");
    let client = reqwest::Client::new();
    let url = format!("{}/v2/chat", sim.base_url());
    let body =
        json!({"model": "command-r", "messages": [{"role": "user", "content": text(2_000)}]});
    let n = 500;
    let mut lat = Vec::with_capacity(n);
    let all = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let r = client
            .post(&url)
            .bearer_auth(DEMO_KEY)
            .json(&body)
            .send()
            .await
            .expect("send");
        r.bytes().await.expect("body");
        lat.push(t.elapsed());
    }
    let total = all.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3;
    println!(
        "v2 chat JSON, 2k-char prompt, {n} sequential requests: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        n as f64 / total.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    drop(sim);

    let delay = Duration::from_millis(20);
    let sim = Simulator::start(SimConfig {
        stream_event_delay: delay,
        ..SimConfig::default()
    })
    .await
    .expect("start");
    let url = format!("{}/v2/chat", sim.base_url());
    let body = json!({"model": "command-r", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let mut r = client
        .post(&url)
        .bearer_auth(DEMO_KEY)
        .json(&body)
        .send()
        .await
        .expect("send");
    while r.chunk().await.expect("chunk").is_some() {}
    let times = sim.stream_event_times();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    let max_over = gaps
        .iter()
        .map(|g| g - delay.as_secs_f64() * 1e3)
        .fold(0.0f64, f64::max);
    println!(
        "stream pacing: {} frames, configured gap {} ms, measured gaps {:.2}..{:.2} ms (max overshoot {:.2} ms)",
        times.len(),
        delay.as_millis(),
        gaps.iter().cloned().fold(f64::INFINITY, f64::min),
        gaps.iter().cloned().fold(0.0, f64::max),
        max_over
    );
}
