//! Shared. Streaming scrubbing with bounded memory, and the library side of `cohere-bundle scrub`.

use std::cell::Cell;
use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;

use super::{KnownSecret, Leak, Mode, RedactionReport, ScrubOptions, Scrubber};
use crate::error::Error;

/// Bytes read per round.
const CHUNK: usize = 1 << 20;
/// Bytes at the end of a round that are scanned again with the next round, so a secret split across reads
/// is still found whole. Larger than the longest match any rule can produce.
const MIN_OVERLAP: usize = 64 << 10;
/// Already-written bytes kept before a round's start so keys and schemes before a value are seen.
const CONTEXT: usize = 4 << 10;

/// What [`Scrubber::scrub_stream`] did.
///
/// Example: [`Scrubber::scrub_stream`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
}

impl Scrubber {
    /// Scrubs `input` into `output` in rounds of about 1 MiB, with memory bounded whatever the input size.
    /// Rounds end at a line break where there is one; each round rescans the last 64 KiB of the previous one
    /// (and keeps 4 KiB of context before it), so a secret split across a read boundary is still found.
    ///
    /// ```
    /// use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};
    /// let scrubber = Scrubber::new(ScrubOptions::with_known(vec![KnownSecret::new("cohere-key", "q7Vd2LkP9sXw4RtZ")]));
    /// let input = "line 1\nkey q7Vd2LkP9sXw4RtZ\n";
    /// let mut out = Vec::new();
    /// let stats = scrubber.scrub_stream("app.log", input.as_bytes(), &mut out)?;
    /// assert_eq!(stats.bytes_in, input.len() as u64);
    /// assert_eq!(String::from_utf8(out).unwrap(), "line 1\nkey [REDACTED:cohere-key:1]\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn scrub_stream(
        &self,
        member: &str,
        mut input: impl Read,
        mut output: impl Write,
    ) -> io::Result<StreamStats> {
        let overlap = MIN_OVERLAP.max(2 * self.engine.max_form);
        let cap = CHUNK + overlap;
        let mut buf: Vec<u8> = Vec::with_capacity(cap + CONTEXT);
        let mut out: Vec<u8> = Vec::with_capacity(cap + CONTEXT);
        let mut stats = StreamStats::default();
        let mut ctx = 0usize; // leading bytes of `buf` already written
        let mut line = 1u64; // line number at buf[ctx]
        let mut eof = false;
        loop {
            while !eof && buf.len() < cap + ctx {
                let old = buf.len();
                buf.resize(cap + ctx, 0);
                match input.read(&mut buf[old..]) {
                    Ok(0) => {
                        buf.truncate(old);
                        eof = true;
                    }
                    Ok(n) => {
                        buf.truncate(old + n);
                        stats.bytes_in += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(old),
                    Err(e) => return Err(e),
                }
            }
            if buf.len() == ctx {
                break;
            }
            let spans = self.engine.scan(&buf, Mode::Scrub);
            let mut cut = if eof {
                buf.len()
            } else {
                let lim = buf.len() - overlap;
                match memchr::memrchr(b'\n', &buf[ctx..lim]) {
                    Some(p) => ctx + p + 1,
                    None => lim,
                }
            };
            for s in &spans {
                if s.start >= ctx && s.start < cut && s.end > cut {
                    cut = s.end;
                }
            }
            let keep: Vec<_> = spans
                .iter()
                .filter(|s| s.start >= ctx && s.start < cut)
                .map(|s| super::Span {
                    start: s.start - ctx,
                    end: s.end - ctx,
                    origin: s.origin,
                })
                .collect();
            out.clear();
            self.render(member, &buf[ctx..cut], &keep, line, &mut out);
            output.write_all(&out)?;
            stats.bytes_out += out.len() as u64;
            line += memchr::memchr_iter(b'\n', &buf[ctx..cut]).count() as u64;
            if eof && cut == buf.len() {
                break;
            }
            let keep_ctx = CONTEXT.min(cut);
            buf.drain(..cut - keep_ctx);
            ctx = keep_ctx;
        }
        output.flush()?;
        Ok(stats)
    }
}

impl Scrubber {
    /// The final check ([`Scrubber::find_leaks`]) over a stream, with memory bounded whatever its size: rounds
    /// of about 1 MiB that end at a line break where there is one, each rescanning the last 64 KiB (at least
    /// twice the longest encoded secret) of the round before, so a secret split across a read boundary is still
    /// found whole. Each leak is reported once.
    pub(crate) fn find_leaks_stream(
        &self,
        member: &str,
        input: impl Read,
    ) -> io::Result<Vec<Leak>> {
        let overlap = MIN_OVERLAP.max(2 * self.engine.max_form);
        // Room for the rescanned tail, a fresh round and the look-ahead that lets a round end at a line break.
        let cap = CHUNK + 2 * overlap;
        let mut input = input;
        let mut buf: Vec<u8> = Vec::new();
        let mut leaks: Vec<Leak> = Vec::new();
        let mut seen = 0usize; // leading bytes of `buf` already scanned by the previous round
        loop {
            let want = (cap - buf.len()) as u64;
            // `read_to_end` grows the buffer as data arrives: a small member never costs a whole round.
            let got = (&mut input).take(want).read_to_end(&mut buf)?;
            let eof = (got as u64) < want;
            if buf.len() == seen {
                break;
            }
            let cut = if eof {
                buf.len()
            } else {
                let lim = buf.len() - overlap;
                match memchr::memrchr(b'\n', &buf[seen..lim]) {
                    Some(p) => seen + p + 1,
                    None => lim,
                }
            };
            for l in self.find_leaks(member, &buf[..cut]) {
                if !leaks.contains(&l) {
                    leaks.push(l);
                }
            }
            if eof {
                break;
            }
            seen = overlap.min(cut);
            buf.drain(..cut - seen);
        }
        Ok(leaks)
    }
}

