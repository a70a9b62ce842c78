//! Cohere's API as the code names it: endpoints, platforms, key kinds and the cause vocabulary used in
//! `summary.json`. The facts about them (models, limits, statuses, platforms' error types) are data, with
//! their sources, in [`crate::knowledge`].
//!
//! ```
//! use cohere_bundle_knowledge::cohere::{self, CauseCode, Endpoint, KeyKind, Platform, Side};
//!
//! // Endpoints: from a URL path (a proxy's base path and the query are ignored) or a name.
//! assert_eq!(Endpoint::from_path("/proxy/v2/chat?x=1"), Endpoint::ChatV2);
//! assert_eq!(Endpoint::locate("/proxy/v1/datasets/my-id"), Some((Endpoint::Dataset, 6)));
//! assert_eq!(Endpoint::from_name("chat"), Some(Endpoint::ChatV2));
//! assert_eq!((Endpoint::Dataset.path(), Endpoint::ChatV1.name()), ("/v1/datasets/{id}", "v1/chat"));
//! assert!(Endpoint::ChatV2.is_generative() && !Endpoint::EmbedV2.is_generative());
//! assert!(Endpoint::ALL.iter().all(|e| Endpoint::from_name(e.name()) == Some(*e)));
//! let bedrock_url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/cohere.command-r-v1%3A0/invoke";
//! assert_eq!(cohere::model_from_url(bedrock_url).as_deref(), Some("cohere.command-r-v1:0"));
//!
//! // Platforms: a status means different things on each (see crate::knowledge).
//! let bedrock = Platform::from_url(bedrock_url);
//! assert_eq!((bedrock, bedrock.name(), bedrock.is_aws()), (Platform::Bedrock, "bedrock", true));
//! assert_eq!(Platform::from_url(cohere::DEFAULT_BASE_URL), Platform::Cohere);
//! // Causes, and whose side they are on.
//! let cause = CauseCode::MaxOutputExceeded;
//! assert_eq!((cause.as_str(), cause.side()), ("max_output_exceeded", Side::User));
//! assert!(!cause.side().support_needed());
//! assert_eq!(CauseCode::ServerError.side().as_str(), "cohere");
//! assert_eq!(KeyKind::default(), KeyKind::Unknown);
//!
//! assert_eq!(cohere::SUPPORT_EMAIL, "support@cohere.com");
//! ```

use serde::{Deserialize, Serialize};

/// The default base URL of Cohere's API.
///
/// See the [module example](crate::cohere).
pub const DEFAULT_BASE_URL: &str = "https://api.cohere.com";

/// The support address the report and the email draft are written for.
///
/// See the [module example](crate::cohere).
pub const SUPPORT_EMAIL: &str = "support@cohere.com";

/// A Cohere API endpoint: one path of the API reference (its operations differ by method). Serialized as its
/// name, the path without the leading `/` (e.g. `"v2/chat"`, `"v1/datasets/{id}"`).
///
/// ```
/// use cohere_bundle_knowledge::Endpoint;
/// let e = Endpoint::from_path("/cohere/v1/embed");
/// assert_eq!((e, e.name(), e.path()), (Endpoint::EmbedV1, "v1/embed", "/v1/embed"));
/// assert_eq!(serde_json::to_value(Endpoint::ChatV2).unwrap(), "v2/chat");
/// assert_eq!(Endpoint::from_path("/v9/unknown"), Endpoint::Other);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v2/chat`
    ChatV2,
    /// `POST /v1/chat`
    ChatV1,
    /// `POST /v2/embed`
    EmbedV2,
    /// `POST /v1/embed`
    EmbedV1,
    /// `POST /v2/rerank`
    RerankV2,
    /// `POST /v1/rerank`
    RerankV1,
    /// `POST /v1/classify`
    Classify,
    /// `POST /v1/generate`
    Generate,
    /// `POST /v1/tokenize`
    Tokenize,
    /// `POST /v1/detokenize`
    Detokenize,
    /// `GET /v1/models/{model}` and `GET /v1/models`
    Models,
    /// `POST /v1/check-api-key`
    CheckApiKey,
    /// `POST /v1/summarize`
    Summarize,
    /// `POST /v2/audio/transcriptions` (a multipart form)
    AudioTranscriptions,
    /// `GET` and `POST /v2/batches`
    Batches,
    /// `GET /v2/batches/{id}`
    Batch,
    /// `POST /v2/batches/{id}:cancel`
    BatchCancel,
    /// `GET` and `POST /v1/embed-jobs`
    EmbedJobs,
    /// `GET /v1/embed-jobs/{id}`
    EmbedJob,
    /// `POST /v1/embed-jobs/{id}/cancel`
    EmbedJobCancel,
    /// `GET` and `POST /v1/datasets` (the POST is a multipart form)
    Datasets,
    /// `GET /v1/datasets/usage`
    DatasetsUsage,
    /// `GET` and `DELETE /v1/datasets/{id}`
    Dataset,
    /// `GET` and `POST /v1/connectors`
    Connectors,
    /// `GET`, `PATCH` and `DELETE /v1/connectors/{id}`
    Connector,
    /// `POST /v1/connectors/{id}/oauth/authorize`
    ConnectorAuthorize,
    /// `GET` and `POST /v1/finetuning/finetuned-models`
    FinetunedModels,
    /// `GET`, `PATCH` and `DELETE /v1/finetuning/finetuned-models/{id}`
    FinetunedModel,
    /// `GET /v1/finetuning/finetuned-models/{finetuned_model_id}/events`
    FinetunedModelEvents,
    /// `GET /v1/finetuning/finetuned-models/{finetuned_model_id}/training-step-metrics`
    FinetunedModelMetrics,
    /// `POST /compatibility/v1/chat/completions`: the OpenAI-compatible chat API, called with the OpenAI SDKs
    /// (`../shared/cohere-docs/v2/text-generation/compatibility-api.mdx`).
    CompatChatCompletions,
    /// `POST /compatibility/v1/embeddings`: the OpenAI-compatible embeddings API
    /// (`../shared/cohere-docs/v2/text-generation/compatibility-api.mdx`).
    CompatEmbeddings,
    /// `POST /compatibility/v1/audio/transcriptions` (a multipart form): the OpenAI-compatible transcription API
    /// (`../shared/cohere-docs/v2/text-generation/compatibility-api.mdx`).
    CompatAudioTranscriptions,
    /// Any other path.
    Other,
}

