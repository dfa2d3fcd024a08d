"""Design-based descriptive statistics and two-group tests, as R ``survey`` computes them.

Every function takes a :class:`nhmg_lib.survey.design.Design` and an optional *domain* (a boolean
mask, 0/1 array or column name of ``design.data``). Domains are never cut out of the design:
units outside the domain get zero scores and keep their PSU, which is what R's
``subset(design, ...)`` amounts to. Variances come from :meth:`Design.total_variance`
(Taylor linearisation, R ``svyrecvar``), degrees of freedom from :meth:`Design.degf`.

R counterparts (survey 4.x; the names of the arguments follow R where they can):

==========================  =========================================================
:func:`svymean`             ``svymean(~x, subset(des, dom), na.rm=TRUE)`` / ``svyby``
:func:`svyvar`              ``svyvar(~x, ...)`` (weighted variance; sqrt = SD)
:func:`svyprop`             ``svymean(~factor(x), ...)`` (proportion of each level)
:func:`svyquantile`         ``svyquantile(~x, ..., qrule="math", interval.type="mean")``
:func:`svychisq`            ``svychisq(~x+g, ..., statistic="F")`` (Rao-Scott, 2nd order)
:func:`svyttest`            ``svyttest(x~g, ...)`` (svyglm with a group indicator)
:func:`svyranktest`         ``svyranktest(x~g, ..., test="wilcoxon")``
==========================  =========================================================

Missing values: like ``na.rm=TRUE`` in R, a unit with a missing analysis variable (or group)
leaves the domain of that one estimate. The design df is then counted on what is left,
as R does after its internal ``design[!is.na(x), ]``.

Quantiles use R's default ``qrule="math"`` (the inverse of the weighted empirical CDF: the
smallest ``x`` whose weighted cumulative share reaches ``p``; see :func:`_qrule_math`) and
the Woodruff interval with ``interval.type="mean"``; point estimates equal R exactly.

Confidence intervals of means, proportions and mean differences use a t quantile on the
design df (R ``confint(..., df = degf(design))``), the usual NHANES practice; R's
``confint.svystat`` default would use the normal quantile instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from nhmg_lib.survey.design import Design, DesignError
from nhmg_lib.errors import NhmgError

__all__ = [
    "DescriptiveError", "TestResult", "svymean", "svyvar", "svyprop", "svyquantile",
    "svychisq", "svyttest", "svyranktest", "rank_tie_keys", "RANK_TIE_DIGITS",
]


class DescriptiveError(NhmgError, ValueError):
    """A descriptive estimate cannot be computed (unknown column, empty domain, bad group)."""


@dataclass(frozen=True)
class TestResult:
    """A design-based test.

    ``statistic`` is t (t-test, rank test) or F (Rao-Scott); ``df`` is the t df, or
    ``(ndf, ddf)`` for F. ``estimate`` is the difference ``levels[1] - levels[0]`` (mean or
    mean rank score) for the two-group tests and ``None`` for the chi-square test, where
    ``pearson`` holds the unadjusted Pearson X^2 of the table scaled to the domain size.
    """

    method: str
    statistic: float
    df: float | tuple[float, float]
    p_value: float
    estimate: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    levels: tuple[Any, ...] = ()
    n: int = 0
    pearson: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- helpers
def _values(x: str | Sequence[Any] | np.ndarray | pd.Series, design: Design, what: str) -> pd.Series:
    """A column of ``design.data`` by name, or an aligned array, as a Series."""
    if isinstance(x, str):
        if design.data is None:
            raise DescriptiveError(
                f"{what} {x!r} is a column name but the design carries no data; build it with "
                "Design.from_frame or pass the values"
            )
        if x not in design.data.columns:
            raise DescriptiveError(f"{what} column {x!r} is not in the design's data")
        return design.data[x].reset_index(drop=True)
    s = x.reset_index(drop=True) if isinstance(x, pd.Series) else pd.Series(np.asarray(x))
    if len(s) != design.n:
        raise DescriptiveError(f"{what} has {len(s)} values; the design has {design.n} rows")
    return s


def _numeric(x: str | Sequence[Any] | np.ndarray | pd.Series, design: Design, what: str = "variable") -> np.ndarray:
    s = _values(x, design, what)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    # nullable dtypes (Int64, Float64) carry pd.NA: map it to NaN explicitly
    out = pd.to_numeric(s, errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    bad = s.notna().to_numpy() & np.isnan(out)
    if bad.any():
        example = s[bad].iloc[0]
        name = x if isinstance(x, str) else what
        raise DescriptiveError(f"{name} is not numeric (e.g. value {example!r})")
    return out


def _domain(design: Design, domain: Any) -> np.ndarray:
    try:
        return design.domain_mask(domain)
    except DesignError as exc:
        raise DescriptiveError(str(exc)) from exc


def _sorted_levels(values: pd.Series, mask: np.ndarray) -> list[Any]:
    """Distinct non-missing values under ``mask``, sorted (R ``sort(unique(...))``)."""
    u = pd.unique(values[mask & values.notna().to_numpy()])
    try:
        return sorted(u.tolist())
    except TypeError:  # mixed types: sort by text
        return sorted(u.tolist(), key=str)


def _tcrit(df: float, alpha: float = 0.05) -> float:
    return float(stats.t.ppf(1 - alpha / 2, df)) if df > 0 else float("nan")


def _mean_and_scores(x: np.ndarray, w: np.ndarray, dom: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Ratio mean of the columns of ``x`` over ``dom`` and its influence scores.

    Scores ``w_i (x_i - mean) / sum(w)`` inside the domain, zero outside (R ``svymean``).
    """
    x2 = x if x.ndim == 2 else x[:, None]
    wd = np.where(dom, w, 0.0)
    wsum = float(wd.sum())
    if wsum <= 0:
        raise DescriptiveError("the domain has no unit with a positive weight")
    xz = np.where(dom[:, None], x2, 0.0)          # NaN outside the domain must not leak
    mean = (wd[:, None] * xz).sum(axis=0) / wsum
    scores = wd[:, None] * (xz - mean) / wsum
    return mean, scores, wsum


