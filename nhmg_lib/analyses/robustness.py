"""Robustness: the headline estimates under every alternative definition, and E-values.

One concept: re-run the paper's headline estimates once per *specification*, a specification
being the default analysis with exactly one choice changed.

* Specifications (:func:`specifications`): the default, every alternative of every field of
  :data:`nhmg_lib.cohort.definitions.OPTIONS` (one field changed at a time), and two analysis options
  that are not definitions (:data:`ANALYSIS_OPTIONS`): spline knots at weighted instead of
  unweighted percentiles, a design-aware mediation bootstrap (PSUs resampled within strata,
  Rao-Wu rescaling; ``scheme="design"``) instead of resampling rows, and the mediation models
  with raw or no survey weights instead of weights scaled to mean 1
  (``weighting``, :data:`nhmg_lib.analyses.mediation.WEIGHTINGS`).
* Headline estimates (:func:`run`), all Model 3 on the cohort as a domain of the full design:
  Table 2 Q4 vs Q1 OR (LMM) and the OR per 1 ln mg/day, Table 3 Q4 vs Q1 β (ln SMI), the
  Figure 2 spline P nonlinear (LMM, 3 knots) and the proportion of the magnesium effect
  mediated by NP (LMM and SMI; from the Q1 to the Q4 median of ln-Mg, as the mediation
  chapter and the multiverse, :func:`nhmg_lib.analyses.mediation.q1q4`; percentile bootstrap CIs). The NP
  mediator follows ``Definitions.np_index`` (:func:`nhmg_lib.analyses.inflammation.index_column`).
* Cost: the raw frame is read once; a cohort is built once per distinct ``Definitions`` and
  reused by the analysis options. The mediation bootstrap uses ``boot`` resamples (200 by
  default, against the 1000 of Tables 7 and 8), so its CIs are coarser than the main
  chapter's; the fits are cached on disk by :mod:`nhmg_lib.analyses.mediation`.
* E-values (:func:`e_value`): VanderWeele & Ding (2017, Ann Intern Med 167:268-274) for an
  odds ratio, with the rare-outcome approximation RR ~ OR by default (LMM ~ 7%).

Public API::

    OPTIONS_ALL                              # definitions.OPTIONS + ANALYSIS_OPTIONS
    specifications(base=DEFAULT, start=None) -> list[Spec]   # Spec(name, description, setting, ...)
    run(raw, specs=None, boot=200, seed=1, *, energy_exclusion=False) -> RobustnessResult
    RobustnessResult.frame                   # one row per specification, estimates in columns
    RobustnessResult.formatted()             # text cells (nhmg_lib.report.robustness_report
                                             # makes the table, the plot and the E-value table)
    RobustnessResult.e_values()              # E-values of the default's headline ORs
    e_value(or_, ci_low=None, ci_high=None, rare=True) -> EValue
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from nhmg_lib.cohort import flow
from nhmg_lib.analyses import inflammation, mediation, models, splines
from nhmg_lib.cohort.definitions import DEFAULT, MODEL3_COVARIATES, OPTIONS, Definitions

__all__ = ["ANALYSIS_OPTIONS", "OPTIONS_ALL", "AnalysisOption", "Spec", "specifications", "run",
           "RobustnessResult", "EValue", "e_value", "ESTIMATES"]

#: Analysis choices that are not definitions (they do not change the cohort); first = default.
ANALYSIS_OPTIONS: dict[str, dict[str, str]] = {
    "spline_knots": {
        "unweighted": "spline knots at the unweighted 10th/50th/90th percentiles of ln-Mg "
                      "in the cohort (Harrell, rms::rcs)",
        "weighted": "spline knots at the survey-weighted 10th/50th/90th percentiles",
    },
    "mediation_bootstrap": {
        "rows": "mediation CIs from resampling cohort rows, survey weights as prior weights "
                "(as the R package mediator)",
        "design": "mediation CIs from resampling PSUs within strata with Rao-Wu rescaled "
                  "weights (design-aware)",
    },
    # How the survey weight enters the mediation models (mediation.WEIGHTINGS); the paper does
    # not say, and R mediator with the raw NHANES weight inflates the logistic NDE.
    "mediation_weights": {
        "normalised": "mediation models with the survey weights scaled to mean 1",
        "raw": "mediation models with the raw survey weights (R mediator given the NHANES "
               "weight: σ² of the mediator model on the scale of the weights)",
        "none": "unweighted mediation models",
    },
}

#: Every option the robustness chapter varies, by field; first value = default.
OPTIONS_ALL: dict[str, dict[str, str]] = {**OPTIONS, **ANALYSIS_OPTIONS}

#: Estimate columns of :attr:`RobustnessResult.frame` -> (label, scale).
ESTIMATES: dict[str, tuple[str, str]] = {
    "or_q4": ("LMM, Q4 vs Q1 (OR)", "ratio"),
    "or_lnmg": ("LMM, per 1 ln mg/day (OR)", "ratio"),
    "beta_q4": ("ln SMI, Q4 vs Q1 (β)", "difference"),
    "p_nonlinear": ("Spline P nonlinear (LMM)", "p"),
    "pm_np_lmm": ("NP mediated, LMM, Q1→Q4 (%)", "share"),
    "pm_np_smi": ("NP mediated, SMI, Q1→Q4 (%)", "share"),
}


@dataclass(frozen=True)
class AnalysisOption:
    """An analysis choice outside :class:`Definitions`: ``field`` in :data:`ANALYSIS_OPTIONS`."""

    field: str
    value: str

    def __post_init__(self) -> None:
        if self.field not in ANALYSIS_OPTIONS or self.value not in ANALYSIS_OPTIONS[self.field]:
            raise ValueError(f"unknown analysis option {self.field}={self.value!r}; "
                             f"choose from {ANALYSIS_OPTIONS}")


class Spec(NamedTuple):
    """One specification: ``name`` (``"default"`` or ``"field=value"``), a description and
    the setting (a :class:`Definitions` or an :class:`AnalysisOption`, applied to the
    definitions ``base``)."""

    name: str
    description: str
    setting: Definitions | AnalysisOption
    base: Definitions = DEFAULT
    #: analysis options of the starting point that differ from :data:`ANALYSIS_OPTIONS`' first
    start: tuple[tuple[str, str], ...] = ()

    @property
    def field(self) -> str:
        return "default" if self.name == "default" else self.name.split("=", 1)[0]

    @property
    def value(self) -> str:
        return "default" if self.name == "default" else self.name.split("=", 1)[1]

    @property
    def defs(self) -> Definitions:
        return self.setting if isinstance(self.setting, Definitions) else self.base

    def analysis(self, field: str) -> str:
        """The value of analysis option ``field`` in this specification."""
        s = self.setting
        if isinstance(s, AnalysisOption) and s.field == field:
            return s.value
        return dict(self.start).get(field, next(iter(ANALYSIS_OPTIONS[field])))


def specifications(base: Definitions = DEFAULT,
                   start: Mapping[str, str] | None = None) -> list[Spec]:
    """The starting point (definitions ``base`` and analysis options ``start``, e.g.
    ``{"mediation_weights": "none"}``: the book's defaults unless a chapter's parameters change
    them), then every other option of :data:`OPTIONS_ALL`, one at a time from it."""
    start = dict(start or {})
    for name, value in start.items():
        AnalysisOption(name, value)            # validates
    chosen = {name: start.get(name, next(iter(options))) for name, options in ANALYSIS_OPTIONS.items()}
    what = ("all defaults (definitions.DEFAULT" if base == DEFAULT else
            "the chosen definitions (" + ", ".join(f"{k} = {v}" for k, v in
                                                  base.changed_from_default().items()))
    what += ", " + ", ".join(ANALYSIS_OPTIONS[k][v].split(" (")[0] for k, v in chosen.items()) + ")"
    moved = tuple((k, v) for k, v in chosen.items() if v != next(iter(ANALYSIS_OPTIONS[k])))
    specs = [Spec("default", what, base, base, moved)]
    for name, options in OPTIONS.items():
        current = getattr(base, name)
        for value, doc in options.items():
            if value != current:
                specs.append(Spec(f"{name}={value}", doc, base.with_(**{name: value}), base, moved))
    for name, options in ANALYSIS_OPTIONS.items():
        for value, doc in options.items():
            if value != chosen[name]:
                specs.append(Spec(f"{name}={value}", doc, AnalysisOption(name, value), base, moved))
    return specs


# ----------------------------------------------------------------------------- E-values
class EValue(NamedTuple):
    """E-value of the point estimate and of the CI limit closest to 1 (None without a CI)."""

    estimate: float
    ci: float | None


def _e(rr: float) -> float:
    rr = 1.0 / rr if rr < 1 else rr
    return float(rr + math.sqrt(rr * (rr - 1.0)))


def e_value(or_: float, ci_low: float | None = None, ci_high: float | None = None,
            rare: bool = True) -> EValue:
    """E-value of an odds ratio (VanderWeele & Ding 2017).

    With a rare outcome (``rare=True``) RR ~ OR; otherwise RR ~ sqrt(OR). An RR below 1 is
    inverted; E = RR + sqrt(RR (RR - 1)). For the CI the limit closest to 1 is used (the lower
    one when OR > 1, the upper one when OR < 1); E = 1 when the CI includes 1.
    """
    if not (or_ > 0 and np.isfinite(or_)):
        raise ValueError(f"odds ratio must be positive and finite, got {or_!r}")
    conv = (lambda x: x) if rare else math.sqrt
    point = _e(conv(or_))
    if ci_low is None and ci_high is None:
        return EValue(point, None)
    lo = ci_low if ci_low is not None else 0.0
    hi = ci_high if ci_high is not None else math.inf
    if lo > hi:
        raise ValueError(f"ci_low {ci_low} > ci_high {ci_high}")
    if lo <= 1 <= hi:
        return EValue(point, 1.0)
    if or_ > 1 and ci_low is not None:
        return EValue(point, _e(conv(lo)))
    if or_ < 1 and ci_high is not None:
        return EValue(point, _e(conv(hi)))
    return EValue(point, None)     # only the limit far from 1 was given


# ----------------------------------------------------------------------------- running
def _headline(adults: pd.DataFrame, defs: Definitions, spec: Spec, boot: int, seed: int,
              cache: bool, cache_dir: str | None) -> dict[str, Any]:
    des = models.design_for(adults)
    out: dict[str, Any] = {"n": int((adults["in_cohort"] == 1).sum())}
    for key, outcome, exposure, term in (("or_q4", "lmm", "quartiles", "mg_q[T.4]"),
                                         ("or_lnmg", "lmm", "ln_mg", "ln_mg"),
                                         ("beta_q4", "ln_smi", "quartiles", "mg_q[T.4]")):
        fit = models.fit_exposure_model(adults, outcome, exposure, 3, design=des)
        r = fit.tidy(exponentiate=outcome == "lmm").set_index("term").loc[term]
        out.update({key: float(r.estimate), f"{key}_lo": float(r.ci_low),
                    f"{key}_hi": float(r.ci_high), f"{key}_p": float(r.p)})
    sp = splines.fit_spline(adults, "lmm", design=des,
                            weighted_knots=spec.analysis("spline_knots") == "weighted")
    out["p_nonlinear"] = float(sp.p_nonlinear)
    col, _label = inflammation.index_column("np", defs)
    rows = adults[adults["in_cohort"] == 1]
    rows = inflammation.with_index_columns(rows, defs, indices=("np",))
    try:
        block = mediation.mediate_block(
            rows, mediators=(col,), outcomes={"lmm": "binomial", "ln_smi": "gaussian"},
            covariates=MODEL3_COVARIATES, boot=boot, seed=seed,
            scheme=spec.analysis("mediation_bootstrap"),  # type: ignore[arg-type]
            cache=cache, cache_dir=cache_dir, progress=False,
            weighting=spec.analysis("mediation_weights"))  # type: ignore[arg-type]
    except mediation.MediationError as exc:   # shown as not estimable, with the reason
        out["mediation_failed"] = str(exc)
        for key in ("pm_np_lmm", "pm_np_smi"):
            out.update({key: np.nan, f"{key}_lo": np.nan, f"{key}_hi": np.nan})
        return out
    out["mediation_failed"] = None
    for outcome, key in (("lmm", "pm_np_lmm"), ("ln_smi", "pm_np_smi")):
        # the chapter's and the multiverse's contrast: Q1 median -> Q4 median of ln-Mg
        res = mediation.q1q4(block[(col, outcome)], rows)
        out.update({key: 100 * res.estimate["pm"], f"{key}_lo": 100 * res.ci_low["pm"],
                    f"{key}_hi": 100 * res.ci_high["pm"]})
    return out


def run(raw: pd.DataFrame, specs: Sequence[Spec] | None = None, boot: int = 200, seed: int = 1,
        *, energy_exclusion: bool = False, cache: bool = True,
        cache_dir: str | None = None) -> "RobustnessResult":
    """The headline estimates for each specification (default: :func:`specifications`).

    ``raw`` is :func:`nhmg_lib.data.readers.load_raw`'s frame (read once by the caller). A cohort is
    built once per distinct ``Definitions``; analysis options reuse the default cohort.
    ``energy_exclusion`` leaves implausible energy intake out of every cohort's domain
    (:func:`nhmg_lib.analyses.models.exclude_energy`, the rule of Tables S1 and S2).
    ``boot`` and ``seed`` set the mediation bootstrap; ``cache``/``cache_dir`` its disk cache.
    """
    specs = list(specs) if specs is not None else specifications()
    cohorts: dict[Definitions, pd.DataFrame] = {}
    rows = []
    for spec in specs:
        defs = spec.defs
        if defs not in cohorts:
            cohort = flow.build_cohort(raw, defs)
            cohorts[defs] = (models.exclude_energy(cohort) if energy_exclusion else cohort).adults
        est = _headline(cohorts[defs], defs, spec, boot, seed, cache, cache_dir)
        rows.append({"spec": spec.name, "field": spec.field, "option": spec.value,
                     "description": spec.description,
                     "rebuilds_cohort": (isinstance(spec.setting, Definitions)
                                         and spec.name != "default"),
                     **est})
    frame = pd.DataFrame(rows).set_index("spec")
    return RobustnessResult(frame=frame, specs=specs, boot=boot, seed=seed)


# ----------------------------------------------------------------------------- results
def format_ci(est: float, lo: float, hi: float, d: int = 2, ratio: bool = False) -> str:
    """``"est (lo, hi)"`` to ``d`` decimals; "not estimable" when the estimate is not finite
    (e.g. a logistic NDE that overflows under raw weights). A ``ratio`` too small to show
    prints as ``<0.01`` (:func:`nhmg_lib.analyses.models.format_ratio`)."""
    if not np.isfinite(est):
        return "not estimable"
    if ratio:
        return models.format_ratio_ci(est, lo, hi, d)
    return f"{est:.{d}f} ({lo:.{d}f}, {hi:.{d}f})"


def _p(p: float) -> str:
    return "" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


@dataclass(frozen=True, eq=False)
class RobustnessResult:
    """Headline estimates per specification.

    ``frame``: index ``spec`` (``"default"``, ``"field=value"``); columns ``field``,
    ``option``, ``description``, ``rebuilds_cohort`` (a definition changed), ``n``
    (cohort size), ``mediation_failed`` (why the mediation models could not be fitted, else
    None) and, for each key of
    :data:`ESTIMATES`, the estimate with ``<key>_lo``/``<key>_hi`` (95% CI; ``p_nonlinear``
    has none) and, for the model estimates, ``<key>_p``. Proportions mediated are in %.
    """

    frame: pd.DataFrame
    specs: list[Spec]
    boot: int
    seed: int

    @property
    def default(self) -> pd.Series:
        return self.frame.loc["default"]

    def formatted(self) -> pd.DataFrame:
        """Text cells, one row per specification, index (choice, option)."""
        f = self.frame
        index = pd.MultiIndex.from_tuples(
            [("Default", "") if s == "default" else (r.field.replace("_", " "), r.option)
             for s, r in f.iterrows()])
        out = pd.DataFrame({
            "n": [f"{int(v):,}" for v in f["n"]],
            ESTIMATES["or_q4"][0]: [format_ci(r.or_q4, r.or_q4_lo, r.or_q4_hi, ratio=True)
                                    for r in f.itertuples()],
            ESTIMATES["beta_q4"][0]: [format_ci(r.beta_q4, r.beta_q4_lo, r.beta_q4_hi, 3)
                                      for r in f.itertuples()],
            ESTIMATES["p_nonlinear"][0]: [_p(v) for v in f["p_nonlinear"]],
            ESTIMATES["pm_np_lmm"][0]: [format_ci(r.pm_np_lmm, r.pm_np_lmm_lo, r.pm_np_lmm_hi, 1)
                                        for r in f.itertuples()],
            ESTIMATES["pm_np_smi"][0]: [format_ci(r.pm_np_smi, r.pm_np_smi_lo, r.pm_np_smi_hi, 1)
                                        for r in f.itertuples()],
        }, index=index)
        return out

    def e_values(self, spec: str = "default", rare: bool = True) -> pd.DataFrame:
        """E-values of the Table 2 Model 3 ORs (Q4 vs Q1 and per 1 ln mg/day) of ``spec``."""
        r = self.frame.loc[spec]
        rows = []
        for key in ("or_q4", "or_lnmg"):
            ev = e_value(r[key], r[f"{key}_lo"], r[f"{key}_hi"], rare=rare)
            rows.append({"estimate": ESTIMATES[key][0], "or": r[key], "ci_low": r[f"{key}_lo"],
                         "ci_high": r[f"{key}_hi"], "e_value": ev.estimate, "e_value_ci": ev.ci})
        return pd.DataFrame(rows).set_index("estimate")
