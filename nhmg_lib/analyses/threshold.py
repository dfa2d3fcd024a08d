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

Honest uncertainty (the breakpoint is chosen on the data; the tests above treat it as fixed):

4. Bootstrap (:func:`threshold_bootstrap`): the design-aware Rao-Wu bootstrap
   (:func:`nhmg_lib.survey.bootstrap.rao_wu_multipliers`: ``n_h - 1`` PSUs drawn with
   replacement in every stratum of the whole design, weights rescaled by ``n_h / (n_h - 1)``,
   R ``survey``'s ``"subbootstrap"``) repeats the *whole* grid search in every resample: the
   same candidates, the best one per resample, and the two slopes at that resample's own
   breakpoint. 95% percentile intervals of these give the CI of the breakpoint and slope CIs
   that carry the breakpoint's uncertainty. Percentile (not bootstrap-t) intervals, because
   the breakpoint's distribution is discrete (a grid) and skewed. The fits are batched
   (:func:`nhmg_lib.survey.batched.logistic_path`: one pass along the candidates for all
   resamples at once) and cached on disk.
5. Search-aware tests of "no change in slope" (``b2 = 0`` at every ``K``), both on the
   process of hinge estimates over the grid:

   * bootstrap sup-t (the book's recommended P): ``T = max_K |b2(K)| / se*(K)`` with
     ``se*(K)`` the bootstrap SD of ``b2(K)``; its null distribution is that of the centred
     bootstrap process ``max_K |b2*(K) - b2(K)| / se*(K)`` (the centring makes the resamples
     mimic the null whatever the truth). P = ``(1 + #{T* >= T}) / (1 + B)``. Chosen because it
     uses the design (strata, PSUs, weights) and the very search the estimate uses;
   * Davies' test (the formula of R ``segmented::davies.test``, GLM branch, two-sided): the
     upper bound ``P <= 2 [Phi(-M) + V exp(-M^2/2) / sqrt(8 pi)]`` with ``M = max_K |z(K)|``
     and ``V`` the total variation of ``z`` along the grid, capped at 1. Here ``z(K)`` is the
     design-based Wald t of the hinge at every candidate of the book's grid. R's default is
     different on both counts: ``type = "lrt"`` takes ``z(K)`` as the signed root of the
     deviance drop of a ``glm`` (divided by its dispersion), at ``k = 10`` evenly spaced
     points from the second-smallest to the second-largest exposure value;
     :func:`davies_r_default` reproduces it (on the Model 3 ``glm`` with the survey weights,
     scaled to mean 1, as prior weights), for comparison only: it ignores strata and PSUs.
     An analytic bound, so no resampling, but it leans on the normality of the process.

6. Where is the breakpoint? Only where a change in slope exists: without a kink the
   breakpoint of a continuous two-piece model is not identified, and any interval for it only
   traces the searched range. The book therefore shows a breakpoint interval only when the
   search-aware test (bootstrap sup-t) rejects at 5%, and flags an interval that reaches an
   end of the grid. Two intervals are given:

   * the bootstrap percentile interval of step 4;
   * test inversion (Hansen 2017, "Regression kink with an unknown threshold", JBES 35:228-240,
     recommends inverting a test of the threshold rather than a Wald interval): the set of
     candidates ``K`` at which ``H0: threshold = K`` is not rejected at 5%. The statistic is
     Hansen's profile likelihood ratio ``D(K) - D(K_hat)`` (Gaussian: on the scale of the
     residual variance), made design-based as R ``anova.svyglm`` does for one degree of
     freedom: divided by the Rao-Scott design effect of the threshold direction at ``K``, the
     ratio of the design-based to the model-based variance of the step ``1(x > K)`` added to
     the two-piece model (the step is the derivative of the hinge ``(x - K)_+`` with respect
     to ``K``); then chi-square(1). Reported as the hull of that set (``inversion_ci``), with
     a flag when the set has gaps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from nhmg_lib.analyses import models
from nhmg_lib.analyses.cache import cache_key, cache_load, cache_save
from nhmg_lib.analyses.workers import progress_bar, run_pieces
from nhmg_lib.survey import batched, bootstrap
from nhmg_lib.survey.bootstrap import rao_wu_multipliers
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from nhmg_lib.survey.design import Design
from nhmg_lib.errors import NhmgError
from nhmg_lib.analyses.models import present_levels
from nhmg_lib.analyses.splines import family_for, model_design
from nhmg_lib.survey.glm import LinearCombination, SvyGLMResult, WaldTestResult, build_model_matrix, svyglm

__all__ = ["ThresholdError", "ThresholdResult", "find_threshold", "candidate_grid", "records",
           "DaviesTest", "davies_test", "davies_r_default", "NO_BREAKPOINT", "ThresholdBootstrap", "threshold_bootstrap"]


#: Why the breakpoint intervals are null: no change in slope to locate.
NO_BREAKPOINT = "no breakpoint: the search-aware test does not reject"


class ThresholdError(NhmgError, ValueError):
    """The threshold analysis cannot be run (no candidates, missing columns)."""


@dataclass(frozen=True, eq=False)
class ThresholdResult:
    """Inflection point, profile and two-piece fit of one outcome.

    ``profile``: DataFrame ``breakpoint, deviance, loglik, hinge, t_hinge`` over the
    candidates (loglik = -deviance / 2 with weights scaled to mean 1: the weighted
    log-likelihood up to a constant; ``hinge`` the hinge coefficient and ``t_hinge`` its
    design-based Wald t, the process Davies' test reads), and ``p_threshold``: the P of the
    design-based test of ``H0: threshold = K`` (module docstring, step 6; NaN when not
    computed). ``davies_lrt``: :func:`davies_r_default` on the same data. ``below`` / ``above``: slope per ln unit as :class:`LinearCombination` on the
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
    davies_lrt: "DaviesTest | None" = None

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
    def davies(self) -> "DaviesTest":
        """Davies' test for a change in slope over the searched candidates (:func:`davies_test`
        on the design-based Wald t of the hinge at every candidate)."""
        return davies_test(self.profile["t_hinge"].to_numpy(), self.profile["breakpoint"].to_numpy())

    def inversion_set(self, alpha: float = 0.05) -> np.ndarray:
        """Candidates where ``H0: threshold = K`` is not rejected at ``alpha``."""
        p = self.profile["p_threshold"].to_numpy()
        return self.profile["breakpoint"].to_numpy()[np.isfinite(p) & (p >= alpha)]

    def inversion_ci(self, alpha: float = 0.05) -> tuple[float, float] | None:
        """Test-inversion interval of the breakpoint: the hull of :meth:`inversion_set` (None
        when empty or not computed)."""
        keep = self.inversion_set(alpha)
        return (float(keep.min()), float(keep.max())) if keep.size else None

    def inversion_has_gaps(self, alpha: float = 0.05) -> bool:
        """Whether some candidate inside the inversion interval is rejected."""
        ci = self.inversion_ci(alpha)
        if ci is None:
            return False
        grid = self.profile["breakpoint"].to_numpy()
        return int(((grid >= ci[0]) & (grid <= ci[1])).sum()) > self.inversion_set(alpha).size

    def at_grid_end(self, interval: tuple[float, float] | None) -> str:
        """"lower", "upper", "both" or "" as ``interval`` reaches an end of the searched grid."""
        if interval is None:
            return ""
        grid = self.profile["breakpoint"].to_numpy()
        lo, hi = interval[0] <= grid.min() + 1e-9, interval[1] >= grid.max() - 1e-9
        return "both" if lo and hi else "lower" if lo else "upper" if hi else ""

    @property
    def breakpoint_mg(self) -> float:
        """The inflection point on the natural scale (mg/day for ln mg/day)."""
        return float(np.exp(self.breakpoint))

    def text(self, row: str, digits: int = 2) -> str:
        """One formatted cell, e.g. ``text("above") == "0.06 (0.02, 0.19)"``."""
        r = self.table().set_index("row").loc[row]
        if self.logistic:
            return models.format_ratio_ci(r.estimate, r.ci_low, r.ci_high, digits)
        return f"{r.estimate:.{digits}f} ({r.ci_low:.{digits}f}, {r.ci_high:.{digits}f})"

    def _scale(self, v: float) -> float:
        return float(np.exp(v)) if self.logistic else float(v)

    def table(self) -> pd.DataFrame:
        """Table S3 as numbers: one row per line of the paper's table (estimates on the
        reported scale: OR for LMM, beta for ln SMI, per 1 unit of ln-Mg)."""
        rows = [("linear", "One-line model, per ln unit", self.slope),
                ("inflection", f"Inflection point K (ln {self.exposure.removeprefix('ln_')})", None),
                ("below", "Two-piece model: ln-Mg < K, per ln unit", self.below),
                ("above", "Two-piece model: ln-Mg ≥ K, per ln unit", self.above)]
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
            elif self.logistic:
                est = models.format_ratio_ci(r.estimate, r.ci_low, r.ci_high, digits)
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


def _model_inputs(frame: pd.DataFrame, outcome: str, exposure: str, covariates: Sequence[str],
                  domain: str | np.ndarray, design: Design | None):
    """Design, complete-case domain mask, covariate model matrix, exposure and outcome."""
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
    return design, use, mm, frame[exposure].to_numpy(float), frame[outcome].to_numpy(float)


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
    inversion: bool = True,
) -> ThresholdResult:
    """Run the threshold effect analysis (module docstring) on the adults ``frame``.

    ``inversion``: also test ``H0: threshold = K`` at every candidate (one more fit per
    candidate; module docstring, step 6)."""
    design, use, mm, x, y = _model_inputs(frame, outcome, exposure, covariates, domain, design)
    grid = (candidate_grid(x[use], lower, upper, step) if candidates is None
            else np.asarray(candidates, float))
    family = family_for(outcome)

    def fit(k: float | None, step: bool = False) -> SvyGLMResult:
        cols = {"Intercept": np.ones(use.sum()), exposure: x[use]}
        if k is not None:
            cols["hinge"] = np.maximum(x[use] - k, 0.0)
        if step:
            cols["step"] = (x[use] > k).astype(float)
        block = np.column_stack(list(cols.values()) + [mm.X[:, 1:]])
        names = list(cols) + mm.columns[1:]
        X = pd.DataFrame(np.nan, index=frame.index, columns=names)
        X.loc[use] = block
        terms = {n: [n] for n in list(cols)}
        for t, idx in mm.term_columns.items():
            if t != "Intercept":
                terms[t] = [mm.columns[i] for i in idx]
        return svyglm((y, X), design, family=family, domain=use, terms=terms)

    fits = [fit(k) for k in grid]
    dev = np.array([f.deviance for f in fits])
    hinge_coef = np.array([float(f.params["hinge"]) for f in fits])
    hinge_t = np.array([float(f.tvalues["hinge"]) for f in fits])
    best = int(np.argmin(dev))                 # first minimum: ties go to the smallest K
    p_at = np.full(grid.size, np.nan)
    if inversion:
        p_at = _inversion_p(fit, grid, dev, family == "quasibinomial")
    k = float(grid[best])
    two, one = fit(k), fit(None)
    if family == "quasibinomial":
        lr = float(one.deviance - two.deviance)
    else:   # Gaussian: n log(RSS0 / RSS1)
        lr = float(two.n * np.log(one.deviance / two.deviance))
    return ThresholdResult(
        outcome=outcome, exposure=exposure, breakpoint=k,
        profile=pd.DataFrame({"breakpoint": grid, "deviance": dev, "loglik": -dev / 2,
                              "hinge": hinge_coef, "t_hinge": hinge_t, "p_threshold": p_at}),
        linear=one, two_piece=two,
        below=two.lincom({exposure: 1.0}, alpha), above=two.lincom({exposure: 1.0, "hinge": 1.0}, alpha),
        slope=one.lincom({exposure: 1.0}, alpha),
        hinge=two.wald_test("hinge"), lr=lr, p_lr=float(stats.chi2.sf(max(lr, 0.0), 1)),
        davies_lrt=davies_r_default(x[use], y[use], design.weights[use], mm.X[:, 1:],
                                    family == "quasibinomial"),
    )


def _inversion_p(fit, grid: np.ndarray, dev: np.ndarray, logistic: bool) -> np.ndarray:
    """P of ``H0: threshold = K`` at every candidate (module docstring, step 6): the profile
    likelihood-ratio ``D(K) - D(K_hat)`` over the Rao-Scott design effect of the threshold
    direction at ``K`` (the design-based over the model-based variance of the step
    ``1(x > K)`` added to the two-piece fit), referred to chi-square(1)."""
    best = int(np.argmin(dev))
    scale = 1.0
    if not logistic:    # Gaussian: deviance = weighted RSS; LR on the residual variance scale
        at_best = fit(float(grid[best]))
        scale = dev[best] / (at_best.n - at_best.params.size)
    p = np.full(grid.size, np.nan)
    for i, k in enumerate(grid):
        try:
            f = fit(float(k), step=True)
        except (NhmgError, np.linalg.LinAlgError, ValueError):
            continue                 # no one on one side of K: no test there (left NaN)
        naive = float(f.naive_cov.loc["step", "step"]) * scale
        deff = float(f.cov.loc["step", "step"]) / naive if naive > 0 else np.nan
        lr = max(dev[i] - dev[best], 0.0) / scale
        if np.isfinite(deff) and deff > 0:
            p[i] = float(stats.chi2.sf(lr / deff, 1))
    return p


# ----------------------------------------------------------------------------- Davies' test
@dataclass(frozen=True)
class DaviesTest:
    """Davies' upper bound for the P of a change in slope (``segmented::davies.test``)."""

    statistic: float   #: ``M = max |z(K)|``
    best: float        #: the candidate where ``|z|`` is largest
    variation: float   #: ``V = sum |z(K_j+1) - z(K_j)|``
    p: float
    n_points: int


