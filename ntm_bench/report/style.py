"""One look for every figure and table: paper settings, fonts, sizes, model order, colours, markers.

Figures are built as `matplotlib.figure.Figure` objects on the Agg canvas (no pyplot, no global
state) inside `paper_style(font)`: 8 pt text, TrueType fonts in PDF/PS (fonttype 42, never Type 3),
constrained layout so nothing is clipped, one column (3.3 in) or full width (6.9 in) of a
two-column paper. Fonts: `sans` (DejaVu Sans, the default), `serif` (STIX, a Times look) or `latex`
(Computer Modern, the look of a LaTeX document; drawn by matplotlib, no TeX installation needed).
`save_figure` strips dates and fixes SVG ids, so the same records give the same bytes.

The same model gets the same colour, marker and line style in every figure of every report,
whatever else is in the folder: built-in models have fixed styles (`BUILTIN`); any other label (a
user's plugin, a second configuration of a built-in) gets one from a hash of its label (CRC-32),
drawn from colours and markers that no built-in uses, so it is never mistaken for one. Reference
predictors are black and dashed. Colours: the Okabe-Ito palette (Okabe & Ito 2008) for built-ins,
Paul Tol's muted palette for the others, both safe for the common colour-vision deficiencies;
markers and dashes keep lines apart in greyscale too.
"""
from __future__ import annotations

import contextlib
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # noqa: E402 - before anything draws; headless and deterministic
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ntm_bench.errors import BenchError  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Paper settings

ONE_COLUMN_IN = 3.3   # width of one column of a two-column paper (inches)
FULL_WIDTH_IN = 6.9   # full text width of a two-column paper (inches)
WIDTHS = {"column": ONE_COLUMN_IN, "full": FULL_WIDTH_IN}
DPI = 300
FIGURE_FORMATS = ("pdf", "png", "svg")
FONTS = ("sans", "serif", "latex")

PAPER_RC = {
    "pdf.fonttype": 42, "ps.fonttype": 42,           # TrueType, not Type 3
    "svg.fonttype": "none", "svg.hashsalt": "ntm-bench",
    "font.family": "DejaVu Sans", "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7, "figure.titlesize": 8,
    "figure.labelsize": 8,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.minor.width": 0.4, "ytick.minor.width": 0.4,
    "lines.linewidth": 1.2, "lines.markersize": 3.5, "grid.linewidth": 0.4, "grid.alpha": 0.5,
    "legend.frameon": False, "savefig.dpi": DPI, "figure.dpi": 100, "image.interpolation": "nearest",
    "path.simplify": False, "figure.constrained_layout.h_pad": 0.03, "figure.constrained_layout.w_pad": 0.03,
}
FONT_RC = {
    "sans": {},
    "serif": {"font.family": ["STIXGeneral", "DejaVu Serif"], "mathtext.fontset": "stix"},
    "latex": {"font.family": ["cmr10", "DejaVu Serif"], "mathtext.fontset": "cm",
              "axes.formatter.use_mathtext": True, "axes.unicode_minus": False},
}


def check_font(font: str) -> None:
    if font not in FONTS:
        raise BenchError(f"unknown figure font {font!r}; valid: {', '.join(FONTS)}")


def figure_width(width: str) -> float:
    if width not in WIDTHS:
        raise BenchError(f"unknown figure width {width!r}; valid: {', '.join(WIDTHS)}")
    return WIDTHS[width]


@contextlib.contextmanager
def paper_style(font: str = "sans"):
    check_font(font)
    with matplotlib.rc_context({**PAPER_RC, **FONT_RC[font]}):
        yield


