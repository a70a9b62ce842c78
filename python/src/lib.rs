//! `cohere_bundle._native`: the Rust side of the Python package. Thin, typed wrappers of the main crate's
//! library: the storm-safe [`Recorder`], [`FailureReport::write`], `pipeline::replay`, the scrubber,
//! `bundle::verify`, and the command line itself (`python -m cohere_bundle`).
//!
//! The pure-Python parts (the httpx hooks, `capture(exc)`) are in `cohere_bundle/__init__.py`; the typed
//! signatures of this module are in `cohere_bundle/_native.pyi`.

// The command line is the `cohere-bundle` package's library target: `python -m cohere_bundle` runs exactly the
// binary's CLI (`cohere_bundle_cli::run_args`), and reads the environment as the binary's edge does.
use cohere_bundle_cli::{self as cli, settings};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use cohere_bundle_core::exchange::{Body, FailureClass, Header};
use cohere_bundle_core::input::request::ParseOptions;
use cohere_bundle_core::library::FailureReport;
use cohere_bundle_core::pipeline::{self, BundleOptions, Outcome, ReplayOptions};
use cohere_bundle_core::recorder::{self, Captured, RecorderConfig, RecorderStats};
use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber, SecretString};
use cohere_bundle_core::{Endpoint, Error, Platform};

create_exception!(
    cohere_bundle,
    BundleError,
    PyException,
    "A cohere-bundle library call failed (the base class of the package's errors)."
);
create_exception!(
    cohere_bundle,
    InputError,
    BundleError,
    "An input cannot be used as given: a request file, a log, an option value, an output that exists."
);
create_exception!(
    cohere_bundle,
    LeakError,
    BundleError,
    "The final check found a known secret in a bundle member; no zip was kept."
);
create_exception!(
    cohere_bundle,
    VerifyError,
    BundleError,
    "A bundle failed verification: bad manifest, checksum mismatch, unreadable zip, or a known secret in it."
);
create_exception!(
    cohere_bundle,
    UnreachableError,
    BundleError,
    "The API could not be reached at all, so nothing could be replayed."
);

fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Input { .. } | Error::Field { .. } | Error::OutputExists(_) => {
            InputError::new_err(msg)
        }
        Error::Leak { .. } => LeakError::new_err(msg),
        Error::Verify { .. } => VerifyError::new_err(msg),
        Error::Unreachable { .. } => UnreachableError::new_err(msg),
        _ => BundleError::new_err(msg),
    }
}

