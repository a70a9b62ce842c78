//! Bundle stage (5 of 5): the zip: members scrubbed as they are written, a manifest with sizes and SHA-256, the fail-closed leak
//! check, and an atomic write (a temp file beside the target, renamed only when every check passed).
//!
//! ```
//! use cohere_bundle_core::bundle::{verify, write_bundle, Member, MemberSource, WriteOptions};
//! use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};
//!
//! let key = "q7Vd2LkP9sXw4RtZ8mNc3JbH6yFg1UaE5oKi0TpW";
//! let dir = tempfile::tempdir()?;
//! let log = dir.path().join("app.log");
//! std::fs::write(&log, format!("INFO calling Cohere with key {key}\n"))?;
//!
//! let members = vec![
//!     Member::text("request.json", format!(r#"{{"model": "command-a-03-2025", "api_key": "{key}"}}"#)),
//!     Member { name: "logs/app.log".into(), source: MemberSource::File { path: log, keep_tail: None } },
//! ];
//! let scrubber = Scrubber::new(ScrubOptions::with_known(vec![KnownSecret::new("cohere-key", key)]));
//! let opts = WriteOptions { path: dir.path().join("bundle.zip"), force: false, cuts: vec![] };
//! let written = write_bundle(&members, &scrubber, &opts)?;
//! assert_eq!(written.path, opts.path);
//! assert!(written.redactions.total() >= 2);
//! let names: Vec<&str> = written.manifest.members.iter().map(|e| e.name.as_str()).collect();
//! assert!(names.contains(&"request.json") && names.contains(&"logs/app.log"));
//! assert_eq!(written.manifest.members[0].sha256.len(), 64);
//!
//! // Anyone can check the zip later: manifest sizes and hashes, names, and no known secret in any form.
//! let report = verify(&written.path, &scrubber, 1)?;
//! assert!(report.members_checked >= 2);
//!
//! // An existing bundle is never overwritten unless asked.
//! assert!(write_bundle(&members, &scrubber, &opts).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod email;
pub mod fit;

use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::error::{Error, Result};
use crate::scrub::{Leak, RedactionReport, Scrubber};

/// Where a member's bytes come from.
///
/// Example: [`crate::bundle`] (a text member and a log file).
#[derive(Debug, Clone)]
pub enum MemberSource {
    /// Text held in memory (it is scrubbed as a whole).
    Text(String),
    /// A file streamed from disk (a log); scrubbed in chunks with bounded memory.
    File {
        /// The file.
        path: PathBuf,
        /// Keep only the last this-many bytes (cut at a line start), for the size budget.
        keep_tail: Option<u64>,
    },
}

/// One member of the bundle.
///
/// Example: [`crate::bundle`].
#[derive(Debug, Clone)]
pub struct Member {
    /// Path inside the zip, e.g. `exchanges/001.json`.
    pub name: String,
    /// Its content.
    pub source: MemberSource,
}

impl Member {
    /// A text member.
    ///
    /// Example: [`crate::bundle`].
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> Member {
        Member {
            name: name.into(),
            source: MemberSource::Text(text.into()),
        }
    }
}

/// One manifest entry.
///
/// Example: [`crate::bundle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Member path.
    pub name: String,
    /// Size in bytes (uncompressed).
    pub size: u64,
    /// SHA-256 of the member, lower-case hex.
    pub sha256: String,
}

/// `manifest.json`.
///
/// Example: [`crate::bundle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 1.
    pub schema_version: u32,
    /// The tool that wrote it.
    pub tool: String,
    /// Every other member.
    pub members: Vec<ManifestEntry>,
    /// What was cut to fit the size budget.
    #[serde(default)]
    pub cuts: Vec<String>,
}

/// Options for [`write_bundle`].
///
/// Example: [`crate::bundle`].
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The zip to write.
    pub path: PathBuf,
    /// Overwrite an existing file.
    pub force: bool,
    /// Cuts already made (recorded in the manifest).
    pub cuts: Vec<String>,
}

/// What was written.
///
/// Example: [`crate::bundle`].
#[derive(Debug, Clone)]
pub struct Written {
    /// The zip.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The manifest written into it.
    pub manifest: Manifest,
    /// The redaction report written into it.
    pub redactions: RedactionReport,
}

/// Fails with [`Error::OutputExists`] when `path` exists (a symbolic link counts, even one that points nowhere)
/// and `force` is off.
///
/// ```
/// use cohere_bundle_core::bundle::check_output;
/// use cohere_bundle_core::Error;
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("bundle.zip");
/// assert!(check_output(&out, false).is_ok());
/// std::fs::write(&out, "an older bundle")?;
/// assert!(matches!(check_output(&out, false), Err(Error::OutputExists(_))));
/// assert!(check_output(&out, true).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_output(path: &Path, force: bool) -> Result<()> {
    if path.is_dir() {
        return Err(Error::input(
            path.display().to_string(),
            "is a directory; give a .zip file path",
        ));
    }
    // A symbolic link counts as existing even when it points nowhere: it is never written through.
    if !force && path.symlink_metadata().is_ok() {
        return Err(Error::OutputExists(path.to_path_buf()));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    check_writable_dir(dir)
}

