"""The plan: which fits the grid needs, each once, and which specifications each stands for.

Two specifications give the same estimate when its fit reads the same data: the same column
versions (exposure, covariates, outcome), the same domain and the same weights. The plan keys
every (specification, estimate) on exactly that (:class:`Fit`), so each distinct fit is
computed once and the curve lists it once (:func:`distinct`). Fits whose model matrix is the
same (same columns, same factor levels present) differ only in domain and weights and form a
:class:`Group`, fitted together in one batched call (``fits.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from nhmg_lib.analyses import models
from nhmg_lib.analyses.multiverse.bank import ColumnBank, Cohort, cohort, cohort_key
from nhmg_lib.analyses.multiverse.grid import (
    COVARIATE_SETS, DEFAULT_SPEC, ESTIMATES, MEDIATION_FIXED)
from nhmg_lib.cohort import flow
from nhmg_lib.cohort.definitions import DEFAULT, OPTIONS
from nhmg_lib.survey.design import Design


@dataclass
class Fit:
    """One distinct fit of one estimate; ``specs`` lists the specifications it stands for."""

    estimate: str
    specs: list[int]
    domain: np.ndarray | None = None       # bool over adults rows
    weight: tuple | str | None = None      # version key of the weight column, or "none"
    scale_by_sd: bool = False               # report per SD of the exposure (NP)
    contrast: tuple[float, float] | None = None   # mediation: (a_star, a), Q1 and Q4 medians
    weighting: str | None = None
    reason: str | None = None


@dataclass
class Group:
    estimate: str
    columns: list[tuple[str, Any]]       # (column, version) in model order; ("mg_q", key)
    levels: dict[str, tuple[int, ...]]   # factor -> level codes used (reference first)
    outcome: tuple                       # version key of the outcome column
    fits: list[Fit] = field(default_factory=list)


@dataclass
class Plan:
    """``assign[e]``: for every specification the index of its fit in ``fits[e]`` (-1: not in
    this estimate's grid, ``mediation_fixed``)."""

    fits: dict[str, list[Fit]]
    assign: dict[str, np.ndarray]
    groups: list[Group]
    mg_q: dict[str, np.ndarray]


def np_model(values: np.ndarray, np_index: str) -> np.ndarray:
    """The NP model column (:func:`nhmg_lib.analyses.inflammation.index_column`)."""
    if np_index == "score":
        return values
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)


def _digest(mask: np.ndarray) -> str:
    return hashlib.sha1(np.packbits(mask).tobytes()).hexdigest()


