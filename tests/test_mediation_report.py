"""Tables 7-8 and Figures 4-5: records, the proportion-mediated relation, the Q1->Q4 contrast
and the path diagrams, on a small synthetic adults frame with few resamples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.analyses import mediation
from nhmg_lib.report import mediation_diagram
from nhmg_lib.report import mediation_report as mr
from nhmg_lib.report.figures import BookFigure
from nhmg_lib.report.tables import PublicationTable

from rhelpers import make_adults_frame

BOOT = 50


@pytest.fixture(scope="module")
def adults() -> pd.DataFrame:
    # every stratum keeps both PSUs in the domain, so the design bootstrap can resample it
    df = make_adults_frame(n=2500, seed=3, domain_share=0.5, holes=False)
    rng = np.random.default_rng(11)
    n = len(df)
    # inflammatory indices (positive; ln_<x> is taken by the mediation module), related to Mg
    lm = df["ln_mg"].to_numpy() - 5.7
    df["np"] = np.exp(7.8 - 0.2 * lm + rng.normal(0, 0.4, n))
    df["par"] = np.exp(1.8 - 0.1 * lm + rng.normal(0, 0.25, n))
    df["rar"] = np.exp(-0.9 - 0.05 * lm + rng.normal(0, 0.1, n))
    df["cally"] = np.exp(0.5 + 0.4 * lm + rng.normal(0, 1.0, n))
    df.loc[rng.random(n) < 0.4, "cally"] = np.nan  # CRP measured in part of the cycles only
    return df


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("medcache"))


@pytest.fixture(scope="module")
def block(adults: pd.DataFrame, cache: str) -> dict:
    return mr.mediation_block(adults, boot=BOOT, seed=2, cache_dir=cache)


@pytest.fixture(scope="module")
def design(adults: pd.DataFrame, cache: str) -> dict:
    return mr.design_block(adults, boot=BOOT, seed=2, cache_dir=cache)


@pytest.fixture(scope="module")
def recs(adults: pd.DataFrame, block: dict, design: dict) -> list[dict]:
    return mr.records(adults, boot=BOOT, seed=2, results=block, design=design)


def test_block_keys_and_cohort_rows(adults, block):
    assert set(block) == {(m, o) for m in mr.MEDIATORS for o in ("lmm", "ln_smi")}
    n_cohort = int((adults["in_cohort"] == 1).sum())
    assert block[("ln_np", "lmm")].n <= n_cohort
    assert block[("ln_cally", "lmm")].n < block[("ln_np", "lmm")].n  # CALLY missing in part
    assert block[("ln_np", "lmm")].family == "binomial"
    assert block[("ln_np", "ln_smi")].family == "gaussian"
    assert all(r.boot == BOOT and (r.a, r.a_star) == (1.0, 0.0) for r in block.values())


def test_block_reads_cache(adults, block, cache):
    again = mr.mediation_block(adults, boot=BOOT, seed=2, cache_dir=cache)
    assert all(r.from_cache for r in again.values())
    for k, r in again.items():
        assert r.estimate == pytest.approx(block[k].estimate, nan_ok=True)


def test_record_ids_complete_and_unique(recs):
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids))
    expected = set()
    for table in ("table7", "table8"):
        for index in mr.INDICES:
            expected |= {f"{table}/{index}/{k}" for k in mediation.EFFECTS}
            expected |= {f"{table}/{index}/{c}/{k}" for c in ("q1q4", "iqr")
                         for k in mediation.EFFECTS}
            expected |= {f"{table}/{index}{c}/{k}/design" for c in ("", "/q1q4", "/iqr")
                         for k in ("nde", "nie", "te", "pm")}
    assert set(ids) == expected
    for r in recs:
        assert set(r) == {"id", "estimate", "ci_low", "ci_high", "p", "n"}
        assert r["estimate"] is None or isinstance(r["estimate"], float)
        assert isinstance(r["n"], int)


def _by_id(recs: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in recs}


@pytest.mark.parametrize("suffix", ["", "/q1q4", "/iqr"])
def test_proportion_mediated_relation(recs, suffix):
    got = _by_id(recs)
    for index in mr.INDICES:
        t7 = {k: got[f"table7/{index}{suffix}/{k}"]["estimate"] for k in ("nde", "nie", "te", "pm")}
        assert t7["te"] == pytest.approx(t7["nde"] * t7["nie"], rel=1e-10)
        assert t7["pm"] == pytest.approx(t7["nde"] * (t7["nie"] - 1) / (t7["nde"] * t7["nie"] - 1),
                                         rel=1e-9)
        t8 = {k: got[f"table8/{index}{suffix}/{k}"]["estimate"] for k in ("nde", "nie", "te", "pm")}
        assert t8["te"] == pytest.approx(t8["nde"] + t8["nie"], rel=1e-10)
        assert t8["pm"] == pytest.approx(t8["nie"] / t8["te"], rel=1e-9)


def test_q1q4_contrast_is_at_of_quartile_medians(adults, block, recs):
    cohort = adults[adults["in_cohort"] == 1]
    lo = cohort.loc[cohort["mg_q"] == 1, "ln_mg"].median()
    hi = cohort.loc[cohort["mg_q"] == 4, "ln_mg"].median()
    assert mr.quartile_medians(adults) == pytest.approx((lo, hi))
    got = _by_id(recs)
    for (med, out), res in block.items():
        prefix = "table7" if out == "lmm" else "table8"
        ref = res.at(hi, lo)
        for k in ("nde", "nie", "te", "pm"):
            r = got[f"{prefix}/{med[3:]}/q1q4/{k}"]
            assert r["estimate"] == pytest.approx(ref.estimate[k])
            assert r["ci_low"] == pytest.approx(ref.ci_low[k])
            assert r["ci_high"] == pytest.approx(ref.ci_high[k])
        # the a=1 vs a*=0 records are unchanged by the contrast
        assert got[f"{prefix}/{med[3:]}/nie"]["estimate"] == pytest.approx(res.estimate["nie"])
        # the in-data CDE is evaluated at the mediator's mean, not at m = 0
        m_mean = float(np.log(cohort[med[3:]]).mean())
        cde = (res.params["t1"] + res.params["t3"] * m_mean) * (hi - lo)
        assert got[f"{prefix}/{med[3:]}/q1q4/cde"]["estimate"] == pytest.approx(
            np.exp(cde) if out == "lmm" else cde, rel=1e-10)


def test_iqr_contrast_and_points(adults, block, recs):
    x = adults.loc[adults["in_cohort"] == 1, "ln_mg"].to_numpy()
    pts = mr.contrast_points(adults)
    assert pts["iqr"] == pytest.approx(tuple(np.quantile(x, [0.25, 0.75])))
    assert pts["unit"] == (0.0, 1.0) and pts["q1q4"] == mr.quartile_medians(adults)
    got = _by_id(recs)
    res = block[("ln_par", "ln_smi")]
    lo, hi = pts["iqr"]
    nie = (res.params["t2"] * res.params["b1"] + res.params["t3"] * res.params["b1"] * hi) * (hi - lo)
    assert got["table8/par/iqr/nie"]["estimate"] == pytest.approx(nie, rel=1e-10)
    assert mr.contrast(res, adults, "unit") is res
    with pytest.raises(mediation.MediationError, match="contrast"):
        mr.contrast(res, adults, "decile")
    assert "→" in mr.contrast_text(adults, "iqr") and "mg/day" in mr.contrast_text(adults, "iqr")


def test_quartile_medians_without_mg_q(adults):
    assert mr.quartile_medians(adults.drop(columns="mg_q")) == pytest.approx(
        mr.quartile_medians(adults))


def test_tables(block):
    t7 = mr.table(block, "lmm")
    t8 = mr.table(block, "smi")
    assert isinstance(t7, PublicationTable) and isinstance(t8, PublicationTable)
    assert t7.label == "Table 7" and "LMM" in t7.caption
    assert t8.label == "Table 8" and "SMI" in t8.caption
    f7 = mr.table_frame(block, "lmm")
    assert list(f7.index) == ["CALLY", "NP", "PAR", "RAR"]
    assert ("NIE", "OR (95% CI)") in f7.columns and ("NIE", "P") in f7.columns
    assert ("TE", "β (95% CI)") in mr.table_frame(block, "ln_smi").columns
    assert "Proportion mediated" in t7.to_html() and "xltabular" in t7.to_latex()
    with pytest.raises(mediation.MediationError):
        mr.table(block, "bmi")


def test_table_leads_with_contrasts_inside_the_data(adults, block):
    t7 = mr.table(block, "lmm", adults=adults)
    blocks = list(dict.fromkeys(t7.frame.index.get_level_values(0)))
    assert blocks == list(mr.CONTRASTS.values())        # Q1->Q4 first, the paper's last
    q = mr.contrast_block(block, adults, "q1q4")
    first = t7.frame.loc[mr.CONTRASTS["q1q4"]]
    assert first.equals(mr.table_frame(q, "lmm"))
    assert t7.frame.loc[mr.CONTRASTS["unit"]].equals(mr.table_frame(block, "lmm"))
    notes = " ".join(t7.footnotes)
    assert "interquartile" in notes and "2/(B + 1)" in notes


def test_path_coefficients_match_params(block):
    res = block[("ln_np", "lmm")]
    pc = mediation_diagram.path_coefficients(res)
    assert pc["a"][0] == res.params["b1"]
    # b is the mediator's slope at the contrast's end value of ln-Mg, not at ln-Mg = 0
    assert pc["b"][0] == pytest.approx(res.params["t2"] + res.params["t3"] * res.a, rel=1e-12)
    assert mediation_diagram.path_coefficients(res, at=0.0)["b"][0] == res.params["t2"]
    assert pc["a"][1] <= pc["a"][2] and pc["b"][1] <= pc["b"][2]


def test_figures_build(block, tmp_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    one = mediation_diagram.path_diagram(block[("ln_np", "lmm")], "ln NP", "LMM")
    assert isinstance(one, BookFigure)
    assert one.to_bytes("png", dpi=50)[:4] == b"\x89PNG"
    for outcome in ("lmm", "ln_smi"):
        fig = mediation_diagram.figure(block, outcome)
        assert isinstance(fig, BookFigure)
        w, h = fig.mpl.get_size_inches()
        assert w <= 10.5 and h <= 8
        assert len([ax for ax in fig.mpl.axes if ax.patches]) == 4
        fig.save(tmp_path / f"{outcome}.pdf")
        assert (tmp_path / f"{outcome}.pdf").read_bytes()[:4] == b"%PDF"


def test_a_pair_that_cannot_be_fitted_is_shown_as_not_estimable(adults, cache):
    # CALLY for only five cohort members: too few complete rows for any fit.
    few = adults.copy()
    keep = few.index[few["in_cohort"] == 1][:5]
    few.loc[~few.index.isin(keep), "cally"] = np.nan
    block = mr.mediation_block(few, boot=20, seed=1, cache_dir=cache)
    assert set(block.not_estimable) == {("ln_cally", "lmm"), ("ln_cally", "ln_smi")}
    assert ("ln_np", "lmm") in block and ("ln_cally", "lmm") not in block
    recs = {r["id"]: r for r in mr.records(few, results=block)}
    assert recs["table7/cally/pm"]["estimate"] is None and recs["table7/np/pm"]["estimate"] is not None
    notes = " ".join(mr.table(block, "lmm").footnotes)
    assert "CALLY: not estimable" in notes
    assert mr.block_facts(block, few)["not_estimable"] == "CALLY for LMM; CALLY for SMI"
    # the row stays, saying so, with the reason in the note: never silently dropped
    frame = mr.table_frame(block, "lmm")
    assert list(frame.index) == ["CALLY", "NP", "PAR", "RAR"]
    assert frame.loc["CALLY", ("NDE", "OR (95% CI)")] == "not estimable"
    assert frame.loc["CALLY", ("NDE", "P")] == ""


def test_contrast_facts(adults, block):
    f = mr.block_facts(block, adults)
    res = block[("ln_np", "lmm")]
    # a proportion whose total effect's CI includes the null is not quoted as a number
    assert mr.pm_verdict(res) is not None           # a* = 0 -> a = 1 here: TE CI includes 1
    assert f["pm_np_lmm_unit"].startswith("not meaningful")
    q = mr.q1q4(res, adults)
    assert mr.pm_verdict(q) is None
    assert f["pm_np_lmm_q1q4"] == mr.format_number(100 * q.estimate["pm"], 0) + "%"
    assert float(f["p_floor"]) == pytest.approx(2 / (BOOT + 1), rel=1e-2)
    x = adults.loc[adults["in_cohort"] == 1, "ln_mg"]
    assert f["lnmg_min"] == f"{x.min():.1f}" and f["q1q4_text"] == mr.contrast_text(adults, "q1q4")


def test_bootstrap_p_at_its_floor_prints_as_a_bound(block):
    from dataclasses import replace

    res = block[("ln_np", "lmm")]
    ok = int(np.isfinite(np.asarray(res.draws)[:, mediation.EFFECTS.index("nie")]).sum())
    assert mr.p_floor(res, "nie") == pytest.approx(2 / (ok + 1))
    at_floor = replace(res, p={**res.p, "nie": 2 / (ok + 1), "nde": 0.5})
    # with 50 resamples the floor is 2/51 = 0.0392: the table says "at most 0.040", not "0.039"
    if ok == BOOT:
        assert mr.p_text(at_floor, "nie") == "≤0.040"
    assert mr.p_text(at_floor, "nie").startswith("≤")
    assert mr.p_text(at_floor, "nde") == "0.500"
    # 1000 resamples, none failed: 2/1001 = 0.001998 reads "≤0.002"
    thousand = replace(res, boot=1000, draws=np.ones((1000, len(mediation.EFFECTS))),
                       p={**res.p, "nie": 2 / 1001}, p_floor={**res.p_floor, "nie": 2 / 1001})
    assert mr.p_text(thousand, "nie") == "≤0.002"
    t7 = mr.table({("ln_np", "lmm"): at_floor}, "lmm")
    assert mr.p_text(at_floor, "nie") in t7.to_html()
    # PAR and RAR have no row here: the paper's values go to a footnote
    assert any(f.startswith("Paper, for rows the book does not show: PAR 13%; RAR 21%")
               for f in t7.footnotes)


def test_tables_carry_the_papers_proportions_mediated(block):
    t7 = mr.table(block, "lmm")
    rows = dict(zip(range(len(t7.row_labels)), t7.row_labels))
    np_at = t7.row_labels.index("NP")
    assert t7.row_labels[np_at + 1] == "Paper" and t7.cells[np_at + 1][-1] == "18%"
    assert t7.row_labels.count("Paper") == 3 and "Paper" != rows[0]  # NP, PAR, RAR; not CALLY


def test_diagram_text_is_legible_and_inside_its_boxes(block):
    """Figures 4-5 at the size the web page shows them (the text column, about 730 px): no
    text under 8.5 pt (about 11 px there), box labels inside their boxes, nothing off the
    figure (issue 12: "Low muscle mass" ran out of its box, text was ~7 px)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import FancyBboxPatch

    for outcome in ("lmm", "ln_smi"):
        fig = mediation_diagram.figure(block, outcome).mpl
        w_in = fig.get_size_inches()[0]
        assert w_in <= 7.8  # shown at (about) its own size in the text column, not shrunk
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        fig_box = fig.bbox
        for ax in fig.axes:
            texts = [t for t in ax.texts if t.get_text()]
            assert texts and min(t.get_fontsize() for t in texts) >= 8.5
            for t in texts + [ax.title]:
                e = t.get_window_extent(renderer)
                assert e.x0 >= fig_box.x0 - 1 and e.x1 <= fig_box.x1 + 1, t.get_text()
            for patch in (p for p in ax.patches if isinstance(p, FancyBboxPatch)):
                pe = patch.get_window_extent(renderer)
                cx, cy = (pe.x0 + pe.x1) / 2, (pe.y0 + pe.y1) / 2
                label = min(texts, key=lambda t: abs(t.get_window_extent(renderer).x0 + t.get_window_extent(renderer).width / 2 - cx)
                            + abs(t.get_window_extent(renderer).y0 + t.get_window_extent(renderer).height / 2 - cy))
                le = label.get_window_extent(renderer)
                assert pe.x0 <= le.x0 and le.x1 <= pe.x1, (outcome, label.get_text())
                assert pe.y0 <= le.y0 and le.y1 <= pe.y1, (outcome, label.get_text())


