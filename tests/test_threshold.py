"""Threshold effect analysis (Table S3) against R ``svyglm`` + ``regTermTest``.

The LMM outcome is regenerated with a true breakpoint (flat below ln-Mg 5.75, falling above)
so the grid search has something to find. One Rscript run (tests/r/splines_threshold_ref.R)
refits the two-piece model at every candidate and reports the deviance profile and the
slopes, CIs and hinge test at the best candidate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.cohort.definitions import MODEL3_COVARIATES
from nhmg_lib.analyses import models
from nhmg_lib.analyses.threshold import (
    NO_BREAKPOINT, ThresholdBootstrap, ThresholdError, candidate_grid, davies_r_default, davies_test,
    find_threshold, records, threshold_bootstrap,
)
from nhmg_lib.survey.bootstrap import rao_wu_multipliers
from nhmg_lib.survey.glm import build_model_matrix
from rhelpers import make_adults_frame, require_r, run_r

SCRIPT = Path(__file__).parent / "r" / "splines_threshold_ref.R"
REL = 1e-6
CANDIDATES = np.round(np.arange(5.40, 6.06, 0.03), 2)
K_SMI = 5.6


def hinge_frame(seed: int = 5) -> pd.DataFrame:
    """Adults frame whose LMM risk is flat below ln-Mg 5.75 and falls steeply above it."""
    f = make_adults_frame(n=4000, n_strata=40, seed=seed, domain_share=0.6)
    rng = np.random.default_rng(seed + 100)
    lin = -1.3 - 2.5 * np.maximum(f["ln_mg"] - 5.75, 0) + 0.02 * (f["age"] - 40)
    f["lmm"] = (rng.random(len(f)) < 1 / (1 + np.exp(-lin))).astype(int)
    return f


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return hinge_frame()


@pytest.fixture(scope="module")
def r_ref(frame: pd.DataFrame) -> dict:
    require_r(("survey", "jsonlite"))
    params = {"candidates": CANDIDATES.tolist(), "covariates": list(MODEL3_COVARIATES), "k_smi": K_SMI}
    return run_r(SCRIPT.read_text(), {"adults.csv": frame, "params.json": params})


@pytest.mark.r
def test_grid_search_and_two_piece_match_r(frame: pd.DataFrame, r_ref: dict) -> None:
    res = find_threshold(frame, candidates=CANDIDATES)
    np.testing.assert_allclose(res.profile["deviance"], r_ref["deviance"], rtol=1e-9)
    np.testing.assert_allclose(res.profile["p_threshold"], r_ref["inversion_p"], rtol=1e-6, atol=1e-12)
    assert res.breakpoint == pytest.approx(r_ref["best"])
    ref = r_ref["lmm"]
    assert res.two_piece.df_resid == ref["df_resid"]
    for lc, key in ((res.below, "below"), (res.above, "above")):
        np.testing.assert_allclose([lc.estimate, lc.ci_low, lc.ci_high], ref[key], rtol=REL)
    assert res.above.p == pytest.approx(ref["p_above"], rel=REL)
    assert res.hinge.p == pytest.approx(ref["p_hinge"], rel=REL)
    assert res.hinge.F == pytest.approx(ref["F_hinge"], rel=REL)
    assert res.lr == pytest.approx(ref["dev_one"] - ref["dev_two"], rel=1e-8)
    assert res.slope.estimate == pytest.approx(ref["slope"], rel=REL)
    # the reported scale is the odds ratio
    t = res.table().set_index("row")
    assert t.loc["above", "estimate"] == pytest.approx(np.exp(ref["above"][0]), rel=REL)


@pytest.mark.r
def test_gaussian_two_piece_matches_r(frame: pd.DataFrame, r_ref: dict) -> None:
    res = find_threshold(frame, "ln_smi", candidates=[K_SMI])
    ref = r_ref["smi"]
    np.testing.assert_allclose([res.above.estimate, res.above.ci_low, res.above.ci_high], ref["above"], rtol=REL)
    assert res.hinge.p == pytest.approx(ref["p_hinge"], rel=REL)
    n = res.two_piece.n
    assert res.lr == pytest.approx(n * np.log(ref["dev_one"] / ref["dev_two"]), rel=1e-8)


def test_default_grid_finds_the_true_breakpoint_and_records(frame: pd.DataFrame) -> None:
    res = find_threshold(frame)
    x = frame.loc[frame["in_cohort"] == 1, "ln_mg"]
    lo, hi = np.quantile(x, [0.05, 0.95])
    assert res.profile["breakpoint"].min() >= lo and res.profile["breakpoint"].max() <= hi
    assert np.allclose(np.diff(res.profile["breakpoint"]), 0.01)
    assert abs(res.breakpoint - 5.75) < 0.25
    assert np.exp(res.above.estimate) < 1
    ids = [r["id"] for r in res.records()]
    assert ids[:3] == ["tableS3/lmm/inflection", "tableS3/lmm/below", "tableS3/lmm/above"]
    assert "tableS3/lmm/p_lr" in ids
    assert "Inflection point" in res.summary()


def test_candidate_grid_errors() -> None:
    assert candidate_grid(np.linspace(5.0, 6.0, 101)).tolist()[:2] == [5.05, 5.06]
    with pytest.raises(ThresholdError, match="no exposure"):
        candidate_grid(np.array([np.nan]))


# ----------------------------------------------------------------------------- honest uncertainty
SEG_SCRIPT = Path(__file__).parent / "r" / "threshold_segmented.R"
DAVIES_VALUES = [5.4, 5.5, 5.6, 5.7, 5.8, 5.9, 6.0]
BOOT_GRID = np.round(np.arange(5.40, 6.11, 0.05), 2)


@pytest.fixture(scope="module")
def seg_ref(frame: pd.DataFrame) -> dict:
    require_r(("segmented", "jsonlite"))
    params = {"covariates": list(MODEL3_COVARIATES), "values": DAVIES_VALUES}
    return run_r(SEG_SCRIPT.read_text(), {"adults.csv": frame, "params.json": params})


@pytest.mark.r
def test_breakpoint_matches_segmented_within_the_grid(frame: pd.DataFrame, seg_ref: dict) -> None:
    """Muggeo's segmented estimates the breakpoint of the same design-weighted logistic Model 3
    continuously; the grid search must land on a grid point next to it."""
    res = find_threshold(frame)
    assert res.n == seg_ref["n"]
    assert abs(res.breakpoint - seg_ref["psi"]) <= 0.01 + 1e-9
    # and the two slopes agree to the precision the breakpoint difference allows
    np.testing.assert_allclose([res.below.estimate, res.above.estimate], seg_ref["slopes"], atol=0.15)


@pytest.mark.r
def test_davies_bound_matches_segmented(seg_ref: dict) -> None:
    z, pts = np.array(seg_ref["davies_z"]), np.array(seg_ref["davies_points"])
    d = davies_test(z, pts)
    assert d.p == pytest.approx(seg_ref["davies_p"], rel=1e-12)
    assert d.best == seg_ref["davies_best"] and d.n_points == len(DAVIES_VALUES)


@pytest.mark.r
def test_davies_r_default_matches_segmented(frame: pd.DataFrame, seg_ref: dict) -> None:
    """R's default davies.test (type "lrt", k = 10) on the weighted quasibinomial glm (as
    reported) and on the unweighted binomial glm."""
    res = find_threshold(frame, candidates=[5.6, 5.7], inversion=False)
    d = res.davies_lrt
    assert d.n_points == len(seg_ref["lrt_points"]) == 10
    assert d.p == pytest.approx(seg_ref["lrt_p"], rel=1e-6)
    assert d.best == pytest.approx(seg_ref["lrt_points"][int(np.argmax(np.abs(seg_ref["lrt_z"])))])
    dom = (frame["in_cohort"] == 1) & frame[["lmm", "ln_mg", *MODEL3_COVARIATES]].notna().all(axis=1)
    mm = build_model_matrix(frame.loc[dom, list(MODEL3_COVARIATES)].reset_index(drop=True),
                                   list(MODEL3_COVARIATES))
    plain = davies_r_default(frame.loc[dom, "ln_mg"].to_numpy(), frame.loc[dom, "lmm"].to_numpy(float),
                             None, mm.X[:, 1:], True)
    assert plain.p == pytest.approx(seg_ref["lrt_p_unweighted"], rel=1e-6)
    assert abs(plain.statistic) == pytest.approx(np.max(np.abs(seg_ref["lrt_z_unweighted"])), rel=1e-6)


def test_davies_bound_by_hand() -> None:
    """z = 0, 3, 0: M = 3, V = 6, P = 2 (Phi(-3) + 6 exp(-4.5) / sqrt(8 pi)); capped at 1."""
    from scipy import stats

    d = davies_test(np.array([0.0, 3.0, np.nan, 0.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert d.statistic == 3.0 and d.variation == 6.0 and d.best == 2.0 and d.n_points == 3
    assert d.p == pytest.approx(2 * (stats.norm.sf(3) + 6 * np.exp(-4.5) / np.sqrt(8 * np.pi)))
    assert davies_test(np.array([0.1, -0.1, 0.1]), np.arange(3.0)).p == 1.0
    with pytest.raises(ThresholdError, match="two or more"):
        davies_test(np.array([1.0]), np.array([1.0]))


@pytest.fixture(scope="module")
def th_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("thcache"))


@pytest.fixture(scope="module")
def boot(frame: pd.DataFrame, th_cache: str) -> ThresholdBootstrap:
    return threshold_bootstrap(frame, candidates=BOOT_GRID, boot=60, seed=4, cache_dir=th_cache)


def test_bootstrap_equals_refitting_each_resample(frame: pd.DataFrame, boot: ThresholdBootstrap) -> None:
    """Resample b is the design-based grid search with weights w x f[b] (f: Rao-Wu multipliers
    per PSU of the whole design): refit it with svyglm and compare breakpoint and slopes."""
    design = models.design_for(frame)
    mult = rao_wu_multipliers(design.psu_stratum, np.arange(design.n_psu), 60, 4)[:, design.psu]
    checked = 0
    for b in np.flatnonzero(~np.isnan(boot.hinge).any(axis=0))[:3]:
        refit = find_threshold(frame.assign(weight=frame["weight"] * mult[b]), candidates=BOOT_GRID,
                               inversion=False)
        assert boot.breakpoints[b] == refit.breakpoint
        assert boot.below[b] == pytest.approx(refit.below.estimate, rel=1e-6, abs=1e-8)
        assert boot.above[b] == pytest.approx(refit.above.estimate, rel=1e-6, abs=1e-8)
        k = int(np.flatnonzero(BOOT_GRID == 5.6)[0])
        assert boot.hinge[k, b] == pytest.approx(
            find_threshold(frame.assign(weight=frame["weight"] * mult[b]), candidates=[5.6],
                           inversion=False).profile["hinge"][0],
            rel=1e-6)
        checked += 1
    assert checked == 3


def test_resamples_split_over_processes_give_the_same_bootstrap(frame: pd.DataFrame,
                                                                boot: ThresholdBootstrap,
                                                                monkeypatch) -> None:
    """Resamples are fitted in fixed pieces, spread over processes: one process and two give
    the same numbers to the last bit."""
    from nhmg_lib.analyses import threshold

    monkeypatch.setattr(threshold, "PIECE", 25)                # 60 resamples: 3 pieces
    one = threshold_bootstrap(frame, candidates=BOOT_GRID, boot=60, seed=4, cache=False, workers=1)
    two = threshold_bootstrap(frame, candidates=BOOT_GRID, boot=60, seed=4, cache=False, workers=2, progress=False)
    assert not two.from_cache and one.n_ok == two.n_ok
    for a, b in ((one.breakpoints, two.breakpoints), (one.above, two.above), (one.hinge, two.hinge)):
        np.testing.assert_array_equal(a, b)
    # and the pieces are the one-piece fit up to the path's convergence tolerance
    np.testing.assert_array_equal(two.breakpoints, boot.breakpoints)
    np.testing.assert_allclose(two.hinge, boot.hinge, rtol=1e-6, atol=1e-9)
    with pytest.raises(ThresholdError, match="workers"):
        threshold_bootstrap(frame, candidates=BOOT_GRID, boot=60, seed=4, cache=False, workers=0)


def test_bootstrap_summaries_records_and_cache(frame: pd.DataFrame, boot: ThresholdBootstrap,
                                               th_cache: str) -> None:
    ok = ~boot.failed
    assert boot.n_failed <= 6 and boot.n_ok + boot.n_failed == 60
    assert set(boot.breakpoints[ok]) <= set(BOOT_GRID)
    lo, hi = boot.breakpoint_ci
    assert lo == pytest.approx(np.quantile(boot.breakpoints[ok], 0.025))
    assert lo <= boot.result.breakpoint <= hi and hi - lo < 1.0
    # the slope above falls: its bootstrap interval is below 0 (log-odds) and carries K's noise
    assert boot.above_ci[1] < 0
    t, p = boot.sup_t
    se = np.nanstd(boot.hinge[:, ok], axis=1, ddof=1)
    assert t == pytest.approx(np.max(np.abs(boot.result.profile["hinge"]) / se))
    assert boot.n_dropped_fits == int(np.isnan(boot.hinge[:, ok]).sum())
    assert 1 / 61 <= p <= 1 and p < 0.2       # a real change in slope on these data
    ids = [r["id"] for r in boot.records()]
    assert ids == ["tableS3/lmm/breakpoint_ci", "tableS3/lmm/below_boot", "tableS3/lmm/above_boot",
                   "tableS3/lmm/p_sup_boot", "tableS3/lmm/p_davies",
                   "tableS3/lmm/breakpoint_ci_inversion", "tableS3/lmm/p_davies_lrt_r"]
    assert all(set(r) == {"id", "estimate", "ci_low", "ci_high", "p", "n"} for r in boot.records())
    rec = boot.records()[2]
    assert rec["ci_high"] == pytest.approx(np.exp(boot.above_ci[1])) and rec["estimate"] < 1
    assert "sup-t" in boot.summary() and len(boot.formatted()) == 8
    again = threshold_bootstrap(frame, candidates=BOOT_GRID, boot=60, seed=4, result=boot.result,
                                cache_dir=th_cache)
    assert again.from_cache and not boot.from_cache
    np.testing.assert_array_equal(again.breakpoints, boot.breakpoints)
    np.testing.assert_array_equal(again.hinge, boot.hinge)


def test_module_records_include_the_bootstrap(frame: pd.DataFrame, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NHMG_CACHE_DIR", str(tmp_path))
    ids = [r["id"] for r in records(frame, boot=20, seed=2)]
    assert ids[:3] == ["tableS3/lmm/inflection", "tableS3/lmm/below", "tableS3/lmm/above"]
    assert {"tableS3/lmm/breakpoint_ci", "tableS3/lmm/p_sup_boot", "tableS3/lmm/p_davies"} <= set(ids)
    assert len(ids) == len(set(ids))


def test_search_aware_tests_do_not_find_a_bend_in_a_straight_line(tmp_path) -> None:
    """LMM log-odds linear in ln-Mg (no breakpoint): the grid search still picks some K, but
    the search-aware tests do not call it a change in slope (fixed seeds: deterministic)."""
    f = make_adults_frame(n=4000, n_strata=40, seed=9, domain_share=0.6)
    res = find_threshold(f, candidates=BOOT_GRID)
    bt = threshold_bootstrap(f, candidates=BOOT_GRID, boot=100, seed=3, result=res,
                             cache_dir=str(tmp_path))
    assert bt.sup_t[1] > 0.05 and res.davies.p > 0.05
    lo, hi = bt.breakpoint_ci
    assert hi - lo > 0.3          # with no bend, the data do not pin K down
    # ... so no breakpoint interval is shown, and the reason is given
    recs = {r["id"]: r for r in bt.records()}
    for key in ("breakpoint_ci", "breakpoint_ci_inversion"):
        assert all(recs[f"tableS3/lmm/{key}"][f] is None for f in ("estimate", "ci_low", "ci_high"))
    assert not bt.has_breakpoint and bt.shown_intervals() == {"bootstrap": None, "inversion": None}
    t = bt.table().set_index("row")
    assert t.loc["breakpoint", "note"] == t.loc["inversion", "note"] == NO_BREAKPOINT
    assert bt.formatted().iloc[0, 0] == f"not shown [{NO_BREAKPOINT}]"
    # the inversion set itself spans most of the grid: K is not identified without a kink
    inv = res.inversion_ci()
    assert inv is not None and inv[1] - inv[0] >= 0.5
    # ... and Figure 2 draws no inflection point, saying why on the LMM panel
    assert _figure2_marks(f, bt) == ([], [])


def test_gaussian_bootstrap_equals_refitting(frame: pd.DataFrame, tmp_path) -> None:
    """ln SMI (linear model): resample 0 of the batched path equals the svyglm grid search."""
    bt = threshold_bootstrap(frame, "ln_smi", candidates=BOOT_GRID, boot=5, seed=2,
                             cache_dir=str(tmp_path))
    design = models.design_for(frame)
    mult = rao_wu_multipliers(design.psu_stratum, np.arange(design.n_psu), 5, 2)[:, design.psu]
    refit = find_threshold(frame.assign(weight=frame["weight"] * mult[0]), "ln_smi", candidates=BOOT_GRID,
                           inversion=False)
    assert bt.n_failed == 0 and bt.breakpoints[0] == refit.breakpoint
    assert bt.above[0] == pytest.approx(refit.above.estimate, rel=1e-8, abs=1e-10)


def test_breakpoint_intervals_shown_and_covering_a_planted_kink() -> None:
    """A steep planted kink at ln-Mg 5.75: the sup-t test rejects, both intervals are shown
    and hold 5.75, and the records carry them (coverage over many replicates:
    benchmarks/bench_threshold_coverage.py)."""
    f = make_adults_frame(n=4000, n_strata=40, seed=5, domain_share=0.6)
    rng = np.random.default_rng(105)
    lin = -1.3 - 5.0 * np.maximum(f["ln_mg"] - 5.75, 0) + 0.02 * (f["age"] - 40)
    f["lmm"] = (rng.random(len(f)) < 1 / (1 + np.exp(-lin))).astype(int)
    res = find_threshold(f, candidates=BOOT_GRID)
    bt = threshold_bootstrap(f, candidates=BOOT_GRID, boot=100, seed=3, result=res, cache=False)
    assert bt.has_breakpoint and bt.sup_t[1] < 0.05
    shown = bt.shown_intervals()
    for key in ("bootstrap", "inversion"):
        lo, hi = shown[key]
        assert lo <= 5.75 <= hi and hi - lo < 0.6, key
    assert shown["inversion"] == res.inversion_ci()
    # the inversion set: candidates whose P of H0 "threshold = K" is >= 0.05, K_hat among them
    inside = res.profile.loc[res.profile["p_threshold"] >= 0.05, "breakpoint"]
    assert res.breakpoint in set(inside) and shown["inversion"] == (inside.min(), inside.max())
    recs = {r["id"]: r for r in bt.records()}
    inv = recs["tableS3/lmm/breakpoint_ci_inversion"]
    assert (inv["estimate"], inv["ci_low"], inv["ci_high"]) == (res.breakpoint, *shown["inversion"])
    assert recs["tableS3/lmm/breakpoint_ci"]["ci_low"] == shown["bootstrap"][0]
    assert recs["tableS3/lmm/p_davies_lrt_r"]["p"] == res.davies_lrt.p < 0.05
    assert res.at_grid_end((BOOT_GRID[0], 5.8)) == "lower" and res.at_grid_end(shown["inversion"]) == ""
    # a grid end reached by an interval is flagged in the table
    low, high = bt.grid_end_shares
    assert 0 <= low <= 1 and 0 <= high <= 1
    # Figure 2 marks the located breakpoint on the LMM panel, in both drawings
    assert _figure2_marks(f, bt) == ([res.breakpoint], [res.breakpoint])


def _figure2_marks(f: pd.DataFrame, bt: ThresholdBootstrap) -> tuple[list[float], list[float]]:
    """The red inflection-point lines of Figure 2 (plotly, matplotlib); with none, the LMM
    panel's note says that no inflection point is located, with the sup-t P."""
    from nhmg_lib.analyses.splines import dose_response
    from nhmg_lib.report.figures import fmt_p
    from nhmg_lib.report.spline_curves import spline_figure

    fig = spline_figure(dose_response(f), bt)
    red = "#b03a2e"
    web = [s.x0 for s in fig.plotly.layout.shapes if s.line.color == red]
    pdf = [float(ln.get_xdata()[0]) for ax in fig.mpl.axes for ln in ax.get_lines()
           if ln.get_color() == red]
    notes = [a.text for a in fig.plotly.layout.annotations if "P overall" in (a.text or "")]
    texts = [t.get_text() for t in fig.mpl.axes[0].texts]
    said = f"no inflection point: sup-t P {fmt_p(bt.sup_t[1])}"
    assert (said in notes[0] and any(said in t for t in texts)) == (not web)
    assert not any("no inflection" in n for n in notes[1:])
    return web, pdf