/// The path templates matched by [`Endpoint::locate`]: every path of the API reference. `{name}` stands for one
/// path segment; `{id}:cancel` for a segment ending in `:cancel`.
const PATH_TEMPLATES: &[(&str, Endpoint)] = &[
    ("/v2/chat", Endpoint::ChatV2),
    ("/v1/chat", Endpoint::ChatV1),
    ("/v2/embed", Endpoint::EmbedV2),
    ("/v1/embed", Endpoint::EmbedV1),
    ("/v2/rerank", Endpoint::RerankV2),
    ("/v1/rerank", Endpoint::RerankV1),
    ("/v1/classify", Endpoint::Classify),
    ("/v1/generate", Endpoint::Generate),
    ("/v1/tokenize", Endpoint::Tokenize),
    ("/v1/detokenize", Endpoint::Detokenize),
    ("/v1/models", Endpoint::Models),
    ("/v1/models/{model}", Endpoint::Models),
    ("/v1/check-api-key", Endpoint::CheckApiKey),
    ("/v1/summarize", Endpoint::Summarize),
    ("/v2/audio/transcriptions", Endpoint::AudioTranscriptions),
    ("/v2/batches", Endpoint::Batches),
    ("/v2/batches/{id}", Endpoint::Batch),
    ("/v2/batches/{id}:cancel", Endpoint::BatchCancel),
    ("/v1/embed-jobs", Endpoint::EmbedJobs),
    ("/v1/embed-jobs/{id}", Endpoint::EmbedJob),
    ("/v1/embed-jobs/{id}/cancel", Endpoint::EmbedJobCancel),
    ("/v1/datasets", Endpoint::Datasets),
    ("/v1/datasets/usage", Endpoint::DatasetsUsage),
    ("/v1/datasets/{id}", Endpoint::Dataset),
    ("/v1/connectors", Endpoint::Connectors),
    ("/v1/connectors/{id}", Endpoint::Connector),
    (
        "/v1/connectors/{id}/oauth/authorize",
        Endpoint::ConnectorAuthorize,
    ),
    ("/v1/finetuning/finetuned-models", Endpoint::FinetunedModels),
    (
        "/v1/finetuning/finetuned-models/{id}",
        Endpoint::FinetunedModel,
    ),
    (
        "/v1/finetuning/finetuned-models/{finetuned_model_id}/events",
        Endpoint::FinetunedModelEvents,
    ),
    (
        "/v1/finetuning/finetuned-models/{finetuned_model_id}/training-step-metrics",
        Endpoint::FinetunedModelMetrics,
    ),
    // The compatibility API's paths: ../shared/cohere-docs/v2/text-generation/compatibility-api.mdx (its cURL
    // examples, base URL `https://api.cohere.ai/compatibility/v1`).
    (
        "/compatibility/v1/chat/completions",
        Endpoint::CompatChatCompletions,
    ),
    ("/compatibility/v1/embeddings", Endpoint::CompatEmbeddings),
    (
        "/compatibility/v1/audio/transcriptions",
        Endpoint::CompatAudioTranscriptions,
    ),
];

/// True when one path segment fits one template segment.
fn segment_fits(template: &str, segment: &str) -> bool {
    if segment.is_empty() {
        return false;
    }
    match template.strip_prefix('{').and_then(|t| t.split_once('}')) {
        Some((_, "")) => true,
        Some((_, suffix)) => segment.len() > suffix.len() && segment.ends_with(suffix),
        None => template == segment,
    }
}

impl Endpoint {
    /// All endpoints with a path, for `--endpoint` parsing and path matching.
    ///
    /// See the [module example](crate::cohere).
    pub const ALL: [Endpoint; 33] = [
        Endpoint::ChatV2,
        Endpoint::ChatV1,
        Endpoint::EmbedV2,
        Endpoint::EmbedV1,
        Endpoint::RerankV2,
        Endpoint::RerankV1,
        Endpoint::Classify,
        Endpoint::Generate,
        Endpoint::Tokenize,
        Endpoint::Detokenize,
        Endpoint::Models,
        Endpoint::CheckApiKey,
        Endpoint::Summarize,
        Endpoint::AudioTranscriptions,
        Endpoint::Batches,
        Endpoint::Batch,
        Endpoint::BatchCancel,
        Endpoint::EmbedJobs,
        Endpoint::EmbedJob,
        Endpoint::EmbedJobCancel,
        Endpoint::Datasets,
        Endpoint::DatasetsUsage,
        Endpoint::Dataset,
        Endpoint::Connectors,
        Endpoint::Connector,
        Endpoint::ConnectorAuthorize,
        Endpoint::FinetunedModels,
        Endpoint::FinetunedModel,
        Endpoint::FinetunedModelEvents,
        Endpoint::FinetunedModelMetrics,
        Endpoint::CompatChatCompletions,
        Endpoint::CompatEmbeddings,
        Endpoint::CompatAudioTranscriptions,
    ];

