//! Entry point. Error-storm-safe capture for services: [`Recorder::capture`] is cheap on the calling task (a signature, a
//! mutex-guarded counter and at most one `try_send`; no I/O, no serialisation) and bundles are written by a
//! background writer on its own thread, so the service's runtime neither does the work nor can cancel it.
//!
//! Failures are grouped by [`Signature`] (endpoint, model, status, class). The first failure of a signature is
//! written at once; repeats within the interval are only counted, and at the next tick the counts are written
//! into that bundle's `storm.json` (first and last seen, how many failures it stands for). Each bundle is
//! announced to [`RecorderConfig::on_written`] and listed in [`INDEX_FILE`] in the spool. The spool is kept
//! within `max_bundles` and `max_spool_bytes`: the first and the newest bundle of each signature go last.
//! Dropping the last handle writes what is pending, waiting at most [`RecorderConfig::flush_on_drop`].
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use cohere_bundle_core::library::FailureReport;
//! use cohere_bundle_core::recorder::{
//!     index, spool, Captured, EnvSecrets, OnWritten, Recorder, RecorderConfig, SPOOL_PREFIX,
//! };
//! use cohere_bundle_core::Endpoint;
//!
//! # #[tokio::main]
//! # async fn main() -> cohere_bundle_core::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let mut config = RecorderConfig::default();
//! config.dir = dir.path().join("spool");
//! config.interval = Duration::from_secs(3600);
//! config.flush_on_drop = Duration::from_secs(5);
//! config.on_written = Some(OnWritten::new({
//!     let seen = seen.clone();
//!     move |b| seen.lock().unwrap().push((b.path.clone(), b.summary.status))
//! }));
//! // The environment's secrets are resolved here, at the service's edge: the library reads no environment.
//! let recorder = Recorder::new(config, EnvSecrets::from_process())?;
//! let handle = recorder.handle(); // a clone: keep one when the recorder goes into a client
//! let failure = || {
//!     FailureReport::new(Endpoint::ChatV2, serde_json::json!({"model": "command-r", "messages": []}))
//!         .status(404)
//!         .response_body(r#"{"message":"model 'command-r' not found"}"#)
//! };
//! // In the error handler: cheap, no I/O. The first is written at once in the background.
//! assert_eq!(recorder.capture(failure()), Captured::Queued);
//! assert_eq!(handle.capture(failure()), Captured::Counted);
//!
//! // Write the counts now rather than at the next tick.
//! handle.flush().await;
//! let bundles = spool(&dir.path().join("spool"));
//! assert_eq!(bundles.len(), 1);
//! let name = bundles[0].0.file_name().unwrap().to_string_lossy().into_owned();
//! assert!(name.starts_with(SPOOL_PREFIX) && bundles[0].1 > 0);
//! assert_eq!(seen.lock().unwrap()[0], (bundles[0].0.clone(), Some(404)));
//! let lines = index(&dir.path().join("spool"));
//! assert_eq!((lines[0]["event"].as_str(), lines[0]["status"].as_u64()), (Some("written"), Some(404)));
//! assert_eq!(lines.last().unwrap()["count"], 2);
//! let stats = handle.stats();
//! assert_eq!((stats.captured, stats.bundles_written, stats.write_errors), (2, 1, 0));
//! assert_eq!(stats.last_error, None);
//! drop(recorder);
//! let stats = handle.shutdown().await;
//! assert_eq!(stats.dropped, 0);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::bundle::Member;
use crate::error::{Error, Result};
use crate::library::{FailureReport, Signature};
use crate::pipeline::{BundleOptions, Outcome};
use crate::scrub::KnownSecret;
use crate::summary::Summary;

/// Prefix of the bundles a recorder writes (only files with it are counted and evicted).
///
/// See the [module example](crate::recorder).
pub const SPOOL_PREFIX: &str = "cohere-support-";

/// The spool's list of bundles, one JSON object a line (see [`index`]).
///
/// See the [module example](crate::recorder).
pub const INDEX_FILE: &str = "index.jsonl";

/// Above this size the index is compacted to the last line of each bundle still in the spool.
const INDEX_MAX_BYTES: u64 = 512 * 1024;

