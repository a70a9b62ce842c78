//! What the tool knows about Cohere, as data: models, endpoints, HTTP statuses and cloud platforms' error
//! types, each entry with the doc page it comes from and that page's date.
//!
//! The data lives in `knowledge/*.toml` at the root of the repository, in the manner of Nosey Parker's rule
//! files. The files are built into the library with `include_str!` and parsed once, on first use. The
//! diagnosis reads them and branches on no model name; `tests/knowledge_docs.rs` reads Cohere's docs
//! snapshot and fails when a model, a limit, a retirement or a replacement differs from the data.
//!
//! ```
//! use cohere_bundle_knowledge::knowledge::{knowledge, LimitScope, ModelStatus, OverCap};
//! use cohere_bundle_knowledge::{CauseCode, Platform};
//!
//! let k = knowledge();
//! // Models: by id, by alias, or by a cloud platform's id.
//! let m = k.model("command-a-03-2025").unwrap();
//! assert_eq!((m.context_length, m.max_output, m.status), (Some(256_000), Some(8_000), ModelStatus::Live));
//! assert!(m.source.ends_with(".mdx"));
//! assert!(k.model("rerank-v4.0").is_none(), "not a model ID");
//! assert!(k.model("rerank-v4.0-pro").is_some());
//!
//! // Endpoints: how their limits apply.
//! let embed = k.endpoint("v2/embed").unwrap();
//! assert_eq!(embed.limit_scope, LimitScope::Text);
//! assert_eq!(k.endpoint("v2/chat").unwrap().over_output_cap, OverCap::Capped);
//!
//! // Statuses: the spec's and the docs' meanings; the FAQ's words only on the FAQ's rows.
//! let s = k.status(501, Platform::Cohere).unwrap();
//! assert_eq!(s.cause, CauseCode::NotImplemented);
//! assert!(s.faq.is_none());
//! assert_eq!(k.status(422, Platform::Cohere).unwrap().faq.as_deref(),
//!            Some("request is malformed (eg: unsupported enum value, unknown param)"));
//!
//! // Cloud platforms' own error types.
//! let e = k.platform_error(Platform::Bedrock, "ModelNotReadyException").unwrap();
//! assert_eq!((e.status, e.cause, e.retryable), (429, CauseCode::ModelNotReady, true));
//! ```

use std::sync::OnceLock;

use serde::Deserialize;

use crate::cohere::{CauseCode, Platform};

/// The date of the docs snapshot the data was checked against (`../shared/cohere-docs/README.md`).
///
/// See the [module example](crate::knowledge).
pub const DOCS_SNAPSHOT: &str = "2026-08-20";

const MODELS: &str = include_str!("../data/models.toml");
const ENDPOINTS: &str = include_str!("../data/endpoints.toml");
const STATUSES: &str = include_str!("../data/statuses.toml");
const PLATFORM_ERRORS: &str = include_str!("../data/platform_errors.toml");

/// Everything the tool knows about Cohere. Get it with [`knowledge()`].
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Knowledge {
    /// Every model the docs name: live, deprecated and retired.
    pub models: Vec<Model>,
    /// Every endpoint whose limits the diagnosis reasons about.
    pub endpoints: Vec<EndpointSpec>,
    /// HTTP statuses, per platform.
    pub statuses: Vec<StatusSpec>,
    /// Cloud platforms' own error types (Bedrock's `x-amzn-ErrorType`, Azure's and OCI's error codes).
    pub platform_errors: Vec<PlatformError>,
}

/// A model's life cycle on Cohere's API.
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    /// Served and supported.
    Live,
    /// Announced for retirement: still served to existing users.
    Deprecated,
    /// Shut down: requests fail.
    Retired,
}

impl ModelStatus {
    /// The lower-case name, as in the data.
    ///
    /// See the [module example](crate::knowledge).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Live => "live",
            ModelStatus::Deprecated => "deprecated",
            ModelStatus::Retired => "retired",
        }
    }
}

