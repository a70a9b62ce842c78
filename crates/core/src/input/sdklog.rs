//! Input stage. Failures found in application logs: evidence of what the SDK saw, without replaying anything.
//!
//! Recognised:
//! - the Python SDK's exceptions, whose `__str__` is `status_code: 404, body: {...}` (older releases) or
//!   `headers: {...}, status_code: 404, body: {...}` (newer ones), usually after the class name
//!   (`cohere.errors.not_found_error.NotFoundError: ...`, `cohere.core.api_error.ApiError: ...`). The body and
//!   headers are Python reprs and are converted to JSON by a small literal parser;
//! - the pre-5.0 Python `CohereAPIError: message` and `httpx.*Error` / `httpx.*Timeout` exceptions;
//! - the TypeScript SDK's errors, whose message is `Name\nStatus code: 404\nBody: {json}` (the body pretty-printed
//!   over several lines), and `CohereTimeoutError: Timeout exceeded when calling POST /v2/chat.`;
//! - httpx's INFO log lines `HTTP Request: POST https://api.cohere.com/v2/chat "HTTP/1.1 429 Too Many Requests"`
//!   for Cohere URLs with a status ≥ 400, and urllib3's DEBUG lines (`https://api.cohere.ai:443 "POST /v1/generate
//!   HTTP/1.1" 429 None`, from the pre-5.0 SDK which used `requests`).
//!
//! ```
//! use cohere_bundle_core::input::sdklog::{client_from_log, find_sdk_errors};
//!
//! let log = "2026-11-24 09:14:04,022 ERROR chat failed\n\
//!     Traceback (most recent call last):\n\
//!       File \"/app/.venv/lib/python3.11/site-packages/cohere/v2/client.py\", line 120, in chat\n\
//!     cohere.errors.not_found_error.NotFoundError: status_code: 404, body: {'message': \"model 'command-r' not found\"}\n";
//! let errors = find_sdk_errors(log);
//! assert_eq!(errors.len(), 1);
//! let e = &errors[0];
//! assert_eq!((e.line, e.sdk.as_str(), e.status), (4, "python", Some(404)));
//! assert_eq!(e.message.as_deref(), Some("model 'command-r' not found"));
//! let (line, client) = client_from_log(log).unwrap();
//! assert_eq!((line, client.sdk.as_deref()), (3, Some("cohere")));
//! ```

use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

/// One failure found in a log.
///
/// See the [module example](crate::input::sdklog).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SdkError {
    /// The line (from 1) where the failure is reported.
    pub line: usize,
    /// Which client reported it: `python`, `typescript`, `httpx` (an httpx request log line) or `urllib3` (a
    /// urllib3 connection-pool log line).
    pub sdk: String,
    /// The exception class as printed, e.g. `cohere.errors.not_found_error.NotFoundError` or `NotFoundError`.
    pub exception: Option<String>,
    /// The HTTP status, when the log gives it.
    pub status: Option<u16>,
    /// The response body: JSON converted from the printed form, or a JSON string holding the raw text when the
    /// printed form could not be converted.
    pub body: Option<serde_json::Value>,
    /// The error message: the body's `message`, a text body, the exception's message, or the HTTP reason phrase.
    pub message: Option<String>,
    /// `x-debug-trace-id` from the printed response headers, else the body's `id`.
    pub request_id: Option<String>,
    /// The HTTP method, when the log gives it.
    pub method: Option<String>,
    /// The URL (or path), when the log gives it.
    pub url: Option<String>,
}

impl SdkError {
    fn new(line: usize, sdk: &str) -> SdkError {
        SdkError {
            line,
            sdk: sdk.to_string(),
            exception: None,
            status: None,
            body: None,
            message: None,
            request_id: None,
            method: None,
            url: None,
        }
    }

    /// Fills `message` and `request_id` from the body where they are still missing.
    fn fill_from_body(&mut self) {
        match &self.body {
            Some(serde_json::Value::Object(o)) => {
                if self.message.is_none() {
                    self.message = o
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string);
                }
                if self.request_id.is_none() {
                    self.request_id = o.get("id").and_then(|m| m.as_str()).map(str::to_string);
                }
            }
            Some(serde_json::Value::String(s))
                if self.message.is_none() && !s.trim().is_empty() =>
            {
                self.message = Some(s.trim().to_string());
            }
            _ => {}
        }
    }
}

/// How much text after `Body:` a multi-line TypeScript body may span.
const TS_BODY_WINDOW: usize = 256 * 1024;

