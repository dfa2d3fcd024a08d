"""Long loops that stop when asked: worker processes that die with their parent, and
progress bars that give the time left.

* :func:`run_pieces` spreads independent pieces of work over processes. Each worker asks the
  kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``, Linux), so a ``kill -9`` of
  the command leaves no orphan computing for minutes; it ignores Ctrl-C, which reaches the
  whole process group: the parent alone handles it and terminates the pool at once, instead
  of waiting for the running pieces and printing a traceback per worker.
* :func:`progress_bar`: a ``tqdm`` bar on stderr (elapsed, time left, rate) shown only on a
  terminal and never in the book build (``NHMG_BOOK_BUILD``), where it would land in pages.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from typing import Callable, Iterable, TypeVar

from tqdm import tqdm  # plain text bar: the widget variant warns without ipywidgets

__all__ = ["run_pieces", "progress_bar", "show_progress", "die_with_parent"]

T = TypeVar("T")
R = TypeVar("R")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Pool initializer: be killed when ``parent`` exits; leave Ctrl-C to the parent, and
    let the pool's SIGTERM end this worker quietly (a forked worker inherits the parent's
    Python handlers, e.g. the command line's SIGTERM one)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        except (OSError, AttributeError):  # no prctl: the parent's clean-up still applies
            pass
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)


def run_pieces(func: Callable[[T], R], items: Iterable[T], workers: int,
               on_done: Callable[[T], None] | None = None) -> list[R]:
    """``[func(item) for item in items]`` over ``workers`` processes, in order; ``on_done``
    is called with each item as its result arrives (progress). Any exception here, Ctrl-C
    included, terminates the workers before it propagates."""
    items = list(items)
    pool = multiprocessing.get_context().Pool(workers, initializer=die_with_parent,
                                              initargs=(os.getpid(),))
    out: list[R] = []
    try:
        for item, result in zip(items, pool.imap(func, items)):
            out.append(result)
            if on_done is not None:
                on_done(item)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return out


def show_progress() -> bool:
    """Progress bars only for a person at a terminal, never inside the book build."""
    return sys.stderr.isatty() and not os.environ.get("NHMG_BOOK_BUILD")


def progress_bar(total: int, desc: str, unit: str, progress: bool | None = None) -> tqdm:
    """A bar on stderr with the time left, appearing after 1 s; ``progress=None``:
    :func:`show_progress`."""
    show = show_progress() if progress is None else progress
    return tqdm(total=total, desc=desc, unit=unit, disable=not show, delay=1.0, leave=False,
                file=sys.stderr, dynamic_ncols=True)
