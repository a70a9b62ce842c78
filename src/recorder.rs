//! Error-storm-safe capture for services: [`Recorder::capture`] is cheap on the calling task (a signature, a
//! mutex-guarded counter and at most one `try_send`; no I/O, no serialisation) and bundles are written by a
//! background tokio task.
//!
//! Failures are grouped by [`Signature`] (endpoint, model, status, class): the first failure of a signature in
//! an interval is kept as the sample, later ones only count. At the end of each interval the task writes one
//! bundle per signature, with `storm.json` saying how many failures it stands for. The spool directory is kept
//! within `max_bundles` and `max_spool_bytes`, the oldest bundles going first.
//!
//! ```
//! use std::time::Duration;
//! use cohere_bundle::library::FailureReport;
//! use cohere_bundle::recorder::{spool, Captured, Recorder, RecorderConfig, SPOOL_PREFIX};
//! use cohere_bundle::Endpoint;
//!
//! # #[tokio::main]
//! # async fn main() -> cohere_bundle::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let mut config = RecorderConfig::default();
//! config.dir = dir.path().join("spool");
//! config.interval = Duration::from_secs(3600);
//! let recorder = Recorder::new(config)?;
//! let failure = || {
//!     FailureReport::new(Endpoint::ChatV2, serde_json::json!({"model": "command-r", "messages": []}))
//!         .status(404)
//!         .response_body(r#"{"message":"model 'command-r' not found"}"#)
//! };
//! // In the error handler: cheap, no I/O.
//! assert_eq!(recorder.capture(failure()), Captured::Queued);
//! assert_eq!(recorder.capture(failure()), Captured::Counted);
//!
//! // Write now rather than at the end of the interval.
//! recorder.flush().await;
//! let bundles = spool(&dir.path().join("spool"));
//! assert_eq!(bundles.len(), 1);
//! let name = bundles[0].0.file_name().unwrap().to_string_lossy().into_owned();
//! assert!(name.starts_with(SPOOL_PREFIX) && bundles[0].1 > 0);
//! let stats = recorder.stats();
//! assert_eq!((stats.captured, stats.bundles_written, stats.write_errors), (2, 1, 0));
//! let stats = recorder.shutdown().await;
//! assert_eq!(stats.dropped, 0);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};

use crate::bundle::Member;
use crate::error::{Error, Result};
use crate::library::{FailureReport, Signature};
use crate::pipeline::BundleOptions;

/// Prefix of the bundles a recorder writes (only files with it are counted and evicted).
///
/// See the [module example](crate::recorder).
pub const SPOOL_PREFIX: &str = "cohere-support-";

/// How a [`Recorder`] works.
///
/// See the [module example](crate::recorder).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecorderConfig {
    /// The spool directory (created if missing).
    pub dir: PathBuf,
    /// One bundle per signature per this interval.
    pub interval: Duration,
    /// At most this many bundles are kept in `dir`; the oldest go first.
    pub max_bundles: usize,
    /// At most this many bytes of bundles (and drafts) are kept in `dir`; the oldest go first. Each bundle's
    /// size budget is at most this too.
    pub max_spool_bytes: u64,
    /// Capacity of the queue of new signatures; a capture that finds it full is dropped and counted.
    pub queue: usize,
    /// Options for every bundle (`output`, `out_dir` and `force` are ignored).
    pub bundle: BundleOptions,
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
        }
    }
}

/// What [`Recorder::capture`] did with a failure.
///
/// See the [module example](crate::recorder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captured {
    /// The first of its signature in this interval: queued as the sample for a bundle.
    Queued,
    /// A repeat of a signature already queued: counted only.
    Counted,
    /// The queue was full (or the recorder stopped): dropped and counted.
    Dropped,
}

/// Counters of a recorder.
///
/// See the [module example](crate::recorder).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Failures given to [`Recorder::capture`].
    pub captured: u64,
    /// Failures dropped because the queue was full.
    pub dropped: u64,
    /// Bundles written.
    pub bundles_written: u64,
    /// Bundles removed from the spool to keep it within bounds.
    pub bundles_evicted: u64,
    /// Bundles that could not be written.
    pub write_errors: u64,
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
    evicted: AtomicU64,
    errors: AtomicU64,
}