/// Checks that `dir` exists and a file can be created in it (by creating and removing a probe file).
pub(crate) fn check_writable_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::input(
            dir.display().to_string(),
            "the output directory does not exist",
        ));
    }
    tempfile::Builder::new()
        .prefix(".cohere-bundle-probe-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            Error::input(
                dir.display().to_string(),
                format!("cannot write in the output directory: {e}"),
            )
        })
}

/// A temp file in the directory of `path` (so the final rename stays on one file system), readable and
/// writable by its owner only (mode 0600, set explicitly so the umask does not matter). It is deleted when
/// dropped, so every early return cleans up.
fn temp_beside(path: &Path, suffix: &str) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::input(
            path.display().to_string(),
            "the output directory does not exist",
        ));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".cohere-bundle-")
        .suffix(suffix)
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(tmp.path(), e))?;
    }
    Ok(tmp)
}

/// Renames a finished temp file onto `path`: over an existing file only with `force` (a symbolic link there is
/// replaced by the rename, never followed); otherwise [`Error::OutputExists`]. On failure the temp file is
/// deleted.
fn persist(tmp: tempfile::NamedTempFile, path: &Path, force: bool) -> Result<()> {
    let kept = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    kept.map(drop).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::OutputExists(path.to_path_buf())
        } else {
            Error::io(path, e.error)
        }
    })
}

/// Writes a file the way the bundle is written: `fill` writes a temp file beside `path` (mode 0600 whatever
/// the umask), which is synced and renamed onto `path`. A symbolic link at `path` is replaced, never written
/// through; with `force` off an existing `path` is left alone ([`Error::OutputExists`]). On any failure,
/// `fill`'s included, the temp file is removed and `path` is untouched.
#[cfg_attr(not(feature = "email"), allow(dead_code))]
pub(crate) fn write_private(
    path: &Path,
    force: bool,
    suffix: &str,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    check_output(path, force)?;
    let mut tmp = temp_beside(path, suffix)?;
    let _unfinished = crate::cleanup::track(tmp.path());
    fill(tmp.as_file_mut())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(path, e))?;
    persist(tmp, path, force)
}

struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

const CHUNK: usize = 1 << 20;

/// Streams `path` (or its newest `keep_tail` bytes, from a line start) through the scrubber into `out` with
/// bounded memory.
fn stream_log(
    path: &Path,
    keep_tail: Option<u64>,
    member: &str,
    scrubber: &Scrubber,
    out: &mut impl Write,
) -> Result<()> {
    // A log as `crate::input::logs::prepare` left it: checked, and text only.
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if let Some(keep) = keep_tail.filter(|k| *k < len) {
        // Start at the first line that begins inside the kept tail.
        let start = len - keep;
        f.seek(std::io::SeekFrom::Start(start))
            .map_err(|e| Error::io(path, e))?;
        let mut probe = BufReader::new(&mut f);
        let mut skipped = Vec::new();
        std::io::BufRead::read_until(&mut probe, b'\n', &mut skipped)
            .map_err(|e| Error::io(path, e))?;
        let pos = start + skipped.len() as u64;
        drop(probe);
        f.seek(std::io::SeekFrom::Start(pos))
            .map_err(|e| Error::io(path, e))?;
    }
    // Two stages on two cores: this thread compresses (via `out`) while a scoped thread scrubs.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let producer = scope.spawn(move || {
            let mut w = ChannelWriter {
                tx,
                buf: Vec::with_capacity(PIPE_CHUNK),
            };
            scrubber.scrub_stream(member, BufReader::with_capacity(CHUNK, f), &mut w)?;
            w.flush()
        });
        let mut write_err = None;
        for chunk in rx.iter() {
            if let Err(e) = out.write_all(&chunk) {
                write_err = Some(e);
                break;
            }
        }
        drop(rx);
        let scrubbed = producer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("scrubber thread panicked")));
        match (write_err, scrubbed) {
            (Some(e), _) => Err(Error::io(path, e)),
            (None, Err(e)) => Err(Error::io(path, e)),
            (None, Ok(())) => Ok(()),
        }
    })
}

const PIPE_CHUNK: usize = 256 * 1024;

/// A `Write` that hands full buffers to another thread.
struct ChannelWriter {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PIPE_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(PIPE_CHUNK));
            self.tx.send(full).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "bundle writer stopped")
            })?;
        }
        Ok(())
    }
}

