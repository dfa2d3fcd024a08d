"""Where the fits run: local worker processes that die with their parent, or a
``dask.distributed`` cluster checked before any work is sent.

* Workers set ``PR_SET_PDEATHSIG`` (Linux): the kernel sends them SIGKILL when the parent
  dies, however it dies (SIGTERM, SIGKILL). They ignore SIGINT: a Ctrl-C reaches the parent,
  which stops waiting, cancels what is queued and terminates the workers at once (a
  ``with ProcessPoolExecutor`` block would wait for every queued task first).
* ``progress`` is told each finished item, so long loops can show the time left.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence

from nhmg_lib.analyses.multiverse.grid import MultiverseError
from nhmg_lib.analyses.workers import die_with_parent

#: Seconds allowed to reach a scheduler before the run is refused.
CONNECT_TIMEOUT = 5.0


def check_scheduler(scheduler: str | None) -> None:
    """A clear error, within seconds, for a scheduler that cannot be used: dask.distributed
    missing, an address that is not one, or nothing answering there."""
    if not scheduler:
        return
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise MultiverseError(
            "--scheduler needs the dask.distributed package (PyPI: distributed); "
            "without it the run uses local processes") from None
    from urllib.parse import urlsplit

    parts = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port or parts.scheme not in ("tcp", "tls", "ws", "wss") or " " in scheduler:
        raise MultiverseError(f"--scheduler {scheduler!r} is not a scheduler address; expected "
                              "tcp://HOST:PORT (e.g. tcp://127.0.0.1:8786)")
    import socket

    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise MultiverseError(f"--scheduler {scheduler}: no scheduler answers there ({exc}); "
                              "start one (dask scheduler) or leave --scheduler out to use local "
                              "processes") from None


def run_all(fn: Callable[[Any], Any], items: Sequence[Any] | Any, *, workers: int | None = None,
            scheduler: str | None = None, progress: Callable[[int, int], None] | None = None
            ) -> list[Any]:
    """``[fn(x) for x in items]`` in local processes (``workers``, default every core; 1 =
    in this process) or on the ``dask.distributed`` cluster at ``scheduler``; ``progress(done,
    total)`` after each item."""
    items = list(items)
    total = len(items)
    tick = progress or (lambda done, total: None)
    if scheduler:
        check_scheduler(scheduler)
        from dask.distributed import Client, as_completed

        with Client(scheduler, timeout=CONNECT_TIMEOUT) as client:
            futures = client.map(fn, items, pure=False)
            for done, _ in enumerate(as_completed(futures), 1):
                tick(done, total)
            return client.gather(futures)
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or total <= 1:
        out = []
        for x in items:
            out.append(fn(x))
            tick(len(out), total)
        return out
    ex = ProcessPoolExecutor(max_workers=min(workers, total), initializer=die_with_parent,
                             initargs=(os.getpid(),))
    try:
        futures = [ex.submit(fn, x) for x in items]
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                f.result()   # a worker's error stops the run here
            tick(total - len(pending), total)
        out = [f.result() for f in futures]
        ex.shutdown(wait=True)   # inside: a Ctrl-C while it waits must still kill the workers
    except BaseException:
        _terminate(ex)
        raise
    return out


def _terminate(ex: ProcessPoolExecutor) -> None:
    """Stop at once: cancel what is queued and kill the workers (not waiting for them)."""
    procs = list(getattr(ex, "_processes", {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.kill()
    for p in procs:
        p.join(timeout=2)


class Progress:
    """``done/total`` and the estimated time left, on stderr, at most every ``every`` s."""

    def __init__(self, label: str, stream=None, every: float = 2.0) -> None:
        self.label, self.stream, self.every = label, stream, every
        self.start = time.perf_counter()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.stream is None:
            return
        now = time.perf_counter() - self.start
        if done < total and now - self.last < self.every:
            return
        self.last = now
        left = now / done * (total - done) if done else float("nan")
        print(f"{self.label}: {done}/{total} done, {now:.0f} s so far, about {left:.0f} s left",
              file=self.stream, flush=True)
