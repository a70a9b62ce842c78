//! The simulated Cohere API itself: endpoints, scenarios, auth, rate limits, streams, token counts.

use std::time::Duration;

use cohere_bundle_knowledge::Endpoint;
use cohere_bundle_simulator::{
    count_text_tokens, Flaky, RateLimit, Scenario, SimConfig, Simulator, TokenizerMode, DEMO_KEY,
    TRIAL_KEY,
};
use serde_json::{json, Value};

async fn sim(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn chat_body() -> Value {
    json!({"model": "command-r-08-2024", "messages": [{"role": "user", "content": "Summarize the error report please"}]})
}

async fn post(
    sim: &Simulator,
    path: &str,
    key: Option<&str>,
    body: &Value,
    scenario: Option<&str>,
) -> reqwest::Response {
    let mut req = client()
        .post(format!("{}{path}", sim.base_url()))
        .json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(s) = scenario {
        req = req.header("x-simulate", s);
    }
    req.send().await.expect("response")
}

/// Checks the error shape: `{"id": uuid, "message": ...}` and returns the message.
#[track_caller]
fn error_message(body: &Value) -> String {
    let id = body["id"].as_str().expect("error id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "id is a uuid: {id}");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(2),
        "only id and message: {body}"
    );
    body["message"].as_str().expect("message").to_string()
}

#[track_caller]
fn trace_id(resp: &reqwest::Response) -> String {
    let id = resp
        .headers()
        .get("x-debug-trace-id")
        .expect("trace id")
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{id}"
    );
    id
}

