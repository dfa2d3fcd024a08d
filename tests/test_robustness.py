"""Robustness specifications, the specification run and E-values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nhmg_lib.cohort import flow
from nhmg_lib.analyses import mediation, models, robustness
from nhmg_lib.data import readers, synthetic
from nhmg_lib.cohort.definitions import DEFAULT, OPTIONS, Definitions
from nhmg_lib.report import robustness_report
from nhmg_lib.report.figures import BookFigure
from nhmg_lib.report.tables import PublicationTable


# ----------------------------------------------------------------------------- specifications
def test_specifications_cover_every_alternative_once():
    specs = robustness.specifications()
    assert specs[0].name == "default" and specs[0].setting == DEFAULT
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    expected = {f"{k}={v}" for k, opts in robustness.OPTIONS_ALL.items() for v in list(opts)[1:]}
    assert set(names[1:]) == expected
    assert len(specs) == 1 + sum(len(o) - 1 for o in robustness.OPTIONS_ALL.values())
    for s in specs[1:]:
        if s.field in OPTIONS:
            assert isinstance(s.setting, Definitions)
            assert s.setting.changed_from_default() == {s.field: s.value}
            assert s.description == OPTIONS[s.field][s.value]
        else:
            assert isinstance(s.setting, robustness.AnalysisOption)
            assert s.defs == DEFAULT and s.analysis(s.field) == s.value


def test_analysis_options_and_defaults():
    assert list(robustness.ANALYSIS_OPTIONS) == ["spline_knots", "mediation_bootstrap",
                                                 "mediation_weights"]
    assert list(robustness.ANALYSIS_OPTIONS["mediation_bootstrap"]) == ["rows", "design"]
    assert list(robustness.ANALYSIS_OPTIONS["mediation_weights"]) == list(mediation.WEIGHTINGS)
    default = robustness.specifications()[0]
    assert default.analysis("spline_knots") == "unweighted"
    assert default.analysis("mediation_bootstrap") == "rows"
    assert default.analysis("mediation_weights") == "normalised"
    with pytest.raises(ValueError):
        robustness.AnalysisOption("spline_knots", "sometimes")


# ----------------------------------------------------------------------------- E-values
def test_e_value_hand_computed():
    assert robustness.e_value(2.0).estimate == pytest.approx(2 + math.sqrt(2), abs=1e-12)
    assert robustness.e_value(2.0).ci is None
    rr = 1 / 0.33                                       # OR < 1 is inverted
    assert robustness.e_value(0.33).estimate == pytest.approx(rr + math.sqrt(rr * (rr - 1)))
    assert robustness.e_value(0.33).estimate == pytest.approx(5.5107, abs=1e-4)  # 3.0303 + 2.4804
    assert robustness.e_value(1.0).estimate == pytest.approx(1.0)
    assert robustness.e_value(0.5).estimate == pytest.approx(robustness.e_value(2.0).estimate)


def test_e_value_ci_limit_closest_to_one():
    ev = robustness.e_value(0.38, 0.15, 0.94)
    assert ev.ci == pytest.approx(1 / 0.94 + math.sqrt(1 / 0.94 * (1 / 0.94 - 1)))
    ev = robustness.e_value(3.9, 1.8, 8.4)              # VanderWeele & Ding: lower limit 1.8
    assert ev.estimate == pytest.approx(3.9 + math.sqrt(3.9 * 2.9))
    assert ev.ci == pytest.approx(3.0, abs=1e-12)       # 1.8 + sqrt(1.8 * 0.8) = 3.0
    assert robustness.e_value(0.6, 0.3, 1.2).ci == 1.0  # CI includes 1
    assert robustness.e_value(1.5, 0.9, 2.5).ci == 1.0
    assert robustness.e_value(0.5, ci_high=0.8).ci == pytest.approx(
        1.25 + math.sqrt(1.25 * 0.25))


def test_e_value_common_outcome_and_errors():
    # common outcome: RR ~ sqrt(OR)
    assert robustness.e_value(4.0, rare=False).estimate == pytest.approx(2 + math.sqrt(2))
    with pytest.raises(ValueError):
        robustness.e_value(0.0)
    with pytest.raises(ValueError):
        robustness.e_value(2.0, 3.0, 1.5)


# ----------------------------------------------------------------------------- run
@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    d = tmp_path_factory.mktemp("synthetic")
    synthetic.write_synthetic(d, seed=3, scale=0.5)
    return readers.load_raw(d, cache=False)


@pytest.fixture(scope="module")
def result(raw):
    specs = [s for s in robustness.specifications()
             if s.name in ("default", "magnesium=total", "np_index=score",
                           "spline_knots=weighted", "mediation_bootstrap=design",
                           "mediation_weights=raw", "mediation_weights=none")]
    return robustness.run(raw, specs, boot=30, seed=2, cache=False)


def test_run_default_matches_direct_fit(raw, result):
    adults = flow.build_cohort(raw, DEFAULT).adults
    fit = models.fit_exposure_model(adults, "lmm", "quartiles", 3)
    t = fit.tidy(exponentiate=True).set_index("term").loc["mg_q[T.4]"]
    d = result.frame.loc["default"]
    assert d.or_q4 == pytest.approx(t.estimate, rel=1e-10)
    assert (d.or_q4_lo, d.or_q4_hi) == pytest.approx((t.ci_low, t.ci_high), rel=1e-10)
    assert d.n == int((adults["in_cohort"] == 1).sum())


def test_run_frame_shape_and_options(result):
    f = result.frame
    assert list(f.index) == ["default", "np_index=score", "magnesium=total",
                             "spline_knots=weighted", "mediation_bootstrap=design",
                             "mediation_weights=raw", "mediation_weights=none"]
    for key in robustness.ESTIMATES:
        assert key in f.columns
    for key in ("or_q4", "or_lnmg", "beta_q4", "pm_np_lmm", "pm_np_smi"):
        g = f[f[key].notna()]
        assert (g[f"{key}_lo"] <= g[key]).all() and (g[key] <= g[f"{key}_hi"]).all()
    # only raw weights may leave a proportion undefined: sigma^2 on the scale of the weights
    # makes the logistic NDE overflow at the Q1 -> Q4 contrast
    assert set(f.index[f[["pm_np_lmm", "pm_np_smi"]].isna().any(axis=1)]) <= {"mediation_weights=raw"}
    assert f["p_nonlinear"].between(0, 1).all()
    d = f.loc["default"]
    # analysis options reuse the default cohort: the model estimates repeat the default's
    for name in ("spline_knots=weighted", "mediation_bootstrap=design", "mediation_weights=raw",
                 "mediation_weights=none"):
        assert f.loc[name, "or_q4"] == d.or_q4 and f.loc[name, "beta_q4"] == d.beta_q4
        assert not f.loc[name, "rebuilds_cohort"]
    # the design bootstrap changes the CIs, not the point estimate
    md = f.loc["mediation_bootstrap=design"]
    assert md.pm_np_lmm == pytest.approx(d.pm_np_lmm)
    assert (md.pm_np_smi_lo, md.pm_np_smi_hi) != (d.pm_np_smi_lo, d.pm_np_smi_hi)
    # raw weights change only sigma^2 (the logistic NDE); no weights change every fit
    raw_w, none_w = f.loc["mediation_weights=raw"], f.loc["mediation_weights=none"]
    assert raw_w.pm_np_smi == pytest.approx(d.pm_np_smi, rel=1e-12)
    assert raw_w.pm_np_lmm != pytest.approx(d.pm_np_lmm, rel=1e-6)
    assert none_w.pm_np_smi != pytest.approx(d.pm_np_smi, rel=1e-6)
    # total magnesium changes the exposure; the NP score changes only the mediation
    assert f.loc["magnesium=total", "or_q4"] != d.or_q4
    assert f.loc["np_index=score", "pm_np_smi"] != d.pm_np_smi
    assert f.loc["magnesium=total", "rebuilds_cohort"]


def test_a_chapter_starting_point_moves_the_default_row_and_the_alternatives(raw, result):
    """The parameters cell's weighting and energy exclusion reach the robustness run: with
    unweighted mediation models as the start, "default" is the old "mediation_weights=none"
    row and normalised weights become an alternative; with the energy exclusion on, every
    cohort is the energy-plausible domain of the same design."""
    from nhmg_lib.book.parameters import ChapterParameters

    params = ChapterParameters(weighting="none", energy_exclusion=True, resamples=30)
    specs = params.robustness_specs()
    names = [s.name for s in specs]
    assert "mediation_weights=normalised" in names and "mediation_weights=none" not in names
    assert specs[0].analysis("mediation_weights") == "none" and "unweighted" in specs[0].description
    assert next(s for s in specs if s.name == "spline_knots=weighted").analysis("mediation_weights") == "none"
    with pytest.raises(ValueError, match="unknown analysis option"):
        robustness.specifications(DEFAULT, {"mediation_weights": "heavy"})
    seen = {}
    monkey = pytest.MonkeyPatch()
    monkey.setattr(robustness, "run", lambda raw, specs, **kw: seen.update(specs=specs, **kw))
    params.robustness(raw)
    monkey.undo()
    assert seen["energy_exclusion"] is True and seen["boot"] == 30 and seen["specs"] == specs
    keep = [s for s in specs if s.name in ("default", "mediation_weights=normalised")]
    moved = robustness.run(raw, keep, boot=30, seed=2, energy_exclusion=True, cache=False)
    plain = robustness.run(raw, keep, boot=30, seed=2, energy_exclusion=False, cache=False)
    f, before = moved.frame, result.frame
    # without the exclusion, the start's default row is the book's "unweighted" row
    assert plain.frame.loc["default", "pm_np_lmm"] == before.loc["mediation_weights=none", "pm_np_lmm"]
    assert plain.frame.loc["mediation_weights=normalised", "pm_np_lmm"] == before.loc["default", "pm_np_lmm"]
    # the exclusion narrows the domain and refits on it
    adults = flow.build_cohort(raw, DEFAULT).adults
    plausible = models.energy_plausible(adults) & (adults["in_cohort"] == 1)
    assert f.loc["default", "n"] == int(plausible.sum()) < before.loc["default", "n"]
    fit = models.fit_exposure_model(adults.assign(in_cohort=plausible.astype(int)), "lmm", "quartiles", 3)
    assert f.loc["default", "or_q4"] == pytest.approx(
        fit.tidy(exponentiate=True).set_index("term").loc["mg_q[T.4]", "estimate"], rel=1e-10)


def test_a_specification_whose_mediation_fails_is_shown_with_the_reason(raw, monkeypatch):
    """Lean mass with bone makes LMM rarer, and on a small sample the mediation's logistic fit
    can separate: the row stays, its proportions read "not estimable" and a footnote says why."""
    def fail(*_a, **_k):
        raise mediation.MediationError("the full-sample fit of ln_np -> lmm failed (separation)")

    monkeypatch.setattr(robustness.mediation, "mediate_block", fail)
    specs = [s for s in robustness.specifications() if s.name in ("default", "lean_mass=with_bone")]
    res = robustness.run(raw, specs, boot=10, seed=2, cache=False)
    f = res.frame
    assert list(f.index) == ["default", "lean_mass=with_bone"]
    assert f["pm_np_lmm"].isna().all() and np.isfinite(f["or_q4"]).all()
    assert f.loc["lean_mass=with_bone", "mediation_failed"].endswith("(separation)")
    assert (res.formatted().iloc[:, -1] == "not estimable").all()
    notes = " ".join(robustness_report.robustness_table(res).footnotes)
    assert "limb lean mass: with bone mineral: the proportions mediated are not estimable (the full-sample fit" in notes


def test_render_figure_and_e_values(result):
    table = robustness_report.robustness_table(result)
    assert isinstance(table, PublicationTable)
    assert "Q4 vs Q1" in table._repr_html_()
    fig = robustness_report.specification_plot(result)
    assert isinstance(fig, BookFigure) and "default" in fig.alt
    assert fig.to_bytes("png")[:4] == b"\x89PNG"
    e = result.e_values()
    d = result.frame.loc["default"]
    assert e["e_value"].iloc[0] == pytest.approx(robustness.e_value(d.or_q4).estimate)
    assert np.all(e["e_value_ci"] >= 1) and np.all(e["e_value"] >= e["e_value_ci"])
    assert isinstance(robustness_report.e_value_table(result), PublicationTable)


def test_mediation_rows_use_the_q1_q4_contrast(raw, result):
    """The NP proportions mediated are those of the Q1 -> Q4 median contrast (the mediation
    chapter's and the multiverse's), not R mediator's a* = 0 -> a = 1."""
    from nhmg_lib.analyses import inflammation

    adults = flow.build_cohort(raw, DEFAULT).adults
    rows = inflammation.with_index_columns(adults[adults["in_cohort"] == 1], DEFAULT,
                                           indices=("np",))
    res = mediation.mediate(rows, mediator="ln_np", outcome="lmm", boot=30, seed=2,
                            cache=False, progress=False)
    x, q = rows["ln_mg"], rows["mg_q"]
    a_star, a = float(x[q == 1].median()), float(x[q == 4].median())
    assert mediation.quartile_medians(rows) == pytest.approx((a_star, a))
    want = res.at(a, a_star, m="mean")
    d = result.frame.loc["default"]
    assert d.pm_np_lmm == pytest.approx(100 * want.estimate["pm"], rel=1e-10)
    assert (d.pm_np_lmm_lo, d.pm_np_lmm_hi) == pytest.approx(
        (100 * want.ci_low["pm"], 100 * want.ci_high["pm"]), rel=1e-10)
    assert d.pm_np_lmm != pytest.approx(100 * res.estimate["pm"], rel=1e-3)
