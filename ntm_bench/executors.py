"""Executors: run a list of run specs serially, in a pool of worker processes, or on a Dask cluster
(ntm_bench.executors_dask).

Each run writes its own records (ntm_bench.train.run_one); an executor only hands out run specs and
collects one status per run, so every executor produces the same records for the same seeds (wall
times aside). A run whose process dies leaves no summary.json, and the next invocation of the same
command redoes it (from its last.pt checkpoint where there is one).
"""
from __future__ import annotations

import multiprocessing as mp
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from tqdm import tqdm

from ntm_bench.errors import BenchError
from ntm_bench.records import read_summary
from ntm_bench.spec import RunSpec

PROGRESS_EVERY_S = 0.25    # workers send at most this many progress events per second
START_FAILURES = 3         # workers that die before taking a run, in a row, before we give up


def _quiet() -> bool:
    """Progress bars (drawn on stderr) only for a person watching: off when stdout is a file or a
    pipe, where RunLines prints one line per finished run instead (never both, never neither)."""
    return not sys.stdout.isatty()


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def headline(summary: dict) -> str:
    """A run's headline number: the mean over its unseen test points (its training-range points when
    it has none) of the sequence accuracy, of the excess bits for a task with a reference
    predictor (dynamic N-grams), or of the per-token accuracy for a task with symbol outputs (the
    Chomsky tasks' score); '' without test results."""
    rows = [r for r in summary.get("eval") or [] if isinstance(r, dict)]
    unseen = [r for r in rows if r.get("split") == "unseen"]
    rows, where = (unseen, "unseen") if unseen else (rows, "train range")
    if any(r.get("excess_bits") is not None for r in rows):
        key, name, fmt = "excess_bits", "excess bits", ".2f"
    elif any(r.get("accuracy") is not None for r in rows):  # symbol outputs: per-token accuracy
        key, name, fmt = "accuracy", "accuracy", ".3f"
    else:
        key, name, fmt = "seq_accuracy", "seq acc", ".3f"
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return f"{name} ({where}) {sum(vals) / len(vals):{fmt}}" if vals else ""


class RunLines:
    """Off a terminal (a log file, a batch job: stdout is not a TTY), one line per finished run on
    stdout: run id, status, headline metric, the run's time, runs left and the estimated time left
    (the suite's pace so far). On a terminal the tqdm bars show progress instead."""

    def __init__(self, total: int, out: Path, enabled: bool | None = None):
        self.total, self.out, self.n = total, Path(out), 0
        self.enabled = _quiet() if enabled is None else enabled
        self.t0 = time.monotonic()

    def done(self, run_id: str, status: str, seconds: float | None = None) -> None:
        if not self.enabled:
            return
        self.n += 1
        s = read_summary(self.out / "runs" / run_id) or {}
        if seconds is None:
            seconds = (s.get("training") or {}).get("wall_s")
        error = s.get("error") if status in ("failed", "diverged") else None
        what = ", ".join(x for x in (status + (f" ({error.splitlines()[0]})" if error else ""), headline(s)) if x)
        left = self.total - self.n
        eta = (time.monotonic() - self.t0) / self.n * left
        print(f"[{self.n}/{self.total}] {run_id}: {what}; {_duration(seconds)}; {left} left"
              + (f", about {_duration(eta)} to go" if left else ""), flush=True)


def _run_guarded(spec: RunSpec, out: Path, progress=None, logger: str = "none") -> str:
    """run_one's status. run_one records every problem inside a run itself; anything that still
    escapes it (a BenchError from a full disk while writing the summary, a bug) becomes this run's
    failure status, never the end of the suite."""
    from ntm_bench.train import run_one

    try:
        return run_one(spec, out, progress, logger)["status"]
    except Exception as e:  # noqa: BLE001 - one run's problem stays that run's
        text = str(e) if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"
        return f"failed ({text.splitlines()[0] if text else type(e).__name__})"


