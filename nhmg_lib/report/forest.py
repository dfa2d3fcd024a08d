"""Figures 3 / S1: subgroup forest plots, static and interactive.

Each figure comes three ways: ``*_matplotlib`` (static, for the PDF), ``*_plotly`` (hover
details, for HTML) and ``*_figure(..., static=None)``, which returns a
:class:`nhmg_lib.report.figures.BookFigure` carrying both (the web build shows plotly, the PDF the
matplotlib drawing); ``static=True`` / ``False`` return just one of them.

Both read as a published tabular forest plot: columns Subgroup | Quartile | n | Cases (LMM) |
plot | estimate (95% CI) | P under column headers, one bold line per subgroup variable with its
P for interaction, the x axis at the top and the bottom, and the paper's values
(``nhmg_lib.report.published``: the hypertension odds ratios of section 3.5) as red open
diamonds under the book's. n and cases are the level's participants and LMM cases in that
quartile.

Static forest plots are at most ``FOREST_MAX_HEIGHT_IN`` tall so that figure, caption and
heading fit a PDF page; with many rows the row spacing and font shrink, the font to
``FOREST_MIN_FONT_PT`` at least (past that the figure grows). The interactive one keeps 12 px
text and ``FOREST_ROW_PX`` per row; in a column narrower than ``FOREST_MIN_WIDTH_PX`` (a
phone) it drops the n, cases and P columns (:func:`forest_narrow`). Forest plots draw odds ratios on a log axis (reference line 1)
and betas on a linear axis (reference line 0). Rows that are not estimable keep their place
with the text "not estimable" and, in the interactive figure, the reason on hover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from nhmg_lib.analyses.models import format_ratio_ci
from nhmg_lib.report.figures import COLOR, BookFigure, fmt_p, log_ticks, num

if TYPE_CHECKING:
    from nhmg_lib.analyses.subgroups import SubgroupAnalysis

__all__ = ["forest_rows", "forest_matplotlib", "forest_plotly", "forest_figure"]

TERM_LABELS: dict[str, str] = {"q1": "Q1 (reference)", "q2": "Q2 vs Q1", "q3": "Q3 vs Q1",
                               "q4": "Q4 vs Q1", "ln_mg": "per ln unit"}


# ----------------------------------------------------------------------------- forest rows
@dataclass(frozen=True)
class _Layout:
    rows: pd.DataFrame        # one line per plotted row, top to bottom
    log: bool
    measure: str
    xlim: tuple[float, float]


def _published(figure_id: str) -> dict[str, Any]:
    """The paper's numbers of this figure (``nhmg_lib.report.published``), by record id."""
    from nhmg_lib.report import published

    return {v.id: v for v in published.VALUES if v.id.startswith(f"{figure_id}/")}


