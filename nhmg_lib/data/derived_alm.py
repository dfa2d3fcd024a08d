"""Who has a DXA limb measurement, from another study's per-participant set (not the CDC's DXX).

``nhanes_clean_2011_2018.csv`` (see its README beside it) lists the MEC-examined adults aged
20-59 of 2011-2018 with ``alm_kg``, limb lean mass *including* bone. It cannot replace DXX for
the analysis, but it says who has a limb measurement, which is all Figure 1's ASM step asks.
:func:`dxa_seqns` is used by the reconciliation of the covariate step and by the tests on the
real files, never by the cohort itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from nhmg_lib.errors import NhmgError

#: The file of the derived set inside its folder.
FILENAME = "nhanes_clean_2011_2018.csv"


def dxa_seqns(path: str | os.PathLike[str]) -> set[int]:
    """SEQNs with a DXA limb measurement (``alm_kg`` present) in the derived set at ``path``
    (the CSV or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise NhmgError(f"{path}: the derived DXA set ({FILENAME}) is not there.")
    frame = pd.read_csv(path, usecols=["participant_id", "alm_kg"])
    return set(frame.loc[frame["alm_kg"].notna(), "participant_id"].astype("int64"))


__all__ = ["FILENAME", "dxa_seqns"]