/// `t` as a zip member's modification time (MS-DOS date and time: local time, two-second steps, years
/// 1980 to 2107, clamped to them).
///
/// ```
/// use cohere_bundle_core::bundle::zip_time;
/// let epoch = chrono::DateTime::UNIX_EPOCH.naive_utc();
/// // Before 1980: clamped to the first year a zip can hold.
/// assert_eq!(zip_time(epoch).year(), 1980);
/// let t = chrono::NaiveDate::from_ymd_opt(2025, 3, 1).unwrap().and_hms_opt(12, 30, 59).unwrap();
/// let z = zip_time(t);
/// assert_eq!((z.year(), z.month(), z.day(), z.second()), (2025, 3, 1, 58));
/// ```
pub fn zip_time(t: chrono::NaiveDateTime) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let year = t.year().clamp(1980, 2107) as u16;
    zip::DateTime::from_date_and_time(
        year,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second().min(58) as u8,
    )
    .unwrap_or_default()
}

/// Writes the bundle: every member scrubbed, then `redactions.json` and `manifest.json`; re-reads the zip and
/// searches every member for every known secret; keeps it (renaming the temp file onto `opts.path`) only when
/// nothing was found. On any failure no file is left at the output path.
///
/// Example: [`crate::bundle`].
pub fn write_bundle(
    members: &[Member],
    scrubber: &Scrubber,
    opts: &WriteOptions,
) -> Result<Written> {
    check_output(&opts.path, opts.force)?;
    // Two more: redactions.json and manifest.json.
    if members.len() + 2 > MAX_MEMBERS {
        return Err(Error::Other(format!(
            "a bundle holds at most {MAX_MEMBERS} members; this one would have {}",
            members.len() + 2
        )));
    }
    let tmp = temp_beside(&opts.path, ".zip.tmp")?;
    let _unfinished = crate::cleanup::track(tmp.path());
    let file = tmp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io(tmp.path(), e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = member_options();
    let mut entries = Vec::new();
    for m in members {
        entries.push(write_member(&mut zip, m, options, scrubber, tmp.path())?);
    }
    let redactions = scrubber.report();
    let red_json = pretty_json(&redactions)?;
    write_text(&mut zip, "redactions.json", &red_json, options, tmp.path())?;
    entries.push(ManifestEntry {
        name: "redactions.json".into(),
        size: red_json.len() as u64,
        sha256: hex::encode(Sha256::digest(red_json.as_bytes())),
    });
    let manifest = Manifest {
        schema_version: 1,
        tool: crate::TOOL.into(),
        members: entries,
        cuts: opts.cuts.clone(),
    };
    let man_json = pretty_json(&manifest)?;
    write_text(&mut zip, "manifest.json", &man_json, options, tmp.path())?;
    let mut inner = zip.finish()?;
    inner.flush().map_err(|e| Error::io(tmp.path(), e))?;
    drop(inner);

    // On a leak, `tmp` is deleted when dropped.
    refuse_leaks(tmp.path(), scrubber)?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    let size = tmp.as_file().metadata().map(|m| m.len()).unwrap_or(0);
    persist(tmp, &opts.path, opts.force)?;
    Ok(Written {
        path: opts.path.clone(),
        size,
        manifest,
        redactions,
    })
}

/// How members are stored: deflated, each carrying the bundle's creation time (the zip format's local date
/// and time), not 1980.
fn member_options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .last_modified_time(zip_time(chrono::Local::now().naive_local()))
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .large_file(false)
}

/// Writes one member, scrubbed (its name too), and returns its manifest entry. `tmp` names the zip in errors.
fn write_member<W: Write + Seek>(
    zip: &mut zip::ZipWriter<W>,
    m: &Member,
    options: SimpleFileOptions,
    scrubber: &Scrubber,
    tmp: &Path,
) -> Result<ManifestEntry> {
    let name = scrubber.scrub_str("(file names)", &m.name);
    let opt = match &m.source {
        MemberSource::File { .. } => options.large_file(true),
        MemberSource::Text(_) => options,
    };
    zip.start_file(name.as_str(), opt)?;
    let mut w = HashingWriter {
        inner: zip,
        hasher: Sha256::new(),
        size: 0,
    };
    match &m.source {
        MemberSource::Text(t) => {
            let clean = scrubber.scrub_str(&name, t);
            w.write_all(clean.as_bytes())
                .map_err(|e| Error::io(tmp, e))?;
        }
        MemberSource::File { path, keep_tail } => {
            stream_log(path, *keep_tail, &name, scrubber, &mut w)?
        }
    }
    let (size, digest) = (w.size, w.hasher.finalize());
    Ok(ManifestEntry {
        name,
        size,
        sha256: hex::encode(digest),
    })
}

/// Writes a member the tool made itself (`redactions.json`, `manifest.json`) as it is.
fn write_text<W: Write + Seek>(
    zip: &mut zip::ZipWriter<W>,
    name: &str,
    text: &str,
    options: SimpleFileOptions,
    tmp: &Path,
) -> Result<()> {
    zip.start_file(name, options)?;
    zip.write_all(text.as_bytes())
        .map_err(|e| Error::io(tmp, e))
}

