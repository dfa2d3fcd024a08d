"""Subgroup analyses (Figure 3: LMM, Figure S1: ln SMI) with P for interaction.

Within each level of a subgroup variable, Model 3 is refitted by domain estimation (domain =
``in_cohort`` & level; the design is never subset) for Mg quartiles Q2-Q4 vs Q1 and for
continuous ln-Mg. The subgroup variable itself leaves the covariates (age groups keep
continuous age, CKD is not a Model 3 covariate); a covariate that is constant within a level
is dropped there too (it cannot be estimated; the row notes it).

P for interaction. The paper names no test, and three codings are defensible; every one is
computed over the whole cohort domain and kept (:data:`INTERACTION_TESTS`):

* ``"quartile_wald"`` (the default, ``p`` and record ``<fig>/<subgroup>/p_interaction``): the
  design-based Wald F test (R ``regTermTest``) of the ``mg_q x subgroup`` terms in
  ``outcome ~ C(mg_q) * subgroup + covariates``; it matches the quartile estimates the figure
  shows, so the book keeps it as the paper's reading;
* ``"lnmg_wald"`` (``p_lnmg``, ``.../p_interaction_lnmg``): the same Wald F test of the
  ``ln_mg x subgroup`` terms in ``outcome ~ ln_mg * subgroup + covariates`` - one slope per
  level, fewer parameters, more power against a steady difference in slope;
* ``"quartile_lrt"`` (``p_lrt``, ``.../p_interaction_lrt``): the design-based (Rao-Scott
  working) likelihood-ratio test of the quartile coding, R ``anova(full, reduced)``
  (:func:`nhmg_lib.survey.lrt.lrt_test`; saddlepoint tail as R's default, or Satterthwaite's
  scaled F with ``lrt_approximation="satterthwaite"``).

Multiplicity. One figure tests seven subgroups (fourteen tests over the two figures), so the
default coding's P is also given adjusted over the subgroups of its figure: Holm
(``p_holm``, ``.../p_interaction_holm``) and Benjamini-Hochberg (``p_bh``,
``.../p_interaction_bh``), as R ``p.adjust`` (:mod:`nhmg_lib.analyses.multiplicity`). The
subgroup findings are exploratory either way.

``subgroup_analysis(..., interaction_test=...)`` names the coding that
:meth:`SubgroupAnalysis.p_interaction` and :func:`interaction_frame` report by default; the
records always carry all three under their own ids.

Small cells do not crash the analysis. A level with fewer than ``min_events`` LMM cases (or
non-cases) is not estimable; a quartile with no participants, or (LMM) no cases or only cases,
has no finite OR: that row is not estimable and its participants leave the level's quartile
fit - which is exactly the limit of the separated maximum-likelihood fit for the other
coefficients. Every not-estimable row carries ``estimable=False`` and a ``reason``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from nhmg_lib.analyses import models, multiplicity
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from nhmg_lib.survey.design import Design
from nhmg_lib.errors import NhmgError
from nhmg_lib.analyses.models import present_levels
from nhmg_lib.analyses.splines import family_for, model_design
from nhmg_lib.survey import lrt
from nhmg_lib.survey.glm import SvyGLMResult, svyglm

__all__ = ["Subgroup", "SUBGROUPS", "SubgroupAnalysis", "subgroup_analysis", "records",
           "interaction_frame", "adjusted_interaction_frame", "INTERACTION_TESTS", "CODING_LABELS", "interaction_codings_frame",
           "coding_disagreements",
           "FIGURE_IDS", "SubgroupError"]

#: results.json figure id per outcome.
FIGURE_IDS: dict[str, str] = {"lmm": "fig3", "ln_smi": "figS1"}
TERMS: tuple[str, ...] = ("q1", "q2", "q3", "q4", "ln_mg")
AGE_CUT = 45   # 20-45 vs 46-59 (paper 3.5)

#: P-for-interaction codings: name -> (column of ``interactions``, record suffix, description).
#: The first is the default.
INTERACTION_TESTS: dict[str, tuple[str, str, str]] = {
    "quartile_wald": ("p", "p_interaction",
                      "Wald F test of the Mg quartile x subgroup terms (regTermTest)"),
    "lnmg_wald": ("p_lnmg", "p_interaction_lnmg",
                  "Wald F test of the ln-Mg x subgroup terms (regTermTest)"),
    "quartile_lrt": ("p_lrt", "p_interaction_lrt",
                     "design-based (Rao-Scott working) likelihood-ratio test of the Mg quartile "
                     "x subgroup terms (anova of the two svyglm fits)"),
}


def _test_column(test: str) -> str:
    if test not in INTERACTION_TESTS:
        raise SubgroupError(f"interaction_test={test!r}; choose one of {list(INTERACTION_TESTS)}")
    return INTERACTION_TESTS[test][0]


class SubgroupError(NhmgError, ValueError):
    """A subgroup specification or frame is unusable (unknown subgroup, missing column)."""


@dataclass(frozen=True)
class Subgroup:
    """A subgroup variable: ``column`` of the frame (``age`` is grouped), its ``levels`` as
    ``(key, label, value)`` in display order, and the covariates it replaces (``drop``)."""

    name: str
    label: str
    column: str
    levels: tuple[tuple[str, str, str], ...]
    drop: tuple[str, ...]

    def values(self, frame: pd.DataFrame) -> pd.Series:
        """The subgroup label of every row (NaN where unknown)."""
        if self.column not in frame.columns:
            raise SubgroupError(f"subgroup {self.name!r} needs column {self.column!r}")
        if self.name == "age":
            age = pd.to_numeric(frame["age"], errors="coerce")
            out = pd.Series(np.where(age <= AGE_CUT, "20-45", "46-59"), index=frame.index, dtype=object)
            return out.where(age.notna())
        return frame[self.column].astype(object).where(frame[self.column].notna())


def _yes_no(name: str, label: str, drop: tuple[str, ...]) -> Subgroup:
    return Subgroup(name, label, name, (("no", "No", "No"), ("yes", "Yes", "Yes")), drop)


SUBGROUPS: dict[str, Subgroup] = {s.name: s for s in (
    Subgroup("gender", "Gender", "gender", (("male", "Male", "Male"), ("female", "Female", "Female")),
             ("gender",)),
    Subgroup("age", "Age (years)", "age", (("20_45", "20-45", "20-45"), ("46_59", "46-59", "46-59")), ()),
    Subgroup("education", "Education", "education",
             (("below_high_school", "Below high school", "Below high school"),
              ("high_school", "High school", "High school"),
              ("above_high_school", "Above high school", "Above high school")), ("education",)),
    _yes_no("hypertension", "Hypertension", ("hypertension",)),
    _yes_no("diabetes", "Diabetes", ("diabetes",)),
    Subgroup("drinking", "Drinking", "drinking",
             (("never", "Never", "Never"), ("former", "Former", "Former"), ("current", "Current", "Current")),
             ("drinking",)),
    _yes_no("ckd", "CKD", ()),
)}


@dataclass(frozen=True, eq=False)
class SubgroupAnalysis:
    """All subgroup estimates of one outcome.

    ``rows``: one row per subgroup x level x term (``q1`` reference, ``q2``-``q4``,
    ``ln_mg``) with ``estimate, ci_low, ci_high, p`` on the reported scale (OR / beta),
    ``n`` (participants in the fit), ``events`` (LMM cases in the level; NaN for ln SMI),
    ``estimable`` and ``reason``; ``n_cell`` and ``cases_cell``: participants and LMM cases
    (NaN for ln SMI) of the level in the row's quartile (``ln_mg``: the whole level).
    ``interactions``: one row per subgroup with the quartile
    Wald ``F``, ``df``, ``ddf``, ``p`` and ``reason`` when it could not be computed, the
    ln-Mg Wald ``F_lnmg``, ``df_lnmg``, ``ddf_lnmg``, ``p_lnmg``, ``reason_lnmg`` and the
    working LRT ``chisq_lrt``, ``df_lrt``, ``ddf_lrt``, ``p_lrt``, ``reason_lrt``
    (:data:`INTERACTION_TESTS`), and ``p_holm``, ``p_bh``: ``p`` adjusted over the subgroups.
    ``fits``: the fitted models by ``(subgroup, level,
    "quartiles"|"ln_mg"|"interaction"|"interaction_lnmg"|"interaction_reduced")``.
    ``interaction_test`` names the coding reported by default.
    """

    outcome: str
    rows: pd.DataFrame
    interactions: pd.DataFrame
    fits: dict[tuple[str, str, str], SvyGLMResult] = field(repr=False)
    interaction_test: str = "quartile_wald"

    @property
    def measure(self) -> str:
        return "OR" if family_for(self.outcome) == "quasibinomial" else "β"

    @property
    def figure_id(self) -> str:
        return FIGURE_IDS.get(self.outcome, f"subgroups_{self.outcome}")

    def p_interaction(self, subgroup: str, test: str | None = None) -> float:
        """P for interaction of ``subgroup`` by ``test`` (default: :attr:`interaction_test`)."""
        col = _test_column(test or self.interaction_test)
        return float(self.interactions.set_index("subgroup").loc[subgroup, col])

    def interaction_table(self) -> pd.DataFrame:
        """P for interaction per subgroup, formatted as the paper prints it (the quartile Wald
        test), the same adjusted over the figure's subgroups (Holm, BH), then the two other
        codings of :data:`INTERACTION_TESTS`."""
        t = self.interactions
        out = pd.DataFrame({
            "Subgroup": [SUBGROUPS[s].label if s in SUBGROUPS else s for s in t["subgroup"]],
            "F": [f"{v:.2f}" if np.isfinite(v) else "" for v in t["F"]],
            "df": [f"{a:.0f}, {b:.0f}" if np.isfinite(a) else "" for a, b in zip(t["df"], t["ddf"])],
            "P for interaction": [models.format_p(p) if np.isfinite(p) else f"NA ({r})"
                                  for p, r in zip(t["p"], t["reason"])],
        })
        if "p_holm" in t.columns:
            out["P, Holm"] = [models.format_p(p) if np.isfinite(p) else "NA" for p in t["p_holm"]]
            out["P, BH"] = [models.format_p(p) if np.isfinite(p) else "NA" for p in t["p_bh"]]
        if "p_lnmg" in t.columns:
            fmt = lambda ps, rs: [models.format_p(p) if np.isfinite(p) else f"NA ({r})"  # noqa: E731
                                  for p, r in zip(ps, rs)]
            out["P, ln-Mg × subgroup (Wald)"] = fmt(t["p_lnmg"], t["reason_lnmg"])
            out["P, quartiles × subgroup (LRT)"] = fmt(t["p_lrt"], t["reason_lrt"])
        return out

    def not_estimable(self) -> pd.DataFrame:
        """The rows without an estimate, with the reason (empty when every row was fitted)."""
        bad = self.rows[~self.rows["estimable"]]
        return bad[["subgroup_label", "level_label", "term", "n", "reason"]].reset_index(drop=True)

    def records(self) -> list[dict]:
        """``<fig>/<subgroup>/<level>/{q2,q3,q4,ln_mg}``, ``<fig>/<subgroup>/p_interaction`` (and
        the other codings), ``<fig>/<subgroup>/p_interaction_{holm,bh}``."""
        def num(v: object) -> float | None:
            return float(v) if v is not None and np.isfinite(v) else None

        out = []
        for r in self.rows.itertuples(index=False):
            if r.term == "q1":
                continue
            out.append({"id": f"{self.figure_id}/{r.subgroup}/{r.level}/{r.term}",
                        "estimate": num(r.estimate), "ci_low": num(r.ci_low),
                        "ci_high": num(r.ci_high), "p": num(r.p), "n": int(r.n)})
        for r in self.interactions.to_dict("records"):
            adjusted = [(f"p_{m}", f"p_interaction_{m}") for m in multiplicity.METHODS]
            for col, suffix in [(c, x) for c, x, _doc in INTERACTION_TESTS.values()] + adjusted:
                if col in r:
                    out.append({"id": f"{self.figure_id}/{r['subgroup']}/{suffix}",
                                "estimate": num(r[col]), "ci_low": None, "ci_high": None,
                                "p": num(r[col]), "n": int(r["n"])})
        return out


# ----------------------------------------------------------------------------- fitting
def _safe_fit(formula: str, design: Design, family: str, mask: np.ndarray, data: pd.DataFrame,
              covs: Sequence[str]) -> tuple[SvyGLMResult | None, str]:
    """Fit, turning errors, separation and non-positive residual df into a reason."""
    levels = present_levels(data, mask, [*covs, "mg_q"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # flags are read from the result
            fit = svyglm(formula, design, family=family, domain=mask, data=data, levels=levels)
    except (NhmgError, np.linalg.LinAlgError) as exc:
        return None, f"model not estimable: {exc}"
    if fit.separation:
        return None, "separation (fitted probabilities 0 or 1)"
    if not fit.converged:
        return None, "the model did not converge"
    if fit.df_resid <= 0:
        return None, f"residual df {fit.df_resid} <= 0: too few PSUs for the model"
    return fit, ""


def _constant_covariates(data: pd.DataFrame, mask: np.ndarray, covs: Sequence[str]) -> list[str]:
    return [c for c in covs if data.loc[mask, c].nunique(dropna=True) < 2]


def _level_rows(data: pd.DataFrame, design: Design, outcome: str, family: str, sg: Subgroup,
                key: str, label: str, mask: np.ndarray, covs: list[str], min_events: int,
                alpha: float, fits: dict) -> list[dict]:
    logistic = family == "quasibinomial"
    y = data.loc[mask, outcome]
    q = pd.to_numeric(data.loc[mask, "mg_q"], errors="coerce")
    events = int(y.sum()) if logistic else np.nan
    base = {"subgroup": sg.name, "subgroup_label": sg.label, "level": key, "level_label": label,
            "events": events}

    def row(term: str, fit: SvyGLMResult | None, column: str, reason: str, n: int) -> dict:
        if fit is None:
            return {**base, "term": term, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                    "p": np.nan, "n": n, "estimable": False, "reason": reason}
        t = fit.tidy(exponentiate=logistic, alpha=alpha).set_index("term").loc[column]
        return {**base, "term": term, "estimate": t.estimate, "ci_low": t.ci_low, "ci_high": t.ci_high,
                "p": t.p, "n": fit.n, "estimable": True, "reason": reason}

    n_level = int(mask.sum())
    ref = {**base, "term": "q1", "estimate": 1.0 if logistic else 0.0, "ci_low": np.nan,
           "ci_high": np.nan, "p": np.nan, "n": int((q == 1).sum()), "estimable": True,
           "reason": "reference"}
    too_few = ""
    if n_level == 0:
        too_few = "no participants in this level"
    elif logistic and min(events, n_level - events) < min_events:
        too_few = f"{events} LMM cases and {n_level - events} non-cases (< {min_events})"
    if too_few:
        return [{**ref, "estimable": False, "reason": too_few}] + [
            row(t, None, "", too_few, n_level) for t in TERMS[1:]]

    dropped = _constant_covariates(data, mask, covs)
    use_covs = [c for c in covs if c not in dropped]
    note = f"constant in this level, not adjusted for: {', '.join(dropped)}" if dropped else ""
    rhs = " + ".join(use_covs)
    # quartile model: quartiles without a finite OR leave the fit (see module docstring)
    bad: dict[int, str] = {}
    for k in (1, 2, 3, 4):
        nk = int((q == k).sum())
        ek = int(y[q == k].sum()) if logistic else 0
        if nk == 0:
            bad[k] = f"no participants in Q{k}"
        elif logistic and ek in (0, nk):
            bad[k] = f"{'no' if ek == 0 else 'only'} LMM cases in Q{k}"
    out = [ref]
    if 1 in bad:
        out = [{**ref, "estimable": False, "reason": bad[1]}] + [
            row(f"q{k}", None, "", f"reference {bad[1]}", int((q == k).sum())) for k in (2, 3, 4)]
    else:
        qmask = mask & ~data["mg_q"].isin(list(bad)).to_numpy()
        fit, why = _safe_fit(f"{outcome} ~ C(mg_q) + {rhs}", design, family, qmask, data, use_covs)
        fits[(sg.name, key, "quartiles")] = fit
        extra = "; ".join(x for x in (note, f"fitted without {', '.join('Q%d' % k for k in bad)}" if bad else "") if x)
        for k in (2, 3, 4):
            if k in bad:
                out.append(row(f"q{k}", None, "", bad[k], int((q == k).sum())))
            else:
                out.append(row(f"q{k}", fit, f"mg_q[T.{k}]", why or extra, int(qmask.sum())))
    fit, why = _safe_fit(f"{outcome} ~ ln_mg + {rhs}", design, family, mask, data, use_covs)
    fits[(sg.name, key, "ln_mg")] = fit
    out.append(row("ln_mg", fit, "ln_mg", why or note, n_level))
    return out


def _cell_counts(rows: list[dict], data: pd.DataFrame, mask: np.ndarray, outcome: str,
                 logistic: bool) -> list[dict]:
    """Each row with ``n_cell`` / ``cases_cell``: the level's participants and LMM cases in
    the row's quartile (``ln_mg``: in the level), unweighted."""
    q = pd.to_numeric(data.loc[mask, "mg_q"], errors="coerce").to_numpy()
    y = pd.to_numeric(data.loc[mask, outcome], errors="coerce").to_numpy()
    out = []
    for r in rows:
        cell = np.ones(len(q), bool) if r["term"] == "ln_mg" else q == int(r["term"][1:])
        out.append({**r, "n_cell": int(cell.sum()),
                    "cases_cell": float(np.nansum(y[cell])) if logistic else np.nan})
    return out


