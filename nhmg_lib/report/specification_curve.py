"""The specification curve of the multiverse (:mod:`nhmg_lib.analyses.multiverse`): figure,
summary and ``results.json`` records.

* :func:`specification_curve_figure`: estimates sorted, 95% CIs, the paper's value and the
  book's default marked, and under it the dashboard of the choice each specification makes
  (plotly for the web book - hover shows the whole specification -, matplotlib for the PDF).
* :func:`summary`: share significant in the paper's direction, the median, and which single
  choice moves the estimate most (:func:`choice_effects`).
* :func:`panel_summary`: the same for the specifications of each panel
  (:data:`~nhmg_lib.analyses.multiverse.PANELS`: choices not as defensible as the default,
  shown beside the curve and left out of its summary and joint test).
* :func:`records`: ids ``multiverse/<estimate>/{median,share_significant,mean_z}`` (``p`` =
  the joint test's null p-value, ``n`` = estimable distinct specifications of the main curve),
  ``multiverse/<estimate>/not_estimable``, ``multiverse/<estimate>/distinct_specifications``
  (``n`` = grid specifications they stand for), ``multiverse/<estimate>/<panel>_panel/median``
  and ``multiverse/n_specifications`` (the grid).

Every curve lists distinct specifications only (``MultiverseResult.curve``): a choice that
cannot move an estimate is blank in its rows and has no row in its dashboard.

The paper's direction of each estimate (:func:`paper_directions`) is the sign of its published
value (:mod:`nhmg_lib.report.published`). The proportions mediated by NP are on the contrast
the book recommends (Q1 -> Q4 medians), which the paper does not report: they have no paper
value to draw, and their direction is the sign of the paper's proportion on its own contrast.
They have bootstrap CIs and p but no joint test (not in ``MultiverseResult.totals``).
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd

from nhmg_lib.analyses import multiverse as mv
from nhmg_lib.report import published
from nhmg_lib.report.figures import COLOR, BookFigure, log_ticks, num, plotly_log_ticks
from nhmg_lib.report.robustness_report import option_words
from nhmg_lib.report.results import record

__all__ = ["paper_values", "paper_directions", "choice_effects", "summary", "summary_table",
           "panel_summary", "panel_table", "distinct_table", "specification_curve_figure", "records"]

SIG_COLOR = "#1f4e79"
NONSIG_COLOR = "#9aa5b1"
DEFAULT_COLOR = "#c0392b"
PAPER_COLOR = "#e67e22"


def paper_values() -> dict[str, float | None]:
    """The published value of each multiverse estimate (None when the paper gives none)."""
    by_id = {p.id: p.estimate for p in published.VALUES}
    return {e: by_id.get(est.results_id) for e, est in mv.ESTIMATES.items()}


def paper_directions() -> dict[str, int]:
    """+1 / -1: the direction of the paper's estimate (OR above or below 1, β sign; for an
    estimate the paper does not report, the sign of ``Estimate.sign_id``)."""
    by_id = {p.id: p.estimate for p in published.VALUES}
    out = {}
    for e, v in paper_values().items():
        if v is None and mv.ESTIMATES[e].sign_id:
            v = by_id.get(mv.ESTIMATES[e].sign_id)
        if v is None:
            continue
        link = math.log(v) if mv.ESTIMATES[e].ratio else v
        out[e] = 1 if link > 0 else -1
    return out


def choice_effects(result: mv.MultiverseResult, estimate: str) -> pd.DataFrame:
    """For each dimension with more than one value: the median estimate (link scale) under
    each value, and the spread (largest minus smallest median). Sorted, largest first: the
    first row is the single choice that moves the estimate most."""
    c = result.curve(estimate)
    c = c[c["reason"].isna()]
    rows = []
    for d in result.dimensions:
        if c[d].nunique() < 2:
            continue
        med = c.groupby(d, sort=False)["coef"].median()
        rows.append({"choice": d, "spread": float(med.max() - med.min()),
                     "lowest": str(med.idxmin()), "highest": str(med.idxmax()),
                     "medians": "; ".join(f"{k}: {_scale(estimate, v)}" for k, v in med.items())})
    return pd.DataFrame(rows, columns=["choice", "spread", "lowest", "highest", "medians"]
                        ).sort_values("spread", ascending=False, kind="stable").reset_index(drop=True)


def _scale(estimate: str, link: float) -> str:
    return num(math.exp(link) if mv.ESTIMATES[estimate].ratio else link)


def summary(result: mv.MultiverseResult, joint: mv.JointTest | None = None) -> pd.DataFrame:
    """One row per estimate: specifications, not estimable, share significant in the
    paper's direction, median and range (reported scale), the default's value, the paper's
    value, the choice that moves the estimate most, and the joint test's p-values."""
    directions = paper_directions()
    paper = paper_values()
    rows = []
    present = set(result.table["estimate"])
    for e, est in mv.ESTIMATES.items():
        if e not in present:
            continue
        c = result.curve(e)
        ok = c[c["reason"].isna()]
        d = directions.get(e, 1)
        sig = ((ok["p"] < mv.ALPHA) & (np.sign(ok["coef"]) == d)).mean() if len(ok) else np.nan
        med = float(np.median(ok["coef"])) if len(ok) else np.nan
        tf = np.exp if est.ratio else (lambda v: v)
        eff = choice_effects(result, e)
        default = c[c["is_default"]]
        row = {"estimate": e, "label": est.label, "specifications": len(c),
               "grid_specifications": int(c["n_specs"].sum()),
               "not_estimable": int(c["reason"].notna().sum()),
               "share_significant": float(sig), "median": float(tf(med)),
               "min": float(ok["value"].min()), "max": float(ok["value"].max()),
               "default": float(default["value"].iloc[0]) if len(default) else np.nan,
               "paper": paper.get(e), "moves_most": eff["choice"].iloc[0] if len(eff) else None,
               "moves_most_spread": float(eff["spread"].iloc[0]) if len(eff) else np.nan}
        if joint is not None and e in joint.frame.index:
            j = joint.frame.loc[e]
            row.update({"mean_z": j.get("mean_z"), "p_median": j.get("p_median"),
                        "p_share": j.get("p_share"), "p_mean_z": j.get("p_mean_z"),
                        "n_null": int(j["n_null"])})
        rows.append(row)
    return pd.DataFrame(rows).set_index("estimate")


