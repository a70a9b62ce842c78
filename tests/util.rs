//! Helpers of the end-to-end tests: a fluent command builder around `assert_cmd` for the binary, and (from
//! `testkit`, shared with the library's tests) the simulator on its own runtime, zip readers and insta filters.

#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

pub use testkit::*;

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
