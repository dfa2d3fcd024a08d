"""Design-based descriptive statistics against R ``survey`` (tests/r/descriptive.R).

The data are NHANES-shaped: 15 strata x 2 PSUs, an ``in_cohort`` domain of ~40% that in
some strata reaches only one PSU and in one stratum no PSU, zero weights outside the domain,
tied values and gaps (CRP-based CALLY missing in the first two cycles). One Rscript run serves
this module and ``test_table1.py`` (:func:`r_reference`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.survey.descriptive import (
    DescriptiveError, svychisq, svymean, svyprop, svyquantile, svyranktest, svyttest, svyvar,
)
from nhmg_lib.survey.design import Design

R_SCRIPT = Path(__file__).parent / "r" / "descriptive.R"
REL = 1e-6

RACES = ["Mexican American", "Other Hispanic", "Non-Hispanic White", "Non-Hispanic Black", "Other Race"]


def make_adults(seed: int = 20241124, n_strata: int = 15) -> pd.DataFrame:
    """An adults frame with the CONTRIBUTING cohort columns and an ``in_cohort`` domain.

    Strata 1-3: the domain reaches PSU 1 only; the last stratum: no domain unit at all.
    Outside the domain a fifth of the weights are 0 (adults without a dietary weight) and
    ``lmm`` is often missing, as in the all-adults export.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(n_strata):
        for j in (1, 2):
            m = int(rng.integers(30, 61))
            df = pd.DataFrame({"SDMVSTRA": 90 + h, "SDMVPSU": j, "_n": np.arange(m)})
            in_c = rng.random(m) < 0.45
            if h < 3 and j == 2:
                in_c[:] = False
            if h == n_strata - 1:
                in_c[:] = False
            df["in_cohort"] = in_c.astype(int)
            df["weight"] = np.round(rng.lognormal(10, 0.6, m), 3)
            rows.append(df)
    d = pd.concat(rows, ignore_index=True).drop(columns="_n")
    n = len(d)
    out_dom = d["in_cohort"] == 0
    d.loc[out_dom & (rng.random(n) < 0.2), "weight"] = 0.0
    d.insert(0, "SEQN", np.arange(62161, 62161 + n))
    d["cycle"] = rng.choice(["2011-2012", "2013-2014", "2015-2016", "2017-2018"], n)
    d["age"] = rng.integers(20, 60, n).astype(float)
    d["gender"] = rng.choice(["Male", "Female"], n)
    d["race"] = rng.choice(RACES, n, p=[0.17, 0.1, 0.38, 0.25, 0.10])
    d["pir_cat"] = rng.choice(["<1.39", "1.39-3.49", ">3.49"], n, p=[0.35, 0.35, 0.3])
    d["education"] = rng.choice(["Below high school", "High school", "Above high school"], n, p=[0.2, 0.25, 0.55])
    d["smoking"] = rng.choice(["Yes", "No"], n, p=[0.4, 0.6])
    d["drinking"] = rng.choice(["Never", "Former", "Current"], n, p=[0.1, 0.2, 0.7])
    d["active"] = rng.choice(["Active", "Inactive"], n, p=[0.6, 0.4])
    d["energy"] = np.round(rng.lognormal(7.6, 0.4, n))
    d["protein"] = np.round(rng.lognormal(4.3, 0.45, n), 1)
    d["diabetes"] = rng.choice(["Yes", "No"], n, p=[0.1, 0.9])
    d["hypertension"] = rng.choice(["Yes", "No"], n, p=[0.25, 0.75])
    d["egfr"] = np.round(rng.normal(102, 17, n), 2)
    d["vitd"] = np.round(rng.lognormal(4.1, 0.4, n), 1)
    d.loc[rng.random(n) < 0.05, "vitd"] = np.nan
    d["ckd"] = np.where(d["egfr"] < 70, "Yes", "No")
    d["mg"] = np.round(rng.lognormal(5.7, 0.4, n))
    d["ln_mg"] = np.log(d["mg"])
    d["mg_q"] = pd.qcut(d["ln_mg"], 4, labels=False).astype(int) + 1
    male = d["gender"] == "Male"
    d["smi"] = np.where(male, rng.normal(0.95, 0.14, n), rng.normal(0.68, 0.12, n)) - 0.002 * (d["age"] - 40)
    d["ln_smi"] = np.log(d["smi"])
    d["lmm"] = np.where(male, d["smi"] < 0.789, d["smi"] < 0.512).astype(float)
    d.loc[out_dom & (rng.random(n) < 0.5), "lmm"] = np.nan
    lymph = rng.lognormal(0.7, 0.3, n)
    crp = rng.lognormal(0.5, 1.0, n)
    alb = rng.normal(42, 3, n)
    d["cally"] = alb * lymph / (crp * 1e4) * 1e4  # scaled so values are O(1-100)
    d.loc[d["cycle"].isin(["2011-2012", "2013-2014"]), "cally"] = np.nan
    neut = rng.lognormal(1.4, 0.35, n)
    plt_ = rng.lognormal(5.5, 0.25, n)
    d["np"] = neut * plt_
    d["par"] = plt_ / alb
    d["rar"] = rng.normal(13.3, 1.0, n) / alb
    # a strong signal for the tests to detect
    lm1 = d["lmm"] == 1
    d.loc[lm1, "age"] = np.minimum(d.loc[lm1, "age"] + 6, 59)
    return d


