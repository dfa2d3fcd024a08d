"""The numbers the paper publishes, as reference data for the scorecard.

Typed in once, here only, each with where in the paper it stands. Ids follow the
``results.json`` ids (SPEC section 7), so the scorecard joins on ``id``. The text we have
gives the headline values of each exhibit, not every cell of every table: what is listed here is
everything the text states: :data:`VALUES` (numbers) and :data:`FINDINGS` (results stated in
words, each made testable by :class:`Check` s on the book's records). Nothing in the analysis
code reads this module.

``estimate`` is on the scale the book reports: odds ratios for LMM, beta coefficients for
ln SMI and the ln indices, proportions (0-1) for proportions mediated, counts for the flow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """One published number: ``id`` as in results.json, the value, its CI if printed, and where."""

    id: str
    estimate: float
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    where: str = ""
    decimals: int = 2
    note: str = ""


#: The paper replicated, as cited on the title page, in the introduction, the README and
#: CITATION.cff (tests/test_citation.py checks that each carries it in full).
CITATION: str = (
    "Zhu Z, Wang W, Ding F, Shen Y. Association Between Dietary Magnesium Intake and Low Muscle "
    "Mass: The Mediating Role of Inflammatory Indicators. Healthcare 2026;14(1):1 (published "
    "19 December 2025). doi:10.3390/healthcare14010001 (PMC12785460)."
)
DOI: str = "10.3390/healthcare14010001"


#: Figure 1 / section 2.1: (step, n excluded at that step, n remaining, where).
FLOW: list[tuple[str, int | None, int, str]] = [
    ("NHANES 2011-2018 participants", None, 39156, "2.1, Figure 1"),
    ("Aged < 20 years", 16539, 22617, "2.1, Figure 1"),
    ("Without appendicular skeletal muscle or BMI data", 11791, 10826, "2.1, Figure 1"),
    ("Missing two days of 24 h dietary recall", 1954, 8872, "2.1, Figure 1"),
    ("Lacking covariate data", 3079, 5793, "2.1, Figure 1"),
]

#: Magnesium quartile ranges on the ln scale (section 2.6): (low, high) per quartile.
MG_QUARTILE_RANGES: dict[int, tuple[float, float]] = {
    1: (2.25, 5.40), 2: (5.41, 5.70), 3: (5.71, 5.99), 4: (6.00, 7.69),
}

VALUES: list[Published] = [
    # Cohort (2.1, 3.1)
    Published("flow/final_n", 5793, where="Abstract; 2.1", decimals=0),
    Published("cohort/lmm_n", 416, where="3.1", decimals=0),
    Published("cohort/lmm_pct", 7.18, where="3.1"),
    Published("cohort/male_pct", 51.77, where="3.1"),
    Published("cohort/median_age", 38, where="3.1", decimals=0),
    Published("tableS1/excluded_n", 187, where="2.6", decimals=0,
              note="participants with extreme energy intake excluded in the sensitivity analysis"),
    # Table 2: LMM, survey logistic, Model 3 (3.2)
    Published("table2/model3/ln_mg", 0.32, where="3.2",
              note="'the risk of LMM decreased by 68% for each unit increment': OR = 1 - 0.68"),
    Published("table2/model3/q3", 0.63, 0.41, 0.96, where="3.2"),
    Published("table2/model3/q4", 0.33, 0.18, 0.60, where="3.2; Findings: 'reduces ... by 67%'"),
    # Table 3: ln SMI, survey linear, Model 3 (3.3)
    Published("table3/model3/ln_mg", 0.05, 0.03, 0.06, where="3.3"),
    Published("table3/model3/q3", 0.03, 0.01, 0.05, where="3.3"),
    Published("table3/model3/q4", 0.05, 0.04, 0.07, where="3.3"),
    # Figure 2 and Table S3 (3.4)
    Published("fig2/lmm/p_nonlinear", 0.012, where="3.4", decimals=3),
    Published("fig2/smi/p_nonlinear", 0.262, where="3.4", decimals=3),
    Published("tableS3/lmm/inflection", 5.69, where="3.4; Discussion (5.69 ln = 298.87 mg/d as printed)",
              note="exp(5.69) = 295.9 mg/d; the Discussion prints 298.87"),
    Published("tableS3/lmm/above", 0.06, 0.02, 0.19, where="3.4"),
    # Figure 3 (3.5)
    Published("fig3/hypertension/p_interaction", 0.005, where="3.5", decimals=3),
    Published("fig3/hypertension/yes/q3", 0.37, 0.18, 0.76, where="3.5"),
    Published("fig3/hypertension/yes/q4", 0.16, 0.07, 0.38, where="3.5"),
    # Table 4: Mg -> ln index, Model 3, Q4 vs Q1 (3.6)
    Published("table4/cally/model3/q4", 0.35, 0.18, 0.53, where="3.6"),
    Published("table4/np/model3/q4", -0.12, -0.17, -0.07, where="3.6"),
    Published("table4/par/model3/q4", -0.05, -0.08, -0.03, where="3.6"),
    Published("table4/rar/model3/q4", -0.04, -0.05, -0.03, where="3.6"),
    # Table 5: ln index -> LMM, Model 3 (3.7)
    Published("table5/cally/model3/ln_index", 0.55, where="3.7",
              note="'the risk of LMM decreased by 45% for every one-unit increment in CALLY'"),
    Published("table5/np/model3/ln_index", 2.46, 1.96, 3.09, where="3.7"),
    Published("table5/par/model3/ln_index", 4.07, 2.68, 6.19, where="3.7"),
    Published("table5/rar/model3/ln_index", 2.27, 1.83, 2.81, where="3.7"),
    # Tables 7 and 8: proportion mediated (3.8)
    Published("table7/np/pm", 0.18, where="3.8"),
    Published("table7/par/pm", 0.13, where="3.8"),
    Published("table7/rar/pm", 0.21, where="3.8"),
    Published("table8/np/pm", 0.32, where="3.8"),
    Published("table8/par/pm", 0.24, where="3.8"),
    Published("table8/rar/pm", 0.25, where="3.8"),
]



@dataclass(frozen=True)
class Check:
    """One testable part of a stated finding, on a results.json record ``id``.

    ``relation``: ``">"`` / ``"<"``: the estimate lies above / below the null value (1 for
    odds ratios, 0 for betas), or above / below the estimate of ``other`` when given;
    ``"sig"`` / ``"ns"``: significant / not significant at 0.05 (p-value records: p itself).
    """

    id: str
    relation: str
    other: str | None = None


@dataclass(frozen=True)
class Finding:
    """A result the paper states in words, with the checks that make it testable."""

    exhibit: str              # id prefix of the exhibit, e.g. "table6"
    text: str                 # the paper's claim, close to its words
    where: str
    checks: tuple[Check, ...]


def _t1(variable: str, level: str, relation: str) -> tuple[Check, ...]:
    """Table 1: the LMM group's value of ``variable``/``level`` is higher (">") or lower than
    the non-LMM group's, and the design-based test of ``variable`` is significant."""
    return (Check(f"table1/{variable}/{level}/lmm", relation, f"table1/{variable}/{level}/non_lmm"),
            Check(f"table1/{variable}/p", "sig"))


