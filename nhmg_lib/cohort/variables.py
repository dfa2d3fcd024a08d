"""Derived variables: one small function per variable, raw NHANES frame in, Series out.

Every function takes the raw frame of :func:`nhmg_lib.data.readers.load_raw` (NHANES names, codes
intact) and, where the paper leaves a choice open, ``defs``. Code handling (7/9 and other
"refused/don't know" codes -> missing, unexpected codes -> missing plus a warning) is in
:mod:`nhmg_lib.data.codes`. Clinical definitions (blood pressure, diabetes, kidney function) and
the inflammatory indices live in :mod:`nhmg_lib.cohort.clinical`; :func:`derive` assembles both into
the SPEC section 7 columns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from nhmg_lib.cohort import clinical
from nhmg_lib.data.catalog import CYCLES
from nhmg_lib.data.codes import RawFrameError, UnexpectedCodeWarning, col, coded, labelled, log_positive, ranged
from nhmg_lib.cohort.definitions import DEFAULT, Definitions


# ---------------------------------------------------------------- design and demographics

def cycle(raw: pd.DataFrame) -> pd.Series:
    """Survey years from the cycle letter: G -> ``2011-2012`` ... J -> ``2017-2018``."""
    labels = {c: f"{a}-{b}" for c, (a, b) in CYCLES.items()}
    return pd.Series(pd.Categorical(raw["cycle"].map(labels), categories=list(labels.values())),
                     index=raw.index)


def weight(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Pooled weight: WTDR2D (or WTDRD1 / WTMEC2YR per ``defs.weight``) / number of cycles.

    NHANES divides a 2-year weight by the number of 2-year cycles pooled; the count is taken
    from the cycles present. Missing weights become 0 so every PSU stays in the design.
    """
    var = {"wtdr2d": "WTDR2D", "wtdrd1": "WTDRD1", "wtmec2yr": "WTMEC2YR"}[defs.weight]
    w = col(raw, var)
    bad = np.isinf(w.to_numpy(dtype=float)) | (w < 0).to_numpy()
    if bad.any():  # a missing weight is NHANES's "not in this subsample"; these are damage
        raise RawFrameError(f"weight column {var}: {int(bad.sum())} row(s) hold "
                            f"{float(w[bad].iloc[0])!r}, not a finite non-negative weight "
                            "(is the file damaged?)")
    return (w / raw["cycle"].nunique()).fillna(0.0)


def age(raw: pd.DataFrame) -> pd.Series:
    """Age in years at screening, RIDAGEYR (NHANES top-codes it at 80)."""
    return col(raw, "RIDAGEYR")


def gender(raw: pd.DataFrame) -> pd.Series:
    """RIAGENDR: 1 Male, 2 Female."""
    return labelled(coded(raw, "RIAGENDR", [1, 2], []), {1: "Male", 2: "Female"})


RIDRETH1_LABELS = {1: "Mexican American", 2: "Other Hispanic", 3: "Non-Hispanic White",
                   4: "Non-Hispanic Black", 5: "Other Race"}
RIDRETH3_LABELS = {1: "Mexican American", 2: "Other Hispanic", 3: "Non-Hispanic White",
                   4: "Non-Hispanic Black", 6: "Non-Hispanic Asian", 7: "Other Race"}


