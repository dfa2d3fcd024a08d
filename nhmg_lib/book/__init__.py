"""The Jupyter Book around the library: chapter set-up (``chapter``), the build with its
execution cache (``build``) and the Sphinx extensions (``sphinx_exhibits``,
``sphinx_scripts``).

May import: every other subpackage; only :mod:`nhmg_lib.cli` imports it.
"""
