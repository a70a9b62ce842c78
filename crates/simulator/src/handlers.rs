//! Request handling: scenario selection, auth, rate limits, validation and the endpoint bodies.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::stream::{ndjson, sse, sse_done, EventBody};
use super::{
    count_input_tokens, count_text_tokens, lock, prompt_tokens, tokenizer, ConnCtx, ModelKind,
    Scenario, Shared, SimModel, SimRequest, TokenizerMode, MAX_RECORDED_REQUESTS, SIMULATE_HEADER,
};
use cohere_bundle_knowledge::cohere::Endpoint;

mod compat;
mod resources;
pub(crate) use resources::Store;

pub(crate) type SimBody = UnsyncBoxBody<Bytes, std::io::Error>;
type Resp = Response<SimBody>;
type R<T> = Result<T, Reject>;

/// An error answer: status, message and an optional `Retry-After`.
pub(crate) struct Reject {
    status: u16,
    message: String,
    retry_after: Option<u64>,
}

impl Reject {
    fn new(status: u16, message: impl Into<String>) -> Reject {
        Reject {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    fn malformed(message: impl Into<String>) -> Reject {
        Reject::new(422, message)
    }
    fn bad(message: impl Into<String>) -> Reject {
        Reject::new(400, message)
    }
}

/// How a stream should end, from the stream scenarios.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamMode {
    Normal,
    Error,
    Cut,
}

/// The routes the simulator serves.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Api(Endpoint),
    /// A path answered generically by [`resources`].
    Resource(Endpoint),
    Model(String),
    Tokenizer(String),
    NotFound,
}

fn route_of(method: &Method, path: &str) -> Route {
    if method == Method::GET {
        if let Some(file) = path.strip_prefix("/tokenizers/") {
            return Route::Tokenizer(file.to_string());
        }
        if path == "/v1/models" {
            return Route::Api(Endpoint::Models);
        }
        if let Some(name) = path.strip_prefix("/v1/models/") {
            let name = percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .into_owned();
            return Route::Model(name);
        }
    }
    if let Some((e, 0)) = Endpoint::locate(path) {
        if resources::serves(e) {
            return Route::Resource(e);
        }
    }
    if method != Method::POST {
        return Route::NotFound;
    }
    match path {
        "/v2/chat" => Route::Api(Endpoint::ChatV2),
        "/v1/chat" => Route::Api(Endpoint::ChatV1),
        "/v2/embed" => Route::Api(Endpoint::EmbedV2),
        "/v1/embed" => Route::Api(Endpoint::EmbedV1),
        "/v2/rerank" => Route::Api(Endpoint::RerankV2),
        "/v1/rerank" => Route::Api(Endpoint::RerankV1),
        "/v1/tokenize" => Route::Api(Endpoint::Tokenize),
        "/v1/check-api-key" => Route::Api(Endpoint::CheckApiKey),
        "/compatibility/v1/chat/completions" => Route::Api(Endpoint::CompatChatCompletions),
        "/compatibility/v1/embeddings" => Route::Api(Endpoint::CompatEmbeddings),
        _ => Route::NotFound,
    }
}

/// What `finish` needs to know about the caller.
#[derive(Default)]
struct Meta {
    /// Calls of a trial key to this path in the current window, when the key is a trial key.
    trial_calls: Option<u64>,
    /// The index of this request in `Shared::requests`.
    record: Option<usize>,
}

/// Handles one request; never fails (errors become Cohere-shaped error responses).
pub(crate) async fn handle(shared: Arc<Shared>, ctx: Arc<ConnCtx>, req: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    shared.total.fetch_add(1, Ordering::SeqCst);
    *lock(&shared.hits).entry(path.clone()).or_default() += 1;
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let headers = req.headers().clone();
    let body = match req.into_body().collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let index = {
        let mut reqs = lock(&shared.requests);
        (reqs.len() < MAX_RECORDED_REQUESTS).then(|| {
            reqs.push(SimRequest {
                method: method.to_string(),
                path: path.clone(),
                headers: headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: String::from_utf8_lossy(&body).into_owned(),
                status: None,
                scenario: None,
            });
            reqs.len() - 1
        })
    };
    let mut meta = Meta {
        record: index,
        ..Meta::default()
    };
    let resp = match serve(
        &shared, &ctx, &method, &path, &query, &headers, &body, &mut meta,
    )
    .await
    {
        Ok(r) => r,
        Err(rej) => error_response(&rej, &path),
    };
    finish(&shared, resp, &trace_id, &meta, started)
}

