//! The recorder under an error storm: bounded bundles, bounded spool, counts kept; the first failure of a
//! kind written at once, nothing pending lost when the recorder is dropped.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use cohere_bundle_core::library::FailureReport;
use cohere_bundle_core::pipeline::BundleOptions;
use cohere_bundle_core::recorder::{index, spool, Captured, EnvSecrets, Recorder, RecorderConfig};
use cohere_bundle_core::Endpoint;
use serde_json::json;

fn storm_json(zip: &std::path::Path) -> serde_json::Value {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut s = String::new();
    z.by_name("storm.json")
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    serde_json::from_str(&s).unwrap()
}

fn failure(model: &str, status: u16) -> FailureReport {
    FailureReport::new(
        Endpoint::ChatV2,
        json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .status(status)
    .response_body(r#"{"message": "too many requests"}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_yields_one_bundle_per_signature_and_a_bounded_spool() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let max_bytes = 4 * 1024 * 1024;
    let rec = Recorder::new(
        {
            let mut o = RecorderConfig::default();
            o.dir = spool_dir.clone();
            o.interval = Duration::from_secs(3600);
            o.max_bundles = 3;
            o.max_spool_bytes = max_bytes;
            o.queue = 8;
            o.bundle = {
                let mut o = BundleOptions::default();
                o.cache_dir = Some(dir.path().join("cache"));
                o
            };
            o
        },
        EnvSecrets::none(),
    )
    .unwrap();
    let mut queued = 0;
    for i in 0..10_000 {
        let f = if i % 2 == 0 {
            failure("command-a-03-2025", 429)
        } else {
            failure("command-r-08-2024", 500)
        };
        match rec.capture(f) {
            Captured::Queued => queued += 1,
            Captured::Counted => {}
            Captured::Dropped => panic!("dropped with two signatures"),
        }
    }
    assert_eq!(queued, 2);
    rec.flush().await;
    let bundles = spool(&spool_dir);
    assert_eq!(bundles.len(), 2, "{bundles:?}");
    let mut counts: Vec<(u64, u64)> = bundles
        .iter()
        .map(|(p, _)| {
            let s = storm_json(p);
            (
                s["signature"]["status"].as_u64().unwrap(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(counts, vec![(429, 5000), (500, 5000)]);

    // Next interval: five more signatures; the spool keeps the newest three within the byte bound.
    for round in 0..3 {
        for s in [400u16, 401, 402, 404, 422] {
            rec.capture(failure("command-a-03-2025", s));
            let _ = round;
        }
    }
    let stats = rec.shutdown().await;
    let bundles = spool(&spool_dir);
    assert!(bundles.len() <= 3, "{bundles:?}");
    let bytes: u64 = bundles.iter().map(|(_, n)| n).sum();
    assert!(bytes <= max_bytes, "{bytes}");
    assert_eq!(stats.captured, 10_015);
    assert_eq!(stats.bundles_written, 7);
    assert_eq!(stats.bundles_evicted, 4);
    assert_eq!(stats.write_errors, 0);
    // The survivors are the newest: none of the storm's two.
    for (p, _) in &bundles {
        let st = storm_json(p)["signature"]["status"].as_u64().unwrap();
        assert!(![429, 500].contains(&st), "an old bundle survived: {st}");
        assert_eq!(storm_json(p)["count"], 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(
        {
            let mut o = RecorderConfig::default();
            o.dir = dir.path().join("s");
            o.interval = Duration::from_secs(3600);
            o.queue = 1;
            o.bundle = {
                let mut o = BundleOptions::default();
                o.cache_dir = Some(dir.path().join("cache"));
                o
            };
            o
        },
        EnvSecrets::none(),
    )
    .unwrap();
    // Distinct signatures, sent faster than the task can take them off a queue of one: some are dropped.
    let mut dropped = 0;
    for s in 400..420u16 {
        if rec.capture(failure("m", s)) == Captured::Dropped {
            dropped += 1;
        }
    }
    let stats = rec.stats();
    assert_eq!(stats.dropped, dropped);
    assert_eq!(stats.captured, 20);
    let stats = rec.shutdown().await;
    assert_eq!(stats.bundles_written + stats.dropped, 20);
}

/// A recorder with a long interval (nothing is written by a tick during a test) and a private cache.
fn config(dir: &Path) -> RecorderConfig {
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

/// The bundles' statuses and counts, sorted.
fn counts(spool_dir: &Path) -> Vec<(u64, u64)> {
    let mut c: Vec<(u64, u64)> = spool(spool_dir)
        .iter()
        .map(|(p, _)| {
            let s = storm_json(p);
            (
                s["signature"]["status"].as_u64().unwrap(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    c.sort();
    c
}

/// Issue 22: a recorder dropped with failures pending (a first one still queued, repeats not yet counted
/// into its bundle) writes them before the drop returns. (The runtime of `#[tokio::test]` has one thread.)
#[tokio::test]
async fn dropping_the_recorder_writes_its_pending_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(config(dir.path()), EnvSecrets::none()).unwrap();
    for _ in 0..3 {
        rec.capture(failure("command-a-03-2025", 429));
    }
    assert_eq!(
        rec.capture(failure("command-a-03-2025", 500)),
        Captured::Queued
    );
    drop(rec);
    let spool_dir = dir.path().join("spool");
    assert_eq!(counts(&spool_dir), vec![(429, 3), (500, 1)]);
    let events: Vec<String> = index(&spool_dir)
        .iter()
        .map(|l| l["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events.iter().filter(|e| *e == "written").count(),
        2,
        "{events:?}"
    );
}

/// The same with no runtime at all: the recorder has its own thread.
#[test]
fn a_recorder_needs_no_runtime_and_flushes_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(config(dir.path()), EnvSecrets::none()).unwrap();
    let handle = rec.handle();
    rec.capture(failure("m", 404));
    handle.capture(failure("m", 404));
    drop(rec);
    // The handle keeps the recorder: dropping the last one flushes.
    assert_eq!(handle.stats().captured, 2);
    drop(handle);
    assert_eq!(counts(&dir.path().join("spool")), vec![(404, 2)]);
}

/// Issue 22: three kinds over 10,000 failures. The first bundle of each kind is written without waiting for
/// a tick or a flush (the interval is an hour); every bundle is in the index; eviction keeps each kind's
/// first and newest bundle. Each flush ends an interval, so each kind gets one bundle per 2,000 failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_three_kinds_writes_each_first_at_once_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let rec = Recorder::new(
        {
            let mut o = config(dir.path());
            o.max_bundles = 6;
            o
        },
        EnvSecrets::none(),
    )
    .unwrap();
    let kinds = [429u16, 500, 503];
    let t0 = std::time::Instant::now();
    for i in 0..10_000 {
        assert_ne!(
            rec.capture(failure("command-a-03-2025", kinds[i % 3])),
            Captured::Dropped
        );
        if i == 2 {
            // The three firsts are written in the background, with no tick and no flush.
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while index(&spool_dir).len() < 3 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the firsts were not written"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            eprintln!(
                "the first bundle of each of 3 kinds written after {:?}",
                t0.elapsed()
            );
        }
        if (i + 1) % 2_000 == 0 {
            rec.flush().await;
        }
    }
    let stats = rec.shutdown().await;
    assert_eq!(
        (stats.captured, stats.dropped, stats.write_errors),
        (10_000, 0, 0)
    );
    assert_eq!(stats.bundles_written, 15, "{stats:?}");
    assert_eq!(stats.bundles_evicted, 9, "{stats:?}");

    let lines = index(&spool_dir);
    let written: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "written").collect();
    assert_eq!(written.len(), 15);
    // Each bundle's last count in the index; together they are every failure.
    let mut last: HashMap<String, u64> = HashMap::new();
    for l in &lines {
        last.insert(
            l["path"].as_str().unwrap().into(),
            l["count"].as_u64().unwrap(),
        );
    }
    assert_eq!(last.values().sum::<u64>(), 10_000);
    // The spool keeps, for each kind, its first bundle and its newest.
    let kept: Vec<String> = spool(&spool_dir)
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert_eq!(kept.len(), 6, "{kept:?}");
    for k in kinds {
        let of_kind: Vec<&str> = written
            .iter()
            .filter(|l| l["status"] == k)
            .map(|l| l["path"].as_str().unwrap())
            .collect();
        assert_eq!(of_kind.len(), 5);
        assert!(
            kept.iter().any(|p| p == of_kind[0]),
            "{k}: the first was evicted"
        );
        assert!(
            kept.iter().any(|p| p == of_kind[4]),
            "{k}: the newest was evicted"
        );
        assert_eq!(storm_json(Path::new(of_kind[0]))["signature"]["status"], k);
    }
}

/// A write error is counted, its reason kept, and listed in the index.
#[tokio::test]
async fn a_write_error_keeps_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new(
        {
            let mut o = config(dir.path());
            o.bundle.logs = vec![dir.path().join("no-such-app.log")];
            o
        },
        EnvSecrets::none(),
    )
    .unwrap();
    rec.capture(failure("m", 500));
    rec.flush().await;
    let stats = rec.stats();
    assert_eq!((stats.bundles_written, stats.write_errors), (0, 1));
    let reason = stats.last_error.unwrap();
    assert!(reason.contains("no-such-app.log"), "{reason}");
    let lines = index(&dir.path().join("spool"));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["event"], "write_failed");
    assert!(lines[0]["path"].is_null());
    assert!(lines[0]["error"]
        .as_str()
        .unwrap()
        .contains("no-such-app.log"));
}

/// The environment's secrets, resolved by the caller, are scrubbed while `scan_env` is on (the default).
#[tokio::test]
async fn the_callers_environment_secrets_are_scrubbed_by_default() {
    let secret = "swordfish lamp staple";
    let body = format!(r#"{{"message": "upstream said {secret}"}}"#);
    for (scan_env, kept) in [(true, false), (false, true)] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = config(dir.path());
        o.bundle = o.bundle.scan_env(scan_env);
        let env = EnvSecrets::from_known([cohere_bundle_core::KnownSecret::new(
            "env",
            cohere_bundle_core::SecretString::new(secret),
        )]);
        let rec = Recorder::new(o, env).unwrap();
        rec.capture(failure("m", 500).response_body(&body));
        rec.flush().await;
        let (zip, _) = spool(&dir.path().join("spool")).remove(0);
        let mut z = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
        let mut all = Vec::new();
        for i in 0..z.len() {
            z.by_index(i).unwrap().read_to_end(&mut all).unwrap();
        }
        let found = String::from_utf8_lossy(&all).contains(secret);
        assert_eq!(found, kept, "scan_env {scan_env}");
    }
}

/// A panic in the callback is a write error with its reason; the writer goes on.
#[tokio::test]
async fn a_panicking_callback_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = config(dir.path());
    o.on_written = Some(cohere_bundle_core::recorder::OnWritten::new(|_| {
        panic!("the service's callback broke")
    }));
    let rec = Recorder::new(o, EnvSecrets::none()).unwrap();
    rec.capture(failure("m", 500));
    rec.flush().await;
    rec.capture(failure("m", 503));
    rec.flush().await;
    let stats = rec.stats();
    assert_eq!(
        (stats.bundles_written, stats.write_errors),
        (2, 2),
        "{stats:?}"
    );
    let reason = stats.last_error.unwrap();
    assert!(reason.contains("the service's callback broke"), "{reason}");
    assert_eq!(spool(&dir.path().join("spool")).len(), 2);
}
