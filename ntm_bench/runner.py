"""Running a suite: skip what is complete, run the rest serially, in worker processes, or on Dask
(ntm_bench.executors). A run is complete when its summary.json says ok or diverged; a failed run,
or one whose worker died, is redone by the next invocation of the same command.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from ntm_bench import compare, registry
from ntm_bench.config import sweep_label, to_dict
from ntm_bench.errors import BenchError
from ntm_bench.executors import run_parallel, run_serial
from ntm_bench.executors_dask import run_dask
from ntm_bench.loggers import check_logger
from ntm_bench.records import atomic_write_json, portable_path, read_summary, summary_problem
from ntm_bench.spec import RunSpec, Suite

COMPLETE = ("ok", "diverged")


def check_out(out: Path) -> Path:
    """Fail with one clear line if the output folder cannot be one (before anything is written)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchError(f"output folder {str(out)!r} is a file")
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise BenchError(f"cannot create output folder {str(out)!r}: {str(parent)!r} is a file")
            break
    return out


def prepare_out(out: Path) -> Path:
    """Create the output folder, or fail with one clear line if it cannot hold records."""
    out = check_out(out)
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot create output folder {str(out)!r}: {e.strerror}") from None
    if not os.access(out / "runs", os.W_OK):
        raise BenchError(f"output folder {str(out)!r} is not writable")
    return out


def check_device(device: str) -> None:
    """Refuse a CUDA device this machine does not have, before anything is written."""
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise BenchError(f"device {device!r} asked for, but this machine has no CUDA device; use --device cpu")
    index = device.partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise BenchError(f"device {device!r} does not exist; this machine has cuda:0..cuda:{torch.cuda.device_count() - 1}")


def check_memory(suite: Suite, runs: list[RunSpec]) -> None:
    """Refuse test points that need more memory rows than a model can be given, and training or test
    sequences longer than a model's `max_steps` (before any run)."""
    from ntm_bench.train import build

    seen = set()
    for spec in runs:  # each distinct model configuration (a sweep point may change its memory)
        key = (spec.task["label"], spec.model["label"], json.dumps(spec.model["options"], sort_keys=True))
        if key in seen:
            continue
        seen.add(key)
        model_name = repr(spec.model["label"]) + (f" (sweep point {sweep_label(spec.sweep)})" if spec.sweep else "")
        try:
            task, _, model = build(spec)
        except Exception:  # noqa: BLE001 - a model that cannot be built fails its own runs, recorded
            continue
        check_steps(spec, task, model, model_name)
        rows = getattr(model, "memory_rows", None)
        if rows is None:
            continue
        can = getattr(model, "can_resize_memory", lambda: False)()
        for point in spec.task["test"]:
            need = task.memory_rows_needed(point[0] if len(point) == 1 else tuple(point))
            if need <= rows:
                continue
            label = task.point_label(point[0] if len(point) == 1 else tuple(point))
            if need > suite.eval.max_memory_rows:
                raise BenchError(f"task {key[0]!r} test point {label} needs {need} memory rows, more than "
                                 f"eval.max_memory_rows={suite.eval.max_memory_rows}")
            if not suite.eval.enlarge_memory:
                raise BenchError(f"task {key[0]!r} test point {label} needs {need} memory rows but model "
                                 f"{model_name} has {rows} and eval.enlarge_memory is off")
            if not can:
                raise BenchError(f"task {key[0]!r} test point {label} needs {need} memory rows but model "
                                 f"{model_name} has {rows} and cannot be enlarged (its initial memory is learned)")
        del model, task


def check_steps(spec: RunSpec, task, model, model_name: str) -> None:
    """A model with `max_steps` (e.g. a table of learned positions) takes sequences of at most that
    many steps: the longest training sequence and every test point must fit."""
    most = getattr(model, "max_steps", None)
    if not isinstance(most, int) or isinstance(most, bool):
        return  # None (any length), or not a number: the run itself reports that (contract.check_instance)
    hi = tuple(hi for _, hi in spec.task["train_range"].values())
    points = [("training sequence", hi)] + [("test point", tuple(p)) for p in spec.task["test"]]
    for what, point in points:
        point = point[0] if len(point) == 1 else point
        steps = task.sequence_length(point)
        if steps > most:
            raise BenchError(f"task {spec.task['label']!r} {what} {task.point_label(point)} is {steps} steps long, "
                             f"but model {model_name} takes sequences of at most {most} steps (its max_steps, set by its options)")