/// The runtime the recorders' writers and the blocking calls run on: one per process (a child after `fork`
/// gets its own; the parent's threads do not exist there).
fn runtime() -> PyResult<Arc<tokio::runtime::Runtime>> {
    static RT: Mutex<Option<(u32, Arc<tokio::runtime::Runtime>)>> = Mutex::new(None);
    let mut g = RT.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some((p, rt)) = g.as_ref() {
        if *p == pid {
            return Ok(rt.clone());
        }
    }
    if let Some((_, stale)) = g.take() {
        // Inherited through fork: its worker threads are not in this process, so it must not be dropped
        // (dropping would wait for them).
        std::mem::forget(stale);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cohere-bundle")
        .enable_all()
        .build()
        .map_err(|e| BundleError::new_err(format!("cannot start the async runtime: {e}")))?;
    let rt = Arc::new(rt);
    *g = Some((pid, rt.clone()));
    Ok(rt)
}

/// The path part of a URL (no query, no fragment).
fn url_path(url: &str) -> &str {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or("/")
}

fn headers(pairs: Vec<(String, String)>) -> Vec<Header> {
    pairs.into_iter().map(|(k, v)| Header::new(k, v)).collect()
}

fn failure_class(s: &str) -> PyResult<FailureClass> {
    Ok(match s {
        "http" => FailureClass::Http,
        "network" => FailureClass::Network,
        "timeout" => FailureClass::Timeout,
        "stream" => FailureClass::Stream,
        other => {
            return Err(PyValueError::new_err(format!(
                "error_class {other:?}: one of http, network, timeout, stream"
            )))
        }
    })
}

/// Why a stream response failed, judged by the library: ended before its terminal event, or carried an error.
fn stream_verdict(status: u16, headers: &[Header], body: &[u8]) -> Option<String> {
    let body = Body::from_bytes(
        body,
        Some(cohere_bundle_core::gather::client::DEFAULT_BODY_CAP),
    );
    cohere_bundle_core::sse::check_complete(status, headers, &serde_json::Value::Null, &body)
        .map(|f| f.message)
}

/// One failed exchange as the Python side recorded it.
struct Exchange {
    method: String,
    url: String,
    request_headers: Vec<(String, String)>,
    request_body: Vec<u8>,
    status: Option<u16>,
    response_headers: Vec<(String, String)>,
    response_body: Option<Vec<u8>>,
    error_class: Option<String>,
    error_message: Option<String>,
    elapsed: Option<f64>,
    /// Set when the request was not captured: how to capture it next time.
    request_missing: Option<String>,
}

impl Exchange {
    /// The library's failure report. The request's bearer token is the API key: always a known secret.
    fn report(self) -> PyResult<FailureReport> {
        let endpoint = Endpoint::from_path(url_path(&self.url));
        let req_headers = headers(self.request_headers);
        let key = cohere_bundle_core::gather::capture::bearer(&req_headers).map(SecretString::new);
        let mut r = if self.request_body.is_empty() {
            FailureReport::new(endpoint, serde_json::Value::Null)
        } else {
            FailureReport::from_raw_body(endpoint, self.request_body)
        };
        r = r.method(self.method).url(self.url);
        let resp_headers = headers(self.response_headers);
        if let Some(class) = self.error_class.as_deref().map(failure_class).transpose()? {
            let message = match self.error_message {
                Some(m) => m,
                None if class == FailureClass::Stream => stream_verdict(
                    self.status.unwrap_or(200),
                    &resp_headers,
                    self.response_body.as_deref().unwrap_or_default(),
                )
                .unwrap_or_else(|| "the stream ended before its terminal event".into()),
                None => class.as_str().to_string(),
            };
            r = r.error(class, message);
        }
        if let Some(s) = self.status {
            r = r.status(s);
        }
        r = r.response_headers(resp_headers.iter().map(|h| (&h.name, &h.value)));
        if let Some(b) = self.response_body {
            r = r.response_body(b);
        }
        if let Some(s) = self.elapsed.filter(|s| s.is_finite() && *s >= 0.0) {
            r = r.elapsed(Duration::from_secs_f64(s));
        }
        // The request headers go in last: they carry the key, which the report masks.
        r = r.request_headers(req_headers.iter().map(|h| (&h.name, &h.value)));
        if let Some(k) = key {
            r = r.secret(k.clone()).api_key(k);
        }
        if let Some(how) = self.request_missing {
            r = r.request_not_captured(how);
        }
        Ok(r)
    }
}

/// Bundle options from a dict (the keyword arguments of the Python API); unknown keys are refused.
fn bundle_options(opts: Option<&Bound<'_, PyDict>>) -> PyResult<BundleOptions> {
    let mut bo = BundleOptions::default();
    // As the CLI: the environment's key and secret-looking variables are known secrets unless
    // `scan_env=False`; they are resolved here, at the edge (`with_env`, or the Recorder's `EnvSecrets`).
    let Some(d) = opts else { return Ok(bo) };
    for (k, v) in d.iter() {
        let k: String = k.extract()?;
        match k.as_str() {
            "output" => bo.output = v.extract::<Option<PathBuf>>()?,
            "out_dir" => bo.out_dir = v.extract()?,
            "force" => bo.force = v.extract()?,
            "logs" => bo.logs = v.extract()?,
            "secrets" => {
                bo.secrets = v
                    .extract::<Vec<String>>()?
                    .into_iter()
                    .map(SecretString::new)
                    .collect()
            }
            // The package is the Python side's edge: it reads the environment, the library does not.
            "scan_env" => bo.scan_env = v.extract()?,
            "redact_content" => bo.redact_content = v.extract()?,
            "cache_dir" => bo.cache_dir = v.extract::<Option<PathBuf>>()?,
            "max_size" => bo.max_size = v.extract::<Option<u64>>()?.filter(|&n| n > 0),
            "eml" => bo.eml = v.extract()?,
            other => {
                return Err(PyTypeError::new_err(format!(
                    "unknown bundle option {other:?}"
                )))
            }
        }
    }
    Ok(bo)
}

/// The options with the environment's secrets added when `scan_env` is on (for the one-shot calls; the
/// recorder takes them as `EnvSecrets`).
fn with_env(mut bo: BundleOptions) -> BundleOptions {
    if bo.scan_env {
        bo.known.extend(env_known());
    }
    bo
}

fn outcome_dict<'py>(py: Python<'py>, o: &Outcome) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", o.path.display().to_string())?;
    d.set_item("size", o.size)?;
    d.set_item("redactions", o.redactions)?;
    d.set_item(
        "summary",
        serde_json::to_string(&o.summary).map_err(|e| BundleError::new_err(e.to_string()))?,
    )?;
    d.set_item("eml", o.eml.as_ref().map(|p| p.display().to_string()))?;
    Ok(d)
}