class _Planner:
    def __init__(self, bank: ColumnBank) -> None:
        self.bank = bank
        self.cohorts: dict[tuple, Cohort] = {}
        self.by_defs: dict[tuple, Cohort] = {}
        self.domains: dict[tuple, tuple[np.ndarray, str]] = {}
        self.levels: dict[tuple, tuple] = {}
        self.medians: dict[tuple, tuple[float, float]] = {}
        self.mg_q: dict[str, np.ndarray] = {}

    def cohort(self, row: Mapping[str, str]) -> Cohort:
        defs = tuple(row[f] for f in OPTIONS)
        if defs not in self.by_defs:
            key = cohort_key(self.bank, row)
            if key not in self.cohorts:
                self.cohorts[key] = cohort(self.bank, row)
            self.by_defs[defs] = self.cohorts[key]
        return self.by_defs[defs]

    def domain(self, coh: Cohort, row: Mapping[str, str], outcome: str, with_np: bool
               ) -> tuple[np.ndarray, str]:
        b = self.bank
        key = (coh.key, row["energy_exclusion"], outcome, b.version_key(outcome, row),
               (b.version_key("np", row), row["np_index"]) if with_np else None)
        if key not in self.domains:
            dom = coh.members.copy()
            if row["energy_exclusion"] == "yes":
                dom &= b.energy_ok
            if with_np:
                dom &= np.isfinite(np_model(b.get("np", row), row["np_index"]))
            dom &= np.isfinite(b.get(outcome, row))
            self.domains[key] = (dom, _digest(dom))
        return self.domains[key]

    def covariates(self, row: Mapping[str, str], dom: tuple[np.ndarray, str], *,
                   reference_required: bool) -> tuple[list, dict, str | None]:
        """The covariate columns of ``row`` (name, version key), the factor levels present
        in the domain, and the reason the model cannot be coded there (None if it can): a
        factor with a single level, or (``reference_required``, treatment coding as svyglm) a
        factor whose reference level is absent."""
        cols = [(c, self.bank.version_key(c, row)) for c in COVARIATE_SETS[row["covariates"]]]
        key = (dom[1], tuple(cols), reference_required)
        if key not in self.levels:
            levels: dict[str, tuple[int, ...]] = {}
            bad = None
            for c, vk in cols:
                if c not in models.FACTOR_LEVELS or c == "mg_q":
                    continue
                codes = self.bank.versions[c][vk][dom[0]].astype(int)
                present = np.flatnonzero(np.bincount(codes, minlength=len(models.FACTOR_LEVELS[c])))
                if reference_required and present[0] != 0:
                    bad = f"reference level {models.FACTOR_LEVELS[c][0]!r} of {c} absent from the domain"
                elif present.size < 2:
                    bad = f"covariate {c} has a single level in the domain"
                levels[c] = tuple(present.tolist())
            self.levels[key] = (cols, levels, bad)
        return self.levels[key]

    def quartile_medians(self, row: Mapping[str, str], coh: Cohort) -> tuple[float, float]:
        """Unweighted medians of ln-Mg in the first and fourth cohort quartiles, as
        :func:`nhmg_lib.report.mediation_report.quartile_medians` on the cohort rows."""
        key = (coh.key, self.bank.version_key("ln_mg", row))
        if key not in self.medians:
            x, q = self.bank.get("ln_mg", row), coh.mg_q
            sel1, sel4 = coh.members & (q == 1), coh.members & (q == 4)
            self.medians[key] = ((float(np.median(x[sel1])), float(np.median(x[sel4])))
                                 if sel1.any() and sel4.any() else (np.nan, np.nan))
        return self.medians[key]

    # ------------------------------------------------------------------ one (spec, estimate)
    def regression(self, e: str, row: Mapping[str, str]) -> tuple[tuple, Fit, tuple | None]:
        est = ESTIMATES[e]
        b = self.bank
        coh = self.cohort(row)
        if coh.reason:
            return ("reason", coh.reason), Fit(e, [], reason=coh.reason), None
        dom = self.domain(coh, row, est.outcome, est.exposure == "np")
        if not dom[0].any():
            return ("reason", "empty domain"), Fit(e, [], reason="empty domain"), None
        if est.exposure == "q4":
            self.mg_q[coh.mg_q_key] = coh.mg_q  # type: ignore[index]
            expo = ("mg_q", coh.mg_q_key)
            counts = np.bincount(coh.mg_q[dom[0]].astype(int), minlength=5)[1:]  # type: ignore[index]
            if (counts == 0).any():
                why = "a magnesium quartile is empty in the domain"
                return ("reason", why), Fit(e, [], reason=why), None
        elif est.exposure == "np":
            expo = ("np", (b.version_key("np", row), row["np_index"]))
        else:
            expo = ("ln_mg", b.version_key("ln_mg", row))
        covs, levels, bad = self.covariates(row, dom, reference_required=True)
        if bad:
            return ("reason", bad), Fit(e, [], reason=bad), None
        weight = b.version_key("weight", row)
        outcome = b.version_key(est.outcome, row)
        gkey = (e, (expo, *covs), outcome, tuple(sorted(levels.items())))
        key = (gkey, dom[1], weight)
        return key, Fit(e, [], dom[0], weight, est.exposure == "np"), (gkey, levels)

    def mediation(self, e: str, row: Mapping[str, str]) -> tuple[tuple, Fit, tuple | None]:
        est = ESTIMATES[e]
        b = self.bank
        coh = self.cohort(row)
        if coh.reason:
            return ("reason", coh.reason), Fit(e, [], reason=coh.reason), None
        contrast = self.quartile_medians(row, coh)
        if not np.all(np.isfinite(contrast)):
            why = "a magnesium quartile is empty in the cohort"
            return ("reason", why), Fit(e, [], reason=why), None
        dom = self.domain(coh, row, est.outcome, True)
        n_cov = len(COVARIATE_SETS[row["covariates"]])
        if dom[0].sum() < n_cov + 10:   # mediation.mediate's minimum
            why = "empty domain" if not dom[0].any() else "too few rows for the mediation models"
            return ("reason", why), Fit(e, [], reason=why), None
        covs, levels, bad = self.covariates(row, dom, reference_required=False)
        if bad:
            return ("reason", bad), Fit(e, [], reason=bad), None
        weighting = row["mediation_weighting"]
        weight = "none" if weighting == "none" else b.version_key("weight", row)
        cols = [("ln_mg", b.version_key("ln_mg", row)),
                ("np", (b.version_key("np", row), row["np_index"])), *covs]
        gkey = (e, tuple(cols), b.version_key(est.outcome, row), tuple(sorted(levels.items())))
        key = (gkey, dom[1], weight, weighting, contrast)
        return key, Fit(e, [], dom[0], weight, False, contrast, weighting), (gkey, levels)


