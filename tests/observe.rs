//! The recording proxy (`cohere-bundle observe`): pass-through, streaming without buffering, failure classes,
//! faults, retry grouping, and the official Python SDK driven through it as a real subprocess.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body as AxumBody;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use cohere_bundle_core::gather::observe::{run_command, ObserveOptions, Proxy, Recording};
use cohere_bundle_core::{Exchange, FailureClass};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

const KNOWN_MODEL: &str = "command-a-03-2025";

/// A tiny Cohere-like upstream on 127.0.0.1, scenarios picked by the `x-simulate` header:
/// - unknown model → 404 `{id, message}`; `rate-limit` → 429 (with `retry-after-ms` so SDK retries are quick);
/// - `stream: true` → SSE (`message-start`, 3 `content-delta`, `message-end`, `[DONE]`);
///   `stream-error` → `message-end` with `finish_reason: ERROR`; `reset` → the connection breaks after two events;
///   `lockstep` → each event after the test says it received the previous one; `endless` → an event every 5 ms.
struct Upstream {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<String>>>,
    lockstep: Arc<tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<()>>>>,
}

#[derive(Clone)]
struct UpState {
    hits: Arc<Mutex<Vec<String>>>,
    lockstep: Arc<tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<()>>>>,
}

fn sse(ev: &Value) -> Bytes {
    Bytes::from(format!(
        "event: {}\ndata: {}\n\n",
        ev["type"].as_str().unwrap_or("x"),
        ev
    ))
}

fn stream_events(error: bool) -> Vec<Bytes> {
    let mut v = vec![sse(&json!({"type": "message-start", "id": "m1",
        "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}))];
    v.push(sse(
        &json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
    ));
    for w in ["Hello", " there", "!"] {
        v.push(sse(&json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": w}}}})));
    }
    v.push(sse(&json!({"type": "content-end", "index": 0})));
    let end = if error {
        json!({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "internal server error while generating"}})
    } else {
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE",
            "usage": {"billed_units": {"input_tokens": 2, "output_tokens": 3}, "tokens": {"input_tokens": 70, "output_tokens": 3}}}})
    };
    v.push(sse(&end));
    v.push(Bytes::from_static(b"data: [DONE]\n\n"));
    v
}

fn json_resp(status: u16, body: Value, trace: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-debug-trace-id", trace)
        .header("retry-after-ms", "5")
        .body(AxumBody::from(body.to_string()))
        .unwrap()
}

async fn upstream_handler(
    axum::extract::State(st): axum::extract::State<UpState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scenario = headers
        .get("x-simulate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    st.hits
        .lock()
        .unwrap()
        .push(format!("{method} {} {scenario}", uri.path()));
    let trace = format!("{:032x}", st.hits.lock().unwrap().len());
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if uri.path() != "/v2/chat" {
        return json_resp(
            200,
            json!({"echo": uri.to_string(), "len": body.len()}),
            &trace,
        );
    }
    if scenario == "rate-limit" {
        return json_resp(
            429,
            json!({"id": "rl-1", "message": "You are past the per minute request limit, please wait."}),
            &trace,
        );
    }
    let model = req["model"].as_str().unwrap_or("");
    if model != KNOWN_MODEL {
        let msg = format!(
            "model '{model}' not found, make sure the correct model ID was used and that you have access to the model."
        );
        return json_resp(404, json!({"id": "nf-1", "message": msg}), &trace);
    }
    if scenario == "slow" {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    if req["stream"] != json!(true) {
        return json_resp(
            200,
            json!({"id": "c1", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]}}),
            &trace,
        );
    }
    let events = stream_events(scenario == "stream-error");
    let body = match scenario.as_str() {
        "reset" => {
            let first: Vec<Result<Bytes, std::io::Error>> =
                events.into_iter().take(2).map(Ok).collect();
            let s = futures_util::stream::iter(first).chain(futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                ))
            }));
            AxumBody::from_stream(s)
        }
        "lockstep" => {
            let rx = st.lockstep.lock().await.take();
            let s = futures_util::stream::unfold(
                (events.into_iter(), rx, true),
                |(mut it, mut rx, first)| async move {
                    if !first {
                        // Wait until the test has seen the previous event through the proxy.
                        rx.as_mut()?.recv().await?;
                    }
                    let ev = it.next()?;
                    Some((Ok::<_, Infallible>(ev), (it, rx, false)))
                },
            );
            AxumBody::from_stream(s)
        }
        "endless" => {
            let s = futures_util::stream::unfold(0u32, |n| async move {
                if n >= 2000 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                let ev = sse(
                    &json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "x"}}}}),
                );
                Some((Ok::<_, Infallible>(ev), n + 1))
            });
            AxumBody::from_stream(s)
        }
        _ => AxumBody::from_stream(futures_util::stream::iter(
            events.into_iter().map(Ok::<_, Infallible>),
        )),
    };
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("x-debug-trace-id", trace)
        .body(body)
        .unwrap()
}

