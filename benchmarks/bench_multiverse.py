"""Benchmark: the whole multiverse (specification curve + joint test) versus the naive loop.

Runs on a synthetic NHANES data directory of full size (written here with ``nhmg synth``
unless ``--data-dir`` is given) and reports, in one run:

* the whole multiverse cold (every specification of the full grid, each distinct fit once:
  the four regression estimates and the two proportions mediated by NP with their
  200-resample row bootstrap CIs, both models refitted; disk cache off), and again from the disk cache;
* the joint test with ``--null`` resamples (cold, then from the cache);
* the naive loop: for ``--loop`` specifications drawn from the grid, re-derive the cohort
  (``build_cohort``) and refit each estimate with the chapter modules
  (:func:`nhmg_lib.analyses.multiverse.naive_estimates`; the proportions mediated with
  :func:`nhmg_lib.analyses.mediation.mediate`, refitting both models in each of 200
  resamples), timed and scaled to the grid; the two paths are checked to agree on those
  specifications.

    python benchmarks/bench_multiverse.py [--data-dir DIR] [--scale 1.0] [--null 500]
                                          [--loop 6] [--workers N]

On a machine shared with other jobs, ``OPENBLAS_NUM_THREADS=1`` gives steadier timings; the
CPU time of this process and its workers is printed next to the wall time.

Last measured (2 idle cores, full-size synthetic data, seed 1, ``nhmg multiverse --no-cache
--null 500``, old and new run back to back on the same files): the grid of 221,184
specifications (9,024 distinct rows; proportions mediated refitted in every resample) cold 75 s
wall, 117 s CPU; the previous version (first-order mediation bootstrap, no lean-mass
dimension) on its 110,592 specifications 27 s wall, 36 s CPU; refits alone on that grid 50 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(label: str, fn):
    w0, c0 = time.perf_counter(), cpu()
    out = fn()
    wall, cp = time.perf_counter() - w0, cpu() - c0
    print(f"{label:<46} {wall:8.2f} s wall {cp:8.2f} s CPU", flush=True)
    return out, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--null", type=int, default=500)
    ap.add_argument("--loop", type=int, default=6, help="specifications timed in the naive loop")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()

    from nhmg_lib.analyses import multiverse as mv
    from nhmg_lib.data import readers, synthetic
    from nhmg_lib.report.specification_curve import paper_directions

    tmp = Path(tempfile.mkdtemp(prefix="nhmg-bench-mv-"))
    data = args.data_dir
    if data is None:
        data = tmp / "data"
        synthetic.write_synthetic(data, seed=1, scale=args.scale)
    raw = readers.load_raw(data, cache=False)
    cache = tmp / "cache"
    n_specs = len(mv.specifications(mv.grid()))
    print(f"data {data} ({len(raw):,} participants); grid {n_specs:,} specifications x "
          f"{len(mv.ESTIMATES)} estimates; {os.cpu_count()} cores, workers {args.workers or 'all'}")

    res, t_cold = timed("whole curve, cold", lambda: mv.run(raw, workers=args.workers, cache_dir=cache))
    again, t_cache = timed("whole curve, from the disk cache", lambda: mv.run(raw, cache_dir=cache))
    assert again.from_cache and again.table["value"].equals(res.table["value"])
    n_bad = int(res.table["reason"].notna().sum())
    print(f"  {len(res.table):,} distinct (specification, estimate) rows, {n_bad} not estimable")
    for e in mv.ESTIMATES:
        print(f"  {e}: {len(res.rows(e)):,} distinct of {int(res.rows(e)['n_specs'].sum()):,} "
              f"covered; main curve {len(res.curve(e)):,}; cannot move it: {', '.join(res.inert(e))}")
    dirs = paper_directions()
    jt, t_null = timed(f"joint test, {args.null} null resamples, cold",
                       lambda: mv.joint_test(res, dirs, args.null, workers=args.workers, cache_dir=cache))
    _, t_null_cache = timed("joint test, from the disk cache",
                            lambda: mv.joint_test(res, dirs, args.null, cache_dir=cache))

    rng = np.random.default_rng(7)
    picks = rng.choice(res.specs.index.to_numpy(), size=min(args.loop, len(res.specs)), replace=False)
    w0 = time.perf_counter()
    worst = 0.0
    for sid in picks:
        naive = mv.naive_estimates(raw, res.specs.loc[sid].to_dict()).set_index("estimate")
        for e in mv.ESTIMATES:
            if res.assign[e][sid] >= 0:
                fast = res.lookup(e, sid)["value"]
                worst = max(worst, float(np.nan_to_num(abs(fast / naive.loc[e, "value"] - 1))))
    per_spec = (time.perf_counter() - w0) / len(picks)
    t_naive = per_spec * n_specs
    print(f"{'naive loop, ' + str(len(picks)) + ' specifications timed':<46} {per_spec:8.2f} s per specification")
    print(f"{'naive loop, scaled to the grid':<46} {t_naive:8.0f} s (estimate)")
    print(f"  largest relative difference, fast vs naive, on the timed specifications: {worst:.1e}")
    print()
    print(f"speed-up of the whole curve over the naive loop: {t_naive / t_cold:.0f}x")
    print(f"targets: curve cold {t_cold:.1f} s (<= 120), cached {t_cache:.2f} s (<= 5), "
          f"{args.null} null resamples {t_null:.1f} s (<= 600), cached {t_null_cache:.2f} s")
    print(jt.frame.to_string())


if __name__ == "__main__":
    main()