struct Patterns {
    py_status: Regex,
    py_exc_tail: Regex,
    py_old: Regex,
    py_httpx_exc: Regex,
    ts_status: Regex,
    ts_exc_line: Regex,
    ts_timeout: Regex,
    httpx_line: Regex,
    urllib3_line: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| unreachable!("static regex {s}: {e}"));
        Patterns {
            py_status: re(r"status_code:\s*(\d{3}|None)\s*,\s*body:\s?"),
            py_exc_tail: re(r"([A-Za-z_][\w.]*(?:Error|Exception))\s*:\s*$"),
            py_old: re(r"\b((?:cohere\.error\.)?CohereAPIError|(?:cohere\.error\.)?CohereConnectionError):\s*(.*)$"),
            py_httpx_exc: re(r"\b(httpx\.[A-Z]\w*(?:Error|Timeout))(?::\s*(.*))?$"),
            ts_status: re(r"Status code: (\d{3})"),
            ts_exc_line: re(r"(?:^|[\s\[:])([\w$]*(?:Error|Exception))\]?(?::\s*(.*))?$"),
            ts_timeout: re(r"\b(CohereTimeoutError):\s*(.*?)\s*$"),
            httpx_line: re(r#"HTTP Request: ([A-Z]+) (\S+) "HTTP/[0-9.]+ (\d{3})(?: ([^"]*))?""#),
            urllib3_line: re(r#"(https?://[^\s"/:]+)(?::\d+)? "([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})"#),
        }
    })
}

/// Finds SDK failures in log text (the lead passes at most the last few MiB). Never panics.
///
/// A line that is a JSON object (a structured log: pino, structlog, …) is decoded first and its string values
/// (an error's `message` or `stack`, an `exception` field) are scanned, so escaped newlines and quotes read
/// as they were printed; what is found there is reported at that line.
///
/// See the [module example](crate::input::sdklog).
pub fn find_sdk_errors(text: &str) -> Vec<SdkError> {
    scan(text, true)
}

/// Words that make a string worth scanning when it sits inside a JSON log line.
const MARKERS: &[&str] = &[
    "status_code:",
    "Status code:",
    "HTTP Request:",
    "CohereTimeoutError",
    "CohereAPIError",
    "httpx.",
    "\" HTTP/",
];

fn json_line(line: &str, lineno: usize) -> Option<Vec<SdkError>> {
    let t = line.trim();
    if !t.starts_with('{') || !t.ends_with('}') || !MARKERS.iter().any(|m| t.contains(m)) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(t).ok()?;
    let mut strings = Vec::new();
    collect_strings(&v, &mut strings);
    let mut found: Vec<SdkError> = Vec::new();
    for s in strings {
        if !MARKERS.iter().any(|m| s.contains(m)) {
            continue;
        }
        for mut e in scan(s, false) {
            e.line = lineno;
            // An error's `message` and `stack` often say the same thing.
            if !found.iter().any(|f| {
                f.status == e.status && f.body == e.body && f.url == e.url && f.sdk == e.sdk
            }) {
                found.push(e);
            }
        }
    }
    (!found.is_empty()).then_some(found)
}

fn collect_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn scan(text: &str, json_lines: bool) -> Vec<SdkError> {
    let p = patterns();
    let mut out = Vec::new();
    // Byte offset of each line start, for multi-line bodies.
    let mut offset = 0usize;
    let lines: Vec<(usize, &str)> = text
        .split('\n')
        .map(|l| {
            let start = offset;
            offset += l.len() + 1;
            (start, l.strip_suffix('\r').unwrap_or(l))
        })
        .collect();
    for (idx, &(_, line)) in lines.iter().enumerate() {
        let lineno = idx + 1;
        if json_lines {
            if let Some(found) = json_line(line, lineno) {
                out.extend(found);
                continue;
            }
        }
        if let Some(e) = python_error(p, line, lineno) {
            out.push(e);
            continue;
        }
        if let Some(e) = httpx_line(p, line, lineno) {
            out.push(e);
            continue;
        }
        if let Some(e) = urllib3_line(p, line, lineno) {
            out.push(e);
            continue;
        }
        if let Some(e) = ts_error(p, text, &lines, idx, line) {
            out.push(e);
            continue;
        }
        if let Some(c) = p.ts_timeout.captures(line) {
            let mut e = SdkError::new(lineno, "typescript");
            e.exception = Some(c[1].to_string());
            let msg = c[2].to_string();
            if let Some(rest) = msg.strip_prefix("Timeout exceeded when calling ") {
                let mut parts = rest.trim_end_matches('.').splitn(2, ' ');
                e.method = parts.next().map(str::to_string);
                e.url = parts.next().map(str::to_string);
            }
            e.message = Some(msg);
            out.push(e);
            continue;
        }
        if let Some(c) = p.py_old.captures(line) {
            let mut e = SdkError::new(lineno, "python");
            e.exception = Some(c[1].to_string());
            e.message = Some(c[2].trim().to_string()).filter(|m| !m.is_empty());
            out.push(e);
            continue;
        }
        if let Some(c) = p.py_httpx_exc.captures(line) {
            // `raise httpx.ReadTimeout(...)` source lines in a traceback are not the exception itself.
            if line.trim_start().starts_with("raise ") {
                continue;
            }
            let mut e = SdkError::new(lineno, "python");
            e.exception = Some(c[1].to_string());
            e.message = c
                .get(2)
                .map(|m| m.as_str().trim().to_string())
                .filter(|m| !m.is_empty());
            out.push(e);
        }
    }
    out
}

