"""nhmg_lib: replication of Zhu et al., dietary magnesium and low muscle mass (NHANES 2011-2018).

Modules, one concern each (CONTRIBUTING.md has the contracts between them):

- data: ``catalog`` (files and columns), ``sources``/``fetch``/``manifest`` (download, cache,
  checksums), ``readers`` (XPT to one frame), ``synthetic`` (NHANES-shaped fake data),
  ``datamode`` (real or synthetic for the book)
- definitions: ``definitions`` (every analytic choice), ``variables``/``clinical``/``codes``
  (derived variables), ``cohort`` (exclusion flow)
- estimation: ``design`` and ``survey`` (design-based GLMs, Wald tests), ``descriptive``
  (svymean, quantiles, Rao-Scott), ``models`` (Models 1-3), ``splines``, ``threshold``,
  ``subgroups``, ``inflammation``, ``mediation``/``batched``/``bootstrap``
- exhibits: ``exhibits`` (the paper's tables and figures and their numbers), ``table1``, ``tables``, ``figures``, ``forest``, ``mediation_report``,
  ``robustness``, ``scorecard``, ``findings`` (claims in words, checked), ``published``
  (the paper's numbers and findings), ``results``
  (results.json), ``provenance``
- book and CLI: ``book``, ``build``, ``sphinx_scripts``, ``sphinx_exhibits`` (paper numbering,
  CSV downloads), ``cli``
"""

__version__ = "0.1.0"