# ---------------------------------------------------------------------- stopping the workers
_RUN_BOOTSTRAP = """
import sys
sys.path.insert(0, {tests!r})
import numpy as np
from test_threshold import hinge_frame
from nhmg_lib.analyses.threshold import threshold_bootstrap
import signal
from nhmg_lib.cli import _terminate
signal.signal(signal.SIGTERM, _terminate)  # as under `nhmg`: forked workers inherit it
frame = hinge_frame()
print("started", flush=True)
try:
    threshold_bootstrap(frame, candidates=np.round(np.arange(5.55, 5.95, 0.08), 2), boot=3000,
                        seed=4, cache=False, workers=2, progress=False)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_bootstrap(tmp_path: Path):
    """A process running a 2-worker threshold bootstrap (24 pieces of 125 resamples), and
    its two workers once both are computing."""
    import os
    import subprocess
    import sys
    import time

    script = tmp_path / "run.py"
    script.write_text(_RUN_BOOTSTRAP.format(tests=str(Path(__file__).parent)))
    # one BLAS thread per process, as `nhmg` sets it: the pieces then run at their usual speed
    # (3000 resamples keep both workers busy for many seconds) whatever the test session set
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
    assert proc.stdout.readline().strip() == "started"
    until = time.monotonic() + 30
    while len(_children(proc.pid)) < 2 and time.monotonic() < until:
        time.sleep(0.1)
    workers = _children(proc.pid)
    assert len(workers) == 2, "the bootstrap did not start its two workers"
    time.sleep(0.5)  # both are inside their piece now
    return proc, workers


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_workers_die_with_a_killed_parent(tmp_path, how):
    import os
    import signal
    import time

    proc, workers = _start_bootstrap(tmp_path)
    os.kill(proc.pid, getattr(signal, how))
    proc.wait(10)
    until = time.monotonic() + 5
    while any(map(_alive, workers)) and time.monotonic() < until:
        time.sleep(0.1)
    survivors = [w for w in workers if _alive(w)]
    for w in survivors:  # do not leave them behind even when the test fails
        os.kill(w, signal.SIGKILL)
    assert survivors == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("target", ["group", "parent"])
def test_ctrl_c_stops_the_bootstrap_within_seconds_without_worker_tracebacks(tmp_path, target):
    import os
    import signal
    import time

    proc, workers = _start_bootstrap(tmp_path)
    start = time.monotonic()
    if target == "group":  # Ctrl-C at a terminal: the whole process group
        os.killpg(proc.pid, signal.SIGINT)
    else:  # a notebook's interrupt, `kill -INT`: the parent alone
        os.kill(proc.pid, signal.SIGINT)
    try:
        proc.wait(5)
    finally:
        for w in (w for w in workers if _alive(w)):
            os.kill(w, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    elapsed = time.monotonic() - start
    err = proc.stderr.read()
    assert proc.returncode == 130 and elapsed < 5, err
    assert err.strip() == "interrupted", err
    assert not any(map(_alive, workers))


def test_a_bootstrap_that_cannot_fit_in_memory_is_refused_before_allocating(frame, monkeypatch):
    from nhmg_lib.survey import bootstrap

    res = find_threshold(frame, candidates=CANDIDATES)
    n = res.n
    monkeypatch.setattr(bootstrap, "available_memory", lambda: 100 * 2**20)  # 100 MiB
    drawn = []
    monkeypatch.setattr(bootstrap, "rao_wu_multipliers", lambda *a: drawn.append(a))
    # per resample: 24 bytes a row, 8 a PSU, 16 per candidate and coefficient (+2)
    p = res.two_piece.params.size - 1  # X without the hinge column
    per = 24 * n + 8 * 80 + 16 * CANDIDATES.size * (p + 2)
    with pytest.raises(bootstrap.BootstrapMemoryError) as caught:
        threshold_bootstrap(frame, candidates=CANDIDATES, boot=10_000, result=res, cache=False)
    assert f"the threshold bootstrap: 10,000 resamples of {n:,} rows need about " \
           f"{10_000 * per / 2**20:,.1f} MiB" in str(caught.value)
    assert f"enough for about {100 * 2**20 // per:,} resamples" in str(caught.value)
    assert drawn == []


def test_progress_shows_the_time_left_on_a_terminal_only(monkeypatch, capsys):
    import re
    import time

    from nhmg_lib.analyses import workers

    monkeypatch.delenv("NHMG_BOOK_BUILD", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert workers.show_progress()
    monkeypatch.setenv("NHMG_BOOK_BUILD", "1")  # never inside the book's pages
    assert not workers.show_progress()
    assert workers.progress_bar(10, "x", "resample").disable
    monkeypatch.delenv("NHMG_BOOK_BUILD")
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)  # a log file
    assert not workers.show_progress()
    with workers.progress_bar(4, "threshold bootstrap", "resample", progress=True) as bar:
        for _ in range(4):
            time.sleep(0.35)  # the bar appears after 1 s
            bar.update(1)
    err = capsys.readouterr().err
    # e.g. "threshold bootstrap:  75%|███  | 3/4 [00:01<00:00,  2.86resample/s]"
    assert "threshold bootstrap" in err
    assert re.search(r"3/4 \[00:0\d<00:0\d", err), err  # elapsed < time left
