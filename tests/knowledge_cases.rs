//! Issue 19: causes that follow what the docs and the spec say. Each case is an offline bundle (`bundle
//! --request --response --status [--headers] [--platform]`) through the binary, checked for its first cause
//! and for the absence of a cause the old table arithmetic added; the mismatched log is a replay against the
//! simulator.

use serde_json::{json, Value};

use crate::util::{self, Sim};
use cohere_bundle_simulator::{SimConfig, DEMO_KEY};

/// One offline case: the request body, the response body, the status, optional headers and platform.
struct Case<'a> {
    endpoint: &'a str,
    request: Value,
    response: Value,
    status: u16,
    headers: &'a str,
    platform: Option<&'a str>,
}

impl Case<'_> {
    /// Writes the bundle and returns its summary.
    fn bundle(&self) -> Value {
        let d = util::tempdir();
        util::write(d.path(), "req.json", self.request.to_string());
        util::write(d.path(), "resp.json", self.response.to_string());
        let mut cli = util::cli(d.path()).args([
            "bundle",
            "--request",
            "req.json",
            "--endpoint",
            self.endpoint,
            "--response",
            "resp.json",
            "--status",
            &self.status.to_string(),
            "--out",
            "b.zip",
        ]);
        if !self.headers.is_empty() {
            util::write(d.path(), "headers.txt", self.headers);
            cli = cli.args(["--headers", "headers.txt"]);
        }
        if let Some(p) = self.platform {
            cli = cli.args(["--platform", p]);
        }
        cli.run().success();
        util::summary(&d.path().join("b.zip"))
    }
}

fn codes(s: &Value) -> Vec<String> {
    s["causes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn first_evidence(s: &Value) -> String {
    s["causes"][0]["evidence"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn notes(s: &Value, kind: &str) -> Vec<String> {
    s["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["kind"] == kind)
        .map(|n| n["text"].as_str().unwrap_or("").to_string())
        .collect()
}

fn long_text(words: usize) -> String {
    "the quarterly report covers revenue, churn and hiring across every region "
        .repeat(words / 12 + 1)
}

#[test]
fn an_embed_batch_over_96_is_the_batch_not_the_context_length() {
    let texts: Vec<String> = (0..104)
        .map(|i| format!("{} {i}", long_text(100)))
        .collect();
    let s = Case {
        endpoint: "v2/embed",
        request: json!({"model": "embed-english-v3.0", "input_type": "search_document", "embedding_types": ["float"], "texts": texts}),
        response: json!({"id": "e1", "message": "invalid request: total number of texts must be at most 96 - received 104"}),
        status: 400,
        headers: "",
        platform: None,
    }
    .bundle();
    assert_eq!(codes(&s), ["invalid_parameter_combination"], "{s:#}");
    assert!(first_evidence(&s).contains("96"), "{}", first_evidence(&s));
}

#[test]
fn a_rerank_503_with_long_documents_is_the_503() {
    let docs: Vec<String> = (0..20).map(|_| long_text(3000)).collect();
    let s = Case {
        endpoint: "v2/rerank",
        request: json!({"model": "rerank-v3.5", "query": "which report covers churn?", "documents": docs}),
        response: json!({"message": "service unavailable"}),
        status: 503,
        headers: "",
        platform: None,
    }
    .bundle();
    assert_eq!(codes(&s), ["service_unavailable"], "{s:#}");
    for n in notes(&s, "worth_checking") {
        assert!(n.contains("not a failure"), "a note, not a cause: {n}");
    }
}

#[test]
fn a_v2_504_with_a_large_max_tokens_is_the_504() {
    let s = Case {
        endpoint: "v2/chat",
        request: json!({"model": "command-a-03-2025", "max_tokens": 16000, "messages": [{"role": "user", "content": "Write a long story."}]}),
        response: json!({"message": "gateway timeout"}),
        status: 504,
        headers: "",
        platform: None,
    }
    .bundle();
    assert_eq!(codes(&s), ["gateway_timeout"], "{s:#}");
    let worth = notes(&s, "worth_checking");
    assert!(
        worth
            .iter()
            .any(|n| n.contains("16000") && n.contains("caps it silently")),
        "the cap is said, as not a cause: {worth:?}"
    );
}

#[test]
fn bedrock_quota_and_not_ready_follow_the_error_type_not_the_status() {
    let quota = Case {
        endpoint: "v2/chat",
        request: json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}),
        response: json!({"message": "The request exceeds the service quota for your account. Resubmit later."}),
        status: 400,
        headers: "x-amzn-ErrorType: ServiceQuotaExceededException:http://internal.amazon.com/coral/com.amazon.bedrock/\nx-amzn-RequestId: 11111111-2222-3333-4444-555555555555\n",
        platform: Some("bedrock"),
    }
    .bundle();
    assert_eq!(codes(&quota), ["quota_exceeded"], "{quota:#}");
    assert!(first_evidence(&quota).contains("ServiceQuotaExceededException"));
    assert!(quota["causes"][0]["next_step"]
        .as_str()
        .unwrap_or("")
        .to_ascii_lowercase()
        .contains("quota"));

    let not_ready = Case {
        endpoint: "v2/chat",
        request: json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}),
        response: json!({"message": "Model is not ready for inference. Wait and try your request again."}),
        status: 429,
        headers: "x-amzn-ErrorType: ModelNotReadyException:http://internal.amazon.com/coral/com.amazon.bedrock/\n",
        platform: Some("bedrock"),
    }
    .bundle();
    assert_eq!(codes(&not_ready), ["model_not_ready"], "{not_ready:#}");
    let ev = first_evidence(&not_ready);
    assert!(
        ev.contains("transient") && ev.contains("not relevant on AWS"),
        "{ev}"
    );
    assert!(
        not_ready["error"]["faq_meaning"].is_null(),
        "the FAQ's 429 row is not relevant on AWS: {}",
        not_ready["error"]
    );
}