def choice_words(dimension: object) -> str:
    """A grid dimension as prose names it ("magnesium and energy", "LMM definition")."""
    return option_words(str(dimension), "")[0]


def choices_words(dimensions) -> str:
    """Several grid dimensions in words, comma-separated ("" for none)."""
    return ", ".join(choice_words(d) for d in dimensions)


def summary_table(result: mv.MultiverseResult, joint: mv.JointTest | None = None) -> pd.DataFrame:
    """:func:`summary` as text cells for a publication table."""
    s = summary(result, joint)
    out = pd.DataFrame(index=s["label"].rename("Estimate"))

    def p_cell(v) -> str:
        if v is None or not np.isfinite(v):
            return ""
        n = int(s["n_null"].iloc[0]) if "n_null" in s else 0
        # "<0.002" in one piece: a line may break between the three P values, not inside one
        return f"<{1 / n:.3f}" if v == 0 and n else f"{v:.3f}"

    out["Specifications"] = [f"{a:,}" + (f" ({b} not estimable)" if b else "")
                             for a, b in zip(s["specifications"], s["not_estimable"])]
    # proportions mediated in %, as Tables 7 and 8 and the robustness chapter print them
    share = [str(e).startswith("pm_") for e in s.index]

    def val(v, pct: bool) -> str:
        return f"{100 * v:.0f}%".replace("-", "−") if pct else num(v)

    out["Median (range)"] = [f"{val(m, p)} ({val(lo, p)} to {val(hi, p)})"
                             for m, lo, hi, p in zip(s["median"], s["min"], s["max"], share)]
    out["Book default"] = [val(v, p) if np.isfinite(v) else "not in the grid"
                           for v, p in zip(s["default"], share)]
    out["Paper"] = ["" if v is None or pd.isna(v) else val(v, p) for v, p in zip(s["paper"], share)]
    out["Significant, paper's direction"] = [f"{100 * v:.0f}%" for v in s["share_significant"]]
    if "p_median" in s:
        out["Joint p: median / share / mean z"] = [
            f"{p_cell(a)} / {p_cell(b)} / {p_cell(c)}" if p_cell(a) else "not tested"
            for a, b, c in zip(s["p_median"], s["p_share"], s["p_mean_z"])]
    out["Choice that moves it most"] = [choice_words(v) for v in s["moves_most"]]
    return out