def forest_rows(analysis: "SubgroupAnalysis", terms: Sequence[str] = ("q2", "q3", "q4")) -> pd.DataFrame:
    """The plotted lines, top to bottom, as a published tabular forest plot lays them out.

    ``kind``: ``header`` (a subgroup variable; ``cell`` holds its P for interaction, the same
    Holm-adjusted over the figure's subgroups, and the paper's, where printed) or ``term`` (one estimate). ``text``: the subgroup's name on a
    header, the level's name on the first term of each level (else ""); ``term``: ``Q2`` ...;
    ``n`` and ``cases``: participants and LMM cases of the level in that quartile (``ln_mg``:
    the level; ``cases`` NaN for ln SMI); ``estimate, ci_low, ci_high, p, estimable, reason``;
    ``cell``: the estimate as text; ``n_fit``: participants in the model; ``level_n`` /
    ``level_cases``: the level's; ``paper_estimate, paper_low, paper_high``: the paper's
    value of that cell when it prints one (NaN otherwise), ``paper``: it as text."""
    from nhmg_lib.report import published

    paper = _published(analysis.figure_id)
    logistic = analysis.measure == "OR"
    inter = analysis.interactions.set_index("subgroup")
    rows = analysis.rows
    has_cells = "n_cell" in rows.columns
    lines: list[dict] = []
    blank = {"text": "", "term": "", "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
             "p": np.nan, "n": np.nan, "cases": np.nan, "n_fit": np.nan, "level_n": np.nan,
             "level_cases": np.nan, "estimable": True, "reason": "", "cell": "",
             "paper_estimate": np.nan, "paper_low": np.nan, "paper_high": np.nan, "paper": ""}
    for sg, block in rows.groupby("subgroup", sort=False):
        p_int = inter.loc[sg, "p"] if sg in inter.index else np.nan
        cell = f"P for interaction {fmt_p(p_int) or 'NA'}"
        if sg in inter.index and "p_holm" in inter.columns and np.isfinite(inter.loc[sg, "p_holm"]):
            cell += f", Holm {fmt_p(inter.loc[sg, 'p_holm'])}"
        pid = f"{analysis.figure_id}/{sg}/p_interaction"
        if pid in paper:
            cell += f" (paper {published.text(pid)})"
        lines.append({**blank, "kind": "header", "text": block["subgroup_label"].iloc[0], "cell": cell})
        for level, lb in block.groupby("level", sort=False):
            ev = lb["events"].iloc[0]
            whole = lb[lb["term"] == "ln_mg"]
            level_n = (whole["n_cell"] if has_cells else whole["n"]).max()
            first = True
            for term in terms:
                r = lb[lb["term"] == term]
                if r.empty:
                    continue
                r = r.iloc[0]
                cell = ((format_ratio_ci(r.estimate, r.ci_low, r.ci_high) if logistic else
                         f"{num(r.estimate)} ({num(r.ci_low)}, {num(r.ci_high)})") if r.estimable
                        else "not estimable")
                if term == "q1":
                    cell = "1 (reference)" if logistic else "0 (reference)"
                pv = paper.get(f"{analysis.figure_id}/{sg}/{level}/{term}")
                lines.append({
                    **blank, "kind": "term", "text": lb["level_label"].iloc[0] if first else "",
                    "term": TERM_LABELS.get(term, term).split(" ")[0] if term != "ln_mg" else "per ln unit",
                    "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high,
                    "p": r.p if term != "q1" else np.nan,
                    "n": r.n_cell if has_cells else r.n,
                    "cases": (r.cases_cell if has_cells else (ev if term == "ln_mg" else np.nan))
                    if logistic else np.nan,
                    "n_fit": r.n, "level_n": level_n, "level_cases": ev if logistic else np.nan,
                    "estimable": bool(r.estimable), "reason": r.reason if term != "q1" else "",
                    "cell": cell,
                    "paper_estimate": pv.estimate if pv else np.nan,
                    "paper_low": pv.ci_low if pv and pv.ci_low is not None else np.nan,
                    "paper_high": pv.ci_high if pv and pv.ci_high is not None else np.nan,
                    "paper": published.text(pv.id) if pv else ""})
                first = False
    return pd.DataFrame(lines)


def _layout(analysis: "SubgroupAnalysis", terms: Sequence[str]) -> _Layout:
    rows = forest_rows(analysis, terms)
    log = analysis.measure == "OR"
    ok = rows[(rows["kind"] == "term") & rows["estimable"]]
    lo = np.r_[ok["ci_low"].to_numpy(float), rows["paper_low"].to_numpy(float)]
    hi = np.r_[ok["ci_high"].to_numpy(float), rows["paper_high"].to_numpy(float)]
    lo, hi = lo[np.isfinite(lo)], hi[np.isfinite(hi)]
    if log:
        vals = np.r_[lo[lo > 0], hi, 1.0]
        xlim = (max(vals.min() / 1.2, 0.01), min(vals.max() * 1.2, 100.0))
    else:
        vals = np.r_[lo, hi, 0.0]
        pad = 0.08 * (vals.max() - vals.min() or 1.0)
        xlim = (vals.min() - pad, vals.max() + pad)
    return _Layout(rows, log, "OR" if log else "β", xlim)


