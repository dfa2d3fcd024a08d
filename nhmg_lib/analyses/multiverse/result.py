"""Running the multiverse and its result: one row per *distinct* specification of each
estimate.

A dimension that cannot move an estimate (:func:`~nhmg_lib.analyses.multiverse.plan.inert_dimensions`)
is blank (None) in that estimate's rows; two specifications whose fits read the same data are
one row, ``n_specs`` counting the grid specifications it stands for. ``panel`` is ``main``,
or the :data:`~nhmg_lib.analyses.multiverse.grid.PANELS` choice whose less defensible value
the row uses (shown apart, outside the summary and the joint test).
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from nhmg_lib.analyses import cache as _cache
from nhmg_lib.analyses.multiverse import fits as _fits
from nhmg_lib.analyses.multiverse.bank import column_bank
from nhmg_lib.analyses.multiverse.grid import (
    ALPHA, ESTIMATES, MEDIATION_FIXED, MultiverseError, UnknownOptionError,
    default_spec_id, grid, panel_of, specifications)
from nhmg_lib.analyses.multiverse.plan import inert_dimensions, payloads, plan
from nhmg_lib.analyses.multiverse.workers import Progress, check_scheduler, run_all
from nhmg_lib.data.atomic import atomic_path
from nhmg_lib.survey.design import Design

#: Resamples of the row bootstrap of the mediation estimates (both models refitted), and its seed.
MEDIATION_BOOT = 200
MEDIATION_SEED = 1
NUMBERS = ("value", "ci_low", "ci_high", "p", "n", "coef", "se", "z", "df")


@dataclass
class MultiverseResult:
    """``table``: one row per distinct specification of each estimate: ``spec`` (the first
    grid specification it stands for), ``estimate``, the grid dimensions (None where the
    dimension cannot move the estimate), ``n_specs``, ``panel``, ``value``/``ci_low``/
    ``ci_high`` on the reported scale, ``p``, ``n``, ``coef`` and ``se`` on the link scale,
    ``z``, ``df``, ``reason`` (None when estimable), ``is_default``. ``totals``: estimate ->
    (PSUs x rows of that estimate, in table order) influence-function totals for the joint
    test; ``psu_strata``: stratum code of each PSU."""

    specs: pd.DataFrame
    table: pd.DataFrame
    totals: dict[str, np.ndarray]
    psu_strata: np.ndarray
    key: str
    seconds: float
    from_cache: bool = False
    #: estimate -> for every grid specification, the position of its row in ``rows(estimate)``
    #: (-1: not in the estimate's grid)
    assign: dict[str, np.ndarray] = field(default_factory=dict)
    #: dimensions held at their default for the proportions mediated in this run
    mediation_fixed: tuple[str, ...] = MEDIATION_FIXED

    def lookup(self, estimate: str, spec: int) -> pd.Series:
        """The row of ``estimate`` that grid specification ``spec`` is (or is a copy of);
        KeyError when the estimate does not cover it (:attr:`mediation_fixed`)."""
        pos = int(self.assign[estimate][spec])
        if pos < 0:
            raise KeyError(f"{estimate} does not cover specification {spec} "
                           f"(it holds {', '.join(self.mediation_fixed)} at their defaults)")
        return self.rows(estimate).iloc[pos]

    @property
    def mediation_fixed_factor(self) -> int:
        """How many times more mediation fits varying the held dimensions over this grid's
        values would take (the product of their numbers of values)."""
        return math.prod(int(self.specs[d].nunique()) for d in self.mediation_fixed if d in self.specs)

    @property
    def dimensions(self) -> list[str]:
        return list(self.specs.columns)

    def rows(self, estimate: str) -> pd.DataFrame:
        """Every distinct specification of ``estimate`` (all panels), ``row`` = its position
        among them (the column of ``totals``)."""
        t = self.table[self.table["estimate"] == estimate]
        return t.assign(row=np.arange(len(t))).reset_index(drop=True)

    def curve(self, estimate: str) -> pd.DataFrame:
        """The main curve of ``estimate``: its distinct specifications outside the panels."""
        t = self.rows(estimate)
        return t[t["panel"] == "main"].reset_index(drop=True)

    def panel(self, estimate: str, dimension: str) -> pd.DataFrame:
        """The specifications of ``estimate`` that use a less defensible value of ``dimension``."""
        t = self.rows(estimate)
        return t[t["panel"] == dimension].reset_index(drop=True)

    def inert(self, estimate: str) -> list[str]:
        """Dimensions that cannot move ``estimate`` (blank in its rows)."""
        t = self.rows(estimate)
        fixed = set(self.mediation_fixed) if ESTIMATES[estimate].mediation else set()
        return [d for d in self.dimensions if d not in fixed and t[d].isna().all()]

    def default_rows(self) -> pd.DataFrame:
        return self.table[self.table["is_default"]].set_index("estimate")

    def to_file(self, path: str | os.PathLike[str]) -> Path:
        """Write ``table`` as ``.parquet`` or ``.csv`` (by extension)."""
        path = Path(path)
        if path.suffix not in (".parquet", ".csv"):
            raise MultiverseError(f"--out {path}: use a .parquet or .csv file name")
        return write_table(self.table, path)


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """The one place the multiverse writes a file: whole or not at all (a temporary file in
    the same folder, renamed), so a failure leaves any previous file as it was."""
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
    return path


def _library_hash() -> str:
    pkg = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for sub in ("data", "cohort", "survey", "analyses", "analyses/multiverse"):
        for p in sorted((pkg / sub).glob("*.py")):
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _data_hash(raw: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(raw, index=False).to_numpy().tobytes()
                          + ",".join(map(str, raw.columns)).encode()).hexdigest()


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(n_rows: int, mediation_boot: int, workers: int) -> None:
    """Refuse, before allocating, a bootstrap whose resampling counts cannot fit: each process
    draws ``boot x rows`` counts (about 28 bytes a cell at the peak of the draw)."""
    need = 28 * n_rows * mediation_boot * max(workers, 1)
    have = _available_memory()
    if have is not None and need > have:
        raise MultiverseError(
            f"--mediation-boot {mediation_boot} needs about {need / 2**30:.1f} GiB "
            f"({workers} process(es) x {mediation_boot:,} resamples x {n_rows:,} rows), and "
            f"{have / 2**30:.1f} GiB are available; use fewer resamples (or --workers 1)")


def check_design(strata: np.ndarray, psu: np.ndarray) -> None:
    """The joint test resamples PSUs within strata (Rao-Wu): a stratum with one PSU is an
    error said before anything is fitted."""
    frame = pd.DataFrame({"s": strata, "p": psu}).dropna()
    per = frame.groupby("s")["p"].nunique()
    lonely = per[per < 2]
    if len(lonely):
        raise MultiverseError(
            f"stratum {', '.join(str(int(s)) for s in lonely.index[:5])} (SDMVSTRA) has a single "
            "PSU among the 20-59-year-olds: the design-based SEs and the joint test need at "
            "least two PSUs per stratum. Check the data files (SDMVSTRA/SDMVPSU of DEMO).")


def run(raw: pd.DataFrame, settings: Mapping[str, Sequence[str]] | None = None, *,
        estimates: Sequence[str] = tuple(ESTIMATES), workers: int | None = None,
        scheduler: str | None = None, cache: bool = True,
        cache_dir: str | os.PathLike[str] | None = None, mediation_boot: int = MEDIATION_BOOT,
        mediation_seed: int = MEDIATION_SEED, mediation_fixed: Sequence[str] = MEDIATION_FIXED,
        progress: bool = False) -> MultiverseResult:
    """Every estimate under every distinct specification of ``grid(settings)``; cached on
    disk, keyed on the data, the library source, the grid and the mediation resamples.

    ``mediation_fixed``: the dimensions held at their default for the proportions mediated
    (:data:`MEDIATION_FIXED` by default, for time: each refits both mediation models in every
    resample); ``()`` varies the proportions over the whole grid."""
    start = time.perf_counter()
    g = grid(settings)
    mediation_fixed = tuple(mediation_fixed)
    bad = [d for d in mediation_fixed if d not in g]
    if bad:
        raise UnknownOptionError(f"mediation_fixed: {bad} are not dimensions of the grid; "
                                 f"choose among {list(g)}")
    unknown = [e for e in estimates if e not in ESTIMATES]
    if unknown:
        raise UnknownOptionError(f"unknown estimate(s) {unknown}; choose from {list(ESTIMATES)}")
    if mediation_boot < 1:
        raise MultiverseError(f"mediation_boot={mediation_boot}: need at least one resample")
    if mediation_seed < 0:
        raise MultiverseError(f"mediation_seed={mediation_seed}: must be 0 or a positive integer")
    specs = specifications(g)
    check_scheduler(scheduler)
    key = _cache.cache_key("multiverse", 3, _data_hash(raw), _library_hash(), g, list(estimates),
                           int(mediation_boot), int(mediation_seed), list(mediation_fixed))
    if cache:
        hit = _cache.cache_load(key, cache_dir)
        if hit is not None:
            return _from_arrays(specs, hit, key, time.perf_counter() - start, mediation_fixed)
    bank = column_bank(raw, g)
    check_design(bank.strata, bank.psu)
    if any(ESTIMATES[e].mediation for e in estimates):
        check_memory(bank.n, int(mediation_boot), 1 if scheduler else (workers or os.cpu_count() or 1))
    p = plan(bank, specs, estimates, mediation_fixed)
    items = list(payloads(bank, p, int(mediation_boot), int(mediation_seed)))
    order = sorted(p.groups, key=lambda g: not ESTIMATES[g.estimate].mediation)
    out = run_all(_fits.task, items, workers=workers, scheduler=scheduler,
                  progress=Progress("multiverse fits (groups)", sys.stderr if progress else None))
    for grp, results in zip(order, out):
        for fit, r in zip(grp.fits, results):
            fit.result = r  # type: ignore[attr-defined]
    n_psu = Design.from_arrays(bank.strata, bank.psu, np.ones(bank.n)).n_psu
    table, totals, assign = _assemble(specs, estimates, p, n_psu, mediation_fixed)
    psu_strata = Design.from_arrays(bank.strata, bank.psu, np.ones(bank.n)).psu_stratum
    res = MultiverseResult(specs, table, totals, psu_strata, key, time.perf_counter() - start,
                           assign=assign, mediation_fixed=mediation_fixed)
    if cache:
        _cache.cache_save(key, _to_arrays(res), cache_dir)
    return res


def _assemble(specs: pd.DataFrame, estimates: Sequence[str], p, n_psu: int,
              mediation_fixed: Sequence[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray],
                                                       dict[str, np.ndarray]]:
    default = default_spec_id(specs)
    parts, totals, assign = [], {}, {}
    for e in estimates:
        est = ESTIMATES[e]
        fits = p.fits[e]
        inert = inert_dimensions(specs, p.assign[e])
        if est.mediation:
            inert = [d for d in inert if d not in mediation_fixed]
        F = len(fits)
        coef, se, lo, hi, pv = (np.full(F, np.nan) for _ in range(5))
        df, n = np.zeros(F, dtype=int), np.zeros(F, dtype=int)
        why: list[str | None] = []
        T = np.zeros((n_psu, F))
        for i, f in enumerate(fits):
            r = getattr(f, "result", None) or {"reason": f.reason or "not fitted"}
            why.append(r["reason"])
            if r["reason"] is None:
                coef[i], se[i], df[i], n[i] = r["coef"], r["se"], r["df"], r["n"]
                if est.mediation:
                    lo[i], hi[i], pv[i] = r["ci_low"], r["ci_high"], r["p"]
                else:
                    T[:, i] = r["totals"]
        with np.errstate(invalid="ignore", divide="ignore"):
            z = coef / se
            if not est.mediation:
                okdf = df > 0
                q = np.where(okdf, stats.t.ppf(1 - ALPHA / 2, np.maximum(df, 1)), np.nan)
                pv = np.where(okdf, 2 * stats.t.sf(np.abs(z), np.maximum(df, 1)), np.nan)
                lo, hi = coef - q * se, coef + q * se
        tf = np.exp if est.ratio else (lambda v: v)
        first = [min(f.specs) for f in fits]
        dims = specs.loc[first].reset_index(drop=True).astype(object)
        for d in inert:
            dims[d] = None
        frame = pd.DataFrame({
            "spec": first, "estimate": e, **{d: dims[d] for d in specs.columns},
            "n_specs": [len(f.specs) for f in fits],
            "panel": [panel_of(r) for r in dims.to_dict("records")],
            "value": tf(coef), "ci_low": tf(lo), "ci_high": tf(hi), "p": pv, "n": n, "coef": coef,
            "se": se, "z": z, "df": df, "reason": pd.Series(why, dtype=object),
            "is_default": [default in f.specs for f in fits]})
        for c in ("estimate", "panel"):
            frame[c] = frame[c].astype(object)
        frame = frame.sort_values("spec", kind="stable")
        if not est.mediation:
            totals[e] = T[:, frame.index.to_numpy()]
        position = np.empty(F + 1, dtype=np.int64)
        position[frame.index.to_numpy()] = np.arange(F)
        position[F] = -1                      # assign -1 (not covered) indexes the last slot
        assign[e] = position[np.where(p.assign[e] >= 0, p.assign[e], F)]
        parts.append(frame.reset_index(drop=True))
    return pd.concat(parts, ignore_index=True), totals, assign


def _to_arrays(res: MultiverseResult) -> dict[str, np.ndarray]:
    t = res.table
    arrays = {f"num_{c}": t[c].to_numpy(dtype=float) for c in NUMBERS}
    for c in ("spec", "n_specs"):
        arrays[c] = t[c].to_numpy(dtype=np.int64)
    for c in ("estimate", "panel", "reason", *res.specs.columns):
        arrays[f"text_{c}"] = t[c].fillna("").to_numpy(dtype=str)
    arrays["is_default"] = t["is_default"].to_numpy(dtype=bool)
    arrays["psu_strata"] = res.psu_strata
    for e, v in res.totals.items():
        arrays[f"totals_{e}"] = v
    for e, v in res.assign.items():
        arrays[f"assign_{e}"] = v
    return arrays


def _from_arrays(specs: pd.DataFrame, a: Mapping[str, np.ndarray], key: str,
                 seconds: float, mediation_fixed: tuple[str, ...]) -> MultiverseResult:
    def text(values: np.ndarray) -> pd.Series:
        return pd.Series([v if v else None for v in values.tolist()], dtype=object)

    t = pd.DataFrame({"spec": a["spec"], "estimate": text(a["text_estimate"])})
    for c in specs.columns:
        t[c] = text(a[f"text_{c}"])
    t["n_specs"] = a["n_specs"]
    t["panel"] = text(a["text_panel"])
    for c in NUMBERS:
        t[c] = a[f"num_{c}"]
    t["n"], t["df"] = t["n"].astype(int), t["df"].astype(int)
    t["reason"] = pd.Series([r if r else None for r in a["text_reason"].tolist()], dtype=object)
    t["is_default"] = a["is_default"]
    totals = {k[len("totals_"):]: v for k, v in a.items() if k.startswith("totals_")}
    assign = {k[len("assign_"):]: v for k, v in a.items() if k.startswith("assign_")}
    return MultiverseResult(specs, t, totals, a["psu_strata"], key, seconds, True, assign,
                            mediation_fixed)


__all__ = ["MEDIATION_BOOT", "MEDIATION_SEED", "MultiverseResult", "run", "write_table",
           "check_memory", "check_design"]