def prepare_models(runs: list[RunSpec]) -> None:
    """Call each model's `prepare(device)` hook (registry.register_model) once per device its runs use."""
    for model, device in sorted({(s.model["model"], s.train["device"]) for s in runs}):
        entry = registry.get_model(model)
        if entry.prepare is None:
            continue
        try:
            entry.prepare(device)
        except Exception as e:  # noqa: BLE001 - a plugin's hook: one line, before anything is written
            where = f"plugin {entry.plugin!r}, " if entry.plugin else ""
            text = str(e).splitlines()[0] if str(e) else ""
            raise BenchError(f"{where}model {model!r}: prepare({device!r}) raised {type(e).__name__}: {text}") from None


def plan(suite: Suite, out: Path, plugins=()) -> tuple[list[RunSpec], list[RunSpec]]:
    """(to run, already complete). A complete run recorded with a different config is an error,
    unless only the source of its plugin differs: an edited plugin's runs run again."""
    todo, done, clash, edited = [], [], [], []
    for spec in suite.runs(plugins):
        s = read_summary(out / "runs" / spec.run_id)
        problem = summary_problem(out / "runs" / spec.run_id)
        if problem:
            print(f"warning: {problem}; the run will be redone", file=sys.stderr)
        if s is not None and s.get("status") in COMPLETE:
            if s.get("config_hash") == spec.config_hash():
                done.append(spec)
            elif plugin_edited(spec, s):
                edited.append(spec.run_id)
                todo.append(spec)
            else:
                clash.append(spec.run_id)
        else:
            todo.append(spec)
    if clash:
        raise BenchError(f"{str(out)!r} already holds complete runs with a different config "
                         f"({', '.join(clash[:3])}{', ...' if len(clash) > 3 else ''}); "
                         f"use another --out folder")
    if edited:
        print(f"note: the plugin source of {len(edited)} complete run(s) changed since they ran "
              f"({', '.join(edited[:3])}{', ...' if len(edited) > 3 else ''}); they run again", file=sys.stderr)
    return todo, done


def plugin_edited(spec: RunSpec, summary: dict) -> bool:
    """Whether a complete run differs from `spec` only in the source of its plugin(s)."""
    recorded = summary.get("plugin_sha256") or {}
    if not isinstance(recorded, dict) or recorded == spec.plugin_sha256:
        return False
    return dataclasses.replace(spec, plugin_sha256=recorded).config_hash() == summary.get("config_hash")


def suite_record(suite: Suite, out: Path, plugins=()) -> dict:
    """The resolved suite as suite.json holds it; paths relative (records.portable_path)."""
    record = {"name": suite.name, "description": suite.description, "source": portable_path(suite.source, out),
              "seeds": list(suite.seeds), "train": to_dict(suite.train), "eval": to_dict(suite.eval),
              "tasks": {k: to_dict(v) for k, v in suite.tasks.items()},
              "models": {k: to_dict(v) for k, v in suite.models.items()},
              "overrides": list(suite.overrides), "plugins": [portable_path(p, out) for p in plugins]}
    if suite.sweep:
        record["sweep"] = {k.text: list(v) for k, v in suite.sweep}
    return record


