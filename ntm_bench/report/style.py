"""One look for every table and figure: model order, colours, markers, line styles.

The same model gets the same colour and marker in every figure: built-in models have fixed
styles; any other model (a user's plugin, or a second configuration of a built-in) takes the
next free style in sorted order of its label. Reference predictors are black and dashed.
Colours are the Okabe-Ito palette (Okabe & Ito 2008), safe for the common colour-vision deficiencies;
markers and line styles make the lines distinct in greyscale too.
"""
from __future__ import annotations

from dataclasses import dataclass

OKABE_ITO = {"blue": "#0072B2", "vermillion": "#D55E00", "green": "#009E73", "orange": "#E69F00",
             "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000"}


@dataclass(frozen=True)
class LineStyle:
    color: str
    marker: str
    linestyle: str = "-"


# Built-in model labels (as the built-in suites name them) -> fixed style.
BUILTIN = {
    "ntm": LineStyle(OKABE_ITO["blue"], "o"),
    "ntm_lstm": LineStyle(OKABE_ITO["blue"], "o"),
    "ntm_ff": LineStyle(OKABE_ITO["sky"], "s", "--"),
    "lstm": LineStyle(OKABE_ITO["vermillion"], "^"),
    "transformer": LineStyle(OKABE_ITO["green"], "D"),
    "dnc": LineStyle(OKABE_ITO["purple"], "v"),
}
REFERENCE = LineStyle(OKABE_ITO["black"], "x", (0, (4, 2)))
# Styles for other models, in order: colours not used above first, then other marker/dash combinations.
EXTRA = [LineStyle(OKABE_ITO["orange"], "P"), LineStyle(OKABE_ITO["purple"], "X", "-."),
         LineStyle(OKABE_ITO["green"], "h", ":"), LineStyle(OKABE_ITO["vermillion"], "*", "--"),
         LineStyle(OKABE_ITO["sky"], "p", "-."), LineStyle(OKABE_ITO["orange"], "<", ":"),
         LineStyle(OKABE_ITO["blue"], ">", "--"), LineStyle(OKABE_ITO["yellow"], "d", "-")]


def _norm(label: str) -> str:
    return label.lower().replace("-", "_")


def model_order(labels) -> list[str]:
    """Built-in models first (in BUILTIN order), then the others sorted by label."""
    labels = sorted(set(labels))
    builtin_rank = {k: i for i, k in enumerate(BUILTIN)}
    return sorted(labels, key=lambda m: (builtin_rank.get(_norm(m), len(builtin_rank)), m))


def model_styles(labels, reference=()) -> dict[str, LineStyle]:
    """label -> LineStyle, deterministic: depends only on the set of labels and which are references."""
    out, extra = {}, iter(EXTRA * 4)
    reference = set(reference)
    for m in model_order(labels):
        if m in reference:
            out[m] = REFERENCE
        elif _norm(m) in BUILTIN and BUILTIN[_norm(m)] not in out.values():
            out[m] = BUILTIN[_norm(m)]
        else:
            out[m] = next(extra)
    return out
