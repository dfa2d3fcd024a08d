"""The synthetic-data generator's record of the files it wrote (in its ``SYNTHETIC`` marker).

The label covers these files only -- by name and SHA-256 -- so a real file later put beside
them, or a label copied into a folder of real files, is still checked as NHANES data.
"""

from __future__ import annotations

import os
from pathlib import Path

from nhmg_lib.data import filecache
from nhmg_lib.data.atomic import atomic_write

#: Name of the marker file written next to the XPT files.
MARKER = "SYNTHETIC"

_RECORD = "file sha256: "


def generated_files(data_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The files the generator wrote in ``data_dir`` (file name -> SHA-256), from its marker.

    A file whose name or bytes are not in this record is not synthetic, label or not.
    """
    path = Path(data_dir) / MARKER
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(_RECORD):
            sha, _, name = line[len(_RECORD):].partition(" ")
            if len(sha) == 64 and name:
                out[name] = sha
    return out


def record_generated(data_dir: str | os.PathLike[str], paths: list[Path]) -> None:
    """Add ``paths`` (files just written by the generator) to the record in the marker.

    The record is what the SYNTHETIC label covers: a real file later put beside these (or
    a label copied into a real folder) is still checked as NHANES data.
    """
    marker = Path(data_dir) / MARKER
    text = marker.read_text() if marker.is_file() else ""
    made = generated_files(data_dir)
    made.update({p.name: filecache.sha256(p) for p in paths if p.suffix.lower() == ".xpt"})
    keep = [line for line in text.splitlines() if not line.startswith(_RECORD)]
    with atomic_write(marker) as fh:
        fh.write("".join(f"{line}\n" for line in keep)
                 + "".join(f"{_RECORD}{sha} {name}\n" for name, sha in sorted(made.items())))
    filecache.flush()


__all__ = ["MARKER", "generated_files", "record_generated"]
