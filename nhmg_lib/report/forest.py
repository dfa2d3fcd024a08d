"""Figures 3 / S1: subgroup forest plots, static and interactive.

Each figure comes three ways: ``*_matplotlib`` (static, for the PDF), ``*_plotly`` (hover
details, for HTML) and ``*_figure(..., static=None)``, which returns a
:class:`nhmg_lib.report.figures.BookFigure` carrying both (the web build shows plotly, the PDF the
matplotlib drawing); ``static=True`` / ``False`` return just one of them.

Static forest plots are at most ``FOREST_MAX_HEIGHT_IN`` (8.5 in) tall so that figure and
caption fit a PDF page; with many rows the row spacing and font shrink. Forest plots draw
odds ratios on a log axis (reference line 1) and betas on a linear axis
(reference line 0). Rows that are not estimable keep their place with the text "not
estimable" and, in the interactive figure, the reason on hover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from nhmg_lib.report.figures import COLOR, BookFigure, fmt_p, log_ticks, num, plotly_log_ticks

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


def forest_rows(analysis: "SubgroupAnalysis", terms: Sequence[str] = ("q2", "q3", "q4")) -> pd.DataFrame:
    """The plotted lines, top to bottom: ``kind`` (header/level/term), ``text``, ``estimate``,
    ``ci_low``, ``ci_high``, ``p``, ``n``, ``estimable``, ``reason``, ``cell`` (estimate text)."""
    logistic = analysis.measure == "OR"
    inter = analysis.interactions.set_index("subgroup")
    lines: list[dict] = []
    blank = {"estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "n": np.nan,
             "estimable": True, "reason": "", "cell": ""}
    for sg, block in analysis.rows.groupby("subgroup", sort=False):
        p_int = inter.loc[sg, "p"] if sg in inter.index else np.nan
        head = f"{block['subgroup_label'].iloc[0]}"
        lines.append({**blank, "kind": "header", "text": head,
                      "cell": f"P for interaction {fmt_p(p_int) or 'NA'}"})
        for level, lb in block.groupby("level", sort=False):
            ev = lb["events"].iloc[0]
            n_level = lb.loc[lb["term"] == "ln_mg", "n"].max()
            count = f" (cases {int(ev)}/{int(n_level)})" if logistic and np.isfinite(ev) else \
                f" (n = {int(n_level)})"
            lines.append({**blank, "kind": "level", "text": f"  {lb['level_label'].iloc[0]}{count}"})
            for term in terms:
                r = lb[lb["term"] == term]
                if r.empty:
                    continue
                r = r.iloc[0]
                cell = (f"{num(r.estimate)} ({num(r.ci_low)}, {num(r.ci_high)})" if r.estimable
                        else "not estimable")
                lines.append({"kind": "term", "text": f"    {TERM_LABELS.get(term, term)}",
                              "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high,
                              "p": r.p, "n": r.n, "estimable": bool(r.estimable),
                              "reason": r.reason, "cell": cell})
    return pd.DataFrame(lines)


def _layout(analysis: "SubgroupAnalysis", terms: Sequence[str]) -> _Layout:
    rows = forest_rows(analysis, terms)
    log = analysis.measure == "OR"
    ok = rows[(rows["kind"] == "term") & rows["estimable"]]
    lo, hi = ok["ci_low"].to_numpy(float), ok["ci_high"].to_numpy(float)
    if log:
        vals = np.r_[lo[lo > 0], hi[np.isfinite(hi)], 1.0]
        xlim = (max(vals.min() / 1.2, 0.01), min(vals.max() * 1.2, 100.0))
    else:
        vals = np.r_[lo[np.isfinite(lo)], hi[np.isfinite(hi)], 0.0]
        pad = 0.08 * (vals.max() - vals.min() or 1.0)
        xlim = (vals.min() - pad, vals.max() + pad)
    return _Layout(rows, log, "OR" if log else "β", xlim)


# ----------------------------------------------------------------------------- forest figures


#: Static forest plot size (inches). The height grows with the rows up to
#: ``FOREST_MAX_HEIGHT_IN``; past that the row spacing and the font shrink instead, so that the
#: figure and its caption fit one PDF page.
FOREST_WIDTH_IN = 9.0
FOREST_MAX_HEIGHT_IN = 8.5
FOREST_ROW_IN = 0.19
FOREST_FONT_PT = 7.5
FOREST_MIN_FONT_PT = 4.5


def _row_geometry(n: int) -> tuple[float, float]:
    """(row spacing in inches, font size in points) of a static forest plot of ``n`` rows."""
    pitch = min(FOREST_ROW_IN, (FOREST_MAX_HEIGHT_IN - 0.8) / max(n, 1))
    # text about 70% of the row pitch leaves a gap between lines
    font = min(FOREST_FONT_PT, max(FOREST_MIN_FONT_PT, 0.7 * 72 * pitch))
    return pitch, font


def forest_matplotlib(analysis: "SubgroupAnalysis", terms: Sequence[str] = ("q2", "q3", "q4"),
                      title: str | None = None):
    """Static forest plot: labels | CI plot | estimate (95% CI) | P; at most
    ``FOREST_MAX_HEIGHT_IN`` tall (rows and font shrink to fit)."""
    import matplotlib.pyplot as plt

    lay = _layout(analysis, terms)
    rows = lay.rows
    n = len(rows)
    pitch, fs = _row_geometry(n)
    height = 0.8 + pitch * n
    fig = plt.figure(figsize=(FOREST_WIDTH_IN, height))
    ax = fig.add_axes((0.33, 0.6 / height, 0.33, 1 - 0.8 / height))
    y = np.arange(n)[::-1]
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xscale("log" if lay.log else "linear")
    ax.set_xlim(*lay.xlim)
    ax.axvline(1.0 if lay.log else 0.0, color="0.4", lw=0.8, ls="--")
    for yi, r in zip(y, rows.itertuples(index=False)):
        weight = "bold" if r.kind == "header" else "normal"
        ax.text(-0.02, yi, r.text, transform=ax.get_yaxis_transform(), ha="right", va="center",
                fontsize=fs, fontweight=weight, family="DejaVu Sans")
        ax.text(1.03, yi, r.cell, transform=ax.get_yaxis_transform(), ha="left", va="center",
                fontsize=fs, fontweight=weight, color="0.45" if not r.estimable else "black")
        if r.kind == "term":
            ax.text(1.62, yi, fmt_p(r.p), transform=ax.get_yaxis_transform(), ha="left",
                    va="center", fontsize=fs)
        if r.kind == "term" and r.estimable:
            lo, hi = max(r.ci_low, lay.xlim[0]), min(r.ci_high, lay.xlim[1])
            ax.plot([lo, hi], [yi, yi], color=COLOR, lw=1.1 * fs / 7.5)
            ax.plot([r.estimate], [yi], marker="s", ms=4 * fs / 7.5, color=COLOR)
    ax.set_yticks([])
    if lay.log:
        log_ticks(ax.xaxis, lay.xlim)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(f"{lay.measure} (95% CI)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7.5)
    top = n - 0.3
    ax.text(1.03, top + 0.2, f"{lay.measure} (95% CI)", transform=ax.get_yaxis_transform(),
            fontsize=8, fontweight="bold", va="bottom")
    ax.text(1.62, top + 0.2, "P", transform=ax.get_yaxis_transform(), fontsize=8,
            fontweight="bold", va="bottom")
    if title:
        fig.suptitle(title, fontsize=9, x=0.02, ha="left")
    plt.close(fig)   # returned, not shown twice by the notebook
    return fig


def forest_plotly(analysis: "SubgroupAnalysis", terms: Sequence[str] = ("q2", "q3", "q4"),
                  title: str | None = None):
    """Interactive forest plot; hover shows estimate, CI, P, n and any reason."""
    import plotly.graph_objects as go

    lay = _layout(analysis, terms)
    rows = lay.rows.reset_index(drop=True)
    n = len(rows)
    y = np.arange(n)[::-1]
    ok = (rows["kind"] == "term") & rows["estimable"]
    est = rows.loc[ok]
    hover = [f"{t.strip()}<br>{lay.measure} {c}<br>P = {fmt_p(p) or 'NA'}; n = {int(m)}"
             + (f"<br>{rs}" if rs else "")
             for t, c, p, m, rs in zip(est["text"], est["cell"], est["p"], est["n"], est["reason"])]
    fig = go.Figure(go.Scatter(
        x=est["estimate"], y=y[ok.to_numpy()], mode="markers",
        marker={"symbol": "square", "size": 7, "color": COLOR},
        error_x={"type": "data", "symmetric": False, "color": COLOR, "thickness": 1.2, "width": 0,
                 "array": est["ci_high"] - est["estimate"], "arrayminus": est["estimate"] - est["ci_low"]},
        hovertext=hover, hoverinfo="text", showlegend=False))
    bad = (rows["kind"] == "term") & ~rows["estimable"]
    if bad.any():
        ref = 1.0 if lay.log else 0.0
        fig.add_trace(go.Scatter(
            x=[ref] * int(bad.sum()), y=y[bad.to_numpy()], mode="markers",
            marker={"symbol": "x-thin-open", "size": 7, "color": "#999"}, showlegend=False,
            hovertext=[f"{t.strip()}: not estimable<br>{r}" for t, r in
                       zip(rows.loc[bad, "text"], rows.loc[bad, "reason"])], hoverinfo="text"))
    labels = [f"<b>{t}</b>" if k == "header" else t.replace(" ", "\u00a0")
              for t, k in zip(rows["text"], rows["kind"])]
    right = [f"{c}  {fmt_p(p)}" if k == "term" else c for c, p, k in zip(rows["cell"], rows["p"], rows["kind"])]
    fig.add_vline(x=1.0 if lay.log else 0.0, line_dash="dash", line_color="#666", line_width=1)
    fig.update_yaxes(tickvals=y, ticktext=labels, range=[-0.7, n - 0.3], showgrid=False)
    for yi, text in zip(y, right):
        fig.add_annotation(x=1.01, xref="paper", y=yi, text=text, showarrow=False, xanchor="left",
                           font={"size": 11})
    xr = np.log10(lay.xlim) if lay.log else lay.xlim
    fig.update_xaxes(type="log" if lay.log else "linear", range=list(xr),
                     title=f"{lay.measure} (95% CI)", **(plotly_log_ticks(lay.xlim) if lay.log else {}))
    fig.update_layout(height=90 + 19 * n, margin={"l": 10, "r": 230, "t": 40 if title else 10, "b": 40},
                      title=title, template="simple_white")
    return fig


def forest_figure(analysis: "SubgroupAnalysis", *, terms: Sequence[str] = ("q2", "q3", "q4"),
                  static: bool | None = None, title: str | None = None) -> Any:
    """Forest plot: ``static=None`` a :class:`BookFigure` (both), ``True`` matplotlib,
    ``False`` plotly."""
    if static is True:
        return forest_matplotlib(analysis, terms, title)
    if static is False:
        return forest_plotly(analysis, terms, title)
    return BookFigure(mpl=forest_matplotlib(analysis, terms, title),
                      plotly=forest_plotly(analysis, terms, title),
                      alt=f"Subgroup forest plot ({analysis.measure}) for {analysis.outcome}")
