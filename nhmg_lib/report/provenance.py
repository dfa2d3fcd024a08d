"""Provenance of a build: which software and which data produced the book's numbers, and the
downloadable files (``results.json``, ``scorecard.csv``) the chapters link.

:func:`provenance` returns an ordered dict (:data:`KEYS`), :func:`provenance_table` the same as
a publication table, :func:`write_downloads` writes the machine-readable results into a
directory, and :class:`DownloadLinks` offers files for download from inside a page (the
scorecard chapter uses it: the links live in the cached cell output, so they survive rebuilds
that do not re-execute the chapter).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from nhmg_lib import __version__
from nhmg_lib.data.atomic import atomic_write
from nhmg_lib.report.tables import PublicationTable, publication_table

#: Distributions whose versions the provenance lists (import name differs for some).
PACKAGES = ("numpy", "pandas", "scipy", "pyreadstat", "matplotlib", "plotly",
            "jupyter-book")

#: Keys of :func:`provenance`, in display order (package keys are ``version/<name>``).
KEYS = (
    "build_time_utc", "nhmg_lib", "library_hash", "python", "platform",
    *(f"version/{p}" for p in PACKAGES),
    "data_mode", "data_reason", "data_dir", "manifest_hash", "synthetic_seed", "synthetic_scale",
)

_LABELS = {
    "build_time_utc": "Build time (UTC)",
    "nhmg_lib": "nhmg_lib version",
    "library_hash": "Library source hash (SHA-256)",
    "python": "Python",
    "platform": "Platform",
    "data_mode": "Data mode",
    "data_reason": "Why this data",
    "data_dir": "Data directory",
    "manifest_hash": "Data manifest hash",
    "synthetic_seed": "Synthetic seed",
    "synthetic_scale": "Synthetic scale",
}


def library_hash() -> str:
    """sha256 over the library's source files (``nhmg_lib/**``: .py, .R, data)."""
    pkg = Path(__file__).resolve().parents[1]  # nhmg_lib/
    h = hashlib.sha256()
    for p in sorted(pkg.rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts or p.suffix in (".pyc", ".pyo"):
            continue
        h.update(p.relative_to(pkg).as_posix().encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def package_version(name: str) -> str:
    """Installed version of distribution ``name`` ("not installed" when absent)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(context: Any = None, *, now: datetime | None = None) -> dict[str, Any]:
    """Software versions, library hash and data identity for ``context`` (a
    :class:`nhmg_lib.data.datamode.DataContext`; None: no data keys filled)."""
    now = now or datetime.now(timezone.utc)
    info: dict[str, Any] = {
        "build_time_utc": now.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nhmg_lib": __version__,
        "library_hash": library_hash(),
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
    }
    for p in PACKAGES:
        info[f"version/{p}"] = package_version(p)
    synthetic = context is not None and getattr(context, "mode", None) == "synthetic"
    info.update(
        data_mode=getattr(context, "mode", None),
        data_reason=getattr(context, "reason", None),
        data_dir=str(context.data_dir) if context is not None else None,
        manifest_hash=getattr(context, "manifest_hash", None),
        synthetic_seed=getattr(context, "synthetic_seed", None) if synthetic else None,
        synthetic_scale=getattr(context, "synthetic_scale", None) if synthetic else None,
    )
    return {k: info[k] for k in KEYS}


def provenance_frame(info: Mapping[str, Any]) -> pd.DataFrame:
    """``info`` as a two-column frame (item, value), package versions grouped."""
    rows, index = [], []
    for k, v in info.items():
        if k.startswith("version/"):
            index.append(("Package versions", k.split("/", 1)[1]))
        elif k in ("python", "platform", "nhmg_lib", "library_hash", "build_time_utc"):
            index.append(("Software", _LABELS.get(k, k)))
        else:
            index.append(("Data", _LABELS.get(k, k)))
        rows.append(["" if v is None else str(v)])
    order = {"Software": 0, "Package versions": 1, "Data": 2}
    pairs = sorted(zip(index, rows), key=lambda t: order[t[0][0]])
    return pd.DataFrame([r for _, r in pairs], columns=["Value"],
                        index=pd.MultiIndex.from_tuples([i for i, _ in pairs]))


def provenance_table(info: Mapping[str, Any], *, caption: str = "What produced this build",
                     name: str = "table-provenance") -> PublicationTable:
    """:func:`provenance` as a publication table."""
    return publication_table(provenance_frame(info), caption=caption, name=name,
                             stub_header="Item", formatter=str, align=["l"])


def write_downloads(records: Iterable[Mapping[str, Any]], scorecard: Any, out_dir: str | Path,
                    *, tables: Mapping[str, Any] | None = None,
                    info: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``results.json`` (as ``nhmg results`` does, with its ``data/synthetic`` record
    (:func:`data_record`) when ``info`` names the data), ``scorecard.csv``
    (:meth:`Scorecard.to_csv`), optionally ``provenance.json`` (``info``) and one CSV per entry
    of ``tables`` (name -> PublicationTable or DataFrame) into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def write(name: str, text: str) -> None:
        path = out / name
        with atomic_write(path) as fh:
            fh.write(text)
        paths[name] = path

    records = list(records)
    if info is not None and info.get("data_mode") and info.get("data_dir") \
            and not any(r.get("id") == "data/synthetic" for r in records):
        records.append(data_record(info["data_mode"], info["data_dir"]))
    write("results.json", json.dumps(records, indent=1, allow_nan=False) + "\n")
    if scorecard is not None:
        write("scorecard.csv", scorecard.to_csv())
    if info is not None:
        write("provenance.json", json.dumps(dict(info), indent=1, default=str) + "\n")
    for name, table in (tables or {}).items():
        fname = name if name.endswith(".csv") else f"{name}.csv"
        write(fname, table.to_csv())  # DataFrame or PublicationTable: CSV text
    return paths


def data_record(mode: str, data_dir: str | Path) -> dict[str, Any]:
    """``data/synthetic`` as ``nhmg results`` writes it: estimate 1 on synthetic data, 0 on the
    NHANES files; ``n`` the ``.xpt`` files of the data directory (those ``nhmg verify`` checks)."""
    from nhmg_lib.report.results import record

    d = Path(data_dir)
    n = sum(1 for p in d.iterdir() if p.is_file() and p.suffix.lower() == ".xpt"
            and not p.name.startswith(".")) if d.is_dir() else 0
    # A mixed folder (synthetic and NHANES files together) is not the NHANES data either.
    return record("data/synthetic", 0.0 if mode == "real" else 1.0, n)


class TextLine:
    """One sentence for a page: Markdown in the PDF and in notebooks, a paragraph in HTML."""

    def __init__(self, text: str):
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html
        import re

        # `command` is code in Markdown; in HTML it becomes <code>, never a raw backtick
        return "<p>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(self.text)) + "</p>"

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _plain(text: str) -> str:
    """Markdown code marks dropped, for a table cell (cells are plain text)."""
    return text.replace("`", "")


def data_check(context: Any, report: Any = None) -> PublicationTable | TextLine:
    """The ``nhmg verify`` report of the build's data directory: one row per file with its
    status (known release, other release, unknown, damaged), rows, bytes and the note; on
    synthetic data one sentence saying so. ``report``: a
    :class:`nhmg_lib.data.releases.VerifyReport` computed already (default: verify now)."""
    from nhmg_lib.data.releases import verify_dir

    if getattr(context, "synthetic", False) or getattr(context, "mode", None) == "synthetic":
        return TextLine("The data are synthetic (generated by `nhmg synth`), so there is no CDC "
                        "release to check them against; `nhmg verify` checks their structure only.")
    report = report if report is not None else verify_dir(context.data_dir)
    frame = pd.DataFrame(
        {"Status": [f.status for f in report.files],
         "Rows": [f"{f.rows:,}" if f.rows is not None else "–" for f in report.files],
         "Bytes": [f"{f.size:,}" for f in report.files],
         "Note": [_plain(f.message) for f in report.files]},
        index=pd.Index([f.file for f in report.files], name="File"))
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items()) or "no files"
    notes = ["Known release: size and MD5 as the CDC file recorded in the package "
             "(nhmg_lib/data/cdc_releases.csv); other release: the row count matches but the "
             "file differs (the CDC re-releases files); unknown: not in that list, checked for "
             "structure and against its cycle's DEMO (who must be in it, weight totals); "
             "damaged or duplicate: not used (nhmg verify exits non-zero)."]
    if report.missing:
        notes.append("Catalogue files not in the directory: " + ", ".join(report.missing) + ".")
    return publication_table(frame, caption=f"The data files of this build checked against the "
                             f"known CDC releases ({counts})", stub_header="File",
                             formatter=str, align=["l", "r", "r", "l"], footnotes=notes)


class DownloadLinks:
    """Download links that carry their files inside the page (``data:`` URIs).

    A chapter's outputs are cached, so links stored in the output keep working when the page
    is not re-executed; Sphinx's ``{download}`` role would need the files on disk at every build.
    In the PDF (Markdown rendering) the links become a sentence naming the files and how to
    produce them (``nhmg results``).
    """

    _MIME = {".csv": "text/csv", ".json": "application/json"}

    def __init__(self, files: Mapping[str, str], descriptions: Mapping[str, str] | None = None):
        self.files = dict(files)
        self.descriptions = dict(descriptions or {})

    @classmethod
    def from_paths(cls, paths: Mapping[str, Path], descriptions: Mapping[str, str] | None = None):
        return cls({n: Path(p).read_text(encoding="utf-8") for n, p in paths.items()}, descriptions)

    def _repr_html_(self) -> str:
        import base64
        import html

        items = []
        for name, text in self.files.items():
            mime = self._MIME.get(Path(name).suffix, "text/plain")
            b64 = base64.b64encode(text.encode("utf-8")).decode("ascii")
            desc = self.descriptions.get(name, "")
            size = len(text.encode("utf-8")) / 1024
            items.append(
                f'<li><a download="{html.escape(name)}" href="data:{mime};base64,{b64}">'
                f"<code>{html.escape(name)}</code></a> ({size:.0f} KB)"
                + (f": {html.escape(desc)}" if desc else "") + "</li>")
        return '<ul class="nhmg-downloads">' + "".join(items) + "</ul>"

    def _repr_markdown_(self) -> str:
        names = ", ".join(f"`{n}`" for n in self.files)
        return (f"The web edition of this book offers {names} for download; "
                "`nhmg results --data-dir DIR --out results.json` writes the same results.")

    def __repr__(self) -> str:
        return f"<DownloadLinks: {', '.join(self.files)}>"
