"""Every analytic choice the paper leaves open, as one frozen object with documented defaults.

The paper names its variables but not always the rule that builds them. Each such gap is a
field here; :mod:`nhmg_lib.cohort.variables` and :mod:`nhmg_lib.cohort.flow` read nothing else, so a
robustness run is ``Definitions(np_index="score")`` and nothing more. ``OPTIONS`` lists the
allowed values of every field, first value = default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

#: Allowed values per field; the first is the default. Docs for each value live here too.
OPTIONS: dict[str, dict[str, str]] = {
    "np_index": {
        "product": "neutrophil count x platelet count (10^9/L)^2, ln-transformed in models",
        "score": "published 0/1/2 score: neutrophils > 7.5 and platelets > 400 (10^9/L), modelled untransformed",
        "neutrophil_pct": "neutrophil percentage of white cells (LBXNEPCT), ln-transformed",
    },
    "magnesium": {
        "diet": "mean of day-1 and day-2 food magnesium (DR1TMAGN, DR2TMAGN)",
        "total": "diet plus supplement magnesium of each day (DS1TMAGN, DS2TMAGN), then the mean",
    },
    "egfr_equation": {
        "ckd_epi_2009": "CKD-EPI 2009 creatinine equation with the race term",
        "ckd_epi_2021": "CKD-EPI 2021 race-free creatinine equation",
    },
    "drinking": {
        "nhanes_lifetime_12": "never < 12 drinks in life; former 12+ but none in past year; current otherwise",
        "past_year_any": "current if any drink in past year, else former if ever drank 12+, else never",
    },
    "physical_activity": {
        "who_600_met": "active if >= 600 MET-min/week from work, transport and recreation (WHO 2020)",
        "any_recreational": "active if any moderate or vigorous recreational activity (PAQ650/PAQ665 = 1)",
    },
    "random_glucose": {
        "ogtt_2h": "2-hour OGTT glucose >= 11.1 mmol/L counts as diabetes where measured (2011-2016)",
        "none": "no random glucose criterion",
    },
    "race": {
        "ridreth1": "RIDRETH1, 5 levels (Mexican American and Other Hispanic separate)",
        "ridreth3": "RIDRETH3, 6 levels (adds Non-Hispanic Asian)",
    },
    "weight": {
        "wtdr2d": "dietary two-day weight WTDR2D / number of cycles",
        "wtdrd1": "dietary day-1 weight WTDRD1 / number of cycles",
        "wtmec2yr": "MEC exam weight WTMEC2YR / number of cycles",
    },
    "vitamin_d": {
        "d3": "serum 25(OH)D3, nmol/L (LBXVD3MS), the vitamin D the paper adjusts for",
        "total": "serum 25(OH)D2 + 25(OH)D3, nmol/L (LBXVIDMS)",
    },
    "covariates_required": {
        "model3_and_indices": "complete Model 3 covariates and the blood counts and albumin behind NP, PAR, RAR",
        "model3": "complete Model 3 covariates only",
    },
    "magnesium_energy": {
        "none": "magnesium intake as reported, mg/day (energy is a Model 3 covariate)",
        "residual": "residual method (Willett & Stampfer 1986): ln magnesium regressed on energy "
                    "among the 20-59-year-olds, residual added to the prediction at their mean energy",
        "per_1000kcal": "nutrient density: magnesium per 1,000 kcal of energy intake",
    },
    "lmm_definition": {
        "fnih_bmi": "FNIH: ASM/BMI < 0.789 (men), < 0.512 (women)",
        "height_baumgartner": "ASM/height^2 < 7.26 kg/m^2 (men), < 5.45 kg/m^2 (women): "
                              "Baumgartner et al. 1998, Am J Epidemiol 147:755-763",
    },
}


@dataclass(frozen=True)
class Definitions:
    """The analysis definitions. Defaults follow common NHANES practice (see ``OPTIONS``)."""

    np_index: str = "product"
    magnesium: str = "diet"
    egfr_equation: str = "ckd_epi_2009"
    drinking: str = "nhanes_lifetime_12"
    physical_activity: str = "who_600_met"
    random_glucose: str = "ogtt_2h"
    race: str = "ridreth1"
    weight: str = "wtdr2d"
    vitamin_d: str = "d3"
    covariates_required: str = "model3_and_indices"
    magnesium_energy: str = "none"
    lmm_definition: str = "fnih_bmi"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in OPTIONS[f.name]:
                raise ValueError(
                    f"Definitions.{f.name}={value!r} is not an option; "
                    f"choose one of {list(OPTIONS[f.name])}"
                )

    def with_(self, **changes: Any) -> "Definitions":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def changed_from_default(self) -> dict[str, str]:
        """Fields that differ from the defaults, for labelling robustness runs."""
        base = Definitions()
        return {k: v for k, v in self.as_dict().items() if getattr(base, k) != v}


DEFAULT = Definitions()

#: Model 3 adjustment set, as named in the cohort frame (SPEC section 7).
MODEL3_COVARIATES: tuple[str, ...] = (
    "age", "gender", "race", "pir_cat", "education", "smoking", "drinking", "active",
    "energy", "protein", "diabetes", "hypertension", "egfr", "vitd",
)
MODEL2_COVARIATES: tuple[str, ...] = ("age", "gender", "race")
