//! Diagnose stage. Table arithmetic (diagnose stage): a request's measured input and output caps against the model's
//! documented limits, as the endpoint applies them ([`crate::knowledge::EndpointSpec`]). The arithmetic
//! supports the API's own words; on its own it makes a cause only for a bare 400 that says nothing, and
//! otherwise a "worth checking" note, never a cause for a 5xx, a timeout, a 429 or a 4xx that says something
//! else.

use crate::knowledge::{knowledge, LimitScope, OverCap};
use crate::summary::{Cause, Note, NoteKind};

use super::{cause, docs, max_tokens_words, Facts, Known};
use crate::cohere::CauseCode;

/// What the arithmetic found: one finding per limit, each as text with its source.
struct Finding {
    /// The cause it would be, or `None` for what is only worth knowing (a cap the API applies silently).
    code: Option<CauseCode>,
    text: String,
    next_step: String,
}

/// The arithmetic's findings as a cause (only when `subject` is a 400 whose message says nothing) or as notes.
pub(super) fn check(k: &Known, subject: &Facts, causes: &[Cause]) -> (Option<Cause>, Vec<Note>) {
    let findings = findings(k);
    let bare_400 = subject.status == Some(400)
        && subject
            .message
            .as_deref()
            .is_none_or(|m| m.split_whitespace().count() <= 2);
    let source = format!(
        "request.json; model limits from {}",
        k.model_limits
            .as_ref()
            .map_or("the docs".to_string(), |l| l.source.to_string())
    );
    let mut notes = Vec::new();
    let mut out = None;
    for f in findings {
        if causes.iter().any(|c| Some(c.code) == f.code) {
            continue;
        }
        if let Some(code) = f.code.filter(|_| bare_400 && out.is_none()) {
            let mut c = cause(code, f.text, f.next_step);
            c.source = Some(source.clone());
            out = Some(c);
        } else {
            notes.push(Note {
                kind: NoteKind::WorthChecking,
                text: f.text,
                source: source.clone(),
            });
        }
    }
    (out, notes)
}

fn findings(k: &Known) -> Vec<Finding> {
    let Some(spec) = knowledge().endpoint(k.endpoint.name()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match spec.limit_scope {
        LimitScope::Request => request_scope(k, spec.over_output_cap, &spec.source, &mut out),
        LimitScope::Text => per_text(k, spec, &mut out),
        LimitScope::Document => per_document(k, spec, &mut out),
        LimitScope::None => {}
    }
    out
}

/// Chat and generate: max_tokens against the output cap (unless the API caps it silently), and input plus
/// the output that can be generated against the context length.
fn request_scope(k: &Known, over: OverCap, spec_source: &str, out: &mut Vec<Finding>) {
    let Some(limits) = k.model_limits.as_ref() else {
        return;
    };
    let mut output = k.max_tokens;
    if let (Some(cap), Some(mt)) = (limits.max_output_tokens, k.max_tokens) {
        if mt > cap {
            let cap_source = limits.max_output_source.unwrap_or(limits.source);
            if over == OverCap::Capped {
                output = Some(cap);
            } else {
                out.push(Finding {
                    code: Some(CauseCode::MaxOutputExceeded),
                    text: format!("max_tokens {mt} (sent) exceeds the model's maximum output of {cap} tokens ({cap_source})"),
                    next_step: format!("set max_tokens to at most {cap}, or omit it to use the model's default; see {}", docs::MODELS),
                });
            }
            if over == OverCap::Capped {
                out.push(Finding {
                    code: None,
                    text: format!("max_tokens {mt} is above the model's maximum output of {cap} tokens ({cap_source}); this endpoint caps it silently ({spec_source}), so it is not a cause"),
                    next_step: String::new(),
                });
            }
        }
    }
    let (Some(ctx), Some(input)) = (
        limits.context_length,
        k.seq_len.prompt_tokens.or(k.seq_len.tokens),
    ) else {
        return;
    };
    let total = input + output.unwrap_or(0);
    if total > ctx {
        out.push(Finding {
            code: Some(CauseCode::ContextLengthExceeded),
            text: format!(
                "input {input} tokens ({}) + {} = {total} > context length {ctx} ({})",
                k.seq_len.method,
                max_tokens_words(output),
                limits.source
            ),
            next_step: format!(
                "shorten the input by at least {} tokens or lower max_tokens; see {}",
                total - ctx,
                docs::MODELS
            ),
        });
    }
}

/// Embed: the number of texts against the per-call maximum, and the longest text against the per-text limit,
/// with truncation taken into account (the default cuts each text, so length alone is no failure).
fn per_text(k: &Known, spec: &crate::knowledge::EndpointSpec, out: &mut Vec<Finding>) {
    let (model, list) = inputs(k, spec, out);
    let Some(limit) = model.and_then(|m| m.per_input_limit.or(m.context_length)) else {
        return;
    };
    let Some(longest) = longest_estimate(k, list) else {
        return;
    };
    if longest <= limit {
        return;
    }
    let field = spec.truncate_field.as_deref().unwrap_or("truncate");
    let truncate = k
        .body
        .get(field)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(|| spec.truncate_default.clone());
    let cut = truncate
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("NONE"));
    out.push(Finding {
        code: (!cut).then_some(CauseCode::ContextLengthExceeded),
        text: if cut {
            format!("the longest text is about {longest} tokens, above the {limit} tokens per text; `{field}` is {} so the API cuts it, which is not a failure", truncate.unwrap_or_default())
        } else {
            format!("the longest text is about {longest} tokens, above the {limit} tokens per text, and `{field}` is NONE, so the API refuses it")
        },
        next_step: format!("shorten each text to at most {limit} tokens, or let `{field}` cut it"),
    });
}

