"""Table 1: layout, ids and a few cells against R ``survey`` (same Rscript run as
``test_descriptive.py``; the generator there writes the CONTRIBUTING columns)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.cohort.definitions import Definitions
from nhmg_lib.survey.descriptive import DescriptiveError
from nhmg_lib.survey.design import Design
from nhmg_lib.analyses.table1 import CAPTION, ROWS, Table1, records, rows_for, slug, table1
from nhmg_lib.report.analysis_tables import table1_table
from test_descriptive import close, make_adults, r_reference


@pytest.fixture(scope="module")
def adults() -> pd.DataFrame:
    return make_adults()


@pytest.fixture(scope="module")
def t1(adults: pd.DataFrame) -> Table1:
    return table1(adults, domain="in_cohort", group="lmm")


def _est(t: Table1, id_: str) -> pd.Series:
    hit = t.long[t.long["id"] == id_]
    assert len(hit) == 1, id_
    return hit.iloc[0]


# ------------------------------------------------------------------------ layout
def test_layout(t1: Table1, adults: pd.DataFrame) -> None:
    d = t1.display
    assert list(d.columns) == ["Overall", "Non-LMM", "LMM", "P"]
    labels = list(dict.fromkeys(d.index.get_level_values(0)))
    assert labels[0] == "N"
    assert [lab.split(" (n = ")[0] for lab in labels[1:]] == [r.label for r in rows_for()]
    dom = adults["in_cohort"] == 1
    n = [dom.sum(), (dom & (adults["lmm"] == 0)).sum(), (dom & (adults["lmm"] == 1)).sum()]
    assert d.loc[("N", "")].tolist() == [f"{k:,}" for k in n] + [""]
    # categorical levels in the declared order; levels absent from the data are left out
    race = d.loc["Race/ethnicity"].index.tolist()
    assert race == ["Mexican American", "Other Hispanic", "Non-Hispanic White", "Non-Hispanic Black", "Other Race"]
    # one P per variable, on its first line
    assert d.loc["Race/ethnicity", "P"].tolist()[1:] == [""] * 4
    # CALLY has gaps (2011-2014) and says so
    assert any(lab.startswith("CALLY (n = ") for lab in labels)


def test_cell_formats(t1: Table1) -> None:
    d = t1.display
    assert " ± " in d.loc[("Age, years", ""), "Overall"]
    assert pd.Series(d.loc[("Energy intake, kcal/day", "")]).str.match(r"^[\d,]+ \([\d,]+, [\d,]+\)$").iloc[:3].all()
    assert d.loc[("Gender", "Male"), "LMM"].endswith(")")
    p = d.loc[("Age, years", ""), "P"]
    assert p == "<0.001" or 0 <= float(p) <= 1


def test_ids_are_unique_and_records_follow_the_schema(t1: Table1) -> None:
    ids = t1.long["id"]
    assert ids.is_unique
    assert set(ids) >= {"table1/n/overall", "table1/age/mean/lmm", "table1/age/sd/non_lmm",
                        "table1/energy/median/overall", "table1/energy/q1/lmm", "table1/energy/q3/lmm",
                        "table1/race/mexican_american/overall", "table1/pir_cat/lt1_39/lmm",
                        "table1/pir_cat/1_39_3_49/lmm", "table1/gender/p", "table1/rar/p"}
    recs = records(t1)
    assert recs == t1.records()
    for r in recs:
        assert set(r) == {"id", "estimate", "ci_low", "ci_high", "p", "n"}
        assert isinstance(r["estimate"], float) and math.isfinite(r["estimate"])
        assert r["n"] is None or isinstance(r["n"], int)
    ps = [r for r in recs if r["id"].endswith("/p")]
    assert len(ps) == len(ROWS) and all(0 <= r["p"] <= 1 for r in ps)


def test_percentages_add_up(t1: Table1) -> None:
    for col in ("overall", "non_lmm", "lmm"):
        rows = t1.long[(t1.long["variable"] == "race") & (t1.long["column"] == col)]
        assert rows["estimate"].sum() == pytest.approx(100.0)
        n = _est(t1, f"table1/n/{col}")["estimate"]
        assert rows["n"].sum() == n


def test_render_is_a_publication_table(t1: Table1) -> None:
    r = table1_table(t1)
    html = r._repr_html_()
    assert "Table 1" in html and CAPTION in html
    assert "Rao" in html  # footnote on the tests
    assert r._repr_latex_() is not None


def test_footnote_gives_the_units_of_the_indices(t1: Table1) -> None:
    assert t1.footnotes[-1].startswith("Index units: CALLY, albumin (g/dL) × lymphocytes (/µL)")
    assert "PAR, platelets (10⁹/L) per albumin (g/L)" in t1.footnotes[-1]


def test_np_score_is_categorical(adults: pd.DataFrame) -> None:
    a = adults.copy()
    a["np"] = np.where(a["np"] > 1300, 1, 0)
    t = table1(a, defs=Definitions(np_index="score"))
    assert "table1/np/0/overall" in set(t.long["id"])
    assert t.tests["np"].method.startswith("Pearson")


def test_cohort_frame_without_domain(adults: pd.DataFrame) -> None:
    """The analytic frame itself (no in_cohort) gives the same point estimates."""
    cohort = adults[adults["in_cohort"] == 1].drop(columns="in_cohort").reset_index(drop=True)
    # cut out of the design, strata 90-92 keep one PSU: a policy is needed (why domains exist)
    t = table1(cohort, domain=None, design=Design.from_frame(cohort, lonely_psu="certainty"))
    full = table1(adults)
    a = t.long.set_index("id")["estimate"]
    b = full.long.set_index("id")["estimate"]
    means = [i for i in a.index if "/mean/" in i or "/median/" in i]
    np.testing.assert_allclose(a[means], b[means], rtol=1e-12)


def test_errors(adults: pd.DataFrame) -> None:
    with pytest.raises(DescriptiveError, match="not in the frame"):
        table1(adults.drop(columns="vitd"))
    with pytest.raises(DescriptiveError, match="two levels"):
        table1(adults, group="race")
    with pytest.raises(DescriptiveError, match="no label"):
        table1(adults, group="gender")
    with pytest.raises(DescriptiveError, match="positive weight"):
        table1(adults.assign(in_cohort=0))


def test_slug() -> None:
    assert slug("<1.39") == "lt1_39" and slug(">3.49") == "gt3_49"
    assert slug("Non-Hispanic White") == "non_hispanic_white" and slug(1.0) == "1"


# ------------------------------------------------------------------------ R parity
@pytest.mark.r
def test_cells_match_r(t1: Table1) -> None:
    ref = r_reference()
    for col in ("overall", "non_lmm", "lmm"):
        m = ref["means"]["age"][col]
        assert close(_est(t1, f"table1/age/mean/{col}")["estimate"], m["mean"])
        assert close(_est(t1, f"table1/age/mean/{col}")["se"], m["se"])
        assert close(_est(t1, f"table1/age/sd/{col}")["estimate"], math.sqrt(m["var"]))
        q = ref["quant"]["cally"][col]
        assert [_est(t1, f"table1/cally/{s}/{col}")["estimate"] for s in ("q1", "median", "q3")] == q["q"]
        pr = ref["props"]["race"][col]
        for lev, p in zip(pr["level"], pr["p"]):
            assert close(_est(t1, f"table1/race/{slug(lev)}/{col}")["estimate"], 100 * p)


@pytest.mark.r
def test_p_values_match_r(t1: Table1) -> None:
    ref = r_reference()
    assert close(_est(t1, "table1/age/p")["p"], ref["ttest"]["age"]["p"])
    assert close(_est(t1, "table1/smi/p")["p"], ref["ttest"]["smi"]["p"])
    assert close(_est(t1, "table1/energy/p")["p"], ref["rank"]["energy"]["p"])
    assert close(_est(t1, "table1/cally/p")["p"], ref["rank"]["cally"]["p"])
    assert close(_est(t1, "table1/race/p")["p"], ref["chisq"]["race"]["p"])
    assert close(_est(t1, "table1/race/p")["estimate"], ref["chisq"]["race"]["F"])
