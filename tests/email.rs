//! Email drafts and the size budget.

use std::io::{BufWriter, Read, Write};

use cohere_bundle_core::bundle::email;
use cohere_bundle_core::library::FailureReport;
use cohere_bundle_core::pipeline::BundleOptions;
use cohere_bundle_core::Endpoint;
use mail_parser::MimeHeaders;
use serde_json::json;

fn opts(dir: &std::path::Path, name: &str) -> BundleOptions {
    {
        let mut o = BundleOptions::default();
        o.output = Some(dir.join(name));
        o.cache_dir = Some(dir.join("cache"));
        o
    }
}

fn failure() -> FailureReport {
    FailureReport::new(Endpoint::ChatV2, json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hi"}]}))
        .status(429)
        .response_headers([("x-trial-endpoint-call-limit", "20"), ("x-trial-endpoint-call-remaining", "0")])
        .response_body(r#"{"id": "req-77", "message": "You are using a Trial key, which is limited to 20 API calls / minute."}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eml_parses_with_recipient_subject_and_the_zip() {
    let dir = tempfile::tempdir().unwrap();
    let mut bo = opts(dir.path(), "e.zip");
    bo.eml = true;
    let out = failure().write(&bo).await.unwrap();
    let eml = out.eml.clone().expect("eml written");
    assert_eq!(eml, dir.path().join("e.eml"));
    let raw = std::fs::read(&eml).unwrap();
    let msg = mail_parser::MessageParser::default()
        .parse(&raw[..])
        .expect("parses");
    let to = msg
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap();
    assert_eq!(to, "support@cohere.com");
    let subject = msg.subject().unwrap();
    assert!(subject.contains("429"), "{subject}");
    assert!(subject.contains("command-a-03-2025"), "{subject}");
    let cause = out.summary.causes.first().expect("a cause").code.as_str();
    assert!(subject.contains(cause), "{subject} lacks {cause}");
    let text = msg.body_text(0).unwrap();
    let mut report = String::new();
    zip::ZipArchive::new(std::fs::File::open(&out.path).unwrap())
        .unwrap()
        .by_name("report.md")
        .unwrap()
        .read_to_string(&mut report)
        .unwrap();
    assert_eq!(text.replace("\r\n", "\n").trim_end(), report.trim_end());
    // The body is multipart/alternative: report.md as text, report.html as HTML, both as in the zip.
    let alternative = msg
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.ctype() == "multipart" && c.subtype() == Some("alternative"))
        })
        .expect("a multipart/alternative part");
    let mail_parser::PartType::Multipart(children) = &alternative.body else {
        panic!("multipart/alternative holds parts")
    };
    let types: Vec<String> = children
        .iter()
        .map(|&i| {
            let c = msg.parts[i].content_type().expect("typed");
            format!("{}/{}", c.ctype(), c.subtype().unwrap_or(""))
        })
        .collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let html = msg.body_html(0).expect("an HTML body");
    let mut report_html = String::new();
    zip::ZipArchive::new(std::fs::File::open(&out.path).unwrap())
        .unwrap()
        .by_name("report.html")
        .unwrap()
        .read_to_string(&mut report_html)
        .unwrap();
    assert_eq!(
        html.replace("\r\n", "\n").trim_end(),
        report_html.trim_end()
    );
    assert!(subject.chars().count() < 78, "{subject}");
    assert!(
        subject.starts_with("Cohere API: v2/chat command-a-03-2025 429 "),
        "{subject}"
    );
    assert_eq!(
        msg.header_raw("X-Unsent").map(str::trim),
        Some("1"),
        "opens as a draft"
    );
    let att = msg.attachment(0).expect("attachment");
    assert_eq!(
        att.attachment_name(),
        out.path.file_name().unwrap().to_str()
    );
    assert_eq!(att.contents(), std::fs::read(&out.path).unwrap().as_slice());
}

#[test]
fn sizes_parse_for_the_cli() {
    assert_eq!(email::parse_size("500KiB").unwrap(), 512_000);
    assert!(email::parse_size("-3").is_err());
}