/// The error answer: Cohere's `{"id", "message"}`, or OpenAI's `{"error": {…}}` on the compatibility API's
/// paths ([`compat::error_body`]).
fn error_response(rej: &Reject, path: &str) -> Resp {
    let body = match Endpoint::locate(path) {
        Some((e, _)) if e.is_compatibility() => compat::error_body(rej.status, &rej.message),
        _ => json!({"id": uuid::Uuid::new_v4().to_string(), "message": rej.message}),
    };
    let mut resp = json_response(rej.status, &body);
    if let Some(secs) = rej.retry_after {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    resp
}

fn finish(shared: &Shared, mut resp: Resp, trace_id: &str, meta: &Meta, started: Instant) -> Resp {
    let status = resp.status().as_u16();
    if let Some(i) = meta.record {
        if let Some(r) = lock(&shared.requests).get_mut(i) {
            r.status = Some(status);
        }
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(trace_id) {
        h.insert("x-debug-trace-id", v);
    }
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("X-Debug-Trace-ID"),
    );
    h.insert(
        "x-envoy-upstream-service-time",
        HeaderValue::from(started.elapsed().as_millis() as u64),
    );
    if let (Some(calls), true) = (meta.trial_calls, status != 429) {
        let cfg = &shared.config;
        h.insert(
            "x-trial-endpoint-call-limit",
            HeaderValue::from(cfg.trial_call_limit),
        );
        h.insert(
            "x-trial-endpoint-call-remaining",
            HeaderValue::from(cfg.trial_call_limit.saturating_sub(calls)),
        );
        h.insert(
            "x-endpoint-monthly-call-limit",
            HeaderValue::from(cfg.monthly_call_limit),
        );
    }
    resp
}

fn full(b: impl Into<Bytes>) -> SimBody {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn status_code(s: u16) -> StatusCode {
    StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn json_response(status: u16, v: &Value) -> Resp {
    let mut resp = Response::new(full(v.to_string()));
    *resp.status_mut() = status_code(status);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

fn stream_response(content_type: &'static str, body: EventBody) -> Resp {
    let mut resp = Response::new(body.boxed_unsync());
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    resp
}

fn bearer_key(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?.trim();
    let key = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => v,
    };
    (!key.is_empty()).then(|| key.to_string())
}

impl Shared {
    fn window(&self) -> Duration {
        self.config
            .rate_limit
            .map_or(Duration::from_secs(60), |r| r.window)
    }

    /// Calls of `key` to `path` in the current window, without counting a new one.
    fn peek_calls(&self, key: &str, path: &str) -> u64 {
        let w = lock(&self.windows);
        match w.get(&(key.to_string(), path.to_string())) {
            Some((start, n)) if start.elapsed() < self.window() => *n,
            _ => 0,
        }
    }

    /// Counts a call of `key` to `path`; over the rate limit, returns the `Retry-After` seconds instead.
    fn take_call(&self, key: &str, path: &str) -> Result<u64, u64> {
        let window = self.window();
        let mut w = lock(&self.windows);
        let entry = w
            .entry((key.to_string(), path.to_string()))
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= window {
            *entry = (Instant::now(), 0);
        }
        if let Some(rl) = self.config.rate_limit {
            if entry.1 >= rl.calls {
                let left = window.saturating_sub(entry.0.elapsed());
                return Err((left.as_secs_f64().ceil() as u64).max(1));
            }
        }
        entry.1 += 1;
        Ok(entry.1)
    }

    /// The scenario of this call from flaky mode.
    fn flaky(&self, path: &str) -> Option<Scenario> {
        let f = self.config.flaky?;
        let mut calls = lock(&self.path_calls);
        let n = calls.entry(path.to_string()).or_default();
        *n += 1;
        (f.every > 0 && (*n).is_multiple_of(f.every)).then_some(f.scenario)
    }

    fn is_trial(&self, key: &str) -> bool {
        self.config.trial_keys.iter().any(|k| k == key)
    }

    fn trial_limit_message(&self) -> String {
        let limit = self
            .config
            .rate_limit
            .map_or(self.config.trial_call_limit, |r| r.calls);
        format!(
            "You are using a Trial key, which is limited to {limit} API calls / minute. You can continue to use \
             the Trial key for free or upgrade to a Production key with higher rate limits at \
             'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or email us at \
             support@cohere.com with any questions"
        )
    }
}

const PRODUCTION_LIMIT_MESSAGE: &str =
    "You are past the per minute request limit, please wait and try again later.";

/// Answers one request after [`handle`] recorded it: the tokenizer files; then the scenario, the key and the
/// rate limit, in that order; then the route.
#[allow(clippy::too_many_arguments)]
async fn serve(
    shared: &Shared,
    ctx: &ConnCtx,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    meta: &mut Meta,
) -> R<Resp> {
    let route = route_of(method, path);
    if let Route::Tokenizer(file) = &route {
        return tokenizer_file(shared, file);
    }
    let key = bearer_key(headers);
    let trial = key.as_deref().is_some_and(|k| shared.is_trial(k));
    if let (true, Some(k)) = (trial, key.as_deref()) {
        meta.trial_calls = Some(shared.peek_calls(k, path));
    }

    let forced = forced_scenario(shared, headers, path)?;
    let parsed: Option<Result<Value, String>> =
        (method == Method::POST).then(|| serde_json::from_slice(body).map_err(|e| e.to_string()));
    let json = parsed.as_ref().and_then(|p| p.as_ref().ok());
    record_scenario(shared, meta, forced);
    let mode = play_scenario(shared, ctx, forced, &route, json).await?;

    // Auth.
    let Some(key) = key else {
        return Err(Reject::new(401, "no api key supplied"));
    };
    if !check_key(shared, &key, trial)? {
        return unknown_key(&route);
    }
    count_call(shared, &key, path, trial, meta)?;

    let endpoint = match route {
        Route::Model(name) => return model_info(shared, &name),
        Route::Api(Endpoint::Models) => return Ok(model_list(shared)),
        Route::Resource(e) => {
            return resources::handle(shared, e, method, path, query, headers, body)
        }
        Route::Api(e) => e,
        Route::Tokenizer(_) | Route::NotFound => return Err(no_route(method, path)),
    };
    api(shared, endpoint, parsed, headers, mode).unwrap_or_else(|| Err(no_route(method, path)))
}

/// The scenario of this call: the `x-simulate` header first, then the simulator's own scenario, then flaky
/// mode. An unknown name in the header is a 400.
fn forced_scenario(shared: &Shared, headers: &HeaderMap, path: &str) -> R<Option<Scenario>> {
    match headers
        .get(SIMULATE_HEADER)
        .map(|v| v.to_str().unwrap_or(""))
    {
        Some(name) => name
            .parse::<Scenario>()
            .map(Some)
            .map_err(|e| Reject::bad(format!("invalid request: {SIMULATE_HEADER}: {e}"))),
        None => {
            let all = *lock(&shared.scenario);
            Ok(all.or_else(|| shared.flaky(path)))
        }
    }
}

/// Notes the forced scenario, if any, in the request's record.
fn record_scenario(shared: &Shared, meta: &Meta, forced: Option<Scenario>) {
    if let (Some(sc), Some(i)) = (forced, meta.record) {
        if let Some(r) = lock(&shared.requests).get_mut(i) {
            r.scenario = Some(sc);
        }
    }
}

/// Plays the forced scenario: a hang (then a 504), a reset connection, the stream mode of the stream
/// scenarios, or the scenario's error answer. Without one, streams end normally.
async fn play_scenario(
    shared: &Shared,
    ctx: &ConnCtx,
    forced: Option<Scenario>,
    route: &Route,
    json: Option<&Value>,
) -> R<StreamMode> {
    match forced {
        Some(Scenario::Hang) => {
            tokio::time::sleep(shared.config.hang_for).await;
            Err(Reject::new(
                504,
                "gateway timeout: the upstream service did not respond in time",
            ))
        }
        Some(Scenario::Reset) => {
            ctx.reset.store(true, Ordering::SeqCst);
            ctx.notify.notify_one();
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes");
        }
        Some(Scenario::StreamError) => Ok(StreamMode::Error),
        Some(Scenario::StreamCut) => Ok(StreamMode::Cut),
        Some(sc) => Err(scenario_reject(shared, sc, route, json)),
        None => Ok(StreamMode::Normal),
    }
}

/// Whether the simulator knows `key` (a trial key always counts); an expired key is a 401.
fn check_key(shared: &Shared, key: &str, trial: bool) -> R<bool> {
    if shared.config.expired_keys.iter().any(|k| k == key) {
        return Err(Reject::new(
            401,
            "Your API key has expired. Please create a new key at https://dashboard.cohere.com/api-keys",
        ));
    }
    Ok(trial
        || shared
            .config
            .valid_keys
            .as_ref()
            .is_none_or(|v| v.iter().any(|k| k == key)))
}

/// The answer to a key the simulator does not know: 401, except that `check-api-key` says it is not valid.
fn unknown_key(route: &Route) -> R<Resp> {
    if *route == Route::Api(Endpoint::CheckApiKey) {
        return Ok(json_response(200, &json!({"valid": false})));
    }
    Err(Reject::new(401, "invalid api token"))
}

/// Counts the call against the key's rate limit (a trial key's count goes into `meta`); past the limit, a
/// 429 with `Retry-After`.
fn count_call(shared: &Shared, key: &str, path: &str, trial: bool, meta: &mut Meta) -> R<()> {
    match shared.take_call(key, path) {
        Ok(n) => {
            if trial {
                meta.trial_calls = Some(n);
            }
            Ok(())
        }
        Err(retry_after) => {
            let message = if trial {
                shared.trial_limit_message()
            } else {
                PRODUCTION_LIMIT_MESSAGE.to_string()
            };
            Err(Reject {
                status: 429,
                message,
                retry_after: Some(retry_after),
            })
        }
    }
}

/// The 404 for a path and method the simulator does not serve.
fn no_route(method: &Method, path: &str) -> Reject {
    Reject::new(404, format!("not found: no route for {method} {path}"))
}

/// Answers the JSON API endpoints (check-api-key, chat, embed, rerank, tokenize) from the body as parsed;
/// `None` for any other endpoint.
fn api(
    shared: &Shared,
    endpoint: Endpoint,
    parsed: Option<Result<Value, String>>,
    headers: &HeaderMap,
    mode: StreamMode,
) -> Option<R<Resp>> {
    if endpoint == Endpoint::CheckApiKey {
        return Some(Ok(json_response(
            200,
            &json!({"valid": true, "organization_id": "sim-org-0001", "owner_id": "sim-owner-0001"}),
        )));
    }
    let body = match parsed {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            return Some(Err(Reject::bad(format!(
                "invalid request: could not parse JSON body: {e}"
            ))))
        }
        None => Value::Null,
    };
    Some(match endpoint {
        Endpoint::ChatV2 => chat_v2(shared, &body, mode),
        Endpoint::ChatV1 => chat_v1(shared, &body, mode, accepts_sse(headers)),
        Endpoint::EmbedV2 | Endpoint::EmbedV1 => embed(shared, endpoint, &body),
        Endpoint::RerankV2 | Endpoint::RerankV1 => rerank(shared, endpoint, &body),
        Endpoint::Tokenize => tokenize(shared, &body),
        Endpoint::CompatChatCompletions => compat::chat_completions(shared, &body, mode),
        Endpoint::CompatEmbeddings => compat::embeddings(shared, &body),
        _ => return None,
    })
}

/// v1 chat streams newline-delimited JSON unless the client asks for SSE with `Accepts` (sic).
fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all("accepts")
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("text/event-stream")))
}

