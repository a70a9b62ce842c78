//! The zip: members scrubbed as they are written, a manifest with sizes and SHA-256, the fail-closed leak
//! check, and an atomic write (a temp file beside the target, renamed only when every check passed).

use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::error::{Error, Result};
use crate::scrub::{Leak, RedactionReport, Scrubber};

/// Where a member's bytes come from.
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
#[derive(Debug, Clone)]
pub struct Member {
    /// Path inside the zip, e.g. `exchanges/001.json`.
    pub name: String,
    /// Its content.
    pub source: MemberSource,
}

impl Member {
    /// A text member.
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> Member {
        Member {
            name: name.into(),
            source: MemberSource::Text(text.into()),
        }
    }
}

/// One manifest entry.
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

/// Fails with [`Error::OutputExists`] when `path` exists and `force` is off.
pub fn check_output(path: &Path, force: bool) -> Result<()> {
    if path.is_dir() {
        return Err(Error::input(
            path.display().to_string(),
            "is a directory; give a .zip file path",
        ));
    }
    if !force && path.exists() {
        return Err(Error::OutputExists(path.to_path_buf()));
    }
    Ok(())
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

/// Opens a log for reading, with clear errors for missing, unreadable, directory and binary files.
pub fn open_log(path: &Path) -> Result<File> {
    let what = format!("--log {}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(&what, "no such file"),
        std::io::ErrorKind::PermissionDenied => Error::input(&what, "permission denied"),
        _ => Error::input(&what, e.to_string()),
    })?;
    if meta.is_dir() {
        return Err(Error::input(&what, "is a directory, not a log file"));
    }
    let mut f = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::input(&what, "permission denied"),
        _ => Error::input(&what, e.to_string()),
    })?;
    let mut head = vec![0u8; 8192];
    let n = read_full(&mut f, &mut head)
        .map_err(|e| Error::input(&what, format!("cannot read: {e}")))?;
    if head[..n].contains(&0) {
        return Err(Error::input(
            &what,
            "binary file (contains NUL bytes), not a text log",
        ));
    }
    f.rewind().map_err(|e| Error::io(path, e))?;
    Ok(f)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Streams `path` (or its newest `keep_tail` bytes, from a line start) through the scrubber into `out` with
/// bounded memory.
fn stream_log(
    path: &Path,
    keep_tail: Option<u64>,
    member: &str,
    scrubber: &Scrubber,
    out: &mut impl Write,
) -> Result<()> {
    let mut f = open_log(path)?;
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

/// Writes the bundle: every member scrubbed, then `redactions.json` and `manifest.json`; re-reads the zip and
/// searches every member for every known secret; keeps it (renaming the temp file onto `opts.path`) only when
/// nothing was found. On any failure no file is left at the output path.
pub fn write_bundle(
    members: &[Member],
    scrubber: &Scrubber,
    opts: &WriteOptions,
) -> Result<Written> {
    check_output(&opts.path, opts.force)?;
    let dir = match opts.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::input(
            opts.path.display().to_string(),
            "the output directory does not exist",
        ));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".cohere-bundle-")
        .suffix(".zip.tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    let file = tmp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io(tmp.path(), e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .large_file(false);
    let mut entries = Vec::new();
    for m in members {
        let name = scrubber.scrub_str("(file names)", &m.name);
        let opt = match &m.source {
            MemberSource::File { .. } => options.large_file(true),
            MemberSource::Text(_) => options,
        };
        zip.start_file(name.as_str(), opt)?;
        let mut w = HashingWriter {
            inner: &mut zip,
            hasher: Sha256::new(),
            size: 0,
        };
        match &m.source {
            MemberSource::Text(t) => {
                let clean = scrubber.scrub_str(&name, t);
                w.write_all(clean.as_bytes())
                    .map_err(|e| Error::io(tmp.path(), e))?;
            }
            MemberSource::File { path, keep_tail } => {
                stream_log(path, *keep_tail, &name, scrubber, &mut w)?
            }
        }
        let (size, digest) = (w.size, w.hasher.finalize());
        entries.push(ManifestEntry {
            name,
            size,
            sha256: hex::encode(digest),
        });
    }
    let redactions = scrubber.report();
    let red_json =
        serde_json::to_string_pretty(&redactions).map_err(|e| Error::Other(e.to_string()))? + "\n";
    zip.start_file("redactions.json", options)?;
    zip.write_all(red_json.as_bytes())
        .map_err(|e| Error::io(tmp.path(), e))?;
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
    let man_json =
        serde_json::to_string_pretty(&manifest).map_err(|e| Error::Other(e.to_string()))? + "\n";
    zip.start_file("manifest.json", options)?;
    zip.write_all(man_json.as_bytes())
        .map_err(|e| Error::io(tmp.path(), e))?;
    let mut inner = zip.finish()?;
    inner.flush().map_err(|e| Error::io(tmp.path(), e))?;
    drop(inner);

    let leaks = find_leaks_in_zip(tmp.path(), scrubber)?;
    if let Some(l) = leaks.first() {
        // `tmp` is deleted when dropped.
        return Err(Error::Leak {
            member: l.member.clone(),
            label: l.label.clone(),
            encoding: l.encoding.as_str().into(),
        });
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    let size = tmp.as_file().metadata().map(|m| m.len()).unwrap_or(0);
    let persisted = if opts.force {
        tmp.persist(&opts.path)
    } else {
        tmp.persist_noclobber(&opts.path)
    };
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::OutputExists(opts.path.clone())
        } else {
            Error::io(&opts.path, e.error)
        }
    })?;
    Ok(Written {
        path: opts.path.clone(),
        size,
        manifest,
        redactions,
    })
}

