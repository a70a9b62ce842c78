//! Which texts of a request count toward its sequence length, per endpoint. The simulator and the
//! tool's own counting both use this, so their counts agree.
//!
//! ```
//! use cohere_bundle_knowledge::tokens::{estimate_tokens, has_input_texts, input_chars, input_texts};
//! use cohere_bundle_knowledge::Endpoint;
//!
//! let body = serde_json::json!({"model": "command-a-03-2025", "messages": [
//!     {"role": "system", "content": "Be brief."},
//!     {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
//! ]});
//! assert_eq!(input_texts(Endpoint::ChatV2, &body), ["Be brief.", "Hello"]);
//! assert_eq!(input_chars(Endpoint::ChatV2, &body), 14);
//! assert_eq!(estimate_tokens(14), 4);
//! assert!(has_input_texts(Endpoint::EmbedV2));
//! assert!(!has_input_texts(Endpoint::Models));
//! ```

use serde_json::Value;

use crate::cohere::Endpoint;

fn push_str<'a>(out: &mut Vec<&'a str>, v: Option<&'a Value>) {
    if let Some(s) = v.and_then(Value::as_str) {
        out.push(s);
    }
}

/// Pushes every string found anywhere inside `v` (object values and array items, not keys).
fn push_all_strings<'a>(out: &mut Vec<&'a str>, v: &'a Value) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| push_all_strings(out, x)),
        Value::Object(o) => o.values().for_each(|x| push_all_strings(out, x)),
        _ => {}
    }
}

