"""Test helpers: run R through ``Rscript`` and generate NHANES-shaped adult frames.

R parity tests call :func:`require_r` first: it skips the test with a reason when ``Rscript``
or one of the needed R packages is missing, except when ``CI=true``, where a missing R is a
failure (the CI image must have it). Data go to R as CSV in a temporary directory and results
come back as one JSON file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

R_PACKAGES: tuple[str, ...] = ("survey", "jsonlite")


@lru_cache(maxsize=None)
def _r_status(packages: tuple[str, ...]) -> str | None:
    """None when Rscript and ``packages`` are usable, else the reason they are not."""
    exe = shutil.which("Rscript")
    if exe is None:
        return "Rscript is not on PATH (Debian: apt-get install r-base-core r-cran-survey r-cran-jsonlite)"
    code = ("pk <- c(%s); miss <- pk[!vapply(pk, requireNamespace, logical(1), quietly=TRUE)];"
            "cat(paste(miss, collapse=' '))") % ", ".join(f'"{p}"' for p in packages)
    try:
        out = subprocess.run([exe, "--vanilla", "-e", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Rscript could not run: {exc}"
    if out.returncode != 0:
        return f"Rscript failed: {out.stderr.strip()[-300:]}"
    missing = out.stdout.strip()
    if missing:
        return f"R packages missing: {missing} (Debian: r-cran-{' r-cran-'.join(missing.split())})"
    return None


def require_r(packages: tuple[str, ...] = R_PACKAGES) -> None:
    """Skip (or, under CI=true, fail) when R or the packages are unavailable."""
    reason = _r_status(tuple(packages))
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the R parity tests cannot run: {reason}")
    pytest.skip(reason)


def run_r(script: str, files: dict[str, pd.DataFrame | dict | list] | None = None,
          timeout: float = 600) -> dict:
    """Run ``script`` with Rscript in a temporary directory and return its JSON output.

    ``files`` are written into that directory first (DataFrames as CSV without index, other
    objects as JSON). The script runs with the directory as working directory and must write
    ``out.json``. A failing script raises ``RuntimeError`` with R's stderr.
    """
    with tempfile.TemporaryDirectory(prefix="nhmg-r-") as tmp:
        d = Path(tmp)
        for name, obj in (files or {}).items():
            if isinstance(obj, pd.DataFrame):
                obj.to_csv(d / name, index=False, float_format="%.17g")
            else:
                (d / name).write_text(json.dumps(obj))
        (d / "script.R").write_text(script)
        proc = subprocess.run(["Rscript", "--vanilla", "script.R"], cwd=d, capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"Rscript failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads((d / "out.json").read_text())


# ---------------------------------------------------------------------- synthetic frames
LEVELS: dict[str, list[str]] = {
    "gender": ["Male", "Female"],
    "race": ["Mexican American", "Other Hispanic", "Non-Hispanic White", "Non-Hispanic Black", "Other Race"],
    "pir_cat": ["<1.39", "1.39-3.49", ">3.49"],
    "education": ["Below high school", "High school", "Above high school"],
    "smoking": ["Yes", "No"],
    "drinking": ["Never", "Former", "Current"],
    "active": ["Active", "Inactive"],
    "diabetes": ["Yes", "No"],
    "hypertension": ["Yes", "No"],
    "ckd": ["Yes", "No"],
}


def make_adults_frame(n: int = 3000, n_strata: int = 15, seed: int = 1,
                      domain_share: float = 0.3, holes: bool = True,
                      lonely_strata: int = 0) -> pd.DataFrame:
    """An ``adults`` frame with the CONTRIBUTING cohort columns and an ``in_cohort`` domain.

    ``n_strata`` strata with 2 PSUs each (plus ``lonely_strata`` strata with a single PSU),
    unequal weights, 0 weights for some rows outside the domain, text labels for factors and
    NaN in some columns outside the domain. With ``holes`` the domain reaches only one PSU of
    stratum 2 and no PSU of stratum 3 (so R's ``degf()`` after ``subset()`` differs from the
    whole design's). ``mg_q`` holds the quartiles of ``ln_mg`` within the domain.
    """
    rng = np.random.default_rng(seed)
    total_strata = n_strata + lonely_strata
    stratum = rng.integers(1, total_strata + 1, n) + 100
    psu = np.where(stratum - 100 > n_strata, 1, rng.integers(1, 3, n))
    w = rng.gamma(2.0, 15000.0, n) * (1 + 0.3 * (psu == 2))
    df = pd.DataFrame({"SEQN": np.arange(1, n + 1), "SDMVSTRA": stratum, "SDMVPSU": psu})
    df["cycle"] = rng.choice(["2011-2012", "2013-2014", "2015-2016", "2017-2018"], n)
    df["age"] = rng.integers(20, 60, n).astype(float)
    for col, lv in LEVELS.items():
        probs = rng.dirichlet(np.full(len(lv), 4.0))
        df[col] = rng.choice(lv, n, p=probs)
    female = (df["gender"] == "Female").to_numpy()
    df["energy"] = rng.normal(2100, 600, n).clip(300, 6000) - 300 * female
    df["protein"] = df["energy"] * rng.normal(0.04, 0.008, n).clip(0.01)
    df["egfr"] = rng.normal(100, 18, n).clip(15)
    df["vitd"] = rng.normal(62, 22, n).clip(8)
    df["ln_mg"] = 5.7 + 0.00018 * (df["energy"] - 2000) + rng.normal(0, 0.35, n)
    df["mg"] = np.exp(df["ln_mg"])
    base_smi = np.where(female, 0.62, 0.88)
    df["smi"] = base_smi * np.exp(0.05 * (df["ln_mg"] - 5.7) - 0.002 * (df["age"] - 40)
                                  + rng.normal(0, 0.12, n))
    df["ln_smi"] = np.log(df["smi"])
    lin = -1.2 - 0.7 * (df["ln_mg"] - 5.7) + 0.02 * (df["age"] - 40) + 0.3 * (df["race"] == "Mexican American")
    df["lmm"] = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)

    in_dom = rng.random(n) < domain_share
    if holes:
        s2 = (df["SDMVSTRA"] == 102) & (df["SDMVPSU"] == 2)
        in_dom[s2.to_numpy()] = False
        in_dom[(df["SDMVSTRA"] == 103).to_numpy()] = False
    df["in_cohort"] = in_dom.astype(int)
    zero_w = (~in_dom) & (rng.random(n) < 0.15)
    w[zero_w] = 0.0
    df["weight"] = w
    q = pd.qcut(df.loc[in_dom, "ln_mg"], 4, labels=False) + 1
    df["mg_q"] = np.nan
    df.loc[in_dom, "mg_q"] = q.astype(float)
    # out-of-domain rows carry gaps, as the real all-adults export does
    gap = (~in_dom) & (rng.random(n) < 0.2)
    df.loc[gap, "vitd"] = np.nan
    df.loc[gap, "education"] = None
    return df
