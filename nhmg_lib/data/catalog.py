"""The NHANES files and variables this replication reads, per survey cycle.

One table answers three questions for every other module: which files a cycle needs
(``files_for``), which columns to read from each (``COLUMNS``), and how a cycle letter maps to
years (``CYCLES``). Column lists name only what the derivations in :mod:`nhmg_lib.cohort.variables`
use, so readers load a few columns instead of hundreds.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Cycle letter -> (first year, second year). The paper pools 2011-2018.
CYCLES: dict[str, tuple[int, int]] = {
    "G": (2011, 2012),
    "H": (2013, 2014),
    "I": (2015, 2016),
    "J": (2017, 2018),
}

#: DEMO row counts of the public release: the size of each cycle's full sample.
DEMO_ROWS: dict[str, int] = {"G": 9756, "H": 10175, "I": 9971, "J": 9254}

#: Inclusive SEQN range of each cycle's public release (contiguous, DEMO row counts).
SEQN_RANGE: dict[str, tuple[int, int]] = {
    "G": (62161, 71916),
    "H": (73557, 83731),
    "I": (83732, 93702),
    "J": (93703, 102956),
}

_PAQ = [
    "PAQ605", "PAQ610", "PAD615",  # vigorous work: yes/no, days/week, minutes/day
    "PAQ620", "PAQ625", "PAD630",  # moderate work
    "PAQ635", "PAQ640", "PAD645",  # walk or bicycle for transport
    "PAQ650", "PAQ655", "PAD660",  # vigorous recreation
    "PAQ665", "PAQ670", "PAD675",  # moderate recreation
]

#: Columns read from each file component (besides SEQN). Cycle-specific items are listed in
#: ``CYCLE_COLUMNS`` and added for the cycles that have them.
COLUMNS: dict[str, list[str]] = {
    "DEMO": [
        "SDDSRVYR", "RIDSTATR", "RIAGENDR", "RIDAGEYR", "RIDRETH1", "RIDRETH3",
        "DMDEDUC2", "INDFMPIR", "RIDEXPRG", "SDMVPSU", "SDMVSTRA", "WTINT2YR", "WTMEC2YR",
    ],
    "DXX": ["DXAEXSTS", "DXDLALE", "DXDRALE", "DXDLLLE", "DXDRLLE",
            "DXXLALI", "DXXRALI", "DXXLLLI", "DXXRLLI"],
    "BMX": ["BMXWT", "BMXHT", "BMXBMI"],
    "DR1TOT": ["DR1DRSTZ", "DR1TKCAL", "DR1TPROT", "DR1TMAGN", "WTDRD1", "WTDR2D"],
    "DR2TOT": ["DR2DRSTZ", "DR2TKCAL", "DR2TPROT", "DR2TMAGN"],
    "DS1TOT": ["DS1TMAGN"],
    "DS2TOT": ["DS2TMAGN"],
    "CBC": ["LBXWBCSI", "LBDLYMNO", "LBDNENO", "LBXNEPCT", "LBXPLTSI", "LBXRDW"],
    "BIOPRO": ["LBXSAL", "LBDSALSI", "LBXSCR"],
    "HSCRP": ["LBXHSCRP", "LBDHRPLC"],
    "ALB_CR": ["URDACT"],
    "GHB": ["LBXGH"],
    "GLU": ["LBXGLU", "LBDGLUSI"],
    "OGTT": ["LBXGLT"],
    "BPX": [f"BPXSY{i}" for i in range(1, 5)] + [f"BPXDI{i}" for i in range(1, 5)],
    "BPQ": ["BPQ020"],
    "DIQ": ["DIQ010", "DIQ050", "DIQ070"],
    "SMQ": ["SMQ020"],
    "ALQ": [],
    "PAQ": _PAQ,
    "VID": ["LBXVIDMS", "LBXVD3MS"],
}

#: Items whose names change between cycles (the 2017-18 alcohol questionnaire was redesigned).
CYCLE_COLUMNS: dict[tuple[str, str], list[str]] = {
    ("ALQ", "G"): ["ALQ101", "ALQ110", "ALQ120Q", "ALQ120U"],
    ("ALQ", "H"): ["ALQ101", "ALQ110", "ALQ120Q", "ALQ120U"],
    ("ALQ", "I"): ["ALQ101", "ALQ110", "ALQ120Q", "ALQ120U"],
    ("ALQ", "J"): ["ALQ111", "ALQ121"],
}

#: Components that do not exist in some cycles: hs-CRP starts in 2015-16, the OGTT ends after it.
AVAILABLE_IN: dict[str, tuple[str, ...]] = {
    "HSCRP": ("I", "J"),
    "OGTT": ("G", "H", "I"),
}


@dataclass(frozen=True)
class FileSpec:
    """One public-use file: component (``DEMO``), cycle letter (``G``) and the columns we read."""

    component: str
    cycle: str

    @property
    def name(self) -> str:
        """File stem as NHANES names it, e.g. ``DEMO_G``."""
        return f"{self.component}_{self.cycle}"

    @property
    def filename(self) -> str:
        return f"{self.name}.xpt"

    @property
    def columns(self) -> list[str]:
        return ["SEQN", *COLUMNS[self.component], *CYCLE_COLUMNS.get((self.component, self.cycle), [])]


def files_for(cycles: tuple[str, ...] | list[str] = tuple(CYCLES)) -> list[FileSpec]:
    """Every file the analysis needs for ``cycles``, in catalogue order."""
    unknown = [c for c in cycles if c not in CYCLES]
    if unknown:
        raise ValueError(f"unknown NHANES cycle(s) {unknown}; choose from {list(CYCLES)}")
    return [
        FileSpec(component, cycle)
        for cycle in cycles
        for component in COLUMNS
        if cycle in AVAILABLE_IN.get(component, tuple(CYCLES))
    ]
