"""Outputs are written whole or not at all: a full disk, a name too long or a read-only folder
leaves the previous file as it was and says why, without a traceback."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from nhmg_lib.cli import main
from nhmg_lib.data import atomic
from nhmg_lib.data.atomic import OutputError, atomic_path, atomic_write


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_atomic_write_replaces_the_file_whole(tmp_path):
    out = tmp_path / "sub" / "r.json"
    with atomic_write(out) as fh:
        fh.write("new\n")
    assert out.read_text() == "new\n"
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode
    assert _leftovers(out.parent) == []


def test_a_full_disk_leaves_the_previous_file_and_names_the_cause(tmp_path):
    out = tmp_path / "results.json"
    out.write_text("previous\n")
    with pytest.raises(OutputError, match=r"results\.json: no space left on the device"):
        with atomic_write(out) as fh:
            fh.write("half of the new file")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert out.read_text() == "previous\n"
    assert _leftovers(tmp_path) == []


def test_a_full_disk_at_fsync_leaves_the_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "m.parquet"
    out.write_bytes(b"previous")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OutputError, match="no space left"):
        with atomic_path(out) as tmp:
            assert tmp.parent == out.parent and tmp.suffix == ".parquet"
            pd.DataFrame({"a": [1, 2]}).to_parquet(tmp)
    assert out.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []


def test_an_interrupt_leaves_the_previous_file(tmp_path):
    out = tmp_path / "c.csv"
    out.write_text("previous\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(out) as fh:
            fh.write("x")
            raise KeyboardInterrupt
    assert out.read_text() == "previous\n"
    assert _leftovers(tmp_path) == []


def test_a_name_too_long_is_a_clear_error(tmp_path):
    out = tmp_path / ("r" * 300 + ".json")
    with pytest.raises(OutputError, match="the file name is too long"):
        with atomic_write(out) as fh:
            fh.write("x")
    assert _leftovers(tmp_path) == []


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody can write into, root included (immutable when run as root)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "results.json").write_text("previous\n")
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True).returncode:
            folder.chmod(0o755)
            pytest.skip("running as root on a file system without chattr +i: no read-only folder")
        immutable = True
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_read_only_folder_is_a_clear_error(read_only):
    out = read_only / "results.json"
    with pytest.raises(OutputError, match=r"results\.json: (permission denied|the file system is read-only)"):
        with atomic_write(out) as fh:
            fh.write("new")
    assert out.read_text() == "previous\n"
    assert _leftovers(read_only) == []


class _StubCohort:
    """The cohort a command prints and checks before its analyses, as far as it uses it."""
    final_n = 10

    def flow_text(self) -> str:
        return ""

    def check_cycles(self) -> None:
        pass


def _fake_results(monkeypatch):
    """``nhmg results`` without the analyses: two records, no data check and no cohort."""
    import nhmg_lib.cli as cli
    import nhmg_lib.cohort.flow as flow
    import nhmg_lib.report.results as results

    class Verified:
        mode = "synthetic"

    monkeypatch.setattr(cli, "_preflight", lambda data_dir: Verified())
    monkeypatch.setattr(flow, "cohort_from_dir", lambda *a, **k: _StubCohort())
    monkeypatch.setattr(results, "collect_with_reasons", lambda *a, **k: (
        [{"id": "x/1", "estimate": 1.0, "ci_low": None, "ci_high": None, "p": None, "n": 1}], []))


def test_results_on_a_full_disk_keeps_the_previous_results_json(tmp_path, monkeypatch, capsys):
    _fake_results(monkeypatch)
    out = tmp_path / "results.json"
    out.write_text('[{"id": "previous"}]\n')

    def full(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_fsync", full)
    assert main(["results", "--data-dir", str(tmp_path), "--out", str(out), "--boot", "20"]) == 2
    err = capsys.readouterr().err
    assert f"Cannot write {out}: no space left on the device" in err and "Traceback" not in err
    assert json.loads(out.read_text()) == [{"id": "previous"}]
    assert _leftovers(tmp_path) == []


def test_results_with_a_name_too_long_exits_2(tmp_path, monkeypatch, capsys):
    _fake_results(monkeypatch)
    out = tmp_path / ("r" * 300 + ".json")
    assert main(["results", "--data-dir", str(tmp_path), "--out", str(out), "--boot", "20"]) == 2
    err = capsys.readouterr().err
    assert "bytes long; the file system" in err and "Traceback" not in err


def test_cohort_csv_and_flow_are_kept_together_on_a_full_disk(tmp_path, monkeypatch):
    from nhmg_lib.cohort.flow import build_cohort
    from conftest import raw_frame

    cohort = build_cohort(raw_frame("J", RIDAGEYR=[30, 40], RIDSTATR=2))
    out = tmp_path / "cohort.csv"
    out.write_text("previous csv\n")
    (tmp_path / "flow.json").write_text("previous flow\n")

    def full_on_json(path):  # the CSV is already on disk when the flow cannot be
        if str(path).endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_fsync", full_on_json)
    with pytest.raises(OutputError, match="no space left"):
        cohort.to_csv(out)
    assert out.read_text() == "previous csv\n"
    assert (tmp_path / "flow.json").read_text() == "previous flow\n"
    assert _leftovers(tmp_path) == []


def test_multiverse_on_a_full_disk_keeps_the_previous_table(tmp_path, monkeypatch, capsys):
    import pandas as pd

    import nhmg_lib.cli as cli
    import nhmg_lib.cohort.flow as flow
    import nhmg_lib.data.readers as readers
    from nhmg_lib.analyses import multiverse
    from nhmg_lib.analyses.multiverse.result import write_table

    class Result:  # what multiverse.run returns, as far as the command uses it
        def to_file(self, path):
            return write_table(pd.DataFrame({"estimate": ["or_q4"], "value": [1.0]}), Path(path))

    def full(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "_preflight", lambda data_dir: None)
    monkeypatch.setattr(readers, "load_raw", lambda data_dir: None)
    monkeypatch.setattr(flow, "build_cohort", lambda raw: _StubCohort())
    monkeypatch.setattr(multiverse, "run", lambda *a, **k: Result())
    monkeypatch.setattr(atomic, "_fsync", full)
    out = tmp_path / "m.parquet"
    out.write_bytes(b"previous table")
    assert main(["multiverse", "--data-dir", str(tmp_path), "--out", str(out), "--null", "0"]) == 2
    err = capsys.readouterr().err
    assert f"Cannot write {out}: no space left on the device" in err and "Traceback" not in err
    assert out.read_bytes() == b"previous table"
    assert _leftovers(tmp_path) == []
