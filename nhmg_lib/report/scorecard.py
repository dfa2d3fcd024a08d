"""The scorecard: every number the paper publishes next to the number the book computes.

:func:`scorecard` joins the book's ``results.json`` records with :data:`nhmg_lib.report.published.VALUES`
on ``id`` and judges each pair. One row per published number; a published id the records do not
contain stays in the table as *not computed* (it is never dropped).

Columns of :attr:`Scorecard.frame`: ``id``, ``exhibit`` (from the id prefix: ``table2`` ->
"Table 2", ``flow`` -> "Figure 1", ...), ``kind``, ``where`` (place in the paper),
``published``, ``published_ci_low``, ``published_ci_high``, ``book``, ``book_ci_low``,
``book_ci_high``, ``book_p``, ``abs_diff`` (book - published), ``rel_diff``
((book - published) / |published|; None for p-values), the verdicts ``within_rounding``, ``ci_overlap``,
``same_sign``, ``same_significance``, ``agrees`` (sign and significance), and ``status``
(``"computed"`` or ``"not computed"``), ``decimals`` and ``label`` (the id in words,
:func:`describe`, last so the CSV's first columns stay as they were). A verdict that does not apply is ``None``.

Kinds and rules (the *null value* is what "no association" means on that scale):

==================  =======================================  ====================================
kind                ids                                      same_sign / same_significance
==================  =======================================  ====================================
odds ratio          ``table2``, ``tableS1``, ``table5``,     same side of 1 / CI excludes 1 in
                    ``fig3``, ``tableS3`` (not the           both or in neither
                    inflection), ``table7`` NDE/NIE/TE/CDE
beta                ``table3``, ``tableS2``, ``table4``,     same side of 0 / CI excludes 0 in
                    ``table6``, ``figS1``, ``table8``        both or in neither
                    NDE/NIE/TE/CDE
p-value             last id part starts with ``p_``          no sign (None) / the same
                    (``p_trend``, ``p_nonlinear``,           (p < 0.05 in both or in neither)
                    ``p_interaction``, ...)
proportion          ``.../pm``                               same sign / CI excludes 0 in both
mediated                                                     or in neither
count               ``flow/...``, ``cohort/...``,            no sign: |rel diff| <= ``tolerance``
                    ``.../excluded_n``, the inflection       (5 %) stands in for it; no
                    point                                    significance (not applicable)
==================  =======================================  ====================================

``within_rounding``: the book's estimate rounded (half away from zero) to the published
number's ``decimals`` equals the published value. ``ci_overlap``: only when both CIs exist;
the two intervals share at least one point.

Significance of a published number comes from its CI when printed, else from its p-value, else
from the text: the paper reports each listed odds ratio, beta and proportion mediated as a
finding and names its non-significant results separately (:data:`published.FINDINGS`, judged by :mod:`nhmg_lib.report.findings`), so a
published estimate with neither CI nor p is read as significant at 0.05
(``published_significance`` = ``"text"``). The book's significance comes from its CI, else its
p-value.

``agrees`` is true when ``same_sign`` is true and ``same_significance`` is not false (for counts,
where significance does not apply, it is the relative-difference check alone; for p-values,
which have no sign, ``same_sign`` is None and ``agrees`` is the significance check alone, so
one test is never counted twice).

``comparable`` is False for a pair that compares different measures (the paper's NP is the
0/1/2 score; the book's default NP is the product of the counts, :func:`different_measure`):
such a pair keeps its numbers but is never counted as agreement, and the summary counts it
apart. ``why`` names the categories of :data:`WHY` (synthetic data, different measure,
definition, weighting, contrast) that may explain a pair not equal within rounding.

The summary line reads "k of n published numbers reproduced within rounding; m of n agree in
sign and significance", with n every published number of a comparable pair (not-computed rows
count as failures), followed by the number of pairs of different measures when there are any.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from nhmg_lib.cohort.definitions import DEFAULT, Definitions
from nhmg_lib.report import published as _published
from nhmg_lib.report.tables import PublicationTable, format_value, publication_table

ALPHA = 0.05
#: Relative difference a count may have and still count as agreeing (sign check for counts).
COUNT_TOLERANCE = 0.05

#: Verdict marks of the rendered table (the CSV keeps True/False/empty).
AGREES, DIFFERS, NOT_APPLICABLE = "✓", "✗", "–"

KINDS = ("odds ratio", "beta", "p-value", "proportion mediated", "count")
NULL = {"odds ratio": 1.0, "beta": 0.0, "proportion mediated": 0.0}

_OR_EXHIBITS = {"table2", "tableS1", "table5", "fig3", "tableS3"}
_BETA_EXHIBITS = {"table3", "tableS2", "table4", "table6", "figS1"}
_COUNT_EXHIBITS = {"flow", "cohort", "table1"}

COLUMNS = [
    "id", "exhibit", "kind", "where", "published", "published_ci_low", "published_ci_high",
    "published_significance", "book", "book_ci_low", "book_ci_high", "book_p", "abs_diff",
    "rel_diff", "within_rounding", "ci_overlap", "same_sign", "same_significance", "agrees",
    "status", "decimals", "label", "comparable", "why",
]

#: Why a book number may differ from the paper's, by category (the scorecard's "why" column
#: names the categories; the rendered table's notes say what each means).
WHY: dict[str, str] = {
    "synthetic data": "this build runs on synthetic, NHANES-shaped data: no number of it can "
                      "reproduce the paper's",
    "different measure": "the paper's NP is the published 0/1/2 neutrophil-platelet score, the "
                         "book's (by default) the product of the two counts: the pair compares "
                         "two different measures and is not counted",
    "definition": "rules the paper leaves open (exclusions, covariate codings, index "
                  "definitions; see the robustness chapter)",
    "weighting": "how the survey weights entered the paper's mediation models is not stated "
                 "(the book scales them to mean 1)",
    "contrast": "the paper's mediation contrast, ln-Mg 0 → 1, lies outside the data, where "
                "the exposure × mediator interaction decides the split",
}


def exhibit_of(id: str) -> str:
    """The paper exhibit an id belongs to, from its prefix (``tableS3/...`` -> "Table S3")."""
    head = id.split("/", 1)[0]
    if head == "flow":
        return "Figure 1"
    if head == "cohort":
        return "Cohort (3.1)"
    m = re.fullmatch(r"(table|fig)(S?\d+)", head)
    if m:
        return ("Table " if m.group(1) == "table" else "Figure ") + m.group(2)
    return head


_INDEX_NAMES = {"cally": "CALLY", "np": "NP", "par": "PAR", "rar": "RAR"}
_COHORT_NAMES = {"lmm_n": "participants with LMM (n)", "lmm_pct": "LMM prevalence (%)",
                 "male_pct": "men (%)", "median_age": "median age (years)",
                 "final_n": "final cohort (n)", "excluded_n": "excluded for extreme energy intake (n)"}
_EFFECTS = {"nde": "natural direct effect", "nie": "natural indirect effect",
            "te": "total effect", "cde": "controlled direct effect", "pm": "proportion mediated"}
_MEASURE = {"odds ratio": " (OR)", "beta": " (β)"}


def _term(part: str, kind: str) -> str:
    """One id part in words: ``q4`` -> "Q4 vs Q1 (OR)", ``ln_mg`` -> "per ln unit of Mg (OR)"."""
    unit = _MEASURE.get(kind, "")
    if re.fullmatch(r"q[2-4]", part):
        return f"{part.upper()} vs Q1{unit}"
    if part == "ln_mg":
        return f"per ln unit of magnesium{unit}"
    if part == "p_trend":
        return "P for trend"
    if part == "p_nonlinear":
        return "P nonlinear"
    if part == "p_interaction":
        return "P for interaction"
    if re.fullmatch(r"model\d", part):
        return f"Model {part[5:]}"
    if part in _INDEX_NAMES:
        return _INDEX_NAMES[part]
    if part in _EFFECTS:
        return _EFFECTS[part] + ("" if part == "pm" else unit)
    if part in _COHORT_NAMES:
        return _COHORT_NAMES[part]
    if part in ("lmm", "smi"):
        return {"lmm": "LMM", "smi": "ln SMI"}[part]
    if part in ("yes", "no"):
        return part
    if part == "p":
        return "P"
    return part.replace("_", " ")


def describe(id: str) -> str:
    """A results.json id in words, for readers: ``table2/model3/q4`` -> "Table 2, Model 3, Q4
    vs Q1 (OR)"; ``table5/np/model3/ln_index`` -> "Table 5, Model 3, per ln unit of NP (OR)"."""
    parts = id.split("/")
    kind = kind_of(id)
    head = exhibit_of(id)
    rest = parts[1:]
    if rest and rest[-1] == "ln_index" and len(rest) >= 2:  # index tables: "per ln unit of NP"
        words = [_term(p, kind) for p in rest[1:-1]]
        words.append(f"per ln unit of {_INDEX_NAMES.get(rest[0], rest[0])}{_MEASURE.get(kind, '')}")
    elif parts[0] == "tableS3":
        words = [{"inflection": "inflection point (ln mg/day)",
                  "above": "OR per ln unit above the inflection point",
                  "below": "OR per ln unit below the inflection point",
                  "linear": "OR per ln unit, one-line model"}.get(rest[-1], _term(rest[-1], kind))]
    elif parts[0] in ("fig3", "figS1") and len(rest) == 3:  # subgroup level: "hypertension yes"
        words = [f"{rest[0]} {rest[1]}", _term(rest[2], kind)]
    else:
        words = [_term(p, kind) for p in rest]
    if head.startswith("Cohort"):
        head = "Cohort"
    return ", ".join([head, *words])


