"""Subgroup analyses (Figure 3 / S1) against R ``svyglm`` + ``regTermTest``, and small cells.

One Rscript run (tests/r/subgroups_ref.R): the hypertension = Yes domain estimates (quartiles
and ln-Mg) and the P for interaction of hypertension, education and age group, for both
outcomes. A second frame is damaged on purpose (a level with 3 participants, a quartile of a
level without LMM cases) to check that those rows come back not estimable, with a reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from nhmg_lib.analyses.subgroups import (SUBGROUPS, SubgroupError, adjusted_interaction_frame,
                                         interaction_frame, records, subgroup_analysis)
from nhmg_lib.survey import lrt
from nhmg_lib.analyses import models
from nhmg_lib.report.forest import forest_figure
from rhelpers import make_adults_frame, require_r, run_r

SCRIPT = Path(__file__).parent / "r" / "subgroups_ref.R"
REL = 1e-6
USED = ["hypertension", "education", "age"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_adults_frame(n=4000, n_strata=40, seed=23, domain_share=0.6)


@pytest.fixture(scope="module")
def analyses(frame: pd.DataFrame) -> dict:
    return {o: subgroup_analysis(frame, o, subgroups=USED) for o in ("lmm", "ln_smi")}


@pytest.fixture(scope="module")
def r_ref(frame: pd.DataFrame) -> dict:
    require_r(("survey", "jsonlite"))
    return run_r(SCRIPT.read_text(), {"adults.csv": frame,
                                      "params.json": {"covariates": list(MODEL3_COVARIATES)}})


@pytest.mark.r
@pytest.mark.parametrize("outcome", ["lmm", "ln_smi"])
def test_domain_estimates_match_r(analyses: dict, r_ref: dict, outcome: str) -> None:
    a, ref = analyses[outcome], r_ref[outcome]
    rows = a.rows.set_index(["subgroup", "level", "term"]).sort_index().loc[("hypertension", "yes")]
    scale = np.exp if outcome == "lmm" else (lambda v: np.asarray(v))
    q = rows.loc[["q2", "q3", "q4"]]
    assert q["estimable"].all()
    np.testing.assert_allclose(q["estimate"], scale(ref["q_coef"]), rtol=REL)
    np.testing.assert_allclose(q["ci_low"], scale(ref["q_lo"]), rtol=REL)
    np.testing.assert_allclose(q["ci_high"], scale(ref["q_hi"]), rtol=REL)
    np.testing.assert_allclose(q["p"], ref["q_p"], rtol=REL)
    assert a.fits[("hypertension", "yes", "quartiles")].df_resid == ref["q_df"]
    ln = rows.loc["ln_mg"]
    assert ln["estimate"] == pytest.approx(float(scale(ref["l_coef"])), rel=REL)
    assert ln["p"] == pytest.approx(ref["l_p"], rel=REL)
    np.testing.assert_allclose([ln["ci_low"], ln["ci_high"]], scale(ref["l_ci"]), rtol=REL)


@pytest.mark.r
@pytest.mark.parametrize("outcome", ["lmm", "ln_smi"])
@pytest.mark.parametrize("subgroup,rname", [("hypertension", "hypertension"),
                                             ("education", "education"), ("age", "age_group")])
def test_interaction_matches_regtermtest(analyses: dict, r_ref: dict, outcome: str,
                                         subgroup: str, rname: str) -> None:
    got = analyses[outcome].interactions.set_index("subgroup").loc[subgroup]
    ref = r_ref[outcome][f"int_{rname}"]
    assert got["F"] == pytest.approx(ref["F"], rel=REL)
    assert got["p"] == pytest.approx(ref["p"], rel=REL)
    assert (got["df"], got["ddf"]) == (ref["df"], ref["ddf"])


def damaged_frame() -> pd.DataFrame:
    """CKD = Yes for only 3 cohort members; no LMM case among former drinkers in Q4."""
    f = make_adults_frame(n=4000, n_strata=40, seed=29, domain_share=0.6)
    cohort = f["in_cohort"] == 1
    f.loc[cohort, "ckd"] = "No"
    f.loc[f.index[cohort][:3], "ckd"] = "Yes"
    f.loc[cohort & (f["drinking"] == "Former") & (f["mg_q"] == 4), "lmm"] = 0
    return f


def test_small_cells_are_not_estimable_with_reason() -> None:
    a = subgroup_analysis(damaged_frame(), "lmm", subgroups=["ckd", "drinking"])
    rows = a.rows.set_index(["subgroup", "level", "term"]).sort_index()
    ckd_yes = rows.loc[("ckd", "yes")]
    assert not ckd_yes.loc[["q2", "q3", "q4", "ln_mg"], "estimable"].any()
    assert "LMM cases" in ckd_yes.loc["q2", "reason"]
    assert rows.loc[("ckd", "no", "q4"), "estimable"]
    former = rows.loc[("drinking", "former")]
    assert not former.loc["q4", "estimable"] and former.loc["q4", "reason"] == "no LMM cases in Q4"
    assert former.loc[["q2", "q3", "ln_mg"], "estimable"].all()
    assert "fitted without Q4" in former.loc["q2", "reason"]
    recs = {r["id"]: r for r in a.records()}
    assert recs["fig3/ckd/yes/q4"]["estimate"] is None
    assert recs["fig3/drinking/former/q3"]["estimate"] > 0
    assert "fig3/ckd/p_interaction" in recs and "fig3/ckd/p_interaction_lrt" in recs
    fig = forest_figure(a, static=True)  # the forest plot still renders, both ways
    assert len(fig.axes) == 1
    interactive = forest_figure(a, static=False)
    hover = " ".join(t for tr in interactive.data for t in (tr.hovertext or ()))
    assert "no LMM cases in Q4" in hover


@pytest.mark.r
def test_adjusted_p_for_interaction_equals_r_p_adjust(analyses: dict) -> None:
    """Holm and BH over the subgroups of one figure (default coding), as R p.adjust."""
    require_r(("jsonlite",))
    for outcome, a in analyses.items():
        t = a.interactions
        ref = run_r('library(jsonlite); p <- read.csv("p.csv")$p\n'
                    'write_json(list(holm = p.adjust(p, "holm"), bh = p.adjust(p, "BH")), "out.json", digits = NA)',
                    {"p.csv": t[["p"]]})
        np.testing.assert_allclose(t["p_holm"], ref["holm"], rtol=1e-12)
        np.testing.assert_allclose(t["p_bh"], ref["bh"], rtol=1e-12)
        assert (t["p_holm"] >= t["p"]).all() and (t["p_bh"] <= t["p_holm"] + 1e-15).all()
        recs = {r["id"]: r for r in a.records()}
        fig = a.figure_id
        for sg, holm, bh in zip(t["subgroup"], t["p_holm"], t["p_bh"]):
            assert recs[f"{fig}/{sg}/p_interaction_holm"]["p"] == pytest.approx(holm, rel=1e-15)
            assert recs[f"{fig}/{sg}/p_interaction_bh"]["estimate"] == pytest.approx(bh, rel=1e-15)
    both = adjusted_interaction_frame({"LMM": analyses["lmm"], "SMI": analyses["ln_smi"]})
    assert list(both.columns) == [("LMM", "P"), ("LMM", "Holm"), ("LMM", "BH"),
                                  ("SMI", "P"), ("SMI", "Holm"), ("SMI", "BH")]
    assert both.loc["Hypertension", ("LMM", "Holm")] == models.format_p(
        analyses["lmm"].interactions.set_index("subgroup").loc["hypertension", "p_holm"])


def test_records_ids_and_errors(frame: pd.DataFrame) -> None:
    recs = records(frame, subgroups=["gender"])
    ids = {r["id"] for r in recs}
    assert {"fig3/gender/male/q2", "fig3/gender/female/ln_mg", "fig3/gender/p_interaction",
            "fig3/gender/p_interaction_lnmg", "figS1/gender/p_interaction_lrt",
            "figS1/gender/male/q4", "figS1/gender/p_interaction", "fig3/gender/p_interaction_holm",
            "figS1/gender/p_interaction_bh"} <= ids
    assert all(set(r) == {"id", "estimate", "ci_low", "ci_high", "p", "n"} for r in recs)
    assert [k for s in SUBGROUPS.values() for k, _, _ in s.levels][:4] == ["male", "female", "20_45", "46_59"]
    with pytest.raises(SubgroupError, match="unknown subgroups"):
        subgroup_analysis(frame, subgroups=["height"])


@pytest.mark.r
@pytest.mark.parametrize("outcome", ["lmm", "ln_smi"])
@pytest.mark.parametrize("subgroup,rname", [("hypertension", "hypertension"),
                                             ("education", "education"), ("age", "age_group")])
def test_other_interaction_codings_match_r(frame: pd.DataFrame, analyses: dict, r_ref: dict,
                                           outcome: str, subgroup: str, rname: str) -> None:
    """ln-Mg x subgroup Wald F (regTermTest) and the working LRT (anova(full, reduced), R's
    saddlepoint tail; Satterthwaite on request) agree with R to 1e-6."""
    got = analyses[outcome].interactions.set_index("subgroup").loc[subgroup]
    ln, lr = r_ref[outcome][f"lnmg_{rname}"], r_ref[outcome][f"lrt_{rname}"]
    assert got["F_lnmg"] == pytest.approx(ln["F"], rel=REL)
    assert got["p_lnmg"] == pytest.approx(ln["p"], rel=REL)
    assert (got["df_lnmg"], got["ddf_lnmg"]) == (ln["df"], ln["ddf"])
    assert got["chisq_lrt"] == pytest.approx(lr["chisq"], rel=REL)
    assert (got["df_lrt"], got["ddf_lrt"]) == (lr["df"], lr["ddf"])
    assert got["p_lrt"] == pytest.approx(lr["p"], rel=REL)
    fit = analyses[outcome].fits[(subgroup, "", "interaction")]
    red = analyses[outcome].fits[(subgroup, "", "interaction_reduced")]
    t = lrt.lrt_test(fit, red, "mg_q:_subgroup")
    np.testing.assert_allclose(t.lambdas, sorted(np.atleast_1d(lr["lambda"]), reverse=True), rtol=REL)
    sat = lrt.lrt_test(fit, red, "mg_q:_subgroup", approximation="satterthwaite")
    assert sat.p == pytest.approx(lr["p_satterthwaite"], rel=REL)
    # the three codings are separate records, the default id unchanged
    recs = {r["id"]: r["p"] for r in analyses[outcome].records()}
    fig = analyses[outcome].figure_id
    assert recs[f"{fig}/{subgroup}/p_interaction"] == pytest.approx(got["p"], rel=1e-12)
    assert recs[f"{fig}/{subgroup}/p_interaction_lnmg"] == pytest.approx(got["p_lnmg"], rel=1e-12)
    assert recs[f"{fig}/{subgroup}/p_interaction_lrt"] == pytest.approx(got["p_lrt"], rel=1e-12)


def test_chisq_sum_tails_hand_checked() -> None:
    """Equal design effects: sum_j lam Z_j^2 is lam * chi2_k, so Satterthwaite is exact and
    the saddlepoint close; pfsum with ddf = inf is the chi-square form; the F form tends to
    it as ddf grows."""
    from scipy import stats
    lam = [2.0, 2.0, 2.0]
    assert lrt.pchisqsum(9.0, lam, "satterthwaite") == pytest.approx(stats.chi2.sf(4.5, 3), rel=1e-12)
    assert lrt.pchisqsum(9.0, lam) == pytest.approx(stats.chi2.sf(4.5, 3), rel=0.02)
    assert lrt.pfsum(9.0, lam, float("inf")) == lrt.pchisqsum(9.0, lam)
    assert lrt.pfsum(9.0, lam, 30, "satterthwaite") == pytest.approx(stats.f.sf(1.5, 3, 30), rel=1e-12)
    assert lrt.pfsum(9.0, lam, 2000) == pytest.approx(lrt.pchisqsum(9.0, lam), rel=0.01)
    with pytest.raises(ValueError):
        lrt.pfsum(9.0, lam, 30, "integration")  # type: ignore[arg-type]


def test_interaction_test_option(frame: pd.DataFrame, analyses: dict) -> None:
    a = analyses["lmm"]
    assert a.interaction_test == "quartile_wald"
    t = a.interactions.set_index("subgroup")
    assert a.p_interaction("age") == t.loc["age", "p"]
    assert a.p_interaction("age", "lnmg_wald") == t.loc["age", "p_lnmg"]
    lr = subgroup_analysis(frame, "lmm", subgroups=["age"], interaction_test="quartile_lrt")
    assert lr.p_interaction("age") == pytest.approx(t.loc["age", "p_lrt"], rel=1e-12)
    assert interaction_frame({"LMM": lr}).iloc[0, 0] == interaction_frame({"LMM": a}, "quartile_lrt").loc["Age (years)", "LMM"]
    table = a.interaction_table()
    assert list(table.columns[-2:]) == ["P, ln-Mg × subgroup (Wald)", "P, quartiles × subgroup (LRT)"]
    assert table.set_index("Subgroup").loc["Age (years)", "P, Holm"] == models.format_p(t.loc["age", "p_holm"])
    assert lr.interactions["p_holm"].iloc[0] == lr.interactions["p"].iloc[0]   # one subgroup: nothing to adjust
    with pytest.raises(SubgroupError, match="interaction_test"):
        subgroup_analysis(frame, subgroups=["age"], interaction_test="score")


def test_codings_frame_and_disagreements(analyses: dict) -> None:
    from nhmg_lib.analyses.subgroups import coding_disagreements, interaction_codings_frame
    both = {"LMM": analyses["lmm"], "ln SMI": analyses["ln_smi"]}
    f = interaction_codings_frame(both)
    assert f.shape == (3, 6)
    t = analyses["ln_smi"].interactions.set_index("subgroup")
    assert f.loc["Education", ("ln SMI", "ln-Mg, Wald F")] == models.format_p(t.loc["education", "p_lnmg"])
    # a threshold between two codings' P values makes them disagree there, and only there
    p = sorted([t.loc["education", "p"], t.loc["education", "p_lnmg"]])
    alpha = (p[0] + p[1]) / 2
    hits = coding_disagreements({"ln SMI": analyses["ln_smi"]}, alpha=alpha)
    assert ("ln SMI", "Education") in [(n, s) for n, s, _ in hits]
    for _n, _s, ps in hits:
        assert len({v < alpha for v in ps.values()}) == 2
    assert coding_disagreements(both, alpha=1.0 + 1e-9) == []


def test_cell_counts_are_the_levels_quartile_counts(frame: pd.DataFrame, analyses: dict) -> None:
    """n_cell / cases_cell: participants and LMM cases of the level in the row's quartile,
    counted by hand from the frame."""
    dom = frame["in_cohort"] == 1
    yes = dom & (frame["hypertension"] == "Yes")
    rows = analyses["lmm"].rows.set_index(["subgroup", "level", "term"]).sort_index().loc[("hypertension", "yes")]
    for k in (1, 2, 3, 4):
        cell = yes & (frame["mg_q"] == k)
        assert rows.loc[f"q{k}", "n_cell"] == cell.sum()
        assert rows.loc[f"q{k}", "cases_cell"] == frame.loc[cell, "lmm"].sum()
    assert rows.loc["ln_mg", "n_cell"] == yes.sum()
    assert rows.loc["ln_mg", "cases_cell"] == frame.loc[yes, "lmm"].sum() == rows.loc["ln_mg", "events"]
    assert rows["n_cell"].loc[["q1", "q2", "q3", "q4"]].sum() == yes.sum()
    smi = analyses["ln_smi"].rows
    assert smi["cases_cell"].isna().all() and (smi["n_cell"] > 0).all()