def test_paper_lines_sit_in_the_papers_contrast_block(adults, block):
    """With one row block per contrast, the paper's values go under the a* = 0 -> a = 1 rows
    (the contrast the paper used), never under the in-data contrasts."""
    t7 = mr.table(block, "lmm", adults=adults)
    labels, groups = t7.row_labels, t7.row_is_group
    paper_rows = [i for i, label in enumerate(labels) if label == "Paper"]
    assert len(paper_rows) == 3                               # NP, PAR, RAR
    unit_start = labels.index(mr.CONTRASTS["unit"])
    assert groups[unit_start] and all(i > unit_start for i in paper_rows)
    np_at = labels.index("NP", unit_start)
    assert paper_rows[0] == np_at + 1 and t7.cells[np_at + 1][-1] == "18%"


def test_not_estimable_reasons_name_the_ids_and_the_cause(adults, cache):
    few = adults.copy()
    keep = few.index[few["in_cohort"] == 1][:5]
    few.loc[~few.index.isin(keep), "cally"] = np.nan
    block = mr.mediation_block(few, boot=20, seed=1, cache_dir=cache)
    reasons = dict(mr.not_estimable_reasons(block))
    assert set(reasons) == {"table7/cally", "table8/cally"}
    assert reasons["table7/cally"] == block.not_estimable[("ln_cally", "lmm")]
    assert "complete rows" in reasons["table8/cally"]
    assert dict(mr.not_estimable_reasons(block, "/weighting/none")).keys() == {
        "table7/cally/weighting/none", "table8/cally/weighting/none"}
    assert mr.not_estimable_reasons(mr.MediationBlock()) == []


