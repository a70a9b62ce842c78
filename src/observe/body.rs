//! The response body the client gets: the upstream body frame by frame, unbuffered, with a capped copy kept
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

use super::record::{Finished, StreamScanner};
use super::{error_chain, headers_vec, RequestMeta, Shared};
use crate::exchange::{Body, Failure, FailureClass, RecordedResponse};

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
    pub req_body: Bytes,
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
    scanner: Option<StreamScanner>,
}

/// The body handed to the client.
pub(crate) struct RecordingBody {
    inner: Incoming,
    tracking: Option<Box<Tracking>>,
}

impl RecordingBody {
    pub fn new(inner: Incoming, inflight: InFlight, keep: bool) -> RecordingBody {
        let scanner = inflight.is_stream.then(StreamScanner::default);
        RecordingBody {
            inner,
            tracking: Some(Box::new(Tracking {
                inflight,
                copy: keep.then(Vec::new),
                size: 0,
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
                    let cap = t.inflight.shared.body_cap;
                    if let Some(copy) = &mut t.copy {
                        let room = (cap + 4).saturating_sub(copy.len());
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

impl Tracking {
    fn finish(mut self, how: End) {
        let f = &self.inflight;
        let status = f.status.unwrap_or(0);
        if let Some(s) = &mut self.scanner {
            if matches!(how, End::Complete) {
                s.finish();
            }
        }
        let failure = match how {
            End::UpstreamBroke(reason) => Some(Failure {
                class: if f.is_stream { FailureClass::Stream } else { FailureClass::Network },
                message: format!(
                    "upstream connection broke after {} bytes of the HTTP {status} response body: {reason}",
                    self.size
                ),
            }),
            End::ClientGone => Some(Failure {
                class: FailureClass::Stream,
                message: if f.shared.stopping.load(Ordering::SeqCst) {
                    format!("observe stopped after {} bytes of the HTTP {status} response body", self.size)
                } else {
                    format!("client disconnected after {} bytes of the HTTP {status} response body", self.size)
                },
            }),
            End::Complete if status >= 400 => {
                Some(Failure { class: FailureClass::Http, message: self.http_message(status) })
            }
            End::Complete => self
                .scanner
                .as_mut()
                .and_then(|s| s.failure.take())
                .map(|message| Failure { class: FailureClass::Stream, message }),
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
            request_bytes: f.req_body.len() as u64,
            response_bytes: size,
            trial_headers: f.resp_headers.contains_key("x-trial-endpoint-call-limit"),
            record,
        });
    }

    fn response_body(&self) -> Body {
        match &self.copy {
            Some(copy) => {
                let mut b = Body::from_bytes(copy, Some(self.inflight.shared.body_cap));
                b.truncated = self.size > self.inflight.shared.body_cap as u64;
                b.size = self.size;
                b
            }
            None => Body {
                size: self.size,
                truncated: self.size > 0,
                ..Body::default()
            },
        }
    }

    /// The API's `message` verbatim, else the body text.
    fn http_message(&self, status: u16) -> String {
        let body = self.response_body();
        if let Some(m) = body
            .json()
            .as_ref()
            .and_then(|v| v.get("message"))
            .and_then(|m| m.as_str())
        {
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
