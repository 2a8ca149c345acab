"""The length-generalisation score of tasks with categorical outputs (the Chomsky-hierarchy
protocol, Delétang et al. 2023; reference §6), from run records alone.

A run's score is its per-token accuracy averaged over the unseen test points (lengths beyond the
training range), evaluated at its best checkpoint by validation score; a run "solves" the task at
score >= the threshold (0.9). Per task and model the table gives the max over seeds (the number the
paper reports: its Table 2 is a max over seeds and learning rates), the mean ± sd over seeds and how
many seeds solved it, each labelled as such, beside the exact-match (sequence) accuracy, which the
paper does not report and which is much lower on the long outputs.
"""
from __future__ import annotations

import math

import pandas as pd

from ntm_bench.report.load import Results
from ntm_bench.report.render import Column, Table
from ntm_bench.report.style import model_order
from ntm_bench.report.tables import UNSEEN_MEAN, _mean_sd, categorical_tasks, per_run_splits

COLUMNS = ["task", "model", "max", "mean", "sd", "solved", "n_seeds", "exact_mean", "exact_sd"]


def score_frame(results: Results, threshold: float = 0.9) -> pd.DataFrame:
    """task x model: the max, mean and sd over seeds of the runs' scores, seeds solved, and the mean
    exact match over the unseen points."""
    tasks = categorical_tasks(results)
    if not tasks:
        return pd.DataFrame(columns=COLUMNS)
    runs = per_run_splits(results, "accuracy")
    runs = runs[runs["task"].isin(tasks) & (runs["split"] == UNSEEN_MEAN)]
    rows = []
    for task in sorted(tasks):
        sub = runs[runs["task"] == task]
        for model in model_order(set(sub["model"])):
            g = sub[sub["model"] == model]
            scores = g["value"].dropna()
            mean, sd = _mean_sd(scores)
            exact_mean, exact_sd = _mean_sd(g["seq_accuracy"])
            rows.append({"task": task, "model": model, "max": float(scores.max()) if len(scores) else math.nan,
                         "mean": mean, "sd": sd, "solved": int((scores >= threshold).sum()),
                         "n_seeds": len(scores), "exact_mean": exact_mean, "exact_sd": exact_sd})
    return pd.DataFrame(rows, columns=COLUMNS)


def score_table(results: Results, threshold: float = 0.9) -> Table:
    df = score_frame(results, threshold)
    table = Table([Column("task"), Column("model"), Column("accuracy: max over seeds", "float", 3),
                   Column("accuracy: mean ± sd over seeds", "pm", 3), Column(f"seeds solved (≥ {threshold:g})", "frac"),
                   Column("exact match: mean ± sd", "pm", 3)],
                  caption=f"Length generalisation (Delétang et al. 2023's protocol): each run's per-token accuracy "
                          f"averaged over the unseen test lengths (its score), then per task and model the max over "
                          f"seeds (what the paper's Table 2 reports), the mean ± sd over seeds, and how many seeds "
                          f"solved the task (score ≥ {threshold:g}); exact match: the fraction of unseen test "
                          f"sequences with every output symbol right (mean over seeds). Bold: the best max per task.",
                  collapse=("task",), label="tab:generalisation")
    for i, r in df.iterrows():
        if i == 0 or df.loc[i - 1, "task"] != r["task"]:
            table.groups.append(len(table.rows))
        table.rows.append([r["task"], r["model"], r["max"], (r["mean"], r["sd"]), (r["solved"], r["n_seeds"]),
                           (r["exact_mean"], r["exact_sd"])])
    for task, g in df.groupby("task"):
        if g["max"].notna().any():
            top = g["max"].max()
            table.bold.update((int(i), "accuracy: max over seeds") for i in g.index[g["max"] == top])
    return table


def short_lines(results: Results, threshold: float = 0.9) -> list[str]:
    """The score table as plain text lines for the end of `run` (empty without categorical tasks)."""
    df = score_frame(results, threshold)
    if df.empty:
        return []

    def f(v):
        return "-" if v is None or v != v else f"{v:.3f}"

    lines = [f"{'task':<28} {'model':<16} {'acc max':>8} {'acc mean':>9} {'acc sd':>7} {'solved':>7} {'exact':>7}"]
    for _, r in df.iterrows():
        lines.append(f"{r['task']:<28} {r['model']:<16} {f(r['max']):>8} {f(r['mean']):>9} {f(r['sd']):>7} "
                     f"{str(r['solved']) + '/' + str(r['n_seeds']):>7} {f(r['exact_mean']):>7}")
    lines.append(f"(accuracy: per-token, mean over the unseen lengths per run; max / mean / sd over seeds; "
                 f"solved: runs >= {threshold:g}; exact: exact-match mean)")
    return lines
