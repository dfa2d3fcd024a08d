"""The header of a SAS transport (XPT) file, read without reading its data.

XPT version 5 files carry no row count, so :func:`xpt_layout` counts rows from the size and
the row length, and says whether the data end inside a row (a cut file). It also lists each
variable's place in a row, which :mod:`nhmg_lib.data.relations` uses to read a few columns.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_V5_MAGIC = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
_V8_MAGIC = b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"
_REC = 80
_NAMESTR = 140


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
    #: (NAME, offset in the row, length, numeric) of every variable
    columns: tuple[tuple[str, int, int, bool], ...] = ()


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
        ends, seqn_pos, columns = [], None, []
        for i in range(nvars):
            rec = namestrs[i * _NAMESTR:(i + 1) * _NAMESTR]
            length = struct.unpack(">h", rec[4:6])[0]
            pos = struct.unpack(">i", rec[84:88])[0]
            ends.append(pos + length)
            columns.append((rec[8:16].decode("latin-1").strip().upper(), pos, length,
                            rec[0:2] == b"\x00\x01"))
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
            return XptLayout(8, table, nvars, start, row, rows, problem, last, tuple(columns))
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
    return XptLayout(5, table, nvars, start, row, rows, problem, last, tuple(columns))


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


__all__ = ["XptLayout", "xpt_layout"]
