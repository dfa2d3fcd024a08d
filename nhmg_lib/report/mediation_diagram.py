"""Figures 4 and 5: path diagrams of the mediation of magnesium -> LMM / SMI by each index.

:func:`path_diagram` draws one mediator's diagram; :func:`figure` the four diagrams of an
outcome in a 2 x 2 grid, from the results of :func:`nhmg_lib.report.mediation_report.mediation_block`.
The effects printed are those of the results' contrast (shown as ``ln-Mg a* → a`` under
them): the book passes :func:`nhmg_lib.report.mediation_report.contrast_block` of the Q1 to
Q4 medians, so that the figures lead with a change inside the data, and the same contrast of
the design-bootstrap block, whose CIs are printed beside the row bootstrap's. Path ``b`` is
the mediator's slope at the contrast's end value of ln-Mg (:func:`path_coefficients`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nhmg_lib.analyses import mediation
from nhmg_lib.report.exhibits import label_of
from nhmg_lib.report.figures import BookFigure
from nhmg_lib.report.mediation_report import (INDICES, LABELS, OUTCOMES, format_number, outcome_key,
                                             pm_verdict)

__all__ = ["path_coefficients", "path_diagram", "figure"]


def path_coefficients(result: mediation.MediationResult,
                      at: float | None = None) -> dict[str, tuple[float, float, float]]:
    """Path coefficients with percentile 95% bootstrap CIs: ``a`` (ln-Mg in the mediator model,
    ``b1``), ``b`` (the mediator's slope in the outcome model at ln-Mg = ``at``,
    ``t2 + t3 at``), ``ab`` (mediator x ln-Mg interaction in the outcome model, ``t3``) and
    ``c`` (ln-Mg in the outcome model, ``t1``). Coefficients are on the model scale (log odds
    for LMM).

    ``at`` defaults to the contrast's end value ``result.a``: with the interaction the
    mediator's slope depends on magnesium, the coefficient ``t2`` alone is its slope at ln-Mg
    = 0 (1 mg/day, outside the data), and at ``a`` the NIE is ``a x b x (a - a*)``."""
    at = float(result.a if at is None else at)
    ok = ~np.asarray(result.failed, dtype=bool)
    bp = {k: np.asarray(v, dtype=float) for k, v in result.boot_params.items()}
    full = {k: float(v) for k, v in result.params.items()}
    paths = {"a": (full["b1"], bp["b1"]), "b": (full["t2"] + full["t3"] * at, bp["t2"] + bp["t3"] * at),
             "ab": (full["t3"], bp["t3"]), "c": (full["t1"], bp["t1"])}
    out = {}
    for name, (est, draws) in paths.items():
        d = draws[ok]
        d = d[np.isfinite(d)]
        lo, hi = (np.quantile(d, [0.025, 0.975]) if d.size else (np.nan, np.nan))
        out[name] = (float(est), float(lo), float(hi))
    return out


def _wrap(label: str, width: int = 11) -> str:
    """A box label on lines of at most ``width`` characters ("Low muscle\nmass")."""
    import textwrap

    return "\n".join(textwrap.wrap(label, width)) or label


def _draw(ax: Any, result: mediation.MediationResult, mediator_label: str, outcome_label: str,
          fontsize: float = 9.5, design: mediation.MediationResult | None = None) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    ax.set_xlim(-0.1, 10.1)
    ax.set_ylim(-0.7, 6.1)
    ax.axis("off")
    # boxes wide enough for their labels at ``fontsize`` in a panel of the 2 x 2 figure
    bw, bh = 2.7, 1.3
    boxes = {"x": (1.35, 1.8), "m": (5.0, 5.3), "y": (8.65, 1.8)}
    text = {"x": "Magnesium\n(ln mg/day)", "m": _wrap(mediator_label), "y": _wrap(outcome_label)}
    for k, (x, y) in boxes.items():
        ax.add_patch(FancyBboxPatch((x - bw / 2, y - bh / 2), bw, bh,
                                    boxstyle="round,pad=0.05,rounding_size=0.15",
                                    fc="#eef3f8", ec="#34495e", lw=1.2))
        ax.text(x, y, text[k], ha="center", va="center", fontsize=fontsize, weight="bold")

    def arrow(p: tuple[float, float], q: tuple[float, float]) -> None:
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=13, lw=1.4,
                                     color="#34495e", shrinkA=0, shrinkB=0))

    arrow((1.8, 1.8 + bh / 2 + 0.08), (5.0 - bw / 2 - 0.05, 5.3 - 0.1))
    arrow((5.0 + bw / 2 + 0.05, 5.3 - 0.1), (8.2, 1.8 + bh / 2 + 0.08))
    arrow((1.35 + bw / 2 + 0.08, 1.8), (8.65 - bw / 2 - 0.08, 1.8))

    pc = path_coefficients(result)
    ci = lambda t, d=3: f"{format_number(t[0], d)}\n({format_number(t[1], d)}, {format_number(t[2], d)})"  # noqa: E731
    small = fontsize - 1
    # path labels beside the upper part of each arrow, clear of it and of the panel edge
    ax.text(3.0, 4.65, f"a = {ci(pc['a'])}", ha="right", va="center", fontsize=small,
            color="#1f4e79", linespacing=1.2)
    ax.text(6.85, 4.65, f"b = {ci(pc['b'])}\nat ln-Mg {format_number(result.a, 2)}", ha="left",
            va="center", fontsize=small, color="#1f4e79", linespacing=1.2)
    logistic = result.family == "binomial"
    meas = "OR" if logistic else "β"
    dd = 2 if logistic else 3

    def eff(k: str, scale: float = 1.0, d: int = dd) -> str:
        e, lo, hi = (scale * v[k] for v in (result.estimate, result.ci_low, result.ci_high))
        text = f"{format_number(e, d)} ({format_number(lo, d)}, {format_number(hi, d)})"
        if design is not None:  # the design-bootstrap limits in square brackets
            dlo, dhi = (scale * v[k] for v in (design.ci_low, design.ci_high))
            text += f" [{format_number(dlo, d)}, {format_number(dhi, d)}]"
        return text

    why = pm_verdict(result, design)
    pm = (f"Mediated: {eff('pm', 100.0, 1)} %" if why is None
          else "Mediated: not meaningful (TE CI includes " + ("1)" if logistic else "0)"))
    # the effects under the direct path, where the panel's full width is free
    ax.text(5.0, 1.0, f"NDE: {meas} {eff('nde')}\nNIE: {meas} {eff('nie')}\nTE: {meas} {eff('te')}\n"
            f"{pm}\n(ln-Mg {format_number(result.a_star, 2)} → {format_number(result.a, 2)})",
            ha="center", va="top", fontsize=small, linespacing=1.3)


def path_diagram(result: mediation.MediationResult, mediator_label: str, outcome_label: str,
                 ax: Any = None) -> BookFigure:
    """One path diagram: Magnesium -> mediator -> outcome with the path coefficients ``a`` and
    ``b`` (95% bootstrap CI; the Mg x mediator interaction under ``b``), the direct (NDE),
    indirect (NIE) and total effects and the proportion mediated. Draws into ``ax`` if given
    (then the returned figure is ``ax``'s)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        plt.close(fig)
    _draw(ax, result, mediator_label, outcome_label)
    alt = (f"Path diagram of magnesium -> {mediator_label} -> {outcome_label}: NIE "
           f"{result.estimate['nie']:.3g}, proportion mediated {100 * result.estimate['pm']:.1f}%")
    return BookFigure(ax.figure, alt=alt)


def figure(results: Mapping[tuple[str, str], mediation.MediationResult], outcome: str,
           figsize: tuple[float, float] = (7.3, 7.1),
           design: Mapping[tuple[str, str], mediation.MediationResult] | None = None) -> BookFigure:
    """Figure 4 (``"lmm"``) or Figure 5 (``"ln_smi"``): the four indices' path diagrams, 2 x 2.
    With ``design`` (the same contrast of the design-bootstrap block) each effect also shows
    its design-bootstrap CI in square brackets."""
    import matplotlib.pyplot as plt

    outcome = outcome_key(outcome)
    _prefix, _fam, label = OUTCOMES[outcome]
    out_label = "Low muscle mass" if outcome == "lmm" else "ln SMI"
    fig, axes = plt.subplots(2, 2, figsize=figsize)
    plt.close(fig)
    for ax, i in zip(axes.ravel(), INDICES):
        res = results.get((f"ln_{i}", outcome))
        if res is None:
            ax.axis("off")
            continue
        _draw(ax, res, f"ln {LABELS[i]}", out_label,
              design=design.get((f"ln_{i}", outcome)) if design is not None else None)
        ax.set_title(f"({'abcd'[INDICES.index(i)]}) {LABELS[i]}", loc="left", fontsize=10.5,
                     weight="bold")
    # sized for the web book's text column: shown there at its own size (8.5-10.5 pt text); the
    # PDF (6.3 in of text) draws it at 87%: no text under 7 pt
    fig.subplots_adjust(left=0.005, right=0.995, top=0.96, bottom=0.01, wspace=0.03, hspace=0.1)
    exhibit = label_of("fig-mediation-lmm" if outcome == "lmm" else "fig-mediation-smi")
    return BookFigure(fig, alt=f"{exhibit}: path diagrams of the mediation of magnesium -> "
                               f"{label} by CALLY, NP, PAR and RAR")
