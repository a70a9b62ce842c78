"""Type stubs of ``cohere_bundle._native``, the Rust side of the package (see ``python/src/lib.rs``).

The public API is re-exported, with friendlier signatures, by ``cohere_bundle`` itself; prefer it."""

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, TypedDict, Union

_Path = Union[str, "os.PathLike[str]"]
_Headers = Sequence[Tuple[str, str]]

# `options` (how a bundle is written; every key optional, unknown keys refused): output (str | None), out_dir
# (str), force (bool), logs (list[str]), secrets (list[str]), scan_env (bool), redact_content (bool), cache_dir
# (str | None), max_size (int | None; None or 0: no budget), eml (bool).

TOOL: str
VERSION: str
DEMO_KEY: str
SPOOL_PREFIX: str
INDEX_FILE: str
DEFAULT_MAX_SIZE: int
DEBUG_BUILD: bool

class BundleError(Exception):
    """A cohere-bundle library call failed (the base class of the package's errors)."""

class InputError(BundleError):
    """An input cannot be used as given: a request file, a log, an option value, an output that exists."""

class LeakError(BundleError):
    """The final check found a known secret in a bundle member; no zip was kept."""

class VerifyError(BundleError):
    """A bundle failed verification: bad manifest, checksum mismatch, unreadable zip, or a known secret."""

class UnreachableError(BundleError):
    """The API could not be reached at all, so nothing could be replayed."""

class OutcomeDict(TypedDict):
    path: str
    size: int
    redactions: int
    summary: str
    eml: Optional[str]

class VerifyDict(TypedDict):
    path: str
    members_checked: int
    secrets_searched: int

class Recorder:
    """The storm-safe background writer: the first failure of a signature (endpoint, model, status, class)
    is written at once; its repeats within the interval are counted into its ``storm.json`` at the next tick;
    every bundle is listed in the spool's ``index.jsonl``; a spool bounded by count and bytes. ``capture``
    costs a few microseconds and does no I/O; bundles are written on the recorder's own thread.
    """

    def __init__(
        self,
        dir: _Path,
        *,
        interval: float = 60.0,
        max_bundles: int = 20,
        max_spool_bytes: int = 209715200,
        queue: int = 64,
        options: Optional[Mapping[str, Any]] = None,
    ) -> None: ...
    @property
    def dir(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def capture(
        self,
        method: str,
        url: str,
        request_headers: _Headers,
        request_body: bytes,
        status: Optional[int] = None,
        response_headers: _Headers = ...,
        response_body: Optional[bytes] = None,
        error_class: Optional[str] = None,
        error_message: Optional[str] = None,
        elapsed: Optional[float] = None,
    ) -> str:
        """Takes one failed exchange; returns "queued", "counted" or "dropped". ``error_class`` is None (a
        status >= 400 speaks for itself), "http", "network", "timeout" or "stream"."""
    def flush(self, timeout: Optional[float] = None) -> bool:
        """Writes what is queued and the counts of every signature now and waits (at most ``timeout`` s);
        False when that ran out."""
    def stats(self) -> Dict[str, Any]:
        """The counters: captured, dropped, bundles_written, bundles_updated, bundles_evicted, write_errors;
        and last_error, the reason of the last write error (or None)."""
    def close(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Flushes and takes no more failures; returns the final counters."""

def write_report(
    method: str,
    url: str,
    request_headers: _Headers,
    request_body: bytes,
    status: Optional[int] = None,
    response_headers: _Headers = ...,
    response_body: Optional[bytes] = None,
    error_class: Optional[str] = None,
    error_message: Optional[str] = None,
    elapsed: Optional[float] = None,
    options: Optional[Mapping[str, Any]] = None,
    request_missing: Optional[str] = None,
) -> OutcomeDict:
    """Writes one bundle for a failed exchange now, on the calling thread (the GIL released).
    ``request_missing``: the request was not captured; how to capture it next time (the report says so)."""

def replay(
    *,
    data: Optional[bytes] = None,
    path: Optional[_Path] = None,
    name: str = "request.json",
    endpoint: Optional[str] = None,
    har_entry: Optional[int] = None,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    timeout: float = 120.0,
    platform: Optional[str] = None,
    no_key: bool = False,
    options: Optional[Mapping[str, Any]] = None,
) -> OutcomeDict:
    """Replays a request (exactly one of ``data`` and ``path``) and writes a bundle."""

def scrub(text: str, secrets: Sequence[str] = ..., *, scan_env: bool = True, redact_content: bool = False) -> str: ...
def verify(path: _Path, secrets: Sequence[str] = ..., *, scan_env: bool = True) -> VerifyDict: ...
def judge_stream(status: int, headers: _Headers, body: bytes) -> Optional[str]:
    """Why a stream response failed, or None when it is complete and sound."""

def spool(dir: _Path) -> List[Tuple[str, int]]: ...
def cli_main(argv: List[str]) -> int:
    """Runs the ``cohere-bundle`` command line (``argv[0]`` is the program name); returns the exit code."""