def _show(bar, ev: dict) -> None:
    """One worker's line: run id (the bar's description), step of total, loss or best validation."""
    bar.n = ev["step"]
    if ev["kind"] == "eval":
        bar.set_postfix(best_bit_errors=f"{ev['best_bit_errors']:.3g}", refresh=False)
    else:
        bar.set_postfix(loss=f"{ev['loss']:.3g}", refresh=False)
    bar.refresh()


def _killed_status(out: Path, run_id: str, exitcode) -> str:
    """A run whose process died: its summary if it got that far, else 'killed' (redone next time)."""
    s = read_summary(out / "runs" / run_id)
    if s is not None:
        return s["status"]
    how = f"signal {-exitcode}" if isinstance(exitcode, int) and exitcode < 0 else f"exit code {exitcode}"
    return f"killed ({how}; run the same command again to redo it)"


# ----------------------------------------------------------------------------------------------
# Serial

def run_serial(todo: list[RunSpec], out: Path, logger: str = "none") -> dict[str, str]:
    """Every run in this process, one after the other."""
    statuses = {}
    quiet = _quiet()
    lines = RunLines(len(todo), out)
    with tqdm(total=len(todo), desc="suite", unit="run", disable=quiet, position=0) as suite_bar:
        for spec in todo:
            t0 = time.monotonic()
            with tqdm(total=spec.train["steps"], desc=spec.run_id, unit="step", leave=False,
                      disable=quiet, position=1) as bar:
                statuses[spec.run_id] = _run_guarded(spec, out, lambda ev, bar=bar: _show(bar, ev), logger)
            suite_bar.update(1)
            lines.done(spec.run_id, statuses[spec.run_id], time.monotonic() - t0)
    return statuses


# ----------------------------------------------------------------------------------------------
# A pool of long-lived worker processes

