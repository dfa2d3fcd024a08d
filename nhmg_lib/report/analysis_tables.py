"""Publication tables of the analyses that need no module of their own: Table 1
(:func:`table1_table`) and Tables 4-6 (:func:`index_table`)."""

from __future__ import annotations

from typing import Any

from nhmg_lib.analyses import inflammation
from nhmg_lib.analyses.inflammation import TABLE_TITLES, IndexTables
from nhmg_lib.analyses.table1 import NAME as TABLE1_NAME
from nhmg_lib.analyses.table1 import Table1
from nhmg_lib.report import paper_lines
from nhmg_lib.report.tables import PublicationTable, publication_table

__all__ = ["table1_table", "index_table"]


def table1_table(t1: Table1) -> PublicationTable:
    """Table 1 (characteristics by LMM status) as a publication table."""
    return publication_table(t1.display, caption=t1.caption, name=TABLE1_NAME,
                             footnotes=t1.footnotes, stub_header="Characteristic")


def index_table(result: IndexTables, table: str, *,
                quartile_ranges: dict[int, tuple[float, float]] | None = None,
                np_index: str = "product", **kwargs: Any) -> PublicationTable:
    """Table 4, 5 or 6: :meth:`IndexTables.formatted` as a publication table with a default
    caption, label and footnotes (override through ``kwargs``; ``np_index`` names the NP whose
    unit the footnote gives), the paper's numbers beside the
    book's (:func:`nhmg_lib.report.paper_lines.beside`, with the quartile ranges if given)."""
    measure = "OR" if table == "table5" else "β"
    notes = {
        "table4": "β of each index's model column per 1-unit increase of ln magnesium "
                  "intake (ln mg/day) and for Q2-Q4 against Q1; P for trend from the "
                  "quartile-median ln-Mg as one continuous term.",
        "table5": "OR of low muscle mass per 1-unit increase of each index's model column.",
        "table6": "β for ln SMI per 1-unit increase of each index's model column.",
    }[table]
    n = result.numeric[result.numeric["table"] == table].groupby("index")["n"].first()
    sizes = ", ".join(f"{result.labels[i]} {int(v):,}" for i, v in n.items())
    kw = dict(
        caption=TABLE_TITLES[table], name=f"table-{table[5:]}", stub_header="",
        footnotes=[
            f"{measure} (95% CI) from design-based survey models (Student t on the design's "
            f"residual df). {notes}",
            "Model 1: unadjusted; Model 2: age, gender, race; Model 3: also PIR, education, "
            "smoking, drinking, physical activity, energy, protein, diabetes, hypertension, "
            "eGFR and 25(OH)D.",
            f"Participants (domain of the cohort with the index): {sizes}. CALLY needs "
            "hs-CRP, measured only in 2015-2018.",
            inflammation.units_note(np_index),
        ],
    )
    ids = paper_lines.exhibit_ids(f"table-{table[5:]}")
    if result.labels.get("np", "ln NP") != "ln NP":  # another NP than the paper's: no comparison
        ids = [i for i in ids if not i.startswith(f"{table}/np/")]
        kw["footnotes"] = [*kw["footnotes"], f"NP here is the {result.labels['np']} "
                           "(modelled untransformed), not the paper's ln NP: the paper's NP values "
                           "are not shown beside it."]
    kw.update(kwargs)
    return paper_lines.beside(publication_table(result.formatted(table), **kw),
                              quartile_ranges=quartile_ranges, ids=ids)
