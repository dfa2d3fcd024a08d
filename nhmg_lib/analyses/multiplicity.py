"""Multiple-testing adjustment of a family of P values, as R's ``p.adjust``.

``holm``: Holm's step-down (family-wise error rate); ``bh``: Benjamini-Hochberg step-up
(false discovery rate). Missing or non-finite P values are left out of the family and stay
missing (R drops NA and counts only the others).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["p_adjust", "METHODS"]

METHODS: tuple[str, ...] = ("holm", "bh")


def p_adjust(p: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjusted P values in the order given (R ``p.adjust(p, method)``, ``"BH"`` as ``"bh"``)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}; choose one of {list(METHODS)}")
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    if method == "holm":
        order = np.argsort(q, kind="stable")
        adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
    else:
        order = np.argsort(q, kind="stable")[::-1]
        adj = np.minimum.accumulate(m / np.arange(m, 0, -1) * q[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out
