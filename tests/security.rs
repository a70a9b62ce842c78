//! Nothing secret leaves by any path, and hostile input cannot hurt (issue 12): the terminal, `--json` and
//! error lines are scrubbed like the bundle; numeric flags and server durations cannot panic the tool.

use cohere_bundle_simulator::DEMO_KEY;
use serde_json::json;

use super::fault::{response, FaultServer};
use super::util;

/// A production-looking key that only these tests use.
const KEY: &str = "Zx81Qw7Er6Ty5Ui4Op3As2Df1Gh0Jk9Lz8Xc7Vb6";
const SECRET: &str = "db-pass-7f3k2m9q1x8w4v6z";

fn chat() -> serde_json::Value {
    json!({"model": "command-r-08-2024", "messages": [{"role": "user", "content": "hi"}]})
}

/// A server that echoes the request's Authorization header, and a `--secret` value, into its error message.
fn echoing_server() -> FaultServer {
    FaultServer::start(|req| {
        let text = String::from_utf8_lossy(req).into_owned();
        let auth = text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("authorization:")
                    .then(|| l[14..].trim().to_string())
            })
            .unwrap_or_default();
        let body = json!({"id": "echo-1", "message": format!("invalid api token: {auth}; also saw {SECRET} and {}", auth.trim_start_matches("Bearer "))});
        response(
            "401 Unauthorized",
            &[("content-type", "application/json")],
            &body.to_string(),
        )
    })
}

fn assert_clean(what: &str, text: &str) {
    for s in [KEY, SECRET] {
        assert!(!text.contains(s), "{what} shows a secret: {text}");
    }
}

#[test]
fn an_echoed_key_never_reaches_stdout_json_or_stderr() {
    let server = echoing_server();
    for json_flag in [false, true] {
        let d = util::tempdir();
        let req = util::write(
            d.path(),
            "req.json",
            util::envelope(&server.base_url(), "/v2/chat", &[], &chat()),
        );
        let mut cli = util::cli(d.path())
            .env("CO_API_KEY", KEY)
            .arg("replay")
            .arg(&req)
            .args(["--out", "b.zip", "--secret", SECRET]);
        if json_flag {
            cli = cli.arg("--json");
        }
        let run = cli.run().success();
        assert!(
            run.stdout.contains("[REDACTED"),
            "the echo is there, masked: {}",
            run.stdout
        );
        assert_clean("stdout", &run.stdout);
        assert_clean("stderr", &run.stderr);
        if json_flag {
            let v = run.json();
            assert_clean("--json", &v.to_string());
        }
        // And the zip, as before.
        for (name, bytes) in util::members(&d.path().join("b.zip")) {
            assert_clean(&name, &String::from_utf8_lossy(&bytes));
        }
    }
}

#[test]
fn a_key_in_the_base_url_is_masked_in_the_cannot_reach_error() {
    let d = util::tempdir();
    let req = util::write(d.path(), "req.json", chat().to_string());
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for base in [
        format!("http://user:{KEY}@127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/?api_key={KEY}"),
    ] {
        for json_flag in [false, true] {
            let mut cli = util::cli(d.path())
                .env("CO_API_KEY", DEMO_KEY)
                .arg("replay")
                .arg(&req)
                .args([
                    "--endpoint",
                    "v2/chat",
                    "--base-url",
                    &base,
                    "--out",
                    "b.zip",
                ]);
            if json_flag {
                cli = cli.arg("--json");
            }
            let run = cli.run();
            assert_eq!(run.code, 1, "{}", run.stderr);
            assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
            assert!(run.stderr.contains("[REDACTED]"), "{}", run.stderr);
            assert_clean("stderr", &run.stderr);
            assert_clean("stdout", &run.stdout);
            if json_flag {
                let v = run.json();
                assert_eq!(v["error"]["exit_code"], 1);
                assert_eq!(v["error"]["kind"], "unreachable");
            }
        }
    }
}

#[test]
fn numeric_flags_out_of_range_are_usage_errors_not_panics() {
    let d = util::tempdir();
    let req = util::write(d.path(), "req.json", chat().to_string());
    for t in ["1e20", "inf", "NaN", "0", "-1", "86401"] {
        util::cli(d.path())
            .env("CO_API_KEY", DEMO_KEY)
            .arg("replay")
            .arg(&req)
            .args(["--endpoint", "v2/chat", &format!("--timeout={t}")])
            .run()
            .fails(2, &["--timeout"]);
    }
}

