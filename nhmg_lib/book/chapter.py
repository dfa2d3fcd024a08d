"""What a chapter's set-up cell calls, right after its parameters cell
(:mod:`nhmg_lib.book.parameters`): ``context = chapter.setup(params)``.

:func:`setup` finds the data the chapter runs on (the context ``nhmg build`` exported, or, when
an analyst opens the notebook in Jupyter, :func:`nhmg_lib.data.datamode.resolve_data` run here),
sets the plotly renderer, and, on synthetic data, displays a prominent banner (a red box in
HTML, a warning box titled "Synthetic data" in the PDF) so no synthetic number is mistaken for a result.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from typing import Any

from nhmg_lib.book.parameters import ChapterParameters
from nhmg_lib.data.datamode import DataContext, resolve_data

__all__ = ["setup", "banner", "Banner", "load_cohort", "in_build", "RENDERER", "plain_reason",
           "ChapterParameters", "ParametersNote"]

#: Name of the plotly renderer registered for book builds.
RENDERER = "nhmg_book"

_CONTEXT: DataContext | None = None


def in_build() -> bool:
    """True inside a kernel started by ``nhmg build`` (the build exported the data context)."""
    return DataContext.from_env() is not None


_NO_NETWORK = ("gaierror", "cannot connect", "name or service not known", "timed out",
               "no answer", "connection refused", "network is unreachable", "temporary failure")


def plain_reason(reason: str) -> str:
    """Why the build runs on synthetic data, in words for a reader: a failed connection of any
    kind reads "no network", other technical detail in parentheses is left to the build log."""
    low = reason.lower()
    if any(k in low for k in _NO_NETWORK):
        return "the real NHANES files are not on this machine and there was no network to download them"
    if reason.startswith("the real NHANES files are not available ("):
        return "the real NHANES files are not available"
    return reason


@dataclass(frozen=True)
class Banner:
    """The synthetic-data warning, renderable as HTML (web) and Markdown admonition (PDF):
    one short box under the site's announcement bar."""

    context: DataContext

    @property
    def text(self) -> str:
        c = self.context
        return (
            "Every number, table and figure on this page comes from synthetic, NHANES-shaped "
            f"data (nhmg_lib generator, seed {c.synthetic_seed}), not from NHANES: it tests the "
            "code and estimates nothing about the U.S. population."
        )

    @property
    def why(self) -> str:
        return f"Why: {plain_reason(self.context.reason)}."

    def _repr_html_(self) -> str:
        return (
            '<div class="nhmg-banner" role="alert">'
            '<strong class="nhmg-banner-title">&#9888; SYNTHETIC DATA</strong>'
            f"{html.escape(self.text)}<br><small>{html.escape(self.why)} Real data: "
            "<code>nhmg download</code>, then <code>nhmg build --data real</code>.</small></div>"
        )

    def _repr_markdown_(self) -> str:
        # a titled warning box (a "danger" admonition would print "Danger" as its title)
        return (
            ":::{admonition} Synthetic data\n:class: warning\n"
            f"{self.text}\n\n{self.why} {how_to_get_real_data_short()}\n:::\n"
        )

    def __repr__(self) -> str:
        return f"SYNTHETIC DATA: {self.text}"


def how_to_get_real_data_short() -> str:
    return "To use the real files: `nhmg download`, then `nhmg build --data real`."


def banner(context: DataContext) -> Banner | None:
    """The banner object for ``context`` (None on real data)."""
    return Banner(context) if context.synthetic else None


class _BookRenderer:
    """Plotly renderer for book builds: interactive HTML that expects plotly.js on the page
    (the build serves it from ``_static``; no CDN, no MathJax download), the plotly JSON
    mimetype for Jupyter front ends, and a static PNG for the PDF when kaleido can draw one."""

    def __init__(self, static: bool = True) -> None:
        self.static = static

    def to_mimebundle(self, fig_dict: dict) -> dict[str, Any]:
        import plotly.io as pio

        bundle: dict[str, Any] = {
            "text/html": pio.to_html(fig_dict, include_plotlyjs=False, include_mathjax=False,
                                     full_html=False, default_width="100%", default_height=480,
                                     validate=False, config={"displaylogo": False}),
        }
        if self.static:
            try:
                png = pio.to_image(fig_dict, format="png", width=900, height=520, scale=2)
                bundle["image/png"] = base64.b64encode(png).decode("ascii")
            except Exception:  # no chromium for kaleido: HTML only, the PDF loses this figure
                pass
        return bundle

    def activate(self) -> None:  # plotly calls this when the renderer becomes the default
        pass


def _set_plotly_renderer() -> None:
    try:
        import plotly.io as pio
        from plotly.io._base_renderers import MimetypeRenderer
    except ImportError:
        return

    class BookRenderer(_BookRenderer, MimetypeRenderer):
        pass

    pio.renderers[RENDERER] = BookRenderer(static=os.environ.get("NHMG_STATIC_FIGURES", "1") != "0")
    if in_build():
        pio.renderers.default = RENDERER


@dataclass(frozen=True)
class ParametersNote:
    """Shown under the banner when a chapter runs with parameters other than the book's, so a
    changed page is never mistaken for the book's."""

    params: ChapterParameters

    @property
    def text(self) -> str:
        return ("This page was run with changed parameters (" + self.params.describe() + "); "
                "its numbers differ from the book's.")

    def _repr_html_(self) -> str:
        return f'<div class="nhmg-parameters"><strong>Parameters changed.</strong> {html.escape(self.text)}</div>'

    def _repr_markdown_(self) -> str:
        return f":::{{admonition}} Parameters changed\n:class: note\n{self.text}\n:::\n"

    def __repr__(self) -> str:
        return f"PARAMETERS CHANGED: {self.text}"


