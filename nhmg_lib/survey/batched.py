"""Weighted least squares and logistic regression fitted for many weight vectors at once.

Bootstrap refits differ only in their weights: resample ``b`` fits the same ``X, y`` with
weights ``prior * mult[b]`` (see :mod:`nhmg_lib.survey.bootstrap`). So instead of ``B`` model fits
we form all ``B`` weighted Gram matrices with one matrix product, ``V @ Z``, where ``V`` holds
the weights (``B x n``) and ``Z`` the row-wise products ``x_i x_i'`` (``n x p(p+1)/2``), and
solve ``B`` small ``p x p`` systems in one call.

Numerical care (why the results match statsmodels to 1e-8):

* Columns are centred and scaled before forming the Gram matrix (an exact reparametrisation
  when the design has an intercept), so the normal equations are well conditioned even with
  covariates such as energy intake in kcal next to 0/1 dummies.
* Logistic regression is Newton-Raphson (= IRLS for the canonical link) started from the
  full-sample estimate. Once steps are small the Hessian is kept (chord iterations: only the
  score is recomputed), which converges to the same root at a fraction of the cost; the
  answer is defined by the score being zero, not by the Hessian used to reach it.
* Convergence is checked per resample; a resample that does not converge, separates (a
  fitted probability within 10 machine epsilons of 0 or 1, R's warning limit), has a
  singular Hessian or non-finite values is flagged in ``converged``, never silently kept.

Point estimates equal R ``lm``/``glm(weights = w)`` (binomial or quasibinomial) and
statsmodels ``WLS(weights=w)`` / ``GLM(..., var_weights=w)`` on the resampled data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Progress = Callable[[int], None]
#: Fitted probabilities closer than this to 0 or 1 mean separation (R glm's warning limit).
_EDGE = 10 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class BatchFit:
    """Coefficients of ``B`` fits of one model, on the scale of the original columns."""

    family: str               #: ``"gaussian"`` (WLS) or ``"binomial"`` (logistic)
    coef: np.ndarray          #: ``(B, p)`` coefficients; rows of failed fits are NaN
    converged: np.ndarray     #: ``(B,)`` bool
    n_iter: np.ndarray        #: ``(B,)`` Newton/chord iterations (1 for WLS)
    sigma2: np.ndarray | None = None    #: ``(B,)`` R's ``sigma(lm)^2`` (WLS only)
    df_resid: np.ndarray | None = None  #: ``(B,)`` residual df (WLS only)

    @property
    def n_failed(self) -> int:
        """Number of fits flagged as failed."""
        return int((~self.converged).sum())

    def summary(self) -> str:
        """A one-paragraph description of the batch."""
        B, p = self.coef.shape
        iters = self.n_iter[self.converged]
        it = f", iterations {iters.min()}-{iters.max()}" if iters.size else ""
        return (f"{B} {self.family} fits of {p} coefficients: {B - self.n_failed} converged, "
                f"{self.n_failed} failed{it}")


class _Basis:
    """Centre-and-scale reparametrisation ``Xs = (X - m) / s`` with ``beta = T beta_s``."""

    def __init__(self, X: np.ndarray) -> None:
        sd = X.std(axis=0)
        const = sd == 0
        has_intercept = bool(np.any(const & (X[0] != 0)))
        # Centring is exact only if a constant column can absorb the shift.
        self.mean = np.where(const | (not has_intercept), 0.0, X.mean(axis=0))
        self.scale = np.where(const, 1.0, sd if has_intercept else np.sqrt((X * X).mean(axis=0)))
        self.scale[self.scale == 0] = 1.0
        self.icol = int(np.flatnonzero(const & (X[0] != 0))[0]) if has_intercept else -1
        self.icept = float(X[0, self.icol]) if has_intercept else 1.0
        self.Xs = (X - self.mean) / self.scale

    def to_original(self, bs: np.ndarray) -> np.ndarray:
        b = bs / self.scale
        if self.icol >= 0:
            b[..., self.icol] -= (b * self.mean).sum(axis=-1) / self.icept
        return b

    def to_standard(self, b: np.ndarray) -> np.ndarray:
        bs = b * self.scale
        if self.icol >= 0:
            bs[..., self.icol] = b[..., self.icol] + (b * self.mean).sum(axis=-1) / self.icept
        return bs


def _row_products(Xs: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``Z[i] = upper triangle of x_i x_i'``, so that ``V @ Z`` gives every weighted Gram."""
    iu = np.triu_indices(Xs.shape[1])
    return Xs[:, iu[0]] * Xs[:, iu[1]], iu


