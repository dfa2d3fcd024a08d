"""The chapters' MyST markup made readable in a plain notebook (nhmg_lib.book.notebooks), on
hand-made notebooks: no kernel, no book build."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nhmg_lib.book import notebooks

GLUE = notebooks.GLUE_PREFIX


def _glue_output(name: str, plain: str, display: bool = False):
    prefix = "" if display else GLUE
    return new_output("display_data", data={prefix + "text/plain": plain},
                      metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})


def _notebook():
    code = new_code_cell("glue(...)", outputs=[
        _glue_output("n", "5793"), _glue_output("pct", "3.14159"),
        _glue_output("who", "'the paper'"), _glue_output("fig_x", "<Figure>", display=True)])
    text = new_markdown_cell(
        "Of {glue:text}`n:,` adults ({glue:text}`pct:.1f`%, {glue:text}`who`), see "
        "{numref}`table-2` and {numref}`Figure %s <fig-spline>`; also {numref}`table-robustness`.\n\n"
        "```{glue:figure} fig_x\n:name: fig-flow\n\nParticipant flow.\n```\n")
    return new_notebook(cells=[code, text])


def test_glued_values_and_references_are_filled_in():
    nb = notebooks.render_markup(_notebook())
    text = nb.cells[1].source
    assert text.startswith("Of 5,793 adults (3.1%, the paper), see Table 2 and Figure 2; "
                           "also the table below.")
    assert "**Figure 1.** Participant flow." in text
    assert "{" not in text  # no markup left


def test_glued_lists_every_name_with_its_bundle():
    values = notebooks.glued(_notebook())
    assert set(values) == {"n", "pct", "who", "fig_x"}
    assert values["n"] == {"text/plain": "5793"}  # prefix of an undisplayed glue removed
    assert values["fig_x"] == {"text/plain": "<Figure>"}


def test_unknown_glue_is_left_as_written():
    nb = new_notebook(cells=[new_markdown_cell("x {glue:text}`missing:.2f` y")])
    assert notebooks.render_markup(nb).cells[0].source == "x {glue:text}`missing:.2f` y"


def test_download_shows_plotly_figures_as_their_picture():
    html = '<div id="x"></div><script>Plotly.newPlot("x", [])</script>'
    own_js = '<script src="plotly.min.js"></script>' + html
    cell = new_code_cell("fig", outputs=[
        new_output("display_data", data={"text/html": html, "image/png": "iVBO"}),
        new_output("display_data", data={"text/html": own_js, "image/png": "iVBO"}),
        new_output("display_data", data={"text/html": html})])
    nb = notebooks.for_download(new_notebook(cells=[cell]))
    kept = [sorted(o["data"]) for o in nb.cells[0].outputs]
    # needs the book's plotly.js and has a picture: the picture; else unchanged
    assert kept == [["image/png"], ["image/png", "text/html"], ["text/html"]]
    nbformat.validate(nb)


def test_chapters_in_the_order_of_the_table_of_contents(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/b\n"
        "    sections:\n      - file: book/b1\n  - file: book/a\n")
    assert [p.relative_to(tmp_path).as_posix() for p in notebooks.chapters(tmp_path)] == [
        "book/intro.md", "book/b.md", "book/b1.md", "book/a.md"]
    real = notebooks.chapters()
    assert real[0].name == "intro.md" and all(p.is_file() for p in real) and len(real) >= 12


def test_web_only_text_stays_in_a_notebook():
    nb = new_notebook(cells=[new_markdown_cell("Sorted. {web}`Hovering over a point shows it.` End.")])
    assert notebooks.render_markup(nb).cells[0].source == "Sorted. Hovering over a point shows it. End."
