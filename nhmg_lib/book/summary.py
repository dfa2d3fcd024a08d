"""The one-page summary at the front of the book: the verdict, the data it rests on, the main
deviations from the paper and why, and the run time.

:func:`summarise` computes every ``results.json`` record under a chapter's parameters (timing
it), and returns a :class:`Summary` that the introduction displays: a section in the web book,
the first page of the PDF (a page break follows it). The verdict carries its caveat in the
same sentence on synthetic data, so it cannot be quoted as a finding. The run time is this
page's own computation and, when there is one, the last complete build's total
(:func:`nhmg_lib.book.build.read_timing`).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Any

from nhmg_lib.book.chapter import Banner, data_statement
from nhmg_lib.book.parameters import ChapterParameters
from nhmg_lib.data.datamode import DataContext

__all__ = ["Summary", "summarise", "verdict", "DEVIATIONS", "SUMMARY_BEGIN", "SUMMARY_END"]

#: LaTeX comment lines around the summary, where the PDF build finds it.
SUMMARY_BEGIN = "%% nhmg-summary-begin"
SUMMARY_END = "%% nhmg-summary-end"

#: The book's main departures from what the paper reports, each with its reason (the
#: chapters give the detail; each is a parameter or an option a reader can switch back).
DEVIATIONS: tuple[tuple[str, str], ...] = (
    ("NP is the product of the neutrophil and platelet counts, not the 0/1/2 score.",
     "The score cannot be log-transformed, as the paper's models need, and is almost always 0 "
     "at ages 20–59; the score is an option (modelled untransformed)."),
    ("The mediation effects are led by the change from the first to the fourth quartile's "
     "median intake; the paper's one-unit change is kept beside it.",
     "The paper's change starts at ln-Mg 0 (1 mg/day), far outside the data, where the "
     "exposure × mediator interaction decides the split into direct and indirect effects."),
    ("The mediation models use the survey weights scaled to mean 1.",
     "With the raw weights the residual variance of the mediator model, and with it the "
     "logistic direct effect, depends on the arbitrary scale of the weights; the paper does "
     "not say which it used, so all three readings are reported."),
    ("The inflection point is located, with a design-bootstrap and a test-inversion interval, "
     "only when a test that accounts for the search over candidate points finds a change in "
     "slope.",
     "A breakpoint chosen on the same data that then test it makes the fixed-point test "
     "over-confident, and without a bend the breakpoint is not identified at all."),
    ("Every other rule the paper leaves open is a named option with a stated default.",
     "The paper does not give them (eGFR equation, drinking and activity coding, weights, "
     "...); the robustness and multiverse chapters vary them."),
)


def verdict(records: list[dict[str, Any]], context: DataContext) -> str:
    """The verdict in one sentence; on synthetic data the caveat is part of that sentence."""
    from nhmg_lib.report.findings import findings
    from nhmg_lib.report.scorecard import scorecard

    numbers, words = scorecard(records).summary(), findings(records).summary()
    if context.synthetic:
        return (f"On synthetic data, which test the code and say nothing about the paper or "
                f"the U.S. population: {numbers}, and {words} (agreement here only shows "
                "that the comparison works).")
    return f"On the real NHANES files: {numbers}, and {words}."


@dataclass(frozen=True)
class Summary:
    """The summary page (HTML section in the web book, first page of the PDF)."""

    verdict: str
    data: str
    cohort: str
    deviations: tuple[tuple[str, str], ...]
    parameters: str
    run_time: str
    records: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)

    def items(self) -> list[tuple[str, str]]:
        out = [("Verdict", self.verdict), ("Data", self.data), ("Cohort", self.cohort)]
        if self.parameters:
            out.append(("Parameters", self.parameters))
        out.append(("Run time", self.run_time))
        return out

    def _repr_html_(self) -> str:
        rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in self.items())
        devs = "".join(f"<li><strong>{html.escape(a)}</strong> {html.escape(b)}</li>"
                       for a, b in self.deviations)
        return ('<section class="nhmg-summary"><h2>Summary</h2>'
                f'<dl>{rows}</dl><h3>Main deviations from the paper, and why</h3><ul>{devs}</ul>'
                "</section>")

    def _repr_markdown_(self) -> str:
        lines = [f"**{k}.** {v}\n" for k, v in self.items()]
        lines.append("**Main deviations from the paper, and why.**\n")
        lines += [f"- *{a}* {b}" for a, b in self.deviations]
        # In the PDF the summary is the page after the title, before the contents: the
        # markers let nhmg_lib.book.sphinx_print move it there; the text then starts anew.
        return (f"```{{raw}} latex\n{SUMMARY_BEGIN}\n```\n\n:::{{rubric}} Summary\n:::\n\n"
                + "\n".join(lines) + f"\n\n```{{raw}} latex\n\\clearpage\n{SUMMARY_END}\n```\n")

    def __repr__(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.items())


def _data_words(context: DataContext) -> str:
    if context.synthetic:
        b = Banner(context)
        return f"SYNTHETIC DATA. {b.text} {b.why}"
    return data_statement(context).replace("**", "")


def _run_time(seconds: float, timing: dict[str, Any] | None) -> str:
    text = f"Computing every estimate of the book for this page took {_duration(seconds)}"
    if timing:
        text += (f"; the last complete build ({timing.get('format', 'html').upper()}, finished "
                 f"{timing.get('finished_utc', '?')}) took {_duration(float(timing['seconds']))}")
    return text + "."


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def summarise(params: ChapterParameters, context: DataContext, cohort=None) -> Summary:
    """Every record under ``params`` (timed) and the summary built from them."""
    from nhmg_lib.book.build import read_timing
    from nhmg_lib.report import published

    t0 = time.perf_counter()
    cohort = cohort if cohort is not None else params.cohort(context)
    records = params.records(context, cohort)
    seconds = time.perf_counter() - t0
    frame = cohort.frame
    paper_n = int(published.BY_ID["flow/final_n"].estimate)
    cohort_text = (f"{len(frame):,} adults aged 20–59 (paper: {paper_n:,}), "
                   f"{int(frame['lmm'].sum()):,} of them with low muscle mass.")
    changed = params.describe() if set(params.changed()) - {"resamples"} else ""
    return Summary(verdict=verdict(records, context), data=_data_words(context),
                   cohort=cohort_text, deviations=DEVIATIONS,
                   parameters=(f"changed from the book's: {changed}." if changed else ""),
                   run_time=_run_time(seconds, read_timing()), records=records)

