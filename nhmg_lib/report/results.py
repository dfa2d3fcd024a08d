"""Every estimate of the book as ``results.json`` records (``nhmg results``).

One record per number: ``{"id", "estimate", "ci_low", "ci_high", "p", "n"}``. Each analysis
module owns its ids and its ``records`` function; this module only builds the cohort once and
gathers them in exhibit order. Id families (SPEC section 7):

========================  ==========================================================
``flow/<step>/excluded``  Figure 1: participants excluded at each step; ``flow/final_n``;
                          ``flow/<step>/cycle/<G|H|I|J>`` remaining after the step per cycle
``cohort/...``            cohort facts: ``lmm_n``, ``lmm_pct``, ``male_pct``, ``median_age``
``table1/...``            Table 1 (:func:`nhmg_lib.analyses.table1.records`)
``table2..3, tableS1..2``  Tables 2, 3, S1, S2 (:func:`nhmg_lib.analyses.models.all_records`);
                          ``tableS1/excluded_n`` extreme-energy exclusions
``fig2/..., tableS3/...``  splines and the two-piece model (:mod:`splines`, :mod:`threshold`)
``fig3/..., figS1/...``    subgroups (:mod:`nhmg_lib.analyses.subgroups`)
``table4..6/...``          inflammation indices (:mod:`nhmg_lib.analyses.inflammation`)
``table7..8/...``          mediation (:mod:`nhmg_lib.report.mediation_report`); ``.../<effect>/design``:
                          the same effect with its design-bootstrap (PSU, Rao-Wu) CI and P
``table7..8/*/weighting/``  mediation with raw or no weights (:mod:`nhmg_lib.report.mediation_weighting`)
``multiverse/...``         specification curves (:mod:`nhmg_lib.report.specification_curve`); written by
                          ``nhmg multiverse --records``, not gathered here (the full grid takes a minute)
========================  ==========================================================

:func:`collect_with_reasons` (what ``nhmg results`` calls) also says why a number is missing:
a pair, subgroup row, Table 1 row or index that cannot be computed keeps its ids as null
records and adds ``(id prefix, reason)`` beside the records (never inside them: a record has
exactly the six keys above); a section failing whole is reported and the others still run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from nhmg_lib.cohort.flow import Cohort, cohort_from_dir
from nhmg_lib.cohort.definitions import DEFAULT, Definitions

Record = dict[str, Any]


def record(id: str, estimate: float | None, n: int | None = None, *, ci_low: float | None = None,
           ci_high: float | None = None, p: float | None = None) -> Record:
    """A results.json record; non-finite numbers become ``None`` (JSON has no NaN)."""
    def clean(x: float | None) -> float | None:
        return None if x is None or not math.isfinite(float(x)) else float(x)

    return {"id": id, "estimate": clean(estimate), "ci_low": clean(ci_low),
            "ci_high": clean(ci_high), "p": clean(p), "n": None if n is None else int(n)}


def cohort_records(cohort: Cohort) -> list[Record]:
    """Flow counts and unweighted cohort facts (the paper's section 3.1 reports them unweighted)."""
    out = [record(f"flow/{s.key}/excluded", s.n_excluded, s.n_remaining)
           for s in cohort.flow if s.key not in ("start", "final")]
    # the flow per cycle: participants remaining after each step in each cycle
    out += [record(f"flow/{s.key}/cycle/{c}", n, n) for s in cohort.flow
            for c, n in s.by_cycle.items()]
    frame = cohort.frame
    n = len(frame)
    out += [
        record("flow/start_n", cohort.flow[0].n_remaining),
        record("flow/final_n", n),
        record("cohort/lmm_n", int(frame["lmm"].sum()), n),
        record("cohort/lmm_pct", 100 * frame["lmm"].mean(), n),
        record("cohort/male_pct", 100 * (frame["gender"] == "Male").mean(), n),
        record("cohort/median_age", frame["age"].median(), n),
    ]
    return out


def energy_records(adults: pd.DataFrame) -> list[Record]:
    """How many cohort members the extreme-energy rule of Tables S1/S2 removes."""
    from nhmg_lib.analyses.models import energy_plausible

    cohort = adults[adults["in_cohort"] == 1]
    return [record("tableS1/excluded_n", int((~energy_plausible(cohort)).sum()), len(cohort))]


def _sections(defs: Definitions, boot: int, seed: int, weighting: str = "normalised"
              ) -> list[tuple[str, Callable[[pd.DataFrame], list[Record]]]]:
    from nhmg_lib.analyses import inflammation, models, splines, subgroups, table1, threshold
    from nhmg_lib.report import mediation_report
    from nhmg_lib.report import mediation_weighting

    sections: list[tuple[str, Callable[[pd.DataFrame], list[Record]]]] = [
        ("Table 1", lambda a: table1.records(table1.table1(a, defs=defs))),
        ("Tables 2, 3, S1, S2", models.all_records),
        ("Tables S1, S2 exclusions", energy_records),
        ("Figure 2", splines.all_records),
        ("Table S3", lambda a: threshold.records(a, boot=boot, seed=seed)),
        ("Figures 3, S1", subgroups.records),
        ("Tables 4-6", lambda a: inflammation.records(a, defs)),
        ("Tables 7, 8", lambda a: mediation_report.records(a, defs, boot=boot, seed=seed,
                                                            weighting=weighting)),
        ("Tables 7, 8 by weighting", lambda a: mediation_weighting.records(a, defs, boot=boot, seed=seed)),
    ]
    return sections


#: Why an exhibit (or part of one) has no estimate: ``(id prefix, reason)``, e.g.
#: ``("table7/cally", "too few complete rows ...")``. Returned beside the records by
#: :func:`collect_with_reasons`, never inside them (records keep exactly the six keys).
Reason = tuple[str, str]

#: The id families each section of :func:`_sections` writes (named when a section fails whole).
SECTION_FAMILIES: dict[str, tuple[str, ...]] = {
    "Table 1": ("table1",), "Tables 2, 3, S1, S2": ("table2", "table3", "tableS1", "tableS2"),
    "Tables S1, S2 exclusions": ("tableS1/excluded_n",), "Figure 2": ("fig2",),
    "Table S3": ("tableS3",), "Figures 3, S1": ("fig3", "figS1"),
    "Tables 4-6": ("table4", "table5", "table6"), "Tables 7, 8": ("table7", "table8"),
    "Tables 7, 8 by weighting": ("table7/*/weighting", "table8/*/weighting"),
}


def _explained_sections(defs: Definitions, boot: int, seed: int, reasons: list[Reason]
                        ) -> list[tuple[str, Callable[[pd.DataFrame], list[Record]]]]:
    """:func:`_sections`, with the sections that know why a number is missing (subgroups,
    mediation) replaced by versions that also append their reasons to ``reasons``."""
    from nhmg_lib.analyses import subgroups
    from nhmg_lib.analyses.splines import model_design
    from nhmg_lib.report import mediation_report, mediation_weighting

    def subgroup_records(a: pd.DataFrame) -> list[Record]:
        design = model_design(a, None)
        out: list[Record] = []
        for outcome, fig in subgroups.FIGURE_IDS.items():
            analysis = subgroups.subgroup_analysis(a, outcome, design=design)
            out.extend(analysis.records())
            bad = analysis.rows[~analysis.rows["estimable"] & (analysis.rows["term"] != "q1")]
            for (sub, level), rows in bad.groupby(["subgroup", "level"], sort=False):
                whys = list(dict.fromkeys(rows["reason"].astype(str)))
                if len(whys) == 1:  # one reason for the whole level
                    reasons.append((f"{fig}/{sub}/{level}", whys[0]))
                else:
                    reasons.extend((f"{fig}/{sub}/{level}/{t}", str(w))
                                   for t, w in zip(rows["term"], rows["reason"]))
        return out

    def mediation_records(a: pd.DataFrame) -> list[Record]:
        block = mediation_report.mediation_block(a, defs, boot, seed)
        design = mediation_report.design_block(a, defs, boot, seed)
        reasons.extend(mediation_report.not_estimable_reasons(block))
        reasons.extend(mediation_report.design_reasons(design))
        return mediation_report.records(a, defs, boot=boot, seed=seed, results=block,
                                        design=design)

    def weighting_records(a: pd.DataFrame) -> list[Record]:
        return mediation_weighting.records(a, defs, boot=boot, seed=seed, reasons=reasons)

    def inflammation_records(a: pd.DataFrame) -> list[Record]:
        """Tables 4-6; when the four indices cannot be fitted together, index by index, the
        failed ones keeping their ids (those of a fitted index, renamed) as nulls."""
        from nhmg_lib.analyses import inflammation
        from nhmg_lib.errors import NhmgError

        try:
            return inflammation.records(a, defs)
        except NhmgError:
            pass
        fitted: dict[str, list[Record]] = {}
        failed: dict[str, str] = {}
        for index in inflammation.INDICES:
            try:
                fitted[index] = inflammation.fit_tables(a, defs, indices=(index,)).records()
            except NhmgError as exc:
                failed[index] = str(exc)
        if not fitted:  # every index fails: the section fails whole (its first reason)
            return inflammation.records(a, defs)
        template = next(iter(fitted.values()))
        out: list[Record] = []
        for index in inflammation.INDICES:
            if index in fitted:
                out.extend(fitted[index])
                continue
            for r in template:
                table, _other, rest = r["id"].split("/", 2)
                out.append(record(f"{table}/{index}/{rest}", None))
            reasons.extend((f"{t}/{index}", failed[index]) for t in ("table4", "table5", "table6"))
        return out + inflammation.adjusted_records(out)

    def table1_records(a: pd.DataFrame) -> list[Record]:
        """Table 1; when a row cannot be computed, row by row, the failed rows keeping their
        ids (the statistics of their kind for each column) as nulls."""
        from nhmg_lib.analyses import table1
        from nhmg_lib.errors import NhmgError

        try:
            return table1.records(table1.table1(a, defs=defs))
        except NhmgError:
            pass
        rows = table1.rows_for(defs)
        done: dict[str, list[Record]] = {}
        failed: dict[str, str] = {}
        for row in rows:
            try:
                done[row.variable] = table1.records(table1.table1(a, defs=defs, rows=[row]))
            except NhmgError as exc:
                failed[row.variable] = str(exc)
        if not done:  # every row fails: the section fails whole
            return table1.records(table1.table1(a, defs=defs))
        first = next(iter(done.values()))
        columns = [r["id"].split("/")[2] for r in first if r["id"].startswith("table1/n/")]
        stats = {"mean": ("mean", "sd"), "median": ("median", "q1", "q3")}
        out = [r for r in first if r["id"].startswith("table1/n/")]  # N once, then every row
        for row in rows:
            v = row.variable
            if v in done:
                out.extend(r for r in done[v] if not r["id"].startswith("table1/n/"))
                continue
            parts = ([f"{table1.slug(lv)}" for lv in row.levels or ()] if row.kind == "categorical"
                     else list(stats.get(row.kind, ())))
            out.append(record(f"table1/{v}/p", None))
            out.extend(record(f"table1/{v}/{part}/{c}", None) for part in parts for c in columns)
            reasons.append((f"table1/{v}", failed[v]))
        return out

    def threshold_records(a: pd.DataFrame) -> list[Record]:
        """Table S3; a breakpoint interval left null (no change in slope) says why."""
        from nhmg_lib.analyses import threshold

        out = threshold.records(a, boot=boot, seed=seed)
        reasons.extend((r["id"], threshold.NO_BREAKPOINT) for r in out
                       if r["id"].split("/")[-1].startswith("breakpoint_ci") and r["estimate"] is None)
        return out

    replace = {"Figures 3, S1": subgroup_records, "Table 1": table1_records, "Tables 7, 8": mediation_records,
               "Tables 7, 8 by weighting": weighting_records, "Tables 4-6": inflammation_records,
               "Table S3": threshold_records}
    return [(name, replace.get(name, make)) for name, make in _sections(defs, boot, seed)]


def collect_with_reasons(data_dir: str | Path, defs: Definitions = DEFAULT, *, boot: int = 1000,
                         seed: int = 1, cohort: Cohort | None = None
                         ) -> tuple[list[Record], list[Reason]]:
    """:func:`collect` plus why each missing number is missing: ``(records, reasons)``.

    A pair or subgroup row that cannot be fitted keeps its ids as null records (estimate
    ``None``) and adds ``(id prefix, reason)`` to ``reasons``. A section that fails whole (a
    library error, :class:`nhmg_lib.errors.NhmgError`) adds one reason per id family it writes
    (:data:`SECTION_FAMILIES`) and the other sections still run.
    """
    from nhmg_lib.errors import NhmgError

    cohort = cohort if cohort is not None else cohort_from_dir(data_dir, defs)
    reasons: list[Reason] = []
    records = cohort_records(cohort)
    for name, make in _explained_sections(defs, boot, seed, reasons):
        try:
            records.extend(make(cohort.adults))
        except NhmgError as exc:
            reasons.extend((fam, f"{name} failed: {exc}") for fam in SECTION_FAMILIES.get(name, (name,)))
    ids = [r["id"] for r in records]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise RuntimeError(f"results ids are not unique: {duplicated[:10]}")
    return [record(r["id"], r.get("estimate"), r.get("n"), ci_low=r.get("ci_low"),
                   ci_high=r.get("ci_high"), p=r.get("p")) for r in records], reasons


def reason_covers(prefix: str, id: str) -> bool:
    """Whether a reason's id ``prefix`` (``*`` matches one id part) names record ``id``."""
    want, got = prefix.split("/"), id.split("/")
    return len(got) >= len(want) and all(w in ("*", g) for w, g in zip(want, got))


def collect(data_dir: str | Path, defs: Definitions = DEFAULT, *, boot: int = 1000, seed: int = 1,
            cohort: Cohort | None = None, weighting: str = "normalised") -> list[Record]:
    """Build the cohort from ``data_dir`` (unless given) and gather every record, ids unique.
    ``weighting``: how the survey weights enter the mediation models of Tables 7 and 8."""
    cohort = cohort if cohort is not None else cohort_from_dir(data_dir, defs)
    records = cohort_records(cohort)
    for _name, make in _sections(defs, boot, seed, weighting):
        records.extend(make(cohort.adults))
    ids = [r["id"] for r in records]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise RuntimeError(f"results ids are not unique: {duplicated[:10]}")
    return [record(r["id"], r.get("estimate"), r.get("n"), ci_low=r.get("ci_low"),
                   ci_high=r.get("ci_high"), p=r.get("p")) for r in records]