    /// The URL path, e.g. `/v2/chat`; a path template for paths with parameters, e.g. `/v1/datasets/{id}`.
    ///
    /// See the [module example](crate::cohere).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatV2 => "/v2/chat",
            Endpoint::ChatV1 => "/v1/chat",
            Endpoint::EmbedV2 => "/v2/embed",
            Endpoint::EmbedV1 => "/v1/embed",
            Endpoint::RerankV2 => "/v2/rerank",
            Endpoint::RerankV1 => "/v1/rerank",
            Endpoint::Classify => "/v1/classify",
            Endpoint::Generate => "/v1/generate",
            Endpoint::Tokenize => "/v1/tokenize",
            Endpoint::Detokenize => "/v1/detokenize",
            Endpoint::Models => "/v1/models",
            Endpoint::CheckApiKey => "/v1/check-api-key",
            Endpoint::Summarize => "/v1/summarize",
            Endpoint::AudioTranscriptions => "/v2/audio/transcriptions",
            Endpoint::Batches => "/v2/batches",
            Endpoint::Batch => "/v2/batches/{id}",
            Endpoint::BatchCancel => "/v2/batches/{id}:cancel",
            Endpoint::EmbedJobs => "/v1/embed-jobs",
            Endpoint::EmbedJob => "/v1/embed-jobs/{id}",
            Endpoint::EmbedJobCancel => "/v1/embed-jobs/{id}/cancel",
            Endpoint::Datasets => "/v1/datasets",
            Endpoint::DatasetsUsage => "/v1/datasets/usage",
            Endpoint::Dataset => "/v1/datasets/{id}",
            Endpoint::Connectors => "/v1/connectors",
            Endpoint::Connector => "/v1/connectors/{id}",
            Endpoint::ConnectorAuthorize => "/v1/connectors/{id}/oauth/authorize",
            Endpoint::FinetunedModels => "/v1/finetuning/finetuned-models",
            Endpoint::FinetunedModel => "/v1/finetuning/finetuned-models/{id}",
            Endpoint::FinetunedModelEvents => {
                "/v1/finetuning/finetuned-models/{finetuned_model_id}/events"
            }
            Endpoint::FinetunedModelMetrics => {
                "/v1/finetuning/finetuned-models/{finetuned_model_id}/training-step-metrics"
            }
            Endpoint::CompatChatCompletions => "/compatibility/v1/chat/completions",
            Endpoint::CompatEmbeddings => "/compatibility/v1/embeddings",
            Endpoint::CompatAudioTranscriptions => "/compatibility/v1/audio/transcriptions",
            Endpoint::Other => "",
        }
    }

    /// The short name used in summaries and on the command line, e.g. `v2/chat`.
    ///
    /// See the [module example](crate::cohere).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Other => "other",
            e => &e.path()[1..],
        }
    }

    /// Parses `v2/chat`, `/v2/chat`, `chat` (meaning v2) and the like.
    ///
    /// See the [module example](crate::cohere).
    pub fn from_name(s: &str) -> Option<Endpoint> {
        let s = s.trim().trim_start_matches('/');
        match s {
            "chat" => return Some(Endpoint::ChatV2),
            "embed" => return Some(Endpoint::EmbedV2),
            "rerank" => return Some(Endpoint::RerankV2),
            "chat/completions" => return Some(Endpoint::CompatChatCompletions),
            "embeddings" => return Some(Endpoint::CompatEmbeddings),
            "classify" => return Some(Endpoint::Classify),
            "tokenize" => return Some(Endpoint::Tokenize),
            _ => {}
        }
        Endpoint::ALL.into_iter().find(|e| e.name() == s)
    }

    /// The endpoint of a URL path (query and a leading base path are ignored), e.g. `/proxy/v2/chat?x=1`,
    /// `/v1/datasets/my-id`.
    ///
    /// See the [module example](crate::cohere).
    pub fn from_path(path: &str) -> Endpoint {
        Endpoint::locate(path).map_or(Endpoint::Other, |(e, _)| e)
    }

    /// The endpoint of a URL path and the byte offset in `path` where the endpoint's own path starts (what
    /// comes before it is a base path, e.g. a proxy's `/proxy`). The path's last segments must fit one of the
    /// API reference's path templates; the longest fit wins, and literal segments beat parameters
    /// (`/v1/datasets/usage` is not the dataset `usage`).
    ///
    /// See the [module example](crate::cohere).
    pub fn locate(path: &str) -> Option<(Endpoint, usize)> {
        let path = path
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        // (offset of the segment's leading '/', or of the segment itself when it has none; segment)
        let mut segments: Vec<(usize, &str)> = Vec::new();
        let mut start = 0;
        for part in path.split('/') {
            let at = if start == 0 { 0 } else { start - 1 };
            if !(start == 0 && part.is_empty()) {
                segments.push((at, part));
            }
            start += part.len() + 1;
        }
        let mut best: Option<((usize, usize, usize), Endpoint, usize)> = None;
        for (template, endpoint) in PATH_TEMPLATES {
            let parts: Vec<&str> = template[1..].split('/').collect();
            if parts.len() > segments.len() {
                continue;
            }
            let tail = &segments[segments.len() - parts.len()..];
            if !parts.iter().zip(tail).all(|(t, (_, s))| segment_fits(t, s)) {
                continue;
            }
            let rank = (
                parts.len(),
                parts.iter().filter(|t| !t.starts_with('{')).count(),
                parts.iter().filter(|t| !t.ends_with('}')).count(),
            );
            if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                best = Some((rank, *endpoint, tail[0].0));
            }
        }
        if let Some((_, e, at)) = best {
            return Some((e, at));
        }
        // `/v1/models/{model}` with a model ID that has a `/` in it.
        path.find("/v1/models/").map(|i| (Endpoint::Models, i))
    }

    /// Guesses the endpoint of a bare JSON body from its fields (`messages` → v2 chat, `message` → v1 chat,
    /// `texts`/`inputs` with `input_type` → embed, `query` + `documents` → rerank, `input` → the compatibility
    /// API's embeddings, …). A body with `messages` is v2 chat unless it is clearly OpenAI-shaped (see
    /// [`openai_chat_body`]); a URL path or `--endpoint` decides before this guess does.
    ///
    /// ```
    /// use cohere_bundle_knowledge::Endpoint;
    /// let body = serde_json::json!({"query": "q", "documents": ["a"]});
    /// assert_eq!(Endpoint::infer_from_body(&body), Some(Endpoint::RerankV2));
    /// ```
    pub fn infer_from_body(body: &serde_json::Value) -> Option<Endpoint> {
        let obj = body.as_object()?;
        let has = |k: &str| obj.contains_key(k);
        if has("messages") {
            Some(if openai_chat_body(obj) {
                Endpoint::CompatChatCompletions
            } else {
                Endpoint::ChatV2
            })
        } else if has("input")
            && !["texts", "inputs", "images", "input_type", "embedding_types"]
                .iter()
                .any(|k| has(k))
        {
            Some(Endpoint::CompatEmbeddings)
        } else if has("message") || has("chat_history") || has("preamble") {
            Some(Endpoint::ChatV1)
        } else if has("query") && has("documents") {
            Some(Endpoint::RerankV2)
        } else if has("examples") && has("inputs") {
            Some(Endpoint::Classify)
        } else if has("input_type") || has("embedding_types") || has("texts") || has("images") {
            Some(Endpoint::EmbedV2)
        } else if has("prompt") {
            Some(Endpoint::Generate)
        } else if has("tokens") {
            Some(Endpoint::Detokenize)
        } else if has("text") && has("model") {
            Some(Endpoint::Tokenize)
        } else {
            None
        }
    }

    /// True for endpoints that generate text (and so take `max_tokens`).
    ///
    /// See the [module example](crate::cohere).
    pub fn is_generative(self) -> bool {
        matches!(
            self,
            Endpoint::ChatV2
                | Endpoint::ChatV1
                | Endpoint::Generate
                | Endpoint::CompatChatCompletions
        )
    }

    /// True for the compatibility API's endpoints (`/compatibility/v1/…`), which the OpenAI SDKs call and which
    /// answer in OpenAI's shapes.
    ///
    /// ```
    /// use cohere_bundle_knowledge::Endpoint;
    /// assert!(Endpoint::from_path("/compatibility/v1/embeddings").is_compatibility());
    /// assert!(!Endpoint::ChatV2.is_compatibility());
    /// ```
    pub fn is_compatibility(self) -> bool {
        matches!(
            self,
            Endpoint::CompatChatCompletions
                | Endpoint::CompatEmbeddings
                | Endpoint::CompatAudioTranscriptions
        )
    }

    /// True for endpoints whose every operation sends a body (chat, embed, rerank, …): a request to one without
    /// a body is a mistake in the input, not a request to replay. The others (lists, gets, deletes, cancels)
    /// replay without one.
    ///
    /// ```
    /// use cohere_bundle_knowledge::Endpoint;
    /// assert!(Endpoint::ChatV2.requires_body() && !Endpoint::Models.requires_body());
    /// ```
    pub fn requires_body(self) -> bool {
        matches!(
            self,
            Endpoint::ChatV2
                | Endpoint::ChatV1
                | Endpoint::EmbedV2
                | Endpoint::EmbedV1
                | Endpoint::RerankV2
                | Endpoint::RerankV1
                | Endpoint::Classify
                | Endpoint::Generate
                | Endpoint::Tokenize
                | Endpoint::Detokenize
                | Endpoint::Summarize
                | Endpoint::AudioTranscriptions
                | Endpoint::CompatChatCompletions
                | Endpoint::CompatEmbeddings
                | Endpoint::CompatAudioTranscriptions
        )
    }
}

