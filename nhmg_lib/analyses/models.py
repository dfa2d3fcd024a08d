"""The paper's exposure models: Models 1-3 for ln-Mg, Mg quartiles and P for trend.

One concept: the model *specifications* of Tables 2, 3, S1 and S2 and the fits behind them.

* Model 1: exposure only; Model 2: + ``MODEL2_COVARIATES`` (age, gender, race); Model 3:
  + ``MODEL3_COVARIATES`` (definitions.py).
* Outcomes: ``lmm`` (0/1) with a survey logistic model (``quasibinomial``, estimates are odds
  ratios) and ``ln_smi`` with a survey linear model (``gaussian``, estimates are betas).
* Exposures: ``"ln_mg"`` (continuous, per 1 unit of ln mg/day), ``"quartiles"`` (``mg_q`` as a
  factor, Q1 reference) and ``"trend"``: every participant gets the median ``ln_mg`` of their
  quartile and that score enters as one continuous term; its Wald p-value is the P for trend.
  Medians are unweighted and computed within the analysis domain (the cohort for Tables 2/3,
  the energy-plausible cohort for S1/S2), from the ``mg_q`` the cohort frame carries (cohort
  quartiles; not re-cut for S1/S2).
* Factor reference levels (``FACTOR_LEVELS``, reference first): gender Male, race Mexican
  American, pir_cat <1.39, education Below high school, smoking No, drinking Never, active
  Inactive, diabetes/hypertension/ckd No. Changing a reference changes no exposure estimate.
* Design: ``SDMVSTRA`` strata, ``SDMVPSU`` PSUs (nested), ``weight``; the domain is a flag,
  never a subset (``Cohort.adults`` + ``in_cohort``).

Public API::

    fit_exposure_model(adults, outcome, exposure="ln_mg", model=3, domain="in_cohort",
                       *, design=None, extra_covariates=()) -> SvyGLMResult
    exposure_table(adults, outcome, domain="in_cohort", *, design=None) -> ExposureTable
    table_frame(adults, outcome, domain="in_cohort") -> DataFrame     # formatted, paper layout
    table_numeric(adults, outcome, domain="in_cohort") -> DataFrame   # long numeric
    records(adults, table_id="table2", outcome="lmm", domain="in_cohort") -> list[dict]
    all_records(adults) -> list[dict]        # table2, table3, tableS1, tableS2
    energy_plausible(frame) -> Series[bool]; energy_domain(adults) -> ndarray[bool]
    exclude_energy(cohort) -> Cohort         # the domain without implausible energy intake
    energy_excluded(adults) -> int           # cohort members left out of Tables S1/S2
    model_formula(outcome, exposure, model, extra_covariates=()) -> str
    with_trend_scores(adults, domain) -> DataFrame  (adds TREND_COLUMN)
    present_levels(frame, mask, columns=None, keep_reference=False) -> dict  # levels in the domain
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from nhmg_lib.cohort.definitions import MODEL2_COVARIATES, MODEL3_COVARIATES
from nhmg_lib.survey.design import Design
from nhmg_lib.errors import NhmgError
from nhmg_lib.survey.glm import ModelSpecError, SvyGLMResult, svyglm

Exposure = Literal["ln_mg", "quartiles", "trend"]
DomainSpec = str | np.ndarray | pd.Series

#: Level order per factor column of the cohort frame; the first level is the reference.
FACTOR_LEVELS: dict[str, list] = {
    "gender": ["Male", "Female"],
    "race": ["Mexican American", "Other Hispanic", "Non-Hispanic White", "Non-Hispanic Black",
             "Other Race", "Non-Hispanic Asian"],
    "pir_cat": ["<1.39", "1.39-3.49", ">3.49"],
    "education": ["Below high school", "High school", "Above high school"],
    "smoking": ["No", "Yes"],
    "drinking": ["Never", "Former", "Current"],
    "active": ["Inactive", "Active"],
    "diabetes": ["No", "Yes"],
    "hypertension": ["No", "Yes"],
    "ckd": ["No", "Yes"],
    "cycle": ["2011-2012", "2013-2014", "2015-2016", "2017-2018"],
    "mg_q": [1, 2, 3, 4],
}

#: Outcome -> survey GLM family.
OUTCOMES: dict[str, str] = {"lmm": "quasibinomial", "ln_smi": "gaussian"}
EXPOSURES: tuple[str, ...] = ("ln_mg", "quartiles", "trend")
MODELS: dict[int, tuple[str, ...]] = {1: (), 2: MODEL2_COVARIATES, 3: MODEL3_COVARIATES}
#: Column holding each participant's quartile-median ln-Mg (the P-for-trend score).
TREND_COLUMN = "mg_q_median"
#: Energy bounds (kcal/day, inclusive) for Tables S1/S2, by gender label.
ENERGY_BOUNDS: dict[str, tuple[float, float]] = {"Male": (800.0, 4200.0), "Female": (500.0, 3500.0)}

#: results.json table id -> (outcome, domain name); "energy" = in_cohort & energy_plausible.
TABLES: dict[str, tuple[str, str]] = {
    "table2": ("lmm", "in_cohort"),
    "table3": ("ln_smi", "in_cohort"),
    "tableS1": ("lmm", "energy"),
    "tableS2": ("ln_smi", "energy"),
}

ROW_LABELS: dict[str, str] = {
    "ln_mg": "ln-Mg (continuous)", "q1": "Q1", "q2": "Q2", "q3": "Q3", "q4": "Q4",
    "p_trend": "P for trend",
}


class ModelInputError(NhmgError, ValueError):
    """The frame cannot support the requested model (missing column, empty quartile/domain)."""


# ---------------------------------------------------------------------- specification
def covariates(model: int) -> tuple[str, ...]:
    """Adjustment set of Model 1, 2 or 3."""
    if model not in MODELS:
        raise ModelInputError(f"model={model!r}; the paper has Models 1, 2 and 3")
    return MODELS[model]


def _check_outcome(outcome: str) -> str:
    if outcome not in OUTCOMES:
        raise ModelInputError(f"outcome={outcome!r}; choose one of {list(OUTCOMES)}")
    return OUTCOMES[outcome]


def exposure_terms(exposure: Exposure) -> list[str]:
    """Formula terms of an exposure coding."""
    if exposure == "ln_mg":
        return ["ln_mg"]
    if exposure == "quartiles":
        return ["C(mg_q)"]
    if exposure == "trend":
        return [TREND_COLUMN]
    raise ModelInputError(f"exposure={exposure!r}; choose one of {list(EXPOSURES)}")


def model_formula(outcome: str, exposure: Exposure = "ln_mg", model: int = 3,
                  extra_covariates: Sequence[str] = ()) -> str:
    """Formula text, e.g. ``"lmm ~ ln_mg + age + gender + race"``.

    Strip ``C(...)`` and it is also an R formula (with the factors set up in R).
    """
    _check_outcome(outcome)
    rhs = exposure_terms(exposure) + list(covariates(model)) + [
        c for c in extra_covariates if c not in covariates(model)
    ]
    return f"{outcome} ~ " + " + ".join(rhs)


# ---------------------------------------------------------------------- domains
def energy_plausible(frame: pd.DataFrame) -> pd.Series:
    """True where energy intake is plausible: men 800-4200, women 500-3500 kcal/day
    (inclusive). Missing energy or gender gives False."""
    for col in ("energy", "gender"):
        if col not in frame.columns:
            raise ModelInputError(f"energy_plausible needs column {col!r}")
    energy = pd.to_numeric(frame["energy"], errors="coerce")
    ok = pd.Series(False, index=frame.index)
    for label, (lo, hi) in ENERGY_BOUNDS.items():
        sel = frame["gender"] == label
        ok |= sel & energy.between(lo, hi, inclusive="both")
    return ok.fillna(False).astype(bool).rename("energy_plausible")


def exclude_energy(cohort):
    """``cohort`` with members of implausible energy intake out of the domain (``in_cohort``
    0) and a flow step saying how many left; the design and the quartiles are unchanged."""
    from nhmg_lib.cohort.flow import FlowStep

    adults = cohort.adults
    inside = adults["in_cohort"].to_numpy() == 1
    keep = inside & energy_plausible(adults).to_numpy()
    steps = [s for s in cohort.flow if s.key not in ("energy", "final")]
    final = next((s for s in cohort.flow if s.key == "final"), None)
    steps.append(FlowStep("energy", "Implausible energy intake (men < 800 or > 4200, women "
                          "< 500 or > 3500 kcal/day)", int(inside.sum() - keep.sum()),
                          int(keep.sum())))
    if final is not None:
        steps.append(replace(final, n_remaining=int(keep.sum())))
    return replace(cohort, adults=adults.assign(in_cohort=np.where(keep, 1, 0)), flow=steps)


def _flag(adults: pd.DataFrame, col: str) -> np.ndarray:
    if col not in adults.columns:
        raise ModelInputError(f"domain column {col!r} is not in the frame")
    v = adults[col]
    if v.isna().any():
        raise ModelInputError(f"domain column {col!r} has missing values")
    return (v.to_numpy() == 1) | (v.to_numpy() == True)  # noqa: E712 (0/1 or bool)


def energy_domain(adults: pd.DataFrame) -> np.ndarray:
    """``in_cohort & energy_plausible`` (Tables S1/S2)."""
    return _flag(adults, "in_cohort") & energy_plausible(adults).to_numpy()


def energy_excluded(adults: pd.DataFrame) -> int:
    """Number of cohort members outside the energy bounds (left out of Tables S1/S2)."""
    return int((_flag(adults, "in_cohort") & ~energy_plausible(adults).to_numpy()).sum())


def resolve_domain(adults: pd.DataFrame, domain: DomainSpec) -> np.ndarray:
    """A boolean mask from a column name, ``"energy"`` (S1/S2 domain) or a mask."""
    if isinstance(domain, str):
        mask = energy_domain(adults) if domain == "energy" else _flag(adults, domain)
        name = domain
    else:
        mask = np.asarray(domain)
        if mask.shape != (len(adults),):
            raise ModelInputError(f"domain mask has shape {mask.shape}; the frame has {len(adults)} rows")
        mask = mask.astype(bool)
        name = "domain"
    if not mask.any():
        raise ModelInputError(f"the domain {name!r} has no participants")
    return mask


# ---------------------------------------------------------------------- trend scores
def quartile_medians(adults: pd.DataFrame, domain: DomainSpec = "in_cohort") -> pd.Series:
    """Unweighted median ``ln_mg`` per ``mg_q`` (1-4) within the domain; error if a quartile
    is empty."""
    mask = resolve_domain(adults, domain)
    for col in ("ln_mg", "mg_q"):
        if col not in adults.columns:
            raise ModelInputError(f"the frame has no {col!r} column")
    sub = adults.loc[mask, ["ln_mg", "mg_q"]].dropna()
    med = sub.groupby("mg_q")["ln_mg"].median()
    med.index = med.index.astype(int)
    empty = [q for q in (1, 2, 3, 4) if q not in med.index]
    if empty:
        raise ModelInputError(f"Mg quartile(s) Q{', Q'.join(map(str, empty))} have no participants in the domain")
    return med.reindex([1, 2, 3, 4]).rename("median_ln_mg")


def quartile_ranges(adults: pd.DataFrame, domain: DomainSpec = "in_cohort") -> dict[int, tuple[float, float]]:
    """Lowest and highest ``ln_mg`` of each ``mg_q`` quartile (1-4) within the domain, as the
    paper prints its quartiles (Q1 2.25-5.40, ...)."""
    mask = resolve_domain(adults, domain)
    sub = adults.loc[mask, ["ln_mg", "mg_q"]].dropna()
    g = sub.groupby(sub["mg_q"].astype(int))["ln_mg"]
    return {int(q): (float(lo), float(hi)) for q, lo, hi in zip(g.min().index, g.min(), g.max())}


def with_trend_scores(adults: pd.DataFrame, domain: DomainSpec = "in_cohort") -> pd.DataFrame:
    """A copy of ``adults`` with ``TREND_COLUMN`` = the domain median ln-Mg of each row's
    quartile (NaN where ``mg_q`` is missing)."""
    med = quartile_medians(adults, domain)
    out = adults.copy()
    out[TREND_COLUMN] = pd.to_numeric(adults["mg_q"], errors="coerce").map(med)
    return out


def _check_quartiles(adults: pd.DataFrame, mask: np.ndarray) -> None:
    q = pd.to_numeric(adults.loc[mask, "mg_q"], errors="coerce").dropna()
    bad = sorted(set(q.unique().tolist()) - {1, 2, 3, 4})
    if bad:
        raise ModelInputError(f"mg_q must be 1-4; the domain has {bad}")
    counts = q.value_counts()
    empty = [k for k in (1, 2, 3, 4) if counts.get(k, 0) == 0]
    if empty:
        raise ModelInputError(f"Mg quartile(s) Q{', Q'.join(map(str, empty))} have no participants in the domain")


# ---------------------------------------------------------------------- fitting
def present_levels(frame: pd.DataFrame, mask: np.ndarray, columns: Sequence[str] | None = None,
                   *, keep_reference: bool = False) -> dict[str, list]:
    """``FACTOR_LEVELS`` order (reference first) of the factor ``columns`` (default: all
    that ``frame`` has), cut to the levels present in the ``mask`` rows, so a level a domain
    does not reach (race "Non-Hispanic Asian", which RIDRETH1 never codes; a race group
    absent from a subgroup) gives no all-zero column.

    With ``keep_reference`` the first listed level stays even when absent, so a domain
    without the reference fails loudly instead of silently changing it; without it the
    reference stays first whenever it is present.
    """
    def key(v: object) -> str:   # 1.0 (a float mg_q) and 1 are the same level
        return str(int(v)) if isinstance(v, (int, float, np.number)) and float(v).is_integer() else str(v)

    out: dict[str, list] = {}
    for col in FACTOR_LEVELS if columns is None else columns:
        if col not in FACTOR_LEVELS or col not in frame.columns:
            continue
        seen = {key(v) for v in pd.unique(frame.loc[mask, col].dropna())}
        levels = FACTOR_LEVELS[col]
        head = [levels[0]] if keep_reference else []
        out[col] = head + [v for v in levels[len(head):] if key(v) in seen]
    return out


def design_for(adults: pd.DataFrame, **options) -> Design:
    """The NHANES design of an adults frame (``Design.from_frame`` defaults)."""
    return Design.from_frame(adults, strata="SDMVSTRA", psu="SDMVPSU", weights="weight", **options)


def fit_exposure_model(
    adults: pd.DataFrame,
    outcome: str,
    exposure: Exposure = "ln_mg",
    model: int = 3,
    domain: DomainSpec = "in_cohort",
    *,
    design: Design | None = None,
    extra_covariates: Sequence[str] = (),
) -> SvyGLMResult:
    """Fit one cell block of Tables 2/3/S1/S2: ``outcome ~ exposure + Model covariates``.

    ``design`` may be passed to reuse one built from ``adults`` (same rows). Text factor
    columns use ``FACTOR_LEVELS`` (reference first) cut to the levels present in the domain
    (:func:`present_levels`); the domain is never subset.
    """
    family = _check_outcome(outcome)
    mask = resolve_domain(adults, domain)
    formula = model_formula(outcome, exposure, model, extra_covariates)
    needed = [outcome, "ln_mg" if exposure != "quartiles" else "mg_q", *covariates(model), *extra_covariates]
    absent = [c for c in needed if c not in adults.columns]
    if absent:
        raise ModelInputError(f"the frame lacks model columns {absent}")
    data = adults
    if exposure == "quartiles":
        _check_quartiles(adults, mask)
    elif exposure == "trend":
        _check_quartiles(adults, mask)
        data = with_trend_scores(adults, mask)
    des = design if design is not None else design_for(adults)
    if des.n != len(adults):
        raise ModelInputError(f"design has {des.n} rows; the frame has {len(adults)}")
    levels = present_levels(data, mask, keep_reference=True)
    return svyglm(formula, des, family=family, domain=mask, data=data, levels=levels)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ExposureTable:
    """Models 1-3 x (ln-Mg, quartiles, trend) for one outcome and domain.

    ``numeric``: long frame with columns model, row (ln_mg, q1..q4, p_trend), estimate,
    ci_low, ci_high, p, n - estimates on the reported scale (OR for LMM, beta for ln SMI;
    q1 is the reference: 1 or 0, no CI). ``fits``: ``{(model, exposure): SvyGLMResult}``.
    """

    outcome: str
    measure: str
    numeric: pd.DataFrame
    fits: dict[tuple[int, str], SvyGLMResult]

    def formatted(self, digits: int = 2) -> pd.DataFrame:
        """The paper's layout: rows ln-Mg, Q1 (reference), Q2-Q4, P for trend; columns
        ``Model 1``..``Model 3`` as ``"OR (95% CI)"`` / ``"β (95% CI)"`` strings."""
        out: dict[str, list[str]] = {}
        for m in (1, 2, 3):
            col = []
            sub = self.numeric[self.numeric["model"] == m].set_index("row")
            for row in ROW_LABELS:
                r = sub.loc[row]
                if row == "q1":
                    col.append(f"{r.estimate:.0f} (reference)")
                elif row == "p_trend":
                    col.append(format_p(r.p))
                elif self.measure == "OR":
                    col.append(format_ratio_ci(r.estimate, r.ci_low, r.ci_high, digits))
                else:
                    col.append(f"{_fmt(r.estimate, digits)} ({_fmt(r.ci_low, digits)}, "
                               f"{_fmt(r.ci_high, digits)})")
            out[f"Model {m}"] = col
        frame = pd.DataFrame(out, index=list(ROW_LABELS.values()))
        frame.index.name = f"{self.measure} (95% CI)"
        return frame

    def records(self, table_id: str) -> list[dict]:
        """results.json records ``{table_id}/model{m}/{ln_mg,q2,q3,q4,p_trend}``.

        ``p_trend``: estimate/CI are the trend term's OR or beta per 1 unit of quartile-median
        ln-Mg; ``p`` is the P for trend."""
        recs = []
        for r in self.numeric.itertuples(index=False):
            if r.row == "q1":
                continue
            recs.append({
                "id": f"{table_id}/model{r.model}/{r.row}",
                "estimate": _num(r.estimate), "ci_low": _num(r.ci_low), "ci_high": _num(r.ci_high),
                "p": _num(r.p), "n": int(r.n),
            })
        return recs


def _fmt(x: float, digits: int) -> str:
    # round first so that -0.004 prints as 0.00, not -0.00
    return f"{round(float(x), digits) + 0.0:.{digits}f}"


def format_ratio(x: float, digits: int = 2) -> str:
    """An odds ratio (or CI limit) to ``digits`` decimals. A ratio is never 0, so one too
    small to show prints as ``<0.01``, not ``0.00``."""
    x = float(x)
    if np.isfinite(x) and 0 <= x < 0.5 * 10 ** -digits:
        return f"<{10 ** -digits:.{digits}f}"
    return _fmt(x, digits)


def format_ratio_ci(est: float, lo: float, hi: float, digits: int = 2) -> str:
    """``"est (lo, hi)"`` of an odds ratio with :func:`format_ratio`."""
    return f"{format_ratio(est, digits)} ({format_ratio(lo, digits)}, {format_ratio(hi, digits)})"


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def format_p(p: float) -> str:
    """P-value as tables print it: ``<0.001`` or three decimals."""
    if p is None or not np.isfinite(p):
        return "NA"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def exposure_table(adults: pd.DataFrame, outcome: str, domain: DomainSpec = "in_cohort",
                   *, design: Design | None = None) -> ExposureTable:
    """Fit the 9 models (3 models x 3 exposure codings) behind one of Tables 2/3/S1/S2."""
    family = _check_outcome(outcome)
    expo = family == "quasibinomial"
    des = design if design is not None else design_for(adults)
    mask = resolve_domain(adults, domain)
    rows, fits = [], {}
    for m in (1, 2, 3):
        for exposure in EXPOSURES:
            fit = fit_exposure_model(adults, outcome, exposure, m, mask, design=des)  # type: ignore[arg-type]
            fits[(m, exposure)] = fit
            t = fit.tidy(exponentiate=expo).set_index("term")
            if exposure == "ln_mg":
                picks = [("ln_mg", "ln_mg")]
            elif exposure == "quartiles":
                rows.append({"model": m, "row": "q1", "estimate": 1.0 if expo else 0.0,
                             "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "n": fit.n})
                picks = [(f"q{k}", f"mg_q[T.{k}]") for k in (2, 3, 4)]
            else:
                picks = [("p_trend", TREND_COLUMN)]
            for row, term in picks:
                r = t.loc[term]
                rows.append({"model": m, "row": row, "estimate": r.estimate, "ci_low": r.ci_low,
                             "ci_high": r.ci_high, "p": r.p, "n": fit.n})
    numeric = pd.DataFrame(rows)
    order = {k: i for i, k in enumerate(ROW_LABELS)}
    numeric = numeric.sort_values(["model", "row"], key=lambda s: s.map(order) if s.name == "row" else s)
    return ExposureTable(outcome, "OR" if expo else "β", numeric.reset_index(drop=True), fits)


def table_frame(adults: pd.DataFrame, outcome: str, domain: DomainSpec = "in_cohort") -> pd.DataFrame:
    """Formatted Table 2/3 (or S1/S2 with ``domain="energy"``); see ``ExposureTable.formatted``."""
    return exposure_table(adults, outcome, domain).formatted()


def table_numeric(adults: pd.DataFrame, outcome: str, domain: DomainSpec = "in_cohort") -> pd.DataFrame:
    """Numeric long form of the same table; see ``ExposureTable.numeric``."""
    return exposure_table(adults, outcome, domain).numeric


def records(adults: pd.DataFrame, table_id: str = "table2", outcome: str | None = None,
            domain: DomainSpec | None = None) -> list[dict]:
    """results.json records of one table; ``outcome``/``domain`` default from ``TABLES``."""
    if table_id not in TABLES and (outcome is None or domain is None):
        raise ModelInputError(f"unknown table_id {table_id!r}; known: {list(TABLES)}")
    default_outcome, default_domain = TABLES.get(table_id, (None, None))
    return exposure_table(adults, outcome or default_outcome,
                          domain if domain is not None else default_domain).records(table_id)


def all_records(adults: pd.DataFrame) -> list[dict]:
    """Records of Tables 2, 3, S1 and S2 (one design shared by the 36 fits)."""
    des = design_for(adults)
    out: list[dict] = []
    for table_id, (outcome, domain) in TABLES.items():
        out.extend(exposure_table(adults, outcome, domain, design=des).records(table_id))
    return out


__all__ = [
    "FACTOR_LEVELS", "OUTCOMES", "EXPOSURES", "MODELS", "TREND_COLUMN", "ENERGY_BOUNDS", "TABLES",
    "ModelInputError", "ModelSpecError", "covariates", "exposure_terms", "model_formula",
    "energy_plausible", "energy_domain", "energy_excluded", "resolve_domain", "quartile_medians",
    "quartile_ranges",
    "with_trend_scores", "design_for", "present_levels", "fit_exposure_model", "ExposureTable", "exposure_table",
    "table_frame", "table_numeric", "records", "all_records", "format_p",
]
