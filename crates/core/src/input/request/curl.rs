//! Input stage. Parsing a curl command line (as copied from a terminal, a browser's "Copy as cURL", or docs).

use base64::Engine;

use crate::error::{Error, Result};
use crate::exchange::Header;

/// What a curl command line says about the request.
#[derive(Debug, Default)]
pub(crate) struct CurlCommand {
    /// `-X`, or `None` when not given.
    pub method: Option<String>,
    /// The URL (scheme added when missing, as curl does).
    pub url: Option<String>,
    /// Headers in order (`-H`, `-u`, `-A`, `-b`, `--json`).
    pub headers: Vec<Header>,
    /// The body, when any data option was given (several are joined with `&`, as curl does).
    pub data: Option<String>,
    /// `-G`/`--get`: data goes to the query string.
    pub get: bool,
    /// `-I`/`--head`.
    pub head: bool,
    /// `-F`/`--form` and `--form-string` parts in order, as written (`name=value`, `name=@file;type=…`); a
    /// `--form-string` part is marked literal.
    pub form: Vec<FormSpec>,
}

/// One `-F`/`--form` (or `--form-string`) argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FormSpec {
    /// `name=content` as given.
    pub spec: String,
    /// `--form-string`: the content is taken as is (no `@file` or `<file`).
    pub literal: bool,
}

/// True when `text` (after an optional `$ ` prompt) starts with the word `curl`.
pub(crate) fn looks_like_curl(text: &str) -> bool {
    let t = strip_prompt(text.trim_start());
    let word: String = t
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '^' && *c != '\\')
        .collect();
    let word = word.to_ascii_lowercase();
    word == "curl" || word == "curl.exe" || word.ends_with("/curl")
}

fn strip_prompt(t: &str) -> &str {
    t.strip_prefix("$ ")
        .or_else(|| t.strip_prefix("> "))
        .unwrap_or(t)
}

/// Options that take a value and that the tool does not need.
const SKIP_WITH_VALUE: &[&str] = &[
    "--max-time",
    "--connect-timeout",
    "--output",
    "--retry",
    "--retry-delay",
    "--retry-max-time",
    "--proxy",
    "--proxy-user",
    "--write-out",
    "--cacert",
    "--capath",
    "--cert",
    "--cert-type",
    "--key",
    "--key-type",
    "--pass",
    "--resolve",
    "--connect-to",
    "--cookie-jar",
    "--dump-header",
    "--trace",
    "--trace-ascii",
    "--stderr",
    "--limit-rate",
    "--range",
    "--interface",
    "--dns-servers",
    "--keepalive-time",
    "--expect100-timeout",
    "--max-redirs",
    "--max-filesize",
    "--config",
    "--speed-limit",
    "--speed-time",
    "--ciphers",
    "--noproxy",
    "--unix-socket",
    "--abstract-unix-socket",
    "--happy-eyeballs-timeout-ms",
    "--local-port",
    "--output-dir",
    "--upload-file",
    "--time-cond",
    "--proto",
    "--proto-redir",
    "--request-target",
    "--aws-sigv4",
    "--oauth2-bearer",
];

/// Short options that take a value (the value may be attached: `-XPOST`).
const SHORT_WITH_VALUE: &[char] = &[
    'X', 'H', 'd', 'u', 'o', 'm', 'A', 'e', 'b', 'x', 'w', 'E', 'c', 'D', 'K', 'r', 'T', 'F', 'U',
    'Y', 'y', 'z', 'C', 'Q', 't', 'P',
];

/// Parses a curl command line. `name` names the source in errors.
pub(crate) fn parse(name: &str, text: &str) -> Result<CurlCommand> {
    let joined = join_continuations(text);
    let prepared = expand_ansi_c_quotes(&joined);
    let words = shell_words::split(&prepared)
        .map_err(|_| Error::input(name, "curl command has an unterminated quote"))?;
    let mut words = arguments(words);
    reject_powershell(name, &words)?;
    words.reverse(); // pop from the end
    let mut p = Parser {
        name,
        words,
        cmd: CurlCommand::default(),
        data_parts: Vec::new(),
        positional: Vec::new(),
    };
    while let Some(arg) = p.words.pop() {
        if arg == "--" {
            while let Some(w) = p.words.pop() {
                p.positional.push(w);
            }
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            p.long_option(&arg, long)?;
        } else if arg.len() > 1 && arg.starts_with('-') {
            p.short_options(&arg)?;
        } else {
            p.positional.push(arg);
        }
    }
    Ok(p.finish())
}