def test_design_records_are_the_design_bootstrap_at_each_contrast(adults, block, design, recs):
    got = _by_id(recs)
    for (med, out), res in block.items():
        prefix = f"{'table7' if out == 'lmm' else 'table8'}/{med[3:]}"
        des = design[(med, out)]
        assert des.scheme == "design" and res.scheme == "rows"
        for sub, which in (("", "unit"), ("/q1q4", "q1q4"), ("/iqr", "iqr")):
            d, r = mr.contrast(des, adults, which), mr.contrast(res, adults, which)
            for k in mr.DESIGN_EFFECTS:
                rec = got[f"{prefix}{sub}/{k}/design"]
                # same fits: the design record repeats the row record's estimate
                assert rec["estimate"] == pytest.approx(got[f"{prefix}{sub}/{k}"]["estimate"],
                                                        rel=1e-12)
                assert rec["estimate"] == pytest.approx(r.estimate[k], rel=1e-12)
                assert (rec["ci_low"], rec["ci_high"]) == pytest.approx((d.ci_low[k], d.ci_high[k]))
                assert rec["p"] == pytest.approx(d.p[k])
    # the design multipliers are Rao-Wu's: PSUs, not rows, are resampled
    np_lmm = design[("ln_np", "lmm")]
    direct = mediation.mediate(mr.cohort_rows(adults), mediator="ln_np", boot=BOOT, seed=2,
                               scheme="design", cache=False, progress=False)
    assert np_lmm.ci_low == pytest.approx(direct.ci_low, nan_ok=True)
    assert got["table7/np/nie/design"]["ci_low"] != pytest.approx(got["table7/np/nie"]["ci_low"])


