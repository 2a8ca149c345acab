"""Executors on the `smoke` suite: a worker pool and a Dask cluster give the serial records bit for bit,
and a worker process that dies mid-run costs only its run (locally) or nothing (Dask reschedules it)."""
from pathlib import Path

import pytest

from ntm_bench import registry
from ntm_bench.cli import main
from ntm_bench.executors import run_parallel
from ntm_bench.records import read_jsonl, read_summary
from ntm_bench.runner import prepare_out
from ntm_bench.suite import load_suite

SUBSET = ["--tasks", "copy", "--models", "ntm,dnc,lstm,transformer", "--no-report"]  # 4 runs for 2 workers
VOLATILE = {"env", "started_at", "finished_at"}  # where and when, not what was computed

# A model that SIGKILLs its own process at training step 3 (after the step-2 checkpoint) while its
# marker file exists; it consumes the marker first, so exactly one process dies per marker.
KILLER = '''
import os, signal
from pathlib import Path
import torch
from ntm_bench import register_model

MARKER = Path(__file__).with_suffix(".kill")

@register_model("{name}")
class Killer(torch.nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.rnn = torch.nn.GRU(i, 8, batch_first=True)
        self.out = torch.nn.Linear(8, o)
        self.calls = 0

    def forward(self, x, valid=None):
        if self.training:
            self.calls += 1
            if self.calls == 3:
                try:
                    os.rename(MARKER, MARKER.with_suffix(".used"))
                except FileNotFoundError:
                    pass
                else:
                    os.kill(os.getpid(), signal.SIGKILL)
        return self.out(self.rnn(x)[0])
'''


def killer_plugin(folder: Path, name: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(KILLER.format(name=name))
    path.with_suffix(".kill").touch()
    return path


@pytest.fixture
def clean_registry():
    """Plugins loaded in this process register throwaway model names; forget them afterwards."""
    snapshot = registry.reset_for_tests()
    try:
        yield
    finally:
        registry.reset_for_tests(snapshot)


def records(out: Path) -> dict:
    """Per run: the summary and the learning curve, without wall times, hosts and dates."""
    got = {}
    for run in sorted((out / "runs").iterdir()):
        s = read_summary(run)
        assert s is not None, f"{run.name} has no summary"
        s = {k: v for k, v in s.items() if k not in VOLATILE}
        s["training"] = {k: v for k, v in s["training"].items() if k != "wall_s"}
        curve = [{k: v for k, v in row.items() if k != "wall_s"} for row in read_jsonl(run / "curve.jsonl")]
        got[run.name] = (s, curve)
    return got


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    assert main(["run", "smoke", "--out", str(out), "--workers", "1", *SUBSET]) == 0
    return records(out)


def test_two_workers_give_the_serial_records_bit_for_bit(serial, tmp_path):
    out = tmp_path / "parallel"
    assert main(["run", "smoke", "--out", str(out), "--workers", "2", *SUBSET]) == 0
    parallel = records(out)
    assert set(parallel) == set(serial) and len(serial) == 4
    for run_id, (summary, curve) in serial.items():
        assert parallel[run_id][0] == summary, run_id
        assert parallel[run_id][1] == curve, run_id
        assert summary["eval"] and curve, run_id


def test_a_killed_worker_costs_only_its_run_and_a_replacement_finishes_the_rest(tmp_path, capsys, clean_registry):
    plugin = killer_plugin(tmp_path, "local_killer")
    registry.load_plugin(plugin)
    out = prepare_out(tmp_path / "out")
    suite = load_suite("smoke", tasks=["copy"], models=["local_killer", "lstm", "transformer"])
    todo = suite.runs([str(plugin)])
    # One worker: the runs after the kill can only finish on a replacement worker.
    statuses = run_parallel(todo, out, workers=1)
    assert list(statuses) == [s.run_id for s in todo]
    killed = [r for r, s in statuses.items() if s.startswith("killed")]
    assert killed == ["copy__local_killer__s0"], statuses
    assert all(s == "ok" for r, s in statuses.items() if r not in killed), statuses
    assert read_summary(out / "runs" / killed[0]) is None
    assert (out / "runs" / killed[0] / "last.pt").exists()

    # The next invocation redoes only the killed run, resuming from its step-2 checkpoint.
    rc = main(["run", "smoke", "--out", str(out), "--workers", "1", "--plugin", str(plugin),
               "--tasks", "copy", "--models", "local_killer,lstm,transformer", "--no-report"])
    assert rc == 0
    assert "2 already complete, 1 to run" in capsys.readouterr().err
    s = read_summary(out / "runs" / killed[0])
    assert s["status"] == "ok" and s["training"]["resumed_from"] == 2 and s["training"]["steps"] == 4


def test_an_exception_escaping_a_run_is_that_runs_failure(tmp_path, monkeypatch):
    import ntm_bench.train
    from ntm_bench.errors import BenchError
    from ntm_bench.executors import run_serial

    def full_disk(spec, out, progress=None, logger="none"):
        if spec.model["label"] == "lstm":
            raise BenchError("cannot write 'summary.json': No space left on device (disk full or not writable?)")
        return {"status": "ok"}

    monkeypatch.setattr(ntm_bench.train, "run_one", full_disk)
    todo = load_suite("smoke", tasks=["copy"], models=["lstm", "transformer"]).runs()
    statuses = run_serial(todo, tmp_path)
    assert statuses["copy__transformer__s0"] == "ok"
    assert statuses["copy__lstm__s0"].startswith("failed (cannot write 'summary.json': No space left")


# ----------------------------------------------------------------------------------------------
# Dask: a real scheduler and two worker processes on loopback

@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    c = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                 dashboard_address=None, worker_dashboard_address=None)
    try:
        yield c
    finally:
        c.close(timeout=20)


