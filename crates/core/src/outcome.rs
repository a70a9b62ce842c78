//! Entry point. Pure renderers of a finished [`Outcome`]: the terminal summary and the `--json` object. They take typed
//! data and return text; the caller decides where it goes. `report.md` and `report.html` are rendered by
//! [`crate::render::report`], the email subject by [`crate::bundle::email::subject`].
//!
//! ```
//! use cohere_bundle_core::pipeline::Outcome;
//! use cohere_bundle_core::outcome;
//! # let summary: cohere_bundle_core::Summary = serde_json::from_str(include_str!("../tests/fixtures/summary-v1.json")).unwrap();
//! let o = Outcome { path: "b.zip".into(), size: 8729, summary, redactions: 2, eml: None };
//! let text = outcome::outcome_text(&o);
//! assert!(text.starts_with("v2/chat request with command-r-08-2024: HTTP 400"));
//! assert!(text.contains("Wrote b.zip (8729 bytes, 2 redactions, verified)."));
//! assert_eq!(outcome::outcome_json(&o)["status"], 400);
//! ```

use crate::pipeline::Outcome;
use crate::summary::Summary;

/// The terminal summary of a written bundle: what failed, the error, the request id, the original failure,
/// the shape sweep's conclusion, the likely cause and its next step, where the bundle is, what was cut, and
/// whether to write to support.
///
/// See the [module example](crate::render).
pub fn outcome_text(o: &Outcome) -> String {
    let s = &o.summary;
    let mut lines = failure_lines(s);
    lines.push(format!(
        "Wrote {} ({} bytes, {} redactions, verified).",
        o.path.display(),
        o.size,
        o.redactions
    ));
    for c in &s.cuts {
        lines.push(format!("  cut to fit the size budget: {c}"));
    }
    lines.extend(support_lines(o));
    lines.join("\n")
}

/// What failed, the error, the request id, the original failure, the sweep's conclusion and the cause.
fn failure_lines(s: &Summary) -> Vec<String> {
    let mut lines = vec![format!(
        "{} request with {}: {}",
        s.endpoint,
        s.model.as_deref().unwrap_or("(no model)"),
        crate::render::report::failure_words(s)
    )];
    for n in s
        .notes
        .iter()
        .filter(|n| n.kind == crate::summary::NoteKind::Mismatch)
    {
        lines.push(format!("  NOTE:       {}", n.text));
    }
    if let Some(e) = &s.error {
        lines.push(format!("  error:      {}", e.message));
    }
    if let Some(id) = &s.request_id {
        lines.push(format!("  request id: {id}"));
    }
    if let Some(orig) = &s.original {
        let status = orig
            .status
            .map(|x| format!("HTTP {x}"))
            .unwrap_or_else(|| "status unknown".into());
        let id = orig
            .request_id
            .as_deref()
            .map(|i| format!(", request id {i}"))
            .unwrap_or_default();
        let again = if orig.reproduced == Some(false) {
            "; the replay did not reproduce it"
        } else {
            ""
        };
        lines.push(format!(
            "  original:   {status}{id} (from {}){again}",
            orig.source
        ));
    }
    if let Some(m) = &s.matrix {
        lines.push(format!("  shapes:     {}", m.conclusion));
    }
    if let Some(c) = s.causes.first() {
        lines.push(format!("  cause:      {}: {}", c.code, c.evidence));
        lines.push(format!("  next step:  {}", c.next_step));
    }
    lines
}

/// Whether to write to support, and the email draft if one was written.
fn support_lines(o: &Outcome) -> Vec<String> {
    let s = &o.summary;
    let v = s.verdict();
    let support = crate::cohere::SUPPORT_EMAIL;
    let mut lines = vec![v.line];
    if let Some(e) = &o.eml {
        lines.push(if v.support_needed {
            format!(
                "Email draft to {support}: {} (the zip attached).",
                e.display()
            )
        } else {
            format!(
                "Email draft to {support}, for if it is needed: {} (the zip attached).",
                e.display()
            )
        });
    }
    lines
}

/// The `--json` object of a written bundle: where it is, the failure and its causes, the sweep, what was cut.
///
/// See the [module example](crate::render).
pub fn outcome_json(o: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "bundle": o.path,
        "size": o.size,
        "status": o.summary.status,
        "error": o.summary.error,
        "original": o.summary.original,
        "notes": o.summary.notes,
        "client": o.summary.client,
        "request_id": o.summary.request_id,
        "causes": o.summary.causes,
        "cause_side": o.summary.cause_side,
        "support_needed": o.summary.support_needed,
        "verdict": o.summary.verdict().kind,
        "verdict_line": o.summary.verdict().line,
        "redactions": o.redactions,
        "matrix": o.summary.matrix,
        "eml": o.eml,
        "cuts": o.summary.cuts,
    })
}
