//! Input stage. Logs as the user gives them: regular files, pipes (`--log <(cmd)`), FIFOs, and files with binary regions.
//!
//! [`prepare`] reads every log that cannot be read twice (a pipe or a FIFO) once, as a stream, keeping its
//! newest bytes within a bound, and copies a file that holds binary regions without them; a gzip or zstd log is
//! decompressed and a UTF-16 log converted to UTF-8 on the way. What it leaves out and how it decoded a log are
//! recorded. Regular text files are used in place. The copies live in a temp directory that is
//! removed with the returned [`PreparedLogs`] (and by [`crate::cleanup::remove_unfinished`] on an interrupt).
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let log = dir.path().join("app.log");
//! let mut bytes = b"2026-11-24 INFO started\n".to_vec();
//! bytes.extend(std::iter::repeat(0u8).take(5000));
//! bytes.extend_from_slice(b"\n2026-11-24 ERROR failed\n");
//! std::fs::write(&log, &bytes).unwrap();
//! let limits = cohere_bundle_core::input::logs::LogLimits::default().with_idle_timeout(std::time::Duration::from_secs(2));
//! let p = cohere_bundle_core::input::logs::prepare(&[log], &limits).unwrap();
//! let text = std::fs::read_to_string(&p.paths[0]).unwrap();
//! assert!(text.contains("ERROR failed") && !text.contains('\0'));
//! // The binary region is recorded apart from the cuts.
//! assert!(p.binary[0].as_deref().is_some_and(|b| b.ends_with("bytes of binary data left out")));
//! assert!(p.cuts.is_empty() && p.decoded[0].is_none());
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{Error, Result};

/// Limits for reading logs.
///
/// See the [module example](crate::input::logs).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LogLimits {
    /// The newest bytes of a pipe or FIFO that are kept (default 64 MiB).
    pub stream_cap: usize,
    /// How long a pipe or FIFO may stay silent (no writer, or no data) before reading stops (default 10 s).
    pub idle_timeout: Duration,
}

impl LogLimits {
    /// Limits with this idle timeout.
    ///
    /// See the [module example](crate::input::logs).
    pub fn with_idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = t;
        self
    }
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            stream_cap: 64 << 20,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

/// Logs ready to bundle: paths to regular text files (the originals, or copies), and what was left out.
///
/// See the [module example](crate::input::logs).
#[derive(Debug, Default)]
pub struct PreparedLogs {
    /// One path per log given, in order; a copy keeps the original's file name, less a compression suffix
    /// (`app.log.gz` is bundled as `app.log`).
    pub paths: Vec<PathBuf>,
    /// What was cut from a pipe or FIFO, one line each, e.g. `app.log: kept the newest 64 MiB of 80 MiB`.
    pub cuts: Vec<String>,
    /// Per log (in order): the binary data left out, e.g. `4096 bytes of binary data left out`.
    pub binary: Vec<Option<String>>,
    /// Per log (in order): how it was decoded, e.g. `decompressed from app.log.gz (gzip, 812 → 40960 bytes)`,
    /// `UTF-16LE text (byte order mark) converted to UTF-8`.
    pub decoded: Vec<Option<String>>,
    /// Logs named to be read when the bundle is written that never appeared (observe's `--log` of a file the
    /// program was to write).
    pub missing: Vec<String>,
    _dir: Option<(tempfile::TempDir, crate::cleanup::Tracked)>,
}

/// The most bytes a compressed log is decompressed to; past it, the rest is left out and the cut noted.
///
/// Example: [`crate::input::logs`] (`tests/edges.rs` bundles gzip, zstd and UTF-16 logs).
pub const MAX_DECODED: u64 = 1 << 30;

/// How a log's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// From the name's suffix or the first bytes' magic number.
    fn of(name: &str, head: &[u8]) -> Option<Compression> {
        let lower = name.to_ascii_lowercase();
        if head.starts_with(&[0x1f, 0x8b]) || (lower.ends_with(".gz") && head.is_empty()) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// `name` without its compression suffix.
    fn strip(self, name: &str) -> String {
        let lower = name.to_ascii_lowercase();
        let suffixes: &[&str] = match self {
            Compression::Gzip => &[".gz", ".gzip"],
            Compression::Zstd => &[".zst", ".zstd"],
        };
        suffixes
            .iter()
            .find(|s| lower.ends_with(*s) && name.len() > s.len())
            .map_or(name.to_string(), |s| {
                name[..name.len() - s.len()].to_string()
            })
    }

    fn reader<'a>(self, r: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        })
    }
}

