//! Gather stage. The request's exact sequence length, counted with the model's own tokenizer.
//!
//! This follows the official Python SDK's offline tokenizer: `GET {base}/v1/models/{model}` gives
//! `tokenizer_url` and `context_length`; the HuggingFace tokenizer JSON at that URL is downloaded once,
//! cached on disk (keyed by the URL's sha256 and verified by the content's sha256) and counted with the
//! `tokenizers` crate, each input text encoded without special tokens.
//!
//! [`measure_seq_len`] never fails. It tries, in order, and labels the result in [`SeqLen::method`]:
//! 1. `tokenizer`: the model's tokenizer (the response's usage, if any, goes into `prompt_tokens`);
//! 2. `usage`: the response's `billed_units.input_tokens`, when no tokenizer could be had;
//! 3. `api`: `POST {base}/v1/tokenize`, one call per text (split at 65,536 characters);
//! 4. `estimate`: characters / 4.
//!
//! An endpoint without input text (a list, a get, a job, an unknown path: see [`crate::tokens::has_input_texts`])
//! has no sequence length: `tokens` null, method `unknown`.
//!
//! Against the [simulator](cohere_bundle_simulator), which serves a model's metadata and its tokenizer:
//!
//! ```
//! use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY};
//! use cohere_bundle_core::summary::SeqLenMethod;
//! use cohere_bundle_core::gather::tokenizer::{count, measure_seq_len, measure_seq_len_with_notes, try_count, SeqLenContext, TokenizerCache};
//! use cohere_bundle_core::{Endpoint, SecretString};
//!
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let sim = Simulator::start(SimConfig::default()).await?;
//!     let http = reqwest::Client::builder().no_proxy().build()?;
//!     let dir = tempfile::tempdir()?;
//!     let (base, key, cache) = (sim.base_url(), SecretString::new(DEMO_KEY), TokenizerCache::new(dir.path()));
//!     let ctx = SeqLenContext { http: &http, base_url: Some(&base), key: Some(&key), cache: &cache, offline: false };
//!     let body = serde_json::json!({"model": "command-a-03-2025",
//!                                   "messages": [{"role": "user", "content": "How long is this prompt?"}]});
//!
//!     let (seq_len, meta) = measure_seq_len(&ctx, Endpoint::ChatV2, &body, None).await;
//!     assert_eq!(seq_len.method, SeqLenMethod::Tokenizer);
//!     assert_eq!(seq_len.tokens, Some(sim.count_input_tokens(Endpoint::ChatV2, &body)));
//!     assert_eq!(cache.downloads(), 1);
//!
//!     // The tokenizer is cached now: count with it directly.
//!     let url = meta.unwrap().tokenizer_url.unwrap();
//!     let mut notes = Vec::new();
//!     let tok = cache.get_cached(&url, &mut notes).await.unwrap();
//!     let again = cache.get(&http, &url, &mut notes).await?;
//!     assert!(std::sync::Arc::ptr_eq(&tok, &again));
//!     assert_eq!(Some(count(&tok, Endpoint::ChatV2, &body)), seq_len.tokens);
//!     assert_eq!(try_count(&tok, Endpoint::ChatV2, &body)?, count(&tok, Endpoint::ChatV2, &body));
//!
//!     // Without an API to ask, the labelled estimate, and a note saying why.
//!     let ctx = SeqLenContext { base_url: None, ..ctx };
//!     let outcome = measure_seq_len_with_notes(&ctx, Endpoint::ChatV2, &body, None).await;
//!     assert_eq!(outcome.seq_len.method, SeqLenMethod::Estimate);
//!     assert!(!outcome.notes.is_empty());
//!     sim.shutdown().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use crate::cohere::Endpoint;
use crate::error::{Error, Result};
use crate::scrub::SecretString;
use crate::summary::{LimitsSource, ModelLimits, SeqLen, SeqLenMethod};

/// The environment variable naming the tool's cache root; tokenizers go in its `tokenizers/` folder.
///
/// Example: [`TokenizerCache`].
pub const CACHE_DIR_ENV: &str = "COHERE_BUNDLE_CACHE_DIR";

/// The most characters `POST /v1/tokenize` accepts in one `text`.
pub(crate) const TOKENIZE_API_MAX_CHARS: usize = 65_536;

/// The most `POST /v1/tokenize` calls one measurement makes before it gives up on the API.
pub(crate) const TOKENIZE_API_MAX_CALLS: usize = 64;

/// The largest tokenizer file accepted (real Cohere tokenizers are about 10 to 20 MB).
pub(crate) const MAX_TOKENIZER_BYTES: u64 = 256 * 1024 * 1024;

const META_TIMEOUT: Duration = Duration::from_secs(20);
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
const TOKENIZE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the models API says about a model.
///
/// ```
/// use cohere_bundle_core::summary::LimitsSource;
/// use cohere_bundle_core::gather::tokenizer::ModelMeta;
/// let body = serde_json::json!({"name": "command-a-03-2025", "context_length": 256000,
///                               "tokenizer_url": "https://storage.example/tokenizer.json", "endpoints": ["chat"]});
/// let meta = ModelMeta::from_json("command-a-03-2025", &body);
/// assert_eq!(meta.context_length, Some(256000));
/// assert_eq!(meta.endpoints, ["chat"]);
/// assert!(!meta.max_output_from_api);
/// let limits = meta.limits();
/// assert_eq!((limits.context_length, limits.source), (Some(256000), LimitsSource::ModelsApi));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMeta {
    /// The model's name as the API gives it (else as asked).
    pub name: String,
    /// The context window in tokens, from the models API.
    pub context_length: Option<u64>,
    /// The URL of the model's HuggingFace tokenizer JSON.
    pub tokenizer_url: Option<String>,
    /// The endpoints the model serves, e.g. `chat`, `embed`.
    pub endpoints: Vec<String>,
    /// The maximum output tokens: from the API if it gives it, else from [`crate::knowledge`].
    pub max_output_tokens: Option<u64>,
    /// Whether `max_output_tokens` came from the API (else from the docs table).
    pub max_output_from_api: bool,
}