/// A reader that remembers whether an error came from reading (so errors name the right file).
struct Tagged<R> {
    inner: R,
    failed: std::rc::Rc<Cell<bool>>,
}

impl<R: Read> Read for Tagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed.set(true))
    }
}

/// `cohere-bundle scrub [FILE]... [--secret VALUE]... [--report]`: scrubs each file (`-` is stdin, and so is
/// no file at all) into `out`, with layer 4 when `redact_content` is set, and writes the redaction report as JSON to
/// `report` when given. Secret-looking environment variables are not added here; pass them in `known`.
/// Errors name the file (or `<stdin>` / `<stdout>`).
///
/// ```
/// use cohere_bundle_core::scrub::{scrub_command, KnownSecret};
/// let dir = tempfile::tempdir()?;
/// let log = dir.path().join("app.log");
/// std::fs::write(&log, "key q7Vd2LkP9sXw4RtZ\n")?;
/// let mut out = Vec::new();
/// let secrets = vec![KnownSecret::new("secret", "q7Vd2LkP9sXw4RtZ")];
/// let report = scrub_command(&[log], secrets, false, &mut out, None)?;
/// assert_eq!(String::from_utf8(out)?, "key [REDACTED:secret:1]\n");
/// assert_eq!(report.total(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scrub_command(
    inputs: &[PathBuf],
    known: Vec<KnownSecret>,
    redact_content: bool,
    out: &mut dyn Write,
    report: Option<&mut dyn Write>,
) -> crate::Result<RedactionReport> {
    let scrubber = Scrubber::new(ScrubOptions {
        known,
        redact_content,
    });
    let stdin_path = PathBuf::from("<stdin>");
    let sources: Vec<Option<&PathBuf>> = if inputs.is_empty() {
        vec![None]
    } else {
        // `-` is standard input, as the help says and as other tools read it.
        inputs
            .iter()
            .map(|p| (p.as_os_str() != "-").then_some(p))
            .collect()
    };
    for src in sources {
        let path = src.unwrap_or(&stdin_path);
        let member = path.display().to_string();
        let reader: Box<dyn Read> = match src {
            Some(p) => Box::new(std::fs::File::open(p).map_err(|e| Error::io(p, e))?),
            None => Box::new(io::stdin().lock()),
        };
        let failed = std::rc::Rc::new(Cell::new(false));
        let tagged = Tagged {
            inner: reader,
            failed: failed.clone(),
        };
        let res = if redact_content {
            let lines = ContentLines {
                scrubber: &scrubber,
                member: &member,
                input: io::BufReader::with_capacity(1 << 16, tagged),
                line: Vec::new(),
                out: Vec::new(),
                pos: 0,
            };
            scrubber.scrub_stream(&member, lines, &mut *out)
        } else {
            scrubber.scrub_stream(&member, tagged, &mut *out)
        };
        if let Err(e) = res {
            return Err(if failed.get() {
                Error::io(path, e)
            } else {
                Error::io("<stdout>", e)
            });
        }
    }
    let rep = scrubber.report();
    if let Some(w) = report {
        serde_json::to_writer_pretty(&mut *w, &rep)
            .map_err(|e| Error::Other(format!("redaction report: {e}")))?;
        w.write_all(b"\n").map_err(|e| Error::io("<report>", e))?;
    }
    Ok(rep)
}

/// Layer 4 on a stream, before layers 1–3 see it: each JSON line (an object) is read back with its content
/// redacted, every other line as it is. Layers 1–3 then scrub the whole stream ([`Scrubber::scrub_stream`]),
/// so a value broken over lines is found as it is in any other file.
struct ContentLines<'a, R> {
    scrubber: &'a Scrubber,
    member: &'a str,
    input: io::BufReader<R>,
    /// The line being read.
    line: Vec<u8>,
    /// What the line became, and how much of it has been handed out.
    out: Vec<u8>,
    pos: usize,
}

impl<R: Read> Read for ContentLines<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            self.out.clear();
            self.line.clear();
            self.pos = 0;
            if self.input.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(0);
            }
            let body = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let json = match body.first() {
                Some(b'{') => serde_json::from_slice::<serde_json::Value>(body).ok(),
                _ => None,
            };
            match json {
                Some(mut v) => {
                    self.scrubber.redact_content_in(
                        self.member,
                        crate::cohere::Endpoint::Other,
                        &mut v,
                    );
                    self.out.extend_from_slice(
                        serde_json::to_string(&v).unwrap_or_default().as_bytes(),
                    );
                    if self.line.ends_with(b"\n") {
                        self.out.push(b'\n');
                    }
                }
                None => std::mem::swap(&mut self.out, &mut self.line),
            }
        }
        let n = (self.out.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