/// Fields of a chat body that only OpenAI's Chat Completions API has: v2 chat has none of them (its request
/// schema in `../shared/cohere-openapi/openapi.yaml` writes `stop_sequences` and `p`). Most are in the
/// compatibility API's lists of supported and unsupported parameters
/// (`../shared/cohere-docs/v2/text-generation/compatibility-api.mdx`); `max_completion_tokens`, `stream_options`,
/// `user`, `functions` and `function_call` are OpenAI's parameters that the OpenAI SDKs send.
const OPENAI_ONLY_CHAT_FIELDS: &[&str] = &[
    "max_completion_tokens",
    "n",
    "stream_options",
    "reasoning_effort",
    "stop",
    "top_p",
    "logit_bias",
    "top_logprobs",
    "store",
    "metadata",
    "modalities",
    "prediction",
    "audio",
    "service_tier",
    "parallel_tool_calls",
    "user",
    "functions",
    "function_call",
];

/// Fields only v2 chat has (`../shared/cohere-openapi/openapi.yaml`, `/v2/chat`): a body with one is v2 chat,
/// whatever else it has.
const V2_ONLY_CHAT_FIELDS: &[&str] = &[
    "documents",
    "citation_options",
    "safety_mode",
    "strict_tools",
    "stop_sequences",
    "k",
    "p",
    "thinking",
    "priority",
];

