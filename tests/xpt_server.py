"""A local stand-in for the CDC file server: serves generated XPT files and injects faults.

Usage::

    with XptServer({"DEMO_G": make_xpt("DEMO_G")}) as server:
        server.fault("DEMO_G", "500", "500")     # the next two requests fail, then it recovers
        download(base_url=server.base_url, ...)
        server.hits["DEMO_G"]                    # requests seen for that file

Files are served at ``/<start year>/DataFiles/<NAME>.xpt`` like the CDC site, on 127.0.0.1
and a free port chosen by the OS. Single-range ``Range: bytes=N-`` requests get a 206.

Faults (one is consumed per request; ``None`` serves normally):
``"404"``, ``"500"``: that status with a short body; ``"html"``: a 200 HTML page, as the CDC
site sends for moved files; ``"truncate"``: full Content-Length, half the body, then close;
``"drop"``: close the connection without answering; ``"stall"``: headers and a few bytes,
then silence until the server stops; ``"stall_headers"``: silence before any header;
``"no_range"``: ignore a Range header and send the whole file with 200; ``"no_length"``:
no Content-Length, the body cut on an 80-byte record boundary, then close (a 200 response
whose end is only the closed connection); ``"whole_no_length"``: the same with the whole body;
``"trickle"``: headers, then 64 bytes every 50 ms (never a long silence, never done in time).

Every 200/206 carries an ``ETag`` (the body's MD5); a request with ``If-Range`` that does not
match it gets the whole file with 200, as HTTP says.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from nhmg_lib.data.catalog import CYCLES

_HTML = (b"<!DOCTYPE html><html><head><title>Page Not Found | CDC</title></head>"
         b"<body><h1>Page not found</h1><p>The page you requested has moved.</p></body></html>")


def make_xpt(name: str, rows: int = 5, seed: int = 0) -> bytes:
    """Bytes of a small SAS v5 transport file with table ``name``, ``SEQN`` and a value column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"SEQN": np.arange(1, rows + 1, dtype=float),
                          "VALUE": rng.normal(size=rows).round(3)})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.xpt"
        pyreadstat.write_xport(frame, str(path), file_format_version=5, table_name=name[:8])
        return path.read_bytes()


def url_path(name: str) -> str:
    """Server path of file stem ``name`` (``DEMO_G`` -> ``/2011/DataFiles/DEMO_G.xpt``)."""
    return f"/{CYCLES[name.rsplit('_', 1)[1]][0]}/DataFiles/{name}.xpt"


class XptServer:
    """Threaded HTTP server on 127.0.0.1 with per-file fault queues and request counters."""

    def __init__(self, files: dict[str, bytes], delay: float = 0.0) -> None:
        self.files = dict(files)
        self.delay = delay  # seconds before each answer, to make parallel requests overlap
        self.hits: Counter[str] = Counter()
        self.ranges: list[tuple[str, str | None]] = []  # (name, Range header) per request
        self.if_ranges: list[tuple[str, str]] = []  # (name, If-Range header) when sent
        self.max_active = 0
        self._active = 0
        self._faults: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def etag(self, name: str) -> str:
        """The ETag the server sends for ``name``."""
        return f'"{hashlib.md5(self.files[name]).hexdigest()}"'

    def fault(self, name: str, *faults: str | None) -> None:
        """Queue faults for the next requests of ``name`` (one consumed per request)."""
        with self._lock:
            self._faults[name].extend(faults)

    def next_fault(self, name: str) -> str | None:
        with self._lock:
            queue = self._faults.get(name)
            return queue.popleft() if queue else None

    def __enter__(self) -> "XptServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # releases stalled handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def _make_handler(server: XptServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _headers(self, status: int, length: int, extra: dict) -> None:
            """Status line and headers of a body of ``length`` bytes (``extra`` added)."""
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()

        def do_GET(self) -> None:
            match = re.fullmatch(r"/(\d{4})/DataFiles/([A-Za-z0-9_]+)\.xpt", self.path)
            name = match.group(2) if match else self.path
            with server._lock:
                server.hits[name] += 1
                server.ranges.append((name, self.headers.get("Range")))
                if self.headers.get("If-Range"):
                    server.if_ranges.append((name, self.headers["If-Range"]))
                server._active += 1
                server.max_active = max(server.max_active, server._active)
            try:
                server._stop.wait(server.delay)
                self._answer(name, server.files.get(name) if match else None,
                             server.next_fault(name))
            finally:
                with server._lock:
                    server._active -= 1

        def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _answer(self, name: str, body: bytes | None, fault: str | None) -> None:
            if fault in ("drop", "stall_headers"):
                if fault == "stall_headers":
                    server._stop.wait(30)
                self.close_connection = True
                return
            if fault in ("404", "500") or body is None:
                status = 500 if fault == "500" else 404
                self.close_connection = True
                return self._send(status, _HTML, "text/html")
            if fault == "html":
                return self._send(200, _HTML, "text/html; charset=utf-8")
            tag = f'"{hashlib.md5(body).hexdigest()}"'
            etag = {"ETag": tag}
            start = _range_start(self.headers.get("Range"))
            if_range = self.headers.get("If-Range")
            if start is not None and fault != "no_range" and if_range in (None, tag):
                if start >= len(body):
                    return self._send(416, b"", "text/plain",
                                      {"Content-Range": f"bytes */{len(body)}"})
                extra = {**etag, "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
                status, body = 206, body[start:]
            else:
                status, extra = 200, etag
            if fault in ("no_length", "whole_no_length"):
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Connection", "close")
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                cut = len(body) if fault == "whole_no_length" else len(body) // 2 // 80 * 80
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            if fault == "trickle":
                self._headers(status, len(body), extra)
                sent = 0
                while sent < len(body) and not server._stop.is_set():
                    try:
                        self.wfile.write(body[sent:sent + 64])
                        self.wfile.flush()
                    except OSError:  # the client hung up
                        break
                    sent += 64
                    server._stop.wait(0.05)
                self.close_connection = True
                return
            if fault in ("truncate", "stall"):
                self._headers(status, len(body), extra)
                self.wfile.write(body[: len(body) // 2] if fault == "truncate" else body[:160])
                self.wfile.flush()
                if fault == "stall":
                    server._stop.wait(30)
                self.close_connection = True
                return
            self._send(status, body, "application/octet-stream", extra)

    return Handler


def _range_start(header: str | None) -> int | None:
    """Start of a ``bytes=N-`` range (the only form the downloader sends), else ``None``."""
    match = re.fullmatch(r"bytes=(\d+)-", header or "")
    return int(match.group(1)) if match else None