/// `v` as pretty JSON with a final newline.
fn pretty_json(v: &impl Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(v).map_err(|e| Error::Other(e.to_string()))? + "\n")
}

/// Fails with [`Error::Leak`] for the first known secret found in the zip at `path`.
fn refuse_leaks(path: &Path, scrubber: &Scrubber) -> Result<()> {
    if let Some(l) = find_leaks_in_zip(path, scrubber)?.first() {
        return Err(Error::Leak {
            member: shown(&l.member),
            label: l.label.clone(),
            encoding: l.encoding.as_str().into(),
        });
    }
    Ok(())
}

/// Re-reads every member of a zip and searches it for every secret the scrubber knows, in every encoding.
/// Members are read in chunks with an overlap, so a member of any size is checked with bounded memory; the
/// members are shared out over the available cores.
pub(crate) fn find_leaks_in_zip(path: &Path, scrubber: &Scrubber) -> Result<Vec<Leak>> {
    let open = || -> Result<zip::ZipArchive<BufReader<File>>> {
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        zip::ZipArchive::new(BufReader::new(f)).map_err(|e| Error::Verify {
            path: path.display().to_string(),
            reason: format!("not a readable zip: {e}"),
        })
    };
    let count = open()?.len();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
        .min(count.max(1));
    let results: Vec<Result<Vec<Leak>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || -> Result<Vec<Leak>> {
                    let mut zip = open()?;
                    let mut leaks = Vec::new();
                    for i in (t..count).step_by(threads) {
                        check_member(path, &mut zip, i, scrubber, &mut leaks)?;
                    }
                    Ok(leaks)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Other("leak check thread panicked".into())))
            })
            .collect()
    });
    let mut leaks = Vec::new();
    for r in results {
        for l in r? {
            if !leaks.contains(&l) {
                leaks.push(l);
            }
        }
    }
    Ok(leaks)
}

fn check_member(
    path: &Path,
    zip: &mut zip::ZipArchive<BufReader<File>>,
    i: usize,
    scrubber: &Scrubber,
    leaks: &mut Vec<Leak>,
) -> Result<()> {
    let m = zip.by_index(i)?;
    let name = m.name().to_string();
    let found = scrubber
        .find_leaks(&name, name.as_bytes())
        .into_iter()
        .map(|mut l| {
            l.member = format!("{name} (file name)");
            l
        })
        .chain(
            scrubber
                .find_leaks_stream(&name, m)
                .map_err(|e| Error::Verify {
                    path: format!("{}:{name}", path.display()),
                    reason: e.to_string(),
                })?,
        );
    for l in found {
        if !leaks.contains(&l) {
            leaks.push(l);
        }
    }
    Ok(())
}

/// The most members a bundle may have: `verify` refuses a zip with more before reading any of them, and
/// [`write_bundle`] refuses to write one. A bundle holds tens (observe keeps at most 1,000 exchanges).
///
/// ```
/// use cohere_bundle_core::bundle::{write_bundle, Member, WriteOptions, MAX_MEMBERS};
/// use cohere_bundle_core::scrub::{ScrubOptions, Scrubber};
/// let dir = tempfile::tempdir()?;
/// let members: Vec<Member> = (0..MAX_MEMBERS).map(|i| Member::text(format!("m{i}.txt"), "")).collect();
/// let opts = WriteOptions { path: dir.path().join("b.zip"), force: false, cuts: vec![] };
/// let err = write_bundle(&members, &Scrubber::new(ScrubOptions::default()), &opts).unwrap_err();
/// assert!(err.to_string().contains("at most 10000 members"), "{err}");
/// assert!(!opts.path.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_MEMBERS: usize = 10_000;

/// The most bytes `verify` inflates of a JSON member it parses (`manifest.json`, `summary.json`): 16 MiB. A
/// real manifest of [`MAX_MEMBERS`] entries is under 2 MiB; beyond the cap the bundle fails verification.
///
/// Example: [`verify`] (which applies the cap), as in [`crate::bundle`].
pub const MAX_JSON_MEMBER_BYTES: u64 = 16 << 20;

/// The result of [`verify`].
///
/// Example: [`crate::bundle`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The zip.
    pub path: String,
    /// Members checked against the manifest.
    pub members_checked: usize,
    /// Secrets searched for.
    pub secrets_searched: usize,
}

