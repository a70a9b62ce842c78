//! Gather stage. The response body the client gets: the upstream body frame by frame, unbuffered, with a capped copy kept
//! for the record and a scanner watching streams for errors. The record is finished when the body ends,
//! breaks off, or is dropped (the client went away).

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::header::HeaderMap;

use super::record::Finished;
use super::upload::Upload;
use super::{error_chain, headers_vec, RequestMeta, Shared};
use crate::exchange::{Body, Failure, FailureClass, RecordedResponse};
use crate::sse::StreamScanner;

/// An exchange whose response is under way.
pub(crate) struct InFlight {
    pub shared: Arc<Shared>,
    pub seq: u64,
    /// When the request arrived (the wall-clock start is worked out from it when a record is built).
    pub t0: Instant,
    pub time_to_headers: Option<Duration>,
    pub method: hyper::Method,
    /// The client's request URI (the path and query are what the record's upstream URL ends with).
    pub uri: hyper::Uri,
    pub req_headers: HeaderMap,
    /// The start of the request body (all of it when it fit under the cap), for the record.
    pub req_head: Bytes,
    /// How much of the request body the client sent, and how it ended.
    pub upload: Arc<Upload>,
    pub meta: RequestMeta,
    pub group: Option<u32>,
    pub status: Option<u16>,
    pub resp_headers: HeaderMap,
    pub is_stream: bool,
}

/// How a response body ended.
enum End {
    Complete,
    UpstreamBroke(String),
    ClientGone,
}

struct Tracking {
    inflight: InFlight,
    /// The kept copy (up to the cap plus a few bytes so a cut never splits a UTF-8 character), if kept.
    copy: Option<Vec<u8>>,
    size: u64,
    /// The last byte that was not white space (a JSON body that ends in neither `}` nor `]` was cut).
    last: u8,
    scanner: Option<StreamScanner>,
}

/// The body handed to the client.
pub(crate) struct RecordingBody {
    inner: Incoming,
    tracking: Option<Box<Tracking>>,
}

impl RecordingBody {
    pub(crate) fn new(inner: Incoming, inflight: InFlight, keep: bool) -> RecordingBody {
        let scanner = inflight.is_stream.then(StreamScanner::default);
        RecordingBody {
            inner,
            tracking: Some(Box::new(Tracking {
                inflight,
                copy: keep.then(Vec::new),
                size: 0,
                last: 0,
                scanner,
            })),
        }
    }

    fn end(&mut self, how: End) {
        if let Some(t) = self.tracking.take() {
            t.finish(how);
        }
    }
}

