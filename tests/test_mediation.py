"""Mediation effects, bootstrap resampling schemes and the on-disk cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from nhmg_lib.analyses.cache import cache_dir
from nhmg_lib.survey import batched, bootstrap
from nhmg_lib.analyses import mediation
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES

from rhelpers import require_r, run_r

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_mediation import synthetic_frame  # noqa: E402

R_SCRIPT = Path(__file__).parent / "r" / "mediation_check.R"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame(n=900, seed=4)


@pytest.fixture
def cache(tmp_path: Path) -> str:
    return str(tmp_path / "cache")


# --------------------------------------------------------------------------- formulas

def test_effect_formulas_by_hand():
    p = {"t1": 0.4, "t2": 0.7, "t3": -0.2, "b0": 1.5, "b1": -0.3, "bc": 0.25, "s2raw": 8.0,
         "wbar": 4.0}
    a, a0, m = 1.2, 0.2, 0.5
    s2 = 2.0  # 8 / 4: normalised weights
    nde = (0.4 - 0.2 * (1.5 - 0.3 * 0.2 + 0.25 + 0.7 * s2)) * 1.0 + 0.5 * 0.04 * s2 * (1.44 - 0.04)
    nie = (0.7 * -0.3 + -0.2 * -0.3 * 1.2) * 1.0
    got = mediation.effects(p, "binomial", a, a0, m)
    assert got["cde"] == pytest.approx(np.exp((0.4 - 0.2 * 0.5) * 1.0), rel=1e-14)
    assert got["nde"] == pytest.approx(np.exp(nde), rel=1e-14)
    assert got["nie"] == pytest.approx(np.exp(nie), rel=1e-14)
    assert got["te"] == pytest.approx(np.exp(nde + nie), rel=1e-14)
    assert got["pm"] == pytest.approx(np.exp(nde) * (np.exp(nie) - 1) / (np.exp(nde + nie) - 1))
    raw = mediation.effects(p, "binomial", a, a0, m, normalize_weights=False)
    assert raw["nde"] != pytest.approx(got["nde"])  # sigma^2 on the weights' scale
    lin = mediation.effects(p, "gaussian", a, a0, m)
    assert lin["nde"] == pytest.approx((0.4 - 0.2 * (1.5 - 0.3 * 0.2 + 0.25)) * 1.0)
    assert lin["nie"] == pytest.approx(nie)
    assert lin["pm"] == pytest.approx(nie / (lin["nde"] + nie))


def _statsmodels_effects(frame: pd.DataFrame, mediator: str, outcome: str, family: str
                         ) -> dict[str, float]:
    """Independent point estimates: pandas dummies + statsmodels + the closed forms."""
    df = frame.assign(**{mediator: np.log(frame[mediator[3:]])})
    C = pd.get_dummies(df[list(MODEL3_COVARIATES)], drop_first=True, dtype=float)
    prof = {c: df[c].mean() for c in C.columns if c in df}
    for col in MODEL3_COVARIATES:
        if col not in prof:
            mode = df[col].value_counts().sort_index(kind="stable").idxmax()
            for c in C.columns:
                if c.startswith(col + "_"):
                    prof[c] = float(c == f"{col}_{mode}")
    xm = sm.add_constant(pd.concat([df["ln_mg"], C], axis=1))
    med = sm.WLS(df[mediator], xm, weights=df["weight"]).fit()
    xo = pd.concat([xm[["const", "ln_mg"]], df[mediator], (df["ln_mg"] * df[mediator]).rename("am"), C], axis=1)
    fam = sm.families.Binomial() if family == "binomial" else sm.families.Gaussian()
    out = sm.GLM(df[outcome], xo, family=fam, var_weights=df["weight"]).fit(tol=1e-13)
    p = {"t1": out.params["ln_mg"], "t2": out.params[mediator], "t3": out.params["am"],
         "b0": med.params["const"], "b1": med.params["ln_mg"],
         "bc": sum(med.params[c] * prof[c] for c in C.columns),
         "s2raw": med.scale, "wbar": df["weight"].mean()}
    return {k: float(v) for k, v in mediation.effects(p, family, 1.0, 0.0, 0.0).items()}


@pytest.mark.parametrize("outcome,family", [("lmm", "binomial"), ("ln_smi", "gaussian")])
def test_point_estimates_match_independent_fit(frame, cache, outcome, family):
    res = mediation.mediate(frame, mediator="ln_par", outcome=outcome, boot=20,
                            cache_dir=cache, progress=False)
    assert res.family == family and res.n == len(frame)
    ref = _statsmodels_effects(frame, "ln_par", outcome, family)
    for k in mediation.EFFECTS:
        assert res.estimate[k] == pytest.approx(ref[k], rel=1e-8), k


@pytest.mark.r
@pytest.mark.parametrize("outcome,family", [("lmm", "binomial"), ("ln_smi", "gaussian")])
def test_point_estimates_match_r(frame, cache, outcome, family):
    require_r(("jsonlite",))
    spec = {"exposure": "ln_mg", "mediator": "ln_np", "outcome": outcome,
            "covariates": list(MODEL3_COVARIATES), "family": family,
            "a": 5.9, "a_star": 5.4, "m": 6.8}
    df = frame.assign(ln_np=np.log(frame["np"]))
    got = run_r(R_SCRIPT.read_text(), {"data.csv": df, "spec.json": spec})
    res = mediation.mediate(frame, mediator="ln_np", outcome=outcome, a=5.9, a_star=5.4, m=6.8,
                            boot=10, normalize_weights=False, cache_dir=cache, progress=False)
    for k in ("t1", "t2", "t3", "b1", "s2raw"):
        assert res.params[k] == pytest.approx(got[k], rel=1e-8), k
    # b0 and b2'c depend on the reference levels (R sorts labels by locale), their sum not
    assert res.params["b0"] + res.params["bc"] == pytest.approx(got["b0"] + got["bc"], rel=1e-8)
    for k in mediation.EFFECTS:
        assert res.estimate[k] == pytest.approx(got[k], rel=1e-8), k


# --------------------------------------------------------------------------- bootstrap

def test_bootstrap_draws_equal_statsmodels_refits(frame, cache):
    res = mediation.mediate(frame, mediator="ln_rar", outcome="lmm", boot=30, seed=7,
                            cache_dir=cache, progress=False)
    data = mediation._frame_data(frame, "ln_mg", "ln_rar", "lmm", MODEL3_COVARIATES, "weight", None)
    mult = bootstrap.row_counts(data.n, 30, 7)
    for b in (0, 13, 29):
        w = data.w * mult[b]
        med = sm.WLS(data.M, data.x_med(), weights=w).fit()
        out = sm.GLM(data.Y, data.x_out(), family=sm.families.Binomial(), var_weights=w).fit(tol=1e-13)
        assert res.boot_params["t3"][b] == pytest.approx(out.params[3], rel=1e-8)
        assert res.boot_params["b1"][b] == pytest.approx(med.params[1], rel=1e-8)
        # the covariate profile is recomputed in the resample (means of resampled rows)
        rows = np.repeat(np.arange(data.n), mult[b])
        c = mediation._profile(data, mult[b:b + 1].astype(float))[0][0]
        assert res.boot_params["bc"][b] == pytest.approx(med.params[2:] @ c, rel=1e-10)
        assert data.C[rows][:, data.numeric].mean(axis=0) == pytest.approx(c[data.numeric])
        for cols, onehot in data.factors:  # modes of the resampled rows
            mode = np.argmax(onehot[rows].sum(axis=0))
            assert c[cols].tolist() == [float(mode == j) for j in range(1, onehot.shape[1])]
    lo, hi = res.ci_low["nie"], res.ci_high["nie"]
    pool = np.append(res.draws[:, 2], res.estimate["nie"])  # apparent sample included
    assert (lo, hi) == pytest.approx(tuple(np.quantile(pool, [0.025, 0.975])))
    assert res.estimate["te"] == pytest.approx(res.estimate["nde"] * res.estimate["nie"])


def test_seed_determinism(frame, cache):
    kw = dict(mediator="ln_np", outcome="ln_smi", boot=25, cache=False, progress=False)
    a = mediation.mediate(frame, seed=3, **kw)
    b = mediation.mediate(frame, seed=3, **kw)
    c = mediation.mediate(frame, seed=4, **kw)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert not np.allclose(a.draws, c.draws)
    assert a.estimate == c.estimate


def test_cache_hit_skips_fitting(frame, cache, monkeypatch):
    kw = dict(mediator="ln_cally", outcome="lmm", boot=40, seed=2, cache_dir=cache, progress=False)
    first = mediation.mediate(frame, **kw)
    assert not first.from_cache and list(Path(cache).glob("*.npz"))

    def boom(*args, **kwargs):
        raise AssertionError("refitted despite a cache hit")

    monkeypatch.setattr(batched, "wls", boom)
    monkeypatch.setattr(batched, "logistic", boom)
    again = mediation.mediate(frame, **kw)
    assert again.from_cache
    np.testing.assert_array_equal(again.draws, first.draws)
    assert again.estimate == first.estimate and again.ci_low == first.ci_low
    # a new contrast reuses the cached fits too
    moved = mediation.mediate(frame, a=6.0, a_star=5.3, **kw)
    assert moved.from_cache and moved.estimate == first.at(6.0, 5.3).estimate
    monkeypatch.undo()
    other = mediation.mediate(frame, **{**kw, "seed": 9})
    assert not other.from_cache


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("NHMG_CACHE_DIR")
    assert cache_dir().parts[-2:] == ("nhmg", "mediation")


def test_failed_resamples_are_counted(cache):
    # A covariate level held by 3 of 150 rows is absent from ~5% of resamples: singular fits.
    df = synthetic_frame(n=150, seed=8)
    df["race"] = "Non-Hispanic White"
    df.loc[:2, "race"] = "Other Race"
    res = mediation.mediate(df, mediator="ln_np", outcome="ln_smi", boot=200, seed=1,
                            cache_dir=cache, progress=False)
    assert 0 < res.n_failed < 40
    assert np.isnan(res.draws[res.failed]).all() and np.isfinite(res.draws[~res.failed]).all()
    assert f"{res.n_failed} failed" in res.summary()


def test_row_counts_are_multinomial():
    f = bootstrap.row_counts(50, 400, seed=1)
    assert f.shape == (400, 50) and (f.sum(axis=1) == 50).all()
    assert abs(f.mean() - 1) < 0.05 and abs((f == 0).mean() - (49 / 50) ** 50) < 0.02
    np.testing.assert_array_equal(f, bootstrap.row_counts(50, 400, seed=1))


def test_rao_wu_multipliers_structure():
    strata = np.repeat([1, 2, 3], [30, 40, 30])
    psu = np.concatenate([np.repeat([1, 2], 15), np.repeat([1, 2, 3, 4], 10), np.repeat([1, 2, 3], 10)])
    f = bootstrap.rao_wu_multipliers(strata, psu, boot=500, seed=2)
    for h, n_h in ((1, 2), (2, 4), (3, 3)):
        rows = strata == h
        per_psu = np.stack([f[:, rows & (psu == j)] for j in range(1, n_h + 1)], axis=1)
        assert (per_psu == per_psu[:, :, :1]).all()  # constant within a PSU
        r = per_psu[:, :, 0] * (n_h - 1) / n_h        # times each PSU was drawn
        np.testing.assert_allclose(r, np.round(r))
        assert (r.sum(axis=1) == n_h - 1).all()       # n_h - 1 PSUs drawn per stratum
        assert r.mean() == pytest.approx((n_h - 1) / n_h, rel=0.05)
    with pytest.raises(ValueError, match="single PSU"):
        bootstrap.rao_wu_multipliers(np.array([1, 1, 2]), np.array([1, 2, 1]), 5, 1)


def test_design_scheme_runs(frame, cache):
    frame = frame.assign(SDMVSTRA=100 + np.arange(len(frame)) % 8)  # 2 PSUs in every stratum
    res = mediation.mediate(frame, mediator="ln_np", outcome="ln_smi", boot=50,
                            scheme="design", cache_dir=cache, progress=False)
    assert res.scheme == "design" and res.n_failed == 0
    rows = mediation.mediate(frame, mediator="ln_np", outcome="ln_smi", boot=50,
                             cache_dir=cache, progress=False)
    assert res.estimate == rows.estimate and not np.allclose(res.draws, rows.draws)


# --------------------------------------------------------------------------- results

def test_records_tidy_and_contrast(frame, cache):
    res = mediation.mediate(frame, mediator="ln_par", outcome="ln_smi", boot=30,
                            cache_dir=cache, progress=False)
    recs = res.records("table8/par")
    assert [r["id"] for r in recs] == [f"table8/par/{k}" for k in mediation.EFFECTS]
    assert all(set(r) == {"id", "estimate", "ci_low", "ci_high", "p", "n"} for r in recs)
    assert all(r["n"] == 900 and 0 < r["p"] <= 1 and r["ci_low"] <= r["ci_high"] for r in recs)
    assert res.tidy()["effect"].tolist() == list(mediation.EFFECTS)
    q = res.at(6.0, 5.4)
    assert q.estimate["nie"] == pytest.approx(
        (res.params["t2"] * res.params["b1"] + res.params["t3"] * res.params["b1"] * 6.0) * 0.6)
    assert "a=6 vs a*=5.4" in q.summary()


def test_clear_errors(frame):
    with pytest.raises(mediation.MediationError, match="not in the frame"):
        mediation.mediate(frame, mediator="ln_nope", cache=False)
    with pytest.raises(mediation.MediationError, match="0/1"):
        mediation.mediate(frame, outcome="ln_smi", outcome_family="binomial", cache=False)
    with pytest.raises(mediation.MediationError, match="single level"):
        mediation.mediate(frame.assign(smoking="No"), boot=5, cache=False)
    lonely = frame.assign(SDMVSTRA=np.where(frame["SDMVPSU"] == 1, 1, 2))
    with pytest.raises(mediation.MediationError, match="single PSU"):
        mediation.mediate(lonely, scheme="design", boot=5, cache=False)
    with pytest.raises(mediation.MediationError, match="scheme"):
        mediation.mediate(frame, scheme="psu", cache=False)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- weighting, p floor

def test_weighting_options(frame, cache):
    kw = dict(mediator="ln_np", boot=20, cache_dir=cache, progress=False)
    for outcome in ("lmm", "ln_smi"):
        norm = mediation.mediate(frame, outcome=outcome, **kw)
        raw = mediation.mediate(frame, outcome=outcome, weighting="raw", **kw)
        old = mediation.mediate(frame, outcome=outcome, normalize_weights=False, **kw)
        none = mediation.mediate(frame, outcome=outcome, weighting="none", **kw)
        unw = mediation.mediate(frame, outcome=outcome, weights=None, **kw)
        assert (norm.weighting, raw.weighting, old.weighting, none.weighting) == (
            "normalised", "raw", "raw", "none")
        assert old.estimate == raw.estimate and not raw.normalize_weights
        # raw and normalised weights: the same fits; only sigma^2 (the logistic NDE) differs
        for k in ("t1", "t2", "t3", "b1", "s2raw"):
            assert raw.params[k] == norm.params[k]
        assert raw.from_cache  # the same cached fits
        if outcome == "lmm":
            assert raw.estimate["nde"] != pytest.approx(norm.estimate["nde"], rel=1e-6)
        else:
            assert raw.estimate == norm.estimate
        # unweighted: the weight column is ignored, as weights=None
        assert none.estimate == pytest.approx(unw.estimate, rel=1e-12)
        assert none.params["t1"] != pytest.approx(norm.params["t1"], rel=1e-6)
    with pytest.raises(mediation.MediationError, match="weighting"):
        mediation.mediate(frame, weighting="design", cache=False)  # type: ignore[arg-type]
    with pytest.raises(mediation.MediationError, match="contradicts"):
        mediation.mediate(frame, weighting="raw", normalize_weights=True, cache=False)


def test_unweighted_mediator_model_equals_ols(frame, cache):
    res = mediation.mediate(frame, mediator="ln_np", outcome="ln_smi", boot=5, weighting="none",
                            cache_dir=cache, progress=False)
    data = mediation._frame_data(frame, "ln_mg", "ln_np", "ln_smi", MODEL3_COVARIATES, None, None)
    med = sm.OLS(data.M, data.x_med()).fit()
    out = sm.OLS(data.Y, data.x_out()).fit()
    assert res.params["b1"] == pytest.approx(med.params[1], rel=1e-10)
    assert res.params["s2raw"] == pytest.approx(med.scale, rel=1e-10)
    assert res.params["t3"] == pytest.approx(out.params[3], rel=1e-10)


def test_p_floor_is_two_over_b_plus_one():
    B = 19
    rng = np.random.default_rng(0)
    full = {k: np.array([v]) for k, v in dict(t1=1.5, t2=0.1, t3=0.0, b0=0.0, b1=0.2, bc=0.0,
                                               s2raw=1.0, wbar=1.0).items()}
    draws = {k: np.full(B, v[0]) for k, v in full.items()}
    draws["t1"] = rng.uniform(1, 2, B)          # every CDE draw > 0
    draws["b1"] = rng.normal(0, 1, B)           # NIE draws on both sides
    failed = np.zeros(B, dtype=bool)
    failed[3] = True                            # a failed resample does not count
    est, lo, hi, p, _d, floor = mediation._summarise(full, draws, failed, "gaussian", 1.0, 0.0,
                                                     0.0, True, True)
    assert floor["cde"] == pytest.approx(2 / B)  # 18 usable resamples: 2 / (18 + 1)
    assert p["cde"] == floor["cde"]
    t = mediation._summarise(full, draws, failed, "gaussian", 1.0, 0.0, 0.0, True, True)
    assert t[3]["nie"] > floor["nie"]


def test_p_at_floor_and_cde_at_mediator_mean(frame, cache):
    res = mediation.mediate(frame, mediator="ln_np", outcome="ln_smi", boot=20,
                            cache_dir=cache, progress=False)
    ok = np.isfinite(res.draws[:, 0]).sum()
    assert res.p_floor["cde"] == pytest.approx(2 / (ok + 1))
    for k in mediation.EFFECTS:
        assert res.p[k] >= res.p_floor[k] - 1e-15
        assert res.p_at_floor(k) == (res.p[k] == pytest.approx(res.p_floor[k]))
    assert res.tidy()["p_floor"].tolist() == [res.p_floor[k] for k in mediation.EFFECTS]
    m_mean = float(np.log(frame["np"]).mean())
    assert res.m_mean == pytest.approx(m_mean)
    at = res.at(6.0, 5.4, m="mean")
    assert at.m == pytest.approx(m_mean)
    assert at.estimate["cde"] == pytest.approx((res.params["t1"] + res.params["t3"] * m_mean) * 0.6)
