"""Running a suite: skip what is complete, run the rest serially, in worker processes, or on Dask.

Each run writes its own records (ntm_bench.train.run_one); an executor only hands out run specs
and collects statuses. A run is complete when its summary.json says ok or diverged; a failed run,
or one whose worker died, is redone by the next invocation of the same command.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import sys
import time
from pathlib import Path

from tqdm import tqdm

from ntm_bench import registry
from ntm_bench.config import to_dict
from ntm_bench.errors import BenchError
from ntm_bench.records import atomic_write_json, read_summary
from ntm_bench.suite import RunSpec, Suite

COMPLETE = ("ok", "diverged")


def prepare_out(out: Path) -> Path:
    """Create the output folder, or fail with one clear line if it cannot hold records."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchError(f"output folder {str(out)!r} is a file")
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot create output folder {str(out)!r}: {e.strerror}") from None
    if not os.access(out / "runs", os.W_OK):
        raise BenchError(f"output folder {str(out)!r} is not writable")
    return out


def check_memory(suite: Suite, runs: list[RunSpec]) -> None:
    """Refuse test points that need more memory rows than a model can be given (before any run)."""
    from ntm_bench.train import build

    seen = set()
    for spec in runs:
        key = (spec.task["label"], spec.model["label"])
        if key in seen:
            continue
        seen.add(key)
        task, _, model = build(spec)
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
                                 f"{key[1]!r} has {rows} and eval.enlarge_memory is off")
            if not can:
                raise BenchError(f"task {key[0]!r} test point {label} needs {need} memory rows but model "
                                 f"{key[1]!r} has {rows} and cannot be enlarged (its initial memory is learned)")
        del model, task


def plan(suite: Suite, out: Path, plugins=()) -> tuple[list[RunSpec], list[RunSpec]]:
    """(to run, already complete). A complete run recorded with a different config is an error."""
    todo, done, clash = [], [], []
    for spec in suite.runs(plugins):
        s = read_summary(out / "runs" / spec.run_id)
        if s is not None and s.get("status") in COMPLETE:
            if s.get("config_hash") != spec.config_hash():
                clash.append(spec.run_id)
            else:
                done.append(spec)
        else:
            todo.append(spec)
    if clash:
        raise BenchError(f"{str(out)!r} already holds complete runs with a different config "
                         f"({', '.join(clash[:3])}{', ...' if len(clash) > 3 else ''}); "
                         f"use another --out folder")
    return todo, done


def write_suite_record(suite: Suite, out: Path, plugins=()) -> None:
    """Stamp the resolved suite on the folder (merged with earlier invocations' tasks/models)."""
    path = out / "suite.json"
    record = {"name": suite.name, "description": suite.description, "source": suite.source,
              "seeds": list(suite.seeds), "train": to_dict(suite.train), "eval": to_dict(suite.eval),
              "tasks": {k: to_dict(v) for k, v in suite.tasks.items()},
              "models": {k: to_dict(v) for k, v in suite.models.items()},
              "overrides": list(suite.overrides), "plugins": [str(p) for p in plugins]}
    try:
        old = json.loads(path.read_text())
        for key in ("tasks", "models"):
            record[key] = {**old.get(key, {}), **record[key]}
        record["seeds"] = sorted(set(old.get("seeds", [])) | set(record["seeds"]))
        record["plugins"] = sorted(set(old.get("plugins", [])) | set(record["plugins"]))
    except (OSError, json.JSONDecodeError, AttributeError):
        pass
    atomic_write_json(path, record)


def _tty() -> bool:
    return sys.stderr.isatty()


# ----------------------------------------------------------------------------------------------
# Executors

def run_serial(todo: list[RunSpec], out: Path) -> dict[str, str]:
    from ntm_bench.train import run_one

    statuses = {}
    quiet = not _tty()
    with tqdm(total=len(todo), desc="suite", unit="run", disable=quiet, position=0) as suite_bar:
        for spec in todo:
            bar = tqdm(total=spec.train["steps"], desc=spec.run_id, unit="step", leave=False,
                       disable=quiet, position=1)

            def progress(ev, bar=bar):
                bar.n = ev["step"]
                if ev["kind"] == "eval":
                    bar.set_postfix(best_bit_errors=f"{ev['best_bit_errors']:.3g}", refresh=False)
                else:
                    bar.set_postfix(loss=f"{ev['loss']:.3g}", refresh=False)
                bar.refresh()

            s = run_one(spec, out, progress)
            bar.close()
            statuses[spec.run_id] = s["status"]
            suite_bar.update(1)
    return statuses


