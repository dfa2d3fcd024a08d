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
from scipy import linalg

from nhmg_lib.survey.glm import _logit_inv, _logit_mu_eta

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


def _logistic_score(coef: np.ndarray, Xs: np.ndarray, y: np.ndarray, V: np.ndarray,
                    mu: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Scores ``(V * (y - mu)) @ Xs`` of logistic fits ``coef`` (rows: fits), with the fitted
    probabilities ``mu = 1 / (1 + exp(-coef @ Xs.T))`` left in ``mu`` and the weighted
    residuals in ``r`` (both reused buffers, written in place)."""
    np.matmul(coef, Xs.T, out=mu)
    with np.errstate(over="ignore"):  # exp overflow gives mu = 0, the right limit
        np.negative(mu, out=mu)
        np.exp(mu, out=mu)
        mu += 1.0
        np.reciprocal(mu, out=mu)
    np.subtract(y, mu, out=r)
    r *= V
    return r @ Xs


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
        score = _logistic_score(ba, Xs, y, Va, mu, r)
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


# ----------------------------------------------------------------------------- model paths
@dataclass(frozen=True)
class PathFit:
    """Fits of the models ``[X, columns[k]]`` (k = 0..K-1) for ``B`` weight vectors each.

    ``coef[k, b]`` has the ``X`` coefficients first and the path column's last (original
    scale); ``deviance[k, b]`` is the weighted deviance with weights ``prior * mult[b]``
    (binomial: ``-2`` x log-likelihood; gaussian: the weighted residual sum of squares), the
    quantity a grid search over ``k`` minimises. Failed fits are NaN and flagged.
    """

    family: str
    coef: np.ndarray        #: ``(K, B, p + 1)``
    deviance: np.ndarray    #: ``(K, B)``
    converged: np.ndarray   #: ``(K, B)`` bool
    n_iter: np.ndarray      #: ``(K, B)`` iterations (1 for WLS)


def _path_columns(X: np.ndarray, columns: np.ndarray) -> np.ndarray:
    columns = np.atleast_2d(np.asarray(columns, dtype=np.float64))
    if columns.shape[1] != X.shape[0] or not np.all(np.isfinite(columns)):
        raise ValueError(f"columns must be finite, shape (K, {X.shape[0]}); got {columns.shape}")
    return columns


def wls_path(X: np.ndarray, columns: np.ndarray, y: np.ndarray, prior: np.ndarray,
             mult: np.ndarray | None = None, chunk: int = 250) -> PathFit:
    """:func:`wls` of ``[X, columns[k]]`` for every ``k`` and every row of ``mult``."""
    X, y, prior, mult = _prepare(X, y, prior, mult)
    columns = _path_columns(X, columns)
    K, B = columns.shape[0], mult.shape[0]
    coef = np.full((K, B, X.shape[1] + 1), np.nan)
    dev = np.full((K, B), np.nan)
    conv = np.zeros((K, B), dtype=bool)
    for k in range(K):
        fit = wls(np.column_stack([X, columns[k]]), y, prior, mult, chunk=chunk)
        coef[k], conv[k] = fit.coef, fit.converged
        dev[k] = np.where(fit.converged, fit.sigma2 * fit.df_resid, np.nan)
    return PathFit("gaussian", coef, dev, conv, np.ones((K, B), dtype=np.int64))


def logistic_path(X: np.ndarray, columns: np.ndarray, y: np.ndarray, prior: np.ndarray,
                  mult: np.ndarray | None = None, start: np.ndarray | None = None,
                  tol: float = 1e-12, max_iter: int = 60, chunk: int | None = None,
                  progress: Progress | None = None) -> PathFit:
    """:func:`logistic` of ``[X, columns[k]]`` for every ``k`` and every row of ``mult``.

    A grid search refits a model that changes in one column from one candidate to the next
    (a hinge ``(x - K)_+`` for the breakpoint ``K``), so every resample walks along the path:

    * the fit at ``k`` starts from its fit at ``k - 1`` moved by the change of the
      unit-weight (full-sample) fit from ``k - 1`` to ``k``, which carries the jumps the
      hinge makes as it passes data points (without a full-sample path: the linear
      extrapolation of the fits at ``k - 1`` and ``k - 2``), and
    * keeps the inverse Hessian of the previous candidate (chord steps); the Hessian is
      recomputed only when a step is large or the chord iterations slow down.

    A grid search needs the deviance of every fit, so a fit stops when its Newton decrement
    ``score' H^-1 score`` (the deviance above the minimum, to second order) is below
    ``tol`` times the sum of its weights: the deviance is then exact to that tolerance and
    the coefficients to ``sqrt(tol * sum(w))`` of a standard error (about 1e-4 SE at
    ``n = 6000`` with weights scaled to mean 1), far below bootstrap Monte Carlo error. The
    returned coefficients take the last Newton/chord step. Separation and failure are
    judged per fit as in :func:`logistic`. ``start`` (``p + 1``, original scale) seeds the
    first candidate.
    """
    X, y, prior, mult = _prepare(X, y, prior, mult)
    columns = _path_columns(X, columns)
    basis = _Basis(X)
    n, p0 = basis.Xs.shape
    if chunk is None:
        # about 2e5 elements per chunk x n working array: in cache for large n, and few
        # Python-level iterations for small n
        chunk = int(np.clip(2e5 // n, 16, 1024))
    p = p0 + 1
    K, B = columns.shape[0], mult.shape[0]
    # The path column is scaled by one number for all k (not centred), so coefficients of
    # neighbouring candidates are on the same scale and extrapolate smoothly.
    cscale = float(np.sqrt(np.mean(columns ** 2))) or 1.0
    Xs = np.empty((n, p))
    Xs[:, :p0] = basis.Xs
    if start is None:
        ybar = np.clip(np.average(y, weights=prior), 1e-6, 1 - 1e-6)
        bs0 = np.zeros(p)
        bs0[basis.icol if basis.icol >= 0 else 0] = np.log(ybar / (1 - ybar)) / basis.icept
    else:
        start = np.asarray(start, dtype=np.float64)
        bs0 = np.r_[basis.to_standard(start[:p0].copy()), start[p0] * cscale]
    coef = np.full((K, B, p), np.nan)
    dev = np.full((K, B), np.nan)
    conv = np.zeros((K, B), dtype=bool)
    iters = np.zeros((K, B), dtype=np.int64)
    # The unit-weight path (the full sample when ``mult`` holds resampling multipliers) is
    # one row, solved first at every candidate, and guides every resample to the next one.
    use_anchor = B > 1
    a_cur, a_prev = bs0[None, :].copy(), np.full((1, p), np.nan)
    a_H = np.full((1, p, p), np.nan)
    anchor_prev = None
    cur = np.tile(bs0, (B, 1))          # standardised solution at the previous candidate
    prev = np.full((B, p), np.nan)      # ... and at the one before
    fitted = np.zeros(B, dtype=bool)    # ``cur`` holds a converged fit (not the seed)
    Hinv = np.full((B, p, p), np.nan)
    for k in range(K):
        Xs[:, p0] = columns[k] / cscale
        Z, iu = _row_products(Xs)
        Z = Z.astype(np.float32)
        anchor = None
        if use_anchor:
            a_guess = 2 * a_cur - a_prev if np.isfinite(a_prev).all() else a_cur
            bs_a, ok_a, _, _, a_H_new = _path_chunk(Xs, Z, iu, y, prior[None, :], a_guess, a_H,
                                                    tol, max_iter)
            if ok_a[0]:
                a_prev, a_cur, a_H, anchor = (a_cur if anchor_prev is not None else a_prev), bs_a, a_H_new, bs_a[0]
            else:
                use_anchor = False     # fall back to extrapolation for the rest of the path
        if anchor is not None:
            # the full-sample path carries the change in k; each resample keeps its offset
            step_a = anchor - anchor_prev if anchor_prev is not None else 0.0
            guess = np.where(fitted[:, None], cur + step_a, anchor)
        else:
            guess = np.where(np.isfinite(prev).all(axis=1, keepdims=True), 2 * cur - prev, cur)
        anchor_prev = anchor
        guess = np.where(np.isfinite(guess).all(axis=1, keepdims=True), guess, bs0)
        for lo in range(0, B, chunk):
            idx = np.arange(lo, min(lo + chunk, B))
            bs, ok, it, d, H = _path_chunk(Xs, Z, iu, y, mult[idx] * prior, guess[idx],
                                           Hinv[idx], tol, max_iter)
            Hinv[idx] = H
            conv[k, idx], iters[k, idx] = ok, it
            dev[k, idx] = np.where(ok, d, np.nan)
            b_orig = np.column_stack([basis.to_original(bs[:, :p0].copy()), bs[:, p0] / cscale])
            coef[k, idx] = np.where(ok[:, None], b_orig, np.nan)
            prev[idx] = np.where((ok & fitted[idx])[:, None], cur[idx], np.nan)
            cur[idx] = np.where(ok[:, None], bs, bs0)
            fitted[idx] = ok
        if progress:
            progress(B)
    return PathFit("binomial", coef, dev, conv, iters)


def _inverse_quiet(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched inverse with a singular matrix flagged, not raised: near-separated fits make
    singular Hessians common along a path, and :func:`_inverse`'s one-at-a-time fallback
    would then dominate. A matrix counts as singular when its smallest eigenvalue is not
    above ``1e-13`` times its largest (float64 noise for these standardised Hessians)."""
    ok = np.all(np.isfinite(G), axis=(1, 2))
    out = np.full_like(G, np.nan)
    if ok.any():
        ev = np.linalg.eigvalsh(G[ok])
        good = ev[:, 0] > 1e-13 * np.abs(ev[:, -1])
        idx = np.flatnonzero(ok)
        ok[idx[~good]] = False
        if good.any():
            out[idx[good]] = np.linalg.inv(G[idx[good]])
    return out, ok