/// A model's ids on the cloud platforms. `(per deployment)` where the platform names each deployment.
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PlatformIds {
    /// Amazon Bedrock model ids.
    #[serde(default)]
    pub bedrock: Vec<String>,
    /// Amazon SageMaker.
    #[serde(default)]
    pub sagemaker: Vec<String>,
    /// Azure AI Foundry.
    #[serde(default)]
    pub azure: Vec<String>,
    /// Oracle Cloud Infrastructure Generative AI.
    #[serde(default)]
    pub oci: Vec<String>,
}

/// Where two doc pages disagree about a field of a model: the other page's figure. The data keeps the
/// entry's own figure and this one, and the report says so.
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Conflict {
    /// The field, e.g. `context_length`.
    pub field: String,
    /// The other page's value, as text.
    pub value: String,
    /// The other page.
    pub source: String,
    /// What the other page says, in a few words.
    pub says: String,
}

/// One model, as Cohere's docs describe it.
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Model {
    /// The model ID.
    pub id: String,
    /// Other ids that name the same model.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The family (`command`, `embed`, `rerank`, `aya`, …).
    pub family: String,
    /// The endpoints that serve it (`v2/chat`, …).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Context window in tokens.
    pub context_length: Option<u64>,
    /// Maximum output tokens.
    pub max_output: Option<u64>,
    /// Embed: tokens per text. Rerank: tokens per query and document.
    pub per_input_limit: Option<u64>,
    /// Texts (embed) or documents (rerank) per call.
    pub max_inputs: Option<u64>,
    /// Live, deprecated or retired.
    pub status: ModelStatus,
    /// When it was deprecated.
    pub deprecated_on: Option<String>,
    /// When it was (or will be) shut down.
    pub retired_on: Option<String>,
    /// The docs' recommended replacements, in their order.
    #[serde(default)]
    pub replacements: Vec<String>,
    /// Whether it thinks before answering (`thinking`).
    #[serde(default)]
    pub reasoning: bool,
    /// Its ids on the cloud platforms.
    #[serde(default)]
    pub platforms: PlatformIds,
    /// Where doc pages disagree about it.
    #[serde(default)]
    pub conflicts: Vec<Conflict>,
    /// The doc page (a path under the docs snapshot) the entry comes from.
    pub source: String,
    /// That page's date.
    pub as_of: String,
}

impl Model {
    /// The disagreements recorded for `field`.
    ///
    /// See the [module example](crate::knowledge).
    pub fn conflicts_on<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a Conflict> + 'a {
        self.conflicts.iter().filter(move |c| c.field == field)
    }

    /// True when `name` is this model's id or one of its aliases or platform ids.
    fn answers_to(&self, name: &str) -> bool {
        let p = &self.platforms;
        self.id == name
            || self.aliases.iter().any(|a| a == name)
            || [&p.bedrock, &p.azure, &p.oci]
                .into_iter()
                .flatten()
                .any(|id| id.eq_ignore_ascii_case(name))
    }
}

/// How an endpoint applies a model's context length.
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// Input and output of one request (chat, generate).
    Request,
    /// Each text on its own (embed).
    Text,
    /// The query with each document (rerank).
    Document,
    /// No token limit applies.
    None,
}

/// What the API does with an output cap above the model's maximum.
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverCap {
    /// The generation is capped at the model's maximum, silently.
    Capped,
    /// The request is refused.
    Refused,
    /// The spec does not say (and for endpoints with no output cap).
    #[default]
    Unknown,
}

/// One endpoint: its body, which fields are model input, which cap the output, and how limits apply.
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EndpointSpec {
    /// The tool's name for it (`v2/chat`).
    pub name: String,
    /// The HTTP method.
    pub method: String,
    /// `json`, `multipart` or `none`.
    pub body: String,
    /// Top-level body fields that are model input.
    #[serde(default)]
    pub input_fields: Vec<String>,
    /// Body fields that cap the output.
    #[serde(default)]
    pub output_caps: Vec<String>,
    /// What the API does with an output cap above the model's maximum.
    #[serde(default)]
    pub over_output_cap: OverCap,
    /// How the context length applies.
    pub limit_scope: LimitScope,
    /// The list a per-call maximum applies to (`texts`, `documents`).
    pub max_inputs_field: Option<String>,
    /// The field that controls truncation.
    pub truncate_field: Option<String>,
    /// Its default, when it has one.
    pub truncate_default: Option<String>,
    /// The spec location or doc page.
    pub source: String,
    /// Its date.
    pub as_of: String,
}