/// A member name as shown in a message: control characters, escape sequences and bidi overrides written out
/// ([`crate::safe::terminal_safe`]), line breaks and tabs too, so the message stays one line of text.
fn shown(name: &str) -> String {
    crate::safe::terminal_safe(name)
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

/// Why a member name is refused, if it is: a name that extracts outside the current directory or to a
/// different place on another system.
fn bad_name(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    if name.is_empty() {
        Some("is empty")
    } else if name.contains('\0') {
        Some("contains a NUL byte")
    } else if name.contains('\\') {
        Some("contains a backslash (a path separator on Windows)")
    } else if name.starts_with('/') {
        Some("is an absolute path")
    } else if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        Some("starts with a drive letter (an absolute path on Windows)")
    } else if name.split('/').any(|c| c == "..") {
        Some("has a '..' component (it would extract outside the folder)")
    } else {
        None
    }
}

/// What the central directory of a zip says, read as written (before a zip library merges two members of the
/// same name into one).
struct Directory {
    /// Where it starts.
    start: u64,
    /// Member names in order, as stored, with whether the member is a symbolic link.
    entries: Vec<(Vec<u8>, bool)>,
}

fn le16(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([b[at], b[at + 1]]) as u64
}

fn le32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as u64
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Why [`read_directory`] gave up.
enum DirError {
    /// More members than [`MAX_MEMBERS`].
    TooMany(u64),
    /// Not a zip it can read.
    Unreadable(String),
}

impl From<String> for DirError {
    fn from(s: String) -> Self {
        DirError::Unreadable(s)
    }
}

impl From<&str> for DirError {
    fn from(s: &str) -> Self {
        DirError::Unreadable(s.into())
    }
}

/// Reads the end-of-central-directory record (and its zip64 form when the counts overflow), refuses more than
/// [`MAX_MEMBERS`] members before reading any entry, then walks the entries: linear in their number, memory in
/// proportion to the names.
fn read_directory(f: &mut File) -> std::result::Result<Directory, DirError> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let len = f
        .seek(std::io::SeekFrom::End(0))
        .map_err(|e| e.to_string())?;
    let tail_len = len.min(22 + 0xFFFF);
    let mut tail = vec![0u8; tail_len as usize];
    f.seek(std::io::SeekFrom::Start(len - tail_len))
        .and_then(|_| f.read_exact(&mut tail))
        .map_err(|e| e.to_string())?;
    // The last record whose comment ends inside the file.
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| &tail[i..i + 4] == EOCD && i + 22 + le16(&tail, i + 20) as usize <= tail.len())
        .ok_or("not a zip (no end of central directory record)")?;
    let eocd = &tail[at..at + 22];
    let eocd_pos = len - tail_len + at as u64;
    let (mut count, mut size, mut start) = (le16(eocd, 10), le32(eocd, 12), le32(eocd, 16));
    if le16(eocd, 4) != 0 || le16(eocd, 6) != 0 {
        return Err("a multi-disk zip".into());
    }
    if count == 0xFFFF || size == 0xFFFF_FFFF || start == 0xFFFF_FFFF {
        // Zip64: a locator 20 bytes before the record points at the zip64 record.
        let mut loc = [0u8; 20];
        let mut rec = [0u8; 56];
        let read = eocd_pos
            .checked_sub(20)
            .ok_or_else(|| "truncated zip64 locator".to_string())
            .and_then(|p| {
                f.seek(std::io::SeekFrom::Start(p))
                    .and_then(|_| f.read_exact(&mut loc))
                    .map_err(|e| e.to_string())
            });
        if read.is_ok() && &loc[..4] == b"PK\x06\x07" {
            f.seek(std::io::SeekFrom::Start(le64(&loc, 8)))
                .and_then(|_| f.read_exact(&mut rec))
                .map_err(|e| format!("zip64 end of central directory: {e}"))?;
            if &rec[..4] != b"PK\x06\x06" {
                return Err("bad zip64 end of central directory record".into());
            }
            (count, size, start) = (le64(&rec, 32), le64(&rec, 40), le64(&rec, 48));
        }
    }
    if count > MAX_MEMBERS as u64 {
        return Err(DirError::TooMany(count));
    }
    // Each entry takes at least 46 bytes: a count the directory cannot hold is a lie.
    let fits = start.checked_add(size).is_some_and(|end| end <= eocd_pos);
    if !fits || count * 46 > size {
        return Err("the central directory does not fit in the file".into());
    }
    f.seek(std::io::SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(f.take(size));
    let mut entries = Vec::with_capacity(count as usize);
    let mut head = [0u8; 46];
    for _ in 0..count {
        r.read_exact(&mut head)
            .map_err(|_| "the central directory is truncated".to_string())?;
        if &head[..4] != b"PK\x01\x02" {
            return Err("a central directory entry is damaged".into());
        }
        let (n, m, k) = (le16(&head, 28), le16(&head, 30), le16(&head, 32));
        let mut name = vec![0u8; n as usize];
        r.read_exact(&mut name)
            .map_err(|_| "the central directory is truncated".to_string())?;
        std::io::copy(&mut (&mut r).take(m + k), &mut std::io::sink())
            .map_err(|e| e.to_string())?;
        // Made on Unix (upper byte of "version made by" is 3) with S_IFLNK in the upper half of the attributes.
        let unix = head[5] == 3;
        let link = unix && (le32(&head, 38) >> 16) & 0o170000 == 0o120000;
        entries.push((name, link));
    }
    Ok(Directory { start, entries })
}

