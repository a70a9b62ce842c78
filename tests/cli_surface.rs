//! The command line's surface (issue 15): help with examples and environment, values checked at parse time,
//! shell completions and the man page, secrets given off the command line, and `--json` errors.

use crate::util;

/// The subcommands `cohere-bundle --help` lists.
fn subcommands(dir: &std::path::Path) -> Vec<String> {
    let help = util::cli(dir).arg("--help").run().success().stdout;
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_subcommand_help_ends_with_examples_and_its_environment() {
    let d = util::tempdir();
    let subs = subcommands(d.path());
    assert!(subs.len() >= 6, "{subs:?}");
    for sub in &subs {
        for flag in ["--help", "-h"] {
            let out = util::cli(d.path())
                .args([sub.as_str(), flag])
                .run()
                .success()
                .stdout;
            let ex = out
                .find("\nExamples:\n")
                .unwrap_or_else(|| panic!("{sub} {flag}: no Examples:\n{out}"));
            let env = out
                .find("\nEnvironment:\n")
                .unwrap_or_else(|| panic!("{sub} {flag}: no Environment"));
            assert!(ex < env, "{sub}: examples come first");
            assert!(
                out[ex..].contains(&format!("cohere-bundle {sub}")),
                "{sub}: an example of itself"
            );
            assert!(out[env..].contains("NO_COLOR"), "{sub}: NO_COLOR");
        }
    }
    let replay = util::cli(d.path())
        .args(["replay", "--help"])
        .run()
        .success()
        .stdout;
    for var in [
        "CO_API_KEY",
        "COHERE_API_KEY",
        "CO_API_URL",
        "COHERE_BUNDLE_CACHE_DIR",
        "COHERE_BUNDLE_FROM",
        "EMAIL",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTPS_PROXY",
        "NO_PROXY",
    ] {
        assert!(replay.contains(var), "replay --help names {var}");
    }
}

#[test]
fn a_base_url_without_a_scheme_is_a_usage_error_naming_the_fix() {
    let d = util::tempdir();
    let req = util::write(
        d.path(),
        "req.json",
        r#"{"model":"command-r","messages":[{"role":"user","content":"hi"}]}"#,
    );
    let r = util::cli(d.path())
        .arg("replay")
        .arg(&req)
        .args(["--base-url", "api.cohere.com", "--no-key"])
        .run();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("add https://"), "{}", r.stderr);
    assert!(r.stderr.contains("https://api.cohere.com"), "{}", r.stderr);
    // The same from the environment.
    util::cli(d.path())
        .arg("replay")
        .arg(&req)
        .arg("--no-key")
        .env("CO_API_URL", "api.cohere.com")
        .run()
        .fails(2, &["CO_API_URL", "add https://"]);
    let r = util::cli(d.path())
        .args(["observe", "--upstream", "localhost:8080"])
        .run();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("add https://"), "{}", r.stderr);
    assert!(
        util::dir_listing(d.path()) == ["req.json"],
        "nothing written"
    );
}

#[test]
fn status_is_between_100_and_599() {
    let d = util::tempdir();
    let req = util::write(
        d.path(),
        "req.json",
        r#"{"model":"command-r","messages":[{"role":"user","content":"hi"}]}"#,
    );
    for bad in ["99", "600", "0", "65535", "-1", "abc"] {
        let r = util::cli(d.path())
            .args(["bundle", "--request"])
            .arg(&req)
            .arg(format!("--status={bad}"))
            .run();
        assert_eq!(r.code, 2, "--status {bad}: {r:?}");
        assert!(r.stderr.contains("--status"), "{}", r.stderr);
    }
    for ok in ["100", "599"] {
        util::cli(d.path())
            .args(["bundle", "--request"])
            .arg(&req)
            .args(["--status", ok, "--out", &format!("{ok}.zip")])
            .run()
            .success();
    }
}