/// What an HTTP status means on one platform.
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StatusSpec {
    /// The HTTP status.
    pub status: u16,
    /// The platform it is documented for.
    pub platform: Platform,
    /// The reason phrase.
    pub name: String,
    /// What it means, from the source.
    pub meaning: String,
    /// The support FAQ's words, only for the statuses the FAQ lists.
    pub faq: Option<String>,
    /// True where the FAQ adds "(not relevant on AWS)".
    #[serde(default)]
    pub faq_not_relevant_on_aws: bool,
    /// The cause it points to when nothing more specific is known.
    pub cause: CauseCode,
    /// Whether retrying the same request can succeed.
    pub retryable: bool,
    /// What to do next.
    pub next_step: String,
    /// The doc page or spec location.
    pub source: String,
    /// Its date.
    pub as_of: String,
}

/// A cloud platform's own error type: Bedrock's and SageMaker's `x-amzn-ErrorType`, Azure's `error.code`,
/// OCI's `code`.
///
/// See the [module example](crate::knowledge).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PlatformError {
    /// The platform.
    pub platform: Platform,
    /// The error type's name.
    #[serde(rename = "type")]
    pub error_type: String,
    /// The HTTP status it comes with.
    pub status: u16,
    /// The cause it means.
    pub cause: CauseCode,
    /// What it means.
    pub meaning: String,
    /// Whether retrying can succeed.
    pub retryable: bool,
    /// What to do next on that platform.
    pub next_step: String,
    /// Only a streaming call can get it (Bedrock's `InvokeModelWithResponseStream`).
    #[serde(default)]
    pub stream_only: bool,
    /// The platform's public doc page.
    pub source: String,
    /// Its date.
    pub as_of: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsFile {
    model: Vec<Model>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointsFile {
    endpoint: Vec<EndpointSpec>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusesFile {
    status: Vec<StatusSpec>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformErrorsFile {
    error: Vec<PlatformError>,
}

fn parse<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> T {
    toml::from_str(text).unwrap_or_else(|e| panic!("knowledge/{file} does not parse: {e}"))
}

/// The knowledge built into the library, parsed on first use.
///
/// The files are checked by this crate's tests (they parse, every entry has a source), so a parse failure
/// here cannot ship.
///
/// See the [module example](crate::knowledge).
pub fn knowledge() -> &'static Knowledge {
    static K: OnceLock<Knowledge> = OnceLock::new();
    K.get_or_init(|| Knowledge {
        models: parse::<ModelsFile>("models.toml", MODELS).model,
        endpoints: parse::<EndpointsFile>("endpoints.toml", ENDPOINTS).endpoint,
        statuses: parse::<StatusesFile>("statuses.toml", STATUSES).status,
        platform_errors: parse::<PlatformErrorsFile>("platform_errors.toml", PLATFORM_ERRORS).error,
    })
}

impl Knowledge {
    /// The model `name` names: its id, an alias, or a Bedrock, Azure or OCI id (case-insensitive for those).
    /// A Bedrock id with a region prefix (`us.cohere.…`) is found too.
    ///
    /// See the [module example](crate::knowledge).
    pub fn model(&self, name: &str) -> Option<&Model> {
        let name = name.trim();
        self.models.iter().find(|m| m.answers_to(name)).or_else(|| {
            let (_, rest) = name.split_once('.')?;
            rest.starts_with("cohere.")
                .then(|| self.models.iter().find(|m| m.answers_to(rest)))
                .flatten()
        })
    }

    /// The endpoint named `name` (`v2/chat`).
    ///
    /// See the [module example](crate::knowledge).
    pub fn endpoint(&self, name: &str) -> Option<&EndpointSpec> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// What `status` means on `platform`: the platform's own entry, else Cohere's. A private deployment
    /// reads Cohere's.
    ///
    /// See the [module example](crate::knowledge).
    pub fn status(&self, status: u16, platform: Platform) -> Option<&StatusSpec> {
        let find = |p: Platform| {
            self.statuses
                .iter()
                .find(|s| s.status == status && s.platform == p)
        };
        find(platform).or_else(|| find(Platform::Cohere))
    }

    /// The support FAQ's row for `status`, if the FAQ lists it.
    ///
    /// See the [module example](crate::knowledge).
    pub fn faq(&self, status: u16) -> Option<&StatusSpec> {
        self.statuses
            .iter()
            .find(|s| s.status == status && s.platform == Platform::Cohere && s.faq.is_some())
    }

    /// A platform's error type (`ServiceQuotaExceededException`), matched without case.
    ///
    /// See the [module example](crate::knowledge).
    pub fn platform_error(&self, platform: Platform, error_type: &str) -> Option<&PlatformError> {
        self.platform_errors
            .iter()
            .find(|e| e.platform == platform && e.error_type.eq_ignore_ascii_case(error_type))
    }

    /// Live models close to `name` (same prefix or a small edit distance), nearest first, at most three.
    ///
    /// See the [module example](crate::knowledge).
    pub fn similar_models(&self, name: &str) -> Vec<&Model> {
        let mut scored: Vec<(usize, &Model)> = self
            .models
            .iter()
            .filter(|m| m.status != ModelStatus::Retired && m.id != name)
            .filter_map(|m| {
                let prefix = m.id.starts_with(name) && name.len() >= 6;
                let d = if prefix {
                    0
                } else {
                    edit_distance(name, &m.id)
                };
                (d <= name.len().max(4) / 2).then_some((d, m))
            })
            .collect();
        scored.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        scored.into_iter().take(3).map(|(_, m)| m).collect()
    }
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_parses_and_every_entry_has_a_source_and_a_date() {
        let k = knowledge();
        assert!(!k.models.is_empty() && !k.endpoints.is_empty() && !k.statuses.is_empty());
        let entries = k
            .models
            .iter()
            .map(|m| (&m.id, &m.source, &m.as_of))
            .chain(k.endpoints.iter().map(|e| (&e.name, &e.source, &e.as_of)))
            .chain(k.statuses.iter().map(|s| (&s.name, &s.source, &s.as_of)))
            .chain(
                k.platform_errors
                    .iter()
                    .map(|e| (&e.error_type, &e.source, &e.as_of)),
            );
        for (name, source, as_of) in entries {
            assert!(!source.trim().is_empty(), "{name} has no source");
            assert!(
                chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d").is_ok(),
                "{name}: as_of {as_of:?} is not a date"
            );
        }
        for m in &k.models {
            for d in m.deprecated_on.iter().chain(&m.retired_on) {
                assert!(
                    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok(),
                    "{}: {d:?} is not a date",
                    m.id
                );
            }
            for r in &m.replacements {
                assert!(
                    k.model(r).is_some(),
                    "{}: replacement {r} is not a model",
                    m.id
                );
            }
        }
    }

    #[test]
    fn ids_and_aliases_name_one_model_each() {
        let k = knowledge();
        let mut seen = std::collections::HashSet::new();
        for m in &k.models {
            for name in std::iter::once(&m.id).chain(&m.aliases) {
                assert!(seen.insert(name.clone()), "{name} names two models");
            }
        }
    }

    #[test]
    fn every_endpoint_name_is_an_endpoint_of_the_tool() {
        for e in &knowledge().endpoints {
            assert!(
                crate::cohere::Endpoint::from_name(&e.name).is_some(),
                "{} is not an endpoint name",
                e.name
            );
        }
    }

    #[test]
    fn similar_models_finds_the_real_ids() {
        let k = knowledge();
        let ids: Vec<&str> = k
            .similar_models("command-r-plus-08-2025")
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(ids.first(), Some(&"command-r-plus-08-2024"));
        let ids: Vec<&str> = k
            .similar_models("rerank-v4.0")
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        assert!(
            ids.contains(&"rerank-v4.0-pro") && ids.contains(&"rerank-v4.0-fast"),
            "{ids:?}"
        );
        assert!(k.similar_models("zzzzzzzzzzzzzzzzzzzz").is_empty());
    }
}