/// The central directory's names, checked: at most [`MAX_MEMBERS`], none twice, none a symbolic link, none
/// that would extract outside the current folder. Linear in the number of members.
fn check_names(dir: &Directory) -> std::result::Result<(), String> {
    let mut seen = std::collections::HashSet::with_capacity(dir.entries.len());
    for (raw, link) in &dir.entries {
        let name = String::from_utf8_lossy(raw);
        if let Some(why) = bad_name(&name) {
            return Err(format!("member name {} {why}", shown(&name)));
        }
        if *link {
            return Err(format!("{} is a symbolic link", shown(&name)));
        }
        if !seen.insert(raw.as_slice()) {
            return Err(format!(
                "{} appears twice (a second copy would hide behind the first)",
                shown(&name)
            ));
        }
    }
    Ok(())
}

/// Deserializes at most [`MAX_MEMBERS`] manifest entries.
fn bounded_entries<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<ManifestEntry>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Vec<ManifestEntry>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {MAX_MEMBERS} members")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut v = Vec::new();
            while let Some(e) = seq.next_element()? {
                if v.len() == MAX_MEMBERS {
                    return Err(serde::de::Error::custom(format!(
                        "lists more than {MAX_MEMBERS} members"
                    )));
                }
                v.push(e);
            }
            Ok(v)
        }
    }
    d.deserialize_seq(Entries)
}

/// The part of `manifest.json` that `verify` reads: the rest (`tool`, `cuts`) is skipped without being kept.
#[derive(Deserialize)]
struct ManifestCheck {
    schema_version: u64,
    #[serde(deserialize_with = "bounded_entries")]
    members: Vec<ManifestEntry>,
}

/// The part of `summary.json` that `verify` reads.
#[derive(Deserialize)]
struct SummaryCheck {
    schema_version: Option<u64>,
}

/// Parses a JSON member as it is inflated, reading at most `cap` bytes of it: never more in memory than the
/// value parsed (the fields not named in `T` are skipped unkept).
fn parse_capped<T: serde::de::DeserializeOwned>(
    r: impl Read,
    cap: u64,
) -> std::result::Result<T, String> {
    let mut limited = r.take(cap + 1);
    let parsed = serde_json::from_reader::<_, T>(BufReader::new(&mut limited));
    if limited.limit() == 0 {
        return Err(format!(
            "inflates to more than {}, the cap for a JSON member verify parses",
            human(cap)
        ));
    }
    parsed.map_err(|e| e.to_string())
}

/// Reads a JSON member of the zip with [`parse_capped`], refusing at once one that says it is larger.
fn read_json<T: serde::de::DeserializeOwned>(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    name: &str,
) -> std::result::Result<T, String> {
    let m = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    if m.size() > MAX_JSON_MEMBER_BYTES {
        return Err(format!(
            "{name}: inflates to {}, more than {}, the cap for a JSON member verify parses",
            human(m.size()),
            human(MAX_JSON_MEMBER_BYTES)
        ));
    }
    parse_capped(m, MAX_JSON_MEMBER_BYTES).map_err(|e| format!("{name}: {e}"))
}

/// Checks a bundle, which may come from anyone: at most [`MAX_MEMBERS`] members, no name twice, none absolute,
/// with a `..` component or a backslash, no symbolic link; the manifest lists every other member with the right
/// size and SHA-256; `summary.json` (when present) has schema version 1; no known secret appears in any member
/// in any encoding. JSON members are read up to [`MAX_JSON_MEMBER_BYTES`]; every other member is streamed, so
/// memory stays bounded whatever the zip inflates to, and time is linear in the number of members.
///
/// ```
/// use cohere_bundle_core::bundle::verify;
/// use cohere_bundle_core::scrub::{ScrubOptions, Scrubber};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("not-a-bundle.zip");
/// std::fs::write(&path, "hello")?;
/// let err = verify(&path, &Scrubber::new(ScrubOptions::default()), 0).unwrap_err();
/// assert!(matches!(err, cohere_bundle_core::Error::Verify { .. }), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
/// See [`crate::bundle`] for a bundle that passes.
pub fn verify(path: &Path, scrubber: &Scrubber, secrets_searched: usize) -> Result<VerifyReport> {
    let shown_path = path.display().to_string();
    let verr = |reason: String| Error::Verify {
        path: shown_path.clone(),
        reason,
    };
    let f = open_bundle(path, &shown_path)?;
    let mut zip = open_checked_zip(path, f, verr)?;
    let manifest = read_manifest(&mut zip).map_err(verr)?;
    for e in &manifest.members {
        check_listed_member(&mut zip, e).map_err(verr)?;
    }
    check_summary(&mut zip).map_err(verr)?;
    drop(zip);
    refuse_leaks(path, scrubber)?;
    Ok(VerifyReport {
        path: shown_path,
        members_checked: manifest.members.len(),
        secrets_searched,
    })
}

