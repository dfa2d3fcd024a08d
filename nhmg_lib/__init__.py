"""nhmg_lib: replication of Zhu et al., dietary magnesium and low muscle mass (NHANES 2011-2018).

Subpackages, in the order the pipeline runs (each may import only those before it; the
``survey`` engine imports nothing of the others):

- :mod:`nhmg_lib.data` — NHANES files: catalogue, download/cache/manifest, XPT readers, codes,
  synthetic NHANES-shaped data, real-or-synthetic data mode.
- :mod:`nhmg_lib.cohort` — analytic definitions, derived variables, clinical rules, the
  exclusion flow.
- :mod:`nhmg_lib.survey` — design-based estimation with no NHANES knowledge: design, GLMs and
  Wald tests, descriptive statistics, batched fits, bootstrap multipliers.
- :mod:`nhmg_lib.analyses` — the paper's analyses: Table 1, Models 1-3, splines, threshold,
  subgroups, inflammation indices, mediation, robustness.
- :mod:`nhmg_lib.report` — what a reader sees: publication tables, figures, the paper's
  published numbers, findings, scorecard, exhibit registry, ``results.json``, provenance.
- :mod:`nhmg_lib.book` — chapter set-up, the book build, the Sphinx extensions.
- :mod:`nhmg_lib.cli` — the ``nhmg`` command.

``nhmg_lib.errors`` (the error base) and ``__version__`` may be imported from anywhere.
``tests/test_layout.py`` holds the tree to these rules.
"""

__version__ = "0.1.0"
