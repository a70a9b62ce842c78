//! The binary end to end: bad input, the scrubber across every member and encoding, the fail-closed final
//! check, and `demo` + `verify`.

use std::path::Path;

use base64::Engine;
use cohere_bundle_core::bundle::{self, Member, MemberSource, WriteOptions};
use cohere_bundle_core::scrub::{encoded_forms, KnownSecret, ScrubOptions, Scrubber};
use cohere_bundle_simulator::DEMO_KEY;
use serde_json::json;

use crate::util::{self, Sim};

fn chat_body() -> serde_json::Value {
    json!({"model": "command-r-08-2024", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 50})
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// Runs `replay REQUEST --base-url <closed port> --out out.zip` and checks the failure: exit `code`, one line
/// naming `names`, and no output file (and nothing else) left in the working directory.
#[track_caller]
fn replay_fails(dir: &Path, request: &Path, extra: &[&str], code: i32, names: &[&str]) {
    let before = util::dir_listing(dir);
    util::cli(dir)
        .arg("replay")
        .arg(request)
        .args(["--base-url", &closed_port_url(), "--out", "out.zip"])
        .args(extra)
        .run()
        .fails(code, names);
    assert!(!dir.join("out.zip").exists(), "no bundle written");
    assert_eq!(util::dir_listing(dir), before, "nothing left behind");
}

#[test]
fn malformed_json_request() {
    let d = util::tempdir();
    let p = util::write(
        d.path(),
        "bad.json",
        "{\"model\": \"command-r\", \"messages\": [",
    );
    replay_fails(d.path(), &p, &[], 2, &["bad.json"]);
}

#[test]
fn empty_request_file() {
    let d = util::tempdir();
    let p = util::write(d.path(), "empty.json", "");
    replay_fails(d.path(), &p, &[], 2, &["empty.json"]);
}

#[test]
fn binary_request_file() {
    let d = util::tempdir();
    let p = util::write(
        d.path(),
        "blob.bin",
        [0x89u8, b'P', b'N', b'G', 0, 0, 0xff, 0xfe, 0, 1, 2, 3],
    );
    replay_fails(d.path(), &p, &[], 2, &["blob.bin"]);
}

#[test]
fn directory_as_request() {
    let d = util::tempdir();
    std::fs::create_dir(d.path().join("reqdir")).expect("mkdir");
    replay_fails(
        d.path(),
        &d.path().join("reqdir"),
        &[],
        2,
        &["reqdir", "directory"],
    );
}

#[test]
fn missing_request_file() {
    let d = util::tempdir();
    replay_fails(
        d.path(),
        &d.path().join("nope.json"),
        &[],
        2,
        &["nope.json"],
    );
}

#[test]
fn unreadable_log() {
    let d = util::tempdir();
    let req = util::write(d.path(), "req.json", chat_body().to_string());
    let log = util::write(d.path(), "app.log", "some log line\n");
    let mut perms = std::fs::metadata(&log).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o000);
    std::fs::set_permissions(&log, perms).expect("chmod");
    // As root, mode 000 does not stop reading; /proc/self/mem opens but every read at offset 0 fails (EIO).
    let unreadable = if std::fs::read(&log).is_ok() {
        std::path::PathBuf::from("/proc/self/mem")
    } else {
        log
    };
    let name = unreadable
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let log_arg = unreadable.to_string_lossy().into_owned();
    replay_fails(
        d.path(),
        &req,
        &["--endpoint", "v2/chat", "--log", &log_arg],
        2,
        &["--log", &name],
    );
}

#[test]
fn missing_log() {
    let d = util::tempdir();
    let req = util::write(d.path(), "req.json", chat_body().to_string());
    replay_fails(
        d.path(),
        &req,
        &["--endpoint", "v2/chat", "--log", "gone.log"],
        2,
        &["--log", "gone.log"],
    );
}

