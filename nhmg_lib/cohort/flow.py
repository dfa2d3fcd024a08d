"""The analytic cohort: the paper's exclusion steps in order, their counts, and the frames.

Start from every DEMO participant of the pooled cycles, then exclude, in the paper's order,
(1) age < 20, (2) no ASM or BMI (DXA stops at 59, so this is where everyone aged 60+ leaves),
(3) no two reliable 24 h recalls, (4) incomplete covariates (``defs.covariates_required``) or
no positive analysis weight. ``Cohort.adults`` keeps every participant aged 20-59 with an
``in_cohort`` flag, because design-based estimates need the whole design, not a subset.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nhmg_lib.cohort.definitions import DEFAULT, MODEL3_COVARIATES, Definitions
from nhmg_lib.data.codes import UnexpectedCodeWarning
from nhmg_lib.errors import NhmgError
from nhmg_lib.data.readers import load_raw
from nhmg_lib.cohort.variables import EXTRA_COLUMNS, SPEC_COLUMNS, derive

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


#: Plausible ranges of the continuous raw items the cohort rests on (NHANES units). Ages are
#: top-coded at 80; the limits of intakes, lean mass and weights lie far beyond any real value,
#: so only impossible values (age 999, negative weights, Mg 1e9) are set to missing.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "RIDAGEYR": (0, 80),
    "BMXWT": (0.5, 400), "BMXHT": (40, 230), "BMXBMI": (8, 130),
    **{v: (0, 60_000) for v in ("DXDLALE", "DXDRALE", "DXDLLLE", "DXDRLLE")},  # grams per limb
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


def _flow(d: pd.DataFrame, defs: Definitions) -> tuple[list[FlowStep], pd.Series]:
    """Apply the exclusions in order; returns the steps and the final membership mask."""
    keep = pd.Series(True, index=d.index)
    steps = [FlowStep("start", "NHANES participants (DEMO)", 0, len(d))]

    def exclude(key: str, label: str, drop: pd.Series, **details: int) -> None:
        nonlocal keep
        gone = keep & drop
        keep = keep & ~drop
        steps.append(FlowStep(key, label, int(gone.sum()), int(keep.sum()), dict(details)))

    exclude("age", "Aged < 20 years", ~(d["age"] >= 20))
    # Over-59s have no whole-body DXA; excluding age > 59 here as well guarantees the 20-59
    # window even if a data source carried DXA values beyond it.
    no_muscle = d["smi"].isna() | (d["age"] > 59)
    exclude("asm_bmi", "Without ASM or BMI data", no_muscle,
            aged_60_plus=int((keep & no_muscle & (d["age"] >= 60)).sum()))
    exclude("diet", "Missing two days of reliable 24 h dietary recall", d["ln_mg"].isna())
    incomplete = d[list(required_covariates(defs))].isna().any(axis=1) | ~(d["weight"] > 0)
    exclude("covariates", "Lacking covariate data", incomplete)
    steps.append(FlowStep("final", "Final cohort, aged 20-59", 0, int(keep.sum())))
    return steps, keep


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
        rows = [{**{k: v for k, v in asdict(s).items() if k != "details"}, **s.details}
                for s in self.flow]
        return pd.DataFrame(rows)

    def flow_text(self) -> str:
        """Plain-text flow chart for the command line."""
        lines = [f"{self.flow[0].label}: {self.flow[0].n_remaining:,}"]
        for s in self.flow[1:-1]:
            extra = "".join(f", {v:,} {k.replace('_', ' ')}" for k, v in s.details.items())
            lines.append(f"  - {s.label}: {s.n_excluded:,} excluded{extra} -> {s.n_remaining:,}")
        lines.append(f"{self.flow[-1].label}: {self.final_n:,}")
        return "\n".join(lines)

    def to_csv(self, path: str | os.PathLike[str], all_adults: bool = False) -> list[Path]:
        """Write the cohort (or, with ``all_adults``, every adult 20-59 plus ``in_cohort``) in
        SPEC section 7 column order, extras last, and ``flow.json`` beside it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = self.adults if all_adults else self.frame
        spec = [c for c in SPEC_COLUMNS if c in frame.columns]
        cols = spec + (["in_cohort"] if all_adults else []) + [c for c in EXTRA_COLUMNS if c in frame]
        frame[cols].to_csv(path, index=False)
        flow_path = path.with_name("flow.json")
        flow_path.write_text(json.dumps({
            "steps": [asdict(s) for s in self.flow],
            "final_n": self.final_n,
            "definitions": self.defs.as_dict(),
            "plausibility": self.plausibility,
        }, indent=1) + "\n")
        return [path, flow_path]


def build_cohort(raw: pd.DataFrame, defs: Definitions = DEFAULT) -> Cohort:
    """Derive every variable from the raw frame and run the exclusion flow.

    Implausible raw values are set to missing first (:func:`screen`); what was found is in
    ``Cohort.plausibility`` and ``flow.json``.
    """
    raw, findings = screen(raw)
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
    steps, members = _flow(d, defs)
    d["mg_q"] = (_quartiles(d["ln_mg"], members) if members.any()
                 else pd.Series(pd.NA, index=d.index, dtype="Int64"))
    d["in_cohort"] = members.astype("int64")
    adults = d[(d["age"] >= 20) & (d["age"] <= 59)]
    order = [c for c in SPEC_COLUMNS if c in d] + ["in_cohort"] + list(EXTRA_COLUMNS)
    return Cohort(steps, adults[order].reset_index(drop=True), defs, findings)


def cohort_from_dir(data_dir: str | os.PathLike[str], defs: Definitions = DEFAULT,
                    **load_options: object) -> Cohort:
    """``build_cohort(load_raw(data_dir, **load_options), defs)``."""
    return build_cohort(load_raw(data_dir, **load_options), defs)  # type: ignore[arg-type]
