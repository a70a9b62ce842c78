//! Helpers shared by the workspace's test suites (not published): a simulator that lives on its own runtime
//! while a test runs something synchronously against it, zip readers, request-file writers and insta filters
//! for volatile fields.

pub mod fault;
pub mod hostile_zips;

use std::io::Read;
use std::path::{Path, PathBuf};

use cohere_bundle_simulator::{SimConfig, SimRequest, Simulator};
use serde_json::Value;

/// A simulator running on its own tokio runtime, so a test can run the binary synchronously against it.
pub struct Sim {
    rt: tokio::runtime::Runtime,
    sim: Option<Simulator>,
}

impl Sim {
    /// Starts a simulator with `config` on an ephemeral port.
    pub fn start(config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt
            .block_on(Simulator::start(config))
            .expect("simulator starts");
        Sim { rt, sim: Some(sim) }
    }

    /// Starts a default simulator.
    pub fn default_config() -> Sim {
        Sim::start(SimConfig::default())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.sim.as_ref().expect("running").base_url()
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<SimRequest> {
        self.sim.as_ref().expect("running").requests()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.sim.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// A fresh temp dir.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Every member of a zip, in order: (name, bytes).
pub fn members(zip: &Path) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(zip).unwrap_or_else(|e| panic!("open {}: {e}", zip.display()));
    let mut a = zip::ZipArchive::new(f).expect("a zip");
    (0..a.len())
        .map(|i| {
            let mut m = a.by_index(i).expect("member");
            let mut b = Vec::new();
            m.read_to_end(&mut b).expect("read member");
            (m.name().to_string(), b)
        })
        .collect()
}

/// One member as text.
#[track_caller]
pub fn member(zip: &Path, name: &str) -> String {
    let (_, b) = members(zip)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no member {name}"));
    String::from_utf8(b).expect("utf-8 member")
}

/// `summary.json` parsed.
#[track_caller]
pub fn summary(zip: &Path) -> Value {
    serde_json::from_str(&member(zip, "summary.json")).expect("summary.json is JSON")
}

/// The first exchange member parsed.
#[track_caller]
pub fn exchange(zip: &Path) -> Value {
    let (_, b) = members(zip)
        .into_iter()
        .find(|(n, _)| n.starts_with("exchanges/"))
        .expect("an exchange member");
    serde_json::from_slice(&b).expect("exchange is JSON")
}

/// A response header from a recorded exchange (case-insensitive).
pub fn response_header(exchange: &Value, name: &str) -> Option<String> {
    exchange["response"]["headers"]
        .as_array()?
        .iter()
        .find_map(|h| {
            h["name"]
                .as_str()
                .filter(|n| n.eq_ignore_ascii_case(name))
                .and_then(|_| h["value"].as_str().map(str::to_string))
        })
}

/// Files in `dir` (names only), sorted.
pub fn dir_listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write fixture");
    p
}

/// An envelope request file `{"method","url","headers","body"}` for `path` on `base`.
pub fn envelope(base: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> String {
    let h: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "method": "POST",
        "url": format!("{base}{path}"),
        "headers": h,
        "body": body,
    }))
    .expect("json")
}

/// insta settings that redact times, ids, ports, sizes that depend on them and the tool version.
pub fn insta_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(true);
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    s.add_filter(r"\b[0-9a-f]{32}\b", "[ID]");
    s.add_filter(r"Environment: .*CPUs\.", "Environment: [ENV].");
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "[TIME]",
    );
    s.add_filter(r"\d{8}T\d{6}Z", "[TIME]");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s.add_filter(r"\b\d+(\.\d+)? ?ms\b", "[N] ms");
    s.add_filter(r"cohere-bundle[ /]\d+\.\d+\.\d+", "cohere-bundle [VERSION]");
    s
}