def _worker_main(conn) -> None:
    """A worker process: import torch once, then take runs from the parent until told to stop.

    Messages to the parent: ("ready",), ("progress", run_id, event), ("done", run_id, status).
    Each worker talks over its own pipe, so a worker killed mid-message cannot leave a shared lock
    held and stall the others."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers
    import torch

    torch.set_num_threads(1)  # one thread per run (TrainConfig.threads may ask for more)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    import ntm_bench.train  # noqa: F401 - the import cost is paid once per worker, not per run

    conn.send(("ready",))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if job is None:
            return
        spec, out, logger = job
        last = [0.0]

        def progress(ev, run_id=spec.run_id):
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                try:
                    conn.send(("progress", run_id, ev))
                except OSError:  # the parent is gone: finish the run quietly, its records count
                    pass

        status = _run_guarded(spec, Path(out), progress, logger)
        try:
            conn.send(("done", spec.run_id, status))
        except OSError:
            return


@dataclass
class _Worker:
    slot: int                      # its progress line (1..workers)
    proc: object                   # multiprocessing Process
    conn: object                   # the parent's end of its pipe
    run: RunSpec | None = None     # the run it is doing now
    bar: object = None             # the run's progress line
    since: float = 0.0             # when it was given its run (time.monotonic)
    started: bool = False          # has said ready at least once
    stopping: bool = False         # has been told there is nothing left


def run_parallel(todo: list[RunSpec], out: Path, workers: int, logger: str = "none") -> dict[str, str]:
    """The runs on `workers` long-lived processes (spawned, one torch thread each) that take runs
    one at a time, so the start-up cost (importing torch) is paid once per worker.

    A worker that dies (killed from outside, out of memory) costs only its current run: that run
    is reported as killed and left without a summary (the next invocation redoes it), a
    replacement worker takes its place, and the other workers go on."""
    ctx = mp.get_context("spawn")
    pending = deque(todo)
    statuses: dict[str, str] = {}
    quiet = _quiet()
    pool: dict[int, _Worker] = {}
    start_failures = 0

    def start(slot: int) -> None:
        mine, theirs = ctx.Pipe(duplex=True)
        p = ctx.Process(target=_worker_main, args=(theirs,), daemon=True, name=f"ntm-bench-worker-{slot}")
        p.start()
        theirs.close()  # only the worker holds its end: its death shows as EOF here
        pool[slot] = _Worker(slot, p, mine)

    def finish(w: _Worker, status: str) -> None:
        statuses[w.run.run_id] = status
        w.bar.close()
        suite_bar.update(1)
        lines.done(w.run.run_id, status, time.monotonic() - w.since)
        w.run, w.bar = None, None

    def hand_out(w: _Worker) -> None:
        """Give an idle worker the next run, or tell it to stop."""
        if not pending:
            w.stopping = True
            try:
                w.conn.send(None)
            except OSError:
                pass
            return
        spec = pending.popleft()
        try:
            w.conn.send((spec, str(out), logger))
        except OSError:  # it died just now; the run goes back to the queue, the death is seen below
            pending.appendleft(spec)
            return
        w.run, w.since = spec, time.monotonic()
        w.bar = tqdm(total=spec.train["steps"], desc=spec.run_id, unit="step", leave=False,
                     disable=quiet, position=w.slot)

    def handle(w: _Worker, msg: tuple) -> None:
        kind = msg[0]
        if kind == "ready":
            w.started = True
            hand_out(w)
        elif kind == "progress" and w.run is not None and msg[1] == w.run.run_id:
            _show(w.bar, msg[2])
        elif kind == "done" and w.run is not None and msg[1] == w.run.run_id:
            finish(w, msg[2])
            hand_out(w)

    def bury(w: _Worker) -> None:
        """A worker process ended: settle its run, and start a replacement if runs are left."""
        nonlocal start_failures
        while True:  # messages it sent before dying (a 'done' may be among them)
            try:
                if not w.conn.poll():
                    break
                handle(w, w.conn.recv())
            except (EOFError, OSError):
                break
        w.proc.join(timeout=5)  # its pipe may close a moment before the process is reaped
        if w.proc.is_alive():   # closed its pipe but hangs on the way out
            w.proc.kill()
            w.proc.join()
        w.conn.close()
        del pool[w.slot]
        if w.run is not None:
            finish(w, _killed_status(out, w.run.run_id, w.proc.exitcode))
        if w.started or w.stopping:
            start_failures = 0
        else:
            start_failures += 1
            if start_failures >= START_FAILURES:
                raise BenchError(f"worker processes die before taking a run (exit code {w.proc.exitcode}); "
                                 f"run with --workers 1 to see the error")
        if pending:
            start(w.slot)

    suite_bar = tqdm(total=len(todo), desc="suite", unit="run", disable=quiet, position=0)
    lines = RunLines(len(todo), out)
    try:
        for slot in range(1, min(workers, len(todo)) + 1):
            start(slot)
        while pool:
            by_handle = {}
            for w in pool.values():
                by_handle[w.conn] = w
                by_handle[w.proc.sentinel] = w
            dead = set()
            for h in wait(list(by_handle), timeout=1.0):
                w = by_handle[h]
                if h == w.proc.sentinel:
                    dead.add(w.slot)
                    continue
                try:
                    handle(w, w.conn.recv())
                except (EOFError, OSError):
                    dead.add(w.slot)
            for slot in dead:
                if slot in pool:
                    bury(pool[slot])
            for w in list(pool.values()):  # finished workers that were told to stop
                if w.stopping and not w.proc.is_alive():
                    bury(w)
    finally:  # normally only idle workers are left; after Ctrl-C or an error, busy ones too
        for w in pool.values():
            if w.run is not None:
                w.proc.terminate()  # its run is left without a summary: the next invocation redoes it
            else:
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        for w in pool.values():
            w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
            w.conn.close()
            if w.bar is not None:
                w.bar.close()
        suite_bar.close()
    return {s.run_id: statuses[s.run_id] for s in todo if s.run_id in statuses}