/// Ctrl-C (or SIGTERM) while the bundle is being written: exit 130 (143), and no temp file is left.
#[test]
fn an_interrupt_while_writing_removes_every_unfinished_file() {
    use std::io::Write;
    let sim = util::Sim::default_config();
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let d = util::tempdir();
        util::write(
            d.path(),
            "req.json",
            util::envelope(&sim.base_url(), "/v2/chat", &[], &chat()),
        );
        // A large log, so that writing takes long enough to be interrupted.
        let log = d.path().join("app.log");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        let line = "2026-11-24 16:02:01,209 INFO app.worker: processed document 4711 in 12 ms with no error at all\n";
        for _ in 0..(160 << 20) / line.len() {
            f.write_all(line.as_bytes()).unwrap();
        }
        drop(f);
        let before = util::dir_listing(d.path());
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_cohere-bundle"))
            .current_dir(d.path())
            .env("CO_API_KEY", DEMO_KEY)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .args([
                "replay",
                "req.json",
                "--out",
                "b.zip",
                "--max-size",
                "0",
                "--log",
                "app.log",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the temp zip to appear, then interrupt.
        let started = std::time::Instant::now();
        let seen = loop {
            let tmp = util::dir_listing(d.path())
                .into_iter()
                .any(|n| n.starts_with(".cohere-bundle-"));
            if tmp || started.elapsed() > std::time::Duration::from_secs(30) {
                break tmp;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        assert!(seen, "the bundle's temp file appeared while writing");
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert_eq!(util::dir_listing(d.path()), before, "nothing left behind");
    }
}

#[test]
fn the_output_is_checked_before_any_call_and_default_names_never_collide() {
    let sim = util::Sim::default_config();
    let d = util::tempdir();
    let req = util::write(
        d.path(),
        "req.json",
        util::envelope(&sim.base_url(), "/v2/chat", &[], &chat()),
    );
    util::cli(d.path())
        .env("CO_API_KEY", DEMO_KEY)
        .arg("replay")
        .arg(&req)
        .args(["--out", "missing/b.zip"])
        .run()
        .fails(2, &["missing", "does not exist"]);
    assert!(
        sim.requests().is_empty(),
        "no call before the output is known to be writable"
    );

    // Four replays at once with default names in one directory: four bundles.
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_cohere-bundle"))
                .current_dir(d.path())
                .env("CO_API_KEY", DEMO_KEY)
                .env("NO_PROXY", "127.0.0.1,localhost")
                .args(["replay", "req.json"])
                .output_async()
        })
        .collect();
    let mut zips = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for n in util::dir_listing(d.path()) {
        if n.ends_with(".zip") {
            zips.push(n);
        }
    }
    assert_eq!(zips.len(), 4, "{zips:?}");
    for z in &zips {
        util::summary(&d.path().join(z));
    }
    assert!(
        util::dir_listing(d.path())
            .iter()
            .all(|n| !n.starts_with('.')),
        "no temp or probe file left"
    );
}

trait OutputAsync {
    fn output_async(&mut self) -> std::process::Child;
}

impl OutputAsync for std::process::Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    }
}