/// The words after a prompt (`$`, `>`) and the program name.
fn arguments(words: Vec<String>) -> Vec<String> {
    let mut words = words.into_iter().peekable();
    while let Some(w) = words.peek() {
        if w == "$" || w == ">" {
            words.next();
        } else {
            break;
        }
    }
    words.next(); // `curl`
    words.collect()
}

/// Refuses PowerShell's `curl` alias (Invoke-WebRequest), recognised by its parameters.
fn reject_powershell(name: &str, words: &[String]) -> Result<()> {
    const POWERSHELL: &[&str] = &[
        "-uri",
        "-method",
        "-body",
        "-headers",
        "-contenttype",
        "-infile",
        "-usebasicparsing",
    ];
    if words
        .iter()
        .any(|w| POWERSHELL.contains(&w.to_ascii_lowercase().as_str()))
    {
        return Err(Error::input(
            name,
            "this is PowerShell's curl alias (Invoke-WebRequest), not curl; save the body as a JSON file and pass it with --endpoint",
        ));
    }
    Ok(())
}

/// A curl command line being read, option by option.
struct Parser<'a> {
    /// Names the source in errors.
    name: &'a str,
    /// The words not read yet, the next one last.
    words: Vec<String>,
    cmd: CurlCommand,
    /// The data options' values, joined with `&` at the end.
    data_parts: Vec<String>,
    /// Words that are not options (the URL among them).
    positional: Vec<String>,
}

impl Parser<'_> {
    /// The error for option `opt` given without its value.
    fn missing(&self, opt: &str) -> Error {
        Error::input(self.name, format!("curl option {opt} needs a value"))
    }

    /// A long option `arg` (`long` without its dashes), with its value attached (`--opt=value`) or in the next
    /// word when it takes one.
    fn long_option(&mut self, arg: &str, long: &str) -> Result<()> {
        let (opt, attached) = match long.split_once('=') {
            Some((o, v)) if takes_value_long(&format!("--{o}")) => {
                (format!("--{o}"), Some(v.to_string()))
            }
            _ => (arg.to_string(), None),
        };
        if !takes_value_long(&opt) {
            // Flags without a value (-s, --compressed, --location, ...) and unknown options.
            match opt.as_str() {
                "--get" => self.cmd.get = true,
                "--head" => self.cmd.head = true,
                _ => {}
            }
            return Ok(());
        }
        let value = match attached {
            Some(v) => v,
            None => self.words.pop().ok_or_else(|| self.missing(&opt))?,
        };
        self.option_value(&opt, value)
    }

    /// What a long option that takes a value does with `v`.
    fn option_value(&mut self, opt: &str, v: String) -> Result<()> {
        let (name, cmd) = (self.name, &mut self.cmd);
        match opt {
            "--request" => cmd.method = Some(v),
            "--header" => push_header(&mut cmd.headers, &v),
            "--url" => self.positional.insert(0, v),
            "--user" => push_basic(&mut cmd.headers, &v),
            "--user-agent" => cmd.headers.push(Header::new("User-Agent", v)),
            "--referer" => cmd.headers.push(Header::new("Referer", v)),
            "--cookie" => cmd.headers.push(Header::new("Cookie", v)),
            "--data" | "--data-ascii" | "--data-binary" => {
                self.data_parts.push(read_data(name, &v, true)?)
            }
            "--data-raw" => self.data_parts.push(v),
            "--data-urlencode" => self.data_parts.push(read_data(name, &v, false)?),
            "--json" => {
                self.data_parts.push(read_data(name, &v, true)?);
                if crate::exchange::header(&cmd.headers, "content-type").is_none() {
                    cmd.headers
                        .push(Header::new("Content-Type", "application/json"));
                }
                if crate::exchange::header(&cmd.headers, "accept").is_none() {
                    cmd.headers.push(Header::new("Accept", "application/json"));
                }
            }
            "--form" | "--form-string" => cmd.form.push(FormSpec {
                spec: v,
                literal: opt == "--form-string",
            }),
            // SKIP_WITH_VALUE: the value is read and dropped.
            _ => {}
        }
        Ok(())
    }

    /// A cluster of short options: `-sS`, `-XPOST`, `-sH 'a: b'`. An option that takes a value ends the
    /// cluster: the rest of it is the value, or the next word when nothing is left.
    fn short_options(&mut self, arg: &str) -> Result<()> {
        let chars: Vec<char> = arg.chars().skip(1).collect();
        for (i, &c) in chars.iter().enumerate() {
            if SHORT_WITH_VALUE.contains(&c) {
                let rest: String = chars[i + 1..].iter().collect();
                let v = if rest.is_empty() {
                    self.words
                        .pop()
                        .ok_or_else(|| self.missing(&format!("-{c}")))?
                } else {
                    rest
                };
                return match long_form(c) {
                    Some(long) => self.option_value(long, v),
                    None => Ok(()),
                };
            }
            match c {
                'G' => self.cmd.get = true,
                'I' => self.cmd.head = true,
                _ => {}
            }
        }
        Ok(())
    }

    /// The command: the data joined with `&`, and the URL (the first positional word with a scheme, else
    /// the first one, given `http://` when it has no scheme, as curl does).
    fn finish(mut self) -> CurlCommand {
        if !self.data_parts.is_empty() {
            self.cmd.data = Some(self.data_parts.join("&"));
        }
        let url = self
            .positional
            .iter()
            .find(|p| p.contains("://"))
            .or_else(|| self.positional.first())
            .cloned();
        self.cmd.url = url.map(|u| {
            if u.contains("://") {
                u
            } else {
                format!("http://{u}")
            }
        });
        self.cmd
    }
}