def kind_of(id: str) -> str:
    """The kind of number an id holds (see the module docstring for the rules)."""
    parts = id.split("/")
    head, last = parts[0], parts[-1]
    if last.startswith("p_") or last == "p":
        return "p-value"
    if last == "pm":
        return "proportion mediated"
    if head in _COUNT_EXHIBITS or last.endswith("_n") or last in ("inflection", "n"):
        return "count"
    if head == "table7":
        return "odds ratio"
    if head == "table8":
        return "beta"
    if head in _OR_EXHIBITS:
        return "odds ratio"
    if head in _BETA_EXHIBITS:
        return "beta"
    return "count"


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def round_half_up(x: float, decimals: int) -> float:
    """``x`` rounded half away from zero (as printed tables round), via its shortest repr."""
    q = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP))


def _side(x: float | None, ref: float) -> int | None:
    if x is None:
        return None
    return (x > ref) - (x < ref)


def _significant(kind: str, est: float | None, lo: float | None, hi: float | None,
                 p: float | None) -> bool | None:
    """Significance at 0.05 on this kind's scale; None when nothing says."""
    if kind == "p-value":
        return None if est is None else est < ALPHA
    if kind == "count":
        return None
    null = NULL[kind]
    if lo is not None and hi is not None:
        return not (lo <= null <= hi)
    if p is not None:
        return p < ALPHA
    return None