#[test]
fn existing_output_needs_force() {
    let sim = Sim::default_config();
    let d = util::tempdir();
    let env = util::envelope(
        "https://api.cohere.com",
        "/v2/chat",
        &[
            ("Authorization", &format!("Bearer {DEMO_KEY}")),
            ("x-simulate", "server-error"),
        ],
        &chat_body(),
    );
    let req = util::write(d.path(), "req.json", env);
    let out = util::write(d.path(), "out.zip", "precious");
    let replay = || {
        util::cli(d.path()).arg("replay").arg(&req).args([
            "--base-url",
            &sim.base_url(),
            "--out",
            "out.zip",
        ])
    };
    replay().run().fails(2, &["out.zip", "--force"]);
    assert_eq!(
        std::fs::read_to_string(&out).expect("kept"),
        "precious",
        "not touched without --force"
    );
    assert_eq!(
        util::dir_listing(d.path()),
        vec!["out.zip", "req.json"],
        "no temp files"
    );
    replay().arg("--force").run().success();
    assert_eq!(
        util::summary(&out)["status"],
        500,
        "--force overwrote it with a bundle"
    );
    assert_eq!(
        util::dir_listing(d.path()),
        vec!["out.zip", "req.json"],
        "no temp files"
    );
}

#[test]
fn unreachable_base_url() {
    let d = util::tempdir();
    util::write(d.path(), "req.json", chat_body().to_string());
    let base = closed_port_url();
    let before = util::dir_listing(d.path());
    util::cli(d.path())
        .args([
            "replay",
            "req.json",
            "--endpoint",
            "v2/chat",
            "--base-url",
            &base,
            "--out",
            "out.zip",
            "--no-key",
        ])
        .run()
        .fails(1, &[&base, "cannot reach"]);
    assert!(!d.path().join("out.zip").exists());
    assert_eq!(util::dir_listing(d.path()), before);
}

/// A key with characters that every encoding changes, and a production-looking API key.
const SECRET: &str = "s3cr3t/pa+ss\"wo\\rd&x=1 y~";
const KEY: &str = "Zx81Qw7Er6Ty5Ui4Op3As2Df1Gh0Jk9Lz8Xc7Vb6";

/// Every way the planted values may appear: the library's own forms plus independently built full encodings.
fn forbidden_forms(secret: &str) -> Vec<(String, String)> {
    let mut forms: Vec<(String, String)> = encoded_forms(secret)
        .into_iter()
        .map(|(f, e)| (f, format!("{e:?}")))
        .collect();
    let engines = [
        ("base64", base64::engine::general_purpose::STANDARD),
        ("base64url", base64::engine::general_purpose::URL_SAFE),
    ];
    for (name, eng) in engines {
        for pad in ["", "a", "ab"] {
            let enc = eng.encode(format!("{pad}{secret}"));
            // Skip the first 4 chars (they carry the padding bytes) so this is the secret's own part.
            forms.push((
                enc[4..enc.len() - 4].to_string(),
                format!("{name} at alignment {}", pad.len()),
            ));
        }
    }
    forms.push((
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        "url".into(),
    ));
    let j = serde_json::to_string(secret).expect("json");
    forms.push((j[1..j.len() - 1].to_string(), "json".into()));
    forms.push((secret.to_string(), "raw".into()));
    forms
}

