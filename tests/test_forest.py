"""Figures 3 / S1 as tabular forest plots (nhmg_lib.report.forest): columns with headers,
n and cases per row, the x axis at top and bottom, readable text and the paper's values."""

from __future__ import annotations

import numpy as np
import pytest

from nhmg_lib.analyses.subgroups import subgroup_analysis
from nhmg_lib.report import forest, published
from rhelpers import make_adults_frame


@pytest.fixture(scope="module")
def analyses() -> dict:
    frame = make_adults_frame(n=3000, n_strata=30, seed=5, domain_share=0.6)
    return {o: subgroup_analysis(frame, o, subgroups=["gender", "hypertension"]) for o in ("lmm", "ln_smi")}


def test_rows_are_a_table_with_counts_and_the_papers_values(analyses: dict) -> None:
    a = analyses["lmm"]
    rows = forest.forest_rows(a)
    # one header per subgroup, three quartile rows per level, the level named on its first row
    assert list(rows["kind"]) == ["header"] + ["term"] * 6 + ["header"] + ["term"] * 6
    assert list(rows["text"][:8]) == ["Gender", "Male", "", "", "Female", "", "", "Hypertension"]
    assert list(rows["term"][1:4]) == ["Q2", "Q3", "Q4"]
    src = a.rows.set_index(["subgroup", "level", "term"])
    q4_yes = rows.iloc[-1]
    assert q4_yes["n"] == src.loc[("hypertension", "yes", "q4"), "n_cell"]
    assert q4_yes["cases"] == src.loc[("hypertension", "yes", "q4"), "cases_cell"]
    assert q4_yes["level_cases"] == src.loc[("hypertension", "yes", "q4"), "events"]
    # the paper's hypertension ORs (3.5) on their rows, nowhere else
    level = rows["text"].replace("", np.nan).ffill()
    paper = rows[rows["paper"] != ""]
    assert list(zip(level[paper.index], paper["term"])) == [("Yes", "Q3"), ("Yes", "Q4")]
    assert paper.index.min() > rows.index[rows["text"] == "Hypertension"][0]
    assert list(paper["paper"]) == [published.text("fig3/hypertension/yes/q3"),
                                    published.text("fig3/hypertension/yes/q4")]
    assert paper["paper_estimate"].tolist() == [published.BY_ID["fig3/hypertension/yes/q3"].estimate,
                                                published.BY_ID["fig3/hypertension/yes/q4"].estimate]
    assert "(paper 0.005)" in rows.loc[rows["text"] == "Hypertension", "cell"].iloc[0]
    holm = a.interactions.set_index("subgroup")["p_holm"]
    assert f", Holm {forest.fmt_p(holm['gender'])}" in rows.loc[rows["text"] == "Gender", "cell"].iloc[0]
    smi = forest.forest_rows(analyses["ln_smi"])
    assert smi["cases"].isna().all() and not smi["paper"].astype(bool).any()


def test_interactive_forest_reads_as_a_table(analyses: dict) -> None:
    fig = forest.forest_plotly(analyses["lmm"])
    texts = [a.text for a in fig.layout.annotations]
    for header in ("<b>Subgroup</b>", "<b>n</b>", "<b>Cases</b>", "<b>OR (95% CI)</b>", "<b>P</b>"):
        assert header in texts, header
    sizes = [a.font.size or fig.layout.font.size for a in fig.layout.annotations]
    assert min(sizes) >= 11 and fig.layout.xaxis.tickfont.size >= 11
    # the x axis at the bottom and, matching it, at the top
    assert fig.layout.xaxis2.side == "top" and fig.layout.xaxis2.matches == "x"
    assert fig.layout.xaxis2.overlaying == "x"
    # the headers sit above the top axis and below the toolbar (top 30 px)
    assert fig.layout.margin.t >= 90
    # the paper's values as their own marked trace
    paper = [t for t in fig.data if t.name == "paper"]
    assert len(paper) == 1 and list(paper[0].x) == [0.37, 0.16]
    n = len(forest.forest_rows(analyses["lmm"]))
    assert fig.layout.height <= 200 + forest.FOREST_ROW_PX * n
    smi = forest.forest_plotly(analyses["ln_smi"])
    assert "<b>Cases</b>" not in [a.text for a in smi.layout.annotations]
    assert "<b>β (95% CI)</b>" in [a.text for a in smi.layout.annotations]


