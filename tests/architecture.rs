//! The workspace's shape (issues 14 and 23): crates depend on each other one way, by role; inside the library,
//! the stage folders import each other in data-flow order (input → gather → diagnose → render → bundle) and
//! use the shared modules, never a later stage; the library's dependency tree holds no command line, server
//! framework, progress bar or mail builder; no file is included by `#[path]`; the library reads no
//! environment outside the few explicit helpers named below; no function is over 80 lines without a reason;
//! every public item has an example or links to one; a module's first doc line says its stage.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without its test module.
fn code(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap();
    // The test module (`#[cfg(test)] mod tests {`), not every `#[cfg(test)]` line: a test-only module
    // declared near the top must not hide the rest of the file.
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------------------
// Crates by role.

/// Each workspace crate (its directory), its package name, and the workspace crates it may depend on (normal
/// dependencies; dev-dependencies are the tests' business).
const CRATES: &[(&str, &str, &[&str])] = &[
    ("crates/knowledge", "cohere-bundle-knowledge", &[]),
    (
        "crates/core",
        "cohere-bundle-core",
        &["cohere-bundle-knowledge"],
    ),
    (
        "crates/simulator",
        "cohere-bundle-simulator",
        &["cohere-bundle-knowledge"],
    ),
    (
        ".",
        "cohere-bundle",
        &["cohere-bundle-core", "cohere-bundle-simulator"],
    ),
    (
        "python",
        "cohere-bundle-python",
        &[
            "cohere-bundle-core",
            "cohere-bundle",
            "cohere-bundle-simulator",
        ],
    ),
    ("crates/testkit", "testkit", &["cohere-bundle-simulator"]),
];

/// The normal dependencies of a manifest, by name, with the target-specific ones.
fn normal_deps(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut out = BTreeSet::new();
    let mut in_deps = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_deps = t == "[dependencies]"
                || (t.starts_with("[target.") && t.ends_with(".dependencies]"));
            continue;
        }
        if in_deps {
            if let Some((name, _)) = t.split_once('=') {
                if !t.starts_with('#') {
                    out.insert(name.trim().to_string());
                }
            }
        }
    }
    out
}

#[test]
fn crates_depend_on_each_other_by_role() {
    let names: BTreeSet<&str> = CRATES.iter().map(|c| c.1).collect();
    let mut wrong = Vec::new();
    for (dir, name, allowed) in CRATES {
        let manifest = root().join(dir).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(
            text.contains(&format!("name = \"{name}\"")),
            "{dir}/Cargo.toml is {name}"
        );
        for dep in normal_deps(&manifest) {
            if names.contains(dep.as_str()) && !allowed.contains(&dep.as_str()) {
                wrong.push(format!("{name} -> {dep}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against the roles: {wrong:?}"
    );
    // The scan sees dependencies: the command line depends on the library.
    assert!(normal_deps(&root().join("Cargo.toml")).contains("cohere-bundle-core"));
    // Every crate of the workspace is in the table.
    let mut dirs: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| format!("crates/{}", e.file_name().to_string_lossy()))
        .collect();
    dirs.sort();
    for d in dirs {
        assert!(CRATES.iter().any(|c| c.0 == d), "{d} has no role here");
    }
}

/// What a service gets: `cargo tree -e normal -p cohere-bundle-core` lists no command line, server
/// framework, progress bar or mail builder (the email draft is an opt-in feature).
#[test]
fn the_library_tree_has_no_cli_server_progress_or_mail_crates() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "-e",
            "normal",
            "-p",
            "cohere-bundle-core",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crates: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains("reqwest") && crates.contains("cohere-bundle-knowledge"),
        "the tree is read: {crates:?}"
    );
    for banned in [
        "clap",
        "axum",
        "indicatif",
        "mail-builder",
        "cohere-bundle-simulator",
        "cohere-bundle",
    ] {
        assert!(
            !crates.contains(banned),
            "{banned} is in the library's tree"
        );
    }
}

#[test]
fn no_file_is_included_by_path() {
    let mut files = Vec::new();
    for d in [
        "src",
        "crates",
        "tests",
        "benches",
        "examples",
        "python/src",
    ] {
        rust_files(&root().join(d), &mut files);
    }
    assert!(files.len() > 50, "the scan found the sources");
    let attribute = ["#[", "path"].concat(); // not written out, so that this file does not match
    let found: Vec<String> = files
        .iter()
        .filter(|f| code(f).contains(&attribute))
        .map(|f| f.display().to_string())
        .collect();
    assert!(found.is_empty(), "a path attribute in {found:?}");
}

// ---------------------------------------------------------------------------------------------------------
// Stage folders inside the library.

fn core_src() -> PathBuf {
    root().join("crates/core/src")
}

/// The library's module groups in data-flow order: shared modules first, then the stages, then the entry
/// points, which tie the stages together.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "shared",
        &[
            "cleanup",
            "error",
            "exchange",
            "safe",
            "scrub",
            "sse",
            "summary",
            "strenum",
            "cohere",
            "knowledge",
            "tokens",
        ],
    ),
    ("input", &["input"]),
    ("gather", &["gather"]),
    ("diagnose", &["diagnose"]),
    ("render", &["render"]),
    ("bundle", &["bundle"]),
    (
        "entry",
        &["library", "middleware", "outcome", "pipeline", "recorder"],
    ),
];