enum Control {
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// A background bundle writer for services. Create it inside a tokio runtime.
///
/// See the [module example](crate::recorder).
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<(Signature, FailureReport)>,
    ctl: mpsc::Sender<Control>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("captured", &self.captured)
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl Recorder {
    /// Creates the spool directory and starts the background task. Fails when there is no tokio runtime,
    /// the directory cannot be created, or a bound is zero.
    ///
    /// See the [module example](crate::recorder).
    pub fn new(config: RecorderConfig) -> Result<Recorder> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Other("Recorder::new must be called inside a tokio runtime".into())
        })?;
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
        let (tx, rx) = mpsc::channel(config.queue);
        let (ctl, ctl_rx) = mpsc::channel(4);
        let shared = Arc::new(Shared::default());
        handle.spawn(run(config, rx, ctl_rx, shared.clone()));
        Ok(Recorder { tx, ctl, shared })
    }

    /// Takes a failure. Cheap and never blocks: computes its signature; a repeat within the interval is only
    /// counted, a new signature is queued for the background task (`try_send`; dropped and counted when full).
    ///
    /// See the [module example](crate::recorder).
    pub fn capture(&self, failure: FailureReport) -> Captured {
        self.shared.captured.fetch_add(1, Ordering::Relaxed);
        let sig = failure.signature();
        let now = SystemTime::now();
        let mut groups = self.shared.groups.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = groups.get_mut(&sig) {
            g.count += 1;
            g.last = now;
            return Captured::Counted;
        }
        match self.tx.try_send((sig.clone(), failure)) {
            Ok(()) => {
                groups.insert(
                    sig,
                    Group {
                        count: 1,
                        first: now,
                        last: now,
                    },
                );
                Captured::Queued
            }
            Err(_) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                Captured::Dropped
            }
        }
    }

    /// The counters so far.
    ///
    /// See the [module example](crate::recorder).
    pub fn stats(&self) -> RecorderStats {
        let s = &self.shared;
        RecorderStats {
            captured: s.captured.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            bundles_written: s.written.load(Ordering::Relaxed),
            bundles_evicted: s.evicted.load(Ordering::Relaxed),
            write_errors: s.errors.load(Ordering::Relaxed),
        }
    }

    /// Writes the bundles of every pending signature now and waits for them.
    ///
    /// See the [module example](crate::recorder).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ctl.send(Control::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Writes what is pending, stops the background task and returns the final counters.
    ///
    /// See the [module example](crate::recorder).
    pub async fn shutdown(self) -> RecorderStats {
        let (tx, rx) = oneshot::channel();
        if self.ctl.send(Control::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.stats()
    }
}

async fn run(
    config: RecorderConfig,
    mut rx: mpsc::Receiver<(Signature, FailureReport)>,
    mut ctl: mpsc::Receiver<Control>,
    shared: Arc<Shared>,
) {
    let mut pending: Vec<(Signature, FailureReport)> = Vec::new();
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + config.interval,
        config.interval,
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(p) => pending.push(p),
                None => break,
            },
            _ = ticker.tick() => {
                write_pending(&config, &shared, &mut pending, &mut seq).await;
            }
            c = ctl.recv() => {
                while let Ok(p) = rx.try_recv() {
                    pending.push(p);
                }
                write_pending(&config, &shared, &mut pending, &mut seq).await;
                match c {
                    Some(Control::Flush(done)) => { let _ = done.send(()); }
                    Some(Control::Shutdown(done)) => { let _ = done.send(()); break; }
                    None => break,
                }
            }
        }
    }
}

async fn write_pending(
    config: &RecorderConfig,
    shared: &Shared,
    pending: &mut Vec<(Signature, FailureReport)>,
    seq: &mut u64,
) {
    for (sig, report) in pending.drain(..) {
        let group = shared
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&sig);
        let (count, first, last) = group.map(|g| (g.count, g.first, g.last)).unwrap_or((
            1,
            SystemTime::now(),
            SystemTime::now(),
        ));
        *seq += 1;
        let when = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let what = sig
            .status
            .map(|s| s.to_string())
            .or(sig.class.map(|c| c.as_str().to_string()))
            .unwrap_or_else(|| "ok".into());
        let name = format!("{SPOOL_PREFIX}{when}-{what}-{}-{}.zip", sig.digest(), *seq);
        let storm = serde_json::json!({
            "signature": sig,
            "count": count,
            "first_seen": chrono::DateTime::<chrono::Utc>::from(first).to_rfc3339(),
            "last_seen": chrono::DateTime::<chrono::Utc>::from(last).to_rfc3339(),
            "interval_s": config.interval.as_secs_f64(),
            "dropped_so_far": shared.dropped.load(Ordering::Relaxed),
            "note": format!("this bundle stands for {count} failure(s) with the same signature; only the first is recorded"),
        });
        let mut bo = config.bundle.clone();
        bo.output = Some(config.dir.join(&name));
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
                .max(crate::fit::MIN_MAX_SIZE),
        );
        bo.extra_members.push(Member::text(
            "storm.json",
            serde_json::to_string_pretty(&storm).unwrap_or_default() + "\n",
        ));
        match report.write(&bo).await {
            Ok(_) => {
                shared.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        let evicted = enforce_bounds(&config.dir, config.max_bundles, config.max_spool_bytes);
        shared.evicted.fetch_add(evicted, Ordering::Relaxed);
    }
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
            let eml = std::fs::metadata(crate::email::eml_path(&p))
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

/// Removes the oldest bundles until at most `max_bundles` remain within `max_bytes`; returns how many went.
pub(crate) fn enforce_bounds(dir: &Path, max_bundles: usize, max_bytes: u64) -> u64 {
    let list = spool(dir);
    let mut total: u64 = list.iter().map(|(_, n)| n).sum();
    let mut count = list.len();
    let mut evicted = 0;
    for (p, n) in list {
        if count <= max_bundles && total <= max_bytes {
            break;
        }
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_file(crate::email::eml_path(&p));
        count -= 1;
        total -= n;
        evicted += 1;
    }
    evicted
}
