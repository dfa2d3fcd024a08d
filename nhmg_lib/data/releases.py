"""Is every file of a data directory a whole NHANES file? Known CDC releases and ``verify``.

XPT version 5 files carry no row count, so a file cut on an 80-byte record boundary reads
"fine" with participants missing. This module answers from facts instead of structure alone:

* :data:`RELEASES` (``cdc_releases.csv``, shipped with the package, sources in its header):
  the byte size and MD5 of the CDC's files, and their row counts where known.
* :func:`xpt_layout` reads only a file's header and last bytes: the table name, the row
  length and the number of rows (counted from the size for v5, read from the header for v8),
  and whether the data end inside a row (a cut file).
* :func:`verify_file` sorts one file into ``known release`` (size and MD5 as recorded),
  ``other release`` (a warning: the CDC re-releases files), ``unknown`` (not listed),
  ``synthetic`` or ``damaged`` (an error naming the file and the fix).
* :func:`verify_dir` does it for every ``.xpt`` file of a directory; :func:`require_intact`
  raises on damage. The cost is a header read per file plus an MD5 of the listed files whose
  size matches the record.
"""

from __future__ import annotations

import csv
import hashlib
import re
import struct
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from nhmg_lib.errors import NhmgError

RELEASES_CSV = Path(__file__).with_name("cdc_releases.csv")
_V5_MAGIC = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
_V8_MAGIC = b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"
_REC = 80
_NAMESTR = 140
_STEM = re.compile(r"^[A-Z0-9]+(_[A-Z0-9]+)*_[A-J]$")

STATUSES = ("known release", "other release", "unknown", "synthetic", "damaged")


class DamagedDataError(NhmgError):
    """A file of the data directory is damaged or is not the file its name says."""


@dataclass(frozen=True)
class Release:
    """What is known of one CDC file: size and MD5 (``None`` if not recorded) and rows."""

    name: str
    bytes: int | None
    md5: str | None
    rows: int | None


@lru_cache(maxsize=1)
def releases() -> dict[str, Release]:
    """The shipped table of known CDC releases, keyed by file stem (``DEMO_G``)."""
    with open(RELEASES_CSV, encoding="utf-8") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    out = {}
    for row in csv.DictReader(lines):
        out[row["file"].upper()] = Release(
            row["file"].upper(), int(row["bytes"]) if row["bytes"] else None,
            row["md5"] or None, int(row["rows"]) if row["rows"] else None)
    return out


@dataclass(frozen=True)
class XptLayout:
    """The parts of an XPT header that decide the file's size."""

    version: int          # 5 or 8
    table: str            # member (data set) name
    nvars: int
    header_bytes: int     # bytes before the first data row
    row_bytes: int
    rows: int
    problem: str | None = None  # why the data part is not whole (e.g. ends inside a row)
    last_seqn: float | None = None  # SEQN of the last row, when the file has a numeric SEQN


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest (``hashlib`` algorithm name) of a file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _md5(path: Path) -> str:
    return file_digest(path, "md5")  # the CDC list records MD5s