/// Logs from pipes and FIFOs are read once as streams; a FIFO nobody writes to times out; binary regions in a
/// text log are left out and recorded.
#[test]
fn logs_from_pipes_fifos_and_with_binary_regions() {
    let d = util::tempdir();
    util::write(d.path(), "req.json", chat().to_string());
    util::write(d.path(), "resp.json", r#"{"message":"model not found"}"#);
    let bin = env!("CARGO_BIN_EXE_cohere-bundle");
    // Process substitution: /dev/fd/N, a pipe that cannot seek.
    let out = std::process::Command::new("bash")
        .current_dir(d.path())
        .arg("-c")
        .arg(format!(
            "{bin} bundle --request req.json --endpoint v2/chat --response resp.json --status 404 --no-env-scan \
             --out pipe.zip --log <(printf '2026-11-24 ERROR from a pipe\\n')"
        ))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs: Vec<String> = util::members(&d.path().join("pipe.zip"))
        .into_iter()
        .filter(|(n, _)| n.starts_with("logs/"))
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .collect();
    assert_eq!(logs.len(), 1);
    assert!(logs[0].contains("ERROR from a pipe"), "{logs:?}");

    // A FIFO with no writer: a one-line error after --log-timeout, exit 2, nothing written.
    let fifo = d.path().join("silent.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    util::cli(d.path())
        .args([
            "bundle",
            "--request",
            "req.json",
            "--endpoint",
            "v2/chat",
            "--status",
            "404",
        ])
        .args(["--out", "fifo.zip", "--log-timeout", "0.5", "--log"])
        .arg(&fifo)
        .run()
        .fails(2, &["silent.fifo", "no writer"]);
    assert!(!d.path().join("fifo.zip").exists());

    // Text, then random bytes, then text: the binary region is left out and the cut recorded.
    let mut mixed = b"2026-11-24 INFO started\n".repeat(400);
    let mut x: u32 = 12345;
    for _ in 0..200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        mixed.push((x >> 16) as u8);
    }
    mixed.extend_from_slice(b"\n2026-11-24 ERROR after the binary part\n");
    util::write(d.path(), "mixed.log", &mixed);
    let run = util::cli(d.path())
        .args([
            "bundle",
            "--request",
            "req.json",
            "--endpoint",
            "v2/chat",
            "--status",
            "404",
        ])
        .args([
            "--response",
            "resp.json",
            "--out",
            "mixed.zip",
            "--log",
            "mixed.log",
            "--json",
        ])
        .run()
        .success();
    let log = util::member(&d.path().join("mixed.zip"), "logs/mixed.log");
    assert!(
        log.contains("ERROR after the binary part"),
        "the text after it is kept"
    );
    assert!(log.contains("bytes of binary data left out"));
    assert!(
        log.len() < 100_000,
        "the binary region is gone: {} bytes",
        log.len()
    );
    // Recorded under its own heading, not as a cut to fit the size budget (issue 20).
    let cuts = run.json()["cuts"].to_string();
    assert!(!cuts.contains("binary data left out"), "{cuts}");
    let report = util::member(&d.path().join("mixed.zip"), "report.md");
    let (_, binary) = report
        .split_once("## Binary data left out")
        .expect("its own heading");
    assert!(
        binary.contains("`logs/mixed.log`: 1999")
            && binary.contains("bytes of binary data left out"),
        "{report}"
    );

    // Binary bytes at the very start are left out the same way (the pre-flight check used to refuse a log
    // with a NUL byte in its first 8 KiB, exit 2, although the reader handles it).
    let mut head_first = b"\x00\x01\x02\xffPK binary header\n".to_vec();
    head_first.extend_from_slice(&b"2026-11-24 ERROR after a binary head\n".repeat(3));
    util::write(d.path(), "head.log", &head_first);
    util::cli(d.path())
        .args([
            "bundle",
            "--request",
            "req.json",
            "--endpoint",
            "v2/chat",
            "--status",
            "404",
        ])
        .args([
            "--response",
            "resp.json",
            "--out",
            "head.zip",
            "--log",
            "head.log",
        ])
        .run()
        .success();
    let log = util::member(&d.path().join("head.zip"), "logs/head.log");
    assert!(log.contains("ERROR after a binary head"), "{log}");
    assert!(!log.contains('\0'), "{log:?}");
}

/// `--redact-content` keeps prompt, document and completion text out of every member: the request, each
/// exchange's bodies (JSON and streams) and the report (before, it reached only the `scrub` command).
#[test]
fn redact_content_reaches_every_member() {
    let d = util::tempdir();
    let prompt = "damaged cover";
    util::cli(d.path())
        .args(["demo", "--out", "plain.zip"])
        .run()
        .success();
    let plain: Vec<String> = util::members(&d.path().join("plain.zip"))
        .into_iter()
        .filter(|(_, b)| String::from_utf8_lossy(b).contains(prompt))
        .map(|(n, _)| n)
        .collect();
    assert!(
        plain.contains(&"request.json".to_string()),
        "the control holds the prompt: {plain:?}"
    );
    util::cli(d.path())
        .args(["demo", "--redact-content", "--out", "r.zip"])
        .run()
        .success();
    for (name, bytes) in util::members(&d.path().join("r.zip")) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(prompt),
            "{name} still holds the prompt"
        );
    }
}
