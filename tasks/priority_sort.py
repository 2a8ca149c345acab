"""Priority sort (Graves 2014, §4.5): output the highest-priority input vectors, in priority order."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ntm_bench.errors import BenchError
from ntm_bench.registry import register_task
from tasks.base import Batch, Point, Task, as_tuple, per_row, random_bits


@register_task("priority_sort")
@dataclass(frozen=True)
class PrioritySort(Task):
    """n random vectors, each with a priority; output the `outputs` highest-priority ones, sorted.

    vectors: n, the number of input vectors; outputs: m <= n, the number of vectors to output.
    T = n + 1 + m. Input channels: `bits` data bits, the priority ~ U[-1, 1] (channel 8), and a
    delimiter flag (channel 9) on its own step after the vectors: input size 10. Output: the m
    highest-priority input vectors, whole, highest priority first, on the m blank steps after the
    delimiter (the scored steps); output size 8.

    Examples: n = 3, m = 2, vectors a (priority 0.1), b (0.9), c (-0.5):
        step     0          1          2           3          4   5
        input    a 0.1 0    b 0.9 0    c -0.5 0    0 0 1      0   0
        target   0          0          0           0          b   a
        mask     F          F          F           F          T   T
    i.e. a:0.1 b:0.9 c:-0.5 | -> b a.
    """

    bits: int = 8  # Graves 2014 §4.5: random binary vectors (8 bits, as in copy)

    version: ClassVar[int] = 1
    axes: ClassVar[tuple[str, ...]] = ("vectors", "outputs")
    default_train: ClassVar[dict] = {"vectors": (20, 20), "outputs": (16, 16)}  # Graves 2014 §4.5: 20 -> 16
    default_test: ClassVar[tuple] = ((20, 16), (30, 24), (40, 32))  # ours: the paper tests only 20 -> 16
    # Every target is an input vector (with its priority) seen before the delimiter; the scored steps
    # get blank inputs, and the sequence's end says how many vectors are asked for, which changes no
    # target: the k-th output is the k-th highest priority whatever the number of outputs.
    noncausal_leak: ClassVar[str | None] = None

    def __post_init__(self):
        if self.bits < 1:
            raise BenchError(f"task 'priority_sort': bits must be a positive integer, got {self.bits!r}")

    @property
    def input_size(self) -> int:
        return self.bits + 2  # data bits + priority + delimiter

    @property
    def output_size(self) -> int:
        return self.bits

    def sequence_length(self, point: Point) -> int:
        n, m = as_tuple(point)
        return n + 1 + m

    def memory_rows_needed(self, point: Point) -> int:
        n, _ = as_tuple(point)
        return n + 1  # the n vectors and the delimiter step

    def check_point(self, point: Point) -> None:
        super().check_point(point)
        n, m = as_tuple(point)
        if m > n:
            raise BenchError(f"task 'priority_sort': outputs must be between 1 and vectors ({n}), got {m}")

    def draw(self, batch_size: int, length, generator: torch.Generator) -> dict:
        """The random content of a batch, as keyword arguments of `encode`."""
        points = self.points(batch_size, length)
        nm = torch.tensor(points, dtype=torch.long)  # (B, 2): vectors, outputs
        N = int(nm[:, 0].max())
        vectors = random_bits((batch_size, N, self.bits), generator)  # (B, N, W)
        priorities = torch.rand(batch_size, N, generator=generator) * 2 - 1  # (B, N), U[-1, 1]
        return {"vectors": vectors, "priorities": priorities, "outputs": nm[:, 1], "num_vectors": nm[:, 0]}

    def encode(self, vectors: torch.Tensor, priorities: torch.Tensor, outputs, num_vectors=None) -> Batch:
        """Lay out explicit content: vectors (B, N, W), priorities (B, N), outputs (B,) or int;
        `num_vectors` (B,) uses a prefix of each row."""
        B, _, W = vectors.shape
        n = per_row(num_vectors, B, vectors.shape[1])  # (B,)
        m = per_row(outputs, B, 1)  # (B,)
        if (m > n).any() or (m < 1).any():
            raise BenchError(f"task 'priority_sort': outputs must be between 1 and vectors, "
                             f"got outputs {m.tolist()} for vectors {n.tolist()}")
        N = int(n.max())
        T = int((n + 1 + m).max())
        real = torch.arange(N)[None, :] < n[:, None]  # (B, N)
        vectors = vectors[:, :N].float() * real[..., None]
        priorities = priorities[:, :N].float() * real
        # Whole vectors ordered by priority, highest first; padding vectors sort last.
        order = priorities.masked_fill(~real, float("-inf")).sort(dim=1, descending=True, stable=True).indices
        ranked = vectors.gather(1, order[..., None].expand(B, N, W))  # (B, N, W)
        t = torch.arange(T)[None, :]  # (1, T)
        nc, mc = n[:, None], m[:, None]  # (B, 1)
        mask = (t > nc) & (t <= nc + mc)
        valid = t <= nc + mc
        data_in = F.pad(torch.cat([vectors, priorities[..., None]], dim=-1), (0, 0, 0, T - N))  # (B, T, W+1)
        inputs = torch.cat([data_in, (t == nc).float()[..., None]], dim=-1)  # (B, T, W+2)
        src = (t - nc - 1).clamp(0, N - 1)  # (B, T): rank of the vector each output step shows
        targets = ranked.gather(1, src[..., None].expand(B, T, W)) * mask[..., None]
        return Batch(inputs, targets, mask, valid)


