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
    """CALLY on two or three participants only: its Table 1 row, Tables 4-6 rows and mediation
    pairs cannot be computed. Every id of a normal run stays (as a null record), each reason is
    printed, the other indices keep their estimates, and the run exits 0 (no exhibit failed whole)."""
    from nhmg_lib.cohort import clinical

    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path / "cache"))
    normal = tmp_path / "normal.json"
    assert main(["results", "--data-dir", str(synth_dir), "--out", str(normal), "--boot", "20"]) == 0
    capsys.readouterr()
    real = clinical.cally
    monkeypatch.setattr(clinical, "cally", lambda raw: real(raw).where(raw["SEQN"].to_numpy() % 97 == 0))
    out = tmp_path / "results.json"
    assert main(["results", "--data-dir", str(synth_dir), "--out", str(out), "--boot", "20"]) == 0
    err = capsys.readouterr().err
    records = {r["id"]: r for r in json.loads(out.read_text())}
    assert set(records) == {r["id"] for r in json.loads(normal.read_text())}
    null = {"estimate": None, "ci_low": None, "ci_high": None, "p": None, "n": None}
    for prefix in ("table7/cally", "table8/cally", "table7/cally/q1q4", "table8/cally/weighting/none"):
        for effect in ("cde", "nde", "nie", "te", "pm"):
            assert records[f"{prefix}/{effect}"] == {"id": f"{prefix}/{effect}", **null}
    for i in ("table1/cally/median/overall", "table1/cally/p", "table4/cally/model3/q4"):
        assert records[i] == {"id": i, **null}
    for i in ("table7/np/pm", "table1/np/p", "table4/np/model3/q4", "table1/age/mean/overall"):
        assert records[i]["estimate"] is not None
    assert "not estimable: table7/cally (15 null record(s)): only" in err
    assert "complete rows for ln_cally -> lmm" in err
    assert "not estimable: table8/cally/weighting/raw (5 null record(s)): only" in err
    assert "not estimable: table1/cally (10 null record(s)):" in err
    assert "not estimable: table4/cally (45 null record(s)):" in err   # 15 with their Holm and BH P
    assert "No estimate at all" not in err and "Traceback" not in err


def test_results_exits_non_zero_when_an_exhibit_fails_whole(synth_dir, tmp_path, capsys,
                                                            monkeypatch):
    from nhmg_lib.analyses import threshold

    def broken(*args, **kwargs):
        raise threshold.ThresholdError("no exposure values to place candidate breakpoints")

    monkeypatch.setattr(threshold, "records", broken)
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "results.json"
    assert main(["results", "--data-dir", str(synth_dir), "--out", str(out), "--boot", "20"]) == 2
    err = capsys.readouterr().err
    assert ("not estimable: tableS3 (no records): Table S3 failed: no exposure values to place "
            "candidate breakpoints") in err
    assert "No estimate at all for tableS3" in err
    ids = {r["id"] for r in json.loads(out.read_text())}
    assert "table2/model3/q4" in ids and not any(i.startswith("tableS3/") for i in ids)