fn python_error(p: &Patterns, line: &str, lineno: usize) -> Option<SdkError> {
    let c = p.py_status.captures(line)?;
    let m = c.get(0)?;
    let mut e = SdkError::new(lineno, "python");
    e.status = c[1].parse().ok();
    // The body: a Python literal, else the raw rest of the line.
    let rest = &line[m.end()..];
    e.body = match pylit::parse_prefix(rest) {
        Some((v, _)) => Some(v),
        None if rest.trim().is_empty() => None,
        None => Some(serde_json::Value::String(rest.trim().to_string())),
    };
    // What comes before: `headers: {...}, ` and the exception's class.
    let mut before = &line[..m.start()];
    if let Some(h) = before.rfind("headers:") {
        let dict = &before[h + "headers:".len()..];
        if let Some((serde_json::Value::Object(headers), _)) = pylit::parse_prefix(dict) {
            e.request_id = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("x-debug-trace-id"))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_string);
        }
        before = &before[..h];
    }
    if let Some(c) = p.py_exc_tail.captures(before) {
        e.exception = Some(c[1].to_string());
    }
    e.fill_from_body();
    Some(e)
}

fn httpx_line(p: &Patterns, line: &str, lineno: usize) -> Option<SdkError> {
    let c = p.httpx_line.captures(line)?;
    let status: u16 = c[3].parse().ok()?;
    let url = c[2].to_string();
    if status < 400 || !crate::input::request::is_cohere_url(&url) {
        return None;
    }
    let mut e = SdkError::new(lineno, "httpx");
    e.status = Some(status);
    e.method = Some(c[1].to_string());
    e.url = Some(url);
    e.message = c
        .get(4)
        .map(|m| m.as_str().trim().to_string())
        .filter(|m| !m.is_empty());
    Some(e)
}

fn urllib3_line(p: &Patterns, line: &str, lineno: usize) -> Option<SdkError> {
    let c = p.urllib3_line.captures(line)?;
    let status: u16 = c[4].parse().ok()?;
    let url = format!("{}{}", &c[1], &c[3]);
    if status < 400 || !crate::input::request::is_cohere_url(&url) {
        return None;
    }
    let mut e = SdkError::new(lineno, "urllib3");
    e.status = Some(status);
    e.method = Some(c[2].to_string());
    e.url = Some(url);
    Some(e)
}

fn ts_error(
    p: &Patterns,
    text: &str,
    lines: &[(usize, &str)],
    idx: usize,
    line: &str,
) -> Option<SdkError> {
    let c = p.ts_status.captures(line)?;
    let m = c.get(0)?;
    let mut e = SdkError::new(idx + 1, "typescript");
    e.status = c[1].parse().ok();
    // The class: on this line (`CohereError: Status code: 402`), or the line before (`NotFoundError: NotFoundError`).
    let prefix = line[..m.start()].trim_end();
    if let Some(name) = prefix
        .strip_suffix(':')
        .and_then(|s| p.ts_exc_line.captures(s))
    {
        e.exception = Some(name[1].to_string());
    } else if idx > 0 {
        let prev = lines[idx - 1].1.trim();
        if let Some(pc) = p.ts_exc_line.captures(prev) {
            let name = pc[1].to_string();
            e.line = idx; // the error starts on the line before
                          // `Error: NotFoundError` (no name set): the message is the class.
            let msg = pc.get(2).map(|m| m.as_str().trim()).unwrap_or("");
            e.exception = Some(
                if name == "Error" && !msg.is_empty() && !msg.contains(' ') {
                    msg.to_string()
                } else {
                    name
                },
            );
        }
    }
    // The body: `Body: ` on this line or one of the next two, as JSON (possibly over several lines).
    for (j, &(lstart, l)) in lines.iter().enumerate().skip(idx).take(3) {
        let search_from = if j == idx { m.end() } else { 0 };
        let Some(pos) = l.get(search_from..).and_then(|s| s.find("Body: ")) else {
            continue;
        };
        let body_start = lstart + search_from + pos + "Body: ".len();
        let mut end = (body_start + TS_BODY_WINDOW).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let slice = text.get(body_start..end).unwrap_or("");
        let mut stream = serde_json::Deserializer::from_str(slice).into_iter::<serde_json::Value>();
        e.body = match stream.next() {
            Some(Ok(v)) => Some(v),
            _ => match pylit::parse_prefix(slice) {
                Some((v, _)) => Some(v),
                None => {
                    let raw = l
                        .get(search_from + pos + "Body: ".len()..)
                        .unwrap_or("")
                        .trim();
                    (!raw.is_empty()).then(|| serde_json::Value::String(raw.to_string()))
                }
            },
        };
        break;
    }
    e.fill_from_body();
    Some(e)
}

/// A small parser for Python (and JavaScript `util.inspect`) literals: dicts/objects, lists, tuples, strings
/// with escapes and prefixes, numbers, `True`/`False`/`None` (and `true`/`false`/`null`/`undefined`), and
/// unquoted object keys. Converts to JSON.
pub(crate) mod pylit {
    use serde_json::{Map, Number, Value};

    const MAX_DEPTH: usize = 128;

    /// Parses a literal at the start of `s` (leading whitespace allowed); returns it and the bytes consumed.
    pub(crate) fn parse_prefix(s: &str) -> Option<(Value, usize)> {
        let mut p = Parser {
            b: s.as_bytes(),
            i: 0,
            depth: 0,
        };
        p.ws();
        let v = p.value()?;
        Some((v, p.i))
    }

