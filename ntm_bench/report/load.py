"""Load a results folder into tables: the run records are the only source (docs/records.md).

`load_results(DIR)` reads `DIR/runs/<run_id>/{summary.json, curve.jsonl, config.json}` and
`DIR/suite.json` (if present) and returns `Results`: pandas DataFrames of runs, evaluations and
learning-curve rows, plus a list of problems. Nothing here raises on a bad file: a corrupted or
truncated JSON file is named in `problems` and skipped; a run folder without `summary.json` is
listed as incomplete; failed and diverged runs and missing test points are listed too. Only a
folder with no run records at all is an error.

Records of different versions of one task are never pooled: when several versions are present,
the task key carries the version ("copy@v1", "copy@v2").

Each summary.json is read as a run_record.RunRecord (the schema the writer uses): records of every
version of schema 1 load; a record of another schema is skipped with one line naming its schema.

Sweeps: a run's `sweep` point (summary.json) is its configuration, shown as `config.sweep_label`
("batch_size=8,lr=0.001"; "" for a run without one). By default (`pick=True`) only one
configuration per (task, model) is kept, the one with the best validation score
(selection.pick_by_validation); every configuration's score stays in `Results.sweep_scores`. A folder
without sweeps is unchanged.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ntm_bench import compare
from ntm_bench.config import LATER_TRAIN_FIELDS, sweep_label
from ntm_bench.errors import BenchError
from ntm_bench.records import portable_path
from ntm_bench.report.selection import comparable_models, pick_by_validation
from ntm_bench.run_record import CurveRow, RecordError, RunRecord, TaskRecord

RUN_COLUMNS = ["run_id", "task", "task_name", "task_version", "model", "model_name", "params", "seed",
               "status", "error", "steps", "sequences", "wall_s", "best_step", "stopped_by",
               "diverged_at", "reference", "plugin", "suite", "sweep", "select_by", "val_bit_errors", "val_bits"]
EVAL_METRICS = ["bits", "bit_errors", "bit_accuracy", "seq_accuracy", "excess_bits", "accuracy"]  # accuracy: categorical tasks
CURVE_METRICS = ["step", "sequences", "wall_s", "train_bits", "val_bits", "val_bit_errors",
                 "val_bit_accuracy", "val_seq_accuracy"]


@dataclass
class Results:
    """Everything a report needs, read from one results folder."""
    dir: Path
    runs: pd.DataFrame          # one row per run (complete or not)
    evals: pd.DataFrame         # one row per run x test point
    curves: pd.DataFrame        # one row per learning-curve row, with the run's columns
    problems: list[str]         # one line each: what is missing, failed, corrupted or skipped
    suite: dict | None = None   # DIR/suite.json, if present and readable
    summaries: dict = field(default_factory=dict)   # run_id -> summary.json dict, as read
    attention: dict = field(default_factory=dict)   # run_id -> Path of attention.pt
    tasks: dict = field(default_factory=dict)       # task key -> {name, version, axes, train_range, test}
    picked: dict = field(default_factory=dict)      # (task, model) -> (picked config, how many): swept only
    sweep_scores: pd.DataFrame | None = None        # every configuration's validation score (pick_by_validation)
    sources: list = field(default_factory=list)     # (folder relative to dir, runs read): dir ('.') first, then
                                                    # the folders compared with
    run_dirs: dict = field(default_factory=dict)    # run_id -> its run folder (under dir or a folder compared with)
    records: dict = field(default_factory=dict)     # run_id -> run_record.RunRecord of its summary.json


def _num(v) -> float:
    """A JSON number, or NaN for null/missing/non-numbers (NaN never becomes a fake number)."""
    if isinstance(v, bool) or v is None:
        return math.nan
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def _read_json(path: Path, problems: list[str], rel: Path):
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        problems.append(f"{path.relative_to(rel)}: corrupted or truncated JSON ({type(e).__name__}); skipped")
    except OSError as e:
        problems.append(f"{path.relative_to(rel)}: unreadable ({e.strerror}); skipped")
    return None


def _read_curve(path: Path, problems: list[str], rel: Path) -> list[dict]:
    rows, bad = [], 0
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        problems.append(f"{path.relative_to(rel)}: unreadable; skipped")
        return rows
    for line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        try:
            rec = CurveRow.from_json(row)
        except RecordError:
            bad += 1
            continue
        rows.append({k: _num(getattr(rec, k)) for k in CURVE_METRICS})
    if bad:
        problems.append(f"{path.relative_to(rel)}: {bad} corrupted line(s) skipped")
    return rows


def _split(point: tuple, axes: list, train_range: dict) -> str:
    """'train' when every axis lies inside the training range, else 'unseen' (docs/records.md)."""
    for axis, v in zip(axes, point):
        lo, hi = train_range.get(axis, (v, v))
        if not lo <= v <= hi:
            return "unseen"
    return "train"


def _read_folder(root: Path, problems: list[str]) -> tuple[dict, dict, dict]:
    """(summaries, attention paths, run folders) by run id, of one results folder; BenchError if it
    has no readable run record."""
    runs_dir = root / "runs"
    folders = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    if not folders:
        raise BenchError(f"no run records under {str(root)!r} (expected {str(runs_dir)}/<run_id>/summary.json)")
    summaries, attention, folder_of, incomplete = {}, {}, {}, []
    for folder in folders:
        spath = folder / "summary.json"
        if not spath.is_file():
            incomplete.append(folder.name)
            continue
        s = _read_json(spath, problems, root)
        if s is None:
            continue
        try:
            RunRecord.from_json(s)
        except RecordError as e:
            problems.append(f"{spath.relative_to(root)}: {e}; skipped")
            continue
        run_id = str(s.get("run_id") or folder.name)
        if run_id in summaries:
            problems.append(f"{spath.relative_to(root)}: run id {run_id!r} already read from "
                            f"{folder_of[run_id].name}; skipped")
            continue
        summaries[run_id], folder_of[run_id] = s, folder
        if (folder / "attention.pt").is_file():
            attention[run_id] = folder / "attention.pt"
    for name in incomplete:
        problems.append(f"runs/{name}: incomplete (no summary.json); not counted")
    if not summaries:
        raise BenchError(f"no run records under {str(root)!r}: no readable summary.json "
                         f"({len(incomplete)} incomplete run folder(s))")
    return summaries, attention, folder_of


def _compared_folders(root: Path, suite: dict | None, compare_with) -> list[tuple[Path, bool]]:
    """(folder, named by the caller) for every folder to compare with: those named, then those
    recorded in suite.json by `run --compare-with` (relative to `root`); each once."""
    recorded = (suite or {}).get("compare_with") or []
    candidates = [(Path(d), True) for d in compare_with]
    candidates += [(root / d, False) for d in recorded if isinstance(d, str)]
    seen, out = {root.resolve()}, []
    for folder, named in candidates:
        if folder.resolve() not in seen:
            seen.add(folder.resolve())
            out.append((folder, named))
    return out


def _add_compared(root: Path, suite: dict | None, compare_with, allow_mismatch: bool, problems: list[str],
                  own: tuple[dict, dict, dict]) -> list[tuple[str, int]]:
    """Merge into `own` the runs of the folders compared with, after checking that the settings that
    must match do (ntm_bench.compare: BenchError, or with --allow-mismatch caveats in `problems`).
    A run id already read keeps its first record. Returns (folder, runs read) per folder, this one first."""
    summaries, attention, folder_of = own
    sources = [(".", len(summaries))]
    folders = _compared_folders(root, suite, compare_with)
    if not folders:
        return sources
    if suite is None:
        compare.read_suite_record(root)  # raises: a folder without suite.json cannot be compared
    here = compare.settings(suite, compare.versions_of(summaries.values()), compare.budgets_of(summaries.values()))
    allow = allow_mismatch or bool(suite.get("allow_mismatch"))
    for folder, named in folders:
        shown = portable_path(folder, root)
        theirs: list[str] = []
        try:
            record = compare.read_suite_record(folder)
            other = _read_folder(folder, theirs)
        except BenchError as e:
            if named:
                raise
            problems.append(f"compared with {shown!r} (suite.json), which cannot be read: {e}; its runs are left out")
            continue
        there = compare.settings(record, compare.versions_of(other[0].values()), compare.budgets_of(other[0].values()))
        problems += compare.check(compare.mismatches(here, there, repr(shown)),
                                  f"cannot compare {str(root)!r} with {str(folder)!r}", allow)
        problems += [f"{shown}: {line}" for line in theirs]
        for run_id, s in other[0].items():
            if run_id in summaries:
                problems.append(f"{shown}/runs/{run_id}: this folder has a run of the same id; its own record is used")
                continue
            summaries[run_id], folder_of[run_id] = s, other[2][run_id]
            if run_id in other[1]:
                attention[run_id] = other[1][run_id]
        sources.append((shown, len(other[0])))
    return sources


def load_results(dir, pick: bool = True, compare_with=(), allow_mismatch: bool = False) -> Results:
    """Read every run record under `dir` (see module docstring); BenchError if there are none.
    With `pick`, swept (task, model) pairs keep only the configuration picked by validation.
    `compare_with`: more results folders whose runs join these (so do those that suite.json names,
    recorded by `run --compare-with`), if the settings that must match do (ntm_bench.compare), or
    with `allow_mismatch`, with each difference as a caveat among the problems."""
    root = Path(dir)
    problems: list[str] = []
    suite = None
    if (root / "suite.json").is_file():
        suite = _read_json(root / "suite.json", problems, root)
        if suite is not None and not isinstance(suite, dict):
            problems.append("suite.json: not a JSON object; ignored")
            suite = None
    own = _read_folder(root, problems)
    sources = _add_compared(root, suite, compare_with, allow_mismatch, problems, own)
    problems += [c for c in (suite or {}).get("caveats") or [] if isinstance(c, str)]
    summaries, attention, folder_of = own

    records = {run_id: RunRecord.from_json(s) for run_id, s in summaries.items()}  # each read once before

    # Task keys: the suite's task label (or the task name), with the version when several are present.
    versions: dict[str, set] = {}
    for rec in records.values():
        versions.setdefault(rec.task.label or rec.task.name or "?", set()).add(rec.task.version)

    def task_key(t: TaskRecord) -> str:
        base = t.label or t.name or "?"
        return f"{base}@v{t.version}" if len(versions[base]) > 1 else base

    run_rows, eval_rows, curve_rows, tasks = [], [], [], {}
    for run_id, rec in sorted(records.items()):
        t, m, tr = rec.task, rec.model, rec.training
        best = tr.best_val if tr is not None and isinstance(tr.best_val, dict) else {}
        key = task_key(t)
        axes = list(t.axes or ["length"])
        train_range = {a: tuple(v) for a, v in (t.train_range or {}).items()}
        info = tasks.setdefault(key, {"name": t.name or key, "version": t.version,
                                      "axes": axes, "train_range": train_range, "test": set()})
        info["test"].update(tuple(p) for p in (t.test or []))
        run = {"run_id": run_id, "task": key, "task_name": t.name or key,
               "task_version": t.version, "model": m.label or m.name or "?",
               "model_name": m.name or "?", "params": _num(m.params), "seed": rec.seed,
               "status": rec.status or "ok", "error": rec.error,
               "steps": _num(tr and tr.steps), "sequences": _num(tr and tr.sequences),
               "wall_s": _num(tr and tr.wall_s), "best_step": _num(tr and tr.best_step),
               "stopped_by": tr and tr.stopped_by, "diverged_at": tr and tr.diverged_at,
               "reference": bool(m.reference), "plugin": m.plugin,
               "suite": rec.suite, "sweep": sweep_label(rec.sweep if isinstance(rec.sweep, dict) else {}),
               "select_by": (rec.train if isinstance(rec.train, dict) else {}).get("select_by", LATER_TRAIN_FIELDS["select_by"]),
               "val_bit_errors": _num(best.get("val_bit_errors")), "val_bits": _num(best.get("val_bits"))}
        run_rows.append(run)
        common = {k: run[k] for k in ("run_id", "task", "model", "model_name", "seed", "status",
                                      "params", "reference")}
        for e in rec.eval:
            if e.point is None:
                continue
            point = tuple(int(v) for v in e.point)
            row = {**common, "point": point, "label": e.label or ",".join(map(str, point)),
                   "split": e.split or _split(point, axes, train_range), "n": _num(e.n),
                   "memory_rows": _num(e.memory_rows)}
            row.update({a: v for a, v in zip(axes, point)})
            row.update({k: _num(getattr(e, k)) for k in EVAL_METRICS})
            eval_rows.append(row)
        cpath = folder_of[run_id] / "curve.jsonl"
        if cpath.is_file():
            curve_rows += [{**common, **r} for r in _read_curve(cpath, problems, root)]

    runs = pd.DataFrame(run_rows, columns=RUN_COLUMNS)
    evals = pd.DataFrame(eval_rows)
    if evals.empty:
        evals = pd.DataFrame(columns=["run_id", "task", "model", "model_name", "seed", "status", "params",
                                      "reference", "point", "label", "split", "n", "memory_rows", *EVAL_METRICS])
    curves = pd.DataFrame(curve_rows, columns=["run_id", "task", "model", "model_name", "seed", "status",
                                               "params", "reference", *CURVE_METRICS])
    _suite_test_points(suite, tasks)
    problems += _run_problems(runs, evals, tasks, records)
    for info in tasks.values():
        info["test"] = sorted(info["test"])
    results = Results(root, runs, evals, curves, problems, suite, summaries, attention, tasks, sources=sources,
                      run_dirs=folder_of, records=records)
    results = pick_by_validation(results) if pick else results
    results.problems += comparable_models(results.runs)[1]
    return results


def _suite_test_points(suite: dict | None, tasks: dict) -> None:
    """Add the suite's test points (suite.json: tasks label -> {test: [...]}) to the expected ones."""
    if not suite or not isinstance(suite.get("tasks"), dict):
        return
    for label, spec in suite["tasks"].items():
        if not isinstance(spec, dict):
            continue
        for key, info in tasks.items():
            if key == label or key.startswith(f"{label}@v"):
                for p in spec.get("test") or []:
                    info["test"].add(tuple(p) if isinstance(p, (list, tuple)) else (p,))