def distinct_table(result: mv.MultiverseResult) -> pd.DataFrame:
    """Per estimate: the grid specifications it covers, how many of them are distinct (main
    curve + panel), the choices that cannot move it (blank in its rows) and those held at
    their default (:attr:`~nhmg_lib.analyses.multiverse.MultiverseResult.mediation_fixed`)."""
    rows = []
    for e, est in mv.ESTIMATES.items():
        if e not in set(result.table["estimate"]):
            continue
        r = result.rows(e)
        varied = [d for d in result.dimensions if result.specs[d].nunique() > 1]
        fixed = [d for d in result.mediation_fixed if est.mediation and d in varied]
        rows.append({"Estimate": est.label, "Grid specifications": f"{int(r['n_specs'].sum()):,}",
                     "Distinct": f"{len(result.curve(e)):,}"
                                 + "".join(f" + {len(result.panel(e, d)):,} ({choice_words(d)} panel)"
                                           for d in mv.PANELS if len(result.panel(e, d))),
                     "Cannot move it": choices_words(result.inert(e)) or "none",
                     "Held at the default": choices_words(fixed) or "none"})
    return pd.DataFrame(rows).set_index("Estimate")


def panel_summary(result: mv.MultiverseResult) -> pd.DataFrame:
    """One row per (estimate, panel): distinct specifications, median and range (reported
    scale), share significant in the paper's direction. Not part of any joint test."""
    directions = paper_directions()
    rows = []
    for e, est in mv.ESTIMATES.items():
        if e not in set(result.table["estimate"]):
            continue
        for d in mv.PANELS:
            c = result.panel(e, d)
            ok = c[c["reason"].isna()]
            if not len(ok):
                continue
            tf = np.exp if est.ratio else (lambda v: v)
            sig = ((ok["p"] < mv.ALPHA) & (np.sign(ok["coef"]) == directions.get(e, 1))).mean()
            rows.append({"estimate": e, "label": est.label, "panel": d, "specifications": len(c),
                         "median": float(tf(np.median(ok["coef"]))), "min": float(ok["value"].min()),
                         "max": float(ok["value"].max()), "share_significant": float(sig),
                         "values": ", ".join(sorted(set(ok[d].dropna())))})
    return pd.DataFrame(rows, columns=["estimate", "label", "panel", "specifications", "median",
                                       "min", "max", "share_significant", "values"])


def significant_share(summary_frame: pd.DataFrame, estimate: str) -> str:
    """The share of ``estimate``'s specifications significant in the paper's direction, from
    :func:`summary` or :func:`panel_summary` indexed by estimate, as text: "none" when the
    fixed choices leave it no specification (e.g. no weight panel with the weight fixed)."""
    if estimate not in summary_frame.index:
        return "none (no such specification under the fixed choices)"
    return f"{100 * summary_frame.loc[estimate, 'share_significant']:.0f}%"


def panel_table(result: mv.MultiverseResult) -> pd.DataFrame:
    """:func:`panel_summary` as text cells for a publication table."""
    s = panel_summary(result)
    out = pd.DataFrame(index=s["label"].rename("Estimate"))
    out["Choice (values)"] = [
        f"{option_words(d, '')[0]} ({', '.join(option_words(d, x)[1] for x in v.split(', '))})"
        for d, v in zip(s["panel"], s["values"])]
    out["Specifications"] = [f"{a:,}" for a in s["specifications"]]
    out["Median (range)"] = [f"{num(m)} ({num(lo)} to {num(hi)})"
                             for m, lo, hi in zip(s["median"], s["min"], s["max"])]
    out["Significant, paper's direction"] = [f"{100 * v:.0f}%" for v in s["share_significant"]]
    return out


def records(result: mv.MultiverseResult, joint: mv.JointTest | None = None) -> list[dict]:
    """results.json records of the multiverse summary (see the module docstring)."""
    s = summary(result, joint)
    out = [record("multiverse/n_specifications", len(result.specs))]
    panels = panel_summary(result)
    for _, p in panels.iterrows():
        out.append(record(f"multiverse/{p['estimate']}/{p['panel']}_panel/median", p["median"],
                          int(p["specifications"]), ci_low=p["min"], ci_high=p["max"]))
    for e, r in s.iterrows():
        n_ok = int(r["specifications"] - r["not_estimable"])
        jp = (lambda k: r.get(k) if joint is not None else None)
        out += [
            record(f"multiverse/{e}/distinct_specifications", len(result.rows(e)),
                   int(result.rows(e)["n_specs"].sum())),
            record(f"multiverse/{e}/median", r["median"], n_ok, ci_low=r["min"], ci_high=r["max"],
                   p=jp("p_median")),
            record(f"multiverse/{e}/share_significant", r["share_significant"], n_ok, p=jp("p_share")),
            record(f"multiverse/{e}/not_estimable", r["not_estimable"], int(r["specifications"])),
        ]
        if joint is not None and e in joint.frame.index:   # no joint test: no mean z record
            out.append(record(f"multiverse/{e}/mean_z", r.get("mean_z"), n_ok, p=jp("p_mean_z")))
    return out


