"""Sphinx extension: tables and figures numbered as in the paper, tables with CSV downloads.

* A :class:`~nhmg_lib.report.tables.PublicationTable` output reaches the build as the mime type
  ``application/vnd.nhmg.table+json``; :class:`TableMimeRenderer` (a myst-nb mime renderer,
  registered as an entry point in ``pyproject.toml``) turns it into an :class:`exhibit_table`
  node. With a ``name`` the node is a cross-reference target numbered in Sphinx's "table"
  series, so ``{numref}`table-2``` works as it does for figures.
* After Sphinx numbers the figures and tables (``env-get-updated``), :func:`renumber` gives the
  paper's exhibits (:data:`nhmg_lib.report.exhibits.EXHIBITS`) the paper's numbers and numbers every
  other table and figure in the book's own series (B1, B2, ...). HTML captions and ``numref``
  text read these numbers; for LaTeX, which counts by itself, each numbered table and figure
  sets ``\\thetable``/``\\thefigure`` to the same number just before its caption.
* In HTML each table is followed by a link to its cells as CSV (``_downloads/tables/``); a
  table wider than the text column stays in it, wrapping and scrolling in its own box
  (:func:`widen_without_sidebar`).
* An executed figure's ``<img>`` gets its figure's description as alt text
  (:func:`image_alt_from_svg`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.osutil import relative_uri
from sphinx.writers.latex import LaTeXTranslator

from nhmg_lib.report.exhibits import BOOK_SERIES, BY_NAME
from nhmg_lib.report.tables import TABLE_MIME, PublicationTable

CSV_DIR = "_downloads/tables"


class exhibit_table(nodes.General, nodes.Element):  # noqa: N801 (docutils node naming)
    """A publication table in the doctree; ``node["payload"]`` is ``PublicationTable.payload()``."""


def _table_title(node: nodes.Element) -> str | None:
    return node["payload"].get("caption") or None


class TableMimeRenderer:
    """myst-nb mime renderer: ``application/vnd.nhmg.table+json`` -> :class:`exhibit_table`."""

    mime_priority_overrides = [("*", TABLE_MIME, 1)]

    @staticmethod
    def handle_mime(renderer: Any, data: Any, inline: bool) -> list[nodes.Element] | None:
        if inline or data.mime_type != TABLE_MIME:
            return None
        payload = data.content if isinstance(data.content, dict) else json.loads(data.string)
        node = exhibit_table(payload=payload, classes=["output"])
        name = payload.get("name")
        if name:
            node["names"].append(nodes.fully_normalize_name(name))
            renderer.renderer.document.note_explicit_target(node, node)
        return [node]


# ----------------------------------------------------------------------------- numbering

def paper_numbers(toc_fignumbers: dict[str, dict[str, dict[str, tuple]]]) -> dict[str, dict[str, dict[str, tuple]]]:
    """Sphinx's sequential numbers -> the paper's number for its exhibits (by id), and
    ``B1, B2, ...`` (in Sphinx's order, per kind) for every other table and figure."""
    book_own: dict[str, list[tuple[tuple, str, str]]] = {}
    out: dict[str, dict[str, dict[str, tuple]]] = {}
    for docname, by_type in toc_fignumbers.items():
        for figtype, numbers in by_type.items():
            target = out.setdefault(docname, {}).setdefault(figtype, {})
            for node_id, number in numbers.items():
                exhibit = BY_NAME.get(node_id)
                if figtype not in ("table", "figure"):
                    target[node_id] = number
                elif exhibit is not None and exhibit.kind == figtype:
                    target[node_id] = (exhibit.number,)
                else:
                    book_own.setdefault(figtype, []).append((number, docname, node_id))
    for figtype, items in book_own.items():
        for k, (_, docname, node_id) in enumerate(sorted(items), start=1):
            out[docname][figtype][node_id] = (f"{BOOK_SERIES}{k}",)
    return out


def renumber(app: Any, env: Any) -> list[str]:
    env.toc_fignumbers = paper_numbers(env.toc_fignumbers)
    return []


def _number(env: Any, docname: str, figtype: str, node: nodes.Element) -> str | None:
    if not node["ids"]:
        return None
    number = env.toc_fignumbers.get(docname, {}).get(figtype, {}).get(node["ids"][0])
    return ".".join(map(str, number)) if number else None


# ----------------------------------------------------------------------------- HTML

def _csv_name(docname: str, node: nodes.Element, index: int) -> str:
    """``table-2.csv`` for a named table; ``<page>-<caption words>.csv`` for one Sphinx gave
    an automatic id (``id1``) or none."""
    if node["names"]:
        stem = node["names"][0]
    else:
        page = Path(docname).name
        words = [w.lower() for w in re.findall(r"[A-Za-z0-9]+", node["payload"].get("caption", ""))[:5]]
        stem = "-".join([page, *words]) if words else f"{page}-table-{index}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem) + ".csv"


def visit_table_html(self: Any, node: nodes.Element) -> None:
    docname = self.builder.current_docname
    number = _number(self.builder.env, docname, "table", node)
    label = self.config.numfig_format["table"] % number if number else ""
    table = PublicationTable.from_payload(node["payload"], label=label)
    # Unnumbered tables of a page get a running index so their CSV names stay distinct.
    index = getattr(self, "_nhmg_table_index", 0) + 1
    self._nhmg_table_index = index
    csv_name = _csv_name(docname, node, index)
    path = Path(self.builder.outdir) / CSV_DIR / csv_name
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path)
    href = relative_uri(self.builder.get_target_uri(docname), f"{CSV_DIR}/{csv_name}")
    link = (f'<p class="nhmg-table-download"><a href="{href}" download="{csv_name}">'
            f"Download {label or 'this table'} as CSV</a></p>")
    self.body.append(table.to_html(anchor=node["ids"][0] if node["ids"] else "", after=link))
    raise nodes.SkipNode