def race(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Race/Hispanic origin: RIDRETH1 (5 levels) or RIDRETH3 (adds Non-Hispanic Asian) per ``defs.race``."""
    var, labels = ("RIDRETH1", RIDRETH1_LABELS) if defs.race == "ridreth1" else ("RIDRETH3", RIDRETH3_LABELS)
    return labelled(coded(raw, var, labels, []), labels)


def pir_cat(raw: pd.DataFrame) -> pd.Series:
    """INDFMPIR: ``<1.39``, ``1.39-3.49`` (both ends included), ``>3.49``.

    NHANES publishes INDFMPIR with two decimals (0-5, 5 = 5 or more); rounding to two decimals
    first keeps a transport-float value such as 1.3899999999 on the documented side of 1.39.
    """
    pir = ranged(raw, "INDFMPIR", 0, 5, []).round(2)
    codes = pd.Series(np.select([pir < 1.39, pir <= 3.49, pir > 3.49], [1.0, 2.0, 3.0], np.nan),
                      index=raw.index).where(pir.notna())
    return labelled(codes, {1: "<1.39", 2: "1.39-3.49", 3: ">3.49"})


def education(raw: pd.DataFrame) -> pd.Series:
    """DMDEDUC2 (adults 20+): 1-2 below high school, 3 high school/GED, 4-5 above; 7/9 missing."""
    edu = coded(raw, "DMDEDUC2", [1, 2, 3, 4, 5])
    return labelled(edu.map({1: 1, 2: 1, 3: 2, 4: 3, 5: 3}),
                    {1: "Below high school", 2: "High school", 3: "Above high school"})


# ---------------------------------------------------------------- lifestyle

def smoking(raw: pd.DataFrame) -> pd.Series:
    """SMQ020, smoked at least 100 cigarettes in life: 1 Yes, 2 No; 7/9 missing."""
    return labelled(coded(raw, "SMQ020", [1, 2]), {1: "Yes", 2: "No"})


def drinking(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Never / Former / Current drinker from the ALQ items of each cycle.

    2011-2016: ALQ101 (12+ drinks in any one year) = 1 skips ALQ110 (12+ drinks in life), so
    ever-12+ is ALQ101 = 1 or ALQ110 = 1; never = ALQ110 = 2; former = ever-12+ and
    ALQ120Q (past-year drinking frequency) = 0; current = ALQ120Q > 0. 2017-18: never =
    ALQ111 (ever drank) = 2; former = ALQ111 = 1 and ALQ121 (past-year frequency) = 0;
    current = ALQ121 1-10. Codes 7/9, 77/99, 777/999 are missing. Under NHANES skip patterns
    ``past_year_any`` (current if any past-year drink, else former if ever, else never) gives
    the same classes; it differs only on records that break the skip pattern.
    """
    alq101, alq110 = coded(raw, "ALQ101", [1, 2]), coded(raw, "ALQ110", [1, 2])
    alq120q = ranged(raw, "ALQ120Q", 0, 365, [777, 999])
    alq111 = coded(raw, "ALQ111", [1, 2])
    alq121 = ranged(raw, "ALQ121", 0, 10, [77, 99])
    new = raw["cycle"].eq("J").to_numpy()  # the 2017-18 questionnaire was redesigned
    ever = np.where(new, alq111 == 1, (alq101 == 1) | (alq110 == 1))
    never = np.where(new, alq111 == 2, alq110 == 2)
    past_year = pd.Series(np.where(new, alq121, alq120q), index=raw.index)
    current, none_past_year = past_year > 0, past_year == 0
    if defs.drinking == "nhanes_lifetime_12":
        codes = np.select([never, ever & none_past_year, current], [1.0, 2.0, 3.0], np.nan)
    else:  # past_year_any: the past-year answer decides first
        codes = np.select([current, ever & none_past_year, never], [3.0, 2.0, 1.0], np.nan)
    return labelled(pd.Series(codes, index=raw.index), {1: "Never", 2: "Former", 3: "Current"})


#: (yes/no item, days/week, minutes/day, MET) for work, transport and recreation activity.
PA_ITEMS: tuple[tuple[str, str, str, float], ...] = (
    ("PAQ605", "PAQ610", "PAD615", 8.0),  # vigorous work
    ("PAQ620", "PAQ625", "PAD630", 4.0),  # moderate work
    ("PAQ635", "PAQ640", "PAD645", 4.0),  # walk or bicycle
    ("PAQ650", "PAQ655", "PAD660", 8.0),  # vigorous recreation
    ("PAQ665", "PAQ670", "PAD675", 4.0),  # moderate recreation
)


def met_min(raw: pd.DataFrame) -> pd.Series:
    """MET-min/week = sum of MET x days x minutes over the five PAQ activity types.

    An activity answered "no" (PAQ605/620/635/650/665 = 2) adds 0; yes/no 7/9, days 77/99 or
    minutes 7777/9999 (or any gap in an activity answered "yes") make the total missing,
    because an unknown activity could push someone over the 600 threshold.
    """
    total = pd.Series(0.0, index=raw.index)
    for item, days_var, mins_var, met in PA_ITEMS:
        answer = coded(raw, item, [1, 2])
        days = ranged(raw, days_var, 1, 7, [77, 99])
        mins = ranged(raw, mins_var, 1, 1440, [7777, 9999])
        part = pd.Series(np.where(answer == 2, 0.0, met * days * mins), index=raw.index)
        total += part.where(answer.notna())
    return total


def active(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Active / Inactive: MET-min/week >= 600 (WHO 2020), or per ``defs.physical_activity``
    any moderate or vigorous recreation (PAQ650 = 1 or PAQ665 = 1; both = 2 is inactive)."""
    if defs.physical_activity == "who_600_met":
        met = met_min(raw)
        yes, no = met >= 600, met < 600
    else:
        vig, mod = coded(raw, "PAQ650", [1, 2]), coded(raw, "PAQ665", [1, 2])
        yes, no = (vig == 1) | (mod == 1), (vig == 2) & (mod == 2)
    codes = pd.Series(np.where(yes, 1.0, np.where(no, 2.0, np.nan)), index=raw.index)
    return labelled(codes, {1: "Active", 2: "Inactive"})


# ---------------------------------------------------------------- diet

def reliable_recall(raw: pd.DataFrame) -> pd.Series:
    """True where both 24 h recalls met the minimum criteria (DR1DRSTZ = 1 and DR2DRSTZ = 1)."""
    day1 = coded(raw, "DR1DRSTZ", [1, 2, 4, 5], [])
    day2 = coded(raw, "DR2DRSTZ", [1, 2, 4, 5], [])
    return (day1 == 1) & (day2 == 1)


def two_day_mean(raw: pd.DataFrame, day1: pd.Series, day2: pd.Series) -> pd.Series:
    """Mean of the two recall days, only where both recalls are reliable."""
    return ((day1 + day2) / 2).where(reliable_recall(raw))


def mg_diet(raw: pd.DataFrame) -> pd.Series:
    """Food magnesium, mg/day: mean of DR1TMAGN and DR2TMAGN (both recalls reliable)."""
    return two_day_mean(raw, col(raw, "DR1TMAGN"), col(raw, "DR2TMAGN"))


def mg_total(raw: pd.DataFrame) -> pd.Series:
    """Food plus supplement magnesium, mg/day: mean over days of DRxTMAGN + DSxTMAGN.

    A missing DSxTMAGN means no supplement was reported that day (the DS files list only
    users), so it counts as 0.
    """
    day1 = col(raw, "DR1TMAGN") + col(raw, "DS1TMAGN").fillna(0.0)
    day2 = col(raw, "DR2TMAGN") + col(raw, "DS2TMAGN").fillna(0.0)
    return two_day_mean(raw, day1, day2)


def mg(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Magnesium intake per ``defs.magnesium`` (``diet`` or ``total``), adjusted for energy
    per ``defs.magnesium_energy`` (:func:`energy_adjusted`)."""
    intake = mg_diet(raw) if defs.magnesium == "diet" else mg_total(raw)
    return energy_adjusted(raw, intake, defs.magnesium_energy)


def energy_adjusted(raw: pd.DataFrame, intake: pd.Series, method: str) -> pd.Series:
    """``none``: ``intake`` as it is (mg/day); ``per_1000kcal``: intake per 1,000 kcal of
    energy; ``residual``: the residual method (Willett & Stampfer 1986) on the log scale:
    ``ln intake`` regressed on energy (unweighted least squares) among participants aged
    20-59 with both values - the study's age window, so the column does not depend on who
    else is in the frame - and the residual added to the prediction at their mean energy,
    back on the mg/day scale."""
    kcal = energy(raw)
    if method == "none":
        return intake
    if method == "per_1000kcal":
        return intake / kcal.where(kcal > 0) * 1000.0
    a = age(raw)
    ln = np.log(intake.where(intake > 0))
    fit = ln.notna() & kcal.notna() & (a >= 20) & (a <= 59)
    if fit.sum() < 3:
        return intake * np.nan
    x, y = kcal[fit].to_numpy(float), ln[fit].to_numpy(float)
    slope = float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))
    return np.exp(ln - slope * (kcal - x.mean()))


