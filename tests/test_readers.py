"""readers.load_raw: file discovery, checks, merge and cache."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from conftest import write_xpt_dir
from nhmg_lib.data import readers
from nhmg_lib.data.releases import xpt_layout
from nhmg_lib.cohort import variables as v
from nhmg_lib.errors import NhmgError
from nhmg_lib.data.manifest import new_entry, save_manifest
from nhmg_lib.data.readers import DataFileError, MissingDataError, load_raw, raw_columns


def _rewrite(path: Path, **changes: object) -> None:
    df, _ = pyreadstat.read_xport(str(path))
    for k, v in changes.items():
        df[k] = v
    pyreadstat.write_xport(df, str(path), file_format_version=5, table_name=path.stem[:8].upper())


def test_merges_files_onto_demo(xpt_dir: Path, tmp_path: Path) -> None:
    raw = load_raw(xpt_dir, cycles=("J",), cache_dir=tmp_path / "c")
    assert list(raw.columns) == raw_columns()
    assert raw["SEQN"].tolist() == list(range(93703, 93709))
    assert (raw["cycle"] == "J").all()
    assert raw["SDDSRVYR"].tolist() == [10.0] * 6
    assert raw["DXDLALE"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    # 2017-18 has no OGTT and no 2011-16 alcohol items: NaN columns, per the contract.
    assert raw["LBXGLT"].isna().all() and raw["ALQ101"].isna().all()
    assert raw["ALQ121"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert all(raw[c].dtype == "float64" for c in raw.columns[2:])


def test_participant_absent_from_a_file_gets_nan(xpt_dir: Path) -> None:
    df, _ = pyreadstat.read_xport(str(xpt_dir / "BMX_J.xpt"))
    pyreadstat.write_xport(df.iloc[:4], str(xpt_dir / "BMX_J.xpt"), file_format_version=5)
    raw = load_raw(xpt_dir, cycles=("J",), cache=False)
    assert len(raw) == 6
    assert raw["BMXBMI"].tolist()[:4] == [1.0, 2.0, 3.0, 4.0]
    assert raw["BMXBMI"].iloc[4:].isna().all()


def test_two_cycles_stack(tmp_path: Path) -> None:
    d = write_xpt_dir(tmp_path / "d", cycles=("G", "J"), n=3)
    raw = load_raw(d, cycles=("G", "J"), cache=False)
    assert raw["cycle"].tolist() == ["G"] * 3 + ["J"] * 3
    assert raw["SDDSRVYR"].tolist() == [7.0] * 3 + [10.0] * 3
    # HSCRP exists only from 2015: NaN for G, read for J. ALQ items by questionnaire version.
    assert raw["LBXHSCRP"].isna().tolist() == [True] * 3 + [False] * 3
    assert raw["ALQ101"].notna().tolist() == [True] * 3 + [False] * 3


def test_file_names_match_case_insensitively(xpt_dir: Path) -> None:
    (xpt_dir / "DEMO_J.xpt").rename(xpt_dir / "demo_j.XPT")
    (xpt_dir / "CBC_J.xpt").rename(xpt_dir / "Cbc_J.Xpt")
    raw = load_raw(xpt_dir, cycles=("J",), cache=False)
    assert len(raw) == 6 and raw["LBXPLTSI"].tolist()[0] == 1.0


def test_missing_files_and_variables_listed_in_one_error(xpt_dir: Path) -> None:
    (xpt_dir / "DXX_J.xpt").unlink()
    (xpt_dir / "VID_J.xpt").unlink()
    df, _ = pyreadstat.read_xport(str(xpt_dir / "CBC_J.xpt"))
    pyreadstat.write_xport(df.drop(columns=["LBXRDW", "LBDNENO"]), str(xpt_dir / "CBC_J.xpt"),
                           file_format_version=5)
    with pytest.raises(MissingDataError) as err:
        load_raw(xpt_dir, cycles=("J",), cache=False)
    msg = str(err.value)
    assert "DXX_J.xpt, VID_J.xpt" in msg
    assert "CBC_J.xpt: LBDNENO, LBXRDW" in msg
    assert "nhmg download" in msg and "nhmg synth" in msg
    assert isinstance(err.value, NhmgError)


def test_strict_false_reads_missing_variables_as_nan(xpt_dir: Path) -> None:
    df, _ = pyreadstat.read_xport(str(xpt_dir / "DEMO_J.xpt"))
    pyreadstat.write_xport(df.drop(columns=["INDFMPIR"]), str(xpt_dir / "DEMO_J.xpt"),
                           file_format_version=5)
    with pytest.warns(UserWarning, match="DEMO_J.xpt: INDFMPIR"):
        raw = load_raw(xpt_dir, cycles=("J",), cache=False, strict=False)
    assert raw["INDFMPIR"].isna().all() and raw["RIAGENDR"].notna().all()


def test_empty_and_absent_directories(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="does not exist"):
        load_raw(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="holds no .xpt files.*nhmg download"):
        load_raw(tmp_path / "empty")


def test_demo_of_another_cycle_is_rejected(xpt_dir: Path) -> None:
    _rewrite(xpt_dir / "DEMO_J.xpt", SDDSRVYR=9.0)
    with pytest.raises(DataFileError, match=r"DEMO_J.xpt has SDDSRVYR 9 \(2015-2016\), but cycle J is release 10"):
        load_raw(xpt_dir, cycles=("J",), cache=False)


def test_seqn_outside_the_cycle_is_rejected(xpt_dir: Path) -> None:
    _rewrite(xpt_dir / "BMX_J.xpt", SEQN=np.arange(83732.0, 83738.0))  # 2015-16 numbers
    with pytest.raises(DataFileError, match="BMX_J.xpt has SEQN values outside 93703-102956"):
        load_raw(xpt_dir, cycles=("J",), cache=False)


def test_duplicate_seqn_is_rejected(xpt_dir: Path) -> None:
    _rewrite(xpt_dir / "GHB_J.xpt", SEQN=[93703.0] * 6)
    with pytest.raises(DataFileError, match="GHB_J.xpt repeats SEQN"):
        load_raw(xpt_dir, cycles=("J",), cache=False)


def test_truncated_file_is_named(xpt_dir: Path) -> None:
    path = xpt_dir / "PAQ_J.xpt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 37])
    with pytest.raises(DataFileError, match=r"PAQ_J.xpt cannot be used: truncated.*nhmg download"):
        load_raw(xpt_dir, cycles=("J",), cache=False)


def test_truncation_at_a_record_boundary_caught_by_the_manifest(xpt_dir: Path) -> None:
    # XPT v5 has no row count: a cut at a multiple of 80 bytes reads as fewer rows, so only
    # the size recorded at download time can tell.
    path = xpt_dir / "BPX_J.xpt"
    save_manifest(xpt_dir, {"BPX_J": new_entry(path, None)})
    data = path.read_bytes()
    path.write_bytes(data[:-80])
    with pytest.raises(DataFileError, match=r"BPX_J.xpt cannot be used: truncated: received"):
        load_raw(xpt_dir, cycles=("J",), cache=False)


def test_garbage_file_is_named(xpt_dir: Path) -> None:
    (xpt_dir / "SMQ_J.xpt").write_bytes(b"<html>not found</html>".ljust(800, b" "))
    with pytest.raises(DataFileError, match=r"SMQ_J.xpt cannot be used: not an XPT file"):
        load_raw(xpt_dir, cycles=("J",), cache=False)


def test_cache_hit_skips_the_xpt_files(xpt_dir: Path, tmp_path: Path, monkeypatch) -> None:
    calls = []
    real = readers._read_all
    monkeypatch.setattr(readers, "_read_all", lambda *a: calls.append(1) or real(*a))
    cache = tmp_path / "cache"
    first = load_raw(xpt_dir, cycles=("J",), cache_dir=cache)
    second = load_raw(xpt_dir, cycles=("J",), cache_dir=cache)
    assert len(calls) == 1 and len(list(cache.glob("raw-*.parquet"))) == 1
    pd.testing.assert_frame_equal(first, second)
    # The key is the content: a new mtime alone reads from the cache ...
    os.utime(xpt_dir / "BMX_J.xpt", ns=(1, 1))
    load_raw(xpt_dir, cycles=("J",), cache_dir=cache)
    assert len(calls) == 1
    # ... and a file changed in place with the same size and mtime is read again.
    bmx = xpt_dir / "BMX_J.xpt"
    st = bmx.stat()
    data = bytearray(bmx.read_bytes())
    lay = xpt_layout(bmx)
    weight = next(pos for name, pos, _, _ in lay.columns if name == "BMXWT")
    data[lay.header_bytes + weight + 1] ^= 0x10  # the first participant's weight
    time.sleep(0.02)  # past the file system's timestamp tick
    bmx.write_bytes(bytes(data))
    os.utime(bmx, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert bmx.stat().st_size == st.st_size and bmx.stat().st_mtime_ns == st.st_mtime_ns
    third = load_raw(xpt_dir, cycles=("J",), cache_dir=cache)
    assert len(calls) == 2
    assert third["BMXWT"].iloc[0] != first["BMXWT"].iloc[0]
    pd.testing.assert_series_equal(third["BMXWT"].iloc[1:], first["BMXWT"].iloc[1:])


def test_default_cache_lives_in_the_data_dir(xpt_dir: Path) -> None:
    load_raw(xpt_dir, cycles=("J",))
    assert len(list((xpt_dir / ".cache").glob("raw-*.parquet"))) == 1


def test_read_only_cache_dir_warns_and_still_loads(xpt_dir: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.warns(UserWarning, match="not caching"):
            raw = load_raw(xpt_dir, cycles=("J",), cache_dir=locked / "cache")
    finally:
        locked.chmod(0o755)
    assert len(raw) == 6 and not (locked / "cache").exists()


def test_real_demo_files(real_data_dir: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the shared copy is read-only: no cache
        raw = load_raw(real_data_dir, cycles=("G", "I", "J"), components=(),
                       cache=False, strict=False)
    assert raw.groupby("cycle").size().to_dict() == {"G": 9756, "I": 9971, "J": 9254}
    assert raw.groupby("cycle")["SDDSRVYR"].unique().map(list).to_dict() == {
        "G": [7.0], "I": [9.0], "J": [10.0]}
    assert raw["RIDAGEYR"].between(0, 80).all()
    # Under-20s per cycle: the paper's 16,539 at step 1 is these plus 2013-14 (not in the subset).
    assert (raw["RIDAGEYR"] < 20).groupby(raw["cycle"]).sum().to_dict() == {
        "G": 4196, "I": 4252, "J": 3685}
    race = v.race(raw).value_counts()
    assert race.to_dict() == raw["RIDRETH1"].map(v.RIDRETH1_LABELS).value_counts().to_dict()
    assert race["Mexican American"] == 4643 and race.sum() == len(raw)
    # DEMO_G in the shared copy has no INDFMPIR: read as NaN under strict=False.
    assert raw.loc[raw["cycle"] == "G", "INDFMPIR"].isna().all()
    assert raw.loc[raw["cycle"] == "J", "INDFMPIR"].notna().sum() == 8023


def test_real_files_in_the_wrong_cycle_slot(real_data_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "DEMO_H.xpt").symlink_to(real_data_dir / "DEMO_I.xpt")
    with pytest.raises(DataFileError, match="outside 73557-83731"):
        load_raw(d, cycles=("H",), components=("DEMO",), cache=False)


def test_text_column_is_named_not_a_traceback(xpt_dir: Path) -> None:
    df, _ = pyreadstat.read_xport(str(xpt_dir / "BMX_J.xpt"))
    df["BMXBMI"] = df["BMXBMI"].map(lambda v: f"{v:.1f} kg/m2")
    pyreadstat.write_xport(df, str(xpt_dir / "BMX_J.xpt"), file_format_version=5, table_name="BMX_J")
    with pytest.raises(DataFileError, match=r"BMX_J.xpt stores BMXBMI as text"):
        load_raw(xpt_dir, cycles=["J"], cache=False)
