"""A cycle that vanishes at some step of the flow, and the variable that made it vanish.

A file or variable empty in one cycle (weights all missing, every day-1 recall unreliable, BMI
absent) removes that cycle from the cohort without any error of its own. After each step every
cycle should keep roughly the share the others keep; :func:`cycle_losses` lists each step
where a cycle keeps nobody, or less than half the share the other cycles keep, and names the
variable missing for most of those it lost there.
"""

from __future__ import annotations

import pandas as pd

#: The NHANES items behind the derived variables a step reads, for the messages.
ITEMS: dict[str, str] = {
    "age": "RIDAGEYR", "asm": "DXDLALE/DXDRALE/DXDLLLE/DXDRLLE (DXX..LI with lean_mass=with_bone)", "bmi": "BMXBMI",
    "ln_mg": "DR1TMAGN/DR2TMAGN with DR1DRSTZ = DR2DRSTZ = 1", "weight": "the dietary weight",
    "pir_cat": "INDFMPIR", "education": "DMDEDUC2", "smoking": "SMQ020", "drinking": "ALQ",
    "active": "PAQ", "energy": "DR1TKCAL/DR2TKCAL", "protein": "DR1TPROT/DR2TPROT",
    "diabetes": "DIQ010/LBXGLU/LBXGH", "hypertension": "BPQ020/BPXSY/BPXDI",
    "egfr": "LBXSCR", "vitd": "LBXVD3MS (LBXVIDMS with vitamin_d=total)", "np": "LBDNENO/LBXPLTSI", "par": "LBXPLTSI/LBDSALSI",
    "rar": "LBXRDW/LBDSALSI", "race": "RIDRETH1", "gender": "RIAGENDR",
}

#: A cycle keeping less than this fraction of the share the other cycles keep is flagged.
SHARE = 0.5
#: Cycles with fewer participants than this before a step are not judged at it.
MIN_BEFORE = 20


def cycle_losses(steps: list, lost: dict[str, pd.Series], causes: dict[str, dict[str, pd.Series]],
                 cycles: pd.Series) -> list[dict]:
    """Each (step, cycle) where the cycle keeps nobody or far less than its share.

    ``steps``: the flow (``FlowStep`` with ``by_cycle``); ``lost[key]``: who left at the step;
    ``causes[key]``: variable -> who lacks it; ``cycles``: each participant's cycle letter.
    Returns ``{"step", "cycle", "before", "after", "expected", "variable", "message"}``.
    """
    out = []
    for prev, step in zip(steps, steps[1:]):
        if step.key not in lost:
            continue
        for cyc, before in prev.by_cycle.items():
            after = step.by_cycle.get(cyc, 0)
            others_before = sum(v for c, v in prev.by_cycle.items() if c != cyc)
            others_after = sum(v for c, v in step.by_cycle.items() if c != cyc)
            if before < MIN_BEFORE or not others_before:
                continue
            expected = before * others_after / others_before
            if after > 0 and after >= SHARE * expected:
                continue
            gone = lost[step.key] & (cycles == cyc)
            counts = {v: int((gone & lacks).sum()) for v, lacks in causes[step.key].items()}
            variable = max(counts, key=counts.get) if counts else step.key
            items = f" ({ITEMS[variable]})" if variable in ITEMS else ""
            out.append({
                "step": step.key, "cycle": cyc, "before": int(before), "after": int(after),
                "expected": round(expected), "variable": variable,
                "message": (f"cycle {cyc} keeps {after:,} of {before:,} at the step '{step.label}' "
                            f"where the other cycles' share would keep about {round(expected):,}; "
                            f"{counts.get(variable, 0):,} of those it lost there lack {variable}{items}")})
    return out


__all__ = ["cycle_losses", "ITEMS", "SHARE", "MIN_BEFORE"]
