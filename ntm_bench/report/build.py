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
from ntm_bench.report import figures, generalisation, paper_figures, ranking, tables
from ntm_bench.report.load import Results, load_results, protocol
from ntm_bench.report.selection import random_target_tasks
from ntm_bench.report.memory_pictures import memory_runs
from ntm_bench.report.style import FIGURE_FORMATS, check_font, figure_width, model_order, save_figure
from ntm_bench.report.page import Bullets, FigureBlock, Heading, Para, TableBlock, to_html, to_markdown
from ntm_bench.report.render import Column, Table, render

PLOT_KINDS = ("curves", "lengths", "memory", "paper_curves", "outputs")
PLOT_METRICLESS = {"memory": "they show inputs, outputs and head weightings",
                   "paper_curves": "they show the validation cost in bits, as the paper does",
                   "outputs": "they show targets and outputs"}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "x"


def _threshold(results: Results) -> float:
    ev = (results.suite or {}).get("eval")
    t = ev.get("solved_threshold") if isinstance(ev, dict) else None
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else 0.9


def plot(dir, kind: str = "curves", task: str | None = None, metric: str | None = None, fmt: str = "pdf",
         out=None, results: Results | None = None, logx: bool = False, font: str = "sans",
         width: str | None = None) -> list[Path]:
    """One figure of `kind` (PLOT_KINDS) written as `fmt`; returns the paths written. `out` is the
    path without extension (default DIR/figures/<kind>[_<metric>][_<task>]). `logx`: log-scaled x
    (curves, lengths, paper_curves); `font`: sans | serif | latex; `width`: column | full (default:
    column for one panel or one memory picture, full otherwise)."""
    if kind not in PLOT_KINDS:
        raise BenchError(f"unknown plot kind {kind!r}; valid: {', '.join(PLOT_KINDS)}")
    if fmt not in FIGURE_FORMATS:
        raise BenchError(f"unknown figure format {fmt!r}; valid: {', '.join(FIGURE_FORMATS)}")
    check_font(font)
    if width is not None:
        figure_width(width)  # a bad width is an error before anything is read
    if kind in ("memory", "paper_curves", "outputs") and metric is not None:
        raise BenchError(f"{kind} figures take no metric ({PLOT_METRICLESS[kind]})")
    results = results or load_results(dir)
    if kind == "curves":
        metric = metric or "val_bit_errors"
        fig = figures.plot_curves(results, metric=metric, task=task, logx=logx, width=width, font=font)
    elif kind == "lengths":
        metric = metric or "bit_errors"
        fig = figures.plot_lengths(results, metric=metric, task=task, logx=logx, width=width, font=font)
    elif kind == "memory":
        fig = figures.plot_memory(results, task=task, width=width or "column", font=font)
    elif kind == "paper_curves":
        fig = paper_figures.plot_paper_curves(results, task=task, logx=logx, width=width, font=font)
    else:
        task = task or "copy"
        fig = paper_figures.plot_outputs(results, task, width=width or "full", font=font)
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
    if len(results.sources) > 1:
        items.append("Compared with the runs of " + "; ".join(f"`{d}` ({n} run records)" for d, n in results.sources[1:])
                     + ": the settings that must match were checked (see Problems for any caveat).")
    if results.picked:
        picks = "; ".join(f"{task} / {model}: {tables.picked_config(results, task, model)}"
                          for task, model in sorted(results.picked))
        items.append(f"Sweep: {int(results.sweep_scores['runs'].sum())} run records in all; every result below is "
                     f"of the configuration picked per task and model by validation score (never a test point; "
                     f"see the sweep table): {picks}.")
    for env in p["envs"]:
        items.append("Environment: " + ", ".join(f"{k} {v}" for k, v in env.items() if v is not None) + ".")
    if p.get("code_paths"):  # the NTM's backends round differently: say which code each phase ran on
        items.append("Code paths: " + "; ".join(f"{m}: " + ", ".join(f"{t} ({n} runs)" for t, n in sorted(v.items()))
                                                for m, v in sorted(p["code_paths"].items())) + ".")
    how = (f"Every number is computed from the run records. Each run is evaluated at its best checkpoint by "
           f"validation score (on held-out sequences from the training range). Per-run values come first "
           f"(e.g. one run's mean over its unseen test points), then the seeds are aggregated: mean ± sample "
           f"standard deviation (n − 1; '—' for a single seed) over the seeds listed in each row (`n_seeds`). "
           f"'Best seed' is the best single run; 'solved' counts the runs with sequence accuracy ≥ {threshold:g} "
           f"on that split. 'bits' is the cross-entropy in bits per sequence (summed over the target bits); "
           f"'bit_errors' the thresholded bit errors per sequence: the two are never mixed on one axis.")
    return [Heading("Protocol"), Bullets(items), Heading("How to read the numbers", 3), Para(how)]


