"""Bad input to the command line: each case gives a clear message and status 2, no traceback,
and (for arguments) before any computation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nhmg_lib.cli import _report_missing_estimates, main
from nhmg_lib.data.synthetic import record_generated
from nhmg_lib.errors import NhmgError
from conftest import write_xpt_dir

SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "nhanes-public-subset"


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(out), "--seed", "2", "--scale", "0.05"]) == 0
    return out


def _cases(tmp: Path, synth: Path) -> list[tuple[list[str], int, str]]:
    (tmp / "afile").write_text("x")
    (tmp / "adir").mkdir()
    real = tmp / "real"
    real.mkdir()
    (real / "DEMO_J.xpt").write_text("not really")
    nothing = str(tmp / "nothing")
    res = ["results", "--data-dir", str(synth), "--out"]
    return [
        (["results", "--data-dir", nothing, "--out", str(tmp / "r.json"), "--boot", "0"], 2, "--boot 0: at least 20"),
        (["results", "--data-dir", nothing, "--out", str(tmp / "r.json"), "--boot", "-5"], 2, "--boot -5"),
        (["results", "--data-dir", nothing, "--out", str(tmp / "r.json"), "--boot", "1"], 2, "at least 20"),
        (["results", "--data-dir", nothing, "--out", str(tmp / "r.json"), "--seed", "-1"], 2, "--seed -1: must be 0"),
        (res + [str(tmp / "adir")], 2, "is a directory"),
        (res + [str(tmp / "afile" / "r.json")], 2, "is a file, not a directory"),
        (res + ["/proc/nhmg-results.json"], 2, "cannot write in /proc"),
        (["cohort", "--data-dir", str(synth), "--out", str(tmp / "adir" / "flow.json")], 2,
         "cannot be named flow.json"),
        (["cohort", "--data-dir", str(synth), "--out", str(tmp / "adir")], 2, "is a directory"),
        (["synth", "--out", str(tmp / "s"), "--scale", "0"], 2, "--scale 0.0: must be"),
        (["synth", "--out", str(tmp / "s"), "--scale", "-1"], 2, "--scale -1.0"),
        (["synth", "--out", str(tmp / "s"), "--scale", "nan"], 2, "--scale nan"),
        (["synth", "--out", str(tmp / "s"), "--scale", "inf"], 2, "--scale inf"),
        (["synth", "--out", str(tmp / "s"), "--scale", "1.5"], 2, "at most 1"),
        (["synth", "--out", str(tmp / "s"), "--seed", "-1"], 2, "--seed -1"),
        (["synth", "--out", str(real)], 2, "could overwrite the real NHANES files"),
        (["synth", "--out", str(tmp / "afile")], 2, "exists and is not a directory"),
        (["verify", "--data-dir", nothing], 2, "does not exist"),
        (["verify", "--data-dir", str(real)], 2, "DEMO_J.xpt: not a SAS transport file"),
        (["cohort", "--data-dir", str(real), "--out", str(tmp / "c.csv")], 2, "are damaged and were not used"),
        (["results", "--data-dir", str(real), "--out", str(tmp / "r.json")], 2, "are damaged"),
        (["multiverse", "--data-dir", str(synth), "--out", str(tmp / "afile" / "m.csv")], 2,
         "is a file, not a directory"),
        (["multiverse", "--data-dir", str(synth), "--out", str(tmp / "m.csv"), "--records",
          "/proc/nhmg-multiverse.json"], 2, "--records /proc/nhmg-multiverse.json: cannot write"),
        (["multiverse", "--data-dir", str(real), "--out", str(tmp / "m.csv")], 2, "are damaged"),
        (["download", "--data-dir", str(tmp / "d"), "--workers", "0"], 2, "--workers 0: must be a positive"),
        (["download", "--data-dir", str(tmp / "d"), "--deadline", "-3"], 2, "--deadline -3.0"),
        (res + [str(tmp / ("a" * 300 + ".json"))], 2, "is 305 bytes long; the file system of"),
        (res + [str(tmp / "r.json"), "--boot", "100000000000"], 2,
         "--boot 100000000000: 100,000,000,000 resamples of "),
        (["cohort", "--data-dir", str(synth), "--out", str(tmp / ("b" * 300) / "c.csv")], 2,
         "is 300 bytes long"),
        (["synth", "--out", str(tmp / ("s" * 256))], 2, "is 256 bytes long"),
        (["verify", "--data-dir", str(tmp / ("d" * 300))], 2, "--data-dir: the name 'dddd"),
        (["download", "--data-dir", str(tmp / ("d" * 300) / "x")], 2, "is 300 bytes long"),
        (["results", "--data-dir", str(_with_infinite_psu(tmp, synth)), "--out", str(tmp / "r.json"),
          "--boot", "20"], 2, "design column SDMVPSU: 10 row(s) hold inf, not a whole-number"),
    ]


def _with_infinite_psu(tmp: Path, synth: Path) -> Path:
    """A copy of the synthetic data whose first ten DEMO_G rows have SDMVPSU = inf."""
    import numpy as np
    import pyreadstat

    out = tmp / "inf_psu"
    shutil.copytree(synth, out)
    df, _ = pyreadstat.read_xport(str(out / "DEMO_G.xpt"))
    df.loc[:9, "SDMVPSU"] = np.inf
    pyreadstat.write_xport(df, str(out / "DEMO_G.xpt"), file_format_version=5, table_name="DEMO_G")
    record_generated(out, [out / "DEMO_G.xpt"])  # an edit the generator owns: it reaches the design check
    return out


def test_bad_inputs_table(synth, tmp_path, capsys):
    for argv, code, text in _cases(tmp_path, synth):
        capsys.readouterr()
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert text in err, (argv, err)
        assert "Traceback" not in err
    assert not (tmp_path / "real" / "SYNTHETIC").exists()  # synth refused, nothing written
    assert not (tmp_path / "r.json").exists()
    assert not (tmp_path / "m.csv").exists()  # multiverse refused before computing


def test_synth_force_writes_over_a_non_synthetic_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["synth", "--out", str(tmp_path), "--scale", "0.02", "--force"]) == 0
    assert (tmp_path / "SYNTHETIC").is_file() and (tmp_path / "DEMO_G.xpt").is_file()
    assert main(["synth", "--out", str(tmp_path), "--scale", "0.02"]) == 0  # synthetic: fine


def test_verify_reports_synthetic_data_and_exits_0(synth, capsys):
    assert main(["verify", "--data-dir", str(synth), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "synthetic" and report["missing"] == []
    assert {f["status"] for f in report["files"]} == {"synthetic"}


@pytest.mark.skipif(not (SUBSET / "DEMO_J.xpt").is_file(), reason="real NHANES subset not present")
def test_cohort_refuses_a_real_file_cut_on_a_record_boundary(tmp_path, capsys):
    data = (SUBSET / "DEMO_J.xpt").read_bytes()
    (tmp_path / "DEMO_J.xpt").write_bytes(data[:7200 + 1840 * 1000])  # 5,000 whole rows
    shutil.copy(SUBSET / "GHB_J.xpt", tmp_path / "GHB_J.xpt")
    assert main(["cohort", "--data-dir", str(tmp_path), "--out", str(tmp_path / "c.csv")]) == 2
    err = capsys.readouterr().err
    assert "DEMO_J.xpt: it has 5,000 rows, the CDC release has 9,254" in err
    assert "nhmg download" in err and "GHB_J" not in err


def test_empty_cohort_is_an_error(tmp_path, capsys):
    data = write_xpt_dir(tmp_path / "data", cycles=("G", "H", "I", "J"))  # children aged 1-6
    record_generated(data, sorted(data.glob("*.xpt")))  # made up: labelled as generated
    assert main(["cohort", "--data-dir", str(data), "--out", str(tmp_path / "c.csv")]) == 2
    err = capsys.readouterr().err
    assert "The final cohort is empty" in err and "Aged < 20 years: 0 left" in err
    assert not (tmp_path / "c.csv").exists()


def test_records_without_estimates_are_listed_and_a_dead_exhibit_fails(capsys):
    rec = lambda i, e: {"id": i, "estimate": e, "ci_low": None, "ci_high": None, "p": None, "n": 1}
    _report_missing_estimates([rec("table7/np/pm", 0.2), rec("table7/par/pm", None)])
    err = capsys.readouterr().err
    assert "1 record(s) have no estimate (not estimable), kept as nulls" in err
    assert "no estimate, no reason recorded: table7/par/pm" in err
    with pytest.raises(NhmgError, match="No estimate at all for table8"):
        _report_missing_estimates([rec("table7/np/pm", 0.2), rec("table8/np/nie", None),
                                   rec("table8/par/nie", None)])


def test_results_json_records_the_data_mode(synth, tmp_path):
    out = tmp_path / "r.json"
    assert main(["results", "--data-dir", str(synth), "--out", str(out), "--boot", "20"]) == 0
    records = json.loads(out.read_text())
    mode = [r for r in records if r["id"] == "data/synthetic"]
    assert mode == [{"id": "data/synthetic", "estimate": 1.0, "ci_low": None, "ci_high": None,
                     "p": None, "n": 82 - 1}]


def test_not_estimable_reasons_are_printed_once_per_id_and_exit_zero(capsys):
    rec = lambda i, e: {"id": i, "estimate": e, "ci_low": None, "ci_high": None, "p": None, "n": 1}
    records = [rec("table7/np/pm", 0.2), rec("table7/cally/pm", None), rec("table7/cally/nie", None),
               rec("table7/cally/weighting/none/pm", None), rec("fig3/ckd/yes/q2", None),
               rec("fig3/ckd/no/q2", 1.1)]
    _report_missing_estimates(records, [("table7/cally", "only 2 complete rows"),
                                        ("table7/cally/weighting/none", "only 3 complete rows")])
    err = capsys.readouterr().err
    assert "4 record(s) have no estimate" in err
    # each null record counted under its most specific reason
    assert "not estimable: table7/cally (2 null record(s)): only 2 complete rows" in err
    assert "not estimable: table7/cally/weighting/none (1 null record(s)): only 3 complete rows" in err
    assert "no estimate, no reason recorded: fig3/ckd/yes/q2" in err


def test_a_section_that_failed_whole_is_an_error_even_without_records(capsys):
    rec = {"id": "table7/np/pm", "estimate": 0.2, "ci_low": None, "ci_high": None, "p": None, "n": 1}
    with pytest.raises(NhmgError, match="No estimate at all for table4"):
        _report_missing_estimates([rec], [("table4", "Tables 4-6 failed: no quartile Q1")])
    assert "not estimable: table4 (no records): Tables 4-6 failed" in capsys.readouterr().err


@pytest.mark.parametrize("env, text", [
    ({"NHMG_SYNTH_SCALE": "-2"}, "NHMG_SYNTH_SCALE=-2: must be a fraction of the full sample size"),
    ({"NHMG_SYNTH_SCALE": "inf"}, "NHMG_SYNTH_SCALE=inf: must be"),
    ({"NHMG_SYNTH_SEED": "-1"}, "NHMG_SYNTH_SEED=-1: the seed must be 0 or a positive integer"),
])
def test_bad_synthetic_data_settings_are_clear_errors(env, text, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["build", "--data", "synthetic"]) == 2
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # refused before generating anything


def test_infinite_or_negative_weights_are_named_with_their_count(make_raw):
    from nhmg_lib.cohort.variables import derive
    from nhmg_lib.data.codes import RawFrameError

    raw = make_raw(WTDR2D=[1000.0, float("inf"), float("inf"), 2000.0], SDMVPSU=1, SDMVSTRA=90)
    with pytest.raises(RawFrameError, match=r"weight column WTDR2D: 2 row\(s\) hold inf"):
        derive(raw)
    raw = make_raw(WTDR2D=[1000.0, -5.0, float("nan")], SDMVPSU=1, SDMVSTRA=90)
    with pytest.raises(RawFrameError, match=r"WTDR2D: 1 row\(s\) hold -5.0"):
        derive(raw)
    raw = make_raw(WTDR2D=[1000.0, float("nan")], SDMVPSU=[1.0, 1.5], SDMVSTRA=90)
    with pytest.raises(RawFrameError, match=r"design column SDMVPSU: 1 row\(s\) hold 1.5"):
        derive(raw)
