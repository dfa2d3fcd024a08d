"""Tests of Tables 4-6 (inflammatory indices): columns, domains, fits and records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.analyses import inflammation as inf
from nhmg_lib.analyses import models
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES, Definitions
from nhmg_lib.report.analysis_tables import index_table
from nhmg_lib.survey.glm import svyglm
from rhelpers import make_adults_frame, require_r, run_r

REL = 1e-6


def add_indices(df: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """Index columns shaped like the cohort's: CALLY only in 2015-2018 (hs-CRP cycles)."""
    rng = np.random.default_rng(seed)
    n = len(df)
    df = df.copy()
    shift = df["ln_mg"].to_numpy() - 5.7
    df["np"] = np.exp(6.8 - 0.2 * shift + rng.normal(0, 0.4, n))
    df["par"] = np.exp(1.7 - 0.15 * shift + rng.normal(0, 0.25, n))
    df["rar"] = np.exp(-1.1 - 0.05 * shift + rng.normal(0, 0.1, n))
    cally = np.exp(-5.0 + 0.4 * shift + rng.normal(0, 1.0, n))
    crp_cycle = df["cycle"].isin(["2015-2016", "2017-2018"]).to_numpy()
    df["cally"] = np.where(crp_cycle, cally, np.nan)
    df["np_score"] = (rng.random(n) < 0.05).astype(float)
    df["lmm"] = ((rng.random(n) < 1 / (1 + np.exp(1.2 - 0.8 * (np.log(df["par"]) - 1.7))))
                 | (df["lmm"] == 1)).astype(int)
    return df


@pytest.fixture(scope="module")
def adults() -> pd.DataFrame:
    df = add_indices(make_adults_frame(4000, n_strata=40, seed=7))
    # a non-positive value in the cohort: not log-transformable, so outside the PAR domain
    first = int(np.flatnonzero(df["in_cohort"] == 1)[0])
    df.loc[df.index[first], "par"] = 0.0
    return df


@pytest.fixture(scope="module")
def result(adults: pd.DataFrame) -> inf.IndexTables:
    return inf.fit_tables(adults)


def test_index_columns_and_labels(adults):
    assert inf.index_column("cally") == ("ln_cally", "ln CALLY")
    assert inf.index_column("np", Definitions(np_index="score")) == ("np_score", "NP score")
    with pytest.raises(inf.InflammationError, match="index"):
        inf.index_column("nlr")
    out = inf.with_index_columns(adults)
    np.testing.assert_allclose(out["ln_rar"], np.log(adults["rar"]))
    assert out["ln_par"].isna().sum() == 1          # the zero PAR
    assert out["ln_cally"].notna().sum() == adults["cally"].notna().sum()
    assert "ln_np" not in adults.columns            # the input is not modified
    score = inf.with_index_columns(adults, Definitions(np_index="score"))
    np.testing.assert_array_equal(score["np_score"], adults["np_score"])


def test_cally_domain_excludes_rows_without_cally(adults, result):
    data = inf.with_index_columns(adults)
    dom = inf.index_domain(data, "cally")
    cohort = adults["in_cohort"].to_numpy() == 1
    has = adults["cally"].notna().to_numpy()
    np.testing.assert_array_equal(dom, cohort & has)
    assert 0 < dom.sum() < cohort.sum()
    assert not adults.loc[dom, "cycle"].isin(["2011-2012", "2013-2014"]).any()
    fit = result.fits[("table5", "cally", 3, "index")]
    np.testing.assert_array_equal(fit.domain, dom)
    # domain estimation: the fit keeps every PSU's stratum, rows outside carry no weight in it
    n = result.numeric.set_index(["table", "index"]).loc[("table4", "cally"), "n"]
    assert (n == dom.sum()).all()
    assert (result.numeric.query("index == 'np'")["n"] == cohort.sum()).all()
    assert (result.numeric.query("index == 'par'")["n"] == cohort.sum() - 1).all()


def test_table4_estimate_equals_direct_svyglm(adults, result):
    data = inf.with_index_columns(adults)
    mask = inf.index_domain(data, "par")
    des = models.design_for(adults)
    formula = "ln_par ~ C(mg_q) + " + " + ".join(MODEL3_COVARIATES)
    levels = {k: v for k, v in models.FACTOR_LEVELS.items() if k in data.columns}
    fit = svyglm(formula, des, family="gaussian", domain=mask, data=data, levels=levels)
    t = fit.tidy().set_index("term").loc["mg_q[T.4]"]
    rec = {r["id"]: r for r in result.records()}["table4/par/model3/q4"]
    assert rec["estimate"] == pytest.approx(t.estimate, rel=1e-10)
    assert rec["ci_low"] == pytest.approx(t.ci_low, rel=1e-10)
    assert rec["ci_high"] == pytest.approx(t.ci_high, rel=1e-10)
    assert rec["p"] == pytest.approx(t.p, rel=1e-10)
    assert rec["n"] == int(mask.sum())


