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
        "product": "neutrophil count × platelet count, (10⁹/L)², ln-transformed in models",
        "score": "published 0/1/2 score: neutrophils > 7.5 and platelets > 400 (10⁹/L), modelled untransformed",
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
        "who_600_met": "active if ≥ 600 MET-min/week from work, transport and recreation (WHO 2020)",
        "any_recreational": "active if any moderate or vigorous recreational activity (PAQ650/PAQ665 = 1)",
    },
    "random_glucose": {
        "ogtt_2h": "2-hour OGTT glucose ≥ 11.1 mmol/L counts as diabetes where measured (2011–2016)",
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
    "lean_mass": {
        "bone_free": "appendicular lean mass without bone mineral content (DXDLALE, DXDRALE, "
                     "DXDLLLE, DXDRLLE), the lean soft tissue of the FNIH definition",
        "with_bone": "appendicular lean mass including bone mineral content (DXXLALI, DXXRALI, "
                     "DXXLLLI, DXXRLLI), as some NHANES analyses sum it",
    },
    "lmm_definition": {
        "fnih_bmi": "FNIH: ASM/BMI < 0.789 (men), < 0.512 (women)",
        "height_baumgartner": "ASM/height² < 7.26 kg/m² (men), < 5.45 kg/m² (women): "
                              "Baumgartner et al. 1998, Am J Epidemiol 147:755-763",
    },
}


#: Candidate rules the paper may have applied at its covariate step (it excluded 3,079 of 8,872
#: there, about 35%; the Model 3 covariates alone exclude far fewer). Each requires one more
#: measurement to be present; none is a default. ``Definitions.covariate_rules`` selects any
#: set of them; :mod:`nhmg_lib.cohort.reconcile` counts what each one excludes.
COVARIATE_RULES: dict[str, str] = {
    "fasting_glucose": "fasting plasma glucose measured (LBXGLU; the morning fasting subsample)",
    "hba1c": "glycohaemoglobin measured (LBXGH)",
    "acr": "urine albumin-creatinine ratio measured (URDACT), as CKD needs it",
    "blood_pressure": "a measured systolic and diastolic pressure (not the questionnaire alone)",
    "hs_crp": "hs-CRP measured (LBXHSCRP) in the cycles that have it (2015-2018)",
    "indices": "every inflammatory index complete: CALLY (where hs-CRP exists), NP, PAR, RAR",
}
#: The file components each candidate rule reads.
RULE_COMPONENTS: dict[str, tuple[str, ...]] = {
    "fasting_glucose": ("GLU",), "hba1c": ("GHB",), "acr": ("ALB_CR",),
    "blood_pressure": ("BPX",), "hs_crp": ("HSCRP",), "indices": ("CBC", "BIOPRO", "HSCRP"),
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
    lean_mass: str = "bone_free"
    lmm_definition: str = "fnih_bmi"
    #: Candidate covariate rules (names of :data:`COVARIATE_RULES`), none by default. Not in
    #: ``OPTIONS``: they are hypotheses about the paper's flow, not analysis choices of the grid.
    covariate_rules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rules = self.covariate_rules
        if isinstance(rules, str):  # "acr+hba1c" as written on the command line or in flow.json
            rules = tuple(r for r in rules.replace(",", "+").split("+") if r)
        unknown = [r for r in rules if r not in COVARIATE_RULES]
        if unknown:
            raise ValueError(f"Definitions.covariate_rules: unknown rule(s) {unknown}; "
                             f"choose from {list(COVARIATE_RULES)}")
        # One canonical order, so equal rule sets give equal (and equally hashed) definitions.
        object.__setattr__(self, "covariate_rules", tuple(r for r in COVARIATE_RULES if r in rules))
        for f in fields(self):
            if f.name == "covariate_rules":
                continue
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
        """The fields as text; ``covariate_rules`` only when some are chosen ("a+b")."""
        out = asdict(self)
        rules = out.pop("covariate_rules")
        return {**out, "covariate_rules": "+".join(rules)} if rules else out

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