/// How a [`Recorder`] works.
///
/// See the [module example](crate::recorder).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecorderConfig {
    /// The spool directory (created if missing).
    pub dir: PathBuf,
    /// Repeats of a signature within this interval are counted into its bundle, written at the next tick.
    pub interval: Duration,
    /// At most this many bundles are kept in `dir` (see [`RecorderConfig::max_spool_bytes`] for which go).
    pub max_bundles: usize,
    /// At most this many bytes of bundles (and drafts) are kept in `dir`. Other bundles go first, oldest
    /// first; then the newest of each signature; the first of each signature last. Each bundle's size budget
    /// is at most this too.
    pub max_spool_bytes: u64,
    /// Capacity of the queue of new signatures; a capture that finds it full is dropped and counted.
    pub queue: usize,
    /// Options for every bundle (`output`, `out_dir` and `force` are ignored).
    pub bundle: BundleOptions,
    /// How long dropping the last handle waits for pending bundles to be written (default 5 s; zero: no
    /// wait, the writer goes on while the process lives). `shutdown` waits without a bound.
    pub flush_on_drop: Duration,
    /// Called on the writer's thread after each bundle is written (not after its counts are updated).
    pub on_written: Option<OnWritten>,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            dir: PathBuf::from("cohere-support"),
            interval: Duration::from_secs(60),
            max_bundles: 20,
            max_spool_bytes: 200 * 1024 * 1024,
            queue: 64,
            bundle: BundleOptions::default(),
            flush_on_drop: Duration::from_secs(5),
            on_written: None,
        }
    }
}

/// A bundle the recorder wrote, as [`RecorderConfig::on_written`] receives it.
///
/// See the [module example](crate::recorder).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WrittenBundle {
    /// The zip.
    pub path: PathBuf,
    /// The summary written into it.
    pub summary: Summary,
    /// The failure signature it stands for.
    pub signature: Signature,
    /// Failures of that signature counted when it was written (the final count follows at the next tick).
    pub count: u64,
}

/// The callback of [`RecorderConfig::on_written`]. It runs on the writer's thread: keep it short.
///
/// See the [module example](crate::recorder).
#[derive(Clone)]
pub struct OnWritten(Arc<dyn Fn(&WrittenBundle) + Send + Sync>);

impl OnWritten {
    /// Wraps a callback.
    ///
    /// See the [module example](crate::recorder).
    pub fn new(f: impl Fn(&WrittenBundle) + Send + Sync + 'static) -> Self {
        OnWritten(Arc::new(f))
    }
}

impl std::fmt::Debug for OnWritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnWritten(..)")
    }
}

/// The environment's secrets, resolved by the caller at its edge and given to [`Recorder::new`]: the library
/// reads no environment itself. With [`BundleOptions::scan_env`] on (the default) they are scrubbed from
/// every bundle; off, they are left out.
///
/// ```
/// use cohere_bundle_core::recorder::EnvSecrets;
/// use cohere_bundle_core::{KnownSecret, SecretString};
///
/// // In the service's `main`: the values of secret-looking variables (`*_KEY`, `*_TOKEN`, `CO_API_KEY`, …).
/// std::env::set_var("MY_SERVICE_TOKEN", "t0k3n-value-9876");
/// let env = EnvSecrets::from_process();
/// assert!(env.known().iter().any(|k| k.value.expose() == "t0k3n-value-9876"));
/// // Or resolved another way (a secret manager), or none on purpose.
/// let env = EnvSecrets::from_known([KnownSecret::new("vault", SecretString::new("db-pass-1234"))]);
/// assert_eq!(env.known().len(), 1);
/// assert!(EnvSecrets::none().known().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct EnvSecrets(Vec<KnownSecret>);

impl EnvSecrets {
    /// Reads this process's environment now (see [`crate::scrub::secrets_from_env`]): an explicit helper for
    /// the caller's edge, as the binary's `settings.rs` and the Python package's `_native` do.
    ///
    /// Example: [`EnvSecrets`].
    pub fn from_process() -> Self {
        EnvSecrets(crate::scrub::secrets_from_env())
    }

