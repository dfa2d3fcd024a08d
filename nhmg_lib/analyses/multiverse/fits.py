"""The fits of one group (run in a worker): regression terms with their design-based SE and
influence totals, and proportions mediated with their bootstrap CI.

Regression (:func:`regression_task`): the batched R ``glm.fit`` of
:func:`nhmg_lib.survey.batched.glm_domains`, then for every fit at once the design-based SE
of the exposure coefficient (Taylor linearisation, :func:`nhmg_lib.survey.batched.psu_variance`,
tested against ``svyglm``) and the PSU totals of its influence function (the joint test's
input). The NP estimate is reported per SD of its model column (weighted SD in the domain).

Mediation (:func:`mediation_task`): the proportion mediated from the fits of both models
(closed forms of :func:`nhmg_lib.analyses.mediation.effects`, equal to
``mediate(...).at(a, a_star)``), and a row bootstrap for the CI and p that refits both models
in every resample, exactly as the mediation chapter does: the resamples are one matrix of
multinomial counts over every adults row (:func:`nhmg_lib.survey.bootstrap.row_counts`),
shared by all specifications, so two specifications differ only by their definitions.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nhmg_lib.analyses import mediation
from nhmg_lib.survey import batched
from nhmg_lib.survey.bootstrap import row_counts


def task(payload: dict) -> list[dict]:
    """One group's results, one dict per fit in the group's order."""
    if payload["kind"] == "mediation":
        return mediation_task(payload)
    return regression_task(payload)


def regression_task(payload: dict) -> list[dict]:
    X, y, mult, rows = payload["X"], payload["y"], payload["mult"], payload["rows"]
    ok_x = np.all(np.isfinite(X), axis=1) & np.isfinite(y)
    mult = np.where(ok_x[None, :], mult, 0.0)
    Xf, yf = np.where(ok_x[:, None], X, 0.0), np.where(ok_x, y, 0.0)
    p, j = X.shape[1], payload["j"]
    with np.errstate(all="ignore"):
        fit = batched.glm_domains(Xf, yf, mult, payload["family"])
        infl = fit.influence(j)
    coef = fit.coef(j)
    T, var, lonely, degf = batched.psu_variance(infl, payload["psu"][rows], payload["psu_stratum"],
                                                payload["psu_per_stratum"], mult > 0)
    n_used = (mult > 0).sum(axis=1)
    out: list[dict] = []
    for b in range(mult.shape[0]):
        if not fit.converged[b]:
            out.append({"reason": "no convergence (or separation / singular model)"})
        elif lonely[b]:
            out.append({"reason": "a stratum the domain reaches has a single PSU"})
        else:
            sd = 1.0
            if payload.get("per_sd", [False] * mult.shape[0])[b]:
                w, x = mult[b], Xf[:, j]
                m = np.average(x, weights=w)
                sd = float(np.sqrt(np.average((x - m) ** 2, weights=w)))
            out.append({"reason": None, "coef": float(coef[b]) * sd, "se": float(np.sqrt(var[b])) * sd,
                        "df": int(degf[b] + 1 - p), "n": int(n_used[b]), "totals": T[b] * sd})
    return out


_COUNTS: dict[tuple[int, int, int], np.ndarray] = {}


def _row_counts(n: int, boot: int, seed: int) -> np.ndarray:
    """Resampling counts over every adults row, drawn once per process and shared by every
    specification (:func:`nhmg_lib.survey.bootstrap.row_counts`)."""
    key = (n, boot, seed)
    if key not in _COUNTS:
        _COUNTS.clear()
        _COUNTS[key] = row_counts(n, boot, seed)
    return _COUNTS[key]


def mediation_data(A: np.ndarray, M: np.ndarray, C: np.ndarray, y: np.ndarray, w: np.ndarray,
                   numeric: np.ndarray, factors: Sequence[np.ndarray]) -> mediation._Data:
    """The rows of one fit as :mod:`nhmg_lib.analyses.mediation` fits them (its covariate
    profile needs each factor's full one-hot coding, the reference level included)."""
    onehots = [(cols, np.column_stack([1.0 - C[:, cols].sum(axis=1), C[:, cols]])) for cols in factors]
    return mediation._Data(A, M, y, w, C, np.asarray(numeric, dtype=int), onehots, None, None)


def mediation_task(p: dict) -> list[dict]:
    """Proportion mediated for every fit of one group: for each distinct weight vector, both
    models fitted to the whole sample and refitted to every resample (the batched fits of
    :func:`nhmg_lib.analyses.mediation._fit`, warm-started from the full fit), then the effects
    at each fit's contrast. Every fit uses the same resampling counts (module docstring)."""
    W, rows, family, boot = p["W"], p["rows"], p["family"], p["boot"]
    fitted: dict[bytes, Any] = {}
    out = []
    for b in range(W.shape[0]):
        key = W[b].tobytes()
        if key not in fitted:
            d = W[b] > 0
            data = mediation_data(p["A"][d], p["M"][d], p["C"][d], p["y"][d], W[b][d],
                                  p["numeric"], p["factors"])
            counts = _row_counts(p["n_bank"], boot, p["seed"])[:, rows[d]].astype(np.float64)
            with np.errstate(all="ignore"):
                full, bad, coef = mediation._fit(data, family, np.ones((1, data.n)), ("full",))
                if bad[0] or not np.all(np.isfinite(coef)):
                    fitted[key] = "no convergence (or separation / singular model)"
                else:
                    draws, failed, _ = mediation._fit(data, family, counts, ("boot",), start=coef[0])
                    fitted[key] = (full, draws, failed, data.n)
        fit = fitted[key]
        if isinstance(fit, str):
            out.append({"reason": fit})
            continue
        full, draws, failed, n = fit
        a_star, a = p["contrast"][b]
        normalise = p["weighting"][b] != "raw"
        with np.errstate(all="ignore"):
            est, lo, hi, pv, dr, _floor = mediation._summarise(
                full, draws, failed, family, a, a_star, 0.0, normalise, True)
        value = est["pm"]
        if not np.isfinite(value):
            out.append({"reason": "proportion mediated undefined (total effect 0)"})
            continue
        pm = dr[:, list(mediation.EFFECTS).index("pm")]
        pm = pm[np.isfinite(pm)]
        se = float(np.std(pm, ddof=1)) if pm.size > 1 else np.nan
        out.append({"reason": None, "coef": float(value), "se": se, "df": 0, "n": n,
                    "ci_low": lo["pm"], "ci_high": hi["pm"], "p": pv["pm"]})
    return out
