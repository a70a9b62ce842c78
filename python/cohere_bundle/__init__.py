"""Turn failing Cohere API requests into verified support bundles, from Python.

The package calls the Rust library of ``cohere-bundle`` directly (``cohere_bundle._native``); nothing is
run as a subprocess, nothing is logged but why a :func:`capture` or :func:`auto_instrument` did nothing (on the
``cohere_bundle`` logger, never a header or a body), and no network call is made on the application's behalf
except the ones a bundle needs (a :func:`replay` replays the request, on purpose).

Four ways in:

* :func:`auto_instrument` — once at start-up, before the clients are made: every ``cohere.Client``,
  ``ClientV2``, ``AsyncClient`` and ``AsyncClientV2`` created afterwards carries the hooks below (on its own
  httpx client, or on the one passed as ``httpx_client=``). :func:`wrap` does the same for a client that
  already exists.
* :func:`event_hooks` — httpx event hooks for ``cohere.ClientV2(httpx_client=httpx.Client(event_hooks=...))``
  (or ``httpx.AsyncClient``). They note each exchange cheaply; on a failing one (status >= 400, a stream that
  ends without its terminal event) they hand it to a storm-safe recorder that writes the first failure of each
  signature at once, in the background, counts its repeats into it, and lists every bundle in the spool's
  ``index.jsonl``. Transport errors (refused,
  timeouts) never reach httpx event hooks: add ``transport=hooks.transport()`` to the client for those.
* :func:`capture` — in an ``except cohere.core.ApiError`` block: writes a bundle for that failure (its own
  exchange, as the hooks recorded it, or what the exception holds) now and returns its path; it never raises.
* :func:`replay`, :func:`scrub`, :func:`verify` — the library's functions, typed.

``python -m cohere_bundle ...`` runs the same command line as the ``cohere-bundle`` binary.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import traceback
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from time import monotonic, perf_counter
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
    "auto_instrument",
    "capture",
    "event_hooks",
    "index",
    "last_exchange",
    "replay",
    "scrub",
    "spool",
    "uninstrument",
    "verify",
    "wrap",
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
# The failed Exchange the hooks recorded, set on its httpx.Request and httpx.Response (how capture() finds the
# exchange of an exception that holds either).
_EX = "_cohere_bundle_exchange"
# Response headers that carry the API's request id (Cohere sends x-debug-trace-id).
_REQUEST_ID_HEADERS = ("x-debug-trace-id", "x-request-id")

_log = logging.getLogger("cohere_bundle")


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


def _request_ids(headers: Any) -> List[str]:
    """The request ids (``x-debug-trace-id``, ``x-request-id``) among response headers (pairs or a mapping)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: List[str] = []
    for k, v in pairs:
        if isinstance(k, (bytes, bytearray)):
            k = k.decode("latin-1")
        if isinstance(v, (bytes, bytearray)):
            v = v.decode("latin-1")
        if isinstance(k, str) and isinstance(v, str) and k.lower() in _REQUEST_ID_HEADERS and v.strip():
            out.append(v.strip())
    return out