/// Opens the bundle to verify; a missing file or a directory is an input error.
fn open_bundle(path: &Path, shown_path: &str) -> Result<File> {
    let f = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(shown_path, "no such file"),
        _ => Error::io(path, e),
    })?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Error::input(shown_path, "is a directory, not a zip"));
    }
    Ok(f)
}

/// Reads the central directory as written and checks its names ([`check_names`]), then opens the zip with
/// the zip library and makes sure that it sees the same members, none with a refused name. `verr` makes a
/// verification error of a reason.
fn open_checked_zip(
    path: &Path,
    mut f: File,
    verr: impl Fn(String) -> Error,
) -> Result<zip::ZipArchive<BufReader<File>>> {
    let dir = read_directory(&mut f).map_err(|e| match e {
        DirError::TooMany(n) => verr(format!("{n} members, more than the limit of {MAX_MEMBERS}")),
        DirError::Unreadable(why) => verr(format!("not a readable zip: {why}")),
    })?;
    check_names(&dir).map_err(&verr)?;
    f.rewind().map_err(|e| Error::io(path, e))?;
    let zip = zip::ZipArchive::new(BufReader::new(f))
        .map_err(|e| verr(format!("not a readable zip: {e}")))?;
    // The zip library must see the directory read above, or readers may disagree on what the zip holds.
    if zip.central_directory_start() != dir.start || zip.len() != dir.entries.len() {
        return Err(verr(format!(
            "ambiguous zip: its central directory lists {} members, the zip reader sees {}",
            dir.entries.len(),
            zip.len()
        )));
    }
    if let Some((name, why)) = zip.file_names().find_map(|n| bad_name(n).map(|w| (n, w))) {
        return Err(verr(format!("member name {} {why}", shown(name))));
    }
    Ok(zip)
}

/// `manifest.json`, checked: present, schema version 1, no member listed twice, every other member listed.
fn read_manifest(
    zip: &mut zip::ZipArchive<BufReader<File>>,
) -> std::result::Result<ManifestCheck, String> {
    if zip.index_for_name("manifest.json").is_none() {
        return Err("no manifest.json".into());
    }
    let manifest: ManifestCheck = read_json(zip, "manifest.json")?;
    if manifest.schema_version != 1 {
        return Err("manifest.json: schema_version is not 1".into());
    }
    let mut listed = std::collections::HashSet::with_capacity(manifest.members.len());
    for e in &manifest.members {
        if !listed.insert(e.name.as_str()) {
            return Err(format!("manifest.json lists {} twice", shown(&e.name)));
        }
    }
    if let Some(n) = zip
        .file_names()
        .find(|n| *n != "manifest.json" && !listed.contains(n))
    {
        return Err(format!("{} is not listed in manifest.json", shown(n)));
    }
    Ok(manifest)
}

/// A member the manifest lists: present, with the listed size and SHA-256.
fn check_listed_member(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    e: &ManifestEntry,
) -> std::result::Result<(), String> {
    let name = shown(&e.name);
    let i = zip
        .index_for_name(&e.name)
        .ok_or_else(|| format!("{name} is listed in manifest.json but missing"))?;
    let mut m = zip.by_index(i).map_err(|err| format!("{name}: {err}"))?;
    if m.size() != e.size {
        return Err(format!(
            "{name}: size {} differs from the manifest's {}",
            m.size(),
            e.size
        ));
    }
    // Hash as it inflates; a member that inflates past its size is cut off one byte over.
    let mut w = HashingWriter {
        inner: &mut std::io::sink(),
        hasher: Sha256::new(),
        size: 0,
    };
    std::io::copy(&mut (&mut m).take(e.size.saturating_add(1)), &mut w)
        .map_err(|err| format!("{name}: {err}"))?;
    if w.size != e.size {
        return Err(format!(
            "{name}: size {} differs from the manifest's {}",
            w.size, e.size
        ));
    }
    if hex::encode(w.hasher.finalize()) != e.sha256 {
        return Err(format!("{name}: SHA-256 differs from the manifest"));
    }
    Ok(())
}

/// `summary.json`, when present, has schema version 1.
fn check_summary(zip: &mut zip::ZipArchive<BufReader<File>>) -> std::result::Result<(), String> {
    if zip.index_for_name("summary.json").is_some() {
        let s: SummaryCheck = read_json(zip, "summary.json")?;
        if s.schema_version != Some(1) {
            return Err("summary.json: schema_version is not 1".into());
        }
    }
    Ok(())
}

