"""From NHANES files to the analytic cohort: every analytic choice (``definitions``), derived
variables (``variables``) and clinical rules (``clinical``), and the exclusion flow of
Figure 1 (``flow``).

May import: :mod:`nhmg_lib.data`, ``nhmg_lib.errors``; not the survey engine, analyses,
report or book.
"""
