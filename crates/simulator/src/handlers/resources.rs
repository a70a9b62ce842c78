//! The API reference's other paths, answered generically: summarize, generate, classify, detokenize, audio
//! transcriptions, and the batches, embed jobs, datasets, connectors and fine-tuned models collections.
//!
//! Collections are kept in memory for the simulator's life: a create answers with a new id, a get, update,
//! delete or cancel of an id never created is a 404 (as the real API answers an unknown id), lists list what
//! was created. Bodies are checked for the fields the reference marks required (a 400 names the missing one).

use hyper::header::HeaderMap;
use hyper::Method;
use serde_json::{json, Map, Value};

use super::{
    count_text_tokens, json_response, lock, object, opt_u64, reply, req_str, tokenizer, Reject,
    Resp, Shared, R,
};
use cohere_bundle_knowledge::cohere::Endpoint;

/// The objects created through the collections, in creation order.
#[derive(Default)]
pub(crate) struct Store {
    items: Vec<Item>,
}

struct Item {
    kind: Kind,
    id: String,
    value: Value,
}

/// A collection of the API.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Batch,
    EmbedJob,
    Dataset,
    Connector,
    FinetunedModel,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Batch => "batch",
            Kind::EmbedJob => "embed job",
            Kind::Dataset => "dataset",
            Kind::Connector => "connector",
            Kind::FinetunedModel => "finetuned model",
        }
    }
}

impl Store {
    fn get(&self, kind: Kind, id: &str) -> R<&Value> {
        self.items
            .iter()
            .find(|i| i.kind == kind && i.id == id)
            .map(|i| &i.value)
            .ok_or_else(|| not_found(kind, id))
    }

    fn get_mut(&mut self, kind: Kind, id: &str) -> R<&mut Value> {
        self.items
            .iter_mut()
            .find(|i| i.kind == kind && i.id == id)
            .map(|i| &mut i.value)
            .ok_or_else(|| not_found(kind, id))
    }

    fn list(&self, kind: Kind) -> Vec<Value> {
        self.items
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.value.clone())
            .collect()
    }

    fn insert(&mut self, kind: Kind, id: String, value: Value) {
        self.items.push(Item { kind, id, value });
    }

    fn remove(&mut self, kind: Kind, id: &str) -> R<()> {
        let before = self.items.len();
        self.items.retain(|i| !(i.kind == kind && i.id == id));
        if self.items.len() == before {
            return Err(not_found(kind, id));
        }
        Ok(())
    }
}

fn not_found(kind: Kind, id: &str) -> Reject {
    Reject::new(404, format!("{} with id '{id}' not found", kind.what()))
}

/// True for the endpoints answered here.
pub(super) fn serves(endpoint: Endpoint) -> bool {
    !matches!(
        endpoint,
        Endpoint::ChatV2
            | Endpoint::ChatV1
            | Endpoint::EmbedV2
            | Endpoint::EmbedV1
            | Endpoint::RerankV2
            | Endpoint::RerankV1
            | Endpoint::Tokenize
            | Endpoint::Models
            | Endpoint::CheckApiKey
            | Endpoint::CompatChatCompletions
            | Endpoint::CompatEmbeddings
            | Endpoint::Other
    )
}

/// The path parameter (`{id}`, `{finetuned_model_id}`) of a path that fits `endpoint`'s template exactly.
fn path_id(endpoint: Endpoint, path: &str) -> String {
    let template: Vec<&str> = endpoint.path()[1..].split('/').collect();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    template
        .iter()
        .zip(&segments)
        .find_map(|(t, s)| {
            let (_, suffix) = t.strip_prefix('{')?.split_once('}')?;
            Some(s.strip_suffix(suffix).unwrap_or(s))
        })
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The JSON object body (an empty body is `{}`).
fn json_body(body: &[u8]) -> R<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Reject::bad(format!("invalid request: could not parse JSON body: {e}")))?;
    Ok(object(&v)?.clone())
}

fn required<'a>(o: &'a Map<String, Value>, fields: &[&str]) -> R<&'a Map<String, Value>> {
    for f in fields {
        if o.get(*f).is_none_or(Value::is_null) {
            return Err(Reject::bad(format!("invalid request: {f} is required")));
        }
    }
    Ok(o)
}

fn meta(input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "api_version": {"version": "1"},
        "billed_units": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    })
}

fn ok(v: Value) -> R<Resp> {
    Ok(json_response(200, &v))
}

