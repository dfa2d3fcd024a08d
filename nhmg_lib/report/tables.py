"""Publication-style tables: one object that renders as HTML in the web book and as LaTeX in
the PDF, and exports to CSV.

:func:`publication_table` takes a DataFrame whose columns may be a two-level ``MultiIndex``
(column groups, e.g. ``("LMM", "Yes")``) and whose index may be a two-level ``MultiIndex``
(row groups, e.g. ``("Gender", "Male")``; an empty second level puts the values on the group's
own line, as for a continuous variable). It returns a :class:`PublicationTable` with
``_repr_html_`` and ``_repr_latex_``; Jupyter shows the HTML. In the book it is a numbered,
cross-referenceable exhibit: it also carries its content as ``application/vnd.nhmg.table+json``,
which :mod:`nhmg_lib.book.sphinx_exhibits` turns into a table node numbered as in the paper
(``name``, see :mod:`nhmg_lib.report.exhibits`), rendered as HTML with a CSV download in the web book
and as LaTeX in the PDF, from the same cached execution.

Style: booktabs rules (top, mid, bottom; a short rule under each column group), no zebra
stripes, numbers right-aligned, footnotes under the bottom rule. In LaTeX the table is an
``xltabular`` as wide as the text (breaks across pages, never overfull), with the font size
chosen from the number of columns; the row-label column takes the spare width and wraps.
"""

from __future__ import annotations

import html
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from nhmg_lib.report.exhibits import label_of

__all__ = ["PublicationTable", "publication_table", "format_value", "latex_escape", "TABLE_MIME"]

#: The mime type that carries a table into the book build (nhmg_lib.book.sphinx_exhibits).
TABLE_MIME = "application/vnd.nhmg.table+json"

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_UNICODE_LATEX = {
    "≥": r"$\geq$", "≤": r"$\leq$", "±": r"$\pm$", "×": r"$\times$", "–": "--", "—": "---",
    "−": "$-$", "²": r"\textsuperscript{2}", "³": r"\textsuperscript{3}", "⁹": r"\textsuperscript{9}",
    "⁴": r"\textsuperscript{4}", "₃": r"\textsubscript{3}", "µ": r"$\mu$", "μ": r"$\mu$",
    "α": r"$\alpha$", "β": r"$\beta$", "χ": r"$\chi$", "<": r"\textless{}", ">": r"\textgreater{}",
    "’": "'", "‘": "`", "“": "``", "”": "''", "…": r"\dots{}", "·": r"$\cdot$", "†": r"\dag{}",
    "‡": r"\ddag{}", "✓": r"$\checkmark$", "✗": r"$\times$", "§": r"\S{}", "°": r"\textdegree{}", "\u00a0": "~", "⁻": "$^{-}$", "¹": r"\textsuperscript{1}",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in sorted({**_LATEX_SPECIALS, **_UNICODE_LATEX}, key=len, reverse=True)))


def latex_escape(text: object) -> str:
    """Escape LaTeX specials and map the few non-ASCII symbols tables use to LaTeX."""
    table = {**_LATEX_SPECIALS, **_UNICODE_LATEX}
    return _LATEX_RE.sub(lambda m: table[m.group(0)], str(text))