class _Recent:
    """The recent failed exchanges the hooks recorded, by the request id of their response: what lets
    :func:`capture` find an exception's own exchange from the request id in ``exc.headers``. Bounded by count
    and by the bytes of the bodies held (the oldest go first)."""

    def __init__(self, max_items: int = 64, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # id(exchange) -> (exchange, its request ids, its size)
        self._items: "OrderedDict[int, Tuple[Exchange, List[str], int]]" = OrderedDict()
        self._by_id: Dict[str, List[Exchange]] = {}
        self._bytes = 0

    def add(self, ex: Exchange) -> None:
        ids = _request_ids(ex.response_headers)
        if not ids:
            return
        try:
            size = len(ex.request.content)
        except Exception:
            size = 0
        size += len(ex.response_body or b"")
        with self._lock:
            self._items[id(ex)] = (ex, ids, size)
            self._bytes += size
            for rid in ids:
                self._by_id.setdefault(rid, []).append(ex)
            while self._items and (len(self._items) > self.max_items or self._bytes > self.max_bytes):
                _, (old, old_ids, old_size) = self._items.popitem(last=False)
                self._bytes -= old_size
                for rid in old_ids:
                    xs = [x for x in self._by_id.get(rid, ()) if x is not old]
                    if xs:
                        self._by_id[rid] = xs
                    else:
                        self._by_id.pop(rid, None)

    def find(self, request_id: str) -> Tuple[Optional[Exchange], int]:
        """The exchange with this request id, and how many were recorded with it (one is an answer; two or
        more are not: none is returned then)."""
        with self._lock:
            xs = list(self._by_id.get(request_id, ()))
        return (xs[0] if len(xs) == 1 else None), len(xs)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._by_id.clear()
            self._bytes = 0


_recent = _Recent()


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
    try:
        text = str(e)
    except Exception:
        text = "(its message could not be read)"
    return cls, f"{type(e).__name__}: {text}"


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

    def record(self, ex: Exchange, response: Optional[httpx.Response] = None) -> None:
        ex.failed = True
        _note(ex)
        # capture(exc) finds this exchange from the exception: by its request or response object, or by the
        # request id of the response.
        for o in (ex.request, response):
            if o is not None:
                try:
                    setattr(o, _EX, ex)
                except Exception:
                    pass
        _recent.add(ex)
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
            ),
            response,
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
        self.record(Exchange(request, response.status_code, headers, body, cls, msg, _elapsed(request)), response)

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


# ------------------------------------------------------------------------------- the SDK's clients

# The SDK's client classes auto_instrument() hooks (cohere 5.x to 7.x name them so).
_SDK_CLASSES = ("Client", "ClientV2", "AsyncClient", "AsyncClientV2")
# On a patched __init__: the original it calls.
_ORIGINAL_INIT = "_cohere_bundle_original_init"
_auto_lock = threading.RLock()
_auto_hooks: Optional[EventHooks] = None
_auto_patched: List[type] = []
_wrap_hooks: Optional[EventHooks] = None


def _httpx_client_of(client: Any) -> Union[httpx.Client, httpx.AsyncClient, None]:
    """The httpx client a Cohere SDK client sends through (``client._client_wrapper.httpx_client.httpx_client``
    in cohere 5.x to 7.x: the client wrapper's ``HttpClient`` holds the ``httpx.Client``), or the client itself
    when it is an httpx client."""
    if isinstance(client, (httpx.Client, httpx.AsyncClient)):
        return client
    try:
        hc = client._client_wrapper.httpx_client.httpx_client
    except Exception:
        return None
    return hc if isinstance(hc, (httpx.Client, httpx.AsyncClient)) else None


# The SDK's clients for other platforms (Bedrock, SageMaker, OCI: subclasses of these) rewrite each request
# and response in their own httpx event hooks (signing, another URL, another stream format): the hooks of
# this package would see those, not Cohere's exchanges, so they are left alone.
_PLATFORM_CLIENTS = ("AwsClient", "AwsClientV2", "OciClient", "OciClientV2")


def _platform_client(client: Any) -> Optional[str]:
    """The name of the SDK's platform client class ``client`` is one of (see ``_PLATFORM_CLIENTS``), else None."""
    for c in type(client).__mro__:
        if c.__name__ in _PLATFORM_CLIENTS and (c.__module__ or "").startswith("cohere"):
            return type(client).__name__
    return None


def _carries_hooks(hc: Union[httpx.Client, httpx.AsyncClient]) -> bool:
    """True when the httpx client already has the hooks of some :func:`event_hooks` (these or others)."""
    eh = hc.event_hooks
    return any(
        isinstance(getattr(h, "__self__", None), EventHooks) for h in [*eh.get("request", ()), *eh.get("response", ())]
    )


