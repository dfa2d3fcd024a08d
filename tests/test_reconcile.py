"""The covariate step taken apart (cohort.reconcile) and its tables (report.reconciliation),
on hand-made rows whose every count is known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conftest import raw_frame
from nhmg_lib.cohort.definitions import COVARIATE_RULES, Definitions
from nhmg_lib.cohort.reconcile import reconcile
from nhmg_lib.report import published, reconciliation
from test_cohort import COMPLETE

NA = np.nan


def _raw(n: int = 20) -> pd.DataFrame:
    raw = raw_frame("J", **{k: [v] * n for k, v in COMPLETE.items()})
    raw["LBXGLU"], raw["LBXGH"], raw["URDACT"], raw["LBXHSCRP"] = 95.0, 5.2, 8.0, 1.0
    raw.loc[[0, 1, 2], "INDFMPIR"] = NA         # PIR missing for 3
    raw.loc[[2, 3], "SMQ020"] = 9               # smoking refused for 2, one of them without PIR
    raw.loc[[4], "LBXVD3MS"] = NA               # 25(OH)D3 (the default vitamin D) missing for 1
    raw.loc[range(10, 18), "LBXGLU"] = NA       # not in the fasting subsample: 8
    raw.loc[[0, 19], "RIDAGEYR"] = [15, 70]     # never reach the step
    return raw


def test_alone_and_cumulative_in_the_papers_order() -> None:
    rec = reconcile(_raw())
    assert rec.reaching.to_dict() == {"J": 18}
    gaps = rec.gaps.xs("J", axis=1, level="cycle")
    assert gaps.loc["Poverty-income ratio"].tolist() == [2, 2]   # row 0 is under 20
    assert gaps.loc["Smoking"].tolist() == [2, 3]
    assert gaps.loc["25(OH)D"].tolist() == [1, 4]
    assert gaps.loc["Age", "alone"] == 0 and gaps.iloc[-1]["cumulative"] == 4
    assert list(gaps.index[:4]) == ["Age", "Race", "Gender", "Poverty-income ratio"]


def test_candidate_rules_and_the_closest_set() -> None:
    rec = reconcile(_raw(), target_pct=50.0)
    assert rec.rules.loc["book", "J"] == 4
    assert rec.rules.loc["+ fasting_glucose", "J"] == 4 + 8
    assert all(rec.rules.loc[f"+ {r}", "J"] == 4 for r in COVARIATE_RULES if r != "fasting_glucose")
    assert rec.rules.loc["book", "pooled_pct"] == 100 * 4 / 18
    assert rec.closest == ("fasting_glucose",)  # 12 of 18 = 67% is nearer 50% than 4 of 18
    assert reconcile(_raw()).closest == ()      # no target, no closest set


def test_a_missing_file_leaves_counts_undecided_not_zero() -> None:
    rec = reconcile(_raw(), missing={("VID", "J")})
    gaps = rec.gaps.xs("J", axis=1, level="cycle")
    assert pd.isna(gaps.loc["25(OH)D", "alone"]) and pd.isna(gaps.iloc[-1]["cumulative"])
    assert gaps.loc["eGFR", "cumulative"] == 3
    assert pd.isna(rec.rules.loc["book", "J"]) and pd.isna(rec.rules.loc["book", "pooled"])
    assert pd.isna(reconcile(_raw(), missing={("DXX", "J")}).reaching["J"])


def test_dxa_stand_in_replaces_the_lean_mass() -> None:
    raw = _raw()
    raw[["DXDLALE", "DXDRALE", "DXDLLLE", "DXDRLLE"]] = NA
    with_dxa = set(raw["SEQN"].astype(int)[:10])
    rec = reconcile(raw, missing={("DXX", "J")}, dxa=with_dxa)
    assert rec.dxa_stand_in and rec.reaching["J"] == 9  # rows 1-9: row 0 is under 20


def test_tables_show_the_papers_step_and_say_when_data_are_synthetic() -> None:
    rec = reconcile(_raw(), target_pct=reconciliation.paper_covariate_step()[2])
    reaching, excluded, pct = reconciliation.paper_covariate_step()
    assert (reaching, excluded) == (published.FLOW[3][2], published.FLOW[4][1])
    assert pct == 100 * excluded / reaching
    gaps = reconciliation.gaps_table(rec, synthetic=True)
    assert gaps.cells[0] == ["18", "18"] and gaps.cells[-1] == ["0", "4"]
    assert any("Only the real files" in note for note in gaps.footnotes)
    rules = reconciliation.rules_table(rec)
    assert rules.cells[-1][-2:] == [f"{excluded:,}", f"{pct:.1f}%"]
    assert rules.cells[0] == ["4", "4", "22.2%"]
    assert not any("Synthetic" in note for note in rules.footnotes)
    assert reconciliation.glue_values(rec)["cov_book_pct"] == "22.2%"


def test_reconcile_command_prints_every_count_beside_the_paper(tmp_path, capsys) -> None:
    from nhmg_lib.cli import main

    data = tmp_path / "data"
    assert main(["synth", "--out", str(data), "--seed", "3", "--scale", "0.05"]) == 0
    (data / "VID_J.xpt").unlink()
    capsys.readouterr()
    assert main(["reconcile", "--data-dir", str(data), "--set", "random_glucose=none"]) == 0
    out = capsys.readouterr().out
    reaching, excluded, pct = reconciliation.paper_covariate_step()
    assert f"Paper: {excluded:,} of {reaching:,} excluded ({pct:.1f}%)" in out
    assert "Poverty-income ratio" in out and "+ fasting_glucose" in out
    rec = reconciliation.reconciliation(data, Definitions(random_glucose="none"))
    assert pd.isna(rec.rules.loc["book", "J"]) and not pd.isna(rec.rules.loc["book", "I"])


def test_day2_stand_in_only_where_the_day1_file_is_missing() -> None:
    raw = _raw()
    raw.loc[[5, 6], "DR2DRSTZ"] = 2               # day 2 not reliable for 2
    raw.loc[:, ["DR1DRSTZ", "DR1TMAGN", "DR1TKCAL", "DR1TPROT", "WTDR2D"]] = NA  # no day-1 file
    assert reconcile(raw, missing={("DR1TOT", "J")}).reaching.isna().all()
    rec = reconcile(raw, missing={("DR1TOT", "J")}, day2_stand_in=True)
    assert rec.day2_cycles == ("J",) and rec.reaching["J"] == 16
    gaps = rec.gaps.xs("J", axis=1, level="cycle")
    assert gaps.loc["Smoking"].tolist() == [2, 3] and pd.isna(gaps.loc["Energy intake", "alone"])
    assert "day-2 recall stands" in " ".join(reconciliation.gaps_table(rec).footnotes)
