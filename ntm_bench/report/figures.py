"""Paper figures from run records: learning curves and test metrics against test length.

Every function returns a matplotlib Figure (Agg canvas, see style.py); `save_figure` writes it.
One panel per task; per model a thick line, the mean over seeds (with the model's marker), over
thin lines, one per seed (seaborn `lineplot` with `units=`): the seeds themselves show the spread,
and nothing is drawn outside what a metric can take (no ± sd band below zero bits, no accuracy
above 1). Accuracies share one 0-1 axis across the panels. Each model has the same colour, marker
and line style in every figure (style.py).

Tasks whose targets are random (a task with a Bayes-optimal reference, e.g. dynamic N-grams: its
evaluation rows carry `excess_bits`) are drawn as excess bits over the optimum wherever the figure
shows bits, with the optimum's level on their learning curves, and get no sequence-accuracy panel
(no predictor gets every bit of a random sequence right, so it measures nothing).

Options: `width` "column" (3.3 in) or "full" (6.9 in; default: column for one panel, full for
several), `logx` (log-scaled x), `font` ("sans", "serif", "latex": style.FONTS).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ntm_bench.errors import BenchError
from ntm_bench.report.load import Results
from ntm_bench.report.selection import random_target_tasks
from ntm_bench.report.memory_pictures import plot_memory  # noqa: F401 - part of this module's API
from ntm_bench.report.style import (FULL_WIDTH_IN, ONE_COLUMN_IN, REFERENCE, figure_width,  # noqa: F401
                                    model_order, model_styles, new_figure, paper_style, save_figure)

CURVE_LABELS = {
    "val_bits": "validation cost (bits per sequence)",
    "val_bit_errors": "validation bit errors per sequence",
    "val_bit_accuracy": "validation bit accuracy",
    "val_seq_accuracy": "validation sequence accuracy",
    "train_bits": "training cost (bits per sequence)",
}
CURVE_X = {"sequences": "sequences seen", "wall_s": "wall-clock time (s)", "step": "optimiser steps"}
BOUNDED = ("bit_accuracy", "seq_accuracy", "accuracy")  # metrics in [0, 1]: one shared 0-1 axis
SEQ_ONLY = ("seq_accuracy",)                 # metrics that mean nothing on tasks with random targets

LENGTH_LABELS = {
    "bits": "cost (bits per sequence)",
    "bit_errors": "bit errors per sequence",
    "bit_accuracy": "bit accuracy",
    "seq_accuracy": "sequence accuracy",
    "excess_bits": "bits above optimum",
    "accuracy": "per-token accuracy",  # tasks with symbol outputs (the Chomsky-hierarchy tasks)
}
EXCESS_LABEL = "bits above optimum"
THIN = {"linewidth": 0.5, "alpha": 0.35}     # one line per seed
MIN_BAND = 0.025                             # narrowest training-range band, as a fraction of the axis


def _base(metric: str) -> str:
    return metric[4:] if metric.startswith("val_") else metric


def select_tasks(results: Results, task: str | None, present) -> list[str]:
    """The task keys to plot: all present ones, or those matching `task` ("copy" matches "copy@v2")."""
    present = sorted(set(present))
    if task is None:
        return present
    chosen = [t for t in present if t == task or t.split("@v")[0] == task]
    if not chosen:
        raise BenchError(f"no records for task {task!r} to plot; tasks with records: {', '.join(present) or '(none)'}")
    return chosen


def _refuse_seq_accuracy(metric: str, task: str | None, random_targets: set) -> None:
    """Asking for sequence accuracy on a task with random targets is an error that says why."""
    if task is not None and _base(metric) in SEQ_ONLY and any(t == task or t.split("@v")[0] == task
                                                              for t in random_targets):
        raise BenchError(f"task {task!r} has random targets (it has a Bayes-optimal reference): no predictor gets "
                         f"every bit right, so {metric} means nothing there; plot bits (drawn above the optimum)")


def optimum(results: Results, task: str, metric: str) -> float | None:
    """The optimal predictor's level on the training range: bits = a run's bits minus its excess bits
    on the same test sequences (mean over the runs and the test points inside the training range);
    bit errors = the reference runs' own. None when the records do not give it."""
    metric = _base(metric)
    ev = results.evals
    ind = ev[(ev["task"] == task) & (ev["split"] == "train")]
    if metric == "bits":
        v = (ind["bits"] - ind["excess_bits"]).dropna()
    elif metric == "bit_errors":
        v = ind.loc[ind["reference"].astype(bool), "bit_errors"].dropna()
    else:
        return None
    return float(v.mean()) if len(v) else None


