"""The grid of the multiverse: its dimensions, its estimates, and the specifications.

:data:`GRID` = :data:`nhmg_lib.cohort.definitions.OPTIONS` (a new definition joins by
itself) + :data:`ANALYSIS_GRID`; the first value of each dimension is the book's default.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from nhmg_lib.analyses import mediation, models
from nhmg_lib.cohort.definitions import MODEL2_COVARIATES, MODEL3_COVARIATES, OPTIONS, Definitions
from nhmg_lib.errors import NhmgError

#: Analysis choices that are not definitions; first value = the book's default.
ANALYSIS_GRID: dict[str, dict[str, str]] = {
    "energy_exclusion": {
        "no": "every cohort member (Tables 2, 3, 5)",
        "yes": "cohort members with plausible energy intake only (men 800-4200, women "
               "500-3500 kcal/day; the rule of Tables S1/S2)",
    },
    "covariates": {
        "model3": "Model 3: age, gender, race, PIR, education, smoking, drinking, activity, "
                  "energy, protein, diabetes, hypertension, eGFR, vitamin D",
        "model2": "Model 2: age, gender, race",
    },
    # The "raw" weighting is a scale artefact (sigma^2 on the scale of the NHANES weights), not
    # a defensible choice: the robustness chapter shows it, the curve leaves it out.
    "mediation_weighting": {k: v for k, v in mediation.WEIGHTINGS.items() if k != "raw"},
}
#: Every dimension of the multiverse; first value of each = the book's default.
GRID: dict[str, dict[str, str]] = {**OPTIONS, **ANALYSIS_GRID}
COVARIATE_SETS: dict[str, tuple[str, ...]] = {"model3": MODEL3_COVARIATES, "model2": MODEL2_COVARIATES}

#: Choices whose other values are not equally defensible: specifications using them form a
#: panel of their own, shown beside the curve and left out of its summary and joint test.
PANELS: dict[str, str] = {
    "weight": "NCHS prescribes the dietary two-day weight (WTDR2D) for estimates from the mean "
              "of the two 24-hour recalls, which every magnesium exposure here is; the day-1 "
              "and MEC weights describe other samples",
    "lean_mass": "the FNIH and Baumgartner cut-offs were derived on appendicular lean soft tissue "
                 "without bone mineral; with bone the same cut-offs call fewer people low muscle "
                 "mass, so lean mass with bone is a check of the measure, not an equal alternative",
}

#: Dimensions named for the multiverse that are not in the grid, with the reason; naming one is
#: a clear error. Adding one means: its values in ANALYSIS_GRID (or OPTIONS) and a fit that
#: reads it (plan.py).
PLANNED_DIMENSIONS: dict[str, str] = {
    "mediation_contrast": "the mediation estimates use the contrast the book recommends (Q1 median "
                          "-> Q4 median of ln-Mg, book/mediation.md); the contrast is not a grid "
                          "dimension",
    "interaction_coding": "the coding of the subgroup interaction tests changes no headline "
                          "estimate (only the P for interaction of Figures 3/S1), so it is left "
                          "out of the grid",
    "spline_knots": "3/4/5 knots, only meaningful once a spline estimate is in ESTIMATES",
}

#: The book's default specification.
DEFAULT_SPEC: dict[str, str] = {k: next(iter(v)) for k, v in GRID.items()}
ALPHA = 0.05


class MultiverseError(NhmgError, ValueError):
    """The multiverse cannot be run as asked."""


class UnknownOptionError(MultiverseError):
    """A dimension or value that the grid does not have."""


class EmptyGridError(MultiverseError):
    """A grid with no specification (a dimension restricted to nothing)."""


@dataclass(frozen=True)
class Estimate:
    """One headline estimate: its model and where the default's value is in results.json."""

    label: str
    outcome: str            #: ``lmm`` or ``ln_smi``
    exposure: str           #: ``ln_mg``, ``q4`` (C(mg_q), Q4 vs Q1), ``np`` or ``mediation``
    results_id: str         #: the record of the default specification in results.json
    ratio: bool             #: reported as exp(coefficient)
    #: published record whose sign is the paper's direction when the paper has no value for
    #: ``results_id`` (another contrast or scale)
    sign_id: str | None = None

    @property
    def family(self) -> str:
        return models.OUTCOMES[self.outcome]

    @property
    def mediation(self) -> bool:
        """A proportion mediated, not a regression term."""
        return self.exposure == "mediation"


