"""Tests of the Table 2/3/S1/S2 model specifications (R parity of the fits: test_r_parity)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.analyses import models
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from rhelpers import make_adults_frame


@pytest.fixture(scope="module")
def adults() -> pd.DataFrame:
    return make_adults_frame(4000, n_strata=32, seed=21)


def test_energy_plausible_bounds_are_inclusive():
    f = pd.DataFrame({
        "gender": ["Male", "Male", "Male", "Male", "Female", "Female", "Female", "Female", "Male"],
        "energy": [800, 4200, 799.9, 4200.1, 500, 3500, 499, 3501, np.nan],
    })
    assert models.energy_plausible(f).tolist() == [True, True, False, False, True, True, False, False, False]
    with pytest.raises(models.ModelInputError, match="energy"):
        models.energy_plausible(f.drop(columns="energy"))


def test_energy_domain_is_a_subset_of_the_cohort(adults):
    dom = models.energy_domain(adults)
    cohort = adults["in_cohort"].to_numpy() == 1
    assert (dom <= cohort).all() and dom.sum() < cohort.sum()
    assert models.energy_excluded(adults) == cohort.sum() - dom.sum()


def test_model_formulas():
    assert models.model_formula("lmm", "ln_mg", 1) == "lmm ~ ln_mg"
    assert models.model_formula("ln_smi", "quartiles", 2) == "ln_smi ~ C(mg_q) + age + gender + race"
    f3 = models.model_formula("lmm", "trend", 3)
    assert f3.startswith(f"lmm ~ {models.TREND_COLUMN} + ") and all(c in f3 for c in MODEL3_COVARIATES)
    with pytest.raises(models.ModelInputError, match="Models 1, 2 and 3"):
        models.model_formula("lmm", "ln_mg", 4)
    with pytest.raises(models.ModelInputError, match="outcome"):
        models.model_formula("smi", "ln_mg", 1)
    with pytest.raises(models.ModelInputError, match="exposure"):
        models.model_formula("lmm", "tertiles", 1)  # type: ignore[arg-type]


def test_trend_scores_are_domain_medians(adults):
    med = models.quartile_medians(adults, "in_cohort")
    dom = adults[adults["in_cohort"] == 1]
    for q in (1, 2, 3, 4):
        assert med[q] == pytest.approx(dom.loc[dom["mg_q"] == q, "ln_mg"].median())
    assert med.is_monotonic_increasing
    t = models.with_trend_scores(adults, "in_cohort")
    rows = t["in_cohort"] == 1
    np.testing.assert_allclose(t.loc[rows, models.TREND_COLUMN], t.loc[rows, "mg_q"].map(med))
    assert models.TREND_COLUMN not in adults.columns  # input left untouched


def test_fit_uses_model3_covariates_and_reference_levels(adults):
    fit = models.fit_exposure_model(adults, "lmm", "ln_mg", 3)
    for col in ("gender[T.Female]", "race[T.Other Hispanic]", "pir_cat[T.1.39-3.49]",
                "education[T.High school]", "smoking[T.Yes]", "drinking[T.Former]",
                "active[T.Active]", "diabetes[T.Yes]", "hypertension[T.Yes]", "energy", "vitd"):
        assert col in fit.columns
    assert fit.family == "quasibinomial" and fit.n == adults["in_cohort"].sum()
    lin = models.fit_exposure_model(adults, "ln_smi", "quartiles", 1)
    assert lin.family == "gaussian" and lin.columns == ["Intercept", "mg_q[T.2]", "mg_q[T.3]", "mg_q[T.4]"]


def test_table_layout_and_numbers(adults):
    tab = models.exposure_table(adults, "lmm")
    wide = tab.formatted()
    assert list(wide.columns) == ["Model 1", "Model 2", "Model 3"]
    assert list(wide.index) == ["ln-Mg (continuous)", "Q1", "Q2", "Q3", "Q4", "P for trend"]
    assert wide.index.name == "OR (95% CI)"
    assert (wide.loc["Q1"] == "1 (reference)").all()
    fit = tab.fits[(3, "ln_mg")]
    ci = np.exp(fit.conf_int().loc["ln_mg"])
    assert wide.loc["ln-Mg (continuous)", "Model 3"] == f"{np.exp(fit.params['ln_mg']):.2f} ({ci['lower']:.2f}, {ci['upper']:.2f})"
    num = tab.numeric
    assert list(num.columns) == ["model", "row", "estimate", "ci_low", "ci_high", "p", "n"]
    assert num["row"].tolist()[:6] == ["ln_mg", "q1", "q2", "q3", "q4", "p_trend"]
    trend = tab.fits[(2, "trend")]
    assert num.query("model == 2 and row == 'p_trend'")["p"].item() == pytest.approx(
        trend.pvalues[models.TREND_COLUMN])
    smi = models.table_frame(adults, "ln_smi")
    assert smi.index.name == "β (95% CI)" and (smi.loc["Q1"] == "0 (reference)").all()


def test_records_ids_and_scales(adults):
    recs = models.records(adults, "table2")
    ids = [r["id"] for r in recs]
    assert ids == [f"table2/model{m}/{k}" for m in (1, 2, 3) for k in ("ln_mg", "q2", "q3", "q4", "p_trend")]
    assert all(set(r) == {"id", "estimate", "ci_low", "ci_high", "p", "n"} for r in recs)
    fit = models.fit_exposure_model(adults, "lmm", "quartiles", 3)
    q4 = next(r for r in recs if r["id"] == "table2/model3/q4")
    assert q4["estimate"] == pytest.approx(np.exp(fit.params["mg_q[T.4]"]))
    assert q4["ci_low"] < q4["estimate"] < q4["ci_high"]
    assert q4["n"] == adults["in_cohort"].sum()
    beta = models.records(adults, "table3")
    fit = models.fit_exposure_model(adults, "ln_smi", "ln_mg", 2)
    assert beta[5]["id"] == "table3/model2/ln_mg" and beta[5]["estimate"] == pytest.approx(fit.params["ln_mg"])
    s1 = models.records(adults, "tableS1")
    assert s1[0]["id"] == "tableS1/model1/ln_mg"
    assert s1[0]["n"] == models.energy_domain(adults).sum()


def test_all_records_unique_ids(adults):
    recs = models.all_records(adults)
    ids = [r["id"] for r in recs]
    assert len(ids) == 60 == len(set(ids))
    assert {i.split("/")[0] for i in ids} == {"table2", "table3", "tableS1", "tableS2"}


def test_empty_quartile_and_domain_errors(adults):
    no_q3 = adults.assign(mg_q=adults["mg_q"].replace(3, 2))
    with pytest.raises(models.ModelInputError, match="Q3"):
        models.fit_exposure_model(no_q3, "lmm", "quartiles", 1)
    with pytest.raises(models.ModelInputError, match="Q3"):
        models.fit_exposure_model(no_q3, "lmm", "trend", 1)
    with pytest.raises(models.ModelInputError, match="no participants"):
        models.fit_exposure_model(adults.assign(in_cohort=0), "lmm", "ln_mg", 1)
    with pytest.raises(models.ModelInputError, match="lacks model columns"):
        models.fit_exposure_model(adults.drop(columns="vitd"), "lmm", "ln_mg", 3)
    with pytest.raises(models.ModelInputError, match="unknown table_id"):
        models.records(adults, "table9")


def test_levels_absent_from_the_domain_give_no_column(adults, monkeypatch):
    # RIDRETH1 has no "Non-Hispanic Asian"; FACTOR_LEVELS lists it for RIDRETH3-coded frames.
    assert "Non-Hispanic Asian" in models.FACTOR_LEVELS["race"]
    assert "Non-Hispanic Asian" not in set(adults["race"])
    seen = {}
    real_svyglm = models.svyglm

    def spy(*args, **kwargs):
        seen.update(kwargs["levels"])
        return real_svyglm(*args, **kwargs)

    monkeypatch.setattr(models, "svyglm", spy)
    fit = models.fit_exposure_model(adults, "lmm", "quartiles", 3)
    present = [lv for lv in models.FACTOR_LEVELS["race"] if lv in set(adults["race"])]
    assert seen["race"] == present and seen["race"][0] == "Mexican American"
    assert fit.levels["race"] == present
    assert not any("Asian" in c for c in fit.columns)
    # a level present outside the domain only is left out as well; the reference is kept
    cohort = adults["in_cohort"] == 1
    moved = adults.copy()
    moved.loc[cohort & (moved["race"] == "Other Race"), "race"] = "Other Hispanic"
    lv = models.present_levels(moved, cohort.to_numpy(), keep_reference=True)
    assert lv["race"] == ["Mexican American", "Other Hispanic", "Non-Hispanic White", "Non-Hispanic Black"]
    assert lv["mg_q"] == [1, 2, 3, 4] and lv["gender"] == ["Male", "Female"]
    models.fit_exposure_model(moved, "ln_smi", "quartiles", 2)
    # an absent reference level stays an error rather than silently becoming another level
    no_ref = adults.assign(race=adults["race"].replace("Mexican American", "Other Hispanic"))
    assert models.present_levels(no_ref, cohort.to_numpy(), keep_reference=True)["race"][0] == "Mexican American"
    with pytest.raises(models.ModelSpecError, match="Mexican American"):
        models.fit_exposure_model(no_ref, "lmm", "ln_mg", 2)
