"""NHANES transport files -> one raw frame: a row per DEMO participant, NHANES names, codes intact.

``load_raw`` finds each file the catalogue lists (extension and name matched
case-insensitively), checks it before trusting it (readable, right cycle, every column
present, SEQN unique and inside the cycle's range), reads only the catalogue's columns, merges
them onto DEMO by SEQN and stacks the cycles. The merged frame is cached as parquet, keyed by
the files' names and contents (SHA-256), the columns read and the library version, so a
second load of unchanged files costs one parquet read.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyreadstat

from nhmg_lib import __version__
from nhmg_lib.data.catalog import CYCLES, COLUMNS, CYCLE_COLUMNS, SEQN_RANGE, FileSpec, files_for
from nhmg_lib.errors import NhmgError
from nhmg_lib.data import filecache
from nhmg_lib.data.atomic import atomic_path
from nhmg_lib.data.manifest import check_xpt, load_manifest
from nhmg_lib.data.sources import find_file

#: SDDSRVYR, the release cycle number NHANES writes into every DEMO file.
SDDSRVYR: dict[str, int] = {"G": 7, "H": 8, "I": 9, "J": 10}


_REMEDY = (
    "Run `nhmg download --data-dir DIR` to fetch the NHANES files, or `nhmg synth --out DIR` "
    "to write synthetic ones, then point the data directory at DIR."
)


class MissingDataError(NhmgError):
    """Files or variables the analysis needs are not in the data directory."""


class DataFileError(NhmgError):
    """A file is present but unusable: unreadable, truncated or from another cycle."""


def load_raw(
    data_dir: str | os.PathLike[str],
    cycles: Iterable[str] = ("G", "H", "I", "J"),
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    components: Iterable[str] | None = None,
    cache: bool = True,
    strict: bool = True,
    missing_ok: bool = False,
) -> pd.DataFrame:
    """The raw frame of CONTRIBUTING.md for ``cycles`` read from the flat ``data_dir``.

    ``components`` (e.g. ``("DEMO", "CBC")``) reads only those files; the other catalogue
    columns are then NaN, exactly as for a component a cycle does not have. ``cache_dir``
    defaults to ``<data_dir>/.cache`` (``$NHMG_CACHE_DIR/raw`` for a read-only folder); ``cache=False`` neither reads nor writes it.
    ``strict=False`` turns variables missing from a present file into NaN columns with a
    warning instead of an error (for partial or older copies of a file); missing files are
    an error unless ``missing_ok`` (then their columns are NaN, as for a component the cycle
    does not have; :func:`absent_files` names them). A cycle's DEMO is always required.
    """
    data_dir = Path(data_dir)
    cycles = tuple(cycles)
    specs = files_for(cycles)
    if components is not None:
        wanted = {"DEMO", *components}
        unknown = wanted - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown component(s) {sorted(unknown)}; choose from {list(COLUMNS)}")
        specs = [s for s in specs if s.component in wanted]
    if missing_ok:
        gone = set(absent_files(data_dir, specs))
        specs = [s for s in specs if s.component == "DEMO" or s not in gone]
    paths = _locate(data_dir, specs, strict)
    key = _cache_key(paths, cycles)
    cache_file = Path(cache_dir or _default_cache_dir(data_dir)) / f"raw-{key}.parquet"
    if cache and cache_file.is_file():
        try:
            return pd.read_parquet(cache_file)
        except Exception:  # a half-written or foreign file: rebuild it below
            warnings.warn(f"ignoring unreadable cache file {cache_file}; re-reading the XPT files")
    raw = _read_all(paths, cycles)
    if cache:
        _write_cache(raw, cache_file)
    return raw


def _default_cache_dir(data_dir: Path) -> Path:
    """``<data_dir>/.cache``; for a read-only data folder (a shared, checksummed copy),
    ``$NHMG_CACHE_DIR/raw`` when that is set, so repeated loads stay fast."""
    env = os.environ.get("NHMG_CACHE_DIR")
    if env and not (data_dir / ".cache").is_dir() and not (
            data_dir.stat().st_mode & 0o200 and os.access(data_dir, os.W_OK)):
        return Path(env) / "raw"
    return data_dir / ".cache"


def absent_files(data_dir: str | os.PathLike[str], specs: Iterable[FileSpec]) -> list[FileSpec]:
    """The ``specs`` whose file is not in ``data_dir`` (presence only; reading checks the rest)."""
    return [s for s in specs if find_file(Path(data_dir), s) is None]


def raw_columns() -> list[str]:
    """The raw frame's columns in order: ``SEQN``, ``cycle``, then every catalogue column."""
    return ["SEQN", "cycle", *_all_columns()]


