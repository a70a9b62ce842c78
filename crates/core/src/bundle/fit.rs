//! Bundle stage. Sized for email: the bundle's size budget (`write_fitted`).
//!
//! The budget is met by cutting logs to their newest lines first, then truncating large request and response
//! bodies; every cut is recorded in `manifest.json` (`cuts`), in `summary.json` (`cuts`) and in the report. The
//! compression ratio is not known up front: the plan starts from an estimate (a deflated sample of each log's
//! tail), writes, reads the real compressed sizes back from the zip and, when over, shrinks and rewrites.
//!
//! ```
//! use cohere_bundle_core::bundle::fit::{parse_size, DEFAULT_MAX_SIZE, MIN_MAX_SIZE};
//! assert_eq!(parse_size("10MiB"), Ok(DEFAULT_MAX_SIZE));
//! assert_eq!(parse_size("64 KiB"), Ok(MIN_MAX_SIZE));
//! assert_eq!(parse_size("1.5MB"), Ok(1_500_000));
//! assert!(parse_size("10 parsecs").is_err());
//! ```

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::bundle::{self, Member, MemberSource, WriteOptions, Written};
use crate::error::{Error, Result};
use crate::exchange::{Body, BodyEncoding, Exchange};
use crate::input::request::CapturedRequest;
use crate::scrub::Scrubber;

/// The default size budget of a bundle: 10 MiB, what most mail servers accept as an attachment.
///
/// See the [module example](crate::bundle::fit).
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;

/// The smallest budget accepted (the report, summary and manifest alone need some room).
///
/// See the [module example](crate::bundle::fit).
pub const MIN_MAX_SIZE: u64 = 64 * 1024;

/// Parses a size: `10MiB`, `500KiB`, `1.5 GiB`, `10MB` (decimal), `10M` (binary), or plain bytes.
///
/// See the [module example](crate::bundle::fit).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 10MiB, 500KiB, 1048576)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        u => {
            return Err(format!(
                "unknown size unit '{u}' in '{s}' (use B, KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    let v = n * mult;
    if !v.is_finite() || !(1.0..=1e15).contains(&v) {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(v as u64)
}

pub use crate::bundle::human;

/// What to cut so a bundle fits its budget. Built by [`write_fitted`]; read by the renderer it is given.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fit {
    /// Per log (in `BundleOptions::logs` order): keep only the newest this-many bytes.
    pub keep_tail: Vec<Option<u64>>,
    /// Per log: the cut in words, for the report's log listing.
    pub log_cuts: Vec<Option<String>>,
    /// Cuts of logs, in words (the renderer adds those of bodies from [`Fit::trim_exchange`] and
    /// [`Fit::trim_request`]).
    pub cuts: Vec<String>,
    /// Request and response bodies longer than this many bytes are truncated.
    pub body_cap: Option<usize>,
}

impl Fit {
    /// The kept tail of log number `i`.
    pub(crate) fn keep_tail(&self, i: usize) -> Option<u64> {
        self.keep_tail.get(i).copied().flatten()
    }

    /// The cut of log number `i`, in words.
    pub(crate) fn log_cut(&self, i: usize) -> Option<String> {
        self.log_cuts.get(i).cloned().flatten()
    }

    /// Truncates the bodies of an exchange to [`Fit::body_cap`]; returns the cuts made, in words.
    pub(crate) fn trim_exchange(&self, e: &mut Exchange, member: &str) -> Vec<String> {
        let Some(cap) = self.body_cap else {
            return Vec::new();
        };
        let mut cuts = Vec::new();
        if let Some(c) = trim_body(&mut e.request.body, cap) {
            cuts.push(format!("{member}: request body {c}"));
        }
        if let Some(r) = &mut e.response {
            if let Some(c) = trim_body(&mut r.body, cap) {
                cuts.push(format!("{member}: response body {c}"));
            }
        }
        cuts
    }

    /// Shortens the long strings of a request body so its JSON fits [`Fit::body_cap`]; returns the cut made.
    pub(crate) fn trim_request(&self, r: &mut CapturedRequest, member: &str) -> Option<String> {
        let cap = self.body_cap?;
        let before = serde_json::to_string(&r.body).map(|s| s.len()).unwrap_or(0);
        if before <= cap {
            return None;
        }
        let (v, after) = shorten_json(&r.body, cap);
        r.body = v;
        Some(format!("{member}: strings in the body shortened ({} of JSON to {}); the full text is not in the bundle", human(before as u64), human(after as u64)))
    }
}

/// Shortens strings in a JSON value until its compact form fits `cap` bytes (or strings are 32 bytes).
fn shorten_json(v: &serde_json::Value, cap: usize) -> (serde_json::Value, usize) {
    fn walk(v: &mut serde_json::Value, max: usize) {
        match v {
            serde_json::Value::String(s) if s.len() > max => {
                let total = s.len();
                let mut end = max;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
                s.push_str(&format!("…[cut: {total} bytes in all]"));
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, max)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, max)),
            _ => {}
        }
    }
    let mut max = cap;
    loop {
        let mut out = v.clone();
        walk(&mut out, max);
        let len = serde_json::to_string(&out).map(|s| s.len()).unwrap_or(0);
        if len <= cap || max <= 32 {
            return (out, len);
        }
        max /= 2;
    }
}