fn stats_dict<'py>(py: Python<'py>, s: &RecorderStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("captured", s.captured)?;
    d.set_item("dropped", s.dropped)?;
    d.set_item("bundles_written", s.bundles_written)?;
    d.set_item("bundles_evicted", s.bundles_evicted)?;
    d.set_item("bundles_updated", s.bundles_updated)?;
    d.set_item("write_errors", s.write_errors)?;
    d.set_item("last_error", s.last_error.clone())?;
    Ok(d)
}

/// The storm-safe background writer: the first failure of a signature (endpoint, model, status, class) is
/// written at once, its repeats within the interval are counted into its `storm.json` at the next tick; every
/// bundle is listed in the spool's `index.jsonl`; a spool bounded by count and bytes. `capture` costs a few
/// microseconds and does no I/O; bundles are written on the recorder's own thread.
#[pyclass(module = "cohere_bundle._native", name = "Recorder", frozen)]
struct PyRecorder {
    inner: recorder::Recorder,
    dir: PathBuf,
    closed: AtomicBool,
    // Keeps the runtime the writer task runs on alive as long as the recorder.
    rt: Arc<tokio::runtime::Runtime>,
}

#[pymethods]
impl PyRecorder {
    #[new]
    #[pyo3(signature = (dir, *, interval=60.0, max_bundles=20, max_spool_bytes=200 * 1024 * 1024, queue=64, options=None))]
    fn new(
        dir: PathBuf,
        interval: f64,
        max_bundles: usize,
        max_spool_bytes: u64,
        queue: usize,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        if !(interval.is_finite() && interval > 0.0) {
            return Err(PyValueError::new_err(
                "interval must be a positive number of seconds",
            ));
        }
        let bundle = bundle_options(options)?;
        let env = if bundle.scan_env {
            recorder::EnvSecrets::from_known(env_known())
        } else {
            recorder::EnvSecrets::none()
        };
        let rt = runtime()?;
        let inner = recorder::Recorder::new(
            {
                let mut o = RecorderConfig::default();
                o.dir = dir.clone();
                o.interval = Duration::from_secs_f64(interval);
                o.max_bundles = max_bundles;
                o.max_spool_bytes = max_spool_bytes;
                o.queue = queue;
                o.bundle = bundle;
                // `close` and interpreter exit flush with their own bound.
                o.flush_on_drop = Duration::ZERO;
                o
            },
            env,
        )
        .map_err(to_py)?;
        Ok(PyRecorder {
            inner,
            dir,
            closed: AtomicBool::new(false),
            rt,
        })
    }

    /// The spool directory.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Takes one failed exchange; returns "queued" (the first of its signature in this interval), "counted"
    /// (a repeat) or "dropped" (queue full, or the recorder closed). Never blocks on I/O.
    #[pyo3(signature = (method, url, request_headers, request_body, status=None, response_headers=Vec::new(), response_body=None, error_class=None, error_message=None, elapsed=None))]
    #[allow(clippy::too_many_arguments)]
    fn capture(
        &self,
        method: String,
        url: String,
        request_headers: Vec<(String, String)>,
        request_body: Vec<u8>,
        status: Option<u16>,
        response_headers: Vec<(String, String)>,
        response_body: Option<Vec<u8>>,
        error_class: Option<String>,
        error_message: Option<String>,
        elapsed: Option<f64>,
    ) -> PyResult<&'static str> {
        let report = Exchange {
            method,
            url,
            request_headers,
            request_body,
            status,
            response_headers,
            response_body,
            error_class,
            error_message,
            elapsed,
            request_missing: None,
        }
        .report()?;
        if self.closed.load(Ordering::Relaxed) {
            return Ok("dropped");
        }
        Ok(match self.inner.capture(report) {
            Captured::Queued => "queued",
            Captured::Counted => "counted",
            Captured::Dropped => "dropped",
        })
    }

    /// Writes the bundles of every pending signature now and waits for them (at most `timeout` seconds;
    /// returns False when that ran out, the writing going on in the background).
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> bool {
        let rt = self.rt.clone();
        let inner = &self.inner;
        py.detach(|| {
            rt.block_on(async {
                match timeout.filter(|t| t.is_finite() && *t >= 0.0) {
                    Some(t) => tokio::time::timeout(Duration::from_secs_f64(t), inner.flush())
                        .await
                        .is_ok(),
                    None => {
                        inner.flush().await;
                        true
                    }
                }
            })
        })
    }

    /// The counters: captured, dropped, bundles_written, bundles_updated, bundles_evicted, write_errors, and
    /// last_error (the reason of the last write error, or None).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.inner.stats())
    }

    /// Flushes (at most `timeout` seconds) and takes no more failures; returns the final counters.
    #[pyo3(signature = (timeout=None))]
    fn close<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyDict>> {
        if !self.closed.swap(true, Ordering::Relaxed) {
            self.flush(py, timeout);
        }
        self.stats(py)
    }

    /// True once `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

