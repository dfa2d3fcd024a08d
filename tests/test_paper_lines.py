"""The paper's numbers beside the book's in the exhibit tables (report.paper_lines)."""

from __future__ import annotations

import pandas as pd
import pytest

from nhmg_lib.analyses.models import ROW_LABELS
from nhmg_lib.report import paper_lines, published
from nhmg_lib.report.exhibits import BY_NAME
from nhmg_lib.report.tables import PublicationTable, publication_table


def _exposure_frame() -> pd.DataFrame:
    """Table 2's layout (models.ExposureTable.formatted) with made-up cells."""
    cells = {f"Model {m}": [f"0.{m}{k} (0.10, 0.90)" for k in range(len(ROW_LABELS))] for m in (1, 2, 3)}
    return pd.DataFrame(cells, index=pd.Index(list(ROW_LABELS.values()), name="OR (95% CI)"))


def test_every_published_table_number_has_an_exhibit():
    located = {v.id: paper_lines.locate(v.id) for v in published.VALUES}
    exhibits = {c.exhibit for c in located.values() if c}
    assert exhibits <= set(BY_NAME) | {"table-interaction"}
    # the tables the paper states cells of
    assert {"table-2", "table-3", "table-4", "table-5", "table-7", "table-8", "table-s3",
            "table-interaction"} <= exhibits
    assert paper_lines.exhibit_ids("table-2") == [
        "table2/model3/ln_mg", "table2/model3/q3", "table2/model3/q4"]
    # what the paper says only in text or figures stays out of the tables
    assert located["flow/final_n"] is None and located["fig2/lmm/p_nonlinear"] is None
    assert located["fig3/hypertension/yes/q4"] is None


def test_paper_line_under_the_row_in_the_model_column():
    t = paper_lines.beside(publication_table(_exposure_frame(), name="table-2"))
    frame = t.to_frame()
    labels = list(frame.iloc[:, 0])
    # a "Paper" line follows ln-Mg, Q3 and Q4, nothing else
    assert labels == ["ln-Mg (continuous)", "Paper", "Q1", "Q2", "Q3", "Paper", "Q4", "Paper",
                      "P for trend"]
    q4_paper = frame.iloc[labels.index("Q4") + 1]
    assert q4_paper["Model 3"] == "0.33 (0.18, 0.60)" == published.text("table2/model3/q4")
    assert q4_paper["Model 1"] == q4_paper["Model 2"] == ""
    assert t.row_is_paper == [lab == "Paper" for lab in labels]
    html, latex = t.to_html(), t.to_latex()
    assert html.count('class="nhmg-indent nhmg-paper"') == 3
    assert r"\textcolor{darkgray}{\textit{0.33 (0.18, 0.60)}}" in latex
    # the flag survives the trip through the book's mime payload
    again = PublicationTable.from_payload(t.payload())
    assert again.to_html() == html
    assert any("Paper (grey)" in f for f in t.footnotes)


def test_grouped_and_column_group_tables():
    # Table 4: rows grouped by index; the paper's Q4 of NP goes under NP's Q4, not CALLY's
    idx = pd.MultiIndex.from_tuples([(g, r) for g in ("ln CALLY", "ln NP", "ln PAR", "ln RAR")
                                     for r in ROW_LABELS.values()])
    frame = pd.DataFrame({f"Model {m}": ["x"] * len(idx) for m in (1, 2, 3)}, index=idx)
    t = paper_lines.beside(publication_table(frame, name="table-4"))
    rows = list(zip(t.row_labels, [r[2] for r in t.cells]))
    np_at = t.row_labels.index("ln NP")
    q4 = t.row_labels.index("Q4", np_at)
    assert rows[q4 + 1] == ("Paper", published.text("table4/np/model3/q4")) == ("Paper", "-0.12 (-0.17, -0.07)")
    assert t.row_labels.count("Paper") == 4
    # Table 7: the proportion mediated under its column group
    cols = pd.MultiIndex.from_tuples([("NIE", "OR (95% CI)"), ("NIE", "P"),
                                      ("Proportion mediated", "% (95% CI)")])
    med = pd.DataFrame([["1.0", "0.1", "5 (1, 9)"]] * 4, columns=cols,
                       index=pd.Index(["CALLY", "NP", "PAR", "RAR"], name="Mediator"))
    t7 = paper_lines.beside(publication_table(med, name="table-7"))
    np_line = t7.cells[t7.row_labels.index("NP") + 1]
    assert np_line == ["", "", "18%"]


def test_a_missing_row_fails_and_a_table_without_published_cells_says_so():
    frame = _exposure_frame().drop(index="Q4")
    with pytest.raises(paper_lines.PaperLineError, match="table2/model3/q4"):
        paper_lines.beside(publication_table(frame, name="table-2"))
    noted = paper_lines.beside(publication_table(frame, name="table-2"), missing="note")
    assert noted.row_labels.count("Paper") == 2
    assert "Paper, for rows the book does not show: Q4 0.33 (0.18, 0.60)." in noted.footnotes
    s1 = paper_lines.beside(publication_table(_exposure_frame(), name="table-s1"))
    assert "Paper" not in s1.row_labels
    assert s1.footnotes[-1] == "The paper's text states no cell of this table."


def test_quartile_note_sets_the_papers_ranges_beside_the_books():
    note = paper_lines.quartile_note({1: (4.2, 5.371), 2: (5.38, 5.66), 3: (5.67, 5.93), 4: (5.94, 7.2)})
    assert "Q1 4.20–5.37 (2.25–5.40)" in note and "Q4 5.94–7.20 (6.00–7.69)" in note
    t = paper_lines.beside(publication_table(_exposure_frame(), name="table-2"),
                           quartile_ranges={1: (4.2, 5.371), 2: (5.38, 5.66), 3: (5.67, 5.93), 4: (5.94, 7.2)})
    assert t.footnotes[-1] == note


def test_quartile_ranges_of_the_cohort():
    from nhmg_lib.analyses.models import quartile_ranges

    adults = pd.DataFrame({"ln_mg": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 100.0],
                           "mg_q": [1, 1, 2, 2, 3, 3, 4, 4, 4],
                           "in_cohort": [1, 1, 1, 1, 1, 1, 1, 1, 0]})
    assert quartile_ranges(adults) == {1: (1.0, 2.0), 2: (3.0, 4.0), 3: (5.0, 6.0), 4: (7.0, 8.0)}
