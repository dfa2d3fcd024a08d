"""Sphinx extension: the PDF's page layout (LaTeX builder only).

* A section heading never stands alone at a page foot, nor above nothing: before every
  heading below a chapter, ``\\FloatBarrier`` puts the previous section's figures out first
  (a figure stays in its section, so it is never pages after it and a section never reads
  as an empty heading while its figure waits), then ``\\Needspace`` keeps room for the
  heading and the start of what follows it: a table's caption, header and first rows (as
  :meth:`~nhmg_lib.report.tables.PublicationTable.latex_start` counts them), or a few lines
  of text. A table's own ``\\Needspace`` would otherwise break the page between the heading
  and the table.
* The introduction (the root document, whose title Sphinx prints on the cover only) starts
  on its own page under its title, with its own running head.
* A titled admonition with the class ``warning`` (the synthetic-data notice of
  :class:`nhmg_lib.book.chapter.Banner`) prints as a warning box (red, ``_config.yml``'s
  ``sphinxsetup``), not as Sphinx's blue note.
* The role ``{web}`...``` marks text about the interactive book ("hovering over a point shows
  ..."): shown in HTML (and in a plain notebook), left out of the PDF.
* The one-page summary (:class:`nhmg_lib.book.summary.Summary`, in the introduction) is moved
  to the page after the title, before the table of contents (:func:`summary_first`).
* ``\\nhmgmark`` writes where each figure is called in the text and where it is printed
  (``book.nhmgmarks``, read by ``tests/test_book.py``).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.writers.latex import LaTeXTranslator

#: Lines of body text kept with a heading that text follows (the heading itself, with its
#: space above and below, counts about three).
TEXT_LINES_AFTER_HEADING = 4
HEADING_LINES = 3
#: A table's own \Needspace is measured after the heading and the cell's spacing, so the
#: heading keeps this many lines more for it (2 more were not enough above Table 8).
TABLE_MARGIN_LINES = 5


def _hidden(node: nodes.Node) -> bool:
    """Inside a code cell's input (the web book's toggles; not printed)."""
    while node is not None:
        if "cell_input" in getattr(node, "get", lambda *_: [])("classes", []):
            return True
        node = node.parent
    return False


def first_content(section: nodes.section) -> nodes.Node | None:
    """The first printed block under a section's title: a paragraph, a publication table, a
    figure, a subsection, ... (code inputs skipped)."""
    from nhmg_lib.book.sphinx_exhibits import exhibit_table

    kinds = (nodes.paragraph, exhibit_table, nodes.figure, nodes.section, nodes.table,
             nodes.literal_block, nodes.Admonition, nodes.bullet_list, nodes.enumerated_list,
             nodes.math_block, nodes.image)
    for node in section.findall(lambda n: isinstance(n, kinds)):
        if node is section or isinstance(node.parent, nodes.title) or _hidden(node):
            continue
        if isinstance(node, nodes.paragraph) and isinstance(node.parent, (nodes.list_item,)):
            return node.parent.parent
        return node
    return None


#: Lines of a figure's caption, and the heading, kept with a figure that a heading leads to.
FIGURE_CAPTION_LINES = 6


def keep_with_heading(section: nodes.section, image_file: Any = None) -> tuple[str, str]:
    """The TeX length a heading needs below it on its page (heading included), and the TeX
    that measures it first (for a figure) or "".

    ``image_file(uri)``: the LaTeX file name of an image (the builder's), to measure a figure
    that comes first under the heading; without it such a figure counts as text."""
    from nhmg_lib.book.sphinx_exhibits import exhibit_table
    from nhmg_lib.report.tables import PublicationTable

    node = first_content(section)
    if isinstance(node, nodes.section):  # a subheading right away: keep both headings
        length, measure = keep_with_heading(node, image_file)
        return r"\dimexpr%s+%d\baselineskip\relax" % (length, HEADING_LINES), measure
    if isinstance(node, nodes.figure) and image_file is not None:
        image = node.next_node(nodes.image)
        name = image_file(image["uri"]) if image is not None else None
        if name:  # the figure as \sphinxincludegraphics draws it, measured in box 0
            base, _, ext = name.rpartition(".")
            return (r"\dimexpr\ht0+\dp0+%d\baselineskip\relax" % (HEADING_LINES + FIGURE_CAPTION_LINES),
                    r"\sbox0{\sphinxincludegraphics{{%s}.%s}}" % (base, ext))
    if isinstance(node, exhibit_table):
        size, lines = PublicationTable.from_payload(node["payload"]).latex_start()
        return r"\dimexpr%d\baselineskip*%d/100+%d\baselineskip\relax" % (
            lines, _size_percent(size), HEADING_LINES + TABLE_MARGIN_LINES), ""
    return r"%d\baselineskip" % (HEADING_LINES + TEXT_LINES_AFTER_HEADING), ""


def _size_percent(size: str) -> int:
    """Baseline of a table font as a percentage of the 10 pt text's (12 pt)."""
    return {r"\small": 92, r"\footnotesize": 80, r"\scriptsize": 67}.get(size, 100)


def visit_section_latex(self: Any, node: nodes.section) -> None:
    if self.this_is_the_title:
        # The root document (the introduction): Sphinx prints its title on the cover only, so
        # it would run on under the contents, untitled, with "Contents" in its running head.
        LaTeXTranslator.visit_section(self, node)
        title = self.encode(node[0].astext()) if isinstance(node[0], nodes.title) else ""
        if title:
            self.body.append("\\chapter*{%s}\\addcontentsline{toc}{chapter}{%s}"
                             "\\markboth{%s}{%s}\n" % (title, title, title, title))
        return
    LaTeXTranslator.visit_section(self, node)
    level = self.sectionlevel
    if level < 1 or self.sectionnames[min(level, len(self.sectionnames) - 1)] in ("part", "chapter"):
        return
    length, measure = keep_with_heading(node, lambda uri: self.builder.images.get(uri))
    # A page that holds only the floats \FloatBarrier put out has no \pagegoal yet, so
    # \Needspace would find room without limit there: a zero-height rule starts the page first.
    self.body.append("\\FloatBarrier\\nointerlineskip\\hrule height0pt\\relax%s\\Needspace{%s}\n"
                     % (measure, length))


def visit_admonition_latex(self: Any, node: nodes.Element) -> None:
    if "warning" in node.get("classes", []):
        self.body.append("\n\\begin{sphinxadmonition}{warning}")
        self.no_latex_floats += 1
        return
    LaTeXTranslator.visit_admonition(self, node)


class web_only(nodes.inline):  # noqa: N801 (docutils node naming)
    """Text for the web book only (the ``{web}`` role)."""


def web_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
             options: Any = None, content: Any = None) -> tuple[list[nodes.Node], list]:
    return [web_only(rawtext, text, classes=["nhmg-web-only"])], []


