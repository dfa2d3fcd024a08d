"""Derived columns in every version the grid needs, and the cohorts assembled from them.

The raw frame is derived once with the defaults and once per alternative value of each
definition; only the columns a value changes are kept (``egfr_equation=ckd_epi_2021``
changes ``egfr``). A column that two definitions change (``ln_mg``: ``magnesium`` and
``magnesium_energy``) is derived for every combination of their values. A specification's
cohort is then assembled from those versions exactly as
:func:`nhmg_lib.cohort.flow.build_cohort` builds it (tested).
"""

from __future__ import annotations

import hashlib
import itertools
import time
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from nhmg_lib.analyses import models
from nhmg_lib.analyses.multiverse.grid import DEFAULT_SPEC, MultiverseError, definitions_of
from nhmg_lib.cohort import flow
from nhmg_lib.cohort.definitions import DEFAULT, MODEL3_COVARIATES, OPTIONS
from nhmg_lib.cohort.variables import derive

#: Columns the multiverse reads from the derived frame.
COLUMNS = ("age", "smi", "ln_mg", "weight", "lmm", "ln_smi", "energy", "gender", "np", "par",
           "rar", *MODEL3_COVARIATES)
#: Columns no definition may change (the energy rule and the design read them).
FIXED = ("energy", "gender", "age")


@dataclass
class ColumnBank:
    """Derived columns of the adults (20-59) rows, each in every version the grid needs.

    ``versions[col]`` maps a version key - the tuple of ``(field, value)`` of the
    non-default values of the fields that change ``col``, ``()`` for the defaults - to a float
    array (factors as level codes of ``FACTOR_LEVELS``, NaN = missing); ``affects[field]``
    lists the columns a field changes; ``strata``/``psu``: design codes of the rows.
    """

    n: int
    strata: np.ndarray
    psu: np.ndarray
    versions: dict[str, dict[Any, np.ndarray]]
    affects: dict[str, tuple[str, ...]]
    energy_ok: np.ndarray
    derive_seconds: float = 0.0

    def owners(self, col: str) -> tuple[str, ...]:
        return tuple(f for f, cols in self.affects.items() if col in cols)

    def version_key(self, col: str, spec: Mapping[str, str]) -> tuple:
        cache = self.__dict__.setdefault("_owners", {})
        if col not in cache:
            cache[col] = self.owners(col)
        return tuple((f, spec[f]) for f in cache[col] if spec[f] != DEFAULT_SPEC[f])

    def get(self, col: str, spec: Mapping[str, str]) -> np.ndarray:
        return self.versions[col][self.version_key(col, spec)]


def _encode(s: pd.Series, col: str) -> np.ndarray:
    if col in models.FACTOR_LEVELS and col != "mg_q":
        levels = {str(v): i for i, v in enumerate(models.FACTOR_LEVELS[col])}
        text = s.astype(object).where(s.notna(), None)
        out = text.map(lambda v: np.nan if v is None else levels.get(str(v), -1)).to_numpy(dtype=float)
        if (out == -1).any():
            bad = sorted({str(v) for v, o in zip(text, out) if o == -1})
            raise MultiverseError(f"column {col!r} has levels {bad} not in FACTOR_LEVELS")
        return out
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _same(a: pd.Series, b: pd.Series) -> bool:
    return bool(a.astype(object).where(a.notna(), None).equals(b.astype(object).where(b.notna(), None)))


