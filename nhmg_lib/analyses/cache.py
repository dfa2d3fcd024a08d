"""On-disk cache for bootstrap fits and other arrays that are costly to recompute.

One ``.npz`` file per key under :func:`cache_dir`; writes are atomic (temporary file, then
rename), so an interrupted run never leaves a half-written entry, and a damaged entry reads as
a miss. Keys (:func:`cache_key`) hash the arrays and settings a result depends on.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from nhmg_lib.data.atomic import atomic_write, describe

__all__ = ["CACHE_FORMAT", "cache_dir", "cache_key", "cache_load", "cache_save"]

#: Bump when the meaning of cached arrays changes, so stale entries are ignored.
CACHE_FORMAT = 1


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Directory for cached bootstrap results: ``override``, else ``$NHMG_CACHE_DIR``, else
    the per-user cache directory (``platformdirs``) ``nhmg/mediation``."""
    if override is not None:
        return Path(override)
    env = os.environ.get("NHMG_CACHE_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_cache_dir("nhmg")) / "mediation"


def cache_key(*parts: Any) -> str:
    """A sha256 over arrays (dtype, shape and bytes) and JSON-serialisable values."""
    digest = hashlib.sha256(f"nhmg-cache-{CACHE_FORMAT}".encode())
    for part in parts:
        if isinstance(part, np.ndarray):
            arr = np.ascontiguousarray(part)
            digest.update(f"array:{arr.dtype.str}:{arr.shape}".encode())
            digest.update(arr.tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def cache_load(key: str, directory: str | os.PathLike[str] | None = None
               ) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``key``, or ``None`` when absent or unreadable."""
    path = cache_dir(directory) / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (FileNotFoundError, OSError, ValueError, zipfile.BadZipFile):
        # A damaged entry is treated as a miss and is overwritten by the next save.
        return None


#: Cache directories already warned about (one warning per directory and process).
_WARNED: set[str] = set()


def cache_save(key: str, arrays: dict[str, np.ndarray],
               directory: str | os.PathLike[str] | None = None) -> Path | None:
    """Store ``arrays`` under ``key`` atomically; returns the file path.

    A directory that cannot be written (read-only ``NHMG_CACHE_DIR``, a full disk, a file in
    the way) only costs speed: one warning per directory, then ``None`` and no caching, as the
    readers' cache of the merged NHANES frame does."""
    folder = cache_dir(directory)
    path = folder / f"{key}.npz"
    try:
        with atomic_write(path, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError as exc:  # OutputError too: the previous entry, if any, is untouched
        _warn_unwritable(folder, exc)
        return None
    return path


def _warn_unwritable(folder: Path, exc: OSError) -> None:
    if str(folder) in _WARNED:
        return
    _WARNED.add(str(folder))
    warnings.warn(f"not caching bootstrap results: {folder} is not writable "
                  f"({describe(exc)}); results are computed anew each run. Set "
                  "NHMG_CACHE_DIR to a writable directory to make repeated runs fast.",
                  stacklevel=3)