impl ModelMeta {
    /// Parses a `GET /v1/models/{model}` response body. `asked` is the model name requested, used when the
    /// body has no `name`.
    ///
    /// Example: [`ModelMeta`].
    pub fn from_json(asked: &str, v: &Value) -> ModelMeta {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(asked)
            .to_string();
        let num = |k: &str| {
            v.get(k).and_then(|x| {
                x.as_u64()
                    .or_else(|| x.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64))
            })
        };
        let k = crate::knowledge::knowledge();
        let known = k.model(&name).or_else(|| k.model(asked));
        ModelMeta {
            context_length: num("context_length"),
            tokenizer_url: v
                .get("tokenizer_url")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            endpoints: v
                .get("endpoints")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            max_output_from_api: num("max_output_tokens").is_some(),
            max_output_tokens: num("max_output_tokens")
                .or_else(|| known.and_then(|m| m.max_output)),
            name,
        }
    }

    /// The model's limits for `summary.json`: `source` is `models_api` when the API gave the context
    /// length, else `docs_table` (gaps filled from [`crate::knowledge`]).
    ///
    /// Example: [`ModelMeta`].
    pub fn limits(&self) -> ModelLimits {
        let known = crate::knowledge::knowledge().model(&self.name);
        // The models API does not give the output cap: when it came from the docs table, say so apart.
        let max_output_source = self
            .max_output_tokens
            .filter(|_| !self.max_output_from_api)
            .map(|_| LimitsSource::DocsTable);
        match self.context_length {
            Some(c) => ModelLimits {
                context_length: Some(c),
                max_output_tokens: self.max_output_tokens,
                source: LimitsSource::ModelsApi,
                max_output_source,
            },
            None => ModelLimits {
                context_length: known.and_then(|m| m.context_length),
                max_output_tokens: self.max_output_tokens,
                source: LimitsSource::DocsTable,
                max_output_source: None,
            },
        }
    }
}

/// `{base}/{path}` with `base`'s trailing slashes removed.
fn join(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// Characters percent-encoded in a model name used as a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A reqwest error in a few words and its causes, without the URL (the caller names it).
fn short_err(e: &reqwest::Error) -> String {
    let mut s = String::from(if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_decode() || e.is_body() {
        "bad response body"
    } else {
        "request failed"
    });
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A short quote of an error body for messages (first line, at most 200 characters).
fn quote_body(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let line = s.lines().next().unwrap_or("").trim();
    let mut q: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        q.push('…');
    }
    q
}

/// Sends an API request (with the key, when given) and returns its JSON body; a failed send, an HTTP error
/// status or a body that is not JSON is a one-line error naming `method` and `url`.
async fn send_for_json(
    req: reqwest::RequestBuilder,
    method: &str,
    url: &str,
    key: Option<&SecretString>,
) -> Result<Value> {
    let mut req = req.header("accept", "application/json");
    if let Some(k) = key {
        req = req.bearer_auth(k.expose());
    }
    let resp = req.send().await.map_err(|e| Error::Unreachable {
        url: url.to_string(),
        reason: short_err(&e),
    })?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| Error::Other(format!("{method} {url}: {}", short_err(&e))))?;
    if !status.is_success() {
        return Err(Error::Other(format!(
            "{method} {url}: HTTP {}: {}",
            status.as_u16(),
            quote_body(&body)
        )));
    }
    serde_json::from_slice(&body)
        .map_err(|e| Error::Other(format!("{method} {url}: response is not JSON: {e}")))
}

/// `GET {base_url}/v1/models/{model}` and parses it into a [`ModelMeta`].
pub(crate) async fn fetch_model_meta(
    http: &reqwest::Client,
    base_url: &str,
    key: Option<&SecretString>,
    model: &str,
) -> Result<ModelMeta> {
    let url = join(
        base_url,
        &format!(
            "/v1/models/{}",
            percent_encoding::utf8_percent_encode(model, SEGMENT)
        ),
    );
    let req = http.get(&url).timeout(META_TIMEOUT);
    let v = send_for_json(req, "GET", &url, key).await?;
    if !v.is_object() {
        return Err(Error::Other(format!(
            "GET {url}: response is not a JSON object"
        )));
    }
    Ok(ModelMeta::from_json(model, &v))
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Resolves a tokenizer URL that may be relative to the API base.
fn resolve_url(base_url: Option<&str>, tokenizer_url: &str) -> String {
    if tokenizer_url.contains("://") {
        return tokenizer_url.to_string();
    }
    match base_url.and_then(|b| url::Url::parse(&format!("{}/", b.trim_end_matches('/'))).ok()) {
        Some(b) => b
            .join(tokenizer_url)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| tokenizer_url.to_string()),
        None => tokenizer_url.to_string(),
    }
}