def _path_chunk(Xs: np.ndarray, Z: np.ndarray, iu: tuple[np.ndarray, np.ndarray], y: np.ndarray,
                V: np.ndarray, start: np.ndarray, Hinv: np.ndarray, tol: float, max_iter: int,
                refresh_tol: float = 1e-2, stale_after: int = 4
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Newton/chord iterations for one chunk of one candidate, from per-row ``start`` and
    carried inverse Hessians (NaN rows are recomputed). Returns the solutions, converged
    flags, iterations, deviances (at the last evaluated point) and the inverse Hessians."""
    c, p = V.shape[0], Xs.shape[1]
    bs = start.copy()
    Hinv = Hinv.copy()
    done = np.zeros(c, dtype=bool)
    failed = np.zeros(c, dtype=bool)
    iters = np.zeros(c, dtype=np.int64)
    dev = np.full(c, np.nan)
    active = np.arange(c)
    sumV = V.sum(axis=1)
    buf_mu, buf_r = np.empty_like(V), np.empty_like(V)
    need = ~np.isfinite(Hinv).all(axis=(1, 2))    # rows without a usable inverse Hessian
    refreshed_late = False
    for it in range(1, max_iter + 1):
        k = active.size
        Va = V if k == c else V[active]
        ba = bs[active]
        # In-place on reused buffers: fresh k x n temporaries cost more than the arithmetic.
        mu, r = buf_mu[:k], buf_r[:k]
        score = _logistic_score(ba, Xs, y, Va, mu, r)
        refresh = need[active]
        if it == stale_after and not refreshed_late:
            refresh[:] = True                     # the carried Hessian is too far off
            refreshed_late = True
        if refresh.any():
            rr = np.flatnonzero(refresh)
            w = (mu[rr] * (1.0 - mu[rr]) * Va[rr]).astype(np.float32)
            H_r, ok = _inverse_quiet(_unpack((w @ Z).astype(np.float64), p, iu))
            Hinv[active[rr]] = H_r
            failed[active[rr[~ok]]] = True
            need[active[rr]] = False
        step = np.einsum("bpq,bq->bp", Hinv[active], score)
        new = ba + step
        bs[active] = new
        iters[active] = it
        size = np.abs(step) / (1.0 + np.abs(new))
        # Newton decrement score' H^-1 score: the deviance at ``ba`` exceeds the minimum by
        # about this much, and the coefficients are off by sqrt(it) standard errors.
        decrement = np.einsum("bp,bp->b", score, step)
        finite = np.isfinite(new).all(axis=1) & np.isfinite(size).all(axis=1) & np.isfinite(decrement)
        failed[active[~finite]] = True
        newly = np.flatnonzero(finite & (np.abs(decrement) < tol * sumV[active]))
        if newly.size:
            m = mu[newly]
            edge = np.minimum(m, 1.0 - m) < _EDGE
            separated = np.any(edge & (Va[newly] > 0), axis=1)
            failed[active[newly[separated]]] = True
            done[active[newly[~separated]]] = True
            # deviance at the last evaluated point: y eta - log(1 + e^eta), summed with weights
            e = ba[newly] @ Xs.T
            ll = (Va[newly] * (y * e - np.logaddexp(0.0, e))).sum(axis=1)
            dev[active[newly]] = -2.0 * ll
        # large steps: recompute the Hessian next time (Newton), small ones: keep it (chord)
        big = np.zeros(c, dtype=bool)
        big[active[finite]] = np.any(size[finite] > refresh_tol, axis=1)
        need |= big
        active = np.flatnonzero(~done & ~failed)
        if active.size == 0:
            break
    ok = done & ~failed
    return bs, ok, iters, dev, Hinv


# ============================================================ domain fits (svyglm's glm.fit)
def glm_domains(X: np.ndarray, y: np.ndarray, W: np.ndarray, family: str, maxiter: int = 25,
                tol: float = 1e-8) -> DomainFit:
    """R ``glm.fit`` as :func:`nhmg_lib.survey.glm.svyglm` runs it, for every row of ``W``
    (prior weights; 0 = outside the domain) at once: weights rescaled to mean 1 over the
    domain, R's start, IRLS until the relative deviance change is below ``tol``.

    Unlike :func:`wls`/:func:`logistic` (one fit started from another), each row is a fit of
    its own as ``svyglm`` would run it on that domain, so the coefficients, working weights
    and score weights - what svyglm's sandwich variance is built from - agree with it to
    rounding. ``family``: ``gaussian`` or ``quasibinomial``/``binomial`` (logit link).
    """
    basis = _Basis(X)
    Xs = basis.Xs
    B, n = W.shape
    p = Xs.shape[1]
    inside = W > 0
    Wn = W / (W.sum(axis=1) / np.maximum(inside.sum(axis=1), 1))[:, None]
    Z, iu = _row_products(Xs)

    def solve(ww: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        G = _unpack(ww @ Z, p, iu)
        rhs = (ww * z) @ Xs if z.ndim == 2 else ww @ (Xs * z[:, None])
        ok = np.all(np.isfinite(G), axis=(1, 2)) & np.all(np.isfinite(rhs), axis=1)
        beta = np.full((B, p), np.nan)
        try:
            beta[ok] = np.linalg.solve(G[ok], rhs[ok][..., None])[..., 0]
        except np.linalg.LinAlgError:   # one singular member: find it
            for b in np.flatnonzero(ok):
                try:
                    beta[b] = np.linalg.solve(G[b], rhs[b])
                except np.linalg.LinAlgError:
                    pass
        return beta, np.isfinite(beta).all(axis=1)

    if family == "gaussian":
        beta, ok = solve(Wn, y)
        mu = np.nan_to_num(beta) @ Xs.T
        return DomainFit(basis, np.nan_to_num(beta), Wn, Wn * (y - mu), ok, Z)
    mu = (Wn * y + 0.5) / (Wn + 1)
    eta = np.log(mu / (1 - mu))
    dev_old = _binomial_deviance(y, mu, Wn)
    beta = np.zeros((B, p))
    ww_last = np.zeros((B, n))
    done = np.zeros(B, dtype=bool)
    failed = np.zeros(B, dtype=bool)
    for _ in range(maxiter):
        act = ~done & ~failed
        if not act.any():
            break
        mu_eta = _logit_mu_eta(eta)
        z = eta + (y - mu) / mu_eta
        ww = Wn * mu_eta ** 2 / (mu * (1 - mu))
        new, ok = solve(ww, z)
        failed |= act & ~ok
        upd = act & ok
        ww_last[upd] = ww[upd]
        beta[upd] = new[upd]
        eta[upd] = new[upd] @ Xs.T
        mu[upd] = _logit_inv(eta[upd])
        dev = dev_old.copy()
        dev[upd] = _binomial_deviance(y, mu[upd], Wn[upd])
        failed |= upd & ~np.isfinite(dev)
        done |= upd & (np.abs(dev - dev_old) / (np.abs(dev) + 0.1) < tol)
        dev_old = np.where(upd, dev, dev_old)
    # separation, as svyglm's warning: fitted probabilities numerically 0 or 1 in the domain
    edge = ((mu < _EDGE) | (mu > 1 - _EDGE)) & inside
    conv = done & ~failed & ~edge.any(axis=1)
    score_w = (y - mu) / _logit_mu_eta(eta) * ww_last
    return DomainFit(basis, beta, ww_last, score_w, conv, Z)


@dataclass
class DomainFit:
    """:func:`glm_domains`: coefficients on the standardised columns ``basis.Xs`` (one row
    per domain), the working weights of the last step (the ``A`` of the sandwich), the score
    weights ``(y - mu) / mu.eta * w`` and the convergence flags."""

    basis: _Basis
    beta_s: np.ndarray
    working: np.ndarray
    score_w: np.ndarray
    converged: np.ndarray
    Z: np.ndarray | None = None   #: row products of ``basis.Xs`` (kept: forming them is costly)

    def influence(self, j: int) -> np.ndarray:
        """``(B, n)`` influence of coefficient ``j`` (original scale) of every row, per fit:
        the row ``j`` of ``A^-1`` times each unit's score; zero for fits that fail here
        (``converged`` is updated)."""
        Xs = self.basis.Xs
        B, p = self.beta_s.shape
        iu = np.triu_indices(p)
        Z = _row_products(Xs)[0] if self.Z is None else self.Z
        A = _unpack(self.working @ Z, p, iu)
        ainv_j = np.zeros((B, p))
        for b in np.flatnonzero(self.converged):
            try:
                ainv_j[b] = linalg.cho_solve(linalg.cho_factor(A[b]), np.eye(p)[:, j])
            except (np.linalg.LinAlgError, linalg.LinAlgError):
                self.converged[b] = False
        infl = (ainv_j @ Xs.T) * self.score_w
        return np.where(self.converged[:, None], infl, 0.0) / self.basis.scale[j]

    def coef(self, j: int) -> np.ndarray:
        return self.beta_s[:, j] / self.basis.scale[j]


def _binomial_deviance(y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(y > 0, y * np.log(y / mu), 0.0)
        b = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
    return 2 * np.sum(w * (a + b), axis=1)


def psu_variance(infl: np.ndarray, psu: np.ndarray, psu_stratum: np.ndarray,
                 psu_per_stratum: np.ndarray, inside: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Design-based variance of ``sum(infl[b])`` for every row ``b`` (Taylor linearisation,
    as :meth:`nhmg_lib.survey.design.Design.total_variance` with its default lonely-PSU
    rule): ``infl`` (B, n) influence values of the rows, ``psu`` their PSU codes
    (0..C-1), ``psu_stratum`` the stratum of each PSU, ``inside`` (B, n) the rows of each
    domain. Only the strata a domain reaches count. Returns the PSU totals (B, C), the
    variances, whether a reached stratum has a single PSU, and the design df (PSUs minus
    strata reached)."""
    n = psu.size
    C, H = psu_stratum.size, psu_per_stratum.size
    inc = np.zeros((n, C))
    inc[np.arange(n), psu] = 1.0
    T = infl @ inc
    reach_psu = inside.astype(float) @ inc > 0
    S = np.zeros((C, H))
    S[np.arange(C), psu_stratum] = 1.0
    reach_str = reach_psu.astype(float) @ S > 0
    n_h = np.asarray(psu_per_stratum, dtype=float)
    dev = T - ((T @ S) / n_h)[:, psu_stratum]
    scale = np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 0.0)
    var = ((dev ** 2) * (scale * reach_str)[:, psu_stratum]).sum(axis=1)
    lonely = (reach_str & (n_h == 1)).any(axis=1)
    degf = reach_psu.sum(axis=1) - reach_str.sum(axis=1)
    return T, var, lonely, degf
