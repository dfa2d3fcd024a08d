"""Figure 1 (flow chart) and the paper-vs-book count table."""

from __future__ import annotations

import base64

import pytest

from nhmg_lib.report import figures, flow_chart, published
from nhmg_lib.cohort.flow import FlowStep


@pytest.fixture
def flow() -> list[FlowStep]:
    return [
        FlowStep("start", "NHANES participants (DEMO)", 0, 39156),
        FlowStep("age", "Aged < 20 years", 16500, 22656),
        FlowStep("asm_bmi", "Without ASM or BMI data", 11800, 10856, {"aged_60_plus": 7700}),
        FlowStep("diet", "Missing two days of reliable 24 h dietary recall", 1950, 8906),
        FlowStep("covariates", "Lacking covariate data", 3100, 5806),
        FlowStep("final", "Final cohort, aged 20-59", 0, 5806),
    ]


def test_published_flow_shape():
    rows = flow_chart.paper_flow()
    assert rows[0][2] == 39156 and rows[-1][2] == 5793
    assert all(len(r) == 3 for r in rows)
    assert len(rows) == len(published.FLOW)


def test_flow_chart_outputs_for_both_builds(flow):
    fig = flow_chart.flow_chart(flow)
    bundle = fig._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert base64.b64decode(bundle["application/pdf"])[:5] == b"%PDF-"
    assert "text/html" not in bundle  # no plotly figure: the SVG is the HTML rendering
    assert "5,806" in bundle["text/plain"] and "16,500" in bundle["text/plain"]


def test_flow_chart_text_has_counts(flow):
    fig = flow_chart.flow_chart(flow)
    texts = [t.get_text() for t in fig.mpl.axes[0].texts]
    joined = "\n".join(texts)
    for n in ("39,156", "16,500", "11,800", "7,700", "1,950", "3,100", "5,806"):
        assert n in joined
    assert "paper: 5,793" in joined  # the paper's count beside the book's
    assert "aged ≥ 60" in joined
    no_paper = "\n".join(t.get_text() for t in flow_chart.flow_chart(flow, paper=False).mpl.axes[0].texts)
    assert "paper:" not in no_paper


def test_flow_comparison_table(flow):
    t = flow_chart.flow_comparison(flow)
    assert t.columns == ["Paper", "Book", "Difference"] * 2
    assert [g for g, _ in t.column_groups] == ["Excluded", "Remaining"]
    assert len(t.cells) == 5
    age = t.cells[1]
    assert age[:3] == ["16,539", "16,500", "-39"]
    assert age[3:] == ["22,617", "22,656", "+39"]
    assert "7,700" in t.row_labels[2]
    assert t.cells[0][:3] == ["", "", ""]  # no exclusion at the start
    assert "<table" in t._repr_html_() and r"\begin{xltabular}" in t._repr_latex_()


def test_book_figure_with_plotly_uses_no_cdn(flow):
    go = pytest.importorskip("plotly.graph_objects")
    fig = figures.BookFigure(flow_chart.flow_chart(flow).mpl, go.Figure(go.Bar(x=[1, 2], y=[3, 4])), "bars")
    bundle = fig._repr_mimebundle_()
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html
    assert "<script src" not in html and "cdn" not in html.lower()
    assert "image/png" in bundle and "application/vnd.plotly.v1+json" in bundle


def test_save(flow, tmp_path):
    fig = flow_chart.flow_chart(flow)
    fig.save(tmp_path / "f.png")
    fig.save(tmp_path / "f.pdf")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"


def test_book_figure_narrow_layout_and_toolbar(flow):
    """A ``narrow`` update is applied below ``narrow_width`` px and the figure's own values
    restored above it; the toolbar keeps to a few buttons; ``min_width`` scrolls sideways."""
    go = pytest.importorskip("plotly.graph_objects")
    import json
    import re

    pfig = go.Figure(go.Bar(x=[1, 2], y=[3, 4]), layout={"height": 300, "xaxis": {"domain": [0, 0.4]}})
    bf = figures.BookFigure(flow_chart.flow_chart(flow).mpl, pfig, "bars",
                            narrow={"height": 500, "xaxis.domain": [0, 1]}, narrow_width=550)
    html = bf._repr_mimebundle_()["text/html"]
    narrow = json.loads(re.search(r"var narrow = (\{.*?\}), wide", html).group(1))
    wide = json.loads(re.search(r"wide = (\{.*?\}), state", html).group(1))
    assert narrow == {"height": 500, "xaxis.domain": [0, 1]}
    assert wide == {"height": 300, "xaxis.domain": [0, 0.4]}
    assert "< 550" in html and "Plotly.relayout" in html
    assert '"displaylogo": false' in html and '"lasso2d"' in html
    assert "nhmg-plotly-scroll" not in html
    wide_only = figures.BookFigure(flow_chart.flow_chart(flow).mpl, pfig, "bars", min_width=700)
    assert 'min-width: 700px' in wide_only._repr_mimebundle_()["text/html"]
    unset = figures.BookFigure(flow_chart.flow_chart(flow).mpl, pfig, "bars", narrow={"xaxis2.domain": [0, 1]})
    with pytest.raises(ValueError, match="xaxis2.domain"):
        unset._repr_mimebundle_()
