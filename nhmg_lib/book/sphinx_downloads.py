"""Sphinx extension: the header's download menu offers the chapter as ``.ipynb`` and the typeset
PDF of the whole book.

* Each page made from a notebook gets an ``.ipynb`` entry: the chapter with the outputs of the
  build's execution (from its execution cache), with its MyST markup rendered
  (:func:`nhmg_lib.book.notebooks.for_download`: markup rendered, figures as pictures), served from ``_sources/<page>.ipynb`` where
  sphinx-book-theme links it.
* When ``nhmg_book_pdf`` names an existing PDF (``nhmg build`` sets it to
  ``_build/latex/book.pdf`` once that exists), the PDF is copied to ``_downloads/`` and every
  page's download menu links it ("Book (PDF)"). Without a PDF there is no entry, so no dead link.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

__all__ = ["setup", "PDF_DOWNLOAD"]

#: Where the book's PDF is served, relative to the HTML output.
PDF_DOWNLOAD = "_downloads/book.pdf"


def _executed(app: Any, pagename: str) -> Path:
    return Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"


def _pdf(app: Any) -> Path | None:
    path = app.config.nhmg_book_pdf
    return Path(path) if path and Path(path).is_file() else None


def _is_html(app: Any) -> bool:
    return getattr(app.builder, "format", "") == "html"


def notebook_entry(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Before the theme builds its buttons: say this page has an executed notebook."""
    if _is_html(app) and doctree is not None and _executed(app, pagename).is_file():
        context["ipynb_source"] = f"{pagename}.ipynb"


def pdf_entry(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """After the theme built its buttons: add the book's PDF to the download menu, and call the
    theme's ".pdf" entry what it does (it prints the page)."""
    if not _is_html(app):
        return
    for button in context.get("header_buttons") or ():
        if button.get("label") != "download-buttons":
            continue
        for entry in button["buttons"]:
            if entry.get("label") == "download-pdf-button":
                entry["text"] = "Print page"
        if _pdf(app) is not None:
            button["buttons"].insert(0, {
                    "type": "link",
                    "url": context["pathto"](PDF_DOWNLOAD, 1),
                    "text": "Book (PDF)",
                    "tooltip": "Download the typeset book (PDF)",
                    "icon": "fas fa-book",
                    "label": "download-book-pdf-button",
                })


def _executed_notebook(app: Any, docname: str):
    """The chapter with the outputs of its cached execution (myst-nb writes the notebook to
    ``jupyter_execute`` without outputs when they come from the cache); None without a match."""
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook

    src = Path(app.env.doc2path(docname))
    nb = read_myst_markdown_notebook(src.read_text(encoding="utf-8"), path=src)
    try:
        _, merged = get_cache(app.env.mystnb_config.execution_cache_path).merge_match_into_notebook(nb)
    except KeyError:  # not executed through the cache (e.g. execution turned off)
        return None
    return merged


def copy_downloads(app: Any, exception: Exception | None) -> None:
    """Write the chapters' notebooks and copy the PDF into the HTML output."""
    if exception is not None or not _is_html(app):
        return
    import nbformat

    from nhmg_lib.book.notebooks import for_download

    out = Path(app.outdir)
    for docname in sorted(app.env.found_docs):
        src = _executed(app, docname)
        dst = out / "_sources" / f"{docname}.ipynb"
        if src.is_file() and not (dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime):
            nb = _executed_notebook(app, docname)
            if nb is None:
                nb = nbformat.read(str(src), as_version=4)
            dst.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(for_download(nb), str(dst))
    pdf = _pdf(app)
    if pdf is not None:
        target = out / PDF_DOWNLOAD
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pdf, target)


def setup(app: Any) -> dict[str, Any]:
    app.add_config_value("nhmg_book_pdf", "", "html")
    app.connect("html-page-context", notebook_entry, priority=500)  # the theme's runs at 501
    app.connect("html-page-context", pdf_entry, priority=502)
    app.connect("build-finished", copy_downloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
