"""The multiverse: every combination of the open choices, as a specification curve with joint
inference (Simonsohn, Simmons & Nelson 2020, *Nat Hum Behav* 4:1208-1214).

One concept: the headline estimates under *every* specification of a grid, computed with the
design-based engine, and a resampling test of the curve as a whole.

The grid (:data:`GRID`, one documented place)
---------------------------------------------
The full factorial of :data:`nhmg_lib.cohort.definitions.OPTIONS` (3 x 2 x 2 x 2 x 2 x 2 x 2 x 3
x 2 = 1,152 cohorts) times the analysis choices of :data:`ANALYSIS_GRID`:

* ``energy_exclusion``: ``no`` (the cohort, Tables 2/3) or ``yes`` (cohort members with
  implausible energy intake left out of the domain, the rule of Tables S1/S2,
  :data:`nhmg_lib.analyses.models.ENERGY_BOUNDS`);
* ``mediation_weighting``: how the survey weight enters the mediation models
  (:data:`nhmg_lib.analyses.mediation.WEIGHTINGS`: ``normalised``, ``raw``, ``none``). Only the
  mediation estimates read it (:data:`MEDIATION_DIMENSIONS`): the other estimates are fitted
  once per value of the remaining dimensions, the table repeats their row under each
  weighting, and :meth:`MultiverseResult.curve` lists each of their specifications once.

That is 2,304 specifications for the regression estimates and 6,912 for the mediation
estimates. :func:`grid` restricts a dimension (``{"np_index": ["product",
"score"]}``; on the command line ``--set np_index=product,score``) or widens it back (``all``).
Dimensions the issue names that are not in the grid are listed in :data:`PLANNED_DIMENSIONS`
with the reason; naming one is a clear error that says so:

* ``mediation_contrast``: the mediation estimates use the contrast the book recommends
  (book/mediation.md, "Which change of magnesium?"), not a grid of contrasts;
* ``interaction_coding``: left out. The three codings of :mod:`nhmg_lib.analyses.subgroups`
  (``interaction_test=``) change only the P for interaction of the subgroup figures, none of
  the headline estimates, so as a dimension it would copy every curve three times without
  moving a point; a "P for interaction by gender" estimate would be the way to add it;
* ``spline_knots``: only meaningful once a spline estimate is an estimate here.

The place to add a dimension is :data:`ANALYSIS_GRID` plus an entry of :data:`ESTIMATES`.
An unknown dimension or value (:class:`UnknownOptionError`) and a grid with no specification
(:class:`EmptyGridError`) are errors.

Estimates per specification (:data:`ESTIMATES`, all Model 3, domains of the full design)
---------------------------------------------------------------------------------------
``or_lnmg`` Table 2 OR of LMM per 1 ln mg/day; ``or_q4`` Table 2 OR Q4 vs Q1 (cohort
quartiles of the specification's cohort); ``beta_lnmg`` Table 3 β of ln SMI per 1 ln mg/day;
``or_np`` Table 5 OR of LMM per unit of the NP model column (ln NP, or the 0/1/2 score). Each
with its t-based 95% CI, p, the domain n, z = estimate/SE on the link scale. The numbers are
those of :func:`nhmg_lib.analyses.models.fit_exposure_model` and
:func:`nhmg_lib.analyses.inflammation.fit_tables` (tested); :func:`naive_estimates` is that
reference path, specification by specification. A specification whose domain is empty, lacks
a reference level, is singular or does not converge is a row with ``reason`` set and no
numbers, never dropped and never an exception.

``pm_np_lmm`` / ``pm_np_smi``: the proportion of the effect on LMM (logistic) / ln SMI
(linear) mediated by NP (the NP model column as mediator; Tables 7/8 models of
:mod:`nhmg_lib.analyses.mediation`, Model 3 covariates at their means and modes) on the
contrast the book recommends: from the median ln-Mg of the specification's first cohort
quartile to that of its fourth (:func:`nhmg_lib.report.mediation_report.q1q4`), on the cohort
rows (and plausible energy intake when ``energy_exclusion=yes``) with a complete mediator.
Point estimates are the closed forms on the exact fits (equal to
:func:`nhmg_lib.analyses.mediation.mediate` + :meth:`~nhmg_lib.analyses.mediation.MediationResult.at`,
tested to 1e-8). The CI (percentile, with the full-sample estimate, as ``mediate``) and the
bootstrap p come from ``mediation_boot`` resamples (default :data:`MEDIATION_BOOT` = 200) of
a *linearised* row bootstrap: each fit's effect inputs (t1, t2, t3, b0 + b2'c, b1, sigma^2,
mean weight) are moved by ``sum_i (f_i - 1) IF_i``, IF their influence functions, and the
closed forms are applied to the moved inputs (so the non-linearity of the proportion, the
main source of skew, is kept; only the regression fits are linearised). One matrix of
multinomial counts ``f`` over every adults row (:func:`nhmg_lib.survey.bootstrap.row_counts`)
is shared by all specifications: restricted to a domain it has the covariance of a row
bootstrap of that domain for any statistic whose influence functions sum to zero, as these
do. A refit of both models in each resample would cost 6,912 x 2 x 200 fits; on the book's
data the linearised limits are within about a tenth of the CI width of refitted ones on the
same resamples (the test allows a fifth). A tie between two levels for a covariate's mode
is broken by level code (``mediate``: by sorted label); at this sample size none occurs.
``se`` of these rows is the SD of the resampled proportions and ``z`` = value / se; they are
not part of the joint test (no design-based influence function).

How work is shared between specifications
-----------------------------------------
* Derivation (:func:`column_bank`): the raw frame is derived once with the defaults and once
  per alternative value of each definition; only the columns that value changes are kept
  (e.g. ``egfr_equation=ckd_epi_2021`` changes ``egfr`` and ``ckd``). A specification's cohort
  is then assembled from those column versions: membership from cached missingness flags and
  quartiles from its ln-Mg, exactly as :func:`nhmg_lib.cohort.flow.build_cohort` (tested).
* Fitting: specifications whose model matrix is the same (same column versions, same factor
  levels present) differ only in their domain and weights, so they are fitted together by the
  batched IRLS of :mod:`nhmg_lib.survey.batched` (weights = analysis weight x domain flag),
  then the sandwich variance of each is computed as ``svyglm`` does. The mediation models are
  grouped the same way; within a group each distinct weight vector is fitted once (``raw``
  and ``normalised`` share their fits, they differ only in sigma^2), and one product of the
  shared resampling counts with the stacked influence functions gives every resample.
* Groups run in worker processes (:mod:`concurrent.futures`, every core by default), or on an
  existing ``dask.distributed`` cluster (``scheduler=ADDRESS``).

Joint inference (:func:`joint_test`)
------------------------------------
For each estimate, three statistics of the curve: the median estimate (link scale: log OR or
β), the share of specifications significant (p < 0.05) in the paper's direction, and the
mean z in that direction. Their null distributions come from resampling with the exposure
effect removed. We use the *linearised* form of that bootstrap: each specification's
estimate is, to first order, ``beta + sum_i IF_i`` with IF its design-based influence
function (the row of ``A^-1`` times the unit's score), so a Rao-Wu PSU resample ``m`` gives
``beta* - beta = sum_c (m_c - 1) T_c`` with ``T_c`` the PSU totals of IF. Centring at zero
instead of at ``beta`` is "the exposure effect removed": for a linear model this is the
first-order version of refitting ``y - beta x`` on each resample (the residuals, hence IF,
are unchanged by that subtraction); for the logistic models it is the same construction on
the score scale (no outcome can be subtracted from a 0/1 outcome; a refit of every
specification on every resample would cost 2,304 x 4 x 500 IRLS fits). Because every
specification is resampled with the *same* PSU draws, the dependence between
specifications - which is what makes a curve of 2,304 correlated estimates hard to judge by
eye - is kept. z* uses each specification's design-based SE; the p-value of a statistic is
the share of null resamples at least as extreme in the paper's direction (Simonsohn et al.).

Public API::

    GRID, ANALYSIS_GRID, MEDIATION_DIMENSIONS, PLANNED_DIMENSIONS, ESTIMATES, DEFAULT_SPEC,
    MEDIATION_BOOT
    parse_settings(["np_index=product,score", ...]) -> dict[str, list[str]]
    grid(settings=None) -> dict[str, tuple[str, ...]]
    specifications(grid) -> DataFrame                  # one row per specification
    column_bank(raw, grid) -> ColumnBank
    run(raw, settings=None, *, workers=None, scheduler=None, cache=True,
        cache_dir=None, mediation_boot=200, mediation_seed=1) -> MultiverseResult
    MultiverseResult.table / .default_rows() / .to_file(path) / .records()
    joint_test(result, directions, n_null=500, seed=1, *, workers=None, scheduler=None,
               cache=True, cache_dir=None) -> JointTest
    naive_estimates(raw, spec) -> DataFrame            # the reference path, one specification
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats

from nhmg_lib.analyses import cache as _cache
from nhmg_lib.analyses import inflammation, mediation, models
from nhmg_lib.cohort import flow
from nhmg_lib.cohort.definitions import DEFAULT, MODEL3_COVARIATES, OPTIONS, Definitions
from nhmg_lib.cohort.variables import derive
from nhmg_lib.errors import NhmgError
from nhmg_lib.survey import batched
from nhmg_lib.survey import glm as _glm
from nhmg_lib.survey.bootstrap import rao_wu_multipliers, row_counts
from nhmg_lib.survey.design import Design

__all__ = [
    "ANALYSIS_GRID", "GRID", "MEDIATION_DIMENSIONS", "MEDIATION_BOOT", "PLANNED_DIMENSIONS", "ESTIMATES", "DEFAULT_SPEC", "Estimate",
    "MultiverseError", "UnknownOptionError", "EmptyGridError", "parse_settings", "grid",
    "specifications", "column_bank", "ColumnBank", "run", "MultiverseResult", "joint_test",
    "JointTest", "naive_estimates", "default_spec_id", "representatives",
]

#: Analysis choices that are not definitions; first value = the book's default.
ANALYSIS_GRID: dict[str, dict[str, str]] = {
    "energy_exclusion": {
        "no": "every cohort member (Tables 2, 3, 5)",
        "yes": "cohort members with plausible energy intake only (men 800-4200, women "
               "500-3500 kcal/day; the rule of Tables S1/S2)",
    },
    # Read by the mediation estimates only (MEDIATION_DIMENSIONS).
    "mediation_weighting": dict(mediation.WEIGHTINGS),
}
#: Analysis dimensions only the mediation estimates read; the other estimates are fitted once
#: per value of the remaining dimensions and their curves list each specification once.
MEDIATION_DIMENSIONS: tuple[str, ...] = ("mediation_weighting",)
#: Every dimension of the multiverse; first value of each = the book's default.
GRID: dict[str, dict[str, str]] = {**OPTIONS, **ANALYSIS_GRID}

#: Dimensions the issue names that are not in the grid, with the reason; naming one is a clear
#: error. Adding one means: its values in ANALYSIS_GRID, and an Estimate whose fit reads it.
PLANNED_DIMENSIONS: dict[str, str] = {
    "mediation_contrast": "the mediation estimates use the contrast the book recommends (Q1 median "
                          "-> Q4 median of ln-Mg, book/mediation.md); the contrast is not a grid "
                          "dimension",
    "interaction_coding": "the coding of the subgroup interaction tests changes no headline "
                          "estimate (only the P for interaction of Figures 3/S1), so it is left "
                          "out of the grid",
    "spline_knots": "3/4/5 knots, only meaningful once a spline estimate is in ESTIMATES",
}

#: The book's default specification.
DEFAULT_SPEC: dict[str, str] = {k: next(iter(v)) for k, v in GRID.items()}
ALPHA = 0.05


class MultiverseError(NhmgError, ValueError):
    """The multiverse cannot be run as asked."""


class UnknownOptionError(MultiverseError):
    """A dimension or value that the grid does not have."""


class EmptyGridError(MultiverseError):
    """A grid with no specification (a dimension restricted to nothing)."""


@dataclass(frozen=True)
class Estimate:
    """One headline estimate: its model and where the default's value is in results.json."""

    label: str
    outcome: str            #: ``lmm`` or ``ln_smi``
    exposure: str           #: ``ln_mg``, ``q4`` (C(mg_q), Q4 vs Q1) or ``np``
    results_id: str         #: the record of the default specification in results.json
    ratio: bool             #: reported as exp(coefficient)
    #: published record whose sign is the paper's direction when the paper has no value for
    #: ``results_id`` (the paper's proportions mediated are on another contrast)
    sign_id: str | None = None

    @property
    def family(self) -> str:
        return models.OUTCOMES[self.outcome]

    @property
    def mediation(self) -> bool:
        """A proportion mediated (reads :data:`MEDIATION_DIMENSIONS`), not a regression term."""
        return self.exposure == "mediation"


