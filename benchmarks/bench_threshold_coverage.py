"""Coverage of the breakpoint intervals: a planted kink at a known K, many replicates.

Each replicate draws a survey-shaped frame (``bench_mediation.synthetic_frame``: strata with
2 PSUs, unequal weights) and an LMM outcome whose log-odds are flat below ln-Mg ``K`` and
fall with slope ``--slope`` above it (``--slope 0``: a straight line, no kink). The threshold
analysis runs on a 0.05 grid with age and gender as covariates (kept small so that a few
hundred replicates take minutes). Reported:

* how often the search-aware tests reject "no change in slope" (Davies on the design-based t;
  with ``--boot B`` also the bootstrap sup-t, the book's gate for showing an interval);
* coverage of the true K by the test-inversion interval (hull of the candidates not rejected
  at 5%), unconditionally and among the replicates where the gate rejects, and its median
  width; with ``--boot``, the same for the bootstrap percentile interval;
* how often an interval reaches an end of the grid.

    python benchmarks/bench_threshold_coverage.py [--reps 200] [--n 2500] [--slope -4] [--boot 0]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from bench_mediation import synthetic_frame

GRID = np.round(np.arange(5.30, 6.21, 0.05), 2)


def replicate(seed: int, n: int, k_true: float, slope: float, boot: int) -> dict:
    from nhmg_lib.analyses import threshold

    frame = synthetic_frame(n, seed=seed)
    frame["in_cohort"] = 1
    rng = np.random.default_rng(10_000 + seed)
    eta = -1.5 + slope * np.maximum(frame["ln_mg"] - k_true, 0) + 0.02 * (frame["age"] - 40)
    frame["lmm"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    res = threshold.find_threshold(frame, covariates=("age", "gender"), candidates=GRID)
    inv = res.inversion_ci()
    out = {"davies": res.davies.p < 0.05, "inv": inv, "inv_end": bool(res.at_grid_end(inv)),
           "k_hat": res.breakpoint}
    if boot:
        bt = threshold.threshold_bootstrap(frame, covariates=("age", "gender"), candidates=GRID,
                                           boot=boot, seed=seed, result=res, cache=False, workers=1)
        out.update(sup=bt.has_breakpoint, boot_ci=bt.breakpoint_ci,
                   boot_end=bool(res.at_grid_end(bt.breakpoint_ci)))
    return out


def covers(ci: tuple[float, float] | None, k: float, half_step: float = 0.025) -> bool:
    """The interval holds K, read on the grid (K within half a grid step of it)."""
    return ci is not None and ci[0] - half_step <= k <= ci[1] + half_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n", type=int, default=2500)
    ap.add_argument("--k", type=float, default=5.75, help="true breakpoint (ln mg/day)")
    ap.add_argument("--slope", type=float, default=-4.0, help="log-odds slope above K (0: no kink)")
    ap.add_argument("--boot", type=int, default=0, help="bootstrap resamples per replicate (0: none)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = [replicate(s, args.n, args.k, args.slope, args.boot) for s in range(args.reps)]
    elapsed = time.perf_counter() - t0

    def share(flags) -> str:
        flags = list(flags)
        return f"{np.mean(flags):.3f} ({sum(flags)}/{len(flags)})" if flags else "n/a (0 replicates)"

    print(f"{args.reps} replicates, n = {args.n}, true K = {args.k}, slope above K = {args.slope}, "
          f"grid {GRID[0]}-{GRID[-1]} by 0.05; {elapsed:.0f} s")
    print(f"Davies (design-based t) rejects at 5%:             {share(r['davies'] for r in runs)}")
    print(f"test-inversion interval covers K:                  {share(covers(r['inv'], args.k) for r in runs)}")
    gate = [r for r in runs if r.get("sup", r["davies"])]
    gate_name = "bootstrap sup-t" if args.boot else "Davies"
    print(f"  ... among replicates where {gate_name} rejects:".ljust(51) + share(covers(r['inv'], args.k) for r in gate))
    widths = [r["inv"][1] - r["inv"][0] for r in runs if r["inv"] is not None]
    print(f"  median width (ln units):                         {np.median(widths):.2f}")
    print(f"  reaches an end of the grid:                      {share(r['inv_end'] for r in runs)}")
    if args.boot:
        print(f"bootstrap sup-t rejects at 5%:                     {share(r['sup'] for r in runs)}")
        print(f"bootstrap percentile interval covers K:            {share(covers(r['boot_ci'], args.k) for r in runs)}")
        print(f"  ... among replicates where sup-t rejects:        {share(covers(r['boot_ci'], args.k) for r in gate)}")
        print(f"  reaches an end of the grid:                      {share(r['boot_end'] for r in runs)}")


if __name__ == "__main__":
    main()
