//! The recorder under an error storm: bounded bundles, bounded spool, counts kept.

use std::io::Read;
use std::time::Duration;

use cohere_bundle::library::FailureReport;
use cohere_bundle::pipeline::BundleOptions;
use cohere_bundle::recorder::{spool, Captured, Recorder, RecorderConfig};
use cohere_bundle::Endpoint;
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
    let rec = Recorder::new({
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
    })
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
    let rec = Recorder::new({
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
    })
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

#[test]
fn a_recorder_needs_a_runtime() {
    let err = Recorder::new(RecorderConfig::default()).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}
