//! Shared helpers for the end-to-end tests: a simulator that lives on its own runtime while the binary runs,
//! a fluent command builder around `assert_cmd`, zip readers and insta filters for volatile fields.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use cohere_bundle::simulator::{SimConfig, SimRequest, Simulator};
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

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Stdout as text.
    pub stdout: String,
    /// Stderr as text.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0 and returns self.
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success; stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        self
    }

    /// Asserts the exit code and a one-line stderr that contains every one of `needles`.
    #[track_caller]
    pub fn fails(self, code: i32, needles: &[&str]) -> Run {
        assert_eq!(
            self.code, code,
            "exit code; stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "one-line error, got: {:?}",
            self.stderr
        );
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr should name {n:?}: {}",
                self.stderr
            );
        }
        self
    }

    /// Stdout parsed as one JSON object.
    #[track_caller]
    pub fn json(&self) -> Value {
        assert_eq!(
            self.stdout.trim_end().lines().count(),
            1,
            "one JSON line: {}",
            self.stdout
        );
        serde_json::from_str(self.stdout.trim()).expect("stdout is JSON")
    }
}

/// A fluent builder for one run of `cohere-bundle`: runs in its own temp dir, with a private cache dir and no
/// API key or URL from the test's environment.
pub struct Cli {
    cmd: assert_cmd::Command,
    _cache: tempfile::TempDir,
}

/// Starts building a run of the binary with `cwd` as working directory.
pub fn cli(cwd: &Path) -> Cli {
    let cache = tempdir();
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_cohere-bundle"));
    cmd.current_dir(cwd)
        .env_remove("CO_API_KEY")
        .env_remove("COHERE_API_KEY")
        .env_remove("CO_API_URL")
        .env("COHERE_BUNDLE_CACHE_DIR", cache.path())
        .env("NO_COLOR", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .timeout(std::time::Duration::from_secs(60));
    Cli { cmd, _cache: cache }
}

impl Cli {
    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Adds one argument.
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Cli {
        self.cmd.arg(a);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Cli {
        self.cmd.env(k, v);
        self
    }

    /// Runs it.
    pub fn run(mut self) -> Run {
        let out = self.cmd.output().expect("binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
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
