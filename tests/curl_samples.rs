//! Issue 11: every path of Cohere's API reference replays. Every curl sample of the reference's OpenAPI spec (read
//! from `../shared/cohere-openapi/openapi.yaml` beside the repository, never copied into it) is pointed at a
//! simulator and replayed with the CLI. Each gives a bundle whose summary.json names the sample's endpoint and
//! model (from the body, the form or the path; null when the sample names none), or, for a sample that is itself
//! invalid (JSON with a trailing comma), a one-line error and exit 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cohere_bundle_core::Endpoint;
use cohere_bundle_simulator::DEMO_KEY;
use serde_json::Value;

use crate::util::{self, Sim};

/// The spec, relative to the repository.
fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/cohere-openapi/openapi.yaml")
}

/// The curl samples the spec holds (counted by hand from the spec: 52 `sdk: curl` code samples).
const SAMPLES: usize = 52;

/// The host every sample calls.
const SPEC_HOST: &str = "https://api.cohere.com";

/// What the test reads of the spec: its paths, their operations and the operations' code samples. Everything else
/// is skipped unread (the spec holds integers too large for a YAML value, such as `seed.maximum`).
#[derive(serde::Deserialize)]
struct Spec {
    paths: BTreeMap<String, PathItem>,
}

#[derive(serde::Deserialize)]
struct PathItem {
    get: Option<Operation>,
    post: Option<Operation>,
    put: Option<Operation>,
    patch: Option<Operation>,
    delete: Option<Operation>,
}

#[derive(serde::Deserialize)]
struct Operation {
    /// Fern's examples, each with its `code-samples`.
    #[serde(rename = "x-fern-examples", default)]
    examples: Vec<Example>,
    /// The Redoc convention, in case the spec moves to it.
    #[serde(rename = "x-code-samples", default)]
    code_samples: Vec<CodeSample>,
}

#[derive(serde::Deserialize)]
struct Example {
    #[serde(rename = "code-samples", default)]
    code_samples: Vec<CodeSample>,
}

#[derive(serde::Deserialize)]
struct CodeSample {
    sdk: Option<String>,
    lang: Option<String>,
    language: Option<String>,
    /// The code, or a `$ref` to a file the spec was built from.
    code: Option<serde_norway::Value>,
    source: Option<serde_norway::Value>,
}

impl CodeSample {
    /// The code of a curl sample (a curl sample given only by reference fails the test: it cannot be read).
    fn curl(&self) -> Option<&str> {
        let curl = [&self.sdk, &self.lang, &self.language]
            .into_iter()
            .flatten()
            .any(|l| l.eq_ignore_ascii_case("curl"));
        if !curl {
            return None;
        }
        let code = self.code.as_ref().or(self.source.as_ref());
        let text = code.and_then(|c| c.as_str());
        assert!(text.is_some(), "a curl sample without its code: {code:?}");
        text
    }
}

fn spec() -> Spec {
    let path = spec_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the API reference's spec {} must be there: {e}",
            path.display()
        )
    });
    serde_norway::from_str(&text).expect("the spec is YAML")
}

/// One curl sample: the path template and method it documents, and its code.
#[derive(Debug)]
struct Sample {
    template: String,
    method: String,
    code: String,
}

/// Every code sample with `sdk: curl` (or `lang`/`language: curl`) of every operation.
fn curl_samples(spec: &Spec) -> Vec<Sample> {
    let mut samples = Vec::new();
    for (template, item) in &spec.paths {
        let ops = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let all = op
                .examples
                .iter()
                .flat_map(|e| &e.code_samples)
                .chain(&op.code_samples);
            for code in all.filter_map(CodeSample::curl) {
                samples.push(Sample {
                    template: template.clone(),
                    method: method.to_string(),
                    code: code.to_string(),
                });
            }
        }
    }
    samples
}

/// The endpoint name summary.json gives a path template: the path without its `/`; both model paths are
/// `v1/models` (schema v1's name).
fn expected_endpoint(template: &str) -> String {
    match template {
        "/v1/models/{model}" => "v1/models".into(),
        t => t[1..].to_string(),
    }
}