@dataclass(frozen=True)
class _Column:
    key: str
    header: str
    x: float          # position as a fraction of the figure's width
    align: str        # "left" / "right"


def _columns(logistic: bool, measure: str) -> tuple[list[_Column], tuple[float, float]]:
    """The text columns of the tabular forest plot and the plot's horizontal extent, as
    fractions of the figure's width (shared by the static and the interactive figure)."""
    cols = [_Column("text", "Subgroup", 0.0, "left"), _Column("term", "Quartile", 0.2, "left"),
            _Column("n", "n", 0.335 if logistic else 0.36, "right")]
    if logistic:
        cols.append(_Column("cases", "Cases", 0.405, "right"))
    plot = (0.43, 0.685) if logistic else (0.385, 0.675)
    cols += [_Column("cell", f"{measure} (95% CI)", plot[1] + 0.02, "left"), _Column("p", "P", 1.0, "right")]
    return cols, plot


#: Tick values of a log axis, from the densest set that gives at most six ticks in range.
_LOG_TICK_SETS = ((0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100),
                  (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100),
                  (0.01, 0.1, 1, 10, 100))


def _log_ticks(lim: tuple[float, float], most: int = 6) -> list[float]:
    for ticks in _LOG_TICK_SETS:
        inside = [t for t in ticks if lim[0] <= t <= lim[1]]
        if len(inside) <= most:
            return inside
    return inside


def _text(r: Any, key: str) -> str:
    v = getattr(r, key)
    if key == "p":
        return fmt_p(v) if r.kind == "term" else ""
    if key in ("n", "cases"):
        return f"{int(v):,}" if isinstance(v, (int, float, np.integer, np.floating)) and np.isfinite(v) else ""
    return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(v)


# ----------------------------------------------------------------------------- forest figures


#: Static forest plot size (inches). The height grows with the rows up to
#: ``FOREST_MAX_HEIGHT_IN``; past that the row spacing and the font shrink instead, so that the
#: figure and its caption fit one PDF page.
FOREST_WIDTH_IN = 5.9   # with the text's overhang (tight bounding box) the PDF's text width
FOREST_MAX_HEIGHT_IN = 8.2   # with its caption and a heading, one PDF page
FOREST_ROW_IN = 0.19
FOREST_FONT_PT = 8.0
FOREST_MIN_FONT_PT = 7.0     # printed text never smaller (the figure grows instead)
#: Space above the rows (column headers, top axis) and below (bottom axis, legend), inches.
FOREST_TOP_IN = 0.62
FOREST_BOTTOM_IN = 0.62
#: The paper's values (``published.py``): open diamond and dashed interval, below the book's.
PAPER_COLOR = "#c0392b"
#: Interactive forest plot: pixels per row and font size (px), and the narrowest width it is
#: drawn at (a phone scrolls it sideways instead of squeezing the columns).
FOREST_ROW_PX = 19
FOREST_FONT_PX = 12
FOREST_MIN_WIDTH_PX = 760


def _row_geometry(n: int) -> tuple[float, float]:
    """(row spacing in inches, font size in points) of a static forest plot of ``n`` rows."""
    room = FOREST_MAX_HEIGHT_IN - FOREST_TOP_IN - FOREST_BOTTOM_IN
    # text 80% of the row pitch (a book's leading) leaves a gap between lines; past the
    # height limit the pitch stops shrinking at the smallest font's
    pitch = max(min(FOREST_ROW_IN, room / max(n, 1)), FOREST_MIN_FONT_PT / (0.8 * 72))
    font = min(FOREST_FONT_PT, max(FOREST_MIN_FONT_PT, 0.8 * 72 * pitch))
    return pitch, font