    struct Parser<'a> {
        b: &'a [u8],
        i: usize,
        depth: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }

        fn value(&mut self) -> Option<Value> {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return None;
            }
            let v = match self.peek()? {
                b'{' => self.dict(),
                b'[' => self.list(b']'),
                b'(' => self.list(b')'),
                b'\'' | b'"' => self.string(false).map(Value::String),
                b'-' | b'+' | b'.' | b'0'..=b'9' => self.number(),
                c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => self.word(),
                _ => None,
            };
            self.depth -= 1;
            v
        }

        fn dict(&mut self) -> Option<Value> {
            self.i += 1; // {
            let mut map = Map::new();
            loop {
                self.ws();
                match self.peek()? {
                    b'}' => {
                        self.i += 1;
                        return Some(Value::Object(map));
                    }
                    c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                        // An unquoted key (JavaScript), or True/None/... as a Python key.
                        let start = self.i;
                        let ident = self.ident();
                        self.ws();
                        if self.peek() == Some(b':') {
                            let key = match ident.as_str() {
                                "True" | "true" => "true".to_string(),
                                "False" | "false" => "false".to_string(),
                                "None" | "null" => "null".to_string(),
                                _ => ident,
                            };
                            self.i += 1;
                            self.ws();
                            let v = self.value()?;
                            map.insert(key, v);
                        } else {
                            self.i = start;
                            return None;
                        }
                    }
                    _ => {
                        let k = self.value()?;
                        let key = match k {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        self.ws();
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.i += 1;
                        self.ws();
                        let v = self.value()?;
                        map.insert(key, v);
                    }
                }
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {}
                    _ => return None,
                }
            }
        }

        fn list(&mut self, close: u8) -> Option<Value> {
            self.i += 1;
            let mut items = Vec::new();
            loop {
                self.ws();
                if self.peek()? == close {
                    self.i += 1;
                    return Some(Value::Array(items));
                }
                items.push(self.value()?);
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    c if c == close => {}
                    _ => return None,
                }
            }
        }

        fn ident(&mut self) -> String {
            let start = self.i;
            while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'$')
            {
                self.i += 1;
            }
            String::from_utf8_lossy(&self.b[start..self.i]).into_owned()
        }

        fn word(&mut self) -> Option<Value> {
            let start = self.i;
            let w = self.ident();
            // String prefixes: r'..', b'..', u'..', rb'..', f'..'.
            if matches!(self.peek(), Some(b'\'' | b'"'))
                && w.len() <= 2
                && w.chars()
                    .all(|c| matches!(c.to_ascii_lowercase(), 'r' | 'b' | 'u' | 'f'))
            {
                let raw = w.to_ascii_lowercase().contains('r');
                return self.string(raw).map(Value::String);
            }
            match w.as_str() {
                "True" | "true" => Some(Value::Bool(true)),
                "False" | "false" => Some(Value::Bool(false)),
                "None" | "null" | "undefined" => Some(Value::Null),
                "nan" | "NaN" | "inf" | "Infinity" => Some(Value::String(w)),
                _ => {
                    self.i = start;
                    None
                }
            }
        }

        fn number(&mut self) -> Option<Value> {
            let start = self.i;
            while matches!(
                self.peek(),
                Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E' | b'_')
            ) {
                self.i += 1;
            }
            let t: String = String::from_utf8_lossy(&self.b[start..self.i]).replace('_', "");
            if let Ok(n) = t.parse::<i64>() {
                return Some(Value::Number(n.into()));
            }
            if let Ok(n) = t.parse::<u64>() {
                return Some(Value::Number(n.into()));
            }
            match t.parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => Some(Value::Number(n)),
                None => {
                    self.i = start;
                    None
                }
            }
        }

        /// A quoted string at `self.i` (single or double quotes; triple quotes too).
        fn string(&mut self, raw: bool) -> Option<String> {
            let q = self.peek()?;
            let triple = self.b.get(self.i..self.i + 3) == Some(&[q, q, q][..]);
            self.i += if triple { 3 } else { 1 };
            let mut out: Vec<u8> = Vec::new();
            loop {
                let c = self.peek()?;
                if c == q {
                    if !triple {
                        self.i += 1;
                        break;
                    }
                    if self.b.get(self.i..self.i + 3) == Some(&[q, q, q][..]) {
                        self.i += 3;
                        break;
                    }
                    out.push(c);
                    self.i += 1;
                    continue;
                }
                if c == b'\n' && !triple {
                    return None;
                }
                if c != b'\\' {
                    out.push(c);
                    self.i += 1;
                    continue;
                }
                let e = *self.b.get(self.i + 1)?;
                if raw {
                    out.push(b'\\');
                    out.push(e);
                    self.i += 2;
                    continue;
                }
                self.i += 2;
                self.escape(e, &mut out)?;
            }
            Some(String::from_utf8_lossy(&out).into_owned())
        }

        /// Decodes the escape `\e` (backslash and `e` already read) onto `out`; an escape it does not know
        /// stays as written. `None` for a `\x`, `\u` or `\U` without its hex digits.
        fn escape(&mut self, e: u8, out: &mut Vec<u8>) -> Option<()> {
            match e {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'0' if !matches!(self.peek(), Some(b'0'..=b'7')) => out.push(0),
                b'a' => out.push(7),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'v' => out.push(11),
                b'\\' | b'\'' | b'"' | b'`' => out.push(e),
                b'\n' => {}
                b'x' | b'u' | b'U' => push_char(out, self.hex_escape(e)?),
                b'0'..=b'7' => push_char(out, self.octal_escape(e)),
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            Some(())
        }

        /// The character of a `\x` (two hex digits), `\u` (four) or `\U` (eight) escape whose digits start at
        /// `self.i`; a surrogate pair written as two `\u` escapes (JavaScript) is one character.
        fn hex_escape(&mut self, e: u8) -> Option<char> {
            let n = match e {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let hex = self.b.get(self.i..self.i + n)?;
            let v = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            self.i += n;
            // A surrogate pair written as two \u escapes (JavaScript).
            if (0xD800..0xDC00).contains(&v) && self.b.get(self.i..self.i + 2) == Some(b"\\u") {
                if let Some(lo) = self
                    .b
                    .get(self.i + 2..self.i + 6)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .filter(|lo| (0xDC00..0xE000).contains(lo))
                {
                    self.i += 6;
                    let cp = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                    return Some(char::from_u32(cp).unwrap_or('\u{fffd}'));
                }
            }
            Some(char::from_u32(v).unwrap_or('\u{fffd}'))
        }

        /// The character of an octal escape whose first digit is `first`, with up to two more digits at
        /// `self.i`.
        fn octal_escape(&mut self, first: u8) -> char {
            let mut v = u32::from(first - b'0');
            for _ in 0..2 {
                match self.peek() {
                    Some(d @ b'0'..=b'7') => {
                        v = v * 8 + u32::from(d - b'0');
                        self.i += 1;
                    }
                    _ => break,
                }
            }
            char::from_u32(v).unwrap_or('\u{fffd}')
        }
    }

    /// Appends `ch` to `out` as UTF-8.
    fn push_char(out: &mut Vec<u8>, ch: char) {
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        #[test]
        fn converts_python_literals() {
            let s = r#"{'id': 'abc', 'message': "model 'x' not found", 'n': [1, -2.5, True, None, (3,)], 3: b'\xe9\n', 'u': '\u00e9\U0001F600'} tail"#;
            let (v, n) = parse_prefix(s).unwrap();
            assert_eq!(
                v,
                json!({"id": "abc", "message": "model 'x' not found", "n": [1, -2.5, true, null, [3]], "3": "\u{e9}\n", "u": "\u{e9}\u{1F600}"})
            );
            assert_eq!(&s[n..], " tail");
        }

        #[test]
        fn converts_js_inspect_objects() {
            let (v, _) =
                parse_prefix("{\n  id: 'a',\n  message: \"it's\",\n  ok: false,\n}").unwrap();
            assert_eq!(v, json!({"id": "a", "message": "it's", "ok": false}));
        }

        #[test]
        fn refuses_what_it_cannot_read() {
            for s in [
                "",
                "{",
                "{'a' 1}",
                "datetime.datetime(2020)",
                "'unterminated",
                "{'a': [1, 2}",
                "\"\\x4\"",
            ] {
                assert!(parse_prefix(s).is_none(), "{s}");
            }
            let deep = "[".repeat(10_000);
            assert!(parse_prefix(&deep).is_none());
        }
    }
}

