"""Training loggers: hooks that the training loop hands each learning-curve row (the row it appends
to curve.jsonl), chosen on the command line with `--logger` (a runtime setting, no part of a run's
identity). `none` does nothing; `tensorboard` writes the rows as TensorBoard event files under the
run's folder (`runs/<run_id>/tb/`) as training goes, so `tensorboard --logdir OUT/runs` shows every run.
"""
from __future__ import annotations

import math
from pathlib import Path

from ntm_bench.errors import BenchError

INSTALL = 'pip install -e ".[tensorboard]"'


class NoLogger:
    """The default: nothing beyond the run's own records."""

    def __init__(self, log_dir: Path | None = None):
        pass

    def log(self, row: dict) -> None:
        pass

    def close(self) -> None:
        pass


def summary_writer(log_dir: Path, purge_step: int):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(log_dir), purge_step=purge_step)


class TensorBoardLogger:
    """Each numeric field of a curve row (train_bits, val_bits, val_bit_errors, val_seq_accuracy, lr,
    sequences, wall_s, ...) as a scalar of the same name at the row's global step.

    A writer opens at the first row of a process, and again whenever a row's step is not after the
    last one logged (a restart after divergence goes back to an earlier step). Each opens with
    `purge_step` at its first row's step, so TensorBoard drops what an earlier process or try logged
    from that step on: a resumed run shows one continuous curve."""

    def __init__(self, log_dir: Path):
        self.dir, self.writer, self.last_step = Path(log_dir), None, None

    def log(self, row: dict) -> None:
        step = row["step"]
        if self.writer is None or step <= self.last_step:
            self.close()
            self.writer = summary_writer(self.dir, purge_step=step)
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()  # visible to a running TensorBoard now (rows come every eval_every steps)
        self.last_step = step

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


LOGGERS = {"none": NoLogger, "tensorboard": TensorBoardLogger}


def check_logger(name: str) -> None:
    """Refuse a logger that cannot run here, before any run starts or anything is written."""
    if name not in LOGGERS:
        raise BenchError(f"unknown logger {name!r} (choose from {', '.join(LOGGERS)})")
    if name == "tensorboard":
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401 - it needs the tensorboard package
        except ImportError:
            raise BenchError(f"--logger tensorboard needs the tensorboard package: {INSTALL}") from None


def make_logger(name: str, run_dir: Path):
    """The logger `name` for the run whose folder is `run_dir`."""
    return LOGGERS[name](Path(run_dir) / "tb")
