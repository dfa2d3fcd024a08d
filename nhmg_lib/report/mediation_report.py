"""Tables 7 and 8, Figures 4 and 5: mediation of magnesium -> LMM / SMI by the inflammatory
indices, built on :mod:`nhmg_lib.analyses.mediation`.

:func:`mediation_block` runs :func:`nhmg_lib.analyses.mediation.mediate_block` on the cohort rows
(``adults.in_cohort == 1``) for the mediators ``ln_cally``, ``ln_np``, ``ln_par``, ``ln_rar``
and the outcomes ``lmm`` (logistic; Table 7, Figure 4) and ``ln_smi`` (linear; Table 8,
Figure 5), with the paper's settings: rows resampled, survey weights as prior weights,
covariates (Model 3) at their means/modes, ``a = 1`` vs ``a* = 0``. Results are keyed
``(mediator, outcome)`` as ``mediate_block`` returns them; the bootstrap fits are cached on
disk by :mod:`nhmg_lib.analyses.mediation`, so a second call costs a fraction of a second.

:func:`records` gives the ``results.json`` records ``table7/<index>/{cde,nde,nie,te,pm}`` and
``table8/<index>/...`` (``index`` in ``cally np par rar``) for ``mediator``'s contrast, and two
contrasts inside the data (:data:`CONTRASTS`), from
:meth:`nhmg_lib.analyses.mediation.MediationResult.at` on the same fits:

* ``.../q1q4/{cde,nde,nie,te,pm}``: from the cohort median of ln-Mg in its first quartile to
  that in its fourth (the book's leading contrast);
* ``.../iqr/{cde,nde,nie,te,pm}``: one interquartile range, from the 25th to the 75th
  percentile of ln-Mg in the cohort (unweighted, R ``quantile`` type 7).

For both, the CDE is evaluated at the mediator's mean (unweighted, in the analysis rows, as
the covariates are held at their unweighted means) instead of ``mediator``'s ``m = 0``. Why
the contrasts differ: the outcome model has an exposure x mediator interaction, so the NDE
is evaluated at ``a*`` and the NIE at ``a`` (module :mod:`nhmg_lib.analyses.mediation`);
``a* = 0`` (1 mg/day) lies far below any observed intake (ln-Mg 2.3-7.7), and there the
interaction term dominates.

Every NDE, NIE, TE and proportion mediated also has ``<id>/design`` (e.g.
``table7/np/q1q4/nie/design``): the same estimate with the CI and P of the design bootstrap
(:func:`design_block`: PSUs resampled within strata, Rao-Wu rescaled weights, the same fits
refitted in every resample, all batched).

:func:`table` is the publication table: one block of rows per contrast (in-data contrasts
first when the cohort frame is passed, then ``mediator``'s), one row per mediator: NDE,
NIE, TE with 95% row-bootstrap CI, design-bootstrap CI (with ``design``) and P, proportion
mediated in %, "not meaningful" when the total effect's CI includes the null
(:func:`pm_verdict`). :func:`prevalence_table` is the rare-outcome check printed beside
Table 7. Figures 4 and 5 are drawn by :mod:`nhmg_lib.report.mediation_diagram`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from nhmg_lib.analyses import inflammation, mediation
from nhmg_lib.cohort.definitions import DEFAULT, MODEL3_COVARIATES, Definitions
from nhmg_lib.report import paper_lines
from nhmg_lib.report.tables import PublicationTable, publication_table

__all__ = ["INDICES", "MEDIATORS", "OUTCOMES", "LABELS", "cohort_rows", "mediation_block",
           "design_block", "design_reasons", "DESIGN_EFFECTS", "pm_verdict",
           "quartile_medians", "q1q4", "records", "table", "table_frame", "fit_details",
           "CONTRASTS", "contrast_points", "contrast", "contrast_block", "contrast_text",
           "contrast_facts", "not_estimable_reasons"]

#: Index names as used in record ids, in table order.
INDICES: tuple[str, ...] = ("cally", "np", "par", "rar")
MEDIATORS: tuple[str, ...] = tuple(f"ln_{i}" for i in INDICES)
#: outcome column -> (record prefix, model family, label)
OUTCOMES: dict[str, tuple[str, mediation.Family, str]] = {
    "lmm": ("table7", "binomial", "LMM"),
    "ln_smi": ("table8", "gaussian", "SMI"),
}
LABELS: dict[str, str] = {"cally": "CALLY", "np": "NP", "par": "PAR", "rar": "RAR"}
CAPTIONS: dict[str, str] = {
    "lmm": "Mediation of the association between magnesium and LMM by inflammatory indices",
    "ln_smi": "Mediation of the association between magnesium and SMI by inflammatory indices",
}

#: Contrasts of ln-Mg the book reports, in table order: key -> row-block label. ``"unit"`` is
#: ``mediator``'s default a* = 0 -> a = 1 (the paper's, kept for replication).
CONTRASTS: dict[str, str] = {
    "q1q4": "Q1 median → Q4 median of ln-Mg",
    "iqr": "Per IQR of ln-Mg (25th → 75th percentile)",
    "unit": "a* = 0 → a = 1 ln mg/day (R mediator's default)",
}


def outcome_key(outcome: str) -> str:
    key = {"smi": "ln_smi", "table7": "lmm", "table8": "ln_smi"}.get(outcome, outcome)
    if key not in OUTCOMES:
        raise mediation.MediationError(f"outcome {outcome!r}; choose one of {list(OUTCOMES)}")
    return key


def cohort_rows(adults: pd.DataFrame) -> pd.DataFrame:
    """The analytic cohort (``in_cohort == 1``) of an adults frame."""
    if "in_cohort" not in adults.columns:
        return adults
    return adults[adults["in_cohort"] == 1]


class MediationBlock(dict):
    """``{(mediator, outcome): MediationResult}`` plus ``not_estimable``: the pairs whose
    full-sample fit failed (e.g. separation in a small domain) with the reason, so tables,
    figures and records show them as not estimable instead of failing."""

    def __init__(self) -> None:
        super().__init__()
        self.not_estimable: dict[tuple[str, str], str] = {}


def mediation_block(adults: pd.DataFrame, defs: Definitions = DEFAULT, boot: int = 1000,
                    seed: int = 1, *, scheme: str = "rows", cache_dir: str | None = None,
                    progress: bool | None = None, weighting: str = "normalised") -> MediationBlock:
    """Every index x outcome mediation on the cohort rows, keyed ``(mediator, outcome)`` with
    ``mediator`` in :data:`MEDIATORS` and ``outcome`` in ``lmm``, ``ln_smi``. ``weighting``:
    how the survey weight enters the models (:data:`nhmg_lib.analyses.mediation.WEIGHTINGS`).

    ``defs`` has shaped the cohort frame already (which rows); it also chooses the NP model
    column (:func:`nhmg_lib.analyses.inflammation.index_column`): the 0/1/2 score, which cannot
    be logged, is modelled untransformed, as in Tables 4-6 and the robustness chapter, and
    stays keyed ``("ln_np", outcome)`` (its result's ``mediator`` names the column used).
    Repeated calls read the fits from the disk cache. A pair that cannot be fitted is named in
    ``.not_estimable`` with the reason (tables show it as a row that says so).
    """
    block = MediationBlock()
    rows = inflammation.with_index_columns(cohort_rows(adults), defs, indices=("np",))
    for index, mediator in zip(INDICES, MEDIATORS):
        column = inflammation.index_column(index, defs)[0] if index == "np" else mediator
        for outcome, spec in OUTCOMES.items():
            try:
                fitted = mediation.mediate_block(
                    rows, mediators=(column,), outcomes={outcome: spec[1]},
                    covariates=MODEL3_COVARIATES, boot=boot, seed=seed, scheme=scheme,  # type: ignore[arg-type]
                    cache_dir=cache_dir, progress=progress, weighting=weighting)  # type: ignore[arg-type]
                block[(mediator, outcome)] = fitted[(column, outcome)]
            except mediation.MediationError as exc:
                block.not_estimable[(mediator, outcome)] = str(exc)
    return block


def block_facts(results: MediationBlock, adults: pd.DataFrame) -> dict[str, str]:
    """Text facts the chapter cites: sample sizes, failed refits, not-estimable pairs, the
    quartile medians of the Q1-to-Q4 contrast and whether the fits came from the cache."""
    rows = cohort_rows(adults)
    q1, q4 = quartile_medians(adults)
    fitted = list(results.values())
    failed = getattr(results, "not_estimable", {})
    return {
        "n_med": f"{len(rows):,}",
        "n_cally": f"{int(pd.to_numeric(rows['cally'], errors='coerce').gt(0).sum()):,}",
        "n_failed": str(sum(r.n_failed for r in fitted)),
        "not_estimable": ("none" if not failed else
                          "; ".join(f"{LABELS.get(m[3:], m)} for {OUTCOMES[o][2] if o in OUTCOMES else o}"
                                    for m, o in failed)),
        "q1_med": f"{q1:.2f}", "q4_med": f"{q4:.2f}",
        "from_cache": "yes" if fitted and all(r.from_cache for r in fitted) else "no",
        **contrast_facts(results, adults),
    }


def contrast_facts(results: Mapping[tuple[str, str], mediation.MediationResult],
                   adults: pd.DataFrame) -> dict[str, str]:
    """Text facts for the chapter's explanation of the contrasts: the observed ln-Mg range,
    the two in-data contrasts in words, the smallest attainable bootstrap P, and the NP
    proportions mediated (%) under ``mediator``'s and the Q1 -> Q4 contrast."""
    x = pd.to_numeric(cohort_rows(adults)["ln_mg"], errors="coerce").dropna()
    out = {"lnmg_min": f"{x.min():.1f}", "lnmg_max": f"{x.max():.1f}",
           "q1q4_text": contrast_text(adults, "q1q4"), "iqr_text": contrast_text(adults, "iqr")}
    floors = [r.p_floor["nie"] for r in results.values()
              if np.isfinite(r.p_floor.get("nie", np.nan))]
    out["p_floor"] = f"{min(floors):.3g}" if floors else "–"
    for outcome, tag in (("lmm", "lmm"), ("ln_smi", "smi")):
        res = results.get(("ln_np", outcome))
        for which in ("unit", "q1q4", "iqr"):
            c = contrast(res, adults, which) if res is not None else None
            pm = c.estimate["pm"] if c is not None else np.nan
            out[f"pm_np_{tag}_{which}"] = (
                "not estimable" if not np.isfinite(pm)
                else "not meaningful (the total effect's CI includes the null)"
                if pm_verdict(c) is not None else f"{format_number(100 * pm, 0)}%")
        t3 = res.params["t3"] if res is not None else np.nan
        out[f"t3_np_{tag}"] = format_number(t3, 3) if np.isfinite(t3) else "not estimable"
    return out


def quartile_medians(adults: pd.DataFrame, exposure: str = "ln_mg") -> tuple[float, float]:
    """Unweighted medians of ``exposure`` in the first and fourth cohort quartiles
    (:func:`nhmg_lib.analyses.mediation.quartile_medians` on the cohort rows)."""
    return mediation.quartile_medians(cohort_rows(adults), exposure)


def contrast_points(adults: pd.DataFrame, exposure: str = "ln_mg") -> dict[str, tuple[float, float]]:
    """``(a_star, a)`` of each contrast of :data:`CONTRASTS`: the quartile medians
    (:func:`quartile_medians`), the unweighted 25th and 75th percentiles of ``exposure`` in
    the cohort (R ``quantile`` type 7), and ``(0, 1)``."""
    x = pd.to_numeric(cohort_rows(adults)[exposure], errors="coerce").dropna().to_numpy()
    p25, p75 = (float(v) for v in np.percentile(x, [25, 75]))
    return {"q1q4": quartile_medians(adults, exposure), "iqr": (p25, p75), "unit": (0.0, 1.0)}


def contrast(result: mediation.MediationResult, adults: pd.DataFrame,
             which: str = "q1q4") -> mediation.MediationResult:
    """``result`` for contrast ``which`` of :data:`CONTRASTS` (no refitting). The in-data
    contrasts evaluate the CDE at the mediator's mean; ``"unit"`` returns ``result`` as
    ``mediator`` computes it (CDE at m = 0)."""
    if which not in CONTRASTS:
        raise mediation.MediationError(f"contrast {which!r}; choose one of {list(CONTRASTS)}")
    if which == "unit":
        return result
    lo, hi = contrast_points(adults, result.exposure)[which]
    return result.at(hi, lo, m="mean")


def contrast_block(results: Mapping[tuple[str, str], mediation.MediationResult],
                   adults: pd.DataFrame, which: str = "q1q4") -> MediationBlock:
    """Every result of a block for contrast ``which`` (not-estimable pairs carried over)."""
    out = MediationBlock()
    out.update({k: contrast(r, adults, which) for k, r in results.items()})
    out.not_estimable.update(getattr(results, "not_estimable", {}))
    return out


def contrast_text(adults: pd.DataFrame, which: str, exposure: str = "ln_mg") -> str:
    """The contrast in words with its values, e.g. ``ln-Mg 5.12 → 6.21 (167 → 498 mg/day)``."""
    lo, hi = contrast_points(adults, exposure)[which]
    return (f"ln-Mg {format_number(lo, 2)} → {format_number(hi, 2)} "
            f"({np.exp(lo):,.0f} → {np.exp(hi):,.0f} mg/day)")


def q1q4(result: mediation.MediationResult, adults: pd.DataFrame) -> mediation.MediationResult:
    """``result`` for the contrast median(Q4) vs median(Q1) of ln-Mg (no refitting; CDE at
    the mediator's mean)."""
    return contrast(result, adults, "q1q4")


#: Effects whose design-bootstrap CI is recorded under ``<id>/design`` (the CDE, evaluated at
#: a mediator value the tables do not show, has only the row-bootstrap record).
DESIGN_EFFECTS: tuple[str, ...] = ("nde", "nie", "te", "pm")
_SUBS: tuple[str, ...] = ("", "/q1q4", "/iqr")


def design_block(adults: pd.DataFrame, defs: Definitions = DEFAULT, boot: int = 1000,
                 seed: int = 1, *, cache_dir: str | None = None,
                 progress: bool = False, weighting: str = "normalised") -> MediationBlock:
    """:func:`mediation_block` with the design bootstrap: PSUs resampled within strata, Rao-Wu
    rescaled weights (:mod:`nhmg_lib.survey.bootstrap`). Same fits, so the same point estimates;
    only the CIs and P values change. All resamples are fitted together and cached on disk."""
    return mediation_block(adults, defs, boot, seed, scheme="design", cache_dir=cache_dir,
                           progress=progress, weighting=weighting)


def _null(id: str) -> dict[str, object]:
    return {"id": id, "estimate": None, "ci_low": None, "ci_high": None, "p": None, "n": None}


def records(adults: pd.DataFrame, defs: Definitions = DEFAULT, boot: int = 1000, seed: int = 1,
            results: Mapping[tuple[str, str], mediation.MediationResult] | None = None,
            design: Mapping[tuple[str, str], mediation.MediationResult] | None = None,
            weighting: str = "normalised") -> list[dict[str, object]]:
    """``table7/<index>/{cde,nde,nie,te,pm}``, ``table8/...`` and the in-data contrasts
    ``.../q1q4/{cde,nde,nie,te,pm}`` and ``.../iqr/{cde,nde,nie,te,pm}`` (CDE at the
    mediator's mean; ``results`` may pass a block computed already), and for each of them but
    the CDE the design-bootstrap record ``<id>/design`` (same estimate; CI and P from
    :func:`design_block`, which ``design`` may pass)."""
    results = (results if results is not None
               else mediation_block(adults, defs, boot, seed, weighting=weighting))
    design = (design if design is not None
              else design_block(adults, defs, boot, seed, weighting=weighting))
    out: list[dict[str, object]] = []
    for outcome, (prefix, _fam, _label) in OUTCOMES.items():
        for index in INDICES:
            key, head = (f"ln_{index}", outcome), f"{prefix}/{index}"
            res, des = results.get(key), design.get(key)
            if res is None:  # not estimable: keep the ids, with no numbers
                out.extend(_null(f"{head}{sub}/{k}") for sub in _SUBS for k in mediation.EFFECTS)
            else:
                out.extend(res.records(head))
                for which in ("q1q4", "iqr"):
                    out.extend(contrast(res, adults, which).records(f"{head}/{which}"))
            for sub, which in zip(_SUBS, ("unit", "q1q4", "iqr")):
                if des is None:
                    out.extend(_null(f"{head}{sub}/{k}/design") for k in DESIGN_EFFECTS)
                    continue
                out.extend(dict(r, id=f"{r['id']}/design")
                           for r in contrast(des, adults, which).records(f"{head}{sub}")
                           if str(r["id"]).rsplit("/", 1)[1] in DESIGN_EFFECTS)
    return out


def design_reasons(design: Mapping[tuple[str, str], mediation.MediationResult]
                   ) -> list[tuple[str, str]]:
    """``(id prefix, reason)`` for the ``.../design`` records of every pair the design
    bootstrap could not fit (e.g. a stratum left with one PSU in a small domain); the prefixes
    name only the ``/design`` ids, so a pair whose row-bootstrap records exist stays explained."""
    return [(f"{p}{stars}/design", why) for p, why in not_estimable_reasons(design)
            for stars in ("/*", "/*/*")]


def not_estimable_reasons(results: Mapping[tuple[str, str], mediation.MediationResult],
                          suffix: str = "") -> list[tuple[str, str]]:
    """``(id prefix, reason)`` for every pair of a block that could not be fitted, e.g.
    ``("table7/cally", "...")`` (``suffix``, e.g. ``"/weighting/none"``, is appended to the
    prefix); its records are kept as nulls by :func:`records`."""
    failed = getattr(results, "not_estimable", {})
    return [(f"{OUTCOMES[o][0]}/{m[3:]}{suffix}", reason)
            for (m, o), reason in failed.items() if o in OUTCOMES]


# --------------------------------------------------------------------------- table

def _p(p: float) -> str:
    from nhmg_lib.analyses.models import format_p

    return format_p(p) if np.isfinite(p) else ""


def p_floor(res: mediation.MediationResult, k: str) -> float:
    """The smallest P the bootstrap can give for effect ``k``: ``2 / (B + 1)`` with B the
    resamples whose effect is finite (failed refits left out), as
    :mod:`nhmg_lib.analyses.mediation` computes the two-sided bootstrap proportion and records
    it in :attr:`~nhmg_lib.analyses.mediation.MediationResult.p_floor`."""
    recorded = float(getattr(res, "p_floor", {}).get(k, float("nan")))
    if np.isfinite(recorded):
        return recorded
    j = mediation.EFFECTS.index(k)
    draws = np.asarray(res.draws, dtype=float)
    n = int(np.isfinite(draws[:, j]).sum()) if draws.ndim == 2 and draws.size else int(res.boot)
    return 2.0 / (n + 1)


def p_text(res: mediation.MediationResult, k: str) -> str:
    """A bootstrap P as tables print it; at its floor (no resample on the far side of the null)
    it is a bound, ``≤0.002`` for 1000 resamples, never a point value."""
    p = float(res.p[k])
    if not np.isfinite(p):
        return ""
    floor = p_floor(res, k)
    if p <= floor * (1 + 1e-9):
        return f"≤{math.ceil(floor * 1000 - 1e-9) / 1000:.3f}"
    return _p(p)


def format_number(x: float, d: int) -> str:
    """``x`` to ``d`` decimals with a true minus sign and no negative zero."""
    t = f"{x:.{d}f}"
    if float(t) == 0:
        t = t.lstrip("-")
    return t.replace("-", "−")


def _ci(res: mediation.MediationResult, k: str, digits: int = 2, scale: float = 1.0) -> str:
    e, lo, hi = (scale * d[k] for d in (res.estimate, res.ci_low, res.ci_high))
    if not np.isfinite(e):
        return ""
    if res.family == "binomial" and k != "pm":  # odds ratios: never "0.00"
        from nhmg_lib.analyses.models import format_ratio_ci

        return format_ratio_ci(e, lo, hi, digits)
    return f"{format_number(e, digits)} ({format_number(lo, digits)}, {format_number(hi, digits)})"


def _limits(res: mediation.MediationResult, k: str, digits: int = 2, scale: float = 1.0) -> str:
    lo, hi = (scale * d[k] for d in (res.ci_low, res.ci_high))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    return f"{format_number(lo, digits)}, {format_number(hi, digits)}"


def _null_value(res: mediation.MediationResult) -> float:
    return 1.0 if res.family == "binomial" else 0.0


def pm_verdict(res: mediation.MediationResult,
               design: mediation.MediationResult | None = None) -> str | None:
    """Why the proportion mediated of ``res`` is not meaningful, or None when it is.

    A proportion is a ratio with the total effect in its denominator: when the total effect's
    95% CI (from the rows or, when given, the design bootstrap) includes the null, the
    denominator may be nil or of either sign and the ratio can take any value. The test of
    the indirect effect (its P) is then the statement that can be made."""
    null = _null_value(res)
    name = "OR 1" if res.family == "binomial" else "β 0"
    for which, r in (("row", res), ("design", design)):
        if r is None:
            continue
        lo, hi = r.ci_low["te"], r.ci_high["te"]
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= null <= hi:
            return f"the total effect's {which}-bootstrap 95% CI includes {name}"
    return None


def _pm_cell(res: mediation.MediationResult, design: mediation.MediationResult | None) -> str:
    why = pm_verdict(res, design)
    if why is None:
        return _ci(res, "pm", 1, 100.0)
    null = "1" if res.family == "binomial" else "0"
    return f"not meaningful (TE CI includes {null}; NIE P {p_text(res, 'nie')})"


def table_frame(results: Mapping[tuple[str, str], mediation.MediationResult], outcome: str,
                digits: int | None = None, measure: str | None = None,
                design: Mapping[tuple[str, str], mediation.MediationResult] | None = None
                ) -> pd.DataFrame:
    """Table 7 / 8 as text cells: one row per mediator, column groups NDE, NIE, TE (estimate
    with 95% row-bootstrap CI, the design-bootstrap CI when ``design`` is given, P) and
    proportion mediated (%; "not meaningful" when the total effect's CI includes the null,
    :func:`pm_verdict`). ``measure`` renames the estimate column (default ``OR (95% CI)``
    for LMM, ``β (95% CI)`` for SMI)."""
    outcome = outcome_key(outcome)
    _prefix, family, _label = OUTCOMES[outcome]
    measure = measure or ("OR (95% CI)" if family == "binomial" else "β (95% CI)")
    digits = digits if digits is not None else (2 if family == "binomial" else 3)
    rows, index = [], []
    failed = getattr(results, "not_estimable", {})
    for i in INDICES:
        res = results.get((f"ln_{i}", outcome))
        if res is None:  # kept as a row that says so; the table's note gives the reason
            if (f"ln_{i}", outcome) in failed:
                rows.append({(k.upper(), c): ("not estimable" if c != "P" else "")
                             for k in ("nde", "nie", "te") for c in (measure, "P")}
                            | {("Proportion mediated", "% (95% CI)"): "not estimable"})
                index.append(LABELS[i])
            continue
        des = design.get((f"ln_{i}", outcome)) if design is not None else None
        cells: dict[tuple[str, str], str] = {}
        for k in ("nde", "nie", "te"):
            cells[(k.upper(), measure)] = _ci(res, k, digits)
            if design is not None:
                cells[(k.upper(), "design CI")] = _limits(des, k, digits) if des else "–"
            cells[(k.upper(), "P")] = p_text(res, k)
        cells[("Proportion mediated", "% (95% CI)")] = _pm_cell(res, des)
        if design is not None:
            cells[("Proportion mediated", "design CI")] = (
                _limits(des, "pm", 1, 100.0) if des and pm_verdict(res, des) is None else "–")
        rows.append(cells)
        index.append(LABELS[i])
    df = pd.DataFrame(rows, index=pd.Index(index, name="Mediator"))
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def ci_widening(results: Mapping[tuple[str, str], mediation.MediationResult],
                design: Mapping[tuple[str, str], mediation.MediationResult],
                adults: pd.DataFrame, which: str = "q1q4") -> pd.Series:
    """Design-bootstrap 95% CI width over the row-bootstrap one (on the log scale for odds
    ratios), for the NDE, NIE and TE of every pair fitted by both, at contrast ``which``."""
    out = {}
    for key, res in results.items():
        if key not in design:
            continue
        r, d = contrast(res, adults, which), contrast(design[key], adults, which)
        for k in ("nde", "nie", "te"):
            f = np.log if res.family == "binomial" else (lambda x: x)
            with np.errstate(all="ignore"):
                wr = f(r.ci_high[k]) - f(r.ci_low[k])
                wd = f(d.ci_high[k]) - f(d.ci_low[k])
            out[(key[0], key[1], k)] = wd / wr if wr > 0 else np.nan
    return pd.Series(out, dtype=float)


def table(results: Mapping[tuple[str, str], mediation.MediationResult], outcome: str,
          name: str | None = None, *, adults: pd.DataFrame | None = None,
          design: Mapping[tuple[str, str], mediation.MediationResult] | None = None
          ) -> PublicationTable:
    """Table 7 (``outcome="lmm"``) or Table 8 (``"ln_smi"``/``"smi"``) as a publication table.

    With the cohort frame ``adults`` the table leads with the contrasts inside the data (Q1
    median -> Q4 median, per IQR; one block of rows each) and keeps ``mediator``'s a* = 0 ->
    a = 1 as the last block, the paper's; without it, only the latter, one row per mediator.
    With ``design`` (:func:`design_block`) each effect also shows its design-bootstrap CI.
    """
    outcome = outcome_key(outcome)
    _prefix, family, lab = OUTCOMES[outcome]
    mine = [r for (_m, o), r in results.items() if o == outcome]
    scale = ("odds ratios of LMM" if family == "binomial"
             else "differences (β) in ln SMI")
    if adults is None:
        frame = table_frame(results, outcome, design=design)
        notes = [f"Natural direct (NDE), natural indirect (NIE) and total (TE) effects as {scale} "
                 "for a one-unit increase of ln magnesium intake (a = 1 vs a* = 0), mediator model "
                 "linear, outcome model with the exposure × mediator interaction, Model 3 covariates "
                 "held at their means (numeric) or modes (categorical); " + _weights_text(mine) + "."]
    else:
        frame = pd.concat({CONTRASTS[w]: table_frame(
            contrast_block(results, adults, w), outcome,
            design=None if design is None else contrast_block(design, adults, w))
            for w in CONTRASTS})
        notes = [f"Natural direct (NDE), natural indirect (NIE) and total (TE) effects as {scale} "
                 f"for three changes of ln magnesium intake: {contrast_text(adults, 'q1q4')} "
                 f"(medians of the first and fourth quartiles), {contrast_text(adults, 'iqr')} "
                 "(one interquartile range) and a* = 0 → a = 1 (R mediator's default; the paper "
                 "names the package but not the contrast; ln-Mg 0 is 1 mg/day, outside the data). The same fits serve all "
                 "three: with the exposure × mediator interaction the NDE and NIE depend on where "
                 "the change is evaluated. Mediator model linear, outcome model with the interaction, "
                 "Model 3 covariates held at their means (numeric) or modes (categorical); "
                 + _weights_text(mine) + "."]
    if mine:
        n_max = max(r.n for r in mine)
        short = [f"{LABELS[m[3:]]} n = {r.n:,}" for (m, o), r in results.items()
                 if o == outcome and r.n != n_max and m[3:] in LABELS]
        floors = [r.p_floor["nie"] for r in mine if np.isfinite(r.p_floor.get("nie", np.nan))]
        floor = min(floors) if floors else float("nan")
        notes.append(f"95% CI: percentiles of {mine[0].boot} nonparametric bootstrap resamples of "
                     "the cohort rows (both models refitted), as the R package mediator the paper "
                     "used; P: two-sided bootstrap proportion "
                     f"(≤{math.ceil(floor * 1000 - 1e-9) / 1000:.3f} is 2/(B + 1), B usable "
                     "resamples: no resample on the far side of the null, the smallest P the "
                     "resamples can show). "
                     f"n = {n_max:,}" + (f" ({'; '.join(short)}: the index needs CRP, measured "
                                         "from 2015 to 2018)." if short else "."))
        if design is not None:
            boot = next(iter(design.values())).boot if design else mine[0].boot
            notes.append(f"Design CI: percentiles of {boot} design bootstrap resamples (PSUs "
                         "drawn with replacement within the NHANES strata, Rao–Wu rescaled "
                         "weights), which respect the clustered sample; rows resampled one by "
                         "one ignore it. Same fits, so the same estimates.")
    notes.append("Proportion mediated: " + ("NDE (NIE − 1) / (NDE × NIE − 1)" if family == "binomial"
                                            else "NIE / TE") + ", in %; \"not meaningful\" when the "
                 "95% CI of the total effect (row or design bootstrap) includes the null "
                 f"({'OR 1' if family == 'binomial' else 'β 0'}): a share of an effect that may be "
                 "nil has no meaning; the test of the indirect effect (NIE P) is then the result.")
    if family == "binomial":
        notes.append("Odds-ratio scale: the natural effects equal the risk-ratio effects of the "
                     "mediation formulas only when LMM is rare (see the prevalence table).")
    for (m, o), reason in getattr(results, "not_estimable", {}).items():
        if o == outcome:
            notes.append(f"{LABELS.get(m[3:], m)}: not estimable ({reason}).")
    for (m, o), r in results.items():
        if o == outcome and not r.mediator.startswith("ln_"):
            notes.append(f"{LABELS.get(m[3:], m)}: {inflammation.INDEX_UNITS.get(r.mediator, r.mediator)}, "
                         "modelled untransformed (a score of 0 has no logarithm).")
    out = publication_table(frame, caption=CAPTIONS[outcome],
                            name=name or ("table-7" if outcome == "lmm" else "table-8"),
                            stub_header="Mediator", footnotes=notes)
    # a paper value with no row of the book's goes to a footnote; an NP other than ln NP (the
    # 0/1/2 score) is not the paper's, so the paper's NP values are not set beside it
    ids = paper_lines.exhibit_ids("table-7" if outcome == "lmm" else "table-8")
    np_fit = results.get(("ln_np", outcome))
    if np_fit is not None and np_fit.mediator != "ln_np":
        ids = [i for i in ids if "/np/" not in i and not i.endswith("/np")]
    return paper_lines.beside(out, ids=ids, missing="note")


def _weights_text(results) -> str:
    """How the survey weight entered the models of ``results`` (one phrase)."""
    how = {getattr(r, "weighting", "normalised") for r in results} or {"normalised"}
    words = {"normalised": "survey weights as prior weights (normalised to mean 1)",
             "raw": "the raw survey weights as prior weights",
             "none": "unweighted models"}
    return " / ".join(words.get(h, h) for h in sorted(how))


class FitDetails:
    """Every fit's :meth:`~nhmg_lib.analyses.mediation.MediationResult.summary`, folded away in the web
    book (a ``<details>`` element) and reduced to a pointer in the PDF, where eight pages of
    fixed-width text would only repeat Tables 7 and 8."""

    def __init__(self, results: Mapping[tuple[str, str], mediation.MediationResult]):
        self.results = dict(results)

    def __str__(self) -> str:
        return "\n\n".join(r.summary() for r in self.results.values())

    def _repr_html_(self) -> str:
        import html
        return (f"<details class=\"nhmg-fit-details\"><summary>Settings and estimates of the "
                f"{len(self.results)} mediation fits</summary><pre>{html.escape(str(self))}</pre>"
                "</details>")

    def _repr_markdown_(self) -> str:
        return (f"The settings of the {len(self.results)} mediation fits (sample sizes, "
                "resamples, failed refits, seeds) are printed in the web edition of this chapter; "
                "their estimates are in Tables 7 and 8 and in `results.json` (`nhmg results`).")

    def __repr__(self) -> str:
        return str(self)


def fit_details(results: Mapping[tuple[str, str], mediation.MediationResult]) -> FitDetails:
    """The fits' text summaries for the book (see :class:`FitDetails`)."""
    return FitDetails(results)


# --------------------------------------------------------------------------- rare outcome

_BY_LABELS = {"race": "Race/ethnicity", "gender": "Sex"}


def prevalence_table(adults: pd.DataFrame, name: str = "table-lmm-prevalence") -> PublicationTable:
    """The rare-outcome check of Table 7: survey-weighted LMM prevalence in the cohort, overall,
    by race/ethnicity and by sex (:func:`nhmg_lib.analyses.prevalence.prevalence`)."""
    from nhmg_lib.analyses.prevalence import RARE_BELOW, prevalence

    p = prevalence(adults, "lmm", by=tuple(_BY_LABELS))
    index = [("All participants", "") if v == "All" else (_BY_LABELS[v], lv) for v, lv in p.index]
    frame = pd.DataFrame({
        "n": [f"{int(n):,}" for n in p["n"]],
        "Weighted prevalence, % (95% CI)": [
            f"{100 * r.prevalence:.1f} ({100 * max(r.ci_low, 0):.1f}, {100 * r.ci_high:.1f})"
            for r in p.itertuples()],
        f"Rare (< {RARE_BELOW:.0%})?": ["yes" if r else "no" for r in p["rare"]],
    }, index=pd.MultiIndex.from_tuples(index))
    return publication_table(
        frame, name=name, stub_header="Group", formatter=str, align=["r", "r", "c"],
        caption="How common is low muscle mass? The rare-outcome check of the odds-ratio mediation",
        footnotes=["Survey-weighted proportion with LMM among the cohort, the cohort a domain of "
                   "the NHANES design (strata, PSUs, dietary weights); 95% CI from the linearised "
                   "standard error, t on the design degrees of freedom.",
                   f"Rare: prevalence below {RARE_BELOW:.0%}, where an odds ratio is close to the "
                   "risk ratio. Where LMM is common, the odds ratios of Table 7 lie further from 1 "
                   "than the risk ratios, and the proportion mediated computed from them is not "
                   "the risk-ratio proportion."])


def prevalence_facts(adults: pd.DataFrame) -> dict[str, str]:
    """Text facts for the chapter: the overall weighted LMM prevalence, the group with the
    highest prevalence and its value, and how many groups are not rare."""
    from nhmg_lib.analyses.prevalence import prevalence

    p = prevalence(adults, "lmm", by=tuple(_BY_LABELS))
    groups = p.drop(index="All", level=0)
    top = groups["prevalence"].idxmax()
    return {"prev_all": f"{100 * p.loc[('All', ''), 'prevalence']:.1f}%",
            "prev_top_group": str(top[1]), "prev_top": f"{100 * groups['prevalence'].max():.1f}%",
            "prev_n_common": str(int((~groups["rare"]).sum())),
            "prev_common_groups": (", ".join(lv for (_v, lv) in groups.index[~groups["rare"]])
                                   or "none")}


def design_facts(results: Mapping[tuple[str, str], mediation.MediationResult],
                 design: Mapping[tuple[str, str], mediation.MediationResult],
                 adults: pd.DataFrame) -> dict[str, str]:
    """How much wider the design-bootstrap CIs are than the row-bootstrap ones
    (:func:`ci_widening`, Q1 -> Q4 contrast): the median ratio and the range, in words."""
    w = ci_widening(results, design, adults).dropna()
    if w.empty:
        return {"design_widening": "–", "design_widening_range": "–"}

    def times(x: float) -> str:
        return f"{x:.2f} times"
    return {"design_widening": times(float(w.median())),
            "design_widening_range": f"{w.min():.2f} to {w.max():.2f}"}