def new_figure(width: float, height: float, font: str = "sans") -> Figure:
    """A Figure on the Agg canvas with constrained layout (call inside paper_style(font)); the font
    is kept on the figure so that save_figure lays it out again with the same settings."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.ntm_bench_font = font
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
    # fontTools warns about the 1970s timestamps of matplotlib's Computer Modern fonts on every PDF.
    head_log = logging.getLogger("fontTools.ttLib.tables._h_e_a_d")
    level = head_log.level
    head_log.setLevel(logging.ERROR)
    try:
        # Constrained layout refines itself on every save, so the bytes depend on the order of saves:
        # always save in one fixed order (png, pdf, svg) to get the same files from the same records.
        for fmt in sorted(set(formats), key=("png", "pdf", "svg").index):
            meta = {"pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "ntm-bench"},
                    "png": {"Software": None},
                    "svg": {"Date": None, "Creator": "ntm-bench"}}[fmt]
            path = base.parent / f"{base.name}.{fmt}"
            with paper_style(getattr(fig, "ntm_bench_font", "sans")):
                fig.savefig(path, format=fmt, dpi=DPI, metadata=meta)
            out.append(path)
    finally:
        head_log.setLevel(level)
    return out


# ---------------------------------------------------------------------------------------------
# Models: order and styles

OKABE_ITO = {"blue": "#0072B2", "vermillion": "#D55E00", "green": "#009E73", "orange": "#E69F00",
             "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000"}
# Paul Tol's muted palette, less its lightest colours: for labels that are not built-in.
TOL_MUTED = ["#882255", "#44AA99", "#999933", "#332288", "#CC6677", "#117733", "#AA4499"]


@dataclass(frozen=True)
class LineStyle:
    color: str
    marker: str
    dashes: tuple = ()   # seaborn / matplotlib dash pattern (on, off, ...); () = solid

    @property
    def linestyle(self):
        return (0, self.dashes) if self.dashes else "-"


# Built-in model labels (as the built-in suites name them) -> fixed style.
BUILTIN = {
    "ntm": LineStyle(OKABE_ITO["blue"], "o"),
    "ntm_ff": LineStyle(OKABE_ITO["sky"], "s", (4, 1.5)),
    "ntm_lstm": LineStyle(OKABE_ITO["blue"], "o", (5, 1.5, 1, 1.5)),
    "lstm": LineStyle(OKABE_ITO["vermillion"], "^"),
    "transformer": LineStyle(OKABE_ITO["green"], "D"),
    "dnc": LineStyle(OKABE_ITO["purple"], "v"),
    "gru": LineStyle(OKABE_ITO["orange"], "P"),   # the README's example plugin
}
REFERENCE = LineStyle(OKABE_ITO["black"], "X", (4, 2))
# For other labels: markers no built-in uses, a colour each, and a dash pattern, all from a hash.
EXTRA_MARKERS = ["h", "*", "p", "<", ">", "d", "H", "8"]
EXTRA_DASHES = [(), (3, 1.5), (1, 1.2), (5, 1.5, 1, 1.5)]


def _norm(label: str) -> str:
    return label.lower().replace("-", "_")


def model_order(labels) -> list[str]:
    """Built-in models first (in BUILTIN order), then the others sorted by label."""
    labels = sorted(set(labels))
    builtin_rank = {k: i for i, k in enumerate(BUILTIN)}
    return sorted(labels, key=lambda m: (builtin_rank.get(_norm(m), len(builtin_rank)), m))


def model_style(label: str, reference: bool = False) -> LineStyle:
    """The style of one model label: fixed for built-ins and reference predictors, else from a hash
    of the label (the same in every report, whichever other models are present)."""
    if reference:
        return REFERENCE
    if _norm(label) in BUILTIN:
        return BUILTIN[_norm(label)]
    h = zlib.crc32(label.encode("utf-8"))
    return LineStyle(TOL_MUTED[h % len(TOL_MUTED)], EXTRA_MARKERS[(h // len(TOL_MUTED)) % len(EXTRA_MARKERS)],
                     EXTRA_DASHES[(h // (len(TOL_MUTED) * len(EXTRA_MARKERS))) % len(EXTRA_DASHES)])


def model_styles(labels, reference=()) -> dict[str, LineStyle]:
    """label -> LineStyle for each label (see model_style)."""
    reference = set(reference)
    return {m: model_style(m, m in reference) for m in model_order(labels)}
