"""The library on the real NHANES files of ``../shared/data/nhanes-real`` (60 of the 78).

Every reader and derived variable runs on every cycle present and is checked against known
facts (the paper's counts of ``report.published``, the folder's README) or against counts
computed here straight from the XPT files, independently of the library. Skipped without the
folder, failed under CI=true.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from nhmg_lib.cli import main
from nhmg_lib.cohort.definitions import DEFAULT, Definitions
from nhmg_lib.cohort.reconcile import reconcile
from nhmg_lib.cohort.variables import derive
from nhmg_lib.data.catalog import AVAILABLE_IN, CYCLES, FileSpec, files_for
from nhmg_lib.data.derived_alm import dxa_seqns
from nhmg_lib.data.readers import load_raw
from nhmg_lib.data.releases import verify_dir
from nhmg_lib.report import published
from nhmg_lib.report.flow_chart import paper_by_step


@lru_cache(maxsize=None)
def _xpt(path: str) -> pd.DataFrame:
    """The catalogue columns of an XPT file, read once per session, indexed by SEQN."""
    component, cycle = Path(path).stem.upper().rsplit("_", 1)
    df, _ = pyreadstat.read_xport(path, usecols=FileSpec(component, cycle).columns)
    df.columns = [c.upper() for c in df.columns]
    return df.set_index(df["SEQN"].astype("int64"))


@pytest.fixture(scope="session")
def present(real_files_dir: Path) -> dict[tuple[str, str], Path]:
    """(component, cycle) -> file, for every catalogue file in the folder."""
    return {(s.component, s.cycle): real_files_dir / s.filename for s in files_for()
            if (real_files_dir / s.filename).is_file()}


@pytest.fixture(scope="session")
def raw(real_files_dir: Path, tmp_path_factory) -> pd.DataFrame:
    """The library's raw frame of the folder, read once (missing files as NaN columns)."""
    return load_raw(real_files_dir, cache_dir=tmp_path_factory.mktemp("real-raw"),
                    missing_ok=True)


@pytest.fixture(scope="session")
def derived(raw: pd.DataFrame) -> pd.DataFrame:
    return derive(raw, DEFAULT)


def _file(present, component: str, cycle: str) -> pd.DataFrame | None:
    path = present.get((component, cycle))
    return None if path is None else _xpt(str(path))


def test_participants_and_under_20_equal_the_paper(present, raw) -> None:
    demo = pd.concat([_file(present, "DEMO", c) for c in CYCLES])
    paper = paper_by_step()
    assert len(demo) == len(raw) == paper["start"][1] == published.FLOW[0][2]
    assert int((demo["RIDAGEYR"] < 20).sum()) == paper["age"][0]
    assert int((raw["RIDAGEYR"] < 20).sum()) == paper["age"][0]


def test_day2_recall_codes_as_in_the_readme(real_files_dir, raw) -> None:
    text = (real_files_dir / "README.md").read_text()
    facts = re.findall(r"([GHIJ]) ([\d,]+)/([\d,]+)/([\d,]+)/([\d,]+)[;.]", text)
    assert [f[0] for f in facts] == list(CYCLES)
    for cycle, *counts in facts:
        codes = raw.loc[raw["cycle"] == cycle, "DR2DRSTZ"].value_counts()
        assert [int(codes.get(k, 0)) for k in (1, 2, 4, 5)] == [int(n.replace(",", "")) for n in counts]


def test_every_present_file_is_read_value_for_value(present, raw) -> None:
    """Each catalogue column of each present file equals the file, participant by participant;
    each absent file gives only NaN in its cycle."""
    for spec in files_for():
        rows = raw[raw["cycle"] == spec.cycle].set_index("SEQN")
        columns = spec.columns[1:]
        if (spec.component, spec.cycle) not in present:
            shared = [c for c in columns if not any(
                c in s.columns for s in files_for([spec.cycle]) if s.component != spec.component
                and (s.component, s.cycle) in present)]
            assert rows[shared].isna().all().all(), spec.filename
            continue
        source = _xpt(str(present[(spec.component, spec.cycle)])).reindex(rows.index)
        for column in columns:
            mine, theirs = rows[column].to_numpy(), source[column].to_numpy(dtype="float64")
            assert np.array_equal(mine, theirs, equal_nan=True), f"{spec.filename} {column}"


def test_verify_reports_every_file_without_a_false_damaged(real_files_dir, present) -> None:
    report = verify_dir(real_files_dir)
    assert not report.damaged
    assert {f.file for f in report.files} >= {p.name for p in present.values()}
    assert main(["verify", "--data-dir", str(real_files_dir)]) == 0


