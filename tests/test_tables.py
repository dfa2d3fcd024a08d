"""Publication tables: HTML and LaTeX structure, formatting, CSV export."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.report.tables import (TABLE_MIME, PublicationTable, format_value, latex_escape,
                             publication_table)


@pytest.fixture
def grouped() -> pd.DataFrame:
    cols = pd.MultiIndex.from_tuples([("", "Overall"), ("LMM", "No"), ("LMM", "Yes"), ("", "P")])
    idx = pd.MultiIndex.from_tuples([("N", ""), ("Gender", "Male"), ("Gender", "Female"),
                                     ("Age, years", "")])
    return pd.DataFrame([[5793, 5377, 416, np.nan],
                         ["2,999 (51.8)", "2,800 (52.1)", "199 (47.8)", "0.12"],
                         ["2,794 (48.2)", "2,577 (47.9)", "217 (52.2)", ""],
                         [38.456, 38.1, 43.2, 0.0004]], index=idx, columns=cols)


def test_format_value():
    assert format_value(5793) == "5,793"
    assert format_value(0.12345) == "0.12"
    assert format_value(0.12345, 3) == "0.123"
    assert format_value(float("nan")) == "" and format_value(None) == "" and format_value(pd.NA) == ""
    assert format_value("<0.001") == "<0.001"


def test_html_structure(grouped):
    t = publication_table(grouped, caption="Characteristics", label="Table 1",
                          footnotes=["Weighted percentages."])
    html = t._repr_html_()
    assert html.count("<table") == 1 and 'class="nhmg-table"' in html
    assert "<caption>" in html and "Table 1." in html
    # column group spanning two columns, and a stub header cell spanning both header rows
    assert '<th colspan="2" class="nhmg-colgroup">LMM</th>' in html
    assert 'rowspan="2"' in html
    # row group heading for Gender, its levels indented; one-line rows are neither
    assert html.count('class="nhmg-rowgroup"') == 1
    assert html.count('class="nhmg-indent"') == 2
    # numbers right-aligned, formatted; NaN empty; no zebra/style attributes
    assert '<td class="nhmg-r">5,793</td>' in html
    assert '<td class="nhmg-r">38.46</td>' in html
    assert "<tfoot>" in html and "Weighted percentages." in html
    assert "style=" not in html
    # every body row has the same number of cells
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html.split("<tbody>")[1].split("</tbody>")[0], flags=re.S)
    assert len({r.count("<td") for r in rows}) == 1


def test_html_escapes_text():
    t = publication_table(pd.DataFrame({"a <b>": ["x & y"]}, index=["<row>"]))
    html = t.to_html()
    assert "&lt;b&gt;" in html and "x &amp; y" in html and "&lt;row&gt;" in html


def test_latex_structure(grouped):
    t = publication_table(grouped, caption="Characteristics", label="Table 1",
                          footnotes=["50% of 10_000 participants ≥ 20 years."])
    tex = t._repr_latex_()
    assert r"\begin{xltabular}{\linewidth}" in tex and r"\end{xltabular}" in tex
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){3-4}"):
        assert rule in tex
    assert r"\multicolumn{2}{c}{LMM}" in tex
    assert r"\endfirsthead" in tex and r"\endhead" in tex and r"\endlastfoot" in tex
    assert r"\caption*{\textbf{Table 1.} Characteristics}" in tex
    # specials escaped, unicode mapped for pdflatex
    assert r"50\% of 10\_000 participants $\geq$ 20 years." in tex
    assert "≥" not in tex
    # a font size is chosen and widths sum to the number of columns
    assert re.search(r"\\(small|footnotesize|scriptsize)", tex)
    widths = [float(w) for w in re.findall(r"hsize=([\d.]+)\\hsize", tex)]
    assert len(widths) == 5 and sum(widths) == pytest.approx(5, abs=0.01)
    # bold row-group heading, indented levels
    assert r"\textbf{Gender}" in tex and r"\hspace{1em}Male" in tex
    # body rows have the right number of cells
    body, notes = tex.split(r"\endlastfoot")[1].split(r"\end{xltabular}")[0].split(r"\noalign")
    for line in filter(None, (l.strip() for l in body.splitlines())):
        assert line.count("&") == 4, line
    # the notes under the bottom rule, kept with the last rows (the last foot is empty)
    assert r"\hrule height\heavyrulewidth" in notes and "participants" in notes


def test_book_representation_round_trips(grouped):
    t = publication_table(grouped, caption="Characteristics", footnotes=["a note"], name="table-1")
    bundle = t._repr_mimebundle_()
    assert list(bundle) == [TABLE_MIME]
    payload = json.loads(json.dumps(bundle[TABLE_MIME]))  # what a notebook stores
    again = PublicationTable.from_payload(payload)
    assert again.to_html() == t.to_html() and again.to_latex() == t.to_latex()
    relabelled = PublicationTable.from_payload(payload, label="Table 9")
    assert "Table 9." in relabelled.to_html() and "Table 1." not in relabelled.to_html()


def test_name_gives_the_paper_label_and_an_anchor(grouped):
    t = publication_table(grouped, caption="Characteristics", name="table-s2")
    assert t.label == "Table S2"
    assert '<div class="nhmg-table-wrap" id="table-s2">' in t.to_html()
    own = publication_table(grouped, caption="Something else", name="table-extra")
    assert own.label == "" and 'id="table-extra"' in own.to_html()
    assert publication_table(grouped, name="table-s2", label="Tbl").label == "Tbl"


def test_numbered_latex_caption(grouped):
    t = publication_table(grouped, caption="Characteristics", name="table-s2")
    tex = t.to_latex(number="S2", target=r"\label{x:table-s2}")
    assert r"\renewcommand{\thetable}{S2}" in tex
    assert r"\caption{Characteristics}\label{x:table-s2}\\" in tex
    assert r"\caption*" not in tex
    # the renumbering stays inside the table's group
    assert tex.index(r"\begingroup") < tex.index(r"\renewcommand{\thetable}") < tex.index(r"\endgroup")
    unnumbered = t.to_latex()
    assert r"\caption*{\textbf{Table S2.} Characteristics}" in unnumbered


def test_alignment_and_validation():
    df = pd.DataFrame({"n": [1, 2], "name": ["alpha", "beta"]})
    t = publication_table(df)
    assert t.align == ["r", "l"]
    with pytest.raises(ValueError):
        publication_table(df, align=["r"])
    with pytest.raises(ValueError):
        publication_table(df, align=["r", "x"])
    with pytest.raises(TypeError):
        publication_table([1, 2])


def test_decimals_per_column():
    df = pd.DataFrame({"or": [0.3333], "p": [0.01234]})
    t = publication_table(df, decimals={"or": 2, "p": 3})
    assert t.cells[0] == ["0.33", "0.012"]


def test_csv_export(grouped, tmp_path):
    t = publication_table(grouped)
    text = t.to_csv()
    assert text.splitlines()[0] == "row,Overall,LMM: No,LMM: Yes,P"
    assert "5,793" in text  # formatted cells, quoted by the CSV writer
    out = tmp_path / "t.csv"
    t.to_csv(out)
    assert pd.read_csv(out).shape == (len(t.cells), 5)


def test_latex_escape():
    assert latex_escape("a_b & c%") == r"a\_b \& c\%"
    assert latex_escape("x ≤ 5, 10⁹/L") == r"x $\leq$ 5, 10\textsuperscript{9}/L"


def test_latex_widths_give_every_column_its_longest_word():
    df = pd.DataFrame(
        {"Overall": ["0.00509 (0.00252, 0.01154)", "2,050 (1,606, 2,625)"],
         "Note": ["a rather long explanation that has to wrap over several lines " * 3, "short"],
         "P": ["<0.001", "0.144"]},
        index=["NP (neutrophils × platelets), (10⁹/L)²", "Energy intake, kcal/day"])
    t = publication_table(df)
    size, shares = t._latex_widths()
    assert abs(sum(shares) - 1) < 1e-12
    pt = dict(PublicationTable._SIZES)[size]
    room = (PublicationTable._TEXT_WIDTH_PT - 8.0 * 3) / pt
    texts = t._column_texts()
    for share, col, align in zip(shares, texts, ["l"] + t.align):
        widest_word = max(PublicationTable._em(w) for text, _ in col for w in text.split())
        assert share * room >= widest_word
        if align == "r":  # numbers stay on one line when the table allows it
            assert share * room >= max(PublicationTable._em(text) for text, _ in col)
    # the prose column takes what is left, so it is the widest
    assert shares[2] == max(shares)
    # the LaTeX uses these shares (\hsize weights summing to the number of columns)
    weights = [float(w) for w in re.findall(r"\\hsize=([0-9.]+)\\hsize", t.to_latex())]
    assert weights == pytest.approx([4 * s for s in shares], abs=1e-3)
    assert (r"\begingroup" + size + "\n") in t.to_latex()
    # never a caption alone at a page foot: room is asked for first, in the table's font
    assert t.to_latex().startswith(r"\begingroup" + size + "\n" + r"\Needspace{")


def _no_break_after(latex: str) -> list[bool]:
    """For each body row of a LaTeX table: whether it ends with ``\\*`` (no page break after)."""
    body = latex.split(r"\endlastfoot", 1)[1].split(r"\end{xltabular}", 1)[0].split(r"\noalign")[0]
    return [line.endswith("\\\\*") for line in body.strip().splitlines()]


def test_latex_short_table_never_breaks_and_asks_for_its_whole_height():
    t = publication_table(pd.DataFrame({"OR": ["1.0"] * 7}, index=[f"r{i}" for i in range(7)]),
                          caption="Seven rows", footnotes=["A note."])
    latex = t.to_latex()
    assert _no_break_after(latex) == [True] * 7  # no page break after any row
    need = int(re.search(r"\\Needspace\{(\d+)\\baselineskip\}", latex).group(1))
    # caption 1 + header 1 + 7 rows + note 1 = 10 lines, a tenth more for the rules, 2 of slack
    assert need == 13


def test_latex_long_table_keeps_three_rows_on_either_side_of_a_break():
    n = 30
    t = publication_table(pd.DataFrame({"OR": ["1.0"] * n}, index=[f"r{i}" for i in range(n)]),
                          caption="Thirty rows")
    ends = _no_break_after(t.to_latex())
    assert len(ends) == n
    breakable = [i for i, kept in enumerate(ends) if not kept]
    # a break may follow row 3, 4, ..., n-3 (1-based): three rows at least on each side
    assert breakable == list(range(2, n - 3))
    need = int(re.search(r"\\Needspace\{(\d+)\\baselineskip\}", t.to_latex()).group(1))
    assert need == 8  # caption, header, three rows: 5 lines, a tenth more, 2 of slack


def test_latex_font_steps_down_for_wide_tables():
    narrow = publication_table(pd.DataFrame({"a": [1.5]}, index=["x"]))
    assert narrow._latex_widths()[0] == r"\small"
    wide = publication_table(pd.DataFrame({f"c{i}": ["0.63 (0.41, 0.96)"] for i in range(6)},
                                          index=["Hypertension, Q4 vs Q1"]))
    assert wide._latex_widths()[0] in (r"\footnotesize", r"\scriptsize")


def test_html_keeps_an_interval_on_one_line():
    t = publication_table(pd.DataFrame({"OR": ["0.63 (0.41, 0.96)", "1 (reference)", "<0.001"]},
                                       index=["Q3", "Q1", "P"]))
    html = t.to_html()
    assert '<td class="nhmg-r">0.63 <span class="nhmg-ci">(0.41, 0.96)</span></td>' in html
    assert '1 <span class="nhmg-ci">(reference)</span>' in html
    assert '<td class="nhmg-r">&lt;0.001</td>' in html


def test_wide_tables_take_the_margin_in_html():
    narrow = publication_table(pd.DataFrame({"Model 1": ["0.28 (0.13, 0.65)"]}, index=["ln-Mg"]))
    assert not narrow.html_is_wide() and "full-width" not in narrow.to_html()
    cols = pd.MultiIndex.from_tuples([(g, c) for g in ("NDE", "NIE", "TE") for c in ("β (95% CI)", "P")]
                                      + [("Proportion mediated", "% (95% CI)")])
    wide = publication_table(pd.DataFrame([["0.043 (−0.010, 0.092)", "0.126"] * 3
                                           + ["17.3 (−187.8, 193.8)"]], columns=cols,
                                          index=["CALLY"]))
    assert wide.html_is_wide()
    assert '<div class="nhmg-table-wrap full-width">' in wide.to_html()


def test_latex_group_heading_stays_with_its_first_row():
    index = pd.MultiIndex.from_tuples([(f"G{g}", f"r{i}") for g in range(6) for i in range(3)])
    t = publication_table(pd.DataFrame({"OR": ["1.0"] * 18}, index=index), caption="Grouped")
    assert t.row_is_group == [True, False, False, False] * 6  # 24 body rows, 6 headings
    kept = _no_break_after(t.to_latex())
    # the heading and rows 1-2 (start: three rows besides the heading), every heading (0, 4,
    # 8, ...), the last three rows with their heading (20)
    assert [i for i, k in enumerate(kept) if k] == [0, 1, 2, 4, 8, 12, 16, 20, 21, 22, 23]


def test_latex_last_rows_kept_do_not_count_a_heading():
    """A heading among the last rows does not count as one of the three kept together at the
    end (nor at the start): the block is the heading and three rows, and the notes stay with it
    (in the body, after the bottom rule, so that longtable never moves them alone)."""
    rows = ([("A", f"a{i}") for i in range(12)] + [("B", "b0"), ("B", "b1"), ("B", "b2")]
            + [("C", "c0"), ("C", "c1")])
    t = publication_table(pd.DataFrame({"OR": ["1.0"] * len(rows)},
                                       index=pd.MultiIndex.from_tuples(rows)),
                          caption="Headings near the end", footnotes=["First note.", "Second note."])
    labels = t.row_labels
    assert labels[-3:] == ["C", "c0", "c1"] and labels[-7] == "B"  # 20 body rows
    latex = t.to_latex()
    kept = _no_break_after(latex)
    assert len(kept) == len(labels) == 20
    breakable = [labels[i] for i, k in enumerate(kept) if not k]
    # start: heading A and a0-a2 together; end: b2, heading C, c0, c1 together (three rows
    # besides the heading), so the last break may follow b1, and never follows a heading
    assert breakable[0] == "a2" and breakable[-1] == "b1"
    assert not any(kept[i] is False and t.row_is_group[i] for i in range(20))
    assert [labels[i] for i in range(16, 20) if kept[i]] == ["b2", "C", "c0", "c1"]
    # the notes: after the bottom rule, no break before them nor between them
    tail = latex.split(r"\endlastfoot", 1)[1].split(r"\end{xltabular}", 1)[0]
    body, notes = tail.split(r"\noalign")
    assert body.rstrip().endswith("\\\\*")
    lines = [l for l in notes.strip().splitlines()]
    # the bottom rule, with no page break before or after it
    assert lines[0] == (r"{\nobreak\vskip\aboverulesep\hrule height\heavyrulewidth"
                        r"\nobreak\vskip\belowrulesep}")
    assert lines[1].endswith("First note.}\\\\*") and lines[2].endswith("Second note.}\\\\")
    # \endlastfoot is empty: nothing between \endfoot and it
    assert re.search(r"\\endfoot\s*\\endlastfoot", latex)
    # \\* must reach longtable: \arraybackslash restored to \tabularnewline in the table's group
    assert r"\def\arraybackslash{\let\\\tabularnewline}" in latex
