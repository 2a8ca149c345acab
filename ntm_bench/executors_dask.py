"""Runs on an existing Dask cluster (`--executor dask`): each run is a task on a worker, whose
records go into the shared output folder; see README, "On a Dask cluster"."""
from __future__ import annotations

import os
import time
from pathlib import Path

from tqdm import tqdm

from ntm_bench.errors import BenchError
from ntm_bench.executors import RunLines, _quiet, _run_guarded
from ntm_bench.records import read_summary
from ntm_bench.spec import RunSpec


def _dask_task(spec: RunSpec, out: str, logger: str = "none") -> str:
    """One run on a Dask worker: records go into `out` (a shared filesystem), a status comes back.

    If the worker process dies, the scheduler gives the task to another worker (up to its
    `distributed.scheduler.allowed-failures`), which starts the run over or resumes it from last.pt."""
    return _run_guarded(spec, Path(out), logger=logger)


def _missing_on_worker(paths: list[str]) -> list[str]:
    """Run on every Dask worker: which of these paths it cannot see."""
    return [p for p in paths if not os.path.exists(p)]


def run_dask(todo: list[RunSpec], out: Path, scheduler: str, logger: str = "none") -> dict[str, str]:
    """Send each run to an existing Dask cluster; workers write records into `out` (a shared
    filesystem on a cluster) and return only a status. Plugins are loaded on the workers by path."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise BenchError("--executor dask needs the optional extra: pip install -e '.[dask]'") from None
    out = Path(out).resolve()
    try:
        client = Client(scheduler)  # waits distributed.comm.timeouts.connect (30 s by default)
    except (OSError, TimeoutError, ValueError) as e:
        raise BenchError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from None
    statuses = {}
    try:
        _check_workers_see(client, out, todo)
        stamp = time.time_ns()
        futures = {client.submit(_dask_task, spec, str(out), logger, key=f"ntm-bench-{spec.run_id}-{stamp}", pure=False):
                   spec.run_id for spec in todo}
        lines = RunLines(len(todo), out)
        with tqdm(total=len(todo), desc="suite (dask)", unit="run", disable=_quiet()) as bar:
            for fut in as_completed(futures):
                run_id = futures[fut]
                try:
                    statuses[run_id] = fut.result()
                except Exception as e:  # noqa: BLE001 - KilledWorker after allowed-failures: only this run
                    s = read_summary(out / "runs" / run_id)
                    statuses[run_id] = s["status"] if s else f"lost ({type(e).__name__}: run the command again)"
                bar.update(1)
                lines.done(run_id, statuses[run_id])
    finally:
        client.close()
    return {s.run_id: statuses[s.run_id] for s in todo if s.run_id in statuses}


def _check_workers_see(client, out: Path, todo: list[RunSpec]) -> None:
    """The output folder and plugin files must be on a filesystem every worker shares."""
    paths = [str(out / "runs")] + sorted({p for spec in todo for p in spec.plugins})
    try:
        missing = client.run(_missing_on_worker, paths)
    except Exception:  # noqa: BLE001 - no workers yet (an adaptive cluster): nothing to check now
        return
    bad = {addr: m for addr, m in missing.items() if m}
    if bad:
        addr, m = next(iter(bad.items()))
        raise BenchError(f"Dask worker {addr} cannot see {m[0]!r}; --out and --plugin files must be on a "
                         f"filesystem shared by every worker ({len(bad)} of {len(missing)} workers)")