def plan(bank: ColumnBank, specs: pd.DataFrame, estimates: Sequence[str],
         mediation_fixed: Sequence[str] = MEDIATION_FIXED) -> Plan:
    """Key every (specification, estimate) on its fit (module docstring); the proportions
    mediated cover only the specifications with ``mediation_fixed`` at their defaults."""
    planner = _Planner(bank)
    dims = list(specs.columns)
    values = list(zip(*(specs[d].to_numpy(dtype=object) for d in dims)))
    ids = specs.index.to_numpy()
    fits: dict[str, list[Fit]] = {}
    assign: dict[str, np.ndarray] = {}
    groups: dict[tuple, Group] = {}
    for e in estimates:
        est = ESTIMATES[e]
        index: dict[tuple, int] = {}
        fits[e], assign[e] = [], np.full(len(values), -1, dtype=np.int64)
        # dimensions this fit cannot read share one memo entry: the mediation weighting of a
        # regression, and definitions that change no column and no cohort rule
        ignore = _unread(bank) | ({"mediation_weighting"} if not est.mediation else set())
        keep = [j for j, d in enumerate(dims) if d not in ignore]
        fixed = [(dims.index(d), DEFAULT_SPEC[d]) for d in mediation_fixed
                 if est.mediation and d in dims]
        memo: dict[tuple, int] = {}
        for pos, v in enumerate(values):
            if fixed and any(v[j] != default for j, default in fixed):
                continue
            mkey = tuple(v[j] for j in keep)
            i = memo.get(mkey)
            if i is None:
                row = dict(zip(dims, v))
                key, fit, g = (planner.mediation if est.mediation else planner.regression)(e, row)
                if key not in index:
                    index[key] = len(fits[e])
                    fits[e].append(fit)
                    if g is not None:
                        gkey, levels = g
                        if gkey not in groups:
                            groups[gkey] = Group(e, list(gkey[1]), levels, gkey[2])
                        groups[gkey].fits.append(fit)
                i = memo[mkey] = index[key]
            assign[e][pos] = i
        for i, fit in enumerate(fits[e]):
            fit.specs = ids[assign[e] == i].tolist() if len(fits[e]) < 50 else []
        if len(fits[e]) >= 50:   # one pass instead of a mask per fit
            order = np.argsort(assign[e], kind="stable")
            bounds = np.searchsorted(assign[e][order], np.arange(len(fits[e]) + 1))
            for i, fit in enumerate(fits[e]):
                fit.specs = ids[order[bounds[i]:bounds[i + 1]]].tolist()
    return Plan(fits, assign, list(groups.values()), planner.mg_q)


def _unread(bank: ColumnBank) -> set[str]:
    """Definitions that change no derived column the multiverse reads nor the cohort rules."""
    base = flow.required_covariates(DEFAULT)
    return {f for f, values in OPTIONS.items() if not bank.affects.get(f)
            and all(flow.required_covariates(DEFAULT.with_(**{f: v})) == base for v in values)}


