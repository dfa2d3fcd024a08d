"""Shared helpers of the derivations: read an NHANES item, keep its documented codes, label it.

Documented "refused"/"don't know" codes become missing silently; any other value outside an
item's code set also becomes missing but raises one :class:`UnexpectedCodeWarning` naming the
item and the values, because a silently mis-coded covariate would move the cohort.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from nhmg_lib.errors import NhmgError


class UnexpectedCodeWarning(UserWarning):
    """A value outside an NHANES item's documented code set was treated as missing."""


class RawFrameError(NhmgError):
    """The frame handed to a derivation lacks NHANES columns it needs."""


def col(raw: pd.DataFrame, var: str) -> pd.Series:
    """``raw[var]`` as float, or a clear error naming the column and how raw frames are made."""
    if var not in raw.columns:
        raise RawFrameError(
            f"The raw frame has no column {var}. Build it with nhmg_lib.data.readers.load_raw, "
            f"which adds every catalogue column (NaN where a cycle lacks the item)."
        )
    return raw[var].astype("float64")


def coded(raw: pd.DataFrame, var: str, valid: Iterable[float],
          missing: Iterable[float] = (7, 9)) -> pd.Series:
    """``var`` restricted to the ``valid`` codes; ``missing`` codes and anything else -> NaN."""
    s = col(raw, var)
    valid, missing = list(valid), list(missing)
    ok = s.isin(valid)
    _warn_unexpected(var, s[s.notna() & ~ok & ~s.isin(missing)])
    return s.where(ok)


def ranged(raw: pd.DataFrame, var: str, lo: float, hi: float,
           missing: Iterable[float]) -> pd.Series:
    """``var`` within [lo, hi]; ``missing`` codes and out-of-range values (warned) -> NaN."""
    s = col(raw, var)
    ok = s.between(lo, hi)
    _warn_unexpected(var, s[s.notna() & ~ok & ~s.isin(list(missing))])
    return s.where(ok)


def _warn_unexpected(var: str, bad: pd.Series) -> None:
    if len(bad):
        values = ", ".join(f"{v:g}" for v in sorted(bad.unique())[:10])
        warnings.warn(
            f"{var}: {len(bad)} value(s) outside the documented codes ({values}) treated as missing",
            UnexpectedCodeWarning, stacklevel=4,
        )


def labelled(codes: pd.Series, labels: dict[float, str]) -> pd.Series:
    """Map numeric codes to text labels, as a categorical in the documented level order."""
    return pd.Series(pd.Categorical(codes.map(labels), categories=list(dict.fromkeys(labels.values()))),
                     index=codes.index)


def yes_no(yes: pd.Series, no: pd.Series) -> pd.Series:
    """``Yes`` where ``yes``, else ``No`` where ``no``, else missing."""
    codes = pd.Series(np.where(yes, 1.0, np.where(no, 2.0, np.nan)), index=yes.index)
    return labelled(codes, {1.0: "Yes", 2.0: "No"})


def log_positive(s: pd.Series) -> pd.Series:
    """Natural log where the value is positive; zero or negative -> NaN (log undefined)."""
    return np.log(s.where(s > 0))