/// Writes a log of `target` bytes whose lines carry their number (so the newest lines are checkable) and some
/// incompressible noise (so the compression ratio is realistic). Returns the number of lines.
fn big_log(path: &std::path::Path, target: u64) -> u64 {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut state: u64 = 0x9E3779B97F4A7C15;
    let mut line = Vec::with_capacity(128);
    let (mut written, mut n) = (0u64, 0u64);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    while written < target {
        line.clear();
        line.extend_from_slice(b"2026-11-24T10:00:00Z INFO line=");
        line.extend_from_slice(format!("{n:09}").as_bytes());
        line.extend_from_slice(b" request finished trace=");
        for _ in 0..2 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for k in 0..16 {
                line.push(HEX[((state >> (k * 4)) & 15) as usize]);
            }
        }
        line.push(b'\n');
        w.write_all(&line).unwrap();
        written += line.len() as u64;
        n += 1;
    }
    w.flush().unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_log_fits_10_mib_keeping_the_newest_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let lines = big_log(&log, 200 * 1024 * 1024);
    let mut bo = opts(dir.path(), "big.zip");
    bo.logs.push(log.clone());
    bo.max_size = Some(email::DEFAULT_MAX_SIZE);
    let out = failure().write(&bo).await.unwrap();
    assert!(out.size <= email::DEFAULT_MAX_SIZE, "{} bytes", out.size);
    assert_eq!(std::fs::metadata(&out.path).unwrap().len(), out.size);
    // It uses the budget rather than dropping everything.
    assert!(out.size > email::DEFAULT_MAX_SIZE / 2, "{} bytes", out.size);
    assert!(
        out.summary
            .cuts
            .iter()
            .any(|c| c.starts_with("logs/app.log: kept only the newest")),
        "{:?}",
        out.summary.cuts
    );
    let mut z = zip::ZipArchive::new(std::fs::File::open(&out.path).unwrap()).unwrap();
    let mut kept = String::new();
    z.by_name("logs/app.log")
        .unwrap()
        .read_to_string(&mut kept)
        .unwrap();
    let mut manifest = String::new();
    z.by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    let mut report = String::new();
    z.by_name("report.md")
        .unwrap()
        .read_to_string(&mut report)
        .unwrap();
    // The newest line is there, and the kept part is a contiguous run of whole lines ending with it.
    let last = kept.lines().last().unwrap();
    assert!(last.contains(&format!("line={:09}", lines - 1)), "{last}");
    let first = kept.lines().next().unwrap();
    assert!(
        first.starts_with("2026-11-24T10:00:00Z INFO line="),
        "cut mid-line: {first}"
    );
    let first_n: u64 = first[31..40].parse().unwrap();
    assert_eq!(lines - first_n, kept.lines().count() as u64);
    assert!(first_n > 0, "nothing was cut");
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert!(m["cuts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("logs/app.log")));
    assert!(report.contains("What was cut to fit the size budget"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_truncated_when_they_alone_exceed_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    // 3 MiB of incompressible-ish response text against a 512 KiB budget.
    let mut s: u64 = 7;
    let noise: String = (0..3 * 1024 * 1024)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            char::from(b'a' + (s % 26) as u8)
        })
        .collect();
    let mut bo = opts(dir.path(), "body.zip");
    bo.max_size = Some(512 * 1024);
    let out = FailureReport::new(
        Endpoint::ChatV2,
        json!({"model": "command-a-03-2025", "messages": []}),
    )
    .status(500)
    .response_body(&noise)
    .write(&bo)
    .await
    .unwrap();
    assert!(out.size <= 512 * 1024, "{}", out.size);
    assert!(
        out.summary
            .cuts
            .iter()
            .any(|c| c.contains("exchanges/001.json: response body")),
        "{:?}",
        out.summary.cuts
    );
    let mut z = zip::ZipArchive::new(std::fs::File::open(&out.path).unwrap()).unwrap();
    let mut ex = String::new();
    z.by_name("exchanges/001.json")
        .unwrap()
        .read_to_string(&mut ex)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ex).unwrap();
    assert_eq!(v["response"]["body"]["truncated"], true);
    assert_eq!(v["response"]["body"]["size"], 3 * 1024 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_too_small_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bo = opts(dir.path(), "tiny.zip");
    bo.max_size = Some(1000);
    let err = failure().write(&bo).await.unwrap_err();
    assert!(err.to_string().starts_with("max_size"), "{err}");
    assert!(!dir.path().join("tiny.zip").exists());
}

/// Runs `cohere-bundle demo --eml --out x.zip [extra]` in `dir` under `umask 000`.
fn demo_eml_umask_000(dir: &std::path::Path, extra: &str) -> std::process::Output {
    let cache = tempfile::tempdir().unwrap();
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec \"$0\" demo --eml --out x.zip {extra}"
        ))
        .arg(env!("CARGO_BIN_EXE_cohere-bundle"))
        .current_dir(dir)
        .env_remove("CO_API_KEY")
        .env_remove("COHERE_API_KEY")
        .env("COHERE_BUNDLE_CACHE_DIR", cache.path())
        .output()
        .unwrap()
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_draft_is_private_whatever_the_umask() {
    // It carries the zip, so it gets the zip's mode: 0600, not 0666 under `umask 000`.
    let dir = tempfile::tempdir().unwrap();
    let out = demo_eml_umask_000(dir.path(), "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&dir.path().join("x.eml")), 0o600);
    assert_eq!(mode(&dir.path().join("x.zip")), 0o600);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temp file left: {names:?}");
}

#[cfg(unix)]
#[test]
fn a_symlink_at_the_draft_is_replaced_under_force_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let eml = dir.path().join("x.eml");
    std::os::unix::fs::symlink(&victim, &eml).unwrap();
    // Without --force: "exists", and nothing is written (no zip either).
    let out = demo_eml_umask_000(dir.path(), "");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.eml") && err.contains("exists"), "{err}");
    assert!(!dir.path().join("x.zip").exists());
    // With --force: the link itself is replaced by a private regular file; its target is untouched.
    let out = demo_eml_umask_000(dir.path(), "--force");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let meta = std::fs::symlink_metadata(&eml).unwrap();
    assert!(meta.file_type().is_file(), "the link was replaced");
    assert_eq!(mode(&eml), 0o600);
    assert!(std::fs::read_to_string(&eml)
        .unwrap()
        .contains("support@cohere.com"));
}

