"""Figure 1, the exclusion flow chart, and the paper-vs-book table of its counts.

:func:`flow_chart` draws Figure 1 from :attr:`nhmg_lib.cohort.flow.Cohort.flow` (steps with
``label``, ``n_excluded``, ``n_remaining`` and, on the ASM/BMI step, ``details["aged_60_plus"]``),
optionally with the paper's counts (:data:`nhmg_lib.report.published.FLOW`) beside the book's.
:func:`flow_comparison` is the paper-vs-book table of the same counts.
"""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

from nhmg_lib.report.figures import BookFigure

__all__ = ["flow_chart", "flow_comparison", "paper_flow", "paper_by_step", "STEP_KEYS", "plausibility_table", "PLAUSIBILITY_KINDS"]



def paper_flow() -> list[tuple[str, int | None, int]]:
    """The paper's flow as (label, n_excluded, n_remaining) from :mod:`nhmg_lib.report.published`."""
    from nhmg_lib.report import published

    return [(row[0], row[1], row[2]) for row in published.FLOW]


#: The flow steps' keys (:func:`nhmg_lib.cohort.flow.build_cohort`) in the order of ``published.FLOW``.
STEP_KEYS: tuple[str, ...] = ("start", "age", "asm_bmi", "diet", "covariates")


def paper_by_step() -> dict[str, tuple[int | None, int]]:
    """The paper's (excluded, remaining) per step key, ``final`` included."""
    rows = paper_flow()
    out = {k: (r[1], r[2]) for k, r in zip(STEP_KEYS, rows)}
    out["final"] = (None, rows[-1][2])
    return out


def _steps(flow: Sequence[Any]) -> tuple[Any, list[Any], Any]:
    """Split a Cohort.flow list into start step, exclusion steps and final step."""
    steps = list(flow)
    if len(steps) < 2:
        raise ValueError("a flow needs at least a start and one more step")
    start = steps[0]
    final = steps[-1] if getattr(steps[-1], "key", "") == "final" else None
    exclusions = steps[1:-1] if final is not None else steps[1:]
    return start, exclusions, final


def _fmt(n: int | None) -> str:
    return "–" if n is None else f"{int(n):,}"