/// Tokenizers cached on disk and in memory.
///
/// On disk each tokenizer is one file `<sha256(url)>.<sha256(content)>.json`: the name carries the
/// content hash, so a file is checked on every load and a corrupt or truncated one is deleted and
/// downloaded again. Files are written to a temporary file in the same folder and renamed into place, so
/// several processes may download the same tokenizer at once and all succeed. Within one process loaded
/// tokenizers are kept in memory per URL and downloads of one URL are not repeated.
///
/// ```
/// use cohere_bundle_core::gather::tokenizer::{TokenizerCache, CACHE_DIR_ENV};
/// let dir = tempfile::tempdir()?;
/// let cache = TokenizerCache::new(dir.path());
/// assert_eq!((cache.dir(), cache.downloads()), (dir.path(), 0));
/// // The model → tokenizer URL index lets an offline run find a tokenizer downloaded before.
/// let api = "https://api.cohere.com";
/// assert_eq!(cache.model_url(api, "command-a-03-2025"), None);
/// cache.remember_model(api, "command-a-03-2025", "https://storage.example/tokenizer.json")?;
/// assert_eq!(cache.model_url(api, "command-a-03-2025").as_deref(), Some("https://storage.example/tokenizer.json"));
///
/// std::env::set_var(CACHE_DIR_ENV, dir.path());
/// assert_eq!(TokenizerCache::default_dir(), dir.path().join("tokenizers"));
/// assert_eq!(TokenizerCache::from_env().dir(), dir.path().join("tokenizers"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TokenizerCache {
    dir: PathBuf,
    loaded: Mutex<HashMap<String, Arc<Tokenizer>>>,
    /// Which tokenizer URL each model uses, for a memory-only cache (on disk: `model-<sha>.url` files).
    models: Mutex<HashMap<PathBuf, String>>,
    download: tokio::sync::Mutex<()>,
    downloads: std::sync::atomic::AtomicUsize,
}

impl TokenizerCache {
    /// A cache in `dir` (created when first written).
    ///
    /// Example: [`TokenizerCache`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TokenizerCache {
            dir: dir.into(),
            loaded: Mutex::new(HashMap::new()),
            models: Mutex::new(HashMap::new()),
            download: tokio::sync::Mutex::new(()),
            downloads: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The default folder: `$COHERE_BUNDLE_CACHE_DIR/tokenizers` if the variable is set, else
    /// `<user cache dir>/cohere-bundle/tokenizers` (e.g. `~/.cache/cohere-bundle/tokenizers`), else a
    /// folder in the system temporary directory.
    ///
    /// Example: [`TokenizerCache`].
    pub fn default_dir() -> PathBuf {
        match std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(root) => PathBuf::from(root).join("tokenizers"),
            None => dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("cohere-bundle")
                .join("tokenizers"),
        }
    }

    /// A cache that keeps tokenizers in memory only (nothing is read from or written to disk).
    ///
    /// ```
    /// use cohere_bundle_core::gather::tokenizer::TokenizerCache;
    /// let cache = TokenizerCache::memory_only();
    /// assert_eq!(cache.dir(), std::path::Path::new(""));
    /// assert_eq!(cache.downloads(), 0);
    /// ```
    pub fn memory_only() -> Self {
        Self::new(PathBuf::new())
    }

    /// A cache in [`TokenizerCache::default_dir`] (which reads the environment: call it at a binary's edge).
    ///
    /// Example: [`TokenizerCache`].
    pub fn from_env() -> Self {
        Self::new(Self::default_dir())
    }

    /// The cache folder.
    ///
    /// Example: [`TokenizerCache`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many tokenizer downloads this cache made (for tests and logs).
    ///
    /// Example: [`TokenizerCache`], [`crate::gather::tokenizer`].
    pub fn downloads(&self) -> usize {
        self.downloads.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn remember(&self, url: &str, t: Arc<Tokenizer>) {
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(url.to_string(), t);
        }
    }

    fn in_memory(&self, url: &str) -> Option<Arc<Tokenizer>> {
        self.loaded.lock().ok().and_then(|m| m.get(url).cloned())
    }

    /// The tokenizer at `url` from memory or disk only, without any network access. Notes say why a disk
    /// copy was rejected.
    ///
    /// Example: [`crate::gather::tokenizer`].
    pub async fn get_cached(&self, url: &str, notes: &mut Vec<String>) -> Option<Arc<Tokenizer>> {
        if let Some(t) = self.in_memory(url) {
            return Some(t);
        }
        if self.dir.as_os_str().is_empty() {
            return None;
        }
        let dir = self.dir.clone();
        let u = url.to_string();
        let (found, mut n) = tokio::task::spawn_blocking(move || load_from_disk(&dir, &u))
            .await
            .unwrap_or_else(|e| (None, vec![format!("tokenizer cache: {e}")]));
        notes.append(&mut n);
        let t = Arc::new(found?);
        self.remember(url, t.clone());
        Some(t)
    }

    /// The tokenizer at `url`: from memory, else from disk (verified), else downloaded (no credentials are
    /// sent) and stored.
    ///
    /// Example: [`crate::gather::tokenizer`].
    pub async fn get(
        &self,
        http: &reqwest::Client,
        url: &str,
        notes: &mut Vec<String>,
    ) -> Result<Arc<Tokenizer>> {
        if let Some(t) = self.get_cached(url, notes).await {
            return Ok(t);
        }
        // One download per URL at a time in this process; another task may have finished it meanwhile.
        let _guard = self.download.lock().await;
        if let Some(t) = self.get_cached(url, notes).await {
            return Ok(t);
        }
        let bytes = download(http, url).await?;
        self.downloads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.dir.clone();
        let u = url.to_string();
        let (tok, mut n) =
            tokio::task::spawn_blocking(move || -> Result<(Tokenizer, Vec<String>)> {
                let tok = Tokenizer::from_bytes(&bytes)
                    .map_err(|e| Error::Other(format!("{u}: not a tokenizer JSON: {e}")))?;
                let mut notes = Vec::new();
                if dir.as_os_str().is_empty() {
                    // In memory only.
                } else if let Err(e) = store_on_disk(&dir, &u, &bytes) {
                    notes.push(format!("tokenizer cache: could not store {u}: {e}"));
                }
                Ok((tok, notes))
            })
            .await
            .map_err(|e| Error::Other(format!("tokenizer {url}: {e}")))??;
        notes.append(&mut n);
        let t = Arc::new(tok);
        self.remember(url, t.clone());
        Ok(t)
    }

    fn index_path(&self, base_url: &str, model: &str) -> PathBuf {
        let key = format!("{}\n{}", base_url.trim_end_matches('/'), model);
        self.dir
            .join(format!("model-{}.url", sha256_hex(key.as_bytes())))
    }

    /// Records which tokenizer URL `model` at `base_url` uses, so an offline run can find it.
    ///
    /// Example: [`TokenizerCache`].
    pub fn remember_model(&self, base_url: &str, model: &str, url: &str) -> Result<()> {
        let path = self.index_path(base_url, model);
        if self.dir.as_os_str().is_empty() {
            // Memory only: nothing is written to disk (an empty folder would be the working directory).
            if let Ok(mut m) = self.models.lock() {
                m.insert(path, url.to_string());
            }
            return Ok(());
        }
        if std::fs::read_to_string(&path).ok().as_deref() == Some(url) {
            return Ok(());
        }
        write_atomic(&self.dir, &path, url.as_bytes())
    }

    /// The tokenizer URL last seen for `model` at `base_url`, if recorded.
    ///
    /// Example: [`TokenizerCache`].
    pub fn model_url(&self, base_url: &str, model: &str) -> Option<String> {
        let path = self.index_path(base_url, model);
        if self.dir.as_os_str().is_empty() {
            return self.models.lock().ok()?.get(&path).cloned();
        }
        std::fs::read_to_string(path)
            .ok()
            .filter(|s| s.contains("://"))
    }
}