def _worker(spec_json: dict, out: str, q) -> None:
    """Entry point of a worker process: one run, progress sent to the parent."""
    import torch

    from ntm_bench.train import run_one

    torch.set_num_threads(spec_json["train"].get("threads", 1))
    spec = RunSpec(**{**spec_json, "plugins": tuple(spec_json["plugins"])})
    last = [0.0]

    def progress(ev):
        now = time.monotonic()
        if now - last[0] > 0.5:
            last[0] = now
            q.put((spec.run_id, ev))

    s = run_one(spec, Path(out), progress)
    q.put((spec.run_id, {"kind": "done", "status": s["status"]}))


def run_parallel(todo: list[RunSpec], out: Path, workers: int) -> dict[str, str]:
    """One process per run, at most `workers` at once, one torch thread each.

    A worker that dies (killed from outside, out of memory) costs only its run: it is reported as
    'killed' and left incomplete, and the next invocation redoes it."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    pending = list(todo)
    busy: dict[str, tuple] = {}  # run_id -> (process, bar)
    statuses: dict[str, str] = {}
    quiet = not _tty()
    suite_bar = tqdm(total=len(todo), desc="suite", unit="run", disable=quiet, position=0)
    slots = list(range(1, workers + 1))
    try:
        while pending or busy:
            while pending and len(busy) < workers:
                spec = pending.pop(0)
                p = ctx.Process(target=_worker, args=(spec.to_json(), str(out), q), daemon=True)
                p.start()
                slot = slots.pop(0)
                bar = tqdm(total=spec.train["steps"], desc=spec.run_id, unit="step", leave=False,
                           disable=quiet, position=slot)
                busy[spec.run_id] = (p, bar, slot)
            try:
                run_id, ev = q.get(timeout=0.5)
                if run_id in busy:
                    _, bar, _ = busy[run_id]
                    if ev["kind"] == "done":
                        statuses[run_id] = ev["status"]
                    else:
                        bar.n = ev["step"]
                        bar.refresh()
            except queue.Empty:
                pass
            for run_id, (p, bar, slot) in list(busy.items()):
                if not p.is_alive():
                    p.join()
                    # drain a 'done' that may still sit in the queue
                    while True:
                        try:
                            rid, ev = q.get_nowait()
                        except queue.Empty:
                            break
                        if ev["kind"] == "done":
                            statuses[rid] = ev["status"]
                    if run_id not in statuses:
                        s = read_summary(out / "runs" / run_id)
                        statuses[run_id] = s["status"] if s else f"killed (exit code {p.exitcode})"
                    bar.close()
                    slots.append(slot)
                    slots.sort()
                    del busy[run_id]
                    suite_bar.update(1)
    finally:
        for p, bar, _ in busy.values():
            p.terminate()
        suite_bar.close()
    return statuses


def _dask_task(spec_json: dict, out: str) -> str:
    import torch

    from ntm_bench.train import run_one

    torch.set_num_threads(spec_json["train"].get("threads", 1))
    spec = RunSpec(**{**spec_json, "plugins": tuple(spec_json["plugins"])})
    return run_one(spec, Path(out))["status"]


def run_dask(todo: list[RunSpec], out: Path, scheduler: str) -> dict[str, str]:
    """Send each run to an existing Dask cluster; workers write records into `out` (a shared
    filesystem on a cluster) and return only a status."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise BenchError("--executor dask needs the optional extra: pip install -e '.[dask]'") from None
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as e:
        raise BenchError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from None
    statuses = {}
    try:
        futures = {client.submit(_dask_task, spec.to_json(), str(out.resolve()), key=f"ntm-bench-{spec.run_id}-{time.time_ns()}",
                                 pure=False): spec.run_id for spec in todo}
        with tqdm(total=len(todo), desc="suite (dask)", unit="run", disable=not _tty()) as bar:
            for fut in as_completed(futures):
                run_id = futures[fut]
                try:
                    statuses[run_id] = fut.result()
                except Exception as e:  # noqa: BLE001 - a lost worker costs only its run
                    s = read_summary(out / "runs" / run_id)
                    statuses[run_id] = s["status"] if s else f"lost ({type(e).__name__})"
                bar.update(1)
    finally:
        client.close()
    return statuses


def run_suite(suite: Suite, out: Path, plugins=(), workers: int = 1, executor: str = "local",
              scheduler: str | None = None) -> dict:
    out = prepare_out(out)
    todo, done = plan(suite, out, plugins)
    check_memory(suite, todo)
    write_suite_record(suite, out, plugins)
    print(f"suite {suite.name}: {len(todo) + len(done)} runs, {len(done)} already complete, "
          f"{len(todo)} to run -> {out}", file=sys.stderr)
    t0 = time.perf_counter()
    if not todo:
        statuses = {}
    elif executor == "dask":
        if not scheduler:
            raise BenchError("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
        statuses = run_dask(todo, out, scheduler)
    elif workers <= 1:
        statuses = run_serial(todo, out)
    else:
        statuses = run_parallel(todo, out, min(workers, len(todo)))
    return {"statuses": statuses, "skipped": [s.run_id for s in done], "wall_s": time.perf_counter() - t0}
