"""Every derivation rule on hand-made raw frames with edge codes, then on the real NHANES files."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import raw_frame
from nhmg_lib.cohort import clinical as c
from nhmg_lib.cohort import variables as v
from nhmg_lib.data.codes import RawFrameError, UnexpectedCodeWarning
from nhmg_lib.cohort.definitions import DEFAULT, Definitions
from nhmg_lib.data.readers import load_raw

NA = np.nan


def labels(s: pd.Series) -> list:
    """Series -> list with None for missing, for exact comparisons."""
    return [None if pd.isna(x) else x for x in s.astype(object)]


# ---------------------------------------------------------------- demographics and design

def test_gender_race_cycle_labels() -> None:
    raw = raw_frame(["G", "H", "I", "J", "J", "J"], RIAGENDR=[1, 2, 1, 2, 1, 2],
                    RIDRETH1=[1, 2, 3, 4, 5, NA], RIDRETH3=[1, 2, 3, 4, 6, 7])
    assert labels(v.gender(raw)) == ["Male", "Female", "Male", "Female", "Male", "Female"]
    assert labels(v.race(raw)) == ["Mexican American", "Other Hispanic", "Non-Hispanic White",
                                   "Non-Hispanic Black", "Other Race", None]
    assert labels(v.race(raw, Definitions(race="ridreth3")))[4:] == ["Non-Hispanic Asian", "Other Race"]
    assert labels(v.cycle(raw)) == ["2011-2012", "2013-2014", "2015-2016"] + ["2017-2018"] * 3
    assert list(v.race(raw).cat.categories)[0] == "Mexican American"


def test_unexpected_code_is_missing_with_one_warning() -> None:
    raw = raw_frame(RIDRETH1=[1, 8, 8, 6])
    with pytest.warns(UnexpectedCodeWarning, match=r"RIDRETH1: 3 value\(s\) outside the documented codes \(6, 8\)"):
        assert labels(v.race(raw)) == ["Mexican American", None, None, None]


def test_weight_divides_by_cycles_present_and_zero_fills() -> None:
    raw = raw_frame(["G", "G", "J"], WTDR2D=[1000, NA, 3000], WTMEC2YR=[10, 20, 30], WTDRD1=4)
    assert v.weight(raw).tolist() == [500.0, 0.0, 1500.0]
    assert v.weight(raw, Definitions(weight="wtmec2yr")).tolist() == [5.0, 10.0, 15.0]
    assert v.weight(raw, Definitions(weight="wtdrd1")).tolist() == [2.0, 2.0, 2.0]
    four = raw_frame(["G", "H", "I", "J"], WTDR2D=[400, 800, 1200, 0])
    assert v.weight(four).tolist() == [100.0, 200.0, 300.0, 0.0]


def test_pir_categories_include_both_inner_cut_points() -> None:
    raw = raw_frame(INDFMPIR=[0, 1.38, 1.39, 1.3899999999999, 2, 3.49, 3.4900000001, 3.5, 5, NA])
    assert labels(v.pir_cat(raw)) == ["<1.39", "<1.39", "1.39-3.49", "1.39-3.49", "1.39-3.49",
                                      "1.39-3.49", "1.39-3.49", ">3.49", ">3.49", None]


def test_education_and_smoking_codes() -> None:
    raw = raw_frame(DMDEDUC2=[1, 2, 3, 4, 5, 7, 9, NA], SMQ020=[1, 2, 7, 9, NA, 1, 2, 1])
    assert labels(v.education(raw)) == ["Below high school", "Below high school", "High school",
                                        "Above high school", "Above high school", None, None, None]
    assert labels(v.smoking(raw)) == ["Yes", "No", None, None, None, "Yes", "No", "Yes"]


# ---------------------------------------------------------------- drinking

DRINK_CASES = [  # cycle, ALQ101, ALQ110, ALQ120Q, ALQ111, ALQ121, expected
    ("G", 1, NA, 0, NA, NA, "Former"),     # 12+ in a year skips ALQ110; none past year
    ("G", 1, NA, 3, NA, NA, "Current"),
    ("H", 2, 2, NA, NA, NA, "Never"),      # < 12 in life: ALQ120Q skipped
    ("H", 2, 1, 0, NA, NA, "Former"),      # 12+ in life, not in one year
    ("I", 2, 1, 365, NA, NA, "Current"),
    ("I", 9, 2, NA, NA, NA, "Never"),      # don't know -> asked ALQ110
    ("G", 2, 1, 777, NA, NA, None),        # refused past-year frequency
    ("G", 1, NA, 999, NA, NA, None),
    ("I", 7, 9, NA, NA, NA, None),
    ("G", NA, NA, NA, NA, NA, None),       # not asked (under 20)
    ("J", NA, NA, NA, 2, NA, "Never"),
    ("J", NA, NA, NA, 1, 0, "Former"),
    ("J", NA, NA, NA, 1, 1, "Current"),
    ("J", NA, NA, NA, 1, 10, "Current"),
    ("J", NA, NA, NA, 1, 77, None),
    ("J", NA, NA, NA, 1, 99, None),
    ("J", NA, NA, NA, 7, NA, None),
    ("J", NA, NA, NA, 9, NA, None),
]


def test_drinking_follows_both_questionnaires_and_skip_patterns() -> None:
    cols = list(zip(*DRINK_CASES))
    raw = raw_frame(list(cols[0]), ALQ101=cols[1], ALQ110=cols[2], ALQ120Q=cols[3],
                    ALQ111=cols[4], ALQ121=cols[5])
    assert labels(v.drinking(raw)) == list(cols[6])
    assert labels(v.drinking(raw, Definitions(drinking="past_year_any"))) == list(cols[6])
    assert list(v.drinking(raw).cat.categories) == ["Never", "Former", "Current"]


def test_drinking_out_of_range_frequency_warns() -> None:
    raw = raw_frame("J", ALQ111=[1, 1], ALQ121=[11, 3])
    with pytest.warns(UnexpectedCodeWarning, match="ALQ121"):
        assert labels(v.drinking(raw)) == [None, "Current"]


# ---------------------------------------------------------------- physical activity

def _pa(**items: list) -> pd.DataFrame:
    """Everyone answers "no" to all five activities unless told otherwise."""
    n = len(next(iter(items.values())))
    base = {q: [2] * n for q, *_ in v.PA_ITEMS}
    return raw_frame(**{**base, **items})


def test_met_minutes_and_active_threshold() -> None:
    raw = _pa(PAQ605=[2, 1, 2, 2, 7, 1, 1, 2],
              PAQ610=[NA, 5, NA, NA, NA, 77, 3, NA], PAD615=[NA, 60, NA, NA, NA, 30, 9999, NA],
              PAQ665=[2, 2, 1, 2, 2, 2, 2, 2], PAQ670=[NA, NA, 3, NA, NA, NA, NA, NA],
              PAD675=[NA, NA, 50, NA, NA, NA, NA, NA],
              PAQ635=[2, 2, 2, 1, 2, 2, 2, NA], PAQ640=[NA, NA, NA, 2, NA, NA, NA, NA],
              PAD645=[NA, NA, NA, 74, NA, NA, NA, NA])
    met = v.met_min(raw)
    assert labels(met) == [0.0, 2400.0, 600.0, 592.0, None, None, None, None]
    assert labels(v.active(raw)) == ["Inactive", "Active", "Active", "Inactive", None, None, None, None]


def test_met_minutes_sum_over_activities() -> None:
    raw = _pa(PAQ620=[1], PAQ625=[2], PAD630=[30], PAQ650=[1], PAQ655=[1], PAD660=[20])
    assert v.met_min(raw).tolist() == [4 * 2 * 30 + 8 * 1 * 20]


def test_any_recreational_option() -> None:
    raw = raw_frame(PAQ650=[1, 2, 2, 2, 9], PAQ665=[2, 1, 2, 9, 2])
    defs = Definitions(physical_activity="any_recreational")
    assert labels(v.active(raw, defs)) == ["Active", "Active", "Inactive", None, None]


# ---------------------------------------------------------------- diet

def test_two_day_means_need_both_reliable_recalls() -> None:
    raw = raw_frame(DR1DRSTZ=[1, 1, 5, 1, 1], DR2DRSTZ=[1, 2, 1, NA, 1],
                    DR1TMAGN=[300, 300, 300, 300, 0], DR2TMAGN=[200, 200, 200, 200, 0],
                    DS1TMAGN=[100, NA, NA, NA, NA], DS2TMAGN=[NA, NA, NA, NA, 50],
                    DR1TKCAL=[2000, 1, 1, 1, 1], DR2TKCAL=[1800, 1, 1, 1, 1],
                    DR1TPROT=[80, 1, 1, 1, 1], DR2TPROT=[70, 1, 1, 1, 1])
    assert labels(v.mg(raw)) == [250.0, None, None, None, 0.0]
    assert labels(v.mg(raw, Definitions(magnesium="total"))) == [300.0, None, None, None, 25.0]
    assert labels(v.energy(raw)) == [1900.0, None, None, None, 1.0]
    assert labels(v.protein(raw)) == [75.0, None, None, None, 1.0]
    d = v.derive(raw)
    assert d["ln_mg"].iloc[0] == pytest.approx(math.log(250), abs=1e-12)
    assert pd.isna(d["ln_mg"].iloc[4])  # 0 mg/day cannot be logged


# ---------------------------------------------------------------- muscle

def _limbs(grams: list[float]) -> dict[str, list[float]]:
    """Split total appendicular lean grams over the four limbs (integers, so sums are exact)."""
    return {"DXDLALE": [2000] * len(grams), "DXDRALE": [2100] * len(grams),
            "DXDLLLE": [7800] * len(grams), "DXDRLLE": [g - 11900 for g in grams]}


def test_asm_smi_and_lmm_cut_points_are_strict() -> None:
    grams = [19725, 19700, 12800, 12775, 25000, 19725]
    raw = raw_frame(RIAGENDR=[1, 1, 2, 2, 2, NA], BMXBMI=[25, 25, 25, 25, NA, 25], **_limbs(grams))
    assert v.asm(raw).tolist() == [19.725, 19.7, 12.8, 12.775, 25.0, 19.725]
    smi = v.smi(raw)
    assert smi.iloc[0] == 0.789 and smi.iloc[2] == 0.512
    assert labels(v.lmm(raw)) == [0, 1, 0, 1, None, None]


def test_asm_missing_when_a_limb_is_missing() -> None:
    limbs = _limbs([20000, 20000])
    limbs["DXDRALE"] = [2100, NA]
    raw = raw_frame(RIAGENDR=[1, 1], BMXBMI=[25, 25], **limbs)
    assert labels(v.asm(raw)) == [20.0, None] and labels(v.lmm(raw)) == [0, None]


# ---------------------------------------------------------------- blood pressure, diabetes

def test_blood_pressure_means_and_zero_diastolic() -> None:
    raw = raw_frame(BPXSY1=[120, NA, 150], BPXSY2=[130, NA, NA], BPXSY3=[NA, NA, 140],
                    BPXDI1=[0, 0, 70], BPXDI2=[80, 0, NA], BPXDI3=[90, NA, 80], BPXDI4=[NA, NA, 0])
    assert labels(c.sbp(raw)) == [125.0, None, 145.0]
    assert labels(c.dbp(raw)) == [85.0, None, 75.0]


def test_hypertension_rule() -> None:
    raw = raw_frame(BPXSY1=[140, 139.9, 120, NA, 120, NA, 120],
                    BPXDI1=[70, 89.9, 90, NA, 70, NA, 70],
                    BPQ020=[2, 2, 2, 1, NA, 2, 9])
    assert labels(c.hypertension(raw)) == ["Yes", "No", "Yes", "Yes", None, "No", None]


def test_diabetes_rule() -> None:
    raw = raw_frame(
        LBXGLU=[126, 125.9, NA, NA, NA, NA, NA, NA, NA, NA, NA],
        LBXGLT=[NA, NA, 200, NA, NA, NA, NA, NA, NA, NA, 199.9],
        LBXGH=[NA, NA, NA, 6.5, 6.4, NA, NA, NA, NA, NA, NA],
        DIQ050=[NA, NA, NA, NA, NA, 1, 2, 2, NA, NA, NA],
        DIQ070=[NA, NA, NA, NA, NA, NA, 1, 9, NA, NA, NA],
        DIQ010=[2, 2, 2, 2, 2, 2, 2, 3, 1, 9, 2])
    assert labels(c.diabetes(raw)) == ["Yes", "No", "Yes", "Yes", "No", "Yes", "Yes", "No",
                                       "Yes", None, "No"]
    no_ogtt = c.diabetes(raw, Definitions(random_glucose="none"))
    assert labels(no_ogtt)[2] == "No"
    assert labels(c.diabetes(raw_frame(DIQ010=[NA, 7, 3])))[:3] == [None, None, "No"]


# ---------------------------------------------------------------- kidney

def test_egfr_ckd_epi_2009_by_hand() -> None:
    raw = raw_frame(RIAGENDR=[2, 1, 1, 1, 2], RIDAGEYR=[40, 55, 30, 30, 40],
                    RIDRETH1=[3, 4, 1, 1, 4], LBXSCR=[0.6, 1.2, 0.9, 0, NA])
    gfr = c.egfr_ckd_epi_2009(raw)
    # woman 40, Scr 0.6: 141 x (0.6/0.7)^-0.329 x 0.993^40 x 1.018
    assert gfr.iloc[0] == pytest.approx(114.01508733609069, abs=1e-9)
    # Black man 55, Scr 1.2: 141 x (1.2/0.9)^-1.209 x 0.993^55 x 1.159
    assert gfr.iloc[1] == pytest.approx(78.42603941511877, abs=1e-9)
    # man 30 at Scr = kappa: both power terms are 1
    assert gfr.iloc[2] == pytest.approx(141 * 0.993 ** 30, abs=1e-9)
    assert pd.isna(gfr.iloc[3]) and pd.isna(gfr.iloc[4])
    assert labels(c.egfr(raw)) == labels(gfr)


def test_egfr_ckd_epi_2021_by_hand() -> None:
    raw = raw_frame(RIAGENDR=[2, 1], RIDAGEYR=[40, 55], RIDRETH1=[3, 4], LBXSCR=[0.6, 1.2])
    gfr = c.egfr(raw, Definitions(egfr_equation="ckd_epi_2021"))
    assert gfr.iloc[0] == pytest.approx(116.29545162194965, abs=1e-9)
    assert gfr.iloc[1] == pytest.approx(71.4177959219211, abs=1e-9)  # no race term


def test_ckd_rule() -> None:
    # Scr 2.0 in a 50-year-old man gives eGFR ~ 38; 0.9 gives ~ 100.
    raw = raw_frame(RIAGENDR=1, RIDAGEYR=50, RIDRETH1=3,
                    LBXSCR=[2.0, 0.9, 0.9, 0.9, NA, NA, NA], URDACT=[NA, 30, 29.9, NA, 35, 10, NA])
    assert labels(c.ckd(raw)) == ["Yes", "Yes", "No", "No", "Yes", None, None]


# ---------------------------------------------------------------- indices

def test_inflammatory_indices() -> None:
    raw = raw_frame(LBDSALSI=[40, 40, 0, 40], LBDLYMNO=[2, 2, 2, 2], LBXHSCRP=[1, NA, 1, 0],
                    LBDNENO=[4, 7.5, 7.6, 8], LBXPLTSI=[250, 400, 401, 300],
                    LBXRDW=[13, 13, 13, 13], LBXNEPCT=[55, 60, 65, 70])
    # 4.0 g/dL x 2000 /uL / (0.1 mg/dL x 10^4) = 8000 / 1000 = 8
    assert labels(c.cally(raw)) == [pytest.approx(8.0, rel=1e-12), None, None, None]
    assert c.np_product(raw).tolist() == [1000.0, 3000.0, 7.6 * 401, 2400.0]
    assert c.np_score(raw).tolist() == [0.0, 0.0, 2.0, 1.0]
    assert c.np_index(raw, Definitions(np_index="neutrophil_pct")).tolist() == [55.0, 60.0, 65.0, 70.0]
    assert labels(c.par(raw)) == [6.25, 10.0, None, 7.5]
    assert labels(c.rar(raw)) == [pytest.approx(3.25)] * 2 + [None, pytest.approx(3.25)]   # 13 % / 4.0 g/dL
    assert pd.isna(c.np_score(raw_frame(LBDNENO=[NA], LBXPLTSI=[500])).iloc[0])


# ---------------------------------------------------------------- assembly

def test_derive_columns_order_and_single_warning_per_item() -> None:
    raw = raw_frame(RIAGENDR=[1, 3], RIDAGEYR=[30, 40], LBXSCR=[1, 1], BMXBMI=[25, 25],
                    **_limbs([20000, 20000]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = v.derive(raw)
    riagendr = [w for w in caught if "RIAGENDR" in str(w.message)]
    assert len(riagendr) == 1  # read by gender, lmm and both eGFR equations
    assert list(d.columns) == [x for x in v.SPEC_COLUMNS if x != "mg_q"] + list(v.EXTRA_COLUMNS)
    assert d["SEQN"].tolist() == [93703, 93704]
    assert labels(d["gender"]) == ["Male", None] and labels(d["lmm"]) == [0, None]


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(RawFrameError, match="no column SMQ020.*load_raw"):
        v.smoking(pd.DataFrame({"SEQN": [1]}))


# ---------------------------------------------------------------- real NHANES files

@pytest.fixture(scope="module")
def real_j(real_data_dir: Path) -> pd.DataFrame:
    return load_raw(real_data_dir, cycles=("J",), cache=False,
                    components=("CBC", "BIOPRO", "HSCRP", "BPX", "GHB"))


@pytest.fixture(scope="module")
def real_g(real_data_dir: Path) -> pd.DataFrame:
    with pytest.warns(UserWarning, match="INDFMPIR"):
        return load_raw(real_data_dir, cycles=("G",), cache=False, components=("BMX", "DIQ"),
                        strict=False)


def test_real_demographics(real_j: pd.DataFrame, real_g: pd.DataFrame) -> None:
    for raw in (real_j, real_g):
        codes = raw["RIDRETH1"].map(v.RIDRETH1_LABELS).value_counts()
        assert v.race(raw).value_counts().to_dict() == codes.to_dict()
        assert v.gender(raw).value_counts().sum() == len(raw)
    assert v.race(real_j).value_counts().to_dict() == {
        "Non-Hispanic White": 3150, "Non-Hispanic Black": 2115, "Other Race": 1802,
        "Mexican American": 1367, "Other Hispanic": 820}
    assert (v.cycle(real_g) == "2011-2012").all()
    edu = v.education(real_j).value_counts(dropna=False)
    assert edu["Above high school"] == 3114 and edu["Below high school"] == 1117


def test_real_diabetes_self_report(real_g: pd.DataFrame) -> None:
    d = c.diabetes(real_g, DEFAULT).value_counts(dropna=False)
    # No glucose/HbA1c files here, so Yes = DIQ010, DIQ050 or DIQ070 = 1.
    yes = (real_g[["DIQ010", "DIQ050", "DIQ070"]] == 1).any(axis=1)
    assert d["Yes"] == yes.sum() == 749
    assert d["No"] == (~yes & real_g["DIQ010"].isin([2, 3])).sum() == 8608
    assert d.sum() == 9756


def test_real_blood_pressure(real_j: pd.DataFrame) -> None:
    sbp, dbp = c.sbp(real_j), c.dbp(real_j)
    readings = real_j[[f"BPXSY{i}" for i in range(1, 5)]]
    assert np.allclose(sbp.dropna(), readings.mean(axis=1).dropna())
    assert (dbp.dropna() > 0).all() and sbp.notna().sum() == 6717
    # BPQ is not in the subset: Yes comes from readings only, No needs BPQ020.
    hyp = c.hypertension(real_j).value_counts(dropna=False)
    assert hyp["Yes"] == ((sbp >= 140) | (dbp >= 90)).sum() and hyp["No"] == 0


def test_real_indices(real_j: pd.DataFrame) -> None:
    for f in (c.np_product, c.np_score, c.par, c.rar, c.cally, c.egfr_ckd_epi_2009):
        s = f(real_j).dropna()
        assert len(s) > 5000 and np.isfinite(s).all() and (s >= 0).all(), f.__name__
    cally = c.cally(real_j)
    inputs = real_j[["LBXHSCRP", "LBDSALSI", "LBDLYMNO"]].notna().all(axis=1)
    assert (cally.notna() == inputs).all() and cally.notna().sum() == 5882


# ---------------------------------------------------------------- multiverse definitions

def test_magnesium_energy_adjustment_by_hand() -> None:
    """per_1000kcal: mg / kcal * 1000; residual: ln mg minus slope x (kcal - mean kcal) of the
    least-squares line of ln mg on kcal among the 20-59-year-olds, back on the mg scale."""
    mg1, kcal = [200.0, 300.0, 400.0, 250.0], [1000.0, 2000.0, 3000.0, 2000.0]
    raw = raw_frame(RIDAGEYR=[30, 40, 50, 70], DR1DRSTZ=[1] * 4, DR2DRSTZ=[1] * 4,
                    DR1TMAGN=mg1, DR2TMAGN=mg1, DR1TKCAL=kcal, DR2TKCAL=kcal)
    dens = v.mg(raw, Definitions(magnesium_energy="per_1000kcal"))
    assert dens.tolist() == pytest.approx([200.0, 150.0, 400 / 3, 125.0])
    res = v.mg(raw, Definitions(magnesium_energy="residual"))
    x, y = np.array(kcal[:3]), np.log(mg1[:3])          # the 70-year-old is outside the fit
    slope = np.polyfit(x, y, 1)[0]
    want = np.exp(np.log(mg1) - slope * (np.array(kcal) - x.mean()))
    assert res.tolist() == pytest.approx(want.tolist(), rel=1e-12)
    assert res.iloc[1] == pytest.approx(300.0)          # at the mean energy: unchanged
    assert v.mg(raw).tolist() == mg1


def test_lean_mass_with_bone_reads_the_dxx_li_items() -> None:
    """``lean_mass="with_bone"``: ASM from DXXLALI + DXXRALI + DXXLLLI + DXXRLLI (lean with
    bone mineral), which moves SMI and LMM; the default stays bone-free."""
    bone_free = _limbs([19725, 19725, 12775])
    with_bone = {"DXXLALI": [2300, 2300, NA], "DXXRALI": [2400, 2400, 1500],
                 "DXXLLLI": [8800, 8800, 5000], "DXXRLLI": [8800, 8500, 5000]}
    raw = raw_frame(RIAGENDR=[1, 1, 2], BMXBMI=[25, 28, 25], **bone_free, **with_bone)
    d = Definitions(lean_mass="with_bone")
    assert labels(v.asm(raw)) == [19.725, 19.725, 12.775]
    assert labels(v.asm(raw, d)) == [22.3, 22.0, None]        # a missing limb leaves it missing
    assert labels(v.smi(raw, d)) == [pytest.approx(22.3 / 25), pytest.approx(22.0 / 28), None]
    # 19.725 / 28 = 0.704 is low (< 0.789); with bone 22.0 / 28 = 0.786 is still low,
    # 19.725 / 25 = 0.789 is not low; with bone 0.892 is not either
    assert labels(v.lmm(raw)) == [0, 1, 1] and labels(v.lmm(raw, d)) == [0, 1, None]
    derived = v.derive(raw, d)
    assert labels(derived["asm"]) == [22.3, 22.0, None]


def test_lmm_height_adjusted_cut_points_are_strict() -> None:
    """Baumgartner 1998: ASM/height^2 < 7.26 kg/m^2 (men), < 5.45 (women)."""
    # height 2 m -> height^2 = 4: ASM 29.04 kg is exactly 7.26 (not low), 29.0 is low
    grams = [29040, 29000, 21800, 21780]
    raw = raw_frame(RIAGENDR=[1, 1, 2, 2], BMXBMI=[25] * 4, BMXHT=[200.0] * 4, **_limbs(grams))
    d = Definitions(lmm_definition="height_baumgartner")
    assert labels(v.lmm(raw, d)) == [0, 1, 0, 1]
    assert labels(v.lmm(raw)) == [0, 0, 0, 0]   # FNIH: ASM/BMI well above 0.789 / 0.512


def test_vitamin_d_option_reads_d3_by_default() -> None:
    raw = raw_frame(LBXVIDMS=[60.0, NA, 80.0], LBXVD3MS=[58.6, 40.2, NA])
    assert labels(c.vitd(raw)) == [58.6, 40.2, None]
    assert labels(c.vitd(raw, Definitions(vitamin_d="total"))) == [60.0, None, 80.0]
    assert labels(v.derive(raw)["vitd"]) == [58.6, 40.2, None]


@pytest.fixture(scope="module")
def full_real_dir() -> Path:
    """The fuller folder of real files (``nhanes-real``, with VID_J), beside the repository or
    beside the folder of work trees; a skip when absent."""
    repo = Path(__file__).resolve().parents[1]
    for base in (repo.parent, repo.parent.parent):
        folder = base / "shared" / "data" / "nhanes-real"
        if (folder / "VID_J.xpt").is_file():
            return folder
    pytest.skip("real NHANES folder nhanes-real not found (only present in the project workspace)")


def test_real_vitamin_d_d3_against_total(full_real_dir: Path) -> None:
    """2017-18: the total exceeds D3 by D2, which is mostly below its limit (filled 1.45)."""
    raw = load_raw(full_real_dir, cycles=("J",), cache=False, components=("VID",))
    d3, total = c.vitd(raw), c.vitd(raw, Definitions(vitamin_d="total"))
    assert (d3.notna().sum(), total.notna().sum()) == (7410, 7409)   # of 9,254 in DEMO_J
    both = d3.notna() & total.notna()
    gap = (total - d3)[both]
    assert (gap > 0.9).all()
    assert gap.median() == pytest.approx(1.4) and gap.mean() == pytest.approx(3.623, abs=1e-3)
    assert (gap.round(1) == 1.4).sum() == 5542                       # D2 below its limit
    assert (gap > 2).sum() == 1201                                    # D2 measured
    assert d3.median() == pytest.approx(61.0, abs=3) and total.median() > d3.median()


def test_real_indices_on_their_published_scales(full_real_dir: Path) -> None:
    """2017-18 adults aged 20-59: CALLY on its authors' scale has a median of a few units
    (published cohorts: medians between 1 and 10), PAR about 6 and RAR about 3.3."""
    raw = load_raw(full_real_dir, cycles=("J",), cache=False, components=("CBC", "BIOPRO", "HSCRP"))
    adult = raw["RIDAGEYR"].between(20, 59)
    cally = c.cally(raw)[adult].dropna()
    assert len(cally) == 3015 and 1 < cally.median() < 10
    by_hand = (raw["LBDSALSI"] / 10) * (raw["LBDLYMNO"] * 1000) / (raw["LBXHSCRP"] / 10 * 1e4)
    assert np.allclose(cally, by_hand[cally.index])
    assert 4 < c.par(raw)[adult].median() < 8 and 2.8 < c.rar(raw)[adult].median() < 3.8
