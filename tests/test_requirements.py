"""A cohort reads only the files its definitions need; a missing needed file is named, and a
partial folder still gives every step it decides. Candidate covariate rules on hand-made rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import raw_frame, write_xpt_dir
from nhmg_lib.data.catalog import CYCLES
from nhmg_lib.cli import main
from nhmg_lib.cohort import candidates
from nhmg_lib.cohort.definitions import COVARIATE_RULES, DEFAULT, Definitions
from nhmg_lib.cohort.flow import build_cohort, cohort_from_dir
from nhmg_lib.cohort.requirements import first_blocked_step, needed_files, needs
from nhmg_lib.cohort.variables import derive
from nhmg_lib.data.readers import MissingDataError

NA = np.nan


def _components(defs: Definitions) -> dict[str, str]:
    return {n.component: n.step for n in needs(defs)}


def test_needs_follow_the_definitions() -> None:
    default = _components(DEFAULT)
    assert "DS1TOT" not in default and "DS2TOT" not in default  # magnesium=diet
    assert default["DXX"] == "asm_bmi" and default["DR1TOT"] == "diet"
    assert default["OGTT"] == "covariates" and default["ALB_CR"] == "exhibits"
    assert _components(DEFAULT.with_(magnesium="total"))["DS2TOT"] == "diet"
    assert "OGTT" not in _components(DEFAULT.with_(random_glucose="none"))
    assert _components(DEFAULT.with_(covariates_required="model3"))["CBC"] == "exhibits"
    assert _components(DEFAULT.with_(covariate_rules=("acr",)))["ALB_CR"] == "covariates"
    files = {f.filename for f, _ in needed_files(DEFAULT, ("I", "J"))}
    assert "HSCRP_J.xpt" in files and "OGTT_I.xpt" in files and "OGTT_J.xpt" not in files
    assert first_blocked_step([n for n in needs(DEFAULT) if n.component in ("VID", "DR2TOT")]) == "diet"
    assert first_blocked_step([]) is None


def test_covariate_rules_are_named_validated_and_ordered() -> None:
    defs = Definitions(covariate_rules="acr+hba1c")
    assert defs.covariate_rules == ("hba1c", "acr")  # the order of COVARIATE_RULES
    assert defs == Definitions(covariate_rules=("acr", "hba1c"))
    assert defs.as_dict()["covariate_rules"] == "hba1c+acr"
    assert "covariate_rules" not in DEFAULT.as_dict()
    assert defs.changed_from_default() == {"covariate_rules": "hba1c+acr"}
    with pytest.raises(ValueError, match="unknown rule"):
        Definitions(covariate_rules=("fasting",))


def test_candidate_rules_flag_the_missing_measurement() -> None:
    raw = raw_frame(["I", "I", "G", "J"], LBXGLU=[NA, 90, NA, 95], LBXGH=[5.0, NA, 5.0, 5.0],
                    URDACT=[NA, 10, 10, 10], BPXSY1=[120, 120, 120, NA], BPXDI1=[70, 0, 70, 70],
                    LBXHSCRP=[NA, 1.0, NA, 1.0], LBDSALSI=42, LBDLYMNO=2, LBDNENO=4,
                    LBXPLTSI=250, LBXRDW=[13, 13, 13, NA])
    d = derive(raw)
    got = {r: candidates.lacks(r, raw, d).tolist() for r in COVARIATE_RULES}
    assert got == {
        "fasting_glucose": [True, False, True, False],
        "hba1c": [False, True, False, False],
        "acr": [True, False, False, False],
        "blood_pressure": [False, True, False, True],   # a diastolic 0 is no reading
        "hs_crp": [True, False, False, False],          # 2011-2012 has no hs-CRP to lack
        "indices": [True, False, False, True],
    }


def test_rules_join_the_covariate_step() -> None:
    from test_cohort import COMPLETE

    raw = raw_frame("J", **{k: [v] * 6 for k, v in COMPLETE.items()})
    raw["URDACT"] = [NA, 5.0, 5.0, 5.0, 5.0, 5.0]
    raw["LBXGH"] = [5.0, NA, 5.0, 5.0, 5.0, 5.0]
    raw["DR1TMAGN"] = [100.0, 200.0, 300.0, 400.0, 500.0, 600.0]  # quartiles need distinct intakes
    assert build_cohort(raw).final_n == 6
    ruled = build_cohort(raw, Definitions(covariate_rules=("acr", "hba1c")))
    assert [s.n_excluded for s in ruled.flow if s.key == "covariates"] == [2]
    assert ruled.final_n == 4 and ruled.flow[-1].by_cycle == {"J": 4}
    assert build_cohort(raw, Definitions(covariate_rules=("acr",))).final_n == 5


def _drop(data: Path, *names: str) -> None:
    for name in names:
        (data / name).unlink()


def test_only_needed_files_are_required(xpt_dir: Path) -> None:
    _drop(xpt_dir, "DS1TOT_J.xpt", "DS2TOT_J.xpt")
    cohort = cohort_from_dir(xpt_dir, cycles=("J",), cache=False)  # magnesium=diet: no DS files
    assert cohort.complete and cohort.flow[-1].key == "final"
    with pytest.raises(MissingDataError, match=r"DS1TOT_J\.xpt \(supplement magnesium "
                                               r"\(magnesium=total\)\)"):
        cohort_from_dir(xpt_dir, Definitions(magnesium="total"), cycles=("J",), cache=False)


def test_partial_folder_gives_the_steps_it_decides(tmp_path: Path, capsys) -> None:
    xpt_dir = write_xpt_dir(tmp_path / "data", tuple(CYCLES), n=4)
    _drop(xpt_dir, "DR1TOT_J.xpt", "VID_J.xpt")
    with pytest.raises(MissingDataError, match=r"DR1TOT_J\.xpt \(day-1 recall"):
        cohort_from_dir(xpt_dir, cache=False)
    cohort = cohort_from_dir(xpt_dir, partial=True, cache=False)
    assert not cohort.complete
    assert [s.key for s in cohort.flow] == ["start", "age", "asm_bmi"]
    assert [m["file"] for m in cohort.missing] == ["DR1TOT_J.xpt", "VID_J.xpt"]
    assert cohort.missing[0]["step"] == "diet" and cohort.flow_record()["final_n"] is None
    assert not any(f["column"] == "DR1TMAGN" for f in cohort.plausibility)  # absent, not empty


def test_cohort_command_on_a_partial_folder(tmp_path: Path, capsys) -> None:
    """Counts up to the step the files allow, beside the paper's, then the missing files."""
    data = tmp_path / "data"
    assert main(["synth", "--out", str(data), "--seed", "3", "--scale", "0.05"]) == 0
    _drop(data, "DR1TOT_J.xpt", "VID_J.xpt")
    out = tmp_path / "out" / "cohort.csv"
    assert main(["cohort", "--data-dir", str(data), "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert "Not computed from diet on" in printed.out
    assert printed.out.count("(paper: ") == 5  # start; excluded and remaining at age, ASM
    assert "DR1TOT_J.xpt: day-1 recall and the dietary weights (step diet)" in printed.err
    assert not out.exists()
    flow = json.loads((out.parent / "flow.json").read_text())
    assert [s["key"] for s in flow["steps"]] == ["start", "age", "asm_bmi"]
    assert flow["missing_files"][0] == {"file": "DR1TOT_J.xpt", "step": "diet",
                                        "needed_for": "day-1 recall and the dietary weights"}


def test_cli_accepts_covariate_rules(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    assert main(["synth", "--out", str(data), "--seed", "3", "--scale", "0.05"]) == 0
    out = tmp_path / "c.csv"
    assert main(["cohort", "--data-dir", str(data), "--out", str(out),
                 "--set", "covariate_rules=acr"]) == 0
    flow = json.loads((tmp_path / "flow.json").read_text())
    assert flow["definitions"]["covariate_rules"] == "acr"
    assert main(["cohort", "--data-dir", str(data), "--out", str(out),
                 "--set", "covariate_rules=nonsense"]) == 2
    assert "unknown rule" in capsys.readouterr().err


def _two_cycles(n: int = 25) -> pd.DataFrame:
    from test_cohort import COMPLETE

    raw = raw_frame(["I"] * n + ["J"] * n, **{k: [v] * (2 * n) for k, v in COMPLETE.items()})
    raw["DR1TMAGN"] = np.tile(np.linspace(100, 600, n), 2)  # distinct intakes for quartiles
    raw.loc[raw["cycle"] == "I", ["ALQ111", "ALQ121"]] = np.nan  # I asks the older items
    raw.loc[raw["cycle"] == "I", ["ALQ101", "ALQ120Q"]] = [1.0, 3.0]
    return raw


def test_a_vanishing_cycle_names_its_step_and_variable(tmp_path: Path) -> None:
    from nhmg_lib.cohort.flow import CohortError

    raw = _two_cycles()
    assert build_cohort(raw).cycle_losses == []
    raw.loc[raw["cycle"] == "J", "WTDR2D"] = np.nan          # every weight of 2017-18 missing
    raw.loc[raw["cycle"] == "I", "BMXBMI"] = np.where(np.arange(25) < 20, np.nan, 25.0)
    cohort = build_cohort(raw)
    got = {(x["step"], x["cycle"]): (x["after"], x["variable"]) for x in cohort.cycle_losses}
    assert got == {("asm_bmi", "I"): (5, "bmi"), ("covariates", "J"): (0, "weight")}
    assert cohort.flow[-1].by_cycle == {"I": 5, "J": 0}
    with pytest.raises(CohortError, match=r"cycle J keeps 0 of 25 at the step 'Lacking covariate "
                                          r"data'.*25 of those it lost there lack weight"):
        cohort.check_cycles()
    flow = json.loads(cohort.write_flow(tmp_path / "flow.json").read_text())
    assert [x["cycle"] for x in flow["cycle_losses"]] == ["I", "J"]


def test_results_records_the_flow_per_cycle() -> None:
    from nhmg_lib.report.results import cohort_records

    records = {r["id"]: r["estimate"] for r in cohort_records(build_cohort(_two_cycles()))}
    assert records["flow/start/cycle/I"] == 25 and records["flow/final/cycle/J"] == 25
    assert records["flow/covariates/cycle/I"] + records["flow/covariates/cycle/J"] == records["flow/final_n"]


@pytest.mark.parametrize("item, value, step, variable", [
    ("RIDAGEYR", 999.0, "age", "age"),          # every age of the cycle out of range
    ("DR1DRSTZ", 2.0, "diet", "ln_mg"),         # every day-1 recall unreliable
    ("BMXBMI", np.nan, "asm_bmi", "bmi"),
    ("WTDR2D", np.nan, "covariates", "weight"),
])
def test_each_way_a_cycle_can_vanish_is_named(item, value, step, variable) -> None:
    raw = _two_cycles()
    raw.loc[raw["cycle"] == "I", item] = value
    losses = build_cohort(raw).cycle_losses
    assert [(x["step"], x["cycle"], x["after"], x["variable"]) for x in losses] == \
        [(step, "I", 0, variable)]
