//! Render stage. `report.md` and `report.html`, rendered from the templates in `templates/` with minijinja. Renderers are
//! pure: they take data and return text; the bundle writer decides where it goes.
//!
//! ```
//! use cohere_bundle_core::gather::environment::Environment;
//! use cohere_bundle_core::render::report::{render_html, render_markdown, LogListing, ReportInput};
//!
//! let summary: cohere_bundle_core::Summary =
//!     serde_json::from_str(include_str!("../../tests/fixtures/summary-v1.json")).unwrap();
//! let environment = Environment::fixed();
//! let logs = [LogListing { name: "logs/app.log".into(), size: 812, cut: None, decoded: None, binary: None }];
//! let input = ReportInput {
//!     summary: &summary,
//!     exchanges: &[],
//!     logs: &logs,
//!     log_errors: &[],
//!     environment: &environment,
//!     redact_content: false,
//! };
//! let md = render_markdown(&input)?;
//! assert!(md.contains("c06dba1d05ed46c49fe3fbbf33c132d2") && md.contains("logs/app.log"));
//! let html = render_html(&input)?;
//! assert!(html.contains("c06dba1d05ed46c49fe3fbbf33c132d2") && html.contains("</html>"));
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```

use minijinja::{context, Environment};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::exchange::{Exchange, FailureClass};
use crate::summary::{SeqLenMethod, Summary};

const MD: &str = include_str!("../../templates/report.md.j2");
const HTML: &str = include_str!("../../templates/report.html.j2");

/// A log as listed in the report.
///
/// See the [module example](crate::render::report).
#[derive(Debug, Clone, Serialize)]
pub struct LogListing {
    /// Bundle path, e.g. `logs/app.log`.
    pub name: String,
    /// Size in bytes as written.
    pub size: u64,
    /// What was cut, if anything.
    pub cut: Option<String>,
    /// How it was decoded (decompressed, converted from UTF-16), if it was.
    pub decoded: Option<String>,
    /// The binary data left out of it, if any (listed under its own heading, not as a cut).
    pub binary: Option<String>,
}

/// Everything the report shows.
///
/// See the [module example](crate::render::report).
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The summary.
    pub summary: &'a Summary,
    /// The exchanges, as written to `exchanges/`.
    pub exchanges: &'a [Exchange],
    /// The logs included.
    pub logs: &'a [LogListing],
    /// Errors found in the logs.
    pub log_errors: &'a [crate::diagnose::LogError],
    /// The environment.
    pub environment: &'a crate::gather::environment::Environment,
    /// `--redact-content`: the request body shown in the report has its prompt, document and completion
    /// text replaced too.
    pub redact_content: bool,
}

#[derive(Serialize)]
struct ExchangeRow {
    file: String,
    purpose: crate::exchange::Purpose,
    method: String,
    url: String,
    status: Option<u16>,
    class: Option<&'static str>,
    total_ms: String,
}

/// The bundle file name of exchange number `index`, e.g. `001.json`.
pub(crate) fn exchange_file(index: u32) -> String {
    format!("{index:03}.json")
}

fn seq_method_words(method: SeqLenMethod) -> &'static str {
    match method {
        SeqLenMethod::Tokenizer => "exact, counted with the model's tokenizer",
        SeqLenMethod::Usage => "from the API response's usage",
        SeqLenMethod::Api => "exact, counted by the API's /v1/tokenize",
        SeqLenMethod::Estimate => "an estimate: characters / 4, not the model's tokenizer",
        SeqLenMethod::Unknown => "method unknown",
    }
}

/// What failed, in words: `HTTP 400`; the failure class only when it adds something (`HTTP 200, stream
/// failure`, `timeout, no response`); `(the client ended it)` for a client-side failure.
pub(crate) fn failure_words(s: &Summary) -> String {
    let Some(e) = &s.error else {
        return match s.status {
            Some(st) => format!("HTTP {st}, no error"),
            None => "no error".into(),
        };
    };
    let mut w = match s.status {
        Some(st) if e.class == FailureClass::Http => format!("HTTP {st}"),
        Some(st) => format!("HTTP {st}, {} failure", e.class),
        None => format!("{} failure, no response", e.class),
    };
    if e.client_side {
        w.push_str(" (the client ended it)");
    }
    w
}

/// The exchange the summary is about, as the report's first screen names it.
#[derive(Serialize)]
struct Primary {
    /// `Replay`, `Observed`, `Recorded`.
    label: String,
    /// When it was sent, for a replay or an observed exchange (a recorded one's time is not its own).
    time: Option<String>,
    /// `exchanges/001.json (replay)`.
    source: String,
}

