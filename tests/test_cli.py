"""The command-line interface end to end on small synthetic data: synth -> cohort -> results."""

import json

import pandas as pd
import pytest

from nhmg_lib.cli import main
from nhmg_lib.cohort.variables import SPEC_COLUMNS


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(out), "--seed", "3", "--scale", "0.5"]) == 0
    return out


def test_cohort_command_writes_spec_columns_and_flow(synth_dir, tmp_path, capsys):
    assert main(["cohort", "--data-dir", str(synth_dir), "--out", str(tmp_path / "c.csv"), "--all"]) == 0
    frame = pd.read_csv(tmp_path / "c.csv")
    assert list(frame.columns[: len(SPEC_COLUMNS)]) == list(SPEC_COLUMNS)
    assert "in_cohort" in frame.columns and set(frame["in_cohort"]) == {0, 1}
    assert frame["age"].between(20, 59).all()
    flow = json.loads((tmp_path / "flow.json").read_text())
    final = [s for s in flow["steps"] if s["key"] == "final"][0]["n_remaining"]
    assert final == int(frame["in_cohort"].sum())
    members = frame[frame["in_cohort"] == 1]
    assert set(members["mg_q"]) == {1, 2, 3, 4} and set(members["lmm"]) <= {0, 1}
    assert "Final cohort" in capsys.readouterr().out


def test_results_command_gives_every_exhibit_family(synth_dir, tmp_path):
    out = tmp_path / "results.json"
    assert main(["results", "--data-dir", str(synth_dir), "--out", str(out), "--boot", "20"]) == 0
    records = json.loads(out.read_text())
    ids = {r["id"] for r in records}
    assert len(ids) == len(records)
    for expected in ["flow/final_n", "cohort/lmm_n", "table2/model3/q4", "table2/model3/p_trend",
                     "table3/model1/ln_mg", "tableS1/model3/q4", "tableS2/model3/ln_mg",
                     "fig2/lmm/p_nonlinear", "tableS3/lmm/above", "fig3/hypertension/p_interaction",
                     "table4/np/model3/q4", "table5/rar/model3/ln_index", "table7/np/pm", "table8/rar/nie"]:
        assert expected in ids, expected
    for r in records:
        assert set(r) == {"id", "estimate", "ci_low", "ci_high", "p", "n"}
    q4 = next(r for r in records if r["id"] == "table2/model3/q4")
    assert 0 < q4["ci_low"] < q4["estimate"] < q4["ci_high"]  # an odds ratio with its CI
    lmm_n = next(r for r in records if r["id"] == "cohort/lmm_n")
    final = next(r for r in records if r["id"] == "flow/final_n")
    assert 0 < lmm_n["estimate"] < final["estimate"] == lmm_n["n"]


def test_bad_definition_is_a_clear_error(synth_dir, tmp_path, capsys):
    code = main(["cohort", "--data-dir", str(synth_dir), "--out", str(tmp_path / "c.csv"),
                 "--set", "np_index=ratio"])
    assert code == 2
    assert "np_index='ratio' is not an option" in capsys.readouterr().err


def test_missing_data_dir_is_a_clear_error(tmp_path, capsys):
    code = main(["cohort", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "c.csv")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nhmg download" in err or "nhmg synth" in err


def test_results_prints_why_cally_is_not_estimable_and_keeps_its_ids(synth_dir, tmp_path, capsys,
                                                                    monkeypatch):
    """CALLY on two or three participants only: its mediation pairs cannot be fitted (ids kept as
    nulls, reason printed); Tables 1 and 4-6 fail whole (no quartile has CALLY), so exit 2."""
    from nhmg_lib.cohort import clinical

    real = clinical.cally
    monkeypatch.setattr(clinical, "cally", lambda raw: real(raw).where(raw["SEQN"].to_numpy() % 97 == 0))
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "results.json"
    assert main(["results", "--data-dir", str(synth_dir), "--out", str(out), "--boot", "20"]) == 2
    err = capsys.readouterr().err
    records = {r["id"]: r for r in json.loads(out.read_text())}
    for prefix in ("table7/cally", "table8/cally", "table7/cally/q1q4", "table8/cally/weighting/none"):
        for effect in ("cde", "nde", "nie", "te", "pm"):
            assert records[f"{prefix}/{effect}"] == {"id": f"{prefix}/{effect}", "estimate": None,
                                                     "ci_low": None, "ci_high": None, "p": None, "n": None}
    assert records["table7/np/pm"]["estimate"] is not None
    assert "not estimable: table7/cally (15 null record(s)): only" in err
    assert "not estimable: table8/cally/weighting/raw (5 null record(s)): only" in err
    assert "complete rows for ln_cally" in err
    assert "not estimable: table4 (no records): Tables 4-6 failed" in err
    assert "No estimate at all for table1, table4, table5, table6" in err
    assert "Traceback" not in err
