"""Figure 1 reconciled: the per-cycle flow and the covariate step taken apart, as tables.

:func:`reconciliation` runs :func:`nhmg_lib.cohort.reconcile.reconcile_dir` with the paper's
share excluded at the covariate step as the target; :func:`gaps_table` and :func:`rules_table`
show its result beside the paper's counts; :func:`cycle_flow_table` is the flow per cycle.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from nhmg_lib.cohort.definitions import COVARIATE_RULES, DEFAULT, Definitions
from nhmg_lib.cohort.reconcile import Reconciliation, reconcile_dir
from nhmg_lib.data.catalog import CYCLES
from nhmg_lib.report.flow_chart import paper_by_step
from nhmg_lib.report.tables import publication_table

__all__ = ["paper_covariate_step", "reconciliation", "glue_values", "gaps_table", "rules_table",
           "cycle_flow_table"]

_SYNTHETIC_NOTE = ("Synthetic data: these counts describe the generator's missing values, not "
                   "NHANES. Only the real files can say which rule the paper applied.")


def _cycle(c: str) -> str:
    a, b = CYCLES[c]
    return f"{a}–{b % 100:02d} ({c})"


def paper_covariate_step() -> tuple[int, int, float]:
    """The paper's covariate step: (reaching it, excluded there, share excluded in %)."""
    paper = paper_by_step()
    reaching, excluded = paper["diet"][1], paper["covariates"][0]
    return reaching, int(excluded), 100 * excluded / reaching  # type: ignore[operator]


def reconciliation(data_dir: str | os.PathLike[str], defs: Definitions = DEFAULT, *,
                   dxa: set[int] | None = None, day2_stand_in: bool = False,
                   **load_options: object) -> Reconciliation:
    """:func:`~nhmg_lib.cohort.reconcile.reconcile_dir`, aiming at the paper's share."""
    return reconcile_dir(data_dir, defs, dxa=dxa, target_pct=paper_covariate_step()[2],
                         day2_stand_in=day2_stand_in, **load_options)


def glue_values(rec: Reconciliation) -> dict[str, str]:
    """The numbers the data chapter's text quotes: the paper's covariate step and the book's share."""
    reaching, excluded, pct = paper_covariate_step()
    book = rec.rules.loc["book", "pooled_pct"]
    return {"cov_paper_excluded": f"{excluded:,}", "cov_paper_reaching": f"{reaching:,}",
            "cov_paper_pct": f"{pct:.1f}%",
            "cov_book_pct": "–" if pd.isna(book) else f"{book:.1f}%"}


def _fmt(v: object) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
        return "–"
    return f"{int(v):,}" if not isinstance(v, str) else v  # type: ignore[call-overload]


def _notes(rec: Reconciliation, synthetic: bool) -> list[str]:
    notes = ["– the cycle's files cannot decide this count (a file it needs is missing)."]
    if rec.dxa_stand_in:
        notes.append("The ASM step uses who has a DXA limb measurement in a derived set "
                     "(data.derived_alm), standing in for the missing DXX files.")
    if rec.day2_cycles:
        notes.append(f"Cycle(s) {', '.join(rec.day2_cycles)}: no day-1 recall file; a reliable "
                     "day-2 recall stands for two reliable recalls.")
    if synthetic:
        notes.append(_SYNTHETIC_NOTE)
    return notes


def gaps_table(rec: Reconciliation, *, synthetic: bool = False, name: str = ""):
    """How many of those reaching the covariate step lack each covariate, alone and
    cumulatively in the paper's order, per cycle (a publication table)."""
    gaps = rec.gaps.copy()
    top = pd.DataFrame([[v for c in rec.reaching.index for v in (rec.reaching[c], rec.reaching[c])]],
                       index=["Reaching the covariate step"], columns=gaps.columns)
    frame = pd.concat([top, gaps]).astype(object)
    frame.columns = pd.MultiIndex.from_tuples(
        [(_cycle(c), "Alone" if k == "alone" else "Cumulative") for c, k in frame.columns])
    reaching, excluded, pct = paper_covariate_step()
    return publication_table(
        frame, name=name, formatter=_fmt, stub_header="Covariate",
        caption="Participants reaching the covariate step who lack each covariate, alone and "
                "cumulatively in the order of the paper's section 2.5, per cycle",
        footnotes=[f"Paper (Figure 1): {excluded:,} of {reaching:,} reaching the step excluded "
                   f"({pct:.1f}%), all cycles together; the last cumulative row is the book's "
                   "count.", *_notes(rec, synthetic)])


def rules_table(rec: Reconciliation, *, synthetic: bool = False, name: str = ""):
    """The covariate step under each candidate rule: excluded per cycle, pooled, and the share,
    beside the paper's (a publication table)."""
    reaching, excluded, pct = paper_covariate_step()
    cycles = list(rec.reaching.index)
    rows, index = [], []
    for key, row in rec.rules.iterrows():
        index.append(("Book's step" if key == "book" else str(key)).replace("_", " "))
        rows.append([*[row[c] for c in cycles], row["pooled"],
                     "–" if pd.isna(row["pooled_pct"]) else f"{row['pooled_pct']:.1f}%"])
    index.append("Paper (Figure 1)")
    rows.append([*["–"] * len(cycles), excluded, f"{pct:.1f}%"])
    cols = [*[_cycle(c) for c in cycles], "Pooled", "Share"]
    frame = pd.DataFrame(rows, index=index, columns=cols).astype(object)
    rules = "; ".join(f"{r.replace('_', ' ')}: {doc}" for r, doc in COVARIATE_RULES.items())
    closest = " + ".join(rec.closest) or "none"
    return publication_table(
        frame, name=name, formatter=_fmt, stub_header="Rule set",
        caption="Excluded at the covariate step under each candidate rule, beside the paper",
        footnotes=["Book's step: the Model 3 covariates, the inputs of NP, PAR and RAR and a "
                   f"dietary weight. Rules added to it: {rules}.",
                   f"Paper: {excluded:,} of {reaching:,} ({pct:.1f}%). Pooled: the cycles that "
                   "decide the row; share = pooled / those reaching the step in those cycles.",
                   f"Closest to the paper's share: {closest} (named, never the default; "
                   "choose it with --set covariate_rules=...).", *_notes(rec, synthetic)])


def cycle_flow_table(cohort: Any, *, name: str = ""):
    """Participants remaining after each step of the flow, per cycle (a publication table)."""
    flow = cohort.cycle_flow()
    labels = {s.key: s.label for s in cohort.flow}
    frame = flow.rename(index=labels).astype(object)
    frame.columns = [_cycle(c) if c in CYCLES else c for c in frame.columns]
    frame["All cycles"] = [s.n_remaining for s in cohort.flow]
    return publication_table(
        frame, name=name, formatter=_fmt, stub_header="After step",
        caption="Participants remaining after each exclusion step, per cycle",
        footnotes=["A cycle far below its share at some step points to a file or variable "
                   "missing in that cycle."])