/// UTF-16 text: by its byte order mark, or by the NUL bytes of ASCII text at every other position.
fn utf16(head: &[u8]) -> Option<(&'static encoding_rs::Encoding, &'static str)> {
    if head.starts_with(&[0xff, 0xfe]) {
        return Some((encoding_rs::UTF_16LE, "byte order mark"));
    }
    if head.starts_with(&[0xfe, 0xff]) {
        return Some((encoding_rs::UTF_16BE, "byte order mark"));
    }
    let pairs = head.len() / 2;
    if pairs < 8 {
        return None;
    }
    let nul = |odd: usize| head.chunks_exact(2).filter(|p| p[odd] == 0).count();
    let (even, odd) = (nul(0), nul(1));
    if odd * 10 >= pairs * 9 && even * 10 < pairs {
        Some((encoding_rs::UTF_16LE, "NUL bytes at every other position"))
    } else if even * 10 >= pairs * 9 && odd * 10 < pairs {
        Some((encoding_rs::UTF_16BE, "NUL bytes at every other position"))
    } else {
        None
    }
}

/// A reader of UTF-16 bytes that yields UTF-8 (malformed units become U+FFFD).
struct Utf16Reader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: Read> Utf16Reader<R> {
    fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        Utf16Reader {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0u8; BLOCK],
            output: Vec::with_capacity(BLOCK * 2),
            at: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.output.len() {
            if self.done {
                return Ok(0);
            }
            let n = read_full(&mut self.inner, &mut self.input)?;
            self.done = n == 0;
            self.output.clear();
            self.at = 0;
            let need = self.decoder.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16);
            self.output.resize(need, 0);
            let (_, _, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.output, self.done);
            self.output.truncate(written);
        }
        let k = buf.len().min(self.output.len() - self.at);
        buf[..k].copy_from_slice(&self.output[self.at..self.at + k]);
        self.at += k;
        Ok(k)
    }
}

/// Blocks of this size are judged text or binary.
const BLOCK: usize = 64 << 10;

/// Checks that a log can be used, before anything is spent: it exists, is not a directory, and a regular file
/// opens and reads. Binary content is no error: [`prepare`] leaves it out and records the cut. Errors are
/// [`Error::Field`] naming `logs` and the path.
pub(crate) fn check_log(p: &Path) -> Result<std::fs::Metadata> {
    let bad = |why: String| Error::field("logs", Some(p.display().to_string()), why);
    let reason = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    let meta = std::fs::metadata(p).map_err(|e| bad(reason(e)))?;
    if meta.is_dir() {
        return Err(bad("is a directory, not a log file".into()));
    }
    if meta.is_file() {
        // Opened and read: a file can open and still fail every read (e.g. /proc/self/mem).
        let mut f = File::open(p).map_err(|e| bad(reason(e)))?;
        f.read(&mut [0u8; 1])
            .map_err(|e| bad(format!("cannot read: {e}")))?;
    }
    Ok(meta)
}

/// Reads the logs that need it (see the module docs); errors name the log (`--log PATH`).
///
/// See the [module example](crate::input::logs).
pub fn prepare(paths: &[PathBuf], limits: &LogLimits) -> Result<PreparedLogs> {
    let mut out = PreparedLogs::default();
    for (i, p) in paths.iter().enumerate() {
        let what = p.display().to_string();
        let meta = check_log(p)?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("log-{}", i + 1));
        let cannot = |e: std::io::Error| {
            Error::field("logs", Some(what.clone()), format!("cannot read: {e}"))
        };
        if meta.is_file() {
            let mut head = vec![0u8; BLOCK];
            let n = read_full(&mut File::open(p).map_err(cannot)?, &mut head).map_err(cannot)?;
            head.truncate(n);
            let compression = Compression::of(&name, &head);
            if compression.is_none() && utf16(&head).is_none() && !has_binary(p).map_err(cannot)? {
                out.paths.push(p.clone());
                out.binary.push(None);
                out.decoded.push(None);
                continue;
            }
            let f = File::open(p).map_err(cannot)?;
            out.decode(i, &name, f, compression, &what)?;
        } else {
            // A pipe, a FIFO or a device: read once, as a stream, with a bound and a timeout.
            let dest = out.copy_path(i, &name)?;
            let (bytes, note) = read_stream(p, limits, &what)?;
            let left = copy_text(&bytes[..], &dest)
                .0
                .map_err(|e| Error::io(&dest, e))?;
            if let Some(n) = note {
                out.cuts.push(format!("{name}: {n}"));
            }
            out.binary.push(binary_note(left));
            out.decoded.push(None);
            out.paths.push(dest);
        }
    }
    Ok(out)
}