/// Truncates one recorded body to `cap` bytes: JSON keeps its shape (long strings shortened) when that is
/// enough; otherwise the text is cut. `size` keeps the original size and `truncated` is set.
fn trim_body(b: &mut Body, cap: usize) -> Option<String> {
    if b.text.len() <= cap {
        return None;
    }
    let before = b.text.len();
    if b.encoding == BodyEncoding::Utf8 {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&b.text) {
            let (short, len) = shorten_json(&v, cap);
            if len <= cap {
                b.text = serde_json::to_string(&short).unwrap_or_default();
                b.truncated = true;
                return Some(format!(
                    "strings shortened ({} to {})",
                    human(before as u64),
                    human(b.text.len() as u64)
                ));
            }
        }
    }
    let mut end = cap;
    while !b.text.is_char_boundary(end) {
        end -= 1;
    }
    b.text.truncate(end);
    b.truncated = true;
    Some(format!(
        "truncated to its first {} of {}",
        human(end as u64),
        human(b.size.max(before as u64))
    ))
}

/// Deflated size of `data` (as a zip member would be), for estimates.
fn deflated_len(data: &[u8]) -> u64 {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6));
    if zip.start_file("x", opts).is_err() || zip.write_all(data).is_err() {
        return data.len() as u64;
    }
    zip.finish()
        .map(|c| c.into_inner().len() as u64)
        .unwrap_or(data.len() as u64)
}

/// Compressed/raw ratio of a log, from a sample of its newest `SAMPLE` bytes.
fn log_ratio(path: &Path, len: u64) -> f64 {
    const SAMPLE: u64 = 1 << 20;
    let Ok(mut f) = std::fs::File::open(path) else {
        return 1.0;
    };
    let n = len.min(SAMPLE);
    if n == 0 || f.seek(SeekFrom::Start(len - n)).is_err() {
        return 1.0;
    }
    let mut buf = Vec::with_capacity(n as usize);
    if f.take(n).read_to_end(&mut buf).is_err() || buf.is_empty() {
        return 1.0;
    }
    (deflated_len(&buf) as f64 / buf.len() as f64).clamp(0.001, 1.1)
}

/// Per-member compressed sizes of a written zip.
fn compressed_sizes(path: &Path) -> Result<Vec<(String, u64, u64)>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut z = zip::ZipArchive::new(std::io::BufReader::new(f))?;
    let mut out = Vec::new();
    for i in 0..z.len() {
        let m = z.by_index_raw(i)?;
        out.push((m.name().to_string(), m.compressed_size(), m.size()));
    }
    Ok(out)
}

/// Splits `avail` compressed bytes among logs (smallest first get all they need), returning kept raw bytes.
fn allocate(avail: f64, logs: &[(u64, f64)]) -> Vec<u64> {
    let mut order: Vec<usize> = (0..logs.len()).collect();
    order.sort_by(|&a, &b| {
        (logs[a].0 as f64 * logs[a].1).total_cmp(&(logs[b].0 as f64 * logs[b].1))
    });
    let mut keep = vec![0u64; logs.len()];
    let mut left = avail.max(0.0);
    for (k, &i) in order.iter().enumerate() {
        let (len, r) = logs[i];
        let share = left / (order.len() - k) as f64;
        let need = len as f64 * r;
        if need <= share {
            keep[i] = len;
            left -= need;
        } else {
            keep[i] = ((share / r) as u64).min(len);
            left -= share;
        }
    }
    keep
}

