//! Issue 19: the tool's knowledge (`crates/knowledge/data/*.toml`, loaded by `cohere_bundle_knowledge::knowledge`) agrees with Cohere's
//! docs. The test reads the docs snapshot beside the repository (`../shared/cohere-docs/`, docs.cohere.com's
//! source of 2026-08-20), the API spec (`../shared/cohere-openapi/openapi.yaml`) and the support FAQ
//! (`../shared/seed/cohere-support-faq.md`) at run time, never copies of them, and fails when a model, a limit,
//! a status, a retirement or a replacement differs from the data. Where two pages disagree, the data keeps one
//! figure and records the other as a `conflicts` entry; a figure that matches neither fails.
//!
//! The pages' markdown tables are read with a small reader: a table is a run of lines starting with `|`, the
//! second of them a separator; cells are split on `|` and their backticks dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cohere_bundle_knowledge::knowledge::{knowledge, Knowledge, Model, ModelStatus};
use cohere_bundle_knowledge::Platform;

/// `../shared`, beside the repository. CI always has it; without it the test cannot say anything.
fn shared() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    assert!(
        dir.join("cohere-docs/models/models.mdx").is_file(),
        "Cohere's docs snapshot is missing: expected {} (../shared/cohere-docs beside the repository, with \
         ../shared/cohere-openapi/openapi.yaml and ../shared/seed/cohere-support-faq.md). The knowledge \
         cross-check reads it at run time; CI always has it.",
        dir.join("cohere-docs").display()
    );
    dir
}

/// A page of the docs snapshot, by its path under `cohere-docs/`.
fn page(rel: &str) -> String {
    let path = shared().join("cohere-docs").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The date the docs snapshot and the spec are of (`cohere-docs/README.md`).
const SNAPSHOT: &str = "2026-08-20";

/// Words written in backticks on the pages that are not model ids: an endpoint (`summarize`, listed among the
/// deprecated models of 2025-09-15) and fine-tuning targets (`classify`, `rerank`).
const NOT_MODELS: &[&str] = &["summarize", "classify", "rerank"];

// ------------------------------------------------------------------------------------------------------------
// The markdown table reader
// ------------------------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Table {
    header: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    /// Cells without backticks, trimmed.
    cells: Vec<String>,
    /// Cells as written (backticks kept), trimmed.
    raw: Vec<String>,
    /// The whole line, for messages and for figures written in a row's prose.
    line: String,
}

impl Row {
    /// Cell `i` without backticks ("" when the row is short).
    fn cell(&self, i: usize) -> &str {
        self.cells.get(i).map_or("", String::as_str)
    }
    /// Cell `i` as written.
    fn raw(&self, i: usize) -> &str {
        self.raw.get(i).map_or("", String::as_str)
    }
}

impl Table {
    /// The index of the first column whose header equals one of `names` (without case).
    fn col(&self, names: &[&str]) -> Option<usize> {
        self.header
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    }

    /// The index of the first column whose header contains `part` (without case).
    fn col_containing(&self, part: &str) -> Option<usize> {
        let part = part.to_ascii_lowercase();
        self.header
            .iter()
            .position(|h| h.to_ascii_lowercase().contains(&part))
    }
}

fn split_cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    t.split('|').map(|c| c.trim().to_string()).collect()
}

fn is_separator(line: &str) -> bool {
    let cells = split_cells(line);
    !cells.is_empty()
        && cells
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

/// Every table of a page.
fn tables(text: &str) -> Vec<Table> {
    let mut out = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    let mut flush = |block: &mut Vec<&str>| {
        if block.len() >= 2 && is_separator(block[1]) {
            let unticked = |c: &String| c.replace('`', "").trim().to_string();
            let header = split_cells(block[0]).iter().map(unticked).collect();
            let rows = block[2..]
                .iter()
                .map(|l| {
                    let raw = split_cells(l);
                    Row {
                        cells: raw.iter().map(unticked).collect(),
                        raw,
                        line: l.trim().to_string(),
                    }
                })
                .collect();
            out.push(Table { header, rows });
        }
        block.clear();
    };
    for line in text.lines() {
        if line.trim_start().starts_with('|') {
            block.push(line);
        } else {
            flush(&mut block);
        }
    }
    flush(&mut block);
    out
}

/// The words written in backticks in `text`, in order.
fn ticked(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A token figure as the pages write it: `128k`/`128K` → 128000, `128,000` → 128000, `512` → 512.
fn figure(text: &str) -> Option<u64> {
    let t: String = text
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '\''))
        .collect::<String>()
        .to_ascii_lowercase();
    if let Some(k) = t.strip_suffix('k') {
        return k.parse::<u64>().ok().map(|n| n * 1000);
    }
    t.parse().ok()
}