ESTIMATES: dict[str, Estimate] = {
    "or_lnmg": Estimate("LMM per 1 ln mg/day (OR)", "lmm", "ln_mg", "table2/model3/ln_mg", True),
    "or_q4": Estimate("LMM, Q4 vs Q1 (OR)", "lmm", "q4", "table2/model3/q4", True),
    "beta_lnmg": Estimate("ln SMI per 1 ln mg/day (β)", "ln_smi", "ln_mg", "table3/model3/ln_mg", False),
    # Per SD of the NP model column: ln NP product, the 0/1/2 score and ln neutrophil % are on
    # different scales, so a curve of per-unit ORs would pool incomparable numbers.
    "or_np": Estimate("LMM per SD of NP (OR)", "lmm", "np", "table5/np/model3/per_sd", True,
                      "table5/np/model3/ln_index"),
    "pm_np_lmm": Estimate("LMM: proportion mediated by NP, Q1→Q4", "lmm", "mediation",
                          "table7/np/q1q4/pm", False, "table7/np/pm"),
    "pm_np_smi": Estimate("ln SMI: proportion mediated by NP, Q1→Q4", "ln_smi", "mediation",
                          "table8/np/q1q4/pm", False, "table8/np/pm"),
}
#: Dimensions held at their default for the proportions mediated: each multiplies the exact
#: and bootstrap fits of the mediation models beyond the run's time budget (the weight is a
#: panel of the regression estimates only, for the same reason).
MEDIATION_FIXED: tuple[str, ...] = ("magnesium_energy", "lmm_definition", "lean_mass", "covariates",
                                    "vitamin_d", "weight")


def mediation_fixed(vary: Sequence[str] = ()) -> tuple[str, ...]:
    """:data:`MEDIATION_FIXED` without the dimensions named in ``vary`` (``["covariates",
    "vitamin_d"]``, ``["covariates,vitamin_d"]`` or ``["all"]``, as on the command line)."""
    names = [n.strip() for item in vary for n in item.split(",") if n.strip()]
    if "all" in names:
        return ()
    bad = [n for n in names if n not in MEDIATION_FIXED]
    if bad:
        raise UnknownOptionError(f"--vary-mediation {','.join(bad)}: the proportions mediated hold "
                                 f"only {', '.join(MEDIATION_FIXED)} at their default (or say 'all')")
    return tuple(d for d in MEDIATION_FIXED if d not in names)


def parse_settings(pairs: Sequence[str]) -> dict[str, list[str]]:
    """``["np_index=product,score", "energy_exclusion=all"]`` -> ``{dimension: values}``."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep:
            raise UnknownOptionError(f"--set {pair!r}: expected DIMENSION=VALUE[,VALUE...]")
        out[key] = [v.strip() for v in value.split(",") if v.strip()]
    return out


def grid(settings: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """The full grid with some dimensions restricted (``all`` = every value of a dimension)."""
    out = {k: tuple(v) for k, v in GRID.items()}
    for key, values in (settings or {}).items():
        if key in PLANNED_DIMENSIONS:
            raise UnknownOptionError(
                f"dimension {key!r} is planned or left out, not in the grid: {PLANNED_DIMENSIONS[key]}")
        if key == "mediation_weighting" and "raw" in values:
            raise UnknownOptionError("mediation_weighting 'raw' is left out of the multiverse: it is "
                                     "a scale artefact, shown in the robustness chapter")
        if key not in GRID:
            raise UnknownOptionError(f"unknown dimension {key!r}; the grid has {list(GRID)}")
        values = list(values)
        if values == ["all"]:
            values = list(GRID[key])
        bad = [v for v in values if v not in GRID[key]]
        if bad:
            raise UnknownOptionError(f"{key}: unknown value(s) {bad}; choose from {list(GRID[key])}")
        if not values:
            raise EmptyGridError(f"dimension {key!r} restricted to no value: the grid is empty")
        out[key] = tuple(dict.fromkeys(values))
    return out


def specifications(g: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """The full factorial of ``g``, one row per specification (index ``spec``, 0..S-1)."""
    dims = list(g)
    if any(len(g[d]) == 0 for d in dims):
        raise EmptyGridError("a dimension of the grid has no value: no specification to run")
    rows = list(itertools.product(*(g[d] for d in dims)))
    frame = pd.DataFrame(rows, columns=dims)
    frame.index.name = "spec"
    return frame


def default_spec_id(specs: pd.DataFrame) -> int | None:
    """Index of the book's default specification in ``specs`` (None when restricted away)."""
    hit = np.ones(len(specs), dtype=bool)
    for d in specs.columns:
        hit &= specs[d].to_numpy() == DEFAULT_SPEC[d]
    idx = np.flatnonzero(hit)
    return int(specs.index[idx[0]]) if idx.size else None


def definitions_of(spec: Mapping[str, str]) -> Definitions:
    return Definitions(**{k: spec[k] for k in OPTIONS})


def panel_of(spec: Mapping[str, str]) -> str:
    """``main``, or the :data:`PANELS` dimension whose non-default value the spec uses."""
    for d in PANELS:
        if d in spec and spec[d] not in (None, DEFAULT_SPEC[d]):
            return d
    return "main"