// ---------------------------------------------------------------------------------------------------------
// Scenario answers

fn scenario_reject(shared: &Shared, sc: Scenario, route: &Route, json: Option<&Value>) -> Reject {
    let endpoint = match route {
        Route::Api(e) | Route::Resource(e) => *e,
        _ => Endpoint::Other,
    };
    let model_name = match route {
        Route::Model(m) => Some(m.clone()),
        _ => json
            .and_then(|j| j.get("model"))
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let model = model_name.as_deref().and_then(|m| shared.config.model(m));
    let max_tokens = json.and_then(cohere_bundle_knowledge::tokens::max_tokens);
    let raw = json.map_or(0, |j| count_input_tokens(endpoint, j));
    let status = sc.status().unwrap_or(500);
    let message = match sc {
        Scenario::InvalidCombination => invalid_combination_message(endpoint),
        Scenario::TooManyTokens => {
            let ctx = model.map_or(4096, |m| m.context_length);
            let limit = ctx.saturating_sub(max_tokens.unwrap_or(0));
            too_many_tokens_message(limit, raw.max(limit + 1))
        }
        Scenario::MaxTokensExceeded => {
            let cap = model.and_then(|m| m.max_output_tokens).unwrap_or(4096);
            let got = max_tokens.filter(|&m| m > cap).unwrap_or(cap * 2);
            max_tokens_message(cap, got)
        }
        Scenario::NoApiKey => "no api key supplied".to_string(),
        Scenario::InvalidApiKey => "invalid api token".to_string(),
        Scenario::ExpiredApiKey => {
            "Your API key has expired. Please create a new key at https://dashboard.cohere.com/api-keys".to_string()
        }
        Scenario::PaymentRequired => "Please add or update your payment method at \
             https://dashboard.cohere.com/billing?tab=payment to continue"
            .to_string(),
        Scenario::Forbidden => format!(
            "forbidden: this API key does not have access to {}",
            model_name
                .as_deref()
                .map_or("this endpoint".to_string(), |m| format!("model '{m}'"))
        ),
        Scenario::ModelNotFound => model_not_found_message(model_name.as_deref().unwrap_or("xyz")),
        Scenario::Unprocessable => unknown_field_message("simulated_unknown_field"),
        Scenario::TrialRateLimit => shared.trial_limit_message(),
        Scenario::RateLimit => PRODUCTION_LIMIT_MESSAGE.to_string(),
        Scenario::BlockedToken => "blocked input: the request contains a deny-listed token".to_string(),
        Scenario::Cancelled => "request cancelled".to_string(),
        Scenario::ServerError => {
            "internal server error, this has been reported to our developers. Please contact support@cohere.com \
             with the request id if the problem persists"
                .to_string()
        }
        Scenario::ServiceUnavailable => {
            "service unavailable: the server is overloaded, please try again later".to_string()
        }
        Scenario::GatewayTimeout => "gateway timeout: the upstream service did not respond in time".to_string(),
        Scenario::Hang | Scenario::Reset | Scenario::StreamError | Scenario::StreamCut => {
            "internal server error".to_string()
        }
    };
    let retry_after = (status == 429).then_some(1);
    Reject {
        status,
        message,
        retry_after,
    }
}

fn invalid_combination_message(endpoint: Endpoint) -> String {
    match endpoint {
        Endpoint::ChatV2 => "invalid request: tool_choice can only be specified together with tools".to_string(),
        Endpoint::ChatV1 => {
            "invalid request: this model is not supported with '/v1/chat', please use '/v2/chat' instead".to_string()
        }
        Endpoint::EmbedV2 | Endpoint::EmbedV1 => {
            "invalid request: only one of 'texts', 'images' or 'inputs' can be specified".to_string()
        }
        Endpoint::RerankV2 | Endpoint::RerankV1 => {
            "invalid request: max_tokens_per_doc must be at least the number of tokens in the query".to_string()
        }
        _ => "invalid request: invalid combination of parameters".to_string(),
    }
}

fn too_many_tokens_message(limit: u64, received: u64) -> String {
    format!(
        "too many tokens: total number of tokens in the prompt cannot exceed {limit} - received {received}. Try \
         using a shorter prompt, or enabling prompt truncating. See https://docs.cohere.com/reference/chat for \
         more info."
    )
}

fn max_tokens_message(cap: u64, received: u64) -> String {
    format!(
        "too many tokens: max tokens must be less than or equal to {cap}, the maximum output for this model - \
         received {received}."
    )
}

fn model_not_found_message(model: &str) -> String {
    format!("model '{model}' not found, make sure the correct model ID was used and that you have access to the model.")
}

fn unknown_field_message(field: &str) -> String {
    format!("invalid request: unknown field: parameter '{field}' is not a valid field")
}

// ---------------------------------------------------------------------------------------------------------
// Validation helpers

fn object(body: &Value) -> R<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| Reject::bad("invalid request: the request body must be a JSON object"))
}

