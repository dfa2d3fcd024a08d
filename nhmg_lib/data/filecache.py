"""A file's SHA-256 and MD5, computed once per version of the file on disk.

Every command hashes the files of its data folder before using them (the manifest's SHA-256,
the CDC's MD5, the generator's record, the raw cache's key). Reading 130 MB each time would
cost a second, so the digests are kept in ``<cache root>/file-digests.json`` keyed on the
file's identity: device, inode, size, modification time and change time (``st_ctime``). The
change time cannot be set back by a program, so a file edited in place with its size and
modification time restored still gets a new key and is hashed again.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import threading
from pathlib import Path

_NAME = "file-digests.json"
_FORMAT = 1
_lock = threading.Lock()
_store: dict[str, dict] | None = None
_dirty = False


def identity(path: Path | str) -> str:
    """What must stay the same for a cached digest of ``path`` to stay valid."""
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def _cache_file() -> Path:
    """In the cache root of :func:`nhmg_lib.data.datamode.cache_root` (not imported: cycle)."""
    env = os.environ.get("NHMG_CACHE_DIR")
    if env:
        return Path(env).expanduser() / _NAME
    import platformdirs

    return Path(platformdirs.user_cache_dir("nhmg")) / _NAME


def _load() -> dict[str, dict]:
    global _store
    if _store is None:
        try:
            data = json.loads(_cache_file().read_text(encoding="utf-8"))
            _store = data["files"] if data.get("format") == _FORMAT else {}
        except (OSError, ValueError, KeyError, AttributeError):
            _store = {}  # absent or damaged: every digest is computed again
    return _store


def digests(path: Path | str) -> dict[str, str]:
    """``{"sha256": ..., "md5": ...}`` of ``path`` (one read for both, then cached)."""
    global _dirty
    key = str(Path(path).resolve())
    ident = identity(path)
    with _lock:
        hit = _load().get(key)
    if hit and hit.get("id") == ident:
        return {"sha256": hit["sha256"], "md5": hit["md5"]}
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    out = {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}
    if identity(path) == ident:  # not changed while being read
        with _lock:
            old = _load().get(key)
            facts = old.get("facts", {}) if old and old.get("id") == ident else {}
            _load()[key] = {"id": ident, **out, "facts": facts}
            _dirty = True
    return out


def fact(path: Path | str, name: str, compute):
    """``compute()`` (a JSON value) remembered for this version of ``path`` under ``name``.

    ``name`` must hold whatever else the value depends on (e.g. the identity of the DEMO file
    a relation is checked against).
    """
    global _dirty
    key = str(Path(path).resolve())
    ident = identity(path)
    with _lock:
        hit = _load().get(key)
        if hit and hit.get("id") == ident and name in hit.get("facts", {}):
            return hit["facts"][name]
    value = compute()
    if identity(path) == ident:
        with _lock:
            entry = _load().get(key)
            if not entry or entry.get("id") != ident:
                return value  # facts are kept beside the digests of the same version only
            entry.setdefault("facts", {})[name] = value
            _dirty = True
    return value


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest (``hashlib`` algorithm name) of a file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256(path: Path | str) -> str:
    return digests(path)["sha256"]


def md5(path: Path | str) -> str:
    return digests(path)["md5"]


def flush() -> None:
    """Save new digests; a cache folder that cannot be written only costs speed."""
    global _dirty
    from nhmg_lib.data.atomic import atomic_write

    with _lock:
        if not _dirty or _store is None:
            return
        for gone in [k for k in _store if not os.path.exists(k)]:  # deleted files
            del _store[gone]
        body = json.dumps({"format": _FORMAT, "files": _store}, sort_keys=True)
        _dirty = False
    try:
        with atomic_write(_cache_file()) as fh:
            fh.write(body + "\n")
    except OSError:
        pass


def forget() -> None:
    """Drop the in-memory copy (the next call reads the cache file again)."""
    global _store, _dirty
    with _lock:
        _store, _dirty = None, False


atexit.register(flush)

__all__ = ["file_digest", "digests", "fact", "sha256", "md5", "identity", "flush", "forget"]