/// A platform's status with no error type named: the cause comes from the error types the platform's data
/// documents for that status when they agree, and the bundle says it could not tell when they do not; no
/// error type is claimed that the response did not name.
#[test]
fn a_platform_status_without_its_error_type_is_read_from_the_data_or_said_untold() {
    let case = |status: u16, message: &str| {
        Case {
            endpoint: "v2/chat",
            request: json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}),
            response: json!({ "message": message }),
            status,
            headers: "",
            platform: Some("bedrock"),
        }
        .bundle()
    };
    // 424 on a call that did not stream: ModelErrorException (ModelStreamErrorException needs a stream).
    let s = case(424, "The model returned an error.");
    assert_eq!(codes(&s), ["model_error"], "{s:#}");
    let ev = first_evidence(&s);
    assert!(
        ev.contains("without naming an error type") && ev.contains("(ModelErrorException)"),
        "{ev}"
    );
    // 403: AccessDeniedException alone.
    let s = case(
        403,
        "You don't have access to the model with the specified model ID.",
    );
    assert_eq!(codes(&s), ["model_access_denied"], "{s:#}");
    // 429: ThrottlingException (a rate limit) or ModelNotReadyException (transient): could not tell.
    let s = case(429, "Too many requests, please wait before trying again.");
    let ev = first_evidence(&s);
    assert!(
        ev.contains("could not tell which")
            && ev.contains("ThrottlingException, ModelNotReadyException"),
        "{ev}"
    );
    assert!(!ev.contains("(ThrottlingException on AWS)"), "{ev}");
    // 400: ValidationException or ServiceQuotaExceededException: could not tell; no ValidationException claimed.
    let s = case(
        400,
        "Malformed input request: extraneous key [foo] is not permitted",
    );
    let ev = first_evidence(&s);
    assert!(
        ev.contains("could not tell which") && !ev.contains("(ValidationException)"),
        "{ev}"
    );
}