fn check_fields(o: &Map<String, Value>, allowed: &[&str]) -> R<()> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Reject::malformed(unknown_field_message(k))),
        None => Ok(()),
    }
}

fn req_str<'a>(o: &'a Map<String, Value>, k: &str) -> R<&'a str> {
    match o.get(k) {
        None | Some(Value::Null) => Err(Reject::malformed(format!(
            "invalid request: {k} is required"
        ))),
        Some(v) => v
            .as_str()
            .ok_or_else(|| Reject::malformed(format!("invalid request: {k} must be a string"))),
    }
}

fn opt_str<'a>(o: &'a Map<String, Value>, k: &str) -> R<Option<&'a str>> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| Reject::malformed(format!("invalid request: {k} must be a string"))),
    }
}

fn opt_u64(o: &Map<String, Value>, k: &str) -> R<Option<u64>> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            Reject::malformed(format!(
                "invalid request: {k} must be a non-negative integer"
            ))
        }),
    }
}

fn opt_bool(o: &Map<String, Value>, k: &str) -> R<bool> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| Reject::malformed(format!("invalid request: {k} must be a boolean"))),
    }
}

fn opt_array<'a>(o: &'a Map<String, Value>, k: &str) -> R<&'a [Value]> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(&[]),
        Some(v) => v
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| Reject::malformed(format!("invalid request: {k} must be an array"))),
    }
}

fn check_enum(what: &str, value: Option<&str>, allowed: &[&str]) -> R<()> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(Reject::malformed(format!(
            "invalid request: {what} must be one of {} - received '{v}'",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

fn find_model<'a>(
    shared: &'a Shared,
    name: &str,
    endpoint: Endpoint,
    kind: ModelKind,
) -> R<&'a SimModel> {
    let model = shared
        .config
        .model(name)
        .ok_or_else(|| Reject::new(404, model_not_found_message(name)))?;
    if model.kind() != kind {
        return Err(Reject::bad(format!(
            "invalid request: model '{name}' is not supported by the {} endpoint",
            endpoint.path()
        )));
    }
    Ok(model)
}

/// The token checks of a request; returns the raw input-token count.
fn check_tokens(
    shared: &Shared,
    endpoint: Endpoint,
    body: &Value,
    model: &SimModel,
    max_tokens: Option<u64>,
) -> R<u64> {
    let cfg = &shared.config;
    let raw = count_input_tokens(endpoint, body);
    if let Some(mt) = max_tokens.filter(|_| endpoint.is_generative()) {
        let cap = match (cfg.fail_max_tokens_over, model.max_output_tokens) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(cap) = cap.filter(|&c| mt > c) {
            return Err(Reject::bad(max_tokens_message(cap, mt)));
        }
    }
    if let Some(limit) = cfg.fail_input_tokens_over.filter(|&l| raw > l) {
        return Err(Reject::bad(too_many_tokens_message(limit, raw)));
    }
    if endpoint.is_generative() {
        let limit = model.context_length.saturating_sub(max_tokens.unwrap_or(0));
        if raw > limit {
            return Err(Reject::bad(too_many_tokens_message(limit, raw)));
        }
    }
    Ok(raw)
}

// ---------------------------------------------------------------------------------------------------------
// Chat

/// The reply cut to `max_tokens`: its pieces (for stream deltas), its token count and whether it was cut.
fn reply(shared: &Shared, max_tokens: Option<u64>) -> (Vec<String>, u64, bool) {
    let mut pieces = Vec::new();
    for (i, w) in shared.config.reply.split(' ').enumerate() {
        pieces.push(if i == 0 {
            w.to_string()
        } else {
            format!(" {w}")
        });
    }
    let Some(max) = max_tokens else {
        let n = count_text_tokens(&pieces.concat());
        return (pieces, n, false);
    };
    let mut kept = Vec::new();
    for p in &pieces {
        kept.push(p.clone());
        if count_text_tokens(&kept.concat()) > max {
            kept.pop();
            if kept.is_empty() {
                // As the API does, a max_tokens smaller than the first word still yields its first tokens: the
                // longest prefix of the word that fits (at least one character).
                let prefix: String = p
                    .char_indices()
                    .map(|(i, c)| &p[..i + c.len_utf8()])
                    .take_while(|pre| count_text_tokens(pre) <= max.max(1))
                    .last()
                    .unwrap_or(&p[..p.chars().next().map_or(0, char::len_utf8)])
                    .to_string();
                kept.push(prefix);
            }
            let n = count_text_tokens(&kept.concat());
            return (kept, n, true);
        }
    }
    let n = count_text_tokens(&kept.concat());
    (kept, n, false)
}

const V2_CHAT_FIELDS: &[&str] = &[
    "stream",
    "model",
    "messages",
    "tools",
    "strict_tools",
    "documents",
    "citation_options",
    "response_format",
    "safety_mode",
    "max_tokens",
    "stop_sequences",
    "temperature",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "k",
    "p",
    "logprobs",
    "tool_choice",
    "thinking",
    "priority",
];

fn usage_v2(billed_in: u64, prompt: u64, out: u64) -> Value {
    json!({
        "billed_units": {"input_tokens": billed_in, "output_tokens": out},
        "tokens": {"input_tokens": prompt, "output_tokens": out},
        "cached_tokens": 0
    })
}

/// What the checks of a chat request leave for the answer.
struct ChatParams<'a> {
    model: &'a SimModel,
    stream: bool,
    max_tokens: Option<u64>,
}