/// Re-reads every member of a zip and searches it for every secret the scrubber knows, in every encoding.
/// Members are read in chunks with an overlap, so a member of any size is checked with bounded memory; the
/// members are shared out over the available cores.
pub fn find_leaks_in_zip(path: &Path, scrubber: &Scrubber) -> Result<Vec<Leak>> {
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
pub const MAX_MEMBERS: usize = 10_000;

/// The most bytes `verify` inflates of a JSON member it parses (`manifest.json`, `summary.json`): 16 MiB. A
/// real manifest of [`MAX_MEMBERS`] entries is under 2 MiB; beyond the cap the bundle fails verification.
pub const MAX_JSON_MEMBER_BYTES: u64 = 16 << 20;

/// The result of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The zip.
    pub path: String,
    /// Members checked against the manifest.
    pub members_checked: usize,
    /// Secrets searched for.
    pub secrets_searched: usize,
}

/// Checks a bundle: the manifest lists every other member with the right size and SHA-256, `summary.json`
/// parses, and no known secret appears in any member in any encoding.
pub fn verify(path: &Path, scrubber: &Scrubber, secrets_searched: usize) -> Result<VerifyReport> {
    let shown = path.display().to_string();
    let verr = |reason: String| Error::Verify {
        path: shown.clone(),
        reason,
    };
    let f = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(&shown, "no such file"),
        _ => Error::io(path, e),
    })?;
    let mut zip = zip::ZipArchive::new(BufReader::new(f))
        .map_err(|e| verr(format!("not a readable zip: {e}")))?;
    let manifest: Manifest = {
        let mut m = zip
            .by_name("manifest.json")
            .map_err(|_| verr("no manifest.json".into()))?;
        let mut s = String::new();
        m.read_to_string(&mut s)
            .map_err(|e| verr(format!("manifest.json: {e}")))?;
        serde_json::from_str(&s).map_err(|e| verr(format!("manifest.json: {e}")))?
    };
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    for n in &names {
        if n != "manifest.json" && !manifest.members.iter().any(|e| &e.name == n) {
            return Err(verr(format!("{n} is not listed in manifest.json")));
        }
    }
    for e in &manifest.members {
        let mut m = zip
            .by_name(&e.name)
            .map_err(|_| verr(format!("{} is listed in manifest.json but missing", e.name)))?;
        let mut h = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = m
                .read(&mut buf)
                .map_err(|err| verr(format!("{}: {err}", e.name)))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            size += n as u64;
        }
        if size != e.size {
            return Err(verr(format!(
                "{}: size {size} differs from the manifest's {}",
                e.name, e.size
            )));
        }
        if hex::encode(h.finalize()) != e.sha256 {
            return Err(verr(format!(
                "{}: SHA-256 differs from the manifest",
                e.name
            )));
        }
    }
    if names.iter().any(|n| n == "summary.json") {
        let mut s = String::new();
        zip.by_name("summary.json")?
            .read_to_string(&mut s)
            .map_err(|e| verr(format!("summary.json: {e}")))?;
        let v: serde_json::Value =
            serde_json::from_str(&s).map_err(|e| verr(format!("summary.json: {e}")))?;
        if v.get("schema_version").and_then(|x| x.as_u64()) != Some(1) {
            return Err(verr("summary.json: schema_version is not 1".into()));
        }
    }
    drop(zip);
    if let Some(l) = find_leaks_in_zip(path, scrubber)?.first() {
        return Err(Error::Leak {
            member: l.member.clone(),
            label: l.label.clone(),
            encoding: l.encoding.as_str().into(),
        });
    }
    Ok(VerifyReport {
        path: shown,
        members_checked: manifest.members.len(),
        secrets_searched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::{KnownSecret, ScrubOptions};

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
}