fn have(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn completions_for_every_shell_and_the_bash_one_sources_cleanly() {
    let d = util::tempdir();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = util::cli(d.path())
            .args(["completions", shell])
            .run()
            .success();
        assert!(r.stdout.len() > 1000, "{shell}: {} bytes", r.stdout.len());
        for word in ["cohere-bundle", "replay", "base-url", "max-size"] {
            assert!(r.stdout.contains(word), "{shell} completion names {word}");
        }
        assert!(r.stderr.is_empty(), "{shell}: {}", r.stderr);
        util::write(d.path(), &format!("completion.{shell}"), &r.stdout);
    }
    let bash = d.path().join("completion.bash");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && complete -p cohere-bundle")
        .arg("bash")
        .arg(&bash)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "source failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cohere-bundle"));
    // The other shells check their script's syntax when they are installed.
    for (shell, check) in [("zsh", "zsh -n"), ("fish", "fish --no-execute")] {
        if have(shell) {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{check} \"$1\""))
                .arg("sh")
                .arg(d.path().join(format!("completion.{shell}")))
                .output()
                .expect("shell runs");
            assert!(
                out.status.success(),
                "{shell}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let r = util::cli(d.path()).args(["completions", "tcsh"]).run();
    assert_eq!(r.code, 2, "an unknown shell is a usage error");
}

#[test]
fn man_pages_render_without_warnings() {
    let d = util::tempdir();
    let mut pages = vec![(
        String::from("cohere-bundle"),
        util::cli(d.path()).arg("man").run().success().stdout,
    )];
    for sub in subcommands(d.path()) {
        let page = util::cli(d.path())
            .args(["man", &sub])
            .run()
            .success()
            .stdout;
        pages.push((format!("cohere-bundle-{sub}"), page));
    }
    for (name, page) in &pages {
        assert!(
            page.starts_with(".ie") || page.starts_with(".TH"),
            "{name}: roff"
        );
        assert!(page.contains(&format!(".TH {name} 1")), "{name}: title");
        assert!(page.contains(".SH EXAMPLES"), "{name}: examples");
    }
    util::cli(d.path())
        .args(["man", "nope"])
        .run()
        .fails(2, &["nope", "replay"]);
    if !have("groff") {
        eprintln!(
            "SKIPPED rendering the man pages: groff is not installed (scripts/test installs groff-base when run as root)"
        );
        return;
    }
    for (name, page) in &pages {
        let f = util::write(d.path(), &format!("{name}.1"), page);
        // -ww: every warning; -z: no output, only the diagnostics.
        let out = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&f)
            .output()
            .expect("groff runs");
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "{name}: {warnings}"
        );
        let text = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-P-cbou"])
            .arg(&f)
            .output()
            .expect("groff runs");
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("EXAMPLES") && text.contains("NO_COLOR"),
            "{name}:\n{text}"
        );
    }
}

/// A request, response and log that all hold `a` and `b` (the response's message echoes them, so the
/// closing lines on stdout would show them too).
fn leaky_inputs(dir: &std::path::Path, a: &str, b: &str) -> Vec<String> {
    let req = util::write(
        dir,
        "req.json",
        serde_json::json!({"model": "command-r-08-2024", "max_tokens": 50,
            "messages": [{"role": "user", "content": format!("connect with {a} and {b}")}]})
        .to_string(),
    );
    let resp = util::write(
        dir,
        "resp.json",
        serde_json::json!({"message": format!("invalid request: {a} {b}")}).to_string(),
    );
    let log = util::write(dir, "app.log", format!("db password {a}\nsession {b}\n"));
    [
        "bundle".into(),
        "--request".into(),
        req.display().to_string(),
        "--response".into(),
        resp.display().to_string(),
        "--status".into(),
        "400".into(),
        "--log".into(),
        log.display().to_string(),
        "--no-env-scan".into(),
    ]
    .to_vec()
}

/// Every place a value could leak: each zip member in every encoding, stdout and stderr.
#[track_caller]
fn assert_absent(zip: &std::path::Path, run: &util::Run, secrets: &[&str]) {
    for s in secrets {
        for (form, how) in cohere_bundle_core::scrub::encoded_forms(s) {
            for (name, bytes) in util::members(zip) {
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(&form), "{name} holds {s} ({how:?})");
            }
        }
        assert!(!run.stdout.contains(s), "stdout: {}", run.stdout);
        assert!(!run.stderr.contains(s), "stderr: {}", run.stderr);
    }
}

