"""Copy (Graves 2014, §4.1): read a sequence of random bit vectors, then write it back."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ntm_bench.errors import BenchError
from ntm_bench.registry import register_task
from tasks.base import Batch, Point, Task, as_tuple, per_row, random_bits


@register_task("copy")
@dataclass(frozen=True)
class Copy(Task):
    """Copy L random `bits`-wide vectors after a delimiter.

    length: L, the number of vectors to copy. T = 2L + 1 (L inputs, the delimiter, L outputs).
    Input channels: `bits` data bits, then the delimiter flag (input size bits + 1 = 9).
    Output channels: the `bits` data bits (output size 8). The L output steps get blank inputs
    and are the only scored steps (mask).

    Examples: L = 2, vectors a = 10110000, b = 01000001 (channels left to right):
        step      0           1           2           3           4
        input     10110000 0  01000001 0  00000000 1  00000000 0  00000000 0
        target    00000000    00000000    00000000    10110000    01000001
        mask      F           F           F           T           T
    i.e. a b | -> _ _ _ a b.
    """

    bits: int = 8  # Graves 2014 §4.1: "random binary 8 bit vectors"

    version: ClassVar[int] = 1
    axes: ClassVar[tuple[str, ...]] = ("length",)
    default_train: ClassVar[dict] = {"length": (1, 20)}  # Graves 2014 §4.1: L ~ U{1..20}
    default_test: ClassVar[tuple] = (10, 20, 30, 50, 80, 120)  # Graves 2014 §4.1 tests 10..120; 80 is ours
    # Every target is an input vector seen before the delimiter; the inputs after it are blank, and
    # where the sequence ends (T = 2L + 1) says only L, which the delimiter already gives.
    noncausal_leak: ClassVar[str | None] = None

    def __post_init__(self):
        if self.bits < 1:
            raise BenchError(f"task {self.name!r}: bits must be a positive integer, got {self.bits!r}")

    @property
    def input_size(self) -> int:
        return self.bits + 1  # data bits + delimiter

    @property
    def output_size(self) -> int:
        return self.bits

    def sequence_length(self, point: Point) -> int:
        (L,) = as_tuple(point)
        return 2 * L + 1

    def memory_rows_needed(self, point: Point) -> int:
        (L,) = as_tuple(point)
        return L + 1  # the L vectors and the delimiter step

    def draw(self, batch_size: int, length, generator: torch.Generator) -> dict:
        """The random content of a batch, as keyword arguments of `encode`."""
        points = self.points(batch_size, length)
        L = torch.tensor([p[0] for p in points], dtype=torch.long)  # (B,)
        bits = random_bits((batch_size, int(L.max()), self.bits), generator)  # (B, Lmax, W)
        return {"bits": bits, "length": L}

    def encode(self, bits: torch.Tensor, length=None) -> Batch:
        """Lay out explicit content: bits (B, L, W); `length` (B,) uses a prefix of each row."""
        B, _, W = bits.shape
        L = per_row(length, B, bits.shape[1])  # (B,)
        Lmax = int(L.max())
        T = 2 * Lmax + 1
        bits = F.pad(bits[:, :Lmax].float(), (0, 0, 0, T - Lmax))  # (B, T, W), zero after Lmax
        t = torch.arange(T)[None, :]  # (1, T)
        Lc = L[:, None]  # (B, 1)
        reading = t < Lc  # (B, T)
        mask = (t > Lc) & (t <= 2 * Lc)  # the L output steps
        valid = t <= 2 * Lc
        inputs = torch.cat([bits * reading[..., None], (t == Lc).float()[..., None]], dim=-1)
        src = (t - Lc - 1).clamp(0, T - 1)  # (B, T): which input vector each output step repeats
        targets = bits.gather(1, src[..., None].expand(B, T, W)) * mask[..., None]
        return Batch(inputs, targets, mask, valid)


