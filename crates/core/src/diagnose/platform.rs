//! Diagnose stage. Cloud platforms' own error types and what a status means where (diagnose stage): Bedrock's and
//! SageMaker's `x-amzn-ErrorType`, Azure's `error.code`, OCI's `code`, read against
//! [`crate::knowledge`].

use crate::cohere::Platform;
use crate::exchange::Exchange;
use crate::knowledge::{knowledge, PlatformError};

/// The error type a platform's response names, if any: the `x-amzn-ErrorType` header (before its `:`), else
/// the body's `__type` (AWS JSON), `error.code` (Azure) or `code` (OCI).
pub(super) fn error_type(e: &Exchange) -> Option<String> {
    if let Some(h) = e.response_header("x-amzn-errortype") {
        let t = h.split(':').next().unwrap_or("").trim();
        if !t.is_empty() {
            return Some(t.to_string());
        }
    }
    let body: serde_json::Value = serde_json::from_str(&e.response.as_ref()?.body.text).ok()?;
    let t = body
        .get("__type")
        .or_else(|| body.pointer("/error/code"))
        .or_else(|| body.get("code"))?
        .as_str()?;
    // `__type` may be a namespaced name (`com.amazon.coral.service#ValidationException`).
    let t = t.rsplit('#').next().unwrap_or(t).trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The knowledge entry of a platform's error type, when the platform is known to have it.
pub(super) fn lookup(platform: Platform, error_type: &str) -> Option<&'static PlatformError> {
    knowledge()
        .platform_error(platform, error_type)
        .or_else(|| {
            // Bedrock and SageMaker share AWS's error vocabulary for the common types.
            let other = match platform {
                Platform::Bedrock => Platform::Sagemaker,
                Platform::Sagemaker => Platform::Bedrock,
                _ => return None,
            };
            knowledge()
                .platform_error(other, error_type)
                .filter(|e| e.error_type.ends_with("Exception"))
        })
}

/// The error types a platform documents for `status`, for a response that named none (a proxy, an SDK or a
/// log that kept only the status). The diagnosis uses them only when they all mean the same cause; when they
/// disagree (Bedrock's 400: `ValidationException` or `ServiceQuotaExceededException`) it says it could not
/// tell which.
/// A type only a streaming call can get is left out for a call that did not stream.
pub(super) fn by_status(
    platform: Platform,
    status: u16,
    streamed: bool,
) -> Vec<&'static PlatformError> {
    knowledge()
        .platform_errors
        .iter()
        .filter(|e| e.platform == platform && e.status == status && (streamed || !e.stream_only))
        .collect()
}

/// What a status means and where that comes from: `(faq words, meaning, meaning source)`. The FAQ's words
/// only for the statuses the FAQ lists, and on AWS not for the rows it marks "not relevant on AWS"; for
/// every other status the tool's meaning, from the platform's error type when there is one, else from the
/// status's entry, with that entry's source.
pub(super) fn meaning(
    status: u16,
    platform: Platform,
    error_type: Option<&str>,
) -> (Option<String>, Option<String>, Option<String>) {
    let k = knowledge();
    let faq = k
        .faq(status)
        .filter(|row| !(platform.is_aws() && row.faq_not_relevant_on_aws))
        .and_then(|row| row.faq.clone());
    if let Some(pe) = error_type.and_then(|t| lookup(platform, t)) {
        // The platform's own error type says more than the status: the FAQ's row for the status is not it.
        return (
            None,
            Some(format!("{}: {}", pe.error_type, pe.meaning)),
            Some(pe.source.clone()),
        );
    }
    if faq.is_some() {
        // The FAQ's own row says it; the tool adds no words of its own beside it.
        return (faq, None, None);
    }
    let spec = k.status(status, platform);
    let mut meaning = spec.map(|s| s.meaning.clone());
    if platform.is_aws() && k.faq(status).is_some_and(|r| r.faq_not_relevant_on_aws) {
        let note = format!("the support FAQ's row for {status} is not relevant on AWS");
        meaning = Some(match meaning {
            Some(m) => format!("{m} ({note})"),
            None => note,
        });
    }
    (faq, meaning, spec.map(|s| s.source.clone()))
}
