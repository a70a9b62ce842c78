//! Bundle stage. The `.eml` draft to Cohere support ([`write_eml`]): drafted from the summary, the report text and the zip
//! path; it never parses the zip again.
//!
//! `write_eml` needs the `email` feature (the command line turns it on); `subject` does not.
//!
//! ```
//! use cohere_bundle_core::bundle::email::{subject, MAX_SUBJECT_CHARS};
//!
//! let summary: cohere_bundle_core::Summary =
//!     serde_json::from_str(include_str!("../../tests/fixtures/summary-v1.json")).unwrap();
//! assert_eq!(subject(&summary), "Cohere API: v2/chat command-r-08-2024 400 max_output_exceeded");
//! let mut long = summary.clone();
//! long.model = Some("x".repeat(200));
//! assert_eq!(subject(&long).chars().count(), MAX_SUBJECT_CHARS);
//!
//! # #[cfg(feature = "email")] {
//! use cohere_bundle_core::bundle::email::write_eml;
//! let dir = tempfile::tempdir().unwrap();
//! let zip = dir.path().join("support.zip");
//! std::fs::write(&zip, b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap();
//! let eml = write_eml(&summary, &zip, "# Report\n", None, Some("dev@example.com"), &dir.path().join("support.eml"))?;
//! let text = std::fs::read_to_string(&eml).unwrap();
//! assert!(text.contains("X-Unsent: 1") && text.contains("support@cohere.com"));
//! # }
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```

#[cfg(feature = "email")]
use std::io::Write;
use std::path::{Path, PathBuf};

#[cfg(feature = "email")]
use crate::error::{Error, Result};
use crate::summary::Summary;

/// The size budget moved to [`crate::bundle::fit`]; these stay here for callers of the earlier paths.
pub use crate::bundle::fit::{parse_size, DEFAULT_MAX_SIZE, MIN_MAX_SIZE};

/// The `.eml` path beside a zip: `x.zip` → `x.eml`.
pub(crate) fn eml_path(zip: &Path) -> PathBuf {
    zip.with_extension("eml")
}

/// The longest subject [`subject`] writes: under the 78 characters RFC 5322 recommends for a line.
///
/// See the [module example](crate::bundle::email).
pub const MAX_SUBJECT_CHARS: usize = 77;

/// The subject line of the support email: `Cohere API: v2/chat command-r 400 max_output_exceeded` (the
/// endpoint, the model, the status or failure class, the likely cause), ASCII, one line, at most
/// [`MAX_SUBJECT_CHARS`] characters: a long model ID is cut first.
///
/// See the [module example](crate::bundle::email).
pub fn subject(s: &Summary) -> String {
    let clean = |t: &str| -> String {
        t.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_string()
    };
    let what = s.status_label().unwrap_or_else(|| "no error".into());
    let cause = match (s.causes.first(), &s.error) {
        (Some(c), _) => format!(" {}", c.code.as_str()),
        (None, Some(_)) => " cause unknown".into(),
        (None, None) => String::new(),
    };
    let head = format!("Cohere API: {} ", s.endpoint.name());
    let tail = format!(" {what}{cause}");
    let model = clean(s.model.as_deref().unwrap_or("(no model)"));
    let room = MAX_SUBJECT_CHARS.saturating_sub(head.chars().count() + tail.chars().count());
    let model = if model.chars().count() <= room {
        model
    } else if room >= 8 {
        let kept: String = model.chars().take(room - 3).collect();
        format!("{kept}...")
    } else {
        String::new()
    };
    let subj = clean(&format!("{head}{model}{tail}")).replace("  ", " ");
    if subj.chars().count() <= MAX_SUBJECT_CHARS {
        subj
    } else {
        let kept: String = subj.chars().take(MAX_SUBJECT_CHARS - 3).collect();
        format!("{kept}...")
    }
}

#[cfg(feature = "email")]
/// Writes an RFC 5322 draft to support@cohere.com at `path`: the subject from [`subject`], the bundle's
/// report as a multipart/alternative body (`report`, the bundle's `report.md`, as text/plain; `html`, its
/// `report.html`, as text/html when given; both scrubbed) and the zip attached. Marked `X-Unsent: 1` so mail
/// clients open it as a draft. `from` is the `From` address, else left for the mail client to fill in. The
/// zip is attached as written; it is not parsed again.
///
/// Written like the zip: a temp file beside `path` with mode 0600 (whatever the umask), renamed into place;
/// nothing is left behind on failure. A file or symbolic link already at `path` is replaced (the link itself,
/// never its target): check with [`crate::bundle::check_output`] first to refuse it, as the pipeline does without
/// `--force`.
///
/// See the [module example](crate::bundle::email).
pub fn write_eml(
    summary: &Summary,
    zip: &Path,
    report: &str,
    html: Option<&str>,
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
        .text_body(report.to_string());
    if let Some(html) = html {
        msg = msg.html_body(html.to_string());
    }
    msg = msg.attachment("application/zip", file_name, zip_bytes);
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