def _run_problems(runs: pd.DataFrame, evals: pd.DataFrame, tasks: dict, records: dict) -> list[str]:
    out = []
    for _, r in runs.iterrows():
        status = r["status"]
        if status != "ok":
            err = f": {r['error']}" if r["error"] else ""
            out.append(f"{r['run_id']}: {status}{err}")
        why = records[r["run_id"]].trace_error
        if isinstance(why, str) and why:
            out.append(f"{r['run_id']}: no memory picture or fingerprints: {why}")
        done = set(evals.loc[evals["run_id"] == r["run_id"], "point"])
        if not done:
            out.append(f"{r['run_id']}: no test results")
            continue
        info = tasks[r["task"]]
        missing = sorted(set(info["test"]) - done)
        if missing:
            labels = ", ".join(_label(p, info["axes"]) for p in missing)
            out.append(f"{r['run_id']}: missing test point(s) {labels}")
    return out


def _label(point: tuple, axes: list) -> str:
    if len(point) == 1:
        return str(point[0])
    return ",".join(f"{a}={v}" for a, v in zip(axes, point))


def code_path(summary: dict) -> dict:
    """{"train": ..., "eval": ..., "trace": ...}: the code path each phase of a run ran on (the NTM's
    backends, README "Speed"); from `env.code_path`, or from a record before it, `env.ntm_kernels`
    (the training path); {} for a model with one path."""
    env = summary.get("env") if isinstance(summary.get("env"), dict) else {}
    if isinstance(env.get("code_path"), dict):
        return dict(env["code_path"])
    return {"train": env["ntm_kernels"]} if env.get("ntm_kernels") else {}


