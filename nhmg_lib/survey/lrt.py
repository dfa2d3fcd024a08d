"""Design-based (Rao-Scott working) likelihood-ratio test of nested GLMs, as R ``survey``.

R ``anova(svyglm_full, svyglm_reduced)`` (``survey`` 4.x; symbolically nested models, default
``test = "F"``, ``method = "LRT"``) calls ``regTermTest(full, ~<terms in full only>, method =
"LRT")``, which computes

* ``chisq = deviance(reduced) - deviance(full)``: the working likelihood-ratio statistic of
  the weighted fits (prior weights rescaled to mean 1, as ``svyglm``);
* ``lambda``: the eigenvalues of ``V0^-1 V`` over the tested coefficients, ``V0`` the model-based
  (naive, ``summary.glm``'s ``cov.unscaled``) and ``V`` the design-based (sandwich) covariance
  of the full model. Under the null, ``chisq`` is distributed as ``sum_j lambda_j Z_j^2``
  (Rao & Scott 1984; Lumley & Scott 2013, Stat Med 32:4045), and with ``ddf`` finite R compares
  ``chisq`` with ``sum_j lambda_j Z_j^2 / (chi^2_ddf / ddf)``, ``ddf`` the full model's residual
  df (:func:`pfsum`);
* the tail probability by ``lrt.approximation = "saddlepoint"`` (R's default for
  ``regTermTest`` and for ``anova.svyglm``), falling back to Satterthwaite's scaled F where the
  saddlepoint is undefined (``|zeta| < 1e-4``), exactly as R's ``pFsum``/``pchisqsum``;
  ``"satterthwaite"`` gives the scaled F (or chi-square) alone.

``lrt_test(full, reduced, terms)`` returns an :class:`LRTResult`; :func:`pfsum`,
:func:`pchisqsum` and :func:`saddle` are R's ``pFsum``, ``pchisqsum`` and ``survey:::saddle``
(upper tails only). R's ``"integration"`` method needs ``CompQuadForm`` and is not offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from scipy import optimize, stats

from nhmg_lib.survey.glm import ModelSpecError, SvyGLMResult

__all__ = ["LRTResult", "lrt_test", "pfsum", "pchisqsum", "saddle", "APPROXIMATIONS"]

Approximation = Literal["saddlepoint", "satterthwaite"]
APPROXIMATIONS: tuple[str, ...] = ("saddlepoint", "satterthwaite")


def saddle(x: float, lam: Sequence[float]) -> float:
    """Saddlepoint approximation to ``P(sum_j lam_j Z_j^2 > x)`` (R ``survey:::saddle``);
    NaN where R returns NA (saddlepoint ``|zeta| < 1e-4``)."""
    lam = np.asarray(lam, dtype=float)
    d = lam.max()
    lam = lam / d
    x = x / d

    def kprime(z: float) -> float:
        return float(np.sum(lam / (1 - 2 * z * lam)))

    if (lam < 0).any():
        lmin = np.max(1 / (2 * lam[lam < 0])) * 0.99999
    elif x > lam.sum():
        lmin = -0.01
    else:
        if x == 0:
            return float("nan")
        lmin = -lam.size / (2 * x)
    lmax = np.min(1 / (2 * lam[lam > 0])) * 0.99999
    zeta = optimize.brentq(lambda z: kprime(z) - x, lmin, lmax, xtol=1e-14, rtol=4 * np.finfo(float).eps,
                           maxiter=500)
    if abs(zeta) < 1e-4:
        return float("nan")
    k0 = -np.sum(np.log(1 - 2 * zeta * lam)) / 2
    w = np.sign(zeta) * np.sqrt(2 * (zeta * x - k0))
    v = zeta * np.sqrt(2 * np.sum(lam**2 / (1 - 2 * zeta * lam) ** 2))
    return float(stats.norm.sf(w + np.log(v / w) / w))


def _satterthwaite(a: np.ndarray) -> tuple[float, float]:
    tr = a.mean()
    tr2 = np.mean(a**2) / tr**2
    return float(tr * tr2), float(a.size / tr2)       # scale, df


def pchisqsum(x: float, lam: Sequence[float], method: Approximation = "saddlepoint") -> float:
    """``P(sum_j lam_j Z_j^2 > x)`` (R ``pchisqsum(x, df = 1, a = lam, lower.tail = FALSE)``)."""
    a = np.asarray(lam, dtype=float)
    scale, df = _satterthwaite(a)
    p = float(stats.chi2.sf(x / scale, df))
    if method == "satterthwaite":
        return p
    s = saddle(x, a)
    return p if np.isnan(s) else s


def pfsum(x: float, lam: Sequence[float], ddf: float, method: Approximation = "saddlepoint") -> float:
    """``P(sum_j lam_j Z_j^2 / (chi^2_ddf / ddf) > x)`` (R ``pFsum(x, df = 1, a = lam, ddf,
    lower.tail = FALSE)``); ``ddf = inf`` is :func:`pchisqsum`."""
    if method not in APPROXIMATIONS:
        raise ValueError(f"method={method!r}; choose one of {list(APPROXIMATIONS)}")
    if not np.isfinite(ddf):
        return pchisqsum(x, lam, method)
    a = np.asarray(lam, dtype=float)
    scale, df = _satterthwaite(a)
    p = float(stats.f.sf(x / df / scale, df, ddf))
    if method == "satterthwaite":
        return p
    k = int(round(ddf))
    if k != ddf or k < 1:
        raise ValueError(f"the saddlepoint needs a positive whole ddf, got {ddf}")
    s = saddle(0.0, np.concatenate([a, np.full(k, -x / ddf)]))
    return p if np.isnan(s) else s


@dataclass(frozen=True)
class LRTResult:
    """Working likelihood-ratio test: ``chisq`` (deviance difference), ``df`` (coefficients
    tested), ``ddf`` (denominator df; inf for the chi-square form), ``lambdas`` (design
    effects, eigenvalues of ``V0^-1 V``), ``p`` and the ``approximation`` used."""

    terms: list[str]
    chisq: float
    df: int
    ddf: float
    lambdas: np.ndarray
    p: float
    approximation: str

    def summary(self) -> str:
        return (f"Working LRT (Rao-Scott) for {' '.join(self.terms)}\n Deviance = {self.chisq:.6g}, "
                f"{self.df} df, ddf = {self.ddf:g}, p = {self.p:.4g} ({self.approximation})")

    __str__ = summary


def lrt_test(full: SvyGLMResult, reduced: SvyGLMResult, terms: str | Sequence[str], *,
             approximation: Approximation = "saddlepoint", df: float | None = None) -> LRTResult:
    """R ``anova(full, reduced)`` for nested design-based GLMs: ``terms`` are the terms of
    ``full`` that ``reduced`` lacks (e.g. ``"mg_q:_subgroup"``), ``reduced`` the same model
    without them fitted on the same domain rows. ``df=None`` uses ``full.df_resid`` (R's
    ``test = "F"``); ``df=inf`` the chi-square form (``test = "Chisq"``)."""
    if full.family != reduced.family:
        raise ModelSpecError("the two models have different families")
    if not np.array_equal(full.domain, reduced.domain):
        raise ModelSpecError("the two models were fitted on different rows")
    names, idx = full._resolve(terms)
    if len(full.columns) - len(reduced.columns) != len(idx):
        raise ModelSpecError(f"the reduced model must lack exactly the {len(idx)} coefficients of "
                             f"{names} (it has {len(reduced.columns)} of {len(full.columns)})")
    V = full.cov.to_numpy()[np.ix_(idx, idx)]
    V0 = full.naive_cov.to_numpy()[np.ix_(idx, idx)]
    lambdas = np.sort(np.linalg.eigvals(np.linalg.solve(V0, V)).real)[::-1]
    chisq = float(reduced.deviance - full.deviance)
    ddf = float(full.df_resid if df is None else df)
    p = pfsum(chisq, lambdas, ddf, approximation) if ddf > 0 else float("nan")
    return LRTResult(names, chisq, len(idx), ddf, lambdas, float(p), approximation)