def test_static_forest_has_headers_top_axis_and_fits_a_page(analyses: dict) -> None:
    fig = forest.forest_matplotlib(analyses["lmm"])
    (ax,) = fig.axes
    shown = {t.get_text() for t in ax.texts}
    assert {"Subgroup", "Quartile", "n", "Cases", "OR (95% CI)", "P"} <= shown
    assert "0.37 (0.18, 0.76)" not in shown  # the paper's value is marked, not a cell
    top = ax.xaxis.get_major_ticks()[0]
    assert top.tick2line.get_visible() and top.label2.get_visible()   # top axis
    assert fig.get_size_inches()[1] <= forest.FOREST_MAX_HEIGHT_IN + 1e-9
    markers = [ln for ln in ax.lines if ln.get_marker() == "D"]
    assert sorted(m.get_xdata()[0] for m in markers) == [0.16, 0.37]
    rows = forest.forest_rows(analyses["lmm"])
    yes_q4 = rows.iloc[-1]
    assert f"{int(yes_q4['n']):,}" in shown and f"{int(yes_q4['cases']):,}" in shown


def test_book_figure_has_a_phone_layout(analyses: dict) -> None:
    """On a phone the n, cases and P columns give way, the estimates stand right-aligned at
    the edge and the plot keeps a fifth of the width between the quartiles and them."""
    for name in ("lmm", "ln_smi"):
        bf = forest.forest_figure(analyses[name])
        assert bf.narrow_width == forest.FOREST_MIN_WIDTH_PX and bf.min_width is None
        anns = list(bf.plotly.layout.annotations)
        narrow = bf.narrow
        hidden = {anns[int(k.split("[")[1].split("]")[0])].name
                  for k, v in narrow.items() if k.endswith(".visible") and v is False}
        assert hidden == ({"n", "cases", "p", "head:n", "head:cases", "head:p", "head:term"}
                          if name == "lmm" else {"n", "p", "head:n", "head:p", "head:term"})
        cells = [i for i, a in enumerate(anns) if a.name == "cell"]
        assert cells and all(narrow[f"annotations[{i}].x"] == 1.0 for i in cells)
        assert all(narrow[f"annotations[{i}].xanchor"] == "right" for i in cells)
        lo, hi = narrow["xaxis.domain"]
        longest = max(len(a.text) for a in anns if a.name == "cell")
        cell_left = 1 - longest * 0.58 * forest.FOREST_NARROW_FONT_PX / forest.FOREST_NARROW_PX
        terms = [narrow[f"annotations[{i}].x"] for i, a in enumerate(anns) if a.name == "term"]
        assert terms and max(terms) < lo and hi < cell_left and hi - lo >= 0.2, (terms, lo, hi)
        # the wide layout restores what the phone's changes
        html = bf._repr_mimebundle_()["text/html"]
        assert "nhmg-plotly-scroll" not in html and '"xaxis.domain"' in html


def test_static_rows_never_print_under_7pt() -> None:
    # few rows: full pitch and font; many: the pitch shrinks to the height limit, the font
    # with it (80% of the pitch) but not under 7 pt, and past that the figure grows
    assert forest._row_geometry(10) == (0.19, 8.0)
    pitch, font = forest._row_geometry(55)
    assert pitch == pytest.approx((8.2 - 0.62 - 0.62) / 55) and font == pytest.approx(0.8 * 72 * pitch)
    assert forest._row_geometry(100) == (pytest.approx(7 / 57.6), pytest.approx(7.0))
    assert forest.FOREST_WIDTH_IN <= 6.3   # printed at its own size
