"""Data-mode resolution (SPEC section 3) with download and generator replaced: no network."""

from __future__ import annotations

import hashlib

import os
import time
from pathlib import Path

import pytest

from nhmg_lib.data import datamode, sources, synthetic
from nhmg_lib.data.catalog import files_for
from nhmg_lib.data.datamode import DataContext, DataModeError, resolve_data
from nhmg_lib.errors import DownloadError


def _fill(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for spec in files_for():
        (directory / spec.filename).write_bytes(b"x" * 80)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated directories, no inherited data settings, and fakes that record their calls."""
    for var in ("NHMG_DATA", "NHMG_DATA_MODE", "NHMG_DATA_DIR", "NHMG_SYNTH_SCALE",
                "NHMG_SYNTH_SEED", "NHMG_BASE_URL", "NHMG_CONNECT_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    real = tmp_path / "real"
    monkeypatch.setenv("NHMG_DATA_DIR", str(real))
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path / "cache"))
    calls = {"download": [], "synth": []}

    def fake_write(out_dir, seed=1, scale=1.0):
        calls["synth"].append((Path(out_dir), seed, scale))
        _fill(Path(out_dir))
        sha = hashlib.sha256(b"x" * 80).hexdigest()  # the generator's record of its files
        (Path(out_dir) / synthetic.MARKER).write_text(
            f"seed: {seed}\n" + "".join(f"file sha256: {sha} {s.filename}\n" for s in files_for()))
        return []

    monkeypatch.setattr(synthetic, "write_synthetic", fake_write)
    monkeypatch.setattr(datamode, "_reachable", lambda url, timeout: None)  # never touch sockets
    monkeypatch.setattr(datamode, "_stderr", lambda msg: None)
    return {"real": real, "cache": tmp_path / "cache", "calls": calls, "mp": monkeypatch}


def _download_fails(env):
    def fake(cycles=(), data_dir=None, base_url=None, *, timeout=(5.0, 60.0), **kw):
        env["calls"]["download"].append({"data_dir": data_dir, "timeout": timeout})
        raise DownloadError("could not connect to wwwn.cdc.gov")
    env["mp"].setattr(sources, "download", fake)


def _download_succeeds(env):
    def fake(cycles=(), data_dir=None, base_url=None, *, timeout=(5.0, 60.0), **kw):
        kwargs = {"data_dir": data_dir, "timeout": timeout}
        env["calls"]["download"].append(kwargs)
        _fill(Path(kwargs["data_dir"]))
    env["mp"].setattr(sources, "download", fake)


def test_auto_uses_complete_real_files_without_downloading(env):
    _fill(env["real"])
    _download_fails(env)
    ctx = resolve_data()
    assert ctx.mode == "real" and ctx.data_dir == env["real"]
    assert env["calls"]["download"] == [] and env["calls"]["synth"] == []
    assert ctx.manifest_hash and ctx.synthetic_seed is None


def test_auto_downloads_missing_files_with_short_connect_timeout(env):
    _download_succeeds(env)
    ctx = resolve_data("auto", connect_timeout=2.5)
    assert ctx.mode == "real"
    (call,) = env["calls"]["download"]
    assert call["timeout"][0] == 2.5
    assert env["calls"]["synth"] == []


def test_auto_falls_back_to_synthetic_and_says_why(env):
    _download_fails(env)
    messages = []
    ctx = resolve_data(log=messages.append)
    assert ctx.mode == "synthetic" and ctx.synthetic
    assert ctx.synthetic_seed == 1
    assert ctx.data_dir == env["cache"] / "synthetic-seed1"
    assert "could not connect" in ctx.reason
    text = "\n".join(messages)
    assert "SYNTHETIC" in text and "nhmg download" in text


def test_offline_decides_without_calling_download(env):
    _download_fails(env)
    env["mp"].setattr(datamode, "_reachable", lambda url, timeout: "cannot connect (offline)")
    start = time.perf_counter()
    ctx = resolve_data()
    assert time.perf_counter() - start < 5
    assert ctx.synthetic and "offline" in ctx.reason
    assert env["calls"]["download"] == []


def test_synthetic_generated_once_then_reused(env):
    a = resolve_data("synthetic")
    b = resolve_data("synthetic")
    assert a.data_dir == b.data_dir
    assert len(env["calls"]["synth"]) == 1
    assert a.manifest_hash == b.manifest_hash


def test_synthetic_regenerated_when_generator_changes(env):
    resolve_data("synthetic")
    env["mp"].setattr(datamode, "generator_hash", lambda: "something-else")
    resolve_data("synthetic")
    assert len(env["calls"]["synth"]) == 2


def test_scale_and_seed_from_environment(env):
    env["mp"].setenv("NHMG_SYNTH_SCALE", "0.1")
    env["mp"].setenv("NHMG_SYNTH_SEED", "7")
    ctx = resolve_data("synthetic")
    assert ctx.synthetic_seed == 7 and ctx.synthetic_scale == 0.1
    assert ctx.data_dir.name == "synthetic-seed7-scale0.1"
    assert env["calls"]["synth"][0][1:] == (7, 0.1)


def test_real_never_falls_back(env):
    _download_fails(env)
    with pytest.raises(DataModeError) as err:
        resolve_data("real")
    msg = str(err.value)
    assert "DEMO_G.xpt" in msg and "nhmg download" in msg
    assert env["calls"]["synth"] == []


def test_real_rejects_a_synthetic_directory(env):
    synthetic.write_synthetic(env["real"])  # the fake: every file, and the generator's record
    with pytest.raises(DataModeError, match="synthetic"):
        resolve_data("real")


def test_a_stray_synthetic_label_does_not_make_real_files_synthetic(env):
    _fill(env["real"])
    (env["real"] / synthetic.MARKER).write_text("seed: 1\n")  # a label, no generated files
    ctx = resolve_data("real")
    assert ctx.mode == "real" and ctx.data_dir == env["real"]


def test_environment_mode_and_bad_mode(env):
    env["mp"].setenv("NHMG_DATA", "synthetic")
    assert resolve_data().synthetic
    with pytest.raises(DataModeError, match="not one of"):
        resolve_data("fake")


def test_context_round_trips_through_environment(env):
    ctx = resolve_data("synthetic")
    back = DataContext.from_env(ctx.to_env())
    assert back == ctx
    assert DataContext.from_env({}) is None
    assert DataContext.from_env({"NHMG_DATA_DIR": "/x"}) is None  # a plain data dir is not a context


def test_reachable_reports_refused_connection():
    # A closed local port: refused at once, no network involved.
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env_proxy = {k: os.environ.pop(k) for k in list(os.environ) if k.lower().endswith("_proxy")}
    try:
        why = datamode._reachable(f"http://127.0.0.1:{port}/x", 1.0)
    finally:
        os.environ.update(env_proxy)
    assert why and "cannot connect" in why
