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
