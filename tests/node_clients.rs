//! Real Node clients through `cohere-bundle observe`: the Cohere TypeScript SDK (`cohere-ai` 8.x,
//! `CohereClientV2`) and the Vercel AI SDK (`ai` 6.x with `@ai-sdk/cohere` 3.x), installed in tests/node by
//! scripts/setup-node.sh, each making a chat with an unknown model (404) and a streaming chat that completes,
//! in both orders, against the simulator. The bundle must blame the 404 (`model_not_found`) and never the
//! completed stream, and name the client.
//!
//! What the SDKs do (read in their installed code, and seen on the wire here):
//! - Base URL. `cohere-ai` ignores `CO_API_URL`: the script passes `baseUrl` (default `https://api.cohere.com`,
//!   joined with `v2/chat`); it reads `CO_API_KEY` when no `token` is given. `@ai-sdk/cohere` reads neither:
//!   `createCohere({ baseURL })` includes the version (default `https://api.cohere.com/v2`) and POSTs
//!   `${baseURL}/chat`; its key comes from `apiKey` or `COHERE_API_KEY`.
//! - Headers. `cohere-ai` sends `X-Fern-Language: JavaScript`, `X-Fern-SDK-Name: cohere-ai`,
//!   `X-Fern-SDK-Version`, `User-Agent: cohere-ai/<version>`, `X-Fern-Runtime: node`,
//!   `X-Fern-Runtime-Version: <node version without v>`, and `X-Client-Name` only when `clientName` is set.
//!   The AI SDK sends no `X-Fern-*` header; its only name is the User-Agent, `<first> ai-sdk/provider-utils/
//!   <version> runtime/node.js/<process.version>`. `<first>` is the provider's `ai-sdk/cohere/<version>` for
//!   `streamText`, but `ai/<ai version>` for `generateText`: `ai` passes its own user-agent as call headers, which
//!   replace the provider's when the two are merged, so a failed `generateText` names `ai`, not the provider.
//! - Streams (v2 chat SSE: `message-start`, `content-start`, `content-delta`…, `content-end`, `message-end`,
//!   then `data: [DONE]`, which the real API sends too). `cohere-ai` reads `data:` lines (the `event:` lines
//!   are ignored, the type is in the JSON) and stops at the first data line containing `[DONE]`: it then cancels
//!   the response body, so when the end of the HTTP body has not arrived yet, undici closes the connection: the
//!   client, not the server, ends a completed stream. `@ai-sdk/cohere` parses SSE with eventsource-parser,
//!   skips `[DONE]`, validates each event with a zod schema (`message-end` needs `delta.finish_reason` and
//!   `delta.usage.tokens`), and reads the body to its end.
//! - Errors. `cohere-ai` maps the status to a class (404 → `Cohere.NotFoundError`, body = the parsed JSON);
//!   `@ai-sdk/cohere` needs a JSON body with a string `message` (else the error message is the status text) and
//!   throws `APICallError` with `statusCode`, `responseBody` and `isRetryable`.
//! - Retries. `cohere-ai`: 2 retries (3 attempts) on 408, 429 and every 5xx, waiting `Retry-After` (seconds or
//!   a date, at most 60 s), else `X-RateLimit-Reset`, else 1 s, 2 s (±10 % jitter); 404 is not retried. `ai`:
//!   `maxRetries` 2 on `isRetryable` errors (408, 409, 429, 5xx and network errors such as ECONNRESET), waiting
//!   `retry-after-ms`, else `Retry-After` (when under 60 s), else 2 s, 4 s; after retries it throws a
//!   `RetryError`, a non-retryable error is rethrown as it is.
//!
//! The simulator needed nothing new for these clients to work; `SimConfig::stream_end_delay` (the body ends a
//! moment after `[DONE]`) makes the `cohere-ai` client-side close of a completed stream happen every time.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use cohere_bundle_simulator::{SimConfig, SimRequest, DEMO_KEY};
use serde_json::Value;

use super::util::{cli, exchange, summary, tempdir, Sim};

const MISSING_MODEL: &str = "command-r-nonexistent";
const ORDERS: [&str; 2] = ["fail-first", "stream-first"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sdk {
    /// `cohere-ai` (the Cohere TypeScript SDK).
    CohereAi,
    /// `ai` + `@ai-sdk/cohere` (the Vercel AI SDK).
    AiSdk,
}

impl Sdk {
    fn script(self) -> &'static str {
        match self {
            Sdk::CohereAi => "cohere_ai.mjs",
            Sdk::AiSdk => "ai_sdk.mjs",
        }
    }

    fn packages(self) -> &'static [&'static str] {
        match self {
            Sdk::CohereAi => &["cohere-ai"],
            Sdk::AiSdk => &["ai", "@ai-sdk/cohere"],
        }
    }
}

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// The node version (`v20.20.2`), or a panic that says how to set the clients up.
fn node_version() -> &'static str {
    static VERSION: OnceLock<Result<String, String>> = OnceLock::new();
    let v = VERSION.get_or_init(|| match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        other => Err(format!("{other:?}")),
    });
    match v {
        Ok(v) => v,
        Err(e) => panic!(
            "`node --version` failed ({e}): install Node.js 20+ and run scripts/setup-node.sh \
             (it installs the Node SDKs into tests/node)"
        ),
    }
}