/// Writes one bundle for a failed exchange now, on the calling thread (the GIL released); returns the outcome
/// as a dict (path, size, redactions, summary as JSON text, eml).
#[pyfunction]
#[pyo3(signature = (method, url, request_headers, request_body, status=None, response_headers=Vec::new(), response_body=None, error_class=None, error_message=None, elapsed=None, options=None, request_missing=None))]
#[allow(clippy::too_many_arguments)]
fn write_report<'py>(
    py: Python<'py>,
    method: String,
    url: String,
    request_headers: Vec<(String, String)>,
    request_body: Vec<u8>,
    status: Option<u16>,
    response_headers: Vec<(String, String)>,
    response_body: Option<Vec<u8>>,
    error_class: Option<String>,
    error_message: Option<String>,
    elapsed: Option<f64>,
    options: Option<&Bound<'py, PyDict>>,
    request_missing: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let report = Exchange {
        method,
        url,
        request_headers,
        request_body,
        status,
        response_headers,
        response_body,
        error_class,
        error_message,
        elapsed,
        request_missing,
    }
    .report()?;
    let bo = with_env(bundle_options(options)?);
    let rt = runtime()?;
    let outcome = py
        .detach(|| rt.block_on(report.write(&bo)))
        .map_err(to_py)?;
    outcome_dict(py, &outcome)
}

/// Replays a request (bytes of a JSON body, an envelope, a HAR file or a curl command; or a file path) and
/// writes a bundle; returns the outcome as a dict, like `write_report`.
#[pyfunction]
#[pyo3(signature = (*, data=None, path=None, name="request.json".to_string(), endpoint=None, har_entry=None, base_url=None, api_key=None, timeout=120.0, platform=None, no_key=false, options=None))]
#[allow(clippy::too_many_arguments)]
fn replay<'py>(
    py: Python<'py>,
    data: Option<Vec<u8>>,
    path: Option<PathBuf>,
    name: String,
    endpoint: Option<String>,
    har_entry: Option<usize>,
    base_url: Option<String>,
    api_key: Option<String>,
    timeout: f64,
    platform: Option<String>,
    no_key: bool,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let endpoint = endpoint
        .map(|e| {
            Endpoint::from_name(&e)
                .ok_or_else(|| InputError::new_err(format!("endpoint: unknown endpoint {e:?}")))
        })
        .transpose()?;
    let platform = platform
        .map(|p| {
            Platform::from_name(&p)
                .ok_or_else(|| InputError::new_err(format!("platform: unknown platform {p:?}")))
        })
        .transpose()?;
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= 86_400.0) {
        return Err(PyValueError::new_err(
            "timeout must be above 0 and at most one day (in seconds)",
        ));
    }
    let po = {
        let mut o = ParseOptions::default();
        o.endpoint = endpoint;
        o.har_entry = har_entry;
        o
    };
    let req = match (data, path) {
        (Some(d), None) => cohere_bundle_core::input::request::parse_request(&name, &d, &po),
        (None, Some(p)) => cohere_bundle_core::input::request::read_request_file(&p, &po),
        _ => return Err(PyTypeError::new_err("give exactly one of data= and path=")),
    }
    .map_err(to_py)?;
    let ro = {
        let mut o = ReplayOptions::default();
        o.base_url = base_url;
        o.api_key = api_key.map(SecretString::new).or_else(env_api_key);
        o.timeout = Duration::from_secs_f64(timeout);
        o.platform = platform;
        o.no_key = no_key;
        o.net = Default::default();
        o
    };
    let bo = with_env(bundle_options(options)?);
    pipeline::preflight(&bo).map_err(to_py)?;
    pipeline::replay_key(&ro, &req).map_err(to_py)?;
    let rt = runtime()?;
    let outcome = py
        .detach(|| {
            rt.block_on(pipeline::replay(
                req,
                &ro,
                &bo,
                cohere_bundle_core::summary::Mode::Replay,
            ))
        })
        .map_err(to_py)?;
    outcome_dict(py, &outcome)
}