#[test]
fn secrets_given_by_environment_name_or_file_are_scrubbed_like_secret() {
    let (a, b, c) = (
        "quartzLemonade9183xyz",
        "velvetHarbor4471abc",
        "amberFalcon2207qrs",
    );
    let d = util::tempdir();
    let args = leaky_inputs(d.path(), a, b);
    // Without them the values do reach the bundle: the inputs are a real test.
    let plain = util::cli(d.path())
        .args(&args)
        .args(["--out", "plain.zip"])
        .run()
        .success();
    let all: String = util::members(&d.path().join("plain.zip"))
        .into_iter()
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .collect();
    assert!(
        all.contains(a) && all.contains(b),
        "control: values in the zip"
    );
    assert!(
        plain.stdout.contains(a),
        "control: the message is echoed on stdout"
    );

    let secrets = util::write(
        d.path(),
        "secrets.txt",
        format!("# database\n{b}\n\n   # not a secret: a comment\n  {c}  \n"),
    );
    let run = util::cli(d.path())
        .args(&args)
        .args(["--secret-env", "MY_PLAIN_SETTING", "--secrets-file"])
        .arg(&secrets)
        .args(["--out", "scrubbed.zip"])
        .env("MY_PLAIN_SETTING", a)
        .run()
        .success();
    assert_absent(&d.path().join("scrubbed.zip"), &run, &[a, b]);
    let report = util::member(&d.path().join("scrubbed.zip"), "report.md");
    assert!(report.contains("[REDACTED:"), "placeholders in the report");
    // --json too.
    let run = util::cli(d.path())
        .args(&args)
        .args(["--secret-env", "MY_PLAIN_SETTING", "--secrets-file"])
        .arg(&secrets)
        .args(["--out", "json.zip", "--json"])
        .env("MY_PLAIN_SETTING", a)
        .run()
        .success();
    run.json();
    assert_absent(&d.path().join("json.zip"), &run, &[a, b]);

    // scrub: the same flags.
    let run = util::cli(d.path())
        .args([
            "scrub",
            "app.log",
            "--secret-env",
            "MY_PLAIN_SETTING",
            "--secrets-file",
        ])
        .arg(&secrets)
        .arg("--report")
        .env("MY_PLAIN_SETTING", a)
        .run()
        .success();
    assert!(
        run.stdout.contains("db password [REDACTED:"),
        "{}",
        run.stdout
    );
    for s in [a, b] {
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "scrub printed {s}"
        );
    }

    // verify: a zip that holds them is refused, naming no value.
    let run = util::cli(d.path())
        .args(["verify", "plain.zip", "--secret-env", "MY_PLAIN_SETTING"])
        .env("MY_PLAIN_SETTING", a)
        .run();
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!run.stderr.contains(a) && !run.stdout.contains(a));
    let run = util::cli(d.path())
        .args(["verify", "plain.zip", "--secrets-file"])
        .arg(&secrets)
        .run();
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!run.stderr.contains(b) && !run.stdout.contains(b));
    util::cli(d.path())
        .args([
            "verify",
            "scrubbed.zip",
            "--secret-env",
            "MY_PLAIN_SETTING",
            "--secrets-file",
        ])
        .arg(&secrets)
        .env("MY_PLAIN_SETTING", a)
        .run()
        .success();
}

#[test]
fn an_unset_secret_variable_or_missing_secrets_file_is_a_usage_error() {
    let d = util::tempdir();
    let args = leaky_inputs(d.path(), "quartzLemonade9183xyz", "velvetHarbor4471abc");
    util::cli(d.path())
        .args(&args)
        .args(["--secret-env", "NOT_SET_ANYWHERE", "--out", "x.zip"])
        .run()
        .fails(2, &["--secret-env NOT_SET_ANYWHERE", "not set"]);
    util::cli(d.path())
        .args(&args)
        .args(["--secret-env", "EMPTY_ONE", "--out", "x.zip"])
        .env("EMPTY_ONE", "")
        .run()
        .fails(2, &["EMPTY_ONE", "empty"]);
    util::cli(d.path())
        .args(&args)
        .args(["--secrets-file", "nope.txt", "--out", "x.zip"])
        .run()
        .fails(2, &["--secrets-file nope.txt"]);
    util::cli(d.path())
        .args(["scrub", "app.log", "--secret-env", "NOT_SET_ANYWHERE"])
        .run()
        .fails(2, &["NOT_SET_ANYWHERE"]);
    assert!(!d.path().join("x.zip").exists());
}