fn log_fit(fit: &mut Fit, logs: &[(PathBuf, String, u64)], keep: &[u64]) {
    fit.keep_tail.clear();
    fit.log_cuts.clear();
    fit.cuts.clear();
    for ((_, name, len), &k) in logs.iter().zip(keep) {
        if k >= *len {
            fit.keep_tail.push(None);
            fit.log_cuts.push(None);
        } else if k == 0 {
            let c = format!("dropped entirely ({}) to fit the size budget", human(*len));
            fit.cuts.push(format!("{name}: {c}"));
            fit.keep_tail.push(Some(0));
            fit.log_cuts.push(Some(c));
        } else {
            let c = format!(
                "kept only the newest {} of {} (cut at a line start; older lines dropped)",
                human(k),
                human(*len)
            );
            fit.cuts.push(format!("{name}: {c}"));
            fit.keep_tail.push(Some(k));
            fit.log_cuts.push(Some(c));
        }
    }
}

/// Writes one attempt on the blocking pool: the members scrubbed into a zip at `out`, the cuts in its manifest.
async fn write_attempt(
    members: Vec<Member>,
    cuts: Vec<String>,
    out: PathBuf,
    force: bool,
    scrubber: &Scrubber,
) -> Result<(Written, Vec<String>)> {
    let scrubber = scrubber.fork();
    tokio::task::spawn_blocking(move || {
        bundle::write_bundle(
            &members,
            &scrubber,
            &WriteOptions {
                path: out,
                force,
                cuts: cuts.clone(),
            },
        )
        .map(|w| (w, cuts))
    })
    .await
    .map_err(|e| Error::Other(format!("bundle writer stopped: {e}")))?
}

/// Estimated compressed size of the text members: each deflated in memory, plus headers.
fn text_estimate(members: &[Member]) -> f64 {
    members
        .iter()
        .map(|m| match &m.source {
            MemberSource::Text(t) => deflated_len(t.as_bytes()) as f64 + 200.0,
            MemberSource::File { .. } => 200.0,
        })
        .sum::<f64>()
        + 4096.0
}

/// The bundle's logs with their estimated compression ratios: (size, ratio) each.
fn log_lens(logs: &[(PathBuf, String, u64)], ratios: &[f64]) -> Vec<(u64, f64)> {
    logs.iter()
        .map(|(_, _, l)| *l)
        .zip(ratios.iter().copied())
        .collect()
}

/// The first plan, from estimates: when the estimate is over the budget, bodies are capped (only when they
/// would leave the logs less than a quarter of the budget) and the room left is shared among the logs.
fn first_plan<F>(
    fit: &mut Fit,
    budget: f64,
    margin: f64,
    logs: &[(PathBuf, String, u64)],
    ratios: &[f64],
    render: &mut F,
) -> Result<()>
where
    F: FnMut(&Fit) -> Result<(Vec<Member>, Vec<String>)>,
{
    let mut text_c = text_estimate(&render(fit)?.0);
    let logs_c: f64 = logs
        .iter()
        .zip(ratios)
        .map(|((_, _, l), r)| *l as f64 * r)
        .sum();
    if text_c + logs_c + margin <= budget {
        return Ok(());
    }
    let mut cap = 1usize << 20;
    while text_c + margin > budget * 0.75 && logs_c > 0.0 || text_c + margin > budget {
        if cap < 1024 {
            break;
        }
        fit.body_cap = Some(cap);
        text_c = text_estimate(&render(fit)?.0);
        cap /= 4;
    }
    let keep = allocate(budget - text_c - margin, &log_lens(logs, ratios));
    log_fit(fit, logs, &keep);
    Ok(())
}

/// Moves a finished attempt to `path` (refusing to replace a file there unless `force`).
fn persist(tmp: tempfile::TempPath, path: &Path, force: bool) -> Result<()> {
    let kept = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    kept.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::OutputExists(path.to_path_buf())
        } else {
            Error::io(path, e.error)
        }
    })
}

/// After an attempt of `size` bytes came out over `budget`: learns the real compression ratios of the logs
/// and the real size of the rest from the attempt at `tmp`, then shrinks the plan. Returns false when nothing
/// is left to cut.
fn shrink(
    fit: &mut Fit,
    tmp: &Path,
    size: u64,
    budget: u64,
    margin: f64,
    logs: &[(PathBuf, String, u64)],
    ratios: &mut [f64],
) -> Result<bool> {
    let sizes = compressed_sizes(tmp)?;
    let mut log_c = 0.0;
    for (i, (_, name, _)) in logs.iter().enumerate() {
        if let Some((_, c, u)) = sizes.iter().find(|(n, _, _)| n == name) {
            log_c += *c as f64;
            if *u > 4096 {
                ratios[i] = (*c as f64 / *u as f64).clamp(0.001, 1.1);
            }
        }
    }
    let avail = budget as f64 - (size as f64 - log_c) - margin;
    if avail < budget as f64 * 0.1 {
        // The non-log part itself is too big: cut bodies harder.
        let cap = fit.body_cap.map(|c| c / 4).unwrap_or(256 * 1024);
        if cap < 1024 {
            if fit.keep_tail.iter().all(|k| *k == Some(0)) {
                return Ok(false);
            }
            log_fit(fit, logs, &vec![0; logs.len()]);
            return Ok(true);
        }
        fit.body_cap = Some(cap);
    }
    let mut keep = allocate(
        avail.min(log_c - (size - budget) as f64 - margin),
        &log_lens(logs, ratios),
    );
    // Always shrink: never keep more of a log than the attempt that was over.
    for (k, old) in keep.iter_mut().zip(&fit.keep_tail) {
        if let Some(o) = old {
            *k = (*k).min(o.saturating_mul(9) / 10);
        }
    }
    log_fit(fit, logs, &keep);
    Ok(true)
}

