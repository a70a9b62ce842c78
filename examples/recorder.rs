//! A service under an error storm: 10,000 failures through a `Recorder` become one bundle per signature.
//! Run: `cargo run --example recorder`.

use std::time::Duration;

use cohere_bundle_core::library::FailureReport;
use cohere_bundle_core::pipeline::BundleOptions;
use cohere_bundle_core::recorder::{spool, EnvSecrets, Recorder, RecorderConfig};
use cohere_bundle_core::Endpoint;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?.keep();
    let rec = Recorder::new(
        {
            let mut o = RecorderConfig::default();
            o.dir = dir.clone();
            o.interval = Duration::from_secs(60);
            o.max_bundles = 10;
            o.max_spool_bytes = 50 * 1024 * 1024;
            o.queue = 64;
            o.bundle = BundleOptions::default();
            o
        },
        EnvSecrets::from_process(),
    )?;
    for i in 0..10_000 {
        let status = if i % 2 == 0 { 429 } else { 503 };
        let body = serde_json::json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hi"}]});
        rec.capture(
            FailureReport::new(Endpoint::ChatV2, body)
                .status(status)
                .response_body(r#"{"message":"try again later"}"#),
        );
    }
    let stats = rec.shutdown().await;
    println!("{stats:?}");
    for (p, n) in spool(&dir) {
        println!("{} ({n} bytes)", p.display());
    }
    Ok(())
}