impl HttpBody for RecordingBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(t), Some(data)) = (this.tracking.as_deref_mut(), frame.data_ref()) {
                    t.size += data.len() as u64;
                    if let Some(b) = data.iter().rev().find(|b| !b.is_ascii_whitespace()) {
                        t.last = *b;
                    }
                    let cap = t.inflight.shared.body_cap;
                    if let Some(copy) = &mut t.copy {
                        let room = cap.saturating_add(4).saturating_sub(copy.len());
                        copy.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    if let Some(s) = &mut t.scanner {
                        s.feed(data);
                    }
                }
                if this.inner.is_end_stream() {
                    this.end(End::Complete);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let msg = error_chain(e);
                this.end(End::UpstreamBroke(msg));
            }
            Poll::Ready(None) => this.end(End::Complete),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RecordingBody {
    fn drop(&mut self) {
        if self.tracking.is_some() {
            let how = if self.inner.is_end_stream() {
                End::Complete
            } else {
                End::ClientGone
            };
            self.end(how);
        }
    }
}

/// ", N events" for a stream.
fn events_note(is_stream: bool, events: u64) -> String {
    if is_stream {
        format!(" ({events} event{})", if events == 1 { "" } else { "s" })
    } else {
        String::new()
    }
}

impl Tracking {
    fn finish(mut self, how: End) {
        let f = &self.inflight;
        let status = f.status.unwrap_or(0);
        if let Some(s) = &mut self.scanner {
            if matches!(how, End::Complete) {
                s.finish();
            }
        }
        let stopping = f.shared.stopping.load(Ordering::SeqCst);
        // A stream whose terminal event arrived is complete however it then ended (the SDKs close the
        // connection right after `message-end`); one that ended before it failed.
        let terminal = self.scanner.as_ref().is_some_and(|s| s.terminal());
        let carried = self.scanner.as_mut().and_then(|s| s.take_failure());
        let events = self.scanner.as_ref().map_or(0, |s| s.events());
        let failure = match how {
            _ if carried.is_some() && status < 400 => {
                carried.map(|m| Failure::new(FailureClass::Stream, m))
            }
            End::UpstreamBroke(_) | End::ClientGone if terminal && status < 400 => None,
            End::UpstreamBroke(reason) => Some(Failure::new(
                if f.is_stream { FailureClass::Stream } else { FailureClass::Network },
                format!(
                    "upstream connection broke after {} bytes of the HTTP {status} response body{}: {reason}",
                    self.size,
                    events_note(f.is_stream, events)
                ),
            )),
            End::ClientGone => Some(Failure::client_side(
                FailureClass::Stream,
                format!(
                    "{} after {} bytes of the HTTP {status} response body{}",
                    if stopping { "observe stopped" } else { "the client disconnected" },
                    self.size,
                    events_note(f.is_stream, events)
                ),
            )),
            End::Complete if status >= 400 => {
                Some(Failure::new(FailureClass::Http, self.http_message(status)))
            }
            End::Complete if f.is_stream && !terminal => self
                .scanner
                .as_ref()
                .and_then(StreamScanner::verdict)
                .map(|m| Failure::new(FailureClass::Stream, m)),
            End::Complete => self.cut_json(status),
        };
        let keep = failure.is_some() || f.shared.record_all || f.group.is_some();
        let record = if keep {
            let body = self.response_body();
            let response = RecordedResponse {
                status,
                headers: headers_vec(&f.resp_headers),
                body,
            };
            Some(f.exchange(Some(response), failure.clone()))
        } else {
            None
        };
        let size = self.size;
        let f = self.inflight;
        f.shared.finish(Finished {
            seq: f.seq,
            endpoint: f.meta.endpoint.name(),
            shape: f.meta.shape,
            status: f.status,
            failure_class: failure.map(|x| x.class),
            request_bytes: f.upload.received(),
            response_bytes: size,
            trial_headers: f.resp_headers.contains_key("x-trial-endpoint-call-limit"),
            record,
        });
    }

    /// A 2xx JSON body that does not parse, when the whole of it was kept.
    fn cut_json(&self, status: u16) -> Option<Failure> {
        let Some(copy) = self
            .copy
            .as_ref()
            .filter(|_| self.size <= self.inflight.shared.body_cap as u64)
        else {
            // Not kept: judge by the last byte alone.
            let json = self
                .inflight
                .resp_headers
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.contains("json"));
            let cut = json
                && (200..300).contains(&status)
                && self.size > 0
                && !matches!(self.last, b'}' | b']');
            return cut.then(|| crate::sse::cut_json(status, self.size));
        };
        let headers = headers_vec(&self.inflight.resp_headers);
        let mut body = Body::from_bytes(copy, None);
        body.size = self.size;
        crate::sse::check_complete(status, &headers, &serde_json::Value::Null, &body)
    }

    fn response_body(&self) -> Body {
        match &self.copy {
            Some(copy) => Body::from_prefix(copy, self.inflight.shared.body_cap, self.size),
            None => Body {
                size: self.size,
                truncated: self.size > 0,
                ..Body::default()
            },
        }
    }

    /// The API's `message` verbatim (`error.message` in the compatibility API's OpenAI-shaped errors), else the
    /// body text.
    fn http_message(&self, status: u16) -> String {
        let body = self.response_body();
        if let Some(m) = body.json().as_ref().and_then(|v| {
            v.get("message")
                .or_else(|| v.pointer("/error/message"))
                .and_then(|m| m.as_str())
        }) {
            return m.to_string();
        }
        let text = body.text.trim();
        if text.is_empty() {
            format!("HTTP {status} with an empty body")
        } else {
            text.to_string()
        }
    }
}