def davies_test(z: np.ndarray, points: np.ndarray) -> DaviesTest:
    """Two-sided Davies bound from the statistics ``z`` of the hinge at the candidates ``points``
    (in grid order): ``min(1, 2 [Phi(-M) + V exp(-M^2 / 2) / sqrt(8 pi)])``, R
    ``segmented:::daviesGLM`` with ``alternative = "two.sided"``. Non-finite ``z`` are
    dropped, as R drops failed fits."""
    z, points = np.asarray(z, float), np.asarray(points, float)
    ok = np.isfinite(z)
    z, points = z[ok], points[ok]
    if z.size < 2:
        raise ThresholdError("Davies' test needs the statistic at two or more candidates")
    V = float(np.abs(np.diff(z)).sum())
    i = int(np.argmax(np.abs(z)))
    M = float(abs(z[i]))
    p = 2 * (stats.norm.sf(M) + V * np.exp(-M * M / 2) / np.sqrt(8 * np.pi))
    return DaviesTest(M, float(points[i]), V, float(min(p, 1.0)), int(z.size))


def davies_r_default(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, covariates: np.ndarray,
                     logistic: bool, k: int = 10) -> DaviesTest:
    """What R's default ``segmented::davies.test(fit, seg.Z = ~x)`` gives (``type = "lrt"``,
    ``k = 10``, two-sided) for ``fit = glm(y ~ x + covariates, weights = w)``: ``w`` the survey
    weights scaled to mean 1 (family quasibinomial or gaussian, dispersion = deviance /
    residual df of each hinge fit) or, with ``weights=None``, no weights (binomial: dispersion
    1). At ``k`` evenly spaced points from the second-smallest to the second-largest ``x``,
    ``z = sign(hinge) sqrt((D_linear - D_hinge) / dispersion)``; then :func:`davies_test`.
    Strata and PSUs play no part: for comparison with R only."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float) / np.mean(weights)
    base = np.column_stack([np.ones_like(x), x, covariates])
    _, dev0, _, eta0 = _glm_fit(base, y, w, logistic)
    xs = np.sort(x)
    values = np.linspace(xs[1], xs[-2], k)
    df_ok = int((w > 0).sum())
    z = np.full(k, np.nan)
    for i, v in enumerate(values):
        X = np.column_stack([np.maximum(x - v, 0.0), base])
        beta, dev, rank, _ = _glm_fit(X, y, w, logistic, eta0)
        if rank < X.shape[1] or dev0 < dev:
            continue                          # R drops rank-deficient fits (and NaN roots)
        disp = 1.0 if (logistic and weights is None) else dev / (df_ok - rank)
        z[i] = np.sign(beta[0]) * np.sqrt((dev0 - dev) / disp)
    return davies_test(z, values)


def _glm_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, logistic: bool,
             eta: np.ndarray | None = None, tol: float = 1e-8, maxit: int = 25
             ) -> tuple[np.ndarray, float, int, np.ndarray]:
    """Prior-weighted GLM by IRLS as R ``glm.fit`` (logit or identity link; R's start,
    convergence rule and clamping of the logit at +-30): coefficients, deviance, rank and
    linear predictor. ``eta``: start (R ``etastart``)."""
    rank = int(np.linalg.matrix_rank(X * np.sqrt(w)[:, None]))
    if not logistic:
        sw = np.sqrt(w)
        beta = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
        return beta, float(np.sum(w * (y - X @ beta) ** 2)), rank, X @ beta
    eps = np.finfo(float).eps

    def inv(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.where(e < -30, eps, np.where(e > 30, 1 / eps, np.exp(np.clip(e, -30, 30))))
        return t / (1 + t), np.maximum(t / (1 + t) ** 2, eps)

    def deviance(mu: np.ndarray) -> float:
        return float(-2 * np.sum(w * (y * np.log(mu) + (1 - y) * np.log1p(-mu))))

    if eta is None:
        mu0 = (w * y + 0.5) / (w + 1.0)                   # R's binomial mustart
        eta = np.log(mu0 / (1 - mu0))
    mu, _ = inv(eta)
    dev_old = deviance(mu)
    beta = np.zeros(X.shape[1])
    for _ in range(maxit):
        mu, d = inv(eta)
        sw = np.sqrt(w * d * d / (mu * (1 - mu)))
        zz = eta + (y - mu) / d
        beta = np.linalg.lstsq(X * sw[:, None], zz * sw, rcond=None)[0]
        eta = X @ beta
        dev = deviance(inv(eta)[0])
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            break
        dev_old = dev
    return beta, dev, rank, eta


# ----------------------------------------------------------------------------- bootstrap
#: Bump when the cached bootstrap arrays change meaning.
_BOOT_ALGORITHM = "threshold-path-3-pieces-125"


@dataclass(frozen=True, eq=False)
class ThresholdBootstrap:
    """The whole grid search repeated in ``boot`` Rao-Wu design resamples (module docstring).

    ``breakpoints``, ``below``, ``above`` (link scale) per resample, NaN where the resample
    failed; ``hinge[k, b]`` the hinge coefficient at candidate ``k`` in resample ``b`` (NaN
    where that fit does not exist: it then drops out of the resample's search and of the
    sup-t maximum).
    """

    result: ThresholdResult
    grid: np.ndarray = field(repr=False)
    breakpoints: np.ndarray = field(repr=False)
    below: np.ndarray = field(repr=False)
    above: np.ndarray = field(repr=False)
    hinge: np.ndarray = field(repr=False)
    failed: np.ndarray = field(repr=False)
    boot: int
    seed: int
    alpha: float = 0.05
    from_cache: bool = False

    @property
    def n_failed(self) -> int:
        """Resamples left out because a fit at some candidate failed (separation, no
        convergence); they are reported, never silently kept."""
        return int(self.failed.sum())

    @property
    def n_ok(self) -> int:
        return int((~self.failed).sum())

    @property
    def n_dropped_fits(self) -> int:
        """(candidate, resample) fits that do not exist (separation) among the kept resamples;
        each drops out of its resample's search."""
        return int(np.isnan(self.hinge[:, ~self.failed]).sum())

    def _interval(self, v: np.ndarray) -> tuple[float, float]:
        lo, hi = np.quantile(v[~self.failed], [self.alpha / 2, 1 - self.alpha / 2])
        return float(lo), float(hi)

    @property
    def breakpoint_ci(self) -> tuple[float, float]:
        """Percentile CI of the breakpoint (ln scale)."""
        return self._interval(self.breakpoints)

    @property
    def below_ci(self) -> tuple[float, float]:
        """Percentile CI of the slope below K (link scale), K re-estimated per resample."""
        return self._interval(self.below)

    @property
    def above_ci(self) -> tuple[float, float]:
        return self._interval(self.above)

    @property
    def sup_t(self) -> tuple[float, float]:
        """(statistic, P) of the bootstrap sup-t test of no change in slope over the grid."""
        ok = ~self.failed
        h = self.hinge[:, ok]                 # NaN where a candidate's fit does not exist
        full = self.result.profile["hinge"].to_numpy()
        se = np.nanstd(h, axis=1, ddof=1)
        t_obs = float(np.nanmax(np.abs(full) / se))
        t_star = np.nanmax(np.abs(h - full[:, None]) / se[:, None], axis=0)
        return t_obs, float((1 + np.sum(t_star >= t_obs)) / (1 + ok.sum()))

    @property
    def has_breakpoint(self) -> bool:
        """Whether the search-aware sup-t test rejects "no change in slope" at ``alpha``: the
        condition for showing a breakpoint interval at all."""
        return self.sup_t[1] < self.alpha

    @property
    def grid_end_shares(self) -> tuple[float, float]:
        """Shares of resamples whose breakpoint is the lowest / the highest candidate (a
        breakpoint on the edge of the search is the search's, not the data's)."""
        b = self.breakpoints[~self.failed]
        return float(np.mean(b <= self.grid.min() + 1e-9)), float(np.mean(b >= self.grid.max() - 1e-9))

    def shown_intervals(self) -> dict[str, tuple[float, float] | None]:
        """The breakpoint intervals as the book shows them: ``{"bootstrap": ..., "inversion":
        ...}``, both None when the sup-t test does not reject (:data:`NO_BREAKPOINT`)."""
        if not self.has_breakpoint:
            return {"bootstrap": None, "inversion": None}
        return {"bootstrap": self.breakpoint_ci, "inversion": self.result.inversion_ci(self.alpha)}

    def reading(self) -> str:
        """Where the breakpoint is, in one sentence for readers: the two intervals when the
        sup-t test rejects, else why none is shown (with where the resamples' breakpoints
        went)."""
        lo_end, hi_end = self.grid_end_shares
        p = models.format_p(self.sup_t[1])
        if not self.has_breakpoint:
            return (f"no breakpoint is located: the search-aware test finds no change in slope "
                    f"(bootstrap sup-t P = {p}), and without a bend the breakpoint of a two-piece "
                    f"model is not identified, so any interval would only trace the searched range "
                    f"({100 * lo_end:.0f}% of the resamples put it on the lowest candidate and "
                    f"{100 * hi_end:.0f}% on the highest)")
        parts = []
        for key, name in (("bootstrap", "bootstrap percentile"), ("inversion", "test inversion")):
            ci = self.shown_intervals()[key]
            if ci is None:
                parts.append(f"no candidate survives {name}")
                continue
            end = self.result.at_grid_end(ci)
            flag = f", reaching the {end} end of the searched range" if end else ""
            parts.append(f"ln-Mg {ci[0]:.2f}–{ci[1]:.2f} ({np.exp(ci[0]):.0f}–{np.exp(ci[1]):.0f} "
                         f"mg/day) by {name}{flag}")
        return (f"the search-aware test finds a change in slope (bootstrap sup-t P = {p}), and the "
                f"breakpoint lies at " + "; ".join(parts))

    def share_within(self, width: float) -> float:
        """Share of resamples whose breakpoint lies within ``width`` of the estimate."""
        b = self.breakpoints[~self.failed]
        return float(np.mean(np.abs(b - self.result.breakpoint) <= width + 1e-9))

    def table(self) -> pd.DataFrame:
        """Rows ``breakpoint, inversion, below, above, p_sup, p_davies, p_davies_lrt_r,
        p_hinge`` (estimates on the reported scale; the Wald P of the hinge at the chosen K for
        comparison). The two breakpoint rows have NaN bounds when the sup-t test does not
        reject; ``note`` says why, or which end of the grid an interval reaches."""
        r = self.result
        sc = r._scale
        shown = self.shown_intervals()
        nan2 = (np.nan, np.nan)

        def note(key: str) -> str:
            if not self.has_breakpoint:
                return NO_BREAKPOINT
            if shown[key] is None:
                return "every candidate rejected"
            end = r.at_grid_end(shown[key])
            gap = "; the set has gaps" if key == "inversion" and r.inversion_has_gaps(self.alpha) else ""
            return (f"reaches the {end} end{'s' if end == 'both' else ''} of the searched range"
                    if end else "") + gap

        davies_r = r.davies_lrt
        rows = [
            ("breakpoint", "Inflection point K (ln scale), bootstrap 95% CI", r.breakpoint,
             *(shown["bootstrap"] or nan2), np.nan, note("bootstrap")),
            ("inversion", "Inflection point K (ln scale), test-inversion 95% CI", r.breakpoint,
             *(shown["inversion"] or nan2), np.nan, note("inversion")),
            ("below", "Two-piece model: ln-Mg < K, per ln unit, bootstrap 95% CI",
             sc(r.below.estimate), *map(sc, self.below_ci), np.nan, ""),
            ("above", "Two-piece model: ln-Mg ≥ K, per ln unit, bootstrap 95% CI",
             sc(r.above.estimate), *map(sc, self.above_ci), np.nan, ""),
            ("p_sup", "Change in slope, bootstrap sup-t test over all K (recommended)",
             self.sup_t[0], np.nan, np.nan, self.sup_t[1], ""),
            ("p_davies", "Change in slope, Davies' test over all K (design-based t, book's grid)",
             r.davies.statistic, np.nan, np.nan, r.davies.p, ""),
            ("p_davies_lrt_r", "Change in slope, Davies' test as R's default (LRT, 10 points, no design)",
             np.nan if davies_r is None else davies_r.statistic, np.nan, np.nan,
             np.nan if davies_r is None else davies_r.p, ""),
            ("p_hinge", "Change in slope, Wald F at the chosen K (treats K as fixed)",
             r.hinge.F, np.nan, np.nan, r.hinge.p, ""),
        ]
        return pd.DataFrame(rows, columns=["row", "label", "estimate", "ci_low", "ci_high", "p", "note"])

    def formatted(self, digits: int = 2) -> pd.DataFrame:
        """:meth:`table` as text cells: estimate (95% CI) and P."""
        cells = []
        t = self.table()
        for r in t.itertuples(index=False):
            if r.row in ("breakpoint", "inversion"):
                if np.isfinite(r.ci_low):
                    est = (f"{r.estimate:.2f} ({r.ci_low:.2f}, {r.ci_high:.2f}); {np.exp(r.estimate):.0f} "
                           f"({np.exp(r.ci_low):.0f}, {np.exp(r.ci_high):.0f}) mg/day")
                else:
                    est = "not shown"
                if r.note:
                    est += f" [{r.note}]"
            elif r.row in ("below", "above"):
                est = models.format_ratio_ci(r.estimate, r.ci_low, r.ci_high, digits)  # odds ratios
            else:
                est = {"p_sup": "sup t", "p_davies": "max |t|", "p_davies_lrt_r": "max |z|",
                       "p_hinge": "F"}[r.row] + f" = {r.estimate:.2f}"
            cells.append({"Estimate (95% CI)": est, "P": models.format_p(r.p) if np.isfinite(r.p) else ""})
        return pd.DataFrame(cells, index=t["label"].tolist())

    def summary(self) -> str:
        return (f"Threshold bootstrap of {self.result.outcome}: {self.boot} Rao-Wu design resamples "
                f"(seed {self.seed}) x {self.grid.size} candidates, {self.n_failed} failed, "
                f"{self.n_dropped_fits} separated fits dropped from their resample's search"
                + ("; from cache" if self.from_cache else "") + "\n" + self.formatted().to_string())

    __str__ = summary

    def records(self, prefix: str = "tableS3/lmm") -> list[dict]:
        """``<prefix>/{breakpoint_ci,below_boot,above_boot,p_sup_boot,p_davies}`` records, then
        ``breakpoint_ci_inversion`` and ``p_davies_lrt_r``. The two breakpoint intervals are null
        records (:data:`NO_BREAKPOINT`) when the sup-t test does not reject."""
        t = self.table().set_index("row")
        n = self.result.n

        def num(v: float) -> float | None:
            return float(v) if v is not None and np.isfinite(v) else None

        def rec(key: str, row: str, with_ci: bool) -> dict:
            r = t.loc[row]
            if not with_ci:
                return {"id": f"{prefix}/{key}", "estimate": num(r.p), "ci_low": None,
                        "ci_high": None, "p": num(r.p), "n": n}
            if row in ("breakpoint", "inversion") and not np.isfinite(r.ci_low):
                return {"id": f"{prefix}/{key}", "estimate": None, "ci_low": None,
                        "ci_high": None, "p": None, "n": n}
            return {"id": f"{prefix}/{key}", "estimate": float(r.estimate), "ci_low": float(r.ci_low),
                    "ci_high": float(r.ci_high), "p": None, "n": n}

        return [rec("breakpoint_ci", "breakpoint", True), rec("below_boot", "below", True),
                rec("above_boot", "above", True), rec("p_sup_boot", "p_sup", False),
                rec("p_davies", "p_davies", False),
                rec("breakpoint_ci_inversion", "inversion", True),
                rec("p_davies_lrt_r", "p_davies_lrt_r", False)]