def different_measure(id: str, defs: Definitions = DEFAULT) -> bool:
    """Whether the book's number for ``id`` measures something else than the paper's: an NP
    estimate when the book's NP is not the published 0/1/2 score (``defs.np_index``)."""
    return "np" in id.split("/") and defs.np_index != "score"


def why_differs(id: str, *, defs: Definitions = DEFAULT, synthetic: bool = False) -> list[str]:
    """The categories of :data:`WHY` that can explain a difference for ``id``, most
    decisive first."""
    head = id.split("/", 1)[0]
    # a different measure decides on any data; synthetic data decides every other pair
    out = ["different measure"] if different_measure(id, defs) else []
    if synthetic:
        out.append("synthetic data")
    out.append("definition")
    if head in ("table7", "table8"):
        out += ["weighting", "contrast"]
    return out


def judge(pub: _published.Published, rec: Mapping[str, Any] | None,
          tolerance: float = COUNT_TOLERANCE, *, defs: Definitions = DEFAULT,
          synthetic: bool = False) -> dict[str, Any]:
    """One scorecard row for a published number and the book's record (None: not computed).

    A pair that compares different measures (:func:`different_measure`) keeps its numbers
    but no verdict counts as agreement (``comparable`` False, ``agrees`` False). ``why``
    names the categories of :data:`WHY` that may explain a difference (empty when the book's
    number equals the paper's within rounding)."""
    row = _judge(pub, rec, tolerance)
    row["comparable"] = not different_measure(pub.id, defs)
    if not row["comparable"]:
        row["agrees"] = False
    row["why"] = ("" if row["within_rounding"] and row["comparable"]
                  else ", ".join(why_differs(pub.id, defs=defs, synthetic=synthetic)))
    return row


