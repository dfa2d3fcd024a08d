"""Findings the paper states in words (published.FINDINGS), judged by nhmg_lib.report.findings."""

from __future__ import annotations

import json

import pytest

from nhmg_lib.report import published
from nhmg_lib.report.findings import check, findings
from nhmg_lib.report.published import Check, Finding


def rec(id, estimate, lo=None, hi=None, p=None):
    return {"id": id, "estimate": estimate, "ci_low": lo, "ci_high": hi, "p": p, "n": 100}


BY_ID = {r["id"]: r for r in [
    rec("table2/model1/ln_mg", 0.40, 0.30, 0.60),          # odds ratio below 1, CI excludes 1
    rec("table2/model2/ln_mg", 1.10, 0.80, 1.50),          # above 1, not significant
    rec("table3/model1/ln_mg", 0.05, None, None, 0.01),    # beta above 0, significant by p
    rec("table6/np/model3/ln_index", -0.02, -0.05, 0.01),  # beta below 0, CI includes 0
    rec("figS1/age/p_interaction", 0.20, None, None, 0.20),
    rec("table2/model3/p_trend", 0.36, 0.12, 1.03, 0.056),  # estimate is the OR, p the test
    rec("table1/age/mean/lmm", 44.2), rec("table1/age/mean/non_lmm", 38.2),
    rec("table1/age/p", 7.6, None, None, 2e-10),            # estimate is the statistic
    rec("table7/cally/nie", 1.9, 0.7, 6.8, 0.21),
]}


@pytest.mark.parametrize("c, expected", [
    (Check("table2/model1/ln_mg", "<"), True),
    (Check("table2/model1/ln_mg", ">"), False),
    (Check("table2/model1/ln_mg", "sig"), True),
    (Check("table2/model2/ln_mg", "ns"), True),
    (Check("table2/model2/ln_mg", ">"), True),
    (Check("table3/model1/ln_mg", ">"), True),
    (Check("table3/model1/ln_mg", "sig"), True),
    (Check("table6/np/model3/ln_index", "<"), True),
    (Check("table6/np/model3/ln_index", "sig"), False),
    (Check("figS1/age/p_interaction", "ns"), True),
    (Check("table2/model3/p_trend", "sig"), False),   # p = 0.056, whatever the OR
    (Check("table1/age/mean/lmm", ">", "table1/age/mean/non_lmm"), True),
    (Check("table1/age/mean/lmm", "<", "table1/age/mean/non_lmm"), False),
    (Check("table1/age/p", "sig"), True),              # p = 2e-10, not the statistic 7.6
    (Check("table7/cally/nie", "ns"), True),
    (Check("table2/model3/ln_mg", "<"), None),          # not computed
    (Check("table1/age/mean/lmm", ">", "table1/missing/non_lmm"), None),
])
def test_check(c, expected):
    assert check(c, BY_ID) is expected


def test_unknown_relation_is_an_error():
    with pytest.raises(ValueError, match="unknown relation"):
        check(Check("table2/model1/ln_mg", "~"), BY_ID)