def test_design_ci_columns_and_not_meaningful_proportion(adults, block, design):
    from dataclasses import replace

    f = mr.table_frame(block, "lmm", design=design)
    assert [c for c in f.columns if c[1] == "design CI"] == [
        ("NDE", "design CI"), ("NIE", "design CI"), ("TE", "design CI"),
        ("Proportion mediated", "design CI")]
    d = design[("ln_np", "lmm")]
    assert f.loc["NP", ("NIE", "design CI")] == (
        f"{mr.format_number(d.ci_low['nie'], 2)}, {mr.format_number(d.ci_high['nie'], 2)}")
    res = block[("ln_np", "ln_smi")]
    # a total effect whose CI includes 0: the proportion is not shown, the NIE test is
    wide = replace(res, ci_low={**res.ci_low, "te": -1.0}, ci_high={**res.ci_high, "te": 1.0})
    assert "includes β 0" in mr.pm_verdict(wide)
    cell = mr.table_frame({("ln_np", "ln_smi"): wide}, "ln_smi").loc["NP", ("Proportion mediated", "% (95% CI)")]
    assert cell.startswith("not meaningful") and f"NIE P {mr.p_text(wide, 'nie')}" in cell
    # the design CI alone can make it not meaningful
    narrow = replace(res, ci_low={**res.ci_low, "te": 0.01}, ci_high={**res.ci_high, "te": 0.2})
    assert mr.pm_verdict(narrow) is None
    assert "design" in mr.pm_verdict(narrow, wide)
    t8 = mr.table(block, "ln_smi", adults=adults, design=design)
    assert any("Rao–Wu" in n for n in t8.footnotes)
    assert any("not meaningful" in n for n in t8.footnotes)