/// The reply pieces a stream sends: all of them, or the first two when the stream errs or is cut.
fn shown_pieces(pieces: &[String], mode: StreamMode) -> usize {
    if mode == StreamMode::Normal {
        pieces.len()
    } else {
        pieces.len().min(2)
    }
}

/// The body of a stream response: `frames` at the configured pace, cut off after `cut_after` frames.
fn event_body(shared: &Shared, frames: Vec<Bytes>, cut_after: Option<usize>) -> EventBody {
    EventBody::new(
        frames,
        shared.config.stream_event_delay,
        cut_after,
        shared.event_times.clone(),
    )
    .end_after(shared.config.stream_end_delay)
}

/// `POST /v2/chat`: the simulator's reply as one message or as an SSE stream.
fn chat_v2(shared: &Shared, body: &Value, mode: StreamMode) -> R<Resp> {
    let o = object(body)?;
    let p = check_chat_v2(shared, o)?;
    let raw = check_tokens(shared, Endpoint::ChatV2, body, p.model, p.max_tokens)?;
    let prompt = prompt_tokens(Endpoint::ChatV2, body, raw);
    let (pieces, out, cut) = reply(shared, p.max_tokens);
    let id = uuid::Uuid::new_v4().to_string();
    let finish = if cut { "MAX_TOKENS" } else { "COMPLETE" };
    if !p.stream {
        let (finish, text) = match mode {
            StreamMode::Error => ("ERROR", pieces.iter().take(2).cloned().collect::<String>()),
            _ => (finish, pieces.concat()),
        };
        return Ok(json_response(
            200,
            &json!({
                "id": id,
                "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
                "finish_reason": finish,
                "usage": usage_v2(raw, prompt, out),
            }),
        ));
    }
    let usage = |out| usage_v2(raw, prompt, out);
    let (frames, cut_after) = chat_v2_frames(&id, &pieces, mode, finish, out, usage);
    let body = event_body(shared, frames, cut_after);
    Ok(stream_response("text/event-stream", body))
}

/// Checks a v2 chat body in the API's order: fields, model name, messages and their roles, stream and
/// max_tokens, the enums, the model, an empty conversation, a tool_choice without tools.
fn check_chat_v2<'a>(shared: &'a Shared, o: &Map<String, Value>) -> R<ChatParams<'a>> {
    check_fields(o, V2_CHAT_FIELDS)?;
    let model_name = req_str(o, "model")?;
    if !matches!(o.get("messages"), Some(Value::Array(_))) {
        return Err(Reject::malformed(
            "invalid request: messages is required and must be an array",
        ));
    }
    let messages = opt_array(o, "messages")?;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        if role.is_none() {
            return Err(Reject::malformed(format!(
                "invalid request: messages[{i}].role is required"
            )));
        }
        check_enum(
            &format!("messages[{i}].role"),
            role,
            &["user", "assistant", "system", "tool"],
        )?;
    }
    let stream = opt_bool(o, "stream")?;
    let max_tokens = opt_u64(o, "max_tokens")?;
    check_enum(
        "safety_mode",
        opt_str(o, "safety_mode")?,
        &["CONTEXTUAL", "STRICT", "OFF"],
    )?;
    check_enum(
        "tool_choice",
        opt_str(o, "tool_choice")?,
        &["REQUIRED", "NONE"],
    )?;
    let model = find_model(shared, model_name, Endpoint::ChatV2, ModelKind::Chat)?;
    if messages.is_empty() {
        return Err(Reject::bad(
            "invalid request: messages must contain at least one message",
        ));
    }
    if o.get("tool_choice").is_some_and(|v| !v.is_null()) && opt_array(o, "tools")?.is_empty() {
        return Err(Reject::bad(invalid_combination_message(Endpoint::ChatV2)));
    }
    Ok(ChatParams {
        model,
        stream,
        max_tokens,
    })
}

