//! Scrubber: property tests (known values never survive in any encoding, idempotence, clean text untouched),
//! snapshots of scrubbed HTTP captures, env dumps, HAR and curl lines, the `scrub` command, and known values
//! in every encoding through `bundle --log` and `verify --secret`.

use std::io::Write as _;

use base64::Engine as _;
use cohere_bundle_core::scrub::{scrub_command, KnownSecret, ScrubOptions, Scrubber};
use proptest::prelude::*;
use sha2::Digest as _;

use crate::util;

const KEY: &str = "Zq3vR8mT1xW6yB0nL5pK2sD9fH4jG7cA1eU8iO3r";

fn scrubber() -> Scrubber {
    Scrubber::new({
        let mut o = ScrubOptions::default();
        o.known = vec![KnownSecret::new("cohere-key", KEY)];
        o.redact_content = false;
        o
    })
}

/// Encodes `secret` (with a random prefix and suffix for base64 alignment) in one of the encodings the
/// scrubber knows.
fn encode(secret: &str, how: u8, pre: &str, post: &str) -> String {
    match how % 6 {
        0 => secret.to_string(),
        1 => base64::engine::general_purpose::STANDARD.encode(format!("{pre}{secret}{post}")),
        2 => {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{pre}{secret}{post}"))
        }
        3 => percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        4 => {
            let j = serde_json::to_string(secret).unwrap();
            j[1..j.len() - 1].to_string()
        }
        _ => serde_json::to_string(&serde_json::json!({ "k": secret })).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn a_known_secret_never_survives(
        secret in "[A-Za-z0-9!@#%^&*()_+=/ \"\\\\-]{8,40}",
        text in "[ -~\n]{0,300}",
        at in 0usize..300,
        how in 0u8..6,
        pre in "[a-z]{0,2}",
        post in "[a-z]{0,2}",
    ) {
        let s = Scrubber::new({
            let mut o = ScrubOptions::default();
            o.known = vec![KnownSecret::new("secret", secret.as_str())];
            o.redact_content = false;
            o
        });
        let mut at = at.min(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        let input = format!("{}{}{}", &text[..at], encode(&secret, how, &pre, &post), &text[at..]);
        let out = s.scrub_str("m", &input);
        prop_assert!(!out.contains(&secret), "raw secret survived: {out:?}");
        prop_assert!(s.find_leaks("m", out.as_bytes()).is_empty(), "an encoded form survived: {out:?}");
        let mut streamed = Vec::new();
        s.scrub_stream("m", input.as_bytes(), &mut streamed).unwrap();
        prop_assert!(s.find_leaks("m", &streamed).is_empty());
    }

    #[test]
    fn scrubbing_is_idempotent(
        parts in proptest::collection::vec(0usize..8, 1..12),
        filler in "[a-z ]{0,40}",
        tok in "[A-Za-z0-9]{36}",
    ) {
        let shapes = [
            format!("Authorization: Bearer {tok}\n"),
            format!("{{\"api_key\": \"{tok}\"}}"),
            format!("ghp_{tok}"),
            format!("password={tok}\n"),
            format!("postgres://app:{tok}@db:5432/x "),
            format!("curl -u me:{tok} https://x "),
            format!("key={KEY}&x=1"),
            filler.clone(),
        ];
        let input: String = parts.iter().map(|&i| shapes[i].as_str()).collect::<Vec<_>>().join(" ");
        let s = scrubber();
        let once = s.scrub_str("m", &input);
        let twice = s.scrub_str("m", &once);
        prop_assert_eq!(&once, &twice);
        prop_assert!(!once.contains(tok.as_str()) || parts.iter().all(|&i| i == 7));
    }

    #[test]
    fn text_without_secrets_is_unchanged(text in "[a-z0-9 ,.;!?()\n'\"-]{0,400}") {
        let s = scrubber();
        prop_assert_eq!(s.scrub_str("m", &text), text);
    }
}

#[test]
fn http_capture_snapshot() {
    let s = scrubber();
    let capture = format!(
        "POST /v2/chat HTTP/1.1\r\nHost: api.cohere.com\r\nAuthorization: Bearer {KEY}\r\nCookie: session=9f8e7d6c5b4a39281706f5e4d3c2b1a0\r\nX-Api-Key: 4b9d2f7a1c8e3b6d0a5f9c2e7b1d4a8f\r\nContent-Type: application/json\r\nX-Client-Name: my-app\r\n\r\n{{\"model\":\"command-r-plus\",\"message\":\"hi\",\"api_key\":\"Kx93hQm2Lr7TzV4bN8cW1pY6\"}}\r\n\r\nHTTP/1.1 401 Unauthorized\r\nSet-Cookie: __cf_bm=Qz81mXv2Ra94LkP0nWc7; Path=/; HttpOnly\r\nx-request-id: 3f2a9c1e-0b7d-4e58-9a61-2c4d8e7f1b30\r\n\r\n{{\"message\":\"invalid api token\"}}\r\n"
    );
    insta::assert_snapshot!("http_capture", s.scrub_str("capture.txt", &capture));
    insta::assert_json_snapshot!("http_capture_report", s.report());
}

#[test]
fn env_dump_snapshot() {
    let s = scrubber();
    let env = format!(
        "HOME=/home/dev\nPATH=/usr/local/bin:/usr/bin\nCO_API_KEY={KEY}\nCOHERE_API_KEY={KEY}\nAWS_ACCESS_KEY_ID=AKIAZ7Q3MX5R2LNV4PBD\nAWS_SECRET_ACCESS_KEY=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\nGITHUB_TOKEN=ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s12\nDATABASE_URL=postgres://app:pg-Secr3t-Pass@db.internal:5432/prod\nLANG=en_US.UTF-8\nMAX_TOKENS=4096\nRUST_LOG=debug\n"
    );
    insta::assert_snapshot!("env_dump", s.scrub_str("env.txt", &env));
}

#[test]
fn har_snapshot() {
    let s = scrubber();
    let har = format!(
        r#"{{"log":{{"entries":[{{"request":{{"method":"POST","url":"https://api.cohere.com/v2/chat?api_key=Hd82kQm1Pz7Lr4Tx9Vb3","headers":[{{"name":"Authorization","value":"Bearer {KEY}"}},{{"name":"Content-Type","value":"application/json"}},{{"name":"X-Amz-Security-Token","value":"FwoGZXIvYXdzEJr8Lq3Mx9Tz2"}}],"cookies":[{{"name":"sid","value":"a1b2c3d4e5f6a7b8c9d0"}},{{"name":"theme","value":"dark"}}],"queryString":[{{"name":"api_key","value":"Hd82kQm1Pz7Lr4Tx9Vb3"}}],"postData":{{"mimeType":"application/json","text":"{{\"model\":\"command-r\",\"message\":\"hello\"}}"}}}},"response":{{"status":429,"headers":[{{"name":"x-request-id","value":"7d1e0c2b-4a5f-4b6c-9d8e-1f2a3b4c5d6e"}}]}}}}]}}}}"#
    );
    insta::assert_snapshot!("har", s.scrub_str("capture.har", &har));
}

#[test]
fn curl_snapshot() {
    let s = scrubber();
    let curl = format!(
        "curl https://api.cohere.com/v2/chat -H 'Authorization: Bearer {KEY}' -H \"Content-Type: application/json\" -d '{{\"model\":\"command-r\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}'\ncurl -u admin:Tr0ub4dor-and-3 https://proxy.internal/health\ncurl --user 'svc:9Lm2Qx7Vr4Tz' -H \"X-Api-Key: sk-proj-{}\" https://api.openai.com/v1/models\n",
        "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5Yz7Ab9Cd1Ef3"
    );
    insta::assert_snapshot!("curl", s.scrub_str("curl.sh", &curl));
}

#[test]
fn scrub_command_reads_files_writes_report_and_names_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        format!("line one\nkey used: {KEY}\nextra=s3cr3t-value-99\n"),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut report = Vec::new();
    let rep = scrub_command(
        std::slice::from_ref(&log),
        vec![KnownSecret::new("secret", "s3cr3t-value-99")],
        false,
        &mut out,
        Some(&mut report),
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(!out.contains("s3cr3t-value-99"), "{out}");
    assert!(out.starts_with("line one\n"));
    assert_eq!(
        rep.total(),
        1,
        "only the --secret value is known here: {rep:?}"
    );
    let report = String::from_utf8(report).unwrap();
    assert!(
        report.contains("known:secret:raw") && !report.contains("s3cr3t"),
        "{report}"
    );
    let missing = dir.path().join("nope.log");
    let err = scrub_command(&[missing], vec![], false, &mut Vec::new(), None).unwrap_err();
    assert!(err.to_string().contains("nope.log"), "{err}");
}

#[test]
fn content_redaction_keeps_lengths_and_metadata() {
    let s = Scrubber::new({
        let mut o = ScrubOptions::default();
        o.known = vec![];
        o.redact_content = true;
        o
    });
    let mut body = serde_json::json!({
        "id": "c0ffee", "model": "command-r-plus", "finish_reason": "MAX_TOKENS",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "The quarterly numbers are confidential."}]},
        "usage": {"billed_units": {"input_tokens": 12, "output_tokens": 7}}
    });
    let n = s.redact_content_in(
        "response.json",
        cohere_bundle_core::Endpoint::ChatV2,
        &mut body,
    );
    assert_eq!(n, 1);
    let text = body["message"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        text.chars().count(),
        "The quarterly numbers are confidential.".len()
    );
    assert!(text.starts_with("[CONTENT:39 chars]"), "{text}");
    assert_eq!(body["model"], "command-r-plus");
    assert_eq!(body["usage"]["billed_units"]["input_tokens"], 12);
    assert_eq!(s.report().members["response.json"]["content"].count, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// The fuzz targets' properties on arbitrary bytes (the cargo-fuzz targets in `fuzz/` run the same checks
    /// for longer): no panic, no surviving known value, idempotence, streaming equals whole-text scrubbing.
    #[test]
    fn arbitrary_bytes_hold_the_fuzz_properties(data in proptest::collection::vec(any::<u8>(), 0..2000), key_at in 0usize..2000) {
        let mut data = data;
        let at = key_at.min(data.len());
        data.splice(at..at, KEY.bytes());
        let s = scrubber();
        let once = s.scrub_bytes("fuzz", &data);
        prop_assert!(s.find_leaks("fuzz", &once).is_empty());
        prop_assert_eq!(&s.scrub_bytes("fuzz", &once), &once);
        let mut streamed = Vec::new();
        s.scrub_stream("fuzz", data.as_slice(), &mut streamed).unwrap();
        prop_assert_eq!(&streamed, &once);
        let _ = cohere_bundle_core::input::request::parse_request("input", &data, &Default::default());
    }
}

