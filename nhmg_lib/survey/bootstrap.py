"""Bootstrap resamples as frequency multipliers.

A resample is never materialised as a copied data frame. Resample ``b`` is a row vector
``f[b]`` of non-negative multipliers over the rows of the analysis frame; fitting a model with
prior weights ``w * f[b]`` is then the same as fitting it to the resampled data (a row drawn
twice counts twice). That turns 1,000 refits into a few matrix products
(:mod:`nhmg_lib.survey.batched`).

Schemes
-------
``rows``
    Rows drawn with replacement, ``n`` draws per resample: ``f[b]`` are multinomial counts.
    This is what the R package ``mediator`` does (``rsample::bootstraps``), ignoring strata
    and PSUs.
``design``
    Rao-Wu rescaling bootstrap (Rao, Wu & Yue 1992) with ``n_h - 1`` PSUs drawn with
    replacement in each stratum ``h`` of ``n_h`` PSUs. A unit in a PSU drawn ``r`` times gets
    the multiplier ``r * n_h / (n_h - 1)``; it is R ``survey``'s ``"subbootstrap"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from nhmg_lib.errors import NhmgError

Scheme = Literal["rows", "design"]
SCHEMES: tuple[str, ...] = ("rows", "design")

#: Peak bytes a bootstrap here holds per resample and data row: the float64 multipliers (8),
#: a second copy while they are drawn or cut into pieces (8), and the integer work arrays of
#: the draw (4-8). Measured: 20 for mediation, 17-23 for the threshold path
#: (tests/test_bootstrap.py checks the estimate against the measured peak).
BYTES_PER_CELL = 24


class BootstrapMemoryError(NhmgError, ValueError):
    """The resamples asked for cannot fit in the memory available."""


def available_memory() -> int | None:
    """Bytes that can still be allocated without swapping: ``MemAvailable`` (Linux), or the
    room left under a cgroup (container) limit when smaller; ``None`` when unknown."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            found.append(max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def memory_needed(boot: int, n: int, extra_per_resample: int = 0) -> int:
    """Estimated peak bytes of ``boot`` resamples over ``n`` rows (:data:`BYTES_PER_CELL`),
    plus ``extra_per_resample`` (e.g. the coefficients kept per resample)."""
    return int(boot) * (BYTES_PER_CELL * int(n) + int(extra_per_resample))


def require_memory(boot: int, n: int, what: str, *, extra_per_resample: int = 0,
                   available: int | None = None) -> None:
    """Refuse, before anything is allocated, ``boot`` resamples that cannot fit: the error
    gives the estimate, the memory available and the most resamples that fit."""
    avail = available_memory() if available is None else available
    need = memory_needed(boot, n, extra_per_resample)
    if avail is None or need <= avail:
        return
    fits = avail // max(1, memory_needed(1, n, extra_per_resample))
    raise BootstrapMemoryError(
        f"{what}: {boot:,} resamples of {n:,} rows need about {_size(need)} of memory and "
        f"{_size(avail)} is available, enough for about {fits:,} resamples. Use fewer resamples.")


def _size(b: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if b < 1024 or unit == "GiB":
            return f"{b:,.0f} {unit}" if unit == "bytes" else f"{b:,.1f} {unit}"
        b /= 1024
    return f"{b:,.1f} GiB"


def row_counts(n: int, boot: int, seed: int) -> np.ndarray:
    """Multinomial resampling counts, shape ``(boot, n)``, int32; every row sums to ``n``.

    Drawing row indices and counting them (one offset ``bincount`` for all resamples) is
    exactly a multinomial draw and avoids any loop over resamples.
    """
    if n < 1 or boot < 1:
        raise ValueError(f"need n >= 1 and boot >= 1, got n={n}, boot={boot}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(boot, n), dtype=np.int64)
    idx += (np.arange(boot, dtype=np.int64) * n)[:, None]
    counts = np.bincount(idx.ravel(), minlength=boot * n)
    return counts.reshape(boot, n).astype(np.int32)


def rao_wu_multipliers(strata: np.ndarray, psu: np.ndarray, boot: int, seed: int) -> np.ndarray:
    """Rao-Wu rescaled bootstrap multipliers, shape ``(boot, n)``, float64.

    ``strata`` and ``psu`` label each row; PSUs are nested in strata (the PSU label is only
    unique within its stratum, as ``SDMVPSU`` is). A stratum with a single PSU cannot be
    resampled this way and raises ``ValueError``.
    """
    strata, psu = np.asarray(strata), np.asarray(psu)
    if strata.shape != psu.shape or strata.ndim != 1:
        raise ValueError("strata and psu must be 1-D arrays of the same length")
    rng = np.random.default_rng(seed)
    out = np.empty((boot, strata.size), dtype=np.float64)
    # One loop over strata (tens), never over resamples.
    for h in np.unique(strata):
        rows = np.flatnonzero(strata == h)
        labels, cluster = np.unique(psu[rows], return_inverse=True)
        n_h = labels.size
        if n_h < 2:
            raise ValueError(
                f"stratum {h!r} has a single PSU; the Rao-Wu bootstrap needs at least two "
                "PSUs per stratum (collapse strata first)"
            )
        draws = rng.integers(0, n_h, size=(boot, n_h - 1))
        draws += (np.arange(boot) * n_h)[:, None]
        r = np.bincount(draws.ravel(), minlength=boot * n_h).reshape(boot, n_h)
        out[:, rows] = (r * (n_h / (n_h - 1)))[:, cluster]
    return out


def resample_multipliers(scheme: Scheme, n: int, boot: int, seed: int,
                         strata: np.ndarray | None = None,
                         psu: np.ndarray | None = None) -> np.ndarray:
    """Multipliers ``(boot, n)`` for ``scheme`` (see the module docstring)."""
    if scheme == "rows":
        return row_counts(n, boot, seed)
    if scheme == "design":
        if strata is None or psu is None:
            raise ValueError("scheme='design' needs the strata and PSU of every row")
        if len(strata) != n:
            raise ValueError(f"strata has {len(strata)} entries for {n} rows")
        return rao_wu_multipliers(strata, psu, boot, seed)
    raise ValueError(f"unknown bootstrap scheme {scheme!r}; choose one of {list(SCHEMES)}")
