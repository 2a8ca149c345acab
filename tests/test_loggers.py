"""--logger: the default writes nothing beyond the run's records; bad input is one line and exit 2 with
nothing written; the logger hook gets every curve row (a fake writer, always run) and, with the
tensorboard package installed, the event files hold the curve.jsonl rows. A logger is a runtime
setting: run ids and config hashes stay the same."""
import json
import sys
from pathlib import Path

import pytest

from ntm_bench import loggers
from ntm_bench.cli import main
from ntm_bench.records import read_jsonl, read_summary

ONE_RUN = ["run", "smoke", "--tasks", "copy", "--models", "lstm", "--workers", "1", "--no-report"]

try:
    from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    HAS_TENSORBOARD = True
except ImportError:
    HAS_TENSORBOARD = False


def files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*"))


def identity(out: Path) -> dict:
    """run id -> config hash of every run in a results folder."""
    return {p.name: json.loads((p / "config.json").read_text())["config_hash"] for p in (out / "runs").iterdir()}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    assert main([*ONE_RUN, "--out", str(out)]) == 0
    return out


def test_default_logger_writes_nothing_extra(plain, tmp_path):
    assert not [f for f in files(plain) if "tb" in Path(f).parts]
    out = tmp_path / "none"
    assert main([*ONE_RUN, "--out", str(out), "--logger", "none"]) == 0
    assert sorted(p.name for p in (out / "runs" / "copy__lstm__s0").iterdir()) == \
        sorted(p.name for p in (plain / "runs" / "copy__lstm__s0").iterdir())


def test_unknown_logger_is_one_line_exit_2_nothing_written(tmp_path, capsys):
    rc = main([*ONE_RUN, "--out", str(tmp_path / "out"), "--logger", "wandb"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1
    assert "invalid choice: 'wandb'" in lines[0] and "'none', 'tensorboard'" in lines[0]
    assert files(tmp_path) == []


def test_tensorboard_missing_is_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # an import of either now fails
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    rc = main([*ONE_RUN, "--out", str(tmp_path / "out"), "--logger", "tensorboard"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and 'pip install -e ".[tensorboard]"' in lines[0]
    assert files(tmp_path) == []


class FakeWriter:
    opened: list = []

    def __init__(self, log_dir, purge_step):
        self.log_dir, self.purge_step, self.scalars, self.closed = Path(log_dir), purge_step, [], False
        FakeWriter.opened.append(self)

    def add_scalar(self, tag, value, global_step):
        self.scalars.append((tag, value, global_step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def fake_writer(monkeypatch):
    FakeWriter.opened = []
    monkeypatch.setattr(loggers, "summary_writer", FakeWriter)
    return FakeWriter


def test_logger_hook_gets_every_curve_row(plain, tmp_path, fake_writer, monkeypatch):
    """The wiring from --logger through the executor to the training loop, without tensorboard."""
    monkeypatch.setattr("ntm_bench.runner.check_logger", lambda name: None)  # CI has no tensorboard
    out = tmp_path / "tb"
    assert main([*ONE_RUN, "--out", str(out), "--logger", "tensorboard"]) == 0
    run = out / "runs" / "copy__lstm__s0"
    assert identity(out) == identity(plain)  # a runtime setting: same run ids and config hashes
    [writer] = fake_writer.opened
    assert writer.log_dir == run / "tb" and writer.closed and writer.purge_step == 2
    rows = read_jsonl(run / "curve.jsonl")
    want = [(k, v, r["step"]) for r in rows for k, v in r.items() if k != "step"]
    assert writer.scalars == want and {"train_bits", "val_bits", "val_bit_errors", "val_seq_accuracy", "lr",
                                       "sequences"} <= {tag for tag, _, _ in writer.scalars}


def test_a_step_back_opens_a_writer_that_purges_from_it(tmp_path, fake_writer):
    """A restart after divergence (or a resumed process) logs earlier steps again: TensorBoard is
    told to drop what was logged from that step on."""
    log = loggers.TensorBoardLogger(tmp_path)
    for step in (2, 4, 6, 4, 6):
        log.log({"step": step, "train_bits": float(step), "val_bits": float("nan")})
    log.close()
    first, second = fake_writer.opened
    assert (first.purge_step, first.closed, second.purge_step, second.closed) == (2, True, 4, True)
    assert [s for _, _, s in first.scalars] == [2, 4, 6] and [s for _, _, s in second.scalars] == [4, 6]


def scalars(tb: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="the tensorboard package is not installed")
def test_tensorboard_event_files_hold_the_curve(plain, tmp_path, capsys):
    out = tmp_path / "tb"
    argv = ["run", "smoke", "--tasks", "copy", "--models", "lstm,transformer", "--no-report", "--out", str(out)]
    assert main([*argv, "--workers", "2", "--logger", "tensorboard"]) == 0  # worker processes
    for run in ("copy__lstm__s0", "copy__transformer__s0"):
        assert read_summary(out / "runs" / run)["status"] == "ok"
        rows = read_jsonl(out / "runs" / run / "curve.jsonl")
        got = scalars(out / "runs" / run / "tb")
        assert set(got) == set(rows[0]) - {"step"}
        for tag, points in got.items():
            assert points == [(r["step"], pytest.approx(r[tag], rel=1e-6)) for r in rows], (run, tag)
    assert identity(out)["copy__lstm__s0"] == identity(plain)["copy__lstm__s0"]
    capsys.readouterr()
    assert main([*argv, "--workers", "1"]) == 0  # the same runs without a logger: complete, skipped
    assert "(0 run now, 2 skipped as complete" in capsys.readouterr().out


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="the tensorboard package is not installed")
def test_a_resumed_run_shows_one_continuous_curve(tmp_path):
    """A second process logs from the checkpoint's step on: the steps the first logged after it are dropped."""
    first = loggers.TensorBoardLogger(tmp_path)
    for step in (2, 4, 6):
        first.log({"step": step, "train_bits": 1.0})
    first.close()
    second = loggers.TensorBoardLogger(tmp_path)
    for step in (4, 6, 8):
        second.log({"step": step, "train_bits": 2.0})
    second.close()
    assert scalars(tmp_path) == {"train_bits": [(2, 1.0), (4, 2.0), (6, 2.0), (8, 2.0)]}
