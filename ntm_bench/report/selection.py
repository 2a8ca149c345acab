"""Which runs a table or figure shows: the configuration picked by validation, the models an overall
ranking may compare, the seed of each model that generalised best, the tasks with random targets.

All of it works on a loaded `load.Results` (the records are the only source) and never on a test
point to pick a configuration: sweeps are decided by validation score alone.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import pandas as pd

from ntm_bench.evaluation import VALIDATION_ORDER
from ntm_bench.report.style import model_order

if TYPE_CHECKING:
    from ntm_bench.report.load import Results


def comparable_models(runs: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The models an overall ranking may compare, and a line for each one it leaves out: those run on
    the same (task, seed) pairs as the largest group of models (on a tie, the group with more pairs).
    Reference predictors are not ranked and are not counted."""
    neural = runs[~runs["reference"].astype(bool)]
    cover = {m: frozenset(zip(g["task"], g["seed"].astype(str))) for m, g in neural.groupby("model", sort=True)}
    groups: dict[frozenset, list[str]] = {}
    for model, pairs in cover.items():
        groups.setdefault(pairs, []).append(model)
    if not groups:
        return [], []
    best = max(groups, key=lambda c: (len(groups[c]), len(c), sorted(c)))
    left = [f"ranking across tasks leaves out {m}: run on {_coverage(cover[m])}, the ranked models on "
            f"{_coverage(best)}" for m in sorted(cover) if cover[m] != best]
    return sorted(groups[best]), left


def _coverage(pairs: frozenset) -> str:
    """'copy, repeat_copy with seeds 0, 1' (or 'N (task, seed) pairs over ...' when not a full grid)."""
    tasks, seeds = sorted({t for t, _ in pairs}), sorted({s for _, s in pairs}, key=lambda s: (len(s), s))
    if len(pairs) == len(tasks) * len(seeds):
        return f"{', '.join(tasks)} with seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}"
    return f"{len(pairs)} (task, seed) pairs over {', '.join(tasks)}"


def pick_by_validation(results: Results) -> Results:
    """Per (task, model) with swept runs, keep the runs of the configuration with the best validation
    score: the mean over its seeds of each run's best_val (held-out sequences from the training range,
    never a test point), fewer bit errors first, then fewer bits (fewer bits first where every run
    says train.select_by: bits); a configuration with a run that has no validation score (failed)
    ranks after those without; ties go to the first label in sorted order.
    Without swept runs the results come back unchanged."""
    runs = results.runs
    if not (runs["sweep"] != "").any():
        return results
    rows, keep, picked = [], set(), {}
    for (task, model), g in runs.groupby(["task", "model"], sort=True):
        configs, order = [], VALIDATION_ORDER["bits" if (g["select_by"] == "bits").all() else "bit_errors"]
        for config, c in g.groupby("sweep", sort=True):
            scored = c[c["val_bit_errors"].notna()]
            configs.append({"task": task, "model": model, "config": config, "runs": len(c), "scored": len(scored),
                            "val_bit_errors": scored["val_bit_errors"].mean(), "val_bits": scored["val_bits"].mean(),
                            "run_ids": list(c["run_id"])})
        configs.sort(key=lambda r: (r["runs"] - r["scored"], *(math.inf if math.isnan(r[k]) else r[k]
                                                                for k in order)))
        for rank, r in enumerate(configs, 1):
            r.update(rank=rank, of=len(configs), picked=rank == 1)
        keep.update(configs[0]["run_ids"])
        if configs[0]["config"] or len(configs) > 1:
            picked[(task, model)] = (configs[0]["config"], len(configs))
        rows += configs
    scores = pd.DataFrame(rows).drop(columns="run_ids")
    return dataclasses.replace(
        results, runs=runs[runs["run_id"].isin(keep)].reset_index(drop=True),
        evals=results.evals[results.evals["run_id"].isin(keep)].reset_index(drop=True),
        curves=results.curves[results.curves["run_id"].isin(keep)].reset_index(drop=True),
        summaries={k: v for k, v in results.summaries.items() if k in keep},
        attention={k: v for k, v in results.attention.items() if k in keep}, picked=picked, sweep_scores=scores,
        run_dirs={k: v for k, v in results.run_dirs.items() if k in keep},
        records={k: v for k, v in results.records.items() if k in keep})


def random_target_tasks(results: Results) -> set[str]:
    """Tasks whose targets are random, judged by a Bayes-optimal reference (their evaluation rows carry
    excess_bits, e.g. dynamic N-grams): figures show them as bits above the optimum, and sequence
    accuracy, which no predictor can reach there, is left out."""
    ev = results.evals
    if "excess_bits" not in ev or ev.empty:
        return set()
    return set(ev.loc[ev["excess_bits"].notna(), "task"])


def best_runs(results: Results, candidates, task: str | None = None, model: str | None = None) -> list[tuple]:
    """(task, model, run_id) per task and model, among the run ids in `candidates`: the run with the
    best sequence accuracy on the unseen test points (then the fewest bits there, then the lowest
    seed), the seed that generalised best; `task` ("copy" also matches "copy@v2") and `model` filter."""
    runs = results.runs[results.runs["run_id"].isin(set(candidates))]
    if task is not None:
        runs = runs[(runs["task"] == task) | (runs["task"].str.split("@v").str[0] == task)]
    if model is not None:
        runs = runs[runs["model"] == model]
    ev = results.evals
    unseen = ev[ev["split"] == "unseen"] if "split" in ev else ev.iloc[:0]
    acc = unseen.groupby("run_id")["seq_accuracy"].mean() if "seq_accuracy" in unseen else {}
    bits = unseen.groupby("run_id")["bits"].mean() if "bits" in unseen else {}
    runs = runs.assign(_acc=runs["run_id"].map(acc).astype(float).fillna(-1.0),
                       _bits=runs["run_id"].map(bits).astype(float).fillna(math.inf))
    out = []
    for t in sorted(set(runs["task"])):
        for m in model_order(set(runs.loc[runs["task"] == t, "model"])):
            sub = runs[(runs["task"] == t) & (runs["model"] == m)].sort_values(
                ["_acc", "_bits", "seed", "run_id"], ascending=[False, True, True, True])
            out.append((t, m, sub["run_id"].iloc[0]))
    return out