#[cfg(unix)]
#[test]
fn a_dangling_symlink_at_the_draft_counts_as_existing() {
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("x.eml");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &eml).unwrap();
    let out = demo_eml_umask_000(dir.path(), "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !dir.path().join("nowhere").exists(),
        "nothing created through the link"
    );
}

#[test]
fn the_subject_stays_under_78_characters_with_a_long_model_id() {
    let d = tempfile::tempdir().unwrap();
    let model = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a1b2c3d4e5f6-my-fine-tuned-command-r-plus-for-support";
    let req = d.path().join("req.json");
    std::fs::write(
        &req,
        json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
    )
    .unwrap();
    let resp = d.path().join("resp.json");
    std::fs::write(&resp, r#"{"message": "internal server error"}"#).unwrap();
    crate::util::cli(d.path())
        .args(["bundle", "--request"])
        .arg(&req)
        .arg("--response")
        .arg(&resp)
        .args(["--status", "500", "--out", "long.zip", "--eml"])
        .run()
        .success();
    let raw = std::fs::read(d.path().join("long.eml")).unwrap();
    let msg = mail_parser::MessageParser::default()
        .parse(&raw[..])
        .expect("parses");
    let subject = msg.subject().unwrap();
    assert!(
        subject.chars().count() < 78,
        "{} chars: {subject}",
        subject.chars().count()
    );
    assert!(
        subject.starts_with("Cohere API: v2/chat arn:aws:bedrock"),
        "{subject}"
    );
    assert!(
        subject.ends_with(" 500 server_error"),
        "the status and cause are kept: {subject}"
    );
    assert!(subject.contains("..."), "the model is cut: {subject}");
}