def _grid(n: int, width: str | None, font: str, sharey: bool = False):
    """Panels in up to 3 columns (2 at one-column width)."""
    width = width or ("column" if n == 1 else "full")
    w = figure_width(width)
    ncols = min(n, 3 if width == "full" else 2)
    nrows = math.ceil(n / ncols)
    row_h = 1.75 if width == "full" else 1.45
    fig = new_figure(w, row_h * nrows + 0.5, font)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n], ncols


def _legend(fig, styles: dict, models: list[str], reference: set, extra=()) -> None:
    """One legend for the figure, above the panels, in as many columns as fit its width."""
    handles = [Line2D([], [], color=styles[m].color, marker=styles[m].marker, linestyle=styles[m].linestyle,
                      markeredgecolor="white", markeredgewidth=0.5,
                      label=m + (" (reference)" if m in reference else "")) for m in models]
    handles += list(extra)
    if not handles:
        return
    width = fig.get_figwidth() * fig.dpi
    renderer = fig.canvas.get_renderer()
    for ncol in range(min(len(handles), 5), 0, -1):
        leg = fig.legend(handles=handles, loc="outside upper center", ncol=ncol, handlelength=2.4,
                         columnspacing=1.2)
        if leg.get_window_extent(renderer).width <= 0.96 * width or ncol == 1:
            return
        leg.remove()


def _styles(results: Results):
    runs = results.runs
    reference = set(runs.loc[runs["reference"], "model"])
    return model_styles(runs["model"], reference), reference


