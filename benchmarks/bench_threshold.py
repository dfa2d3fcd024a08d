"""Benchmark: the threshold bootstrap (whole grid search per resample), batched vs a refit loop.

A cohort-sized synthetic frame (``bench_mediation.synthetic_frame``, all rows in the cohort,
strata with 2 PSUs) with the Model 3 covariates; the default grid (0.01 steps between the 5th
and 95th percentiles of ln-Mg). The batched path (:func:`threshold_bootstrap`, cache off) fits
every candidate in every Rao-Wu resample; the loop baseline reruns :func:`find_threshold`
(one design-based ``svyglm`` per candidate) with the weights of a few resamples, is scaled to
``--boot`` and checked to give the same breakpoints and slopes.

    python benchmarks/bench_threshold.py [--n 5800] [--boot 1000] [--loop 2] [--repeat 1]

On a machine shared with other jobs, ``OPENBLAS_NUM_THREADS=1`` gives steadier timings
(oversubscribed BLAS threads slow the small matrix products many times over).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bench_mediation import synthetic_frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5800)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=2, help="resamples refitted one by one")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of the batched bootstrap")
    args = ap.parse_args()

    from nhmg_lib.analyses import models, threshold
    from nhmg_lib.survey.bootstrap import rao_wu_multipliers

    frame = synthetic_frame(args.n)
    frame["in_cohort"] = 1
    # a hinge at ln-Mg 5.75 so the search has something to find
    rng = np.random.default_rng(5)
    eta = -1.3 - 2.5 * np.maximum(frame["ln_mg"] - 5.75, 0) + 0.02 * (frame["age"] - 40)
    frame["lmm"] = (rng.random(len(frame)) < 1 / (1 + np.exp(-eta))).astype(int)
    res = threshold.find_threshold(frame)
    K = len(res.profile)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        bt = threshold.threshold_bootstrap(frame, boot=args.boot, seed=1, result=res, cache=False)
        times.append(time.perf_counter() - t0)
    t_batched = float(np.median(times))

    design = models.design_for(frame)
    mult = rao_wu_multipliers(design.psu_stratum, np.arange(design.n_psu), args.boot, 1)[:, design.psu]
    t0 = time.perf_counter()
    worst, same = 0.0, 0
    for b in range(args.loop):
        refit = threshold.find_threshold(frame.assign(weight=frame["weight"] * mult[b]))
        same += int(refit.breakpoint == bt.breakpoints[b])
        worst = max(worst, abs(refit.above.estimate - bt.above[b]) / abs(refit.above.estimate))
    t_loop = time.perf_counter() - t0
    t_loop_full = t_loop * args.boot / args.loop
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"OPENBLAS_NUM_THREADS={threads}; synthetic frame: n={args.n}, {K} candidates, "
          f"{args.boot} resamples = {K * args.boot} logistic fits, {bt.n_failed} failed resamples")
    print(f"batched bootstrap:       {t_batched:8.2f} s  ({1e3 * t_batched / (K * args.boot):.3f} ms per fit"
          + (f"; median of {args.repeat}" if args.repeat > 1 else "") + ")")
    print(f"svyglm refit loop:       {t_loop_full:8.2f} s  (timed {args.loop} resamples = {t_loop:.2f} s, "
          f"scaled to {args.boot})")
    print(f"speed-up:                {t_loop_full / t_batched:8.1f} x")
    print(f"loop vs batched: same breakpoint in {same}/{args.loop} resamples; max relative "
          f"difference of the slope above: {worst:.2e}")
    print(bt.summary())


if __name__ == "__main__":
    main()
