//! Sequence length by the model's tokenizer, its disk cache and the fallback chain, against the
//! project's simulated Cohere API on 127.0.0.1.

use std::sync::Arc;

use cohere_bundle_core::gather::tokenizer::{
    measure_seq_len, measure_seq_len_with_notes, SeqLenContext, TokenizerCache,
};
use cohere_bundle_core::{Endpoint, SecretString};
use cohere_bundle_simulator::{Scenario, SimConfig, Simulator, TokenizerMode};
use serde_json::{json, Value};

const MODEL: &str = "command-a-03-2025";
const TOKENIZER_PATH: &str = "/tokenizers/command-a-03-2025.json";

async fn sim(mode: TokenizerMode) -> Simulator {
    Simulator::start(SimConfig {
        tokenizer: mode,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

fn key() -> SecretString {
    SecretString::new("test-key-0123456789")
}

fn chat_body() -> Value {
    json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a support assistant. Answer in English."},
            {"role": "user", "content": [{"type": "text", "text": "Why does my request fail with a 400? Ünïcödé ✓ 12345"}]}
        ],
        "documents": [{"data": {"title": "FAQ", "snippet": "Include the model, the request id and the sequence length."}}],
        "max_tokens": 100
    })
}

fn ctx<'a>(
    base: &'a str,
    http: &'a reqwest::Client,
    key: &'a SecretString,
    cache: &'a TokenizerCache,
) -> SeqLenContext<'a> {
    SeqLenContext {
        http,
        base_url: Some(base),
        key: Some(key),
        cache,
        offline: false,
    }
}