ESTIMATES: dict[str, Estimate] = {
    "or_lnmg": Estimate("LMM per 1 ln mg/day (OR)", "lmm", "ln_mg", "table2/model3/ln_mg", True),
    "or_q4": Estimate("LMM, Q4 vs Q1 (OR)", "lmm", "q4", "table2/model3/q4", True),
    "beta_lnmg": Estimate("ln SMI per 1 ln mg/day (β)", "ln_smi", "ln_mg", "table3/model3/ln_mg", False),
    "or_np": Estimate("LMM per unit NP (OR)", "lmm", "np", "table5/np/model3/ln_index", True),
    "pm_np_lmm": Estimate("LMM: proportion mediated by NP, Q1→Q4", "lmm", "mediation",
                          "table7/np/q1q4/pm", False, "table7/np/pm"),
    "pm_np_smi": Estimate("ln SMI: proportion mediated by NP, Q1→Q4", "ln_smi", "mediation",
                          "table8/np/q1q4/pm", False, "table8/np/pm"),
}
#: Resamples of the (linearised) bootstrap of the mediation estimates, and its seed.
MEDIATION_BOOT = 200
MEDIATION_SEED = 1

#: Factor covariates of Model 3 (coded with FACTOR_LEVELS, first = reference).
_FACTORS = tuple(c for c in MODEL3_COVARIATES if c in models.FACTOR_LEVELS)
#: Columns the multiverse reads from the derived frame.
_COLUMNS = ("age", "smi", "ln_mg", "weight", "lmm", "ln_smi", "energy", "gender", "np", "par",
            "rar", *MODEL3_COVARIATES)


# ============================================================================ the grid
def parse_settings(pairs: Sequence[str]) -> dict[str, list[str]]:
    """``["np_index=product,score", "energy_exclusion=all"]`` -> ``{dimension: values}``."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep:
            raise UnknownOptionError(f"--set {pair!r}: expected DIMENSION=VALUE[,VALUE...]")
        out[key] = [v.strip() for v in value.split(",") if v.strip()]
    return out


def grid(settings: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """The full grid with some dimensions restricted (``all`` = every value of a dimension)."""
    out = {k: tuple(v) for k, v in GRID.items()}
    for key, values in (settings or {}).items():
        if key in PLANNED_DIMENSIONS:
            raise UnknownOptionError(
                f"dimension {key!r} is planned or left out, not in the grid: {PLANNED_DIMENSIONS[key]}")
        if key not in GRID:
            raise UnknownOptionError(f"unknown dimension {key!r}; the grid has {list(GRID)}")
        values = list(values)
        if values == ["all"]:
            values = list(GRID[key])
        bad = [v for v in values if v not in GRID[key]]
        if bad:
            raise UnknownOptionError(f"{key}: unknown value(s) {bad}; choose from {list(GRID[key])}")
        if not values:
            raise EmptyGridError(f"dimension {key!r} restricted to no value: the grid is empty")
        out[key] = tuple(dict.fromkeys(values))
    return out


def specifications(g: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """The full factorial of ``g``, one row per specification (index ``spec``, 0..S-1)."""
    dims = list(g)
    if any(len(g[d]) == 0 for d in dims):
        raise EmptyGridError("a dimension of the grid has no value: no specification to run")
    rows = list(itertools.product(*(g[d] for d in dims)))
    frame = pd.DataFrame(rows, columns=dims)
    frame.index.name = "spec"
    return frame


def default_spec_id(specs: pd.DataFrame) -> int | None:
    """Index of the book's default specification in ``specs`` (None when restricted away)."""
    hit = np.ones(len(specs), dtype=bool)
    for d in specs.columns:
        hit &= specs[d].to_numpy() == DEFAULT_SPEC[d]
    idx = np.flatnonzero(hit)
    return int(specs.index[idx[0]]) if idx.size else None


def _definitions(spec: Mapping[str, str]) -> Definitions:
    return Definitions(**{k: spec[k] for k in OPTIONS})


