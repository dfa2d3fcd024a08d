"""How common the outcome is: the rare-outcome check of the logistic mediation (Table 7).

The natural effects of a logistic outcome model (:mod:`nhmg_lib.analyses.mediation`) are odds
ratios; read as the risk ratios the mediation formulas assume, they need a rare outcome
(VanderWeele & Vansteelandt 2010). Odds ratios are not collapsible: as the outcome becomes
common, the odds ratio drifts away from the risk ratio (further from 1), and the proportion
mediated computed from odds ratios drifts from the one on the risk-ratio scale. Whether LMM is
rare enough is a question of its prevalence, overall and in the groups where it is most
common, which :func:`prevalence` estimates from the survey design.

:func:`prevalence` gives the design-based (weighted, linearised SE) prevalence of ``outcome``
in the cohort, overall and by each of ``by``, with the cohort as a domain of the full design
(as R ``svyby(~lmm, ~race, subset(des, in_cohort == 1), svymean)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from nhmg_lib.analyses.models import design_for
from nhmg_lib.survey.descriptive import svymean

__all__ = ["prevalence", "RARE_BELOW"]

#: Prevalence below which an odds ratio is read as a risk ratio (the usual 10% rule of thumb).
RARE_BELOW = 0.10


def prevalence(adults: pd.DataFrame, outcome: str = "lmm",
               by: Sequence[str] = ("race", "gender")) -> pd.DataFrame:
    """Weighted prevalence of a 0/1 ``outcome`` in the cohort (``in_cohort == 1`` of the
    adults frame, as a domain of the NHANES design), overall and by each column of ``by``.

    One row per group, index ``(variable, level)`` (``("All", "")`` first), columns
    ``prevalence``, ``se``, ``ci_low``, ``ci_high`` (proportions, t on the design df),
    ``n`` (participants) and ``rare`` (prevalence below :data:`RARE_BELOW`).
    """
    design = design_for(adults)
    domain = adults["in_cohort"] == 1
    parts = [svymean(outcome, design, domain=domain).set_axis(pd.MultiIndex.from_tuples([("All", "")]))]
    for col in by:
        m = svymean(outcome, design, domain=domain, by=col)
        parts.append(m.set_axis(pd.MultiIndex.from_tuples([(col, str(lv)) for lv in m.index])))
    out = pd.concat(parts)[["mean", "se", "ci_low", "ci_high", "n"]]
    out = out.rename(columns={"mean": "prevalence"})
    out.index.names = ["variable", "level"]
    out["rare"] = out["prevalence"] < RARE_BELOW
    return out
