"""Restricted cubic splines against ``rms::rcs`` and the Model 3 spline fit against R ``svyglm``.

One Rscript run (tests/r/splines_ref.R) serves the module: knots and basis columns of several
vectors (ordinary, n < 100, a heavily tied minimum, few unique values, 4 and 5 knots), and the
LMM / ln SMI spline fits with ``regTermTest`` over ``subset(design, in_cohort == 1)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from nhmg_lib.report.spline_curves import spline_figure
from nhmg_lib.analyses.splines import (
    SplineError, dose_response, fit_spline, rcs_basis, rcs_knots, records, weighted_quantile,
)
from rhelpers import make_adults_frame, require_r, run_r

SCRIPT = Path(__file__).parent / "r" / "splines_ref.R"
R_PKGS = ("survey", "rms", "jsonlite")
REL = 1e-6


def spline_vectors() -> dict[str, tuple[np.ndarray, int]]:
    """Vectors exercising every branch of rcspline.eval's knot placement (name -> (x, nk))."""
    rng = np.random.default_rng(7)
    tied = np.r_[np.zeros(40), rng.gamma(2.0, 3.0, 260)]
    return {
        "normal3": (rng.normal(5.7, 0.4, 500), 3),
        "normal4": (rng.normal(0, 1, 300), 4),
        "normal5": (rng.lognormal(0, 0.5, 400), 5),
        "small": (rng.normal(10, 2, 40), 3),
        "tied_min": (tied, 4),
        "few_unique": (rng.integers(1, 6, 200).astype(float), 3),
    }


def adults() -> pd.DataFrame:
    return make_adults_frame(n=4000, n_strata=40, seed=11, domain_share=0.6)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return adults()


@pytest.fixture(scope="module")
def r_ref(frame: pd.DataFrame) -> dict:
    require_r(R_PKGS)
    vec = spline_vectors()
    grid = np.linspace(5.0, 6.4, 15)
    params = {"vectors": {k: v[0].tolist() for k, v in vec.items()},
              "nk": {k: v[1] for k, v in vec.items()},
              "grid": grid.tolist(), "covariates": list(MODEL3_COVARIATES)}
    out = run_r(SCRIPT.read_text(), {"adults.csv": frame, "params.json": params})
    out["grid"] = grid
    return out