fn rank_of(top: &str) -> Option<usize> {
    GROUPS.iter().position(|(_, mods)| mods.contains(&top))
}

/// A library file's unit: `gather/client` for `gather/client.rs`, `gather/observe` for the files under
/// `gather/observe/`, `gather` for `gather/mod.rs`, `pipeline` for `pipeline.rs`, `scrub` for the scrubber.
fn unit_of(rel: &str) -> String {
    let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
    match parts.as_slice() {
        [top, "mod"] => top.to_string(),
        [top] => top.to_string(),
        [top, sub, ..] if GROUPS[1..6].iter().any(|(_, m)| m.contains(top)) => {
            format!("{top}/{sub}")
        }
        [top, ..] => top.to_string(),
        [] => unreachable!(),
    }
}

/// The library's files (lib.rs left out), relative to its `src/`.
fn core_files() -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    rust_files(&core_src(), &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(core_src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, p)
        })
        .filter(|(rel, _)| rel != "lib.rs")
        .collect()
}

/// Every `crate::a::b` path of the library's code, per unit: the units it names.
fn unit_graph() -> BTreeMap<String, BTreeSet<String>> {
    let re = regex::Regex::new(r"crate::([a-z_]+)(?:::([a-z_]+))?").unwrap();
    let files = core_files();
    let units: BTreeSet<String> = files.iter().map(|(r, _)| unit_of(r)).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, p) in &files {
        let from = unit_of(rel);
        let to = g.entry(from.clone()).or_default();
        for cap in re.captures_iter(&code(p)) {
            let top = &cap[1];
            let target = match cap.get(2) {
                Some(sub) if units.contains(&format!("{top}/{}", sub.as_str())) => {
                    format!("{top}/{}", sub.as_str())
                }
                _ => top.to_string(),
            };
            if target != from && (units.contains(&target) || rank_of(top).is_some()) {
                to.insert(target);
            }
        }
    }
    g
}

