"""The command line end to end on the `smoke` suite: records, skip-on-rerun, failures, plugins, the installed
command, progress lines off a terminal and the default number of workers."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ntm_bench.cli import main
from ntm_bench.errors import BenchError
from ntm_bench.records import read_summary
from ntm_bench.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    assert main(["run", "smoke", "--out", str(out), "--workers", "1", "--no-report"]) == 0
    return out


def summaries(out):
    return {p.name: read_summary(p) for p in sorted((out / "runs").iterdir())}


def test_smoke_run_writes_one_complete_record_per_run(smoke_dir):
    expected = {r.run_id for r in load_suite("smoke").runs()}
    got = summaries(smoke_dir)
    assert set(got) == expected
    for run_id, s in got.items():
        assert s is not None, f"{run_id} has no readable summary"
        assert s["status"] == "ok", (run_id, s["error"])
        assert (smoke_dir / "runs" / run_id / "config.json").exists()
        assert s["env"]["torch"].startswith("2.13")
        assert s["task"]["version"] >= 1 and s["model"]["params"] is not None


def test_smoke_records_have_every_test_length(smoke_dir):
    suite = load_suite("smoke")
    for run_id, s in summaries(smoke_dir).items():
        want = [list(p) for p in suite.tasks[s["task"]["label"]].test]
        assert [row["point"] for row in s["eval"]] == want, run_id
        for row in s["eval"]:
            for key in ("bits", "bit_errors", "bit_accuracy", "seq_accuracy"):
                assert isinstance(row[key], float), (run_id, key)
            assert row["split"] in ("train", "unseen")


def test_smoke_learning_curve_is_recorded(smoke_dir):
    rows = [json.loads(line) for line in (smoke_dir / "runs" / "copy__lstm__s0" / "curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert {"sequences", "wall_s", "train_bits", "val_bits", "val_bit_errors"} <= set(rows[0])


def test_ntm_run_stores_attention_and_fingerprints(smoke_dir):
    s = read_summary(smoke_dir / "runs" / "copy__ntm__s0")
    assert s["fingerprints"]["heads"], s["fingerprints"]
    att = torch.load(smoke_dir / "runs" / "copy__ntm__s0" / "attention.pt")
    w = att["weights"]["write0"]
    assert w.shape[0] == att["inputs"].shape[0] and w.shape[1] >= 8  # (steps, rows) of one sequence
    for t in (att["inputs"], att["outputs"], w):  # saved alone, not as a view of the whole test batch
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size()


def test_rerun_skips_complete_runs_and_redoes_the_rest(smoke_dir, capsys):
    victim = smoke_dir / "runs" / "copy__lstm__s0" / "summary.json"
    victim.unlink()
    before = {p: p.stat().st_mtime_ns for p in (smoke_dir / "runs").glob("*/summary.json")}
    assert main(["run", "smoke", "--out", str(smoke_dir), "--workers", "1", "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "1 to run" in err
    assert victim.exists()
    for p, t in before.items():
        assert p.stat().st_mtime_ns == t, f"{p} was rewritten"


def test_failing_run_is_recorded_and_the_suite_goes_on(tmp_path):
    plugin = tmp_path / "boom.py"
    plugin.write_text(
        "import torch\nfrom ntm_bench import register_model\n"
        "@register_model('boom_model')\n"
        "class Boom(torch.nn.Module):\n"
        "    def __init__(self, i, o):\n        super().__init__(); self.w = torch.nn.Linear(i, o)\n"
        "    def forward(self, x):\n        raise RuntimeError('kaboom')\n")
    rc = main(["run", "smoke", "--out", str(tmp_path / "out"), "--workers", "1", "--no-report",
               "--tasks", "copy", "--models", "boom_model,lstm", "--plugin", str(plugin)])
    assert rc == 1
    s = summaries(tmp_path / "out")
    assert s["copy__boom_model__s0"]["status"] == "failed"
    assert "kaboom" in s["copy__boom_model__s0"]["error"] and "boom.py" in s["copy__boom_model__s0"]["error"]
    assert s["copy__lstm__s0"]["status"] == "ok"


def test_plugin_model_reaches_the_leaderboard(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", "smoke", "--out", str(out), "--workers", "1", "--no-report", "--tasks", "copy",
               "--models", "gru,lstm", "--plugin", str(ROOT / "examples" / "my_model.py")])
    assert rc == 0
    capsys.readouterr()
    assert main(["leaderboard", str(out), "--format", "csv"]) == 0
    table = capsys.readouterr().out
    assert any(line.startswith("copy,gru,") for line in table.splitlines()), table


def test_bad_input_is_one_line_and_exit_code_2():
    proc = subprocess.run([sys.executable, "run_bench.py", "run", "smoke", "--models", "nope"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "'nope' is not in this suite" in proc.stderr and "lstm" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_wherever_it_stands(where, capsys):
    argv = ["run", "no-such-suite"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(BenchError, match="unknown suite 'no-such-suite'"):
        main(argv)
    assert main(["run", "no-such-suite"]) == 2  # without it: the one line, no traceback
    assert "error: unknown suite 'no-such-suite'" in capsys.readouterr().err


def test_overrides_work_before_and_after_options(tmp_path):
    out = tmp_path / "out"
    rc = main(["run", "smoke", "train.steps=2", "--out", str(out), "--workers", "1", "--no-report",
               "--tasks", "copy", "--models", "lstm", "train.eval_every=1"])
    assert rc == 0
    s = read_summary(out / "runs" / "copy__lstm__s0")
    assert s["training"]["steps"] == 2 and s["train"]["eval_every"] == 1


def test_off_a_terminal_each_finished_run_is_one_line(tmp_path, capsys):
    rc = main(["run", "smoke", "--out", str(tmp_path / "out"), "--workers", "1", "--no-report", "--tasks",
               "copy,dynamic_ngrams", "--models", "lstm", "train.steps=2"])
    assert rc == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("[")]
    assert len(lines) == 2
    assert re.fullmatch(r"\[1/2\] copy__lstm__s0: ok, seq acc \(unseen\) \d\.\d{3}; \d+\.\d s; 1 left, about "
                        r"\d+\.\d s to go", lines[0]), lines[0]
    assert re.fullmatch(r"\[2/2\] dynamic_ngrams__lstm__s0: ok, excess bits \(unseen\) -?\d+\.\d\d; \d+\.\d s; 0 left",
                        lines[1]), lines[1]


def test_run_lines_name_a_failure_and_estimate_the_time_left(tmp_path, capsys):
    from ntm_bench.executors import RunLines

    run = tmp_path / "runs" / "copy__x__s0"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"schema": 1, "status": "failed", "error": "plugin 'x.py': boom\nmore",
                                                  "eval": []}))
    lines = RunLines(3, tmp_path, enabled=True)
    lines.done("copy__x__s0", "failed", 75.0)
    lines.done("copy__y__s0", "killed (signal 9; run the same command again to redo it)", 4000.0)
    first, second = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\[1/3\] copy__x__s0: failed \(plugin 'x.py': boom\); 1 min 15 s; 2 left, about .* to go", first)
    assert second.startswith("[2/3] copy__y__s0: killed (signal 9; run the same command again to redo it); 1 h 06 min; 1 left")
    off = RunLines(3, tmp_path, enabled=False)
    off.done("copy__x__s0", "ok")
    assert off.n == 0 and capsys.readouterr().out == ""


@pytest.mark.parametrize("stdout_tty", [True, False])
@pytest.mark.parametrize("stderr_tty", [True, False])
def test_progress_is_bars_or_lines_never_both_never_neither(stdout_tty, stderr_tty, tmp_path, monkeypatch):
    from ntm_bench import executors

    monkeypatch.setattr(sys, "stdout", type("Out", (), {"isatty": lambda self: stdout_tty})())
    monkeypatch.setattr(sys, "stderr", type("Err", (), {"isatty": lambda self: stderr_tty})())
    lines = executors.RunLines(1, tmp_path).enabled
    bars = not executors._quiet()
    assert lines == (not stdout_tty) and bars == stdout_tty  # README: bars on a terminal, else lines


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "ntm_bench"],
    [str(Path(sys.executable).with_name("ntm-bench"))],
], ids=["python -m ntm_bench", "ntm-bench"])
def test_the_installed_command_and_python_m_are_run_bench(command):
    if not Path(command[0]).exists():
        pytest.skip("the ntm-bench script is not installed (pip install -e .)")
    want = subprocess.run([sys.executable, "run_bench.py", "list"], cwd=ROOT, capture_output=True, text=True)
    got = subprocess.run([*command, "list"], cwd=ROOT, capture_output=True, text=True)
    assert (got.returncode, got.stdout) == (0, want.stdout)
    bad = subprocess.run([*command, "run", "smoke", "--models", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "'nope' is not in this suite" in bad.stderr


def test_workers_default_to_the_cores_this_process_may_use(monkeypatch):
    import os

    from ntm_bench.cli import make_parser

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert make_parser().parse_args(["run", "smoke"]).workers == 3
    monkeypatch.delattr(os, "sched_getaffinity")
    assert make_parser().parse_args(["run", "smoke"]).workers == 64