SEEDS_NOTE = ("Thin lines: one per seed; thick lines with markers: the mean over seeds (on learning curves, "
              "where every seed has a value).")
HEADLINE = ("generalisation", "curves", "memory")  # the figures the report opens with, in this order


def _figure_specs(results: Results, font: str, logx: bool) -> list[tuple]:
    """(section, name, make, caption) for every figure the records allow; section: one of HEADLINE
    (the report's first figures), "figures" or "paper"; caption: text, or a function of the figure."""
    specs = []
    random_targets = sorted(random_target_tasks(results))
    rt = (f" {', '.join(random_targets)}: random targets, so bits are drawn above the optimal predictor's "
          f"(its level: the dashed line) and sequence accuracy is left out." if random_targets else "")
    present = figures.curve_metrics_present(results)
    head_curve = "val_bits" if "val_bits" in present else "val_bit_errors"
    for metric, x, xl in (("val_bits", "sequences", "sequences seen"), ("val_bit_errors", "sequences", "sequences seen"),
                          ("val_bit_errors", "wall_s", "wall-clock time")):
        if metric in present:
            section = "curves" if (metric, x) == (head_curve, "sequences") else "figures"
            specs.append((section, f"curves_{metric}_{x}",
                          lambda m=metric, x=x: figures.plot_curves(results, m, x, logx=logx, font=font),
                          f"Learning curves: {figures.CURVE_LABELS[metric]} against {xl}, on held-out sequences "
                          f"from the training range, one panel per task. {SEEDS_NOTE}"
                          + (" Dashed: the optimal predictor on test sequences from the training range." if
                             random_targets and metric != "val_seq_accuracy" else "")))
    lengths = figures.eval_metrics_present(results)
    acc_tasks = set(results.evals["task"]) - set(random_targets)
    head_len = "seq_accuracy" if "seq_accuracy" in lengths and acc_tasks else "bits"
    shown = ("seq_accuracy", "bit_errors", "bits")
    if acc_tasks and acc_tasks <= generalisation.categorical_tasks(results):  # symbol outputs only: the score first
        head_len, shown = "accuracy", ("accuracy", "seq_accuracy", "bits")
    for metric in shown:
        if metric in lengths and (metric != "seq_accuracy" or acc_tasks):
            specs.append(("generalisation" if metric == head_len else "figures", f"lengths_{metric}",
                          lambda m=metric: figures.plot_lengths(results, m, logx=logx, font=font),
                          f"Generalisation: {figures.LENGTH_LABELS[metric]} at each test point (best checkpoint), "
                          f"one panel per task; the grey band is the training range (drawn at least a little wide, so "
                          f"that a single training length shows). {SEEDS_NOTE}"
                          + (" Accuracies share one 0-1 axis." if metric in figures.BOUNDED else "")
                          + (rt if metric in ("bits", "seq_accuracy") else "")))
    pictures = memory_runs(results)
    first = next((r for r in pictures if r[0].split("@v")[0] == "copy" and r[1] == "ntm"),
                 pictures[0] if pictures else None)  # the headline picture: the NTM on copy if there is one
    for task, model, run_id in pictures:
        specs.append(("memory" if (task, model, run_id) == first else "figures", f"memory_{_slug(task)}_{_slug(model)}",
                      lambda t=task, m=model: figures.plot_memory(results, t, m, font=font),
                      f"Memory use of {model} on {task} ({run_id}, the seed with the best sequence accuracy on the "
                      f"unseen test points), as in Graves et al. 2014, Fig. 6: inputs, targets, outputs (scored steps "
                      f"only) and each head's weighting over memory locations against time, for one test sequence; "
                      f"darker = larger: inputs and outputs from 0 (white) to 1 (black), each head from 0 to its "
                      f"largest weight (given beside it when below 1). The location axes show only the rows the "
                      f"heads visit, with their row numbers (a dotted line: the rows wrap from the last to row 0)."))
    if "val_bits" in present:
        specs.append(("paper", "paper_curves",
                      lambda: paper_figures.plot_paper_curves(results, logx=logx, font=font),
                      f"As in Graves et al. 2014, Figs. 3, 7, 10, 13 and 15: cost per sequence in bits (validation) "
                      f"against sequences seen, {' vs '.join(paper_figures.paper_models(results))}, one panel per task. "
                      f"{SEEDS_NOTE}"))
    for task in sorted(results.tasks):
        if task.split("@v")[0] in ("copy", "repeat_copy"):
            specs.append(("paper", f"outputs_{_slug(task)}", lambda t=task: _outputs_figure(results, t, font),
                          lambda fig, t=task: _outputs_caption(fig, t)))
    return specs