fn b64(data: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn b64url(data: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// RFC 4648 base32, written here independently of the scrubber's own encoder.
fn base32(data: &[u8], pad: bool) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, block[0], block[1], block[2], block[3], block[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(A[((n >> (35 - 5 * i)) & 31) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Breaks `text` into lines of `width` characters, each line after the first indented by `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(width.max(1))
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    lines.join(&format!("\n{indent}"))
}

/// The encodings of issue 12, by name: `secret` written in one of them (`pre`/`post` are neighbours inside
/// the encoded data, `at` a split position, `indent` a next line's indentation, `width` a wrap width).
fn encode_new(
    secret: &str,
    how: u8,
    pre: &str,
    post: &str,
    at: usize,
    indent: &str,
    width: usize,
) -> (&'static str, String) {
    let data = format!("{pre}{secret}{post}");
    let at = 1 + at % (secret.len() - 1);
    match how % 11 {
        0 => ("hex", hex::encode(secret)),
        1 => ("hex", hex::encode_upper(secret)),
        2 => ("base32", base32(data.as_bytes(), true)),
        3 => (
            "base32",
            base32(data.as_bytes(), false).to_ascii_lowercase(),
        ),
        4 => ("base64_of_base64", b64(format!("{post}{}", b64(&data)))),
        5 => (
            "base64_of_base64",
            b64url(format!("{pre}{}{post}", b64url(&data))),
        ),
        6 => (
            "json_unicode",
            secret
                .chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect(),
        ),
        7 => (
            "json_unicode",
            secret
                .chars()
                .map(|c| format!("\\u{:04X}", c as u32))
                .collect(),
        ),
        8 => (
            "line_continuation",
            format!("{}\\\n{indent}{}", &secret[..at], &secret[at..]),
        ),
        9 => (
            "line_wrap",
            format!("{}\n{indent}{}", &secret[..at], &secret[at..]),
        ),
        _ => ("line_wrap", wrap(&b64(&data), width, indent)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// A key in any of the encodings of issue 12, anywhere in random text with newlines: the final check finds
    /// it, scrubbing leaves neither it nor its encoded form, and the final check then finds nothing (whole or
    /// streamed).
    #[test]
    fn a_known_key_never_survives_in_any_new_encoding(
        key in "[A-Za-z0-9+/=_-]{20,60}",
        text in "[ -~\n]{0,300}",
        offset in 0usize..300,
        how in 0u8..11,
        pre in "[a-z]{0,4}",
        post in "[a-z]{0,4}",
        at in 0usize..60,
        indent in "[ \t]{0,4}",
        width in 16usize..80,
    ) {
        let s = Scrubber::new({
            let mut o = ScrubOptions::default();
            o.known = vec![KnownSecret::new("secret", key.as_str())];
            o.redact_content = false;
            o
        });
        let (name, encoded) = encode_new(&key, how, &pre, &post, at, &indent, width);
        let at = offset.min(text.len());
        let input = format!("{}{encoded}{}", &text[..at], &text[at..]);
        let leaks = s.find_leaks("m", input.as_bytes());
        prop_assert!(!leaks.is_empty(), "{name} not found by the final check: {input:?}");
        let out = s.scrub_str("m", &input);
        prop_assert!(!out.contains(&key), "raw key survived: {out:?}");
        prop_assert!(!out.contains(&encoded), "{name} form survived: {out:?}");
        prop_assert!(out.contains("[REDACTED:secret:1]"), "{out:?}");
        prop_assert!(s.find_leaks("m", out.as_bytes()).is_empty(), "a form survived: {out:?}");
        let mut streamed = Vec::new();
        s.scrub_stream("m", input.as_bytes(), &mut streamed).unwrap();
        prop_assert_eq!(String::from_utf8(streamed).unwrap(), out);
    }
}

/// A 45-byte key: its hex, base32 and base64-of-base64 encodings hold no character that depends on anything
/// else, so each is replaced whole.
const KEY45: &str = "Qm3xT8vR2pL6nW9kZ4yB7cD1fH5jG0sA3eK9mP2qR5tU8";
const PH: &str = "[REDACTED:secret:1]";

/// The key of issue 12 in each new encoding: (encoding name, the text as written in the log, the text the
/// scrubbed log must hold instead).
fn issue12_lines() -> Vec<(&'static str, String, String)> {
    let k = KEY45;
    vec![
        ("hex", hex::encode(k), PH.into()),
        ("hex", hex::encode_upper(k), PH.into()),
        ("base32", base32(k.as_bytes(), true), PH.into()),
        (
            "base32",
            base32(k.as_bytes(), false).to_ascii_lowercase(),
            PH.into(),
        ),
        ("base64_of_base64", b64(b64(k)), PH.into()),
        ("base64_of_base64", b64url(b64url(k)), PH.into()),
        (
            "json_unicode",
            k.chars().map(|c| format!("\\u{:04x}", c as u32)).collect(),
            PH.into(),
        ),
        (
            "json_unicode",
            k.chars().map(|c| format!("\\u{:04X}", c as u32)).collect(),
            PH.into(),
        ),
        (
            "line_continuation",
            format!("{}\\\n{}", &k[..17], &k[17..]),
            format!("{PH}\\\n"),
        ),
        (
            "line_continuation",
            format!("{}\\\r\n    {}", &k[..30], &k[30..]),
            format!("{PH}\\\r\n    "),
        ),
        (
            "line_wrap",
            format!("{}\n{}", &k[..9], &k[9..]),
            format!("{PH}\n"),
        ),
        (
            "line_wrap",
            format!("{}\n\t{}", &k[..40], &k[40..]),
            format!("{PH}\n\t"),
        ),
        // base64 wrapped at 16 columns: 60 characters over four lines.
        ("line_wrap", wrap(&b64(k), 16, ""), format!("{PH}\n\n\n")),
    ]
}

#[test]
fn scrub_bundle_log_with_the_key_in_every_new_encoding_keeps_no_trace_and_verifies() {
    let d = util::tempdir();
    let req = util::write(
        d.path(),
        "req.json",
        util::envelope(
            "https://api.cohere.com",
            "/v2/chat",
            &[("Content-Type", "application/json")],
            &serde_json::json!({"model": "command-r-08-2024", "messages": [{"role": "user", "content": "hello"}]}),
        ),
    );
    let lines = issue12_lines();
    let mut log = String::new();
    let mut want = String::new();
    for (i, (name, written, scrubbed)) in lines.iter().enumerate() {
        log.push_str(&format!("{i} {name}: {written} end\n"));
        want.push_str(&format!("{i} {name}: {scrubbed} end\n"));
    }
    let log_path = util::write(d.path(), "app.log", &log);
    util::cli(d.path())
        .args(["bundle", "--request"])
        .arg(&req)
        .arg("--log")
        .arg(&log_path)
        .args(["--secret", KEY45, "--out", "b.zip"])
        .run()
        .success();
    let zip = d.path().join("b.zip");
    assert_eq!(util::member(&zip, "logs/app.log"), want);
    let pieces: Vec<&str> = [&KEY45[..9], &KEY45[9..17], &KEY45[17..30], &KEY45[30..40]].to_vec();
    for (member, data) in util::members(&zip) {
        let hay = String::from_utf8_lossy(&data);
        assert!(!hay.contains(KEY45), "raw key in {member}");
        for (name, written, _) in &lines {
            assert!(!hay.contains(written.as_str()), "{name} form in {member}");
        }
        for p in &pieces {
            assert!(!hay.contains(p), "a piece of the key in {member}");
        }
    }
    util::cli(d.path())
        .args(["verify", "b.zip", "--secret", KEY45])
        .run()
        .success();
}

/// A zip with `logs/app.log` holding `log` and a correct `manifest.json`.
fn zip_with_log(path: &std::path::Path, log: &str) {
    let f = std::fs::File::create(path).expect("create zip");
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default();
    let summary = "{\"schema_version\": 1}\n";
    let mut entries = Vec::new();
    for (name, body) in [("summary.json", summary), ("logs/app.log", log)] {
        z.start_file(name, opts).expect("start");
        z.write_all(body.as_bytes()).expect("write");
        entries.push(serde_json::json!({
            "name": name,
            "size": body.len(),
            "sha256": hex::encode(sha2::Sha256::digest(body.as_bytes())),
        }));
    }
    let manifest =
        serde_json::json!({"schema_version": 1, "tool": "test", "members": entries, "cuts": []});
    z.start_file("manifest.json", opts).expect("start");
    z.write_all(manifest.to_string().as_bytes()).expect("write");
    z.finish().expect("finish zip");
}

#[test]
fn scrub_verify_rejects_a_zip_holding_the_key_in_each_new_encoding_and_names_it() {
    let d = util::tempdir();
    // The same zip without the key verifies, so each refusal is about the key alone.
    zip_with_log(&d.path().join("clean.zip"), "nothing secret here\n");
    util::cli(d.path())
        .args(["verify", "clean.zip", "--secret", KEY45])
        .run()
        .success();
    for (i, (name, written, _)) in issue12_lines().into_iter().enumerate() {
        let zip = format!("leak-{i}.zip");
        zip_with_log(
            &d.path().join(&zip),
            &format!("2026-11-24 DEBUG token {written} sent\n"),
        );
        let run = util::cli(d.path())
            .args(["verify", &zip, "--secret", KEY45])
            .run()
            .fails(
                3,
                &["logs/app.log", "known secret", &format!("(secret, {name})")],
            );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}
