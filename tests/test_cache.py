"""The bootstrap cache only costs speed when its directory cannot be written."""

from __future__ import annotations

import errno
import tempfile
import warnings

import numpy as np
import pytest

from nhmg_lib.analyses import cache as cache_mod
from nhmg_lib.analyses.cache import cache_load, cache_save


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(cache_mod, "_WARNED", set())


def test_a_writable_directory_stores_and_reads_back(tmp_path):
    path = cache_save("k1", {"a": np.arange(3.0)}, tmp_path / "c")
    assert path == tmp_path / "c" / "k1.npz"
    np.testing.assert_array_equal(cache_load("k1", tmp_path / "c")["a"], [0.0, 1.0, 2.0])


def test_a_file_in_the_way_warns_once_and_caches_nothing(tmp_path, monkeypatch):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    monkeypatch.setenv("NHMG_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(UserWarning, match="not caching bootstrap results: .*afile/cache is not writable"):
        assert cache_save("k1", {"a": np.ones(2)}) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a second save in the same directory is silent
        assert cache_save("k2", {"a": np.ones(2)}) is None
    assert cache_load("k1") is None and blocker.read_text() == "x"


def test_a_read_only_directory_warns_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()

    def read_only(*args, **kwargs):  # what mkstemp raises on a read-only file system
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.warns(UserWarning, match=r"ro is not writable \(the file system is read-only\)"):
        assert cache_save("k", {"a": np.ones(2)}, folder) is None
    assert list(folder.iterdir()) == []


def test_a_full_disk_during_the_write_warns_and_cleans_up(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    with pytest.warns(UserWarning, match="no space left on the device"):
        assert cache_save("k", {"a": np.ones(2)}, tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_mediation_runs_without_a_writable_cache(tmp_path, monkeypatch):
    from rhelpers import make_adults_frame
    from nhmg_lib.analyses import mediation

    df = make_adults_frame(n=600, seed=3, domain_share=1.0)
    rows = df[df["in_cohort"] == 1] if "in_cohort" in df else df
    rows = rows.assign(ln_np=np.log(np.exp(7.8 - 0.2 * (rows["ln_mg"] - 5.7))
                                    * np.random.default_rng(1).lognormal(0, 0.4, len(rows))))
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    monkeypatch.setenv("NHMG_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(UserWarning, match="not caching bootstrap results"):
        first = mediation.mediate_block(rows, mediators=("ln_np",), outcomes={"lmm": "binomial"},
                                        covariates=("age",), boot=20, seed=1)
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path / "ok"))
    again = mediation.mediate_block(rows, mediators=("ln_np",), outcomes={"lmm": "binomial"},
                                    covariates=("age",), boot=20, seed=1)
    key = ("ln_np", "lmm")
    assert not first[key].from_cache
    assert first[key].estimate == pytest.approx(again[key].estimate)   # same numbers, no cache