/// The installed version of `pkg` in tests/node/node_modules (as `@ai-sdk/cohere` resolves it when `within` is
/// it), or a panic that says to run the setup script.
fn installed_in(within: Option<&str>, pkg: &str) -> String {
    let top = node_dir().join("node_modules");
    let path = within
        .map(|w| {
            top.join(w)
                .join("node_modules")
                .join(pkg)
                .join("package.json")
        })
        .filter(|p| p.exists())
        .unwrap_or_else(|| top.join(pkg).join("package.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run scripts/setup-node.sh first (it installs cohere-ai, ai and \
             @ai-sdk/cohere into tests/node)",
            path.display()
        )
    });
    let v: Value = serde_json::from_str(&text).expect("package.json is JSON");
    v["version"].as_str().expect("a version").to_string()
}

fn installed(pkg: &str) -> String {
    installed_in(None, pkg)
}

fn header<'a>(r: &'a SimRequest, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header in {:?}", r.headers))
}

/// What one observed run left behind.
struct Observed {
    summary: Value,
    /// exchanges/001.json: the recorded 404.
    exchange: Value,
    /// The requests the simulator received.
    requests: Vec<SimRequest>,
    /// The clients' report line (stderr).
    stderr: String,
}

/// Runs `cohere-bundle observe --out <zip> -- node tests/node/<script> <order>` against a simulator with
/// `config`, asserts the run and the bundle's diagnosis, and returns what it left.
fn observe(sdk: Sdk, order: &str, config: SimConfig) -> Observed {
    observe_with(sdk, order, config, false)
}

/// `default_host`: the script gives its SDK no base URL (NODE_TEST_DEFAULT_HOST=1), as an unchanged program
/// would; observe's Node preload must send its calls to the proxy.
fn observe_with(sdk: Sdk, order: &str, config: SimConfig, default_host: bool) -> Observed {
    node_version();
    for p in sdk.packages() {
        installed(p);
    }
    let sim = Sim::start(config);
    let dir = tempdir();
    let zip = dir.path().join("bundle.zip");
    let run = cli(dir.path())
        .env("CO_API_KEY", DEMO_KEY)
        .env(
            "NODE_TEST_DEFAULT_HOST",
            if default_host { "1" } else { "0" },
        )
        .args(["observe", "--upstream", &sim.base_url(), "--json", "--out"])
        .arg(&zip)
        .args(["--", "node"])
        .arg(node_dir().join(sdk.script()))
        .arg(order)
        .run();
    let ctx = format!(
        "{sdk:?} {order}: stderr: {}\nstdout: {}",
        run.stderr, run.stdout
    );
    assert_eq!(
        run.code, 0,
        "the client script (exit code passed through by observe) saw something unexpected; {ctx}"
    );
    let out = run.json();
    assert_eq!(out["bundle"], zip.to_string_lossy().as_ref(), "{ctx}");
    let requests = sim.requests();
    drop(sim);

    // On the wire: the two calls once each, no retry of the 404, the stream answered in full. The rest are the
    // bundle's own look-ups after the run (model limits, tokenizer), made by cohere-bundle itself.
    let chats: Vec<&SimRequest> = requests.iter().filter(|r| r.path == "/v2/chat").collect();
    let paths: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(chats.len(), 2, "two chat calls: {paths:?}; {ctx}");
    for r in requests.iter().filter(|r| r.path != "/v2/chat") {
        assert!(
            r.header("user-agent")
                .is_some_and(|u| u.starts_with("cohere-bundle/")),
            "{} {} is not the bundle's own look-up: {:?}",
            r.method,
            r.path,
            r.headers
        );
    }
    let first_is_fail = chats[0].json().expect("JSON body")["model"] == MISSING_MODEL;
    assert_eq!(first_is_fail, order == "fail-first", "call order; {ctx}");
    let (fail, stream) = if first_is_fail {
        (chats[0], chats[1])
    } else {
        (chats[1], chats[0])
    };
    assert_eq!(fail.status, Some(404), "{ctx}");
    assert_eq!(fail.json().unwrap()["model"], MISSING_MODEL);
    assert_eq!(stream.status, Some(200), "{ctx}");
    assert_eq!(stream.json().unwrap()["stream"], true, "{ctx}");
    for r in &chats {
        assert_eq!(header(r, "authorization"), format!("Bearer {DEMO_KEY}"));
        assert_eq!(header(r, "content-type"), "application/json");
    }

    let summary = summary(&zip);
    let s = &summary;
    assert_eq!(s["mode"], "observe", "{s:#}");
    assert_eq!(s["status"], 404, "{s:#}");
    assert_eq!(s["model"], MISSING_MODEL, "{s:#}");
    assert_eq!(s["error"]["class"], "http", "{s:#}");
    assert_eq!(s["causes"][0]["code"], "model_not_found", "{s:#}");
    let codes: Vec<&str> = s["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert!(
        !codes.contains(&"stream_error") && !codes.contains(&"client_canceled"),
        "the completed stream is blamed: {codes:?}\n{s:#}"
    );
    // The proxy counted the stream as a success: one failure, of class http.
    let o = &s["observed"];
    assert_eq!(
        (&o["requests"], &o["successes"], &o["failures"]),
        (&Value::from(2), &Value::from(1), &Value::from(1)),
        "{s:#}"
    );
    assert_eq!(
        o["by_failure_class"],
        serde_json::json!({"http": 1}),
        "{s:#}"
    );
    assert_eq!(s["exchanges"], 1, "only the 404 is kept: {s:#}");
    let exchange = exchange(&zip);
    assert_eq!(exchange["response"]["status"], 404);
    Observed {
        summary,
        exchange,
        requests,
        stderr: run.stderr,
    }
}