/// Answers a request to one of the endpoints [`serves`] names.
pub(super) fn handle(
    shared: &Shared,
    endpoint: Endpoint,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> R<Resp> {
    use Endpoint as E;
    let id = path_id(endpoint, path);
    let m = method.as_str();
    let mut store = lock(&shared.store);
    let store = &mut *store;
    match (endpoint, m) {
        (E::Summarize, "POST") => summarize(body),
        (E::Generate, "POST") => generate(shared, body),
        (E::Classify, "POST") => classify(body),
        (E::Detokenize, "POST") => detokenize(body),
        // The compatibility API's transcription answers `{"text"}` too (OpenAI's `json` response format).
        (E::AudioTranscriptions | E::CompatAudioTranscriptions, "POST") => {
            transcribe(shared, headers, body)
        }

        (E::Batches, "GET") => {
            ok(json!({"batches": store.list(Kind::Batch), "next_page_token": ""}))
        }
        (E::Batches, "POST") => create_batch(store, body),
        (E::Batch, "GET") => ok(json!({"batch": store.get(Kind::Batch, &id)?})),
        (E::BatchCancel, "POST") => set_status(store, Kind::Batch, &id, "BATCH_STATUS_CANCELING"),

        (E::EmbedJobs, "GET") => ok(json!({"embed_jobs": store.list(Kind::EmbedJob)})),
        (E::EmbedJobs, "POST") => create_embed_job(store, body),
        (E::EmbedJob, "GET") => ok(store.get(Kind::EmbedJob, &id)?.clone()),
        (E::EmbedJobCancel, "POST") => set_status(store, Kind::EmbedJob, &id, "cancelling"),

        (E::Datasets, "GET") => ok(json!({"datasets": store.list(Kind::Dataset)})),
        (E::Datasets, "POST") => create_dataset(store, query, body),
        (E::DatasetsUsage, "GET") => {
            ok(json!({"organization_usage": store.list(Kind::Dataset).len() as u64 * 1024}))
        }
        (E::Dataset, "GET") => ok(json!({"dataset": store.get(Kind::Dataset, &id)?})),
        (E::Dataset, "DELETE") => delete(store, Kind::Dataset, &id),

        (E::Connectors, "GET") => {
            let all = store.list(Kind::Connector);
            ok(json!({"total_count": all.len(), "connectors": all}))
        }
        (E::Connectors, "POST") => create_connector(store, body),
        (E::Connector, "GET") => ok(json!({"connector": store.get(Kind::Connector, &id)?})),
        (E::Connector, "PATCH") => {
            ok(json!({"connector": patch(store, Kind::Connector, &id, body)?}))
        }
        (E::Connector, "DELETE") => delete(store, Kind::Connector, &id),
        (E::ConnectorAuthorize, "POST") => authorize_connector(store, &id),

        (E::FinetunedModels, "GET") => {
            let all = store.list(Kind::FinetunedModel);
            ok(json!({"total_size": all.len(), "finetuned_models": all, "next_page_token": ""}))
        }
        (E::FinetunedModels, "POST") => create_finetuned_model(store, body),
        (E::FinetunedModel, "GET") => {
            ok(json!({"finetuned_model": store.get(Kind::FinetunedModel, &id)?}))
        }
        (E::FinetunedModel, "PATCH") => {
            ok(json!({"finetuned_model": patch(store, Kind::FinetunedModel, &id, body)?}))
        }
        (E::FinetunedModel, "DELETE") => delete(store, Kind::FinetunedModel, &id),
        (E::FinetunedModelEvents, "GET") => {
            store.get(Kind::FinetunedModel, &id)?;
            ok(json!({"events": [], "next_page_token": "", "total_size": 0}))
        }
        (E::FinetunedModelMetrics, "GET") => {
            store.get(Kind::FinetunedModel, &id)?;
            ok(json!({"step_metrics": [], "next_page_token": ""}))
        }
        _ => Err(not_allowed(m, endpoint)),
    }
}

/// The 405 for a method the endpoint does not take.
fn not_allowed(method: &str, endpoint: Endpoint) -> Reject {
    Reject::new(
        405,
        format!("method not allowed: {method} {}", endpoint.path()),
    )
}

// ---------------------------------------------------------------------------------------------------------
// One-shot endpoints

/// `POST /v1/summarize`: the text's first sentence.
fn summarize(body: &[u8]) -> R<Resp> {
    let o = json_body(body)?;
    let text = req_str(required(&o, &["text"])?, "text")?;
    let summary: String = text
        .split_inclusive(['.', '!', '?'])
        .next()
        .unwrap_or(text)
        .trim()
        .to_string();
    ok(json!({
        "id": new_id(),
        "summary": summary,
        "meta": meta(count_text_tokens(text), count_text_tokens(&summary)),
    }))
}

/// `POST /v1/generate`: the simulator's reply as one generation, cut to `max_tokens`.
fn generate(shared: &Shared, body: &[u8]) -> R<Resp> {
    let o = json_body(body)?;
    let prompt = req_str(required(&o, &["prompt"])?, "prompt")?.to_string();
    let (pieces, out, cut) = reply(shared, opt_u64(&o, "max_tokens")?);
    ok(json!({
        "id": new_id(),
        "prompt": prompt,
        "generations": [{
            "id": new_id(),
            "text": pieces.concat(),
            "finish_reason": if cut { "MAX_TOKENS" } else { "COMPLETE" },
        }],
        "meta": meta(count_text_tokens(&prompt), out),
    }))
}

/// `POST /v1/classify`: each input gets the examples' labels in turn (or positive and negative when there
/// are no examples), with a little more confidence than the rest.
fn classify(body: &[u8]) -> R<Resp> {
    let o = json_body(body)?;
    let inputs = required(&o, &["inputs"])?
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| Reject::bad("invalid request: inputs must be a list of strings"))?;
    let labels = example_labels(&o);
    let classifications: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| classification(input, &labels, labels[i % labels.len()]))
        .collect();
    let input_tokens = inputs
        .iter()
        .filter_map(Value::as_str)
        .map(count_text_tokens)
        .sum::<u64>();
    ok(json!({
        "id": new_id(),
        "classifications": classifications,
        "meta": {"api_version": {"version": "1"}, "billed_units": {"classifications": inputs.len(), "input_tokens": input_tokens}},
    }))
}

