"""Tables 7 and 8, Figures 4 and 5: mediation of magnesium -> LMM / SMI by the inflammatory
indices, built on :mod:`nhmg_lib.mediation`.

:func:`mediation_block` runs :func:`nhmg_lib.mediation.mediate_block` on the cohort rows
(``adults.in_cohort == 1``) for the mediators ``ln_cally``, ``ln_np``, ``ln_par``, ``ln_rar``
and the outcomes ``lmm`` (logistic; Table 7, Figure 4) and ``ln_smi`` (linear; Table 8,
Figure 5), with the paper's settings: rows resampled, survey weights as prior weights,
covariates (Model 3) at their means/modes, ``a = 1`` vs ``a* = 0``. Results are keyed
``(mediator, outcome)`` as ``mediate_block`` returns them; the bootstrap fits are cached on
disk by :mod:`nhmg_lib.mediation`, so a second call costs a fraction of a second.

:func:`records` gives the ``results.json`` records ``table7/<index>/{cde,nde,nie,te,pm}`` and
``table8/<index>/...`` (``index`` in ``cally np par rar``), plus the contrast between the
cohort medians of ln-Mg in its fourth and first quartiles,
``table7/<index>/q1q4/{nde,nie,te,pm}`` (and ``table8/...``), from
:meth:`nhmg_lib.mediation.MediationResult.at` on the same fits.

:func:`table` is the publication table (one row per mediator: NDE, NIE, TE with 95% bootstrap
CI and P, proportion mediated in %); :func:`path_diagram` draws one mediator's path diagram
and :func:`figure` the four diagrams of an outcome in a 2 x 2 grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import mediation
from .definitions import DEFAULT, MODEL3_COVARIATES, Definitions
from .exhibits import label_of
from .figures import BookFigure
from .tables import PublicationTable, publication_table

__all__ = ["INDICES", "MEDIATORS", "OUTCOMES", "LABELS", "cohort_rows", "mediation_block",
           "quartile_medians", "q1q4", "records", "table", "table_frame", "path_diagram",
           "figure", "path_coefficients", "fit_details"]

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

def _outcome(outcome: str) -> str:
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
                    progress: bool = False) -> MediationBlock:
    """Every index x outcome mediation on the cohort rows, keyed ``(mediator, outcome)`` with
    ``mediator`` in :data:`MEDIATORS` and ``outcome`` in ``lmm``, ``ln_smi``.

    ``defs`` has shaped the cohort frame already (which rows, the NP definition); it is taken
    for a uniform interface. Repeated calls read the fits from the disk cache. A pair that
    cannot be fitted is left out and named in ``.not_estimable`` with the reason.
    """
    block = MediationBlock()
    rows = cohort_rows(adults)
    for mediator in MEDIATORS:
        for outcome, spec in OUTCOMES.items():
            try:
                block.update(mediation.mediate_block(
                    rows, mediators=(mediator,), outcomes={outcome: spec[1]},
                    covariates=MODEL3_COVARIATES, boot=boot, seed=seed, scheme=scheme,  # type: ignore[arg-type]
                    cache_dir=cache_dir, progress=progress))
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
                          "; ".join(f"{LABELS.get(m[3:], m)} and {o}" for m, o in failed)),
        "q1_med": f"{q1:.2f}", "q4_med": f"{q4:.2f}",
        "from_cache": "yes" if fitted and all(r.from_cache for r in fitted) else "no",
    }


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


def q1q4(result: mediation.MediationResult, adults: pd.DataFrame) -> mediation.MediationResult:
    """``result`` for the contrast median(Q4) vs median(Q1) of ln-Mg (no refitting)."""
    lo, hi = quartile_medians(adults, result.exposure)
    return result.at(hi, lo)


def records(adults: pd.DataFrame, defs: Definitions = DEFAULT, boot: int = 1000, seed: int = 1,
            results: Mapping[tuple[str, str], mediation.MediationResult] | None = None
            ) -> list[dict[str, object]]:
    """``table7/<index>/{cde,nde,nie,te,pm}``, ``table8/...`` and the ``.../q1q4/{nde,nie,te,pm}``
    contrast records (``results`` may pass a block computed already)."""
    results = results if results is not None else mediation_block(adults, defs, boot, seed)
    out: list[dict[str, object]] = []
    for outcome, (prefix, _fam, _label) in OUTCOMES.items():
        for index in INDICES:
            res = results.get((f"ln_{index}", outcome))
            if res is None:  # not estimable: keep the ids, with no numbers
                out.extend({"id": f"{prefix}/{index}/{k}", "estimate": None, "ci_low": None,
                            "ci_high": None, "p": None, "n": None}
                           for k in ("cde", "nde", "nie", "te", "pm"))
                continue
            out.extend(res.records(f"{prefix}/{index}"))
            contrast = q1q4(res, adults).records(f"{prefix}/{index}/q1q4")
            out.extend(r for r in contrast if not str(r["id"]).endswith("/cde"))
    return out


# --------------------------------------------------------------------------- table

def _p(p: float) -> str:
    from .models import format_p

    return format_p(p) if np.isfinite(p) else ""


def _ci(res: mediation.MediationResult, k: str, digits: int = 2, scale: float = 1.0) -> str:
    e, lo, hi = (scale * d[k] for d in (res.estimate, res.ci_low, res.ci_high))
    if not np.isfinite(e):
        return ""
    return f"{_num(e, digits)} ({_num(lo, digits)}, {_num(hi, digits)})"


def table_frame(results: Mapping[tuple[str, str], mediation.MediationResult], outcome: str,
                digits: int | None = None, measure: str | None = None) -> pd.DataFrame:
    """Table 7 / 8 as text cells: one row per mediator, column groups NDE, NIE, TE (estimate
    with 95% CI, P) and proportion mediated (%). ``measure`` renames the estimate column
    (default ``OR (95% CI)`` for LMM, ``β (95% CI)`` for SMI)."""
    outcome = _outcome(outcome)
    _prefix, family, _label = OUTCOMES[outcome]
    measure = measure or ("OR (95% CI)" if family == "binomial" else "β (95% CI)")
    digits = digits if digits is not None else (2 if family == "binomial" else 3)
    rows, index = [], []
    for i in INDICES:
        res = results.get((f"ln_{i}", outcome))
        if res is None:
            continue
        cells: dict[tuple[str, str], str] = {}
        for k in ("nde", "nie", "te"):
            cells[(k.upper(), measure)] = _ci(res, k, digits)
            cells[(k.upper(), "P")] = _p(res.p[k])
        cells[("Proportion mediated", "% (95% CI)")] = _ci(res, "pm", 1, 100.0)
        rows.append(cells)
        index.append(LABELS[i])
    df = pd.DataFrame(rows, index=pd.Index(index, name="Mediator"))
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def table(results: Mapping[tuple[str, str], mediation.MediationResult], outcome: str,
          name: str | None = None) -> PublicationTable:
    """Table 7 (``outcome="lmm"``) or Table 8 (``"ln_smi"``/``"smi"``) as a publication table."""
    outcome = _outcome(outcome)
    _prefix, family, lab = OUTCOMES[outcome]
    mine = [r for (_m, o), r in results.items() if o == outcome]
    scale = ("odds ratios of LMM" if family == "binomial"
             else "differences (β) in ln SMI")
    notes = [f"Natural direct (NDE), natural indirect (NIE) and total (TE) effects as {scale} "
             "for a one-unit increase of ln magnesium intake (a = 1 vs a* = 0), mediator model "
             "linear, outcome model with the exposure × mediator interaction, Model 3 covariates "
             "held at their means (numeric) or modes (categorical); survey weights as prior "
             "weights (normalised to mean 1)."]
    if mine:
        n_max = max(r.n for r in mine)
        short = [f"{LABELS[m[3:]]} n = {r.n:,}" for (m, o), r in results.items()
                 if o == outcome and r.n != n_max and m[3:] in LABELS]
        notes.append(f"95% CI: percentiles of {mine[0].boot} nonparametric bootstrap resamples of "
                     "the cohort rows (both models refitted); P: two-sided bootstrap proportion. "
                     f"n = {n_max:,}" + (f" ({'; '.join(short)}: the index needs CRP, measured "
                                         "from 2015–2016)." if short else "."))
    notes.append("Proportion mediated: " + ("NDE (NIE − 1) / (NDE × NIE − 1)" if family == "binomial"
                                            else "NIE / TE") + ", in %.")
    for (m, o), reason in getattr(results, "not_estimable", {}).items():
        if o == outcome:
            notes.append(f"{LABELS.get(m[3:], m)}: not estimable ({reason}).")
    return publication_table(table_frame(results, outcome), caption=CAPTIONS[outcome],
                             name=name or ("table-7" if outcome == "lmm" else "table-8"),
                             stub_header="Mediator", footnotes=notes)


# --------------------------------------------------------------------------- figures

def path_coefficients(result: mediation.MediationResult) -> dict[str, tuple[float, float, float]]:
    """Path coefficients with percentile 95% bootstrap CIs: ``a`` (ln-Mg in the mediator model,
    ``b1``), ``b`` (mediator in the outcome model, ``t2``), ``ab`` (mediator x ln-Mg
    interaction in the outcome model, ``t3``) and ``c`` (ln-Mg in the outcome model, ``t1``).
    Coefficients are on the model scale (log odds for LMM)."""
    ok = ~np.asarray(result.failed, dtype=bool)
    out = {}
    for name, key in (("a", "b1"), ("b", "t2"), ("ab", "t3"), ("c", "t1")):
        d = np.asarray(result.boot_params[key], dtype=float)[ok]
        d = d[np.isfinite(d)]
        lo, hi = (np.quantile(d, [0.025, 0.975]) if d.size else (np.nan, np.nan))
        out[name] = (float(result.params[key]), float(lo), float(hi))
    return out


def _num(x: float, d: int) -> str:
    """``x`` to ``d`` decimals with a true minus sign and no negative zero."""
    t = f"{x:.{d}f}"
    if float(t) == 0:
        t = t.lstrip("-")
    return t.replace("-", "−")


def _draw(ax: Any, result: mediation.MediationResult, mediator_label: str, outcome_label: str,
          fontsize: float = 9.0) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    ax.set_xlim(0, 10)
    ax.set_ylim(-0.2, 6.2)
    ax.axis("off")
    bw, bh = 2.4, 1.1
    boxes = {"x": (1.3, 1.8), "m": (5.0, 5.3), "y": (8.7, 1.8)}
    text = {"x": "Magnesium\n(ln mg/day)", "m": mediator_label, "y": outcome_label}
    for k, (x, y) in boxes.items():
        ax.add_patch(FancyBboxPatch((x - bw / 2, y - bh / 2), bw, bh,
                                    boxstyle="round,pad=0.05,rounding_size=0.15",
                                    fc="#eef3f8", ec="#34495e", lw=1.2))
        ax.text(x, y, text[k], ha="center", va="center", fontsize=fontsize, weight="bold")

    def arrow(p: tuple[float, float], q: tuple[float, float]) -> None:
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=13, lw=1.4,
                                     color="#34495e", shrinkA=0, shrinkB=0))

    arrow((1.8, 1.8 + bh / 2 + 0.08), (5.0 - bw / 2 - 0.05, 5.3 - 0.1))
    arrow((5.0 + bw / 2 + 0.05, 5.3 - 0.1), (8.2, 1.8 + bh / 2 + 0.08))
    arrow((1.3 + bw / 2 + 0.08, 1.8), (8.7 - bw / 2 - 0.08, 1.8))

    pc = path_coefficients(result)
    ci = lambda t, d=3: f"{_num(t[0], d)}\n({_num(t[1], d)}, {_num(t[2], d)})"  # noqa: E731
    small = fontsize - 1
    ax.text(2.55, 3.75, f"a = {ci(pc['a'])}", ha="right", va="center", fontsize=small,
            color="#1f4e79", linespacing=1.2)
    ax.text(7.45, 3.75, f"b = {ci(pc['b'])}\nMg × M = {_num(pc['ab'][0], 3)}", ha="left",
            va="center", fontsize=small, color="#1f4e79", linespacing=1.2)
    logistic = result.family == "binomial"
    meas = "OR" if logistic else "β"
    dd = 2 if logistic else 3

    def eff(k: str, scale: float = 1.0, d: int = dd) -> str:
        e, lo, hi = (scale * v[k] for v in (result.estimate, result.ci_low, result.ci_high))
        return f"{_num(e, d)} ({_num(lo, d)}, {_num(hi, d)})"

    ax.text(5.0, 1.93, f"NDE: {meas} {eff('nde')}", ha="center", va="bottom", fontsize=small)
    ax.text(5.0, 1.05, f"NIE: {meas} {eff('nie')}\nTE: {meas} {eff('te')}\n"
            f"Proportion mediated: {eff('pm', 100.0, 1)}%",
            ha="center", va="top", fontsize=small, linespacing=1.3)


def path_diagram(result: mediation.MediationResult, mediator_label: str, outcome_label: str,
                 ax: Any = None) -> BookFigure:
    """One path diagram: Magnesium -> mediator -> outcome with the path coefficients ``a`` and
    ``b`` (95% bootstrap CI; the Mg x mediator interaction under ``b``), the direct (NDE),
    indirect (NIE) and total effects and the proportion mediated. Draws into ``ax`` if given
    (then the returned figure is ``ax``'s)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        plt.close(fig)
    _draw(ax, result, mediator_label, outcome_label)
    alt = (f"Path diagram of magnesium -> {mediator_label} -> {outcome_label}: NIE "
           f"{result.estimate['nie']:.3g}, proportion mediated {100 * result.estimate['pm']:.1f}%")
    return BookFigure(ax.figure, alt=alt)


def figure(results: Mapping[tuple[str, str], mediation.MediationResult], outcome: str,
           figsize: tuple[float, float] = (10, 7)) -> BookFigure:
    """Figure 4 (``"lmm"``) or Figure 5 (``"ln_smi"``): the four indices' path diagrams, 2 x 2."""
    import matplotlib.pyplot as plt

    outcome = _outcome(outcome)
    _prefix, _fam, label = OUTCOMES[outcome]
    out_label = "Low muscle mass" if outcome == "lmm" else "ln SMI"
    fig, axes = plt.subplots(2, 2, figsize=figsize)
    plt.close(fig)
    for ax, i in zip(axes.ravel(), INDICES):
        res = results.get((f"ln_{i}", outcome))
        if res is None:
            ax.axis("off")
            continue
        _draw(ax, res, f"ln {LABELS[i]}", out_label, fontsize=8.5)
        ax.set_title(f"({'abcd'[INDICES.index(i)]}) {LABELS[i]}", loc="left", fontsize=10,
                     weight="bold")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.95, bottom=0.02, wspace=0.04, hspace=0.12)
    exhibit = label_of("fig-mediation-lmm" if outcome == "lmm" else "fig-mediation-smi")
    return BookFigure(fig, alt=f"{exhibit}: path diagrams of the mediation of magnesium -> "
                               f"{label} by CALLY, NP, PAR and RAR")


class FitDetails:
    """Every fit's :meth:`~nhmg_lib.mediation.MediationResult.summary`, folded away in the web
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
