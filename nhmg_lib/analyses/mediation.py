"""Regression-based causal mediation with exposure x mediator interaction, as R ``mediator``.

Models (prior weights ``w``, the survey weight, as R ``lm``/``glm(weights = w)``)::

    mediator  M = b0 + b1 A + b2'C + e,  e ~ N(0, s2)             (linear)
    outcome   g(E[Y]) = t0 + t1 A + t2 M + t3 A M + t4'C          (logit or identity)

Effects of changing the exposure from ``a_star`` to ``a`` with covariates at ``c`` (Valeri &
VanderWeele 2013, Psychol Methods 18:137-150, Table 2 and Appendix; VanderWeele & Vansteelandt
2010, Am J Epidemiol 172:1339-1348)::

    CDE(m) = (t1 + t3 m)(a - a*)
    NDE    = (t1 + t3 (b0 + b1 a* + b2'c + t2 s2))(a - a*) + 0.5 t3^2 s2 (a^2 - a*^2)   [logit]
    NDE    = (t1 + t3 (b0 + b1 a* + b2'c))(a - a*)                                       [linear]
    NIE    = (t2 b1 + t3 b1 a)(a - a*)

For a logistic outcome these are log odds ratios, reported exponentiated; they approximate
the causal odds ratios when the outcome is rare, and ``mediator`` applies them whatever the
prevalence, as we do. TE = NDE x NIE and the proportion mediated is
NDE (NIE - 1) / (NDE NIE - 1). For a linear outcome TE = NDE + NIE and PM = NIE / TE.

Choices copied from ``mediator`` (GerkeLab, CRAN) so the paper can be reproduced:

* ``c``: the unweighted mean of each numeric covariate and the most frequent level of each
  categorical one (ties: the first level in sorted order, as ``which.max(table(x))``), taken
  from the (re)sampled data, so they are recomputed in every bootstrap resample;
* ``m`` for the CDE defaults to 0 (``mediator``'s default), ``a = 1``, ``a_star = 0``.
  These are far outside NHANES intakes (ln-Mg 2.3-7.7): with the exposure x mediator
  interaction the NDE is evaluated at ln-Mg = ``a_star`` and the NIE at ``a``, so the effects
  depend on where the contrast sits. :meth:`MediationResult.at` re-evaluates the same fits for
  any ``a_star -> a`` and ``m`` (``m="mean"``: the mediator's mean in the analysis rows);
* ``weighting`` (how the survey weight enters both models; :data:`WEIGHTINGS`):
  ``"normalised"`` (default) - prior weights divided by their mean in each fitted sample
  before ``s2`` is taken; ``"raw"`` - ``mediator`` given the raw NHANES weights: same
  coefficients, but R's ``sigma(lm)^2 = sum(w r^2) / (n - p)`` is on the scale of the weights
  (thousands), which inflates ``s2`` and with it the logit NDE; ``"none"`` - unweighted models
  (the weight column is ignored). ``s2`` is ``sigma(lm)^2`` of the mediator model. The old
  flag ``normalize_weights=True/False`` still works and means ``"normalised"``/``"raw"``;
* CIs: percentile (R ``quantile`` type 7) of ``boot`` nonparametric bootstrap resamples, both
  models refitted in each, plus the full-sample estimate (``rsample::bootstraps(apparent =
  TRUE)``; ``include_apparent``). ``mediator`` reports no p-values; ours are two-sided
  bootstrap proportions ``2 min(#{d <= 0} + 1, #{d >= 0} + 1) / (B + 1)`` on the log (logit)
  or natural (linear) scale, ``B`` the resamples whose fits succeeded. The smallest value
  this can take is ``2 / (B + 1)`` (no resample on the far side of the null), kept per effect
  in :attr:`MediationResult.p_floor`: a p equal to it means "p < 2/(B + 1)" (or at most that),
  never a precise value (:meth:`MediationResult.p_at_floor`).

Resamples are frequency multipliers (:mod:`nhmg_lib.survey.bootstrap`: ``"rows"`` as ``mediator``,
or ``"design"``, Rao-Wu within strata) and all of them are fitted together
(:mod:`nhmg_lib.survey.batched`); a resample whose fit fails (separation, non-convergence, singular
design) is counted in ``n_failed`` and left out. Fits are cached on disk by their inputs.
Rows with a missing model variable are dropped first (one complete-case sample for both
models). The design matrix (dummy coding) is a private helper here.

Note: R ``glm(binomial, weights = <raw survey weight>)`` starts from
``mustart = (w y + 0.5) / (w + 1)``, i.e. fitted probabilities next to 0 or 1, and can
diverge with weights in the thousands; the estimate we compute is the maximum-likelihood
one that ``glm`` reaches from ``start = 0`` or with weights scaled to mean 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from tqdm import tqdm  # plain text bar: the widget variant warns without ipywidgets

from nhmg_lib.analyses.cache import cache_key, cache_load, cache_save
from nhmg_lib.analyses.workers import progress_bar
from nhmg_lib.survey import batched, bootstrap
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from nhmg_lib.errors import NhmgError

Family = Literal["binomial", "gaussian"]
Weighting = Literal["normalised", "raw", "none"]
#: How the survey weight enters the mediator and outcome models; first = default.
WEIGHTINGS: dict[str, str] = {
    "normalised": "survey weights as prior weights, scaled to mean 1 in each fitted sample "
                  "(sigma^2 of the mediator model on the residual scale)",
    "raw": "raw survey weights as prior weights, as R mediator given the NHANES weight "
           "(same coefficients; sigma^2 on the scale of the weights inflates the logistic NDE)",
    "none": "unweighted mediator and outcome models",
}
EFFECTS: tuple[str, ...] = ("cde", "nde", "nie", "te", "pm")
#: Bump when the cached per-resample quantities change meaning.
_ALGORITHM = "vv2013-batched-1"
_PARAMS = ("t1", "t2", "t3", "b0", "b1", "bc", "s2raw", "wbar")


class MediationError(NhmgError, ValueError):
    """The mediation analysis cannot be run as asked (columns, data, or a failed fit)."""


# --------------------------------------------------------------------------- formulas

def effects(p: Mapping[str, np.ndarray], family: Family, a: float, a_star: float, m: float,
            normalize_weights: bool = True) -> dict[str, np.ndarray]:
    """CDE, NDE, NIE, TE and PM from model coefficients (arrays broadcast over resamples).

    ``p`` holds ``t1 t2 t3`` (outcome: A, M, A x M), ``b0 b1`` (mediator: intercept, A), ``bc``
    (``b2'c``), ``s2raw`` (``sigma(lm)^2``) and ``wbar`` (mean prior weight of the fit).
    Logistic-outcome effects are odds ratios.
    """
    t1, t2, t3, b0, b1, bc = (np.asarray(p[k], dtype=float) for k in _PARAMS[:6])
    s2 = np.asarray(p["s2raw"], dtype=float) / (np.asarray(p["wbar"]) if normalize_weights else 1)
    d = a - a_star
    cde = (t1 + t3 * m) * d
    nie = (t2 * b1 + t3 * b1 * a) * d
    if family == "binomial":
        nde = (t1 + t3 * (b0 + b1 * a_star + bc + t2 * s2)) * d + 0.5 * t3**2 * s2 * (a**2 - a_star**2)
        cde, nde, nie = np.exp(cde), np.exp(nde), np.exp(nie)
        te = nde * nie
        pm = nde * (nie - 1) / (te - 1)
    else:
        nde = (t1 + t3 * (b0 + b1 * a_star + bc)) * d
        te = nde + nie
        pm = nie / te
    return {"cde": cde, "nde": nde, "nie": nie, "te": te, "pm": pm}


# --------------------------------------------------------------------------- data

@dataclass(frozen=True)
class _Data:
    A: np.ndarray
    M: np.ndarray
    Y: np.ndarray
    w: np.ndarray
    C: np.ndarray                         # dummy-coded covariates (n x k)
    numeric: np.ndarray                   # indices of numeric columns of C
    factors: list[tuple[np.ndarray, np.ndarray]]  # (columns of C, one-hot n x levels)
    strata: np.ndarray | None
    psu: np.ndarray | None
    names: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.A.size

    def x_med(self) -> np.ndarray:
        return np.column_stack([np.ones(self.n), self.A, self.C])

    def x_out(self) -> np.ndarray:
        return np.column_stack([np.ones(self.n), self.A, self.M, self.A * self.M, self.C])


def _frame_data(frame: pd.DataFrame, exposure: str, mediator: str, outcome: str,
                covariates: Sequence[str], weights: str | None,
                design_cols: tuple[str, str] | None) -> _Data:
    """Complete cases of the model variables; categorical covariates dummy-coded (the first
    level in sorted order, or the first category of a pandas Categorical, is the reference,
    as R's treatment contrasts)."""
    covariates = list(covariates)
    used = [exposure, mediator, outcome, *covariates, *([weights] if weights else []),
            *(design_cols or ())]
    frame = _with_logs(frame, [exposure, mediator, outcome])
    missing = [c for c in used if c not in frame.columns]
    if missing:
        raise MediationError(f"columns {missing} are not in the frame (it has "
                             f"{list(frame.columns)[:30]})")
    if {exposure, mediator, outcome} & set(covariates) or len({exposure, mediator, outcome}) < 3:
        raise MediationError("exposure, mediator, outcome and covariates must be distinct columns")
    df = frame[used].dropna()
    if len(df) < len(covariates) + 10:
        raise MediationError(f"only {len(df)} complete rows for {mediator} -> {outcome}")
    num = lambda col: pd.to_numeric(df[col], errors="raise").to_numpy(dtype=np.float64)  # noqa: E731
    try:
        A, M, Y = num(exposure), num(mediator), num(outcome)
        w = num(weights) if weights else np.ones(len(df))
    except (ValueError, TypeError) as exc:
        raise MediationError(f"exposure, mediator, outcome and weights must be numeric: {exc}") from exc
    if (w < 0).any() or not (w > 0).any():
        raise MediationError(f"weights {weights!r} must be non-negative and not all zero")
    blocks, numeric, factors, names, k = [], [], [], [], 0
    for col in covariates:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            blocks.append(s.to_numpy(dtype=np.float64)[:, None])
            numeric.append(k)
            names.append(col)
            k += 1
            continue
        levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(s.unique())
        levels = [lv for lv in levels if (s == lv).any()]
        if len(levels) < 2:
            raise MediationError(f"covariate {col!r} has a single level {levels} in the analysis rows")
        onehot = np.column_stack([(s == lv).to_numpy() for lv in levels]).astype(np.float64)
        blocks.append(onehot[:, 1:])
        factors.append((np.arange(k, k + len(levels) - 1), onehot))
        names += [f"{col}[{lv}]" for lv in levels[1:]]
        k += len(levels) - 1
    C = np.hstack(blocks) if blocks else np.empty((len(df), 0))
    st = ps = None
    if design_cols:
        st, ps = df[design_cols[0]].to_numpy(), df[design_cols[1]].to_numpy()
    return _Data(A, M, Y, w, C, np.asarray(numeric, dtype=int), factors, st, ps, names)


def _with_logs(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Add ``ln_<x>`` = log(``x``) for requested ``ln_`` columns the frame lacks (the cohort
    frame stores the indices untransformed: ``np``, ``par``, ``rar``, ``cally``)."""
    extra = {}
    for name in names:
        base = name[3:]
        if name not in frame.columns and name.startswith("ln_") and base in frame.columns:
            x = pd.to_numeric(frame[base], errors="coerce")
            if (x <= 0).any():
                raise MediationError(f"cannot take ln of {base!r}: it has values <= 0")
            extra[name] = np.log(x)
    return frame.assign(**extra) if extra else frame


def _profile(data: _Data, mult: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Covariate values ``c`` per resample (means of numeric columns, modes of factors) and
    the mean positive prior weight per resample, from one pass over ``mult``."""
    onehots = [oh for _, oh in data.factors]
    pos = (data.w > 0).astype(np.float64)
    S = mult @ np.column_stack([np.ones(data.n), data.w, pos, data.C[:, data.numeric], *onehots])
    c = np.zeros((mult.shape[0], data.C.shape[1]))
    c[:, data.numeric] = S[:, 3:3 + data.numeric.size] / S[:, :1]
    j = 3 + data.numeric.size
    for cols, onehot in data.factors:
        mode = np.argmax(S[:, j:j + onehot.shape[1]], axis=1)  # first of tied levels wins
        c[:, cols] = mode[:, None] == np.arange(1, onehot.shape[1])
        j += onehot.shape[1]
    return c, S[:, 1] / S[:, 2]


# --------------------------------------------------------------------------- fitting

def _fit(data: _Data, family: Family, mult: np.ndarray, mult_key: tuple[object, ...],
         start: np.ndarray | None = None, bar: tqdm | None = None,
         memo: dict[str, object] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Both models for every row of ``mult``; returns the effect inputs, the failure flags and
    the outcome coefficients (to start the bootstrap from the full-sample fit).

    ``memo`` lets several outcomes reuse one mediator-model fit (same rows, and the same
    resamples, which ``mult_key`` identifies).
    """
    tick = bar.update if bar is not None else None
    key = cache_key(data.A, data.M, data.w, data.C, mult_key)
    if memo is not None and key in memo:
        med_part, med_ok = memo[key]  # type: ignore[misc]
        if tick:
            tick(mult.shape[0])
    else:
        med = batched.wls(data.x_med(), data.M, data.w, mult, progress=tick)
        pkey = cache_key("profile", data.w, data.C, mult_key)
        if memo is not None and pkey in memo:
            c, wbar = memo[pkey]  # type: ignore[misc]
        else:
            c, wbar = _profile(data, mult)
            if memo is not None:
                memo[pkey] = (c, wbar)
        med_part = {"b0": med.coef[:, 0], "b1": med.coef[:, 1],
                    "bc": np.einsum("bk,bk->b", med.coef[:, 2:], c),
                    "s2raw": med.sigma2, "wbar": wbar}
        med_ok = med.converged
        if memo is not None:
            memo[key] = (med_part, med_ok)
    if family == "binomial":
        out = batched.logistic(data.x_out(), data.Y, data.w, mult, start=start, progress=tick)
    else:
        out = batched.wls(data.x_out(), data.Y, data.w, mult, progress=tick)
    params = {"t1": out.coef[:, 1], "t2": out.coef[:, 2], "t3": out.coef[:, 3], **med_part}
    return params, ~(med_ok & out.converged), out.coef


def _summarise(full: Mapping[str, np.ndarray], draws_in: Mapping[str, np.ndarray],
               failed: np.ndarray, family: Family, a: float, a_star: float, m: float,
               normalize: bool, include_apparent: bool
               ) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, float],
                          np.ndarray, dict[str, float]]:
    est = {k: float(v[0]) for k, v in effects(full, family, a, a_star, m, normalize).items()}
    eff = effects(draws_in, family, a, a_star, m, normalize)
    draws = np.column_stack([eff[k] for k in EFFECTS])
    draws[failed] = np.nan
    lo, hi, p, floor = {}, {}, {}, {}
    for j, k in enumerate(EFFECTS):
        d = draws[:, j][np.isfinite(draws[:, j])]
        pool = np.append(d, est[k]) if include_apparent else d
        if d.size == 0:
            lo[k] = hi[k] = p[k] = floor[k] = float("nan")
            continue
        floor[k] = float(min(1.0, 2 / (d.size + 1)))
        lo[k], hi[k] = (float(q) for q in np.quantile(pool, [0.025, 0.975]))
        # Null effect: OR 1 (log 0) for the logistic CDE/NDE/NIE/TE, 0 otherwise.
        with np.errstate(divide="ignore"):  # an OR that underflowed to 0 is log -inf: fine
            t = np.log(d) if family == "binomial" and k != "pm" else d
        below, above = int((t <= 0).sum()), int((t >= 0).sum())
        p[k] = float(min(1.0, 2 * (min(below, above) + 1) / (d.size + 1)))
    return est, lo, hi, p, draws, floor


@dataclass(frozen=True)
class MediationResult:
    """Mediation effects with bootstrap CIs for one exposure -> mediator -> outcome triple."""

    exposure: str
    mediator: str
    outcome: str
    family: Family
    a: float
    a_star: float
    m: float
    n: int
    boot: int
    seed: int
    scheme: str
    weighting: str
    include_apparent: bool
    estimate: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    p: dict[str, float]
    draws: np.ndarray = field(repr=False)          #: ``(boot, 5)`` effects; NaN if failed
    failed: np.ndarray = field(repr=False)         #: ``(boot,)`` bool
    params: dict[str, float] = field(repr=False)   #: full-sample effect inputs
    boot_params: dict[str, np.ndarray] = field(repr=False)
    from_cache: bool = False
    #: smallest bootstrap p each effect can have, ``2 / (B + 1)`` (B: usable resamples)
    p_floor: dict[str, float] = field(default_factory=dict)
    #: unweighted mean of the mediator in the analysis rows (the CDE's ``m="mean"``)
    m_mean: float = float("nan")

    @property
    def normalize_weights(self) -> bool:
        """Backward-compatible view of :attr:`weighting` (False only for raw weights)."""
        return self.weighting != "raw"

    @property
    def n_failed(self) -> int:
        """Resamples left out because a model fit failed (e.g. logistic separation)."""
        return int(self.failed.sum())

    def p_at_floor(self, effect: str) -> bool:
        """True when the bootstrap p of ``effect`` is the smallest the resamples allow: then
        the p is a bound, ``p <= 2/(B + 1)``, and should be printed as ``< 2/(B + 1)``."""
        p, f = self.p.get(effect, float("nan")), self.p_floor.get(effect, float("nan"))
        return bool(np.isfinite(p) and np.isfinite(f) and p <= f * (1 + 1e-12))

    def at(self, a: float, a_star: float, m: float | Literal["mean"] | None = None) -> "MediationResult":
        """The same fits evaluated for another contrast ``a_star -> a`` (no refitting); ``m``
        (the CDE's mediator value) is kept unless given; ``"mean"`` is :attr:`m_mean`."""
        m = self.m if m is None else (self.m_mean if m == "mean" else float(m))
        est, lo, hi, p, draws, floor = _summarise(
            {k: np.atleast_1d(v) for k, v in self.params.items()}, self.boot_params, self.failed,
            self.family, a, a_star, m, self.normalize_weights, self.include_apparent)
        return replace(self, a=float(a), a_star=float(a_star), m=m, estimate=est, ci_low=lo,
                       ci_high=hi, p=p, draws=draws, p_floor=floor)

    def tidy(self) -> pd.DataFrame:
        """One row per effect: estimate, 95% CI, bootstrap p, and the smallest p the
        resamples allow (``p_floor``; ``p_bounded`` when p is at it)."""
        return pd.DataFrame({
            "effect": list(EFFECTS),
            "estimate": [self.estimate[k] for k in EFFECTS],
            "ci_low": [self.ci_low[k] for k in EFFECTS],
            "ci_high": [self.ci_high[k] for k in EFFECTS],
            "p": [self.p[k] for k in EFFECTS],
            "p_floor": [self.p_floor.get(k, float("nan")) for k in EFFECTS],
            "p_bounded": [self.p_at_floor(k) for k in EFFECTS],
        })

    def records(self, prefix: str) -> list[dict[str, object]]:
        """``results.json`` records with ids ``<prefix>/{cde,nde,nie,te,pm}``."""
        def num(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)
        return [{"id": f"{prefix}/{k}", "estimate": num(self.estimate[k]),
                 "ci_low": num(self.ci_low[k]), "ci_high": num(self.ci_high[k]),
                 "p": num(self.p[k]), "n": self.n} for k in EFFECTS]

    def summary(self) -> str:
        """A small text table with the settings underneath."""
        scale = "odds ratios" if self.family == "binomial" else "differences"
        lines = [f"Mediation of {self.exposure} -> {self.outcome} by {self.mediator} "
                 f"({self.family} outcome; effects as {scale}; a={self.a:g} vs a*={self.a_star:g})",
                 f"{'effect':<8}{'estimate':>11}{'95% CI':>24}{'p':>9}"]
        for k in EFFECTS:
            ci = f"({self.ci_low[k]:.4g}, {self.ci_high[k]:.4g})"
            lines.append(f"{k.upper():<8}{self.estimate[k]:>11.4g}{ci:>24}{self.p[k]:>9.3g}")
        lines.append(f"n={self.n}, {self.boot} {self.scheme} bootstrap resamples (seed {self.seed}), "
                     f"{self.n_failed} failed fits left out; CDE at m={self.m:g}; weights "
                     f"{self.weighting}; smallest attainable p {self.p_floor.get('nie', float('nan')):.2g}"
                     + ("; from cache" if self.from_cache else ""))
        return "\n".join(lines)


# --------------------------------------------------------------------------- contrasts

def quartile_medians(rows: pd.DataFrame, exposure: str = "ln_mg") -> tuple[float, float]:
    """Unweighted medians of ``exposure`` in the first and fourth quartiles of ``rows`` (``mg_q``
    where present, else quartiles computed on ``rows``): the Q1 -> Q4 contrast the book leads
    with, in the mediation chapter, the robustness table and the multiverse alike."""
    x = pd.to_numeric(rows[exposure], errors="coerce")
    if "mg_q" in rows.columns and rows["mg_q"].notna().any():
        q = pd.to_numeric(rows["mg_q"], errors="coerce")
    else:
        q = pd.qcut(x, 4, labels=False) + 1
    return float(x[q == 1].median()), float(x[q == 4].median())


def q1q4(result: "MediationResult", rows: pd.DataFrame) -> "MediationResult":
    """``result`` for the change of its exposure from the Q1 to the Q4 median of ``rows``
    (:func:`quartile_medians`), the CDE at the mediator's mean; no refitting."""
    lo, hi = quartile_medians(rows, result.exposure)
    return result.at(hi, lo, m="mean")


# --------------------------------------------------------------------------- entry points

def mediate(frame: pd.DataFrame, exposure: str = "ln_mg", mediator: str = "ln_np",
            outcome: str = "lmm", covariates: Sequence[str] = MODEL3_COVARIATES,
            outcome_family: Family | None = None, weights: str | None = "weight",
            a: float = 1.0, a_star: float = 0.0, m: float | Literal["mean"] = 0.0,
            boot: int = 1000, seed: int = 1, scheme: bootstrap.Scheme = "rows",
            strata: str = "SDMVSTRA", psu: str = "SDMVPSU", normalize_weights: bool | None = None,
            include_apparent: bool = True, cache: bool = True,
            cache_dir: str | None = None, progress: bool | None = None,
            weighting: Weighting | None = None) -> MediationResult:
    """VanderWeele-Valeri mediation of ``exposure -> outcome`` by ``mediator`` (see module).

    ``outcome_family`` defaults to ``"binomial"`` for a 0/1 outcome, else ``"gaussian"``.
    ``m="mean"`` evaluates the CDE at the sample mean of the mediator. ``scheme`` is
    ``"rows"`` (as ``mediator``) or ``"design"`` (Rao-Wu, PSUs within ``strata``). Bootstrap
    fits are cached on disk (:func:`nhmg_lib.analyses.cache.cache_dir`) keyed by the data, the
    models, ``boot``, ``seed`` and ``scheme``; the contrast (``a``, ``a_star``, ``m``) is
    applied afterwards, so changing it never refits. ``weights`` names the weight column;
    ``weighting`` (:data:`WEIGHTINGS`: ``"normalised"`` default, ``"raw"``, ``"none"``) says
    how it enters the models (``normalize_weights=True/False`` is the older spelling of
    ``"normalised"``/``"raw"``).
    """
    return _run(frame, exposure, mediator, outcome, covariates, outcome_family, weights, a,
                a_star, m, boot, seed, scheme, strata, psu,
                _weighting(weighting, normalize_weights), include_apparent,
                cache, cache_dir, progress, shared=None)


def _weighting(weighting: str | None, normalize_weights: bool | None) -> str:
    """Resolve the ``weighting`` option and the older ``normalize_weights`` flag."""
    old = None if normalize_weights is None else ("normalised" if normalize_weights else "raw")
    if weighting is None:
        return old or "normalised"
    if weighting not in WEIGHTINGS:
        raise MediationError(f"weighting={weighting!r}; choose one of {list(WEIGHTINGS)}")
    if old is not None and old != weighting and not (weighting == "none"):
        raise MediationError(f"normalize_weights={normalize_weights} contradicts weighting={weighting!r}")
    return weighting


def mediate_block(frame: pd.DataFrame,
                  mediators: Sequence[str] = ("ln_np", "ln_par", "ln_rar", "ln_cally"),
                  outcomes: Mapping[str, Family] | None = None, exposure: str = "ln_mg",
                  covariates: Sequence[str] = MODEL3_COVARIATES, weights: str | None = "weight",
                  a: float = 1.0, a_star: float = 0.0, m: float | Literal["mean"] = 0.0,
                  boot: int = 1000, seed: int = 1, scheme: bootstrap.Scheme = "rows",
                  strata: str = "SDMVSTRA", psu: str = "SDMVPSU", normalize_weights: bool | None = None,
                  include_apparent: bool = True, cache: bool = True,
                  cache_dir: str | None = None, progress: bool | None = None,
                  weighting: Weighting | None = None
                  ) -> dict[tuple[str, str], MediationResult]:
    """:func:`mediate` for every mediator x outcome pair, keyed ``(mediator, outcome)``.

    Default outcomes: ``lmm`` (logistic) and ``ln_smi`` (linear). Pairs share the resample
    multipliers and, where their rows agree, the mediator-model fits, so the block costs
    less than the sum of its pairs.
    """
    outcomes = dict(outcomes or {"lmm": "binomial", "ln_smi": "gaussian"})
    shared: dict[str, object] = {}
    how = _weighting(weighting, normalize_weights)
    return {(med, out): _run(frame, exposure, med, out, covariates, fam, weights, a, a_star, m,
                             boot, seed, scheme, strata, psu, how,
                             include_apparent, cache, cache_dir, progress, shared)
            for med in mediators for out, fam in outcomes.items()}


def _run(frame: pd.DataFrame, exposure: str, mediator: str, outcome: str,
         covariates: Sequence[str], outcome_family: Family | None, weights: str | None,
         a: float, a_star: float, m: float | Literal["mean"], boot: int, seed: int,
         scheme: bootstrap.Scheme, strata: str, psu: str, weighting: str,
         include_apparent: bool, cache: bool, cache_dir: str | None, progress: bool | None,
         shared: dict[str, object] | None) -> MediationResult:
    if scheme not in bootstrap.SCHEMES:
        raise MediationError(f"scheme={scheme!r}; choose one of {list(bootstrap.SCHEMES)}")
    if boot < 1:
        raise MediationError(f"boot must be a positive number of resamples, got {boot}")
    if weighting not in WEIGHTINGS:
        raise MediationError(f"weighting={weighting!r}; choose one of {list(WEIGHTINGS)}")
    normalize_weights = weighting != "raw"
    data = _frame_data(frame, exposure, mediator, outcome, covariates,
                       None if weighting == "none" else weights,
                       (strata, psu) if scheme == "design" else None)
    binary = bool(np.isin(data.Y, (0.0, 1.0)).all())
    family: Family = outcome_family or ("binomial" if binary else "gaussian")
    if family not in ("binomial", "gaussian"):
        raise MediationError(f"outcome_family={family!r}; choose 'binomial' or 'gaussian'")
    if family == "binomial" and not binary:
        raise MediationError(f"outcome {outcome!r} must be coded 0/1 for a logistic model")
    m_value = float(data.M.mean()) if m == "mean" else float(m)

    design = (data.strata, data.psu) if scheme == "design" else (None, None)
    key = cache_key(_ALGORITHM, data.A, data.M, data.Y, data.w, data.C, *design,
                              family, int(boot), int(seed), scheme)
    stored = cache_load(key, cache_dir) if cache else None
    if stored is not None:
        full = {k: stored["full"][i:i + 1] for i, k in enumerate(_PARAMS)}
        draws_in = {k: stored["boot"][i] for i, k in enumerate(_PARAMS)}
        failed = stored["failed"].astype(bool)
    else:
        bootstrap.require_memory(boot, data.n, f"the bootstrap of {mediator} -> {outcome}")
        full, full_failed, coef = _fit(data, family, np.ones((1, data.n)), ("full",), memo=shared)
        if full_failed[0] or not all(np.isfinite(v[0]) for v in full.values()):
            raise MediationError(
                f"the full-sample fit of {mediator} -> {outcome} failed (non-convergence, "
                "separation or a singular design); check the covariates for empty levels")
        mult_key = (scheme, data.n, int(boot), int(seed), cache_key(*design))
        mkey = cache_key("multipliers", mult_key)
        mult = shared.get(mkey) if shared is not None else None
        if mult is None:
            try:
                mult = bootstrap.resample_multipliers(scheme, data.n, boot, seed, *design)
            except ValueError as exc:
                raise MediationError(f"cannot resample {mediator} -> {outcome}: {exc}") from exc
            mult = np.asarray(mult, dtype=np.float64)  # BLAS needs floats; convert once
            if shared is not None:
                shared[mkey] = mult
        with progress_bar(2 * boot, f"bootstrap {mediator}->{outcome}", "fit", progress) as bar:
            draws_in, failed, _ = _fit(data, family, mult, mult_key, start=coef[0], bar=bar,
                                       memo=shared)
        if cache:
            cache_save(key, {
                "full": np.array([full[k][0] for k in _PARAMS]),
                "boot": np.vstack([draws_in[k] for k in _PARAMS]),
                "failed": failed}, cache_dir)
    est, lo, hi, p, draws, floor = _summarise(full, draws_in, failed, family, a, a_star, m_value,
                                              normalize_weights, include_apparent)
    return MediationResult(
        exposure, mediator, outcome, family, float(a), float(a_star), m_value, data.n, int(boot),
        int(seed), scheme, weighting, include_apparent, est, lo, hi, p, draws, failed,
        {k: float(v[0]) for k, v in full.items()}, dict(draws_in), from_cache=stored is not None,
        p_floor=floor, m_mean=float(data.M.mean()))
