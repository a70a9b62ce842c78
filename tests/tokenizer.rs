//! Sequence length by the model's tokenizer, its disk cache and the fallback chain, against a local
//! stand-in for the Cohere API on 127.0.0.1.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use cohere_bundle::tokenizer::{measure_seq_len, measure_seq_len_with_notes, SeqLenContext, TokenizerCache};
use cohere_bundle::{Endpoint, SecretString};
use serde_json::{json, Value};
use tokenizers::Tokenizer;

const SIM_TOKENIZER: &[u8] = include_bytes!("../assets/sim-tokenizer.json");

/// A minimal Cohere API: the models endpoint, the tokenizer file and `/v1/tokenize`.
struct Api {
    port: u16,
    tokenizer: Tokenizer,
    hits: Mutex<HashMap<String, usize>>,
    /// The models API points at a tokenizer file that does not exist.
    tokenizer_missing: AtomicBool,
    /// `/v1/tokenize` answers 500.
    tokenize_fails: AtomicBool,
    /// Authorization headers seen on tokenizer downloads.
    tokenizer_auth_seen: AtomicBool,
}

impl Api {
    fn hit(&self, path: &str) {
        *self.hits.lock().unwrap().entry(path.to_string()).or_default() += 1;
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn total_hits(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }

    /// The server's own count: every input text encoded without special tokens.
    fn count_input_tokens(&self, endpoint: Endpoint, body: &Value) -> u64 {
        cohere_bundle::tokens::input_texts(endpoint, body)
            .iter()
            .map(|t| self.tokenizer.encode(*t, false).unwrap().len() as u64)
            .sum()
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

async fn model(State(api): State<Arc<Api>>, Path(name): Path<String>) -> Json<Value> {
    api.hit(&format!("/v1/models/{name}"));
    let file = if api.tokenizer_missing.load(Ordering::SeqCst) { "missing.json" } else { "sim.json" };
    Json(json!({
        "name": name,
        "endpoints": ["chat", "generate"],
        "finetuned": false,
        "context_length": 128000,
        "tokenizer_url": format!("{}/tokenizers/{file}", api.base()),
    }))
}

async fn tokenizer_file(State(api): State<Arc<Api>>, Path(file): Path<String>, h: HeaderMap) -> (StatusCode, Vec<u8>) {
    api.hit(&format!("/tokenizers/{file}"));
    if h.contains_key("authorization") {
        api.tokenizer_auth_seen.store(true, Ordering::SeqCst);
    }
    if file == "sim.json" {
        (StatusCode::OK, SIM_TOKENIZER.to_vec())
    } else {
        (StatusCode::NOT_FOUND, b"{\"message\":\"no such tokenizer\"}".to_vec())
    }
}

async fn tokenize(State(api): State<Arc<Api>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    api.hit("/v1/tokenize");
    if api.tokenize_fails.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"message": "internal error"})));
    }
    let text = body["text"].as_str().unwrap_or("");
    if text.is_empty() || text.chars().count() > 65_536 {
        return (StatusCode::BAD_REQUEST, Json(json!({"message": "text must be 1 to 65536 characters"})));
    }
    let enc = api.tokenizer.encode(text, false).unwrap();
    (StatusCode::OK, Json(json!({"tokens": enc.get_ids(), "token_strings": enc.get_tokens()})))
}

async fn start() -> Arc<Api> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = Arc::new(Api {
        port: listener.local_addr().unwrap().port(),
        tokenizer: Tokenizer::from_bytes(SIM_TOKENIZER).unwrap(),
        hits: Mutex::new(HashMap::new()),
        tokenizer_missing: AtomicBool::new(false),
        tokenize_fails: AtomicBool::new(false),
        tokenizer_auth_seen: AtomicBool::new(false),
    });
    let app = Router::new()
        .route("/v1/models/{model}", get(model))
        .route("/tokenizers/{file}", get(tokenizer_file))
        .route("/v1/tokenize", post(tokenize))
        .with_state(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    api
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn chat_body() -> Value {
    json!({
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "You are a support assistant. Answer in English."},
            {"role": "user", "content": [{"type": "text", "text": "Why does my request fail with a 400? Ünïcödé ✓ 12345"}]}
        ],
        "documents": [{"data": {"title": "FAQ", "snippet": "Include the model, the request id and the sequence length."}}],
        "max_tokens": 100
    })
}