def _adults(raw: pd.DataFrame, cycle: str) -> pd.Series:
    return (raw["cycle"] == cycle) & raw["RIDAGEYR"].between(20, 59) & (raw["RIDSTATR"] == 2)


def _expected_missing(present, cycle: str, seqn: pd.Index) -> dict[str, pd.Series]:
    """Who lacks each covariate, from the files alone and the NHANES documentation."""
    def f(component: str) -> pd.DataFrame | None:
        data = _file(present, component, cycle)
        return None if data is None else data.reindex(seqn)

    out: dict[str, pd.Series] = {}
    demo = f("DEMO")
    out["pir_cat"] = demo["INDFMPIR"].isna()
    out["education"] = ~demo["DMDEDUC2"].isin([1, 2, 3, 4, 5])
    if (smq := f("SMQ")) is not None:
        out["smoking"] = ~smq["SMQ020"].isin([1, 2])
    if (alq := f("ALQ")) is not None:
        if cycle == "J":  # redesigned questionnaire: ever drank, past-year frequency 0-10
            ever, never = alq["ALQ111"] == 1, alq["ALQ111"] == 2
            past = alq["ALQ121"].where(alq["ALQ121"].between(0, 10))
        else:
            ever = (alq["ALQ101"] == 1) | (alq["ALQ110"] == 1)
            never = alq["ALQ110"] == 2
            past = alq["ALQ120Q"].where(alq["ALQ120Q"].between(0, 365))
        out["drinking"] = ~(never | (ever & (past == 0)) | (past > 0))
    if (paq := f("PAQ")) is not None:
        unknown = pd.Series(False, index=seqn)
        for item, days, minutes in (("PAQ605", "PAQ610", "PAD615"), ("PAQ620", "PAQ625", "PAD630"),
                                    ("PAQ635", "PAQ640", "PAD645"), ("PAQ650", "PAQ655", "PAD660"),
                                    ("PAQ665", "PAQ670", "PAD675")):
            yes = paq[item] == 1
            unknown |= ~paq[item].isin([1, 2])
            unknown |= yes & ~(paq[days].between(1, 7) & paq[minutes].between(1, 1440))
        out["active"] = unknown
    dr1, dr2 = f("DR1TOT"), f("DR2TOT")
    if dr1 is not None and dr2 is not None:
        both = (dr1["DR1DRSTZ"] == 1) & (dr2["DR2DRSTZ"] == 1)
        out["energy"] = ~both | dr1["DR1TKCAL"].isna() | dr2["DR2TKCAL"].isna()
    diq, ghb, glu = f("DIQ"), f("GHB"), f("GLU")
    ogtt_needed = cycle in AVAILABLE_IN["OGTT"]
    if diq is not None and (not ogtt_needed or (("OGTT", cycle) in present)):
        yes = ((glu["LBXGLU"] >= 126) | (ghb["LBXGH"] >= 6.5) | (diq["DIQ010"] == 1)
               | (diq["DIQ050"] == 1) | (diq["DIQ070"] == 1))
        if ogtt_needed:
            yes |= f("OGTT")["LBXGLT"] >= 200
        out["diabetes"] = ~yes & ~diq["DIQ010"].isin([2, 3])
    bpx, bpq = f("BPX"), f("BPQ")
    sbp = bpx[[f"BPXSY{i}" for i in range(1, 5)]].mean(axis=1)
    dia = bpx[[f"BPXDI{i}" for i in range(1, 5)]]
    dbp = dia.where(dia > 0).mean(axis=1)
    told = bpq["BPQ020"]
    out["hypertension"] = ~((sbp >= 140) | (dbp >= 90) | (told == 1)) & (told != 2)
    bio = f("BIOPRO")
    out["egfr"] = ~(bio["LBXSCR"] > 0)
    if (vid := f("VID")) is not None:
        out["vitd"] = vid["LBXVIDMS"].isna()
    cbc = f("CBC")
    out["np"] = cbc["LBDNENO"].isna() | cbc["LBXPLTSI"].isna()
    out["par"] = cbc["LBXPLTSI"].isna() | ~(bio["LBDSALSI"] > 0)
    out["rar"] = cbc["LBXRDW"].isna() | ~(bio["LBDSALSI"] > 0)
    return out