def _judge(pub: _published.Published, rec: Mapping[str, Any] | None,
           tolerance: float = COUNT_TOLERANCE) -> dict[str, Any]:
    kind = kind_of(pub.id)
    p_est, p_lo, p_hi = float(pub.estimate), _num(pub.ci_low), _num(pub.ci_high)
    if kind == "p-value":
        p_sig, p_src = p_est < ALPHA, "p"
    elif kind == "count":
        p_sig, p_src = None, None
    elif p_lo is not None and p_hi is not None:
        p_sig, p_src = _significant(kind, p_est, p_lo, p_hi, None), "CI"
    elif _num(pub.p) is not None:
        p_sig, p_src = _num(pub.p) < ALPHA, "p"
    else:
        p_sig, p_src = True, "text"
    row: dict[str, Any] = {
        "id": pub.id, "label": describe(pub.id), "exhibit": exhibit_of(pub.id), "kind": kind,
        "where": pub.where,
        "published": p_est, "published_ci_low": p_lo, "published_ci_high": p_hi,
        "published_significance": p_src, "decimals": int(pub.decimals),
        "book": None, "book_ci_low": None, "book_ci_high": None, "book_p": None,
        "abs_diff": None, "rel_diff": None, "within_rounding": False, "ci_overlap": None,
        "same_sign": None, "same_significance": None, "agrees": False, "status": "not computed",
    }
    est = None if rec is None else _num(rec.get("estimate"))
    if est is None:
        return row
    lo, hi, p = _num(rec.get("ci_low")), _num(rec.get("ci_high")), _num(rec.get("p"))
    row.update(book=est, book_ci_low=lo, book_ci_high=hi, book_p=p, status="computed")
    row["abs_diff"] = est - p_est
    # a relative difference of p-values means nothing (0.004 vs 0.005 is "25%")
    row["rel_diff"] = (est - p_est) / abs(p_est) if p_est != 0 and kind != "p-value" else None
    row["within_rounding"] = math.isclose(round_half_up(est, pub.decimals), p_est,
                                          rel_tol=0, abs_tol=10 ** (-pub.decimals) / 1000)
    if None not in (lo, hi, p_lo, p_hi):
        row["ci_overlap"] = bool(lo <= p_hi and p_lo <= hi)
    if kind == "count":
        rel = row["rel_diff"]
        row["same_sign"] = bool(abs(rel) <= tolerance) if rel is not None else est == p_est
        row["agrees"] = row["same_sign"]
        return row
    if kind == "p-value":
        # a p-value has no sign: "the same side of 0.05" is the significance test, counted once
        row["same_significance"] = (est < ALPHA) == (p_est < ALPHA)
        row["agrees"] = row["same_significance"]
        return row
    else:
        ref = NULL[kind]
        row["same_sign"] = _side(est, ref) == _side(p_est, ref)
        b_sig = _significant(kind, est, lo, hi, p)
        row["same_significance"] = None if b_sig is None or p_sig is None else b_sig == p_sig
    row["agrees"] = bool(row["same_sign"]) and row["same_significance"] is not False
    return row


