"""Benchmark: the full mediation block, batched versus a statsmodels refit loop.

The block is 4 mediators (ln NP, PAR, RAR, CALLY) x 2 outcomes (LMM logistic, ln SMI linear)
x ``--boot`` bootstrap resamples, each refitting the mediator and the outcome model, on a
synthetic frame of the cohort's size with the Model 3 covariates (generated here, so the
benchmark does not depend on the data pipeline). The loop baseline fits a fixed subset of
resamples per pair with statsmodels (``WLS`` and ``GLM`` binomial with ``var_weights``) and is
scaled to ``--boot``; the output says so. Both paths are checked to give the same estimates.

    python benchmarks/bench_mediation.py [--n 5800] [--boot 1000] [--loop 20] [--repeat 3]

On a machine shared with other jobs, ``OPENBLAS_NUM_THREADS=1`` gives steadier timings.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd

CATEGORIES: dict[str, tuple[str, ...]] = {
    "gender": ("Male", "Female"),
    "race": ("Mexican American", "Other Hispanic", "Non-Hispanic White", "Non-Hispanic Black",
             "Other Race"),
    "pir_cat": ("<1.39", "1.39-3.49", ">3.49"),
    "education": ("Below high school", "High school", "Above high school"),
    "smoking": ("Yes", "No"), "drinking": ("Never", "Former", "Current"),
    "active": ("Active", "Inactive"), "diabetes": ("Yes", "No"), "hypertension": ("Yes", "No"),
}


def synthetic_frame(n: int = 5800, seed: int = 0) -> pd.DataFrame:
    """A cohort-shaped frame (CONTRIBUTING column names and labels) with mediation built in:
    ln-Mg lowers each ln index, and the indices raise LMM risk and lower ln SMI."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({k: rng.choice(v, n) for k, v in CATEGORIES.items()})
    df["age"] = rng.uniform(20, 59, n)
    df["energy"] = rng.normal(2100, 700, n).clip(500)
    df["protein"] = (df["energy"] * rng.normal(0.04, 0.008, n)).clip(10)
    df["egfr"] = rng.normal(100, 18, n).clip(20)
    df["vitd"] = rng.normal(65, 25, n).clip(5)
    df["ln_mg"] = rng.normal(5.7, 0.4, n)
    z = df["ln_mg"] - 5.7
    for name, mu in (("np", 7.0), ("par", 1.3), ("rar", -1.0), ("cally", 0.5)):
        df[name] = np.exp(mu - 0.15 * z + rng.normal(0, 0.35, n))
    idx = np.log(df["np"]) - 7.0 + np.log(df["par"]) - 1.3 + np.log(df["rar"]) + 1.0
    eta = -2.0 - 0.6 * z + 0.5 * idx + 0.02 * (df["age"] - 40) + 0.3 * (df["gender"] == "Female")
    df["lmm"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    df["ln_smi"] = np.log(0.8) + 0.05 * z - 0.03 * idx - 0.25 * (df["gender"] == "Female") \
        + rng.normal(0, 0.12, n)
    df["SDMVSTRA"] = rng.integers(103, 162, n)
    df["SDMVPSU"] = rng.integers(1, 3, n)
    df["weight"] = rng.lognormal(np.log(12000), 0.6, n) / 4
    return df


def loop_reference(frame: pd.DataFrame, mediator: str, outcome: str, family: str,
                   mult: np.ndarray) -> np.ndarray:
    """Effect inputs (t1, t2, t3, b0, b1) per resample from statsmodels refits, one by one."""
    import statsmodels.api as sm

    from nhmg_lib.analyses import mediation
    from nhmg_lib.cohort.definitions import MODEL3_COVARIATES

    data = mediation._frame_data(frame, "ln_mg", mediator, outcome, MODEL3_COVARIATES,
                                 "weight", None)
    xm, xo = data.x_med(), data.x_out()
    out = []
    for f in mult:
        w = data.w * f
        med = sm.WLS(data.M, xm, weights=w).fit()
        if family == "binomial":
            fit = sm.GLM(data.Y, xo, family=sm.families.Binomial(), var_weights=w).fit()
        else:
            fit = sm.WLS(data.Y, xo, weights=w).fit()
        out.append([*fit.params[1:4], *med.params[:2]])
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5800)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=20, help="resamples per pair for the loop")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of the batched block")
    args = ap.parse_args()

    from nhmg_lib.survey import bootstrap
    from nhmg_lib.analyses import mediation

    frame = synthetic_frame(args.n)
    mediators = ("ln_np", "ln_par", "ln_rar", "ln_cally")
    outcomes = {"lmm": "binomial", "ln_smi": "gaussian"}
    mediation.mediate(frame.head(500), boot=5, cache=False, progress=False)  # warm-up
    kw = dict(boot=args.boot, progress=False)
    times = []
    for _ in range(args.repeat):  # median of repeats: the machine is shared
        t0 = time.perf_counter()
        block = mediation.mediate_block(frame, mediators, outcomes, cache=False, **kw)
        times.append(time.perf_counter() - t0)
    t_batched = float(np.median(times))
    with tempfile.TemporaryDirectory() as tmp:
        mediation.mediate_block(frame, mediators, outcomes, cache_dir=tmp, **kw)
        t0 = time.perf_counter()
        mediation.mediate_block(frame, mediators, outcomes, cache_dir=tmp, **kw)
        t_cached = time.perf_counter() - t0

    mult = bootstrap.row_counts(args.n, args.boot, 1)[: args.loop]
    t_loop, worst = 0.0, 0.0
    for (med, out), res in block.items():
        t0 = time.perf_counter()
        ref = loop_reference(frame, med, out, outcomes[out], mult)
        t_loop += time.perf_counter() - t0
        got = np.column_stack([res.boot_params[k][: args.loop] for k in ("t1", "t2", "t3", "b0", "b1")])
        worst = max(worst, float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-3))))
    t_loop_full = t_loop * args.boot / args.loop
    failed = sum(r.n_failed for r in block.values())
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"OPENBLAS_NUM_THREADS={threads}; synthetic frame: n={args.n}, {len(block)} mediator/outcome pairs, "
          f"{args.boot} resamples each, {failed} failed fits")
    print(f"batched block:           {t_batched:8.2f} s  (median of {args.repeat}: "
          + ", ".join(f"{t:.2f}" for t in times) + ")")
    print(f"batched block, cached:   {t_cached:8.2f} s")
    print(f"statsmodels loop:        {t_loop_full:8.2f} s  (timed {args.loop} resamples per pair "
          f"= {t_loop:.2f} s, scaled to {args.boot})")
    print(f"speed-up:                {t_loop_full / t_batched:8.1f} x")
    print(f"max relative difference of coefficients, batched vs loop: {worst:.2e}")
    for (med, out), res in list(block.items())[:2]:
        print(res.summary())


if __name__ == "__main__":
    main()
