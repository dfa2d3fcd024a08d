"""cohort.build_cohort on a hand-built frame whose count at every step is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import raw_frame
from nhmg_lib.cohort.flow import Cohort, CohortError, build_cohort, cohort_from_dir, required_covariates
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES, Definitions
from nhmg_lib.cohort.variables import EXTRA_COLUMNS, SPEC_COLUMNS

NA = np.nan

#: A 2017-18 participant aged 30 with every item the cohort needs.
COMPLETE: dict[str, float] = {
    "RIDAGEYR": 30, "RIAGENDR": 1, "RIDRETH1": 3, "INDFMPIR": 2.0, "DMDEDUC2": 4,
    "SDMVSTRA": 140, "SDMVPSU": 1, "WTDR2D": 4000, "SMQ020": 2, "ALQ111": 1, "ALQ121": 2,
    "PAQ605": 2, "PAQ620": 2, "PAQ635": 2, "PAQ650": 2, "PAQ665": 2,
    "DR1DRSTZ": 1, "DR2DRSTZ": 1, "DR1TMAGN": 300, "DR2TMAGN": 300,
    "DR1TKCAL": 2000, "DR2TKCAL": 2000, "DR1TPROT": 80, "DR2TPROT": 80,
    "DIQ010": 2, "BPQ020": 2, "BPXSY1": 120, "BPXDI1": 70, "LBXSCR": 0.9, "LBXVIDMS": 60,
    "LBXVD3MS": 58.6,
    "LBDNENO": 4, "LBXPLTSI": 250, "LBDSALSI": 42, "LBXRDW": 13, "LBDLYMNO": 2,
    "BMXBMI": 25, "DXDLALE": 3000, "DXDRALE": 3000, "DXDLLLE": 9000, "DXDRLLE": 9000,
}

# (changes from COMPLETE, step at which the participant leaves)
PEOPLE: list[tuple[dict[str, float], str]] = [
    ({"RIDAGEYR": 5, "DMDEDUC2": NA}, "age"),
    ({"RIDAGEYR": 12}, "age"),
    ({"RIDAGEYR": 19}, "age"),
    ({"DXDLALE": NA}, "asm_bmi"),                        # invalid DXA scan
    ({"RIDAGEYR": 40, "BMXBMI": NA}, "asm_bmi"),
    ({"RIDAGEYR": 60, **dict.fromkeys(["DXDLALE", "DXDRALE", "DXDLLLE", "DXDRLLE"], NA)}, "asm_bmi"),
    ({"RIDAGEYR": 75, **dict.fromkeys(["DXDLALE", "DXDRALE", "DXDLLLE", "DXDRLLE"], NA)}, "asm_bmi"),
    ({"RIDAGEYR": 65}, "asm_bmi"),                       # DXA values past 59 still leave here
    ({"DR2DRSTZ": 2}, "diet"),
    ({"DR1DRSTZ": 5, "RIDAGEYR": 59}, "diet"),
    ({"SMQ020": 9}, "covariates"),
    ({"WTDR2D": 0}, "covariates"),
    ({"LBDSALSI": NA}, "covariates"),                    # PAR/RAR need albumin
] + [({"DR1TMAGN": 100 + 40 * i, "RIDAGEYR": 20 + 5 * i}, "final") for i in range(8)]


def _raw() -> pd.DataFrame:
    rows = [{**COMPLETE, **change} for change, _ in PEOPLE]
    return raw_frame(**{k: [r[k] for r in rows] for k in COMPLETE})


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return build_cohort(_raw())


def test_flow_counts_every_step(cohort: Cohort) -> None:
    flow = cohort.flow_frame()
    assert flow["key"].tolist() == ["start", "age", "asm_bmi", "diet", "covariates", "final"]
    assert flow["n_excluded"].tolist() == [0, 3, 5, 2, 3, 0]
    assert flow["n_remaining"].tolist() == [21, 18, 13, 11, 8, 8]
    step2 = cohort.flow[2]
    assert step2.details == {"aged_60_plus": 3} and step2.label == "Without ASM and BMI data"
    assert cohort.final_n == 8 and len(cohort.frame) == 8


def test_covariates_option_changes_step_four() -> None:
    c = build_cohort(_raw(), Definitions(covariates_required="model3"))
    assert [s.n_excluded for s in c.flow] == [0, 3, 5, 2, 2, 0] and c.final_n == 9
    assert required_covariates(Definitions(covariates_required="model3")) == MODEL3_COVARIATES
    assert required_covariates()[-3:] == ("np", "par", "rar")


def test_adults_are_20_to_59_with_flag(cohort: Cohort) -> None:
    a = cohort.adults
    ages = _raw()["RIDAGEYR"]
    assert len(a) == int(ages.between(20, 59).sum()) == 15
    assert a["age"].between(20, 59).all()
    assert a["in_cohort"].sum() == 8 and set(a["in_cohort"]) == {0, 1}
    assert list(a.columns) == [c for c in SPEC_COLUMNS] + ["in_cohort"] + list(EXTRA_COLUMNS)


def test_frame_values_and_quartiles(cohort: Cohort) -> None:
    f = cohort.frame
    assert f["mg"].tolist() == [200.0 + 20 * i for i in range(8)]
    assert f["mg_q"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4] and f["mg_q"].dtype == "int64"
    expected = pd.qcut(f["ln_mg"], 4, labels=False) + 1
    assert (f["mg_q"] == expected).all()
    assert f["lmm"].dtype == "int64" and f["lmm"].tolist() == [0] * 8  # SMI 0.96 > 0.789
    assert f["weight"].tolist() == [4000.0] * 8  # one cycle pooled
    assert (f[list(required_covariates())].notna().all()).all()
    assert f["cycle"].astype(str).unique().tolist() == ["2017-2018"]
    assert f["drinking"].astype(str).unique().tolist() == ["Current"]
    assert f["active"].astype(str).unique().tolist() == ["Inactive"]


def test_adults_outside_cohort_get_cohort_cut_points(cohort: Cohort) -> None:
    a = cohort.adults
    # The 59-year-old with an unreliable day-1 recall has no intake, hence no quartile;
    # the one excluded for missing albumin has 300 mg/day, the 6th of the 8 cohort intakes.
    no_albumin = a[a["albumin"].isna()]
    assert no_albumin["mg_q"].tolist() == [3] and no_albumin["in_cohort"].tolist() == [0]
    assert a.loc[a["mg"].isna(), "mg_q"].isna().all()


def test_to_csv_writes_spec_columns_and_flow(cohort: Cohort, tmp_path: Path) -> None:
    paths = cohort.to_csv(tmp_path / "out" / "cohort.csv")
    assert [p.name for p in paths] == ["cohort.csv", "flow.json"]
    df = pd.read_csv(paths[0])
    assert list(df.columns[:30]) == list(SPEC_COLUMNS) and "in_cohort" not in df
    assert len(df) == 8 and df["mg_q"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert df["race"].unique().tolist() == ["Non-Hispanic White"]
    flow = json.loads(paths[1].read_text())
    assert flow["final_n"] == 8 and flow["steps"][2]["details"] == {"aged_60_plus": 3}
    assert flow["definitions"]["np_index"] == "product"
    everyone = pd.read_csv(cohort.to_csv(tmp_path / "all.csv", all_adults=True)[0])
    assert len(everyone) == 15 and everyone.columns[30] == "in_cohort"
    assert everyone["in_cohort"].sum() == 8


def test_flow_text(cohort: Cohort) -> None:
    text = cohort.flow_text()
    assert "Without ASM and BMI data: 5 excluded, 3 aged 60 plus -> 13" in text
    assert text.splitlines()[-1] == "Final cohort, aged 20-59: 8"


def test_too_small_cohort_for_quartiles() -> None:
    raw = raw_frame(**{k: [v] * 3 for k, v in COMPLETE.items()})  # three identical intakes
    with pytest.raises(CohortError, match="final cohort of 3 has only 1 distinct"):
        build_cohort(raw)


@pytest.mark.filterwarnings("ignore::nhmg_lib.data.codes.UnexpectedCodeWarning")  # values 1-6 everywhere
def test_cohort_from_dir(xpt_dir: Path) -> None:
    c = cohort_from_dir(xpt_dir, cycles=("J",), cache=False)
    assert [s.n_remaining for s in c.flow] == [6, 0, 0, 0, 0, 0]  # ages 1-6 in the fixture
    assert c.frame.empty and c.adults.empty
