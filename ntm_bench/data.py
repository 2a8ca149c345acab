"""The data a run sees: training points (and the curriculum over them), validation and test batches.

Tasks are pure samplers (tasks/base.py); seeding, curricula and splits live here. Training data
comes from the run's own generator (its state is in the checkpoint); validation and test data from
fixed seeds of their own (`TrainConfig.val_seed`, `EvalConfig.seed`) mixed with the task's label and
the test point, so every model of a suite meets the same sequences and they need no state.
"""
from __future__ import annotations

import zlib

import torch

from ntm_bench.config import EvalConfig, TrainConfig


def stable_seed(*parts) -> int:
    """A seed from strings/ints that is the same in every process (unlike hash())."""
    return zlib.crc32("|".join(map(str, parts)).encode()) & 0x7FFFFFFF


def sample_points(train_range: dict, batch_size: int, gen: torch.Generator, frac: float = 1.0,
                  curriculum: str = "uniform", floor: float = 0.0, floor_axes=None) -> list[tuple]:
    """Per-sample points drawn uniformly from the (inclusive) training range of each axis.

    `floor` raises the lower end of each axis in `floor_axes` (None: every axis) to
    lo + round(floor * (hi - lo)). With the linear curriculum the upper end grows from there to hi
    over the first half of training (`frac` is the fraction of the budget used)."""
    cols = []
    for axis, (lo, hi) in train_range.items():
        if floor_axes is None or axis in floor_axes:
            lo += round(floor * (hi - lo))
        if curriculum == "linear":
            hi = lo + round((hi - lo) * min(1.0, 2.0 * frac))
        cols.append(torch.randint(lo, hi + 1, (batch_size,), generator=gen).tolist())
    return [tuple(p) for p in zip(*cols)] if len(cols) > 1 else [(v,) for v in cols[0]]


def squeeze(points: list[tuple]):
    """Points as a task's `sample` takes them: an int per sample on one-axis tasks, else tuples."""
    return [p[0] if len(p) == 1 else p for p in points]


def to_device(batch, device):
    return type(batch)(*(t.to(device) for t in batch))


def training_points(train_range: dict, t: TrainConfig, step: int, gen: torch.Generator) -> list[tuple]:
    """The points of optimiser step `step` (0-based): the training range under the curriculum and
    the floor (which holds for the first `range_floor_until` of the budget)."""
    frac = step / t.steps
    floor = t.range_floor if frac < t.range_floor_until else 0.0
    return sample_points(train_range, t.batch_size, gen, frac, t.curriculum, floor, t.range_floor_axes)


def training_batch(task, train_range: dict, t: TrainConfig, step: int, gen: torch.Generator):
    """The batch of optimiser step `step`: its points, content from `gen` (the run's data generator)."""
    return task.sample(t.batch_size, squeeze(training_points(train_range, t, step, gen)), gen)


def validation_batches(task, spec: dict, train: TrainConfig, batch_size: int):
    """`train.val_sequences` held-out sequences from the training range (fixed seed)."""
    gen = torch.Generator().manual_seed(stable_seed(train.val_seed, spec["label"], "val"))
    rng = {a: tuple(v) for a, v in spec["train_range"].items()}
    out, left = [], train.val_sequences
    while left > 0:
        b = min(batch_size, left)
        out.append(task.sample(b, squeeze(sample_points(rng, b, gen)), gen))
        left -= b
    return out


def test_batches(task, spec: dict, evalc: EvalConfig, point: tuple):
    """`evalc.sequences` test sequences at one point (fixed seed per task label and point)."""
    gen = torch.Generator().manual_seed(stable_seed(evalc.seed, spec["label"], "test", *point))
    p = point[0] if len(point) == 1 else point
    out, left = [], evalc.sequences
    while left > 0:
        b = min(evalc.batch_size, left)
        out.append(task.sample(b, p, gen))
        left -= b
    return out