/// The long option a short one that takes a value stands for, among those the tool reads.
fn long_form(c: char) -> Option<&'static str> {
    Some(match c {
        'X' => "--request",
        'H' => "--header",
        'd' => "--data",
        'u' => "--user",
        'A' => "--user-agent",
        'e' => "--referer",
        'b' => "--cookie",
        'F' => "--form",
        _ => return None,
    })
}

fn takes_value_long(opt: &str) -> bool {
    matches!(
        opt,
        "--request"
            | "--header"
            | "--url"
            | "--user"
            | "--user-agent"
            | "--referer"
            | "--cookie"
            | "--data"
            | "--data-ascii"
            | "--data-binary"
            | "--data-raw"
            | "--data-urlencode"
            | "--json"
            | "--form"
            | "--form-string"
    ) || SKIP_WITH_VALUE.contains(&opt)
}

fn push_header(headers: &mut Vec<Header>, h: &str) {
    if h.starts_with('@') {
        return; // headers from a file: not followed
    }
    match h.split_once(':') {
        Some((n, v)) => {
            let (n, v) = (n.trim(), v.trim());
            if !n.is_empty() && !v.is_empty() {
                headers.push(Header::new(n, v));
            }
            // `Name:` with nothing after removes a header in curl: nothing to record.
        }
        None => {
            // `Name;` sends an empty header.
            if let Some(n) = h.trim().strip_suffix(';') {
                if !n.is_empty() {
                    headers.push(Header::new(n.trim(), ""));
                }
            }
        }
    }
}

fn push_basic(headers: &mut Vec<Header>, user: &str) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(user.as_bytes());
    headers.push(Header::new("Authorization", format!("Basic {encoded}")));
}

/// The size limit for `@file` data.
const DATA_FILE_CAP: u64 = super::MAX_REQUEST_BYTES;

