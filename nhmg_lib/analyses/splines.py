"""Restricted cubic splines (``rms::rcs``) and the Figure 2 dose-response fits.

The basis is Harrell's, as ``Hmisc::rcspline.eval(x, knots, inclx=TRUE, norm=2)`` builds it
for ``rms::rcs``: the linear term ``x`` and, for ``j = 1..k-2``,

    ((x-t_j)_+^3 - (x-t_{k-1})_+^3 (t_k-t_j)/(t_k-t_{k-1}) + (x-t_k)_+^3 (t_{k-1}-t_j)/(t_k-t_{k-1}))
    / (t_k - t_1)^2

so the curve is linear beyond the outer knots. :func:`rcs_knots` places knots exactly as
``rcspline.eval`` does (quantiles 0.10/0.50/0.90 for 3 knots, type 7; its rules for tied
extremes, few unique values and n < 100 included), or at weighted quantiles on request.

:func:`fit_spline` fits the spline of ``ln_mg`` inside Model 3 with the design-based engine
(:func:`nhmg_lib.survey.glm.svyglm`, domain ``in_cohort``) and returns a :class:`SplineFit`: the
OR (LMM) or beta (ln SMI) curve against a reference value (default: the median of ``ln_mg`` in
the domain, unweighted, as ``rms::datadist`` takes it), P overall / P nonlinear as
design-based Wald F tests (``regTermTest``) and as the Wald chi-square ``rms::anova`` reports.
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
from nhmg_lib.survey.glm import SvyGLMResult, WaldTestResult, svyglm

__all__ = ["SplineError", "rcs_knots", "rcs_basis", "spline_names", "weighted_quantile",
           "model_design", "family_for", "fit_spline", "dose_response",
           "SplineFit", "records", "all_records"]


class SplineError(NhmgError, ValueError):
    """Knots cannot be placed or the spline model cannot be set up."""


# ----------------------------------------------------------------------------- knots
def weighted_quantile(x: np.ndarray, weights: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Quantiles of the weighted empirical distribution: the smallest ``x`` whose cumulative
    weight share reaches ``p`` (``survey::svyquantile(qrule="math")``)."""
    x, w = np.asarray(x, float), np.asarray(weights, float)
    keep = ~np.isnan(x) & (w > 0)
    order = np.argsort(x[keep], kind="stable")
    xs, cw = x[keep][order], np.cumsum(w[keep][order])
    if xs.size == 0:
        raise SplineError("no observations with positive weight for weighted knots")
    share = cw / cw[-1]
    # the tolerance keeps p = exactly-reached shares on the lower value despite rounding
    idx = np.searchsorted(share, np.asarray(probs, float) - 1e-12, side="left")
    return xs[np.minimum(idx, xs.size - 1)]


def _outer(nk: int) -> float:
    return 0.025 if nk > 6 else (0.05 if nk > 3 else 0.1)