def test_table5_estimate_equals_direct_svyglm(adults, result):
    data = inf.with_index_columns(adults)
    mask = inf.index_domain(data, "cally")
    fit = svyglm("lmm ~ ln_cally + age + gender + race", models.design_for(adults),
                 family="quasibinomial", domain=mask, data=data,
                 levels={k: models.FACTOR_LEVELS[k] for k in ("gender", "race")})
    t = fit.tidy(exponentiate=True).set_index("term").loc["ln_cally"]
    rec = {r["id"]: r for r in result.records()}["table5/cally/model2/ln_index"]
    assert rec["estimate"] == pytest.approx(t.estimate, rel=1e-10)
    assert (rec["ci_low"], rec["ci_high"]) == pytest.approx((t.ci_low, t.ci_high), rel=1e-10)
    assert rec["p"] == pytest.approx(t.p, rel=1e-10)


def test_trend_uses_domain_quartile_medians(adults, result):
    data = inf.with_index_columns(adults)
    mask = inf.index_domain(data, "cally")
    med = models.quartile_medians(data, mask)
    fit = result.fits[("table4", "cally", 1, "trend")]
    score = pd.to_numeric(data["mg_q"]).map(med)
    direct = svyglm("ln_cally ~ s", models.design_for(adults), domain=mask,
                    data=data.assign(s=score))
    assert fit.params.iloc[1] == pytest.approx(direct.params["s"], rel=1e-10)


def test_records_ids_complete_and_unique(result):
    recs = result.records()
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids))
    expected = set()
    for index in inf.INDICES:
        for m in (1, 2, 3):
            expected |= {f"table4/{index}/model{m}/{row}" for row in ("ln_mg", "q2", "q3", "q4", "p_trend")}
            expected |= {f"table5/{index}/model{m}/ln_index", f"table6/{index}/model{m}/ln_index"}
    assert set(ids) == expected
    for r in recs:
        assert set(r) == {"id", "estimate", "ci_low", "ci_high", "p", "n"}
        assert np.isfinite(r["estimate"]) and 0 <= r["p"] <= 1 and r["n"] > 0
        assert r["ci_low"] <= r["estimate"] <= r["ci_high"]
    assert all(r["estimate"] > 0 for r in recs if r["id"].startswith("table5/"))


def test_formatted_and_publication_tables(result):
    t4 = result.formatted("table4")
    assert list(t4.columns) == ["Model 1", "Model 2", "Model 3"]
    assert t4.shape == (4 * 6, 3)
    assert t4.loc[("ln CALLY", "Q1"), "Model 1"] == "0 (reference)"
    t5 = result.formatted("table5")
    assert list(t5.index) == ["ln CALLY", "ln NP", "ln PAR", "ln RAR"]
    html = index_table(result, "table6")._repr_html_()
    assert "ln RAR" in html and "Model 3" in html
    assert "CALLY, albumin (g/dL) × lymphocytes (/µL) / (CRP (mg/dL) × 10⁴)" in html
    assert "NP, neutrophils × platelets, (10⁹/L)²" in html and "RAR, RDW (%) per albumin (g/dL)" in html
    assert "NP, 0/1/2" in "".join(index_table(result, "table4", np_index="score").footnotes)
    with pytest.raises(inf.InflammationError):
        result.formatted("table7")


def test_np_score_is_modelled_untransformed(adults):
    res = inf.fit_tables(adults, Definitions(np_index="score"), indices=("np",))
    assert "np_score" in res.fits[("table6", "np", 1, "index")].columns
    assert res.labels["np"] == "NP score"
    assert {r["id"].split("/")[1] for r in res.records()} == {"np"}


def test_missing_columns_raise_clearly(adults):
    with pytest.raises(inf.InflammationError, match="rar"):
        inf.fit_tables(adults.drop(columns="rar"))
    with pytest.raises(inf.InflammationError, match="model columns"):
        inf.fit_tables(adults.drop(columns="ln_smi"))
    empty = adults.assign(cally=np.nan)
    with pytest.raises(inf.InflammationError, match="CALLY"):
        inf.fit_tables(empty, indices=("cally",))


