"""The PDF page-layout extension (nhmg_lib.book.sphinx_print): what a heading keeps with it on
its page. The whole-book PDF test (test_book.py) checks the printed pages."""

from __future__ import annotations

import re

import pandas as pd
from docutils import nodes

from nhmg_lib.book.sphinx_exhibits import exhibit_table
from nhmg_lib.book.sphinx_print import (
    HEADING_LINES, TEXT_LINES_AFTER_HEADING, first_content, keep_with_heading, summary_first)
from nhmg_lib.book.summary import SUMMARY_BEGIN, SUMMARY_END
from nhmg_lib.report.tables import publication_table


def _section(*children: nodes.Node) -> nodes.section:
    sec = nodes.section()
    sec += nodes.title(text="A heading")
    for child in children:
        sec += child
    return sec


def _table(rows: int) -> exhibit_table:
    frame = pd.DataFrame({"OR (95% CI)": [f"1.{i:02d} (0.90, 1.20)" for i in range(rows)]},
                         index=[f"row {i}" for i in range(rows)])
    return exhibit_table(payload=publication_table(frame, caption="A table").payload())


def _code_input() -> nodes.container:
    cell = nodes.container(classes=["cell"])
    cell += nodes.container("", nodes.literal_block(text="x = 1"), classes=["cell_input"])
    return cell


def test_text_after_a_heading_keeps_a_few_lines():
    sec = _section(nodes.paragraph(text="Some text."))
    assert keep_with_heading(sec) == ("%d\\baselineskip" % (HEADING_LINES + TEXT_LINES_AFTER_HEADING), "")
    assert HEADING_LINES + TEXT_LINES_AFTER_HEADING == 7


def test_a_table_after_a_heading_keeps_its_start_code_inputs_skipped():
    table = _table(5)
    sec = _section(_code_input(), table)
    assert first_content(sec) is table
    size, lines = publication_table(
        pd.DataFrame({"OR (95% CI)": [f"1.{i:02d} (0.90, 1.20)" for i in range(5)]},
                     index=[f"row {i}" for i in range(5)]), caption="A table").latex_start()
    # a short table does not break: caption, header and 5 rows (7 lines), a tenth more
    # (rounded up: 8) and 2 lines of slack
    assert size == r"\small" and lines == 10
    keep, measure = keep_with_heading(sec)
    assert measure == ""
    m = re.fullmatch(r"\\dimexpr(\d+)\\baselineskip\*(\d+)/100\+(\d+)\\baselineskip\\relax", keep)
    assert m and int(m.group(1)) == lines and int(m.group(2)) == 92 and int(m.group(3)) == 8, keep  # heading + margin


def test_a_subheading_right_after_a_heading_adds_up():
    inner = _section(nodes.paragraph(text="Text."))
    sec = _section(inner)
    assert first_content(sec) is inner
    assert keep_with_heading(sec) == (r"\dimexpr7\baselineskip+3\baselineskip\relax", "")


def test_a_figure_after_a_heading_is_measured_as_printed():
    figure = nodes.figure("", nodes.image(uri="out/fig.pdf"), nodes.caption(text="A figure."))
    sec = _section(_code_input(), figure)
    assert first_content(sec) is figure
    length, measure = keep_with_heading(sec, {"out/fig.pdf": "abc123.pdf"}.get)
    assert measure == r"\sbox0{\sphinxincludegraphics{{abc123}.pdf}}"
    assert length == r"\dimexpr\ht0+\dp0+9\baselineskip\relax"
    # no image file known (another builder): counted as text
    assert keep_with_heading(sec)[0] == "7\\baselineskip"


def test_web_only_text_is_left_out_of_the_pdf():
    from types import SimpleNamespace

    import pytest

    from nhmg_lib.book.sphinx_print import _skip, web_role

    (node,), messages = web_role("web", "{web}`Hover me.`", "Hover me.", 1, SimpleNamespace())
    assert node.astext() == "Hover me." and "nhmg-web-only" in node["classes"] and not messages
    with pytest.raises(nodes.SkipNode):   # the LaTeX visitor
        _skip(None, node)
    # the whole-book test checks the built pages: tests/test_book.py::test_pdf_leaves_out_web_only_text


def test_the_summary_moves_before_the_table_of_contents():
    tex = ("\\begin{titlepage}T\\end{titlepage}\n\n\\pagestyle{plain}\n\\sphinxtableofcontents\n"
           "\\pagestyle{normal}\n\\chapter{Intro}\nfirst\n"
           f"{SUMMARY_BEGIN}\nSUMMARY TEXT\n\\clearpage\n{SUMMARY_END}\nrest\n")
    out = summary_first(tex)
    assert out.index("SUMMARY TEXT") < out.index("\\pagestyle{plain}") < out.index("\\sphinxtableofcontents")
    assert out.index("\\end{titlepage}") < out.index(SUMMARY_BEGIN)
    assert out.count("SUMMARY TEXT") == 1 and "first\n\nrest" in out.replace(SUMMARY_END, "")
    assert summary_first(out) == out                      # already moved: left as it is
    assert summary_first("no contents here") == "no contents here"
