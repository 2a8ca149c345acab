"""Faults: kills at random moments, kills inside a record write, resume from checkpoints, concurrent
suites, corrupted records and a full disk. No result is ever lost. (Faults of a model, divergence and
misbehaving plugins, are in tests/test_faults_models.py.)

Runs use the `smoke` suite on a subset (copy and repeat copy, LSTM and NTM, a few steps), so every
test takes seconds; the ones that kill a process run the CLI as a real subprocess.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ntm_bench import registry
from ntm_bench.cli import main
from ntm_bench.records import RunLock, read_summary
from ntm_bench.report.load import load_results
from ntm_bench.suite import load_suite
from ntm_bench.train import run_one

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ["--tasks", "copy,repeat_copy", "--models", "lstm,ntm", "--workers", "1", "train.steps=8"]


@pytest.fixture(autouse=True)
def _restore_registry():
    snapshot = registry.reset_for_tests()
    yield
    registry.reset_for_tests(snapshot)


def cli(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "run_bench.py", *map(str, args)], cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leaderboard_csv(out, capsys) -> str:
    capsys.readouterr()
    assert main(["leaderboard", str(out), "--format", "csv"]) == 0
    return capsys.readouterr().out


def complete(out) -> dict:
    """run_id -> (mtime_ns, bytes) of every summary.json; each must parse (never half-written)."""
    got = {}
    for p in sorted((Path(out) / "runs").glob("*/summary.json")):
        json.loads(p.read_text())
        got[p.parent.name] = (p.stat().st_mtime_ns, p.read_bytes())
    return got


def leftovers(out) -> list[str]:
    """Temp files of atomic writes and lock files: none may be left once a suite has finished."""
    return sorted(str(p.relative_to(out)) for p in Path(out).rglob("*") if p.name.endswith(".tmp") or p.name == ".lock")


def curve_steps(run_dir) -> list[int]:
    return [json.loads(line)["step"] for line in (Path(run_dir) / "curve.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted suite: its records and leaderboard are what every faulted run must reproduce."""
    out = tmp_path_factory.mktemp("reference")
    assert main(["run", "smoke", "--out", str(out), "--no-report", *SUBSET]) == 0
    return out


def write_plugin(path: Path, body: str) -> Path:
    path.write_text("import torch\nfrom torch import nn\nfrom ntm_bench import register_model\n\n" + body)
    return path


# ---------------------------------------------------------------------------------------------
# Kills

def test_suite_killed_at_random_moments_finishes_on_rerun_with_the_uninterrupted_tables(reference, tmp_path, capsys):
    out = tmp_path / "out"
    cmd = ["run", "smoke", "--out", out, *SUBSET]  # with the report, so a kill can land in it
    rng = random.Random(2014)
    seen: dict = {}
    for delay in sorted(rng.uniform(1.0, 4.0) for _ in range(3)):
        proc = cli(*cmd)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        now = complete(out)
        for run_id, stamp in seen.items():
            assert now[run_id] == stamp, f"{run_id} was complete and was redone or rewritten"
        seen = now
    assert main(["run", "smoke", "--out", str(out), "--no-report", *SUBSET]) == 0
    final = complete(out)
    assert set(final) == set(complete(reference))
    for run_id, stamp in seen.items():
        assert final[run_id] == stamp, f"{run_id} was complete and was redone or rewritten"
    for run_dir in (out / "runs").iterdir():
        assert curve_steps(run_dir) == [2, 4, 6, 8], run_dir.name  # no gap, no duplicate
    assert leftovers(out) == []
    assert leaderboard_csv(out, capsys) == leaderboard_csv(reference, capsys)


