"""What a reader sees: publication tables (``tables``, ``analysis_tables``,
``mediation_report``, ``robustness_report``), figures, one module per kind (``figures`` holds
the shared container and style; ``flow_chart``, ``spline_curves``, ``forest``,
``mediation_diagram``), the exhibit registry (``exhibits``), the paper's published numbers
and findings (``published``, ``findings``), the scorecard (``scorecard``), ``results.json``
(``results``) and provenance (``provenance``).

May import: :mod:`nhmg_lib.analyses` and everything below it; never book or cli.
"""