def threshold_bootstrap(
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
    boot: int = 1000,
    seed: int = 1,
    alpha: float = 0.05,
    result: ThresholdResult | None = None,
    cache: bool = True,
    cache_dir: str | None = None,
    workers: int | None = None,
    progress: bool | None = None,
) -> ThresholdBootstrap:
    """Repeat the grid search of :func:`find_threshold` in ``boot`` design resamples.

    The resamples are split over ``workers`` processes (default: every core, up to
    :data:`MAX_WORKERS`; 1 = this process); each resample's path is fitted on its own, so
    the split changes nothing but the time. Ctrl-C or the death of this process stops them
    (:func:`nhmg_lib.analyses.workers.run_pieces`). ``progress``: a bar with the time left on
    stderr (default: only on a terminal, never in the book build).

    ``result`` (the full-sample analysis with the same arguments) is computed when absent.
    Resamples come from :func:`rao_wu_multipliers` over the PSUs of the whole design (a
    domain analysis: units outside the domain only keep the design's ``n_h``); a stratum with
    one PSU cannot be resampled and raises :class:`ThresholdError`.
    """
    if boot < 2:
        raise ThresholdError(f"need boot >= 2 resamples, got {boot}")
    design = model_design(frame, design)
    if result is None:
        result = find_threshold(frame, outcome, exposure, covariates=covariates, domain=domain,
                                candidates=candidates, lower=lower, upper=upper, step=step,
                                design=design, alpha=alpha)
    design, use, mm, x, y = _model_inputs(frame, outcome, exposure, covariates, domain, design)
    grid = result.profile["breakpoint"].to_numpy(float)
    xu, yu, w = x[use], y[use], design.weights[use]
    X = np.column_stack([np.ones(use.sum()), xu, mm.X[:, 1:]])
    columns = np.maximum(xu[None, :] - grid[:, None], 0.0)
    psu_strata, psu_of_row = design.psu_stratum, design.psu[use]
    logistic = family_for(outcome) == "quasibinomial"
    key = cache_key(_BOOT_ALGORITHM, X, yu, w, grid, psu_strata, psu_of_row, int(boot), int(seed),
                    logistic)
    stored = cache_load(key, cache_dir) if cache else None
    if stored is None:
        # the multipliers (rows and PSUs) and, per candidate, the coefficients kept twice
        bootstrap.require_memory(boot, xu.size, "the threshold bootstrap",
                                 extra_per_resample=8 * psu_strata.size
                                 + 16 * grid.size * (X.shape[1] + 2))
        try:
            # Draws per PSU (the same stream as drawing per row: only the PSU labels matter).
            mult_psu = rao_wu_multipliers(psu_strata, np.arange(psu_strata.size), boot, seed)
        except ValueError as exc:
            raise ThresholdError(f"cannot resample the design: {exc}") from exc
        mult = mult_psu[:, psu_of_row]
        start = None
        if logistic:
            # seeded with the full-sample two-piece fit, reordered to [X, hinge]
            b = result.two_piece.params.to_numpy()
            start = np.r_[b[:2], b[3:], b[2]]
        path = _fit_path(X, columns, yu, w, mult, start, logistic, workers, progress)
        # A candidate whose fit does not exist in a resample (separation: e.g. no event with
        # a positive weight above K) drops out of that resample's search; a resample without
        # any usable candidate fails. Both are counted, never silently kept.
        conv = path.converged
        failed = ~conv.any(axis=0)
        dev = np.where(conv, path.deviance, np.inf)
        kb = np.argmin(dev, axis=0)                       # first minimum, as the point estimate
        cols = np.arange(boot)
        stored = {"breakpoints": np.where(failed, np.nan, grid[kb]),
                  "below": np.where(failed, np.nan, path.coef[kb, cols, 1]),
                  "above": np.where(failed, np.nan, path.coef[kb, cols, 1] + path.coef[kb, cols, -1]),
                  "hinge": path.coef[:, :, -1], "failed": failed}
        if cache:
            cache_save(key, stored, cache_dir)
        from_cache = False
    else:
        from_cache = True
    return ThresholdBootstrap(result, grid, stored["breakpoints"], stored["below"], stored["above"],
                              stored["hinge"], stored["failed"].astype(bool), int(boot), int(seed),
                              alpha, from_cache)