def _outputs_figure(results: Results, task: str, font: str):
    rows = paper_figures.output_samples(results, task)
    if not rows:
        return None  # no run has checkpoints or attention records: nothing to show, nothing wrong
    return paper_figures.plot_outputs(results, task, font=font, rows=rows)


def _outputs_caption(fig, task: str) -> str:
    where = {"best.pt": "rerun from its best checkpoint", "outputs.pt": "as rerun from its best checkpoint "
             "(outputs.pt)", "attention.pt": "the one test sequence its run saved (attention.pt)"}
    runs = "; ".join(f"{m}: seed {seed}, {where[source]}" for m, (_, seed, source) in fig.ntm_bench_sources.items())
    return (f"As in Graves et al. 2014, Figs. 4 and 8: {task} targets (top) and each model's outputs (below; "
            f"probabilities, white 0 to black 1) on the scored steps of one test sequence per test point, every model "
            f"on the same sequence; one time scale, long sequences on a line of their own. Per model, the seed with "
            f"the best sequence accuracy on the unseen test points ({runs}).")


def _summary_para(results: Results) -> Para:
    p = protocol(results)
    problems = len(results.problems)
    return Para(f"Suite `{p['suite']}`: {p['n_runs']} complete run records ({p['n_ok']} ok), seeds "
                f"{', '.join(map(str, p['seeds']))}, models {', '.join(model_order(p['models']))}. The headline "
                f"figures and a short table come first; the protocol, every table and the other figures follow"
                + (f"; {problems} problem(s) are listed at the end." if problems else "; no problems."))


def build_report(dir, compare_with=(), allow_mismatch: bool = False, font: str = "sans",
                 logx: bool = False) -> list[Path]:
    """Write every table, figure and the report page for DIR; return the paths written, report.md first.
    `compare_with`: other results folders whose runs join DIR's (load.load_results). The page opens
    with the headline figures (generalisation per task, learning curves, a memory picture) and a short
    summary table; then the protocol, the long tables, the other figures, the paper-style figures
    (Graves et al. 2014) and the problems. `font`, `logx`: as for `plot`."""
    check_font(font)
    root = Path(dir)
    results = load_results(root, compare_with=compare_with, allow_mismatch=allow_mismatch)
    threshold = _threshold(results)
    fig_dir, tab_dir = root / "figures", root / "tables"
    written: list[Path] = []

    drawn: dict[str, list] = {}
    for section, name, make, caption in _figure_specs(results, font, logx):
        try:
            fig = make()
        except BenchError as e:
            results.problems.append(f"figure {name}: {e}")
            continue
        if fig is None:
            continue
        paths = save_figure(fig, fig_dir / name, formats=("pdf", "png"))
        written += paths
        drawn.setdefault(section, []).append(FigureBlock(paths[0], paths[1], caption if isinstance(caption, str)
                                                         else caption(fig)))

    summary = tables.summary_table(results, threshold)
    files = _write_table(summary, tab_dir, "summary")
    written += files
    blocks: list = [Heading("Summary"), _summary_para(results)]
    blocks += [b for section in HEADLINE for b in drawn.get(section, [])[:1]]
    blocks.append(TableBlock(summary, "Summary table", files))
    if generalisation.categorical_tasks(results):  # tasks with symbol outputs (the chomsky suites)
        score = generalisation.score_table(results, threshold)
        files = _write_table(score, tab_dir, "generalisation")
        written += files
        blocks.append(TableBlock(score, "Length generalisation (per-token accuracy)", files))
    blocks += _protocol_blocks(results, threshold)

    blocks.append(Heading("Results"))
    per_task, overall = ranking.ranking_structs(results)
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
    (tab_dir / "ranking.csv").write_text(ranking.ranking(results, "csv"))
    written.append(tab_dir / "ranking.csv")

    if drawn.get("figures"):
        blocks += [Heading("Figures")] + drawn["figures"]
    if drawn.get("paper"):
        blocks += [Heading("Figures in the style of Graves et al. 2014")] + drawn["paper"]

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
