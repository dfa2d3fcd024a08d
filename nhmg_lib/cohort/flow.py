"""The analytic cohort: the paper's exclusion steps in order, their counts, and the frames.

Start from every DEMO participant of the pooled cycles, then exclude, in the paper's order,
(1) age < 20, (2) no ASM or BMI (DXA stops at 59, so this is where everyone aged 60+ leaves),
(3) no two reliable 24 h recalls, (4) incomplete covariates (``defs.covariates_required``) or
no positive analysis weight. ``Cohort.adults`` keeps every participant aged 20-59 with an
``in_cohort`` flag, because design-based estimates need the whole design, not a subset.

A data folder may lack files: :func:`cohort_from_dir` reads only the files the definitions need
(:mod:`nhmg_lib.cohort.requirements`) and, with ``partial=True``, computes the steps the present
files decide and stops before the first step a missing file blocks (``Cohort.missing``).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nhmg_lib.cohort import candidates, requirements
from nhmg_lib.cohort.cycles import cycle_losses
from nhmg_lib.cohort.definitions import DEFAULT, MODEL3_COVARIATES, Definitions
from nhmg_lib.data.atomic import atomic_paths, atomic_write
from nhmg_lib.data.catalog import COLUMNS, CYCLE_COLUMNS, CYCLES
from nhmg_lib.data.codes import UnexpectedCodeWarning
from nhmg_lib.errors import NhmgError
from nhmg_lib.data.readers import MissingDataError, absent_files, load_raw
from nhmg_lib.cohort.variables import EXTRA_COLUMNS, LEAN_MASS_ITEMS, SPEC_COLUMNS, derive

#: Index columns behind NP, PAR and RAR required by ``covariates_required="model3_and_indices"``.
INDEX_COVARIATES: tuple[str, ...] = ("np", "par", "rar")


class CohortError(NhmgError):
    """The data yield no usable cohort (e.g. too few participants to form quartiles)."""


@dataclass(frozen=True)
class FlowStep:
    """One box of the flow chart: who left at this step and how many remain."""

    key: str
    label: str
    n_excluded: int
    n_remaining: int
    details: dict[str, int] = field(default_factory=dict)
    #: Participants remaining after this step, per cycle letter.
    by_cycle: dict[str, int] = field(default_factory=dict)


#: Plausible ranges of the continuous raw items the cohort rests on (NHANES units). Ages are
#: top-coded at 80; the limits of intakes, lean mass and weights lie far beyond any real value,
#: so only impossible values (age 999, negative weights, Mg 1e9) are set to missing.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "RIDAGEYR": (0, 80),
    "BMXWT": (0.5, 400), "BMXHT": (40, 230), "BMXBMI": (8, 130),
    **{v: (0, 60_000) for items in LEAN_MASS_ITEMS.values() for v in items},  # grams per limb
    "DR1TMAGN": (0, 20_000), "DR2TMAGN": (0, 20_000),  # mg/day
    "DS1TMAGN": (0, 20_000), "DS2TMAGN": (0, 20_000),
    "DR1TKCAL": (0, 30_000), "DR2TKCAL": (0, 30_000),
    "DR1TPROT": (0, 2_000), "DR2TPROT": (0, 2_000),
    **{v: (0, 5_000_000) for v in ("WTINT2YR", "WTMEC2YR", "WTDRD1", "WTDR2D")},
}

#: Items every cycle has; one entirely missing or entirely zero in a cycle drops the cycle
#: from the cohort without any error, so it is reported.
EVERY_CYCLE: tuple[str, ...] = (
    "RIDAGEYR", "SDMVPSU", "SDMVSTRA", "WTMEC2YR", "WTDR2D", "DXDLALE", "DXDRALE", "DXDLLLE",
    "DXDRLLE", "BMXBMI", "DR1TMAGN", "DR2TMAGN", "DR1DRSTZ", "DR2DRSTZ")


def screen(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Implausible raw values set to missing, and what was found.

    Returns a copy of ``raw`` with values outside :data:`PLAUSIBLE` set to NaN, and one
    finding per (item, cycle): ``{"kind", "column", "cycle", "n", "message"}`` with ``kind``
    ``out_of_range`` (``n`` values set to missing), ``all_missing`` or ``all_zero`` (``n``
    participants of the cycle).
    """
    raw = raw.copy()
    findings: list[dict] = []
    cycles = raw["cycle"].astype(str) if "cycle" in raw else pd.Series("?", index=raw.index)
    for var, (lo, hi) in PLAUSIBLE.items():
        if var not in raw:
            continue
        values = raw[var].astype("float64")
        bad = values.notna() & ~values.between(lo, hi)
        for cyc in sorted(cycles[bad].unique()):
            hit = bad & (cycles == cyc)
            shown = ", ".join(f"{v:g}" for v in sorted(values[hit].unique())[:5])
            findings.append({
                "kind": "out_of_range", "column": var, "cycle": cyc, "n": int(hit.sum()),
                "message": f"{var} in cycle {cyc}: {int(hit.sum()):,} value(s) outside "
                           f"{lo:g}-{hi:g} ({shown}) set to missing"})
        raw.loc[bad, var] = np.nan
    for var in EVERY_CYCLE:
        if var not in raw:
            continue
        for cyc in sorted(cycles.unique()):
            values = raw.loc[cycles == cyc, var]
            kind = ("all_missing" if values.isna().all() else
                    "all_zero" if values.fillna(0).eq(0).all() else None)
            if kind:
                what = "missing" if kind == "all_missing" else "zero or missing"
                findings.append({
                    "kind": kind, "column": var, "cycle": cyc, "n": int(len(values)),
                    "message": f"{var} in cycle {cyc}: {what} for all {len(values):,} "
                               "participants (the cycle cannot contribute; check its file)"})
    return raw, findings


