"""Scorecard verdicts on hand-made records (no data needed)."""

from __future__ import annotations

import json

import pytest

from nhmg_lib.report import published
from nhmg_lib.report.published import Published
from nhmg_lib.report.scorecard import exhibit_of, kind_of, round_half_up, scorecard


def rec(id, estimate, lo=None, hi=None, p=None, n=None):
    return {"id": id, "estimate": estimate, "ci_low": lo, "ci_high": hi, "p": p, "n": n}


def row(card, id):
    r = card.frame.set_index("id").loc[id]
    return r.to_dict()


def test_kinds_and_exhibits():
    assert kind_of("table2/model3/q4") == "odds ratio"
    assert kind_of("tableS3/lmm/above") == "odds ratio"
    assert kind_of("fig3/hypertension/yes/q4") == "odds ratio"
    assert kind_of("table5/np/model3/ln_index") == "odds ratio"
    assert kind_of("table3/model3/ln_mg") == "beta"
    assert kind_of("table4/np/model3/q4") == "beta"
    assert kind_of("table6/rar/model3/ln_index") == "beta"
    assert kind_of("table7/np/nie") == "odds ratio"
    assert kind_of("table8/np/nie") == "beta"
    assert kind_of("table7/np/pm") == "proportion mediated"
    assert kind_of("fig2/lmm/p_nonlinear") == "p-value"
    assert kind_of("table2/model3/p_trend") == "p-value"
    assert kind_of("flow/final_n") == "count"
    assert kind_of("cohort/lmm_pct") == "count"
    assert kind_of("tableS1/excluded_n") == "count"
    assert kind_of("tableS3/lmm/inflection") == "count"
    assert exhibit_of("tableS3/lmm/above") == "Table S3"
    assert exhibit_of("fig3/x") == "Figure 3"
    assert exhibit_of("flow/final_n") == "Figure 1"


def test_round_half_up():
    assert round_half_up(0.325, 2) == 0.33
    assert round_half_up(-0.125, 2) == -0.13
    assert round_half_up(5792.5, 0) == 5793


def test_within_rounding_and_ci_overlap():
    pubs = [Published("table2/model3/q4", 0.33, 0.18, 0.60),
            Published("table2/model3/q3", 0.63, 0.41, 0.96),
            Published("table3/model3/q4", 0.05, 0.04, 0.07)]
    card = scorecard([rec("table2/model3/q4", 0.3349, 0.2, 0.5, 0.001),
                      rec("table2/model3/q3", 0.9, 0.97, 1.2),
                      rec("table3/model3/q4", 0.0551, 0.03, 0.08)], pubs)
    q4 = row(card, "table2/model3/q4")
    assert q4["within_rounding"] is True and q4["ci_overlap"] is True
    assert q4["abs_diff"] == pytest.approx(0.0049)
    assert q4["rel_diff"] == pytest.approx(0.0049 / 0.33)
    q3 = row(card, "table2/model3/q3")
    assert q3["within_rounding"] is False and q3["ci_overlap"] is False
    assert q3["same_sign"] is True            # both below 1
    assert q3["same_significance"] is False   # published excludes 1, book does not
    assert q3["agrees"] is False
    assert row(card, "table3/model3/q4")["within_rounding"] is False  # 0.0551 -> 0.06


def test_sign_or_versus_beta():
    pubs = [Published("table2/model3/q4", 0.33, 0.18, 0.60),
            Published("table4/np/model3/q4", -0.12, -0.17, -0.07)]
    # an OR of 0.5 is protective like 0.33 (same side of 1) although both are positive numbers
    card = scorecard([rec("table2/model3/q4", 0.5, 0.3, 0.8),
                      rec("table4/np/model3/q4", 0.5, 0.3, 0.8)], pubs)
    assert row(card, "table2/model3/q4")["same_sign"] is True
    assert row(card, "table2/model3/q4")["agrees"] is True
    beta = row(card, "table4/np/model3/q4")
    assert beta["same_sign"] is False           # beta: opposite sides of 0
    assert beta["same_significance"] is True    # both CIs exclude 0
    assert beta["agrees"] is False
    card = scorecard([rec("table2/model3/q4", 1.5, 1.2, 1.9)], pubs[:1])
    assert row(card, "table2/model3/q4")["same_sign"] is False


