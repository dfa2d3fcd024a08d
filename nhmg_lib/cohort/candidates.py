"""The candidate covariate rules of :data:`nhmg_lib.cohort.definitions.COVARIATE_RULES`: who lacks
what each one requires.

Every function takes the raw frame and the derived columns (:func:`nhmg_lib.cohort.variables.derive`)
and returns a boolean Series, True where the participant would be excluded by the rule.
"""

from __future__ import annotations

import pandas as pd

from nhmg_lib.data.catalog import AVAILABLE_IN
from nhmg_lib.data.codes import col


def _crp_cycle(raw: pd.DataFrame) -> pd.Series:
    """True in the cycles where NHANES measured hs-CRP (2015-2018)."""
    return raw["cycle"].astype(str).isin(AVAILABLE_IN["HSCRP"])


def lacks(rule: str, raw: pd.DataFrame, derived: pd.DataFrame) -> pd.Series:
    """True where ``rule`` would exclude the participant (the measurement it requires is missing)."""
    if rule == "fasting_glucose":
        out = col(raw, "LBXGLU").isna()
    elif rule == "hba1c":
        out = col(raw, "LBXGH").isna()
    elif rule == "acr":
        out = col(raw, "URDACT").isna()
    elif rule == "blood_pressure":
        out = derived["sbp"].isna() | derived["dbp"].isna()
    elif rule == "hs_crp":
        out = _crp_cycle(raw) & col(raw, "LBXHSCRP").isna()
    elif rule == "indices":
        out = (derived[["np", "par", "rar"]].isna().any(axis=1)
               | (_crp_cycle(raw) & derived["cally"].isna()))
    else:
        raise ValueError(f"unknown covariate rule {rule!r}")
    return pd.Series(out.to_numpy(dtype=bool), index=raw.index)


__all__ = ["lacks"]