/// The distinct labels of a classify request's examples, in order; positive and negative when none.
fn example_labels(o: &Map<String, Value>) -> Vec<&str> {
    let mut labels: Vec<&str> = Vec::new();
    for e in o
        .get("examples")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        if let Some(l) = e.get("label").and_then(Value::as_str) {
            if !labels.contains(&l) {
                labels.push(l);
            }
        }
    }
    if labels.is_empty() {
        labels = vec!["positive", "negative"];
    }
    labels
}

/// One classification of `input`: `top` is predicted, a little more confident than the other labels.
fn classification(input: &Value, labels: &[&str], top: &str) -> Value {
    let share = 1.0 / labels.len() as f64;
    let mut by_label = Map::new();
    for l in labels {
        let c = if *l == top { share + 0.1 } else { share };
        by_label.insert(l.to_string(), json!({"confidence": c}));
    }
    json!({
        "id": new_id(),
        "input": input,
        "prediction": top,
        "predictions": [top],
        "confidence": share + 0.1,
        "confidences": [share + 0.1],
        "labels": by_label,
        "classification_type": "single-label",
    })
}

/// `POST /v1/detokenize`: the token ids decoded with the simulator's tokenizer.
fn detokenize(body: &[u8]) -> R<Resp> {
    let o = json_body(body)?;
    let o = required(&o, &["tokens", "model"])?;
    let ids: Vec<u32> = o
        .get("tokens")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|t| t as u32)
                .collect()
        })
        .ok_or_else(|| Reject::bad("invalid request: tokens must be a list of integers"))?;
    let text = tokenizer()
        .decode(&ids, false)
        .map_err(|e| Reject::bad(format!("invalid request: cannot detokenize: {e}")))?;
    ok(json!({"text": text, "meta": {"api_version": {"version": "1"}}}))
}

/// `POST /v2/audio/transcriptions`: a multipart body with the required parts gets the simulator's reply.
fn transcribe(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> R<Resp> {
    let multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Err(Reject::bad(
            "invalid request: the body must be multipart/form-data",
        ));
    }
    let text = String::from_utf8_lossy(body);
    for f in ["model", "language", "file"] {
        if !text.contains(&format!("name=\"{f}\"")) {
            return Err(Reject::bad(format!("invalid request: {f} is required")));
        }
    }
    ok(json!({"text": shared.config.reply}))
}

// ---------------------------------------------------------------------------------------------------------
// Collections

