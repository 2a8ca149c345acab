"""The ranking on the unseen test points: per task, then across tasks (tables.py's conventions:
one value per run, then mean and sample sd over seeds)."""
from __future__ import annotations

import math

import pandas as pd

from ntm_bench.report.load import Results
from ntm_bench.report.render import Column, Table, check_format, render
from ntm_bench.report.selection import comparable_models
from ntm_bench.report.tables import IN_DIST, UNSEEN_MEAN, _mean_sd, per_run_splits


def ranking_frames(results: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per task: models ranked by mean seq_accuracy over the unseen points (mean over seeds), ties
    broken by fewer bits on those points; tied on both -> the same rank. A task with no unseen
    points is ranked on its in-distribution points. Reference predictors (e.g. the optimal N-gram
    model) are listed where their score puts them but not ranked, and stay out of the overall table.
    Overall: the mean across tasks of each model's rank among the models run on the same tasks and
    seeds (selection.comparable_models; the others are named among the problems)."""
    runs = per_run_splits(results, "seq_accuracy")
    same = set(comparable_models(results.runs)[0])  # the others are named among the problems
    rows = []
    for task in sorted(set(runs["task"])):
        sub = runs[runs["task"] == task]
        scope = UNSEEN_MEAN if (sub["split"] == UNSEEN_MEAN).any() else IN_DIST
        sub = sub[sub["split"] == scope]
        ranked = []
        for model, g in sub.groupby("model", sort=True):
            score, score_sd = _mean_sd(g["seq_accuracy"])
            bits, _ = _mean_sd(g["bits"])
            ranked.append({"task": task, "model": model, "score": score,
                           "scored_on": scope + (" *" if g["incomplete"].any() else ""),
                           "score_sd": score_sd, "bits": bits, "n_seeds": int(g["seq_accuracy"].notna().sum()),
                           "reference": bool(g["reference"].iloc[0])})
        for r in ranked:
            r["key"] = (-r["score"] if not math.isnan(r["score"]) else math.inf,
                        r["bits"] if not math.isnan(r["bits"]) else math.inf)
        # Models are ranked among themselves; a reference row is shown where its score puts it, unranked.
        competing = [r["key"] for r in ranked if not r["reference"]]
        comparable = [r["key"] for r in ranked if not r["reference"] and r["model"] in same]
        for r in ranked:
            r["rank"] = math.nan if r["reference"] else 1 + sum(other < r["key"] for other in competing)
            r["overall_rank"] = 1 + sum(other < r["key"] for other in comparable)  # among the overall table's
        rows += sorted(ranked, key=lambda r: (r["key"], r["model"]))
    columns = ["task", "rank", "model", "reference", "scored_on", "score", "score_sd", "bits", "n_seeds"]
    per_task = pd.DataFrame(rows, columns=columns)
    both = pd.DataFrame(rows, columns=[*columns, "overall_rank"])
    overall = (both[~both["reference"].astype(bool) & both["model"].isin(same)].groupby("model", sort=True)
               .agg(mean_rank=("overall_rank", "mean"), n_tasks=("task", "nunique"), reference=("reference", "max"))
               .reset_index().sort_values(["mean_rank", "model"], kind="stable").reset_index(drop=True))
    overall.insert(0, "position", range(1, len(overall) + 1))
    return per_task, overall


def ranking_structs(results: Results) -> tuple[Table, Table]:
    per_task, overall = ranking_frames(results)
    t1 = Table([Column("task"), Column("rank", "int"), Column("model"), Column("reference"),
                Column("scored on"), Column("seq_accuracy", "pm", 3), Column("bits", "float", 2),
                Column("n_seeds", "int")],
               caption="Per task, models ranked by sequence accuracy on the unseen test points (mean over "
                       "the points per run, then mean ± sd over seeds); ties broken by fewer bits per "
                       "sequence on the same points. Reference rows are non-neural predictors, shown for "
                       "comparison and not ranked. *: some run lacks a test point (see Problems).",
               collapse=("task",), label="tab:ranking_per_task")
    for i, r in per_task.iterrows():
        if i == 0 or per_task.loc[i - 1, "task"] != r["task"]:
            t1.groups.append(i)
        t1.rows.append([r["task"], r["rank"], r["model"], "reference" if r["reference"] else "",
                        r["scored_on"], (r["score"], r["score_sd"]), r["bits"], r["n_seeds"]])
    t2 = Table([Column("position", "int"), Column("model"), Column("reference"), Column("mean rank", "float", 2),
                Column("tasks", "int")],
               caption="Across tasks: the mean over the tasks of each model's rank among the models of this "
                       "table, which are those run on the same tasks and seeds (any other is named under "
                       "Problems; reference predictors are excluded).", label="tab:ranking_overall")
    for _, r in overall.iterrows():
        t2.rows.append([r["position"], r["model"], "reference" if r["reference"] else "",
                        r["mean_rank"], r["n_tasks"]])
    return t1, t2


def ranking(results: Results, fmt: str = "md") -> str:
    """Both ranking tables; CSV puts them in one table (overall rows have task 'all tasks')."""
    check_format(fmt)
    t1, t2 = ranking_structs(results)
    if fmt == "csv":
        per_task, overall = ranking_frames(results)
        merged = Table([Column("task"), Column("rank", "int"), Column("model"), Column("reference"),
                        Column("scored_on"), Column("seq_accuracy", "pm"), Column("bits", "float"),
                        Column("n_seeds", "int"), Column("mean_rank", "float"), Column("n_tasks", "int")])
        for _, r in per_task.iterrows():
            merged.rows.append([r["task"], r["rank"], r["model"], str(bool(r["reference"])).lower(),
                                r["scored_on"], (r["score"], r["score_sd"]), r["bits"], r["n_seeds"],
                                math.nan, math.nan])
        for _, r in overall.iterrows():
            merged.rows.append(["all tasks", r["position"], r["model"], str(bool(r["reference"])).lower(),
                                "mean rank", (math.nan, math.nan), math.nan, math.nan, r["mean_rank"],
                                r["n_tasks"]])
        return render(merged, "csv")
    return render(t1, fmt) + "\n" + render(t2, fmt)
