//! `cohere-bundle demo`: the main job on an embedded default, with no key and no network. It starts the
//! simulated API on 127.0.0.1, replays a realistic failing chat request (max_tokens above the model's
//! output cap) with a log that holds the key, and writes a bundle.
//!
//! ```
//! # #[tokio::main]
//! # async fn main() -> cohere_bundle_core::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let bo = cohere_bundle_core::pipeline::BundleOptions::new()
//!     .out_dir(dir.path())
//!     .cache_dir(dir.path().join("cache"));
//! let outcome = cohere_bundle_cli::demo::run(&bo).await?;
//! assert_eq!(outcome.summary.status, Some(400));
//! assert_eq!(outcome.summary.causes[0].code, cohere_bundle_core::CauseCode::MaxOutputExceeded);
//! assert!(outcome.redactions > 0); // the key planted in the demo log was scrubbed
//! # Ok(()) }
//! ```

use std::time::Duration;

use cohere_bundle_core::error::{Error, Result};
use cohere_bundle_core::input::request::{parse_request, ParseOptions};
use cohere_bundle_core::pipeline::{self, BundleOptions, Outcome, ReplayOptions};
use cohere_bundle_core::scrub::SecretString;
use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY};

/// The embedded failing request.
pub(crate) const DEMO_REQUEST: &str = include_str!("../templates/demo-request.json");

/// The embedded application log (the key is planted in it to show the scrubber at work).
const DEMO_LOG: &str = include_str!("../templates/demo-app.log");

/// Runs the demo and writes a bundle according to `bo` (its `logs` are extended with the demo log).
///
/// See the [module example](crate::demo).
pub async fn run(bo: &BundleOptions) -> Result<Outcome> {
    let sim = Simulator::start(SimConfig::default())
        .await
        .map_err(|e| Error::Other(format!("cannot start the simulated API on 127.0.0.1: {e}")))?;
    let request = parse_request(
        "demo request",
        DEMO_REQUEST.as_bytes(),
        &ParseOptions::default(),
    )?;
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let _unfinished = cohere_bundle_core::cleanup::track(dir.path());
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        DEMO_LOG
            .replace("{KEY}", DEMO_KEY)
            .replace("{BASE}", &sim.base_url()),
    )
    .map_err(|e| Error::io(&log, e))?;
    let mut bo = bo.clone();
    bo.logs.insert(0, log);
    let ro = ReplayOptions::new()
        .base_url(sim.base_url())
        .api_key(SecretString::new(DEMO_KEY))
        .timeout(Duration::from_secs(10));
    let out = pipeline::replay(request, &ro, &bo, cohere_bundle_core::summary::Mode::Demo).await;
    sim.shutdown().await;
    out
}
