"""The multiverse engine on a small grid of small synthetic data."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.analyses import inflammation, models
from nhmg_lib.analyses import multiverse as mv
from nhmg_lib.cohort import flow
from nhmg_lib.cohort.definitions import DEFAULT, OPTIONS
from nhmg_lib.data import readers, synthetic
from nhmg_lib.errors import NhmgError
from nhmg_lib.survey import batched
from nhmg_lib.survey.bootstrap import rao_wu_multipliers
from nhmg_lib.survey.glm import build_model_matrix

#: 2 x 2 x 2 x 2 x 2 = 32 specifications; every other dimension at its default.
SMALL = {"np_index": ["product", "score"], "magnesium": ["diet", "total"],
         "weight": ["wtdr2d", "wtmec2yr"], "covariates_required": ["model3_and_indices", "model3"],
         **{k: [next(iter(v))] for k, v in OPTIONS.items()
            if k not in ("np_index", "magnesium", "weight", "covariates_required")}}
DIRECTIONS = {"or_lnmg": -1, "or_q4": -1, "beta_lnmg": 1, "or_np": 1}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    d = tmp_path_factory.mktemp("synthetic")
    synthetic.write_synthetic(d, seed=3, scale=0.2)
    return readers.load_raw(d, cache=False)


@pytest.fixture(scope="module")
def bank(raw):
    return mv.column_bank(raw, mv.grid())


@pytest.fixture(scope="module")
def result(raw):
    return mv.run(raw, SMALL, workers=1, cache=False)


# ----------------------------------------------------------------------------- the grid
def test_full_grid_is_the_factorial_of_every_dimension():
    g = mv.grid()
    assert list(g) == [*OPTIONS, *mv.ANALYSIS_GRID]
    assert len(mv.specifications(g)) == math.prod(len(v) for v in mv.GRID.values())
    assert math.prod(len(v) for v in OPTIONS.values()) == 1152 * 2   # the 1,152 cohorts x vitamin D
    specs = mv.specifications(g)
    assert specs.drop_duplicates().shape[0] == len(specs)
    assert specs.loc[mv.default_spec_id(specs)].to_dict() == mv.DEFAULT_SPEC


def test_settings_restrict_and_widen():
    s = mv.parse_settings(["np_index=product,score", "energy_exclusion=all"])
    assert s == {"np_index": ["product", "score"], "energy_exclusion": ["all"]}
    g = mv.grid(s)
    assert g["np_index"] == ("product", "score") and g["energy_exclusion"] == ("no", "yes")
    assert len(mv.specifications(mv.grid({"race": ["ridreth3"]}))) * 2 == len(mv.specifications(mv.grid()))


@pytest.mark.parametrize("settings, error", [
    ({"colour": ["red"]}, mv.UnknownOptionError),
    ({"np_index": ["sum"]}, mv.UnknownOptionError),
    ({"np_index": []}, mv.EmptyGridError),
    ({"spline_knots": ["4"]}, mv.UnknownOptionError),
])
def test_bad_settings_are_clear_errors(settings, error):
    with pytest.raises(error) as info:
        mv.grid(settings)
    assert isinstance(info.value, NhmgError)
    with pytest.raises(mv.UnknownOptionError):
        mv.parse_settings(["np_index"])


def test_planned_dimension_says_why():
    with pytest.raises(mv.UnknownOptionError, match="planned"):
        mv.grid({"mediation_contrast": ["x"]})


# ----------------------------------------------------------------------------- estimates
def test_default_equals_the_chapter_modules(raw, result):
    adults = flow.build_cohort(raw, DEFAULT).adults
    d = result.default_rows()
    for name, expo, term in (("or_lnmg", "ln_mg", "ln_mg"), ("or_q4", "quartiles", "mg_q[T.4]")):
        t = models.fit_exposure_model(adults, "lmm", expo, 3).tidy(exponentiate=True).set_index("term").loc[term]
        assert d.loc[name, "value"] == pytest.approx(t.estimate, rel=1e-7)
        assert (d.loc[name, "ci_low"], d.loc[name, "ci_high"]) == pytest.approx((t.ci_low, t.ci_high), rel=1e-8)
        assert d.loc[name, "se"] == pytest.approx(t.se, rel=1e-8)
        assert d.loc[name, "p"] == pytest.approx(t.p, rel=1e-7)
    t = models.fit_exposure_model(adults, "ln_smi", "ln_mg", 3).tidy().set_index("term").loc["ln_mg"]
    assert (d.loc["beta_lnmg", "value"], d.loc["beta_lnmg", "ci_low"], d.loc["beta_lnmg", "p"]) == \
        pytest.approx((t.estimate, t.ci_low, t.p), rel=1e-8)
    num = inflammation.fit_tables(adults, DEFAULT, indices=["np"]).numeric
    r = num[(num.table == "table5") & (num.model == 3)].iloc[0]
    assert d.loc["or_np", "value"] == pytest.approx(r.estimate, rel=1e-7)
    assert (d.loc["or_np", "ci_low"], d.loc["or_np", "ci_high"]) == pytest.approx((r.ci_low, r.ci_high), rel=1e-8)
    assert d.loc["or_np", "n"] == r.n
    assert (d["n"] == int(adults["in_cohort"].sum())).all()


def test_energy_exclusion_equals_table_s1(raw, result):
    adults = flow.build_cohort(raw, DEFAULT).adults
    t = models.fit_exposure_model(adults, "lmm", "ln_mg", 3, "energy").tidy(exponentiate=True).set_index("term").loc["ln_mg"]
    row = result.table[(result.table.estimate == "or_lnmg") & (result.table.energy_exclusion == "yes")]
    row = row[(row[list(OPTIONS)] == pd.Series(DEFAULT.as_dict())).all(axis=1)].iloc[0]
    assert row.value == pytest.approx(t.estimate, rel=1e-7)
    assert row.n == int(models.energy_domain(adults).sum())


@pytest.mark.parametrize("spec_id", [7, 12, 29])
def test_specifications_equal_the_naive_path(raw, result, spec_id):
    spec = result.specs.loc[spec_id].to_dict()
    naive = mv.naive_estimates(raw, spec).set_index("estimate")
    fast = result.table[result.table.spec == spec_id].set_index("estimate")
    for e in mv.ESTIMATES:
        assert fast.loc[e, "value"] == pytest.approx(naive.loc[e, "value"], rel=1e-7)
        if not mv.ESTIMATES[e].mediation:   # the mediation rows' se is a bootstrap SD
            assert fast.loc[e, "se"] == pytest.approx(naive.loc[e, "se"], rel=1e-8)
        assert fast.loc[e, "n"] == naive.loc[e, "n"]


@pytest.mark.parametrize("changes", [{}, {"magnesium": "total", "weight": "wtmec2yr"},
                                     {"np_index": "neutrophil_pct", "covariates_required": "model3",
                                      "egfr_equation": "ckd_epi_2021", "race": "ridreth3"}])
def test_cohorts_equal_build_cohort(raw, bank, changes):
    spec = {**mv.DEFAULT_SPEC, **changes}
    coh = mv._cohort(bank, spec)
    ref = flow.build_cohort(raw, DEFAULT.with_(**changes)).adults
    assert len(ref) == bank.n
    np.testing.assert_array_equal(coh.members, ref["in_cohort"].to_numpy() == 1)
    np.testing.assert_array_equal(coh.mg_q, ref["mg_q"].to_numpy(dtype=float, na_value=np.nan))


def test_column_bank_knows_which_choice_changes_which_column(bank):
    assert set(bank.affects["egfr_equation"]) == {"egfr"}   # ckd is not a Model 3 column
    assert set(bank.affects["magnesium"]) == {"ln_mg"}
    assert set(bank.affects["race"]) == {"race"}
    assert bank.affects["covariates_required"] == ()


def test_not_estimable_rows_are_kept_with_a_reason(raw):
    hot = raw.copy()
    hot["DR1TKCAL"] = 9000.0   # nobody has plausible energy intake
    res = mv.run(hot, {**SMALL, "np_index": ["product"], "magnesium": ["diet"], "weight": ["wtdr2d"]},
                 workers=1, cache=False)
    t = res.table
    assert len(t) == len(res.specs) * len(mv.ESTIMATES)
    yes = t[t.energy_exclusion == "yes"]
    assert (yes.reason == "empty domain").all() and yes.value.isna().all()
    assert t[t.energy_exclusion == "no"].reason.isna().all()


def test_separated_fit_is_a_reason_not_a_crash():
    rng = np.random.default_rng(1)
    n = 200
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    y = (x > 0).astype(float)           # perfectly separated
    psu = np.repeat(np.arange(20), 10)
    payload = {"X": X, "y": y, "mult": np.ones((2, n)), "rows": np.arange(n),
               "family": "quasibinomial", "j": 1, "specs": [0, 1], "psu": psu,
               "psu_stratum": np.repeat(np.arange(10), 2), "psu_per_stratum": np.full(10, 2.0)}
    out = mv._group_task(payload)
    assert [o["reason"] is not None for o in out] == [True, True]


def test_cache_and_file_round_trip(raw, tmp_path, result):
    small = {**SMALL, "np_index": ["product"], "magnesium": ["diet"]}
    first = mv.run(raw, small, workers=1, cache_dir=tmp_path)
    again = mv.run(raw, small, workers=1, cache_dir=tmp_path)
    assert not first.from_cache and again.from_cache
    pd.testing.assert_frame_equal(first.table, again.table)
    for e in first.totals:
        np.testing.assert_array_equal(first.totals[e], again.totals[e])
    other = mv.run(raw, {**small, "weight": ["wtdr2d"]}, workers=1, cache_dir=tmp_path)
    assert not other.from_cache and len(other.specs) == len(first.specs) // 2
    for suffix in (".parquet", ".csv"):
        back = (pd.read_parquet if suffix == ".parquet" else pd.read_csv)(first.to_file(tmp_path / f"m{suffix}"))
        assert len(back) == len(first.table)
        np.testing.assert_allclose(back["value"], first.table["value"])
    with pytest.raises(mv.MultiverseError):
        first.to_file(tmp_path / "m.xlsx")


def test_processes_give_the_same_curve(raw, result):
    par = mv.run(raw, SMALL, workers=2, cache=False)
    pd.testing.assert_frame_equal(par.table, result.table)


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask.distributed not installed")
def test_dask_local_cluster_gives_the_same_curve(raw, result):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        res = mv.run(raw, SMALL, scheduler=cluster.scheduler_address, cache=False)
        jt = mv.joint_test(res, DIRECTIONS, 40, scheduler=cluster.scheduler_address, cache=False)
    pd.testing.assert_frame_equal(res.table, result.table)
    pd.testing.assert_frame_equal(jt.frame, mv.joint_test(result, DIRECTIONS, 40, workers=1, cache=False).frame)


def test_scheduler_without_dask_is_a_clear_error(raw, monkeypatch):
    import sys

    # A None entry in sys.modules makes the import fail, as on a machine without the package.
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(mv.MultiverseError, match="distributed"):
        mv.run(raw, {**SMALL, "np_index": ["product"]}, scheduler="tcp://127.0.0.1:1", cache=False)


# ----------------------------------------------------------------------------- joint test
def test_observed_statistics_by_hand(result):
    jt = mv.joint_test(result, DIRECTIONS, 20, workers=1, cache=False)
    for e, d in DIRECTIONS.items():
        c = result.curve(e)
        assert jt.frame.loc[e, "median"] == pytest.approx(np.median(c["coef"]))
        sig = (c["p"] < 0.05) & (np.sign(c["coef"]) == d)
        assert jt.frame.loc[e, "share_significant"] == pytest.approx(sig.mean())
        assert jt.frame.loc[e, "mean_z"] == pytest.approx((d * c["coef"] / c["se"]).mean())
        assert jt.frame.loc[e, "n_specs"] == len(c)
        for p in ("p_median", "p_share", "p_mean_z"):
            assert 0 <= jt.frame.loc[e, p] <= 1


def test_null_spread_is_the_design_variance(result):
    """Under the Rao-Wu resamples the centred estimate of each specification has, in
    expectation, exactly the Taylor variance: the SD over 3,000 resamples is its SE."""
    c = result.curve("beta_lnmg")
    T = result.totals["beta_lnmg"][:, c["spec"].to_numpy()]
    m = rao_wu_multipliers(result.psu_strata, np.arange(T.shape[0]), 3000, 5) - 1
    sd = (m @ T).std(axis=0)
    se = c["se"].to_numpy()
    np.testing.assert_allclose(sd, se, rtol=0.06)


def test_null_is_reproducible_and_centred(result):
    a = mv.joint_test(result, DIRECTIONS, 60, seed=3, workers=1, cache=False)
    b = mv.joint_test(result, DIRECTIONS, 60, seed=3, workers=2, cache=False)
    for e in DIRECTIONS:
        np.testing.assert_array_equal(a.null[e], b.null[e])
        assert a.null[e].shape == (60, 3)
    # the null share significant in one direction is about alpha / 2
    assert 0.0 <= a.null["beta_lnmg"][:, 1].mean() <= 0.15
    with pytest.raises(mv.MultiverseError):
        mv.joint_test(result, {"or_lnmg": -1}, 10, cache=False)


def test_linearised_null_matches_refitting_y_minus_effect(raw, result):
    """For the linear model, the null resample of the linearised bootstrap is the refit of
    ``ln_smi - beta * ln_mg`` on the resample, to first order."""
    adults = flow.build_cohort(raw, DEFAULT).adults
    fit = models.fit_exposure_model(adults, "ln_smi", "ln_mg", 3)
    rows = np.flatnonzero(fit.domain)
    sub = adults.iloc[rows].reset_index(drop=True)
    mm = build_model_matrix(sub, models.model_formula("ln_smi", "ln_mg", 3), levels=fit.levels)
    j = mm.columns.index("ln_mg")
    ystar = sub["ln_smi"].to_numpy() - fit.params["ln_mg"] * sub["ln_mg"].to_numpy()
    des = models.design_for(adults)
    mpsu = rao_wu_multipliers(des.psu_stratum, np.arange(des.n_psu), 200, 11)
    refit = batched.wls(mm.X, ystar, sub["weight"].to_numpy(), mpsu[:, des.psu[rows]]).coef[:, j]
    lin = ((mpsu - 1) @ result.totals["beta_lnmg"][:, mv.default_spec_id(result.specs)])
    assert np.corrcoef(refit, lin)[0, 1] > 0.98
    assert refit.std() == pytest.approx(lin.std(), rel=0.1)


# ----------------------------------------------------------------------------- command line
def test_cli_writes_the_table_and_records(tmp_path, capsys, monkeypatch):
    import json

    from nhmg_lib import cli

    synthetic.write_synthetic(tmp_path / "d", seed=2, scale=0.1)
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path / "cache"))
    out, rec = tmp_path / "m.parquet", tmp_path / "r.json"
    sets = [a for k, v in SMALL.items() for a in ("--set", f"{k}={','.join(v)}")]
    sets += ["--set", "np_index=product", "--set", "magnesium=diet"]
    assert cli.main(["multiverse", "--data-dir", str(tmp_path / "d"), "--out", str(out), *sets,
                     "--null", "20", "--records", str(rec), "--workers", "1",
                     "--mediation-boot", "50"]) == 0
    table = pd.read_parquet(out)
    n_specs = 8 * len(mv.GRID["mediation_weighting"])
    assert len(table) == n_specs * len(mv.ESTIMATES) and table["is_default"].sum() == len(mv.ESTIMATES)
    ids = {r["id"] for r in json.loads(rec.read_text())}
    assert {"multiverse/n_specifications", "multiverse/or_q4/median", "multiverse/or_q4/mean_z"} <= ids
    assert f"specifications x {len(mv.ESTIMATES)} estimates" in capsys.readouterr().out
    assert table.loc[table.estimate == "pm_np_lmm", "ci_low"].notna().all()
    assert cli.main(["multiverse", "--data-dir", str(tmp_path / "d"), "--out", str(out),
                     "--set", "colour=red"]) == 2
    assert "unknown dimension" in capsys.readouterr().err


# ----------------------------------------------------------------------------- mediation
@pytest.mark.parametrize("weighting", ["normalised", "raw", "none"])
@pytest.mark.parametrize("energy", ["no", "yes"])
def test_proportion_mediated_equals_mediate_at_q1q4(raw, result, weighting, energy):
    """Point estimate and n of every weighting (and the energy domain) equal
    mediation.mediate + MediationResult.at on the Q1 -> Q4 medians (report.q1q4)."""
    from nhmg_lib.analyses import mediation
    from nhmg_lib.report import mediation_report

    adults = flow.build_cohort(raw, DEFAULT).adults
    rows = mediation_report.cohort_rows(adults)
    if energy == "yes":
        rows = rows[models.energy_plausible(rows).to_numpy()]
    t = result.table
    for e, outcome in (("pm_np_lmm", "lmm"), ("pm_np_smi", "ln_smi")):
        res = mediation.mediate(rows, "ln_mg", "ln_np", outcome, boot=1, cache=False,
                                progress=False, weighting=weighting)
        want = mediation_report.q1q4(res, adults)
        row = t[(t.estimate == e) & (t.mediation_weighting == weighting) & (t.energy_exclusion == energy)]
        row = row[(row[list(OPTIONS)] == pd.Series(DEFAULT.as_dict())).all(axis=1)].iloc[0]
        assert row.value == pytest.approx(want.estimate["pm"], rel=1e-8, abs=1e-10)
        assert row.n == want.n
        assert row.ci_low < row.value < row.ci_high and 0 < row.p <= 1
        assert row.is_default == (weighting == "normalised" and energy == "no")


def test_weighting_is_read_by_the_mediation_estimates_only(result):
    t = result.table
    n_w = len(mv.GRID["mediation_weighting"])
    assert len(result.curve("or_q4")) * n_w == len(result.specs) == len(result.curve("pm_np_lmm"))
    assert (result.curve("or_q4")["mediation_weighting"] == "normalised").all()
    wide = t[t.estimate == "or_lnmg"].pivot(index=[*OPTIONS, "energy_exclusion"],
                                             columns="mediation_weighting", values="value")
    assert (wide["raw"] == wide["normalised"]).all() and (wide["none"] == wide["normalised"]).all()
    for e, raw_equal in (("pm_np_lmm", False), ("pm_np_smi", True)):
        pm = t[t.estimate == e].pivot(index=[*OPTIONS, "energy_exclusion"],
                                      columns="mediation_weighting", values="value")
        # sigma^2 on the scale of the weights moves the logistic NDE only (module mediation)
        assert np.allclose(pm["raw"], pm["normalised"], rtol=1e-9) == raw_equal
        assert not np.allclose(pm["none"], pm["normalised"], rtol=1e-6)


def test_linearised_bootstrap_is_close_to_refitting_the_same_resamples(raw, bank):
    """The CI of the default specification against a refit of both models in each of the
    same resamples (mediation's own batched fits): limits within a fifth of the CI width."""
    from nhmg_lib.analyses import mediation
    from nhmg_lib.report import mediation_report
    from nhmg_lib.survey.bootstrap import row_counts

    B = 400
    one = {k: [v] for k, v in mv.DEFAULT_SPEC.items()}
    res = mv.run(raw, one, workers=1, cache=False, mediation_boot=B, mediation_seed=4).default_rows()
    spec = dict(mv.DEFAULT_SPEC)
    dom = mv._cohort(bank, spec).members & np.isfinite(mv._np_model(bank.get("np", spec), "product"))
    counts = row_counts(bank.n, B, 4)[:, np.flatnonzero(dom)].astype(float)
    adults = flow.build_cohort(raw, DEFAULT).adults
    rows = mediation_report.cohort_rows(adults)
    a_star, a = mediation_report.quartile_medians(adults)
    for e, outcome, family in (("pm_np_lmm", "lmm", "binomial"), ("pm_np_smi", "ln_smi", "gaussian")):
        data = mediation._frame_data(rows, "ln_mg", "ln_np", outcome, mv.MODEL3_COVARIATES, "weight", None)
        assert data.n == counts.shape[1]
        full, _, coef = mediation._fit(data, family, np.ones((1, data.n)), ("full",))
        draws, failed, _ = mediation._fit(data, family, counts, ("boot",), start=coef[0])
        est, lo, hi, p, _, _ = mediation._summarise(full, draws, failed, family, a, a_star, 0.0, True, True)
        r = res.loc[e]
        width = hi["pm"] - lo["pm"]
        assert r.value == pytest.approx(est["pm"], rel=1e-8)
        assert abs(r.ci_low - lo["pm"]) < 0.2 * width and abs(r.ci_high - hi["pm"]) < 0.2 * width
        assert r.p == pytest.approx(p["pm"], abs=0.05)


def test_mediation_settings_are_checked(raw):
    with pytest.raises(mv.UnknownOptionError, match="subgroup"):
        mv.grid({"interaction_coding": ["wald"]})
    with pytest.raises(mv.UnknownOptionError, match="Q1"):
        mv.grid({"mediation_contrast": ["iqr"]})
    with pytest.raises(mv.UnknownOptionError):
        mv.grid({"mediation_weighting": ["half"]})
    assert "mediation_weighting" not in mv.PLANNED_DIMENSIONS and "mediation_contrast" in mv.PLANNED_DIMENSIONS
    with pytest.raises(mv.MultiverseError, match="mediation_boot"):
        mv.run(raw, SMALL, cache=False, mediation_boot=0)
