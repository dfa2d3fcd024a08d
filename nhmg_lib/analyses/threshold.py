"""Threshold effect analysis (Table S3): the inflection point and the two-piece model.

Method (the "threshold effect" tables of this literature, written out):

1. Candidate breakpoints ``K``: a 0.01 grid from the 5th to the 95th percentile (unweighted)
   of ``ln_mg`` in the domain, so each piece keeps at least 5 % of the cohort.
2. For each ``K`` the two-piece (continuous hinge) Model 3
   ``g(E[y]) = b0 + b1 x + b2 (x - K)_+ + covariates`` is fitted with the survey weights
   (design-based GLM, domain ``in_cohort``). The inflection point is the ``K`` whose fit has
   the largest weighted log-likelihood (smallest deviance; ties: the smallest ``K``).
3. At that ``K``: OR (or beta) per ln unit below it = ``exp(b1)``, above it =
   ``exp(b1 + b2)``; the variance of ``b1 + b2`` comes from the design-based covariance.
   Against the one-line model (``b2 = 0``) two tests are reported: the design-based Wald F
   test of the hinge term (``regTermTest``), and, for information, the weighted
   likelihood-ratio statistic ``D_linear - D_two_piece`` (weights scaled to mean 1) on 1 df.
   The LR test ignores strata and PSUs and the search over ``K``, so its p is optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from nhmg_lib.analyses import models
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from nhmg_lib.survey.design import Design
from nhmg_lib.errors import NhmgError
from nhmg_lib.analyses.models import present_levels
from nhmg_lib.analyses.splines import family_for, model_design
from nhmg_lib.survey.glm import LinearCombination, SvyGLMResult, WaldTestResult, build_model_matrix, svyglm

__all__ = ["ThresholdError", "ThresholdResult", "find_threshold", "candidate_grid", "records"]


class ThresholdError(NhmgError, ValueError):
    """The threshold analysis cannot be run (no candidates, missing columns)."""


@dataclass(frozen=True, eq=False)
class ThresholdResult:
    """Inflection point, profile and two-piece fit of one outcome.

    ``profile``: DataFrame ``breakpoint, deviance, loglik`` over the candidates (loglik =
    -deviance / 2 with weights scaled to mean 1: the weighted log-likelihood up to a
    constant). ``below`` / ``above``: slope per ln unit as :class:`LinearCombination` on the
    link scale. ``hinge``: design-based Wald F test of the hinge; ``lr``/``p_lr``: weighted LR
    statistic and its chi-square(1) p (design ignored).
    """

    outcome: str
    exposure: str
    breakpoint: float
    profile: pd.DataFrame = field(repr=False)
    linear: SvyGLMResult = field(repr=False)
    two_piece: SvyGLMResult = field(repr=False)
    below: LinearCombination
    above: LinearCombination
    slope: LinearCombination
    hinge: WaldTestResult
    lr: float
    p_lr: float

    @property
    def logistic(self) -> bool:
        return self.linear.is_logistic

    @property
    def measure(self) -> str:
        return "OR" if self.logistic else "β"

    @property
    def n(self) -> int:
        return int(self.two_piece.n)

    @property
    def breakpoint_mg(self) -> float:
        """The inflection point on the natural scale (mg/day for ln mg/day)."""
        return float(np.exp(self.breakpoint))

    def text(self, row: str, digits: int = 2) -> str:
        """One formatted cell, e.g. ``text("above") == "0.06 (0.02, 0.19)"``."""
        r = self.table().set_index("row").loc[row]
        return f"{r.estimate:.{digits}f} ({r.ci_low:.{digits}f}, {r.ci_high:.{digits}f})"

    def _scale(self, v: float) -> float:
        return float(np.exp(v)) if self.logistic else float(v)

    def table(self) -> pd.DataFrame:
        """Table S3 as numbers: one row per line of the paper's table (estimates on the
        reported scale: OR for LMM, beta for ln SMI, per 1 unit of ln-Mg)."""
        rows = [("linear", "One-line model, per ln unit", self.slope),
                ("inflection", f"Inflection point K (ln {self.exposure.removeprefix('ln_')})", None),
                ("below", "Two-piece model: ln-Mg < K, per ln unit", self.below),
                ("above", "Two-piece model: ln-Mg >= K, per ln unit", self.above)]
        out = []
        for key, label, lc in rows:
            if lc is None:
                out.append({"row": key, "label": label, "estimate": self.breakpoint,
                            "ci_low": np.nan, "ci_high": np.nan, "p": np.nan})
            else:
                out.append({"row": key, "label": label, "estimate": self._scale(lc.estimate),
                            "ci_low": self._scale(lc.ci_low), "ci_high": self._scale(lc.ci_high),
                            "p": lc.p})
        out.append({"row": "p_hinge", "label": "Hinge term, design-based Wald F test",
                    "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": self.hinge.p})
        out.append({"row": "p_lr", "label": "Weighted likelihood-ratio test (ignores the design)",
                    "estimate": self.lr, "ci_low": np.nan, "ci_high": np.nan, "p": self.p_lr})
        return pd.DataFrame(out)

    def formatted(self, digits: int = 2) -> pd.DataFrame:
        """Table S3 as text cells: ``estimate (95% CI)`` and P."""
        t = self.table()
        cells = []
        for r in t.itertuples(index=False):
            if r.row == "inflection":
                est = f"{r.estimate:.2f} ({np.exp(r.estimate):.0f} mg/day)"
            elif r.row in ("p_hinge", "p_lr"):
                est = "" if r.row == "p_hinge" else f"LR = {r.estimate:.2f}"
            else:
                est = f"{r.estimate:.{digits}f} ({r.ci_low:.{digits}f}, {r.ci_high:.{digits}f})"
            cells.append({f"{self.measure} (95% CI)": est,
                          "P": models.format_p(r.p) if np.isfinite(r.p) else ""})
        return pd.DataFrame(cells, index=t["label"].tolist())

    def summary(self) -> str:
        t = self.formatted()
        return (f"Threshold effect analysis of {self.outcome} on {self.exposure} (Model 3, "
                f"n = {self.n}, {len(self.profile)} candidate breakpoints)\n" + t.to_string())

    __str__ = summary

    def records(self, prefix: str = "tableS3/lmm") -> list[dict]:
        """``<prefix>/{inflection,below,above,p_lr,p_hinge,linear}`` records."""
        t = self.table().set_index("row")

        def num(v: float) -> float | None:
            return float(v) if v is not None and np.isfinite(v) else None

        recs = []
        for key in ("inflection", "below", "above", "linear"):
            r = t.loc[key]
            recs.append({"id": f"{prefix}/{key}", "estimate": num(r.estimate), "ci_low": num(r.ci_low),
                         "ci_high": num(r.ci_high), "p": num(r.p), "n": self.n})
        for key in ("p_lr", "p_hinge"):
            p = num(t.loc[key].p)
            recs.append({"id": f"{prefix}/{key}", "estimate": p, "ci_low": None, "ci_high": None,
                         "p": p, "n": self.n})
        return recs


def candidate_grid(x: np.ndarray, lower: float = 0.05, upper: float = 0.95,
                   step: float = 0.01) -> np.ndarray:
    """Breakpoints on a ``step`` grid between the ``lower`` and ``upper`` quantiles of ``x``."""
    x = np.asarray(x, float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise ThresholdError("no exposure values to place candidate breakpoints")
    lo, hi = np.quantile(x, [lower, upper])
    start = np.ceil(lo / step - 1e-9) * step
    grid = np.round(np.arange(start, hi + step / 2, step), 10)
    grid = grid[grid <= hi + 1e-12]
    if grid.size == 0:
        raise ThresholdError(f"no {step} grid point between the quantiles {lo:.4g} and {hi:.4g}")
    return grid


def find_threshold(
    frame: pd.DataFrame,
    outcome: str = "lmm",
    exposure: str = "ln_mg",
    *,
    covariates: Sequence[str] = MODEL3_COVARIATES,
    domain: str | np.ndarray = "in_cohort",
    candidates: Sequence[float] | None = None,
    lower: float = 0.05,
    upper: float = 0.95,
    step: float = 0.01,
    design: Design | None = None,
    alpha: float = 0.05,
) -> ThresholdResult:
    """Run the threshold effect analysis (module docstring) on the adults ``frame``."""
    absent = [c for c in (outcome, exposure, *covariates) if c not in frame.columns]
    if absent:
        raise ThresholdError(f"the frame lacks columns {absent}")
    design = model_design(frame, design)
    dom = models.resolve_domain(frame, domain)
    covs = [c for c in covariates if c not in (outcome, exposure)]
    # Complete cases of the domain, fixed once so every candidate fits the same units.
    use = dom & frame[[outcome, exposure, *covs]].notna().all(axis=1).to_numpy()
    if not use.any():
        raise ThresholdError("no domain rows with complete model data")
    mm = build_model_matrix(frame.loc[use, covs].reset_index(drop=True), covs,
                            levels=present_levels(frame, use, covs))
    x = frame[exposure].to_numpy(float)
    y = frame[outcome].to_numpy(float)
    grid = (candidate_grid(x[use], lower, upper, step) if candidates is None
            else np.asarray(candidates, float))
    family = family_for(outcome)

    def fit(k: float | None) -> SvyGLMResult:
        cols = {"Intercept": np.ones(use.sum()), exposure: x[use]}
        if k is not None:
            cols["hinge"] = np.maximum(x[use] - k, 0.0)
        block = np.column_stack(list(cols.values()) + [mm.X[:, 1:]])
        names = list(cols) + mm.columns[1:]
        X = pd.DataFrame(np.nan, index=frame.index, columns=names)
        X.loc[use] = block
        terms = {n: [n] for n in list(cols)}
        for t, idx in mm.term_columns.items():
            if t != "Intercept":
                terms[t] = [mm.columns[i] for i in idx]
        return svyglm((y, X), design, family=family, domain=use, terms=terms)

    dev = np.array([fit(k).deviance for k in grid])
    best = int(np.argmin(dev))                 # first minimum: ties go to the smallest K
    k = float(grid[best])
    two, one = fit(k), fit(None)
    if family == "quasibinomial":
        lr = float(one.deviance - two.deviance)
    else:   # Gaussian: n log(RSS0 / RSS1)
        lr = float(two.n * np.log(one.deviance / two.deviance))
    return ThresholdResult(
        outcome=outcome, exposure=exposure, breakpoint=k,
        profile=pd.DataFrame({"breakpoint": grid, "deviance": dev, "loglik": -dev / 2}),
        linear=one, two_piece=two,
        below=two.lincom({exposure: 1.0}, alpha), above=two.lincom({exposure: 1.0, "hinge": 1.0}, alpha),
        slope=one.lincom({exposure: 1.0}, alpha),
        hinge=two.wald_test("hinge"), lr=lr, p_lr=float(stats.chi2.sf(max(lr, 0.0), 1)),
    )


def records(frame: pd.DataFrame, design: Design | None = None) -> list[dict]:
    """Table S3 records (``tableS3/lmm/...``) computed from the adults ``frame``."""
    return find_threshold(frame, "lmm", design=design).records("tableS3/lmm")