def format_value(value: object, decimals: int = 2) -> str:
    """Cell text: ints with thousands separators, floats to ``decimals``, NaN/None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return ""
        if v.is_integer() and decimals == 0:
            return f"{int(v):,}"
        return f"{v:,.{decimals}f}"
    try:
        if pd.isna(value):  # pd.NA, NaT
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


_CI = re.compile(r"^(.*\S)\s+(\([^()]*\))$")


def _html_cell(text: str) -> str:
    """Escaped cell text; an interval in parentheses at the end stays on one line, so a
    narrow column breaks "0.63 (0.41, 0.96)" before the interval, never inside it."""
    m = _CI.match(text)
    if not m:
        return html.escape(text)
    return f'{html.escape(m.group(1))} <span class="nhmg-ci">{html.escape(m.group(2))}</span>'


def _is_numeric_text(s: str) -> bool:
    return bool(re.match(r"^[\s<>≤≥=−\-+]*[\d.,]+", s)) or s == ""


@dataclass
class PublicationTable:
    """A formatted table: cells as text, column groups, row groups, caption and footnotes."""

    cells: list[list[str]]                   # body rows (cell text), one list per row
    row_labels: list[str]                    # label of each body row
    row_is_group: list[bool]                 # True for a group-heading row
    row_indent: list[bool]                   # True for rows under a group heading
    columns: list[str]                       # bottom-level column labels
    column_groups: list[tuple[str, int]]     # (group label, span) over the data columns; "" = none
    stub_header: str = ""
    caption: str = ""
    label: str = ""                          # e.g. "Table 1"; printed in bold before the caption
    footnotes: list[str] = field(default_factory=list)
    align: list[str] = field(default_factory=list)  # "l" | "r" | "c" per data column
    frame: pd.DataFrame | None = None        # the (unformatted) source frame, for to_csv
    name: str = ""                           # cross-reference target in the book, e.g. "table-2"
    row_is_paper: list[bool] = field(default_factory=list)  # True for a line of the paper's numbers

    _PAYLOAD = ("cells", "row_labels", "row_is_group", "row_indent", "columns", "column_groups",
                "stub_header", "caption", "label", "footnotes", "align", "name", "row_is_paper")

    def payload(self) -> dict[str, Any]:
        """Everything needed to render the table again (JSON-able; no source frame)."""
        out = {k: getattr(self, k) for k in self._PAYLOAD}
        out["column_groups"] = [list(g) for g in self.column_groups]
        return out

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], **changes: Any) -> "PublicationTable":
        """The inverse of :meth:`payload`; ``changes`` override fields (e.g. ``label``)."""
        fields = {k: payload[k] for k in cls._PAYLOAD if k in payload}
        fields["column_groups"] = [tuple(g) for g in fields.get("column_groups", [])]
        fields.update(changes)
        return cls(**fields)

    # ------------------------------------------------------------------ html
    def to_html(self, anchor: str | None = None, after: str = "") -> str:
        """The table as HTML; ``anchor`` is the wrapper's id (default: ``name``), ``after`` is
        HTML placed under the table (the book's CSV link)."""
        e = html.escape
        anchor = self.name if anchor is None else anchor
        id_attr = f' id="{e(anchor)}"' if anchor else ""
        # "full-width": sphinx-book-theme widens the block into the margin (and folds the
        # page's table of contents while it is in view).
        wide = " full-width" if self.html_is_wide() else ""
        out = [f'<div class="nhmg-table-wrap{wide}"{id_attr}>', '<table class="nhmg-table">']
        if self.caption or self.label:
            lab = f'<span class="nhmg-table-label">{e(self.label)}.</span> ' if self.label else ""
            out.append(f"<caption>{lab}{e(self.caption)}</caption>")
        out.append("<thead>")
        has_groups = any(g for g, _ in self.column_groups)
        if has_groups:
            out.append("<tr>")
            out.append('<th class="nhmg-stub" rowspan="2">' + e(self.stub_header) + "</th>")
            for g, span in self.column_groups:
                cls = ' class="nhmg-colgroup"' if g else ""
                out.append(f'<th colspan="{span}"{cls}>{e(g)}</th>')
            out.append("</tr>")
            out.append("<tr>")
        else:
            out.append("<tr>")
            out.append('<th class="nhmg-stub">' + e(self.stub_header) + "</th>")
        for c, a in zip(self.columns, self.align):
            out.append(f'<th class="nhmg-{a}">{e(c)}</th>')
        out.append("</tr></thead><tbody>")
        for row_no, (label, cells, grp, ind) in enumerate(
                zip(self.row_labels, self.cells, self.row_is_group, self.row_indent)):
            cls = "nhmg-rowgroup" if grp else ("nhmg-indent" if ind else "")
            cls += " nhmg-paper" if self._is_paper(row_no) else ""
            out.append(f'<tr class="{cls.strip()}">' if cls else "<tr>")
            out.append(f'<th scope="row" class="nhmg-stub">{e(label)}</th>')
            for c, a in zip(cells, self.align):
                out.append(f'<td class="nhmg-{a}">{_html_cell(c)}</td>')
            out.append("</tr>")
        out.append("</tbody>")
        if self.footnotes:
            n = len(self.columns) + 1
            out.append(f'<tfoot><tr><td colspan="{n}">')
            out.extend(f'<p class="nhmg-footnote">{e(f)}</p>' for f in self.footnotes)
            out.append("</td></tr></tfoot>")
        out.append("</table>")
        if after:
            out.append(after)
        out.append("</div>")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()

    def _is_paper(self, row: int) -> bool:
        """Whether body row ``row`` carries the paper's numbers (see report.paper_lines)."""
        return row < len(self.row_is_paper) and bool(self.row_is_paper[row])

    #: Width, in em of the table's font, of the book's text column (sphinx-book-theme).
    HTML_COLUMN_EM = 48.0

    def html_is_wide(self) -> bool:
        """Whether the table, with every cell at its narrowest (words and intervals unbroken),
        is wider than the book's text column."""
        def narrowest(text: str) -> float:
            m = _CI.match(text)
            parts = [m.group(1), m.group(2)] if m else text.split()
            return max((self._em(p) for p in parts), default=0.0)
        # the web font is a sans serif about a quarter wider than the Times of _em (measured)
        cols = [max(narrowest(t) for t, _ in col) * 1.25 + 1.2 for col in self._column_texts()]
        return sum(cols) > self.HTML_COLUMN_EM

    # ------------------------------------------------------------------ latex
    # Widths for LaTeX, in em of the table's font: rough glyph widths of Times (the PDF's font)
    # are enough to give every column room for its longest word and share the rest by length.
    _TEXT_WIDTH_PT = 450.0   # A4 less Sphinx's 1in margins
    _SIZES = ((r"\small", 9.0), (r"\footnotesize", 8.0), (r"\scriptsize", 7.0))

    @staticmethod
    def _em(text: str) -> float:
        def glyph(ch: str) -> float:
            if ch.isdigit():
                return 0.5
            if ch.isupper():
                return 0.7
            if ch.islower():
                return 0.46
            if ch in " .,:;'|":
                return 0.25
            if ch in "()[]-/":
                return 0.33
            if ch == "\u2212":  # printed as the math minus, as wide as a plus
                return 0.78
            return 0.56
        return sum(glyph(ch) for ch in text)

    def _column_texts(self) -> list[list[tuple[str, float]]]:
        """Per column (stub first): (text, extra em) of every cell and header; indented rows
        carry their 1em indent, bold group rows a tenth more."""
        stub = [(self.stub_header, 0.0)]
        for label, grp, ind in zip(self.row_labels, self.row_is_group, self.row_indent):
            stub.append((label, 1.0 if ind else (0.1 * self._em(label) if grp else 0.0)))
        cols = [[(c, 0.0)] + [(row[j], 0.0) for row in self.cells]
                for j, c in enumerate(self.columns)]
        return [stub] + cols

    def _latex_widths(self) -> tuple[str, list[float]]:
        """Font size command and each column's share of the text width (summing to 1).

        The font is the largest of small/footnotesize/scriptsize at which the number columns
        fit on one line and every text column has room for its longest word (scriptsize, with
        number columns allowed to wrap, if none does). Each column gets that floor; the rest
        of the width goes to the columns whose text must wrap, in proportion to what they lack.
        """
        texts = self._column_texts()
        natural = [max(self._em(t) + extra for t, extra in col) + 0.4 for col in texts]
        longest = [max(max((self._em(w) for w in t.split()), default=0.0) + extra
                       for t, extra in col) + 0.4 for col in texts]
        numeric = [False] + [a in ("r", "c") for a in self.align]
        strict = [nat if num else lng for nat, lng, num in zip(natural, longest, numeric)]
        pad_pt = 8.0 * (len(texts) - 1)  # \tabcolsep on each side of the inner column edges
        for size, pt in self._SIZES:
            room = (self._TEXT_WIDTH_PT - pad_pt) / pt
            if sum(strict) <= room:
                floor = strict
                break
        else:
            floor = longest
        if sum(floor) >= room:  # even words do not fit: share in proportion to them, but
            # a number cannot wrap: number columns keep their longest entry, text gives way
            fixed = sum(f for f, num in zip(floor, numeric) if num)
            text = sum(f for f, num in zip(floor, numeric) if not num)
            if text and fixed < 0.8 * room:
                widths = [f if num else f * (room - fixed) / text for f, num in zip(floor, numeric)]
            else:
                widths = [room * w / sum(floor) for w in floor]
        else:
            lack = [nat - f for nat, f in zip(natural, floor)]
            spare = room - sum(floor)
            if sum(lack) > 0:
                widths = [f + spare * d / sum(lack) for f, d in zip(floor, lack)]
            else:
                widths = [f + spare / len(floor) for f in floor]
        total = sum(widths)
        return size, [w / total for w in widths]

    def _font_size(self) -> str:
        return self._latex_widths()[0]

    def latex_start(self) -> tuple[str, int]:
        """(font size command, lines of that font) that the table's start needs on one page:
        what a heading right above the table keeps with it (``nhmg_lib.book.sphinx_print``)."""
        size, shares = self._latex_widths()
        return size, self._latex_layout(size, shares)[0]

    def to_latex(self, number: str | None = None, target: str = "") -> str:
        """The table as an ``xltabular``. With ``number`` the caption is a numbered LaTeX
        ``\\caption`` showing that number (``"S1"``) followed by ``target`` (the ``\\label``
        cross-references point at); without, the caption is unnumbered and led by ``label``."""
        n = len(self.columns)
        # X columns with \hsize weights summing to n + 1 (their number).
        size, shares = self._latex_widths()
        start_lines, no_break = self._latex_layout(size, shares)
        weights = [(n + 1) * f for f in shares]
        w_stub, w_cols = weights[0], weights[1:]
        col_tex = {"l": r"\raggedright", "r": r"\raggedleft", "c": r"\centering"}
        spec = [r">{\raggedright\arraybackslash\hsize=%.3f\hsize}X" % w_stub]
        spec += [r">{%s\arraybackslash\hsize=%.3f\hsize}X" % (col_tex[a], w) for a, w in zip(self.align, w_cols)]
        esc = latex_escape
        lines = [
            r"\begingroup" + size,
            # caption, header and the first rows together (in lines of the table's font).
            # \Needspace decides at once, under LaTeX's output routine; \needspace's lazy
            # penalty can be taken after longtable has installed its own, which then puts a
            # "(continued)" header above the caption on the next page.
            r"\Needspace{%d\baselineskip}" % start_lines,
            # tabulary (loaded by Sphinx) makes \arraybackslash \let\\ to \@arraycr, which
            # swallows longtable's star: "\\*" would allow a page break like "\\".
            r"\def\arraybackslash{\let\\\tabularnewline}",
            # the widths leave 4pt each side of a column; a table of 10 or more columns is set
            # with 3pt, so its narrowest columns (P values) keep a little slack for the font's
            # real digit widths
            r"\setlength{\tabcolsep}{%dpt}\setlength{\LTcapwidth}{\linewidth}"
            r"\renewcommand{\arraystretch}{1.1}" % (3 if n + 1 >= 10 else 4),
            r"\begin{xltabular}{\linewidth}{@{}" + "".join(spec) + "@{}}",
        ]
        if number is not None:
            lines.insert(3, r"\renewcommand{\thetable}{%s}" % esc(number))
            lines.append(r"\caption{" + esc(self.caption) + "}" + target + r"\\")
        elif self.caption or self.label:
            lab = r"\textbf{%s.} " % esc(self.label) if self.label else ""
            lines.append(r"\caption*{" + lab + esc(self.caption) + r"}\\")
        head = [r"\toprule"]
        if any(g for g, _ in self.column_groups):
            cells, rules, col = [esc(self.stub_header)], [], 2
            for g, span in self.column_groups:
                if g:
                    cells.append(r"\multicolumn{%d}{c}{%s}" % (span, esc(g)))
                    rules.append(r"\cmidrule(lr){%d-%d}" % (col, col + span - 1))
                else:
                    cells.extend([""] * span)
                col += span
            head.append(" & ".join(cells) + r" \\")
            head.append("".join(rules))
            head.append(" & ".join([""] + [self._head_cell(c, a) for c, a in zip(self.columns, self.align)]) + r" \\")
        else:
            head.append(" & ".join([esc(self.stub_header)] + [self._head_cell(c, a) for c, a in zip(self.columns, self.align)]) + r" \\")
        head.append(r"\midrule")
        lines += head + [r"\endfirsthead"]
        cont = [r"\multicolumn{%d}{@{}l}{\emph{(continued)}}\\" % (n + 1)] + head[:] + [r"\endhead"]
        lines += cont
        lines += [r"\bottomrule", r"\endfoot"]
        # The notes follow the last rows in the body, kept with them (see _latex_layout), and
        # the last foot is empty: longtable does not check that its last foot fits, and when
        # it does not it moves the foot alone, under a "(continued)" header, to a new page.
        notes = [r"\multicolumn{%d}{@{}p{\linewidth}@{}}{\footnotesize\sloppy %s}\\%s"
                 % (n + 1, esc(f), "*" if k + 1 < len(self.footnotes) else "")
                 for k, f in enumerate(self.footnotes)]
        lines += ([] if notes else [r"\bottomrule"]) + [r"\endlastfoot"]
        for i, (label, cells, grp, ind) in enumerate(
                zip(self.row_labels, self.cells, self.row_is_group, self.row_indent)):
            stub = esc(label)
            if grp:
                stub = r"\textbf{%s}" % stub
            elif ind:
                stub = r"\hspace{1em}" + stub
            end = r" \\*" if no_break[i] else r" \\"
            if self._is_paper(i):
                # the paper's numbers: grey italics under the book's line
                stub = (r"\hspace{1em}" if ind else "") + r"\textcolor{darkgray}{\textit{%s}}" % esc(label)
                lines.append(" & ".join([stub] + [r"\textcolor{darkgray}{\textit{%s}}" % esc(c) if c else ""
                                                  for c in cells]) + end)
            else:
                lines.append(" & ".join([stub] + [esc(c) for c in cells]) + end)
        if notes:
            # the bottom rule drawn as booktabs does, but without the page break booktabs'
            # \bottomrule allows after its rule
            lines += [r"\noalign{\nobreak\vskip\aboverulesep\hrule height\heavyrulewidth"
                      r"\nobreak\vskip\belowrulesep}"] + notes
        lines += [r"\end{xltabular}", r"\endgroup", ""]
        return "\n".join(lines)

    #: A table of at most this many body rows (and lines) never breaks across pages; a longer
    #: one keeps ``LATEX_KEEP_ROWS`` body rows (group headings not counted) together at its
    #: start and at its end, with the notes.
    LATEX_UNBROKEN_ROWS = 12
    LATEX_UNBROKEN_LINES = 40
    LATEX_KEEP_ROWS = 3

    def _latex_layout(self, size: str, shares: Sequence[float]) -> tuple[int, list[bool]]:
        """Lines of the table's font its start needs on one page (caption, header and the first
        rows, or the whole table when it does not break; wrapped cells counted), and for each
        body row whether the page may not break after it (``\\*``): anywhere in a short table;
        in a long one, before its ``LATEX_KEEP_ROWS``-th row and from the ``LATEX_KEEP_ROWS``-th
        last row on (rows that are not group headings counted, so a heading among them adds
        to them; the last rows stay with the notes), after a group's heading row, and
        between a row and the paper's line under it."""
        pt = dict(self._SIZES)[size]
        room = (self._TEXT_WIDTH_PT - 8.0 * len(self.columns)) / pt

        def lines(texts: Sequence[str]) -> int:
            return max((math.ceil((self._em(t) + 0.4) / max(room * f, 1.0)) if t else 1
                        for t, f in zip(texts, shares)), default=1)

        caption = math.ceil(self._em(f"Table {self.label or 'B99'}: {self.caption}") * 1.1 / room) \
            if (self.caption or self.label) else 0
        head = lines([self.stub_header] + list(self.columns)) + (
            1 if any(g for g, _ in self.column_groups) else 0)
        body = [lines([lab] + list(cells)) for lab, cells in zip(self.row_labels, self.cells)]
        notes = sum(math.ceil(self._em(f) * 0.9 / room) for f in self.footnotes)
        rows, keep = len(body), self.LATEX_KEEP_ROWS
        whole = caption + head + sum(body) + notes
        heading = [bool(g) and not any(c) for g, c in zip(self.row_is_group, self.cells)]
        counted = [i for i in range(rows) if not heading[i]]
        if rows <= self.LATEX_UNBROKEN_ROWS and whole <= self.LATEX_UNBROKEN_LINES:
            start, no_break = whole, [True] * rows
        else:
            # the first break may follow the keep-th counted row; the last block starts at the
            # keep-th last counted row, or at the headings right above it
            first_end = counted[keep - 1] if len(counted) >= keep else rows - 1
            last_start = counted[-keep] if len(counted) >= keep else 0
            while last_start > 0 and heading[last_start - 1]:
                last_start -= 1
            start = caption + head + sum(body[:first_end + 1])
            # nor after a group's heading row (it stays with the group's first row), nor
            # between a row and the paper's line under it
            no_break = [i < first_end or i >= last_start or heading[i]
                        or (i + 1 < rows and self._is_paper(i + 1))
                        for i in range(rows)]
        # \arraystretch 1.1 and the rules: a tenth more, and two lines of slack
        return math.ceil(1.1 * start) + 2, no_break

    @staticmethod
    def _head_cell(text: str, align: str) -> str:
        return latex_escape(text)

    def _repr_latex_(self) -> str:
        return self.to_latex()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The book's representation (IPython adds HTML, LaTeX and plain text from the
        ``_repr_*_`` methods; Jupyter front ends show the HTML)."""
        return {TABLE_MIME: self.payload()}

    def __repr__(self) -> str:
        head = f"{self.label}. {self.caption}".strip(". ") if (self.label or self.caption) else "PublicationTable"
        return f"<{head}: {len(self.cells)} rows x {len(self.columns)} columns>"

    # ------------------------------------------------------------------ export
    def to_frame(self) -> pd.DataFrame:
        """The formatted cells as a DataFrame (row labels as the first column)."""
        cols: list[str] = []
        group_of: list[str] = []
        for g, span in self.column_groups:
            group_of += [g] * span
        for g, c in zip(group_of, self.columns):
            cols.append(f"{g}: {c}" if g else c)
        df = pd.DataFrame(self.cells, columns=cols)
        df.insert(0, self.stub_header or "row", self.row_labels)
        return df

    def to_csv(self, path: str | Path | None = None, formatted: bool = True) -> str | None:
        """CSV of the formatted cells (or of the source frame with ``formatted=False``).
        Returns the text when ``path`` is None."""
        df = self.to_frame() if formatted or self.frame is None else self.frame
        if path is None:
            return df.to_csv(index=not formatted and self.frame is not None)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=not formatted and self.frame is not None)
        return None


def publication_table(
    df: pd.DataFrame,
    *,
    caption: str = "",
    label: str = "",
    footnotes: Sequence[str] = (),
    decimals: int | Mapping[object, int] = 2,
    formatter: Callable[[object], str] | None = None,
    align: Sequence[str] | None = None,
    stub_header: str | None = None,
    name: str = "",
) -> PublicationTable:
    """Build a :class:`PublicationTable` from ``df``.

    ``df.columns``: flat, or a two-level MultiIndex (group, column). ``df.index``: flat, or a
    two-level MultiIndex (group, row); a row whose second level is ``""`` carries the group's
    own values (one line), others are indented under a bold group heading. ``decimals`` is an
    int or a per-column mapping (keys: column labels, bottom level); ``formatter`` overrides
    formatting entirely. Text cells are kept as they are. ``align`` defaults to right-aligned
    for columns whose cells look numeric, left otherwise.

    ``name`` makes the table a numbered exhibit of the book (a ``{numref}`` target): a paper
    exhibit's name (:data:`nhmg_lib.report.exhibits.EXHIBITS`) gives it the paper's number and, unless
    ``label`` says otherwise, the label ``"Table 2"``; any other name numbers it in the book's
    own series (Table B1, ...).
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"publication_table needs a DataFrame, not {type(df).__name__}")
    if df.columns.nlevels > 2 or df.index.nlevels > 2:
        raise ValueError("publication_table supports at most two levels of columns and of rows")

    # columns
    if df.columns.nlevels == 2:
        tuples = [tuple("" if pd.isna(x) else str(x) for x in t) for t in df.columns]
        columns = [t[1] for t in tuples]
        groups: list[tuple[str, int]] = []
        for g, _ in tuples:
            if groups and groups[-1][0] == g and g:
                groups[-1] = (g, groups[-1][1] + 1)
            else:
                groups.append((g, 1))
        leaf_keys = [t[1] for t in tuples]
    else:
        columns = [str(c) for c in df.columns]
        groups = [("", len(columns))] if columns else []
        leaf_keys = list(df.columns)

    def fmt(value: object, col: object) -> str:
        if formatter is not None:
            return formatter(value)
        d = decimals.get(col, 2) if isinstance(decimals, Mapping) else decimals
        return format_value(value, d)

    body = [[fmt(v, k) for v, k in zip(row, leaf_keys)] for row in df.itertuples(index=False, name=None)]

    # rows
    labels: list[str] = []
    cells: list[list[str]] = []
    is_group: list[bool] = []
    indent: list[bool] = []
    if df.index.nlevels == 2:
        current = object()
        for (g, r), row in zip(df.index, body):
            g = "" if g is None or (isinstance(g, float) and math.isnan(g)) else str(g)
            r = "" if r is None or (isinstance(r, float) and math.isnan(r)) else str(r)
            if r == "" or r == g:
                labels.append(g); cells.append(row); is_group.append(False); indent.append(False)
                current = g
                continue
            if g != current:
                labels.append(g); cells.append([""] * len(columns)); is_group.append(True); indent.append(False)
                current = g
            labels.append(r); cells.append(row); is_group.append(False); indent.append(True)
    else:
        labels = ["" if x is None else str(x) for x in df.index]
        cells = body
        is_group = [False] * len(body)
        indent = [False] * len(body)

    if align is None:
        align = []
        for j in range(len(columns)):
            col = [row[j] for row in body]
            align.append("r" if all(_is_numeric_text(c) for c in col) else "l")
    else:
        align = list(align)
        if len(align) != len(columns):
            raise ValueError(f"align has {len(align)} entries for {len(columns)} columns")
        bad = [a for a in align if a not in ("l", "r", "c")]
        if bad:
            raise ValueError(f"align entries must be 'l', 'r' or 'c', not {bad}")

    if stub_header is None:
        names = [n for n in df.index.names if n]
        stub_header = str(names[-1]) if names and df.index.nlevels == 1 else ""

    return PublicationTable(
        cells=cells, row_labels=labels, row_is_group=is_group, row_indent=indent,
        columns=columns, column_groups=groups, stub_header=stub_header, caption=caption,
        label=label or label_of(name), footnotes=list(footnotes), align=align, frame=df,
        name=name,
    )
