"""The chapters as plain Jupyter notebooks: ``make notebooks`` and the site's ``.ipynb`` downloads.

A chapter (``book/<name>.md``, a MyST notebook) is read with jupytext, run cell by cell in a
Jupyter kernel of this environment (nbclient), and written as an executed ``.ipynb``. Its
Markdown is made readable outside the book: each ``{glue:text}`key:fmt``` becomes the value the
chapter glued, each ``{numref}`table-2``` the exhibit's number ("Table 2", from
:mod:`nhmg_lib.report.exhibits`), and each ``{glue:figure}`` block its caption (the figure itself
is displayed by the cell that makes it). Outside ``nhmg build`` a chapter finds its data itself
(:func:`nhmg_lib.book.chapter.setup`): the real files when present or downloadable, else
synthetic data, with the banner saying so.

    chapters()                              # book/*.md in the order of _toc.yml
    inject_parameters(nb, {"resamples": 50}) # papermill-style: a cell after the `parameters` one
    execute(nb, cwd=..., parameters={...})  # the same, then run
    write_notebooks("notebooks")            # execute every chapter, write notebooks/<name>.ipynb
    render_markup(nb)                       # the substitutions above, on an executed notebook
"""

from __future__ import annotations

import ast
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from nhmg_lib.report.exhibits import label_of

__all__ = ["chapters", "read_chapter", "execute", "inject_parameters", "parameters_cell", "glued", "render_markup", "for_download",
           "write_notebooks", "from_build", "GLUE_PREFIX"]

#: Mime prefix myst-nb's ``glue(..., display=False)`` puts on the glued bundle.
GLUE_PREFIX = "application/papermill.record/"

_ROLE = re.compile(r"\{(glue|glue:text|glue:md|numref|web)\}`([^`]*)`")
_GLUE_FIGURE = re.compile(r"^(`{3,}|:{3,})\{glue:figure\}\s*(\S+)[^\n]*\n(.*?)^\1\s*$",
                          re.MULTILINE | re.DOTALL)


def _root(root: str | os.PathLike | None) -> Path:
    if root is not None:
        return Path(root)
    from nhmg_lib.book.build import book_root

    return book_root()


def chapters(root: str | os.PathLike | None = None) -> list[Path]:
    """The chapter sources listed in ``_toc.yml`` (root page first), in the book's order."""
    import yaml

    root = _root(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries or ():
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections") or ())

    walk(toc.get("chapters") or ())
    for part in toc.get("parts") or ():
        walk(part.get("chapters") or ())
    return [root / f"{f}.md" for f in files]


def read_chapter(path: str | os.PathLike):
    """A chapter's MyST Markdown as an (unexecuted) notebook with this environment's kernel."""
    import jupytext

    nb = jupytext.read(str(path))
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def parameters_cell(nb) -> int:
    """Index of the chapter's code cell tagged ``parameters`` (error when there is none)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", ()):
            return i
    raise ValueError("the notebook has no code cell tagged 'parameters'")


def inject_parameters(nb, parameters: Mapping[str, Any]):
    """Put a cell of assignments (tagged ``injected-parameters``) right after the
    ``parameters`` cell, as papermill does: the chapter then runs with these values. Only the
    chapter's own parameter names are accepted. Returns ``nb``."""
    import nbformat

    from nhmg_lib.book.parameters import FIELDS

    unknown = sorted(set(parameters) - set(FIELDS))
    if unknown:
        raise ValueError(f"{unknown} are not chapter parameters; choose among {list(FIELDS)}")
    at = parameters_cell(nb)
    source = "# Injected parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters", "hide-input"]})
    nb.cells.insert(at + 1, cell)
    return nb


def execute(nb, *, cwd: str | os.PathLike, timeout: int = 900, env: Mapping[str, str] | None = None,
            parameters: Mapping[str, Any] | None = None):
    """Run every cell of ``nb`` in a fresh kernel of this Python, in directory ``cwd``; errors raise.

    ``env`` replaces the kernel's environment (default: this process's); ``parameters``
    overrides the chapter's parameters cell (:func:`inject_parameters`)."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    if parameters:
        inject_parameters(nb, parameters)

    # "python3" is this interpreter (jupyter_client starts a "python" kernel with
    # sys.executable). Local sockets rather than TCP ports, which another process may take
    # between their choice and the kernel's bind ("Address already in use").
    with tempfile.TemporaryDirectory(prefix="nhmg-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
        client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=False,
                                resources={"metadata": {"path": str(cwd)}})
        try:
            return client.execute(**({"env": dict(env)} if env is not None else {}))
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)


def glued(nb) -> dict[str, dict[str, Any]]:
    """``{name: mime bundle}`` of everything the notebook's cells glued (myst-nb ``glue``)."""
    found: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", ()) if cell.cell_type == "code" else ():
            meta = (out.get("metadata") or {}).get("scrapbook")
            if not meta or "name" not in meta:
                continue
            prefix = meta.get("mime_prefix", "")
            found[meta["name"]] = {k[len(prefix):]: v for k, v in (out.get("data") or {}).items()
                                   if k.startswith(prefix)}
    return found