# ============================================================================ column bank
@dataclass
class ColumnBank:
    """Derived columns of the adults (20-59) rows, each in every version the grid needs.

    ``versions[col]`` maps ``None`` (defaults) or ``(field, value)`` to a float array (factors
    as level codes of ``FACTOR_LEVELS``, NaN = missing); ``affects[field]`` lists the columns a
    field changes; ``strata``/``psu``: design codes of the rows.
    """

    n: int
    strata: np.ndarray
    psu: np.ndarray
    versions: dict[str, dict[Any, np.ndarray]]
    affects: dict[str, tuple[str, ...]]
    energy_ok: np.ndarray
    derive_seconds: float = 0.0

    def version_key(self, col: str, spec: Mapping[str, str]) -> Any:
        owners = self.__dict__.get("_owners")
        if owners is None:
            owners = {c: f for f, cols in self.affects.items() for c in cols}
            self.__dict__["_owners"] = owners
        f = owners.get(col)
        return None if f is None or spec[f] == DEFAULT_SPEC[f] else (f, spec[f])

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
    """Derive once with the defaults and once per alternative definition value in ``g``;
    keep the columns each value changes. A column changed by two fields would not compose
    and is an error (none is today)."""
    start = time.perf_counter()
    # Every derived column is a function of its own row (the weight divides by the number of
    # cycles, which the adults rows share with the whole frame), so derive the adults only.
    age = pd.to_numeric(raw["RIDAGEYR"], errors="coerce")
    sub = raw[((age >= 20) & (age <= 59)).to_numpy()]
    if sub["cycle"].nunique() != raw["cycle"].nunique():
        sub = raw
    raw = sub
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = derive(raw, DEFAULT)
        adults = ((base["age"] >= 20) & (base["age"] <= 59)).to_numpy()
        versions: dict[str, dict[Any, np.ndarray]] = {
            c: {None: _encode(base[c][adults], c)} for c in _COLUMNS}
        affects: dict[str, tuple[str, ...]] = {}
        for f in OPTIONS:
            changed: set[str] = set()
            for v in g.get(f, ()):
                if v == DEFAULT_SPEC[f]:
                    continue
                alt = derive(raw, DEFAULT.with_(**{f: v}))
                cols = [c for c in _COLUMNS if not _same(alt[c], base[c])]
                for c in cols:
                    versions[c][(f, v)] = _encode(alt[c][adults], c)
                changed.update(cols)
            affects[f] = tuple(sorted(changed))
    owners: dict[str, str] = {}
    for f, cols in affects.items():
        for c in cols:
            if c in owners:
                raise MultiverseError(f"column {c!r} depends on both {owners[c]} and {f}; "
                                      "the column bank cannot combine them")
            owners[c] = f
    if any(c in owners for c in ("energy", "gender", "age", "smi", "lmm", "ln_smi")):
        raise MultiverseError("a definition changes the outcome, age or the energy rule; "
                              "the multiverse assumes these fixed")
    frame = base.loc[adults, ["energy", "gender"]]
    energy_ok = models.energy_plausible(frame).to_numpy()
    strata = pd.to_numeric(base.loc[adults, "SDMVSTRA"]).to_numpy()
    psu = pd.to_numeric(base.loc[adults, "SDMVPSU"]).to_numpy()
    return ColumnBank(int(adults.sum()), strata, psu, versions, affects, energy_ok,
                      time.perf_counter() - start)


# ============================================================================ cohorts
@dataclass
class _Cohort:
    members: np.ndarray
    mg_q: np.ndarray | None       # float 1-4 / NaN
    mg_q_key: str | None
    reason: str | None


def _cohort(bank: ColumnBank, spec: Mapping[str, str]) -> _Cohort:
    """Membership and quartiles as :func:`nhmg_lib.cohort.flow.build_cohort` gives them."""
    defs = _definitions(spec)
    keep = np.isfinite(bank.get("smi", spec)) & np.isfinite(bank.get("ln_mg", spec))
    for c in flow.required_covariates(defs):
        keep &= np.isfinite(bank.get(c, spec))
    keep &= bank.get("weight", spec) > 0
    if not keep.any():
        return _Cohort(keep, None, None, "empty cohort")
    ln_mg = bank.get("ln_mg", spec)
    edges = np.quantile(ln_mg[keep], [0.0, 0.25, 0.5, 0.75, 1.0])
    if np.unique(edges).size == edges.size:   # pd.qcut's cut-points, pd.cut's (a, b] bins
        mg_q = (np.searchsorted(edges[1:-1], ln_mg, side="left") + 1).astype(float)
        mg_q[np.isnan(ln_mg)] = np.nan
    else:                                     # ties at a cut-point: let the cohort code decide
        try:
            q = flow._quartiles(pd.Series(ln_mg), pd.Series(keep))
        except flow.CohortError as exc:
            return _Cohort(keep, None, None, f"no quartiles: {exc}")
        mg_q = q.to_numpy(dtype=float, na_value=np.nan)
    key = hashlib.sha1(np.nan_to_num(mg_q, nan=-1).astype(np.int8).tobytes()).hexdigest()
    return _Cohort(keep, mg_q, key, None)


# ============================================================================ fitting
@dataclass
class _Member:
    spec: int
    domain: np.ndarray     # bool over adults rows
    weight_key: Any


@dataclass
class _Group:
    estimate: str
    columns: list[tuple[str, Any]]       # (column, version) in model order; ("mg_q", key)
    levels: dict[str, tuple[int, ...]]    # factor -> level codes used (reference first)
    members: list[_Member] = field(default_factory=list)


def _np_model(values: np.ndarray, np_index: str) -> np.ndarray:
    """The NP model column (:func:`nhmg_lib.analyses.inflammation.index_column`)."""
    if np_index == "score":
        return values
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)


def representatives(specs: pd.DataFrame) -> np.ndarray:
    """For each specification, the one the regression estimates are read from: the same
    choices with :data:`MEDIATION_DIMENSIONS` at their first value in ``specs`` (those
    estimates do not read them, so they are fitted once)."""
    dims = [d for d in MEDIATION_DIMENSIONS if d in specs.columns]
    if not dims:
        return specs.index.to_numpy()
    first = {d: specs[d].iloc[0] for d in dims}
    base = specs.assign(**first)
    ids = {tuple(r): sid for sid, r in zip(specs.index, specs.itertuples(index=False))}
    return np.array([ids[tuple(r)] for r in base.itertuples(index=False)], dtype=np.int64)


def _cohort_of(bank: ColumnBank, row: Mapping[str, str], cohorts: dict[tuple, _Cohort]) -> _Cohort:
    ckey = tuple(row[k] for k in OPTIONS)
    if ckey not in cohorts:
        cohorts[ckey] = _cohort(bank, row)
    return cohorts[ckey]


def _plan(bank: ColumnBank, specs: pd.DataFrame, estimates: Sequence[str],
          cohorts: dict[tuple, _Cohort] | None = None
          ) -> tuple[dict[tuple, _Group], dict[tuple[int, str], str], dict[str, np.ndarray]]:
    """Group (specification, estimate) pairs of the regression estimates by identical model
    matrices (one specification per :func:`representatives` class); record the
    not-estimable ones with their reason."""
    groups: dict[tuple, _Group] = {}
    reasons: dict[tuple[int, str], str] = {}
    mg_q_bank: dict[str, np.ndarray] = {}
    cohorts = {} if cohorts is None else cohorts
    reps = representatives(specs)
    for sid, rep, row in zip(specs.index, reps, specs.to_dict("records")):
        if rep != sid:
            continue
        coh = _cohort_of(bank, row, cohorts)
        for e in estimates:
            est = ESTIMATES[e]
            if est.mediation:
                continue
            if coh.reason:
                reasons[(sid, e)] = coh.reason
                continue
            dom = coh.members.copy()
            if row["energy_exclusion"] == "yes":
                dom &= bank.energy_ok
            if est.exposure == "np":
                npv = _np_model(bank.get("np", row), row["np_index"])
                dom &= np.isfinite(npv)
            dom &= np.isfinite(bank.get(est.outcome, row))
            if not dom.any():
                reasons[(sid, e)] = "empty domain"
                continue
            cols: list[tuple[str, Any]] = []
            if est.exposure == "q4":
                mg_q_bank[coh.mg_q_key] = coh.mg_q  # type: ignore[index]
                cols.append(("mg_q", coh.mg_q_key))
                counts = np.bincount(coh.mg_q[dom].astype(int), minlength=5)[1:]  # type: ignore[index]
                if (counts == 0).any():
                    reasons[(sid, e)] = "a magnesium quartile is empty in the domain"
                    continue
            elif est.exposure == "np":
                cols.append(("np", (bank.version_key("np", row), row["np_index"])))
            else:
                cols.append(("ln_mg", bank.version_key("ln_mg", row)))
            covs, levels, bad = _covariate_columns(bank, row, dom, reference_required=True)
            cols += covs
            if bad:
                reasons[(sid, e)] = bad
                continue
            key = (e, tuple(cols), tuple(sorted(levels.items())))
            if key not in groups:
                groups[key] = _Group(e, cols, levels)
            groups[key].members.append(_Member(int(sid), dom, bank.version_key("weight", row)))
    return groups, reasons, mg_q_bank