#[tokio::test]
async fn v2_chat_json_bills_the_tokenizer_count_and_has_unique_trace_ids() {
    let s = sim(SimConfig::default()).await;
    assert!(s.base_url().starts_with("http://127.0.0.1:") && !s.base_url().ends_with('/'));
    assert_eq!(s.base_url(), format!("http://{}", s.addr()));
    let body = chat_body();
    let r1 = post(&s, "/v2/chat", Some(DEMO_KEY), &body, None).await;
    assert_eq!(r1.status(), 200);
    let t1 = trace_id(&r1);
    assert!(
        r1.headers().get("x-trial-endpoint-call-limit").is_none(),
        "production key: no trial headers"
    );
    let v: Value = r1.json().await.unwrap();
    assert_eq!(v["finish_reason"], "COMPLETE");
    assert_eq!(v["message"]["role"], "assistant");
    assert!(!v["message"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .is_empty());
    let expected = count_text_tokens("Summarize the error report please");
    assert_eq!(v["usage"]["billed_units"]["input_tokens"], expected);
    assert_eq!(s.count_input_tokens(Endpoint::ChatV2, &body), expected);
    // One message: 10 + 5 template tokens.
    assert_eq!(v["usage"]["tokens"]["input_tokens"], expected + 15);
    let out = v["usage"]["billed_units"]["output_tokens"]
        .as_u64()
        .unwrap();
    assert_eq!(
        out,
        count_text_tokens(v["message"]["content"][0]["text"].as_str().unwrap())
    );

    let r2 = post(&s, "/v2/chat", Some(DEMO_KEY), &body, None).await;
    assert_ne!(trace_id(&r2), t1);
    assert_eq!(s.hits("/v2/chat"), 2);
    assert_eq!(s.hits("/v1/chat"), 0);
    assert_eq!(s.total_hits(), 2);
}

#[tokio::test]
async fn known_text_count_matches_the_tokenizers_crate() {
    let s = sim(SimConfig::default()).await;
    let text = "The quick brown fox jumps over the lazy dog; Überraschung! 123";
    let tok: tokenizers::Tokenizer = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/sim-tokenizer.json"
    ))
    .unwrap()
    .parse()
    .unwrap();
    let expected = tok.encode(text, false).unwrap().get_ids().to_vec();
    let r = post(
        &s,
        "/v1/tokenize",
        Some(DEMO_KEY),
        &json!({"text": text, "model": "command-r-08-2024"}),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let ids: Vec<u32> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(v["token_strings"].as_array().unwrap().len(), ids.len());
    let joined: String = v["token_strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    // Token strings are decoded one by one, so a multi-byte character split across tokens is lost.
    assert!(
        joined.starts_with("The quick brown fox jumps over the lazy dog; ")
            && joined.ends_with("berraschung! 123"),
        "{joined}"
    );
    assert_eq!(count_text_tokens(text), expected.len() as u64);
}

#[tokio::test]
async fn every_status_scenario_by_header() {
    let s = sim(SimConfig::default()).await;
    for sc in Scenario::ALL {
        let Some(status) = sc.status() else { continue };
        let r = post(
            &s,
            "/v2/chat",
            Some(DEMO_KEY),
            &chat_body(),
            Some(sc.name()),
        )
        .await;
        assert_eq!(r.status().as_u16(), status, "{sc}");
        trace_id(&r);
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            retry.is_some(),
            status == 429,
            "{sc}: retry-after {retry:?}"
        );
        let msg = error_message(&r.json().await.unwrap());
        let expect = match sc {
            Scenario::TooManyTokens => {
                "too many tokens: total number of tokens in the prompt cannot exceed"
            }
            Scenario::MaxTokensExceeded => {
                "too many tokens: max tokens must be less than or equal to 4000"
            }
            Scenario::NoApiKey => "no api key supplied",
            Scenario::InvalidApiKey => "invalid api token",
            Scenario::ExpiredApiKey => "Your API key has expired",
            Scenario::ModelNotFound => {
                "model 'command-r-08-2024' not found, make sure the correct model ID"
            }
            Scenario::TrialRateLimit => {
                "You are using a Trial key, which is limited to 20 API calls / minute"
            }
            Scenario::RateLimit => "You are past the per minute request limit",
            Scenario::Cancelled => "request cancelled",
            Scenario::InvalidCombination => "invalid request: ",
            _ => "",
        };
        assert!(msg.starts_with(expect) && !msg.is_empty(), "{sc}: {msg}");
    }
    let r = post(
        &s,
        "/v2/chat",
        Some(DEMO_KEY),
        &chat_body(),
        Some("no-such-scenario"),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(error_message(&r.json().await.unwrap()).contains("no-such-scenario"));
}

#[tokio::test]
async fn config_scenario_fails_every_request_but_the_header_wins() {
    let s = sim(SimConfig {
        scenario: Some(Scenario::ServiceUnavailable),
        ..SimConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            post(&s, "/v2/chat", Some(DEMO_KEY), &chat_body(), None)
                .await
                .status(),
            503
        );
    }
    assert_eq!(
        post(
            &s,
            "/v2/chat",
            Some(DEMO_KEY),
            &chat_body(),
            Some("forbidden")
        )
        .await
        .status(),
        403
    );
}

#[tokio::test]
async fn flaky_mode_fails_every_nth_call_per_path() {
    let flaky = Flaky {
        every: 3,
        scenario: Scenario::ServerError,
    };
    let s = sim(SimConfig {
        flaky: Some(flaky),
        ..SimConfig::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            post(&s, "/v2/chat", Some(DEMO_KEY), &chat_body(), None)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 500, 200, 200, 500]);
    let embed = json!({"model": "embed-v4.0", "input_type": "search_query", "texts": ["hi"]});
    assert_eq!(
        post(&s, "/v2/embed", Some(DEMO_KEY), &embed, None)
            .await
            .status(),
        200,
        "counted per path"
    );
}

#[tokio::test]
async fn natural_errors_from_the_request() {
    let config = SimConfig::default().with_model("command-r-08-2024", 20, Some(8));
    let s = sim(config).await;
    let chat = |extra: Value| {
        let mut b = chat_body();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases: Vec<(Value, u16, String)> = vec![
        (chat(json!({"model": "xyz"})), 404, "model 'xyz' not found, make sure the correct model ID was used".into()),
        (chat(json!({"foo": 1})), 422, "unknown field: parameter 'foo'".into()),
        (chat(json!({"messages": [{"role": "bot", "content": "hi"}]})), 422, "messages[0].role must be one of".into()),
        (chat(json!({"max_tokens": "ten"})), 422, "max_tokens must be".into()),
        (chat(json!({"tool_choice": "REQUIRED"})), 400, "invalid request: tool_choice".into()),
        (
            chat(json!({"max_tokens": 9})),
            400,
            "too many tokens: max tokens must be less than or equal to 8, the maximum output for this model - received 9."
                .into(),
        ),
    ];
    for (body, status, msg) in cases {
        let r = post(&s, "/v2/chat", Some(DEMO_KEY), &body, None).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let m = error_message(&r.json().await.unwrap());
        assert!(m.contains(&msg), "{m}");
    }
    // Context 20 with max_tokens 8 leaves 12 prompt tokens.
    let long = "the model request token tokens chat embed rerank document documents message messages user assistant";
    let body = json!({"model": "command-r-08-2024", "max_tokens": 8, "messages": [{"role": "user", "content": long}]});
    let raw = count_text_tokens(long);
    assert!(raw > 12, "test text is long enough: {raw}");
    let r = post(&s, "/v2/chat", Some(DEMO_KEY), &body, None).await;
    assert_eq!(r.status(), 400);
    let m = error_message(&r.json().await.unwrap());
    assert!(
        m.starts_with(&format!(
            "too many tokens: total number of tokens in the prompt cannot exceed 12 - received {raw}."
        )),
        "{m}"
    );

    let embed = json!({"model": "embed-v4.0", "input_type": "document", "texts": ["a"]});
    let r = post(&s, "/v2/embed", Some(DEMO_KEY), &embed, None).await;
    assert_eq!(r.status(), 422);
    assert!(error_message(&r.json().await.unwrap())
        .contains("input_type must be one of search_document"));
    let texts: Vec<String> = (0..104).map(|i| format!("t{i}")).collect();
    let embed = json!({"model": "embed-v4.0", "input_type": "search_query", "texts": texts});
    let r = post(&s, "/v2/embed", Some(DEMO_KEY), &embed, None).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        error_message(&r.json().await.unwrap()),
        "invalid request: total number of texts must be at most 96 - received 104"
    );
}

#[tokio::test]
async fn shape_matrix_limits_from_config() {
    let s = sim(SimConfig {
        fail_input_tokens_over: Some(5),
        fail_max_tokens_over: Some(100),
        ..SimConfig::default()
    })
    .await;
    let small = json!({"model": "command-r-08-2024", "max_tokens": 100, "messages": [{"role": "user", "content": "hello"}]});
    assert_eq!(
        post(&s, "/v2/chat", Some(DEMO_KEY), &small, None)
            .await
            .status(),
        200
    );
    let mut big_out = small.clone();
    big_out["max_tokens"] = json!(101);
    let r = post(&s, "/v2/chat", Some(DEMO_KEY), &big_out, None).await;
    assert_eq!(r.status(), 400);
    assert!(error_message(&r.json().await.unwrap()).contains("less than or equal to 100"));
    let text = "the quick brown fox jumps over the lazy dog";
    let big_in =
        json!({"model": "command-r-08-2024", "messages": [{"role": "user", "content": text}]});
    let r = post(&s, "/v2/chat", Some(DEMO_KEY), &big_in, None).await;
    assert_eq!(r.status(), 400);
    let m = error_message(&r.json().await.unwrap());
    assert!(
        m.contains(&format!(
            "cannot exceed 5 - received {}",
            count_text_tokens(text)
        )),
        "{m}"
    );
}

#[tokio::test]
async fn auth_missing_unknown_and_expired_keys() {
    let config = SimConfig {
        valid_keys: Some(vec![DEMO_KEY.to_string()]),
        expired_keys: vec!["old-key".to_string()],
        ..SimConfig::default()
    };
    let s = sim(config).await;
    let cases = [
        (None, "no api key supplied"),
        (Some("nope"), "invalid api token"),
        (Some("old-key"), "Your API key has expired"),
    ];
    for (key, msg) in cases {
        let r = post(&s, "/v2/chat", key, &chat_body(), None).await;
        assert_eq!(r.status(), 401);
        trace_id(&r);
        assert!(error_message(&r.json().await.unwrap()).starts_with(msg));
    }
    assert_eq!(
        post(&s, "/v2/chat", Some(DEMO_KEY), &chat_body(), None)
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&s, "/v2/chat", Some(TRIAL_KEY), &chat_body(), None)
            .await
            .status(),
        200,
        "trial keys are valid"
    );
    let r = post(&s, "/v1/check-api-key", Some("nope"), &json!({}), None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["valid"], false);
    let r = post(&s, "/v1/check-api-key", Some(DEMO_KEY), &json!({}), None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["valid"], true);
}