/// A date as the pages write it (`Sept 15, 2025`, `September 15, 2025`, `Apr 4, 2026`, `Mon Sep 15 2025`)
/// as `YYYY-MM-DD`.
fn date(text: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect();
    for (i, w) in words.iter().enumerate() {
        let Some(month) = MONTHS.iter().position(|m| w.len() >= 3 && w.starts_with(m)) else {
            continue;
        };
        let day = words
            .get(i + 1)?
            .trim_end_matches(|c: char| c.is_alphabetic());
        let year = words.get(i + 2)?;
        let (day, year): (u32, u32) = (day.parse().ok()?, year.parse().ok()?);
        return Some(format!("{year:04}-{:02}-{day:02}", month + 1));
    }
    None
}

/// A table cell's status: `Live`, `Deprecated Sept 15, 2025`, `Retired Apr 4, 2026`.
fn status_cell(cell: &str) -> Option<(ModelStatus, Option<String>)> {
    let lower = cell.to_ascii_lowercase();
    let status = if lower.starts_with("live") {
        ModelStatus::Live
    } else if lower.starts_with("deprecated") {
        ModelStatus::Deprecated
    } else if lower.starts_with("retired") {
        ModelStatus::Retired
    } else {
        return None;
    };
    Some((status, date(cell)))
}

// ------------------------------------------------------------------------------------------------------------
// Comparing a page's figure with the data
// ------------------------------------------------------------------------------------------------------------

/// The data's figure for `field` of a model.
fn field(m: &Model, field: &str) -> Option<u64> {
    match field {
        "context_length" => m.context_length,
        "max_output" => m.max_output,
        "per_input_limit" => m.per_input_limit,
        "max_inputs" => m.max_inputs,
        other => panic!("no figure field {other}"),
    }
}

/// Whether the data agrees with `page`'s figure `shown` for `name` of model `m`: the data holds that figure; or
/// the data holds the exact figure the same row writes in its prose (a "4k" column whose row says "4096
/// tokens"); or a `conflicts` entry records `page`'s figure.
fn agrees(m: &Model, name: &str, shown: u64, page: &str, row_text: &str) -> bool {
    let data = field(m, name);
    data == Some(shown)
        || data.is_some_and(|d| {
            row_text.contains(&format!("{d} tokens"))
                && (d as f64 / 1000.0).round() as u64 * 1000 == shown
        })
        || m.conflicts_on(name)
            .any(|c| c.source == page && figure(&c.value) == Some(shown))
}

fn model<'a>(k: &'a Knowledge, id: &str) -> Option<&'a Model> {
    k.models
        .iter()
        .find(|m| m.id == id || m.aliases.iter().any(|a| a == id))
}