def test_p_value_significance():
    pubs = [Published("fig2/lmm/p_nonlinear", 0.012, decimals=3),
            Published("fig2/smi/p_nonlinear", 0.262, decimals=3),
            Published("fig3/hypertension/p_interaction", 0.005, decimals=3)]
    card = scorecard([rec("fig2/lmm/p_nonlinear", 0.2, p=0.2),
                      rec("fig2/smi/p_nonlinear", 0.26249, p=0.26249),
                      rec("fig3/hypertension/p_interaction", 0.03, p=0.03)], pubs)
    lmm = row(card, "fig2/lmm/p_nonlinear")
    # a p-value has no sign: the significance test is its only verdict, counted once
    assert lmm["same_sign"] is None and lmm["same_significance"] is False
    assert lmm["agrees"] is False
    smi = row(card, "fig2/smi/p_nonlinear")
    assert smi["within_rounding"] is True and smi["same_significance"] is True
    assert smi["same_sign"] is None and smi["agrees"] is True
    inter = row(card, "fig3/hypertension/p_interaction")
    assert inter["within_rounding"] is False and inter["same_significance"] is True
    assert inter["ci_overlap"] is None


def test_published_without_ci_read_from_text_and_pm_sign():
    pubs = [Published("table7/np/pm", 0.18), Published("table2/model3/ln_mg", 0.32)]
    card = scorecard([rec("table7/np/pm", 0.10, -0.05, 0.3),
                      rec("table2/model3/ln_mg", 0.3, 0.2, 0.45)], pubs)
    pm = row(card, "table7/np/pm")
    assert pm["published_significance"] == "text"
    assert pm["same_sign"] is True and pm["same_significance"] is False
    assert pm["ci_overlap"] is None           # the paper prints no CI
    ln = row(card, "table2/model3/ln_mg")
    assert ln["same_significance"] is True and ln["agrees"] is True


def test_counts_use_relative_difference():
    pubs = [Published("flow/final_n", 5793, decimals=0),
            Published("tableS1/excluded_n", 187, decimals=0)]
    card = scorecard([rec("flow/final_n", 5800), rec("tableS1/excluded_n", 230)], pubs)
    assert row(card, "flow/final_n")["same_sign"] is True
    assert row(card, "flow/final_n")["same_significance"] is None
    assert row(card, "flow/final_n")["agrees"] is True
    assert row(card, "tableS1/excluded_n")["agrees"] is False
    card = scorecard([rec("flow/final_n", 5793.0)], pubs[:1])
    assert row(card, "flow/final_n")["within_rounding"] is True


def test_not_computed_rows_are_kept():
    pubs = [Published("table2/model3/q4", 0.33, 0.18, 0.60),
            Published("table8/par/pm", 0.32)]
    card = scorecard([rec("table2/model3/q4", 0.33, 0.2, 0.5),
                      rec("table8/par/pm", None)], pubs)
    assert list(card.frame["id"]) == ["table2/model3/q4", "table8/par/pm"]
    missing = row(card, "table8/par/pm")
    assert missing["status"] == "not computed" and missing["book"] is None
    assert missing["within_rounding"] is False and missing["agrees"] is False
    assert card.summary() == ("1 of 2 published numbers reproduced within rounding; 1 of 2 "
                              "agree in sign and significance (1 not computed)")
    text = card.render().to_csv()
    assert "not computed" in text


def test_full_published_list_render_and_csv(tmp_path):
    from nhmg_lib.cohort.definitions import Definitions

    recs = [rec(p.id, p.estimate, p.ci_low, p.ci_high) for p in published.VALUES]
    card = scorecard(recs, defs=Definitions(np_index="score"))
    assert card.n == len(published.VALUES) and card.n_different_measure == 0
    assert card.n_within_rounding == card.n
    assert card.n_agree == card.n
    assert card.summary().startswith(f"{card.n} of {card.n} published numbers reproduced")
    table = card.render()
    html = table._repr_html_()
    # readers see the quantity in words; the id stays in the CSV
    assert "Table 2" in html and "Model 3, Q4 vs Q1 (OR)" in html and "table2/model3/q4" not in html
    assert "xltabular" in table.to_latex()
    path = tmp_path / "scorecard.csv"
    card.to_csv(path)
    head = path.read_text().splitlines()[0].split(",")
    for col in ("id", "label", "exhibit", "published", "book", "abs_diff", "rel_diff", "within_rounding",
                "ci_overlap", "same_sign", "same_significance"):
        assert col in head
    # a results.json path works as input too
    rj = tmp_path / "results.json"
    rj.write_text(json.dumps(recs))
    assert scorecard(rj, defs=Definitions(np_index="score")).summary() == card.summary()