def _records_by_id(records: Iterable[Mapping[str, Any]] | Mapping[str, Any] | pd.DataFrame
                   ) -> dict[str, Mapping[str, Any]]:
    if isinstance(records, pd.DataFrame):
        records = records.to_dict("records")
    elif isinstance(records, (str, Path)):
        records = json.loads(Path(records).read_text())
    elif isinstance(records, Mapping):
        records = [dict(v, id=k) for k, v in records.items()]
    return {str(r["id"]): r for r in records}


@dataclass
class Scorecard:
    """The joined, judged table (:attr:`frame`) with a summary and renderings."""

    frame: pd.DataFrame

    @property
    def comparable(self) -> pd.DataFrame:
        """The pairs that compare the same measure (the others are flagged, not counted)."""
        return self.frame[self.frame["comparable"].astype(bool)]

    @property
    def n(self) -> int:
        """Published numbers the book computes the same measure for."""
        return len(self.comparable)

    @property
    def n_different_measure(self) -> int:
        return len(self.frame) - self.n

    @property
    def n_within_rounding(self) -> int:
        return sum(x is True or x == True for x in self.comparable["within_rounding"])

    @property
    def n_agree(self) -> int:
        return sum(x is True or x == True for x in self.comparable["agrees"])

    @property
    def n_not_computed(self) -> int:
        return int((self.comparable["status"] == "not computed").sum())

    def summary(self) -> str:
        """"k of n published numbers reproduced within rounding; m of n agree in sign and
        significance" (plus how many were not computed, when any)."""
        n = self.n
        s = (f"{self.n_within_rounding} of {n} published numbers reproduced within rounding; "
             f"{self.n_agree} of {n} agree in sign and significance")
        if self.n_not_computed:
            s += f" ({self.n_not_computed} not computed)"
        if self.n_different_measure:
            k = self.n_different_measure
            s += (f"; {k} further {'pair compares' if k == 1 else 'pairs compare'} different "
                  "measures and " + ("is" if k == 1 else "are") + " not counted")
        return s

    def display_frame(self) -> pd.DataFrame:
        """Text cells for the publication table, rows grouped by exhibit."""
        def est_ci(v, lo, hi, d):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return "not computed"
            text = format_value(v, d)
            if lo is not None and hi is not None and not (pd.isna(lo) or pd.isna(hi)):
                text += f" ({format_value(lo, d)}, {format_value(hi, d)})"
            return text

        def verdict(x):
            if x is None or (isinstance(x, float) and math.isnan(x)):
                return NOT_APPLICABLE
            return AGREES if bool(x) else DIFFERS

        rows, index = [], []
        for r in self.frame.to_dict("records"):
            d = int(r["decimals"])
            done = r["status"] == "computed"
            rel = r["rel_diff"]
            same = bool(r.get("comparable", True))
            judged = done and same  # a pair of different measures gets no verdict
            rows.append([
                est_ci(r["published"], r["published_ci_low"], r["published_ci_high"], d),
                est_ci(r["book"], r["book_ci_low"], r["book_ci_high"], d),
                format_value(r["abs_diff"], d if r["kind"] == "count" else d + 1) if done else "",
                f"{100 * rel:+.1f}%" if done and rel is not None and not pd.isna(rel) else "",
                verdict(r["within_rounding"]) if judged else (DIFFERS if same else NOT_APPLICABLE),
                verdict(r["ci_overlap"]) if judged else NOT_APPLICABLE,
                verdict(r["same_sign"]) if judged else NOT_APPLICABLE,
                verdict(r["same_significance"]) if judged else NOT_APPLICABLE,
                r.get("why") or "",
            ])
            # under its exhibit's heading a row needs only the rest of the label
            label = r.get("label") or describe(r["id"])
            head, _, rest = label.partition(", ")
            index.append((r["exhibit"], rest if rest and r["exhibit"].startswith(head) else label))
        # Short headers under two groups keep the table inside the book's text column.
        cols = pd.MultiIndex.from_tuples([
            ("", "Published"), ("", "Book"), ("Difference", "abs."), ("Difference", "rel."),
            ("Agreement", "rounding"), ("Agreement", "CI"), ("Agreement", "sign"),
            ("Agreement", "signif."), ("", "Why it may differ")])
        return pd.DataFrame(rows, columns=cols, index=pd.MultiIndex.from_tuples(index))

    def render(self, *, caption: str = "The paper's numbers and the book's",
               name: str = "table-scorecard", footnotes: Sequence[str] = ()) -> PublicationTable:
        """The scorecard as a publication table (HTML in the web book, LaTeX in the PDF)."""
        notes = [
            self.summary() + ".",
            "Estimates with 95% CI in parentheses, to the published number's decimals. "
            "Difference: book − published (abs.) and the same over |published| (rel.; not for "
            "p-values). "
            f"{AGREES} agrees, {DIFFERS} differs, {NOT_APPLICABLE} not applicable.",
            "Rounding: the book's estimate, rounded as the paper rounds it, equals the "
            "published value. CI: the two 95% confidence intervals overlap. Sign: odds ratios on the same side of 1, betas and proportions "
            "mediated on the same side of 0; for counts, a "
            f"relative difference of at most {COUNT_TOLERANCE:.0%}; a p-value has no sign "
            f"({NOT_APPLICABLE}). Signif.: the CI "
            "excludes the null value (or p < 0.05) in both or in neither; a published estimate "
            "without CI or p is one the text reports as significant. A p-value is judged by "
            "this test alone, so no test is counted twice.",
            "Why it may differ (for every pair not equal within rounding): "
            + "; ".join(f"{k}: {v}" for k, v in WHY.items()) + ".",
            *footnotes,
        ]
        return publication_table(self.display_frame(), caption=caption, name=name,
                                 stub_header="Published number", footnotes=notes,
                                 formatter=str, align=["r"] * 4 + ["c"] * 4 + ["l"])

    def to_csv(self, path: str | Path | None = None) -> str | None:
        """The full frame as CSV (text when ``path`` is None)."""
        if path is None:
            return self.frame.to_csv(index=False)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.frame.to_csv(path, index=False)
        return None

    def _repr_html_(self) -> str:
        return self.render()._repr_html_()

    def __repr__(self) -> str:
        return f"<Scorecard: {self.summary()}>"


def scorecard(records: Iterable[Mapping[str, Any]] | pd.DataFrame | str | Path,
              published: Sequence[_published.Published] = _published.VALUES,
              *, tolerance: float = COUNT_TOLERANCE, defs: Definitions = DEFAULT,
              synthetic: bool = False) -> Scorecard:
    """Join the book's records (list of results.json dicts, a DataFrame of them, or the path of
    a results.json) with the published numbers on ``id`` and judge each pair. ``defs`` are
    the definitions the records were computed with (an NP pair is a different measure unless
    ``defs.np_index == "score"``); ``synthetic`` says the records come from synthetic data
    (the first reason for every difference)."""
    by_id = _records_by_id(records)
    rows = [judge(p, by_id.get(p.id), tolerance, defs=defs, synthetic=synthetic) for p in published]
    frame = pd.DataFrame(rows, columns=COLUMNS).astype(object)
    frame = frame.where(pd.notna(frame), None)
    return Scorecard(frame)