#: At most this many processes share a threshold bootstrap (beyond it, memory for the
#: copies of the multipliers grows faster than the time falls on a small machine).
MAX_WORKERS = 4
#: Resamples are fitted in pieces of this many, whatever the number of processes, so that
#: the result does not depend on the machine (the path fits of a piece share their steps).
PIECE = 125


def _path_piece(X: np.ndarray, columns: np.ndarray, y: np.ndarray, w: np.ndarray,
                mult: np.ndarray, start: np.ndarray | None, logistic: bool) -> batched.PathFit:
    if logistic:
        return batched.logistic_path(X, columns, y, w, mult, start=start)
    return batched.wls_path(X, columns, y, w, mult)


def _path_piece_args(args: tuple) -> batched.PathFit:
    return _path_piece(*args)


def _fit_path(X: np.ndarray, columns: np.ndarray, y: np.ndarray, w: np.ndarray,
              mult: np.ndarray, start: np.ndarray | None, logistic: bool,
              workers: int | None, progress: bool | None = None) -> batched.PathFit:
    """The batched path fits of every resample (rows of ``mult``) in pieces of
    :data:`PIECE` resamples, the pieces spread over processes and joined along the resample
    axis: the same numbers for any number of processes."""
    boot = mult.shape[0]
    pieces = [np.arange(i, min(i + PIECE, boot)) for i in range(0, boot, PIECE)]
    if workers is None:
        workers = min(os.cpu_count() or 1, MAX_WORKERS, len(pieces))
    if workers < 1:
        raise ThresholdError(f"workers must be at least 1, got {workers}")
    args = [(X, columns, y, w, mult[p], start, logistic) for p in pieces]
    with progress_bar(boot, "threshold bootstrap", "resample", progress) as bar:
        if workers == 1:
            fits = []
            for a in args:
                fits.append(_path_piece(*a))
                bar.update(a[4].shape[0])
        else:
            fits = run_pieces(_path_piece_args, args, workers,
                              on_done=lambda a: bar.update(a[4].shape[0]))
    return batched.PathFit(
        family=fits[0].family,
        coef=np.concatenate([f.coef for f in fits], axis=1),
        deviance=np.concatenate([f.deviance for f in fits], axis=1),
        converged=np.concatenate([f.converged for f in fits], axis=1),
        n_iter=np.concatenate([f.n_iter for f in fits], axis=1))


def records(frame: pd.DataFrame, design: Design | None = None, *, boot: int = 1000,
            seed: int = 1) -> list[dict]:
    """Table S3 records (``tableS3/lmm/...``) computed from the adults ``frame``: the
    fixed-breakpoint analysis and its bootstrap (:meth:`ThresholdBootstrap.records`)."""
    res = find_threshold(frame, "lmm", design=design)
    out = res.records("tableS3/lmm")
    if boot:
        out += threshold_bootstrap(frame, "lmm", design=design, boot=boot, seed=seed,
                                   result=res).records("tableS3/lmm")
    return out
