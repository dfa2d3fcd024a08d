"""Figure 2: restricted cubic spline curves of ln magnesium intake, static and interactive.

:func:`spline_figure` returns a :class:`nhmg_lib.report.figures.BookFigure` carrying both the
matplotlib drawing (PDF) and the plotly figure (HTML); ``static=True`` / ``False`` return one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nhmg_lib.report.figures import BAND, COLOR, BookFigure, fmt_p, log_ticks, plotly_log_ticks

if TYPE_CHECKING:
    from nhmg_lib.analyses.splines import SplineFit
    from nhmg_lib.analyses.threshold import ThresholdBootstrap

__all__ = ["spline_matplotlib", "spline_plotly", "spline_narrow", "spline_figure"]


PANEL_TITLES: dict[str, str] = {"lmm": "Low muscle mass (OR)", "smi": "ln SMI (β)"}


def _panel_note(fit: "SplineFit", threshold: "ThresholdBootstrap | None" = None) -> str:
    note = f"P overall {fmt_p(fit.p_overall)}; P nonlinear {fmt_p(fit.p_nonlinear)}"
    if _marks(threshold, fit) is None and threshold is not None and threshold.result.outcome == fit.outcome:
        note += f"\nno inflection point: sup-t P {fmt_p(threshold.sup_t[1])}"
    return note


def _marks(threshold: "ThresholdBootstrap | None", fit: "SplineFit") -> float | None:
    """The inflection point to draw on ``fit``'s panel, or None. It is drawn only when the
    search-aware sup-t test finds a change in slope: without a bend the two-piece model's
    breakpoint is not identified, and a line at it would show an artefact of the search."""
    if threshold is None or threshold.result.outcome != fit.outcome or not threshold.has_breakpoint:
        return None
    return float(threshold.result.breakpoint)


def spline_matplotlib(fits: dict[str, "SplineFit"], threshold: "ThresholdBootstrap | None" = None):
    """Figure 2 static: one panel per fit (``{"lmm": ..., "smi": ...}``); the inflection point
    of ``threshold`` as a red line where :func:`_marks` allows it, else a line of the note."""
    import matplotlib.pyplot as plt

    # printed at its own size (two panels fill the PDF's 6.3 in text width), so 7.5 pt stays 7.5 pt
    fig, axes = plt.subplots(1, len(fits), figsize=(3.15 * len(fits), 3.1), squeeze=False)
    for ax, (key, f) in zip(axes[0], fits.items()):
        c = f.curve
        ax.fill_between(c["x"], c["lo"], c["hi"], color=COLOR, alpha=0.18, lw=0)
        ax.plot(c["x"], c["estimate"], color=COLOR, lw=1.6)
        logistic = f.measure == "OR"
        ax.axhline(1.0 if logistic else 0.0, color="0.4", lw=0.8, ls="--")
        ax.axvline(f.reference, color="0.6", lw=0.8, ls=":")
        if logistic:
            ax.set_yscale("log")
            log_ticks(ax.yaxis, ax.get_ylim())
        k = _marks(threshold, f)
        if k is not None:
            ax.axvline(k, color="#b03a2e", lw=0.9)
            ax.annotate(f"K = {k:.2f}", (k, 0.97),
                        xycoords=("data", "axes fraction"), fontsize=7.5, color="#b03a2e",
                        ha="left", va="top", xytext=(3, 0), textcoords="offset points")
        ax.plot(f.knots, np.full(len(f.knots), 0.02), "|", color="0.3", ms=8,
                transform=ax.get_xaxis_transform())
        ax.set_title(PANEL_TITLES.get(key, f.outcome), fontsize=9)
        ax.set_xlabel("ln magnesium intake (ln mg/day)", fontsize=8)
        ax.set_ylabel(f"{f.measure} (95% CI) vs ln-Mg {f.reference:.2f}", fontsize=8)
        ax.text(0.03, 0.04, _panel_note(f, threshold), transform=ax.transAxes, fontsize=7.5,
                va="bottom", linespacing=1.3)
        ax.tick_params(labelsize=7.5)
    fig.tight_layout()
    plt.close(fig)
    return fig


def spline_plotly(fits: dict[str, "SplineFit"], threshold: "ThresholdBootstrap | None" = None):
    """Figure 2 interactive: curve and band, hover with mg/day and the estimate's CI."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    keys = list(fits)
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=[PANEL_TITLES.get(k, k) for k in keys],
                        horizontal_spacing=0.14)
    for i, key in enumerate(keys, start=1):
        f, c = fits[key], fits[key].curve
        fig.add_trace(go.Scatter(x=np.r_[c["x"], c["x"][::-1]], y=np.r_[c["hi"], c["lo"][::-1]],
                                 fill="toself", fillcolor=BAND, line={"width": 0}, hoverinfo="skip",
                                 showlegend=False), row=1, col=i)
        hover = [f"ln-Mg {x:.2f} ({np.exp(x):.0f} mg/day)<br>{f.measure} {e:.2f} ({lo:.2f}, {hi:.2f})"
                 for x, e, lo, hi in zip(c["x"], c["estimate"], c["lo"], c["hi"])]
        fig.add_trace(go.Scatter(x=c["x"], y=c["estimate"], mode="lines", line={"color": COLOR},
                                 hovertext=hover, hoverinfo="text", showlegend=False), row=1, col=i)
        logistic = f.measure == "OR"
        fig.add_hline(y=1.0 if logistic else 0.0, line_dash="dash", line_color="#666", line_width=1, row=1, col=i)
        fig.add_vline(x=f.reference, line_dash="dot", line_color="#999", line_width=1, row=1, col=i)
        k = _marks(threshold, f)
        if k is not None:
            fig.add_vline(x=k, line_color="#b03a2e", line_width=1, opacity=1, row=1, col=i,
                          annotation_text=f"K = {k:.2f}", annotation_position="top right")
        ticks = plotly_log_ticks((float(c["lo"].min()), float(c["hi"].max()))) if logistic else {}
        fig.update_yaxes(type="log" if logistic else "linear", row=1, col=i,
                         title=f"{f.measure} (95% CI) vs ln-Mg {f.reference:.2f}", **ticks)
        fig.update_xaxes(title="ln magnesium intake (ln mg/day)", row=1, col=i)
        for k in f.knots:   # the spline's knots, as short ticks on the x axis
            fig.add_vline(x=float(k), y0=0, y1=0.06, line_color="#222", line_width=2, opacity=1,
                          row=1, col=i)
        fig.add_annotation(text=_panel_note(f, threshold).replace("\n", "<br>"), align="left", xref=f"x{i if i > 1 else ''} domain",
                           yref=f"y{i if i > 1 else ''} domain", x=0.02, y=0.08, showarrow=False,
                           xanchor="left", yanchor="bottom", font={"size": 11})
    fig.update_layout(height=SPLINE_HEIGHT_PX, template="simple_white", font={"size": 12},
                      margin={"t": SPLINE_TOP_PX, "b": 50, "l": 60, "r": 20})
    for a in fig.layout.annotations[:len(keys)]:   # the panel titles
        a.font = {"size": 14}
    return fig