def _covariate_columns(bank: ColumnBank, row: dict, dom: np.ndarray, *, reference_required: bool
                       ) -> tuple[list[tuple[str, Any]], dict[str, tuple[int, ...]], str | None]:
    """The Model 3 covariate columns of specification ``row`` (name, version key), the factor
    levels present in ``dom``, and the reason the model cannot be coded there (None if it
    can): a factor with a single level, or (``reference_required``, treatment coding as
    svyglm) a factor whose reference level is absent."""
    cols: list[tuple[str, Any]] = []
    levels: dict[str, tuple[int, ...]] = {}
    bad = None
    for c in MODEL3_COVARIATES:
        cols.append((c, bank.version_key(c, row)))
        if c in _FACTORS:
            codes = bank.get(c, row)[dom].astype(int)
            present = np.flatnonzero(np.bincount(codes, minlength=len(models.FACTOR_LEVELS[c])))
            if reference_required and present[0] != 0:
                bad = f"reference level {models.FACTOR_LEVELS[c][0]!r} of {c} absent from the domain"
            elif present.size < 2:
                bad = f"covariate {c} has a single level in the domain"
            levels[c] = tuple(present.tolist())
    return cols, levels, bad


def _design_matrix(bank: ColumnBank, group: _Group, rows: np.ndarray,
                   mg_q_bank: Mapping[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """Model matrix on ``rows`` (intercept, exposure, covariates) and the exposure column."""
    blocks = [np.ones((rows.size, 1))]
    j_exp = 1  # the exposure's first column follows the intercept
    for c, key in group.columns:
        if c == "mg_q":
            q = mg_q_bank[key][rows]
            blocks.append(np.column_stack([(q == k).astype(float) for k in (2, 3, 4)]))
            j_exp = 3  # mg_q[T.2], [T.3], [T.4]: Q4 vs Q1 is the third
        elif c == "np" and isinstance(key, tuple):
            vkey, np_index = key
            blocks.append(_np_model(bank.versions["np"][vkey][rows], np_index)[:, None])
        elif c in group.levels:
            codes = bank.versions[c][key][rows]
            blocks.append(np.column_stack([(codes == lv).astype(float) for lv in group.levels[c][1:]]))
        else:
            blocks.append(bank.versions[c][key][rows][:, None])
    return np.hstack(blocks), j_exp


def _irls(Xs: np.ndarray, y: np.ndarray, W: np.ndarray, family: str, maxiter: int = 25,
          tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """R ``glm.fit`` as :func:`nhmg_lib.survey.glm.svyglm` runs it, for every row of ``W``
    (prior weights; 0 = outside the domain) at once: weights rescaled to mean 1 over the
    domain, R's start, IRLS until the relative deviance change is below ``tol``. Returns the
    coefficients (basis of ``Xs``), the working weights of the last step (the ``A`` of the
    sandwich), the score weights ``(y - mu) / mu.eta * w`` and the convergence flags - the
    quantities svyglm builds its variance from, so the SEs agree with it to rounding.
    """
    B, n = W.shape
    p = Xs.shape[1]
    inside = W > 0
    Wn = W / (W.sum(axis=1) / np.maximum(inside.sum(axis=1), 1))[:, None]
    iu = np.triu_indices(p)
    Z = Xs[:, iu[0]] * Xs[:, iu[1]]

    def wls(ww: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        G = np.empty((B, p, p))
        flat = ww @ Z
        G[:, iu[0], iu[1]] = flat
        G[:, iu[1], iu[0]] = flat
        rhs = (ww * z) @ Xs if z.ndim == 2 else ww @ (Xs * z[:, None])
        ok = np.all(np.isfinite(G), axis=(1, 2)) & np.all(np.isfinite(rhs), axis=1)
        beta = np.full((B, p), np.nan)
        try:
            beta[ok] = np.linalg.solve(G[ok], rhs[ok][..., None])[..., 0]
        except np.linalg.LinAlgError:   # one singular member: find it
            for b in np.flatnonzero(ok):
                try:
                    beta[b] = np.linalg.solve(G[b], rhs[b])
                except np.linalg.LinAlgError:
                    pass
        return beta, np.isfinite(beta).all(axis=1)

    if family == "gaussian":
        beta, ok = wls(Wn, y)
        mu = np.nan_to_num(beta) @ Xs.T
        return np.nan_to_num(beta), Wn, Wn * (y - mu), ok
    mu = (Wn * y + 0.5) / (Wn + 1)
    eta = np.log(mu / (1 - mu))
    dev_old = _deviance(y, mu, Wn)
    beta = np.zeros((B, p))
    ww_last = np.zeros((B, n))
    done = np.zeros(B, dtype=bool)
    failed = np.zeros(B, dtype=bool)
    for _ in range(maxiter):
        act = ~done & ~failed
        if not act.any():
            break
        mu_eta = _glm._logit_mu_eta(eta)
        z = eta + (y - mu) / mu_eta
        ww = Wn * mu_eta ** 2 / (mu * (1 - mu))
        new, ok = wls(ww, z)
        failed |= act & ~ok
        upd = act & ok
        ww_last[upd] = ww[upd]
        beta[upd] = new[upd]
        eta[upd] = new[upd] @ Xs.T
        mu[upd] = _glm._logit_inv(eta[upd])
        dev = dev_old.copy()
        dev[upd] = _deviance(y, mu[upd], Wn[upd])
        failed |= upd & ~np.isfinite(dev)
        done |= upd & (np.abs(dev - dev_old) / (np.abs(dev) + 0.1) < tol)
        dev_old = np.where(upd, dev, dev_old)
    # separation, as svyglm's warning: fitted probabilities numerically 0 or 1 in the domain
    edge = ((mu < 10 * np.finfo(float).eps) | (mu > 1 - 10 * np.finfo(float).eps)) & inside
    conv = done & ~failed & ~edge.any(axis=1)
    score_w = (y - mu) / _glm._logit_mu_eta(eta) * ww_last
    return beta, ww_last, score_w, conv


def _deviance(y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(y > 0, y * np.log(y / mu), 0.0)
        b = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
    return 2 * np.sum(w * (a + b), axis=1)


def _group_task(payload: dict) -> list[dict]:
    """Fit the members of one group (runs in a worker): batched IRLS, then for every member
    at once the design-based SE of the exposure coefficient (Taylor linearisation as
    :meth:`nhmg_lib.survey.design.Design.total_variance` with its default lonely-PSU rule,
    tested against ``svyglm``) and the PSU totals of its influence function."""
    if payload.get("kind") == "mediation":
        return _mediation_task(payload)
    X, y, mult, rows = payload["X"], payload["y"], payload["mult"], payload["rows"]
    family, j = payload["family"], payload["j"]
    specs = payload["specs"]
    ok_x = np.all(np.isfinite(X), axis=1) & np.isfinite(y)
    mult = np.where(ok_x[None, :], mult, 0.0)
    Xf, yf = np.where(ok_x[:, None], X, 0.0), np.where(ok_x, y, 0.0)
    B, p = mult.shape[0], X.shape[1]
    basis = batched._Basis(Xf)
    with np.errstate(all="ignore"):
        beta_s, ww, score_w, conv = _irls(basis.Xs, yf, mult, family)
    iu = np.triu_indices(p)
    Z = basis.Xs[:, iu[0]] * basis.Xs[:, iu[1]]
    A = np.empty((B, p, p))
    flat = ww @ Z
    A[:, iu[0], iu[1]] = flat
    A[:, iu[1], iu[0]] = flat
    ainv_j = np.zeros((B, p))
    for b in np.flatnonzero(conv):
        try:
            ainv_j[b] = linalg.cho_solve(linalg.cho_factor(A[b]), np.eye(p)[:, j])
        except (np.linalg.LinAlgError, linalg.LinAlgError):
            conv[b] = False
    coef = beta_s[:, j] / basis.scale[j]
    # influence of the exposure coefficient (original scale) of every unit, per member
    infl = np.where(conv[:, None], (ainv_j @ basis.Xs.T) * score_w, 0.0) / basis.scale[j]
    # Design-based variance of sum(infl) over the PSUs the domain reaches.
    psu, pstrat, n_h = payload["psu"][rows], payload["psu_stratum"], payload["psu_per_stratum"]
    C, H = pstrat.size, n_h.size
    inc = np.zeros((rows.size, C))
    inc[np.arange(rows.size), psu] = 1.0
    T = infl @ inc                                            # (B, C) PSU totals
    reach_psu = (mult > 0) @ inc > 0
    S = np.zeros((C, H))
    S[np.arange(C), pstrat] = 1.0
    reach_str = reach_psu.astype(float) @ S > 0               # (B, H)
    centre = (T @ S) / n_h
    dev = T - centre[:, pstrat]
    scale = np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 0.0)
    var = ((dev ** 2) * (scale * reach_str)[:, pstrat]).sum(axis=1)
    lonely = (reach_str & (n_h == 1)).any(axis=1)
    degf = reach_psu.sum(axis=1) - reach_str.sum(axis=1)
    n_used = (mult > 0).sum(axis=1)
    out: list[dict] = []
    for b, sid in enumerate(specs):
        if not conv[b]:
            out.append({"spec": sid, "reason": "no convergence (or separation / singular model)"})
        elif lonely[b]:
            out.append({"spec": sid, "reason": "a stratum the domain reaches has a single PSU"})
        else:
            totals = T[b].copy()
            out.append({"spec": sid, "reason": None, "coef": float(coef[b]),
                        "se": float(np.sqrt(var[b])), "df": int(degf[b] + 1 - p),
                        "n": int(n_used[b]), "totals": totals})
    return out


def _payloads(bank: ColumnBank, groups: Mapping[tuple, _Group],
              mg_q_bank: Mapping[str, np.ndarray]):
    des = Design.from_arrays(bank.strata, bank.psu, np.ones(bank.n))
    design = {"psu": des.psu, "psu_stratum": des.psu_stratum,
              "psu_per_stratum": des.psu_per_stratum.astype(float)}
    for g in groups.values():
        est = ESTIMATES[g.estimate]
        dom = np.vstack([m.domain for m in g.members])
        rows = np.flatnonzero(dom.any(axis=0))
        X, j = _design_matrix(bank, g, rows, mg_q_bank)
        mult = np.vstack([bank.versions["weight"][m.weight_key][rows] * m.domain[rows]
                          for m in g.members])
        yield {"X": X, "y": bank.versions[est.outcome][None][rows], "mult": mult, "rows": rows,
               "family": est.family, "j": j, **design,
               "specs": [m.spec for m in g.members], "estimate": g.estimate}


# ============================================================================ mediation
@dataclass
class _MedMember:
    spec: int
    domain: np.ndarray     # bool over adults rows
    weight_key: Any        # version of the weight column (unused when weighting is "none")
    weighting: str
    contrast: tuple[float, float]   # (a_star, a): Q1 and Q4 medians of ln-Mg in the cohort


def _quartile_medians(bank: ColumnBank, row: Mapping[str, str], coh: _Cohort) -> tuple[float, float]:
    """Unweighted medians of ln-Mg in the first and fourth cohort quartiles, as
    :func:`nhmg_lib.report.mediation_report.quartile_medians` on the cohort rows."""
    x = bank.get("ln_mg", row)
    q = coh.mg_q
    sel1, sel4 = coh.members & (q == 1), coh.members & (q == 4)
    if not sel1.any() or not sel4.any():
        return (np.nan, np.nan)
    return float(np.median(x[sel1])), float(np.median(x[sel4]))


def _plan_mediation(bank: ColumnBank, specs: pd.DataFrame, estimates: Sequence[str],
                    cohorts: dict[tuple, _Cohort]
                    ) -> tuple[dict[tuple, _Group], dict[tuple[int, str], str]]:
    """Group the (specification, mediation estimate) pairs by identical model columns and
    factor levels; members differ in domain, weights and weighting."""
    groups: dict[tuple, _Group] = {}
    reasons: dict[tuple[int, str], str] = {}
    todo = [e for e in estimates if ESTIMATES[e].mediation]
    if not todo:
        return groups, reasons
    medians: dict[tuple, tuple[float, float]] = {}
    n_cov = len(MODEL3_COVARIATES)
    for sid, row in zip(specs.index, specs.to_dict("records")):
        coh = _cohort_of(bank, row, cohorts)
        for e in todo:
            est = ESTIMATES[e]
            if coh.reason:
                reasons[(sid, e)] = coh.reason
                continue
            ckey = tuple(row[k] for k in OPTIONS)
            if ckey not in medians:
                medians[ckey] = _quartile_medians(bank, row, coh)
            if not np.all(np.isfinite(medians[ckey])):
                reasons[(sid, e)] = "a magnesium quartile is empty in the cohort"
                continue
            dom = coh.members.copy()
            if row["energy_exclusion"] == "yes":
                dom &= bank.energy_ok
            dom &= np.isfinite(_np_model(bank.get("np", row), row["np_index"]))
            dom &= np.isfinite(bank.get(est.outcome, row))
            if dom.sum() < n_cov + 10:   # mediation.mediate's minimum
                reasons[(sid, e)] = "empty domain" if not dom.any() else "too few rows for the mediation models"
                continue
            cols: list[tuple[str, Any]] = [("ln_mg", bank.version_key("ln_mg", row)),
                                           ("np", (bank.version_key("np", row), row["np_index"]))]
            covs, levels, bad = _covariate_columns(bank, row, dom, reference_required=False)
            cols += covs
            if bad:
                reasons[(sid, e)] = bad
                continue
            key = (e, tuple(cols), tuple(sorted(levels.items())))
            if key not in groups:
                groups[key] = _Group(e, cols, levels)
            weighting = row.get("mediation_weighting", next(iter(mediation.WEIGHTINGS)))
            groups[key].members.append(_MedMember(int(sid), dom, bank.version_key("weight", row),
                                                  weighting, medians[ckey]))  # type: ignore[arg-type]
    return groups, reasons


def _mediation_payloads(bank: ColumnBank, groups: Mapping[tuple, _Group], boot: int, seed: int):
    for g in groups.values():
        est = ESTIMATES[g.estimate]
        dom = np.vstack([m.domain for m in g.members])
        rows = np.flatnonzero(dom.any(axis=0))
        X, _ = _design_matrix(bank, g, rows, {})
        # X = [1, ln_mg, mediator, covariates...]; the factor blocks, for the covariate modes
        factors, numeric, j = [], [], 3
        for c, _key in g.columns[2:]:
            if c in g.levels:
                k = len(g.levels[c]) - 1
                factors.append(np.arange(j, j + k))
                j += k
            else:
                numeric.append(j)
                j += 1
        W = np.vstack([(np.ones(rows.size) if m.weighting == "none"
                        else bank.versions["weight"][m.weight_key][rows]) * m.domain[rows]
                       for m in g.members])
        yield {"kind": "mediation", "A": X[:, 1], "M": X[:, 2], "C": X[:, 3:],
               "numeric": np.asarray(numeric, dtype=int) - 3,
               "factors": [f - 3 for f in factors],
               "y": bank.versions[est.outcome][None][rows],
               "family": "binomial" if est.outcome == "lmm" else "gaussian",
               "W": W, "rows": rows, "n_bank": bank.n, "boot": boot, "seed": seed,
               "weighting": [m.weighting for m in g.members],
               "contrast": [m.contrast for m in g.members],
               "specs": [m.spec for m in g.members], "estimate": g.estimate}


_COUNTS: dict[tuple[int, int, int], np.ndarray] = {}


def _row_counts(n: int, boot: int, seed: int) -> np.ndarray:
    """Resampling counts over every adults row, drawn once per process and shared by every
    specification (:func:`nhmg_lib.survey.bootstrap.row_counts`)."""
    key = (n, boot, seed)
    if key not in _COUNTS:
        _COUNTS.clear()
        _COUNTS[key] = row_counts(n, boot, seed)
    return _COUNTS[key]


def _solve_wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares on centred and scaled columns (as
    :func:`nhmg_lib.survey.batched.wls`, for one weight vector): coefficients and
    ``(X'WX)^-1`` on the original scale."""
    basis = batched._Basis(X)
    Xs = basis.Xs
    G = (Xs * w[:, None]).T @ Xs
    cf = linalg.cho_factor(G)
    bs = linalg.cho_solve(cf, Xs.T @ (w * y))
    Ginv_s = linalg.cho_solve(cf, np.eye(G.shape[0]))
    return basis.to_original(bs), _ginv_original(basis, Ginv_s)


def _ginv_original(basis: batched._Basis, Ginv_s: np.ndarray) -> np.ndarray:
    """``(X'WX)^-1`` from that of the standardised columns (``beta = T beta_s``)."""
    p = Ginv_s.shape[0]
    T = np.column_stack([basis.to_original(e) for e in np.eye(p)])
    return T @ Ginv_s @ T.T


def _solve_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, tol: float = 1e-11,
                    max_iter: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logistic regression with prior weights ``w`` by Newton-Raphson on centred and scaled
    columns (the root :func:`nhmg_lib.survey.batched.logistic` finds); coefficients, the
    inverse information on the original scale and the fitted probabilities. Raises
    FloatingPointError on non-convergence or separation."""
    basis = batched._Basis(X)
    Xs = basis.Xs
    ybar = np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6)
    bs = np.zeros(Xs.shape[1])
    bs[max(basis.icol, 0)] = np.log(ybar / (1 - ybar)) / basis.icept
    for _ in range(max_iter):
        mu = 1.0 / (1.0 + np.exp(-(Xs @ bs)))
        cf = linalg.cho_factor((Xs * (w * mu * (1 - mu))[:, None]).T @ Xs)
        step = linalg.cho_solve(cf, Xs.T @ (w * (y - mu)))
        bs = bs + step
        if not np.all(np.isfinite(bs)):
            break
        if np.all(np.abs(step) / (1 + np.abs(bs)) < tol):
            mu = 1.0 / (1.0 + np.exp(-(Xs @ bs)))
            if np.any((np.minimum(mu, 1 - mu) < batched._EDGE) & (w > 0)):
                raise FloatingPointError("separation")
            Hinv = linalg.cho_solve(linalg.cho_factor((Xs * (w * mu * (1 - mu))[:, None]).T @ Xs),
                                    np.eye(Xs.shape[1]))
            return basis.to_original(bs), _ginv_original(basis, Hinv), mu
    raise FloatingPointError("the logistic fit did not converge")


def _mediation_fit(A: np.ndarray, M: np.ndarray, C: np.ndarray, y: np.ndarray, w: np.ndarray,
                   numeric: np.ndarray, factors: Sequence[np.ndarray], family: str
                   ) -> tuple[dict[str, float], np.ndarray] | str:
    """The effect inputs of :func:`nhmg_lib.analyses.mediation.effects` on one sample (rows
    with prior weight ``w``) and their influence functions (n x 7: t1, t2, t3, b0 + b2'c, b1,
    s2raw, wbar), or the reason the fit failed. ``b0 + b2'c`` is kept as one quantity (the
    dummy coding then does not matter); ``c``: unweighted means and modes, as ``mediator``."""
    n = A.size
    Xm = np.column_stack([np.ones(n), A, C])
    Xo = np.column_stack([np.ones(n), A, M, A * M, C])
    try:
        b, Gm = _solve_wls(Xm, M, w)
        if family == "binomial":
            t, Go, mu = _solve_logistic(Xo, y, w)
        else:
            t, Go = _solve_wls(Xo, y, w)
            mu = Xo @ t
    except (np.linalg.LinAlgError, linalg.LinAlgError, FloatingPointError) as exc:
        return f"no convergence (or separation / singular model): {exc}"
    q = Xm.shape[1]
    c = np.zeros(C.shape[1])
    c[numeric] = C[:, numeric].mean(axis=0)
    for cols in factors:
        counts = np.concatenate([[n - C[:, cols].sum()], C[:, cols].sum(axis=0)])
        mode = int(np.argmax(counts))             # first of tied levels wins
        c[cols] = mode == np.arange(1, cols.size + 1)
    v = np.concatenate([[1.0, 0.0], c])
    r = M - Xm @ b
    s2raw = float((w * r * r).sum() / (n - q))    # R sigma(lm)^2
    wbar = float(w.mean())
    if_b = (Xm * (w * r)[:, None]) @ Gm
    if_t = (Xo * (w * (y - mu))[:, None]) @ Go[:, 1:4]
    if_c = np.zeros_like(C)
    if_c[:, numeric] = (C[:, numeric] - c[numeric]) / n
    K = np.column_stack([if_t, if_b @ v + if_c @ b[2:], if_b[:, 1],
                         (w * r * r - s2raw) / (n - q), (w - wbar) / n])
    params = {"t1": t[1], "t2": t[2], "t3": t[3], "b0": float(v @ b), "b1": b[1], "bc": 0.0,
              "s2raw": s2raw, "wbar": wbar}
    return params, K


def _mediation_task(p: dict) -> list[dict]:
    """Proportion mediated for every member of one group (runs in a worker): the exact fit of
    both models for each distinct weight vector, the effects at the member's contrast, and a
    linearised bootstrap (module docstring) for the CI and p: every fit's resampled inputs
    come from one product of the shared resampling counts with the stacked influence
    functions."""
    W, rows, family, boot = p["W"], p["rows"], p["family"], p["boot"]
    names = ("t1", "t2", "t3", "b0", "b1", "s2raw", "wbar")
    fits: dict[bytes, Any] = {}
    member_fit: list[bytes] = []
    stacked: list[np.ndarray] = []
    for b in range(len(p["specs"])):
        key = W[b].tobytes()
        member_fit.append(key)
        if key in fits:
            continue
        d = W[b] > 0
        with np.errstate(all="ignore"):
            fit = _mediation_fit(p["A"][d], p["M"][d], p["C"][d], p["y"][d], W[b][d],
                                 p["numeric"], p["factors"], family)
        if isinstance(fit, str):
            fits[key] = fit
            continue
        params, K = fit
        Kpad = np.zeros((rows.size, K.shape[1]))
        Kpad[d] = K
        fits[key] = (params, len(stacked) * len(names), int(d.sum()))
        stacked.append(Kpad)
    if stacked:
        counts = _row_counts(p["n_bank"], boot, p["seed"])[:, rows].astype(np.float64)
        K_all = np.hstack(stacked)
        D_all = counts @ K_all - K_all.sum(axis=0)     # sum_i (count_i - 1) IF_i
    out = []
    for b, sid in enumerate(p["specs"]):
        fit = fits[member_fit[b]]
        if isinstance(fit, str):
            out.append({"spec": sid, "reason": fit})
            continue
        params, j0, n = fit
        draws = {k: params[k] + D_all[:, j0 + i] for i, k in enumerate(names)}
        draws["bc"] = np.zeros(boot)
        a_star, a = p["contrast"][b]
        normalise = p["weighting"][b] != "raw"
        full = {k: np.atleast_1d(v) for k, v in params.items()}
        with np.errstate(all="ignore"):
            est, lo, hi, pv, dr, _floor = mediation._summarise(
                full, draws, np.zeros(boot, dtype=bool), family, a, a_star, 0.0, normalise, True)
        value = est["pm"]
        if not np.isfinite(value):
            out.append({"spec": sid, "reason": "proportion mediated undefined (total effect 0)"})
            continue
        pm = dr[:, list(mediation.EFFECTS).index("pm")]
        pm = pm[np.isfinite(pm)]
        se = float(np.std(pm, ddof=1)) if pm.size > 1 else np.nan
        out.append({"spec": sid, "reason": None, "coef": float(value), "se": se, "df": 0,
                    "n": n, "ci_low": lo["pm"], "ci_high": hi["pm"], "p": pv["pm"]})
    return out

# ============================================================================ execution
def _check_scheduler(scheduler: str | None) -> None:
    if scheduler:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise MultiverseError(
                "--scheduler needs the dask.distributed package (PyPI: distributed); "
                "without it the run uses local processes") from None


def _map(fn: Callable[[Any], Any], items: Sequence[Any] | Any, *, workers: int | None = None,
         scheduler: str | None = None) -> list[Any]:
    """``[fn(x) for x in items]`` in local processes (``workers``, default every core; 1 =
    in this process) or on the ``dask.distributed`` cluster at ``scheduler``."""
    if scheduler:
        _check_scheduler(scheduler)
        from dask.distributed import Client

        with Client(scheduler) as client:
            return client.gather(client.map(fn, list(items), pure=False))
    items = list(items)
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ProcessPoolExecutor(max_workers=min(workers, len(items))) as ex:
        return list(ex.map(fn, items, chunksize=max(1, len(items) // (4 * workers))))


# ============================================================================ result
@dataclass
class MultiverseResult:
    """``table``: one row per (specification, estimate): the grid dimensions, ``estimate``
    (name), ``value``/``ci_low``/``ci_high`` on the reported scale, ``p``, ``n``, ``coef``
    and ``se`` on the link scale, ``z``, ``df``, ``reason`` (None when estimable),
    ``is_default``. ``totals``: estimate -> (PSUs x specs) influence-function totals for the
    joint test; ``psu_strata``: stratum code of each PSU."""

    specs: pd.DataFrame
    table: pd.DataFrame
    totals: dict[str, np.ndarray]
    psu_strata: np.ndarray
    key: str
    seconds: float
    from_cache: bool = False

    @property
    def dimensions(self) -> list[str]:
        return list(self.specs.columns)

    def curve(self, estimate: str) -> pd.DataFrame:
        """The rows of ``estimate``, each specification once: an estimate that does not read a
        dimension of :data:`MEDIATION_DIMENSIONS` keeps only that dimension's first value."""
        t = self.table[self.table["estimate"] == estimate]
        if not ESTIMATES[estimate].mediation:
            for d in MEDIATION_DIMENSIONS:
                if d in self.specs.columns:
                    t = t[t[d] == self.specs[d].iloc[0]]
        return t.reset_index(drop=True)

    def default_rows(self) -> pd.DataFrame:
        return self.table[self.table["is_default"]].set_index("estimate")

    def to_file(self, path: str | os.PathLike[str]) -> Path:
        """Write ``table`` as ``.parquet`` or ``.csv`` (by extension)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            self.table.to_parquet(path, index=False)
        elif path.suffix == ".csv":
            self.table.to_csv(path, index=False)
        else:
            raise MultiverseError(f"--out {path}: use a .parquet or .csv file name")
        return path


def _library_hash() -> str:
    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for sub in ("data", "cohort", "survey", "analyses"):
        for p in sorted((pkg / sub).glob("*.py")):
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _data_hash(raw: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(raw, index=False).to_numpy().tobytes()
                          + ",".join(map(str, raw.columns)).encode()).hexdigest()


def run(raw: pd.DataFrame, settings: Mapping[str, Sequence[str]] | None = None, *,
        estimates: Sequence[str] = tuple(ESTIMATES), workers: int | None = None,
        scheduler: str | None = None, cache: bool = True,
        cache_dir: str | os.PathLike[str] | None = None, mediation_boot: int = MEDIATION_BOOT,
        mediation_seed: int = MEDIATION_SEED) -> MultiverseResult:
    """Every estimate under every specification of ``grid(settings)``; cached on disk,
    keyed on the data, the library source, the grid and the mediation resamples
    (``mediation_boot``, default :data:`MEDIATION_BOOT`, and ``mediation_seed``)."""
    start = time.perf_counter()
    g = grid(settings)
    unknown = [e for e in estimates if e not in ESTIMATES]
    if unknown:
        raise UnknownOptionError(f"unknown estimate(s) {unknown}; choose from {list(ESTIMATES)}")
    specs = specifications(g)
    _check_scheduler(scheduler)
    if mediation_boot < 1:
        raise MultiverseError(f"mediation_boot={mediation_boot}: need at least one resample")
    key = _cache.cache_key("multiverse", 2, _data_hash(raw), _library_hash(), g, list(estimates),
                           int(mediation_boot), int(mediation_seed))
    if cache:
        hit = _cache.cache_load(key, cache_dir)
        if hit is not None:
            return _from_arrays(specs, hit, key, time.perf_counter() - start)
    bank = column_bank(raw, g)
    cohorts: dict[tuple, _Cohort] = {}
    groups, reasons, mg_q_bank = _plan(bank, specs, estimates, cohorts)
    med_groups, med_reasons = _plan_mediation(bank, specs, estimates, cohorts)
    reasons.update(med_reasons)
    payloads = [*_mediation_payloads(bank, med_groups, int(mediation_boot), int(mediation_seed)),
                *_payloads(bank, groups, mg_q_bank)]   # the slower mediation groups first
    results = _map(_group_task, payloads, workers=workers, scheduler=scheduler)
    fitted: dict[tuple[int, str], dict] = {}
    for g_out, pl in zip(results, payloads):
        for r in g_out:
            fitted[(r["spec"], pl["estimate"])] = r
    design = Design.from_arrays(bank.strata, bank.psu, np.ones(bank.n))
    table, totals = _assemble(specs, estimates, fitted, reasons, design.n_psu)
    res = MultiverseResult(specs, table, totals, design.psu_stratum, key,
                           time.perf_counter() - start)
    if cache:
        _cache.cache_save(key, _to_arrays(res), cache_dir)
    return res


def _assemble(specs: pd.DataFrame, estimates: Sequence[str], fitted: Mapping, reasons: Mapping,
              n_psu: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    default = default_spec_id(specs)
    parts = []
    totals = {e: np.zeros((n_psu, len(specs))) for e in estimates if not ESTIMATES[e].mediation}
    S = len(specs)
    reps = representatives(specs)
    for e in estimates:
        est = ESTIMATES[e]
        coef, se = np.full(S, np.nan), np.full(S, np.nan)
        df, n = np.zeros(S, dtype=int), np.zeros(S, dtype=int)
        boot_ci = np.full((S, 3), np.nan)      # ci_low, ci_high, p of the mediation estimates
        why: list[str | None] = []
        for pos, sid in enumerate(specs.index):
            src = sid if est.mediation else int(reps[pos])
            r = fitted.get((src, e))
            reason = reasons.get((src, e)) or (r or {}).get("reason") or (None if r else "not fitted")
            why.append(reason)
            if reason is None:
                coef[pos], se[pos], df[pos], n[pos] = r["coef"], r["se"], r["df"], r["n"]
                if est.mediation:
                    boot_ci[pos] = r["ci_low"], r["ci_high"], r["p"]
                else:
                    totals[e][:, pos] = r["totals"]
        okdf = df > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            q = np.where(okdf, stats.t.ppf(1 - ALPHA / 2, np.maximum(df, 1)), np.nan)
            z = coef / se
            p = np.where(okdf, 2 * stats.t.sf(np.abs(z), np.maximum(df, 1)), np.nan)
        lo, hi = coef - q * se, coef + q * se
        if est.mediation:   # bootstrap percentile CI and p (mediation.mediate's definitions)
            lo, hi, p = boot_ci[:, 0], boot_ci[:, 1], boot_ci[:, 2]
        tf = np.exp if est.ratio else (lambda v: v)
        parts.append(pd.DataFrame({
            "spec": specs.index.to_numpy(), "estimate": e, "value": tf(coef), "ci_low": tf(lo),
            "ci_high": tf(hi), "p": p, "n": n, "coef": coef, "se": se, "z": z, "df": df,
            "reason": pd.Series(why, dtype=object)}))
    t = pd.concat(parts, ignore_index=True)
    t = t.join(specs, on="spec")
    t["is_default"] = t["spec"] == default
    cols = ["spec", "estimate", *specs.columns, "value", "ci_low", "ci_high", "p", "n", "coef",
            "se", "z", "df", "reason", "is_default"]
    return t[cols], totals


def _to_arrays(res: MultiverseResult) -> dict[str, np.ndarray]:
    t = res.table
    arrays = {f"num_{c}": t[c].to_numpy(dtype=float) for c in
              ("value", "ci_low", "ci_high", "p", "n", "coef", "se", "z", "df")}
    arrays["spec"] = t["spec"].to_numpy(dtype=np.int64)
    arrays["estimate"] = t["estimate"].to_numpy(dtype=str)
    arrays["reason"] = t["reason"].fillna("").to_numpy(dtype=str)
    arrays["psu_strata"] = res.psu_strata
    arrays["seconds"] = np.array([res.seconds])
    for e, v in res.totals.items():
        arrays[f"totals_{e}"] = v
    return arrays


def _from_arrays(specs: pd.DataFrame, a: Mapping[str, np.ndarray], key: str,
                 seconds: float) -> MultiverseResult:
    t = pd.DataFrame({"spec": a["spec"], "estimate": a["estimate"].astype(object)})
    for c in ("value", "ci_low", "ci_high", "p", "n", "coef", "se", "z", "df"):
        t[c] = a[f"num_{c}"]
    t["n"], t["df"] = t["n"].astype(int), t["df"].astype(int)
    t["reason"] = [r if r else None for r in a["reason"].tolist()]
    t = t.join(specs, on="spec")
    t["is_default"] = t["spec"] == default_spec_id(specs)
    cols = ["spec", "estimate", *specs.columns, "value", "ci_low", "ci_high", "p", "n", "coef",
            "se", "z", "df", "reason", "is_default"]
    totals = {k[len("totals_"):]: v for k, v in a.items() if k.startswith("totals_")}
    return MultiverseResult(specs, t[cols], totals, a["psu_strata"], key, seconds, True)


# ============================================================================ reference path
def naive_estimates(raw: pd.DataFrame, spec: Mapping[str, str],
                    estimates: Sequence[str] = tuple(ESTIMATES), *,
                    mediation_boot: int = MEDIATION_BOOT,
                    mediation_seed: int = MEDIATION_SEED) -> pd.DataFrame:
    """The headline estimates of one specification the slow, obvious way: build the cohort
    (:func:`nhmg_lib.cohort.flow.build_cohort`) and fit with
    :func:`nhmg_lib.analyses.models.fit_exposure_model`, the Table 5 fit of
    :mod:`nhmg_lib.analyses.inflammation` and :func:`nhmg_lib.analyses.mediation.mediate`
    (refitting both models in each of ``mediation_boot`` row resamples) evaluated at the Q1 ->
    Q4 medians with :meth:`~nhmg_lib.analyses.mediation.MediationResult.at`. Columns as
    :attr:`MultiverseResult.table` (estimate, value, ci_low, ci_high, p, n, coef, se, reason)."""
    full = {**DEFAULT_SPEC, **spec}
    defs = _definitions(full)
    rows = []
    try:
        adults = flow.build_cohort(raw, defs).adults
    except flow.CohortError as exc:
        return pd.DataFrame([{"estimate": e, "reason": str(exc)} for e in estimates])
    domain = "energy" if full["energy_exclusion"] == "yes" else "in_cohort"
    des = models.design_for(adults)
    for e in estimates:
        est = ESTIMATES[e]
        if est.mediation:
            rows.append(_naive_mediation(adults, full, est, mediation_boot, mediation_seed) | {"estimate": e})
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if est.exposure == "np":
                    data = inflammation.with_index_columns(adults, defs, ["np"])
                    col, _ = inflammation.index_column("np", defs)
                    mask = inflammation.index_domain(data, "np", defs, domain)
                    fit = inflammation._fit(data, des, "lmm", [col], 3, "quasibinomial", mask)
                    term = col
                else:
                    expo = "quartiles" if est.exposure == "q4" else "ln_mg"
                    fit = models.fit_exposure_model(adults, est.outcome, expo, 3, domain, design=des)
                    term = "mg_q[T.4]" if est.exposure == "q4" else "ln_mg"
        except NhmgError as exc:
            rows.append({"estimate": e, "reason": str(exc)})
            continue
        t = fit.tidy(exponentiate=est.ratio).set_index("term").loc[term]
        rows.append({"estimate": e, "value": t.estimate, "ci_low": t.ci_low, "ci_high": t.ci_high,
                     "p": t.p, "n": fit.n, "coef": float(fit.params[term]), "se": float(fit.se[term]),
                     "reason": None if fit.converged and not fit.separation else "no convergence"})
    return pd.DataFrame(rows)


def _naive_mediation(adults: pd.DataFrame, spec: Mapping[str, str], est: Estimate, boot: int,
                     seed: int) -> dict:
    """One mediation estimate of :func:`naive_estimates`."""
    cohort = adults[adults["in_cohort"] == 1]
    x = pd.to_numeric(cohort["ln_mg"], errors="coerce")
    q = pd.to_numeric(cohort["mg_q"], errors="coerce")
    a_star, a = float(x[q == 1].median()), float(x[q == 4].median())
    rows = cohort[models.energy_plausible(cohort).to_numpy()] if spec["energy_exclusion"] == "yes" else cohort
    mediator = _np_model(pd.to_numeric(rows["np"], errors="coerce").to_numpy(dtype=float),
                         spec["np_index"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mediation.mediate(
                rows.assign(mv_mediator=mediator), "ln_mg", "mv_mediator", est.outcome,
                MODEL3_COVARIATES, "binomial" if est.outcome == "lmm" else "gaussian",
                boot=boot, seed=seed, cache=False, progress=False,
                weighting=spec.get("mediation_weighting", "normalised")).at(a, a_star)  # type: ignore[arg-type]
    except NhmgError as exc:
        return {"reason": str(exc)}
    return {"value": res.estimate["pm"], "ci_low": res.ci_low["pm"], "ci_high": res.ci_high["pm"],
            "p": res.p["pm"], "n": res.n, "coef": res.estimate["pm"], "se": np.nan,
            "reason": None}


# ============================================================================ joint inference
STATISTICS = ("median", "share_significant", "mean_z")


@dataclass
class JointTest:
    """``frame``: one row per estimate: ``direction`` (+1/-1, the paper's), ``n_specs``
    (estimable), observed ``median`` (link scale), ``share_significant``, ``mean_z`` and the
    null p-value of each (``p_median``, ``p_share``, ``p_mean_z``), ``n_null``. ``null``:
    estimate -> (n_null x 3) null statistics in :data:`STATISTICS` order."""

    frame: pd.DataFrame
    null: dict[str, np.ndarray]
    seconds: float
    from_cache: bool = False


def _curve_stats(coef: np.ndarray, se: np.ndarray, df: np.ndarray, direction: int) -> np.ndarray:
    """(..., S) arrays -> (..., 3): median coef, share significant in ``direction``, mean z."""
    z = coef / se
    p = 2 * stats.t.sf(np.abs(z), df)
    sig = (p < ALPHA) & (np.sign(coef) == direction)
    return np.stack([np.median(coef, axis=-1), sig.mean(axis=-1), (direction * z).mean(axis=-1)], axis=-1)


def _null_chunk(payload: dict) -> dict[str, np.ndarray]:
    """Null statistics for one chunk of resamples (runs in a worker)."""
    strata = payload["psu_strata"]
    m = rao_wu_multipliers(strata, np.arange(strata.size), payload["size"], payload["seed"]) - 1.0
    out = {}
    for e, (T, se, df, direction) in payload["curves"].items():
        out[e] = _curve_stats(m @ T, se, df, direction)
    return out


def joint_test(result: MultiverseResult, directions: Mapping[str, int], n_null: int = 500,
               seed: int = 1, *, workers: int | None = None, scheduler: str | None = None,
               cache: bool = True, cache_dir: str | os.PathLike[str] | None = None,
               chunk: int = 50) -> JointTest:
    """Simonsohn et al.'s joint test of each curve (see the module docstring).

    ``directions``: estimate -> +1 / -1, the paper's direction (report layer:
    ``nhmg_lib.report.specification_curve.paper_directions``). Resamples are drawn in chunks
    of ``chunk`` with seeds ``(seed, chunk index)``, so the answer does not depend on
    ``workers`` or the scheduler."""
    start = time.perf_counter()
    if n_null < 1:
        raise MultiverseError(f"n_null={n_null}: need at least one null resample")
    estimates = [e for e in result.totals if e in directions]
    missing = [e for e in result.totals if e not in directions]
    if missing:
        raise MultiverseError(f"no paper direction given for {missing}")
    key = _cache.cache_key("multiverse-null", 1, result.key, n_null, seed, chunk,
                           {e: int(directions[e]) for e in estimates})
    if cache:
        hit = _cache.cache_load(key, cache_dir)
        if hit is not None:
            return _joint_frame(result, directions, estimates, hit, n_null,
                                time.perf_counter() - start, True)
    curves = {}
    for e in estimates:
        c = result.curve(e)
        ok = c["reason"].isna().to_numpy()
        if not ok.any():
            continue
        pos = c["spec"].to_numpy()[ok]          # spec ids are positions in result.specs
        curves[e] = (result.totals[e][:, pos], c["se"].to_numpy()[ok], c["df"].to_numpy()[ok],
                     int(directions[e]))
    sizes = [min(chunk, n_null - lo) for lo in range(0, n_null, chunk)]
    payloads = [{"psu_strata": result.psu_strata, "size": s, "seed": seed * 1_000_003 + i,
                 "curves": curves} for i, s in enumerate(sizes)]
    parts = _map(_null_chunk, payloads, workers=workers, scheduler=scheduler)
    null = {e: np.vstack([p[e] for p in parts]) for e in curves}
    if cache:
        _cache.cache_save(key, {f"null_{e}": v for e, v in null.items()}, cache_dir)
    return _joint_frame(result, directions, estimates, {f"null_{e}": v for e, v in null.items()},
                        n_null, time.perf_counter() - start, False)


def _joint_frame(result: MultiverseResult, directions: Mapping[str, int], estimates: list[str],
                 arrays: Mapping[str, np.ndarray], n_null: int, seconds: float,
                 from_cache: bool) -> JointTest:
    rows, null = [], {}
    for e in estimates:
        c = result.curve(e)
        ok = c["reason"].isna().to_numpy()
        d = int(directions[e])
        row = {"estimate": e, "direction": d, "n_specs": int(ok.sum()), "n_not_estimable": int((~ok).sum()),
               "n_null": n_null}
        if ok.any() and f"null_{e}" in arrays:
            obs = _curve_stats(c["coef"].to_numpy()[ok], c["se"].to_numpy()[ok],
                               c["df"].to_numpy()[ok], d)
            nl = arrays[f"null_{e}"]
            null[e] = nl
            row.update({"median": obs[0], "share_significant": obs[1], "mean_z": obs[2],
                        "p_median": float(np.mean(d * nl[:, 0] >= d * obs[0])),
                        "p_share": float(np.mean(nl[:, 1] >= obs[1])),
                        "p_mean_z": float(np.mean(nl[:, 2] >= obs[2]))})
        rows.append(row)
    return JointTest(pd.DataFrame(rows).set_index("estimate"), null, seconds, from_cache)
