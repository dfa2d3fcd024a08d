"""A failed book build ends with its first real cause in one paragraph."""

from nhmg_lib.book.build import first_cause


def test_failing_chapter_and_exception_line_from_the_notebook_log(tmp_path):
    log = tmp_path / "_build" / "html" / "reports" / "book" / "03_cohort.err.log"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback (most recent call last):\n  File \"x\", line 3\n"
                   "\x1b[0;31mCohortError\x1b[0m: Cannot form magnesium quartiles: the final cohort of 0\n")
    output = ["Running Jupyter-Book", "line"] * 60 + [
        "/book/03_cohort.md: WARNING: Executing notebook failed: CellExecutionError [mystnb.exec]",
        f"/book/03_cohort.md: WARNING: Notebook exception traceback saved in: {log} [mystnb.exec]",
        "/book/07_x.md:12: WARNING: undefined label: 'fig-9'",
    ]
    assert first_cause(output) == (
        "First cause: the chapter book/03_cohort.md failed with CohortError: Cannot form magnesium "
        f"quartiles: the final cohort of 0 (its full traceback: {log}).")


def test_first_sphinx_warning_when_no_notebook_failed():
    output = ["Running Sphinx v7", "/book/07_x.md:12: WARNING: undefined label: 'fig-9'",
              "/book/08_y.md:3: WARNING: other"]
    assert first_cause(output) == "First cause: /book/07_x.md:12: WARNING: undefined label: 'fig-9'"
    assert first_cause([]) == "jupyter-book printed nothing."
