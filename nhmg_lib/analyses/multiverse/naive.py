"""The reference path: the headline estimates of one specification the slow, obvious way,
with the chapter modules (tests compare the fast path to it)."""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from nhmg_lib.analyses import inflammation, mediation, models
from nhmg_lib.analyses.multiverse.grid import DEFAULT_SPEC, ESTIMATES, Estimate, definitions_of
from nhmg_lib.analyses.multiverse.plan import np_model
from nhmg_lib.analyses.multiverse.result import MEDIATION_BOOT, MEDIATION_SEED
from nhmg_lib.cohort import flow
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from nhmg_lib.errors import NhmgError

_MODEL = {"model3": 3, "model2": 2}


def naive_estimates(raw: pd.DataFrame, spec: Mapping[str, str | None],
                    estimates: Sequence[str] = tuple(ESTIMATES), *,
                    mediation_boot: int = MEDIATION_BOOT,
                    mediation_seed: int = MEDIATION_SEED) -> pd.DataFrame:
    """Build the cohort (:func:`nhmg_lib.cohort.flow.build_cohort`) and fit with
    :func:`nhmg_lib.analyses.models.fit_exposure_model`, the Table 5 fit of
    :mod:`nhmg_lib.analyses.inflammation` (then per SD of the NP column) and
    :func:`nhmg_lib.analyses.mediation.mediate` (refitting both models in each of
    ``mediation_boot`` row resamples) at the Q1 -> Q4 medians. Columns as
    :attr:`MultiverseResult.table` (estimate, value, ci_low, ci_high, p, n, coef, se, reason).
    A blank (None) dimension takes its default."""
    full = {**DEFAULT_SPEC, **{k: v for k, v in spec.items() if v is not None}}
    defs = definitions_of(full)
    model = _MODEL[full["covariates"]]
    try:
        adults = flow.build_cohort(raw, defs).adults
    except flow.CohortError as exc:
        return pd.DataFrame([{"estimate": e, "reason": str(exc)} for e in estimates])
    domain = "energy" if full["energy_exclusion"] == "yes" else "in_cohort"
    des = models.design_for(adults)
    rows = []
    for e in estimates:
        est = ESTIMATES[e]
        if est.mediation:
            rows.append(_mediation(adults, full, est, mediation_boot, mediation_seed) | {"estimate": e})
            continue
        sd = 1.0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if est.exposure == "np":
                    data = inflammation.with_index_columns(adults, defs, ["np"])
                    col, _ = inflammation.index_column("np", defs)
                    mask = inflammation.index_domain(data, "np", defs, domain)
                    fit = inflammation._fit(data, des, "lmm", [col], model, "quasibinomial", mask)
                    term = col
                    x = data.loc[fit.domain, col].to_numpy(float)
                    w = data.loc[fit.domain, "weight"].to_numpy(float)
                    sd = float(np.sqrt(np.average((x - np.average(x, weights=w)) ** 2, weights=w)))
                else:
                    expo = "quartiles" if est.exposure == "q4" else "ln_mg"
                    fit = models.fit_exposure_model(adults, est.outcome, expo, model, domain, design=des)
                    term = "mg_q[T.4]" if est.exposure == "q4" else "ln_mg"
        except NhmgError as exc:
            rows.append({"estimate": e, "reason": str(exc)})
            continue
        t = fit.tidy().set_index("term").loc[term]
        coef, se = float(fit.params[term]) * sd, float(fit.se[term]) * sd
        lo, hi = t.ci_low * sd, t.ci_high * sd
        tf = np.exp if est.ratio else (lambda v: v)
        rows.append({"estimate": e, "value": tf(coef), "ci_low": tf(lo), "ci_high": tf(hi),
                     "p": t.p, "n": fit.n, "coef": coef, "se": se,
                     "reason": None if fit.converged and not fit.separation else "no convergence"})
    return pd.DataFrame(rows)


def _mediation(adults: pd.DataFrame, spec: Mapping[str, str], est: Estimate, boot: int,
               seed: int) -> dict:
    cohort = adults[adults["in_cohort"] == 1]
    x = pd.to_numeric(cohort["ln_mg"], errors="coerce")
    q = pd.to_numeric(cohort["mg_q"], errors="coerce")
    a_star, a = float(x[q == 1].median()), float(x[q == 4].median())
    rows = cohort[models.energy_plausible(cohort).to_numpy()] if spec["energy_exclusion"] == "yes" else cohort
    mediator = np_model(pd.to_numeric(rows["np"], errors="coerce").to_numpy(dtype=float),
                        spec["np_index"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mediation.mediate(
                rows.assign(mv_mediator=mediator), "ln_mg", "mv_mediator", est.outcome,
                MODEL3_COVARIATES, "binomial" if est.outcome == "lmm" else "gaussian",
                boot=boot, seed=seed, cache=False, progress=False,
                weighting=spec["mediation_weighting"]).at(a, a_star)  # type: ignore[arg-type]
    except NhmgError as exc:
        return {"reason": str(exc)}
    return {"value": res.estimate["pm"], "ci_low": res.ci_low["pm"], "ci_high": res.ci_high["pm"],
            "p": res.p["pm"], "n": res.n, "coef": res.estimate["pm"], "se": np.nan, "reason": None}