def _hook_httpx(hc: Union[httpx.Client, httpx.AsyncClient], hooks: EventHooks) -> bool:
    """Adds the hooks to an httpx client in place (before its own hooks, which stay), and wraps its transports
    (and those of its proxy mounts) so that transport errors reach the recorder too. Does nothing to a client
    that already carries hooks of this package. Returns True when it added the hooks."""
    is_async = isinstance(hc, httpx.AsyncClient)
    if hooks.async_ is True and not is_async:
        raise ValueError("hooks made with event_hooks(async_=True) are for httpx.AsyncClient only")
    if _carries_hooks(hc):
        return False
    eh = hc.event_hooks
    hc.event_hooks = {
        "request": [*hooks["request"], *eh.get("request", ())],
        "response": [*hooks["response"], *eh.get("response", ())],
    }
    # httpx has no public way to wrap the transport of an existing client: `_transport` and `_mounts` are
    # its attributes since 0.18. When they are not there, the hooks still see every HTTP failure; only
    # transport errors (refused, timeouts) go unrecorded (capture(e) still bundles them from the exception).
    try:
        wrapper = AsyncTransport if is_async else Transport
        t = getattr(hc, "_transport", None)
        if isinstance(t, (httpx.AsyncBaseTransport if is_async else httpx.BaseTransport)) and not isinstance(
            t, (Transport, AsyncTransport)
        ):
            hc._transport = wrapper(t, hooks)  # type: ignore[arg-type]
        mounts = getattr(hc, "_mounts", None)
        if isinstance(mounts, dict):
            for k, v in list(mounts.items()):
                if v is not None and not isinstance(v, (Transport, AsyncTransport)):
                    mounts[k] = wrapper(v, hooks)
    except Exception:
        _log.debug("cohere_bundle: could not wrap the httpx client's transport", exc_info=True)
    return True


def _patch_init(cls: type) -> bool:
    """Wraps ``cls.__init__`` so that the client it makes carries the auto_instrument hooks. Idempotent."""
    init = cls.__dict__.get("__init__")
    if init is None or not callable(init):
        return False
    if getattr(init, _ORIGINAL_INIT, None) is not None:
        return True  # patched already

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        hooks = _auto_hooks
        if hooks is None:
            return
        try:
            if _platform_client(self) is not None:
                return
            hc = _httpx_client_of(self)
            if hc is not None:
                _hook_httpx(hc, hooks)
            else:
                _log.warning(
                    "cohere_bundle.auto_instrument: no httpx client found on %s; its failures are not recorded",
                    type(self).__name__,
                )
        except Exception:
            _log.warning("cohere_bundle.auto_instrument: could not hook a %s", type(self).__name__, exc_info=True)

    functools.update_wrapper(__init__, init)
    setattr(__init__, _ORIGINAL_INIT, init)
    cls.__init__ = __init__  # type: ignore[misc]
    _auto_patched.append(cls)
    return True


def auto_instrument(**options: Any) -> Optional[EventHooks]:
    """Hooks every ``cohere.Client``, ``cohere.ClientV2``, ``cohere.AsyncClient`` and ``cohere.AsyncClientV2``
    created from now on: each one's httpx client carries the hooks of :func:`event_hooks` (made once, with
    ``options``: ``spool_dir``, ``interval``, ``max_bundles``, ``logs``, ``secrets`` ...) and its transport
    is wrapped as ``hooks.transport()`` does, so failures become bundles in the spool and
    :func:`capture` finds the exchange of each exception. Call it once at start-up, before the clients are
    made::

        import cohere_bundle
        cohere_bundle.auto_instrument()
        co = cohere.ClientV2()

    A client given its own ``httpx_client=`` keeps it: the hooks are added to it (before its own hooks), and
    a client that already carries hooks of this package is left as it is. Clients made before the call are
    not touched (use :func:`wrap`), nor the SDK's clients for other platforms (``BedrockClient``,
    ``SagemakerClient``, ``OciClient`` and their V2), whose own hooks rewrite every request and response.

    Returns the :class:`EventHooks` (for ``flush``, ``stats``, ``bundles``); ``None``, doing nothing, when the
    ``cohere`` package cannot be imported or has none of those classes. Idempotent: a second call hooks
    nothing twice and returns the same hooks (its options are ignored, with a warning on the
    ``cohere_bundle`` logger). :func:`uninstrument` undoes it.
    """
    global _auto_hooks
    try:
        import cohere  # noqa: F401  (the SDK is optional)
    except Exception:
        return None
    with _auto_lock:
        classes = [c for c in (getattr(cohere, n, None) for n in _SDK_CLASSES) if isinstance(c, type)]
        if not classes:
            _log.warning("cohere_bundle.auto_instrument: the cohere package has no client class to hook")
            return None
        hooks = _auto_hooks
        if hooks is None:
            hooks = event_hooks(**options)
        elif options:
            _log.warning("cohere_bundle.auto_instrument: already installed; the new options are ignored")
        _auto_hooks = hooks
        if not any([_patch_init(c) for c in classes]):
            _auto_hooks = None
            return None
        return hooks