def column_bank(raw: pd.DataFrame, g: Mapping[str, Sequence[str]]) -> ColumnBank:
    """Derive the column versions of grid ``g`` (module docstring)."""
    start = time.perf_counter()
    # Every derived column is a function of its own row or of the 20-59-year-olds (the
    # weight divides by the number of cycles, which the adults share with the whole frame;
    # the residual method regresses within the 20-59 window), so derive the adults only.
    age = pd.to_numeric(raw["RIDAGEYR"], errors="coerce")
    sub = raw[((age >= 20) & (age <= 59)).to_numpy()]
    if sub["cycle"].nunique() == raw["cycle"].nunique():
        raw = sub
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = derive(raw, DEFAULT)
        adults = ((base["age"] >= 20) & (base["age"] <= 59)).to_numpy()
        versions: dict[str, dict[Any, np.ndarray]] = {
            c: {(): _encode(base[c][adults], c)} for c in COLUMNS}
        affects: dict[str, set[str]] = {f: set() for f in OPTIONS}
        for f in OPTIONS:
            for v in g.get(f, ()):
                if v == DEFAULT_SPEC[f]:
                    continue
                alt = derive(raw, DEFAULT.with_(**{f: v}))
                for c in COLUMNS:
                    if not _same(alt[c], base[c]):
                        versions[c][((f, v),)] = _encode(alt[c][adults], c)
                        affects[f].add(c)
        # columns two or more fields change: every combination of their alternative values
        for c in COLUMNS:
            fields = [f for f in OPTIONS if c in affects[f]]
            if len(fields) < 2:
                continue
            alts = [[v for v in g.get(f, ()) if v != DEFAULT_SPEC[f]] for f in fields]
            for r in range(2, len(fields) + 1):
                for sub_fields in itertools.combinations(range(len(fields)), r):
                    for values in itertools.product(*(alts[i] for i in sub_fields)):
                        change = {fields[i]: v for i, v in zip(sub_fields, values)}
                        alt = derive(raw, DEFAULT.with_(**change))
                        key = tuple((f, change[f]) for f in fields if f in change)
                        versions[c][key] = _encode(alt[c][adults], c)
    moved = sorted(c for f in affects for c in affects[f] if c in FIXED)
    if moved:
        raise MultiverseError(f"a definition changes {moved}; the multiverse assumes the energy "
                              "rule, age and gender fixed")
    energy_ok = models.energy_plausible(base.loc[adults, ["energy", "gender"]]).to_numpy()
    strata = pd.to_numeric(base.loc[adults, "SDMVSTRA"]).to_numpy()
    psu = pd.to_numeric(base.loc[adults, "SDMVPSU"]).to_numpy()
    return ColumnBank(int(adults.sum()), strata, psu, versions,
                      {f: tuple(sorted(cols)) for f, cols in affects.items()}, energy_ok,
                      time.perf_counter() - start)


@dataclass
class Cohort:
    members: np.ndarray
    mg_q: np.ndarray | None       # float 1-4 / NaN
    mg_q_key: str | None
    reason: str | None
    key: tuple = ()


def cohort_key(bank: ColumnBank, spec: Mapping[str, str]) -> tuple:
    """What the cohort of ``spec`` depends on: the versions of the columns its rules read."""
    required = flow.required_covariates(definitions_of(spec))
    cols = ("smi", "ln_mg", "weight", *required)
    return (required, tuple(bank.version_key(c, spec) if c in bank.versions else () for c in cols))


def cohort(bank: ColumnBank, spec: Mapping[str, str]) -> Cohort:
    """Membership and quartiles as :func:`nhmg_lib.cohort.flow.build_cohort` gives them."""
    keep = np.isfinite(bank.get("smi", spec)) & np.isfinite(bank.get("ln_mg", spec))
    for c in flow.required_covariates(definitions_of(spec)):
        keep &= np.isfinite(bank.get(c, spec))
    keep &= bank.get("weight", spec) > 0
    key = cohort_key(bank, spec)
    if not keep.any():
        return Cohort(keep, None, None, "empty cohort", key)
    ln_mg = bank.get("ln_mg", spec)
    edges = np.quantile(ln_mg[keep], [0.0, 0.25, 0.5, 0.75, 1.0])
    if np.unique(edges).size == edges.size:   # pd.qcut's cut-points, pd.cut's (a, b] bins
        mg_q = (np.searchsorted(edges[1:-1], ln_mg, side="left") + 1).astype(float)
        mg_q[np.isnan(ln_mg)] = np.nan
    else:                                     # ties at a cut-point: let the cohort code decide
        try:
            q = flow._quartiles(pd.Series(ln_mg), pd.Series(keep))
        except flow.CohortError as exc:
            return Cohort(keep, None, None, f"no quartiles: {exc}", key)
        mg_q = q.to_numpy(dtype=float, na_value=np.nan)
    qkey = hashlib.sha1(np.nan_to_num(mg_q, nan=-1).astype(np.int8).tobytes()).hexdigest()
    return Cohort(keep, mg_q, qkey, None, key)