    /// Secrets the caller resolved itself.
    ///
    /// Example: [`EnvSecrets`].
    pub fn from_known(known: impl IntoIterator<Item = KnownSecret>) -> Self {
        EnvSecrets(known.into_iter().collect())
    }

    /// No environment secrets, on purpose.
    ///
    /// Example: [`EnvSecrets`].
    pub fn none() -> Self {
        EnvSecrets(Vec::new())
    }

    /// The secrets.
    ///
    /// Example: [`EnvSecrets`].
    pub fn known(&self) -> &[KnownSecret] {
        &self.0
    }
}

/// What [`Recorder::capture`] did with a failure.
///
/// See the [module example](crate::recorder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captured {
    /// The first of its signature in this interval: queued, to be written at once.
    Queued,
    /// A repeat of a signature already queued: counted only.
    Counted,
    /// The queue was full (or the recorder stopped): dropped and counted.
    Dropped,
}

/// Counters of a recorder.
///
/// See the [module example](crate::recorder).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecorderStats {
    /// Failures given to [`Recorder::capture`].
    pub captured: u64,
    /// Failures dropped because the queue was full.
    pub dropped: u64,
    /// Bundles written.
    pub bundles_written: u64,
    /// Bundles whose counts were updated at a tick.
    pub bundles_updated: u64,
    /// Bundles removed from the spool to keep it within bounds.
    pub bundles_evicted: u64,
    /// Bundles that could not be written (or updated, or listed in the index).
    pub write_errors: u64,
    /// The reason of the last write error.
    pub last_error: Option<String>,
}

struct Group {
    count: u64,
    first: SystemTime,
    last: SystemTime,
}

#[derive(Default)]
struct Shared {
    groups: Mutex<HashMap<Signature, Group>>,
    captured: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    updated: AtomicU64,
    evicted: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    /// Counts a write error and keeps its reason; logged through `tracing` (the library prints nothing).
    fn error(&self, what: &str, e: &dyn std::fmt::Display) {
        let reason = format!("{what}: {e}");
        tracing::warn!(target: "cohere_bundle_core::recorder", error = %reason, "support bundle not written");
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }
}