/// The one line of `text`, parsed as a JSON object.
#[track_caller]
fn one_json_line(text: &str) -> serde_json::Value {
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "one JSON line: {text:?}"
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn scrub_json_prints_the_redaction_report_as_json_on_stderr() {
    let d = util::tempdir();
    let log = util::write(
        d.path(),
        "app.log",
        "password=quartzLemonade9183xyz\nplain line\n",
    );
    let run = util::cli(d.path())
        .args(["scrub", "--json", "--secret", "quartzLemonade9183xyz"])
        .arg(&log)
        .run()
        .success();
    assert!(
        run.stdout.contains("plain line") && !run.stdout.contains("quartzLemonade"),
        "{}",
        run.stdout
    );
    let v = one_json_line(&run.stderr);
    assert!(v["total"].as_u64().unwrap_or(0) >= 1, "{v}");
    assert!(
        v["redactions"].as_object().is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert!(!run.stderr.contains("quartzLemonade"));
}

#[test]
fn errors_under_json_are_json_for_every_command() {
    let d = util::tempdir();
    let check = |v: &serde_json::Value, code: u64| {
        assert_eq!(v["error"]["exit_code"].as_u64(), Some(code), "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        assert!(v["error"]["kind"].as_str().is_some(), "{v}");
    };
    // Errors found while running: stdout is one JSON object.
    for args in [
        vec!["replay", "missing.json", "--json"],
        vec!["bundle", "--request", "missing.json", "--json"],
        vec!["verify", "missing.zip", "--json"],
        vec!["demo", "--json", "--secret-env", "NOT_SET_ANYWHERE"],
        // A log observe may read later need not exist yet; a directory is never a log.
        vec!["observe", "--json", "--log", ".", "--", "true"],
    ] {
        let r = util::cli(d.path()).args(&args).run();
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        check(&r.json(), 2);
    }
    // Errors clap finds in the command line, under --json too.
    for args in [
        vec!["bundle", "--request", "r.json", "--status", "600", "--json"],
        vec!["replay", "r.json", "--base-url", "api.cohere.com", "--json"],
        vec!["verify", "--json", "--no-such-flag", "x.zip"],
    ] {
        let r = util::cli(d.path()).args(&args).run();
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        let v = r.json();
        check(&v, 2);
        assert_eq!(v["error"]["kind"], "usage", "{v}");
        assert!(
            r.stderr.contains("error:"),
            "clap's own message stays on stderr"
        );
    }
    // scrub --json: stdout is the scrubbed text, so the error object is on stderr, alone.
    for args in [
        vec!["scrub", "--json", "missing.log"],
        vec!["scrub", "--json", "--secret-env", "NOT_SET_ANYWHERE"],
        vec!["scrub", "--json", "--no-such-flag"],
    ] {
        let r = util::cli(d.path()).args(&args).run();
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        check(&one_json_line(&r.stderr), 2);
    }
    // Help asked for next to --json is help, exit 0.
    let r = util::cli(d.path())
        .args(["replay", "--help", "--json"])
        .run()
        .success();
    assert!(r.stdout.contains("Examples:"), "{}", r.stdout);
    // Without --json an error stays one plain line.
    util::cli(d.path())
        .args(["verify", "missing.zip"])
        .run()
        .fails(2, &["missing.zip"]);
}

#[test]
fn the_support_line_follows_the_cause() {
    let d = util::tempdir();
    let req = util::write(
        d.path(),
        "req.json",
        r#"{"model":"command-r-08-2024","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    let resp = util::write(
        d.path(),
        "resp.json",
        r#"{"message":"something went wrong"}"#,
    );
    // (status, cause, side, support needed)
    for (status, code, side, needed) in [
        ("401", "invalid_api_key", "user", false),
        ("404", "model_not_found", "user", false),
        ("500", "server_error", "cohere", true),
        ("503", "service_unavailable", "cohere", true),
        ("403", "forbidden", "unknown", true),
        // A 200 is no failure: nothing to write to support about (issue 22).
        ("200", "", "unknown", false),
    ] {
        let zip = format!("{status}.zip");
        let run = util::cli(d.path())
            .args(["bundle", "--request"])
            .arg(&req)
            .arg("--response")
            .arg(&resp)
            .args(["--status", status, "--out", &zip])
            .run()
            .success();
        let s = util::summary(&d.path().join(&zip));
        assert_eq!(
            s["causes"][0]["code"].as_str().unwrap_or(""),
            code,
            "{status}"
        );
        assert_eq!(s["cause_side"], side, "{status}");
        assert_eq!(s["support_needed"], needed, "{status}");
        assert_eq!(s["schema_version"], 1);
        let last = run
            .stdout
            .trim_end()
            .lines()
            .last()
            .unwrap_or("")
            .to_string();
        if needed {
            assert!(
                last.starts_with("Support is needed")
                    && last.contains("send this bundle to support@cohere.com"),
                "{status}: {}",
                run.stdout
            );
            assert!(!run.stdout.contains("not needed"), "{status}");
        } else if code.is_empty() {
            assert!(
                last.starts_with("Support is not needed: no request failed"),
                "{status}: {}",
                run.stdout
            );
        } else {
            assert!(
                last.starts_with("Support is not needed")
                    && last.contains(code)
                    && last.contains("only if"),
                "{status}: {}",
                run.stdout
            );
            assert!(!run.stdout.contains("Attach it"), "{status}");
        }
        // --json says the same.
        let v = util::cli(d.path())
            .args(["bundle", "--request"])
            .arg(&req)
            .arg("--response")
            .arg(&resp)
            .args(["--status", status, "--out", &zip, "--force", "--json"])
            .run()
            .success()
            .json();
        assert_eq!(v["support_needed"], needed, "{status}");
    }
}

#[test]
fn the_report_shows_the_request_body_shortened_scrubbed_and_redacted_on_request() {
    let d = util::tempdir();
    let long = "lorem ipsum dolor sit amet ".repeat(100);
    let docs: Vec<serde_json::Value> = (0..30)
        .map(|i| serde_json::json!({"id": format!("doc-{i}"), "data": {"text": format!("document number {i}")}}))
        .collect();
    let body = serde_json::json!({
        "model": "command-r-08-2024",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": format!("{long} the damaged cover amberFalcon2207qrs")}],
        "documents": docs,
    });
    let req = util::write(d.path(), "req.json", body.to_string());
    let resp = util::write(d.path(), "resp.json", r#"{"message":"invalid request"}"#);
    let run = |extra: &[&str], out: &str| {
        util::cli(d.path())
            .args(["bundle", "--request"])
            .arg(&req)
            .arg("--response")
            .arg(&resp)
            .args([
                "--status",
                "400",
                "--out",
                out,
                "--secret",
                "amberFalcon2207qrs",
            ])
            .args(extra)
            .run()
            .success();
        util::member(&d.path().join(out), "report.md")
    };
    let md = run(&[], "plain.zip");
    let section = md
        .split("## The request body")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a request body section");
    assert!(
        section.contains("\"model\": \"command-r-08-2024\""),
        "{section}"
    );
    assert!(
        section.contains("more characters]"),
        "long strings cut: {section}"
    );
    assert!(section.contains("more items"), "long lists cut: {section}");
    assert!(
        section.contains("doc-0") && !section.contains("doc-29"),
        "{section}"
    );
    assert!(
        section.lines().count() < 80,
        "bounded: {} lines",
        section.lines().count()
    );
    assert!(!md.contains("amberFalcon2207qrs"), "scrubbed");
    assert!(md.contains("[REDACTED:"), "placeholder shown");
    // --redact-content: the prompt and documents are not in the report's body.
    let md = run(&["--redact-content"], "redacted.zip");
    let section = md.split("## The request body").nth(1).expect("section");
    let section = section.split("\n## ").next().unwrap_or("");
    assert!(
        section.contains("\"model\": \"command-r-08-2024\""),
        "{section}"
    );
    assert!(
        !section.contains("lorem ipsum") && !section.contains("document number"),
        "{section}"
    );
}

#[test]
fn zip_members_carry_the_bundles_creation_time() {
    use chrono::Datelike;
    let d = util::tempdir();
    let before = chrono::Local::now().naive_local();
    util::cli(d.path())
        .args(["demo", "--out", "t.zip"])
        .run()
        .success();
    let after = chrono::Local::now().naive_local();
    let f = std::fs::File::open(d.path().join("t.zip")).expect("zip");
    let mut a = zip::ZipArchive::new(f).expect("a zip");
    assert!(a.len() >= 5);
    for i in 0..a.len() {
        let m = a.by_index(i).expect("member");
        let t = m.last_modified().expect("a time");
        let when =
            chrono::NaiveDate::from_ymd_opt(t.year().into(), t.month().into(), t.day().into())
                .and_then(|d| d.and_hms_opt(t.hour().into(), t.minute().into(), t.second().into()))
                .expect("a valid date");
        // Two-second steps: allow for the rounding down.
        assert!(
            when >= before - chrono::Duration::seconds(2) && when <= after,
            "{}: {when} not between {before} and {after}",
            m.name()
        );
    }
    // Out of the format's range: clamped, never an error.
    let t = cohere_bundle_core::bundle::zip_time(
        chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    );
    assert_eq!(t.year(), 1980);
    let now = cohere_bundle_core::bundle::zip_time(after);
    assert_eq!(
        (now.year() as i32, now.month() as u32),
        (after.year(), after.month())
    );
}

/// Runs bash's completion function of the generated script on `words` (the word being completed last) and
/// returns the candidates.
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let code = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; _cohere__bundle cohere-bundle '{}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words[cword],
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", &code])
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completion_completes_after_the_subcommand_and_hides_hidden_commands() {
    let d = util::tempdir();
    let run = util::cli(d.path())
        .args(["completions", "bash"])
        .run()
        .success();
    let script = util::write(d.path(), "c.bash", &run.stdout);
    let flags = bash_complete(&script, &["cohere-bundle", "replay", "--ma"]);
    for f in ["--matrix", "--matrix-anyway", "--max-calls"] {
        assert!(flags.iter().any(|c| c == f), "{f} in {flags:?}");
    }
    let platforms = bash_complete(&script, &["cohere-bundle", "replay", "--platform", ""]);
    assert_eq!(
        platforms,
        ["cohere", "bedrock", "sagemaker", "azure", "oci", "private"]
    );
    let endpoints = bash_complete(&script, &["cohere-bundle", "bundle", "--endpoint", "v2/"]);
    assert!(
        endpoints.iter().any(|e| e == "v2/chat") && endpoints.iter().all(|e| e.starts_with("v2/")),
        "{endpoints:?}"
    );
    let shells = bash_complete(&script, &["cohere-bundle", "completions", ""]);
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|c| c == s), "{s} in {shells:?}");
    }
    let top = bash_complete(&script, &["cohere-bundle", ""]);
    assert!(
        top.iter().any(|c| c == "replay") && top.iter().any(|c| c == "observe"),
        "{top:?}"
    );
    assert!(!top.iter().any(|c| c == "simulator"), "hidden: {top:?}");
}

#[test]
fn zsh_and_fish_completion_scripts_parse_in_their_shells() {
    for (shell, check) in [("zsh", vec!["-n"]), ("fish", vec!["--no-execute"])] {
        let d = util::tempdir();
        let run = util::cli(d.path())
            .args(["completions", shell])
            .run()
            .success();
        let script = util::write(d.path(), "c", &run.stdout);
        let out = std::process::Command::new(shell)
            .args(&check)
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("{shell} is not installed ({e}): scripts/test installs it"));
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let offered = run
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with("'simulator:") || l.contains("-a \"simulator\""));
        assert!(!offered, "{shell}: the hidden command is offered");
    }
}

#[test]
fn scrub_dash_reads_stdin_as_the_help_says() {
    let key = "q7Vd2LkP9sXw4RtZ8mNc3JbH6yFg1UaE5oKi0TpW";
    let out = assert_cmd::Command::cargo_bin("cohere-bundle")
        .expect("binary")
        .args(["scrub", "-"])
        .env("CO_API_KEY", key)
        .write_stdin(format!("request id 7f3c with key {key} failed\n"))
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("request id 7f3c") && !text.contains(key),
        "{text}"
    );
}

#[test]
fn exit_codes_are_in_the_help_and_the_man_page() {
    let d = util::tempdir();
    let help = util::cli(d.path()).arg("--help").run().success().stdout;
    let man = util::cli(d.path()).arg("man").run().success().stdout;
    for text in [&help, &man] {
        assert!(text.contains("Exit codes"), "{text}");
        for code in ["130, 143", "the final leak check found a known secret"] {
            assert!(text.contains(code), "{code}: {text}");
        }
    }
}