def flow_chart(flow: Sequence[Any], *, paper: bool = True, title: str | None = None) -> BookFigure:
    """Figure 1: main column of boxes with the number remaining, side boxes with each
    exclusion (and, for the ASM/BMI step, how many of the excluded were aged 60 or over).
    With ``paper=True`` the paper's count is printed under each of the book's counts."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    start, exclusions, final = _steps(flow)
    published = paper_flow() if paper else []
    pub_remaining = [r[2] for r in published]
    pub_excluded = [r[1] for r in published]

    def pub(i: int, excluded: bool) -> str:
        seq = pub_excluded if excluded else pub_remaining
        if not paper or i >= len(seq) or seq[i] is None:
            return ""
        return f"paper: {_fmt(seq[i])}"

    n_main = len(exclusions) + 1
    gap = 2.3
    box_h = 1.15
    main_x, main_w = 2.9, 4.6
    side_x, side_w = 8.55, 4.3
    top = (n_main - 1) * gap
    fig_h = 0.55 * (top + box_h + 0.5) + 0.4
    # as wide as the PDF's text (6.3 in), so it prints at its own size: 8-9 pt text
    fig, ax = plt.subplots(figsize=(6.3, fig_h))
    ax.set_xlim(0.4, 10.9)
    ax.set_ylim(-box_h / 2 - 0.25, top + box_h / 2 + 0.25)
    ax.axis("off")

    edge, face, side_face = "#2c3e50", "#eef3f8", "#fbf3e9"

    def box(x: float, y: float, w: float, h: float, lines: list[tuple[str, dict]], fc: str) -> None:
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    linewidth=1.1, edgecolor=edge, facecolor=fc))
        lines = [(part, style) for text, style in lines for part in text.split("\n")]
        n = len(lines)
        spacing = min(0.28, (h - 0.2) / max(n, 1))
        y0 = y + spacing * (n - 1) / 2
        for k, (text, style) in enumerate(lines):
            ax.text(x, y0 - k * spacing, text, ha="center", va="center", **{"fontsize": 9, **style})

    arrow = dict(arrowstyle="-|>", color=edge, lw=1.1, shrinkA=0, shrinkB=0, mutation_scale=11)
    grey = {"color": "#6b6b6b", "fontsize": 8}
    bold = {"fontweight": "bold"}

    for i in range(n_main):
        y = top - i * gap
        if i == 0:
            lines = [(textwrap.fill(start.label, 34), bold), (f"n = {_fmt(start.n_remaining)}", {})]
            p = pub(0, False)
        else:
            step = exclusions[i - 1]
            label = final.label if (final is not None and i == n_main - 1) else "Remaining"
            lines = [(label, bold if i == n_main - 1 else {}), (f"n = {_fmt(step.n_remaining)}", {})]
            p = pub(i, False)
        if p:
            lines.append((p, grey))
        box(main_x, y, main_w, box_h * (0.85 if len(lines) <= 2 else 1.0), lines, face)
        if i < n_main - 1:
            y_next = y - gap
            ax.annotate("", xy=(main_x, y_next + box_h / 2), xytext=(main_x, y - box_h / 2 + 0.0),
                        arrowprops=arrow)
            step = exclusions[i]
            y_mid = (y + y_next) / 2
            ax.annotate("", xy=(side_x - side_w / 2, y_mid), xytext=(main_x, y_mid), arrowprops=arrow)
            s_lines = [(textwrap.fill(f"Excluded: {step.label}", 36), {}), (f"n = {_fmt(step.n_excluded)}", bold)]
            old = getattr(step, "details", {}) or {}
            if "aged_60_plus" in old:
                s_lines.append((f"of whom aged ≥ 60: {_fmt(old['aged_60_plus'])}", {"fontsize": 8.5}))
            p = pub(i + 1, True)
            if p:
                s_lines.append((p, grey))
            h = 0.35 + 0.27 * sum(t.count("\n") + 1 for t, _ in s_lines)
            box(side_x, y_mid, side_w, h, s_lines, side_face)
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout(pad=0.3)
    plt.close(fig)
    steps_txt = "; ".join(f"{s.label}: {_fmt(s.n_excluded)} excluded" for s in exclusions)
    alt = (f"Flow chart: {start.label} n = {_fmt(start.n_remaining)}; {steps_txt}; "
           f"final n = {_fmt((final or exclusions[-1]).n_remaining)}")
    return BookFigure(fig, None, alt)


def flow_comparison(flow: Sequence[Any], *, caption: str = "", name: str = "table-flow-counts"):
    """Paper-vs-book counts per exclusion step as a :class:`~nhmg_lib.report.tables.PublicationTable`
    (excluded and remaining, each as paper / book / book minus paper)."""
    import pandas as pd

    from nhmg_lib.report.tables import publication_table

    start, exclusions, final = _steps(flow)
    published = paper_flow()
    book_rows = [start, *exclusions]
    rows = []
    index = []
    for i, step in enumerate(book_rows):
        p_ex = published[i][1] if i < len(published) else None
        p_rem = published[i][2] if i < len(published) else None
        b_ex = None if i == 0 else step.n_excluded
        b_rem = step.n_remaining
        label_txt = step.label if i else f"{step.label} (start)"
        details = getattr(step, "details", {}) or {}
        if "aged_60_plus" in details:
            label_txt += f" (of whom aged ≥ 60: {details['aged_60_plus']:,})"
        index.append(label_txt)
        rows.append([
            p_ex, b_ex, None if p_ex is None or b_ex is None else b_ex - p_ex,
            p_rem, b_rem, None if p_rem is None else b_rem - p_rem,
        ])
    cols = pd.MultiIndex.from_tuples([
        ("Excluded", "Paper"), ("Excluded", "Book"), ("Excluded", "Difference"),
        ("Remaining", "Paper"), ("Remaining", "Book"), ("Remaining", "Difference"),
    ])
    df = pd.DataFrame(rows, index=pd.Index(index, name="Step"), columns=cols).astype("Float64")

    def fmt(v: object) -> str:
        if v is None or pd.isna(v):
            return ""
        return f"{int(v):,}"

    table = publication_table(
        df, caption=caption or "Exclusion counts, paper vs book.", name=name, formatter=fmt,
        footnotes=[
            "Paper: Figure 1 and section 2.1 of Zhu et al. Book: this build's data. "
            "Difference = book minus paper.",
            "Whole-body DXA is measured only up to age 59, so participants aged 60 or over "
            "leave the cohort at the ASM/BMI step.",
        ],
    )
    # Differences read better with an explicit sign.
    for row in table.cells:
        for j in (2, 5):
            if row[j] and not row[j].startswith("-") and row[j] != "0":
                row[j] = "+" + row[j]
    return table


#: Plausibility finding kinds (:func:`nhmg_lib.cohort.flow.screen`) in words, in table order.
PLAUSIBILITY_KINDS: dict[str, str] = {
    "all_missing": "Missing for every participant of the cycle",
    "all_zero": "Zero or missing for every participant of the cycle",
    "out_of_range": "Outside the plausible range",
    "unexpected_code": "Outside the documented codes",
}


def plausibility_table(findings: Sequence[dict] | Any, *, caption: str = "",
                       name: str = ""):
    """The cohort's plausibility findings (``Cohort.plausibility``, as in ``flow.json``; a
    :class:`~nhmg_lib.cohort.flow.Cohort` is accepted too) as a publication table: what was
    found, in which item and cycle, how many participants, and how many values were set to
    missing. No findings: one sentence (:class:`nhmg_lib.report.provenance.TextLine`). Unnamed
    by default (no number in the book's series: the table appears only when there are findings,
    so a number would shift the tables after it)."""
    import re

    import pandas as pd

    from nhmg_lib.data.catalog import CYCLES
    from nhmg_lib.report.provenance import TextLine
    from nhmg_lib.report.tables import publication_table

    items = list(getattr(findings, "plausibility", findings) or [])
    if not items:
        return TextLine("No implausible values: every screened item is within its plausible "
                        "range and documented codes, and no item is empty in any cycle.")
    order = list(PLAUSIBILITY_KINDS)
    items.sort(key=lambda f: (order.index(f["kind"]) if f["kind"] in order else len(order),
                              str(f.get("column")), str(f.get("cycle"))))
    rows = []
    for f in items:
        kind, n = f["kind"], f.get("n")
        cyc = f.get("cycle")
        years = CYCLES.get(str(cyc))
        shown = re.findall(r"\(([^()]*)\)", f.get("message", ""))  # the last (...): the values
        whole_cycle = kind in ("all_missing", "all_zero")
        rows.append({
            "Finding": PLAUSIBILITY_KINDS.get(kind, kind),
            "Item": str(f.get("column")),
            "Cycle": (f"{cyc} ({years[0]}–{years[1]})" if years else "all" if cyc is None else str(cyc)),
            "Participants": "–" if n is None else f"{int(n):,}",
            "Set to missing": ("the cycle cannot contribute" if whole_cycle
                               else "–" if n is None else f"{int(n):,}"),
            "Values seen": "" if whole_cycle or not shown else shown[-1],
        })
    frame = pd.DataFrame(rows).set_index("Finding")
    return publication_table(
        frame, caption=caption or "Implausible values found in the NHANES files and what was done",
        name=name, stub_header="Finding", formatter=str, align=["l", "l", "r", "r", "l"],
        footnotes=["Values outside an item's plausible range or documented codes are set to "
                   "missing before the exclusions; an item missing or zero for a whole cycle "
                   "removes that cycle's participants at the step that needs the item. The same "
                   "findings are in flow.json (`nhmg cohort`)."])
