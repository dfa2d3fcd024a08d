"""Synthetic NHANES-shaped data for 2011-2018: the real files, names, codes and design, fake people.

``write_synthetic(out_dir, seed, scale)`` writes one SAS transport (v5) file per entry of
:func:`nhmg_lib.data.catalog.files_for` -- ``DEMO_G.xpt``, ``DXX_H.xpt``, ... -- plus a ``SYNTHETIC``
marker file. The data are generated in two stages:

1. a latent population per cycle: age, sex and race from the real DEMO marginals, the real
   strata/PSU shape and weight distributions (:mod:`nhmg_lib.data.synthetic_calibration`), then
   body size, socio-economic position, usual energy and magnesium intake, a latent chronic
   inflammation that magnesium lowers, blood pressure, glycaemia and appendicular lean mass
   that magnesium raises and inflammation lowers (more so above ln-Mg 5.7 and among
   hypertensives);
2. the NHANES files observed from it, with each component's eligible sample (MEC files only
   for examined participants, DXA for ages 8-59, laboratory subsamples), the questionnaires'
   skip patterns, refused/don't-know codes (7/9/77/99/...), DXA exclusions (pregnancy,
   weight > 136 kg, height > 196 cm), day-to-day dietary variation and recall status codes,
   the cycle differences (alcohol items redesigned in 2017-18, hs-CRP from 2015, OGTT to 2016)
   and item and unit non-response shaped so that the paper's exclusion flow comes out close
   to the published counts.

The associations therefore reach the analysis only through the real variable derivations. The
generator reads nothing but its own constants: it is deterministic by seed (same seed, same
bytes) and writes the full-size data in seconds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from nhmg_lib.data import synthetic_calibration as cal
from nhmg_lib.data import filecache
from nhmg_lib.data.atomic import atomic_path, atomic_write
from nhmg_lib.data.generated import MARKER, _RECORD, generated_files, record_generated
from nhmg_lib.data.catalog import CYCLES, DEMO_ROWS, files_for
from nhmg_lib.errors import NhmgError

#: Version of the generating model; bump when the synthetic data change for a given seed.
GENERATOR_VERSION = "1.0"


#: First SEQN of each cycle's public release.
SEQN_START: dict[str, int] = {"G": 62161, "H": 73557, "I": 83732, "J": 93703}

#: SDDSRVYR release numbers.
SDDSRVYR: dict[str, int] = {"G": 7, "H": 8, "I": 9, "J": 10}

_CYCLE_INDEX = {c: i for i, c in enumerate(CYCLES)}

# --- latent model constants (adults unless stated) -------------------------------------------

#: Mean standing height (cm), adults 20-59, by sex (1 male, 2 female) and RIDRETH3 (BMX_G/BMX_I).
_HEIGHT = {
    1: {1: 170.0, 2: 171.1, 3: 177.6, 4: 176.5, 6: 171.1, 7: 176.8},
    2: {1: 156.6, 2: 158.2, 3: 164.0, 4: 163.5, 6: 157.8, 7: 162.6},
}
#: Mean ln BMI, adults 20-59, by sex and RIDRETH3 (BMX_G/BMX_I).
_LNBMI = {
    1: {1: 3.385, 2: 3.358, 3: 3.339, 4: 3.350, 6: 3.215, 7: 3.365},
    2: {1: 3.408, 2: 3.378, 3: 3.343, 4: 3.440, 6: 3.170, 7: 3.345},
}
#: Mean child height (cm) by age 2-19 relative to the adult mean (BMX_G/BMX_I).
_CHILD_HEIGHT_FRAC = np.array(
    [91.3, 99.2, 106.6, 112.8, 119.9, 125.7, 132.1, 137.3, 143.5, 150.2, 156.1, 160.4, 165.4,
     166.5, 166.4, 168.1, 167.8, 169.0]
) / 170.0
#: Median child BMI by age 2-19 (BMX_G/BMX_I).
_CHILD_BMI = np.array(
    [16.4, 16.0, 16.0, 15.8, 16.2, 16.5, 17.2, 17.8, 19.1, 19.9, 20.4, 20.8, 22.0, 22.2, 23.2,
     23.4, 24.4, 23.8]
)
#: Socio-economic position shift by RIDRETH3.
_SES_RACE = {1: -0.45, 2: -0.3, 3: 0.35, 4: -0.25, 6: 0.3, 7: 0.0}

# Appendicular lean mass index ln(ASM kg / height m^2): intercepts by sex (calibrated so that
# about 7% of the final cohort has FNIH low muscle mass) and effects.
_ALMI_INTERCEPT = {1: 2.225, 2: 2.04}
_ALMI_RACE = {1: -0.01, 2: 0.0, 3: 0.0, 4: 0.07, 6: -0.05, 7: 0.0}
_ALMI_BMI = 0.65         # elasticity of ALMI with respect to BMI
_ALMI_AGE = -0.0025      # per year
_ALMI_NOISE = 0.06
_MG_CENTRE = 5.7         # ln mg/day: the inflection point of the paper
_MG_SLOPE_LOW = 0.0      # ln ALMI per ln mg/day of usual intake, below the centre
_MG_SLOPE_HIGH = 0.01    # ... above the centre
_MG_HTN_GAIN = 2.0       # hypertensives: slope x (1 + gain), others x (1 - gain / 3)
# A minority carries a lean-mass deficit (low muscle mass in most of them) whose odds fall with
# magnesium intake, steeply above the centre and more so among hypertensives.
_DEFICIT = 0.3           # ln ALMI lost by those with the deficit
_DEFICIT_LOGIT = -3.3    # log-odds of the deficit at ln-Mg = centre (non-hypertensive x 1/3)
_DEFICIT_MG_LOW = -2.0   # change in log-odds per ln mg/day below the centre
_DEFICIT_MG_HIGH = -7.0  # ... above the centre
_INFLAM_MUSCLE = 0.045   # ln ALMI per SD of latent inflammation
_INFLAM_MG = -0.5        # latent inflammation per ln mg/day of usual intake
_RDW_INFLAM = 0.004      # ln RDW per SD of latent inflammation
_DENSITY_SES = 0.07      # ln magnesium density (mg/kcal) per unit of socio-economic position
_DENSITY_ACT = 0.01      # ... per SD of physical activity
_BMI_SES = -0.04         # ln BMI per unit of socio-economic position

# Unit and item non-response among examined adults (shapes the "lacking covariates" step).
_PIR_MISSING = 0.13
_BLOOD_MISSING = 0.065
_VID_MISSING = 0.06
_ALQ_MISSING = 0.09
_PAQ_REFUSED = 0.035
_DXA_NOT_DONE = 0.175     # examined 8-59, besides pregnancy and size exclusions
_DXA_PARTIAL = 0.035      # partial scans with a limb missing
_DR1_NOT_RELIABLE = 0.06
_DR2_NOT_RELIABLE = 0.125
_DAY_SD = 0.3             # day-to-day SD of ln energy intake within a person


# --- small helpers --------------------------------------------------------------------------

def _scaled_counts(counts, n: int) -> np.ndarray:
    """Integer counts proportional to ``counts`` summing exactly to ``n`` (largest remainder)."""
    counts = np.asarray(counts, dtype=float)
    exact = counts / counts.sum() * n
    out = np.floor(exact).astype(int)
    short = n - out.sum()
    if short:
        order = np.argsort(-(exact - out), kind="stable")
        out[order[:short]] += 1
    return out


def _expand_shuffled(rng: np.random.Generator, values, counts) -> np.ndarray:
    arr = np.repeat(np.asarray(values), counts)
    rng.shuffle(arr)
    return arr


def _choice(rng: np.random.Generator, values, p, size) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.asarray(values)[rng.choice(len(values), size=size, p=p / p.sum())]


def _codes_refused(rng, arr: np.ndarray, eligible: np.ndarray, codes=(7, 9),
                   rates=(0.0005, 0.001)) -> np.ndarray:
    """Overwrite a small random share of eligible entries with refused / don't-know codes."""
    arr = arr.astype(float).copy()
    u = rng.random(arr.shape[0])
    lo = 0.0
    for code, rate in zip(codes, rates):
        hit = eligible & (u >= lo) & (u < lo + rate)
        arr[hit] = code
        lo += rate
    return arr


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _z(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    ref = x if mask is None else x[mask]
    ref = ref[~np.isnan(ref)]
    if ref.size < 2 or ref.std() == 0:  # tiny samples: centre nothing rather than divide by 0
        return np.zeros_like(x, dtype=float)
    return (x - ref.mean()) / ref.std()


def _round(x: np.ndarray, digits: int) -> np.ndarray:
    return np.round(x.astype(float), digits)


# --- stage 1: the latent population ---------------------------------------------------------

def _population(cycle: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    p: dict[str, np.ndarray] = {}
    p["SEQN"] = SEQN_START[cycle] + np.arange(n, dtype=float)
    age = _expand_shuffled(rng, np.arange(81), _scaled_counts(cal.AGE_COUNTS[cycle], n))
    p["age"] = age.astype(float)
    male = rng.random(n) < 0.49
    p["sex"] = np.where(male, 1, 2)
    shares = cal.RACE3_SHARES[cycle]
    race3 = _expand_shuffled(rng, list(shares), _scaled_counts(list(shares.values()), n))
    p["race3"] = race3
    p["race1"] = np.where(race3 >= 6, 5, race3)

    cells = cal.DESIGN_CELLS[cycle]
    cell_idx = _expand_shuffled(rng, np.arange(len(cells)),
                                _scaled_counts([c[2] for c in cells], n))
    p["stratum"] = np.array([cells[i][0] for i in cell_idx], dtype=float)
    p["psu"] = np.array([cells[i][1] for i in cell_idx], dtype=float)
    cell_effect = rng.normal(0, 1, len(cells))[cell_idx]
    cell_weight = rng.normal(0, 0.25, len(cells))[cell_idx]

    # Interview only: slightly more common at the ends of the age range.
    rate = cal.INTERVIEW_ONLY[cycle] * np.where((age < 6) | (age >= 60), 1.3, 0.85)
    p["examined"] = rng.random(n) >= rate

    # Weights: oversampled groups weigh less; a PSU effect; scaled to the population.
    band = np.searchsorted([5, 11, 19, 39, 59], age, side="left")
    lnw = (np.array([cal.LNWT_RACE[r] for r in race3]) + np.asarray(cal.LNWT_AGE)[band]
           + cell_weight + rng.normal(0, 0.36, n))
    w = np.exp(lnw)
    p["wtint"] = w / w.sum() * cal.POPULATION[cycle]
    wm = np.where(p["examined"], p["wtint"] * np.exp(rng.normal(0.045, 0.06, n)), 0.0)
    p["wtmec"] = wm / wm.sum() * cal.POPULATION[cycle]

    adult = age >= 20
    ses = (rng.normal(0, 0.85, n) + np.array([_SES_RACE[r] for r in race3]) + 0.3 * cell_effect)
    p["ses"] = ses
    # Education: race-specific shares, ordered by socio-economic position within race.
    educ = np.full(n, np.nan)
    latent = ses + rng.normal(0, 0.6, n)
    for r, sh in cal.EDUC_SHARES.items():
        idx = np.flatnonzero(adult & (race3 == r))
        if idx.size == 0:
            continue
        rank = np.argsort(np.argsort(latent[idx], kind="stable"), kind="stable")
        q = (rank + 0.5) / idx.size
        educ[idx] = 1 + np.searchsorted(np.cumsum(sh) / np.sum(sh), q, side="right").clip(0, 4)
    p["educ"] = educ
    pir = np.exp(0.6 + 0.75 * ses + rng.normal(0, 0.45, n)) - 0.05
    p["pir"] = np.clip(_round(pir, 2), 0.0, 5.0)

    # Body size.
    sex = p["sex"]
    adult_ht = np.array([_HEIGHT[s][r] for s, r in zip(sex, race3)]) + rng.normal(0, 6.8, n)
    adult_ht -= 0.04 * np.clip(age - 50, 0, None)
    child = (age >= 2) & (age < 20)
    frac = np.ones(n)
    frac[child] = _CHILD_HEIGHT_FRAC[(age[child] - 2).astype(int)]
    # girls reach adult height earlier than boys
    frac[child & (sex == 2)] = np.minimum(1.0, frac[child & (sex == 2)] * 1.03)
    height = adult_ht * frac
    height[age < 2] = np.nan
    p["height"] = height
    decade = np.clip((age - 20) // 10, 0, 3).astype(int)
    age_eff = np.where(sex == 1, np.array([-0.06, 0.01, 0.02, 0.01])[decade],
                       np.array([-0.08, -0.02, 0.02, 0.02])[decade])
    lnbmi = (np.array([_LNBMI[s][r] for s, r in zip(sex, race3)]) + age_eff + _BMI_SES * ses
             + rng.normal(0, 0.21, n))
    lnbmi[age >= 60] -= 0.01
    bmi = np.exp(lnbmi)
    bmi[child] = _CHILD_BMI[(age[child] - 2).astype(int)] * np.exp(rng.normal(0, 0.17, child.sum()))
    weight = bmi * (np.nan_to_num(height) / 100) ** 2
    infant = age < 2
    weight[infant] = (np.where(age[infant] == 0, 7.5, 11.0)
                      * np.exp(rng.normal(0, 0.15, infant.sum())))
    bmi[infant] = np.nan
    p["bmi"] = bmi
    p["weight"] = weight
    zbmi = np.zeros(n)
    zbmi[adult] = _z(lnbmi[adult])

    # Lifestyle.
    p["active_latent"] = rng.normal(0, 1, n) + 0.2 * ses - 0.02 * (age - 40) - 0.2 * zbmi
    p["smoker"] = rng.random(n) < _logistic(-0.55 + 0.5 * (sex == 1) - 0.45 * ses
                                            + 0.01 * (age - 40))
    p["drinker_latent"] = rng.normal(0, 1, n) + 0.3 * ses + 0.3 * (sex == 1) \
        - 0.5 * np.isin(race3, (6,))

    # Usual intake (ln kcal, ln mg): magnesium density depends on diet quality.
    ln_e = np.where(sex == 1, 7.75, 7.45) - 0.003 * (age - 40) + 0.02 * ses + rng.normal(0, 0.25, n)
    ln_e[~adult] -= 0.1 * np.clip(20 - age[~adult], 0, 20) / 5
    race_density = np.array([{4: -0.08, 6: 0.05, 1: 0.03}.get(r, 0.0) for r in race3])
    density = (-1.966 + _DENSITY_SES * ses + race_density
               + _DENSITY_ACT * p["active_latent"] + rng.normal(0, 0.18, n))
    p["ln_e"] = ln_e
    p["density"] = density
    p["prot_density"] = rng.normal(0, 0.15, n)
    mg_u = ln_e + density
    p["mg_u"] = mg_u
    dmg = mg_u - _MG_CENTRE

    # Latent chronic inflammation (SD about 1).
    u = 0.45 * zbmi + 0.25 * p["smoker"] + _INFLAM_MG * dmg + rng.normal(0, 0.85, n)
    p["inflam"] = u

    # Blood pressure (true means) and told-hypertension.
    black = race3 == 4
    sbp = np.where(adult, 112 + 0.5 * (age - 40) + 5 * (sex == 1) + 7 * zbmi + 4 * black,
                   100 + 0.8 * np.clip(age - 8, 0, None)) + rng.normal(0, 11, n)
    dbp = np.where(adult, 72 + 0.25 * (age - 40) + 3 * (sex == 1) + 4 * zbmi,
                   58 + 0.8 * np.clip(age - 8, 0, None)) + rng.normal(0, 8, n)
    told_htn = adult & (rng.random(n) < _logistic(-0.9 + 0.07 * (sbp - 130) + 0.035 * (age - 40)))
    p["sbp"], p["dbp"], p["told_htn"] = sbp, dbp, told_htn
    htn = told_htn | (sbp >= 140) | (dbp >= 90)
    p["htn"] = htn

    # Glycaemia: a diabetic tail that grows with age and adiposity.
    race_dm = np.array([{1: 0.35, 2: 0.25, 4: 0.3, 6: 0.3}.get(r, 0.0) for r in race3])
    dm_risk = -3.3 + 0.055 * (age - 40) + 0.75 * zbmi + race_dm
    dm = adult & (rng.random(n) < _logistic(dm_risk))
    p["dm"] = dm
    p["dm_diag"] = dm & (rng.random(n) < 0.75)

    # Muscle: ln appendicular lean mass index (kg/m^2). Magnesium acts through inflammation, a
    # small direct slope and the odds of a lean-mass deficit; both steeper above the centre and
    # among hypertensives.
    gain = np.where(htn, 1 + _MG_HTN_GAIN, 1 - _MG_HTN_GAIN / 3)
    slope = np.where(dmg < 0, _MG_SLOPE_LOW, _MG_SLOPE_HIGH) * gain
    deficit_slope = np.where(dmg < 0, _DEFICIT_MG_LOW, _DEFICIT_MG_HIGH) * gain
    deficit = rng.random(n) < _logistic(_DEFICIT_LOGIT + deficit_slope * dmg)
    ln_almi = (np.array([_ALMI_INTERCEPT[s] for s in sex])
               + np.array([_ALMI_RACE[r] for r in race3])
               + _ALMI_BMI * (lnbmi - np.log(27.0)) + _ALMI_AGE * (age - 40)
               + 0.03 * p["active_latent"] + slope * dmg - _INFLAM_MUSCLE * u - 0.03 * dm
               - _DEFICIT * deficit + rng.normal(0, _ALMI_NOISE, n))
    kids = (age >= 8) & (age < 20)
    ln_almi[kids] += np.log(0.62 + 0.38 * np.clip((age[kids] - 8) / 10, 0, 1))
    p["asm_kg"] = np.exp(ln_almi) * (np.nan_to_num(height) / 100) ** 2
    return p


# --- stage 2: the NHANES files ----------------------------------------------------------------

def _demo(p, cycle, rng) -> pd.DataFrame:
    n = p["SEQN"].size
    age, sex, ex = p["age"], p["sex"], p["examined"]
    adult = age >= 20
    educ = _codes_refused(rng, p["educ"], adult, rates=(0.0003, 0.0008))
    pir = p["pir"].copy()
    miss = rng.random(n) < np.where(adult & (age < 60), _PIR_MISSING, 0.10)
    pir[miss] = np.nan
    preg = np.full(n, np.nan)
    elig = ex & (sex == 2) & (age >= 20) & (age <= 44)
    preg[elig] = _choice(rng, [1, 2, 3], [0.047, 0.885, 0.068], elig.sum())
    p["pregnant"] = preg == 1
    return pd.DataFrame({
        "SEQN": p["SEQN"], "SDDSRVYR": float(SDDSRVYR[cycle]),
        "RIDSTATR": np.where(ex, 2.0, 1.0), "RIAGENDR": sex.astype(float),
        "RIDAGEYR": age, "RIDRETH1": p["race1"].astype(float), "RIDRETH3": p["race3"].astype(float),
        "DMDEDUC2": educ, "RIDEXPRG": preg, "INDFMPIR": pir,
        "WTINT2YR": p["wtint"], "WTMEC2YR": p["wtmec"],
        "SDMVPSU": p["psu"], "SDMVSTRA": p["stratum"],
    })


def _bmx(p, rng, sel) -> pd.DataFrame:
    m = sel.sum()
    wt = _round(p["weight"][sel] * np.exp(rng.normal(0, 0.003, m)), 1)
    ht = _round(p["height"][sel], 1)
    wt[rng.random(m) < 0.004] = np.nan
    ht[rng.random(m) < 0.007] = np.nan
    bmi = _round(wt / (ht / 100) ** 2, 1)
    return pd.DataFrame({"SEQN": p["SEQN"][sel], "BMXWT": wt, "BMXHT": ht, "BMXBMI": bmi})


def _dxx(p, rng, sel) -> pd.DataFrame:
    m = sel.sum()
    sex = p["sex"][sel]
    status = np.ones(m)
    not_done = rng.random(m) < _DXA_NOT_DONE
    status[not_done] = 6
    partial = (~not_done) & (rng.random(m) < _DXA_PARTIAL)
    status[partial] = 3
    head_only = (~not_done) & (~partial) & (rng.random(m) < 0.03)
    status[head_only] = 2
    too_big = (p["weight"][sel] > 136) | (np.nan_to_num(p["height"][sel]) > 196)
    status[too_big] = 5
    status[p["pregnant"][sel]] = 4
    asm_g = p["asm_kg"][sel] * 1000
    arms = np.where(sex == 1, 0.245, 0.225) + rng.normal(0, 0.015, m)
    left_a = 0.5 + rng.normal(0, 0.012, m)
    left_l = 0.5 + rng.normal(0, 0.008, m)
    cols = {
        "DXDLALE": asm_g * arms * left_a, "DXDRALE": asm_g * arms * (1 - left_a),
        "DXDLLLE": asm_g * (1 - arms) * left_l, "DXDRLLE": asm_g * (1 - arms) * (1 - left_l),
    }
    # Lean mass with bone mineral content: limb BMC about 13% (arms) and 11.5% (legs) of the
    # bone-free lean mass in adults; no random draw, so the other columns keep their values.
    for limb, bmc in (("LA", 0.13), ("RA", 0.13), ("LL", 0.115), ("RL", 0.115)):
        cols[f"DXX{limb}LI"] = cols[f"DXD{limb}LE"] * (1 + bmc)
    out = pd.DataFrame({"SEQN": p["SEQN"][sel], "DXAEXSTS": status})
    gone = status >= 4
    which = rng.integers(0, 4, m)
    for k, (name, v) in enumerate(cols.items()):
        v = _round(v, 1)
        v[gone | (partial & (which == k % 4))] = np.nan   # the same limb missing in both
        out[name] = v
    return out


def _dietary(p, rng, sel):
    """DR1TOT, DR2TOT, DS1TOT, DS2TOT for the examined sample ``sel``."""
    m = sel.sum()
    age = p["age"][sel]
    seqn = p["SEQN"][sel]
    infant = age < 1
    breastfed = infant & (rng.random(m) < 0.25)
    r1 = rng.random(m)
    st1 = np.where(r1 < _DR1_NOT_RELIABLE * 0.4, 2.0,
                   np.where(r1 < _DR1_NOT_RELIABLE, 5.0, 1.0))
    st1[breastfed & (st1 == 1)] = 4.0
    r2 = rng.random(m)
    st2 = np.where(r2 < _DR2_NOT_RELIABLE * 0.3, 2.0,
                   np.where(r2 < _DR2_NOT_RELIABLE, 5.0, 1.0))
    st2[breastfed & (st2 == 1)] = 4.0
    st2[st1 == 5] = 5.0
    st2[st1 == 2] = np.where(rng.random((st1 == 2).sum()) < 0.5, 5.0, 2.0)

    ln_e, dens, pd_ = p["ln_e"][sel], p["density"][sel], p["prot_density"][sel]
    days = {}
    for d, st in ((1, st1), (2, st2)):
        e = np.exp(ln_e + rng.normal(0, _DAY_SD, m))
        mg = np.exp(np.log(e) + dens + rng.normal(0, 0.12, m))
        prot = np.exp(np.log(e) + np.log(0.040) + pd_ + rng.normal(0, 0.12, m))
        ok = np.isin(st, (1.0, 4.0))
        days[d] = (np.where(ok, np.round(e), np.nan), np.where(ok, _round(prot, 2), np.nan),
                   np.where(ok, np.round(mg), np.nan), ok)
    wmec = p["wtmec"][sel]
    w1 = np.where(days[1][3], wmec * np.exp(rng.normal(0, 0.15, m)), 0.0)
    w2 = np.where(days[1][3] & days[2][3], wmec * np.exp(rng.normal(0, 0.2, m)), 0.0)
    pop = wmec.sum()
    w1 = w1 / w1.sum() * pop if w1.sum() > 0 else w1
    w2 = w2 / w2.sum() * pop if w2.sum() > 0 else w2
    dr1 = pd.DataFrame({"SEQN": seqn, "WTDRD1": w1, "WTDR2D": w2, "DR1DRSTZ": st1,
                        "DR1TKCAL": days[1][0], "DR1TPROT": days[1][1], "DR1TMAGN": days[1][2]})
    dr2 = pd.DataFrame({"SEQN": seqn, "WTDRD1": w1, "WTDR2D": w2, "DR2DRSTZ": st2,
                        "DR2TKCAL": days[2][0], "DR2TPROT": days[2][1], "DR2TMAGN": days[2][2]})
    # Supplements: users more often older and better off; about 70% of users take magnesium.
    user = rng.random(m) < _logistic(-0.9 + 0.025 * (age - 40) + 0.4 * p["ses"][sel])
    out = []
    for d in (1, 2):
        done = days[d][3]
        takes = user & (rng.random(m) < 0.93)
        cnt = np.where(done, np.where(takes, rng.integers(1, 4, m), 0), np.nan).astype(float)
        mgs = np.where(rng.random(m) < 0.7, np.round(np.exp(rng.normal(4.4, 0.8, m))), 0.0)
        val = np.where(done & takes, mgs, np.nan)
        out.append(pd.DataFrame({"SEQN": seqn, f"DS{d}DSCNT": cnt, f"DS{d}TMAGN": val}))
    return dr1, dr2, out[0], out[1]


def _labs(p, rng, cycle, ex):
    """CBC, BIOPRO, HSCRP, ALB_CR, GHB, GLU, OGTT, VID frames."""
    n = p["SEQN"].size
    age, sex = p["age"], p["sex"]
    u, dmg = p["inflam"], p["mg_u"] - _MG_CENTRE
    male = sex == 1
    race3 = p["race3"]
    blood_missing = rng.random(n) < np.where(age < 12, 0.2, _BLOOD_MISSING)
    frames = {}

    sel = ex & (age >= 1)
    neut = np.exp(1.375 - 0.04 * male - 0.25 * (race3 == 4) + 0.12 * u - 0.06 * dmg
                  + rng.normal(0, 0.32, n))
    lym = np.exp(0.78 + 0.08 * u + 0.03 * dmg + 0.15 * (age < 12) + rng.normal(0, 0.30, n))
    mono = np.exp(-0.62 + 0.1 * male + rng.normal(0, 0.3, n))
    eos = np.exp(-1.75 + rng.normal(0, 0.55, n))
    baso = np.round(np.exp(-3.0 + rng.normal(0, 0.4, n)), 1)
    wbc = neut + lym + mono + eos + baso
    plt_ = np.exp(5.50 - 0.13 * male + 0.10 * u + rng.normal(0, 0.23, n))
    rdw = np.exp(2.615 + _RDW_INFLAM * u - 0.03 * dmg + 0.03 * (race3 == 4)
                 + rng.normal(0, 0.085, n))
    cbc = pd.DataFrame({
        "SEQN": p["SEQN"], "LBXWBCSI": _round(wbc, 1), "LBDLYMNO": _round(lym, 1),
        "LBDNENO": _round(neut, 1), "LBXNEPCT": _round(100 * neut / wbc, 1),
        "LBXPLTSI": np.round(plt_), "LBXRDW": _round(rdw, 1),
    })
    frames["CBC"] = _blank(cbc[sel], blood_missing[sel])

    sel12 = ex & (age >= 12)
    alb = np.exp(1.395 + 0.055 * male - 0.01 * u + 0.02 * dmg + rng.normal(0, 0.075, n))
    alb = _round(alb, 1)
    scr = np.exp(np.log(np.where(male, 0.95, 0.72)) + 0.003 * (age - 40) + 0.1 * (race3 == 4)
                 + rng.normal(0, 0.17, n))
    scr[age < 20] *= 0.75
    bio = pd.DataFrame({"SEQN": p["SEQN"], "LBXSAL": alb, "LBDSALSI": np.round(alb * 10),
                        "LBXSCR": _round(scr, 2)})
    frames["BIOPRO"] = _blank(bio[sel12], blood_missing[sel12])

    if cycle in ("I", "J"):
        crp = np.exp(0.55 - 0.28 * male - 0.6 * (age < 20) + 0.75 * u + rng.normal(0, 0.8, n))
        below = crp < 0.15
        crp = _round(crp, 2)
        crp[below] = 0.11
        hs = pd.DataFrame({"SEQN": p["SEQN"], "LBXHSCRP": crp, "LBDHRPLC": below.astype(float)})
        frames["HSCRP"] = _blank(hs[sel], blood_missing[sel])

    sel6 = ex & (age >= 6)
    acr = np.exp(np.log(7.0) + 0.3 * p["dm"] + 0.2 * p["htn"] + rng.normal(0, 0.9, n))
    alb_cr = pd.DataFrame({"SEQN": p["SEQN"], "URDACT": _round(acr, 2)})
    frames["ALB_CR"] = _blank(alb_cr[sel6], rng.random(n)[sel6] < 0.04)

    dm = p["dm"]
    ghb = np.where(dm, 6.2 + rng.exponential(1.3, n), 5.35 + 0.004 * (age - 40)
                   + rng.normal(0, 0.3, n))
    ghb = np.clip(_round(ghb, 1), 3.8, 17.0)
    frames["GHB"] = _blank(pd.DataFrame({"SEQN": p["SEQN"], "LBXGH": ghb})[sel12],
                           blood_missing[sel12])

    fasting = sel12 & (rng.random(n) < 0.47)
    glu = np.where(dm, 125 + rng.exponential(45, n), 94 + 0.15 * (age - 40) + rng.normal(0, 8, n))
    glu = np.round(np.clip(glu, 50, 500))
    wsaf = np.where(fasting, p["wtmec"] * 2.1 * np.exp(rng.normal(0, 0.12, n)), 0.0)
    fmiss = rng.random(n) < 0.08
    wsaf[fmiss] = 0.0
    gl = pd.DataFrame({"SEQN": p["SEQN"], "WTSAF2YR": wsaf, "LBXGLU": glu,
                       "LBDGLUSI": _round(glu * 0.05551, 2)})
    frames["GLU"] = _blank(gl[fasting], fmiss[fasting], keep=("SEQN", "WTSAF2YR"))
    if cycle != "J":
        glt = np.where(dm, 210 + rng.normal(0, 55, n),
                       105 + 0.4 * (age - 40) + rng.normal(0, 28, n))
        glt = np.round(np.clip(glt, 40, 600))
        omiss = fmiss | (rng.random(n) < 0.2) | p["dm_diag"]
        wsog = np.where(omiss, 0.0, wsaf * 1.25)
        og = pd.DataFrame({"SEQN": p["SEQN"], "WTSOG2YR": wsog, "LBXGLT": glt})
        frames["OGTT"] = _blank(og[fasting], omiss[fasting], keep=("SEQN", "WTSOG2YR"))

    vid = np.exp(np.log(62) + np.array([{4: -0.45, 1: -0.2, 2: -0.15, 6: -0.15}.get(r, 0.0)
                                        for r in race3])
                 - 0.12 * np.nan_to_num(_z(np.log(p["bmi"]), age >= 20)) + 0.05 * p["ses"]
                 + rng.normal(0, 0.33, n))
    vmiss = blood_missing | (rng.random(n) < _VID_MISSING)
    vid = _round(vid, 1)
    vid_frame = pd.DataFrame({"SEQN": p["SEQN"], "LBXVIDMS": vid, "LBXVD3MS": _vitamin_d3(p, vid)})
    frames["VID"] = _blank(vid_frame[sel], vmiss[sel])
    return frames


def _vitamin_d3(p, total: np.ndarray) -> np.ndarray:
    """25(OH)D3 as the total less 25(OH)D2. As in 2017-18, D2 is below its detection limit in
    about 84% (filled with 1.45 nmol/L) and otherwise skewed (median about 5 nmol/L). Drawn
    from its own stream seeded by SEQN, so the rest of the synthetic data stays as it was."""
    rng = np.random.default_rng(p["SEQN"].astype(np.int64))
    n = total.size
    detected = rng.random(n) < 0.16
    d2 = np.where(detected, 2.0 + np.exp(rng.normal(1.0, 1.2, n)), 1.45)
    d2 = np.minimum(d2, 0.9 * total)   # D3 is most of the total even in D2 supplement takers
    return _round(total - d2, 1)


def _blank(df: pd.DataFrame, missing: np.ndarray, keep=("SEQN",)) -> pd.DataFrame:
    """Set every column but ``keep`` to NaN on the rows flagged ``missing``."""
    df = df.reset_index(drop=True).copy()
    cols = [c for c in df.columns if c not in keep]
    df.loc[np.asarray(missing), cols] = np.nan
    return df


def _bpx(p, rng, sel) -> pd.DataFrame:
    n = p["SEQN"].size
    age = p["age"]
    out = {"SEQN": p["SEQN"]}
    measured = age >= 8
    none = rng.random(n) < 0.05
    fourth = rng.random(n) < 0.08
    for i in range(1, 5):
        sy = np.round((p["sbp"] + rng.normal(0, 5, n)) / 2) * 2
        di = np.round((p["dbp"] + rng.normal(0, 4, n)) / 2) * 2
        di[rng.random(n) < 0.004] = 0.0
        gone = ~measured | none | (rng.random(n) < 0.035)
        if i == 4:
            gone |= ~fourth
        out[f"BPXSY{i}"] = np.where(gone, np.nan, sy)
        out[f"BPXDI{i}"] = np.where(gone, np.nan, di)
    return pd.DataFrame(out)[sel].reset_index(drop=True)


def _questionnaires(p, rng, cycle):
    n = p["SEQN"].size
    age = p["age"]
    seqn = p["SEQN"]
    ex = p["examined"]
    frames = {}

    # BPQ: 16+.
    sel = age >= 16
    bpq020 = np.where(p["told_htn"], 1.0, 2.0)
    bpq020 = _codes_refused(rng, bpq020, np.ones(n, bool), codes=(7, 9), rates=(0.0, 0.001))
    frames["BPQ"] = pd.DataFrame({"SEQN": seqn, "BPQ020": bpq020})[sel].reset_index(drop=True)

    # DIQ: 1+. DIQ160 (prediabetes) asked 12+ when not told diabetes; DIQ070 (pills) asked 12+
    # when told diabetes or borderline or prediabetes; DIQ050 (insulin) asked everyone.
    sel = age >= 1
    diq010 = np.where(p["dm_diag"], 1.0, np.where(rng.random(n) < 0.018 * (age >= 20), 3.0, 2.0))
    diq010 = _codes_refused(rng, diq010, np.ones(n, bool), rates=(0.0001, 0.0005))
    diq160 = np.where((age >= 12) & (diq010 != 1),
                      np.where(rng.random(n) < 0.06 * (age >= 20), 1.0, 2.0), np.nan)
    diq160 = _codes_refused(rng, diq160, ~np.isnan(diq160), rates=(0.0002, 0.001))
    insulin = p["dm_diag"] & (rng.random(n) < 0.28)
    diq050 = np.where(insulin, 1.0, 2.0)
    diq050 = _codes_refused(rng, diq050, np.ones(n, bool), rates=(0.0001, 0.0))
    ask070 = (age >= 12) & (np.isin(diq010, (1, 3)) | (diq160 == 1))
    pills = np.where(p["dm_diag"], rng.random(n) < 0.72, rng.random(n) < 0.12)
    diq070 = np.where(ask070, np.where(pills, 1.0, 2.0), np.nan)
    diq070 = _codes_refused(rng, diq070, ask070, rates=(0.0, 0.003))
    frames["DIQ"] = pd.DataFrame({"SEQN": seqn, "DIQ010": diq010, "DIQ160": diq160,
                                  "DIQ050": diq050, "DIQ070": diq070})[sel].reset_index(drop=True)

    # SMQ: 12+, SMQ020 asked 18+.
    sel = age >= 12
    smq020 = np.where(age >= 18, np.where(p["smoker"], 1.0, 2.0), np.nan)
    smq020 = _codes_refused(rng, smq020, age >= 18, rates=(0.0003, 0.0005))
    frames["SMQ"] = pd.DataFrame({"SEQN": seqn, "SMQ020": smq020})[sel].reset_index(drop=True)

    # ALQ: examined 18+ (MEC interview); whole-section non-response for some.
    sel = ex & (age >= 18)
    dl = p["drinker_latent"]
    nr = rng.random(n) < np.where(age < 60, _ALQ_MISSING, 0.05)
    ever12 = dl > -1.15           # 12+ drinks in some year (G-I) / ever drank (J)
    current = ever12 & (dl + rng.normal(0, 0.8, n) > -0.6)
    freq = np.clip(np.round(np.exp(1.2 + 0.9 * dl + rng.normal(0, 0.9, n))), 1, 365)
    if cycle != "J":
        alq101 = np.where(ever12, 1.0, 2.0)
        alq101 = _codes_refused(rng, alq101, np.ones(n, bool), rates=(0.0002, 0.0008))
        alq110 = np.where(alq101 == 2, np.where(rng.random(n) < 0.35, 1.0, 2.0), np.nan)
        alq110 = _codes_refused(rng, alq110, alq101 == 2, rates=(0.0, 0.002))
        asked120 = (alq101 == 1) | (alq110 == 1)
        cur = current | ((alq110 == 1) & (rng.random(n) < 0.3))
        q = np.where(cur, freq, 0.0)
        unit = np.where(q > 104, 1.0, np.where(q > 24, 2.0, 3.0))
        q = np.where(unit == 1, np.round(q / 52), np.where(unit == 2, np.round(q / 12), q))
        q = np.where(cur, np.maximum(q, 1), 0.0)
        q = np.where(asked120, q, np.nan)
        q = _codes_refused(rng, q, asked120, codes=(777, 999), rates=(0.0003, 0.002))
        unit = np.where(asked120 & (q > 0) & (q < 777), unit, np.nan)
        df = pd.DataFrame({"SEQN": seqn, "ALQ101": alq101, "ALQ110": alq110,
                           "ALQ120Q": q, "ALQ120U": unit})
    else:
        ever = ever12 | (rng.random(n) < 0.5)
        alq111 = np.where(ever, 1.0, 2.0)
        alq111 = _codes_refused(rng, alq111, np.ones(n, bool), rates=(0.0002, 0.0008))
        # 1 every day ... 10 once or twice a year; 0 never in the last year.
        cuts = np.array([300, 200, 150, 100, 52, 30, 12, 7, 3])
        code = 1 + np.searchsorted(-cuts, -freq, side="left")
        alq121 = np.where(alq111 == 1, np.where(current, code.astype(float), 0.0), np.nan)
        alq121 = _codes_refused(rng, alq121, alq111 == 1, codes=(77, 99), rates=(0.0003, 0.002))
        df = pd.DataFrame({"SEQN": seqn, "ALQ111": alq111, "ALQ121": alq121})
    df = _blank(df[sel], nr[sel])
    frames["ALQ"] = df

    # PAQ: 12+; days/minutes asked only after a "yes".
    sel = age >= 12
    act = p["active_latent"]
    cols = {"SEQN": seqn}
    items = [("PAQ605", "PAQ610", "PAD615", -1.6, 0.3, 8),
             ("PAQ620", "PAQ625", "PAD630", -0.5, 0.3, 4),
             ("PAQ635", "PAQ640", "PAD645", -1.0, 0.2, 4),
             ("PAQ650", "PAQ655", "PAD660", -0.7, 0.8, 8),
             ("PAQ665", "PAQ670", "PAD675", -0.1, 0.6, 4)]
    refused_any = rng.random(n) < np.where((age >= 20) & (age < 60), _PAQ_REFUSED, 0.02)
    which_bad = rng.integers(0, len(items), n)
    for k, (yn, days, mins, b0, b1, _met) in enumerate(items):
        yes = rng.random(n) < _logistic(b0 + b1 * act + 0.4 * (p["sex"] == 1) * (k < 2))
        a = np.where(yes, 1.0, 2.0)
        d = np.where(yes, np.clip(np.round(rng.normal(3.5 + 0.5 * act, 1.6, n)), 1, 7), np.nan)
        mm = np.where(yes, np.clip(np.round(np.exp(rng.normal(3.9 + 0.15 * act, 0.6, n)) / 5) * 5,
                                   10, 960), np.nan)
        bad = refused_any & (which_bad == k)
        kind = rng.random(n)
        a = np.where(bad & (kind < 0.2), np.where(kind < 0.05, 7.0, 9.0), a)
        d = np.where(a == 1, d, np.nan)
        mm = np.where(a == 1, mm, np.nan)
        d = np.where(bad & (kind >= 0.2) & (kind < 0.5) & (a == 1),
                     np.where(kind < 0.25, 77.0, 99.0), d)
        mm = np.where(bad & (kind >= 0.5) & (a == 1), np.where(kind < 0.6, 7777.0, 9999.0), mm)
        a = np.where(bad & (kind >= 0.2) & (a == 2), 9.0, a)
        cols[yn], cols[days], cols[mins] = a, d, mm
    frames["PAQ"] = pd.DataFrame(cols)[sel].reset_index(drop=True)
    return frames


def simulate_cycle(cycle: str, seed: int = 1, scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """Every component of one cycle as data frames keyed by component name (``DEMO``, ...)."""
    if cycle not in CYCLES:
        raise ValueError(f"unknown NHANES cycle {cycle!r}; choose from {list(CYCLES)}")
    n = max(int(round(DEMO_ROWS[cycle] * scale)), 1)
    rng = np.random.default_rng([int(seed), _CYCLE_INDEX[cycle], 20251124])
    p = _population(cycle, n, rng)
    ex = p["examined"]
    frames = {"DEMO": _demo(p, cycle, rng)}
    frames["DXX"] = _dxx(p, rng, ex & (p["age"] >= 8) & (p["age"] <= 59))
    frames["BMX"] = _bmx(p, rng, ex)
    dr1, dr2, ds1, ds2 = _dietary(p, rng, ex)
    frames.update(DR1TOT=dr1, DR2TOT=dr2, DS1TOT=ds1, DS2TOT=ds2)
    frames.update(_labs(p, rng, cycle, ex))
    frames["BPX"] = _bpx(p, rng, ex)
    frames.update(_questionnaires(p, rng, cycle))
    return frames


# --- writing ----------------------------------------------------------------------------------

_DATE = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_FIXED_DATE = b"01JAN20:00:00:00"


def _write_xpt(df: pd.DataFrame, path: Path, table: str) -> None:
    """Write SAS transport v5 with fixed header dates, so the bytes depend only on the data."""
    with atomic_path(path) as tmp:
        pyreadstat.write_xport(df, str(tmp), file_format_version=5, table_name=table)
        raw = tmp.read_bytes()
        cut = raw.find(b"HEADER RECORD*******OBS")
        cut = len(raw) if cut < 0 else cut
        tmp.write_bytes(_DATE.sub(_FIXED_DATE, raw[:cut]) + raw[cut:])


def write_synthetic(out_dir: str | os.PathLike[str], seed: int = 1, scale: float = 1.0,
                    cycles: tuple[str, ...] | list[str] = ("G", "H", "I", "J")) -> list[Path]:
    """Write synthetic NHANES files for ``cycles`` into ``out_dir``; return the paths written.

    One ``<COMPONENT>_<CYCLE>.xpt`` per :func:`nhmg_lib.data.catalog.files_for` entry, with at least
    the catalogue's columns, plus the ``SYNTHETIC`` marker (seed, scale, generator version).
    ``scale`` shrinks every cycle proportionally (1.0 = the real DEMO row counts).
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = files_for(tuple(cycles))
    _refuse_over_cdc_files(out, specs)
    paths: list[Path] = []
    for cycle in cycles:
        frames = simulate_cycle(cycle, seed=seed, scale=scale)
        for spec in (s for s in specs if s.cycle == cycle):
            df = frames[spec.component]
            missing = [c for c in spec.columns if c not in df.columns]
            if missing:  # a generator bug, never the user's fault
                raise RuntimeError(f"synthetic {spec.name} lacks columns {missing}")
            path = out / spec.filename
            _write_xpt(df, path, spec.name)
            paths.append(path)
    marker = out / MARKER
    made = generated_files(out)  # files of other cycles written before stay recorded
    with atomic_write(marker) as fh:
        fh.write(
            "These NHANES-shaped files are SYNTHETIC: generated by nhmg_lib.data.synthetic, not collected\n"
            "by NCHS. They mimic the real file names, variables, codes and survey design, but every\n"
            "participant is fake. Do not use them for inference about the US population.\n"
            f"generator: nhmg_lib.data.synthetic {GENERATOR_VERSION}\n"
            f"seed: {int(seed)}\n"
            f"scale: {scale:g}\n"
            f"cycles: {' '.join(cycles)}\n"
            + "".join(f"{_RECORD}{sha} {name}\n" for name, sha in sorted(made.items()))
        )
    record_generated(out, paths)
    paths.append(marker)
    return paths


class RealDataError(NhmgError):
    """Writing synthetic data would overwrite a file of a known CDC release."""


def _refuse_over_cdc_files(out: Path, specs) -> None:
    """Never overwrite a CDC file (size and MD5 of a known release), label or not."""
    from nhmg_lib.data.releases import releases

    names = {s.filename.upper(): s.name for s in specs}
    real = []
    for p in out.iterdir():
        known = releases().get(names.get(p.name.upper(), ""))
        if known and known.bytes == p.stat().st_size and filecache.md5(p) == known.md5:
            real.append(p.name)
    if real:
        raise RealDataError(
            f"{out} holds {len(real)} file(s) of known CDC releases ({', '.join(sorted(real)[:4])}"
            f"{', ...' if len(real) > 4 else ''}): synthetic data are never written over "
            "real NHANES files. Write them into another (empty) directory.")


def is_synthetic(data_dir: str | os.PathLike[str]) -> bool:
    """True when ``data_dir`` holds files :func:`write_synthetic` wrote: its marker, and a
    present ``.xpt`` file in the marker's record (a stray label alone does not count)."""
    made = {n.upper() for n in generated_files(data_dir)}
    return bool(made) and any(p.name.upper() in made for p in Path(data_dir).iterdir()
                              if p.suffix.lower() == ".xpt")


def read_marker(data_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The marker's ``key: value`` lines (generator, seed, scale, cycles); ``{}`` if absent."""
    path = Path(data_dir) / MARKER
    if not path.is_file():
        return {}
    info = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in ("generator", "seed", "scale", "cycles"):
            info[key] = value
    return info


__all__ = ["write_synthetic", "is_synthetic", "read_marker", "generated_files", "record_generated", "simulate_cycle",
           "GENERATOR_VERSION", "MARKER", "SEQN_START", "RealDataError"]