fn tokenizer_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("model-"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn tokenizer_count_equals_simulator_count() {
    let s = sim(TokenizerMode::Served).await;
    let base = s.base_url();
    let tmp = tempfile::tempdir().unwrap();
    let cache = TokenizerCache::new(tmp.path());
    let (http, key) = (client(), key());
    let body = chat_body();
    // A real response from the simulator, with its usage block.
    let response: Value = http
        .post(format!("{base}/v2/chat"))
        .bearer_auth(key.expose())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let billed = response
        .pointer("/usage/billed_units/input_tokens")
        .and_then(Value::as_u64)
        .expect("billed");
    let prompt = response
        .pointer("/usage/tokens/input_tokens")
        .and_then(Value::as_u64)
        .expect("prompt");

    let (seq, meta) = measure_seq_len(
        &ctx(&base, &http, &key, &cache),
        Endpoint::ChatV2,
        &body,
        Some(&response),
    )
    .await;
    assert_eq!(seq.method, "tokenizer");
    assert_eq!(
        seq.tokens,
        Some(s.count_input_tokens(Endpoint::ChatV2, &body))
    );
    assert_eq!(
        seq.tokens,
        Some(billed),
        "agrees with the response's own count of the input text"
    );
    assert!(seq.tokens.unwrap() > 10);
    assert_eq!(
        seq.prompt_tokens,
        Some(prompt),
        "the prompt count is kept next to the text count"
    );
    assert!(prompt > billed);
    assert_eq!(
        seq.chars,
        cohere_bundle_core::tokens::input_chars(Endpoint::ChatV2, &body)
    );
    let meta = meta.expect("models API answered");
    assert_eq!(
        meta.context_length,
        Some(s.config().model(MODEL).unwrap().context_length)
    );
    assert_eq!(meta.limits().source, "models_api");
    assert_eq!(s.hits(&format!("/v1/models/{MODEL}")), 1);
    assert_eq!(s.hits(TOKENIZER_PATH), 1);
    assert_eq!(s.hits("/v1/tokenize"), 0);
    assert!(
        s.requests().iter().any(|r| r.path == TOKENIZER_PATH),
        "the download is recorded"
    );
    for r in s.requests().iter().filter(|r| r.path == TOKENIZER_PATH) {
        assert_eq!(
            r.header("authorization"),
            None,
            "the API key is never sent to the tokenizer URL"
        );
    }
    assert!(s
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/v1/models/") && r.header("authorization").is_some()));

    // Same process, other endpoints: the tokenizer is reused from memory.
    for (ep, b) in [
        (
            Endpoint::EmbedV2,
            json!({"model": MODEL, "texts": ["one text", "and another, longer text"]}),
        ),
        (
            Endpoint::RerankV2,
            json!({"model": MODEL, "query": "q?", "documents": ["a b c", "d e f"]}),
        ),
        (
            Endpoint::ChatV1,
            json!({"model": MODEL, "preamble": "p", "message": "hello there"}),
        ),
    ] {
        let (seq, _) = measure_seq_len(&ctx(&base, &http, &key, &cache), ep, &b, None).await;
        assert_eq!(
            (seq.method.as_str(), seq.tokens),
            ("tokenizer", Some(s.count_input_tokens(ep, &b))),
            "{ep:?}"
        );
    }
    assert_eq!(s.hits(TOKENIZER_PATH), 1);
    assert_eq!(cache.downloads(), 1);
}

#[tokio::test]
async fn tokenizer_unreachable_falls_back_to_tokenize_api_then_estimate() {
    let s = sim(TokenizerMode::NotFound).await;
    let base = s.base_url();
    let tmp = tempfile::tempdir().unwrap();
    let cache = TokenizerCache::new(tmp.path());
    let (http, key) = (client(), key());
    // One text over the 65,536-character limit of /v1/tokenize, so it is split into two calls.
    let long = "Sequence length matters. ".repeat(3_000);
    let body = json!({"model": MODEL, "message": long, "preamble": "Be brief."});

    let o = measure_seq_len_with_notes(
        &ctx(&base, &http, &key, &cache),
        Endpoint::ChatV1,
        &body,
        None,
    )
    .await;
    assert_eq!(o.seq_len.method, "api", "notes: {:?}", o.notes);
    assert_eq!(
        o.seq_len.tokens,
        Some(s.count_input_tokens(Endpoint::ChatV1, &body))
    );
    assert_eq!(s.hits(TOKENIZER_PATH), 1);
    assert_eq!(
        s.hits("/v1/tokenize"),
        3,
        "preamble + the long message in two pieces"
    );
    assert!(
        o.notes
            .iter()
            .any(|n| n.contains(TOKENIZER_PATH) && n.contains("404")),
        "notes: {:?}",
        o.notes
    );
    assert!(
        tokenizer_files(tmp.path()).is_empty(),
        "nothing cached from a failed download"
    );

    // Now the API fails everything, /v1/tokenize included.
    s.set_scenario(Some(Scenario::ServerError));
    let o = measure_seq_len_with_notes(
        &ctx(&base, &http, &key, &cache),
        Endpoint::ChatV1,
        &body,
        None,
    )
    .await;
    assert_eq!(o.seq_len.method, "estimate");
    let chars = cohere_bundle_core::tokens::input_chars(Endpoint::ChatV1, &body);
    assert_eq!(
        o.seq_len.tokens,
        Some(cohere_bundle_core::tokens::estimate_tokens(chars))
    );
    assert!(
        o.notes
            .iter()
            .any(|n| n.contains("tokenize API") && n.contains("500")),
        "notes: {:?}",
        o.notes
    );
    assert_eq!(s.hits("/v1/tokenize"), 4);

    // With a response that reports usage, its input count is used before the tokenize API.
    let response =
        json!({"meta": {"billed_units": {"input_tokens": 12}, "tokens": {"input_tokens": 80}}});
    let (seq, _) = measure_seq_len(
        &ctx(&base, &http, &key, &cache),
        Endpoint::ChatV1,
        &body,
        Some(&response),
    )
    .await;
    assert_eq!(
        (seq.method.as_str(), seq.tokens, seq.prompt_tokens),
        ("usage", Some(12), Some(80))
    );
    assert_eq!(s.hits("/v1/tokenize"), 4);
}

#[tokio::test]
async fn no_tokenizer_url_falls_back_to_tokenize_api() {
    let s = sim(TokenizerMode::Absent).await;
    let base = s.base_url();
    let tmp = tempfile::tempdir().unwrap();
    let cache = TokenizerCache::new(tmp.path());
    let (http, key) = (client(), key());
    let body = chat_body();
    let o = measure_seq_len_with_notes(
        &ctx(&base, &http, &key, &cache),
        Endpoint::ChatV2,
        &body,
        None,
    )
    .await;
    assert_eq!(
        (o.seq_len.method.as_str(), o.seq_len.tokens),
        ("api", Some(s.count_input_tokens(Endpoint::ChatV2, &body)))
    );
    assert!(
        o.notes.iter().any(|n| n.contains("no tokenizer_url")),
        "notes: {:?}",
        o.notes
    );
    assert_eq!(o.meta.and_then(|m| m.tokenizer_url), None);
}

#[tokio::test]
async fn unreachable_api_and_offline_give_estimate_without_network() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = TokenizerCache::new(tmp.path());
    let http = client();
    let body = chat_body();
    // A port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let c = SeqLenContext {
        http: &http,
        base_url: Some(&dead),
        key: None,
        cache: &cache,
        offline: false,
    };
    let o = measure_seq_len_with_notes(&c, Endpoint::ChatV2, &body, None).await;
    assert_eq!(o.seq_len.method, "estimate");
    assert!(o.meta.is_none());
    assert!(
        o.notes
            .iter()
            .any(|n| n.starts_with("models API: cannot reach")),
        "notes: {:?}",
        o.notes
    );

    let c = SeqLenContext {
        http: &http,
        base_url: None,
        key: None,
        cache: &cache,
        offline: true,
    };
    let o = measure_seq_len_with_notes(&c, Endpoint::ChatV2, &body, None).await;
    assert_eq!(o.seq_len.method, "estimate");
    assert!(
        o.notes.iter().any(|n| n.contains("offline")),
        "notes: {:?}",
        o.notes
    );
}

