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

:func:`table` is the publication table: one block of rows per contrast (in-data contrasts
first when the cohort frame is passed, then ``mediator``'s), one row per mediator: NDE,
NIE, TE with 95% bootstrap CI and P, proportion mediated in %. Figures 4 and 5 are drawn by
:mod:`nhmg_lib.report.mediation_diagram`.
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
                    progress: bool = False, weighting: str = "normalised") -> MediationBlock:
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
            pm = contrast(res, adults, which).estimate["pm"] if res is not None else np.nan
            out[f"pm_np_{tag}_{which}"] = (f"{format_number(100 * pm, 0)}%" if np.isfinite(pm)
                                           else "not estimable")
        t3 = res.params["t3"] if res is not None else np.nan
        out[f"t3_np_{tag}"] = format_number(t3, 3) if np.isfinite(t3) else "not estimable"
    return out


def quartile_medians(adults: pd.DataFrame, exposure: str = "ln_mg") -> tuple[float, float]:
    """Unweighted medians of ``exposure`` in the first and fourth cohort quartiles (``mg_q``
    where present, else quartiles computed on the cohort)."""
    rows = cohort_rows(adults)
    x = pd.to_numeric(rows[exposure], errors="coerce")
    if "mg_q" in rows.columns and rows["mg_q"].notna().any():
        q = pd.to_numeric(rows["mg_q"], errors="coerce")
    else:
        q = pd.qcut(x, 4, labels=False) + 1
    return float(x[q == 1].median()), float(x[q == 4].median())


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


def records(adults: pd.DataFrame, defs: Definitions = DEFAULT, boot: int = 1000, seed: int = 1,
            results: Mapping[tuple[str, str], mediation.MediationResult] | None = None,
            weighting: str = "normalised") -> list[dict[str, object]]:
    """``table7/<index>/{cde,nde,nie,te,pm}``, ``table8/...`` and the in-data contrasts
    ``.../q1q4/{cde,nde,nie,te,pm}`` and ``.../iqr/{cde,nde,nie,te,pm}`` (CDE at the
    mediator's mean; ``results`` may pass a block computed already)."""
    results = (results if results is not None
               else mediation_block(adults, defs, boot, seed, weighting=weighting))
    out: list[dict[str, object]] = []
    for outcome, (prefix, _fam, _label) in OUTCOMES.items():
        for index in INDICES:
            res = results.get((f"ln_{index}", outcome))
            if res is None:  # not estimable: keep the ids, with no numbers
                out.extend({"id": f"{prefix}/{index}{sub}/{k}", "estimate": None, "ci_low": None,
                            "ci_high": None, "p": None, "n": None}
                           for sub in ("", "/q1q4", "/iqr") for k in mediation.EFFECTS)
                continue
            out.extend(res.records(f"{prefix}/{index}"))
            for which in ("q1q4", "iqr"):
                out.extend(contrast(res, adults, which).records(f"{prefix}/{index}/{which}"))
    return out


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


def table_frame(results: Mapping[tuple[str, str], mediation.MediationResult], outcome: str,
                digits: int | None = None, measure: str | None = None) -> pd.DataFrame:
    """Table 7 / 8 as text cells: one row per mediator, column groups NDE, NIE, TE (estimate
    with 95% CI, P) and proportion mediated (%). ``measure`` renames the estimate column
    (default ``OR (95% CI)`` for LMM, ``β (95% CI)`` for SMI)."""
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
        cells: dict[tuple[str, str], str] = {}
        for k in ("nde", "nie", "te"):
            cells[(k.upper(), measure)] = _ci(res, k, digits)
            cells[(k.upper(), "P")] = p_text(res, k)
        cells[("Proportion mediated", "% (95% CI)")] = _ci(res, "pm", 1, 100.0)
        rows.append(cells)
        index.append(LABELS[i])
    df = pd.DataFrame(rows, index=pd.Index(index, name="Mediator"))
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def table(results: Mapping[tuple[str, str], mediation.MediationResult], outcome: str,
          name: str | None = None, *, adults: pd.DataFrame | None = None) -> PublicationTable:
    """Table 7 (``outcome="lmm"``) or Table 8 (``"ln_smi"``/``"smi"``) as a publication table.

    With the cohort frame ``adults`` the table leads with the contrasts inside the data (Q1
    median -> Q4 median, per IQR; one block of rows each) and keeps ``mediator``'s a* = 0 ->
    a = 1 as the last block, the paper's; without it, only the latter, one row per mediator.
    """
    outcome = outcome_key(outcome)
    _prefix, family, lab = OUTCOMES[outcome]
    mine = [r for (_m, o), r in results.items() if o == outcome]
    scale = ("odds ratios of LMM" if family == "binomial"
             else "differences (β) in ln SMI")
    if adults is None:
        frame = table_frame(results, outcome)
        notes = [f"Natural direct (NDE), natural indirect (NIE) and total (TE) effects as {scale} "
                 "for a one-unit increase of ln magnesium intake (a = 1 vs a* = 0), mediator model "
                 "linear, outcome model with the exposure × mediator interaction, Model 3 covariates "
                 "held at their means (numeric) or modes (categorical); " + _weights_text(mine) + "."]
    else:
        frame = pd.concat({CONTRASTS[w]: table_frame(contrast_block(results, adults, w), outcome)
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
                     "the cohort rows (both models refitted); P: two-sided bootstrap proportion "
                     f"(≤{math.ceil(floor * 1000 - 1e-9) / 1000:.3f} is 2/(B + 1), B usable "
                     "resamples: no resample on the far side of the null, the smallest P the "
                     "resamples can show). "
                     f"n = {n_max:,}" + (f" ({'; '.join(short)}: the index needs CRP, measured "
                                         "from 2015 to 2018)." if short else "."))
    notes.append("Proportion mediated: " + ("NDE (NIE − 1) / (NDE × NIE − 1)" if family == "binomial"
                                            else "NIE / TE") + ", in %.")
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