def _all_columns() -> list[str]:
    """Every catalogue column in catalogue order, without duplicates.

    Cycle-specific items of every cycle are included, so a frame of 2011-2016 still has the
    2017-18 alcohol columns (all NaN) and the derivations need no per-cycle column checks.
    """
    out: list[str] = []
    for component in COLUMNS:
        for col in COLUMNS[component] + [c for cy in CYCLES for c in CYCLE_COLUMNS.get((component, cy), [])]:
            if col not in out:
                out.append(col)
    return out


def _locate(data_dir: Path, specs: list[FileSpec], strict: bool = True) -> dict[FileSpec, Path]:
    """Map each spec to its file, matching ``DEMO_G.xpt``/``demo_g.XPT`` alike; one error lists every gap."""
    if not data_dir.is_dir():
        raise MissingDataError(f"The NHANES data directory {data_dir} does not exist. {_REMEDY}")
    if not any(p.suffix.upper() == ".XPT" for p in data_dir.iterdir()):
        raise MissingDataError(f"The NHANES data directory {data_dir} holds no .xpt files. {_REMEDY}")
    found: dict[FileSpec, Path] = {}
    missing_files: list[str] = []
    for spec in specs:
        path = find_file(data_dir, spec)
        if path is None:
            missing_files.append(spec.filename)
        else:
            found[spec] = path
    # Variables are checked on the files that are there, so one message names every gap.
    manifest, _ = load_manifest(data_dir)
    missing_vars = [
        f"{path.name}: {', '.join(gap)}"
        for spec, path in found.items()
        if (gap := [c for c in spec.columns if c not in _column_names(path, manifest)])
    ]
    if missing_vars and not strict and not missing_files:
        warnings.warn(f"{data_dir}: variables missing, read as NaN: {'; '.join(missing_vars)}",
                      stacklevel=3)
    elif missing_files or missing_vars:
        parts = []
        if missing_files:
            parts.append(f"missing file(s): {', '.join(missing_files)}")
        if missing_vars:
            parts.append(f"missing variable(s): {'; '.join(missing_vars)}")
        raise MissingDataError(
            f"The NHANES data directory {data_dir} is incomplete; {'; and '.join(parts)}. {_REMEDY}"
        )
    return found


def _column_names(path: Path, manifest: dict[str, dict] | None = None) -> set[str]:
    return {c.upper() for c in _header(path, manifest)}


def _header(path: Path, manifest: dict[str, dict] | None = None) -> list[str]:
    """Variable names from the file header, after the integrity checks of ``check_xpt``.

    XPT v5 has no row count, so a file cut at an 80-byte boundary reads "fine" with rows
    missing; the manifest's recorded size (files fetched by ``nhmg download``) catches that.
    """
    entry = (manifest or {}).get(path.stem.upper(), {})
    expected = entry.get("size") if entry.get("file", path.name) == path.name else None
    reason = check_xpt(path, expected)
    if reason:
        raise DataFileError(
            f"{path} cannot be used: {reason}. Delete it and fetch it again with "
            f"`nhmg download`, or rewrite the directory with `nhmg synth`."
        )
    try:
        _, meta = pyreadstat.read_xport(str(path), metadataonly=True)
    except Exception as exc:
        raise _unreadable(path, exc) from None
    return list(meta.column_names)


def _unreadable(path: Path, exc: Exception) -> DataFileError:
    return DataFileError(
        f"{path} is not a readable SAS transport (XPT) file ({type(exc).__name__}: {exc}). "
        f"Delete it and fetch it again with `nhmg download`, or rewrite the directory with "
        f"`nhmg synth`."
    )