/// The rule that tells a bare body with `messages` for the compatibility API's chat completions from a v2 chat
/// body. The two share most fields (`model`, `messages` with string or `{"type":"text","text"}` content,
/// `tools` as `{"type":"function","function":…}`, `max_tokens`, `temperature`, `seed`, `stream`, …), so it is
/// conservative: OpenAI-shaped only with no v2-only field ([`V2_ONLY_CHAT_FIELDS`]) and one of
/// - a field only OpenAI's API has ([`OPENAI_ONLY_CHAT_FIELDS`]: `max_completion_tokens`, `n`, `stream_options`,
///   `stop`, `top_p`, `reasoning_effort`, …);
/// - `response_format.type` `json_schema` (v2 writes `json_object` with a `json_schema` member);
/// - `tool_choice` in OpenAI's spelling (`auto`, `none`, `required` in lower case, or an object; v2 writes
///   `REQUIRED` or `NONE`);
/// - a message with the `developer` role or a `function_call` member (v2 has neither).
///
/// `messages[].content` as `[{"type":"text","text"}]` parts is not decisive: both APIs take it.
///
/// ```
/// use cohere_bundle_knowledge::Endpoint;
/// // How a bare body's endpoint is guessed (the request parser of cohere-bundle-core does this).
/// let parse = |b: &str| Endpoint::infer_from_body(&serde_json::from_str(b).unwrap()).unwrap();
/// let m = r#""model":"command-a-03-2025","messages":[{"role":"user","content":"hi"}]"#;
/// assert_eq!(parse(&format!("{{{m}}}")), Endpoint::ChatV2);
/// assert_eq!(parse(&format!("{{{m},\"max_completion_tokens\":5}}")), Endpoint::CompatChatCompletions);
/// assert_eq!(parse(&format!("{{{m},\"stop\":[\"x\"],\"thinking\":{{}}}}")), Endpoint::ChatV2);
/// assert_eq!(parse(r#"{"model":"embed-v4.0","input":["hi"]}"#), Endpoint::CompatEmbeddings);
/// ```
pub fn openai_chat_body(obj: &serde_json::Map<String, serde_json::Value>) -> bool {
    use serde_json::Value;
    if V2_ONLY_CHAT_FIELDS.iter().any(|k| obj.contains_key(*k)) {
        return false;
    }
    if OPENAI_ONLY_CHAT_FIELDS.iter().any(|k| obj.contains_key(*k)) {
        return true;
    }
    if obj.get("response_format").and_then(|r| r.get("type")) == Some(&Value::from("json_schema")) {
        return true;
    }
    match obj.get("tool_choice") {
        Some(Value::String(s)) if matches!(s.as_str(), "auto" | "none" | "required") => {
            return true
        }
        Some(Value::Object(_)) => return true,
        _ => {}
    }
    obj.get("messages")
        .and_then(Value::as_array)
        .is_some_and(|ms| {
            ms.iter().any(|m| {
                m.get("role").and_then(Value::as_str) == Some("developer")
                    || m.get("function_call").is_some()
            })
        })
}

