"""Clinical covariates (blood pressure, diabetes, kidney function, vitamin D) and the
inflammatory indices, one function per derived variable, raw NHANES frame in, Series out.

Units follow CONTRIBUTING.md: albumin g/L (LBDSALSI), cell counts 10^9/L, CRP mg/L, RDW %,
creatinine mg/dL, glucose mg/dL.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nhmg_lib.data.codes import coded, col, yes_no
from nhmg_lib.cohort.definitions import DEFAULT, Definitions

# ---------------------------------------------------------------- blood pressure


def sbp(raw: pd.DataFrame) -> pd.Series:
    """Systolic blood pressure, mmHg: mean of the available readings BPXSY1-BPXSY4."""
    return pd.concat([col(raw, f"BPXSY{i}") for i in range(1, 5)], axis=1).mean(axis=1)


def dbp(raw: pd.DataFrame) -> pd.Series:
    """Diastolic blood pressure, mmHg: mean of available BPXDI1-BPXDI4; a reading of 0 is missing
    (NHANES records 0 when the sound never disappears, not a true pressure)."""
    readings = pd.concat([col(raw, f"BPXDI{i}") for i in range(1, 5)], axis=1)
    return readings.where(readings > 0).mean(axis=1)


def hypertension(raw: pd.DataFrame) -> pd.Series:
    """Yes if mean SBP >= 140, mean DBP >= 90 or BPQ020 (ever told high blood pressure) = 1;
    No if none holds and BPQ020 = 2; missing otherwise (BPQ020 7/9/absent)."""
    told = coded(raw, "BPQ020", [1, 2])
    yes = (sbp(raw) >= 140) | (dbp(raw) >= 90) | (told == 1)
    return yes_no(yes, told == 2)


# ---------------------------------------------------------------- diabetes


def diabetes(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Yes if fasting LBXGLU >= 126 mg/dL (7.0 mmol/L), 2-h OGTT LBXGLT >= 200 mg/dL (11.1 mmol/L,
    when ``defs.random_glucose == "ogtt_2h"``), HbA1c LBXGH >= 6.5 %, insulin (DIQ050 = 1),
    pills (DIQ070 = 1) or told by a doctor (DIQ010 = 1). No if none holds and DIQ010 is 2 (no)
    or 3 (borderline); missing otherwise."""
    told = coded(raw, "DIQ010", [1, 2, 3])
    yes = (
        (col(raw, "LBXGLU") >= 126) | (col(raw, "LBXGH") >= 6.5) | (told == 1)
        | (coded(raw, "DIQ050", [1, 2]) == 1) | (coded(raw, "DIQ070", [1, 2]) == 1)
    )
    if defs.random_glucose == "ogtt_2h":
        yes |= col(raw, "LBXGLT") >= 200
    return yes_no(yes, told.isin([2, 3]))


# ---------------------------------------------------------------- kidney


def _ckd_epi(raw: pd.DataFrame, a: float, beta: float, age_base: float, female: float,
             black: float, alpha: tuple[float, float]) -> pd.Series:
    """a x min(Scr/k,1)^alpha x max(Scr/k,1)^beta x age_base^age x female x black; k 0.9/0.7."""
    scr = col(raw, "LBXSCR")
    scr = scr.where(scr > 0)
    sex = coded(raw, "RIAGENDR", [1, 2], [])
    kappa = sex.map({1: 0.9, 2: 0.7})
    alph = sex.map({1: alpha[0], 2: alpha[1]})
    ratio = scr / kappa
    gfr = (a * np.minimum(ratio, 1) ** alph * np.maximum(ratio, 1) ** beta
           * age_base ** col(raw, "RIDAGEYR"))
    gfr = gfr * np.where(sex == 2, female, 1.0)
    return gfr * np.where(col(raw, "RIDRETH1") == 4, black, 1.0)


def egfr_ckd_epi_2009(raw: pd.DataFrame) -> pd.Series:
    """CKD-EPI 2009, mL/min/1.73 m²: 141 x min(Scr/k,1)^a x max(Scr/k,1)^-1.209 x 0.993^age
    x 1.018 (women) x 1.159 (Black, RIDRETH1 = 4); k 0.7/0.9 and a -0.329/-0.411 for
    women/men; Scr = LBXSCR mg/dL, age = RIDAGEYR, sex = RIAGENDR."""
    return _ckd_epi(raw, 141.0, -1.209, 0.993, 1.018, 1.159, (-0.411, -0.329))