#[test]
fn planted_key_is_absent_from_every_member_in_every_encoding() {
    let sim = Sim::default_config();
    let d = util::tempdir();
    let mut body = chat_body();
    body["messages"][0]["content"] = json!(format!("my key is {KEY} and my password is {SECRET}"));
    let env = util::envelope(
        "https://api.cohere.com",
        "/v2/chat",
        &[
            ("Authorization", &format!("Bearer {KEY}")),
            ("X-Backup-Key", KEY),
            ("x-simulate", "server-error"),
        ],
        &body,
    );
    let req = util::write(d.path(), "req.json", env);
    let mut log = String::new();
    for s in [KEY, SECRET] {
        log.push_str(&format!("raw: {s}\n"));
        for pad in ["", "a", "ab"] {
            let p = format!("{pad}{s}");
            log.push_str(&format!(
                "b64: {}\n",
                base64::engine::general_purpose::STANDARD.encode(&p)
            ));
            log.push_str(&format!(
                "b64url: {}\n",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&p)
            ));
        }
        log.push_str(&format!(
            "url: https://x.test/?k={}\n",
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
        ));
        log.push_str(&format!("json: {}\n", json!({"api_key": s})));
    }
    let log_path = util::write(d.path(), "app.log", &log);
    let out = d.path().join("out.zip");
    let run = util::cli(d.path())
        .env("CO_API_KEY", KEY)
        .arg("replay")
        .arg(&req)
        .args([
            "--base-url",
            &sim.base_url(),
            "--json",
            "--secret",
            SECRET,
            "--log",
        ])
        .arg(&log_path)
        .arg("--out")
        .arg(&out)
        .run()
        .success();
    assert!(
        run.json()["redactions"].as_u64().unwrap_or(0) >= 10,
        "{}",
        run.stdout
    );
    // The key really went out (so it was really in play) and came from CO_API_KEY / the envelope.
    let seen = sim.requests();
    assert_eq!(
        seen[0].header("authorization").map(str::to_string),
        Some(format!("Bearer {KEY}"))
    );
    let members = util::members(&out);
    assert!(
        members.iter().any(|(n, _)| n.starts_with("logs/")),
        "log included"
    );
    for secret in [KEY, SECRET] {
        for (form, enc) in forbidden_forms(secret) {
            for (name, data) in &members {
                let hay = String::from_utf8_lossy(data);
                assert!(
                    !hay.contains(&form),
                    "{enc} form of a planted secret survived in {name}"
                );
            }
        }
    }
    // The placeholder is there instead, in the log and in the request.
    let logm = util::member(&out, "logs/app.log");
    assert!(logm.contains("[REDACTED:"), "{logm}");
    assert_eq!(logm.lines().count(), log.lines().count());
    // And `verify` agrees, searching for both.
    util::cli(d.path())
        .env("CO_API_KEY", KEY)
        .arg("verify")
        .arg(&out)
        .args(["--secret", SECRET])
        .run()
        .success();
}

#[test]
fn leak_surviving_scrubbing_is_refused_by_the_cli() {
    // A secret that the scrubber's own output re-creates: every placeholder (`[REDACTED:secret:1]`) contains
    // it, so each replacement writes it back. Scrubbing cannot remove it; the final check must refuse.
    let sim = Sim::default_config();
    let d = util::tempdir();
    let env = util::envelope(
        "https://api.cohere.com",
        "/v2/chat",
        &[("x-simulate", "server-error")],
        &chat_body(),
    );
    let req = util::write(d.path(), "req.json", env);
    let log = util::write(
        d.path(),
        "app.log",
        "2026-11-24 ERROR token REDACTED in the middle of a line\n",
    );
    let before = util::dir_listing(d.path());
    let run = util::cli(d.path())
        .arg("replay")
        .arg(&req)
        .args([
            "--base-url",
            &sim.base_url(),
            "--out",
            "out.zip",
            "--secret",
            "REDACTED",
            "--no-key",
            "--log",
        ])
        .arg(&log)
        .run()
        .fails(
            3,
            &["refused", "still contains a known secret", "(secret, raw)"],
        );
    assert!(
        run.stdout.is_empty(),
        "nothing claims success: {}",
        run.stdout
    );
    assert!(!d.path().join("out.zip").exists(), "no zip kept");
    assert_eq!(
        util::dir_listing(d.path()),
        before,
        "no temp file left beside it"
    );
    // The same request without that secret writes a bundle, so the refusal is about the secret alone.
    util::cli(d.path())
        .arg("replay")
        .arg(&req)
        .args([
            "--base-url",
            &sim.base_url(),
            "--out",
            "out.zip",
            "--no-key",
            "--log",
        ])
        .arg(&log)
        .run()
        .success();
}

