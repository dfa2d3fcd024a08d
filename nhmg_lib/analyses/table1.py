"""Table 1: weighted characteristics of the participants by low muscle mass (LMM) status.

Layout (the paper's Table 1): columns Overall, Non-LMM, LMM and P; rows N, age, gender, race,
PIR, education, smoking, drinking, physical activity, energy, protein, diabetes, hypertension,
eGFR, 25(OH)D, magnesium (ln and mg/day), SMI, CALLY, NP, PAR and RAR (:data:`ROWS`).

Statistics and why
------------------
* Every estimate is design-based on the full NHANES design with the cohort as a *domain*
  (never a subset of the design; see :mod:`nhmg_lib.survey.descriptive`), so each cell equals R
  ``survey`` on ``subset(design, in_cohort == 1)``.
* Counts (the N row and the n of ``n (%)``) are unweighted numbers of participants with a
  positive weight; percentages, means, SDs, medians and quartiles are weighted. This is the
  usual NHANES convention and what "N(%)" in the paper most plausibly reports.
* Continuous variables are summarised by a **fixed rule**, not by a normality test on the
  data (a test would flip with sample size and make the layout data-dependent). Variables
  whose distribution in adults is strongly right-skewed -- intakes (energy, protein,
  magnesium in mg), serum 25(OH)D and the ratio/product inflammatory indices (CALLY, NP,
  PAR, RAR) -- are shown as weighted median (Q1, Q3); roughly symmetric ones (age, eGFR,
  ln magnesium, SMI) as weighted mean ± SD (SD = ``sqrt(svyvar)``). The rule is the
  ``kind`` of each :class:`Row`.
* P values: the paper says "t-tests or Mann-Whitney U" and "chi-square tests"; with survey
  weights those become their design-based analogues: the design-based t-test (R
  ``svyttest``) for mean ± SD rows, the design-based Wilcoxon rank test (R ``svyranktest``)
  for median rows, and the Rao-Scott second-order corrected F test (R ``svychisq``,
  ``statistic="F"``) for categorical rows. All use the design degrees of freedom of the
  domain.
* Missing values (e.g. CALLY, which needs CRP and exists for 2015-2018 only) leave the
  participant out of that row only; the row label then says how many remain ("(n = ...)"),
  and the n of the long frame gives it per column.
* With ``Definitions(np_index="score")`` NP is the 0/1/2 score and is shown as categorical.

Result ids (``results.json``)
-----------------------------
``table1/<variable>/<stat-or-level>/<column>`` with ``<column>`` one of ``overall``,
``non_lmm``, ``lmm`` (slugs of the group labels) and

* ``table1/n/<column>``: participants (estimate = n = count);
* ``table1/age/mean/<column>`` (CI: t on the design df), ``table1/age/sd/<column>``;
* ``table1/energy/median/<column>`` (Woodruff CI), ``.../q1/...``, ``.../q3/...``;
* ``table1/race/mexican_american/<column>``: weighted percent (0-100) with its CI, n = count;
* ``table1/<variable>/p``: estimate = test statistic (t or F), p = P value, n = units tested.

Level slugs: lower case, ``<``/``>`` become ``lt``/``gt``, other runs of non-alphanumerics
``_`` (``<1.39`` -> ``lt1_39``, ``1.39-3.49`` -> ``1_39_3_49``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from nhmg_lib.analyses import inflammation
from nhmg_lib.cohort.definitions import DEFAULT, Definitions
from nhmg_lib.survey.descriptive import (
    DescriptiveError, TestResult, svychisq, svymean, svyprop, svyquantile, svyranktest,
    svyttest, svyvar,
)
from nhmg_lib.survey.design import Design

__all__ = ["Row", "ROWS", "Table1", "table1", "records", "rows_for", "slug", "CAPTION"]

CAPTION = "Characteristics of participants by low muscle mass status (weighted)"
NAME = "table-1"  # the paper exhibit (nhmg_lib.report.exhibits)

Kind = Literal["mean", "median", "categorical"]


@dataclass(frozen=True)
class Row:
    """One variable of Table 1: column name, label, summary kind, level order, decimals."""

    variable: str
    label: str
    kind: Kind
    levels: tuple[Any, ...] | None = None
    #: decimals of the printed numbers; ``None``: three significant digits of the overall
    #: centre (for indices whose scale depends on a units convention, such as CALLY)
    decimals: int | None = 1


#: The rows in the paper's order. ``kind`` is the documented rule (module docstring).
ROWS: tuple[Row, ...] = (
    Row("age", "Age, years", "mean", decimals=1),
    Row("gender", "Gender", "categorical", ("Male", "Female")),
    Row("race", "Race/ethnicity", "categorical",
        ("Mexican American", "Other Hispanic", "Non-Hispanic White", "Non-Hispanic Black",
         "Non-Hispanic Asian", "Other Race")),
    Row("pir_cat", "Family income-to-poverty ratio", "categorical", ("<1.39", "1.39-3.49", ">3.49")),
    Row("education", "Education", "categorical", ("Below high school", "High school", "Above high school")),
    Row("smoking", "Smoked ≥100 cigarettes", "categorical", ("Yes", "No")),
    Row("drinking", "Drinking", "categorical", ("Never", "Former", "Current")),
    Row("active", "Physical activity", "categorical", ("Active", "Inactive")),
    Row("energy", "Energy intake, kcal/day", "median", decimals=0),
    Row("protein", "Protein intake, g/day", "median", decimals=1),
    Row("diabetes", "Diabetes", "categorical", ("Yes", "No")),
    Row("hypertension", "Hypertension", "categorical", ("Yes", "No")),
    Row("egfr", "eGFR, mL/min/1.73 m²", "mean", decimals=1),
    Row("vitd", "25(OH)D, nmol/L", "median", decimals=1),
    Row("ln_mg", "Magnesium intake, ln(mg/day)", "mean", decimals=2),
    Row("mg", "Magnesium intake, mg/day", "median", decimals=0),
    Row("smi", "SMI, kg/(kg/m²)", "mean", decimals=3),
    Row("cally", "CALLY", "median", decimals=None),
    Row("np", "NP", "median", decimals=0),
    Row("par", "PAR", "median", decimals=2),
    Row("rar", "RAR", "median", decimals=2),
)

_NP_LABELS = {
    "product": ("NP (neutrophils × platelets), (10⁹/L)²", "median", 0),
    "score": ("NP score", "categorical", 0),
    "neutrophil_pct": ("Neutrophils, %", "median", 1),
}


def slug(value: Any) -> str:
    """Id-safe text of a level or label (see the module docstring)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).lower().replace("<", "lt").replace(">", "gt")
    s = re.sub(r"[^a-z0-9]+", "_", s).strip("_")
    return s or "missing"


