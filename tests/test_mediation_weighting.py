"""Which weighting reproduces the paper's proportions mediated: records under raw weights and
no weights, and the comparison with the published values (computed from published.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.analyses import mediation
from nhmg_lib.report import mediation_report as mr
from nhmg_lib.report import mediation_weighting as mw
from nhmg_lib.report import published
from nhmg_lib.report.tables import PublicationTable

from rhelpers import make_adults_frame

PM_IDS = [v.id for v in published.VALUES if v.id.startswith(("table7/", "table8/")) and v.id.endswith("/pm")]


@pytest.fixture(scope="module")
def adults() -> pd.DataFrame:
    df = make_adults_frame(n=1500, seed=5, domain_share=0.6)
    rng = np.random.default_rng(2)
    lm = df["ln_mg"].to_numpy() - 5.7
    n = len(df)
    for col, mu, b, sd in (("np", 7.8, -0.2, 0.4), ("par", 1.8, -0.1, 0.25),
                           ("rar", -0.9, -0.05, 0.1), ("cally", 0.5, 0.4, 1.0)):
        df[col] = np.exp(mu + b * lm + rng.normal(0, sd, n))
    return df


def fake_records(shift: dict[str, float]) -> list[dict]:
    """Every published pm under each weighting, shifted by ``shift[weighting]``."""
    out = []
    for pid in PM_IDS:
        table, index, _ = pid.split("/")
        for w, d in shift.items():
            out.append({"id": mw.record_id(table, index, w),
                        "estimate": published.BY_ID[pid].estimate + d})
    return out


def test_comparison_counts_and_verdict():
    recs = fake_records({"normalised": 0.0, "raw": 0.04, "none": -0.001})
    rows, summary = mw.comparison(recs)
    assert len(rows) == len(PM_IDS) == 6
    assert rows["paper"].tolist() == [published.BY_ID[i].estimate for i in PM_IDS]
    assert summary.loc["normalised", "agree"] == 6 and summary.loc["none", "agree"] == 6
    assert summary.loc["raw", "agree"] == 0
    assert summary.loc["raw", "mean_abs_diff"] == pytest.approx(4.0)
    assert summary.loc["normalised", "closest"] and not summary.loc["none", "closest"]
    assert mw.verdict(recs).startswith("Weights scaled to mean 1 and unweighted reproduce all 6")
    only_raw = fake_records({"normalised": 0.1, "raw": 0.02})
    v = mw.verdict(only_raw)
    assert "No weighting reproduces" in v and "raw weights (0 of 6" in v and "2.0 percentage" in v
    _rows, s = mw.comparison(only_raw)
    assert s.loc["none", "n"] == 0 and np.isnan(s.loc["none", "mean_abs_diff"])
    assert mw.verdict([]) .startswith("No proportion mediated")


def test_comparison_table():
    t = mw.comparison_table(fake_records({"normalised": 0.0, "raw": 0.04, "none": 0.2}))
    assert isinstance(t, PublicationTable)
    f = t.frame
    assert f.loc["LMM, NP", "Paper"] == published.text("table7/np/pm")
    assert f.loc["SMI, RAR", "Raw weights"] == f"{100 * published.BY_ID['table8/rar/pm'].estimate + 4:.0f}%"
    assert f.loc["Agree at the paper's rounding", "Unweighted"] == "0 of 6"


def test_records_under_each_weighting(adults, tmp_path):
    recs = mw.records(adults, boot=10, seed=1, cache_dir=str(tmp_path))
    ids = {r["id"]: r for r in recs}
    assert len(ids) == len(recs) == 2 * 2 * len(mr.INDICES) * len(mediation.EFFECTS)
    main = {r["id"]: r for r in mr.records(
        adults, results=mr.mediation_block(adults, boot=10, seed=1, cache_dir=str(tmp_path)))}
    # raw weights change only sigma^2: SMI (linear) effects equal, the logistic NDE differs
    assert ids["table8/np/weighting/raw/pm"]["estimate"] == pytest.approx(main["table8/np/pm"]["estimate"], rel=1e-12)
    assert ids["table7/np/weighting/raw/nde"]["estimate"] != pytest.approx(main["table7/np/nde"]["estimate"], rel=1e-6)
    assert ids["table8/np/weighting/none/pm"]["estimate"] != pytest.approx(main["table8/np/pm"]["estimate"], rel=1e-6)
    rows, summary = mw.comparison([*main.values(), *recs])
    assert (summary["n"] == 6).all()
    assert rows.loc[("table8", "np"), "none"] == pytest.approx(ids["table8/np/weighting/none/pm"]["estimate"])
    with pytest.raises(mediation.MediationError):
        mw.record_id("table7", "np", "design")