def uninstrument() -> bool:
    """Undoes :func:`auto_instrument`: clients created afterwards are no longer hooked (those made before
    keep their hooks). Returns True when it was installed."""
    global _auto_hooks
    with _auto_lock:
        was = _auto_hooks is not None or bool(_auto_patched)
        for cls in _auto_patched:
            init = cls.__dict__.get("__init__")
            orig = getattr(init, _ORIGINAL_INIT, None)
            if orig is not None:
                cls.__init__ = orig  # type: ignore[misc]
        _auto_patched.clear()
        _auto_hooks = None
        return was


def wrap(client: Any, hooks: Optional[EventHooks] = None, **options: Any) -> Any:
    """Hooks a Cohere client that already exists (``cohere.Client``, ``ClientV2``, ``AsyncClient``,
    ``AsyncClientV2``, or an ``httpx.Client`` / ``httpx.AsyncClient``) in place and returns it::

        co = cohere_bundle.wrap(cohere.ClientV2())

    Its httpx client gets the hooks (before its own hooks, which stay) and its transport is wrapped as
    ``hooks.transport()`` does. The hooks are ``hooks``, else new ones made with ``options`` (as
    :func:`event_hooks` takes them), else those of :func:`auto_instrument` when it was called, else one set
    shared by every such ``wrap``. Idempotent: a client that already carries hooks of this package is left as
    it is. Raises ``TypeError`` when ``client`` has no httpx client to hook, or is one of the SDK's clients for
    other platforms (Bedrock, SageMaker, OCI).
    """
    global _wrap_hooks
    platform = _platform_client(client)
    if platform is not None:
        raise TypeError(
            f"cohere_bundle.wrap: {platform} rewrites its requests and responses for another platform in its own "
            "hooks; only the clients of the Cohere API are supported"
        )
    hc = _httpx_client_of(client)
    if hc is None:
        raise TypeError(
            f"cohere_bundle.wrap: no httpx client found on {type(client).__name__} "
            "(expected a cohere client, an httpx.Client or an httpx.AsyncClient)"
        )
    if hooks is not None and options:
        raise TypeError("cohere_bundle.wrap: pass hooks= or the options of event_hooks(), not both")
    if hooks is None:
        if options:
            hooks = event_hooks(**options)
        else:
            with _auto_lock:
                hooks = _auto_hooks or _wrap_hooks
                if hooks is None:
                    hooks = _wrap_hooks = event_hooks()
    _hook_httpx(hc, hooks)
    return client


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