def _glue_text(bundle: Mapping[str, Any] | None, spec: str, markdown: bool = False) -> str | None:
    if markdown and bundle is not None and "text/markdown" in bundle:  # {glue:md}: the Markdown
        raw = bundle["text/markdown"]
        return "".join(raw) if isinstance(raw, list) else str(raw)
    if bundle is None or "text/plain" not in bundle:
        return None
    raw = bundle["text/plain"]
    raw = "".join(raw) if isinstance(raw, list) else str(raw)
    if not spec:
        try:
            value = ast.literal_eval(raw)
            return value if isinstance(value, str) else raw
        except (ValueError, SyntaxError):
            return raw
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return raw


def _numref(target: str) -> str:
    m = re.fullmatch(r"(.*?)\s*<([^>]+)>", target)
    text, name = (m.group(1), m.group(2)) if m else ("", target)
    label = label_of(name.strip())
    if not label:  # the book's own exhibits are numbered by the build (B1, B2, ...)
        label = "the " + ("figure" if name.startswith("fig") else "table") + " below"
    if text:
        number = label.split(" ", 1)[-1]
        return text.replace("%s", number).replace("{number}", number)
    return label


def render_markup(nb):
    """Replace the book's MyST roles and glued-figure blocks in ``nb``'s Markdown cells by what
    the book would print (values from the notebook's own outputs); returns ``nb``."""
    values = glued(nb)

    def role(m: re.Match) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind == "numref":
            return _numref(arg)
        if kind == "web":  # text for the interactive book only (nhmg_lib.book.sphinx_print)
            return arg
        name, _, spec = arg.partition(":")
        text = _glue_text(values.get(name.strip()), spec.strip() if kind == "glue:text" else "",
                          markdown=kind == "glue:md")
        return text if text is not None else m.group(0)

    def figure(m: re.Match) -> str:
        name = m.group(2)
        body = m.group(3)
        ref = re.search(r"^:name:\s*(\S+)", body, re.MULTILINE)
        caption = re.sub(r"^:[a-z-]+:.*\n?", "", body, flags=re.MULTILINE).strip()
        label = label_of(ref.group(1)) if ref else ""
        lead = f"**{label}.** " if label else ""
        return f"{lead}{caption}\n\n*(The figure is the output of the code cell above: `{name}`.)*"

    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = _GLUE_FIGURE.sub(figure, cell.source)
        cell.source = _ROLE.sub(role, text)
    return nb


def for_download(nb):
    """An executed book chapter made to read in any Jupyter: markup rendered
    (:func:`render_markup`), and a figure's HTML that needs the book's copy of plotly.js dropped
    where the output also carries a picture of it (Jupyter then shows the PNG)."""
    render_markup(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", ()) if cell.cell_type == "code" else ():
            data = out.get("data") or {}
            page = data.get("text/html", "")
            page = "".join(page) if isinstance(page, list) else page
            if "image/png" in data and "Plotly.newPlot" in page and "<script src" not in page:
                del data["text/html"]
    return nb


def _write(nb, path: Path) -> Path:
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, path)
    return path


def write_notebooks(out_dir: str | os.PathLike, root: str | os.PathLike | None = None, *,
                    run: bool = True, timeout: int = 900,
                    log=lambda m: print(m, file=sys.stderr, flush=True)) -> list[Path]:
    """Write every chapter as ``out_dir/<name>.ipynb``, executed (``run``) and with its markup
    rendered; returns the paths. A failing cell raises (nbclient's ``CellExecutionError``)."""
    import time

    root, out = _root(root), Path(out_dir)
    written = []
    for src in chapters(root):
        t0 = time.perf_counter()
        nb = read_chapter(src)
        if run:
            nb = execute(nb, cwd=src.parent, timeout=timeout)
            render_markup(nb)
        written.append(_write(nb, out / f"{src.stem}.ipynb"))
        log(f"nhmg notebooks: {written[-1]} ({time.perf_counter() - t0:.1f} s)")
    return written


def from_build(build_dir: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """The book build's executed chapters (``_build/jupyter_execute/book/*.ipynb``) with their
    markup rendered, written to ``out_dir`` (the site's downloads); returns the paths."""
    import nbformat

    written = []
    for path in sorted((Path(build_dir) / "jupyter_execute" / "book").glob("*.ipynb")):
        nb = for_download(nbformat.read(str(path), as_version=4))
        written.append(_write(nb, Path(out_dir) / path.name))
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m nhmg_lib.book.notebooks [OUT]`` (``make notebooks``): every chapter executed
    into ``OUT`` (default ``notebooks``) as ``<chapter>.ipynb``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nhmg_lib.book.notebooks",
                                     description="Write every chapter as an executed notebook.")
    parser.add_argument("out", nargs="?", default="notebooks", help="output folder (default: notebooks)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    args = parser.parse_args(argv)
    write_notebooks(args.out, timeout=args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