def rcs_knots(x: Sequence[float] | np.ndarray, nk: int = 3, weights: np.ndarray | None = None,
              fractied: float = 0.05) -> np.ndarray:
    """Knot locations for ``nk`` knots, as ``Hmisc::rcspline.eval`` places them for ``rms::rcs``.

    Unweighted (default): quantiles (type 7) at ``seq(outer, 1-outer, length=nk)`` with
    ``outer`` 0.10 for 3 knots, 0.05 for 4-6, 0.025 beyond; an extreme value holding at least
    ``fractied`` of the data becomes a knot itself; with fewer than ``nk + 3`` unique values
    the interior unique values are the knots; with n < 100 the outer knots move to the 5th
    smallest / largest value. With ``weights`` the same probabilities are taken of the
    weighted distribution (:func:`weighted_quantile`) and the small-sample rules are skipped.
    """
    xx = np.asarray(x, dtype=float)
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.shape != xx.shape:
            raise SplineError("weights must align with x")
        keep = ~np.isnan(xx)
        knots = weighted_quantile(xx[keep], w[keep], np.linspace(_outer(nk), 1 - _outer(nk), nk))
        return _check_knots(np.unique(knots), xx)
    xx = xx[~np.isnan(xx)]
    n = xx.size
    if n < 6:
        raise SplineError("knots not specified, and < 6 non-missing observations")
    if nk < 3:
        raise SplineError("nk must be >= 3")
    xu, counts = np.unique(xx, return_counts=True)
    if xu.size - 2 <= nk:      # too few distinct values: the interior ones are the knots
        return _check_knots(xu[1:-1], xx)
    outer = _outer(nk)
    nke = nk
    first: list[float] = []
    last: list[float] = []
    over_first = over_last = False
    f = counts / n
    if 0 < fractied < 1 and f[1:-1].max() < fractied:
        # a heavily tied extreme (e.g. zeros) gets its own knot at the next value
        if f[0] >= fractied:
            first = [xx[xx > xx.min()].min()]
            xx = xx[xx > first[0]]
            nke -= 1
            over_first = True
        if f[-1] >= fractied:
            last = [xx[xx < xx.max()].max()]
            xx = xx[xx < last[0]]
            nke -= 1
            over_last = True
    if nke == 1:
        knots = np.array([np.median(xx)])
    elif xu.size <= nke:
        knots = xu.copy()
    else:
        p = np.linspace(0.5, 1 - outer, nke) if nke == 2 else np.linspace(outer, 1 - outer, nke)
        knots = np.quantile(xx, p)                   # numpy "linear" == R type 7
        if np.unique(knots).size < min(nke, 3):
            knots = np.quantile(xx, np.linspace(outer, 1 - outer, 2 * nke))
            if first and np.unique(knots).size < 3:
                mid = (first[0] + last[0]) / 2 if last else np.median(xx)
                knots = np.sort(np.r_[first, mid, last if last else np.quantile(xx, 1 - outer)])
        if xx.size < 100:
            xs = np.sort(xx)
            if not over_first:
                knots[0] = xs[4]
            if not over_last:
                knots[nke - 1] = xs[xs.size - 5]
    return _check_knots(np.unique(np.r_[first, knots, last]), xx)


def _check_knots(knots: np.ndarray, x: np.ndarray) -> np.ndarray:
    if knots.size < 3:
        raise SplineError(f"fewer than 3 unique knots ({knots.tolist()}); the variable has "
                          f"{np.unique(x[~np.isnan(x)]).size} distinct values")
    return knots


# ----------------------------------------------------------------------------- basis
def rcs_basis(x: Sequence[float] | np.ndarray, knots: Sequence[float]) -> np.ndarray:
    """The ``rms::rcs`` design columns for ``x``: ``[x, x', x'', ...]`` (n x (k-1)).

    NaN in ``x`` gives NaN rows."""
    t = np.asarray(knots, dtype=float)
    if t.ndim != 1 or t.size < 3 or np.any(np.diff(t) <= 0):
        raise SplineError(f"knots must be >= 3 strictly increasing values, got {t.tolist()}")
    x = np.asarray(x, dtype=float)
    k = t.size
    kd = (t[-1] - t[0]) ** (2.0 / 3.0)            # norm=2: cubes divided by (t_k - t_1)^2

    def pos3(u: np.ndarray) -> np.ndarray:
        return np.maximum(u / kd, 0.0) ** 3

    cols = [x]
    for j in range(k - 2):
        cols.append(pos3(x - t[j])
                    + ((t[-2] - t[j]) * pos3(x - t[-1]) - (t[-1] - t[j]) * pos3(x - t[-2]))
                    / (t[-1] - t[-2]))
    return np.column_stack(cols)


def spline_names(exposure: str, nk: int) -> list[str]:
    """Column names of the basis in model formulas: ``ln_mg``, ``ln_mg_nl1``, ..."""
    return [exposure] + [f"{exposure}_nl{j}" for j in range(1, nk - 1)]


# ----------------------------------------------------------------------------- model helpers
def model_design(frame: pd.DataFrame, design: Design | None = None) -> Design:
    """The NHANES design over ``frame`` (:func:`nhmg_lib.analyses.models.design_for`), or ``design``
    checked against it."""
    if design is None:
        return models.design_for(frame)
    if design.n != len(frame):
        raise SplineError(f"design has {design.n} rows; the frame {len(frame)}")
    return design


