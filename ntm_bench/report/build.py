"""Build the report of a results folder: tables, figures, report.md and a self-contained report.html.

`build_report(DIR)` writes DIR/tables/*.{md,csv,tex}, DIR/figures/*.{pdf,png}, DIR/report.md and
DIR/report.html, all from the run records (load.py); `plot(DIR, kind)` writes one figure. The page
states the protocol (suite, seeds, budgets, training ranges, test points, versions, device), what
each number aggregates, and a problems section with everything missing, failed or unreadable.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ntm_bench.errors import BenchError
from ntm_bench.report import figures, tables
from ntm_bench.report.load import Results, load_results, protocol
from ntm_bench.report.memory import memory_runs
from ntm_bench.report.mplstyle import FIGURE_FORMATS, save_figure
from ntm_bench.report.page import Bullets, FigureBlock, Heading, Para, TableBlock, to_html, to_markdown
from ntm_bench.report.render import Column, Table, render
from ntm_bench.report.style import model_order

PLOT_KINDS = ("curves", "lengths", "memory")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "x"


def _threshold(results: Results) -> float:
    ev = (results.suite or {}).get("eval")
    t = ev.get("solved_threshold") if isinstance(ev, dict) else None
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else 0.9


def plot(dir, kind: str = "curves", task: str | None = None, metric: str | None = None, fmt: str = "pdf",
         out=None, results: Results | None = None) -> list[Path]:
    """One figure of `kind` (curves | lengths | memory) written as `fmt`; returns the paths written.
    `out` is the path without extension (default DIR/figures/<kind>_<metric>[_<task>])."""
    if kind not in PLOT_KINDS:
        raise BenchError(f"unknown plot kind {kind!r}; valid: {', '.join(PLOT_KINDS)}")
    if fmt not in FIGURE_FORMATS:
        raise BenchError(f"unknown figure format {fmt!r}; valid: {', '.join(FIGURE_FORMATS)}")
    results = results or load_results(dir)
    if kind == "curves":
        metric = metric or "val_bit_errors"
        fig = figures.plot_curves(results, metric=metric, task=task)
    elif kind == "lengths":
        metric = metric or "bit_errors"
        fig = figures.plot_lengths(results, metric=metric, task=task)
    else:
        if metric is not None:
            raise BenchError("memory pictures take no metric (they show inputs, outputs and head weightings)")
        fig = figures.plot_memory(results, task=task)
    name = "_".join(x for x in (kind, metric, _slug(task) if task else None) if x)
    target = Path(out) if out is not None else Path(dir) / "figures" / name
    return save_figure(fig, target, formats=(fmt,))


def budget_table(results: Results) -> Table:
    """Per task and model: parameters, and the budget actually used (mean over the runs)."""
    runs = results.runs
    t = Table([Column("task"), Column("model"), Column("params", "int"), Column("runs", "int"),
               Column("ok", "int"), Column("steps", "int"), Column("sequences", "int"),
               Column("wall_s", "float", 1), Column("best_step", "int"), Column("stopped by")],
              caption="Budget used per run (mean over its runs); best_step: the checkpoint evaluated "
                      "(best validation score).", collapse=("task",))
    for task in sorted(set(runs["task"])):
        t.groups.append(len(t.rows))
        for m in model_order(set(runs.loc[runs["task"] == task, "model"])):
            g = runs[(runs["task"] == task) & (runs["model"] == m)]
            t.rows.append([task, m, g["params"].dropna().iloc[0] if g["params"].notna().any() else math.nan,
                           len(g), int((g["status"] == "ok").sum()), g["steps"].mean(), g["sequences"].mean(),
                           g["wall_s"].mean(), g["best_step"].mean(),
                           ", ".join(sorted({str(x) for x in g["stopped_by"].dropna()})) or math.nan])
    return t


def _write_table(table: Table, base: Path, name: str) -> list[Path]:
    base.mkdir(parents=True, exist_ok=True)
    table.label = table.label or f"tab:{name}"
    out = []
    for fmt, ext in (("md", "md"), ("csv", "csv"), ("latex", "tex")):
        p = base / f"{name}.{ext}"
        p.write_text(render(table, fmt))
        out.append(p)
    return out


def _protocol_blocks(results: Results, threshold: float) -> list:
    p = protocol(results)
    seeds = p["seeds"]
    desc = (results.suite or {}).get("description")
    items = [f"Suite: `{p['suite']}`{f' ({desc})' if desc else ''}; {p['n_runs']} complete run records ({p['n_ok']} ok); "
             f"seeds: {', '.join(map(str, seeds))} ({len(seeds)})."]
    if p["train"]:
        keys = ("optimizer", "lr", "batch_size", "steps", "max_sequences", "max_seconds", "clip", "clip_value",
                "curriculum", "eval_every", "val_sequences")
        shown = ", ".join(f"{k}={p['train'][k]}" for k in keys if k in p["train"])
        items.append(f"Training settings{' (suite defaults; models and tasks may override, e.g. the learning rate)' if results.suite else ''}: {shown}.")
    elif p["train_variants"] > 1:
        items.append(f"Training settings differ between runs ({p['train_variants']} variants: see each run's summary.json).")
    for key, info in sorted(p["tasks"].items()):
        rng = ", ".join(f"{a} {lo}..{hi}" for a, (lo, hi) in info["train_range"].items()) or "—"
        tests = ", ".join(str(pt[0]) if len(pt) == 1 else "(" + ", ".join(map(str, pt)) + ")"
                          for pt in sorted(info["test"]))
        items.append(f"Task `{key}` ({info['name']} v{info['version']}; axes: {', '.join(info['axes'])}): "
                     f"trained on {rng} (inclusive); tested at {tests}.")
    items.append(f"Models: {', '.join(model_order(p['models']))}.")
    if results.picked:
        picks = "; ".join(f"{task} / {model}: {tables.picked_config(results, task, model)}"
                          for task, model in sorted(results.picked))
        items.append(f"Sweep: {int(results.sweep_scores['runs'].sum())} run records in all; every result below is "
                     f"of the configuration picked per task and model by validation score (never a test point; "
                     f"see the sweep table): {picks}.")
    for env in p["envs"]:
        items.append("Environment: " + ", ".join(f"{k} {v}" for k, v in env.items() if v is not None) + ".")
    how = (f"Every number is computed from the run records. Each run is evaluated at its best checkpoint by "
           f"validation score (on held-out sequences from the training range). Per-run values come first "
           f"(e.g. one run's mean over its unseen test points), then the seeds are aggregated: mean ± sample "
           f"standard deviation (n − 1; '—' for a single seed) over the seeds listed in each row (`n_seeds`). "
           f"'Best seed' is the best single run; 'solved' counts the runs with sequence accuracy ≥ {threshold:g} "
           f"on that split. 'bits' is the cross-entropy in bits per sequence (summed over the target bits); "
           f"'bit_errors' the thresholded bit errors per sequence: the two are never mixed on one axis.")
    return [Heading("Protocol"), Bullets(items), Heading("How to read the numbers", 3), Para(how)]


def build_report(dir) -> list[Path]:
    """Write every table, figure and the report page for DIR; return the paths written, report.md first."""
    root = Path(dir)
    results = load_results(root)
    threshold = _threshold(results)
    fig_dir, tab_dir = root / "figures", root / "tables"
    written: list[Path] = []
    blocks: list = _protocol_blocks(results, threshold)

    blocks.append(Heading("Results"))
    per_task, overall = tables.ranking_structs(results)
    acc = tables.accuracy_table_struct(results, "seq_accuracy", threshold)
    entries = [("Ranking per task", per_task, "ranking_per_task"), ("Ranking across tasks", overall, "ranking_overall"),
               ("Sequence accuracy by split", acc, "accuracy"),
               ("Bits per sequence by split", tables.accuracy_table_struct(results, "bits", threshold), "bits"),
               ("Leaderboard (every test point)", tables.leaderboard_table(results), "leaderboard"),
               ("Budgets", budget_table(results), "budgets")]
    if results.picked:
        entries.insert(0, ("Sweep (configurations by validation score)", tables.sweep_table(results), "sweep"))
    fp = tables.fingerprint_table(results)
    if fp.rows:
        entries.append(("Algorithm fingerprints", fp, "fingerprints"))
    for title, table, name in entries:
        files = _write_table(table, tab_dir, name)
        written += files
        blocks.append(TableBlock(table, title, files))
    (tab_dir / "ranking.csv").write_text(tables.ranking(results, "csv"))
    written.append(tab_dir / "ranking.csv")

    blocks.append(Heading("Figures"))
    band = "Lines: mean over seeds; bands: ± one standard deviation over seeds."
    figs = []
    present = figures.curve_metrics_present(results)
    for metric, x, xl in (("val_bit_errors", "sequences", "sequences seen"), ("val_bit_errors", "wall_s", "wall-clock time"),
                          ("val_bits", "sequences", "sequences seen")):
        if metric in present:
            figs.append((lambda m=metric, x=x: figures.plot_curves(results, m, x), f"curves_{metric}_{x}",
                         f"Learning curves: {figures.CURVE_LABELS[metric]} against {xl}, one panel per task. {band}"))
    for metric in ("bit_errors", "bits", "seq_accuracy", "excess_bits"):
        if metric in figures.eval_metrics_present(results):
            figs.append((lambda m=metric: figures.plot_lengths(results, m), f"lengths_{metric}",
                         f"Generalisation: {figures.LENGTH_LABELS[metric]} at each test point (best checkpoint), "
                         f"one panel per task; the grey band is the training range. Markers: mean over seeds; "
                         f"error bars: ± one standard deviation over seeds (for accuracies, cut at 0 and 1)."))
    for task, model, run_id in memory_runs(results):
        figs.append((lambda t=task, m=model: figures.plot_memory(results, t, m), f"memory_{_slug(task)}_{_slug(model)}",
                     f"Memory use of {model} on {task} ({run_id}, the seed with the best sequence accuracy on the "
                     f"unseen test points): inputs, targets, outputs (scored steps only) and "
                     f"each head's weighting over memory locations against time, for one test sequence; "
                     f"darker = larger: inputs and outputs from 0 (white) to 1 (black), each head from 0 to its "
                     f"largest weight (given on its axis). Long memories are cropped to the rows the heads use "
                     f"(see the axis labels)."))
    for make, name, caption in figs:
        try:
            fig = make()
        except BenchError as e:
            results.problems.append(f"figure {name}: {e}")
            continue
        paths = save_figure(fig, fig_dir / name, formats=("pdf", "png"))
        written += paths
        blocks.append(FigureBlock(paths[0], paths[1], caption))

    blocks.append(Heading("Problems"))
    blocks.append(Bullets(list(results.problems)) if results.problems else Para("None: every run completed and "
                                                                                  "was tested at every test point."))
    title = f"ntm-bench report: {protocol(results)['suite']}"
    pages = []
    for name, text in (("report.md", to_markdown(title, blocks, root)), ("report.html", to_html(title, blocks, root))):
        (root / name).write_text(text)
        pages.append(root / name)
    tab_dir.mkdir(parents=True, exist_ok=True)
    (tab_dir / "problems.json").write_text(json.dumps(results.problems, indent=1) + "\n")
    return pages + written + [tab_dir / "problems.json"]  # report.md first
