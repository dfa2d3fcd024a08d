"""Implausible raw values are set to missing and reported, never silently counted."""

from __future__ import annotations

import json

import numpy as np

from conftest import raw_frame
from nhmg_lib.cli import _print_plausibility
from nhmg_lib.cohort.flow import build_cohort, screen
from test_cohort import COMPLETE

DXA = ["DXDLALE", "DXDRALE", "DXDLLLE", "DXDRLLE"]


def _raw(changes: list[dict], cycle="J"):
    rows = [{**COMPLETE, **c} for c in changes]
    return raw_frame(cycle=cycle, **{k: [r[k] for r in rows] for k in COMPLETE})


def _out_of_range(cohort):
    return {(f["column"], f["cycle"]): f["n"] for f in cohort.plausibility if f["kind"] == "out_of_range"}


def test_impossible_values_are_missing_and_counted():
    base = [{"DR1TMAGN": 100 + 40 * i} for i in range(6)]
    cohort = build_cohort(_raw(base + [{"RIDAGEYR": 999}, {"RIDAGEYR": -3}, {"DR1TMAGN": 1e9},
                                       {"WTDR2D": -5}, {"WTDR2D": -7}]))
    assert _out_of_range(cohort) == {("RIDAGEYR", "J"): 2, ("DR1TMAGN", "J"): 1, ("WTDR2D", "J"): 2}
    steps = {s.key: s for s in cohort.flow}
    assert steps["age"].n_excluded == 2  # unknown age leaves at the age step ...
    assert steps["asm_bmi"].details == {"aged_60_plus": 0}  # ... not as "60 plus"
    assert steps["diet"].n_excluded == 1 and steps["covariates"].n_excluded == 2
    assert cohort.final_n == 6
    message = next(f["message"] for f in cohort.plausibility if f["column"] == "RIDAGEYR")
    assert message == "RIDAGEYR in cycle J: 2 value(s) outside 0-80 (-3, 999) set to missing"


def test_valid_values_are_left_alone():
    raw = _raw([{"RIDAGEYR": 80}, {"RIDAGEYR": 0, "DR1TMAGN": 0}])
    screened, findings = screen(raw)
    assert [f for f in findings if f["kind"] == "out_of_range"] == []
    np.testing.assert_array_equal(screened["RIDAGEYR"], [80, 0])


def test_a_cycle_without_dxa_or_with_zero_weights_is_reported():
    rows = [{"DR1TMAGN": 100 + 40 * i} for i in range(4)]
    raw = _raw(rows * 2, cycle=["I"] * 4 + ["J"] * 4)
    raw.loc[raw["cycle"] == "I", DXA] = np.nan
    raw.loc[raw["cycle"] == "J", "WTDR2D"] = 0.0
    _, findings = screen(raw)
    got = {(f["kind"], f["column"], f["cycle"], f["n"]) for f in findings}
    assert {("all_missing", v, "I", 4) for v in DXA} <= got
    assert ("all_zero", "WTDR2D", "J", 4) in got
    assert not any(f["cycle"] == "J" and f["column"] in DXA for f in findings)


def test_flow_json_holds_the_findings_and_the_cli_prints_them(tmp_path, capsys):
    cohort = build_cohort(_raw([{"DR1TMAGN": 100 + 40 * i} for i in range(6)] + [{"RIDAGEYR": 999}]))
    _, flow_path = cohort.to_csv(tmp_path / "c.csv")
    flow = json.loads(flow_path.read_text())
    assert {"kind": "out_of_range", "column": "RIDAGEYR", "cycle": "J", "n": 1,
            "message": "RIDAGEYR in cycle J: 1 value(s) outside 0-80 (999) set to missing"} in flow["plausibility"]
    _print_plausibility(flow_path)
    out = capsys.readouterr().out
    assert "Plausibility:" in out and "  - RIDAGEYR in cycle J: 1 value(s) outside 0-80 (999)" in out


def test_the_data_chapter_table_says_what_where_and_how_many():
    from nhmg_lib.report.flow_chart import plausibility_table
    from nhmg_lib.report.provenance import TextLine

    cohort = build_cohort(_raw([{"DR1TMAGN": 100 + 40 * i} for i in range(6)]
                               + [{"RIDAGEYR": 999}, {"RIDAGEYR": -3}, {"WTDR2D": -5}]))
    table = plausibility_table(cohort)
    frame = table.frame
    age = frame[frame["Item"] == "RIDAGEYR"].iloc[0]
    assert age.name == "Outside the plausible range"
    assert (age["Cycle"], age["Participants"], age["Set to missing"], age["Values seen"]) == \
        ("J (2017–2018)", "2", "2", "-3, 999")
    assert frame[frame["Item"] == "WTDR2D"].iloc[0]["Set to missing"] == "1"
    assert len(frame) == len(cohort.plausibility)
    # a whole cycle empty: listed first, and the cycle cannot contribute
    rows = [{"DR1TMAGN": 100 + 40 * i} for i in range(4)]
    raw = _raw(rows * 2, cycle=["I"] * 4 + ["J"] * 4)
    raw.loc[raw["cycle"] == "I", DXA] = np.nan
    _, findings = screen(raw)
    frame = plausibility_table(findings).frame
    assert frame.index[0] == "Missing for every participant of the cycle"
    assert set(frame.loc[frame["Cycle"] == "I (2015–2016)", "Item"]) >= set(DXA)
    assert (frame["Set to missing"] == "the cycle cannot contribute").sum() == len(findings)
    # nothing found: one sentence
    raw = _raw([{"DR1TMAGN": 100 + 40 * i} for i in range(6)])
    raw["WTMEC2YR"] = 20_000.0
    _, findings = screen(raw)
    assert findings == []
    clean = plausibility_table(findings)
    assert isinstance(clean, TextLine) and str(clean).startswith("No implausible values")
