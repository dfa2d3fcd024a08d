"""Known CDC releases and ``verify``: every file of a data directory judged by size, rows, MD5."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from nhmg_lib.data import releases as rel
from nhmg_lib.data.catalog import DEMO_ROWS
from nhmg_lib.data.readers import SEQN_RANGE
from nhmg_lib.data.releases import Release, releases, verify_dir, verify_file, xpt_layout

# The shared data folder beside the repository (or beside the folder of a git worktree).
SHARED = next((p / "shared" / "data" for p in Path(__file__).resolve().parents[1:4]
               if (p / "shared" / "data").is_dir()),
              Path(__file__).resolve().parents[2] / "shared" / "data")
SUBSET = SHARED / "nhanes-public-subset"


def _xpt(path: Path, rows: int, cols: int = 2, version: int = 5, table: str | None = None) -> Path:
    frame = pd.DataFrame({f"V{i}": np.arange(rows, dtype=float) + i for i in range(cols)})
    frame = frame.rename(columns={"V0": "SEQN"})
    pyreadstat.write_xport(frame, str(path), file_format_version=version,
                           table_name=table or path.stem[:8])
    return path


def test_shipped_table_holds_the_known_row_counts():
    table = releases()
    assert {c: table[f"DEMO_{c}"].rows for c in "GHIJ"} == DEMO_ROWS
    assert [table[f"DXX_{c}"].rows for c in "GHIJ"] == [5692, 6033, 5780, 5114]
    assert table["DR1TOT_J"].rows == 8704 and table["DR1TOT_J"].bytes is None
    assert len([r for r in table.values() if r.md5]) == 50


@pytest.mark.skipif(not (SHARED / "nhanes-cdc-file-fingerprints.csv").is_file(),
                    reason="../shared/data not present")
def test_shipped_table_matches_its_source_byte_for_byte():
    lines = [l for l in open(SHARED / "nhanes-cdc-file-fingerprints.csv") if not l.startswith("#")]
    source = {r["file"][:-4]: (int(r["bytes"]), r["md5"]) for r in csv.DictReader(lines)}
    shipped = {k: (r.bytes, r.md5) for k, r in releases().items() if r.md5}
    assert shipped == source


@pytest.mark.parametrize("version", [5, 8])
@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 2), (10, 10), (13, 3), (1000, 7), (0, 2)])
def test_rows_counted_from_the_header_and_size(tmp_path, version, rows, cols):
    path = _xpt(tmp_path / "X.xpt", rows, cols, version)
    layout = xpt_layout(path)
    assert (layout.version, layout.rows, layout.row_bytes, layout.nvars) == (version, rows, 8 * cols, cols)
    assert layout.problem is None


def test_a_cut_inside_a_row_is_named(tmp_path):
    path = _xpt(tmp_path / "DEMO_X.xpt", 100, 3)  # 24-byte rows: an 80-byte cut splits one
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 160])
    assert "data end inside a row" in xpt_layout(path).problem
    assert verify_file(path).status == "damaged"


@pytest.mark.skipif(not (SUBSET / "DEMO_J.xpt").is_file(), reason="real NHANES subset not present")
def test_real_subset_statuses():
    report = verify_dir(SUBSET)
    status = {f.file: f.status for f in report.files}
    assert {k for k, v in status.items() if v == "known release"} == {
        "BMX_I.xpt", "BPX_J.xpt", "DEMO_I.xpt", "DEMO_J.xpt", "DIQ_G.xpt", "GHB_J.xpt", "HSCRP_J.xpt"}
    # The README: DEMO_G, BMX_G and BIOPRO_J are other releases; DR1TOT_J was rewritten.
    assert status["DEMO_G.xpt"] == status["BMX_G.xpt"] == status["BIOPRO_J.xpt"] == "other release"
    assert status["DR1TOT_J.xpt"] == status["CBC_J.xpt"] == "other release"  # rows known, no MD5
    assert report.damaged == [] and report.mode == "real"
    rows = {f.file: f.rows for f in report.files}
    assert rows["DEMO_G.xpt"] == 9756 and rows["DR1TOT_J.xpt"] == 8704 and rows["CBC_J.xpt"] == 8366


@pytest.mark.skipif(not (SUBSET / "DEMO_J.xpt").is_file(), reason="real NHANES subset not present")
def test_real_files_cut_or_altered(tmp_path):
    data = (SUBSET / "DEMO_J.xpt").read_bytes()
    # 368-byte rows after a 7,200-byte header: every 1,840 bytes a row ends on a record end.
    cut = 7200 + 1840 * 1000
    (tmp_path / "DEMO_J.xpt").write_bytes(data[:cut])
    ghb = bytearray((SUBSET / "GHB_J.xpt").read_bytes())
    ghb[-200] ^= 1  # one bit of one value: same size, other MD5
    (tmp_path / "GHB_J.xpt").write_bytes(bytes(ghb))
    (tmp_path / "DEMO_I.xpt").write_bytes((SUBSET / "DEMO_J.xpt").read_bytes())  # wrong cycle
    report = verify_dir(tmp_path)
    by = {f.file: f for f in report.files}
    assert by["DEMO_J.xpt"].status == "damaged"
    assert by["DEMO_J.xpt"].rows == 5000
    assert "it has 5,000 rows, the CDC release has 9,254" in by["DEMO_J.xpt"].message and "DEMO_J.xpt" in by["DEMO_J.xpt"].message
    assert "nhmg download" in by["DEMO_J.xpt"].message
    assert by["GHB_J.xpt"].status == "other release" and "another MD5" in by["GHB_J.xpt"].message
    assert by["DEMO_I.xpt"].status == "damaged" and "DEMO_J, not DEMO_I" in by["DEMO_I.xpt"].message
    with pytest.raises(rel.DamagedDataError, match="2 file\\(s\\) in .* are damaged"):
        rel.require_intact(tmp_path)


def _spread(path: Path, rows: int, cols: int, keep: int | None = None) -> Path:
    """A G-cycle file sorted by SEQN whose ``rows`` SEQNs span the cycle; the first ``keep``."""
    lo, hi = SEQN_RANGE["G"]
    frame = pd.DataFrame({f"V{i}": np.arange(rows, dtype=float) for i in range(1, cols)})
    frame.insert(0, "SEQN", np.linspace(lo, hi, rows).round())
    pyreadstat.write_xport(frame.iloc[:keep], str(path), file_format_version=5,
                           table_name=path.stem)
    return path


def test_a_known_file_of_another_size_that_lost_its_tail_is_damage(tmp_path, monkeypatch):
    whole = _spread(tmp_path / "BPQ_G.xpt", 400, 12)
    size, md5 = whole.stat().st_size, hashlib.md5(whole.read_bytes()).hexdigest()
    monkeypatch.setattr(rel, "releases", lambda: {
        "BPQ_G": Release("BPQ_G", size, md5, None), "SMQ_G": Release("SMQ_G", size, md5, None)})
    assert verify_file(whole).status == "known release"
    cut = _spread(tmp_path / "BPQ_G.xpt", 400, 12, keep=250)
    check = verify_file(cut)
    lo, hi = SEQN_RANGE["G"]
    assert check.status == "damaged"
    assert f"last participant is SEQN {round(lo + 249 * (hi - lo) / 399)}" in check.message
    assert f"run to {hi}" in check.message
    other = _spread(tmp_path / "SMQ_G.xpt", 400, 13)  # other variables, whole: a re-release
    assert verify_file(other).status == "other release"
    # Files with no CDC reference get the same test: a lost tail is damage there too.
    monkeypatch.setattr(rel, "releases", lambda: {})
    assert verify_file(cut).status == "damaged" and "end of the file is missing" in verify_file(cut).message


@pytest.mark.parametrize("version", [5, 8])
def test_last_seqn_read_from_the_last_row(tmp_path, version):
    frame = pd.DataFrame({"A": [1.5, 2.0, -3.25], "SEQN": [62161.0, 70000.0, 71916.0]})
    pyreadstat.write_xport(frame, str(tmp_path / "x.xpt"), file_format_version=version)
    assert xpt_layout(tmp_path / "x.xpt").last_seqn == 71916.0


def test_only_files_in_the_generators_record_are_synthetic(tmp_path):
    demo = _xpt(tmp_path / "DEMO_J.xpt", 30, 3)
    assert verify_dir(tmp_path).damaged  # 30 rows under a known name: damaged ...
    (tmp_path / "SYNTHETIC").write_text("synthetic\n")
    report = verify_dir(tmp_path)  # ... and a label written by hand changes nothing
    assert [f.status for f in report.files] == ["damaged"] and report.mode == "real"
    assert "labelled SYNTHETIC" not in report.files[0].message  # damage is said plainly
    sha = hashlib.sha256(demo.read_bytes()).hexdigest()
    (tmp_path / "SYNTHETIC").write_text(f"synthetic\nfile sha256: {sha} DEMO_J.xpt\n")
    report = verify_dir(tmp_path)
    assert [f.status for f in report.files] == ["synthetic"] and report.mode == "synthetic"
    assert "synthetic data" in report.summary()
    demo.write_bytes(demo.read_bytes()[:-80] + b" " * 80)  # edited after the generator wrote it
    assert [f.status for f in verify_dir(tmp_path).files] == ["damaged"]


def test_report_text_lists_every_file(tmp_path):
    _xpt(tmp_path / "VID_G.xpt", 5, 2)  # no row count known for VID_G
    (tmp_path / "BMX_J.xpt").write_bytes(b"<html>moved</html>")
    text = verify_dir(tmp_path).text()
    assert "VID_G.xpt" in text and "unknown" in text and "BMX_J.xpt" in text and "damaged" in text
    assert "missing: DEMO_G.xpt" in text