/// Rerank: long documents are chunked or cut (`max_tokens_per_doc`), so their length is not a cause.
fn per_document(k: &Known, spec: &crate::knowledge::EndpointSpec, out: &mut Vec<Finding>) {
    let (model, list) = inputs(k, spec, out);
    let (Some(limit), Some(longest)) = (
        model.and_then(|m| m.per_input_limit.or(m.context_length)),
        longest_estimate(k, list),
    ) else {
        return;
    };
    if longest > limit {
        out.push(Finding {
            code: None,
            text: format!(
                "the longest document is about {longest} tokens, above the model's {limit}; rerank chunks or cuts long documents (`{}`, {}), so this is not a failure",
                spec.truncate_field.as_deref().unwrap_or("max_tokens_per_doc"),
                spec.source
            ),
            next_step: String::new(),
        });
    }
}

/// The request's model and its list of inputs (texts, documents), with a finding when the list is longer
/// than the model's documented per-call maximum.
fn inputs<'b>(
    k: &'b Known<'_>,
    spec: &crate::knowledge::EndpointSpec,
    out: &mut Vec<Finding>,
) -> (
    Option<&'static crate::knowledge::Model>,
    Option<&'b Vec<serde_json::Value>>,
) {
    let model = k.model.as_deref().and_then(|m| knowledge().model(m));
    let field = spec.max_inputs_field.as_deref();
    let list = field.and_then(|f| k.body.get(f)).and_then(|v| v.as_array());
    if let (Some(list), Some(max)) = (list, model.and_then(|m| m.max_inputs)) {
        if list.len() as u64 > max {
            out.push(Finding {
                code: Some(CauseCode::InvalidParameterCombination),
                text: format!(
                    "{} {} in one call, above the documented maximum of {max} ({})",
                    list.len(),
                    field.unwrap_or("inputs"),
                    model.map_or("", |m| m.source.as_str())
                ),
                next_step: format!(
                    "split the {} into calls of at most {max}",
                    field.unwrap_or("inputs")
                ),
            });
        }
    }
    (model, list)
}

/// The longest item's share of the measured tokens, by characters: an estimate, said to be one.
fn longest_estimate(k: &Known, list: Option<&Vec<serde_json::Value>>) -> Option<u64> {
    let tokens = k.seq_len.tokens?;
    let text = |v: &serde_json::Value| -> usize {
        match v {
            serde_json::Value::String(s) => s.chars().count(),
            other => other
                .get("text")
                .and_then(|t| t.as_str())
                .map_or(0, |s| s.chars().count()),
        }
    };
    let longest = list?.iter().map(text).max()? as u64;
    let chars = k.seq_len.chars.max(1);
    Some(tokens * longest / chars)
}
