"""Provenance keys and the download files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from nhmg_lib import __version__
from nhmg_lib.book.build import library_hash
from nhmg_lib.data.datamode import DataContext
from nhmg_lib.report.provenance import (KEYS, PACKAGES, provenance, provenance_table,
                                 write_downloads)
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
    assert json.loads(paths["results.json"].read_text()) == recs
    assert paths["scorecard.csv"].read_text().startswith("id,exhibit,")
    assert json.loads(paths["provenance.json"].read_text())["synthetic_seed"] == 7
    assert not list((tmp_path / "downloads").glob("*.tmp"))


def test_download_links_embed_files():
    from nhmg_lib.report.provenance import DownloadLinks

    links = DownloadLinks({"scorecard.csv": "id,x\na,1\n"}, {"scorecard.csv": "the table"})
    html = links._repr_html_()
    assert 'download="scorecard.csv"' in html and "data:text/csv;base64," in html
    assert "scorecard.csv" in links._repr_markdown_()