def _interaction(data: pd.DataFrame, design: Design, outcome: str, family: str, sg: Subgroup,
                 dom: np.ndarray, covs: list[str], fits: dict,
                 approximation: lrt.Approximation = "saddlepoint") -> dict:
    """The three codings of :data:`INTERACTION_TESTS` for one subgroup (NaN and a reason
    where a model cannot be fitted)."""
    mask = dom & data["_subgroup"].notna().to_numpy()
    rest = "".join(f" + {c}" for c in covs)
    formula = f"{outcome} ~ C(mg_q) + _subgroup + C(mg_q):_subgroup" + rest
    order = [v for _, _, v in sg.levels if v in set(data.loc[mask, "_subgroup"])]
    out = {"subgroup": sg.name, "F": np.nan, "df": np.nan, "ddf": np.nan, "p": np.nan,
           "n": int(mask.sum()), "reason": "",
           "F_lnmg": np.nan, "df_lnmg": np.nan, "ddf_lnmg": np.nan, "p_lnmg": np.nan,
           "chisq_lrt": np.nan, "df_lrt": np.nan, "ddf_lrt": np.nan, "p_lrt": np.nan,
           "reason_lnmg": "", "reason_lrt": ""}
    if len(order) < 2:
        why = "fewer than two levels in the cohort"
        return {**out, "reason": why, "reason_lnmg": why, "reason_lrt": why}
    levels = {**present_levels(data, mask, [*covs, "mg_q"]), "_subgroup": order}

    def fit(f: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return svyglm(f, design, family=family, domain=mask, data=data, levels=levels)

    try:
        full = fit(formula)
        w = full.wald_test("mg_q:_subgroup")
    except (NhmgError, np.linalg.LinAlgError) as exc:
        why = f"not estimable: {exc}"
        return {**out, "reason": why, "reason_lrt": why}
    fits[(sg.name, "", "interaction")] = full
    sep = "separation" if full.separation else ""
    out.update({"F": w.F, "df": w.df, "ddf": w.ddf, "p": w.p, "n": full.n, "reason": sep})
    try:   # ln-Mg x subgroup: one slope per level
        lnfit = fit(f"{outcome} ~ ln_mg + _subgroup + ln_mg:_subgroup" + rest)
        wl = lnfit.wald_test("ln_mg:_subgroup")
        fits[(sg.name, "", "interaction_lnmg")] = lnfit
        out.update({"F_lnmg": wl.F, "df_lnmg": wl.df, "ddf_lnmg": wl.ddf, "p_lnmg": wl.p,
                    "reason_lnmg": "separation" if lnfit.separation else ""})
    except (NhmgError, np.linalg.LinAlgError) as exc:
        out["reason_lnmg"] = f"not estimable: {exc}"
    try:   # working LRT of the quartile coding: R anova(full, reduced)
        reduced = fit(f"{outcome} ~ C(mg_q) + _subgroup" + rest)
        t = lrt.lrt_test(full, reduced, "mg_q:_subgroup", approximation=approximation)
        fits[(sg.name, "", "interaction_reduced")] = reduced
        out.update({"chisq_lrt": t.chisq, "df_lrt": t.df, "ddf_lrt": t.ddf, "p_lrt": t.p,
                    "reason_lrt": sep or ("separation" if reduced.separation else "")})
    except (NhmgError, np.linalg.LinAlgError, ValueError) as exc:
        out["reason_lrt"] = f"not estimable: {exc}"
    return out


def subgroup_analysis(
    frame: pd.DataFrame,
    outcome: str = "lmm",
    *,
    subgroups: Sequence[str] | None = None,
    covariates: Sequence[str] = MODEL3_COVARIATES,
    domain: str | np.ndarray = "in_cohort",
    min_events: int = 10,
    design: Design | None = None,
    alpha: float = 0.05,
    interaction_test: str = "quartile_wald",
    lrt_approximation: lrt.Approximation = "saddlepoint",
) -> SubgroupAnalysis:
    """Figure 3 (``outcome="lmm"``) or Figure S1 (``"ln_smi"``) over the adults ``frame``.

    ``interaction_test``: the coding of P for interaction reported by default (one of
    :data:`INTERACTION_TESTS`; all three are computed). ``lrt_approximation``: the tail of the
    working LRT, ``"saddlepoint"`` (R's default) or ``"satterthwaite"``.
    """
    _test_column(interaction_test)
    if lrt_approximation not in lrt.APPROXIMATIONS:
        raise SubgroupError(f"lrt_approximation={lrt_approximation!r}; choose one of "
                            f"{list(lrt.APPROXIMATIONS)}")
    names = list(SUBGROUPS) if subgroups is None else list(subgroups)
    unknown = [s for s in names if s not in SUBGROUPS]
    if unknown:
        raise SubgroupError(f"unknown subgroups {unknown}; known: {list(SUBGROUPS)}")
    absent = [c for c in (outcome, "ln_mg", "mg_q", *covariates) if c not in frame.columns]
    if absent:
        raise SubgroupError(f"the frame lacks columns {absent}")
    family = family_for(outcome)
    design = model_design(frame, design)
    dom = models.resolve_domain(frame, domain)
    rows: list[dict] = []
    inter: list[dict] = []
    fits: dict = {}
    for name in names:
        sg = SUBGROUPS[name]
        data = frame.copy()
        data["_subgroup"] = sg.values(frame)
        covs = [c for c in covariates if c not in sg.drop and c not in (outcome, "ln_mg")]
        for key, label, value in sg.levels:
            mask = dom & (data["_subgroup"] == value).to_numpy()
            level = _level_rows(data, design, outcome, family, sg, key, label, mask, covs,
                                min_events, alpha, fits)
            rows.extend(_cell_counts(level, data, mask, outcome, family == "quasibinomial"))
        inter.append(_interaction(data, design, outcome, family, sg, dom, covs, fits,
                                  lrt_approximation))
    inter_frame = pd.DataFrame(inter)
    for method in multiplicity.METHODS:   # over the subgroups of this figure, default coding
        inter_frame[f"p_{method}"] = multiplicity.p_adjust(inter_frame["p"], method)
    return SubgroupAnalysis(outcome, pd.DataFrame(rows), inter_frame, fits, interaction_test)


def interaction_frame(analyses: dict[str, SubgroupAnalysis], test: str | None = None) -> pd.DataFrame:
    """P for interaction side by side, one column per analysis (e.g. ``{"LMM": a, "ln SMI": b}``),
    formatted as the paper prints P values; a P that could not be computed reads ``NA``.
    ``test`` picks the coding (:data:`INTERACTION_TESTS`; default: each analysis's own)."""
    if not analyses:
        raise SubgroupError("interaction_frame needs at least one analysis")
    cols: dict[str, list[str]] = {}
    index: list[str] = []
    for name, a in analyses.items():
        t = a.interactions.set_index("subgroup")
        col = _test_column(test or a.interaction_test)
        cols[name] = [models.format_p(p) if np.isfinite(p) else "NA" for p in t[col]]
        index = [SUBGROUPS[s].label if s in SUBGROUPS else s for s in t.index]
    return pd.DataFrame(cols, index=index)


def adjusted_interaction_frame(analyses: dict[str, SubgroupAnalysis]) -> pd.DataFrame:
    """P for interaction (default coding) raw and adjusted over the subgroups of each analysis
    (Holm, Benjamini-Hochberg): columns ``(analysis, "P" | "Holm" | "BH")``, rows the
    subgroups, formatted as the paper prints P values."""
    if not analyses:
        raise SubgroupError("adjusted_interaction_frame needs at least one analysis")
    fmt = lambda ps: [models.format_p(p) if np.isfinite(p) else "NA" for p in ps]  # noqa: E731
    parts = {}
    for name, a in analyses.items():
        t = a.interactions.set_index("subgroup")
        parts[name] = pd.DataFrame({"P": fmt(t["p"]), "Holm": fmt(t["p_holm"]), "BH": fmt(t["p_bh"])},
                                   index=[SUBGROUPS[s].label if s in SUBGROUPS else s for s in t.index])
    return pd.concat(parts, axis=1)


#: Column labels of :func:`interaction_codings_frame`, by coding.
CODING_LABELS: dict[str, str] = {"quartile_wald": "Quartiles, Wald F (default)",
                                 "lnmg_wald": "ln-Mg, Wald F",
                                 "quartile_lrt": "Quartiles, LRT"}


def interaction_codings_frame(analyses: dict[str, SubgroupAnalysis]) -> pd.DataFrame:
    """P for interaction under every coding of :data:`INTERACTION_TESTS`, columns
    ``(analysis, coding)``, rows the subgroups; formatted as the paper prints P values."""
    if not analyses:
        raise SubgroupError("interaction_codings_frame needs at least one analysis")
    parts = {name: pd.DataFrame({CODING_LABELS[test]: interaction_frame({name: a}, test)[name]
                                 for test in INTERACTION_TESTS})
             for name, a in analyses.items()}
    return pd.concat(parts, axis=1)


def coding_disagreements(analyses: dict[str, SubgroupAnalysis], alpha: float = 0.05
                         ) -> list[tuple[str, str, dict[str, float]]]:
    """``(analysis, subgroup label, {coding: p})`` for every subgroup whose codings disagree
    on significance at ``alpha`` (a coding that could not be computed does not count)."""
    out = []
    for name, a in analyses.items():
        for r in a.interactions.to_dict("records"):
            ps = {test: float(r[col]) for test, (col, _s, _d) in INTERACTION_TESTS.items()
                  if col in r and np.isfinite(r[col])}
            if len({p < alpha for p in ps.values()}) > 1:
                label = SUBGROUPS[r["subgroup"]].label if r["subgroup"] in SUBGROUPS else r["subgroup"]
                out.append((name, label, ps))
    return out


def records(frame: pd.DataFrame, **options) -> list[dict]:
    """Records of Figure 3 (LMM) and Figure S1 (ln SMI), every P-for-interaction coding
    included (``p_interaction``, ``p_interaction_lnmg``, ``p_interaction_lrt``)."""
    design = model_design(frame, options.pop("design", None))
    return [r for outcome in FIGURE_IDS
            for r in subgroup_analysis(frame, outcome, design=design, **options).records()]