#[tokio::test]
async fn second_run_uses_disk_cache_and_offline_finds_it() {
    let s = sim(TokenizerMode::Served).await;
    let base = s.base_url();
    let tmp = tempfile::tempdir().unwrap();
    let (http, key) = (client(), key());
    let body = chat_body();
    let want = s.count_input_tokens(Endpoint::ChatV2, &body);

    let first = TokenizerCache::new(tmp.path());
    let (seq, _) = measure_seq_len(
        &ctx(&base, &http, &key, &first),
        Endpoint::ChatV2,
        &body,
        None,
    )
    .await;
    assert_eq!((seq.method.as_str(), seq.tokens), ("tokenizer", Some(want)));
    assert_eq!(s.hits(TOKENIZER_PATH), 1);
    assert_eq!(tokenizer_files(tmp.path()).len(), 1);

    // A new cache object on the same folder stands for a second run of the tool.
    let second = TokenizerCache::new(tmp.path());
    let (seq, _) = measure_seq_len(
        &ctx(&base, &http, &key, &second),
        Endpoint::ChatV2,
        &body,
        None,
    )
    .await;
    assert_eq!((seq.method.as_str(), seq.tokens), ("tokenizer", Some(want)));
    assert_eq!(s.hits(TOKENIZER_PATH), 1, "no second download");
    assert_eq!(second.downloads(), 0);

    // Offline, with the base URL known, the cached tokenizer is found without any request.
    let before = s.total_hits();
    let third = TokenizerCache::new(tmp.path());
    let c = SeqLenContext {
        http: &http,
        base_url: Some(&base),
        key: Some(&key),
        cache: &third,
        offline: true,
    };
    let (seq, meta) = measure_seq_len(&c, Endpoint::ChatV2, &body, None).await;
    assert_eq!((seq.method.as_str(), seq.tokens), ("tokenizer", Some(want)));
    assert!(meta.is_none());
    assert_eq!(s.total_hits(), before, "offline makes no request");
}