# ----------------------------------------------------------------------------- LaTeX

def visit_table_latex(self: Any, node: nodes.Element) -> None:
    number = _number(self.builder.env, self.curfilestack[-1], "table", node)
    table = PublicationTable.from_payload(node["payload"])
    if number is None:
        self.body.append("\n" + table.to_latex() + "\n")
    else:
        target = "".join(self.hypertarget(i, anchor=False) for i in node["ids"])
        self.body.append("\n" + table.to_latex(number=number, target=target) + "\n")
    raise nodes.SkipNode


def visit_figure_latex(self: Any, node: nodes.Element) -> None:
    number = _number(self.builder.env, self.curfilestack[-1], "figure", node)
    if number is not None:
        self.body.append("\n\\renewcommand{\\thefigure}{%s}" % number)
    # the page the figure is called on and the page it is printed on (\nhmgmark, _config.yml)
    mark = number or (node["ids"][0] if node["ids"] else "")
    self.body.append("\n\\nhmgmark{called}{%s}" % mark)
    LaTeXTranslator.visit_figure(self, node)
    self.body.append("\\nhmgmark{printed}{%s}" % mark)


def visit_table_text(self: Any, node: nodes.Element) -> None:
    table = PublicationTable.from_payload(node["payload"])
    self.add_text(table.to_frame().to_string(index=False))
    raise nodes.SkipNode


def _skip(self: Any, node: nodes.Element) -> None:
    raise nodes.SkipNode


def widen_without_sidebar(app: Any, pagename: str, templatename: str, context: dict,
                          doctree: Any) -> None:
    """Keep wide tables in the text column. A table the theme would widen as a "full-width"
    block folds the page's contents list while it is in view (on a long page with several
    wide tables the list is an empty dropdown most of the time), and on a page without that
    list the theme's script fails on it (a console error). So every such block becomes
    ``nhmg-wide``: in the column, with a smaller font, its cells wrapping and, if still too
    wide, scrolling inside its own box (``_static/nhmg.css``)."""
    if "body" in context:
        context["body"] = context["body"].replace("nhmg-table-wrap full-width", "nhmg-table-wrap nhmg-wide")


_SVG_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def image_alt_from_svg(app: Any, doctree: nodes.document, docname: str) -> None:
    """An executed figure's image gets the figure's own description as its alt text.

    myst-nb writes a figure output to a file named by its hash and gives the ``<img>`` no alt,
    so the browser's text for it would be that path. :class:`~nhmg_lib.report.figures.BookFigure`
    writes its ``alt`` into the SVG's ``<title>``; this reads it back into the image node
    (on ``doctree-resolved``: myst-nb picks the output's image in a post-transform)."""
    import html as html_mod

    for img in doctree.findall(nodes.image):
        if img.get("alt") or not str(img.get("uri", "")).endswith(".svg"):
            continue
        uri = str(img["uri"])
        # the image collector has made ``uri`` relative to the source directory
        paths = [Path(app.srcdir) / uri, Path(app.env.relfn2path(uri, docname)[1]), Path(uri)]
        head = next((p.read_text(encoding="utf-8", errors="replace")[:4000]
                     for p in paths if p.is_file()), "")
        m = _SVG_TITLE.search(head)
        if m and m.group(1).strip():
            img["alt"] = html_mod.unescape(m.group(1).strip())


def setup(app: Any) -> dict[str, Any]:
    app.add_enumerable_node(
        exhibit_table, "table", _table_title,
        html=(visit_table_html, None), latex=(visit_table_latex, None),
        text=(visit_table_text, None), man=(_skip, None), texinfo=(_skip, None),
    )
    app.add_node(nodes.figure, override=True,
                 latex=(visit_figure_latex, LaTeXTranslator.depart_figure))
    # After Sphinx's own numbering (the toctree collector, default priority 500).
    app.connect("env-get-updated", renumber, priority=900)
    # After pydata-sphinx-theme has decided the page's secondary sidebar (priority 500).
    app.connect("html-page-context", widen_without_sidebar, priority=700)
    app.connect("doctree-resolved", image_alt_from_svg)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
