//! An application's error handler turning a failed Cohere call into a support bundle, against the built-in
//! simulated API (no key, no network). Run: `cargo run --example error_handler`.

use cohere_bundle_core::library::FailureReport;
use cohere_bundle_core::pipeline::BundleOptions;
use cohere_bundle_core::{Endpoint, SecretString};
use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::start(SimConfig::default()).await?;
    let body = serde_json::json!({
        "model": "command-a-03-2025",
        "messages": [{"role": "user", "content": "Write a haiku about rate limits."}]
    });
    // The application's own call (the simulator answers 429 on request).
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/chat", sim.base_url()))
        .bearer_auth(DEMO_KEY)
        .header("x-simulate", "trial-rate-limit")
        .json(&body)
        .send()
        .await?;
    if !resp.status().is_success() {
        // The error handler: everything it holds goes into the report.
        let out_dir = tempfile::tempdir()?;
        let bo = {
            let mut o = BundleOptions::default();
            o.out_dir = out_dir.path().to_path_buf();
            o.eml = true;
            o
        };
        let outcome = FailureReport::new(Endpoint::ChatV2, body)
            .api_key(SecretString::new(DEMO_KEY))
            .response(resp)
            .await
            .write(&bo)
            .await?;
        println!(
            "HTTP {:?}: {}",
            outcome.summary.status,
            outcome
                .summary
                .error
                .as_ref()
                .map(|e| e.message.as_str())
                .unwrap_or("")
        );
        if let Some(c) = outcome.summary.causes.first() {
            println!("likely cause: {} — {}", c.code.as_str(), c.next_step);
        }
        println!(
            "bundle: {} ({} bytes); email draft: {:?}",
            outcome.path.display(),
            outcome.size,
            outcome.eml
        );
        let _ = out_dir.keep();
    }
    sim.shutdown().await;
    Ok(())
}
