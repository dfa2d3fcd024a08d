"""NHANES public-use files: which files and columns (``catalog``), where to get them and how
to keep them (``sources``, ``fetch``, ``manifest``), reading them into one frame (``readers``),
their codes (``codes``), NHANES-shaped synthetic data (``synthetic``,
``synthetic_calibration``) and whether the book runs on real or synthetic data (``datamode``).

May import: numpy, pandas, pyreadstat, requests and friends; ``nhmg_lib.errors`` and
``nhmg_lib.__version__``. Nothing else of ``nhmg_lib``.
"""
