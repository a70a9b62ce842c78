//! A response body that writes stream frames one at a time, with a delay between them, and records when
//! each frame was handed to the connection.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::lock;

/// How long a cut stream waits before it breaks, so what came before is on the wire.
const CUT_PAUSE: Duration = Duration::from_millis(50);

/// Frames of one stream (SSE or newline-delimited JSON), written in order.
pub(crate) struct EventBody {
    frames: VecDeque<Bytes>,
    delay: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    written: usize,
    /// After this many frames the body fails, which makes hyper abort the connection mid-stream.
    cut_after: Option<usize>,
    /// A pause after the last frame before the body ends (zero: it ends with the last frame).
    end_delay: Duration,
    times: Arc<Mutex<Vec<Instant>>>,
}

impl EventBody {
    /// A body of `frames`, with `delay` before every frame but the first. Clears `times` (the "last stream").
    pub(crate) fn new(
        frames: Vec<Bytes>,
        delay: Duration,
        cut_after: Option<usize>,
        times: Arc<Mutex<Vec<Instant>>>,
    ) -> EventBody {
        lock(&times).clear();
        EventBody {
            frames: frames.into(),
            delay,
            sleep: None,
            written: 0,
            cut_after,
            end_delay: Duration::ZERO,
            times,
        }
    }

    /// Holds the end of the body for `delay` after the last frame, as a server does that writes the terminal
    /// event and finishes the response a moment later: a client that stops reading at the terminal event
    /// closes the connection before the body has ended.
    pub(crate) fn end_after(mut self, delay: Duration) -> EventBody {
        self.end_delay = delay;
        self
    }
}

impl Body for EventBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.cut_after.is_some_and(|n| this.written >= n) {
            // Pause first so the status line and the frames so far reach the client before the cut.
            let pause = this.delay.max(CUT_PAUSE);
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "simulated stream cut",
            ))));
        }
        if this.frames.is_empty() {
            if !this.end_delay.is_zero() {
                let delay = this.end_delay;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
                this.end_delay = Duration::ZERO;
            }
            return Poll::Ready(None);
        }
        if this.written > 0 && !this.delay.is_zero() {
            let delay = this.delay;
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        let Some(frame) = this.frames.pop_front() else {
            return Poll::Ready(None);
        };
        lock(&this.times).push(Instant::now());
        this.written += 1;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && self.cut_after.is_none() && self.end_delay.is_zero()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// One SSE frame: `event: <type>\ndata: <json>\n\n`.
pub(crate) fn sse(event: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// The SSE terminator frame `data: [DONE]\n\n`.
pub(crate) fn sse_done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// One newline-delimited JSON frame.
pub(crate) fn ndjson(data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("{data}\n"))
}
