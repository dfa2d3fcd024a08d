"""The paper's findings stated in words, judged on the book's numbers.

Much of what the paper reports has no number in its text: "participants with LMM were older",
"no significant interactions for SMI", "no significant mediating effect of CALLY". Each such
finding is in :data:`nhmg_lib.report.published.FINDINGS` with the checks that make it testable on
``results.json`` records (direction against the null value or against another record,
significance at 0.05). :func:`findings` runs every check: a finding *holds* when all its checks
pass, and a check whose record the book lacks is *not computed* (and fails).

    fs = findings(records)          # records: list of dicts, a DataFrame or a results.json path
    fs.summary()                    # "19 of 25 findings stated in words hold on the book's numbers"
    fs.frame                        # one row per finding: exhibit, text, where, checks, passed, ...
    fs.render()                     # publication table (HTML / LaTeX / CSV)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from nhmg_lib.report import published as _published
from nhmg_lib.report.scorecard import (AGREES, ALPHA, DIFFERS, NULL, _num, _records_by_id, _significant,
                        describe, exhibit_of, kind_of)
from nhmg_lib.report.tables import PublicationTable, publication_table

__all__ = ["check", "judge_finding", "findings", "Findings", "headline"]


def _estimate(rec: Mapping[str, Any] | None) -> float | None:
    return None if rec is None else _num(rec.get("estimate"))


def _p_value(rec: Mapping[str, Any]) -> float | None:
    p = _num(rec.get("p"))
    return p if p is not None or kind_of(str(rec.get("id", ""))) != "p-value" else _estimate(rec)


def check(c: _published.Check, by_id: Mapping[str, Mapping[str, Any]]) -> bool | None:
    """Whether one check passes on the records; None when a record it needs is missing."""
    rec = by_id.get(c.id)
    est = _estimate(rec)
    if est is None:
        return None
    kind = kind_of(c.id)
    if c.relation in (">", "<"):
        if c.other is not None:
            ref = _estimate(by_id.get(c.other))
            if ref is None:
                return None
        else:
            ref = NULL.get(kind, 0.0)
        return est > ref if c.relation == ">" else est < ref
    if c.relation in ("sig", "ns"):
        if kind in ("p-value", "count"):  # the record's p carries the test (a Table 1
            p = _p_value(rec)             # "estimate" is the test statistic)
            sig = None if p is None else p < ALPHA
        else:
            sig = _significant(kind, est, _num(rec.get("ci_low")), _num(rec.get("ci_high")),
                               _num(rec.get("p")))
        if sig is None:
            return None
        return sig if c.relation == "sig" else not sig
    raise ValueError(f"unknown relation {c.relation!r} in a check of {c.id}")


def _short(id: str) -> str:
    """The checked quantity in words, without its exhibit (the table groups rows by exhibit):
    ``table2/model1/ln_mg`` -> "Model 1, per ln unit of magnesium (OR)", ``table1/race/
    mexican_american/lmm`` -> "race: mexican american"."""
    parts = id.split("/")
    if parts[0] == "table1":
        level = [re.sub(r"^(lt|gt)(\d+)_(\d+)$", lambda m: f"{'<' if m[1] == 'lt' else '>'}{m[2]}.{m[3]}", p)
                 for p in parts[2:] if p not in ("mean", "median", "p", "lmm", "non_lmm")]
        return parts[1].replace("_", " ") + (": " + " ".join(level).replace("_", " ") if level else "")
    text = describe(id)
    head = exhibit_of(id) + ", "
    return text[len(head):] if text.startswith(head) else text


def _evidence(c: _published.Check, by_id: Mapping[str, Mapping[str, Any]], ok: bool | None) -> str:
    """What the paper says and what the book has, for one check: ``"Model 2, per ln unit of
    magnesium (OR): paper < 1, book 1.1 ✗"``; ``"age: paper significant, book p < 0.001 ✓"``."""
    quantity, says, got, _ok = _parts(c, by_id, ok)
    return f"{quantity}: paper {says}, book {got} {_ok}".replace(" book not computed ✗",
                                                                  " book not computed")


