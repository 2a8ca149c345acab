"""What every task is: a pure sampler of padded, masked batches.

A task is a small frozen dataclass: its parameters as fields, `input_size`, `output_size`,
and `sample(batch_size, length, generator) -> Batch`. Seeding, curricula and splits belong to
the harness. Each task names its generalisation axes (`axes`), e.g. ("length",) for copy or
("length", "repeats") for repeat copy; a *point* gives one integer per axis, and `length`
in `sample` is one point for the whole batch or a list of `batch_size` points (any mix of
lengths in one batch: shorter sequences are padded at the end and masked).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Sequence, Union

import torch

Point = Union[int, tuple]


class Batch(NamedTuple):
    inputs: torch.Tensor   # (B, T, input_size) float32
    targets: torch.Tensor  # (B, T, output_size) float32, 0/1 on scored steps (one-hot for a categorical task), 0 elsewhere
    mask: torch.Tensor     # (B, T) bool: the steps that are scored (the target phase)
    valid: torch.Tensor    # (B, T) bool: the steps that belong to the sequence (False = padding)


@dataclass(frozen=True)
class Task:
    name: ClassVar[str]                      # set by @register_task
    version: ClassVar[int] = 1               # bump whenever sampling changes
    # How outputs are scored (ntm_bench.metrics.KINDS): "bits", a sigmoid and binary cross-entropy
    # per output channel; "categorical", a softmax over the channels and one-hot targets.
    output_kind: ClassVar[str] = "bits"
    axes: ClassVar[tuple[str, ...]] = ("length",)
    # Training range per axis (inclusive) and the paper's test points; suites may override both.
    default_train: ClassVar[dict] = {}
    default_test: ClassVar[tuple] = ()
    # Whether a model that sees later inputs (a Transformer with `causal: false`) may run on the task:
    # None when no input reveals an earlier target, else the reason one does (the harness then refuses
    # such a model before any run starts). A task must reason about it and say None to allow them.
    noncausal_leak: ClassVar[str | None] = ("it does not declare that its later inputs hide its earlier targets "
                                            "(Task.noncausal_leak)")

    @property
    def input_size(self) -> int:
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        raise NotImplementedError

    def draw(self, batch_size: int, length, generator: torch.Generator) -> dict:
        """The random content of a batch, as keyword arguments of `encode`."""
        raise NotImplementedError

    def encode(self, **content) -> Batch:
        """Lay out explicit content as a padded, masked batch (used by `sample` and the examples)."""
        raise NotImplementedError

    def sample(self, batch_size: int, length, generator: torch.Generator) -> Batch:
        return self.encode(**self.draw(batch_size, length, generator))

    def points(self, batch_size: int, length) -> list[tuple]:
        """`length` as batch_size checked points (BenchError for an impossible one)."""
        from ntm_bench.errors import BenchError

        if not isinstance(batch_size, int) or batch_size < 1:
            raise BenchError(f"task {self.name!r}: batch_size must be a positive integer, got {batch_size!r}")
        points = per_sample(length, batch_size)
        for p in set(points):
            self.check_point(p)
        return points

    def for_training_range(self, train_range: dict) -> "Task":
        """The task as trained on `train_range` (axis -> (lo, hi), inclusive): a task whose encoding
        depends on the training range takes it from here (repeat copy normalises its count over the
        range of repeats); BenchError if its arguments contradict the range. Default: itself."""
        return self

    def sequence_length(self, point: Point) -> int:
        """Total time steps T of one sequence at this point (input phase + output phase)."""
        raise NotImplementedError

    def memory_rows_needed(self, point: Point) -> int:
        """Memory locations a model needs to store the input at this point (default: T)."""
        return self.sequence_length(point)

    def check_point(self, point: Point) -> None:
        """Raise BenchError if the point is impossible for this task (e.g. length 0)."""
        from ntm_bench.errors import BenchError

        values = as_tuple(point)
        if len(values) != len(self.axes):
            raise BenchError(f"task {self.name!r}: a point needs {len(self.axes)} value(s) "
                             f"({', '.join(self.axes)}), got {point!r}")
        for axis, v in zip(self.axes, values):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise BenchError(f"task {self.name!r}: {axis} must be a positive integer, got {v!r}")

    def reference_bits(self, batch: Batch) -> torch.Tensor | None:
        """Per-sequence cost (bits) of a reference predictor on this batch, or None.

        Dynamic N-grams returns the Bayes-optimal predictor's cost, so metrics can report the
        excess over it."""
        return None

    def point_label(self, point: Point) -> str:
        values = as_tuple(point)
        if len(values) == 1:
            return str(values[0])
        return ",".join(f"{a}={v}" for a, v in zip(self.axes, values))


def as_tuple(point: Point) -> tuple:
    if isinstance(point, (list, tuple)):
        return tuple(point)
    return (point,)


def per_sample(length, batch_size: int) -> list[tuple]:
    """Normalise `length` (one point, or a list of batch_size points) to batch_size tuples."""
    if isinstance(length, (list,)) or (isinstance(length, tuple) and length and isinstance(length[0], (list, tuple))):
        points = [as_tuple(p) for p in length]
        if len(points) != batch_size:
            from ntm_bench.errors import BenchError

            raise BenchError(f"got {len(points)} points for a batch of {batch_size}")
        return points
    if isinstance(length, torch.Tensor):
        return [as_tuple(p.tolist()) for p in length]
    return [as_tuple(length)] * batch_size


def per_row(value, batch_size: int, default: int) -> torch.Tensor:
    """(B,) long tensor of per-sample values: None -> default, an int -> every sample."""
    if value is None:
        return torch.full((batch_size,), default, dtype=torch.long)
    return torch.as_tensor(value, dtype=torch.long).reshape(-1).expand(batch_size).clone()


def random_bits(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Uniform random 0/1 floats."""
    return torch.randint(0, 2, tuple(shape), generator=generator).float()
