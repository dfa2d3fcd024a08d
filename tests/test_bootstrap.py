"""Rao-Wu design bootstrap (``survey.bootstrap.rao_wu_multipliers``) against R ``survey``.

R's ``as.svrepdesign(design, type = "subbootstrap")`` draws, in each stratum of ``n_h`` PSUs,
``n_h - 1`` PSUs with replacement and multiplies the weights of a PSU drawn ``r`` times by
``r n_h / (n_h - 1)`` (``survey:::subbootstratum``); its variance is
``sum((theta_b - mean(theta))^2) / (B - 1)`` (``scale = 1/(B-1)``, ``mse = FALSE``). The two
random streams differ, so the tests compare:

* the exact rescaling rule and the draw distribution on a tiny design with 2, 3 and 4 PSUs
  per stratum (R's multiplier matrix read back, checked with the same rule as ours);
* bootstrap SEs of a weighted mean and a weighted total with ``B = 2000`` on both sides: the
  Monte Carlo relative SD of a bootstrap SE is about ``1/sqrt(2B)`` = 1.6 %, so two
  independent runs differ by about 2.2 % (SD); the tolerance is 8 % (3.6 SD; fixed seeds make
  the run reproducible), while the plausible mistakes (``n_h`` draws instead of ``n_h - 1``,
  or no ``n_h/(n_h - 1)`` factor with mixed ``n_h``) move an SE by more than twice that on
  this design (checked below). ``B`` is bounded by R: ``as.svrepdesign`` draws the replicates
  one ``table()`` per stratum and replicate (about 10 s for 2000 x 12 strata).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nhmg_lib.survey.bootstrap import rao_wu_multipliers
from rhelpers import require_r, run_r

B_SE = 2000
TOL_SE = 0.08


def tiny_design() -> pd.DataFrame:
    """Three strata with 2, 3 and 4 PSUs (labels 1..n_h, nested), 2-3 rows per PSU."""
    rows = []
    for h, n_h in ((1, 2), (2, 3), (3, 4)):
        for j in range(1, n_h + 1):
            for _ in range(2 + (j % 2)):
                rows.append({"str": h, "psu": j})
    d = pd.DataFrame(rows)
    d["w"] = 1.0 + np.arange(len(d)) % 3
    return d


def check_rule(M: np.ndarray, strata: np.ndarray, psu: np.ndarray) -> dict[int, np.ndarray]:
    """Assert the subbootstrap rule on multipliers ``M`` (replicates x rows); return per stratum
    the draw counts ``r`` (replicates x PSUs)."""
    counts = {}
    for h in np.unique(strata):
        labels = np.unique(psu[strata == h])
        n_h = labels.size
        blocks = [M[:, (strata == h) & (psu == j)] for j in labels]
        assert all((b == b[:, :1]).all() for b in blocks)   # constant within a PSU
        r = np.stack([b[:, 0] for b in blocks], axis=1) * (n_h - 1) / n_h
        np.testing.assert_allclose(r, np.round(r), atol=1e-12)  # r n_h/(n_h-1), r integer
        assert (np.round(r).sum(axis=1) == n_h - 1).all()     # n_h - 1 draws
        counts[int(h)] = np.round(r).astype(int)
    return counts


@pytest.mark.r
def test_rescaling_rule_and_draws_match_r_subbootstrap() -> None:
    require_r(("survey", "jsonlite"))
    d = tiny_design()
    script = """
suppressPackageStartupMessages({library(survey); library(jsonlite)})
d <- read.csv("d.csv"); set.seed(7)
des <- svydesign(ids = ~psu, strata = ~str, weights = ~w, nest = TRUE, data = d)
rep <- as.svrepdesign(des, type = "subbootstrap", replicates = 2000, compress = FALSE)
M <- weights(rep, "analysis") / weights(des)
write_json(list(M = unname(t(M)), scale = rep$scale, rscales = unique(rep$rscales),
                type = rep$type), "out.json", digits = NA, auto_unbox = TRUE)
"""
    ref = run_r(script, {"d.csv": d})
    assert ref["type"] == "subbootstrap" and ref["rscales"] == 1
    assert ref["scale"] == pytest.approx(1 / (2000 - 1))
    strata, psu = d["str"].to_numpy(), d["psu"].to_numpy()
    r_counts = check_rule(np.asarray(ref["M"]), strata, psu)
    ours = check_rule(rao_wu_multipliers(strata, psu, 2000, seed=7), strata, psu)
    for h, n_h in ((1, 2), (2, 3), (3, 4)):
        # P(a PSU is never drawn) = ((n_h - 1)/n_h)^(n_h - 1); both within MC error of it
        p0 = ((n_h - 1) / n_h) ** (n_h - 1)
        for c in (r_counts[h], ours[h]):
            assert (c == 0).mean() == pytest.approx(p0, abs=0.03)
        # the same support of per-PSU multipliers
        assert set(np.unique(r_counts[h])) == set(np.unique(ours[h])) == set(range(n_h))


def se_design(seed: int = 3) -> pd.DataFrame:
    """12 strata with 2, 3 or 4 PSUs, unequal PSU sizes and weights, a PSU-level effect."""
    rng = np.random.default_rng(seed)
    parts = []
    for h in range(12):
        n_h = 2 + h % 3
        for j in range(1, n_h + 1):
            m = int(rng.integers(8, 30))
            parts.append(pd.DataFrame({
                "str": h + 1, "psu": j, "w": rng.gamma(2.0, 500.0, m),
                "y": rng.normal(10 + 3 * rng.normal() + 0.2 * h, 4, m)}))
    return pd.concat(parts, ignore_index=True)


def boot_se(M: np.ndarray, w: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    W = M * w
    mean = (W @ y) / W.sum(axis=1)
    total = W @ y
    return float(mean.std(ddof=1)), float(total.std(ddof=1))


@pytest.mark.r
def test_bootstrap_se_matches_r_subbootstrap() -> None:
    require_r(("survey", "jsonlite"))
    d = se_design()
    script = f"""