def rows_for(defs: Definitions = DEFAULT) -> tuple[Row, ...]:
    """:data:`ROWS` adapted to ``defs`` (the NP row follows ``defs.np_index``)."""
    label, kind, dec = _NP_LABELS[defs.np_index]
    out = []
    for r in ROWS:
        if r.variable == "np":
            r = Row("np", label, kind, (0, 1, 2) if kind == "categorical" else None, dec)
        out.append(r)
    return tuple(out)


def _levels(series: pd.Series, row: Row, present: set[Any]) -> list[Any]:
    """Display levels: the column's categories if categorical, else the declared order
    restricted to the levels present, plus any undeclared level present (sorted)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [c for c in series.cat.categories if c in present] or list(series.cat.categories)
    declared = [lv for lv in (row.levels or ()) if lv in present]
    extra = sorted((lv for lv in present if lv not in set(row.levels or ())), key=str)
    return declared + extra


def _label(row: Row, n_row: int, n_total: int) -> str:
    """Row label; says how many participants the row has when gaps leave out some."""
    return row.label if n_row >= n_total else f"{row.label} (n = {n_row:,})"


def _decimals(row: Row, centre: float) -> int:
    if row.decimals is not None:
        return row.decimals
    if not math.isfinite(centre) or centre == 0:
        return 2
    return max(0, 2 - math.floor(math.log10(abs(centre))))


def _fmt(x: float, d: int) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{d}f}"


def _fmt_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


@dataclass
class Table1:
    """Table 1 as numbers (:attr:`long`) and as text (:attr:`display`).

    ``long``: one row per number, columns ``id, variable, level, column, stat, estimate, se,
    ci_low, ci_high, n, p, test, statistic, df_num, df_den``. ``display``: index
    ``(label, level)`` (level ``""`` for one-line rows), columns = the three column labels and
    ``"P"``. ``tests`` maps each variable to its :class:`~nhmg_lib.survey.descriptive.TestResult`.
    """

    long: pd.DataFrame
    display: pd.DataFrame
    tests: dict[str, TestResult] = field(default_factory=dict)
    caption: str = CAPTION
    footnotes: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """``results.json`` records ``{"id","estimate","ci_low","ci_high","p","n"}``."""
        return records(self)


def _none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def records(table: Table1) -> list[dict[str, Any]]:
    """The results.json records of a :class:`Table1` (ids in the module docstring)."""
    out = []
    for r in table.long.itertuples(index=False):
        out.append({"id": r.id, "estimate": float(r.estimate), "ci_low": _none(r.ci_low),
                    "ci_high": _none(r.ci_high), "p": _none(r.p),
                    "n": None if pd.isna(r.n) else int(r.n)})
    return out


def table1(
    adults: pd.DataFrame,
    domain: str | np.ndarray | pd.Series | None = "in_cohort",
    group: str = "lmm",
    *,
    design: Design | None = None,
    defs: Definitions = DEFAULT,
    rows: Sequence[Row] | None = None,
    group_labels: Mapping[Any, str] | None = None,
    overall_label: str = "Overall",
) -> Table1:
    """Compute Table 1 for ``domain`` of ``adults`` by the two levels of ``group``.

    ``adults`` is ``Cohort.adults`` (every adult 20-59 with ``in_cohort``) or the cohort frame
    itself (then ``domain=None``). ``design`` defaults to ``Design.from_frame(adults)``
    (``SDMVSTRA``, ``SDMVPSU``, ``weight``). ``group_labels`` maps the group's values to
    column labels (default ``{0: "Non-LMM", 1: "LMM"}``). ``rows`` replaces :data:`ROWS`
    (default :func:`rows_for` ``(defs)``); rows whose column is absent are an error, so a
    silently shorter table cannot happen. Domain members with a missing group value count in
    Overall only, and the tests leave them out (as R's ``na.omit`` would).
    """
    if not isinstance(adults, pd.DataFrame):
        raise DescriptiveError(f"table1 needs a DataFrame, not {type(adults).__name__}")
    des = design if design is not None else Design.from_frame(adults)
    if des.data is None:
        des = Design.from_arrays(des.strata, des.psu, des.weights, lonely_psu=des.lonely_psu,
                                 adjust_domain_lonely=des.adjust_domain_lonely, data=adults)
    elif len(des.data) != len(adults):
        raise DescriptiveError("design and adults have different numbers of rows")
    spec = tuple(rows) if rows is not None else rows_for(defs)
    missing = [r.variable for r in spec if r.variable not in adults.columns]
    if group not in adults.columns:
        missing.append(group)
    if missing:
        raise DescriptiveError(f"table1: columns {missing} are not in the frame")

    dom = des.domain_mask(domain)
    pos = des.weights > 0
    if not (dom & pos).any():
        raise DescriptiveError("table1: the domain has no participant with a positive weight")
    gvals = adults[group].reset_index(drop=True)
    glevels = sorted(pd.unique(gvals[dom & pos & gvals.notna().to_numpy()]).tolist())
    if len(glevels) != 2:
        raise DescriptiveError(
            f"table1: group {group!r} must have two levels in the domain; found {glevels}"
        )
    labels = dict(group_labels) if group_labels is not None else {0: "Non-LMM", 1: "LMM"}
    try:
        glabels = [labels[g] for g in glevels]
    except KeyError as exc:
        raise DescriptiveError(
            f"table1: no label for group value {exc.args[0]!r}; pass group_labels="
        ) from None
    cols: list[tuple[str, str, np.ndarray]] = [(overall_label, slug(overall_label), dom)]
    for g, lab in zip(glevels, glabels):
        cols.append((lab, slug(lab), dom & (gvals == g).fillna(False).to_numpy(dtype=bool)))
    col_labels = [c[0] for c in cols]

    long: list[dict[str, Any]] = []
    disp: list[tuple[tuple[str, str], list[str]]] = []
    tests: dict[str, TestResult] = {}

    def add(variable: str, level: Any, column: str, stat: str, **vals: Any) -> None:
        parts = ["table1", variable] + ([slug(level)] if level != "" else []) \
            + ([stat] if stat else []) + ([column] if column else [])
        long.append({"id": "/".join(parts), "variable": variable,
                     "level": None if level == "" else level,
                     "column": column or None, "stat": stat or None, **vals})

    # N row
    n_total = int((dom & pos).sum())
    cells = []
    for lab, cslug, mask in cols:
        n = int((mask & pos).sum())
        add("n", "", cslug, "", estimate=float(n), n=n)
        cells.append(f"{n:,}")
    disp.append((("N", ""), cells + [""]))

    for row in spec:
        v = row.variable
        if row.kind == "categorical":
            s = adults[v].reset_index(drop=True)
            present = set(pd.unique(s[dom & s.notna().to_numpy()]).tolist())
            levs = _levels(s, row, present)
            per_col = [svyprop(v, des, domain=m, levels=levs).set_index("level") for _, _, m in cols]
            test = svychisq(v, group, des, domain=dom)
            tests[v] = test
            add(v, "", "", "p", estimate=test.statistic, p=test.p_value, n=test.n, test="rao_scott_f",
                statistic=test.statistic, df_num=test.df[0], df_den=test.df[1])
            first = True
            for lev in levs:
                cells = []
                for (_, cslug, _), res in zip(cols, per_col):
                    r = res.loc[lev]
                    add(v, lev, cslug, "", estimate=100 * r["proportion"], se=100 * r["se"],
                        ci_low=100 * r["ci_low"], ci_high=100 * r["ci_high"], n=int(r["n"]))
                    cells.append(f"{int(r['n']):,} ({100 * r['proportion']:.1f})")
                disp.append(((_label(row, test.n, n_total), str(lev)), cells + [_fmt_p(test.p_value) if first else ""]))
                first = False
        elif row.kind == "mean":
            cells = []
            dec: int | None = None
            for _, cslug, mask in cols:
                m = svymean(v, des, domain=mask).iloc[0]
                dec = _decimals(row, m["mean"]) if dec is None else dec
                sd = svyvar(v, des, domain=mask).iloc[0]
                add(v, "", cslug, "mean", estimate=m["mean"], se=m["se"], ci_low=m["ci_low"],
                    ci_high=m["ci_high"], n=int(m["n"]))
                add(v, "", cslug, "sd", estimate=sd["sd"], n=int(sd["n"]))
                cells.append(f"{_fmt(m['mean'], dec)} ± {_fmt(sd['sd'], dec)}")
            test = svyttest(v, group, des, domain=dom, levels=glevels)
            tests[v] = test
            add(v, "", "", "p", estimate=test.statistic, p=test.p_value, n=test.n, test="svyttest",
                statistic=test.statistic, df_num=test.df)
            disp.append(((_label(row, test.n, n_total), ""), cells + [_fmt_p(test.p_value)]))
        elif row.kind == "median":
            cells = []
            dec = None
            for _, cslug, mask in cols:
                q = svyquantile(v, des, (0.25, 0.5, 0.75), domain=mask).set_index("quantile")
                dec = _decimals(row, q.loc[0.5, "estimate"]) if dec is None else dec
                for stat, p in (("median", 0.5), ("q1", 0.25), ("q3", 0.75)):
                    r = q.loc[p]
                    add(v, "", cslug, stat, estimate=r["estimate"], se=r["se"], ci_low=r["ci_low"],
                        ci_high=r["ci_high"], n=int(r["n"]))
                cells.append(f"{_fmt(q.loc[0.5, 'estimate'], dec)} "
                             f"({_fmt(q.loc[0.25, 'estimate'], dec)}, "
                             f"{_fmt(q.loc[0.75, 'estimate'], dec)})")
            test = svyranktest(v, group, des, domain=dom, levels=glevels)
            tests[v] = test
            add(v, "", "", "p", estimate=test.statistic, p=test.p_value, n=test.n, test="svyranktest",
                statistic=test.statistic, df_num=test.df)
            disp.append(((_label(row, test.n, n_total), ""), cells + [_fmt_p(test.p_value)]))
        else:
            raise DescriptiveError(f"table1: row {v!r} has unknown kind {row.kind!r}")

    columns = ["id", "variable", "level", "column", "stat", "estimate", "se", "ci_low", "ci_high",
               "n", "p", "test", "statistic", "df_num", "df_den"]
    long_df = pd.DataFrame(long).reindex(columns=columns)
    long_df["n"] = long_df["n"].astype("Int64")
    index = pd.MultiIndex.from_tuples([k for k, _ in disp], names=["Characteristic", "Level"])
    display = pd.DataFrame([c for _, c in disp], index=index, columns=col_labels + ["P"])
    footnotes = [
        "Counts are unweighted; percentages, means, SDs, medians and quartiles are weighted "
        "with the NHANES design (strata, PSUs, weights), the cohort analysed as a domain.",
        "Continuous variables: mean ± SD, or median (Q1, Q3) for skewed variables. "
        "Categorical variables: n (%).",
        "P values: design-based t-test (means), design-based Wilcoxon rank test (medians), "
        "Rao–Scott corrected F test, second-order correction of the chi-square (categorical).",
        inflammation.units_note(defs.np_index),
    ]
    return Table1(long=long_df, display=display, tests=tests, footnotes=footnotes)