#[test]
fn stages_import_earlier_stages_and_shared_modules_only() {
    let g = unit_graph();
    assert!(g.len() > 30, "the scan found the units: {:?}", g.keys());
    assert!(
        g["pipeline"].contains("diagnose"),
        "the scan sees imports: {g:?}"
    );
    let mut wrong = Vec::new();
    for (from, tos) in &g {
        let from_top = from.split('/').next().unwrap();
        let Some(rf) = rank_of(from_top) else {
            wrong.push(format!("{from}: in no group"));
            continue;
        };
        for to in tos {
            let rt = rank_of(to.split('/').next().unwrap()).expect("a group");
            let ok = match GROUPS[rf].0 {
                "entry" => true,
                "shared" => rt == 0,
                _ => rt <= rf,
            };
            if !ok {
                wrong.push(format!(
                    "{from} ({}) -> {to} ({})",
                    GROUPS[rf].0, GROUPS[rt].0
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the data flow:\n{}",
        wrong.join("\n")
    );
}

/// A cycle through `start`, if there is one.
fn cycle_from(g: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeSet<String>>,
        at: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for n in g.get(at).into_iter().flatten() {
            if n == start {
                path.push(n.clone());
                return true;
            }
            if seen.insert(n.clone()) {
                path.push(n.clone());
                if walk(g, n, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(g, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn library_units_import_each_other_one_way() {
    let g = unit_graph();
    let cycles: Vec<Vec<String>> = g.keys().filter_map(|m| cycle_from(&g, m)).collect();
    assert!(
        cycles.is_empty(),
        "import cycles: {}",
        cycles
            .iter()
            .map(|c| c.join(" -> "))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// Issue 23: a module's first doc line says where it stands: "<Stage> stage", "Shared", or "Entry point".
#[test]
fn every_library_module_says_its_stage_first() {
    let mut wrong = Vec::new();
    for (rel, p) in core_files() {
        let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
        let text = std::fs::read_to_string(&p).unwrap();
        let first = text.lines().next().unwrap_or("");
        let group = GROUPS[rank_of(top).expect("a group")].0;
        let want = match group {
            "shared" => "//! Shared".to_string(),
            "entry" => "//! Entry point".to_string(),
            stage => format!("//! {}{} stage", stage[..1].to_uppercase(), &stage[1..]),
        };
        if !first.starts_with(&want) {
            wrong.push(format!("{rel}: {first:?} (want {want:?}…)"));
        }
    }
    assert!(wrong.is_empty(), "first doc lines:\n{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------
// The library reads no environment.

/// The library's explicit environment helpers, each called only from the binary's edge (or by a caller
/// who asks for it): the file, and why.
const ENV_HELPERS: &[(&str, &str)] = &[
    (
        "scrub/mod.rs",
        "secrets_from_env: an explicit helper for callers",
    ),
    (
        "gather/tokenizer.rs",
        "TokenizerCache::default_dir/from_env: explicit helpers for callers",
    ),
    (
        "gather/environment.rs",
        "Environment::collect: an explicit helper; the pipeline uses collect_with",
    ),
    (
        "gather/observe/mod.rs",
        "run_command sets CO_API_URL for the child it starts, and reads nothing",
    ),
    (
        "input/request/mod.rs",
        "read_request_file reads stdin only when the caller names the path `-`",
    ),
    (
        "scrub/stream.rs",
        "scrub_command reads stdin only when the caller gives no file",
    ),
];

#[test]
fn the_library_reads_no_environment_outside_explicit_helpers() {
    let mut found = Vec::new();
    let mut files: Vec<(String, PathBuf)> = core_files();
    let mut knowledge = Vec::new();
    rust_files(&root().join("crates/knowledge/src"), &mut knowledge);
    files.extend(knowledge.into_iter().map(|p| (p.display().to_string(), p)));
    for (rel, f) in files {
        let c = code(&f);
        for pat in [
            "std::env::var",
            "env::var_os",
            "env::vars",
            "dirs::",
            "stdin()",
        ] {
            if c.contains(pat) && !ENV_HELPERS.iter().any(|(h, _)| *h == rel) {
                found.push(format!("{rel}: {pat}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "environment or stdin read in the library: {found:?}"
    );
    // The scan sees reads: the helpers named above do read.
    let helper = code(&core_src().join("scrub/mod.rs"));
    assert!(helper.contains("env::vars"));
}

// ---------------------------------------------------------------------------------------------------------
// Function length and examples.

/// The crates whose functions and public items the two checks below read.
const CODE_DIRS: &[&str] = &[
    "src",
    "crates/core/src",
    "crates/knowledge/src",
    "crates/simulator/src",
];

/// The functions longer than `max` lines (from `fn` to its closing brace; string and character literals and
/// comments left out when braces are counted, test modules left out), unless a comment `// Long: <reason>`
/// stands right above them (above its doc comment and attributes).
fn long_functions(max: usize) -> Vec<String> {
    let lit = regex::Regex::new(r#""(\\.|[^"\\])*"|b?'(\\.|[^'\\])'"#).unwrap();
    let fn_re =
        regex::Regex::new(r"^\s*(pub(\([a-z:]+\))?\s+)?(const\s+)?(async\s+)?fn\s+(\w+)").unwrap();
    let mut files = Vec::new();
    for d in CODE_DIRS {
        rust_files(&root().join(d), &mut files);
    }
    let mut out = Vec::new();
    for f in files {
        let raw = std::fs::read_to_string(&f).unwrap();
        let raw: Vec<&str> = raw.lines().collect();
        let lines: Vec<String> = code(&f)
            .lines()
            .map(|l| lit.replace_all(l, "\"\"").into_owned())
            .collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(m) = fn_re.captures(l) else { continue };
            let (mut depth, mut seen) = (0i64, false);
            for (j, body) in lines.iter().enumerate().skip(i) {
                depth += body.matches('{').count() as i64 - body.matches('}').count() as i64;
                seen |= body.contains('{');
                if !seen && body.trim_end().ends_with(';') {
                    break;
                }
                if seen && depth <= 0 {
                    let len = j - i + 1;
                    let mut k = i;
                    while k > 0 && {
                        let t = raw[k - 1].trim_start();
                        t.starts_with("///") || t.starts_with("#[")
                    } {
                        k -= 1;
                    }
                    let reason = k > 0 && raw[k - 1].trim_start().starts_with("// Long:");
                    if len > max && !reason {
                        let name = f.strip_prefix(root()).unwrap().display().to_string();
                        out.push(format!("{name}:{} fn {} ({len} lines)", i + 1, &m[5]));
                    }
                    break;
                }
            }
        }
    }
    out
}

/// Issue 14: no function over 80 lines without a reason stated in a comment.
#[test]
fn no_function_is_over_80_lines_without_a_reason() {
    let long = long_functions(80);
    assert!(
        long.is_empty(),
        "functions over 80 lines:\n{}",
        long.join("\n")
    );
    // The check sees long functions: at 60 lines some are listed.
    assert!(!long_functions(60).is_empty());
}

/// Issue 14: every public item of the library crates has a Rust example in its docs, or an "Example" line that
/// links to an item or module whose docs have one (`scripts/check-examples.py` says how links are resolved).
#[test]
fn every_public_item_has_an_example_or_links_to_one() {
    for krate in ["crates/core", "crates/knowledge", "crates/simulator"] {
        let out = std::process::Command::new("python3")
            .arg(root().join("scripts/check-examples.py"))
            .arg(root().join(krate))
            .output()
            .expect("python3 runs scripts/check-examples.py");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{krate}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(" public items, 0 without"), "{krate}: {text}");
    }
}