# ------------------------------------------------------------------------ R reference
def _r_missing_reason() -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript not found (Debian: r-base-core r-cran-survey r-cran-jsonlite)"
    probe = subprocess.run(
        ["Rscript", "-e", "for (p in c('survey','jsonlite')) if (!requireNamespace(p, quietly=TRUE)) stop(p)"],
        capture_output=True, text=True,
    )
    if probe.returncode != 0:
        return f"R package missing: {probe.stderr.strip()[-200:]}"
    return None


@functools.lru_cache(maxsize=1)
def _run_r() -> tuple[dict | None, str | None, str | None]:
    """(results, reason R is missing, error of the R script); cached so R runs once."""
    reason = _r_missing_reason()
    if reason is not None:
        return None, reason, None
    with tempfile.TemporaryDirectory() as tmp:
        csv, out = Path(tmp) / "adults.csv", Path(tmp) / "out.json"
        make_adults().to_csv(csv, index=False, float_format="%.17g", na_rep="NA")
        res = subprocess.run(["Rscript", str(R_SCRIPT), str(csv), str(out)],
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            return None, None, f"{R_SCRIPT.name} failed:\n{res.stderr[-3000:]}"
        return _decode(json.loads(out.read_text())), None, None


def _decode(obj):
    """Numbers come from R as "#%.17g" text (jsonlite rounds to 15 digits)."""
    if isinstance(obj, dict):
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("#"):
        txt = obj[1:]
        return float("nan") if txt in ("NA", "NaN") else float(txt.replace("Inf", "inf"))
    return obj


def r_reference() -> dict:
    """R results for :func:`make_adults` (one Rscript run per test session).

    Skips when R or its packages are missing, except under ``CI=true``, where that fails.
    """
    ref, reason, error = _run_r()
    if error is not None:
        pytest.fail(error)
    if ref is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"R is required under CI=true: {reason}")
        pytest.skip(reason)
    return ref


@pytest.fixture(scope="session")
def r_ref() -> dict:
    return r_reference()


@pytest.fixture(scope="module")
def adults() -> pd.DataFrame:
    return make_adults()


@pytest.fixture(scope="module")
def des(adults: pd.DataFrame) -> Design:
    return Design.from_frame(adults)


GROUPS = {"overall": None, "non_lmm": 0.0, "lmm": 1.0}


def _dom(adults: pd.DataFrame, group: float | None) -> np.ndarray:
    d = adults["in_cohort"].to_numpy() == 1
    if group is not None:
        d &= (adults["lmm"] == group).fillna(False).to_numpy()
    return d


def close(a: float, b: float, rel: float = REL) -> bool:
    """Relative agreement; NaN agrees with NaN (an interval end both sides leave undefined)."""
    return a == pytest.approx(b, rel=rel, abs=1e-12, nan_ok=True)


# ------------------------------------------------------------------------ data sanity
def test_generator_has_the_awkward_domain(adults: pd.DataFrame, des: Design) -> None:
    dom = adults["in_cohort"] == 1
    per = adults[dom].groupby("SDMVSTRA")["SDMVPSU"].nunique()
    assert (per == 1).sum() >= 3 and len(per) == 14
    assert 0.3 < dom.mean() < 0.5
    assert des.degf("in_cohort") == 11  # 25 PSUs in the 14 strata reached