/// The frames of a v2 chat stream: message-start, content-start, a content-delta per piece shown, then
/// content-end and message-end, or (the error scenario) a message-end with the error. `usage` makes the
/// usage object for a number of output tokens. Also returns, for the cut scenario, the frames sent before
/// the cut.
fn chat_v2_frames(
    id: &str,
    pieces: &[String],
    mode: StreamMode,
    finish: &str,
    out: u64,
    usage: impl Fn(u64) -> Value,
) -> (Vec<Bytes>, Option<usize>) {
    let mut frames = vec![
        sse(
            "message-start",
            &json!({"id": id, "type": "message-start",
                    "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
        ),
        sse(
            "content-start",
            &json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        ),
    ];
    let shown = shown_pieces(pieces, mode);
    for p in &pieces[..shown] {
        frames.push(sse(
            "content-delta",
            &json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": p}}}}),
        ));
    }
    let cut_after = (mode == StreamMode::Cut).then_some(frames.len());
    if mode == StreamMode::Error {
        let out_so_far = count_text_tokens(&pieces[..shown].concat());
        frames.push(sse(
            "message-end",
            &json!({"type": "message-end", "delta": {
                "error": "An internal error occurred while generating the response. Please try again.",
                "finish_reason": "ERROR",
                "usage": usage(out_so_far)}}),
        ));
    } else {
        frames.push(sse(
            "content-end",
            &json!({"type": "content-end", "index": 0}),
        ));
        frames.push(sse(
            "message-end",
            &json!({"type": "message-end", "delta": {"finish_reason": finish, "usage": usage(out)}}),
        ));
    }
    frames.push(sse_done());
    (frames, cut_after)
}

const V1_CHAT_FIELDS: &[&str] = &[
    "message",
    "model",
    "stream",
    "preamble",
    "chat_history",
    "conversation_id",
    "prompt_truncation",
    "connectors",
    "search_queries_only",
    "documents",
    "citation_quality",
    "temperature",
    "max_tokens",
    "max_input_tokens",
    "k",
    "p",
    "seed",
    "stop_sequences",
    "frequency_penalty",
    "presence_penalty",
    "raw_prompting",
    "tools",
    "tool_results",
    "force_single_step",
    "response_format",
    "safety_mode",
];

/// The model v1 chat uses when the request names none.
const V1_CHAT_DEFAULT_MODEL: &str = "command-r-plus-08-2024";

fn meta_v1(version: &str, billed: Value, tokens: Option<Value>) -> Value {
    let mut meta = json!({
        "api_version": {"version": version, "is_experimental": false},
        "billed_units": billed,
    });
    if let (Some(t), Some(m)) = (tokens, meta.as_object_mut()) {
        m.insert("tokens".to_string(), t);
    }
    meta
}

/// `POST /v1/chat`: the simulator's reply as one response, or streamed as newline-delimited JSON (SSE when
/// `sse_frames`).
fn chat_v1(shared: &Shared, body: &Value, mode: StreamMode, sse_frames: bool) -> R<Resp> {
    let o = object(body)?;
    let (message, history, p) = check_chat_v1(shared, o)?;
    let raw = check_tokens(shared, Endpoint::ChatV1, body, p.model, p.max_tokens)?;
    let prompt = prompt_tokens(Endpoint::ChatV1, body, raw);
    let (pieces, out, cut) = reply(shared, p.max_tokens);
    let shown = shown_pieces(&pieces, mode);
    let text: String = pieces[..shown].concat();
    let out = if shown == pieces.len() {
        out
    } else {
        count_text_tokens(&text)
    };
    let finish = match (mode, cut) {
        (StreamMode::Error, _) => "ERROR",
        (_, true) => "MAX_TOKENS",
        _ => "COMPLETE",
    };
    let generation_id = uuid::Uuid::new_v4().to_string();
    let mut history_out: Vec<Value> = history.to_vec();
    history_out.push(json!({"role": "USER", "message": message}));
    history_out.push(json!({"role": "CHATBOT", "message": text}));
    let response = json!({
        "response_id": uuid::Uuid::new_v4().to_string(),
        "text": text,
        "generation_id": generation_id,
        "chat_history": history_out,
        "finish_reason": finish,
        "meta": meta_v1(
            "1",
            json!({"input_tokens": raw, "output_tokens": out}),
            Some(json!({"input_tokens": prompt, "output_tokens": out})),
        ),
    });
    if !p.stream {
        return Ok(json_response(200, &response));
    }
    let (frames, cut_after) = chat_v1_frames(
        &generation_id,
        &pieces[..shown],
        mode,
        finish,
        response,
        sse_frames,
    );
    let body = event_body(shared, frames, cut_after);
    let content_type = if sse_frames {
        "text/event-stream"
    } else {
        "application/stream+json"
    };
    Ok(stream_response(content_type, body))
}

/// Checks a v1 chat body in the API's order; returns the message, the chat history and the parameters.
fn check_chat_v1<'a>(
    shared: &'a Shared,
    o: &'a Map<String, Value>,
) -> R<(&'a str, &'a [Value], ChatParams<'a>)> {
    check_fields(o, V1_CHAT_FIELDS)?;
    let message = req_str(o, "message")?;
    let model_name = opt_str(o, "model")?.unwrap_or(V1_CHAT_DEFAULT_MODEL);
    let history = opt_array(o, "chat_history")?;
    for (i, m) in history.iter().enumerate() {
        check_enum(
            &format!("chat_history[{i}].role"),
            m.get("role").and_then(Value::as_str),
            &["USER", "CHATBOT", "SYSTEM", "TOOL"],
        )?;
    }
    let stream = opt_bool(o, "stream")?;
    let max_tokens = opt_u64(o, "max_tokens")?;
    opt_u64(o, "max_input_tokens")?;
    opt_str(o, "preamble")?;
    check_enum(
        "prompt_truncation",
        opt_str(o, "prompt_truncation")?,
        &["OFF", "AUTO", "AUTO_PRESERVE_ORDER"],
    )?;
    check_enum(
        "citation_quality",
        opt_str(o, "citation_quality")?,
        &["ENABLED", "DISABLED", "FAST", "ACCURATE", "OFF"],
    )?;
    check_enum(
        "safety_mode",
        opt_str(o, "safety_mode")?,
        &["CONTEXTUAL", "STRICT", "NONE"],
    )?;
    let model = find_model(shared, model_name, Endpoint::ChatV1, ModelKind::Chat)?;
    let params = ChatParams {
        model,
        stream,
        max_tokens,
    };
    Ok((message, history, params))
}

/// The frames of a v1 chat stream (SSE when `sse_frames`, else newline-delimited JSON): stream-start, a
/// text-generation per piece shown, stream-end with the whole `response`. Also returns, for the cut
/// scenario, the frames sent before the cut.
fn chat_v1_frames(
    generation_id: &str,
    shown: &[String],
    mode: StreamMode,
    finish: &str,
    response: Value,
    sse_frames: bool,
) -> (Vec<Bytes>, Option<usize>) {
    let frame = |v: Value| {
        if sse_frames {
            let event = v["event_type"].as_str().unwrap_or("message").to_string();
            sse(&event, &v)
        } else {
            ndjson(&v)
        }
    };
    let mut frames = vec![frame(
        json!({"is_finished": false, "event_type": "stream-start", "generation_id": generation_id}),
    )];
    for p in shown {
        frames.push(frame(
            json!({"is_finished": false, "event_type": "text-generation", "text": p}),
        ));
    }
    let cut_after = (mode == StreamMode::Cut).then_some(frames.len());
    frames.push(frame(
        json!({"is_finished": true, "event_type": "stream-end", "finish_reason": finish, "response": response}),
    ));
    (frames, cut_after)
}

// ---------------------------------------------------------------------------------------------------------
// Embed, rerank, tokenize

const EMBED_V2_FIELDS: &[&str] = &[
    "texts",
    "images",
    "model",
    "input_type",
    "inputs",
    "max_tokens",
    "output_dimension",
    "embedding_types",
    "truncate",
    "priority",
];
const EMBED_V1_FIELDS: &[&str] = &[
    "texts",
    "images",
    "model",
    "input_type",
    "embedding_types",
    "truncate",
];
const EMBEDDING_TYPES: &[&str] = &["float", "int8", "uint8", "binary", "ubinary", "base64"];
/// The model v1 embed uses when the request names none.
const V1_EMBED_DEFAULT_MODEL: &str = "embed-english-v3.0";
/// Vector length when `output_dimension` is not given (kept small: the values carry no meaning).
const DEFAULT_DIMENSION: usize = 16;

/// A deterministic unit vector for a text.
fn vector(text: &str, dim: usize) -> Vec<f32> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::with_capacity(dim);
    let mut block = 0u32;
    while out.len() < dim {
        let digest = Sha256::new()
            .chain_update(text.as_bytes())
            .chain_update(block.to_le_bytes())
            .finalize();
        for b in digest {
            if out.len() < dim {
                out.push(f32::from(b) / 127.5 - 1.0);
            }
        }
        block += 1;
    }
    let norm = out
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    out.iter().map(|x| x / norm).collect()
}