impl Upstream {
    async fn start() -> Upstream {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let lockstep = Arc::new(tokio::sync::Mutex::new(None));
        let st = UpState {
            hits: hits.clone(),
            lockstep: lockstep.clone(),
        };
        let app = axum::Router::new()
            .fallback(upstream_handler)
            .with_state(st);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream {
            addr,
            hits,
            lockstep,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

async fn proxy_for(upstream: &str) -> Proxy {
    Proxy::start({
        let mut o = ObserveOptions::default();
        o.upstream = upstream.to_string();
        o
    })
    .await
    .expect("proxy starts")
}

fn chat_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}]})
}

/// Waits (bounded) until the proxy has `n` full records.
pub(crate) async fn records(proxy: &Proxy, n: usize) -> Recording {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = proxy.snapshot();
        if r.exchanges.len() >= n || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) fn failure_class(e: &Exchange) -> Option<FailureClass> {
    e.failure.as_ref().map(|f| f.class)
}

#[tokio::test]
async fn forwards_verbatim_and_records_only_failures() {
    let up = Upstream::start().await;
    let proxy = proxy_for(&up.url()).await;
    let client = reqwest::Client::new();
    let base = proxy.base_url();

    // A success passes through with its status, headers and body.
    let r = client
        .post(format!("{base}/v2/chat"))
        .json(&chat_body(KNOWN_MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-debug-trace-id").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["message"]["content"][0]["text"], "Hi");
    // Path and query are forwarded.
    let r = client
        .get(format!("{base}/v1/models?page_size=5"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["echo"], "/v1/models?page_size=5");

    // A failure comes back verbatim and is recorded with the API's message, status and request id.
    let r = client
        .post(format!("{base}/v2/chat"))
        .json(&chat_body("no-such-model", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("model 'no-such-model' not found"));

    let rec = records(&proxy, 1).await;
    assert_eq!(rec.exchanges.len(), 1, "only the failure is kept in full");
    let e = &rec.exchanges[0];
    assert_eq!(e.index, 1);
    assert_eq!(e.purpose, "observed");
    assert_eq!(e.status(), Some(404));
    assert_eq!(failure_class(e), Some(FailureClass::Http));
    assert_eq!(
        e.failure.as_ref().unwrap().message,
        v["message"].as_str().unwrap()
    );
    assert_eq!(
        e.request_id().as_deref(),
        Some(format!("{:032x}", 3).as_str())
    );
    assert_eq!(e.request.url, format!("{}/v2/chat", up.url()));
    assert_eq!(e.request.body.json().unwrap()["model"], "no-such-model");
    let s = &rec.stats;
    assert_eq!((s.requests, s.successes, s.failures), (3, 2, 1));
    assert_eq!(s.by_status["200"], 2);
    assert_eq!(s.by_status["404"], 1);
    assert_eq!(s.by_model["no-such-model"], 1);
    assert_eq!(s.by_endpoint["v2/chat"], 2);
    let shape = s
        .shapes
        .iter()
        .find(|x| x.shape.model.as_deref() == Some("no-such-model"))
        .unwrap();
    assert_eq!((shape.successes, shape.failures), (0, 1));
    let final_rec = proxy.stop().await;
    assert_eq!(final_rec.stats.requests, 3);
}

#[tokio::test]
async fn stream_events_reach_the_client_one_by_one() {
    // The upstream sends each event only after the test has received the previous one through the proxy:
    // a proxy that buffered the stream would never deliver the first events and the test would time out.
    let up = Upstream::start().await;
    let (tx, rx) = mpsc::unbounded_channel();
    *up.lockstep.lock().await = Some(rx);
    let proxy = proxy_for(&up.url()).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/chat", proxy.base_url()))
        .header("x-simulate", "lockstep")
        .json(&chat_body(KNOWN_MODEL, true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut events = 0;
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            let now = text.matches("\n\n").count();
            for _ in events..now {
                let _ = tx.send(());
            }
            events = now;
        }
    })
    .await;
    assert!(
        got.is_ok(),
        "stream stalled after {events} events: the proxy buffered it"
    );
    assert_eq!(events, stream_events(false).len());
    assert!(text.ends_with("data: [DONE]\n\n"));
    // A clean stream is a success: counted, not kept.
    let rec = proxy.stop().await;
    assert_eq!(rec.exchanges.len(), 0);
    assert_eq!(rec.stats.successes, 1);
    assert!(rec
        .stats
        .shapes
        .iter()
        .any(|s| s.shape.stream && s.successes == 1));
}

#[tokio::test]
async fn error_inside_a_200_stream_is_a_stream_failure() {
    let up = Upstream::start().await;
    let proxy = proxy_for(&up.url()).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/chat", proxy.base_url()))
        .header("x-simulate", "stream-error")
        .json(&chat_body(KNOWN_MODEL, true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("\"finish_reason\":\"ERROR\""),
        "client gets the stream untouched"
    );
    let rec = records(&proxy, 1).await;
    let e = &rec.exchanges[0];
    assert_eq!(failure_class(e), Some(FailureClass::Stream));
    assert_eq!(
        e.failure.as_ref().unwrap().message,
        "internal server error while generating"
    );
    assert_eq!(e.status(), Some(200));
    assert_eq!(
        e.response.as_ref().unwrap().body.text,
        text,
        "the recorded stream is the raw event text"
    );
}

#[tokio::test]
async fn upstream_refused_gives_502_and_a_network_failure_then_keeps_serving() {
    // A port with nothing listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let proxy = proxy_for(&format!("http://{dead}")).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let r = client
            .post(format!("{}/v2/chat", proxy.base_url()))
            .json(&chat_body(KNOWN_MODEL, false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 502);
        let v: Value = r.json().await.unwrap();
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains(&dead.to_string()) && msg.to_lowercase().contains("refused"),
            "{msg}"
        );
    }
    let rec = proxy.stop().await;
    assert_eq!(rec.exchanges.len(), 2);
    for e in &rec.exchanges {
        assert_eq!(failure_class(e), Some(FailureClass::Network));
        assert!(e.response.is_none());
    }
    assert_eq!(rec.stats.by_status["network"], 2);
    // The same call repeated after a retryable failure is grouped as a retry.
    assert_eq!(rec.exchanges[0].retry_group, Some(1));
    assert_eq!(rec.exchanges[1].retry_group, Some(1));
}

#[tokio::test]
async fn upstream_reset_mid_stream_is_recorded_and_the_proxy_keeps_serving() {
    let up = Upstream::start().await;
    let proxy = proxy_for(&up.url()).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/v2/chat", proxy.base_url()))
        .header("x-simulate", "reset")
        .json(&chat_body(KNOWN_MODEL, true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text().await.is_err(),
        "the client sees the stream break too"
    );
    let rec = records(&proxy, 1).await;
    let e = &rec.exchanges[0];
    assert_eq!(failure_class(e), Some(FailureClass::Stream));
    assert!(
        e.failure
            .as_ref()
            .unwrap()
            .message
            .contains("upstream connection broke"),
        "{:?}",
        e.failure
    );
    assert!(e
        .response
        .as_ref()
        .unwrap()
        .body
        .text
        .contains("message-start"));
    // Still serving.
    let r = client
        .post(format!("{}/v2/chat", proxy.base_url()))
        .json(&chat_body(KNOWN_MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn client_disconnect_mid_stream_is_recorded_and_the_proxy_keeps_serving() {
    let up = Upstream::start().await;
    let proxy = proxy_for(&up.url()).await;
    {
        let client = reqwest::Client::new();
        let resp = client
            .post(format!("{}/v2/chat", proxy.base_url()))
            .header("x-simulate", "endless")
            .json(&chat_body(KNOWN_MODEL, true))
            .send()
            .await
            .unwrap();
        let mut stream = resp.bytes_stream();
        let first = stream.next().await.unwrap().unwrap();
        assert!(!first.is_empty());
        // Dropping the stream and the client closes the connection mid-stream.
    }
    let rec = records(&proxy, 1).await;
    assert_eq!(rec.exchanges.len(), 1, "the abandoned stream is recorded");
    let e = &rec.exchanges[0];
    assert_eq!(failure_class(e), Some(FailureClass::Stream));
    assert!(
        e.failure
            .as_ref()
            .unwrap()
            .message
            .contains("client disconnected"),
        "{:?}",
        e.failure
    );
    let r = reqwest::Client::new()
        .post(format!("{}/v2/chat", proxy.base_url()))
        .json(&chat_body(KNOWN_MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn client_gone_before_the_upstream_answers_is_recorded() {
    let up = Upstream::start().await;
    let proxy = proxy_for(&up.url()).await;
    let r = reqwest::Client::new()
        .post(format!("{}/v2/chat", proxy.base_url()))
        .header("x-simulate", "slow")
        .timeout(Duration::from_millis(200))
        .json(&chat_body(KNOWN_MODEL, false))
        .send()
        .await;
    assert!(r.is_err(), "the client gave up");
    let rec = records(&proxy, 1).await;
    assert_eq!(rec.exchanges.len(), 1);
    let e = &rec.exchanges[0];
    assert_eq!(failure_class(e), Some(FailureClass::Stream));
    assert!(
        e.failure
            .as_ref()
            .unwrap()
            .message
            .contains("client disconnected before the upstream answered"),
        "{:?}",
        e.failure
    );
    // A client-side abort, with no status: the client never got one.
    assert!(e.failure.as_ref().unwrap().client_side);
    assert!(e.response.is_none());
}

#[tokio::test]
async fn record_all_keeps_successes_and_the_cap_drops_oldest_successes_first() {
    let up = Upstream::start().await;
    let proxy = Proxy::start({
        let mut o = ObserveOptions::default();
        o.upstream = up.url();
        o.record_all = true;
        o.max_records = 3;
        o.body_cap = 16;
        o
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let send = |model: &'static str| {
        let c = client.clone();
        let url = format!("{}/v2/chat", proxy.base_url());
        async move {
            c.post(url)
                .json(&chat_body(model, false))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    };
    send("bad-model").await;
    for _ in 0..4 {
        send(KNOWN_MODEL).await;
    }
    let rec = proxy.stop().await;
    assert_eq!(rec.exchanges.len(), 3);
    assert_eq!(rec.stats.dropped_successes, 2);
    assert_eq!(rec.stats.dropped_failures, 0);
    assert_eq!(
        failure_class(&rec.exchanges[0]),
        Some(FailureClass::Http),
        "the failure survives the cap"
    );
    let b = &rec.exchanges[1].response.as_ref().unwrap().body;
    assert!(b.truncated && b.text.len() == 16 && b.size > 16, "{b:?}");
    assert!(rec.stats.truncated_bodies >= 3);
}

fn venv_python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-sdk-venv/bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_through_the_proxy() {
    let python = venv_python();
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-python-sdk.sh first (it installs the Cohere Python SDK)",
        python.display()
    );
    let up = Upstream::start().await;
    let proxy = proxy_for(&up.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sdk.json");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/observe_sdk.py");
    let command: Vec<std::ffi::OsString> = vec![
        "env".into(),
        "CO_API_KEY=test-key-not-secret".into(),
        format!("OBSERVE_TEST_MODEL={KNOWN_MODEL}").into(),
        python.into(),
        script.into(),
        out.clone().into(),
    ];
    let status = run_command(&proxy.base_url(), &command).await.unwrap();
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap_or_default())
        .unwrap_or(Value::Null);
    assert!(status.success(), "SDK script failed ({status}): {result}");
    assert_eq!(result["co_api_url"], proxy.base_url());
    assert_eq!(result["not_found"]["status"], 404);
    assert_eq!(
        result["stream_events"].as_array().unwrap().last().unwrap(),
        "message-end"
    );
    assert_eq!(result["rate_limited"]["status"], 429);

    let rec = proxy.stop().await;
    // 404, then 429 three times (the SDK retries twice); the clean stream is counted only.
    assert_eq!(rec.stats.requests, 5, "hits: {:?}", up.hits());
    assert_eq!(rec.stats.successes, 1);
    assert_eq!(rec.exchanges.len(), 4);
    let nf = &rec.exchanges[0];
    assert_eq!(nf.status(), Some(404));
    assert_eq!(failure_class(nf), Some(FailureClass::Http));
    assert_eq!(nf.request.body.json().unwrap()["model"], "no-such-model");
    assert!(nf
        .failure
        .as_ref()
        .unwrap()
        .message
        .starts_with("model 'no-such-model' not found"));
    assert!(nf.request_id().is_some());
    assert_eq!(nf.retry_group, None);
    let rl: Vec<&Exchange> = rec.exchanges[1..].iter().collect();
    for e in &rl {
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.retry_group, Some(1));
        assert_eq!(e.request.body.json().unwrap()["model"], KNOWN_MODEL);
        assert!(e.request_id().is_some());
    }
    let ids: std::collections::HashSet<_> = rl.iter().map(|e| e.request_id()).collect();
    assert_eq!(ids.len(), 3, "each attempt has its own request id");
    assert_eq!(rec.stats.retried_calls, 1);
    assert_eq!(rec.stats.by_status["429"], 3);
    assert!(rec.exchanges[1]
        .request
        .headers
        .iter()
        .any(|h| h.name == "user-agent" && h.value.contains("cohere")));
    let _ = StatusCode::OK;
}