fn primary(exchanges: &[Exchange]) -> Option<Primary> {
    let e = crate::diagnose::primary_exchange(exchanges)?;
    use crate::exchange::Purpose;
    let label = match e.purpose {
        Purpose::Replay => "The replay",
        Purpose::Observed => "Observed",
        Purpose::Matrix | Purpose::Recorded => "Recorded",
    };
    let time = matches!(e.purpose, Purpose::Replay | Purpose::Observed).then(|| {
        e.timings
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    });
    Some(Primary {
        label: label.into(),
        time,
        source: crate::diagnose::exchange_source(e),
    })
}

/// Most lines of the request body the report shows.
const BODY_LINES: usize = 60;
/// Longest string shown whole; a longer one keeps its first `BODY_STRING_KEEP` characters.
const BODY_STRING_MAX: usize = 200;
const BODY_STRING_KEEP: usize = 120;
/// Most items of an array shown.
const BODY_ITEMS: usize = 6;

/// The request body as the report shows it: pretty JSON with long strings and arrays cut and a bounded
/// number of lines (the whole body is in `request.json` and `exchanges/`); text bodies cut to lines. Secrets
/// are scrubbed when the report is written, as in every member; with `redact_content` the prompt, document
/// and completion text is replaced here already.
fn shown_body(
    exchanges: &[Exchange],
    endpoint: crate::Endpoint,
    redact_content: bool,
) -> Option<String> {
    let e = crate::diagnose::primary_exchange(exchanges)?;
    let body = &e.request.body;
    if body.text.is_empty() {
        return None;
    }
    if body.encoding != crate::exchange::BodyEncoding::Utf8 {
        return Some(format!("({} bytes, not text)", body.size));
    }
    let text = match serde_json::from_str::<serde_json::Value>(&body.text) {
        Ok(mut v) => {
            if redact_content {
                crate::scrub::Scrubber::new(crate::scrub::ScrubOptions {
                    known: Vec::new(),
                    redact_content: true,
                })
                .redact_content(endpoint, &mut v);
            }
            shorten(&mut v);
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        // Not JSON (a form, or cut short to fit the size budget): its first lines, long lines cut; never
        // the text itself under --redact-content.
        Err(_) if redact_content => format!(
            "({} bytes, not JSON; not shown under --redact-content)",
            body.size
        ),
        Err(_) => body
            .text
            .lines()
            .map(|l| cut_str(l).unwrap_or_else(|| l.to_string()))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[..lines.len().min(BODY_LINES)].join("\n");
    if lines.len() > BODY_LINES {
        out.push_str(&format!(
            "\n... {} more lines (the whole body: request.json)",
            lines.len() - BODY_LINES
        ));
    }
    if body.truncated {
        out.push_str(&format!(
            "\n... cut at {} of {} bytes",
            body.text.len(),
            body.size
        ));
    }
    Some(out)
}

/// `s` cut to [`BODY_STRING_KEEP`] characters with a note of what was left out, when it is longer than
/// [`BODY_STRING_MAX`].
fn cut_str(s: &str) -> Option<String> {
    let n = s.chars().count();
    (n > BODY_STRING_MAX).then(|| {
        let kept: String = s.chars().take(BODY_STRING_KEEP).collect();
        format!("{kept}... [{} more characters]", n - BODY_STRING_KEEP)
    })
}

/// Cuts long strings and long arrays of a JSON value in place, at any depth.
fn shorten(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Some(c) = cut_str(s) {
                *s = c;
            }
        }
        Value::Array(a) => {
            if a.len() > BODY_ITEMS {
                let more = a.len() - BODY_ITEMS + 1;
                a.truncate(BODY_ITEMS - 1);
                a.push(Value::String(format!("... {more} more items")));
            }
            a.iter_mut().for_each(shorten);
        }
        Value::Object(o) => o.values_mut().for_each(shorten),
        _ => {}
    }
}

/// A matrix cell's phase in words: `bisect` is `bisection`.
fn phase_words(phase: &str) -> String {
    match phase {
        "bisect" => "bisection".into(),
        p => p.to_string(),
    }
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_template("report.md", MD)
        .expect("report.md template parses");
    env.add_template("report.html", HTML)
        .expect("report.html template parses");
    // report.md is not escaped by the engine: what it shows from outside has its control characters, escape
    // sequences and bidi overrides written out, so that `cat report.md` shows text only.
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == minijinja::AutoEscape::None {
            if let Some(s) = value.as_str() {
                return out
                    .write_str(&crate::safe::terminal_safe(s))
                    .map_err(minijinja::Error::from);
            }
        }
        minijinja::escape_formatter(out, state, value)
    });
    env
}

