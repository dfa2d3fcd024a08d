"""Joint inference on a specification curve (Simonsohn, Simmons & Nelson 2020, *Nat Hum
Behav* 4:1208-1214).

For each estimate, three statistics of its main curve (distinct specifications, panels left
out): the median estimate (link scale), the share significant (p < 0.05) in the paper's
direction, and the mean z in that direction. Their null distributions come from the
*linearised* bootstrap with the exposure effect removed: each specification's estimate is, to
first order, ``beta + sum_i IF_i`` (IF its design-based influence function), so a Rao-Wu PSU
resample ``m`` gives ``beta* - beta = sum_c (m_c - 1) T_c`` with ``T_c`` the PSU totals of IF.
Centring at zero instead of at ``beta`` is "the effect removed" (for a linear model the
first-order version of refitting ``y - beta x``; for the logistic models the same construction
on the score scale). Every specification is resampled with the *same* PSU draws, so the
dependence between specifications is kept. The p-value of a statistic is the share of null
resamples at least as extreme in the paper's direction.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from nhmg_lib.analyses import cache as _cache
from nhmg_lib.analyses.multiverse.grid import ALPHA, MultiverseError
from nhmg_lib.analyses.multiverse.result import MultiverseResult, _available_memory
from nhmg_lib.analyses.multiverse.workers import Progress, check_scheduler, run_all
from nhmg_lib.survey.bootstrap import rao_wu_multipliers

STATISTICS = ("median", "share_significant", "mean_z")


@dataclass
class JointTest:
    """``frame``: one row per estimate: ``direction`` (+1/-1, the paper's), ``n_specs``
    (estimable distinct specifications of the main curve), observed ``median`` (link
    scale), ``share_significant``, ``mean_z`` and the null p-value of each (``p_median``,
    ``p_share``, ``p_mean_z``), ``n_null``. ``null``: estimate -> (n_null x 3) null
    statistics in :data:`STATISTICS` order."""

    frame: pd.DataFrame
    null: dict[str, np.ndarray]
    seconds: float
    from_cache: bool = False


def curve_stats(coef: np.ndarray, se: np.ndarray, df: np.ndarray, direction: int) -> np.ndarray:
    """(..., S) arrays -> (..., 3): median coef, share significant in ``direction``, mean z."""
    z = coef / se
    p = 2 * stats.t.sf(np.abs(z), df)
    sig = (p < ALPHA) & (np.sign(coef) == direction)
    return np.stack([np.median(coef, axis=-1), sig.mean(axis=-1), (direction * z).mean(axis=-1)], axis=-1)


def _null_chunk(payload: dict) -> dict[str, np.ndarray]:
    """Null statistics for one chunk of resamples (runs in a worker)."""
    strata = payload["psu_strata"]
    m = rao_wu_multipliers(strata, np.arange(strata.size), payload["size"], payload["seed"]) - 1.0
    return {e: curve_stats(m @ T, se, df, d) for e, (T, se, df, d) in payload["curves"].items()}


def _tested(result: MultiverseResult, e: str) -> pd.DataFrame:
    c = result.curve(e)
    return c[c["reason"].isna()]


def joint_test(result: MultiverseResult, directions: Mapping[str, int], n_null: int = 500,
               seed: int = 1, *, workers: int | None = None, scheduler: str | None = None,
               cache: bool = True, cache_dir: str | os.PathLike[str] | None = None,
               chunk: int = 50, progress: bool = False) -> JointTest:
    """Simonsohn et al.'s joint test of each main curve (module docstring). ``directions``:
    estimate -> +1 / -1 (``report.specification_curve.paper_directions``). Resamples are
    drawn in chunks of ``chunk`` with seeds from ``(seed, chunk index)``, so the answer does
    not depend on ``workers`` or the scheduler."""
    start = time.perf_counter()
    if n_null < 1:
        raise MultiverseError(f"n_null={n_null}: need at least one null resample")
    if seed < 0:
        raise MultiverseError(f"seed={seed}: must be 0 or a positive integer")
    check_scheduler(scheduler)
    estimates = [e for e in result.totals if e in directions]
    missing = [e for e in result.totals if e not in directions]
    if missing:
        raise MultiverseError(f"no paper direction given for {missing}")
    key = _cache.cache_key("multiverse-null", 2, result.key, n_null, seed, chunk,
                           {e: int(directions[e]) for e in estimates})
    if cache:
        hit = _cache.cache_load(key, cache_dir)
        if hit is not None:
            return _frame(result, directions, estimates, hit, n_null, time.perf_counter() - start, True)
    curves = {}
    for e in estimates:
        c = _tested(result, e)
        if len(c):
            curves[e] = (result.totals[e][:, c["row"].to_numpy()], c["se"].to_numpy(),
                         c["df"].to_numpy(), int(directions[e]))
    # the null statistics are kept (n_null x 3 per estimate, twice while they are stacked)
    need, have = 48 * n_null * max(len(curves), 1), _available_memory()
    if have is not None and need > have:
        raise MultiverseError(f"--null {n_null} needs about {need / 2**30:.1f} GiB for the null "
                              f"statistics and {have / 2**30:.1f} GiB are available; use fewer "
                              "null resamples")
    sizes = [min(chunk, n_null - lo) for lo in range(0, n_null, chunk)]
    payloads = [{"psu_strata": result.psu_strata, "size": s, "seed": seed * 1_000_003 + i,
                 "curves": curves} for i, s in enumerate(sizes)]
    parts = run_all(_null_chunk, payloads, workers=workers, scheduler=scheduler,
                    progress=Progress("joint test (chunks of null resamples)",
                                      sys.stderr if progress else None))
    arrays = {f"null_{e}": np.vstack([p[e] for p in parts]) for e in curves}
    if cache:
        _cache.cache_save(key, arrays, cache_dir)
    return _frame(result, directions, estimates, arrays, n_null, time.perf_counter() - start, False)


def _frame(result: MultiverseResult, directions: Mapping[str, int], estimates: list[str],
           arrays: Mapping[str, np.ndarray], n_null: int, seconds: float,
           from_cache: bool) -> JointTest:
    rows, null = [], {}
    for e in estimates:
        c = result.curve(e)
        ok = c[c["reason"].isna()]
        d = int(directions[e])
        row = {"estimate": e, "direction": d, "n_specs": len(ok),
               "n_not_estimable": len(c) - len(ok), "n_null": n_null}
        if len(ok) and f"null_{e}" in arrays:
            obs = curve_stats(ok["coef"].to_numpy(), ok["se"].to_numpy(), ok["df"].to_numpy(), d)
            nl = arrays[f"null_{e}"]
            null[e] = nl
            row.update({"median": obs[0], "share_significant": obs[1], "mean_z": obs[2],
                        "p_median": float(np.mean(d * nl[:, 0] >= d * obs[0])),
                        "p_share": float(np.mean(nl[:, 1] >= obs[1])),
                        "p_mean_z": float(np.mean(nl[:, 2] >= obs[2]))})
        rows.append(row)
    return JointTest(pd.DataFrame(rows).set_index("estimate"), null, seconds, from_cache)