# ----------------------------------------------------------------------------- figure
def _curve_frame(result: mv.MultiverseResult, estimate: str, panel: str = "main") -> pd.DataFrame:
    c = result.curve(estimate) if panel == "main" else result.panel(estimate, panel)
    c = c[c["reason"].isna()].sort_values(["coef", "spec"], kind="stable").reset_index(drop=True)
    c["rank"] = np.arange(1, len(c) + 1)
    d = paper_directions().get(estimate, 1)
    c["significant"] = (c["p"] < mv.ALPHA) & (np.sign(c["coef"]) == d)
    return c


def _varied(result: mv.MultiverseResult, c: pd.DataFrame) -> list[str]:
    """Dimensions with more than one value among the specifications of the curve ``c``."""
    return [d for d in result.dimensions if c[d].nunique() > 1]  # blank (inert): no row


def specification_curve_figure(result: mv.MultiverseResult, estimate: str = "or_q4",
                               *, interactive: bool = True, panel: str = "main") -> BookFigure:
    """The specification curve of ``estimate`` with its dashboard (see the module docstring);
    ``panel``: a :data:`~nhmg_lib.analyses.multiverse.PANELS` choice draws that panel instead."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    est = mv.ESTIMATES[estimate]
    c = _curve_frame(result, estimate, panel)
    if c.empty:
        raise mv.MultiverseError(f"no estimable specification for {estimate}")
    dims = _varied(result, c)
    levels = [(d, v) for d in dims for v in mv.GRID[d] if v in set(c[d])]
    paper = paper_values().get(estimate)
    null = 1.0 if est.ratio else 0.0
    default = c[c["is_default"]]
    if paper is None and est.sign_id:
        paper_note = "; no paper value on this contrast"
    else:
        paper_note = ""

    # printed at its size (6.3 in, the PDF's text width): no text under PRINT_FONT_PT
    fig, (ax, dash) = plt.subplots(2, 1, figsize=(6.3, 3.2 + 0.17 * len(levels)), sharex=True,
                                   gridspec_kw={"height_ratios": [3, max(1.2, 0.17 * len(levels))]})
    colors = np.where(c["significant"], SIG_COLOR, NONSIG_COLOR)
    ax.fill_between(c["rank"].to_numpy(float), c["ci_low"].to_numpy(float), c["ci_high"].to_numpy(float),
                    step="mid", color=COLOR, alpha=0.15, linewidth=0, label="95% CI")
    ax.scatter(c["rank"], c["value"], s=4, c=colors, zorder=3, linewidths=0)
    ax.axhline(null, color="black", linewidth=0.7)
    if paper is not None:
        ax.axhline(paper, color=PAPER_COLOR, linestyle="--", linewidth=1, label=f"paper ({num(paper)})")
    if len(default):
        ax.scatter(default["rank"], default["value"], marker="D", s=36, color=DEFAULT_COLOR,
                   zorder=4, label=f"book default ({num(default['value'].iloc[0])})")
    if est.ratio:
        ax.set_yscale("log")
        log_ticks(ax.yaxis, (float(c["ci_low"].min()) * 0.9, max(float(c["ci_high"].max()), 1.0) * 1.1))
    ax.set_ylabel(est.label)
    ax.legend(loc="best", fontsize=PRINT_FONT_PT, frameon=False)
    ax.set_title(f"{len(c):,} distinct specifications, sorted; dark = p < 0.05 in the paper's direction"
                 + paper_note, fontsize=9, wrap=True)
    # wrapped to the curve's height: a long label would run into the title
    ax.set_ylabel(textwrap.fill(est.label, 32), fontsize=9)
    ax.tick_params(labelsize=PRINT_FONT_PT)
    dash.tick_params(axis="x", labelsize=PRINT_FONT_PT)
    ypos = {lv: i for i, lv in enumerate(reversed(levels))}
    for d in dims:
        for v in mv.GRID[d]:
            if (d, v) not in ypos:
                continue
            x = c.loc[c[d] == v, "rank"]
            dash.scatter(x, np.full(len(x), ypos[(d, v)]), marker="|", s=12, linewidths=0.5,
                         color=np.where(c.loc[c[d] == v, "significant"], SIG_COLOR, NONSIG_COLOR))
    dash.set_yticks(list(ypos.values()))
    dash.set_yticklabels([": ".join(option_words(d, v)) for (d, v) in ypos], fontsize=PRINT_FONT_PT)
    dash.set_xlabel("specification (rank of the estimate)", fontsize=9)
    dash.set_xlim(0, len(c) + 1)
    fig.tight_layout()
    plt.close(fig)
    alt = (f"Specification curve of {est.label}: {len(c)} estimates sorted with 95% CIs, the "
           f"paper's value and the book's default marked, and the choices of each specification")
    if not interactive:
        return BookFigure(fig, None, alt)
    return BookFigure(fig, _plotly(c, est, levels, paper, null, estimate), alt,
                      narrow=_narrow(len(levels)), narrow_width=NARROW_PX)


#: Text size of the printed figure (points, at the PDF's text width).
PRINT_FONT_PT = 8.5
#: Interactive figure: height, and per dashboard row; below NARROW_PX of column (a phone) the
#: dashboard's labels stand inside the plot, each above its row, so that they do not take the
#: plot's width, and the rows are taller to make room for them.
WIDE_BASE_PX, WIDE_ROW_PX = 440, 20
NARROW_PX, NARROW_ROW_PX = 600, 30


def _narrow(n_levels: int) -> dict[str, Any]:
    # the legend wraps to two lines on a phone: a deeper top margin keeps it under the toolbar
    return {"yaxis2.ticklabelposition": "inside top", "margin.t": 104,
            "height": WIDE_BASE_PX + 100 + NARROW_ROW_PX * n_levels}


def _plotly(c: pd.DataFrame, est: mv.Estimate, levels: list[tuple[str, str]], paper, null,
            estimate: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    dims = list(dict.fromkeys(d for d, _ in levels))
    hover = [f"spec {s}: {est.label} {num(v)} ({num(lo)}, {num(hi)}), p = {p:.3g}, n = {n}<br>"
             + "<br>".join(f"{d.replace('_', ' ')} = {getattr(r, d)}" for d in dims)
             for s, v, lo, hi, p, n, r in zip(c["spec"], c["value"], c["ci_low"], c["ci_high"],
                                              c["p"], c["n"], c.itertuples())]
    colors = np.where(c["significant"], SIG_COLOR, NONSIG_COLOR).tolist()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[0.55, 0.45])
    fig.add_trace(go.Scatter(
        x=c["rank"], y=c["value"], mode="markers", marker={"size": 4, "color": colors},
        error_y={"type": "data", "symmetric": False, "array": c["ci_high"] - c["value"],
                 "arrayminus": c["value"] - c["ci_low"], "thickness": 0.5, "width": 0,
                 "color": "rgba(31,78,121,0.25)"},
        text=hover, hovertemplate="%{text}<extra></extra>", name="specifications"), row=1, col=1)
    default = c[c["is_default"]]
    if len(default):
        fig.add_trace(go.Scatter(x=default["rank"], y=default["value"], mode="markers",
                                 marker={"size": 11, "symbol": "diamond", "color": DEFAULT_COLOR},
                                 name="book default", hoverinfo="skip"), row=1, col=1)
    fig.add_hline(y=null, line={"color": "black", "width": 1}, row=1, col=1)
    if paper is not None:
        fig.add_trace(go.Scatter(x=[c["rank"].min(), c["rank"].max()], y=[paper, paper], mode="lines",
                                 line={"color": PAPER_COLOR, "dash": "dash", "width": 2},
                                 name=f"paper ({num(paper)})", hoverinfo="skip"), row=1, col=1)
    labels = [": ".join(option_words(d, v)) for d, v in levels]
    for (d, v), lab in zip(levels, labels):
        sel = c[d] == v
        fig.add_trace(go.Scatter(x=c.loc[sel, "rank"], y=[lab] * int(sel.sum()), mode="markers",
                                 marker={"symbol": "line-ns-open", "size": 6, "color": COLOR},
                                 customdata=c.loc[sel, "spec"],
                                 hovertemplate="spec %{customdata} (rank %{x})<extra></extra>",
                                 showlegend=False),
                      row=2, col=1)
    if est.ratio:
        lim = (float(c["ci_low"].min()), float(c["ci_high"].max()))
        fig.update_yaxes(type="log", **plotly_log_ticks((min(lim[0], paper or lim[0]), max(lim[1], 1.0))),
                         row=1, col=1)
    fig.update_yaxes(title_text=est.label, row=1, col=1)
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(labels)), tickmode="array",
                     tickvals=labels, ticktext=labels, tickfont={"size": 9}, row=2, col=1,
                     ticklabelposition="outside")
    fig.update_xaxes(title_text="specification (rank of the estimate)", row=2, col=1)
    # the legend above the plot on the left, under the toolbar's corner (top right, on hover)
    fig.update_layout(height=WIDE_BASE_PX + WIDE_ROW_PX * len(levels),
                      margin={"l": 10, "r": 10, "t": 64, "b": 40},
                      template="simple_white", hovermode="closest",
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0,
                              "yanchor": "bottom"})
    return fig
