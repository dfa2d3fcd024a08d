"""Batched WLS and logistic fits against statsmodels, resample by resample."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from nhmg_lib.survey import batched, bootstrap


def _problem(n: int = 1500, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Design with an intercept, badly scaled columns (kcal, age) and 0/1 dummies."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(5.7, 0.4, n), rng.normal(40, 11, n),
                         rng.normal(2000, 700, n), rng.integers(0, 2, (n, 6))])
    eta = -1 + 0.8 * (X[:, 1] - 5.7) - 0.02 * (X[:, 2] - 40) + 3e-4 * (X[:, 3] - 2000) \
        + X[:, 4:] @ np.linspace(-0.4, 0.4, 6)
    y01 = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    ylin = eta + rng.normal(0, 0.5, n)
    w = rng.uniform(500, 40000, n)
    return X, y01, ylin, w


@pytest.fixture(scope="module")
def problem():
    X, y01, ylin, w = _problem()
    mult = bootstrap.row_counts(X.shape[0], 6, seed=11).astype(float)
    return X, y01, ylin, w, mult


def test_wls_matches_statsmodels_per_resample(problem):
    X, _, ylin, w, mult = problem
    fit = batched.wls(X, ylin, w, mult, chunk=4)  # chunk < B exercises the chunk loop
    assert fit.converged.all() and fit.n_failed == 0
    for b in range(mult.shape[0]):
        ref = sm.WLS(ylin, X, weights=w * mult[b]).fit()
        np.testing.assert_allclose(fit.coef[b], ref.params, rtol=1e-8, atol=1e-12)
        # statsmodels' scale with frequency-duplicated rows is R's sigma(lm)^2 when the
        # residual df counts duplicates: compare with the explicit formula.
        resid = ylin - X @ ref.params
        df = mult[b].sum() - X.shape[1]
        np.testing.assert_allclose(fit.sigma2[b], np.sum(w * mult[b] * resid**2) / df, rtol=1e-9)
        assert fit.df_resid[b] == df


def test_wls_without_multipliers_is_one_fit(problem):
    X, _, ylin, w, _ = problem
    fit = batched.wls(X, ylin, w)
    ref = sm.WLS(ylin, X, weights=w).fit()
    np.testing.assert_allclose(fit.coef[0], ref.params, rtol=1e-9)
    np.testing.assert_allclose(fit.sigma2[0], ref.scale, rtol=1e-9)


def test_logistic_matches_statsmodels_glm_per_resample(problem):
    X, y01, _, w, mult = problem
    full = batched.logistic(X, y01, w)
    ref_full = sm.GLM(y01, X, family=sm.families.Binomial(), var_weights=w).fit(tol=1e-13, maxiter=100)
    np.testing.assert_allclose(full.coef[0], ref_full.params, rtol=1e-8, atol=1e-11)
    fit = batched.logistic(X, y01, w, mult, start=full.coef[0], chunk=4)
    assert fit.converged.all()
    assert fit.n_iter.max() < 20
    for b in range(mult.shape[0]):
        ref = sm.GLM(y01, X, family=sm.families.Binomial(),
                     var_weights=w * mult[b]).fit(tol=1e-13, maxiter=100)
        np.testing.assert_allclose(fit.coef[b], ref.params, rtol=1e-8, atol=1e-11)


def test_separated_resample_is_flagged_and_counted():
    # y = 1 exactly when x > 0, except rows 0 and 1 which overlap; a resample without those
    # two rows is completely separated and has no maximum-likelihood estimate.
    rng = np.random.default_rng(5)
    n = 200
    x = rng.normal(0, 1, n)
    x[0], x[1] = 1.5, -1.5
    y = (x > 0).astype(float)
    y[0], y[1] = 0.0, 1.0
    X = np.column_stack([np.ones(n), x])
    mult = np.ones((3, n))
    mult[1, :2] = 0.0          # separated
    mult[2, 2:50] = 2.0        # fine
    fit = batched.logistic(X, y, np.ones(n), mult)
    assert fit.converged.tolist() == [True, False, True]
    assert fit.n_failed == 1
    assert np.isnan(fit.coef[1]).all() and np.isfinite(fit.coef[[0, 2]]).all()
    assert "1 failed" in fit.summary()


def test_singular_resample_is_flagged():
    # A dummy whose only '1' rows are dropped by the resample makes X'WX singular.
    n = 100
    rng = np.random.default_rng(2)
    d = np.zeros(n)
    d[:3] = 1.0
    X = np.column_stack([np.ones(n), rng.normal(size=n), d])
    y = X[:, 1] + rng.normal(size=n)
    mult = np.ones((2, n))
    mult[1, :3] = 0.0
    fit = batched.wls(X, y, np.ones(n), mult)
    assert fit.converged.tolist() == [True, False]
    assert np.isnan(fit.sigma2[1])


def test_shape_and_weight_errors_are_clear():
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="shape mismatch"):
        batched.wls(X, np.ones(4), np.ones(5))
    with pytest.raises(ValueError, match="non-negative"):
        batched.wls(X, np.ones(5), -np.ones(5))


# ----------------------------------------------------------------------------- model paths
def _path_problem():
    X, _, _, w = _problem()
    rng = np.random.default_rng(8)
    x = X[:, 1]
    eta = -1.2 - 2.0 * np.maximum(x - 5.8, 0) + 0.3 * X[:, 4]
    y = (rng.random(x.size) < 1 / (1 + np.exp(-eta))).astype(float)
    grid = np.round(np.arange(5.3, 6.3, 0.05), 2)
    cols = np.maximum(x[None, :] - grid[:, None], 0.0)
    mult = bootstrap.row_counts(x.size, 40, seed=12).astype(float)
    return X, y, w, cols, mult


def test_logistic_path_equals_separate_fits_and_statsmodels():
    """Every (candidate, resample) of the path is the logistic MLE of [X, column k]: the
    coefficients match one-at-a-time fits and statsmodels, the deviance its definition."""
    X, y, w, cols, mult = _path_problem()
    path = batched.logistic_path(X, cols, y, w, mult, chunk=16)
    assert path.coef.shape == (cols.shape[0], 40, X.shape[1] + 1) and path.converged.all()
    for k in (0, 7, cols.shape[0] - 1):
        Xk = np.column_stack([X, cols[k]])
        one = batched.logistic(Xk, y, w, mult)
        np.testing.assert_allclose(path.coef[k], one.coef, rtol=1e-6, atol=1e-8)
        eta = one.coef @ Xk.T
        dev = -2 * ((mult * w) * (y * eta - np.logaddexp(0, eta))).sum(axis=1)
        np.testing.assert_allclose(path.deviance[k], dev, rtol=1e-10)
        ref = sm.GLM(y, Xk, family=sm.families.Binomial(), var_weights=w * mult[3]).fit()
        np.testing.assert_allclose(path.coef[k, 3], ref.params, rtol=1e-6, atol=1e-8)
    assert path.n_iter.mean() < 6          # warm starts along the path keep iterations few


def test_wls_path_equals_separate_fits():
    X, _, ylin, w = _problem()
    _, _, _, cols, mult = _path_problem()
    path = batched.wls_path(X, cols, ylin, w, mult[:5])
    for k in (0, 10):
        one = batched.wls(np.column_stack([X, cols[k]]), ylin, w, mult[:5])
        np.testing.assert_allclose(path.coef[k], one.coef, rtol=1e-10)
        np.testing.assert_allclose(path.deviance[k], one.sigma2 * one.df_resid, rtol=1e-10)
    with pytest.raises(ValueError, match="columns must be finite"):
        batched.wls_path(X, cols[:, :10], ylin, w)