/// When the error at `line` (from 1) happened, as the log gives it: the `date` response header printed on
/// that line, else the timestamp that starts that line or the nearest line above it (up to 50 lines up).
///
/// ```
/// let log = "2026-11-24 16:02:01,209 ERROR app: failed\nTraceback (most recent call last):\nNotFoundError: status_code: 404";
/// assert_eq!(cohere_bundle_core::input::sdklog::time_near(log, 3).as_deref(), Some("2026-11-24 16:02:01,209"));
/// ```
pub fn time_near(text: &str, line: usize) -> Option<String> {
    static DATE: OnceLock<Regex> = OnceLock::new();
    static STAMP: OnceLock<Regex> = OnceLock::new();
    let date = DATE.get_or_init(|| {
        Regex::new(r#"['"]date['"]\s*:\s*['"]([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)['"]"#)
            .expect("static regex")
    });
    let stamp = STAMP.get_or_init(|| {
        Regex::new(
            r"^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)",
        )
        .expect("static regex")
    });
    let lines: Vec<&str> = text.lines().collect();
    let at = line.checked_sub(1).filter(|i| *i < lines.len())?;
    if let Some(c) = date.captures(lines[at]) {
        return Some(c[1].to_string());
    }
    (at.saturating_sub(50)..=at).rev().find_map(|i| {
        stamp
            .captures(lines[i].trim_start())
            .map(|c| c[1].to_string())
    })
}

/// The client named by request headers: the Fern SDK headers (`X-Fern-SDK-Name`, `X-Fern-SDK-Version`,
/// `X-Fern-Language`, `X-Fern-Runtime`, `X-Fern-Runtime-Version`); else the Stainless SDK headers of the OpenAI
/// SDKs, used with the compatibility API ([`stainless_client`]); else the User-Agent's first `name/version`
/// product (`ai-sdk/cohere/2.0.0` reads as `@ai-sdk/cohere` 2.0.0). `source` is left empty for the caller.
///
/// ```
/// use cohere_bundle_core::exchange::Header;
/// let c = cohere_bundle_core::input::sdklog::client_from_headers(&[
///     Header::new("X-Fern-SDK-Name", "cohere"),
///     Header::new("X-Fern-SDK-Version", "7.3.1"),
///     Header::new("X-Fern-Language", "Python"),
/// ]).unwrap();
/// assert_eq!((c.sdk.as_deref(), c.version.as_deref()), (Some("cohere"), Some("7.3.1")));
/// ```
pub fn client_from_headers(
    headers: &[crate::exchange::Header],
) -> Option<crate::summary::ClientInfo> {
    use crate::exchange::header;
    let h = |n: &str| header(headers, n).map(str::trim).filter(|v| !v.is_empty());
    let ua = h("user-agent").filter(|u| !u.starts_with("cohere-bundle/"));
    if h("x-fern-sdk-name").is_none() {
        if let Some(c) = stainless_client(headers) {
            return Some(c);
        }
    }
    let mut c = crate::summary::ClientInfo {
        sdk: h("x-fern-sdk-name").map(str::to_string),
        version: h("x-fern-sdk-version").map(str::to_string),
        user_agent: ua.map(str::to_string),
        ..Default::default()
    };
    // `python/3.11.7` (Python SDK) or `node` with `X-Fern-Runtime-Version: 20.20.2` (TypeScript SDK).
    c.runtime = match (h("x-fern-runtime"), h("x-fern-runtime-version")) {
        (Some(r), Some(v)) => Some(format!("{r} {v}")),
        (Some(r), None) => Some(r.replacen('/', " ", 1)),
        _ => h("x-fern-language").map(|l| l.to_ascii_lowercase()),
    };
    c.platform = h("x-fern-platform").map(str::to_string);
    if let Some(ua) = ua {
        let products: Vec<&str> = ua.split_whitespace().filter(|t| t.contains('/')).collect();
        for p in &products {
            let parts: Vec<&str> = p.split('/').collect();
            match parts.as_slice() {
                ["ai-sdk", name, v]
                    if *name != "provider-utils"
                        && (c.sdk.is_none() || c.sdk.as_deref() == Some("ai")) =>
                {
                    c.sdk = Some(format!("@ai-sdk/{name}"));
                    c.version = Some(v.to_string());
                }
                ["runtime", r, v] if c.runtime.is_none() => c.runtime = Some(format!("{r} {v}")),
                ["ai", v] if c.sdk.is_none() => {
                    c.sdk = Some("ai".into());
                    c.version = Some(v.to_string());
                }
                [name, v] if c.sdk.is_none() && !name.is_empty() => {
                    c.sdk = Some(name.to_string());
                    c.version = Some(v.to_string());
                }
                _ => {}
            }
        }
        if c.platform.is_none() {
            if let (Some(a), Some(b)) = (ua.find('('), ua.find(')')) {
                if a < b {
                    c.platform = Some(ua[a + 1..b].to_string());
                }
            }
        }
    }
    (c.sdk.is_some() || c.user_agent.is_some()).then_some(c)
}

/// The client named by the headers of an SDK generated by Stainless, as the OpenAI SDKs are: `X-Stainless-Lang`
/// (`python`, `js`), `X-Stainless-Package-Version`, `X-Stainless-Runtime` (`CPython`, `node`),
/// `X-Stainless-Runtime-Version`, `X-Stainless-OS` and `X-Stainless-Arch` (the names are those of the SDKs'
/// `platform_headers()` / `getPlatformHeaders()`). The package is named by the User-Agent, `OpenAI/Python 1.x.y`
/// or `OpenAI/JS 4.x.y`: `openai` (its name on PyPI and npm) in both cases; another Stainless SDK keeps its own
/// lower-cased name. `None` without `X-Stainless-Lang`. `source` is left empty for the caller.
///
/// ```
/// use cohere_bundle_core::exchange::Header;
/// let c = cohere_bundle_core::input::sdklog::stainless_client(&[
///     Header::new("User-Agent", "OpenAI/Python 1.109.1"),
///     Header::new("X-Stainless-Lang", "python"),
///     Header::new("X-Stainless-Package-Version", "1.109.1"),
///     Header::new("X-Stainless-Runtime", "CPython"),
///     Header::new("X-Stainless-Runtime-Version", "3.11.7"),
///     Header::new("X-Stainless-OS", "Linux"),
///     Header::new("X-Stainless-Arch", "x64"),
/// ]).unwrap();
/// assert_eq!((c.sdk.as_deref(), c.version.as_deref()), (Some("openai"), Some("1.109.1")));
/// assert_eq!((c.runtime.as_deref(), c.platform.as_deref()), (Some("CPython 3.11.7"), Some("Linux x64")));
/// ```
pub fn stainless_client(headers: &[crate::exchange::Header]) -> Option<crate::summary::ClientInfo> {
    use crate::exchange::header;
    let h = |n: &str| header(headers, n).map(str::trim).filter(|v| !v.is_empty());
    let lang = h("x-stainless-lang")?;
    let ua = h("user-agent");
    // `OpenAI/Python 1.x.y`, `OpenAI/JS 4.x.y`: the product's name, then the language, then the version.
    let (name, ua_version) = match ua.map(|u| u.split_whitespace().collect::<Vec<_>>()) {
        Some(words) if !words.is_empty() => {
            let name = words[0]
                .split('/')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let version = words
                .get(1)
                .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
                .map(|v| v.to_string());
            (Some(name).filter(|n| !n.is_empty()), version)
        }
        _ => (None, None),
    };
    let join = |a: Option<&str>, b: Option<&str>| match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (a, b) => a.or(b).map(str::to_string),
    };
    Some(crate::summary::ClientInfo {
        sdk: Some(name.unwrap_or_else(|| format!("stainless ({lang})"))),
        version: h("x-stainless-package-version")
            .map(str::to_string)
            .or(ua_version),
        runtime: join(h("x-stainless-runtime"), h("x-stainless-runtime-version"))
            .or_else(|| Some(lang.to_ascii_lowercase())),
        platform: join(h("x-stainless-os"), h("x-stainless-arch")),
        user_agent: ua.map(str::to_string),
        ..Default::default()
    })
}