def test_ids_in_words():
    from nhmg_lib.report.scorecard import describe

    assert describe("table2/model3/q4") == "Table 2, Model 3, Q4 vs Q1 (OR)"
    assert describe("table3/model3/ln_mg") == "Table 3, Model 3, per ln unit of magnesium (β)"
    assert describe("table5/np/model3/ln_index") == "Table 5, Model 3, per ln unit of NP (OR)"
    assert describe("fig3/hypertension/p_interaction") == "Figure 3, hypertension, P for interaction"
    assert describe("table7/np/pm") == "Table 7, NP, proportion mediated"
    assert describe("flow/final_n") == "Figure 1, final cohort (n)"
    card = scorecard([rec("table2/model3/q4", 0.33, 0.2, 0.5)],
                     [Published("table2/model3/q4", 0.33, 0.18, 0.60)])
    assert card.frame.loc[0, "label"] == "Table 2, Model 3, Q4 vs Q1 (OR)"
    assert card.frame.loc[0, "id"] == "table2/model3/q4"


def test_no_relative_difference_for_p_values():
    pubs = [Published("fig3/hypertension/p_interaction", 0.005, decimals=3),
            Published("table2/model3/q4", 0.33, 0.18, 0.60)]
    card = scorecard([rec("fig3/hypertension/p_interaction", 0.004),
                      rec("table2/model3/q4", 0.36, 0.2, 0.5)], pubs)
    p_row = row(card, "fig3/hypertension/p_interaction")
    assert p_row["rel_diff"] is None and p_row["abs_diff"] == pytest.approx(-0.001)
    assert row(card, "table2/model3/q4")["rel_diff"] == pytest.approx(0.03 / 0.33)
    cells = card.render().to_frame()
    rel = [c for c in cells.columns if c.endswith("rel.")][0]
    assert [c for c in cells[rel] if c] == ["+9.1%"]  # none for the p-value


def test_np_pairs_of_different_measures_are_flagged_not_counted():
    from nhmg_lib.cohort.definitions import DEFAULT, Definitions

    pubs = [Published("table2/model3/q4", 0.33, 0.18, 0.60),
            Published("table5/np/model3/ln_index", 2.46, 1.96, 3.09),
            Published("table7/np/pm", 0.18)]
    recs = [rec("table2/model3/q4", 0.33, 0.2, 0.5), rec("table5/np/model3/ln_index", 2.46, 2.0, 3.0),
            rec("table7/np/pm", 0.18, 0.05, 0.3)]
    assert DEFAULT.np_index == "product"
    card = scorecard(recs, pubs)                      # the book's default NP: the product
    np5 = row(card, "table5/np/model3/ln_index")
    assert np5["comparable"] is False and np5["agrees"] is False
    assert np5["within_rounding"] is True             # equal numbers, yet not an agreement
    assert np5["why"].startswith("different measure")
    assert card.n == 1 and card.n_different_measure == 2 and card.n_agree == 1
    assert card.summary() == ("1 of 1 published numbers reproduced within rounding; 1 of 1 agree "
                              "in sign and significance; 2 further pairs compare different "
                              "measures and are not counted")
    shown = card.display_frame()
    np_row = shown.loc[("Table 5", "Model 3, per ln unit of NP (OR)")]
    assert list(np_row.iloc[4:8]) == ["–"] * 4
    # with the published score the pairs are comparable and count
    same = scorecard(recs, pubs, defs=Definitions(np_index="score"))
    assert same.n == 3 and same.n_agree == 3 and same.frame["why"].tolist() == ["", "", ""]


def test_why_it_differs_names_the_categories():
    from nhmg_lib.report.scorecard import WHY, why_differs

    pubs = [Published("table2/model3/q4", 0.33, 0.18, 0.60), Published("table8/par/pm", 0.24),
            Published("flow/final_n", 5793, decimals=0)]
    recs = [rec("table2/model3/q4", 0.40, 0.2, 0.7), rec("table8/par/pm", 0.30, 0.1, 0.5),
            rec("flow/final_n", 5793)]
    card = scorecard(recs, pubs)
    assert row(card, "table2/model3/q4")["why"] == "definition"
    assert row(card, "table8/par/pm")["why"] == "definition, weighting, contrast"
    assert row(card, "flow/final_n")["why"] == ""     # equal within rounding: nothing to explain
    synth = scorecard(recs, pubs, synthetic=True)
    assert row(synth, "table2/model3/q4")["why"] == "synthetic data, definition"
    assert set(why_differs("table7/np/pm", synthetic=True)) <= set(WHY)
    html = card.render()._repr_html_()
    assert "Why it may differ" in html and "weighting: how the survey weights" in html
