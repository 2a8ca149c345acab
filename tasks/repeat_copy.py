"""Repeat copy (Graves 2014, §4.2): copy a sequence a given number of times, then say "done"."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ntm_bench.errors import BenchError
from ntm_bench.registry import register_task
from tasks.base import Batch, Point, Task, as_tuple, per_row, random_bits


@register_task("repeat_copy")
@dataclass(frozen=True)
class RepeatCopy(Task):
    """Read L random vectors and a repeat count R; output the sequence R times, then an end marker.

    length: L, the number of vectors; repeats: R, the number of copies.
    T = L + 1 + L*R + 1 (L inputs, the count step, L*R outputs, the end-marker step).
    Input channels: `bits` data bits, then the count channel, which carries R normalised to
    mean 0 and variance 1 over the training range `train_repeats` (uniform on {lo..hi}: mean
    (lo + hi) / 2, variance ((hi - lo + 1)^2 - 1) / 12), only on the count step (input size 9).
    Output channels: `bits` data bits, then the end marker (output size 9). The L*R + 1 steps
    after the count step get blank inputs and are the scored steps (mask).

    Examples: L = 2, R = 2, vectors a = 10110000, b = 01000001, default train_repeats (1, 10),
    so the count reads (2 - 5.5) / sqrt(8.25) = -1.2185:
        step     0          1          2          3   4   5   6   7
        input    a | 0      b | 0      0 | -1.2185 0   0   0   0   0
        target   0          0          0          a|0 b|0 a|0 b|0 00000000|1
        mask     F          F          F          T   T   T   T   T
    i.e. a b 2 -> _ _ _ a b a b end.
    """

    bits: int = 8  # Graves 2014 §4.2: 8-bit vectors, as in copy
    train_repeats: tuple[int, int] = (1, 10)  # Graves 2014 §4.2: R ~ U{1..10}; sets the count's normalisation

    version: ClassVar[int] = 1
    axes: ClassVar[tuple[str, ...]] = ("length", "repeats")
    default_train: ClassVar[dict] = {"length": (1, 10), "repeats": (1, 10)}  # Graves 2014 §4.2
    default_test: ClassVar[tuple] = ((10, 10), (20, 10), (10, 20))  # Graves 2014 §4.2 (+ the training corner)

    def __post_init__(self):
        if self.bits < 1:
            raise BenchError(f"task 'repeat_copy': bits must be a positive integer, got {self.bits!r}")
        lo, hi = self.train_repeats
        if not 1 <= lo < hi:
            raise BenchError(f"task 'repeat_copy': train_repeats must be (lo, hi) with 1 <= lo < hi, "
                             f"got {self.train_repeats!r}")
        if (lo + hi) % 2 == 0:
            # The count equal to the mean would normalise to 0, indistinguishable from a blank step.
            raise BenchError(f"task 'repeat_copy': train_repeats {self.train_repeats!r} has the whole-number "
                             f"mean {(lo + hi) // 2}, which would encode as 0; use a range with an even "
                             f"number of values, e.g. (1, 10)")

    @property
    def input_size(self) -> int:
        return self.bits + 1  # data bits + repeat count

    @property
    def output_size(self) -> int:
        return self.bits + 1  # data bits + end marker

    def normalised_repeats(self, repeats: torch.Tensor) -> torch.Tensor:
        """R -> (R - mean) / std over U{lo..hi} (Graves 2014 §4.2: 'normalised to mean 0, variance 1')."""
        lo, hi = self.train_repeats
        mean = (lo + hi) / 2
        std = math.sqrt(((hi - lo + 1) ** 2 - 1) / 12)
        return (repeats.float() - mean) / std

    def sequence_length(self, point: Point) -> int:
        L, R = as_tuple(point)
        return L + 1 + L * R + 1

    def memory_rows_needed(self, point: Point) -> int:
        L, _ = as_tuple(point)
        return L + 1  # the L vectors and the count step

    def draw(self, batch_size: int, length, generator: torch.Generator) -> dict:
        """The random content of a batch, as keyword arguments of `encode`."""
        points = self.points(batch_size, length)
        LR = torch.tensor(points, dtype=torch.long)  # (B, 2): length, repeats
        bits = random_bits((batch_size, int(LR[:, 0].max()), self.bits), generator)  # (B, Lmax, W)
        return {"bits": bits, "repeats": LR[:, 1], "length": LR[:, 0]}

    def encode(self, bits: torch.Tensor, repeats, length=None) -> Batch:
        """Lay out explicit content: bits (B, L, W), repeats (B,) or int; `length` (B,) uses a prefix."""
        B, _, W = bits.shape
        L = per_row(length, B, bits.shape[1])  # (B,)
        R = per_row(repeats, B, 1)  # (B,)
        Lmax = int(L.max())
        T = int((L * (R + 1) + 2).max())
        bits = F.pad(bits[:, :Lmax].float(), (0, 0, 0, T - Lmax))  # (B, T, W)
        t = torch.arange(T)[None, :]  # (1, T)
        Lc, Rc = L[:, None], R[:, None]  # (B, 1)
        end = Lc + 1 + Lc * Rc  # (B, 1): the end-marker step
        reading = t < Lc
        copying = (t > Lc) & (t < end)  # the L*R output steps
        mask = (t > Lc) & (t <= end)
        valid = t <= end
        count = torch.where(t == Lc, self.normalised_repeats(Rc), 0.0)  # (B, T)
        inputs = torch.cat([bits * reading[..., None], count[..., None]], dim=-1)
        src = (t - Lc - 1).clamp(min=0) % Lc  # (B, T): copy k of the sequence repeats vector (t - L - 1) mod L
        data = bits.gather(1, src[..., None].expand(B, T, W)) * copying[..., None]
        targets = torch.cat([data, (t == end).float()[..., None]], dim=-1)
        return Batch(inputs, targets, mask, valid)


