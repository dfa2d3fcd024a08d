"""Specification curve figure, summary and records on a hand-made multiverse result."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.analyses import multiverse as mv
from nhmg_lib.report import published
from nhmg_lib.report import specification_curve as sc


def fake_result() -> mv.MultiverseResult:
    """16 specifications (np_index x weight x energy, 2 x 2 x 2 x magnesium 2) with known
    estimates: magnesium moves every estimate by 0.4 on the link scale, energy by 0.05."""
    g = mv.grid({"np_index": ["product", "score"], "magnesium": ["diet", "total"],
                 "weight": ["wtdr2d", "wtmec2yr"], "egfr_equation": ["ckd_epi_2009"],
                 "drinking": ["nhanes_lifetime_12"], "physical_activity": ["who_600_met"],
                 "random_glucose": ["ogtt_2h"], "race": ["ridreth1"],
                 "covariates_required": ["model3_and_indices"], "magnesium_energy": ["none"],
                 "lmm_definition": ["fnih_bmi"], "lean_mass": ["bone_free"], "covariates": ["model3"], "vitamin_d": ["d3"],
                 "mediation_weighting": ["normalised"]})
    specs = mv.specifications(g)
    rows, totals = [], {}
    rng = np.random.default_rng(1)
    for e, est in mv.ESTIMATES.items():
        sign = -1 if est.outcome == "lmm" and est.exposure not in ("np", "mediation") else 1
        coef = sign * (0.5 + 0.4 * (specs["magnesium"] == "total") + 0.05 * (specs["energy_exclusion"] == "yes")
                       + 0.01 * (specs["weight"] == "wtmec2yr")).to_numpy()
        se = np.full(len(specs), 0.2)
        se[specs["np_index"].eq("score").to_numpy() & (specs.index % 2 == 0)] = 0.5  # some not significant
        from scipy import stats
        df = np.full(len(specs), 40)
        p = 2 * stats.t.sf(np.abs(coef / se), df)
        q = stats.t.ppf(0.975, 40)
        tf = np.exp if est.ratio else (lambda v: v)
        for i, sid in enumerate(specs.index):
            reason = "empty domain" if (e == "or_np" and i == 1) else None
            if reason:
                rows.append((sid, e, np.nan, np.nan, np.nan, np.nan, 0, np.nan, np.nan, np.nan, 0, reason))
            else:
                rows.append((sid, e, tf(coef[i]), tf(coef[i] - q * se[i]), tf(coef[i] + q * se[i]), p[i], 100,
                             coef[i], se[i], coef[i] / se[i], 40, None))
        if not est.mediation:   # the mediation estimates have no joint test
            totals[e] = rng.normal(size=(6, len(specs)))
    t = pd.DataFrame(rows, columns=["spec", "estimate", "value", "ci_low", "ci_high", "p", "n", "coef",
                                    "se", "z", "df", "reason"]).join(specs, on="spec")
    t["n_specs"] = 1
    t["panel"] = ["weight" if w == "wtmec2yr" else "main" for w in t["weight"]]
    t["is_default"] = t["spec"] == mv.default_spec_id(specs)
    assign = {e: np.arange(len(specs)) for e in mv.ESTIMATES}
    return mv.MultiverseResult(specs, t, totals, np.repeat(np.arange(3), 2), "k", 0.0, assign=assign)


def test_paper_directions_follow_the_published_values():
    by_id = {p.id: p.estimate for p in published.VALUES}
    d = sc.paper_directions()
    for e, est in mv.ESTIMATES.items():
        v = by_id.get(est.results_id)
        if est.sign_id:   # no paper value on this contrast or scale: the sign of the paper's own
            assert v is None and sc.paper_values()[e] is None
            v = by_id[est.sign_id]
        assert d[e] == (1 if (math.log(v) if est.ratio else v) > 0 else -1)
    assert d["pm_np_lmm"] == 1 and d["pm_np_smi"] == 1


def test_summary_and_the_choice_that_moves_most():
    res = fake_result()
    s = sc.summary(res)
    assert s.loc["or_lnmg", "moves_most"] == "magnesium"
    eff = sc.choice_effects(res, "beta_lnmg")
    # the weight is a panel of its own: not a choice of the main curve
    assert list(eff["choice"]) == ["magnesium", "energy_exclusion", "np_index"]
    assert eff["spread"].tolist() == pytest.approx([0.4, 0.05, 0.0])
    c = res.curve("beta_lnmg")
    assert s.loc["beta_lnmg", "median"] == pytest.approx(np.median(c["coef"]))
    assert s.loc["or_lnmg", "median"] == pytest.approx(np.exp(np.median(res.curve("or_lnmg")["coef"])))
    expected = ((c["p"] < 0.05) & (c["coef"] > 0)).mean()
    assert s.loc["beta_lnmg", "share_significant"] == pytest.approx(expected)
    assert 0 < expected < 1
    assert s.loc["or_np", "not_estimable"] == 1
    assert s.loc["or_q4", "default"] == pytest.approx(res.default_rows().loc["or_q4", "value"])
    table = sc.summary_table(res)
    assert table.shape[0] == len(mv.ESTIMATES) == 6 and "Choice that moves it most" in table
    # proportions mediated in %, as in Tables 7 and 8; the other estimates as numbers
    pm = s.loc["pm_np_smi"]
    assert table["Median (range)"].iloc[list(s.index).index("pm_np_smi")] == (
        f"{100 * pm['median']:.0f}% ({100 * pm['min']:.0f}% to {100 * pm['max']:.0f}%)".replace("-", "−"))
    assert "%" not in table["Median (range)"].iloc[list(s.index).index("or_q4")]
    assert s.loc["pm_np_smi", "median"] == pytest.approx(np.median(res.curve("pm_np_smi")["coef"]))
    assert pd.isna(s.loc["pm_np_lmm", "paper"])


def test_records_ids_and_joint_p_values():
    res = fake_result()
    jt = mv.joint_test(res, sc.paper_directions(), 30, workers=1, cache=False)
    recs = sc.records(res, jt)
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids))
    by = {r["id"]: r for r in recs}
    assert by["multiverse/n_specifications"]["estimate"] == 16
    assert by["multiverse/or_np/median"]["n"] == 7            # main curve, one not estimable
    assert by["multiverse/or_q4/distinct_specifications"]["estimate"] == 16
    assert by["multiverse/beta_lnmg/weight_panel/median"]["estimate"] == pytest.approx(
        np.median(res.panel("beta_lnmg", "weight")["coef"]))
    assert by["multiverse/beta_lnmg/mean_z"]["p"] == pytest.approx(jt.frame.loc["beta_lnmg", "p_mean_z"])
    assert by["multiverse/or_np/not_estimable"]["estimate"] == 1
    # the proportions mediated: summary records, no joint test
    assert by["multiverse/pm_np_lmm/median"]["p"] is None and "multiverse/pm_np_lmm/mean_z" not in by
    assert by["multiverse/pm_np_smi/share_significant"]["estimate"] is not None
    assert "pm_np_lmm" not in jt.frame.index
    cells = sc.summary_table(res, jt)["Joint p: median / share / mean z"]
    assert cells.iloc[-1] == "not tested" and cells.iloc[0].count("/") == 2


def test_figure_has_curve_dashboard_and_hover():
    res = fake_result()
    fig = sc.specification_curve_figure(res, "or_q4")
    ax, dash = fig.mpl.axes
    # sorted estimates, the default marked, the paper's value drawn
    ys = ax.collections[1].get_offsets()[:, 1]
    assert np.all(np.diff(ys) >= 0) and len(ys) == 8   # the main curve: WTDR2D only
    paper = sc.paper_values()["or_q4"]
    assert any(np.allclose(line.get_ydata(), paper) for line in ax.get_lines())
    labels = [t.get_text() for t in dash.get_yticklabels()]
    assert "magnesium: food and supplements" in labels and "energy exclusion: implausible intake left out" in labels
    assert not any("_" in lab or "wtmec2yr" in lab for lab in labels)  # words, not code names
    assert not any(lab.startswith("race") for lab in labels)   # not varied: no dashboard row
    pj = fig.plotly.to_plotly_json()
    hover = pj["data"][0]["text"]
    assert len(hover) == 8 and "magnesium = " in hover[0] and "spec " in hover[0]
    assert not any(lab.startswith("weight") for lab in labels)
    panel = sc.specification_curve_figure(res, "or_q4", panel="weight", interactive=False)
    assert len(panel.mpl.axes[0].collections[1].get_offsets()) == 8
    assert fig.to_bytes("png")[:4] == b"\x89PNG"


def test_summary_when_the_grid_leaves_out_the_default():
    res = fake_result()
    res.table["is_default"] = False
    assert (sc.summary_table(res)["Book default"] == "not in the grid").all()
    fig = sc.specification_curve_figure(res, "beta_lnmg", interactive=False)
    assert fig.plotly is None and len(fig.mpl.axes) == 2


def test_panel_summary_is_the_weight_panel():
    res = fake_result()
    p = sc.panel_summary(res).set_index("estimate")
    assert (p["panel"] == "weight").all() and (p["specifications"] == 8).all()
    c = res.panel("beta_lnmg", "weight")
    assert p.loc["beta_lnmg", "median"] == pytest.approx(np.median(c["coef"]))
    assert p.loc["beta_lnmg", "values"] == "wtmec2yr"
    t = sc.panel_table(res)
    assert t.shape[0] == len(p)
    assert (t["Choice (values)"] == "weight (examination weight)").all()   # words, not code names


def test_distinct_table_counts_rows_and_blank_choices():
    res = fake_result()
    res.table.loc[res.table["estimate"] == "or_q4", "np_index"] = None   # np cannot move it
    t = sc.distinct_table(res)
    row = t.loc[mv.ESTIMATES["or_q4"].label]
    assert row["Grid specifications"] == "16" and row["Distinct"] == "8 + 8 (weight panel)"
    assert row["Cannot move it"] == "NP index"
    assert t.loc[mv.ESTIMATES["pm_np_lmm"].label, "Held at the default"] == "weight"


def test_figure_keeps_its_width_on_a_phone():
    """On a phone the dashboard's labels stand inside the plot (they would take most of its
    width), rows get taller; the legend is above the plot on the left, clear of the toolbar."""
    res = fake_result()
    fig = sc.specification_curve_figure(res, "or_q4")
    n_rows = len(fig.mpl.axes[1].get_yticklabels())
    assert fig.narrow["yaxis2.ticklabelposition"] == "inside top"
    assert fig.narrow["height"] == sc.WIDE_BASE_PX + 100 + sc.NARROW_ROW_PX * n_rows
    assert fig.narrow["height"] - fig.plotly.layout.height == 100 + (sc.NARROW_ROW_PX - sc.WIDE_ROW_PX) * n_rows
    assert fig.plotly.layout.yaxis2.ticklabelposition == "outside"   # what a wide screen restores
    legend = fig.plotly.layout.legend
    assert (legend.x, legend.xanchor, legend.y, legend.yanchor) == (0, "left", 1.0, "bottom")
    # printed: no text under 8.5 pt on a figure as wide as the PDF's text
    assert fig.mpl.get_size_inches()[0] <= 6.3
    sizes = [t.get_fontsize() for ax in fig.mpl.axes for t in ax.get_yticklabels() + ax.get_xticklabels()]
    assert min(sizes) >= sc.PRINT_FONT_PT == 8.5


def test_significant_share_reads_none_where_the_fixed_choices_leave_no_specification():
    res = fake_result()
    p = sc.panel_summary(res).set_index("estimate")
    share = p.loc["beta_lnmg", "share_significant"]
    assert sc.significant_share(p, "beta_lnmg") == f"{100 * share:.0f}%"
    assert sc.significant_share(p.iloc[0:0], "beta_lnmg").startswith("none")


def test_choices_are_named_in_words_in_prose_and_tables():
    assert sc.choice_words("magnesium_energy") == "magnesium and energy"
    assert sc.choice_words("lmm_definition") == "LMM definition"
    assert sc.choice_words("lean_mass") == "limb lean mass"
    res = fake_result()
    joint = sc.summary_table(res)
    assert not joint["Choice that moves it most"].str.contains("_").any()