/// The model a sample names, read from its text: the body's `"model"` (quotes escaped or not), a form's
/// `model=`, or the path of `/v1/models/{model}`.
fn expected_model(sample: &Sample, url_path: &str) -> Option<String> {
    let body = regex::Regex::new(r#"\\?"model\\?"\s*:\s*\\?"([^"\\]*)"#).unwrap();
    if let Some(c) = body.captures(&sample.code) {
        return Some(c[1].to_string());
    }
    let form = regex::Regex::new(r"--form model=([^\s'\x22]+)").unwrap();
    if let Some(c) = form.captures(&sample.code) {
        return Some(c[1].to_string());
    }
    (sample.template == "/v1/models/{model}")
        .then(|| url_path.rsplit('/').next().unwrap_or("").to_string())
}

/// The sample's URL.
fn sample_url(code: &str) -> url::Url {
    let re = regex::Regex::new(r#"--url\s+['"]?([^'"\s]+)"#).unwrap();
    let u = &re.captures(code).expect("a --url")[1];
    url::Url::parse(u).expect("the sample's URL parses")
}

/// True for a sample whose JSON has a trailing comma (`,` before `}` or `]`).
fn has_trailing_comma(code: &str) -> bool {
    regex::Regex::new(r",\s*[}\]]").unwrap().is_match(code)
}

/// Creates the files a form sample uploads (`--form file=@./sample.wav`) under `dir`, as the user replaying the
/// sample has them.
fn create_form_files(code: &str, dir: &Path) -> usize {
    let re = regex::Regex::new(r#"=@([^\s;'"]+)"#).unwrap();
    let mut n = 0;
    for c in re.captures_iter(code) {
        let p = dir.join(&c[1]);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"{\"text\": \"a line of a sample file\"}\n").unwrap();
        n += 1;
    }
    n
}

#[test]
fn every_spec_path_is_an_endpoint() {
    let spec = spec();
    assert!(spec.paths.len() >= 30, "{} paths", spec.paths.len());
    let parameter = regex::Regex::new(r"\{[^}]+\}").unwrap();
    for template in spec.paths.keys() {
        // A path as called: each parameter given a value.
        let concrete = parameter.replace_all(template, "abc-1");
        for path in [concrete.to_string(), format!("/proxy{concrete}?x=1")] {
            let e = Endpoint::from_path(&path);
            assert_ne!(e, Endpoint::Other, "{path} (from {template})");
            assert_eq!(e.name(), expected_endpoint(template), "{path}");
            assert_eq!(Endpoint::from_name(e.name()), Some(e));
        }
    }
}

#[test]
fn every_curl_sample_replays() {
    let spec = spec();
    let samples = curl_samples(&spec);
    assert_eq!(samples.len(), SAMPLES, "curl samples in the spec");

    let sim = Sim::default_config();
    let base = sim.base_url();
    let mut bundles = 0;
    let mut refused = 0;
    let mut statuses: Vec<String> = Vec::new();
    for (i, sample) in samples.iter().enumerate() {
        let what = format!("sample {i}: {} {}", sample.method, sample.template);
        assert!(sample.code.contains(SPEC_HOST), "{what}: {}", sample.code);
        let code = sample.code.replace(SPEC_HOST, &base);
        assert!(
            !code.contains("cohere.com/v"),
            "{what}: still names the API"
        );
        let url = sample_url(&code);
        let dir = util::tempdir();
        let req = util::write(dir.path(), "request.sh", &code);
        create_form_files(&code, dir.path());
        let zip = dir.path().join("out.zip");
        let before = sim.requests().len();
        let run = util::cli(dir.path())
            .env("CO_API_KEY", DEMO_KEY)
            .arg("replay")
            .arg(&req)
            .args(["--json", "--out"])
            .arg(&zip)
            .run();

        if has_trailing_comma(&sample.code) {
            run.fails(2, &["request.sh", "trailing comma"]);
            assert!(!zip.exists(), "{what}: no bundle");
            assert_eq!(sim.requests().len(), before, "{what}: nothing sent");
            refused += 1;
            continue;
        }
        let run = run.success();
        assert_eq!(run.json()["bundle"].as_str(), zip.to_str(), "{what}");
        let s = util::summary(&zip);
        assert_eq!(s["mode"], "replay", "{what}");
        assert_eq!(
            s["endpoint"],
            expected_endpoint(&sample.template).as_str(),
            "{what}"
        );
        let model = expected_model(sample, url.path());
        assert_eq!(s["model"].as_str(), model.as_deref(), "{what}");
        // The request went out as the sample has it: method, path with its parameters, a body only when the
        // sample has one.
        let sent = sim.requests()[before..]
            .iter()
            .find(|r| r.path == url.path())
            .cloned()
            .unwrap_or_else(|| {
                panic!("{what}: {} not sent; sent {:?}", url.path(), sim.requests())
            });
        assert_eq!(sent.method, sample.method, "{what}");
        let has_body = sample.code.contains("--data") || sample.code.contains("--form");
        assert_eq!(
            !sent.body.is_empty(),
            has_body,
            "{what}: body {:?}",
            sent.body
        );
        let status = s["status"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: status {s}"));
        assert_ne!(
            status, 405,
            "{what}: the simulator routes {}",
            sample.method
        );
        assert!([200, 400, 404].contains(&status), "{what}: status {status}");
        // Only an id the simulator never created (the samples' placeholders), a mistyped path or a model the
        // simulator does not know is not found.
        if status == 404 {
            let unknown_model = s["causes"][0]["code"] == "model_not_found";
            assert!(
                sample.template.contains('{') || url.path() != sample.template || unknown_model,
                "{what}: 404: {}",
                s["error"]
            );
        }
        // Paths without input text have no sequence length.
        if s["seq_len"]["method"] == "unknown" {
            assert!(s["seq_len"]["tokens"].is_null(), "{what}");
        }
        statuses.push(format!("{status} {} {}", sample.method, url.path()));
        bundles += 1;
    }
    eprintln!("{}", statuses.join("\n"));
    assert_eq!((bundles, refused), (SAMPLES - 1, 1));
}

#[test]
fn a_form_sample_without_its_file_is_one_line_exit_2() {
    let samples = curl_samples(&spec());
    let sample = samples
        .iter()
        .find(|s| s.template == "/v2/audio/transcriptions")
        .expect("the transcription sample");
    let sim = Sim::default_config();
    let dir = util::tempdir();
    let req = util::write(
        dir.path(),
        "request.sh",
        sample.code.replace(SPEC_HOST, &sim.base_url()),
    );
    util::cli(dir.path())
        .env("CO_API_KEY", DEMO_KEY)
        .arg("replay")
        .arg(&req)
        .run()
        .fails(2, &["./sample.wav", "no such file"]);
    assert!(sim.requests().is_empty());
}

#[test]
fn a_form_sample_sends_multipart_with_the_file() {
    let samples = curl_samples(&spec());
    let sample = samples
        .iter()
        .find(|s| s.template == "/v2/audio/transcriptions")
        .expect("the transcription sample");
    let sim = Sim::default_config();
    let dir = util::tempdir();
    std::fs::write(dir.path().join("sample.wav"), b"RIFF-sample-audio").unwrap();
    let req = util::write(
        dir.path(),
        "request.sh",
        sample.code.replace(SPEC_HOST, &sim.base_url()),
    );
    let zip = dir.path().join("out.zip");
    util::cli(dir.path())
        .env("CO_API_KEY", DEMO_KEY)
        .arg("replay")
        .arg(&req)
        .arg("--out")
        .arg(&zip)
        .run()
        .success();
    let sent = sim
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/audio/transcriptions")
        .expect("sent");
    let ct = sent.header("content-type").unwrap_or("");
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    assert!(sent.body.contains("name=\"file\"; filename=\"sample.wav\""));
    assert!(sent.body.contains("RIFF-sample-audio"));
    assert!(sent
        .body
        .contains("name=\"model\"\r\n\r\ncohere-transcribe-03-2026\r\n"));
    let s = util::summary(&zip);
    assert_eq!(s["status"], 200);
    assert_eq!(s["model"], "cohere-transcribe-03-2026");
    let v: Value = serde_json::from_str(&util::member(&zip, "request.json")).unwrap();
    assert_eq!(v["body"]["file"]["@file"], "./sample.wav");
}

#[test]
fn an_offline_bedrock_bundle_names_the_model_from_the_path() {
    let dir = util::tempdir();
    let req = util::write(
        dir.path(),
        "bedrock.sh",
        r#"curl -X POST 'https://bedrock-runtime.us-east-1.amazonaws.com/model/cohere.command-r-v1%3A0/invoke' \
  -H 'Content-Type: application/json' \
  -d '{"message": "Summarise the ticket.", "max_tokens": 4000}'"#,
    );
    let resp = util::write(
        dir.path(),
        "response.json",
        r#"{"message":"Malformed input request"}"#,
    );
    let zip = dir.path().join("out.zip");
    util::cli(dir.path())
        .args(["bundle", "--request"])
        .arg(&req)
        .args(["--status", "400", "--response"])
        .arg(&resp)
        .arg("--out")
        .arg(&zip)
        .run()
        .success();
    let s = util::summary(&zip);
    assert_eq!(s["model"], "cohere.command-r-v1:0");
    assert_eq!(s["platform"], "bedrock");
    assert_eq!(s["endpoint"], "v1/chat");
    assert!(util::member(&zip, "report.md").contains("cohere.command-r-v1:0"));
}
