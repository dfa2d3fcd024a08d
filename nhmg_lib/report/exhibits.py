"""The paper's exhibits: every table and figure it has, under the paper's own number.

The book numbers its tables and figures as the paper does (Table S1, Figure 4, ...), so a
reviewer can hold the two side by side; :mod:`nhmg_lib.book.sphinx_exhibits` applies these numbers
to the HTML and the PDF. Each exhibit is made in one chapter and carries a cross-reference
name (``{numref}`table-2```). Tables and figures the book adds (robustness, scorecard, ...) are
numbered in their own series, ``Table B1``, ``Figure B1``, ... so they never collide with the
paper's numbers.

    EXHIBITS                  # the paper's 17 exhibits in the book's order
    BY_NAME["table-2"]        # Exhibit(name, kind, number, title, chapter)
    number_of("fig-spline")   # "2" (None for a book-only exhibit)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Exhibit", "EXHIBITS", "BY_NAME", "BOOK_SERIES", "number_of", "label_of"]

#: Prefix of the numbers of tables and figures that are the book's own, not the paper's.
BOOK_SERIES = "B"


@dataclass(frozen=True)
class Exhibit:
    """One table or figure of the paper and the book chapter (``book/<chapter>.md``) making it."""

    name: str                              # cross-reference target in the book
    kind: Literal["table", "figure"]
    number: str                            # as the paper prints it: "2", "S1"
    title: str
    chapter: str

    @property
    def label(self) -> str:
        """``"Table 2"``, ``"Figure S1"``."""
        return f"{self.kind.capitalize()} {self.number}"


EXHIBITS: tuple[Exhibit, ...] = (
    Exhibit("fig-flow", "figure", "1", "Flow chart of participant selection", "data_and_cohort"),
    Exhibit("table-1", "table", "1", "Characteristics of participants by low muscle mass",
            "characteristics"),
    Exhibit("table-2", "table", "2", "Dietary magnesium intake and low muscle mass",
            "magnesium_lmm_smi"),
    Exhibit("table-3", "table", "3", "Dietary magnesium intake and ln SMI", "magnesium_lmm_smi"),
    Exhibit("table-s1", "table", "S1", "Table 2 without extreme energy intake", "magnesium_lmm_smi"),
    Exhibit("table-s2", "table", "S2", "Table 3 without extreme energy intake", "magnesium_lmm_smi"),
    Exhibit("fig-spline", "figure", "2", "Restricted cubic splines of LMM and SMI on magnesium",
            "dose_response"),
    Exhibit("table-s3", "table", "S3", "Threshold effect of magnesium on LMM", "dose_response"),
    Exhibit("fig-forest-lmm", "figure", "3", "Subgroup analysis, low muscle mass", "subgroups"),
    Exhibit("fig-forest-smi", "figure", "S1", "Subgroup analysis, SMI", "subgroups"),
    Exhibit("table-4", "table", "4", "Dietary magnesium intake and the inflammatory indices",
            "inflammation"),
    Exhibit("table-5", "table", "5", "Inflammatory indices and low muscle mass", "inflammation"),
    Exhibit("table-6", "table", "6", "Inflammatory indices and ln SMI", "inflammation"),
    Exhibit("table-7", "table", "7", "Mediation of magnesium and LMM by the inflammatory indices",
            "mediation"),
    Exhibit("fig-mediation-lmm", "figure", "4", "Mediation diagrams, low muscle mass", "mediation"),
    Exhibit("table-8", "table", "8", "Mediation of magnesium and SMI by the inflammatory indices",
            "mediation"),
    Exhibit("fig-mediation-smi", "figure", "5", "Mediation diagrams, SMI", "mediation"),
)

BY_NAME: dict[str, Exhibit] = {e.name: e for e in EXHIBITS}


def number_of(name: str) -> str | None:
    """The paper's number of the exhibit called ``name``; None for the book's own."""
    exhibit = BY_NAME.get(name)
    return exhibit.number if exhibit else None


def label_of(name: str) -> str:
    """``"Table 2"`` for a paper exhibit, ``""`` otherwise (its number is the build's)."""
    exhibit = BY_NAME.get(name)
    return exhibit.label if exhibit else ""