def _check_levels(levels: list[Any], by_name: str) -> None:
    if not levels:
        raise DescriptiveError(f"{by_name}: no group has a unit with a positive weight in the domain")


def _by_levels(design: Design, by: Any, dom: np.ndarray) -> tuple[pd.Series | None, list[Any]]:
    """Groups as R ``svyby`` forms them: levels with a positive-weight unit in the domain."""
    if by is None:
        return None, [None]
    g = _values(by, design, "by")
    levels = _sorted_levels(g, dom & (design.weights != 0))
    _check_levels(levels, by if isinstance(by, str) else "by")
    return g, levels


def _in_level(g: pd.Series, level: Any) -> np.ndarray:
    return (g == level).fillna(False).to_numpy(dtype=bool)


def _group_masks(design: Design, by: Any, dom: np.ndarray) -> list[tuple[Any, np.ndarray]]:
    g, levels = _by_levels(design, by, dom)
    if g is None:
        return [(None, dom)]
    return [(lev, dom & _in_level(g, lev)) for lev in levels]


def _index_name(by: Any) -> str:
    return by if isinstance(by, str) else "group"


# ---------------------------------------------------------------------------- estimators
def svymean(
    x: str | Sequence[float] | np.ndarray | pd.Series,
    design: Design,
    domain: Any = None,
    by: Any = None,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Weighted (ratio) mean of ``x`` in ``domain`` with its linearised SE.

    Matches R ``svymean(~x, subset(des, domain), na.rm=TRUE)`` and, with ``by``,
    ``svyby(~x, ~by, subset(des, domain), svymean, na.rm=TRUE)`` (groups are the sorted levels
    of ``by`` with a positive-weight unit in the domain).

    Returns one row per group (index ``"all"`` without ``by``) with columns ``mean``, ``se``,
    ``ci_low``, ``ci_high`` (t on the design df), ``df`` (design df of the estimate's domain),
    ``n`` (units with a value and a positive weight) and ``sum_w``.
    """
    xv = _numeric(x, design)
    dom = _domain(design, domain)
    rows = []
    for lev, mask in _group_masks(design, by, dom):
        eff = mask & ~np.isnan(xv)
        mean, scores, wsum = _mean_and_scores(xv, design.weights, eff)
        se = float(np.sqrt(design.total_variance(scores, eff)[0, 0]))
        df = design.degf(eff)
        t = _tcrit(df, alpha)
        rows.append({
            "group": "all" if by is None else lev, "mean": float(mean[0]), "se": se,
            "ci_low": float(mean[0]) - t * se, "ci_high": float(mean[0]) + t * se, "df": df,
            "n": int((eff & (design.weights > 0)).sum()), "sum_w": wsum,
        })
    return pd.DataFrame(rows).set_index("group").rename_axis(_index_name(by) if by is not None else None)


def svyvar(
    x: str | Sequence[float] | np.ndarray | pd.Series,
    design: Design,
    domain: Any = None,
    by: Any = None,
) -> pd.DataFrame:
    """Weighted population variance of ``x`` in ``domain`` (R ``svyvar``), its SE and the SD.

    R computes ``svymean((x - xbar)^2 * n/(n-1))`` with ``n`` the number of units with a
    non-zero weight in the (sub)design *before* missing ``x`` are removed; that detail is kept
    so the SD equals R's ``sqrt(svyvar(~x, ..., na.rm=TRUE))`` also for variables with gaps.
    Columns: ``var``, ``se``, ``sd``, ``df``, ``n``.
    """
    xv = _numeric(x, design)
    dom = _domain(design, domain)
    rows = []
    for lev, mask in _group_masks(design, by, dom):
        n_all = int((mask & (design.weights != 0)).sum())
        if n_all < 2:
            raise DescriptiveError("a variance needs at least two units with a positive weight")
        eff = mask & ~np.isnan(xv)
        xbar, _, _ = _mean_and_scores(xv, design.weights, eff)
        y = (xv - xbar[0]) ** 2 * n_all / (n_all - 1)
        v, scores, _ = _mean_and_scores(y, design.weights, eff)
        se = float(np.sqrt(design.total_variance(scores, eff)[0, 0]))
        rows.append({"group": "all" if by is None else lev, "var": float(v[0]), "se": se,
                     "sd": float(np.sqrt(v[0])), "df": design.degf(eff),
                     "n": int((eff & (design.weights > 0)).sum())})
    return pd.DataFrame(rows).set_index("group").rename_axis(_index_name(by) if by is not None else None)


def svyprop(
    x: str | Sequence[Any] | np.ndarray | pd.Series,
    design: Design,
    domain: Any = None,
    by: Any = None,
    *,
    levels: Sequence[Any] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Weighted proportion of each level of the categorical ``x`` in ``domain``, with SEs.

    Matches R ``svymean(~factor(x), subset(des, domain), na.rm=TRUE)`` (and ``svyby``). The
    proportions of one group share one joint linearisation, as in R. ``levels`` fixes which
    levels are reported and in what order (default: sorted levels present in the domain; a
    listed level absent from a group gets proportion 0 and SE 0).

    Long frame, one row per (group, level): ``group`` (only with ``by``), ``level``,
    ``proportion``, ``se``, ``ci_low``, ``ci_high`` (Wald, t on the design df; not clipped
    to [0, 1]), ``df``, ``n`` (unweighted count of the level with a positive weight) and
    ``n_group`` (units with a non-missing value in the group).
    """
    s = _values(x, design, "variable")
    dom = _domain(design, domain)
    notna = s.notna().to_numpy()
    levs = list(levels) if levels is not None else _sorted_levels(s, dom & (design.weights != 0))
    if not levs:
        raise DescriptiveError("the variable has no non-missing value in the domain")
    if levels is not None:
        present = set(_sorted_levels(s, dom))
        unknown = present - set(levs)
        if unknown:
            raise DescriptiveError(
                f"values {sorted(map(str, unknown))} of the variable are not among levels={levs}; "
                "they would be silently dropped from the denominators"
            )
    ind = np.column_stack([(s == lev).fillna(False).to_numpy(dtype=float) for lev in levs])
    rows = []
    for lev_g, mask in _group_masks(design, by, dom):
        eff = mask & notna
        props, scores, _ = _mean_and_scores(ind, design.weights, eff)
        se = np.sqrt(np.clip(np.diag(design.total_variance(scores, eff)), 0, None))
        df = design.degf(eff)
        t = _tcrit(df, alpha)
        pos = eff & (design.weights > 0)
        for j, lev in enumerate(levs):
            row = {"level": lev, "proportion": float(props[j]), "se": float(se[j]),
                   "ci_low": float(props[j] - t * se[j]), "ci_high": float(props[j] + t * se[j]),
                   "df": df, "n": int((pos & (ind[:, j] == 1)).sum()), "n_group": int(pos.sum())}
            if by is not None:
                row = {"group": lev_g, **row}
            rows.append(row)
    return pd.DataFrame(rows)


def _qrule_math(x: np.ndarray, w: np.ndarray, p: float) -> float:
    """R survey ``qrule_math``: quantile of the weighted empirical distribution.

    Drop zero weights; sort (stable); ``pos`` = last index with cumulative weight
    ``<= p * W`` (the first if none). If the cumulative share at ``pos`` equals ``p`` exactly
    the answer is ``x[pos]``, else ``x[pos + 1]`` (``x[pos]`` at the end). This is the
    inverse of the weighted ECDF (``qrule="math"``, R's default since survey 4.1).
    """
    keep = w != 0
    x, w = x[keep], w[keep]
    if x.size == 0:
        return float("nan")
    ii = np.argsort(x, kind="stable")
    xs, cumw = x[ii], np.cumsum(w[ii])
    total = cumw[-1]
    below = np.flatnonzero(cumw <= p * total)
    pos = int(below[-1]) if below.size else 0
    nxt = pos if pos == xs.size - 1 else pos + 1
    # Exact floating equality, as R: p - cumw[pos]/sum(w) == 0
    return float(xs[pos] if p - cumw[pos] / total == 0 else xs[nxt])


def svyquantile(
    x: str | Sequence[float] | np.ndarray | pd.Series,
    design: Design,
    quantiles: Iterable[float] = (0.25, 0.5, 0.75),
    domain: Any = None,
    by: Any = None,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Weighted quantiles of ``x`` in ``domain`` with Woodruff confidence intervals.

    Matches R ``svyquantile(~x, subset(des, domain), quantiles, na.rm=TRUE)`` with its
    defaults ``qrule="math"`` and ``interval.type="mean"``: the CI maps the Wald interval
    (t on the design df) of ``svymean(x <= q)`` back through the same quantile rule, and
    ``se = (ci_high - ci_low) / (2 t)``. A CI end whose probability leaves [0, 1] is NaN.

    Long frame: ``group`` (with ``by``), ``quantile``, ``estimate``, ``ci_low``, ``ci_high``,
    ``se``, ``df``, ``n``.
    """
    xv = _numeric(x, design)
    dom = _domain(design, domain)
    qs = [float(q) for q in quantiles]
    if any(not 0 <= q <= 1 for q in qs):
        raise DescriptiveError(f"quantiles must lie in [0, 1], got {qs}")
    rows = []
    for lev, mask in _group_masks(design, by, dom):
        eff = mask & ~np.isnan(xv)
        if not (eff & (design.weights > 0)).any():
            raise DescriptiveError("the domain has no unit with a value and a positive weight")
        xd, wd = xv[eff], design.weights[eff]
        df = design.degf(eff)
        t = _tcrit(df, alpha)
        for q in qs:
            qhat = _qrule_math(xd, wd, q)
            # Woodruff: Wald CI of P(X <= qhat), then back through the quantile rule
            below = (xv <= qhat).astype(float)
            pm, scores, _ = _mean_and_scores(below, design.weights, eff)
            pse = float(np.sqrt(design.total_variance(scores, eff)[0, 0]))
            lo_p, hi_p = pm[0] - t * pse, pm[0] + t * pse
            lo = _qrule_math(xd, wd, lo_p) if 0 <= lo_p else float("nan")
            hi = _qrule_math(xd, wd, hi_p) if hi_p <= 1 else float("nan")
            row = {"quantile": q, "estimate": qhat, "ci_low": lo, "ci_high": hi,
                   "se": (hi - lo) / (2 * t), "df": df,
                   "n": int((eff & (design.weights > 0)).sum())}
            if by is not None:
                row = {"group": lev, **row}
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- tests
def _two_groups(
    design: Design, x: Any, g: Any, domain: Any, levels: Sequence[Any] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[Any, Any]]:
    """Values, effective domain (complete cases) and the 0/1 indicator of ``levels[1]``."""
    xv = _numeric(x, design)
    gs = _values(g, design, "group")
    dom = _domain(design, domain)
    eff = dom & ~np.isnan(xv) & gs.notna().to_numpy()
    found = _sorted_levels(gs, eff)
    levs = list(levels) if levels is not None else found
    gname = g if isinstance(g, str) else "group"
    if len(levs) != 2 or (levels is not None and not set(found) <= set(levs)):
        raise DescriptiveError(
            f"group {gname!r} must have exactly two levels in the domain; found {found}"
        )
    in1 = (gs == levs[1]).fillna(False).to_numpy(dtype=bool)
    for lev, m in ((levs[0], eff & ~in1), (levs[1], eff & in1)):
        if not (m & (design.weights > 0)).any():
            raise DescriptiveError(f"group {gname!r} level {lev!r} has no unit with a positive weight in the domain")
    return xv, eff, in1, (levs[0], levs[1])


def _difference_test(
    design: Design, y: np.ndarray, eff: np.ndarray, in1: np.ndarray, df: int, alpha: float,
) -> tuple[float, float, float, float, float, float]:
    """Difference of the weighted means of ``y`` (group 1 - group 0) and its design t test.

    Equivalent to the slope of ``y ~ g`` weighted least squares: the score of unit i is
    ``w_i (y_i - ybar_g) (1[g=1]/W_1 - 1[g=0]/W_0)`` (R ``svy.varcoef`` of ``svyglm`` and the
    influence function in ``svyranktest``), and its total variance is linearised.
    """
    w = np.where(eff, design.weights, 0.0)
    g1, g0 = eff & in1, eff & ~in1
    W1, W0 = w[g1].sum(), w[g0].sum()
    yz = np.where(eff, y, 0.0)
    m1 = float((w * yz)[g1].sum() / W1)
    m0 = float((w * yz)[g0].sum() / W0)
    resid = yz - np.where(in1, m1, m0)
    scores = w * resid * np.where(in1, 1.0 / W1, -1.0 / W0)
    se = float(np.sqrt(design.total_variance(scores, eff)[0, 0]))
    est = m1 - m0
    tval = est / se
    p = float(2 * stats.t.sf(abs(tval), df))
    tc = _tcrit(df, alpha)
    return est, se, tval, p, est - tc * se, est + tc * se


def svyttest(
    x: str | Sequence[float] | np.ndarray | pd.Series,
    g: str | Sequence[Any] | np.ndarray | pd.Series,
    design: Design,
    domain: Any = None,
    *,
    levels: Sequence[Any] | None = None,
    alpha: float = 0.05,
) -> TestResult:
    """Design-based t-test of a difference in means between two groups (R ``svyttest(x~g)``).

    R fits ``svyglm(x ~ g, family=gaussian())`` and tests the group coefficient with
    ``df = degf(design) - 1`` (the residual df of the one-slope model). The estimate is
    ``mean(levels[1]) - mean(levels[0])``; ``levels`` default to the two sorted values of
    ``g`` (0/1 for ``lmm``: LMM minus non-LMM).
    """
    xv, eff, in1, levs = _two_groups(design, x, g, domain, levels)
    df = design.degf(eff) - 1
    est, se, tval, p, lo, hi = _difference_test(design, xv, eff, in1, df, alpha)
    return TestResult(method="Design-based t-test", statistic=tval, df=float(df), p_value=p,
                      estimate=est, se=se, ci_low=lo, ci_high=hi, levels=levs,
                      n=int((eff & (design.weights > 0)).sum()))


#: Significant digits at which R's ``factor(y)`` tells values apart (``as.character`` of a
#: double prints 15 significant digits), so values equal to that precision are ties.
RANK_TIE_DIGITS = 15


def rank_tie_keys(y: np.ndarray, digits: int = RANK_TIE_DIGITS) -> np.ndarray:
    """``y`` rounded to ``digits`` significant digits through its decimal text (``%.15g``).

    This is how R's ``factor(y)`` groups doubles: ``factor(c(1, 1 + 2e-16))`` has one level.
    Ratios and averages (protein, NP, CALLY, RAR) produce such near-equal values, and
    treating them as distinct moves the rank test's t in the 4th digit.
    """
    y = np.asarray(y, dtype=np.float64)
    return np.char.mod(f"%.{digits}g", y).astype(np.float64)


def _rank_scores(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """R ``svyranktest`` ranks: ``cumsum(w) - w/2`` in stable sort order, averaged over ties.

    The tie average is R's ``ave()``: an unweighted mean of the tied units' values, which
    depends on their order in the data; the stable sort keeps that order, as R's does. The
    sort is on the exact values (R ``order(y)``); ties are groups of
    :func:`rank_tie_keys`, as R groups them by ``factor(y)`` (15 significant digits), so
    values that differ only beyond the 15th digit share their mid-rank. Rounding is
    monotone, so each group is a run of the sorted values.
    """
    ii = np.argsort(y, kind="stable")
    ys, ws = y[ii], w[ii]
    mid = np.cumsum(ws) - ws / 2
    # tie groups in sorted order
    keys = rank_tie_keys(ys)
    starts = np.r_[True, keys[1:] != keys[:-1]]
    gid = np.cumsum(starts) - 1
    avg = np.bincount(gid, weights=mid) / np.bincount(gid)
    out = np.empty_like(mid)
    out[ii] = avg[gid]
    return out


def svyranktest(
    x: str | Sequence[float] | np.ndarray | pd.Series,
    g: str | Sequence[Any] | np.ndarray | pd.Series,
    design: Design,
    domain: Any = None,
    *,
    levels: Sequence[Any] | None = None,
    alpha: float = 0.05,
) -> TestResult:
    """Design-based Wilcoxon rank test for two groups (R ``svyranktest(x~g)``, the default).

    Ranks are estimated population mid-ranks within the domain, divided by the estimated
    domain size (so they lie in (0, 1)); the test compares their weighted means between the
    groups with a design t on ``degf - 1`` df. ``estimate`` is the difference in mean rank
    score ``levels[1] - levels[0]``.
    """
    xv, eff, in1, levs = _two_groups(design, x, g, domain, levels)
    idx = np.flatnonzero(eff)
    w = design.weights
    rank = np.zeros(design.n)
    rank[idx] = _rank_scores(xv[idx], w[idx]) / w[idx].sum()
    df = design.degf(eff) - 1
    est, se, tval, p, lo, hi = _difference_test(design, rank, eff, in1, df, alpha)
    return TestResult(method="Design-based KruskalWallis test", statistic=tval, df=float(df),
                      p_value=p, estimate=est, se=se, ci_low=lo, ci_high=hi, levels=levs,
                      n=int((eff & (design.weights > 0)).sum()))


def svychisq(
    x: str | Sequence[Any] | np.ndarray | pd.Series,
    g: str | Sequence[Any] | np.ndarray | pd.Series,
    design: Design,
    domain: Any = None,
) -> TestResult:
    """Rao-Scott second-order corrected test of independence (R ``svychisq(~x+g, statistic="F")``).

    The Pearson X^2 of the weighted table (scaled to ``N``, the number of units in the domain)
    is divided by the mean generalised design effect ``tr(Delta)/k`` -- here ``X^2/tr(Delta)``,
    which is R's F -- and referred to an F distribution with ``d0 = tr(Delta)^2/tr(Delta^2)``
    and ``d0 * nu`` df. ``Delta`` compares the linearised covariance of the cell proportions
    with the multinomial one on the interaction contrasts. As in R, ``N`` and ``nu`` (PSUs
    minus strata) count every unit of the domain, including those with a missing ``x`` or
    ``g`` and those with zero weight; the proportions and their covariance use complete cases.
    """
    xs = _values(x, design, "variable")
    gs = _values(g, design, "group")
    dom = _domain(design, domain)
    if not dom.any():
        raise DescriptiveError("the domain is empty")
    complete = dom & xs.notna().to_numpy() & gs.notna().to_numpy()
    rlev = _sorted_levels(xs, complete)
    clev = _sorted_levels(gs, complete)
    nr, nc = len(rlev), len(clev)
    if nr < 2 or nc < 2:
        raise DescriptiveError(
            f"a chi-square test needs two or more levels of each variable in the domain; "
            f"found {nr} and {nc}"
        )
    N = int(dom.sum())
    nu = len(np.unique(design.psu[dom])) - len(np.unique(design.strata[dom]))
    # cell indicators, rows varying fastest (R: interaction(factor(rows), factor(cols)))
    ri = [(xs == lev).fillna(False).to_numpy(dtype=bool) for lev in rlev]
    ci = [(gs == lev).fillna(False).to_numpy(dtype=bool) for lev in clev]
    mm = np.column_stack([ri[r] & ci[c] for c in range(nc) for r in range(nr)]).astype(float)
    mean2, scores, _ = _mean_and_scores(mm, design.weights, complete)
    V = design.total_variance(scores, complete)

    # Pearson X^2 of the weighted table scaled to N (R chisq.test(svytable(..., Ntotal=N)))
    tbl = mean2.reshape(nc, nr).T * N
    expected = np.outer(tbl.sum(axis=1), tbl.sum(axis=0)) / N
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = float(np.sum((tbl - expected) ** 2 / expected))

    # Contrasts: interaction columns residualised on the main effects (R: qr.resid(X1, X12))
    rows_id = np.tile(np.arange(nr), nc)
    cols_id = np.repeat(np.arange(nc), nr)
    X1 = np.column_stack([np.ones(nr * nc)]
                         + [(rows_id == r).astype(float) for r in range(1, nr)]
                         + [(cols_id == c).astype(float) for c in range(1, nc)])
    inter = np.column_stack([((rows_id == r) & (cols_id == c)).astype(float)
                             for c in range(1, nc) for r in range(1, nr)])
    coef, *_ = np.linalg.lstsq(X1, inter, rcond=None)
    C = inter - X1 @ coef
    idiag = np.where(mean2 == 0, 0.0, 1.0 / np.where(mean2 == 0, 1.0, mean2))
    CD = C * idiag[:, None]                      # D^-1 C
    denom = C.T @ CD / N
    numr = CD.T @ V @ CD
    Delta = np.linalg.solve(denom, numr)
    trD = float(np.trace(Delta))
    d0 = trD ** 2 / float(np.trace(Delta @ Delta))
    F = pearson / trD
    p = float(stats.f.sf(F, d0, d0 * nu))
    return TestResult(method="Pearson's X^2: Rao & Scott adjustment", statistic=F,
                      df=(d0, d0 * nu), p_value=p, levels=(tuple(rlev), tuple(clev)),
                      n=int((complete & (design.weights > 0)).sum()), pearson=pearson,
                      extra={"nu": nu, "N": N, "trace_delta": trD})