def xpt_layout(path: Path) -> XptLayout | str:
    """The header facts of a SAS transport file, or a string saying why it is not one.

    Reads the header (a few kB) and the last bytes only. For v5 the row count is the data
    size over the row length, after the blank padding of the last 80-byte record.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
        if head.startswith(_V5_MAGIC):
            version, obs_tag, nam_tag = 5, b"HEADER RECORD*******OBS     ", b"HEADER RECORD*******NAMESTR"
        elif head.startswith(_V8_MAGIC):
            version, obs_tag, nam_tag = 8, b"HEADER RECORD*******OBSV8   ", b"HEADER RECORD*******NAMSTV8"
        else:
            return "not a SAS transport file (no XPT library header)"
        while head.find(obs_tag) < 0 and len(head) < min(size, 1 << 22):
            more = fh.read(1 << 16)
            if not more:
                break
            head += more
        nam, obs = head.find(nam_tag), head.find(obs_tag)
        if nam < 0 or obs < 0:
            return "truncated: the XPT header is incomplete"
        if head.find(obs_tag, obs + 1) >= 0 or head.count(b"HEADER RECORD*******MEMB") > 1:
            return "holds more than one data set"
        try:
            nvars = int(head[nam + 54:nam + 58])
        except ValueError:
            return "the XPT variable header is unreadable"
        namestrs = head[nam + _REC: nam + _REC + nvars * _NAMESTR]
        if len(namestrs) < nvars * _NAMESTR:
            return "truncated: the XPT variable descriptions are incomplete"
        ends, seqn_pos = [], None
        for i in range(nvars):
            rec = namestrs[i * _NAMESTR:(i + 1) * _NAMESTR]
            length = struct.unpack(">h", rec[4:6])[0]
            pos = struct.unpack(">i", rec[84:88])[0]
            ends.append(pos + length)
            if rec[8:16].strip().upper() == b"SEQN" and rec[0:2] == b"\x00\x01" and length == 8:
                seqn_pos = pos
        row = max(ends, default=0)
        dsc = head.find(b"HEADER RECORD*******DSC")
        width = 32 if version == 8 else 8
        table = (head[dsc + _REC + 8: dsc + _REC + 8 + width].decode("latin-1").strip()
                 if dsc >= 0 else "")
        start = obs + _REC
        data = size - start
        if row <= 0 or data < 0:
            return "the XPT header is inconsistent (no row length)"
        if version == 8:
            try:
                rows = int(head[obs + 48: obs + 63])
            except ValueError:
                rows = -1
            expected = start + -(-rows * row // _REC) * _REC if rows >= 0 else None
            problem = None
            if expected is not None and size < expected:
                problem = f"truncated: the header promises {rows:,} rows ({expected:,} bytes), the file has {size:,} bytes"
            last = _read_seqn(fh, start, row, rows, seqn_pos) if problem is None else None
            return XptLayout(8, table, nvars, start, row, rows, problem, last)
        tail_len = min(data, row + 2 * _REC)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
    rows = data // row
    # Blank padding of the last record may hold whole "rows" of spaces when a row is short.
    while rows > 0 and data - (rows - 1) * row < _REC and \
            tail[len(tail) - (data - (rows - 1) * row):][:row].strip(b" ") == b"":
        rows -= 1
    left = data - rows * row
    leftover = tail[len(tail) - left:] if left else b""
    problem = None
    if size % _REC:
        problem = f"truncated: {size:,} bytes is not a whole number of 80-byte XPT records"
    elif left >= _REC or leftover.strip(b" "):
        problem = (f"truncated: the data end inside a row ({left} bytes after the last whole "
                   f"row of {row} bytes are not padding)")
    last = None
    if rows and seqn_pos is not None:
        at = len(tail) - (data - (rows - 1) * row) + seqn_pos
        if 0 <= at <= len(tail) - 8:
            last = _ibm_float(tail[at:at + 8])
    return XptLayout(5, table, nvars, start, row, rows, problem, last)


def _read_seqn(fh, start: int, row: int, rows: int, pos: int | None) -> float | None:
    if not rows or pos is None:
        return None
    fh.seek(start + (rows - 1) * row + pos)
    return _ibm_float(fh.read(8))


def _ibm_float(b: bytes) -> float | None:
    """An 8-byte IBM mainframe double (the XPT numeric format); ``None`` for a missing value."""
    if len(b) < 8 or (b[1:] == b"\0" * 7 and b[0] in b"._ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        return None
    sign = -1.0 if b[0] & 0x80 else 1.0
    exponent = (b[0] & 0x7F) - 64
    fraction = int.from_bytes(b[1:], "big") / float(1 << 56)
    return sign * fraction * 16.0 ** exponent


#: A file sorted by SEQN whose last SEQN is further than this share of its cycle's range from
#: the cycle's last SEQN lost its tail: even a component measured on 5% of participants has
#: one of the last 2% (about 200 people) with probability 1 - 0.95**200 > 0.9999.
TAIL_SHARE = 0.02


def _cut_short(stem: str, layout: XptLayout) -> str | None:
    """Why ``layout`` looks like a file that lost its last rows, or ``None``."""
    from nhmg_lib.data.catalog import SEQN_RANGE

    cycle = stem.rsplit("_", 1)[-1]
    if cycle not in SEQN_RANGE or layout.last_seqn is None:
        return None
    lo, hi = SEQN_RANGE[cycle]
    if lo <= layout.last_seqn < hi - TAIL_SHARE * (hi - lo):
        return (f"its last participant is SEQN {layout.last_seqn:.0f}, while the cycle's "
                f"participants run to {hi}: the end of the file is missing")
    return None


@dataclass
class FileCheck:
    """One line of the verify report."""

    file: str
    status: str
    size: int
    rows: int | None
    message: str = ""

    @property
    def damaged(self) -> bool:
        return self.status == "damaged"


def verify_file(path: Path, *, synthetic: bool = False, name: str | None = None) -> FileCheck:
    """Classify one file against :data:`RELEASES` (see the module docstring).

    ``name`` is the file name to judge it by (default: its own; a download's ``.part`` file
    is judged by the name it will get).
    """
    src = path = Path(path)
    size = path.stat().st_size
    fname = name or path.name
    stem = Path(fname).stem.upper()
    layout = xpt_layout(src)
    fix = (f"Delete {fname} and run `nhmg download` to fetch it again (or place the CDC "
           "file there by hand).")
    path = path.parent / fname
    if isinstance(layout, str):
        return FileCheck(path.name, "damaged", size, None, f"{layout}. {fix}")
    if layout.problem:
        return FileCheck(path.name, "damaged", size, layout.rows, f"{layout.problem}. {fix}")
    table = layout.table.upper()
    if _STEM.match(table) and _STEM.match(stem) and table != stem:
        return FileCheck(path.name, "damaged", size, layout.rows,
                         f"it holds the data set {layout.table}, not {stem}: another file "
                         f"saved under this name. {fix}")
    if synthetic:
        return FileCheck(path.name, "synthetic", size, layout.rows, "synthetic data")
    known = releases().get(stem)
    if known is None:
        short = _cut_short(stem, layout)
        return FileCheck(path.name, "unknown", size, layout.rows,
                         "not in the list of known CDC releases; checked for structure only"
                         + (f"; warning: {short}" if short else ""))
    if known.rows is not None and layout.rows != known.rows:
        return FileCheck(path.name, "damaged", size, layout.rows,
                         f"it has {layout.rows:,} rows, the CDC release has {known.rows:,} "
                         f"(truncated, or not the CDC file). {fix}")
    if known.bytes is None:
        return FileCheck(path.name, "other release", size, layout.rows,
                         f"row count as in the CDC release ({known.rows:,}); size and MD5 not recorded")
    if size == known.bytes:
        if _md5(src) == known.md5:
            return FileCheck(path.name, "known release", size, layout.rows, "CDC release as recorded")
        return FileCheck(path.name, "other release", size, layout.rows,
                         "same size as the recorded CDC release but another MD5 (the CDC "
                         "re-releases files; if in doubt, fetch it again)")
    short = _cut_short(stem, layout)
    if short:
        return FileCheck(path.name, "damaged", size, layout.rows,
                         f"{size:,} bytes, the recorded CDC release {known.bytes:,} bytes, and "
                         f"{short}. {fix}")
    return FileCheck(path.name, "other release", size, layout.rows,
                     f"{size:,} bytes, the recorded CDC release {known.bytes:,} bytes; its variables "
                     f"differ, so it is another release of the file (a warning, not an error)")


@dataclass
class VerifyReport:
    """Every ``.xpt`` file of a directory with its status; ``missing`` catalogue files."""

    data_dir: Path
    synthetic: bool
    files: list[FileCheck] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> list[FileCheck]:
        return [f for f in self.files if f.damaged]

    @property
    def mode(self) -> str:
        return "synthetic" if self.synthetic else "real"

    def counts(self) -> dict[str, int]:
        return {s: sum(f.status == s for f in self.files) for s in STATUSES
                if any(f.status == s for f in self.files)}

    def summary(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items()) or "no .xpt files"
        miss = f"; {len(self.missing)} catalogue file(s) missing" if self.missing else ""
        return f"{self.data_dir} ({self.mode} data): {counts}{miss}."

    def text(self) -> str:
        width = max((len(f.file) for f in self.files), default=4)
        lines = [f"{'file':<{width}}  {'status':<13}  {'rows':>7}  {'bytes':>11}  note"]
        for f in self.files:
            rows = f"{f.rows:,}" if f.rows is not None else "-"
            lines.append(f"{f.file:<{width}}  {f.status:<13}  {rows:>7}  {f.size:>11,}  {f.message}")
        if self.missing:
            more = f", ... ({len(self.missing)} in all)" if len(self.missing) > 12 else ""
            lines.append("missing: " + ", ".join(self.missing[:12]) + more)
        lines.append(self.summary())
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"data_dir": str(self.data_dir), "mode": self.mode,
                "files": [asdict(f) for f in self.files], "missing": self.missing}

    def error_message(self) -> str:
        bad = self.damaged
        return (f"{len(bad)} file(s) in {self.data_dir} are damaged and were not used: "
                + " ".join(f"{f.file}: {f.message}" for f in bad)
                + " (`nhmg verify --data-dir DIR` lists every file.)")


def verify_dir(data_dir: Path | str) -> VerifyReport:
    """Check every ``.xpt`` file of ``data_dir`` (:func:`verify_file`) and list missing ones."""
    from nhmg_lib.data.catalog import files_for

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DamagedDataError(f"The data directory {data_dir} does not exist. Run "
                               "`nhmg download --data-dir DIR` or `nhmg synth --out DIR`.")
    synthetic = (data_dir / "SYNTHETIC").is_file()
    report = VerifyReport(data_dir, synthetic)
    present = set()
    for path in sorted(data_dir.iterdir(), key=lambda p: p.name.upper()):
        if path.is_file() and path.suffix.lower() == ".xpt":
            present.add(path.name.upper())
            report.files.append(verify_file(path, synthetic=synthetic))
    report.missing = [s.filename for s in files_for() if s.filename.upper() not in present]
    return report


def require_intact(data_dir: Path | str) -> VerifyReport:
    """:func:`verify_dir`, raising :class:`DamagedDataError` when any file is damaged."""
    report = verify_dir(data_dir)
    if report.damaged:
        raise DamagedDataError(report.error_message())
    return report


__all__ = ["Release", "releases", "xpt_layout", "XptLayout", "verify_file", "verify_dir",
           "require_intact", "FileCheck", "VerifyReport", "DamagedDataError", "STATUSES"]
