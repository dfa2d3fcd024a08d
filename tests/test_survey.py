"""Unit tests of the design object and design-based GLMs (R parity lives in test_r_parity)."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.survey.design import Design, DesignError, LonelyPSUError
from nhmg_lib.errors import NhmgError
from nhmg_lib.survey.glm import (
    ConvergenceWarning, MissingDataWarning, ModelSpecError, SeparationWarning,
    SingularDesignError, build_model_matrix, parse_formula, regterm_test, svyglm,
)
from rhelpers import LEVELS, make_adults_frame


@pytest.fixture(scope="module")
def adults() -> pd.DataFrame:
    return make_adults_frame(3000, n_strata=30, seed=5)


@pytest.fixture(scope="module")
def des(adults) -> Design:
    return Design.from_frame(adults)


def brute_force_variance(strata, psu, scores, lonely="fail"):
    """Textbook stratified with-replacement variance of totals, loop by loop."""
    p = scores.shape[1]
    v = np.zeros((p, p))
    for h in np.unique(strata):
        in_h = strata == h
        psus = np.unique(psu[in_h])
        totals = np.array([scores[in_h & (psu == c)].sum(axis=0) for c in psus])
        n_h = len(psus)
        if n_h == 1:
            if lonely == "adjust":
                v += np.outer(totals[0], totals[0])
            continue
        d = totals - totals.mean(axis=0)
        v += n_h / (n_h - 1) * d.T @ d
    return v


# ---------------------------------------------------------------------- design
def test_design_structure(adults, des):
    assert des.n == len(adults)
    assert des.n_strata == 30 and des.n_psu == 60
    assert (des.psu_per_stratum == 2).all()
    assert des.degf() == 30
    # the generator leaves stratum 103 without domain units and stratum 102 with one PSU
    assert des.degf("in_cohort") == 28
    assert "30 strata" in des.summary()


def test_design_errors(adults):
    with pytest.raises(DesignError, match="not in the frame"):
        Design.from_frame(adults, weights="nope")
    bad = adults.assign(weight=adults["weight"].where(adults.index != 3))
    with pytest.raises(DesignError, match="non-finite"):
        Design.from_frame(bad)
    with pytest.raises(DesignError, match="negative"):
        Design.from_frame(adults.assign(weight=-adults["weight"]))
    with pytest.raises(DesignError, match="not nested"):
        Design.from_frame(adults, nest=False)
    with pytest.raises(DesignError, match="only one primary sampling unit"):
        Design.from_frame(adults.assign(SDMVPSU=1, SDMVSTRA=1))
    with pytest.raises(DesignError, match="lonely_psu"):
        Design.from_frame(adults, lonely_psu="bogus")  # type: ignore[arg-type]
    assert issubclass(DesignError, NhmgError) and issubclass(DesignError, ValueError)


def test_design_not_nested_accepts_unique_psu_ids(adults):
    unique_ids = adults.assign(SDMVPSU=adults["SDMVSTRA"] * 10 + adults["SDMVPSU"])
    a = Design.from_frame(unique_ids, nest=False)
    b = Design.from_frame(adults)
    assert a.n_psu == b.n_psu and a.degf("in_cohort") == b.degf("in_cohort")


def test_total_variance_matches_brute_force_with_zero_scores(des, adults):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(des.n, 3))
    dom = adults["in_cohort"].to_numpy() == 1
    got = des.total_variance(z, dom)
    want = brute_force_variance(adults["SDMVSTRA"].to_numpy(), adults["SDMVPSU"].to_numpy(),
                                np.where(dom[:, None], z, 0.0))
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("policy", ["adjust", "certainty", "remove"])
def test_lonely_psu_policies(policy):
    df = make_adults_frame(1500, n_strata=10, seed=2, lonely_strata=2, holes=False)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(len(df), 2))
    with pytest.raises(LonelyPSUError, match=r"stratum 11[12]"):
        Design.from_frame(df).total_variance(z)
    got = Design.from_frame(df, lonely_psu=policy).total_variance(z)
    want = brute_force_variance(df["SDMVSTRA"].to_numpy(), df["SDMVPSU"].to_numpy(), z,
                                lonely="adjust" if policy == "adjust" else "certainty")
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_lonely_stratum_outside_domain_is_not_an_error():
    df = make_adults_frame(1500, n_strata=10, seed=2, lonely_strata=1, holes=False)
    dom = (df["SDMVSTRA"] != 111).to_numpy()   # as R: strata the domain misses are skipped
    z = np.random.default_rng(1).normal(size=(len(df), 2))
    Design.from_frame(df).total_variance(z, dom)


# ---------------------------------------------------------------------- formulas
def test_parse_formula():
    f = parse_formula("y ~ a:b + a + C(g) + x*z - 1")
    assert f.outcome == "y" and not f.intercept
    assert f.terms == (("a",), ("g",), ("x",), ("z",), ("a", "b"), ("x", "z"))
    assert f.forced_categorical == {"g"}
    with pytest.raises(ModelSpecError, match="no '~'"):
        parse_formula("y + x")


def test_model_matrix_coding(adults):
    mm = build_model_matrix(adults.iloc[:200], "y ~ age + gender + race:age",
                            levels=LEVELS, reference={"race": "Non-Hispanic White"})
    assert mm.columns[:3] == ["Intercept", "age", "gender[T.Female]"]
    assert "race[T.Mexican American]:age" in mm.columns
    assert "race[T.Non-Hispanic White]:age" not in mm.columns
    assert mm.levels["race"][0] == "Non-Hispanic White"
    assert mm.term_columns["race:age"] == list(range(3, 7))
    sub = adults.iloc[:200]
    np.testing.assert_array_equal(mm.X[:, 2], (sub["gender"] == "Female").to_numpy())
    with pytest.raises(ModelSpecError, match="not among its levels"):
        build_model_matrix(sub, ["gender"], levels={"gender": ["Male", "Other"]})
    with pytest.raises(ModelSpecError, match="reference level"):
        build_model_matrix(sub, ["gender"], reference={"gender": "Unknown"})
    with pytest.raises(ModelSpecError, match="missing values"):
        build_model_matrix(adults, ["education"])


# ---------------------------------------------------------------------- fits
def test_gaussian_fit_equals_weighted_least_squares_and_sandwich(des, adults):
    fit = svyglm("ln_smi ~ ln_mg + age + gender", des, domain="in_cohort", levels=LEVELS)
    dom = adults["in_cohort"].to_numpy() == 1
    sub = adults[dom]
    X = np.column_stack([np.ones(dom.sum()), sub["ln_mg"], sub["age"], sub["gender"] == "Female"]).astype(float)
    w = sub["weight"].to_numpy()
    y = sub["ln_smi"].to_numpy()
    beta = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * y))
    np.testing.assert_allclose(fit.params.to_numpy(), beta, rtol=1e-10)
    # sandwich by hand: A^-1 B A^-1 with B from PSU totals, zero scores outside the domain
    ainv = np.linalg.inv(X.T @ (w[:, None] * X))
    scores = np.zeros((len(adults), 4))
    scores[dom] = X * (w * (y - X @ beta))[:, None]
    B = brute_force_variance(adults["SDMVSTRA"].to_numpy(), adults["SDMVPSU"].to_numpy(), scores)
    np.testing.assert_allclose(fit.cov.to_numpy(), ainv @ B @ ainv, rtol=1e-8)
    assert fit.df_resid == des.degf("in_cohort") + 1 - 4
    assert fit.n == dom.sum()


def test_domain_equals_zero_weights_outside(des, adults):
    """A domain fit keeps every PSU; giving out-of-domain units weight 0 is the same thing."""
    dom = adults["in_cohort"].to_numpy() == 1
    zeroed = adults.assign(weight=np.where(dom, adults["weight"], 0.0))
    # IRLS starts from rescaled weights, so the paths differ within the convergence
    # tolerance: converge tightly to compare the estimators themselves
    a = svyglm("lmm ~ ln_mg + age", des, family="quasibinomial", domain="in_cohort", tol=1e-14)
    b = svyglm("lmm ~ ln_mg + age", Design.from_frame(zeroed), family="quasibinomial", tol=1e-14)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9)
    np.testing.assert_allclose(a.cov.to_numpy(), b.cov.to_numpy(), rtol=1e-8)
    assert a.df_resid == b.df_resid


def test_formula_and_matrix_interfaces_agree(des, adults):
    a = svyglm("lmm ~ ln_mg + C(mg_q)", des, family="quasibinomial", domain="in_cohort")
    X = pd.DataFrame({"Intercept": 1.0, "ln_mg": adults["ln_mg"],
                      "q2": (adults["mg_q"] == 2).astype(float), "q3": (adults["mg_q"] == 3).astype(float),
                      "q4": (adults["mg_q"] == 4).astype(float)})
    X[adults["mg_q"].isna()] = np.nan
    b = svyglm((adults["lmm"], X), des, family="quasibinomial", domain=adults["in_cohort"],
               terms={"quartiles": ["q2", "q3", "q4"]})
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.se.to_numpy(), b.se.to_numpy(), rtol=1e-10)
    assert a.wald_test("mg_q").p == pytest.approx(b.wald_test("quartiles").p, rel=1e-10)


def test_result_api(des):
    fit = svyglm("lmm ~ ln_mg + age + race", des, family="quasibinomial", domain="in_cohort",
                 levels=LEVELS)
    ci = fit.conf_int(0.1)
    assert list(ci.columns) == ["lower", "upper"] and (ci["lower"] < fit.params).all()
    assert (fit.conf_int(0.01)["lower"] < ci["lower"]).all()
    t = fit.tidy(exponentiate=True)
    assert list(t.columns) == ["term", "estimate", "se", "statistic", "ci_low", "ci_high", "p", "measure", "label"]
    assert t.loc[1, "estimate"] == pytest.approx(np.exp(fit.params["ln_mg"]))
    assert set(t["measure"]) == {"OR"}
    assert set(fit.tidy()["measure"]) == {"beta"}
    s = fit.summary()
    assert "race[T.Other Race]" in s and "residual df" in s
    w = fit.wald_test("race")
    assert w.df == 4 and w.ddf == fit.df_resid and 0 <= w.p <= 1
    assert regterm_test(fit, ["race[T.Other Hispanic]", "age"]).df == 2
    one = fit.wald_test("ln_mg")
    assert one.p == pytest.approx(fit.pvalues["ln_mg"], rel=1e-10)  # F(1, d) = t_d^2
    lc = fit.lincom({"ln_mg": 1.0})
    assert lc.estimate == pytest.approx(fit.params["ln_mg"]) and lc.se == pytest.approx(fit.se["ln_mg"])
    assert (lc.ci_low, lc.ci_high) == pytest.approx(tuple(fit.conf_int().loc["ln_mg"]))
    with pytest.raises(ModelSpecError, match="not in the model"):
        fit.wald_test("smoking")


def test_nonpositive_residual_df_gives_nan_inference():
    df = make_adults_frame(1500, n_strata=3, seed=3, holes=False)
    fit = svyglm("ln_smi ~ ln_mg + age + race + education", Design.from_frame(df), levels=LEVELS,
                 domain=df["education"].notna().to_numpy())
    assert fit.df_resid <= 0
    assert fit.pvalues.isna().all() and fit.conf_int().isna().all().all()
    assert np.isfinite(fit.se).all()


# ---------------------------------------------------------------------- failure modes
def test_singular_design_names_columns(des, adults):
    data = adults.assign(ln_mg2=2 * adults["ln_mg"])
    with pytest.raises(SingularDesignError, match=r"ln_mg2.*combination of .*ln_mg"):
        svyglm("ln_smi ~ ln_mg + ln_mg2", des, data=data)
    only_men = adults["gender"] == "Male"
    with pytest.raises(SingularDesignError, match="gender.*single level"):
        svyglm("ln_smi ~ gender", des, domain=only_men.to_numpy())
    # a level present in the domain for one factor but aliased by another
    data = adults.assign(sex2=np.where(adults["gender"] == "Male", "M", "F"))
    with pytest.raises(SingularDesignError, match=r"collinear columns \['sex2\[T.M\]'\]|gender\[T.Female\]"):
        svyglm("ln_smi ~ gender + sex2", des, data=data, domain="in_cohort")


def test_separation_is_flagged_not_raised(adults):
    df = adults.assign(sep=(adults["ln_mg"] > 5.7).astype(int))
    d = Design.from_frame(df)
    with pytest.warns(SeparationWarning), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = svyglm("sep ~ ln_mg", d, family="quasibinomial", domain="in_cohort")
    assert fit.separation
    assert "separation" in fit.summary()


def test_nonconvergence_is_flagged(des):
    with pytest.warns(ConvergenceWarning):
        fit = svyglm("lmm ~ ln_mg", des, family="quasibinomial", domain="in_cohort", maxiter=1)
    assert not fit.converged and "did not converge" in fit.summary()


def test_missing_values_in_domain_are_dropped_with_a_warning(des, adults):
    # education is missing only outside the domain: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svyglm("ln_smi ~ education", des, domain="in_cohort", levels=LEVELS)
    data = adults.copy()
    first = np.flatnonzero(adults["in_cohort"].to_numpy() == 1)[:5]
    data.loc[data.index[first], "age"] = np.nan
    with pytest.warns(MissingDataWarning, match="5 domain rows"):
        fit = svyglm("ln_smi ~ age", des, data=data, domain="in_cohort")
    assert fit.n == adults["in_cohort"].sum() - 5 and fit.n_missing == 5


def test_input_errors(des, adults):
    with pytest.raises(ModelSpecError, match="family"):
        svyglm("lmm ~ age", des, family="poisson")  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="domain column"):
        svyglm("lmm ~ age", des, domain="nope")
    with pytest.raises(ModelSpecError, match="no units"):
        svyglm("lmm ~ age", des, domain=np.zeros(des.n, bool))
    with pytest.raises(ModelSpecError, match=r"\[0, 1\]"):
        svyglm("age ~ ln_mg", des, family="quasibinomial")
    with pytest.raises(ModelSpecError, match="not in the data"):
        svyglm("lmm ~ nothing", des)
    with pytest.raises(DesignError, match="0/1"):
        svyglm("lmm ~ age", des, domain=adults["age"].to_numpy())


def test_speed_many_models_on_full_size_frame():
    df = make_adults_frame(22600, n_strata=60, seed=4)
    d = Design.from_frame(df)
    form = ("lmm ~ ln_mg + age + gender + race + pir_cat + education + smoking + drinking"
            " + active + energy + protein + diabetes + hypertension + egfr + vitd")
    t0 = time.perf_counter()
    for _ in range(30):
        svyglm(form, d, family="quasibinomial", domain="in_cohort", levels=LEVELS)
    elapsed = time.perf_counter() - t0
    assert elapsed < 6.0, f"30 Model-3 fits took {elapsed:.1f} s"


def test_infinite_strata_or_psu_codes_are_an_error_with_their_count():
    import numpy as np
    import pytest

    from nhmg_lib.survey.design import Design, DesignError

    strata = np.array([1.0, 1.0, 2.0, 2.0])
    with pytest.raises(DesignError, match=r"2 row\(s\) with an infinite value in design column 'SDMVPSU'"):
        Design.from_arrays(strata, np.array([1.0, np.inf, np.inf, 2.0]), np.ones(4),
                           names=("SDMVSTRA", "SDMVPSU", "weight"))