def test_covariate_missing_counts_per_cycle_match_the_files(present, raw, derived) -> None:
    """Among examined adults aged 20-59, each covariate's missing count in every cycle whose
    files decide it equals the count computed here from the files."""
    checked = 0
    for cycle in CYCLES:
        rows = _adults(raw, cycle)
        seqn = pd.Index(raw.loc[rows, "SEQN"].astype("int64"))
        for column, lacks in _expected_missing(present, cycle, seqn).items():
            mine = int(derived.loc[rows, column].isna().sum())
            assert mine == int(lacks.sum()), f"{column} in cycle {cycle}"
            checked += 1
    assert checked >= 40  # 13 columns x 4 cycles, less those a missing file leaves undecided (43)


def test_cohort_on_the_real_folder_stops_where_the_files_do(real_files_dir, tmp_path, capsys) -> None:
    out = tmp_path / "cohort.csv"
    assert main(["cohort", "--data-dir", str(real_files_dir), "--out", str(out)]) == 2
    printed = capsys.readouterr()
    flow = json.loads((tmp_path / "flow.json").read_text())
    paper = paper_by_step()
    assert [s["key"] for s in flow["steps"]] == ["start", "age"]
    assert flow["steps"][0]["n_remaining"] == paper["start"][1]
    assert flow["steps"][1]["n_excluded"] == paper["age"][0]
    assert sum(flow["steps"][1]["by_cycle"].values()) == flow["steps"][1]["n_remaining"]
    assert not out.exists()
    missing = {m["file"] for m in flow["missing_files"]}
    assert {"DXX_G.xpt", "DXX_J.xpt", "DR1TOT_G.xpt", "VID_I.xpt", "PAQ_H.xpt"} <= missing
    assert not any(f.startswith(("DS1TOT", "DS2TOT")) for f in missing)  # magnesium=diet
    assert f"(paper: {paper['age'][0]:,})" in printed.out
    assert "DXX_J.xpt: appendicular lean mass" in printed.err
    assert "OGTT_G.xpt: diabetes (2-h glucose, random_glucose=ogtt_2h)" in printed.err


def test_dxa_stand_in_counts_as_in_its_readme(derived_alm_dir, raw) -> None:
    text = (derived_alm_dir / "README.md").read_text()
    counts = re.search(r"ALM is present for ([\d,]+) / ([\d,]+) / ([\d,]+) / ([\d,]+)", text)
    seqns = pd.Series(sorted(dxa_seqns(derived_alm_dir)))
    by_cycle = raw.set_index("SEQN").loc[seqns, "cycle"].value_counts()
    assert [int(by_cycle[c]) for c in CYCLES] == [int(n.replace(",", "")) for n in counts.groups()]


def test_reconciliation_of_2017_2018_against_the_files(present, raw, derived_alm_dir) -> None:
    """Cycle J (both recalls present): who reaches the covariate step, who lacks PIR, and what
    the fasting-glucose rule adds, counted from the files and the derived DXA set."""
    dxa = dxa_seqns(derived_alm_dir)
    missing = {(s.component, s.cycle) for s in files_for()
               if (s.component, s.cycle) not in present}
    rec = reconcile(raw, Definitions(random_glucose="none"), missing=missing, dxa=dxa)
    demo, bmx = _file(present, "DEMO", "J"), _file(present, "BMX", "J")
    dr1, dr2 = _file(present, "DR1TOT", "J"), _file(present, "DR2TOT", "J")
    seqn = demo.index
    reach = (demo["RIDAGEYR"].between(20, 59) & seqn.isin(list(dxa))
             & (bmx["BMXBMI"].reindex(seqn) > 0)
             & (dr1["DR1DRSTZ"].reindex(seqn) == 1) & (dr2["DR2DRSTZ"].reindex(seqn) == 1)
             & (dr1["DR1TMAGN"].reindex(seqn) + dr2["DR2TMAGN"].reindex(seqn) > 0))
    assert rec.reaching["J"] == int(reach.sum())
    assert rec.reaching[["G", "H"]].isna().all()  # no day-1 recall files for 2011-2014
    reached = seqn[reach]
    assert rec.gaps.loc["Poverty-income ratio", ("J", "alone")] == int(
        demo.loc[reached, "INDFMPIR"].isna().sum())
    book = rec.rules.loc["book", "J"]
    assert rec.gaps.iloc[-1][("J", "cumulative")] == book
    no_glucose = ~_file(present, "GLU", "J")["LBXGLU"].reindex(reached).notna()
    assert rec.rules.loc["+ fasting_glucose", "J"] >= max(book, int(no_glucose.sum()))
    assert 0 < book < rec.reaching["J"]


