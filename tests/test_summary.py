"""The summary page and the citation of the paper.

The summary's verdict carries the synthetic-data caveat in the same sentence; its data line
uses the banner's words; the run time reads the build's own timing record. The paper is cited
in full (``report.published.CITATION``) in the README, CITATION.cff, the book's configuration
(title, author, the PDF's title page) and the introduction.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from nhmg_lib.book import build, summary
from nhmg_lib.book.chapter import Banner
from nhmg_lib.book.parameters import ChapterParameters
from nhmg_lib.data.datamode import DataContext
from nhmg_lib.report import published
from nhmg_lib.report.scorecard import scorecard

ROOT = Path(__file__).resolve().parents[1]
SYNTH = DataContext(data_dir=Path("."), mode="synthetic", reason="synthetic data were requested",
                    manifest_hash="abc", synthetic_seed=7)
REAL = DataContext(data_dir=Path("."), mode="real", reason="NHANES files in /data",
                   manifest_hash="0123456789abcdef")


def _records():
    """Every published number, reproduced exactly: a verdict of n of n."""
    return [{"id": v.id, "estimate": v.estimate, "ci_low": v.ci_low, "ci_high": v.ci_high,
             "p": v.p, "n": None} for v in published.VALUES]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if s]


def test_synthetic_verdict_carries_its_caveat_in_the_same_sentence():
    records = _records()
    text = summary.verdict(records, SYNTH)
    n = scorecard(records).n
    assert len(_sentences(text)) == 1, text
    assert text.startswith("On synthetic data") and "say nothing about the paper" in text
    assert f"{n} of {n} published numbers reproduced within rounding" in text
    real = summary.verdict(records, REAL)
    assert real.startswith("On the real NHANES files:") and "synthetic" not in real


def test_summary_page_has_every_part_in_html_and_in_the_pdf():
    page = summary.Summary(verdict="V.", data=summary._data_words(SYNTH), cohort="C.",
                           deviations=summary.DEVIATIONS, parameters="", run_time="R.")
    assert Banner(SYNTH).text in page.data and "SYNTHETIC DATA" in page.data
    for text in (page._repr_html_(), page._repr_markdown_()):
        for part in ("V.", "C.", "R.", Banner(SYNTH).text, *[a for a, _ in summary.DEVIATIONS]):
            assert part in text.replace("&#x27;", "'"), part
    md = page._repr_markdown_()   # alone on its PDF page, marked for the move before the contents
    assert md.startswith(f"```{{raw}} latex\n{summary.SUMMARY_BEGIN}\n```")
    assert md.rstrip().endswith(f"\\clearpage\n{summary.SUMMARY_END}\n```")
    assert "Parameters" not in page._repr_markdown_()
    changed = summary.Summary("V.", "D.", "C.", (), "changed from the book's: NP index: score.", "R.")
    assert "**Parameters.** changed from the book's: NP index: score." in changed._repr_markdown_()
    assert "manifest" in summary._data_words(REAL) and "**" not in summary._data_words(REAL)


def test_run_time_comes_from_the_builds_timing_record(tmp_path, monkeypatch):
    path = tmp_path / "timing.json"
    build._write_timing(path, 263.04, pdf=False, context=SYNTH)
    record = json.loads(path.read_text())
    assert record["seconds"] == 263.0 and record["format"] == "html" and record["data"] == "synthetic"
    monkeypatch.setenv("NHMG_BUILD_TIMING", str(path))
    assert build.read_timing() == record
    text = summary._run_time(19.4, build.read_timing())
    assert text.startswith("Computing every estimate of the book for this page took 19 s")
    assert "the last complete build (HTML, finished " in text and "took 4.4 min" in text
    monkeypatch.setenv("NHMG_BUILD_TIMING", str(tmp_path / "none.json"))
    assert build.read_timing() is None
    assert summary._run_time(100, None) == "Computing every estimate of the book for this page took 1.7 min."


def test_parameters_line_names_only_what_changed():
    assert ChapterParameters(resamples=20).describe() == "20 bootstrap resamples"
    assert ChapterParameters(energy_exclusion=True, contrast="unit").describe() == (
        "implausible energy intake left out; mediation contrast: ln-Mg 0 → 1 (as the paper)")


# --------------------------------------------------------------------------- the citation

def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[*>]|\\emph\{|\}|\[|\]\([^)]*\)", "", text))


def test_citation_in_readme_intro_config_and_cff():
    full = published.CITATION
    assert "Healthcare 2026;14(1):1" in full and "doi:10.3390/healthcare14010001" in full
    assert "PMC12785460" in full and "19 December 2025" in full
    for name in ("README.md", "book/intro.md"):
        assert full in _flat((ROOT / name).read_text(encoding="utf-8")), name
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "Zhu et al., Healthcare 2026;14(1):1" in config["title"]
    assert full in config["author"]
    title_page = config["sphinx"]["config"]["latex_elements"]["maketitle"]
    assert full in _flat(title_page.replace("--", "–")), title_page
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    for ref in (cff["preferred-citation"], cff["references"][0]):
        assert ref["doi"] == published.DOI and ref["journal"] == "Healthcare"
        assert (ref["year"], ref["volume"], ref["issue"], ref["start"]) == (2026, 14, 1, 1)
        assert [a["family-names"] for a in ref["authors"]] == ["Zhu", "Wang", "Ding", "Shen"]
        assert ref["title"] in full


@pytest.mark.parametrize("name", ["README.md", "book/intro.md"])
def test_citation_is_not_a_shorter_variant(name):
    text = _flat((ROOT / name).read_text(encoding="utf-8"))
    # every mention of the title is followed by the journal reference
    for m in re.finditer("The Mediating Role of Inflammatory Indicators", text):
        assert "Healthcare 2026;14(1):1" in text[m.end():m.end() + 40], (name, text[m.start():m.end() + 60])
