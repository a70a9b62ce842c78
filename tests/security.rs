//! Nothing secret leaves by any path, and hostile input cannot hurt (issue 12): the terminal, `--json` and
//! error lines are scrubbed like the bundle; numeric flags and server durations cannot panic the tool.

use cohere_bundle::simulator::DEMO_KEY;
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
