"""Provenance keys and the download files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from nhmg_lib import __version__
from nhmg_lib.data.datamode import DataContext
from nhmg_lib.report.provenance import (KEYS, PACKAGES, library_hash, provenance,
                                        provenance_table, write_downloads)
from nhmg_lib.report.published import Published
from nhmg_lib.report.scorecard import scorecard


def _context(tmp_path: Path) -> DataContext:
    return DataContext(data_dir=tmp_path, mode="synthetic", reason="requested",
                       manifest_hash="ab" * 32, synthetic_seed=7, synthetic_scale=0.5)


def test_provenance_keys(tmp_path):
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    info = provenance(_context(tmp_path), now=when)
    assert tuple(info) == KEYS
    for key in ("python", "nhmg_lib", "library_hash", "data_mode", "data_dir", "manifest_hash",
                "synthetic_seed", "build_time_utc"):
        assert key in info
    for p in ("numpy", "pandas", "scipy", "pyreadstat", "matplotlib", "plotly",
              "jupyter-book"):
        assert p in PACKAGES and f"version/{p}" in info
    assert info["version/pandas"][0].isdigit()
    assert info["nhmg_lib"] == __version__
    assert info["library_hash"] == library_hash()
    assert info["data_mode"] == "synthetic" and info["synthetic_seed"] == 7
    assert info["data_dir"] == str(tmp_path) and info["manifest_hash"] == "ab" * 32
    assert info["build_time_utc"] == "2026-01-02 03:04:05 UTC"
    html = provenance_table(info)._repr_html_()
    assert "Package versions" in html and "pyreadstat" in html
    assert "statsmodels" not in PACKAGES  # only the tests and the benchmark use it


def test_provenance_real_data_has_no_seed(tmp_path):
    ctx = DataContext(data_dir=tmp_path, mode="real", reason="files present",
                      manifest_hash="cd" * 32, synthetic_seed=3)
    info = provenance(ctx)
    assert info["data_mode"] == "real" and info["synthetic_seed"] is None
    assert provenance(None)["data_mode"] is None


def test_write_downloads(tmp_path):
    recs = [{"id": "table2/model3/q4", "estimate": 0.3, "ci_low": 0.2, "ci_high": 0.5,
             "p": 0.01, "n": 100}]
    card = scorecard(recs, [Published("table2/model3/q4", 0.33, 0.18, 0.60)])
    info = provenance(_context(tmp_path))
    paths = write_downloads(recs, card, tmp_path / "downloads", info=info,
                            tables={"scorecard_table": card.render()})
    assert set(paths) == {"results.json", "scorecard.csv", "provenance.json",
                          "scorecard_table.csv"}
    # the data mode as nhmg results records it (no .xpt file in this directory: n = 0)
    assert json.loads(paths["results.json"].read_text()) == recs + [
        {"id": "data/synthetic", "estimate": 1.0, "ci_low": None, "ci_high": None, "p": None, "n": 0}]
    assert paths["scorecard.csv"].read_text().startswith("id,exhibit,")
    assert json.loads(paths["provenance.json"].read_text())["synthetic_seed"] == 7
    assert not list((tmp_path / "downloads").glob("*.tmp"))


def test_download_links_embed_files():
    from nhmg_lib.report.provenance import DownloadLinks

    links = DownloadLinks({"scorecard.csv": "id,x\na,1\n"}, {"scorecard.csv": "the table"})
    html = links._repr_html_()
    assert 'download="scorecard.csv"' in html and "data:text/csv;base64," in html
    assert "scorecard.csv" in links._repr_markdown_()


SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "nhanes-public-subset"


def test_data_record_matches_the_cli(tmp_path):
    from nhmg_lib.cli import main
    from nhmg_lib.report.provenance import data_record

    assert main(["synth", "--out", str(tmp_path / "s"), "--seed", "2", "--scale", "0.02"]) == 0
    n_xpt = len(list((tmp_path / "s").glob("*.xpt")))
    assert data_record("synthetic", tmp_path / "s") == {
        "id": "data/synthetic", "estimate": 1.0, "ci_low": None, "ci_high": None, "p": None,
        "n": n_xpt}
    assert data_record("real", tmp_path / "s")["estimate"] == 0.0
    # a record already present is not written twice
    info = provenance(DataContext(data_dir=tmp_path / "s", mode="real", reason="x", manifest_hash="0"))
    paths = write_downloads([data_record("synthetic", tmp_path / "s")], None, tmp_path / "d", info=info)
    assert [r["estimate"] for r in json.loads(paths["results.json"].read_text())] == [1.0]


def test_data_check_on_synthetic_data_is_one_line(tmp_path):
    from nhmg_lib.report.provenance import TextLine, data_check

    line = data_check(_context(tmp_path))
    assert isinstance(line, TextLine) and "synthetic" in line._repr_markdown_()
    assert "\n" not in str(line) and line._repr_html_().startswith("<p>")


def test_data_check_on_real_data_lists_every_file_with_its_status(tmp_path):
    import shutil

    from conftest import write_xpt_dir
    from nhmg_lib.data.releases import verify_dir
    from nhmg_lib.report.provenance import data_check

    data = write_xpt_dir(tmp_path / "data", cycles=("J",), n=6)   # DEMO_J with 6 of 9,254 rows
    if (SUBSET / "BMX_G.xpt").is_file():
        shutil.copy(SUBSET / "BMX_G.xpt", data / "BMX_G.xpt")       # a real CDC file
    ctx = DataContext(data_dir=data, mode="real", reason="files present", manifest_hash="cd" * 32)
    table = data_check(ctx)
    report = verify_dir(data)
    frame = table.frame
    assert list(frame.index) == [f.file for f in report.files]
    status = dict(zip(frame.index, frame["Status"]))
    assert status["DEMO_J.xpt"] == "damaged"
    assert status["BPX_J.xpt"] in ("damaged", "unknown", "other release")
    if (SUBSET / "BMX_G.xpt").is_file():
        assert status["BMX_G.xpt"] in ("known release", "other release")  # a CDC file, not damaged
    assert status == {f.file: f.status for f in report.files}
    demo = frame.loc["DEMO_J.xpt"]
    assert demo["Rows"] == "6" and "9,254" in demo["Note"]
    html = table._repr_html_()
    assert "damaged" in html and "known CDC releases" in html
    assert "Catalogue files not in the directory" in html  # the other cycles' files