def protocol(results: Results) -> dict:
    """What was run, from the records: suite, seeds, budgets, training ranges, test points, environment.

    suite.json wins where it has a value; everything else is reconstructed from the run records."""
    runs, records = results.runs, results.records.values()
    suite = results.suite or {}
    envs = sorted({json.dumps({k: rec.env.get(k) for k in ("python", "torch", "numpy", "pandas", "device",
                                                            "threads", "deterministic", "git_commit")}, sort_keys=True)
                   for rec in records if isinstance(rec.env, dict)})
    trains = sorted({json.dumps(rec.train or {}, sort_keys=True) for rec in records})
    paths: dict = {}  # model label -> {path description: runs}
    for rec in records:
        cp = code_path({"env": rec.env})
        if cp:
            text = ", ".join(f"{phase} {p}" for phase, p in cp.items())
            label = rec.model.label if rec.model is not None else "?"
            paths.setdefault(label, {}).setdefault(text, 0)
            paths[label][text] += 1
    return {
        "suite": suite.get("name") or ", ".join(sorted({str(x) for x in runs["suite"].dropna()})) or "—",
        "seeds": list(suite.get("seeds") or sorted({int(x) for x in runs["seed"].dropna()})),
        "train": suite.get("train") if isinstance(suite.get("train"), dict) else
        (json.loads(trains[0]) if len(trains) == 1 else None),
        "train_variants": len(trains),
        "tasks": results.tasks,
        "models": sorted(set(runs["model"])),
        "envs": [json.loads(e) for e in envs],
        "code_paths": paths,
        "n_runs": len(runs),
        "n_ok": int((runs["status"] == "ok").sum()),
    }