fn render(name: &str, input: &ReportInput<'_>, matrix_grid: &str) -> Result<String> {
    let rows: Vec<ExchangeRow> = input
        .exchanges
        .iter()
        .map(|e| ExchangeRow {
            file: exchange_file(e.index),
            purpose: e.purpose,
            method: e.request.method.clone(),
            url: e.request.url.clone(),
            status: e.status(),
            class: e.failure.as_ref().map(|f| f.class.as_str()),
            total_ms: format!("{:.0}", e.timings.total_ms),
        })
        .collect();
    let mut env = env();
    env.add_filter("phase", |p: String| phase_words(&p));
    let tmpl = env.get_template(name).map_err(|e| Error::Template {
        name: name.into(),
        reason: e.to_string(),
    })?;
    tmpl.render(context! {
        s => input.summary,
        seq_method => seq_method_words(input.summary.seq_len.method),
        exchanges => rows,
        logs => input.logs,
        sdk_errors => input.log_errors,
        cuts => input.summary.cuts,
        env => input.environment,
        matrix_grid => matrix_grid,
        what => failure_words(input.summary),
        primary => primary(input.exchanges),
        side => input.summary.cause_side.as_str(),
        verdict => input.summary.verdict().line,
        support_email => crate::cohere::SUPPORT_EMAIL,
        body => shown_body(input.exchanges, input.summary.endpoint, input.redact_content),
        request_missing => input.summary.notes.iter().any(|n| n.kind == crate::summary::NoteKind::RequestMissing),
    })
    .map_err(|e| Error::Template {
        name: name.into(),
        reason: e.to_string(),
    })
}

/// Renders `report.md`.
///
/// See the [module example](crate::render::report).
pub fn render_markdown(input: &ReportInput<'_>) -> Result<String> {
    let mut s = render("report.md", input, "")?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Renders `report.html`: self-contained, no external assets.
///
/// See the [module example](crate::render::report).
pub fn render_html(input: &ReportInput<'_>) -> Result<String> {
    let grid = input
        .summary
        .matrix
        .as_ref()
        .map(matrix_grid_html)
        .unwrap_or_default();
    render("report.html", input, &grid)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The shape matrix as a colour grid: rows are input token counts, columns max_tokens values.
///
/// ```
/// use cohere_bundle_core::render::report::matrix_grid_html;
/// # let m: cohere_bundle_core::gather::matrix::MatrixResult = serde_json::from_str(r#"{"cells":[{"input_tokens":100,"target_input_tokens":100,"max_tokens":null,"status":400,"class":"http","phase":"grid"}],"verdict":"all_fail","inconclusive_reason":null,"boundary_input_tokens":null,"boundary_max_tokens":null,"calls":1,"max_calls":20,"rate_limited":0,"waited_s":0.0,"input_measure":"chars","input_axis":"text","input_varied":["messages"],"input_parts":1,"input_scaling":"largest_first","original_input_tokens":100,"smallest_input_tokens":100,"small_input_tokens":50,"stopped_early":false,"stop_reason":null,"max_wait_s":60.0,"conclusion":"every shape fails"}"#).unwrap();
/// let html = matrix_grid_html(&m);
/// assert!(html.contains(r#"<td class="cell-fail">400</td>"#));
/// ```
pub fn matrix_grid_html(matrix: &crate::gather::matrix::MatrixResult) -> String {
    let cells = &matrix.cells;
    let mut inputs: Vec<u64> = cells.iter().map(|c| c.input_tokens).collect();
    inputs.sort_unstable();
    inputs.dedup();
    let mut maxes: Vec<Option<u64>> = cells.iter().map(|c| c.max_tokens).collect();
    maxes.sort_unstable();
    maxes.dedup();
    let mut out = String::from("<table class=\"matrix\"><tr><th>input tokens \\ max_tokens</th>");
    for m in &maxes {
        out.push_str(&format!(
            "<th>{}</th>",
            m.map(|v| v.to_string()).unwrap_or_else(|| "default".into())
        ));
    }
    out.push_str("</tr>");
    for i in &inputs {
        out.push_str(&format!("<tr><th>{i}</th>"));
        for m in &maxes {
            let statuses: Vec<String> = cells
                .iter()
                .filter(|c| c.input_tokens == *i && c.max_tokens == *m)
                .map(|c| c.status.to_string())
                .collect();
            if statuses.is_empty() {
                out.push_str("<td class=\"l\"></td>");
                continue;
            }
            let all_ok = statuses.iter().all(|s| s.starts_with('2'));
            let any_ok = statuses.iter().any(|s| s.starts_with('2'));
            let class = if all_ok {
                "cell-ok"
            } else if any_ok {
                "cell-other"
            } else {
                "cell-fail"
            };
            out.push_str(&format!(
                "<td class=\"{class}\">{}</td>",
                esc(&statuses.join(" / "))
            ));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table><p class=\"legend\"><span class=\"cell-ok\">succeeds</span><span class=\"cell-fail\">fails</span><span class=\"cell-other\">mixed</span></p>");
    out
}
