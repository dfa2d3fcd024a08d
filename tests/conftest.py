"""Shared fixtures: the real NHANES subset, hand-made raw frames and tiny XPT data directories."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from nhmg_lib.data.catalog import files_for
from nhmg_lib.data.readers import SDDSRVYR, SEQN_RANGE, raw_columns

REPO = Path(__file__).resolve().parents[1]
#: The shared workspace beside the repository (``../shared``); NHMG_SHARED_DIR points elsewhere.
SHARED = Path(os.environ.get("NHMG_SHARED_DIR") or REPO.parent / "shared")
REAL_DATA = SHARED / "data" / "nhanes-public-subset"
REAL_FILES = SHARED / "data" / "nhanes-real"
DERIVED_ALM = SHARED / "data" / "nhanes-derived-alm"


def _shared_folder(path: Path, marker: str, what: str) -> Path:
    """``path`` if it holds ``marker``; else a skip, or a failure under CI=true (CI copies
    the shared folder beside the clone, so its absence there is a broken set-up)."""
    if (path / marker).is_file():
        return path
    message = f"{what} not found at {path} (../shared beside the repository, or NHMG_SHARED_DIR)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_files_dir() -> Path:
    """The real NHANES files (60 of the 78) of ``../shared/data/nhanes-real``."""
    return _shared_folder(REAL_FILES, "DEMO_J.xpt", "real NHANES files (nhanes-real)")


@pytest.fixture(scope="session")
def derived_alm_dir() -> Path:
    """The derived set saying who has a DXA limb measurement (``nhanes-derived-alm``)."""
    return _shared_folder(DERIVED_ALM, "nhanes_clean_2011_2018.csv", "derived DXA set")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The eleven real NHANES files shipped beside the repository, or a skip when absent."""
    if not (REAL_DATA / "DEMO_J.xpt").is_file():
        pytest.skip(f"real NHANES subset not found at {REAL_DATA} (only present in the project workspace)")
    return REAL_DATA


def raw_frame(cycle: str = "J", **columns: object) -> pd.DataFrame:
    """A raw frame (every catalogue column, NaN unless given) with one row per value given.

    Scalars broadcast; ``cycle`` may be a letter or a list of letters.
    """
    n = max([len(v) for v in columns.values() if isinstance(v, (list, tuple, np.ndarray))]
            + ([len(cycle)] if isinstance(cycle, list) else []) + [1])
    cycles = cycle if isinstance(cycle, list) else [cycle] * n
    frame = pd.DataFrame(np.nan, index=range(n), columns=raw_columns()[2:])
    frame.insert(0, "cycle", cycles)
    frame.insert(0, "SEQN", [SEQN_RANGE[c][0] + i for i, c in enumerate(cycles)])
    for name, values in columns.items():
        frame[name] = np.asarray(values, dtype="float64") if not np.isscalar(values) else float(values)
    return frame


@pytest.fixture
def make_raw() -> Callable[..., pd.DataFrame]:
    return raw_frame


def write_xpt_dir(root: Path, cycles: tuple[str, ...] = ("J",), n: int = 6) -> Path:
    """A complete, valid data directory: every catalogue file with ``n`` participants per cycle."""
    root.mkdir(parents=True, exist_ok=True)
    for spec in files_for(cycles):
        lo = SEQN_RANGE[spec.cycle][0]
        df = pd.DataFrame({c: np.arange(1.0, n + 1) for c in spec.columns})
        df["SEQN"] = np.arange(lo, lo + n, dtype="float64")
        if spec.component == "DEMO":
            df["SDDSRVYR"] = float(SDDSRVYR[spec.cycle])
        pyreadstat.write_xport(df, str(root / spec.filename), file_format_version=5,
                               table_name=spec.name[:8])
    return root


@pytest.fixture
def xpt_dir(tmp_path: Path) -> Path:
    return write_xpt_dir(tmp_path / "data")


@pytest.fixture(scope="session")
def book_data_env(tmp_path_factory) -> dict[str, str]:
    """Environment for the book's chapters on small synthetic data (15% of full size), with a
    cache directory shared by every test that runs chapters (the synthetic files and the
    mediation bootstrap are made once per test session)."""
    return {"NHMG_CACHE_DIR": str(tmp_path_factory.mktemp("nhmg-cache")), "NHMG_SYNTH_SCALE": "0.15"}