def inert_dimensions(specs: pd.DataFrame, assign: np.ndarray) -> list[str]:
    """Dimensions that cannot move the estimate: changing one alone never changes its fit
    (among the specifications the estimate covers, ``assign >= 0``). A dimension with a
    single value in the grid is not one: it is shown with its value."""
    inside = assign >= 0
    codes = np.column_stack([pd.factorize(specs[d])[0] for d in specs.columns])[inside]
    a = assign[inside]
    sizes = codes.max(axis=0) + 1
    mult = np.cumprod(np.concatenate([[1], sizes[:-1]])).astype(np.int64)
    full = codes @ mult
    out = []
    for j, d in enumerate(specs.columns):
        if specs[d].nunique() < 2:
            continue
        other = full - codes[:, j] * mult[j]
        if np.unique(other * (a.max() + 1) + a).size == np.unique(other).size:
            out.append(d)
    return out


def design_matrix(bank: ColumnBank, group: Group, rows: np.ndarray,
                  mg_q: Mapping[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """Model matrix on ``rows`` (intercept, exposure, covariates) and the exposure column."""
    blocks = [np.ones((rows.size, 1))]
    j_exp = 1  # the exposure's first column follows the intercept
    for c, key in group.columns:
        if c == "mg_q":
            q = mg_q[key][rows]
            blocks.append(np.column_stack([(q == k).astype(float) for k in (2, 3, 4)]))
            j_exp = 3  # mg_q[T.2], [T.3], [T.4]: Q4 vs Q1 is the third
        elif c == "np":
            vkey, np_index = key
            blocks.append(np_model(bank.versions["np"][vkey][rows], np_index)[:, None])
        elif c in group.levels:
            codes = bank.versions[c][key][rows]
            blocks.append(np.column_stack([(codes == lv).astype(float) for lv in group.levels[c][1:]]))
        else:
            blocks.append(bank.versions[c][key][rows][:, None])
    return np.hstack(blocks), j_exp


def _weights(bank: ColumnBank, fit: Fit, rows: np.ndarray) -> np.ndarray:
    w = np.ones(rows.size) if fit.weight == "none" else bank.versions["weight"][fit.weight][rows]
    return w * fit.domain[rows]  # type: ignore[index]


def payloads(bank: ColumnBank, p: Plan, boot: int, seed: int):
    """Worker payloads, one per group (the slower mediation groups first)."""
    des = Design.from_arrays(bank.strata, bank.psu, np.ones(bank.n))
    design = {"psu": des.psu, "psu_stratum": des.psu_stratum,
              "psu_per_stratum": des.psu_per_stratum.astype(float)}
    order = sorted(p.groups, key=lambda g: not ESTIMATES[g.estimate].mediation)
    for gi, g in enumerate(order):
        est = ESTIMATES[g.estimate]
        rows = np.flatnonzero(np.vstack([f.domain for f in g.fits]).any(axis=0))
        X, j = design_matrix(bank, g, rows, p.mg_q)
        W = np.vstack([_weights(bank, f, rows) for f in g.fits])
        y = bank.versions[est.outcome][g.outcome][rows]
        ids = [id(f) for f in g.fits]
        if est.mediation:
            factors, numeric, k = [], [], 3
            for c, _key in g.columns[2:]:
                if c in g.levels:
                    m = len(g.levels[c]) - 1
                    factors.append(np.arange(k, k + m) - 3)
                    k += m
                else:
                    numeric.append(k - 3)
                    k += 1
            yield {"kind": "mediation", "A": X[:, 1], "M": X[:, 2], "C": X[:, 3:],
                   "numeric": np.asarray(numeric, dtype=int), "factors": factors, "y": y,
                   "family": "binomial" if est.outcome == "lmm" else "gaussian",
                   "W": W, "rows": rows, "n_bank": bank.n, "boot": boot, "seed": seed,
                   "weighting": [f.weighting for f in g.fits],
                   "contrast": [f.contrast for f in g.fits], "fits": ids}
        else:
            yield {"kind": "regression", "X": X, "y": y, "mult": W, "rows": rows,
                   "family": est.family, "j": j, "per_sd": [f.scale_by_sd for f in g.fits],
                   **design, "fits": ids}
