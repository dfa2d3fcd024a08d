"""Threshold effect analysis (Table S3) against R ``svyglm`` + ``regTermTest``.

The LMM outcome is regenerated with a true breakpoint (flat below ln-Mg 5.75, falling above)
so the grid search has something to find. One Rscript run (tests/r/splines_threshold_ref.R)
refits the two-piece model at every candidate and reports the deviance profile and the
slopes, CIs and hinge test at the best candidate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from nhmg_lib.analyses.threshold import ThresholdError, candidate_grid, find_threshold
from rhelpers import make_adults_frame, require_r, run_r

SCRIPT = Path(__file__).parent / "r" / "splines_threshold_ref.R"
REL = 1e-6
CANDIDATES = np.round(np.arange(5.40, 6.06, 0.03), 2)
K_SMI = 5.6


def hinge_frame(seed: int = 5) -> pd.DataFrame:
    """Adults frame whose LMM risk is flat below ln-Mg 5.75 and falls steeply above it."""
    f = make_adults_frame(n=4000, n_strata=40, seed=seed, domain_share=0.6)
    rng = np.random.default_rng(seed + 100)
    lin = -1.3 - 2.5 * np.maximum(f["ln_mg"] - 5.75, 0) + 0.02 * (f["age"] - 40)
    f["lmm"] = (rng.random(len(f)) < 1 / (1 + np.exp(-lin))).astype(int)
    return f


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return hinge_frame()


@pytest.fixture(scope="module")
def r_ref(frame: pd.DataFrame) -> dict:
    require_r(("survey", "jsonlite"))
    params = {"candidates": CANDIDATES.tolist(), "covariates": list(MODEL3_COVARIATES), "k_smi": K_SMI}
    return run_r(SCRIPT.read_text(), {"adults.csv": frame, "params.json": params})


@pytest.mark.r
def test_grid_search_and_two_piece_match_r(frame: pd.DataFrame, r_ref: dict) -> None:
    res = find_threshold(frame, candidates=CANDIDATES)
    np.testing.assert_allclose(res.profile["deviance"], r_ref["deviance"], rtol=1e-9)
    assert res.breakpoint == pytest.approx(r_ref["best"])
    ref = r_ref["lmm"]
    assert res.two_piece.df_resid == ref["df_resid"]
    for lc, key in ((res.below, "below"), (res.above, "above")):
        np.testing.assert_allclose([lc.estimate, lc.ci_low, lc.ci_high], ref[key], rtol=REL)
    assert res.above.p == pytest.approx(ref["p_above"], rel=REL)
    assert res.hinge.p == pytest.approx(ref["p_hinge"], rel=REL)
    assert res.hinge.F == pytest.approx(ref["F_hinge"], rel=REL)
    assert res.lr == pytest.approx(ref["dev_one"] - ref["dev_two"], rel=1e-8)
    assert res.slope.estimate == pytest.approx(ref["slope"], rel=REL)
    # the reported scale is the odds ratio
    t = res.table().set_index("row")
    assert t.loc["above", "estimate"] == pytest.approx(np.exp(ref["above"][0]), rel=REL)


@pytest.mark.r
def test_gaussian_two_piece_matches_r(frame: pd.DataFrame, r_ref: dict) -> None:
    res = find_threshold(frame, "ln_smi", candidates=[K_SMI])
    ref = r_ref["smi"]
    np.testing.assert_allclose([res.above.estimate, res.above.ci_low, res.above.ci_high], ref["above"], rtol=REL)
    assert res.hinge.p == pytest.approx(ref["p_hinge"], rel=REL)
    n = res.two_piece.n
    assert res.lr == pytest.approx(n * np.log(ref["dev_one"] / ref["dev_two"]), rel=1e-8)


def test_default_grid_finds_the_true_breakpoint_and_records(frame: pd.DataFrame) -> None:
    res = find_threshold(frame)
    x = frame.loc[frame["in_cohort"] == 1, "ln_mg"]
    lo, hi = np.quantile(x, [0.05, 0.95])
    assert res.profile["breakpoint"].min() >= lo and res.profile["breakpoint"].max() <= hi
    assert np.allclose(np.diff(res.profile["breakpoint"]), 0.01)
    assert abs(res.breakpoint - 5.75) < 0.25
    assert np.exp(res.above.estimate) < 1
    ids = [r["id"] for r in res.records()]
    assert ids[:3] == ["tableS3/lmm/inflection", "tableS3/lmm/below", "tableS3/lmm/above"]
    assert "tableS3/lmm/p_lr" in ids
    assert "Inflection point" in res.summary()


def test_candidate_grid_errors() -> None:
    assert candidate_grid(np.linspace(5.0, 6.0, 101)).tolist()[:2] == [5.05, 5.06]
    with pytest.raises(ThresholdError, match="no exposure"):
        candidate_grid(np.array([np.nan]))