fn embedding_of_type(v: &[f32], ty: &str) -> Value {
    let bits = |signed: bool| -> Value {
        let bytes: Vec<Value> = v
            .chunks(8)
            .map(|c| {
                let byte = c
                    .iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, x)| acc | (u8::from(*x > 0.0) << (7 - i)));
                if signed {
                    json!(i16::from(byte) - 128)
                } else {
                    json!(byte)
                }
            })
            .collect();
        Value::Array(bytes)
    };
    match ty {
        "int8" => json!(v
            .iter()
            .map(|x| (x * 127.0).round() as i32)
            .collect::<Vec<_>>()),
        "uint8" => json!(v
            .iter()
            .map(|x| ((x + 1.0) * 127.5).round() as u32)
            .collect::<Vec<_>>()),
        "binary" => bits(true),
        "ubinary" => bits(false),
        "base64" => {
            use base64::Engine;
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            json!(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        _ => json!(v),
    }
}

/// `POST /v2/embed` and `POST /v1/embed`: a deterministic vector per text (or per input or image), as floats
/// or by embedding type.
fn embed(shared: &Shared, endpoint: Endpoint, body: &Value) -> R<Resp> {
    let v2 = endpoint == Endpoint::EmbedV2;
    let o = object(body)?;
    let opts = embed_options(o, v2)?;
    let texts = opt_array(o, "texts")?;
    let inputs = opt_array(o, "inputs")?;
    let images = opt_array(o, "images")?;
    let dim =
        opt_u64(o, "output_dimension")?.map_or(DEFAULT_DIMENSION, |d| d.clamp(1, 4096) as usize);
    let model = find_model(shared, opts.model_name, endpoint, ModelKind::Embed)?;
    let count = embed_count(endpoint, texts, inputs, images)?;
    let strings = text_strings(texts)?;
    let raw = check_tokens(shared, endpoint, body, model, None)?;
    if opts.truncate == Some("NONE") {
        check_untruncated(&strings, model)?;
    }
    let labels: Vec<String> = if strings.is_empty() {
        (0..count).map(|i| format!("input {i}")).collect()
    } else {
        strings.iter().map(|s| s.to_string()).collect()
    };
    let vectors: Vec<Vec<f32>> = labels.iter().map(|l| vector(l, dim)).collect();
    let by_type = v2 || !opts.type_names.is_empty();
    let (response_type, embeddings) = embeddings(&vectors, opts.type_names, by_type);
    let mut billed = json!({"input_tokens": raw});
    if !images.is_empty() {
        billed = json!({"images": images.len()});
    }
    Ok(json_response(
        200,
        &json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "embeddings": embeddings,
            "texts": strings,
            "meta": meta_v1(if v2 { "2" } else { "1" }, billed, None),
            "response_type": response_type,
        }),
    ))
}

/// The options of an embed request that [`embed_options`] checks.
struct EmbedOptions<'a> {
    model_name: &'a str,
    truncate: Option<&'a str>,
    /// `embedding_types`, in order.
    type_names: Vec<&'a str>,
}

/// Checks an embed body's fields, model name, input_type, truncate and embedding_types (v2 requires the
/// model and input_type; v1 has a default model).
fn embed_options(o: &Map<String, Value>, v2: bool) -> R<EmbedOptions<'_>> {
    check_fields(o, if v2 { EMBED_V2_FIELDS } else { EMBED_V1_FIELDS })?;
    let model_name = if v2 {
        req_str(o, "model")?
    } else {
        opt_str(o, "model")?.unwrap_or(V1_EMBED_DEFAULT_MODEL)
    };
    let input_type = if v2 {
        Some(req_str(o, "input_type")?)
    } else {
        opt_str(o, "input_type")?
    };
    check_enum(
        "input_type",
        input_type,
        &[
            "search_document",
            "search_query",
            "classification",
            "clustering",
            "image",
        ],
    )?;
    let truncate = opt_str(o, "truncate")?;
    check_enum("truncate", truncate, &["NONE", "START", "END"])?;
    let types = opt_array(o, "embedding_types")?;
    let mut type_names = Vec::new();
    for t in types {
        let t = t.as_str();
        check_enum("embedding_types", Some(t.unwrap_or("")), EMBEDDING_TYPES)?;
        type_names.extend(t);
    }
    Ok(EmbedOptions {
        model_name,
        truncate,
        type_names,
    })
}

/// The number of things to embed: exactly one of texts, inputs and images must be given, with at most 96.
fn embed_count(
    endpoint: Endpoint,
    texts: &[Value],
    inputs: &[Value],
    images: &[Value],
) -> R<usize> {
    let given = [!texts.is_empty(), !inputs.is_empty(), !images.is_empty()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        return Err(Reject::bad(invalid_combination_message(endpoint)));
    }
    if given == 0 {
        return Err(Reject::bad(
            "invalid request: one of 'texts', 'images' or 'inputs' must be specified",
        ));
    }
    let count = texts.len().max(inputs.len()).max(images.len());
    if count > 96 {
        return Err(Reject::bad(format!(
            "invalid request: total number of texts must be at most 96 - received {count}"
        )));
    }
    Ok(count)
}

/// The `texts` of an embed request, which must all be strings.
fn text_strings(texts: &[Value]) -> R<Vec<&str>> {
    let mut strings = Vec::new();
    for t in texts {
        strings.push(
            t.as_str()
                .ok_or_else(|| Reject::malformed("invalid request: texts must be strings"))?,
        );
    }
    Ok(strings)
}

/// With `truncate: NONE`, a text longer than the model's context is a 400.
fn check_untruncated(strings: &[&str], model: &SimModel) -> R<()> {
    for s in strings {
        let n = count_text_tokens(s);
        if n > model.context_length {
            return Err(Reject::bad(format!(
                "too many tokens: size limit exceeded by {} tokens. Remove the size limit or set truncate to \
                 START or END.",
                n - model.context_length
            )));
        }
    }
    Ok(())
}

/// The `embeddings` member and its `response_type`: the vectors by embedding type (floats when no type is
/// asked for), or as a plain list of floats.
fn embeddings(vectors: &[Vec<f32>], type_names: Vec<&str>, by_type: bool) -> (&'static str, Value) {
    if !by_type {
        return ("embeddings_floats", json!(vectors));
    }
    let names = if type_names.is_empty() {
        vec!["float"]
    } else {
        type_names
    };
    let mut m = Map::new();
    for n in names {
        m.insert(
            n.to_string(),
            Value::Array(vectors.iter().map(|v| embedding_of_type(v, n)).collect()),
        );
    }
    ("embeddings_by_type", Value::Object(m))
}