def _all(pattern: str, relation: str, **values: tuple[str, ...]) -> tuple[Check, ...]:
    """One check per combination, e.g. ``_all("table2/{m}/ln_mg", "<", m=("model1", ...))``."""
    from itertools import product
    keys = list(values)
    return tuple(Check(pattern.format(**dict(zip(keys, combo))), relation)
                 for combo in product(*(values[k] for k in keys)))


_MODELS = ("model1", "model2", "model3")
_SUBGROUPS = ("gender", "age", "education", "hypertension", "diabetes", "drinking", "ckd")

#: What the paper states without a number (sections 3.1-3.8), as checks on the book's records.
FINDINGS: list[Finding] = [
    Finding("table1", "Participants with LMM were older", "3.1", _t1("age", "mean", ">")),
    Finding("table1", "... more often Mexican American or other Hispanic", "3.1",
            _t1("race", "mexican_american", ">") + _t1("race", "other_hispanic", ">")[:1]),
    Finding("table1", "... less educated", "3.1", _t1("education", "below_high_school", ">")),
    Finding("table1", "... had a lower PIR", "3.1", _t1("pir_cat", "lt1_39", ">")),
    Finding("table1", "... were less active", "3.1", _t1("active", "inactive", ">")),
    Finding("table1", "... more often had hypertension and diabetes", "3.1",
            _t1("hypertension", "yes", ">") + _t1("diabetes", "yes", ">")),
    Finding("table1", "... ate less energy and protein", "3.1",
            _t1("energy", "median", "<") + _t1("protein", "median", "<")),
    Finding("table1", "... had lower serum 25(OH)D3", "3.1", _t1("vitd", "median", "<")),
    Finding("table1", "... had lower CALLY and higher NP, PAR and RAR", "3.1",
            _t1("cally", "median", "<") + _t1("np", "median", ">") + _t1("par", "median", ">")
            + _t1("rar", "median", ">")),
    Finding("table2", "Continuous magnesium: a negative association with LMM in all models", "3.2",
            _all("table2/{m}/ln_mg", "<", m=_MODELS) + _all("table2/{m}/ln_mg", "sig", m=_MODELS)),
    Finding("table3", "Continuous magnesium: a positive association with SMI in all models", "3.3",
            _all("table3/{m}/ln_mg", ">", m=_MODELS) + _all("table3/{m}/ln_mg", "sig", m=_MODELS)),
    Finding("table3", "Q3 and Q4 positively associated with SMI in all models", "3.3",
            _all("table3/{m}/{q}", ">", m=_MODELS, q=("q3", "q4"))
            + _all("table3/{m}/{q}", "sig", m=_MODELS, q=("q3", "q4"))),
    Finding("tableS1", "Consistent results without extreme energy intake (LMM)", "3.3",
            (Check("tableS1/model3/ln_mg", "<"), Check("tableS1/model3/ln_mg", "sig"),
             Check("tableS1/model3/q4", "<"), Check("tableS1/model3/q4", "sig"))),
    Finding("tableS2", "Consistent results without extreme energy intake (SMI)", "3.3",
            (Check("tableS2/model3/ln_mg", ">"), Check("tableS2/model3/ln_mg", "sig"),
             Check("tableS2/model3/q4", ">"), Check("tableS2/model3/q4", "sig"))),
    Finding("tableS3", "No significant association with LMM below the inflection point", "3.4",
            (Check("tableS3/lmm/below", "ns"),)),
    Finding("fig3", "The protective association is significant only with hypertension", "3.5",
            (Check("fig3/hypertension/no/q3", "ns"), Check("fig3/hypertension/no/q4", "ns"))),
    Finding("figS1", "No significant interaction for SMI in any subgroup", "3.5",
            _all("figS1/{g}/p_interaction", "ns", g=_SUBGROUPS)),
    Finding("table4", "Magnesium positively associated with CALLY in all models", "3.6",
            _all("table4/cally/{m}/ln_mg", ">", m=_MODELS)
            + _all("table4/cally/{m}/ln_mg", "sig", m=_MODELS)),
    Finding("table4", "Magnesium negatively associated with NP, PAR and RAR", "3.6",
            _all("table4/{i}/{m}/ln_mg", "<", i=("np", "par", "rar"), m=_MODELS)),
    Finding("table5", "CALLY negatively, NP, PAR and RAR positively associated with LMM", "3.7",
            _all("table5/cally/{m}/ln_index", "<", m=_MODELS)
            + _all("table5/{i}/{m}/ln_index", ">", i=("np", "par", "rar"), m=_MODELS)),
    Finding("table6", "CALLY positively, NP, PAR and RAR negatively associated with SMI", "3.7",
            _all("table6/cally/{m}/ln_index", ">", m=_MODELS)
            + _all("table6/{i}/{m}/ln_index", "<", i=("np", "par", "rar"), m=_MODELS)),
    Finding("table7", "NP, PAR and RAR mediate the magnesium-LMM association", "3.8",
            _all("table7/{i}/nie", "sig", i=("np", "par", "rar"))),
    Finding("table7", "No significant mediation by CALLY (LMM)", "3.8",
            (Check("table7/cally/nie", "ns"),)),
    Finding("table8", "NP, PAR and RAR mediate the magnesium-SMI association", "3.8",
            _all("table8/{i}/nie", "sig", i=("np", "par", "rar"))),
    Finding("table8", "No significant mediation by CALLY (SMI)", "3.8",
            (Check("table8/cally/nie", "ns"),)),
]

BY_ID: dict[str, Published] = {v.id: v for v in VALUES}


def text(id: str) -> str:
    """A published number as the paper prints it: ``0.06 (0.02, 0.19)``; proportions
    mediated as percentages (``18%``)."""
    v = BY_ID[id]
    if id.endswith("/pm"):
        return f"{100 * v.estimate:.0f}%"
    fmt = f"{{:.{v.decimals}f}}"
    out = fmt.format(v.estimate)
    if v.ci_low is not None and v.ci_high is not None:
        out += f" ({fmt.format(v.ci_low)}, {fmt.format(v.ci_high)})"
    return out


def mediated_text(table: str) -> str:
    """The paper's proportions mediated of one table, e.g. ``18% by NP, 13% by PAR and 21% by RAR``."""
    parts = [f"{text(v.id)} by {v.id.split('/')[1].upper()}"
             for v in VALUES if v.id.startswith(f"{table}/") and v.id.endswith("/pm")]
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)
