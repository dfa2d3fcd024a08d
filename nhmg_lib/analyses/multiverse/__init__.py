"""The multiverse: every combination of the open choices, as specification curves of distinct
specifications with joint inference (Simonsohn, Simmons & Nelson 2020, *Nat Hum Behav*
4:1208-1214).

How it reads, module by module:

* :mod:`~nhmg_lib.analyses.multiverse.grid` - the dimensions (:data:`GRID` = the definitions'
  ``OPTIONS`` + :data:`ANALYSIS_GRID`: energy exclusion, covariate set, mediation weighting),
  the estimates (:data:`ESTIMATES`), the choices shown as a panel of their own (:data:`PANELS`:
  the dietary weight) and the dimensions left out with the reason (:data:`PLANNED_DIMENSIONS`).
* :mod:`~nhmg_lib.analyses.multiverse.bank` - the derived columns in every version the grid
  needs, and the cohorts built from them.
* :mod:`~nhmg_lib.analyses.multiverse.plan` - every (specification, estimate) keyed on the
  data its fit reads, so each distinct fit is computed once; the dimensions that cannot move an
  estimate (blank in its rows).
* :mod:`~nhmg_lib.analyses.multiverse.fits` - the batched fits of a group (in a worker),
  solvers in :mod:`nhmg_lib.survey.batched`.
* :mod:`~nhmg_lib.analyses.multiverse.workers` - local processes that die with their parent,
  or a ``dask.distributed`` scheduler checked first; progress with the time left.
* :mod:`~nhmg_lib.analyses.multiverse.result` - :func:`run` and :class:`MultiverseResult`
  (one row per distinct specification of each estimate).
* :mod:`~nhmg_lib.analyses.multiverse.joint_test` - :func:`joint_test` of each main curve.
* :mod:`~nhmg_lib.analyses.multiverse.naive` - :func:`naive_estimates`, the reference path.
"""

from nhmg_lib.analyses.multiverse.bank import ColumnBank, column_bank
from nhmg_lib.analyses.multiverse.grid import (
    ALPHA, ANALYSIS_GRID, COVARIATE_SETS, DEFAULT_SPEC, ESTIMATES, GRID, MEDIATION_FIXED, PANELS,
    PLANNED_DIMENSIONS, EmptyGridError, Estimate, MultiverseError, UnknownOptionError,
    default_spec_id, grid, mediation_fixed, parse_settings, specifications)
from nhmg_lib.analyses.multiverse.joint_test import STATISTICS, JointTest, joint_test
from nhmg_lib.analyses.multiverse.naive import naive_estimates
from nhmg_lib.analyses.multiverse.result import (
    MEDIATION_BOOT, MEDIATION_SEED, MultiverseResult, run)
from nhmg_lib.cohort.definitions import MODEL3_COVARIATES

__all__ = [
    "ALPHA", "ANALYSIS_GRID", "COVARIATE_SETS", "DEFAULT_SPEC", "ESTIMATES", "GRID",
    "MEDIATION_BOOT", "MEDIATION_FIXED", "MEDIATION_SEED", "MODEL3_COVARIATES", "PANELS",
    "PLANNED_DIMENSIONS", "STATISTICS", "ColumnBank", "EmptyGridError", "Estimate", "JointTest",
    "MultiverseError", "MultiverseResult", "UnknownOptionError", "column_bank",
    "default_spec_id", "grid", "joint_test", "mediation_fixed", "naive_estimates",
    "parse_settings", "run",
    "specifications",
]