def test_design_reasons_name_only_the_design_ids():
    blk = mr.MediationBlock()
    blk.not_estimable[("ln_cally", "lmm")] = "a stratum has a single PSU"
    got = mr.design_reasons(blk)
    assert got == [("table7/cally/*/design", "a stratum has a single PSU"),
                   ("table7/cally/*/*/design", "a stratum has a single PSU")]
    from nhmg_lib.report.results import reason_covers
    assert reason_covers(got[0][0], "table7/cally/nie/design")
    assert reason_covers(got[1][0], "table7/cally/q1q4/nie/design")
    assert not any(reason_covers(p, "table7/cally/q1q4/nie") for p, _ in got)


def test_ci_widening_is_the_ratio_of_widths(adults, block, design):
    w = mr.ci_widening(block, design, adults)
    r = mr.contrast(block[("ln_rar", "ln_smi")], adults, "q1q4")
    d = mr.contrast(design[("ln_rar", "ln_smi")], adults, "q1q4")
    want = (d.ci_high["nie"] - d.ci_low["nie"]) / (r.ci_high["nie"] - r.ci_low["nie"])
    assert w[("ln_rar", "ln_smi", "nie")] == pytest.approx(want, rel=1e-12)
    r7 = mr.contrast(block[("ln_np", "lmm")], adults, "q1q4")
    d7 = mr.contrast(design[("ln_np", "lmm")], adults, "q1q4")
    want7 = np.log(d7.ci_high["te"] / d7.ci_low["te"]) / np.log(r7.ci_high["te"] / r7.ci_low["te"])
    assert w[("ln_np", "lmm", "te")] == pytest.approx(want7, rel=1e-10)
    facts = mr.design_facts(block, design, adults)
    assert facts["design_widening"] == f"{w.dropna().median():.2f} times"


