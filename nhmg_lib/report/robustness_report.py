"""The robustness chapter's exhibits: the specification table, the specification plot
(Figure B1) and the E-value table, from a :class:`~nhmg_lib.analyses.robustness.RobustnessResult`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nhmg_lib.analyses.robustness import RobustnessResult, format_ci
from nhmg_lib.report.figures import BookFigure
from nhmg_lib.report.tables import PublicationTable, publication_table

__all__ = ["robustness_table", "specification_plot", "e_value_table", "OPTION_WORDS",
           "option_words", "spec_label"]

#: Every option value of the robustness chapter in words, for tables, figure labels and prose
#: (the values themselves are code names: ``any_recreational``, ``wtdrd1``).
OPTION_WORDS: dict[str, dict[str, str]] = {
    "np_index": {"product": "neutrophils × platelets", "score": "0/1/2 score",
                 "neutrophil_pct": "neutrophil percentage"},
    "magnesium": {"diet": "food only", "total": "food and supplements"},
    "egfr_equation": {"ckd_epi_2009": "CKD-EPI 2009", "ckd_epi_2021": "CKD-EPI 2021"},
    "drinking": {"nhanes_lifetime_12": "12 drinks in a lifetime", "past_year_any": "any drink in the past year"},
    "physical_activity": {"who_600_met": "≥ 600 MET-min/week", "any_recreational": "any recreational activity"},
    "random_glucose": {"ogtt_2h": "2-hour OGTT counts", "none": "no random glucose"},
    "race": {"ridreth1": "five groups", "ridreth3": "six groups (with Asian)"},
    "weight": {"wtdr2d": "dietary two-day weight", "wtdrd1": "dietary day-1 weight",
               "wtmec2yr": "examination weight"},
    "vitamin_d": {"d3": "25(OH)D3", "total": "25(OH)D2 + D3"},
    "covariates_required": {"model3_and_indices": "Model 3 and index inputs", "model3": "Model 3 only"},
    "magnesium_energy": {"none": "as reported", "residual": "residual method",
                         "per_1000kcal": "per 1,000 kcal"},
    "lean_mass": {"bone_free": "without bone", "with_bone": "with bone mineral"},
    "lmm_definition": {"fnih_bmi": "FNIH, ASM/BMI", "height_baumgartner": "Baumgartner, ASM/height²"},
    "spline_knots": {"unweighted": "unweighted", "weighted": "survey-weighted"},
    "mediation_bootstrap": {"rows": "rows", "design": "PSUs within strata"},
    "mediation_weights": {"normalised": "scaled to mean 1", "raw": "raw", "none": "none"},
    # the multiverse's analysis dimensions
    "energy_exclusion": {"no": "every cohort member", "yes": "implausible intake left out"},
    "mediation_weighting": {"normalised": "scaled to mean 1", "raw": "raw", "none": "none"},
    "covariates": {"model3": "Model 3", "model2": "Model 2 (age, gender, race)"},
}
_FIELD_WORDS = {"np_index": "NP index", "egfr_equation": "eGFR equation", "vitamin_d": "vitamin D",
                "lmm_definition": "LMM definition", "lean_mass": "limb lean mass",
                "covariates": "covariate set", "magnesium_energy": "magnesium and energy"}


def option_words(field: str, value: str) -> tuple[str, str]:
    """``(choice, option)`` in words, e.g. ``("physical activity", "any recreational activity")``."""
    return (_FIELD_WORDS.get(field, field.replace("_", " ")),
            OPTION_WORDS.get(field, {}).get(value, value.replace("_", " ")))


def spec_label(name: str) -> str:
    """A specification's name in words: ``"physical_activity=any_recreational"`` ->
    ``"physical activity: any recreational activity"``; ``"default"`` stays."""
    if "=" not in name:
        return name
    return ": ".join(option_words(*name.split("=", 1)))


def robustness_table(result: RobustnessResult, caption: str | None = None,
                     name: str = "table-robustness") -> PublicationTable:
    """The specification table as a publication table."""
    table = result.formatted()
    table.index = pd.MultiIndex.from_tuples(
        [("Default", "") if s == "default" else option_words(r.field, r.option)
         for s, r in result.frame.iterrows()])
    failed = [f"{'Default' if s == 'default' else spec_label(s)}: the proportions mediated are not "
              f"estimable ({why})" for s, why in result.frame["mediation_failed"].items()
              if isinstance(why, str)]
    return publication_table(
        table, name=name, stub_header="Specification",
        caption=caption or "Headline estimates under each alternative definition (one "
                           "choice changed from the default at a time)",
        footnotes=[
            "All estimates Model 3, cohort as a domain of the full NHANES design. OR: survey "
            "logistic regression of LMM; β: survey linear regression of ln SMI; Q4 vs Q1 "
            "of ln magnesium intake. P nonlinear: restricted cubic spline, 3 knots.",
            "Proportion mediated by NP for the change of ln magnesium intake from the median of "
            "its first quartile to that of its fourth (the contrast of the mediation chapter "
            f"and the multiverse), 95% CI from {result.boot} bootstrap resamples (seed "
            f"{result.seed}; the main chapter uses 1000).",
            "Spline knots and mediation bootstrap change only the spline P and the mediation "
            "CIs; every other cell of those rows repeats the default.",
            "Mediation weights change only the proportions mediated: raw weights leave the "
            "linear (SMI) effects as they are and change the logistic (LMM) NDE through the "
            "mediator model's residual variance; unweighted models change both.", *failed])


def specification_plot(result: RobustnessResult, figsize: tuple[float, float] | None = None) -> BookFigure:
    """Specification plot: Q4 vs Q1 OR of LMM with 95% CI per specification (log scale),
    the default highlighted and its estimate drawn as a reference line."""
    import matplotlib.pyplot as plt

    f = result.frame
    n = len(f)
    fig, ax = plt.subplots(figsize=figsize or (7.5, 0.38 * n + 1.2))
    plt.close(fig)
    y = np.arange(n)[::-1]
    labels = ["default" if s == "default" else spec_label(s) for s in f.index]
    is_def = np.array([s == "default" for s in f.index])
    for yi, (s, r), d in zip(y, f.iterrows(), is_def):
        color = "#c0392b" if d else "#34495e"
        ax.plot([r.or_q4_lo, r.or_q4_hi], [yi, yi], color=color, lw=2.2 if d else 1.4)
        ax.plot(r.or_q4, yi, "D" if d else "o", color=color, ms=7 if d else 5)
    ax.axvline(1.0, color="grey", lw=0.8)
    if is_def.any():
        ax.axvline(f.loc["default", "or_q4"], color="#c0392b", lw=0.8, ls="--")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(0.1, 0.2, 0.3, 0.5, 0.7, 1.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    for t, d in zip(ax.get_yticklabels(), is_def):
        if d:
            t.set_fontweight("bold")
            t.set_color("#c0392b")
    ax.set_xlabel("OR of low muscle mass, Q4 vs Q1 of magnesium (Model 3, 95% CI)")
    ax.set_ylim(-0.7, n - 0.3)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    d = f.loc["default"] if is_def.any() else f.iloc[0]
    return BookFigure(fig, alt=f"Specification plot: Q4 vs Q1 OR of low muscle mass under {n} "
                               f"specifications; default {d.or_q4:.2f} "
                               f"({d.or_q4_lo:.2f}, {d.or_q4_hi:.2f})")


def e_value_table(result: RobustnessResult, spec: str = "default",
                  name: str = "table-e-values") -> PublicationTable:
    """:meth:`~nhmg_lib.analyses.robustness.RobustnessResult.e_values` as a publication table."""
    e = result.e_values(spec)
    df = pd.DataFrame({
        "OR (95% CI)": [format_ci(r["or"], r.ci_low, r.ci_high) for _, r in e.iterrows()],
        "E-value (estimate)": [f"{v:.2f}" for v in e["e_value"]],
        "E-value (CI limit)": [f"{v:.2f}" for v in e["e_value_ci"]],
    }, index=e.index)
    return publication_table(
        df, name=name, stub_header="Table 2, Model 3",
        caption="E-values for the association of magnesium intake with low muscle mass",
        footnotes=["E-value (VanderWeele & Ding 2017): the minimum strength of association, "
                   "on the risk-ratio scale, that an unmeasured confounder would need with "
                   "both magnesium intake and LMM to explain the association away. ORs < 1 "
                   "are inverted; LMM is rare enough (about 7%) to take RR ≈ OR.",
                   "CI limit: the E-value of the confidence limit closest to 1 (1 when the "
                   "CI includes 1)."])
