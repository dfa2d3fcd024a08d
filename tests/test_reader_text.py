"""Text a reader should not see: code names, ASCII stand-ins for symbols, raw Markdown marks
and impossible numbers in what the book prints."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nhmg_lib.analyses import robustness
from nhmg_lib.analyses.models import format_ratio, format_ratio_ci
from nhmg_lib.cohort.definitions import OPTIONS
from nhmg_lib.report import robustness_report
from nhmg_lib.report.provenance import TextLine


def test_an_odds_ratio_never_prints_as_zero():
    assert format_ratio(0.004) == "<0.01"
    assert format_ratio(0.0049) == "<0.01" and format_ratio(0.005) == "0.01"  # rounds up to 0.01
    assert format_ratio(1.98) == "1.98" and format_ratio(0.06) == "0.06"
    assert format_ratio(0.0004, 3) == "<0.001"
    assert format_ratio_ci(0.5, 0.0012, 1.98) == "0.50 (<0.01, 1.98)"
    assert robustness.format_ci(0.5, 0.001, 1.98, ratio=True) == "0.50 (<0.01, 1.98)"
    assert robustness.format_ci(0.5, 0.001, 1.98) == "0.50 (0.00, 1.98)"  # a β may be 0.00
    assert robustness.format_ci(np.nan, 0.1, 1.0) == "not estimable"


def test_option_values_have_words_and_no_code_names_reach_the_reader():
    for field, options in robustness.OPTIONS_ALL.items():
        for value in options:
            choice, words = robustness_report.option_words(field, value)
            assert "_" not in choice + words, (field, value)
            assert value in robustness_report.OPTION_WORDS[field], (field, value)  # worded, not guessed
    assert robustness_report.spec_label("physical_activity=any_recreational") == (
        "physical activity: any recreational activity")
    assert robustness_report.spec_label("weight=wtdrd1") == "weight: dietary day-1 weight"
    assert robustness_report.spec_label("default") == "default"


def test_option_descriptions_use_symbols_not_ascii_stand_ins():
    docs = [d for o in robustness.OPTIONS_ALL.values() for d in o.values()]
    assert docs and len(docs) == sum(len(o) for o in OPTIONS.values()) + sum(
        len(o) for o in robustness.ANALYSIS_OPTIONS.values())
    for doc in docs:
        assert not re.search(r">=|<=|\^|sigma", doc), doc


def test_markdown_code_marks_become_code_in_html():
    line = TextLine("Run `nhmg verify` first.")
    assert line._repr_html_() == "<p>Run <code>nhmg verify</code> first.</p>"
    assert line._repr_markdown_() == "Run `nhmg verify` first."


def test_table_1_prose_and_footnote_name_the_same_tests():
    from pathlib import Path

    from nhmg_lib.analyses import table1

    prose = Path(__file__).resolve().parents[1].joinpath("book/characteristics.md").read_text()
    prose = re.sub(r"\s+", " ", prose)
    src = Path(table1.__file__).read_text()
    for test in ("Wilcoxon rank test", "Rao–Scott corrected F test"):
        assert test in prose and test in src, test
    assert "chi-square test for categorical" not in prose


@pytest.mark.parametrize("chapter", ["dose_response", "multiverse", "subgroups"])
def test_chapter_prose_has_no_leftovers(chapter):
    from pathlib import Path

    text = Path(__file__).resolve().parents[1].joinpath(f"book/{chapter}.md").read_text()
    for leftover in ("its Table S3, here", "named in the plan", "as a fraction", ">=",
                     "({glue:text}`flips`)"):
        assert leftover not in text, (chapter, leftover)


def test_glued_markdown_reads_as_text_outside_the_book():
    import nbformat

    from nhmg_lib.book import notebooks

    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_output("display_data", data={"text/markdown": "On synthetic data, *x*.",
                                                       "text/plain": "<IPython.core.display.Markdown object>"},
                                 metadata={"scrapbook": {"name": "verdict", "mime_prefix": ""}})
    nb.cells = [nbformat.v4.new_code_cell("glue(...)", outputs=[out]),
                nbformat.v4.new_markdown_cell("Verdict: {glue:md}`verdict` The end.")]
    notebooks.render_markup(nb)
    assert nb.cells[1].source == "Verdict: On synthetic data, *x*. The end."
