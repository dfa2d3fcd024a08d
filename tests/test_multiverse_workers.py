"""``nhmg multiverse`` under hostile input: signals, impossible sizes, bad arguments.

The process tests start the real command in a subprocess on small synthetic data and watch
its worker processes through /proc (Linux only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nhmg_lib import cli
from nhmg_lib.analyses import multiverse as mv
from nhmg_lib.data import readers, synthetic

LINUX = sys.platform.startswith("linux")
#: A small grid, so the fits end fast and the long joint test keeps the workers busy.
SMALL = ["--set", "np_index=product", "--set", "magnesium=diet", "--set", "egfr_equation=ckd_epi_2009",
         "--set", "physical_activity=who_600_met", "--set", "race=ridreth1", "--set", "weight=wtdr2d",
         "--set", "vitamin_d=d3", "--set", "magnesium_energy=none", "--set", "lmm_definition=fnih_bmi", "--set", "lean_mass=bone_free",
         "--set", "covariates=model3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("synthetic-workers")
    synthetic.write_synthetic(d, seed=2, scale=0.1)
    return d


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start(data: Path, tmp_path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "NHMG_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "nhmg_lib.cli", "multiverse", "--data-dir", str(data),
           "--out", str(tmp_path / "m.csv"), "--no-cache", "--workers", "2", *SMALL, *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_workers(proc: subprocess.Popen, timeout: float = 240.0) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        kids = _children(proc.pid)
        if len(kids) >= 2:
            return kids
        if proc.poll() is not None:
            pytest.fail(f"the command ended before its workers started: {proc.stderr.read()}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail("no worker processes appeared")


@pytest.mark.skipif(not LINUX, reason="worker clean-up is tested through /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_die_with_their_parent(data, tmp_path, sig):
    proc = _start(data, tmp_path, "--null", "2000000")
    kids = _wait_for_workers(proc)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    end = time.monotonic() + 5
    while time.monotonic() < end and any(_alive(k) for k in kids):
        time.sleep(0.1)
    survivors = [k for k in kids if _alive(k)]
    for k in survivors:        # leave nothing behind even when the test fails
        os.kill(k, signal.SIGKILL)
    assert survivors == [], f"workers {survivors} outlived their parent ({sig.name})"


@pytest.mark.skipif(not LINUX, reason="worker clean-up is tested through /proc (Linux)")
def test_interrupt_takes_effect_within_seconds(data, tmp_path):
    proc = _start(data, tmp_path, "--null", "2000000")
    kids = _wait_for_workers(proc)
    time.sleep(1.0)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - start < 10 and code == 130
    assert "interrupted" in proc.stderr.read()
    time.sleep(0.5)
    assert not any(_alive(k) for k in kids)


def _run(args: list[str], tmp_path: Path, monkeypatch, capsys) -> tuple[int, str, float]:
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path / "cache"))
    start = time.monotonic()
    code = cli.main(["multiverse", *args])
    return code, capsys.readouterr().err, time.monotonic() - start


@pytest.mark.parametrize("extra, message", [
    (["--seed", "-1"], "--seed -1"),
    (["--null", "-5"], "--null -5"),
    (["--mediation-boot", "0"], "--mediation-boot 0"),
    (["--workers", "0"], "--workers 0"),
    (["--scheduler", "not an address"], "not a scheduler address"),
    (["--scheduler", "tcp://127.0.0.1:1"], "no scheduler answers"),
])
def test_bad_arguments_fail_before_anything_is_written(data, tmp_path, monkeypatch, capsys, extra, message):
    out = tmp_path / "m.csv"
    code, err, seconds = _run(["--data-dir", str(data), "--out", str(out), *SMALL, *extra],
                              tmp_path, monkeypatch, capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists() and seconds < 15


def test_impossible_bootstrap_is_refused_with_its_size(data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "m.csv"
    code, err, seconds = _run(["--data-dir", str(data), "--out", str(out), *SMALL,
                               "--mediation-boot", "100000000", "--workers", "1"],
                              tmp_path, monkeypatch, capsys)
    assert code == 2 and "GiB" in err and "--mediation-boot 100000000" in err
    assert not out.exists()


def test_memory_estimate_by_hand(monkeypatch):
    from nhmg_lib.analyses.multiverse import result

    monkeypatch.setattr(result, "_available_memory", lambda: 2**30)
    result.check_memory(1000, 1000, 2)                      # 56 MB: fine
    with pytest.raises(mv.MultiverseError, match=r"about 5\.2 GiB"):
        result.check_memory(20_000, 10_000, 1)              # 28 B x 2e8 cells = 5.2 GiB


def test_impossible_null_is_refused_before_drawing(data, monkeypatch):
    import importlib

    module = importlib.import_module("nhmg_lib.analyses.multiverse.joint_test")
    raw = readers.load_raw(data, cache=False)
    res = mv.run(raw, mv.parse_settings([s for s in SMALL if s != "--set"]), workers=1, cache=False,
                 estimates=["or_lnmg"])
    monkeypatch.setattr(module, "_available_memory", lambda: 2**20)   # 1 MiB; 4.6 MiB needed
    with pytest.raises(mv.MultiverseError, match=r"--null 100000 needs about"):
        mv.joint_test(res, {"or_lnmg": -1}, 100_000, workers=1, cache=False)


def test_stratum_with_one_psu_is_a_clear_error(data):
    raw = readers.load_raw(data, cache=False)
    strata = raw["SDMVSTRA"].to_numpy()
    first = strata[np.isfinite(strata)][0]
    raw.loc[raw["SDMVSTRA"] == first, "SDMVPSU"] = 1.0
    with pytest.raises(mv.MultiverseError, match="single PSU"):
        mv.run(raw, mv.parse_settings([s for s in SMALL if s != "--set"]), workers=1, cache=False)