def test_a_finding_holds_only_when_every_check_passes(tmp_path):
    stated = [
        Finding("table2", "negative in models 1 and 2", "3.2",
                (Check("table2/model1/ln_mg", "<"), Check("table2/model2/ln_mg", "<"))),
        Finding("table1", "older", "3.1",
                (Check("table1/age/mean/lmm", ">", "table1/age/mean/non_lmm"),
                 Check("table1/age/p", "sig"))),
        Finding("table8", "not computed", "3.8", (Check("table8/cally/nie", "ns"),)),
    ]
    fs = findings(list(BY_ID.values()), stated)
    assert list(fs.frame["holds"]) == [False, True, False]
    assert list(fs.frame["passed"]) == [1, 2, 0]
    assert list(fs.frame["exhibit"]) == ["Table 2", "Table 1", "Table 8"]
    assert fs.summary() == ("1 of 3 findings stated in words hold on the book's numbers "
                            "(1 with checks not computed)")
    # the paper's statement is labelled as such, the book's value follows
    assert "Model 2, per ln unit of magnesium (OR): paper < 1, book 1.1 ✗" in fs.frame.loc[0, "evidence"]
    assert "age: paper significant, book p < 0.001 ✓" in fs.frame.loc[1, "evidence"]
    assert "CALLY, natural indirect effect (β): paper not significant, book not computed" in fs.frame.loc[2, "evidence"]
    assert "(sig)" not in "".join(fs.frame["evidence"])
    table = fs.render()
    assert table.name == "table-findings" and "✗ (1 of 2)" in table.to_csv()
    # a grid, not run-on text: the finding on one line, each check on its own line
    assert table.columns == ["Section", "Paper", "Book", "Holds"]
    i = table.row_labels.index("Table 2: negative in models 1 and 2")
    assert table.cells[i] == ["3.2", "", "", "✗ (1 of 2)"]
    assert table.row_labels[i + 1:i + 3] == ["Model 1, per ln unit of magnesium (OR)",
                                             "Model 2, per ln unit of magnesium (OR)"]
    assert table.cells[i + 2] == ["", "< 1", "1.1", "✗"] and table.row_indent[i + 2]
    j = table.row_labels.index("age")
    assert table.cells[j][1] == "LMM > non-LMM" and table.cells[j][3] == "✓"
    assert table.cells[j + 1] == ["", "significant", "p < 0.001", "✓"]
    assert all(";" not in c for row in table.cells for c in row)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(list(BY_ID.values())))
    assert findings(str(path), stated).n_hold == 1


def _records_satisfying(stated):
    """Records on which every check of ``stated`` passes (built from the checks themselves)."""
    out = {}
    for f in stated:
        for c in f.checks:
            r = out.setdefault(c.id, rec(c.id, None))
            if c.other:
                o = out.setdefault(c.other, rec(c.other, 10.0))
                r["estimate"] = 20.0 if c.relation == ">" else 5.0
                o["estimate"] = 10.0
            elif c.relation in (">", "<"):
                null = 1.0 if c.id.startswith(("table2", "tableS1", "table5", "fig3", "table7")) else 0.0
                r["estimate"] = null + (0.5 if c.relation == ">" else -0.5)
            else:
                r["p"] = 0.01 if c.relation == "sig" else 0.5
                if r["estimate"] is None:
                    r["estimate"] = r["p"]
    return list(out.values())


def test_every_published_finding_can_hold_and_can_fail():
    recs = _records_satisfying(published.FINDINGS)
    fs = findings(recs)
    assert fs.n == len(published.FINDINGS) and fs.n_hold == fs.n, fs.frame[~fs.frame["holds"]]
    assert findings([]).n_hold == 0
    # the checks of each finding point at ids the book computes (prefix = its exhibit)
    for f in published.FINDINGS:
        assert f.checks and all(c.id.startswith(f.exhibit + "/") for c in f.checks), f.text


def test_headline_joins_the_scorecard_and_the_findings():
    from nhmg_lib.report import published
    from nhmg_lib.report.findings import headline
    from nhmg_lib.report.scorecard import scorecard

    recs = [rec(p.id, p.estimate, p.ci_low, p.ci_high) for p in published.VALUES]
    # the NP pairs compare the paper's 0/1/2 score with the book's default product: not counted
    k = sum("np" in p.id.split("/") for p in published.VALUES)
    n = len(published.VALUES) - k
    line = headline(recs)
    assert k == 4
    assert line.startswith(f"{n} of {n} published numbers reproduced within rounding; "
                           f"{n} of {n} agree in sign and significance; {k} further pairs "
                           "compare different measures and are not counted. ")
    assert line == f"{scorecard(recs).summary()}. {findings(recs).summary()}."
    assert line.endswith(f"0 of {len(published.FINDINGS)} findings stated in words hold on the "
                         f"book's numbers ({len(published.FINDINGS)} with checks not computed).")
