"""Write an output whole or not at all: a temporary file in the same folder, fsync, rename.

Every file the package writes (results, cohort CSV, flow, caches, manifest) goes through
:func:`atomic_write` (a file object) or :func:`atomic_path` (a temporary path, for writers
that want a file name, such as ``DataFrame.to_parquet``). A failure -- a full disk, a name
too long, a read-only folder, Ctrl-C -- removes the temporary file and leaves the previous
file at ``path`` as it was; an ``OSError`` becomes an :class:`OutputError` naming the path and
the cause.
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from nhmg_lib.errors import NhmgError


class OutputError(NhmgError, OSError):
    """An output could not be written; the previous file at that path is untouched.

    Also an ``OSError``, so code that treats an unwritable cache as a mere loss of speed
    (``except OSError``) keeps doing so.
    """


_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.ENAMETOOLONG: "the file name is too long for the file system",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (a read-only folder or file)",
    errno.EPERM: "permission denied (a read-only folder or file)",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a directory",
}

# The process umask, read once (reading it means setting it), so outputs get the usual
# permissions instead of mkstemp's 0600.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def describe(exc: OSError) -> str:
    """The cause of ``exc`` in words (``no space left on the device``, ...)."""
    return _CAUSES.get(exc.errno, exc.strerror or str(exc) or type(exc).__name__)


def output_error(path: Path | str, exc: OSError) -> OutputError:
    """An :class:`OutputError` for ``path`` failed with ``exc``."""
    if isinstance(exc, OutputError):
        return exc
    err = OutputError(f"Cannot write {path}: {describe(exc)}. Any previous file there is "
                      "left unchanged.")
    err.errno = exc.errno
    return err


@contextmanager
def atomic_path(path: Path | str, *, mkdir: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) that replaces ``path`` on success.

    The caller writes the temporary file by name; when the block ends without an exception
    the file is flushed to disk and renamed over ``path``. On any exception the temporary
    file is removed and ``path`` is untouched; an ``OSError`` is raised as an
    :class:`OutputError` naming ``path``.
    """
    with atomic_paths(path, mkdir=mkdir) as (tmp,):
        yield tmp


@contextmanager
def atomic_paths(*paths: Path | str, mkdir: bool = True) -> Iterator[list[Path]]:
    """:func:`atomic_path` for files that belong together (a cohort CSV and its flow): every
    file is on disk before the first rename, so a failure leaves all the previous files."""
    paths = [Path(p) for p in paths]
    tmps: list[Path] = []
    current = paths[0]
    try:
        for path in paths:
            current = path
            if mkdir:
                path.parent.mkdir(parents=True, exist_ok=True)
            # A short prefix: the temporary name must fit even when the final name barely does.
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:24]}.",
                                        suffix=f".tmp{path.suffix[:12]}")
            os.close(fd)
            tmps.append(Path(name))
        yield list(tmps)
        for path, tmp in zip(paths, tmps):
            current = path
            _fsync(tmp)
            os.chmod(tmp, 0o666 & ~_UMASK)
        while tmps:
            current = paths[len(paths) - len(tmps)]
            os.replace(tmps[0], current)
            tmps.pop(0)
            _fsync_dir(current.parent)
    except OSError as exc:
        raise output_error(current, exc) from None
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_write(path: Path | str, mode: str = "w", *, encoding: str | None = "utf-8",
                 mkdir: bool = True) -> Iterator[IO]:
    """``open(path, mode)`` for writing, made atomic by :func:`atomic_path`.

    ``mode`` is ``"w"`` (text, ``encoding``) or ``"wb"``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', not {mode!r}")
    with atomic_path(path, mkdir=mkdir) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; not every platform can open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["atomic_write", "atomic_path", "atomic_paths", "OutputError", "output_error", "describe"]
