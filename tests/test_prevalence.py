"""Design-based outcome prevalence (the rare-outcome check of Table 7), against R survey."""

from __future__ import annotations

import numpy as np
import pytest

from nhmg_lib.analyses import prevalence

from rhelpers import make_adults_frame, require_r, run_r


@pytest.fixture(scope="module")
def adults():
    return make_adults_frame(n=2500, seed=7)


def test_hand_computed_weighted_share(adults):
    got = prevalence.prevalence(adults, by=("race",))
    rows = adults[adults["in_cohort"] == 1]
    want = np.average(rows["lmm"], weights=rows["weight"])
    assert got.loc[("All", ""), "prevalence"] == pytest.approx(want, rel=1e-12)
    assert got.loc[("All", ""), "n"] == len(rows)
    for level, g in rows.groupby("race"):
        assert got.loc[("race", level), "prevalence"] == pytest.approx(
            np.average(g["lmm"], weights=g["weight"]), rel=1e-12)
    assert (got["rare"] == (got["prevalence"] < prevalence.RARE_BELOW)).all()
    assert list(got.index.get_level_values(0).unique()) == ["All", "race"]


@pytest.mark.r
def test_matches_r_svyby(adults):
    require_r()
    got = prevalence.prevalence(adults, by=("race", "gender"))
    ref = run_r("""
library(survey); library(jsonlite)
d <- read.csv("adults.csv")
des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
sub <- subset(des, in_cohort == 1)
m <- svymean(~lmm, sub)
out <- list(all = c(coef(m), SE(m)))
for (v in c("race", "gender")) {
  b <- svyby(~lmm, as.formula(paste0("~", v)), sub, svymean)
  out[[v]] <- list(level = as.character(b[[v]]), mean = unname(coef(b)), se = unname(SE(b)))
}
write_json(out, "out.json", digits = NA)
""", {"adults.csv": adults[["SDMVSTRA", "SDMVPSU", "weight", "in_cohort", "lmm", "race",
                             "gender"]]})
    assert got.loc[("All", ""), "prevalence"] == pytest.approx(ref["all"][0], rel=1e-9)
    assert got.loc[("All", ""), "se"] == pytest.approx(ref["all"][1], rel=1e-6)
    for v in ("race", "gender"):
        for level, m, se in zip(ref[v]["level"], ref[v]["mean"], ref[v]["se"]):
            assert got.loc[(v, level), "prevalence"] == pytest.approx(m, rel=1e-9)
            assert got.loc[(v, level), "se"] == pytest.approx(se, rel=1e-6)