@pytest.mark.r
@pytest.mark.parametrize("name", list(spline_vectors()))
def test_knots_and_basis_match_rms(r_ref: dict, name: str) -> None:
    x, nk = spline_vectors()[name]
    ref = r_ref["vectors"][name]
    knots = rcs_knots(x, nk)
    np.testing.assert_allclose(knots, ref["knots"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rcs_basis(x, knots), np.asarray(ref["basis"]), rtol=1e-10, atol=1e-10)


@pytest.mark.r
@pytest.mark.parametrize("outcome", ["lmm", "ln_smi"])
def test_spline_fit_matches_svyglm_regtermtest(frame: pd.DataFrame, r_ref: dict, outcome: str) -> None:
    sf = fit_spline(frame, outcome, x=r_ref["grid"])
    ref = r_ref[outcome]
    np.testing.assert_allclose(sf.knots, r_ref["knots"], rtol=1e-12)
    assert sf.reference == pytest.approx(r_ref["reference"], rel=1e-12)
    names = ["ln_mg", "ln_mg_nl1"]
    np.testing.assert_allclose(sf.fit.params[names], ref["coef"], rtol=REL)
    np.testing.assert_allclose(sf.fit.se[names], ref["se"], rtol=REL)
    assert sf.fit.df_resid == ref["df_resid"]
    assert sf.p_overall == pytest.approx(ref["p_overall"], rel=REL)
    assert sf.overall.F == pytest.approx(ref["F_overall"], rel=REL)
    assert sf.overall_chisq.chisq == pytest.approx(ref["chisq_overall"], rel=REL)
    assert sf.overall_chisq.p == pytest.approx(ref["p_overall_chisq"], rel=REL)
    assert sf.p_nonlinear == pytest.approx(ref["p_nonlinear"], rel=REL)
    assert sf.nonlinear_chisq.chisq == pytest.approx(ref["chisq_nonlinear"], rel=REL)
    assert sf.nonlinear_chisq.p == pytest.approx(ref["p_nonlinear_chisq"], rel=REL)
    link = np.log if outcome == "lmm" else (lambda v: v)
    np.testing.assert_allclose(link(sf.curve["estimate"]), ref["eta"], rtol=REL, atol=1e-12)
    np.testing.assert_allclose(link(sf.curve["lo"]), ref["lo"], rtol=REL, atol=1e-12)
    np.testing.assert_allclose(link(sf.curve["hi"]), ref["hi"], rtol=REL, atol=1e-12)


def test_curve_is_one_at_reference_and_records(frame: pd.DataFrame) -> None:
    fits = dose_response(frame)
    lmm = fits["lmm"]
    at_ref = lmm.predict([lmm.reference])
    assert at_ref["estimate"].iloc[0] == pytest.approx(1.0)
    assert at_ref["lo"].iloc[0] == pytest.approx(1.0)
    assert list(lmm.curve.columns) == ["x", "estimate", "lo", "hi", "se"]
    ids = [r["id"] for r in records(fits)]
    assert ids == ["fig2/lmm/p_overall", "fig2/lmm/p_nonlinear",
                   "fig2/smi/p_overall", "fig2/smi/p_nonlinear"]
    assert "P nonlinear" in lmm.summary()
    both = spline_figure(fits)                       # matplotlib for the PDF, plotly for HTML
    assert len(both.plotly.data) == 4 and len(both.mpl.axes) == 2
    assert "image/png" in both._repr_mimebundle_()


def test_interactive_spline_has_knots_room_for_the_toolbar_and_stacks_on_a_phone(frame: pd.DataFrame) -> None:
    fits = dose_response(frame)
    fig = spline_figure(fits)
    lay = fig.plotly.layout
    # the knots as ticks on each panel's x axis, as in the static figure (caption: "knots")
    for axis, key in (("x", "lmm"), ("x2", "smi")):
        ticks = sorted(s.x0 for s in lay.shapes if s.xref == axis and s.y1 is not None and s.y1 <= 0.1)
        np.testing.assert_allclose(ticks, sorted(fits[key].knots))
    # the panel titles sit below the toolbar (about 30 px at the top of the figure)
    assert lay.margin.t >= 60
    # on a phone the panels are stacked, full width, without overlap
    narrow = fig.narrow
    assert narrow["xaxis.domain"] == [0.0, 1.0] and narrow["xaxis2.domain"] == [0.0, 1.0]
    top, bottom = narrow["yaxis.domain"], narrow["yaxis2.domain"]
    assert bottom[1] < top[0] and top[1] == 1.0 and bottom[0] == pytest.approx(0.0, abs=1e-9)
    assert narrow["annotations[1].y"] == bottom[1] and narrow["height"] > lay.height


def test_weighted_quantile_is_inverse_weighted_cdf() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=50)
    w = rng.integers(1, 5, 50)
    probs = [0.1, 0.5, 0.9]
    expected = np.quantile(np.repeat(x, w), probs, method="inverted_cdf")
    np.testing.assert_allclose(weighted_quantile(x, w, probs), expected)
    knots = rcs_knots(x, 3, weights=w.astype(float))
    np.testing.assert_allclose(knots, expected)


def test_basis_linear_beyond_outer_knots_and_errors() -> None:
    knots = [1.0, 2.0, 4.0]
    x = np.array([5.0, 6.0, 7.0])
    nl = rcs_basis(x, knots)[:, 1]
    assert np.diff(nl, 2) == pytest.approx([0.0], abs=1e-12)
    assert np.isnan(rcs_basis([np.nan], knots)).all()
    with pytest.raises(SplineError, match="strictly increasing"):
        rcs_basis(x, [1.0, 1.0, 2.0])
    with pytest.raises(SplineError, match="< 6"):
        rcs_knots([1.0, 2.0, 3.0])