def _skip(self: Any, node: nodes.Node) -> None:
    raise nodes.SkipNode


def summary_first(tex: str) -> str:
    """``tex`` with the block between the summary's markers moved before the table of
    contents (unchanged when either is missing)."""
    from nhmg_lib.book.summary import SUMMARY_BEGIN, SUMMARY_END

    start, end, toc = tex.find(SUMMARY_BEGIN), tex.find(SUMMARY_END), tex.find("\\sphinxtableofcontents")
    if min(start, end, toc) < 0 or not toc < start < end:
        return tex
    end += len(SUMMARY_END)
    block = tex[start:end]
    before = tex.rfind("\\pagestyle{plain}", 0, toc)
    at = before if before >= 0 and tex[before:toc].strip() == "\\pagestyle{plain}" else toc
    return tex[:at] + block + "\n" + tex[at:start] + tex[end:]


def _move_summary(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.name != "latex":
        return
    from pathlib import Path

    for tex in Path(app.outdir).glob("*.tex"):
        text = tex.read_text(encoding="utf-8")
        moved = summary_first(text)
        if moved != text:
            tex.write_text(moved, encoding="utf-8")


def setup(app: Any) -> dict[str, Any]:
    app.connect("build-finished", _move_summary)
    app.add_role("web", web_role)
    app.add_node(web_only, html=(lambda s, n: s.visit_inline(n), lambda s, n: s.depart_inline(n)),
                 latex=(_skip, None), text=(lambda s, n: None, lambda s, n: None),
                 man=(_skip, None), texinfo=(_skip, None))
    app.add_node(nodes.section, override=True,
                 latex=(visit_section_latex, LaTeXTranslator.depart_section))
    app.add_node(nodes.admonition, override=True,
                 latex=(visit_admonition_latex, LaTeXTranslator.depart_admonition))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