#[tokio::test]
async fn corrupted_cache_file_is_detected_and_downloaded_again() {
    let s = sim(TokenizerMode::Served).await;
    let base = s.base_url();
    let tmp = tempfile::tempdir().unwrap();
    let (http, key) = (client(), key());
    let body = chat_body();
    let want = s.count_input_tokens(Endpoint::ChatV2, &body);

    let first = TokenizerCache::new(tmp.path());
    measure_seq_len(
        &ctx(&base, &http, &key, &first),
        Endpoint::ChatV2,
        &body,
        None,
    )
    .await;
    let files = tokenizer_files(tmp.path());
    assert_eq!(files.len(), 1);
    let path = tmp.path().join(&files[0]);
    // Still valid JSON and a loadable tokenizer, but not the bytes that were downloaded: only the hash tells.
    let good = std::fs::read(&path).unwrap();
    let bad = String::from_utf8(good.clone()).unwrap().replacen(
        "\"padding\":null",
        "\"padding\": null",
        1,
    );
    assert_ne!(bad.as_bytes(), good.as_slice());
    std::fs::write(&path, bad).unwrap();

    let second = TokenizerCache::new(tmp.path());
    let o = measure_seq_len_with_notes(
        &ctx(&base, &http, &key, &second),
        Endpoint::ChatV2,
        &body,
        None,
    )
    .await;
    assert_eq!(
        (o.seq_len.method.as_str(), o.seq_len.tokens),
        ("tokenizer", Some(want))
    );
    assert_eq!(s.hits(TOKENIZER_PATH), 2, "downloaded again");
    assert!(
        o.notes.iter().any(|n| n.contains("corrupt")),
        "notes: {:?}",
        o.notes
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        good,
        "the good copy is back under its name"
    );

    // A truncated file is caught the same way.
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let third = TokenizerCache::new(tmp.path());
    let (seq, _) = measure_seq_len(
        &ctx(&base, &http, &key, &third),
        Endpoint::ChatV2,
        &body,
        None,
    )
    .await;
    assert_eq!((seq.method.as_str(), seq.tokens), ("tokenizer", Some(want)));
    assert_eq!(s.hits(TOKENIZER_PATH), 3);
    assert_eq!(tokenizer_files(tmp.path()), files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_downloads_into_one_folder_all_succeed() {
    let s = sim(TokenizerMode::Served).await;
    let base = s.base_url();
    let tmp = tempfile::tempdir().unwrap();
    let body = chat_body();
    let want = s.count_input_tokens(Endpoint::ChatV2, &body);

    // Eight independent caches (as eight processes would be) race on one folder.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, dir, body) = (base.clone(), tmp.path().to_path_buf(), body.clone());
        tasks.push(tokio::spawn(async move {
            let (http, key) = (client(), key());
            let cache = TokenizerCache::new(dir);
            let c = SeqLenContext {
                http: &http,
                base_url: Some(&base),
                key: Some(&key),
                cache: &cache,
                offline: false,
            };
            measure_seq_len_with_notes(&c, Endpoint::ChatV2, &body, None).await
        }));
    }
    for t in tasks {
        let o = t.await.unwrap();
        assert_eq!(
            (o.seq_len.method.as_str(), o.seq_len.tokens),
            ("tokenizer", Some(want)),
            "notes: {:?}",
            o.notes
        );
        assert!(
            o.notes.iter().all(|n| !n.contains("could not store")),
            "notes: {:?}",
            o.notes
        );
    }
    assert_eq!(
        tokenizer_files(tmp.path()).len(),
        1,
        "one file, no temporary files left: {:?}",
        tokenizer_files(tmp.path())
    );
    assert!(s.hits(TOKENIZER_PATH) >= 1);

    // One shared cache: many tasks, one download.
    let tmp2 = tempfile::tempdir().unwrap();
    let shared = Arc::new(TokenizerCache::new(tmp2.path()));
    let before = s.hits(TOKENIZER_PATH);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, cache, body) = (base.clone(), shared.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let (http, key) = (client(), key());
            let c = SeqLenContext {
                http: &http,
                base_url: Some(&base),
                key: Some(&key),
                cache: &cache,
                offline: false,
            };
            measure_seq_len(&c, Endpoint::ChatV2, &body, None).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().tokens, Some(want));
    }
    assert_eq!(s.hits(TOKENIZER_PATH) - before, 1);
    assert_eq!(shared.downloads(), 1);
}