# ------------------------------------------------------------------------ R parity
@pytest.mark.r
@pytest.mark.parametrize("var", ["age", "egfr", "ln_mg", "smi", "vitd", "cally"])
@pytest.mark.parametrize("group", list(GROUPS))
def test_mean_and_var_match_r(var: str, group: str, adults, des, r_ref) -> None:
    ref = r_ref["means"][var][group]
    m = svymean(var, des, domain=_dom(adults, GROUPS[group])).iloc[0]
    assert close(m["mean"], ref["mean"]) and close(m["se"], ref["se"])
    assert m["df"] == ref["df"]
    v = svyvar(var, des, domain=_dom(adults, GROUPS[group])).iloc[0]
    assert close(v["var"], ref["var"]) and close(v["se"], ref["var_se"])


@pytest.mark.r
def test_by_matches_svyby(adults, des, r_ref) -> None:
    res = svymean("age", des, domain="in_cohort", by="lmm")
    ref = r_ref["svyby_age"]
    assert list(res.index) == ref["level"]
    for got, m, se in zip(res.itertuples(), ref["mean"], ref["se"]):
        assert close(got.mean, m) and close(got.se, se)


@pytest.mark.r
@pytest.mark.parametrize("var", ["gender", "race", "pir_cat", "education", "smoking", "drinking",
                                 "active", "diabetes", "hypertension"])
def test_proportions_match_r(var: str, adults, des, r_ref) -> None:
    for group, gval in GROUPS.items():
        ref = r_ref["props"][var][group]
        got = svyprop(var, des, domain=_dom(adults, gval)).set_index("level")
        assert sorted(got.index) == sorted(ref["level"])
        for lev, p, se in zip(ref["level"], ref["p"], ref["se"]):
            assert close(got.at[lev, "proportion"], p) and close(got.at[lev, "se"], se), (group, lev)


@pytest.mark.r
def test_proportions_by_group_equal_the_subset_ones(adults, des, r_ref) -> None:
    got = svyprop("race", des, domain="in_cohort", by="lmm")
    for gval, name in ((0.0, "non_lmm"), (1.0, "lmm")):
        ref = r_ref["props"]["race"][name]
        sub = got[got["group"] == gval].set_index("level")
        for lev, p, se in zip(ref["level"], ref["p"], ref["se"]):
            assert close(sub.at[lev, "proportion"], p) and close(sub.at[lev, "se"], se)


@pytest.mark.r
@pytest.mark.parametrize("var", ["energy", "protein", "mg", "vitd", "cally", "np", "par", "rar", "age"])
def test_quantiles_match_r(var: str, adults, des, r_ref) -> None:
    for group, gval in GROUPS.items():
        ref = r_ref["quant"][var][group]
        got = svyquantile(var, des, (0.25, 0.5, 0.75), domain=_dom(adults, gval))
        # point estimates exactly; Woodruff limits and SE to the usual tolerance
        assert got["estimate"].tolist() == ref["q"], (group, var)
        for col, key in (("ci_low", "ci_l"), ("ci_high", "ci_u"), ("se", "se")):
            for a, b in zip(got[col], ref[key]):
                assert close(a, b), (group, var, col)


@pytest.mark.r
@pytest.mark.parametrize("var", ["gender", "race", "pir_cat", "education", "smoking", "drinking",
                                 "active", "diabetes", "hypertension"])
def test_rao_scott_matches_r(var: str, des, r_ref) -> None:
    ref = r_ref["chisq"][var]
    res = svychisq(var, "lmm", des, domain="in_cohort")
    assert close(res.statistic, ref["F"])
    assert close(res.df[0], ref["ndf"]) and close(res.df[1], ref["ddf"])
    assert close(res.p_value, ref["p"])


@pytest.mark.r
def test_rao_scott_3x3_matches_r(des, r_ref) -> None:
    ref = r_ref["chisq_drink_pir"]
    res = svychisq("drinking", "pir_cat", des, domain="in_cohort")
    assert close(res.statistic, ref["F"]) and close(res.p_value, ref["p"])
    assert close(res.df[0], ref["ndf"]) and close(res.df[1], ref["ddf"])