def _read_file(spec: FileSpec, path: Path) -> pd.DataFrame:
    """The spec's columns as float, indexed by SEQN, after the cycle and uniqueness checks."""
    names = {c.upper(): c for c in _header(path)}
    try:
        df, _ = pyreadstat.read_xport(
            str(path), usecols=[names[c] for c in spec.columns if c in names])
    except Exception as exc:
        raise _unreadable(path, exc) from None
    df.columns = [c.upper() for c in df.columns]
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if text:
        raise DataFileError(
            f"{path} stores {', '.join(text)} as text; NHANES files store these items as numbers. "
            f"It is not the CDC file: replace it with a fresh copy (`nhmg download`).")
    seqn = df["SEQN"]
    lo, hi = SEQN_RANGE[spec.cycle]
    if seqn.isna().any() or not seqn.between(lo, hi).all():
        raise DataFileError(
            f"{path} has SEQN values outside {lo}-{hi}, the range of cycle {spec.cycle} "
            f"({CYCLES[spec.cycle][0]}-{CYCLES[spec.cycle][1]}): it belongs to another cycle or is "
            f"damaged. Replace it with the {spec.filename} of that cycle (`nhmg download`)."
        )
    if seqn.duplicated().any():
        raise DataFileError(f"{path} repeats SEQN values; NHANES files hold one row per participant. "
                            f"Replace it with a fresh copy (`nhmg download`).")
    if spec.component == "DEMO":
        wrong = sorted(set(df["SDDSRVYR"].dropna().astype(int)) - {SDDSRVYR[spec.cycle]})
        if wrong:
            years = {SDDSRVYR[c]: "{}-{}".format(*CYCLES[c]) for c in CYCLES}
            seen = ", ".join(f"{w} ({years.get(w, 'not 2011-2018')})" for w in wrong)
            raise DataFileError(
                f"{path} has SDDSRVYR {seen}, but cycle {spec.cycle} is release "
                f"{SDDSRVYR[spec.cycle]}: the file is from another cycle. Replace it with the "
                f"{spec.filename} of {CYCLES[spec.cycle][0]}-{CYCLES[spec.cycle][1]} (`nhmg download`)."
            )
    return df.astype("float64").set_index(df["SEQN"].astype("int64")).drop(columns="SEQN")


def _read_all(paths: dict[FileSpec, Path], cycles: tuple[str, ...]) -> pd.DataFrame:
    """Merge every file of a cycle onto its DEMO (left join: DEMO defines who is in the sample)."""
    frames = []
    for cycle in cycles:
        specs = [s for s in paths if s.cycle == cycle]
        demo = next(s for s in specs if s.component == "DEMO")
        merged = _read_file(demo, paths[demo])
        parts = [merged] + [
            _read_file(s, paths[s]).reindex(merged.index) for s in specs if s is not demo
        ]
        merged = pd.concat(parts, axis=1)
        merged.insert(0, "cycle", cycle)
        frames.append(merged)
    raw = pd.concat(frames)
    raw.index.name = "SEQN"
    raw = raw.reset_index()
    columns = ["SEQN", "cycle", *_all_columns()]
    # Components a cycle lacks (or that were not requested) become NaN columns, per the contract.
    raw = raw.reindex(columns=columns)
    raw[columns[2:]] = raw[columns[2:]].astype("float64")
    raw["cycle"] = raw["cycle"].astype(str)
    return raw.reset_index(drop=True)


def _cache_key(paths: dict[FileSpec, Path], cycles: tuple[str, ...]) -> str:
    """Hash of what determines the frame: files (name, SHA-256), columns, cycles, version.

    Keyed on content, not on size and mtime: a file changed in place with both kept must
    not be read from the cache. The digests themselves are cached (:mod:`filecache`).
    """
    items = sorted((p.name, filecache.sha256(p), s.columns) for s, p in paths.items())
    filecache.flush()
    blob = json.dumps({"files": items, "cycles": cycles, "version": __version__}, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _ensure_writable_dir(path: Path) -> None:
    """Create ``path``; refuse (OSError) under a directory marked read-only, even for root.

    A read-only data folder (a shared, checksummed copy) must stay untouched, and root
    ignores permission bits, so the write bit of the nearest existing ancestor decides.
    """
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not (existing.stat().st_mode & 0o200) or not os.access(existing, os.W_OK):
        raise PermissionError(f"{existing} is read-only")
    path.mkdir(parents=True, exist_ok=True)


def _write_cache(raw: pd.DataFrame, cache_file: Path) -> None:
    """Write atomically (temp file + rename); an unwritable directory only costs speed."""
    try:
        _ensure_writable_dir(cache_file.parent)
        with atomic_path(cache_file) as tmp:
            raw.to_parquet(tmp, index=False)
    except OSError as exc:
        warnings.warn(
            f"not caching the merged NHANES frame: {cache_file.parent} is not writable ({exc}); "
            f"pass cache_dir= to a writable directory to make repeated loads fast.",
            stacklevel=3,
        )


__all__ = ["load_raw", "absent_files", "raw_columns", "MissingDataError", "DataFileError", "SDDSRVYR", "SEQN_RANGE"]