#[tokio::test]
async fn models_endpoint_and_served_tokenizer() {
    let s = sim(SimConfig::default()).await;
    let r = client()
        .get(format!("{}/v1/models/command-r-08-2024", s.base_url()))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "command-r-08-2024");
    assert_eq!(v["context_length"], 128_000);
    assert!(v["endpoints"].as_array().unwrap().contains(&json!("chat")));
    let url = v["tokenizer_url"].as_str().unwrap().to_string();
    assert_eq!(
        url,
        format!("{}/tokenizers/command-r-08-2024.json", s.base_url())
    );
    let text = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tok: tokenizers::Tokenizer = text.parse().unwrap();
    assert_eq!(
        tok.encode("hello world", false).unwrap().len() as u64,
        count_text_tokens("hello world")
    );
    assert_eq!(s.hits("/tokenizers/command-r-08-2024.json"), 1);

    let r = client()
        .get(format!("{}/v1/models/xyz", s.base_url()))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(error_message(&r.json().await.unwrap()).starts_with("model 'xyz' not found"));
    let r = client()
        .get(format!("{}/v1/models", s.base_url()))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "rerank-v3.5"));
}

#[tokio::test]
async fn tokenizer_can_be_missing_or_absent() {
    let s = sim(SimConfig {
        tokenizer: TokenizerMode::NotFound,
        ..SimConfig::default()
    })
    .await;
    let v: Value = client()
        .get(format!("{}/v1/models/command-r", s.base_url()))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = v["tokenizer_url"].as_str().unwrap();
    assert_eq!(client().get(url).send().await.unwrap().status(), 404);
    assert_eq!(s.hits("/tokenizers/command-r.json"), 1);

    let s = sim(SimConfig {
        tokenizer: TokenizerMode::Absent,
        ..SimConfig::default()
    })
    .await;
    let v: Value = client()
        .get(format!("{}/v1/models/command-r", s.base_url()))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.get("tokenizer_url").is_none(), "{v}");
    assert_eq!(v["context_length"], 128_000);
}

