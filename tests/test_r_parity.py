"""svyglm / regTermTest / degf parity with R ``survey`` on generated NHANES-shaped data.

One Rscript process fits every model and writes one JSON (session fixture). R side:
``des <- svydesign(ids=~SDMVPSU, strata=~SDMVSTRA, weights=~weight, nest=TRUE, data=d)``,
``sub <- subset(des, in_cohort == 1)``, ``svyglm(f, sub, family=...)``; CIs are
``confint(fit)`` (Wald, t on ``fit$df.residual``), p-values from ``summary(fit)``. Factors are
set up in R with the same level order as ``models.FACTOR_LEVELS``. Every number must agree to
1e-6 relative.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.analyses import models
from nhmg_lib.survey.glm import Design, svyglm
from rhelpers import make_adults_frame, require_r, run_r

pytestmark = pytest.mark.r

RTOL = 1e-6

R_SCRIPT = r"""
suppressMessages(library(survey)); library(jsonlite)
spec <- fromJSON("spec.json", simplifyVector = FALSE)
frames <- list()
for (nm in names(spec$frames)) {
  d <- read.csv(spec$frames[[nm]], stringsAsFactors = FALSE, na.strings = c("", "NA"))
  for (v in names(spec$levels)) if (v %in% names(d)) d[[v]] <- factor(d[[v]], levels = unlist(spec$levels[[v]]))
  frames[[nm]] <- d
}
one <- function(m) {
  options(survey.lonely.psu = m$lonely, survey.adjust.domain.lonely = isTRUE(m$adjust_domain_lonely))
  d <- frames[[m$frame]]
  des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
  if (!is.null(m$domain)) { d$.dom <- d[[m$domain]] == 1; des <- update(des, .dom = d$.dom); des <- subset(des, .dom) }
  fam <- if (m$family == "quasibinomial") quasibinomial() else gaussian()
  fit <- suppressWarnings(svyglm(as.formula(m$rformula), design = des, family = fam))
  s <- summary(fit)$coefficients
  ci <- confint(fit)
  tests <- lapply(m$tests, function(t) {
    f <- regTermTest(fit, as.formula(paste("~", t)))
    c2 <- regTermTest(fit, as.formula(paste("~", t)), df = Inf)
    list(term = t, F = as.numeric(f$Ftest), df = f$df, ddf = f$ddf, p = as.numeric(f$p),
         chisq = as.numeric(c2$chisq), p_chisq = as.numeric(c2$p))
  })
  list(id = m$id, names = rownames(s), coef = unname(s[, 1]), se = unname(s[, 2]),
       p = unname(s[, 4]), lower = unname(ci[, 1]), upper = unname(ci[, 2]),
       df_resid = fit$df.residual, degf = degf(fit$survey.design), n = nrow(fit$model),
       tests = tests)
}
out <- lapply(spec$models, function(m) tryCatch(one(m), error = function(e) list(id = m$id, error = conditionMessage(e))))
names(out) <- vapply(spec$models, function(m) m$id, "")
write_json(out, "out.json", digits = NA, auto_unbox = TRUE, null = "null", na = "null")
"""


def _r_name(col: str) -> str:
    return "(Intercept)" if col == "Intercept" else col.replace("[T.", "").replace("]", "")


def _frames() -> dict[str, pd.DataFrame]:
    main = make_adults_frame(4000, n_strata=32, seed=11, domain_share=0.3, holes=True)
    main = models.with_trend_scores(main, "in_cohort")
    # the trend column only matters inside the domain; R and Python see the same values
    lonely = make_adults_frame(2500, n_strata=20, seed=12, domain_share=0.5, holes=True, lonely_strata=2)
    lonely = models.with_trend_scores(lonely, "in_cohort")
    # in-domain units with weight 0 (one PSU only those) and with missing covariates: R's glm
    # leaves the former out of the fit but in the data, degf() ignores them, na.omit drops
    # the latter from the domain
    rng = np.random.default_rng(13)
    edge = make_adults_frame(3000, n_strata=25, seed=13, domain_share=0.4, holes=True)
    dom = edge["in_cohort"].to_numpy() == 1
    w = edge["weight"].to_numpy().copy()
    w[dom & (rng.random(len(edge)) < 0.08)] = 0.0
    w[dom & (edge["SDMVSTRA"] == 105).to_numpy() & (edge["SDMVPSU"] == 1).to_numpy()] = 0.0
    edge["weight"] = w
    edge.loc[dom & (rng.random(len(edge)) < 0.05), "vitd"] = np.nan
    return {"main": main, "lonely": lonely, "edge": edge}


def _specs() -> list[dict]:
    specs = []
    for outcome in models.OUTCOMES:
        for exposure in models.EXPOSURES:
            for m in (1, 2, 3):
                tests = ["race"] if m >= 2 else []
                if exposure == "quartiles":
                    tests.append("mg_q")
                specs.append({
                    "id": f"{outcome}/{exposure}/model{m}", "frame": "main",
                    "formula": models.model_formula(outcome, exposure, m),  # type: ignore[arg-type]
                    "family": models.OUTCOMES[outcome], "domain": "in_cohort",
                    "lonely": "fail", "tests": tests,
                })
    # a whole-design fit (no domain) and an interaction, to cover the degf of a full design
    specs.append({"id": "full/interaction", "frame": "main", "formula": "ln_smi ~ ln_mg * gender + age",
                  "family": "gaussian", "domain": None, "lonely": "fail", "tests": ["ln_mg:gender"]})
    # intercept-only gaussian = svymean (linearisation SE), usable for Table 1 means
    specs.append({"id": "mean/age", "frame": "main", "formula": "age ~ 1", "family": "gaussian",
                  "domain": "in_cohort", "lonely": "fail", "tests": []})
    for fam, outcome in (("quasibinomial", "lmm"), ("gaussian", "ln_smi")):
        specs.append({"id": f"edge/{outcome}", "frame": "edge",
                      "formula": f"{outcome} ~ ln_mg + age + gender + race + vitd", "family": fam,
                      "domain": "in_cohort", "lonely": "fail", "tests": ["race"]})
    for lonely in ("adjust", "certainty", "remove", "average"):
        for fam, outcome in (("quasibinomial", "lmm"), ("gaussian", "ln_smi")):
            specs.append({"id": f"lonely/{lonely}/{outcome}", "frame": "lonely",
                          "formula": f"{outcome} ~ ln_mg + age + gender", "family": fam,
                          "domain": "in_cohort", "lonely": lonely, "tests": ["gender"]})
    specs.append({"id": "lonely/adjust_domain", "frame": "main", "formula": "lmm ~ ln_mg + age",
                  "family": "quasibinomial", "domain": "in_cohort", "lonely": "adjust",
                  "adjust_domain_lonely": True, "tests": []})
    return specs


def _with_r_formulas(specs: list[dict]) -> list[dict]:
    """R reads the same formula without ``C()`` (the factors are set up in the frame)."""
    return [dict(s, rformula=re.sub(r"C\((\w+)\)", r"\1", s["formula"])) for s in specs]


def _r_levels() -> dict[str, list]:
    return {k: [str(x) for x in v] if k != "mg_q" else v for k, v in models.FACTOR_LEVELS.items()}


@pytest.fixture(scope="session")
def parity():
    require_r()
    frames = _frames()
    specs = _with_r_formulas(_specs())
    files: dict = {f"{k}.csv": v for k, v in frames.items()}
    files["spec.json"] = {"frames": {k: f"{k}.csv" for k in frames}, "levels": _r_levels(),
                          "models": specs}
    r = run_r(R_SCRIPT, files)
    return frames, {s["id"]: s for s in specs}, r


def _py_fit(frames, spec):
    frame = frames[spec["frame"]]
    des = Design.from_frame(frame, lonely_psu=spec["lonely"],
                            adjust_domain_lonely=bool(spec.get("adjust_domain_lonely")))
    formula = spec["formula"]
    levels = {k: v for k, v in models.FACTOR_LEVELS.items() if k in frame.columns}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return svyglm(formula, des, family=spec["family"], domain=spec["domain"], levels=levels)


def _compare(fit, r):
    assert "error" not in r, r.get("error")
    # auto_unbox turns length-1 vectors into scalars
    r = {k: ([v] if k in ("names", "coef", "se", "p", "lower", "upper") and not isinstance(v, list) else v)
         for k, v in r.items()}
    assert [_r_name(c) for c in fit.columns] == r["names"]
    ci = fit.conf_int()
    np.testing.assert_allclose(fit.params.to_numpy(), r["coef"], rtol=RTOL)
    np.testing.assert_allclose(fit.se.to_numpy(), r["se"], rtol=RTOL)
    np.testing.assert_allclose(fit.pvalues.to_numpy(), r["p"], rtol=RTOL)
    np.testing.assert_allclose(ci["lower"].to_numpy(), r["lower"], rtol=RTOL)
    np.testing.assert_allclose(ci["upper"].to_numpy(), r["upper"], rtol=RTOL)
    assert fit.df_resid == r["df_resid"]
    assert fit.design_df == r["degf"]
    assert fit.n == r["n"]
    for t in r["tests"]:
        w = fit.wald_test(t["term"])
        assert w.df == t["df"] and w.ddf == t["ddf"]
        np.testing.assert_allclose([w.F, w.p], [t["F"], t["p"]], rtol=RTOL)
        c = fit.wald_test(t["term"], method="chisq")
        np.testing.assert_allclose([c.chisq, c.p], [t["chisq"], t["p_chisq"]], rtol=RTOL)


@pytest.mark.parametrize("outcome", list(models.OUTCOMES))
@pytest.mark.parametrize("exposure", list(models.EXPOSURES))
@pytest.mark.parametrize("model", [1, 2, 3])
def test_exposure_models_match_r(parity, outcome, exposure, model):
    frames, specs, r = parity
    key = f"{outcome}/{exposure}/model{model}"
    # through the models module (the code path the tables use) ...
    fit = models.fit_exposure_model(frames["main"], outcome, exposure, model, "in_cohort")
    _compare(fit, r[key])
    # ... and through svyglm directly
    _compare(_py_fit(frames, specs[key]), r[key])


def test_domain_df_counts_only_reached_psus(parity):
    frames, specs, r = parity
    des = Design.from_frame(frames["main"])
    # the generator leaves stratum 103 without domain units and stratum 102 with one PSU
    assert des.degf() == 32
    assert r["lmm/ln_mg/model1"]["degf"] == des.degf("in_cohort") == 30


def test_full_design_and_interaction_match_r(parity):
    frames, specs, r = parity
    _compare(_py_fit(frames, specs["full/interaction"]), r["full/interaction"])


@pytest.mark.parametrize("lonely", ["adjust", "certainty", "remove", "average"])
@pytest.mark.parametrize("outcome", ["lmm", "ln_smi"])
def test_lonely_psu_policies_match_r(parity, lonely, outcome):
    frames, specs, r = parity
    key = f"lonely/{lonely}/{outcome}"
    _compare(_py_fit(frames, specs[key]), r[key])


@pytest.mark.parametrize("outcome", ["lmm", "ln_smi"])
def test_zero_weights_and_missing_values_in_domain_match_r(parity, outcome):
    frames, specs, r = parity
    key = f"edge/{outcome}"
    fit = _py_fit(frames, specs[key])
    _compare(fit, r[key])
    assert fit.n_missing > 0
    edge = frames["edge"]
    dom = edge["in_cohort"].to_numpy() == 1
    sub = edge[dom]
    with_zero_weights = sub.groupby(["SDMVSTRA", "SDMVPSU"]).ngroups - sub["SDMVSTRA"].nunique()
    assert fit.design_df == with_zero_weights - 1   # the all-zero-weight PSU does not count


def test_intercept_only_model_matches_r(parity):
    frames, specs, r = parity
    _compare(_py_fit(frames, specs["mean/age"]), r["mean/age"])


def test_adjust_domain_lonely_matches_r(parity):
    frames, specs, r = parity
    _compare(_py_fit(frames, specs["lonely/adjust_domain"]), r["lonely/adjust_domain"])


def test_lonely_psu_fail_is_an_error_in_both(parity):
    frames, specs, r = parity
    from nhmg_lib.survey.design import LonelyPSUError
    spec = dict(specs["lonely/adjust/lmm"], lonely="fail")
    with pytest.raises(LonelyPSUError, match="stratum 1(21|22)"):
        _py_fit(frames, spec)


def test_require_r_skips_or_fails_under_ci(monkeypatch):
    import rhelpers
    from _pytest.outcomes import Failed, Skipped
    monkeypatch.setattr(rhelpers, "_r_status", lambda packages: "Rscript is not on PATH")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(Skipped, match="Rscript"):
        rhelpers.require_r()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="CI=true"):
        rhelpers.require_r()