@pytest.mark.r
@pytest.mark.parametrize("var", ["age", "egfr", "ln_mg", "smi", "vitd"])
def test_ttest_matches_r(var: str, des, r_ref) -> None:
    ref = r_ref["ttest"][var]
    res = svyttest(var, "lmm", des, domain="in_cohort")
    assert close(res.statistic, ref["t"]) and res.df == ref["df"]
    assert close(res.p_value, ref["p"]) and close(res.estimate, ref["est"])
    assert close(res.ci_low, ref["ci"][0]) and close(res.ci_high, ref["ci"][1])


@pytest.mark.r
def test_ttest_with_text_groups_matches_r(des, r_ref) -> None:
    ref = r_ref["ttest_gender_age"]
    res = svyttest("age", "gender", des, domain="in_cohort")
    assert res.levels == ("Female", "Male")
    assert close(res.statistic, ref["t"]) and close(res.estimate, ref["est"])
    assert close(res.p_value, ref["p"]) and res.df == ref["df"]


@pytest.mark.r
@pytest.mark.parametrize("var", ["energy", "protein", "mg", "vitd", "cally", "np", "par", "rar", "age"])
def test_ranktest_matches_r(var: str, des, r_ref) -> None:
    ref = r_ref["rank"][var]
    res = svyranktest(var, "lmm", des, domain="in_cohort")
    assert close(res.statistic, ref["t"]) and res.df == ref["df"]
    assert close(res.p_value, ref["p"]) and close(res.estimate, ref["est"])


@pytest.mark.r
def test_ranktest_text_groups_matches_r(des, r_ref) -> None:
    ref = r_ref["rank_gender_energy"]
    res = svyranktest("energy", "gender", des, domain="in_cohort")
    assert close(res.statistic, ref["t"]) and close(res.estimate, ref["est"])


# ------------------------------------------------------------------------ behaviour
def test_domain_never_subsets_the_design(adults, des) -> None:
    """Subsetting the rows instead would lose the empty PSUs and change the SE."""
    full = svymean("age", des, domain="in_cohort").iloc[0]
    cut = adults[adults["in_cohort"] == 1]
    naive = svymean("age", Design.from_frame(cut, lonely_psu="certainty")).iloc[0]
    assert full["mean"] == pytest.approx(naive["mean"], rel=1e-12)
    assert full["se"] != pytest.approx(naive["se"], rel=1e-3)


def test_proportions_sum_to_one_and_keep_requested_levels(des) -> None:
    res = svyprop("race", des, domain="in_cohort", levels=RACES)
    assert res["level"].tolist() == RACES
    assert res["proportion"].sum() == pytest.approx(1.0)
    with pytest.raises(DescriptiveError, match="not among levels"):
        svyprop("race", des, domain="in_cohort", levels=RACES[:3])


def test_quantile_rule_on_a_small_example() -> None:
    """qrule='math' by hand: weights 1,1,2 on 1,2,3 -> median: cum share 0.25, 0.5 -> 2."""
    d = pd.DataFrame({"SDMVSTRA": [1, 1, 1, 1], "SDMVPSU": [1, 1, 2, 2],
                      "weight": [1.0, 1.0, 2.0, 0.0], "x": [1.0, 2.0, 3.0, 100.0]})
    des = Design.from_frame(d)
    q = svyquantile("x", des, (0.25, 0.5, 0.51, 1.0))
    assert q["estimate"].tolist() == [1.0, 2.0, 3.0, 3.0]


def test_clear_errors(des) -> None:
    with pytest.raises(DescriptiveError, match="not in the design's data"):
        svymean("nope", des)
    with pytest.raises(DescriptiveError, match="not numeric"):
        svymean("race", des)
    with pytest.raises(DescriptiveError, match="exactly two levels"):
        svyttest("age", "race", des, domain="in_cohort")
    with pytest.raises(DescriptiveError, match="no unit with a positive weight"):
        svymean("age", des, domain=np.zeros(des.n, dtype=bool))
    with pytest.raises(DescriptiveError, match="two or more levels"):
        svychisq("gender", "gender", des, domain=(des.data["gender"] == "Male").to_numpy())


# ------------------------------------------------------------------------ rank ties at 15 digits
ULP1 = 2.0 ** -52


