"""nhmg_lib: replication of Zhu et al., dietary magnesium and low muscle mass (NHANES 2011-2018).

Modules, one concern each: ``catalog`` (files and columns), ``sources`` (download and cache),
``readers`` (XPT to frames), ``definitions`` (every analytic choice), ``variables`` (derived
variables), ``cohort`` (exclusion flow), ``synthetic`` (NHANES-shaped fake data), ``survey``
(design-based GLMs), ``models``, ``splines``, ``subgroups``, ``mediation``, ``tables``,
``figures``, ``published`` (the paper's numbers) and ``cli``.
"""

__version__ = "0.1.0"
