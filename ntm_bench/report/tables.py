"""Tables from run records: leaderboard, accuracy by split, summary, algorithm fingerprints (the
ranking is in ranking.py).

Every number aggregates over seeds: the mean and the sample standard deviation (n - 1 in the
denominator; "—" for a single seed) of one value per run, each run evaluated at its best
checkpoint by validation score. Per-run values come first (e.g. one run's mean sequence accuracy
over the unseen test points), then the seeds are aggregated; a run missing a test point is
averaged over the points it has (the report's problems section names the missing ones). In a folder
with sweeps, every table sees per (task, model) the configuration picked by validation score
(selection.pick_by_validation); the leaderboard names it, and `sweep_table` lists every configuration.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ntm_bench.errors import BenchError
from ntm_bench.report.load import Results
from ntm_bench.report.selection import random_target_tasks
from ntm_bench.report.render import Column, Table, check_format, render
from ntm_bench.report.style import model_order

HIGHER_IS_BETTER = {"seq_accuracy": True, "bit_accuracy": True, "bits": False, "bit_errors": False,
                    "excess_bits": False, "accuracy": True}
IN_DIST, UNSEEN_MEAN = "in-distribution", "unseen mean"


def _check_metric(metric: str) -> None:
    if metric not in HIGHER_IS_BETTER:
        raise BenchError(f"unknown metric {metric!r}; valid: {', '.join(sorted(HIGHER_IS_BETTER))}")


def categorical_tasks(results: Results) -> set[str]:
    """Tasks whose evaluation rows carry a per-token accuracy (output kind "categorical": their
    errors count symbols, not bits; report.generalisation has their table)."""
    ev = results.evals
    if ev.empty or "accuracy" not in ev:
        return set()
    return set(ev.loc[ev["accuracy"].notna(), "task"])


def _mean_sd(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if not (x is None or math.isnan(x))], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan


def _point_order(results: Results, task: str) -> list[tuple]:
    return sorted(set(results.evals.loc[results.evals["task"] == task, "point"]))


def _params(results: Results, task: str, model: str) -> float:
    p = results.runs.loc[(results.runs["task"] == task) & (results.runs["model"] == model), "params"].dropna()
    return float(p.iloc[0]) if len(p) else math.nan


NOT_SWEPT = "(not swept)"


def picked_config(results: Results, task: str, model: str) -> str | None:
    """'lr=0.001 (1 of 4 by validation)' for a swept (task, model), None for one without a sweep."""
    if (task, model) not in results.picked:
        return None
    config, n = results.picked[(task, model)]
    return f"{config or NOT_SWEPT} (1 of {n} by validation)"


def _task_model_pairs(results: Results):
    ev = results.evals
    for task in sorted(set(ev["task"])):
        for model in model_order(set(ev.loc[ev["task"] == task, "model"])):
            yield task, model


# ---------------------------------------------------------------------------------------------
# Leaderboard: one row per (task, model, test point)

def leaderboard_table(results: Results) -> Table:
    ev = results.evals
    has_excess = ev["excess_bits"].notna().any() if len(ev) else False
    has_accuracy = bool(categorical_tasks(results))
    cols = [Column("task"), Column("model"), Column("length"), Column("split"), Column("params", "int"),
            Column("bits", "pm", 2), Column("bit_errors", "pm", 2), Column("seq_accuracy", "pm", 3)]
    if has_accuracy:
        cols.append(Column("accuracy", "pm", 3))
    if results.picked:
        cols.insert(2, Column("config"))
    if has_excess:
        cols.append(Column("excess_bits", "pm", 2))
    cols.append(Column("n_seeds", "int"))
    table = Table(cols, caption="Per test point: mean ± sd over seeds (best checkpoint by validation). "
                                "bits: cross-entropy in bits per sequence; bit_errors: thresholded bit "
                                "errors per sequence; seq_accuracy: fraction of sequences with no bit error.",
                  collapse=("task", "model", "config"), label="tab:leaderboard")
    if has_accuracy:
        table.caption += (" Tasks with symbol outputs (accuracy given): bits is the softmax cross-entropy, "
                          "bit_errors counts wrong symbols, seq_accuracy is exact match and accuracy the "
                          "per-token accuracy.")
    if results.picked:
        table.caption += (" config: the sweep configuration picked by validation score (best_val: fewer bit "
                          "errors, then fewer bits, or the reverse where the runs select by bits; mean over "
                          "seeds) out of how many were run.")
    for task, model in _task_model_pairs(results):
        sub = ev[(ev["task"] == task) & (ev["model"] == model)]
        if task not in [r[0] for r in table.rows]:
            table.groups.append(len(table.rows))
        for point in _point_order(results, task):
            at = sub[sub["point"] == point]
            if at.empty:
                continue
            shown = model + (" (reference)" if bool(at["reference"].iloc[0]) else "")
            row = [task, shown, at["label"].iloc[0], at["split"].iloc[0], _params(results, task, model),
                   _mean_sd(at["bits"]), _mean_sd(at["bit_errors"]), _mean_sd(at["seq_accuracy"])]
            if results.picked:
                row.insert(2, picked_config(results, task, model))
            if has_accuracy:
                row.append(_mean_sd(at["accuracy"]))
            if has_excess:
                row.append(_mean_sd(at["excess_bits"]))
            row.append(int(at["seq_accuracy"].notna().sum() or at["bits"].notna().sum()))
            table.rows.append(row)
    return table


def leaderboard(results: Results, fmt: str = "md") -> str:
    """The leaderboard; in Markdown, the sweep table follows it when the folder holds sweeps."""
    check_format(fmt)
    text = render(leaderboard_table(results), fmt)
    if results.picked and fmt == "md":
        text += "\n" + render(sweep_table(results), fmt)
    return text


def sweep_table(results: Results) -> Table:
    """Every sweep configuration per (task, model) with its validation score, best first."""
    table = Table([Column("task"), Column("model"), Column("config"), Column("rank"), Column("val_bit_errors", "float", 3),
                   Column("val_bits", "float", 2), Column("runs scored", "frac")],
                  caption="Sweep: every configuration per task and model, ranked by validation score (each run's "
                          "best_val on held-out sequences from the training range, never a test point; mean over "
                          "seeds): fewer bit errors, then fewer bits; a configuration with an unscored (failed) run "
                          "ranks last. The other tables show the configuration ranked 1.",
                  collapse=("task", "model"), label="tab:sweep")
    if results.sweep_scores is None:
        return table
    df = results.sweep_scores
    df = df[[(t, m) in results.picked for t, m in zip(df["task"], df["model"])]]
    order = {m: i for i, m in enumerate(model_order(set(df["model"])))}
    df = df.assign(_m=df["model"].map(order))
    for _, r in df.sort_values(["task", "_m", "rank"], kind="stable").iterrows():
        if not table.rows or table.rows[-1][0] != r["task"]:
            table.groups.append(len(table.rows))
        table.rows.append([r["task"], r["model"], r["config"] or NOT_SWEPT,
                           f"{r['rank']} of {r['of']}" + (" (picked)" if r["picked"] else ""),
                           r["val_bit_errors"], r["val_bits"], (r["scored"], r["runs"])])
    return table


# ---------------------------------------------------------------------------------------------
# Per-run values on each split, then aggregated over seeds

def per_run_splits(results: Results, metric: str = "seq_accuracy") -> pd.DataFrame:
    """One row per (run, split) with the run's value of `metric`, its seq_accuracy and bits.

    Splits: "in-distribution" (mean over the test points inside the training range), each unseen
    point (by label), and "unseen mean" (mean over the run's unseen points)."""
    _check_metric(metric)
    rows = []
    ev = results.evals
    for run_id, sub in ev.groupby("run_id", sort=True):
        base = {k: sub[k].iloc[0] for k in ("task", "model", "seed", "reference")}
        base["run_id"] = run_id
        order = {p: i for i, p in enumerate(_point_order(results, base["task"]))}
        train, unseen = sub[sub["split"] == "train"], sub[sub["split"] != "train"].copy()
        # Points of this task's split that other runs were tested on but this run was not.
        lacks = {sp: bool(set(ev.loc[(ev["task"] == base["task"]) & ((ev["split"] == "train") == (sp == "train")),
                                     "point"]) - set(part["point"])) for sp, part in (("train", train), ("unseen", unseen))}
        if len(train):
            rows.append({**base, "split": IN_DIST, "order": -1, "incomplete": lacks["train"], **_vals(train, metric)})
        for _, e in unseen.iterrows():
            rows.append({**base, "split": e["label"], "order": order[e["point"]], "incomplete": False,
                         "value": e[metric], "seq_accuracy": e["seq_accuracy"], "bits": e["bits"]})
        if len(unseen):
            rows.append({**base, "split": UNSEEN_MEAN, "order": len(order), "incomplete": lacks["unseen"],
                         **_vals(unseen, metric)})
    return pd.DataFrame(rows, columns=["run_id", "task", "model", "seed", "reference", "split", "order",
                                       "incomplete", "value", "seq_accuracy", "bits"])


def _vals(sub: pd.DataFrame, metric: str) -> dict:
    return {"value": sub[metric].mean(), "seq_accuracy": sub["seq_accuracy"].mean(), "bits": sub["bits"].mean()}


def accuracy_frame(results: Results, metric: str = "seq_accuracy", threshold: float = 0.9) -> pd.DataFrame:
    """task x model x split: mean, sd, best seed, seeds solved (seq_accuracy >= threshold), n, params."""
    runs = per_run_splits(results, metric)
    better = max if HIGHER_IS_BETTER[metric] else min
    rows = []
    for task, model in _task_model_pairs(results):
        sub = runs[(runs["task"] == task) & (runs["model"] == model)]
        for (order, split), g in sub.groupby(["order", "split"], sort=True):
            vals = g.dropna(subset=["value"])
            mean, sd = _mean_sd(vals["value"])
            best = vals.loc[vals["value"] == better(vals["value"])].iloc[0] if len(vals) else None
            acc = g["seq_accuracy"].dropna()
            rows.append({"task": task, "model": model, "split": split, "order": order,
                         "params": _params(results, task, model), "mean": mean, "sd": sd,
                         "best": best["value"] if best is not None else math.nan,
                         "best_seed": best["seed"] if best is not None else None,
                         "solved": int((acc >= threshold).sum()), "n_seeds": len(acc),
                         "reference": bool(g["reference"].iloc[0]), "incomplete": bool(g["incomplete"].any())})
    return pd.DataFrame(rows, columns=["task", "model", "split", "order", "params", "mean", "sd", "best",
                                       "best_seed", "solved", "n_seeds", "reference", "incomplete"])


def accuracy_table(results: Results, fmt: str = "md", metric: str = "seq_accuracy",
                   threshold: float = 0.9) -> str:
    check_format(fmt)
    return render(accuracy_table_struct(results, metric, threshold), fmt)


def accuracy_table_struct(results: Results, metric: str = "seq_accuracy", threshold: float = 0.9) -> Table:
    df = accuracy_frame(results, metric, threshold)
    cols = [Column("task"), Column("model"), Column("params", "int"), Column("split"),
            Column(metric, "pm", 3), Column("best seed", "float", 3), Column("seed", "text"),
            Column(f"solved (≥{threshold:g})", "frac")]
    table = Table(cols, caption=f"{metric}: mean ± sd over seeds, the best seed's value and which seed, and "
                                f"how many seeds solved the split (seq_accuracy ≥ {threshold:g}). "
                                f"'{IN_DIST}' averages the test points inside the training range, "
                                f"'{UNSEEN_MEAN}' those beyond it. Bold: the best mean per task and split. "
                                f"*: some run lacks a test point of that split and is averaged over the "
                                f"points it has (see Problems).",
                  label="tab:" + ("accuracy" if metric == "seq_accuracy" else metric))
    better = np.nanargmax if HIGHER_IS_BETTER[metric] else np.nanargmin
    df = df.sort_values(["task", "order"], kind="stable")
    df["_m"] = df["model"].map({m: i for i, m in enumerate(model_order(df["model"]))})
    df = df.sort_values(["task", "_m", "order"], kind="stable").reset_index(drop=True)
    table.collapse = ("task", "model", "params")
    for i, r in df.iterrows():
        if i == 0 or df.loc[i - 1, "task"] != r["task"]:
            table.groups.append(i)
        table.rows.append([r["task"], r["model"] + (" (reference)" if r["reference"] else ""), r["params"],
                           r["split"] + (" *" if r["incomplete"] else ""),
                           (r["mean"], r["sd"]), r["best"],
                           "" if r["best_seed"] is None or pd.isna(r["best_seed"]) else str(int(r["best_seed"])),
                           (r["solved"], r["n_seeds"])])
    for (task, split), g in df.groupby(["task", "split"]):
        if g["mean"].notna().any():
            table.bold.add((int(g.index[better(g["mean"].to_numpy())]), metric))
    return table


def summary_table(results: Results, threshold: float = 0.9) -> Table:
    """The report's short table, per task and model (mean ± sd over seeds of per-run values):
    sequence accuracy on the training range and on the unseen test points, the seeds whose unseen
    accuracy reaches `threshold`, and bit errors on the unseen points. Tasks with random targets
    (selection.random_target_tasks) show bits above the optimum on the unseen points instead of accuracies."""
    acc = accuracy_frame(results, "seq_accuracy", threshold)
    errs = accuracy_frame(results, "bit_errors", threshold)
    random_targets = random_target_tasks(results)
    excess = accuracy_frame(results, "excess_bits", threshold) if random_targets else None
    symbols = categorical_tasks(results)  # their per-token accuracy: report.generalisation's table

    def at(df, task, model, split):
        g = df[(df["task"] == task) & (df["model"] == model) & (df["split"] == split)]
        return g.iloc[0] if len(g) else None

    cols = [Column("task"), Column("model"), Column("seq acc (train range)", "pm", 3),
            Column("seq acc (unseen)", "pm", 3), Column(f"seeds ≥ {threshold:g} (unseen)", "frac"),
            Column("bit errors (unseen)", "float", 2)]
    if random_targets:
        cols.append(Column("bits above optimum (unseen)", "pm", 2))
    table = Table(cols, caption=f"Summary per task and model: mean ± sd over seeds of each run's sequence accuracy "
                                f"on the test points inside the training range and on those beyond it (unseen), how "
                                f"many seeds reach {threshold:g} on the unseen points, and the bit errors per sequence "
                                f"there (mean over seeds). Bold: the best unseen accuracy per task."
                                + (" Tasks with random targets (" + ", ".join(sorted(random_targets)) + ") show the "
                                   "bits per sequence above the optimal predictor instead of accuracies, which "
                                   "mean nothing there." if random_targets else ""),
                  collapse=("task",), label="tab:summary")
    for task, model in _task_model_pairs(results):
        if not table.rows or table.rows[-1][0] != task:
            table.groups.append(len(table.rows))
        ind, uns = at(acc, task, model, IN_DIST), at(acc, task, model, UNSEEN_MEAN)
        err = at(errs, task, model, UNSEEN_MEAN)
        reference = bool((ind if ind is not None else uns)["reference"]) if (ind is not None or uns is not None) else False
        row = [task, model + (" (reference)" if reference else "")]
        if task in random_targets:
            row += [math.nan, math.nan, (math.nan, math.nan)]
        else:
            row += [(ind["mean"], ind["sd"]) if ind is not None else math.nan,
                    (uns["mean"], uns["sd"]) if uns is not None else math.nan,
                    (uns["solved"], uns["n_seeds"]) if uns is not None else (math.nan, math.nan)]
        row.append(err["mean"] if err is not None and task not in symbols else math.nan)
        if random_targets:
            ex = at(excess, task, model, UNSEEN_MEAN) if task in random_targets else None
            row.append((ex["mean"], ex["sd"]) if ex is not None else math.nan)
        table.rows.append(row)
    for task in sorted({r[0] for r in table.rows} - random_targets):  # the best (ties too), when above 0
        idx = [i for i, r in enumerate(table.rows) if r[0] == task and not r[1].endswith("(reference)")
               and isinstance(r[3], tuple) and not math.isnan(r[3][0])]
        top = max((table.rows[i][3][0] for i in idx), default=0.0)
        table.bold.update((i, "seq acc (unseen)") for i in idx if top > 0 and table.rows[i][3][0] == top)
    return table


# ---------------------------------------------------------------------------------------------
# Algorithm fingerprints (summary.json["fingerprints"], see fingerprints.py)

def fingerprint_table(results: Results) -> Table:
    rows: dict[tuple, dict[str, list]] = {}
    for run_id, s in sorted(results.summaries.items()):
        fp = s.get("fingerprints")
        run = results.runs[results.runs["run_id"] == run_id]
        if not isinstance(fp, dict) or run.empty:
            continue
        task, model = run["task"].iloc[0], run["model"].iloc[0]
        if isinstance(fp.get("heads"), dict):  # {"point": label, "heads": {head: {...}}} as the harness writes it
            fp = fp["heads"]
        for head, vals in fp.items():
            if isinstance(vals, dict):
                acc = rows.setdefault((task, model, head), {"entropy": [], "step_one": [], "stay": []})
                for k in acc:
                    v = vals.get(k)
                    acc[k].append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan)
    table = Table([Column("task"), Column("model"), Column("head"), Column("entropy", "pm", 2),
                   Column("step_one", "pm", 2), Column("stay", "pm", 2), Column("n_seeds", "int")],
                  caption="Attention fingerprints on the test sequences (mean ± sd over seeds): entropy = "
                          "mean normalised entropy of the weighting (0 one location, 1 uniform); step_one = "
                          "fraction of steps whose most-attended location moves by ±1; stay = by 0.",
                  collapse=("task", "model"), label="tab:fingerprints")
    order = {m: i for i, m in enumerate(model_order({k[1] for k in rows}))}
    for (task, model, head) in sorted(rows, key=lambda k: (k[0], order[k[1]], k[2])):
        acc = rows[(task, model, head)]
        if not table.rows or table.rows[-1][0] != task:
            table.groups.append(len(table.rows))
        table.rows.append([task, model, head, _mean_sd(acc["entropy"]), _mean_sd(acc["step_one"]),
                           _mean_sd(acc["stay"]), len(acc["entropy"])])
    return table