fn binary_note(left: u64) -> Option<String> {
    (left > 0).then(|| format!("{left} bytes of binary data left out"))
}

impl PreparedLogs {
    fn copy_path(&mut self, i: usize, name: &str) -> Result<PathBuf> {
        if self._dir.is_none() {
            // The copies hold the logs as read, secrets and all, until the bundle is written: private.
            let mut b = tempfile::Builder::new();
            b.prefix("cohere-bundle-logs-");
            #[cfg(unix)]
            b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
            let d = b
                .tempdir()
                .map_err(|e| Error::io(std::env::temp_dir(), e))?;
            let t = crate::cleanup::track(d.path());
            self._dir = Some((d, t));
        }
        let dir = self
            ._dir
            .as_ref()
            .map(|(d, _)| d.path())
            .unwrap_or(Path::new("."));
        let sub = dir.join(i.to_string());
        std::fs::create_dir_all(&sub).map_err(|e| Error::io(&sub, e))?;
        Ok(sub.join(name))
    }

    /// Copies log `i` (`name`, read from `r`) as text: decompressed, converted from UTF-16, binary regions left
    /// out; what was done is noted. A stream that breaks off (a corrupt or cut archive) keeps what was decoded
    /// before it, and says so.
    fn decode(
        &mut self,
        i: usize,
        name: &str,
        r: File,
        compression: Option<Compression>,
        what: &str,
    ) -> Result<()> {
        let bad = |why: String| Error::field("logs", Some(what.to_string()), why);
        let size = r.metadata().map(|m| m.len()).unwrap_or(0);
        let bundled = compression.map_or(name.to_string(), |c| c.strip(name));
        let mut notes = Vec::new();
        let mut reader: Box<dyn Read> = match compression {
            Some(c) => c
                .reader(r)
                .map_err(|e| bad(format!("not a readable {} file: {e}", c.name())))?,
            None => Box::new(r),
        };
        let mut head = vec![0u8; BLOCK];
        let n = read_full(&mut reader, &mut head).map_err(|e| match compression {
            Some(c) => bad(format!("not a readable {} file: {e}", c.name())),
            None => bad(format!("cannot read: {e}")),
        })?;
        head.truncate(n);
        let encoding = utf16(&head);
        let chained = std::io::Cursor::new(head).chain(reader);
        let counted = Counted::new(chained);
        let seen = counted.count.clone();
        let text: Box<dyn Read> = match encoding {
            Some((e, _)) => Box::new(Utf16Reader::new(counted, e)),
            None => Box::new(counted),
        };
        let dest = self.copy_path(i, &bundled)?;
        let (left, broke) = copy_text(text.take(MAX_DECODED), &dest);
        let left = left.map_err(|e| Error::io(&dest, e))?;
        let decoded = seen.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(c) = compression {
            notes.push(format!(
                "decompressed from {name} ({}, {size} → {decoded} bytes)",
                c.name()
            ));
        }
        if let Some((e, how)) = encoding {
            notes.push(format!("{} text ({how}) converted to UTF-8", e.name()));
        }
        if let Some(e) = broke {
            notes.push(format!(
                "the data broke off after {decoded} bytes ({e}); what came before is kept"
            ));
        } else if decoded >= MAX_DECODED {
            notes.push(format!(
                "only its first {MAX_DECODED} bytes of text were read"
            ));
        }
        self.binary.push(binary_note(left));
        self.decoded
            .push((!notes.is_empty()).then(|| notes.join("; ")));
        self.paths.push(dest);
        Ok(())
    }
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Self {
        Counted {
            inner,
            count: Default::default(),
        }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Whether a block is binary: a NUL byte, bytes that are not UTF-8 (a sequence cut at the block's end is
/// fine), or mostly control characters.
fn is_binary(block: &[u8]) -> bool {
    if memchr::memchr(0, block).is_some() {
        return true;
    }
    if let Err(e) = std::str::from_utf8(block) {
        if e.error_len().is_some() {
            return true;
        }
    }
    let control = block
        .iter()
        .filter(|b| b.is_ascii_control() && !matches!(b, b'\n' | b'\r' | b'\t' | 0x1b | 0x0c))
        .count();
    control * 10 > block.len()
}

fn has_binary(p: &Path) -> std::io::Result<bool> {
    let mut f = File::open(p)?;
    let mut buf = vec![0u8; BLOCK];
    loop {
        let n = read_full(&mut f, &mut buf)?;
        if n == 0 {
            return Ok(false);
        }
        if is_binary(&buf[..n]) {
            return Ok(true);
        }
    }
}

/// Copies `r` to `dest` line by line, leaving binary lines out (a marker line stands in for each run of
/// them; a line longer than a block is judged a block at a time); returns the bytes left out, and the read
/// error that ended the copy early, if one did (what was read before it is kept).
fn copy_text(r: impl Read, dest: &Path) -> (std::io::Result<u64>, Option<std::io::Error>) {
    let mut broke = None;
    let left = copy_text_until(r, dest, &mut broke);
    (left, broke)
}

fn copy_text_until(
    mut r: impl Read,
    dest: &Path,
    broke: &mut Option<std::io::Error>,
) -> std::io::Result<u64> {
    struct Out<W: Write> {
        w: W,
        left: u64,
        run: u64,
    }
    impl<W: Write> Out<W> {
        fn piece(&mut self, p: &[u8]) -> std::io::Result<()> {
            if is_binary(p) {
                self.run += p.len() as u64;
                return Ok(());
            }
            self.flush_run()?;
            self.w.write_all(p)
        }
        fn flush_run(&mut self) -> std::io::Result<()> {
            if self.run > 0 {
                writeln!(
                    self.w,
                    "[cohere-bundle: {} bytes of binary data left out]",
                    self.run
                )?;
                self.left += self.run;
                self.run = 0;
            }
            Ok(())
        }
    }
    let mut out = Out {
        w: std::io::BufWriter::new(File::create(dest)?),
        left: 0,
        run: 0,
    };
    let mut buf = vec![0u8; BLOCK];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match read_full(&mut r, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                *broke = Some(e);
                break;
            }
        };
        let mut data = &buf[..n];
        while let Some(i) = memchr::memchr(b'\n', data) {
            if line.is_empty() {
                out.piece(&data[..=i])?;
            } else {
                line.extend_from_slice(&data[..=i]);
                out.piece(&line)?;
                line.clear();
            }
            data = &data[i + 1..];
        }
        line.extend_from_slice(data);
        if line.len() >= BLOCK {
            out.piece(&line)?;
            line.clear();
        }
    }
    if !line.is_empty() {
        out.piece(&line)?;
    }
    out.flush_run()?;
    out.w.flush()?;
    Ok(out.left)
}

/// Reads a pipe or FIFO on a thread (opening a FIFO blocks until a writer comes), keeping the newest
/// `stream_cap` bytes; gives up after `idle_timeout` without data. Returns the bytes and a note of what was
/// cut or why reading stopped.
fn read_stream(p: &Path, limits: &LogLimits, what: &str) -> Result<(Vec<u8>, Option<String>)> {
    let (tx, rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(16);
    let path = p.to_path_buf();
    std::thread::spawn(move || {
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut buf = vec![0u8; BLOCK];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send(Ok(buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            }
        }
    });
    let mut ring: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let (mut total, mut note) = (0u64, None);
    loop {
        match rx.recv_timeout(limits.idle_timeout) {
            Ok(Ok(chunk)) => {
                total += chunk.len() as u64;
                ring.extend(chunk);
                if ring.len() > limits.stream_cap {
                    let extra = ring.len() - limits.stream_cap;
                    ring.drain(..extra);
                }
            }
            Ok(Err(e)) => {
                return Err(Error::field(
                    "logs",
                    Some(what.to_string()),
                    format!("cannot read: {e}"),
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let secs = limits.idle_timeout.as_secs_f64();
                if total == 0 {
                    return Err(Error::field(
                        "logs",
                        Some(what.to_string()),
                        format!("nothing to read for {secs} s (a FIFO with no writer?)"),
                    ));
                }
                note = Some(format!(
                    "reading stopped after {total} bytes: no data for {secs} s"
                ));
                break;
            }
        }
    }
    let mut bytes: Vec<u8> = ring.into();
    if total > bytes.len() as u64 {
        // Start at a line, so the first kept line is whole.
        let cut = memchr::memchr(b'\n', &bytes).map_or(0, |i| i + 1);
        bytes.drain(..cut);
        let kept = bytes.len();
        note = Some(match note {
            Some(n) => format!("{n}; kept the newest {kept} bytes"),
            None => format!("kept the newest {kept} of {total} bytes"),
        });
    }
    Ok((bytes, note))
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
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

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn copies_are_private_and_gone_with_the_logs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let mut bytes = b"2026-11-24 INFO key=sk-live-0123456789\n".to_vec();
        bytes.extend([0u8; 100]);
        std::fs::write(&log, &bytes).unwrap();
        let p = super::prepare(&[log], &Default::default()).unwrap();
        let spool = p.paths[0].parent().unwrap().parent().unwrap().to_path_buf();
        let mode = std::fs::metadata(&spool).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", spool.display());
        drop(p);
        assert!(!spool.exists());
    }
}
