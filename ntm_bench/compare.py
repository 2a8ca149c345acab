"""Whether the runs of two results folders may share one table: the settings that must match.

A user trains only their own model and compares it with the shipped results (`run quick --models
mine --plugin mine.py --compare-with results/quick-reference`, `leaderboard DIR DIR ...`). That is
fair only if both were trained and tested the same way; for every task the two folders share, these
must be equal: the task's name, version and arguments, its training range and its test points, and
the budgets (steps, max_sequences, max_seconds) and the validation seed and sequences (which pick
the checkpoint that is tested) as the runs resolved them: for a model run on the task in both
folders, that model's; for a model the other folder did not run on it, the task's (the suite's,
then the task's, then the overrides for every model); and for the whole suite the evaluation seed,
sequences per test point and evaluation batch size (which together fix the test sequences).
Learning rates, batch sizes and other per-model choices may differ: they are the models' own.

A folder's settings come from its `suite.json` and the task versions and resolved `train` of its
run records; a planned suite's from the suite itself, its planned runs and the registry.
"""
from __future__ import annotations

import json
from pathlib import Path

from ntm_bench.errors import BenchError

TRAIN_KEYS = ("steps", "max_sequences", "max_seconds", "val_seed", "val_sequences")
EVAL_KEYS = ("seed", "sequences", "batch_size")
TASK_KEYS = ("task", "version", "args", "train_range", "test")


def _point(p) -> tuple:
    return tuple(p) if isinstance(p, (list, tuple)) else (p,)


def task_budget(record: dict, label: str) -> dict:
    """The budget and validation keys a model without its own gets on task `label`: the suite's
    `train`, then the task's, then the `overrides` for every model (no `model`, or `*`)."""
    train = dict(record.get("train") if isinstance(record.get("train"), dict) else {})
    spec = (record.get("tasks") or {}).get(label)
    train.update((spec.get("train") if isinstance(spec, dict) else None) or {})
    for o in record.get("overrides") or []:
        if isinstance(o, dict) and o.get("task", "*") in ("*", label) and o.get("model", "*") == "*":
            train.update(o.get("train") or {})
    return {k: train.get(k) for k in TRAIN_KEYS}


def budgets_of(summaries) -> dict:
    """Task label -> model label -> key of TRAIN_KEYS -> the sorted values of the runs' resolved
    `train` (one value unless a sweep or an accepted mismatch varied it), from run summaries (or
    planned runs in the same form); runs without a recorded `train` are left out."""
    out: dict = {}
    for s in summaries:
        t, m, train = (s.get(k) if isinstance(s, dict) else None for k in ("task", "model", "train"))
        if not (isinstance(t, dict) and isinstance(m, dict) and isinstance(train, dict)):
            continue
        task = out.setdefault(t.get("label") or t.get("name", "?"), {})
        model = task.setdefault(m.get("label") or m.get("name", "?"), {})
        for k in TRAIN_KEYS:
            if train.get(k) not in model.setdefault(k, []):
                model[k].append(train.get(k))
    for models in out.values():
        for model in models.values():
            for k, values in model.items():
                values.sort(key=lambda v: (v is None, v if v is not None else 0))
    return out


def settings(record: dict, versions: dict, budgets: dict | None = None) -> dict:
    """The settings of a suite record (suite.json form) that must match, in one canonical form.
    `versions`: task label -> sorted list of the task versions its runs used; `budgets`: the runs'
    resolved budgets (`budgets_of`)."""
    evalc = record.get("eval") if isinstance(record.get("eval"), dict) else {}
    tasks = {}
    for label, spec in (record.get("tasks") or {}).items():
        if not isinstance(spec, dict):
            continue
        tasks[label] = {"task": spec.get("task", label), "version": list(versions.get(label) or []),
                        "args": spec.get("args") or {},
                        "train_range": {a: list(v) for a, v in sorted((spec.get("train_range") or {}).items())},
                        "test": sorted(_point(p) for p in spec.get("test") or []),
                        "budget": task_budget(record, label), "models": (budgets or {}).get(label, {})}
    return {"eval": {k: evalc.get(k) for k in EVAL_KEYS}, "tasks": tasks}


def _show(value) -> str:
    if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
        return "[" + ", ".join(str(p[0]) if len(p) == 1 else str(list(p)) for p in value) + "]"
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else repr(value)


