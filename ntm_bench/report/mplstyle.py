"""Matplotlib settings for paper figures, and deterministic saving.

Figures are built as `matplotlib.figure.Figure` objects on the Agg canvas (no pyplot, no global
state), inside `paper_style()`: 8 pt text, TrueType fonts in PDF/PS (fonttype 42, never Type 3),
constrained layout so nothing is clipped. `save_figure` strips dates and fixes SVG ids, so the same
records give the same bytes.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # noqa: E402 - before anything draws; headless and deterministic
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ntm_bench.errors import BenchError  # noqa: E402

ONE_COLUMN_IN = 3.3   # width of one column of a two-column paper (inches)
FULL_WIDTH_IN = 6.9   # full text width of a two-column paper (inches)
DPI = 300
FIGURE_FORMATS = ("pdf", "png", "svg")

PAPER_RC = {
    "pdf.fonttype": 42, "ps.fonttype": 42,           # TrueType, not Type 3
    "svg.fonttype": "none", "svg.hashsalt": "ntm-bench",
    "font.family": "DejaVu Sans", "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7, "figure.titlesize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
    "lines.linewidth": 1.2, "lines.markersize": 3.5, "grid.linewidth": 0.4, "grid.alpha": 0.5,
    "legend.frameon": False, "savefig.dpi": DPI, "figure.dpi": 100, "image.interpolation": "nearest",
    "path.simplify": False,
}


@contextlib.contextmanager
def paper_style():
    with matplotlib.rc_context(PAPER_RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A Figure on the Agg canvas with constrained layout (call inside paper_style())."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path_without_ext, formats=("pdf", "png")) -> list[Path]:
    """Write fig as path.png (300 dpi) / path.pdf / path.svg; no dates or versions embedded.
    Returns the paths in the order written (png, pdf, svg)."""
    base = Path(path_without_ext)
    base.parent.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        if fmt not in FIGURE_FORMATS:
            raise BenchError(f"unknown figure format {fmt!r}; valid: {', '.join(FIGURE_FORMATS)}")
    out = []
    # Constrained layout refines itself on every save, so the bytes depend on the order of saves:
    # always save in one fixed order (png, pdf, svg) to get the same files from the same records.
    for fmt in sorted(set(formats), key=("png", "pdf", "svg").index):
        meta = {"pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "ntm-bench"},
                "png": {"Software": None},
                "svg": {"Date": None, "Creator": "ntm-bench"}}[fmt]
        path = base.parent / f"{base.name}.{fmt}"
        with paper_style():
            fig.savefig(path, format=fmt, dpi=DPI, metadata=meta)
        out.append(path)
    return out
