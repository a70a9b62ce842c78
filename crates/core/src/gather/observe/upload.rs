//! Gather stage. The request body on its way upstream: read up to the body cap first (enough for the record and for the
//! request's model, stream flag and shape), then streamed to the upstream frame by frame, so that the proxy
//! holds at most about one cap of any request body however large it is. [`Upload`] counts the bytes as they
//! pass and says how the body ended, for the record.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};

use super::{error_chain, lock};

/// How far a request body got from the client. Shared by the handler, the body streamed upstream and the
/// record.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    /// Body bytes received from the client so far.
    received: AtomicU64,
    /// The whole body was received.
    complete: AtomicBool,
    /// Why the client's body broke off (the client went away mid-upload), if it did.
    broke: Mutex<Option<String>>,
}

impl Upload {
    pub(crate) fn add(&self, n: usize) {
        self.received.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    pub(crate) fn set_complete(&self) {
        self.complete.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Relaxed)
    }

    pub(crate) fn set_broke(&self, reason: String) {
        *lock(&self.broke) = Some(reason);
    }

    pub(crate) fn broke(&self) -> Option<String> {
        lock(&self.broke).clone()
    }
}

/// The request body sent upstream: the part read before the request was sent (`head`), then the rest of the
/// client's body as it arrives. A client body that breaks off breaks this one too, so the upstream never
/// takes a cut body for a whole one.
pub(crate) struct UploadBody {
    head: Option<Bytes>,
    rest: Option<Incoming>,
    upload: Arc<Upload>,
}

impl UploadBody {
    /// A body already received in full.
    pub(crate) fn complete(body: Bytes, upload: Arc<Upload>) -> UploadBody {
        UploadBody {
            head: Some(body).filter(|b| !b.is_empty()),
            rest: None,
            upload,
        }
    }

    /// `head`, then the rest of the client's body.
    pub(crate) fn streaming(head: Bytes, rest: Incoming, upload: Arc<Upload>) -> UploadBody {
        UploadBody {
            head: Some(head).filter(|b| !b.is_empty()),
            rest: Some(rest),
            upload,
        }
    }
}

impl HttpBody for UploadBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        let Some(rest) = this.rest.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *rest).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.upload.add(data.len());
                }
                if rest.is_end_stream() {
                    this.upload.set_complete();
                }
            }
            Poll::Ready(Some(Err(e))) => this.upload.set_broke(error_chain(e)),
            Poll::Ready(None) => this.upload.set_complete(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        match &self.rest {
            None => SizeHint::with_exact(head),
            Some(rest) => {
                let r = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(head + r.lower());
                if let Some(upper) = r.upper() {
                    hint.set_upper(head + upper);
                }
                hint
            }
        }
    }
}

/// What a cheap scan of the start of a JSON object finds among its top-level members.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct PrefixFacts {
    pub model: Option<String>,
    pub stream: Option<bool>,
    pub max_tokens: Option<u64>,
}

/// Reads the top-level `model`, `stream` and `max_tokens` of a JSON object from the first bytes of its text
/// (a body too large to keep whole). Walks the members in order, skipping values (nested ones by depth,
/// strings by their quotes), and stops where the prefix ends; keys inside nested values or inside strings
/// are never taken for top-level ones.
pub(crate) fn scan_prefix(prefix: &[u8]) -> PrefixFacts {
    let mut facts = PrefixFacts::default();
    let b = prefix;
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return facts;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => {
                i += 1;
                continue;
            }
            Some(b'"') => {}
            _ => return facts,
        }
        let Some(key_end) = string_end(b, i) else {
            return facts;
        };
        let key = &b[i + 1..key_end - 1];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return facts;
        }
        i = skip_ws(b, i + 1);
        let Some(value_end) = value_end(b, i) else {
            return facts;
        };
        let value = &b[i..value_end];
        match key {
            b"model" => facts.model = serde_json::from_slice::<String>(value).ok(),
            b"stream" => facts.stream = serde_json::from_slice::<bool>(value).ok(),
            b"max_tokens" => facts.max_tokens = serde_json::from_slice::<u64>(value).ok(),
            // The compatibility API's OpenAI name for it; `max_tokens` wins when both are there.
            b"max_completion_tokens" if facts.max_tokens.is_none() => {
                facts.max_tokens = serde_json::from_slice::<u64>(value).ok()
            }
            _ => {}
        }
        if facts.model.is_some() && facts.stream.is_some() && facts.max_tokens.is_some() {
            return facts;
        }
        i = value_end;
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The index just past the closing quote of the string starting at `b[i] == '"'`, if it ends in `b`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        j += memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[j] == b'\\' {
            j += 2;
        } else {
            return Some(j + 1);
        }
    }
}

/// The index just past the JSON value starting at `b[i]`, if it ends in `b`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            // A number, true, false or null: ends at a delimiter, which must be in the prefix (a number cut
            // at the end of it is not known whole).
            let n = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace())?;
            Some(i + n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_reads_top_level_members_of_a_cut_object() {
        let full = br#"{ "stream" : true, "tools": [{"model": "nested", "x": "a \"model\": \"q\" ]}"}], "model":"command-a-03-2025", "max_tokens": 50, "messages":[{"role":"user","content":"hello hello"#;
        let f = scan_prefix(full);
        assert_eq!(f.model.as_deref(), Some("command-a-03-2025"));
        assert_eq!(f.stream, Some(true));
        assert_eq!(f.max_tokens, Some(50));
        // Cut inside the model string, and inside a number: not known.
        let f = scan_prefix(br#"{"stream":false,"model":"command-a"#);
        assert_eq!((f.model, f.stream), (None, Some(false)));
        let f = scan_prefix(br#"{"max_tokens":12"#);
        assert_eq!(f.max_tokens, None);
        // Members after a value that is cut are not reached; keys inside it are not top-level.
        let f = scan_prefix(br#"{"messages":[{"model":"inner","stream":true"#);
        assert_eq!(f, PrefixFacts::default());
        assert_eq!(scan_prefix(b"not json"), PrefixFacts::default());
        assert_eq!(scan_prefix(b""), PrefixFacts::default());
        let f = scan_prefix(br#"{"model":"m\u00e9","stream":null}"#);
        assert_eq!((f.model.as_deref(), f.stream), (Some("mé"), None));
    }
}