enum Control {
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

type Queue = mpsc::Sender<(Signature, FailureReport)>;

struct Inner {
    tx: Option<Queue>,
    ctl: Option<mpsc::Sender<Control>>,
    shared: Arc<Shared>,
    /// Disconnected when the writer thread ends.
    done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    flush_on_drop: Duration,
    pid: u32,
}

impl Drop for Inner {
    /// Closing the queues tells the writer to write what is pending and stop; this waits for it, at most
    /// `flush_on_drop`. The writer runs on its own thread, so the wait works on any runtime or none, and a
    /// runtime shutting down next cannot cancel the writing. In a child after `fork` the writer thread does
    /// not exist: no wait.
    fn drop(&mut self) {
        self.tx.take();
        self.ctl.take();
        if self.pid != std::process::id() || self.flush_on_drop.is_zero() {
            return;
        }
        let Some(done) = self
            .done
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let wait = || {
            let _ = done.recv_timeout(self.flush_on_drop);
        };
        match tokio::runtime::Handle::try_current() {
            // On a worker of a multi-thread runtime, its other tasks move to other workers meanwhile.
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }
}

/// A background bundle writer for services. Cloning it (or [`Recorder::handle`]) gives another handle on the
/// same writer; when the last handle is dropped, pending bundles are written (see
/// [`RecorderConfig::flush_on_drop`]).
///
/// See the [module example](crate::recorder).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Recorder {
    /// Creates the spool directory and starts the writer thread. `env` is the environment's secrets as the
    /// caller resolved them, scrubbed from every bundle while `config.bundle.scan_env` is on. Fails when the
    /// directory cannot be created or a bound is zero. Needs no tokio runtime.
    ///
    /// See the [module example](crate::recorder).
    pub fn new(mut config: RecorderConfig, env: EnvSecrets) -> Result<Recorder> {
        if config.max_bundles == 0 || config.max_spool_bytes == 0 || config.queue == 0 {
            return Err(Error::input(
                "RecorderConfig",
                "max_bundles, max_spool_bytes and queue must be above zero",
            ));
        }
        if config.interval.is_zero() {
            return Err(Error::input(
                "RecorderConfig.interval",
                "must be above zero",
            ));
        }
        std::fs::create_dir_all(&config.dir).map_err(|e| Error::io(&config.dir, e))?;
        if config.bundle.scan_env {
            config.bundle.known.extend(env.0);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the recorder's runtime: {e}")))?;
        let (tx, rx) = mpsc::channel(config.queue);
        let (ctl, ctl_rx) = mpsc::channel(4);
        let (done_tx, done) = std::sync::mpsc::channel::<()>();
        let shared = Arc::new(Shared::default());
        let flush_on_drop = config.flush_on_drop;
        let writer = Writer::new(config, shared.clone());
        std::thread::Builder::new()
            .name("cohere-bundle-recorder".into())
            .spawn(move || {
                rt.block_on(writer.run(rx, ctl_rx));
                drop(done_tx);
            })
            .map_err(|e| Error::Other(format!("cannot start the recorder's thread: {e}")))?;
        Ok(Recorder {
            inner: Arc::new(Inner {
                tx: Some(tx),
                ctl: Some(ctl),
                shared,
                done: Mutex::new(Some(done)),
                flush_on_drop,
                pid: std::process::id(),
            }),
        })
    }

    /// Another handle on the same recorder (a cheap clone): keep one when the recorder goes into a client,
    /// e.g. `RecordFailures::new(recorder)`, to flush it or read its counters.
    ///
    /// See the [module example](crate::recorder).
    pub fn handle(&self) -> Recorder {
        self.clone()
    }

    /// Takes a failure. Cheap and never blocks: computes its signature; a repeat within the interval is only
    /// counted, a new signature is queued for the writer (`try_send`; dropped and counted when full).
    ///
    /// See the [module example](crate::recorder).
    pub fn capture(&self, failure: FailureReport) -> Captured {
        let shared = &self.inner.shared;
        shared.captured.fetch_add(1, Ordering::Relaxed);
        let sig = failure.signature();
        let now = SystemTime::now();
        let mut groups = shared.groups.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = groups.get_mut(&sig) {
            g.count += 1;
            g.last = now;
            return Captured::Counted;
        }
        let sent = match &self.inner.tx {
            Some(tx) => tx.try_send((sig.clone(), failure)).is_ok(),
            None => false,
        };
        if !sent {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Captured::Dropped;
        }
        let group = Group {
            count: 1,
            first: now,
            last: now,
        };
        groups.insert(sig, group);
        Captured::Queued
    }

    /// The counters so far, and the reason of the last write error.
    ///
    /// See the [module example](crate::recorder).
    pub fn stats(&self) -> RecorderStats {
        let s = &self.inner.shared;
        RecorderStats {
            captured: s.captured.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            bundles_written: s.written.load(Ordering::Relaxed),
            bundles_updated: s.updated.load(Ordering::Relaxed),
            bundles_evicted: s.evicted.load(Ordering::Relaxed),
            write_errors: s.errors.load(Ordering::Relaxed),
            last_error: s
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Writes what is queued and the counts of every signature now (as a tick does), and waits for it. Any
    /// runtime will do: the writing happens on the recorder's own thread.
    ///
    /// See the [module example](crate::recorder).
    pub async fn flush(&self) {
        self.control(Control::Flush).await;
    }

    /// Writes what is pending, stops the writer and returns the final counters; other handles' captures are
    /// dropped from then on.
    ///
    /// See the [module example](crate::recorder).
    pub async fn shutdown(self) -> RecorderStats {
        self.control(Control::Shutdown).await;
        self.stats()
    }

    async fn control(&self, c: fn(oneshot::Sender<()>) -> Control) {
        let Some(ctl) = &self.inner.ctl else { return };
        let (tx, rx) = oneshot::channel();
        if ctl.send(c(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// A bundle written in this interval, whose counts the next tick writes into it.
struct Open {
    path: PathBuf,
    written_count: u64,
    summary: Summary,
}

/// The writer: owns the open bundles; runs on the recorder's thread.
struct Writer {
    config: RecorderConfig,
    shared: Arc<Shared>,
    open: HashMap<Signature, Open>,
    seq: u64,
}

impl Writer {
    fn new(config: RecorderConfig, shared: Arc<Shared>) -> Writer {
        Writer {
            config,
            shared,
            open: HashMap::new(),
            seq: 0,
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<(Signature, FailureReport)>,
        mut ctl: mpsc::Receiver<Control>,
    ) {
        let interval = self.config.interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopped = None;
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some((sig, report)) => self.first(sig, report).await,
                    None => break,
                },
                _ = ticker.tick() => self.tick(&mut rx).await,
                c = ctl.recv() => {
                    self.tick(&mut rx).await;
                    match c {
                        Some(Control::Flush(done)) => { let _ = done.send(()); }
                        Some(Control::Shutdown(done)) => { stopped = Some(done); break; }
                        None => break,
                    }
                }
            }
        }
        // Stopping (the last handle dropped, or shutdown): what is still queued, then the counts.
        rx.close();
        self.tick(&mut rx).await;
        if let Some(done) = stopped {
            let _ = done.send(());
        }
    }

    /// Writes the queued first failures, then the counts of every signature into its bundle; the interval
    /// of every signature ends (its next failure is written at once).
    async fn tick(&mut self, rx: &mut mpsc::Receiver<(Signature, FailureReport)>) {
        while let Ok((sig, report)) = rx.try_recv() {
            self.first(sig, report).await;
        }
        let groups =
            std::mem::take(&mut *self.shared.groups.lock().unwrap_or_else(|p| p.into_inner()));
        let dropped = self.shared.dropped.load(Ordering::Relaxed);
        for (sig, g) in groups {
            let Some(open) = self.open.remove(&sig) else {
                continue;
            };
            if g.count <= open.written_count || !open.path.exists() {
                continue;
            }
            let counts = Counts {
                count: g.count,
                last: g.last,
                dropped,
            };
            match update_counts(&open.path, &counts, &self.config.bundle, &open.summary) {
                Ok(()) => {
                    self.shared.updated.fetch_add(1, Ordering::Relaxed);
                    self.index(
                        "counts",
                        &sig,
                        g.count,
                        Some(&open.path),
                        Some(&open.summary),
                        None,
                    );
                }
                Err(e) => self.shared.error(&open.path.display().to_string(), &e),
            }
        }
        self.open.clear();
    }

    /// Writes the bundle of the first failure of a signature at once, with the count so far.
    async fn first(&mut self, sig: Signature, report: FailureReport) {
        let (count, first, last) = {
            let groups = self.shared.groups.lock().unwrap_or_else(|p| p.into_inner());
            let now = SystemTime::now();
            groups
                .get(&sig)
                .map_or((1, now, now), |g| (g.count, g.first, g.last))
        };
        self.seq += 1;
        let name = bundle_name(&sig, self.seq);
        let storm = storm_json(&sig, count, first, last, &self.config, &self.shared);
        let bo = self.options(&name, storm);
        // A panic in the pipeline is a write error of this bundle, not the end of the writer.
        let written = std::panic::AssertUnwindSafe(report.write(&bo))
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(Error::Other(format!("panicked: {}", panic_text(&*p)))));
        match written {
            Ok(outcome) => self.written(sig, count, outcome),
            Err(e) => {
                self.shared.error(&name, &e);
                let reason = e.to_string();
                self.index("write_failed", &sig, count, None, None, Some(&reason));
            }
        }
        let evicted = enforce_bounds(
            &self.config.dir,
            self.config.max_bundles,
            self.config.max_spool_bytes,
        );
        self.shared
            .evicted
            .fetch_add(evicted.len() as u64, Ordering::Relaxed);
    }

    fn written(&mut self, sig: Signature, count: u64, outcome: Outcome) {
        self.shared.written.fetch_add(1, Ordering::Relaxed);
        self.index(
            "written",
            &sig,
            count,
            Some(&outcome.path),
            Some(&outcome.summary),
            None,
        );
        if let Some(cb) = &self.config.on_written {
            let b = WrittenBundle {
                path: outcome.path.clone(),
                summary: outcome.summary.clone(),
                signature: sig.clone(),
                count,
            };
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (cb.0)(&b))) {
                let e = format!("panicked: {}", panic_text(&*p));
                self.shared.error("on_written", &e);
            }
        }
        let open = Open {
            path: outcome.path,
            written_count: count,
            summary: outcome.summary,
        };
        self.open.insert(sig, open);
    }

    /// The options of one bundle: its path in the spool, its share of the spool's bytes, `storm.json`.
    fn options(&self, name: &str, storm: serde_json::Value) -> BundleOptions {
        let config = &self.config;
        let mut bo = config.bundle.clone();
        bo.output = Some(config.dir.join(name));
        bo.force = false;
        let share = if bo.eml {
            config.max_spool_bytes / 3
        } else {
            config.max_spool_bytes
        };
        bo.max_size = Some(
            bo.max_size
                .unwrap_or(u64::MAX)
                .min(share)
                .max(crate::bundle::fit::MIN_MAX_SIZE),
        );
        bo.extra_members.push(Member::text(
            "storm.json",
            serde_json::to_string_pretty(&storm).unwrap_or_default() + "\n",
        ));
        bo
    }

    /// Appends one line to the spool's index; a failure to do so is a write error too.
    fn index(
        &self,
        event: &str,
        sig: &Signature,
        count: u64,
        path: Option<&Path>,
        summary: Option<&Summary>,
        error: Option<&str>,
    ) {
        let cause = summary
            .and_then(|s| s.causes.first())
            .and_then(|c| serde_json::to_value(c.code).ok());
        let line = serde_json::json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "event": event,
            "signature": sig,
            "count": count,
            "path": path.map(|p| p.display().to_string()),
            "status": summary.and_then(|s| s.status).or(sig.status),
            "cause": cause,
            "error": error,
        });
        if let Err(e) = append_index(&self.config.dir, &line) {
            self.shared.error(INDEX_FILE, &e);
        }
    }
}

/// The message of a panic's payload.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// `cohere-support-<UTC time>-<status or class>-<signature digest>-<seq>.zip`.
fn bundle_name(sig: &Signature, seq: u64) -> String {
    let when = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let what = sig
        .status
        .map(|s| s.to_string())
        .or(sig.class.map(|c| c.as_str().to_string()))
        .unwrap_or_else(|| "ok".into());
    format!("{SPOOL_PREFIX}{when}-{what}-{}-{seq}.zip", sig.digest())
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn storm_note(count: u64) -> String {
    format!("this bundle stands for {count} failure(s) with the same signature; only the first is recorded")
}

fn storm_json(
    sig: &Signature,
    count: u64,
    first: SystemTime,
    last: SystemTime,
    config: &RecorderConfig,
    shared: &Shared,
) -> serde_json::Value {
    serde_json::json!({
        "signature": sig,
        "count": count,
        "first_seen": rfc3339(first),
        "last_seen": rfc3339(last),
        "interval_s": config.interval.as_secs_f64(),
        "dropped_so_far": shared.dropped.load(Ordering::Relaxed),
        "note": storm_note(count),
    })
}

/// The counts a tick writes into a bundle.
struct Counts {
    count: u64,
    last: SystemTime,
    dropped: u64,
}

/// Writes the counts into a bundle's `storm.json` (and the manifest's entry for it); every other member is
/// copied as it was, already scrubbed. The zip is replaced atomically and keeps its modification time (its
/// place in the spool's order); an email draft beside it is written again with the new zip.
fn update_counts(path: &Path, c: &Counts, bo: &BundleOptions, summary: &Summary) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path, e);
    let file = std::fs::File::open(path).map_err(io)?;
    let modified = file.metadata().and_then(|m| m.modified()).map_err(io)?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))?;
    let mut storm: serde_json::Value = serde_json::from_str(&read_member(&mut zip, "storm.json")?)
        .map_err(|e| Error::Other(format!("storm.json: {e}")))?;
    storm["count"] = c.count.into();
    storm["last_seen"] = rfc3339(c.last).into();
    storm["dropped_so_far"] = c.dropped.into();
    storm["note"] = storm_note(c.count).into();
    let storm = serde_json::to_string_pretty(&storm).unwrap_or_default() + "\n";
    let mut manifest: crate::bundle::Manifest =
        serde_json::from_str(&read_member(&mut zip, "manifest.json")?)
            .map_err(|e| Error::Other(format!("manifest.json: {e}")))?;
    for e in manifest
        .members
        .iter_mut()
        .filter(|e| e.name == "storm.json")
    {
        use sha2::Digest;
        e.size = storm.len() as u64;
        e.sha256 = hex::encode(sha2::Sha256::digest(storm.as_bytes()));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".storm-")
        .suffix(".zip.tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    let mut out = zip::ZipWriter::new(std::io::BufWriter::new(
        tmp.as_file().try_clone().map_err(io)?,
    ));
    for i in 0..zip.len() {
        let m = zip.by_index_raw(i)?;
        if m.name() != "storm.json" && m.name() != "manifest.json" {
            out.raw_copy_file(m)?;
        }
    }
    let options = zip::write::SimpleFileOptions::default()
        .last_modified_time(crate::bundle::zip_time(chrono::Local::now().naive_local()))
        .compression_method(zip::CompressionMethod::Deflated);
    let man = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    for (name, text) in [("storm.json", &storm), ("manifest.json", &man)] {
        out.start_file(name, options)?;
        out.write_all(text.as_bytes()).map_err(io)?;
    }
    out.finish()?.flush().map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    let _ = std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(modified));
    redraft(path, bo, summary)
}

