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

__all__ = ["BookFigure", "COLOR", "BAND", "num", "fmt_p", "log_ticks", "plotly_log_ticks"]


@dataclass
class BookFigure:
    """A figure for both builds. ``mpl``: matplotlib Figure (static; required). ``plotly``:
    optional plotly Figure used for HTML. ``alt``: short text description."""

    mpl: Any
    plotly: Any = None
    alt: str = "figure"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.alt}
        bundle["image/png"] = base64.b64encode(self.to_bytes("png", dpi=200)).decode("ascii")
        bundle["application/pdf"] = base64.b64encode(self.to_bytes("pdf")).decode("ascii")
        if self.plotly is not None:
            import plotly.io as pio

            bundle["text/html"] = pio.to_html(
                self.plotly, include_plotlyjs=False, include_mathjax=False, full_html=False,
                default_width="100%", validate=False, config={"displaylogo": False, "responsive": True})
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
