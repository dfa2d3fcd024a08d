"""Fetch one NHANES file over HTTP into ``<name>.part``, with retries, backoff and resume.

:mod:`nhmg_lib.data.sources` decides *which* files to fetch and records them; this module only
moves bytes and sorts failures into three kinds, because each needs a different reaction:
a *permanent* failure (404, an HTML page) is not retried, a *transient* one (500, stall,
truncation, dropped connection) is retried with exponential backoff and resumed with an HTTP
Range request, and an *unreachable* host (refused, DNS, connect timeout) is tried only
briefly and then stops every other transfer, so an offline machine fails in seconds.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests
import urllib3.exceptions

from nhmg_lib import __version__
from nhmg_lib.data.manifest import XPT_MAGIC, XPT_MAGICS, check_xpt, describe_non_xpt

_CHUNK = 1 << 16
#: Connect failures retried this many times (after the first) before the host counts as down.
CONNECT_RETRIES = 1
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}

#: Default seconds to wait for a connection, and for the next bytes of an answer: a server
#: silent for ``READ_TIMEOUT`` s has stalled, and the attempt is retried. 20 s is far above
#: the pauses of a healthy transfer, yet a stalled file fails within :func:`stall_bound`
#: (about 1.5 min with these defaults; 60 s took 4 min).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
#: Default retries of a transient failure, and the first wait between attempts (doubling).
RETRIES = 3
BACKOFF = 1.0


def stall_bound(timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
                retries: int = RETRIES, backoff: float = BACKOFF) -> float:
    """Longest a file can take to fail when the server stalls at every attempt: ``retries + 1``
    read timeouts plus the waits between them (``backoff``, ``2 * backoff``, ...)."""
    return (retries + 1) * float(timeout[1]) + backoff * (2 ** retries - 1)


class FetchFailed(Exception):
    """A file could not be fetched.

    ``kind`` is ``permanent``, ``transient``, ``unreachable``, ``cancelled`` or ``deadline``
    (the run's overall time limit passed; the partial file is kept for a later resume).
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass
class FetchContext:
    """What every transfer of one download run shares."""

    timeout: tuple[float, float]
    retries: int
    backoff: float
    on_bytes: Callable[[int], None] = lambda n: None
    on_total: Callable[[int], None] = lambda n: None
    unreachable: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)  # Ctrl-C: stop soon
    deadline: float | None = None  # time.monotonic() after which every transfer stops
    deadline_seconds: float | None = None
    _local: threading.local = field(default_factory=threading.local)
    _open: set = field(default_factory=set)  # responses being read, to wake on a stop
    _open_lock: threading.Lock = field(default_factory=threading.Lock)

    def interrupt(self) -> None:
        """Ctrl-C: every transfer stops now, even one blocked waiting for a silent server."""
        self.cancelled.set()
        self.wake()

    def wake(self) -> None:
        """Shut down the sockets being read, so a blocked read returns at once; each transfer
        then sees why (cancelled, the deadline) and stops with that reason."""
        with self._open_lock:
            responses = list(self._open)
        for resp in responses:
            sock = getattr(getattr(resp.raw, "connection", None), "sock", None)
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def timeout_now(self) -> tuple[float, float]:
        """The (connect, read) timeouts of a new request: never past the deadline, so a
        server silent before its headers cannot hold a transfer beyond it."""
        if self.deadline is None:
            return self.timeout
        left = max(0.05, self.deadline - time.monotonic())
        return (min(self.timeout[0], left), min(self.timeout[1], left))

    def session(self) -> requests.Session:
        """One session per worker thread: requests sessions are not safe to share."""
        if not hasattr(self._local, "session"):
            session = requests.Session()
            # Identity encoding keeps Content-Length equal to the bytes written to disk.
            session.headers.update({"User-Agent": f"nhmg-lib/{__version__}",
                                    "Accept-Encoding": "identity"})
            self._local.session = session
        return self._local.session