suppressPackageStartupMessages({{library(survey); library(jsonlite)}})
options(survey.replicates.mse = FALSE)
d <- read.csv("d.csv"); set.seed(11)
des <- svydesign(ids = ~psu, strata = ~str, weights = ~w, nest = TRUE, data = d)
rep <- as.svrepdesign(des, type = "subbootstrap", replicates = {B_SE})
write_json(list(se_mean = unname(SE(svymean(~y, rep)))[1], se_total = unname(SE(svytotal(~y, rep)))[1],
                lin_mean = unname(SE(svymean(~y, des)))[1], lin_total = unname(SE(svytotal(~y, des)))[1]),
           "out.json", digits = NA, auto_unbox = TRUE)
"""
    ref = run_r(script, {"d.csv": d})
    strata, psu = d["str"].to_numpy(), d["psu"].to_numpy()
    w, y = d["w"].to_numpy(), d["y"].to_numpy()
    se_mean, se_total = boot_se(rao_wu_multipliers(strata, psu, B_SE, seed=11), w, y)
    assert se_mean == pytest.approx(ref["se_mean"], rel=TOL_SE)
    assert se_total == pytest.approx(ref["se_total"], rel=TOL_SE)
    # both approximate the linearisation SE (the bootstrap is unbiased for it, to first order)
    assert se_mean == pytest.approx(ref["lin_mean"], rel=0.08)
    assert se_total == pytest.approx(ref["lin_total"], rel=0.08)

    # The tolerance separates the rule from its plausible mistakes on this design.
    rng = np.random.default_rng(11)
    wrong_draws = np.empty((B_SE, len(d)))      # n_h draws, no rescaling (naive PSU bootstrap)
    wrong_scale = np.empty((B_SE, len(d)))      # n_h - 1 draws, no n_h/(n_h - 1) factor
    for h in np.unique(strata):
        rows = np.flatnonzero(strata == h)
        labels, cl = np.unique(psu[rows], return_inverse=True)
        n_h = labels.size
        for out, k in ((wrong_draws, n_h), (wrong_scale, n_h - 1)):
            draws = rng.integers(0, n_h, (B_SE, k))
            r = np.stack([(draws == j).sum(axis=1) for j in range(n_h)], axis=1)
            out[:, rows] = r[:, cl]
    print(f"SE mean: ours {se_mean:.4f}, R {ref['se_mean']:.4f}, linearised {ref['lin_mean']:.4f}; "
          f"SE total: ours {se_total:.1f}, R {ref['se_total']:.1f}, linearised {ref['lin_total']:.1f}")
    for M in (wrong_draws, wrong_scale):
        se_m, se_t = boot_se(M, w, y)
        print(f"wrong rule: SE mean {se_m:.4f}, SE total {se_t:.1f}")
        assert abs(se_t / ref["se_total"] - 1) > 2 * TOL_SE or abs(se_m / ref["se_mean"] - 1) > 2 * TOL_SE


# ------------------------------------------------------------------------ memory estimate
def test_memory_estimate_refuses_with_the_estimate_and_what_fits():
    import pytest

    from nhmg_lib.survey.bootstrap import BootstrapMemoryError, memory_needed, require_memory

    # 24 bytes per resample and row, plus the extra per resample
    assert memory_needed(1000, 500) == 12_000_000
    assert memory_needed(1000, 500, extra_per_resample=1000) == 13_000_000
    require_memory(1000, 500, "x", available=12_000_000)  # fits exactly: no error
    with pytest.raises(BootstrapMemoryError) as caught:
        require_memory(1000, 500, "--boot 1000", available=6_000_000)
    assert str(caught.value) == (
        "--boot 1000: 1,000 resamples of 500 rows need about 11.4 MiB of memory and 5.7 MiB "
        "is available, enough for about 500 resamples. Use fewer resamples.")


def test_memory_estimate_covers_the_measured_peak_of_drawing_the_resamples():
    import tracemalloc

    from nhmg_lib.survey.bootstrap import memory_needed, rao_wu_multipliers, row_counts

    boot, n = 2000, 1500
    strata = np.repeat(np.arange(15), n // 15)
    psu = np.tile([1, 2], n // 2)
    for draw in (lambda: row_counts(n, boot, 1).astype(np.float64),
                 lambda: rao_wu_multipliers(strata, psu, boot, 1)):
        tracemalloc.start()
        draw()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # the estimate holds the peak, and is not a wild overestimate of it
        assert 8 * boot * n <= peak <= memory_needed(boot, n) <= 3 * peak


def test_available_memory_is_known_on_linux():
    from pathlib import Path

    from nhmg_lib.survey.bootstrap import available_memory

    if not Path("/proc/meminfo").is_file():
        return
    avail = available_memory()
    total = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:")).split()[1]) * 1024
    assert avail is not None and 0 < avail <= total