def test_prevalence_table_and_facts(adults):
    t = mr.prevalence_table(adults)
    rows = adults[adults["in_cohort"] == 1]
    overall = 100 * np.average(rows["lmm"], weights=rows["weight"])
    assert t.cells[0][1].startswith(f"{overall:.1f} (")
    assert t.row_labels[0] == "All participants"
    f = mr.prevalence_facts(adults)
    assert f["prev_all"] == f"{overall:.1f}%"
    by_race = rows.groupby("race").apply(lambda g: np.average(g["lmm"], weights=g["weight"]))
    by_sex = rows.groupby("gender").apply(lambda g: np.average(g["lmm"], weights=g["weight"]))
    top = max(by_race.max(), by_sex.max())
    assert f["prev_top"] == f"{100 * top:.1f}%"
    common = [lv for lv, p in [*by_race.items(), *by_sex.items()] if p >= 0.10]
    assert f["prev_n_common"] == str(len(common))


def test_np_score_is_mediated_untransformed_and_weighting_reaches_the_records(adults, cache, block):
    from nhmg_lib.analyses import inflammation, mediation
    from nhmg_lib.cohort.definitions import Definitions

    score = Definitions(np_index="score")
    frame = adults.assign(np_score=np.where(adults["np"] > adults["np"].median(), 1.0, 0.0))
    scored = mr.mediation_block(frame, score, boot=BOOT, seed=2, cache_dir=cache)
    fit = scored[("ln_np", "lmm")]
    assert fit.mediator == "np_score"  # the score itself, not its (impossible) logarithm
    rows = inflammation.with_index_columns(mr.cohort_rows(frame), score, indices=("np",))
    direct = mediation.mediate(rows, mediator="np_score", outcome="lmm", boot=BOOT, seed=2,
                               cache_dir=cache, progress=False)
    assert fit.estimate["nie"] == pytest.approx(direct.estimate["nie"])
    notes = " ".join(mr.table(scored, "lmm").footnotes)
    assert "NP: 0/1/2" in notes and "modelled untransformed" in notes
    # the paper's ln-NP value is not set beside the score: one paper line fewer than by default
    assert sum(mr.table(block, "lmm").row_is_paper) - 1 == sum(mr.table(scored, "lmm").row_is_paper)
    # weighting reaches the records: unweighted models give other estimates than the default
    w = {r["id"]: r["estimate"] for r in mr.records(adults, boot=BOOT, seed=2, weighting="none")}
    d = {r["id"]: r["estimate"] for r in mr.records(adults, boot=BOOT, seed=2)}
    assert w["table7/np/nie"] != pytest.approx(d["table7/np/nie"])