#: Figure 2 (plotly): height, and the top margin that keeps the toolbar (top right, on hover)
#: above the panel titles.
SPLINE_HEIGHT_PX = 440
SPLINE_TOP_PX = 72


def spline_narrow(fits: dict[str, "SplineFit"]) -> dict[str, Any]:
    """Figure 2 on a phone: the panels one above the other (a ``BookFigure.narrow`` update)."""
    k = len(fits)
    gap = 0.2 if k == 2 else 0.3 / k   # room for an axis title and the next panel's title
    height = (1 - gap * (k - 1)) / k
    out: dict[str, Any] = {"height": 360 * k + SPLINE_TOP_PX}
    for i in range(k):
        top = 1 - i * (height + gap)
        suffix = str(i + 1) if i else ""
        out[f"xaxis{suffix}.domain"] = [0.0, 1.0]
        out[f"yaxis{suffix}.domain"] = [round(top - height, 4), round(top, 4)]
        out[f"annotations[{i}].x"] = 0.5
        out[f"annotations[{i}].y"] = round(top, 4)
    return out


def spline_figure(fits: dict[str, "SplineFit"], threshold: "ThresholdBootstrap | None" = None, *,
                  static: bool | None = None) -> Any:
    """Figure 2: ``static=None`` a :class:`BookFigure` (both), ``True`` matplotlib, ``False`` plotly.

    ``threshold``: the design bootstrap of the inflection-point search; its point is marked
    only when its sup-t test rejects "no change in slope" (the panel says so otherwise)."""
    if static is True:
        return spline_matplotlib(fits, threshold)
    if static is False:
        return spline_plotly(fits, threshold)
    return BookFigure(mpl=spline_matplotlib(fits, threshold), plotly=spline_plotly(fits, threshold),
                      narrow=spline_narrow(fits), alt="Restricted cubic spline curves of ln magnesium intake (Model 3)")
