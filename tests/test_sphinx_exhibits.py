"""The Sphinx extension that numbers tables and figures as the paper does (nhmg_lib.book.sphinx_exhibits)
and the exhibit registry it reads (nhmg_lib.report.exhibits). The whole-book build (test_book.py)
checks the rendered pages; here the numbering rule and the mime renderer, on small cases."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

from nhmg_lib.report import exhibits
from nhmg_lib.book.sphinx_exhibits import TableMimeRenderer, _csv_name, exhibit_table, paper_numbers
from nhmg_lib.report.tables import TABLE_MIME, publication_table

REPO = Path(__file__).resolve().parents[1]


def test_paper_exhibits_get_paper_numbers_and_the_rest_the_book_series():
    sphinx = {
        "book/a": {"figure": {"fig-flow": (1,), "fig-extra": (2,)},
                   "table": {"id1": (1,), "table-2": (2,), "fig-spline": (3,)}},
        "book/b": {"figure": {"fig-spline": (3,)},
                   "table": {"table-s1": (4,), "id1": (5,)},
                   "code-block": {"listing": (1,)}},
    }
    out = paper_numbers(sphinx)
    assert out["book/a"]["figure"] == {"fig-flow": ("1",), "fig-extra": ("B1",)}
    assert out["book/b"]["figure"] == {"fig-spline": ("2",)}
    # a table that borrows a figure's name is not that figure: book series
    assert out["book/a"]["table"] == {"id1": ("B1",), "table-2": ("2",), "fig-spline": ("B2",)}
    assert out["book/b"]["table"] == {"table-s1": ("S1",), "id1": ("B3",)}
    assert out["book/b"]["code-block"] == {"listing": (1,)}  # other kinds untouched


def test_registry_is_consistent_with_the_book():
    names = [e.name for e in exhibits.EXHIBITS]
    assert len(names) == len(set(names))
    labels = [e.label for e in exhibits.EXHIBITS]
    assert len(labels) == len(set(labels))
    # what the paper numbers: Tables 1-8, S1-S3; Figures 1-5, S1
    assert sorted(e.number for e in exhibits.EXHIBITS if e.kind == "table") == sorted(
        [str(i) for i in range(1, 9)] + ["S1", "S2", "S3"])
    assert sorted(e.number for e in exhibits.EXHIBITS if e.kind == "figure") == sorted(
        [str(i) for i in range(1, 6)] + ["S1"])
    # each chapter is in the book (test_book checks the numbered exhibit on its page)
    toc = (REPO / "_toc.yml").read_text()
    for e in exhibits.EXHIBITS:
        assert f"book/{e.chapter}" in toc, e
    assert exhibits.number_of("table-s3") == "S3" and exhibits.number_of("nope") is None
    assert exhibits.label_of("fig-forest-smi") == "Figure S1" and exhibits.label_of("x") == ""


def test_readme_exhibit_map_lists_every_exhibit():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exhibit map", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for line in section.splitlines():
        if not line.startswith("| "):
            continue
        first = line.split("|")[1]
        for kind, numbers in re.findall(r"(Table|Figure)s? ((?:S?\d+(?:, | and ))*S?\d+)", first):
            listed |= {f"{kind} {n}" for n in re.split(r", | and ", numbers)}
    assert listed == {e.label for e in exhibits.EXHIBITS}


def _document():
    return new_document("<test>", get_default_settings(Parser))


def test_mime_renderer_makes_a_named_target():
    table = publication_table(pd.DataFrame({"x": [1.0]}, index=["a"]), caption="Cap",
                              name="table-2")
    document = _document()
    renderer = SimpleNamespace(renderer=SimpleNamespace(document=document))
    data = SimpleNamespace(mime_type=TABLE_MIME, content=table.payload(), string="")
    [node] = TableMimeRenderer.handle_mime(renderer, data, False)
    assert isinstance(node, exhibit_table)
    assert node["ids"] == ["table-2"] and node["names"] == ["table-2"]
    assert document.nameids["table-2"] == "table-2" and document.nametypes["table-2"] is True
    assert node["payload"]["caption"] == "Cap"
    # other mime types and inline (glue) use are left to myst-nb
    other = SimpleNamespace(mime_type="text/html", content="<b>", string="<b>")
    assert TableMimeRenderer.handle_mime(renderer, other, False) is None
    assert TableMimeRenderer.handle_mime(renderer, data, True) is None
    assert (TABLE_MIME, 1) == TableMimeRenderer.mime_priority_overrides[0][1:]


def test_unnamed_table_has_no_target_and_a_readable_csv_name():
    table = publication_table(pd.DataFrame({"x": [1.0]}, index=["a"]),
                              caption="P for interaction, by subgroup (Model 3)")
    renderer = SimpleNamespace(renderer=SimpleNamespace(document=_document()))
    data = SimpleNamespace(mime_type=TABLE_MIME, content=table.payload(), string="")
    [node] = TableMimeRenderer.handle_mime(renderer, data, False)
    assert node["ids"] == [] and node["names"] == []
    assert _csv_name("book/subgroups", node, 3) == "subgroups-p-for-interaction-by-subgroup.csv"
    node["names"] = ["table-7"]
    assert _csv_name("book/mediation", node, 1) == "table-7.csv"
    bare = exhibit_table(payload={"caption": ""})
    assert _csv_name("book/x", bare, 2) == "x-table-2.csv"


def test_entry_point_is_installed():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points().select(group="myst_nb.mime_renderers")}
    assert eps.get("nhmg_table") == "nhmg_lib.book.sphinx_exhibits:TableMimeRenderer"