/// Writes a bundle within `budget` bytes (`None`: no budget). `logs` are the bundle's logs (path, bundle name,
/// size); `render` builds the members for a [`Fit`] and returns them with every cut made, in words. Returns
/// what was written and the cuts (also in the manifest). Fails with an [`Error::Field`] naming `max_size`
/// when even the smallest plan (no logs, bodies cut to 1 KiB) does not fit.
pub(crate) async fn write_fitted<F>(
    budget: Option<u64>,
    path: &Path,
    force: bool,
    scrubber: &Scrubber,
    logs: &[(PathBuf, String, u64)],
    mut render: F,
) -> Result<(Written, Vec<String>)>
where
    F: FnMut(&Fit) -> Result<(Vec<Member>, Vec<String>)>,
{
    let mut fit = Fit {
        keep_tail: vec![None; logs.len()],
        log_cuts: vec![None; logs.len()],
        ..Fit::default()
    };
    let Some(budget) = budget else {
        let (members, cuts) = render(&fit)?;
        return write_attempt(members, cuts, path.to_path_buf(), force, scrubber).await;
    };
    if budget < MIN_MAX_SIZE {
        return Err(Error::field(
            "max_size",
            None,
            format!(
                "{} is too small; at least {}",
                human(budget),
                human(MIN_MAX_SIZE)
            ),
        ));
    }
    bundle::check_output(path, force)?;
    let margin = (budget as f64 * 0.03) + 16.0 * 1024.0;
    // Estimates: text members deflated in memory; logs by a deflated sample of their tails.
    let mut ratios: Vec<f64> = logs.iter().map(|(p, _, len)| log_ratio(p, *len)).collect();
    first_plan(&mut fit, budget as f64, margin, logs, &ratios, &mut render)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    for _ in 0..8 {
        let tmp = tempfile::Builder::new()
            .prefix(".cohere-bundle-fit-")
            .suffix(".zip")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .into_temp_path();
        let _unfinished = crate::cleanup::track(&tmp);
        let (members, cuts) = render(&fit)?;
        let (mut written, cuts) =
            write_attempt(members, cuts, tmp.to_path_buf(), true, scrubber).await?;
        if written.size <= budget {
            persist(tmp, path, force)?;
            written.path = path.to_path_buf();
            return Ok((written, cuts));
        }
        if !shrink(
            &mut fit,
            &tmp,
            written.size,
            budget,
            margin,
            logs,
            &mut ratios,
        )? {
            break;
        }
    }
    Err(Error::field(
        "max_size",
        None,
        format!(
            "cannot fit the bundle into {} even with every log and body cut",
            human(budget)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10MiB").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("500KiB").unwrap(), 500 * 1024);
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert_eq!(parse_size("1.5 MiB").unwrap(), 1536 * 1024);
        assert_eq!(parse_size("2MB").unwrap(), 2_000_000);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10 furlongs").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn allocation_gives_small_logs_all_and_splits_the_rest() {
        let keep = allocate(1000.0, &[(100, 1.0), (10_000, 0.5), (10_000, 1.0)]);
        assert_eq!(keep[0], 100);
        assert!(keep[1] > keep[2]);
        let used = keep[0] as f64 + keep[1] as f64 * 0.5 + keep[2] as f64;
        assert!(used <= 1000.0 + 1.0, "{used}");
    }

    #[test]
    fn json_bodies_keep_their_shape() {
        let mut b =
            Body::from_text(serde_json::json!({"message": "x".repeat(10_000), "n": 1}).to_string());
        let c = trim_body(&mut b, 1000).unwrap();
        assert!(c.contains("shortened"), "{c}");
        assert!(b.truncated && b.text.len() <= 1000 && b.size > 10_000);
        assert_eq!(b.json().unwrap()["n"], 1);
    }
}