def _parts(c: _published.Check, by_id: Mapping[str, Mapping[str, Any]], ok: bool | None
           ) -> tuple[str, str, str, str]:
    """One check as grid cells: (quantity, what the paper says, the book's value, verdict)."""
    rec = by_id.get(c.id) or {}
    est = _estimate(rec)
    if c.relation in (">", "<"):
        if c.other is not None:
            says = f"LMM {c.relation} non-LMM"
        else:
            says = f"{c.relation} {NULL.get(kind_of(c.id), 0):g}"
    else:
        says = "significant" if c.relation == "sig" else "not significant"
    mark = AGREES if ok else DIFFERS
    if est is None:
        return _short(c.id), says, "not computed", DIFFERS
    if c.relation in (">", "<"):
        if c.other is not None:
            other = _estimate(by_id.get(c.other))
            got = f"{est:.4g} vs {'n/a' if other is None else f'{other:.4g}'}"
        else:
            got = f"{est:.4g}"
    else:
        p = _p_value(rec)
        if p is None:
            lo, hi = _num(rec.get("ci_low")), _num(rec.get("ci_high"))
            got = "CI " + ("n/a" if lo is None or hi is None else f"{lo:.3g} to {hi:.3g}")
        else:
            got = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    return _short(c.id), says, got, mark


def judge_finding(f: _published.Finding, by_id: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One row of :attr:`Findings.frame`."""
    results = [check(c, by_id) for c in f.checks]
    passed = sum(r is True for r in results)
    missing = sum(r is None for r in results)
    return {
        "exhibit": exhibit_of(f.exhibit), "text": f.text, "where": f.where,
        "checks": len(results), "passed": passed, "not_computed": missing,
        "holds": passed == len(results),
        "evidence": "; ".join(_evidence(c, by_id, r) for c, r in zip(f.checks, results)),
        "grid": [_parts(c, by_id, r) for c, r in zip(f.checks, results)],
    }


@dataclass
class Findings:
    """Every stated finding with its verdict (:attr:`frame`), a summary and a table."""

    frame: pd.DataFrame

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def n_hold(self) -> int:
        return int(self.frame["holds"].sum())

    def summary(self) -> str:
        s = f"{self.n_hold} of {self.n} findings stated in words hold on the book's numbers"
        missing = int((self.frame["not_computed"] > 0).sum())
        return s + (f" ({missing} with checks not computed)" if missing else "")

    def render(self, *, caption: str = "Findings the paper states in words, checked on the "
               "book's numbers", name: str = "table-findings",
               footnotes: Sequence[str] = ()) -> PublicationTable:
        # a grid: the finding on one line (where, verdict), each of its checks on its own
        # indented line (quantity, what the paper says, the book's value, ✓/✗)
        rows, index = [], []
        for r in self.frame.to_dict("records"):
            verdict = AGREES if r["holds"] else f"{DIFFERS} ({r['passed']} of {r['checks']})"
            head = f"{r['exhibit']}: {r['text']}"
            rows.append([r["where"], "", "", verdict])
            index.append((head, ""))
            for quantity, says, got, mark in r["grid"]:
                rows.append(["", says, got, mark])
                index.append((head, quantity))
        frame = pd.DataFrame(rows, columns=["Section", "Paper", "Book", "Holds"],
                             index=pd.MultiIndex.from_tuples(index))
        notes = [self.summary() + ".",
                 "A finding (its own line, with the paper's section and the verdict) holds when "
                 "every check on the indented lines under it passes. Paper: what the paper states (an estimate above > or below < the null "
                 "value, 1 for odds ratios and 0 for betas, or the LMM group's value against the "
                 "non-LMM group's; significant or not at 0.05). Book: the value this build "
                 "computed. ✓/✗: whether the book's value meets the paper's statement.",
                 *footnotes]
        return publication_table(frame, caption=caption, name=name, stub_header="Finding / check",
                                 footnotes=notes, formatter=str, align=["l", "l", "r", "c"])

    def __repr__(self) -> str:
        return f"<Findings: {self.summary()}>"


def findings(records: Iterable[Mapping[str, Any]] | pd.DataFrame | str,
             stated: Sequence[_published.Finding] = _published.FINDINGS) -> Findings:
    """Judge every finding of ``stated`` on the book's ``records``."""
    by_id = _records_by_id(records)
    return Findings(pd.DataFrame([judge_finding(f, by_id) for f in stated]))


def headline(records: Iterable[Mapping[str, Any]] | pd.DataFrame | str) -> str:
    """The book's verdict in one line, as the scorecard chapter and the introduction print it:
    the scorecard's summary and the findings' summary, e.g. "31 of 33 published numbers
    reproduced within rounding; 33 of 33 agree in sign and significance. 22 of 25 findings
    stated in words hold on the book's numbers."."""
    from nhmg_lib.report.scorecard import scorecard

    if not isinstance(records, (pd.DataFrame, str)):
        records = list(records)
    return f"{scorecard(records).summary()}. {findings(records).summary()}."