/// Splits an SSE body into (event, data) frames.
fn sse_frames(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let mut event = None;
            let mut data = String::new();
            for line in f.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_string();
                }
            }
            (event, data)
        })
        .collect()
}

#[tokio::test]
async fn v2_stream_frames_parse_and_end_with_done() {
    let s = sim(SimConfig::default()).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let r = post(&s, "/v2/chat", Some(DEMO_KEY), &body, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    trace_id(&r);
    let text = r.text().await.unwrap();
    let frames = sse_frames(&text);
    assert_eq!(frames.last().unwrap(), &(None, "[DONE]".to_string()));
    let events: Vec<&str> = frames.iter().filter_map(|(e, _)| e.as_deref()).collect();
    assert_eq!(events[..2], ["message-start", "content-start"]);
    assert_eq!(events[events.len() - 2..], ["content-end", "message-end"]);
    assert!(events.iter().filter(|e| **e == "content-delta").count() > 3);
    let mut reply = String::new();
    for (event, data) in &frames[..frames.len() - 1] {
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(
            v["type"].as_str(),
            event.as_deref(),
            "type field matches the event name"
        );
        if let Some(t) = v
            .pointer("/delta/message/content/text")
            .and_then(Value::as_str)
        {
            reply.push_str(t);
        }
    }
    let end: Value = serde_json::from_str(&frames[frames.len() - 2].1).unwrap();
    assert_eq!(end["delta"]["finish_reason"], "COMPLETE");
    assert_eq!(
        end["delta"]["usage"]["billed_units"]["input_tokens"],
        count_text_tokens("Summarize the error report please")
    );
    assert_eq!(
        end["delta"]["usage"]["billed_units"]["output_tokens"],
        count_text_tokens(&reply)
    );
    assert_eq!(
        s.stream_event_times().len(),
        frames.len(),
        "one time per frame, [DONE] included"
    );
}

#[tokio::test]
async fn max_tokens_cuts_the_reply() {
    let s = sim(SimConfig::default()).await;
    let mut body = chat_body();
    body["max_tokens"] = json!(3);
    let v: Value = post(&s, "/v2/chat", Some(DEMO_KEY), &body, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["finish_reason"], "MAX_TOKENS");
    let out = v["usage"]["billed_units"]["output_tokens"]
        .as_u64()
        .unwrap();
    assert!((1..=3).contains(&out), "{out}");
}

#[tokio::test]
async fn stream_error_ends_with_finish_reason_error() {
    let s = sim(SimConfig::default()).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let r = post(&s, "/v2/chat", Some(DEMO_KEY), &body, Some("stream-error")).await;
    assert_eq!(r.status(), 200);
    let frames = sse_frames(&r.text().await.unwrap());
    assert_eq!(frames.last().unwrap().1, "[DONE]");
    let (event, data) = &frames[frames.len() - 2];
    assert_eq!(event.as_deref(), Some("message-end"));
    let end: Value = serde_json::from_str(data).unwrap();
    assert_eq!(end["delta"]["finish_reason"], "ERROR");
    assert!(!end["delta"]["error"].as_str().unwrap().is_empty());

    // v1: stream-end with finish_reason ERROR.
    let v1 = json!({"message": "hi", "stream": true});
    let r = post(&s, "/v1/chat", Some(DEMO_KEY), &v1, Some("stream-error")).await;
    let text = r.text().await.unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event_type"], "stream-end");
    assert_eq!(last["finish_reason"], "ERROR");
}

#[tokio::test]
async fn stream_cut_breaks_the_body() {
    let s = sim(SimConfig::default()).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let r = post(&s, "/v2/chat", Some(DEMO_KEY), &body, Some("stream-cut")).await;
    assert_eq!(r.status(), 200);
    let mut r = r;
    let mut got = String::new();
    let err = loop {
        match r.chunk().await {
            Ok(Some(c)) => got.push_str(&String::from_utf8_lossy(&c)),
            Ok(None) => panic!("the stream ended cleanly: {got}"),
            Err(e) => break e,
        }
    };
    assert!(
        err.is_body() || err.is_decode() || err.is_request(),
        "{err:?}"
    );
    assert!(
        got.starts_with("event: message-start"),
        "events before the cut arrive: {got}"
    );
    assert!(
        !got.contains("message-end") && !got.contains("[DONE]"),
        "{got}"
    );
}

#[tokio::test]
async fn reset_gives_a_connection_error_not_a_response() {
    let s = sim(SimConfig::default()).await;
    // The same client first makes a normal call, so the reset hits a kept-alive connection too.
    let c = client();
    let ok = c
        .post(format!("{}/v2/chat", s.base_url()))
        .bearer_auth(DEMO_KEY)
        .json(&chat_body())
        .send()
        .await;
    assert_eq!(ok.unwrap().status(), 200);
    let err = c
        .post(format!("{}/v2/chat", s.base_url()))
        .bearer_auth(DEMO_KEY)
        .header("x-simulate", "reset")
        .json(&chat_body())
        .send()
        .await
        .expect_err("no response");
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
    let chain = format!("{err:?}").to_lowercase();
    assert!(
        chain.contains("connection reset"),
        "an RST, not a clean close: {chain}"
    );
    assert_eq!(
        s.hits("/v2/chat"),
        2,
        "the request was sent once, not retried"
    );
    // The simulator still serves other connections.
    assert_eq!(
        post(&s, "/v2/chat", Some(DEMO_KEY), &chat_body(), None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn hang_triggers_the_client_timeout_and_shutdown_cancels_it() {
    let s = sim(SimConfig::default()).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let url = format!("{}/v2/chat", s.base_url());
    let err = quick
        .post(&url)
        .bearer_auth(DEMO_KEY)
        .header("x-simulate", "hang")
        .json(&chat_body())
        .send()
        .await;
    assert!(err.expect_err("times out").is_timeout());

    // A hanging request in flight ends (with a connection error) when the simulator shuts down.
    let pending = tokio::spawn({
        let url = url.clone();
        async move {
            client()
                .post(&url)
                .bearer_auth(DEMO_KEY)
                .header("x-simulate", "hang")
                .json(&chat_body())
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    s.shutdown().await;
    let res = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("ends promptly")
        .unwrap();
    assert!(
        res.is_err() && !res.as_ref().unwrap_err().is_timeout(),
        "{res:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        client().post(&url).json(&chat_body()).send().await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn trial_headers_present_for_trial_keys_and_absent_on_429() {
    let rl = RateLimit {
        calls: 2,
        window: Duration::from_secs(30),
    };
    let s = sim(SimConfig {
        rate_limit: Some(rl),
        trial_call_limit: 2,
        ..SimConfig::default()
    })
    .await;
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let r = post(&s, "/v2/chat", Some(TRIAL_KEY), &chat_body(), None).await;
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["x-trial-endpoint-call-limit"], "2");
        assert_eq!(h["x-endpoint-monthly-call-limit"], "1000");
        remaining.push(
            h["x-trial-endpoint-call-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["1", "0"]);
    let r = post(&s, "/v2/chat", Some(TRIAL_KEY), &chat_body(), None).await;
    assert_eq!(r.status(), 429);
    for h in [
        "x-trial-endpoint-call-limit",
        "x-trial-endpoint-call-remaining",
        "x-endpoint-monthly-call-limit",
    ] {
        assert!(r.headers().get(h).is_none(), "{h} absent on 429");
    }
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&secs), "{secs}");
    let m = error_message(&r.json().await.unwrap());
    assert!(
        m.starts_with("You are using a Trial key, which is limited to 2 API calls / minute"),
        "{m}"
    );
    // Trial headers also on non-429 errors.
    let r = post(
        &s,
        "/v1/chat",
        Some(TRIAL_KEY),
        &json!({"message": "x", "model": "nope"}),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("x-trial-endpoint-call-remaining").is_some());
    // A production key hitting the limit gets the production message.
    for _ in 0..2 {
        post(&s, "/v2/chat", Some(DEMO_KEY), &chat_body(), None).await;
    }
    let r = post(&s, "/v2/chat", Some(DEMO_KEY), &chat_body(), None).await;
    assert_eq!(r.status(), 429);
    assert!(error_message(&r.json().await.unwrap())
        .starts_with("You are past the per minute request limit"));
}

#[tokio::test]
async fn rate_limit_429_then_success_after_retry_after() {
    let rl = RateLimit {
        calls: 1,
        window: Duration::from_millis(1500),
    };
    let s = sim(SimConfig {
        rate_limit: Some(rl),
        ..SimConfig::default()
    })
    .await;
    assert_eq!(
        post(&s, "/v2/chat", Some(DEMO_KEY), &chat_body(), None)
            .await
            .status(),
        200
    );
    let r = post(&s, "/v2/chat", Some(DEMO_KEY), &chat_body(), None).await;
    assert_eq!(r.status(), 429);
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&secs), "whole seconds, rounded up: {secs}");
    tokio::time::sleep(Duration::from_secs(secs)).await;
    assert_eq!(
        post(&s, "/v2/chat", Some(DEMO_KEY), &chat_body(), None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn stream_event_delay_spaces_the_events_and_records_write_times() {
    let s = sim(SimConfig {
        stream_event_delay: Duration::from_millis(40),
        ..SimConfig::default()
    })
    .await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let mut r = post(&s, "/v2/chat", Some(DEMO_KEY), &body, None).await;
    // Read the first chunk: it arrives before the simulator writes the second event.
    let first = r.chunk().await.unwrap().unwrap();
    let got_first = std::time::Instant::now();
    assert!(String::from_utf8_lossy(&first).starts_with("event: message-start"));
    while r.chunk().await.unwrap().is_some() {}
    let times = s.stream_event_times();
    assert!(times.len() > 5);
    assert!(
        got_first < times[1],
        "event 0 delivered before event 1 was written"
    );
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(35),
            "{:?}",
            w[1] - w[0]
        );
    }
}

#[tokio::test]
async fn stream_end_delay_holds_the_body_open_after_the_last_event() {
    let s = sim(SimConfig {
        stream_end_delay: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let mut r = post(&s, "/v2/chat", Some(DEMO_KEY), &body, None).await;
    let mut text = String::new();
    let mut got_done = None;
    while let Some(chunk) = r.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if got_done.is_none() && text.ends_with("data: [DONE]\n\n") {
            got_done = Some(std::time::Instant::now());
        }
    }
    let held = got_done.expect("[DONE] arrived").elapsed();
    assert!(
        held >= Duration::from_millis(250),
        "the body ended {held:?} after [DONE]"
    );
    assert!(text.contains("event: message-end"));
}

#[tokio::test]
async fn v1_chat_embed_rerank_and_check_key_bodies() {
    let s = sim(SimConfig::default()).await;
    let v1 = json!({"message": "hello there", "preamble": "be brief", "chat_history": [{"role": "USER", "message": "hi"}]});
    let v: Value = post(&s, "/v1/chat", Some(DEMO_KEY), &v1, None)
        .await
        .json()
        .await
        .unwrap();
    let raw =
        count_text_tokens("be brief") + count_text_tokens("hi") + count_text_tokens("hello there");
    assert_eq!(v["meta"]["billed_units"]["input_tokens"], raw);
    assert_eq!(v["meta"]["tokens"]["input_tokens"], raw + 10 + 5 * 3);
    assert_eq!(v["finish_reason"], "COMPLETE");
    assert!(!v["text"].as_str().unwrap().is_empty());

    let mut stream = v1.clone();
    stream["stream"] = json!(true);
    let r = post(&s, "/v1/chat", Some(DEMO_KEY), &stream, None).await;
    assert_eq!(r.headers()["content-type"], "application/stream+json");
    let lines: Vec<Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event_type"], "stream-start");
    assert_eq!(lines[1]["event_type"], "text-generation");
    assert_eq!(lines.last().unwrap()["event_type"], "stream-end");
    assert_eq!(
        lines.last().unwrap()["response"]["meta"]["billed_units"]["input_tokens"],
        raw
    );

    // With `Accepts: text/event-stream` v1 sends the same events as SSE frames.
    let r = client()
        .post(format!("{}/v1/chat", s.base_url()))
        .bearer_auth(DEMO_KEY)
        .header("accepts", "text/event-stream")
        .json(&stream)
        .send()
        .await
        .expect("response");
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let frames: Vec<(&str, Value)> = text
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (ev, data) = f.split_once('\n').expect("event and data lines");
            let ev = ev.strip_prefix("event: ").expect("event line");
            let data = data.strip_prefix("data: ").expect("data line");
            (ev, serde_json::from_str(data).expect("JSON data"))
        })
        .collect();
    assert_eq!(frames.len(), lines.len());
    assert_eq!(frames[0].0, "stream-start");
    assert_eq!(frames[1].0, "text-generation");
    let (last_ev, last) = frames.last().unwrap();
    assert_eq!(*last_ev, "stream-end");
    assert_eq!(last["event_type"], "stream-end");
    assert_eq!(
        last["response"]["meta"]["billed_units"]["input_tokens"],
        raw
    );

    let embed = json!({"model": "embed-v4.0", "input_type": "search_document", "texts": ["a cat", "a dog"], "embedding_types": ["float", "int8"]});
    let v: Value = post(&s, "/v2/embed", Some(DEMO_KEY), &embed, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["response_type"], "embeddings_by_type");
    assert_eq!(v["embeddings"]["float"].as_array().unwrap().len(), 2);
    assert_eq!(v["embeddings"]["int8"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["meta"]["billed_units"]["input_tokens"],
        count_text_tokens("a cat") + count_text_tokens("a dog")
    );

    let rr = json!({"model": "rerank-v3.5", "query": "dog food", "documents": ["cats sleep", "dog food is tasty", "food"], "top_n": 2});
    let v: Value = post(&s, "/v2/rerank", Some(DEMO_KEY), &rr, None)
        .await
        .json()
        .await
        .unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["index"], 1, "best match first");
    assert_eq!(v["meta"]["billed_units"]["search_units"], 1);

    let r = post(
        &s,
        "/v2/rerank",
        Some(DEMO_KEY),
        &json!({"model": "command-r", "query": "q", "documents": ["d"]}),
        None,
    )
    .await;
    assert_eq!(r.status(), 400, "a chat model on rerank");
}

#[tokio::test]
async fn requests_are_recorded_with_status_and_scenario() {
    let s = sim(SimConfig::default()).await;
    let mut body = chat_body();
    body["max_tokens"] = json!(77);
    post(&s, "/v2/chat", Some(DEMO_KEY), &body, None).await;
    post(
        &s,
        "/v2/chat",
        Some(DEMO_KEY),
        &chat_body(),
        Some("payment-required"),
    )
    .await;
    client()
        .get(format!("{}/v1/models/command-r?x=1", s.base_url()))
        .send()
        .await
        .unwrap();
    let reqs = s.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].json().unwrap()["max_tokens"], 77);
    assert_eq!(
        reqs[0].header("Authorization"),
        Some(format!("Bearer {DEMO_KEY}").as_str())
    );
    assert_eq!((reqs[0].status, reqs[0].scenario), (Some(200), None));
    assert_eq!(
        (reqs[1].status, reqs[1].scenario),
        (Some(402), Some(Scenario::PaymentRequired))
    );
    assert_eq!(
        (
            reqs[2].method.as_str(),
            reqs[2].path.as_str(),
            reqs[2].status
        ),
        ("GET", "/v1/models/command-r", Some(401))
    );
    assert_eq!(s.hits("/v1/models/command-r"), 1);
}
