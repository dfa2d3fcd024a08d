"""Damaged, edited or mislabelled data files are caught before any number is computed.

The facts checked are NHANES facts that hold on the real 2011-2018 files of the shared folder
(``shared/data/nhanes-real``): every damaged variant below is made from those files.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import numpy as np
import pyreadstat
import pytest

from nhmg_lib.cli import main
from nhmg_lib.data import filecache
from nhmg_lib.data import releases as rel
from nhmg_lib.data.manifest import new_entry, save_manifest
from nhmg_lib.data.relations import check_relations
from nhmg_lib.data.releases import verify_dir, verify_file, xpt_layout
from nhmg_lib.data.sources import find_file
from nhmg_lib.data.catalog import FileSpec
from nhmg_lib.errors import DataDirError

REAL = next((p / "shared" / "data" / "nhanes-real" for p in Path(__file__).resolve().parents[1:4]
             if (p / "shared" / "data" / "nhanes-real" / "DEMO_G.xpt").is_file()), None)
needs_real = pytest.mark.skipif(REAL is None, reason="shared/data/nhanes-real not present")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path / "cache"))
    filecache.forget()
    yield
    filecache.forget()


def _copy(folder: Path, *stems: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        shutil.copy(REAL / f"{stem}.xpt", folder / f"{stem}.xpt")
    return folder


def _rewrite(path: Path, keep) -> None:
    """Write ``path`` again (XPT v5) with the rows ``keep(frame)`` returns."""
    frame, meta = pyreadstat.read_xport(str(path))
    pyreadstat.write_xport(keep(frame), str(path), file_format_version=5,
                           table_name=meta.table_name or path.stem)


def _by_file(report) -> dict:
    return {f.file: f for f in report.files}


# --- the real files pass ----------------------------------------------------------------------

@needs_real
def test_every_real_file_passes_every_check(capsys):
    assert main(["verify", "--data-dir", str(REAL)]) == 0
    out = capsys.readouterr().out
    report = verify_dir(REAL)
    assert report.damaged == [] and report.mode == "real" and len(report.files) == 60
    assert report.counts() == {"known release": 37, "other release": 23}
    assert "37 known release, 23 other release" in out
    # Every real file now has a row count on record, and it is the file's own.
    table = rel.releases()
    assert all(table[f.file[:-4]].rows == f.rows for f in report.files)
    assert all("shared real-data folder" in table[f.file[:-4]].rows_from for f in report.files)


@needs_real
def test_the_relations_hold_on_every_real_file():
    for path in sorted(REAL.glob("*.xpt")):
        assert check_relations(path, REAL / f"DEMO_{path.stem[-1]}.xpt") == [], path.name


@needs_real
def test_a_second_verify_reads_no_file_again(monkeypatch):
    verify_dir(REAL)
    filecache.forget()  # a new process: only the cache file on disk

    def no_reading(*args, **kwargs):
        raise AssertionError("a file was hashed or read again")

    monkeypatch.setattr(filecache.hashlib, "sha256", no_reading)
    monkeypatch.setattr("nhmg_lib.data.relations.np.fromfile", no_reading)
    assert verify_dir(REAL).counts() == {"known release": 37, "other release": 23}


# --- damaged files ----------------------------------------------------------------------------

@needs_real
def test_a_file_cut_on_a_record_boundary_is_damaged(tmp_path):
    data = _copy(tmp_path / "d", "DEMO_G", "CBC_G", "DR2TOT_G")
    for stem in ("CBC_G", "DR2TOT_G"):
        path = data / f"{stem}.xpt"
        lay = xpt_layout(path)
        k = next(k for k in range(lay.rows // 2, lay.rows) if (k * lay.row_bytes) % 80 == 0)
        path.write_bytes(path.read_bytes()[:lay.header_bytes + k * lay.row_bytes])
        assert xpt_layout(path).problem is None and xpt_layout(path).rows == k  # looks whole
    by = _by_file(verify_dir(data))
    assert by["CBC_G.xpt"].status == "damaged"
    assert "the CDC release has 8,956" in by["CBC_G.xpt"].message
    assert by["DR2TOT_G.xpt"].status == "damaged"


@needs_real
@pytest.mark.parametrize("half", ["first", "random"])
def test_half_a_file_without_a_row_count_breaks_a_relation(tmp_path, monkeypatch, half):
    data = _copy(tmp_path / "d", "DEMO_G", "DR2TOT_G")
    rng = np.random.default_rng(3)
    _rewrite(data / "DR2TOT_G.xpt", lambda f: f.iloc[: len(f) // 2] if half == "first"
             else f.iloc[np.sort(rng.choice(len(f), len(f) // 2, replace=False))])
    monkeypatch.setattr(rel, "releases", lambda: {})  # no CDC reference at all
    check = _by_file(verify_dir(data))["DR2TOT_G.xpt"]
    assert check.status == "damaged"
    assert "breaks a relation NHANES fixes" in check.message
    assert "it has 4,669 participants, but DEMO_G.xpt has 9,338 MEC-examined ones" in check.message
    assert "WTDRD1 weights add up to" in check.message and "306,590,681" in check.message
    assert main(["verify", "--data-dir", str(data)]) == 2


@needs_real
def test_a_lab_file_with_a_seqn_not_in_demo_is_damaged(tmp_path, monkeypatch):
    data = _copy(tmp_path / "d", "DEMO_G", "CBC_G", "GHB_G")
    _rewrite(data / "CBC_G.xpt", lambda f: f.assign(SEQN=f["SEQN"].where(f.index != 5, 71917.0)))
    demo, _ = pyreadstat.read_xport(str(data / "DEMO_G.xpt"), usecols=["SEQN", "RIDSTATR"])
    interview_only = float(demo.loc[demo["RIDSTATR"] == 1, "SEQN"].iloc[0])
    _rewrite(data / "GHB_G.xpt", lambda f: f.assign(SEQN=f["SEQN"].where(
        f.index != 0, interview_only)).sort_values("SEQN"))
    monkeypatch.setattr(rel, "releases", lambda: {})  # rows alone would not tell
    by = _by_file(verify_dir(data))
    assert by["CBC_G.xpt"].status == "damaged"
    assert "1 of its SEQNs are not participants of DEMO_G.xpt (e.g. 71917)" in by["CBC_G.xpt"].message
    assert by["GHB_G.xpt"].status == "damaged"
    assert f"(e.g. {interview_only:.0f}) were not examined at the MEC" in by["GHB_G.xpt"].message


@needs_real
def test_a_file_edited_after_download_is_damaged_everywhere(tmp_path, capsys):
    data = _copy(tmp_path / "d", "DEMO_J", "DR2TOT_J")
    path = data / "DR2TOT_J.xpt"
    save_manifest(data, {"DEMO_J": new_entry(data / "DEMO_J.xpt", None),
                         "DR2TOT_J": new_entry(path, "http://x/DR2TOT_J.xpt")})
    assert verify_dir(data).damaged == []
    lay = xpt_layout(path)
    kcal = next(pos for name, pos, _, _ in lay.columns if name == "DR2TKCAL")
    raw = bytearray(path.read_bytes())
    raw[lay.header_bytes + 3 * lay.row_bytes + kcal + 2] ^= 0x01  # one value, same size
    st = path.stat()
    time.sleep(0.02)  # past the file system's timestamp tick
    path.write_bytes(bytes(raw))
    import os
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime
    check = _by_file(verify_dir(data))["DR2TOT_J.xpt"]
    assert check.status == "damaged"
    assert "SHA-256 is no longer the one manifest.json recorded" in check.message
    out = tmp_path / "c.csv"
    for command in (["verify", "--data-dir", str(data)],
                    ["cohort", "--data-dir", str(data), "--out", str(out)],
                    ["results", "--data-dir", str(data), "--out", str(tmp_path / "r.json")]):
        capsys.readouterr()
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "DR2TOT_J.xpt: its SHA-256 is no longer" in err and "Traceback" not in err
    assert not out.exists()


# --- labels -----------------------------------------------------------------------------------

@needs_real
def test_a_stray_synthetic_label_switches_no_check_off(tmp_path):
    data = _copy(tmp_path / "d", "DEMO_G", "BMX_G")
    (data / "SYNTHETIC").write_text("synthetic\n")
    _rewrite(data / "BMX_G.xpt", lambda f: f.iloc[: len(f) // 2])
    report = verify_dir(data)
    by = _by_file(report)
    assert report.mode == "real"
    assert by["DEMO_G.xpt"].status == "known release" and "labelled SYNTHETIC" in by["DEMO_G.xpt"].message
    assert by["BMX_G.xpt"].status == "damaged"


@needs_real
def test_a_cdc_file_in_a_synthetic_folder_is_reported_and_never_overwritten(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", "--out", str(out), "--scale", "0.02", "--seed", "3"]) == 0
    assert verify_dir(out).mode == "synthetic"
    shutil.copy(REAL / "DEMO_J.xpt", out / "DEMO_J.xpt")  # the CDC file, over the synthetic one
    report = verify_dir(out)
    assert report.mode == "mixed" and "mixed data" in report.summary()
    assert _by_file(report)["DEMO_J.xpt"].status == "known release"
    before = hashlib.sha256((out / "DEMO_J.xpt").read_bytes()).hexdigest()
    for force in ([], ["--force"]):
        capsys.readouterr()
        assert main(["synth", "--out", str(out), "--scale", "0.02", "--seed", "3", *force]) == 2
        err = capsys.readouterr().err
        assert "DEMO_J.xpt" in err and "Traceback" not in err
    assert "never written over real NHANES files" in err
    assert hashlib.sha256((out / "DEMO_J.xpt").read_bytes()).hexdigest() == before
    plain = _copy(tmp_path / "plain", "DEMO_J")  # no label at all: --force does not help either
    assert main(["synth", "--out", str(plain), "--scale", "0.02", "--force"]) == 2
    assert "never written over real NHANES files" in capsys.readouterr().err
    assert sorted(p.name for p in plain.iterdir()) == ["DEMO_J.xpt"]


# --- two files for one name -------------------------------------------------------------------

@pytest.mark.parametrize("twin", ["demo_j.XPT", "DEMO_J (1).xpt", "DEMO_J copy.xpt"])
def test_two_files_for_one_name_are_refused_and_both_named(tmp_path, capsys, twin):
    from conftest import write_xpt_dir

    data = write_xpt_dir(tmp_path / "d")
    shutil.copy(data / "DEMO_J.xpt", data / twin)
    with pytest.raises(DataDirError, match=rf"DEMO_J\.xpt and {twin.replace('(', '.').replace(')', '.')}|"
                                           rf"{twin.replace('(', '.').replace(')', '.')} and DEMO_J\.xpt"):
        find_file(data, FileSpec("DEMO", "J"))
    by = _by_file(verify_dir(data))
    assert by["DEMO_J.xpt"].status == by[twin].status == "duplicate"
    assert twin in by["DEMO_J.xpt"].message and "DEMO_J.xpt" in by[twin].message
    assert main(["cohort", "--data-dir", str(data), "--out", str(tmp_path / "c.csv")]) == 2
    err = capsys.readouterr().err
    assert twin in err and "DEMO_J.xpt" in err and "Traceback" not in err


# --- one file at a time -----------------------------------------------------------------------

@needs_real
def test_a_partial_folder_is_checked_file_by_file(tmp_path):
    data = _copy(tmp_path / "d", "DEMO_I", "BMX_I", "CBC_I")
    _rewrite(data / "CBC_I.xpt", lambda f: f.iloc[::2])
    report = verify_dir(data, names=["DEMO_I.xpt", "BMX_I.xpt", "VID_I.xpt"])
    assert [f.file for f in report.files] == ["BMX_I.xpt", "DEMO_I.xpt"]  # CBC_I not asked for
    assert report.damaged == [] and report.missing == ["VID_I.xpt"]
    assert [f.file for f in verify_dir(data, names=["BMX_I"]).files] == ["BMX_I.xpt"]  # a stem
    assert verify_dir(data, names=["CBC_I"]).damaged[0].file == "CBC_I.xpt"
    # Without its DEMO a file is judged alone: no relation, no damage invented.
    (data / "DEMO_I.xpt").unlink()
    assert verify_file(data / "BMX_I.xpt").status == "known release"
    assert check_relations(data / "BMX_I.xpt", None) == []


# --- download -----------------------------------------------------------------------------------

@needs_real
def test_download_does_not_adopt_a_hand_placed_half_file(tmp_path, monkeypatch):
    from xpt_server import XptServer

    from nhmg_lib.data.sources import download

    data = _copy(tmp_path / "d", "DEMO_H", "DR2TOT_H")
    _rewrite(data / "DR2TOT_H.xpt", lambda f: f.iloc[: len(f) // 2])
    monkeypatch.setattr(rel, "releases", lambda: {})  # as for a file with no CDC reference
    whole = (REAL / "DR2TOT_H.xpt").read_bytes()
    with XptServer({"DR2TOT_H": whole, "DEMO_H": (REAL / "DEMO_H.xpt").read_bytes()}) as srv:
        report = download(data_dir=data, base_url=srv.base_url, progress=False,
                          specs=[FileSpec("DEMO", "H"), FileSpec("DR2TOT", "H")])
    assert report.adopted == ["DEMO_H"] and report.replaced == ["DR2TOT_H"]
    assert report.fetched == ["DR2TOT_H"]
    assert (data / "DR2TOT_H.xpt").read_bytes() == whole
    assert (data / "DR2TOT_H.xpt.corrupt").is_file()


def test_the_temporary_file_of_a_killed_write_is_not_data(tmp_path):
    from conftest import write_xpt_dir
    from nhmg_lib.data.generated import record_generated

    data = write_xpt_dir(tmp_path / "d")
    record_generated(data, sorted(data.glob("*.xpt")))
    # What a write killed half-way leaves: a hidden temporary file beside the real one.
    (data / ".DEMO_J.xpt.k1ll3d.tmp.xpt").write_bytes((data / "DEMO_J.xpt").read_bytes()[:800])
    report = verify_dir(data)
    assert report.damaged == [] and report.mode == "synthetic"
    assert all(not f.file.startswith(".") for f in report.files)