def mismatches(here: dict, there: dict, there_name: str, here_name: str = "here",
               need_shared: bool = True) -> list[str]:
    """One line per setting that differs between two `settings` (tasks compared where both have them).
    `need_shared`: no task in common is a difference too (folders compared with each other; not runs
    added to a folder, whose tasks accumulate)."""
    out = []
    for k in EVAL_KEYS:
        a, b = here["eval"].get(k), there["eval"].get(k)
        if a != b:
            out.append(f"eval.{k} is {_show(a)} {here_name}, {_show(b)} in {there_name}")
    shared = sorted(set(here["tasks"]) & set(there["tasks"]))
    if not shared and need_shared:
        out.append(f"no task in common ({here_name}: {', '.join(sorted(here['tasks'])) or 'none'}; "
                   f"in {there_name}: {', '.join(sorted(there['tasks'])) or 'none'})")
    for label in shared:
        for field in TASK_KEYS:
            a, b = here["tasks"][label][field], there["tasks"][label][field]
            if field == "version" and not (a and b):  # no run of it recorded yet: nothing to compare
                continue
            if a != b:
                out.append(f"task {label!r} {field.replace('_', ' ')} is {_show(a)} {here_name}, "
                           f"{_show(b)} in {there_name}")
        # Budgets: a (task, model) run in both folders against itself, so that per-model budgets (quick's
        # overrides for the NTM) must match too; a model the other folder did not run (the user's own)
        # by the task's budget in each folder, the one any new model gets there: a researcher expects the
        # budget the task is run with, not that of another model, and a model's own budget is its choice.
        mine, theirs = here["tasks"][label].get("models") or {}, there["tasks"][label].get("models") or {}
        pairs = [(f"task {label!r} model {m!r}", mine[m], theirs[m]) for m in sorted(set(mine) & set(theirs))]
        if set(mine) - set(theirs) or not mine:
            pairs.append((f"task {label!r}", here["tasks"][label]["budget"], there["tasks"][label]["budget"]))
        for what, a, b in pairs:
            for k in TRAIN_KEYS:
                if a.get(k) != b.get(k):
                    out.append(f"{what} train.{k} is {_show(_one(a.get(k)))} {here_name}, {_show(_one(b.get(k)))} "
                               f"in {there_name}")
    return out


def _one(values):
    """A list of one value (budgets_of) as that value."""
    return values[0] if isinstance(values, list) and len(values) == 1 else values


def versions_of(summaries) -> dict:
    """Task label -> sorted versions, from run summaries."""
    out: dict[str, set] = {}
    for s in summaries:
        t = s.get("task") if isinstance(s, dict) else None
        if isinstance(t, dict):
            out.setdefault(t.get("label") or t.get("name", "?"), set()).add(t.get("version"))
    return {k: sorted(v, key=str) for k, v in out.items()}


def read_suite_record(folder: Path) -> dict:
    """suite.json of a suite output folder; BenchError naming the folder if it is not one."""
    folder = Path(folder)
    if not folder.exists():
        raise BenchError(f"results folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise BenchError(f"results folder {str(folder)!r} is not a folder")
    path = folder / "suite.json"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise BenchError(f"{str(folder)!r} is not a suite output folder (no suite.json; expected the --out "
                         f"folder of a `run`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BenchError(f"{str(path)!r} is unreadable ({type(e).__name__}); cannot compare with it") from None
    if not isinstance(record, dict) or not isinstance(record.get("tasks"), dict):
        raise BenchError(f"{str(path)!r} is not a suite record (no tasks); cannot compare with it")
    return record


def folder_settings(folder: Path) -> dict:
    """The settings of a suite output folder (BenchError if it is not one, or holds no run records)."""
    record = read_suite_record(folder)
    summaries = []
    for p in sorted(Path(folder).glob("runs/*/summary.json")):
        try:
            summaries.append(json.loads(p.read_text()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
    if not summaries:
        raise BenchError(f"{str(folder)!r} holds no complete run records (runs/<run_id>/summary.json)")
    return settings(record, versions_of(summaries), budgets_of(summaries))


def check(lines: list[str], what: str, allow: bool, hint: str = "") -> list[str]:
    """`lines` (from `mismatches`) as caveats when `allow`, a BenchError when not; [] when none."""
    if lines and not allow:
        more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
        raise BenchError(f"{what}: {'; '.join(lines[:3])}{more}; runs tested differently do not share a table "
                         f"({hint}--allow-mismatch compares anyway, with these differences as caveats in the report)")
    return [f"caveat: {line}" for line in lines]
