"""The fits of one group (run in a worker): regression terms with their design-based SE and
influence totals, and proportions mediated with their bootstrap CI.

Regression (:func:`regression_task`): the batched R ``glm.fit`` of
:func:`nhmg_lib.survey.batched.glm_domains`, then for every fit at once the design-based SE
of the exposure coefficient (Taylor linearisation, :func:`nhmg_lib.survey.batched.psu_variance`,
tested against ``svyglm``) and the PSU totals of its influence function (the joint test's
input). The NP estimate is reported per SD of its model column (weighted SD in the domain).

Mediation (:func:`mediation_task`): the proportion mediated from the exact fits of both
models (closed forms of :func:`nhmg_lib.analyses.mediation.effects`, equal to
``mediate(...).at(a, a_star)``), and a *linearised* row bootstrap for the CI and p: each
fit's effect inputs (t1, t2, t3, b0 + b2'c, b1, sigma^2, mean weight) are moved by
``sum_i (f_i - 1) IF_i`` with ``f`` one matrix of multinomial counts over every adults row
(:func:`nhmg_lib.survey.bootstrap.row_counts`), shared by all specifications, and the closed
forms are applied to the moved inputs.
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


def mediation_inputs(A: np.ndarray, M: np.ndarray, C: np.ndarray, y: np.ndarray, w: np.ndarray,
                     numeric: np.ndarray, factors: Sequence[np.ndarray], family: str
                     ) -> tuple[dict[str, float], np.ndarray] | str:
    """The effect inputs of :func:`nhmg_lib.analyses.mediation.effects` on one sample (rows
    with prior weight ``w``) and their influence functions (n x 7: t1, t2, t3, b0 + b2'c, b1,
    s2raw, wbar), or the reason the fit failed. ``b0 + b2'c`` is kept as one quantity (the
    dummy coding then does not matter); ``c``: unweighted means and modes, as ``mediator``."""
    n = A.size
    Xm = np.column_stack([np.ones(n), A, C])
    Xo = np.column_stack([np.ones(n), A, M, A * M, C])
    try:
        b, Gm = batched.wls_one(Xm, M, w)
        if family == "binomial":
            t, Go, mu = batched.logistic_one(Xo, y, w)
        else:
            t, Go = batched.wls_one(Xo, y, w)
            mu = Xo @ t
    except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
        return f"no convergence (or separation / singular model): {exc}"
    q = Xm.shape[1]
    c = np.zeros(C.shape[1])
    c[numeric] = C[:, numeric].mean(axis=0)
    for cols in factors:
        counts = np.concatenate([[n - C[:, cols].sum()], C[:, cols].sum(axis=0)])
        mode = int(np.argmax(counts))             # first of tied levels wins
        c[cols] = mode == np.arange(1, cols.size + 1)
    v = np.concatenate([[1.0, 0.0], c])
    r = M - Xm @ b
    s2raw = float((w * r * r).sum() / (n - q))    # R sigma(lm)^2
    wbar = float(w.mean())
    if_b = (Xm * (w * r)[:, None]) @ Gm
    if_t = (Xo * (w * (y - mu))[:, None]) @ Go[:, 1:4]
    if_c = np.zeros_like(C)
    if_c[:, numeric] = (C[:, numeric] - c[numeric]) / n
    K = np.column_stack([if_t, if_b @ v + if_c @ b[2:], if_b[:, 1],
                         (w * r * r - s2raw) / (n - q), (w - wbar) / n])
    params = {"t1": t[1], "t2": t[2], "t3": t[3], "b0": float(v @ b), "b1": b[1], "bc": 0.0,
              "s2raw": s2raw, "wbar": wbar}
    return params, K


def mediation_task(p: dict) -> list[dict]:
    """Proportion mediated for every fit of one group: the exact fit of both models for each
    distinct weight vector, the effects at the fit's contrast, and the linearised bootstrap
    (module docstring): every fit's resampled inputs come from one product of the shared
    resampling counts with the stacked influence functions."""
    W, rows, family, boot = p["W"], p["rows"], p["family"], p["boot"]
    names = ("t1", "t2", "t3", "b0", "b1", "s2raw", "wbar")
    fits: dict[bytes, Any] = {}
    member_fit: list[bytes] = []
    stacked: list[np.ndarray] = []
    for b in range(W.shape[0]):
        key = W[b].tobytes()
        member_fit.append(key)
        if key in fits:
            continue
        d = W[b] > 0
        with np.errstate(all="ignore"):
            fit = mediation_inputs(p["A"][d], p["M"][d], p["C"][d], p["y"][d], W[b][d],
                                   p["numeric"], p["factors"], family)
        if isinstance(fit, str):
            fits[key] = fit
            continue
        params, K = fit
        Kpad = np.zeros((rows.size, K.shape[1]))
        Kpad[d] = K
        fits[key] = (params, len(stacked) * len(names), int(d.sum()))
        stacked.append(Kpad)
    if stacked:
        counts = _row_counts(p["n_bank"], boot, p["seed"])[:, rows].astype(np.float64)
        K_all = np.hstack(stacked)
        D_all = counts @ K_all - K_all.sum(axis=0)     # sum_i (count_i - 1) IF_i
    out = []
    for b in range(W.shape[0]):
        fit = fits[member_fit[b]]
        if isinstance(fit, str):
            out.append({"reason": fit})
            continue
        params, j0, n = fit
        draws = {k: params[k] + D_all[:, j0 + i] for i, k in enumerate(names)}
        draws["bc"] = np.zeros(boot)
        a_star, a = p["contrast"][b]
        normalise = p["weighting"][b] != "raw"
        full = {k: np.atleast_1d(v) for k, v in params.items()}
        with np.errstate(all="ignore"):
            est, lo, hi, pv, dr, _floor = mediation._summarise(
                full, draws, np.zeros(boot, dtype=bool), family, a, a_star, 0.0, normalise, True)
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
