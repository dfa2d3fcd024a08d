"""Is every file of a data directory a whole NHANES file? Known CDC releases and ``verify``.

XPT version 5 files carry no row count, so a file cut on an 80-byte record boundary reads
"fine" with participants missing. This module answers from facts instead of structure alone:

* :func:`releases` (``cdc_releases.csv``, shipped with the package, sources in its header):
  the byte size and MD5 of the CDC's files, and their row counts where known.
* :func:`xpt_layout` (:mod:`nhmg_lib.data.xpt`) reads only a file's header and last bytes:
  the table name, the row length, the number of rows and whether the data end inside a row.
* :func:`verify_file` sorts one file into ``known release`` (size and MD5 as recorded),
  ``other release`` (a warning: the CDC re-releases files), ``unknown`` (not listed),
  ``synthetic`` (in the generator's record) or ``damaged`` (an error naming the file and the
  fix): wrong rows, an edit after download (the manifest's SHA-256), a broken relation to its
  cycle's DEMO (:mod:`nhmg_lib.data.relations`) or a lost tail.
* :func:`verify_dir` does it for every ``.xpt`` file of a directory (or the named ones), and
  marks two files standing for one name (``DEMO_J.xpt``, ``DEMO_J (1).xpt``) ``duplicate``;
  :func:`require_intact` raises on either. Digests and relation verdicts are computed once
  per version of a file (:mod:`nhmg_lib.data.filecache`), so a repeated check reads headers only.
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from nhmg_lib.data.filecache import file_digest  # noqa: F401 (part of this module's API)
from nhmg_lib.data.xpt import XptLayout, xpt_layout
from nhmg_lib.errors import NhmgError

RELEASES_CSV = Path(__file__).with_name("cdc_releases.csv")
_STEM = re.compile(r"^[A-Z0-9]+(_[A-Z0-9]+)*_[A-J]$")

STATUSES = ("known release", "other release", "unknown", "synthetic", "damaged", "duplicate")


class DamagedDataError(NhmgError):
    """A file of the data directory is damaged or is not the file its name says."""


@dataclass(frozen=True)
class Release:
    """What is known of one CDC file: size and MD5 (``None`` if not recorded) and rows."""

    name: str
    bytes: int | None
    md5: str | None
    rows: int | None
    rows_from: str = ""  # where the row count comes from


@lru_cache(maxsize=1)
def releases() -> dict[str, Release]:
    """The shipped table of known CDC releases, keyed by file stem (``DEMO_G``)."""
    with open(RELEASES_CSV, encoding="utf-8") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    out = {}
    for row in csv.DictReader(lines):
        out[row["file"].upper()] = Release(
            row["file"].upper(), int(row["bytes"]) if row["bytes"] else None,
            row["md5"] or None, int(row["rows"]) if row["rows"] else None,
            row.get("rows_from") or "")
    return out


def _md5(path: Path) -> str:
    from nhmg_lib.data import filecache

    return filecache.md5(path)  # the CDC list records MD5s; computed once per file version


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
        """Not to be used: damaged, or one of two files claiming the same name."""
        return self.status in ("damaged", "duplicate")


def verify_file(path: Path, *, synthetic: bool = False, name: str | None = None,
                demo: Path | None = None, entry: dict | None = None,
                labelled: bool = False) -> FileCheck:
    """Classify one file (see the module docstring); usable on a folder's files one by one.

    ``name``: the file name to judge it by (default its own; a download's ``.part`` file is
    judged by the name it will get). ``synthetic``: the file is one the generator wrote (its
    record says so), so there is no CDC release to compare. ``demo``: the DEMO file of the
    same cycle, for the relations between files (:mod:`nhmg_lib.data.relations`); ``None``
    skips them. ``entry``: the file's manifest entry, whose SHA-256 it must still have.
    ``labelled``: the folder carries a SYNTHETIC label that does not cover this file.
    """
    src = path = Path(path)
    size = path.stat().st_size
    fname = name or path.name
    stem = Path(fname).stem.upper()
    layout = xpt_layout(src)
    fix = (f"Delete {fname} and run `nhmg download` to fetch it again (or place the CDC "
           "file there by hand).")
    path = path.parent / fname

    def bad(why: str, rows: int | None = None) -> FileCheck:
        return FileCheck(path.name, "damaged", size, rows, f"{why}. {fix}")

    if isinstance(layout, str):
        return bad(layout)
    if layout.problem:
        return bad(layout.problem, layout.rows)
    table = layout.table.upper()
    if _STEM.match(table) and _STEM.match(stem) and table != stem:
        return bad(f"it holds the data set {layout.table}, not {stem}: another file saved "
                   "under this name", layout.rows)
    if synthetic:
        return FileCheck(path.name, "synthetic", size, layout.rows, "synthetic data")
    if entry and entry.get("file") == path.name and entry.get("sha256"):
        from nhmg_lib.data import filecache

        if size != entry.get("size") or filecache.sha256(src) != entry["sha256"]:
            return bad("its SHA-256 is no longer the one manifest.json recorded when it was "
                       "saved: the file was changed after download", layout.rows)
    check = _against_release(src, path.name, stem, size, layout, demo, bad)
    if labelled and check.status != "damaged":
        check.message += ("; the folder is labelled SYNTHETIC, but this file is not one the "
                          "generator wrote (not in its record), so it is checked as NHANES data")
    return check


def _against_release(src: Path, fname: str, stem: str, size: int, layout: XptLayout,
                     demo: Path | None, bad) -> FileCheck:
    known = releases().get(stem)
    if known is not None and known.bytes == size and _md5(src) == known.md5:
        return FileCheck(fname, "known release", size, layout.rows, "CDC release as recorded")
    if known is not None and known.rows is not None and layout.rows != known.rows:
        return bad(f"it has {layout.rows:,} rows, the CDC release has {known.rows:,} "
                   f"(truncated, or not the CDC file)", layout.rows)
    from nhmg_lib.data.relations import check_relations

    broken = []
    if demo is not None:
        from nhmg_lib.data import filecache

        filecache.digests(src)  # facts are kept beside the file's digests
        broken = filecache.fact(src, f"relations {stem} {filecache.identity(demo)}",
                                lambda: check_relations(src, demo, stem))
    if broken:
        return bad("it breaks a relation NHANES fixes between the files of a cycle: "
                   + "; ".join(broken), layout.rows)
    short = _cut_short(stem, layout)
    if short:
        return bad(f"{size:,} bytes, and {short}", layout.rows)
    if known is None:
        return FileCheck(fname, "unknown", size, layout.rows,
                         "not in the list of known CDC releases; checked for structure"
                         + (" and against its cycle's DEMO" if demo is not None else " only"))
    if known.bytes is None:
        return FileCheck(fname, "other release", size, layout.rows,
                         f"row count as in the CDC release ({known.rows:,}); size and MD5 not recorded")
    if size == known.bytes:
        return FileCheck(fname, "other release", size, layout.rows,
                         "same size as the recorded CDC release but another MD5 (the CDC "
                         "re-releases files; if in doubt, fetch it again)")
    return FileCheck(fname, "other release", size, layout.rows,
                     f"{size:,} bytes, the recorded CDC release {known.bytes:,} bytes; its variables "
                     f"differ, so it is another release of the file (a warning, not an error)")


_COPY = re.compile(r"^(?P<stem>[A-Z0-9_]+?)(\s*\(\d+\)|\s*-\s*COPY(\s*\d+)?|\s+COPY(\s*\d+)?)?\.XPT$")


def claimed_stem(file_name: str) -> str | None:
    """The NHANES file a name stands for: ``DEMO_J`` for ``demo_j.XPT`` and for the copies a
    browser or file manager makes (``DEMO_J (1).xpt``, ``DEMO_J copy.xpt``); else ``None``."""
    m = _COPY.match(file_name.upper())
    return m.group("stem") if m else None


def duplicates(names: list[str]) -> dict[str, list[str]]:
    """Stems claimed by more than one of ``names`` (a folder's file names), with the names."""
    groups: dict[str, list[str]] = {}
    for n in names:
        stem = claimed_stem(n)
        if stem:
            groups.setdefault(stem, []).append(n)
    return {s: sorted(ns) for s, ns in groups.items() if len(ns) > 1}


@dataclass
class VerifyReport:
    """Every ``.xpt`` file of a directory with its status; ``missing`` catalogue files.

    ``labelled``: the folder carries the SYNTHETIC label; which files are synthetic is
    decided per file by the generator's record, so a folder can be ``mixed``.
    """

    data_dir: Path
    labelled: bool
    files: list[FileCheck] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> list[FileCheck]:
        return [f for f in self.files if f.damaged]

    @property
    def synthetic(self) -> bool:
        return self.mode == "synthetic"

    @property
    def mode(self) -> str:
        """``synthetic`` (every file the generator's), ``real`` (none) or ``mixed``."""
        made = [f.status == "synthetic" for f in self.files]
        if made and all(made):
            return "synthetic"
        if any(made):
            return "mixed"
        return "synthetic" if self.labelled and not self.files else "real"

    def counts(self) -> dict[str, int]:
        return {s: sum(f.status == s for f in self.files) for s in STATUSES
                if any(f.status == s for f in self.files)}

    def summary(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items()) or "no .xpt files"
        miss = f"; {len(self.missing)} catalogue file(s) missing" if self.missing else ""
        mode = f"{self.mode} data" + (", synthetic and NHANES files together"
                                      if self.mode == "mixed" else "")
        return f"{self.data_dir} ({mode}): {counts}{miss}."

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


def verify_dir(data_dir: Path | str, names: list[str] | None = None) -> VerifyReport:
    """Check the ``.xpt`` files of ``data_dir`` (:func:`verify_file`) and list missing ones.

    ``names`` (file names or stems, e.g. ``["DEMO_G.xpt", "BMX_G"]``) checks only those that
    are present -- for a command that reads a few files; a missing file is not damage. The
    DEMO of each cycle is always read, as the reference of the relations.
    """
    from nhmg_lib.data import filecache
    from nhmg_lib.data.catalog import files_for
    from nhmg_lib.data.manifest import load_manifest

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DamagedDataError(f"The data directory {data_dir} does not exist. Run "
                               "`nhmg download --data-dir DIR` or `nhmg synth --out DIR`.")
    labelled = (data_dir / "SYNTHETIC").is_file()
    made = _generated(data_dir) if labelled else {}
    entries, _ = load_manifest(data_dir)
    report = VerifyReport(data_dir, labelled)
    # Hidden files are not data: a temporary file of an interrupted write is one.
    xpts = sorted((p for p in data_dir.iterdir() if p.is_file() and p.suffix.lower() == ".xpt"
                   and not p.name.startswith(".")), key=lambda p: p.name.upper())
    twins = duplicates([p.name for p in xpts])
    wanted = None if names is None else {
        n.upper() if n.upper().endswith(".XPT") else f"{n.upper()}.XPT" for n in names}
    is_demo = lambda p: p.stem.upper().startswith("DEMO_")  # noqa: E731
    demos: dict[str, Path] = {}  # cycle -> a DEMO that passed, the reference of the relations
    checks: dict[Path, FileCheck] = {}
    for path in sorted(xpts, key=lambda p: not is_demo(p)):  # each cycle's DEMO first
        stem = claimed_stem(path.name)
        if wanted is not None and (stem is None or f"{stem}.XPT" not in wanted) \
                and not is_demo(path):
            continue
        if stem in twins:
            checks[path] = FileCheck(
                path.name, "duplicate", path.stat().st_size, None,
                f"{' and '.join(twins[stem])} both stand for {stem}; which one is meant cannot "
                "be told, so neither is used: keep the right one and delete (or rename) the other")
            continue
        own = made.get(path.name.upper())
        synthetic = own is not None and filecache.sha256(path) == own
        cycle = path.stem.upper().rsplit("_", 1)[-1]
        check = verify_file(path, synthetic=synthetic,
                            demo=None if is_demo(path) else demos.get(cycle),
                            entry=entries.get(path.stem.upper()),
                            labelled=labelled and not synthetic)
        if is_demo(path) and not check.damaged and not synthetic:
            demos[cycle] = path
        checks[path] = check
    report.files = [checks[p] for p in xpts if p in checks and (
        wanted is None or f"{claimed_stem(p.name)}.XPT" in wanted)]
    present = {p.name.upper() for p in xpts}
    report.missing = [s.filename for s in files_for() if s.filename.upper() not in present
                      and (wanted is None or s.filename.upper() in wanted)]
    filecache.flush()
    return report


def _generated(data_dir: Path) -> dict[str, str]:
    """The generator's record of the files it wrote in ``data_dir`` (NAME.XPT -> SHA-256)."""
    from nhmg_lib.data.generated import generated_files

    return {n.upper(): sha for n, sha in generated_files(data_dir).items()}


def require_intact(data_dir: Path | str, names: list[str] | None = None) -> VerifyReport:
    """:func:`verify_dir`, raising :class:`DamagedDataError` when any file is damaged."""
    report = verify_dir(data_dir, names)
    if report.damaged:
        raise DamagedDataError(report.error_message())
    return report


__all__ = ["Release", "releases", "xpt_layout", "XptLayout", "verify_file", "verify_dir",
           "require_intact", "FileCheck", "VerifyReport", "DamagedDataError", "STATUSES",
           "claimed_stem", "duplicates"]