/// The request body with a new `id` and then `fields`, in that order, stored under `kind`; returns it.
fn create_from_body(
    store: &mut Store,
    kind: Kind,
    mut o: Map<String, Value>,
    fields: [(&str, Value); 2],
) -> Value {
    let id = new_id();
    o.insert("id".into(), json!(id));
    for (k, v) in fields {
        o.insert(k.into(), v);
    }
    let v = Value::Object(o);
    store.insert(kind, id, v.clone());
    v
}

/// `POST /v2/batches`.
fn create_batch(store: &mut Store, body: &[u8]) -> R<Resp> {
    let o = json_body(body)?;
    required(&o, &["name", "input_dataset_id", "model"])?;
    let fields = [
        ("status", json!("BATCH_STATUS_QUEUED")),
        ("created_at", json!(now())),
    ];
    let batch = create_from_body(store, Kind::Batch, o, fields);
    ok(json!({ "batch": batch }))
}

/// `POST /v1/embed-jobs`.
fn create_embed_job(store: &mut Store, body: &[u8]) -> R<Resp> {
    let o = json_body(body)?;
    required(&o, &["model", "dataset_id", "input_type"])?;
    let id = new_id();
    let job = json!({
        "job_id": id,
        "name": o.get("name").cloned().unwrap_or(Value::Null),
        "status": "processing",
        "created_at": now(),
        "input_dataset_id": o["dataset_id"],
        "model": o["model"],
        "truncate": o.get("truncate").cloned().unwrap_or(json!("END")),
    });
    store.insert(Kind::EmbedJob, id.clone(), job);
    ok(json!({"job_id": id, "meta": {"api_version": {"version": "1"}}}))
}

/// `POST /v1/datasets`: name and type in the query, the data as a multipart file.
fn create_dataset(store: &mut Store, query: &str, body: &[u8]) -> R<Resp> {
    let query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(name), Some(ty)) = (q("name"), q("type")) else {
        return Err(Reject::bad(
            "invalid request: the name and type query parameters are required",
        ));
    };
    if !String::from_utf8_lossy(body).contains("filename=") {
        return Err(Reject::bad("invalid request: a data file is required"));
    }
    let id = format!("{name}-{}", &new_id()[..6]);
    store.insert(
        Kind::Dataset,
        id.clone(),
        json!({"id": id, "name": name, "dataset_type": ty, "validation_status": "queued", "created_at": now()}),
    );
    ok(json!({ "id": id }))
}

/// `POST /v1/connectors`.
fn create_connector(store: &mut Store, body: &[u8]) -> R<Resp> {
    let o = json_body(body)?;
    required(&o, &["name", "url"])?;
    let fields = [("created_at", json!(now())), ("updated_at", json!(now()))];
    let c = create_from_body(store, Kind::Connector, o, fields);
    ok(json!({ "connector": c }))
}

/// `POST /v1/finetuning/finetuned-models`.
fn create_finetuned_model(store: &mut Store, body: &[u8]) -> R<Resp> {
    let o = json_body(body)?;
    required(&o, &["name", "settings"])?;
    let fields = [
        ("status", json!("STATUS_QUEUED")),
        ("created_at", json!(now())),
    ];
    let f = create_from_body(store, Kind::FinetunedModel, o, fields);
    ok(json!({ "finetuned_model": f }))
}

/// `POST /v1/connectors/{id}/oauth/authorize`: where the OAuth flow of a stored connector starts.
fn authorize_connector(store: &Store, id: &str) -> R<Resp> {
    store.get(Kind::Connector, id)?;
    ok(json!({"redirect_url": format!("https://oauth.example.com/authorize?state={id}")}))
}

/// A cancel: sets the status of the stored object and answers `{}`.
fn set_status(store: &mut Store, kind: Kind, id: &str, status: &str) -> R<Resp> {
    store.get_mut(kind, id)?["status"] = json!(status);
    ok(json!({}))
}

/// A PATCH: the body's fields over the stored object, with a new `updated_at`; returns the object.
fn patch(store: &mut Store, kind: Kind, id: &str, body: &[u8]) -> R<Value> {
    let o = json_body(body)?;
    let v = store.get_mut(kind, id)?;
    for (k, x) in o {
        v[k] = x;
    }
    v["updated_at"] = json!(now());
    Ok(v.clone())
}

/// A DELETE: removes the stored object and answers `{}`.
fn delete(store: &mut Store, kind: Kind, id: &str) -> R<Resp> {
    store.remove(kind, id)?;
    ok(json!({}))
}
