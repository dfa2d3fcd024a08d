"""The paper's analyses on the cohort: Table 1 (``table1``), Models 1-3 (``models``), splines
and the inflection point (``splines``, ``threshold``), subgroups (``subgroups``), the
inflammation indices (``inflammation``), mediation (``mediation``), robustness to every
analytic choice (``robustness``) and the on-disk cache of costly fits (``cache``).

Results are objects with numbers and text cells; turning them into tables and figures is
:mod:`nhmg_lib.report`'s job. May import: :mod:`nhmg_lib.survey`, :mod:`nhmg_lib.cohort`,
:mod:`nhmg_lib.data`, ``nhmg_lib.errors``; never report or book.
"""
