"""File integrity for the NHANES cache: XPT validation, the manifest, and a cache key.

The manifest (``manifest.json`` in the data directory) records, per file stem (``DEMO_G``),
the file name on disk, its size, sha256, source URL and download time (UTC, ISO 8601). It is
what lets a later run trust a cached file without fetching it again, and what lets the book's
execution cache notice that the data changed (:func:`manifest_hash`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nhmg_lib.data.atomic import atomic_write
from nhmg_lib.data.filecache import file_digest

MANIFEST_NAME = "manifest.json"
_FORMAT_VERSION = 1

#: First 48 bytes of a SAS transport version 5 file.
XPT_MAGIC = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
#: ... and of either version (v8 is what ``pyreadstat.write_xport`` writes by default).
XPT_MAGICS = (XPT_MAGIC, b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!")
#: Transport files are written in 80-byte card images; a partial record means truncation.
XPT_RECORD = 80


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (hashlib releases the GIL for these)."""
    return file_digest(path, "sha256")


def describe_non_xpt(head: bytes) -> str:
    """Short reason for a body whose first bytes are not an XPT header (HTML pages named)."""
    text = head[:512].lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text or b"<head" in text:
        return ("not an XPT file: the server sent an HTML page instead, which is how the CDC "
                "site answers for a file that has moved")
    if not head:
        return "not an XPT file: the body is empty"
    return f"not an XPT file: it starts with {head[:24]!r} instead of a SAS transport header"


def check_xpt(path: Path, expected_size: int | None = None) -> str | None:
    """Why ``path`` is not a complete SAS transport file, or ``None`` if it is one.

    Checks, cheapest first: the expected size (the HTTP Content-Length), the header record,
    the 80-byte record structure, and that pyreadstat can read the metadata.
    """
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        return f"truncated: received {size:,} of {expected_size:,} bytes"
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head.startswith(XPT_MAGICS):
        return describe_non_xpt(head)
    if size % XPT_RECORD:
        return f"truncated: {size:,} bytes is not a whole number of 80-byte XPT records"
    import pyreadstat  # here: the manifest alone (``verify``) should not load pandas

    try:
        pyreadstat.read_xport(str(path), metadataonly=True)
    except Exception as exc:  # pyreadstat raises its own ReadstatError and plain exceptions
        return f"not a readable XPT file (pyreadstat: {exc})"
    from nhmg_lib.data.xpt import xpt_layout

    layout = xpt_layout(path)  # v5 has no row count: a cut file may still read "fine"
    if isinstance(layout, str) or layout.problem:
        return layout if isinstance(layout, str) else layout.problem
    return None


def new_entry(path: Path, url: str | None) -> dict[str, Any]:
    """Manifest entry for a file that has just been validated (``url=None``: placed by hand)."""
    stat = path.stat()
    return {
        "file": path.name,
        "size": stat.st_size,
        "sha256": sha256_file(path),
        "url": url,
        "downloaded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mtime_ns": stat.st_mtime_ns,
    }


def verify_entry(path: Path, entry: dict[str, Any]) -> str | None:
    """Why ``path`` does not match its manifest entry, or ``None`` if size and sha256 agree."""
    size = path.stat().st_size
    if size != entry.get("size"):
        return f"its size {size:,} differs from the manifest's {entry.get('size')!r}"
    if sha256_file(path) != entry.get("sha256"):
        return "its sha256 differs from the manifest's"
    return None


def load_manifest(data_dir: Path) -> tuple[dict[str, dict[str, Any]], bool]:
    """Entries keyed by file stem, and whether a manifest file existed but was unreadable.

    An unreadable manifest is not fatal: every file is then validated again from its bytes.
    """
    path = Path(data_dir) / MANIFEST_NAME
    if not path.exists():
        return {}, False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
            raise ValueError("'files' is not a mapping of entries")
        return files, False
    except (OSError, ValueError, KeyError, TypeError):
        return {}, True


def save_manifest(data_dir: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Write the manifest atomically, so a crash mid-write never leaves half a JSON file."""
    data_dir = Path(data_dir)
    body = json.dumps({"format": _FORMAT_VERSION, "files": dict(sorted(entries.items()))},
                      indent=2, sort_keys=True)
    with atomic_write(data_dir / MANIFEST_NAME) as fh:
        fh.write(body + "\n")


def manifest_hash(data_dir: Path | str) -> str:
    """Short stable hash of the XPT files' contents in ``data_dir`` (a cache key).

    It is the sha256 of the sorted (upper-cased file stem, file sha256) pairs, so it depends
    only on the bytes and names of the files, not on letter case, mtimes or whether a
    manifest exists. A file's sha256 is computed once per version of the file
    (:mod:`nhmg_lib.data.filecache`), never trusted from size and mtime alone. An empty or
    missing directory hashes to a constant.
    """
    from nhmg_lib.data import filecache

    data_dir = Path(data_dir)
    pairs: list[tuple[str, str]] = []
    files = sorted(data_dir.iterdir()) if data_dir.is_dir() else []
    for path in files:
        if path.is_file() and path.suffix.lower() == ".xpt" and not path.name.startswith("."):
            pairs.append((path.stem.upper(), filecache.sha256(path)))
    filecache.flush()
    digest = hashlib.sha256()
    for stem, sha in sorted(pairs):
        digest.update(f"{stem}\t{sha}\n".encode())
    return digest.hexdigest()[:16]