/// Downloads `url` (at most [`MAX_TOKENIZER_BYTES`]).
async fn download(http: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    let mut resp = http
        .get(url)
        .timeout(DOWNLOAD_TIMEOUT)
        .send()
        .await
        .map_err(|e| Error::Unreachable {
            url: url.to_string(),
            reason: short_err(&e),
        })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.bytes().await.unwrap_or_default();
        return Err(Error::Other(format!(
            "GET {url}: HTTP {}: {}",
            status.as_u16(),
            quote_body(&body)
        )));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_TOKENIZER_BYTES)
    {
        return Err(Error::Other(format!(
            "GET {url}: tokenizer larger than {MAX_TOKENIZER_BYTES} bytes"
        )));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::Other(format!("GET {url}: {}", short_err(&e))))?
    {
        out.extend_from_slice(&chunk);
        if out.len() as u64 > MAX_TOKENIZER_BYTES {
            return Err(Error::Other(format!(
                "GET {url}: tokenizer larger than {MAX_TOKENIZER_BYTES} bytes"
            )));
        }
    }
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary file in `dir` and a rename.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let _unfinished = crate::cleanup::track(tmp.path());
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Cache file names for `url`: `<sha256(url)>.<sha256(content)>.json`.
fn cache_file_name(url: &str, content: &[u8]) -> String {
    format!(
        "{}.{}.json",
        sha256_hex(url.as_bytes()),
        sha256_hex(content)
    )
}

/// Stores a downloaded tokenizer and removes older copies for the same URL (best effort).
fn store_on_disk(dir: &Path, url: &str, bytes: &[u8]) -> Result<PathBuf> {
    let name = cache_file_name(url, bytes);
    let path = dir.join(&name);
    write_atomic(dir, &path, bytes)?;
    let prefix = format!("{}.", sha256_hex(url.as_bytes()));
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) && n.ends_with(".json") && n != name {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(path)
}

