"""Tests of the synthetic NHANES generator: files, codes, skip patterns, design, calibration."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from nhmg_lib.data.catalog import CYCLES, DEMO_ROWS, files_for
from nhmg_lib.data.synthetic import (
    GENERATOR_VERSION, SEQN_START, is_synthetic, read_marker, simulate_cycle, write_synthetic,
)

SMALL = 0.08

#: The paper's exclusion flow (Zhu et al., Figure 1 / section 2.1).
PAPER_FLOW = {"age": 16539, "asm_bmi": 11791, "diet": 1954, "covariates": 3079}
PAPER_START = 39156
PAPER_FINAL = 5793

STRATA = {"G": (90, 103), "H": (104, 118), "I": (119, 133), "J": (134, 148)}


def _read(directory: Path, name: str) -> pd.DataFrame:
    return pyreadstat.read_xport(str(directory / f"{name}.xpt"))[0]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth-small")
    write_synthetic(out, seed=3, scale=SMALL)
    return out


@pytest.fixture(scope="module")
def cycle_frames() -> dict[str, dict[str, pd.DataFrame]]:
    """Full-size frames of every cycle, generated in memory (no files)."""
    return {c: simulate_cycle(c, seed=5) for c in CYCLES}


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_every_catalogue_file_with_its_columns(small):
    for spec in files_for(tuple(CYCLES)):
        path = small / spec.filename
        assert path.is_file(), spec.filename
        df, meta = pyreadstat.read_xport(str(path))
        assert meta.table_name == spec.name
        assert set(spec.columns) <= set(df.columns), (spec.name, set(spec.columns) - set(df.columns))
        assert df["SEQN"].is_unique
    names = {p.name for p in small.glob("*.xpt")}
    assert names == {s.filename for s in files_for(tuple(CYCLES))}


def test_deterministic_by_seed(small, tmp_path):
    again = tmp_path / "again"
    write_synthetic(again, seed=3, scale=SMALL)
    assert _digests(again) == _digests(small)
    other = tmp_path / "other"
    write_synthetic(other, seed=4, scale=SMALL)
    a, b = _digests(small), _digests(other)
    assert a["DEMO_G.xpt"] != b["DEMO_G.xpt"] and a["DXX_J.xpt"] != b["DXX_J.xpt"]


def test_marker(small, tmp_path):
    assert is_synthetic(small)
    info = read_marker(small)
    assert info["seed"] == "3" and info["scale"] == f"{SMALL:g}"
    assert GENERATOR_VERSION in info["generator"]
    assert "SYNTHETIC" in (small / "SYNTHETIC").read_text()
    assert not is_synthetic(tmp_path)
    assert read_marker(tmp_path) == {}


def test_scale_shrinks_every_cycle(small):
    for c in CYCLES:
        demo = _read(small, f"DEMO_{c}")
        assert len(demo) == round(DEMO_ROWS[c] * SMALL)


def test_cycle_subset_and_bad_arguments(tmp_path):
    paths = write_synthetic(tmp_path, seed=1, scale=0.02, cycles=("J",))
    assert {p.name for p in paths if p.suffix == ".xpt"} == {s.filename for s in files_for(("J",))}
    with pytest.raises(ValueError):
        write_synthetic(tmp_path, scale=0)
    with pytest.raises(ValueError):
        write_synthetic(tmp_path, cycles=("K",))


def test_tiny_scale_still_writes_every_file(tmp_path):
    paths = write_synthetic(tmp_path, seed=2, scale=0.002)
    assert len([p for p in paths if p.suffix == ".xpt"]) == len(files_for(tuple(CYCLES)))
    assert len(_read(tmp_path, "DEMO_H")) == round(DEMO_ROWS["H"] * 0.002)


def test_demo_rows_seqn_and_release(cycle_frames):
    for c, frames in cycle_frames.items():
        demo = frames["DEMO"]
        assert len(demo) == DEMO_ROWS[c]
        seqn = demo["SEQN"].to_numpy()
        assert seqn[0] == SEQN_START[c] and np.all(np.diff(seqn) == 1)
        assert set(demo["SDDSRVYR"]) == {float({"G": 7, "H": 8, "I": 9, "J": 10}[c])}
        assert set(demo["RIDSTATR"]) == {1.0, 2.0}
        assert 0.03 < (demo["RIDSTATR"] == 1).mean() < 0.08
        assert demo["RIDAGEYR"].between(0, 80).all()
        # the next cycle starts right after this one's last SEQN (contiguous public ranges)
        nxt = {"G": None, "H": "I", "I": "J", "J": None}[c]
        if nxt:
            assert seqn[-1] + 1 == SEQN_START[nxt]


def test_design_strata_psu_and_weights(cycle_frames):
    for c, frames in cycle_frames.items():
        demo = frames["DEMO"]
        lo, hi = STRATA[c]
        assert set(demo["SDMVSTRA"].astype(int)) == set(range(lo, hi + 1))
        assert set(demo["SDMVPSU"].astype(int)) <= {1, 2, 3}
        assert (demo.groupby("SDMVSTRA")["SDMVPSU"].nunique() >= 2).all()
        assert (demo["WTINT2YR"] > 0).all()
        assert ((demo["WTMEC2YR"] == 0) == (demo["RIDSTATR"] == 1)).all()
        assert 2.5e8 < demo["WTINT2YR"].sum() < 3.5e8
        # oversampled groups (e.g. non-Hispanic Black) weigh less than non-Hispanic White
        w = demo.groupby("RIDRETH3")["WTINT2YR"].median()
        assert w[4] < w[3]
    # 2011-12 has three PSUs in its first strata, as the real DEMO_G
    assert (cycle_frames["G"]["DEMO"]["SDMVPSU"] == 3).any()


def test_demographic_codes(cycle_frames):
    for c, frames in cycle_frames.items():
        demo = frames["DEMO"]
        adult = demo["RIDAGEYR"] >= 20
        ed = demo["DMDEDUC2"]
        assert ed[~adult].isna().all()
        assert ed[adult].notna().all()
        assert set(ed[adult].unique()) <= {1, 2, 3, 4, 5, 7, 9}
        assert set(demo["RIDRETH3"].unique()) == {1, 2, 3, 4, 6, 7}
        assert ((demo["RIDRETH1"] == 5) == demo["RIDRETH3"].isin([6, 7])).all()
        preg = demo["RIDEXPRG"]
        eligible = (demo["RIAGENDR"] == 2) & demo["RIDAGEYR"].between(20, 44) & (demo["RIDSTATR"] == 2)
        assert preg[~eligible].isna().all() and preg[eligible].notna().all()
        assert set(preg.dropna().unique()) <= {1, 2, 3}
        pir = demo["INDFMPIR"]
        assert pir.dropna().between(0, 5).all() and 0.05 < pir.isna().mean() < 0.2
    pooled = pd.concat([f["DEMO"] for f in cycle_frames.values()])
    assert pooled["DMDEDUC2"].isin([7, 9]).any()


def test_component_samples(cycle_frames):
    for c, f in cycle_frames.items():
        demo = f["DEMO"].set_index("SEQN")
        examined = set(demo.index[demo["RIDSTATR"] == 2])
        age = demo["RIDAGEYR"]
        for comp in ("DXX", "BMX", "DR1TOT", "DR2TOT", "DS1TOT", "DS2TOT", "CBC", "BIOPRO",
                     "ALB_CR", "GHB", "GLU", "BPX", "ALQ", "VID", "HSCRP", "OGTT"):
            if comp in f:
                assert set(f[comp]["SEQN"]) <= examined, (c, comp)
        assert set(age[f["DXX"]["SEQN"]].unique()) == set(range(8, 60))
        assert age[f["BIOPRO"]["SEQN"]].min() >= 12 and age[f["CBC"]["SEQN"]].min() >= 1
        assert set(f["GLU"]["SEQN"]) < set(f["BIOPRO"]["SEQN"])
        assert 0.35 < len(f["GLU"]) / len(f["BIOPRO"]) < 0.6
        assert (f["GLU"]["WTSAF2YR"] >= 0).all()
        assert age[f["SMQ"]["SEQN"]].min() >= 12 and age[f["ALQ"]["SEQN"]].min() >= 18
        assert age[f["BPQ"]["SEQN"]].min() >= 16


def test_cycle_differences(small, cycle_frames):
    for c in CYCLES:
        alq = _read(small, f"ALQ_{c}")
        if c == "J":
            assert {"ALQ111", "ALQ121"} <= set(alq) and "ALQ101" not in alq
        else:
            assert {"ALQ101", "ALQ110", "ALQ120Q", "ALQ120U"} <= set(alq) and "ALQ111" not in alq
        assert (small / f"HSCRP_{c}.xpt").exists() == (c in ("I", "J"))
        assert (small / f"OGTT_{c}.xpt").exists() == (c != "J")
        assert ("HSCRP" in cycle_frames[c]) == (c in ("I", "J"))


def test_alcohol_skip_patterns(cycle_frames):
    for c in ("G", "H", "I"):
        a = cycle_frames[c]["ALQ"]
        answered = a["ALQ101"].notna()
        assert a.loc[a["ALQ110"].notna(), "ALQ101"].eq(2).all()
        assert a.loc[answered & (a["ALQ101"] == 2), "ALQ110"].notna().all()
        asked = (a["ALQ101"] == 1) | (a["ALQ110"] == 1)
        assert a.loc[~asked, "ALQ120Q"].isna().all() and a.loc[asked, "ALQ120Q"].notna().all()
        q = a["ALQ120Q"]
        assert set(q.dropna().unique()) <= set(range(0, 366)) | {777, 999}
        assert (a["ALQ120U"].notna() == q.between(1, 365)).all()
        assert set(a["ALQ120U"].dropna().unique()) <= {1, 2, 3}
        assert set(a["ALQ101"].dropna().unique()) <= {1, 2, 7, 9}
    a = cycle_frames["J"]["ALQ"]
    assert a.loc[a["ALQ121"].notna(), "ALQ111"].eq(1).all()
    assert a.loc[a["ALQ111"] == 1, "ALQ121"].notna().all()
    assert set(a["ALQ121"].dropna().unique()) <= set(range(0, 11)) | {77, 99}
    assert (a["ALQ121"] == 0).any() and (a["ALQ111"] == 2).any()


def test_activity_and_diabetes_skip_patterns(cycle_frames):
    pairs = [("PAQ605", "PAQ610", "PAD615"), ("PAQ620", "PAQ625", "PAD630"),
             ("PAQ635", "PAQ640", "PAD645"), ("PAQ650", "PAQ655", "PAD660"),
             ("PAQ665", "PAQ670", "PAD675")]
    for c, f in cycle_frames.items():
        p = f["PAQ"]
        for yn, days, mins in pairs:
            assert set(p[yn].unique()) <= {1, 2, 7, 9}
            assert p.loc[p[yn] != 1, [days, mins]].isna().all().all()
            assert p.loc[p[yn] == 1, days].notna().all()
            assert set(p[days].dropna().unique()) <= set(range(1, 8)) | {77, 99}
            m = p[mins].dropna()
            assert (m.between(10, 960) | m.isin([7777, 9999])).all()
        d = f["DIQ"]
        age = f["DEMO"].set_index("SEQN")["RIDAGEYR"].reindex(d["SEQN"]).to_numpy()
        assert set(d["DIQ010"].unique()) <= {1, 2, 3, 7, 9}
        assert d.loc[d["DIQ010"] == 1, "DIQ160"].isna().all()
        asked = (age >= 12) & (d["DIQ010"].isin([1, 3]) | (d["DIQ160"] == 1)).to_numpy()
        assert (d["DIQ070"].notna().to_numpy() == asked).all()
        assert d["DIQ050"].notna().all()
        s = f["SMQ"]
        sage = f["DEMO"].set_index("SEQN")["RIDAGEYR"].reindex(s["SEQN"]).to_numpy()
        assert s.loc[sage < 18, "SMQ020"].isna().all()
        assert set(s["SMQ020"].dropna().unique()) <= {1, 2, 7, 9}


def test_dxa_exclusions(cycle_frames):
    limbs = ["DXDLALE", "DXDRALE", "DXDLLLE", "DXDRLLE"]
    for c, f in cycle_frames.items():
        dxx = f["DXX"].merge(f["DEMO"][["SEQN", "RIDEXPRG"]], on="SEQN")
        dxx = dxx.merge(f["BMX"][["SEQN", "BMXWT", "BMXHT"]], on="SEQN", how="left")
        assert set(dxx["DXAEXSTS"].unique()) <= {1, 2, 3, 4, 5, 6}
        preg = dxx["RIDEXPRG"] == 1
        assert (dxx.loc[preg, "DXAEXSTS"] == 4).all() and (dxx.loc[~preg, "DXAEXSTS"] != 4).all()
        big = ((dxx["BMXWT"] > 137) | (dxx["BMXHT"] > 197)) & ~preg
        assert (dxx.loc[big, "DXAEXSTS"] == 5).all()
        assert dxx.loc[dxx["DXAEXSTS"] >= 4, limbs].isna().all().all()
        assert dxx.loc[dxx["DXAEXSTS"].isin([1, 2]), limbs].notna().all().all()
        partial = dxx["DXAEXSTS"] == 3
        assert (dxx.loc[partial, limbs].isna().sum(axis=1) == 1).all()
        adults = dxx[dxx["DXAEXSTS"] == 1]
        # grams: an adult's arm holds a few kilograms of lean mass
        assert 1500 < adults["DXDLALE"].median() < 5000
        # lean mass with bone: the same limbs missing, bone mineral adding 11-14% per limb
        with_bone = ["DXXLALI", "DXXRALI", "DXXLLLI", "DXXRLLI"]
        assert (dxx[with_bone].isna().to_numpy() == dxx[limbs].isna().to_numpy()).all()
        ratio = (dxx[with_bone].to_numpy() / dxx[limbs].to_numpy())[dxx["DXAEXSTS"] == 1]
        assert np.nanmin(ratio) > 1.10 and np.nanmax(ratio) < 1.14
        assert 0.15 < (dxx["DXAEXSTS"] >= 3).mean() < 0.35


def test_dietary_status_and_weights(cycle_frames):
    for c, f in cycle_frames.items():
        d1, d2 = f["DR1TOT"], f["DR2TOT"]
        assert (d1["SEQN"].to_numpy() == d2["SEQN"].to_numpy()).all()
        assert set(d1["DR1DRSTZ"].unique()) <= {1, 2, 4, 5}
        assert set(d2["DR2DRSTZ"].unique()) <= {1, 2, 4, 5}
        ok1 = d1["DR1DRSTZ"].isin([1, 4])
        ok2 = d2["DR2DRSTZ"].isin([1, 4])
        assert d1.loc[~ok1, ["DR1TKCAL", "DR1TPROT", "DR1TMAGN"]].isna().all().all()
        assert d1.loc[ok1, "DR1TMAGN"].notna().all()
        assert d2.loc[~ok2, "DR2TMAGN"].isna().all()
        assert ((d1["WTDRD1"] > 0) == ok1).all()
        assert ((d1["WTDR2D"] > 0) == (ok1 & ok2)).all()
        assert (d1.loc[~ok2, "WTDR2D"] == 0).all()
        # day 2 is attempted only after a complete day 1
        assert (d2.loc[d1["DR1DRSTZ"] == 5, "DR2DRSTZ"] == 5).all()
        both = (d1["DR1DRSTZ"] == 1) & (d2["DR2DRSTZ"] == 1)
        assert 0.7 < both.mean() < 0.9
        mg = d1.loc[ok1, "DR1TMAGN"]
        assert 200 < mg.median() < 400 and (mg > 0).all()


def test_laboratory_ranges(cycle_frames):
    f = cycle_frames["J"]
    cbc, bio, crp = f["CBC"], f["BIOPRO"], f["HSCRP"]
    assert 3.5 < cbc["LBDNENO"].median() < 5 and 200 < cbc["LBXPLTSI"].median() < 300
    assert 12.5 < cbc["LBXRDW"].median() < 14.5 and 1.8 < cbc["LBDLYMNO"].median() < 2.8
    assert 3.8 < bio["LBXSAL"].median() < 4.5
    assert (bio["LBDSALSI"].dropna() == (bio["LBXSAL"].dropna() * 10).round()).all()
    assert ((crp["LBDHRPLC"] == 1) == (crp["LBXHSCRP"] == 0.11)).all()
    assert 0.02 < cbc["LBXWBCSI"].isna().mean() < 0.15
    bpx = f["BPX"]
    assert bpx["BPXSY1"].notna().mean() > 0.7 and bpx["BPXSY4"].notna().mean() < 0.15
    assert (bpx["BPXDI1"] == 0).any()


def test_readers_accept_the_files(small):
    readers = pytest.importorskip("nhmg_lib.data.readers")
    raw = readers.load_raw(small, cache=False)
    assert len(raw) == sum(round(DEMO_ROWS[c] * SMALL) for c in CYCLES)
    assert raw.loc[raw["cycle"] == "G", "LBXHSCRP"].isna().all()
    assert raw.loc[raw["cycle"] == "J", "ALQ101"].isna().all()


def test_full_scale_flow_and_associations(tmp_path):
    """Through the real derivations and cohort rules, the flow lands within 10% of the paper."""
    cohort = pytest.importorskip("nhmg_lib.cohort.flow")
    readers = pytest.importorskip("nhmg_lib.data.readers")
    write_synthetic(tmp_path, seed=1)
    c = cohort.build_cohort(readers.load_raw(tmp_path, cache=False))
    steps = {s.key: s for s in c.flow}
    assert steps["start"].n_remaining == PAPER_START
    for key, paper in PAPER_FLOW.items():
        assert abs(steps[key].n_excluded / paper - 1) <= 0.10, (key, steps[key].n_excluded, paper)
    assert abs(c.final_n / PAPER_FINAL - 1) <= 0.10
    f = c.frame
    assert 0.05 <= f["lmm"].mean() <= 0.09
    # directions of the paper's associations (unadjusted, quick)
    low, high = f[f["mg_q"] == 1], f[f["mg_q"] == 4]
    assert high["lmm"].mean() < low["lmm"].mean()
    assert high["ln_smi"].mean() > low["ln_smi"].mean()
    for index in ("np", "par", "rar"):
        assert high[index].median() < low[index].median(), index
    cally = f.dropna(subset=["cally"])
    assert cally.loc[cally["mg_q"] == 4, "cally"].median() > cally.loc[cally["mg_q"] == 1, "cally"].median()
    for index in ("np", "par", "rar"):
        assert f.loc[f["lmm"] == 1, index].median() > f.loc[f["lmm"] == 0, index].median(), index


REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nhanes-public-subset"


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real NHANES subset not found at {REAL}")
def test_marginals_close_to_the_real_files(cycle_frames):
    """Calibration check against the real public files (skipped where they are absent)."""
    for c in ("G", "I", "J"):
        real = _read(REAL, f"DEMO_{c}")
        syn = cycle_frames[c]["DEMO"]
        assert len(syn) == len(real)
        assert set(syn["SDMVSTRA"]) == set(real["SDMVSTRA"])
        assert set(zip(syn["SDMVSTRA"], syn["SDMVPSU"])) == set(zip(real["SDMVSTRA"], real["SDMVPSU"]))
        assert abs((syn["RIDAGEYR"] < 20).mean() - (real["RIDAGEYR"] < 20).mean()) < 0.01
        share = lambda d: d["RIDRETH3"].value_counts(normalize=True).sort_index()
        assert (share(syn) - share(real)).abs().max() < 0.01
        ratio = syn["WTINT2YR"].median() / real["WTINT2YR"].median()
        assert 0.7 < ratio < 1.4
    j = cycle_frames["J"]
    for comp, var in (("CBC", "LBDNENO"), ("CBC", "LBXPLTSI"), ("CBC", "LBXRDW"),
                      ("CBC", "LBDLYMNO"), ("BIOPRO", "LBXSAL"), ("BIOPRO", "LBXSCR"),
                      ("HSCRP", "LBXHSCRP"), ("GHB", "LBXGH")):
        real = _read(REAL, f"{comp}_J")[var].median()
        assert abs(j[comp][var].median() / real - 1) < 0.2, (comp, var)
    for c in ("G", "I"):
        real = _read(REAL, f"BMX_{c}").merge(_read(REAL, f"DEMO_{c}")[["SEQN", "RIDAGEYR"]])
        syn = cycle_frames[c]["BMX"].merge(cycle_frames[c]["DEMO"][["SEQN", "RIDAGEYR"]])
        for frame in (real, syn):
            frame["adult"] = frame["RIDAGEYR"].between(20, 59)
        assert abs(syn.loc[syn.adult, "BMXBMI"].median() / real.loc[real.adult, "BMXBMI"].median() - 1) < 0.05
        assert abs(syn.loc[syn.adult, "BMXHT"].median() / real.loc[real.adult, "BMXHT"].median() - 1) < 0.02
        assert abs(len(syn) / len(real) - 1) < 0.03
