//! Shared. Layer 4 (opt-in): prompt, document and completion text replaced by placeholders that keep its length.

use serde_json::Value;

use super::Scrubber;
use crate::cohere::Endpoint;

/// The placeholder for `chars` characters of content: `[CONTENT:412 chars]`, padded with dots to exactly
/// `chars` characters when the text was longer than the placeholder, so lengths (and offsets) are kept.
///
/// ```
/// use cohere_bundle_core::scrub::content_placeholder;
/// let p = content_placeholder(40);
/// assert!(p.starts_with("[CONTENT:40 chars]"));
/// assert_eq!(p.chars().count(), 40);
/// ```
pub fn content_placeholder(chars: usize) -> String {
    let mut p = format!("[CONTENT:{chars} chars]");
    let n = p.chars().count();
    if chars > n {
        p.extend(std::iter::repeat_n('.', chars - n));
    }
    p
}

/// Keys whose values (all strings below them) are user content.
const CONTENT_KEYS: &[&str] = &[
    "text",
    "texts",
    "content",
    "prompt",
    "preamble",
    "query",
    "documents",
    "document",
    "inputs",
    "examples",
    "chat_history",
    "token_strings",
    "tool_plan",
    "generations",
    "input",
    "snippet",
    "message",
    "messages",
    "raw_prompt",
    "search_queries",
    "tool_results",
    "outputs",
    "arguments",
    "images",
    "image_url",
];

/// Keys kept inside content: structure, never text.
const KEEP_KEYS: &[&str] = &[
    "type",
    "role",
    "id",
    "document_id",
    "model",
    "tool_call_id",
    "finish_reason",
    "usage",
    "meta",
    "billed_units",
    "tokens",
    "index",
    "relevance_score",
    "start",
    "end",
    "generation_id",
    "response_id",
    "is_finished",
    "event_type",
    "api_version",
    "warnings",
    "error",
    "errors",
];

/// Keys never descended into: error messages, request ids, model names, counts.
const NEVER: &[&str] = &[
    "error",
    "errors",
    "detail",
    "details",
    "meta",
    "usage",
    "id",
    "model",
    "request_id",
    "warnings",
];

/// Sibling keys that make a top-level `message` string a chat request rather than an error message.
const CHAT_SIBLINGS: &[&str] = &[
    "model",
    "chat_history",
    "preamble",
    "documents",
    "stream",
    "temperature",
    "connectors",
    "conversation_id",
    "tools",
    "max_tokens",
    "prompt_truncation",
    "p",
    "k",
    "seed",
    "response_format",
];

impl Scrubber {
    /// Replaces prompt, document and completion text of a request or response body of `endpoint` with
    /// [`content_placeholder`]s. Model names, request ids, token counts and error messages are kept. Returns
    /// the number of strings replaced. Does not touch the redaction report; see [`Scrubber::redact_content_in`].
    ///
    /// ```
    /// use cohere_bundle_core::scrub::{ScrubOptions, Scrubber};
    /// use cohere_bundle_core::Endpoint;
    /// let mut body = serde_json::json!({
    ///     "model": "command-a-03-2025",
    ///     "messages": [{"role": "user", "content": "our secret launch plan"}],
    /// });
    /// let scrubber = Scrubber::new(ScrubOptions::default().redact_content(true));
    /// assert_eq!(scrubber.redact_content(Endpoint::ChatV2, &mut body), 1);
    /// assert_eq!(body["model"], "command-a-03-2025");
    /// assert_eq!(body["messages"][0]["content"].as_str().unwrap().len(), "our secret launch plan".len());
    /// ```
    pub fn redact_content(&self, endpoint: Endpoint, value: &mut Value) -> usize {
        if matches!(endpoint, Endpoint::Models | Endpoint::CheckApiKey) {
            return 0;
        }
        let mut n = 0;
        walk(value, false, true, &mut n);
        n
    }

    /// [`Scrubber::redact_content`], counting the replacements in the report under `member`.
    ///
    /// Example: [`Scrubber::redact_content`] (the same call, without the report).
    pub fn redact_content_in(&self, member: &str, endpoint: Endpoint, value: &mut Value) -> usize {
        let n = self.redact_content(endpoint, value);
        if n > 0 {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let c = state
                .report
                .members
                .entry(member.to_string())
                .or_default()
                .entry("content".into())
                .or_default();
            c.count += n as u64;
        }
        n
    }
}

fn walk(v: &mut Value, in_content: bool, top: bool, n: &mut usize) {
    match v {
        Value::String(s) if in_content && !s.starts_with("[CONTENT:") && !s.is_empty() => {
            *s = content_placeholder(s.chars().count());
            *n += 1;
        }
        Value::Array(a) => a.iter_mut().for_each(|x| walk(x, in_content, false, n)),
        Value::Object(o) => {
            let chat = o.keys().any(|k| CHAT_SIBLINGS.contains(&k.as_str()));
            for (k, x) in o.iter_mut() {
                let k = k.as_str();
                if in_content {
                    if !KEEP_KEYS.contains(&k) {
                        walk(x, true, false, n);
                    }
                } else if NEVER.contains(&k) {
                    continue;
                } else if CONTENT_KEYS.contains(&k) {
                    // A top-level `message` string without chat siblings is an error message: keep it.
                    if k == "message" && top && x.is_string() && !chat {
                        continue;
                    }
                    walk(x, true, false, n);
                } else {
                    walk(x, false, false, n);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::ScrubOptions;

    #[test]
    fn placeholder_keeps_length() {
        assert_eq!(content_placeholder(40).chars().count(), 40);
        assert!(content_placeholder(3).starts_with("[CONTENT:3 chars]"));
    }

    #[test]
    fn redacts_text_keeps_structure_and_errors() {
        let s = Scrubber::new(ScrubOptions::default());
        let mut req = serde_json::json!({"model": "command-r", "max_tokens": 10,
            "messages": [{"role": "user", "content": "a secret plan for the launch"}]});
        assert_eq!(s.redact_content(Endpoint::ChatV2, &mut req), 1);
        assert_eq!(req["model"], "command-r");
        assert_eq!(req["messages"][0]["role"], "user");
        assert_eq!(
            req["messages"][0]["content"]
                .as_str()
                .map(|c| c.chars().count()),
            Some(28)
        );
        let mut err = serde_json::json!({"id": "abc", "message": "too many tokens: 5000 > 4096"});
        assert_eq!(s.redact_content(Endpoint::ChatV2, &mut err), 0);
        assert_eq!(err["message"], "too many tokens: 5000 > 4096");
    }
}
