//! `report.md` and `report.html`, rendered from the templates in `templates/` with minijinja. Renderers are
//! pure: they take data and return text; the bundle writer decides where it goes.

use minijinja::{context, Environment};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::exchange::Exchange;
use crate::summary::Summary;

const MD: &str = include_str!("../templates/report.md.j2");
const HTML: &str = include_str!("../templates/report.html.j2");

/// A log as listed in the report.
#[derive(Debug, Clone, Serialize)]
pub struct LogListing {
    /// Bundle path, e.g. `logs/app.log`.
    pub name: String,
    /// Size in bytes as written.
    pub size: u64,
    /// What was cut, if anything.
    pub cut: Option<String>,
}

/// Everything the report shows.
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
    pub environment: &'a crate::environment::Environment,
}

#[derive(Serialize)]
struct ExchangeRow {
    file: String,
    purpose: String,
    method: String,
    url: String,
    status: Option<u16>,
    class: Option<&'static str>,
    total_ms: String,
}

/// The bundle file name of exchange number `index`, e.g. `001.json`.
pub fn exchange_file(index: u32) -> String {
    format!("{index:03}.json")
}

fn seq_method_words(method: &str) -> &'static str {
    match method {
        "tokenizer" => "exact, counted with the model's tokenizer",
        "usage" => "from the API response's usage",
        "api" => "exact, counted by the API's /v1/tokenize",
        "estimate" => "an estimate: characters / 4, not the model's tokenizer",
        _ => "method unknown",
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
    env
}

fn render(name: &str, input: &ReportInput<'_>, matrix_grid: &str) -> Result<String> {
    let rows: Vec<ExchangeRow> = input
        .exchanges
        .iter()
        .map(|e| ExchangeRow {
            file: exchange_file(e.index),
            purpose: e.purpose.clone(),
            method: e.request.method.clone(),
            url: e.request.url.clone(),
            status: e.status(),
            class: e.failure.as_ref().map(|f| f.class.as_str()),
            total_ms: format!("{:.0}", e.timings.total_ms),
        })
        .collect();
    let env = env();
    let tmpl = env.get_template(name).map_err(|e| Error::Template {
        name: name.into(),
        reason: e.to_string(),
    })?;
    tmpl.render(context! {
        s => input.summary,
        seq_method => seq_method_words(&input.summary.seq_len.method),
        exchanges => rows,
        logs => input.logs,
        sdk_errors => input.log_errors,
        cuts => input.summary.cuts,
        env => input.environment,
        matrix_grid => matrix_grid,
    })
    .map_err(|e| Error::Template {
        name: name.into(),
        reason: e.to_string(),
    })
}

/// Renders `report.md`.
pub fn render_markdown(input: &ReportInput<'_>) -> Result<String> {
    let mut s = render("report.md", input, "")?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Renders `report.html`: self-contained, no external assets.
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
pub fn matrix_grid_html(matrix: &serde_json::Value) -> String {
    let cells = matrix
        .get("cells")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    let key = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_u64());
    let mut inputs: Vec<u64> = cells
        .iter()
        .filter_map(|c| key(c, "input_tokens"))
        .collect();
    inputs.sort_unstable();
    inputs.dedup();
    let mut maxes: Vec<Option<u64>> = cells.iter().map(|c| key(c, "max_tokens")).collect();
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
            let found: Vec<&serde_json::Value> = cells
                .iter()
                .filter(|c| key(c, "input_tokens") == Some(*i) && key(c, "max_tokens") == *m)
                .collect();
            if found.is_empty() {
                out.push_str("<td class=\"l\"></td>");
                continue;
            }
            let statuses: Vec<String> = found
                .iter()
                .map(|c| match c.get("status") {
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    _ => "?".into(),
                })
                .collect();
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