def test_dask_cluster_gives_the_serial_records(cluster, serial, tmp_path):
    out = tmp_path / "dask"
    rc = main(["run", "smoke", "--out", str(out), "--executor", "dask", "--scheduler", cluster.scheduler_address,
               *SUBSET])
    assert rc == 0
    got = records(out)
    assert set(got) == set(serial)
    for run_id, (summary, curve) in serial.items():
        assert got[run_id] == (summary, curve), run_id


def test_dask_reschedules_a_run_whose_worker_dies(cluster, tmp_path, clean_registry):
    plugin = killer_plugin(tmp_path, "dask_killer")
    out = tmp_path / "out"
    rc = main(["run", "smoke", "--out", str(out), "--executor", "dask", "--scheduler", cluster.scheduler_address,
               "--plugin", str(plugin), "--tasks", "copy", "--models", "dask_killer,lstm", "--no-report"])
    assert rc == 0
    assert plugin.with_suffix(".used").exists(), "no worker was killed"
    for run in ("copy__dask_killer__s0", "copy__lstm__s0"):
        assert read_summary(out / "runs" / run)["status"] == "ok", run
    s = read_summary(out / "runs" / "copy__dask_killer__s0")
    assert s["training"]["resumed_from"] == 2, s["training"]  # redone from last.pt on another worker


def test_dask_executor_refuses_a_plugin_the_workers_cannot_see(cluster, tmp_path):
    import dataclasses

    from ntm_bench.errors import BenchError
    from ntm_bench.executors_dask import run_dask

    spec = load_suite("smoke", tasks=["copy"], models=["lstm"]).runs()[0]
    spec = dataclasses.replace(spec, plugins=(str(tmp_path / "elsewhere" / "model.py"),))
    with pytest.raises(BenchError, match=r"cannot see .*elsewhere/model.py.*shared by every worker"):
        run_dask([spec], prepare_out(tmp_path / "out"), cluster.scheduler_address)
    assert not (tmp_path / "out" / "runs" / spec.run_id).exists()


def test_dask_executor_refuses_an_unreachable_scheduler(tmp_path, capsys):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        rc = main(["run", "smoke", "--out", str(tmp_path), "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1",
                   "--tasks", "copy", "--models", "lstm", "--no-report"])
    assert rc == 2
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'" in capsys.readouterr().err
