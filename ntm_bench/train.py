"""Train, evaluate and record one run: the entry point of every run (ntm_bench.executors calls it).

`run_one(spec, out_dir)` trains one (task, model, seed) (ntm_bench.trainer: the loop), keeps the
best checkpoint by validation score, evaluates it on the suite's test points (lengths beyond
training included), and writes the run's record, a run_record.RunRecord (docs/records.md). It never
raises for a problem inside the run: the record says `failed` or `diverged` and the suite goes on.
Runs resume exactly from `last.pt`; what resume, atomic records, determinism and locks guarantee,
and what they do not, is in docs/guarantees.md.
"""
from __future__ import annotations

import dataclasses
import traceback
from pathlib import Path

import torch

from ntm_bench import registry
from ntm_bench.errors import BenchError
from ntm_bench.loggers import make_logger
from ntm_bench.records import (RunLock, atomic_write_json, environment, now, portable_path, portable_text,
                               read_summary, remove_temp_files)
from ntm_bench.run_record import SCHEMA, ModelRecord, RunRecord, TaskRecord
from ntm_bench.spec import RunSpec
# build is part of this module's API (runner and tests use it from here)
from ntm_bench.trainer import Trainer, build, plugin_of

__all__ = ["COMPLETE", "Trainer", "build", "count_params", "run_one"]

COMPLETE = ("ok", "diverged")


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def run_one(spec: RunSpec, out_dir: Path, progress=None, logger: str = "none") -> dict:
    """Train, evaluate and record one run; return its summary (status ok / diverged / failed).
    `logger` (ntm_bench.loggers) also gets the learning curve as it grows: a runtime setting,
    no part of the run's identity.

    The run folder is locked for the duration (records.RunLock): a run that another live process
    holds is left alone (status 'busy ...', nothing written), and a run that another process
    completed meanwhile is not redone. A problem inside the run is recorded as `failed`; only a
    summary that cannot be written (a full disk) raises, as a BenchError naming the file."""
    run_dir = Path(out_dir) / "runs" / spec.run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot create run folder {str(run_dir)!r}: {e.strerror or e}") from None
    with RunLock(run_dir) as lock:
        busy = lock.acquire()
        if busy is not None:
            return {"run_id": spec.run_id, "status": f"busy ({busy})", "error": busy}
        done = read_summary(run_dir)
        if done is not None and done.get("status") in COMPLETE and done.get("config_hash") == spec.config_hash():
            return done  # completed by another invocation since this one planned it
        remove_temp_files(run_dir)
        return _run_locked(spec, run_dir, progress, logger)


def _task_version(spec: RunSpec):
    try:
        return registry.get_task(spec.task["task"]).cls.version
    except BenchError:
        return None


def _run_locked(spec: RunSpec, run_dir: Path, progress, logger: str = "none") -> dict:
    out = run_dir.parent.parent
    atomic_write_json(run_dir / "config.json", {**spec.to_json(), "plugins": [portable_path(p, out) for p in spec.plugins],
                                                "config_hash": spec.config_hash()})
    for stale in ("attention.pt", "error.txt"):  # an earlier try's (e.g. of an edited plugin); written anew below
        (run_dir / stale).unlink(missing_ok=True)
    torch.set_num_threads(spec.train.get("threads", 1))
    device = spec.train.get("device", "cpu")
    # CPU runs use deterministic kernels (the record says so); on CUDA it is the user's call
    torch.use_deterministic_algorithms(device == "cpu", warn_only=True)
    started = now()
    # What is known before anything can fail; the rest is filled in as the run gets that far.
    task = TaskRecord(name=spec.task["task"], label=spec.task["label"], version=_task_version(spec),
                      args=spec.task["args"], axes=None, train_range=spec.task["train_range"],
                      test=spec.task["test"], plugin=None)
    model = ModelRecord(label=spec.model["label"], name=spec.model["model"], preset=spec.model["preset"],
                        options=spec.model["options"], params=None, reference=False, plugin=None)
    status, error, training, rows, fingerprints, env, tr = "failed", None, None, [], None, None, None
    try:
        try:
            for plugin in spec.plugins:  # (build loads them again: a no-op) so that the record can name them
                registry.load_plugin(plugin)
            model = dataclasses.replace(model, plugin=plugin_of("model", spec.model["model"], out))
            task = dataclasses.replace(task, plugin=plugin_of("task", spec.task["task"], out))
            tr = Trainer(spec, run_dir, progress, make_logger(logger, run_dir))
        finally:
            env = environment(device)
        task = dataclasses.replace(task, version=tr.task.version, axes=list(tr.task.axes))
        model = dataclasses.replace(model, params=count_params(tr.model), reference=tr.entry.reference)
        training = tr.train()
        code_path = {}  # a model with several code paths (the NTM's backends) names the one each phase ran on
        code_path["train"] = getattr(tr.model, "code_path", None)
        if training.stopped_by == "diverged":
            status = "diverged"
            error = (f"plugin {model.plugin!r}: " if model.plugin else "") + tr.diverged_what
        if training.best_val is not None or not tr.params:
            rows = tr.test()
            code_path["eval"] = getattr(tr.model, "code_path", None)
            fingerprints = tr.attention()
            code_path["trace"] = getattr(tr.model, "code_path", None) if fingerprints else None
        if any(code_path.values()):
            env["code_path"] = {k: v for k, v in code_path.items() if v}
        if status != "diverged":
            status = "ok"
    except Exception as e:  # noqa: BLE001 - a failing run is recorded, the suite goes on
        text = str(e) if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"
        prefix = f"plugin {model.plugin!r}: " if model.plugin and not text.startswith("plugin ") else ""
        status, error = "failed", prefix + (text.splitlines() or [type(e).__name__])[0]
        try:
            (run_dir / "error.txt").write_text(portable_text(traceback.format_exc(), out))
        except OSError:
            pass
    if tr is not None:
        tr.logger.close()
    record = RunRecord(
        schema=SCHEMA, run_id=spec.run_id, suite=spec.suite, status=status, error=error,
        config_hash=spec.config_hash(), task=task, model=model, seed=spec.seed, data_seed=spec.data_seed,
        init_seed=spec.init_seed, eval_seed=spec.eval["seed"], train=spec.train, sweep=spec.sweep,
        plugin_sha256=spec.plugin_sha256, training=training, eval=rows, fingerprints=fingerprints,
        trace_error=tr.trace_error if tr is not None else None, notes=tr.notes if tr is not None else [],
        env=env, started_at=started, finished_at=now())
    summary = record.to_json()
    atomic_write_json(run_dir / "summary.json", summary)
    return summary