def required_covariates(defs: Definitions = DEFAULT) -> tuple[str, ...]:
    """Columns that must be complete in step 4 under ``defs.covariates_required``."""
    extra = INDEX_COVARIATES if defs.covariates_required == "model3_and_indices" else ()
    return (*MODEL3_COVARIATES, *extra)


@dataclass
class _Run:
    """What :func:`_flow` found: the steps, the final members, and per step who left and why."""

    steps: list[FlowStep]
    members: pd.Series
    lost: dict[str, pd.Series]
    causes: dict[str, dict[str, pd.Series]]
    cycles: pd.Series


def _flow(d: pd.DataFrame, defs: Definitions, rules: dict[str, pd.Series] | None = None,
          stop: str | None = None) -> _Run:
    """Apply the exclusions in order.

    ``rules`` marks who each chosen candidate covariate rule excludes (step 4); ``stop`` is the
    first step that cannot be computed (a file it needs is missing): the flow ends before it.
    """
    keep = pd.Series(True, index=d.index)
    letters = {f"{a}-{b}": c for c, (a, b) in CYCLES.items()}
    cycles = d["cycle"].astype(str).map(letters).fillna("?")
    lost: dict[str, pd.Series] = {}
    causes: dict[str, dict[str, pd.Series]] = {}

    def per_cycle() -> dict[str, int]:
        return {c: int((keep & (cycles == c)).sum()) for c in sorted(cycles.unique())}

    steps = [FlowStep("start", "NHANES participants (DEMO)", 0, len(d), by_cycle=per_cycle())]

    def exclude(key: str, label: str, why: dict[str, pd.Series], drop: pd.Series | None = None,
                **details: int) -> bool:
        nonlocal keep
        if stop is not None and requirements.STEPS.index(key) >= requirements.STEPS.index(stop):
            return False
        if drop is None:
            drop = pd.concat(why.values(), axis=1).any(axis=1)
        lost[key], causes[key] = keep & drop, why
        keep = keep & ~drop
        steps.append(FlowStep(key, label, int(lost[key].sum()), int(keep.sum()), dict(details),
                              per_cycle()))
        return True

    exclude("age", "Aged < 20 years", {"age": ~(d["age"] >= 20)})
    # Over-59s have no whole-body DXA; excluding age > 59 here as well guarantees the 20-59
    # window even if a data source carried DXA values beyond it.
    no_muscle = d["smi"].isna() | (d["age"] > 59)
    exclude("asm_bmi", "Without ASM or BMI data", {"asm": d["asm"].isna(), "bmi": d["bmi"].isna()},
            no_muscle, aged_60_plus=int((keep & no_muscle & (d["age"] >= 60)).sum()))
    exclude("diet", "Missing two days of reliable 24 h dietary recall", {"ln_mg": d["ln_mg"].isna()})
    why = {c: d[c].isna() for c in required_covariates(defs)}
    why["weight"] = ~(d["weight"] > 0)
    why.update({f"rule {r}": lacks for r, lacks in (rules or {}).items()})
    if exclude("covariates", "Lacking covariate data", why):
        steps.append(FlowStep("final", "Final cohort, aged 20-59", 0, int(keep.sum()),
                              by_cycle=per_cycle()))
    else:
        keep = pd.Series(False, index=d.index)  # no cohort without every step
    return _Run(steps, keep, lost, causes, cycles)


