"""Tables 4-6: magnesium and the inflammatory indices, and the indices and muscle mass.

One concept: the design-based models that link ln-Mg, the four inflammatory indices (CALLY,
NP, PAR, RAR) and the two muscle outcomes, outside the mediation analysis.

* Table 4: each index as the outcome of a survey linear model (``gaussian``, β) on ln-Mg
  (continuous, per 1 ln mg/day), Mg quartiles (``mg_q`` as a factor, Q1 reference) and the
  P for trend (quartile-median ln-Mg as one continuous term, medians unweighted within the
  analysis domain, as :mod:`nhmg_lib.analyses.models`); Models 1-3.
* Table 5: LMM (0/1) on each index, survey logistic (``quasibinomial``, OR per 1 unit of the
  model column); Table 6: ``ln_smi`` on each index (``gaussian``, β). Models 1-3.
* Model columns (:func:`index_column`): ``ln_cally``, ``ln_np``, ``ln_par``, ``ln_rar`` =
  natural log of the cohort's ``cally``, ``np``, ``par``, ``rar`` (values <= 0 give NaN).
  With ``Definitions.np_index == "score"`` NP is the published 0/1/2 score, which cannot be
  logged: its model column is ``np_score`` (untransformed). The NP variant is read from the
  frame's ``np_<variant>`` column when the cohort carries it (``np_product``, ``np_score``,
  ``np_neutrophil_pct``), otherwise from ``np``.
* Domains (never subsets): ``in_cohort`` and the index column present. CALLY needs hs-CRP,
  measured only in 2015-2018, so its models use the 2015-2018 part of the cohort as a
  domain of the whole design; the other indices are complete in the cohort by default
  (``Definitions.covariates_required``). ``n`` in the records is the domain size.
* Covariates and factor levels: :func:`nhmg_lib.analyses.models.covariates`, with
  :data:`nhmg_lib.analyses.models.FACTOR_LEVELS` restricted to the levels present in the domain.

Public API::

    INDICES = ("cally", "np", "par", "rar")
    index_column(name, defs=DEFAULT) -> (column, label)
    with_index_columns(adults, defs=DEFAULT) -> DataFrame        # adds the model columns
    index_domain(adults, name, defs=DEFAULT, domain="in_cohort") -> ndarray[bool]
    fit_tables(adults, defs=DEFAULT, *, design=None, indices=INDICES) -> IndexTables
    IndexTables.numeric                # long frame: table, index, model, row, estimate, ...
    IndexTables.formatted(table)       # "table4" | "table5" | "table6", paper layout
    IndexTables.records()              # results.json records of Tables 4-6
    records(adults, defs=DEFAULT) -> list[dict]

Record ids: ``table4/<index>/model{1,2,3}/{ln_mg,q2,q3,q4,p_trend}`` (``p_trend``: estimate
and CI are the trend term's β, ``p`` the P for trend), ``table5/<index>/model{m}/ln_index``
(OR) and ``table6/<index>/model{m}/ln_index`` (β), index in cally, np, par, rar; each with
``.../p_holm`` and ``.../p_bh``: its P adjusted over the four indices (:func:`adjusted_records`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from nhmg_lib.analyses import models, multiplicity
from nhmg_lib.cohort.definitions import DEFAULT, Definitions
from nhmg_lib.survey.design import Design
from nhmg_lib.errors import NhmgError
from nhmg_lib.analyses.models import present_levels
from nhmg_lib.survey.glm import SvyGLMResult, svyglm

__all__ = [
    "INDICES", "INDEX_LABELS", "INDEX_UNITS", "TABLE_OUTCOMES", "InflammationError",
    "units_note", "index_column", "with_index_columns", "index_domain", "fit_tables", "IndexTables",
    "records", "adjusted_records",
]

INDICES: tuple[str, ...] = ("cally", "np", "par", "rar")
INDEX_LABELS: dict[str, str] = {"cally": "CALLY", "np": "NP", "par": "PAR", "rar": "RAR"}
#: Units of the untransformed indices (CONTRIBUTING, cohort frame; definitions and their
#: sources in :mod:`nhmg_lib.cohort.clinical`).
INDEX_UNITS: dict[str, str] = {
    "cally": "albumin (g/dL) × lymphocytes (/µL) / (CRP (mg/dL) × 10⁴)",
    "np_product": "neutrophils × platelets, (10⁹/L)²",
    "np_score": "0/1/2: neutrophils > 7.5 and platelets > 400 (10⁹/L)",
    "np_neutrophil_pct": "neutrophils, % of white cells",
    "par": "platelets (10⁹/L) per albumin (g/L)",
    "rar": "RDW (%) per albumin (g/dL)",
}


def units_note(np_index: str = "product") -> str:
    """One footnote giving the unit of every index (NP as ``np_index`` defines it)."""
    units = {"cally": INDEX_UNITS["cally"], "np": INDEX_UNITS[f"np_{np_index}"],
             "par": INDEX_UNITS["par"], "rar": INDEX_UNITS["rar"]}
    return "Index units: " + "; ".join(f"{INDEX_LABELS[k]}, {v}" for k, v in units.items()) + "."


#: Table id -> (outcome column or None for the index itself, family).
TABLE_OUTCOMES: dict[str, tuple[str | None, str]] = {
    "table4": (None, "gaussian"),
    "table5": ("lmm", "quasibinomial"),
    "table6": ("ln_smi", "gaussian"),
}
TABLE_TITLES: dict[str, str] = {
    "table4": "Association of magnesium intake with the inflammatory indices",
    "table5": "Association of the inflammatory indices with low muscle mass",
    "table6": "Association of the inflammatory indices with ln SMI",
}


class InflammationError(NhmgError, ValueError):
    """The frame cannot support the index models (unknown index, missing column, empty domain)."""


# ---------------------------------------------------------------------- columns and domains
def _check_index(name: str) -> None:
    if name not in INDICES:
        raise InflammationError(f"index {name!r}; choose one of {list(INDICES)}")


def index_column(name: str, defs: Definitions = DEFAULT) -> tuple[str, str]:
    """Model column and display label of an index, e.g. ``("ln_par", "ln PAR")``; NP as the
    0/1/2 score is ``("np_score", "NP score")`` (modelled untransformed)."""
    _check_index(name)
    if name == "np" and defs.np_index == "score":
        return "np_score", "NP score"
    return f"ln_{name}", f"ln {INDEX_LABELS[name]}"


def _source(adults: pd.DataFrame, name: str, defs: Definitions) -> pd.Series:
    col = name
    if name == "np" and f"np_{defs.np_index}" in adults.columns:
        col = f"np_{defs.np_index}"
    if col not in adults.columns:
        raise InflammationError(f"the frame has no {col!r} column (index {INDEX_LABELS[name]})")
    return pd.to_numeric(adults[col], errors="coerce").astype(float)


def with_index_columns(adults: pd.DataFrame, defs: Definitions = DEFAULT,
                       indices: Sequence[str] = INDICES) -> pd.DataFrame:
    """A copy of ``adults`` with the model column of each index (:func:`index_column`):
    natural logs of the positive values (others NaN), or the untransformed NP score."""
    extra = {}
    for name in indices:
        col, _ = index_column(name, defs)
        x = _source(adults, name, defs)
        if col.startswith("ln_"):
            extra[col] = np.log(x.where(x > 0))
        else:
            extra[col] = x
    return adults.assign(**extra)


def index_domain(adults: pd.DataFrame, name: str, defs: Definitions = DEFAULT,
                 domain: models.DomainSpec = "in_cohort") -> np.ndarray:
    """``domain`` (default ``in_cohort``) and the index's model column present; ``adults``
    must carry the model columns (:func:`with_index_columns`)."""
    col, label = index_column(name, defs)
    if col not in adults.columns:
        raise InflammationError(f"the frame has no {col!r} column; call with_index_columns first")
    base = models.resolve_domain(adults, domain)
    mask = base & np.isfinite(adults[col].to_numpy(dtype=float, na_value=np.nan))
    if not mask.any():
        raise InflammationError(f"no participant of the domain has {label}")
    return mask


# ---------------------------------------------------------------------- fitting
def _fit(data: pd.DataFrame, des: Design, outcome: str, terms: list[str], model: int,
         family: str, mask: np.ndarray) -> SvyGLMResult:
    covs = list(models.covariates(model))
    formula = f"{outcome} ~ " + " + ".join(terms + covs)
    factor_cols = [c for c in covs if c in models.FACTOR_LEVELS]
    if any(t.startswith("C(mg_q)") for t in terms):
        factor_cols.append("mg_q")
    levels = present_levels(data, mask, factor_cols)
    return svyglm(formula, des, family=family, domain=mask, data=data, levels=levels)  # type: ignore[arg-type]


_fmt, _num = models._fmt, models._num  # the same cell and record formatting as Tables 2-3


def _row(table: str, index: str, model: int, row: str, est: float, lo: float, hi: float,
         p: float, n: int) -> dict:
    return {"table": table, "index": index, "model": model, "row": row, "estimate": est,
            "ci_low": lo, "ci_high": hi, "p": p, "n": n}


@dataclass(frozen=True)
class IndexTables:
    """Tables 4-6. ``numeric``: long frame with columns table, index, model, row (Table 4:
    ln_mg, q1..q4, p_trend; Tables 5/6: ln_index), estimate, ci_low, ci_high, p, n (domain
    size), on the reported scale (β; OR for Table 5; Q1 is the reference 0, no CI).
    ``fits``: ``{(table, index, model, exposure): SvyGLMResult}``; ``labels``: index -> row
    label (``"ln CALLY"``)."""

    numeric: pd.DataFrame
    fits: dict[tuple[str, str, int, str], SvyGLMResult]
    labels: dict[str, str]

    def formatted(self, table: str, digits: int = 2) -> pd.DataFrame:
        """Paper layout: columns ``Model 1``..``Model 3`` as ``"β (95% CI)"`` / ``"OR (95%
        CI)"``; Table 4 rows are (index, ln-Mg / Q1-Q4 / P for trend), Tables 5/6 one row per
        index."""
        if table not in TABLE_OUTCOMES:
            raise InflammationError(f"table {table!r}; choose one of {list(TABLE_OUTCOMES)}")
        sub = self.numeric[self.numeric["table"] == table]
        rows: list[tuple[str, str]] = []
        cells: list[list[str]] = []
        row_names = list(models.ROW_LABELS) if table == "table4" else ["ln_index"]
        for index in dict.fromkeys(sub["index"]):
            block = sub[sub["index"] == index]
            for row in row_names:
                line = []
                for m in (1, 2, 3):
                    r = block[(block["model"] == m) & (block["row"] == row)].iloc[0]
                    if row == "q1":
                        line.append("0 (reference)")
                    elif row == "p_trend":
                        line.append(models.format_p(r.p))
                    else:
                        line.append(f"{_fmt(r.estimate, digits)} ({_fmt(r.ci_low, digits)}, "
                                    f"{_fmt(r.ci_high, digits)})")
                cells.append(line)
                rows.append((self.labels[index], models.ROW_LABELS.get(row, "")))
        frame = pd.DataFrame(cells, columns=["Model 1", "Model 2", "Model 3"])
        if table == "table4":
            frame.index = pd.MultiIndex.from_tuples(rows)
        else:
            frame.index = [r[0] for r in rows]
        return frame

    def records(self) -> list[dict]:
        """results.json records (see the module docstring for the ids)."""
        out = []
        for r in self.numeric.itertuples(index=False):
            if r.row == "q1":
                continue
            out.append({
                "id": f"{r.table}/{r.index}/model{r.model}/{r.row}",
                "estimate": _num(r.estimate), "ci_low": _num(r.ci_low),
                "ci_high": _num(r.ci_high), "p": _num(r.p), "n": int(r.n),
            })
        return out


def fit_tables(adults: pd.DataFrame, defs: Definitions = DEFAULT, *, design: Design | None = None,
               indices: Sequence[str] = INDICES, domain: models.DomainSpec = "in_cohort") -> IndexTables:
    """Fit Tables 4-6 (per index: 9 Table 4 fits, 3 Table 5 fits, 3 Table 6 fits) on one
    shared design of ``adults``."""
    for name in indices:
        _check_index(name)
    needed = ["ln_mg", "mg_q", "lmm", "ln_smi", *models.covariates(3)]
    absent = [c for c in needed if c not in adults.columns]
    if absent:
        raise InflammationError(f"the frame lacks model columns {absent}")
    des = design if design is not None else models.design_for(adults)
    if des.n != len(adults):
        raise InflammationError(f"design has {des.n} rows; the frame has {len(adults)}")
    data = with_index_columns(adults, defs, indices)
    rows: list[dict] = []
    fits: dict[tuple[str, str, int, str], SvyGLMResult] = {}
    labels: dict[str, str] = {}
    for name in indices:
        col, label = index_column(name, defs)
        labels[name] = label
        mask = index_domain(data, name, defs, domain)
        n = int(mask.sum())
        med = models.quartile_medians(data, mask)
        trend_col = f"{models.TREND_COLUMN}_{name}"
        data[trend_col] = pd.to_numeric(data["mg_q"], errors="coerce").astype(float).map(med)
        for m in (1, 2, 3):
            # Table 4: index ~ magnesium
            for exposure, terms in (("ln_mg", ["ln_mg"]), ("quartiles", ["C(mg_q)"]),
                                    ("trend", [trend_col])):
                fit = _fit(data, des, col, terms, m, "gaussian", mask)
                fits[("table4", name, m, exposure)] = fit
                t = fit.tidy().set_index("term")
                if exposure == "ln_mg":
                    picks = [("ln_mg", "ln_mg")]
                elif exposure == "quartiles":
                    rows.append(_row("table4", name, m, "q1", 0.0, np.nan, np.nan, np.nan, n))
                    picks = [(f"q{k}", f"mg_q[T.{k}]") for k in (2, 3, 4)]
                else:
                    picks = [("p_trend", trend_col)]
                for row, term in picks:
                    r = t.loc[term]
                    rows.append(_row("table4", name, m, row, r.estimate, r.ci_low, r.ci_high, r.p, n))
            # Tables 5 and 6: outcome ~ index
            for table in ("table5", "table6"):
                outcome, family = TABLE_OUTCOMES[table]
                fit = _fit(data, des, outcome, [col], m, family, mask)  # type: ignore[arg-type]
                fits[(table, name, m, "index")] = fit
                r = fit.tidy(exponentiate=family == "quasibinomial").set_index("term").loc[col]
                rows.append(_row(table, name, m, "ln_index", r.estimate, r.ci_low, r.ci_high, r.p, n))
    numeric = pd.DataFrame(rows)
    torder = {k: i for i, k in enumerate(TABLE_OUTCOMES)}
    iorder = {k: i for i, k in enumerate(indices)}
    rorder = {**{k: i for i, k in enumerate(models.ROW_LABELS)}, "ln_index": 0}
    numeric = numeric.assign(_t=numeric["table"].map(torder), _i=numeric["index"].map(iorder),
                             _r=numeric["row"].map(rorder))
    numeric = numeric.sort_values(["_t", "_i", "model", "_r"]).drop(columns=["_t", "_i", "_r"])
    return IndexTables(numeric.reset_index(drop=True), fits, labels)


def records(adults: pd.DataFrame, defs: Definitions = DEFAULT) -> list[dict]:
    """results.json records of Tables 4, 5 and 6, with their P adjusted over the four indices
    (:func:`adjusted_records`)."""
    recs = fit_tables(adults, defs).records()
    return recs + adjusted_records(recs)


def adjusted_records(recs: Sequence[dict]) -> list[dict]:
    """P of Tables 4-6 adjusted for testing four indices: ``<id>/p_holm`` and ``<id>/p_bh`` for
    every ``table{4,5,6}/<index>/model<m>/<row>`` record, the family being the indices of one
    table, model and row (e.g. the four Model 3 ORs of Table 5); Holm and Benjamini-Hochberg
    as R ``p.adjust``. A null P stays null and leaves the family."""
    families: dict[tuple[str, str, str], list[dict]] = {}
    for r in recs:
        parts = r["id"].split("/")
        if len(parts) == 4 and parts[0] in TABLE_OUTCOMES and parts[1] in INDICES:
            families.setdefault((parts[0], parts[2], parts[3]), []).append(r)
    out = []
    for members in families.values():
        p = [np.nan if r["p"] is None else r["p"] for r in members]
        for method in multiplicity.METHODS:
            for r, q in zip(members, multiplicity.p_adjust(p, method)):
                v = _num(q)
                out.append({"id": f"{r['id']}/p_{method}", "estimate": v, "ci_low": None,
                            "ci_high": None, "p": v, "n": r["n"]})
    return out