def _unpack(flat: np.ndarray, p: int, iu: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    G = np.empty((flat.shape[0], p, p))
    G[:, iu[0], iu[1]] = flat
    G[:, iu[1], iu[0]] = flat
    return G


def _inverse(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched inverse of symmetric positive definite matrices; ``ok`` flags failures.

    numpy raises for the whole batch if one matrix is singular, so that rare case falls back
    to one matrix at a time to find out which resample failed.
    """
    ok = np.all(np.isfinite(G), axis=(1, 2))
    out = np.full_like(G, np.nan)
    try:
        np.linalg.cholesky(G[ok])  # cheap positive-definiteness check for the whole batch
        out[ok] = np.linalg.inv(G[ok])
    except np.linalg.LinAlgError:
        for b in np.flatnonzero(ok):
            try:
                np.linalg.cholesky(G[b])
                out[b] = np.linalg.inv(G[b])
            except np.linalg.LinAlgError:
                ok[b] = False
    return out, ok


def _prepare(X: np.ndarray, y: np.ndarray, prior: np.ndarray, mult: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    mult = np.ones((1, X.shape[0])) if mult is None else np.atleast_2d(np.asarray(mult, dtype=np.float64))
    n = X.shape[0]
    if X.ndim != 2 or y.shape != (n,) or prior.shape != (n,) or mult.shape[1] != n:
        raise ValueError(f"shape mismatch: X {X.shape}, y {y.shape}, prior {prior.shape}, "
                         f"mult {mult.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y)) and np.all(prior >= 0)):
        raise ValueError("X and y must be finite and prior weights non-negative")
    return X, y, prior, mult


def wls(X: np.ndarray, y: np.ndarray, prior: np.ndarray, mult: np.ndarray | None = None,
        chunk: int = 250, progress: Progress | None = None) -> BatchFit:
    """Weighted least squares for every row of ``mult`` (weights ``prior * mult[b]``).

    ``sigma2`` is R's ``sigma(lm)^2``: ``sum(w r^2) / (n_b - p)`` with ``n_b`` the number of
    rows with positive prior weight in the resample (a row drawn twice counts twice).
    """
    X, y, prior, mult = _prepare(X, y, prior, mult)
    basis = _Basis(X)
    Xs = basis.Xs
    n, p = Xs.shape
    # Centring y (exact with an intercept) keeps RSS = y'Wy - b'X'Wy free of cancellation.
    ybar = float(np.average(y, weights=prior)) if basis.icol >= 0 else 0.0
    yc = y - ybar
    Z, iu = _row_products(Xs)
    q = Z.shape[1]
    # One matrix product per chunk gives the Gram matrices, X'Wy, y'Wy and the row counts.
    # The last column, 1/prior where prior > 0, turns (mult * prior) @ Z into the row count.
    count = np.where(prior > 0, 1.0 / np.where(prior > 0, prior, 1.0), 0.0)
    Z = np.hstack([Z, Xs * yc[:, None], (yc * yc)[:, None], count[:, None]])
    B = mult.shape[0]
    coef, sigma2, df = np.full((B, p), np.nan), np.full(B, np.nan), np.zeros(B)
    ok_all = np.zeros(B, dtype=bool)
    for lo in range(0, B, chunk):
        sl = slice(lo, min(lo + chunk, B))
        S = (mult[sl] * prior) @ Z
        Ginv, ok = _inverse(_unpack(S[:, :q], p, iu))
        Xy = S[:, q:q + p]
        bs = np.einsum("bpq,bq->bp", Ginv, Xy)
        rss = S[:, q + p] - np.einsum("bp,bp->b", bs, Xy)
        df[sl] = S[:, q + p + 1] - p
        sigma2[sl] = rss / df[sl]
        ok &= np.all(np.isfinite(bs), axis=1) & (df[sl] > 0)
        if basis.icol >= 0:
            bs[:, basis.icol] += ybar / basis.icept
        coef[sl] = np.where(ok[:, None], basis.to_original(bs), np.nan)
        ok_all[sl] = ok
        if progress:
            progress(sl.stop - sl.start)
    sigma2[~ok_all] = np.nan
    return BatchFit("gaussian", coef, ok_all, np.ones(B, dtype=np.int64), sigma2, df)


def logistic(X: np.ndarray, y: np.ndarray, prior: np.ndarray, mult: np.ndarray | None = None,
             start: np.ndarray | None = None, tol: float = 1e-10, max_iter: int = 60,
             chunk: int = 128, progress: Progress | None = None) -> BatchFit:
    """Logistic regression (prior weights ``prior * mult[b]``) for every row of ``mult``.

    ``start`` (``p``, original scale) defaults to the intercept-only solution; pass the
    full-sample estimate for bootstrap batches. A fit converges when every coefficient step
    (on the standardised scale) is below ``tol * (1 + |coef|)``. Chunks of ``chunk``
    resamples keep the ``chunk x n`` working arrays within the processor's cache.
    """
    X, y, prior, mult = _prepare(X, y, prior, mult)
    basis = _Basis(X)
    Xs = basis.Xs
    n, p = Xs.shape
    Z, iu = _row_products(Xs)
    # The Hessian only steers the iterations (the root is where the float64 score vanishes),
    # so it is formed in float32: half the cost of the dominant matrix product.
    Z = Z.astype(np.float32)
    if start is None:
        ybar = np.clip(np.average(y, weights=prior), 1e-6, 1 - 1e-6)
        bs0 = np.zeros(p)
        bs0[basis.icol if basis.icol >= 0 else 0] = np.log(ybar / (1 - ybar)) / basis.icept
    else:
        bs0 = basis.to_standard(np.asarray(start, dtype=np.float64).copy())
    B = mult.shape[0]
    coef = np.full((B, p), np.nan)
    conv = np.zeros(B, dtype=bool)
    iters = np.zeros(B, dtype=np.int64)
    for lo in range(0, B, chunk):
        idx = np.arange(lo, min(lo + chunk, B))
        bs, c_ok, c_it = _newton_chunk(Xs, Z, iu, y, mult[idx] * prior, bs0, tol, max_iter)
        coef[idx] = np.where(c_ok[:, None], basis.to_original(bs), np.nan)
        conv[idx], iters[idx] = c_ok, c_it
        if progress:
            progress(idx.size)
    return BatchFit("binomial", coef, conv, iters)


def _newton_chunk(Xs: np.ndarray, Z: np.ndarray, iu: tuple[np.ndarray, np.ndarray],
                  y: np.ndarray, V: np.ndarray, bs0: np.ndarray, tol: float, max_iter: int,
                  refresh_tol: float = 1e-2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton/chord iterations for one chunk; only unconverged resamples keep iterating.

    After a step smaller than ``refresh_tol`` the Hessian is frozen: each further (chord) step
    then shrinks the error by roughly that factor, for the price of one score evaluation.
    """
    c, p = V.shape[0], Xs.shape[1]
    bs = np.tile(bs0, (c, 1))
    done = np.zeros(c, dtype=bool)
    failed = np.zeros(c, dtype=bool)
    iters = np.zeros(c, dtype=np.int64)
    active = np.arange(c)
    Hinv = np.empty((c, p, p))
    refresh = True
    # Reused buffers: a fresh B x n array per step costs more in page faults than in flops.
    buf_mu, buf_r = np.empty_like(V), np.empty_like(V)
    for it in range(1, max_iter + 1):
        k = active.size
        Va = V if k == c else V[active]
        ba = bs[active]
        mu, r = buf_mu[:k], buf_r[:k]
        np.matmul(ba, Xs.T, out=mu)
        with np.errstate(over="ignore"):  # exp overflow gives mu = 0, the right limit
            np.negative(mu, out=mu)
            np.exp(mu, out=mu)
            mu += 1.0
            np.reciprocal(mu, out=mu)
        np.subtract(y, mu, out=r)
        r *= Va
        score = r @ Xs
        if refresh:
            np.subtract(1.0, mu, out=r)
            r *= mu
            r *= Va
            Hinv_a, ok = _inverse(_unpack((r.astype(np.float32) @ Z).astype(np.float64), p, iu))
            Hinv[active] = Hinv_a
            failed[active[~ok]] = True
        step = np.einsum("bpq,bq->bp", Hinv[active], score)
        new = ba + step
        bs[active] = new
        iters[active] = it
        size = np.abs(step) / (1.0 + np.abs(new))
        finite = np.isfinite(new).all(axis=1) & np.isfinite(size).all(axis=1)
        failed[active[~finite]] = True
        newly = np.flatnonzero(finite & np.all(size < tol, axis=1))
        if newly.size:
            # Separation: R's "fitted probabilities numerically 0 or 1" (10 eps) at the root.
            edge = np.minimum(mu[newly], 1.0 - mu[newly]) < _EDGE
            separated = np.any(edge & (Va[newly] > 0), axis=1)
            failed[active[newly[separated]]] = True
            done[active[newly[~separated]]] = True
        refresh = bool(np.any(size[finite] > refresh_tol)) if finite.any() else True
        active = np.flatnonzero(~done & ~failed)
        if active.size == 0:
            break
    return bs, done & ~failed, iters