#[test]
fn a_501_is_not_implemented_with_the_spec_as_its_source() {
    let s = Case {
        endpoint: "v2/chat",
        request: json!({"model": "command-r7b-12-2024", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}),
        response: json!({"id": "n1", "message": "this feature is not supported for this model"}),
        status: 501,
        headers: "",
        platform: None,
    }
    .bundle();
    assert_eq!(codes(&s), ["not_implemented"], "{s:#}");
    assert_eq!(s["cause_side"], "user");
    assert!(
        s["error"]["faq_meaning"].is_null(),
        "the FAQ has no 501 row"
    );
    assert!(s["error"]["meaning_source"]
        .as_str()
        .unwrap_or("")
        .contains("openapi.yaml"));
}

#[test]
fn a_retired_model_says_when_and_what_replaces_it() {
    let s = Case {
        endpoint: "v2/chat",
        request: json!({"model": "c4ai-aya-expanse-8b", "messages": [{"role": "user", "content": "Bonjour"}]}),
        response: json!({"id": "r1", "message": "model 'c4ai-aya-expanse-8b' not found, make sure the correct model ID was used and that you have access to the model."}),
        status: 404,
        headers: "",
        platform: None,
    }
    .bundle();
    assert_eq!(codes(&s), ["model_not_found"], "{s:#}");
    let ev = first_evidence(&s);
    assert!(
        ev.contains("retired on 2026-04-04") && ev.contains("command-a-03-2025"),
        "{ev}"
    );
    assert!(s["causes"][0]["next_step"]
        .as_str()
        .unwrap_or("")
        .contains("replacement"));
}

#[test]
fn rerank_v4_0_is_not_a_model_id_and_the_two_real_ones_are_suggested() {
    let s = Case {
        endpoint: "v2/rerank",
        request: json!({"model": "rerank-v4.0", "query": "q", "documents": ["a", "b"]}),
        response: json!({"id": "r2", "message": "model 'rerank-v4.0' not found, make sure the correct model ID was used and that you have access to the model."}),
        status: 404,
        headers: "",
        platform: None,
    }
    .bundle();
    assert_eq!(codes(&s), ["model_not_found"], "{s:#}");
    let ev = first_evidence(&s);
    assert!(
        ev.contains("rerank-v4.0-pro") && ev.contains("rerank-v4.0-fast"),
        "{ev}"
    );
}

#[test]
fn a_reasoning_200_cut_by_max_tokens_with_no_text_is_output_truncated() {
    let s = Case {
        endpoint: "v2/chat",
        request: json!({"model": "command-a-reasoning-08-2025", "max_tokens": 1000, "thinking": {"type": "enabled", "token_budget": 1000}, "messages": [{"role": "user", "content": "Prove it step by step."}]}),
        response: json!({"id": "t1", "finish_reason": "MAX_TOKENS", "message": {"role": "assistant", "content": [{"type": "thinking", "thinking": "First, consider the base case..."}]}, "usage": {"tokens": {"input_tokens": 12, "output_tokens": 1000}}}),
        status: 200,
        headers: "content-type: application/json\n",
        platform: None,
    }
    .bundle();
    assert_eq!(codes(&s), ["output_truncated"], "{s:#}");
    let ev = first_evidence(&s);
    assert!(
        ev.contains("MAX_TOKENS") && ev.contains("token_budget") && ev.contains("thinking"),
        "{ev}"
    );
    assert_eq!(s["support_needed"], false);

    // The same 200 with a complete answer is no failure.
    let ok = Case {
        endpoint: "v2/chat",
        request: json!({"model": "command-a-reasoning-08-2025", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}),
        response: json!({"id": "t2", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "thinking", "thinking": "easy"}, {"type": "text", "text": "Hello!"}]}}),
        status: 200,
        headers: "content-type: application/json\n",
        platform: None,
    }
    .bundle();
    assert!(codes(&ok).is_empty(), "{ok:#}");
    assert!(ok["error"].is_null(), "{ok:#}");
}

