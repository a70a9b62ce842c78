//! What the tool knows about Cohere's API: endpoints, the support FAQ's error table, models, platforms,
//! key kinds and the cause vocabulary used in `summary.json`.
//!
//! ```
//! use cohere_bundle::cohere::{self, CauseCode, Endpoint, KeyKind, Platform, Side};
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
//! // Platforms: a status means different things on each.
//! let bedrock = Platform::from_url(bedrock_url);
//! assert_eq!((bedrock, bedrock.name(), bedrock.is_aws()), (Platform::Bedrock, "bedrock", true));
//! assert_eq!(Platform::from_url(cohere::DEFAULT_BASE_URL), Platform::Cohere);
//! assert_eq!(cohere::status_meaning(404, Platform::Cohere).as_deref(), Some("model not found"));
//! assert!(cohere::status_meaning(404, bedrock).unwrap().starts_with("ResourceNotFoundException"));
//! let row = cohere::FAQ_ERRORS.iter().find(|r| r.status == 429).unwrap();
//! assert!(row.not_relevant_on_aws);
//!
//! // Causes, and whose side they are on.
//! let cause = CauseCode::MaxOutputExceeded;
//! assert_eq!((cause.as_str(), cause.side()), ("max_output_exceeded", Side::User));
//! assert!(!cause.side().support_needed());
//! assert_eq!(CauseCode::ServerError.side().as_str(), "cohere");
//! assert_eq!(KeyKind::default(), KeyKind::Unknown);
//!
//! // Published model limits, for when the models API cannot be asked.
//! let m = cohere::known_model("command-r-08-2024").unwrap();
//! assert_eq!((m.context_length, m.max_output_tokens), (128_000, Some(4_000)));
//! assert!(cohere::KNOWN_MODELS.iter().any(|m| m.name == "embed-v4.0" && m.max_output_tokens.is_none()));
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
/// use cohere_bundle::Endpoint;
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
    pub const ALL: [Endpoint; 30] = [
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
    /// `texts`/`inputs` with `input_type` → embed, `query` + `documents` → rerank, …).
    pub(crate) fn infer_from_body(body: &serde_json::Value) -> Option<Endpoint> {
        let obj = body.as_object()?;
        let has = |k: &str| obj.contains_key(k);
        if has("messages") {
            Some(Endpoint::ChatV2)
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
            Endpoint::ChatV2 | Endpoint::ChatV1 | Endpoint::Generate
        )
    }

    /// True for endpoints whose every operation sends a body (chat, embed, rerank, …): a request to one without
    /// a body is a mistake in the input, not a request to replay. The others (lists, gets, deletes, cancels)
    /// replay without one.
    pub(crate) fn requires_body(self) -> bool {
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
        )
    }
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
/// use cohere_bundle::Platform;
/// let p = Platform::from_url("https://my-endpoint.eastus.models.ai.azure.com");
/// assert_eq!((p, p.name(), p.is_aws()), (Platform::Azure, "azure", false));
/// assert_eq!(Platform::from_url("http://localhost:8080"), Platform::Cohere);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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

/// One row of the support FAQ's error table.
///
/// See the [module example](crate::cohere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaqError {
    /// The HTTP status.
    pub status: u16,
    /// The FAQ's words for it.
    pub meaning: &'static str,
    /// True where the FAQ adds "(not relevant on AWS)".
    pub not_relevant_on_aws: bool,
}

/// The support FAQ's error table, in the FAQ's order.
///
/// See the [module example](crate::cohere).
pub const FAQ_ERRORS: [FaqError; 6] = [
    FaqError {
        status: 400,
        meaning: "invalid combination of parameters",
        not_relevant_on_aws: false,
    },
    FaqError {
        status: 422,
        meaning: "request is malformed (eg: unsupported enum value, unknown param)",
        not_relevant_on_aws: false,
    },
    FaqError {
        status: 499,
        meaning: "request is canceled by the user",
        not_relevant_on_aws: false,
    },
    FaqError {
        status: 401,
        meaning: "invalid api token",
        not_relevant_on_aws: true,
    },
    FaqError {
        status: 404,
        meaning: "model not found",
        not_relevant_on_aws: true,
    },
    FaqError {
        status: 429,
        meaning: "rate limit reached",
        not_relevant_on_aws: true,
    },
];