def setup(params: ChapterParameters | str | None = None, *, mode: str | None = None,
          show_banner: bool = True, quiet: bool = False) -> DataContext:
    """Resolve the data context, configure plotting, show the banner; return the context.

    ``params``: the chapter's :class:`ChapterParameters`; when any differs from the book's
    (resamples aside, which each chapter states), a note under the banner lists them.
    Inside ``nhmg build`` the context comes from the environment (resolved once for the whole
    book). Run by hand, it resolves the data mode itself (``mode`` or ``NHMG_DATA``)."""
    if isinstance(params, str):  # the older spelling setup("synthetic")
        params, mode = None, params
    global _CONTEXT
    context = DataContext.from_env()
    if context is None or (mode and mode != "auto" and mode != context.mode):
        context = resolve_data(mode, log=None if quiet else _log)
    _CONTEXT = context
    _set_plotly_renderer()
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.dpi": 110, "savefig.dpi": 200, "font.size": 10})
    except ImportError:
        pass
    shown: list[Any] = []
    if show_banner and context.synthetic:
        shown.append(Banner(context))
    if params is not None and set(params.changed()) - {"resamples"}:
        shown.append(ParametersNote(params))
    for item in shown:
        try:
            from IPython.display import display

            display(item)
        except ImportError:
            print(repr(item))
    return context


def _log(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr, flush=True)


def current() -> DataContext:
    """The context of the last :func:`setup` call (calls it when there was none)."""
    return _CONTEXT if _CONTEXT is not None else setup(show_banner=False)


def load_cohort(context: DataContext | None = None, defs: Any = None,
                allow_cycle_loss: bool = False):
    """The cohort (:func:`nhmg_lib.cohort.flow.cohort_from_dir`) for ``context``'s data; a
    cycle that vanishes at some step is an error unless ``allow_cycle_loss``."""
    from nhmg_lib.cohort import flow
    from nhmg_lib.cohort.definitions import DEFAULT

    context = context or current()
    cohort = flow.cohort_from_dir(context.data_dir, defs or DEFAULT)
    if not allow_cycle_loss:
        cohort.check_cycles()
    return cohort


def data_statement(context: DataContext) -> str:
    """One Markdown paragraph saying which data this build ran on and why."""
    if context.synthetic:
        scale = "" if context.synthetic_scale in (None, 1.0) else f", {context.synthetic_scale:g} of full size"
        return (
            f"This build uses synthetic data (generator seed {context.synthetic_seed}{scale}): "
            f"{plain_reason(context.reason)}. To build on the real files, run `nhmg download` on a "
            "machine with internet access, then `nhmg build --data real`."
        )
    return (f"**This build uses the real NHANES files** ({context.reason}; data manifest "
            f"`{context.manifest_hash[:12]}`).")


# --------------------------------------------------------------------------- chapter tables


def sources_table():
    """The NHANES files the book reads, per component and cycle (a publication table)."""
    import pandas as pd

    from nhmg_lib.data.catalog import COLUMNS, CYCLE_COLUMNS, CYCLES, files_for
    from nhmg_lib.report.tables import publication_table

    have = {(f.component, f.cycle) for f in files_for(list(CYCLES))}
    rows, index = [], []
    for comp in COLUMNS:
        cols = set(COLUMNS[comp])
        for (c, _cy), extra in CYCLE_COLUMNS.items():
            if c == comp:
                cols.update(extra)
        rows.append(["✓" if (comp, cy) in have else "–" for cy in CYCLES] + [len(cols)])
        index.append(comp)
    columns = pd.MultiIndex.from_tuples(
        [("Cycle", f"{a}–{b} ({cy})") for cy, (a, b) in CYCLES.items()] + [("", "Variables read")])
    df = pd.DataFrame(rows, index=pd.Index(index, name="File"), columns=columns)
    return publication_table(
        df, caption="NHANES public-use files read per cycle (file name = component_cycle letter, "
        "e.g. DEMO_G.xpt).", align=["c"] * len(CYCLES) + ["r"],
        footnotes=["– the component does not exist in that cycle: hs-CRP starts in 2015–2016, "
                   "the oral glucose tolerance test ends after it."])


def definitions_table(defs=None):
    """Every analytic choice the paper leaves open (``definitions.OPTIONS``), default first;
    with ``defs`` (a chapter's parameters) the options this page uses are marked "used here"."""
    import pandas as pd

    from nhmg_lib.cohort.definitions import DEFAULT, OPTIONS
    from nhmg_lib.report.robustness_report import option_words
    from nhmg_lib.report.tables import publication_table

    defs = defs or DEFAULT
    rows, index = [], []
    for name, options in OPTIONS.items():
        default = getattr(DEFAULT, name)
        for value, doc in options.items():
            index.append(option_words(name, value))
            use = "default" if value == default else "alternative"
            if getattr(defs, name) == value and defs != DEFAULT:
                use += ", used here"
            rows.append([use, doc])
    df = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index), columns=["Use", "Rule"])
    return publication_table(
        df, caption="Definitions: the choices the paper leaves open, with the book's default "
        "and the alternatives offered (nhmg_lib.cohort.definitions).", align=["l", "l"],
        stub_header="Choice / option")


def data_statement_md(context: DataContext):
    """:func:`data_statement` as a displayable Markdown object (HTML and PDF alike)."""
    from IPython.display import Markdown

    return Markdown(data_statement(context))