def energy(raw: pd.DataFrame) -> pd.Series:
    """Energy, kcal/day: mean of DR1TKCAL and DR2TKCAL (both recalls reliable)."""
    return two_day_mean(raw, col(raw, "DR1TKCAL"), col(raw, "DR2TKCAL"))


def protein(raw: pd.DataFrame) -> pd.Series:
    """Protein, g/day: mean of DR1TPROT and DR2TPROT (both recalls reliable)."""
    return two_day_mean(raw, col(raw, "DR1TPROT"), col(raw, "DR2TPROT"))


# ---------------------------------------------------------------- muscle

#: The four limbs' lean mass in DXX, grams, per ``Definitions.lean_mass``.
LEAN_MASS_ITEMS: dict[str, tuple[str, ...]] = {
    "bone_free": ("DXDLALE", "DXDRALE", "DXDLLLE", "DXDRLLE"),
    "with_bone": ("DXXLALI", "DXXRALI", "DXXLLLI", "DXXRLLI"),
}


def asm(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Appendicular lean mass, kg: the four limbs' lean mass / 1000, without bone mineral
    content (DXDLALE + DXDRALE + DXDLLLE + DXDRLLE, the default) or with it (DXXLALI + DXXRALI +
    DXXLLLI + DXXRLLI) per ``defs.lean_mass``. Any missing limb (invalid or absent scan)
    leaves ASM missing."""
    return sum(col(raw, v) for v in LEAN_MASS_ITEMS[defs.lean_mass]) / 1000.0


def bmi(raw: pd.DataFrame) -> pd.Series:
    """Body mass index, kg/m², BMXBMI."""
    return col(raw, "BMXBMI")


def smi(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Skeletal muscle index = ASM (kg) / BMXBMI (FNIH)."""
    return asm(raw, defs) / bmi(raw).where(bmi(raw) > 0)


#: FNIH cut-points of ASM/BMI below which muscle mass is low, by RIAGENDR.
LMM_CUTOFF = {1: 0.789, 2: 0.512}
#: Height-adjusted cut-points of ASM/height^2 (kg/m^2), by RIAGENDR: two SD below the young
#: reference mean, Baumgartner et al. 1998, Am J Epidemiol 147:755-763.
LMM_CUTOFF_HEIGHT = {1: 7.26, 2: 5.45}


def lmm(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.Series:
    """Low muscle mass (0/1) per ``defs.lmm_definition``: ``fnih_bmi``, SMI = ASM/BMI < 0.789
    for men (RIAGENDR 1), < 0.512 for women (2); ``height_baumgartner``, ASM/height^2
    (BMXHT, cm) < 7.26 / 5.45 kg/m^2."""
    sex = coded(raw, "RIAGENDR", [1, 2], [])
    if defs.lmm_definition == "fnih_bmi":
        s, cut = smi(raw, defs), sex.map(LMM_CUTOFF)
    else:
        height = col(raw, "BMXHT") / 100.0
        s, cut = asm(raw, defs) / (height * height).where(height > 0), sex.map(LMM_CUTOFF_HEIGHT)
    return (s < cut).astype("Int64").where(s.notna() & cut.notna())

# ---------------------------------------------------------------- assembly

#: SPEC section 7 columns that derive() fills (mg_q and in_cohort come from the cohort).
SPEC_COLUMNS: tuple[str, ...] = (
    "SEQN", "SDMVSTRA", "SDMVPSU", "weight", "cycle", "age", "gender", "race", "pir_cat",
    "education", "smoking", "drinking", "active", "energy", "protein", "diabetes",
    "hypertension", "egfr", "vitd", "ckd", "mg", "ln_mg", "mg_q", "smi", "ln_smi", "lmm",
    "cally", "np", "par", "rar",
)
#: Extra columns after the SPEC ones: the parts behind the indices and alternatives.
EXTRA_COLUMNS: tuple[str, ...] = (
    "asm", "bmi", "sbp", "dbp", "met_min", "mg_diet", "mg_total", "egfr_2009", "egfr_2021",
    "acr", "crp", "albumin", "lymphocytes", "neutrophils", "platelets", "rdw",
    "np_product", "np_score", "np_neutrophil_pct",
)


def design_code(raw: pd.DataFrame, name: str) -> pd.Series:
    """A stratum or PSU column as integers (missing stays missing); an infinite or
    fractional code is damage, named with its count rather than cast or crashed on."""
    s = col(raw, name)
    v = s.to_numpy(dtype=float)
    bad = ~np.isnan(v) & (~np.isfinite(v) | (np.round(v) != v))
    if bad.any():
        example = float(v[bad][0])
        raise RawFrameError(f"design column {name}: {int(bad.sum())} row(s) hold {example!r}, "
                            "not a whole-number stratum or PSU code (is the DEMO file damaged?)")
    return s.astype("Int64")


def derive(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> pd.DataFrame:
    """Every derived column (SPEC section 7 order without mg_q, then ``EXTRA_COLUMNS``).

    Unexpected codes are warned once per NHANES item even when several variables read it.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _derive(raw, defs)
    for message in dict.fromkeys((w.category, str(w.message)) for w in caught):
        warnings.warn(message[1], message[0], stacklevel=2)
    return out


def _derive(raw: pd.DataFrame, defs: Definitions) -> pd.DataFrame:
    magnesium = mg(raw, defs)
    muscle = smi(raw, defs)
    cols: dict[str, pd.Series] = {
        "SEQN": raw["SEQN"].astype("int64"),
        "SDMVSTRA": design_code(raw, "SDMVSTRA"), "SDMVPSU": design_code(raw, "SDMVPSU"),
        "weight": weight(raw, defs), "cycle": cycle(raw), "age": age(raw),
        "gender": gender(raw), "race": race(raw, defs), "pir_cat": pir_cat(raw),
        "education": education(raw), "smoking": smoking(raw), "drinking": drinking(raw, defs),
        "active": active(raw, defs), "energy": energy(raw), "protein": protein(raw),
        "diabetes": clinical.diabetes(raw, defs), "hypertension": clinical.hypertension(raw),
        "egfr": clinical.egfr(raw, defs), "vitd": clinical.vitd(raw, defs), "ckd": clinical.ckd(raw, defs),
        "mg": magnesium, "ln_mg": log_positive(magnesium),
        "smi": muscle, "ln_smi": log_positive(muscle), "lmm": lmm(raw, defs),
        "cally": clinical.cally(raw), "np": clinical.np_index(raw, defs),
        "par": clinical.par(raw), "rar": clinical.rar(raw),
        "asm": asm(raw, defs), "bmi": bmi(raw), "sbp": clinical.sbp(raw), "dbp": clinical.dbp(raw),
        "met_min": met_min(raw), "mg_diet": mg_diet(raw), "mg_total": mg_total(raw),
        "egfr_2009": clinical.egfr_ckd_epi_2009(raw), "egfr_2021": clinical.egfr_ckd_epi_2021(raw),
        "acr": col(raw, "URDACT"), "crp": col(raw, "LBXHSCRP"), "albumin": clinical.albumin(raw),
        "lymphocytes": col(raw, "LBDLYMNO"), "neutrophils": col(raw, "LBDNENO"),
        "platelets": col(raw, "LBXPLTSI"), "rdw": col(raw, "LBXRDW"),
        "np_product": clinical.np_product(raw), "np_score": clinical.np_score(raw),
        "np_neutrophil_pct": clinical.np_neutrophil_pct(raw),
    }
    order = [c for c in SPEC_COLUMNS if c in cols] + list(EXTRA_COLUMNS)
    return pd.DataFrame({c: cols[c] for c in order}, index=raw.index)


__all__ = [
    "SPEC_COLUMNS", "EXTRA_COLUMNS", "PA_ITEMS", "LMM_CUTOFF", "LMM_CUTOFF_HEIGHT", "RIDRETH1_LABELS",
    "RIDRETH3_LABELS", "RawFrameError", "UnexpectedCodeWarning", "derive", "active", "age",
    "asm", "bmi", "cycle", "drinking", "education", "energy", "energy_adjusted", "gender", "lmm", "met_min", "mg",
    "mg_diet", "mg_total", "pir_cat", "protein", "race", "reliable_recall", "smi", "smoking",
    "two_day_mean", "weight",
]