#: Files behind derived columns beyond the covariates (a cycle lacking one leaves them empty).
DERIVED_SOURCES: dict[str, tuple[str, ...]] = {
    "mg": ("DR1TOT", "DR2TOT"), "ln_mg": ("DR1TOT", "DR2TOT"), "smi": ("DXX", "BMX"),
    "lmm": ("DXX", "BMX"), "asm": ("DXX",), "bmi": ("BMX",), "ckd": ("BIOPRO",),
    "cally": ("BIOPRO", "CBC", "HSCRP"), "acr": ("ALB_CR",), "crp": ("HSCRP",),
    "sbp": ("BPX",), "met_min": ("PAQ",),
}


def test_every_derived_variable_is_filled_exactly_where_its_files_are(present, raw, derived) -> None:
    from nhmg_lib.cohort.reconcile import SOURCES

    sources = {**SOURCES, **DERIVED_SOURCES}
    for cycle in CYCLES:
        rows = _adults(raw, cycle)
        for column, files in sources.items():
            have = all((f, cycle) in present for f in files)
            filled = int(derived.loc[rows, column].notna().sum())
            if have:
                assert filled > 0.5 * rows.sum(), f"{column} in cycle {cycle}: {filled}"
            elif column not in ("diabetes", "weight"):  # the other diabetes items still decide
                assert filled == 0, f"{column} in cycle {cycle} without {files}"


def test_derived_values_equal_the_files_in_2017_2018(present, raw, derived) -> None:
    rows = _adults(raw, "J")
    seqn = pd.Index(raw.loc[rows, "SEQN"].astype("int64"))
    dr1, dr2 = _file(present, "DR1TOT", "J").reindex(seqn), _file(present, "DR2TOT", "J").reindex(seqn)
    both = (dr1["DR1DRSTZ"] == 1) & (dr2["DR2DRSTZ"] == 1)
    energy = ((dr1["DR1TKCAL"] + dr2["DR2TKCAL"]) / 2).where(both)
    assert np.allclose(derived.loc[rows, "energy"], energy, equal_nan=True)
    pir = _file(present, "DEMO", "J").reindex(seqn)["INDFMPIR"]
    counts = derived.loc[rows, "pir_cat"].value_counts()
    assert counts["<1.39"] == int((pir < 1.39).sum())
    assert counts[">3.49"] == int((pir > 3.49).sum())
    bio, demo = _file(present, "BIOPRO", "J").reindex(seqn), _file(present, "DEMO", "J").reindex(seqn)
    female = demo["RIAGENDR"] == 2
    k, a = np.where(female, 0.7, 0.9), np.where(female, -0.329, -0.411)
    ratio = bio["LBXSCR"] / k
    egfr = (141 * np.minimum(ratio, 1) ** a * np.maximum(ratio, 1) ** -1.209
            * 0.993 ** demo["RIDAGEYR"] * np.where(female, 1.018, 1)
            * np.where(demo["RIDRETH1"] == 4, 1.159, 1))
    assert np.allclose(derived.loc[rows, "egfr"], egfr, equal_nan=True)


def test_day2_recall_stands_for_both_where_both_files_are(present, raw, derived_alm_dir) -> None:
    """In 2015-2018 (both recall files), dropping the day-1 file and letting a reliable day-2
    recall stand for two reliable recalls selects exactly the same adults."""
    from nhmg_lib.data.catalog import COLUMNS

    dxa = dxa_seqns(derived_alm_dir)
    missing = {(s.component, s.cycle) for s in files_for() if (s.component, s.cycle) not in present}
    full = reconcile(raw, missing=missing, dxa=dxa)
    blank = raw.copy()
    blank.loc[blank["cycle"].isin(["I", "J"]), COLUMNS["DR1TOT"]] = np.nan
    stand_in = reconcile(blank, missing=missing | {("DR1TOT", "I"), ("DR1TOT", "J")}, dxa=dxa,
                         day2_stand_in=True)
    assert stand_in.day2_cycles == ("G", "H", "I", "J")
    assert stand_in.reaching[["I", "J"]].tolist() == full.reaching[["I", "J"]].tolist()
    assert stand_in.gaps.loc["Poverty-income ratio", ("J", "alone")] == \
        full.gaps.loc["Poverty-income ratio", ("J", "alone")]
    assert pd.isna(stand_in.gaps.loc["Energy intake", ("J", "alone")])