R_SCRIPT = r"""
suppressPackageStartupMessages({ library(survey); library(jsonlite) })
options(survey.lonely.psu = "fail")
p <- fromJSON("params.json", simplifyVector = TRUE)
d <- read.csv("adults.csv", stringsAsFactors = FALSE, na.strings = c("NA", ""))
d$mg_q <- factor(d$mg_q, levels = 1:4)
d$race <- factor(d$race, levels = c("Mexican American", "Other Hispanic", "Non-Hispanic White",
                                    "Non-Hispanic Black", "Other Race"))
d$ln_cally <- log(d$cally)
des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
dc <- subset(des, in_cohort == 1 & !is.na(cally))
rhs <- paste(p$covariates, collapse = " + ")
f4 <- svyglm(as.formula(paste("ln_cally ~ mg_q +", rhs)), design = dc)
f5 <- svyglm(as.formula(paste("lmm ~ ln_cally +", rhs)), design = dc, family = quasibinomial())
out <- list(
  t4 = list(coef = coef(f4)[["mg_q4"]], ci = unname(confint(f4)["mg_q4", ]),
            p = summary(f4)$coefficients["mg_q4", 4]),
  t5 = list(coef = coef(f5)[["ln_cally"]], ci = unname(confint(f5)["ln_cally", ]),
            p = summary(f5)$coefficients["ln_cally", 4]))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "out.json")
"""


@pytest.mark.r
def test_cally_model3_matches_r(adults, result):
    require_r(("survey", "jsonlite"))
    ref = run_r(R_SCRIPT, {"adults.csv": adults,
                           "params.json": {"covariates": list(MODEL3_COVARIATES)}})
    recs = {r["id"]: r for r in result.records()}
    q4, ln = recs["table4/cally/model3/q4"], recs["table5/cally/model3/ln_index"]
    assert q4["estimate"] == pytest.approx(ref["t4"]["coef"], rel=REL)
    assert (q4["ci_low"], q4["ci_high"]) == pytest.approx(tuple(ref["t4"]["ci"]), rel=REL)
    assert q4["p"] == pytest.approx(ref["t4"]["p"], rel=REL)
    assert ln["estimate"] == pytest.approx(np.exp(ref["t5"]["coef"]), rel=REL)
    assert (ln["ci_low"], ln["ci_high"]) == pytest.approx(tuple(np.exp(ref["t5"]["ci"])), rel=REL)
    assert ln["p"] == pytest.approx(ref["t5"]["p"], rel=REL)


@pytest.mark.r
def test_p_adjusted_over_the_four_indices_equals_r(result):
    """Holm and BH over the four indices of one table, model and row, as R p.adjust."""
    require_r(("jsonlite",))
    recs = result.records()
    adj = {r["id"]: r for r in inf.adjusted_records(recs)}
    assert len(adj) == 2 * len(recs)
    fam = [f"table5/{i}/model3/ln_index" for i in inf.INDICES]
    by_id = {r["id"]: r for r in recs}
    p = [by_id[i]["p"] for i in fam]
    ref = run_r('library(jsonlite); p <- as.numeric(fromJSON("p.json"))\n'
                'cat(toJSON(list(holm = p.adjust(p, "holm"), bh = p.adjust(p, "BH")), digits = NA),'
                ' file = "out.json")', {"p.json": p})
    np.testing.assert_allclose([adj[f"{i}/p_holm"]["p"] for i in fam], ref["holm"], rtol=1e-12)
    np.testing.assert_allclose([adj[f"{i}/p_bh"]["estimate"] for i in fam], ref["bh"], rtol=1e-12)
    # a null P leaves the family: the other three are adjusted as a family of three
    recs3 = [dict(r, p=None) if r["id"] == fam[0] else r for r in recs]
    adj3 = {r["id"]: r for r in inf.adjusted_records(recs3)}
    assert adj3[f"{fam[0]}/p_holm"]["p"] is None
    three = run_r('library(jsonlite); p <- as.numeric(fromJSON("p.json"))\n'
                         'cat(toJSON(list(holm = p.adjust(p, "holm")), digits = NA), file = "out.json")',
                         {"p.json": p[1:]})["holm"]
    np.testing.assert_allclose([adj3[f"{i}/p_holm"]["p"] for i in fam[1:]], three, rtol=1e-12)
