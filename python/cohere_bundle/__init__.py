"""Turn failing Cohere API requests into verified support bundles, from Python.

The package calls the Rust library of ``cohere-bundle`` directly (``cohere_bundle._native``); nothing is
run as a subprocess, nothing is logged, and no network call is made on the application's behalf except the
ones a bundle needs (a :func:`replay` replays the request, on purpose).

Three ways in:

* :func:`event_hooks` — httpx event hooks for ``cohere.ClientV2(httpx_client=httpx.Client(event_hooks=...))``
  (or ``httpx.AsyncClient``). They note each exchange cheaply; on a failing one (status >= 400, a stream that
  ends without its terminal event) they hand it to a storm-safe recorder that writes the first failure of each
  signature at once, in the background, counts its repeats into it, and lists every bundle in the spool's
  ``index.jsonl``. Transport errors (refused,
  timeouts) never reach httpx event hooks: add ``transport=hooks.transport()`` to the client for those.
* :func:`capture` — in an ``except cohere.core.ApiError`` block: writes a bundle for that failure now and
  returns its path.
* :func:`replay`, :func:`scrub`, :func:`verify` — the library's functions, typed.

``python -m cohere_bundle ...`` runs the same command line as the ``cohere-bundle`` binary.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, Dict, Iterable, Iterator, AsyncIterator, List, Mapping, Optional, Tuple, Union

import httpx

from . import _native
from ._native import (
    DEMO_KEY,
    BundleError,
    InputError,
    LeakError,
    Recorder,
    UnreachableError,
    VerifyError,
)

__all__ = [
    "AsyncTransport",
    "BundleError",
    "DEFAULT_MAX_SIZE",
    "DEMO_KEY",
    "EventHooks",
    "Exchange",
    "InputError",
    "LeakError",
    "Outcome",
    "Recorder",
    "Transport",
    "UnreachableError",
    "VerifyError",
    "VerifyResult",
    "capture",
    "event_hooks",
    "index",
    "last_exchange",
    "replay",
    "scrub",
    "spool",
    "verify",
]

__version__: str = _native.VERSION

#: The default size budget of a bundle (10 MiB): logs are cut first, then large bodies.
DEFAULT_MAX_SIZE: int = _native.DEFAULT_MAX_SIZE

PathLike = Union[str, "os.PathLike[str]"]

_STREAM_TYPES = ("event-stream", "ndjson", "stream+json")
# How much of a streamed body is kept for a bundle (the rest is counted, not kept), and of its tail.
_STREAM_KEEP = 2 * 1024 * 1024
_TAIL = 4096
# How long the interpreter's exit waits for pending bundles.
_EXIT_FLUSH_S = 10.0
_T0 = "_cohere_bundle_t0"
_SEEN = "_cohere_bundle_seen"


# --------------------------------------------------------------------------------------------- records


class Exchange:
    """One HTTP exchange as the hooks noted it: the request, and what went wrong when it failed.

    ``request`` is the ``httpx.Request``; ``status``, ``response_headers``, ``response_body`` are what was
    received (``None`` when nothing was); ``error_class`` is ``None`` (an HTTP status >= 400 speaks for itself),
    ``"network"``, ``"timeout"`` or ``"stream"``; ``error_message`` says what happened.
    """

    __slots__ = (
        "request",
        "status",
        "response_headers",
        "response_body",
        "error_class",
        "error_message",
        "elapsed",
        "failed",
    )

    def __init__(
        self,
        request: httpx.Request,
        status: Optional[int] = None,
        response_headers: Optional[List[Tuple[str, str]]] = None,
        response_body: Optional[bytes] = None,
        error_class: Optional[str] = None,
        error_message: Optional[str] = None,
        elapsed: Optional[float] = None,
        failed: bool = False,
    ) -> None:
        self.request = request
        self.status = status
        self.response_headers = response_headers or []
        self.response_body = response_body
        self.error_class = error_class
        self.error_message = error_message
        self.elapsed = elapsed
        self.failed = failed

    def __repr__(self) -> str:  # never the headers or bodies: they hold the key and the prompt
        r = self.request
        return (
            f"<Exchange {r.method} {r.url.copy_with(query=None)} status={self.status} "
            f"error_class={self.error_class} failed={self.failed}>"
        )


# The last exchange of this thread or asyncio task (contextvars are per thread and per task), and of the
# process as a fallback for capture() called elsewhere.
_last: "contextvars.ContextVar[Any]" = contextvars.ContextVar("cohere_bundle_last", default=None)
_last_any: Any = None


def _note(x: Any) -> None:
    global _last_any
    _last.set(x)
    _last_any = x


def last_exchange() -> Optional[Exchange]:
    """The last exchange the hooks saw on this thread or asyncio task (else in the process), or ``None``.

    A failed one carries its status, response and error; one still in flight only its request.
    """
    x = _last.get()
    if x is None:
        x = _last_any
    if x is None:
        return None
    if isinstance(x, Exchange):
        return x
    return Exchange(x)


def _request_parts(request: httpx.Request) -> Tuple[str, str, List[Tuple[str, str]], bytes]:
    try:
        body = request.content
    except Exception:  # a streamed upload that was never read into memory
        body = b""
    return request.method, str(request.url), request.headers.multi_items(), body


def _elapsed(request: httpx.Request) -> Optional[float]:
    t0 = getattr(request, _T0, None)
    return None if t0 is None else perf_counter() - t0


def _is_stream(response: httpx.Response) -> bool:
    try:
        # httpx keeps (raw name, lowercased name, value) triples: a scan of them costs a fraction of
        # `headers.get`, which lowercases and decodes every header on each call.
        for _, name, value in response.headers._list:
            if name == b"content-type":
                return b"event-stream" in value or b"ndjson" in value or b"stream+json" in value
        return False
    except Exception:  # another httpx: the public way
        ct = response.headers.get("content-type")
        return ct is not None and any(t in ct for t in _STREAM_TYPES)


def _after_terminal(tail: bytes) -> Optional[bytes]:
    """The tail from the last terminal event's name on (v2 ``message-end``, v1 ``stream-end``, ``[DONE]``), or
    None when the tail has none. ``rfind`` scans from the end, so a terminal event near it costs little."""
    for m in (b"message-end", b"stream-end", b"[DONE]"):
        i = tail.rfind(m)
        if i >= 0:
            return tail[i:]
    return None


def _is_async(stream: Any) -> bool:
    # httpx.ByteStream (a body already in memory) is both kinds: read it as sync.
    return isinstance(stream, httpx.AsyncByteStream) and not isinstance(stream, httpx.SyncByteStream)


def _error_of(e: BaseException) -> Tuple[str, str]:
    cls = "timeout" if isinstance(e, httpx.TimeoutException) else "network"
    return cls, f"{type(e).__name__}: {e}"


# ------------------------------------------------------------------------------------------------ sink


class _Sink:
    """The recorder behind a set of hooks, made on the first failure (so a process that never fails never
    starts a thread, and a child after fork gets its own)."""

    def __init__(self, spool_dir: PathLike, recorder_args: Dict[str, Any], options: Dict[str, Any]) -> None:
        self.spool_dir = Path(spool_dir)
        self._args = recorder_args
        self._options = options
        self._recorder: Optional[Recorder] = None
        self._pid = 0
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        #: Errors inside the hooks themselves (swallowed: the hooks never raise into the application).
        self.internal_errors = 0
        self.outcomes: Dict[str, int] = {"queued": 0, "counted": 0, "dropped": 0}
        _sinks.add(self)

    def recorder(self) -> Recorder:
        r = self._recorder
        if r is not None and self._pid == os.getpid():
            return r
        with self._lock:
            if self._recorder is None or self._pid != os.getpid():
                self._recorder = Recorder(str(self.spool_dir), options=self._options, **self._args)
                self._pid = os.getpid()
            return self._recorder

    def record(self, ex: Exchange) -> None:
        ex.failed = True
        _note(ex)
        method, url, headers, body = _request_parts(ex.request)
        what = self.recorder().capture(
            method,
            url,
            headers,
            body,
            ex.status,
            ex.response_headers,
            ex.response_body,
            ex.error_class,
            ex.error_message,
            ex.elapsed,
        )
        with self._count_lock:
            self.outcomes[what] = self.outcomes.get(what, 0) + 1

    def oops(self) -> None:
        """Counts an error inside the hooks (swallowed: they never raise into the application)."""
        with self._count_lock:
            self.internal_errors += 1

    # -- the cases

    def http_failure(self, response: httpx.Response) -> None:
        try:
            body: Optional[bytes] = response.content
        except Exception:
            body = None
        request = response.request
        self.record(
            Exchange(
                request,
                response.status_code,
                response.headers.multi_items(),
                body,
                elapsed=_elapsed(request),
            )
        )

    def transport_failure(self, request: httpx.Request, e: BaseException) -> None:
        if getattr(e, _SEEN, False):
            return
        try:
            setattr(e, _SEEN, True)
        except Exception:
            pass
        cls, msg = _error_of(e)
        self.record(Exchange(request, None, None, None, cls, msg, _elapsed(request)))

    def stream_ended(self, response: httpx.Response, kept: List[bytes], tail: bytes, e: Optional[BaseException]) -> None:
        """A watched stream ended: at its end (`e` None) or with an error. Records it when it failed."""
        after = _after_terminal(tail)
        if e is not None:
            if getattr(e, _SEEN, False):
                return
            try:
                setattr(e, _SEEN, True)
            except Exception:
                pass
            if after is not None:
                return  # complete: how the connection ended afterwards does not matter
        elif after is not None and b"ERROR" not in after and b'"error"' not in after:
            # Complete and, as far as its terminal event tells, sound (one with `finish_reason: ERROR` or an
            # `error` is judged by the library below).
            return
        body = b"".join(kept)
        headers = response.headers.multi_items()
        verdict = _native.judge_stream(response.status_code, headers, body)
        if e is not None:
            cls = "timeout" if isinstance(e, httpx.TimeoutException) else "stream"
            msg = f"{verdict or 'the stream broke off'} ({type(e).__name__}: {e})"
        elif verdict is not None:
            cls, msg = "stream", verdict
        else:
            return
        request = response.request
        self.record(Exchange(request, response.status_code, headers, body, cls, msg, _elapsed(request)))

    def flush(self, timeout: Optional[float] = None) -> bool:
        r = self._recorder
        if r is None or self._pid != os.getpid():
            return True
        return r.flush(timeout)

    def stats(self) -> Dict[str, Any]:
        r = self._recorder
        s: Dict[str, Any] = (
            r.stats()
            if r is not None and self._pid == os.getpid()
            else {
                "captured": 0,
                "dropped": 0,
                "bundles_written": 0,
                "bundles_updated": 0,
                "bundles_evicted": 0,
                "write_errors": 0,
                "last_error": None,
            }
        )
        s["internal_errors"] = self.internal_errors
        return s

    def close(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        r = self._recorder
        if r is not None and self._pid == os.getpid():
            r.close(timeout)
        return self.stats()


_sinks: "weakref.WeakSet[_Sink]" = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for s in list(_sinks):
        try:
            s.close(_EXIT_FLUSH_S)
        except Exception:
            pass


# ------------------------------------------------------------------------------------- stream watching


class _Watch:
    """What a watched stream body saw: the head of the body (kept for a bundle) and its tail (for the
    terminal event); it tells the sink once, when the body ended, broke off, or was closed after its
    terminal event (the SDKs stop reading at ``[DONE]``; a stream closed before its terminal event was the
    reader's own choice and is no failure)."""

    def __init__(self, inner: Any, sink: _Sink, response: httpx.Response) -> None:
        self._inner = inner
        self._sink = sink
        self._response = response
        self._kept: List[bytes] = []
        self._size = 0
        self._tail = b""
        self._done = False

    def _see(self, chunk: bytes) -> None:
        if self._size < _STREAM_KEEP:
            self._kept.append(chunk)
            self._size += len(chunk)
        self._tail = chunk[-_TAIL:] if len(chunk) >= _TAIL else (self._tail + chunk)[-_TAIL:]

    def _finish(self, e: Optional[BaseException]) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._sink.stream_ended(self._response, self._kept, self._tail, e)
        except Exception:
            self._sink.oops()

    def _closed(self) -> None:
        if not self._done and _after_terminal(self._tail) is not None:
            self._finish(None)
        self._done = True


class _SyncWatch(_Watch, httpx.SyncByteStream):
    """A response body that tells the sink how it ended."""

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                self._see(chunk)
                yield chunk
        except GeneratorExit:
            self._closed()
            raise
        except Exception as e:
            self._finish(e)
            raise
        self._finish(None)

    def close(self) -> None:
        self._closed()
        self._inner.close()


class _AsyncWatch(_Watch, httpx.AsyncByteStream):
    """The async twin of :class:`_SyncWatch`."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._see(chunk)
                yield chunk
        except GeneratorExit:
            self._closed()
            raise
        except Exception as e:
            self._finish(e)
            raise
        self._finish(None)

    async def aclose(self) -> None:
        self._closed()
        await self._inner.aclose()


class _BodyWatch(httpx.SyncByteStream):
    """A non-stream response body, watched by the transport wrapper for errors while it is read."""

    def __init__(self, inner: Any, sink: _Sink, request: httpx.Request) -> None:
        self._inner = inner
        self._sink = sink
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                yield chunk
        except GeneratorExit:
            raise
        except Exception as e:
            _guard(self._sink, self._sink.transport_failure, self._request, e)
            raise

    def close(self) -> None:
        self._inner.close()


class _AsyncBodyWatch(httpx.AsyncByteStream):
    def __init__(self, inner: Any, sink: _Sink, request: httpx.Request) -> None:
        self._inner = inner
        self._sink = sink
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except GeneratorExit:
            raise
        except Exception as e:
            _guard(self._sink, self._sink.transport_failure, self._request, e)
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


def _guard(sink: _Sink, f: Any, *args: Any) -> None:
    try:
        f(*args)
    except Exception:
        sink.oops()


# ------------------------------------------------------------------------------------------- the hooks


class _Done:
    """An awaitable that is already done: what the hooks return on their quick paths, so one hook works for
    ``httpx.Client`` (which ignores it) and ``httpx.AsyncClient`` (which awaits it)."""

    __slots__ = ()

    def __await__(self) -> Iterator[None]:
        return iter(())


_DONE = _Done()


class EventHooks(Dict[str, List[Any]]):
    """The event hooks, as the dict httpx takes (``{"request": [...], "response": [...]}``), and the handle on
    the recorder behind them: :meth:`flush`, :meth:`stats`, :meth:`close`, :meth:`transport`.

    Made by :func:`event_hooks`.
    """

    __hash__ = object.__hash__  # type: ignore[assignment]

    def __init__(self, sink: _Sink, async_: Optional[bool]) -> None:
        self._sink = sink
        self.async_ = async_
        if async_ is True:
            super().__init__(request=[self._arequest], response=[self._aresponse])
        else:
            super().__init__(request=[self._request], response=[self._response])

    # -- hooks

    def _request(self, request: httpx.Request) -> _Done:
        try:
            setattr(request, _T0, perf_counter())
            _note(request)
        except Exception:
            self._sink.oops()
        return _DONE

    def _response(self, response: httpx.Response) -> Any:
        try:
            if response.status_code >= 400:
                if _is_async(response.stream):
                    return self._aerror(response)
                try:
                    response.read()
                except Exception:
                    pass  # the application's own read will raise it
                self._sink.http_failure(response)
            elif _is_stream(response):
                if _is_async(response.stream):
                    response.stream = _AsyncWatch(response.stream, self._sink, response)
                else:
                    response.stream = _SyncWatch(response.stream, self._sink, response)
        except Exception:
            self._sink.oops()
        return _DONE

    async def _aerror(self, response: httpx.Response) -> None:
        try:
            try:
                await response.aread()
            except Exception:
                pass
            self._sink.http_failure(response)
        except Exception:
            self._sink.oops()

    async def _arequest(self, request: httpx.Request) -> None:
        self._request(request)

    async def _aresponse(self, response: httpx.Response) -> None:
        r = self._response(response)
        if r is not _DONE:
            await r

    # -- the recorder

    @property
    def spool_dir(self) -> Path:
        """Where the bundles go."""
        return self._sink.spool_dir

    def transport(self, inner: Any = None) -> Union["Transport", "AsyncTransport"]:
        """A transport for the same client that records transport errors (refused, reset, timeouts) to the
        same recorder: ``httpx.Client(event_hooks=hooks, transport=hooks.transport())``. ``inner`` defaults to
        ``httpx.HTTPTransport()`` (``httpx.AsyncHTTPTransport()`` for hooks made with ``async_=True``, or when
        ``inner`` is an async transport)."""
        if inner is None:
            use_async = self.async_ is True
        elif isinstance(inner, httpx.BaseTransport) and isinstance(inner, httpx.AsyncBaseTransport):
            use_async = self.async_ is True  # both kinds (httpx.MockTransport): as the hooks were made
        else:
            use_async = isinstance(inner, httpx.AsyncBaseTransport)
        return AsyncTransport(inner, self) if use_async else Transport(inner, self)

    def async_transport(self, inner: Optional[httpx.AsyncBaseTransport] = None) -> "AsyncTransport":
        """:meth:`transport` for ``httpx.AsyncClient``."""
        return AsyncTransport(inner, self)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Writes what is queued and the counts of every failure signature into its bundle now, and waits (at
        most ``timeout`` s); False when that ran out. (The first failure of a signature is written at once
        without it.)"""
        return self._sink.flush(timeout)

    def stats(self) -> Dict[str, Any]:
        """The recorder's counters: captured, dropped, bundles_written, bundles_updated (counts written at a
        tick), bundles_evicted, write_errors; last_error, the reason of the last write error (None when there
        was none); and internal_errors (errors inside the hooks, swallowed)."""
        return self._sink.stats()

    def index(self) -> List[Dict[str, Any]]:
        """The spool's ``index.jsonl``, oldest line first: one dict per event with ``time`` (RFC 3339, UTC),
        ``event`` (``written``; ``counts`` when a tick wrote the counts into the bundle; ``write_failed``),
        ``signature``, ``count``, ``path`` (None when the write failed), ``status``, ``cause`` and ``error``
        (the reason of a failed write)."""
        return index(self._sink.spool_dir)

    def close(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Flushes and takes no more failures; returns the final counters. Also done at interpreter exit
        (waiting at most 10 s)."""
        return self._sink.close(timeout)

    def bundles(self) -> List[Path]:
        """The bundles in the spool directory, oldest first."""
        return [Path(p) for p, _ in _native.spool(str(self._sink.spool_dir))]

    def __repr__(self) -> str:
        return f"<cohere_bundle.EventHooks spool_dir={str(self._sink.spool_dir)!r}>"


def event_hooks(
    spool_dir: PathLike = "cohere-support",
    *,
    async_: Optional[bool] = None,
    interval: float = 60.0,
    max_bundles: int = 20,
    max_spool_bytes: int = 200 * 1024 * 1024,
    queue: int = 64,
    secrets: Iterable[str] = (),
    logs: Iterable[PathLike] = (),
    scan_env: bool = True,
    redact_content: bool = False,
    max_size: Optional[int] = DEFAULT_MAX_SIZE,
    eml: bool = False,
    cache_dir: Optional[PathLike] = None,
) -> EventHooks:
    """httpx event hooks that turn failing Cohere exchanges into support bundles in ``spool_dir``.

    ::

        hooks = cohere_bundle.event_hooks()
        co = cohere.ClientV2(httpx_client=httpx.Client(event_hooks=hooks, transport=hooks.transport()))

    On the success path a hook costs about a microsecond and calls nothing but httpx attribute reads. A
    failure — a status >= 400 (its body is read in the hook), a stream that ends without ``message-end`` /
    ``stream-end`` / ``[DONE]`` or carried an error, and with ``transport=hooks.transport()`` a connection
    error or timeout — goes to a storm-safe recorder: the first failure of a signature (endpoint, model,
    status, class) is written at once on a background thread; later ones in the same ``interval`` seconds are
    counted, and the count is written into that bundle's ``storm.json`` at the end of the interval (and at
    exit). Every bundle is listed in ``index.jsonl`` in the spool (:meth:`EventHooks.index`); a bundle that
    could not be written is listed with its reason, which :meth:`EventHooks.stats` gives as ``last_error``.
    The spool keeps at most ``max_bundles`` bundles and ``max_spool_bytes`` bytes: other bundles go first,
    oldest first, then the newest of each signature, the first of each signature last. The hooks never
    raise into the application; nothing is logged.

    ``async_``: ``None`` (default) gives hooks that work for both ``httpx.Client`` and ``httpx.AsyncClient``
    (they return an awaitable); ``True`` gives coroutine functions (``async def``), for code that checks.

    The API key (the request's ``Authorization`` bearer token) is always a known secret, scrubbed from every
    member in every encoding; ``secrets`` adds more. ``scan_env`` also scrubs the values of secret-looking
    environment variables. ``logs`` are files included (scrubbed) in every bundle. ``max_size`` is each
    bundle's size budget (None or 0: none); ``eml`` also writes an email draft beside each zip.
    """
    options: Dict[str, Any] = {
        "secrets": [str(s) for s in secrets],
        "logs": [os.fspath(p) for p in logs],
        "scan_env": bool(scan_env),
        "redact_content": bool(redact_content),
        "max_size": max_size,
        "eml": bool(eml),
        "cache_dir": None if cache_dir is None else os.fspath(cache_dir),
    }
    args = {
        "interval": float(interval),
        "max_bundles": int(max_bundles),
        "max_spool_bytes": int(max_spool_bytes),
        "queue": int(queue),
    }
    if args["interval"] <= 0 or min(args["max_bundles"], args["max_spool_bytes"], args["queue"]) <= 0:
        raise ValueError("interval, max_bundles, max_spool_bytes and queue must be above zero")
    return EventHooks(_Sink(spool_dir, args, options), async_)


# -------------------------------------------------------------------------------------- the transports


class Transport(httpx.BaseTransport):
    """Wraps an httpx transport so that transport errors (refused, reset, DNS, TLS, timeouts), which httpx
    event hooks never see, reach the hooks' recorder; the error is re-raised as it was. Bodies of non-stream
    responses are watched too (a connection that breaks while the body is read)."""

    def __init__(self, inner: Optional[httpx.BaseTransport] = None, hooks: Optional[EventHooks] = None) -> None:
        if hooks is None:
            hooks = event_hooks()
        self._inner = inner if inner is not None else httpx.HTTPTransport()
        self._hooks = hooks
        self._sink = hooks._sink

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self._inner.handle_request(request)
        except Exception as e:
            if isinstance(e, httpx.TransportError):
                _guard(self._sink, self._sink.transport_failure, request, e)
            raise
        try:
            if not _is_stream(response) and isinstance(response.stream, httpx.SyncByteStream):
                response.stream = _BodyWatch(response.stream, self._sink, request)
        except Exception:
            self._sink.oops()
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncTransport(httpx.AsyncBaseTransport):
    """:class:`Transport` for ``httpx.AsyncClient``."""

    def __init__(self, inner: Optional[httpx.AsyncBaseTransport] = None, hooks: Optional[EventHooks] = None) -> None:
        if hooks is None:
            hooks = event_hooks(async_=True)
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self._hooks = hooks
        self._sink = hooks._sink

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as e:
            if isinstance(e, httpx.TransportError):
                _guard(self._sink, self._sink.transport_failure, request, e)
            raise
        try:
            if not _is_stream(response) and isinstance(response.stream, httpx.AsyncByteStream):
                response.stream = _AsyncBodyWatch(response.stream, self._sink, request)
        except Exception:
            self._sink.oops()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


# ------------------------------------------------------------------------------------ error handlers


@dataclass(frozen=True)
class Outcome:
    """A written bundle: its path and size, the redactions made, the summary written into it
    (``summary.json`` as a dict), and the email draft beside it when asked for."""

    path: Path
    size: int
    redactions: int
    summary: Dict[str, Any]
    eml: Optional[Path] = None


def _outcome(d: Mapping[str, Any]) -> Outcome:
    return Outcome(
        path=Path(d["path"]),
        size=int(d["size"]),
        redactions=int(d["redactions"]),
        summary=json.loads(d["summary"]),
        eml=None if d.get("eml") is None else Path(d["eml"]),
    )


def _bundle_options(
    out: Optional[PathLike],
    force: bool,
    logs: Iterable[PathLike],
    secrets: Iterable[str],
    scan_env: bool,
    redact_content: bool,
    max_size: Optional[int],
    eml: bool,
    cache_dir: Optional[PathLike],
) -> Dict[str, Any]:
    opts: Dict[str, Any] = {
        "force": bool(force),
        "logs": [os.fspath(p) for p in logs],
        "secrets": [str(s) for s in secrets],
        "scan_env": bool(scan_env),
        "redact_content": bool(redact_content),
        "max_size": max_size,
        "eml": bool(eml),
        "cache_dir": None if cache_dir is None else os.fspath(cache_dir),
    }
    if out is None:
        opts["out_dir"] = "."
    elif os.path.isdir(out):
        opts["out_dir"] = os.fspath(out)
    else:
        opts["output"] = os.fspath(out)
    return opts


def _to_bytes(body: Any) -> Optional[bytes]:
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8", "replace")
    try:
        return json.dumps(body, default=str).encode()
    except Exception:
        return str(body).encode("utf-8", "replace")


def _header_pairs(headers: Any) -> List[Tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, httpx.Headers):
        return headers.multi_items()
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def _as_request(request: Any) -> httpx.Request:
    if isinstance(request, httpx.Request):
        return request
    if isinstance(request, Exchange):
        return request.request
    if isinstance(request, Mapping) and "url" in request:
        body = request.get("body")
        content = body if isinstance(body, (bytes, str)) else (None if body is None else json.dumps(body))
        return httpx.Request(
            request.get("method", "POST"), request["url"], headers=request.get("headers"), content=content
        )
    raise TypeError(
        "request must be an httpx.Request, a cohere_bundle.Exchange, or a dict with method, url, headers, body"
    )


def _exc_request(exc: BaseException) -> Optional[httpx.Request]:
    try:
        r = getattr(exc, "request", None)  # httpx errors; raises RuntimeError when unset
    except Exception:
        return None
    return r if isinstance(r, httpx.Request) else None


def capture(
    exc: BaseException,
    *,
    request: Any = None,
    logs: Iterable[PathLike] = (),
    secrets: Iterable[str] = (),
    out: Optional[PathLike] = None,
    force: bool = False,
    scan_env: bool = True,
    redact_content: bool = False,
    max_size: Optional[int] = DEFAULT_MAX_SIZE,
    eml: bool = False,
    cache_dir: Optional[PathLike] = None,
) -> Path:
    """Writes a support bundle for the failure ``exc`` now and returns the zip's path.

    For an ``except cohere.core.ApiError as e:`` block (or any exception with ``status_code``, ``headers``,
    ``body``), an ``httpx.HTTPStatusError``, or an httpx transport error::

        except cohere.core.ApiError as e:
            path = cohere_bundle.capture(e, logs=["app.log"])

    The request is ``request`` (an ``httpx.Request``, an :class:`Exchange`, or a dict with ``method``,
    ``url``, ``headers``, ``body``), else the exception's own, else the last exchange :func:`event_hooks`
    saw on this thread or task (see :func:`last_exchange`). With none, raises ``ValueError``. When the
    exception carries no status (a broken stream, a timeout), the hooks' record of that exchange gives the
    status, the partial body and the error class.

    ``out`` is the zip's path or an existing directory (default: ``./cohere-support-<UTC time>-<status>.zip``).
    The bundle is written on the calling thread (the GIL released); in async code use
    ``await asyncio.to_thread(cohere_bundle.capture, e)``. Raises :class:`BundleError` subclasses
    (``LeakError`` when the final check found a known secret and kept no zip).
    """
    last = last_exchange()
    req: Optional[httpx.Request]
    if request is not None:
        req = _as_request(request)
    else:
        req = _exc_request(exc) or (last.request if last is not None else None)
    if req is None:
        raise ValueError(
            "no request to bundle: pass request=, or install cohere_bundle.event_hooks() on the client"
        )
    rec = last if (last is not None and last.failed and last.request is req) else None

    status = None
    resp_headers: List[Tuple[str, str]] = []
    resp_body: Optional[bytes] = None
    error_class: Optional[str] = None
    error_message: Optional[str] = None
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        resp_headers = exc.response.headers.multi_items()
        try:
            resp_body = exc.response.content
        except Exception:
            resp_body = None
    else:
        s = getattr(exc, "status_code", None)
        status = s if isinstance(s, int) else None
        resp_headers = _header_pairs(getattr(exc, "headers", None))
        resp_body = _to_bytes(getattr(exc, "body", None))
    if status is None or status < 400:
        if rec is not None:
            status = rec.status
            resp_headers = rec.response_headers
            resp_body = rec.response_body
            error_class = rec.error_class
            error_message = rec.error_message
        else:
            error_class, error_message = _error_of(exc)
    if error_class is None and (status is None or status < 400):
        error_class, error_message = _error_of(exc)

    method, url, headers, body = _request_parts(req)
    d = _native.write_report(
        method,
        url,
        headers,
        body,
        status,
        resp_headers,
        resp_body,
        error_class,
        error_message,
        rec.elapsed if rec is not None else None,
        _bundle_options(out, force, logs, secrets, scan_env, redact_content, max_size, eml, cache_dir),
    )
    return Path(d["path"])


def replay(
    request: Any,
    *,
    endpoint: Optional[str] = None,
    har_entry: Optional[int] = None,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    timeout: float = 120.0,
    platform: Optional[str] = None,
    no_key: bool = False,
    out: Optional[PathLike] = None,
    force: bool = False,
    logs: Iterable[PathLike] = (),
    secrets: Iterable[str] = (),
    scan_env: bool = True,
    redact_content: bool = False,
    max_size: Optional[int] = DEFAULT_MAX_SIZE,
    eml: bool = False,
    cache_dir: Optional[PathLike] = None,
) -> Outcome:
    """Replays a failing request and writes a bundle (as ``cohere-bundle replay`` does).

    ``request``: a path (``str`` or ``os.PathLike``) to a JSON body, an envelope
    ``{"method","url","headers","body"}``, a HAR file or a curl command; ``bytes`` holding one of those; a
    dict (a JSON body or an envelope); or an ``httpx.Request``. The key is ``api_key``, else ``CO_API_KEY``,
    else ``COHERE_API_KEY``, else the request's own bearer token; with none it refuses (``InputError``)
    unless ``no_key``. The base URL is ``base_url``, else ``CO_API_URL``, else the request's URL, else
    ``https://api.cohere.com``. Raises :class:`UnreachableError` when the API cannot be reached at all.
    """
    data: Optional[bytes] = None
    path: Optional[str] = None
    name = "request.json"
    if isinstance(request, httpx.Request):
        m, u, h, b = _request_parts(request)
        try:
            body_v: Any = json.loads(b) if b else None
        except ValueError:
            body_v = b.decode("utf-8", "replace")
        data = json.dumps({"method": m, "url": u, "headers": dict(h), "body": body_v}).encode()
    elif isinstance(request, Mapping):
        data = json.dumps(request).encode()
    elif isinstance(request, (bytes, bytearray, memoryview)):
        data = bytes(request)
        name = "request"
    elif isinstance(request, (str, os.PathLike)):
        path = os.fspath(request)
    else:
        raise TypeError("request must be a path, bytes, a dict or an httpx.Request")
    d = _native.replay(
        data=data,
        path=path,
        name=name,
        endpoint=endpoint,
        har_entry=har_entry,
        base_url=base_url,
        api_key=api_key,
        timeout=float(timeout),
        platform=platform,
        no_key=no_key,
        options=_bundle_options(out, force, logs, secrets, scan_env, redact_content, max_size, eml, cache_dir),
    )
    return _outcome(d)


def scrub(text: str, secrets: Iterable[str] = (), *, scan_env: bool = True, redact_content: bool = False) -> str:
    """The text with secrets replaced by placeholders (``[REDACTED:secret:1]``): the given ``secrets`` in every
    encoding (raw, base64, URL-encoded, JSON-escaped), credential structures (auth headers, keys in JSON/YAML/
    env, URL userinfo) and token shapes; with ``scan_env``, also the API key and secret-looking variables of the
    environment. ``redact_content`` also replaces prompt and completion text."""
    return _native.scrub(text, [str(s) for s in secrets], scan_env=scan_env, redact_content=redact_content)


@dataclass(frozen=True)
class VerifyResult:
    """A bundle that passed :func:`verify`."""

    path: Path
    members_checked: int
    secrets_searched: int


def verify(path: PathLike, secrets: Iterable[str] = (), *, scan_env: bool = True) -> VerifyResult:
    """Checks a bundle: every member matches the manifest's size and SHA-256, ``summary.json`` parses, and no
    known secret (``secrets``; with ``scan_env`` the API key and secret-looking variables of the environment)
    appears in any member in any encoding. Raises :class:`VerifyError` (or :class:`InputError` for a missing
    file) when it does not hold."""
    d = _native.verify(os.fspath(path), [str(s) for s in secrets], scan_env=scan_env)
    return VerifyResult(Path(d["path"]), int(d["members_checked"]), int(d["secrets_searched"]))


def spool(spool_dir: PathLike) -> List[Tuple[Path, int]]:
    """The recorder's bundles in ``spool_dir``, oldest first, with their sizes in bytes (zip and draft)."""
    return [(Path(p), n) for p, n in _native.spool(os.fspath(spool_dir))]


def index(spool_dir: PathLike) -> List[Dict[str, Any]]:
    """The lines of ``index.jsonl`` in ``spool_dir`` (see :meth:`EventHooks.index`); unreadable lines are
    skipped, and a spool with no index gives []."""
    try:
        with open(os.path.join(os.fspath(spool_dir), _native.INDEX_FILE), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out: List[Dict[str, Any]] = []
    for line in lines:
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict):
            out.append(v)
    return out
