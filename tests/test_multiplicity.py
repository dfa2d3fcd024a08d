"""Holm and Benjamini-Hochberg adjustment against R ``p.adjust`` and by hand."""

from __future__ import annotations

import numpy as np
import pytest

from nhmg_lib.analyses.multiplicity import p_adjust
from rhelpers import require_r, run_r

P = [0.012, 0.0004, np.nan, 0.31, 0.049, 0.049, 0.88, 0.0031, 1e-9, 0.5, 0.02, 0.07, 0.2, 0.64]


def test_holm_and_bh_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04: Holm 3*0.01, 2*0.03, max(0.06, 1*0.04); BH min over the tail
    assert p_adjust([0.04, 0.01, 0.03], "holm").tolist() == pytest.approx([0.06, 0.03, 0.06])
    assert p_adjust([0.04, 0.01, 0.03], "bh").tolist() == pytest.approx([0.04, 0.03, 0.04])
    assert p_adjust([0.6, 0.9], "holm").tolist() == [1.0, 1.0]
    out = p_adjust([np.nan, 0.2], "bh")
    assert np.isnan(out[0]) and out[1] == 0.2
    with pytest.raises(ValueError, match="choose one of"):
        p_adjust([0.1], "bonferroni")


@pytest.mark.r
def test_equals_r_p_adjust() -> None:
    require_r(("jsonlite",))
    ref = run_r('library(jsonlite); p <- as.numeric(fromJSON("p.json"))\n'
                'cat(toJSON(list(holm = p.adjust(p, "holm"), bh = p.adjust(p, "BH")), digits = NA,'
                ' na = "null"), file = "out.json")',
                {"p.json": [None if np.isnan(v) else v for v in P]})
    for method, key in (("holm", "holm"), ("bh", "bh")):
        r = np.array([np.nan if v is None else v for v in ref[key]], float)
        np.testing.assert_allclose(p_adjust(P, method), r, rtol=1e-14, equal_nan=True)