const RERANK_V2_FIELDS: &[&str] = &[
    "model",
    "query",
    "documents",
    "top_n",
    "max_tokens_per_doc",
    "priority",
];
const RERANK_V1_FIELDS: &[&str] = &[
    "model",
    "query",
    "documents",
    "top_n",
    "rank_fields",
    "return_documents",
    "max_chunks_per_doc",
];
/// The model v1 rerank uses when the request names none.
const V1_RERANK_DEFAULT_MODEL: &str = "rerank-v3.5";

/// Share of query words found in the document, with a small tie-breaker so the order is stable.
fn relevance(query: &str, doc: &str, index: usize) -> f64 {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let q = words(query);
    let d = words(doc);
    let hits = q.iter().filter(|w| d.contains(w)).count();
    let base = if q.is_empty() {
        0.0
    } else {
        hits as f64 / q.len() as f64
    };
    (base * 0.9 + 0.05 / (index as f64 + 1.0)).clamp(0.0, 1.0)
}

fn rerank(shared: &Shared, endpoint: Endpoint, body: &Value) -> R<Resp> {
    let v2 = endpoint == Endpoint::RerankV2;
    let o = object(body)?;
    check_fields(
        o,
        if v2 {
            RERANK_V2_FIELDS
        } else {
            RERANK_V1_FIELDS
        },
    )?;
    let model_name = if v2 {
        req_str(o, "model")?
    } else {
        opt_str(o, "model")?.unwrap_or(V1_RERANK_DEFAULT_MODEL)
    };
    let query = req_str(o, "query")?;
    if !matches!(o.get("documents"), Some(Value::Array(_))) {
        return Err(Reject::malformed(
            "invalid request: documents is required and must be an array",
        ));
    }
    let docs = opt_array(o, "documents")?;
    let top_n = opt_u64(o, "top_n")?;
    opt_u64(o, "max_tokens_per_doc")?;
    let return_documents = opt_bool(o, "return_documents")?;
    let model = find_model(shared, model_name, endpoint, ModelKind::Rerank)?;
    if docs.is_empty() {
        return Err(Reject::bad(
            "invalid request: documents must contain at least one document",
        ));
    }
    if top_n == Some(0) {
        return Err(Reject::bad("invalid request: top_n must be at least 1"));
    }
    let texts: Vec<String> = docs
        .iter()
        .map(|d| match d {
            Value::String(s) => s.clone(),
            other => cohere_bundle_knowledge::tokens::input_texts(
                Endpoint::RerankV2,
                &json!({"documents": [other]}),
            )
            .concat(),
        })
        .collect();
    check_tokens(shared, endpoint, body, model, None)?;
    let mut results: Vec<(usize, f64)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (i, relevance(query, t, i)))
        .collect();
    results.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    results.truncate(top_n.map_or(results.len(), |n| n as usize));
    let results: Vec<Value> = results
        .into_iter()
        .map(|(i, score)| {
            let mut r = json!({"index": i, "relevance_score": score});
            if return_documents {
                r["document"] = json!({"text": texts[i]});
            }
            r
        })
        .collect();
    Ok(json_response(
        200,
        &json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "results": results,
            "meta": meta_v1(if v2 { "2" } else { "1" }, json!({"search_units": 1}), None),
        }),
    ))
}

fn tokenize(shared: &Shared, body: &Value) -> R<Resp> {
    let o = object(body)?;
    check_fields(o, &["text", "model"])?;
    let text = req_str(o, "text")?;
    let model_name = req_str(o, "model")?;
    let chars = text.chars().count();
    if !(1..=65_536).contains(&chars) {
        return Err(Reject::bad(format!(
            "invalid request: text must be between 1 and 65536 characters - received {chars}"
        )));
    }
    if shared.config.model(model_name).is_none() {
        return Err(Reject::new(404, model_not_found_message(model_name)));
    }
    let enc = tokenizer()
        .encode(text, false)
        .map_err(|e| Reject::new(500, format!("tokenizer error: {e}")))?;
    let ids = enc.get_ids();
    let strings: Vec<String> = ids
        .iter()
        .map(|id| tokenizer().decode(&[*id], false).unwrap_or_default())
        .collect();
    Ok(json_response(
        200,
        &json!({"tokens": ids, "token_strings": strings, "meta": {"api_version": {"version": "1"}}}),
    ))
}

// ---------------------------------------------------------------------------------------------------------
// Models and the tokenizer file

fn model_json(shared: &Shared, m: &SimModel) -> Value {
    let (endpoints, features): (&[&str], &[&str]) = match m.kind() {
        ModelKind::Chat => (
            &["generate", "chat", "summarize"],
            &[
                "tools",
                "strict_tools",
                "json_mode",
                "json_schema",
                "safety_modes",
            ],
        ),
        ModelKind::Embed => (&["embed"], &[]),
        ModelKind::Rerank => (&["rerank"], &[]),
    };
    let mut v = json!({
        "name": m.name,
        "is_deprecated": false,
        "endpoints": endpoints,
        "finetuned": false,
        "context_length": m.context_length,
        "default_endpoints": [],
        "features": features,
    });
    if shared.config.tokenizer != TokenizerMode::Absent {
        v["tokenizer_url"] = json!(format!("http://{}/tokenizers/{}.json", shared.addr, m.name));
    }
    v
}

fn model_info(shared: &Shared, name: &str) -> R<Resp> {
    let m = shared
        .config
        .model(name)
        .ok_or_else(|| Reject::new(404, model_not_found_message(name)))?;
    Ok(json_response(200, &model_json(shared, m)))
}

fn model_list(shared: &Shared) -> Resp {
    let models: Vec<Value> = shared
        .config
        .models
        .iter()
        .map(|m| model_json(shared, m))
        .collect();
    json_response(200, &json!({"models": models}))
}

fn tokenizer_file(shared: &Shared, file: &str) -> R<Resp> {
    let known = file
        .strip_suffix(".json")
        .is_some_and(|name| shared.config.model(name).is_some());
    if !known || shared.config.tokenizer != TokenizerMode::Served {
        let mut resp = Response::new(full(format!(
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code><Message>The specified key does \
             not exist.</Message><Details>No such object: cohere-public/tokenizers/{file}</Details></Error>"
        )));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/xml; charset=UTF-8"),
        );
        return Ok(resp);
    }
    let mut resp = Response::new(full(super::TOKENIZER_JSON));
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    Ok(resp)
}