/// The model a request's URL names where the path (or an Azure serverless host) names it instead of the body,
/// percent-decoded:
/// - Cohere's `/v1/models/{model}`;
/// - Bedrock's `/model/{modelId}/invoke` (and `invoke-with-response-stream`, `converse`, `converse-stream`),
///   e.g. `cohere.command-r-v1%3A0` → `cohere.command-r-v1:0`;
/// - SageMaker's `/endpoints/{EndpointName}/invocations` (and `invocations-response-stream`): the endpoint;
/// - Azure's `/openai/deployments/{deployment}/…`, and a serverless endpoint's host
///   `{endpoint}.{region}.models.ai.azure.com`: the deployment or endpoint.
///
/// OCI names the model in the body (`servingMode.modelId`), not in its paths (`/20231130/actions/chat`).
///
/// See the [module example](crate::cohere).
pub fn model_from_url(url: &str) -> Option<String> {
    let (host, path) = match url::Url::parse(url) {
        Ok(u) => (
            u.host_str().map(str::to_ascii_lowercase),
            u.path().to_string(),
        ),
        Err(_) => (None, url.split(['?', '#']).next().unwrap_or("").to_string()),
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    if let Some((Endpoint::Models, at)) = Endpoint::locate(&path) {
        return path[at..]
            .trim_end_matches('/')
            .strip_prefix("/v1/models/")
            .filter(|m| !m.is_empty())
            .map(decode);
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for w in segments.windows(3) {
        match *w {
            ["model", id, "invoke" | "invoke-with-response-stream" | "converse" | "converse-stream"]
            | ["endpoints", id, "invocations" | "invocations-response-stream"]
            | ["openai", "deployments", id] => return Some(decode(id)),
            _ => {}
        }
    }
    let host = host?;
    let name = host.strip_suffix(".models.ai.azure.com")?;
    let (endpoint, _region) = name.split_once('.')?;
    Some(endpoint.to_string())
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(if s == "other" {
            Endpoint::Other
        } else {
            Endpoint::from_name(&s).unwrap_or(Endpoint::Other)
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the failing request was sent. Status codes mean different things on each.
///
/// ```
/// use cohere_bundle_knowledge::Platform;
/// let p = Platform::from_url("https://my-endpoint.eastus.models.ai.azure.com");
/// assert_eq!((p, p.name(), p.is_aws()), (Platform::Azure, "azure", false));
/// assert_eq!(Platform::from_url("http://localhost:8080"), Platform::Cohere);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Cohere's own API (api.cohere.com or a compatible base URL).
    #[default]
    Cohere,
    /// Amazon Bedrock.
    Bedrock,
    /// Amazon SageMaker.
    Sagemaker,
    /// Azure AI Foundry.
    Azure,
    /// Oracle Cloud Infrastructure Generative AI.
    Oci,
    /// A private deployment.
    Private,
}

impl Platform {
    /// Every platform, in the order the command line lists them.
    ///
    /// ```
    /// use cohere_bundle_knowledge::Platform;
    /// assert!(Platform::ALL.iter().all(|p| Platform::from_name(p.name()) == Some(*p)));
    /// ```
    pub const ALL: [Platform; 6] = [
        Platform::Cohere,
        Platform::Bedrock,
        Platform::Sagemaker,
        Platform::Azure,
        Platform::Oci,
        Platform::Private,
    ];

    /// The platform of a name as [`Platform::name`] writes it (any case).
    ///
    /// ```
    /// use cohere_bundle_knowledge::Platform;
    /// assert_eq!(Platform::from_name("oci"), Some(Platform::Oci));
    /// assert_eq!(Platform::from_name("aws"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Platform> {
        Platform::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The platform a base URL points at.
    ///
    /// See the [module example](crate::cohere).
    pub fn from_url(url: &str) -> Platform {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        let Some(host) = host else {
            return Platform::Cohere;
        };
        if host.contains("bedrock") && host.ends_with("amazonaws.com") {
            Platform::Bedrock
        } else if host.contains("sagemaker") && host.ends_with("amazonaws.com") {
            Platform::Sagemaker
        } else if host.ends_with("azure.com") {
            Platform::Azure
        } else if host.ends_with("oraclecloud.com") {
            Platform::Oci
        } else {
            Platform::Cohere
        }
    }

    /// True on AWS, where the FAQ says 401, 404 and 429 are "not relevant".
    ///
    /// See the [module example](crate::cohere).
    pub fn is_aws(self) -> bool {
        matches!(self, Platform::Bedrock | Platform::Sagemaker)
    }

    /// The lower-case name used in summaries.
    ///
    /// See the [module example](crate::cohere).
    pub fn name(self) -> &'static str {
        match self {
            Platform::Cohere => "cohere",
            Platform::Bedrock => "bedrock",
            Platform::Sagemaker => "sagemaker",
            Platform::Azure => "azure",
            Platform::Oci => "oci",
            Platform::Private => "private",
        }
    }
}

/// A likely cause of a failure: the vocabulary of `summary.json`'s `causes[].code`.
///
/// ```
/// use cohere_bundle_knowledge::cohere::{CauseCode, Side};
/// assert_eq!(CauseCode::RateLimitedTrial.as_str(), "rate_limited_trial");
/// assert_eq!(CauseCode::RateLimitedTrial.side(), Side::User);
/// assert_eq!(CauseCode::GatewayTimeout.side(), Side::Cohere);
/// assert!(CauseCode::NetworkError.side().support_needed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum CauseCode {
    InvalidParameterCombination,
    ContextLengthExceeded,
    MaxOutputExceeded,
    MalformedRequest,
    ClientCanceled,
    InvalidApiKey,
    ModelNotFound,
    RateLimitedTrial,
    RateLimited,
    Forbidden,
    BlockedToken,
    PaymentRequired,
    ServerError,
    ServiceUnavailable,
    GatewayTimeout,
    Timeout,
    NetworkError,
    StreamError,
    /// An account or platform quota, not a per-minute rate limit.
    QuotaExceeded,
    /// The model is not ready yet: transient, retry with backoff.
    ModelNotReady,
    /// The account has no access to this model on the platform.
    ModelAccessDenied,
    /// The deployment, endpoint or route does not exist.
    EndpointNotFound,
    /// The model container failed on this input (SageMaker's 424).
    ModelError,
    /// 501: a feature this model or endpoint does not support.
    NotImplemented,
    /// A 200 cut by `max_tokens`, or empty after thinking.
    OutputTruncated,
}

impl CauseCode {
    /// Every cause code, in the order of the enum.
    ///
    /// ```
    /// use cohere_bundle_knowledge::CauseCode;
    /// assert!(CauseCode::ALL.iter().all(|c| serde_json::to_value(c).unwrap() == c.as_str()));
    /// ```
    pub const ALL: [CauseCode; 25] = [
        CauseCode::InvalidParameterCombination,
        CauseCode::ContextLengthExceeded,
        CauseCode::MaxOutputExceeded,
        CauseCode::MalformedRequest,
        CauseCode::ClientCanceled,
        CauseCode::InvalidApiKey,
        CauseCode::ModelNotFound,
        CauseCode::RateLimitedTrial,
        CauseCode::RateLimited,
        CauseCode::Forbidden,
        CauseCode::BlockedToken,
        CauseCode::PaymentRequired,
        CauseCode::ServerError,
        CauseCode::ServiceUnavailable,
        CauseCode::GatewayTimeout,
        CauseCode::Timeout,
        CauseCode::NetworkError,
        CauseCode::StreamError,
        CauseCode::QuotaExceeded,
        CauseCode::ModelNotReady,
        CauseCode::ModelAccessDenied,
        CauseCode::EndpointNotFound,
        CauseCode::ModelError,
        CauseCode::NotImplemented,
        CauseCode::OutputTruncated,
    ];

    /// The snake_case code as written in `summary.json`.
    ///
    /// See the [module example](crate::cohere).
    pub fn as_str(self) -> &'static str {
        match self {
            CauseCode::InvalidParameterCombination => "invalid_parameter_combination",
            CauseCode::ContextLengthExceeded => "context_length_exceeded",
            CauseCode::MaxOutputExceeded => "max_output_exceeded",
            CauseCode::MalformedRequest => "malformed_request",
            CauseCode::ClientCanceled => "client_canceled",
            CauseCode::InvalidApiKey => "invalid_api_key",
            CauseCode::ModelNotFound => "model_not_found",
            CauseCode::RateLimitedTrial => "rate_limited_trial",
            CauseCode::RateLimited => "rate_limited",
            CauseCode::Forbidden => "forbidden",
            CauseCode::BlockedToken => "blocked_token",
            CauseCode::PaymentRequired => "payment_required",
            CauseCode::ServerError => "server_error",
            CauseCode::ServiceUnavailable => "service_unavailable",
            CauseCode::GatewayTimeout => "gateway_timeout",
            CauseCode::Timeout => "timeout",
            CauseCode::NetworkError => "network_error",
            CauseCode::StreamError => "stream_error",
            CauseCode::QuotaExceeded => "quota_exceeded",
            CauseCode::ModelNotReady => "model_not_ready",
            CauseCode::ModelAccessDenied => "model_access_denied",
            CauseCode::EndpointNotFound => "endpoint_not_found",
            CauseCode::ModelError => "model_error",
            CauseCode::NotImplemented => "not_implemented",
            CauseCode::OutputTruncated => "output_truncated",
        }
    }
}

/// Whose side a cause is on, which decides whether Cohere support is needed.
///
/// See the [module example](crate::cohere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The user can fix it (the request, the key, the plan, the client): support is needed only if the next
    /// step does not fix it.
    User,
    /// Only Cohere can fix it (a server error, an outage).
    Cohere,
    /// The evidence does not tell (a network failure, a rate limit of a production key, a refusal).
    #[default]
    Unknown,
}