fn ctx<'a>(api: &'a str, http: &'a reqwest::Client, key: &'a SecretString, cache: &'a TokenizerCache) -> SeqLenContext<'a> {
    SeqLenContext { http, base_url: Some(api), key: Some(key), cache, offline: false }
}

fn tokenizer_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("model-"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn tokenizer_count_equals_server_count() {
    let api = start().await;
    let base = api.base();
    let tmp = tempfile::tempdir().unwrap();
    let cache = TokenizerCache::new(tmp.path());
    let (http, key) = (client(), SecretString::new("test-key"));
    let body = chat_body();
    let response = json!({"usage": {"billed_units": {"input_tokens": 41}, "tokens": {"input_tokens": 977}}});

    let (seq, meta) = measure_seq_len(&ctx(&base, &http, &key, &cache), Endpoint::ChatV2, &body, Some(&response)).await;
    assert_eq!(seq.method, "tokenizer");
    assert_eq!(seq.tokens, Some(api.count_input_tokens(Endpoint::ChatV2, &body)));
    assert!(seq.tokens.unwrap() > 10);
    assert_eq!(seq.prompt_tokens, Some(977), "the response's prompt count is kept next to the text count");
    assert_eq!(seq.chars, cohere_bundle::tokens::input_chars(Endpoint::ChatV2, &body));
    let meta = meta.expect("models API answered");
    assert_eq!(meta.context_length, Some(128_000));
    assert_eq!(meta.max_output_tokens, Some(8_000), "from the docs table");
    assert_eq!(api.hits("/v1/models/command-a-03-2025"), 1);
    assert_eq!(api.hits("/tokenizers/sim.json"), 1);
    assert_eq!(api.hits("/v1/tokenize"), 0);
    assert!(!api.tokenizer_auth_seen.load(Ordering::SeqCst), "the API key is never sent to the tokenizer URL");

    // Same process, other endpoints: the tokenizer is reused from memory.
    for (ep, b) in [
        (Endpoint::EmbedV2, json!({"model": "command-a-03-2025", "texts": ["one text", "and another, longer text"]})),
        (Endpoint::RerankV2, json!({"model": "command-a-03-2025", "query": "q?", "documents": ["a b c", "d e f"]})),
        (Endpoint::ChatV1, json!({"model": "command-a-03-2025", "preamble": "p", "message": "hello there"})),
    ] {
        let (seq, _) = measure_seq_len(&ctx(&base, &http, &key, &cache), ep, &b, None).await;
        assert_eq!((seq.method.as_str(), seq.tokens), ("tokenizer", Some(api.count_input_tokens(ep, &b))), "{ep:?}");
    }
    assert_eq!(api.hits("/tokenizers/sim.json"), 1);
    assert_eq!(cache.downloads(), 1);
}

#[tokio::test]
async fn tokenizer_unreachable_falls_back_to_tokenize_api_then_estimate() {
    let api = start().await;
    api.tokenizer_missing.store(true, Ordering::SeqCst);
    let base = api.base();
    let tmp = tempfile::tempdir().unwrap();
    let cache = TokenizerCache::new(tmp.path());
    let (http, key) = (client(), SecretString::new("test-key"));
    // One text over the 65,536-character limit of /v1/tokenize, so it is split into two calls.
    let long = "Sequence length matters. ".repeat(3_000);
    let body = json!({"model": "command-a-03-2025", "message": long, "preamble": "Be brief."});

    let o = measure_seq_len_with_notes(&ctx(&base, &http, &key, &cache), Endpoint::ChatV1, &body, None).await;
    assert_eq!(o.seq_len.method, "api", "notes: {:?}", o.notes);
    assert_eq!(o.seq_len.tokens, Some(api.count_input_tokens(Endpoint::ChatV1, &body)));
    assert_eq!(api.hits("/tokenizers/missing.json"), 1);
    assert_eq!(api.hits("/v1/tokenize"), 3, "preamble + the long message in two pieces");
    assert!(o.notes.iter().any(|n| n.contains("missing.json") && n.contains("404")), "notes: {:?}", o.notes);
    assert!(tokenizer_files(tmp.path()).is_empty(), "nothing cached from a failed download");

    api.tokenize_fails.store(true, Ordering::SeqCst);
    let o = measure_seq_len_with_notes(&ctx(&base, &http, &key, &cache), Endpoint::ChatV1, &body, None).await;
    assert_eq!(o.seq_len.method, "estimate");
    let chars = cohere_bundle::tokens::input_chars(Endpoint::ChatV1, &body);
    assert_eq!(o.seq_len.tokens, Some(cohere_bundle::tokens::estimate_tokens(chars)));
    assert!(o.notes.iter().any(|n| n.contains("tokenize API") && n.contains("500")), "notes: {:?}", o.notes);

    // With a response that reports usage, its input count is used before the tokenize API.
    let before = api.hits("/v1/tokenize");
    let response = json!({"meta": {"billed_units": {"input_tokens": 12}, "tokens": {"input_tokens": 80}}});
    let (seq, _) = measure_seq_len(&ctx(&base, &http, &key, &cache), Endpoint::ChatV1, &body, Some(&response)).await;
    assert_eq!((seq.method.as_str(), seq.tokens, seq.prompt_tokens), ("usage", Some(12), Some(80)));
    assert_eq!(api.hits("/v1/tokenize"), before);
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
    let c = SeqLenContext { http: &http, base_url: Some(&dead), key: None, cache: &cache, offline: false };
    let o = measure_seq_len_with_notes(&c, Endpoint::ChatV2, &body, None).await;
    assert_eq!(o.seq_len.method, "estimate");
    assert!(o.meta.is_none());
    assert!(o.notes.iter().any(|n| n.starts_with("models API: cannot reach")), "notes: {:?}", o.notes);

    let c = SeqLenContext { http: &http, base_url: None, key: None, cache: &cache, offline: true };
    let o = measure_seq_len_with_notes(&c, Endpoint::ChatV2, &body, None).await;
    assert_eq!(o.seq_len.method, "estimate");
    assert!(o.notes.iter().any(|n| n.contains("offline")), "notes: {:?}", o.notes);
}

#[tokio::test]
async fn second_run_uses_disk_cache_and_offline_finds_it() {
    let api = start().await;
    let base = api.base();
    let tmp = tempfile::tempdir().unwrap();
    let (http, key) = (client(), SecretString::new("test-key"));
    let body = chat_body();
    let want = api.count_input_tokens(Endpoint::ChatV2, &body);

    let first = TokenizerCache::new(tmp.path());
    let (seq, _) = measure_seq_len(&ctx(&base, &http, &key, &first), Endpoint::ChatV2, &body, None).await;
    assert_eq!((seq.method.as_str(), seq.tokens), ("tokenizer", Some(want)));
    assert_eq!(api.hits("/tokenizers/sim.json"), 1);
    assert_eq!(tokenizer_files(tmp.path()).len(), 1);

    // A new cache object on the same folder stands for a second run of the tool.
    let second = TokenizerCache::new(tmp.path());
    let (seq, _) = measure_seq_len(&ctx(&base, &http, &key, &second), Endpoint::ChatV2, &body, None).await;
    assert_eq!((seq.method.as_str(), seq.tokens), ("tokenizer", Some(want)));
    assert_eq!(api.hits("/tokenizers/sim.json"), 1, "no second download");
    assert_eq!(second.downloads(), 0);

    // Offline, with the base URL known, the cached tokenizer is found without any request.
    let before = api.total_hits();
    let third = TokenizerCache::new(tmp.path());
    let c = SeqLenContext { http: &http, base_url: Some(&base), key: Some(&key), cache: &third, offline: true };
    let (seq, meta) = measure_seq_len(&c, Endpoint::ChatV2, &body, None).await;
    assert_eq!((seq.method.as_str(), seq.tokens), ("tokenizer", Some(want)));
    assert!(meta.is_none());
    assert_eq!(api.total_hits(), before, "offline makes no request");
}

#[tokio::test]
async fn corrupted_cache_file_is_detected_and_downloaded_again() {
    let api = start().await;
    let base = api.base();
    let tmp = tempfile::tempdir().unwrap();
    let (http, key) = (client(), SecretString::new("test-key"));
    let body = chat_body();
    let want = api.count_input_tokens(Endpoint::ChatV2, &body);

    let first = TokenizerCache::new(tmp.path());
    measure_seq_len(&ctx(&base, &http, &key, &first), Endpoint::ChatV2, &body, None).await;
    let files = tokenizer_files(tmp.path());
    assert_eq!(files.len(), 1);
    let path = tmp.path().join(&files[0]);
    // Still valid JSON and a loadable tokenizer, but not the bytes that were downloaded: only the hash
    // tells. Change a merge-free detail: the padding field.
    let good = std::fs::read(&path).unwrap();
    let bad = String::from_utf8(good.clone()).unwrap().replacen("\"padding\":null", "\"padding\": null", 1);
    assert_ne!(bad.as_bytes(), good.as_slice());
    std::fs::write(&path, bad).unwrap();

    let second = TokenizerCache::new(tmp.path());
    let o = measure_seq_len_with_notes(&ctx(&base, &http, &key, &second), Endpoint::ChatV2, &body, None).await;
    assert_eq!((o.seq_len.method.as_str(), o.seq_len.tokens), ("tokenizer", Some(want)));
    assert_eq!(api.hits("/tokenizers/sim.json"), 2, "downloaded again");
    assert!(o.notes.iter().any(|n| n.contains("corrupt")), "notes: {:?}", o.notes);
    assert_eq!(std::fs::read(&path).unwrap(), good, "the good copy is back under its name");

    // A truncated file is caught the same way.
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let third = TokenizerCache::new(tmp.path());
    let (seq, _) = measure_seq_len(&ctx(&base, &http, &key, &third), Endpoint::ChatV2, &body, None).await;
    assert_eq!((seq.method.as_str(), seq.tokens), ("tokenizer", Some(want)));
    assert_eq!(api.hits("/tokenizers/sim.json"), 3);
    assert_eq!(tokenizer_files(tmp.path()), files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_downloads_into_one_folder_all_succeed() {
    let api = start().await;
    let base = api.base();
    let tmp = tempfile::tempdir().unwrap();
    let body = chat_body();
    let want = api.count_input_tokens(Endpoint::ChatV2, &body);

    // Eight independent caches (as eight processes would be) race on one folder.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, dir, body) = (base.clone(), tmp.path().to_path_buf(), body.clone());
        tasks.push(tokio::spawn(async move {
            let (http, key) = (client(), SecretString::new("test-key"));
            let cache = TokenizerCache::new(dir);
            let c = SeqLenContext { http: &http, base_url: Some(&base), key: Some(&key), cache: &cache, offline: false };
            measure_seq_len_with_notes(&c, Endpoint::ChatV2, &body, None).await
        }));
    }
    for t in tasks {
        let o = t.await.unwrap();
        assert_eq!((o.seq_len.method.as_str(), o.seq_len.tokens), ("tokenizer", Some(want)), "notes: {:?}", o.notes);
        assert!(o.notes.iter().all(|n| !n.contains("could not store")), "notes: {:?}", o.notes);
    }
    assert_eq!(tokenizer_files(tmp.path()).len(), 1, "one file, no temporary files left: {:?}", tokenizer_files(tmp.path()));
    assert!(api.hits("/tokenizers/sim.json") >= 1);

    // One shared cache: many tasks, one download.
    let tmp2 = tempfile::tempdir().unwrap();
    let shared = Arc::new(TokenizerCache::new(tmp2.path()));
    let before = api.hits("/tokenizers/sim.json");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, cache, body) = (base.clone(), shared.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let (http, key) = (client(), SecretString::new("test-key"));
            let c = SeqLenContext { http: &http, base_url: Some(&base), key: Some(&key), cache: &cache, offline: false };
            measure_seq_len(&c, Endpoint::ChatV2, &body, None).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().tokens, Some(want));
    }
    assert_eq!(api.hits("/tokenizers/sim.json") - before, 1);
    assert_eq!(shared.downloads(), 1);
}