/// v2 message content: a string, or a list of parts of which `{type:"text", text}` and (tool results)
/// `{type:"document", document}` count; images do not.
fn push_content<'a>(out: &mut Vec<&'a str>, content: Option<&'a Value>) {
    match content {
        Some(Value::String(s)) => out.push(s),
        Some(Value::Array(parts)) => {
            for p in parts {
                match p {
                    Value::String(s) => out.push(s),
                    Value::Object(o) => {
                        match o.get("type").and_then(Value::as_str).unwrap_or("text") {
                            "text" => push_str(out, o.get("text")),
                            "document" => {
                                if let Some(d) = o.get("document") {
                                    push_all_strings(out, d);
                                }
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// The texts an endpoint sends to the model, in request order:
/// - v2 chat: message contents of every role (text parts; a tool message's document parts and legacy
///   `tool_results`), tool plans and tool call arguments, documents, tools;
/// - v1 chat: preamble, chat_history messages (and their tool_results), message, documents, tools, tool_results;
/// - embed: texts (and text parts of inputs); rerank: query and documents;
/// - generate: prompt; classify: inputs and example texts; tokenize and summarize: text;
/// - the compatibility API's chat completions: message contents of every role (a string or text parts), tool
///   call arguments, tools; its embeddings: `input` (a string or a list of strings).
///
/// Example: [`crate::tokens`].
pub fn input_texts(endpoint: Endpoint, body: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    match endpoint {
        Endpoint::ChatV2 => chat_v2_texts(&mut out, body),
        Endpoint::ChatV1 => chat_v1_texts(&mut out, body),
        Endpoint::EmbedV2 | Endpoint::EmbedV1 => {
            for t in array(body, "texts") {
                push_str(&mut out, Some(t));
            }
            for i in array(body, "inputs") {
                push_content(&mut out, i.get("content"));
            }
        }
        Endpoint::RerankV2 | Endpoint::RerankV1 => {
            push_str(&mut out, body.get("query"));
            for d in array(body, "documents") {
                match d {
                    Value::String(s) => out.push(s),
                    other => push_all_strings(&mut out, other),
                }
            }
        }
        Endpoint::Generate => push_str(&mut out, body.get("prompt")),
        Endpoint::Classify => {
            for t in array(body, "inputs") {
                push_str(&mut out, Some(t));
            }
            for e in array(body, "examples") {
                push_str(&mut out, e.get("text"));
            }
        }
        Endpoint::Tokenize | Endpoint::Summarize => push_str(&mut out, body.get("text")),
        Endpoint::CompatChatCompletions => compat_chat_texts(&mut out, body),
        Endpoint::CompatEmbeddings => match body.get("input") {
            // A string or a list of strings; token arrays (lists of integers) carry no text.
            Some(Value::Array(items)) => items.iter().for_each(|t| push_str(&mut out, Some(t))),
            other => push_str(&mut out, other),
        },
        _ => {}
    }
    out
}

/// The items of the array `v[k]`; none when it is missing or not an array.
fn array<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// v2 chat: each message's content, tool plan, legacy tool results and tool call arguments; then the
/// documents and the tools.
fn chat_v2_texts<'a>(out: &mut Vec<&'a str>, body: &'a Value) {
    for m in array(body, "messages") {
        push_content(out, m.get("content"));
        push_str(out, m.get("tool_plan"));
        for r in array(m, "tool_results") {
            push_all_strings(out, r);
        }
        for call in array(m, "tool_calls") {
            push_str(out, call.pointer("/function/arguments"));
        }
    }
    for d in array(body, "documents") {
        push_all_strings(out, d);
    }
    for t in array(body, "tools") {
        push_all_strings(out, t);
    }
}

/// The compatibility API's chat completions (OpenAI's shape): each message's content (a string or a list of
/// parts, of which `{"type":"text","text"}` counts), its tool call and legacy `function_call` arguments; then
/// the tools and legacy functions.
fn compat_chat_texts<'a>(out: &mut Vec<&'a str>, body: &'a Value) {
    for m in array(body, "messages") {
        push_content(out, m.get("content"));
        for call in array(m, "tool_calls") {
            push_str(out, call.pointer("/function/arguments"));
        }
        push_str(out, m.pointer("/function_call/arguments"));
    }
    for t in array(body, "tools").iter().chain(array(body, "functions")) {
        push_all_strings(out, t);
    }
}

/// v1 chat: the preamble, each chat_history message (and its tool results), the message, then the
/// documents, the tools and the tool results.
fn chat_v1_texts<'a>(out: &mut Vec<&'a str>, body: &'a Value) {
    push_str(out, body.get("preamble"));
    for m in array(body, "chat_history") {
        push_str(out, m.get("message"));
        for r in array(m, "tool_results") {
            push_all_strings(out, r);
        }
    }
    push_str(out, body.get("message"));
    for d in array(body, "documents") {
        push_all_strings(out, d);
    }
    for t in array(body, "tools") {
        push_all_strings(out, t);
    }
    for r in array(body, "tool_results") {
        push_all_strings(out, r);
    }
}

/// True for endpoints whose requests carry input text that [`input_texts`] finds. For the others (model and
/// key checks, datasets, connectors, jobs, fine-tuning, unknown paths) a sequence length means nothing.
///
/// Example: [`crate::tokens`].
pub fn has_input_texts(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::ChatV2
            | Endpoint::ChatV1
            | Endpoint::EmbedV2
            | Endpoint::EmbedV1
            | Endpoint::RerankV2
            | Endpoint::RerankV1
            | Endpoint::Generate
            | Endpoint::Classify
            | Endpoint::Tokenize
            | Endpoint::Summarize
            | Endpoint::CompatChatCompletions
            | Endpoint::CompatEmbeddings
    )
}

/// The generation max tokens a body asks for: `max_tokens`, else `max_completion_tokens` (the name OpenAI's
/// Chat Completions API gives it, which the OpenAI SDKs send to the compatibility API). `None` when neither is
/// a non-negative integer: the model's default applies.
///
/// ```
/// use cohere_bundle_knowledge::tokens::max_tokens;
/// assert_eq!(max_tokens(&serde_json::json!({"max_tokens": 50})), Some(50));
/// assert_eq!(max_tokens(&serde_json::json!({"max_completion_tokens": 70})), Some(70));
/// assert_eq!(max_tokens(&serde_json::json!({"messages": []})), None);
/// ```
pub fn max_tokens(body: &Value) -> Option<u64> {
    MAX_TOKENS_FIELDS
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
}

/// The body fields that hold the generation max tokens, in the order [`max_tokens`] reads them.
///
/// Example: [`max_tokens`].
pub const MAX_TOKENS_FIELDS: [&str; 2] = ["max_tokens", "max_completion_tokens"];

/// Characters of all input texts.
///
/// Example: [`crate::tokens`].
pub fn input_chars(endpoint: Endpoint, body: &Value) -> u64 {
    input_texts(endpoint, body)
        .iter()
        .map(|s| s.chars().count() as u64)
        .sum()
}

/// The labelled fallback estimate: about four characters a token.
///
/// Example: [`crate::tokens`].
pub fn estimate_tokens(chars: u64) -> u64 {
    chars.div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v2_chat_counts_text_parts_documents_and_tools() {
        let body = json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "image_url", "image_url": {"url": "x"}}]},
                {"role": "assistant", "tool_plan": "plan", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}
            ],
            "documents": ["doc", {"data": {"title": "t"}}]
        });
        assert_eq!(
            input_texts(Endpoint::ChatV2, &body),
            vec!["sys", "hello", "plan", "{}", "doc", "t"]
        );
    }

    #[test]
    fn tool_results_count_in_both_chat_versions() {
        let v2 = json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_plan": "p", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [
                {"type": "document", "document": {"id": "d", "data": {"body": "result"}}},
                {"type": "text", "text": "more"}]},
            {"role": "tool", "tool_call_id": "c2", "content": "plain"},
            {"role": "tool", "tool_results": [{"call": {"name": "g"}, "outputs": [{"v": "legacy"}]}]}
        ]});
        assert_eq!(
            input_texts(Endpoint::ChatV2, &v2),
            vec!["q", "p", "{}", "d", "result", "more", "plain", "g", "legacy"]
        );
        let v1 = json!({"message": "m", "chat_history": [
            {"role": "USER", "message": "u"},
            {"role": "TOOL", "tool_results": [{"call": {"name": "f", "parameters": {}}, "outputs": [{"x": "old"}]}]}],
            "tool_results": [{"call": {"name": "f", "parameters": {}}, "outputs": [{"x": "new"}]}]});
        assert_eq!(
            input_texts(Endpoint::ChatV1, &v1),
            vec!["u", "f", "old", "m", "f", "new"]
        );
    }

    #[test]
    fn compat_chat_and_embeddings_count_messages_and_input() {
        let chat = json!({"model": "m", "max_completion_tokens": 9, "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"},
                                          {"type": "image_url", "image_url": {"url": "data:x"}}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "result"}
        ], "tools": [{"type": "function", "function": {"name": "f", "description": "d"}}]});
        assert_eq!(
            input_texts(Endpoint::CompatChatCompletions, &chat),
            vec![
                "be brief",
                "hello",
                "{\"a\":1}",
                "result",
                "function",
                "f",
                "d"
            ]
        );
        let one = json!({"model": "embed-v4.0", "input": "one text"});
        assert_eq!(
            input_texts(Endpoint::CompatEmbeddings, &one),
            vec!["one text"]
        );
        let many = json!({"model": "embed-v4.0", "input": ["a", "bc"], "encoding_format": "float"});
        assert_eq!(input_chars(Endpoint::CompatEmbeddings, &many), 3);
        let token_ids = json!({"model": "embed-v4.0", "input": [[1, 2, 3]]});
        assert!(input_texts(Endpoint::CompatEmbeddings, &token_ids).is_empty());
        assert!(has_input_texts(Endpoint::CompatChatCompletions));
        assert!(!has_input_texts(Endpoint::CompatAudioTranscriptions));
    }

    #[test]
    fn v1_chat_rerank_embed() {
        let v1 = json!({"preamble": "p", "chat_history": [{"role": "USER", "message": "h"}], "message": "m"});
        assert_eq!(input_texts(Endpoint::ChatV1, &v1), vec!["p", "h", "m"]);
        let rr = json!({"query": "q", "documents": ["a", "b"]});
        assert_eq!(input_texts(Endpoint::RerankV2, &rr), vec!["q", "a", "b"]);
        let em = json!({"texts": ["x", "y"]});
        assert_eq!(input_chars(Endpoint::EmbedV2, &em), 2);
        assert_eq!(estimate_tokens(9), 3);
    }
}