def egfr_ckd_epi_2021(raw: pd.DataFrame) -> pd.Series:
    """CKD-EPI 2021 (race-free): 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.200 x 0.9938^age
    x 1.012 (women); k 0.7/0.9, a -0.241/-0.302 for women/men; LBXSCR mg/dL."""
    return _ckd_epi(raw, 142.0, -1.200, 0.9938, 1.012, 1.0, (-0.302, -0.241))


def egfr(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """eGFR by the equation ``defs.egfr_equation`` names."""
    return egfr_ckd_epi_2009(raw) if defs.egfr_equation == "ckd_epi_2009" else egfr_ckd_epi_2021(raw)


def ckd(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Yes if eGFR < 60 or urine albumin/creatinine URDACT >= 30 mg/g; No if eGFR >= 60 and not
    Yes (a missing ACR counts as not >= 30); missing if eGFR is missing and ACR is not >= 30."""
    gfr = egfr(raw, defs)
    yes = (gfr < 60) | (col(raw, "URDACT") >= 30)
    return yes_no(yes, gfr >= 60)


def vitd(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Serum vitamin D, nmol/L: 25(OH)D3 (LBXVD3MS, the paper's covariate) by default, or
    25(OH)D2 + D3 (LBXVIDMS) with ``vitamin_d="total"``. D2 is below its detection limit in
    most adults, where NHANES fills it with the limit over root 2, so the total runs a few
    nmol/L above D3."""
    return col(raw, "LBXVD3MS" if defs.vitamin_d == "d3" else "LBXVIDMS")


# ---------------------------------------------------------------- inflammatory indices


def albumin(raw: pd.DataFrame) -> pd.Series:
    """Serum albumin, g/L (LBDSALSI); zero or negative -> missing (it divides the ratios)."""
    alb = col(raw, "LBDSALSI")
    return alb.where(alb > 0)


def cally(raw: pd.DataFrame) -> pd.Series:
    """CALLY = albumin g/L (LBDSALSI) x lymphocytes 10^9/L (LBDLYMNO) / (hs-CRP mg/L
    (LBXHSCRP) x 10^4); only where CRP was measured (2015-2018) and is positive."""
    crp = col(raw, "LBXHSCRP")
    return albumin(raw) * col(raw, "LBDLYMNO") / (crp.where(crp > 0) * 1e4)


def np_product(raw: pd.DataFrame) -> pd.Series:
    """Neutrophils x platelets, (10^9/L)^2: LBDNENO x LBXPLTSI."""
    return col(raw, "LBDNENO") * col(raw, "LBXPLTSI")


def np_score(raw: pd.DataFrame) -> pd.Series:
    """Neutrophil-platelet score 0/1/2: (LBDNENO > 7.5) + (LBXPLTSI > 400), 10^9/L."""
    neut, plt = col(raw, "LBDNENO"), col(raw, "LBXPLTSI")
    return ((neut > 7.5).astype(float) + (plt > 400).astype(float)).where(neut.notna() & plt.notna())


def np_neutrophil_pct(raw: pd.DataFrame) -> pd.Series:
    """Neutrophils as % of white cells, LBXNEPCT."""
    return col(raw, "LBXNEPCT")


def np_index(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """The NP index ``defs.np_index`` selects (product, score or neutrophil_pct)."""
    return {"product": np_product, "score": np_score, "neutrophil_pct": np_neutrophil_pct}[
        defs.np_index](raw)


def par(raw: pd.DataFrame) -> pd.Series:
    """Platelet-to-albumin ratio: LBXPLTSI (10^9/L) / LBDSALSI (g/L)."""
    return col(raw, "LBXPLTSI") / albumin(raw)


def rar(raw: pd.DataFrame) -> pd.Series:
    """RDW-to-albumin ratio: LBXRDW (%) / LBDSALSI (g/L)."""
    return col(raw, "LBXRDW") / albumin(raw)
