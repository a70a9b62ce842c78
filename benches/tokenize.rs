//! Tokenizing a 128k-token prompt with the model's tokenizer (target: under 200 ms).
//!
//! `cargo bench --bench tokenize`. Uses the simulator's `crates/simulator/assets/sim-tokenizer.json`; set `COHERE_BUNDLE_BENCH_TOKENIZER`
//! to the path of another HuggingFace tokenizer JSON (e.g. a real Cohere one) to measure that instead.

use std::time::{Duration, Instant};

use cohere_bundle_core::gather::tokenizer::{
    count, count_text, grow_to_tokens, truncate_to_tokens,
};
use cohere_bundle_core::Endpoint;
use tokenizers::Tokenizer;

const TARGET_TOKENS: u64 = 128_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(std::hint::black_box(f()));
        times.push(t.elapsed());
    }
    (median(times), last.expect("at least one run"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let (label, bytes) = match std::env::var_os("COHERE_BUNDLE_BENCH_TOKENIZER") {
        Some(p) => {
            let b = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.to_string_lossy()));
            (p.to_string_lossy().into_owned(), b)
        }
        None => (
            "crates/simulator/assets/sim-tokenizer.json".to_string(),
            cohere_bundle_simulator::TOKENIZER_JSON.as_bytes().to_vec(),
        ),
    };
    let (load, tok) = time(5, || {
        Tokenizer::from_bytes(&bytes).expect("tokenizer loads")
    });

    // Mixed prose, code, numbers and non-ASCII text, so the BPE cache does not make it trivial.
    let seed = "Support request 4711: the model returned HTTP 400 \"too many tokens\" after 37.5 s. \
                fn main() { println!(\"{}\", x + 1); } // Grüße aus Zürich, 東京の天気は晴れ, naïve café. \
                Trace id 9f8e7d6c-5b4a-3210-fedc-ba9876543210; retry-after: 12; billed 128,000 units.\n";
    let mut base = String::new();
    for i in 0..400 {
        base.push_str(&format!("Paragraph {i} of {}: ", i * 7919 % 10007));
        base.push_str(seed);
    }
    let (build, prompt) = time(1, || grow_to_tokens(&tok, &base, TARGET_TOKENS));
    let n = count_text(&tok, &prompt);
    assert_eq!(n, TARGET_TOKENS, "grow_to_tokens is exact");
    let body = serde_json::json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": prompt}]});

    let runs = 7;
    let (count_t, c) = time(runs, || count(&tok, Endpoint::ChatV2, &body));
    assert_eq!(c, TARGET_TOKENS);
    let (encode_t, _) = time(runs, || {
        tok.encode(prompt.as_str(), false).expect("encodes").len()
    });
    let (trunc_t, _) = time(3, || truncate_to_tokens(&tok, &prompt, TARGET_TOKENS / 2));
    // A real Cohere tokenizer averages about 4 characters a token, so its 128k-token prompt is about
    // 3.5 times longer than the simulated tokenizer's: time the count of a text that long too.
    let mut long = String::new();
    while long.len() < 4 * TARGET_TOKENS as usize + 40_000 {
        long.push_str(&base);
    }
    let (long_t, long_n) = time(runs, || count_text(&tok, &long));

    println!(
        "tokenizer: {label} ({} bytes, load {:.1} ms)",
        bytes.len(),
        ms(load)
    );
    println!(
        "prompt: {n} tokens, {} chars, {} bytes (built in {:.0} ms)",
        prompt.chars().count(),
        prompt.len(),
        ms(build)
    );
    println!(
        "count 128k-token prompt (tokenizer::count, v2 chat body): {:.1} ms median of {runs} (target < 200 ms: {})",
        ms(count_t),
        if count_t < Duration::from_millis(200) { "met" } else { "MISSED" }
    );
    println!(
        "full encode with offsets: {:.1} ms median of {runs}",
        ms(encode_t)
    );
    println!(
        "count a {} kB text (the size of a real tokenizer's 128k-token prompt; {long_n} sim tokens): {:.1} ms median of {runs}",
        long.len() / 1000,
        ms(long_t)
    );
    println!(
        "truncate_to_tokens to 64k: {:.1} ms median of 3",
        ms(trunc_t)
    );
}