def write_suite_record(suite: Suite, out: Path, plugins=(), compare_with=(), allow_mismatch: bool = False,
                       caveats=()) -> None:
    """Stamp the resolved suite on the folder (merged with earlier invocations' tasks/models), with
    the folders its reports compare with (relative to it) and any caveats accepted with
    --allow-mismatch."""
    path = out / "suite.json"
    record = suite_record(suite, out, plugins)
    record["compare_with"] = [portable_path(d, out) for d in compare_with]
    record["allow_mismatch"] = bool(allow_mismatch)
    record["caveats"] = list(caveats)
    try:
        old = json.loads(path.read_text())
        for key in ("tasks", "models"):
            record[key] = {**old.get(key, {}), **record[key]}
        sweep = {k: list(v) for k, v in (old.get("sweep") or {}).items()}  # the values of every invocation
        for key, values in record.get("sweep", {}).items():
            sweep[key] = [*sweep.get(key, []), *(v for v in values if v not in sweep.get(key, []))]
        if sweep:
            record["sweep"] = sweep
        record["seeds"] = sorted(set(old.get("seeds", [])) | set(record["seeds"]))
        for key in ("plugins", "compare_with", "caveats"):
            record[key] = sorted(set(old.get(key, [])) | set(record[key]))
        record["allow_mismatch"] = bool(old.get("allow_mismatch")) or record["allow_mismatch"]
    except (OSError, json.JSONDecodeError, AttributeError, TypeError):
        pass
    atomic_write_json(path, record)


def check_comparable(suite: Suite, out: Path, compare_with=(), allow_mismatch: bool = False) -> list[str]:
    """The planned suite against the folders it is compared with, and against the runs already in
    `out` (where a task they do not have yet is no difference: tasks accumulate in a folder): the
    settings that must match (ntm_bench.compare) do, or BenchError; with `allow_mismatch`
    each difference is a warning, and those with the runs already in `out` come back as caveats for
    suite.json (the others are found again whenever the folders are loaded together)."""
    planned = ({"task": r.task, "model": r.model, "train": r.train} for r in suite.runs())
    here = compare.settings(suite_record(suite, out),
                            {label: [registry.get_task(ts.task).cls.version] for label, ts in suite.tasks.items()},
                            compare.budgets_of(planned))
    caveats = []
    for folder in compare_with:
        name = repr(str(folder))
        lines = compare.mismatches(here, compare.folder_settings(folder), name)
        for line in compare.check(lines, f"cannot compare with {name}", allow_mismatch):
            print(f"warning: {line}", file=sys.stderr)
    try:
        earlier = compare.folder_settings(out) if (Path(out) / "suite.json").is_file() else None
    except BenchError:  # no complete run yet, or a suite.json that is rewritten below anyway
        earlier = None
    if earlier is not None:
        lines = compare.mismatches(here, earlier, "the earlier runs", "for the runs added later", need_shared=False)
        caveats = compare.check(lines, f"cannot add runs to {str(out)!r}", allow_mismatch,
                                hint="use another --out, with --compare-with this folder; ")
        for line in caveats:
            print(f"warning: {line}", file=sys.stderr)
    return caveats


def run_suite(suite: Suite, out: Path, plugins=(), workers: int = 1, executor: str = "local",
              scheduler: str | None = None, compare_with=(), allow_mismatch: bool = False,
              logger: str = "none") -> dict:
    """Run what is not complete yet. `logger` (ntm_bench.loggers) is a runtime setting beside the
    specs, like the device: it changes no run's id or config hash."""
    check_logger(logger)
    if executor == "dask" and not scheduler:
        raise BenchError("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    for device in sorted({spec.train["device"] for spec in suite.runs(plugins)}):
        check_device(device)
    out = check_out(out)
    caveats = check_comparable(suite, out, compare_with, allow_mismatch)
    todo, done = plan(suite, out, plugins)
    check_memory(suite, todo)
    if executor != "dask":
        prepare_models(todo)  # e.g. build kernels once here: the workers on this machine then only load them
    out = prepare_out(out)  # only now, when everything asked for is known to be runnable
    write_suite_record(suite, out, plugins, compare_with, allow_mismatch, caveats)
    print(f"suite {suite.name}: {len(todo) + len(done)} runs, {len(done)} already complete, "
          f"{len(todo)} to run -> {out}", file=sys.stderr)
    t0 = time.perf_counter()
    if not todo:
        statuses = {}
    elif executor == "dask":
        statuses = run_dask(todo, out, scheduler, logger)
    elif workers <= 1:
        statuses = run_serial(todo, out, logger)
    else:
        statuses = run_parallel(todo, out, min(workers, len(todo)), logger)
    return {"statuses": statuses, "skipped": [s.run_id for s in done], "wall_s": time.perf_counter() - t0}
