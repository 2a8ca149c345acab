"""Paper figures from run records: learning curves, cost against test length, memory pictures.

Every function returns a matplotlib Figure (Agg canvas, see mplstyle.py); `save_figure` writes it.
One panel per task, one line per model, the same colour/marker/line style for a model in every
figure (style.py). Lines are means over seeds; bands and error bars are ± one sample standard
deviation over seeds.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import MaxNLocator

from ntm_bench.errors import BenchError
from ntm_bench.report.load import Results
from ntm_bench.report.memory import plot_memory  # noqa: F401 - part of this module's API
from ntm_bench.report.mplstyle import FULL_WIDTH_IN, ONE_COLUMN_IN, new_figure, paper_style, save_figure  # noqa: F401
from ntm_bench.report.style import model_order, model_styles

CURVE_LABELS = {
    "val_bits": "validation cost (bits per sequence)",
    "val_bit_errors": "validation bit errors per sequence",
    "val_bit_accuracy": "validation bit accuracy",
    "val_seq_accuracy": "validation sequence accuracy",
    "train_bits": "training cost (bits per sequence)",
}
CURVE_X = {"sequences": "sequences seen", "wall_s": "wall-clock time (s)", "step": "optimiser steps"}
BOUNDED = ("bit_accuracy", "seq_accuracy")  # metrics in [0, 1]: error bars are clipped to it

LENGTH_LABELS = {
    "bits": "cost (bits per sequence)",
    "bit_errors": "bit errors per sequence",
    "bit_accuracy": "bit accuracy",
    "seq_accuracy": "sequence accuracy",
    "excess_bits": "bits above the optimal predictor",
}


def select_tasks(results: Results, task: str | None, present) -> list[str]:
    """The task keys to plot: all present ones, or those matching `task` ("copy" matches "copy@v2")."""
    present = sorted(set(present))
    if task is None:
        return present
    chosen = [t for t in present if t == task or t.split("@v")[0] == task]
    if not chosen:
        raise BenchError(f"no records for task {task!r} to plot; tasks with records: {', '.join(present) or '(none)'}")
    return chosen


def _grid(fig_n: int, height_per_row: float = 1.9):
    """Panels in up to 3 columns: one column wide for a single panel, full width otherwise."""
    ncols = min(fig_n, 3)
    nrows = math.ceil(fig_n / ncols)
    width = ONE_COLUMN_IN if fig_n == 1 else FULL_WIDTH_IN
    fig = new_figure(width, height_per_row * nrows + 0.45)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[fig_n:]:
        ax.set_visible(False)
    return fig, axes[:fig_n]


def _legend(fig, styles: dict, models: list[str], reference: set) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=styles[m].color, marker=styles[m].marker, linestyle=styles[m].linestyle,
                      label=m + (" (reference)" if m in reference else "")) for m in models]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(models), 4),
               handlelength=2.4, columnspacing=1.2)


def _styles(results: Results):
    runs = results.runs
    reference = set(runs.loc[runs["reference"], "model"])
    return model_styles(runs["model"], reference), reference


def plot_curves(results: Results, metric: str = "val_bit_errors", x: str = "sequences", task: str | None = None):
    """Validation metric against sequences seen (or wall time), one panel per task; line = mean
    over seeds at each validation point, band = ± sd over seeds."""
    if metric not in CURVE_LABELS:
        raise BenchError(f"unknown curve metric {metric!r}; valid: {', '.join(sorted(CURVE_LABELS))}")
    if x not in CURVE_X:
        raise BenchError(f"unknown curve x axis {x!r}; valid: {', '.join(sorted(CURVE_X))}")
    cur = results.curves.dropna(subset=[metric, x, "step"])
    if cur.empty:
        raise BenchError(f"no learning-curve rows with {metric!r} under {str(results.dir)!r}")
    tasks = select_tasks(results, task, cur["task"])
    styles, reference = _styles(results)
    with paper_style():
        fig, axes = _grid(len(tasks))
        shown = set()
        for ax, t in zip(axes, tasks):
            sub = cur[cur["task"] == t]
            for m in model_order(sub["model"]):
                # Align seeds on the optimiser step; x is the mean over seeds at that step.
                g = sub[sub["model"] == m].groupby("step").agg(x=(x, "mean"), y=(metric, "mean"),
                                                               sd=(metric, "std"), n=(metric, "size"))
                st = styles[m]
                ax.plot(g["x"], g["y"], color=st.color, linestyle=st.linestyle, marker=st.marker,
                        markevery=max(1, len(g) // 6), label=m)
                sd = g["sd"].fillna(0.0)
                ax.fill_between(g["x"], g["y"] - sd, g["y"] + sd, color=st.color, alpha=0.18, linewidth=0)
                shown.add(m)
            ax.set_title(t)
            ax.set_xlabel(CURVE_X[x])
            ax.set_ylabel(CURVE_LABELS[metric])
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=False)
            ax.grid(True)
        _legend(fig, styles, model_order(shown), reference)
    return fig


def length_axis(results: Results, task: str) -> tuple[str, str | None]:
    """How to place a task's test points on x: ("numeric", axis) when only one axis varies across
    them, else ("categorical", None) with the point labels in point order."""
    info = results.tasks[task]
    points = sorted(set(results.evals.loc[results.evals["task"] == task, "point"]))
    varying = [a for i, a in enumerate(info["axes"]) if len({p[i] for p in points}) > 1]
    if len(info["axes"]) == 1:
        return "numeric", info["axes"][0]
    if len(varying) == 1:
        return "numeric", varying[0]
    return "categorical", None


def plot_lengths(results: Results, metric: str = "bit_errors", task: str | None = None):
    """Test metric against test length (or items, repeats: the task's axis), one panel per task;
    the training range shaded; markers = mean over seeds, error bars = ± sd over seeds (clipped to
    [0, 1] for accuracies)."""
    if metric not in LENGTH_LABELS:
        raise BenchError(f"unknown length metric {metric!r}; valid: {', '.join(sorted(LENGTH_LABELS))}")
    ev = results.evals.dropna(subset=[metric])
    if ev.empty:
        raise BenchError(f"no test results with {metric!r} under {str(results.dir)!r}")
    tasks = select_tasks(results, task, ev["task"])
    styles, reference = _styles(results)
    with paper_style():
        fig, axes = _grid(len(tasks))
        shown = set()
        for ax, t in zip(axes, tasks):
            sub = ev[ev["task"] == t]
            kind, axis = length_axis(results, t)
            points = sorted(set(sub["point"]))
            info = results.tasks[t]
            if kind == "numeric":
                i = info["axes"].index(axis)
                xpos = {p: p[i] for p in points}
                lo, hi = info["train_range"].get(axis, (None, None))
                if lo is not None:
                    ax.axvspan(lo - 0.5, hi + 0.5, color="0.88", linewidth=0, zorder=0)
                ax.set_xlabel(f"test {axis}")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))  # few ticks: no overlapping labels
            else:
                xpos = {p: k for k, p in enumerate(points)}
                labels = {p: "(" + ", ".join(map(str, p)) + ")" for p in points}  # short: axes named below
                for p in points:
                    if (sub.loc[sub["point"] == p, "split"] == "train").all():
                        ax.axvspan(xpos[p] - 0.5, xpos[p] + 0.5, color="0.88", linewidth=0, zorder=0)
                ax.set_xticks(range(len(points)), [labels[p] for p in points])
                ax.set_xlabel(f"test point ({', '.join(info['axes'])})")
            models = model_order(sub["model"])
            span = (max(xpos.values()) - min(xpos.values())) or 1.0
            for k, m in enumerate(models):
                g = sub[sub["model"] == m].groupby("point")[metric].agg(["mean", "std"])
                g = g.loc[[p for p in points if p in g.index]]
                dodge = (k - (len(models) - 1) / 2) * 0.012 * span  # keep error bars of models apart
                xs = np.array([xpos[p] for p in g.index], dtype=float) + dodge
                st = styles[m]
                sd = g["std"].fillna(0.0).to_numpy()
                yerr = sd
                if metric in BOUNDED:  # an accuracy: the bar stops at 0 and 1, where the values do
                    mean = g["mean"].to_numpy()
                    yerr = np.stack([np.minimum(sd, mean), np.minimum(sd, 1.0 - mean)])
                ax.errorbar(xs, g["mean"], yerr=yerr, color=st.color,
                            linestyle=st.linestyle, marker=st.marker, capsize=2, elinewidth=0.7, label=m)
                if m in reference and len(points) == 1:  # e.g. the optimal N-gram cost: a level to compare with
                    ax.axhline(float(g["mean"].iloc[0]), color=st.color, linestyle=st.linestyle, linewidth=0.8)
                shown.add(m)
            if len(points) == 1:  # one test point: one tick, a narrow x range
                x0 = xpos[points[0]]
                ax.set_xlim(x0 - 1, x0 + 1)
                ax.set_xticks([x0], [sub["label"].iloc[0]])
            ax.set_title(t)
            ax.set_ylabel(LENGTH_LABELS[metric])
            ax.grid(True, axis="y")
        _legend(fig, styles, model_order(shown), reference)
    return fig


def curve_metrics_present(results: Results) -> list[str]:
    return [m for m in CURVE_LABELS if m in results.curves and results.curves[m].notna().any()]


def eval_metrics_present(results: Results) -> list[str]:
    ev = results.evals
    return [m for m in LENGTH_LABELS if m in ev and ev[m].notna().any()]


__all__ = ["plot_curves", "plot_lengths", "plot_memory", "save_figure", "length_axis", "select_tasks",
           "curve_metrics_present", "eval_metrics_present"]
