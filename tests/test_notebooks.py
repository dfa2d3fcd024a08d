"""Every chapter runs as a plain Jupyter notebook, outside the book build, and shows its exhibits.

Each chapter (``book/*.md``) is read with jupytext and executed by nbclient in a fresh kernel
of this environment, as a reader running it in Jupyter would: no context exported by
``nhmg build``, the data mode left at ``auto``, no NHANES files, and a download host that
refuses connections (a closed local port), so the first cell after the parameters must fall back
to synthetic data by itself. Then every figure the chapter glues must be displayed as a picture (PNG or SVG) or a
plotly figure, every table as HTML, each of the paper's exhibits of the chapter must be there,
and the Markdown rendered for the downloads must hold no MyST markup.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from nhmg_lib.book import notebooks
from nhmg_lib.report.exhibits import EXHIBITS
from nhmg_lib.report.tables import TABLE_MIME

pytestmark = [pytest.mark.book, pytest.mark.slow]

CHAPTERS = notebooks.chapters()
PICTURES = ("image/png", "image/svg+xml", "application/vnd.plotly.v1+json")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on leaving: connections are refused


@pytest.fixture(scope="module")
def executed(book_data_env, tmp_path_factory):
    """``{chapter stem: (executed notebook, seconds)}``, every chapter run once, offline."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("NHMG_")}
    env.update(book_data_env)
    env.update({
        "NHMG_DATA": "auto",
        "NHMG_DATA_DIR": str(tmp_path_factory.mktemp("no-nhanes-files")),
        "NHMG_BASE_URL": f"http://127.0.0.1:{_closed_port()}/Nchs/Data/Nhanes/Public",
        "NHMG_CONNECT_TIMEOUT": "2",
        "PYTHONPATH": os.pathsep.join(p for p in (str(notebooks.chapters()[0].parents[1]),
                                                   os.environ.get("PYTHONPATH", "")) if p),
    })
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend, as in Jupyter
    out = {}
    for path in CHAPTERS:
        t0 = time.perf_counter()
        nb = notebooks.execute(notebooks.read_chapter(path), cwd=path.parent, timeout=600, env=env)
        out[path.stem] = (nb, time.perf_counter() - t0)
    return out


def _outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.get("outputs", ())


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def test_first_cell_falls_back_to_synthetic_data_offline(executed):
    for stem, (nb, _) in executed.items():
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", ()), stem
        first = code[1]  # the set-up cell, right after the parameters
        shown = " ".join(_text(o.get("data", {}).get("text/html", "")) + _text(o.get("text", ""))
                         for o in first.outputs)
        assert "SYNTHETIC" in shown.upper(), stem


def test_every_glued_figure_is_displayed(executed):
    total = 0
    for stem, (nb, _) in executed.items():
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        names = re.findall(r"\{glue:figure\}\s*(\S+)", source)
        shown = {}
        for out in _outputs(nb):
            meta = (out.get("metadata") or {}).get("scrapbook") or {}
            if meta.get("name") in names:
                shown[meta["name"]] = (meta.get("mime_prefix", ""), set(out.get("data", {})))
        for name in names:
            assert name in shown, (stem, name)
            prefix, mimes = shown[name]
            assert prefix == "", (stem, name, "glued without display: invisible in Jupyter")
            assert mimes & set(PICTURES), (stem, name, mimes)
        total += len(names)
    assert total >= 7  # Figures 1, 2, 3, S1, 4, 5 and the specification plot


def test_every_table_is_displayed_and_the_papers_exhibits_are_there(executed):
    for stem, (nb, _) in executed.items():
        tables = [o["data"] for o in _outputs(nb) if TABLE_MIME in o.get("data", {})]
        for data in tables:  # Jupyter shows the HTML rendering of each
            assert 'class="nhmg-table"' in _text(data.get("text/html", "")), stem
        names = {d[TABLE_MIME].get("name") for d in tables}
        glued = set(re.findall(r":name:\s*(\S+)", "\n".join(
            c.source for c in nb.cells if c.cell_type == "markdown")))
        for ex in EXHIBITS:
            if ex.chapter == stem:
                assert ex.name in (names if ex.kind == "table" else glued), (stem, ex.name)
    assert sum(len([o for o in _outputs(nb) if TABLE_MIME in o.get("data", {})])
               for nb, _ in executed.values()) >= 20


def test_markup_is_rendered_for_readers_outside_the_book(executed):
    import copy

    def prose(nb) -> str:
        return " ".join(c.source for c in nb.cells if c.cell_type == "markdown").replace("\n", " ")

    for stem, (nb, _) in executed.items():
        text = prose(notebooks.for_download(copy.deepcopy(nb)))
        assert not re.search(r"\{(glue|glue:text|numref|glue:figure)\}", text), stem
    nb = executed["magnesium_lmm_smi"][0]
    text = prose(notebooks.for_download(copy.deepcopy(nb)))
    assert "odds ratios, Table 2)" in text and "coefficients, Table 3)" in text
    # a glued count appears formatted as the book prints it ({glue:text}`n_excluded:,`)
    n = int(notebooks.glued(nb)["n_excluded"]["text/plain"])
    assert f"leaves out {n:,} members" in text


def test_run_time_is_affordable(executed):
    seconds = {stem: round(t, 1) for stem, (_, t) in executed.items()}
    assert sum(seconds.values()) < 600, seconds
