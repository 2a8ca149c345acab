"""Print the recipe search's table from its records: python results/recipe-search/summarise.py

Arguments: experiment folders (names under results/recipe-search, or paths to any suite output
folder, e.g. results/meminit); none: every experiment of the search.

One row per (experiment, task, configuration): how many seeds reached the target on validation
(bit errors per sequence) and after how many training sequences, per NTM code path. Runs that were
stopped by hand before they finished have a curve but no summary: they are listed as "stopped"
with the last validation point reached.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from ntm_bench.config import LATER_TRAIN_FIELDS
from ntm_bench.report.load import code_path

HERE = Path(__file__).parent
TARGET = 0.1  # the search's criterion: <= 0.1 bit errors per sequence on validation
# tasks judged by their cost (bits per sequence; the criteria compare it with the optimum or
# with the LSTM's): their rows give each seed's best validation cost and where it was reached
BITS_TASKS = ("priority_sort", "dynamic_ngrams")


def runs(exp: Path):
    for d in sorted((exp / "runs").iterdir()):
        cfg = json.loads((d / "config.json").read_text())
        summary = d / "summary.json"
        s = json.loads(summary.read_text()) if summary.exists() else None
        curve = [json.loads(x) for x in (d / "curve.jsonl").read_text().splitlines()] if (d / "curve.jsonl").exists() else []
        yield cfg, s, curve


def recipe(cfg) -> str:
    t, o = cfg["train"], cfg["model"]["options"]
    parts = [f"{t['optimizer']} lr={t['lr']:g} b={t['batch_size']} clip={t['clip']}:{t['clip_value']:g}",
             t["curriculum"]]
    if t.get("lr_schedule", LATER_TRAIN_FIELDS["lr_schedule"]) != LATER_TRAIN_FIELDS["lr_schedule"]:
        decay = t.get("lr_decay_steps")
        parts.append(f"{t['lr_schedule']} to lr x {t['lr_final']:g}"
                     + (f" over the first {decay * t['batch_size']:,} sequences" if decay else ""))
    if t.get("select_by", LATER_TRAIN_FIELDS["select_by"]) != LATER_TRAIN_FIELDS["select_by"]:
        parts.append(f"select by {t['select_by']}")
    if t.get("range_floor"):
        axes = t.get("range_floor_axes")
        until = t.get("range_floor_until", LATER_TRAIN_FIELDS["range_floor_until"])
        parts.append(f"range_floor={t['range_floor']:g}" + (f" on {','.join(axes)}" if axes else "")
                     + (f" for the first {round(until * t['steps']) * t['batch_size']:,} sequences" if until < 1 else ""))
    if t.get("reinit_after_sequences"):
        parts.append(f"new init if > {t['reinit_above_bit_errors']:g} err after {t['reinit_after_sequences']:,} "
                     f"(at most {t['max_reinits']})")
    rng = cfg["task"]["train_range"]
    parts.append(" ".join(f"{a} {lo}..{hi}" for a, (lo, hi) in rng.items()))
    parts += [f"task {k}={v}" for k, v in sorted((cfg["task"].get("args") or {}).items())]
    parts += [f"{k}={v}" for k, v in sorted(o.items()) if k != "native"]
    return ", ".join(parts)


def main(argv):
    exps = [Path(a) if (Path(a) / "runs").is_dir() else HERE / a for a in argv] or \
        sorted(p for p in HERE.iterdir() if (p / "runs").is_dir())
    print("| experiment | task | model | recipe | code path | seeds reaching <= 0.1 | sequences to reach it (median, per seed) |")
    print("|---|---|---|---|---|---:|---|")
    for exp in exps:
        groups = defaultdict(list)
        records = list(runs(exp))
        # a run stopped by hand has no summary: it ran on the path of its experiment's finished runs
        ran_on = next((code_path(s).get("train") for _, s, _ in records if s and code_path(s).get("train")), None)
        for cfg, s, curve in records:
            if cfg["model"]["model"] != "ntm":
                path = "-"
            else:
                path = code_path(s or {}).get("train") or ran_on or cfg["model"]["options"].get("native", "auto")
                path = {"always": "native", "auto": "native", "never": "python"}.get(path, path)
            groups[(cfg["task"]["label"], cfg["model"]["label"], recipe(cfg), path)].append((cfg["seed"], s, curve))
        for (task, model, rec, path), items in sorted(groups.items()):
            cells, hits, done = [], [], 0
            for seed, s, curve in sorted(items, key=lambda x: x[0]):
                hit = next((r for r in curve if r["val_bit_errors"] <= TARGET), None)
                reinits = (s or {}).get("training", {}).get("reinits") or 0
                if task in BITS_TASKS:  # no target: the best validation cost, in bits per sequence
                    if not curve:
                        cells.append(f"s{seed}: stopped")
                        continue
                    best = min(curve, key=lambda r: r["val_bits"])
                    excess = s["eval"][0].get("excess_bits") if s and s.get("eval") else None  # N-grams: test - optimum
                    cells.append(f"s{seed}: {best['val_bits']:.1f} bits at {best['sequences']:,}"
                                 + (f" (init {reinits + 1})" if reinits else "") + ("" if s else " (stopped)")
                                 + (f", test +{excess:.2f}" if excess is not None else ""))
                    continue
                if hit:
                    hits.append(hit["sequences"])
                    cells.append(f"s{seed}: {hit['sequences']:,}" + (f" (init {reinits + 1})" if reinits else ""))
                elif s is None:
                    last = curve[-1] if curve else None
                    cells.append(f"s{seed}: stopped at {last['sequences']:,} ({last['val_bit_errors']:.2f} err)"
                                 if last else f"s{seed}: stopped")
                else:  # the criterion for these tasks: >= 0.9 of validation sequences exact
                    best = s["training"]["best_val"]
                    cells.append(f"s{seed}: not in {s['training']['sequences']:,} "
                                 f"({best['val_bit_errors']:.2f} err, {best['val_seq_accuracy']:.2f} exact)")
                done += s is not None or hit is not None
            med = f"{statistics.median(hits):,.0f}" if hits else "-"
            print(f"| {exp.name} | {task} | {model} | {rec} | {path} | {len(hits)}/{len(items)} | {med}; {'; '.join(cells)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