def _walk(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (requests nests urllib3 errors in ``args``)."""
    out, todo = [], [exc]
    while todo:
        cur = todo.pop()
        if any(cur is seen for seen in out):
            continue
        out.append(cur)
        todo += [a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]
        todo += [e for e in (cur.__cause__, cur.__context__, getattr(cur, "reason", None))
                 if isinstance(e, BaseException)]
    return out


def classify(exc: BaseException, timeout: tuple[float, float], received: int | None = None,
             total: int | None = None) -> FetchFailed:
    """Turn a requests/urllib3 exception into a ``FetchFailed`` with a readable reason."""
    chain = _walk(exc)
    # NewConnectionError and NameResolutionError subclass ConnectTimeoutError in urllib3 2.
    connect_errors = (urllib3.exceptions.ConnectTimeoutError, requests.ConnectTimeout,
                      ConnectionRefusedError)
    if any(isinstance(e, connect_errors) for e in chain):
        if any(isinstance(e, urllib3.exceptions.NameResolutionError) for e in chain):
            why = "the host name could not be resolved"
        elif any(isinstance(e, (ConnectionRefusedError, urllib3.exceptions.NewConnectionError))
                 for e in chain):
            why = "the connection was refused"
        else:
            why = f"no answer within the {timeout[0]:g} s connect timeout"
        return FetchFailed("unreachable", f"cannot connect to the server: {why}")
    if any(isinstance(e, (urllib3.exceptions.ReadTimeoutError, requests.Timeout, TimeoutError))
           for e in chain):
        return FetchFailed("transient", f"the server stalled: no data for {timeout[1]:g} s "
                                        "(read timeout)")
    if received is not None and total is not None and received < total:
        return FetchFailed("transient", f"truncated body: received {received:,} of {total:,} "
                                        "bytes before the connection closed")
    if received is not None:
        return FetchFailed("transient", f"the connection dropped after {received:,} bytes")
    return FetchFailed("transient", "the connection dropped before a response arrived")


def _content_range_total(header: str) -> int | None:
    """Full size from a ``Content-Range: bytes a-b/N`` header, or ``None`` if not given."""
    total = header.rsplit("/", 1)[-1] if "/" in header else ""
    return int(total) if total.isdigit() else None


def _request(url: str, part: Path, ctx: FetchContext,
             state: dict) -> tuple[requests.Response, int, int | None]:
    """Send the request (a Range one if ``part`` has bytes) and judge the status line.

    Returns the open response, the offset its body starts at, and the full file size.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if state.get("validator"):  # resume only if the file has not changed since
            headers["If-Range"] = state["validator"]
    try:
        resp = ctx.session().get(url, headers=headers, stream=True, timeout=ctx.timeout_now())
    except requests.RequestException as exc:
        raise _stopped(ctx) or classify(exc, ctx.timeout) from None
    code, status = resp.status_code, f"{resp.status_code} {resp.reason or ''}".strip()
    if code == 206 and offset:
        total = _content_range_total(resp.headers.get("Content-Range", ""))
    elif code == 200:
        length = resp.headers.get("Content-Length", "")
        offset, total = 0, (int(length) if length.isdigit() else None)
    else:
        resp.close()
        if code == 416 and offset and state.get("length_unknown") and \
                _content_range_total(resp.headers.get("Content-Range", "")) == offset:
            return None, offset, offset  # nothing after our last byte: the body was whole
        if code == 416 and offset:
            part.unlink(missing_ok=True)  # our partial file is unusable: start over
            raise FetchFailed("transient", "the server refused to resume the partial file")
        if code in (404, 410):
            raise FetchFailed("permanent", f"the server answered {status}: the file is not "
                                           "at this address (it may have moved)")
        kind = "transient" if code in _RETRY_STATUS or code >= 500 else "permanent"
        raise FetchFailed(kind, f"the server answered {status}")
    state["validator"] = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
    sidecar = _validator_file(part)
    try:
        if state["validator"]:
            sidecar.write_text(state["validator"] + "\n")
        else:
            sidecar.unlink(missing_ok=True)
    except OSError:
        pass  # without it a later run restarts this file instead of resuming it
    return resp, offset, total


def _validator_file(part: Path) -> Path:
    """Where the ETag (or Last-Modified) of a partial file's response is kept for If-Range."""
    return part.with_name(part.name + ".validator")


def _past_deadline(ctx: FetchContext) -> FetchFailed | None:
    if ctx.deadline is not None and time.monotonic() > ctx.deadline:
        return FetchFailed("deadline", f"stopped: the overall time limit of "
                                       f"{ctx.deadline_seconds or 0:g} s passed (run again to resume)")
    return None


def _stopped(ctx: FetchContext) -> FetchFailed | None:
    """Why the run stops (Ctrl-C, the deadline), if it does: read errors after a stop are
    only its echo (:meth:`FetchContext.wake` shut the socket down)."""
    if ctx.cancelled.is_set():
        return FetchFailed("cancelled", "the download was interrupted")
    return _past_deadline(ctx)


def _body(resp: requests.Response):
    """The body as it arrives: whatever bytes the socket has (up to ``_CHUNK``), not
    ``_CHUNK`` at a time, so the checks between chunks run even while a server trickles."""
    raw = resp.raw
    while True:
        chunk = raw.read1(_CHUNK)
        if not chunk:
            return
        yield chunk


def _attempt(url: str, part: Path, ctx: FetchContext, state: dict) -> None:
    """One HTTP request writing or appending to ``part``; raises ``FetchFailed`` on failure."""
    resp, offset, total = _request(url, part, ctx, state)
    if resp is None:  # the end of a body sent without Content-Length is confirmed
        state.pop("length_unknown", None)
        _check_whole(part, total)
        return
    if total is not None and not state.get("total_reported"):
        ctx.on_total(total)
        ctx.on_bytes(offset)
        state["total_reported"] = True
    sniff = b""  # first bytes of a fresh body, to reject HTML pages before saving them
    with ctx._open_lock:
        ctx._open.add(resp)
    try:
        with resp, open(part, "ab" if offset else "wb") as fh:
            for chunk in _body(resp):
                stop = _stopped(ctx)
                if stop:
                    raise stop
                if offset == 0 and len(sniff) < 512:
                    sniff += chunk[: 512 - len(sniff)]
                    if len(sniff) >= len(XPT_MAGIC) and not sniff.startswith(XPT_MAGICS):
                        raise FetchFailed("permanent", describe_non_xpt(sniff))
                fh.write(chunk)
                state["received"] += len(chunk)
                ctx.on_bytes(len(chunk))
            stop = _stopped(ctx)
            if stop:  # the body "ended" because a stop shut its socket down
                raise stop
        if offset == 0 and not sniff.startswith(XPT_MAGICS):  # a body shorter than the magic
            raise FetchFailed("permanent", describe_non_xpt(sniff))
    except FetchFailed as failed:
        if failed.kind not in ("cancelled", "deadline"):  # an interrupted part is kept
            part.unlink(missing_ok=True)
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise _stopped(ctx) or classify(exc, ctx.timeout, part.stat().st_size, total) from None
    except OSError as exc:  # the local disk, not the server: retrying will not help
        stop = _stopped(ctx)
        if stop:  # a socket error after a stop woke the read
            raise stop from None
        part.unlink(missing_ok=True)
        raise FetchFailed("permanent", f"cannot write {part}: {exc.strerror or exc}") from None
    finally:
        with ctx._open_lock:
            ctx._open.discard(resp)
    if total is None:
        # Only the closed connection ended this body: a cut one looks the same. Ask for the
        # bytes after it (Range + If-Range): a 416 confirms the end, a 206 sends the rest.
        state["length_unknown"] = True
        if part.stat().st_size % 80 == 0 and part.stat().st_size:
            raise FetchFailed("transient", "the server sent no Content-Length and the body "
                                           "could not be confirmed whole")
    _check_whole(part, total)


def _check_whole(part: Path, total: int | None) -> None:
    """The XPT and known-release checks of a fetched body; raises ``FetchFailed``."""
    problem = check_xpt(part, total)
    if problem:
        if not problem.startswith("truncated"):
            part.unlink(missing_ok=True)  # bad bytes: the next attempt starts from scratch
        raise FetchFailed("transient", problem)
    # Judge the whole file by the name it will get: a known CDC file must have its recorded
    # size or row count, and no file may hold another file's data set. Without a
    # Content-Length this is the only proof the body is whole.
    from nhmg_lib.data.releases import verify_file

    final_name = part.name[:-len(".part")] if part.name.endswith(".part") else part.name
    check = verify_file(part, name=final_name)
    if check.damaged:
        part.unlink(missing_ok=True)
        reason = check.message.split(". Delete ")[0]
        raise FetchFailed("permanent", f"the server sent a file that fails the checks: {reason}")


def fetch(url: str, part: Path, ctx: FetchContext) -> int:
    """Fetch ``url`` into ``part`` (resuming a leftover), retrying transient failures.

    Returns the bytes received over the network. Raises ``FetchFailed`` with the last reason
    once retries are spent; a partial ``part`` file is kept so a later run can resume it.
    A resumed request carries ``If-Range`` with the ETag (or Last-Modified) of the response
    the partial file came from, kept beside it as ``<part>.validator``; a leftover without
    one is deleted and fetched from the start, so two releases are never spliced.
    """
    state: dict = {"received": 0}
    sidecar = _validator_file(part)
    if part.exists():
        saved = sidecar.read_text().strip() if sidecar.is_file() else ""
        if saved:
            state["validator"] = saved  # resumed with If-Range: a changed file comes whole
        else:  # a leftover nobody can vouch for: splicing it onto another release is worse
            part.unlink()
    failures, connect_failures = 0, 0
    while True:
        if ctx.cancelled.is_set():
            raise FetchFailed("cancelled", "the download was interrupted")
        late = _past_deadline(ctx)
        if late:
            raise late
        if ctx.unreachable.is_set():
            raise FetchFailed("unreachable", "not attempted: the server could not be reached")
        try:
            _attempt(url, part, ctx, state)
            sidecar.unlink(missing_ok=True)
            return state["received"]
        except FetchFailed as failed:
            if not part.exists():
                sidecar.unlink(missing_ok=True)
                state.pop("validator", None)
            if failed.kind in ("permanent", "cancelled", "deadline"):
                raise
            if failed.kind == "unreachable":
                connect_failures += 1
                if connect_failures > CONNECT_RETRIES:
                    ctx.unreachable.set()
                    raise
                ctx.cancelled.wait(min(ctx.backoff, 1.0))  # Ctrl-C ends the wait
                continue
            failures += 1
            if failures > ctx.retries:
                raise FetchFailed("transient", f"{failed.reason} (gave up after "
                                               f"{failures} attempts)") from None
            pause = ctx.backoff * 2 ** (failures - 1)
            if ctx.deadline is not None:
                pause = max(0.0, min(pause, ctx.deadline - time.monotonic()))
            ctx.cancelled.wait(pause)  # Ctrl-C ends the wait
