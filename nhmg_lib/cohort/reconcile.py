"""Figure 1's covariate step taken apart: who lacks what, per cycle, and what candidate rules add.

The paper excluded 3,079 of the 8,872 adults reaching its covariate step (35%); the book's
Model 3 covariates exclude far fewer. :func:`reconcile` counts, per cycle, among those reaching
the step: how many lack each covariate alone and cumulatively in the paper's order (section
2.5), and what each candidate rule of :data:`~nhmg_lib.cohort.definitions.COVARIATE_RULES` adds
to the book's step. Counts a cycle's files cannot decide are missing (NA), never zero.

Without the DXX files the ASM step can be stood in for by a set of SEQNs known to have a DXA
limb measurement (``dxa``, e.g. :func:`nhmg_lib.data.derived_alm.dxa_seqns`); this is the only
place that stand-in is used, and the result says so (``Reconciliation.dxa_stand_in``).
Likewise, in a cycle without its day-1 recall file, ``day2_stand_in`` lets a reliable day-2
recall (DR2DRSTZ = 1) stand for two reliable recalls: NHANES calls for the second recall only
after a complete first one, and in the cycles that have both files the two rules select the
same adults (tested on the real files). The covariates that need day-1 data stay undecided.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from nhmg_lib.cohort import candidates
from nhmg_lib.cohort.definitions import COVARIATE_RULES, DEFAULT, RULE_COMPONENTS, Definitions
from nhmg_lib.cohort.flow import required_covariates, screen
from nhmg_lib.cohort.requirements import needed_files
from nhmg_lib.cohort.variables import derive
from nhmg_lib.data.catalog import CYCLES
from nhmg_lib.data.readers import absent_files, load_raw

#: The paper's covariates in the order of its section 2.5, as (cohort column, label).
PAPER_ORDER: tuple[tuple[str, str], ...] = (
    ("age", "Age"), ("race", "Race"), ("gender", "Gender"), ("pir_cat", "Poverty-income ratio"),
    ("education", "Education"), ("smoking", "Smoking"), ("drinking", "Drinking"),
    ("active", "Physical activity"), ("energy", "Energy intake"), ("protein", "Protein intake"),
    ("diabetes", "Diabetes"), ("hypertension", "Hypertension"), ("egfr", "eGFR"),
    ("vitd", "25(OH)D"),
)
#: What the book's step requires beyond the paper's list, after it.
BOOK_EXTRAS: dict[str, str] = {"np": "NP index", "par": "PAR", "rar": "RAR",
                               "weight": "Positive dietary weight"}

#: File components behind each column (a cycle lacking one cannot decide the column).
SOURCES: dict[str, tuple[str, ...]] = {
    **{c: ("DEMO",) for c in ("age", "race", "gender", "pir_cat", "education")},
    "smoking": ("SMQ",), "drinking": ("ALQ",), "active": ("PAQ",),
    "energy": ("DR1TOT", "DR2TOT"), "protein": ("DR1TOT", "DR2TOT"),
    "diabetes": ("DIQ", "GHB", "GLU"), "hypertension": ("BPX", "BPQ"), "egfr": ("BIOPRO",),
    "vitd": ("VID",), "np": ("CBC",), "par": ("CBC", "BIOPRO"), "rar": ("CBC", "BIOPRO"),
    "weight": ("DR1TOT",),
}


@dataclass
class Reconciliation:
    """Counts per cycle letter (columns) of :func:`reconcile`; NA where the files cannot decide.

    ``reaching``: participants reaching the covariate step. ``gaps``: rows = covariates (paper's
    order, then the book's extras), columns (cycle, "alone" | "cumulative"). ``rules``: rows =
    rule sets (``"book"`` = the book's step, each candidate rule added alone, all of them and the
    closest set), columns = cycles plus ``"pooled"`` (over the cycles that decide every count) and
    ``"pooled_pct"``. ``closest``: the rule set whose pooled share is nearest ``target_pct``.
    """

    reaching: pd.Series
    gaps: pd.DataFrame
    rules: pd.DataFrame
    closest: tuple[str, ...]
    dxa_stand_in: bool
    defs: Definitions = DEFAULT
    #: Cycles whose diet step used the day-2 recall alone (``day2_stand_in``).
    day2_cycles: tuple[str, ...] = ()


def _decides(missing: set[tuple[str, str]], components: tuple[str, ...], cycle: str) -> bool:
    return not any((c, cycle) in missing for c in components)


def _lacking(d: pd.DataFrame, column: str) -> pd.Series:
    return ~(d["weight"] > 0) if column == "weight" else d[column].isna()


def reconcile(raw: pd.DataFrame, defs: Definitions = DEFAULT, *,
              missing: set[tuple[str, str]] | None = None,
              dxa: set[int] | None = None, target_pct: float | None = None,
              day2_stand_in: bool = False) -> Reconciliation:
    """The covariate step of ``raw`` taken apart (see the module docstring).

    ``missing`` holds (component, cycle letter) pairs whose file was absent; ``dxa`` the SEQNs
    with a DXA limb measurement, standing in for the ASM (DXX) data when given;
    ``target_pct`` the share (%) excluded at the step to come closest to (the paper's).
    """
    missing = set(missing or ())
    raw, _ = screen(raw)
    d = derive(raw, defs)
    cycle = raw["cycle"].astype(str)
    letters = [c for c in CYCLES if (cycle == c).any()]
    if dxa is not None:
        muscle = raw["SEQN"].astype("int64").isin(dxa) & (d["bmi"] > 0)
        muscle_files: tuple[str, ...] = ("BMX",)
    else:
        muscle, muscle_files = d["smi"].notna(), ("DXX", "BMX")
    diet_files = ("DR1TOT", "DR2TOT") + (("DS1TOT", "DS2TOT") if defs.magnesium == "total" else ())
    day2 = tuple(c for c in letters if day2_stand_in and ("DR1TOT", c) in missing
                 and ("DR2TOT", c) not in missing and defs.magnesium == "diet")
    diet = d["ln_mg"].notna() | (cycle.isin(day2) & raw["DR2DRSTZ"].eq(1))
    reach = (d["age"] >= 20) & (d["age"] <= 59) & muscle & diet
    decided = {c: _decides(missing, ("DEMO", *muscle_files, *(("DR2TOT",) if c in day2
                                                              else diet_files)), c)
               for c in letters}
    reaching = pd.Series({c: int((reach & (cycle == c)).sum()) if decided[c] else pd.NA
                          for c in letters}, dtype="Int64")

    required = [c for c in required_covariates(defs)] + ["weight"]
    order = [*PAPER_ORDER, *((c, BOOK_EXTRAS[c]) for c in required
                             if c not in dict(PAPER_ORDER))]
    sources = dict(SOURCES)
    if defs.random_glucose == "ogtt_2h":
        sources["diabetes"] = (*SOURCES["diabetes"], "OGTT")
    rows: dict[str, dict[tuple[str, str], object]] = {label: {} for _, label in order}
    for c in letters:
        here = reach & (cycle == c)
        cumulative = pd.Series(False, index=d.index)
        open_ = decided[c]
        for column, label in order:
            ok = decided[c] and _decides(missing, sources[column], c)
            open_ = open_ and ok
            lack = _lacking(d, column)
            cumulative |= lack
            rows[label][(c, "alone")] = int((here & lack).sum()) if ok else pd.NA
            rows[label][(c, "cumulative")] = int((here & cumulative).sum()) if open_ else pd.NA
    gaps = pd.DataFrame.from_dict(rows, orient="index").astype("Int64")
    gaps.columns = pd.MultiIndex.from_tuples(gaps.columns, names=["cycle", "count"])

    base = pd.Series(False, index=d.index)
    for column in required:
        base |= _lacking(d, column)
    base_ok = {c: decided[c] and all(_decides(missing, sources[col], c) for col in required)
               for c in letters}
    lacks = {r: candidates.lacks(r, raw, d) for r in COVARIATE_RULES}
    rule_ok = {r: {c: _decides(missing, RULE_COMPONENTS[r], c) for c in letters} for r in lacks}

    def counts(rules: tuple[str, ...]) -> dict[str, object]:
        excluded = base.copy()
        for r in rules:
            excluded |= lacks[r]
        out: dict[str, object] = {}
        for c in letters:
            ok = base_ok[c] and all(rule_ok[r][c] for r in rules)
            out[c] = int((reach & (cycle == c) & excluded).sum()) if ok else pd.NA
        return out

    def pooled(row: dict[str, object]) -> tuple[object, float]:
        both = [c for c in letters if row[c] is not pd.NA and reaching[c] is not pd.NA]
        if not both:
            return pd.NA, np.nan
        n = sum(int(row[c]) for c in both)  # type: ignore[arg-type]
        return n, 100 * n / sum(int(reaching[c]) for c in both)

    sets: dict[str, tuple[str, ...]] = {"book": ()}
    sets.update({f"+ {r}": (r,) for r in COVARIATE_RULES})
    sets["+ every rule"] = tuple(COVARIATE_RULES)
    every = [s for k in range(1, len(COVARIATE_RULES) + 1)
             for s in combinations(COVARIATE_RULES, k)]
    scored = [] if target_pct is None else [
        (abs(pooled(counts(s))[1] - target_pct), len(s), s) for s in every]
    scored = [t for t in scored if np.isfinite(t[0])]
    closest = min(scored)[2] if scored else ()
    if closest:
        sets["closest: + " + " + ".join(closest)] = closest
    table = {}
    for name, s in sets.items():
        row = counts(s)
        row["pooled"], row["pooled_pct"] = pooled(row)
        table[name] = row
    rules = pd.DataFrame.from_dict(table, orient="index")
    for c in [*letters, "pooled"]:
        rules[c] = rules[c].astype("Int64")
    rules["pooled_pct"] = rules["pooled_pct"].astype("float64")
    return Reconciliation(reaching, gaps, rules, closest, dxa is not None, defs, day2)


def reconcile_dir(data_dir: str | os.PathLike[str], defs: Definitions = DEFAULT, *,
                  dxa: set[int] | None = None, target_pct: float | None = None,
                  day2_stand_in: bool = False, **load_options: object) -> Reconciliation:
    """:func:`reconcile` on the files present in ``data_dir`` (missing ones are left undecided)."""
    rules = defs.with_(covariate_rules=tuple(COVARIATE_RULES))  # read every rule's files
    needed = [f for f, _ in needed_files(rules)]
    gone = set(absent_files(data_dir, needed))
    raw = load_raw(data_dir, components=sorted({f.component for f in needed}),
                   missing_ok=bool(gone), **load_options)  # type: ignore[arg-type]
    return reconcile(raw, defs, missing={(f.component, f.cycle) for f in gone}, dxa=dxa,
                     target_pct=target_pct, day2_stand_in=day2_stand_in)


__all__ = ["PAPER_ORDER", "BOOK_EXTRAS", "SOURCES", "Reconciliation", "reconcile",
           "reconcile_dir"]