def test_kill_between_temp_file_and_rename_leaves_no_half_record_and_rerun_completes(reference, tmp_path, capsys):
    out = tmp_path / "out"
    proc = cli("run", "smoke", "--out", out, "--no-report", *SUBSET, env={"NTM_BENCH_FAULT": "kill_in_write:summary@2"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    first = complete(out)
    assert len(first) == 1, "the first run completed, the second died in its summary write"
    assert list((out / "runs").glob("*/.summary.json.*.tmp")), "the kill landed between temp file and rename"
    assert main(["run", "smoke", "--out", str(out), "--no-report", *SUBSET]) == 0
    final = complete(out)
    assert len(final) == 4 and all(final[k] == v for k, v in first.items())
    assert leftovers(out) == []
    assert leaderboard_csv(out, capsys) == leaderboard_csv(reference, capsys)


def test_report_killed_midway_is_rebuilt_by_the_next_report(reference, tmp_path, capsys):
    out = tmp_path / "out"

    shutil.copytree(reference, out)
    proc = cli("report", out)
    time.sleep(2.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert main(["report", str(out)]) == 0
    assert "copy" in (out / "report.md").read_text()
    assert leaderboard_csv(out, capsys) == leaderboard_csv(reference, capsys)


# ---------------------------------------------------------------------------------------------
# Resume

def _resume_spec(extra=()):
    suite = load_suite("smoke", ["train.steps=12", "train.eval_every=2", *extra,
                                 "models.transformer.options.dropout=0.1"], tasks=["copy"], models=["transformer"])
    return suite.runs()[0]


class Interrupt(BaseException):
    """Stands in for a kill: not an Exception, so run_one records nothing and lets it through."""


def _interrupted_then_resumed(spec, out, at_step):
    def stop(ev):
        if ev["step"] == at_step:
            raise Interrupt
    with pytest.raises(Interrupt):
        run_one(spec, out, stop)
    assert read_summary(out / "runs" / spec.run_id) is None
    steps = []
    summary = run_one(spec, out, lambda ev: steps.append(ev["step"]))
    return summary, steps


def _same_science(a: dict, b: dict):
    assert a["eval"] == b["eval"]  # bit for bit: floats compared exactly
    for key in ("steps", "sequences", "best_step", "best_val", "stopped_by"):
        assert a["training"][key] == b["training"][key], key


def _curve(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
            for line in (run_dir / "curve.jsonl").read_text().splitlines()]


def test_interrupted_run_resumes_from_its_last_checkpoint_and_matches_an_uninterrupted_one(tmp_path):
    spec = _resume_spec(["train.checkpoint_every=4"])
    straight = run_one(spec, tmp_path / "a")
    summary, steps = _interrupted_then_resumed(spec, tmp_path / "b", at_step=7)
    assert steps[0] == 5 and summary["training"]["resumed_from"] == 4  # not from step 0
    _same_science(summary, straight)
    assert _curve(tmp_path / "b" / "runs" / spec.run_id) == _curve(tmp_path / "a" / "runs" / spec.run_id)
    assert curve_steps(tmp_path / "b" / "runs" / spec.run_id) == [2, 4, 6, 8, 10, 12]


def test_time_based_checkpoints_let_a_run_resume_between_step_checkpoints(tmp_path):
    spec = _resume_spec(["train.checkpoint_every=1000", "train.checkpoint_seconds=1e-9"])
    straight = run_one(spec, tmp_path / "a")
    summary, steps = _interrupted_then_resumed(spec, tmp_path / "b", at_step=7)
    assert summary["training"]["resumed_from"] == 6 and steps[0] == 7
    _same_science(summary, straight)


# ---------------------------------------------------------------------------------------------
# Two suites at once, and reports while runs write

def test_two_suites_writing_into_one_folder_at_once_corrupt_nothing(reference, tmp_path, capsys):
    out = tmp_path / "out"
    procs = [cli("run", "smoke", "--out", out, "--no-report", *SUBSET) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode in (0, 1) and "Traceback" not in err, err  # 1: some runs were busy in the other
    assert len(complete(out)) == 4 and leftovers(out) == []
    assert leaderboard_csv(out, capsys) == leaderboard_csv(reference, capsys)


def test_a_run_locked_by_a_live_process_is_left_alone_and_reported_incomplete(reference, tmp_path):
    spec = load_suite("smoke", ["train.steps=8"], tasks=["copy"], models=["lstm"]).runs()[0]
    run_dir = tmp_path / "runs" / spec.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "curve.jsonl").write_text('{"step": 2, "val_bits": 1.0}\n{"step": 4, "val_')  # being appended
    lock = RunLock(run_dir)
    assert lock.acquire() is None
    try:
        s = run_one(spec, tmp_path)
        assert s["status"].startswith("busy") and str(os.getpid()) in s["status"]
        assert sorted(p.name for p in run_dir.iterdir()) == [".lock", "curve.jsonl"]  # nothing written
        ref = reference / "runs" / "copy__ntm__s0"
        (tmp_path / "runs" / "copy__ntm__s0").mkdir()
        (tmp_path / "runs" / "copy__ntm__s0" / "summary.json").write_bytes((ref / "summary.json").read_bytes())
        problems = load_results(tmp_path).problems
        assert any(spec.run_id in p and "incomplete" in p for p in problems), problems
    finally:
        lock.release()
    assert not (run_dir / ".lock").exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    spec = load_suite("smoke", ["train.steps=4"], tasks=["copy"], models=["lstm"]).runs()[0]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "runs" / spec.run_id
    run_dir.mkdir(parents=True)
    (run_dir / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "started": "1"}))
    assert run_one(spec, tmp_path)["status"] == "ok"
    assert not (run_dir / ".lock").exists()


# ---------------------------------------------------------------------------------------------
# Corrupted records

def test_corrupted_records_are_named_and_redone_never_a_crash(reference, tmp_path, capsys):

    out = tmp_path / "out"
    shutil.copytree(reference, out)
    runs = out / "runs"
    before = complete(out)
    summary = runs / "copy__lstm__s0" / "summary.json"
    summary.write_text(summary.read_text()[:100])  # truncated
    (runs / "copy__ntm__s0" / "summary.json").unlink()  # incomplete, with a garbage checkpoint
    (runs / "copy__ntm__s0" / "last.pt").write_bytes(b"not a checkpoint")
    (runs / "repeat_copy__lstm__s0" / "config.json").write_text("{garbage")
    (runs / "repeat_copy__lstm__s0" / "best.pt").write_bytes(b"")
    (runs / "repeat_copy__ntm__s0" / "curve.jsonl").write_text("\x00\x01 not json\n")
    capsys.readouterr()
    assert main(["run", "smoke", "--out", str(out), "--no-report", *SUBSET]) == 0
    err = capsys.readouterr().err
    assert "copy__lstm__s0/summary.json is corrupted" in err
    assert "copy__ntm__s0/last.pt is unreadable" in err
    assert "2 already complete, 2 to run" in err
    after = complete(out)
    assert after["repeat_copy__lstm__s0"] == before["repeat_copy__lstm__s0"]  # complete: not redone
    assert read_summary(runs / "copy__ntm__s0")["notes"] == ["copy__ntm__s0/last.pt is unreadable "
                                                            "(UnpicklingError); starting from step 0"]
    problems = load_results(out).problems
    assert any("repeat_copy__ntm__s0/curve.jsonl" in p for p in problems), problems
    assert leaderboard_csv(out, capsys) == leaderboard_csv(reference, capsys)


# ---------------------------------------------------------------------------------------------
# A full disk

def test_disk_full_while_checkpointing_fails_the_run_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("NTM_BENCH_FAULT", "enospc:last.pt")
    out = tmp_path / "out"
    rc = main(["run", "smoke", "--out", str(out), "--no-report", "--workers", "1", "--tasks", "copy", "--models", "lstm"])
    assert rc == 1
    s = read_summary(out / "runs" / "copy__lstm__s0")
    assert s["status"] == "failed"
    assert "last.pt" in s["error"] and "No space left on device" in s["error"]
    assert leftovers(out) == []


def test_disk_full_while_writing_a_summary_fails_that_run_clearly_and_keeps_earlier_records(reference, tmp_path,
                                                                                              monkeypatch, capsys):

    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    monkeypatch.setenv("NTM_BENCH_FAULT", "enospc:summary")
    capsys.readouterr()
    rc = main(["run", "smoke", "--out", str(out), "--no-report", *SUBSET, "--seeds", "0,1"])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err
    line = next(x for x in err.splitlines() if "copy__lstm__s1" in x and "failed" in x)
    assert "summary.json" in line and "No space left on device" in line
    for p, stamp in before.items():
        if p.name != "suite.json":  # the suite record gains seed 1
            assert (p.stat().st_mtime_ns, p.read_bytes()) == stamp, p
    assert read_summary(out / "runs" / "copy__lstm__s1") is None and leftovers(out) == []
    monkeypatch.delenv("NTM_BENCH_FAULT")
    assert main(["run", "smoke", "--out", str(out), "--no-report", *SUBSET, "--seeds", "0,1"]) == 0
    assert read_summary(out / "runs" / "copy__lstm__s1")["training"]["resumed_from"] == 8  # nothing lost