fn fail_if_any(what: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{what}: {} difference(s) between the docs and crates/knowledge/data/*.toml:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

// ------------------------------------------------------------------------------------------------------------
// Models
// ------------------------------------------------------------------------------------------------------------

/// The pages with model tables: the overview and the family pages that have tables.
const MODEL_TABLE_PAGES: &[&str] = &[
    "models/models.mdx",
    "models/the-command-family-of-models/command-beta.mdx",
    "models/aya-expanse.mdx",
    "models/aya-multimodal.mdx",
    "models/tiny-aya.mdx",
    "models/cohere-embed.mdx",
    "models/rerank-2.mdx",
];

/// Every row of every model table: the model is in the data; a Live row is live, a "Deprecated <date>" or
/// "Retired <date>" row has that status and date; context lengths and maximum outputs match (or are recorded
/// conflicts).
#[test]
fn model_tables_agree_with_the_data() {
    let k = knowledge();
    let mut failures = Vec::new();
    let mut rows = 0;
    for &p in MODEL_TABLE_PAGES {
        for t in tables(&page(p)) {
            let Some(id_col) = t.col(&["Model Name", "Latest Model Name", "Latest Model"]) else {
                continue;
            };
            if t.col_containing("Bedrock").is_some() {
                continue; // a platform table: see platform_tables_agree_with_the_data
            }
            let status_col = t.col(&["Status"]);
            let context_col = t.col(&["Context Length", "Max Tokens (Context Length)"]);
            let output_col = t.col(&["Maximum Output Tokens"]);
            for row in &t.rows {
                let id = row.cell(id_col);
                rows += 1;
                let Some(m) = model(k, id) else {
                    failures.push(format!(
                        "{p}: model {id} is not in models.toml ({})",
                        row.line
                    ));
                    continue;
                };
                if let Some(c) = status_col {
                    match status_cell(row.cell(c)) {
                        None => {
                            failures.push(format!("{p}: {id}: unreadable status {:?}", row.cell(c)))
                        }
                        Some((status, on)) => {
                            if m.status != status {
                                failures.push(format!(
                                    "{p}: {id} is {:?} on the page, {} in the data",
                                    row.cell(c),
                                    m.status.as_str()
                                ));
                            }
                            let data_on = match status {
                                ModelStatus::Live => None,
                                ModelStatus::Deprecated => m.deprecated_on.clone(),
                                ModelStatus::Retired => m.retired_on.clone(),
                            };
                            if status != ModelStatus::Live && on != data_on {
                                failures.push(format!(
                                    "{p}: {id}: {:?} on the page, {data_on:?} in the data",
                                    row.cell(c)
                                ));
                            }
                        }
                    }
                }
                for (col, name) in [(context_col, "context_length"), (output_col, "max_output")] {
                    let Some(col) = col else { continue };
                    let Some(shown) = figure(row.cell(col)) else {
                        failures.push(format!("{p}: {id}: unreadable {name} {:?}", row.cell(col)));
                        continue;
                    };
                    if !agrees(m, name, shown, p, &row.line) {
                        failures.push(format!(
                            "{p}: {id}: {name} {shown} on the page ({:?}), {:?} in the data, and no conflict \
                             recorded for {p}",
                            row.cell(col),
                            field(m, name)
                        ));
                    }
                }
                // An embed model's context length is its per-text limit.
                if m.family == "embed" {
                    if let Some(col) = context_col {
                        let shown = figure(row.cell(col));
                        if shown.is_some() && m.per_input_limit != shown {
                            failures.push(format!(
                                "{p}: {id}: per-text limit {shown:?} on the page, {:?} in the data",
                                m.per_input_limit
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        rows >= 40,
        "only {rows} model rows read: the tables' layout changed?"
    );
    fail_if_any("model tables", failures);
}

/// The platform tables ("Using ... Models on Different Platforms"): every cell's ids are the data's platform ids
/// (N/A and Coming Soon: none; Unique per deployment: `(per deployment)`).
#[test]
fn platform_tables_agree_with_the_data() {
    let k = knowledge();
    let mut failures = Vec::new();
    let mut cells = 0;
    for t in tables(&page("models/models.mdx")) {
        let Some(id_col) = t.col(&["Model Name"]) else {
            continue;
        };
        let columns = [
            ("bedrock", t.col_containing("Bedrock")),
            ("sagemaker", t.col_containing("SageMaker")),
            ("azure", t.col_containing("Azure")),
            ("oci", t.col_containing("Oracle")),
        ];
        if columns[0].1.is_none() {
            continue;
        }
        for row in &t.rows {
            let id = row.cell(id_col);
            let Some(m) = model(k, id) else {
                failures.push(format!("platform table: model {id} is not in models.toml"));
                continue;
            };
            for (platform, col) in columns {
                let Some(col) = col else { continue };
                cells += 1;
                let raw = row.raw(col);
                let expected: Vec<String> = if raw.contains('`') {
                    ticked(raw)
                } else if raw.contains("Unique per deployment") {
                    vec!["(per deployment)".into()]
                } else if raw.contains("N/A") || raw.contains("Coming Soon") || raw.is_empty() {
                    vec![]
                } else {
                    vec![raw
                        .trim_matches(|c| c == '\'' || c == '"')
                        .trim()
                        .to_string()]
                };
                let data = match platform {
                    "bedrock" => &m.platforms.bedrock,
                    "sagemaker" => &m.platforms.sagemaker,
                    "azure" => &m.platforms.azure,
                    _ => &m.platforms.oci,
                };
                // An N/A cell may be contradicted only where a conflict with another page is recorded.
                let ok = *data == expected
                    || expected.is_empty()
                        && m.conflicts_on(&format!("platforms.{platform}"))
                            .next()
                            .is_some();
                if !ok {
                    failures.push(format!(
                        "models.mdx platform table: {id} on {platform}: {expected:?} on the page, {data:?} in the data"
                    ));
                }
            }
        }
    }
    assert!(cells >= 60, "only {cells} platform cells read");
    fail_if_any("platform tables", failures);
}

/// The model box (`<ModelShowcase>`) of each family page: its id is a model; its context window and maximum
/// output match the data (or a recorded conflict); its endpoints are the data's chat endpoints.
#[test]
fn family_pages_model_boxes_agree_with_the_data() {
    let k = knowledge();
    let mut failures = Vec::new();
    let mut boxes = 0;
    let mut pages = Vec::new();
    collect_mdx(&shared().join("cohere-docs/models"), &mut pages);
    for path in pages {
        let text = std::fs::read_to_string(&path).unwrap();
        let Some(start) = text.find("<ModelShowcase") else {
            continue;
        };
        let rel = path
            .strip_prefix(shared().join("cohere-docs"))
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let body = &text[start..];
        let body = &body[..body.find("}}/>").unwrap_or(body.len())];
        let value = |key: &str| -> Option<String> {
            let at = body.find(&format!("{key}:"))? + key.len() + 1;
            let rest = body[at..].trim_start();
            let quote = rest.chars().next()?;
            let rest = &rest[quote.len_utf8()..];
            Some(rest[..rest.find(quote)?].to_string())
        };
        boxes += 1;
        let Some(id) = value("id") else {
            failures.push(format!("{rel}: a model box without an id"));
            continue;
        };
        let Some(m) = model(k, &id) else {
            failures.push(format!("{rel}: model {id} is not in models.toml"));
            continue;
        };
        for (key, name) in [
            ("contextWindow", "context_length"),
            ("maxOutputTokens", "max_output"),
        ] {
            let Some(shown) = value(key).as_deref().and_then(figure) else {
                continue;
            };
            if !agrees(m, name, shown, &rel, "") {
                failures.push(format!(
                    "{rel}: {id}: {name} {shown} in the model box, {:?} in the data",
                    field(m, name)
                ));
            }
        }
        let mut shown = BTreeSet::new();
        for part in body.split("Endpoint.").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            match name.as_str() {
                "ChatV2" => shown.insert("v2/chat"),
                "ChatV1" => shown.insert("v1/chat"),
                "ChatCompletions" => shown.insert("compatibility/v1/chat/completions"),
                other => {
                    failures.push(format!(
                        "{rel}: unknown endpoint Endpoint.{other} in the model box"
                    ));
                    false
                }
            };
        }
        let data: BTreeSet<&str> = m.endpoints.iter().map(String::as_str).collect();
        if shown != data {
            failures.push(format!(
                "{rel}: {id}: endpoints {shown:?} in the model box, {data:?} in the data"
            ));
        }
    }
    assert!(boxes >= 8, "only {boxes} model boxes read");
    fail_if_any("model boxes", failures);
}

fn collect_mdx(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_mdx(&path, out);
        } else if path.extension().is_some_and(|e| e == "mdx") {
            out.push(path);
        }
    }
    out.sort();
}

/// Every model id the model pages, the changelog and the deprecations page write in backticks (or after
/// "Model Name:" in a changelog) is a model or an alias in the data; `rerank-v4.0` is not.
#[test]
fn every_model_id_the_docs_name_is_known() {
    let k = knowledge();
    let mut files = Vec::new();
    collect_mdx(&shared().join("cohere-docs/models"), &mut files);
    collect_mdx(&shared().join("cohere-docs/changelog"), &mut files);
    files.push(shared().join("cohere-docs/going-to-production/deprecations.mdx"));
    let prefixes = [
        "command",
        "c4ai-",
        "embed-",
        "rerank",
        "tiny-aya",
        "north-",
        "cohere-transcribe",
        "aya-",
    ];
    let mut unknown = BTreeMap::<String, String>::new();
    let mut named = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut ids = Vec::new();
        for line in text.lines() {
            if !line.trim_start().starts_with("```") {
                ids.extend(ticked(line));
            }
            let lower = line.to_ascii_lowercase();
            if let Some(at) = lower.find("**model name**:") {
                let rest = line[at + "**model name**:".len()..]
                    .trim()
                    .trim_matches('`');
                ids.push(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
        for id in ids {
            let modelish = prefixes.iter().any(|p| id.starts_with(p))
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
            if !modelish || NOT_MODELS.contains(&id.as_str()) {
                continue;
            }
            named += 1;
            if model(k, &id).is_none() {
                unknown.insert(id, path.display().to_string());
            }
        }
    }
    assert!(named >= 100, "only {named} model ids found in the docs");
    assert!(
        model(k, "rerank-v4.0").is_none(),
        "rerank-v4.0 is not a model id"
    );
    fail_if_any(
        "model ids named by the docs",
        unknown
            .into_iter()
            .map(|(id, f)| format!("{id} (in {f}) is not in models.toml"))
            .collect(),
    );
}

/// The dated sections of deprecations.mdx (`### 2026-04-04: ...`), and the changelog's retirement and
/// deprecation notices dated by their `createdAt`: (where, date, text).
fn deprecation_sections() -> Vec<(String, String, String)> {
    let mut sections: Vec<(String, String, String)> = Vec::new();
    let text = page("going-to-production/deprecations.mdx");
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            if let Some((d, body)) = current.take() {
                sections.push(("deprecations.mdx".into(), d, body));
            }
            let heading = line.trim_start_matches('#').trim();
            if line.starts_with("### ")
                && heading.len() >= 10
                && heading[..10].chars().filter(|c| *c == '-').count() == 2
            {
                current = Some((heading[..10].to_string(), String::new()));
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((d, body)) = current.take() {
        sections.push(("deprecations.mdx".into(), d, body));
    }
    assert!(
        sections.len() >= 5,
        "deprecations.mdx: only {} dated sections",
        sections.len()
    );
    for rel in [
        "changelog/2026-04-04-embed-v2-aya-8b-retirement.mdx",
        "changelog/2025-09-16-announcing-major-command-deprecations.mdx",
    ] {
        let text = page(rel);
        let created = text
            .lines()
            .find_map(|l| l.strip_prefix("createdAt:"))
            .and_then(date)
            .unwrap_or_else(|| panic!("{rel}: no createdAt date"));
        sections.push((rel.into(), created, text));
    }

    sections
}

/// A section's lists: the models a line announcing retired or deprecated models lists (a bullet each; the first
/// id of a bullet is the model, the others its aliases), and the lists of alternatives (a sentence recommending
/// models, or bullets under a heading of alternatives), in the page's order.
fn listed_models(k: &Knowledge, body: &str) -> (Vec<(ModelStatus, String)>, Vec<Vec<String>>) {
    let mut models: Vec<(ModelStatus, String)> = Vec::new();
    let mut alternatives: Vec<Vec<String>> = Vec::new();
    let mut listing: Option<ModelStatus> = None;
    let mut in_alternatives = false;
    for line in body.lines() {
        let t = line.trim();
        let lower = t.to_ascii_lowercase();
        if t.is_empty() {
            continue;
        }
        let bullet = t.starts_with("- ") || t.starts_with("* ");
        let ids = ticked(t);
        if bullet && !ids.is_empty() {
            if let Some(status) = listing {
                // `command-r-03-2024` (and the alias `command-r`): the first id is the model.
                models.push((status, ids[0].clone()));
                continue;
            }
            if in_alternatives {
                alternatives.last_mut().unwrap().extend(ids);
                continue;
            }
        }
        listing = None;
        let recommends = ["recommend", "alternative", "migrate"]
            .iter()
            .any(|w| lower.contains(w));
        if lower.ends_with(':') && lower.contains("retired") && !lower.contains("fine-tuning") {
            listing = Some(ModelStatus::Retired);
            in_alternatives = false;
        } else if lower.starts_with("deprecated models") {
            listing = Some(ModelStatus::Deprecated);
            in_alternatives = false;
        } else if recommends && !ids.is_empty() {
            alternatives.push(ids.into_iter().filter(|i| model(k, i).is_some()).collect());
            in_alternatives = false;
        } else if recommends || in_alternatives {
            // A heading of a list of alternatives ("- Embedding tasks alternatives:", "**Chat tasks**").
            in_alternatives = true;
            alternatives.push(Vec::new());
        }
    }
    alternatives.retain(|a| !a.is_empty());
    (models, alternatives)
}

/// deprecations.mdx, and the changelog's retirement and deprecation notices: each model listed is deprecated
/// or retired with the section's date, and its replacements are one of the section's lists of alternatives, in
/// the page's order. A retirement table gives the shutdown date and the replacement per row.
#[test]
fn deprecations_agree_with_the_data() {
    let k = knowledge();
    let mut failures = Vec::new();
    let mut listed = 0;

    let sections = deprecation_sections();
    for (place, day, body) in &sections {
        // A retirement table: one row per model.
        for t in tables(body) {
            let (Some(mc), Some(sc), Some(rc)) = (
                t.col(&["Deprecated Model"]),
                t.col(&["Shutdown Date"]),
                t.col(&["Recommended Replacement"]),
            ) else {
                continue;
            };
            for row in &t.rows {
                let id = row.cell(mc);
                listed += 1;
                let Some(m) = model(k, id) else {
                    failures.push(format!("{place} {day}: {id} is not in models.toml"));
                    continue;
                };
                let want_replacements = ticked(row.raw(rc));
                if m.status != ModelStatus::Retired
                    || m.retired_on.as_deref() != Some(row.cell(sc))
                    || m.deprecated_on.as_deref() != Some(day.as_str())
                    || m.replacements != want_replacements
                {
                    failures.push(format!(
                        "{place} {day}: {id}: retired {} (announced {day}), replaced by {want_replacements:?} on the \
                         page; the data: {} retired {:?} deprecated {:?} replaced by {:?}",
                        row.cell(sc),
                        m.status.as_str(),
                        m.retired_on,
                        m.deprecated_on,
                        m.replacements
                    ));
                }
            }
        }

        let (models, alternatives) = listed_models(k, body);
        for (status, id) in models {
            if NOT_MODELS.contains(&id.as_str()) {
                continue;
            }
            listed += 1;
            let Some(m) = model(k, &id) else {
                failures.push(format!("{place} {day}: {id} is not in models.toml"));
                continue;
            };
            let date_ok = match status {
                ModelStatus::Retired => {
                    m.status == ModelStatus::Retired && m.retired_on.as_deref() == Some(day)
                }
                _ => m.status != ModelStatus::Live && m.deprecated_on.as_deref() == Some(day),
            };
            if !date_ok {
                failures.push(format!(
                    "{place}: {id} is {} on {day}; the data: {} deprecated {:?} retired {:?}",
                    status.as_str(),
                    m.status.as_str(),
                    m.deprecated_on,
                    m.retired_on
                ));
            }
            if !alternatives.is_empty() && !alternatives.contains(&m.replacements) {
                failures.push(format!(
                    "{place} {day}: {id}: replacements {:?} in the data, the page's lists are {alternatives:?}",
                    m.replacements
                ));
            }
        }
    }
    assert!(
        listed >= 15,
        "only {listed} deprecated or retired models read"
    );
    fail_if_any("deprecations", failures);
}

// ------------------------------------------------------------------------------------------------------------
// Statuses
// ------------------------------------------------------------------------------------------------------------

/// The FAQ's list of error statuses ("400 - invalid combination of parameters", ...): each is in the data with
/// the FAQ's own words and its "not relevant on AWS" note; no other status carries FAQ words.
#[test]
fn faq_rows_are_the_faqs_words() {
    let k = knowledge();
    let path = shared().join("seed/cohere-support-faq.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut failures = Vec::new();
    let mut faq = BTreeMap::new();
    for line in text.lines() {
        let t = line.trim().trim_start_matches(['*', '-']).trim();
        let (Some(code), Some(words)) =
            (t.get(..3), t.get(3..).and_then(|r| r.strip_prefix(" - ")))
        else {
            continue;
        };
        let Ok(code) = code.parse::<u16>() else {
            continue;
        };
        faq.insert(code, words.trim().to_string());
    }
    assert!(faq.len() >= 6, "only {} FAQ rows read: {faq:?}", faq.len());
    const AWS: &str = "(not relevant on AWS)";
    for (code, words) in &faq {
        let (own, aws) = match words.strip_suffix(AWS) {
            Some(w) => (w.trim(), true),
            None => (words.as_str(), false),
        };
        match k
            .statuses
            .iter()
            .find(|s| s.status == *code && s.platform == Platform::Cohere)
        {
            None => failures.push(format!("FAQ {code}: no Cohere entry in statuses.toml")),
            Some(s) => {
                if s.faq.as_deref() != Some(own) || s.faq_not_relevant_on_aws != aws {
                    failures.push(format!(
                        "FAQ {code}: {words:?} in the FAQ; the data: faq {:?}, not relevant on AWS {}",
                        s.faq, s.faq_not_relevant_on_aws
                    ));
                }
            }
        }
    }
    for s in &k.statuses {
        if s.faq.is_some() && (s.platform != Platform::Cohere || !faq.contains_key(&s.status)) {
            failures.push(format!(
                "statuses.toml: {} carries FAQ words the FAQ does not list",
                s.status
            ));
        }
    }
    // The FAQ's date is its `last_updated`; entries sourced from the FAQ carry it.
    let updated = text
        .lines()
        .find_map(|l| l.strip_prefix("last_updated:"))
        .map(|d| d.trim().trim_matches('"').to_string())
        .expect("the FAQ's last_updated");
    for s in k.statuses.iter().filter(|s| s.source == "faq") {
        if s.as_of != updated {
            failures.push(format!(
                "statuses.toml {}: as_of {} but the FAQ is of {updated}",
                s.status, s.as_of
            ));
        }
    }
    fail_if_any("FAQ rows", failures);
}

/// Every status errors.mdx documents, and every status the spec's operations declare, has a Cohere entry.
#[test]
fn every_documented_status_has_an_entry() {
    let k = knowledge();
    let mut documented = BTreeMap::<u16, String>::new();
    for line in page("cohere-api/errors.mdx").lines() {
        if let Some(h) = line.strip_prefix("## ") {
            if let Ok(code) = h.get(..3).unwrap_or("").parse::<u16>() {
                documented.insert(code, "cohere-api/errors.mdx".into());
            }
        }
    }
    assert!(documented.len() >= 7, "errors.mdx: only {documented:?}");
    let spec = spec();
    for (path, item) in &spec.paths {
        for op in item.operations() {
            for code in op.responses.keys() {
                if let Ok(code) = code.parse::<u16>() {
                    if code >= 400 {
                        documented
                            .entry(code)
                            .or_insert_with(|| format!("openapi.yaml {path}"));
                    }
                }
            }
        }
    }
    let failures = documented
        .iter()
        .filter(|(code, _)| {
            !k.statuses
                .iter()
                .any(|s| s.status == **code && s.platform == Platform::Cohere)
        })
        .map(|(code, from)| format!("status {code} ({from}) has no Cohere entry in statuses.toml"))
        .collect();
    fail_if_any("statuses", failures);
}

// ------------------------------------------------------------------------------------------------------------
// Endpoints, against the spec and the compatibility API's page
// ------------------------------------------------------------------------------------------------------------

/// What the test reads of the spec: paths, their operations' responses and request bodies' properties, and
/// the shared responses. Everything else is skipped unread.
#[derive(serde::Deserialize)]
struct Spec {
    paths: BTreeMap<String, PathItem>,
    components: Components,
}

#[derive(serde::Deserialize)]
struct Components {
    responses: BTreeMap<String, serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct PathItem {
    get: Option<Operation>,
    post: Option<Operation>,
    put: Option<Operation>,
    patch: Option<Operation>,
    delete: Option<Operation>,
}

impl PathItem {
    fn operations(&self) -> impl Iterator<Item = &Operation> {
        [&self.get, &self.post, &self.put, &self.patch, &self.delete]
            .into_iter()
            .flatten()
    }
    fn method(&self, method: &str) -> Option<&Operation> {
        match method {
            "get" => self.get.as_ref(),
            "post" => self.post.as_ref(),
            "put" => self.put.as_ref(),
            "patch" => self.patch.as_ref(),
            "delete" => self.delete.as_ref(),
            _ => None,
        }
    }
}

#[derive(serde::Deserialize)]
struct Operation {
    #[serde(default)]
    responses: BTreeMap<String, serde::de::IgnoredAny>,
    #[serde(rename = "requestBody")]
    request_body: Option<RequestBody>,
}

#[derive(serde::Deserialize)]
struct RequestBody {
    #[serde(default)]
    content: BTreeMap<String, Media>,
}

#[derive(serde::Deserialize)]
struct Media {
    schema: Option<Schema>,
}

#[derive(serde::Deserialize)]
struct Schema {
    #[serde(default)]
    properties: BTreeMap<String, Property>,
}

#[derive(serde::Deserialize)]
struct Property {
    default: Option<serde_norway::Value>,
    description: Option<String>,
}

fn spec() -> Spec {
    let path = shared().join("cohere-openapi/openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).expect("the spec is YAML")
}

/// `openapi.yaml#/paths/~1v2~1chat/post` → (`/v2/chat`, `post`).
fn spec_operation(source: &str) -> Option<(String, String)> {
    let pointer = source.strip_prefix("openapi.yaml#/paths/")?;
    let mut parts = pointer.split('/');
    let path = parts.next()?.replace("~1", "/").replace("~0", "~");
    Some((path, parts.next()?.to_string()))
}

/// Every endpoint from the spec: its operation exists; its input fields, output caps and truncation field are
/// properties of the request body; the truncation default is the spec's; "capped" is said only where the spec's
/// max_tokens description says the generation is capped.
#[test]
fn endpoints_agree_with_the_spec() {
    let k = knowledge();
    let spec = spec();
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in &k.endpoints {
        let Some((path, method)) = spec_operation(&e.source) else {
            continue;
        };
        checked += 1;
        let Some(op) = spec.paths.get(&path).and_then(|p| p.method(&method)) else {
            failures.push(format!("{}: {} {path} is not in the spec", e.name, method));
            continue;
        };
        let props: BTreeMap<&str, &Property> = op
            .request_body
            .iter()
            .flat_map(|b| b.content.values())
            .filter_map(|m| m.schema.as_ref())
            .flat_map(|s| s.properties.iter().map(|(n, p)| (n.as_str(), p)))
            .collect();
        let fields = e
            .input_fields
            .iter()
            .chain(&e.output_caps)
            .chain(&e.truncate_field)
            .chain(&e.max_inputs_field);
        for f in fields {
            if !props.contains_key(f.as_str()) {
                failures.push(format!(
                    "{}: {f} is not a body field of {} {path} in the spec",
                    e.name, method
                ));
            }
        }
        if let (Some(f), Some(default)) = (&e.truncate_field, &e.truncate_default) {
            if let Some(p) = props.get(f.as_str()) {
                let spec_default = p.default.as_ref().map(|v| match v {
                    serde_norway::Value::String(s) => s.clone(),
                    other => serde_norway::to_string(other).unwrap().trim().to_string(),
                });
                let described = p.description.as_deref().is_some_and(|d| {
                    d.contains(&format!("Defaults to `{default}`"))
                        || d.contains(&format!("`{default}` in all other cases"))
                });
                if spec_default.as_deref() != Some(default.as_str()) && !described {
                    failures.push(format!(
                        "{}: {f} defaults to {default:?} in the data, {spec_default:?} in the spec",
                        e.name
                    ));
                }
            }
        }
        let capped_in_spec = e.output_caps.iter().any(|c| {
            props
                .get(c.as_str())
                .and_then(|p| p.description.as_deref())
                .is_some_and(|d| d.contains("will be capped"))
        });
        let capped_in_data =
            e.over_output_cap == cohere_bundle_knowledge::knowledge::OverCap::Capped;
        if capped_in_spec != capped_in_data {
            failures.push(format!(
                "{}: the spec {} a max_tokens above the model's maximum is capped; the data says {:?}",
                e.name,
                if capped_in_spec { "says" } else { "does not say" },
                e.over_output_cap
            ));
        }
    }
    assert!(checked >= 10, "only {checked} endpoints from the spec");
    // The per-call maximum of embed: 96 in the spec, 96 in the data.
    let texts = spec.paths["/v2/embed"]
        .post
        .as_ref()
        .unwrap()
        .request_body
        .as_ref()
        .unwrap();
    let says_96 = texts
        .content
        .values()
        .filter_map(|m| m.schema.as_ref())
        .filter_map(|s| s.properties.get("texts")?.description.as_deref())
        .any(|d| d.contains("`96`"));
    assert!(says_96, "the spec no longer says 96 texts per embed call");
    for m in k.models.iter().filter(|m| m.family == "embed") {
        if m.max_inputs != Some(96) {
            failures.push(format!(
                "{}: max_inputs {:?}, the spec says 96 texts per call",
                m.id, m.max_inputs
            ));
        }
    }
    fail_if_any("endpoints", failures);
}

/// The compatibility endpoints: their input fields and output caps are parameters the compatibility API's page
/// lists as supported (`max_completion_tokens`, which the OpenAI SDKs send, is not on the page: see
/// endpoints.toml).
#[test]
fn compatibility_endpoints_agree_with_their_page() {
    let k = knowledge();
    let text = page("v2/text-generation/compatibility-api.mdx");
    let supported_section = &text[text
        .find("## Supported parameters")
        .expect("a Supported parameters section")
        ..text
            .find("## Unsupported parameters")
            .expect("an Unsupported parameters section")];
    let mut supported: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut heading = "";
    for line in supported_section.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.trim();
        } else if line.trim_start().starts_with("- ") {
            if let Some(first) = ticked(line).into_iter().next() {
                supported.entry(heading).or_default().push(first);
            }
        }
    }
    let mut failures = Vec::new();
    for (name, section) in [
        ("compatibility/v1/chat/completions", "Chat completions"),
        ("compatibility/v1/embeddings", "Embeddings"),
    ] {
        let e = k
            .endpoint(name)
            .unwrap_or_else(|| panic!("endpoints.toml has no {name}"));
        let listed = supported.get(section).cloned().unwrap_or_default();
        for f in e.input_fields.iter().chain(&e.output_caps) {
            if f != "max_completion_tokens" && !listed.contains(f) {
                failures.push(format!(
                    "{name}: {f} is not a supported parameter on compatibility-api.mdx"
                ));
            }
        }
    }
    fail_if_any("compatibility endpoints", failures);
}

// ------------------------------------------------------------------------------------------------------------
// Sources
// ------------------------------------------------------------------------------------------------------------

/// Every `source` (and every conflict's source) exists: a page under ../shared/cohere-docs, the FAQ, a spec
/// location that resolves, or a public URL (for the cloud platforms). Docs and spec entries are of the
/// snapshot's date.
#[test]
fn every_source_exists() {
    let k = knowledge();
    let spec = spec();
    let mut failures = Vec::new();
    let mut check = |what: &str, source: &str, as_of: Option<&str>| {
        if source.starts_with("https://") {
            return;
        }
        if source == "faq" {
            if !shared().join("seed/cohere-support-faq.md").is_file() {
                failures.push(format!("{what}: the FAQ is missing"));
            }
            return;
        }
        if let Some(pointer) = source.strip_prefix("openapi.yaml#") {
            let ok = if let Some(name) = pointer.strip_prefix("/components/responses/") {
                spec.components.responses.contains_key(name)
            } else if let Some((path, method)) = spec_operation(source) {
                spec.paths
                    .get(&path)
                    .and_then(|p| p.method(&method))
                    .is_some()
            } else {
                false
            };
            if !ok {
                failures.push(format!("{what}: {source} does not resolve in the spec"));
            }
        } else if !shared().join("cohere-docs").join(source).is_file() {
            failures.push(format!(
                "{what}: {source} is not a page of ../shared/cohere-docs"
            ));
        }
        if let Some(as_of) = as_of {
            if as_of != SNAPSHOT {
                failures.push(format!(
                    "{what}: as_of {as_of}, but {source} is of {SNAPSHOT}"
                ));
            }
        }
    };
    for m in &k.models {
        check(&format!("model {}", m.id), &m.source, Some(&m.as_of));
        for c in &m.conflicts {
            check(
                &format!("model {} conflict on {}", m.id, c.field),
                &c.source,
                None,
            );
        }
    }
    for e in &k.endpoints {
        check(&format!("endpoint {}", e.name), &e.source, Some(&e.as_of));
    }
    for s in &k.statuses {
        let as_of = (s.source != "faq").then_some(s.as_of.as_str());
        check(
            &format!("status {} {:?}", s.status, s.platform),
            &s.source,
            as_of,
        );
    }
    for e in &k.platform_errors {
        if !e.source.starts_with("https://") {
            failures.push(format!(
                "platform error {}: source {} is not a public URL",
                e.error_type, e.source
            ));
        }
    }
    fail_if_any("sources", failures);
}

#[test]
fn the_table_reader_reads_tables() {
    let t = tables(
        "text\n| A | `b` |\n|---|:--|\n| `x-1` | 4k |\n| y | Deprecated Sept 15, 2025 |\nafter\n",
    );
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].header, ["A", "b"]);
    assert_eq!(t[0].rows[0].cells, ["x-1", "4k"]);
    assert_eq!(t[0].rows[0].raw[0], "`x-1`");
    assert_eq!(figure("4k"), Some(4000));
    assert_eq!(figure("128,000"), Some(128_000));
    assert_eq!(figure("256K"), Some(256_000));
    assert_eq!(
        status_cell("Deprecated Sept 15, 2025"),
        Some((ModelStatus::Deprecated, Some("2025-09-15".into())))
    );
    assert_eq!(
        status_cell("Retired Apr 4, 2026"),
        Some((ModelStatus::Retired, Some("2026-04-04".into())))
    );
    assert_eq!(
        date("Mon Sep 15 2025 00:00:00 (MST)").as_deref(),
        Some("2025-09-15")
    );
    assert!(tables("| not | a table |\n| no separator |\n").is_empty());
}