def _draw_lines(ax, per_seed: pd.DataFrame, mean: pd.DataFrame, x: str, y: str, styles: dict, models: list[str]):
    """Thin per-seed lines (units=run_id) and the thick mean line with markers, via seaborn."""
    palette = {m: styles[m].color for m in models}
    dashes = {m: styles[m].dashes or "" for m in models}
    if len(per_seed):
        sns.lineplot(data=per_seed, x=x, y=y, hue="model", hue_order=models, palette=palette, units="run_id",
                     estimator=None, style="model", style_order=models, dashes=dashes, legend=False, ax=ax, **THIN)
    if len(mean):
        npts = mean.groupby("model").size().max()
        sns.lineplot(data=mean, x=x, y=y, hue="model", hue_order=models, palette=palette, style="model",
                     style_order=models, dashes=dashes, markers={m: styles[m].marker for m in models},
                     estimator=None, legend=False, ax=ax, markevery=max(1, int(npts) // 7),
                     markeredgecolor="white", markeredgewidth=0.5)


def _clamp_y(ax, metric: str) -> None:
    """Accuracies on a fixed 0-1 axis; counts and costs (never negative) start at 0, not below."""
    if _base(metric) in BOUNDED:
        ax.set_ylim(-0.03, 1.03)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    elif _base(metric) in ("bits", "bit_errors"):
        lo, hi = ax.get_ylim()
        if lo < 0:
            ax.set_ylim(0, hi)


def _log_x(ax) -> None:
    """A log-scaled x axis with plain tick labels at 1, 2, 5 x 10^k (no crowded minor labels)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _count_formatter(v, _pos) -> str:
    """20000 -> 20K, 1500000 -> 1.5M: short tick labels for sequence counts."""
    for div, suffix in ((1e6, "M"), (1e3, "K")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def _thousands(v, _pos) -> str:
    return f"{v / 1000:g}"


def _optimum_handle(reference: set, styles: dict):
    """The optimum's line style and legend entry: the reference model's, or "optimal predictor"."""
    refs = model_order(reference)
    st = styles[refs[0]] if refs else REFERENCE
    label = f"{refs[0]} (reference)" if refs else "optimal predictor"
    return st, Line2D([], [], color=st.color, linestyle=st.linestyle, linewidth=0.9, label=label)


def plot_curves(results: Results, metric: str = "val_bit_errors", x: str = "sequences", task: str | None = None,
                logx: bool = False, width: str | None = None, font: str = "sans", models=None, paper: bool = False):
    """Validation metric against sequences seen (or wall time, or steps), one panel per task: thin
    lines per seed, thick line the mean over seeds at each validation point where every seed has one
    (x: the mean over seeds at that step). Tasks with random targets show the optimal predictor's
    level on the training range (bits, bit errors) and no sequence-accuracy panel. `models`: the
    model labels to draw (default all); `paper`: x in thousands of sequences, as Graves et al. 2014."""
    if metric not in CURVE_LABELS:
        raise BenchError(f"unknown curve metric {metric!r}; valid: {', '.join(sorted(CURVE_LABELS))}")
    if x not in CURVE_X:
        raise BenchError(f"unknown curve x axis {x!r}; valid: {', '.join(sorted(CURVE_X))}")
    cur = results.curves.dropna(subset=[metric, x, "step"])
    if models is not None:
        cur = cur[cur["model"].isin(list(models))]
    if _base(metric) in SEQ_ONLY:
        _refuse_seq_accuracy(metric, task, random_target_tasks(results))
        cur = cur[~cur["task"].isin(random_target_tasks(results))]
    if cur.empty:
        raise BenchError(f"no learning-curve rows with {metric!r} under {str(results.dir)!r}"
                         + (f" for models {', '.join(models)}" if models is not None else ""))
    tasks = select_tasks(results, task, cur["task"])
    styles, reference = _styles(results)
    shown, optimum_drawn = set(), False
    with paper_style(font):
        fig, axes, ncols = _grid(len(tasks), width, font, sharey=_base(metric) in BOUNDED)
        for k, (ax, t) in enumerate(zip(axes, tasks)):
            sub = cur[cur["task"] == t]
            models_here = model_order(sub["model"])
            n_runs = sub.groupby("model")["run_id"].nunique()
            mean = (sub.groupby(["model", "step"]).agg(x=(x, "mean"), y=(metric, "mean"), n=(metric, "size"))
                    .reset_index())
            mean = mean[mean["n"] == mean["model"].map(n_runs)].rename(columns={"x": x, "y": metric})
            _draw_lines(ax, sub, mean, x, metric, styles, models_here)
            shown.update(models_here)
            level = optimum(results, t, metric) if t in random_target_tasks(results) else None
            if level is not None:
                st, _ = _optimum_handle(reference, styles)
                ax.axhline(level, color=st.color, linestyle=st.linestyle, linewidth=0.9, zorder=1)
                optimum_drawn = True
            ax.set_title(t)
            if logx:
                _log_x(ax)
            if x == "sequences":
                ax.xaxis.set_major_formatter(FuncFormatter(_thousands if paper else _count_formatter))
            if not logx:
                ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.set_xlabel("")
            ax.set_ylabel("")
            _clamp_y(ax, metric)
            ax.grid(True)
        xlabel = "sequence number (thousands)" if paper and x == "sequences" else CURVE_X[x]
        ylabel = "cost per sequence (bits)" if paper and metric == "val_bits" else CURVE_LABELS[metric]
        _axis_labels(fig, axes, xlabel, ylabel)
        extra = [_optimum_handle(reference, styles)[1]] if optimum_drawn else []
        _legend(fig, styles, [m for m in model_order(shown) if m not in reference], reference, extra)
    return fig


def _axis_labels(fig, axes, xlabel: str, ylabel: str) -> None:
    """One label per figure side when there are several panels, else the panel's own."""
    if len(axes) == 1:
        axes[0].set_xlabel(xlabel)
        axes[0].set_ylabel(ylabel)
    else:
        fig.supxlabel(xlabel)
        fig.supylabel(ylabel)


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


def _axes_span(ax, a: float, b: float) -> tuple[float, float]:
    """Data x values a, b as fractions of the axes' width, within the axes (the limits are frozen first)."""
    lo, hi = ax.get_xlim()
    ax.set_xlim(lo, hi)
    a, b = min(max(a, lo), hi), min(max(b, lo), hi)  # a log axis cannot place x <= 0
    to_axes = ax.transAxes.inverted()
    (fa, _), (fb, _) = to_axes.transform(ax.transData.transform([(a, 0), (b, 0)]))
    return fa, fb


def _band(ax, a: float, b: float) -> None:
    """A grey band over the axes' whole height between axes fractions a and b, at least MIN_BAND
    wide (a single training length, 100..100, stays visible)."""
    from matplotlib.patches import Rectangle

    if b - a < MIN_BAND:
        a, b = (a + b - MIN_BAND) / 2, (a + b + MIN_BAND) / 2
    ax.add_patch(Rectangle((a, 0), b - a, 1, transform=ax.transAxes, color="0.88", linewidth=0, zorder=0))


def plot_lengths(results: Results, metric: str = "bit_errors", task: str | None = None, logx: bool = False,
                 width: str | None = None, font: str = "sans"):
    """Test metric against test length (or items, repeats: the task's axis), one panel per task,
    the training range shaded: thin lines per seed, thick line the mean over seeds. On tasks with
    random targets `bits` is drawn as bits above the optimum (the optimum: a line at 0) and
    `seq_accuracy` is not drawn."""
    if metric not in LENGTH_LABELS:
        raise BenchError(f"unknown length metric {metric!r}; valid: {', '.join(sorted(LENGTH_LABELS))}")
    ev = results.evals.dropna(subset=[metric])
    random_targets = random_target_tasks(results)
    _refuse_seq_accuracy(metric, task, random_targets)
    if metric in SEQ_ONLY:
        ev = ev[~ev["task"].isin(random_targets)]
    if ev.empty:
        why = " (tasks with random targets have no sequence-accuracy panel)" if metric in SEQ_ONLY else ""
        raise BenchError(f"no test results with {metric!r} under {str(results.dir)!r}{why}")
    tasks = select_tasks(results, task, ev["task"])
    styles, reference = _styles(results)
    shown, optimum_drawn = set(), False
    with paper_style(font):
        fig, axes, ncols = _grid(len(tasks), width, font, sharey=metric in BOUNDED)
        for k, (ax, t) in enumerate(zip(axes, tasks)):
            shown_metric = "excess_bits" if (metric == "bits" and t in random_targets) else metric
            sub = results.evals[results.evals["task"] == t].dropna(subset=[shown_metric])
            if shown_metric == "excess_bits":  # the optimum is the zero line, not a row of markers
                sub = sub[~sub["reference"].astype(bool)]
                st, _ = _optimum_handle(reference, styles)
                ax.axhline(0.0, color=st.color, linestyle=st.linestyle, linewidth=0.9, zorder=1)
                optimum_drawn = True
            kind, axis = length_axis(results, t)
            points = sorted(set(results.evals.loc[results.evals["task"] == t, "point"]))
            info = results.tasks[t]
            if kind == "numeric":
                i = info["axes"].index(axis)
                xpos = {p: p[i] for p in points}
            else:
                xpos = {p: k for k, p in enumerate(points)}
            sub = sub.assign(_x=[float(xpos[p]) for p in sub["point"]])
            models_here = model_order(sub["model"])
            mean = sub.groupby(["model", "_x"], as_index=False)[shown_metric].mean()
            _draw_lines(ax, sub, mean, "_x", shown_metric, styles, models_here)
            shown.update(models_here)
            if logx and kind == "numeric":
                _log_x(ax)
            if len(points) == 1:  # one test point: one tick, a narrow x range
                x0 = xpos[points[0]]
                ax.set_xlim(x0 - 1, x0 + 1) if not logx else ax.set_xlim(x0 / 1.5, x0 * 1.5)
                ax.set_xticks([x0], [str(results.evals.loc[results.evals["task"] == t, "label"].iloc[0])])
            if kind == "numeric":
                lo, hi = info["train_range"].get(axis, (None, None))
                if lo is not None:
                    _band(ax, *_axes_span(ax, lo - 0.5, hi + 0.5))
                ax.set_xlabel(f"test {axis}")
                if not logx and len(points) > 1:
                    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))  # no overlapping labels
            else:
                ax.set_xlim(-0.5, len(points) - 0.5)
                for p in points:
                    if (results.evals.loc[(results.evals["task"] == t) & (results.evals["point"] == p),
                                          "split"] == "train").all():
                        _band(ax, *_axes_span(ax, xpos[p] - 0.5, xpos[p] + 0.5))
                ax.set_xticks(range(len(points)), [",".join(map(str, p)) for p in points])  # short: fits one column
                ax.set_xlabel(f"test point\n({', '.join(info['axes'])})")
            ax.set_title(t + (f"\n({EXCESS_LABEL})" if shown_metric != metric and len(tasks) > 1 else ""))
            ax.set_ylabel(EXCESS_LABEL if shown_metric != metric and len(tasks) == 1 else "")
            _clamp_y(ax, shown_metric)
            ax.grid(True, axis="y")
        if len(axes) == 1:
            if axes[0].get_ylabel() == "":
                axes[0].set_ylabel(LENGTH_LABELS[metric])
        else:
            fig.supylabel(LENGTH_LABELS[metric])
        extra = [_optimum_handle(reference, styles)[1]] if optimum_drawn else []
        _legend(fig, styles, [m for m in model_order(shown) if not (optimum_drawn and m in reference)],
                reference, extra)
    return fig


def curve_metrics_present(results: Results) -> list[str]:
    return [m for m in CURVE_LABELS if m in results.curves and results.curves[m].notna().any()]


def eval_metrics_present(results: Results) -> list[str]:
    ev = results.evals
    return [m for m in LENGTH_LABELS if m in ev and ev[m].notna().any()]


__all__ = ["plot_curves", "plot_lengths", "plot_memory", "save_figure", "length_axis", "select_tasks",
           "curve_metrics_present", "eval_metrics_present", "random_target_tasks", "optimum"]
