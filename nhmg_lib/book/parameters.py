"""The parameters every chapter starts with, and what each chapter's calls need from them.

Each chapter's first code cell is tagged ``parameters`` (papermill's convention) and holds
plain assignments, the same five in every chapter::

    definitions = {}            # open definitions changed, e.g. {"np_index": "score"}
    energy_exclusion = False    # True: leave out implausible energy intake (the rule of Tables S1, S2)
    contrast = "q1q4"           # change of magnesium for mediation: "q1q4", "iqr" or "unit"
    weighting = "normalised"    # survey weights in the mediation models: "normalised", "raw", "none"
    resamples = 1000            # bootstrap resamples

The next cell turns them into one :class:`ChapterParameters` (validated: a misspelt option
fails there, naming the choices) and every later call takes what it needs from it:
``params.cohort(context)`` (definitions and energy exclusion), ``params.defs``,
``params.mediation(adults)`` (definitions, weighting, resamples), ``params.records(...)``, and
so on. A notebook run with other values (by hand, or by :func:`nhmg_lib.book.notebooks.execute`
with ``parameters=``, which injects a cell after the tagged one as papermill does) changes the
whole chapter consistently.

The energy exclusion narrows the cohort *domain* (``in_cohort``); the survey design keeps every
PSU, and the magnesium quartiles stay those of the whole cohort, as in Tables S1 and S2.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

__all__ = ["ChapterParameters", "CONTRASTS", "WEIGHTINGS", "FIELDS"]

#: Changes of ln-Mg the mediation results can be read at (report.mediation_report.CONTRASTS).
CONTRASTS: tuple[str, ...] = ("q1q4", "iqr", "unit")
#: How the survey weight enters the mediation models (analyses.mediation.WEIGHTINGS).
WEIGHTINGS: tuple[str, ...] = ("normalised", "raw", "none")
#: The parameter names, in the order of the parameters cell.
FIELDS: tuple[str, ...] = ("definitions", "energy_exclusion", "contrast", "weighting", "resamples")

_WORDS = {
    "energy_exclusion": "implausible energy intake left out",
    "contrast": {"q1q4": "Q1 median → Q4 median of ln-Mg", "iqr": "one IQR of ln-Mg",
                 "unit": "ln-Mg 0 → 1 (as the paper)"},
    "weighting": {"normalised": "weights scaled to mean 1", "raw": "raw survey weights",
                  "none": "unweighted"},
}


@dataclass(frozen=True)
class ChapterParameters:
    """A chapter's parameters (module docstring); defaults are the book's."""

    definitions: Mapping[str, str] = field(default_factory=dict)
    energy_exclusion: bool = False
    contrast: str = "q1q4"
    weighting: str = "normalised"
    resamples: int = 1000

    def __post_init__(self) -> None:
        from nhmg_lib.cohort.definitions import OPTIONS, Definitions

        unknown = sorted(set(self.definitions) - set(OPTIONS))
        if unknown:
            raise ValueError(f"definitions: {unknown} are not open definitions; choose among "
                             f"{list(OPTIONS)}")
        Definitions(**dict(self.definitions))  # validates every value
        object.__setattr__(self, "definitions", dict(self.definitions))
        if not isinstance(self.energy_exclusion, bool):
            raise ValueError(f"energy_exclusion must be True or False, not {self.energy_exclusion!r}")
        if self.contrast not in CONTRASTS:
            raise ValueError(f"contrast={self.contrast!r}; choose one of {list(CONTRASTS)}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting={self.weighting!r}; choose one of {list(WEIGHTINGS)}")
        if isinstance(self.resamples, bool) or not isinstance(self.resamples, int) or self.resamples < 1:
            raise ValueError(f"resamples must be a positive whole number, not {self.resamples!r}")

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> "ChapterParameters":
        """The parameters as a chapter's cell assigned them (missing names keep the default)."""
        return cls(**{k: namespace[k] for k in FIELDS if k in namespace})

    # ------------------------------------------------------------------ what the calls need
    @property
    def defs(self):
        """The :class:`~nhmg_lib.cohort.definitions.Definitions` these parameters choose."""
        from nhmg_lib.cohort.definitions import Definitions

        return Definitions(**self.definitions)

    def cohort(self, context: Any):
        """The cohort of ``context``'s data under :attr:`defs`; with ``energy_exclusion`` its
        domain also leaves out implausible energy intake (a last step of the flow)."""
        from nhmg_lib.analyses.models import exclude_energy
        from nhmg_lib.cohort.flow import cohort_from_dir

        cohort = cohort_from_dir(context.data_dir, self.defs)
        return exclude_energy(cohort) if self.energy_exclusion else cohort

    def mediation(self, adults, **options):
        """Tables 7 and 8 (:func:`nhmg_lib.report.mediation_report.mediation_block`) under these
        definitions, weighting and resamples."""
        from nhmg_lib.report import mediation_report

        return mediation_report.mediation_block(adults, self.defs, boot=self.resamples,
                                                weighting=self.weighting, **options)

    def records(self, context: Any, cohort=None) -> list[dict]:
        """Every ``results.json`` record (:func:`nhmg_lib.report.results.collect`) under these
        parameters."""
        from nhmg_lib.report import results

        cohort = cohort if cohort is not None else self.cohort(context)
        return results.collect(context.data_dir, self.defs, boot=self.resamples, cohort=cohort,
                               weighting=self.weighting)

    def robustness(self, raw, **options):
        """The robustness chapter's run (:func:`nhmg_lib.analyses.robustness.run`): one choice
        changed at a time from these definitions and this mediation weighting, every cohort
        with the energy exclusion when it is on, ``resamples`` mediation resamples. The
        proportions mediated stay at the Q1 -> Q4 contrast whatever ``contrast`` says: the
        specifications are compared on one change of magnesium, as in the multiverse."""
        from nhmg_lib.analyses import robustness

        return robustness.run(raw, self.robustness_specs(), boot=self.resamples, seed=1,
                              energy_exclusion=self.energy_exclusion, **options)

    def robustness_specs(self):
        """The robustness specifications: these definitions and this mediation weighting as
        the starting point, then one other option at a time."""
        from nhmg_lib.analyses import robustness

        return robustness.specifications(self.defs, {"mediation_weights": self.weighting})

    def multiverse_settings(self) -> dict[str, list[str]]:
        """The multiverse grid restricted to the choices these parameters fix (nothing fixed
        by default: every combination)."""
        settings = {k: [v] for k, v in self.definitions.items()}
        if self.energy_exclusion:
            settings["energy_exclusion"] = ["yes"]
        if self.weighting != "normalised":
            settings["mediation_weighting"] = [self.weighting]
        return settings

    @property
    def contrast_phrase(self) -> str:
        """The mediation contrast as a figure caption says it ("for the change of ln-Mg ...")."""
        return {"q1q4": "from the median of its first quartile to that of its fourth",
                "iqr": "over one interquartile range, from its 25th to its 75th percentile",
                "unit": "from 0 to 1 (1 to 2.7 mg/day, the paper's contrast)"}[self.contrast]

    def with_(self, **changes: Any) -> "ChapterParameters":
        return replace(self, **changes)

    # ------------------------------------------------------------------ what a reader sees
    def changed(self, defaults: "ChapterParameters | None" = None) -> dict[str, Any]:
        """The parameters that differ from ``defaults`` (the book's)."""
        base = defaults or ChapterParameters()
        return {k: getattr(self, k) for k in FIELDS if getattr(self, k) != getattr(base, k)}

    def describe(self, everything: bool = False) -> str:
        """The parameters that differ from the book's in words (``everything``: all of them),
        e.g. "NP index: score; implausible energy intake left out"."""
        from nhmg_lib.cohort.definitions import DEFAULT

        base = ChapterParameters()
        show = (lambda k: True) if everything else (lambda k: getattr(self, k) != getattr(base, k))
        parts = [f"{k.replace('_', ' ').replace('np ', 'NP ')}: {v.replace('_', ' ')}"
                 for k, v in self.definitions.items() if everything or getattr(DEFAULT, k) != v]
        if self.energy_exclusion or everything:
            parts.append(_WORDS["energy_exclusion"] if self.energy_exclusion
                         else "every cohort member (no energy exclusion)")
        if show("contrast"):
            parts.append(f"mediation contrast: {_WORDS['contrast'][self.contrast]}")
        if show("weighting"):
            parts.append(f"mediation weights: {_WORDS['weighting'][self.weighting]}")
        if show("resamples"):
            parts.append(f"{self.resamples:,} bootstrap resamples")
        return "; ".join(parts) or "the book's defaults"