/// The cached tokenizer for `url`, verified by its content hash; bad copies are deleted.
fn load_from_disk(dir: &Path, url: &str) -> (Option<Tokenizer>, Vec<String>) {
    let mut notes = Vec::new();
    let prefix = format!("{}.", sha256_hex(url.as_bytes()));
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (None, notes);
    };
    let mut candidates: Vec<(std::time::SystemTime, PathBuf, String)> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let hash = n.strip_prefix(&prefix)?.strip_suffix(".json")?.to_string();
            let mtime = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            Some((mtime, e.path(), hash))
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (_, path, want) in candidates {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if sha256_hex(&bytes) != want {
            notes.push(format!(
                "tokenizer cache: {} is corrupt (sha256 mismatch); downloading again",
                path.display()
            ));
            let _ = std::fs::remove_file(&path);
            continue;
        }
        match Tokenizer::from_bytes(&bytes) {
            Ok(t) => return (Some(t), notes),
            Err(e) => {
                notes.push(format!(
                    "tokenizer cache: {} does not load ({e}); downloading again",
                    path.display()
                ));
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    (None, notes)
}

/// Tokens of one text, encoded without special tokens.
///
/// Example: [`count_text`].
pub fn try_count_text(tokenizer: &Tokenizer, text: &str) -> Result<u64> {
    if text.is_empty() {
        return Ok(0);
    }
    tokenizer
        .encode_fast(text, false)
        .map(|e| e.len() as u64)
        .map_err(|e| Error::Other(format!("tokenizer: {e}")))
}

/// Tokens of one text, encoded without special tokens (a text the tokenizer cannot encode counts 0; use
/// [`try_count_text`] to see the error).
///
/// ```
/// use cohere_bundle_core::gather::tokenizer::{count_text, try_count_text};
/// let tok = cohere_bundle_simulator::tokenizer();
/// let n = count_text(tok, "How long is this prompt?");
/// assert!(n > 0);
/// assert_eq!(try_count_text(tok, "How long is this prompt?")?, n);
/// assert_eq!(count_text(tok, ""), 0);
/// # Ok::<(), cohere_bundle_core::Error>(())
/// ```
pub fn count_text(tokenizer: &Tokenizer, text: &str) -> u64 {
    try_count_text(tokenizer, text).unwrap_or(0)
}

/// Tokens of all of a request's input texts ([`crate::tokens::input_texts`]), each encoded without special
/// tokens: the same count the simulator makes.
///
/// Example: [`crate::gather::tokenizer`].
pub fn try_count(tokenizer: &Tokenizer, endpoint: Endpoint, body: &Value) -> Result<u64> {
    crate::tokens::input_texts(endpoint, body)
        .iter()
        .try_fold(0u64, |acc, t| Ok(acc + try_count_text(tokenizer, t)?))
}

/// Like [`try_count`]; texts that cannot be encoded count 0.
///
/// Example: [`crate::gather::tokenizer`].
pub fn count(tokenizer: &Tokenizer, endpoint: Endpoint, body: &Value) -> u64 {
    crate::tokens::input_texts(endpoint, body)
        .iter()
        .map(|t| count_text(tokenizer, t))
        .sum()
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The longest prefix of `text` with exactly `n` tokens (by `tokenizer`, without special tokens), or
/// `text` itself when it has no more than `n`. Cuts fall at token starts; when no such cut gives exactly
/// `n` (rare: merges across the cut) the nearest prefix with fewer tokens is returned.
///
/// ```
/// use cohere_bundle_core::gather::tokenizer::{count_text, grow_to_tokens, truncate_to_tokens};
/// let tok = cohere_bundle_simulator::tokenizer();
/// let text = "one two three four five six seven eight";
/// let cut = truncate_to_tokens(tok, text, 3);
/// assert!(text.starts_with(&cut));
/// assert_eq!(count_text(tok, &cut), 3);
/// let long = grow_to_tokens(tok, "hello world. ", 50);
/// assert_eq!(count_text(tok, &long), 50);
/// ```
pub fn truncate_to_tokens(tokenizer: &Tokenizer, text: &str, n: u64) -> String {
    let Ok(enc) = tokenizer.encode(text, false) else {
        return String::new();
    };
    let total = enc.len() as u64;
    if total <= n {
        return text.to_string();
    }
    if n == 0 {
        return String::new();
    }
    let offsets = enc.get_offsets();
    // Candidate cuts: the starts of the tokens near index n, closest first.
    let n = n as usize;
    let mut best: Option<(u64, usize)> = None;
    let mut tried = std::collections::HashSet::new();
    for k in 0..16usize {
        for idx in [n.checked_add(k), n.checked_sub(k)].into_iter().flatten() {
            if idx == 0 || idx >= offsets.len() {
                continue;
            }
            // The end of token idx-1 and the start of token idx: they differ when offsets are trimmed
            // (a ByteLevel post-processor drops the leading space from a token's start).
            for raw in [offsets[idx - 1].1, offsets[idx].0] {
                let cut = floor_char_boundary(text, raw);
                if !tried.insert(cut) {
                    continue;
                }
                let c = count_text(tokenizer, &text[..cut]);
                if c == n as u64 {
                    return text[..cut].to_string();
                }
                if c < n as u64 && best.is_none_or(|(bc, bcut)| c > bc || (c == bc && cut > bcut)) {
                    best = Some((c, cut));
                }
            }
        }
    }
    best.map(|(_, cut)| text[..cut].to_string())
        .unwrap_or_default()
}

/// Filler used by [`grow_to_tokens`] when the given text has no tokens.
const FILLER: &str = "The quick brown fox jumps over the lazy dog. ";

/// A text of exactly `n` tokens made by repeating `text` and cutting with [`truncate_to_tokens`] (see
/// there for the rare inexact case). An empty text is replaced by a filler sentence.
///
/// Example: [`truncate_to_tokens`].
pub fn grow_to_tokens(tokenizer: &Tokenizer, text: &str, n: u64) -> String {
    let unit = if count_text(tokenizer, text) == 0 {
        FILLER
    } else {
        text
    };
    let per = count_text(tokenizer, unit).max(1);
    let mut reps = (n / per + 1).max(1) as usize;
    loop {
        let s = unit.repeat(reps);
        let c = count_text(tokenizer, &s);
        if c >= n || reps > (1 << 28) / unit.len().max(1) {
            return truncate_to_tokens(tokenizer, &s, n);
        }
        reps = reps.saturating_mul(2);
    }
}

/// What a response says about token usage.
///
/// Example: [`usage_from_response`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// `billed_units.input_tokens`: the raw input text's tokens.
    pub billed_input_tokens: Option<u64>,
    /// `tokens.input_tokens`: the prompt the model saw, chat template included.
    pub prompt_input_tokens: Option<u64>,
}

/// Reads usage from a response body: v2 `usage`, v1 `meta`, a v2 stream's `delta.usage` or a v1 stream's
/// `response.meta`.
///
/// ```
/// use cohere_bundle_core::gather::tokenizer::{usage_from_response, Usage};
/// let v2 = serde_json::json!({"usage": {"billed_units": {"input_tokens": 12}, "tokens": {"input_tokens": 27}}});
/// assert_eq!(usage_from_response(&v2), Usage { billed_input_tokens: Some(12), prompt_input_tokens: Some(27) });
/// assert_eq!(usage_from_response(&serde_json::json!({})), Usage::default());
/// ```
pub fn usage_from_response(v: &Value) -> Usage {
    let num = |p: &str| {
        v.pointer(p).and_then(|x| {
            x.as_u64()
                .or_else(|| x.as_f64().map(|f| f.max(0.0).round() as u64))
        })
    };
    let mut u = Usage::default();
    for root in ["/usage", "/meta", "/delta/usage", "/response/meta"] {
        u.billed_input_tokens = u
            .billed_input_tokens
            .or_else(|| num(&format!("{root}/billed_units/input_tokens")));
        u.prompt_input_tokens = u
            .prompt_input_tokens
            .or_else(|| num(&format!("{root}/tokens/input_tokens")));
    }
    u
}

/// Splits `text` into pieces of at most `max` characters, cutting before whitespace where possible so
/// that tokens do not straddle the cuts.
pub(crate) fn split_for_api(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let hard = rest
            .char_indices()
            .nth(max)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let window = &rest[..hard];
        // Cut before the last whitespace that follows a non-whitespace character.
        let mut cut = None;
        let mut prev_ws = true;
        for (i, c) in window.char_indices() {
            let ws = c.is_whitespace();
            if ws && !prev_ws {
                cut = Some(i);
            }
            prev_ws = ws;
        }
        let cut = cut.unwrap_or(hard);
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

async fn tokenize_api_count(
    http: &reqwest::Client,
    base_url: &str,
    key: Option<&SecretString>,
    model: &str,
    texts: &[&str],
) -> Result<u64> {
    let url = join(base_url, "/v1/tokenize");
    let pieces: Vec<&str> = texts
        .iter()
        .flat_map(|t| split_for_api(t, TOKENIZE_API_MAX_CHARS))
        .collect();
    if pieces.len() > TOKENIZE_API_MAX_CALLS {
        return Err(Error::Other(format!(
            "{url}: {} calls needed, more than the limit of {TOKENIZE_API_MAX_CALLS}",
            pieces.len()
        )));
    }
    let mut total = 0u64;
    for p in pieces {
        let req = http
            .post(&url)
            .timeout(TOKENIZE_TIMEOUT)
            .json(&serde_json::json!({"text": p, "model": model}));
        let v = send_for_json(req, "POST", &url, key).await?;
        let n = v
            .get("tokens")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Other(format!("POST {url}: response has no `tokens` list")))?
            .len();
        total += n as u64;
    }
    Ok(total)
}

/// What [`measure_seq_len`] needs.
///
/// Example: [`crate::gather::tokenizer`].
#[derive(Debug, Clone, Copy)]
pub struct SeqLenContext<'a> {
    /// The HTTP client.
    pub http: &'a reqwest::Client,
    /// The API base URL, e.g. `https://api.cohere.com`; `None` skips every API call.
    pub base_url: Option<&'a str>,
    /// The API key, sent to the models and tokenize endpoints only (never to the tokenizer URL).
    pub key: Option<&'a SecretString>,
    /// The tokenizer cache.
    pub cache: &'a TokenizerCache,
    /// No network at all: only a tokenizer already cached for this model and base URL is used.
    pub offline: bool,
}

/// The full result of a measurement.
///
/// Example: [`crate::gather::tokenizer`].
#[derive(Debug, Clone)]
pub struct SeqLenOutcome {
    /// The sequence length.
    pub seq_len: SeqLen,
    /// The model's metadata, if the models API answered.
    pub meta: Option<ModelMeta>,
    /// Why earlier methods were skipped or failed, in order.
    pub notes: Vec<String>,
}

/// Measures a request's sequence length; never fails (see the module docs for the order of methods).
///
/// Example: [`crate::gather::tokenizer`].
pub async fn measure_seq_len(
    ctx: &SeqLenContext<'_>,
    endpoint: Endpoint,
    body: &Value,
    response_body: Option<&Value>,
) -> (SeqLen, Option<ModelMeta>) {
    let o = measure_seq_len_with_notes(ctx, endpoint, body, response_body).await;
    (o.seq_len, o.meta)
}

/// [`measure_seq_len`] with the notes on why methods were skipped or failed.
///
/// Example: [`crate::gather::tokenizer`].
pub async fn measure_seq_len_with_notes(
    ctx: &SeqLenContext<'_>,
    endpoint: Endpoint,
    body: &Value,
    response_body: Option<&Value>,
) -> SeqLenOutcome {
    if !crate::tokens::has_input_texts(endpoint) {
        return unmeasured(endpoint);
    }
    let texts = crate::tokens::input_texts(endpoint, body);
    let chars: u64 = texts.iter().map(|s| s.chars().count() as u64).sum();
    let usage = response_body.map(usage_from_response).unwrap_or_default();
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    let mut notes = Vec::new();
    let online_base = if ctx.offline { None } else { ctx.base_url };
    let seq = |tokens, method: SeqLenMethod| SeqLen {
        tokens: Some(tokens),
        method,
        chars,
        prompt_tokens: usage.prompt_input_tokens,
    };

    // 1. Model metadata.
    let meta = model_meta(ctx, model, online_base, &mut notes).await;

    // 2. The model's tokenizer.
    let tokenizer = model_tokenizer(ctx, model, meta.as_ref(), online_base, &mut notes).await;
    if let Some(t) = tokenizer {
        match try_count(&t, endpoint, body) {
            Ok(n) => {
                return SeqLenOutcome {
                    seq_len: seq(n, SeqLenMethod::Tokenizer),
                    meta,
                    notes,
                }
            }
            Err(e) => notes.push(e.to_string()),
        }
    }

    // 3. The response's own count of the input text.
    if let Some(n) = usage.billed_input_tokens {
        return SeqLenOutcome {
            seq_len: seq(n, SeqLenMethod::Usage),
            meta,
            notes,
        };
    }

    // 4. The tokenize API.
    if let (Some(m), Some(base)) = (model, online_base) {
        match tokenize_api_count(ctx.http, base, ctx.key, m, &texts).await {
            Ok(n) => {
                return SeqLenOutcome {
                    seq_len: seq(n, SeqLenMethod::Api),
                    meta,
                    notes,
                }
            }
            Err(e) => notes.push(format!("tokenize API: {e}")),
        }
    }

    // 5. Characters / 4.
    SeqLenOutcome {
        seq_len: seq(
            crate::tokens::estimate_tokens(chars),
            SeqLenMethod::Estimate,
        ),
        meta,
        notes,
    }
}

/// The outcome for lists, gets, jobs and unknown paths: no input text to count, so no sequence length.
fn unmeasured(endpoint: Endpoint) -> SeqLenOutcome {
    SeqLenOutcome {
        seq_len: SeqLen {
            tokens: None,
            method: SeqLenMethod::Unknown,
            chars: 0,
            prompt_tokens: None,
        },
        meta: None,
        notes: vec![format!("{endpoint}: no input text to measure")],
    }
}

/// The model's metadata from the models API, when the request names a model and the API may be asked
/// (`online_base`); otherwise, or when it fails, a note says why not.
async fn model_meta(
    ctx: &SeqLenContext<'_>,
    model: Option<&str>,
    online_base: Option<&str>,
    notes: &mut Vec<String>,
) -> Option<ModelMeta> {
    match (model, online_base) {
        (None, _) => notes.push("request names no model: no tokenizer or tokenize API".into()),
        (Some(_), None) if ctx.offline => notes.push("offline: models API not asked".into()),
        (Some(_), None) => notes.push("no base URL: models API not asked".into()),
        (Some(m), Some(base)) => match fetch_model_meta(ctx.http, base, ctx.key, m).await {
            Ok(mm) => return Some(mm),
            Err(e) => notes.push(format!("models API: {e}")),
        },
    }
    None
}

/// The model's tokenizer: from the URL its metadata gives (downloaded, or from the cache); offline, or when
/// the models API failed, one cached earlier for this model and base URL.
async fn model_tokenizer(
    ctx: &SeqLenContext<'_>,
    model: Option<&str>,
    meta: Option<&ModelMeta>,
    online_base: Option<&str>,
    notes: &mut Vec<String>,
) -> Option<Arc<Tokenizer>> {
    let tokenizer_url = tokenizer_url(ctx, model, meta, online_base, notes);
    match (&tokenizer_url, online_base) {
        (Some(u), Some(_)) => match ctx.cache.get(ctx.http, u, notes).await {
            Ok(t) => Some(t),
            Err(e) => {
                notes.push(format!("tokenizer: {e}"));
                None
            }
        },
        _ => match (model, ctx.base_url) {
            // Offline, or the models API failed: a tokenizer cached earlier for this model may still do.
            (Some(m), Some(base)) => match ctx.cache.model_url(base, m) {
                Some(u) => ctx.cache.get_cached(&u, notes).await,
                None => None,
            },
            _ => None,
        },
    }
}

/// The tokenizer URL of the model's metadata, resolved against the base URL and remembered in the cache
/// (so that a later offline run finds the tokenizer); a note when the metadata gives none.
fn tokenizer_url(
    ctx: &SeqLenContext<'_>,
    model: Option<&str>,
    meta: Option<&ModelMeta>,
    online_base: Option<&str>,
    notes: &mut Vec<String>,
) -> Option<String> {
    let (Some(mm), Some(base)) = (meta, online_base) else {
        return None;
    };
    match &mm.tokenizer_url {
        Some(u) => {
            let u = resolve_url(Some(base), u);
            if let Some(m) = model {
                if let Err(e) = ctx.cache.remember_model(base, m, &u) {
                    notes.push(format!("tokenizer cache: {e}"));
                }
            }
            Some(u)
        }
        None => {
            notes.push(format!("models API gives no tokenizer_url for {}", mm.name));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory-only cache remembers a model's tokenizer URL in memory and writes nothing to the working
    /// directory (it used to write `model-<sha>.url` there).
    #[test]
    fn a_memory_only_cache_writes_no_files() {
        let c = TokenizerCache::memory_only();
        let base = "http://127.0.0.1:9/memory-only-test";
        c.remember_model(base, "command-x", "http://127.0.0.1:9/t.json")
            .unwrap();
        assert_eq!(
            c.model_url(base, "command-x").as_deref(),
            Some("http://127.0.0.1:9/t.json")
        );
        let written = c.index_path(base, "command-x");
        assert!(written.is_relative() && !written.exists(), "{written:?}");
    }
    use serde_json::json;

    fn sim() -> Tokenizer {
        Tokenizer::from_bytes(cohere_bundle_simulator::TOKENIZER_JSON.as_bytes())
            .expect("sim tokenizer loads")
    }

    #[test]
    fn truncate_and_grow_are_exact() {
        let t = sim();
        let text = "Support bundles answer the FAQ: model, error, request id, sequence length. "
            .repeat(40);
        let total = count_text(&t, &text);
        assert!(total > 200);
        for n in [1u64, 7, 50, 123, total - 1] {
            let s = truncate_to_tokens(&t, &text, n);
            assert_eq!(count_text(&t, &s), n, "truncate to {n}");
            assert!(text.starts_with(&s));
        }
        assert_eq!(truncate_to_tokens(&t, &text, total + 5), text);
        for n in [10u64, 999, 4096] {
            assert_eq!(
                count_text(&t, &grow_to_tokens(&t, "héllo wörld, ", n)),
                n,
                "grow to {n}"
            );
        }
        assert_eq!(count_text(&t, &grow_to_tokens(&t, "", 33)), 33);
    }

    #[test]
    fn truncate_is_exact_with_trimmed_offsets() {
        let json = cohere_bundle_simulator::TOKENIZER_JSON;
        let pp = r#""post_processor":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}"#;
        assert!(json.contains(r#""post_processor":null"#));
        let t =
            Tokenizer::from_bytes(json.replacen(r#""post_processor":null"#, pp, 1)).expect("loads");
        let text = "Words with   spaces, and more words here. ".repeat(30);
        for n in [1u64, 2, 5, 33, 100, 200] {
            assert_eq!(
                count_text(&t, &truncate_to_tokens(&t, &text, n)),
                n,
                "truncate to {n}"
            );
        }
    }

    #[test]
    fn usage_is_read_from_v1_v2_and_streams() {
        let v2 =
            json!({"usage": {"billed_units": {"input_tokens": 4}, "tokens": {"input_tokens": 70}}});
        assert_eq!(
            usage_from_response(&v2),
            Usage {
                billed_input_tokens: Some(4),
                prompt_input_tokens: Some(70)
            }
        );
        let v1 = json!({"meta": {"billed_units": {"input_tokens": 5.0}, "tokens": {"input_tokens": 71}}});
        assert_eq!(
            usage_from_response(&v1),
            Usage {
                billed_input_tokens: Some(5),
                prompt_input_tokens: Some(71)
            }
        );
        let st = json!({"type": "message-end", "delta": {"usage": {"billed_units": {"input_tokens": 6}}}});
        assert_eq!(usage_from_response(&st).billed_input_tokens, Some(6));
        assert_eq!(
            usage_from_response(&json!({"message": "bad"})),
            Usage::default()
        );
    }

    #[test]
    fn api_split_respects_limit_and_whitespace() {
        let text = "word ".repeat(30_000);
        let parts = split_for_api(&text, TOKENIZE_API_MAX_CHARS);
        assert!(parts.len() >= 3);
        assert_eq!(parts.concat(), text);
        for p in &parts {
            assert!(p.chars().count() <= TOKENIZE_API_MAX_CHARS);
        }
        for p in &parts[1..] {
            assert!(p.starts_with(' '), "cut before whitespace");
        }
        let solid = "x".repeat(70_000);
        let parts = split_for_api(&solid, TOKENIZE_API_MAX_CHARS);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![65_536, 4_464]
        );
    }

    #[test]
    fn meta_parses_and_fills_limits() {
        let v = json!({"name": "command-r-08-2024", "context_length": 128000.0, "tokenizer_url": "https://x/t.json",
                       "endpoints": ["chat", "generate"]});
        let m = ModelMeta::from_json("command-r-08-2024", &v);
        assert_eq!(m.context_length, Some(128_000));
        assert_eq!(m.max_output_tokens, Some(4_000));
        assert_eq!(m.endpoints, vec!["chat", "generate"]);
        assert_eq!(m.limits().source, "models_api");
        let bare = ModelMeta::from_json("embed-english-v3.0", &json!({}));
        assert_eq!(
            bare.limits(),
            ModelLimits {
                context_length: Some(512),
                max_output_tokens: None,
                source: LimitsSource::DocsTable,
                max_output_source: None,
            }
        );
    }

    #[test]
    fn relative_tokenizer_urls_resolve_against_base() {
        assert_eq!(
            resolve_url(Some("http://127.0.0.1:9/"), "/tokenizers/a.json"),
            "http://127.0.0.1:9/tokenizers/a.json"
        );
        assert_eq!(
            resolve_url(Some("http://h/p"), "https://g/x.json"),
            "https://g/x.json"
        );
    }
}
