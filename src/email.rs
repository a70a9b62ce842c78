//! The `.eml` draft to Cohere support ([`write_eml`]): drafted from the summary, the report text and the zip
//! path; it never parses the zip again.

#[cfg(feature = "email")]
use std::io::Write;
use std::path::{Path, PathBuf};

#[cfg(feature = "email")]
use crate::error::{Error, Result};
use crate::summary::Summary;

/// The size budget moved to [`crate::fit`]; these stay here for callers of the earlier paths.
pub use crate::fit::{parse_size, DEFAULT_MAX_SIZE, MIN_MAX_SIZE};

/// The `.eml` path beside a zip: `x.zip` → `x.eml`.
pub fn eml_path(zip: &Path) -> PathBuf {
    zip.with_extension("eml")
}

/// The subject line of the support email: endpoint, model, status and likely cause.
pub fn subject(s: &Summary) -> String {
    let status = match (&s.status, &s.error) {
        (Some(st), _) => format!("HTTP {st}"),
        (None, Some(e)) => e.class.clone(),
        (None, None) => "no error".into(),
    };
    let cause = s
        .causes
        .first()
        .map(|c| c.code.as_str().to_string())
        .unwrap_or_else(|| "cause unknown".into());
    let mut subj = format!(
        "Cohere API {status} on {} with {}: {cause}",
        s.endpoint.name(),
        s.model.as_deref().unwrap_or("(no model)")
    );
    if let Some(id) = &s.request_id {
        subj.push_str(&format!(" (request id {id})"));
    }
    subj
}

#[cfg(feature = "email")]
/// Writes an RFC 5322 draft to support@cohere.com at `path`: the subject from [`subject`], the bundle's
/// `report.md` as the text body and the zip attached. Marked `X-Unsent: 1` so mail clients open it as a
/// draft. `report` is the body (the bundle's `report.md`, scrubbed); `from` the `From` address, else left for
/// the mail client to fill in. The zip is attached as written; it is not parsed again.
///
/// Written like the zip: a temp file beside `path` with mode 0600 (whatever the umask), renamed into place;
/// nothing is left behind on failure. A file or symbolic link already at `path` is replaced (the link itself,
/// never its target): check with [`crate::bundle::check_output`] first to refuse it, as the pipeline does without
/// `--force`.
pub fn write_eml(
    summary: &Summary,
    zip: &Path,
    report: &str,
    from: Option<&str>,
    path: &Path,
) -> Result<PathBuf> {
    let zip_bytes = std::fs::read(zip).map_err(|e| Error::io(zip, e))?;
    let file_name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle.zip".into());
    let mut msg = mail_builder::MessageBuilder::new()
        .to(("Cohere Support", crate::cohere::SUPPORT_EMAIL))
        .subject(subject(summary))
        .header("X-Unsent", mail_builder::headers::raw::Raw::new("1"))
        .text_body(report.to_string())
        .attachment("application/zip", file_name, zip_bytes);
    if let Some(from) = from.filter(|v| v.contains('@') && !v.contains(['\r', '\n'])) {
        msg = msg.from(from.trim().to_string());
    }
    let bytes = msg.write_to_vec().map_err(|e| Error::io(path, e))?;
    // It carries the zip: private, atomic, and never written through a link (see `bundle::write_private`).
    // An existing draft was cleared by the caller (`bundle::check_output` with `--force`) and is replaced;
    // one that appears meanwhile is not.
    let replace = path.symlink_metadata().is_ok();
    crate::bundle::write_private(path, replace, ".eml.tmp", |f| f.write_all(&bytes))?;
    Ok(path.to_path_buf())
}
