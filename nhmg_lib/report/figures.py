"""The display container every figure of the book returns.

:class:`BookFigure` wraps a matplotlib figure (and optionally a plotly one) so that one cached
notebook output serves both builds: the web book shows the plotly figure (interactive; plotly.js
is served from the book's ``_static``) or a crisp SVG, the PDF gets a vector PDF/PNG. Jupyter
front ends that know plotly's mimetype show the interactive figure too.

"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BookFigure", "PLOTLY_CONFIG", "COLOR", "BAND", "num", "fmt_p", "log_ticks", "plotly_log_ticks"]


#: plotly's toolbar: shown on hover only, without the buttons a static chart has no use for
#: (fewer buttons, so it covers less of the figure's top right corner).
PLOTLY_CONFIG: dict[str, Any] = {
    "displaylogo": False, "responsive": True, "displayModeBar": "hover",
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "zoomIn2d", "zoomOut2d"],
    "toImageButtonOptions": {"format": "svg"},
}

#: Run after plotly draws a figure with a ``narrow`` layout: below ``width`` px of container
#: it applies that layout, above it restores the figure's own (on load and on every resize).
_NARROW_JS = """(function () {{
  var gd = document.getElementById('{{plot_id}}');
  var narrow = {narrow}, wide = {wide}, state = null;
  function fit() {{
    var isNarrow = gd.getBoundingClientRect().width < {width};
    if (isNarrow === state) return;
    state = isNarrow;
    var update = Object.assign({{}}, isNarrow ? narrow : wide);
    if (update.height) {{  // set directly: a relayout of height would pin the width too
      gd.layout.height = update.height;
      gd.style.height = update.height + 'px';
      // plotly's own wrapper has the figure's first height fixed: it grows and shrinks too,
      // or the plot would cover its caption and the text after it
      if (gd.parentElement) gd.parentElement.style.height = update.height + 'px';
      delete update.height;
    }}
    Plotly.relayout(gd, update);
  }}
  fit();
  window.addEventListener('resize', fit);
}})();"""


@dataclass
class BookFigure:
    """A figure for both builds. ``mpl``: matplotlib Figure (static; required). ``plotly``:
    optional plotly Figure used for HTML. ``alt``: short text description.

    HTML only: ``narrow`` is a plotly layout update (``{"xaxis.domain": [0, 1], ...}``)
    applied while the figure is narrower than ``narrow_width`` px (a phone), the figure's own
    layout restored above it; ``min_width`` (px) keeps a figure that cannot reflow (a tabular
    forest plot) at least that wide, scrolling sideways in its own box on a narrower screen."""

    mpl: Any
    plotly: Any = None
    alt: str = "figure"
    narrow: dict[str, Any] | None = None
    narrow_width: int = 600
    min_width: int | None = None

    def plotly_html(self) -> str:
        """The plotly figure as an HTML fragment (plotly.js is the page's, not embedded)."""
        import json

        import plotly.io as pio

        post = None
        if self.narrow:
            wide = {k: _layout_value(self.plotly, k) for k in self.narrow}
            post = _NARROW_JS.format(narrow=json.dumps(_jsonable(self.narrow)),
                                     wide=json.dumps(_jsonable(wide)), width=int(self.narrow_width))
        html = pio.to_html(
            self.plotly, include_plotlyjs=False, include_mathjax=False, full_html=False,
            default_width="100%", validate=False, config=PLOTLY_CONFIG, post_script=post)
        if self.min_width:
            html = (f'<div class="nhmg-plotly-scroll" style="overflow-x: auto; max-width: 100%;">'
                    f'<div style="min-width: {int(self.min_width)}px;">{html}</div></div>')
        return html

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.alt}
        bundle["image/png"] = base64.b64encode(self.to_bytes("png", dpi=200)).decode("ascii")
        bundle["application/pdf"] = base64.b64encode(self.to_bytes("pdf")).decode("ascii")
        if self.plotly is not None:
            bundle["text/html"] = self.plotly_html()
            bundle["application/vnd.plotly.v1+json"] = self.plotly.to_plotly_json()
        else:
            bundle["image/svg+xml"] = self.to_bytes("svg").decode("utf-8")
        return bundle

    def to_bytes(self, fmt: str, dpi: int = 200) -> bytes:
        buf = io.BytesIO()
        meta = {"Creator": "nhmg_lib", "Date": None} if fmt in ("svg", "pdf") else None
        if fmt == "svg":  # the SVG's <title>: the book's <img alt> (book.sphinx_exhibits)
            meta["Title"] = self.alt
        if fmt == "pdf":
            meta = {"Creator": "nhmg_lib", "Producer": "nhmg_lib", "CreationDate": None, "ModDate": None}
        self.mpl.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)
        return buf.getvalue()

    def save(self, path, dpi: int = 200) -> None:
        """Write the static figure; the format follows the file extension."""
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes(path.suffix.lstrip(".").lower() or "png", dpi=dpi))

    def __repr__(self) -> str:
        return f"<BookFigure: {self.alt}>"


def _layout_value(fig: Any, path: str) -> Any:
    """The value of a dotted layout path (``"xaxis2.domain"``) in ``fig``'s layout: what a
    ``narrow`` update restores on a wide screen, so the figure must set it itself."""
    try:
        node = fig.layout[path]
    except (KeyError, ValueError):
        node = None
    if node is None:
        raise ValueError(f"BookFigure.narrow changes {path!r}, which the figure's layout does not set")
    return node


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "to_plotly_json"):
        return _jsonable(value.to_plotly_json())
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- shared style
COLOR = "#1f4e79"
BAND = "rgba(31, 78, 121, 0.18)"


def num(v: float) -> str:
    """Two decimals without a negative zero ("-0.00" reads as a sign that is not there)."""
    text = f"{v:.2f}"
    return "0.00" if text == "-0.00" else text


def fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


_NICE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def log_ticks(axis: Any, lim: tuple[float, float]) -> None:
    """Readable ticks (0.1, 0.2, 0.5, 1, 2 ...) on a log axis instead of powers of ten."""
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator

    axis.set_major_locator(FixedLocator([t for t in _NICE if lim[0] <= t <= lim[1]]))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_locator(NullLocator())


def plotly_log_ticks(lim: tuple[float, float]) -> dict[str, list]:
    ticks = [t for t in _NICE if lim[0] <= t <= lim[1]]
    return {"tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}