impl Side {
    /// The snake_case name as written in `summary.json`.
    ///
    /// See the [module example](crate::cohere).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::User => "user",
            Side::Cohere => "cohere",
            Side::Unknown => "unknown",
        }
    }

    /// Whether to write to Cohere support: for a cause on Cohere's side or an unknown one.
    ///
    /// See the [module example](crate::cohere).
    pub fn support_needed(self) -> bool {
        self != Side::User
    }
}

impl CauseCode {
    /// Whose side the cause is on. The user's: the request (limits, parameters, model name, format), the
    /// key and its trial limit, a client that gave up. Cohere's: 5xx answers. Everything else is unknown
    /// from the evidence alone.
    ///
    /// See the [module example](crate::cohere).
    pub fn side(self) -> Side {
        match self {
            CauseCode::InvalidApiKey
            | CauseCode::RateLimitedTrial
            | CauseCode::MaxOutputExceeded
            | CauseCode::ContextLengthExceeded
            | CauseCode::MalformedRequest
            | CauseCode::InvalidParameterCombination
            | CauseCode::ModelNotFound
            | CauseCode::ClientCanceled
            | CauseCode::QuotaExceeded
            | CauseCode::ModelAccessDenied
            | CauseCode::EndpointNotFound
            | CauseCode::NotImplemented
            | CauseCode::OutputTruncated => Side::User,
            CauseCode::ServerError | CauseCode::ServiceUnavailable | CauseCode::GatewayTimeout => {
                Side::Cohere
            }
            // Transient on the platform's side, or the model on this input: the evidence does not say whose.
            CauseCode::ModelNotReady | CauseCode::ModelError => Side::Unknown,
            CauseCode::RateLimited
            | CauseCode::Forbidden
            | CauseCode::BlockedToken
            | CauseCode::PaymentRequired
            | CauseCode::Timeout
            | CauseCode::NetworkError
            | CauseCode::StreamError => Side::Unknown,
        }
    }
}