/// Resolves `@file` (relative to the current directory); `strip_newlines` as curl does for `-d @file`.
fn read_data(name: &str, v: &str, strip_newlines: bool) -> Result<String> {
    let Some(path) = v.strip_prefix('@') else {
        return Ok(v.to_string());
    };
    if path == "-" {
        return Err(Error::input(
            name,
            "curl reads the body from stdin (@-); save it to a file and use -d @file",
        ));
    }
    let p = std::path::Path::new(path);
    let meta = std::fs::metadata(p).map_err(|e| {
        Error::input(
            name,
            format!("curl data file {path}: {}", super::io_reason(&e)),
        )
    })?;
    if meta.is_dir() {
        return Err(Error::input(
            name,
            format!("curl data file {path}: is a directory"),
        ));
    }
    if meta.len() > DATA_FILE_CAP {
        return Err(Error::input(
            name,
            format!("curl data file {path}: too large ({} bytes)", meta.len()),
        ));
    }
    let bytes = std::fs::read(p).map_err(|e| {
        Error::input(
            name,
            format!("curl data file {path}: {}", super::io_reason(&e)),
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::input(
            name,
            format!("curl data file {path}: binary file (not UTF-8)"),
        )
    })?;
    Ok(if strip_newlines {
        text.replace(['\r', '\n'], "")
    } else {
        text
    })
}

/// Normalises line ends and joins continuation lines: `\` (POSIX shells), `^` (Windows cmd, whose `^x` escapes
/// are also undone) and `` ` `` (PowerShell).
fn join_continuations(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text = strip_prompt(text.trim_start()).to_string();
    // cmd.exe style: a line continued with `^`, or a first argument quoted as `^"`. A bash line continued with
    // `\\` is never cmd style, whatever its data holds.
    let posix_continued = text.lines().any(|l| l.trim_end().ends_with('\\'));
    let cmd_style = !posix_continued
        && (text
            .lines()
            .any(|l| l.trim_end().ends_with(" ^") || l.trim_end() == "^")
            || text
                .split_whitespace()
                .nth(1)
                .is_some_and(|w| w.starts_with("^\"")));
    if cmd_style {
        // cmd.exe: `^` escapes the next character, `^` + newline continues the line.
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '^' {
                match chars.next() {
                    Some('\n') => out.push(' '),
                    Some(n) => out.push(n),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split('\n') {
        let t = line.trim_end();
        if let Some(s) = t.strip_suffix('`') {
            out.push_str(s);
            out.push(' ');
        } else if let Some(s) = t.strip_suffix('\\') {
            // An odd number of trailing backslashes is a continuation.
            let n = t.chars().rev().take_while(|c| *c == '\\').count();
            if n % 2 == 1 {
                out.push_str(s);
                out.push(' ');
            } else {
                out.push_str(line);
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Rewrites bash `$'...'` strings (ANSI-C quoting) into plain single-quoted words `shell-words` understands.
fn expand_ansi_c_quotes(text: &str) -> String {
    #[derive(PartialEq)]
    enum Q {
        None,
        Single,
        Double,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut q = Q::None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match q {
            Q::Single => {
                out.push(c);
                if c == '\'' {
                    q = Q::None;
                }
                i += 1;
            }
            Q::Double => {
                out.push(c);
                if c == '\\' && i + 1 < chars.len() {
                    out.push(chars[i + 1]);
                    i += 2;
                    continue;
                }
                if c == '"' {
                    q = Q::None;
                }
                i += 1;
            }
            Q::None => {
                if c == '\\' && i + 1 < chars.len() {
                    out.push(c);
                    out.push(chars[i + 1]);
                    i += 2;
                    continue;
                }
                if c == '$' && chars.get(i + 1) == Some(&'\'') {
                    let (s, next) = decode_ansi_c(&chars, i + 2);
                    out.push_str(&shell_words::quote(&s));
                    i = next;
                    continue;
                }
                if c == '\'' {
                    q = Q::Single;
                } else if c == '"' {
                    q = Q::Double;
                }
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Decodes the inside of `$'...'` from `start`; returns the text and the index after the closing quote.
fn decode_ansi_c(chars: &[char], start: usize) -> (String, usize) {
    let mut s = String::new();
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            return (s, i + 1);
        }
        if c != '\\' {
            s.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = chars.get(i + 1) else {
            s.push('\\');
            i += 1;
            continue;
        };
        i += 2;
        i += push_ansi_c_escape(&mut s, e, chars, i);
    }
    // Unterminated: keep what there is (shell-words will not see a quote problem).
    (s, chars.len())
}

/// Pushes what the escape `\e` stands for onto `s` (an escape it does not know stays as written); the escape's
/// digits, if it takes any, start at `chars[i]`. Returns how many digits it took.
fn push_ansi_c_escape(s: &mut String, e: char, chars: &[char], i: usize) -> usize {
    match e {
        'n' => s.push('\n'),
        't' => s.push('\t'),
        'r' => s.push('\r'),
        'a' => s.push('\u{7}'),
        'b' => s.push('\u{8}'),
        'e' | 'E' => s.push('\u{1b}'),
        'f' => s.push('\u{c}'),
        'v' => s.push('\u{b}'),
        '\\' => s.push('\\'),
        '\'' => s.push('\''),
        '"' => s.push('"'),
        '?' => s.push('?'),
        'x' | 'u' | 'U' => {
            let max = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let (v, n) = hex_value(chars, i, max);
            if n == 0 {
                s.push('\\');
                s.push(e);
            } else {
                s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            return n;
        }
        '0'..='7' => {
            let (v, n) = octal_value(e, chars, i);
            s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            return n;
        }
        other => {
            s.push('\\');
            s.push(other);
        }
    }
    0
}

/// The value of up to `max` hex digits at `chars[i]`, and how many there were.
fn hex_value(chars: &[char], i: usize, max: usize) -> (u32, usize) {
    let mut v = 0u32;
    let mut n = 0;
    while n < max {
        match chars.get(i + n).and_then(|c| c.to_digit(16)) {
            Some(d) => {
                v = v * 16 + d;
                n += 1;
            }
            None => break,
        }
    }
    (v, n)
}

/// The value of an octal escape whose first digit is `first`, with up to two more digits at `chars[i]`, and
/// how many more there were.
fn octal_value(first: char, chars: &[char], i: usize) -> (u32, usize) {
    let mut v = first.to_digit(8).unwrap_or(0);
    let mut n = 0;
    while n < 2 {
        match chars.get(i + n).and_then(|c| c.to_digit(8)) {
            Some(d) => {
                v = v * 8 + d;
                n += 1;
            }
            None => break,
        }
    }
    (v, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_posix_continuations_and_reads_options() {
        let cmd = parse(
            "t",
            "curl -sS -X POST https://api.cohere.com/v2/chat \\\n  -H 'Authorization: Bearer abc' \\\r\n  -d '{\"a\":1}'",
        )
        .unwrap();
        assert_eq!(cmd.method.as_deref(), Some("POST"));
        assert_eq!(cmd.url.as_deref(), Some("https://api.cohere.com/v2/chat"));
        assert_eq!(
            cmd.headers,
            vec![Header::new("Authorization", "Bearer abc")]
        );
        assert_eq!(cmd.data.as_deref(), Some("{\"a\":1}"));
    }

    #[test]
    fn ansi_c_quotes_decode_escapes() {
        let cmd = parse(
            "t",
            "curl https://x/v2/chat --data $'{\"m\":\"it\\'s\\n\\u00e9\"}'",
        )
        .unwrap();
        assert_eq!(cmd.data.as_deref(), Some("{\"m\":\"it's\n\u{e9}\"}"));
    }

    #[test]
    fn windows_cmd_carets() {
        let cmd = parse(
            "t",
            "curl ^\"https://api.cohere.com/v2/chat^\" ^\r\n  -H ^\"content-type: application/json^\" ^\r\n  --data-raw ^\"^{^\\^\"model^\\^\":1^}^\"",
        )
        .unwrap();
        assert_eq!(cmd.url.as_deref(), Some("https://api.cohere.com/v2/chat"));
        assert_eq!(cmd.data.as_deref(), Some("{\"model\":1}"));
    }

    #[test]
    fn short_option_clusters_and_attached_values() {
        let cmd = parse(
            "t",
            "curl -sXPUT -HX-A:1 -sH 'X-B: 2' --max-time 5 -o out.json api.cohere.com/v1/embed",
        )
        .unwrap();
        assert_eq!(cmd.method.as_deref(), Some("PUT"));
        assert_eq!(cmd.headers.len(), 2);
        assert_eq!(cmd.url.as_deref(), Some("http://api.cohere.com/v1/embed"));
    }

    #[test]
    fn caret_in_posix_data_is_kept() {
        let cmd = parse("t", r#"curl https://x/v2/chat -d '{"re":"^\"a"}'"#).unwrap();
        assert_eq!(cmd.data.as_deref(), Some(r#"{"re":"^\"a"}"#));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for t in [
            "curl",
            "curl -",
            "curl -H",
            "curl $'",
            "curl $'\\x",
            "curl $'\\u{",
            "curl ^",
            "curl \\",
            "curl '",
            "curl -X",
        ] {
            let _ = parse("t", t);
        }
    }
}
