"""The paper's numbers beside the book's, in the exhibits themselves.

:func:`beside` takes a formatted :class:`~nhmg_lib.report.tables.PublicationTable` that is one
of the paper's exhibits (its ``name``, e.g. ``"table-2"``) and puts, under every row for
which the paper prints a number (:data:`nhmg_lib.report.published.VALUES`), a line labelled
"Paper" with the paper's value in the column of the book's value (grey and italic in the web
book and the PDF; plain in the CSV). A table of which the paper's text states no cell says so
in a footnote. With ``quartile_ranges`` (:func:`nhmg_lib.analyses.models.quartile_ranges`) a
footnote sets the book's ln-Mg quartile ranges beside the paper's
(:data:`~nhmg_lib.report.published.MG_QUARTILE_RANGES`).

Where each published id stands in its exhibit is written once, in :func:`locate`:

    locate("table2/model3/q4")   # Cell("table-2", group=None, row="Q4", column="Model 3")
    exhibit_ids("table-2")       # the published ids shown in Table 2
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from nhmg_lib.analyses import inflammation, subgroups
from nhmg_lib.analyses.models import ROW_LABELS
from nhmg_lib.report import published
from nhmg_lib.report.tables import PublicationTable

__all__ = ["PAPER_LABEL", "Cell", "locate", "exhibit_ids", "beside", "quartile_note",
           "PaperLineError"]

#: Row label of the lines that carry the paper's numbers.
PAPER_LABEL = "Paper"

_MEDIATION_INDEX = {"cally": "CALLY", "np": "NP", "par": "PAR", "rar": "RAR"}
#: Tables 7/8: the row block of the contrast the paper used (R mediator's a* = 0 -> a = 1).
_PAPER_CONTRAST = "a* = 0 → a = 1"
_THRESHOLD_ROWS = {"inflection": "Inflection point", "above": "Two-piece model: ln-Mg ≥ K",
                   "below": "Two-piece model: ln-Mg < K", "linear": "One-line model"}


class PaperLineError(ValueError):
    """A published id has no place in the table it belongs to (a row or column renamed)."""


@dataclass(frozen=True)
class Cell:
    """Where a published number stands: exhibit name, row group (None: any), row label (a
    prefix of the book's row label), column label (a prefix of the bottom-level label) and
    optionally the column group."""

    exhibit: str
    group: str | None          # a prefix of the row group's label; ignored in a table without groups
    row: str
    column: str
    column_group: str | None = None


def locate(pid: str) -> Cell | None:
    """The exhibit table cell of a published id; None for numbers the paper states only in
    its text or in a figure (the flow, the spline P values, the subgroup ORs)."""
    m = re.fullmatch(r"(table[23]|tableS[12])/model(\d)/(ln_mg|q2|q3|q4|p_trend)", pid)
    if m:
        return Cell(f"table-{m[1][5:].lower()}", None, ROW_LABELS[m[3]], f"Model {m[2]}")
    m = re.fullmatch(r"table4/(\w+)/model(\d)/(ln_mg|q2|q3|q4|p_trend)", pid)
    if m:
        return Cell("table-4", inflammation.index_column(m[1])[1], ROW_LABELS[m[3]],
                    f"Model {m[2]}")
    m = re.fullmatch(r"table([56])/(\w+)/model(\d)/ln_index", pid)
    if m:
        return Cell(f"table-{m[1]}", None, inflammation.index_column(m[2])[1], f"Model {m[3]}")
    m = re.fullmatch(r"table([78])/(\w+)/(nde|nie|te|pm)", pid)
    if m:
        # the paper's contrast; in a table with one block per contrast, the last block
        if m[3] == "pm":
            return Cell(f"table-{m[1]}", _PAPER_CONTRAST, _MEDIATION_INDEX[m[2]], "%",
                        "Proportion mediated")
        return Cell(f"table-{m[1]}", _PAPER_CONTRAST, _MEDIATION_INDEX[m[2]], "", m[3].upper())
    m = re.fullmatch(r"tableS3/lmm/(\w+)", pid)
    if m and m[1] in _THRESHOLD_ROWS:
        return Cell("table-s3", None, _THRESHOLD_ROWS[m[1]], "")
    m = re.fullmatch(r"fig3/(\w+)/p_interaction", pid)
    if m:
        return Cell("table-interaction", None, subgroups.SUBGROUPS[m[1]].label, "LMM")
    m = re.fullmatch(r"figS1/(\w+)/p_interaction", pid)
    if m:
        return Cell("table-interaction", None, subgroups.SUBGROUPS[m[1]].label, "ln SMI")
    return None


def exhibit_ids(name: str) -> list[str]:
    """The published ids shown in the exhibit table ``name``, in the paper's order."""
    return [v.id for v in published.VALUES if (c := locate(v.id)) and c.exhibit == name]


def quartile_note(quartile_ranges: dict[int, tuple[float, float]]) -> str:
    """``ln-Mg quartiles, book (paper): Q1 2.31–5.38 (2.25–5.40); ...``."""
    parts = []
    for q, (lo, hi) in sorted(quartile_ranges.items()):
        plo, phi = published.MG_QUARTILE_RANGES[q]
        parts.append(f"Q{q} {lo:.2f}–{hi:.2f} ({plo:.2f}–{phi:.2f})")
    return ("Quartiles of ln magnesium intake (ln mg/day) in the book's cohort, with the "
            "paper's ranges in parentheses: " + "; ".join(parts) + ".")


def _columns(table: PublicationTable) -> list[tuple[str, str]]:
    groups: list[str] = []
    for g, span in table.column_groups:
        groups += [g] * span
    groups += [""] * (len(table.columns) - len(groups))
    return list(zip(groups, table.columns))


def _find(table: PublicationTable, cell: Cell, pid: str) -> tuple[int, int]:
    group = None
    row_at = None
    grouped = any(table.row_is_group)
    for i, (label, is_group) in enumerate(zip(table.row_labels, table.row_is_group)):
        if is_group or (not table.row_indent[i]):
            group = label if is_group else None
        if is_group or label == PAPER_LABEL:
            continue
        in_group = cell.group is None or not grouped or (group or "").startswith(cell.group)
        if in_group and label.startswith(cell.row):
            row_at = i
            break
    col_at = None
    for j, (g, c) in enumerate(_columns(table)):
        if c.startswith(cell.column) and (cell.column_group is None or g == cell.column_group):
            col_at = j
            break
    if row_at is None or col_at is None:
        raise PaperLineError(f"{table.label or table.name}: no {'row' if row_at is None else 'column'} "
                             f"for the paper's {pid} ({cell})")
    return row_at, col_at


def beside(table: PublicationTable, *, quartile_ranges: dict[int, tuple[float, float]] | None = None,
           ids: list[str] | None = None, missing: str = "raise") -> PublicationTable:
    """``table`` with a "Paper" line under every row for which the paper prints a number
    (the ids :func:`exhibit_ids` gives for ``table.name``, or ``ids``), and a footnote
    saying what the lines are. A published number that finds no row or column raises
    :class:`PaperLineError`, or with ``missing="note"`` (for tables that leave out a row the
    book could not estimate) is given in a footnote instead."""
    ids = exhibit_ids(table.name) if ids is None else ids
    notes = list(table.footnotes)
    by_row: dict[int, dict[int, str]] = {}
    homeless: list[str] = []
    for pid in ids:
        cell = locate(pid)
        if cell is None:
            raise PaperLineError(f"the paper's {pid} has no place in an exhibit table")
        try:
            i, j = _find(table, cell, pid)
        except PaperLineError:
            if missing != "note":
                raise
            homeless.append(f"{cell.row} {published.text(pid)}")
            continue
        by_row.setdefault(i, {})[j] = published.text(pid)
    cells, labels, group, indent = [], [], [], []
    paper = list(table.row_is_paper) or [False] * len(table.cells)
    is_paper = []
    for i, row in enumerate(table.cells):
        cells.append(row); labels.append(table.row_labels[i]); group.append(table.row_is_group[i])
        indent.append(table.row_indent[i]); is_paper.append(paper[i])
        if i in by_row:
            cells.append([by_row[i].get(j, "") for j in range(len(row))])
            labels.append(PAPER_LABEL); group.append(False); indent.append(True)
            is_paper.append(True)
    if homeless:
        notes.append("Paper, for rows the book does not show: " + "; ".join(homeless) + ".")
    if ids:
        notes.append("Paper (grey): the paper's value for the cell above it, where the paper's "
                     "text states one; the scorecard compares the two.")
    else:
        notes.append("The paper's text states no cell of this table.")
    if quartile_ranges:
        notes.append(quartile_note(quartile_ranges))
    return replace(table, cells=cells, row_labels=labels, row_is_group=group, row_indent=indent,
                   row_is_paper=is_paper, footnotes=notes)