def test_rank_ties_are_values_equal_to_15_significant_digits() -> None:
    """R's ``factor(y)`` groups 1 and 1 + 2^-52 (equal to 15 digits): one tie, one mid-rank.

    Weights 1, 1, 1 on 1, 1(1 + 2^-52), 2: mid-ranks 0.5, 1.5, 2.5; the first two are tied, so
    both get 1.0. Exact-equality ties would leave 0.5 and 1.5.
    """
    from nhmg_lib.survey.descriptive import _rank_scores, rank_tie_keys

    y = np.array([1.0 * (1 + ULP1), 2.0, 1.0])
    assert y[0] != y[2]
    assert rank_tie_keys(y).tolist() == [1.0, 2.0, 1.0]
    assert _rank_scores(y, np.ones(3)).tolist() == [1.0, 2.5, 1.0]
    # weighted: w = 1, 3, 2 -> sorted 1 (w 2), 1+ulp (w 1), 2 (w 3): mids 1, 2.5, 4.5 -> tie 1.75
    assert _rank_scores(y, np.array([1.0, 3.0, 2.0])).tolist() == [1.75, 4.5, 1.75]
    # values distinct at the 15th digit stay distinct
    assert rank_tie_keys(np.array([1.00000000000001, 1.0])).tolist() == [1.00000000000001, 1.0]


def near_tie_frame(seed: int = 11) -> pd.DataFrame:
    """Adults frame with ``xnear = base * (1 + k 2^-52)``: half-unit ``base`` values (exact
    ties) split into near-ties that differ only beyond the 15th significant digit. R rebuilds
    ``xnear`` from ``base`` and ``k`` (the same IEEE product), so no value depends on parsing."""
    from rhelpers import make_adults_frame

    f = make_adults_frame(n=2500, n_strata=12, seed=seed, domain_share=0.5)
    rng = np.random.default_rng(seed)
    f["base"] = rng.integers(2, 40, len(f)) / 2.0
    f["k"] = rng.integers(0, 3, len(f))
    # near-ties carry signal only through the order of the k's within a tie
    f.loc[f["lmm"] == 1, "k"] = np.minimum(f.loc[f["lmm"] == 1, "k"] + 1, 2)
    f["xnear"] = f["base"] * (1 + f["k"] * ULP1)
    return f


@pytest.mark.r
def test_ranktest_near_ties_match_r(monkeypatch) -> None:
    from rhelpers import require_r, run_r

    from nhmg_lib.survey import descriptive

    require_r(("survey", "jsonlite"))
    f = near_tie_frame()
    script = """
suppressPackageStartupMessages({library(survey); library(jsonlite)})
d <- read.csv("adults.csv")
d$xnear <- d$base * (1 + d$k * 2^-52)
des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
r <- svyranktest(xnear ~ lmm, subset(des, in_cohort == 1))
out <- list(t = unname(r$statistic), est = unname(r$estimate), p = unname(r$p.value),
            df = unname(r$parameter), n_distinct = length(unique(d$xnear)),
            n_levels = nlevels(factor(d$xnear)))
writeLines(toJSON(lapply(out, function(v) sprintf("%.17g", v)), auto_unbox = TRUE), "out.json")
"""
    ref = {k: float(v) for k, v in run_r(script, {"adults.csv": f[[
        "SDMVSTRA", "SDMVPSU", "weight", "in_cohort", "lmm", "base", "k"]]}).items()}
    assert ref["n_distinct"] == f["xnear"].nunique() > ref["n_levels"] == f["base"].nunique()
    des = Design.from_frame(f)
    res = svyranktest("xnear", "lmm", des, domain="in_cohort")
    assert res.statistic == pytest.approx(ref["t"], rel=1e-9)
    assert res.estimate == pytest.approx(ref["est"], rel=1e-9)
    assert res.p_value == pytest.approx(ref["p"], rel=1e-9) and res.df == ref["df"]
    # exact-equality ties (the former rule) miss R here, so the data exercise the rule
    monkeypatch.setattr(descriptive, "rank_tie_keys", lambda y: y)
    old = svyranktest("xnear", "lmm", des, domain="in_cohort")
    assert abs(old.statistic / ref["t"] - 1) > 1e-4