/// The known secrets: the given values, plus (with `scan_env`) the API key and secret-looking variables of
/// the environment.
fn known(secrets: Vec<String>, scan_env: bool) -> Vec<KnownSecret> {
    let mut known: Vec<KnownSecret> = secrets
        .into_iter()
        .map(|s| KnownSecret::new("secret", s))
        .collect();
    if scan_env {
        known.extend(env_known());
    }
    known
}

/// `CO_API_KEY`, else `COHERE_API_KEY`, as the binary's edge reads it.
fn env_api_key() -> Option<SecretString> {
    settings::EnvSettings::read().api_key
}

/// The environment's key and the values of its secret-looking variables, as the binary's edge reads them.
fn env_known() -> Vec<KnownSecret> {
    let env = settings::EnvSettings::read();
    let mut known: Vec<KnownSecret> = env
        .api_key
        .map(|k| vec![KnownSecret::new("cohere-key", k)])
        .unwrap_or_default();
    known.extend(env.secrets);
    known
}

/// Scrubs a text: known secrets in every encoding, credential structures and token shapes.
#[pyfunction]
#[pyo3(signature = (text, secrets=Vec::new(), *, scan_env=true, redact_content=false))]
fn scrub(
    py: Python<'_>,
    text: &str,
    secrets: Vec<String>,
    scan_env: bool,
    redact_content: bool,
) -> String {
    let known = known(secrets, scan_env);
    py.detach(|| {
        Scrubber::new({
            let mut o = ScrubOptions::default();
            o.known = known;
            o.redact_content = redact_content;
            o
        })
        .scrub_str("text", text)
    })
}

/// Checks a bundle (manifest sizes and checksums, summary.json, known secrets in every encoding); returns
/// {path, members_checked, secrets_searched} or raises VerifyError.
#[pyfunction]
#[pyo3(signature = (path, secrets=Vec::new(), *, scan_env=true))]
fn verify<'py>(
    py: Python<'py>,
    path: PathBuf,
    secrets: Vec<String>,
    scan_env: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let known = known(secrets, scan_env);
    let n = known.len();
    let r = py
        .detach(|| {
            let scrubber = Scrubber::new({
                let mut o = ScrubOptions::default();
                o.known = known;
                o.redact_content = false;
                o
            });
            cohere_bundle_core::bundle::verify(&path, &scrubber, n)
        })
        .map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("path", r.path)?;
    d.set_item("members_checked", r.members_checked)?;
    d.set_item("secrets_searched", r.secrets_searched)?;
    Ok(d)
}

/// Why a stream response failed (it ended before its terminal event, or carried an error), or None when it
/// is complete and sound.
#[pyfunction]
fn judge_stream(status: u16, headers: Vec<(String, String)>, body: &[u8]) -> Option<String> {
    stream_verdict(status, &self::headers(headers), body)
}

/// The recorder's bundles in `dir`, oldest first: (zip path, bytes of the zip and its draft).
#[pyfunction]
fn spool(dir: PathBuf) -> Vec<(String, u64)> {
    recorder::spool(&dir)
        .into_iter()
        .map(|(p, n)| (p.display().to_string(), n))
        .collect()
}

/// Runs the `cohere-bundle` command line with `argv` (argv[0] is the program name); returns the exit code.
/// Exactly the binary's CLI: the same source files, compiled into this module.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| cli::run_args(&argv))
}

/// The Rust side of the `cohere_bundle` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyRecorder>()?;
    m.add_function(wrap_pyfunction!(write_report, m)?)?;
    m.add_function(wrap_pyfunction!(replay, m)?)?;
    m.add_function(wrap_pyfunction!(scrub, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(judge_stream, m)?)?;
    m.add_function(wrap_pyfunction!(spool, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add("BundleError", py.get_type::<BundleError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("LeakError", py.get_type::<LeakError>())?;
    m.add("VerifyError", py.get_type::<VerifyError>())?;
    m.add("UnreachableError", py.get_type::<UnreachableError>())?;
    m.add("TOOL", cohere_bundle_core::TOOL)?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    m.add("DEMO_KEY", cohere_bundle_simulator::DEMO_KEY)?;
    m.add("SPOOL_PREFIX", recorder::SPOOL_PREFIX)?;
    m.add("INDEX_FILE", recorder::INDEX_FILE)?;
    m.add(
        "DEFAULT_MAX_SIZE",
        cohere_bundle_core::bundle::email::DEFAULT_MAX_SIZE,
    )?;
    m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
    Ok(())
}