/// The client named by an SDK traceback's paths (`site-packages/cohere/`, `node_modules/cohere-ai/`,
/// `node_modules/@ai-sdk/cohere/`), with the line it was found on (from 1).
///
/// See the [module example](crate::input::sdklog).
pub fn client_from_log(text: &str) -> Option<(usize, crate::summary::ClientInfo)> {
    static PY: OnceLock<Regex> = OnceLock::new();
    let py = PY.get_or_init(|| {
        Regex::new(r"(python\d(?:\.\d+)?)[/\\](?:site|dist)-packages[/\\]cohere[/\\]")
            .expect("static regex")
    });
    for (i, line) in text.lines().enumerate() {
        let (sdk, runtime) = if let Some(c) = py.captures(line) {
            ("cohere", Some(c[1].replacen("python", "python ", 1)))
        } else if line.contains("node_modules/@ai-sdk/cohere/") {
            ("@ai-sdk/cohere", Some("node".to_string()))
        } else if line.contains("node_modules/cohere-ai/") {
            ("cohere-ai", Some("node".to_string()))
        } else {
            continue;
        };
        return Some((
            i + 1,
            crate::summary::ClientInfo {
                sdk: Some(sdk.to_string()),
                runtime,
                ..Default::default()
            },
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_old_format() {
        let log = "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\ncohere.errors.not_found_error.NotFoundError: status_code: 404, body: {'id': 'f1e2d3c4-0000-4000-8000-000000000001', 'message': \"model 'comand-r' not found, make sure the correct model ID was used and that you have access to the model.\"}\n";
        let found = find_sdk_errors(log);
        assert_eq!(found.len(), 1);
        let e = &found[0];
        assert_eq!(e.line, 3);
        assert_eq!(e.sdk, "python");
        assert_eq!(
            e.exception.as_deref(),
            Some("cohere.errors.not_found_error.NotFoundError")
        );
        assert_eq!(e.status, Some(404));
        assert_eq!(
            e.request_id.as_deref(),
            Some("f1e2d3c4-0000-4000-8000-000000000001")
        );
        assert!(e
            .message
            .as_deref()
            .unwrap_or("")
            .starts_with("model 'comand-r' not found"));
    }

    #[test]
    fn python_raw_text_body_and_none_status() {
        let found = find_sdk_errors(
            "cohere.core.api_error.ApiError: status_code: None, body: upstream connect error\n",
        );
        assert_eq!(found[0].status, None);
        assert_eq!(
            found[0].body,
            Some(serde_json::json!("upstream connect error"))
        );
        assert_eq!(found[0].message.as_deref(), Some("upstream connect error"));
    }

    #[test]
    fn urllib3_debug_lines() {
        let log = "DEBUG:urllib3.connectionpool:Starting new HTTPS connection (1): api.cohere.ai:443\nDEBUG:urllib3.connectionpool:https://api.cohere.ai:443 \"POST /v1/generate HTTP/1.1\" 498 None\nDEBUG:urllib3.connectionpool:https://api.cohere.ai:443 \"POST /v1/generate HTTP/1.1\" 200 812\n";
        let found = find_sdk_errors(log);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].sdk, "urllib3");
        assert_eq!(found[0].status, Some(498));
        assert_eq!(
            found[0].url.as_deref(),
            Some("https://api.cohere.ai/v1/generate")
        );
        assert_eq!(found[0].line, 2);
    }

    #[test]
    fn never_panics() {
        for s in [
            "status_code: 4",
            "status_code: 404, body: {",
            "headers: {, status_code: 500, body: ",
            "Status code: 500\nBody: {",
            "Status code: 999\nBody: é",
            "HTTP Request: POST https://api.cohere.com/v2/chat \"HTTP/1.1 999",
            "\r\n\r\n",
            "CohereTimeoutError: ",
        ] {
            let _ = find_sdk_errors(s);
        }
    }

    #[test]
    fn clients_are_named_from_the_headers_each_sdk_sends() {
        use crate::exchange::Header;
        let ts = client_from_headers(&[
            Header::new("X-Fern-Language", "JavaScript"),
            Header::new("X-Fern-SDK-Name", "cohere-ai"),
            Header::new("X-Fern-SDK-Version", "8.1.0"),
            Header::new("User-Agent", "cohere-ai/8.1.0"),
            Header::new("X-Fern-Runtime", "node"),
            Header::new("X-Fern-Runtime-Version", "20.20.2"),
        ])
        .unwrap();
        assert_eq!(ts.sdk.as_deref(), Some("cohere-ai"));
        assert_eq!(ts.version.as_deref(), Some("8.1.0"));
        assert_eq!(ts.runtime.as_deref(), Some("node 20.20.2"));
        // The Vercel AI SDK: streamText names the provider, generateText names `ai` only.
        let ua = |v: &str| client_from_headers(&[Header::new("user-agent", v)]).unwrap();
        let s = ua("ai-sdk/cohere/3.0.63 ai-sdk/provider-utils/4.0.53 runtime/node.js/v20.20.2");
        assert_eq!(
            (s.sdk.as_deref(), s.version.as_deref()),
            (Some("@ai-sdk/cohere"), Some("3.0.63"))
        );
        assert_eq!(s.runtime.as_deref(), Some("node.js v20.20.2"));
        let g = ua("ai/6.0.325 ai-sdk/provider-utils/4.0.53 runtime/node.js/v20.20.2");
        assert_eq!(
            (g.sdk.as_deref(), g.version.as_deref()),
            (Some("ai"), Some("6.0.325"))
        );
        // The tool's own replays name no client.
        assert!(client_from_headers(&[Header::new("user-agent", "cohere-bundle/0.1.0")]).is_none());
    }

    #[test]
    fn openai_sdks_are_named_by_their_stainless_headers() {
        use crate::exchange::Header;
        let js = client_from_headers(&[
            Header::new("user-agent", "OpenAI/JS 4.104.0"),
            Header::new("x-stainless-lang", "js"),
            Header::new("x-stainless-package-version", "4.104.0"),
            Header::new("x-stainless-os", "Linux"),
            Header::new("x-stainless-arch", "x64"),
            Header::new("x-stainless-runtime", "node"),
            Header::new("x-stainless-runtime-version", "v20.19.0"),
        ])
        .unwrap();
        assert_eq!(
            (
                js.sdk.as_deref(),
                js.version.as_deref(),
                js.runtime.as_deref()
            ),
            (Some("openai"), Some("4.104.0"), Some("node v20.19.0"))
        );
        assert_eq!(js.platform.as_deref(), Some("Linux x64"));
        assert_eq!(js.user_agent.as_deref(), Some("OpenAI/JS 4.104.0"));
        // Not sdk "OpenAI", version "Python" (the User-Agent's first product) any more.
        let py = client_from_headers(&[
            Header::new("User-Agent", "OpenAI/Python 1.109.1"),
            Header::new("X-Stainless-Lang", "python"),
            Header::new("X-Stainless-Runtime", "CPython"),
        ])
        .unwrap();
        assert_eq!(
            (
                py.sdk.as_deref(),
                py.version.as_deref(),
                py.runtime.as_deref()
            ),
            (Some("openai"), Some("1.109.1"), Some("CPython"))
        );
        // Without a User-Agent the language still says what it is; without X-Stainless-Lang nothing changes.
        let bare = client_from_headers(&[Header::new("x-stainless-lang", "python")]).unwrap();
        assert_eq!(bare.sdk.as_deref(), Some("stainless (python)"));
        assert_eq!(bare.runtime.as_deref(), Some("python"));
        let fern = client_from_headers(&[
            Header::new("x-fern-sdk-name", "cohere"),
            Header::new("x-stainless-lang", "python"),
        ])
        .unwrap();
        assert_eq!(fern.sdk.as_deref(), Some("cohere"));
    }

    #[test]
    fn error_times_come_from_the_date_header_else_the_nearest_stamp() {
        let log = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/logs/python_v5_notfound.log"
        ))
        .unwrap();
        let e = find_sdk_errors(&log)
            .into_iter()
            .find(|e| e.status == Some(404) && e.request_id.is_some())
            .unwrap();
        assert_eq!(
            time_near(&log, e.line).as_deref(),
            Some("Tue, 24 Nov 2026 16:02:01 GMT")
        );
        assert_eq!(time_near("no stamp here", 1), None);
        let (line, c) = client_from_log(&log).unwrap();
        assert_eq!(c.sdk.as_deref(), Some("cohere"));
        assert_eq!(c.runtime.as_deref(), Some("python 3.12"));
        assert!(line > 1);
    }
}