def family_for(outcome: str) -> str:
    """``quasibinomial`` for the 0/1 LMM outcome, ``gaussian`` otherwise (ln SMI)."""
    return models.OUTCOMES.get(outcome, "gaussian")


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class SplineFit:
    """A Model 3 restricted cubic spline fit of one outcome on ``ln_mg``.

    ``curve``: DataFrame ``x, estimate, lo, hi, se`` - the OR (logistic) or beta (linear) of
    ``x`` against ``reference`` with a pointwise Wald CI (Student t on the residual df, as the
    other design-based CIs in the book); ``se`` is on the link scale. ``overall`` and
    ``nonlinear`` are design-based Wald F tests (R ``regTermTest``); ``overall_chisq`` and
    ``nonlinear_chisq`` the Wald chi-square versions (``rms::anova`` style).
    """

    outcome: str
    exposure: str
    knots: np.ndarray
    reference: float
    reference_rule: str
    fit: SvyGLMResult = field(repr=False)
    curve: pd.DataFrame = field(repr=False)
    overall: WaldTestResult
    nonlinear: WaldTestResult
    overall_chisq: WaldTestResult
    nonlinear_chisq: WaldTestResult

    @property
    def p_overall(self) -> float:
        return self.overall.p

    @property
    def p_nonlinear(self) -> float:
        return self.nonlinear.p

    @property
    def measure(self) -> str:
        return "OR" if self.fit.is_logistic else "β"

    @property
    def reference_mg(self) -> float:
        """The reference on the natural scale (mg/day when the exposure is ln mg/day)."""
        return float(np.exp(self.reference))

    def predict(self, x: Sequence[float] | np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
        """The curve at ``x`` (same columns as :attr:`curve`)."""
        return _curve(self.fit, self.exposure, self.knots, self.reference, np.asarray(x, float), alpha)

    def summary(self) -> str:
        k = ", ".join(f"{v:.4g}" for v in self.knots)
        o, nl = self.overall, self.nonlinear
        return "\n".join([
            f"Restricted cubic spline of {self.exposure} ({len(self.knots)} knots at {k}), "
            f"outcome {self.outcome} ({self.fit.family}), Model 3; domain n = {self.fit.n}, "
            f"residual df = {self.fit.df_resid}",
            f"Reference: {self.exposure} = {self.reference:.4g} ({self.reference_rule}); "
            f"curve = {self.measure} against it",
            f"P overall   : F = {o.F:.4g} on ({o.df}, {o.ddf:g}) df, p = {o.p:.4g}; "
            f"Wald chi2 = {self.overall_chisq.chisq:.4g} on {o.df} df, p = {self.overall_chisq.p:.4g}",
            f"P nonlinear : F = {nl.F:.4g} on ({nl.df}, {nl.ddf:g}) df, p = {nl.p:.4g}; "
            f"Wald chi2 = {self.nonlinear_chisq.chisq:.4g} on {nl.df} df, p = {self.nonlinear_chisq.p:.4g}",
        ])

    __str__ = summary

    def records(self, prefix: str) -> list[dict]:
        """``<prefix>/p_overall`` and ``<prefix>/p_nonlinear`` (estimate = p, as published)."""
        n = int(self.fit.n)
        return [{"id": f"{prefix}/p_{name}", "estimate": float(p), "ci_low": None,
                 "ci_high": None, "p": float(p), "n": n}
                for name, p in (("overall", self.p_overall), ("nonlinear", self.p_nonlinear))]


def _curve(fit: SvyGLMResult, exposure: str, knots: np.ndarray, reference: float,
           x: np.ndarray, alpha: float) -> pd.DataFrame:
    names = spline_names(exposure, len(knots))
    d = rcs_basis(x, knots) - rcs_basis([reference], knots)   # contrast with the reference
    b = fit.params[names].to_numpy()
    V = fit.cov.loc[names, names].to_numpy()
    eta = d @ b
    se = np.sqrt(np.einsum("ij,jk,ik->i", d, V, d))
    q = stats.t.ppf(1 - alpha / 2, fit.df_resid) if fit.df_resid > 0 else np.nan
    lo, hi = eta - q * se, eta + q * se
    if fit.is_logistic:
        eta, lo, hi = np.exp(eta), np.exp(lo), np.exp(hi)
    return pd.DataFrame({"x": x, "estimate": eta, "lo": lo, "hi": hi, "se": se})


# ----------------------------------------------------------------------------- fitting
def fit_spline(
    frame: pd.DataFrame,
    outcome: str = "lmm",
    exposure: str = "ln_mg",
    *,
    covariates: Sequence[str] = MODEL3_COVARIATES,
    domain: str | np.ndarray = "in_cohort",
    nk: int = 3,
    knots: Sequence[float] | None = None,
    weighted_knots: bool = False,
    reference: float | None = None,
    x: Sequence[float] | None = None,
    design: Design | None = None,
    alpha: float = 0.05,
) -> SplineFit:
    """Fit ``outcome ~ rcs(exposure, nk) + covariates`` over the ``domain`` of ``frame``.

    ``frame`` is the adults frame (every adult 20-59 with ``in_cohort``; CONTRIBUTING.md), so
    the design keeps all PSUs. Knots: ``knots`` if given, else :func:`rcs_knots` of the
    exposure in the domain (weighted by ``weight`` when ``weighted_knots``). ``reference``:
    default the domain median of the exposure. ``x``: where to evaluate the curve, default 200
    points from the 1st to the 99th percentile of the exposure in the domain.
    """
    if outcome not in frame or exposure not in frame:
        raise SplineError(f"columns {outcome!r} and {exposure!r} must be in the frame")
    design = model_design(frame, design)
    dom = models.resolve_domain(frame, domain)
    has_x = dom & frame[exposure].notna().to_numpy()
    xd = frame.loc[has_x, exposure].to_numpy(dtype=float)
    if xd.size == 0:
        raise SplineError(f"no {exposure} values in the domain")
    if knots is None:
        w = frame.loc[has_x, "weight"].to_numpy(float) if weighted_knots else None
        knots = rcs_knots(xd, nk, weights=w)
    knots = np.asarray(knots, dtype=float)
    names = spline_names(exposure, len(knots))
    data = frame.copy()
    data[names[1:]] = rcs_basis(frame[exposure].to_numpy(float), knots)[:, 1:]
    covs = [c for c in covariates if c not in (outcome, exposure)]
    formula = f"{outcome} ~ " + " + ".join(names + covs)
    fit = svyglm(formula, design, family=family_for(outcome), domain=dom, data=data,
                 levels=models.present_levels(frame, dom, covs))
    rule = "given" if reference is not None else "median in the domain (unweighted)"
    ref = float(np.median(xd)) if reference is None else float(reference)
    grid = (np.linspace(*np.quantile(xd, [0.01, 0.99]), 200) if x is None
            else np.asarray(x, dtype=float))
    return SplineFit(
        outcome=outcome, exposure=exposure, knots=knots, reference=ref, reference_rule=rule,
        fit=fit, curve=_curve(fit, exposure, knots, ref, grid, alpha),
        overall=fit.wald_test(names), nonlinear=fit.wald_test(names[1:]),
        overall_chisq=fit.wald_test(names, method="chisq"),
        nonlinear_chisq=fit.wald_test(names[1:], method="chisq"),
    )


def dose_response(frame: pd.DataFrame, **options) -> dict[str, SplineFit]:
    """Figure 2: the spline fits for LMM (``"lmm"``) and ln SMI (``"smi"``)."""
    return {"lmm": fit_spline(frame, "lmm", **options),
            "smi": fit_spline(frame, "ln_smi", **options)}


def records(fits: dict[str, SplineFit]) -> list[dict]:
    """``fig2/{lmm,smi}/p_overall|p_nonlinear`` records of :func:`dose_response` fits."""
    return [r for key, f in fits.items() for r in f.records(f"fig2/{key}")]


def all_records(frame: pd.DataFrame, design: Design | None = None) -> list[dict]:
    """Figure 2 records computed from the adults ``frame``."""
    return records(dose_response(frame, design=model_design(frame, design)))