/// A Python SDK log whose 404 names one model, for a replayed request that uses another.
const LOG_OTHER_MODEL: &str = r#"2026-11-24 16:02:01,207 INFO httpx: HTTP Request: POST https://api.cohere.com/v2/chat "HTTP/1.1 404 Not Found"
Traceback (most recent call last):
  File "/srv/venv/lib/python3.12/site-packages/cohere/v2/raw_client.py", line 330, in chat
    raise NotFoundError(
cohere.errors.not_found_error.NotFoundError: headers: {'x-debug-trace-id': '0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6', 'date': 'Tue, 24 Nov 2026 16:02:01 GMT'}, status_code: 404, body: {'id': '7b0e8c2f-3b1d-4f6e-9a7c-5d4b3a2f1e0d', 'message': "model 'command-xlarge-nightly' not found, make sure the correct model ID was used and that you have access to the model."}
"#;

#[test]
fn a_log_failure_of_another_model_is_said_and_never_merged() {
    let sim = Sim::start(SimConfig::default());
    let d = util::tempdir();
    let body = json!({"model": "command-r7b-12-2024", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50});
    let req = util::write(
        d.path(),
        "req.json",
        util::envelope(&sim.base_url(), "/v2/chat", &[], &body),
    );
    let log = util::write(d.path(), "app.log", LOG_OTHER_MODEL);
    let run = util::cli(d.path())
        .env("CO_API_KEY", DEMO_KEY)
        .arg("replay")
        .arg(&req)
        .args(["--out", "b.zip", "--log"])
        .arg(&log)
        .run()
        .success();
    let zip = d.path().join("b.zip");
    let s = util::summary(&zip);
    let mismatch = notes(&s, "mismatch");
    assert_eq!(mismatch.len(), 1, "{s:#}");
    assert!(
        mismatch[0].contains("command-xlarge-nightly")
            && mismatch[0].contains("command-r7b-12-2024")
            && mismatch[0].contains("may not be the failing request"),
        "{}",
        mismatch[0]
    );
    assert_eq!(s["original"]["reproduced"], false, "{s:#}");
    // Each claim names its own request: the log's 404 is about the log's model.
    for c in s["causes"].as_array().into_iter().flatten() {
        let ev = c["evidence"].as_str().unwrap_or("");
        assert!(
            !ev.contains("HTTP 404 for model command-r7b-12-2024"),
            "merged: {ev}"
        );
    }
    let nf = s["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["code"] == "model_not_found")
        .expect("the log's 404 keeps its cause");
    assert!(nf["evidence"]
        .as_str()
        .unwrap_or("")
        .contains("HTTP 404 for model command-xlarge-nightly"));
    // The report's first lines and the terminal say so.
    let report = util::member(&zip, "report.md");
    let head: String = report.lines().take(6).collect::<Vec<_>>().join("\n");
    assert!(head.contains("Not the same request"), "{head}");
    assert!(
        run.stdout.contains("may not be the failing request"),
        "{}",
        run.stdout
    );
}

#[test]
fn doc_pages_that_disagree_about_a_model_are_both_shown() {
    let s = Case {
        endpoint: "v2/chat",
        request: json!({"model": "command-a-translate-08-2025", "messages": [{"role": "user", "content": "Translate: bonjour"}]}),
        response: json!({"id": "x1", "message": "internal server error"}),
        status: 500,
        headers: "",
        platform: None,
    }
    .bundle();
    let docs = notes(&s, "docs");
    assert!(
        docs.iter().any(|n| n.contains("disagree")
            && n.contains("command-a-translate-08-2025")
            && n.contains("context_length")),
        "{docs:?}"
    );
    // And a deprecated model says so, with its replacements.
    let d = Case {
        endpoint: "v2/chat",
        request: json!({"model": "command-r-plus", "messages": [{"role": "user", "content": "hi"}]}),
        response: json!({"id": "x2", "message": "internal server error"}),
        status: 500,
        headers: "",
        platform: None,
    }
    .bundle();
    let docs = notes(&d, "docs");
    assert!(
        docs.iter()
            .any(|n| n.contains("deprecated since 2025-09-15") && n.contains("command-a-03-2025")),
        "{docs:?}"
    );
}