impl std::fmt::Display for CauseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the key is a trial or a production key.
///
/// See the [module example](crate::cohere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// A trial key (seen from trial headers or a trial 429 message).
    Trial,
    /// A production key (a successful response without trial headers).
    Production,
    /// Not known from the evidence.
    #[default]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_from_path_ignores_base_and_query() {
        assert_eq!(Endpoint::from_path("/v2/chat"), Endpoint::ChatV2);
        assert_eq!(Endpoint::from_path("/proxy/v1/chat?x=1"), Endpoint::ChatV1);
        assert_eq!(
            Endpoint::from_path("/v1/models/command-r"),
            Endpoint::Models
        );
        assert_eq!(Endpoint::from_path("/v3/whatever"), Endpoint::Other);
    }

    #[test]
    fn endpoint_from_templated_paths() {
        let e = Endpoint::from_path;
        assert_eq!(e("/v1/datasets/usage"), Endpoint::DatasetsUsage);
        assert_eq!(e("/v1/datasets/usage-2"), Endpoint::Dataset);
        assert_eq!(e("/v1/datasets"), Endpoint::Datasets);
        assert_eq!(e("/v2/batches/b-1"), Endpoint::Batch);
        assert_eq!(e("/v2/batches/b-1:cancel"), Endpoint::BatchCancel);
        assert_eq!(e("/v2/batches/%3Cid%3E:cancel"), Endpoint::BatchCancel);
        assert_eq!(e("/v1/embed-jobs/j/cancel"), Endpoint::EmbedJobCancel);
        assert_eq!(
            e("/v1/connectors/c/oauth/authorize"),
            Endpoint::ConnectorAuthorize
        );
        assert_eq!(
            e("/v1/finetuning/finetuned-models/f/training-step-metrics/"),
            Endpoint::FinetunedModelMetrics
        );
        assert_eq!(
            e("/v1/finetuning/finetuned-models/f/other"),
            Endpoint::Other
        );
        assert_eq!(e("/v1/datasets//"), Endpoint::Datasets);
        // Where the endpoint's own path starts: what comes before is a base path.
        assert_eq!(
            Endpoint::locate("/proxy/v1/datasets/abc?x=1"),
            Some((Endpoint::Dataset, 6))
        );
        assert_eq!(
            Endpoint::locate("/v2/batches/v2/batches"),
            Some((Endpoint::Batches, 11))
        );
        assert_eq!(
            Endpoint::locate("/v1/models/command-r"),
            Some((Endpoint::Models, 0))
        );
        assert_eq!(Endpoint::locate("/nothing/here"), None);
        for e in Endpoint::ALL {
            assert!(
                PATH_TEMPLATES.iter().any(|(_, t)| *t == e),
                "{e} has no template"
            );
        }
    }

    #[test]
    fn model_from_url_paths() {
        let m = |u: &str| model_from_url(u);
        assert_eq!(
            m("https://api.cohere.com/v1/models/command-a-03-2025").as_deref(),
            Some("command-a-03-2025")
        );
        assert_eq!(
            m("http://127.0.0.1:9/proxy/v1/models/embed-v4.0?x=1").as_deref(),
            Some("embed-v4.0")
        );
        assert_eq!(m("https://api.cohere.com/v1/models"), None);
        assert_eq!(m("https://api.cohere.com/v2/chat"), None);
        // Bedrock: the model ID, URL-decoded.
        assert_eq!(
            m("https://bedrock-runtime.us-east-1.amazonaws.com/model/cohere.command-r-v1%3A0/invoke")
                .as_deref(),
            Some("cohere.command-r-v1:0")
        );
        assert_eq!(
            m("https://bedrock-runtime.us-west-2.amazonaws.com/model/cohere.command-r-plus-v1:0/invoke-with-response-stream")
                .as_deref(),
            Some("cohere.command-r-plus-v1:0")
        );
        // SageMaker: the endpoint name.
        assert_eq!(
            m("https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/cohere-rerank-ep/invocations")
                .as_deref(),
            Some("cohere-rerank-ep")
        );
        assert_eq!(
            m("https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/my%20ep/invocations-response-stream")
                .as_deref(),
            Some("my ep")
        );
        // Azure: a deployment path, or a serverless endpoint's host.
        assert_eq!(
            m("https://res.openai.azure.com/openai/deployments/command-r-plus/chat/completions?api-version=2024-05-01-preview")
                .as_deref(),
            Some("command-r-plus")
        );
        assert_eq!(
            m("https://Cohere-command-r-plus-abcd.eastus2.models.ai.azure.com/v1/chat").as_deref(),
            Some("cohere-command-r-plus-abcd")
        );
        // OCI names the model in the body only.
        assert_eq!(
            m("https://inference.generativeai.us-chicago-1.oci.oraclecloud.com/20231130/actions/chat"),
            None
        );
        assert_eq!(
            m("/model/cohere.embed-english-v3/invoke").as_deref(),
            Some("cohere.embed-english-v3")
        );
    }

    #[test]
    fn endpoint_names_round_trip() {
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(e.name()), Some(e));
        }
        assert_eq!(Endpoint::from_name("chat"), Some(Endpoint::ChatV2));
        assert_eq!(Endpoint::from_name("nope"), None);
    }

    #[test]
    fn infers_endpoint_from_body_fields() {
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(
            Endpoint::infer_from_body(&v(r#"{"model":"m","messages":[]}"#)),
            Some(Endpoint::ChatV2)
        );
        assert_eq!(
            Endpoint::infer_from_body(&v(r#"{"message":"hi"}"#)),
            Some(Endpoint::ChatV1)
        );
        assert_eq!(
            Endpoint::infer_from_body(&v(r#"{"query":"q","documents":[]}"#)),
            Some(Endpoint::RerankV2)
        );
        assert_eq!(
            Endpoint::infer_from_body(&v(r#"{"texts":[],"input_type":"x"}"#)),
            Some(Endpoint::EmbedV2)
        );
        assert_eq!(Endpoint::infer_from_body(&v(r#"{"foo":1}"#)), None);
    }

    #[test]
    fn compat_endpoints_from_paths_names_and_bodies() {
        let e = Endpoint::from_path;
        assert_eq!(
            e("/compatibility/v1/chat/completions"),
            Endpoint::CompatChatCompletions
        );
        assert_eq!(
            e("/proxy/compatibility/v1/embeddings/"),
            Endpoint::CompatEmbeddings
        );
        assert_eq!(
            Endpoint::locate("/p/compatibility/v1/audio/transcriptions"),
            Some((Endpoint::CompatAudioTranscriptions, 2))
        );
        // Not the compatibility API without its prefix.
        assert_eq!(e("/v1/chat/completions"), Endpoint::Other);
        assert_eq!(
            Endpoint::from_name("compatibility/v1/chat/completions"),
            Some(Endpoint::CompatChatCompletions)
        );
        assert_eq!(
            Endpoint::from_name("embeddings"),
            Some(Endpoint::CompatEmbeddings)
        );
        assert!(Endpoint::CompatChatCompletions.is_generative());
        assert!(!Endpoint::CompatEmbeddings.is_generative());
        assert!(Endpoint::CompatEmbeddings.requires_body());

        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let infer = |s: &str| Endpoint::infer_from_body(&v(s));
        let m = r#""model":"command-a-03-2025","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]"#;
        // Shared fields only: v2 chat, as before.
        assert_eq!(
            infer(&format!(
                r#"{{{m},"max_tokens":5,"temperature":0.3,"stream":true}}"#
            )),
            Some(Endpoint::ChatV2)
        );
        for openai in [
            r#""max_completion_tokens":5"#,
            r#""n":1"#,
            r#""stream_options":{"include_usage":true}"#,
            r#""stop":["x"]"#,
            r#""top_p":0.5"#,
            r#""response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}"#,
            r#""tool_choice":"auto""#,
            r#""tool_choice":{"type":"function","function":{"name":"f"}}"#,
        ] {
            assert_eq!(
                infer(&format!("{{{m},{openai}}}")),
                Some(Endpoint::CompatChatCompletions),
                "{openai}"
            );
        }
        assert_eq!(
            infer(r#"{"model":"m","messages":[{"role":"developer","content":"be brief"}]}"#),
            Some(Endpoint::CompatChatCompletions)
        );
        // v2's own spellings, and a v2-only field beside an OpenAI one, stay v2.
        assert_eq!(
            infer(&format!(
                r#"{{{m},"response_format":{{"type":"json_object","json_schema":{{}}}},"tool_choice":"REQUIRED"}}"#
            )),
            Some(Endpoint::ChatV2)
        );
        assert_eq!(
            infer(&format!(r#"{{{m},"top_p":0.5,"documents":["d"]}}"#)),
            Some(Endpoint::ChatV2)
        );
        // Embeddings: `input` without v2 embed's fields.
        assert_eq!(
            infer(r#"{"model":"embed-v4.0","input":"hi","encoding_format":"float"}"#),
            Some(Endpoint::CompatEmbeddings)
        );
        assert_eq!(
            infer(r#"{"model":"embed-v4.0","input":["hi"],"input_type":"search_query"}"#),
            Some(Endpoint::EmbedV2)
        );
    }

    #[test]
    fn platform_from_url() {
        assert_eq!(
            Platform::from_url("https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke"),
            Platform::Bedrock
        );
        assert_eq!(
            Platform::from_url("https://x.eastus.models.ai.azure.com/"),
            Platform::Azure
        );
        assert_eq!(
            Platform::from_url("http://127.0.0.1:5000"),
            Platform::Cohere
        );
    }
}