def _attr(obj: Any, name: str) -> Any:
    """``getattr`` that never raises (an exception's property may)."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _exc_request(exc: BaseException) -> Optional[httpx.Request]:
    r = _attr(exc, "request")  # httpx errors; raises RuntimeError when unset
    return r if isinstance(r, httpx.Request) else None


def _exc_response(exc: BaseException) -> Optional[httpx.Response]:
    r = _attr(exc, "response")  # httpx.HTTPStatusError
    return r if isinstance(r, httpx.Response) else None


def _status_of(v: Any) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 999 else None


_MODEL_RE = re.compile(rb'"model"\s*:\s*"([^"\\]{1,256})"')


def _model_of(body: bytes) -> Optional[str]:
    m = _MODEL_RE.search(body[:65536])
    return m.group(1).decode("utf-8", "replace") if m else None


def _find_exchange(exc: BaseException, request: Any) -> Tuple[Optional[httpx.Request], Optional[Exchange], str]:
    """The exception's own request and the hooks' record of its exchange, and how they were found (or, with
    no request, why none was): never "the last exchange", which may be another one."""
    if request is not None:
        if isinstance(request, Exchange):
            return request.request, request, "given"
        req = _as_request(request)
        return req, _attr(req, _EX), "given"
    resp = _exc_response(exc)
    if resp is not None:
        rec = _attr(resp, _EX)
        req = _attr(resp, "request")  # raises RuntimeError when unset
        if isinstance(req, httpx.Request):
            return req, rec if isinstance(rec, Exchange) else _attr(req, _EX), "the exception's response"
    req = _exc_request(exc)
    if req is not None:
        return req, _attr(req, _EX), "the exception's request"
    headers = _attr(exc, "headers")
    try:
        ids = _request_ids(headers) if headers is not None else []
    except Exception:
        ids = []
    if not ids:
        return None, None, (
            "the exception holds no request and no request id (x-debug-trace-id, x-request-id), so it cannot "
            "be told which exchange was its own; none was guessed"
        )
    for rid in ids:
        rec, n = _recent.find(rid)
        if rec is not None:
            return rec.request, rec, "request id"
        if n > 1:
            return None, None, f"the hooks recorded {n} failed exchanges with request id {rid}; none was guessed"
    if not _sinks:
        return None, None, "no cohere_bundle hooks were installed in this process when the request was sent"
    return None, None, (
        f"the hooks recorded no failed exchange with request id {ids[0]} (its client was not hooked, or the "
        "record of recent failures no longer held it)"
    )


class _Slot:
    __slots__ = ("until", "done", "path", "repeats")

    def __init__(self, until: float) -> None:
        self.until = until
        self.done = threading.Event()
        self.path: Optional[Path] = None
        self.repeats = 0


class _CaptureGate:
    """What keeps :func:`capture` storm-safe, as the hooks' recorder is: the first capture of a failure kind
    (destination, method, URL path, model, status, class, exception type) writes its bundle; repeats within the
    window write nothing and return that bundle's path; and at most ``max_bundles`` bundles are written per
    ``period`` seconds in all (past that, captures return None)."""

    def __init__(self, max_bundles: int = 20, period: float = 60.0) -> None:
        self.max_bundles = max_bundles
        self.period = period
        self._lock = threading.Lock()
        self._slots: Dict[Any, _Slot] = {}
        self._writes: "deque[float]" = deque()
        self._warned_at = -1e18
        self.written = 0
        self.repeats = 0
        self.refused = 0

    def claim(self, key: Any, window: float) -> Tuple[str, Optional[_Slot]]:
        """"write" (with the slot to fill), "repeat" (with the first's slot) or "over" (the budget is spent)."""
        now = monotonic()
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and now < slot.until:
                slot.repeats += 1
                self.repeats += 1
                return "repeat", slot
            while self._writes and now - self._writes[0] >= self.period:
                self._writes.popleft()
            if len(self._writes) >= self.max_bundles:
                self.refused += 1
                if now - self._warned_at >= self.period:
                    self._warned_at = now
                    _log.warning(
                        "cohere_bundle.capture: %d bundles written in the last %.0f s; no more until that eases",
                        len(self._writes),
                        self.period,
                    )
                return "over", None
            self._writes.append(now)
            self.written += 1
            if len(self._slots) >= 256:
                for k in [k for k, v in self._slots.items() if now >= v.until]:
                    del self._slots[k]
            slot = _Slot(now + max(window, 0.0))
            if window > 0:
                self._slots[key] = slot
            return "write", slot


    def forget(self, key: Any, slot: _Slot) -> None:
        with self._lock:
            if self._slots.get(key) is slot:
                del self._slots[key]


_capture_gate = _CaptureGate()

_HOW_TO_CAPTURE = (
    "To capture the request next time, call cohere_bundle.auto_instrument() once before creating the Cohere "
    "client (or cohere_bundle.wrap(client) on a client that exists): its failed exchanges are then recorded, "
    "and capture(e) finds the exception's own by its request id."
)


def _traceback_text(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        return f"(the traceback could not be formatted) {type(exc).__module__}.{type(exc).__qualname__}\n"


def _note_text(exc: BaseException, req: Optional[httpx.Request], how: str, request_ids: List[str]) -> str:
    lines = ["cohere-bundle capture(e)", ""]
    if req is None:
        lines += [
            "THE REQUEST WAS NOT CAPTURED: its method, URL, headers and body are not in this bundle.",
            f"Why: {how}.",
            "This bundle holds what the exception held: the status, the response headers and body, the request "
            "id, and the traceback below.",
            _HOW_TO_CAPTURE,
        ]
    else:
        lines.append(f"The request: the exchange the exception belongs to (found by {how}).")
    if request_ids:
        lines.append(f"Request id: {', '.join(request_ids)}")
    lines += ["", "Traceback:", _traceback_text(exc)]
    return "\n".join(lines) + "\n"


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
    window: float = 60.0,
) -> Optional[Path]:
    """Writes a support bundle for the failure ``exc`` now and returns the zip's path; never raises.

    For an ``except cohere.core.ApiError as e:`` block (or any exception with ``status_code``, ``headers``,
    ``body``), an ``httpx.HTTPStatusError``, an httpx transport error, or any other exception::

        except cohere.core.ApiError as e:
            path = cohere_bundle.capture(e, logs=["app.log"])

    The request is the exception's own exchange, never "the last one": ``request`` (an ``httpx.Request``, an
    :class:`Exchange`, or a dict with ``method``, ``url``, ``headers``, ``body``); else the httpx request or
    response the exception holds (with the hooks' record of it: the status and partial body of a broken
    stream, the error class); else the failed exchange the hooks (:func:`auto_instrument`, :func:`wrap`,
    :func:`event_hooks`) recorded with the request id of ``exc.headers`` (``x-debug-trace-id``,
    ``x-request-id``). When none of these tells, nothing is guessed: the bundle holds what the exception
    holds (status, response headers and body, request id) and ``logs/request-not-captured.txt`` says that the
    request was not captured, why, and how to capture it next time. Every bundle also holds the exception's
    traceback (in that file, or ``logs/traceback.txt``) besides ``logs``.

    Storm-safe: the first capture of a failure kind (destination, endpoint, model, status, class, exception
    type) within ``window`` seconds writes the bundle; repeats write nothing and return its path (``window=0``
    writes each time); at most 20 bundles are written per minute in all, past that None is returned.

    Returns None, never raising, when no bundle could be written (an output that exists without ``force``,
    a log that is missing, a known secret found by the final check, an internal error); the reason goes to the
    ``cohere_bundle`` logger. ``out`` is the zip's path or an existing directory (default:
    ``./cohere-support-<UTC time>-<status>.zip``). The bundle is written on the calling thread (the GIL
    released); in async code use ``await asyncio.to_thread(cohere_bundle.capture, e)``.
    """
    try:
        secrets = [s for s in secrets if isinstance(s, str)]  # read once: the log line below scrubs them too
        return _capture(
            exc, request, logs, secrets, out, force, scan_env, redact_content, max_size, eml, cache_dir, window
        )
    except Exception as e:
        try:
            known = [*secrets, *_credentials(request), *_credentials(_exc_request(exc))]
            _log.error("cohere_bundle.capture: no bundle written: %s", _safe_reason(e, known, scan_env))
        except Exception:
            pass
        return None


def _credentials(request: Any) -> List[str]:
    """The key a request carries (``Authorization: Bearer``, ``api-key``, ``x-api-key``), from an httpx request,
    an :class:`Exchange` or a dict with ``headers``; nothing when it has none or cannot be read."""
    try:
        if isinstance(request, Mapping):
            headers = request.get("headers") or {}
        else:
            headers = getattr(request, "headers", None) or getattr(getattr(request, "request", None), "headers", {})
        pairs = headers.items() if hasattr(headers, "items") else headers
        out = []
        for k, v in pairs:
            if str(k).lower() in ("authorization", "api-key", "x-api-key") and isinstance(v, str):
                out.append(v.split(" ", 1)[1] if v.lower().startswith("bearer ") else v)
        return [v for v in out if v]
    except Exception:
        return []


def _safe_reason(e: BaseException, secrets: Iterable[str], scan_env: bool) -> str:
    """An exception as one log line: the known secrets scrubbed (the capture's, and the environment's), and every
    control character, which a server's or a stranger's text may carry, written as an escape."""
    text = _native.scrub(f"{type(e).__name__}: {e}", [s for s in secrets if s], scan_env=scan_env)
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _capture(
    exc: BaseException,
    request: Any,
    logs: Iterable[PathLike],
    secrets: Iterable[str],
    out: Optional[PathLike],
    force: bool,
    scan_env: bool,
    redact_content: bool,
    max_size: Optional[int],
    eml: bool,
    cache_dir: Optional[PathLike],
    window: float,
) -> Optional[Path]:
    req, rec, how = _find_exchange(exc, request)
    if rec is not None and not isinstance(rec, Exchange):
        rec = None

    status: Optional[int] = None
    resp_headers: List[Tuple[str, str]] = []
    resp_body: Optional[bytes] = None
    error_class: Optional[str] = None
    error_message: Optional[str] = None
    resp = _exc_response(exc)
    if resp is not None:
        status = _status_of(_attr(resp, "status_code"))
        try:
            resp_headers = resp.headers.multi_items()
        except Exception:
            resp_headers = []
        try:
            resp_body = resp.content
        except Exception:
            resp_body = None
    else:
        status = _status_of(_attr(exc, "status_code"))
        try:
            resp_headers = _header_pairs(_attr(exc, "headers"))
        except Exception:
            resp_headers = []
        try:
            resp_body = _to_bytes(_attr(exc, "body"))
        except Exception:
            resp_body = None
    if status is None or status < 400:
        if rec is not None:
            status = rec.status
            resp_headers = rec.response_headers
            resp_body = rec.response_body
            error_class = rec.error_class
            error_message = rec.error_message
    if error_class is None and (status is None or status < 400):
        error_class, error_message = _error_of(exc)

    if req is not None:
        method, url, headers, body = _request_parts(req)
    else:
        # Not known: the bundle says so rather than name a request that may be another one.
        method, url, headers, body = "", "", [], b""

    out_key = None if out is None else os.path.abspath(os.fspath(out))
    path_key = None if req is None else req.url.path
    kind = (
        out_key,
        method,
        path_key,
        _model_of(body),
        status,
        error_class,
        f"{type(exc).__module__}.{type(exc).__qualname__}",
    )
    verdict, slot = _capture_gate.claim(kind, float(window))
    if verdict == "repeat":
        assert slot is not None
        slot.done.wait(30)
        return slot.path
    if verdict == "over" or slot is None:
        return None

    tmp = None
    try:
        tmp = tempfile.mkdtemp(prefix="cohere-bundle-capture-")
        note = os.path.join(tmp, "request-not-captured.txt" if req is None else "traceback.txt")
        with open(note, "w", encoding="utf-8") as f:
            f.write(_note_text(exc, req, how, _request_ids(resp_headers)))
        all_logs: List[PathLike] = [*logs, note]
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
            _bundle_options(out, force, all_logs, secrets, scan_env, redact_content, max_size, eml, cache_dir),
            request_missing=None if req is not None else f"{how}; {_HOW_TO_CAPTURE}",
        )
        slot.path = Path(d["path"])
        return slot.path
    except Exception:
        _capture_gate.forget(kind, slot)  # not written: the next capture of this kind tries again
        raise
    finally:
        slot.done.set()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


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