#[test]
fn leak_in_a_member_written_after_scrubbing_is_refused_by_the_library() {
    let d = util::tempdir();
    let scrubber = Scrubber::new({
        let mut o = ScrubOptions::default();
        o.known = vec![KnownSecret::new("cohere-key", KEY)];
        o.redact_content = false;
        o
    });
    // A caller scrubs text under a member name that holds the key; the redaction report keeps that name and
    // `redactions.json` is written after scrubbing, unscrubbed.
    let cleaned = scrubber.scrub_str(&format!("notes-{KEY}.txt"), &format!("key={KEY}"));
    assert!(!cleaned.contains(KEY));
    let members = vec![
        Member::text("notes.txt", cleaned),
        Member {
            name: "report.md".into(),
            source: MemberSource::Text("# hi\n".into()),
        },
    ];
    let path = d.path().join("b.zip");
    let err = bundle::write_bundle(
        &members,
        &scrubber,
        &WriteOptions {
            path: path.clone(),
            force: false,
            cuts: Vec::new(),
        },
    )
    .expect_err("must refuse");
    match &err {
        cohere_bundle_core::Error::Leak {
            member,
            label,
            encoding,
        } => {
            assert_eq!(member, "redactions.json");
            assert_eq!(label, "cohere-key");
            assert_eq!(encoding, "raw");
        }
        other => panic!("expected Error::Leak, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 3);
    assert!(
        !err.to_string().contains(KEY),
        "the error never shows the secret"
    );
    assert!(
        util::dir_listing(d.path()).is_empty(),
        "no zip and no temp file: {:?}",
        util::dir_listing(d.path())
    );
}

#[test]
fn demo_writes_a_bundle_that_unzip_and_verify_accept() {
    let d = util::tempdir();
    let run = util::cli(d.path())
        .args(["demo", "--json", "--out", "demo.zip"])
        .run()
        .success();
    let v = run.json();
    let zip = d.path().join("demo.zip");
    assert_eq!(
        v["bundle"].as_str().map(std::path::PathBuf::from),
        Some(std::path::PathBuf::from("demo.zip"))
    );
    assert!(zip.is_file());
    let names: Vec<String> = util::members(&zip).into_iter().map(|(n, _)| n).collect();
    for m in [
        "report.md",
        "report.html",
        "summary.json",
        "request.json",
        "manifest.json",
        "redactions.json",
    ] {
        assert!(names.iter().any(|n| n == m), "{m} in {names:?}");
    }
    if which("unzip") {
        let st = std::process::Command::new("unzip")
            .arg("-tq")
            .arg(&zip)
            .output()
            .expect("unzip runs");
        assert!(
            st.status.success(),
            "unzip -t: {}",
            String::from_utf8_lossy(&st.stdout)
        );
    }
    // The demo plants DEMO_KEY in its log; verify searches for it and finds none.
    let r = util::cli(d.path())
        .args(["verify", "demo.zip", "--json", "--secret", DEMO_KEY])
        .run()
        .success();
    let rv = r.json();
    assert_eq!(rv["ok"], true);
    assert!(rv["members_checked"].as_u64().unwrap_or(0) >= 6, "{rv}");
    // A tampered bundle is rejected.
    let mut bytes = std::fs::read(&zip).expect("read");
    let i = bytes.len() / 3;
    bytes[i] ^= 0x55;
    std::fs::write(d.path().join("bad.zip"), bytes).expect("write");
    let bad = util::cli(d.path()).args(["verify", "bad.zip"]).run();
    assert_ne!(bad.code, 0, "tampered bundle must not verify");
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

#[test]
fn existing_email_draft_needs_force() {
    let sim = Sim::default_config();
    let d = util::tempdir();
    let env = util::envelope(
        "https://api.cohere.com",
        "/v2/chat",
        &[
            ("Authorization", &format!("Bearer {DEMO_KEY}")),
            ("x-simulate", "server-error"),
        ],
        &chat_body(),
    );
    let req = util::write(d.path(), "req.json", env);
    let eml = util::write(d.path(), "out.eml", "my draft");
    let replay = || {
        util::cli(d.path()).arg("replay").arg(&req).args([
            "--base-url",
            &sim.base_url(),
            "--out",
            "out.zip",
            "--eml",
        ])
    };
    replay().run().fails(2, &["out.eml", "--force"]);
    assert_eq!(
        std::fs::read_to_string(&eml).expect("kept"),
        "my draft",
        "draft not touched without --force"
    );
    assert_eq!(
        util::dir_listing(d.path()),
        vec!["out.eml", "req.json"],
        "no zip and no temp files"
    );
    replay().arg("--force").run().success();
    assert!(std::fs::read_to_string(&eml)
        .expect("rewritten")
        .contains("support@cohere.com"));
}
