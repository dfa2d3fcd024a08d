"""The multiverse engine on a small grid of small synthetic data."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.analyses import inflammation, models
from nhmg_lib.analyses import multiverse as mv
from nhmg_lib.analyses.multiverse import bank as mv_bank
from nhmg_lib.analyses.multiverse import fits as mv_fits
from nhmg_lib.analyses.multiverse import plan as mv_plan
from nhmg_lib.cohort import flow
from nhmg_lib.cohort.definitions import DEFAULT, OPTIONS
from nhmg_lib.data import readers, synthetic
from nhmg_lib.errors import NhmgError
from nhmg_lib.survey import batched
from nhmg_lib.survey.bootstrap import rao_wu_multipliers
from nhmg_lib.survey.glm import build_model_matrix

#: 2 x 2 x 2 x 2 x 2 x 2 = 64 specifications; every other dimension at its default.
SMALL = {"np_index": ["product", "score"], "magnesium": ["diet", "total"],
         "weight": ["wtdr2d", "wtmec2yr"], "covariates_required": ["model3_and_indices", "model3"],
         **{k: [next(iter(v))] for k, v in OPTIONS.items()
            if k not in ("np_index", "magnesium", "weight", "covariates_required")},
         "covariates": ["model3"]}
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
    # the 1,152 cohorts, times energy adjustment (3), the LMM definition (2), the
    # vitamin D variable (2) and limb lean mass with or without bone (2)
    assert math.prod(len(v) for v in OPTIONS.values()) == 1152 * 3 * 2 * 2 * 2
    specs = mv.specifications(g)
    assert specs.drop_duplicates().shape[0] == len(specs)
    assert specs.loc[mv.default_spec_id(specs)].to_dict() == mv.DEFAULT_SPEC


def test_settings_restrict_and_widen():
    s = mv.parse_settings(["np_index=product,score", "energy_exclusion=all"])
    assert s == {"np_index": ["product", "score"], "energy_exclusion": ["all"]}
    g = mv.grid(s)
    assert g["np_index"] == ("product", "score") and g["energy_exclusion"] == ("no", "yes")
    assert len(mv.specifications(mv.grid({"race": ["ridreth3"]}))) * 2 == len(mv.specifications(mv.grid()))
    with pytest.raises(mv.UnknownOptionError, match="robustness"):
        mv.grid({"mediation_weighting": ["raw"]})


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
    # per SD of ln NP (weighted SD in the domain): the per-unit OR to the power SD
    dom = (adults["in_cohort"] == 1) & np.isfinite(np.log(adults["np"].where(adults["np"] > 0)))
    x, w = np.log(adults.loc[dom, "np"].to_numpy(float)), adults.loc[dom, "weight"].to_numpy(float)
    sd = np.sqrt(np.average((x - np.average(x, weights=w)) ** 2, weights=w))
    assert d.loc["or_np", "value"] == pytest.approx(r.estimate ** sd, rel=1e-7)
    assert (d.loc["or_np", "ci_low"], d.loc["or_np", "ci_high"]) == pytest.approx((r.ci_low ** sd, r.ci_high ** sd), rel=1e-8)
    assert d.loc["or_np", "n"] == r.n
    assert (d["n"] == int(adults["in_cohort"].sum())).all()


def _spec_id(specs: pd.DataFrame, **changes) -> int:
    want = {**mv.DEFAULT_SPEC, **changes}
    hit = (specs[list(specs.columns)] == pd.Series({d: want[d] for d in specs.columns})).all(axis=1)
    return int(specs.index[hit.to_numpy()][0])


def test_energy_exclusion_equals_table_s1(raw, result):
    adults = flow.build_cohort(raw, DEFAULT).adults
    t = models.fit_exposure_model(adults, "lmm", "ln_mg", 3, "energy").tidy(exponentiate=True).set_index("term").loc["ln_mg"]
    row = result.lookup("or_lnmg", _spec_id(result.specs, energy_exclusion="yes"))
    assert row.value == pytest.approx(t.estimate, rel=1e-7)
    assert row.n == int(models.energy_domain(adults).sum())


@pytest.mark.parametrize("spec_id", [7, 12, 29])
def test_specifications_equal_the_naive_path(raw, result, spec_id):
    """Every grid specification, representative or copy, has the numbers of the slow path."""
    spec = result.specs.loc[spec_id].to_dict()
    naive = mv.naive_estimates(raw, spec).set_index("estimate")
    for e in mv.ESTIMATES:
        if result.assign[e][spec_id] < 0:   # the mediation estimates hold the weight at WTDR2D
            assert mv.ESTIMATES[e].mediation and spec["weight"] != "wtdr2d"
            with pytest.raises(KeyError):
                result.lookup(e, spec_id)
            continue
        fast = result.lookup(e, spec_id)
        assert fast["value"] == pytest.approx(naive.loc[e, "value"], rel=1e-7)
        if not mv.ESTIMATES[e].mediation:   # the mediation rows' se is a bootstrap SD
            assert fast["se"] == pytest.approx(naive.loc[e, "se"], rel=1e-8)
        assert fast["n"] == naive.loc[e, "n"]


def test_model2_and_the_new_definitions_equal_the_naive_path(raw):
    spec = {**mv.DEFAULT_SPEC, "covariates": "model2", "magnesium_energy": "residual",
            "lmm_definition": "height_baumgartner"}
    one = {k: [v] for k, v in spec.items()}
    res = mv.run(raw, one, workers=1, cache=False, estimates=["or_lnmg", "or_q4", "beta_lnmg", "or_np"])
    naive = mv.naive_estimates(raw, spec, ["or_lnmg", "or_q4", "beta_lnmg", "or_np"]).set_index("estimate")
    for e in naive.index:
        fast = res.lookup(e, 0)
        assert fast["value"] == pytest.approx(naive.loc[e, "value"], rel=1e-7)
        assert fast["se"] == pytest.approx(naive.loc[e, "se"], rel=1e-7)


@pytest.mark.parametrize("changes", [{}, {"magnesium": "total", "weight": "wtmec2yr"},
                                     {"np_index": "neutrophil_pct", "covariates_required": "model3",
                                      "egfr_equation": "ckd_epi_2021", "race": "ridreth3"},
                                     {"magnesium": "total", "magnesium_energy": "per_1000kcal"}])
def test_cohorts_equal_build_cohort(raw, bank, changes):
    spec = {**mv.DEFAULT_SPEC, **changes}
    coh = mv_bank.cohort(bank, spec)
    ref = flow.build_cohort(raw, DEFAULT.with_(**changes)).adults
    assert len(ref) == bank.n
    np.testing.assert_array_equal(coh.members, ref["in_cohort"].to_numpy() == 1)
    np.testing.assert_array_equal(coh.mg_q, ref["mg_q"].to_numpy(dtype=float, na_value=np.nan))


def test_column_bank_knows_which_choice_changes_which_column(bank):
    assert set(bank.affects["egfr_equation"]) == {"egfr"}   # ckd is not a Model 3 column
    assert set(bank.affects["magnesium"]) == {"ln_mg"} == set(bank.affects["magnesium_energy"])
    assert set(bank.affects["lmm_definition"]) == {"lmm"}
    assert set(bank.affects["lean_mass"]) == {"lmm", "smi", "ln_smi"}
    assert set(bank.affects["race"]) == {"race"}
    assert bank.affects["covariates_required"] == ()
    # a column two choices change exists in every combination of their values
    assert (("magnesium", "total"), ("magnesium_energy", "residual")) in bank.versions["ln_mg"]


# ----------------------------------------------------------------------------- distinct rows
def test_one_row_per_distinct_specification(raw, result):
    """No two rows of one estimate are copies; a row stands for ``n_specs`` grid
    specifications, every one of which has exactly its numbers; a dimension that cannot move
    the estimate is blank in its rows."""
    S = len(result.specs)
    covered = (result.specs["weight"] == "wtdr2d").sum()   # weight: held at WTDR2D for mediation
    for e in mv.ESTIMATES:
        rows = result.rows(e)
        n = covered if mv.ESTIMATES[e].mediation else S
        assert rows["n_specs"].sum() == n == (result.assign[e] >= 0).sum()
        a = result.assign[e]
        assert np.bincount(a[a >= 0], minlength=len(rows)).tolist() == rows["n_specs"].tolist()
        ok = rows[rows["reason"].isna()]
        key = ok[["coef", "se", "n"]].round(12)
        assert not key.duplicated().any(), e
    # the multiverse's distinct-specification counts on this grid (64 specifications):
    # the mediation weighting never moves a regression estimate; the NP definition never moves
    # the magnesium estimates (their model has no NP and every NP version is complete for the
    # same people); magnesium never moves the NP estimate
    assert result.inert("or_q4") == ["np_index", "covariates_required", "mediation_weighting"]
    assert "magnesium" in result.inert("or_np") and "np_index" not in result.inert("or_np")
    assert len(result.rows("or_q4")) == 2 * 2 * 2     # magnesium x weight x energy exclusion
    # np_index x magnesium x energy exclusion x weighting (the weight held at WTDR2D)
    assert len(result.rows("pm_np_lmm")) == 2 * 2 * 2 * 2
    assert result.rows("or_q4")["np_index"].isna().all()
    assert result.rows("pm_np_lmm")["mediation_weighting"].notna().all()


def test_copies_really_are_copies(raw, result):
    """A specification that differs from its row's only in an inert dimension gives the same
    numbers on the slow path."""
    rep = result.rows("or_q4").iloc[0]
    other = _spec_id(result.specs, **{**{d: rep[d] for d in result.dimensions if rep[d] is not None},
                                      "np_index": "score", "covariates_required": "model3"})
    assert other != rep["spec"] and result.assign["or_q4"][other] == 0
    naive = mv.naive_estimates(raw, result.specs.loc[other].to_dict(), ["or_q4"]).set_index("estimate")
    assert naive.loc["or_q4", "value"] == pytest.approx(rep["value"], rel=1e-7)


def test_weight_panel_is_outside_the_curve_and_the_joint_test(result):
    for e in mv.ESTIMATES:
        rows, curve, panel = result.rows(e), result.curve(e), result.panel(e, "weight")
        assert len(curve) + len(panel) == len(rows)
        assert (curve["weight"].isin(["wtdr2d", None])).all() and (panel["weight"] == "wtmec2yr").all()
        assert len(panel) == (0 if mv.ESTIMATES[e].mediation else len(curve))
    jt = mv.joint_test(result, DIRECTIONS, 10, workers=1, cache=False)
    assert jt.frame.loc["or_q4", "n_specs"] == len(result.curve("or_q4"))


def test_not_estimable_rows_are_kept_with_a_reason(raw):
    hot = raw.copy()
    hot["DR1TKCAL"] = 9000.0   # nobody has plausible energy intake
    res = mv.run(hot, {**SMALL, "np_index": ["product"], "magnesium": ["diet"], "weight": ["wtdr2d"]},
                 workers=1, cache=False)
    for e in mv.ESTIMATES:
        rows = res.rows(e)
        yes = rows[rows.energy_exclusion == "yes"]
        assert len(yes) and (yes.reason == "empty domain").all() and yes.value.isna().all()
        assert rows[rows.energy_exclusion == "no"].reason.isna().all()


def test_separated_fit_is_a_reason_not_a_crash():
    rng = np.random.default_rng(1)
    n = 200
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    y = (x > 0).astype(float)           # perfectly separated
    psu = np.repeat(np.arange(20), 10)
    payload = {"kind": "regression", "X": X, "y": y, "mult": np.ones((2, n)), "rows": np.arange(n),
               "family": "quasibinomial", "j": 1, "psu": psu, "per_sd": [False, False],
               "psu_stratum": np.repeat(np.arange(10), 2), "psu_per_stratum": np.full(10, 2.0)}
    out = mv_fits.task(payload)
    assert [o["reason"] is not None for o in out] == [True, True]


def test_cache_and_file_round_trip(raw, tmp_path, result):
    small = {**SMALL, "np_index": ["product"], "magnesium": ["diet"]}
    first = mv.run(raw, small, workers=1, cache_dir=tmp_path)
    again = mv.run(raw, small, workers=1, cache_dir=tmp_path)
    assert not first.from_cache and again.from_cache
    pd.testing.assert_frame_equal(first.table, again.table)
    for e in first.totals:
        np.testing.assert_array_equal(first.totals[e], again.totals[e])
        np.testing.assert_array_equal(first.assign[e], again.assign[e])
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
    T = result.totals["beta_lnmg"][:, c["row"].to_numpy()]
    m = rao_wu_multipliers(result.psu_strata, np.arange(T.shape[0]), 3000, 5) - 1
    sd = (m @ T).std(axis=0)
    np.testing.assert_allclose(sd, c["se"].to_numpy(), rtol=0.06)


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
    for bad in ({"n_null": -5}, {"n_null": 0}, {"seed": -1}):
        with pytest.raises(mv.MultiverseError):
            mv.joint_test(result, DIRECTIONS, **{"n_null": 10, **bad}, cache=False)


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
    col = int(result.assign["beta_lnmg"][mv.default_spec_id(result.specs)])
    lin = (mpsu - 1) @ result.totals["beta_lnmg"][:, col]
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
    assert table["is_default"].sum() == len(mv.ESTIMATES)
    dims = list(mv.GRID)
    for e, rows in table.groupby("estimate"):   # no two rows of one estimate are copies
        assert not rows[dims].astype(str).duplicated().any()
        n = 8 * len(mv.GRID["mediation_weighting"])
        assert rows["n_specs"].sum() == (n // 2 if mv.ESTIMATES[e].mediation else n)
    assert table.loc[table.estimate == "or_q4", "mediation_weighting"].isna().all()
    ids = {r["id"] for r in json.loads(rec.read_text())}
    assert {"multiverse/n_specifications", "multiverse/or_q4/median", "multiverse/or_q4/mean_z"} <= ids
    captured = capsys.readouterr()
    assert "distinct (specification, estimate) rows" in captured.out
    assert "left" in captured.err          # progress with the time left
    assert table.loc[table.estimate == "pm_np_lmm", "ci_low"].notna().all()
    assert cli.main(["multiverse", "--data-dir", str(tmp_path / "d"), "--out", str(out),
                     "--set", "colour=red"]) == 2
    assert "unknown dimension" in capsys.readouterr().err
    assert cli.main(["multiverse", "--data-dir", str(tmp_path / "d"), "--out", str(out),
                     "--vary-mediation", "np_index"]) == 2
    assert "hold only" in capsys.readouterr().err


# ----------------------------------------------------------------------------- mediation
@pytest.mark.parametrize("weighting", ["normalised", "none"])
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
    sid = _spec_id(result.specs, mediation_weighting=weighting, energy_exclusion=energy)
    for e, outcome in (("pm_np_lmm", "lmm"), ("pm_np_smi", "ln_smi")):
        res = mediation.mediate(rows, "ln_mg", "ln_np", outcome, boot=1, cache=False,
                                progress=False, weighting=weighting)
        want = mediation_report.q1q4(res, adults)
        row = result.lookup(e, sid)
        assert row.value == pytest.approx(want.estimate["pm"], rel=1e-8, abs=1e-10)
        assert row.n == want.n
        assert row.ci_low < row.value < row.ci_high and 0 < row.p <= 1
        assert row.is_default == (weighting == "normalised" and energy == "no")


def test_weighting_moves_the_mediation_estimates_only(result):
    assert "mediation_weighting" in result.inert("or_lnmg")
    assert "mediation_weighting" not in result.inert("pm_np_lmm")
    pm = result.rows("pm_np_lmm")
    wide = pm.pivot_table(index=["magnesium", "np_index", "energy_exclusion"],
                          columns="mediation_weighting", values="value")
    assert not np.allclose(wide["none"], wide["normalised"], rtol=1e-6)


def test_mediation_holds_the_costly_dimensions_at_their_default(raw):
    g = {k: [v] for k, v in mv.DEFAULT_SPEC.items()}
    g["covariates"] = ["model3", "model2"]
    res = mv.run(raw, g, workers=1, cache=False, mediation_boot=20)
    assert len(res.rows("or_q4")) == 2 and len(res.rows("pm_np_lmm")) == 1
    assert res.assign["pm_np_lmm"].tolist() == [0, -1]
    assert res.rows("pm_np_lmm")["covariates"].tolist() == ["model3"] and res.mediation_fixed_factor == 2


def test_mediation_can_vary_over_a_held_dimension_on_request(raw, bank):
    """``mediation_fixed`` without ``covariates``: the proportions mediated get a Model 2 row,
    equal to the mediation module's refits with the Model 2 covariates on the same resamples."""
    from nhmg_lib.analyses import mediation
    from nhmg_lib.report import mediation_report
    from nhmg_lib.survey.bootstrap import row_counts

    assert mv.mediation_fixed(["all"]) == () and "covariates" not in mv.mediation_fixed(["covariates"])
    assert mv.mediation_fixed(["vitamin_d,covariates"]) == tuple(
        d for d in mv.MEDIATION_FIXED if d not in ("vitamin_d", "covariates"))
    with pytest.raises(mv.UnknownOptionError, match="hold only"):
        mv.mediation_fixed(["np_index"])
    g = {k: [v] for k, v in mv.DEFAULT_SPEC.items()}
    g["covariates"] = ["model3", "model2"]
    res = mv.run(raw, g, workers=1, cache=False, mediation_boot=40, mediation_seed=2,
                 mediation_fixed=mv.mediation_fixed(["covariates"]))
    assert res.mediation_fixed == mv.mediation_fixed(["covariates"]) and res.mediation_fixed_factor == 1
    rows = res.rows("pm_np_smi")
    assert rows["covariates"].tolist() == ["model3", "model2"] and res.assign["pm_np_smi"].tolist() == [0, 1]
    spec = dict(mv.DEFAULT_SPEC)
    dom = mv_bank.cohort(bank, spec).members & np.isfinite(mv_plan.np_model(bank.get("np", spec), "product"))
    counts = row_counts(bank.n, 40, 2)[:, np.flatnonzero(dom)].astype(float)
    adults = flow.build_cohort(raw, DEFAULT).adults
    a_star, a = mediation_report.quartile_medians(adults)
    data = mediation._frame_data(mediation_report.cohort_rows(adults), "ln_mg", "ln_np", "ln_smi",
                                 mv.COVARIATE_SETS["model2"], "weight", None)
    full, _, _ = mediation._fit(data, "gaussian", np.ones((1, data.n)), ("full",))
    draws, failed, _ = mediation._fit(data, "gaussian", counts, ("boot",))
    est, lo, hi, _, _, _ = mediation._summarise(full, draws, failed, "gaussian", a, a_star, 0.0, True, True)
    m2 = rows.iloc[1]
    assert (m2.value, m2.ci_low, m2.ci_high) == pytest.approx((est["pm"], lo["pm"], hi["pm"]), rel=1e-8)
    assert m2.value != pytest.approx(rows.iloc[0].value, rel=1e-3)
    assert "covariates" not in {d for d in mv.MEDIATION_FIXED if d in res.inert("pm_np_smi")}


def test_mediation_bootstrap_refits_the_same_resamples_as_the_mediation_chapter(raw, bank):
    """The CI of the default specification is the mediation module's own refit of both models
    in each of the same 1,000 resamples: the same limits and p (a first-order shortcut, used
    before, was up to 0.12 of the CI width away on these data)."""
    from nhmg_lib.analyses import mediation
    from nhmg_lib.report import mediation_report
    from nhmg_lib.survey.bootstrap import row_counts

    B = 1000
    one = {k: [v] for k, v in mv.DEFAULT_SPEC.items()}
    res = mv.run(raw, one, workers=1, cache=False, mediation_boot=B, mediation_seed=4).default_rows()
    spec = dict(mv.DEFAULT_SPEC)
    dom = mv_bank.cohort(bank, spec).members & np.isfinite(mv_plan.np_model(bank.get("np", spec), "product"))
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
        assert (r.ci_low, r.ci_high) == pytest.approx((lo["pm"], hi["pm"]), rel=1e-8, abs=1e-8 * width)
        assert r.p == p["pm"]


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