/// One member as text, at most 4 MiB of it.
fn read_member<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<String> {
    let m = zip.by_name(name)?;
    let mut s = String::new();
    m.take(4 << 20)
        .read_to_string(&mut s)
        .map_err(|e| Error::Other(format!("{name}: {e}")))?;
    Ok(s)
}

/// Writes the email draft beside an updated zip again, when there is one (it attaches the zip).
#[cfg(feature = "email")]
fn redraft(path: &Path, bo: &BundleOptions, summary: &Summary) -> Result<()> {
    let eml = crate::bundle::email::eml_path(path);
    if !eml.exists() {
        return Ok(());
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(f))?;
    let md = read_member(&mut zip, "report.md")?;
    let html = read_member(&mut zip, "report.html").ok();
    crate::bundle::email::write_eml(
        summary,
        path,
        &md,
        html.as_deref(),
        bo.email_from.as_deref(),
        &eml,
    )?;
    Ok(())
}

#[cfg(not(feature = "email"))]
fn redraft(_: &Path, _: &BundleOptions, _: &Summary) -> Result<()> {
    Ok(())
}

/// Appends a line to the index, compacting the index first when it grew past its bound.
fn append_index(dir: &Path, line: &serde_json::Value) -> std::io::Result<()> {
    let path = dir.join(INDEX_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > INDEX_MAX_BYTES) {
        compact_index(dir, &path)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// Keeps the last line of each bundle still in the spool.
fn compact_index(dir: &Path, path: &Path) -> std::io::Result<()> {
    let present: std::collections::HashSet<String> = spool(dir)
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let mut last: Vec<(String, serde_json::Value)> = Vec::new();
    for v in index(dir) {
        let Some(p) = v["path"].as_str().filter(|p| present.contains(*p)) else {
            continue;
        };
        let p = p.to_string();
        last.retain(|(q, _)| *q != p);
        last.push((p, v));
    }
    let text: String = last.iter().map(|(_, v)| format!("{v}\n")).collect();
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(path).map(drop).map_err(|e| e.error)
}

/// The spool's index, oldest line first: one object per event with `time` (RFC 3339, UTC), `event`
/// (`written`, `counts` when a tick wrote the counts, `write_failed`), `signature`, `count`, `path` (null when
/// the write failed), `status`, `cause` (the first cause code, if any) and `error` (the reason of a failed
/// write). Unreadable lines are skipped.
///
/// See the [module example](crate::recorder).
pub fn index(dir: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(dir.join(INDEX_FILE)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The recorder's bundles in `dir`, oldest first: (zip path, bytes of the zip and its draft).
///
/// See the [module example](crate::recorder).
pub fn spool(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(SystemTime, PathBuf, u64)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(SPOOL_PREFIX) && n.ends_with(".zip")
        })
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            let p = e.path();
            let eml = std::fs::metadata(crate::bundle::email::eml_path(&p))
                .map(|m| m.len())
                .unwrap_or(0);
            Some((
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                p,
                m.len() + eml,
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    out.into_iter().map(|(_, p, n)| (p, n)).collect()
}

/// The signature digest in a bundle's file name (`…-<digest>-<seq>.zip`).
fn digest_of(p: &Path) -> String {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts = n.trim_end_matches(".zip").rsplit('-');
    parts.next();
    parts.next().unwrap_or_default().to_string()
}

/// Removes bundles until at most `max_bundles` remain within `max_bytes`; returns those removed. Which go
/// first: bundles that are neither the first nor the newest of their signature, oldest first; then the
/// newest of each signature; the first of each signature last.
pub(crate) fn enforce_bounds(dir: &Path, max_bundles: usize, max_bytes: u64) -> Vec<PathBuf> {
    let list = spool(dir);
    let mut total: u64 = list.iter().map(|(_, n)| n).sum();
    let mut count = list.len();
    if count <= max_bundles && total <= max_bytes {
        return Vec::new();
    }
    let digests: Vec<String> = list.iter().map(|(p, _)| digest_of(p)).collect();
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut newest: HashMap<&str, usize> = HashMap::new();
    for (i, d) in digests.iter().enumerate() {
        first.entry(d).or_insert(i);
        newest.insert(d, i);
    }
    let rank = |i: usize| {
        let d = digests[i].as_str();
        if first[d] == i {
            2
        } else if newest[d] == i {
            1
        } else {
            0
        }
    };
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by_key(|&i| (rank(i), i));
    let mut evicted = Vec::new();
    for i in order {
        if count <= max_bundles && total <= max_bytes {
            break;
        }
        let (p, n) = &list[i];
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_file(crate::bundle::email::eml_path(p));
        count -= 1;
        total -= n;
        evicted.push(p.clone());
    }
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_keeps_the_first_and_the_newest_of_each_signature_last() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = SystemTime::now() - Duration::from_secs(100);
        // a: three bundles, b: two, c: one; oldest first.
        let names = ["a-1", "a-2", "b-3", "a-4", "b-5", "c-6"];
        for (i, n) in names.iter().enumerate() {
            let p = dir
                .path()
                .join(format!("{SPOOL_PREFIX}20261206T000000Z-429-{n}.zip"));
            std::fs::write(&p, [0u8; 10]).unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(t0 + Duration::from_secs(i as u64)).unwrap();
        }
        let left = |dir: &Path| -> Vec<String> {
            spool(dir)
                .iter()
                .map(|(p, _)| {
                    p.to_string_lossy()
                        .rsplit_once("Z-429-")
                        .unwrap()
                        .1
                        .to_string()
                })
                .collect()
        };
        // Over by one: a-2 (neither first nor newest of a) goes.
        assert_eq!(enforce_bounds(dir.path(), 5, u64::MAX).len(), 1);
        assert_eq!(
            left(dir.path()),
            ["a-1.zip", "b-3.zip", "a-4.zip", "b-5.zip", "c-6.zip"]
        );
        // Then the newest of each (a-4, b-5), oldest first, before any first.
        assert_eq!(enforce_bounds(dir.path(), 3, u64::MAX).len(), 2);
        assert_eq!(left(dir.path()), ["a-1.zip", "b-3.zip", "c-6.zip"]);
        // Then the firsts, oldest first; by bytes too.
        assert_eq!(enforce_bounds(dir.path(), 3, 25).len(), 1);
        assert_eq!(left(dir.path()), ["b-3.zip", "c-6.zip"]);
    }
}
