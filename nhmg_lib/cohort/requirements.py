"""Which NHANES files a cohort needs under given definitions, and which exclusion step needs each.

A cohort reads only the files its definitions use: supplement files only with
``magnesium="total"``, the OGTT only with ``random_glucose="ogtt_2h"``, the files of a candidate
covariate rule (:data:`nhmg_lib.cohort.definitions.COVARIATE_RULES`) only when it is chosen.
Each file belongs to the first step that reads it, so a folder that lacks, say, the DXA files
still decides the steps before the ASM step. ``exhibits`` are files no exclusion reads but the
cohort's columns for the tables do (CKD's urine albumin, CALLY's hs-CRP).
"""

from __future__ import annotations

from dataclasses import dataclass

from nhmg_lib.cohort.definitions import DEFAULT, RULE_COMPONENTS, Definitions
from nhmg_lib.data.catalog import AVAILABLE_IN, CYCLES, FileSpec

#: Exclusion steps in the order of :func:`nhmg_lib.cohort.flow.build_cohort`, then ``exhibits``.
STEPS: tuple[str, ...] = ("start", "age", "asm_bmi", "diet", "covariates", "exhibits")


@dataclass(frozen=True)
class Need:
    """One file component, the step that first reads it, and what it is read for."""

    component: str
    step: str
    reason: str


def needs(defs: Definitions = DEFAULT) -> list[Need]:
    """Every component ``defs`` needs, in step order, with the reason (naming the definition)."""
    out = [
        Need("DEMO", "start", "participants, age, design and demographics"),
        Need("DXX", "asm_bmi", f"appendicular lean mass (ASM, lean_mass={defs.lean_mass})"),
        Need("BMX", "asm_bmi", "BMI"),
        Need("DR1TOT", "diet", "day-1 recall and the dietary weights"),
        Need("DR2TOT", "diet", "day-2 recall"),
    ]
    if defs.magnesium == "total":
        out += [Need(c, "diet", "supplement magnesium (magnesium=total)")
                for c in ("DS1TOT", "DS2TOT")]
    required_cbc = defs.covariates_required == "model3_and_indices"
    out += [
        Need("SMQ", "covariates", "smoking"),
        Need("ALQ", "covariates", f"drinking (drinking={defs.drinking})"),
        Need("PAQ", "covariates", f"physical activity (physical_activity={defs.physical_activity})"),
        Need("DIQ", "covariates", "diabetes (questionnaire)"),
        Need("GHB", "covariates", "diabetes (HbA1c)"),
        Need("GLU", "covariates", "diabetes (fasting glucose)"),
        Need("BPX", "covariates", "hypertension (measured blood pressure)"),
        Need("BPQ", "covariates", "hypertension (questionnaire)"),
        Need("BIOPRO", "covariates", f"eGFR (egfr_equation={defs.egfr_equation}) and albumin"),
        Need("VID", "covariates", "25(OH)D"),
        Need("CBC", "covariates" if required_cbc else "exhibits",
             "blood counts of NP, PAR, RAR" + (" (covariates_required=model3_and_indices)"
                                              if required_cbc else "")),
    ]
    if defs.random_glucose == "ogtt_2h":
        out.append(Need("OGTT", "covariates", "diabetes (2-h glucose, random_glucose=ogtt_2h)"))
    for rule in defs.covariate_rules:
        out += [Need(c, "covariates", f"covariate rule {rule} (covariate_rules)")
                for c in RULE_COMPONENTS[rule]]
    out += [Need("ALB_CR", "exhibits", "CKD (urine albumin/creatinine ratio)"),
            Need("HSCRP", "exhibits", "CALLY (hs-CRP, 2015-2018)")]
    seen: set[str] = set()
    return [n for n in out if not (n.component in seen or seen.add(n.component))]


def needed_files(defs: Definitions = DEFAULT,
                 cycles: tuple[str, ...] = tuple(CYCLES)) -> list[tuple[FileSpec, Need]]:
    """The files of ``cycles`` that ``defs`` needs (components a cycle lacks are left out)."""
    return [(FileSpec(n.component, cy), n) for n in needs(defs) for cy in cycles
            if cy in AVAILABLE_IN.get(n.component, tuple(CYCLES))]


def first_blocked_step(missing: list[Need]) -> str | None:
    """The earliest step (of :data:`STEPS`) that a missing file keeps from being computed."""
    steps = {n.step for n in missing}
    return next((s for s in STEPS if s in steps), None)


__all__ = ["STEPS", "Need", "needs", "needed_files", "first_blocked_step"]