/// A request header as recorded in the bundle's exchange.
fn recorded_header(exchange: &Value, name: &str) -> Option<String> {
    exchange["request"]["headers"]
        .as_array()?
        .iter()
        .find(|h| {
            h["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .and_then(|h| h["value"].as_str().map(str::to_string))
}

/// The headers `cohere-ai` sends, on the wire and in the recorded exchange.
fn check_cohere_ai_headers(o: &Observed) {
    let v = installed("cohere-ai");
    let node = node_version();
    for r in o.requests.iter().filter(|r| r.path == "/v2/chat") {
        assert_eq!(header(r, "x-fern-language"), "JavaScript");
        assert_eq!(header(r, "x-fern-sdk-name"), "cohere-ai");
        assert_eq!(header(r, "x-fern-sdk-version"), v);
        assert_eq!(header(r, "user-agent"), format!("cohere-ai/{v}"));
        assert_eq!(header(r, "x-fern-runtime"), "node");
        assert_eq!(
            header(r, "x-fern-runtime-version"),
            node.trim_start_matches('v')
        );
        assert_eq!(r.header("x-client-name"), None, "sent only with clientName");
    }
    assert_eq!(
        recorded_header(&o.exchange, "x-fern-sdk-name").as_deref(),
        Some("cohere-ai")
    );
}

/// The headers the AI SDK sends: a User-Agent, no Fern headers. `generateText` (the 404) puts `ai/<version>`
/// first and the provider's own `ai-sdk/cohere/<version>` is lost; `streamText` keeps the provider's.
fn check_ai_sdk_headers(o: &Observed) {
    let tail = format!(
        "ai-sdk/provider-utils/{} runtime/node.js/{}",
        installed_in(Some("@ai-sdk/cohere"), "@ai-sdk/provider-utils"),
        node_version()
    );
    let generate_ua = format!("ai/{} {tail}", installed("ai"));
    let stream_ua = format!("ai-sdk/cohere/{} {tail}", installed("@ai-sdk/cohere"));
    for r in o.requests.iter().filter(|r| r.path == "/v2/chat") {
        let stream = r.json().unwrap()["stream"] == true;
        let want = if stream { &stream_ua } else { &generate_ua };
        assert_eq!(header(r, "user-agent"), want.as_str(), "{:?}", r.headers);
        assert_eq!(r.header("x-fern-sdk-name"), None);
    }
    assert_eq!(
        recorded_header(&o.exchange, "user-agent"),
        Some(generate_ua)
    );
}

// summary.client, from the headers of the exchange the summary is about.
fn check_client_cohere_ai(o: &Observed) {
    let c = &o.summary["client"];
    assert!(c.is_object(), "summary.client is missing: {:#}", o.summary);
    let v = installed("cohere-ai");
    assert_eq!(c["sdk"], "cohere-ai", "{c:#}");
    assert_eq!(c["version"], v.as_str(), "{c:#}");
    assert_eq!(c["user_agent"], format!("cohere-ai/{v}"), "{c:#}");
    let runtime = c["runtime"].as_str().unwrap_or_default();
    assert!(
        runtime.contains("node") && runtime.contains(node_version().trim_start_matches('v')),
        "{c:#}"
    );
}

// The 404 comes from `generateText`, whose
// User-Agent names `ai` and its version, not `@ai-sdk/cohere` (replaced, see the module doc), so the client is
// `ai` with that version, or `@ai-sdk/cohere` without a version or with its own; `@ai-sdk/provider-utils` (the
// second product in that User-Agent) is not the SDK.
fn check_client_ai_sdk(o: &Observed) {
    let c = &o.summary["client"];
    assert!(c.is_object(), "summary.client is missing: {:#}", o.summary);
    match c["sdk"].as_str() {
        Some("ai") => assert_eq!(c["version"], installed("ai").as_str(), "{c:#}"),
        Some("@ai-sdk/cohere") => assert!(
            c["version"].is_null() || c["version"] == installed("@ai-sdk/cohere").as_str(),
            "{c:#}"
        ),
        other => {
            panic!("summary.client.sdk {other:?} names neither `ai` nor `@ai-sdk/cohere`: {c:#}")
        }
    }
    assert_eq!(
        c["user_agent"].as_str(),
        recorded_header(&o.exchange, "user-agent").as_deref(),
        "{c:#}"
    );
    let runtime = c["runtime"].as_str().unwrap_or_default();
    assert!(
        runtime.contains("node") && runtime.contains(node_version().trim_start_matches('v')),
        "{c:#}"
    );
}

fn run_sdk(sdk: Sdk, order: &str, config: SimConfig) {
    let o = observe(sdk, order, config);
    assert!(o.stderr.contains("node-client report:"), "{}", o.stderr);
    match sdk {
        Sdk::CohereAi => {
            check_cohere_ai_headers(&o);
            check_client_cohere_ai(&o);
        }
        Sdk::AiSdk => {
            check_ai_sdk_headers(&o);
            check_client_ai_sdk(&o);
        }
    }
}

#[test]
fn node_cohere_ai_fail_first() {
    run_sdk(Sdk::CohereAi, ORDERS[0], SimConfig::default());
}

#[test]
fn node_cohere_ai_stream_first() {
    run_sdk(Sdk::CohereAi, ORDERS[1], SimConfig::default());
}

#[test]
fn node_ai_sdk_fail_first() {
    run_sdk(Sdk::AiSdk, ORDERS[0], SimConfig::default());
}

#[test]
fn node_ai_sdk_stream_first() {
    run_sdk(Sdk::AiSdk, ORDERS[1], SimConfig::default());
}

/// The body ends 300 ms after `[DONE]`: `cohere-ai` stops reading at `[DONE]` and closes the connection
/// first, so the proxy sees the client leave a stream whose terminal event it had already forwarded; the AI SDK
/// waits for the end.
fn held_end() -> SimConfig {
    SimConfig {
        stream_end_delay: Duration::from_millis(300),
        ..SimConfig::default()
    }
}

// cohere-ai closes the connection after `[DONE]`, before the body's end arrives. The proxy used to record that
// as a stream failure ("client disconnected after N bytes of the HTTP 200 response body") and blame the
// completed stream instead of the 404; a stream whose terminal event was forwarded is complete, however the
// connection then ends.
#[test]
fn node_cohere_ai_closing_after_done_is_not_blamed() {
    for order in ORDERS {
        run_sdk(Sdk::CohereAi, order, held_end());
    }
}

#[test]
fn node_ai_sdk_waiting_for_the_end_is_not_blamed() {
    for order in ORDERS {
        run_sdk(Sdk::AiSdk, order, held_end());
    }
}

/// Issue 13: neither SDK is given a base URL (they would call api.cohere.com); observe's Node preload sends
/// their fetch calls to the proxy, and the bundle names the 404 as with an explicit base URL.
#[test]
fn node_sdks_without_a_base_url_are_observed_through_the_preload() {
    for sdk in [Sdk::CohereAi, Sdk::AiSdk] {
        for order in ORDERS {
            let o = observe_with(sdk, order, SimConfig::default(), true);
            assert!(o.stderr.contains("node-client report:"), "{}", o.stderr);
            match sdk {
                Sdk::CohereAi => check_client_cohere_ai(&o),
                Sdk::AiSdk => check_client_ai_sdk(&o),
            }
        }
    }
}

/// With --no-node-preload a program without a base URL is not redirected; the script refuses to run rather
/// than call the real API, and observe says it saw nothing.
#[test]
fn the_preload_can_be_turned_off() {
    node_version();
    let sim = Sim::start(SimConfig::default());
    let dir = tempdir();
    let run = cli(dir.path())
        .env("CO_API_KEY", DEMO_KEY)
        .env("NODE_TEST_DEFAULT_HOST", "1")
        .args([
            "observe",
            "--no-node-preload",
            "--upstream",
            &sim.base_url(),
            "--out",
            "b.zip",
            "--",
            "node",
        ])
        .arg(node_dir().join(Sdk::CohereAi.script()))
        .arg(ORDERS[0])
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("preload is not loaded"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("observed 0 requests"), "{}", run.stderr);
    assert!(sim.requests().is_empty());
}
