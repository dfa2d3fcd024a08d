"""What NHANES fixes between the files of a cycle, checked for one file against its DEMO.

A file cut on a row boundary, or holding half its rows, still reads as a whole transport
file; where no row count of the CDC release is known, the design of the survey still says
who must be in it (NHANES documentation; all of it holds on the real 2011-2018 files):

* the examination files every examined participant has a row in -- body measures, blood
  pressure, both dietary recalls -- hold exactly the SEQNs of DEMO with RIDSTATR = 2
  (interviewed and examined at the mobile examination centre, MEC);
* every other examination or laboratory file holds only MEC-examined SEQNs, and every
  questionnaire file only SEQNs of DEMO;
* the dietary weights (WTDRD1, WTDR2D) add up to the cycle's WTMEC2YR total.

:func:`check_relations` answers for one file and its cycle's DEMO, so a partial folder (or a
cohort that reads a few files) is checked file by file; without DEMO there is nothing to
compare and nothing is said.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nhmg_lib.data.xpt import XptLayout, xpt_layout

#: Components with a row for every MEC-examined participant of the cycle, and no one else.
MEC_EXACT = ("BMX", "BPX", "DR1TOT", "DR2TOT")
#: Components measured at the MEC (a subsample of the examined participants).
MEC_ONLY = ("DXX", "ALB_CR", "BIOPRO", "CBC", "GHB", "GLU", "HSCRP", "OGTT", "VID", "ALQ",
            "DS1TOT", "DS2TOT")
#: Dietary day-1 and day-2 weights, each summing to the cycle's MEC weight total.
DIETARY_WEIGHTS = {"DR1TOT": ("WTDRD1", "WTDR2D"), "DR2TOT": ("WTDRD1", "WTDR2D")}
#: Relative difference of weight totals taken as equal (the real files agree to 1e-10).
WEIGHT_TOLERANCE = 1e-6


def read_numeric(path: Path, layout: XptLayout, names: list[str]) -> dict[str, np.ndarray]:
    """The numeric columns ``names`` present in the file, as float64 (NaN for missing).

    Reads the data rows in one block and decodes IBM floats with numpy: no parsing of the
    other variables, so a whole cycle's SEQNs cost milliseconds.
    """
    wanted = {n.upper() for n in names}
    cols = [c for c in layout.columns if c[0] in wanted and c[3]]
    if not cols or layout.rows <= 0:
        return {c[0]: np.empty(0) for c in cols}
    data = np.fromfile(path, dtype=np.uint8, count=layout.rows * layout.row_bytes,
                       offset=layout.header_bytes).reshape(layout.rows, layout.row_bytes)
    out = {}
    for name, pos, length, _ in cols:
        raw = np.zeros((layout.rows, 8), dtype=np.uint8)
        raw[:, :length] = data[:, pos:pos + length]
        out[name] = _ibm(raw)
    return out


def _ibm(raw: np.ndarray) -> np.ndarray:
    """IBM mainframe doubles (rows of 8 bytes) to IEEE float64; SAS missing values to NaN."""
    first = raw[:, 0].astype(np.int64)
    frac_bytes = raw.copy()
    frac_bytes[:, 0] = 0
    fraction = frac_bytes.view(">u8").ravel().astype(np.float64) / float(1 << 56)
    value = fraction * np.power(16.0, (first & 0x7F) - 64)
    value = np.where(first & 0x80, -value, value)
    missing = (fraction == 0) & (first != 0)  # '.', '_' or 'A'-'Z' followed by zeros
    return np.where(missing, np.nan, value)


def _seqns(path: Path, layout: XptLayout, extra: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    return read_numeric(path, layout, ["SEQN", *extra])


def check_relations(path: Path | str, demo: Path | str | None, stem: str | None = None
                    ) -> list[str]:
    """Why ``path`` breaks a relation with its cycle's DEMO file ``demo`` (empty: none).

    ``stem`` is the file stem to judge it by (default the file's own, e.g. ``BMX_G``).
    Nothing is checked for DEMO itself, without a DEMO, or for a component not listed above.
    """
    path = Path(path)
    component = (stem or path.stem).upper().rsplit("_", 1)[0]
    if demo is None or component == "DEMO":
        return []
    demo = Path(demo)
    layout, demo_layout = xpt_layout(path), xpt_layout(demo)
    if isinstance(layout, str) or isinstance(demo_layout, str) or demo_layout.problem:
        return []  # the structure check reports these
    d = _seqns(demo, demo_layout, ("RIDSTATR", "WTMEC2YR"))
    if "SEQN" not in d:
        return []
    f = _seqns(path, layout, DIETARY_WEIGHTS.get(component, ()))
    if "SEQN" not in f:
        return [f"{path.name} has no numeric SEQN column, which every NHANES file has"]
    problems = []
    everyone = np.unique(d["SEQN"])
    examined = np.unique(d["SEQN"][d["RIDSTATR"] == 2]) if "RIDSTATR" in d else None
    seqn = np.unique(f["SEQN"])
    outside = np.setdiff1d(seqn, everyone)
    if outside.size:
        problems.append(f"{outside.size:,} of its SEQNs are not participants of {demo.name} "
                        f"(e.g. {int(outside[0])}): every SEQN of an NHANES file is in its "
                        "cycle's DEMO")
    if component in MEC_EXACT and examined is not None:
        lost = np.setdiff1d(examined, seqn)
        extra = np.setdiff1d(seqn, examined)
        if lost.size or extra.size:
            problems.append(
                f"it has {seqn.size:,} participants, but {demo.name} has {examined.size:,} "
                f"MEC-examined ones (RIDSTATR = 2), {lost.size:,} of them missing here: "
                f"{component} holds exactly the examined participants of its cycle")
    elif component in MEC_ONLY and examined is not None:
        unexamined = np.setdiff1d(np.intersect1d(seqn, everyone), examined)
        if unexamined.size:
            problems.append(
                f"{unexamined.size:,} of its SEQNs (e.g. {int(unexamined[0])}) were not "
                f"examined at the MEC according to {demo.name} (RIDSTATR): {component} is "
                "measured on MEC-examined participants only")
    if "WTMEC2YR" in d:
        total = float(np.nansum(d["WTMEC2YR"]))
        for weight in DIETARY_WEIGHTS.get(component, ()):
            if weight in f and total > 0:
                got = float(np.nansum(f[weight]))
                if abs(got - total) > WEIGHT_TOLERANCE * total:
                    problems.append(
                        f"its {weight} weights add up to {got:,.0f}, not to the WTMEC2YR total "
                        f"{total:,.0f} of {demo.name}: the dietary weights of a cycle sum to "
                        "its MEC weights")
    return problems


__all__ = ["check_relations", "read_numeric", "MEC_EXACT", "MEC_ONLY", "DIETARY_WEIGHTS"]