def rule_exclusions(raw: pd.DataFrame, d: pd.DataFrame, defs: Definitions) -> dict[str, pd.Series]:
    """Who each chosen candidate covariate rule (``defs.covariate_rules``) excludes."""
    return {rule: candidates.lacks(rule, raw, d) for rule in defs.covariate_rules}


def _quartiles(ln_mg: pd.Series, members: pd.Series) -> pd.Series:
    """Cohort quartiles of ln_mg (1-4); the same cut-points are applied to every adult with an
    intake so domain analyses on ``adults`` see a defined quartile outside the cohort too."""
    try:
        _, edges = pd.qcut(ln_mg[members], 4, retbins=True)
    except ValueError:  # fewer distinct intakes than quartile edges
        raise CohortError(
            f"Cannot form magnesium quartiles: the final cohort of {int(members.sum())} has only "
            f"{ln_mg[members].nunique()} distinct ln_mg values. Check the data directory (a "
            f"synthetic set needs --scale large enough) or the definitions."
        ) from None
    edges[0], edges[-1] = -np.inf, np.inf
    return (pd.cut(ln_mg, edges, labels=False) + 1).astype("Int64")


@dataclass
class Cohort:
    """Result of :func:`build_cohort`: ``flow`` steps, ``adults`` (20-59, flagged) and ``frame``."""

    flow: list[FlowStep]
    adults: pd.DataFrame
    defs: Definitions = DEFAULT
    #: Implausible values set to missing and empty columns (:func:`screen`), plus values
    #: outside an item's documented codes (kind ``unexpected_code``).
    plausibility: list[dict] = field(default_factory=list)
    #: Files the definitions need that the folder lacks: ``{"file", "step", "needed_for"}``.
    #: Non-empty means the flow stops before ``step`` of the first one and there is no cohort.
    missing: list[dict] = field(default_factory=list)
    #: Steps where a cycle keeps nobody or far less than its share
    #: (:func:`nhmg_lib.cohort.cycles.cycle_losses`).
    cycle_losses: list[dict] = field(default_factory=list)

    def check_cycles(self) -> None:
        """Raise :class:`CohortError` naming each step and variable where a cycle vanished."""
        if self.cycle_losses:
            raise CohortError(
                "A cycle contributes far less than its share: "
                + "; ".join(x["message"] for x in self.cycle_losses)
                + ". Check that cycle's files (`nhmg verify`); to go on without it, ask for it "
                "explicitly (--allow-cycle-loss).")

    @property
    def complete(self) -> bool:
        """True when every step was computed (no needed file was missing)."""
        return not self.missing

    @property
    def frame(self) -> pd.DataFrame:
        """The analytic cohort: complete rows, ``mg_q``/``lmm`` as plain integers."""
        f = self.adults[self.adults["in_cohort"] == 1].drop(columns="in_cohort")
        return f.astype({"mg_q": "int64", "lmm": "int64"}).reset_index(drop=True)

    @property
    def final_n(self) -> int:
        return self.flow[-1].n_remaining

    def flow_frame(self) -> pd.DataFrame:
        """The flow as a table (key, label, n_excluded, n_remaining, aged_60_plus)."""
        rows = [{**{k: v for k, v in asdict(s).items() if k not in ("details", "by_cycle")},
                 **s.details} for s in self.flow]
        return pd.DataFrame(rows)

    def cycle_flow(self) -> pd.DataFrame:
        """Participants remaining after each step (rows, by key) in each cycle (columns)."""
        return pd.DataFrame({s.key: s.by_cycle for s in self.flow}).T.fillna(0).astype("int64")

    def flow_text(self, paper: dict[str, tuple[int | None, int]] | None = None) -> str:
        """Plain-text flow chart for the command line: each step's count, the remaining count
        per cycle, and, given ``paper`` (step key -> (excluded, remaining)), the paper's."""
        def beside(key: str, excluded: bool) -> str:
            if not paper or key not in paper or paper[key][0 if excluded else 1] is None:
                return ""
            return f" (paper: {paper[key][0 if excluded else 1]:,})"

        def cycles(s: FlowStep) -> str:
            return ("  [" + ", ".join(f"{c} {n:,}" for c, n in s.by_cycle.items()) + "]"
                    if s.by_cycle else "")

        first = self.flow[0]
        lines = [f"{first.label}: {first.n_remaining:,}{beside('start', False)}{cycles(first)}"]
        last = self.flow[-1] if self.flow[-1].key == "final" else None
        for s in self.flow[1:-1] if last else self.flow[1:]:
            extra = "".join(f", {v:,} {k.replace('_', ' ')}" for k, v in s.details.items())
            lines.append(f"  - {s.label}: {s.n_excluded:,} excluded{beside(s.key, True)}{extra}"
                         f" -> {s.n_remaining:,}{beside(s.key, False)}{cycles(s)}")
        if last:
            lines.append(f"{last.label}: {self.final_n:,}{beside('final', False)}{cycles(last)}")
        else:
            lines.append(f"Not computed from {self.missing[0]['step']} on: "
                         f"{len(self.missing)} needed file(s) missing.")
        return "\n".join(lines)

    def missing_text(self) -> str:
        """One line per missing file and what needs it."""
        return "\n".join(f"  {m['file']}: {m['needed_for']} (step {m['step']})"
                         for m in self.missing)

    def flow_record(self) -> dict:
        """What flow.json holds: the steps (with per-cycle counts), final size, definitions,
        plausibility findings and the missing files."""
        return {
            "steps": [asdict(s) for s in self.flow],
            "final_n": self.final_n if self.complete else None,
            "definitions": self.defs.as_dict(),
            "plausibility": self.plausibility,
            "missing_files": self.missing,
            "cycle_losses": self.cycle_losses,
        }

    def write_flow(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`flow_record` as JSON to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            f.write(json.dumps(self.flow_record(), indent=1) + "\n")
        return path

    def to_csv(self, path: str | os.PathLike[str], all_adults: bool = False) -> list[Path]:
        """Write the cohort (or, with ``all_adults``, every adult 20-59 plus ``in_cohort``) in
        SPEC section 7 column order, extras last, and ``flow.json`` beside it."""
        path = Path(path)
        frame = self.adults if all_adults else self.frame
        spec = [c for c in SPEC_COLUMNS if c in frame.columns]
        cols = spec + (["in_cohort"] if all_adults else []) + [c for c in EXTRA_COLUMNS if c in frame]
        flow_path = path.with_name("flow.json")
        # Both written to temporary files first: a failure leaves both previous files as they were.
        with atomic_paths(path, flow_path) as (tmp, flow_tmp):
            frame[cols].to_csv(tmp, index=False)
            flow_tmp.write_text(json.dumps(self.flow_record(), indent=1) + "\n")
        return [path, flow_path]


def _component_columns(component: str) -> set[str]:
    return {*COLUMNS[component], *(c for (k, _), v in CYCLE_COLUMNS.items() if k == component for c in v)}


def build_cohort(raw: pd.DataFrame, defs: Definitions = DEFAULT,
                 missing: list[tuple[str, requirements.Need]] | None = None) -> Cohort:
    """Derive every variable from the raw frame and run the exclusion flow.

    Implausible raw values are set to missing first (:func:`screen`); what was found is in
    ``Cohort.plausibility`` and ``flow.json``. ``missing`` lists (file name, need) of files the
    definitions need that were not read: the flow stops before the first step they block.
    """
    missing = list(missing or [])
    raw, findings = screen(raw)
    absent = {(n.component, name.rsplit(".", 1)[0].rsplit("_", 1)[1].upper())
              for name, n in missing}
    findings = [f for f in findings  # an absent file is reported as missing, not as empty
                if not (f["kind"] == "all_missing" and any(
                    cy == f["cycle"] and f["column"] in _component_columns(comp)
                    for comp, cy in absent))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = derive(raw, defs)
    for w in caught:  # passed on unchanged; unexpected codes also go to the report
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if issubclass(w.category, UnexpectedCodeWarning):
            text = str(w.message)
            count = text.split(": ", 1)[-1].split(" ", 1)[0]
            findings.append({"kind": "unexpected_code", "column": text.split(":", 1)[0],
                             "cycle": None, "n": int(count) if count.isdigit() else None,
                             "message": text})
    stop = requirements.first_blocked_step([n for _, n in missing])
    run = _flow(d, defs, rule_exclusions(raw, d, defs), stop)
    steps, members = run.steps, run.members
    losses = cycle_losses(steps, run.lost, run.causes, run.cycles)
    d["mg_q"] = (_quartiles(d["ln_mg"], members) if members.any()
                 else pd.Series(pd.NA, index=d.index, dtype="Int64"))
    d["in_cohort"] = members.astype("int64")
    adults = d[(d["age"] >= 20) & (d["age"] <= 59)]
    order = [c for c in SPEC_COLUMNS if c in d] + ["in_cohort"] + list(EXTRA_COLUMNS)
    gaps = [{"file": f, "step": n.step, "needed_for": n.reason} for f, n in missing]
    return Cohort(steps, adults[order].reset_index(drop=True), defs, findings, gaps, losses)


def cohort_from_dir(data_dir: str | os.PathLike[str], defs: Definitions = DEFAULT,
                    partial: bool = False, **load_options: object) -> Cohort:
    """The cohort of the files in ``data_dir``, reading only the files ``defs`` needs.

    A needed file that is missing is an error naming it and what needs it; with ``partial``
    the cohort is built as far as the present files allow (``Cohort.missing`` names the rest).
    """
    cycles = tuple(load_options.pop("cycles", tuple(CYCLES)))  # type: ignore[arg-type]
    needed = requirements.needed_files(defs, cycles)
    gone = set(absent_files(data_dir, [f for f, _ in needed])) if Path(data_dir).is_dir() else set()
    missing = [(f.filename, n) for f, n in needed if f in gone]
    if missing and not partial:
        lines = "; ".join(f"{f} ({n.reason})" for f, n in missing)
        raise MissingDataError(
            f"The NHANES data directory {data_dir} lacks {len(missing)} file(s) that the chosen "
            f"definitions need: {lines}. Run `nhmg download --data-dir DIR` to fetch them, or "
            "change the definition that needs them (--set).")
    components = sorted({n.component for _, n in needed})
    raw = load_raw(data_dir, cycles, components=components, missing_ok=bool(missing),
                   **load_options)  # type: ignore[arg-type]
    return build_cohort(raw, defs, missing)