/// The FAQ's meaning of a status on a platform, or the API reference's where the FAQ is silent.
/// On AWS the FAQ's 401/404/429 rows do not apply and AWS's own meanings are given instead.
///
/// See the [module example](crate::cohere).
pub fn status_meaning(status: u16, platform: Platform) -> Option<String> {
    if platform.is_aws() {
        let aws = match status {
            400 => Some("ValidationException: the request body is not valid for this model"),
            403 => Some("AccessDeniedException: the IAM identity may not invoke this model, or model access is not granted"),
            404 => Some("ResourceNotFoundException: the model ID or endpoint does not exist in this region (the FAQ's 404 row is not relevant on AWS)"),
            408 => Some("ModelTimeoutException: the model took too long to respond"),
            424 => Some("ModelErrorException: the model returned an error while processing the request"),
            429 => Some("ThrottlingException: the account's AWS quota was exceeded (the FAQ's 429 row is not relevant on AWS)"),
            500 => Some("InternalServerException: an AWS-side failure"),
            503 => Some("ServiceUnavailableException: the service is temporarily unavailable"),
            _ => None,
        };
        if let Some(m) = aws {
            return Some(m.to_string());
        }
    }
    if let Some(row) = FAQ_ERRORS.iter().find(|r| r.status == status) {
        return Some(row.meaning.to_string());
    }
    let api = match status {
        402 => {
            "payment required: add or update the payment method, or the billing maximum was reached"
        }
        403 => "forbidden: the key may not use this model or feature",
        498 => "the request or response contains a deny-listed token",
        500 => "internal server error at Cohere",
        501 => "not implemented",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "gateway timeout",
        _ => return None,
    };
    Some(api.to_string())
}

/// A likely cause of a failure: the vocabulary of `summary.json`'s `causes[].code`.
///
/// ```
/// use cohere_bundle::cohere::{CauseCode, Side};
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
}

impl CauseCode {
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
            | CauseCode::ClientCanceled => Side::User,
            CauseCode::ServerError | CauseCode::ServiceUnavailable | CauseCode::GatewayTimeout => {
                Side::Cohere
            }
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

/// Published limits of a model, used when `GET /v1/models/{model}` cannot be asked.
///
/// See the [module example](crate::cohere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    /// The model ID.
    pub name: &'static str,
    /// Context window in tokens (input + output).
    pub context_length: u32,
    /// Maximum output tokens, where the model generates.
    pub max_output_tokens: Option<u32>,
}

/// The models table of Cohere's docs (models.mdx). Prefer `context_length` from the models API.
///
/// See the [module example](crate::cohere).
pub const KNOWN_MODELS: &[ModelInfo] = &[
    ModelInfo {
        name: "command-a-03-2025",
        context_length: 256_000,
        max_output_tokens: Some(8_000),
    },
    ModelInfo {
        name: "command-a-reasoning-08-2025",
        context_length: 256_000,
        max_output_tokens: Some(32_000),
    },
    ModelInfo {
        name: "command-a-vision-07-2025",
        context_length: 128_000,
        max_output_tokens: Some(8_000),
    },
    ModelInfo {
        name: "command-a-plus-05-2026",
        context_length: 128_000,
        max_output_tokens: Some(64_000),
    },
    ModelInfo {
        name: "command-a-translate-08-2025",
        context_length: 8_000,
        max_output_tokens: Some(8_000),
    },
    ModelInfo {
        name: "command-r7b-12-2024",
        context_length: 128_000,
        max_output_tokens: Some(4_000),
    },
    ModelInfo {
        name: "command-r-08-2024",
        context_length: 128_000,
        max_output_tokens: Some(4_000),
    },
    ModelInfo {
        name: "command-r-plus-08-2024",
        context_length: 128_000,
        max_output_tokens: Some(4_000),
    },
    ModelInfo {
        name: "embed-v4.0",
        context_length: 128_000,
        max_output_tokens: None,
    },
    ModelInfo {
        name: "embed-english-v3.0",
        context_length: 512,
        max_output_tokens: None,
    },
    ModelInfo {
        name: "embed-multilingual-v3.0",
        context_length: 512,
        max_output_tokens: None,
    },
    ModelInfo {
        name: "embed-english-light-v3.0",
        context_length: 512,
        max_output_tokens: None,
    },
    ModelInfo {
        name: "embed-multilingual-light-v3.0",
        context_length: 512,
        max_output_tokens: None,
    },
    ModelInfo {
        name: "rerank-v4.0",
        context_length: 32_000,
        max_output_tokens: None,
    },
    ModelInfo {
        name: "rerank-v3.5",
        context_length: 4_096,
        max_output_tokens: None,
    },
    ModelInfo {
        name: "rerank-english-v3.0",
        context_length: 4_096,
        max_output_tokens: None,
    },
    ModelInfo {
        name: "rerank-multilingual-v3.0",
        context_length: 4_096,
        max_output_tokens: None,
    },
];

/// Looks a model up in [`KNOWN_MODELS`].
///
/// See the [module example](crate::cohere).
pub fn known_model(name: &str) -> Option<&'static ModelInfo> {
    KNOWN_MODELS.iter().find(|m| m.name == name)
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
    fn faq_table_and_aws_meanings() {
        assert_eq!(
            status_meaning(422, Platform::Cohere).unwrap(),
            FAQ_ERRORS[1].meaning
        );
        assert!(status_meaning(424, Platform::Bedrock)
            .unwrap()
            .starts_with("ModelErrorException"));
        assert!(status_meaning(429, Platform::Bedrock)
            .unwrap()
            .contains("not relevant on AWS"));
        assert_eq!(
            status_meaning(429, Platform::Cohere).unwrap(),
            "rate limit reached"
        );
        assert_eq!(status_meaning(418, Platform::Cohere), None);
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
