"""Stratified cluster sampling design and its Taylor-linearisation variance.

One concept: a one-stage description of NHANES (strata ``SDMVSTRA``, PSUs ``SDMVPSU`` sampled
with replacement, analysis weights), with the variance of a total of influence functions
computed exactly as R ``survey::svyrecvar`` does for a ``svydesign(ids=~psu, strata=~strata,
weights=~w, nest=TRUE)`` object, domain estimation included.

Domains (subpopulations) are never cut out of the design. A domain is a boolean mask; units
outside it keep their stratum and PSU and contribute zero to every PSU total, which is what
R's ``subset(design, ...)`` amounts to (R drops the rows but keeps the number of PSUs per
stratum, then pads the missing PSU totals with zeros). Two R details are reproduced because
they change numbers:

* degrees of freedom: ``degf()`` of a subset design counts only the PSUs and strata that hold
  at least one domain unit with a non-zero weight (:meth:`Design.degf`);
* lonely PSUs: a stratum with a single PSU in the *whole* design is handled by the
  ``lonely_psu`` policy, but only if the domain reaches it (R iterates over the strata of the
  subset only). A stratum with several PSUs of which the domain reaches one is centred as
  usual (zero totals for the other PSUs), unless ``adjust_domain_lonely=True``
  (R ``options(survey.adjust.domain.lonely=TRUE)``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from nhmg_lib.errors import NhmgError

LonelyPSU = Literal["fail", "adjust", "certainty", "remove", "average"]
_LONELY_OPTIONS: tuple[str, ...] = ("fail", "adjust", "certainty", "remove", "average")


class DesignError(NhmgError, ValueError):
    """The survey design cannot be built or cannot give a variance (bad ids, weights, PSUs)."""


class LonelyPSUError(DesignError):
    """A stratum reached by the analysis has a single PSU and ``lonely_psu='fail'``."""


class LonelyPSUWarning(UserWarning):
    """A stratum has a single PSU in the domain and the policy changed how it is treated."""


@dataclass(frozen=True, eq=False)
class Design:
    """A stratified, clustered, weighted sample with PSUs drawn with replacement.

    Build it with :meth:`from_frame`. Arrays are aligned with the rows of ``data``.

    Attributes
    ----------
    strata, psu:
        Integer codes 0..H-1 and 0..C-1 (PSU codes are unique across strata: nested).
    weights:
        Analysis (sampling) weights, finite and >= 0; a 0 weight keeps a unit's PSU in the
        design without letting it count (NHANES participants without a dietary weight).
    strata_labels, psu_labels:
        Original values, for messages (``psu_labels`` are ``(stratum, psu)`` pairs).
    lonely_psu:
        Policy for strata with one PSU, as R ``options(survey.lonely.psu=)``: ``"fail"``
        (default, error naming the stratum), ``"adjust"`` (PSU total deviates from zero rather
        than the stratum mean), ``"certainty"`` and ``"remove"`` (contribute nothing; R
        treats the two identically for a one-stage design), ``"average"`` (dropped, and the
        variance scaled up by strata / strata-with-variance).
    adjust_domain_lonely:
        R ``options(survey.adjust.domain.lonely=)``: apply ``lonely_psu`` also to strata that
        have several PSUs but only one of them in the domain.
    data:
        The frame the design was built from (``None`` when built from arrays); ``svyglm``
        reads model variables from it when no ``data`` is passed.
    """

    strata: np.ndarray
    psu: np.ndarray
    weights: np.ndarray
    strata_labels: np.ndarray
    psu_labels: np.ndarray
    nest: bool = True
    lonely_psu: LonelyPSU = "fail"
    adjust_domain_lonely: bool = False
    data: pd.DataFrame | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        strata: str | None = "SDMVSTRA",
        psu: str = "SDMVPSU",
        weights: str = "weight",
        *,
        nest: bool = True,
        lonely_psu: LonelyPSU = "fail",
        adjust_domain_lonely: bool = False,
    ) -> "Design":
        """Build a design from the columns of ``df`` (like R ``svydesign(data=df, ...)``).

        ``nest=True`` makes PSU ids unique within strata (NHANES numbers PSUs 1, 2 in every
        stratum). With ``nest=False`` a PSU id found in two strata is an error, as in R.
        ``strata=None`` means one stratum.
        """
        missing = [c for c in (strata, psu, weights) if c is not None and c not in df.columns]
        if missing:
            raise DesignError(
                f"design columns {missing} are not in the frame; it has {list(df.columns)[:20]}"
                + ("..." if df.shape[1] > 20 else "")
            )
        s = df[strata].to_numpy() if strata is not None else np.zeros(len(df), dtype=int)
        return cls.from_arrays(
            s, df[psu].to_numpy(), df[weights].to_numpy(),
            nest=nest, lonely_psu=lonely_psu, adjust_domain_lonely=adjust_domain_lonely,
            data=df, names=(strata or "strata", psu, weights),
        )

    @classmethod
    def from_arrays(
        cls,
        strata: np.ndarray,
        psu: np.ndarray,
        weights: np.ndarray,
        *,
        nest: bool = True,
        lonely_psu: LonelyPSU = "fail",
        adjust_domain_lonely: bool = False,
        data: pd.DataFrame | None = None,
        names: tuple[str, str, str] = ("strata", "psu", "weights"),
    ) -> "Design":
        """Build a design from aligned arrays (see :meth:`from_frame`)."""
        if lonely_psu not in _LONELY_OPTIONS:
            raise DesignError(f"lonely_psu={lonely_psu!r}; choose one of {list(_LONELY_OPTIONS)}")
        n = len(weights)
        if len(strata) != n or len(psu) != n:
            raise DesignError("strata, psu and weights must have the same length")
        if n == 0:
            raise DesignError("the design has no rows")
        for name, arr in zip(names[:2], (strata, psu)):
            if pd.isna(pd.Series(arr)).any():
                raise DesignError(f"missing values in design column {name!r} (as R: 'missing values in `id'/`strata')")
            values = pd.Series(arr)
            if pd.api.types.is_numeric_dtype(values):
                # inf is not missing to pandas, but it is no stratum or PSU label either
                bad = int((~np.isfinite(values.to_numpy(dtype=float))).sum())
                if bad:
                    raise DesignError(f"{bad} row(s) with an infinite value in design column "
                                      f"{name!r}: a stratum or PSU must be a finite code")
        w = pd.to_numeric(pd.Series(weights), errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(w).all():
            bad = int((~np.isfinite(w)).sum())
            raise DesignError(f"{bad} missing or non-finite values in weight column {names[2]!r}")
        if (w < 0).any():
            raise DesignError(f"negative values in weight column {names[2]!r}")
        s_codes, s_labels = pd.factorize(pd.Series(strata), sort=True)
        if nest:
            pairs = pd.MultiIndex.from_arrays([pd.Series(strata), pd.Series(psu)])
            p_codes, p_labels = pd.factorize(pairs, sort=True)
            p_labels = np.asarray(list(p_labels), dtype=object)
        else:
            p_codes, p_labels = pd.factorize(pd.Series(psu), sort=True)
            # a PSU id found in several strata: count distinct strata per PSU (R check.strata)
            ps = np.unique(np.stack([p_codes, s_codes]), axis=1)
            spans = np.bincount(ps[0], minlength=len(p_labels))
            if (spans > 1).any():
                bad = p_labels[np.flatnonzero(spans > 1)[:5]]
                raise DesignError(
                    f"PSUs {list(bad)} appear in more than one stratum: clusters are not nested "
                    "in strata; use nest=True (NHANES numbers PSUs within strata)"
                )
            p_labels = np.asarray(
                [(s_labels[s_codes[np.argmax(p_codes == j)]], lab) for j, lab in enumerate(p_labels)],
                dtype=object,
            )
        if len(p_labels) == 1:
            raise DesignError("the design has only one primary sampling unit")
        return cls(
            strata=np.asarray(s_codes, dtype=np.intp), psu=np.asarray(p_codes, dtype=np.intp),
            weights=w, strata_labels=np.asarray(s_labels), psu_labels=p_labels,
            nest=nest, lonely_psu=lonely_psu, adjust_domain_lonely=adjust_domain_lonely,
            data=data,
        )

    def with_options(self, **changes) -> "Design":
        """A copy with ``lonely_psu`` / ``adjust_domain_lonely`` changed."""
        allowed = {"lonely_psu", "adjust_domain_lonely"}
        if set(changes) - allowed:
            raise DesignError(f"only {sorted(allowed)} can be changed on a built design")
        if changes.get("lonely_psu", self.lonely_psu) not in _LONELY_OPTIONS:
            raise DesignError(f"lonely_psu must be one of {list(_LONELY_OPTIONS)}")
        return replace(self, **changes)

    # ------------------------------------------------------------------ structure
    @property
    def n(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_strata(self) -> int:
        return int(len(self.strata_labels))

    @property
    def n_psu(self) -> int:
        return int(len(self.psu_labels))

    @property
    def psu_stratum(self) -> np.ndarray:
        """Stratum code of each PSU (length ``n_psu``)."""
        out = np.empty(self.n_psu, dtype=np.intp)
        out[self.psu] = self.strata
        return out

    @property
    def psu_per_stratum(self) -> np.ndarray:
        """Number of PSUs in each stratum of the whole design (R's ``fpc$sampsize``)."""
        return np.bincount(self.psu_stratum, minlength=self.n_strata)

    def _psu_matrix(self) -> sparse.csr_matrix:
        # PSU x unit incidence; cached on the instance (frozen dataclass, hence object.__setattr__)
        m = self.__dict__.get("_psu_incidence")
        if m is None:
            m = sparse.csr_matrix(
                (np.ones(self.n), (self.psu, np.arange(self.n))), shape=(self.n_psu, self.n)
            )
            object.__setattr__(self, "_psu_incidence", m)
        return m

    def domain_mask(self, domain: None | np.ndarray | pd.Series | str = None) -> np.ndarray:
        """Normalise a domain (None = everyone, a boolean/0-1 array, or a column of ``data``)."""
        if domain is None:
            return np.ones(self.n, dtype=bool)
        if isinstance(domain, str):
            if self.data is None or domain not in self.data.columns:
                raise DesignError(f"domain column {domain!r} is not in the design's data")
            values = self.data[domain]
            name = domain
        else:
            values = pd.Series(np.asarray(domain))
            name = "domain"
        if len(values) != self.n:
            raise DesignError(f"{name} has {len(values)} values; the design has {self.n} rows")
        if values.isna().any():
            raise DesignError(f"{name} has missing values; a domain flag must be 0/1 or True/False")
        arr = values.to_numpy()
        if arr.dtype != bool:
            uniq = set(pd.unique(arr).tolist())
            if not uniq <= {0, 1}:
                raise DesignError(f"{name} must be boolean or 0/1, found values {sorted(uniq)[:5]}")
            arr = arr.astype(float) == 1
        return arr.astype(bool)

    def degf(self, domain: None | np.ndarray | pd.Series | str = None) -> int:
        """Design degrees of freedom as R ``degf()`` after ``subset()``.

        Number of PSUs minus number of strata, counting only PSUs and strata holding at least
        one unit of ``domain`` with a non-zero weight.
        """
        inset = self.domain_mask(domain) & (self.weights != 0)
        return int(len(np.unique(self.psu[inset])) - len(np.unique(self.strata[inset])))

    # ------------------------------------------------------------------ variance
    def total_variance(self, scores: np.ndarray, domain: np.ndarray | None = None) -> np.ndarray:
        """Variance of the column totals of ``scores`` (n x p), like R ``svyrecvar``.

        ``scores`` are influence (or score) contributions per unit; rows outside ``domain``
        are treated as zero. Strata with ``n_h`` PSUs contribute
        ``n_h/(n_h-1) * sum_i (z_hi - zbar_h)(z_hi - zbar_h)'`` over the PSU totals ``z_hi``
        (zeros for PSUs the domain does not reach). Strata the domain does not reach
        contribute nothing and are never checked for lonely PSUs, as in R.
        """
        z = np.asarray(scores, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        if z.shape[0] != self.n:
            raise DesignError(f"scores have {z.shape[0]} rows; the design has {self.n}")
        dom = self.domain_mask(domain)
        z = np.where(dom[:, None], z, 0.0)
        p = z.shape[1]

        totals = np.asarray(self._psu_matrix() @ z)           # (C, p) PSU totals
        ps = self.psu_stratum                                  # stratum of each PSU
        n_h = self.psu_per_stratum.astype(float)               # PSUs per stratum, whole design
        # Which strata and PSUs the domain reaches (rows present in R's subset design).
        psu_in = np.bincount(self.psu[dom], minlength=self.n_psu) > 0
        strat_in = np.bincount(self.strata[dom], minlength=self.n_strata) > 0
        n_sub = np.bincount(ps[psu_in], minlength=self.n_strata)  # PSUs reached per stratum

        lonely = strat_in & (n_h == 1)
        dom_lonely = strat_in & (n_h > 1) & (n_sub == 1) & self.adjust_domain_lonely
        if lonely.any() and self.lonely_psu == "fail":
            labels = [str(x) for x in self.strata_labels[lonely]]
            raise LonelyPSUError(
                f"stratum {', '.join(labels[:10])} has only one PSU "
                f"({int(lonely.sum())} such strata); choose a policy with "
                "Design(..., lonely_psu='adjust'|'certainty'|'remove'|'average'), as R "
                "options(survey.lonely.psu=...)"
            )
        if dom_lonely.any():
            labels = [str(x) for x in self.strata_labels[dom_lonely]]
            warnings.warn(
                f"stratum {', '.join(labels[:10])} has only one PSU in this domain",
                LonelyPSUWarning, stacklevel=3,
            )

        # Centre within strata (mean over all n_h PSUs of the design, zeros included), except
        # where R leaves totals uncentred: "adjust" for design-lonely strata, and for
        # domain-lonely strata when adjust_domain_lonely is on.
        strat_tot = np.zeros((self.n_strata, p))
        np.add.at(strat_tot, ps, totals)
        centre = strat_tot / n_h[:, None]
        no_centre = np.zeros(self.n_strata, dtype=bool)
        if self.lonely_psu == "adjust":
            no_centre |= lonely | dom_lonely
        dev = totals - np.where(no_centre[ps][:, None], 0.0, centre[ps])
        # Strata with domain-lonely PSUs in R pad the missing PSUs with zero rows; those rows
        # are centred too (-centre), so add their contribution explicitly.
        n_missing = n_h - n_sub                                # PSUs with zero totals
        scale = np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 1.0)
        use = strat_in.copy()
        if self.lonely_psu == "average":
            use &= ~(lonely | dom_lonely)
        psu_use = use[ps] & psu_in
        d = dev[psu_use] * np.sqrt(scale[ps][psu_use])[:, None]
        v = d.T @ d
        # zero-total PSUs of reached strata: deviation is -centre (or 0 if uncentred)
        pad = use & (n_missing > 0) & ~no_centre
        if pad.any():
            c = centre[pad] * np.sqrt(n_missing[pad] * scale[pad])[:, None]
            v += c.T @ c
        if self.lonely_psu == "average":
            n_str, n_ok = int(strat_in.sum()), int(use.sum())
            if n_ok == 0:
                return np.full((p, p), np.nan)
            v *= n_str / n_ok
        return v

    def summary(self) -> str:
        """One paragraph describing the design."""
        return (
            f"Stratified 1-stage cluster design (with replacement): {self.n} units, "
            f"{self.n_strata} strata, {self.n_psu} PSUs, design df {self.degf()}; "
            f"sum of weights {self.weights.sum():.6g}; lonely PSU policy '{self.lonely_psu}'"
        )

    def __repr__(self) -> str:
        return f"<Design: {self.n} units, {self.n_strata} strata, {self.n_psu} PSUs, lonely_psu={self.lonely_psu!r}>"