/// A size in words: `9.5 MiB`, `512 KiB`, `300 bytes`.
///
/// ```
/// use cohere_bundle_core::bundle::human;
/// assert_eq!(human(300), "300 bytes");
/// assert_eq!(human(512 * 1024), "512.0 KiB");
/// assert_eq!(human(9_961_472), "9.5 MiB");
/// ```
pub fn human(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f >= K * K * K {
        format!("{:.1} GiB", f / (K * K * K))
    } else if f >= K * K {
        format!("{:.1} MiB", f / (K * K))
    } else if f >= K {
        format!("{:.1} KiB", f / K)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::{KnownSecret, ScrubOptions};

    #[test]
    fn names_that_escape_or_differ_across_systems_are_refused() {
        for ok in [
            "report.md",
            "logs/app.log",
            "exchanges/001.json",
            "a..b",
            "...",
        ] {
            assert_eq!(bad_name(ok), None, "{ok}");
        }
        for bad in [
            "", "../x", "a/../b", "..", "/abs", "C:/x", "c:x", "a\\b", "a\0b",
        ] {
            assert!(bad_name(bad).is_some(), "{bad:?}");
        }
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown("a\\b"), "a\\b");
    }

    #[test]
    fn json_is_parsed_as_it_streams_and_refused_past_the_cap() {
        #[derive(Deserialize)]
        struct V {
            schema_version: u64,
        }
        let v: V = parse_capped(&br#"{"schema_version": 1, "x": [1, 2]}"#[..], 64).unwrap();
        assert_eq!(v.schema_version, 1);
        // Exactly the cap is fine; one byte more is not, whatever the parser made of it so far.
        let at_cap = format!("{{\"schema_version\": 1}}{}", " ".repeat(43));
        assert_eq!(at_cap.len(), 64);
        assert!(parse_capped::<V>(at_cap.as_bytes(), 64).is_ok());
        let over = format!("{at_cap} ");
        let e = parse_capped::<V>(over.as_bytes(), 64).err().unwrap();
        assert!(e.contains("more than 64 bytes"), "{e}");
        // An endless stream stops at the cap.
        let e = parse_capped::<V>(std::io::repeat(b' '), 1 << 20)
            .err()
            .unwrap();
        assert!(e.contains("1.0 MiB"), "{e}");
        let e = parse_capped::<V>(&b"{oops"[..], 64).err().unwrap();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn a_secret_is_found_wherever_rounds_cut_the_stream() {
        const KEY: &str = "Zq8Wm2Lp4Rt6Vw8Yb0Nc2Df4Gh6Jk8Ls0Pq2Ws4E";
        let s = Scrubber::new(ScrubOptions {
            known: vec![KnownSecret::new("secret", KEY)],
            redact_content: false,
        });
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, KEY);
        // Lines of 100 bytes, so rounds end at line breaks; and one long line, so they end anywhere.
        for line in [100usize, 10 << 20] {
            let mut data: Vec<u8> = (0..(3usize << 20))
                .map(|i| if i % line == line - 1 { b'\n' } else { b'x' })
                .collect();
            for &at in &[
                (1usize << 20) - 3,
                (1 << 20) + (64 << 10) - 17,
                (1 << 20) + (64 << 10) + 1,
                (2 << 20) + (128 << 10) - 9,
                (3 << 20) - KEY.len(),
            ] {
                let mut d = data.clone();
                d[at..at + KEY.len()].copy_from_slice(KEY.as_bytes());
                let leaks = s.find_leaks_stream("m", &d[..]).unwrap();
                assert!(
                    leaks.iter().any(|l| l.label == "secret"),
                    "line {line}, at {at}: {leaks:?}"
                );
            }
            let at = (1 << 20) + (64 << 10) - 20;
            data[at..at + b64.len()].copy_from_slice(b64.as_bytes());
            let leaks = s.find_leaks_stream("m", &data[..]).unwrap();
            assert_eq!(leaks.len(), 1, "reported once: {leaks:?}");
            assert_eq!(leaks[0].encoding.as_str(), "base64");
        }
        assert!(s.find_leaks_stream("m", &b""[..]).unwrap().is_empty());
    }

    #[test]
    fn a_failed_private_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("d.eml");
        // The writer fails midway, as on a full disk.
        let e = write_private(&target, false, ".eml.tmp", |f| {
            f.write_all(b"half a draft")?;
            Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
        })
        .unwrap_err();
        assert!(e.to_string().contains("d.eml"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // A directory that does not exist: an error, nothing created.
        let gone = dir.path().join("nope").join("d.eml");
        assert!(write_private(&gone, true, ".eml.tmp", |_| Ok(())).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn a_private_write_replaces_a_link_and_never_follows_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let target = dir.path().join("d.eml");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        let e = write_private(&target, false, ".eml.tmp", |f| f.write_all(b"new")).unwrap_err();
        assert!(matches!(e, Error::OutputExists(_)), "{e}");
        write_private(&target, true, ".eml.tmp", |f| f.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temp left"
        );
    }
}