def _paper_note(analysis: "SubgroupAnalysis") -> str:
    return (f"◇ red: the paper's {'odds ratio' if analysis.measure == 'OR' else 'β'}"
            " (95% CI) where it prints one (Zhu et al., section 3.5)")


def forest_matplotlib(analysis: "SubgroupAnalysis", terms: Sequence[str] = ("q2", "q3", "q4"),
                      title: str | None = None):
    """Static forest plot as a table: subgroup | quartile | n | cases | CI plot | estimate
    (95% CI) | P, with column headers, the x axis at top and bottom and the paper's values
    marked; at most ``FOREST_MAX_HEIGHT_IN`` tall (rows and font shrink to fit)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    lay = _layout(analysis, terms)
    rows = lay.rows
    n = len(rows)
    pitch, fs = _row_geometry(n)
    top_in = FOREST_TOP_IN + (0.25 if title else 0.0)
    height = top_in + FOREST_BOTTOM_IN + pitch * n
    cols, (x0, x1) = _columns(lay.log, lay.measure)
    fig = plt.figure(figsize=(FOREST_WIDTH_IN, height))
    ax = fig.add_axes((x0, FOREST_BOTTOM_IN / height, x1 - x0, pitch * n / height))
    y = np.arange(n)[::-1]
    ax.set_ylim(-0.5, n - 0.5)
    ax.set_xscale("log" if lay.log else "linear")
    ax.set_xlim(*lay.xlim)
    ax.axvline(1.0 if lay.log else 0.0, color="0.4", lw=0.8, ls="--")
    # text columns in figure x, row y in data coordinates
    from matplotlib.transforms import blended_transform_factory
    tr = blended_transform_factory(fig.transFigure, ax.transData)
    for yi, r in zip(y, rows.itertuples(index=False)):
        header = r.kind == "header"
        if header:
            fig.add_artist(Rectangle((0, yi - 0.5), 1, 1, transform=tr, color="0.93", lw=0, zorder=0))
            ax.text(0.0, yi, r.text, transform=tr, ha="left", va="center", fontsize=fs, fontweight="bold")
            # right-aligned: on a header row the plot is empty, so the P values have room
            ax.text(1.0, yi, r.cell, transform=tr, ha="right", va="center", fontsize=fs)
            continue
        for c in cols:
            t = _text(r, c.key)
            color = "0.45" if (c.key == "cell" and not r.estimable) else "black"
            ax.text(c.x if c.align == "left" else c.x, yi, ("  " + t) if c.key == "text" and t else t,
                    transform=tr, ha=c.align, va="center", fontsize=fs, color=color)
        if r.estimable and np.isfinite(r.ci_low):
            lo, hi = max(r.ci_low, lay.xlim[0]), min(r.ci_high, lay.xlim[1])
            ax.plot([lo, hi], [yi, yi], color=COLOR, lw=1.2 * fs / 8)
        if r.estimable and np.isfinite(r.estimate):
            ax.plot([r.estimate], [yi], marker="s", ms=4 * fs / 8, color=COLOR)
        if np.isfinite(r.paper_estimate):
            yp = yi - 0.3
            if np.isfinite(r.paper_low):
                ax.plot([r.paper_low, r.paper_high], [yp, yp], color=PAPER_COLOR, lw=1.0, ls="--")
            ax.plot([r.paper_estimate], [yp], marker="D", ms=4 * fs / 8, mfc="white", mec=PAPER_COLOR)
    ax.set_yticks([])
    ax.set_facecolor("none")   # the subgroup bands run under the plot
    if lay.log:
        from matplotlib.ticker import FixedLocator
        log_ticks(ax.xaxis, lay.xlim)
        ax.xaxis.set_major_locator(FixedLocator(_log_ticks(lay.xlim)))
    else:
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(5))
    for side in ("left", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", labelsize=fs, top=True, labeltop=True, pad=1.5)
    ax.set_xlabel(f"{lay.measure} (95% CI), log scale" if lay.log else f"{lay.measure} (95% CI)",
                  fontsize=fs)
    # column headers above the top axis
    head_y = (FOREST_BOTTOM_IN + pitch * n + 0.3) / height
    for c in cols:
        ax.text(c.x, head_y, c.header, transform=fig.transFigure, ha=c.align, va="bottom",
                fontsize=fs + 0.5, fontweight="bold")
    fig.add_artist(Line2D([0, 1], [head_y - 0.04 / height] * 2, transform=fig.transFigure, color="black", lw=0.8))
    if lay.rows["paper"].astype(bool).any():
        fig.text(0.0, 0.04 / height, _paper_note(analysis), fontsize=max(fs - 0.5, FOREST_MIN_FONT_PT), color=PAPER_COLOR,
                 ha="left", va="bottom")
    if title:
        fig.suptitle(title, fontsize=fs + 1.5, x=0.0, ha="left", y=1 - 0.05 / height, va="top")
    plt.close(fig)   # returned, not shown twice by the notebook
    return fig


def forest_plotly(analysis: "SubgroupAnalysis", terms: Sequence[str] = ("q2", "q3", "q4"),
                  title: str | None = None):
    """Interactive forest plot laid out as :func:`forest_matplotlib` (columns with headers,
    x axis at top and bottom, the paper's values marked); hover shows the estimate, CI, P,
    the counts and any reason."""
    import plotly.graph_objects as go

    lay = _layout(analysis, terms)
    rows = lay.rows.reset_index(drop=True)
    n = len(rows)
    y = np.arange(n)[::-1].astype(float)
    cols, (x0, x1) = _columns(lay.log, lay.measure)
    font = {"size": FOREST_FONT_PX}
    level = rows["text"].replace("", np.nan).ffill()
    term = rows["kind"] == "term"
    ok = term & rows["estimable"] & np.isfinite(rows["ci_low"].astype(float))
    est = rows.loc[ok]

    def counts(r: Any) -> str:
        out = f"n = {int(r.n):,}" if np.isfinite(r.n) else ""
        if np.isfinite(r.cases):
            out += f", cases {int(r.cases):,}"
        return out

    hover = [f"{level[i]}, {r.term}: {lay.measure} {r.cell}<br>P = {fmt_p(r.p) or 'NA'}; {counts(r)}"
             f"{f'; n in the model {int(r.n_fit):,}' if np.isfinite(r.n_fit) else ''}"
             + (f"<br>paper: {r.paper}" if r.paper else "") + (f"<br>{r.reason}" if r.reason else "")
             for i, r in zip(est.index, est.itertuples(index=False))]
    fig = go.Figure(go.Scatter(
        x=est["estimate"], y=y[ok.to_numpy()], mode="markers", name="book",
        marker={"symbol": "square", "size": 8, "color": COLOR},
        error_x={"type": "data", "symmetric": False, "color": COLOR, "thickness": 1.5, "width": 0,
                 "array": est["ci_high"] - est["estimate"], "arrayminus": est["estimate"] - est["ci_low"]},
        hovertext=hover, hoverinfo="text", showlegend=False))
    bad = term & ~rows["estimable"]
    if bad.any():
        ref = 1.0 if lay.log else 0.0
        fig.add_trace(go.Scatter(
            x=[ref] * int(bad.sum()), y=y[bad.to_numpy()], mode="markers",
            marker={"symbol": "x-thin-open", "size": 8, "color": "#999"}, showlegend=False,
            hovertext=[f"{level[i]}, {r.term}: not estimable<br>{r.reason}"
                       for i, r in zip(rows.index[bad], rows.loc[bad].itertuples(index=False))],
            hoverinfo="text"))
    pap = rows[np.isfinite(rows["paper_estimate"].astype(float))]
    if len(pap):
        fig.add_trace(go.Scatter(
            x=pap["paper_estimate"], y=y[pap.index.to_numpy()] - 0.32, mode="markers", name="paper",
            marker={"symbol": "diamond-open", "size": 8, "color": PAPER_COLOR, "line": {"width": 1.5}},
            error_x={"type": "data", "symmetric": False, "color": PAPER_COLOR, "thickness": 1, "width": 0,
                     "array": pap["paper_high"] - pap["paper_estimate"],
                     "arrayminus": pap["paper_estimate"] - pap["paper_low"]},
            hovertext=[f"{level[i]}, {r.term}: paper {r.paper}" for i, r in
                       zip(pap.index, pap.itertuples(index=False))],
            hoverinfo="text", showlegend=False))
    # the same x axis at the top, for a tall figure (an invisible trace carries it)
    fig.add_trace(go.Scatter(x=list(lay.xlim), y=[y[0], y[0]], xaxis="x2", mode="markers",
                             marker={"opacity": 0}, hoverinfo="skip", showlegend=False))
    fig.add_vline(x=1.0 if lay.log else 0.0, line_dash="dash", line_color="#666", line_width=1)
    for yi, r in zip(y, rows.itertuples(index=False)):
        if r.kind == "header":
            fig.add_shape(type="rect", xref="paper", yref="y", x0=0, x1=1, y0=yi - 0.5, y1=yi + 0.5,
                          fillcolor="#eeeeee", line={"width": 0}, layer="below")
            fig.add_annotation(x=0, xref="paper", y=yi, text=f"<b>{r.text}</b>", showarrow=False,
                               xanchor="left", font=font, name="group")
            fig.add_annotation(x=1.0, xref="paper", y=yi, text=r.cell, showarrow=False,
                               xanchor="right", font=font, name="interaction")
            continue
        for c in cols:
            t = _text(r, c.key)
            if not t:
                continue
            if c.key == "text":
                t = "\u00a0\u00a0" + t
            fig.add_annotation(x=c.x, xref="paper", y=yi, text=t, showarrow=False, xanchor=c.align,
                               font={**font, "color": "#777" if c.key == "cell" and not r.estimable else "#222"},
                               name=c.key, visible=True)
    top = 100 + (28 if title else 0)   # toolbar (on hover), column headers, top axis labels
    for c in cols:
        fig.add_annotation(x=c.x, xref="paper", y=1, yref="paper", yshift=36, text=f"<b>{c.header}</b>",
                           showarrow=False, xanchor=c.align, yanchor="bottom", font=font,
                           name="head:" + c.key, visible=True)
    fig.add_shape(type="line", xref="paper", yref="paper", x0=0, x1=1, ysizemode="pixel", yanchor=1,
                  y0=33, y1=33, line={"color": "#222", "width": 1})   # rule under the headers
    xr = list(np.log10(lay.xlim)) if lay.log else list(lay.xlim)
    ticks = {"tickvals": _log_ticks(lay.xlim), "ticktext": [f"{t:g}" for t in _log_ticks(lay.xlim)]} \
        if lay.log else {"nticks": 6}
    axis = {"type": "log" if lay.log else "linear", "range": xr, "domain": [x0, x1],
            "tickfont": font, "ticks": "outside", "tickangle": 0, **ticks}
    fig.update_layout(
        xaxis={**axis, "title": {"text": f"{lay.measure} (95% CI)" + (", log scale" if lay.log else ""),
                                 "font": font}},
        xaxis2={**axis, "overlaying": "x", "side": "top", "matches": "x", "showline": True},
        yaxis={"range": [-0.5, n - 0.5], "visible": False, "fixedrange": True},
        height=top + 92 + FOREST_ROW_PX * n,
        margin={"l": 8, "r": 8, "t": top, "b": 92},
        title={"text": title, "x": 0, "font": {"size": 14}} if title else None,
        template="simple_white", hovermode="closest", font={"size": FOREST_FONT_PX})
    if len(pap):
        fig.add_annotation(x=0, xref="paper", y=0, yref="paper", yshift=-66, text=_paper_note(analysis),
                           showarrow=False, xanchor="left", yanchor="top",
                           font={"size": FOREST_FONT_PX - 1, "color": PAPER_COLOR}, name="note")
    return fig


#: A phone's forest plot (below ``FOREST_MIN_WIDTH_PX`` of column): the n, cases and P columns
#: give way (they are in the hover text), the text is a pixel smaller, the estimate column is
#: right-aligned at the edge and the plot takes the width between; sized for a plotting area
#: of ``FOREST_NARROW_PX`` (a 420 px phone).
FOREST_NARROW_PX = 330
FOREST_NARROW_FONT_PX = FOREST_FONT_PX - 1
#: Mean widths of a character, in em: words, and numbers (digits are wider).
_EM_TEXT, _EM_DIGITS = 0.52, 0.58


def forest_narrow(fig: Any) -> dict[str, Any]:
    """The ``BookFigure.narrow`` layout update of a :func:`forest_plotly` figure."""
    anns = list(fig.layout.annotations)
    px = FOREST_NARROW_FONT_PX / FOREST_NARROW_PX

    def width(name: str, em: float) -> float:
        return max((len(a.text) for a in anns if a.name == name), default=0) * em * px

    term_x = round(width("text", _EM_TEXT) + 0.02, 3)
    plot = [round(term_x + width("term", _EM_TEXT) + 0.03, 3),
            round(1 - width("cell", _EM_DIGITS) - 0.03, 3)]
    update: dict[str, Any] = {"xaxis.domain": plot, "xaxis2.domain": plot}
    axis = fig.layout.xaxis
    for name in ("xaxis", "xaxis2"):  # a narrow axis: three ticks at most
        if axis.type == "log":
            ticks = _log_ticks((10 ** axis.range[0], 10 ** axis.range[1]), most=3)
            update[f"{name}.tickvals"], update[f"{name}.ticktext"] = ticks, [f"{t:g}" for t in ticks]
        else:
            update[f"{name}.nticks"] = 3
    for i, a in enumerate(anns):
        key = f"annotations[{i}]"
        if a.font and a.font.size:
            update[f"{key}.font.size"] = a.font.size - 1
        if a.name in ("n", "cases", "p", "head:n", "head:cases", "head:p", "head:term"):
            update[f"{key}.visible"] = False
        elif a.name == "term":
            update[f"{key}.x"] = term_x
        elif a.name in ("cell", "head:cell", "interaction"):
            update[f"{key}.x"], update[f"{key}.xanchor"] = 1.0, "right"
            if a.name == "interaction":
                update[f"{key}.text"] = a.text.replace("P for interaction", "P-int.")
        elif a.name == "note":  # the paper's marks explained on two lines
            update[f"{key}.text"] = a.text.replace(" (95% CI) where", " (95% CI)<br>where")
    return update


def forest_figure(analysis: "SubgroupAnalysis", *, terms: Sequence[str] = ("q2", "q3", "q4"),
                  static: bool | None = None, title: str | None = None) -> Any:
    """Forest plot: ``static=None`` a :class:`BookFigure` (both), ``True`` matplotlib,
    ``False`` plotly."""
    if static is True:
        return forest_matplotlib(analysis, terms, title)
    if static is False:
        return forest_plotly(analysis, terms, title)
    interactive = forest_plotly(analysis, terms, title)
    return BookFigure(mpl=forest_matplotlib(analysis, terms, title), plotly=interactive,
                      narrow=forest_narrow(interactive), narrow_width=FOREST_MIN_WIDTH_PX,
                      alt=f"Subgroup forest plot ({analysis.measure}) for {analysis.outcome}")
